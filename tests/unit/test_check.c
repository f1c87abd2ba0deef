/* test_check.c — the checker: every model in models/ (output shapes, -D overrides), language
 * features (fn inlining and prefixes, consts, dims, scalars as tensors, names and spans), and a
 * catalogue of diagnostics with their text and line:col. */
#define _GNU_SOURCE 1 /* open_memstream */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "op.h"
#include "parse.h"
#include "weights.h"

typedef struct result {
  mlg_source src;
  mlg_graph *g;
  char *diag;      /* everything the checker printed */
  size_t diag_len;
  int n_errors;
} result;

static void run_source(result *r, const char *path, const char *text, size_t len, int n_dims,
                       const mlg_dim_binding *dims) {
  memset(r, 0, sizeof *r);
  ck_assert_int_eq(mlg_source_from_memory(&r->src, path, text, len), 0);
  FILE *f = open_memstream(&r->diag, &r->diag_len);
  ck_assert_ptr_nonnull(f);
  mlg_diag d;
  mlg_diag_init(&d, &r->src, f);
  d.max_errors = 0;
  mlg_ast *ast = mlg_parse(&r->src, &d);
  ck_assert_ptr_nonnull(ast);
  fflush(f);
  ck_assert_msg(d.n_errors == 0, "parse errors: %s", r->diag);
  mlg_check_options opts = { .n_dims = n_dims, .dims = dims };
  r->g = mlg_check(ast, &opts, &d);
  r->n_errors = d.n_errors;
  fclose(f);
  mlg_ast_free(ast);
}

static void run_text(result *r, const char *text) { run_source(r, "t.mlg", text, strlen(text), 0, NULL); }

static void run_model(result *r, const char *name, int n_dims, const mlg_dim_binding *dims) {
  char path[1024];
  snprintf(path, sizeof path, "%s/models/%s", MLG_SOURCE_DIR, name);
  mlg_source file;
  ck_assert_msg(mlg_source_load(&file, path) == 0, "cannot read %s", path);
  run_source(r, path, file.text, file.length, n_dims, dims);
  mlg_source_free(&file);
}

static void result_free(result *r) {
  mlg_graph_free(r->g);
  free(r->diag);
  mlg_source_free(&r->src);
}

static const mlg_node *output_node(const mlg_graph *g, const char *name) {
  for (int i = 0; i < g->n_outputs; i++)
    if (strcmp(g->outputs[i].name, name) == 0) return &g->nodes[g->outputs[i].node];
  ck_abort_msg("no output %s", name);
  return NULL;
}

static const mlg_node *named_node(const mlg_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0) return &g->nodes[i];
  return NULL;
}

static const char *type_of(const mlg_node *n) {
  static char buf[128];
  return mlg_type_format(&n->type, buf, sizeof buf);
}

/* ---- models ----------------------------------------------------------------------------- */

static void check_model_output(const char *model, const char *output, const char *type,
                               int n_dims, const mlg_dim_binding *dims) {
  result r;
  run_model(&r, model, n_dims, dims);
  ck_assert_msg(r.n_errors == 0 && r.g, "%s: %s", model, r.diag);
  ck_assert_str_eq(type_of(output_node(r.g, output)), type);
  /* Topological order and well-formed nodes. */
  for (int i = 0; i < r.g->n_nodes; i++) {
    const mlg_node *n = &r.g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++) ck_assert_int_lt(n->inputs[k], i);
    ck_assert(n->kind != MLG_NODE_OP || n->op != NULL);
    ck_assert(n->span.end >= n->span.begin);
  }
  result_free(&r);
}

START_TEST(test_models) {
  check_model_output("mlp.mlg", "probs", "f32[1, 10]", 0, NULL);
  check_model_output("lenet.mlg", "logits", "f32[1, 10]", 0, NULL);
  check_model_output("resnet_block.mlg", "features", "f32[1, 16, 1, 1]", 0, NULL);
  check_model_output("transformer_block.mlg", "out", "f32[1, 16, 64]", 0, NULL);
  mlg_dim_binding n8 = { "N", 8 };
  check_model_output("mlp.mlg", "probs", "f32[8, 10]", 1, &n8);
  check_model_output("lenet.mlg", "logits", "f32[8, 10]", 1, &n8);
  check_model_output("resnet_block.mlg", "features", "f32[8, 16, 1, 1]", 1, &n8);
  mlg_dim_binding bt[2] = { { "B", 2 }, { "T", 32 } };
  check_model_output("transformer_block.mlg", "out", "f32[2, 32, 64]", 2, bt);
  /* -D C applies before D = C / H is evaluated. */
  mlg_dim_binding c128 = { "C", 128 };
  result r;
  run_model(&r, "transformer_block.mlg", 1, &c128);
  ck_assert_msg(r.g != NULL, "%s", r.diag);
  ck_assert_str_eq(type_of(output_node(r.g, "out")), "f32[1, 16, 128]");
  ck_assert_str_eq(type_of(named_node(r.g, "q")), "f32[1, 4, 16, 32]");
  ck_assert_str_eq(type_of(named_node(r.g, "attn.c_attn.weight")), "f32[384, 128]");
  result_free(&r);
}
END_TEST

START_TEST(test_model_details) {
  result r;
  run_model(&r, "resnet_block.mlg", 0, NULL);
  ck_assert_ptr_nonnull(r.g);
  const mlg_node *p = named_node(r.g, "layer1.0.conv1.weight");
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->kind, MLG_NODE_PARAM);
  ck_assert_str_eq(type_of(p), "f32[16, 16, 3, 3]");
  ck_assert_int_eq(p->init.kind, MLG_INIT_NORMAL);
  ck_assert(p->init.b == 0.05 && p->init.seed == 21);
  ck_assert_ptr_nonnull(named_node(r.g, "layer1.1.bn2.running_var"));
  ck_assert_int_eq(named_node(r.g, "layer1.1.bn2.running_var")->init.kind, MLG_INIT_ONES);
  ck_assert_ptr_null(named_node(r.g, "conv2.weight")); /* only ever created with a prefix */
  int params = 0;
  for (int i = 0; i < r.g->n_nodes; i++) params += r.g->nodes[i].kind == MLG_NODE_PARAM;
  ck_assert_int_eq(params, 5 + 2 * 10);
  const mlg_node *b0 = named_node(r.g, "b0");
  ck_assert_ptr_nonnull(b0);
  ck_assert_str_eq(b0->op->name, "relu");
  /* conv2d padding=1 is normalized to four values */
  const mlg_node *conv = &r.g->nodes[b0->inputs[0]];
  while (conv->kind == MLG_NODE_OP && strcmp(conv->op->name, "conv2d") != 0) conv = &r.g->nodes[conv->inputs[0]];
  ck_assert_int_eq(conv->attrs[1].n, 4);
  ck_assert_int_eq(conv->attrs[1].ints[3], 1);
  result_free(&r);

  run_model(&r, "transformer_block.mlg", 0, NULL);
  ck_assert_ptr_nonnull(r.g);
  const mlg_node *mask = named_node(r.g, "mask");
  ck_assert_ptr_nonnull(mask);
  ck_assert_int_eq(mask->kind, MLG_NODE_CONST);
  ck_assert_str_eq(type_of(mask), "f32[16, 16]");
  const float *m = mask->data;
  ck_assert(m[0] == 0.0f && m[16 + 1] == 0.0f && m[16 * 15] == 0.0f);
  ck_assert(m[1] == -1e9f && m[15] == -1e9f && m[16 * 14 + 15] == -1e9f);
  /* rsqrt(D): an op on a 0-d f32 const holding 16 */
  const mlg_node *rs = NULL;
  for (int i = 0; i < r.g->n_nodes; i++)
    if (r.g->nodes[i].op && strcmp(r.g->nodes[i].op->name, "rsqrt") == 0) rs = &r.g->nodes[i];
  ck_assert_ptr_nonnull(rs);
  const mlg_node *d = &r.g->nodes[rs->inputs[0]];
  ck_assert_int_eq(d->kind, MLG_NODE_CONST);
  ck_assert_int_eq(d->type.rank, 0);
  ck_assert(*(const float *)d->data == 16.0f);
  /* the span of the slice node for q starts at "slice(" on line 30 */
  const mlg_node *q = named_node(r.g, "q");
  int line, col;
  mlg_source_line_col(&r.src, q->span.begin, &line, &col);
  ck_assert_int_eq(line, 30);
  ck_assert_int_eq(col, 9);
  ck_assert_str_eq(q->op->name, "transpose");
  ck_assert(q->attrs[0].n == 4 && q->attrs[0].ints[1] == 2);
  result_free(&r);
}
END_TEST

/* ---- language features ------------------------------------------------------------------ */

static const char feature_src[] =
    "fn block(x, c) {\n"                                   /* 1 */
    "  param w : f32[c, C] = uniform(-1, 1, seed=3)\n"     /* 2 */
    "  h = linear(x, w)\n"                                 /* 3 */
    "  return h\n"                                         /* 4 */
    "}\n"                                                  /* 5 */
    "fn outer(x) {\n"                                      /* 6 */
    "  a = block(x, 8) as b0\n"                            /* 7 */
    "  return block(a + 1, 8) as b1\n"                     /* 8 */
    "}\n"                                                  /* 9 */
    "model feat {\n"                                       /* 10 */
    "  dim N = 2\n"                                        /* 11 */
    "  dim C = 8\n"                                        /* 12 */
    "  const eps = 1e-5\n"                                 /* 13 */
    "  const k : i32 = 3\n"                                /* 14 */
    "  const idx : i32[2] = [1, 0]\n"                      /* 15 */
    "  const tbl = [[1, 2], [3, 4.5]]\n"                   /* 16 */
    "  const fill : f32[2, 2] = 7\n"                       /* 17 */
    "  input x : f32[N, C]\n"                              /* 18 */
    "  h = outer(x) as layer\n"                            /* 19 */
    "  g = gather(h, idx, axis=k - 3)\n"                   /* 20 */
    "  s = -g * 0.5 + eps\n"                               /* 21 */
    "  t = sum(s, [1], 1)\n"                               /* 22 */
    "  m = tbl @ tbl + fill\n"                             /* 23 */
    "  output t\n"                                         /* 24 */
    "  output m\n"                                         /* 25 */
    "  output z = clamp(s, -1, 1.5)\n"                     /* 26 */
    "  output pw = x / (C * 2)\n"                          /* 27 */
    "  output gi = gather(x, k - 2)\n"                     /* 28 */
    "  output c3 = concat([x, x, x], axis=-1)\n"           /* 29 */
    "}\n";

/* Random initializers without seed= get a seed from the param's full name: two params declared
 * alike, and the same fn param made by two calls, differ; an explicit seed is used as written. */
START_TEST(test_default_seeds) {
  result r;
  run_text(&r, "fn f(x) {\n"
               "  param w : f32[8] = uniform(-1, 1)\n"
               "  return x * w\n"
               "}\n"
               "model m {\n"
               "  input x : f32[8]\n"
               "  param a : f32[8] = normal(0, 1)\n"
               "  param b : f32[8] = normal(0, 1)\n"
               "  param c : f32[8] = normal(0, 1, seed=0)\n"
               "  param d : f32[8] = normal(0, 1, 0)\n"
               "  h = f(x * a * b * c * d) as one\n"
               "  output y = f(h) as two\n"
               "}\n");
  ck_assert_msg(r.g != NULL, "%s", r.diag);
  static const char *const names[] = {"a", "b", "one.w", "two.w"};
  float values[4][8];
  for (int i = 0; i < 4; i++) {
    const mlg_node *p = named_node(r.g, names[i]);
    ck_assert_ptr_nonnull(p);
    /* FNV-1a of the name, to 63 bits: what docs/language.md promises. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *q = names[i]; *q; q++) h = (h ^ (unsigned char)*q) * 0x100000001b3ull;
    ck_assert_uint_eq(p->init.seed, h & 0x7fffffffffffffffull);
    mlg_init_fill(&p->init, values[i], 8);
    for (int j = 0; j < i; j++)
      ck_assert_msg(memcmp(values[i], values[j], sizeof values[i]) != 0, "%s and %s have the same values",
                    names[i], names[j]);
  }
  ck_assert_uint_eq(named_node(r.g, "c")->init.seed, 0);
  ck_assert_uint_eq(named_node(r.g, "d")->init.seed, 0);
  result_free(&r);
}
END_TEST

/* `dim=` is `axis=` for every op that takes an axis, and `axes=` for those that take axes: the
 * graphs are the same. */
START_TEST(test_dim_is_axis) {
  static const char *const calls[][2] = {
    {"softmax(x, dim=-1)", "softmax(x, axis=-1)"},
    {"log_softmax(x, dim=0)", "log_softmax(x, axis=0)"},
    {"concat([x, x], dim=1)", "concat([x, x], axis=1)"},
    {"gather(x, idx, dim=1)", "gather(x, idx, axis=1)"},
    {"sum(x, dim=1)", "sum(x, axes=1)"},
    {"mean(x, dim=[0, 1], keepdims=true)", "mean(x, axes=[0, 1], keepdims=true)"},
    {"unsqueeze(x, dim=0)", "unsqueeze(x, axes=[0])"},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    char *printed[2];
    for (int j = 0; j < 2; j++) {
      char text[256];
      snprintf(text, sizeof text,
               "model m {\n  input x : f32[2, 3]\n  input idx : i32[2]\n  output y = %s\n}\n",
               calls[i][j]);
      result r;
      run_text(&r, text);
      ck_assert_msg(r.g != NULL, "%s: %s", calls[i][j], r.diag);
      size_t size;
      FILE *f = open_memstream(&printed[j], &size);
      ck_assert_ptr_nonnull(f);
      mlg_graph_print(r.g, NULL, f);
      fclose(f);
      result_free(&r);
    }
    ck_assert_str_eq(printed[0], printed[1]);
    free(printed[0]);
    free(printed[1]);
  }
}
END_TEST

START_TEST(test_features) {
  result r;
  run_text(&r, feature_src);
  ck_assert_msg(r.g != NULL, "%s", r.diag);
  ck_assert_str_eq(r.g->model_name, "feat");
  ck_assert_int_eq(r.g->n_outputs, 6);
  ck_assert_str_eq(r.g->outputs[0].name, "t");
  ck_assert_str_eq(type_of(output_node(r.g, "t")), "f32[2, 1]");
  ck_assert_str_eq(type_of(output_node(r.g, "m")), "f32[2, 2]");
  ck_assert_str_eq(type_of(output_node(r.g, "gi")), "f32[8]");
  ck_assert_str_eq(type_of(output_node(r.g, "c3")), "f32[2, 24]");
  /* nested fn prefixes, and a fn arg used in a param type */
  const mlg_node *w0 = named_node(r.g, "layer.b0.w"), *w1 = named_node(r.g, "layer.b1.w");
  ck_assert_ptr_nonnull(w0);
  ck_assert_ptr_nonnull(w1);
  ck_assert_str_eq(type_of(w0), "f32[8, 8]");
  ck_assert_int_eq(w0->init.kind, MLG_INIT_UNIFORM);
  ck_assert(w0->init.a == -1 && w0->init.b == 1 && w0->init.seed == 3);
  ck_assert_ptr_nonnull(named_node(r.g, "layer.b1.h")); /* local bindings carry the prefix */
  /* consts */
  const mlg_node *idx = named_node(r.g, "idx");
  ck_assert_str_eq(type_of(idx), "i32[2]");
  ck_assert_int_eq(((const int32_t *)idx->data)[0], 1);
  const mlg_node *tbl = named_node(r.g, "tbl");
  ck_assert_str_eq(type_of(tbl), "f32[2, 2]");
  ck_assert(((const float *)tbl->data)[3] == 4.5f);
  ck_assert(((const float *)named_node(r.g, "fill")->data)[2] == 7.0f);
  /* gather's axis from an i32 const expression; k - 2 becomes an i32 0-d index */
  ck_assert_int_eq(named_node(r.g, "g")->attrs[0].ints[0], 0);
  const mlg_node *gi = output_node(r.g, "gi");
  ck_assert_int_eq(r.g->nodes[gi->inputs[1]].type.dtype, MLG_I32);
  ck_assert_int_eq(*(const int32_t *)r.g->nodes[gi->inputs[1]].data, 1);
  /* clamp's lo/hi are attributes; x / (C * 2) divides by a 0-d const 16 */
  const mlg_node *z = output_node(r.g, "z");
  ck_assert(z->attrs[0].kind == MLG_ATTR_FLOAT && z->attrs[0].f == -1 && z->attrs[1].f == 1.5);
  const mlg_node *pw = output_node(r.g, "pw");
  ck_assert_str_eq(pw->op->name, "div");
  ck_assert(*(const float *)r.g->nodes[pw->inputs[1]].data == 16.0f);
  /* sum with positional attributes */
  const mlg_node *t = output_node(r.g, "t");
  ck_assert(t->attrs[0].n == 1 && t->attrs[0].ints[0] == 1 && t->attrs[1].ints[0] == 1);
  /* s = -g * 0.5 + eps: neg, mul, add; eps becomes a const */
  const mlg_node *s = named_node(r.g, "s");
  ck_assert_str_eq(s->op->name, "add");
  ck_assert_str_eq(r.g->nodes[s->inputs[0]].op->name, "mul");
  ck_assert(*(const float *)r.g->nodes[s->inputs[1]].data == 1e-5f);
  /* the concat node has three inputs */
  ck_assert_int_eq(output_node(r.g, "c3")->n_inputs, 3);
  result_free(&r);
}
END_TEST

/* ---- diagnostics ------------------------------------------------------------------------ */

typedef struct bad_case {
  const char *src;
  const char *expect;   /* "L:C: error: message" */
  int n_errors;
} bad_case;

static const bad_case bad_cases[] = {
  { "model m {\n  input x : f32[1, 4]\n  output y = sofmax(x)\n}\n",
    "3:14: error: unknown op 'sofmax'; did you mean 'softmax'?", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = relu(xx)\n}\n",
    "3:19: error: unknown name 'xx'; did you mean 'x'?", 1 },
  { "model m {\n  input x : f32[1, 4]\n  h = relu(x)\n  h = tanh(x)\n  output y = h\n}\n",
    "4:3: error: redefinition of 'h'\n", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = softmax(x, axes=1)\n}\n",
    "3:25: error: softmax: unknown attribute 'axes'; did you mean 'axis'?", 1 },
  { "model m {\n  input x : f32[1, 1, 4, 4]\n  output y = max_pool2d(x)\n}\n",
    "3:14: error: max_pool2d: missing required attribute 'kernel'", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = softmax(x, axis=[1, 2])\n}\n",
    "3:30: error: softmax: attribute 'axis' expects an integer, got a list", 1 },
  { "model m {\n  input x : f32[1, 784]\n  param w : f32[785, 10]\n  output y = x @ w\n}\n",
    "4:14: error: matmul: inner dimensions differ (784 vs 785)", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = relu(x, x)\n}\n",
    "3:22: error: relu: too many arguments (at most 1)", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = linear(x)\n}\n",
    "3:14: error: linear: expected at least 2 inputs, got 1", 1 },
  { "model m {\n  input x : f32[1, 4]\n  input i : i32[1, 4]\n  output y = x * i\n}\n",
    "4:18: error: mul: input 1 is i32 but input 0 is f32; mlg does not mix them: convert one with "
    "cast(..., dtype=f32)", 1 },
  { "model m {\n  dim C = 64\n  dim H = 5\n  dim D = C / H\n  input x : f32[D]\n  output y = relu(x)\n}\n",
    "4:11: error: dim D = C / H: 64 / 5 is not an integer; a dim must divide exactly\n", 1 },
  { "model m {\n  dim N = 0\n  input x : f32[N]\n  output y = relu(x)\n}\n",
    "2:11: error: dim 'N' must be in [1, 2147483647], got 0", 1 },
  { "fn f(x) {\n  return g(x)\n}\nfn g(x) {\n  return f(x)\n}\nmodel m {\n  input x : f32[4]\n  output y = f(x)\n}\n",
    "5:10: error: recursive call to fn 'f'", 1 },
  { "fn f(x, c) {\n  return relu(x)\n}\nmodel m {\n  input x : f32[4]\n  output y = f(x)\n}\n",
    "6:14: error: fn 'f' takes 2 arguments, got 1", 1 },
  { "fn f(x) {\n  param w : f32[4] = ones\n  return x * w\n}\nmodel m {\n  input x : f32[4]\n  output y = f(x)\n}\n",
    "7:14: error: fn 'f' declares params, so its call must name their prefix", 1 },
  { "fn f(x) {\n  param w : f32[4] = ones\n  return x * w\n}\nmodel m {\n  input x : f32[4]\n"
    "  a = f(x) as blk\n  output y = f(a) as blk\n}\n",
    "8:22: error: 'blk.w' is created twice\n", 1 },
  { "model m {\n  input x : f32[4]\n  h = relu(x)\n}\n",
    "1:1: error: model 'm' has no output", 1 },
  { "model m {\n  const k : f32[2, 2] = [1, 2, 3, 4]\n  input x : f32[2, 2]\n  output y = x + k\n}\n",
    "2:25: error: tensor literal has shape f32[4] but the declared type is f32[2, 2]", 1 },
  { "model m {\n  const k = [[1, 2], [3]]\n  input x : f32[2, 2]\n  output y = x + k\n}\n",
    "2:22: error: inconsistent tensor literal: expected 2 elements here, got 1", 1 },
  { "model m {\n  input x : f32[100000, 100000, 1000]\n  output y = relu(x)\n}\n",
    "2:13: error: tensor type has too many elements (limit 2^40)", 1 },
  { "model m {\n  dim N = 9223372036854775807 * 2\n  input x : f32[N]\n  output y = relu(x)\n}\n",
    "2:11: error: integer overflow in constant expression", 1 },
  { "model m {\n  input x : f32[1, 4]\n  h = sofmax(x)\n  a = relu(h)\n  b = a + h\n  output y = b\n}\n",
    "3:7: error: unknown op 'sofmax'; did you mean 'softmax'?", 1 }, /* poisoned: one error */
  { "model m {\n  input a : f32[2, 3]\n  input b : f32[4]\n  output y = a + b\n}\n",
    "4:14: error: add: cannot broadcast f32[2, 3] with f32[4] (dimension 1: 3 vs 4)", 1 },
  { "model m {\n  input x : f32[1, 3, 8, 8]\n  param w : f32[8, 4, 3, 3]\n  output y = conv2d(x, w)\n}\n",
    "4:24: error: conv2d: weight f32[8, 4, 3, 3] expects 4 input channels, input has 3", 1 },
  { "model m {\n  input x : f32[4, 4]\n  output y = reshape(x, [3, -1])\n}\n",
    "3:25: error: reshape: cannot infer the -1", 1 },
  { "fn f(h) {\n  return h + x\n}\nmodel m {\n  input x : f32[4]\n  output y = f(x)\n}\n",
    "2:14: error: 'x' is not visible inside fn 'f'; pass it as an argument", 1 },
  { "model m {\n  input x : f32[4]\n  output y = 2 * 3\n}\n",
    "3:10: error: output 'y' must be a tensor, not a compile-time scalar", 1 },
  { "model m {\n  input x : f32[10, 4]\n  input i : f32[3]\n  output y = gather(x, i)\n}\n",
    "4:24: error: gather: input 1 (the indices) must be i32 or i64, got f32", 1 },
  { "model m {\n  input x : f32[4]\n  param w : f32[4] = glorot\n  output y = x * w\n}\n",
    "3:22: error: a param initializer is zeros, ones, normal(mean, std, seed=S) or uniform(lo, hi, seed=S)", 1 },
  { "model m {\n  input x : f32[4]\n  output y = relu(x)\n  output y\n}\n",
    "4:10: error: duplicate output 'y'", 1 },
  { "model m {\n  input x : f32[4]\n  output y = clamp(x, 0)\n}\n",
    "3:14: error: clamp: missing required attribute 'hi'", 1 },
  { "model m {\n  input x : f32[4]\n  output y = relu(x) as foo\n}\n",
    "3:25: error: 'as' names the parameters of a fn call; 'relu' is an op", 1 },
  { "model m {\n  input x : f32[4]\n  output y = leaky_relu(x, alpha=x)\n}\n",
    "3:34: error: leaky_relu: attribute 'alpha' expects a number known at compile time, got 'x' (a tensor f32[4])\n", 1 },
  { "model m {\n  input x : f32[1, 6, 4, 4]\n  output y = concat(x, axis=1)\n}\n",
    "3:21: error: concat: the first argument must be a list of tensors", 1 },
  { "model m {\n  input x : f32[4]\n  param x : f32[4]\n  output y = x\n}\n",
    "3:9: error: redefinition of 'x'\n", 1 },
  { "model m {\n  dim N = 3 / 0\n  input x : f32[N]\n  output y = x\n}\n",
    "2:11: error: division by zero", 1 },
  { "model m {\n  input x : f32[2, 3]\n  output y = sum(x, axes=[1, 1])\n}\n",
    "3:26: error: sum: axis 1 is listed twice", 1 },
  { "model m {\n  input x : f32[2, 3]\n  output y = conv2d(x, x, stride=2)\n  output z = transpose(x, perm=[0, 0])\n}\n",
    "3:21: error: conv2d: input 0 must be 4-D [N, C, H, W], got f32[2, 3]", 2 },
  { "model m {\n  input x : f32[2, 3]\n  output y = x\n  a = x[0]\n}\n", NULL, 0 }, /* parse error: skipped */
  { "model m {\n  dim N = 2\n  input x : f32[N, 3]\n  output y = N(x)\n}\n",
    "4:14: error: unknown op 'N'", 1 },
  { "model m {\n  input x : f32[2, 3]\n  output y = relu(x, 1.5)\n  output z = tanh(q)\n}\n",
    "3:22: error: relu: too many arguments (at most 1)", 2 },
  { "fn f(x) {\n  return x\n}\nmodel m {\n  input x : f32[2]\n  output y = f\n}\n",
    "6:14: error: 'f' is a fn; call it as f(...)", 1 },
  { "model m {\n  input x : f32[2]\n  output y = x * normal(0, 1)\n}\n",
    "3:18: error: 'normal' is a param initializer", 1 },
  { "model m {\n  dim N = 2.5\n  input x : f32[N]\n  output y = x\n}\n",
    "2:11: error: a dim must be a compile-time integer, got the float 2.5\n", 1 },
  { "model m {\n  input x : f32[4]\n  param w : f32[4] = normal(0, -1)\n  output y = x * w\n}\n",
    "3:32: error: normal: std must be >= 0", 1 },
  /* Inexact integer division: the float hint only where a float is allowed. */
  { "model m {\n  dim C = 10\n  input x : f32[C / 4, 2]\n  output y = x\n}\n",
    "3:17: error: f32[C / 4, 2]: 10 / 4 is not an integer; a dimension must divide exactly\n", 1 },
  { "model m {\n  input x : f32[4, 4]\n  output y = reshape(x, [16 / 3, -1])\n}\n",
    "3:26: error: reshape: attribute 'shape': 16 / 3 is not an integer; an integer attribute must divide exactly\n", 1 },
  { "model m {\n  input x : f32[4]\n  output y = x * (10 / 4)\n}\n",
    "3:18: error: integer division is not exact (10 / 4); write a float (10.0) for a fractional result\n", 1 },
  { "model m {\n  input x : f32[4]\n  param w : f32[4] = normal(0, 1, seed=7 / 2)\n  output y = x * w\n}\n",
    "3:40: error: 7 / 2 is not an integer; a seed must be an integer, so the division must be exact\n", 1 },
  /* Use before definition, in the model and in a fn body; the use in its own definition. */
  { "model m {\n  input x : f32[4]\n  h = relu(g)\n  g = exp(x)\n  output y = h\n}\n",
    "3:12: error: 'g' is used before it is defined\n", 1 },
  { "fn f(v) {\n  a = relu(b)\n  b = exp(v)\n  return a\n}\nmodel m {\n  input x : f32[4]\n  output y = f(x)\n}\n",
    "2:12: error: 'b' is used before it is defined\n", 1 },
  { "model m {\n  input x : f32[4]\n  output y\n  y = relu(x)\n}\n",
    "3:10: error: 'y' is used before it is defined\n", 1 },
  { "model m {\n  input x : f32[4]\n  q = relu(q)\n  output y = q\n}\n",
    "3:12: error: 'q' is used in its own definition\n", 1 },
  /* Short names: no "did you mean" that is just another letter. */
  { "model m {\n  input x : f32[4]\n  output y = relu(g)\n}\n",
    "3:19: error: unknown name 'g'\n", 1 },
  { "model m {\n  input x : f32[4]\n  h = relu(x)\n  output y = exp(hh)\n}\n",
    "4:18: error: unknown name 'hh'; did you mean 'h'?\n", 1 },
  /* Outputs: one error for a duplicate; an unknown one still counts as an output. */
  { "model m {\n  input x : f32[4]\n  output y = relu(x)\n  output y = exp(x)\n}\n",
    "4:10: error: duplicate output 'y'\n", 1 },
  { "model m {\n  input x : f32[4]\n  h = relu(x)\n  output hh\n}\n",
    "4:10: error: unknown name 'hh'; did you mean 'h'?\n", 1 },
  { "model m {\n  input x : f32[1, 3, 8, 8]\n  param w : f32[4, 3, 3, 3] = zeros\n  output y = conv2d(x, w, stride=1.5)\n}\n",
    "4:34: error: conv2d: attribute 'stride' expects an integer or a list of integers, got the float 1.5\n", 1 },
  { "model m {\n  const s = 2.0\n  input x : f32[4]\n  output y = sum(x, axes=s)\n}\n",
    "4:26: error: sum: attribute 'axes' expects an integer or a list of integers, got 's' (the float 2.0)\n", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = softmax(x, axis=1, dim=1)\n}\n",
    "3:33: error: softmax: attribute 'axis' is given twice ('dim' is another name for it)", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = sum(x, axes=[1], dim=1)\n}\n",
    "3:31: error: sum: attribute 'axes' is given twice ('dim' is another name for it)", 1 },
  { "model m {\n  input x : f32[2, 3]\n  const i : i32[3] = [2, -4, 0]\n  output y = gather(x, i, axis=1)\n}\n",
    "4:24: error: gather: index -4 at position [1] is out of range for axis 1 of size 3 (valid: -3 to 2)", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = relu(x, dim=1)\n}\n",
    "3:22: error: relu: unknown attribute 'dim' (relu takes no attributes)", 1 },
  /* enum attributes take a bare name, never a value, and never look a binding up */
  { "model m {\n  input x : f32[1, 4]\n  output y = gelu(x, approximate=1)\n}\n",
    "3:34: error: gelu: attribute 'approximate' expects one of none, tanh, written as a bare name "
    "(approximate=none)", 1 },
  { "model m {\n  input x : f32[1, 4]\n  output y = gelu(x, Tanh)\n}\n",
    "3:22: error: gelu: attribute 'approximate' is one of none, tanh, not 'Tanh'; did you mean "
    "'tanh'?", 1 },
  { "model m {\n  input x : f32[1, 4]\n  erf = x\n  output y = gelu(x, approximate=erf)\n}\n",
    "4:34: error: gelu: attribute 'approximate' is one of none, tanh, not 'erf'", 1 },
};

static int parses(const char *text) {
  mlg_source src;
  mlg_source_from_memory(&src, "p.mlg", text, strlen(text));
  mlg_diag d;
  mlg_diag_init(&d, &src, NULL);
  mlg_ast *ast = mlg_parse(&src, &d);
  int ok = ast && d.n_errors == 0;
  mlg_ast_free(ast);
  mlg_source_free(&src);
  return ok;
}

START_TEST(test_diagnostics) {
  const bad_case *bc = &bad_cases[_i];
  if (!bc->expect) {
    ck_assert(!parses(bc->src));
    return;
  }
  result r;
  run_text(&r, bc->src);
  char want[512];
  snprintf(want, sizeof want, "t.mlg:%s", bc->expect);
  ck_assert_msg(strstr(r.diag, want) != NULL, "case %d: wanted\n%s\ngot\n%s", _i, want, r.diag);
  ck_assert_msg(r.n_errors == bc->n_errors, "case %d: %d errors:\n%s", _i, r.n_errors, r.diag);
  ck_assert_ptr_null(r.g);
  result_free(&r);
}
END_TEST

START_TEST(test_notes) {
  result r;
  run_text(&r, bad_cases[2].src);
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:3:3: note: 'h' was first defined here"));
  result_free(&r);
  run_text(&r, bad_cases[15].src);
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:7:15: note: 'blk.w' was first created here"));
  result_free(&r);
  run_text(&r, bad_cases[12].src);
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:1:4: note: 'f' is defined here"));
  result_free(&r);
  /* Use before definition: the note points at the later definition, in the model and in a fn. */
  run_text(&r, "model m {\n  input x : f32[4]\n  h = relu(g)\n  g = exp(x)\n  output y = h\n}\n");
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:4:3: note: 'g' is defined later, here\n"));
  ck_assert_ptr_null(strstr(r.diag, "did you mean"));
  result_free(&r);
  run_text(&r, "fn f(v) {\n  a = relu(b)\n  b = exp(v)\n  return a\n}\nmodel m {\n  input x : f32[4]\n"
               "  output y = f(x)\n}\n");
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:3:3: note: 'b' is defined later, here\n"));
  result_free(&r);
  /* A duplicate output is reported once, as such: no "redefinition" as well. */
  run_text(&r, "model m {\n  input x : f32[4]\n  output y = relu(x)\n  output y = exp(x)\n}\n");
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:3:10: note: 'y' was first declared an output here\n"));
  ck_assert_ptr_null(strstr(r.diag, "redefinition"));
  result_free(&r);
  /* An output whose name is unknown still counts as an output. */
  run_text(&r, "model m {\n  input x : f32[4]\n  h = relu(x)\n  output hh\n}\n");
  ck_assert_ptr_null(strstr(r.diag, "has no output"));
  result_free(&r);
}
END_TEST

START_TEST(test_dim_overrides) {
  static const char src[] = "model m {\n  dim N = 1\n  input x : f32[N, 4]\n  output y = relu(x)\n}\n";
  result r;
  mlg_dim_binding bad = { "M", 3 };
  run_source(&r, "t.mlg", src, strlen(src), 1, &bad);
  ck_assert_ptr_null(r.g);
  /* 'N' for 'M' would be a guess, not a hint: one-letter names get no "did you mean". */
  ck_assert_ptr_nonnull(strstr(r.diag, "-D M: the model has no dim 'M'\n"));
  ck_assert_int_eq(r.n_errors, 1);
  result_free(&r);
  /* ... but 'n' for 'N' differs only in case. */
  mlg_dim_binding lower = { "n", 3 };
  run_source(&r, "t.mlg", src, strlen(src), 1, &lower);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "-D n: the model has no dim 'n'; did you mean 'N'?"));
  result_free(&r);
  static const char src2[] = "model m {\n  dim batch = 1\n  input x : f32[batch, 4]\n  output y = relu(x)\n}\n";
  mlg_dim_binding typo = { "bacth", 3 };
  run_source(&r, "t.mlg", src2, strlen(src2), 1, &typo);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "-D bacth: the model has no dim 'bacth'; did you mean 'batch'?"));
  ck_assert_int_eq(r.n_errors, 1);
  result_free(&r);
  mlg_dim_binding zero = { "N", 0 };
  run_source(&r, "t.mlg", src, strlen(src), 1, &zero);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "-D N=0: a dim must be in [1, 2147483647]"));
  ck_assert_int_eq(r.n_errors, 1);
  result_free(&r);
  mlg_dim_binding n5 = { "N", 5 };
  run_source(&r, "t.mlg", src, strlen(src), 1, &n5);
  ck_assert_ptr_nonnull(r.g);
  ck_assert_str_eq(type_of(output_node(r.g, "y")), "f32[5, 4]");
  result_free(&r);
  /* transformer: -D H=5 makes D = C / H inexact */
  mlg_dim_binding h5 = { "H", 5 };
  run_model(&r, "transformer_block.mlg", 1, &h5);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "transformer_block.mlg:9:11: error: dim D = C / H: 64 / 5 is not an integer; a dim must divide exactly\n"));
  result_free(&r);
}
END_TEST

START_TEST(test_limits) {
  /* fn calls that double at each level must stop at the node limit, not run away */
  char src[4096];
  size_t n = 0;
  n += (size_t)snprintf(src + n, sizeof src - n, "fn blk0(x) {\n  return relu(x)\n}\n");
  for (int i = 1; i <= 24; i++)
    n += (size_t)snprintf(src + n, sizeof src - n, "fn blk%d(x) {\n  return blk%d(x) + blk%d(x)\n}\n", i, i - 1, i - 1);
  snprintf(src + n, sizeof src - n, "model m {\n  input x : f32[2]\n  output y = blk24(x)\n}\n");
  result r;
  run_text(&r, src);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "error: the graph exceeds 1048576 nodes"));
  result_free(&r);
  /* huge dims through reshape and -D: reported, never wrapped */
  static const char big[] =
      "model m {\n  dim N = 2147483647\n  input x : f32[N, 2]\n"
      "  output y = reshape(x, [2147483647, 2147483647, 4])\n"
      "  output z = concat([x, x], axis=0)\n}\n";
  run_text(&r, big);
  ck_assert_ptr_null(r.g);
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:4:25: error: reshape: the new shape has too many elements"));
  ck_assert_ptr_nonnull(strstr(r.diag, "t.mlg:5:14: error: concat: result dimension 0 is too large"));
  result_free(&r);
  mlg_dim_binding huge = { "N", INT64_MAX };
  run_source(&r, "t.mlg", big, strlen(big), 1, &huge);
  ck_assert_ptr_null(r.g);
  ck_assert_int_ge(r.n_errors, 1);
  result_free(&r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("check");
  TCase *tc = tcase_create("check");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_models);
  tcase_add_test(tc, test_model_details);
  tcase_add_test(tc, test_features);
  tcase_add_test(tc, test_default_seeds);
  tcase_add_test(tc, test_dim_is_axis);
  tcase_add_loop_test(tc, test_diagnostics, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
  tcase_add_test(tc, test_notes);
  tcase_add_test(tc, test_dim_overrides);
  tcase_add_test(tc, test_limits);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

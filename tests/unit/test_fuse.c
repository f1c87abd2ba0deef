/* test_fuse.c — fusion (compiler/fuse.c) and fused lowering (compiler/lower_group.c).
 *
 * Grouping decisions on small models compiled from source text (mlg_pipeline_run, then
 * mlg_fuse on the optimized graph): elementwise chains, epilogues, prologues, no recomputation
 * of a shared matmul, transposes folded into matmul operands and stores; the kernel counts of
 * the example models; and every model in models/, and eight generated random models (views of
 * tensors written in place, keepdims reductions, pooling and conv2d through 4-D views, matmuls),
 * run on PoCL through the runtime API at -O2 (fused) and -O0 (one op per kernel) with the same
 * random inputs, outputs compared within the per-op tolerance of tests/models (rtol 1e-4,
 * atol 1e-5); -O1 too where its bundle differs from the -O2 one. MLG_TEST_VERBOSE=1 prints the
 * random models. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "compile.h"
#include "emit_code.h"
#include "fuse.h"
#include "graph.h"
#include "kir.h"
#include "lower.h"
#include "mlg.h"
#include "op.h"

typedef struct fused {
  mlg_source src;
  mlg_pipeline p;
  mlg_fusion *fu;
  mlg_lowered *lw;
  char *code;         /* OpenCL C of the fused kernels */
  size_t code_size;
} fused;

static void compile_text(fused *f, const char *text, int opt_level) {
  memset(f, 0, sizeof(*f));
  ck_assert_int_eq(mlg_source_from_memory(&f->src, "t.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &f->src, stderr);
  mlg_compile_options opt = {.target = MLGB_TARGET_OPENCL, .opt_level = opt_level};
  ck_assert_int_eq(mlg_pipeline_run(&f->src, &opt, MLG_STAGE_KERNELS, &diag, &f->p), 0);
  f->fu = mlg_fuse(f->p.optimized, 1);
  ck_assert_ptr_nonnull(f->fu);
  f->lw = mlg_lower_fused(f->p.optimized, f->fu, &diag);
  ck_assert_ptr_nonnull(f->lw);
  FILE *s = open_memstream(&f->code, &f->code_size);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(kir_print_opencl(f->lw->module, s), 0);
  fclose(s);
}

static void fused_free(fused *f) {
  mlg_lowered_free(f->lw);
  mlg_fusion_free(f->fu);
  mlg_pipeline_free(&f->p);
  mlg_source_free(&f->src);
  free(f->code);
}

/* The node bound to `name` (input, param or binding), or the first op named `op`. */
static int node_named(const mlg_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0) return i;
  ck_abort_msg("no node named %s", name);
  return -1;
}

static int node_of_op(const mlg_graph *g, const char *op) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op && strcmp(g->nodes[i].op->name, op) == 0) return i;
  ck_abort_msg("no %s node", op);
  return -1;
}

static int count_substr(const char *s, const char *sub) {
  int n = 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
  return n;
}

START_TEST(test_elementwise_chain_one_kernel) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[4, 8]\n"
               "  input a : f32[8]\n"
               "  input b : f32[4, 1]\n"
               "  output y = relu(x * a + b)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  ck_assert_int_eq(f.fu->n_groups, 1);
  ck_assert_int_eq(f.fu->groups[0].kind, MLG_GROUP_ELEMENTWISE);
  ck_assert_int_eq(f.fu->groups[0].n_nodes, 3);
  /* The kernel reads x, a, b and writes y: nothing else. */
  ck_assert_int_eq(f.lw->launches[0].n_args, 4);
  int y = node_named(f.p.optimized, "y");
  ck_assert_int_eq(f.fu->role[y], MLG_ROLE_ROOT);
  ck_assert_int_eq(f.fu->role[node_of_op(f.p.optimized, "mul")], MLG_ROLE_INNER);
  fused_free(&f);
}
END_TEST

START_TEST(test_shared_value_computed_once) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[64]\n"
               "  t = x * 3.0\n"
               "  output y = t + relu(t)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  ck_assert_int_eq(f.fu->role[node_named(f.p.optimized, "t")], MLG_ROLE_INNER);
  /* 64 elements: each work-item computes 4 (one vector load of x), t once per element. */
  ck_assert_msg(count_substr(f.code, "* 3.0f") == 4, "t is computed more than once:\n%s", f.code);
  ck_assert_msg(count_substr(f.code, "vload4(") == 1, "x is not loaded as one vector:\n%s", f.code);
  ck_assert_int_eq(f.lw->launches[0].inplace_arg, 0); /* x is read only where y is written */
  fused_free(&f);
}
END_TEST

/* A count that is not a multiple of 4 keeps one element per work-item and scalar loads. */
START_TEST(test_elementwise_odd_count_scalar) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[63]\n"
               "  t = x * 3.0\n"
               "  output y = t + relu(t)\n"
               "}\n",
               2);
  ck_assert_msg(count_substr(f.code, "* 3.0f") == 1, "t is computed more than once:\n%s", f.code);
  ck_assert_msg(count_substr(f.code, "vload4(") == 0, "unexpected vector load:\n%s", f.code);
  fused_free(&f);
}
END_TEST

START_TEST(test_linear_gelu_one_kernel) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[3, 16]\n"
               "  param w : f32[8, 16] = normal(0, 0.1, seed=1)\n"
               "  param bias : f32[8] = zeros\n"
               "  output y = gelu(linear(x, w, bias))\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  const mlg_fusion_group *g = &f.fu->groups[0];
  ck_assert_int_eq(g->kind, MLG_GROUP_ANCHORED);
  ck_assert_int_eq(g->anchor, node_of_op(f.p.optimized, "linear"));
  ck_assert_int_eq(g->root, node_named(f.p.optimized, "y"));
  ck_assert_ptr_nonnull(strstr(f.code, "float v_gelu = 0.5f * acc_out"));
  /* The launch's cost sums its ops' rules: linear 2·3·8·16 + 3·8 (bias), gelu 3·8; its bytes
   * are the tensors it binds, x w bias y, once each (the linear's result never reaches memory). */
  ck_assert_int_eq(f.lw->launches[0].flops, 2 * 3 * 8 * 16 + 24 + 24);
  ck_assert_int_eq(f.lw->launches[0].bytes, (3 * 16 + 8 * 16 + 8 + 3 * 8) * 4);
  fused_free(&f);
}
END_TEST

/* For a CPU (MLG_FUSE_CHEAP_EPILOGUES) a GEMM keeps ops that call a transcendental function
 * (gelu's erf, sigmoid's exp) out of its epilogue, and takes cheap ones (relu, a scale, a
 * residual add) as before; a reduction's epilogue is not concerned. */
START_TEST(test_cpu_cheap_epilogues) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[3, 16]\n"
               "  param w : f32[8, 16] = normal(0, 0.1, seed=1)\n"
               "  param w2 : f32[8, 16] = normal(0, 0.1, seed=2)\n"
               "  output y = gelu(linear(x, w))\n"
               "  output z = relu(linear(x, w2) * 0.5) + 1.0\n"
               "  output s = sigmoid(sum(x, dim=1))\n"
               "}\n",
               2);
  const mlg_graph *g = f.p.optimized;
  mlg_fusion *cpu = mlg_fuse(g, MLG_FUSE_ON | MLG_FUSE_CHEAP_EPILOGUES);
  ck_assert_ptr_nonnull(cpu);
  int y = node_named(g, "y"), z = node_named(g, "z"), s = node_named(g, "s");
  /* Everywhere else: three kernels, each anchored. */
  ck_assert_int_eq(f.fu->n_groups, 3);
  ck_assert_int_eq(f.fu->groups[f.fu->group_of[y]].kind, MLG_GROUP_ANCHORED);
  /* On a CPU: gelu is a kernel of its own after the linear's. */
  ck_assert_int_eq(cpu->n_groups, 4);
  ck_assert_int_eq(cpu->groups[cpu->group_of[y]].kind, MLG_GROUP_ELEMENTWISE);
  ck_assert_int_eq(cpu->groups[cpu->group_of[z]].kind, MLG_GROUP_ANCHORED);
  ck_assert_int_eq(cpu->groups[cpu->group_of[s]].kind, MLG_GROUP_ANCHORED);
  mlg_fusion_free(cpu);
  fused_free(&f);
}
END_TEST

/* A layer_norm feeding a linear is the GEMM's prologue (one kernel, k_layer_norm_linear) only
 * without a device hint: with a CPU or GPU hint (MLG_FUSE_NO_LN_PROLOGUE) it is a kernel of its
 * own before the GEMM's. */
START_TEST(test_ln_prologue_by_hint) {
  static const char text[] = "model t {\n"
                             "  input x : f32[64, 96]\n"
                             "  param w : f32[32, 96] = normal(0, 0.1, seed=1)\n"
                             "  output y = linear(layer_norm(x), w)\n"
                             "}\n";
  static const int hints[3] = {0, 1, 2}; /* unknown, CPU, GPU */
  for (int h = 0; h < 3; h++) {
    mlg_source src;
    ck_assert_int_eq(mlg_source_from_memory(&src, "t.mlg", text, strlen(text)), 0);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, stderr);
    mlg_compile_options o = {.target = MLGB_TARGET_OPENCL, .opt_level = 2, .device_class = hints[h]};
    mlg_pipeline p;
    ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_BUNDLE, &diag, &p), 0);
    char *code = strndup(p.code->text, p.code->text_size);
    ck_assert_ptr_nonnull(code);
    ck_assert_msg((strstr(code, "void k_layer_norm_linear(") != NULL) == (hints[h] == 0), "hint %d", hints[h]);
    ck_assert_msg((strstr(code, "void k_layer_norm(") != NULL) == (hints[h] != 0), "hint %d", hints[h]);
    free(code);
    mlg_pipeline_free(&p);
    mlg_source_free(&src);
  }
}
END_TEST

/* Under a CPU hint (OpenCL) an elementwise group whose inputs are read at the element itself,
 * or broadcast into rows of a multiple of 16 (a row of the last dim, or one element per row),
 * computes 16 elements per work-item as a float16; rows of 24, a size that is no multiple of
 * 16, or a value that is no float (a cast through integers) keep a work-item per element.
 * Vulkan keeps it too. */
START_TEST(test_cpu_elementwise_vectors) {
  static const struct { const char *text; int target, vec; } cases[] = {
      {"model t {\n  input x : f32[64, 32]\n  input y : f32[64, 32]\n"
       "  output o = gelu(x) * y + 1.0\n}\n", MLGB_TARGET_OPENCL, 1},
      {"model t {\n  input x : f32[64, 32]\n  input y : f32[64, 32]\n"
       "  output o = gelu(x) * y + 1.0\n}\n", MLGB_TARGET_VULKAN, 0},
      {"model t {\n  input x : f32[64, 32]\n  input b : f32[32]\n  input c : f32[64, 1]\n"
       "  output o = tanh(x + b) * c\n}\n", MLGB_TARGET_OPENCL, 1},
      {"model t {\n  input x : f32[64, 24]\n  input b : f32[24]\n"
       "  output o = tanh(x + b)\n}\n", MLGB_TARGET_OPENCL, 0},
      {"model t {\n  input x : f32[63, 5]\n  output o = tanh(x) * 2.0\n}\n", MLGB_TARGET_OPENCL, 0},
      {"model t {\n  input x : f32[64, 32]\n"
       "  output o = cast(cast(x, dtype=i32), dtype=f32) * 2.0\n}\n", MLGB_TARGET_OPENCL, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mlg_source src;
    ck_assert_int_eq(mlg_source_from_memory(&src, "t.mlg", cases[c].text, strlen(cases[c].text)), 0);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, stderr);
    mlg_compile_options o = {.target = cases[c].target, .opt_level = 2, .device_class = 1 /* CPU */};
    mlg_pipeline p;
    ck_assert_msg(mlg_pipeline_run(&src, &o, MLG_STAGE_BUNDLE, &diag, &p) == 0, "case %zu", c);
    char *code = strndup(p.code->text, p.code->text_size);
    ck_assert_ptr_nonnull(code);
    ck_assert_msg((strstr(code, "vstore16(") != NULL) == cases[c].vec, "case %zu:\n%s", c, code);
    free(code);
    mlg_pipeline_free(&p);
    mlg_source_free(&src);
  }
}
END_TEST

START_TEST(test_conv_bias_relu_residual_one_kernel) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[1, 4, 6, 6]\n"
               "  param w : f32[4, 4, 3, 3] = normal(0, 0.1, seed=1)\n"
               "  param bias : f32[4] = zeros\n"
               "  output y = relu(conv2d(x, w, bias, padding=1) + x)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  ck_assert_int_eq(f.fu->groups[0].anchor, node_of_op(f.p.optimized, "conv2d"));
  ck_assert_int_eq(f.fu->groups[0].n_nodes, 3);
  fused_free(&f);
}
END_TEST

START_TEST(test_softmax_prologue_one_kernel) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[2, 5, 7]\n"
               "  input s : f32[1]\n"
               "  input m : f32[5, 7]\n"
               "  output y = softmax(x * s + m, axis=-1)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  const mlg_fusion_group *g = &f.fu->groups[0];
  ck_assert_int_eq(g->kind, MLG_GROUP_ANCHORED);
  ck_assert_int_eq(g->anchor, node_of_op(f.p.optimized, "softmax"));
  ck_assert_int_eq(g->n_nodes, 3);
  /* softmax reads x, s and m directly: no x*s+m tensor. */
  ck_assert_int_eq(f.lw->launches[0].n_args, 4);
  fused_free(&f);
}
END_TEST

START_TEST(test_reduction_prologue_and_epilogue) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[6, 9]\n"
               "  output y = sqrt(mean(x * x, axes=[1]) + 1e-6)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  ck_assert_int_eq(f.fu->groups[0].anchor, node_of_op(f.p.optimized, "mean"));
  fused_free(&f);
}
END_TEST

/* A matmul result read by another matmul and by an add is stored once and never recomputed. */
START_TEST(test_shared_matmul_not_recomputed) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[4, 8]\n"
               "  input w : f32[8, 8]\n"
               "  input w2 : f32[8, 3]\n"
               "  h = x @ w\n"
               "  output a = h @ w2\n"
               "  output b = relu(h + x)\n"
               "}\n",
               2);
  int h = node_named(f.p.optimized, "h");
  ck_assert_int_eq(f.fu->role[h], MLG_ROLE_ROOT);
  int n_matmul_kernels = 0;
  for (int i = 0; i < f.fu->n_groups; i++)
    n_matmul_kernels += f.fu->groups[i].anchor >= 0 &&
                        strcmp(f.p.optimized->nodes[f.fu->groups[i].anchor].op->name, "matmul") == 0;
  ck_assert_int_eq(n_matmul_kernels, 2);
  ck_assert_int_eq(f.lw->n_launches, 3);
  fused_free(&f);
}
END_TEST

START_TEST(test_transpose_into_matmul_no_copy) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[5, 8]\n"
               "  input w : f32[3, 8]\n"
               "  output y = x @ transpose(w)\n"
               "}\n",
               2);
  ck_assert_int_eq(f.lw->n_launches, 1);
  ck_assert_int_eq(f.fu->role[node_of_op(f.p.optimized, "transpose")], MLG_ROLE_INDEX);
  /* The matmul binds w itself. */
  int w = node_named(f.p.optimized, "w");
  ck_assert_int_eq(f.lw->launches[0].args[1], w);
  fused_free(&f);
}
END_TEST

/* Attention written as matmul → softmax → matmul is recognized as one
 * scaled_dot_product_attention; the head split (slice, reshape, transpose) folds into its
 * operands and the head merge (transpose, reshape) into its store. */
START_TEST(test_attention_views_no_copies) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input qkv : f32[1, 6, 24]\n"
               "  param w : f32[5, 8] = normal(0, 0.1, seed=1)\n"
               "  param bias : f32[5] = zeros\n"
               "  q = transpose(reshape(slice(qkv, starts=[0], ends=[8], axes=[2]), [1, 6, 2, 4]), perm=[0, 2, 1, 3])\n"
               "  k = transpose(reshape(slice(qkv, starts=[8], ends=[16], axes=[2]), [1, 6, 2, 4]), perm=[0, 2, 3, 1])\n"
               "  v = transpose(reshape(slice(qkv, starts=[16], ends=[24], axes=[2]), [1, 6, 2, 4]), perm=[0, 2, 1, 3])\n"
               "  att = softmax(q @ k, axis=-1)\n"
               "  output y = relu(linear(reshape(transpose(att @ v, perm=[0, 2, 1, 3]), [1, 6, 8]), w, bias))\n"
               "}\n",
               2);
  /* attention (stored through the head merge), linear+relu. */
  ck_assert_int_eq(f.lw->n_launches, 2);
  const mlg_graph *g = f.p.optimized;
  int attention = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].kind != MLG_NODE_OP) continue;
    const char *op = g->nodes[i].op->name;
    if (strcmp(op, "slice") == 0)
      ck_assert_msg(f.fu->role[i] == MLG_ROLE_INDEX, "slice %%%d is stored", i);
    ck_assert_msg(strcmp(op, "matmul") != 0 && strcmp(op, "softmax") != 0, "%s is left", op);
    attention += strcmp(op, "scaled_dot_product_attention") == 0;
  }
  ck_assert_int_eq(attention, 1);
  fused_free(&f);
}
END_TEST

/* -O0 keeps one op per kernel: the unfused lowering, and mlg_fuse(g, 0) agrees with it. */
START_TEST(test_O0_unfused) {
  fused f;
  compile_text(&f,
               "model t {\n"
               "  input x : f32[4, 8]\n"
               "  input a : f32[8]\n"
               "  output y = reshape(relu(x * a + a), [32])\n"
               "}\n",
               0);
  mlg_diag diag;
  mlg_diag_init(&diag, &f.src, stderr);
  mlg_lowered *lw = mlg_lower(f.p.optimized, &diag);
  ck_assert_ptr_nonnull(lw);
  /* mul, add, relu, and a copy of the output view. */
  ck_assert_int_eq(lw->n_launches, 4);
  ck_assert_int_eq(f.p.lowered->n_launches, 4);
  mlg_fusion *one = mlg_fuse(f.p.optimized, 0);
  ck_assert_ptr_nonnull(one);
  ck_assert_int_eq(one->n_groups, 3);
  mlg_fusion_free(one);
  mlg_lowered_free(lw);
  fused_free(&f);
}
END_TEST

/* ---- the example models ---- */

/* Small dims for the big model so that the test stays quick on a CPU. */
static const mlg_dim_binding resnet18_dims[] = {{"S", 32}};

static mlg_compile_options model_options(const char *model, int opt_level) {
  mlg_compile_options o = {.target = MLGB_TARGET_OPENCL, .opt_level = opt_level};
  if (strcmp(model, "resnet18") == 0) {
    o.n_dims = 1;
    o.dims = resnet18_dims;
  }
  return o;
}

static void model_source(const char *model, mlg_source *src) {
  char path[512];
  snprintf(path, sizeof path, "%s/models/%s.mlg", MLG_SOURCE_DIR, model);
  ck_assert_msg(mlg_source_load(src, path) == 0, "cannot read %s", path);
}

/* Ops before fusion and kernels launched after it, at -O2 (what the report table shows). */
static void model_counts(const char *model, int *out_ops, int *out_kernels) {
  mlg_source src;
  model_source(model, &src);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = model_options(model, 2);
  mlg_pipeline p;
  ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_KERNELS, &diag, &p), 0);
  mlg_fusion *fu = mlg_fuse(p.optimized, 1);
  ck_assert_ptr_nonnull(fu);
  mlg_lowered *lw = mlg_lower_fused(p.optimized, fu, &diag);
  ck_assert_ptr_nonnull(lw);
  *out_ops = mlg_graph_op_count(p.optimized);
  *out_kernels = lw->n_launches;
  mlg_lowered_free(lw);
  mlg_fusion_free(fu);
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
}

START_TEST(test_transformer_three_times_fewer_kernels) {
  int ops, kernels;
  model_counts("transformer_block", &ops, &kernels);
  ck_assert_msg(kernels * 3 <= ops, "transformer_block: %d ops in %d kernels", ops, kernels);
}
END_TEST

START_TEST(test_models_fewer_kernels_than_ops) {
  static const char *const models[] = {"mlp", "lenet", "resnet_block", "resnet18"};
  static const int max_kernels[] = {3, 7, 6, 23};
  for (int i = 0; i < 4; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.mlg", MLG_SOURCE_DIR, models[i]);
    struct stat st;
    if (stat(path, &st) != 0) continue; /* resnet18 is optional */
    int ops, kernels;
    model_counts(models[i], &ops, &kernels);
    /* mlp: its head is one linear_softmax node, which (without a CPU hint) runs as the GEMM
     * and the softmax kernel: 3 ops, 3 kernels. */
    ck_assert_msg(kernels <= max_kernels[i] && (kernels < ops || (i == 0 && kernels == ops)),
                  "%s: %d ops in %d kernels", models[i], ops, kernels);
  }
}
END_TEST

/* The pipeline (compile.c) lowers with fusion from -O1 on and one op per kernel at -O0. */
START_TEST(test_pipeline_fuses_at_O2) {
  for (int opt = 0; opt <= 2; opt += 2) {
    mlg_source src;
    model_source("transformer_block", &src);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, stderr);
    mlg_compile_options o = model_options("transformer_block", opt);
    mlg_pipeline p;
    ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_KERNELS, &diag, &p), 0);
    mlg_fusion *fu = mlg_fuse(p.optimized, 1);
    ck_assert_ptr_nonnull(fu);
    mlg_lowered *lw = opt ? mlg_lower_fused(p.optimized, fu, &diag) : mlg_lower(p.optimized, &diag);
    ck_assert_ptr_nonnull(lw);
    ck_assert_msg(p.lowered->n_launches == lw->n_launches,
                  "-O%d: the pipeline launches %d kernels, %s lowering %d", opt,
                  p.lowered->n_launches, opt ? "fused" : "unfused", lw->n_launches);
    mlg_lowered_free(lw);
    mlg_fusion_free(fu);
    mlg_pipeline_free(&p);
    mlg_source_free(&src);
  }
}
END_TEST

/* ---- -O2 and -O1 against -O0 on PoCL ---- */

static uint8_t *compile_at(const mlg_source *src, mlg_compile_options o, int level, const char *what,
                           size_t *out_size) {
  mlg_diag diag;
  mlg_diag_init(&diag, src, stderr);
  o.opt_level = level;
  uint8_t *data = NULL;
  ck_assert_msg(mlg_compile(src, &o, &diag, &data, out_size) == 0, "%s -O%d: compile failed", what,
                level);
  return data;
}

/* Runs the bundle with inputs drawn from a fixed seed; returns the outputs concatenated. */
static float *run_model(mlg_runtime *rt, const uint8_t *bundle, size_t size, size_t *out_n) {
  mlg_model *model = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, bundle, size, NULL, &model) == MLG_OK, "load: %s",
                mlg_last_error());
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(model, &s), MLG_OK);
  uint64_t seed = 12345;
  for (int i = 0; i < mlg_model_input_count(model); i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_input_info(model, i, &info), MLG_OK);
    float *data = malloc(info.bytes ? info.bytes : 1);
    ck_assert_ptr_nonnull(data);
    for (size_t e = 0; e < info.bytes / 4; e++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      data[e] = (float)((double)(seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
    ck_assert_int_eq(mlg_session_set_input(s, info.name, data, info.bytes), MLG_OK);
    free(data);
  }
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
  size_t total = 0;
  for (int i = 0; i < mlg_model_output_count(model); i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_output_info(model, i, &info), MLG_OK);
    total += info.bytes / 4;
  }
  float *out = malloc(total * sizeof(float) + 1);
  ck_assert_ptr_nonnull(out);
  size_t at = 0;
  for (int i = 0; i < mlg_model_output_count(model); i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_output_info(model, i, &info), MLG_OK);
    ck_assert_int_eq(mlg_session_get_output(s, info.name, out + at, info.bytes), MLG_OK);
    at += info.bytes / 4;
  }
  mlg_session_destroy(s);
  mlg_model_destroy(model);
  *out_n = total;
  return out;
}

/* Compiles `src` at -O0, -O2 and -O1, runs each with the same inputs and checks -O2 and -O1
 * against -O0: |got - want| <= atol + rtol |want|, with atol multiplied by the largest |output|
 * of -O0 (at least 1) when scale_atol is set. -O1 runs the passes and fusion of -O2 today: its
 * bundle is the -O2 one, byte for byte, and is run only where the two differ. */
static void check_levels_agree(const mlg_source *src, mlg_compile_options o, const char *what,
                               double rtol, double atol, int scale_atol) {
  const char *cache = MLG_BINARY_DIR "/test-fixtures-cache";
  if (mkdir(cache, 0777) != 0 && errno != EEXIST) cache = "";
  mlg_runtime_options ro = {.device = "cpu", .cache_dir = cache};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "no OpenCL CPU device (PoCL): %s",
                mlg_last_error());
  size_t size[3], n[3] = {0, 0, 0};
  uint8_t *bundle[3];
  float *y[3] = {NULL, NULL, NULL};
  for (int level = 0; level <= 2; level++) bundle[level] = compile_at(src, o, level, what, &size[level]);
  int same12 = size[1] == size[2] && memcmp(bundle[1], bundle[2], size[1]) == 0;
  for (int level = 0; level <= 2; level++) {
    if (level == 1 && same12) continue;
    y[level] = run_model(rt, bundle[level], size[level], &n[level]);
    ck_assert_int_eq(n[level], n[0]);
  }
  if (scale_atol) {
    double scale = 1.0;
    for (size_t i = 0; i < n[0]; i++) scale = fmax(scale, fabs(y[0][i]));
    atol *= scale;
  }
  for (int level = 1; level <= 2; level++) {
    for (size_t i = 0; y[level] && i < n[0]; i++) {
      double a = y[level][i], b = y[0][i];
      ck_assert_msg(isfinite(a) && fabs(a - b) <= atol + rtol * fabs(b),
                    "%s: output element %zu: -O%d gives %.9g, -O0 %.9g", what, i, level, a, b);
    }
  }
  for (int level = 0; level <= 2; level++) {
    free(y[level]);
    free(bundle[level]);
  }
  mlg_runtime_destroy(rt);
}

static const char *const g_models[] = {"mlp", "lenet", "resnet_block", "transformer_block",
                                       "gpt2_block", "resnet18"};

START_TEST(test_model_levels_agree) {
  const char *model = g_models[_i];
  char path[512];
  snprintf(path, sizeof path, "%s/models/%s.mlg", MLG_SOURCE_DIR, model);
  struct stat st;
  if (stat(path, &st) != 0) return; /* resnet18 is optional */
  /* The model's tolerance against its reference where it has one; otherwise (resnet18, whose
   * twenty folded batch_norms change the rounding of every conv) atol scales with the output:
   * measured, -O2 and -O0 differ by 2.4e-5 on logits of magnitude 19 at S=32. */
  double rtol = 1e-4, atol = 1e-5;
  char tol_path[600];
  snprintf(tol_path, sizeof tol_path, "%s/tests/models/%s/tolerance", MLG_SOURCE_DIR, model);
  FILE *tf = fopen(tol_path, "r");
  if (tf) {
    char line[256];
    while (fgets(line, sizeof line, tf))
      if (line[0] != '#') sscanf(line, "rtol=%lf atol=%lf", &rtol, &atol);
    fclose(tf);
  }
  mlg_source src;
  model_source(model, &src);
  check_levels_agree(&src, model_options(model, 0), model, rtol, atol, tf == NULL);
  mlg_source_free(&src);
}
END_TEST

/* ---- random models ---- */

/* A generator of small valid models: each value is a binding with a known shape, built from
 * earlier ones by elementwise ops (often written in place), views (reshape, unsqueeze,
 * flatten), keepdims reductions broadcast back, softmax, pooling and conv2d through 4-D views,
 * and matmuls with params. Values stay bounded (tanh, sigmoid, softmax, scaled sums). */
typedef struct rg_value {
  int rank;
  int64_t dims[4];
} rg_value;

typedef struct rg {
  unsigned seed;
  FILE *out;
  int n;
  rg_value v[48];
} rg;

static unsigned rg_rand(rg *g, unsigned n) {
  g->seed = g->seed * 1103515245u + 12345u;
  return ((g->seed >> 16) & 0x7fff) % n;
}

static int64_t rg_numel(const rg_value *v) {
  int64_t n = 1;
  for (int i = 0; i < v->rank; i++) n *= v->dims[i];
  return n;
}

static void rg_dims(FILE *out, const rg_value *v) {
  fputc('[', out);
  for (int i = 0; i < v->rank; i++) fprintf(out, "%s%lld", i ? ", " : "", (long long)v->dims[i]);
  fputc(']', out);
}

/* Starts "  vN = " for a new value of shape `v`; the caller writes the expression. */
static int rg_begin(rg *g, rg_value v) {
  g->v[g->n] = v;
  fprintf(g->out, "  v%d = ", g->n);
  return g->n++;
}

/* A random shape of `numel` elements and rank 1-4 (its prime factors dealt into the dims). */
static rg_value rg_factor(rg *g, int64_t numel) {
  rg_value v = {.rank = 1 + (int)rg_rand(g, 4)};
  for (int i = 0; i < v.rank; i++) v.dims[i] = 1;
  for (int64_t p = 2; numel > 1; p++)
    while (numel % p == 0) {
      v.dims[rg_rand(g, (unsigned)v.rank)] *= p;
      numel /= p;
    }
  return v;
}

/* [1, 1, H, W] with H, W >= 2 holding v's elements, if it has such a factorization. */
static int rg_image(const rg_value *v, rg_value *out) {
  int64_t n = rg_numel(v);
  for (int64_t h = 2; h * h <= n; h++)
    if (n % h == 0) {
      *out = (rg_value){.rank = 4, .dims = {1, 1, h, n / h}};
      return 1;
    }
  return 0;
}

static void rg_step(rg *g) {
  static const char *const unary[] = {"relu", "tanh", "sigmoid", "neg", "abs", "silu", "gelu"};
  int a = g->n - 1 - (int)rg_rand(g, g->n < 3 ? (unsigned)g->n : 3u); /* mostly recent values */
  rg_value va = g->v[a], img;
  switch (rg_rand(g, 9)) {
  case 0: /* view */
    if (rg_rand(g, 2)) {
      rg_value r = rg_factor(g, rg_numel(&va));
      rg_begin(g, r);
      fprintf(g->out, "reshape(v%d, ", a);
      rg_dims(g->out, &r);
      fprintf(g->out, ")\n");
    } else if (va.rank < 4) {
      rg_value r = {.rank = va.rank + 1, .dims = {1}};
      for (int i = 0; i < va.rank; i++) r.dims[i + 1] = va.dims[i];
      rg_begin(g, r);
      fprintf(g->out, "unsqueeze(v%d, axes=[0])\n", a);
    } else {
      rg_value r = {.rank = 2, .dims = {va.dims[0], rg_numel(&va) / va.dims[0]}};
      rg_begin(g, r);
      fprintf(g->out, "flatten(v%d, axis=1)\n", a);
    }
    break;
  case 1: { /* keepdims reduction broadcast back: the pattern of issue 10 */
    int axis = (int)rg_rand(g, (unsigned)va.rank);
    rg_begin(g, va);
    fprintf(g->out, "v%d * %s(v%d, axes=[%d], keepdims=true) * 0.25\n", a,
            rg_rand(g, 2) ? "sum" : "max", a, axis);
    break;
  }
  case 2:
    rg_begin(g, va);
    fprintf(g->out, "softmax(v%d, axis=-1)\n", a);
    break;
  case 3: /* pooling or conv2d through a 4-D view */
    if (!rg_image(&va, &img)) goto elementwise;
    if (rg_rand(g, 2)) {
      rg_value r = {.rank = 4, .dims = {1, 1, img.dims[2] / 2, img.dims[3] / 2}};
      if (r.dims[2] < 1 || r.dims[3] < 1) goto elementwise;
      rg_begin(g, r);
      fprintf(g->out, "max_pool2d(reshape(v%d, ", a);
      rg_dims(g->out, &img);
      fprintf(g->out, "), kernel=2, stride=2)\n");
    } else {
      fprintf(g->out, "  param w%d : f32[2, 1, 3, 3] = normal(0, 0.3)\n", g->n);
      rg_value r = {.rank = 4, .dims = {1, 2, img.dims[2], img.dims[3]}};
      int id = rg_begin(g, r);
      fprintf(g->out, "conv2d(reshape(v%d, ", a);
      rg_dims(g->out, &img);
      fprintf(g->out, "), w%d, padding=1)\n", id);
    }
    break;
  case 4: /* matmul with a param */
    if (va.rank != 2) goto elementwise;
    {
      int64_t cols = 1 + rg_rand(g, 6);
      fprintf(g->out, "  param m%d : f32[%lld, %lld] = normal(0, 0.4)\n", g->n,
              (long long)va.dims[1], (long long)cols);
      int id = rg_begin(g, (rg_value){.rank = 2, .dims = {va.dims[0], cols}});
      fprintf(g->out, "tanh(v%d @ m%d)\n", a, id);
    }
    break;
  case 5: { /* two values of one shape */
    int b = -1;
    for (int i = g->n - 1; i >= 0 && b < 0; i--)
      if (i != a && g->v[i].rank == va.rank && !memcmp(g->v[i].dims, va.dims, sizeof va.dims)) b = i;
    if (b < 0) goto elementwise;
    rg_begin(g, va);
    fprintf(g->out, "v%d %s v%d\n", a, rg_rand(g, 2) ? "+" : "*", b);
    break;
  }
  default:
  elementwise:
    rg_begin(g, va);
    fprintf(g->out, "%s(v%d)%s\n", unary[rg_rand(g, sizeof unary / sizeof unary[0])], a,
            rg_rand(g, 2) ? " * 0.5" : "");
    break;
  }
}

/* Model `i`: an input, 6 to 13 steps, and two outputs (the last value and an earlier one). */
static char *rg_model(int i) {
  rg g = {.seed = 7919u * (unsigned)(i + 1)};
  char *text = NULL;
  size_t size = 0;
  g.out = open_memstream(&text, &size);
  ck_assert_ptr_nonnull(g.out);
  static const int64_t rows[] = {2, 3, 4, 6}, cols[] = {4, 6, 8, 12};
  rg_value x = {.rank = 2, .dims = {rows[rg_rand(&g, 4)], cols[rg_rand(&g, 4)]}};
  fprintf(g.out, "model random%d {\n  input x : f32", i);
  rg_dims(g.out, &x);
  fprintf(g.out, "\n");
  rg_begin(&g, x);
  fprintf(g.out, "tanh(x)\n");
  int steps = 6 + (int)rg_rand(&g, 8);
  for (int s = 0; s < steps; s++) rg_step(&g);
  fprintf(g.out, "  output y = v%d\n  output z = v%d\n}\n", g.n - 1, (int)rg_rand(&g, (unsigned)g.n - 1));
  fclose(g.out);
  return text;
}

enum { N_RANDOM_MODELS = 8 };

START_TEST(test_random_models_levels_agree) {
  char *text = rg_model(_i);
  char what[64];
  snprintf(what, sizeof what, "random model %d", _i);
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, what, text, strlen(text)), 0);
  if (getenv("MLG_TEST_VERBOSE")) fputs(text, stderr);
  check_levels_agree(&src, (mlg_compile_options){.target = MLGB_TARGET_OPENCL}, what, 1e-4, 1e-5, 1);
  mlg_source_free(&src);
  free(text);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fuse");
  TCase *tc = tcase_create("grouping");
  tcase_add_test(tc, test_elementwise_chain_one_kernel);
  tcase_add_test(tc, test_shared_value_computed_once);
  tcase_add_test(tc, test_elementwise_odd_count_scalar);
  tcase_add_test(tc, test_linear_gelu_one_kernel);
  tcase_add_test(tc, test_cpu_cheap_epilogues);
  tcase_add_test(tc, test_ln_prologue_by_hint);
  tcase_add_test(tc, test_cpu_elementwise_vectors);
  tcase_add_test(tc, test_conv_bias_relu_residual_one_kernel);
  tcase_add_test(tc, test_softmax_prologue_one_kernel);
  tcase_add_test(tc, test_reduction_prologue_and_epilogue);
  tcase_add_test(tc, test_shared_matmul_not_recomputed);
  tcase_add_test(tc, test_transpose_into_matmul_no_copy);
  tcase_add_test(tc, test_attention_views_no_copies);
  tcase_add_test(tc, test_O0_unfused);
  suite_add_tcase(s, tc);
  TCase *tm = tcase_create("models");
  tcase_set_timeout(tm, 120);
  tcase_add_test(tm, test_transformer_three_times_fewer_kernels);
  tcase_add_test(tm, test_models_fewer_kernels_than_ops);
  tcase_add_test(tm, test_pipeline_fuses_at_O2);
  suite_add_tcase(s, tm);
  TCase *tr = tcase_create("O2_vs_O0");
  tcase_set_timeout(tr, 600);
  tcase_add_loop_test(tr, test_model_levels_agree, 0, (int)(sizeof g_models / sizeof g_models[0]));
  tcase_add_loop_test(tr, test_random_models_levels_agree, 0, N_RANDOM_MODELS);
  suite_add_tcase(s, tr);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

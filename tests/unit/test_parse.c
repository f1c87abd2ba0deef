/* test_parse.c — lexer, grammar and AST: every construct, precedence, spans, error recovery,
 * and inputs that must not crash (binary garbage, huge lines, deep nesting). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "diag.h"
#include "parse.h"

typedef struct parsed {
  mlg_source src;
  mlg_diag diag;
  mlg_ast *ast;
  char *messages; /* everything the diagnostics printed */
  size_t size;
} parsed;

static void parse_bytes(parsed *p, const char *text, size_t length) {
  memset(p, 0, sizeof *p);
  ck_assert_int_eq(mlg_source_from_memory(&p->src, "t.mlg", text, length), 0);
  FILE *out = open_memstream(&p->messages, &p->size);
  ck_assert_ptr_nonnull(out);
  mlg_diag_init(&p->diag, &p->src, out);
  p->ast = mlg_parse(&p->src, &p->diag);
  fclose(out);
  p->diag.out = NULL;
  ck_assert_ptr_nonnull(p->ast);
}

static void parse_text(parsed *p, const char *text) { parse_bytes(p, text, strlen(text)); }

static void parsed_free(parsed *p) {
  mlg_ast_free(p->ast);
  mlg_source_free(&p->src);
  free(p->messages);
}

/* Parses `model m { x = <expr> }` and returns the expression. */
static const mlg_expr *expr_of(parsed *p, const char *expr) {
  char buf[4096];
  snprintf(buf, sizeof buf, "model m {\n  x = %s\n}\n", expr);
  parse_text(p, buf);
  ck_assert_msg(p->diag.n_errors == 0, "errors for '%s':\n%s", expr, p->messages);
  ck_assert_int_eq(p->ast->n_stmts, 1);
  ck_assert_int_eq(p->ast->stmts[0]->kind, MLG_STMT_LET);
  return p->ast->stmts[0]->value;
}

/* Fully parenthesised rendering of an expression, to check tree shapes compactly. */
static void shape(const mlg_expr *e, char *buf, size_t cap) {
  size_t n = strlen(buf);
  switch (e->kind) {
  case MLG_EXPR_INT: snprintf(buf + n, cap - n, "%lld", (long long)e->int_value); break;
  case MLG_EXPR_FLOAT: snprintf(buf + n, cap - n, "%s", e->text); break;
  case MLG_EXPR_BOOL: snprintf(buf + n, cap - n, "%s", e->int_value ? "true" : "false"); break;
  case MLG_EXPR_DTYPE: snprintf(buf + n, cap - n, "<dtype %d>", (int)e->int_value); break;
  case MLG_EXPR_NAME: snprintf(buf + n, cap - n, "%s", e->text); break;
  case MLG_EXPR_UNARY:
    snprintf(buf + n, cap - n, "(%c", e->op);
    shape(e->args[0], buf, cap);
    strncat(buf, ")", cap - strlen(buf) - 1);
    break;
  case MLG_EXPR_BINARY:
    strncat(buf, "(", cap - n - 1);
    shape(e->args[0], buf, cap);
    n = strlen(buf);
    snprintf(buf + n, cap - n, " %c ", e->op);
    shape(e->args[1], buf, cap);
    strncat(buf, ")", cap - strlen(buf) - 1);
    break;
  case MLG_EXPR_CALL:
    snprintf(buf + n, cap - n, "%s(", e->text);
    for (int i = 0; i < e->n_args; i++) {
      if (i) strncat(buf, ", ", cap - strlen(buf) - 1);
      shape(e->args[i], buf, cap);
    }
    for (int i = 0; i < e->n_kwargs; i++) {
      n = strlen(buf);
      snprintf(buf + n, cap - n, "%s%s=", (i || e->n_args) ? ", " : "", e->kwargs[i].name);
      shape(e->kwargs[i].value, buf, cap);
    }
    strncat(buf, ")", cap - strlen(buf) - 1);
    if (e->as_prefix) {
      n = strlen(buf);
      snprintf(buf + n, cap - n, " as %s", e->as_prefix);
    }
    break;
  case MLG_EXPR_LIST:
    strncat(buf, "[", cap - n - 1);
    for (int i = 0; i < e->n_args; i++) {
      if (i) strncat(buf, ", ", cap - strlen(buf) - 1);
      shape(e->args[i], buf, cap);
    }
    strncat(buf, "]", cap - strlen(buf) - 1);
    break;
  }
}

static void check_shape(const char *src, const char *want) {
  parsed p;
  const mlg_expr *e = expr_of(&p, src);
  char buf[4096] = "";
  shape(e, buf, sizeof buf);
  ck_assert_msg(strcmp(buf, want) == 0, "'%s' parsed as '%s', want '%s'", src, buf, want);
  parsed_free(&p);
}

static void line_col(const parsed *p, mlg_span span, int *line, int *col) {
  mlg_source_line_col(&p->src, span.begin, line, col);
}

static int count(const char *haystack, const char *needle) {
  int n = 0;
  for (const char *s = haystack; (s = strstr(s, needle)) != NULL; s += strlen(needle)) n++;
  return n;
}

/* ---- constructs ------------------------------------------------------------------------- */

START_TEST(every_model_parses) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/models", MLG_SOURCE_DIR);
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n_models = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    size_t len = strlen(ent->d_name);
    if (len < 5 || strcmp(ent->d_name + len - 4, ".mlg") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    mlg_source src;
    ck_assert_int_eq(mlg_source_load(&src, path), 0);
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, out);
    mlg_ast *ast = mlg_parse(&src, &diag);
    fclose(out);
    ck_assert_ptr_nonnull(ast);
    ck_assert_msg(diag.n_errors == 0, "%s:\n%s", path, buf);
    ck_assert_ptr_nonnull(ast->model_name);
    ck_assert_int_gt(ast->n_stmts, 0);
    /* The dump is stable and non-empty. */
    char *dump = NULL;
    out = open_memstream(&dump, &size);
    mlg_ast_print(ast, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(dump, "model "));
    free(dump);
    mlg_ast_free(ast);
    mlg_source_free(&src);
    free(buf);
    n_models++;
  }
  closedir(d);
  ck_assert_int_ge(n_models, 4);
}
END_TEST

START_TEST(mlp_structure) {
  parsed p;
  parse_text(&p,
             "# comment\n"
             "model mlp {\n"
             "  dim N = 1                      # batch\n"
             "  input  x : f32[N, 784]\n"
             "  param  fc1.weight : f32[256, 784] = normal(0, 0.05, seed=1)\n"
             "  param  fc1.bias   : f32[256]      = zeros\n"
             "  h = relu(linear(x, fc1.weight, fc1.bias))\n"
             "  output probs = softmax(h, axis=-1)\n"
             "  output h\n"
             "}\n");
  ck_assert_int_eq(p.diag.n_errors, 0);
  const mlg_ast *a = p.ast;
  ck_assert_str_eq(a->model_name, "mlp");
  ck_assert_int_eq(a->n_stmts, 7);
  ck_assert_int_eq(a->n_fns, 0);
  static const mlg_stmt_kind kinds[] = {MLG_STMT_DIM, MLG_STMT_INPUT, MLG_STMT_PARAM, MLG_STMT_PARAM,
                                        MLG_STMT_LET, MLG_STMT_OUTPUT, MLG_STMT_OUTPUT};
  static const char *const names[] = {"N", "x", "fc1.weight", "fc1.bias", "h", "probs", "h"};
  for (int i = 0; i < 7; i++) {
    ck_assert_int_eq(a->stmts[i]->kind, kinds[i]);
    ck_assert_str_eq(a->stmts[i]->name, names[i]);
  }
  const mlg_stmt *in = a->stmts[1];
  ck_assert(in->has_type);
  ck_assert_int_eq(in->type.dtype, MLG_AST_F32);
  ck_assert_int_eq(in->type.rank, 2);
  ck_assert_int_eq(in->type.dims[0].value->kind, MLG_EXPR_NAME);
  ck_assert_str_eq(in->type.dims[0].value->text, "N");
  ck_assert_int_eq(in->type.dims[1].value->int_value, 784);
  ck_assert_ptr_null(in->value);

  const mlg_expr *init = a->stmts[2]->value;
  ck_assert_int_eq(init->kind, MLG_EXPR_CALL);
  ck_assert_str_eq(init->text, "normal");
  ck_assert_int_eq(init->n_args, 2);
  ck_assert_int_eq(init->n_kwargs, 1);
  ck_assert_str_eq(init->kwargs[0].name, "seed");
  ck_assert_int_eq(init->kwargs[0].value->int_value, 1);
  ck_assert_double_eq(init->args[1]->float_value, 0.05);
  ck_assert_str_eq(init->args[1]->text, "0.05");
  ck_assert_int_eq(a->stmts[3]->value->kind, MLG_EXPR_NAME);
  ck_assert_str_eq(a->stmts[3]->value->text, "zeros");
  ck_assert_ptr_null(a->stmts[6]->value); /* output h */
  parsed_free(&p);
}
END_TEST

START_TEST(precedence_and_associativity) {
  check_shape("a + b * c", "(a + (b * c))");
  check_shape("a * b + c", "((a * b) + c)");
  check_shape("a - b - c", "((a - b) - c)");
  check_shape("a / b / c", "((a / b) / c)");
  check_shape("a @ b * c", "((a @ b) * c)");
  check_shape("a * b @ c", "((a * b) @ c)");
  check_shape("a + b @ c", "(a + (b @ c))");
  check_shape("-a * b", "((-a) * b)");
  check_shape("-a @ b", "((-a) @ b)");
  check_shape("a * -b", "(a * (-b))");
  check_shape("a - -b", "(a - (-b))");
  check_shape("- - a", "(-(-a))");
  check_shape("(a + b) * c", "((a + b) * c)");
  check_shape("a * (b + c)", "(a * (b + c))");
  check_shape("(q @ k) * rsqrt(D) + mask", "(((q @ k) * rsqrt(D)) + mask)");
  check_shape("-(a + b)", "(-(a + b))");
}
END_TEST

START_TEST(literals) {
  check_shape("[0, 42, 9223372036854775807]", "[0, 42, 9223372036854775807]");
  check_shape("[1e-5, 0.05, 3., .5, 2E+3, 1.5e3]", "[1e-5, 0.05, 3., .5, 2E+3, 1.5e3]");
  check_shape("[true, false]", "[true, false]");
  parsed p;
  const mlg_expr *e = expr_of(&p, "[1e-5, 3., .5, 7, true]");
  ck_assert_int_eq(e->n_args, 5);
  ck_assert_int_eq(e->args[0]->kind, MLG_EXPR_FLOAT);
  ck_assert_double_eq(e->args[0]->float_value, 1e-5);
  ck_assert_double_eq(e->args[1]->float_value, 3.0);
  ck_assert_double_eq(e->args[2]->float_value, 0.5);
  ck_assert_int_eq(e->args[3]->kind, MLG_EXPR_INT);
  ck_assert_int_eq(e->args[3]->int_value, 7);
  ck_assert_int_eq(e->args[4]->kind, MLG_EXPR_BOOL);
  ck_assert_int_eq(e->args[4]->int_value, 1);
  parsed_free(&p);
}
END_TEST

START_TEST(names_calls_lists_as) {
  check_shape("layer1.0.conv1.weight", "layer1.0.conv1.weight");
  check_shape("attn.output.weight", "attn.output.weight"); /* keyword inside a dotted name */
  check_shape("models", "models");
  check_shape("f()", "f()");
  check_shape("softmax(x, axis=-1)", "softmax(x, axis=(-1))");
  /* `dim` is a statement keyword, and also what PyTorch calls an axis: a keyword argument. */
  check_shape("softmax(x, dim=-1)", "softmax(x, dim=(-1))");
  check_shape("concat([a, b], dim=1)", "concat([a, b], dim=1)");
  check_shape("f(x, dim=dim_n)", "f(x, dim=dim_n)");
  check_shape("softmax(x,\n    dim=-1)", "softmax(x, dim=(-1))"); /* not a `dim` statement */
  check_shape("conv2d(x, w, stride=[2, 2], padding=[1, 1, 1, 1])",
              "conv2d(x, w, stride=[2, 2], padding=[1, 1, 1, 1])");
  check_shape("[[1, 2], [3, 4]]", "[[1, 2], [3, 4]]");
  check_shape("[]", "[]");
  check_shape("concat([a, b], axis=1)", "concat([a, b], axis=1)");
  check_shape("basic_block(x, 64) as layer1.0", "basic_block(x, 64) as layer1.0");
  check_shape("f(g(x) as p.q)", "f(g(x) as p.q)");
  check_shape("f(x) as blk + 1", "(f(x) as blk + 1)");
  check_shape("reshape(x, [B, T, 3 * C])", "reshape(x, [B, T, (3 * C)])");

  parsed p;
  const mlg_expr *e = expr_of(&p, "basic_block(x, 64) as layer1.0");
  ck_assert_str_eq(e->as_prefix, "layer1.0");
  int line, col;
  line_col(&p, e->as_span, &line, &col);
  ck_assert_int_eq(line, 2);
  ck_assert_int_eq(col, 29);
  parsed_free(&p);
}
END_TEST

START_TEST(declarations_and_types) {
  parsed p;
  parse_text(&p,
             "model m {\n"
             "  const s = 2\n"
             "  const t : f32[2, 2] = [[1, 2], [3, 4]]\n"
             "  const mask : f32[T, T] = causal_mask(T)\n"
             "  input a : f32\n"
             "  input b : f32[]\n"
             "  input c : i32[3 * C, N / 2]\n"
             "  param d : f16[1]\n"
             "  param e : i8[1] = ones\n"
             "  param u : f32[4] = uniform(-1, 1, seed=3)\n"
             "}\n");
  ck_assert_msg(p.diag.n_errors == 0, "%s", p.messages);
  mlg_stmt **s = p.ast->stmts;
  ck_assert_int_eq(p.ast->n_stmts, 9);
  ck_assert_int_eq(s[0]->kind, MLG_STMT_CONST);
  ck_assert(!s[0]->has_type);
  ck_assert_int_eq(s[0]->value->int_value, 2);
  ck_assert(s[1]->has_type);
  ck_assert_int_eq(s[1]->type.rank, 2);
  ck_assert_int_eq(s[1]->value->kind, MLG_EXPR_LIST);
  ck_assert_str_eq(s[2]->value->text, "causal_mask");
  ck_assert_int_eq(s[3]->type.rank, 0);
  ck_assert_int_eq(s[4]->type.rank, 0);
  ck_assert_int_eq(s[4]->type.dtype, MLG_AST_F32);
  ck_assert_int_eq(s[5]->type.dtype, MLG_AST_I32);
  ck_assert_int_eq(s[5]->type.rank, 2);
  ck_assert_int_eq(s[5]->type.dims[0].value->kind, MLG_EXPR_BINARY);
  ck_assert_int_eq(s[5]->type.dims[0].value->op, '*');
  ck_assert_int_eq(s[5]->type.dims[1].value->op, '/');
  ck_assert_int_eq(s[6]->type.dtype, MLG_AST_F16);
  ck_assert_ptr_null(s[6]->value);
  ck_assert_int_eq(s[7]->type.dtype, MLG_AST_I8);
  ck_assert_str_eq(s[8]->value->text, "uniform");
  int line, col;
  line_col(&p, s[5]->type.span, &line, &col);
  ck_assert_int_eq(line, 7);
  ck_assert_int_eq(col, 13);
  ck_assert_uint_eq(s[5]->type.span.end - s[5]->type.span.begin, strlen("i32[3 * C, N / 2]"));
  parsed_free(&p);
}
END_TEST

START_TEST(functions) {
  parsed p;
  parse_text(&p,
             "fn block(x, c) {\n"
             "  param w : f32[c, c] = normal(0, 1, seed=1)\n"
             "  h = x @ w\n"
             "  return relu(h)\n"
             "}\n"
             "fn unit() { return 1 }\n"
             "model m {\n"
             "  fn twice(a) { b = a + a; return b }\n"
             "  input x : f32[2, 4]\n"
             "  y = block(x, 4) as layer1.0\n"
             "  output z = twice(y)\n"
             "}\n");
  ck_assert_msg(p.diag.n_errors == 0, "%s", p.messages);
  ck_assert_int_eq(p.ast->n_fns, 2);
  const mlg_fn *f = p.ast->fns[0];
  ck_assert_str_eq(f->name, "block");
  ck_assert_int_eq(f->n_params, 2);
  ck_assert_str_eq(f->params[0], "x");
  ck_assert_str_eq(f->params[1], "c");
  int line, col;
  line_col(&p, f->param_spans[1], &line, &col);
  ck_assert_int_eq(line, 1);
  ck_assert_int_eq(col, 13);
  ck_assert_int_eq(f->n_stmts, 3);
  ck_assert_int_eq(f->stmts[2]->kind, MLG_STMT_RETURN);
  ck_assert_ptr_null(f->stmts[2]->name);
  ck_assert_str_eq(p.ast->fns[1]->name, "unit");
  ck_assert_int_eq(p.ast->fns[1]->n_params, 0);
  ck_assert_int_eq(p.ast->fns[1]->n_stmts, 1);

  ck_assert_int_eq(p.ast->n_stmts, 4);
  const mlg_stmt *s = p.ast->stmts[0];
  ck_assert_int_eq(s->kind, MLG_STMT_FN);
  ck_assert_str_eq(s->fn->name, "twice");
  ck_assert_int_eq(s->fn->n_stmts, 2);
  ck_assert_int_eq(s->fn->stmts[0]->kind, MLG_STMT_LET);
  ck_assert_str_eq(p.ast->stmts[2]->value->as_prefix, "layer1.0");
  parsed_free(&p);
}
END_TEST

START_TEST(statement_termination) {
  parsed p;
  parse_text(&p,
             "\n\n# leading comments\n;\n"
             "model m { a = 1; b = 2;; c = 3\n"
             "\n\n"
             "  d = f(a,\n"
             "        b,   # comment inside a call\n"
             "        c)\n"
             "  e = [1,\n"
             "       2]\n"
             "  output e }");
  ck_assert_msg(p.diag.n_errors == 0, "%s", p.messages);
  ck_assert_int_eq(p.ast->n_stmts, 6);
  ck_assert_str_eq(p.ast->stmts[2]->name, "c");
  ck_assert_int_eq(p.ast->stmts[3]->value->n_args, 3);
  ck_assert_int_eq(p.ast->stmts[4]->value->n_args, 2);
  parsed_free(&p);

  /* CRLF line endings. */
  parse_text(&p, "model m {\r\n  a = 1\r\n  output a\r\n}\r\n");
  ck_assert_msg(p.diag.n_errors == 0, "%s", p.messages);
  ck_assert_int_eq(p.ast->n_stmts, 2);
  parsed_free(&p);

  /* Two statements on one line need a ';'. */
  parse_text(&p, "model m {\n  a = 1 b = 2\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:9: error: expected operator or end of line before 'b'"));
  parsed_free(&p);
}
END_TEST

START_TEST(spans_and_line_col) {
  parsed p;
  parse_text(&p, "model m {\n  dim N = 1\n  h = relu(linear(x, w))\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 0);
  int line, col;
  line_col(&p, p.ast->model_span, &line, &col);
  ck_assert_int_eq(line, 1); ck_assert_int_eq(col, 1);
  const mlg_stmt *h = p.ast->stmts[1];
  line_col(&p, h->span, &line, &col);
  ck_assert_int_eq(line, 3); ck_assert_int_eq(col, 3);
  ck_assert_uint_eq(h->span.end - h->span.begin, strlen("h = relu(linear(x, w))"));
  line_col(&p, h->name_span, &line, &col);
  ck_assert_int_eq(col, 3);
  const mlg_expr *relu = h->value;
  line_col(&p, relu->span, &line, &col);
  ck_assert_int_eq(col, 7);
  ck_assert_uint_eq(relu->span.end - relu->span.begin, strlen("relu(linear(x, w))"));
  ck_assert_uint_eq(relu->name_span.end - relu->name_span.begin, 4);
  const mlg_expr *lin = relu->args[0];
  line_col(&p, lin->span, &line, &col);
  ck_assert_int_eq(col, 12);
  line_col(&p, lin->args[1]->span, &line, &col);
  ck_assert_int_eq(col, 22);
  parsed_free(&p);

  /* A binary expression spans both operands; parentheses widen the span. */
  const mlg_expr *e = expr_of(&p, "(a + b) * c");
  line_col(&p, e->span, &line, &col);
  ck_assert_int_eq(col, 7);
  ck_assert_uint_eq(e->span.end - e->span.begin, strlen("(a + b) * c"));
  ck_assert_uint_eq(e->args[0]->span.end - e->args[0]->span.begin, strlen("(a + b)"));
  parsed_free(&p);
}
END_TEST

START_TEST(ast_dump) {
  parsed p;
  parse_text(&p,
             "fn f(x) { return -x }\n"
             "model m {\n"
             "  dim N = 1\n"
             "  input x : f32[N, 2 * N]\n"
             "  const c = 1e-5\n"
             "  y = g(x, [1, 2], k=true) as p.0\n"
             "  output y\n"
             "}\n");
  ck_assert_int_eq(p.diag.n_errors, 0);
  char *dump = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&dump, &size);
  mlg_ast_print(p.ast, out);
  fclose(out);
  ck_assert_str_eq(dump,
                   "fn f(x) @1:1\n"
                   "  return @1:11\n"
                   "    unary - @1:18\n"
                   "      name x @1:19\n"
                   "model m @2:1\n"
                   "  dim N @3:3\n"
                   "    int 1 @3:11\n"
                   "  input x : f32[N, 2 * N] @4:3\n"
                   "  const c @5:3\n"
                   "    float 1e-5 @5:13\n"
                   "  let y @6:3\n"
                   "    call g as p.0 @6:7\n"
                   "      name x @6:9\n"
                   "      list @6:12\n"
                   "        int 1 @6:13\n"
                   "        int 2 @6:16\n"
                   "      kwarg k @6:20\n"
                   "        bool true @6:22\n"
                   "  output y @7:3\n");
  free(dump);
  parsed_free(&p);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(recovery_reports_several_errors) {
  parsed p;
  parse_text(&p,
             "model m {\n"
             "  dim N =\n"                    /* 2 */
             "  input x : f32[N, 784\n"       /* 3: bracket left open */
             "  param w : f32[10, 784] = zeros\n"
             "  h = x @ w w\n"                /* 5 */
             "  y = relu(x, axis=1, 2)\n"     /* 6: positional after keyword */
             "  3 = x\n"                      /* 7 */
             "  z = $ + x\n"                  /* 8: bad character, then no operand */
             "  q = f(x,)\n"                  /* 9 */
             "  output h\n"
             "}\n");
  ck_assert_int_eq(p.diag.n_errors, 7);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:10: error: expected expression before end of line"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:23: error: expected operator, ']' or ',' before end of line"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:5:13: error: expected operator, '(' or end of line before 'w'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:6:23: error: positional argument after keyword argument 'axis'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:7:3: error: expected statement or end of line before '3'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:8:7: error: unexpected character '$'"));
  /* The statement with the bad character gets no second, follow-on error. */
  ck_assert_ptr_null(strstr(p.messages, "t.mlg:8:9:"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:9:11: error: expected expression before ')'"));
  /* The statements that were fine are still in the tree. */
  ck_assert_str_eq(p.ast->model_name, "m");
  int found_param = 0, found_output = 0;
  for (int i = 0; i < p.ast->n_stmts; i++) {
    found_param |= p.ast->stmts[i]->kind == MLG_STMT_PARAM;
    found_output |= p.ast->stmts[i]->kind == MLG_STMT_OUTPUT;
  }
  ck_assert(found_param && found_output);
  /* Caret under the offending token. */
  ck_assert_ptr_nonnull(strstr(p.messages, "    5 |   h = x @ w w\n      |             ^\n"));
  parsed_free(&p);
}
END_TEST

/* An error whose token is the end of the line: recovery takes that newline as the statement's
 * end, and the next line's error is reported too. */
START_TEST(error_at_end_of_line_then_next_line) {
  parsed p;
  parse_text(&p, "model m {\n  input x : f32[4]\n  a = exp(x) +\n  c = , x\n  output y = a\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 2);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:15: error: expected expression before end of line\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:7: error: expected expression before ','\n"));
  parsed_free(&p);

  /* Lines in a row that end in the middle of an expression or statement. */
  parse_text(&p, "model m {\n  a = x *\n  dim N =\n  b = (x +\n  c = , x\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 3);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:10: error: expected expression before end of line\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:10: error: expected expression before end of line\n"));
  /* The '(' of line 4 is open, so line 5 continues it: "x + c", then the '='. */
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:5:5: error: expected operator, '(' or ')' before '='\n"));
  parsed_free(&p);

  /* recover_syntax from the diagnostics catalogue: one error on each of its three lines. */
  parse_text(&p, "model m {\n  input x : f32[2, 4]\n  a = relu(x))\n  b = exp(x) +\n  c = , x\n"
                 "  output y = a + b + c\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 3);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:14: error: expected operator or end of line before ')'\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:15: error: expected expression before end of line\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:5:7: error: expected expression before ','\n"));
  parsed_free(&p);
}
END_TEST

/* A '(' left open at the end of a line: the error comes on the next line, with a note at the
 * bracket. */
START_TEST(unclosed_bracket_note) {
  parsed p;
  parse_text(&p, "model m {\n  input x : f32[2, 4]\n  a = relu(x\n  b = exp(x)\n  output y = a + b\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages,
      "t.mlg:4:3: error: expected operator, '(', ')', ',' or '=' before 'b'\n"));
  ck_assert_ptr_nonnull(strstr(p.messages,
      "t.mlg:3:11: note: the '(' opened here is not closed (newlines inside parentheses do not end a statement)\n"
      "    3 |   a = relu(x\n"
      "      |           ^\n"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  a = [1, 2\n  3 x]\n}\n");
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:7: note: the '[' opened here is not closed (newlines inside brackets"));
  parsed_free(&p);

  /* No note for an error on the bracket's own line, nor for a stray closer. */
  parse_text(&p, "model m {\n  a = relu(x y)\n  b = f(x,\n  )\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 2);
  ck_assert_ptr_null(strstr(p.messages, "note:"));
  parsed_free(&p);
}
END_TEST

START_TEST(every_line_an_error) {
  char text[4096] = "model m {\n";
  for (int i = 0; i < 10; i++) strcat(text, "  x = = 1\n");
  strcat(text, "}\n");
  parsed p;
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 10);
  ck_assert_int_eq(count(p.messages, "error: expected expression before '='"), 10);
  parsed_free(&p);

  /* More than max_errors: stops at 20 with one note. */
  char big[8192] = "model m {\n";
  for (int i = 0; i < 40; i++) strcat(big, "  x = = 1\n");
  strcat(big, "}\n");
  parse_text(&p, big);
  ck_assert_int_eq(p.diag.n_errors, 20);
  ck_assert_int_eq(count(p.messages, "too many errors, stopping"), 1);
  parsed_free(&p);
}
END_TEST

START_TEST(end_of_file_errors) {
  parsed p;
  parse_text(&p, "model m {\n  x = 1\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "error: unexpected end of file; expected '}'"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  x = f(1, [2, 3");
  ck_assert_int_ge(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:17: error: expected operator, ']' or ',' before end of file"));
  parsed_free(&p);

  parse_text(&p, "model");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert(strstr(p.messages, "unexpected end of file") || strstr(p.messages, "before end of file"));
  parsed_free(&p);

  parse_text(&p, "");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_str_eq(p.messages, "t.mlg: error: no 'model NAME { ... }' block in this file\n");
  ck_assert_ptr_null(p.ast->model_name);
  parsed_free(&p);

  parse_text(&p, "fn f(x) { return x }\n# only a comment\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "no 'model NAME { ... }' block"));
  parsed_free(&p);
}
END_TEST

START_TEST(structural_errors) {
  parsed p;
  parse_text(&p, "model a {\n  output y = 1\n}\nmodel b {\n  output z = 2\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:7: error: a second model block; a file holds exactly one model"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:1:7: note: the first model is here"));
  ck_assert_str_eq(p.ast->model_name, "a");
  parsed_free(&p);

  parse_text(&p, "model m {\n  return 1\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:3: error: 'return' outside of a fn"));
  parsed_free(&p);

  parse_text(&p, "fn f(x) {\n  fn g(y) { return y }\n  return x\n}\nmodel m { output y = f(1) }\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:6: error: fn 'g' is defined inside fn 'f'"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  y = f(x, axis=1, axis=2)\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:20: error: keyword argument 'axis' given twice"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  input model : f32\n  dim = 3\n  x = 1 as p\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 3);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:9: error: expected name before 'model'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:7: error: expected name before '='"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:9: error: expected operator or end of line before 'as'"));
  parsed_free(&p);

  /* A '}' too many: one error for the stray statements, not one per line. */
  parse_text(&p, "model m {\n  x = 1\n}\n  y = 2\n  param w : f32\n}\nfn f() { return 1 }\nx\n");
  ck_assert_int_eq(p.diag.n_errors, 2);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:3: error: 'y' outside of a 'model { ... }' or 'fn' block"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:8:1: error: 'x' outside of a 'model { ... }' or 'fn' block"));
  ck_assert_int_eq(p.ast->n_fns, 1);
  parsed_free(&p);

  /* A bad model header still parses the body. */
  parse_text(&p, "model 3 {\n  x = 1\n  y = = 2\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 2);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:1:7: error: expected name before '3'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:7: error: expected expression before '='"));
  parsed_free(&p);
}
END_TEST

START_TEST(lexical_errors) {
  parsed p;
  parse_text(&p, "model m {\n  x = 99999999999999999999\n  y = 9223372036854775808\n  z = 1e999\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 3);
  ck_assert_int_eq(count(p.messages, "integer literal too large"), 2);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:7: error: number out of range"));
  parsed_free(&p);

  static const char bytes[] = "model m {\n  x\x00 = 1\n  y = \xc3\xa9 + \x01\x02\n  w = a ? b\n}\n";
  parse_bytes(&p, bytes, sizeof bytes - 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:4: error: unexpected character '\\x00'"));
  /* A whole UTF-8 character is named as such, not by its first byte. */
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:7: error: unexpected character '\xc3\xa9' (U+00E9)\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:12: error: unexpected character '\\x01'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:9: error: unexpected character '?'"));
  ck_assert_ptr_nonnull(strstr(p.messages, "    2 |   x? = 1\n"));
  parsed_free(&p);

  /* Multi-byte characters, a C1 control (named, not printed), invalid UTF-8 (by its byte). */
  static const char utf8[] = "model m {\n  a = x \xe2\x88\x92 y\n  b = \xf0\x9f\x98\x80\n"
                             "  c = \xc2\x85\n  d = \xc3\n  e = \xe2\x88\n  f = \xc0\xaf\n}\n";
  parse_bytes(&p, utf8, sizeof utf8 - 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:9: error: unexpected character '\xe2\x88\x92' (U+2212)\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:7: error: unexpected character '\xf0\x9f\x98\x80' (U+1F600)\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:7: error: unexpected character U+0085\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:5:7: error: unexpected character '\\xC3'\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:6:7: error: unexpected character '\\xE2'\n"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:7:7: error: unexpected character '\\xC0'\n"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  x = 1e+\n  y = 2x\n  z = 1e\n  w = 1.5e3x\n}\n");
  ck_assert_int_eq(p.diag.n_errors, 4);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:7: error: malformed number: the exponent has no digits"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:3:7: error: malformed number: a letter right after the digits"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:4:7: error: malformed number: the exponent has no digits"));
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:5:7: error: malformed number: a letter right after the digits"));
  parsed_free(&p);

  parse_text(&p, "model m {\n  x = a.\n  y = .\n}\n");
  ck_assert_int_ge(p.diag.n_errors, 2);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:8: error: unexpected character '.'"));
  parsed_free(&p);
}
END_TEST

/* ---- robustness ------------------------------------------------------------------------- */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
  size_t lh = strlen(head), lu = strlen(unit), lt = strlen(tail);
  char *s = malloc(lh + lu * n + lt + 1);
  ck_assert_ptr_nonnull(s);
  memcpy(s, head, lh);
  for (size_t i = 0; i < n; i++) memcpy(s + lh + i * lu, unit, lu);
  memcpy(s + lh + lu * n, tail, lt + 1);
  return s;
}

START_TEST(deep_nesting) {
  parsed p;
  /* 256 levels are fine, 257 are an error, 100,000 end the parse cleanly. */
  char *open = repeat("model m {\n  x = ", "(", 256, "");
  char *text = repeat(open, "", 0, "");
  free(open);
  char *close = repeat("1", ")", 256, "\n}\n");
  char *ok = malloc(strlen(text) + strlen(close) + 1);
  strcpy(ok, text);
  strcat(ok, close);
  parse_text(&p, ok);
  ck_assert_msg(p.diag.n_errors == 0, "%s", p.messages);
  parsed_free(&p);
  free(text);
  free(close);
  free(ok);

  text = repeat("model m {\n  x = ", "(", 257, "1");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:263: error: nesting too deep: more than 256 levels"));
  parsed_free(&p);
  free(text);

  const char *units[] = {"(", "[", "f(", "[(", "-(", "a+(", "(-"};
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    text = repeat("model m {\n  x = ", units[u], 100000, "1\n}\n");
    parse_text(&p, text);
    ck_assert_int_eq(p.diag.n_errors, 1);
    ck_assert_ptr_nonnull(strstr(p.messages, "nesting too deep"));
    parsed_free(&p);
    free(text);
  }

  /* Unary minus and braces nest without brackets. */
  text = repeat("model m {\n  x = ", "-", 100000, "1\n}\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "nesting too deep"));
  parsed_free(&p);
  free(text);

  text = repeat("model m ", "{", 100000, "\n");
  parse_text(&p, text);
  ck_assert_int_ge(p.diag.n_errors, 1);
  parsed_free(&p);
  free(text);

  text = repeat("model m {\n", "fn f() {\n", 100000, "\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "nesting too deep"));
  parsed_free(&p);
  free(text);
}
END_TEST

START_TEST(long_lines_and_chains) {
  parsed p;
  /* 1 MB line of one long sum: rejected as too deep, output stays short. */
  char *text = repeat("model m {\n  x = a", " + a", 250000, "\n}\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "expression too deeply nested"));
  ck_assert_uint_lt(p.size, 1000);
  parsed_free(&p);
  free(text);

  /* A long but shallow line: 100,000 list elements. */
  text = repeat("model m {\n  x = [0", ", 1", 100000, "]\n}\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 0);
  ck_assert_int_eq(p.ast->stmts[0]->value->n_args, 100001);
  parsed_free(&p);
  free(text);

  /* A 1 MB identifier, then an error at its end: the echoed line is a short window. */
  text = repeat("model m {\n  x = ", "a", 1 << 20, " $\n}\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(p.messages, "t.mlg:2:1048584: error: unexpected character '$'"));
  ck_assert_uint_lt(p.size, 2000);
  parsed_free(&p);
  free(text);

  /* 1 MB of separators and comments. */
  text = repeat("model m {\n", ";\n# c\n", 100000, "  output x = 1\n}\n");
  parse_text(&p, text);
  ck_assert_int_eq(p.diag.n_errors, 0);
  ck_assert_int_eq(p.ast->n_stmts, 1);
  parsed_free(&p);
  free(text);
}
END_TEST

START_TEST(binary_garbage_and_mutations) {
  unsigned state = 12345;
  char buf[4096];
  parsed p;
  for (int round = 0; round < 300; round++) {
    size_t n = (size_t)(round * 13 % 4096);
    for (size_t i = 0; i < n; i++) {
      state = state * 1103515245u + 12345u;
      buf[i] = (char)(state >> 16);
    }
    parse_bytes(&p, buf, n);
    ck_assert_int_ge(p.diag.n_errors, 1);
    ck_assert_int_le(p.diag.n_errors, 20);
    parsed_free(&p);
  }
  /* Mutations of a real model: drop, duplicate or replace bytes. */
  char path[1024];
  snprintf(path, sizeof path, "%s/models/transformer_block.mlg", MLG_SOURCE_DIR);
  mlg_source src;
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  char *m = malloc(src.length * 2 + 16);
  static const char pieces[] = "(){}[],:=;+-*/@#.\n\x00\xff 0aez";
  for (int round = 0; round < 500; round++) {
    memcpy(m, src.text, src.length);
    size_t n = src.length;
    for (int k = 0; k < 1 + round % 4; k++) {
      state = state * 1103515245u + 12345u;
      size_t at = (state >> 8) % n;
      int what = (int)(state >> 28) % 3;
      if (what == 0 && n > 1) {
        memmove(m + at, m + at + 1, n - at - 1);
        n--;
      } else if (what == 1) {
        memmove(m + at + 1, m + at, n - at);
        n++;
      } else {
        m[at] = pieces[(state >> 4) % (sizeof pieces - 1)];
      }
    }
    parse_bytes(&p, m, n);
    parsed_free(&p);
  }
  free(m);
  mlg_source_free(&src);
}
END_TEST

int main(void) {
  Suite *s = suite_create("parse");
  TCase *tc = tcase_create("constructs");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_model_parses);
  tcase_add_test(tc, mlp_structure);
  tcase_add_test(tc, precedence_and_associativity);
  tcase_add_test(tc, literals);
  tcase_add_test(tc, names_calls_lists_as);
  tcase_add_test(tc, declarations_and_types);
  tcase_add_test(tc, functions);
  tcase_add_test(tc, statement_termination);
  tcase_add_test(tc, spans_and_line_col);
  tcase_add_test(tc, ast_dump);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("errors");
  tcase_set_timeout(te, 120);
  tcase_add_test(te, recovery_reports_several_errors);
  tcase_add_test(te, error_at_end_of_line_then_next_line);
  tcase_add_test(te, unclosed_bracket_note);
  tcase_add_test(te, every_line_an_error);
  tcase_add_test(te, end_of_file_errors);
  tcase_add_test(te, structural_errors);
  tcase_add_test(te, lexical_errors);
  suite_add_tcase(s, te);
  TCase *tr = tcase_create("robustness");
  tcase_set_timeout(tr, 300);
  tcase_add_test(tr, deep_nesting);
  tcase_add_test(tr, long_lines_and_chains);
  tcase_add_test(tr, binary_garbage_and_mutations);
  suite_add_tcase(s, tr);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

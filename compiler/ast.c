/* ast.c — freeing and printing (--emit=ast) the syntax tree. */
#include "ast.h"

#include <inttypes.h>
#include <stdlib.h>

/* Line starts of the source, so that each node's line:col is a binary search rather than a scan
 * from the top of the file. */
typedef struct line_index {
  const mlg_source *source;
  uint32_t *starts;
  size_t n;
} line_index;

static void index_init(line_index *ix, const mlg_source *source) {
  ix->source = source;
  ix->starts = NULL;
  ix->n = 0;
  if (!source || !source->text) return;
  size_t n = 1;
  for (size_t i = 0; i < source->length; i++) n += source->text[i] == '\n';
  ix->starts = malloc(n * sizeof *ix->starts);
  if (!ix->starts) return; /* fall back to mlg_source_line_col */
  ix->starts[0] = 0;
  size_t k = 1;
  for (size_t i = 0; i < source->length; i++)
    if (source->text[i] == '\n') ix->starts[k++] = (uint32_t)(i + 1);
  ix->n = n;
}

static void index_free(line_index *ix) { free(ix->starts); }

static void print_loc(const line_index *ix, mlg_span span, FILE *out) {
  if (!ix->source) {
    fputc('\n', out);
    return;
  }
  int line, col;
  if (ix->starts) {
    size_t lo = 0, hi = ix->n; /* last start <= offset */
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (ix->starts[mid] <= span.begin) lo = mid;
      else hi = mid;
    }
    line = (int)lo + 1;
    col = (int)(span.begin - ix->starts[lo]) + 1;
  } else {
    mlg_source_line_col(ix->source, span.begin, &line, &col);
  }
  fprintf(out, " @%d:%d\n", line, col);
}

static void indent(FILE *out, int depth) {
  for (int i = 0; i < depth; i++) fputs("  ", out);
}

static const char *dtype_name(mlg_ast_dtype d) {
  switch (d) {
  case MLG_AST_F32: return "f32";
  case MLG_AST_I32: return "i32";
  case MLG_AST_BOOL: return "bool";
  case MLG_AST_I64: return "i64";
  case MLG_AST_F16: return "f16";
  case MLG_AST_I8: return "i8";
  case MLG_AST_U8: return "u8";
  }
  return "?";
}

static int precedence(const mlg_expr *e) {
  if (e->kind == MLG_EXPR_BINARY) return (e->op == '+' || e->op == '-') ? 1 : 2;
  if (e->kind == MLG_EXPR_UNARY) return 3;
  return 4;
}

/* Dims are short expressions; they print inline, parenthesised only where needed. */
static void print_inline(const mlg_expr *e, FILE *out) {
  if (!e) {
    fputs("?", out);
    return;
  }
  switch (e->kind) {
  case MLG_EXPR_INT: fprintf(out, "%" PRId64, e->int_value); break;
  case MLG_EXPR_FLOAT: fputs(e->text ? e->text : "?", out); break;
  case MLG_EXPR_BOOL: fputs(e->int_value ? "true" : "false", out); break;
  case MLG_EXPR_DTYPE: fputs(dtype_name((mlg_ast_dtype)e->int_value), out); break;
  case MLG_EXPR_NAME: fputs(e->text, out); break;
  case MLG_EXPR_UNARY: {
    fputc(e->op, out);
    int paren = precedence(e->args[0]) < 3;
    if (paren) fputc('(', out);
    print_inline(e->args[0], out);
    if (paren) fputc(')', out);
    break;
  }
  case MLG_EXPR_BINARY: {
    int pl = precedence(e->args[0]) < precedence(e), pr = precedence(e->args[1]) <= precedence(e);
    if (pl) fputc('(', out);
    print_inline(e->args[0], out);
    if (pl) fputc(')', out);
    fprintf(out, " %c ", e->op);
    if (pr) fputc('(', out);
    print_inline(e->args[1], out);
    if (pr) fputc(')', out);
    break;
  }
  case MLG_EXPR_CALL:
    fprintf(out, "%s(", e->text);
    for (int i = 0; i < e->n_args; i++) {
      if (i) fputs(", ", out);
      print_inline(e->args[i], out);
    }
    for (int i = 0; i < e->n_kwargs; i++) {
      if (i || e->n_args) fputs(", ", out);
      fprintf(out, "%s=", e->kwargs[i].name);
      print_inline(e->kwargs[i].value, out);
    }
    fputc(')', out);
    if (e->as_prefix) fprintf(out, " as %s", e->as_prefix);
    break;
  case MLG_EXPR_LIST:
    fputc('[', out);
    for (int i = 0; i < e->n_args; i++) {
      if (i) fputs(", ", out);
      print_inline(e->args[i], out);
    }
    fputc(']', out);
    break;
  }
}

static void print_type(const mlg_ast_type *t, FILE *out) {
  fputs(dtype_name(t->dtype), out);
  if (t->rank == 0) return;
  fputc('[', out);
  for (int i = 0; i < t->rank; i++) {
    if (i) fputs(", ", out);
    print_inline(t->dims[i].value, out);
  }
  fputc(']', out);
}

static void print_expr(const line_index *ix, const mlg_expr *e, int depth, FILE *out) {
  indent(out, depth);
  if (!e) {
    fputs("<missing>\n", out);
    return;
  }
  switch (e->kind) {
  case MLG_EXPR_INT: fprintf(out, "int %" PRId64, e->int_value); break;
  case MLG_EXPR_FLOAT: fprintf(out, "float %s", e->text ? e->text : "?"); break;
  case MLG_EXPR_BOOL: fprintf(out, "bool %s", e->int_value ? "true" : "false"); break;
  case MLG_EXPR_DTYPE: fprintf(out, "dtype %s", dtype_name((mlg_ast_dtype)e->int_value)); break;
  case MLG_EXPR_NAME: fprintf(out, "name %s", e->text); break;
  case MLG_EXPR_UNARY: fprintf(out, "unary %c", e->op); break;
  case MLG_EXPR_BINARY: fprintf(out, "binary %c", e->op); break;
  case MLG_EXPR_CALL:
    fprintf(out, "call %s", e->text);
    if (e->as_prefix) fprintf(out, " as %s", e->as_prefix);
    break;
  case MLG_EXPR_LIST: fprintf(out, "list"); break;
  }
  print_loc(ix, e->span, out);
  for (int i = 0; i < e->n_args; i++) print_expr(ix, e->args[i], depth + 1, out);
  for (int i = 0; i < e->n_kwargs; i++) {
    indent(out, depth + 1);
    fprintf(out, "kwarg %s", e->kwargs[i].name);
    print_loc(ix, e->kwargs[i].name_span, out);
    print_expr(ix, e->kwargs[i].value, depth + 2, out);
  }
}

static void print_fn(const line_index *ix, const mlg_fn *fn, int depth, FILE *out);

static void print_stmt(const line_index *ix, const mlg_stmt *s, int depth, FILE *out) {
  if (s->kind == MLG_STMT_FN) {
    print_fn(ix, s->fn, depth, out);
    return;
  }
  indent(out, depth);
  static const char *const kinds[] = {"dim", "input", "param", "const", "let", "output", "return", "fn"};
  fputs(kinds[s->kind], out);
  if (s->name) fprintf(out, " %s", s->name);
  if (s->has_type) {
    fputs(" : ", out);
    print_type(&s->type, out);
  }
  print_loc(ix, s->span, out);
  if (s->value) print_expr(ix, s->value, depth + 1, out);
}

static void print_fn(const line_index *ix, const mlg_fn *fn, int depth, FILE *out) {
  indent(out, depth);
  fprintf(out, "fn %s(", fn->name);
  for (int i = 0; i < fn->n_params; i++) fprintf(out, "%s%s", i ? ", " : "", fn->params[i]);
  fputc(')', out);
  print_loc(ix, fn->span, out);
  for (int i = 0; i < fn->n_stmts; i++) print_stmt(ix, fn->stmts[i], depth + 1, out);
}

void mlg_ast_print(const mlg_ast *ast, FILE *out) {
  if (!ast || !out) return;
  line_index ix;
  index_init(&ix, ast->source);
  for (int i = 0; i < ast->n_fns; i++) print_fn(&ix, ast->fns[i], 0, out);
  if (ast->model_name || ast->n_stmts > 0) {
    fprintf(out, "model %s", ast->model_name ? ast->model_name : "<error>");
    print_loc(&ix, ast->model_span, out);
    for (int i = 0; i < ast->n_stmts; i++) print_stmt(&ix, ast->stmts[i], 1, out);
  }
  index_free(&ix);
}

void mlg_ast_free(mlg_ast *ast) {
  if (!ast) return;
  mlg_arena_free(&ast->arena);
  free(ast);
}

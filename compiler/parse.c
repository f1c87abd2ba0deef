/* parse.c — mlg_parse: drives the re2c lexer and the Lemon parser, and the AST builders the
 * grammar's actions call. */
#include "parse.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "parse_internal.h"

/* Every expression node carries its depth, so that a 500,000-term `a + a + ...` is rejected
 * here instead of overflowing the C stack of whoever walks the tree later. */
typedef struct syn_expr {
  mlg_expr e; /* first: a mlg_expr* of ours converts back to syn_expr* */
  int depth;
} syn_expr;

static void out_of_memory(mlg_parser *p) {
  if (!p->oom) mlg_diag_error(p->diag, p->last_token, "out of memory while parsing");
  p->oom = 1;
  p->stop = 1;
}

static void *alloc(mlg_parser *p, size_t size) {
  void *mem = mlg_arena_alloc(p->arena, size);
  if (!mem) out_of_memory(p);
  return mem;
}

static int depth_of(const mlg_expr *e) { return e ? ((const syn_expr *)e)->depth : 0; }

static mlg_expr *new_expr(mlg_parser *p, mlg_expr_kind kind, mlg_span span, int child_depth) {
  syn_expr *s = alloc(p, sizeof *s);
  if (!s) return NULL;
  s->e.kind = kind;
  s->e.span = span;
  s->depth = child_depth + 1;
  if (s->depth == MLG_MAX_EXPR_DEPTH + 1 && !p->stop) {
    mlg_diag_error(p->diag, span, "expression too deeply nested (more than %d levels)",
                   MLG_MAX_EXPR_DEPTH);
    p->stop = 1;
  }
  return &s->e;
}

static mlg_span join(mlg_span a, mlg_span b) {
  mlg_span s = {a.begin < b.begin ? a.begin : b.begin, a.end > b.end ? a.end : b.end};
  return s;
}

/* ---- vectors ---------------------------------------------------------------------------- */

mlg_vec *mlg_syn_vec(mlg_parser *p) { return alloc(p, sizeof(mlg_vec)); }

mlg_vec *mlg_syn_push(mlg_parser *p, mlg_vec *v, void *item) {
  if (!v) return NULL;
  if (!item) return v; /* an empty or failed statement */
  if (v->n == v->cap) {
    int cap = v->cap ? v->cap * 2 : 4;
    if (cap > (1 << 26)) {
      out_of_memory(p);
      return v;
    }
    void **items = mlg_arena_calloc(p->arena, (size_t)cap, sizeof *items);
    if (!items) {
      out_of_memory(p);
      return v;
    }
    if (v->n) memcpy(items, v->items, (size_t)v->n * sizeof *items);
    v->items = items;
    v->cap = cap;
  }
  v->items[v->n++] = item;
  return v;
}

static mlg_expr **expr_array(mlg_parser *p, const mlg_vec *v, int *out_n) {
  *out_n = 0;
  if (!v || v->n == 0) return NULL;
  mlg_expr **a = mlg_arena_calloc(p->arena, (size_t)v->n, sizeof *a);
  if (!a) {
    out_of_memory(p);
    return NULL;
  }
  for (int i = 0; i < v->n; i++) a[i] = v->items[i];
  *out_n = v->n;
  return a;
}

static mlg_stmt **stmt_array(mlg_parser *p, const mlg_vec *v, int *out_n) {
  *out_n = 0;
  if (!v || v->n == 0) return NULL;
  mlg_stmt **a = mlg_arena_calloc(p->arena, (size_t)v->n, sizeof *a);
  if (!a) {
    out_of_memory(p);
    return NULL;
  }
  for (int i = 0; i < v->n; i++) a[i] = v->items[i];
  *out_n = v->n;
  return a;
}

/* ---- expressions ------------------------------------------------------------------------ */

mlg_expr *mlg_syn_int(mlg_parser *p, const mlg_token *t) {
  mlg_expr *e = new_expr(p, MLG_EXPR_INT, t->span, 0);
  if (e) e->int_value = t->int_value;
  return e;
}

mlg_expr *mlg_syn_float(mlg_parser *p, const mlg_token *t) {
  mlg_expr *e = new_expr(p, MLG_EXPR_FLOAT, t->span, 0);
  if (e) {
    e->float_value = t->float_value;
    e->text = t->text;
  }
  return e;
}

mlg_expr *mlg_syn_bool(mlg_parser *p, const mlg_token *t, int value) {
  mlg_expr *e = new_expr(p, MLG_EXPR_BOOL, t->span, 0);
  if (e) e->int_value = value;
  return e;
}

mlg_expr *mlg_syn_dtype(mlg_parser *p, const mlg_token *t) {
  mlg_expr *e = new_expr(p, MLG_EXPR_DTYPE, t->span, 0);
  if (e) e->int_value = t->int_value;
  return e;
}

mlg_expr *mlg_syn_name(mlg_parser *p, const mlg_token *t) {
  mlg_expr *e = new_expr(p, MLG_EXPR_NAME, t->span, 0);
  if (e) e->text = t->text;
  return e;
}

mlg_expr *mlg_syn_paren(mlg_parser *p, const mlg_token *lparen, mlg_expr *e, const mlg_token *rparen) {
  (void)p;
  if (e) e->span = join(lparen->span, rparen->span);
  return e;
}

mlg_expr *mlg_syn_unary(mlg_parser *p, const mlg_token *op, int op_char, mlg_expr *operand) {
  mlg_span span = op->span;
  if (operand) span = join(span, operand->span);
  mlg_expr *e = new_expr(p, MLG_EXPR_UNARY, span, depth_of(operand));
  if (!e) return NULL;
  e->op = op_char;
  e->args = alloc(p, sizeof *e->args);
  if (!e->args) return NULL;
  e->args[0] = operand;
  e->n_args = 1;
  return e;
}

mlg_expr *mlg_syn_binary(mlg_parser *p, mlg_expr *lhs, int op_char, mlg_expr *rhs) {
  if (!lhs || !rhs) return NULL; /* out of memory: already reported */
  int d = depth_of(lhs) > depth_of(rhs) ? depth_of(lhs) : depth_of(rhs);
  mlg_expr *e = new_expr(p, MLG_EXPR_BINARY, join(lhs->span, rhs->span), d);
  if (!e) return NULL;
  e->op = op_char;
  e->args = mlg_arena_calloc(p->arena, 2, sizeof *e->args);
  if (!e->args) {
    out_of_memory(p);
    return NULL;
  }
  e->args[0] = lhs;
  e->args[1] = rhs;
  e->n_args = 2;
  return e;
}

mlg_args *mlg_syn_args(mlg_parser *p) { return alloc(p, sizeof(mlg_args)); }

mlg_args *mlg_syn_args_pos(mlg_parser *p, mlg_args *a, mlg_expr *value) {
  if (!a || !value) return a;
  if (a->kw.n > 0) {
    const mlg_kwarg *last = a->kw.items[a->kw.n - 1];
    mlg_diag_error(p->diag, value->span,
                   "positional argument after keyword argument '%s'; put positional arguments first",
                   last->name);
  }
  mlg_syn_push(p, &a->pos, value);
  return a;
}

mlg_args *mlg_syn_args_kw(mlg_parser *p, mlg_args *a, const mlg_token *name, mlg_expr *value) {
  if (!a || !value) return a;
  for (int i = 0; i < a->kw.n; i++) {
    const mlg_kwarg *k = a->kw.items[i];
    if (strcmp(k->name, name->text) == 0) {
      mlg_diag_error(p->diag, name->span, "keyword argument '%s' given twice", name->text);
      mlg_diag_note(p->diag, k->name_span, "first given here");
      return a;
    }
  }
  mlg_kwarg *k = alloc(p, sizeof *k);
  if (!k) return a;
  k->name = name->text;
  k->name_span = name->span;
  k->value = value;
  mlg_syn_push(p, &a->kw, k);
  return a;
}

mlg_expr *mlg_syn_call(mlg_parser *p, const mlg_token *name, mlg_args *a, const mlg_token *rparen) {
  if (!a) return NULL;
  int d = 0;
  for (int i = 0; i < a->pos.n; i++) {
    int di = depth_of(a->pos.items[i]);
    if (di > d) d = di;
  }
  for (int i = 0; i < a->kw.n; i++) {
    int di = depth_of(((const mlg_kwarg *)a->kw.items[i])->value);
    if (di > d) d = di;
  }
  mlg_expr *e = new_expr(p, MLG_EXPR_CALL, join(name->span, rparen->span), d);
  if (!e) return NULL;
  e->text = name->text;
  e->name_span = name->span;
  e->args = expr_array(p, &a->pos, &e->n_args);
  if (a->kw.n > 0) {
    e->kwargs = mlg_arena_calloc(p->arena, (size_t)a->kw.n, sizeof *e->kwargs);
    if (!e->kwargs) {
      out_of_memory(p);
      return NULL;
    }
    for (int i = 0; i < a->kw.n; i++) e->kwargs[i] = *(const mlg_kwarg *)a->kw.items[i];
    e->n_kwargs = a->kw.n;
  }
  return e;
}

mlg_expr *mlg_syn_call_as(mlg_parser *p, mlg_expr *call, const mlg_token *prefix) {
  (void)p;
  if (!call) return NULL;
  call->as_prefix = prefix->text;
  call->as_span = prefix->span;
  call->span = join(call->span, prefix->span);
  return call;
}

mlg_expr *mlg_syn_list(mlg_parser *p, const mlg_token *lbracket, mlg_vec *items, const mlg_token *rbracket) {
  int d = 0;
  if (items)
    for (int i = 0; i < items->n; i++)
      if (depth_of(items->items[i]) > d) d = depth_of(items->items[i]);
  mlg_expr *e = new_expr(p, MLG_EXPR_LIST, join(lbracket->span, rbracket->span), d);
  if (!e) return NULL;
  e->args = expr_array(p, items, &e->n_args);
  return e;
}

/* ---- types and statements --------------------------------------------------------------- */

mlg_ast_type *mlg_syn_type(mlg_parser *p, const mlg_token *dtype_tok, mlg_vec *dims,
                           const mlg_token *rbracket) {
  mlg_ast_type *t = alloc(p, sizeof *t);
  if (!t) return NULL;
  t->dtype = (mlg_ast_dtype)dtype_tok->int_value;
  t->span = rbracket ? join(dtype_tok->span, rbracket->span) : dtype_tok->span;
  if (dims && dims->n > 0) {
    t->dims = mlg_arena_calloc(p->arena, (size_t)dims->n, sizeof *t->dims);
    if (!t->dims) {
      out_of_memory(p);
      return NULL;
    }
    for (int i = 0; i < dims->n; i++) t->dims[i].value = dims->items[i];
    t->rank = dims->n;
  }
  return t;
}

mlg_stmt *mlg_syn_stmt(mlg_parser *p, mlg_stmt_kind kind, const mlg_token *first,
                       const mlg_token *name, const mlg_ast_type *type, mlg_expr *value) {
  mlg_stmt *s = alloc(p, sizeof *s);
  if (!s) return NULL;
  s->kind = kind;
  s->span = first->span;
  if (name) {
    s->name = name->text;
    s->name_span = name->span;
    s->span = join(s->span, name->span);
  }
  if (type) {
    s->has_type = 1;
    s->type = *type;
    s->span = join(s->span, type->span);
  }
  if (value) {
    s->value = value;
    s->span = join(s->span, value->span);
  }
  return s;
}

mlg_fn *mlg_syn_fn(mlg_parser *p, const mlg_token *fn_tok, const mlg_token *name,
                   mlg_vec *params, mlg_vec *stmts, const mlg_token *rbrace) {
  mlg_fn *f = alloc(p, sizeof *f);
  if (!f) return NULL;
  f->name = name ? name->text : "<error>";
  f->name_span = name ? name->span : fn_tok->span;
  f->span = join(fn_tok->span, rbrace->span);
  if (params && params->n > 0) {
    f->params = mlg_arena_calloc(p->arena, (size_t)params->n, sizeof *f->params);
    f->param_spans = mlg_arena_calloc(p->arena, (size_t)params->n, sizeof *f->param_spans);
    if (!f->params || !f->param_spans) {
      out_of_memory(p);
      return NULL;
    }
    for (int i = 0; i < params->n; i++) {
      const mlg_expr *e = params->items[i];
      f->params[i] = e->text;
      f->param_spans[i] = e->span;
    }
    f->n_params = params->n;
  }
  f->stmts = stmt_array(p, stmts, &f->n_stmts);
  for (int i = 0; i < f->n_stmts; i++) {
    const mlg_stmt *s = f->stmts[i];
    if (s->kind == MLG_STMT_FN)
      mlg_diag_error(p->diag, s->fn->name_span,
                     "fn '%s' is defined inside fn '%s'; define it at file level or in the model",
                     s->fn->name, f->name);
  }
  return f;
}

mlg_stmt *mlg_syn_fn_stmt(mlg_parser *p, mlg_fn *fn) {
  if (!fn) return NULL;
  mlg_stmt *s = alloc(p, sizeof *s);
  if (!s) return NULL;
  s->kind = MLG_STMT_FN;
  s->span = fn->span;
  s->fn = fn;
  return s;
}

void mlg_syn_file_fn(mlg_parser *p, mlg_fn *fn) {
  if (!fn) return;
  if (!p->file_fns) p->file_fns = mlg_syn_vec(p);
  mlg_syn_push(p, p->file_fns, fn);
}

void mlg_syn_model(mlg_parser *p, const mlg_token *model_tok, const mlg_token *name,
                   mlg_vec *stmts, const mlg_token *rbrace) {
  mlg_ast *ast = p->ast;
  p->n_models++;
  if (p->n_models > 1) {
    mlg_diag_error(p->diag, name ? name->span : model_tok->span,
                   "a second model block; a file holds exactly one model");
    mlg_diag_note(p->diag, p->first_model_name, "the first model is here");
    return;
  }
  p->first_model_name = name ? name->span : model_tok->span;
  ast->model_name = name ? name->text : NULL;
  ast->model_span = join(model_tok->span, rbrace->span);
  ast->stmts = stmt_array(p, stmts, &ast->n_stmts);
  for (int i = 0; i < ast->n_stmts; i++)
    if (ast->stmts[i]->kind == MLG_STMT_RETURN)
      mlg_diag_error(p->diag, ast->stmts[i]->span,
                     "'return' outside of a fn; use 'output NAME = expr' in a model");
}

/* ---- driver ----------------------------------------------------------------------------- */

enum { MAX_SOURCE_BYTES = 64 * 1024 * 1024 };

mlg_ast *mlg_parse(const mlg_source *source, mlg_diag *diag) {
  if (!source || !source->text || !diag) return NULL;
  mlg_ast *ast = calloc(1, sizeof *ast);
  if (!ast) return NULL;
  mlg_arena_init(&ast->arena);
  ast->source = source;
  if (source->length > MAX_SOURCE_BYTES) {
    mlg_span none = {0, 0};
    mlg_diag_error(diag, none, "source is larger than 64 MiB");
    return ast;
  }

  mlg_parser p;
  memset(&p, 0, sizeof p);
  p.ast = ast;
  p.diag = diag;
  p.arena = &ast->arena;
  void *lemon = mlgParseAlloc(malloc);
  if (!lemon) {
    mlg_ast_free(ast);
    return NULL;
  }
  mlg_lexer lexer;
  mlg_lexer_init(&lexer, source, diag, &ast->arena);
  for (;;) {
    mlg_token token;
    int code = mlg_lexer_next(&lexer, &token);
    if (code < 0) {
      if (lexer.oom) out_of_memory(&p);
      p.stop = 1;
      break;
    }
    if (code == TK_MODEL) p.saw_model = 1;
    p.last_token = token.span;
    p.quiet_syntax = lexer.bad_in_statement;
    p.has_open_bracket = lexer.had_open;
    p.open_bracket = lexer.had_open_at;
    mlg_parser_precheck(lemon, code, &token, &p);
    if (p.stop) break;
    mlgParse(lemon, code, token, &p);
    if (code == TK_NEWLINE) mlg_parser_rearm(lemon);
    if (code == 0 || p.stop || mlg_diag_full(diag)) break;
  }
  mlgParseFree(lemon, free);

  if (p.file_fns && p.file_fns->n > 0) {
    ast->fns = mlg_arena_calloc(&ast->arena, (size_t)p.file_fns->n, sizeof *ast->fns);
    if (!ast->fns) out_of_memory(&p);
    else {
      for (int i = 0; i < p.file_fns->n; i++) ast->fns[i] = p.file_fns->items[i];
      ast->n_fns = p.file_fns->n;
    }
  }
  if (p.oom) {
    mlg_ast_free(ast);
    return NULL;
  }
  if (!p.saw_model && !p.stop && !mlg_diag_full(diag)) {
    mlg_span none = {0, 0};
    mlg_diag_error(diag, none, "no 'model NAME { ... }' block in this file");
  }
  return ast;
}

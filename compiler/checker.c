/* checker.c — mlg_check: scopes, statements (dims, inputs, params, consts, bindings, outputs)
 * and the model as a whole. Expressions are in check_expr.c, fn inlining in check_fn.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"
#include "ops/op_util.h"

void chk_error(checker *c, mlg_span span, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(c->diag, MLG_DIAG_ERROR, span, fmt, ap);
  va_end(ap);
}

void chk_note(checker *c, mlg_span span, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(c->diag, MLG_DIAG_NOTE, span, fmt, ap);
  va_end(ap);
}

int chk_oom(checker *c) {
  if (!c->oom) mlg_diag_error(c->diag, (mlg_span){ 0, 0 }, "out of memory");
  c->oom = 1;
  return -1;
}

/* ---- symbol tables: open addressing, power-of-two capacity ------------------------------ */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

symbol *symtab_get(const symtab *t, const char *name) {
  if (!t->cap || !name) return NULL;
  size_t mask = (size_t)t->cap - 1;
  for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
    symbol *s = t->slots[i];
    if (!s) return NULL;
    if (strcmp(s->name, name) == 0) return s;
  }
}

int symtab_put(checker *c, symtab *t, symbol *s) {
  if ((t->n + 1) * 2 > t->cap) {
    int cap = t->cap ? t->cap * 2 : 16;
    symbol **slots = mlg_arena_calloc(&c->scratch, (size_t)cap, sizeof *slots);
    if (!slots) return chk_oom(c);
    for (int i = 0; i < t->cap; i++) {
      symbol *o = t->slots[i];
      if (!o) continue;
      size_t j = hash_str(o->name) & (size_t)(cap - 1);
      while (slots[j]) j = (j + 1) & (size_t)(cap - 1);
      slots[j] = o;
    }
    t->slots = slots;
    t->cap = cap;
  }
  size_t mask = (size_t)t->cap - 1;
  size_t i = hash_str(s->name) & mask;
  while (t->slots[i]) {
    if (strcmp(t->slots[i]->name, s->name) == 0) {
      t->slots[i] = s;
      return 0;
    }
    i = (i + 1) & mask;
  }
  t->slots[i] = s;
  t->n++;
  return 0;
}

/* Fn bodies see their own scope, plus the model's dims and consts (compile-time values);
 * model tensors must come in as arguments. */
symbol *scope_lookup(const scope *sc, const char *name, int *out_hidden) {
  *out_hidden = 0;
  symbol *s = symtab_get(&sc->tab, name);
  if (s || !sc->parent) return s;
  s = symtab_get(&sc->parent->tab, name);
  if (!s) return NULL;
  if (s->kind == SYM_DIM || s->kind == SYM_CONST) return s;
  *out_hidden = 1;
  return NULL;
}

static void suggest_in(const symtab *t, const char *name, int parent, const char **best,
                       int *best_d) {
  for (int i = 0; i < t->cap; i++) {
    const symbol *s = t->slots[i];
    if (!s || (parent && s->kind != SYM_DIM && s->kind != SYM_CONST)) continue;
    int d = mlg_suggest_distance(name, s->name);
    if (d < 0) continue;
    /* Ties go to the alphabetically first name, so the hint does not depend on hashing. */
    if (d < *best_d || (d == *best_d && *best && strcmp(s->name, *best) < 0)) {
      *best_d = d;
      *best = s->name;
    }
  }
}

const char *chk_suggest_name(const scope *sc, const char *name) {
  if (strlen(name) > 128) return NULL;
  const char *best = NULL;
  int best_d = 3;
  suggest_in(&sc->tab, name, 0, &best, &best_d);
  if (sc->parent) suggest_in(&sc->parent->tab, name, 1, &best, &best_d);
  return best;
}

static int span_inside(mlg_span inner, mlg_span outer) {
  return inner.begin >= outer.begin && inner.end <= outer.end;
}

void chk_unknown_name(checker *c, const scope *sc, const char *name, mlg_span span) {
  /* Statements are checked in order: a name bound further down this body is not visible yet. */
  const mlg_stmt *const *stmts = sc->fn ? (const mlg_stmt *const *)sc->fn->stmts
                                        : (const mlg_stmt *const *)c->ast->stmts;
  int n = sc->fn ? sc->fn->n_stmts : c->ast->n_stmts;
  for (int i = 0; i < n; i++) {
    const mlg_stmt *st = stmts[i];
    if (!st || !st->name || strcmp(st->name, name) != 0) continue;
    if (st->kind == MLG_STMT_OUTPUT && !st->value) continue; /* refers to a name, binds none */
    if (span_inside(span, st->span)) {
      chk_error(c, span, "'%s' is used in its own definition", name);
      return;
    }
    if (st->name_span.begin > span.begin) {
      chk_error(c, span, "'%s' is used before it is defined", name);
      chk_note(c, st->name_span, "'%s' is defined later, here", name);
      return;
    }
  }
  const char *hint = chk_suggest_name(sc, name);
  if (hint) chk_error(c, span, "unknown name '%s'; did you mean '%s'?", name, hint);
  else chk_error(c, span, "unknown name '%s'", name);
}

fn_entry *chk_find_fn(checker *c, const char *name) {
  for (int i = 0; i < c->n_fns; i++)
    if (strcmp(c->fns[i].fn->name, name) == 0) return &c->fns[i];
  return NULL;
}

/* ---- statements ------------------------------------------------------------------------- */

static const char *stmt_word(mlg_stmt_kind k) {
  switch (k) {
  case MLG_STMT_DIM: return "dim";
  case MLG_STMT_INPUT: return "input";
  case MLG_STMT_PARAM: return "param";
  case MLG_STMT_CONST: return "const";
  case MLG_STMT_LET: return "binding";
  case MLG_STMT_OUTPUT: return "output";
  case MLG_STMT_RETURN: return "return";
  case MLG_STMT_FN: return "fn";
  }
  return "statement";
}

/* Defines `name` in sc; a second definition in the same scope is an error. Returns the new
 * symbol, or NULL (reported). */
static symbol *define(checker *c, scope *sc, const char *name, mlg_span span, symkind kind,
                      value v) {
  symbol *old = symtab_get(&sc->tab, name);
  if (old) {
    chk_error(c, span, "redefinition of '%s'", name);
    chk_note(c, old->span, "'%s' was first defined here", name);
    return NULL;
  }
  symbol *s = mlg_arena_alloc(&c->scratch, sizeof *s);
  if (!s) {
    chk_oom(c);
    return NULL;
  }
  *s = (symbol){ .name = name, .kind = kind, .val = v, .span = span };
  if (symtab_put(c, &sc->tab, s)) return NULL;
  return s;
}

static value poison_at(mlg_span span) { return (value){ .kind = V_POISON, .span = span }; }

/* "prefix.name", or name itself without a prefix (arena copy). */
static const char *prefixed(checker *c, const char *prefix, const char *name) {
  if (!prefix) return name;
  size_t a = strlen(prefix), b = strlen(name);
  char *s = mlg_arena_alloc(&c->scratch, a + b + 2);
  if (!s) {
    chk_oom(c);
    return NULL;
  }
  memcpy(s, prefix, a);
  s[a] = '.';
  memcpy(s + a + 1, name, b + 1);
  return s;
}

/* Names an unnamed op node after the binding it is the value of. */
static void name_node(checker *c, scope *sc, const value *v, const char *name) {
  if (v->kind != V_TENSOR || c->oom) return;
  mlg_node *n = &c->b.graph->nodes[v->node];
  if (n->name || n->kind == MLG_NODE_INPUT || n->kind == MLG_NODE_PARAM) return;
  const char *full = prefixed(c, sc->prefix, name);
  if (full) n->name = mlg_arena_strdup(&c->b.graph->arena, full);
  if (!n->name) chk_oom(c);
}

/* Records a leaf (input/param) name; a second creation is an error naming both places. */
static int claim_leaf(checker *c, const char *full, mlg_span span, mlg_span call_span) {
  symbol *old = symtab_get(&c->leaves, full);
  mlg_span at = call_span.begin || call_span.end ? call_span : span;
  if (old) {
    chk_error(c, at, "'%s' is created twice", full);
    chk_note(c, old->span, "'%s' was first created here", full);
    return -1;
  }
  symbol *s = mlg_arena_alloc(&c->scratch, sizeof *s);
  const char *copy = mlg_arena_strdup(&c->scratch, full);
  if (!s || !copy) return chk_oom(c);
  *s = (symbol){ .name = copy, .span = at };
  return symtab_put(c, &c->leaves, s);
}

static void stmt_dim(checker *c, scope *sc, const mlg_stmt *st) {
  value v = poison_at(st->name_span);
  const mlg_dim_binding *over = NULL;
  for (int i = 0; c->opts && i < c->opts->n_dims; i++)
    if (c->opts->dims[i].name && strcmp(c->opts->dims[i].name, st->name) == 0)
      over = &c->opts->dims[i];
  if (over) {
    if (over->value < 1 || over->value > MLG_DIM_LIMIT) {
      chk_error(c, (mlg_span){ 0, 0 }, "-D %s=%lld: a dim must be in [1, %lld]", st->name,
                (long long)over->value, (long long)MLG_DIM_LIMIT);
    } else {
      v = (value){ .kind = V_INT, .i = over->value, .span = st->name_span };
    }
  } else {
    int_ctx ctx = { .kind = ICTX_DIM, .name = st->name, .span = st->value ? st->value->span
                                                                           : st->name_span };
    c->ictx = &ctx;
    value e = chk_eval(c, sc, st->value);
    c->ictx = NULL;
    int64_t d;
    if (chk_as_int(c, &e, "a dim", &d) == 0) {
      if (d < 1 || d > MLG_DIM_LIMIT)
        chk_error(c, st->value->span, "dim '%s' must be in [1, %lld], got %lld", st->name,
                  (long long)MLG_DIM_LIMIT, (long long)d);
      else
        v = (value){ .kind = V_INT, .i = d, .span = st->name_span };
    }
  }
  define(c, sc, st->name, st->name_span, SYM_DIM, v);
  /* Recorded in the graph, for --emit=mlg (emit_mlg.h). */
  if (v.kind == V_INT && mlg_graph_add_dim(&c->b, st->name, v.i) < 0) chk_oom(c);
}

/* The graph's dims that an input's axes name directly (`input x : f32[N, 784]`). */
static void record_dim_uses(checker *c, const mlg_ast_type *t, int node) {
  const mlg_graph *g = c->b.graph;
  for (int i = 0; i < t->rank; i++) {
    const mlg_expr *e = t->dims[i].value;
    if (!e || e->kind != MLG_EXPR_NAME) continue;
    for (int d = 0; d < g->n_dims; d++)
      if (strcmp(g->dims[d].name, e->text) == 0 && mlg_graph_add_dim_use(&c->b, node, i, d) != 0) chk_oom(c);
  }
}

/* Reports a second definition of a name in the same scope before anything is created. */
static int redefined(checker *c, scope *sc, const mlg_stmt *st) {
  symbol *old = symtab_get(&sc->tab, st->name);
  if (!old) return 0;
  chk_error(c, st->name_span, "redefinition of '%s'", st->name);
  chk_note(c, old->span, "'%s' was first defined here", st->name);
  return 1;
}

static void stmt_input(checker *c, scope *sc, const mlg_stmt *st) {
  if (redefined(c, sc, st)) return;
  value v = poison_at(st->name_span);
  mlg_type t;
  if (chk_eval_type(c, sc, &st->type, &t) == 0 && claim_leaf(c, st->name, st->name_span,
                                                             (mlg_span){ 0, 0 }) == 0) {
    mlg_node n = { .kind = MLG_NODE_INPUT, .name = st->name, .type = t, .span = st->name_span };
    int id = chk_add_node(c, &n);
    if (id >= 0) {
      v = (value){ .kind = V_TENSOR, .node = id };
      record_dim_uses(c, &st->type, id);
    }
  }
  define(c, sc, st->name, st->name_span, SYM_INPUT, v);
}

/* The seed of a random initializer written without seed=: FNV-1a of the param's full name (with
 * the prefixes of the fn calls that made it), kept to 63 bits so that seed= could spell it. */
static uint64_t default_seed(const char *param_name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)param_name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
  return h & (uint64_t)INT64_MAX;
}

/* zeros | ones | normal(mean, std, seed=) | uniform(lo, hi, seed=) */
static int param_init(checker *c, scope *sc, const mlg_expr *e, const char *param_name, mlg_init *out) {
  *out = (mlg_init){ .kind = MLG_INIT_NONE };
  if (!e) return 0;
  const char *name = e->kind == MLG_EXPR_NAME || e->kind == MLG_EXPR_CALL ? e->text : NULL;
  if (name && (strcmp(name, "zeros") == 0 || strcmp(name, "ones") == 0)) {
    if (e->kind == MLG_EXPR_CALL && (e->n_args || e->n_kwargs)) {
      chk_error(c, e->span, "'%s' takes no arguments", name);
      return -1;
    }
    out->kind = name[0] == 'z' ? MLG_INIT_ZEROS : MLG_INIT_ONES;
    return 0;
  }
  int normal = name && strcmp(name, "normal") == 0;
  int uniform = name && strcmp(name, "uniform") == 0;
  if (!(normal || uniform) || e->kind != MLG_EXPR_CALL) {
    chk_error(c, e->span,
              "a param initializer is zeros, ones, normal(mean, std, seed=S) or uniform(lo, hi, seed=S)");
    return -1;
  }
  const char *a_name = normal ? "mean" : "lo", *b_name = normal ? "std" : "hi";
  if (e->n_args < 2 || e->n_args > 3) {
    chk_error(c, e->span, "%s takes (%s, %s, seed=S)", name, a_name, b_name);
    return -1;
  }
  value va = chk_eval(c, sc, e->args[0]), vb = chk_eval(c, sc, e->args[1]);
  double a, b;
  if (chk_as_number(c, &va, a_name, &a) | chk_as_number(c, &vb, b_name, &b)) return -1;
  int64_t seed = (int64_t)default_seed(param_name);
  const mlg_expr *seed_e = e->n_args == 3 ? e->args[2] : NULL;
  for (int i = 0; i < e->n_kwargs; i++) {
    if (strcmp(e->kwargs[i].name, "seed") != 0 || seed_e) {
      chk_error(c, e->kwargs[i].name_span, "%s: unexpected argument '%s' (only seed=)", name,
                e->kwargs[i].name);
      return -1;
    }
    seed_e = e->kwargs[i].value;
  }
  if (seed_e) {
    int_ctx ctx = { .kind = ICTX_OTHER, .name = "a seed" };
    c->ictx = &ctx;
    value vs = chk_eval(c, sc, seed_e);
    c->ictx = NULL;
    if (chk_as_int(c, &vs, "seed", &seed)) return -1;
    if (seed < 0) {
      chk_error(c, vs.span, "seed must be >= 0");
      return -1;
    }
  }
  if (normal && !(b >= 0)) {
    chk_error(c, vb.span, "normal: std must be >= 0");
    return -1;
  }
  if (uniform && !(a <= b)) {
    chk_error(c, e->span, "uniform: lo must be <= hi");
    return -1;
  }
  *out = (mlg_init){ .kind = normal ? MLG_INIT_NORMAL : MLG_INIT_UNIFORM, .a = a, .b = b,
                     .seed = (uint64_t)seed };
  return 0;
}

static void stmt_param(checker *c, scope *sc, const mlg_stmt *st) {
  if (redefined(c, sc, st)) return;
  value v = poison_at(st->name_span);
  mlg_type t;
  mlg_init init;
  int ok_type = chk_eval_type(c, sc, &st->type, &t) == 0;
  const char *full = prefixed(c, sc->prefix, st->name);
  int ok_init = param_init(c, sc, st->value, full ? full : st->name, &init) == 0;
  if (ok_type && ok_init && (init.kind == MLG_INIT_NORMAL || init.kind == MLG_INIT_UNIFORM) &&
      !mlg_dtype_is_float(t.dtype)) {
    chk_error(c, st->value->span, "%s draws floats; a %s param starts as zeros or ones, or comes "
              "from a weights file", init.kind == MLG_INIT_NORMAL ? "normal" : "uniform",
              mlg_dtype_name(t.dtype));
    ok_init = 0;
  }
  if (ok_type && ok_init && full && claim_leaf(c, full, st->name_span, sc->call_span) == 0) {
    mlg_node n = { .kind = MLG_NODE_PARAM, .name = full, .type = t, .init = init,
                   .span = st->name_span };
    int id = chk_add_node(c, &n);
    if (id >= 0) v = (value){ .kind = V_TENSOR, .node = id };
  }
  define(c, sc, st->name, st->name_span, SYM_PARAM, v);
}

static void stmt_const(checker *c, scope *sc, const mlg_stmt *st) {
  int_ctx ctx = { .kind = ICTX_OTHER, .name = "an integer const" };
  int int_typed = st->has_type && mlg_dtype_is_int((mlg_ir_dtype)st->type.dtype);
  c->ictx = int_typed ? &ctx : NULL;
  value v = chk_eval(c, sc, st->value);
  c->ictx = NULL;
  value r = poison_at(st->name_span);
  mlg_type t;
  int typed = st->has_type;
  if (typed && chk_eval_type(c, sc, &st->type, &t)) v.kind = V_POISON;
  if (v.kind == V_POISON) {
    /* reported */
  } else if (v.kind == V_TENSOR) {
    const mlg_node *n = &c->b.graph->nodes[v.node];
    char a[128], b[128];
    if (n->kind != MLG_NODE_CONST) {
      chk_error(c, st->value->span, "const '%s' must be known at compile time", st->name);
    } else if (typed && !mlg_type_equal(&n->type, &t)) {
      chk_error(c, st->value->span, "const '%s' is declared %s but its value is %s", st->name,
                mlg_type_format(&t, a, sizeof a), mlg_type_format(&n->type, b, sizeof b));
    } else {
      r = v;
    }
  } else if (typed && t.rank == 0) {
    unsigned char scratch[8];
    if (v.kind == V_LIST) {
      chk_error(c, st->value->span, "const '%s' is declared a scalar but its value is a list",
                st->name);
    } else if (chk_store_number(c, &v, t.dtype, "", scratch, 0) == 0) {
      r = v;
      r.dtype = t.dtype;
      r.typed = 1;
      if (mlg_dtype_is_float(t.dtype) && r.kind == V_INT) {
        r.kind = V_FLOAT;
        r.f = (double)r.i;
      }
    }
  } else if (typed || v.kind == V_LIST) {
    int id = chk_const_from_value(c, &v, typed ? &t : NULL, st->value->span);
    if (id >= 0) r = (value){ .kind = V_TENSOR, .node = id };
  } else {
    r = v; /* untyped compile-time scalar */
  }
  r.span = st->name_span;
  name_node(c, sc, &r, st->name);
  define(c, sc, st->name, st->name_span, SYM_CONST, r);
}

static void add_output(checker *c, const char *name, mlg_span span, const value *v) {
  symbol *old = symtab_get(&c->outputs, name);
  if (old) {
    chk_error(c, span, "duplicate output '%s'", name);
    chk_note(c, old->span, "'%s' was first declared an output here", name);
    return;
  }
  symbol *s = mlg_arena_alloc(&c->scratch, sizeof *s);
  if (!s) {
    chk_oom(c);
    return;
  }
  *s = (symbol){ .name = name, .span = span };
  if (symtab_put(c, &c->outputs, s)) return;
  if (v->kind == V_POISON) return;
  if (v->kind != V_TENSOR) {
    chk_error(c, span, "output '%s' must be a tensor, not %s", name,
              v->kind == V_LIST ? "a list" : "a compile-time scalar");
    return;
  }
  if (mlg_graph_add_output(&c->b, name, v->node)) chk_oom(c);
}

void chk_stmt(checker *c, scope *sc, const mlg_stmt *st, value *out_ret, int *out_returned) {
  if (c->oom || c->too_big) return;
  int in_fn = sc->fn != NULL;
  switch (st->kind) {
  case MLG_STMT_DIM:
  case MLG_STMT_INPUT:
  case MLG_STMT_OUTPUT:
    if (in_fn) {
      chk_error(c, st->span, "'%s' is not allowed inside fn '%s' (only in the model body)",
                stmt_word(st->kind), sc->fn->name);
      return;
    }
    break;
  case MLG_STMT_RETURN:
    if (!in_fn) {
      chk_error(c, st->span, "'return' outside a fn");
      return;
    }
    break;
  default:
    break;
  }
  switch (st->kind) {
  case MLG_STMT_DIM: stmt_dim(c, sc, st); break;
  case MLG_STMT_INPUT: stmt_input(c, sc, st); break;
  case MLG_STMT_PARAM: stmt_param(c, sc, st); break;
  case MLG_STMT_CONST: stmt_const(c, sc, st); break;
  case MLG_STMT_LET: {
    value v = chk_eval(c, sc, st->value);
    name_node(c, sc, &v, st->name);
    v.span = st->name_span;
    define(c, sc, st->name, st->name_span, SYM_LET, v);
    break;
  }
  case MLG_STMT_OUTPUT: {
    value v;
    if (st->value) {
      v = chk_eval(c, sc, st->value);
      name_node(c, sc, &v, st->name);
      v.span = st->name_span;
      /* A second `output y = ...` is one mistake: add_output reports it as a duplicate output,
       * not also as a redefinition. */
      if (!symtab_get(&c->outputs, st->name)) define(c, sc, st->name, st->name_span, SYM_LET, v);
    } else {
      int hidden;
      symbol *s = scope_lookup(sc, st->name, &hidden);
      if (s) {
        v = s->val;
      } else {
        chk_unknown_name(c, sc, st->name, st->name_span);
        v = poison_at(st->name_span); /* still an output: no "model has no output" after this */
      }
    }
    add_output(c, st->name, st->name_span, &v);
    break;
  }
  case MLG_STMT_RETURN:
    *out_ret = chk_eval(c, sc, st->value);
    *out_returned = 1;
    break;
  case MLG_STMT_FN:
    if (in_fn) chk_error(c, st->span, "fn definitions cannot be nested inside fn '%s'", sc->fn->name);
    break; /* model-level fns are registered before the body is checked */
  }
}

/* ---- the model -------------------------------------------------------------------------- */

static int register_fn(checker *c, const mlg_fn *fn) {
  if (!fn || !fn->name) return 0;
  fn_entry *old = chk_find_fn(c, fn->name);
  if (old) {
    chk_error(c, fn->name_span, "redefinition of fn '%s'", fn->name);
    chk_note(c, old->fn->name_span, "'%s' was first defined here", fn->name);
    return 0;
  }
  if (mlg_op_find(fn->name)) {
    chk_error(c, fn->name_span, "fn '%s' has the name of an op", fn->name);
    return 0;
  }
  for (int i = 0; i < fn->n_params; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(fn->params[i], fn->params[j]) == 0) {
        chk_error(c, fn->param_spans[i], "duplicate argument '%s' in fn '%s'", fn->params[i],
                  fn->name);
        return 0;
      }
  c->fns[c->n_fns++] = (fn_entry){ .fn = fn };
  return 0;
}

static void check_dim_overrides(checker *c) {
  for (int i = 0; c->opts && i < c->opts->n_dims; i++) {
    const char *name = c->opts->dims[i].name;
    if (!name) continue;
    int found = 0;
    const char *best = NULL;
    int best_d = 3;
    for (int j = 0; j < c->ast->n_stmts; j++) {
      const mlg_stmt *st = c->ast->stmts[j];
      if (!st || st->kind != MLG_STMT_DIM || !st->name) continue;
      if (strcmp(st->name, name) == 0) found = 1;
      int d = mlg_suggest_distance(name, st->name);
      if (d >= 0 && d < best_d) {
        best_d = d;
        best = st->name;
      }
    }
    if (found) continue;
    if (best)
      chk_error(c, (mlg_span){ 0, 0 }, "-D %s: the model has no dim '%s'; did you mean '%s'?", name,
                name, best);
    else
      chk_error(c, (mlg_span){ 0, 0 }, "-D %s: the model has no dim '%s'", name, name);
  }
}

mlg_graph *mlg_check(const mlg_ast *ast, const mlg_check_options *options, mlg_diag *diag) {
  if (!ast || !diag) return NULL;
  checker c = { .ast = ast, .diag = diag, .opts = options };
  mlg_arena_init(&c.scratch);
  if (mlg_graph_builder_init(&c.b, ast->model_name)) {
    mlg_diag_error(diag, (mlg_span){ 0, 0 }, "out of memory");
    return NULL;
  }
  c.model = mlg_arena_alloc(&c.scratch, sizeof *c.model);
  int n_fn_slots = ast->n_fns;
  for (int i = 0; i < ast->n_stmts; i++)
    if (ast->stmts[i] && ast->stmts[i]->kind == MLG_STMT_FN) n_fn_slots++;
  c.fns = mlg_arena_calloc(&c.scratch, (size_t)(n_fn_slots ? n_fn_slots : 1), sizeof *c.fns);
  if (!c.model || !c.fns) {
    chk_oom(&c);
  } else {
    check_dim_overrides(&c);
    for (int i = 0; i < ast->n_fns; i++) register_fn(&c, ast->fns[i]);
    for (int i = 0; i < ast->n_stmts; i++)
      if (ast->stmts[i] && ast->stmts[i]->kind == MLG_STMT_FN) register_fn(&c, ast->stmts[i]->fn);
    for (int i = 0; i < ast->n_stmts && !c.oom && !c.too_big; i++) {
      value ret;
      int returned = 0;
      if (ast->stmts[i]) chk_stmt(&c, c.model, ast->stmts[i], &ret, &returned);
    }
    if (!c.oom && c.outputs.n == 0)
      chk_error(&c, ast->model_span, "model '%s' has no output; declare one with 'output NAME = expr'",
                ast->model_name ? ast->model_name : "?");
  }
  mlg_graph *g = NULL;
  if (diag->n_errors == 0 && !c.oom) {
    g = mlg_graph_builder_finish(&c.b);
  } else {
    mlg_graph_builder_abandon(&c.b);
  }
  mlg_arena_free(&c.scratch);
  return g;
}

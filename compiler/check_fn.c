/* check_fn.c — inlining a fn call: arguments bound in a fresh scope, params prefixed with the
 * call's `as` name, recursion and arity errors, and a note at the call under errors in the body. */
#include <string.h>

#include "check_internal.h"

static int declares_params(const mlg_fn *fn) {
  for (int i = 0; i < fn->n_stmts; i++)
    if (fn->stmts[i] && fn->stmts[i]->kind == MLG_STMT_PARAM) return 1;
  return 0;
}

static const char *join_prefix(checker *c, const char *outer, const char *inner) {
  if (!outer) return inner;
  size_t a = strlen(outer), b = strlen(inner);
  char *s = mlg_arena_alloc(&c->scratch, a + b + 2);
  if (!s) {
    chk_oom(c);
    return NULL;
  }
  memcpy(s, outer, a);
  s[a] = '.';
  memcpy(s + a + 1, inner, b + 1);
  return s;
}

value chk_call_fn(checker *c, scope *sc, const mlg_expr *e, fn_entry *fe) {
  const mlg_fn *fn = fe->fn;
  value bad = { .kind = V_POISON };
  if (fe->active) {
    chk_error(c, e->name_span, "recursive call to fn '%s' (fn calls are inlined; recursion is not "
              "allowed)", fn->name);
    chk_note(c, fn->name_span, "'%s' is defined here", fn->name);
    return bad;
  }
  if (e->n_kwargs > 0) {
    chk_error(c, e->kwargs[0].name_span, "fn '%s' takes no keyword arguments", fn->name);
    return bad;
  }
  if (e->n_args != fn->n_params) {
    chk_error(c, e->span, "fn '%s' takes %d argument%s, got %d", fn->name, fn->n_params,
              fn->n_params == 1 ? "" : "s", e->n_args);
    chk_note(c, fn->name_span, "'%s' is defined here", fn->name);
    return bad;
  }
  int has_params = declares_params(fn);
  if (has_params && !e->as_prefix) {
    chk_error(c, e->span, "fn '%s' declares params, so its call must name their prefix: "
              "%s(...) as NAME", fn->name, fn->name);
    return bad;
  }
  value *args = mlg_arena_calloc(&c->scratch, (size_t)(fn->n_params ? fn->n_params : 1),
                                 sizeof *args);
  if (!args) {
    chk_oom(c);
    return bad;
  }
  int poisoned = 0;
  for (int i = 0; i < e->n_args; i++) {
    args[i] = chk_eval(c, sc, e->args[i]);
    if (args[i].kind == V_POISON) poisoned = 1;
  }
  if (poisoned || fe->broken) return bad;

  scope *fs = mlg_arena_alloc(&c->scratch, sizeof *fs);
  if (!fs) {
    chk_oom(c);
    return bad;
  }
  fs->parent = sc->parent ? sc->parent : sc;
  fs->fn = fn;
  fs->prefix = e->as_prefix ? join_prefix(c, sc->prefix, e->as_prefix) : sc->prefix;
  fs->call_span = e->as_prefix ? e->as_span : sc->call_span;
  if (e->as_prefix && !fs->prefix) return bad;
  for (int i = 0; i < fn->n_params; i++) {
    symbol *s = mlg_arena_alloc(&c->scratch, sizeof *s);
    if (!s) {
      chk_oom(c);
      return bad;
    }
    *s = (symbol){ .name = fn->params[i], .kind = SYM_ARG, .val = args[i],
                   .span = fn->param_spans[i] };
    if (symtab_put(c, &fs->tab, s)) return bad;
  }

  int errors_before = c->diag->n_errors;
  fe->active = 1;
  c->depth++;
  value ret = bad;
  int returned = 0;
  for (int i = 0; i < fn->n_stmts && !c->oom && !c->too_big; i++) {
    const mlg_stmt *st = fn->stmts[i];
    if (!st) continue;
    if (returned) {
      chk_error(c, st->span, "statement after 'return' in fn '%s'", fn->name);
      break;
    }
    if (c->depth >= CHECK_MAX_DEPTH) {
      chk_error(c, e->span, "fn calls nested too deeply");
      break;
    }
    chk_stmt(c, fs, st, &ret, &returned);
  }
  c->depth--;
  fe->active = 0;
  if (!returned && c->diag->n_errors == errors_before && !c->oom && !c->too_big)
    chk_error(c, fn->name_span, "fn '%s' has no 'return'", fn->name);
  if (c->diag->n_errors != errors_before) {
    /* The body's errors point into the fn; say which call they came from, innermost first. */
    chk_note(c, e->name_span, "in call to fn '%s' here", fn->name);
    fe->broken = 1;
    return bad;
  }
  if (ret.kind == V_POISON) return bad;
  ret.span = e->span;
  return ret;
}

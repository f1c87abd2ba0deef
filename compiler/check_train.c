/* check_train.c — training in the checker: `grad(LOSS, X)` expressions and the model's
 * `train LOSS with OPTIMIZER(...)` statement. Both append the gradient (autodiff.h) to the
 * graph being built; the statement, checked after the whole body so that its nodes come after
 * every forward node, also appends the optimizer's update (optimizer.h) and makes the loss an
 * output of the train step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "check_internal.h"
#include "optimizer.h"

static value poison(void) { return (value){.kind = V_POISON}; }

static const mlg_node *node_of(const checker *c, int id) { return &c->b.graph->nodes[id]; }

/* Reports why the gradient of `loss_name` could not be built: at the op at fault, naming it
 * and a leaf the loss reaches through it, with a note at `where` (the train or grad). */
static void report_autodiff(checker *c, const mlg_autodiff_error *err, const char *loss_name,
                            const int *wrt, mlg_span where, const char *what) {
  const char *leaf = err->wrt >= 0 && node_of(c, wrt[err->wrt])->name ? node_of(c, wrt[err->wrt])->name : "?";
  const char *kind = err->wrt >= 0 && node_of(c, wrt[err->wrt])->kind == MLG_NODE_INPUT ? "input" : "param";
  if (err->node < 0) {
    chk_error(c, where, "%s: %s", what, err->msg);
    return;
  }
  const mlg_node *n = node_of(c, err->node);
  chk_error(c, n->span, "cannot differentiate '%s' with respect to %s '%s': %s", loss_name, kind, leaf,
            err->msg);
  chk_note(c, where, "%s needs the gradient of '%s' through %s%s%s%s", what, loss_name,
           n->op ? n->op->name : "this op", n->name ? " ('" : "", n->name ? n->name : "", n->name ? "')" : "");
}

/* The loss as an f32 scalar tensor node; -1 (reported) otherwise. */
static int loss_node(checker *c, const value *v, const char *what, const char *name) {
  if (v->kind == V_POISON) return -1;
  char got[160];
  if (v->kind != V_TENSOR) {
    chk_describe(c, v, got, sizeof got);
    chk_error(c, v->span, "%s: the loss must be a tensor, got %s", what, got);
    return -1;
  }
  const mlg_type *t = &node_of(c, v->node)->type;
  if (t->dtype != MLG_F32 || t->rank != 0) {
    char ty[96];
    chk_error(c, v->span, "%s: the loss '%s' must be an f32 scalar (f32[]), but it is %s; reduce it "
              "with mean(...) or sum(...)", what, name, mlg_type_format(t, ty, sizeof ty));
    return -1;
  }
  return v->node;
}

value chk_grad_call(checker *c, scope *sc, const mlg_expr *e) {
  if (e->n_args != 2 || e->n_kwargs != 0 || e->as_prefix) {
    chk_error(c, e->span, "grad takes two arguments: grad(LOSS, X), X a param or an input");
    return poison();
  }
  value lv = chk_eval(c, sc, e->args[0]);
  value xv = chk_eval(c, sc, e->args[1]);
  char loss_name[128];
  if (!chk_span_text(c, e->args[0]->span, loss_name, sizeof loss_name)) snprintf(loss_name, sizeof loss_name, "the loss");
  int loss = loss_node(c, &lv, "grad", loss_name);
  if (xv.kind == V_POISON || loss < 0) return poison();
  const mlg_node *x = xv.kind == V_TENSOR ? node_of(c, xv.node) : NULL;
  if (!x || (x->kind != MLG_NODE_PARAM && x->kind != MLG_NODE_INPUT) || x->type.dtype != MLG_F32) {
    chk_error(c, e->args[1]->span, "grad: the second argument must name an f32 param or input, "
              "as in grad(loss, fc1.weight)");
    return poison();
  }
  int wrt = xv.node, g = -1;
  mlg_autodiff_error err;
  if (mlg_autodiff(&c->b, loss, &wrt, 1, &g, &err) != 0) {
    report_autodiff(c, &err, loss_name, &wrt, e->span, "grad");
    return poison();
  }
  return (value){.kind = V_TENSOR, .node = g, .span = e->span};
}

/* ---- the optimizer's call ---- */

/* Fills *o from `sgd(lr=0.1, momentum=0.9)`: positional arguments in the optimizer's order,
 * keywords by name; adam's betas=[b1, b2] as PyTorch writes them. 0, or -1 (reported). */
static int optimizer_call(checker *c, const mlg_expr *e, mlg_optimizer *o) {
  if (e->kind != MLG_EXPR_CALL) {
    chk_error(c, e->span, "train: expected an optimizer call after 'with': %s(...)", mlg_optimizer_names());
    return -1;
  }
  const mlg_optimizer_param *params;
  int n_params;
  if (mlg_optimizer_init(e->text, o, &params, &n_params) != 0) {
    const char *names[] = {"sgd", "adam", "adamw"}, *best = NULL;
    int best_d = 3;
    for (int i = 0; i < 3; i++) {
      int d = mlg_suggest_distance(e->text, names[i]);
      if (d >= 0 && d < best_d) best_d = d, best = names[i];
    }
    if (best) chk_error(c, e->name_span, "unknown optimizer '%s'; did you mean '%s'? (%s)", e->text, best,
                        mlg_optimizer_names());
    else chk_error(c, e->name_span, "unknown optimizer '%s' (%s)", e->text, mlg_optimizer_names());
    return -1;
  }
  int given[8] = {0}, bad = 0;
  if (e->n_args > n_params) {
    chk_error(c, e->args[n_params]->span, "%s: too many arguments (at most %d)", e->text, n_params);
    return -1;
  }
  for (int i = 0; i < e->n_args + e->n_kwargs; i++) {
    const mlg_expr *arg = i < e->n_args ? e->args[i] : e->kwargs[i - e->n_args].value;
    const char *kw = i < e->n_args ? NULL : e->kwargs[i - e->n_args].name;
    mlg_span at = i < e->n_args ? arg->span : e->kwargs[i - e->n_args].name_span;
    value v = chk_eval(c, c->model, arg);
    if (kw && strcmp(kw, "betas") == 0 && o->kind != MLG_OPT_SGD) {
      double b[2];
      if (v.kind != V_LIST || v.n != 2 || chk_as_number(c, &v.items[0], "beta1", &b[0]) ||
          chk_as_number(c, &v.items[1], "beta2", &b[1])) {
        if (v.kind != V_POISON) chk_error(c, arg->span, "%s: betas is a list of two numbers, [beta1, beta2]", e->text);
        bad = 1;
        continue;
      }
      o->beta1 = b[0];
      o->beta2 = b[1];
      given[1] = given[2] = 1;
      continue;
    }
    int k = i < e->n_args ? i : -1;
    for (int j = 0; kw && j < n_params; j++)
      if (strcmp(params[j].name, kw) == 0) k = j;
    if (k < 0) {
      const char *best = NULL;
      int best_d = 3;
      for (int j = 0; j < n_params; j++) {
        int d = mlg_suggest_distance(kw, params[j].name);
        if (d >= 0 && d < best_d) best_d = d, best = params[j].name;
      }
      if (best) chk_error(c, at, "%s: unknown argument '%s'; did you mean '%s'?", e->text, kw, best);
      else chk_error(c, at, "%s: unknown argument '%s'", e->text, kw);
      bad = 1;
      continue;
    }
    if (given[k]) {
      chk_error(c, at, "%s: '%s' is given twice", e->text, params[k].name);
      bad = 1;
      continue;
    }
    given[k] = 1;
    double d;
    if (chk_as_number(c, &v, params[k].name, &d)) {
      bad = 1;
      continue;
    }
    char *field = (char *)o + params[k].offset;
    if (params[k].is_flag) {
      if (d != 0 && d != 1) {
        chk_error(c, arg->span, "%s: %s is 0 or 1 (false or true)", e->text, params[k].name);
        bad = 1;
        continue;
      }
      *(int *)field = (int)d;
    } else {
      *(double *)field = d;
    }
  }
  for (int j = 0; j < n_params && !bad; j++) {
    if (params[j].required && !given[j]) {
      chk_error(c, e->span, "%s: missing required argument '%s', as in %s(%s=0.1)", e->text, params[j].name,
                e->text, params[j].name);
      bad = 1;
    }
  }
  char msg[160];
  if (!bad && mlg_optimizer_validate(o, msg, sizeof msg) != 0) {
    chk_error(c, e->span, "%s: %s", e->text, msg);
    bad = 1;
  }
  return bad ? -1 : 0;
}

/* ---- the train statement ---- */

void chk_train(checker *c, const mlg_stmt *st) {
  int hidden;
  symbol *s = scope_lookup(c->model, st->name, &hidden);
  if (!s) {
    chk_unknown_name(c, c->model, st->name, st->name_span);
    return;
  }
  value lv = s->val;
  lv.span = st->name_span;
  int loss = loss_node(c, &lv, "train", st->name);
  mlg_optimizer opt;
  int opt_ok = optimizer_call(c, st->value, &opt) == 0;
  if (loss < 0 || !opt_ok) return;

  /* The params the loss depends on through f32 values, in declaration order, less the frozen. */
  const mlg_graph *g = c->b.graph;
  char *dep = calloc((size_t)loss + 1, 1);
  int *params = malloc(sizeof(int) * ((size_t)loss + 1));
  int *grads = malloc(sizeof(int) * ((size_t)loss + 1));
  if (!dep || !params || !grads) {
    free(dep);
    free(params);
    free(grads);
    chk_oom(c);
    return;
  }
  dep[loss] = 1;
  for (int i = loss; i >= 0; i--) {
    if (!dep[i]) continue;
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[g->nodes[i].inputs[k]].type.dtype == MLG_F32) dep[g->nodes[i].inputs[k]] = 1;
  }
  int n = 0, n_frozen_dep = 0;
  for (int i = 0; i <= loss; i++) {
    if (!dep[i] || g->nodes[i].kind != MLG_NODE_PARAM || g->nodes[i].type.dtype != MLG_F32) continue;
    int frozen = 0;
    for (int f = 0; f < c->n_frozen && !frozen; f++) frozen = c->frozen[f] == i;
    if (frozen) n_frozen_dep++;
    else params[n++] = i;
  }
  free(dep);
  if (n == 0) {
    if (n_frozen_dep)
      chk_error(c, st->span, "train: every param '%s' depends on is declared frozen; nothing to train",
                st->name);
    else
      chk_error(c, st->span, "train: '%s' depends on no param; nothing to train", st->name);
    free(params);
    free(grads);
    return;
  }
  mlg_autodiff_error err;
  char msg[256];
  if (mlg_autodiff(&c->b, loss, params, n, grads, &err) != 0) {
    report_autodiff(c, &err, st->name, params, st->span, "train");
  } else if (mlg_optimizer_build(&c->b, &opt, params, grads, n, st->span, msg, sizeof msg) != 0) {
    chk_error(c, st->value->span, "train: %s", msg);
  } else {
    /* The loss is what a step returns: the declared output holding it, or a new one. */
    mlg_graph *gr = c->b.graph;
    int found = 0;
    for (int o = 0; o < gr->n_outputs && !found; o++)
      if (gr->outputs[o].node == loss) {
        gr->outputs[o].programs |= MLG_GRAPH_TRAIN;
        found = 1;
      }
    if (!found && mlg_graph_add_output_in(&c->b, st->name, loss, MLG_GRAPH_TRAIN) != 0) chk_oom(c);
  }
  free(params);
  free(grads);
}

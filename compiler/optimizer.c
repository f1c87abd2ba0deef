/* optimizer.c — sgd, adam and adamw as graph ops (see optimizer.h). The formulas follow
 * torch.optim's single-tensor code term by term, in its order of operations, so that N steps
 * match PyTorch's to float rounding. */
#include "optimizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "ops/op_util.h"

#define P(field) offsetof(mlg_optimizer, field)

static const mlg_optimizer_param sgd_params[] = {
  {"lr", P(lr), 0, 1},
  {"momentum", P(momentum), 0, 0},
  {"weight_decay", P(weight_decay), 0, 0},
  {"nesterov", P(nesterov), 1, 0},
};

static const mlg_optimizer_param adam_params[] = {
  {"lr", P(lr), 0, 0},
  {"beta1", P(beta1), 0, 0},
  {"beta2", P(beta2), 0, 0},
  {"eps", P(eps), 0, 0},
  {"weight_decay", P(weight_decay), 0, 0},
};

typedef struct optimizer_entry {
  const char *name;
  mlg_optimizer defaults;
  const mlg_optimizer_param *params;
  int n_params;
} optimizer_entry;

static const optimizer_entry optimizers[] = {
  {"sgd", {.kind = MLG_OPT_SGD}, sgd_params, 4},
  {"adam", {.kind = MLG_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
   adam_params, 5},
  {"adamw", {.kind = MLG_OPT_ADAMW, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
             .weight_decay = 1e-2},
   adam_params, 5},
};
#define N_OPTIMIZERS (int)(sizeof optimizers / sizeof optimizers[0])

int mlg_optimizer_init(const char *name, mlg_optimizer *out, const mlg_optimizer_param **out_params,
                       int *out_n) {
  for (int i = 0; i < N_OPTIMIZERS; i++) {
    if (strcmp(optimizers[i].name, name) != 0) continue;
    *out = optimizers[i].defaults;
    *out_params = optimizers[i].params;
    *out_n = optimizers[i].n_params;
    return 0;
  }
  return -1;
}

const char *mlg_optimizer_names(void) { return "sgd, adam, adamw"; }

int mlg_optimizer_validate(const mlg_optimizer *o, char *err, size_t err_size) {
  if (!(o->lr >= 0)) return snprintf(err, err_size, "lr must be >= 0, got %g", o->lr), -1;
  if (!(o->weight_decay >= 0))
    return snprintf(err, err_size, "weight_decay must be >= 0, got %g", o->weight_decay), -1;
  if (o->kind == MLG_OPT_SGD) {
    if (!(o->momentum >= 0))
      return snprintf(err, err_size, "momentum must be >= 0, got %g", o->momentum), -1;
    if (o->nesterov && !(o->momentum > 0))
      return snprintf(err, err_size, "nesterov=1 needs a momentum > 0"), -1;
    return 0;
  }
  if (!(o->beta1 >= 0 && o->beta1 < 1))
    return snprintf(err, err_size, "beta1 must be in [0, 1), got %g", o->beta1), -1;
  if (!(o->beta2 >= 0 && o->beta2 < 1))
    return snprintf(err, err_size, "beta2 must be in [0, 1), got %g", o->beta2), -1;
  if (!(o->eps >= 0)) return snprintf(err, err_size, "eps must be >= 0, got %g", o->eps), -1;
  return 0;
}

/* Shortest %g spelling that reads back as the same double. */
static void format_number(double v, char *buf, size_t size) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

void mlg_optimizer_format(const mlg_optimizer *o, char *buf, size_t size) {
  const optimizer_entry *e = &optimizers[o->kind];
  size_t used = (size_t)snprintf(buf, size, "%s(", e->name);
  int first = 1;
  for (int i = 0; i < e->n_params && used < size; i++) {
    const mlg_optimizer_param *p = &e->params[i];
    const char *at = (const char *)o + p->offset;
    double v = p->is_flag ? (double)*(const int *)at : *(const double *)at;
    if (o->kind == MLG_OPT_SGD && v == 0) continue;
    char num[40];
    format_number(v, num, sizeof num);
    used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", first ? "" : ", ", p->name, num);
    first = 0;
  }
  if (used < size) snprintf(buf + used, size - used, ")");
}

/* ---- the update as graph ops ---- */

typedef struct builder {
  mlg_op_builder ob;
  char *err;
  size_t err_size;
} builder;

#define MUL(a, b) mlg_b2(&B->ob, &mlg_op_mul, (a), (b))
#define ADD(a, b) mlg_b2(&B->ob, &mlg_op_add, (a), (b))
#define DIV(a, b) mlg_b2(&B->ob, &mlg_op_div, (a), (b))
#define K(v) mlg_build_scalar(&B->ob, (v))

/* A state leaf of type t named "<base><suffix>" (zeros at the start of a session). */
static int state(builder *B, const char *base, const char *suffix, const mlg_type *t) {
  if (B->ob.failed) return -1;
  char name[512];
  snprintf(name, sizeof name, "%s%s", base, suffix);
  const mlg_graph *g = B->ob.graph->graph;
  for (int i = 0; i < g->n_nodes; i++) {
    mlg_node_kind k = g->nodes[i].kind;
    if ((k == MLG_NODE_PARAM || k == MLG_NODE_INPUT || k == MLG_NODE_STATE) && g->nodes[i].name &&
        strcmp(g->nodes[i].name, name) == 0)
      return mlg_build_fail(&B->ob, "the optimizer's state '%s' has the name of %s '%s'; rename it",
                            name, k == MLG_NODE_STATE ? "another state" : k == MLG_NODE_PARAM ? "param" : "input",
                            name);
  }
  mlg_node n = {.kind = MLG_NODE_STATE, .name = name, .type = *t, .span = B->ob.span};
  int id = mlg_graph_add(B->ob.graph, &n);
  return id < 0 ? mlg_build_fail(&B->ob, "out of memory") : id;
}

/* Records `value` as leaf `target`'s value after the step, named "update(<leaf>)". */
static void update(builder *B, int target, int value) {
  if (B->ob.failed || value < 0) return;
  mlg_graph *g = B->ob.graph->graph;
  if (!g->nodes[value].name) {
    char name[512];
    snprintf(name, sizeof name, "update(%s)", g->nodes[target].name ? g->nodes[target].name : "?");
    g->nodes[value].name = mlg_arena_strdup(&g->arena, name);
  }
  if (!g->nodes[value].name || mlg_graph_add_update(B->ob.graph, target, value) != 0)
    mlg_build_fail(&B->ob, "out of memory");
}

/* torch.optim.SGD: d = g + wd·p; buf = momentum·buf + d (the first step's buf is d, as a zero
 * buffer gives); d = nesterov ? d + momentum·buf : buf; p = p − lr·d. */
static void sgd_param(builder *B, const mlg_optimizer *o, int p, int g) {
  const mlg_node *pn = &B->ob.graph->graph->nodes[p];
  const char *name = pn->name;
  mlg_type t = pn->type;
  int d = g;
  if (o->weight_decay != 0) d = ADD(d, MUL(p, K(o->weight_decay)));
  if (o->momentum != 0) {
    int buf = state(B, name, ".momentum_buffer", &t);
    int buf_new = ADD(MUL(buf, K(o->momentum)), d);
    update(B, buf, buf_new);
    d = o->nesterov ? ADD(d, MUL(buf_new, K(o->momentum))) : buf_new;
  }
  update(B, p, ADD(p, MUL(d, K(-o->lr))));
}

/* torch.optim.Adam / AdamW: m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g·g;
 * p = p − (lr / c1)·m / (sqrt(v) / sqrt(c2) + eps), with the bias corrections c_k = 1 − β_k^t
 * kept as state (c ← (1 − β) + β·c from 0: no power of a rounded β, whose cancellation in
 * 1 − β^t would cost float digits). Adam adds wd·p to g; AdamW first scales p by 1 − lr·wd. */
static void adam_param(builder *B, const mlg_optimizer *o, int p, int g, int c1, int c2) {
  const mlg_node *pn = &B->ob.graph->graph->nodes[p];
  const char *name = pn->name;
  mlg_type t = pn->type;
  if (o->kind == MLG_OPT_ADAM && o->weight_decay != 0) g = ADD(g, MUL(p, K(o->weight_decay)));
  int m = state(B, name, ".exp_avg", &t), v = state(B, name, ".exp_avg_sq", &t);
  int m_new = ADD(MUL(m, K(o->beta1)), MUL(g, K(1 - o->beta1)));
  int v_new = ADD(MUL(v, K(o->beta2)), MUL(MUL(g, K(1 - o->beta2)), g));
  update(B, m, m_new);
  update(B, v, v_new);
  int step_size = DIV(K(-o->lr), c1);
  int denom = ADD(DIV(mlg_b1(&B->ob, &mlg_op_sqrt, v_new), mlg_b1(&B->ob, &mlg_op_sqrt, c2)), K(o->eps));
  int base = p;
  if (o->kind == MLG_OPT_ADAMW && o->weight_decay != 0) base = MUL(p, K(1 - o->lr * o->weight_decay));
  update(B, p, ADD(base, DIV(MUL(step_size, m_new), denom)));
}

int mlg_optimizer_build(mlg_graph_builder *b, const mlg_optimizer *o, const int *params,
                        const int *grads, int n, mlg_span span, char *err, size_t err_size) {
  builder bb = {.ob = {.graph = b, .span = span}, .err = err, .err_size = err_size};
  builder *B = &bb;
  for (int i = 0; i < n; i++) {
    mlg_graph *g = b->graph;
    if (!g->nodes[grads[i]].name) {
      char name[512];
      snprintf(name, sizeof name, "grad(%s)", g->nodes[params[i]].name ? g->nodes[params[i]].name : "?");
      g->nodes[grads[i]].name = mlg_arena_strdup(&g->arena, name);
    }
  }
  if (o->kind == MLG_OPT_SGD) {
    for (int i = 0; i < n; i++) sgd_param(B, o, params[i], grads[i]);
  } else {
    mlg_type scalar = {.dtype = MLG_F32, .rank = 0};
    int c1 = state(B, "optimizer.bias_correction1", "", &scalar);
    int c2 = state(B, "optimizer.bias_correction2", "", &scalar);
    int c1_new = ADD(K(1 - o->beta1), MUL(c1, K(o->beta1)));
    int c2_new = ADD(K(1 - o->beta2), MUL(c2, K(o->beta2)));
    update(B, c1, c1_new);
    update(B, c2, c2_new);
    for (int i = 0; i < n; i++) adam_param(B, o, params[i], grads[i], c1_new, c2_new);
  }
  char desc[256];
  mlg_optimizer_format(o, desc, sizeof desc);
  if (!B->ob.failed && mlg_graph_set_optimizer(b, desc) != 0) mlg_build_fail(&B->ob, "out of memory");
  if (B->ob.failed) {
    snprintf(err, err_size, "%s", B->ob.error);
    return -1;
  }
  return 0;
}

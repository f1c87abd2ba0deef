#include "optimize.h"

#include <stdlib.h>
#include <string.h>

#include "op.h"


enum { MAX_SIMPLIFY_ROUNDS = 4 };

typedef mlg_graph *(*pass_fn)(const mlg_graph *);

/* Replaces *g by pass(*g) (NULL on failure, *g freed either way). */
static void step(mlg_graph **g, mlg_graph *next) {
  mlg_graph_free(*g);
  *g = next;
}

/* One round of simplify then fold; returns the number of rewrites, or -1 on failure. */
static int simplify_fold(mlg_graph **g) {
  int a = 0, b = 0;
  step(g, mlg_pass_simplify_n(*g, &a));
  if (!*g) return -1;
  step(g, mlg_pass_fold_n(*g, &b));
  if (!*g) return -1;
  return a + b;
}

const float **mlg_param_values_remap(const mlg_graph *g, const mlg_graph *orig,
                                     const mlg_param_values *values) {
  const float **v = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(*v));
  if (!v) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *n = &g->nodes[i];
    if (n->kind != MLG_NODE_PARAM || !n->name) continue;
    for (int j = 0; j < orig->n_nodes && j < values->n; j++) {
      const mlg_node *o = &orig->nodes[j];
      if (o->kind == MLG_NODE_PARAM && o->name && strcmp(o->name, n->name) == 0 &&
          mlg_type_equal(&o->type, &n->type)) {
        v[i] = values->data[j];
        break;
      }
    }
  }
  return v;
}

static int bn_fold(mlg_graph **g, const mlg_graph *orig, const mlg_param_values *values) {
  const float **v = NULL;
  mlg_param_values mapped = {0};
  if (values && values->data) {
    v = mlg_param_values_remap(*g, orig, values);
    if (!v) {
      step(g, NULL);
      return -1;
    }
    mapped.n = (*g)->n_nodes;
    mapped.data = v;
  }
  int n = 0;
  step(g, mlg_pass_bn_fold_n(*g, v ? &mapped : NULL, &n));
  free(v);
  return *g ? n : -1;
}

mlg_graph *mlg_optimize_ex(const mlg_graph *graph, int opt_level, const mlg_param_values *values,
                           mlg_diag *diag) {
  static const pass_fn tail[] = {mlg_pass_cse, mlg_pass_dce};
  mlg_rewriter rw;
  mlg_graph *g = NULL;
  /* -O0 and every level start from a copy, so the caller always owns what it gets. */
  if (mlg_rewriter_init(&rw, graph) == 0) {
    for (int i = 0; i < graph->n_nodes; i++) mlg_rewriter_copy(&rw, i);
    g = mlg_rewriter_finish(&rw);
  }
  if (g && opt_level > 0) {
    /* simplify and fold feed each other (a folded const may be a 1; a removed view may leave
     * an all-const op): run them until nothing changes, at most MAX_SIMPLIFY_ROUNDS times. */
    int changed = 1;
    for (int r = 0; g && changed > 0 && r < MAX_SIMPLIFY_ROUNDS; r++) changed = simplify_fold(&g);
    int rewrites = g ? bn_fold(&g, graph, values) : 0;
    if (g) {
      int n = 0;
      step(&g, mlg_pass_recognize_n(g, &n));
      rewrites += n;
    }
    if (g && rewrites > 0) simplify_fold(&g);
    int qdq = 0;
    if (g) step(&g, mlg_pass_qdq_n(g, &qdq));
    if (g && qdq > 0) simplify_fold(&g);
    for (size_t p = 0; g && p < sizeof(tail) / sizeof(tail[0]); p++) step(&g, tail[p](g));
  }
  if (!g) mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while optimizing the graph");
  return g;
}

mlg_graph *mlg_optimize(const mlg_graph *graph, int opt_level, mlg_diag *diag) {
  return mlg_optimize_ex(graph, opt_level, NULL, diag);
}

int mlg_optimize_wanted_values(const mlg_graph *g, char *wanted) {
  int count = 0;
  memset(wanted, 0, (size_t)g->n_nodes);
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *n = &g->nodes[i];
    mlg_channel_norm nm;
    if (n->kind != MLG_NODE_OP || !n->op || !n->op->algebra.channel_norm ||
        n->op->algebra.channel_norm(n, &nm))
      continue;
    for (int k = 1; k < n->n_inputs; k++) {
      int p = n->inputs[k];
      if (g->nodes[p].kind == MLG_NODE_PARAM && mlg_graph_update_of(g, p) < 0 && !wanted[p])
        wanted[p] = 1, count++;
    }
    const mlg_node *c = n->n_inputs ? &g->nodes[n->inputs[0]] : NULL;
    if (!c || c->kind != MLG_NODE_OP || !c->op || !c->op->algebra.channel_linear_rank) continue;
    for (int k = 1; k < c->n_inputs; k++) {
      int p = c->inputs[k];
      if (g->nodes[p].kind == MLG_NODE_PARAM && mlg_graph_update_of(g, p) < 0 && !wanted[p])
        wanted[p] = 1, count++;
    }
  }
  return count;
}

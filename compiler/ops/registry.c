/* registry.c — the table of ops built from op_list.h, and lookups by name. */
#include <string.h>

#include "op_defs.h"

static const mlg_op_def *const registry[] = {
#define MLG_OP(sym) &mlg_op_##sym,
#include "op_list.h"
#undef MLG_OP
};

enum { N_OPS = (int)(sizeof registry / sizeof registry[0]) };

int mlg_op_count(void) { return N_OPS; }

const mlg_op_def *mlg_op_at(int i) { return i >= 0 && i < N_OPS ? registry[i] : NULL; }

const mlg_op_def *mlg_op_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_OPS; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

const char *mlg_op_suggest(const char *name) {
  if (!name || strlen(name) > 64) return NULL;
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; i < N_OPS; i++) {
    int d = mlg_suggest_distance(name, registry[i]->name);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = registry[i]->name;
    }
  }
  return best;
}

const char *mlg_op_foreign(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_OPS; i++)
    for (const mlg_op_spelling *f = registry[i]->foreign; f && f->name; f++)
      if (strcmp(f->name, name) == 0) return f->mlg;
  return NULL;
}

int mlg_op_attr_index(const mlg_op_def *def, const char *name) {
  if (!def || !name) return -1;
  for (int i = 0; i < def->n_attrs; i++)
    if (strcmp(def->attrs[i].name, name) == 0) return i;
  return -1;
}

const char *mlg_attr_choice(const mlg_attr_def *ad, int64_t index) {
  if (!ad || !ad->choices || index < 0) return NULL;
  for (int64_t i = 0; ad->choices[i]; i++)
    if (i == index) return ad->choices[i];
  return NULL;
}

int mlg_node_is_index(const mlg_node *n) {
  return n->kind == MLG_NODE_OP && n->op && n->op->index && n->n_inputs == 1;
}

int mlg_index_map_of(const mlg_node *n, const mlg_type *in, mlg_index_map *out) {
  if (!mlg_node_is_index(n)) return -1;
  memset(out, 0, sizeof *out);
  out->rank = n->type.rank;
  out->in_rank = in->rank;
  memcpy(out->dims, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
  memcpy(out->in_dims, in->dims, sizeof(int64_t) * (size_t)in->rank);
  if (n->op->index(n, out)) return -1;
  if (out->kind == MLG_INDEX_SAME_ORDER) return 0;
  /* AXES: a permutation of the input's dims, each read inside its bounds. */
  int seen[MLG_MAX_RANK] = {0};
  if (out->rank != out->in_rank) return -1;
  for (int d = 0; d < out->rank; d++) {
    int a = out->axis[d];
    if (a < 0 || a >= out->rank || seen[a]) return -1;
    seen[a] = 1;
    int64_t last = out->start[d] + out->step[d] * (out->dims[d] - 1);
    if (out->start[d] < 0 || out->start[d] >= out->in_dims[a] || last < 0 ||
        last >= out->in_dims[a])
      return -1;
  }
  return 0;
}

int mlg_node_index_map(const mlg_graph *g, int node, mlg_index_map *out) {
  const mlg_node *n = &g->nodes[node];
  if (!mlg_node_is_index(n)) return -1;
  return mlg_index_map_of(n, &g->nodes[n->inputs[0]].type, out);
}

int mlg_index_map_is_identity(const mlg_index_map *m) {
  if (m->rank != m->in_rank) return 0;
  for (int d = 0; d < m->rank; d++) {
    if (m->dims[d] != m->in_dims[d]) return 0;
    if (m->kind == MLG_INDEX_AXES && (m->axis[d] != d || m->start[d] != 0 || m->step[d] != 1) &&
        m->dims[d] != 1)
      return 0;
  }
  return 1;
}

const mlg_op_def *mlg_op_for_operator(char sym, int n_operands) {
  for (int i = 0; sym && i < N_OPS; i++)
    if (registry[i]->algebra.operator_sym == sym && registry[i]->min_inputs == n_operands)
      return registry[i];
  return NULL;
}

unsigned mlg_op_input_traits(const mlg_op_def *def, int slot) {
  return def && slot >= 0 && slot < MLG_TRAIT_INPUTS ? def->fusion.inputs[slot] : 0;
}

int mlg_node_iter_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]) {
  const mlg_node *n = &g->nodes[node];
  if (n->kind == MLG_NODE_OP && n->op && n->op->fusion.iter_dims)
    return n->op->fusion.iter_dims(g, node, dims);
  memcpy(dims, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
  return n->type.rank;
}

const mlg_attr *mlg_attr_at(const mlg_node *n, int k) {
  static const mlg_attr none = {.kind = MLG_ATTR_NONE};
  if (!n->op || k < 0 || k >= n->op->n_attrs || k >= MLG_MAX_ATTRS) return &none;
  return n->attrs[k].kind != MLG_ATTR_NONE ? &n->attrs[k] : &n->op->attrs[k].deflt;
}

int64_t mlg_attr_int(const mlg_node *n, int k) {
  const mlg_attr *a = mlg_attr_at(n, k);
  if (a->kind == MLG_ATTR_FLOAT) return (int64_t)a->f;
  if (a->kind == MLG_ATTR_FLOATS) return a->n >= 1 ? (int64_t)a->floats[0] : 0;
  return a->kind != MLG_ATTR_NONE && a->n >= 1 ? a->ints[0] : 0;
}

double mlg_attr_float(const mlg_node *n, int k) {
  const mlg_attr *a = mlg_attr_at(n, k);
  if (a->kind == MLG_ATTR_FLOAT) return a->f;
  if (a->kind == MLG_ATTR_FLOATS) return a->n >= 1 ? a->floats[0] : 0;
  return a->kind != MLG_ATTR_NONE && a->n >= 1 ? (double)a->ints[0] : 0;
}

void mlg_node_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  *out = (mlg_op_cost){0, 0};
  if (n->kind != MLG_NODE_OP || !n->op) return;
  out->bytes = mlg_type_bytes(&n->type);
  for (int k = 0; k < n->n_inputs; k++) out->bytes += mlg_type_bytes(&g->nodes[n->inputs[k]].type);
  if (n->op->cls == MLG_OPC_ELEMENTWISE) out->flops = mlg_type_numel(&n->type);
  if (n->op->cost) n->op->cost(g, node, out);
}

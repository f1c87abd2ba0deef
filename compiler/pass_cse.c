/* pass_cse.c — common-subexpression elimination. Two op nodes are the same when they apply the
 * same op to the same (already deduplicated) inputs with equal attributes; two consts are the
 * same when type and bytes are equal. Inputs and params are never merged: each is a distinct
 * value bound from outside. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimize.h"

static int attrs_equal(const mlg_attr *a, const mlg_attr *b) {
  for (int i = 0; i < MLG_MAX_ATTRS; i++) {
    if (a[i].kind != b[i].kind) return 0;
    switch (a[i].kind) {
    case MLG_ATTR_NONE: break;
    case MLG_ATTR_FLOAT:
      if (memcmp(&a[i].f, &b[i].f, sizeof(double)) != 0) return 0;
      break;
    case MLG_ATTR_INT:
    case MLG_ATTR_ENUM:
    case MLG_ATTR_DTYPE:
      if (a[i].ints[0] != b[i].ints[0]) return 0;
      break;
    case MLG_ATTR_FLOATS:
      if (a[i].n != b[i].n || memcmp(a[i].floats, b[i].floats, sizeof(double) * (size_t)a[i].n))
        return 0;
      break;
    case MLG_ATTR_INTS:
      if (a[i].n != b[i].n || memcmp(a[i].ints, b[i].ints, sizeof(int64_t) * (size_t)a[i].n)) return 0;
      break;
    }
  }
  return 1;
}

/* Is new node `cand` (in the graph being built) the same value as old node `old` would be
 * once its inputs are remapped? */
static int same_value(const mlg_rewriter *rw, const mlg_node *old, const mlg_node *cand) {
  if (old->kind != cand->kind || !mlg_type_equal(&old->type, &cand->type)) return 0;
  if (old->kind == MLG_NODE_CONST) {
    return memcmp(old->data, cand->data, (size_t)mlg_type_bytes(&old->type)) == 0;
  }
  if (old->kind != MLG_NODE_OP || old->op != cand->op || old->n_inputs != cand->n_inputs) return 0;
  for (int k = 0; k < old->n_inputs; k++)
    if (rw->map[old->inputs[k]] != cand->inputs[k]) return 0;
  return attrs_equal(old->attrs, cand->attrs);
}

mlg_graph *mlg_pass_cse(const mlg_graph *g) {
  mlg_rewriter rw;
  if (mlg_rewriter_init(&rw, g) != 0) return NULL;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *old = &g->nodes[i];
    int found = -1;
    if (old->kind == MLG_NODE_OP || old->kind == MLG_NODE_CONST) {
      /* Linear scan of the nodes built so far: graphs are small (hundreds of nodes). */
      const mlg_graph *built = rw.builder.graph;
      for (int j = 0; j < built->n_nodes && found < 0; j++)
        if (same_value(&rw, old, &built->nodes[j])) found = j;
    }
    if (found >= 0) rw.map[i] = found;
    else mlg_rewriter_copy(&rw, i);
  }
  return mlg_rewriter_finish(&rw);
}

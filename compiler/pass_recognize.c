/* pass_recognize.c — subgraphs that one op computes, replaced by that op (op.h
 * mlg_algebra.recognize): today attention written as softmax(q @ k · s + mask) @ v becomes
 * scaled_dot_product_attention(q, transpose(k), v, mask, scale=s), one kernel instead of three
 * and no Tq × Tk tensor. The op that recognizes says what it found; this pass only asks every
 * op with a recognize hook at every op node, checks the new node with the op's shape rule
 * (its type must be the root's), and rebuilds the graph. The nodes the root no longer reads are
 * left for dce. */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "optimize.h"

/* transpose(x, perm) swapping x's last two dims, appended; its id or -1. */
static int add_swap(mlg_rewriter *rw, const mlg_node *root, int x) {
  const mlg_type *t = &rw->builder.graph->nodes[x].type;
  int r = t->rank;
  if (r < 2 || r > MLG_MAX_ATTR_INTS) return -1;
  mlg_node n = {.kind = MLG_NODE_OP, .op = &mlg_op_transpose, .span = root->span, .n_inputs = 1,
                .inputs = &x};
  n.attrs[0] = (mlg_attr){.kind = MLG_ATTR_INTS, .n = r};
  for (int d = 0; d < r; d++) n.attrs[0].ints[d] = d;
  n.attrs[0].ints[r - 2] = r - 1;
  n.attrs[0].ints[r - 1] = r - 2;
  mlg_shape_error err;
  if (mlg_op_transpose.infer(t, 1, n.attrs, &n.type, &err) != 0) return -1;
  int id = mlg_graph_add(&rw->builder, &n);
  if (id < 0) rw->failed = 1;
  return id;
}

/* Node `root` of the source computed by op `def` as `found` says; its new id, or -1 when the
 * op's shape rule does not give the root's type (nothing is added then, but perhaps an unused
 * transpose, which dce removes). */
static int add_recognized(mlg_rewriter *rw, int root, const mlg_op_def *def,
                          const mlg_recognized *found) {
  const mlg_node *old = &rw->src->nodes[root];
  int inputs[MLG_TRAIT_INPUTS];
  mlg_type types[MLG_TRAIT_INPUTS];
  for (int i = 0; i < found->n_inputs; i++) {
    inputs[i] = rw->map[found->inputs[i]];
    if (inputs[i] < 0) return -1;
    if (found->swap_last2 & (1u << i)) inputs[i] = add_swap(rw, old, inputs[i]);
    if (inputs[i] < 0) return -1;
    types[i] = rw->builder.graph->nodes[inputs[i]].type;
  }
  mlg_node n = {.kind = MLG_NODE_OP, .op = def, .name = old->name, .span = old->span,
                .n_inputs = found->n_inputs, .inputs = inputs};
  memcpy(n.attrs, found->attrs, sizeof n.attrs);
  mlg_shape_error err;
  if (def->infer(types, found->n_inputs, n.attrs, &n.type, &err) != 0 ||
      !mlg_type_equal(&n.type, &old->type))
    return -1;
  int id = mlg_graph_add(&rw->builder, &n);
  if (id < 0) rw->failed = 1;
  return id;
}

mlg_graph *mlg_pass_recognize_n(const mlg_graph *g, int *out_rewrites) {
  if (out_rewrites) *out_rewrites = 0;
  int *uses = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(int));
  mlg_rewriter rw;
  if (!uses) return NULL;
  if (mlg_rewriter_init(&rw, g) != 0) {
    free(uses);
    return NULL;
  }
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) uses[g->nodes[i].inputs[k]]++;
  for (int o = 0; o < g->n_outputs; o++) uses[g->outputs[o].node]++;
  int rewrites = 0;
  for (int i = 0; i < g->n_nodes && !rw.failed; i++) {
    int id = -1;
    for (int k = 0; k < mlg_op_count() && id < 0 && g->nodes[i].kind == MLG_NODE_OP; k++) {
      const mlg_op_def *def = mlg_op_at(k);
      mlg_recognized found;
      if (def->algebra.recognize && def->algebra.recognize(g, i, uses, &found) == 0 &&
          found.n_inputs >= def->min_inputs && found.n_inputs <= def->max_inputs)
        id = add_recognized(&rw, i, def, &found);
    }
    if (id >= 0) {
      rw.map[i] = id;
      rewrites++;
    } else if (!rw.failed) {
      mlg_rewriter_copy(&rw, i);
    }
  }
  free(uses);
  if (out_rewrites) *out_rewrites = rewrites;
  return mlg_rewriter_finish(&rw);
}

mlg_graph *mlg_pass_recognize(const mlg_graph *g) { return mlg_pass_recognize_n(g, NULL); }

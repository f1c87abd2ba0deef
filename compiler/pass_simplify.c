/* pass_simplify.c — algebraic simplification, only with identities that hold for every IEEE
 * value (inf and NaN included), each declared by the op it rewrites (op.h mlg_algebra):
 *   x op e, e op x → x    where e is the op's identity element on that side (x + 0, 0 + x,
 *                         x - 0, x * 1, 1 * x, x / 1; -0 + +0 is +0, equal to -0)
 *   f(f(x))        → x    for an involution (neg)
 *   f(f(x))        → f(x) with composed attributes, or x when that is the identity
 *                         (ops with a compose rule: transpose)
 *   index op reading its input in place → x   (an identity transpose or slice; a view of
 *                         x's own shape)
 *   view(view(x))  → reshape(x, final shape)
 * where an identity element is a const whose every element is exactly that value and the
 * result's type equals x's (a broadcasting const that widens x is kept). Not done, because
 * they are false for inf or NaN: x * 0 → 0, x - x → 0, x / x → 1. A replaced node that was an
 * output makes its replacement the output (possibly an input, param or const; lowering copies
 * those). Each node is matched against the nodes already rebuilt, so chains collapse in one
 * run. */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "optimize.h"

/* Is node n a const whose every element equals v (0 matches both signed zeros)? */
static int const_all(const mlg_node *n, float v) {
  if (n->kind != MLG_NODE_CONST || !n->data || n->type.dtype != MLG_F32) return 0;
  int64_t numel = mlg_type_numel(&n->type);
  const float *d = n->data;
  for (int64_t i = 0; i < numel; i++)
    if (!(d[i] == v)) return 0;
  return numel > 0;
}

/* Appends `old` with a different op, one input and attributes; returns the new id or -1. */
static int add_variant(mlg_rewriter *rw, const mlg_node *old, const mlg_op_def *op, int input,
                       const mlg_attr attrs[MLG_MAX_ATTRS]) {
  mlg_node n = *old;
  n.op = op;
  n.inputs = &input;
  n.n_inputs = 1;
  memcpy(n.attrs, attrs, sizeof(n.attrs));
  int id = mlg_graph_add(&rw->builder, &n);
  if (id < 0) rw->failed = 1;
  return id;
}

static int is_view(const mlg_node *n) {
  return n->kind == MLG_NODE_OP && n->op && n->op->cls == MLG_OPC_VIEW && n->n_inputs == 1;
}

/* Whether old, applied to a value of type `in` instead of its own input, reads it in place. */
static int reads_in_place(const mlg_node *old, const mlg_type *in) {
  mlg_index_map m;
  return in->dtype == old->type.dtype && mlg_index_map_of(old, in, &m) == 0 &&
         mlg_index_map_is_identity(&m);
}

/* The new id that old node i simplifies to, a fresh node built for it, or -1 for "copy as is"
 * (also on allocation failure, which sets rw->failed). */
static int simplify(mlg_rewriter *rw, int i) {
  const mlg_node *old = &rw->src->nodes[i];
  if (old->kind != MLG_NODE_OP || !old->op || old->n_inputs < 1) return -1;
  const mlg_op_def *op = old->op;
  const mlg_algebra *alg = &op->algebra;
  const mlg_graph *built = rw->builder.graph;
  int a = rw->map[old->inputs[0]];
  int b = old->n_inputs > 1 ? rw->map[old->inputs[1]] : -1;
  if (a < 0 || (old->n_inputs > 1 && b < 0)) return -1;
  const mlg_node *na = &built->nodes[a];
  const mlg_node *nb = b >= 0 ? &built->nodes[b] : NULL;

  if (old->n_inputs == 2) {
    /* x op e with e the identity element; the result must be x exactly, type included. */
    if ((alg->identity_sides & MLG_ID_RIGHT) && mlg_type_equal(&old->type, &na->type) &&
        const_all(nb, alg->identity))
      return a;
    if ((alg->identity_sides & MLG_ID_LEFT) && mlg_type_equal(&old->type, &nb->type) &&
        const_all(na, alg->identity))
      return b;
    return -1;
  }
  if (old->n_inputs != 1) return -1;
  int same_op = na->kind == MLG_NODE_OP && na->op == op && na->n_inputs == 1;

  if (alg->involution && same_op) return na->inputs[0];
  if (mlg_node_is_index(old) && reads_in_place(old, &na->type)) return a;
  if (alg->compose && same_op) {
    mlg_attr attrs[MLG_MAX_ATTRS];
    if (alg->compose(old, na, attrs) == 0) {
      int x = na->inputs[0];
      mlg_node composed = *old;
      memcpy(composed.attrs, attrs, sizeof attrs);
      if (reads_in_place(&composed, &built->nodes[x].type)) return x;
      return add_variant(rw, old, op, x, attrs);
    }
  }

  if (is_view(old) && is_view(na) && old->type.rank <= MLG_MAX_ATTR_INTS) {
    /* Views only rename the shape of the same bytes: a chain is one reshape of its root. */
    int x = na->inputs[0];
    if (mlg_type_equal(&old->type, &built->nodes[x].type)) return x;
    mlg_attr shape[MLG_MAX_ATTRS] = {{.kind = MLG_ATTR_INTS, .n = old->type.rank}};
    for (int d = 0; d < old->type.rank; d++) shape[0].ints[d] = old->type.dims[d];
    return add_variant(rw, old, &mlg_op_reshape, x, shape);
  }
  return -1;
}

mlg_graph *mlg_pass_simplify_n(const mlg_graph *g, int *out_rewrites) {
  mlg_rewriter rw;
  int rewrites = 0;
  if (out_rewrites) *out_rewrites = 0;
  if (mlg_rewriter_init(&rw, g) != 0) return NULL;
  for (int i = 0; i < g->n_nodes && !rw.failed; i++) {
    int id = simplify(&rw, i);
    if (id >= 0) {
      rw.map[i] = id;
      rewrites++;
    } else if (!rw.failed) {
      mlg_rewriter_copy(&rw, i);
    }
  }
  if (out_rewrites) *out_rewrites = rewrites;
  return mlg_rewriter_finish(&rw);
}

mlg_graph *mlg_pass_simplify(const mlg_graph *g) { return mlg_pass_simplify_n(g, NULL); }

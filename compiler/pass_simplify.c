/* pass_simplify.c — algebraic simplification, only with identities that hold for every IEEE
 * value (inf and NaN included):
 *   x * 1, 1 * x, x / 1         → x
 *   x + 0, 0 + x, x - 0         → x   (the only difference: -0 + +0 is +0, equal to -0)
 *   neg(neg(x))                 → x
 *   transpose(x, identity)      → x
 *   transpose(transpose(x, p), q) → transpose(x, p∘q), or x when that is the identity
 *   view(x) of x's own shape    → x   (reshape, flatten, squeeze, unsqueeze)
 *   view(view(x))               → reshape(x, final shape)
 * where "1" and "0" are consts whose every element is exactly that value and the result's type
 * equals x's (a broadcasting const that widens x is kept). Not done, because they are false for
 * inf or NaN: x * 0 → 0, x - x → 0, x / x → 1. A replaced node that was an output makes its
 * replacement the output (possibly an input, param or const; lowering copies those).
 * Each node is matched against the nodes already rebuilt, so chains collapse in one run. */
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

/* Appends `old` with a different op, inputs and attributes; returns the new id or -1. */
static int add_variant(mlg_rewriter *rw, const mlg_node *old, const mlg_op_def *op, int input,
                       const mlg_attr *attr0) {
  mlg_node n = *old;
  n.op = op;
  n.inputs = &input;
  n.n_inputs = 1;
  memset(n.attrs, 0, sizeof(n.attrs));
  n.attrs[0] = *attr0;
  int id = mlg_graph_add(&rw->builder, &n);
  if (id < 0) rw->failed = 1;
  return id;
}

static int is_identity(const mlg_attr *perm) {
  for (int d = 0; d < perm->n; d++)
    if (perm->ints[d] != d) return 0;
  return 1;
}

static int valid_perm(const mlg_attr *perm, int rank) {
  if (perm->kind != MLG_ATTR_INTS || perm->n != rank) return 0;
  for (int d = 0; d < rank; d++)
    if (perm->ints[d] < 0 || perm->ints[d] >= rank) return 0;
  return 1;
}

static int is_view(const mlg_node *n) {
  return n->kind == MLG_NODE_OP && n->op && n->op->cls == MLG_OPC_VIEW && n->n_inputs == 1;
}

/* The new id that old node i simplifies to, a fresh node built for it, or -1 for "copy as is"
 * (also on allocation failure, which sets rw->failed). */
static int simplify(mlg_rewriter *rw, int i) {
  const mlg_node *old = &rw->src->nodes[i];
  if (old->kind != MLG_NODE_OP || !old->op || old->n_inputs < 1) return -1;
  const mlg_op_def *op = old->op;
  const mlg_graph *built = rw->builder.graph;
  int a = rw->map[old->inputs[0]];
  int b = old->n_inputs > 1 ? rw->map[old->inputs[1]] : -1;
  if (a < 0 || (old->n_inputs > 1 && b < 0)) return -1;
  const mlg_node *na = &built->nodes[a];
  const mlg_node *nb = b >= 0 ? &built->nodes[b] : NULL;

  if (old->n_inputs == 2) {
    /* x op c with c the identity element; the result must be x exactly, type included. */
    int keep_a = mlg_type_equal(&old->type, &na->type);
    int keep_b = mlg_type_equal(&old->type, &nb->type);
    if (op == &mlg_op_mul) {
      if (keep_a && const_all(nb, 1.0f)) return a;
      if (keep_b && const_all(na, 1.0f)) return b;
    } else if (op == &mlg_op_div) {
      if (keep_a && const_all(nb, 1.0f)) return a;
    } else if (op == &mlg_op_add) {
      if (keep_a && const_all(nb, 0.0f)) return a;
      if (keep_b && const_all(na, 0.0f)) return b;
    } else if (op == &mlg_op_sub) {
      if (keep_a && const_all(nb, 0.0f)) return a;
    }
    return -1;
  }
  if (old->n_inputs != 1) return -1;

  if (op == &mlg_op_neg) {
    if (na->kind == MLG_NODE_OP && na->op == &mlg_op_neg && na->n_inputs == 1) return na->inputs[0];
    return -1;
  }

  if (op == &mlg_op_transpose) {
    const mlg_attr *q = &old->attrs[0];
    if (!valid_perm(q, old->type.rank)) return -1;
    if (is_identity(q)) return a;
    if (na->kind == MLG_NODE_OP && na->op == &mlg_op_transpose && na->n_inputs == 1 &&
        valid_perm(&na->attrs[0], na->type.rank)) {
      /* z = T(T(x, p), q): z.dims[i] = x.dims[p[q[i]]]. */
      mlg_attr r = {.kind = MLG_ATTR_INTS, .n = q->n};
      for (int d = 0; d < q->n; d++) r.ints[d] = na->attrs[0].ints[q->ints[d]];
      int x = na->inputs[0];
      if (is_identity(&r)) return x;
      return add_variant(rw, old, &mlg_op_transpose, x, &r);
    }
    return -1;
  }

  if (is_view(old)) {
    if (mlg_type_equal(&old->type, &na->type)) return a;
    if (is_view(na) && old->type.rank <= MLG_MAX_ATTR_INTS) {
      /* Views only rename the shape of the same bytes: a chain is one reshape of its root. */
      int x = na->inputs[0];
      if (mlg_type_equal(&old->type, &built->nodes[x].type)) return x;
      mlg_attr shape = {.kind = MLG_ATTR_INTS, .n = old->type.rank};
      for (int d = 0; d < old->type.rank; d++) shape.ints[d] = old->type.dims[d];
      return add_variant(rw, old, &mlg_op_reshape, x, &shape);
    }
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

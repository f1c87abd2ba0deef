/* build.c — appending ops from an op's own hooks (op.h mlg_op_builder): what gradients and
 * composite ops are made of, and the small pieces many of them share (op_util.h: sums back to
 * a broadcast operand's shape, reshapes, expansions, elementwise shorthands). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "op_defs.h"
#include "op_util.h"

int mlg_build_fail(mlg_op_builder *ob, const char *fmt, ...) {
  if (!ob->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ob->error, sizeof ob->error, fmt, ap);
    va_end(ap);
  }
  ob->failed = 1;
  return -1;
}

mlg_type mlg_build_type(const mlg_op_builder *ob, int node) { return ob->graph->graph->nodes[node].type; }

static int add_node(mlg_op_builder *ob, const mlg_node *n) {
  int id = mlg_graph_add(ob->graph, n);
  if (id < 0) return mlg_build_fail(ob, "out of memory");
  return id;
}

int mlg_build_op(mlg_op_builder *ob, const mlg_op_def *def, const int *inputs, int n_inputs,
                 const mlg_attr *attrs) {
  if (ob->failed) return -1;
  if (n_inputs < def->min_inputs || n_inputs > def->max_inputs || n_inputs > 64)
    return mlg_build_fail(ob, "%s: %d inputs", def->name, n_inputs);
  mlg_type types[64];
  for (int i = 0; i < n_inputs; i++) {
    if (inputs[i] < 0 || inputs[i] >= ob->graph->graph->n_nodes)
      return mlg_build_fail(ob, "%s: input %d is no node", def->name, i);
    types[i] = mlg_build_type(ob, inputs[i]);
  }
  mlg_attr a[MLG_MAX_ATTRS];
  for (int k = 0; k < MLG_MAX_ATTRS; k++)
    a[k] = k < def->n_attrs ? (attrs && attrs[k].kind != MLG_ATTR_NONE ? attrs[k] : def->attrs[k].deflt)
                            : (mlg_attr){.kind = MLG_ATTR_NONE};
  mlg_shape_error err = {.input = -1, .attr = -1};
  mlg_node n = {.kind = MLG_NODE_OP, .op = def, .n_inputs = n_inputs, .inputs = inputs,
                .span = ob->span};
  if (def->infer(types, n_inputs, a, &n.type, &err) || mlg_check_type_limits(&n.type, &err))
    return mlg_build_fail(ob, "%s: %s", def->name, err.msg[0] ? err.msg : "invalid arguments");
  if (def->decompose) return def->decompose(ob, inputs, n_inputs, a);
  memcpy(n.attrs, a, sizeof a);
  return add_node(ob, &n);
}

int mlg_build_const(mlg_op_builder *ob, const mlg_type *type, const void *data) {
  if (ob->failed) return -1;
  mlg_node n = {.kind = MLG_NODE_CONST, .type = *type, .data = data, .span = ob->span};
  return add_node(ob, &n);
}

int mlg_build_scalar(mlg_op_builder *ob, double value) {
  float f = (float)value;
  mlg_type t = {.dtype = MLG_F32, .rank = 0};
  return mlg_build_const(ob, &t, &f);
}

/* ---- attributes ---- */

mlg_attr mlg_attr_of_int(int64_t v) { return (mlg_attr){.kind = MLG_ATTR_INT, .n = 1, .ints = {v}}; }

mlg_attr mlg_attr_of_float(double v) { return (mlg_attr){.kind = MLG_ATTR_FLOAT, .n = 1, .f = v}; }

mlg_attr mlg_attr_of_ints(int n, const int64_t *v) {
  mlg_attr a = {.kind = MLG_ATTR_INTS, .n = n};
  for (int i = 0; i < n && i < MLG_MAX_ATTR_INTS; i++) a.ints[i] = v[i];
  return a;
}

/* ---- shorthands ---- */

int mlg_b1(mlg_op_builder *ob, const mlg_op_def *def, int x) {
  return x < 0 ? -1 : mlg_build_op(ob, def, &x, 1, NULL);
}

int mlg_b2(mlg_op_builder *ob, const mlg_op_def *def, int a, int b) {
  int in[2] = {a, b};
  return a < 0 || b < 0 ? -1 : mlg_build_op(ob, def, in, 2, NULL);
}

int mlg_b_scale(mlg_op_builder *ob, int x, double c) {
  return mlg_b2(ob, &mlg_op_mul, x, mlg_build_scalar(ob, c));
}

int mlg_b_reshape(mlg_op_builder *ob, int x, int rank, const int64_t *dims) {
  if (x < 0) return -1;
  mlg_type t = mlg_build_type(ob, x);
  if (t.rank == rank && memcmp(t.dims, dims, sizeof(int64_t) * (size_t)rank) == 0) return x;
  mlg_attr a[MLG_MAX_ATTRS] = {mlg_attr_of_ints(rank, dims)};
  if (rank == 0) a[0] = (mlg_attr){.kind = MLG_ATTR_INTS, .n = 0};
  return mlg_build_op(ob, &mlg_op_reshape, &x, 1, a);
}

int mlg_b_reshape_as(mlg_op_builder *ob, int x, mlg_type t) {
  return mlg_b_reshape(ob, x, t.rank, t.dims);
}

int mlg_b_transpose(mlg_op_builder *ob, int x, const int *perm) {
  if (x < 0) return -1;
  int rank = mlg_build_type(ob, x).rank, identity = 1;
  int64_t p[MLG_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    p[d] = perm[d];
    identity &= perm[d] == d;
  }
  if (identity) return x;
  mlg_attr a[MLG_MAX_ATTRS] = {mlg_attr_of_ints(rank, p)};
  return mlg_build_op(ob, &mlg_op_transpose, &x, 1, a);
}

int mlg_b_reduce(mlg_op_builder *ob, const mlg_op_def *def, int x, int n_axes, const int64_t *axes,
                 int keepdims) {
  if (x < 0) return -1;
  if (n_axes == 0) return x;
  mlg_attr a[MLG_MAX_ATTRS] = {mlg_attr_of_ints(n_axes, axes), mlg_attr_of_int(keepdims)};
  return mlg_build_op(ob, def, &x, 1, a);
}

int mlg_b_sum_to(mlg_op_builder *ob, int g, mlg_type t) {
  if (g < 0) return -1;
  mlg_type gt = mlg_build_type(ob, g);
  int rank = gt.rank, lead = rank - t.rank;
  if (lead < 0) return mlg_build_fail(ob, "internal error: a gradient of lower rank than its value");
  int64_t axes[MLG_MAX_RANK];
  int n = 0;
  for (int d = 0; d < rank; d++)
    if (d < lead || (t.dims[d - lead] == 1 && gt.dims[d] != 1)) axes[n++] = d;
  int s = mlg_b_reduce(ob, &mlg_op_sum, g, n, axes, 1);
  return mlg_b_reshape_as(ob, s, t);
}

int mlg_b_expand(mlg_op_builder *ob, int x, mlg_type t) {
  if (x < 0) return -1;
  mlg_type xt = mlg_build_type(ob, x);
  if (mlg_type_equal(&xt, &t)) return x;
  /* As NumPy: x's dims align with t's from the right; leading ones are added by a view. */
  int64_t dims[MLG_MAX_RANK];
  int lead = t.rank - xt.rank;
  for (int d = 0; d < t.rank; d++) dims[d] = d < lead ? 1 : xt.dims[d - lead];
  int v = mlg_b_reshape(ob, x, t.rank, dims);
  if (v < 0) return -1;
  if (memcmp(dims, t.dims, sizeof(int64_t) * (size_t)t.rank) == 0) return v;
  mlg_attr a[MLG_MAX_ATTRS] = {mlg_attr_of_ints(t.rank, t.dims)};
  return mlg_build_op(ob, &mlg_op_expand, &v, 1, a);
}

int mlg_b_unreduce(mlg_op_builder *ob, int dy, mlg_type x, int n_axes, const int64_t *axes) {
  if (dy < 0) return -1;
  int64_t dims[MLG_MAX_RANK];
  for (int d = 0; d < x.rank; d++) dims[d] = x.dims[d];
  for (int j = 0; j < n_axes; j++) dims[axes[j]] = 1;
  return mlg_b_expand(ob, mlg_b_reshape(ob, dy, x.rank, dims), x);
}

int mlg_view_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                 int *dx) {
  (void)node;
  if (needs[0]) dx[0] = mlg_b_reshape_as(ob, dy, mlg_build_type(ob, n->inputs[0]));
  return ob->failed ? -1 : 0;
}

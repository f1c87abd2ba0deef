/* transpose.c — transpose(x, perm=[...]): out.dims[i] = x.dims[perm[i]] (numpy.transpose,
 * ONNX Transpose). No perm reverses the dims. Normalized: perm explicit, non-negative. */
#include <string.h>

#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_PERM };

static int transpose_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                           mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  mlg_attr *perm = &attrs[A_PERM];
  if (perm->kind == MLG_ATTR_NONE) {
    perm->kind = MLG_ATTR_INTS;
    perm->n = x->rank;
    for (int i = 0; i < x->rank; i++) perm->ints[i] = x->rank - 1 - i;
  }
  if (perm->n != x->rank) {
    mlg_shape_errorf(err, -1, A_PERM, "perm has %d entries but the input has rank %d", perm->n, x->rank);
    return -1;
  }
  int seen[MLG_MAX_RANK] = { 0 };
  mlg_type t = { .dtype = x->dtype, .rank = x->rank };
  for (int i = 0; i < perm->n; i++) {
    int p = mlg_normalize_axis(perm->ints[i], x->rank);
    if (p < 0 || seen[p]) {
      mlg_shape_errorf(err, -1, A_PERM, "perm is not a permutation of 0..%d", x->rank - 1);
      return -1;
    }
    seen[p] = 1;
    perm->ints[i] = p;
    t.dims[i] = x->dims[p];
  }
  *out = t;
  return 0;
}

/* Output dim d is input dim perm[d], read whole. */
static int transpose_index(const mlg_node *n, mlg_index_map *map) {
  const mlg_attr *perm = mlg_attr_at(n, A_PERM);
  if (perm->kind != MLG_ATTR_INTS || perm->n != map->in_rank) return -1;
  map->kind = MLG_INDEX_AXES;
  for (int d = 0; d < map->rank; d++) {
    map->axis[d] = (int)perm->ints[d];
    map->start[d] = 0;
    map->step[d] = 1;
  }
  return 0;
}

/* transpose(transpose(x, p), q) = transpose(x, r) with r[i] = p[q[i]]. */
static int transpose_compose(const mlg_node *outer, const mlg_node *inner,
                             mlg_attr attrs[MLG_MAX_ATTRS]) {
  const mlg_attr *q = mlg_attr_at(outer, A_PERM), *p = mlg_attr_at(inner, A_PERM);
  if (q->kind != MLG_ATTR_INTS || p->kind != MLG_ATTR_INTS || q->n != p->n) return -1;
  mlg_attr r = {.kind = MLG_ATTR_INTS, .n = q->n};
  for (int d = 0; d < q->n; d++) {
    if (q->ints[d] < 0 || q->ints[d] >= p->n) return -1;
    r.ints[d] = p->ints[q->ints[d]];
  }
  memset(attrs, 0, sizeof(mlg_attr) * MLG_MAX_ATTRS);
  attrs[A_PERM] = r;
  return 0;
}

/* Alone (not folded into a reader): one transpose kernel over the input. */
static int transpose_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  mlg_index_map map;
  if (mlg_node_index_map(ctx->graph, node, &map))
    return mlg_lower_fail(ctx, node, "transpose: perm is not normalized");
  kt_transpose_desc d = {.rank = map.in_rank,
                         .dtype = mlg_kir_scalar(ctx->graph->nodes[n->inputs[0]].type.dtype)};
  for (int k = 0; k < map.in_rank; k++) {
    d.shape[k] = map.in_dims[k];
    d.perm[k] = map.axis[k];
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_transpose(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

const mlg_op_def mlg_op_transpose = {
  .name = "transpose",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "perm", .kind = MLG_ATTR_INTS },
  },
  .infer = transpose_infer,
  .lower = transpose_lower,
  .index = transpose_index,
  .algebra = { .compose = transpose_compose },
  .input_names = "x",
  .shape_doc = "dims[i] = x.dims[perm[i]]",
  .doc = "permute dims (default: reverse them)",
};

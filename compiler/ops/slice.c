/* slice.c — slice(x, starts=, ends=, axes=, steps=) with ONNX Slice semantics: negative
 * starts/ends count from the end, then clamp to the dim ([0, d] for positive steps, [0, d-1]
 * for starts and [-1, d-1] for ends with negative steps); axes default to 0..n-1, steps to 1.
 * Normalized to full rank: starts, ends, steps have one absolute entry per dim (an end before
 * the front, for a negative step, as -(dim+1)) and axes is [0, 1, ..., rank-1]; element i along
 * a dim reads starts + i * steps. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_STARTS, A_ENDS, A_AXES, A_STEPS };

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int slice_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  int n = attrs[A_STARTS].n, r = x->rank;
  if (attrs[A_ENDS].n != n) {
    mlg_shape_errorf(err, -1, A_ENDS, "starts has %d entries but ends has %d", n, attrs[A_ENDS].n);
    return -1;
  }
  mlg_attr axes = attrs[A_AXES];
  if (axes.kind == MLG_ATTR_NONE) {
    if (n > r) {
      mlg_shape_errorf(err, -1, A_STARTS, "starts has %d entries but the input has rank %d", n, r);
      return -1;
    }
    axes = (mlg_attr){ .kind = MLG_ATTR_INTS, .n = n };
    for (int i = 0; i < n; i++) axes.ints[i] = i;
  }
  if (axes.n != n) {
    mlg_shape_errorf(err, -1, A_AXES, "axes has %d entries but starts has %d", axes.n, n);
    return -1;
  }
  if (attrs[A_STEPS].kind != MLG_ATTR_NONE && attrs[A_STEPS].n != n) {
    mlg_shape_errorf(err, -1, A_STEPS, "steps has %d entries but starts has %d", attrs[A_STEPS].n, n);
    return -1;
  }
  int64_t st[MLG_MAX_RANK], en[MLG_MAX_RANK], sp[MLG_MAX_RANK];
  int seen[MLG_MAX_RANK] = { 0 };
  for (int d = 0; d < r; d++) {
    st[d] = 0;
    en[d] = x->dims[d];
    sp[d] = 1;
  }
  for (int i = 0; i < n; i++) {
    int d = mlg_normalize_axis(axes.ints[i], r);
    if (d < 0 || seen[d]) {
      mlg_shape_errorf(err, -1, A_AXES, d < 0 ? "axis %lld is out of range for rank %d"
                                              : "axis %lld is listed twice (rank %d)",
                       (long long)axes.ints[i], r);
      return -1;
    }
    seen[d] = 1;
    int64_t dim = x->dims[d];
    int64_t step = attrs[A_STEPS].kind == MLG_ATTR_NONE ? 1 : attrs[A_STEPS].ints[i];
    if (step == 0 || step < -MLG_DIM_LIMIT || step > MLG_DIM_LIMIT) {
      mlg_shape_errorf(err, -1, A_STEPS, "step %lld is invalid (must be nonzero, |step| < 2^31)",
                       (long long)step);
      return -1;
    }
    int64_t s = attrs[A_STARTS].ints[i], e = attrs[A_ENDS].ints[i];
    if (s < 0) s = s < -dim ? -1 : s + dim; /* anything below -dim clamps to the front below */
    if (e < 0) e = e < -dim ? -1 : e + dim;
    if (step > 0) {
      s = clamp64(s, 0, dim);
      e = clamp64(e, 0, dim);
    } else {
      s = clamp64(s, 0, dim - 1);
      e = clamp64(e, -1, dim - 1);
    }
    st[d] = s;
    en[d] = e;
    sp[d] = step;
  }
  mlg_type t = { .dtype = x->dtype, .rank = r };
  for (int d = 0; d < r; d++) {
    int64_t len = sp[d] > 0 ? (en[d] - st[d] + sp[d] - 1) / sp[d]
                            : (st[d] - en[d] + (-sp[d]) - 1) / (-sp[d]);
    if (len < 1) {
      mlg_shape_errorf(err, -1, -1, "the slice of axis %d is empty (start %lld, end %lld, step %lld)",
                       d, (long long)st[d], (long long)en[d], (long long)sp[d]);
      return -1;
    }
    t.dims[d] = len;
  }
  mlg_attr *outs[4] = { &attrs[A_STARTS], &attrs[A_ENDS], &attrs[A_AXES], &attrs[A_STEPS] };
  for (int k = 0; k < 4; k++) {
    outs[k]->kind = MLG_ATTR_INTS;
    outs[k]->n = r;
  }
  for (int d = 0; d < r; d++) {
    attrs[A_STARTS].ints[d] = st[d];
    /* "Before the front" (negative steps) is stored as -(dim+1), which reads back as itself
     * when the normalized attributes are printed as mlg text and checked again (-1 would be
     * the last element). */
    attrs[A_ENDS].ints[d] = en[d] < 0 ? -x->dims[d] - 1 : en[d];
    attrs[A_AXES].ints[d] = d;
    attrs[A_STEPS].ints[d] = sp[d];
  }
  *out = t;
  return 0;
}

/* Output dim d reads input dim d from starts[d] by steps[d] (normalized to full rank). */
static int slice_index(const mlg_node *n, mlg_index_map *map) {
  const mlg_attr *starts = mlg_attr_at(n, A_STARTS), *steps = mlg_attr_at(n, A_STEPS);
  if (starts->kind != MLG_ATTR_INTS || starts->n != map->in_rank || map->rank != map->in_rank)
    return -1;
  map->kind = MLG_INDEX_AXES;
  for (int d = 0; d < map->rank; d++) {
    map->axis[d] = d;
    map->start[d] = starts->ints[d];
    map->step[d] = steps->kind == MLG_ATTR_INTS && steps->n == map->rank ? steps->ints[d] : 1;
  }
  return 0;
}

/* Alone (not folded into a reader): one slice kernel over the input. */
static int slice_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  mlg_index_map map;
  if (mlg_node_index_map(ctx->graph, node, &map))
    return mlg_lower_fail(ctx, node, "slice: attributes are not normalized to rank %d",
                          ctx->graph->nodes[n->inputs[0]].type.rank);
  kt_slice_desc d = {.rank = map.rank,
                     .dtype = mlg_kir_scalar(ctx->graph->nodes[n->inputs[0]].type.dtype)};
  for (int k = 0; k < map.rank; k++) {
    d.in_shape[k] = map.in_dims[k];
    d.start[k] = map.start[k];
    d.step[k] = map.step[k];
    d.out_shape[k] = map.dims[k];
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_slice(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* Reads only the elements it keeps. */
static void slice_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->bytes = 2 * mlg_type_bytes(&g->nodes[node].type);
}

const mlg_op_def mlg_op_slice = {
  .name = "slice",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 4,
  .attrs = {
    { .name = "starts", .kind = MLG_ATTR_INTS, .required = 1 },
    { .name = "ends", .kind = MLG_ATTR_INTS, .required = 1 },
    { .name = "axes", .kind = MLG_ATTR_INTS },
    { .name = "steps", .kind = MLG_ATTR_INTS },
  },
  .infer = slice_infer,
  .lower = slice_lower,
  .cost = slice_cost,
  .index = slice_index,
  .input_names = "x",
  .shape_doc = "the number of indices each range takes, per dim",
  .doc = "strided sub-range along axes (ONNX Slice)",
};

/* gather.c — gather(x, indices, axis=0) as ONNX Gather / numpy.take: out shape is
 * x.dims[:axis] + indices.dims + x.dims[axis+1:]; x of any dtype, indices i32 or i64 (stored
 * as i32; negative counts from the end). Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_AXIS };

static int gather_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  const mlg_type *x = &in[0], *idx = &in[1];
  if (idx->dtype != MLG_I32 && idx->dtype != MLG_I64) {
    mlg_shape_errorf(err, 1, -1, "input 1 (the indices) must be i32 or i64, got %s (convert it "
                     "with cast(..., dtype=i32))", mlg_dtype_name(idx->dtype));
    return -1;
  }
  int axis = mlg_normalize_axis_attr(attrs, A_AXIS, x, err);
  if (axis < 0) return -1;
  int r = x->rank - 1 + idx->rank;
  if (r > MLG_MAX_RANK) {
    mlg_shape_errorf(err, -1, -1, "result rank %d exceeds the limit of %d", r, MLG_MAX_RANK);
    return -1;
  }
  mlg_type t = { .dtype = x->dtype, .rank = 0 };
  for (int i = 0; i < axis; i++) t.dims[t.rank++] = x->dims[i];
  for (int i = 0; i < idx->rank; i++) t.dims[t.rank++] = idx->dims[i];
  for (int i = axis + 1; i < x->rank; i++) t.dims[t.rank++] = x->dims[i];
  *out = t;
  return 0;
}

/* One work-item per output element (shape.h kt_gather). */
static int gather_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *idx = &ctx->graph->nodes[n->inputs[1]].type;
  int axis = mlg_normalize_axis(mlg_attr_int(n, A_AXIS), x->rank);
  if (axis < 0) return mlg_lower_fail(ctx, node, "gather: axis out of range");
  kt_gather_desc d = {.rank = x->rank, .axis = axis, .n_indices = mlg_type_numel(idx),
                      .dtype = mlg_kir_scalar(x->dtype), .index_dtype = mlg_kir_scalar(idx->dtype)};
  for (int k = 0; k < x->rank; k++) d.shape[k] = x->dims[k];
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_gather(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 2);
}

/* Reads the indices and only the entries they select. */
static void gather_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  out->bytes = 2 * mlg_type_bytes(&n->type) + mlg_type_bytes(&g->nodes[n->inputs[1]].type);
}

/* Indices known at compile time must lie in [-d, d), d = x.dims[axis]: at run time the kernel
 * clamps them instead (docs/ops.md), which would hide the mistake. */
static int gather_check_values(const mlg_type *in, const void *const *in_data, int n_in,
                               const mlg_attr *attrs, mlg_shape_error *err) {
  const int32_t *idx = n_in > 1 ? in_data[1] : NULL;
  if (!idx) return 0;
  int64_t d = in[0].dims[attrs[A_AXIS].ints[0]], n = mlg_type_numel(&in[1]);
  for (int64_t i = 0; i < n; i++) {
    if (idx[i] >= -d && idx[i] < d) continue;
    char at[128];
    size_t used = 0;
    int64_t rest = i;
    int64_t coord[MLG_MAX_RANK];
    for (int k = in[1].rank - 1; k >= 0; k--) {
      coord[k] = rest % in[1].dims[k];
      rest /= in[1].dims[k];
    }
    for (int k = 0; k < in[1].rank && used < sizeof at; k++)
      used += (size_t)snprintf(at + used, sizeof at - used, "%s%lld", k ? ", " : "",
                               (long long)coord[k]);
    mlg_shape_errorf(err, 1, -1,
                     "index %d at position [%s] is out of range for axis %lld of size %lld "
                     "(valid: %lld to %lld)",
                     (int)idx[i], at, (long long)attrs[A_AXIS].ints[0], (long long)d,
                     (long long)-d, (long long)(d - 1));
    return -1;
  }
  return 0;
}

const mlg_op_def mlg_op_gather = {
  .name = "gather",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 2,
  .max_inputs = 2,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
  },
  .infer = gather_infer,
  .check_values = gather_check_values,
  .lower = gather_lower,
  .cost = gather_cost,
  .input_names = "x, indices",
  .shape_doc = "x.dims[:axis] + indices.dims + x.dims[axis+1:]",
  .doc = "take entries along axis by i32 indices (ONNX Gather)",
};

/* concat.c — concat([a, b, ...], axis=): joins tensors of one dtype and rank along axis; every
 * other dim must match (ONNX Concat, torch.cat). Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_AXIS };

static int concat_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  const mlg_type *a = &in[0];
  char s[128], s2[128];
  if (a->rank < 1) {
    mlg_shape_errorf(err, 0, -1, "cannot concatenate scalars");
    return -1;
  }
  int axis = mlg_normalize_axis(attrs[A_AXIS].ints[0], a->rank);
  if (axis < 0) {
    mlg_shape_errorf(err, -1, A_AXIS, "axis %lld is out of range for rank %d",
                     (long long)attrs[A_AXIS].ints[0], a->rank);
    return -1;
  }
  attrs[A_AXIS].ints[0] = axis;
  mlg_type t = *a;
  for (int i = 1; i < n_in; i++) {
    const mlg_type *b = &in[i];
    int ok = b->dtype == a->dtype && b->rank == a->rank;
    for (int d = 0; ok && d < a->rank; d++)
      if (d != axis && b->dims[d] != a->dims[d]) ok = 0;
    if (!ok) {
      mlg_shape_errorf(err, i, -1, "input %d is %s, which does not match %s outside axis %d", i,
                       mlg_type_format(b, s, sizeof s), mlg_type_format(a, s2, sizeof s2), axis);
      return -1;
    }
    t.dims[axis] += b->dims[axis]; /* each term < 2^31, at most 256 terms */
  }
  *out = t;
  return 0;
}

/* One kernel for all inputs (shape.h kt_concat). */
static int concat_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  int rank = n->type.rank;
  int axis = mlg_normalize_axis(mlg_attr_int(n, A_AXIS), rank);
  if (axis < 0) return mlg_lower_fail(ctx, node, "concat: axis out of range");
  if (n->n_inputs > KT_CONCAT_MAX_INPUTS)
    return mlg_lower_fail(ctx, node, "concat: %d inputs; at most %d are supported", n->n_inputs,
                          KT_CONCAT_MAX_INPUTS);
  kt_concat_desc d = {.rank = rank, .axis = axis, .n_inputs = n->n_inputs,
                      .dtype = mlg_kir_scalar(n->type.dtype)};
  for (int k = 0; k < rank; k++) d.shape[k] = n->type.dims[k];
  for (int k = 0; k < n->n_inputs; k++)
    d.axis_size[k] = ctx->graph->nodes[n->inputs[k]].type.dims[axis];
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_concat(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

const mlg_op_def mlg_op_concat = {
  .name = "concat",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 256,
  .list_input = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .required = 1 },
  },
  .infer = concat_infer,
  .lower = concat_lower,
  .input_names = "[a, b, ...]",
  .shape_doc = "the inputs joined along axis",
  .doc = "join tensors along axis",
};

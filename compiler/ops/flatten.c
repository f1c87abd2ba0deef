/* flatten.c — flatten(x, axis=1) → 2-D [prod(dims[:axis]), prod(dims[axis:])] (ONNX Flatten).
 * axis in [-rank, rank]; normalized to [0, rank]. */
#include "op_util.h"

enum { A_AXIS };

static int flatten_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  int64_t axis = attrs[A_AXIS].ints[0];
  if (axis < -(int64_t)x->rank || axis > x->rank) {
    mlg_shape_errorf(err, -1, A_AXIS, "axis %lld is out of range [%d, %d]", (long long)axis, -x->rank,
                     x->rank);
    return -1;
  }
  if (axis < 0) axis += x->rank;
  attrs[A_AXIS].ints[0] = axis;
  /* Both products are at most numel(x) < 2^40. */
  int64_t a = 1, b = 1;
  for (int i = 0; i < x->rank; i++) {
    if (i < axis) a *= x->dims[i];
    else b *= x->dims[i];
  }
  *out = (mlg_type){ .dtype = x->dtype, .rank = 2, .dims = { a, b } };
  return 0;
}

const mlg_op_def mlg_op_flatten = {
  .name = "flatten",
  .cls = MLG_OPC_VIEW,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) },
  },
  .infer = flatten_infer,
  .index = mlg_index_same_order,
  .input_names = "x",
  .shape_doc = "[prod(dims[:axis]), prod(dims[axis:])]",
  .doc = "to 2-D: [prod(dims before axis), prod(dims from axis)]",
};

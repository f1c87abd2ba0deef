/* gather.c — gather(x, indices, axis=0) as ONNX Gather / numpy.take: out shape is
 * x.dims[:axis] + indices.dims + x.dims[axis+1:]; indices are i32 (negative counts from the
 * end). Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"

static int gather_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  const mlg_type *x = &in[0], *idx = &in[1];
  char s[128];
  if (mlg_require_dtype(idx, 1, MLG_I32, err)) return -1;
  int axis = mlg_normalize_axis(attrs[0].ints[0], x->rank);
  if (axis < 0) {
    mlg_shape_errorf(err, -1, 0, "axis %lld is out of range for %s", (long long)attrs[0].ints[0],
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  attrs[0].ints[0] = axis;
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
  .lower = mlg_lower_gather,
  .doc = "take entries along axis by i32 indices (ONNX Gather)",
};

/* concat.c — concat([a, b, ...], axis=): joins tensors of one dtype and rank along axis; every
 * other dim must match (ONNX Concat, torch.cat). Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"

static int concat_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  const mlg_type *a = &in[0];
  char s[128], s2[128];
  if (a->rank < 1) {
    mlg_shape_errorf(err, 0, -1, "cannot concatenate scalars");
    return -1;
  }
  int axis = mlg_normalize_axis(attrs[0].ints[0], a->rank);
  if (axis < 0) {
    mlg_shape_errorf(err, -1, 0, "axis %lld is out of range for rank %d",
                     (long long)attrs[0].ints[0], a->rank);
    return -1;
  }
  attrs[0].ints[0] = axis;
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
  .lower = mlg_lower_concat,
  .doc = "join tensors along axis",
};

/* unsqueeze.c — unsqueeze(x, axes=): inserts dims of size 1 at the listed positions of the
 * output (rank + len(axes)), as ONNX Unsqueeze. Normalized: axes sorted, non-negative. */
#include "op_util.h"

enum { A_AXES };

static int unsqueeze_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                           mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  mlg_attr *axes = &attrs[A_AXES];
  int r = x->rank + axes->n;
  if (r > MLG_MAX_RANK) {
    mlg_shape_errorf(err, -1, A_AXES, "result rank %d exceeds the limit of %d", r, MLG_MAX_RANK);
    return -1;
  }
  if (mlg_normalize_axes(axes, A_AXES, r, err)) return -1;
  mlg_type t = { .dtype = x->dtype, .rank = r };
  for (int i = 0, j = 0, k = 0; i < r; i++) {
    if (j < axes->n && axes->ints[j] == i) {
      t.dims[i] = 1;
      j++;
    } else {
      t.dims[i] = x->dims[k++];
    }
  }
  *out = t;
  return 0;
}

const mlg_op_def mlg_op_unsqueeze = {
  .name = "unsqueeze",
  .cls = MLG_OPC_VIEW,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axes", .kind = MLG_ATTR_INTS, .required = 1 },
  },
  .infer = unsqueeze_infer,
  .index = mlg_index_same_order,
  .input_names = "x",
  .shape_doc = "x with 1s inserted at axes",
  .doc = "insert dims of size 1",
};

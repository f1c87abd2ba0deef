/* squeeze.c — squeeze(x, axes=): removes the listed dims, each of which must be 1; without axes
 * removes every dim of size 1 (ONNX Squeeze). Normalized: axes sorted, non-negative, explicit. */
#include "op_util.h"

enum { A_AXES };

static int squeeze_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  mlg_attr *axes = &attrs[A_AXES];
  if (axes->kind == MLG_ATTR_NONE) {
    axes->kind = MLG_ATTR_INTS;
    axes->n = 0;
    for (int i = 0; i < x->rank; i++)
      if (x->dims[i] == 1) axes->ints[axes->n++] = i;
  }
  if (mlg_normalize_axes(axes, A_AXES, x->rank, err)) return -1;
  mlg_type t = { .dtype = x->dtype, .rank = 0 };
  for (int i = 0, j = 0; i < x->rank; i++) {
    if (j < axes->n && axes->ints[j] == i) {
      j++;
      if (x->dims[i] != 1) {
        mlg_shape_errorf(err, -1, A_AXES, "cannot squeeze axis %d of size %lld", i, (long long)x->dims[i]);
        return -1;
      }
      continue;
    }
    t.dims[t.rank++] = x->dims[i];
  }
  *out = t;
  return 0;
}

const mlg_op_def mlg_op_squeeze = {
  .name = "squeeze",
  .cls = MLG_OPC_VIEW,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axes", .kind = MLG_ATTR_INTS },
  },
  .infer = squeeze_infer,
  .index = mlg_index_same_order,
  .input_names = "x",
  .shape_doc = "x without the squeezed dims",
  .doc = "remove dims of size 1",
};

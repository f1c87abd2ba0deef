/* reshape.c — reshape(x, shape=[...]): same elements in C order, new dims. One entry may be
 * -1 (inferred); every other entry must be >= 1. Unlike ONNX, 0 does not mean "copy this
 * dim". Normalized: the -1 replaced by its value. */
#include "op_util.h"

enum { A_SHAPE };

static int reshape_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  mlg_attr *shape = &attrs[A_SHAPE];
  char s[128];
  int infer_at = -1;
  int64_t known = 1;
  for (int i = 0; i < shape->n; i++) {
    int64_t d = shape->ints[i];
    if (d == -1) {
      if (infer_at >= 0) {
        mlg_shape_errorf(err, -1, A_SHAPE, "only one dimension may be -1");
        return -1;
      }
      infer_at = i;
    } else if (d < 1 || d > MLG_DIM_LIMIT) {
      mlg_shape_errorf(err, -1, A_SHAPE, "dimension %d is %lld; each must be >= 1 (or -1 once)", i,
                       (long long)d);
      return -1;
    } else if (__builtin_mul_overflow(known, d, &known) || known >= MLG_NUMEL_LIMIT) {
      mlg_shape_errorf(err, -1, A_SHAPE, "the new shape has too many elements");
      return -1;
    }
  }
  int64_t numel = mlg_type_numel(x);
  if (infer_at >= 0) {
    if (numel % known != 0) {
      mlg_shape_errorf(err, -1, A_SHAPE, "cannot infer the -1: %lld elements of %s are not divisible by %lld",
                       (long long)numel, mlg_type_format(x, s, sizeof s), (long long)known);
      return -1;
    }
    shape->ints[infer_at] = numel / known;
    known = numel;
  }
  if (known != numel) {
    mlg_shape_errorf(err, -1, A_SHAPE, "cannot reshape %s (%lld elements) into %lld elements",
                     mlg_type_format(x, s, sizeof s), (long long)numel, (long long)known);
    return -1;
  }
  mlg_type t = { .dtype = x->dtype, .rank = shape->n };
  for (int i = 0; i < shape->n; i++) t.dims[i] = shape->ints[i];
  *out = t;
  return 0;
}

const mlg_op_def mlg_op_reshape = {
  .name = "reshape",
  .cls = MLG_OPC_VIEW,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "shape", .kind = MLG_ATTR_INTS, .required = 1 },
  },
  .infer = reshape_infer,
  .index = mlg_index_same_order,
  .input_names = "x",
  .shape_doc = "the shape attribute, its -1 filled in",
  .doc = "same elements, new shape (one -1 inferred)",
};

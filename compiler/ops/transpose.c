/* transpose.c — transpose(x, perm=[...]): out.dims[i] = x.dims[perm[i]] (numpy.transpose,
 * ONNX Transpose). No perm reverses the dims. Normalized: perm explicit, non-negative. */
#include "op_util.h"
#include "../lower_util.h"

static int transpose_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                           mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  mlg_attr *perm = &attrs[0];
  if (perm->kind == MLG_ATTR_NONE) {
    perm->kind = MLG_ATTR_INTS;
    perm->n = x->rank;
    for (int i = 0; i < x->rank; i++) perm->ints[i] = x->rank - 1 - i;
  }
  if (perm->n != x->rank) {
    mlg_shape_errorf(err, -1, 0, "perm has %d entries but the input has rank %d", perm->n, x->rank);
    return -1;
  }
  int seen[MLG_MAX_RANK] = { 0 };
  mlg_type t = { .dtype = x->dtype, .rank = x->rank };
  for (int i = 0; i < perm->n; i++) {
    int p = mlg_normalize_axis(perm->ints[i], x->rank);
    if (p < 0 || seen[p]) {
      mlg_shape_errorf(err, -1, 0, "perm is not a permutation of 0..%d", x->rank - 1);
      return -1;
    }
    seen[p] = 1;
    perm->ints[i] = p;
    t.dims[i] = x->dims[p];
  }
  *out = t;
  return 0;
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
  .lower = mlg_lower_transpose,
  .doc = "permute dims (default: reverse them)",
};

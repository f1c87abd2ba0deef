/* matmul.c — matmul(a, b) as numpy.matmul: batched over leading dims (broadcast), a 1-D
 * operand is treated as a row (a) or column (b) vector whose unit dim is dropped again. */
#include "op_util.h"

static int matmul_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  const mlg_type *a = &in[0], *b = &in[1];
  for (int i = 0; i < 2; i++) {
    if (in[i].rank < 1) {
      mlg_shape_errorf(err, i, -1, "input %d is a scalar; matmul needs rank >= 1", i);
      return -1;
    }
  }
  int64_t ka = a->dims[a->rank - 1];
  int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  if (ka != kb) {
    mlg_shape_errorf(err, -1, -1, "inner dimensions differ (%lld vs %lld)", (long long)ka,
                     (long long)kb);
    return -1;
  }
  /* Batch dims: everything before the last two (none for 1-D and 2-D operands). */
  mlg_type ba = { .dtype = MLG_F32, .rank = a->rank > 2 ? a->rank - 2 : 0 };
  mlg_type bb = { .dtype = MLG_F32, .rank = b->rank > 2 ? b->rank - 2 : 0 };
  for (int i = 0; i < ba.rank; i++) ba.dims[i] = a->dims[i];
  for (int i = 0; i < bb.rank; i++) bb.dims[i] = b->dims[i];
  mlg_type t;
  if (mlg_broadcast_types(&ba, &bb, &t, err)) {
    mlg_shape_errorf(err, -1, -1, "batch dimensions do not broadcast");
    return -1;
  }
  if (a->rank >= 2) {
    if (t.rank >= MLG_MAX_RANK) goto too_deep;
    t.dims[t.rank++] = a->dims[a->rank - 2];
  }
  if (b->rank >= 2) {
    if (t.rank >= MLG_MAX_RANK) goto too_deep;
    t.dims[t.rank++] = b->dims[b->rank - 1];
  }
  t.dtype = MLG_F32;
  *out = t;
  return 0;
too_deep:
  mlg_shape_errorf(err, -1, -1, "result rank exceeds the limit of %d", MLG_MAX_RANK);
  return -1;
}

const mlg_op_def mlg_op_matmul = {
  .name = "matmul",
  .cls = MLG_OPC_MATMUL,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = matmul_infer,
  .doc = "matrix product as numpy.matmul (the @ operator)",
};

/* onnx_fold.h — arithmetic on values known at import (onnx_fold.c). Each returns a new tensor,
 * or NULL with the reason set on the context. Integers stay integers (int64 arithmetic, ONNX's
 * truncating Div); floats are computed in float32. */
#ifndef MLG_ONNX_FOLD_H
#define MLG_ONNX_FOLD_H

#include "onnx_internal.h"

typedef enum ox_fold_op {
  OX_ADD, OX_SUB, OX_MUL, OX_DIV, OX_POW, OX_MAX, OX_MIN, OX_EQ, OX_LT, OX_GT, OX_LE, OX_GE
} ox_fold_op;

int              ox_broadcast_dims(const ox_tensor *a, const ox_tensor *b, int *out_rank, int64_t *out_dims);
const ox_tensor *ox_fold_binary(ox_ctx *c, ox_fold_op op, const ox_tensor *a, const ox_tensor *b);
const ox_tensor *ox_fold_where(ox_ctx *c, const ox_tensor *cond, const ox_tensor *x, const ox_tensor *y);
const ox_tensor *ox_fold_cast(ox_ctx *c, const ox_tensor *x, int to);
const ox_tensor *ox_reshaped(ox_ctx *c, const ox_tensor *x, int rank, const int64_t *dims);
const ox_tensor *ox_fold_transpose(ox_ctx *c, const ox_tensor *x, const int64_t *perm);
const ox_tensor *ox_fold_concat(ox_ctx *c, const ox_tensor *const *in, int n, int axis);
const ox_tensor *ox_fold_gather(ox_ctx *c, const ox_tensor *x, const ox_tensor *idx, int axis);
/* ONNX Slice's clamping of one axis: the first index in *out_start, the count returned. */
int64_t          ox_slice_bounds(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *out_start);
const ox_tensor *ox_fold_slice(ox_ctx *c, const ox_tensor *x, const int64_t *starts,
                               const int64_t *steps, const int64_t *counts);
const ox_tensor *ox_fold_expand(ox_ctx *c, const ox_tensor *x, int rank, const int64_t *dims);

#endif

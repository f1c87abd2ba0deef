/* op_util.h — private helpers shared by the shape rules in compiler/ops/ (shape_util.c) and
 * initializer macros that keep each op definition a plain designated-initializer struct. */
#ifndef MLG_OP_UTIL_H
#define MLG_OP_UTIL_H

#include "../op.h"

/* Largest dimension and element count any tensor may have. */
#define MLG_DIM_LIMIT INT64_C(2147483647)
#define MLG_NUMEL_LIMIT (INT64_C(1) << 40)

/* Attribute defaults for mlg_attr_def.deflt. */
#define MLG_DEFAULT_INT(v)   { .kind = MLG_ATTR_INT, .n = 1, .ints = { (v) } }
#define MLG_DEFAULT_FLOAT(v) { .kind = MLG_ATTR_FLOAT, .n = 1, .f = (v) }
#define MLG_DEFAULT_INTS1(v) { .kind = MLG_ATTR_INTS, .n = 1, .ints = { (v) } }
/* Choice number `i` of an ENUM attribute's list. */
#define MLG_DEFAULT_ENUM(i)  { .kind = MLG_ATTR_ENUM, .n = 1, .ints = { (i) } }

/* The attribute schema of conv2d, conv1d and qlinear_conv2d (mlg_conv2d_shape normalizes
 * conv2d's). */
#define MLG_CONV2D_ATTRS                                                             \
  { .name = "stride", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(1) },         \
  { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },        \
  { .name = "dilation", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(1) },       \
  { .name = "groups", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) }

/* Each returns 0, or -1 with err filled (naming input `input`). */
int mlg_require_dtype(const mlg_type *t, int input, mlg_ir_dtype dtype, mlg_shape_error *err);
/* All n inputs must be f32. */
int mlg_require_f32(const mlg_type *in, int n, mlg_shape_error *err);
/* All n inputs must be floats (f32 or f16): math that has no integer meaning. */
int mlg_require_float(const mlg_type *in, int n, mlg_shape_error *err);
/* All n inputs f32, or all f16 (the GEMMs: f16 operands give an f16 result, accumulated in
 * f32); else reports which input differs and returns -1. */
int mlg_require_gemm_float(const mlg_type *in, int n, mlg_shape_error *err);
/* All n inputs must be numbers (any dtype but bool). */
int mlg_require_numeric(const mlg_type *in, int n, mlg_shape_error *err);
int mlg_require_rank(const mlg_type *t, int input, int rank, const char *layout,
                     mlg_shape_error *err);
/* Output type sanity: every dim in [1, 2^31-1], rank <= MLG_MAX_RANK, numel < 2^40. */
int mlg_check_type_limits(const mlg_type *t, mlg_shape_error *err);
/* Expands a 1-value INTS attribute to `n` copies; accepts exactly 1 or n values. Values must
 * lie in [lo, hi]. */
int mlg_expand_ints(mlg_attr *a, int attr, const char *name, int n, int64_t lo, int64_t hi,
                    mlg_shape_error *err);
/* Padding given as 1, 2 ([ph, pw]) or 4 ([top, left, bottom, right]) values → 4 values,
 * each in [0, 2^31-1]. */
int mlg_expand_padding(mlg_attr *a, int attr, mlg_shape_error *err);
/* Normalizes an INTS list of axes against `rank`: negatives made non-negative, sorted,
 * duplicates and out-of-range values rejected. */
int mlg_normalize_axes(mlg_attr *a, int attr, int rank, mlg_shape_error *err);
/* Normalizes the axis of x in INT attribute attrs[attr] to [0, rank) in place; returns it, or
 * -1 with "axis N is out of range for T" on that attribute. */
int mlg_normalize_axis_attr(mlg_attr *attrs, int attr, const mlg_type *x, mlg_shape_error *err);
/* x's dims as [outer, len, inner] around dim `axis`: the products before, at and after it. */
void mlg_split_axis(const mlg_type *x, int axis, int64_t *outer, int64_t *len, int64_t *inner);
/* Validates a 0/1 INT attribute. */
int mlg_require_bool(const mlg_attr *a, int attr, const char *name, mlg_shape_error *err);

/* The index hook of every view op (reshape, flatten, squeeze, unsqueeze): same element order. */
int mlg_index_same_order(const mlg_node *n, mlg_index_map *map);

/* A cost rule (op.h mlg_cost_fn): one operation per element of input 0, a reduction's
 * combining steps. */
void mlg_cost_per_input_element(const mlg_graph *g, int node, mlg_op_cost *out);

/* Output size of a sliding window along one axis (conv2d, pooling): 0 when it does not fit. */
int64_t mlg_conv_out_size(int64_t in, int64_t pad_a, int64_t pad_b, int64_t k, int64_t stride,
                          int64_t dilation);

/* ---- building gradients and composite ops (build.c, through op.h's mlg_op_builder). Each
 * takes and returns node ids of the graph being built; an input of -1 (an earlier failure)
 * gives -1. Types are passed by value: a pointer into the node array would not survive the
 * nodes these append. ---- */
mlg_attr mlg_attr_of_int(int64_t v);
mlg_attr mlg_attr_of_float(double v);
mlg_attr mlg_attr_of_ints(int n, const int64_t *v);
/* def applied to one input, or to two, with default attributes. */
int mlg_b1(mlg_op_builder *ob, const mlg_op_def *def, int x);
int mlg_b2(mlg_op_builder *ob, const mlg_op_def *def, int a, int b);
/* x * c. */
int mlg_b_scale(mlg_op_builder *ob, int x, double c);
/* x viewed with other dims (x itself when they are its own). */
int mlg_b_reshape(mlg_op_builder *ob, int x, int rank, const int64_t *dims);
int mlg_b_reshape_as(mlg_op_builder *ob, int x, mlg_type t);
/* transpose(x, perm) (x itself for the identity). */
int mlg_b_transpose(mlg_op_builder *ob, int x, const int *perm);
/* A reduction op (sum, mean, max, min) over axes; x itself for no axes. */
int mlg_b_reduce(mlg_op_builder *ob, const mlg_op_def *def, int x, int n_axes, const int64_t *axes,
                 int keepdims);
/* The gradient of a broadcast: g (of a broadcast result's shape) summed over the dims that
 * NumPy broadcasting added or stretched, to an operand of type t. */
int mlg_b_sum_to(mlg_op_builder *ob, int g, mlg_type t);
/* x broadcast to type t (NumPy rules: a view adds leading ones, then expand). */
int mlg_b_expand(mlg_op_builder *ob, int x, mlg_type t);
/* The gradient of a reduction over `axes` of x: dy (with or without the reduced dims) back
 * to x's shape, each value repeated over the elements it reduced. */
int mlg_b_unreduce(mlg_op_builder *ob, int dy, mlg_type x, int n_axes, const int64_t *axes);
/* The gradient hook of every view op (reshape, flatten, squeeze, unsqueeze): dy viewed with
 * x's dims. */
int mlg_view_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                 int *dx);
/* softmax's backward (softmax.c): with y = softmax(z) along `axis`, dz = y (dy - sum(dy y))
 * (the sum kept as a dim of 1, which broadcasts). */
int mlg_b_softmax_grad(mlg_op_builder *ob, int y, int dy, int64_t axis);
/* softmax's FLOPs per element: the row max, the shift, exp, the row sum and the division
 * (log_softmax's shift by the log-sum counts one more). */
#define MLG_SOFTMAX_FLOPS 5

/* The output type (f32) of a 2-D convolution of x (NCHW) by w (input w_in, [O, C / groups,
 * kh, kw]), both 4-D, with attrs[0..3] = stride, padding, dilation, groups (normalized here:
 * stride and dilation to 2 values, padding to 4). */
int mlg_conv2d_shape(const mlg_type *x, const mlg_type *w, int w_in, mlg_attr *attrs,
                     mlg_type *out, mlg_shape_error *err);

#endif

/* kt_util.h — small pieces the kernel templates share: failure reasons, descriptor defaults,
 * the window-count rule of convolution and pooling, and builders of common index and guard
 * expressions. Every expression is I32 unless said otherwise. Thread safety: reentrant.
 *
 * Every template returns 0, or -1 with the reason left in the module (kir_module_error): what
 * it cannot build, in the descriptor's terms, e.g. "groups (3) must divide the input channels
 * (16) and the output channels (8)". */
#ifndef MLG_KT_UTIL_H
#define MLG_KT_UTIL_H

#include <stdint.h>

#include "../kir.h"

/* Leaves the reason (printf format) in m (kir_module_set_error); returns -1. */
int       kt_fail(kir_module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes `slow` the fallback of the variant `fast` (kir_kernel_set_fallback), which must launch
 * the same work-groups (fast_groups, slow_groups): 1 with *out_kernel = fast, or -1 with an
 * internal error naming `what` (the kernel family) and `name`. */
int       kt_pair_variant(kir_module *m, kir_kernel *fast, kir_kernel *slow, const int64_t fast_groups[3],
                          const int64_t slow_groups[3], const char *what, const char *name,
                          kir_kernel **out_kernel);

/* v, or 1 for 0: a descriptor field whose documented default is 1. */
int64_t   kt_one_if_0(int64_t v);
/* Positions of a window of k taps, dilation dil, at `stride` over `size` elements padded with
 * pad_lo before and pad_hi after (floor mode): (size + pad_lo + pad_hi − dil·(k − 1) − 1) /
 * stride + 1. -1 when k, dil or stride is below 1, a pad is negative, or no window fits. */
int64_t   kt_window_count(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k, int64_t dil,
                          int64_t stride);

/* x < bound. */
kir_expr *kt_lt(kir_builder *b, kir_expr *x, int64_t bound);
/* x && y where either guard may be NULL (no guard): the other one, or NULL if both are. */
kir_expr *kt_and_opt(kir_builder *b, kir_expr *x, kir_expr *y);
/* Guard 0 <= var < hi along one padded axis; a side whose padding is 0 cannot go out of range
 * and is left out, so NULL when both are 0. */
kir_expr *kt_axis_guard(kir_builder *b, int var, int64_t pad_lo, int64_t pad_hi, int64_t hi);
/* if (id >= n) return; — the work-items of a launch that runs past the last of n (the caller
 * adds it only where the work-groups do not divide n). */
void      kt_return_past(kir_builder *b, kir_expr *id, int64_t n);
/* Ends a 1-D kernel of `items` work-items in groups of `ls`: out_groups (when not NULL) =
 * (ceil(items / ls), 1, 1). Returns kir_kernel_end's 0 or -1. */
int       kt_end_1d(kir_builder *b, int64_t items, int ls, kir_kernel **out_kernel, int64_t out_groups[3]);
/* e · s, or e itself when s is 1. */
kir_expr *kt_scaled(kir_builder *b, kir_expr *e, int64_t s);
/* Whether an operand's element offset, row stride and n_batch batch strides are all multiples
 * of n: its rows then start at multiples of n elements (tensors are 256-byte aligned). */
int       kt_strides_multiple(int64_t n, int64_t offset, int64_t row_stride, const int64_t *bstride,
                              int n_batch);
/* Element offset of item `bidx` (C order) of a batch of n_batch dims `batch` whose per-dim
 * strides are `stride`; dims of extent 1 or stride 0 add nothing. */
kir_expr *kt_batch_offset(kir_builder *b, kir_expr *bidx, int n_batch, const int64_t *batch,
                          const int64_t *stride);
/* The sum of the lanes of vector variable v, by halves (v.lo + v.hi, ...): log2(width) vector
 * adds instead of width − 1 lane extractions and scalar adds (on PoCL the MLP's first layer took
 * 318 µs with the scalar sum, 273 with halves). A scalar v is itself. */
kir_expr *kt_lane_sum(kir_builder *b, int v);
/* The same with `op` (KIR_ADD, KIR_MAX, KIR_MIN) in place of the sum. */
kir_expr *kt_lane_fold(kir_builder *b, int v, kir_binop op);

#endif

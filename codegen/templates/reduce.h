/* reduce.h — kernel template for sum / mean / max / min / prod over any set of axes, and the
 * work-group tree reduction that the pool and rowwise templates build on.
 *
 * The input is a contiguous C-order tensor of `rank` dims; the output holds one element per
 * combination of the kept dims, in C order (keepdims only changes the output's shape, never its
 * layout, so the kernel is the same either way; kt_reduce_out_shape gives the shape).
 *
 * Adjacent dims of the same kind (both reduced or both kept) are merged first, so contiguous
 * axes become [outer, reduced, inner]; any other pattern becomes a general strided
 * decomposition of the output index and of the reduced index (integer div/mod by constants).
 *
 * Two strategies, chosen by kt_reduce (or forced by the descriptor):
 *  - KT_REDUCE_WG_PER_OUTPUT: one work-group of `local_size` work-items per output element;
 *    each work-item folds a strided slice of the reduced elements, then a work-group reduction
 *    (kt_emit_wg_reduce: a tree in local memory, or subgroup operations on Vulkan) combines
 *    them. Best when the reduced extent is long.
 *  - KT_REDUCE_ITEM_PER_OUTPUT: one work-item per output element folding all reduced elements
 *    serially; neighbouring work-items read neighbouring inner elements. Best when the reduced
 *    dims are not innermost and short (e.g. summing over the channel axis of NCHW).
 *
 * Buffers, in order: x (read; absent with a prologue), y (write), then those the prologue and
 * epilogue declare.
 * Launch: work-group size (local_size, 1, 1). WG_PER_OUTPUT: groups = (n_out, 1, 1);
 * ITEM_PER_OUTPUT: groups = (ceil(n_out / local_size), 1, 1).
 * Index arithmetic is 32-bit: every tensor must have fewer than 2^31 elements.
 *
 * Thread safety: reentrant (state lives in the module passed in). */
#ifndef MLG_KT_REDUCE_H
#define MLG_KT_REDUCE_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

#ifndef KT_MAX_RANK
#define KT_MAX_RANK 8
#endif

typedef enum kt_reduce_op { KT_RED_SUM, KT_RED_MEAN, KT_RED_MAX, KT_RED_MIN, KT_RED_PROD } kt_reduce_op;

typedef enum kt_reduce_strategy {
  KT_REDUCE_AUTO = 0,
  KT_REDUCE_WG_PER_OUTPUT,
  KT_REDUCE_ITEM_PER_OUTPUT
} kt_reduce_strategy;

typedef struct kt_reduce_desc {
  kt_reduce_op op;
  int rank;                      /* 0..KT_MAX_RANK (rank 0: a copy of the one element) */
  int64_t shape[KT_MAX_RANK];    /* input dims, each >= 1 */
  int reduce[KT_MAX_RANK];       /* per input dim: 1 = reduced, 0 = kept (no axes = copy) */
  int keepdims;                  /* only affects kt_reduce_out_shape */
  int local_size;                /* work-group size, a power of two in [1, 1024]; 0 = 128 */
  kt_reduce_strategy strategy;   /* AUTO picks as described above */
  kt_prologue prologue;          /* fused (hooks.h): x's elements computed instead of loaded;
                                    then there is no x buffer */
  kt_epilogue epilogue;          /* fused (hooks.h): applied to each result before its store */
  int subgroups;                 /* WG_PER_OUTPUT combines through subgroup operations (Vulkan
                                    only; kt_emit_wg_reduce) */
} kt_reduce_desc;

/* Builds the kernel. Returns 0, or -1 on an invalid descriptor or allocation failure. */
int kt_reduce(kir_module *m, const char *name, const kt_reduce_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

/* Output shape: reduced dims dropped, or kept as 1 with keepdims. Returns the output rank. */
int kt_reduce_out_shape(const kt_reduce_desc *d, int64_t out_shape[KT_MAX_RANK]);

/* ---- building blocks shared with the other templates ---- */

/* Integer ceil(a / b) for b > 0. */
int64_t kt_ceil_div(int64_t a, int64_t b);

/* Emits a reduction over a work-group of `local_size` work-items: every
 * work-item contributes `value` (an F32 expression), `op` combines (KIR_ADD, KIR_MUL, KIR_MAX or
 * KIR_MIN), `scratch` is a local F32 array of at least local_size elements and `lid` an I32
 * variable holding the linear local id. Without subgroups: a tree in local memory,
 * log2(local_size) + 2 barriers (local_size must be a power of two). With `subgroups` (Vulkan only: kir_subgroup_reduce): one
 * subgroup reduction per subgroup, one partial per subgroup through `scratch`, then every
 * subgroup folds the partials — 2 barriers, correct for any subgroup size the device picks.
 * Declares and returns an F32 variable that holds the result in every work-item (or -1 on
 * allocation failure). Must be reached by all work-items of the group in uniform control flow
 * (it contains barriers); `scratch` may be reused right after it returns. */
int kt_emit_wg_reduce(kir_builder *b, kir_binop op, kir_expr *value, int scratch, int lid,
                      int local_size, int subgroups, const char *result_name);

#endif

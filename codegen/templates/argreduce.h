/* argreduce.h — kernel template for argmax / argmin along one axis: the index (I32) of the
 * first largest (smallest) element of each line, counting a NaN as beyond every number (the
 * first NaN wins, as in NumPy and PyTorch).
 *
 * One work-item per output element (the input's elements with the axis taken out), looping
 * over the axis: y[i] = the k in [0, dim) of the extreme x[outer·dim·inner + k·inner + in],
 * with i = outer·inner + in. Output dims of keepdims are the caller's business (same order).
 *
 * Buffers, in order: x (read, `dtype` as stored; absent with a prologue), y (write, I32), then
 * those the prologue and epilogue declare (hooks.h). Launch: work-group size
 * KT_ARG_LOCAL_SIZE; groups = (max(1, ceil(n / KT_ARG_LOCAL_SIZE)), 1, 1) for n outputs.
 * Index arithmetic is 32-bit: the input must have fewer than 2^31 elements (else -1).
 * Thread safety: reentrant. */
#ifndef MLG_KT_ARGREDUCE_H
#define MLG_KT_ARGREDUCE_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

#ifndef KT_MAX_RANK
#define KT_MAX_RANK 8
#endif
#define KT_ARG_LOCAL_SIZE 64

typedef struct kt_argreduce_desc {
  int rank;                       /* 1..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];     /* the input's dims, each >= 1 */
  int axis;                       /* 0..rank-1 */
  int find_max;                   /* 1: argmax; 0: argmin */
  kir_scalar dtype;               /* x as stored: any kir scalar but BOOL */
  kt_prologue prologue;           /* fused (hooks.h): x's elements computed instead of loaded */
  kt_epilogue epilogue;           /* fused: applied to each index before it is stored (I32) */
} kt_argreduce_desc;

/* Returns 0, or -1 with the reason in the module (kt_fail). */
int kt_argreduce(kir_module *m, const char *name, const kt_argreduce_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

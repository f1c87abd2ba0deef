/* cumsum.h — kernel template for cumulative sums along one axis (ONNX CumSum, torch.cumsum).
 *
 * x is viewed as [outer, len, inner]; each line x[o, :, i] (at stride inner) is scanned:
 *   y[k] = Σ_{j <= k} x[j]   (exclusive: j < k; reverse: j >= k, or j > k when exclusive).
 * Lines map to work-items in one of two ways:
 *  - one work-item per line, a serial loop (lines of up to KT_SCAN_SERIAL_MAX elements, or
 *    enough lines to fill a device); neighbouring work-items take neighbouring inner positions;
 *  - long lines, few of them: one work-group per line. Each of its ls work-items sums a
 *    contiguous chunk of ceil(len / ls) elements, the chunk sums are scanned in local memory
 *    (log2(ls) steps), and each work-item scans its chunk again from its offset: two passes.
 * Sums are float, in order along each chunk.
 * Buffers, in order: x (read; absent with a prologue), y (write), then those the prologue and
 * epilogue (hooks.h) declare; the epilogue sees each sum at its output position.
 * Launch: work-group size (ls, 1, 1); groups = (ceil(lines / ls), 1, 1) serially, (lines, 1, 1)
 * with a work-group per line.
 * Index arithmetic is 32-bit: x must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_CUMSUM_H
#define MLG_KT_CUMSUM_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

/* Lines longer than this, when there are fewer than KT_SCAN_WG_LINES of them, get a
 * work-group each. */
#define KT_SCAN_SERIAL_MAX 256
#define KT_SCAN_WG_LINES 1024

typedef struct kt_cumsum_desc {
  int64_t outer, len, inner;       /* x is [outer, len, inner], each >= 1 */
  int exclusive, reverse;
  int local_size;                  /* work-group mode: a power of two, 2..1024; 0 = 128 */
  kt_prologue prologue;            /* fused: x's elements computed instead of loaded */
  kt_epilogue epilogue;            /* fused: applied to each sum before its store */
} kt_cumsum_desc;

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor or allocation
 * failure. */
int kt_cumsum(kir_module *m, const char *name, const kt_cumsum_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

#endif

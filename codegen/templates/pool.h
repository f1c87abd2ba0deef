/* pool.h — kernel templates for NCHW pooling: max_pool2d, avg_pool2d, global_avg_pool2d.
 *
 * max_pool2d / avg_pool2d (kt_pool2d): windows of kh × kw taps at stride and dilation, with
 * 4-sided padding, as PyTorch: h_out = (h + pad_top + pad_bottom − dil_h·(kh − 1) − 1) /
 * stride_h + 1, rounded down, or up with ceil_mode — where a last window that would start in
 * the bottom padding is dropped. Taps outside the image (in the padding, or past it in ceil
 * mode) are skipped.
 *   max: only real pixels compete (a window wholly outside the image gives −∞; the op's shape
 *        rule rejects those).
 *   avg: the window's sum divided by its taps within the padded image (count_include_pad, as
 *        PyTorch: padding counts, positions past the padding in ceil mode do not) or by its real
 *        pixels only. dil must be 1.
 * One work-item per output element; work-groups of `local_size` items along the output pixels
 * of one (n, c) plane.
 * Buffers, in order: x (read, [n, c, h, w]), y (write, [n, c, h_out, w_out]).
 * Launch: work-group size (local_size, 1, 1); groups = (ceil(h_out·w_out / local_size), n·c, 1).
 * The CPU kernel (cpu_vec set and kt_pool2d_segmented true): one work-item per segment of
 * 2·cpu_vec outputs of a row (the last one ragged), work-groups of `local_size` over all
 * segments of all rows of all planes. A segment whose windows lie inside the image loads each
 * window row's span of x once, in 4-wide vectors, and takes every tap column of cpu_vec
 * windows as one vector built from those lanes (PoCL vectorizes only what is spelled out as
 * vectors); any other segment folds its outputs one by one, as the kernel above.
 * Launch: (local_size, 1, 1); groups = (ceil(n·c·h_out·ceil(w_out / (2·cpu_vec)) / local_size),
 * 1, 1).
 *
 * global_avg_pool2d (kt_global_avg_pool2d): [n, c, h, w] → [n, c, 1, 1], the mean of each plane.
 * One work-group per (n, c) plane: each work-item sums a strided slice, then a work-group
 * reduction (kt_emit_wg_reduce: local-memory tree, or subgroup operations when asked).
 * Buffers, in order: x (read), y (write).
 * Launch: work-group size (local_size, 1, 1); groups = (n·c, 1, 1).
 * per_item (for CPUs, where a work-group's barriers cost more than a plane's sum): one
 * work-item sums a whole plane in order; groups = (ceil(n·c / local_size), 1, 1). (On
 * lavapipe too: ResNet-18's [16, 512, 7, 7] took 0.33 ms of device time this way against 3.25
 * with a work-group per plane, 2026-12-05.)
 *
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_POOL_H
#define MLG_KT_POOL_H

#include <stdint.h>

#include "../kir.h"

typedef enum kt_pool_kind { KT_POOL_MAX, KT_POOL_AVG } kt_pool_kind;

typedef struct kt_pool2d_desc {
  kt_pool_kind kind;
  int64_t n, c, h, w;                              /* input dims */
  int64_t kh, kw;                                  /* window, >= 1 */
  int64_t stride_h, stride_w;                      /* >= 1 (0 is taken as 1) */
  int64_t pad_top, pad_left, pad_bottom, pad_right; /* >= 0 */
  int64_t dil_h, dil_w;                            /* >= 1 (0 is taken as 1); avg needs 1 */
  int ceil_mode;                                   /* output sizes rounded up (see above) */
  int exclude_pad;                                 /* avg: divide by the real pixels only
                                                      (PyTorch's count_include_pad=False) */
  int local_size;                                  /* 1..1024; 0 = 64 */
  int cpu_vec;                                     /* 0, or 2 or 4: the CPU kernel's vectors
                                                      (see kt_pool2d_segmented) */
} kt_pool2d_desc;

typedef struct kt_global_pool_desc {
  int64_t n, c, h, w;                              /* input dims */
  int local_size;                                  /* power of two, 1..1024; 0 = 64 */
  int subgroups;                                   /* reduce through subgroup operations
                                                      (Vulkan only) */
  int per_item;                                    /* 1: one work-item per plane (CPUs) */
} kt_global_pool_desc;

/* The gradient of max_pool2d / avg_pool2d with respect to x (kt_pool2d_grad), for the same
 * descriptor (dilation 1, no ceil_mode, no exclude_pad): one work-item per element of x, which adds the dy of every window
 * that holds it — max: only the windows whose maximum it is (the first in the window's row-major
 * order, as PyTorch picks among equal values); avg: every window, divided by kh·kw.
 * Buffers, in order: dy (read, [n, c, h_out, w_out]), then for max x (read, [n, c, h, w]),
 * then dx (write, [n, c, h, w]).
 * Launch: work-group size (local_size, 1, 1); groups = (ceil(h·w / local_size), n·c, 1). */

/* Output spatial size; -1 if invalid or empty. */
int kt_pool2d_out_size(const kt_pool2d_desc *d, int64_t *out_h, int64_t *out_w);
/* Windows along one axis (PyTorch's pooling_output_shape): floor or ceil, the ceil one dropped
 * when it would start in the padding after the input. -1 when k, dil or stride is below 1, a
 * pad is negative, or no window fits. */
int64_t kt_pool_window_count(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k,
                             int64_t dil, int64_t stride, int ceil_mode);

/* Build the kernel. Return 0, or -1 on an invalid descriptor or allocation failure. */
int kt_pool2d(kir_module *m, const char *name, const kt_pool2d_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);
/* 1 when kt_pool2d builds the CPU kernel for d: cpu_vec set, at least one whole segment per
 * row, and a segment's row span (2·cpu_vec − 1)·stride_w + (kw − 1)·dil_w + 1 at most 64. */
int kt_pool2d_segmented(const kt_pool2d_desc *d);
int kt_pool2d_grad(kir_module *m, const char *name, const kt_pool2d_desc *d,
                   kir_kernel **out_kernel, int64_t out_groups[3]);
int kt_global_avg_pool2d(kir_module *m, const char *name, const kt_global_pool_desc *d,
                         kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

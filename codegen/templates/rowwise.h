/* rowwise.h — kernel templates for row reductions with an epilogue: softmax, log_softmax,
 * layer_norm; and batch_norm in inference form (per-channel scale and shift).
 *
 * softmax / log_softmax (kt_softmax): the input is viewed as [outer, axis_len, inner] (the
 * softmax axis in the middle; inner = 1 when it is the last axis). A row is the axis_len
 * elements x[o, :, i], at stride inner. Three passes over the row:
 *   m = max_j x_j;  s = Σ_j exp(x_j − m);  y_j = exp(x_j − m) / s   (log: x_j − m − log s).
 * Rows map to work-items in one of two ways (softmax and layer_norm alike), by the row length:
 *  - long rows (> KT_ROW_SERIAL_MAX elements): one work-group of local_size work-items per row,
 *    strided passes with work-group reductions in between (kt_emit_wg_reduce: a local-memory
 *    tree, or subgroup operations when the descriptor asks for them);
 *  - short rows: one work-item per row, serial passes, no barriers and no local memory;
 *    local_size work-items per group (0: min(rows, 64)); items past the last row return.
 * Buffers, in order: x (read), y (write); same shape and layout.
 * Launch: work-group size (ls, 1, 1) where ls is the kernel's work-group size (local_size, or
 * the short-row default); groups = (rows, 1, 1) for long rows, (ceil(rows / ls), 1, 1) for
 * short ones, rows = outer·inner.
 *
 * layer_norm (kt_layer_norm): normalizes each row of the trailing norm_size elements
 * (x viewed as [rows, norm_size]), PyTorch semantics:
 *   μ = mean(x_row);  σ² = mean((x_row − μ)²) (biased);  y = (x − μ) / sqrt(σ² + eps) · w + b.
 * Two-pass mean then variance (no E[x²] − μ² cancellation). Rows map to work-items as in
 * softmax (a work-group per long row, a work-item per short one). Variants of the same kernel:
 *   rms (rms_norm): no mean: y = x / sqrt(mean(x²) + eps) · w + b, one pass for the statistic;
 *   groups > 0 (group_norm): rows are (image, group) pairs of x [n, groups·cpg, spatial] viewed
 *     as [n·groups, cpg·spatial]; the weight and bias are per channel: element j of row r takes
 *     channel (r mod groups)·cpg + j / spatial.
 * On a CPU (cpu_vec) a work-group's items run one after another, and its barriers cost more
 * than the sums: each work-item takes a row, its passes in explicit vectors (the transformer
 * block's 128 rows of 768 on PoCL: 140–166 µs → 23–47), an epilogue applied per scalar;
 * softmax and log_softmax likewise (kt_softmax_desc.cpu_vec: 8192 rows of 1024, 41.5 →
 * 2.6 ms).
 * Buffers, in order: x (read), weight (read, [norm_size], or [groups·cpg] for group_norm; only
 *                    if has_weight), bias (read, the same, only if has_bias), y (write).
 * Launch: as softmax's, over its rows (cpu_vec: groups of KT_ROW_CPU_ITEMS rows).
 *
 * batch_norm (kt_batch_norm), inference with running statistics, elementwise over NCHW
 * (or any [n, c, spatial...] viewed as [n, c, hw]):
 *   y = (x − mean[c]) / sqrt(var[c] + eps) · weight[c] + bias[c]
 * One work-item per element.
 * Buffers, in order: x (read), weight (read, [c], only if has_weight), bias (read, [c], only if
 *                    has_bias), mean (read, [c]), var (read, [c]), y (write).
 * Launch: work-group size (local_size, 1, 1); groups = (ceil(n·c·hw / local_size), 1, 1).
 *
 * Fusion (softmax, log_softmax, layer_norm): a prologue (hooks.h) computes x's elements instead
 * of loading them (each pass recomputes them; there is no x buffer then) and an epilogue
 * rewrites each value before its store; their buffers follow the template's own.
 *
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_ROWWISE_H
#define MLG_KT_ROWWISE_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

/* Rows of at most this many elements get one work-item each (see above). */
#define KT_ROW_SERIAL_MAX 32
/* Rows per work-group of a cpu_vec layer_norm. */
#define KT_ROW_CPU_ITEMS 8

typedef struct kt_softmax_desc {
  int64_t outer, axis_len, inner;  /* x is [outer, axis_len, inner], each >= 1 */
  int log;                         /* 1: log_softmax */
  int local_size;                  /* power of two, 1..1024; 0 = 128 (short rows: min(rows, 64)) */
  int subgroups;                   /* reduce through subgroup operations (Vulkan only) */
  int cpu_vec;                     /* CPU (OpenCL): 0, or 4, 8 or 16: one work-item per row,
                                      its passes in float vectors of this width (the rest of
                                      the row scalar); rows along the last axis (inner = 1)
                                      without a prologue (else the usual mapping) */
} kt_softmax_desc;

typedef struct kt_layer_norm_desc {
  int64_t rows, norm_size;         /* x is [rows, norm_size], each >= 1 */
  double eps;                      /* > 0 typically, e.g. 1e-5 */
  int has_weight, has_bias;
  int local_size;                  /* power of two, 1..1024; 0 = 128 (short rows: min(rows, 64)) */
  int subgroups;                   /* reduce through subgroup operations (Vulkan only) */
  int rms;                         /* 1: root mean square, no mean subtracted (rms_norm) */
  int64_t groups, spatial;         /* group_norm: groups per image and the elements per channel
                                      (norm_size = cpg·spatial); weight and bias per channel.
                                      0: per element of the row */
  int cpu_vec;                     /* CPU (OpenCL): 0, or 4, 8 or 16: one work-item per row,
                                      whatever its length, its passes in float vectors of this
                                      width (the rest of the row scalar); layer_norm and
                                      rms_norm without a prologue (group_norm, a prologue: the
                                      usual mapping) */
} kt_layer_norm_desc;

typedef struct kt_batch_norm_desc {
  int64_t n, c, hw;                /* x is [n, c, hw], each >= 1 */
  double eps;
  int has_weight, has_bias;
  int local_size;                  /* 1..1024; 0 = 256 */
} kt_batch_norm_desc;

/* Build the kernel. Return 0, or -1 on an invalid descriptor or allocation failure. */
int kt_softmax(kir_module *m, const char *name, const kt_softmax_desc *d, kir_kernel **out_kernel,
               int64_t out_groups[3]);
int kt_layer_norm(kir_module *m, const char *name, const kt_layer_norm_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]);
/* The same with a fused prologue and epilogue (either fn may be NULL). */
int kt_softmax_fused(kir_module *m, const char *name, const kt_softmax_desc *d,
                     kt_prologue prologue, kt_epilogue epilogue, kir_kernel **out_kernel,
                     int64_t out_groups[3]);
int kt_layer_norm_fused(kir_module *m, const char *name, const kt_layer_norm_desc *d,
                        kt_prologue prologue, kt_epilogue epilogue, kir_kernel **out_kernel,
                        int64_t out_groups[3]);
int kt_batch_norm(kir_module *m, const char *name, const kt_batch_norm_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

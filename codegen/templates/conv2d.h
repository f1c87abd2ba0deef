/* conv2d.h — kernel template for NCHW 2-D convolution (cross-correlation, as PyTorch):
 * stride, 4-sided zero padding, dilation, groups (depthwise when groups == c_in), optional bias.
 *
 *   y[n, oc, oh, ow] = bias[oc] + Σ_{ci < c_in/groups, r < kh, s < kw}
 *       x[n, g·(c_in/groups) + ci, oh·stride_h − pad_top + r·dil_h, ow·stride_w − pad_left + s·dil_w]
 *       · w[oc, ci, r, s]          with g = oc / (c_out/groups); x outside the image reads 0.
 *   h_out = (h + pad_top + pad_bottom − dil_h·(kh − 1) − 1) / stride_h + 1 (floor), same for w.
 *
 * This is a direct convolution, written for correctness, not speed: each work-item computes one
 * output pixel for a block of `oc_block` consecutive output channels of one group, so every
 * input value it loads is reused oc_block times. Work-items of a group are neighbouring output
 * pixels of one (n, channel block). A faster implicit-GEMM kernel (the matmul template's tiling)
 * replaces it in the fast-kernels issue; the descriptor and buffer order stay.
 *
 * Buffers, in order: x (read, [n, c_in, h, w]), w (read, [c_out, c_in/groups, kh, kw]),
 *                    bias (read, [c_out], only if has_bias), y (write, [n, c_out, h_out, w_out]).
 * Launch: work-group size (local_size, 1, 1);
 *         groups = (ceil(h_out·w_out / local_size), groups · ceil((c_out/groups) / oc_block), n).
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_CONV2D_H
#define MLG_KT_CONV2D_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

typedef struct kt_conv2d_desc {
  int64_t n, c_in, h, w;                          /* input dims */
  int64_t c_out, kh, kw;                          /* weight is [c_out, c_in/groups, kh, kw] */
  int64_t stride_h, stride_w;                     /* >= 1 (0 is taken as 1) */
  int64_t pad_top, pad_left, pad_bottom, pad_right; /* >= 0, zeros */
  int64_t dil_h, dil_w;                           /* >= 1 (0 is taken as 1) */
  int64_t groups;                                 /* >= 1 (0 is taken as 1), divides c_in, c_out */
  int has_bias;
  int oc_block;                                   /* output channels per work-item, 1..8; 0 = 4 */
  int local_size;                                 /* work-items per group, 1..1024; 0 = 64 */
  kt_epilogue epilogue;                           /* fused epilogue (hooks.h), after the bias;
                                                     its buffers follow y */
} kt_conv2d_desc;

/* Output spatial size; returns -1 if the descriptor gives an empty or invalid output. */
int kt_conv2d_out_size(const kt_conv2d_desc *d, int64_t *out_h, int64_t *out_w);
/* The reason for that -1, left in m (kt_fail); returns -1. */
int kt_conv2d_misfit(kir_module *m, const kt_conv2d_desc *d);

/* d with stride, dilation and groups of 0 replaced by 1, their documented defaults. */
kt_conv2d_desc kt_conv2d_normalized(const kt_conv2d_desc *d);

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor or allocation
 * failure. */
int kt_conv2d(kir_module *m, const char *name, const kt_conv2d_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

/* ---- convolution as a GEMM (conv2d_gemm.c) ----
 * For groups == 1, one GEMM over every image: y (c_out × n·h_out·w_out, images folded into the
 * columns, kt_matmul_desc.c_fold) = w (c_out × K) @ col (K × n·h_out·w_out) with K =
 * c_in·kh·kw and col the im2col matrix, never written: the GEMM gathers its tiles from x
 * (kt_matmul_desc.b_im2col): col[(ci·kh + r)·kw + s][(n·h_out + oh)·w_out + ow] =
 * x[n, ci, oh·stride_h − pad_top + r·dil_h, ow·stride_w − pad_left + s·dil_w] (0 outside).
 * A 1×1 convolution with stride 1 and no padding needs no col: it is x itself, one GEMM per
 * image (y[n] = w @ x[n]). The GEMM is the matmul template (matmul.h) with the bias added per
 * row, so each device class gets its GEMM tiles and the epilogue sees the output positions of
 * y unchanged. */

/* The GEMM's descriptor (A = w, B = x — gathered as col, or x itself for a direct 1×1
 * convolution —, C = y; bias per row); the caller sets device_class, max_vec and the epilogue.
 * Returns 0, or -1 when groups > 1, the shape is invalid or a tensor cannot be indexed in 32
 * bits. */
struct kt_matmul_desc;
int kt_conv2d_gemm_desc(const kt_conv2d_desc *d, struct kt_matmul_desc *out);
/* Whether a CPU runs d faster as that direct GEMM, y[n] = w @ x[n] on the CPU GEMM kernel
 * (pixels as vectors, every row of y stored whole), than on the kernel below (channels as
 * vectors, whose stores gather each pixel's channels): a 1×1, stride-1, unpadded convolution of
 * a map of at least KT_CONV2D_CPU_DIRECT_GEMM_MIN_HW pixels. On this 2-core Zen 4 through PoCL
 * (MobileNet-V2's shapes, 2026-12-05, docs/performance.md) the GEMM took 0.21 ms against 0.32
 * for 16 → 96 channels at 112², 0.12 against 0.15 for 24 → 144 at 56², but 0.08 against 0.06 for
 * 32 → 192 at 28² and ten times as long at 7². */
#define KT_CONV2D_CPU_DIRECT_GEMM_MIN_HW 2048
int kt_conv2d_cpu_direct_gemm(const kt_conv2d_desc *d);

/* ---- convolution for CPUs (conv2d_gemm.c): an implicit GEMM with output channels as vectors ----
 * y^T (pixels × c_out) = col^T (pixels × K) @ w^T (K × c_out), every image's pixels in one GEMM
 * (M = n·h_out·w_out), with col never written: row m of col^T is read straight from x at the
 * window of output pixel m. Three kernels:
 *   - pad (only when the convolution pads): xp = x with its zero border, [n, c_in, hp, wp];
 *     hp or wp may exceed the padded size by one (more zeros) so that a plane's pitch is no
 *     multiple of 512 bytes, which would map consecutive planes onto few L1 sets;
 *   - weight transpose (kt_cpu_pack_bt, matmul_cpu.h, of w as c_out × K): wt[k][co] = w[co][k]
 *     for co < c_out, 0 up to c_out_pad (a multiple of the vector block), so the GEMM loads
 *     whole vectors of output channels; stored in panels of vec·nvec channels, each K deep
 *     and contiguous, so a work-item's weights are one sequential stream;
 *   - the GEMM: each work-item computes `rows` output pixels (any pixels of any images: M is
 *     n·h_out·w_out, the last item's extra rows clamped) × `vec`·`nvec` output channels; per k
 *     one scalar of xp per pixel and `nvec` vectors of wt, the window's columns unrolled (their
 *     offsets into xp are constants); output channels past c_out are computed and not stored.
 *     The epilogue sees each output at its NCHW position.
 * Launch: work-group size (1, 8 or fewer, 1); groups = (c_out_pad / (vec·nvec),
 * ceil(ceil(M / rows) / 8), 1).
 * Thread safety: reentrant. */
typedef struct kt_conv2d_cpu_plan {
  int vec, nvec, rows;        /* vector width, vectors per work-item, pixels per work-item */
  int64_t c_out_pad;          /* c_out rounded up to vec·nvec */
  int padded;                 /* 1: the pad kernel runs and the GEMM reads xp */
  int64_t hp, wp;             /* xp's spatial size (h, w when not padded) */
  int64_t xp_numel, wt_numel; /* elements of the two temporaries (xp_numel 0 when not padded) */
} kt_conv2d_cpu_plan;

/* Plans the CPU convolution for vectors of at most `max_vec` lanes (0: 16). Returns 0, or -1
 * when it does not apply (groups > 1, an invalid shape, buffers past 32-bit indexing). */
int kt_conv2d_cpu_plan_for(const kt_conv2d_desc *d, int max_vec, kt_conv2d_cpu_plan *out);
/* Buffers: x (read), xp (write). Launch: groups as returned. */
int kt_conv2d_cpu_pad(kir_module *m, const char *name, const kt_conv2d_desc *d,
                      const kt_conv2d_cpu_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);
/* Buffers: xp (read; x when not padded), wt (read), bias (read, if has_bias), y (write), then
 * the epilogue's. */
int kt_conv2d_cpu(kir_module *m, const char *name, const kt_conv2d_desc *d,
                  const kt_conv2d_cpu_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- depthwise convolution for CPUs (conv2d_dw.c) ----
 * groups = c_in = c_out (one filter per channel), any kernel size, stride (up to 16 along the
 * rows), padding and dilation: a work-item computes up to 8 vectors of `vec` consecutive outputs
 * of one channel — of one output row, or of a block of `rows` output rows (the plan's, dividing
 * h_out) — each tap a broadcast weight times one vector load of xp.
 * xp is x with its zero border, each padded row stored as stride_w phases (columns f, f + S,
 * ...; S = stride_w) of wp / S floats each, zeros past each phase's columns up to what the
 * last output vector of a row reads.
 * The plan's vec, rows, padded (1), hp, wp and xp_numel are set (nvec 1, no weight pack);
 * -1 when it does not apply. Buffers: of the pad, x (read) and xp (write); of the convolution,
 * xp (read), w (read, as given), bias (read, if has_bias), y (write), then the epilogue's, which
 * sees whole vectors where it takes them. Launch: groups as returned. Thread safety: reentrant. */
int kt_conv2d_dw_plan_for(const kt_conv2d_desc *d, int max_vec, kt_conv2d_cpu_plan *out);
int kt_conv2d_dw_pad(kir_module *m, const char *name, const kt_conv2d_desc *d, const kt_conv2d_cpu_plan *p,
                     kir_kernel **out_kernel, int64_t out_groups[3]);
int kt_conv2d_dw_cpu(kir_module *m, const char *name, const kt_conv2d_desc *d, const kt_conv2d_cpu_plan *p,
                     kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- 3×3 convolution for CPUs by Winograd's F(m×m, 3×3) (conv2d_winograd.c) ----
 * For a 3×3 window, stride 1, no dilation, groups 1. The output is cut into m×m tiles (tiles_h
 * × tiles_w per image, T = n·tiles_h·tiles_w in all; tiles past the output's edge compute
 * values that are not stored); each reads an α×α patch of x (α = m + 2, zeros outside x), and
 *   y_tile = Aᵀ [ Σ_ci (G w[co, ci] Gᵀ) ⊙ (Bᵀ x_patch[ci] B) ] A
 * so the α² element-wise products, summed over ci, are α² independent GEMMs (one per patch
 * position ξ) of T × c_in by c_in × c_out: m²·9 / α² fewer multiplications than the direct
 * convolution (2.25× for m = 2, 4× for m = 4). Four kernels:
 *   - weight (from w alone: once per session, the plan's preparation): U[ξ] = G w Gᵀ, each
 *     ξ's c_in × c_out_pad matrix in the panels of kt_cpu_pack_bt (panel = vec·nvec);
 *   - input: V[ξ][ci][t] = Bᵀ x_patch B at position ξ, for tile t;
 *   - gemm: Mt[ξ][t][co] = Σ_ci V[ξ][ci][t] · U[ξ][ci][co] — the register block of the CPU
 *     GEMMs (`rows` tiles × vec·nvec channels per work-item);
 *   - output: y = Aᵀ Mt[·][t] A + bias, through the epilogue, which sees each output at its NCHW
 *     position (a tile row's m outputs as one vector where the output's width is a multiple
 *     of m and the epilogue takes vectors).
 * Thread safety: reentrant. */
typedef struct kt_winograd_plan {
  int m, alpha;                  /* output tile side (2 or 4) and input tile side m + 2 */
  int vec, nvec, rows;           /* the GEMM's register block, as kt_conv2d_cpu_plan */
  int64_t c_out_pad;             /* c_out rounded up to vec·nvec */
  int64_t tiles_h, tiles_w, t;   /* tiles per image along h and w; T, every image's */
  int64_t u_numel, v_numel, mt_numel; /* elements of U, V and Mt */
} kt_winograd_plan;

/* Plans F(m×m, 3×3) (m 2 or 4) for vectors of at most max_vec lanes (0: 16). Returns 0, or -1
 * when it does not apply (not a 3×3 stride-1 undilated ungrouped window, an invalid shape,
 * buffers past 32-bit indexing). */
int kt_winograd_plan_for(const kt_conv2d_desc *d, int max_vec, int m, kt_winograd_plan *out);
/* The plan to use on a CPU: of the implicit GEMM (kt_conv2d_cpu), F(2×2) and F(4×4), the one
 * a cost model measured on PoCL (conv2d_winograd.c) expects to be fastest. Returns 0 with *out
 * set when that is a Winograd plan, else -1. */
int kt_winograd_pick(const kt_conv2d_desc *d, int max_vec, kt_winograd_plan *out);
/* Buffers: w (read), u (write). */
int kt_winograd_weight(kir_module *m, const char *name, const kt_conv2d_desc *d,
                       const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);
/* Buffers: x (read), v (write). */
int kt_winograd_input(kir_module *m, const char *name, const kt_conv2d_desc *d,
                      const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);
/* Buffers: v (read), u (read), mt (write). */
int kt_winograd_gemm(kir_module *m, const char *name, const kt_conv2d_desc *d,
                     const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);
/* Buffers: mt (read), bias (read, if has_bias), y (write), then the epilogue's. */
int kt_winograd_output(kir_module *m, const char *name, const kt_conv2d_desc *d,
                       const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

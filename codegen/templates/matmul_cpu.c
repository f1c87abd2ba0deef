/* matmul_cpu.c — the GEMM for CPUs (PoCL): explicit vectors and register blocks, no local memory.
 *
 * PoCL does not vectorize a scalar kernel by itself; what it needs is spelled-out vector types.
 * Two shapes, chosen by which axes are contiguous:
 *
 *  - "nn" (B's rows contiguous, b_stride_n = 1): each work-item computes RM rows × NV·VW
 *    columns; per k it loads NV vectors of B's row k (vloadVW) and RM scalars of A, and does
 *    RM·NV vector multiply-adds into RM·NV vector accumulators. The column block at the right
 *    edge (N not a multiple of NV·VW) takes a scalar path, column by column. B may also come
 *    packed in panels of NV·VW columns (b_panels: a weight, packed once per session), each
 *    K × NV·VW and contiguous; a work-group is then one panel and up to 8 row blocks.
 *  - "nt" (A and B both contiguous along K, as linear's x and [out, in] weight): each
 *    work-item computes RM × RN outputs as dot products along K, VW lanes at a time, into RM·RN
 *    vector accumulators that are summed across lanes at the end; K's remainder is scalar.
 *    Rows and columns past the edges are clamped for loads (duplicate work) and not stored.
 *
 * The epilogue (bias, hooks.h) sees each scalar output, as in the tiled kernel; the "nn"
 * kernel's full column blocks hand it whole vectors of a row where it takes them
 * (kt_epilogue.plane_vectors: the transformer block's residual add, 0.74 → 0.69 ms). */
#include "matmul.h"
#include "matmul_cpu.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define MAX_RM KT_CPU_MAX_ROWS
#define MAX_NV KT_CPU_MAX_NV
#define MAX_RN KT_MATMUL_SOFTMAX_MAX_N /* 6 for plain GEMMs; a softmax row takes N */

/* Bias, epilogue and store of one scalar output (row, col) through the shared GEMM frame
 * (matmul.h); returns -1 on failure. */
static int store_one(kir_builder *b, const kt_matmul_frame *s, kir_expr *v, kir_expr *row, kir_expr *col) {
  return kt_matmul_frame_store(b, s, 1, &v, row, col);
}

static int vec_width(const kt_matmul_desc *d) {
  int w = d->max_vec ? d->max_vec : 16;
  return w >= 16 ? 16 : w >= 8 ? 8 : w >= 4 ? 4 : w >= 2 ? 2 : 1;
}

/* Declares col0 / row0, the first column and row of this work-item's block of `cols` × `rows`
 * outputs; with `ragged` (the last work-group runs past the blocks), items past M or N return. */
static void block_origin(kir_builder *b, const kt_matmul_desc *d, int cols, int rows, int ragged,
                         int *out_col0, int *out_row0) {
  int col0 = kir_var_new(b, "col0", kir_t(KIR_I32));
  int row0 = kir_var_new(b, "row0", kir_t(KIR_I32));
  kir_decl(b, col0, kir_mul(b, kir_global_id(b, 0), kir_i32(b, cols)));
  kir_decl(b, row0, kir_mul(b, kir_global_id(b, 1), kir_i32(b, rows)));
  if (ragged) {
    kir_if(b, kir_bin(b, KIR_OR, kir_bin(b, KIR_GE, kir_var(b, col0), kir_i32(b, d->n)),
                      kir_bin(b, KIR_GE, kir_var(b, row0), kir_i32(b, d->m))));
    kir_return(b);
    kir_end(b);
  }
  *out_col0 = col0;
  *out_row0 = row0;
}

/* Row index i of the block starting at row0, clamped into [0, M) when M is ragged. */
static kir_expr *clamped(kir_builder *b, int row0, int i, int64_t lim, int ragged) {
  kir_expr *r = kir_add(b, kir_var(b, row0), kir_i32(b, i));
  return ragged ? kir_bin(b, KIR_MIN, r, kir_i32(b, lim - 1)) : r;
}

/* Declares `n` variables TAG<i> = base + clamped(first + i)·stride: where line i of the
 * work-item's block of an operand starts (rows past `lim` clamped when `ragged`). */
static void line_starts(kir_builder *b, const char *tag, int base, int first, int n, int64_t lim,
                        int ragged, int64_t stride, int out[]) {
  for (int i = 0; i < n; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "%s%d", tag, i);
    out[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, out[i], kir_add(b, kir_var(b, base), kt_scaled(b, clamped(b, first, i, lim, ragged), stride)));
  }
}

/* Index of row i of a block whose row 0 is at index variable `at`, rows `stride` apart. */
static kir_expr *row_at(kir_builder *b, int at, int i, int64_t stride) {
  return i ? kir_add(b, kir_var(b, at), kir_i32(b, (int64_t)i * stride)) : kir_var(b, at);
}

/* Vectors per row of the "nn" kernel's register block. */
static int nn_vectors(int vw) { return vw >= 16 ? 2 : 4; }

int kt_matmul_cpu_panel(const kt_matmul_desc *d) {
  const int vw = vec_width(d);
  return vw * nn_vectors(vw);
}

/* Where row k of B's block starting at column col0 begins: in its panel of cn columns (col0·K
 * on, b_panels), or in B as strided; the block's column j is j further. */
static kir_expr *b_row(kir_builder *b, const kt_matmul_desc *d, const kt_matmul_frame *s, int k, int col0,
                       int cn) {
  kir_expr *at = d->b_panels ? kir_add(b, kt_scaled(b, kir_var(b, k), cn), kt_scaled(b, kir_var(b, col0), d->k))
                             : kir_add(b, kt_scaled(b, kir_var(b, k), d->b_stride_k), kir_var(b, col0));
  return kir_add(b, kir_var(b, s->b_base), at);
}

static int build_nn(kir_module *m, const char *name, const kt_matmul_desc *d,
                    kir_kernel **out_kernel, int64_t groups[3]) {
  const int64_t M = d->m, N = d->n, K = d->k;
  const int VW = vec_width(d);
  const int NV = nn_vectors(VW);
  const int RM = M >= 8 ? 8 : (int)M;
  const int CN = NV * VW;
  const int64_t nbx = kt_ceil_div(N, CN), nby = kt_ceil_div(M, RM);
  /* A packed B: a group is one panel and up to 8 row blocks (spread evenly), which read the
   * panel once from memory and then from cache, as the convolution's groups do
   * (conv2d_cpu.c); otherwise 4 × 4 blocks. */
  const int LX = d->b_panels ? 1 : nbx >= 4 ? 4 : (int)nbx;
  const int LY = d->b_panels ? kt_cpu_group_items(nby, 8) : nby >= 4 ? 4 : (int)nby;
  kt_matmul_frame s;
  kir_builder *b = kt_matmul_frame_begin(m, name, d, LX, LY, &s);
  if (!b) return -1;
  int col0, row0;
  block_origin(b, d, CN, RM, nbx % LX || nby % LY, &col0, &row0);
  /* The rows of A this item reads: RM rows from rowa at a constant stride, so each row's load is
   * one shared index plus a constant. When M is ragged the last block is moved back to end at
   * row M − 1 (rowa = min(row0, M − RM)); it stores only its rows from row0 on, which no other
   * item stores. (Clamping each row separately gave every row its own index variable; LLVM
   * packed those into vector registers and, at 12 rows, spilled accumulators for them.) */
  const int ragged_m = M % RM != 0;
  int rowa = row0;
  if (ragged_m) {
    rowa = kir_var_new(b, "rowa", kir_t(KIR_I32));
    kir_decl(b, rowa, kir_bin(b, KIR_MIN, kir_var(b, row0), kir_i32(b, M - RM)));
  }
  int abase = kir_var_new(b, "abase", kir_t(KIR_I32));
  kir_decl(b, abase, kir_add(b, kir_var(b, s.a_base), kt_scaled(b, kir_var(b, rowa), d->a_stride_m)));
  const int ragged_n = N % CN != 0;
  if (ragged_n) kir_if(b, kir_bin(b, KIR_LE, kir_add(b, kir_var(b, col0), kir_i32(b, CN)),
                                  kir_i32(b, N)));
  /* Full column block: vectors. */
  int acc[MAX_RM][MAX_NV];
  kt_cpu_block_zero(b, RM, NV, VW, acc);
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  int brow = kir_var_new(b, "brow", kir_t(KIR_I32));
  int ak = kir_var_new(b, "ak", kir_t(KIR_I32));
  kir_for(b, k, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_decl(b, brow, b_row(b, d, &s, k, col0, CN));
  kir_decl(b, ak, kir_add(b, kir_var(b, abase), kt_scaled(b, kir_var(b, k), d->a_stride_k)));
  kir_expr *a_at[MAX_RM] = {0};
  for (int i = 0; i < RM; i++) a_at[i] = row_at(b, ak, i, d->a_stride_m);
  kt_cpu_block_step(b, s.bA, a_at, RM, s.bB, kir_var(b, brow), NV, VW, acc);
  kir_end(b); /* k */
  const int vec_store = kt_matmul_frame_vec_ok(d);
  for (int i = 0; i < RM; i++) {
    kir_expr *row = kir_add(b, kir_var(b, rowa), kir_i32(b, i));
    if (ragged_m) kir_if(b, kir_bin(b, KIR_GE, kir_add(b, kir_var(b, rowa), kir_i32(b, i)), kir_var(b, row0)));
    for (int v = 0; v < NV; v++) {
      if (vec_store) {
        kir_expr *col = kir_add(b, kir_var(b, col0), kir_i32(b, v * VW));
        if (kt_matmul_frame_store_vec(b, &s, kir_var(b, acc[i][v]), row, col)) {
          kir_kernel_end(b, NULL);
          return kt_fail(m, "the fused epilogue could not be built");
        }
        continue;
      }
      for (int l = 0; l < VW; l++) {
        kir_expr *col = kir_add(b, kir_var(b, col0), kir_i32(b, v * VW + l));
        if (store_one(b, &s, kir_component(b, kir_var(b, acc[i][v]), l), row, col)) {
          kir_kernel_end(b, NULL);
          return kt_fail(m, "the fused epilogue could not be built");
        }
      }
    }
    if (ragged_m) kir_end(b);
  }
  if (ragged_n) {
    /* The right edge: one column at a time, scalars. */
    kir_else(b);
    int j = kir_var_new(b, "j", kir_t(KIR_I32));
    int col = kir_var_new(b, "col", kir_t(KIR_I32));
    int k2 = kir_var_new(b, "k", kir_t(KIR_I32));
    int ak2 = kir_var_new(b, "ak", kir_t(KIR_I32));
    int bval = kir_var_new(b, "bval", kir_t(KIR_F32));
    kir_for(b, j, kir_i32(b, 0), kir_i32(b, CN), kir_i32(b, 1));
    kir_decl(b, col, kir_add(b, kir_var(b, col0), kir_var(b, j)));
    kir_if(b, kt_lt(b, kir_var(b, col), N));
    int sacc[MAX_RM];
    for (int i = 0; i < RM; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "s%d", i);
      sacc[i] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, sacc[i], kir_f32(b, 0.0));
    }
    kir_for(b, k2, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
    kir_decl(b, bval, kir_load(b, s.bB, kir_add(b, b_row(b, d, &s, k2, col0, CN), kir_var(b, j))));
    kir_decl(b, ak2, kir_add(b, kir_var(b, abase), kt_scaled(b, kir_var(b, k2), d->a_stride_k)));
    for (int i = 0; i < RM; i++)
      kir_assign(b, sacc[i], kir_add(b, kir_var(b, sacc[i]),
                                     kir_mul(b, kir_load(b, s.bA, row_at(b, ak2, i, d->a_stride_m)),
                                             kir_var(b, bval))));
    kir_end(b); /* k2 */
    for (int i = 0; i < RM; i++) {
      kir_expr *row = kir_add(b, kir_var(b, rowa), kir_i32(b, i));
      if (ragged_m) kir_if(b, kir_bin(b, KIR_GE, kir_add(b, kir_var(b, rowa), kir_i32(b, i)), kir_var(b, row0)));
      if (store_one(b, &s, kir_var(b, sacc[i]), row, kir_var(b, col))) {
        kir_kernel_end(b, NULL);
        return kt_fail(m, "the fused epilogue could not be built");
      }
      if (ragged_m) kir_end(b);
    }
    kir_end(b); /* col < N */
    kir_end(b); /* j */
    kir_end(b); /* if full block */
  }
  groups[0] = kt_ceil_div(nbx, LX);
  groups[1] = kt_ceil_div(nby, LY);
  groups[2] = s.nb;
  return kir_kernel_end(b, out_kernel);
}

/* The "nt" kernel's work-group, lx column blocks × ly row blocks. PoCL runs a group's items
 * one after another on one core, x fastest, so a tall group (ly up to 32, lx 2) reads its
 * 2·RN rows of B once from memory and then from L1 while it walks down M; 4 × 4 groups read
 * each row of B M / 16 times from L3 when B exceeds L2 (the transformer block's 3072 × 768
 * weight: 37–39 ms of CPU per run against 29–32, 2026-12-03). Short M widens the group to
 * 64 items; then groups are halved, ly first, until there are at least 8 (2 cores, with room
 * to balance) or they are single items. With `sequential` 0 (Vulkan: lavapipe runs a group's
 * invocations side by side as SIMD lanes, and took 1.8× the CPU time with tall groups) the
 * group stays 4 × 4 blocks. */
static void nt_group(int64_t nbx, int64_t nby, int64_t nb, int sequential, int *out_lx,
                     int *out_ly) {
  if (!sequential) {
    *out_lx = nbx >= 4 ? 4 : (int)nbx;
    *out_ly = nby >= 4 ? 4 : (int)nby;
    return;
  }
  int ly = nby < 32 ? (int)nby : 32;
  int lx = 64 / ly;
  if (lx > nbx) lx = (int)nbx;
  while (kt_ceil_div(nbx, lx) * kt_ceil_div(nby, ly) * nb < 8 && (lx > 1 || ly > 1)) {
    if (ly > 1) ly = (ly + 1) / 2;
    else lx = (lx + 1) / 2;
  }
  *out_lx = lx;
  *out_ly = ly;
}

/* Each of the rm rows of sums v[i][0..rn) (whole rows of C) becomes its softmax in place:
 * the bias added, then exp(v - max) / sum, the exps over vectors of vw <= 4 lanes (the last
 * one filled with -inf, whose exp is 0): PoCL's scalar exp calls took 2/3 of the MLP head's kernel. */
static void row_softmax(kir_builder *b, const kt_matmul_frame *s, int rm, int rn, int vw,
                        int v[MAX_RN][MAX_RN]) {
  const kir_type vt = kir_tv(KIR_F32, vw);
  for (int i = 0; i < rm; i++) {
    char nm[32];
    if (s->bBias >= 0)
      for (int j = 0; j < rn; j++)
        kir_assign(b, v[i][j], kir_add(b, kir_var(b, v[i][j]), kir_load(b, s->bBias, kir_i32(b, j))));
    snprintf(nm, sizeof nm, "mx%d", i);
    int mx = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, mx, kir_var(b, v[i][0]));
    for (int j = 1; j < rn; j++) kir_assign(b, mx, kir_bin(b, KIR_MAX, kir_var(b, mx), kir_var(b, v[i][j])));
    snprintf(nm, sizeof nm, "den%d", i);
    int den = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, den, kir_f32(b, 0.0));
    for (int c0 = 0; c0 < rn; c0 += vw) {
      kir_expr *lanes[4];
      for (int q = 0; q < vw; q++)
        lanes[q] = c0 + q < rn ? kir_var(b, v[i][c0 + q]) : kir_f32(b, -INFINITY);
      snprintf(nm, sizeof nm, "ex%d_%d", i, c0 / vw);
      int ex = kir_var_new(b, nm, vt);
      kir_expr *arg = vw > 1 ? kir_bin(b, KIR_SUB, kir_vector(b, vw, lanes), kir_cast(b, vt, kir_var(b, mx)))
                             : kir_bin(b, KIR_SUB, lanes[0], kir_var(b, mx));
      kir_decl(b, ex, kir_un(b, KIR_EXP, arg));
      kir_assign(b, den, kir_add(b, kir_var(b, den), vw > 1 ? kt_lane_sum(b, ex) : kir_var(b, ex)));
      for (int q = 0; q < vw && c0 + q < rn; q++)
        kir_assign(b, v[i][c0 + q], vw > 1 ? kir_component(b, kir_var(b, ex), q) : kir_var(b, ex));
    }
    kir_assign(b, den, kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, den)));
    for (int j = 0; j < rn; j++) kir_assign(b, v[i][j], kir_mul(b, kir_var(b, v[i][j]), kir_var(b, den)));
  }
}

static int build_nt(kir_module *m, const char *name, const kt_matmul_desc *d,
                    kir_kernel **out_kernel, int64_t groups[3]) {
  const int64_t M = d->m, N = d->n, K = d->k;
  int VW = vec_width(d);
  while (VW > 1 && VW > K) VW /= 2;
  /* 4 rows × 6 columns where N allows (PoCL: 24 accumulators, the 4 rows of A and one column
   * of B at a time live, 10 loads per 24 multiply-adds against 8 per 16 for 4 × 4: the
   * transformer block's GEMMs 9.6–9.8 → 9.3–9.5 ms, its K = 3072 projection 3.2–3.4 → 2.9–3.1;
   * the MLP's N = 256 unchanged with ragged 6-column blocks, so it keeps 4). */
  const int wide = vec_width(d) >= 16 && N % 6 == 0;
  int RM = M >= 4 ? 4 : (int)M, RN = wide ? 6 : N >= 4 ? 4 : (int)N;
  /* A softmax row: all N columns in one item, 2 rows while that keeps 24 accumulators. */
  if (d->row_softmax) {
    RN = (int)N;
    RM = N <= 12 && M >= 2 ? 2 : 1;
  }
  const int64_t nbx = kt_ceil_div(N, RN), nby = kt_ceil_div(M, RM);
  int LX, LY;
  int64_t nb = 1;
  for (int i = 0; i < d->n_batch; i++) nb *= d->batch[i];
  /* OpenCL's 16-lane vectors (max_vec 0 or 16) mean PoCL, whose items run one after another;
   * Vulkan caps vectors at 4 (mlg_lower_max_vec). */
  nt_group(nbx, nby, nb, vec_width(d) >= 16, &LX, &LY);
  const kir_type vt = kir_tv(KIR_F32, VW);
  kt_matmul_frame s;
  kir_builder *b = kt_matmul_frame_begin(m, name, d, LX, LY, &s);
  if (!b) return -1;
  int col0, row0;
  block_origin(b, d, RN, RM, nbx % LX || nby % LY, &col0, &row0);
  const int ragged_m = M % RM != 0, ragged_n = N % RN != 0;
  int arow[MAX_RN], bcol[MAX_RN];
  line_starts(b, "arow", s.a_base, row0, RM, M, ragged_m, d->a_stride_m, arow);
  line_starts(b, "bcol", s.b_base, col0, RN, N, ragged_n, d->b_stride_n, bcol);
  const int64_t kv = K / VW * VW;
  int acc[MAX_RN][MAX_RN], sacc[MAX_RN][MAX_RN];
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "acc%d_%d", i, j);
      acc[i][j] = kir_var_new(b, nm, vt);
      kir_decl(b, acc[i][j], kir_cast(b, vt, kir_f32(b, 0.0)));
    }
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  if (kv > 0) {
    int av[MAX_RN], bv[MAX_RN];
    kir_for(b, k, kir_i32(b, 0), kir_i32(b, kv), kir_i32(b, VW));
    for (int i = 0; i < RM; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "av%d", i);
      av[i] = kir_var_new(b, nm, vt);
      kir_decl(b, av[i], kir_load_vec(b, s.bA, kir_add(b, kir_var(b, arow[i]), kir_var(b, k)), VW));
    }
    /* Each column of B loaded just before its multiply-adds, so that few are live at once. */
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "bv%d", j);
      bv[j] = kir_var_new(b, nm, vt);
      kir_decl(b, bv[j], kir_load_vec(b, s.bB, kir_add(b, kir_var(b, bcol[j]), kir_var(b, k)), VW));
      for (int i = 0; i < RM; i++)
        kir_assign(b, acc[i][j], kir_add(b, kir_var(b, acc[i][j]),
                                         kir_mul(b, kir_var(b, av[i]), kir_var(b, bv[j]))));
    }
    kir_end(b);
  }
  /* Lanes summed, then K's remainder in scalars. (A tree over pairs of accumulators, the
   * low halves of two concatenated plus the high halves, level after level, took more of the
   * transformer's K = 768 GEMMs than these sums, 10.5% against 7.5%: LLVM lowers its
   * concatenations to permutes, and its last levels to scalar adds; 2026-12-05.) */
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "sum%d_%d", i, j);
      sacc[i][j] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, sacc[i][j], kt_lane_sum(b, acc[i][j]));
    }
  if (kv < K) {
    int k2 = kir_var_new(b, "kr", kir_t(KIR_I32));
    kir_for(b, k2, kir_i32(b, kv), kir_i32(b, K), kir_i32(b, 1));
    for (int i = 0; i < RM; i++)
      for (int j = 0; j < RN; j++)
        kir_assign(b, sacc[i][j],
                   kir_add(b, kir_var(b, sacc[i][j]),
                           kir_mul(b, kir_load(b, s.bA, kir_add(b, kir_var(b, arow[i]), kir_var(b, k2))),
                                   kir_load(b, s.bB, kir_add(b, kir_var(b, bcol[j]), kir_var(b, k2))))));
    kir_end(b);
  }
  kt_matmul_frame st = s;
  if (d->row_softmax) {
    row_softmax(b, &s, RM, RN, vec_width(d) >= 4 ? 4 : vec_width(d), sacc);
    st.bBias = -1; /* added before the softmax */
  }
  for (int i = 0; i < RM; i++) {
    kir_expr *row = kir_add(b, kir_var(b, row0), kir_i32(b, i));
    if (ragged_m) kir_if(b, kt_lt(b, row, M));
    for (int j = 0; j < RN; j++) {
      kir_expr *col = kir_add(b, kir_var(b, col0), kir_i32(b, j));
      if (ragged_n) kir_if(b, kt_lt(b, col, N));
      if (store_one(b, &st, kir_var(b, sacc[i][j]), row, col)) {
        kir_kernel_end(b, NULL);
        return kt_fail(m, "the fused epilogue could not be built");
      }
      if (ragged_n) kir_end(b);
    }
    if (ragged_m) kir_end(b);
  }
  groups[0] = kt_ceil_div(nbx, LX);
  groups[1] = kt_ceil_div(nby, LY);
  groups[2] = s.nb;
  return kir_kernel_end(b, out_kernel);
}

int kt_matmul_cpu(kir_module *m, const char *name, const kt_matmul_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (d->row_softmax) {
    if (!d->trans_b || d->a_stride_k != 1 || d->b_stride_k != 1 || d->n_batch || d->a_norm ||
        d->c_fold || d->n > KT_MATMUL_SOFTMAX_MAX_N)
      return kt_fail(m, "a softmax'ed GEMM needs B as N x K, both contiguous along K, no batch "
                        "dims and N <= %d (N = %lld)", KT_MATMUL_SOFTMAX_MAX_N, (long long)d->n);
    return build_nt(m, name, d, out_kernel, out_groups) == 0 ? 1 : -1;
  }
  if (d->device_class != KT_DEVICE_CPU || d->a_norm) return 0;
  int rc;
  if (d->b_panels) {
    if (d->n_batch || d->n < 16)
      return kt_fail(m, "a packed B needs no batch dims and N >= 16 (N = %lld)", (long long)d->n);
    rc = build_nn(m, name, d, out_kernel, out_groups);
  } else if (d->b_stride_n == 1 && d->n >= 16 && d->k >= 1)
    rc = build_nn(m, name, d, out_kernel, out_groups);
  else if (d->a_stride_k == 1 && d->b_stride_k == 1 && d->k >= 8)
    rc = build_nt(m, name, d, out_kernel, out_groups);
  else
    return 0;
  return rc == 0 ? 1 : -1;
}

/* The opening of both packs: one work-item per 4 rows k (up to 8 a group) of one panel (y) of
 * dst; declares the buffers src and dst, k0 (the item's first row k; items past K return) and
 * p0 (the panel's first column of dst) and sets the launch. NULL on allocation failure. */
static kir_builder *pack_begin(kir_module *m, const char *name, int64_t K, int64_t n_pad, int64_t panel,
                               int *bs, int *bd, int *k0, int *p0, int64_t out_groups[3]) {
  const int64_t items = kt_ceil_div(K, 4);
  const int lx = items >= 8 ? 8 : (int)items;
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return NULL;
  *bs = kir_buffer_param(b, "src", KIR_F32, KIR_READ);
  *bd = kir_buffer_param(b, "dst", KIR_F32, KIR_WRITE);
  *k0 = kir_var_new(b, "k0", kir_t(KIR_I32));
  *p0 = kir_var_new(b, "p0", kir_t(KIR_I32));
  kir_decl(b, *k0, kir_mul(b, kir_global_id(b, 0), kir_i32(b, 4)));
  if (items % lx) kt_return_past(b, kir_var(b, *k0), K);
  kir_decl(b, *p0, kt_scaled(b, kir_global_id(b, 1), panel));
  out_groups[0] = kt_ceil_div(items, lx);
  out_groups[1] = n_pad / panel;
  out_groups[2] = 1;
  return b;
}

int kt_cpu_pack_bt(kir_module *m, const char *name, int64_t R, int64_t K, int64_t r_pad,
                   int64_t panel, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  const int64_t lim = (int64_t)1 << 31;
  if (R < 1 || K < 1 || r_pad < R || r_pad > lim / K)
    return kt_fail(m, "packing %lld rows of %lld (padded to %lld) leaves 32-bit indexing",
                   (long long)R, (long long)K, (long long)r_pad);
  if (panel < 1 || r_pad % panel)
    return kt_fail(m, "a panel of %lld columns does not divide %lld", (long long)panel,
                   (long long)r_pad);
  /* One work-item per 4 rows k of one panel of dst, through 4 × 4 blocks: per 4 r it reads 4
   * elements of 4 source rows and writes 4 elements of its 4 dst rows (the block transposed
   * in registers). (One item per row k, an element at a time, ran ResNet's 512 × 4608 weight
   * at 7.6 GB/s; one item per element ran 4× slower on PoCL: thousands of tiny work-groups.
   * One item per 4 rows k of the whole width read its 4 × 512 elements from 512 pages, and
   * took 0.8 to 2.5 ms for that weight from run to run; a panel's 64 rows r fit the L1
   * TLB.) Rows past the last whole block of 4 r (and a ragged last item's rows k, and every
   * row of panels narrower than 4 or not a multiple) are copied an element at a time. */
  const int64_t r4 = panel % 4 ? 0 : R / 4 * 4;
  int bs, bd, k0, p0; /* p0: the panel's first row r */
  kir_builder *b = pack_begin(m, name, K, r_pad, panel, &bs, &bd, &k0, &p0, out_groups);
  if (!b) return -1;
  int dst = kir_var_new(b, "dst0", kir_t(KIR_I32));
  int r = kir_var_new(b, "r", kir_t(KIR_I32));
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  /* dst0: the panel's row k0 */
  kir_decl(b, dst, kir_add(b, kt_scaled(b, kir_var(b, p0), K), kt_scaled(b, kir_var(b, k0), panel)));
  /* j: the item's rows k, 4 but in a ragged last item */
  kir_decl(b, j, K % 4 ? kir_select(b, kt_lt(b, kir_var(b, k0), K - 3), kir_i32(b, 4), kir_i32(b, K % 4))
                       : kir_i32(b, 4));
  if (K % 4) kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, j), kir_i32(b, 4)));
  int r0 = r4 ? kir_var_new(b, "r0", kir_t(KIR_I32)) : -1;
  if (r4) {
    kir_for(b, r0, kir_var(b, p0),
            kir_bin(b, KIR_MIN, kir_add(b, kir_var(b, p0), kir_i32(b, panel)), kir_i32(b, r4)),
            kir_i32(b, 4));
    kir_expr *e[4][4]; /* e[i][c]: src[r0 + i][k0 + c] */
    for (int i = 0; i < 4; i++) {
      kir_expr *row = kir_add(b, kir_var(b, k0), kt_scaled(b, kir_add(b, kir_var(b, r0), kir_i32(b, i)), K));
      char nm[16];
      snprintf(nm, sizeof nm, "v%d", i);
      int v = kir_var_new(b, nm, kir_tv(KIR_F32, 4));
      kir_decl(b, v, kir_load_vec(b, bs, row, 4));
      for (int c = 0; c < 4; c++) e[i][c] = kir_component(b, kir_var(b, v), c);
    }
    for (int c = 0; c < 4; c++) {
      kir_expr *col[4] = {e[0][c], e[1][c], e[2][c], e[3][c]};
      kir_expr *at = kir_add(b, kir_var(b, dst), kir_bin(b, KIR_SUB, kir_var(b, r0), kir_var(b, p0)));
      kir_store(b, bd, kir_add(b, at, kir_i32(b, c * panel)), kir_vector(b, 4, col));
    }
    kir_end(b); /* r0 */
  }
  if (K % 4) kir_end(b);
  /* the panel's rows r from r4 on (all of them in a ragged item): src[r][k0 + c], zeros past R */
  int c = kir_var_new(b, "c", kir_t(KIR_I32));
  kir_expr *from = kir_bin(b, KIR_MAX, kir_var(b, p0), kir_i32(b, r4));
  if (K % 4) from = kir_select(b, kir_bin(b, KIR_LT, kir_var(b, j), kir_i32(b, 4)), kir_var(b, p0), from);
  kir_for(b, c, kir_i32(b, 0), kir_var(b, j), kir_i32(b, 1));
  kir_for(b, r, from, kir_add(b, kir_var(b, p0), kir_i32(b, panel)), kir_i32(b, 1));
  kir_expr *x = kir_load(b, bs, kir_add(b, kir_add(b, kir_var(b, k0), kir_var(b, c)),
                                       kt_scaled(b, kir_bin(b, KIR_MIN, kir_var(b, r), kir_i32(b, R - 1)), K)));
  if (r_pad > R) x = kir_select(b, kt_lt(b, kir_var(b, r), R), x, kir_f32(b, 0.0));
  kir_store(b, bd, kir_add(b, kir_add(b, kir_var(b, dst), kt_scaled(b, kir_var(b, c), panel)),
                           kir_bin(b, KIR_SUB, kir_var(b, r), kir_var(b, p0))), x);
  kir_end(b); /* r */
  kir_end(b); /* c */
  return kir_kernel_end(b, out_kernel);
}

int kt_cpu_pack_b(kir_module *m, const char *name, int64_t N, int64_t K, int64_t stride_k, int64_t n_pad,
                  int64_t panel, int max_vec, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  const int64_t lim = (int64_t)1 << 31;
  if (N < 1 || K < 1 || n_pad < N || stride_k < N || n_pad > lim / K || stride_k > lim / K)
    return kt_fail(m, "packing %lld rows of %lld (padded to %lld, %lld apart) leaves 32-bit indexing",
                   (long long)K, (long long)N, (long long)n_pad, (long long)stride_k);
  if (panel < 1 || n_pad % panel)
    return kt_fail(m, "a panel of %lld columns does not divide %lld", (long long)panel, (long long)n_pad);
  /* A row's part of a panel is `panel` consecutive elements of src: whole vectors of up to 16,
   * where the panel lies inside N; the ragged last panel an element at a time, zeros past N. */
  int vw = max_vec > 0 && max_vec < 16 ? max_vec : 16;
  while (vw > 1 && (panel % vw || (vw != 4 && vw != 8 && vw != 16))) vw /= 2;
  const int64_t full = N / panel; /* panels inside N */
  int bs, bd, k0, p0; /* p0: the panel's first column */
  kir_builder *b = pack_begin(m, name, K, n_pad, panel, &bs, &bd, &k0, &p0, out_groups);
  if (!b) return -1;
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  int c = kir_var_new(b, "c", kir_t(KIR_I32));
  kir_for(b, k, kir_var(b, k0), kir_bin(b, KIR_MIN, kir_add(b, kir_var(b, k0), kir_i32(b, 4)), kir_i32(b, K)),
          kir_i32(b, 1));
  kir_expr *from = kir_add(b, kt_scaled(b, kir_var(b, k), stride_k), kir_var(b, p0));
  kir_expr *to = kir_add(b, kt_scaled(b, kir_var(b, p0), K), kt_scaled(b, kir_var(b, k), panel));
  int src_at = kir_var_new(b, "src_at", kir_t(KIR_I32)), dst_at = kir_var_new(b, "dst_at", kir_t(KIR_I32));
  kir_decl(b, src_at, from);
  kir_decl(b, dst_at, to);
  if (full < n_pad / panel) kir_if(b, kt_lt(b, kir_var(b, p0), full * panel));
  if (full > 0)
    for (int64_t e = 0; e < panel; e += vw) {
      kir_expr *v = vw > 1 ? kir_load_vec(b, bs, kir_add(b, kir_var(b, src_at), kir_i32(b, e)), vw)
                           : kir_load(b, bs, kir_add(b, kir_var(b, src_at), kir_i32(b, e)));
      kir_store(b, bd, kir_add(b, kir_var(b, dst_at), kir_i32(b, e)), v);
    }
  if (full < n_pad / panel) {
    kir_else(b);
    kir_for(b, c, kir_i32(b, 0), kir_i32(b, panel), kir_i32(b, 1));
    kir_expr *n = kir_add(b, kir_var(b, p0), kir_var(b, c));
    kir_expr *x = kir_load(b, bs, kir_add(b, kt_scaled(b, kir_var(b, k), stride_k),
                                         kir_bin(b, KIR_MIN, n, kir_i32(b, N - 1))));
    kir_store(b, bd, kir_add(b, kir_var(b, dst_at), kir_var(b, c)),
              kir_select(b, kt_lt(b, kir_add(b, kir_var(b, p0), kir_var(b, c)), N), x, kir_f32(b, 0.0)));
    kir_end(b); /* c */
    kir_end(b); /* if */
  }
  kir_end(b); /* k */
  return kir_kernel_end(b, out_kernel);
}

void kt_cpu_channel_block(int64_t channels, int max_vec, int *out_vec, int *out_nvec) {
  int w = max_vec ? max_vec : 16;
  int vec = w >= 16 ? 16 : w >= 8 ? 8 : w >= 4 ? 4 : w >= 2 ? 2 : 1;
  /* the most vectors whose block pads the channels least (96 channels: 3 float16s, not 4 with
   * a third of the second block's work on padding) */
  int nvec = KT_CPU_MAX_NV;
  int64_t best = kt_ceil_div(channels, (int64_t)vec * nvec) * vec * nvec;
  for (int nv = KT_CPU_MAX_NV - 1; nv >= 1; nv--) {
    const int64_t pad = kt_ceil_div(channels, (int64_t)vec * nv) * vec * nv;
    if (pad < best) {
      best = pad;
      nvec = nv;
    }
  }
  *out_vec = vec;
  *out_nvec = nvec;
}

int kt_cpu_group_items(int64_t blocks, int most) {
  return (int)kt_ceil_div(blocks, kt_ceil_div(blocks, most));
}

void kt_cpu_block_zero(kir_builder *b, int rows, int nvec, int vw,
                       int acc[KT_CPU_MAX_ROWS][KT_CPU_MAX_NV]) {
  const kir_type vt = kir_tv(KIR_F32, vw);
  for (int i = 0; i < rows; i++)
    for (int v = 0; v < nvec; v++) {
      char nm[32];
      snprintf(nm, sizeof nm, "acc%d_%d", i, v);
      acc[i][v] = kir_var_new(b, nm, vt);
      kir_decl(b, acc[i][v], kir_cast(b, vt, kir_f32(b, 0.0)));
    }
}

void kt_cpu_block_step(kir_builder *b, int buf_a, kir_expr *const *a_at, int rows, int buf_b,
                       kir_expr *b_at, int nvec, int vw, int acc[KT_CPU_MAX_ROWS][KT_CPU_MAX_NV]) {
  const kir_type vt = kir_tv(KIR_F32, vw);
  int bv[KT_CPU_MAX_NV];
  for (int v = 0; v < nvec; v++) {
    char nm[32];
    snprintf(nm, sizeof nm, "bv%d", v);
    bv[v] = kir_var_new(b, nm, vt);
    kir_decl(b, bv[v], kir_load_vec(b, buf_b, v ? kir_add(b, b_at, kir_i32(b, v * vw)) : b_at, vw));
  }
  for (int i = 0; i < rows; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "av%d", i);
    int av = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, av, kir_load(b, buf_a, a_at[i]));
    for (int v = 0; v < nvec; v++)
      kir_assign(b, acc[i][v], kir_add(b, kir_var(b, acc[i][v]),
                                       kir_mul(b, kir_var(b, av), kir_var(b, bv[v]))));
  }
}

/* matmul.c — tiled batched matmul: local-memory tiles, a register block per work-item. */
#include "matmul.h"
#include "matmul_tile.h"

#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_REG 16
#define WIDE_MIN_GROUPS 128 /* wide tiles only where they make this many work-groups */

/* Tile and block for one output axis of extent s. */
static void pick_axis(int64_t s, int *tile, int *reg) {
  if (s <= 1) { *tile = 1; *reg = 1; }
  else if (s <= 4) { *tile = 4; *reg = 1; }
  else if (s <= 16) { *tile = 16; *reg = 2; }
  else if (s <= 32) { *tile = 32; *reg = 2; }
  else { *tile = 64; *reg = 4; }
}

void kt_matmul_pick_tiles(kt_matmul_desc *d) {
  int tm, rm, tn, rn;
  pick_axis(d->m, &tm, &rm);
  pick_axis(d->n, &tn, &rn);
  /* Large problems: a 32×64 tile of 8×8 work-items with 4×8 blocks. On PoCL (2-core AVX-512,
   * shared and noisy) SGEMM 1024 ran at 10–35 GFLOP/s with this and with the 64×64 / 4×4
   * alternatives alike; per-device tuning is left to the tuner (fast-kernels issue). */
  if (d->m > 32 && d->n > 32) { tm = 32; rm = 4; tn = 64; rn = 8; }
  /* A skinny side leaves few work-items: widen the other side's tile instead. */
  if (tm <= 4 && d->n > 64) { tn = 128; rn = tm == 1 ? 2 : 4; }
  if (tn <= 4 && d->m > 64) { tm = 128; rm = tn == 1 ? 2 : 4; }
  /* GPUs (NVIDIA through OpenCL or Vulkan): 8×8 per work-item in a 128×128 tile (256
   * work-items) or, for mid-sized problems, a 64×64 one (64 work-items) — CLBlast's winners on
   * recent NVIDIA cards are of this shape; 2·128·16·4 = 16 KiB of local memory. */
  if (d->device_class == KT_DEVICE_GPU && d->m >= 64 && d->n >= 64) {
    int big = d->m >= 512 && d->n >= 512;
    tm = tn = big ? 128 : 64;
    rm = rn = 8;
  }
  /* A plain f32 GEMM with enough of them: 128×256 tiles of 8×16 blocks, double-buffered (see
   * double_buffered), one work-group per SM. On the H100 SGEMM 4096 took 2.99 ms against the
   * 128×128 kernel's 3.44 and cuBLAS's 2.73 (whose own kernel is a 256×128 tile, k8, three
   * stages), 2048 0.391 against 0.449 and 0.358 (hand-written kernels of the two shapes timed
   * alone, 2026-12-05; 256×128 of 16×8 blocks: 3.01 and 0.393). Through Vulkan (no unroll
   * pragma: two k steps an iteration by hand) 128×256 ran 3.91 and 0.485 ms against 3.82 and
   * 0.469 on 128×128 tiles (H100, 255 registers), 256×128 of 16×8 blocks 3.68 and 0.466 against
   * 3.85 and 0.474 (H200, 208 registers); so Vulkan takes those (measured again once its
   * vector reads went direct, H100: 128×256 3.59–3.97 and 0.451–0.492 with one, two or four k
   * steps an iteration or [[unroll]], 256×128 3.00 and 0.386 with eight). */
  const int wide = d->device_class == KT_DEVICE_GPU && !d->n_batch && !d->b_im2col.on && !d->a_norm &&
                   d->a_elem == KIR_F32 && d->b_elem == KIR_F32;
  const int wm = d->pragma_unroll ? 128 : 256, wn = d->pragma_unroll ? 256 : 128;
  if (wide && d->m >= wm && d->n >= wn && kt_ceil_div(d->m, wm) * kt_ceil_div(d->n, wn) >= WIDE_MIN_GROUPS) {
    tm = wm;
    tn = wn;
    rm = wm / 16;
    rn = wn / 16;
  }
  if (!d->tile_m) d->tile_m = tm;
  if (!d->reg_m) d->reg_m = d->tile_m == tm ? rm : 1;
  if (!d->tile_n) d->tile_n = tn;
  if (!d->reg_n) d->reg_n = d->tile_n == tn ? rn : 1;
  if (!d->tile_k) d->tile_k = d->k < 16 ? (int)d->k : 16;
}

/* The layouts of the descriptor as explicit strides (the contiguous ones unless strided). */
static void resolve_layouts(kt_matmul_desc *d) {
  if (d->strided) return;
  d->a_offset = d->b_offset = 0;
  d->a_stride_m = d->k;
  d->a_stride_k = 1;
  d->b_stride_k = d->trans_b ? 1 : d->n;
  d->b_stride_n = d->trans_b ? d->k : 1;
  int64_t inner = d->m * d->n;
  for (int i = d->n_batch - 1; i >= 0; i--) {
    d->c_batch_stride[i] = inner;
    inner *= d->batch[i];
  }
  d->c_stride_m = d->n;
  d->c_stride_n = 1;
}

/* Smallest and largest element an operand addresses must lie in [0, 2^31). */
static int span_ok(const kt_matmul_desc *d, int64_t offset, const int64_t *bstride, int64_t s0,
                   int64_t e0, int64_t s1, int64_t e1) {
  int64_t lo = offset, hi = offset;
  int64_t ext[2] = {e0, e1}, st[2] = {s0, s1};
  for (int i = 0; i < 2 + d->n_batch; i++) {
    int64_t e = i < 2 ? ext[i] : d->batch[i - 2];
    int64_t s = i < 2 ? st[i] : bstride[i - 2];
    if (s <= -LIMIT32 || s >= LIMIT32) return 0;
    if (s > 0) hi += (e - 1) * s;
    else lo += (e - 1) * s;
    if (lo <= -LIMIT32 || hi >= LIMIT32) return 0;
  }
  return lo >= 0 && hi < LIMIT32;
}

/* 0 when the template can build d; else -1 with the reason in m. */
static int check(kir_module *m, const kt_matmul_desc *d) {
  if (d->m < 1 || d->n < 1 || d->k < 1)
    return kt_fail(m, "M, N and K must be at least 1 (got %lld, %lld, %lld)", (long long)d->m,
                   (long long)d->n, (long long)d->k);
  if (d->n_batch < 0 || d->n_batch > KT_MATMUL_MAX_BATCH)
    return kt_fail(m, "%d batch dims (at most %d)", d->n_batch, KT_MATMUL_MAX_BATCH);
  int64_t nb = 1;
  for (int i = 0; i < d->n_batch; i++) {
    if (d->batch[i] < 1) return kt_fail(m, "batch dim %d is %lld", i, (long long)d->batch[i]);
    if (!d->strided && (d->a_batch_stride[i] < 0 || d->b_batch_stride[i] < 0))
      return kt_fail(m, "a negative batch stride needs the strided kernel");
    nb *= d->batch[i];
    if (nb >= LIMIT32) return kt_fail(m, "2^31 batch items or more");
  }
  if (d->m * d->n >= LIMIT32 || d->m * d->k >= LIMIT32 || d->k * d->n >= LIMIT32 ||
      nb * d->m * d->n >= LIMIT32)
    return kt_fail(m, "an operand or the result has 2^31 elements or more (32-bit indexing)");
  if (d->c_fold && (d->c_fold < 0 || !d->strided || d->n_batch || d->n % d->c_fold ||
                    d->c_stride_m != d->c_fold || d->c_stride_n != 1))
    return kt_fail(m, "C folded by %lld does not match its layout", (long long)d->c_fold);
  const kt_matmul_im2col *g = &d->b_im2col;
  if (g->on) {
    int64_t hw = g->h_out * g->w_out;
    /* Split K: one batch dim of slices that tile K exactly. */
    int64_t k_total = g->k_per_batch ? (d->n_batch == 1 ? d->batch[0] : 0) * g->k_per_batch : d->k;
    if (g->c_in < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1 || g->stride_h < 1 ||
        g->stride_w < 1 || g->dil_h < 1 || g->dil_w < 1 || hw < 1 || g->k_per_batch < 0 ||
        (g->k_per_batch ? d->n_batch != 1 || d->k != g->k_per_batch || d->b_batch_stride[0] : d->n_batch != 0) ||
        k_total != g->c_in * g->kh * g->kw || d->n % hw || d->n / hw * g->c_in * g->h * g->w >= LIMIT32)
      return kt_fail(m, "the im2col gather of B does not match K = %lld and N = %lld",
                     (long long)d->k, (long long)d->n);
  }
  /* Every element each operand addresses must stay addressable in 32 bits. */
  if (!span_ok(d, d->a_offset, d->a_batch_stride, d->a_stride_m, d->m, d->a_stride_k, d->k) ||
      (!g->on && !span_ok(d, d->b_offset, d->b_batch_stride, d->b_stride_k, d->k, d->b_stride_n, d->n)) ||
      (!d->c_fold && !span_ok(d, 0, d->c_batch_stride, d->c_stride_m, d->m, d->c_stride_n, d->n)))
    return kt_fail(m, "an operand's strides address elements outside [0, 2^31)");
  if (d->a_norm && !(d->a_norm_eps >= 0.0))
    return kt_fail(m, "the row norm's eps (%g) must be >= 0", d->a_norm_eps);
  if (d->tile_m < 1 || d->tile_n < 1 || d->tile_k < 1 || d->reg_m < 1 || d->reg_n < 1 ||
      d->reg_m > MAX_REG || d->reg_n > MAX_REG || d->tile_m % d->reg_m || d->tile_n % d->reg_n)
    return kt_fail(m, "tiles %dx%dx%d with %dx%d registers per work-item (each register block "
                   "1..%d, dividing its tile)", d->tile_m, d->tile_n, d->tile_k, d->reg_m,
                   d->reg_n, MAX_REG);
  int64_t wi = (int64_t)(d->tile_m / d->reg_m) * (d->tile_n / d->reg_n);
  if (wi > 1024) return kt_fail(m, "%lld work-items per group (at most 1024)", (long long)wi);
  if ((int64_t)(d->tile_m + d->tile_n) * d->tile_k * 4 + (d->a_norm ? 8 * d->tile_m : 0) >
      48 * 1024)
    return kt_fail(m, "tiles %dx%dx%d need more than 48 KiB of local memory", d->tile_m,
                   d->tile_n, d->tile_k);
  return 0;
}

int kt_matmul_chunks_whole(const kt_matmul_desc *d, int64_t offset, const int64_t *bstride, int64_t row_stride,
                           int64_t extent) {
  return extent % 8 == 0 && kt_strides_multiple(8, offset, row_stride, bstride, d->n_batch);
}

kt_norm_state kt_matmul_norm_state(kir_builder *b, const kt_matmul_frame *f, int tile_m) {
  kt_norm_state ns = {-1, -1, f->bNormW, f->bNormB};
  if (f->d->a_norm) {
    ns.mean = kir_local_array(b, "row_mean", KIR_F32, tile_m);
    ns.rstd = kir_local_array(b, "row_rstd", KIR_F32, tile_m);
  }
  return ns;
}

void kt_matmul_norm_stats(kir_builder *b, const kt_matmul_desc *d, int tile_m, int bA, int a_base, int m0,
                          int lid, int n_items, const kt_norm_state *ns) {
  const int64_t K = d->k;
  int rr = kir_var_new(b, "ln_r", kir_t(KIR_I32));
  int row = kir_var_new(b, "ln_row", kir_t(KIR_I32));
  int kk = kir_var_new(b, "ln_k", kir_t(KIR_I32));
  int kk2 = kir_var_new(b, "ln_k", kir_t(KIR_I32));
  int sum = kir_var_new(b, "ln_sum", kir_t(KIR_F32));
  int mean = kir_var_new(b, "ln_mean", kir_t(KIR_F32));
  int sq = kir_var_new(b, "ln_sq", kir_t(KIR_F32));
  int dev = kir_var_new(b, "ln_dev", kir_t(KIR_F32));
  kir_for(b, rr, kir_var(b, lid), kir_i32(b, tile_m), kir_i32(b, n_items));
  int guard = d->m % tile_m != 0;
  if (guard) kir_if(b, kt_lt(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->m));
  kir_decl(b, row, kir_add(b, kir_var(b, a_base),
                           kt_scaled(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->a_stride_m)));
  kir_decl(b, sum, kir_f32(b, 0.0));
  kir_for(b, kk, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_assign(b, sum, kir_bin(b, KIR_ADD, kir_var(b, sum),
                             kir_load(b, bA, kir_add(b, kir_var(b, row),
                                                     kt_scaled(b, kir_var(b, kk), d->a_stride_k)))));
  kir_end(b);
  kir_decl(b, mean, kir_bin(b, KIR_DIV, kir_var(b, sum), kir_f32(b, (double)K)));
  kir_decl(b, sq, kir_f32(b, 0.0));
  kir_for(b, kk2, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_decl(b, dev, kir_bin(b, KIR_SUB,
                           kir_load(b, bA, kir_add(b, kir_var(b, row),
                                                   kt_scaled(b, kir_var(b, kk2), d->a_stride_k))),
                           kir_var(b, mean)));
  kir_assign(b, sq, kir_bin(b, KIR_ADD, kir_var(b, sq),
                            kir_bin(b, KIR_MUL, kir_var(b, dev), kir_var(b, dev))));
  kir_end(b);
  kir_local_store(b, ns->mean, kir_var(b, rr), kir_var(b, mean));
  kir_local_store(b, ns->rstd, kir_var(b, rr),
                  kir_bin(b, KIR_DIV, kir_f32(b, 1.0),
                          kir_un(b, KIR_SQRT,
                                 kir_bin(b, KIR_ADD,
                                         kir_bin(b, KIR_DIV, kir_var(b, sq), kir_f32(b, (double)K)),
                                         kir_f32(b, d->a_norm_eps)))));
  if (guard) kir_end(b);
  kir_end(b); /* rr */
  kir_barrier(b);
}

/* Whether the inner k loop is unrolled: whole through an OpenCL pragma; where the target has
 * none (GLSL), by hand, eight k steps an iteration (the k loop below has the figures; NVIDIA's
 * Vulkan compiler ran the loop with [[unroll]] slower). Only the plain GEMM on 128 × 128 tiles of 8 × 8
 * blocks: there NVIDIA's OpenCL compiler keeps it at 128 registers, two work-groups per SM, and
 * on the H200 SGEMM 4096 took 3.45 ms against 3.56 and 2048 0.449 against 0.461 (2026-12-05,
 * the emitted kernel built with `-cl-nv-verbose`: 127 registers before). Not batched: split
 * GEMMs (a batch of K slices) ran slower unrolled (SGEMM 2048 in two slices 0.481 → 0.517 ms,
 * the split convolutions 180 → 220–243 µs). 129 registers or more leave one group per SM,
 * which cost every variant that reached it 5–15%. */
static int unroll_kk(const kt_matmul_desc *d) {
  return d->device_class == KT_DEVICE_GPU && !d->n_batch && !d->b_im2col.on && !d->a_norm && d->tile_m >= 128 &&
         d->tile_n >= 128 && d->reg_m * d->reg_n >= 64 && d->a_elem == KIR_F32 && d->b_elem == KIR_F32;
}

/* Whether the local tiles are double-buffered (the next K step stashed into the other buffer
 * while this one is multiplied: one barrier a step instead of two): the unrolled GEMM with a
 * register block of more than 64, which leaves one work-group per SM, so that a barrier idles
 * the whole SM (hand-written 128×256 kernel on the H100: 3.10 → 2.99 ms at 4096). The 8×8
 * block, two groups an SM, went 3.44 → 3.48 (130 registers instead of 128). */
static int double_buffered(const kt_matmul_desc *d) {
  return unroll_kk(d) && d->reg_m * d->reg_n > 64 && 2 * (int64_t)(d->tile_m + d->tile_n) * d->tile_k * 4 <= 48 * 1024;
}

/* Declares tag<i> (tag<i>_<u> for u > 0), i < n: vector who + spread·i of row kk + u of a local
 * tile of per_k vectors a row, in buffer `cur` (a variable; -1: the only one) of `size`. */
static void tile_reads(kir_builder *b, int local, int cur, int size, int kk, int u, int per_k, int who, int spread,
                       int n, kir_type t, const char *tag, int out[]) {
  for (int i = 0; i < n; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, u ? "%s%d_%d" : "%s%d", tag, i, u);
    out[i] = kir_var_new(b, nm, t);
    kir_expr *k = u ? kir_add(b, kir_var(b, kk), kir_i32(b, u)) : kir_var(b, kk);
    kir_expr *at =
        kir_add(b, kir_mul(b, k, kir_i32(b, per_k)), kir_add(b, kir_var(b, who), kir_i32(b, (int64_t)spread * i)));
    if (cur >= 0) at = kir_add(b, kir_mul(b, kir_var(b, cur), kir_i32(b, size)), at);
    kir_decl(b, out[i], kir_local_load(b, local, at));
  }
}

/* Widest vector (4, 2 or 1) that divides a register block of r. */
static int vec_width(int r) { return r % 4 == 0 ? 4 : r % 2 == 0 ? 2 : 1; }

kir_builder *kt_matmul_frame_begin(kir_module *m, const char *name, const kt_matmul_desc *d,
                                   int lx, int ly, kt_matmul_frame *f) {
  kir_builder *b = kir_kernel_begin(m, name, lx, ly, 1);
  if (!b) return NULL;
  f->d = d;
  f->nb = 1;
  for (int i = 0; i < d->n_batch; i++) f->nb *= d->batch[i];
  f->bA = kir_buffer_param(b, "a", d->a_elem, KIR_READ);
  f->bB = kir_buffer_param(b, "b", d->b_elem, KIR_READ);
  f->bBias = d->has_bias ? kir_buffer_param(b, "bias", d->bias_elem, KIR_READ) : -1;
  f->bNormW = d->a_norm && d->a_norm_weight ? kir_buffer_param(b, "norm_weight", KIR_F32, KIR_READ) : -1;
  f->bNormB = d->a_norm && d->a_norm_bias ? kir_buffer_param(b, "norm_bias", KIR_F32, KIR_READ) : -1;
  f->bC = kir_buffer_param(b, "c", d->c_elem, KIR_WRITE);
  f->a_base = kir_var_new(b, "a_base", kir_t(KIR_I32));
  f->b_base = kir_var_new(b, "b_base", kir_t(KIR_I32));
  f->c_base = kir_var_new(b, "c_base", kir_t(KIR_I32));
  kir_expr *g = kir_group_id(b, 2);
  int batched = f->nb > 1;
  kir_decl(b, f->a_base, kir_add(b, batched ? kt_batch_offset(b, g, d->n_batch, d->batch, d->a_batch_stride)
                                            : kir_i32(b, 0), kir_i32(b, d->a_offset)));
  kir_decl(b, f->b_base, kir_add(b, batched ? kt_batch_offset(b, g, d->n_batch, d->batch, d->b_batch_stride)
                                            : kir_i32(b, 0), kir_i32(b, d->b_offset)));
  kir_decl(b, f->c_base, batched ? kt_batch_offset(b, g, d->n_batch, d->batch, d->c_batch_stride)
                                 : kir_i32(b, 0));
  return b;
}

/* Index of C's element (row, col) in C's contiguous layout: [batch..., M, N] (batch index bidx),
 * or [N / F, M, F] with images folded into the columns (c_fold = F). */
static kir_expr *out_index(kir_builder *b, const kt_matmul_desc *d, kir_expr *bidx, kir_expr *row,
                           kir_expr *col) {
  const int64_t F = d->c_fold;
  if (F) {
    bidx = kir_div(b, col, kir_i32(b, F));
    col = kir_mod(b, col, kir_i32(b, F));
  }
  const int64_t n = F ? F : d->n;
  return kir_add(b, kir_mul(b, bidx, kir_i32(b, d->m * n)), kir_add(b, kir_mul(b, row, kir_i32(b, n)), col));
}

int kt_matmul_frame_store(kir_builder *b, const kt_matmul_frame *f, int width, kir_expr *const acc[],
                          kir_expr *row, kir_expr *col) {
  const kt_matmul_desc *d = f->d;
  const int64_t F = d->c_fold;
  kir_expr *vals[4];
  if (width < 1 || width > 4 || (width > 1 && (d->c_stride_n != 1 || (F && F % width))))
    return -1;
  for (int q = 0; q < width; q++) {
    kir_expr *c = kir_add(b, col, kir_i32(b, q));
    kir_expr *v = acc[q];
    if (f->bBias >= 0) v = kir_add(b, v, kir_load(b, f->bBias, d->bias_per_row ? row : c));
    if (d->epilogue.fn) {
      kir_expr *bidx = F ? kir_div(b, c, kir_i32(b, F)) : f->nb > 1 ? kir_group_id(b, 2) : kir_i32(b, 0);
      kt_out_pos at = {out_index(b, d, bidx, row, c), bidx, row, F ? kir_mod(b, c, kir_i32(b, F)) : c};
      v = d->epilogue.fn(b, v, &at, d->epilogue.user);
      if (!v) return -1;
    }
    vals[q] = v;
  }
  /* Folded C is contiguous: its address is the element's index. */
  kir_expr *at = F ? out_index(b, d, NULL, row, col)
                   : kir_add(b, kt_scaled(b, row, d->c_stride_m), kt_scaled(b, col, d->c_stride_n));
  kir_store(b, f->bC, kir_add(b, kir_var(b, f->c_base), at), kir_vector(b, width, vals));
  return kir_builder_failed(b) ? -1 : 0;
}

int kt_matmul_frame_vec_ok(const kt_matmul_desc *d) {
  return d->c_stride_n == 1 && !d->c_fold && (!d->epilogue.fn || d->epilogue.plane_vectors);
}

int kt_matmul_frame_store_vec(kir_builder *b, const kt_matmul_frame *f, kir_expr *acc, kir_expr *row,
                              kir_expr *col) {
  const kt_matmul_desc *d = f->d;
  if (!kt_matmul_frame_vec_ok(d)) return -1;
  kir_expr *v = acc;
  if (f->bBias >= 0) /* per row: one value for the whole vector */
    v = kir_add(b, v, d->bias_per_row ? kir_cast(b, acc->type, kir_load(b, f->bBias, row))
                                      : kir_load_vec(b, f->bBias, col, acc->type.width));
  if (d->epilogue.fn) {
    kir_expr *bidx = f->nb > 1 ? kir_group_id(b, 2) : kir_i32(b, 0);
    kt_out_pos at = {out_index(b, d, bidx, row, col), bidx, row, col};
    v = d->epilogue.fn(b, v, &at, d->epilogue.user);
    if (!v) return -1;
  }
  kir_expr *at = kir_add(b, kt_scaled(b, row, d->c_stride_m), col);
  kir_store(b, f->bC, kir_add(b, kir_var(b, f->c_base), at), v);
  return kir_builder_failed(b) ? -1 : 0;
}

/* The tensor-core kernel with the tiled kernel as its fallback (same buffers and work-groups:
 * the fallback takes the fragment kernel's work-group tile): 1 when built, 0 when the fragment
 * kernel does not apply, -1 on failure. */
static int mma_variant(kir_module *m, const char *name, const kt_matmul_desc *desc,
                       const kt_matmul_desc *d, kir_kernel **out_kernel, int64_t out_groups[3]) {
  kir_kernel *fast = NULL, *slow = NULL;
  int tiles[2];
  char mma_name[96];
  snprintf(mma_name, sizeof mma_name, "%s_mma", name); /* shows in profiles which one ran */
  int rc = kt_matmul_mma(m, mma_name, d, &fast, out_groups, tiles);
  if (rc <= 0) return rc;
  kt_matmul_desc fb = *desc;
  fb.mma = 0;
  fb.tile_m = tiles[0];
  fb.tile_n = tiles[1];
  fb.reg_m = fb.reg_n = 8;
  fb.tile_k = 0;
  if (fb.epilogue.restart) fb.epilogue.restart(fb.epilogue.user);
  int64_t g[3];
  if (kt_matmul(m, name, &fb, &slow, g) != 0) return -1;
  rc = kt_pair_variant(m, fast, slow, out_groups, g, "tensor-core GEMM", name, out_kernel);
  if (rc <= 0 || !kt_matmul_wgmma_applies(d, tiles)) return rc;
  /* Hopper: the warpgroup-product kernel in front, the tensor-core one its fallback. */
  kir_kernel *wg = NULL;
  char wg_name[96];
  if (d->epilogue.restart) d->epilogue.restart(d->epilogue.user); /* its buffers again, for this kernel */
  snprintf(wg_name, sizeof wg_name, "%s_wgmma", name);
  if (kt_matmul_wgmma(m, wg_name, d, tiles, &wg, g) != 0) return -1;
  return kt_pair_variant(m, wg, fast, g, out_groups, "warpgroup GEMM", name, out_kernel);
}

int kt_matmul(kir_module *m, const char *name, const kt_matmul_desc *desc,
              kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  kt_matmul_desc d = *desc;
  kt_matmul_pick_tiles(&d);
  resolve_layouts(&d);
  if (check(m, &d)) return -1;
  /* Tensor cores where the operands are halves (not on CPUs, nor with tiles a tuned table
   * gives for the tiled kernel). */
  if (kt_matmul_mma_applies(&d) && !desc->tile_m && !desc->tile_n && !d.row_softmax) {
    int rc = mma_variant(m, name, desc, &d, out_kernel, out_groups);
    if (rc != 0) return rc > 0 ? 0 : -1;
  }
  /* The CPU kernel stores rows of C as they lie: not folded images. */
  int special = d.c_fold ? 0 : kt_matmul_cpu(m, name, &d, out_kernel, out_groups);
  if (special == 0 && d.b_panels) return kt_fail(m, "a packed B is read by the CPU kernel only");
  /* Tiles given by the caller (a tuned table) are for the tiled kernel. */
  if (special == 0 && !desc->tile_m && !desc->tile_n && !d.b_im2col.on)
    special = kt_matmul_skinny(m, name, &d, out_kernel, out_groups);
  if (special != 0) return special > 0 ? 0 : -1;
  const int TM = d.tile_m, TN = d.tile_n, TK = d.tile_k, RM = d.reg_m, RN = d.reg_n;
  const int WX = TN / RN, WY = TM / RM, L = WX * WY;
  /* Work-item (tx, ty) owns rows VM·(ty + WY·i) + p and columns VN·(tx + WX·j) + q of the
   * tile (i < RM/VM, p < VM, ...): neighbouring work-items read neighbouring vectors of the
   * local tiles, so the inner loop's local reads are whole vectors without bank conflicts. */
  const int VM = vec_width(RM), VN = vec_width(RN);
  const int64_t M = d.m, N = d.n, K = d.k;

  kt_matmul_frame f;
  kir_builder *b = kt_matmul_frame_begin(m, name, &d, WX, WY, &f);
  if (!b) return -1;
  const int bA = f.bA, bB = f.bB, a_base = f.a_base, b_base = f.b_base;
  /* [buffer][k][m/VM] and [buffer][k][n/VN] */
  const int nbuf = double_buffered(&d) ? 2 : 1, sizeA = TK * TM / VM, sizeB = TK * TN / VN;
  int lA = kir_local_array_t(b, "a_tile", kir_tv(KIR_F32, VM), nbuf * sizeA);
  int lB = kir_local_array_t(b, "b_tile", kir_tv(KIR_F32, VN), nbuf * sizeB);
  kt_norm_state ns = kt_matmul_norm_state(b, &f, TM);

  int tx = kir_var_new(b, "tx", kir_t(KIR_I32));
  int ty = kir_var_new(b, "ty", kir_t(KIR_I32));
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int m0 = kir_var_new(b, "m0", kir_t(KIR_I32));
  int n0 = kir_var_new(b, "n0", kir_t(KIR_I32));
  kir_decl(b, tx, kir_local_id(b, 0));
  kir_decl(b, ty, kir_local_id(b, 1));
  kir_decl(b, lid, kir_add(b, kir_mul(b, kir_var(b, ty), kir_i32(b, WX)), kir_var(b, tx)));
  kir_decl(b, m0, kir_mul(b, kir_group_id(b, 1), kir_i32(b, TM)));
  kir_decl(b, n0, kir_mul(b, kir_group_id(b, 0), kir_i32(b, TN)));
  if (d.a_norm) kt_matmul_norm_stats(b, &d, TM, bA, a_base, m0, lid, L, &ns);

  int acc[MAX_REG][MAX_REG];
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "acc%d_%d", i, j);
      acc[i][j] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, acc[i][j], kir_f32(b, 0.0));
    }

  /* Software pipelining: the tile at k0 is stashed from registers, then the next tile's global
   * loads are issued before the tile at k0 is multiplied, so their latency hides behind it. */
  const int k_exact = K % TK == 0;
  kt_tile ta = {.buf = bA, .local = lA, .lid = lid, .n_items = L, .extent = TM, .tk = TK, .vec = VM,
                .base = a_base, .mn0 = kir_var(b, m0), .s_mn = d.a_stride_m, .s_k = d.a_stride_k,
                .mn_lim = M, .k_lim = K, .mn_exact = M % TM == 0, .k_exact = k_exact, .tag = "a",
                .norm = d.a_norm ? &ns : NULL};
  kt_tile tb = {.buf = bB, .local = lB, .lid = lid, .n_items = L, .extent = TN, .tk = TK, .vec = VN,
                .base = b_base, .mn0 = kir_var(b, n0), .s_mn = d.b_stride_n, .s_k = d.b_stride_k,
                .mn_lim = N, .k_lim = K, .mn_exact = N % TN == 0, .k_exact = k_exact, .tag = "b",
                .gather = d.b_im2col.on ? &d.b_im2col : NULL, .unsigned_bounds = d.unsigned_bounds};
  if (kt_tile_declare(b, &ta) || kt_tile_declare(b, &tb)) {
    kt_tile_free(&ta);
    kt_tile_free(&tb);
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }
  kt_tile_fetch(b, &ta, kir_i32(b, 0));
  kt_tile_fetch(b, &tb, kir_i32(b, 0));
  /* Double-buffered: the first tiles are stashed before the loop, each step multiplies buffer
   * `cur` and stashes the next tiles into the other one. */
  int cur = -1;
  if (nbuf == 2) {
    kt_tile_stash(b, &ta, NULL);
    kt_tile_stash(b, &tb, NULL);
    kir_barrier(b);
    cur = kir_var_new(b, "cur", kir_t(KIR_I32));
    kir_decl(b, cur, kir_i32(b, 0));
  }
  int k0 = kir_var_new(b, "k0", kir_t(KIR_I32));
  kir_for(b, k0, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, TK));
  {
    if (nbuf == 1) {
      kt_tile_stash(b, &ta, NULL);
      kt_tile_stash(b, &tb, NULL);
      kir_barrier(b);
    }
    kir_expr *next = kir_add(b, kir_var(b, k0), kir_i32(b, TK));
    if (K > TK) {
      kir_if(b, kt_lt(b, next, K));
      kt_tile_fetch(b, &ta, next);
      kt_tile_fetch(b, &tb, next);
      kir_end(b);
    }

    int kk = kir_var_new(b, "kk", kir_t(KIR_I32));
    /* Through Vulkan (no unroll pragma) the k loop takes several k steps an iteration, written
     * out here: 8 where OpenCL unrolls it whole (SGEMM 4096 on the H100 3.15 → 3.00 ms, 2048
     * 0.402 → 0.386, against 3.06 and 0.392 with 4, and 3.27 and 0.428 whole with [[unroll]] at
     * 255 registers), 2 for the gathered convolutions (ResNet-18 b16 2.87 → 2.72 ms, where OpenCL's
     * whole unroll of them lost: 2.41 → 2.49; H100, 2026-12-05, docs/performance.md "Registers
     * and unrolling"). */
    const int unroll = unroll_kk(&d);
    const int steps = d.pragma_unroll || TK % 2 ? 1 : unroll ? (TK % 8 ? 2 : 8) : d.b_im2col.on ? 2 : 1;
    kir_for(b, kk, kir_i32(b, 0), kir_i32(b, TK), kir_i32(b, steps));
    if (unroll) kir_for_unroll(b, -1);
    for (int u = 0; u < steps; u++) {
      int av[MAX_REG], bv[MAX_REG];
      tile_reads(b, lA, cur, sizeA, kk, u, TM / VM, ty, WY, RM / VM, kir_tv(KIR_F32, VM), "av", av);
      tile_reads(b, lB, cur, sizeB, kk, u, TN / VN, tx, WX, RN / VN, kir_tv(KIR_F32, VN), "bv", bv);
      for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
          kir_assign(b, acc[i][j],
                     kir_add(b, kir_var(b, acc[i][j]),
                             kir_mul(b, kir_component(b, kir_var(b, av[i / VM]), i % VM),
                                     kir_component(b, kir_var(b, bv[j / VN]), j % VN))));
    }
    kir_end(b); /* kk */
    if (nbuf == 2 && K > TK) {
      kir_expr *other = kir_bin(b, KIR_SUB, kir_i32(b, 1), kir_var(b, cur));
      kir_if(b, kt_lt(b, next, K));
      kt_tile_stash(b, &ta, kir_mul(b, other, kir_i32(b, sizeA)));
      kt_tile_stash(b, &tb, kir_mul(b, other, kir_i32(b, sizeB)));
      kir_end(b);
    }
    kir_barrier(b);
    if (nbuf == 2) kir_assign(b, cur, kir_bin(b, KIR_SUB, kir_i32(b, 1), kir_var(b, cur)));
  }
  kir_end(b); /* k0 */
  kt_tile_free(&ta);
  kt_tile_free(&tb);

  /* Epilogue: bias, the fused epilogue, guarded stores — a vector store per VN columns when
   * C's rows are contiguous and N is a multiple of VN (a vector is then all in or all out). */
  const int vec_store = VN > 1 && d.c_stride_n == 1 && N % VN == 0 && (!d.c_fold || d.c_fold % VN == 0);
  const int row_guard = M % TM != 0, col_guard = N % TN != 0;
  for (int i = 0; i < RM; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "row%d", i);
    int row = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, row, kir_add(b, kir_var(b, m0),
                             kir_add(b, kir_mul(b, kir_add(b, kir_var(b, ty), kir_i32(b, (int64_t)WY * (i / VM))),
                                                kir_i32(b, VM)),
                                     kir_i32(b, i % VM))));
    if (row_guard) kir_if(b, kt_lt(b, kir_var(b, row), M));
    for (int j0 = 0; j0 < RN; j0 += VN) {
      kir_expr *col0 = kir_add(b, kir_var(b, n0),
                               kir_mul(b, kir_add(b, kir_var(b, tx), kir_i32(b, (int64_t)WX * (j0 / VN))),
                                       kir_i32(b, VN)));
      int w = vec_store ? VN : 1;
      for (int j = j0; j < j0 + VN; j += w) {
        kir_expr *col = kir_add(b, col0, kir_i32(b, j - j0));
        if (col_guard) kir_if(b, kt_lt(b, col, N));
        kir_expr *vals[4];
        for (int q = 0; q < w; q++) vals[q] = kir_var(b, acc[i][j + q]);
        if (kt_matmul_frame_store(b, &f, w, vals, kir_var(b, row), col) != 0) {
          kir_kernel_end(b, NULL);
          return kt_fail(m, "the fused epilogue could not be built");
        }
        if (col_guard) kir_end(b);
      }
    }
    if (row_guard) kir_end(b);
  }

  out_groups[0] = kt_ceil_div(N, TN);
  out_groups[1] = kt_ceil_div(M, TM);
  out_groups[2] = f.nb;
  return kir_kernel_end(b, out_kernel);
}

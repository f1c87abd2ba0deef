/* conv2d_cpu.c — convolution for CPUs (PoCL): an implicit GEMM whose vector axis is the output
 * channels (conv2d.h describes the three kernels).
 *
 * Why this shape: PoCL vectorizes only what the kernel spells out as vectors, and the output
 * channels of a CNN (64..512) fill whole vectors where the pixels of a feature map (56², 7², ...)
 * leave ragged edges. All images go through one launch (M = n·h_out·w_out pixels), so the last
 * stages (7×7 maps) still give every core work, and no im2col matrix is written: a work-item
 * reads its pixels' windows from x (through its zero-padded copy xp), each window offset a
 * constant of the unrolled loop. The weight is transposed (K × c_out_pad, once per session: the
 * plan's preparation) so its rows are contiguous vectors of output channels, in panels of one
 * work-item's channels: K × 64 floats in one piece instead of 256 bytes of every row of the
 * whole K × c_out_pad matrix took ResNet-18's deepest convolutions (K = 4608) from 72% to 96%
 * of the FMA peak, and its whole run from 336 to 288 ms (PoCL, 2 cores, 2026-12-04). */
#include <stdio.h>

#include "conv2d.h"
#include "kt_util.h"
#include "matmul_cpu.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_ROWS KT_CPU_MAX_ROWS
#define MAX_NVEC KT_CPU_MAX_NV
#define ROWS_PER_ITEM 6
#define ITEMS_PER_GROUP 8
#define COPY_LOCAL 64

int kt_conv2d_cpu_plan_for(const kt_conv2d_desc *in, int max_vec, kt_conv2d_cpu_plan *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  *out = (kt_conv2d_cpu_plan){0};
  if (d.groups != 1 || kt_conv2d_out_size(&d, &ho, &wo)) return -1;
  if (d.n < 1 || d.c_in < 1 || d.c_out < 1) return -1;
  int vec, nvec;
  kt_cpu_channel_block(d.c_out, max_vec, &vec, &nvec);
  const int64_t cn = (int64_t)vec * nvec;
  int64_t hp = d.h + d.pad_top + d.pad_bottom, wp = d.w + d.pad_left + d.pad_right;
  /* A work-item steps through xp one input channel's plane at a time. Planes whose pitch is a
   * multiple of 512 bytes fall on a few of L1's sets: ResNet's 14×14 maps, padded to 16×16,
   * ran their convolutions 1.4–1.7× slower than with one more column of zeros. One more
   * column (or row, or both) makes the pitch ≢ 0 mod 128 floats. */
  if ((d.pad_top || d.pad_left || d.pad_bottom || d.pad_right) && hp * wp % 128 == 0) {
    if (hp % 128) {
      wp++;
    } else {
      hp++;
      wp += wp % 128 == 0;
    }
  }
  const int64_t c_out_pad = (d.c_out + cn - 1) / cn * cn;
  /* Every buffer the kernels index must stay below 2^31 elements (the weight's pack checks
   * its own). */
  if (d.kh > LIMIT32 / d.kw || d.kh * d.kw > LIMIT32 / d.c_in) return -1;
  const int64_t k = d.c_in * d.kh * d.kw;
  if (hp > LIMIT32 / wp || hp * wp > LIMIT32 / d.c_in || d.c_in * hp * wp > LIMIT32 / d.n)
    return -1;
  if (c_out_pad > LIMIT32 / k || ho * wo > LIMIT32 / d.c_out || d.c_out * ho * wo > LIMIT32 / d.n)
    return -1;
  if (d.h * d.w > LIMIT32 / d.c_in || d.c_in * d.h * d.w > LIMIT32 / d.n) return -1;
  out->vec = vec;
  out->nvec = nvec;
  out->rows = ROWS_PER_ITEM;
  out->c_out_pad = c_out_pad;
  out->padded = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right;
  out->hp = hp;
  out->wp = wp;
  out->xp_numel = out->padded ? d.n * d.c_in * hp * wp : 0;
  out->wt_numel = k * c_out_pad;
  return 0;
}

int kt_conv2d_cpu_pad(kir_module *m, const char *name, const kt_conv2d_desc *in,
                      const kt_conv2d_cpu_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  if (!p->padded) return kt_fail(m, "the plan pads nothing: no padded copy to build");
  /* One work-item per row of xp (over n·c_in·hp): its zeros and its copy of x's row are loops
   * with contiguous stores. (One item per element made tens of thousands of work-groups.) */
  const int64_t rows = d.n * d.c_in * p->hp;
  const int lx = rows >= COPY_LOCAL ? COPY_LOCAL : (int)rows;
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bxp = kir_buffer_param(b, "xp", KIR_F32, KIR_WRITE);
  int row = kir_var_new(b, "row", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32));
  int dst = kir_var_new(b, "dst", kir_t(KIR_I32));
  int src = kir_var_new(b, "src", kir_t(KIR_I32));
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_decl(b, row, kir_global_id(b, 0));
  if (rows % lx) {
    kt_return_past(b, kir_var(b, row), rows);
  }
  kir_decl(b, ih, kir_add(b, kir_mod(b, kir_var(b, row), kir_i32(b, p->hp)), kir_i32(b, -d.pad_top)));
  kir_decl(b, dst, kt_scaled(b, kir_var(b, row), p->wp));
  kir_if(b, kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, ih), kir_i32(b, 0)),
                    kt_lt(b, kir_var(b, ih), d.h)));
  /* x[(nc·h + ih)·w] with nc = row / hp: the row's interior, between its left and right zeros */
  kir_decl(b, src, kir_mul(b, kir_add(b, kt_scaled(b, kir_div(b, kir_var(b, row), kir_i32(b, p->hp)), d.h),
                                      kir_var(b, ih)),
                           kir_i32(b, d.w)));
  if (d.pad_left) {
    kir_for(b, j, kir_i32(b, 0), kir_i32(b, d.pad_left), kir_i32(b, 1));
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, j)), kir_f32(b, 0.0));
    kir_end(b);
  }
  kir_for(b, j, kir_i32(b, 0), kir_i32(b, d.w), kir_i32(b, 1));
  kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_add(b, kir_var(b, j), kir_i32(b, d.pad_left))),
            kir_load(b, bx, kir_add(b, kir_var(b, src), kir_var(b, j))));
  kir_end(b);
  if (d.pad_right) {
    kir_for(b, j, kir_i32(b, d.pad_left + d.w), kir_i32(b, p->wp), kir_i32(b, 1));
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, j)), kir_f32(b, 0.0));
    kir_end(b);
  }
  kir_else(b); /* a row of the top or bottom border: all zeros */
  kir_for(b, j, kir_i32(b, 0), kir_i32(b, p->wp), kir_i32(b, 1));
  kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, j)), kir_f32(b, 0.0));
  kir_end(b);
  kir_end(b);
  out_groups[0] = kt_ceil_div(rows, lx);
  out_groups[1] = out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

/* Declares an I32 variable named `nm` with suffix i, set to e. */
static int decl_i(kir_builder *b, const char *nm, int i, kir_expr *e) {
  char s[32];
  snprintf(s, sizeof s, "%s%d", nm, i);
  int v = kir_var_new(b, s, kir_t(KIR_I32));
  kir_decl(b, v, e);
  return v;
}

/* y[lin] (and on: a vector's lanes at lin, lin + 1, ...) = the epilogue of val. Returns 0, or
 * -1 when the epilogue fails. */
static int store_out(kir_builder *b, const kt_conv2d_desc *d, int by, kir_expr *val, kir_expr *lin) {
  if (d->epilogue.fn) {
    kt_out_pos at = {lin, NULL, NULL, NULL};
    val = d->epilogue.fn(b, val, &at, d->epilogue.user);
    if (!val) return -1;
  }
  kir_store(b, by, lin, val);
  return 0;
}

/* The stores of a work-item's `rows` pixels × nvec·vw channels from col0, bias added, through
 * the epilogue: output (pixel i, channel co) is y[crow[i] + co·HW]. Channel by channel; per
 * channel, when `contiguous` (NULL: never) says that the six pixels lie in one image and none
 * is clamped, its six outputs are consecutive in y, and go as a vector of 4 and one of 2
 * gathered from the accumulators' lanes; otherwise an element at a time, pixel after pixel
 * (rows past `last` skipped when last >= 0; channels past c_out skipped). (Lane by lane
 * always, the extracts, address sums and scalar stores took 7% of the 3×3 convolutions with
 * K = 576.) The test is made per channel so that either way holds no more than the
 * accumulators in registers: one test around all the vector stores and another around all the
 * scalar ones made LLVM spill 14 of the 24 accumulators inside the K loop. Returns 0, or -1
 * when the epilogue fails. */
static int store_rows(kir_builder *b, const kt_conv2d_desc *d, int by, int bbias,
                      int acc[MAX_ROWS][MAX_NVEC], int rows, int nvec, int vw, kir_expr *col0,
                      const int crow[MAX_ROWS], kir_expr *contiguous, kir_expr *row0,
                      int64_t last, int64_t hw) {
  int contig = -1;
  if (contiguous) {
    contig = kir_var_new(b, "contiguous", kir_t(KIR_BOOL));
    kir_decl(b, contig, contiguous);
  }
  const int64_t cn = (int64_t)nvec * vw;
  for (int v = 0; v < nvec; v++) {
    /* the bias added in place (no more vectors live than the accumulators), as vectors where
     * no channel block runs past c_out (the bias has c_out elements) */
    const int vec_bias = bbias >= 0 && d->c_out % cn == 0;
    if (vec_bias) {
      int bv = kir_var_new(b, "bias_v", kir_tv(KIR_F32, vw));
      kir_decl(b, bv, kir_load_vec(b, bbias, kir_add(b, col0, kir_i32(b, v * vw)), vw));
      for (int i = 0; i < rows; i++)
        kir_assign(b, acc[i][v], kir_add(b, kir_var(b, acc[i][v]), kir_var(b, bv)));
    }
    for (int l = 0; l < vw; l++) {
      int64_t off = (int64_t)v * vw + l;
      kir_expr *co = kir_add(b, col0, kir_i32(b, off));
      int guard = d->c_out % cn && off >= d->c_out % cn;
      if (guard) kir_if(b, kt_lt(b, co, d->c_out));
      kir_expr *co_hw = kt_scaled(b, co, hw), *px[MAX_ROWS];
      for (int i = 0; i < rows; i++) {
        px[i] = kir_component(b, kir_var(b, acc[i][v]), l);
        if (bbias >= 0 && !vec_bias) px[i] = kir_add(b, px[i], kir_load(b, bbias, co));
      }
      if (contig >= 0) {
        kir_if(b, kir_var(b, contig));
        kir_expr *lin = kir_add(b, kir_var(b, crow[0]), co_hw);
        if (store_out(b, d, by, kir_vector(b, 4, px), lin) ||
            store_out(b, d, by, kir_vector(b, 2, px + 4), kir_add(b, lin, kir_i32(b, 4))))
          return -1;
        kir_else(b);
      }
      for (int i = 0; i < rows; i++) {
        if (last >= 0) kir_if(b, kt_lt(b, kir_add(b, row0, kir_i32(b, i)), last + 1));
        if (store_out(b, d, by, px[i], kir_add(b, kir_var(b, crow[i]), co_hw))) return -1;
        if (last >= 0) kir_end(b);
      }
      if (contig >= 0) kir_end(b);
      if (guard) kir_end(b);
    }
  }
  return 0;
}

int kt_conv2d_cpu(kir_module *m, const char *name, const kt_conv2d_desc *in,
                  const kt_conv2d_cpu_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  if (kt_conv2d_out_size(&d, &ho, &wo)) return kt_conv2d_misfit(m, &d);
  if (p->rows < 1 || p->rows > MAX_ROWS || p->nvec < 1 || p->nvec > MAX_NVEC || p->vec < 1)
    return kt_fail(m, "the plan's rows (%d), vectors (%d) or vector width (%d) is out of range",
                   p->rows, p->nvec, p->vec);
  const int VW = p->vec, NV = p->nvec, RM = p->rows, CN = VW * NV;
  const int64_t HW = ho * wo, M = d.n * HW, CP = p->c_out_pad, HPWP = p->hp * p->wp;
  const int64_t taps = d.kh * d.kw, K = d.c_in * taps;
  const int64_t nbx = CP / CN, nby = kt_ceil_div(M, RM);
  const int LY = kt_cpu_group_items(nby, ITEMS_PER_GROUP);
  kir_builder *b = kir_kernel_begin(m, name, 1, LY, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "xp", KIR_F32, KIR_READ);
  int bw = kir_buffer_param(b, "wt", KIR_F32, KIR_READ);
  int bbias = d.has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int col0 = decl_i(b, "col", 0, kir_mul(b, kir_global_id(b, 0), kir_i32(b, CN)));
  int row0 = decl_i(b, "row", 0, kir_mul(b, kir_global_id(b, 1), kir_i32(b, RM)));
  if (nby % LY) {
    kt_return_past(b, kir_var(b, row0), M);
  }
  /* Per pixel row i: where its window starts in xp, and where its outputs go in y. Rows past
   * M are clamped to the last pixel for loads and not stored. */
  const int ragged_m = M % RM != 0;
  int arow[MAX_ROWS], crow[MAX_ROWS];
  for (int i = 0; i < RM; i++) {
    kir_expr *r = kir_add(b, kir_var(b, row0), kir_i32(b, i));
    if (ragged_m) r = kir_bin(b, KIR_MIN, r, kir_i32(b, M - 1));
    int pix = decl_i(b, "m", i, r);
    /* pixel m is (image m / HW, position m % HW) */
    int pp = decl_i(b, "p", i, d.n > 1 ? kir_mod(b, kir_var(b, pix), kir_i32(b, HW)) : kir_var(b, pix));
    kir_expr *a = kir_add(b, kt_scaled(b, kir_div(b, kir_var(b, pp), kir_i32(b, wo)), d.stride_h * p->wp),
                          kt_scaled(b, kir_mod(b, kir_var(b, pp), kir_i32(b, wo)), d.stride_w));
    kir_expr *c = kir_var(b, pp);
    if (d.n > 1) {
      int img = decl_i(b, "img", i, kir_div(b, kir_var(b, pix), kir_i32(b, HW)));
      a = kir_add(b, kt_scaled(b, kir_var(b, img), d.c_in * HPWP), a);
      c = kir_add(b, kt_scaled(b, kir_var(b, img), d.c_out * HW), c);
    }
    arow[i] = decl_i(b, "arow", i, a);
    crow[i] = decl_i(b, "crow", i, c);
  }
  int acc[MAX_ROWS][MAX_NVEC];
  kt_cpu_block_zero(b, RM, NV, VW, acc);
  /* K = (ci, r, s): loops over input channels and the window's rows, its columns unrolled
   * (their offsets into xp and wt are constants). Unrolling the whole window made LLVM spill
   * accumulators to the stack (PoCL, AVX-512): 3 taps per iteration keep all 24 in registers. */
  int ci = kir_var_new(b, "ci", kir_t(KIR_I32));
  kir_for(b, ci, kir_i32(b, 0), kir_i32(b, d.c_in), kir_i32(b, 1));
  int xo = decl_i(b, "xo", 0, kt_scaled(b, kir_var(b, ci), HPWP));
  /* wt in panels of CN columns (kt_cpu_pack_bt): this item's panel starts at col0·K. */
  int wo_ = decl_i(b, "wo", 0, kir_add(b, kt_scaled(b, kir_var(b, ci), taps * CN), kt_scaled(b, kir_var(b, col0), K)));
  const int by_row = d.kh > 1;
  int r = -1;
  if (by_row) {
    r = kir_var_new(b, "r", kir_t(KIR_I32));
    kir_for(b, r, kir_i32(b, 0), kir_i32(b, d.kh), kir_i32(b, 1));
    xo = decl_i(b, "xr", 0, kir_add(b, kir_var(b, xo), kt_scaled(b, kir_var(b, r), d.dil_h * p->wp)));
    wo_ = decl_i(b, "wr", 0, kir_add(b, kir_var(b, wo_), kt_scaled(b, kir_var(b, r), d.kw * CN)));
  }
  /* Rows of more than 3 taps (the stem's 7) are a loop of taps too: unrolled, their loads
   * left LLVM no register to spare, and it spilled accumulators inside the loop (the stem
   * 21.0–22.9 ms, against 20.7–20.9 as a loop, ResNet-18 batch 16 on PoCL). */
  const int tap_loop = d.kw > 3;
  int t_var = -1;
  if (tap_loop) {
    t_var = kir_var_new(b, "t", kir_t(KIR_I32));
    kir_for(b, t_var, kir_i32(b, 0), kir_i32(b, d.kw), kir_i32(b, 1));
  }
  for (int64_t t = 0; t < (tap_loop ? 1 : d.kw); t++) {
    kir_expr *xoff = tap_loop ? kt_scaled(b, kir_var(b, t_var), d.dil_w) : kir_i32(b, t * d.dil_w);
    kir_expr *woff = tap_loop ? kt_scaled(b, kir_var(b, t_var), CN) : kir_i32(b, t * CN);
    kir_expr *a_at[MAX_ROWS];
    for (int i = 0; i < RM; i++)
      a_at[i] = kir_add(b, kir_add(b, kir_var(b, arow[i]), kir_var(b, xo)), xoff);
    kt_cpu_block_step(b, bx, a_at, RM, bw, kir_add(b, kir_var(b, wo_), woff), NV, VW, acc);
  }
  if (tap_loop) kir_end(b); /* t */
  if (by_row) kir_end(b); /* r */
  kir_end(b);             /* ci */
  /* Stores: output (pixel, channel co) is y[crow + co·HW]; the epilogue sees that position.
   * Channel by channel, each channel's pixels together (mostly neighbours in y): pixel by
   * pixel, the 64 channels' lines of y had to stay in L1 across the pixels, and where a plane's
   * pitch maps them onto a few sets (the 112×112 stem: 4 sets) every store missed. As vectors
   * where the six pixels lie in one image (store_rows) and the epilogue takes them: crow
   * grows by 1 per pixel inside an image and by (c_out − 1)·HW + 1 from one image to the next,
   * so with c_out > 1 a rise of 5 over the six means one image. */
  kir_expr *contiguous = NULL;
  if (RM == 6 && d.c_out > 1 && (!d.epilogue.fn || d.epilogue.plane_vectors))
    contiguous = kir_bin(b, KIR_EQ, kir_var(b, crow[RM - 1]), kir_add(b, kir_var(b, crow[0]), kir_i32(b, RM - 1)));
  if (store_rows(b, &d, by, bbias, acc, RM, NV, VW, kir_var(b, col0), crow, contiguous,
                 kir_var(b, row0), ragged_m ? M - 1 : -1, HW)) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue could not be built");
  }
  out_groups[0] = nbx;
  out_groups[1] = kt_ceil_div(nby, LY);
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

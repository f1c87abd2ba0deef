/* pool.c — windowed max / avg pooling and global average pooling. */
#include "pool.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)

static kt_pool2d_desc normalized(const kt_pool2d_desc *in) {
  kt_pool2d_desc d = *in;
  d.stride_h = kt_one_if_0(d.stride_h);
  d.stride_w = kt_one_if_0(d.stride_w);
  d.dil_h = kt_one_if_0(d.dil_h);
  d.dil_w = kt_one_if_0(d.dil_w);
  return d;
}

int64_t kt_pool_window_count(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k,
                             int64_t dil, int64_t stride, int ceil_mode) {
  int64_t n = kt_window_count(size, pad_lo, pad_hi, k, dil, stride);
  if (n < 0 || !ceil_mode) return n;
  int64_t span = size + pad_lo + pad_hi - dil * (k - 1) - 1;
  if (span % stride != 0) n++;
  if ((n - 1) * stride >= size + pad_lo) n--;
  return n;
}

int kt_pool2d_out_size(const kt_pool2d_desc *in, int64_t *out_h, int64_t *out_w) {
  *out_h = *out_w = 0;
  kt_pool2d_desc nd = normalized(in);
  const kt_pool2d_desc *d = &nd;
  int64_t oh = kt_pool_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, d->dil_h,
                                    d->stride_h, d->ceil_mode);
  int64_t ow = kt_pool_window_count(d->w, d->pad_left, d->pad_right, d->kw, d->dil_w,
                                    d->stride_w, d->ceil_mode);
  if (oh < 0 || ow < 0) return -1;
  *out_h = oh;
  *out_w = ow;
  return 0;
}

/* The taps of a window starting at var `start` along an axis of `size` with padding lo, hi,
 * that avg divides by: those within the padded image (all k unless a window reaches past it),
 * or (exclude_pad) those within the image. NULL when that is k for every window. */
static kir_expr *axis_taps(kir_builder *b, int start, int64_t k, int64_t size, int64_t lo,
                           int64_t hi, int64_t past, int exclude_pad) {
  if (exclude_pad ? (lo <= 0 && past <= 0) : past <= hi) return NULL;
  kir_expr *s = kir_var(b, start);
  kir_expr *end = kir_bin(b, KIR_MIN, kir_add(b, s, kir_i32(b, k)),
                          kir_i32(b, exclude_pad ? size : size + hi));
  if (exclude_pad && lo > 0) s = kir_bin(b, KIR_MAX, s, kir_i32(b, 0));
  return kir_bin(b, KIR_SUB, end, s);
}

/* avg's divisor for the window at (ih0, iw0), PyTorch's (pool.h). */
static kir_expr *avg_divisor(kir_builder *b, const kt_pool2d_desc *d, int ih0, int iw0,
                             int64_t past_h, int64_t past_w) {
  kir_expr *th = axis_taps(b, ih0, d->kh, d->h, d->pad_top, d->pad_bottom, past_h, d->exclude_pad);
  kir_expr *tw = axis_taps(b, iw0, d->kw, d->w, d->pad_left, d->pad_right, past_w, d->exclude_pad);
  if (!th && !tw) return kir_f32(b, (double)(d->kh * d->kw));
  kir_expr *n = th && tw ? kir_mul(b, th, tw) : th ? kir_mul(b, th, kir_i32(b, d->kw))
                                                   : kir_mul(b, tw, kir_i32(b, d->kh));
  return kir_cast(b, kir_t(KIR_F32), n);
}

/* The checks both pooling templates start with; fills *d (the normalized descriptor) and the
 * output's size. */
static int check_pool(kir_module *m, const kt_pool2d_desc *in, kt_pool2d_desc *d, int64_t *ho,
                      int64_t *wo, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  *d = normalized(in);
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (kt_pool2d_out_size(d, ho, wo))
    return kt_fail(m, "the %lldx%lld window (stride [%lld, %lld]) does not fit the %lldx%lld "
                   "input padded by [%lld, %lld, %lld, %lld]", (long long)d->kh,
                   (long long)d->kw, (long long)d->stride_h, (long long)d->stride_w,
                   (long long)d->h, (long long)d->w, (long long)d->pad_top,
                   (long long)d->pad_left, (long long)d->pad_bottom, (long long)d->pad_right);
  if (d->n * d->c * d->h * d->w >= LIMIT32)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  return 0;
}

/* Folds the window whose top-left tap is (ih0, iw0) (I32 vars; they may lie in the padding) of
 * the plane at x_base into var acc: max or sum over its taps within the image. past_h, past_w:
 * how far the last windows reach past the image (their guards are left out when they do not). */
static void fold_window(kir_builder *b, const kt_pool2d_desc *d, int bx, int xb, int ih0, int iw0,
                        int64_t past_h, int64_t past_w, int acc) {
  const int is_max = d->kind == KT_POOL_MAX;
  int r = kir_var_new(b, "r", kir_t(KIR_I32));
  int s = kir_var_new(b, "s", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32));
  int iw = kir_var_new(b, "iw", kir_t(KIR_I32));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, d->kh), kir_i32(b, 1));
  kir_decl(b, ih, kir_add(b, kir_var(b, ih0), kt_scaled(b, kir_var(b, r), d->dil_h)));
  kir_expr *gh = kt_axis_guard(b, ih, d->pad_top, past_h, d->h);
  if (gh) kir_if(b, gh);
  kir_for(b, s, kir_i32(b, 0), kir_i32(b, d->kw), kir_i32(b, 1));
  kir_decl(b, iw, kir_add(b, kir_var(b, iw0), kt_scaled(b, kir_var(b, s), d->dil_w)));
  kir_expr *gw = kt_axis_guard(b, iw, d->pad_left, past_w, d->w);
  if (gw) kir_if(b, gw);
  kir_expr *v = kir_load(b, bx, kir_add(b, kir_var(b, xb), kir_add(b, kt_scaled(b, kir_var(b, ih), d->w),
                                                                   kir_var(b, iw))));
  kir_assign(b, acc, kir_bin(b, is_max ? KIR_MAX : KIR_ADD, kir_var(b, acc), v));
  if (gw) kir_end(b);
  kir_end(b); /* s */
  if (gh) kir_end(b);
  kir_end(b); /* r */
}

/* The row segments of the CPU kernel: SEG_VECS vectors of d->cpu_vec outputs per work-item,
 * whose taps along a row span at most SEG_SPAN elements of x. */
#define SEG_VECS 2
#define SEG_SPAN 64

/* The vector body of a CPU pooling segment: its SEG_VECS vectors of vw outputs, from the rows
 * of x (plane at xb, first window row ih0) whose span of taps starts `lead` elements before
 * `at0` (lead > 0: the left padding of a max pool, -inf there) and is loaded once per row in
 * 4-wide chunks (the tail as scalars); each tap column is a vector built from the span's lanes. */
static void segment_vectors(kir_builder *b, const kt_pool2d_desc *d, int bx, int by, int xb, int ih0,
                            kir_expr *at0, int yb, int64_t span, int64_t lead) {
  const int is_max = d->kind == KT_POOL_MAX, vw = d->cpu_vec;
  const double init = is_max ? -INFINITY : 0.0;
  int acc[SEG_VECS];
  for (int v = 0; v < SEG_VECS; v++) {
    char nm[16];
    snprintf(nm, sizeof nm, "acc%d", v);
    acc[v] = kir_var_new(b, nm, kir_tv(KIR_F32, vw));
    kir_expr *fill[4];
    for (int l = 0; l < vw; l++) fill[l] = kir_f32(b, init);
    kir_decl(b, acc[v], kir_vector(b, vw, fill));
  }
  int r = kir_var_new(b, "r", kir_t(KIR_I32)), at = kir_var_new(b, "at", kir_t(KIR_I32));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, d->kh), kir_i32(b, 1));
  kir_decl(b, at, kir_add(b, kir_var(b, xb),
                          kir_add(b, kt_scaled(b, kir_add(b, kir_var(b, ih0), kt_scaled(b, kir_var(b, r), d->dil_h)),
                                               d->w),
                                  at0)));
  /* the row's loaded span (past the lead): whole 4-wide chunks, then scalars */
  int chunk[SEG_SPAN / 4], tail[4];
  const int64_t loaded = span - lead, whole = loaded / 4;
  for (int64_t c = 0; c < whole; c++) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", (int)c);
    chunk[c] = kir_var_new(b, nm, kir_tv(KIR_F32, 4));
    kir_decl(b, chunk[c], kir_load_vec(b, bx, kir_add(b, kir_var(b, at), kir_i32(b, 4 * c)), 4));
  }
  for (int64_t t = 4 * whole; t < loaded; t++) {
    char nm[16];
    snprintf(nm, sizeof nm, "t%d", (int)(t - 4 * whole));
    tail[t - 4 * whole] = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, tail[t - 4 * whole], kir_load(b, bx, kir_add(b, kir_var(b, at), kir_i32(b, t))));
  }
  for (int v = 0; v < SEG_VECS; v++)
    for (int64_t q = 0; q < d->kw; q++) {
      kir_expr *parts[4];
      for (int l = 0; l < vw; l++) {
        int64_t e = (v * vw + l) * d->stride_w + q * d->dil_w - lead; /* < loaded */
        parts[l] = e < 0           ? kir_f32(b, init)
                   : e < 4 * whole ? kir_component(b, kir_var(b, chunk[e / 4]), (int)(e % 4))
                                   : kir_var(b, tail[e - 4 * whole]);
      }
      kir_assign(b, acc[v], kir_bin(b, is_max ? KIR_MAX : KIR_ADD, kir_var(b, acc[v]),
                                    kir_vector(b, vw, parts)));
    }
  kir_end(b); /* r */
  for (int v = 0; v < SEG_VECS; v++) {
    kir_expr *out = kir_var(b, acc[v]);
    if (!is_max) {
      kir_expr *taps[4];
      for (int l = 0; l < vw; l++) taps[l] = kir_f32(b, (double)(d->kh * d->kw));
      out = kir_bin(b, KIR_DIV, out, kir_vector(b, vw, taps));
    }
    kir_store(b, by, kir_add(b, kir_var(b, yb), kir_i32(b, v * vw)), out);
  }
}

/* The CPU kernel's work-item: outputs ow0 .. ow0 + vw·SEG_VECS − 1 of row oh of plane `plane`.
 * When every window of the segment lies inside the image, or (max pooling) inside it but for
 * the left padding of the row's first segment, the segment is computed as vectors
 * (segment_vectors); otherwise (other padding, the ragged last segment) every output is folded
 * on its own as in the scalar kernel. (The first segments alone, folded one output at a time,
 * took about half of ResNet-18's 4 ms pool.) */
static void cpu_segment(kir_builder *b, const kt_pool2d_desc *d, int bx, int by, int64_t ho,
                        int64_t wo, int64_t past_h, int64_t past_w) {
  const int is_max = d->kind == KT_POOL_MAX, vw = d->cpu_vec, seg = vw * SEG_VECS;
  const int64_t nseg = kt_ceil_div(wo, seg), span = (seg - 1) * d->stride_w + (d->kw - 1) * d->dil_w + 1;
  int id = kir_var_new(b, "id", kir_t(KIR_I32)), row = kir_var_new(b, "row", kir_t(KIR_I32));
  int ow0 = kir_var_new(b, "ow0", kir_t(KIR_I32)), oh = kir_var_new(b, "oh", kir_t(KIR_I32));
  int plane = kir_var_new(b, "plane", kir_t(KIR_I32)), xb = kir_var_new(b, "x_base", kir_t(KIR_I32));
  int ih0 = kir_var_new(b, "ih0", kir_t(KIR_I32)), iw0 = kir_var_new(b, "iw0", kir_t(KIR_I32));
  int yb = kir_var_new(b, "y_at", kir_t(KIR_I32));
  kir_decl(b, id, kir_global_id(b, 0));
  kir_decl(b, row, kir_div(b, kir_var(b, id), kir_i32(b, nseg))); /* (plane, oh) */
  kir_decl(b, ow0, kt_scaled(b, kir_mod(b, kir_var(b, id), kir_i32(b, nseg)), seg));
  kir_decl(b, oh, kir_mod(b, kir_var(b, row), kir_i32(b, ho)));
  kir_decl(b, plane, kir_div(b, kir_var(b, row), kir_i32(b, ho)));
  kir_decl(b, xb, kt_scaled(b, kir_var(b, plane), d->h * d->w));
  kir_decl(b, ih0, kir_add(b, kt_scaled(b, kir_var(b, oh), d->stride_h), kir_i32(b, -d->pad_top)));
  kir_decl(b, iw0, kir_add(b, kt_scaled(b, kir_var(b, ow0), d->stride_w), kir_i32(b, -d->pad_left)));
  kir_decl(b, yb, kir_add(b, kt_scaled(b, kir_var(b, row), wo), kir_var(b, ow0)));
  const double init = is_max ? -INFINITY : 0.0;
  /* rows: the windows' rows all in the image; inside: the segment whole, its columns too */
  kir_expr *rows = kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, ih0), kir_i32(b, 0)),
                           kt_lt(b, kir_add(b, kir_var(b, ih0), kir_i32(b, (d->kh - 1) * d->dil_h)), d->h));
  int rows_in = kir_var_new(b, "rows_in", kir_t(KIR_BOOL));
  kir_decl(b, rows_in, rows);
  kir_expr *inside = kir_bin(b, KIR_AND, kir_var(b, rows_in), kir_bin(b, KIR_GE, kir_var(b, iw0), kir_i32(b, 0)));
  inside = kir_bin(b, KIR_AND, inside, kt_lt(b, kir_add(b, kir_var(b, iw0), kir_i32(b, span - 1)), d->w));
  if (wo % seg) inside = kir_bin(b, KIR_AND, inside, kt_lt(b, kir_var(b, ow0), wo - seg + 1));
  kir_if(b, inside);
  segment_vectors(b, d, bx, by, xb, ih0, kir_var(b, iw0), yb, span, 0);
  /* A max pool's first segment: its left padding as -inf, when the rest of its span is in x
   * (and the segment whole). */
  const int left = is_max && d->pad_left > 0 && d->pad_left < span && span - d->pad_left <= d->w &&
                   wo >= seg;
  if (left) {
    kir_else(b);
    kir_if(b, kir_bin(b, KIR_AND, kir_var(b, rows_in), kir_bin(b, KIR_EQ, kir_var(b, ow0), kir_i32(b, 0))));
    segment_vectors(b, d, bx, by, xb, ih0, kir_i32(b, 0), yb, span, d->pad_left);
  }
  kir_else(b);
  /* one output at a time */
  int j = kir_var_new(b, "j", kir_t(KIR_I32)), iwj = kir_var_new(b, "iwj", kir_t(KIR_I32));
  int one = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_for(b, j, kir_i32(b, 0), kir_bin(b, KIR_MIN, kir_i32(b, seg), kir_bin(b, KIR_SUB, kir_i32(b, wo), kir_var(b, ow0))),
          kir_i32(b, 1));
  kir_decl(b, iwj, kir_add(b, kir_var(b, iw0), kt_scaled(b, kir_var(b, j), d->stride_w)));
  kir_decl(b, one, kir_f32(b, init));
  fold_window(b, d, bx, xb, ih0, iwj, past_h, past_w, one);
  kir_expr *out = kir_var(b, one);
  if (!is_max) out = kir_bin(b, KIR_DIV, out, avg_divisor(b, d, ih0, iwj, past_h, past_w));
  kir_store(b, by, kir_add(b, kir_var(b, yb), kir_var(b, j)), out);
  kir_end(b); /* j */
  if (left) kir_end(b); /* first segment */
  kir_end(b); /* inside */
}

int kt_pool2d(kir_module *m, const char *name, const kt_pool2d_desc *in, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  kt_pool2d_desc nd;
  const kt_pool2d_desc *d = &nd;
  int64_t ho, wo;
  if (check_pool(m, in, &nd, &ho, &wo, out_kernel, out_groups)) return -1;
  int is_max = d->kind == KT_POOL_MAX;
  if (!is_max && (d->dil_h != 1 || d->dil_w != 1))
    return kt_fail(m, "average pooling with dilation [%lld, %lld] (only 1 is supported)",
                   (long long)d->dil_h, (long long)d->dil_w);
  int ls = d->local_size ? d->local_size : 64;
  if (ls < 1 || ls > 1024) return kt_fail(m, "local size %d (1 to 1024)", ls);
  if (d->cpu_vec != 0 && d->cpu_vec != 2 && d->cpu_vec != 4)
    return kt_fail(m, "CPU vector width %d (0, 2 or 4)", d->cpu_vec);
  const int64_t H = d->h, W = d->w, hw_out = ho * wo;
  /* How far the last window's taps reach past the image (into the padding, or beyond it in
   * ceil mode): the guards check that side only when they do. */
  int64_t past_h = (ho - 1) * d->stride_h - d->pad_top + (d->kh - 1) * d->dil_h + 1 - H;
  int64_t past_w = (wo - 1) * d->stride_w - d->pad_left + (d->kw - 1) * d->dil_w + 1 - W;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  if (kt_pool2d_segmented(d)) {
    const int64_t items = d->n * d->c * ho * kt_ceil_div(wo, d->cpu_vec * SEG_VECS);
    if (items % ls) {
      kt_return_past(b, kir_global_id(b, 0), items);
    }
    cpu_segment(b, d, bx, by, ho, wo, past_h, past_w);
    out_groups[0] = kt_ceil_div(items, ls);
    return kir_kernel_end(b, out_kernel);
  }
  int p = kir_var_new(b, "p", kir_t(KIR_I32));
  int plane = kir_var_new(b, "plane", kir_t(KIR_I32));
  kir_decl(b, p, kir_global_id(b, 0));
  kir_decl(b, plane, kir_group_id(b, 1));
  int partial = hw_out % ls != 0;
  if (partial) kir_if(b, kir_bin(b, KIR_LT, kir_var(b, p), kir_i32(b, hw_out)));
  int ih0 = kir_var_new(b, "ih0", kir_t(KIR_I32));
  int iw0 = kir_var_new(b, "iw0", kir_t(KIR_I32));
  int xb = kir_var_new(b, "x_base", kir_t(KIR_I32));
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, ih0, kir_add(b, kir_mul(b, kir_div(b, kir_var(b, p), kir_i32(b, wo)), kir_i32(b, d->stride_h)),
                           kir_i32(b, -d->pad_top)));
  kir_decl(b, iw0, kir_add(b, kir_mul(b, kir_mod(b, kir_var(b, p), kir_i32(b, wo)), kir_i32(b, d->stride_w)),
                           kir_i32(b, -d->pad_left)));
  kir_decl(b, xb, kir_mul(b, kir_var(b, plane), kir_i32(b, H * W)));
  kir_decl(b, acc, kir_f32(b, is_max ? -INFINITY : 0.0));
  fold_window(b, d, bx, xb, ih0, iw0, past_h, past_w, acc);
  kir_expr *out = kir_var(b, acc);
  if (!is_max) out = kir_bin(b, KIR_DIV, out, avg_divisor(b, d, ih0, iw0, past_h, past_w));
  kir_store(b, by, kir_add(b, kir_mul(b, kir_var(b, plane), kir_i32(b, hw_out)), kir_var(b, p)), out);
  if (partial) kir_end(b);

  out_groups[0] = kt_ceil_div(hw_out, ls);
  out_groups[1] = d->n * d->c;
  return kir_kernel_end(b, out_kernel);
}

int kt_pool2d_segmented(const kt_pool2d_desc *in) {
  kt_pool2d_desc d = normalized(in);
  int64_t ho, wo;
  if (!d.cpu_vec || kt_pool2d_out_size(&d, &ho, &wo)) return 0;
  int64_t span = ((int64_t)d.cpu_vec * SEG_VECS - 1) * d.stride_w + (d.kw - 1) * d.dil_w + 1;
  return span <= SEG_SPAN && wo >= d.cpu_vec * SEG_VECS;
}

/* The first (row-major) maximum of window (oh, ow) of plane `xb` into var `best_at` (an index
 * of the plane, or -1 when the window holds no real pixel). */
static void window_argmax(kir_builder *b, const kt_pool2d_desc *d, int bx, int xb, kir_expr *oh,
                          kir_expr *ow, int best_at) {
  int best = kir_var_new(b, "best", kir_t(KIR_F32));
  int r = kir_var_new(b, "r", kir_t(KIR_I32)), s = kir_var_new(b, "s", kir_t(KIR_I32));
  int ih = kir_var_new(b, "wh", kir_t(KIR_I32)), iw = kir_var_new(b, "ww", kir_t(KIR_I32));
  int v = kir_var_new(b, "v", kir_t(KIR_F32));
  kir_decl(b, best, kir_f32(b, -INFINITY));
  kir_assign(b, best_at, kir_i32(b, -1));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, d->kh), kir_i32(b, 1));
  kir_decl(b, ih, kir_add(b, kir_mul(b, oh, kir_i32(b, d->stride_h)), kir_add(b, kir_var(b, r), kir_i32(b, -d->pad_top))));
  kir_expr *gh = kt_axis_guard(b, ih, d->pad_top, d->pad_bottom, d->h);
  if (gh) kir_if(b, gh);
  kir_for(b, s, kir_i32(b, 0), kir_i32(b, d->kw), kir_i32(b, 1));
  kir_decl(b, iw, kir_add(b, kir_mul(b, ow, kir_i32(b, d->stride_w)), kir_add(b, kir_var(b, s), kir_i32(b, -d->pad_left))));
  kir_expr *gw = kt_axis_guard(b, iw, d->pad_left, d->pad_right, d->w);
  if (gw) kir_if(b, gw);
  kir_expr *at = kir_add(b, kir_mul(b, kir_var(b, ih), kir_i32(b, d->w)), kir_var(b, iw));
  kir_decl(b, v, kir_load(b, bx, kir_add(b, kir_var(b, xb), at)));
  kir_if(b, kir_bin(b, KIR_OR, kir_bin(b, KIR_GT, kir_var(b, v), kir_var(b, best)),
                    kir_bin(b, KIR_LT, kir_var(b, best_at), kir_i32(b, 0))));
  kir_assign(b, best, kir_var(b, v));
  kir_assign(b, best_at, kir_add(b, kir_mul(b, kir_var(b, ih), kir_i32(b, d->w)), kir_var(b, iw)));
  kir_end(b);
  if (gw) kir_end(b);
  kir_end(b); /* s */
  if (gh) kir_end(b);
  kir_end(b); /* r */
}

int kt_pool2d_grad(kir_module *m, const char *name, const kt_pool2d_desc *in,
                   kir_kernel **out_kernel, int64_t out_groups[3]) {
  kt_pool2d_desc nd;
  const kt_pool2d_desc *d = &nd;
  int64_t ho, wo;
  if (check_pool(m, in, &nd, &ho, &wo, out_kernel, out_groups)) return -1;
  if (d->dil_h != 1 || d->dil_w != 1) return kt_fail(m, "dilation (only 1 is supported)");
  if (d->ceil_mode || d->exclude_pad)
    return kt_fail(m, "ceil_mode or exclude_pad (the gradient supports neither)");
  int ls = d->local_size ? d->local_size : 64;
  if (ls < 1 || ls > 1024) return kt_fail(m, "local size %d (1 to 1024)", ls);
  int is_max = d->kind == KT_POOL_MAX;
  const int64_t H = d->h, W = d->w, hw = H * W;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bdy = kir_buffer_param(b, "dy", KIR_F32, KIR_READ);
  int bx = is_max ? kir_buffer_param(b, "x", KIR_F32, KIR_READ) : -1;
  int bdx = kir_buffer_param(b, "dx", KIR_F32, KIR_WRITE);
  int p = kir_var_new(b, "p", kir_t(KIR_I32)), plane = kir_var_new(b, "plane", kir_t(KIR_I32));
  kir_decl(b, p, kir_global_id(b, 0));
  kir_decl(b, plane, kir_group_id(b, 1));
  int partial = hw % ls != 0;
  if (partial) kir_if(b, kir_bin(b, KIR_LT, kir_var(b, p), kir_i32(b, hw)));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32)), iw = kir_var_new(b, "iw", kir_t(KIR_I32));
  kir_decl(b, ih, kir_div(b, kir_var(b, p), kir_i32(b, W)));
  kir_decl(b, iw, kir_mod(b, kir_var(b, p), kir_i32(b, W)));
  /* Windows oh whose rows oh·stride − pad .. + kh − 1 hold ih: from ceil((ih + pad − kh + 1) /
   * stride), within [0, h_out) (the numerator is clamped at 0 first: integer division of a
   * negative number is not portable), to floor((ih + pad) / stride). */
  int lo[2], hi[2];
  const int axis_var[2] = {ih, iw};
  const int64_t pad[2] = {d->pad_top, d->pad_left}, k[2] = {d->kh, d->kw},
                st[2] = {d->stride_h, d->stride_w}, count[2] = {ho, wo};
  static const char *const lo_names[2] = {"oh_lo", "ow_lo"}, *const hi_names[2] = {"oh_hi", "ow_hi"};
  for (int a = 0; a < 2; a++) {
    lo[a] = kir_var_new(b, lo_names[a], kir_t(KIR_I32));
    hi[a] = kir_var_new(b, hi_names[a], kir_t(KIR_I32));
    kir_expr *num = kir_add(b, kir_var(b, axis_var[a]), kir_i32(b, pad[a] - k[a] + st[a]));
    kir_decl(b, lo[a], kir_div(b, kir_bin(b, KIR_MAX, num, kir_i32(b, 0)), kir_i32(b, st[a])));
    kir_expr *last = kir_div(b, kir_add(b, kir_var(b, axis_var[a]), kir_i32(b, pad[a])), kir_i32(b, st[a]));
    kir_decl(b, hi[a], kir_bin(b, KIR_MIN, last, kir_i32(b, count[a] - 1)));
  }
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, acc, kir_f32(b, 0.0));
  int xb = kir_var_new(b, "x_base", kir_t(KIR_I32)), yb = kir_var_new(b, "dy_base", kir_t(KIR_I32));
  kir_decl(b, xb, kir_mul(b, kir_var(b, plane), kir_i32(b, hw)));
  kir_decl(b, yb, kir_mul(b, kir_var(b, plane), kir_i32(b, ho * wo)));
  int oh = kir_var_new(b, "oh", kir_t(KIR_I32)), ow = kir_var_new(b, "ow", kir_t(KIR_I32));
  int best_at = is_max ? kir_var_new(b, "best_at", kir_t(KIR_I32)) : -1;
  if (is_max) kir_decl(b, best_at, kir_i32(b, -1));
  kir_for(b, oh, kir_var(b, lo[0]), kir_add(b, kir_var(b, hi[0]), kir_i32(b, 1)), kir_i32(b, 1));
  kir_for(b, ow, kir_var(b, lo[1]), kir_add(b, kir_var(b, hi[1]), kir_i32(b, 1)), kir_i32(b, 1));
  kir_expr *g = kir_load(b, bdy, kir_add(b, kir_var(b, yb), kir_add(b, kir_mul(b, kir_var(b, oh), kir_i32(b, wo)),
                                                                      kir_var(b, ow))));
  if (is_max) {
    window_argmax(b, d, bx, xb, kir_var(b, oh), kir_var(b, ow), best_at);
    kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, best_at), kir_var(b, p)));
    kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc), g));
    kir_end(b);
  } else {
    kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc), g));
  }
  kir_end(b); /* ow */
  kir_end(b); /* oh */
  kir_expr *out = kir_var(b, acc);
  if (!is_max) out = kir_bin(b, KIR_DIV, out, kir_f32(b, (double)(d->kh * d->kw)));
  kir_store(b, bdx, kir_add(b, kir_var(b, xb), kir_var(b, p)), out);
  if (partial) kir_end(b);

  out_groups[0] = kt_ceil_div(hw, ls);
  out_groups[1] = d->n * d->c;
  return kir_kernel_end(b, out_kernel);
}

int kt_global_avg_pool2d(kir_module *m, const char *name, const kt_global_pool_desc *d,
                         kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (d->n * d->c * d->h * d->w >= LIMIT32)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  int ls = d->local_size ? d->local_size : 64;
  if (ls < 1 || ls > 1024 || (ls & (ls - 1)))
    return kt_fail(m, "local size %d (a power of two, at most 1024)", ls);
  const int64_t hw = d->h * d->w, planes = d->n * d->c;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  if (d->per_item) {
    int plane = kir_var_new(b, "plane", kir_t(KIR_I32)), sum = kir_var_new(b, "sum", kir_t(KIR_F32));
    int i = kir_var_new(b, "i", kir_t(KIR_I32));
    kir_decl(b, plane, kir_global_id(b, 0));
    if (planes % ls) {
      kt_return_past(b, kir_var(b, plane), planes);
    }
    kir_decl(b, sum, kir_f32(b, 0.0));
    kir_for(b, i, kt_scaled(b, kir_var(b, plane), hw), kt_scaled(b, kir_add(b, kir_var(b, plane), kir_i32(b, 1)), hw),
            kir_i32(b, 1));
    kir_assign(b, sum, kir_add(b, kir_var(b, sum), kir_load(b, bx, kir_var(b, i))));
    kir_end(b);
    kir_store(b, by, kir_var(b, plane), kir_bin(b, KIR_DIV, kir_var(b, sum), kir_f32(b, (double)hw)));
    out_groups[0] = kt_ceil_div(planes, ls);
    return kir_kernel_end(b, out_kernel);
  }
  int sh = kir_local_array(b, "red", KIR_F32, ls);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int base = kir_var_new(b, "base", kir_t(KIR_I32));
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_decl(b, base, kir_mul(b, kir_group_id(b, 0), kir_i32(b, hw)));
  kir_decl(b, acc, kir_f32(b, 0.0));
  kir_for(b, i, kir_var(b, lid), kir_i32(b, hw), kir_i32(b, ls));
  kir_assign(b, acc, kir_add(b, kir_var(b, acc),
                             kir_load(b, bx, kir_add(b, kir_var(b, base), kir_var(b, i)))));
  kir_end(b);
  int total = kt_emit_wg_reduce(b, KIR_ADD, kir_var(b, acc), sh, lid, ls, d->subgroups, "total");
  if (total >= 0) {
    kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lid), kir_i32(b, 0)));
    kir_store(b, by, kir_group_id(b, 0), kir_bin(b, KIR_DIV, kir_var(b, total), kir_f32(b, (double)hw)));
    kir_end(b);
  }
  out_groups[0] = d->n * d->c;
  return kir_kernel_end(b, out_kernel);
}

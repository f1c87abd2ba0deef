/* qlinear.c — integer convolution and matrix product with requantization (qlinear.h). */
#include "qlinear.h"

#include <stdio.h>

#include "kt_util.h"
#include "qgemm.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)

void kt_q_range(kir_scalar q_type, int64_t *lo, int64_t *hi) {
  *lo = q_type == KIR_I8 ? -128 : 0;
  *hi = q_type == KIR_I8 ? 127 : 255;
}

kir_expr *kt_q_saturate(kir_builder *b, kir_expr *v, kir_expr *zp, int64_t lo, int64_t hi) {
  kir_expr *r = kir_un(b, KIR_ROUND, v);
  if (zp) r = kir_bin(b, KIR_ADD, r, kir_cast(b, kir_t(KIR_F32), zp));
  r = kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, r, kir_f32(b, (double)lo)), kir_f32(b, (double)hi));
  return r ? kir_cast(b, kir_tv(KIR_I32, r->type.width), r) : NULL;
}

kir_expr *kt_requantize(kir_builder *b, kir_expr *acc, kir_expr *mult, kir_expr *y_zp,
                        int64_t lo, int64_t hi) {
  if (!acc) return NULL;
  return kt_q_saturate(b, kir_bin(b, KIR_MUL, kir_cast(b, kir_tv(KIR_F32, acc->type.width), acc), mult), y_zp,
                       lo, hi);
}

/* [lo, hi] of a descriptor: its own, or y_type's range when both are 0; -1 when it leaves
 * y_type's range or is empty. */
static int out_range(kir_scalar y_type, int64_t lo, int64_t hi, int64_t *out_lo,
                     int64_t *out_hi) {
  kt_q_range(y_type, out_lo, out_hi);
  if (lo == 0 && hi == 0) return 0;
  if (lo < *out_lo || hi > *out_hi || lo > hi) return -1;
  *out_lo = lo;
  *out_hi = hi;
  return 0;
}

static int is_q8(kir_scalar s) { return s == KIR_I8 || s == KIR_U8; }

/* A variable declared as e. */
static int decl(kir_builder *b, const char *name, kir_type t, kir_expr *e) {
  int v = kir_var_new(b, name, t);
  kir_decl(b, v, e);
  return v;
}

kir_expr *kt_q_multiplier(kir_builder *b, int bxs, int bws, kir_expr *wi, int bys) {
  kir_expr *z = kir_i32(b, 0);
  return kir_bin(b, KIR_DIV, kir_bin(b, KIR_MUL, kir_load(b, bxs, z), kir_load(b, bws, wi)),
                 kir_load(b, bys, kir_i32(b, 0)));
}

kt_q_buffers kt_q_buffers_declare(kir_builder *b, const char *x, kir_scalar xt, const char *w,
                                  kir_scalar wt, kir_scalar yt) {
  char name[16];
  kt_q_buffers q;
  q.x = kir_buffer_param(b, x, xt, KIR_READ);
  snprintf(name, sizeof name, "%s_scale", x);
  q.xs = kir_buffer_param(b, name, KIR_F32, KIR_READ);
  snprintf(name, sizeof name, "%s_zp", x);
  q.xz = kir_buffer_param(b, name, xt, KIR_READ);
  q.w = kir_buffer_param(b, w, wt, KIR_READ);
  snprintf(name, sizeof name, "%s_scale", w);
  q.ws = kir_buffer_param(b, name, KIR_F32, KIR_READ);
  snprintf(name, sizeof name, "%s_zp", w);
  q.wz = kir_buffer_param(b, name, wt, KIR_READ);
  q.ys = kir_buffer_param(b, "y_scale", KIR_F32, KIR_READ);
  q.yz = kir_buffer_param(b, "y_zp", yt, KIR_READ);
  return q;
}

/* The frame of the direct kernels (one output per work-item, `total` of them): buffers in ONNX
 * order, then bias and y; work-item i; a guard where the last work-group is partial. */
typedef struct q_direct {
  kir_builder *b;
  kt_q_buffers q;
  int bias, y, i, partial, ls;
  int64_t total;
} q_direct;

/* Begins the kernel. Returns 0, or -1 with the module's error set. */
static int q_direct_begin(kir_module *m, const char *name, int local_size, int64_t total,
                          const char *x, kir_scalar xt, const char *w, kir_scalar wt,
                          kir_scalar yt, int has_bias, q_direct *f) {
  f->ls = local_size ? local_size : KT_Q_LOCAL_SIZE;
  f->total = total;
  if (f->ls < 1 || f->ls > 1024) return kt_fail(m, "local size %d (1 to 1024)", f->ls);
  kir_builder *b = f->b = kir_kernel_begin(m, name, f->ls, 1, 1);
  if (!b) return -1;
  f->q = kt_q_buffers_declare(b, x, xt, w, wt, yt);
  f->bias = has_bias ? kir_buffer_param(b, "bias", KIR_I32, KIR_READ) : -1;
  f->y = kir_buffer_param(b, "y", yt, KIR_WRITE);
  f->i = decl(b, "i", kir_t(KIR_I32), kir_global_id(b, 0));
  f->partial = total % f->ls != 0;
  if (f->partial) kir_if(b, kir_bin(b, KIR_LT, kir_var(b, f->i), kir_i32(b, total)));
  return 0;
}

/* Stores the requantized sum `acc` (w's scale element wi) at y[i] and ends the kernel. */
static int q_direct_finish(q_direct *f, int acc, kir_expr *wi, int64_t lo, int64_t hi,
                           kir_kernel **out_kernel, int64_t out_groups[3]) {
  kir_builder *b = f->b;
  kir_expr *mult = kt_q_multiplier(b, f->q.xs, f->q.ws, wi, f->q.ys);
  kir_store(b, f->y, kir_var(b, f->i),
            kt_requantize(b, kir_var(b, acc), mult, kir_load(b, f->q.yz, kir_i32(b, 0)), lo, hi));
  if (f->partial) kir_end(b);
  out_groups[0] = kt_ceil_div(f->total, f->ls);
  return kir_kernel_end(b, out_kernel);
}

int kt_qlinear_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d,
                      kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  int64_t sh = kt_one_if_0(d->stride_h), sw = kt_one_if_0(d->stride_w);
  int64_t dh = kt_one_if_0(d->dil_h), dw = kt_one_if_0(d->dil_w), g = kt_one_if_0(d->groups);
  if (d->n < 1 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->c_out < 1 || d->kh < 1 || d->kw < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (!is_q8(d->x_type) || !is_q8(d->w_type) || !is_q8(d->y_type))
    return kt_fail(m, "x, w and y must be i8 or u8");
  int64_t lo, hi;
  if (out_range(d->y_type, d->lo, d->hi, &lo, &hi))
    return kt_fail(m, "the range [%lld, %lld] is not within y's type", (long long)d->lo,
                   (long long)d->hi);
  if (d->c_in % g || d->c_out % g)
    return kt_fail(m, "groups (%lld) must divide the input channels (%lld) and the output "
                   "channels (%lld)", (long long)g, (long long)d->c_in, (long long)d->c_out);
  int64_t oh = kt_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, dh, sh);
  int64_t ow = kt_window_count(d->w, d->pad_left, d->pad_right, d->kw, dw, sw);
  if (oh < 1 || ow < 1) return kt_fail(m, "the window does not fit the padded input");
  const int64_t cg = d->c_in / g, og = d->c_out / g, H = d->h, W = d->w;
  const int64_t total = d->n * d->c_out * oh * ow;
  if (total >= LIMIT32 || d->n * d->c_in * H * W >= LIMIT32)
    return kt_fail(m, "x or y has 2^31 elements or more (32-bit indexing)");
  if (d->tiles && kt_qgemm_conv_fits(d)) return kt_qgemm_conv2d(m, name, d, d->tiles, out_kernel, out_groups);
  q_direct f;
  if (q_direct_begin(m, name, d->local_size, total, "x", d->x_type, "w", d->w_type, d->y_type,
                     d->has_bias, &f) != 0)
    return -1;
  kir_builder *b = f.b;
  kir_type i32 = kir_t(KIR_I32);
  int bx = f.q.x, bxz = f.q.xz, bw = f.q.w, bwz = f.q.wz, bb = f.bias, i = f.i;
  int ox = decl(b, "ox", i32, kir_mod(b, kir_var(b, i), kir_i32(b, ow)));
  int oy = decl(b, "oy", i32, kir_mod(b, kir_div(b, kir_var(b, i), kir_i32(b, ow)), kir_i32(b, oh)));
  int oc = decl(b, "oc", i32,
                kir_mod(b, kir_div(b, kir_var(b, i), kir_i32(b, ow * oh)), kir_i32(b, d->c_out)));
  int img = decl(b, "img", i32, kir_div(b, kir_var(b, i), kir_i32(b, ow * oh * d->c_out)));
  kir_expr *wi = d->w_per_channel ? kir_var(b, oc) : kir_i32(b, 0);
  int xz = decl(b, "xz", i32, kir_load(b, bxz, kir_i32(b, 0)));
  int wz = decl(b, "wz", i32, kir_load(b, bwz, wi));
  /* x's first channel of this output channel's group, and w's row */
  int xb = decl(b, "x_base", i32,
                kir_add(b, kir_mul(b, kir_var(b, img), kir_i32(b, d->c_in * H * W)),
                        kir_mul(b, kir_div(b, kir_var(b, oc), kir_i32(b, og)),
                                kir_i32(b, cg * H * W))));
  int wb = decl(b, "w_base", i32, kir_mul(b, kir_var(b, oc), kir_i32(b, cg * d->kh * d->kw)));
  int ih0 = decl(b, "ih0", i32, kir_add(b, kir_mul(b, kir_var(b, oy), kir_i32(b, sh)),
                                        kir_i32(b, -d->pad_top)));
  int iw0 = decl(b, "iw0", i32, kir_add(b, kir_mul(b, kir_var(b, ox), kir_i32(b, sw)),
                                        kir_i32(b, -d->pad_left)));
  int acc = decl(b, "acc", i32,
                 d->has_bias ? kir_load(b, bb, kir_var(b, oc)) : kir_i32(b, 0));
  int c = kir_var_new(b, "c", i32), r = kir_var_new(b, "r", i32), s = kir_var_new(b, "s", i32);
  int ih = kir_var_new(b, "ih", i32), iw = kir_var_new(b, "iw", i32);
  kir_for(b, c, kir_i32(b, 0), kir_i32(b, cg), kir_i32(b, 1));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, d->kh), kir_i32(b, 1));
  kir_decl(b, ih, kir_add(b, kir_var(b, ih0), kt_scaled(b, kir_var(b, r), dh)));
  kir_expr *gh = kt_axis_guard(b, ih, d->pad_top, d->pad_bottom, H);
  if (gh) kir_if(b, gh);
  kir_for(b, s, kir_i32(b, 0), kir_i32(b, d->kw), kir_i32(b, 1));
  kir_decl(b, iw, kir_add(b, kir_var(b, iw0), kt_scaled(b, kir_var(b, s), dw)));
  kir_expr *gw = kt_axis_guard(b, iw, d->pad_left, d->pad_right, W);
  if (gw) kir_if(b, gw);
  kir_expr *xv = kir_load(
      b, bx, kir_add(b, kir_var(b, xb),
                     kir_add(b, kir_mul(b, kir_var(b, c), kir_i32(b, H * W)),
                             kir_add(b, kir_mul(b, kir_var(b, ih), kir_i32(b, W)), kir_var(b, iw)))));
  kir_expr *wv = kir_load(
      b, bw, kir_add(b, kir_var(b, wb),
                     kir_add(b, kir_mul(b, kir_var(b, c), kir_i32(b, d->kh * d->kw)),
                             kir_add(b, kir_mul(b, kir_var(b, r), kir_i32(b, d->kw)), kir_var(b, s)))));
  kir_assign(b, acc, kir_add(b, kir_var(b, acc),
                             kir_mul(b, kir_bin(b, KIR_SUB, xv, kir_var(b, xz)),
                                     kir_bin(b, KIR_SUB, wv, kir_var(b, wz)))));
  if (gw) kir_end(b);
  kir_end(b); /* s */
  if (gh) kir_end(b);
  kir_end(b); /* r */
  kir_end(b); /* c */
  return q_direct_finish(&f, acc, d->w_per_channel ? kir_var(b, oc) : kir_i32(b, 0), lo, hi, out_kernel,
                         out_groups);
}

int kt_qlinear_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d,
                      kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->batch < 1 || d->m < 1 || d->k < 1 || d->n < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (!is_q8(d->a_type) || !is_q8(d->b_type) || !is_q8(d->y_type))
    return kt_fail(m, "a, b and y must be i8 or u8");
  int64_t lo, hi;
  if (out_range(d->y_type, d->lo, d->hi, &lo, &hi))
    return kt_fail(m, "the range [%lld, %lld] is not within y's type", (long long)d->lo,
                   (long long)d->hi);
  const int64_t M = d->m, K = d->k, N = d->n, total = d->batch * M * N;
  if (total >= LIMIT32 || d->batch * M * K >= LIMIT32 ||
      (d->b_batched ? d->batch : 1) * K * N >= LIMIT32)
    return kt_fail(m, "a, b or y has 2^31 elements or more (32-bit indexing)");
  if (d->tiles) return kt_qgemm_matmul(m, name, d, d->tiles, out_kernel, out_groups);
  q_direct f;
  if (q_direct_begin(m, name, d->local_size, total, "a", d->a_type, "b", d->b_type, d->y_type,
                     d->has_bias, &f) != 0)
    return -1;
  kir_builder *b = f.b;
  kir_type i32 = kir_t(KIR_I32);
  int ba = f.q.x, baz = f.q.xz, bb = f.q.w, bbz = f.q.wz, bbias = f.bias, i = f.i;
  int col = decl(b, "col", i32, kir_mod(b, kir_var(b, i), kir_i32(b, N)));
  int row = decl(b, "row", i32, kir_div(b, kir_var(b, i), kir_i32(b, N))); /* batch · M + m */
  kir_expr *bi = d->b_per_column ? kir_var(b, col) : kir_i32(b, 0);
  int az = decl(b, "az", i32, kir_load(b, baz, kir_i32(b, 0)));
  int bz = decl(b, "bz", i32, kir_load(b, bbz, bi));
  int a0 = decl(b, "a_base", i32, kir_mul(b, kir_var(b, row), kir_i32(b, K)));
  kir_expr *b_base = kir_var(b, col);
  if (d->b_batched)
    b_base = kir_add(b, b_base, kir_mul(b, kir_div(b, kir_var(b, row), kir_i32(b, M)),
                                        kir_i32(b, K * N)));
  int b0 = decl(b, "b_base", i32, b_base);
  int acc = decl(b, "acc", i32, d->has_bias ? kir_load(b, bbias, kir_var(b, col)) : kir_i32(b, 0));
  int k = kir_var_new(b, "k", i32);
  kir_for(b, k, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_for_unroll(b, 4);
  kir_expr *av = kir_load(b, ba, kir_add(b, kir_var(b, a0), kir_var(b, k)));
  kir_expr *bv = kir_load(b, bb, kir_add(b, kir_var(b, b0), kir_mul(b, kir_var(b, k), kir_i32(b, N))));
  kir_assign(b, acc, kir_add(b, kir_var(b, acc),
                             kir_mul(b, kir_bin(b, KIR_SUB, av, kir_var(b, az)),
                                     kir_bin(b, KIR_SUB, bv, kir_var(b, bz)))));
  kir_end(b);
  return q_direct_finish(&f, acc, d->b_per_column ? kir_var(b, col) : kir_i32(b, 0), lo, hi, out_kernel,
                         out_groups);
}

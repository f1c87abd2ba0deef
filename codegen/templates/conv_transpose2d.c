/* conv_transpose2d.c — the transposed convolution as a gather (conv_transpose2d.h). */
#include "conv_transpose2d.h"

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)

static int64_t full_size(int64_t in, int64_t stride, int64_t pad_a, int64_t pad_b, int64_t k,
                         int64_t dil, int64_t out_pad) {
  return (in - 1) * stride - pad_a - pad_b + dil * (k - 1) + out_pad + 1;
}

int kt_conv_transpose2d_out_size(const kt_conv_transpose2d_desc *d, int64_t *out_h,
                                 int64_t *out_w) {
  *out_h = full_size(d->h, kt_one_if_0(d->stride_h), d->pad_top, d->pad_bottom, d->kh,
                     kt_one_if_0(d->dil_h), d->out_pad_h);
  *out_w = full_size(d->w, kt_one_if_0(d->stride_w), d->pad_left, d->pad_right, d->kw,
                     kt_one_if_0(d->dil_w), d->out_pad_w);
  return *out_h >= 1 && *out_w >= 1 ? 0 : -1;
}

/* The input coordinate that output coordinate `o` reaches through tap `t`, guarded: declares
 * var = o + pad − t·dil and opens the ifs that keep it a multiple of stride inside [0, in·stride);
 * returns how many ifs it opened, and leaves var divided by the stride. */
static int tap_source(kir_builder *b, int var, int o, int t, int64_t pad, int64_t dil,
                      int64_t stride, int64_t in) {
  kir_decl(b, var, kir_add(b, kir_var(b, o),
                           kir_add(b, kir_i32(b, pad), kir_mul(b, kir_var(b, t), kir_i32(b, -dil)))));
  kir_if(b, kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, var), kir_i32(b, 0)),
                    kt_lt(b, kir_var(b, var), in * stride)));
  if (stride == 1) return 1;
  kir_if(b, kir_bin(b, KIR_EQ, kir_mod(b, kir_var(b, var), kir_i32(b, stride)), kir_i32(b, 0)));
  kir_assign(b, var, kir_div(b, kir_var(b, var), kir_i32(b, stride)));
  return 2;
}

int kt_conv_transpose2d(kir_module *m, const char *name, const kt_conv_transpose2d_desc *d,
                        kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  const int64_t sh = kt_one_if_0(d->stride_h), sw = kt_one_if_0(d->stride_w);
  const int64_t dh = kt_one_if_0(d->dil_h), dw = kt_one_if_0(d->dil_w);
  const int64_t groups = kt_one_if_0(d->groups);
  if (d->n < 1 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->c_out < 1 || d->kh < 1 || d->kw < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || d->pad_top < 0 || d->pad_left < 0 ||
      d->pad_bottom < 0 || d->pad_right < 0 || d->out_pad_h < 0 || d->out_pad_w < 0)
    return kt_fail(m, "strides and dilations must be >= 1, paddings >= 0");
  if (d->c_in % groups || d->c_out % groups)
    return kt_fail(m, "groups (%lld) must divide the input channels (%lld) and the output "
                   "channels (%lld)", (long long)groups, (long long)d->c_in, (long long)d->c_out);
  int64_t ho, wo;
  if (kt_conv_transpose2d_out_size(d, &ho, &wo))
    return kt_fail(m, "the padding (%lld, %lld, %lld, %lld) leaves an empty output",
                   (long long)d->pad_top, (long long)d->pad_left, (long long)d->pad_bottom,
                   (long long)d->pad_right);
  const int64_t cin_g = d->c_in / groups, cout_g = d->c_out / groups;
  const int64_t H = d->h, W = d->w, KH = d->kh, KW = d->kw;
  const int64_t total = d->n * d->c_out * ho * wo;
  if (d->n * d->c_in * H * W >= LIMIT32 || total >= LIMIT32 || d->c_in * cout_g * KH * KW >= LIMIT32)
    return kt_fail(m, "x, the weight or y has 2^31 elements or more (32-bit indexing)");
  int ls = d->local_size ? d->local_size : 64;
  if (ls < 1 || ls > 1024) return kt_fail(m, "local size %d out of range (1..1024)", ls);

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bw = kir_buffer_param(b, "w", KIR_F32, KIR_READ);
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);

  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  if (total % ls) kir_if(b, kt_lt(b, kir_var(b, i), total));
  /* i = ((n·c_out + o)·ho + oh)·wo + ow */
  int ow = kir_var_new(b, "ow", kir_t(KIR_I32)), oh = kir_var_new(b, "oh", kir_t(KIR_I32));
  int o = kir_var_new(b, "o", kir_t(KIR_I32)), n = kir_var_new(b, "n", kir_t(KIR_I32));
  kir_decl(b, ow, kir_mod(b, kir_var(b, i), kir_i32(b, wo)));
  kir_decl(b, oh, kir_mod(b, kir_div(b, kir_var(b, i), kir_i32(b, wo)), kir_i32(b, ho)));
  kir_decl(b, o, kir_mod(b, kir_div(b, kir_var(b, i), kir_i32(b, wo * ho)), kir_i32(b, d->c_out)));
  kir_decl(b, n, kir_div(b, kir_var(b, i), kir_i32(b, wo * ho * d->c_out)));
  /* The group's first input channel c0 and the weight's column ol = o mod cout_g. */
  int c0 = kir_var_new(b, "c0", kir_t(KIR_I32)), ol = kir_var_new(b, "ol", kir_t(KIR_I32));
  kir_decl(b, c0, kt_scaled(b, kir_div(b, kir_var(b, o), kir_i32(b, cout_g)), cin_g));
  kir_decl(b, ol, kir_mod(b, kir_var(b, o), kir_i32(b, cout_g)));
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, acc, kir_f32(b, 0.0));

  int c = kir_var_new(b, "c", kir_t(KIR_I32)), r = kir_var_new(b, "r", kir_t(KIR_I32));
  int s = kir_var_new(b, "s", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32)), iw = kir_var_new(b, "iw", kir_t(KIR_I32));
  kir_for(b, c, kir_var(b, c0), kir_add(b, kir_var(b, c0), kir_i32(b, cin_g)), kir_i32(b, 1));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, KH), kir_i32(b, 1));
  int open_h = tap_source(b, ih, oh, r, d->pad_top, dh, sh, H);
  kir_for(b, s, kir_i32(b, 0), kir_i32(b, KW), kir_i32(b, 1));
  int open_w = tap_source(b, iw, ow, s, d->pad_left, dw, sw, W);
  /* x[((n·c_in + c)·H + ih)·W + iw] · w[((c·cout_g + ol)·KH + r)·KW + s] */
  kir_expr *xi = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, n),
                                                                                kir_i32(b, d->c_in)),
                                                                      kir_var(b, c)),
                                                            kir_i32(b, H)),
                                                  kir_var(b, ih)),
                                        kir_i32(b, W)),
                         kir_var(b, iw));
  kir_expr *wi = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, c),
                                                                                kir_i32(b, cout_g)),
                                                                      kir_var(b, ol)),
                                                            kir_i32(b, KH)),
                                                  kir_var(b, r)),
                                        kir_i32(b, KW)),
                         kir_var(b, s));
  kir_assign(b, acc, kir_add(b, kir_var(b, acc), kir_mul(b, kir_load(b, bx, xi), kir_load(b, bw, wi))));
  for (int k = 0; k < open_w; k++) kir_end(b);
  kir_end(b); /* s */
  for (int k = 0; k < open_h; k++) kir_end(b);
  kir_end(b); /* r */
  kir_end(b); /* c */

  kir_expr *v = kir_var(b, acc);
  if (bb >= 0) v = kir_add(b, v, kir_load(b, bb, kir_var(b, o)));
  if (d->epilogue.fn) {
    kt_out_pos at = {kir_var(b, i), NULL, NULL, NULL};
    v = d->epilogue.fn(b, v, &at, d->epilogue.user);
    if (!v) {
      kir_kernel_end(b, NULL);
      return kt_fail(m, "the fused epilogue could not be built");
    }
  }
  kir_store(b, by, kir_var(b, i), v);
  if (total % ls) kir_end(b);
  out_groups[0] = kt_ceil_div(total, ls);
  return kir_kernel_end(b, out_kernel);
}

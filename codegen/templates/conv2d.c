/* conv2d.c — direct NCHW convolution, one output pixel × a block of output channels per
 * work-item. */
#include "conv2d.h"

#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_OCB 8

kt_conv2d_desc kt_conv2d_normalized(const kt_conv2d_desc *in) {
  kt_conv2d_desc d = *in;
  d.stride_h = kt_one_if_0(d.stride_h);
  d.stride_w = kt_one_if_0(d.stride_w);
  d.dil_h = kt_one_if_0(d.dil_h);
  d.dil_w = kt_one_if_0(d.dil_w);
  d.groups = kt_one_if_0(d.groups);
  return d;
}

int kt_conv2d_out_size(const kt_conv2d_desc *in, int64_t *out_h, int64_t *out_w) {
  *out_h = *out_w = 0;
  kt_conv2d_desc nd = kt_conv2d_normalized(in);
  const kt_conv2d_desc *d = &nd;
  int64_t oh = kt_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, d->dil_h, d->stride_h);
  int64_t ow = kt_window_count(d->w, d->pad_left, d->pad_right, d->kw, d->dil_w, d->stride_w);
  if (oh < 0 || ow < 0) return -1;
  *out_h = oh;
  *out_w = ow;
  return 0;
}

int kt_conv2d_misfit(kir_module *m, const kt_conv2d_desc *d) {
  return kt_fail(m, "the %lldx%lld kernel (stride [%lld, %lld], dilation [%lld, %lld]) does not "
                 "fit the %lldx%lld input padded by [%lld, %lld, %lld, %lld]",
                 (long long)d->kh, (long long)d->kw, (long long)d->stride_h,
                 (long long)d->stride_w, (long long)d->dil_h, (long long)d->dil_w,
                 (long long)d->h, (long long)d->w, (long long)d->pad_top, (long long)d->pad_left,
                 (long long)d->pad_bottom, (long long)d->pad_right);
}

int kt_conv2d(kir_module *m, const char *name, const kt_conv2d_desc *in, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc nd = kt_conv2d_normalized(in);
  const kt_conv2d_desc *d = &nd;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  int64_t ho, wo;
  if (d->n < 1 || d->c_in < 1 || d->h < 1 || d->w < 1 || d->c_out < 1 || d->groups < 1)
    return kt_fail(m, "every dim and groups must be at least 1");
  if (kt_conv2d_out_size(d, &ho, &wo)) return kt_conv2d_misfit(m, d);
  if (d->c_in % d->groups || d->c_out % d->groups)
    return kt_fail(m, "groups (%lld) must divide the input channels (%lld) and the output "
                   "channels (%lld)", (long long)d->groups, (long long)d->c_in,
                   (long long)d->c_out);
  const int64_t cin_g = d->c_in / d->groups, cout_g = d->c_out / d->groups;
  const int64_t H = d->h, W = d->w, KH = d->kh, KW = d->kw;
  if (d->n * d->c_in * H * W >= LIMIT32 || d->n * d->c_out * ho * wo >= LIMIT32 ||
      d->c_out * cin_g * KH * KW >= LIMIT32)
    return kt_fail(m, "x, the weight or y has 2^31 elements or more (32-bit indexing)");
  int ls = d->local_size ? d->local_size : 64;
  int ocb = d->oc_block ? d->oc_block : 4;
  if (ls < 1 || ls > 1024 || ocb < 1 || ocb > MAX_OCB)
    return kt_fail(m, "local size %d or output-channel block %d out of range (1..1024, 1..%d)",
                   ls, ocb, MAX_OCB);
  if (ocb > cout_g) ocb = (int)cout_g;
  const int64_t nblk = kt_ceil_div(cout_g, ocb);
  const int64_t hw_out = ho * wo, wsz = cin_g * KH * KW;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bw = kir_buffer_param(b, "w", KIR_F32, KIR_READ);
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);

  int p = kir_var_new(b, "p", kir_t(KIR_I32));
  int g = kir_var_new(b, "g", kir_t(KIR_I32));
  int blk = kir_var_new(b, "blk", kir_t(KIR_I32));
  int n = kir_var_new(b, "n", kir_t(KIR_I32));
  kir_decl(b, p, kir_global_id(b, 0));
  kir_decl(b, g, nblk == 1 ? kir_group_id(b, 1) : kir_div(b, kir_group_id(b, 1), kir_i32(b, nblk)));
  kir_decl(b, blk, nblk == 1 ? kir_i32(b, 0) : kir_mod(b, kir_group_id(b, 1), kir_i32(b, nblk)));
  kir_decl(b, n, kir_group_id(b, 2));
  int partial_px = hw_out % ls != 0;
  if (partial_px) kir_if(b, kt_lt(b, kir_var(b, p), hw_out));

  int oh = kir_var_new(b, "oh", kir_t(KIR_I32));
  int ow = kir_var_new(b, "ow", kir_t(KIR_I32));
  int ih0 = kir_var_new(b, "ih0", kir_t(KIR_I32));
  int iw0 = kir_var_new(b, "iw0", kir_t(KIR_I32));
  int xb = kir_var_new(b, "x_base", kir_t(KIR_I32));
  kir_decl(b, oh, kir_div(b, kir_var(b, p), kir_i32(b, wo)));
  kir_decl(b, ow, kir_mod(b, kir_var(b, p), kir_i32(b, wo)));
  kir_decl(b, ih0, kir_add(b, kir_mul(b, kir_var(b, oh), kir_i32(b, d->stride_h)), kir_i32(b, -d->pad_top)));
  kir_decl(b, iw0, kir_add(b, kir_mul(b, kir_var(b, ow), kir_i32(b, d->stride_w)), kir_i32(b, -d->pad_left)));
  /* x_base = (n·c_in + g·cin_g)·H·W */
  kir_decl(b, xb, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, n), kir_i32(b, d->c_in)),
                                     kir_mul(b, kir_var(b, g), kir_i32(b, cin_g))),
                          kir_i32(b, H * W)));

  /* Per channel of the block: weight base, with the channel index clamped into the group so
   * that a ragged last block reads valid weights (its extra results are never stored). */
  int wb[MAX_OCB], acc[MAX_OCB];
  for (int j = 0; j < ocb; j++) {
    char nm[32];
    snprintf(nm, sizeof nm, "w_base%d", j);
    wb[j] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_expr *ocl = kir_add(b, kir_mul(b, kir_var(b, blk), kir_i32(b, ocb)), kir_i32(b, j));
    if (cout_g % ocb) ocl = kir_bin(b, KIR_MIN, ocl, kir_i32(b, cout_g - 1));
    kir_expr *oc = kir_add(b, kir_mul(b, kir_var(b, g), kir_i32(b, cout_g)), ocl);
    kir_decl(b, wb[j], kir_mul(b, oc, kir_i32(b, wsz)));
    snprintf(nm, sizeof nm, "acc%d", j);
    acc[j] = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, acc[j], kir_f32(b, 0.0));
  }

  int ci = kir_var_new(b, "ci", kir_t(KIR_I32));
  int r = kir_var_new(b, "r", kir_t(KIR_I32));
  int s = kir_var_new(b, "s", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32));
  int iw = kir_var_new(b, "iw", kir_t(KIR_I32));
  int xv = kir_var_new(b, "xv", kir_t(KIR_F32));
  int xrow = kir_var_new(b, "x_row", kir_t(KIR_I32));
  kir_for(b, ci, kir_i32(b, 0), kir_i32(b, cin_g), kir_i32(b, 1));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, KH), kir_i32(b, 1));
  kir_decl(b, ih, kir_add(b, kir_var(b, ih0), kir_mul(b, kir_var(b, r), kir_i32(b, d->dil_h))));
  /* Without padding on a side, no output's window crosses that side: skip its check. */
  kir_expr *gh = kt_axis_guard(b, ih, d->pad_top, d->pad_bottom, H);
  if (gh) kir_if(b, gh);
  kir_decl(b, xrow, kir_add(b, kir_var(b, xb),
                            kir_add(b, kir_mul(b, kir_var(b, ci), kir_i32(b, H * W)),
                                    kir_mul(b, kir_var(b, ih), kir_i32(b, W)))));
  kir_for(b, s, kir_i32(b, 0), kir_i32(b, KW), kir_i32(b, 1));
  kir_decl(b, iw, kir_add(b, kir_var(b, iw0), kir_mul(b, kir_var(b, s), kir_i32(b, d->dil_w))));
  kir_expr *gw = kt_axis_guard(b, iw, d->pad_left, d->pad_right, W);
  if (gw) kir_if(b, gw);
  kir_decl(b, xv, kir_load(b, bx, kir_add(b, kir_var(b, xrow), kir_var(b, iw))));
  for (int j = 0; j < ocb; j++) {
    /* w[oc, ci, r, s] = w[w_base + (ci·KH + r)·KW + s] */
    kir_expr *widx = kir_add(b, kir_var(b, wb[j]),
                             kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, ci), kir_i32(b, KH)),
                                                           kir_var(b, r)),
                                                kir_i32(b, KW)),
                                     kir_var(b, s)));
    kir_assign(b, acc[j], kir_add(b, kir_var(b, acc[j]), kir_mul(b, kir_var(b, xv), kir_load(b, bw, widx))));
  }
  if (gw) kir_end(b);
  kir_end(b); /* s */
  if (gh) kir_end(b);
  kir_end(b); /* r */
  kir_end(b); /* ci */

  for (int j = 0; j < ocb; j++) {
    kir_expr *ocl = kir_add(b, kir_mul(b, kir_var(b, blk), kir_i32(b, ocb)), kir_i32(b, j));
    int ragged = cout_g % ocb != 0;
    if (ragged) kir_if(b, kt_lt(b, ocl, cout_g));
    kir_expr *oc = kir_add(b, kir_mul(b, kir_var(b, g), kir_i32(b, cout_g)),
                           kir_add(b, kir_mul(b, kir_var(b, blk), kir_i32(b, ocb)), kir_i32(b, j)));
    kir_expr *v = kir_var(b, acc[j]);
    if (bb >= 0) v = kir_add(b, v, kir_load(b, bb, oc));
    kir_expr *yidx = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, n), kir_i32(b, d->c_out)), oc),
                                        kir_i32(b, hw_out)),
                             kir_var(b, p));
    if (d->epilogue.fn) {
      char nm[32];
      snprintf(nm, sizeof nm, "y_idx%d", j);
      int yv = kir_var_new(b, nm, kir_t(KIR_I32));
      kir_decl(b, yv, yidx);
      yidx = kir_var(b, yv);
      kt_out_pos at = {yidx, NULL, NULL, NULL};
      v = d->epilogue.fn(b, v, &at, d->epilogue.user);
      if (!v) {
        kir_kernel_end(b, NULL);
        return kt_fail(m, "the fused epilogue could not be built");
      }
    }
    kir_store(b, by, yidx, v);
    if (ragged) kir_end(b);
  }
  if (partial_px) kir_end(b);

  out_groups[0] = kt_ceil_div(hw_out, ls);
  out_groups[1] = d->groups * nblk;
  out_groups[2] = d->n;
  return kir_kernel_end(b, out_kernel);
}

/* conv2d_gemm.c — convolution through the GEMM: the GEMM's descriptor (an implicit GEMM that
 * gathers the im2col matrix from x while loading its tiles). */
#include "conv2d.h"

#include <string.h>

#include "matmul.h"

#define LIMIT32 ((int64_t)1 << 31)

/* 1 if the (normalized) convolution is a GEMM on x itself: 1×1, stride 1, no padding. */
static int gemm_direct(const kt_conv2d_desc *d) {
  return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
         d->pad_left == 0 && d->pad_bottom == 0 && d->pad_right == 0;
}

int kt_conv2d_cpu_direct_gemm(const kt_conv2d_desc *in) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  return d.groups == 1 && gemm_direct(&d) && d.h * d.w >= KT_CONV2D_CPU_DIRECT_GEMM_MIN_HW;
}

int kt_conv2d_gemm_desc(const kt_conv2d_desc *in, kt_matmul_desc *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  memset(out, 0, sizeof *out);
  if (d.groups != 1 || kt_conv2d_out_size(&d, &ho, &wo)) return -1;
  if (d.n < 1 || d.c_in < 1 || d.c_out < 1 || d.kh > LIMIT32 / d.c_in ||
      d.c_in * d.kh > LIMIT32 / d.kw)
    return -1;
  const int64_t HW = ho * wo, K = d.c_in * d.kh * d.kw;
  /* The GEMM's own index arithmetic is 32-bit: C (n·c_out·HW) and x must stay below 2^31. */
  if (HW >= LIMIT32 / d.n || d.n * HW >= LIMIT32 / d.c_out || K >= LIMIT32 / d.c_out ||
      d.h * d.w >= LIMIT32 / d.c_in || d.c_in * d.h * d.w >= LIMIT32 / d.n)
    return -1;
  out->m = d.c_out;
  out->k = K;
  out->has_bias = d.has_bias;
  out->bias_per_row = 1;
  out->strided = 1;
  out->a_stride_m = K;
  out->a_stride_k = 1;
  out->b_stride_n = 1;
  out->c_stride_m = HW;
  out->c_stride_n = 1;
  if (gemm_direct(&d)) {
    /* x[n] (c_in × HW) is image n's B: one GEMM per image. */
    out->n = HW;
    out->n_batch = 1;
    out->batch[0] = d.n;
    out->a_batch_stride[0] = 0;
    out->b_stride_k = HW;
    out->b_batch_stride[0] = d.n > 1 ? K * HW : 0;
    out->c_batch_stride[0] = d.c_out * HW;
  } else {
    /* One GEMM over every image's pixels (images folded into N, so small maps — 7×7 at the end
     * of a ResNet — still fill whole tiles); B, the im2col matrix, is gathered from x. */
    out->n = d.n * HW;
    out->c_fold = HW;
    out->b_im2col = (kt_matmul_im2col){1, d.c_in, d.h, d.w, d.kh, d.kw, d.stride_h, d.stride_w,
                                       d.pad_top, d.pad_left, d.dil_h, d.dil_w, ho, wo, 0};
  }
  return 0;
}

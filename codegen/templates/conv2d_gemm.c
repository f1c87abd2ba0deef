/* conv2d_gemm.c — convolution through the GEMM: the im2col kernel and the GEMM's descriptor. */
#include "conv2d.h"

#include <string.h>

#include "matmul.h"
#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define IM2COL_LOCAL 256

kt_conv2d_desc kt_conv2d_normalized(const kt_conv2d_desc *in) {
  kt_conv2d_desc d = *in;
  d.stride_h = kt_one_if_0(d.stride_h);
  d.stride_w = kt_one_if_0(d.stride_w);
  d.dil_h = kt_one_if_0(d.dil_h);
  d.dil_w = kt_one_if_0(d.dil_w);
  d.groups = kt_one_if_0(d.groups);
  return d;
}

int kt_conv2d_gemm_direct(const kt_conv2d_desc *in) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  return d.kh == 1 && d.kw == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_top == 0 &&
         d.pad_left == 0 && d.pad_bottom == 0 && d.pad_right == 0;
}

int64_t kt_conv2d_col_numel(const kt_conv2d_desc *in) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  if (d.groups != 1 || kt_conv2d_out_size(&d, &ho, &wo)) return -1;
  if (d.n < 1 || d.c_in < 1 || d.kh > LIMIT32 / d.c_in) return -1;
  int64_t k = d.c_in * d.kh * d.kw;
  if (k >= LIMIT32 || ho * wo >= LIMIT32 / k) return -1;
  int64_t per = k * ho * wo;
  if (per >= LIMIT32 / d.n) return -1;
  return d.n * per;
}

int kt_im2col(kir_module *m, const char *name, const kt_conv2d_desc *in, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t total = kt_conv2d_col_numel(&d), ho, wo;
  if (total < 1 || kt_conv2d_out_size(&d, &ho, &wo)) return -1;
  if (d.n * d.c_in * d.h * d.w >= LIMIT32) return -1;
  const int64_t HW = ho * wo, KHW = d.kh * d.kw;
  kir_builder *b = kir_kernel_begin(m, name, IM2COL_LOCAL, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bc = kir_buffer_param(b, "col", KIR_F32, KIR_WRITE);
  int e = kir_var_new(b, "e", kir_t(KIR_I32));
  kir_decl(b, e, kir_global_id(b, 0));
  if (total % IM2COL_LOCAL) {
    kir_if(b, kir_bin(b, KIR_GE, kir_var(b, e), kir_i32(b, total)));
    kir_return(b);
    kir_end(b);
  }
  int p = kir_var_new(b, "p", kir_t(KIR_I32));
  int kk = kir_var_new(b, "kk", kir_t(KIR_I32));
  int n = kir_var_new(b, "n", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32));
  int iw = kir_var_new(b, "iw", kir_t(KIR_I32));
  /* col is [K][n·HW]: element e = kk·(n·HW) + n·HW + p. */
  const int64_t NHW = d.n * HW;
  kir_decl(b, p, kir_mod(b, kir_var(b, e), kir_i32(b, HW)));
  kir_decl(b, kk, kir_div(b, kir_var(b, e), kir_i32(b, NHW)));
  kir_decl(b, n, kir_mod(b, kir_div(b, kir_var(b, e), kir_i32(b, HW)), kir_i32(b, d.n)));
  /* ih = (p / wo)·stride − pad + ((kk / kw) % kh)·dil; iw likewise. */
  kir_expr *r = kir_mod(b, kir_div(b, kir_var(b, kk), kir_i32(b, d.kw)), kir_i32(b, d.kh));
  kir_expr *s = kir_mod(b, kir_var(b, kk), kir_i32(b, d.kw));
  kir_decl(b, ih, kir_add(b, kir_add(b, kir_mul(b, kir_div(b, kir_var(b, p), kir_i32(b, wo)),
                                                kir_i32(b, d.stride_h)),
                                     kir_i32(b, -d.pad_top)),
                          kir_mul(b, r, kir_i32(b, d.dil_h))));
  kir_decl(b, iw, kir_add(b, kir_add(b, kir_mul(b, kir_mod(b, kir_var(b, p), kir_i32(b, wo)),
                                                kir_i32(b, d.stride_w)),
                                     kir_i32(b, -d.pad_left)),
                          kir_mul(b, s, kir_i32(b, d.dil_w))));
  /* x[n, ci, ih, iw] with ci = kk / (kh·kw) */
  kir_expr *ci = kir_div(b, kir_var(b, kk), kir_i32(b, KHW));
  kir_expr *xi = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, n),
                                                                                  kir_i32(b, d.c_in)),
                                                                       ci),
                                                          kir_i32(b, d.h)),
                                               kir_var(b, ih)),
                                    kir_i32(b, d.w)),
                         kir_var(b, iw));
  int padded = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right;
  if (padded) {
    kir_expr *in = kir_bin(b, KIR_AND,
                           kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, ih), kir_i32(b, 0)),
                                   kir_bin(b, KIR_LT, kir_var(b, ih), kir_i32(b, d.h))),
                           kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, iw), kir_i32(b, 0)),
                                   kir_bin(b, KIR_LT, kir_var(b, iw), kir_i32(b, d.w))));
    int v = kir_var_new(b, "v", kir_t(KIR_F32));
    kir_decl(b, v, kir_f32(b, 0.0));
    kir_if(b, in);
    kir_assign(b, v, kir_load(b, bx, xi));
    kir_end(b);
    kir_store(b, bc, kir_var(b, e), kir_var(b, v));
  } else {
    kir_store(b, bc, kir_var(b, e), kir_load(b, bx, xi));
  }
  out_groups[0] = kt_ceil_div(total, IM2COL_LOCAL);
  return kir_kernel_end(b, out_kernel);
}

int kt_conv2d_gemm_desc(const kt_conv2d_desc *in, kt_matmul_desc *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  memset(out, 0, sizeof *out);
  if (d.groups != 1 || kt_conv2d_out_size(&d, &ho, &wo)) return -1;
  const int64_t HW = ho * wo, K = d.c_in * d.kh * d.kw;
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
  if (kt_conv2d_gemm_direct(&d)) {
    /* x[n] (c_in × HW) is image n's B: one GEMM per image. */
    out->n = HW;
    out->n_batch = 1;
    out->batch[0] = d.n;
    out->a_batch_stride[0] = 0;
    out->b_stride_k = HW;
    out->b_batch_stride[0] = d.n > 1 ? K * HW : 0;
    out->c_batch_stride[0] = d.c_out * HW;
  } else {
    /* col (K × n·HW) holds every image's pixels: one GEMM, images folded into N, so small maps
     * (7×7 at the end of a ResNet) still fill whole tiles. */
    out->n = d.n * HW;
    out->b_stride_k = d.n * HW;
    out->c_fold = HW;
  }
  return 0;
}

/* qlinear.h — integer kernels of quantized convolution and matrix product, with ONNX
 * QLinearConv / QLinearMatMul semantics.
 *
 * Every product is (x − x_zp)·(w − w_zp) of 8-bit integers (i8 or u8), summed in i32 with an
 * optional i32 bias; the sum is requantized as onnxruntime does it:
 *     y = saturate(round_half_even(f32(acc) · (x_scale · w_scale / y_scale)) + y_zp)
 * with the multiplier computed in f32 in that order (kt_requantize). Padding positions
 * contribute nothing (onnxruntime pads with x_zp).
 *
 * The direct kernels compute one output per work-item, on a 1-D grid (guarded `if (i < n)`
 * when the last work-group is partial); with `tiles` set, the descriptors get qgemm.h's tiled
 * kernels instead (a variant using the device's integer dot product, and its fallback).
 * Index arithmetic is 32-bit: every tensor must have fewer than 2^31 elements (else -1).
 * Thread safety: reentrant. */
#ifndef MLG_KT_QLINEAR_H
#define MLG_KT_QLINEAR_H

#include <stdint.h>

#include "../kir.h"

#define KT_Q_LOCAL_SIZE 64

/* The range of q_type: KIR_I8 −128..127, KIR_U8 0..255. */
void kt_q_range(kir_scalar q_type, int64_t *lo, int64_t *hi);
/* min(max(rint(v) + zp, lo), hi) as I32: F32 v, I32 zp or NULL (0). ONNX QuantizeLinear's
 * rounding and saturation with [lo, hi] the output type's range (kt_q_range); a narrower
 * range applies a fused relu or clamp. A NaN v gives lo. */
kir_expr *kt_q_saturate(kir_builder *b, kir_expr *v, kir_expr *zp, int64_t lo, int64_t hi);
/* kt_q_saturate(f32(acc) · mult, y_zp, lo, hi): acc I32, mult F32. Both keep the width of v /
 * acc (a vector is saturated lane by lane; OpenCL). */
kir_expr *kt_requantize(kir_builder *b, kir_expr *acc, kir_expr *mult, kir_expr *y_zp,
                        int64_t lo, int64_t hi);

/* The eight buffers of ONNX's order: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp (named
 * after x and w: "x", "x_scale", "x_zp", ...), for the kernels here and qgemm.h's. */
typedef struct kt_q_buffers {
  int x, xs, xz, w, ws, wz, ys, yz;
} kt_q_buffers;
kt_q_buffers kt_q_buffers_declare(kir_builder *b, const char *x, kir_scalar xt, const char *w,
                                  kir_scalar wt, kir_scalar yt);
/* The requantization multiplier (s_x · s_w[wi]) / s_y in f32, ONNX's order (buffers xs, ws, ys
 * of kt_q_buffers). */
kir_expr *kt_q_multiplier(kir_builder *b, int bxs, int bws, kir_expr *wi, int bys);

/* Buffers, in ONNX QLinearConv's input order: x [n, c_in, h, w], x_scale (f32, 1), x_zp (1),
 * w [c_out, c_in / groups, kh, kw], w_scale (f32, 1 or c_out), w_zp (1 or c_out), y_scale
 * (f32, 1), y_zp (1), bias (i32 [c_out], when has_bias), then y [n, c_out, oh, ow] (write).
 * Launch: groups = (ceil(numel(y) / local_size), 1, 1). */
typedef struct kt_qlinear_conv2d_desc {
  int64_t n, c_in, h, w, c_out, kh, kw;
  int64_t stride_h, stride_w;           /* 0 = 1 */
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  int64_t dil_h, dil_w;                 /* 0 = 1 */
  int64_t groups;                       /* 0 = 1 */
  kir_scalar x_type, w_type, y_type;    /* KIR_I8 or KIR_U8 each */
  int w_per_channel;                    /* w_scale and w_zp hold c_out values */
  int has_bias;
  int64_t lo, hi;                       /* the results' range (a fused relu/clamp); lo = hi = 0:
                                           y_type's */
  int local_size;                       /* 0 = KT_Q_LOCAL_SIZE */
  /* Non-NULL: the tiled kernels of qgemm.h (the integer dot product variant and its plain
   * fallback) where they apply (groups 1), with these tiles; NULL: the direct kernel. */
  const struct kt_qgemm_tiles *tiles;
} kt_qlinear_conv2d_desc;

int kt_qlinear_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d,
                      kir_kernel **out_kernel, int64_t out_groups[3]);

/* Buffers, in ONNX QLinearMatMul's input order: a [batch, m, k], a_scale (f32, 1), a_zp (1),
 * b [k, n] (or [batch, k, n] when b_batched), b_scale (f32, 1 or n), b_zp (1 or n), y_scale
 * (f32, 1), y_zp (1), bias (i32 [n], when has_bias), then y [batch, m, n] (write). Launch as
 * above. */
typedef struct kt_qlinear_matmul_desc {
  int64_t batch, m, k, n;
  int b_batched;
  kir_scalar a_type, b_type, y_type;    /* KIR_I8 or KIR_U8 each */
  int b_per_column;                     /* b_scale and b_zp hold n values */
  int has_bias;
  int64_t lo, hi;                       /* as kt_qlinear_conv2d_desc's */
  int local_size;                       /* 0 = KT_Q_LOCAL_SIZE */
  const struct kt_qgemm_tiles *tiles;   /* as kt_qlinear_conv2d_desc's */
} kt_qlinear_matmul_desc;

int kt_qlinear_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d,
                      kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

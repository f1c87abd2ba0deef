/* conv_transpose2d.h — kernel template for NCHW 2-D transposed convolution, as
 * torch.nn.functional.conv_transpose2d (the gradient of conv2d with respect to its input):
 * each input pixel scatters its weighted window into the output; computed as a gather, one
 * work-item per output element:
 *
 *   y[n, o, oh, ow] = bias[o] + Σ_{ci < c_in/groups, r < kh, s < kw}
 *       x[n, c, ih, iw] · w[c, o mod (c_out/groups), r, s]
 *       with c = g·(c_in/groups) + ci, g = o / (c_out/groups), over the (r, s) where
 *       oh + pad_top − r·dil_h = ih·stride_h and ow + pad_left − s·dil_w = iw·stride_w for an
 *       ih in [0, h) and an iw in [0, w).
 *   h_out = (h − 1)·stride_h − pad_top − pad_bottom + dil_h·(kh − 1) + out_pad_h + 1, same for w.
 *
 * torch's symmetric `padding` p is pad_top = pad_bottom = p; ONNX ConvTranspose's pads map
 * directly. output_padding only adds rows and columns at the bottom and right.
 * Buffers, in order: x (read, [n, c_in, h, w]), w (read, [c_in, c_out/groups, kh, kw]),
 *                    bias (read, [c_out], only if has_bias), y (write, [n, c_out, h_out, w_out]),
 *                    then the epilogue's.
 * Launch: work-group size (local_size, 1, 1); groups = (ceil(n·c_out·h_out·w_out / local_size), 1, 1).
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_CONV_TRANSPOSE2D_H
#define MLG_KT_CONV_TRANSPOSE2D_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

typedef struct kt_conv_transpose2d_desc {
  int64_t n, c_in, h, w;                            /* input dims */
  int64_t c_out, kh, kw;                            /* weight is [c_in, c_out/groups, kh, kw] */
  int64_t stride_h, stride_w;                       /* >= 1 (0 is taken as 1) */
  int64_t pad_top, pad_left, pad_bottom, pad_right; /* >= 0: rows/columns cut from the full output */
  int64_t out_pad_h, out_pad_w;                     /* >= 0, added at the bottom and right */
  int64_t dil_h, dil_w;                             /* >= 1 (0 is taken as 1) */
  int64_t groups;                                   /* >= 1 (0 is taken as 1), divides c_in, c_out */
  int has_bias;
  int local_size;                                   /* 1..1024; 0 = 64 */
  kt_epilogue epilogue;                             /* after the bias; its buffers follow y */
} kt_conv_transpose2d_desc;

/* Output spatial size; -1 when the descriptor gives an empty or invalid output. */
int kt_conv_transpose2d_out_size(const kt_conv_transpose2d_desc *d, int64_t *out_h, int64_t *out_w);

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor or allocation
 * failure. */
int kt_conv_transpose2d(kir_module *m, const char *name, const kt_conv_transpose2d_desc *d,
                        kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

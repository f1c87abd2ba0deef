/* resize.h — kernel template for resizing NCHW images as torch.nn.functional.interpolate does
 * (modes nearest — PyTorch's legacy nearest — and bilinear), computed in float as PyTorch's
 * kernels compute them, so that the source pixels chosen are PyTorch's.
 *
 * Per axis (h, w) the descriptor gives `scale`, source pixels per output pixel (PyTorch's
 * area_pixel_compute_scale: (in − 1)/(out − 1) with align_corners, else 1/scale_factor when a
 * scale factor was given, else in/out), rounded to float. For output coordinate o:
 *   nearest: src = min(floor(o · scale), in − 1); o itself when out == in, o / 2 when
 *            out == 2·in (PyTorch's shortcuts);
 *   linear:  s = scale · o (align_corners) or max(scale · (o + 0.5) − 0.5, 0); i0 =
 *            min(floor(s), in − 1), i1 = i0 + (i0 < in − 1), λ = clamp(s − i0, 0, 1); the
 *            result weighs rows i0, i1 by 1 − λh, λh and columns by 1 − λw, λw.
 * One work-item per output element (kt_elementwise_body).
 * Buffers, in order: x (read, [n, c, h, w]), y (write, [n, c, out_h, out_w]).
 * Launch: work-group size (KT_EW_LOCAL_SIZE, 1, 1); groups = (ceil(n_out / KT_EW_LOCAL_SIZE), 1, 1).
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_RESIZE_H
#define MLG_KT_RESIZE_H

#include <stdint.h>

#include "../kir.h"

typedef enum kt_resize_mode { KT_RESIZE_NEAREST, KT_RESIZE_LINEAR } kt_resize_mode;

typedef struct kt_resize_desc {
  int64_t n, c, h, w;              /* input dims, each >= 1 */
  int64_t out_h, out_w;            /* output size, each >= 1 */
  kt_resize_mode mode;
  int align_corners;               /* linear only: corners of input and output aligned */
  float scale_h, scale_w;          /* source pixels per output pixel, as above */
} kt_resize_desc;

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor or allocation
 * failure. */
int kt_resize(kir_module *m, const char *name, const kt_resize_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

#endif

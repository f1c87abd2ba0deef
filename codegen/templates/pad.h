/* pad.h — kernel template for padding (ONNX Pad, torch.nn.functional.pad): each output element
 * is an input element or the constant.
 *
 * Along dim d the output has shape[d] + begin[d] + end[d] elements; output coordinate o reads
 * input coordinate j = o − begin[d], and where j falls outside [0, shape[d]):
 *   KT_PAD_CONSTANT  the element is `value`;
 *   KT_PAD_REFLECT   j mirrors about the edge without repeating it: −j below, 2(n − 1) − j
 *                    above (n = shape[d]; needs begin, end < n);
 *   KT_PAD_EDGE      j is clamped to the nearest edge element.
 * A negative begin or end crops. Runs of neighbouring dims without padding are merged first.
 * One work-item per output element (kt_elementwise_body): guarded 1-D grid.
 * Buffers, in order: x (read), y (write); same element type.
 * Launch: work-group size (KT_EW_LOCAL_SIZE, 1, 1); groups = (ceil(n_out / KT_EW_LOCAL_SIZE), 1, 1).
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_PAD_H
#define MLG_KT_PAD_H

#include <stdint.h>

#include "../kir.h"

#ifndef KT_MAX_RANK
#define KT_MAX_RANK 8
#endif

typedef enum kt_pad_mode { KT_PAD_CONSTANT, KT_PAD_REFLECT, KT_PAD_EDGE } kt_pad_mode;

typedef struct kt_pad_desc {
  int rank;                        /* 1..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];      /* input dims, each >= 1 */
  int64_t begin[KT_MAX_RANK];      /* elements added before each dim (negative: removed) */
  int64_t end[KT_MAX_RANK];        /* elements added after each dim (negative: removed) */
  kt_pad_mode mode;
  double value;                    /* KT_PAD_CONSTANT: the padding value */
  kir_scalar dtype;                /* KIR_F32 or KIR_I32 */
} kt_pad_desc;

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor (an empty output
 * dim, a reflection as wide as its dim, 2^31 elements or more) or allocation failure. */
int kt_pad(kir_module *m, const char *name, const kt_pad_desc *d, kir_kernel **out_kernel,
           int64_t out_groups[3]);

#endif

/* shape.h — kernel templates for the injective shape ops: transpose, slice, concat, gather,
 * and a plain copy. Each output element reads exactly one input element.
 *
 * All kernels: one work-item per output element on a 1-D grid of work-group size
 * KT_SHAPE_LOCAL_SIZE, guarded `if (i >= n) return;`; groups = (max(1, ceil(n / 256)), 1, 1).
 * Tensors are contiguous C-order; the dtype (any kir scalar, storage types included) only changes
 * the buffer type.
 * Index arithmetic is 32-bit: every tensor must have fewer than 2^31 elements (else -1).
 *
 * transpose and slice share one "strided read" kernel: y[i] = x[base + Σ_c coord_c · stride_c]
 * over the output's coordinates, after dropping output dims of size 1 and merging neighbours
 * whose strides chain (so a transpose that keeps a block of dims together, or a slice of whole
 * rows, does fewer div/mods).
 *
 * Every function returns 0, or -1 on an invalid descriptor or allocation failure.
 * Thread safety: reentrant. */
#ifndef MLG_KT_SHAPE_H
#define MLG_KT_SHAPE_H

#include <stdint.h>

#include "../kir.h"

#ifndef KT_MAX_RANK
#define KT_MAX_RANK 8
#endif
#define KT_SHAPE_LOCAL_SIZE 256
#define KT_CONCAT_MAX_INPUTS 32

/* ---- copy: y[i] = x[i] for n elements. Buffers: x (read), y (write). ---- */
int kt_copy(kir_module *m, const char *name, int64_t n, kir_scalar dtype,
            kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- transpose: out dim d is input dim perm[d] (any permutation of 0..rank-1).
 * Buffers: x (read), y (write). ---- */
typedef struct kt_transpose_desc {
  int rank;                       /* 0..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];     /* input dims, each >= 1 */
  int perm[KT_MAX_RANK];
  kir_scalar dtype;
} kt_transpose_desc;

int kt_transpose(kir_module *m, const char *name, const kt_transpose_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- slice (ONNX Slice semantics, resolved): out[c] = in[start + c · step] per dim.
 * Buffers: x (read), y (write). ---- */
typedef struct kt_slice_desc {
  int rank;
  int64_t in_shape[KT_MAX_RANK];
  int64_t start[KT_MAX_RANK];     /* first input index read along each dim */
  int64_t step[KT_MAX_RANK];      /* non-zero; negative walks backwards */
  int64_t out_shape[KT_MAX_RANK]; /* elements taken along each dim, >= 1 */
  kir_scalar dtype;
} kt_slice_desc;

/* Resolves ONNX Slice arguments against in_shape into d (rank, in_shape, start, step,
 * out_shape; dtype is left as is). starts/ends/axes/steps have n entries; axes NULL means
 * 0..n-1, steps NULL means all 1. Negative starts/ends count from the end; then, for step > 0,
 * start and end are clamped to [0, dim]; for step < 0, start to [0, dim-1] and end to
 * [-1, dim-1]; the count is max(0, ceil((end - start) / step)). Axes not named are taken whole.
 * Returns 0, or -1 for a zero step, a bad or repeated axis, or an empty result (tensors have no
 * zero dims). */
int kt_slice_resolve(int rank, const int64_t *in_shape, int n, const int64_t *starts,
                     const int64_t *ends, const int64_t *axes, const int64_t *steps,
                     kt_slice_desc *d);

int kt_slice(kir_module *m, const char *name, const kt_slice_desc *d, kir_kernel **out_kernel,
             int64_t out_groups[3]);

/* ---- concat along `axis`: one kernel for all inputs. Each work-item finds its input by an
 * if / else-if chain over the axis coordinate (inputs in order), so there is one launch however
 * many inputs there are (launches cost tens of microseconds on PoCL).
 * Buffers: x0 .. x{n-1} (read), y (write). ---- */
typedef struct kt_concat_desc {
  int rank;                       /* 1..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];     /* output dims; inputs equal it except along axis */
  int axis;                       /* 0..rank-1 */
  int n_inputs;                   /* 1..KT_CONCAT_MAX_INPUTS */
  int64_t axis_size[KT_CONCAT_MAX_INPUTS]; /* each input's extent along axis; sum = shape[axis] */
  kir_scalar dtype;
} kt_concat_desc;

int kt_concat(kir_module *m, const char *name, const kt_concat_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

/* ---- gather (ONNX Gather): out = data[:axis] + indices.shape + data[axis+1:], reading
 * data[..., j, ...] with j = indices[q]. A negative j counts from the end (j + dim). An index
 * still outside [0, dim) after that is CLAMPED into range (never an out-of-bounds read): the
 * checker cannot see run-time index values, and a kernel cannot report errors.
 * Buffers: x (data, read), idx (read, int32, or float32 converted by truncation), y (write). */
typedef struct kt_gather_desc {
  int rank;                       /* data rank, 1..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];     /* data dims */
  int axis;                       /* 0..rank-1 */
  int64_t n_indices;              /* number of index elements (its shape only matters to the
                                     output's shape, not to the kernel), >= 1 */
  kir_scalar dtype;               /* data and output */
  kir_scalar index_dtype;         /* KIR_I32 (normal) or KIR_F32 */
} kt_gather_desc;

int kt_gather(kir_module *m, const char *name, const kt_gather_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

#endif

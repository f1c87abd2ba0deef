/* precision.h — the precision stage: the dtype each value of the optimized graph is stored as.
 *
 * mlgc --precision=f32 (the default) stores every value as its dtype. --precision=f16 stores
 * the weights (f32 params and consts) and every f32 intermediate as f16, halving the bundle's
 * weights and the arena; kernels still compute in f32: a load widens a half to float and a
 * store rounds to the nearest half (ties to even), so sums (GEMM, convolution, reductions) and
 * the statistics of softmax and layer_norm accumulate in f32 registers, and the values a fused
 * kernel computes inside never round at all. The model's interface keeps its declared dtypes:
 * inputs are read and outputs written as f32 by the first and last kernels themselves (no extra
 * conversion pass), so the same .npy files feed an f16 bundle. Integer and bool tensors, values
 * already f16, and consts holding a value beyond the range of f16 (65504 in magnitude: an
 * attention mask's -1e9) are stored as they are; so are the scales of the quantization ops
 * (where each rounding to an integer falls depends on them) and the result of max, min and
 * max_pool2d of a value stored as f32 (a gradient compares it with that value: precision.c).
 *
 * The graph is not changed (its types stay the model's); lowering reads the decision and gives
 * each kernel buffer the storage type of the tensor bound to it (kir_kernel_with_storage), and
 * records what it built in mlg_lowered.stored (a view shares the bytes of the tensor it views,
 * so it is stored as that tensor is); the plan sizes tensors by it and the bundle records it
 * (docs/language.md, "Precision").
 * Thread safety: reentrant. */
#ifndef MLG_PRECISION_H
#define MLG_PRECISION_H

#include "diag.h"
#include "graph.h"

typedef enum mlg_precision {
  MLG_PRECISION_F32 = 0, /* every value as its dtype */
  MLG_PRECISION_F16 = 1  /* f32 weights and intermediates as f16 */
} mlg_precision;

/* "f32" or "f16" into *out: 0, or -1 for any other text. */
int         mlg_precision_parse(const char *text, mlg_precision *out);
const char *mlg_precision_name(mlg_precision precision);

/* The dtype each node of g is stored as, in *out_stored (g->n_nodes entries, malloc'd: free
 * it). A model with a train step is refused at f16 (mixed-precision training, with its loss
 * scaling and f32 master weights, is not implemented): the error says to compile it at f32.
 * Returns 0, or -1 after reporting to diag. */
int mlg_precision_storage(const mlg_graph *g, mlg_precision precision, mlg_diag *diag,
                          mlg_ir_dtype **out_stored);

#endif

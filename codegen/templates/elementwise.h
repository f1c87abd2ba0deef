/* elementwise.h — kernel template for N-ary elementwise ops with NumPy broadcasting, and the
 * scalar formulas of the elementwise ops (the `scalar` hooks of compiler/ops/ call these).
 *
 * The kernel: one work-item per output element on a 1-D grid, guarded `if (i >= n) return;`.
 * Each input is loaded once into a variable (v0, v1, ...) and the formula built by the
 * callback from those variables is stored to y[i]. Output dims of size 1 are dropped and
 * adjacent dims that every input treats alike (all broadcast or all present) are merged, so
 * index math is minimal: an input with the output's shape reads x[i]; one broadcast only along
 * leading dims reads x[i % inner]; a scalar reads x[0]; anything else gets the coordinates it
 * needs (integer div/mod by constants) times its own contiguous strides.
 *
 * Buffers, in order: x0 .. x{n-1} (read), y (write).
 * Launch: work-group size (local_size, 1, 1); groups = (max(1, ceil(n / local_size)), 1, 1).
 * Index arithmetic is 32-bit: every tensor must have fewer than 2^31 elements (else -1).
 * Thread safety: reentrant. */
#ifndef MLG_KT_ELEMENTWISE_H
#define MLG_KT_ELEMENTWISE_H

#include <stdint.h>

#include "../kir.h"

#ifndef KT_MAX_RANK
#define KT_MAX_RANK 8
#endif
#define KT_EW_MAX_INPUTS 8
#define KT_EW_LOCAL_SIZE 256

/* Builds the scalar result from the loaded input values in[0..n_inputs) (variables, so a
 * formula may use each more than once). Returns NULL on failure. */
typedef kir_expr *(*kt_scalar_fn)(kir_builder *b, kir_expr **in, const void *user);

typedef struct kt_ew_input {
  int rank;                       /* <= the output rank; dims align from the right (NumPy) */
  int64_t shape[KT_MAX_RANK];     /* each dim equals the output's aligned dim, or is 1 */
  kir_scalar dtype;               /* as stored (any kir scalar); loaded as its compute type */
} kt_ew_input;

typedef struct kt_elementwise_desc {
  int rank;                       /* output rank, 0..KT_MAX_RANK */
  int64_t shape[KT_MAX_RANK];     /* output dims, each >= 1 */
  kir_scalar out_dtype;           /* as stored; the formula is cast to its compute type if it
                                     differs */
  int n_inputs;                   /* 1..KT_EW_MAX_INPUTS */
  kt_ew_input inputs[KT_EW_MAX_INPUTS];
  kt_scalar_fn scalar;
  const void *user;               /* passed to scalar */
  int local_size;                 /* 0 = KT_EW_LOCAL_SIZE */
} kt_elementwise_desc;

/* Builds the kernel. Returns 0, or -1 on an invalid descriptor (shapes that do not broadcast,
 * a tensor of 2^31 elements or more), a NULL formula, or allocation failure. */
int kt_elementwise(kir_module *m, const char *name, const kt_elementwise_desc *d,
                   kir_kernel **out_kernel, int64_t out_groups[3]);

/* Fused elementwise kernel (compiler/fuse.h): one work-item per element of an n-element output,
 * guarded `if (i >= n) return;`; `body` builds the value of element i (the I32 variable `index`)
 * and declares the buffers it loads (kir_buffer_param) — those come first, in its order, then
 * the output y (write, out_dtype; the value is cast if its type differs). Launch as above.
 * Returns 0, or -1 for n outside [1, 2^31), a NULL body or result, or allocation failure. */
typedef kir_expr *(*kt_ew_body_fn)(kir_builder *b, kir_expr *index, void *user);

int kt_elementwise_body(kir_module *m, const char *name, int64_t n, kir_scalar out_dtype,
                        kt_ew_body_fn body, void *user, int local_size, kir_kernel **out_kernel,
                        int64_t out_groups[3]);

/* Like kt_elementwise_body, but each work-item computes `width` consecutive elements when n is a
 * multiple of width (else width 1: the kernel is kt_elementwise_body's). width is 1, 2 or 4.
 * Work-item i covers elements base = width*i .. base+width-1 (`base` an I32 variable); `lane`
 * is called once per lane l, in order, with `index` the I32 variable base + l, and builds that
 * element's scalar value (it may load `width` consecutive elements at base with kir_load_vec
 * and pick lanes with kir_component). All lanes are computed before any is stored, so an input
 * read only at the elements its work-item writes may share the output's bytes.
 * Launch: groups = (max(1, ceil(n / width / local_size)), 1, 1). */
typedef kir_expr *(*kt_ew_lane_fn)(kir_builder *b, kir_expr *index, kir_expr *base, int lane,
                                   int width, void *user);

int kt_elementwise_body_lanes(kir_module *m, const char *name, int64_t n, kir_scalar out_dtype,
                              int width, kt_ew_lane_fn lane, void *user, int local_size,
                              kir_kernel **out_kernel, int64_t out_groups[3]);

/* Like kt_elementwise_body, but each work-item computes `width` (2, 4, 8 or 16; n a multiple of
 * it) consecutive f32 elements as one vector: `body` gets base = width·i (an I32 variable) and
 * builds the value of elements base .. base + width − 1 as a vector of `width` (loading its
 * inputs with kir_load_vec at base), stored with one vector store. For a CPU (PoCL), whose own
 * vectorizer uses 8 lanes on AVX-512. Returns 0, or -1 (a body that is no such vector
 * included). Launch: groups = (ceil(n / width / local_size), 1, 1). */
int kt_elementwise_body_vec(kir_module *m, const char *name, int64_t n, int width, kt_ew_body_fn body,
                            void *user, int local_size, kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- scalar formulas (float operands, scalars or vectors alike; NULL in → NULL out).
 * Arguments that a formula uses more than once (gelu, silu, leaky_relu, relu, sign) are
 * duplicated in the tree: pass variables. erf (and gelu through it) is, in a module with
 * kir_module_set_ir_math (CPU-class bundles), fastmath.h's branch-free form, which declares
 * variables in the builder's current block: PoCL's library erf stays a scalar call even where it
 * vectorizes exp and tanh. Elsewhere it is the dialect's erf. ---- */
kir_expr *kt_sf_neg(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_abs(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_exp(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_log(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_sqrt(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_rsqrt(kir_builder *b, kir_expr *x);
/* x < 0 ? 0 : x (NaN passes through, like PyTorch). */
kir_expr *kt_sf_relu(kir_builder *b, kir_expr *x);
/* 1 / (1 + exp(-x)); saturates cleanly to 0 and 1. */
kir_expr *kt_sf_sigmoid(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_tanh(kir_builder *b, kir_expr *x);
/* Exact GELU (PyTorch's default): 0.5 * x * (1 + erf(x / sqrt(2))). */
kir_expr *kt_sf_gelu(kir_builder *b, kir_expr *x);
/* Tanh approximation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))). */
kir_expr *kt_sf_gelu_tanh(kir_builder *b, kir_expr *x);
/* x / (1 + exp(-x)). */
kir_expr *kt_sf_silu(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_erf(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_sin(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_cos(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_tan(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_floor(kir_builder *b, kir_expr *x);
kir_expr *kt_sf_ceil(kir_builder *b, kir_expr *x);
/* Nearest integer, halves to even (torch.round, numpy.round). */
kir_expr *kt_sf_round(kir_builder *b, kir_expr *x);
/* 1, -1, or x itself for ±0 and NaN (torch.sign). */
kir_expr *kt_sf_sign(kir_builder *b, kir_expr *x);
/* 1 / x. */
kir_expr *kt_sf_reciprocal(kir_builder *b, kir_expr *x);
/* x < 0 ? alpha * x : x. */
kir_expr *kt_sf_leaky_relu(kir_builder *b, kir_expr *x, double alpha);
/* min(max(x, lo), hi) (fmin/fmax: a NaN x gives lo). */
kir_expr *kt_sf_clamp(kir_builder *b, kir_expr *x, double lo, double hi);
/* x == 0 ? v : x > 0 ? 1 : 0 (torch.heaviside: 0 for a NaN x). */
kir_expr *kt_sf_heaviside(kir_builder *b, kir_expr *x, kir_expr *v);
kir_expr *kt_sf_add(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kt_sf_sub(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kt_sf_mul(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kt_sf_div(kir_builder *b, kir_expr *x, kir_expr *y);
/* pow(x, y) (C semantics: a negative x with an integral y is fine). */
kir_expr *kt_sf_pow(kir_builder *b, kir_expr *x, kir_expr *y);
/* C's fmod: x - y·trunc(x / y), exact; the sign of x. */
kir_expr *kt_sf_fmod(kir_builder *b, kir_expr *x, kir_expr *y);
/* fmax / fmin: a NaN operand yields the other operand (OpenCL/C semantics). */
kir_expr *kt_sf_maximum(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kt_sf_minimum(kir_builder *b, kir_expr *x, kir_expr *y);

#endif

/* weights.h — the bytes of the weights region (and of the params region a train step updates):
 * each param from a .safetensors file (by name) or from its initializer, each const from its
 * data, placed where the plan says.
 *
 * Initializers are deterministic across machines: a splitmix64 stream seeded by `seed` gives
 * uniform doubles (top 53 bits); normal values use the Box–Muller transform on pairs.
 * Thread safety: reentrant. */
#ifndef MLG_WEIGHTS_H
#define MLG_WEIGHTS_H

#include <stdint.h>

#include "diag.h"
#include "graph.h"
#include "plan.h"
#include "../runtime/bundle.h"
#include "../runtime/tensor_file.h"

/* Fills `n` floats from an initializer (ZEROS, ONES, NORMAL, UNIFORM; DATA is copied by the
 * callers from the node's data). */
void mlg_init_fill(const mlg_init *init, float *out, int64_t n);

/* The .safetensors file params come from, read once on first use and shared by every call that
 * needs it (param values for the passes, then the bundle's weights region). */
typedef struct mlg_weights_file {
  const char *path;       /* NULL: initializers only */
  int state;              /* 0 not read yet, 1 read, -1 unreadable (already reported) */
  mlg_safetensors tensors;
} mlg_weights_file;

void mlg_weights_file_init(mlg_weights_file *file, const char *path);
void mlg_weights_file_close(mlg_weights_file *file);

/* What the compiler materializes of a model's weights at most, unless told otherwise
 * (mlg_compile_options.max_weight_bytes, mlgc --max-weight-bytes). */
#define MLG_DEFAULT_MAX_WEIGHT_BYTES ((uint64_t)4 << 30)

/* Checks the bytes of the weights the bundle will embed — the consts, and with `params` the
 * params — against `budget`, before any is read or generated: a 40000 x 40000 param took 3.2 GB
 * and minutes before. Reports the total, the budget and the largest tensor, and what to do.
 * 0, or -1 after reporting. */
int mlg_weights_check_budget(const mlg_graph *graph, int params, uint64_t budget, mlg_diag *diag);

/* Builds the images of the weights and params regions (out_images[r]: plan->region_size[r]
 * bytes; NULL for the other regions; free with mlg_weights_images_free): every const from its
 * data, and with `params` every param from `file` (path NULL: initializers only); without,
 * params are left zero (a bundle built with --no-weights binds them at load). Each is stored
 * as stored[node] (lower.h mlg_lowered.stored; NULL: its own dtype), rounded as a kernel's
 * store rounds (an f32 weight of an f16 bundle to the nearest half). A param with
 * neither a tensor in the file nor an initializer, or
 * a file tensor whose dtype/shape differs from the param's, is reported to diag (naming the
 * param and both shapes). Returns 0, or -1 after reporting. */
int  mlg_weights_build(const mlg_graph *graph, const mlg_plan *plan, const mlg_ir_dtype *stored,
                       mlg_weights_file *file, int params, mlg_diag *diag,
                       uint8_t *out_images[MLGB_N_REGIONS]);
void mlg_weights_images_free(uint8_t *images[MLGB_N_REGIONS]);

/* Warns, naming them, about the tensors of `file` (path NULL: none) that match no param of
 * `graph` (the checked graph, before the passes fold any param away), each with the unbound
 * param its name is closest to; PyTorch's BatchNorm step counters (`*.num_batches_tracked`) are
 * skipped. Returns 0, or -1 after reporting an unreadable file. */
int mlg_weights_check_names(const mlg_graph *graph, mlg_weights_file *file, mlg_diag *diag);

/* Loads the values of the f32 params marked in wanted[0..n_nodes) (NULL: every param) for
 * compile-time use (batch_norm folding): *out_values gets n_nodes entries, each NULL or a
 * malloc'd array of the param's numel floats, from the file or the initializer exactly as
 * mlg_weights_build would place them. A param with no usable source is left NULL without a
 * diagnostic (mlg_weights_build reports it if the bundle needs it). *out_values stays NULL when
 * nothing is wanted (the file is then not read). Returns 0, or -1 after reporting an unreadable
 * file or running out of memory. Free with mlg_weights_values_free. */
int  mlg_weights_param_values(const mlg_graph *graph, mlg_weights_file *file, const char *wanted,
                              mlg_diag *diag, float ***out_values);
void mlg_weights_values_free(float **values, int n);

#endif

/* mlgc.h — the mlg compiler as a library (libmlgc): a .mlg model to the bytes of a bundle
 * (.mlgb), with mlgc's options, or for one device the way mlgrun compiles a .mlg. What the
 * Python package calls; a C program can too (link libmlgc and libmlgrt).
 *
 * Ownership: a bundle returned by mlgc_compile_* is the caller's, released with mlgc_free.
 * Errors: every fallible call returns mlg_status (mlg.h); the compiler's diagnostics, as mlgc
 * prints them (path:line:col: error: ..., the source line, a caret), are then in mlgc_log().
 * Status codes: MLG_ERR_INVALID_ARGUMENT (a NULL pointer, a bad option), MLG_ERR_IO (the source
 * cannot be read), MLG_ERR_FORMAT (the model, or the weights it reads, has errors),
 * MLG_ERR_OUT_OF_MEMORY. Nothing exits or aborts the process.
 * Thread safety: reentrant; the log is per thread. */
#ifndef MLGC_H
#define MLGC_H

#include <stddef.h>
#include <stdint.h>

#include "mlg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlgc_dim {
  const char *name;          /* a `dim` of the model ("N") */
  int64_t value;             /* at least 1 */
} mlgc_dim;

typedef struct mlgc_options {
  const char *target;        /* "opencl" (also NULL) or "vulkan" */
  int n_dims;                /* mlgc -D NAME=VALUE */
  const mlgc_dim *dims;
  const char *weights_path;  /* params from this .safetensors file (by name); NULL: initializers */
  int no_weights;            /* leave the weights out (bound at load: mlg_load_options) */
  int opt_level;             /* 0, 1 or 2 (mlgc -O); mlgc_options_init sets 2 */
  const char *device_hint;   /* "cpu", "gpu" or NULL (unknown): GEMM/conv tiles for that class */
  int subgroups;             /* Vulkan reductions through subgroup operations: -1 (the default
                                of mlgc_options_init) on for vulkan, 0 off, 1 on */
  const char *tuning_path;   /* GEMM tiles from a tuning cache file (mlgc --tuning); NULL: none */
  int no_memory_reuse;       /* debug: no arena sharing (mlgc --no-memory-reuse) */
  /* Compile for this device (mlg_list_devices, mlg_runtime_device) as mlgrun does: its
   * backend's target, tiles for its class and local memory, subgroup reductions when it has
   * them, and its GEMM tuning table (tools/tune: from the cache; a GPU without one is searched
   * once and cached). target, device_hint, subgroups and tuning_path are then ignored. */
  const mlg_device_info *device;
  int tune;                  /* with device: 0 as above, 1 search again (mlgrun --tune),
                                -1 the built-in tiles (mlgrun --no-tune) */
  const char *precision;     /* "f32" (also NULL) or "f16": f32 weights and intermediates
                                stored as f16, computed in f32 (mlgc --precision) */
  int no_winograd;           /* CPU: 3×3 convolutions without Winograd's transformed weights,
                                which take up to 4× the weight's bytes (mlgc --no-winograd) */
} mlgc_options;

/* mlgc's defaults: OpenCL, -O2, initializers, subgroups on for vulkan. */
MLG_API void        mlgc_options_init(mlgc_options *options);
/* Compiles the file at `path` (options NULL: the defaults) into *out_bundle (*out_size bytes):
 * mlg text, or an ONNX model when the path ends in .onnx (docs/onnx.md). */
MLG_API mlg_status  mlgc_compile_file(const char *path, const mlgc_options *options,
                                      void **out_bundle, size_t *out_size);
/* The same from `length` bytes of source text; `name` is the path diagnostics show. */
MLG_API mlg_status  mlgc_compile_source(const char *name, const char *text, size_t length,
                                        const mlgc_options *options, void **out_bundle,
                                        size_t *out_size);
MLG_API void        mlgc_free(void *bundle);
/* The diagnostics of this thread's last mlgc_compile_* call: its errors when it failed, its
 * warnings (often "") when it succeeded. Valid until the thread's next call. */
MLG_API const char *mlgc_log(void);

#ifdef __cplusplus
}
#endif
#endif

/* mlg.h — the mlg runtime: load a compiled bundle (.mlgb) and run it on an OpenCL or Vulkan device,
 * or train it, when it was compiled from a model with a `train` statement.
 *
 *   mlg_runtime   a device and its context/queue, program cache settings.   Thread-safe.
 *   mlg_model     a bundle loaded on a runtime: weights uploaded, programs built once.
 *                 Immutable after load; thread-safe.
 *   mlg_session   one execution context of a model: its arena, its I/O buffers, kernels with
 *                 arguments set once, and (a trainable model) its own copy of the params it
 *                 trains and of the optimizer's state. Thread-compatible: one thread at a time;
 *                 use one session per thread to run a model concurrently.
 *
 * Ownership: what *_create / *_load returns, the caller owns and releases with the matching
 * *_destroy. Every fallible call returns mlg_status; on failure mlg_last_error() gives a message
 * naming the tensor, kernel or device involved. No call exits or aborts the process. */
#ifndef MLG_H
#define MLG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLG_API __attribute__((visibility("default")))
#define MLG_MAX_DIMS 8

/* The version this header belongs to; mlg_version() gives the library's at run time. The one
 * place the version is written (CMake, the tools and the bundles' producer read it here). */
#define MLG_VERSION_MAJOR 0
#define MLG_VERSION_MINOR 1
#define MLG_VERSION_PATCH 0

typedef enum mlg_status {
  MLG_OK = 0,
  MLG_ERR_INVALID_ARGUMENT,  /* NULL handle, unknown tensor name, wrong byte count, bad option */
  MLG_ERR_IO,                /* a file could not be read or written */
  MLG_ERR_FORMAT,            /* a malformed bundle, .npy or .safetensors file */
  MLG_ERR_MISMATCH,          /* a weight or input whose dtype or shape differs from the model's */
  MLG_ERR_NOT_FOUND,         /* a weight the bundle needs is missing */
  MLG_ERR_NO_DEVICE,         /* no platform/device, or none matching the requested spec */
  MLG_ERR_UNSUPPORTED,       /* bundle target or feature this runtime/device lacks */
  MLG_ERR_BUILD,             /* a kernel failed to compile on the device (log in the message) */
  MLG_ERR_DEVICE,            /* the device or driver failed during a call */
  MLG_ERR_OUT_OF_MEMORY      /* host or device allocation failed */
} mlg_status;

/* Element types, as a caller passes and receives them: f32 float, i32 int32_t, bool one byte
 * (0 or 1; any nonzero byte reads as 1), i64 int64_t, f16 IEEE binary16 bits (uint16_t), i8
 * int8_t, u8 uint8_t. Devices compute i64 as i32: mlg_session_set_input refuses an i64 value
 * beyond 32 bits (naming the element), and outputs come back widened. f16 is stored as half
 * and computed in float. */
typedef enum mlg_dtype {
  MLG_DTYPE_F32 = 0, MLG_DTYPE_I32 = 1, MLG_DTYPE_BOOL = 2, MLG_DTYPE_I64 = 3, MLG_DTYPE_F16 = 4,
  MLG_DTYPE_I8 = 5, MLG_DTYPE_U8 = 6
} mlg_dtype;

/* A model's programs (bits): every model runs forward (mlg_session_run); one compiled from a
 * model with a `train` statement also has a train step (mlg_session_train_step). */
typedef enum mlg_program { MLG_PROGRAM_RUN = 1, MLG_PROGRAM_TRAIN = 2 } mlg_program;

typedef struct mlg_runtime mlg_runtime;
typedef struct mlg_model mlg_model;
typedef struct mlg_session mlg_session;

typedef struct mlg_device_info {
  char spec[32];             /* how to ask for it: "opencl:0", "vulkan:1" */
  char backend[16];          /* "opencl" or "vulkan" */
  char name[256];            /* "NVIDIA H100 80GB HBM3", "pthread-skylake-avx512-AMD EPYC" */
  char platform[128];        /* "NVIDIA CUDA", "Portable Computing Language" */
  char driver[128];          /* driver version */
  int is_gpu;
  int compute_units;
  uint64_t global_mem_bytes;
  uint64_t local_mem_bytes;
  int max_clock_mhz;         /* the clock the driver reports (NVIDIA: boost); 0 if unknown */
  /* Peak FP32 rate (FMA counted as 2 FLOPs) from the device's units and clock, and how it was
   * computed ("132 SMs x 128 lanes x 2 x 1980 MHz"); 0 and "" where the backend cannot tell.
   * An estimate for reports, never used to make decisions. docs/performance.md has the rules. */
  double peak_gflops;
  char peak_formula[128];
  /* Vulkan: the subgroup size the device reports, and 1 if compute shaders have subgroup
   * basic and arithmetic operations (what bundles compiled with subgroups need); 0 and 0 on
   * OpenCL, where mlg never uses them. */
  int subgroup_size;
  int subgroup_arithmetic;
} mlg_device_info;

typedef struct mlg_tensor_info {
  const char *name;          /* valid while the model lives */
  mlg_dtype dtype;
  int rank;
  int64_t dims[MLG_MAX_DIMS];
  size_t bytes;              /* what set_input / get_output take: elements × the dtype's size */
  /* Inputs: the programs that read it (mlg_program bits); outputs: MLG_PROGRAM_RUN; params:
   * MLG_PROGRAM_TRAIN when the train step updates it, else 0. */
  unsigned programs;
} mlg_tensor_info;

/* What a trainable model's train step does (mlg_model_train_info). */
typedef struct mlg_train_info {
  const char *loss;          /* the value a step returns (the `train LOSS` binding); valid while
                                the model lives */
  const char *optimizer;     /* as compiled, e.g. "sgd(lr=0.1, momentum=0.9)" */
  int n_trained;             /* params the step updates */
  uint64_t trained_bytes;    /* their bytes: each session has its own copy */
  uint64_t state_bytes;      /* the optimizer's state per session (momentum, Adam's moments) */
} mlg_train_info;

typedef struct mlg_runtime_options {
  /* "opencl:N", "vulkan:N", "opencl" or "vulkan" (device 0), "gpu", "cpu", or NULL:
   * $MLG_DEVICE, else the first GPU, else the widest CPU device. */
  const char *device;
  /* Program-binary cache folder. NULL: $MLG_CACHE_DIR, else $XDG_CACHE_HOME/mlg, else
   * ~/.cache/mlg. "" disables the cache. */
  const char *cache_dir;
  /* Nonzero: collect per-dispatch device times (mlg_session_profile). */
  int enable_profiling;
} mlg_runtime_options;

/* One dispatch of a session's last run, as mlg_session_profile reports it. */
typedef struct mlg_dispatch_profile {
  const char *name;          /* what the dispatch computes: the value it stores ("h3", "probs");
                                valid while the model lives */
  const char *kernel;        /* the kernel it runs ("k_linear_relu"); several dispatches may run
                                the same kernel; valid while the model lives */
  int kernel_index;          /* index in the bundle's kernel table */
  int dispatch_index;        /* index in the bundle's dispatch list */
  uint64_t device_ns;        /* end - start of the dispatch on the device */
  /* Sum of the sizes of the tensors the kernel binds (its reads and its write), each counted
   * once: the traffic of a kernel that touches every bound element once. */
  uint64_t bytes;
} mlg_dispatch_profile;

typedef struct mlg_load_options {
  /* A .safetensors file whose tensors bind (or replace) the bundle's params, by name. Required
   * for bundles built with --no-weights. NULL: use the bundle's weights. */
  const char *weights_path;
  /* Optional: called on the loading thread while the model's kernels are built (each distinct
   * kernel once, several at a time), each time more of them are ready: `done` of `total`. A
   * tool can show progress with it (mlgrun does for loads longer than a second). */
  void (*progress)(void *user, int done, int total);
  void *progress_user;
} mlg_load_options;

/* ---- version ---- */
/* "MAJOR.MINOR.PATCH" of the library that is loaded (which may be newer than this header). */
MLG_API const char *mlg_version(void);

/* ---- status ---- */
MLG_API const char *mlg_status_string(mlg_status status);
/* The message of the last failed call on this thread ("" if none). */
MLG_API const char *mlg_last_error(void);

/* ---- devices ---- */
/* Fills up to `capacity` entries and sets *out_count to the number of devices found (which may
 * exceed capacity). No devices is MLG_OK with count 0; no OpenCL loader/platform is also 0. */
MLG_API mlg_status mlg_list_devices(mlg_device_info *out_devices, int capacity, int *out_count);

/* ---- runtime ---- */
MLG_API mlg_status mlg_runtime_create(const mlg_runtime_options *options, mlg_runtime **out_runtime);
MLG_API void       mlg_runtime_destroy(mlg_runtime *runtime);
MLG_API const mlg_device_info *mlg_runtime_device(const mlg_runtime *runtime);

/* ---- model ---- */
MLG_API mlg_status mlg_model_load_file(mlg_runtime *runtime, const char *path,
                                       const mlg_load_options *options, mlg_model **out_model);
MLG_API mlg_status mlg_model_load_memory(mlg_runtime *runtime, const void *data, size_t size,
                                         const mlg_load_options *options, mlg_model **out_model);
MLG_API void       mlg_model_destroy(mlg_model *model);
MLG_API const char *mlg_model_name(const mlg_model *model);
/* Inputs and outputs are numbered 0..count-1 in the order the model declares them (its `input`
 * and `output` statements); an index out of range is MLG_ERR_INVALID_ARGUMENT. */
MLG_API int        mlg_model_input_count(const mlg_model *model);
MLG_API int        mlg_model_output_count(const mlg_model *model);
MLG_API mlg_status mlg_model_input_info(const mlg_model *model, int index, mlg_tensor_info *out_info);
MLG_API mlg_status mlg_model_output_info(const mlg_model *model, int index, mlg_tensor_info *out_info);
/* The model's params (its `param`s the bundle binds, trained or not; batch_norm folding may
 * have turned some into constants), numbered 0..count-1 in table order. */
MLG_API int        mlg_model_param_count(const mlg_model *model);
MLG_API mlg_status mlg_model_param_info(const mlg_model *model, int index, mlg_tensor_info *out_info);
/* A trainable model's train step; MLG_ERR_UNSUPPORTED for a bundle compiled without a `train`
 * statement. */
MLG_API mlg_status mlg_model_train_info(const mlg_model *model, mlg_train_info *out_info);

/* ---- session ---- */
MLG_API mlg_status mlg_session_create(mlg_model *model, mlg_session **out_session);
MLG_API void       mlg_session_destroy(mlg_session *session);
/* Copies `bytes` (must equal the input's size, mlg_tensor_info.bytes) into the session's
 * staging memory; an i64 input whose value does not fit in 32 bits is MLG_ERR_INVALID_ARGUMENT
 * and leaves the input unset. */
MLG_API mlg_status mlg_session_set_input(mlg_session *session, const char *name,
                                         const void *data, size_t bytes);
/* Copies inputs to the device, runs every dispatch, copies outputs back; waits. Allocates
 * nothing. Inputs never set since the session was created are an error naming them. */
MLG_API mlg_status mlg_session_run(mlg_session *session);
/* Copies an output of the last run into `data` (`bytes` must equal its size). */
MLG_API mlg_status mlg_session_get_output(mlg_session *session, const char *name,
                                          void *data, size_t bytes);

/* ---- training (models compiled from a `train` statement; others: MLG_ERR_UNSUPPORTED) ---- */
/* One step on the inputs set (the batch): forward, backward and the optimizer's update of the
 * session's params and state, in one replay; *out_loss (may be NULL) gets the loss the step's
 * forward computed, before the update. Inputs the step reads that were never set are an error
 * naming them. Allocates nothing. Runs (mlg_session_run) use the params as trained so far. */
MLG_API mlg_status mlg_session_train_step(mlg_session *session, float *out_loss);
/* Copies param `name`'s current value (the session's, as trained) into / from `data`
 * (`bytes` must equal its size). Setting a param the train step does not update (frozen, or
 * outside the loss) is an error: those are the model's, shared by its sessions. */
MLG_API mlg_status mlg_session_get_param(mlg_session *session, const char *name, void *data,
                                         size_t bytes);
MLG_API mlg_status mlg_session_set_param(mlg_session *session, const char *name,
                                         const void *data, size_t bytes);
/* Writes every param (mlg_model_param_info's) with its current value to a .safetensors file
 * at `path` (replaced atomically), named as in the model, loadable with mlg_load_options
 * weights_path and with PyTorch's load_state_dict. */
MLG_API mlg_status mlg_session_save_weights(mlg_session *session, const char *path);
/* Device times of the last successful run or train step, one entry per dispatch in bundle
 * order (0 for the other program's dispatches): fills up to
 * `capacity` entries and sets *out_count to the number of dispatches (which may exceed
 * capacity). Before the first run, those of the session's preparation (the dispatches that pack
 * weights, run once by mlg_session_create), when the bundle has one. The runtime must have been
 * created with enable_profiling (else MLG_ERR_UNSUPPORTED, as for a backend that cannot time
 * dispatches); a session that has run nothing successfully is MLG_ERR_INVALID_ARGUMENT. Their
 * sum is the run's device time. */
MLG_API mlg_status mlg_session_profile(mlg_session *session, mlg_dispatch_profile *out_profiles,
                                       int capacity, int *out_count);

#ifdef __cplusplus
}
#endif
#endif

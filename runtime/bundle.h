/* bundle.h — the .mlgb bundle: its in-memory form, the reader that validates every byte of a
 * file before use, and the writer. The on-disk layout is documented in docs/bundle.md.
 *
 * Shared by the compiler (which fills a mlgb_bundle and writes it) and the runtime (which
 * reads one). Depends on nothing but libc.
 * Thread safety: a mlgb_bundle is immutable once read; functions are reentrant. */
#ifndef MLG_BUNDLE_H
#define MLG_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define MLGB_MAGIC "MLGB"
#define MLGB_VERSION 4
#define MLGB_MAX_RANK 8

typedef enum mlgb_target { MLGB_TARGET_OPENCL = 1, MLGB_TARGET_VULKAN = 2 } mlgb_target;
/* Numbered as dtype.h (MLG_DT_*), which gives each one's storage size; an i64 is stored as
 * i32 (4 bytes). */
typedef enum mlgb_dtype {
  MLGB_F32 = 0, MLGB_I32 = 1, MLGB_BOOL = 2, MLGB_I64 = 3, MLGB_F16 = 4, MLGB_I8 = 5, MLGB_U8 = 6
} mlgb_dtype;
typedef enum mlgb_role {
  MLGB_ROLE_INPUT = 0, MLGB_ROLE_OUTPUT = 1, MLGB_ROLE_PARAM = 2, MLGB_ROLE_CONST = 3,
  MLGB_ROLE_INTERMEDIATE = 4
} mlgb_role;
/* Three regions, as in Glow's bundles: weights (read-only, uploaded once), inputs/outputs,
 * activations (the arena). Offsets are bytes from the region's start. */
typedef enum mlgb_region { MLGB_REGION_WEIGHTS = 0, MLGB_REGION_IO = 1, MLGB_REGION_ARENA = 2 } mlgb_region;
#define MLGB_N_REGIONS 3
/* What the device must support beyond the target's baseline (required_features bits). */
typedef enum mlgb_feature {
  /* Vulkan: subgroup basic + arithmetic operations in compute shaders (Vulkan 1.1
   * VkPhysicalDeviceSubgroupProperties); never set for OpenCL. */
  MLGB_FEATURE_SUBGROUP_ARITH = 1
} mlgb_feature;
#define MLGB_KNOWN_FEATURES ((uint64_t)MLGB_FEATURE_SUBGROUP_ARITH)
typedef enum mlgb_module_kind { MLGB_MODULE_OPENCL_C = 1, MLGB_MODULE_SPIRV = 2 } mlgb_module_kind;

typedef struct mlgb_tensor {
  char *name;
  uint32_t dtype;            /* mlgb_dtype */
  uint32_t role;             /* mlgb_role */
  uint32_t region;           /* mlgb_region */
  uint32_t rank;
  int64_t dims[MLGB_MAX_RANK];
  uint64_t offset;           /* bytes into the region, aligned to the bundle's alignment */
  uint64_t size;             /* bytes = numel * the dtype's storage size (dtype.h) */
} mlgb_tensor;

typedef struct mlgb_module {
  uint32_t kind;             /* mlgb_module_kind */
  uint64_t size;
  uint8_t *data;             /* OpenCL C source (not NUL-terminated on disk) or SPIR-V words */
} mlgb_module;

/* A distinct kernel: code that one or more dispatches run, each with its own tensors. */
typedef struct mlgb_kernel {
  char *name;                /* OpenCL C: the entry point in its module; SPIR-V: the kernel's
                                name (the entry point is "main") */
  uint32_t module;
  uint32_t local_size[3];
  uint32_t n_params;         /* buffer parameters: each dispatch binds this many tensors */
} mlgb_kernel;

typedef struct mlgb_dispatch {
  char *name;                /* what it computes, for messages and profiles: the graph value it
                                stores ("h3", "%12:logits"); need not be unique */
  uint32_t kernel;
  uint32_t groups[3];        /* work-groups per dimension; global size = groups * local_size */
  uint32_t n_args;           /* = kernels[kernel].n_params */
  uint32_t *args;            /* tensor index for each buffer parameter, in parameter order */
  uint64_t flops;            /* the compiler's count of floating-point operations (0 for data
                                movement) */
  uint64_t bytes;            /* the compiler's count of bytes read and written; 0: no counts
                                (the producer counts nothing; flops is then unknown too) */
} mlgb_dispatch;

typedef struct mlgb_bundle {
  uint32_t target;           /* mlgb_target */
  uint64_t required_features; /* mlgb_feature bits the device must support */
  char *model_name;
  char *producer;            /* "mlgc 0.1.0" */
  uint32_t alignment;        /* bytes; every tensor offset is a multiple */
  uint64_t region_size[MLGB_N_REGIONS];
  uint32_t n_tensors;
  mlgb_tensor *tensors;
  uint32_t n_modules;
  mlgb_module *modules;
  uint32_t n_kernels;
  mlgb_kernel *kernels;
  uint32_t n_dispatches;
  mlgb_dispatch *dispatches;
  int has_params;            /* 0: built with --no-weights: params are bound at load */
  /* The embedded tensors' bytes, one after another in tensor-table order: every const, and
   * every param when has_params (as the weights section holds them; mlgb_weights_unpack places
   * them in the weights region). */
  uint64_t weights_size;
  uint8_t *weights;
} mlgb_bundle;

/* Parses and validates a bundle from memory (the bytes are copied; the caller may free them).
 * Checks magic, version, every count, offset and size against the file length, string and
 * index bounds, tensor placement inside its region, dispatch sizes and bindings. On failure returns -1
 * and writes a message ("bundle truncated: kernel table needs 320 bytes at offset 1184, file
 * has 1200") into err. */
int  mlgb_read(const void *data, size_t size, mlgb_bundle **out_bundle, char *err, size_t err_size);
/* Serializes a bundle. Returns 0, or -1 with err (allocation failure, inconsistent tables). */
int  mlgb_write(const mlgb_bundle *bundle, uint8_t **out_data, size_t *out_size, char *err, size_t err_size);
/* Frees a bundle returned by mlgb_read, or one the compiler assembled with malloc'd fields. */
void mlgb_free(mlgb_bundle *bundle);

/* Tensor t's offset in elements of its dtype's storage size: what kernels are given to address
 * it (OpenCL NAME_off, Vulkan pc.off[i]). A valid bundle's offsets divide evenly (its
 * alignment is at least 4). */
uint64_t mlgb_element_offset(const mlgb_tensor *t);

/* The weights section of a valid bundle against the weights region's image (region_size[WEIGHTS]
 * bytes): unpack writes each embedded tensor's bytes at its offset of `image` (other bytes
 * are left as they are); pack gathers them from `image` into `out` (mlgb_weights_size(b) bytes).
 * mlgb_weights_size: the section's size for b's tensor table and has_params. */
uint64_t mlgb_weights_size(const mlgb_bundle *bundle);
void     mlgb_weights_unpack(const mlgb_bundle *bundle, uint8_t *image);
void     mlgb_weights_pack(const mlgb_bundle *bundle, const uint8_t *image, uint8_t *out);

#endif

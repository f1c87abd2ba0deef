/* bundle.h — the .mlgb bundle: its in-memory form, the reader that validates every byte of a
 * file before use, and the writer. The on-disk layout is documented in docs/bundle.md.
 *
 * Shared by the compiler (which fills a mlgb_bundle and writes it) and the runtime (which
 * reads one). Depends on nothing but libc.
 * Thread safety: a mlgb_bundle is immutable once read (the runtime points dispatches at the
 * kernel variants it chose, once, before any other use: model.c); functions are reentrant. */
#ifndef MLG_BUNDLE_H
#define MLG_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define MLGB_MAGIC "MLGB"
#define MLGB_VERSION 7
#define MLGB_MAX_RANK 8

typedef enum mlgb_target { MLGB_TARGET_OPENCL = 1, MLGB_TARGET_VULKAN = 2 } mlgb_target;
/* Numbered as dtype.h (MLG_DT_*), which gives each one's storage size; an i64 is stored as
 * i32 (4 bytes). */
typedef enum mlgb_dtype {
  MLGB_F32 = 0, MLGB_I32 = 1, MLGB_BOOL = 2, MLGB_I64 = 3, MLGB_F16 = 4, MLGB_I8 = 5, MLGB_U8 = 6
} mlgb_dtype;
typedef enum mlgb_role {
  MLGB_ROLE_INPUT = 0, MLGB_ROLE_OUTPUT = 1, MLGB_ROLE_PARAM = 2, MLGB_ROLE_CONST = 3,
  MLGB_ROLE_INTERMEDIATE = 4,
  MLGB_ROLE_STATE = 5        /* an optimizer's state: zeros when a session starts */
} mlgb_role;
/* Regions, as in Glow's bundles: weights (read-only, uploaded once), inputs/outputs,
 * activations (the arena); a bundle with a train step adds the params it trains (read-write,
 * one copy per session) and the optimizer's state (read-write, per session, zeros at first).
 * Offsets are bytes from the region's start. */
typedef enum mlgb_region {
  MLGB_REGION_WEIGHTS = 0, MLGB_REGION_IO = 1, MLGB_REGION_ARENA = 2, MLGB_REGION_PARAMS = 3,
  MLGB_REGION_STATE = 4
} mlgb_region;
#define MLGB_N_REGIONS 5
/* The programs of a bundle (mlgb_dispatch.programs bits): every bundle runs forward (RUN); one
 * compiled from a model with a `train` statement also has a train step (TRAIN). PREPARE holds
 * the dispatches that compute from the weights region alone (a weight's transpose or packed
 * layout, plan.h): a session runs it once, when it is created, and its results stay in the
 * session's arena for every run and step after. A dispatch of PREPARE belongs to no other. */
typedef enum mlgb_program {
  MLGB_PROGRAM_RUN = 1, MLGB_PROGRAM_TRAIN = 2, MLGB_PROGRAM_PREPARE = 4
} mlgb_program;
/* What the device must support beyond the target's baseline (required_features bits). */
typedef enum mlgb_feature {
  /* Vulkan: subgroup basic + arithmetic operations in compute shaders (Vulkan 1.1
   * VkPhysicalDeviceSubgroupProperties); never set for OpenCL. */
  MLGB_FEATURE_SUBGROUP_ARITH = 1
} mlgb_feature;
#define MLGB_KNOWN_FEATURES ((uint64_t)MLGB_FEATURE_SUBGROUP_ARITH)
/* Optional device features a kernel variant may use (mlgb_kernel.requires bits). A kernel that
 * needs one names a fallback kernel without it; at load the runtime asks the device what it
 * offers (less what MLG_DISABLE_FEATURES turns off, docs/runtime.md) and each dispatch runs the
 * first kernel of its chain whose requirements the device meets (mlgb_choose_kernel). New
 * features (tensor-core / cooperative-matrix GEMM) take the next bits, a name in
 * mlgb_device_feature_name, and a query in each backend. */
typedef enum mlgb_device_feature {
  /* the packed 4×8-bit integer dot product: OpenCL cl_khr_integer_dot_product with
   * CL_DEVICE_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_PACKED_KHR; Vulkan
   * VkPhysicalDeviceShaderIntegerDotProductFeatures.shaderIntegerDotProduct */
  MLGB_DEVICE_INT_DOT = 1,
  /* tensor cores through inline PTX mma.sync (OpenCL): an NVIDIA device of compute capability
   * 8.0 or later (cl_nv_device_attribute_query) */
  MLGB_DEVICE_PTX_MMA = 2,
  /* VK_NV_cooperative_matrix listing 16×16×16 f16 A/B with f32 C/D at subgroup scope, with
   * subgroups of 32 and shaderFloat16 (Vulkan): extension and features enabled at device
   * creation only then */
  MLGB_DEVICE_COOPMAT_NV = 4,
  /* Hopper's warpgroup products through inline PTX retargeted to sm_90a (OpenCL): an NVIDIA
   * device of compute capability 9.0 exactly (sm_90a code runs on nothing else) */
  MLGB_DEVICE_PTX_WGMMA = 8
} mlgb_device_feature;
#define MLGB_KNOWN_DEVICE_FEATURES \
  ((uint32_t)(MLGB_DEVICE_INT_DOT | MLGB_DEVICE_PTX_MMA | MLGB_DEVICE_COOPMAT_NV | MLGB_DEVICE_PTX_WGMMA))
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
  uint32_t requires;         /* mlgb_device_feature bits the kernel uses (0: runs anywhere) */
  uint32_t fallback;         /* 1 + the index of the kernel to run on a device lacking one of
                                `requires` (same parameters and work-groups; its own local size; strictly fewer
                                requirements); 0: none */
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
  uint32_t programs;         /* mlgb_program bits: the programs that run it (in list order) */
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
  /* A train step (has_train): the tensor its loss is written to (an f32 scalar in the io
   * region) and the optimizer as compiled ("adam(lr=0.001, ...)"). */
  int has_train;
  uint32_t train_loss;
  char *optimizer;
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
/* Writes the checksum of a whole bundle file's bytes into its header (files of at least the
 * header's size): for tools and tests that edit a bundle in place, e.g. the fuzzers, whose
 * mutations must get past the checksum to reach the checks behind it. */
void mlgb_seal(uint8_t *data, size_t size);
/* Frees a bundle returned by mlgb_read, or one the compiler assembled with malloc'd fields. */
void mlgb_free(mlgb_bundle *bundle);

/* The kernel dispatches of kernel k run on a device offering `device_features`
 * (mlgb_device_feature bits): k, or the first of its fallback chain whose requirements the
 * device meets; MLGB_NO_FALLBACK when none does. `b` must be valid (mlgb_read). */
uint32_t    mlgb_choose_kernel(const mlgb_bundle *b, uint32_t k, uint32_t device_features);
/* The names of the bits of `features` ("intdot", comma-separated) into buf; returns buf. */
const char *mlgb_device_feature_names(uint32_t features, char *buf, size_t size);
/* One device feature bit by name ("intdot"), or 0 when the name is unknown. */
uint32_t    mlgb_device_feature_by_name(const char *name, size_t len);
/* Whether some dispatch runs kernel k / a kernel of module `module` (a variant the loader did
 * not choose runs nowhere: backends build only what runs). O(n_dispatches). */
int         mlgb_kernel_used(const mlgb_bundle *b, uint32_t k);
int         mlgb_module_used(const mlgb_bundle *b, uint32_t module);
/* Whether some dispatch belongs to `program` (an mlgb_program bit): a bundle's preparation is
 * there only when it has a dispatch. O(n_dispatches). */
int         mlgb_program_used(const mlgb_bundle *b, uint32_t program);

/* Tensor t's offset in elements of its dtype's storage size: what kernels are given to address
 * it (OpenCL NAME_off, Vulkan pc.off[i]). A valid bundle's offsets divide evenly (its
 * alignment is at least 4). */
uint64_t mlgb_element_offset(const mlgb_tensor *t);

/* The weights section of a valid bundle against the images of the regions it fills (weights,
 * and params: images[r] holds region_size[r] bytes, or is NULL to skip region r): unpack writes
 * each embedded tensor's bytes at its offset of its region's image (other bytes are left as
 * they are); pack gathers them from the images into `out` (mlgb_weights_size(b) bytes).
 * mlgb_weights_size: the section's size for b's tensor table and has_params. */
uint64_t mlgb_weights_size(const mlgb_bundle *bundle);
void     mlgb_weights_unpack(const mlgb_bundle *bundle, uint8_t *const images[MLGB_N_REGIONS]);
void     mlgb_weights_pack(const mlgb_bundle *bundle, const uint8_t *const images[MLGB_N_REGIONS],
                           uint8_t *out);

#endif

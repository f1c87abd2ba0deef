/* vulkan_internal.h — the Vulkan backend's handle structs and the helpers its files share.
 *
 * The loader (libvulkan.so.1, or $MLG_VULKAN_LIBRARY) is opened with dlopen and every entry
 * point is fetched through vkGetInstanceProcAddr / vkGetDeviceProcAddr, so libmlgrt starts and
 * runs OpenCL on a machine without a Vulkan loader; there the backend lists 0 devices.
 *
 * Memory (one VkDeviceMemory per buffer; a model has few):
 *   weights  device-local, per model, filled once at load through a temporary staging buffer;
 *   io       device-local, per session (inputs and outputs live here);
 *   arena    device-local, per session;
 *   staging  host-visible + coherent (cached when offered), per session, persistently mapped:
 *            one slot per input and output tensor. A run copies inputs into it, and the command
 *            buffer copies staging → io, dispatches, io → staging.
 * Staging is used even where device-local memory is host-visible (lavapipe, ReBAR GPUs): one
 * path, tested on the CPU device, and shader reads never go through uncached host mappings.
 *
 * Thread safety: as mlg.h. Models are immutable after build; sessions are thread-compatible;
 * the device's one queue is shared and guarded by a mutex around vkQueueSubmit. */
#ifndef MLG_VULKAN_INTERNAL_H
#define MLG_VULKAN_INTERNAL_H

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "../internal.h"
#include "../parallel.h"

/* The convention shared with the GLSL printer: at most this many tensor arguments per kernel,
 * passed as storage buffers (set 0, binding i) and push constants `uint off[n_args]`. */
#define MLG_VK_MAX_ARGS 32
/* Programs a session records (bundle.h mlgb_program): program p has bit 1 << p. */
#define MLG_VK_PROGRAMS 3

/* Entry points fetched from the loader, by level. */
#define MLG_VK_GLOBAL_FNS(X) \
  X(vkCreateInstance) X(vkEnumerateInstanceVersion) X(vkEnumerateInstanceLayerProperties) \
  X(vkEnumerateInstanceExtensionProperties)
#define MLG_VK_INSTANCE_FNS(X) \
  X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) \
  X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceQueueFamilyProperties) \
  X(vkGetPhysicalDeviceMemoryProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr) \
  X(vkEnumerateDeviceExtensionProperties) X(vkGetPhysicalDeviceFeatures2)
#define MLG_VK_DEBUG_FNS(X) X(vkCreateDebugUtilsMessengerEXT) X(vkDestroyDebugUtilsMessengerEXT)
#define MLG_VK_DEVICE_FNS(X) \
  X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer) \
  X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) \
  X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule) X(vkDestroyShaderModule) \
  X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) \
  X(vkDestroyPipelineLayout) X(vkCreatePipelineCache) X(vkDestroyPipelineCache) \
  X(vkGetPipelineCacheData) X(vkCreateComputePipelines) X(vkDestroyPipeline) \
  X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkAllocateDescriptorSets) \
  X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool) \
  X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkCmdBindPipeline) \
  X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier) \
  X(vkCmdCopyBuffer) X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) X(vkWaitForFences) \
  X(vkGetFenceStatus) \
  X(vkQueueSubmit) X(vkDeviceWaitIdle) X(vkCreateQueryPool) X(vkDestroyQueryPool) \
  X(vkCmdResetQueryPool) X(vkCmdWriteTimestamp) X(vkGetQueryPoolResults)

typedef struct mlg_vk_fns {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define MLG_VK_MEMBER(name) PFN_##name name;
  MLG_VK_GLOBAL_FNS(MLG_VK_MEMBER)
  MLG_VK_INSTANCE_FNS(MLG_VK_MEMBER)
  MLG_VK_DEBUG_FNS(MLG_VK_MEMBER)
  MLG_VK_DEVICE_FNS(MLG_VK_MEMBER)
#undef MLG_VK_MEMBER
} mlg_vk_fns;

/* What the debug-utils messenger saw. Counts only grow; callers compare before and after. */
typedef struct mlg_vk_validation {
  atomic_int errors;
  atomic_int warnings;
  pthread_mutex_t lock;
  char last_error[1024];     /* the latest error message, under lock */
} mlg_vk_validation;

/* An instance with its entry points (and, with validation on, its messenger). */
typedef struct mlg_vk_instance {
  mlg_vk_fns vk;
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  int validation;
} mlg_vk_instance;

struct mlg_backend_device {
  mlg_vk_instance inst;
  mlg_vk_validation validation;  /* the messenger's user data: lives as long as the device */
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  pthread_mutex_t queue_lock;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memory;
  uint64_t max_allocation;   /* maxMemoryAllocationSize (Vulkan 1.1) */
  /* VkPhysicalDeviceSubgroupProperties: compute shaders have basic + arithmetic subgroup
   * operations (bundles with MLGB_FEATURE_SUBGROUP_ARITH need it; tests may clear it to play a
   * device without), and the subgroup size. */
  int subgroup_arithmetic;
  uint32_t subgroup_size;
  /* Optional features (mlgb_device_feature bits) the device offers and mlg enabled at device
   * creation: MLGB_DEVICE_INT_DOT when VK_KHR_shader_integer_dot_product is there with
   * shaderIntegerDotProduct; MLGB_DEVICE_COOPMAT_NV when VK_NV_cooperative_matrix lists a
   * 16×16×16 f16·f16+f32 subgroup shape, subgroups are 32 wide, VK_KHR_shader_float16_int8
   * has shaderFloat16 and VK_KHR_vulkan_memory_model vulkanMemoryModel. */
  uint32_t features;
  int profiling;             /* sessions write a timestamp around each dispatch */
  /* How long a wait polls its fence before it blocks (MLG_VK_SPIN_US): a blocked wait wakes
   * tens of microseconds after the work ends on some GPU drivers, more than a small model's
   * whole run; on a CPU device polling would take a core from the work itself, so 0 there. */
  uint64_t spin_ns;
  uint32_t timestamp_bits;   /* valid bits of the queue's timestamps; 0: none */
  /* MLG_VK_PIPELINE_STATS set and VK_KHR_pipeline_executable_properties enabled: each pipeline
   * built prints the driver's statistics of its code (registers, ...) on stderr. */
  int pipeline_stats;
  char name[256];
  char spec[32];
};

/* Per kernel argument, what its shader does with the buffer (from SPIR-V reflection). */
enum { MLG_VK_ARG_UNUSED = 0, MLG_VK_ARG_READ = 1, MLG_VK_ARG_WRITE = 2 };

struct mlg_backend_model {
  mlg_backend_device *dev;
  const mlgb_bundle *bundle;
  VkBuffer weights;
  VkDeviceMemory weights_memory;
  VkShaderModule *modules;   /* one per bundle module */
  VkDescriptorSetLayout set_layouts[MLG_VK_MAX_ARGS + 1]; /* by argument count; NULL if unused */
  VkPipelineLayout layouts[MLG_VK_MAX_ARGS + 1];
  VkPipeline *pipelines;     /* one per bundle kernel */
  uint8_t *access;           /* MLG_VK_ARG_* per (kernel, buffer parameter), kernel k's at
                                arg_base[k] */
  uint32_t *arg_base;
};

/* One input or output copy recorded into the command buffer. */
typedef struct mlg_vk_slot {
  uint32_t tensor;
  uint32_t region;
  uint64_t offset;           /* in the region */
  uint64_t size;
  uint64_t staging_offset;
} mlg_vk_slot;

struct mlg_backend_session {
  mlg_backend_model *model;
  VkBuffer buffers[MLGB_N_REGIONS];       /* weights borrowed from the model; io, arena, params,
                                             state owned */
  VkDeviceMemory memories[MLGB_N_REGIONS];
  VkBuffer staging;
  VkDeviceMemory staging_memory;
  uint8_t *staging_map;
  VkDescriptorPool pool;
  VkDescriptorSet *sets;     /* one per dispatch (NULL for dispatches without arguments) */
  VkCommandPool command_pool;
  VkCommandBuffer commands[MLG_VK_PROGRAMS]; /* per program: the run, the train step and the
                                preparation (bundle.h mlgb_program), recorded where the bundle
                                has it */
  VkFence fence;
  int n_inputs, n_outputs;
  mlg_vk_slot *slots;        /* inputs, then outputs, in tensor-table order, then a train step's
                                loss when it is no output of the run */
  /* Profiling devices only: two timestamps per recorded dispatch of any program, and per
   * program p and bundle dispatch i, recorded_index[p * n_dispatches + i]: its pair of
   * timestamps (UINT32_MAX: not in that program, or no work). */
  VkQueryPool queries;
  uint64_t *stamps;
  uint32_t *recorded_index;
  uint32_t last_program;     /* the program of the last run: 0 run, 1 train step, 2 preparation */
  uint32_t first_recorded[MLG_VK_PROGRAMS]; /* per program: its first recorded dispatch */
  /* What was recorded (every program), for tests and tools. */
  uint32_t n_recorded_dispatches;
  uint32_t n_compute_barriers; /* compute→compute barriers between dependent dispatches */
};

/* "VK_ERROR_DEVICE_LOST", or "VkResult -9999" for codes it does not know. */
const char *mlg_vk_result_name(VkResult result);
/* The mlg_status a failed call maps to: out of host/device/pool memory → OUT_OF_MEMORY, else
 * DEVICE. */
mlg_status mlg_vk_status(VkResult result);

/* Opens the loader and creates an instance (Vulkan 1.1). `validation` enables the Khronos layer
 * and a messenger reporting to `sink`. Returns MLG_OK, or a status with the message set (no
 * loader or no instance: MLG_ERR_NO_DEVICE). On failure nothing is left to destroy. */
mlg_status mlg_vk_instance_create(int validation, mlg_vk_validation *sink, mlg_vk_instance *out);
void       mlg_vk_instance_destroy(mlg_vk_instance *inst);
/* Nonzero when $MLG_VK_VALIDATION is "1" (or any value but "" and "0"). */
int        mlg_vk_validation_requested(void);
/* MLG_OK when no validation error arrived since `errors_before`; else MLG_ERR_DEVICE naming the
 * operation and the latest message. */
mlg_status mlg_vk_validation_check(mlg_backend_device *dev, int errors_before, const char *during);
/* Test hook: validation errors (and warnings) counted on `dev` so far. */
int        mlg_vk_validation_errors(const mlg_backend_device *dev, int *out_warnings);

/* Memory (vulkan_memory.c). Creates a buffer with its own memory of a type that has all of
 * `required` flags (and `preferred` when some type does), and maps it when host-visible and
 * `out_map` is given. `what` names the buffer in messages ("arena region of model 'm'"). */
mlg_status mlg_vk_buffer_create(mlg_backend_device *dev, uint64_t size, VkBufferUsageFlags usage,
                                VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                                const char *what, VkBuffer *out_buffer, VkDeviceMemory *out_memory,
                                void **out_map);
void       mlg_vk_buffer_destroy(mlg_backend_device *dev, VkBuffer buffer, VkDeviceMemory memory);
/* Copies `size` bytes of `data` to offset 0 of `dst` through a temporary staging buffer, and
 * waits for the copy. */
mlg_status mlg_vk_upload(mlg_backend_device *dev, VkBuffer dst, const void *data, uint64_t size,
                         const char *what);
/* The same at `offset` of `buffer`, either way (to_device: host → buffer; else buffer → host),
 * ordered after every earlier submission; waits. */
mlg_status mlg_vk_copy(mlg_backend_device *dev, VkBuffer buffer, uint64_t offset, void *host,
                       uint64_t size, int to_device, const char *what);
/* Submits `commands` on the device's queue, signalling `fence` (under the queue lock). */
VkResult   mlg_vk_submit(mlg_backend_device *dev, VkCommandBuffer commands, VkFence fence);
/* Waits for `fence`: polls it for up to the device's spin_ns, then blocks. */
VkResult   mlg_vk_wait(mlg_backend_device *dev, VkFence fence);

/* SPIR-V reflection (vulkan_spirv.c): what the runtime must know of a compute shader. */
#define MLG_SPV_MAX_BINDINGS 64
typedef struct mlg_spv_binding {
  uint32_t set, binding;
  int writable;              /* not decorated NonWritable */
} mlg_spv_binding;

typedef struct mlg_spv_info {
  int has_main;              /* an OpEntryPoint GLCompute named "main" */
  uint32_t local_size[3];    /* 0 when the shader sets it through specialization constants */
  uint32_t n_bindings;
  mlg_spv_binding bindings[MLG_SPV_MAX_BINDINGS];
  uint32_t push_constant_size; /* bytes; 0 none; UINT32_MAX when it could not be worked out */
  int other_resources;       /* uniform buffers, images, samplers: not part of the convention */
} mlg_spv_info;

/* Parses `size` bytes of SPIR-V. Returns 0, or -1 with a message in err for a malformed
 * module. */
int mlg_spv_reflect(const void *code, size_t size, mlg_spv_info *out, char *err, size_t err_size);

/* SPIRV-Tools' validator, opened with dlopen (vulkan_spirv_validate.c). Validation is on unless
 * $MLG_SPIRV_VALIDATION is "0". validate returns 0 for a valid module, -1 with SPIRV-Tools'
 * diagnostic in err for an invalid one, -2 with the reason when the validator is unavailable. */
int mlg_vk_spirv_validation_on(void);
int mlg_vk_spirv_validate(const void *code, size_t size, char *err, size_t err_size);

/* Pipeline-cache files (vulkan_pipeline_cache.c). One file per (distinct kernel, device,
 * driver): the key names the file, and the header inside repeats vendorID, deviceID,
 * driverVersion and pipelineCacheUUID, which must all match. */
typedef struct mlg_vk_cache_key {
  uint64_t file_hash;
  uint64_t check_hash;
} mlg_vk_cache_key;

/* The key of the pipeline of a kernel with SPIR-V `module` and `n_params` buffer parameters. */
mlg_vk_cache_key mlg_vk_cache_key_make(const VkPhysicalDeviceProperties *props, const mlgb_module *module,
                                       uint32_t n_params);
void mlg_vk_cache_path(const char *dir, mlg_vk_cache_key key, char *buf, size_t size);
/* Reads key's entry into a malloc'd buffer; -1 for any miss (no file, wrong device or driver,
 * truncated or corrupted). Never sets an error. */
int  mlg_vk_cache_load(const char *dir, mlg_vk_cache_key key, const VkPhysicalDeviceProperties *props,
                       uint8_t **out_data, size_t *out_size);
/* Writes the entry atomically (temporary file, rename), creating dir. 0, or -1 (not an error). */
int  mlg_vk_cache_store(const char *dir, mlg_vk_cache_key key, const VkPhysicalDeviceProperties *props,
                        const uint8_t *data, size_t size);

/* The vtable's members; see backend.h. */
mlg_status mlg_vk_list_devices(mlg_device_info *out_devices, int capacity, int *out_count);
mlg_status mlg_vk_device_create(int index, int enable_profiling, mlg_backend_device **out_device,
                                mlg_device_info *out_info);
void       mlg_vk_device_destroy(mlg_backend_device *device);
mlg_status mlg_vk_upload_model(mlg_backend_device *device, const mlgb_bundle *bundle, const void *weights,
                               mlg_backend_model **out_model);
mlg_status mlg_vk_build(mlg_backend_model *model, const char *cache_dir, mlg_backend_cache_stats *stats,
                        mlg_progress_fn progress, void *progress_user);
void       mlg_vk_model_destroy(mlg_backend_model *model);
mlg_status mlg_vk_record(mlg_backend_model *model, const void *params, mlg_backend_session **out_session);
void       mlg_vk_session_destroy(mlg_backend_session *session);
int        mlg_vk_host_staging(mlg_backend_session *session, mlg_transfer *transfers, int n_transfers);
mlg_status mlg_vk_run(mlg_backend_session *session, uint32_t program, const mlg_transfer *inputs,
                      int n_inputs, const mlg_transfer *outputs, int n_outputs);
mlg_status mlg_vk_read(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                       void *host);
mlg_status mlg_vk_write(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                        const void *host);
mlg_status mlg_vk_profile(mlg_backend_session *session, uint64_t *out_ns, uint32_t n_dispatches);
uint64_t   mlg_vk_max_buffer(const mlg_backend_device *device);
uint32_t   mlg_vk_device_features(const mlg_backend_device *device);
const char *mlg_vk_why_no_devices(void);

extern const mlg_backend mlg_vulkan_backend;

#endif

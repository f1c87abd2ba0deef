/* opencl_internal.h — the OpenCL backend's handle structs and the helpers its files share. */
#ifndef MLG_OPENCL_INTERNAL_H
#define MLG_OPENCL_INTERNAL_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"
#include "../parallel.h"

struct mlg_backend_device {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  int profiling;
  char name[256];
  char platform_version[256];
  char driver_version[256];
  size_t max_work_group;
  size_t max_work_item[3];
  cl_ulong max_alloc;
  uint32_t features;         /* mlgb_device_feature bits (device_features) */
  int host_unified;          /* CL_DEVICE_HOST_UNIFIED_MEMORY: the device computes in host memory
                                (a CPU, an integrated GPU), so a mapped buffer is its own bytes */
};

struct mlg_backend_model {
  mlg_backend_device *dev;
  const mlgb_bundle *bundle;
  cl_mem weights;            /* read-only, the whole weights region */
  cl_program *programs;      /* one per bundle module (each distinct kernel is one) */
};

/* One recorded kernel launch. */
typedef struct mlg_cl_dispatch {
  cl_kernel kernel;
  const char *name;
  cl_uint work_dim;
  size_t global[3];
  size_t local[3];
  uint32_t bundle_index;     /* its index in the bundle's dispatch list */
  uint32_t programs;         /* mlgb_program bits: the programs that run it */
} mlg_cl_dispatch;

struct mlg_backend_session {
  mlg_backend_model *model;
  cl_command_queue queue;
  cl_mem regions[MLGB_N_REGIONS]; /* weights (borrowed from the model); io, arena, params,
                                     state (owned) */
  cl_kernel *kernels;        /* one per bundle dispatch, arguments set (NULL: no work) */
  uint32_t n_dispatches;
  mlg_cl_dispatch *dispatches;
  /* Profiling devices only (NULL otherwise): one event per recorded dispatch, live during a
   * run (NULL for those of other programs); and per bundle dispatch, the device ns of the last
   * successful run. */
  cl_event *events;
  uint64_t *times_ns;
  /* Pinned host staging (host_staging): a CL_MEM_ALLOC_HOST_PTR buffer mapped for the session's
   * life; transfers use the mapping as their host pointer. */
  cl_mem pinned;
  void *pinned_map;
  /* Resident io (host_staging on a host_unified device): the io region's buffer itself is
   * mapped between runs and the transfers point into it; a run unmaps it, replays, maps it
   * again and moves `io_transfers` (the session's array) to the new mapping. NULL io_map: not
   * mapped (a failed re-map leaves the transfers NULL). */
  void *io_map;
  mlg_transfer *io_transfers;
  int n_io_transfers;
};

/* "CL_OUT_OF_RESOURCES", or "CL error -9999" for codes it does not know (static storage for
 * known codes; thread-local for unknown ones). */
const char *mlg_cl_error_name(cl_int err);

/* Finds device `index` (counting devices across platforms in enumeration order). Returns 0, or
 * -1 when there is no such device. */
int mlg_cl_find_device(int index, cl_platform_id *out_platform, cl_device_id *out_device);

/* The vtable's members (opencl_device.c, opencl_backend.c); see backend.h. */
mlg_status mlg_cl_list_devices(mlg_device_info *out_devices, int capacity, int *out_count);
mlg_status mlg_cl_device_create(int index, int enable_profiling, mlg_backend_device **out_device,
                                mlg_device_info *out_info);
void       mlg_cl_device_destroy(mlg_backend_device *device);
mlg_status mlg_cl_upload(mlg_backend_device *device, const mlgb_bundle *bundle, const void *weights,
                         mlg_backend_model **out_model);
mlg_status mlg_cl_build(mlg_backend_model *model, const char *cache_dir, mlg_backend_cache_stats *stats,
                        mlg_progress_fn progress, void *progress_user);
void       mlg_cl_model_destroy(mlg_backend_model *model);
mlg_status mlg_cl_record(mlg_backend_model *model, const void *params, mlg_backend_session **out_session);
void       mlg_cl_session_destroy(mlg_backend_session *session);
mlg_status mlg_cl_read(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                       void *host);
mlg_status mlg_cl_write(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                        const void *host);
mlg_status mlg_cl_run(mlg_backend_session *session, uint32_t program, const mlg_transfer *inputs, int n_inputs,
                      const mlg_transfer *outputs, int n_outputs);
int        mlg_cl_host_staging(mlg_backend_session *session, mlg_transfer *transfers, int n_transfers);
mlg_status mlg_cl_profile(mlg_backend_session *session, uint64_t *out_ns, uint32_t n_dispatches);
uint64_t   mlg_cl_max_buffer(const mlg_backend_device *device);
uint32_t   mlg_cl_device_features(const mlg_backend_device *device);

/* Program-binary disk cache (opencl_cache.c). The key covers the source, the build options,
 * the device name, the platform and driver versions, and the mlg version. */
typedef struct mlg_cl_cache_key {
  uint64_t file_hash;        /* names the file */
  uint64_t check_hash;       /* stored inside it and compared on load */
} mlg_cl_cache_key;

mlg_cl_cache_key mlg_cl_cache_key_make(const mlg_backend_device *dev, const void *source, size_t source_size,
                                       const char *options);
/* Reads the entry for key into a malloc'd buffer. Returns 0, or -1 for any miss: no file, an
 * unreadable, truncated or corrupted one, or one for another key. Never sets an error. */
int mlg_cl_cache_load(const char *dir, mlg_cl_cache_key key, uint8_t **out_binary, size_t *out_size);
/* Writes the entry atomically (temporary file, then rename), creating dir if needed. Returns 0,
 * or -1 when it could not (not an error for the caller). */
int mlg_cl_cache_store(const char *dir, mlg_cl_cache_key key, const uint8_t *binary, size_t size);
/* The path of key's entry in dir, for tests and tools. */
void mlg_cl_cache_path(const char *dir, mlg_cl_cache_key key, char *buf, size_t size);

/* Warpgroup products (opencl_ptx.c): whether a program source carries sm_90a instructions as
 * "//MLGA" comments, and its built PTX with them uncommented and the target sm_90a (a malloc'd,
 * NUL-terminated copy). 0, or -1 when the PTX does not target sm_90 or memory ran out. */
int mlg_cl_ptx_marked(const void *source, size_t size);
int mlg_cl_ptx_retarget(const char *ptx, size_t size, char **out_ptx, size_t *out_size);

#endif

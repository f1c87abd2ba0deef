/* backend.h — the interface a device backend implements. The generic runtime (runtime.c,
 * model.c, session.c) parses device specs, validates bundles and weights, and keeps host
 * staging; a backend owns everything on the device. Backends: OpenCL (opencl/) and Vulkan
 * (vulkan/); another plugs in by filling an mlg_backend and adding it to runtime.c's table.
 *
 * Every member is required unless its comment says it may be NULL (the caller checks).
 * Failures return an mlg_status after setting the message with mlg_fail (internal.h); a failed
 * create leaves nothing allocated. */
#ifndef MLG_RUNTIME_BACKEND_H
#define MLG_RUNTIME_BACKEND_H

#include <stdint.h>

#include "bundle.h"
#include "mlg.h"
#include "parallel.h"

typedef struct mlg_backend_device mlg_backend_device;   /* context, queue properties, ... */
typedef struct mlg_backend_model mlg_backend_model;     /* weights buffer, built programs */
typedef struct mlg_backend_session mlg_backend_session; /* arena, io buffer, a train step's
                                                           params and state, recorded dispatches */

/* One host↔device copy of a run: `size` bytes at `offset` of `region` (mlgb_region) from or to
 * `host`. `name` is the tensor's, for messages. */
typedef struct mlg_transfer {
  const char *name;
  uint32_t region;
  uint64_t offset;
  uint64_t size;
  void *host;
} mlg_transfer;

typedef struct mlg_backend_cache_stats {
  int hits;                  /* programs loaded from the disk cache */
  int misses;                /* programs built from source (no entry, or a bad one) */
  int writes;                /* entries written back */
} mlg_backend_cache_stats;

typedef struct mlg_backend {
  /* Spec prefix of its devices: "opencl" gives "opencl:0", "opencl:1", ... */
  const char *name;
  /* Fills up to `capacity` entries (spec, name, platform, ...) and sets *out_count to the
   * number of devices. A missing loader or platform is MLG_OK with 0 devices. */
  mlg_status (*list_devices)(mlg_device_info *out_devices, int capacity, int *out_count);
  /* Opens device `index` of list_devices' numbering: context and whatever every model on it
   * shares. `enable_profiling` asks for queues that can time each dispatch. */
  mlg_status (*device_create)(int index, int enable_profiling, mlg_backend_device **out_device,
                              mlg_device_info *out_info);
  /* (device_create and list_devices fill max_clock_mhz, peak_gflops and peak_formula where the
   * backend knows them; leaving them 0 and "" is allowed.) */
  void (*device_destroy)(mlg_backend_device *device);
  /* Creates the backend's model for a validated bundle and uploads its weights region once:
   * `weights` holds bundle->region_size[MLGB_REGION_WEIGHTS] bytes, already bound and checked.
   * The bundle outlives the model. */
  mlg_status (*upload)(mlg_backend_device *device, const mlgb_bundle *bundle, const void *weights,
                       mlg_backend_model **out_model);
  /* Builds every module of the bundle once (each distinct kernel is one; they may be built on
   * worker threads), through the disk cache in `cache_dir` (NULL: no cache). A bad cache entry
   * is a miss, never an error; counts go to *stats. `progress` (may be NULL) is called on the
   * calling thread as modules finish. */
  mlg_status (*build)(mlg_backend_model *model, const char *cache_dir, mlg_backend_cache_stats *stats,
                      mlg_progress_fn progress, void *progress_user);
  void (*model_destroy)(mlg_backend_model *model);
  /* Creates a session: arena and io buffers sized by the plan; for a bundle with a train step,
   * its own params region holding `params` (bundle->region_size[MLGB_REGION_PARAMS] bytes, NULL
   * when that is 0) and a state region of zeros; each program's dispatches (mlgb_dispatch
   * programs) with their arguments bound, recorded for replay. */
  mlg_status (*record)(mlg_backend_model *model, const void *params, mlg_backend_session **out_session);
  void (*session_destroy)(mlg_backend_session *session);
  /* Optional (NULL: the session stages in ordinary host memory). Points the host pointer of each
   * of the session's transfers (inputs, then outputs) into host memory the backend owns and the
   * device copies from and to fastest — pinned memory, or the backend's own mapped staging —
   * released with the backend session. Returns 0; or 1, resident: the pointers are the device
   * buffer's own bytes (a device computing in host memory), runs copy nothing, and each run
   * may move them, rewriting the host pointers of this `transfers` array (which lives as long
   * as the session; NULL: the mapping was lost, and the session refuses inputs); or -1 when it
   * has none (the pointers are left NULL and the session allocates ordinary memory). Called
   * once, right after record. */
  int (*host_staging)(mlg_backend_session *session, mlg_transfer *transfers, int n_transfers);
  /* Copies `inputs` to the device (resident staging: none), replays the dispatches of
   * `program` (an mlgb_program bit: those whose programs have it, in list order), copies
   * `outputs` back, and waits for all of it. Allocates nothing. */
  mlg_status (*run)(mlg_backend_session *session, uint32_t program, const mlg_transfer *inputs,
                    int n_inputs, const mlg_transfer *outputs, int n_outputs);
  /* Copies `size` bytes at `offset` of region `region` (mlgb_region; the model's weights region
   * included) to `host`, or (write) from `host` into the session's params or state region, and
   * waits; the range lies inside the region (session.c checks it). Outside runs only (reading
   * or setting params); may allocate. */
  mlg_status (*read)(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                     void *host);
  mlg_status (*write)(mlg_backend_session *session, uint32_t region, uint64_t offset, uint64_t size,
                      const void *host);
  /* Optional (NULL: never said). Why the backend lists no devices, when it knows ("cannot load
   * the Vulkan loader '…' (…)"), for the message of a spec that found none; "" otherwise. */
  const char *(*why_no_devices)(void);
  /* Optional (NULL: unknown). The largest buffer the device allocates in one piece
   * (CL_DEVICE_MAX_MEM_ALLOC_SIZE; Vulkan's maxMemoryAllocationSize). The runtime compares every
   * region of a model's plan with it before allocating anything (memory_plan.c). */
  uint64_t (*max_buffer)(const mlg_backend_device *device);
  /* Optional (NULL: the backend cannot time dispatches; mlg_session_profile then reports
   * MLG_ERR_UNSUPPORTED). Called only for sessions of a device created with enable_profiling,
   * after a successful run: writes the device time in ns of each of the bundle's
   * `n_dispatches` dispatches during that run into out_ns[i] (0 for a dispatch it skipped or
   * that belongs to another program).
   * Allocates nothing. */
  mlg_status (*profile)(mlg_backend_session *session, uint64_t *out_ns, uint32_t n_dispatches);
  /* Optional (NULL: none). The optional features the device offers (bundle.h
   * mlgb_device_feature bits, as device_create found them): the loader runs each kernel variant
   * whose requirements they meet, else its fallback (model.c). */
  uint32_t (*device_features)(const mlg_backend_device *device);
} mlg_backend;

extern const mlg_backend mlg_opencl_backend;
extern const mlg_backend mlg_vulkan_backend;

#endif

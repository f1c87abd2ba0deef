/* opencl_backend.c — the OpenCL backend: weights upload, program builds (through the binary
 * cache), sessions with kernels whose arguments are set once, and runs that replay the
 * recorded dispatch list. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "opencl_internal.h"

#define BUILD_OPTIONS "-cl-std=CL1.2"
/* Build logs can run to megabytes; keep the head, which names the first error. */
#define MAX_LOG 4000

const mlg_backend mlg_opencl_backend = {
    .name = "opencl",
    .list_devices = mlg_cl_list_devices,
    .device_create = mlg_cl_device_create,
    .device_destroy = mlg_cl_device_destroy,
    .upload = mlg_cl_upload,
    .build = mlg_cl_build,
    .model_destroy = mlg_cl_model_destroy,
    .record = mlg_cl_record,
    .session_destroy = mlg_cl_session_destroy,
    .host_staging = mlg_cl_host_staging,
    .run = mlg_cl_run,
    .read = mlg_cl_read,
    .write = mlg_cl_write,
    .profile = mlg_cl_profile,
    .max_buffer = mlg_cl_max_buffer,
    .device_features = mlg_cl_device_features,
};

uint64_t mlg_cl_max_buffer(const mlg_backend_device *dev) { return dev->max_alloc; }
uint32_t mlg_cl_device_features(const mlg_backend_device *dev) { return dev->features; }

static mlg_status alloc_error(cl_int err) {
  return err == CL_OUT_OF_HOST_MEMORY ? MLG_ERR_OUT_OF_MEMORY
         : err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ? MLG_ERR_OUT_OF_MEMORY
         : MLG_ERR_DEVICE;
}

/* Creates one region's buffer. OpenCL refuses zero-sized buffers, so an empty region gets a
 * few bytes that nothing reads. */
static mlg_status create_region(mlg_backend_device *dev, const mlgb_bundle *b, uint32_t region, cl_mem_flags flags,
                                void *host, cl_mem *out) {
  uint64_t size = b->region_size[region];
  if (size > dev->max_alloc)
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY,
                    "model '%s': the %s region needs %llu bytes, but device '%s' allocates at most %llu "
                    "bytes in one buffer", b->model_name ? b->model_name : "", mlg_region_name(region),
                    (unsigned long long)size, dev->name, (unsigned long long)dev->max_alloc);
  cl_int err = CL_SUCCESS;
  if (size == 0) {
    size = 16;
    flags &= ~(cl_mem_flags)CL_MEM_COPY_HOST_PTR;
    host = NULL;
  }
  *out = clCreateBuffer(dev->context, flags, (size_t)size, host, &err);
  if (err != CL_SUCCESS || !*out) {
    *out = NULL;
    return mlg_fail(alloc_error(err), "clCreateBuffer (%s region of model '%s', %llu bytes) on '%s' failed: %s",
                    mlg_region_name(region), b->model_name ? b->model_name : "", (unsigned long long)size, dev->name,
                    mlg_cl_error_name(err));
  }
  return MLG_OK;
}

mlg_status mlg_cl_upload(mlg_backend_device *dev, const mlgb_bundle *b, const void *weights,
                         mlg_backend_model **out_model) {
  *out_model = NULL;
  mlg_backend_model *m = calloc(1, sizeof *m);
  if (!m) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  m->dev = dev;
  m->bundle = b;
  m->programs = calloc(b->n_modules + 1u, sizeof *m->programs);
  if (!m->programs) {
    free(m);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  /* CL_MEM_COPY_HOST_PTR copies at creation: the host image may be freed right after. */
  cl_mem_flags flags = CL_MEM_READ_ONLY | (weights ? CL_MEM_COPY_HOST_PTR : 0);
  mlg_status st = create_region(dev, b, MLGB_REGION_WEIGHTS, flags, (void *)weights, &m->weights);
  if (st != MLG_OK) {
    mlg_cl_model_destroy(m);
    return st;
  }
  *out_model = m;
  return MLG_OK;
}

/* The head of the device's build log, trimmed of trailing blank lines, into buf. */
static void build_log(const mlg_backend_device *dev, cl_program program, char *buf, size_t size) {
  buf[0] = '\0';
  size_t n = 0;
  if (clGetProgramBuildInfo(program, dev->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS || n == 0) {
    snprintf(buf, size, "(no build log)");
    return;
  }
  char *log = malloc(n + 1);
  if (!log) {
    snprintf(buf, size, "(build log unavailable: out of host memory)");
    return;
  }
  if (clGetProgramBuildInfo(program, dev->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS) log[0] = '\0';
  log[n] = '\0';
  size_t len = strlen(log);
  while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' ' || log[len - 1] == '\r')) log[--len] = '\0';
  if (len > size - 1 || len > MAX_LOG) {
    size_t keep = (size - 1 < MAX_LOG ? size - 1 : MAX_LOG) - 40;
    snprintf(buf, size, "%.*s\n... (%zu more bytes of log)", (int)keep, log, len - keep);
  } else {
    snprintf(buf, size, "%s", len ? log : "(empty build log)");
  }
  free(log);
}

/* Tries the cached binary for `key`; returns a built program, or NULL for a miss. *out_refused
 * is set when there was an entry but the driver would not build it. */
static cl_program build_from_cache(mlg_backend_device *dev, const char *dir, mlg_cl_cache_key key, int *out_refused) {
  uint8_t *binary;
  size_t size;
  *out_refused = 0;
  if (mlg_cl_cache_load(dir, key, &binary, &size) != 0) return NULL;
  cl_int status = CL_SUCCESS, err = CL_SUCCESS;
  const unsigned char *bins[1] = {binary};
  cl_program p = clCreateProgramWithBinary(dev->context, 1, &dev->device, &size, bins, &status, &err);
  free(binary);
  if (err != CL_SUCCESS || status != CL_SUCCESS || !p) {
    if (p) clReleaseProgram(p);
    *out_refused = 1;
    return NULL;
  }
  if (clBuildProgram(p, 1, &dev->device, BUILD_OPTIONS, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(p);
    *out_refused = 1;
    return NULL;
  }
  return p;
}

/* Fetches the built program's binary and writes it to the cache; returns 0 when written. */
static int store_in_cache(mlg_backend_device *dev, cl_program p, const char *dir, mlg_cl_cache_key key) {
  size_t size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || size == 0) return -1;
  unsigned char *binary = malloc(size);
  if (!binary) return -1;
  unsigned char *bins[1] = {binary};
  int rc = -1;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
    rc = mlg_cl_cache_store(dir, key, binary, size);
  free(binary);
  return rc;
}

/* One module's build, done on a worker thread: what it reports is kept here until the loading
 * thread turns it into the call's status and message. */
typedef struct module_build {
  mlg_status status;
  int from_source;           /* built from source (a cache miss) */
  int cache_hit;
  int written;               /* its binary was stored in the cache */
  char message[MAX_LOG + 256];
} module_build;

typedef struct build_job {
  mlg_backend_model *m;
  const char *cache_dir;
  module_build *results;
} build_job;

static int job_fail(module_build *r, mlg_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int job_fail(module_build *r, mlg_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
  r->status = status;
  return -1;
}

/* Checks that bundle kernel k exists, takes a (buffer, offset) pair per buffer parameter, and
 * fits the device's work-group limits. */
static int check_kernel(mlg_backend_model *m, uint32_t k, module_build *r) {
  mlg_backend_device *dev = m->dev;
  const mlgb_kernel *kd = &m->bundle->kernels[k];
  cl_int err = CL_SUCCESS;
  cl_kernel kernel = clCreateKernel(m->programs[kd->module], kd->name, &err);
  if (err != CL_SUCCESS || !kernel)
    return job_fail(r, err == CL_INVALID_KERNEL_NAME ? MLG_ERR_FORMAT : MLG_ERR_DEVICE,
                    "clCreateKernel (kernel '%s' in module %u) failed: %s", kd->name, kd->module,
                    mlg_cl_error_name(err));
  cl_uint n_args = 0;
  size_t wg = 0;
  err = clGetKernelInfo(kernel, CL_KERNEL_NUM_ARGS, sizeof n_args, &n_args, NULL);
  if (err == CL_SUCCESS)
    err = clGetKernelWorkGroupInfo(kernel, dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  clReleaseKernel(kernel);
  if (err != CL_SUCCESS)
    return job_fail(r, MLG_ERR_DEVICE, "querying kernel '%s' failed: %s", kd->name, mlg_cl_error_name(err));
  if (n_args != 2 * kd->n_params)
    return job_fail(r, MLG_ERR_FORMAT,
                    "kernel '%s' takes %u arguments, but the bundle binds %u tensors (a buffer and an offset each)",
                    kd->name, n_args, kd->n_params);
  size_t total = (size_t)kd->local_size[0] * kd->local_size[1] * kd->local_size[2];
  for (int d = 0; d < 3; d++)
    if (kd->local_size[d] > dev->max_work_item[d] && dev->max_work_item[d] > 0)
      return job_fail(r, MLG_ERR_UNSUPPORTED,
                      "kernel '%s' uses work-groups of %ux%ux%u, but device '%s' allows at most %zu in dimension %d",
                      kd->name, kd->local_size[0], kd->local_size[1], kd->local_size[2], dev->name,
                      dev->max_work_item[d], d);
  if (total > wg)
    return job_fail(r, MLG_ERR_UNSUPPORTED,
                    "kernel '%s' uses work-groups of %zu items, but device '%s' allows at most %zu for it", kd->name,
                    total, dev->name, wg);
  return 0;
}

/* Module `index`, built from source with sm_90a instructions in comments (opencl_ptx.c), built
 * again from its PTX with them uncommented: the program m->programs[index] then holds (and the
 * cache stores) the retargeted PTX. */
static int build_sm90a(mlg_backend_model *m, int index, module_build *r) {
  mlg_backend_device *dev = m->dev;
  const char *model = m->bundle->model_name ? m->bundle->model_name : "";
  size_t size = 0;
  cl_int err = clGetProgramInfo(m->programs[index], CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
  char *ptx = err == CL_SUCCESS && size ? malloc(size + 1) : NULL;
  unsigned char *bins[1] = {(unsigned char *)ptx};
  if (ptx) err = clGetProgramInfo(m->programs[index], CL_PROGRAM_BINARIES, sizeof bins, bins, NULL);
  if (!ptx || err != CL_SUCCESS) {
    free(ptx);
    return job_fail(r, err == CL_SUCCESS && size ? MLG_ERR_OUT_OF_MEMORY : MLG_ERR_DEVICE,
                    "fetching the PTX of module %d of model '%s' failed: %s", index, model,
                    err == CL_SUCCESS ? (size ? "out of host memory" : "the driver gave none") : mlg_cl_error_name(err));
  }
  ptx[size] = '\0';
  char *sm90a = NULL;
  size_t sm90a_size = 0;
  int rc = mlg_cl_ptx_retarget(ptx, strlen(ptx), &sm90a, &sm90a_size);
  free(ptx);
  if (rc != 0)
    return job_fail(r, MLG_ERR_UNSUPPORTED,
                    "module %d of model '%s' uses Hopper's warpgroup products, but the program device '%s' "
                    "built is not sm_90 PTX; run with MLG_DISABLE_FEATURES=ptxwgmma", index, model, dev->name);
  const unsigned char *bin[1] = {(const unsigned char *)sm90a};
  cl_int status = CL_SUCCESS;
  cl_program p = clCreateProgramWithBinary(dev->context, 1, &dev->device, &sm90a_size, bin, &status, &err);
  free(sm90a);
  if (err != CL_SUCCESS || status != CL_SUCCESS || !p) {
    if (p) clReleaseProgram(p);
    return job_fail(r, MLG_ERR_DEVICE, "loading the sm_90a PTX of module %d of model '%s' failed: %s", index, model,
                    mlg_cl_error_name(err != CL_SUCCESS ? err : status));
  }
  clReleaseProgram(m->programs[index]);
  m->programs[index] = p;
  err = clBuildProgram(p, 1, &dev->device, BUILD_OPTIONS, NULL, NULL);
  if (err != CL_SUCCESS) {
    char log[MAX_LOG + 64];
    build_log(dev, p, log, sizeof log);
    return job_fail(r, MLG_ERR_BUILD,
                    "building the sm_90a PTX of module %d of model '%s' on '%s' failed: %s (MLG_DISABLE_FEATURES="
                    "ptxwgmma runs the kernels without warpgroup products)\n%s",
                    index, model, dev->name, mlg_cl_error_name(err), log);
  }
  return 0;
}

/* Builds module `index` from source into m->programs[index]. `salted` appends a declaration to
 * the source (not a comment: PoCL hashes the preprocessed text): the driver then sees a program
 * of its own, not one its own cache may hold from the binary of a bad entry (PoCL unpacks a
 * binary into its kernel cache, under the source's hash, and a damaged one aborted every later
 * build of that source). */
static int build_from_source(mlg_backend_model *m, int index, int salted, module_build *r) {
  mlg_backend_device *dev = m->dev;
  const mlgb_module *mod = &m->bundle->modules[index];
  const char *model = m->bundle->model_name ? m->bundle->model_name : "";
  static const char salt[] = "\ntypedef int mlg_built_again_after_a_bad_cache_entry;\n";
  cl_int err = CL_SUCCESS;
  const char *parts[2] = {(const char *)mod->data, salt};
  size_t lens[2] = {(size_t)mod->size, sizeof salt - 1};
  cl_program p = clCreateProgramWithSource(dev->context, salted ? 2 : 1, parts, lens, &err);
  if (err != CL_SUCCESS || !p)
    return job_fail(r, alloc_error(err), "clCreateProgramWithSource (module %d of model '%s') failed: %s", index,
                    model, mlg_cl_error_name(err));
  m->programs[index] = p;
  r->from_source = 1;
  const int marked = mlg_cl_ptx_marked(mod->data, (size_t)mod->size); /* sm_90a instructions */
  err = clBuildProgram(p, 1, &dev->device, BUILD_OPTIONS, NULL, NULL);
  if (err != CL_SUCCESS) {
    char log[MAX_LOG + 64];
    build_log(dev, p, log, sizeof log);
    return job_fail(r, err == CL_BUILD_PROGRAM_FAILURE ? MLG_ERR_BUILD : MLG_ERR_DEVICE,
                    "clBuildProgram (module %d of model '%s') on '%s' failed: %s%s\n%s", index, model, dev->name,
                    mlg_cl_error_name(err),
                    marked ? " (a kernel with warpgroup products: MLG_DISABLE_FEATURES=ptxwgmma runs the ones without)"
                           : "",
                    log);
  }
  return marked ? build_sm90a(m, index, r) : 0;
}

/* Builds module `index` from the cache or from source into m->programs[index], checks its
 * kernels, and stores a binary built from source in the cache. The binary is stored only after
 * every kernel was created from it: some drivers (PoCL) finish a program's kernels lazily, and
 * an entry saved earlier can be incomplete; fetching it also has PoCL compile the kernels for
 * their work-group size here, on this thread, rather than at the first run.
 *
 * All of it happens under the entry's in-use mark (cache_entry.h): when the driver crashes the
 * process on a cached binary (or on its own cache), the next load finds the mark unheld, drops
 * the entry and builds a salted source. A binary the driver refuses, or whose kernels it cannot
 * create, is dropped and rebuilt at once. */
static int build_module(void *user, int index) {
  build_job *job = user;
  mlg_backend_model *m = job->m;
  module_build *r = &job->results[index];
  const mlgb_bundle *b = m->bundle;
  if (!mlgb_module_used(b, (uint32_t)index)) return 0; /* a kernel variant the device does not run */
  const mlgb_module *mod = &b->modules[index];
  mlg_cl_cache_key key = mlg_cl_cache_key_make(m->dev, mod->data, (size_t)mod->size, BUILD_OPTIONS);
  char path[4096] = "";
  mlg_cache_mark mark = {.fd = -1};
  int salted = 0;
  if (job->cache_dir) {
    mlg_cl_cache_path(job->cache_dir, key, path, sizeof path);
    salted = mlg_cache_mark_begin(path, &mark) != 0;
    int refused = 0;
    if (!salted) m->programs[index] = build_from_cache(m->dev, job->cache_dir, key, &refused);
    for (uint32_t k = 0; m->programs[index] && k < b->n_kernels; k++)
      if (b->kernels[k].module == (uint32_t)index && check_kernel(m, k, r) != 0) {
        clReleaseProgram(m->programs[index]);
        m->programs[index] = NULL;
        refused = 1;
        r->status = MLG_OK;
        r->message[0] = '\0';
      }
    if (refused) {
      mlg_cache_discard(path);
      salted = 1;
    }
    r->cache_hit = m->programs[index] != NULL;
  }
  int rc = m->programs[index] ? 0 : build_from_source(m, index, salted, r);
  for (uint32_t k = 0; rc == 0 && r->from_source && k < b->n_kernels; k++)
    if (b->kernels[k].module == (uint32_t)index) rc = check_kernel(m, k, r);
  size_t n_kernels = 0;
  if (rc == 0 && r->from_source && job->cache_dir &&
      clGetProgramInfo(m->programs[index], CL_PROGRAM_NUM_KERNELS, sizeof n_kernels, &n_kernels, NULL) ==
          CL_SUCCESS &&
      n_kernels > 0)
    r->written = store_in_cache(m->dev, m->programs[index], job->cache_dir, key) == 0;
  if (job->cache_dir) mlg_cache_mark_end(&mark);
  return rc;
}

mlg_status mlg_cl_build(mlg_backend_model *m, const char *cache_dir, mlg_backend_cache_stats *stats,
                        mlg_progress_fn progress, void *progress_user) {
  const mlgb_bundle *b = m->bundle;
  build_job job = {.m = m, .cache_dir = cache_dir, .results = calloc(b->n_modules + 1u, sizeof(module_build))};
  if (!job.results) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory building model '%s'", b->model_name);
  /* Each distinct kernel is a program of its own; drivers build different programs at once. */
  mlg_status st = MLG_OK;
  if (mlg_parallel_for((int)b->n_modules, 0, build_module, &job, progress, progress_user) != 0) {
    st = mlg_fail(MLG_ERR_DEVICE, "building the kernels of model '%s' failed", b->model_name);
    for (uint32_t i = 0; i < b->n_modules; i++)
      if (job.results[i].status != MLG_OK) {
        st = mlg_fail(job.results[i].status, "%s", job.results[i].message);
        break;
      }
  }
  for (uint32_t i = 0; i < b->n_modules; i++) {
    stats->hits += job.results[i].cache_hit;
    stats->misses += job.results[i].from_source;
    stats->writes += job.results[i].written;
  }
  free(job.results);
  return st;
}

void mlg_cl_model_destroy(mlg_backend_model *m) {
  if (!m) return;
  for (uint32_t i = 0; m->programs && i < m->bundle->n_modules; i++)
    if (m->programs[i]) clReleaseProgram(m->programs[i]);
  if (m->weights) clReleaseMemObject(m->weights);
  free(m->programs);
  free(m);
}

/* Creates dispatch i's kernel object and sets every argument: for each bound tensor, its
 * region's buffer and its offset in elements. */
static mlg_status create_kernel(mlg_backend_session *s, uint32_t i) {
  const mlgb_bundle *b = s->model->bundle;
  const mlgb_dispatch *d = &b->dispatches[i];
  const mlgb_kernel *kd = &b->kernels[d->kernel];
  cl_int err = CL_SUCCESS;
  s->kernels[i] = clCreateKernel(s->model->programs[kd->module], kd->name, &err);
  if (err != CL_SUCCESS || !s->kernels[i]) {
    s->kernels[i] = NULL;
    return mlg_fail(alloc_error(err), "clCreateKernel (kernel '%s', dispatch %u '%s') failed: %s", kd->name, i,
                    d->name, mlg_cl_error_name(err));
  }
  for (uint32_t a = 0; a < d->n_args; a++) {
    const mlgb_tensor *t = &b->tensors[d->args[a]];
    cl_uint offset = (cl_uint)mlgb_element_offset(t);
    err = clSetKernelArg(s->kernels[i], 2 * a, sizeof(cl_mem), &s->regions[t->region]);
    if (err == CL_SUCCESS) err = clSetKernelArg(s->kernels[i], 2 * a + 1, sizeof offset, &offset);
    if (err != CL_SUCCESS)
      return mlg_fail(MLG_ERR_DEVICE, "clSetKernelArg (kernel '%s', dispatch %u, argument %u = tensor '%s') failed: %s",
                      kd->name, i, a, t->name, mlg_cl_error_name(err));
  }
  return MLG_OK;
}

mlg_status mlg_cl_record(mlg_backend_model *m, const void *params, mlg_backend_session **out_session) {
  *out_session = NULL;
  mlg_backend_device *dev = m->dev;
  const mlgb_bundle *b = m->bundle;
  mlg_backend_session *s = calloc(1, sizeof *s);
  if (!s) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  s->model = m;
  s->kernels = calloc(b->n_dispatches + 1u, sizeof *s->kernels);
  s->dispatches = calloc(b->n_dispatches + 1u, sizeof *s->dispatches);
  if (dev->profiling) {
    s->events = calloc(b->n_dispatches + 1u, sizeof *s->events);
    s->times_ns = calloc(b->n_dispatches + 1u, sizeof *s->times_ns);
  }
  if (!s->kernels || !s->dispatches || (dev->profiling && (!s->events || !s->times_ns))) {
    mlg_cl_session_destroy(s);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  }

  /* Each session has its own queue, so that sessions on different threads never wait on (or
   * clFinish) each other's work. */
  cl_int err = CL_SUCCESS;
  cl_command_queue_properties props = dev->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
  s->queue = clCreateCommandQueue(dev->context, dev->device, props, &err);
  mlg_status st = MLG_OK;
  if (err != CL_SUCCESS || !s->queue) {
    s->queue = NULL;
    st = mlg_fail(alloc_error(err), "clCreateCommandQueue on '%s' failed: %s", dev->name, mlg_cl_error_name(err));
  }
  s->regions[MLGB_REGION_WEIGHTS] = m->weights;
  /* On a device that computes in host memory, the io buffer is host memory the runtime can map
   * in place of staging (host_staging). */
  if (st == MLG_OK)
    st = create_region(dev, b, MLGB_REGION_IO, CL_MEM_READ_WRITE | (dev->host_unified ? CL_MEM_ALLOC_HOST_PTR : 0),
                       NULL, &s->regions[MLGB_REGION_IO]);
  if (st == MLG_OK)
    st = create_region(dev, b, MLGB_REGION_ARENA, CL_MEM_READ_WRITE, NULL, &s->regions[MLGB_REGION_ARENA]);
  /* A train step's params (this session's copy) and the optimizer's state, zeros at first. */
  if (st == MLG_OK)
    st = create_region(dev, b, MLGB_REGION_PARAMS, CL_MEM_READ_WRITE | (params ? CL_MEM_COPY_HOST_PTR : 0),
                       (void *)params, &s->regions[MLGB_REGION_PARAMS]);
  if (st == MLG_OK)
    st = create_region(dev, b, MLGB_REGION_STATE, CL_MEM_READ_WRITE, NULL, &s->regions[MLGB_REGION_STATE]);
  if (st == MLG_OK && b->region_size[MLGB_REGION_STATE]) {
    const cl_uint zero = 0;
    err = clEnqueueFillBuffer(s->queue, s->regions[MLGB_REGION_STATE], &zero, sizeof zero, 0,
                              (size_t)b->region_size[MLGB_REGION_STATE], 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(s->queue);
    if (err != CL_SUCCESS)
      st = mlg_fail(alloc_error(err), "clEnqueueFillBuffer (state region of model '%s') failed: %s",
                    b->model_name ? b->model_name : "", mlg_cl_error_name(err));
  }
  for (uint32_t i = 0; i < b->n_dispatches && st == MLG_OK; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    const mlgb_kernel *kd = &b->kernels[d->kernel];
    if (d->groups[0] == 0 || d->groups[1] == 0 || d->groups[2] == 0) continue; /* nothing to do */
    st = create_kernel(s, i);
    if (st != MLG_OK) break;
    mlg_cl_dispatch *r = &s->dispatches[s->n_dispatches++];
    r->kernel = s->kernels[i];
    r->name = kd->name;
    r->bundle_index = i;
    r->programs = d->programs;
    r->work_dim = 1;
    for (int dim = 0; dim < 3; dim++) {
      r->local[dim] = kd->local_size[dim] ? kd->local_size[dim] : 1;
      r->global[dim] = (size_t)d->groups[dim] * r->local[dim];
      if (r->global[dim] > 1) r->work_dim = (cl_uint)dim + 1;
    }
  }
  if (st != MLG_OK) {
    mlg_cl_session_destroy(s);
    return st;
  }
  *out_session = s;
  return MLG_OK;
}

/* Maps the io region (blocking) and points the resident transfers into it; on failure they
 * are left NULL, and the session refuses them. */
static cl_int map_io(mlg_backend_session *s) {
  cl_int err = CL_SUCCESS;
  size_t bytes = (size_t)s->model->bundle->region_size[MLGB_REGION_IO];
  s->io_map = clEnqueueMapBuffer(s->queue, s->regions[MLGB_REGION_IO], CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                 bytes, 0, NULL, NULL, &err);
  if (err != CL_SUCCESS) s->io_map = NULL;
  for (int i = 0; i < s->n_io_transfers; i++)
    s->io_transfers[i].host = s->io_map ? (uint8_t *)s->io_map + s->io_transfers[i].offset : NULL;
  return s->io_map ? CL_SUCCESS : err != CL_SUCCESS ? err : CL_OUT_OF_HOST_MEMORY;
}

int mlg_cl_host_staging(mlg_backend_session *s, mlg_transfer *transfers, int n_transfers) {
  /* Resident: the device reads inputs and writes outputs where the host put and finds them. */
  int resident = s->model->dev->host_unified && s->model->bundle->region_size[MLGB_REGION_IO] > 0;
  for (int i = 0; i < n_transfers; i++) resident = resident && transfers[i].region == MLGB_REGION_IO;
  if (resident) {
    s->io_transfers = transfers;
    s->n_io_transfers = n_transfers;
    if (map_io(s) == CL_SUCCESS) return 1;
    s->io_transfers = NULL;
    s->n_io_transfers = 0;
  }
  size_t bytes = 64;
  for (int i = 0; i < n_transfers; i++) bytes += ((size_t)transfers[i].size + 63) & ~(size_t)63;
  cl_int err;
  s->pinned = clCreateBuffer(s->model->dev->context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, bytes, NULL, &err);
  if (err != CL_SUCCESS) {
    s->pinned = NULL;
    return -1;
  }
  s->pinned_map = clEnqueueMapBuffer(s->queue, s->pinned, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, bytes, 0, NULL,
                                     NULL, &err);
  if (err != CL_SUCCESS || !s->pinned_map) {
    clReleaseMemObject(s->pinned);
    s->pinned = NULL;
    s->pinned_map = NULL;
    return -1;
  }
  size_t at = 0;
  for (int i = 0; i < n_transfers; i++) {
    transfers[i].host = (uint8_t *)s->pinned_map + at;
    at += ((size_t)transfers[i].size + 63) & ~(size_t)63;
  }
  return 0;
}

void mlg_cl_session_destroy(mlg_backend_session *s) {
  if (!s) return;
  if (s->queue) clFinish(s->queue);
  if (s->pinned_map) clEnqueueUnmapMemObject(s->queue, s->pinned, s->pinned_map, 0, NULL, NULL);
  if (s->io_map) clEnqueueUnmapMemObject(s->queue, s->regions[MLGB_REGION_IO], s->io_map, 0, NULL, NULL);
  if (s->queue) clFinish(s->queue);
  if (s->pinned) clReleaseMemObject(s->pinned);
  for (uint32_t i = 0; s->kernels && i < s->model->bundle->n_dispatches; i++)
    if (s->kernels[i]) clReleaseKernel(s->kernels[i]);
  for (int r = MLGB_REGION_IO; r < MLGB_N_REGIONS; r++)
    if (s->regions[r]) clReleaseMemObject(s->regions[r]);
  if (s->queue) clReleaseCommandQueue(s->queue);
  free(s->kernels);
  free(s->dispatches);
  free(s->events);
  free(s->times_ns);
  free(s);
}

/* Releases the events a run created (profiling only). */
static void release_events(mlg_backend_session *s) {
  for (uint32_t i = 0; s->events && i < s->n_dispatches; i++)
    if (s->events[i]) {
      clReleaseEvent(s->events[i]);
      s->events[i] = NULL;
    }
}

/* Reads each finished dispatch's start and end into times_ns and releases the events. */
static mlg_status collect_times(mlg_backend_session *s) {
  mlg_status st = MLG_OK;
  memset(s->times_ns, 0, s->model->bundle->n_dispatches * sizeof *s->times_ns);
  for (uint32_t i = 0; i < s->n_dispatches && st == MLG_OK; i++) {
    if (!s->events[i]) continue; /* another program's */
    cl_ulong start = 0, end = 0;
    cl_int err = clGetEventProfilingInfo(s->events[i], CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
    if (err == CL_SUCCESS) err = clGetEventProfilingInfo(s->events[i], CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
    if (err != CL_SUCCESS)
      st = mlg_fail(MLG_ERR_DEVICE, "clGetEventProfilingInfo (kernel '%s', dispatch %u) failed: %s",
                    s->dispatches[i].name, s->dispatches[i].bundle_index, mlg_cl_error_name(err));
    else
      s->times_ns[s->dispatches[i].bundle_index] = end > start ? (uint64_t)(end - start) : 0;
  }
  release_events(s);
  return st;
}

mlg_status mlg_cl_profile(mlg_backend_session *s, uint64_t *out_ns, uint32_t n_dispatches) {
  if (!s->times_ns)
    return mlg_fail(MLG_ERR_UNSUPPORTED, "device '%s' was opened without profiling", s->model->dev->name);
  uint32_t n = s->model->bundle->n_dispatches;
  for (uint32_t i = 0; i < n_dispatches; i++) out_ns[i] = i < n ? s->times_ns[i] : 0;
  return MLG_OK;
}

/* Ends a failed run: waits for what was enqueued (it may still write host staging), then
 * returns the error already set. */
static mlg_status abandon(mlg_backend_session *s, mlg_status st) {
  clFinish(s->queue);
  release_events(s);
  return st;
}

static mlg_status run_error(cl_int err) {
  return err == CL_OUT_OF_HOST_MEMORY || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ? MLG_ERR_OUT_OF_MEMORY
                                                                                  : MLG_ERR_DEVICE;
}

/* A blocking copy between host memory and a region buffer. */
static mlg_status copy_region(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, void *host,
                              int to_device) {
  const mlgb_bundle *b = s->model->bundle;
  if (size == 0) return MLG_OK;
  cl_int err = to_device ? clEnqueueWriteBuffer(s->queue, s->regions[region], CL_TRUE, (size_t)offset, (size_t)size,
                                                host, 0, NULL, NULL)
                         : clEnqueueReadBuffer(s->queue, s->regions[region], CL_TRUE, (size_t)offset, (size_t)size,
                                               host, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mlg_fail(run_error(err), "%s (%s region of model '%s', %llu bytes) failed: %s",
                    to_device ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer", mlg_region_name(region),
                    b->model_name ? b->model_name : "", (unsigned long long)size, mlg_cl_error_name(err));
  return MLG_OK;
}

mlg_status mlg_cl_read(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, void *host) {
  return copy_region(s, region, offset, size, host, 0);
}

mlg_status mlg_cl_write(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, const void *host) {
  return copy_region(s, region, offset, size, (void *)host, 1);
}

mlg_status mlg_cl_run(mlg_backend_session *s, uint32_t program, const mlg_transfer *inputs, int n_inputs,
                      const mlg_transfer *outputs, int n_outputs) {
  cl_int err;
  const int resident = s->io_transfers != NULL;
  const char *model = s->model->bundle->model_name ? s->model->bundle->model_name : "";
  if (resident) {
    if (!s->io_map)
      return mlg_fail(MLG_ERR_DEVICE, "the io region of model '%s' could not be mapped again after an earlier "
                      "run; create a new session", model);
    err = clEnqueueUnmapMemObject(s->queue, s->regions[MLGB_REGION_IO], s->io_map, 0, NULL, NULL);
    if (err != CL_SUCCESS)
      return abandon(s, mlg_fail(run_error(err), "clEnqueueUnmapMemObject (io region of model '%s') failed: %s",
                                 model, mlg_cl_error_name(err)));
  }
  mlg_status st = MLG_OK;
  for (int i = 0; i < n_inputs && !resident && st == MLG_OK; i++) {
    const mlg_transfer *t = &inputs[i];
    if (t->size == 0) continue;
    /* Non-blocking: staging is not touched again before the clFinish below. */
    err = clEnqueueWriteBuffer(s->queue, s->regions[t->region], CL_FALSE, (size_t)t->offset, (size_t)t->size,
                               t->host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
      st = mlg_fail(run_error(err), "clEnqueueWriteBuffer (input '%s', %llu bytes) failed: %s", t->name,
                    (unsigned long long)t->size, mlg_cl_error_name(err));
  }
  for (uint32_t i = 0; i < s->n_dispatches && st == MLG_OK; i++) {
    const mlg_cl_dispatch *d = &s->dispatches[i];
    if (!(d->programs & program)) continue;
    err = clEnqueueNDRangeKernel(s->queue, d->kernel, d->work_dim, NULL, d->global, d->local, 0, NULL,
                                 s->events ? &s->events[i] : NULL);
    if (err != CL_SUCCESS)
      st = mlg_fail(run_error(err),
                    "clEnqueueNDRangeKernel (kernel '%s', dispatch %u, global %zux%zux%zu, local %zux%zux%zu) "
                    "failed: %s", d->name, i, d->global[0], d->global[1], d->global[2], d->local[0], d->local[1],
                    d->local[2], mlg_cl_error_name(err));
  }
  for (int i = 0; i < n_outputs && !resident && st == MLG_OK; i++) {
    const mlg_transfer *t = &outputs[i];
    if (t->size == 0) continue;
    err = clEnqueueReadBuffer(s->queue, s->regions[t->region], CL_FALSE, (size_t)t->offset, (size_t)t->size,
                              t->host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
      st = mlg_fail(run_error(err), "clEnqueueReadBuffer (output '%s', %llu bytes) failed: %s", t->name,
                    (unsigned long long)t->size, mlg_cl_error_name(err));
  }
  /* Mapping again waits for the dispatches; the outputs are then where get_output reads. */
  if (resident && (err = map_io(s)) != CL_SUCCESS && st == MLG_OK)
    st = mlg_fail(run_error(err), "mapping the io region of model '%s' after its run failed: %s (the "
                  "session takes no more inputs: create a new one)", model, mlg_cl_error_name(err));
  if (st != MLG_OK) return abandon(s, st);
  err = clFinish(s->queue);
  if (err != CL_SUCCESS) {
    release_events(s);
    return mlg_fail(run_error(err), "clFinish on '%s' failed: %s (a kernel of model '%s' failed on the device)",
                    s->model->dev->name, mlg_cl_error_name(err), model);
  }
  return s->events ? collect_times(s) : MLG_OK;
}

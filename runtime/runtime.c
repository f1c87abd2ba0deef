/* runtime.c — device listing, device-spec parsing and the runtime handle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "internal.h"

/* Backends in the order their devices are listed. Vulkan joins here. */
static const mlg_backend *const backends[] = {&mlg_opencl_backend, &mlg_vulkan_backend};
#define N_BACKENDS ((int)(sizeof backends / sizeof backends[0]))

#define NO_PLATFORM_MESSAGE                                                                  \
  "no OpenCL platform or Vulkan device found; install a driver (e.g. Debian packages "         \
  "pocl-opencl-icd for OpenCL, mesa-vulkan-drivers and libvulkan1 for Vulkan)"

/* Lists every backend's devices into a malloc'd array (NULL with count 0 when there are none).
 * Each entry's spec already names its backend. */
static mlg_status list_all(mlg_device_info **out_devices, int *out_count) {
  *out_devices = NULL;
  *out_count = 0;
  int total = 0;
  int counts[N_BACKENDS];
  for (int b = 0; b < N_BACKENDS; b++) {
    mlg_status st = backends[b]->list_devices(NULL, 0, &counts[b]);
    if (st != MLG_OK) return st;
    total += counts[b];
  }
  if (total == 0) return MLG_OK;
  mlg_device_info *devices = calloc((size_t)total, sizeof *devices);
  if (!devices) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
  int at = 0;
  for (int b = 0; b < N_BACKENDS; b++) {
    int n = 0;
    mlg_status st = backends[b]->list_devices(devices + at, counts[b], &n);
    if (st != MLG_OK) {
      free(devices);
      return st;
    }
    at += n < counts[b] ? n : counts[b];
  }
  *out_devices = devices;
  *out_count = at;
  return MLG_OK;
}

mlg_status mlg_list_devices(mlg_device_info *out_devices, int capacity, int *out_count) {
  if (!out_count) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_list_devices: out_count is NULL");
  *out_count = 0;
  if (capacity < 0 || (capacity > 0 && !out_devices))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_list_devices: no room for %d devices", capacity);
  mlg_device_info *all;
  int n;
  mlg_status st = list_all(&all, &n);
  if (st != MLG_OK) return st;
  for (int i = 0; i < n && i < capacity; i++) out_devices[i] = all[i];
  *out_count = n;
  free(all);
  return MLG_OK;
}

void mlg_format_device_list(char *buf, size_t size) {
  if (size == 0) return;
  buf[0] = '\0';
  mlg_device_info *all;
  int n;
  if (list_all(&all, &n) != MLG_OK || n == 0) {
    snprintf(buf, size, "none");
    return;
  }
  size_t used = 0;
  for (int i = 0; i < n && used < size; i++) {
    int w = snprintf(buf + used, size - used, "%s%s (%s, %s)", i ? ", " : "", all[i].spec,
                     all[i].name, all[i].is_gpu ? "GPU" : "CPU");
    if (w < 0) break;
    used += (size_t)w;
  }
  free(all);
}

/* The first GPU (want_gpu) or the CPU device with the most compute units, or -1: a driver
 * may list one CPU several ways (PoCL's serial "basic" device of one unit before its threaded
 * one), and "cpu" means the whole CPU. */
static int first_of_kind(const mlg_device_info *devices, int n, int want_gpu) {
  int best = -1;
  for (int i = 0; i < n; i++) {
    if (!!devices[i].is_gpu != want_gpu) continue;
    if (want_gpu) return i;
    if (best < 0 || devices[i].compute_units > devices[best].compute_units) best = i;
  }
  return best;
}

/* Resolves a spec to an index into list_all's array. `spec` is the caller's or $MLG_DEVICE's
 * (`from` says which, for the message). */
static mlg_status choose_device(const char *spec, const char *from, const mlg_device_info *devices,
                                int n, int *out_index) {
  char available[2048];
  if (!spec || !*spec) {
    int i = first_of_kind(devices, n, 1);
    if (i < 0) i = first_of_kind(devices, n, 0);
    if (i < 0) return mlg_fail(MLG_ERR_NO_DEVICE, "no device found");
    *out_index = i;
    return MLG_OK;
  }
  if (strcmp(spec, "gpu") == 0 || strcmp(spec, "cpu") == 0) {
    int want_gpu = spec[0] == 'g', i = first_of_kind(devices, n, want_gpu);
    if (i >= 0) {
      *out_index = i;
      return MLG_OK;
    }
    mlg_format_device_list(available, sizeof available);
    return mlg_fail(MLG_ERR_NO_DEVICE, "no %s device found%s; available: %s",
                    want_gpu ? "GPU" : "CPU", from, available);
  }
  for (int b = 0; b < N_BACKENDS; b++) {
    const char *name = backends[b]->name;
    size_t len = strlen(name);
    /* A backend's name alone is its device 0. */
    if (strncmp(spec, name, len) != 0 || (spec[len] != ':' && spec[len] != '\0')) continue;
    const char *digits = spec[len] ? spec + len + 1 : "0";
    char *end = NULL;
    errno = 0;
    long k = strtol(digits, &end, 10);
    if (*digits < '0' || *digits > '9' || *end != '\0' || errno != 0 || k > 1000000) break;
    char want[40];
    snprintf(want, sizeof want, "%s:%ld", name, k);
    for (int i = 0; i < n; i++)
      if (strcmp(devices[i].spec, want) == 0) {
        *out_index = i;
        return MLG_OK;
      }
    mlg_format_device_list(available, sizeof available);
    /* Why the backend found none, when it knows (a loader that would not open). */
    const char *why = backends[b]->why_no_devices ? backends[b]->why_no_devices() : NULL;
    return mlg_fail(MLG_ERR_NO_DEVICE, "no device '%s'%s; available: %s%s%s", spec, from, available,
                    why && *why ? "; " : "", why && *why ? why : "");
  }
  mlg_format_device_list(available, sizeof available);
  return mlg_fail(MLG_ERR_INVALID_ARGUMENT,
                  "unknown device spec '%s'%s; expected " MLG_DEVICE_SPEC_FORMS "; available: %s", spec,
                  from, available);
}

/* NULL: $MLG_CACHE_DIR, else $XDG_CACHE_HOME/mlg, else $HOME/.cache/mlg; "" or no home: none. */
static mlg_status resolve_cache_dir(const char *option, char **out_dir) {
  *out_dir = NULL;
  char dir[4096];
  if (!mlg_cache_dir_resolve(option, dir, sizeof dir)) return MLG_OK;
  *out_dir = strdup(dir);
  if (!*out_dir) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  return MLG_OK;
}

mlg_status mlg_runtime_create(const mlg_runtime_options *options, mlg_runtime **out_runtime) {
  if (!out_runtime) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_runtime_create: out_runtime is NULL");
  *out_runtime = NULL;
  mlg_runtime_options defaults = {0};
  if (!options) options = &defaults;

  const char *spec = options->device;
  const char *from = "";
  if (!spec) {
    spec = getenv("MLG_DEVICE");
    if (spec && *spec) from = " (from MLG_DEVICE)";
  }

  mlg_device_info *devices;
  int n;
  mlg_status st = list_all(&devices, &n);
  if (st != MLG_OK) return st;
  if (n == 0) return mlg_fail(MLG_ERR_NO_DEVICE, NO_PLATFORM_MESSAGE);
  int index = -1;
  st = choose_device(spec, from, devices, n, &index);
  if (st != MLG_OK) {
    free(devices);
    return st;
  }

  /* Map the global index back to (backend, index within it): devices are listed backend by
   * backend, and each spec ends in the backend-local number. */
  const mlg_backend *backend = NULL;
  int local = 0;
  for (int b = 0; b < N_BACKENDS; b++) {
    size_t len = strlen(backends[b]->name);
    if (strncmp(devices[index].spec, backends[b]->name, len) == 0 && devices[index].spec[len] == ':') {
      backend = backends[b];
      local = atoi(devices[index].spec + len + 1);
    }
  }
  free(devices);
  if (!backend) return mlg_fail(MLG_ERR_NO_DEVICE, "internal: device without a backend");

  mlg_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory creating the runtime");
  rt->backend = backend;
  rt->enable_profiling = options->enable_profiling;
  st = resolve_cache_dir(options->cache_dir, &rt->cache_dir);
  if (st == MLG_OK) st = backend->device_create(local, options->enable_profiling, &rt->device, &rt->info);
  if (st != MLG_OK) {
    free(rt->cache_dir);
    free(rt);
    return st;
  }
  *out_runtime = rt;
  return MLG_OK;
}

void mlg_runtime_destroy(mlg_runtime *runtime) {
  if (!runtime) return;
  runtime->backend->device_destroy(runtime->device);
  free(runtime->cache_dir);
  free(runtime);
}

const mlg_device_info *mlg_runtime_device(const mlg_runtime *runtime) {
  return runtime ? &runtime->info : NULL;
}

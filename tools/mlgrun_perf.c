/* mlgrun_perf.c — device limits and the profile table of mlgrun (see mlgrun_perf.h and
 * docs/performance.md). */
#include "mlgrun_perf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"

/* Each work-item copies one float4; offsets are in floats, as every mlg kernel takes them. */
static const char COPY_SOURCE[] =
    "__kernel void mlg_copy4(__global const float *x, uint x_off, __global float *y, uint y_off) {\n"
    "  size_t i = get_global_id(0);\n"
    "  vstore4(vload4(i, x + x_off), i, y + y_off);\n"
    "}\n";
#define COPY_LOCAL 256
#define COPY_WARMUP 2
#define COPY_RUNS 5

/* A bundle with one input x and one output y of `n` floats each, and one copy dispatch. */
static int copy_bundle(uint64_t n, uint8_t **out_data, size_t *out_size, char *err, size_t err_size) {
  uint64_t bytes = n * 4;
  mlgb_tensor tensors[2] = {
      {.name = "x", .dtype = MLGB_F32, .role = MLGB_ROLE_INPUT, .region = MLGB_REGION_IO, .rank = 1,
       .dims = {(int64_t)n}, .offset = 0, .size = bytes},
      {.name = "y", .dtype = MLGB_F32, .role = MLGB_ROLE_OUTPUT, .region = MLGB_REGION_IO, .rank = 1,
       .dims = {(int64_t)n}, .offset = bytes, .size = bytes},
  };
  mlgb_module module = {.kind = MLGB_MODULE_OPENCL_C, .size = sizeof COPY_SOURCE - 1, .data = (uint8_t *)COPY_SOURCE};
  uint32_t args[2] = {0, 1};
  mlgb_kernel kernel = {.name = "mlg_copy4", .module = 0, .local_size = {COPY_LOCAL, 1, 1}, .n_params = 2};
  mlgb_dispatch dispatch = {.name = "y", .kernel = 0, .programs = MLGB_PROGRAM_RUN,
                            .groups = {(uint32_t)(n / 4 / COPY_LOCAL), 1, 1},
                            .n_args = 2, .args = args, .bytes = 2 * bytes};
  mlgb_bundle b = {
      .target = MLGB_TARGET_OPENCL,
      .model_name = "mlg_copy_bandwidth",
      .producer = "mlgrun",
      .alignment = 256,
      .region_size = {0, 2 * bytes, 0},
      .n_tensors = 2,
      .tensors = tensors,
      .n_modules = 1,
      .modules = &module,
      .n_kernels = 1,
      .kernels = &kernel,
      .n_dispatches = 1,
      .dispatches = &dispatch,
  };
  return mlgb_write(&b, out_data, out_size, err, err_size);
}

mlg_status perf_measure_copy(mlg_runtime *rt, uint64_t bytes, double *out_gbps) {
  *out_gbps = 0;
  const mlg_device_info *dev = mlg_runtime_device(rt);
  if (!dev || strcmp(dev->backend, "opencl") != 0) return MLG_ERR_UNSUPPORTED;
  uint64_t n = (bytes / 4096) * 1024; /* floats: a multiple of COPY_LOCAL float4s */
  if (n == 0) n = 1024;
  uint8_t *data = NULL;
  size_t size = 0;
  char err[512];
  if (copy_bundle(n, &data, &size, err, sizeof err) != 0) {
    fprintf(stderr, "mlgrun: warning: cannot build the copy bundle: %s\n", err);
    return MLG_ERR_FORMAT;
  }
  mlg_model *model = NULL;
  mlg_session *session = NULL;
  float *host = calloc((size_t)n, sizeof *host);
  mlg_status st = host ? MLG_OK : MLG_ERR_OUT_OF_MEMORY;
  if (st == MLG_OK) st = mlg_model_load_memory(rt, data, size, NULL, &model);
  free(data);
  if (st == MLG_OK) st = mlg_session_create(model, &session);
  if (st == MLG_OK) st = mlg_session_set_input(session, "x", host, (size_t)n * 4);
  uint64_t best = 0;
  for (int r = 0; r < COPY_WARMUP + COPY_RUNS && st == MLG_OK; r++) {
    st = mlg_session_run(session);
    mlg_dispatch_profile p;
    int count = 0;
    if (st == MLG_OK) st = mlg_session_profile(session, &p, 1, &count);
    if (st == MLG_OK && r >= COPY_WARMUP && count == 1 && p.device_ns > 0 && (best == 0 || p.device_ns < best))
      best = p.device_ns;
  }
  if (st == MLG_OK && best > 0) *out_gbps = 2.0 * (double)n * 4.0 / (double)best;
  mlg_session_destroy(session);
  mlg_model_destroy(model);
  free(host);
  return st;
}

/* The OpenCL device with dev's name and kind, other than dev, into *twin; 1 if there is one. */
static int opencl_twin(const mlg_device_info *dev, mlg_device_info *twin) {
  int n = 0;
  if (mlg_list_devices(NULL, 0, &n) != MLG_OK || n <= 0) return 0;
  mlg_device_info *all = calloc((size_t)n, sizeof *all);
  int found = 0;
  if (all && mlg_list_devices(all, n, &n) == MLG_OK)
    for (int i = 0; i < n && !found; i++)
      if (strcmp(all[i].backend, "opencl") == 0 && strcmp(all[i].name, dev->name) == 0 &&
          all[i].is_gpu == dev->is_gpu) {
        *twin = all[i];
        found = 1;
      }
  free(all);
  return found;
}

/* CACHE/copy-bandwidth-<hash>.txt for a device and a copy size, and the text the file holds
 * besides the figure (the key, checked on reading). 0, or -1 when there is no cache folder. */
static int copy_cache_file(const mlg_device_info *dev, uint64_t bytes, char *path, size_t path_size, char *key,
                           size_t key_size) {
  char dir[4096];
  if (!mlg_cache_dir_resolve(NULL, dir, sizeof dir)) return -1;
  snprintf(key, key_size, "mlg copy bandwidth 1\ndevice %s\nplatform %s\ndriver %s\nbytes %" PRIu64 "\n", dev->name,
           dev->platform, dev->driver, bytes);
  uint64_t h = mlg_fnv1a(MLG_FNV_SEED, key, strlen(key));
  int w = snprintf(path, path_size, "%s/copy-bandwidth-%016" PRIx64 ".txt", dir, h);
  return w > 0 && (size_t)w < path_size ? 0 : -1;
}

/* The cached figure: 1 with *out_gbps, or 0 (no file, another key, malformed). */
static int copy_cache_read(const char *path, const char *key, double *out_gbps) {
  uint8_t *data = NULL;
  size_t size = 0;
  char err[256];
  if (mlg_read_file_limit(path, MLG_READ_LIMIT_TEXT, &data, &size, err, sizeof err) != 0) return 0;
  size_t klen = strlen(key);
  int ok = size > klen && memcmp(data, key, klen) == 0;
  if (ok) {
    char num[64] = "";
    size_t n = size - klen < sizeof num - 1 ? size - klen : sizeof num - 1;
    memcpy(num, data + klen, n);
    ok = sscanf(num, "gbps %lf", out_gbps) == 1 && *out_gbps > 0;
  }
  free(data);
  return ok;
}

void perf_limits_measure(mlg_runtime *rt, uint64_t copy_bytes, int use_cache, perf_limits *out) {
  memset(out, 0, sizeof *out);
  const mlg_device_info *dev = mlg_runtime_device(rt);
  out->peak_gflops = dev->peak_gflops;
  snprintf(out->peak_formula, sizeof out->peak_formula, "%s", dev->peak_formula);
  mlg_device_info twin;
  int is_opencl = strcmp(dev->backend, "opencl") == 0;
  int has_twin = !is_opencl && opencl_twin(dev, &twin);
  if (has_twin && out->peak_gflops <= 0 && twin.peak_gflops > 0) {
    out->peak_gflops = twin.peak_gflops;
    snprintf(out->peak_formula, sizeof out->peak_formula, "%s (of its OpenCL twin %s)", twin.peak_formula,
             twin.spec);
  }
  if (out->peak_gflops <= 0)
    snprintf(out->peak_why, sizeof out->peak_why, "%s", is_opencl
             ? "mlg does not know this device's FP32 units per compute unit"
             : has_twin ? "Vulkan reports neither the clock nor the FP32 units, nor does its OpenCL twin"
                        : "Vulkan reports neither the clock nor the FP32 units, and no OpenCL twin does");
  if (copy_bytes == 0) return;
  out->copy_bytes = (copy_bytes / 4096) * 4096;
  if (!is_opencl && !has_twin) {
    snprintf(out->why_not, sizeof out->why_not,
             "the copy kernel is OpenCL C, and %s has no OpenCL twin (no OpenCL device named '%s')",
             dev->spec, dev->name);
    return;
  }
  const mlg_device_info *measured = has_twin ? &twin : dev;
  char path[4300], key[1024];
  int cacheable = copy_cache_file(measured, out->copy_bytes, path, sizeof path, key, sizeof key) == 0;
  if (use_cache && cacheable && copy_cache_read(path, key, &out->copy_gbps)) {
    snprintf(out->copy_source, sizeof out->copy_source, "cached in %s; mlgrun --limits measures again", path);
    return;
  }

  mlg_runtime *on = rt;
  mlg_status st = MLG_OK;
  if (has_twin) {
    mlg_runtime_options ro = {.device = twin.spec, .enable_profiling = 1};
    st = mlg_runtime_create(&ro, &on);
  }
  if (st == MLG_OK) st = perf_measure_copy(on, copy_bytes, &out->copy_gbps);
  if (st != MLG_OK) {
    snprintf(out->why_not, sizeof out->why_not, "%s", mlg_last_error());
    out->copy_gbps = 0;
  }
  if (has_twin) mlg_runtime_destroy(on == rt ? NULL : on);
  if (out->copy_gbps <= 0) return;
  if (has_twin)
    snprintf(out->copy_source, sizeof out->copy_source, "measured on %s, the OpenCL twin of %s", twin.spec,
             dev->spec);
  else
    snprintf(out->copy_source, sizeof out->copy_source, "measured now");
  char body[64];
  int w = snprintf(body, sizeof body, "gbps %.3f\n", out->copy_gbps);
  char dir[4300];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  /* A cache: failing to write it is no error. */
  if (cacheable && slash && mlg_make_dirs(dir) == 0) mlg_write_file_atomic(path, key, strlen(key), body, (size_t)w);
}

void perf_limits_print(FILE *f, const mlg_device_info *dev, const perf_limits *l) {
  fprintf(f, "device: %s %s [%s, %s], %d compute units, %d MHz\n", dev->spec, dev->name, dev->platform,
          dev->is_gpu ? "GPU" : "CPU", dev->compute_units, dev->max_clock_mhz);
  char peak[64] = "unknown", copy[64] = "not measured";
  if (l->peak_gflops > 0) {
    fprintf(f, "peak FP32: %.1f GFLOP/s = %s\n", l->peak_gflops, l->peak_formula);
    snprintf(peak, sizeof peak, "%.1f GFLOP/s", l->peak_gflops);
  } else {
    fprintf(f, "peak FP32: unknown: %s\n", l->peak_why[0] ? l->peak_why : "the device does not say");
  }
  if (l->copy_gbps > 0) {
    fprintf(f, "copy bandwidth: %.1f GB/s (float4 copy of %.0f MiB, read + written bytes / device time, best of %d; %s)\n",
            l->copy_gbps, (double)l->copy_bytes / (1 << 20), COPY_RUNS, l->copy_source);
    snprintf(copy, sizeof copy, "%.1f GB/s", l->copy_gbps);
  } else if (l->why_not[0]) {
    fprintf(f, "copy bandwidth: not measured: %s\n", l->why_not);
  }
  fprintf(f, "limits: peak %s, copy %s\n", peak, copy);
}

/* ---- the table ---- */

static const char *human(char *buf, size_t size, double v) {
  const char *units[] = {"", "K", "M", "G", "T", "P"};
  int u = 0;
  while (v >= 1000 && u < 5) {
    v /= 1000;
    u++;
  }
  snprintf(buf, size, u ? "%.2f%s" : "%.0f%s", v, units[u]);
  return buf;
}

void perf_print_profile(FILE *f, const mlgb_bundle *b, const mlg_dispatch_profile *prof, int n,
                        const perf_limits *l) {
  uint64_t total_ns = 0, total_bytes = 0, total_flops = 0;
  for (int i = 0; i < n; i++) total_ns += prof[i].device_ns;
  fprintf(f, "%4s  %-16s %-24s %10s %6s %9s %8s %9s %9s %6s %4s\n", "#", "value", "kernel", "device_us", "%time",
          "bytes", "GB/s", "FLOPs", "GFLOP/s", "%limit", "by");
  for (int i = 0; i < n; i++) {
    const mlg_dispatch_profile *p = &prof[i];
    const mlgb_dispatch *dp = p->dispatch_index >= 0 && (uint32_t)p->dispatch_index < b->n_dispatches
                                  ? &b->dispatches[p->dispatch_index] : NULL;
    /* The compiler's counts; a bundle without them (bytes 0) shows the bound tensors' bytes. */
    uint64_t flops = dp ? dp->flops : 0, bytes = dp && dp->bytes ? dp->bytes : p->bytes;
    total_bytes += bytes;
    total_flops += flops;
    double s = p->device_ns * 1e-9;
    double gbps = s > 0 ? bytes / s * 1e-9 : 0, gflops = s > 0 ? flops / s * 1e-9 : 0;
    double mem_frac = l->copy_gbps > 0 ? gbps / l->copy_gbps : 0;
    double flop_frac = l->peak_gflops > 0 ? gflops / l->peak_gflops : 0;
    char bytes_s[32], flops_s[32], lim_s[16];
    if (mem_frac > 0 || flop_frac > 0)
      snprintf(lim_s, sizeof lim_s, "%.1f", 100 * (mem_frac > flop_frac ? mem_frac : flop_frac));
    else
      snprintf(lim_s, sizeof lim_s, "-");
    char name_s[80], kernel_s[80]; /* from the bundle: made safe for the terminal */
    fprintf(f, "%4d  %-16.16s %-24.24s %10.1f %6.1f %9s %8.1f %9s %9.1f %6s %4s\n", p->dispatch_index,
            mlg_sanitize(p->name, 0, name_s, sizeof name_s), mlg_sanitize(p->kernel, 0, kernel_s, sizeof kernel_s),
            p->device_ns / 1e3, total_ns ? 100.0 * p->device_ns / total_ns : 0.0, human(bytes_s, sizeof bytes_s, bytes),
            gbps, human(flops_s, sizeof flops_s, (double)flops), gflops, lim_s,
            mem_frac == 0 && flop_frac == 0 ? "" : mem_frac > flop_frac ? "mem" : "flop");
  }
  double s = total_ns * 1e-9;
  char bytes_s[32], flops_s[32];
  fprintf(f, "total: %d dispatches, %.1f us device, %s bytes (%.1f GB/s), %s FLOPs (%.1f GFLOP/s)\n", n,
          total_ns / 1e3, human(bytes_s, sizeof bytes_s, total_bytes), s > 0 ? total_bytes / s * 1e-9 : 0,
          human(flops_s, sizeof flops_s, (double)total_flops), s > 0 ? total_flops / s * 1e-9 : 0);
  fprintf(f, "(bytes, FLOPs: the compiler's counts from each op's cost rule, a fused kernel's bytes being the "
             "tensors it binds; %%limit: the larger of GB/s / copy bandwidth and GFLOP/s / peak FP32)\n");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int perf_warming(int done, int min_runs, uint64_t started_ns) {
  return done < min_runs || mlg_monotonic_ns() - started_ns < (uint64_t)PERF_WARMUP_MS * 1000000u;
}

double perf_median(double *v, int n) {
  if (n <= 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

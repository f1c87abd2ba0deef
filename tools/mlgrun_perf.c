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

/* Each work-item runs FMA_CHAINS independent chains of float16 multiply-adds, FMA_STEPS long,
 * from operands the compiler cannot see (x holds ones and zeros), and stores their sum. */
#define FMA_CHAINS 8
#define FMA_STEPS 4096
#define FMA_TEXT(x) #x
#define FMA_STR(x) FMA_TEXT(x) /* FMA_STEPS in the kernel's source */
#define FMA_LOCAL 16
#define FMA_GROUPS_PER_UNIT 8
/* Each run takes about 1 ms on 2 cores; a core another process takes for a moment spoils a
 * run, and the best of many is the machine's rate (best of 5 read 154–179 against 235 while a
 * benchmark of another process ran). */
#define FMA_RUNS 30
static const char FMA_SOURCE[] =
    "__kernel void mlg_fma16(__global const float *x, uint x_off, __global float *y, uint y_off) {\n"
    "  size_t i = get_global_id(0);\n"
    "  float16 m = vload16(0, x + x_off), c = vload16(1, x + x_off) * 1e-3f;\n"
    "  float16 a0 = c + (float)i, a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;\n"
    "  float16 a4 = a0 + 4.0f, a5 = a0 + 5.0f, a6 = a0 + 6.0f, a7 = a0 + 7.0f;\n"
    "  for (int k = 0; k < " FMA_STR(FMA_STEPS) "; k++) {\n"
    "    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);\n"
    "    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);\n"
    "  }\n"
    "  vstore16(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)), i, y + y_off);\n"
    "}\n";

/* A bundle with one input x of `n_in` floats and one output y of `n_out`, and one dispatch of
 * `kernel_name` from OpenCL C `source` over `groups` groups of `local` items. */
static int probe_bundle(const char *name, const char *source, const char *kernel_name, uint64_t n_in, uint64_t n_out,
                        uint32_t local, uint32_t groups, uint64_t dispatch_bytes, uint64_t dispatch_flops,
                        uint8_t **out_data, size_t *out_size, char *err, size_t err_size) {
  uint64_t in_bytes = n_in * 4, out_bytes = n_out * 4, out_at = (in_bytes + 255) / 256 * 256;
  mlgb_tensor tensors[2] = {
      {.name = "x", .dtype = MLGB_F32, .role = MLGB_ROLE_INPUT, .region = MLGB_REGION_IO, .rank = 1,
       .dims = {(int64_t)n_in}, .offset = 0, .size = in_bytes},
      {.name = "y", .dtype = MLGB_F32, .role = MLGB_ROLE_OUTPUT, .region = MLGB_REGION_IO, .rank = 1,
       .dims = {(int64_t)n_out}, .offset = out_at, .size = out_bytes},
  };
  mlgb_module module = {.kind = MLGB_MODULE_OPENCL_C, .size = strlen(source), .data = (uint8_t *)source};
  uint32_t args[2] = {0, 1};
  mlgb_kernel kernel = {.name = (char *)kernel_name, .module = 0, .local_size = {local, 1, 1}, .n_params = 2};
  mlgb_dispatch dispatch = {.name = "y", .kernel = 0, .programs = MLGB_PROGRAM_RUN, .groups = {groups, 1, 1},
                            .n_args = 2, .args = args, .bytes = dispatch_bytes, .flops = dispatch_flops};
  mlgb_bundle b = {
      .target = MLGB_TARGET_OPENCL,
      .model_name = (char *)name,
      .producer = "mlgrun",
      .alignment = 256,
      .region_size = {0, out_at + out_bytes, 0},
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

/* Runs a probe bundle COPY_WARMUP + `runs` times with input x = `x` (n_in floats); the best
 * run's device ns into *out_ns. */
static mlg_status probe_run(mlg_runtime *rt, const uint8_t *data, size_t size, const float *x, uint64_t n_in,
                            int runs, uint64_t *out_ns) {
  *out_ns = 0;
  mlg_model *model = NULL;
  mlg_session *session = NULL;
  mlg_status st = mlg_model_load_memory(rt, data, size, NULL, &model);
  if (st == MLG_OK) st = mlg_session_create(model, &session);
  if (st == MLG_OK) st = mlg_session_set_input(session, "x", x, (size_t)n_in * 4);
  for (int r = 0; r < COPY_WARMUP + runs && st == MLG_OK; r++) {
    st = mlg_session_run(session);
    mlg_dispatch_profile p;
    int count = 0;
    if (st == MLG_OK) st = mlg_session_profile(session, &p, 1, &count);
    if (st == MLG_OK && r >= COPY_WARMUP && count == 1 && p.device_ns > 0 && (*out_ns == 0 || p.device_ns < *out_ns))
      *out_ns = p.device_ns;
  }
  mlg_session_destroy(session);
  mlg_model_destroy(model);
  return st;
}

mlg_status perf_measure_fma(mlg_runtime *rt, double *out_gflops) {
  *out_gflops = 0;
  const mlg_device_info *dev = mlg_runtime_device(rt);
  if (!dev || strcmp(dev->backend, "opencl") != 0) return MLG_ERR_UNSUPPORTED;
  uint32_t groups = (uint32_t)(dev->compute_units > 0 ? dev->compute_units : 1) * FMA_GROUPS_PER_UNIT;
  uint64_t items = (uint64_t)groups * FMA_LOCAL;
  double flops = (double)items * FMA_STEPS * FMA_CHAINS * 16 * 2;
  uint8_t *data = NULL;
  size_t size = 0;
  char err[512];
  if (probe_bundle("mlg_peak_fp32", FMA_SOURCE, "mlg_fma16", 32, items * 16, FMA_LOCAL, groups, 0, (uint64_t)flops,
                   &data, &size, err, sizeof err) != 0) {
    fprintf(stderr, "mlgrun: warning: cannot build the FMA bundle: %s\n", err);
    return MLG_ERR_FORMAT;
  }
  float x[32];
  for (int i = 0; i < 32; i++) x[i] = i < 16 ? 1.0f : 0.0f;
  uint64_t best = 0;
  mlg_status st = probe_run(rt, data, size, x, 32, FMA_RUNS, &best);
  free(data);
  if (st == MLG_OK && best > 0) *out_gflops = flops / (double)best;
  return st;
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
  if (probe_bundle("mlg_copy_bandwidth", COPY_SOURCE, "mlg_copy4", n, n, COPY_LOCAL, (uint32_t)(n / 4 / COPY_LOCAL),
                   2 * n * 4, 0, &data, &size, err, sizeof err) != 0) {
    fprintf(stderr, "mlgrun: warning: cannot build the copy bundle: %s\n", err);
    return MLG_ERR_FORMAT;
  }
  float *host = calloc((size_t)n, sizeof *host);
  uint64_t best = 0;
  mlg_status st = host ? probe_run(rt, data, size, host, n, COPY_RUNS, &best) : MLG_ERR_OUT_OF_MEMORY;
  free(data);
  free(host);
  if (st == MLG_OK && best > 0) *out_gbps = 2.0 * (double)n * 4.0 / (double)best;
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

/* CACHE/<what>-<hash>.txt for a measurement (`what`: "copy-bandwidth", "peak-fp32") of a
 * device (and a copy size: 0 for none), and the text the file holds besides the figure (the
 * key, checked on reading). 0, or -1 when there is no cache folder. */
static int limit_cache_file(const char *what, const mlg_device_info *dev, uint64_t bytes, char *path,
                            size_t path_size, char *key, size_t key_size) {
  char dir[4096];
  if (!mlg_cache_dir_resolve(NULL, dir, sizeof dir)) return -1;
  snprintf(key, key_size, "mlg %s 1\ndevice %s\nplatform %s\ndriver %s\nbytes %" PRIu64 "\n", what, dev->name,
           dev->platform, dev->driver, bytes);
  uint64_t h = mlg_fnv1a(MLG_FNV_SEED, key, strlen(key));
  int w = snprintf(path, path_size, "%s/%s-%016" PRIx64 ".txt", dir, what, h);
  return w > 0 && (size_t)w < path_size ? 0 : -1;
}

/* The cached figure: 1 with *out_value, or 0 (no file, another key, malformed). */
static int limit_cache_read(const char *path, const char *key, double *out_value) {
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
    ok = sscanf(num, "value %lf", out_value) == 1 && *out_value > 0;
  }
  free(data);
  return ok;
}

/* Caches a figure (a cache: failing to write it is no error). */
static void limit_cache_write(const char *path, const char *key, double value) {
  char body[64], dir[4300];
  int w = snprintf(body, sizeof body, "value %.3f\n", value);
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return;
  *slash = '\0';
  if (mlg_make_dirs(dir) == 0) mlg_write_file_atomic(path, key, strlen(key), body, (size_t)w);
}

/* A CPU's nominal clock (the only one OpenCL reports) is its base clock, often below what its
 * cores run at (the 2-core Zen 4 VM: 2596 MHz nominal, FMA chains at 3.66 GHz), so its peak is
 * measured: the FMA kernel, cached like the copy bandwidth. Replaces the formula when it ran. */
static void measure_cpu_peak(mlg_runtime *rt, const mlg_device_info *dev, int use_cache, perf_limits *out) {
  char path[4300], key[1024], source[4400];
  double gflops = 0;
  int cacheable = limit_cache_file("peak-fp32", dev, 0, path, sizeof path, key, sizeof key) == 0;
  if (use_cache && cacheable && limit_cache_read(path, key, &gflops)) {
    snprintf(source, sizeof source, "cached in %s", path);
  } else {
    if (perf_measure_fma(rt, &gflops) != MLG_OK || gflops <= 0) return; /* the formula stays */
    snprintf(source, sizeof source, "measured now");
    /* A peak is the most the machine gave: a reading under another process's load (118 GFLOP/s
     * beside a busy loop here) does not replace a higher one in the cache --profile reads. */
    double cached = 0;
    if (cacheable && !(limit_cache_read(path, key, &cached) && cached > gflops)) limit_cache_write(path, key, gflops);
  }
  char formula[400];
  if (out->peak_gflops > 0)
    snprintf(formula, sizeof formula, "; at the nominal clock %.1f = %.300s", out->peak_gflops, out->peak_formula);
  else
    formula[0] = '\0';
  snprintf(out->peak_formula, sizeof out->peak_formula,
           "measured: %d float16 FMA chains per work-item on every core, best of %d (%s)%s", FMA_CHAINS,
           FMA_RUNS, source, formula);
  out->peak_gflops = gflops;
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
  if (is_opencl && !dev->is_gpu && copy_bytes > 0) measure_cpu_peak(rt, dev, use_cache, out);
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
  int cacheable = limit_cache_file("copy-bandwidth", measured, out->copy_bytes, path, sizeof path, key, sizeof key) == 0;
  if (use_cache && cacheable && limit_cache_read(path, key, &out->copy_gbps)) {
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
  if (cacheable) limit_cache_write(path, key, out->copy_gbps);
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
                        const perf_limits *l, double prepare_ms) {
  uint64_t total_ns = 0, total_bytes = 0, total_flops = 0;
  int n_shown = 0, n_prepared = 0;
  for (int i = 0; i < n; i++) total_ns += prof[i].device_ns;
  fprintf(f, "%4s  %-16s %-24s %10s %6s %9s %8s %9s %9s %6s %4s\n", "#", "value", "kernel", "device_us", "%time",
          "bytes", "GB/s", "FLOPs", "GFLOP/s", "%limit", "by");
  for (int i = 0; i < n; i++) {
    const mlg_dispatch_profile *p = &prof[i];
    const mlgb_dispatch *dp = p->dispatch_index >= 0 && (uint32_t)p->dispatch_index < b->n_dispatches
                                  ? &b->dispatches[p->dispatch_index] : NULL;
    if (dp && dp->programs == MLGB_PROGRAM_PREPARE) { /* ran once, when the session started */
      n_prepared++;
      continue;
    }
    n_shown++;
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
  fprintf(f, "total: %d dispatches, %.1f us device, %s bytes (%.1f GB/s), %s FLOPs (%.1f GFLOP/s)\n", n_shown,
          total_ns / 1e3, human(bytes_s, sizeof bytes_s, total_bytes), s > 0 ? total_bytes / s * 1e-9 : 0,
          human(flops_s, sizeof flops_s, (double)total_flops), s > 0 ? total_flops / s * 1e-9 : 0);
  if (n_prepared)
    fprintf(f, "prepared once, when the session started (not in the run): %d dispatches, %.3f ms device "
               "(the weights' packed layouts)\n", n_prepared, prepare_ms);
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

/* mlgrun_perf.h — what mlgrun measures with --profile, --bench and --limits: the device's
 * limits (peak FP32 from its units and clock, or on a CPU from an FMA kernel; copy bandwidth
 * from a copy kernel run in the same process), the per-dispatch table (with the bundle's FLOP and byte counts) and medians.
 * docs/performance.md documents the formulas. Reentrant; nothing here is thread-safe beyond
 * what the runtime's handles are (the copy-bandwidth cache is written atomically). */
#ifndef MLGRUN_PERF_H
#define MLGRUN_PERF_H

#include <stdint.h>
#include <stdio.h>

#include "bundle.h"
#include "mlg.h"

typedef struct perf_limits {
  double peak_gflops;        /* 0: unknown (peak_why says why) */
  char peak_formula[4900];   /* how: the units and clock, or the measurement */
  char peak_why[160];
  double copy_gbps;          /* 0: not measured (why_not says why) */
  uint64_t copy_bytes;       /* bytes read (= bytes written) by the copy kernel */
  char copy_source[4400];    /* where copy_gbps comes from: "measured now", the cache file, the twin */
  char why_not[512];         /* why copy_gbps is 0 when a measurement was asked for */
} perf_limits;

/* Copy bandwidth of rt's device: a float4 copy kernel over `bytes` (rounded down to a multiple
 * of 4 KiB), run a few times through the public API; the best run's (read + written bytes) /
 * device time. rt must have been created with enable_profiling. Returns MLG_OK, or a status
 * with mlg_last_error() set; MLG_ERR_UNSUPPORTED for a non-OpenCL device. */
mlg_status perf_measure_copy(mlg_runtime *rt, uint64_t bytes, double *out_gbps);

/* FP32 multiply-add rate of rt's device: float16 FMA chains, 8 independent ones per work-item,
 * 8 groups of 16 items per compute unit, the best of 30 runs (FLOPs / device time). For CPUs (explicit 16-lane vectors). Same contract as perf_measure_copy. */
mlg_status perf_measure_fma(mlg_runtime *rt, double *out_gflops);

/* Fills limits from rt's device info and, when copy_bytes > 0, its copy bandwidth. The copy
 * kernel is OpenCL C: a device of another backend is measured through its OpenCL twin (the
 * OpenCL device of the same name and kind, whose peak it also takes when its own is unknown);
 * without one, why_not says what cannot be measured. With use_cache, a figure cached for the
 * measured device and size is taken instead of measuring (mlgrun --profile); every measurement
 * is cached, in the runtime's cache folder as copy-bandwidth-<hash>.txt. A failed measurement
 * leaves copy_gbps 0 with the reason in why_not. On an OpenCL CPU (copy_bytes > 0) the peak is
 * measured too (perf_measure_fma; cached as peak-fp32-<hash>.txt), in place of the formula at
 * the nominal clock, which a CPU's turbo exceeds. */
void perf_limits_measure(mlg_runtime *rt, uint64_t copy_bytes, int use_cache, perf_limits *out_limits);
void perf_limits_print(FILE *f, const mlg_device_info *dev, const perf_limits *limits);

/* Prints the --profile table of one run: a row per dispatch with its device time and the
 * bundle's FLOP and byte counts for it (the compiler's, from each op's cost rule), then totals,
 * and a line for the dispatches of the session's preparation (`prepare_ms` of device time when
 * the session started), which no run repeats. */
void perf_print_profile(FILE *f, const mlgb_bundle *bundle, const mlg_dispatch_profile *profile, int n,
                        const perf_limits *limits, double prepare_ms);

/* Median of v[0..n) (sorts v); 0 for n == 0. */
double perf_median(double *v, int n);

/* Whether warm-up goes on after `done` runs that began at started_ns (mlg_monotonic_ns): until
 * both `min_runs` runs and PERF_WARMUP_MS of the clock have passed. GPUs raise their clocks
 * only under sustained load: through NVIDIA's Vulkan driver on the H200, ResNet-18 at batch 16
 * took 19.8 ms a run after three warm-up runs and 4.4 ms after a few hundred ms of work, and a
 * fresh process's profile after 250 ms of warm-up still read 12.7. */
#define PERF_WARMUP_MS 1000
int perf_warming(int done, int min_runs, uint64_t started_ns);

#endif

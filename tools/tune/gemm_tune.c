/* gemm_tune.c — the GEMM tile search (compile, run, check, time each candidate) and its cache. */
#include "gemm_tune.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "compile.h"
#include "dtype.h"
#include "file_util.h"
#include "templates/matmul.h"

#define WARMUP_RUNS 2
#define WARMUP_NS 100000000u      /* 100 ms of device time, */
#define WARMUP_WALL_NS 250000000u /* or 250 ms of the clock, */
#define WARMUP_MAX 2000           /* or this many runs, whichever comes first */
#define TIMED_RUNS 5

/* One representative problem per class and the candidates tried for it. */
typedef struct class_plan {
  int64_t size;              /* the SGEMM is size³ */
  mlg_gemm_tiles cand[160];
  int n_cand;
} class_plan;

static const char *who(const mlg_tune_options *o) { return o->who ? o->who : "mlgtune"; }
static FILE *logf_of(const mlg_tune_options *o) { return o->log ? o->log : stderr; }

/* Adds tiling t to p's candidates where the tiled kernel takes it on a device with
 * `local_mem` bytes of local memory (and p has room). */
static void add_candidate(class_plan *p, const mlg_gemm_tiles *t, int64_t local_mem) {
  if (mlg_gemm_tiles_valid(t, local_mem) && p->n_cand < (int)(sizeof p->cand / sizeof p->cand[0]))
    p->cand[p->n_cand++] = *t;
}

/* Every tiling of the search space that the tiled kernel takes on `dev`: tiles from `tiles`
 * (both axes), K steps from `ks`, blocks 4 or 8 on each axis. */
static void add_space(class_plan *p, const int *tiles, int n_tiles, const int *ks, int n_ks,
                      int64_t local_mem) {
  static const int regs[2] = {4, 8};
  for (int a = 0; a < n_tiles; a++)
    for (int b = 0; b < n_tiles; b++)
      for (int k = 0; k < n_ks; k++)
        for (int ra = 0; ra < 2; ra++)
          for (int rb = 0; rb < 2; rb++)
            add_candidate(p, &(mlg_gemm_tiles){tiles[a], tiles[b], ks[k], regs[ra], regs[rb], 0}, local_mem);
}

static void plan_search(const mlg_device_info *dev, int quick, class_plan plans[MLG_GEMM_N_CLASSES]) {
  int64_t lm = (int64_t)dev->local_mem_bytes;
  memset(plans, 0, sizeof(class_plan) * MLG_GEMM_N_CLASSES);
  if (quick) {
    static const mlg_gemm_tiles q[MLG_GEMM_N_CLASSES][2] = {
        {{64, 64, 16, 4, 4, 0}, {32, 64, 8, 4, 8, 0}},
        {{32, 32, 8, 4, 4, 0}, {64, 32, 16, 8, 4, 0}},
        {{64, 64, 16, 4, 4, 0}, {64, 128, 16, 8, 8, 0}},
    };
    for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) {
      plans[c].size = c == MLG_GEMM_HUGE ? 128 : c == MLG_GEMM_LARGE ? 96 : 64;
      for (int i = 0; i < 2; i++) add_candidate(&plans[c], &q[c][i], lm);
    }
    return;
  }
  static const int large[2] = {64, 128}, medium[2] = {32, 64};
  static const int all_k[3] = {8, 16, 32}, one_k[1] = {16};
  /* A CPU compiles each candidate slowly and runs the tiled kernel only for the layouts its
   * vector kernel does not take: a smaller problem and one K step. */
  int gpu = dev->is_gpu;
  plans[MLG_GEMM_LARGE].size = gpu ? 1024 : 512;
  plans[MLG_GEMM_MEDIUM].size = gpu ? 256 : 128;
  /* Huge problems fill every SM with big tiles, where 1024³ favours small ones (on the H100,
   * 64x128 tiles won at 1024³ but lost to 128x128 at 4096³). The CPU has no huge search: its
   * tiled kernel would take seconds per run there. */
  plans[MLG_GEMM_HUGE].size = gpu ? 2048 : 0;
  if (gpu) add_space(&plans[MLG_GEMM_HUGE], large, 2, all_k, 3, lm);
  /* and the wide tiles the built-in choice takes (matmul.c): 8×16 blocks on OpenCL, 16×8
   * through Vulkan */
  static const mlg_gemm_tiles wide[2] = {{128, 256, 16, 8, 16, 0}, {256, 128, 16, 16, 8, 0}};
  for (int i = 0; gpu && i < 2; i++) add_candidate(&plans[MLG_GEMM_HUGE], &wide[i], lm);
  add_space(&plans[MLG_GEMM_LARGE], large, 2, gpu ? all_k : one_k, gpu ? 3 : 1, lm);
  add_space(&plans[MLG_GEMM_MEDIUM], medium, 2, gpu ? all_k : one_k, gpu ? 3 : 1, lm);
}

/* The kernel template itself must take the tiling (it has the last word: a rejected one
 * would silently fall back to the built-in tiles in lowering). */
static int template_takes(const mlg_device_info *dev, int target, int64_t size, const mlg_gemm_tiles *t) {
  kir_module *m = kir_module_new();
  if (!m) return 0;
  kt_matmul_desc d = {0};
  d.m = d.n = d.k = size;
  d.device_class = dev->is_gpu ? KT_DEVICE_GPU : KT_DEVICE_UNKNOWN;
  d.max_vec = target == MLGB_TARGET_VULKAN ? 4 : 16;
  d.local_mem_bytes = (int64_t)dev->local_mem_bytes;
  d.tile_m = t->tile_m;
  d.tile_n = t->tile_n;
  d.tile_k = t->tile_k;
  d.reg_m = t->reg_m;
  d.reg_n = t->reg_n;
  kir_kernel *k;
  int64_t groups[3];
  int ok = kt_matmul(m, "probe", &d, &k, groups) == 0;
  kir_module_free(m);
  return ok;
}

/* The bundle of c = a @ b (size³) with tiling t forced for every class; or, with mma_config
 * > 0, of the f16 product (operands and result halves) with that tensor-core configuration. */
static int compile_candidate(const mlg_device_info *dev, int target, int64_t size, const mlg_gemm_tiles *t,
                             int mma_config, uint8_t **out_data, size_t *out_size) {
  char text[256];
  const char *ty = mma_config ? "f16" : "f32";
  snprintf(text, sizeof text,
           "model gemm_tune {\n  input a : %s[%" PRId64 ", %" PRId64 "]\n  input b : %s[%" PRId64
           ", %" PRId64 "]\n  output c = matmul(a, b)\n}\n", ty, size, size, ty, size, size);
  mlg_source src;
  if (mlg_source_from_memory(&src, "<gemm tuner>", text, strlen(text)) != 0) return -1;
  mlg_diag diag;
  mlg_diag_init(&diag, &src, NULL);
  mlg_gemm_tuning table;
  memset(&table, 0, sizeof table);
  for (int c = 0; c < MLG_GEMM_N_CLASSES && t; c++) table.cls[c] = *t;
  mlg_compile_options opts = {0};
  opts.target = target;
  opts.opt_level = 2;
  /* Not the CPU class: its vector kernel would take this layout instead of the tiled one. */
  opts.device_class = dev->is_gpu ? KT_DEVICE_GPU : KT_DEVICE_UNKNOWN;
  opts.local_mem_bytes = (int64_t)dev->local_mem_bytes;
  opts.gemm_tuning = &table;
  opts.mma_config = mma_config;
  int rc = mlg_compile(&src, &opts, &diag, out_data, out_size);
  mlg_source_free(&src);
  return rc;
}

/* Exact operands: multiples of 1/8 in [-1, 1], so every product and partial sum (K < 2^18) is
 * exact in f32 and any summation order gives the host's result bit for bit. */
static void fill_operands(float *a, float *b, int64_t n) {
  for (int64_t i = 0; i < n * n; i++) {
    a[i] = (float)((i * 7 + 3) % 17 - 8) / 8.0f;
    b[i] = (float)((i * 5 + 1) % 13 - 6) / 8.0f;
  }
}

/* Rows of C the check compares: all of a small problem, every (n/256)-th of a large one (the
 * host's product of 2048³ would take seconds; any tiling bug shows in sampled rows). */
static int64_t checked_row_step(int64_t n) { return n > 512 ? n / 256 : 1; }

static void host_gemm(const float *a, const float *b, float *c, int64_t n) {
  memset(c, 0, (size_t)(n * n) * sizeof *c);
  for (int64_t i = 0; i < n; i += checked_row_step(n))
    for (int64_t k = 0; k < n; k++) {
      float av = a[i * n + k];
      for (int64_t j = 0; j < n; j++) c[i * n + j] += av * b[k * n + j];
    }
}

static int same(const float *got, const float *want, int64_t n) {
  for (int64_t r = 0; r < n; r += checked_row_step(n))
    for (int64_t i = r * n; i < (r + 1) * n; i++)
      if (!(fabsf(got[i] - want[i]) <= 1e-4f * (1.0f + fabsf(want[i])))) return 0;
  return 1;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* The operands of a candidate: f32, or (f16) halves with the same values. */
typedef struct operands {
  int f16;
  const void *a, *b;
  const float *ref;          /* the host's product (rounded to halves for f16) */
  float *c;                  /* n² floats: the result */
  uint16_t *c16;             /* f16: n² halves, the result as stored */
  const char *kernel;        /* NULL, or what the kernel that ran must be named with ("_mma") */
} operands;

/* Builds, runs, checks and times one candidate: 0 with its GFLOP/s, or -1 (discarded); -2 when
 * the kernel that ran is not named with op->kernel (the device does not run that variant). */
static int measure(mlg_runtime *rt, const uint8_t *bundle, size_t bundle_size, int64_t n, const operands *op,
                   int corrupt, double *out_gflops) {
  mlg_model *model = NULL;
  mlg_session *s = NULL;
  size_t bytes = (size_t)(n * n) * (op->f16 ? 2 : sizeof(float));
  const void *a = op->a, *b = op->b;
  float *c = op->c;
  double times[TIMED_RUNS];
  mlg_dispatch_profile prof[4];
  int rc = -1, timed = 0;
  if (mlg_model_load_memory(rt, bundle, bundle_size, NULL, &model) != MLG_OK ||
      mlg_session_create(model, &s) != MLG_OK || mlg_session_set_input(s, "a", a, bytes) != MLG_OK ||
      mlg_session_set_input(s, "b", b, bytes) != MLG_OK)
    goto done;
  /* Warm-up: WARMUP_RUNS runs, then on until WARMUP_NS of device time, WARMUP_WALL_NS of the
   * clock or WARMUP_MAX runs: on the H100 through Vulkan the first runs of a new device could be
   * several times slower, and on the H200 a 256³ candidate warmed by 50 runs (under a
   * millisecond of work) read 592 GFLOP/s where the same kernel runs at 2.5 TFLOP/s once the
   * GPU has been busy for a while. */
  uint64_t warm_ns = 0, started = mlg_monotonic_ns();
  for (int r = 0, warm = 1; timed < TIMED_RUNS; r++) {
    int count = 0;
    if (mlg_session_run(s) != MLG_OK || mlg_session_profile(s, prof, 4, &count) != MLG_OK || count > 4)
      goto done;
    uint64_t ns = 0;
    for (int i = 0; i < count; i++) ns += prof[i].device_ns;
    if (op->kernel && (count != 1 || !prof[0].kernel || !strstr(prof[0].kernel, op->kernel))) {
      rc = -2;
      goto done;
    }
    if (warm) {
      warm_ns += ns;
      warm = r + 1 < WARMUP_RUNS ||
             (warm_ns < WARMUP_NS && mlg_monotonic_ns() - started < WARMUP_WALL_NS && r + 1 < WARMUP_MAX);
    } else {
      times[timed++] = (double)ns;
    }
  }
  if (mlg_session_get_output(s, "c", op->f16 ? (void *)op->c16 : (void *)c, bytes) != MLG_OK) goto done;
  if (op->f16)
    for (int64_t i = 0; i < n * n; i++) c[i] = mlg_f16_to_f32(op->c16[i]);
  if (corrupt) c[n * n / 2] += 1.0f;
  if (!same(c, op->ref, n)) goto done;
  qsort(times, (size_t)timed, sizeof times[0], cmp_double);
  double median = times[timed / 2];
  if (!(median > 0)) goto done;
  *out_gflops = 2.0 * (double)n * (double)n * (double)n / median;
  rc = 0;
done:
  mlg_session_destroy(s);
  mlg_model_destroy(model);
  return rc;
}

/* The tensor-core GEMM's configurations per class on f16 problems (operands and result halves,
 * the size of the tiled search's problem; quick: configurations 1 and 2 only), where the device
 * runs that variant: the first candidate that runs another kernel (the tiled fallback: no
 * ptxmma / coopmat) ends the search with a note. Returns the classes that got an entry. */
static int search_mma(const mlg_device_info *dev, const mlg_tune_options *o, mlg_runtime *rt, int quick,
                      int target, const class_plan *plans, mlg_gemm_tuning *out, mlg_tune_report *rep) {
  int found = 0;
  for (int cl = 0; cl < MLG_GEMM_N_CLASSES; cl++) {
    int64_t n = plans[cl].size;
    if (n == 0) continue;
    size_t count = (size_t)(n * n);
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    float *ref = malloc(count * sizeof *ref), *c = malloc(count * sizeof *c);
    uint16_t *a16 = malloc(count * 2), *b16 = malloc(count * 2), *c16 = malloc(count * 2);
    mlg_gemm_mma best = {0};
    int absent = 0;
    if (a && b && ref && c && a16 && b16 && c16) {
      fill_operands(a, b, n); /* multiples of 1/8 in [-1, 1]: exact halves */
      host_gemm(a, b, ref, n);
      for (size_t i = 0; i < count; i++) {
        a16[i] = mlg_f32_to_f16(a[i]);
        b16[i] = mlg_f32_to_f16(b[i]);
        ref[i] = mlg_f16_to_f32(mlg_f32_to_f16(ref[i]));
      }
      operands op = {.f16 = 1, .a = a16, .b = b16, .ref = ref, .c = c, .c16 = c16, .kernel = "_mma"};
      for (int i = 1; i <= KT_MMA_N_CONFIGS && !absent; i++) {
        kt_mma_config cfg;
        int64_t lm = dev->local_mem_bytes > 0 && dev->local_mem_bytes < 48 * 1024 ? (int64_t)dev->local_mem_bytes
                                                                                  : 48 * 1024;
        if ((quick && i > 2) || kt_matmul_mma_config(i, &cfg) != 0 || kt_mma_config_local_bytes(&cfg, 0) > lm)
          continue;
        uint8_t *bundle = NULL;
        size_t size = 0;
        double gflops = 0;
        rep->n_tried++;
        int rc = compile_candidate(dev, target, n, NULL, i, &bundle, &size) == 0
                     ? measure(rt, bundle, size, n, &op, 0, &gflops) : -1;
        free(bundle);
        if (rc == -2) {
          absent = 1;
          rep->n_tried--;
          fprintf(logf_of(o), "%s: note: '%s' does not run the tensor-core GEMM (no ptxmma or coopmat): "
                  "no search of its configurations\n", who(o), dev->name);
        } else if (rc != 0) {
          rep->n_rejected++;
        } else if (gflops > best.gflops) {
          best.config = i;
          best.gflops = gflops;
        }
      }
    }
    free(a);
    free(b);
    free(ref);
    free(c);
    free(a16);
    free(b16);
    free(c16);
    if (absent) break;
    if (best.config) {
      kt_mma_config cfg;
      char text[96];
      kt_matmul_mma_config(best.config, &cfg);
      kt_mma_config_format(&cfg, text, sizeof text);
      out->mma[cl] = best;
      found++;
      fprintf(logf_of(o), "%s: tuned tensor-core GEMM for '%s' (%s: configuration %d, %s, %.1f GFLOP/s)\n",
              who(o), dev->name, mlg_gemm_class_name((mlg_gemm_class)cl), best.config, text, best.gflops);
    }
  }
  return found;
}

/* Searches every class; returns the number of classes that got an entry, or -1 when no search
 * could run (no runtime on the device, out of memory). */
static int search(const mlg_device_info *dev, const mlg_tune_options *o, mlg_gemm_tuning *out,
                  mlg_tune_report *rep) {
  int quick = o->quick;
  const char *env = getenv("MLG_TUNE_QUICK");
  if (env && strcmp(env, "1") == 0) quick = 1;
  int target = strcmp(dev->backend, "vulkan") == 0 ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL;
  mlg_runtime_options ro = {.device = dev->spec, .cache_dir = "", .enable_profiling = 1};
  mlg_runtime *rt = NULL;
  if (mlg_runtime_create(&ro, &rt) != MLG_OK) {
    fprintf(logf_of(o), "%s: warning: cannot tune GEMM on %s: %s\n", who(o), dev->spec, mlg_last_error());
    return -1;
  }
  class_plan *plans = malloc(sizeof(class_plan) * MLG_GEMM_N_CLASSES);
  int found = 0;
  if (!plans) {
    mlg_runtime_destroy(rt);
    return -1;
  }
  plan_search(dev, quick, plans);
  int total = 0, done = 0;
  for (int cl = 0; cl < MLG_GEMM_N_CLASSES; cl++) total += plans[cl].size ? plans[cl].n_cand : 0;
  for (int cl = 0; cl < MLG_GEMM_N_CLASSES; cl++) {
    const class_plan *p = &plans[cl];
    int64_t n = p->size;
    if (n == 0) continue; /* a class this device is not searched for */
    size_t count = (size_t)(n * n);
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    float *ref = malloc(count * sizeof *ref), *c = malloc(count * sizeof *c);
    mlg_gemm_tiles best = {0};
    if (a && b && ref && c) {
      fill_operands(a, b, n);
      host_gemm(a, b, ref, n);
      for (int i = 0; i < p->n_cand; i++) {
        const mlg_gemm_tiles *t = &p->cand[i];
        uint8_t *bundle = NULL;
        size_t size = 0;
        double gflops = 0;
        rep->n_tried++;
        operands op = {.a = a, .b = b, .ref = ref, .c = c};
        int ok = template_takes(dev, target, n, t) &&
                 compile_candidate(dev, target, n, t, 0, &bundle, &size) == 0 &&
                 measure(rt, bundle, size, n, &op, o->corrupt_candidate == i + 1, &gflops) == 0;
        free(bundle);
        if (o->progress) o->progress(o->progress_user, ++done, total);
        if (!ok) {
          rep->n_rejected++;
          continue;
        }
        if (gflops > best.gflops) {
          best = *t;
          best.gflops = gflops;
        }
      }
    }
    free(a);
    free(b);
    free(ref);
    free(c);
    char tiles[64];
    if (best.tile_m) {
      out->cls[cl] = best;
      found++;
      mlg_gemm_tiles_format(&best, tiles, sizeof tiles);
      fprintf(logf_of(o), "%s: tuned GEMM for '%s' (%s: %s, %.1f GFLOP/s)\n", who(o), dev->name,
              mlg_gemm_class_name((mlg_gemm_class)cl), tiles, best.gflops);
    } else {
      fprintf(logf_of(o), "%s: warning: no GEMM candidate for class %s built, ran and matched on '%s'; "
              "keeping the built-in tiles\n", who(o), mlg_gemm_class_name((mlg_gemm_class)cl), dev->name);
    }
  }
  /* Tensor cores: GPUs only (the variant is never built for a CPU). */
  if (dev->is_gpu) found += search_mma(dev, o, rt, quick, target, plans, out, rep);
  free(plans);
  mlg_runtime_destroy(rt);
  return found;
}

int mlg_tune_cache_path(const mlg_device_info *dev, const char *cache_dir, char *buf, size_t size) {
  uint64_t h = MLG_FNV_SEED;
  h = mlg_fnv1a(h, dev->backend, strlen(dev->backend) + 1);
  h = mlg_fnv1a(h, dev->name, strlen(dev->name) + 1);
  h = mlg_fnv1a(h, dev->driver, strlen(dev->driver) + 1);
  int n = snprintf(buf, size, "%s/gemm-tuning-%016" PRIx64 ".txt", cache_dir, h);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Reads the cache; 0 when it holds this device's table. Says why otherwise (nothing when the
 * file is simply not there and `quiet_missing`). */
static int read_cache(const mlg_device_info *dev, const mlg_tune_options *o, const char *path,
                      int quiet_missing, mlg_gemm_tuning *out) {
  char err[1024];
  if (access(path, F_OK) != 0 && errno == ENOENT) {
    if (!quiet_missing)
      fprintf(logf_of(o), "%s: no GEMM tuning for '%s' in the cache yet: tuning (once; --no-tune skips)\n",
              who(o), dev->name);
    return -1;
  }
  if (mlg_gemm_tuning_load(path, out, err, sizeof err) != 0) {
    fprintf(logf_of(o), "%s: warning: ignoring GEMM tuning cache %s\n", who(o), err);
    return -1;
  }
  if (!mlg_gemm_tuning_same_device(out, dev->name, dev->driver, dev->backend)) {
    fprintf(logf_of(o), "%s: warning: ignoring GEMM tuning cache '%s': it is for '%s' (driver '%s', %s)\n",
            who(o), path, out->device, out->driver, out->backend);
    memset(out, 0, sizeof *out);
    return -1;
  }
  return 0;
}

static int store_cache(const char *dir, const char *path, const mlg_gemm_tuning *t) {
  char *text = NULL;
  size_t size = 0;
  if (mlg_make_dirs(dir) != 0 || mlg_gemm_tuning_format(t, &text, &size) != 0) return -1;
  size_t head = (size_t)(strchr(text, '\n') - text) + 1;
  int rc = mlg_write_file_atomic(path, text, head, text + head, size - head);
  free(text);
  return rc;
}

static int has_entries(const mlg_gemm_tuning *t) {
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++)
    if (t->cls[c].tile_m || t->mma[c].config) return 1;
  return 0;
}

int mlg_tune_gemm(const mlg_device_info *dev, const mlg_tune_options *options, mlg_gemm_tuning *out,
                  mlg_tune_report *rep) {
  static const mlg_tune_options defaults = {0};
  const mlg_tune_options *o = options ? options : &defaults;
  memset(out, 0, sizeof *out);
  memset(rep, 0, sizeof *rep);
  char dir[4096];
  int have_dir = mlg_cache_dir_resolve(o->cache_dir, dir, sizeof dir) &&
                 mlg_tune_cache_path(dev, dir, rep->path, sizeof rep->path) == 0;
  if (!have_dir) rep->path[0] = '\0';
  if (have_dir && !o->force && read_cache(dev, o, rep->path, o->no_search, out) == 0) {
    rep->from_cache = 1;
    return has_entries(out) ? 0 : -1;
  }
  if (o->no_search) return -1;
  mlg_gemm_tuning_set_device(out, dev->name, dev->driver, dev->backend);
  rep->searched = 1;
  /* A search that found nothing is stored too (a table without classes), so that it is not
   * repeated on every compile; --tune tries again. */
  int found = search(dev, o, out, rep);
  if (found < 0) {
    memset(out, 0, sizeof *out);
    return -1;
  }
  if (!have_dir) {
    fprintf(logf_of(o), "%s: note: no cache folder (set MLG_CACHE_DIR): the GEMM tuning is not kept\n", who(o));
  } else if (store_cache(dir, rep->path, out) == 0) {
    rep->stored = 1;
  } else {
    fprintf(logf_of(o), "%s: warning: cannot write the GEMM tuning cache '%s': %s\n", who(o), rep->path,
            strerror(errno));
  }
  return found > 0 ? 0 : -1;
}

void mlg_tune_print(FILE *f, const mlg_gemm_tuning *t) {
  char tiles[64];
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) {
    if (!t->cls[c].tile_m) continue;
    mlg_gemm_tiles_format(&t->cls[c], tiles, sizeof tiles);
    fprintf(f, "%s: %s, %.1f GFLOP/s\n", mlg_gemm_class_name((mlg_gemm_class)c), tiles, t->cls[c].gflops);
  }
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) {
    kt_mma_config cfg;
    if (kt_matmul_mma_config(t->mma[c].config, &cfg) != 0) continue;
    kt_mma_config_format(&cfg, tiles, sizeof tiles);
    fprintf(f, "%s, tensor cores: configuration %d, %s, %.1f GFLOP/s\n", mlg_gemm_class_name((mlg_gemm_class)c),
            t->mma[c].config, tiles, t->mma[c].gflops);
  }
}

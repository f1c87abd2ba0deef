/* test_fixtures.c — every op fixture (tests/fixtures/<name>/) and every example model
 * (tests/models/<name>/ with models/<name>.mlg) compiled, run on $MLG_TEST_DEVICE (default: the
 * CPU OpenCL device, PoCL; tests/CMakeLists.txt also runs it on vulkan:0, lavapipe)
 * and compared with the reference outputs that tools/gen_fixtures.py and
 * tools/gen_model_refs.py computed independently. See docs/testing.md. Gradient fixtures
 * (grad_*) are ordinary ones whose outputs are grad(...); a training fixture (one with a
 * `steps` file) runs that many train steps, one batch of its inputs each, and compares every
 * step's loss and every param afterwards.
 *
 * Every case runs at -O2 (graph passes and fusion) and at -O0 (one op per kernel), each against
 * the same references (TCases ops/models and ops_O0/models_O0); ops_O1/models_O1 compile it at
 * -O1 and run it too where that bundle differs from the -O2 one.
 * ops_f16/models_f16 compile every case that has no train step with --precision=f16 (weights and
 * intermediates stored as halves, computed in f32) and compare it with the same f32 references
 * within the f16 tolerance (f16_tolerance below; docs/testing.md).
 * One Check test per directory, so a failure names its fixture. MLG_FIXTURES=substring runs
 * only the matching ones; MLG_FIXTURES_VERBOSE=1 prints how much of its tolerance each output
 * uses. Compiled programs are cached in <build>/test-fixtures-cache. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "compile.h"
#include "dtype.h"
#include "mlg.h"
#include "tensor_file.h"

#define MAX_CASES 1024
#define PATH_LEN 1024

typedef struct fixture_case {
  char name[256];
  char dir[PATH_LEN];       /* inputs, weights, expected/, tolerance */
  char source[PATH_LEN];    /* the .mlg to compile */
} fixture_case;

static fixture_case g_cases[MAX_CASES];
static int g_n_ops;        /* g_cases[0, g_n_ops): op fixtures; then the models */
static int g_n_cases;

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* out = a "/" b: 0, or -1 if it does not fit. */
static int join(char *out, size_t size, const char *a, const char *b) {
  int n = snprintf(out, size, "%s/%s", a, b);
  return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* join() inside a test: a path too long fails the test. */
static void tjoin(char *out, size_t size, const char *a, const char *b) {
  ck_assert_msg(join(out, size, a, b) == 0, "path too long: %s/%s", a, b);
}

static int cmp_case(const void *a, const void *b) {
  return strcmp(((const fixture_case *)a)->name, ((const fixture_case *)b)->name);
}

/* Adds every subdirectory of `root` (sorted) whose name contains `filter` (if any). For models
 * the source is models/<name>.mlg, else <dir>/model.mlg. Returns the number added, -1 on a
 * missing folder. */
static int scan_cases(const char *root, int models, const char *filter) {
  DIR *d = opendir(root);
  if (!d) return -1;
  int first = g_n_cases;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && g_n_cases < MAX_CASES) {
    if (e->d_name[0] == '.') continue;
    if (filter && !strstr(e->d_name, filter)) continue;
    fixture_case *c = &g_cases[g_n_cases];
    char dir[PATH_LEN], source[PATH_LEN], file[300];
    struct stat st;
    if (join(dir, sizeof dir, root, e->d_name) != 0 || stat(dir, &st) != 0 ||
        !S_ISDIR(st.st_mode))
      continue;
    int n = snprintf(file, sizeof file, "%s.mlg", e->d_name);
    if (n < 0 || (size_t)n >= sizeof file) continue;
    if (models ? join(source, sizeof source, MLG_SOURCE_DIR "/models", file)
               : join(source, sizeof source, dir, "model.mlg"))
      continue;
    if (snprintf(c->name, sizeof c->name, "%s%s", models ? "model:" : "", e->d_name) >=
        (int)sizeof c->name)
      continue;
    memcpy(c->dir, dir, sizeof dir);
    memcpy(c->source, source, sizeof source);
    g_n_cases++;
  }
  closedir(d);
  qsort(&g_cases[first], (size_t)(g_n_cases - first), sizeof g_cases[0], cmp_case);
  return g_n_cases - first;
}

/* Reads `rtol=A atol=B` from the tolerance file (lines starting with '#' are reasons), and for
 * integer outputs the optional `quantum=Q fraction=F` (default 0 and 0: exactly equal). */
typedef struct tolerance {
  double rtol, atol;
  double quantum, fraction;
  double f16_rtol, f16_atol;   /* `f16 rtol=A atol=B`: the case's own f16 bound, or -1 */
} tolerance;

static int read_tolerance(const char *path, tolerance *t) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  int found = 0;
  t->quantum = t->fraction = 0.0;
  t->f16_rtol = t->f16_atol = -1.0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    if (sscanf(line, "f16 rtol=%lf atol=%lf", &t->f16_rtol, &t->f16_atol) == 2) continue;
    if (sscanf(line, "rtol=%lf atol=%lf", &t->rtol, &t->atol) == 2) found = 1;
    (void)sscanf(line, "quantum=%lf fraction=%lf", &t->quantum, &t->fraction);
  }
  fclose(f);
  return found ? 0 : -1;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (n < size) snprintf(buf + n, size - n, "]");
}

/* "[i, j, k]" of flat index `flat` in a C-order tensor. */
static void format_index(const int64_t *dims, int rank, size_t flat, char *buf, size_t size) {
  int64_t idx[MLG_MAX_DIMS] = {0};
  for (int i = rank - 1; i >= 0; i--) {
    if (dims[i] > 0) {
      idx[i] = (int64_t)(flat % (size_t)dims[i]);
      flat /= (size_t)dims[i];
    }
  }
  format_dims(idx, rank, buf, size);
}

static int count_expected(const char *dir) {
  char path[PATH_LEN];
  if (join(path, sizeof path, dir, "expected") != 0) return -1;
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".npy") == 0) n++;
  }
  closedir(d);
  return n;
}

/* Compares one output elementwise, both as `dtype` in host form (the .npy's); on mismatch fails
 * the test with the worst element. Floats (f32, f16) within the tolerance (NaN where the
 * reference has NaN, infinities exactly); integers and bools exactly. */
static void compare_output(const fixture_case *c, const char *out_name, uint32_t dtype,
                           const void *got, const void *want, size_t n, const int64_t *dims,
                           int rank, double rtol, double atol) {
  int exact = dtype != MLG_DT_F32 && dtype != MLG_DT_F16;
  size_t n_bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < n; i++) {
    double g = mlg_dtype_host_value(dtype, got, i), w = mlg_dtype_host_value(dtype, want, i);
    double allowed = atol + rtol * fabs(w);
    double excess;
    if (exact)
      excess = g == w ? 0.0 : INFINITY;
    else if (isnan(w))
      excess = isnan(g) ? 0.0 : INFINITY;
    else if (isinf(w))
      excess = (g == w) ? 0.0 : INFINITY;
    else if (!isfinite(g))
      excess = INFINITY;
    else if (allowed == 0)
      excess = g == w ? 0.0 : INFINITY; /* rtol = atol = 0: exact */
    else
      excess = fabs(g - w) / allowed;
    if (excess > 1.0) n_bad++;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (getenv("MLG_FIXTURES_VERBOSE"))
    printf("%-40s %-10s worst error %.3f of the tolerance\n", c->name, out_name,
           worst_excess < 0 ? 0.0 : worst_excess);
  if (n_bad == 0) return;
  char where[256];
  format_index(dims, rank, worst, where, sizeof where);
  double g = mlg_dtype_host_value(dtype, got, worst), w = mlg_dtype_host_value(dtype, want, worst);
  if (exact)
    ck_abort_msg("%s: output '%s' (%s): %zu of %zu elements differ; first worst at %s (flat %zu): "
                 "got %.17g, want %.17g", c->name, out_name, mlg_dtype_get(dtype)->name, n_bad, n,
                 where, worst, g, w);
  ck_abort_msg("%s: output '%s': %zu of %zu elements outside rtol=%g atol=%g; worst at %s "
               "(flat %zu): got %.9g, want %.9g (|diff| %.3g, allowed %.3g)",
               c->name, out_name, n_bad, n, rtol, atol, where, worst, g, w, fabs(g - w),
               atol + rtol * fabs(w));
}

/* Compares an integer output: every element at most tol->quantum from the reference, and at
 * most the fraction tol->fraction of them different at all (quantized results may round a tie
 * the other way, docs/testing.md). */
static void compare_ints(const fixture_case *c, const char *out_name, int dtype, const void *got,
                         const void *want, size_t n, const int64_t *dims, int rank,
                         const tolerance *tol) {
  size_t n_diff = 0, worst = 0;
  double worst_diff = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(mlg_dtype_host_value((uint32_t)dtype, got, i) - mlg_dtype_host_value((uint32_t)dtype, want, i));
    if (d > 0) n_diff++;
    if (d > worst_diff) {
      worst_diff = d;
      worst = i;
    }
  }
  double frac = n ? (double)n_diff / (double)n : 0.0;
  if (getenv("MLG_FIXTURES_VERBOSE"))
    printf("%-40s %-10s %zu of %zu elements differ (at most %g apart)\n", c->name, out_name,
           n_diff, n, worst_diff);
  if (worst_diff <= tol->quantum && frac <= tol->fraction) return;
  char where[256];
  format_index(dims, rank, worst, where, sizeof where);
  ck_abort_msg("%s: output '%s': %zu of %zu elements differ (allowed: a fraction %g, each at most "
               "%g apart); worst at %s: got %.0f, want %.0f", c->name, out_name, n_diff, n,
               tol->fraction, tol->quantum, where, mlg_dtype_host_value((uint32_t)dtype, got, worst),
               mlg_dtype_host_value((uint32_t)dtype, want, worst));
}

/* The device the suite runs on: $MLG_TEST_DEVICE ("cpu" = the first CPU device, PoCL;
 * "vulkan:0" = lavapipe in CI). Bundles are compiled for that device's backend. */
static const char *g_device = "cpu";
static int g_target = MLGB_TARGET_OPENCL;

/* Compiles the case's source with its weights file (if any) for `target`; returns bundle bytes. */
/* The precision the next compile_for uses (mlg_precision): the f16 TCases set it. */
static int g_precision;

static uint8_t *compile_for(const fixture_case *c, const char *weights, int opt_level, int target,
                            size_t *out_size) {
  mlg_source src;
  ck_assert_msg(mlg_source_load(&src, c->source) == 0, "%s: cannot read %s: %s", c->name,
                c->source, strerror(errno));
  char *log = NULL;
  size_t log_size = 0;
  FILE *log_stream = open_memstream(&log, &log_size);
  ck_assert_msg(log_stream != NULL, "open_memstream failed");
  mlg_diag diag;
  mlg_diag_init(&diag, &src, log_stream);
  mlg_compile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.target = target;
  opt.weights_path = weights;
  opt.opt_level = opt_level;
  opt.precision = g_precision;
  /* MLG_TEST_DEVICE_CLASS=1|2 compiles with the CPU or GPU kernel tiles (kt_device_class). */
  const char *dc = getenv("MLG_TEST_DEVICE_CLASS");
  if (dc) opt.device_class = atoi(dc);
  /* Vulkan reductions go through subgroup operations, as mlgc's default; MLG_TEST_SUBGROUPS=0
   * keeps the local-memory tree (the cross-backend run does, to cover both paths). */
  const char *sg = getenv("MLG_TEST_SUBGROUPS");
  opt.subgroups = target == MLGB_TARGET_VULKAN && !(sg && strcmp(sg, "0") == 0);
  uint8_t *data = NULL;
  int rc = mlg_compile(&src, &opt, &diag, &data, out_size);
  fclose(log_stream);
  if (rc != 0 || data == NULL) {
    static char msg[4096];
    snprintf(msg, sizeof msg, "%s: mlg_compile -O%d failed (%d errors):\n%s", c->name, opt_level,
             diag.n_errors, log ? log : "");
    free(log);
    free(data);
    mlg_source_free(&src);
    ck_abort_msg("%s", msg);
  }
  free(log);
  mlg_source_free(&src);
  return data;
}

static uint8_t *compile_case(const fixture_case *c, const char *weights, int opt_level,
                             size_t *out_size) {
  return compile_for(c, weights, opt_level, g_target, out_size);
}

static mlg_runtime *create_runtime_on(const fixture_case *c, const char *device) {
  const char *cache = MLG_BINARY_DIR "/test-fixtures-cache";
  if (mkdir(cache, 0777) != 0 && errno != EEXIST) cache = "";   /* no cache: still runs */
  mlg_runtime_options ro;
  memset(&ro, 0, sizeof ro);
  ro.device = device;
  ro.cache_dir = cache;
  mlg_runtime *rt = NULL;
  mlg_status st = mlg_runtime_create(&ro, &rt);
  if (st == MLG_ERR_NO_DEVICE)
    ck_abort_msg("%s: no device '%s': these tests need PoCL (Debian: pocl-opencl-icd) and "
                 "lavapipe (mesa-vulkan-drivers); %s", c->name, device, mlg_last_error());
  ck_assert_msg(st == MLG_OK, "%s: mlg_runtime_create(%s): %s: %s", c->name, device,
                mlg_status_string(st), mlg_last_error());
  return rt;
}

static mlg_runtime *create_runtime(const fixture_case *c) { return create_runtime_on(c, g_device); }

static void set_inputs(const fixture_case *c, const mlg_model *model, mlg_session *session) {
  int n_in = mlg_model_input_count(model);
  for (int i = 0; i < n_in; i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_input_info(model, i, &info), MLG_OK);
    char path[PATH_LEN], err[512];
    char file[PATH_LEN];
    ck_assert_int_lt(snprintf(file, sizeof file, "%s.npy", info.name), (int)sizeof file);
    tjoin(path, sizeof path, c->dir, file);
    mlg_tf_tensor t;
    ck_assert_msg(mlg_npy_read_file(path, &t, err, sizeof err) == 0,
                  "%s: input '%s': %s", c->name, info.name, err);
    char want_dims[128], got_dims[128];
    format_dims(info.dims, info.rank, want_dims, sizeof want_dims);
    format_dims(t.dims, t.rank, got_dims, sizeof got_dims);
    int same = t.rank == info.rank && (int)t.dtype == (int)info.dtype && t.size == info.bytes;
    for (int d = 0; same && d < t.rank; d++) same = t.dims[d] == info.dims[d];
    if (!same) {
      mlg_tf_tensor_free(&t);
      ck_abort_msg("%s: input '%s': model wants %s%s, %s holds %s%s", c->name, info.name,
                   mlg_dtype_get((uint32_t)info.dtype)->name, want_dims, path,
                   mlg_dtype_get((uint32_t)t.dtype)->name, got_dims);
    }
    mlg_status st = mlg_session_set_input(session, info.name, t.data, t.size);
    mlg_tf_tensor_free(&t);
    ck_assert_msg(st == MLG_OK, "%s: set_input '%s': %s", c->name, info.name, mlg_last_error());
  }
}

/* The bound of an f16 run (--precision=f16) of a case against its f32 references: the case's
 * own `f16 rtol=A atol=B` line where it has one (with its reason), else rtol 1e-2 and atol
 * 1e-2 of the output's largest magnitude, never below the case's f32 bound. A half holds 11
 * significant bits (unit roundoff 2^-11 ≈ 4.9e-4): each stored weight and intermediate is off
 * by up to that, and the error a value carries grows with the number of roundings before it
 * and with the length of the sums it passes (each term's error adds, about with its square
 * root). 1e-2 is 20 roundoffs: a few stored layers and sums of some hundred terms. The
 * absolute part scales with the output: a sum that cancels to near zero keeps the absolute
 * error of its terms, which are of the output's size. */
static void f16_tolerance(const tolerance *t, uint32_t dtype, const void *want, size_t n, double *rtol,
                          double *atol) {
  if (t->f16_rtol >= 0) {
    *rtol = t->f16_rtol;
    *atol = t->f16_atol;
    return;
  }
  double peak = 0.0;
  for (size_t i = 0; i < n; i++) {
    double w = fabs(mlg_dtype_host_value(dtype, want, i));
    if (isfinite(w) && w > peak) peak = w;
  }
  *rtol = fmax(t->rtol, 1e-2);
  *atol = fmax(t->atol, 1e-2 * peak);
}

static void check_outputs(const fixture_case *c, const mlg_model *model, mlg_session *session) {
  char path[PATH_LEN], err[512];
  tolerance tol;
  tjoin(path, sizeof path, c->dir, "tolerance");
  ck_assert_msg(read_tolerance(path, &tol) == 0,
                "%s: %s is missing or has no 'rtol=... atol=...' line", c->name, path);
  int n_out = mlg_model_output_count(model);
  ck_assert_msg(n_out == count_expected(c->dir),
                "%s: the model has %d outputs but %s/expected holds %d .npy files", c->name,
                n_out, c->dir, count_expected(c->dir));
  for (int i = 0; i < n_out; i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_output_info(model, i, &info), MLG_OK);
    char file[PATH_LEN];
    ck_assert_int_lt(snprintf(file, sizeof file, "expected/%s.npy", info.name), (int)sizeof file);
    tjoin(path, sizeof path, c->dir, file);
    mlg_tf_tensor want;
    ck_assert_msg(mlg_npy_read_file(path, &want, err, sizeof err) == 0,
                  "%s: output '%s' has no reference: %s", c->name, info.name, err);
    char want_dims[128], got_dims[128];
    format_dims(want.dims, want.rank, want_dims, sizeof want_dims);
    format_dims(info.dims, info.rank, got_dims, sizeof got_dims);
    int same = want.rank == info.rank && (int)want.dtype == (int)info.dtype &&
               want.size == info.bytes;
    for (int d = 0; same && d < want.rank; d++) same = want.dims[d] == info.dims[d];
    if (!same) {
      int want_dtype = (int)want.dtype;
      mlg_tf_tensor_free(&want);
      ck_abort_msg("%s: output '%s': model gives %s%s, reference is %s%s", c->name, info.name,
                   mlg_dtype_get((uint32_t)info.dtype)->name, got_dims,
                   mlg_dtype_get((uint32_t)want_dtype)->name, want_dims);
    }
    void *got = malloc(info.bytes ? info.bytes : 1);
    ck_assert_ptr_nonnull(got);
    mlg_status st = mlg_session_get_output(session, info.name, got, info.bytes);
    if (st != MLG_OK) {
      free(got);
      mlg_tf_tensor_free(&want);
      ck_abort_msg("%s: get_output '%s': %s", c->name, info.name, mlg_last_error());
    }
    uint32_t dt = (uint32_t)info.dtype;
    size_t n = info.bytes / (size_t)mlg_dtype_get(dt)->host_bytes;
    /* Quantized outputs may be a quantum apart on a stated fraction (rounding of ties). */
    if (tol.quantum > 0 && dt != MLG_DT_F32 && dt != MLG_DT_F16)
      compare_ints(c, info.name, info.dtype, got, want.data, n, info.dims, info.rank, &tol);
    else if (g_precision == 1 /* MLG_PRECISION_F16 */ && (dt == MLG_DT_F32 || dt == MLG_DT_F16)) {
      double rtol, atol;
      f16_tolerance(&tol, dt, want.data, n, &rtol, &atol);
      compare_output(c, info.name, dt, got, want.data, n, info.dims, info.rank, rtol, atol);
    } else
      compare_output(c, info.name, dt, got, want.data, n, info.dims, info.rank, tol.rtol, tol.atol);
    free(got);
    mlg_tf_tensor_free(&want);
  }
}

/* The case's weights file, or NULL when it has none. */
static const char *case_weights(const fixture_case *c, char *buf, size_t size) {
  tjoin(buf, size, c->dir, "weights.safetensors");
  return file_exists(buf) ? buf : NULL;
}

/* The number of train steps of a training fixture (its `steps` file), or 0. */
static int case_steps(const fixture_case *c) {
  char path[PATH_LEN];
  tjoin(path, sizeof path, c->dir, "steps");
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0;
  int ok = fscanf(f, "%d", &n) == 1 && n > 0;
  fclose(f);
  ck_assert_msg(ok, "%s: %s holds no step count", c->name, path);
  return n;
}

/* Reads expected/<name>.npy of a training fixture and compares `got` (n floats) with it. */
static void compare_expected(const fixture_case *c, const char *name, const float *got, size_t n,
                             double rtol, double atol) {
  char file[PATH_LEN], path[PATH_LEN], err[512];
  ck_assert_int_lt(snprintf(file, sizeof file, "expected/%s.npy", name), (int)sizeof file);
  tjoin(path, sizeof path, c->dir, file);
  mlg_tf_tensor want;
  ck_assert_msg(mlg_npy_read_file(path, &want, err, sizeof err) == 0, "%s: '%s' has no reference: %s",
                c->name, name, err);
  ck_assert_msg(want.size == n * sizeof(float), "%s: '%s': %zu values, the reference has %zu", c->name,
                name, n, want.size / sizeof(float));
  compare_output(c, name, MLG_DT_F32, got, want.data, n, want.dims, want.rank, rtol, atol);
  mlg_tf_tensor_free(&want);
}

/* A training fixture: `steps` train steps, step s on slice s of each input file ([steps,
 * batch...]); then each step's loss and every param against expected/. */
static void run_train_bundle(const fixture_case *c, mlg_model *model, mlg_session *session, int steps) {
  char path[PATH_LEN], err[512];
  tolerance tol;
  tjoin(path, sizeof path, c->dir, "tolerance");
  ck_assert_int_eq(read_tolerance(path, &tol), 0);
  const double rtol = tol.rtol, atol = tol.atol;
  int n_in = mlg_model_input_count(model), n_params = mlg_model_param_count(model);
  ck_assert_msg(count_expected(c->dir) == n_params + 1, "%s: %d params and the loss, but expected/ holds %d",
                c->name, n_params, count_expected(c->dir));
  mlg_tf_tensor *data = calloc((size_t)n_in + 1, sizeof *data);
  ck_assert_ptr_nonnull(data);
  for (int i = 0; i < n_in; i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_input_info(model, i, &info), MLG_OK);
    char file[PATH_LEN];
    ck_assert_int_lt(snprintf(file, sizeof file, "%s.npy", info.name), (int)sizeof file);
    tjoin(path, sizeof path, c->dir, file);
    ck_assert_msg(mlg_npy_read_file(path, &data[i], err, sizeof err) == 0, "%s: %s", c->name, err);
    ck_assert_msg(data[i].rank >= 1 && data[i].dims[0] == steps && data[i].size == (size_t)steps * info.bytes,
                  "%s: input '%s' holds no %d batches of %zu bytes", c->name, info.name, steps, info.bytes);
  }
  float *losses = calloc((size_t)steps, sizeof *losses);
  ck_assert_ptr_nonnull(losses);
  for (int s = 0; s < steps; s++) {
    for (int i = 0; i < n_in; i++) {
      mlg_tensor_info info;
      ck_assert_int_eq(mlg_model_input_info(model, i, &info), MLG_OK);
      ck_assert_int_eq(mlg_session_set_input(session, info.name, (uint8_t *)data[i].data + (size_t)s * info.bytes,
                                             info.bytes), MLG_OK);
    }
    mlg_status st = mlg_session_train_step(session, &losses[s]);
    ck_assert_msg(st == MLG_OK, "%s: train step %d: %s", c->name, s, mlg_last_error());
  }
  compare_expected(c, "loss", losses, (size_t)steps, rtol, atol);
  for (int k = 0; k < n_params; k++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_param_info(model, k, &info), MLG_OK);
    float *got = malloc(info.bytes);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(mlg_session_get_param(session, info.name, got, info.bytes) == MLG_OK, "%s: %s", c->name,
                  mlg_last_error());
    compare_expected(c, info.name, got, info.bytes / sizeof(float), rtol, atol);
    free(got);
  }
  free(losses);
  for (int i = 0; i < n_in; i++) mlg_tf_tensor_free(&data[i]);
  free(data);
}

/* Runs a compiled bundle on the test device with the case's inputs against its references. */
static void run_bundle(const fixture_case *c, const uint8_t *bundle, size_t size) {
  int steps = case_steps(c);
  mlg_runtime *rt = create_runtime(c);
  mlg_model *model = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &model);
  ck_assert_msg(st == MLG_OK, "%s: mlg_model_load_memory: %s: %s", c->name,
                mlg_status_string(st), mlg_last_error());
  mlg_session *session = NULL;
  st = mlg_session_create(model, &session);
  ck_assert_msg(st == MLG_OK, "%s: mlg_session_create: %s", c->name, mlg_last_error());
  if (steps) {
    run_train_bundle(c, model, session, steps);
  } else {
    set_inputs(c, model, session);
    st = mlg_session_run(session);
    ck_assert_msg(st == MLG_OK, "%s: mlg_session_run: %s: %s", c->name, mlg_status_string(st),
                  mlg_last_error());
    check_outputs(c, model, session);
  }
  mlg_session_destroy(session);
  mlg_model_destroy(model);
  mlg_runtime_destroy(rt);
}

static void run_case(const fixture_case *c, int opt_level) {
  char weights[PATH_LEN];
  size_t size = 0;
  uint8_t *bundle = compile_case(c, case_weights(c, weights, sizeof weights), opt_level, &size);
  run_bundle(c, bundle, size);
  free(bundle);
}

/* -O1 against the references. -O1 runs the passes and fusion of -O2 today, so its bundle is the
 * -O2 bundle byte for byte, whose numbers the -O2 case checks; it is run only where the two
 * levels produce different bundles. */
static void run_case_O1(const fixture_case *c) {
  char weights[PATH_LEN];
  const char *w = case_weights(c, weights, sizeof weights);
  size_t size1 = 0, size2 = 0;
  uint8_t *b1 = compile_case(c, w, 1, &size1), *b2 = compile_case(c, w, 2, &size2);
  int same = size1 == size2 && memcmp(b1, b2, size1) == 0;
  free(b2);
  if (!same) run_bundle(c, b1, size1);
  free(b1);
}

/* Case i of pass `pass`, at the start of its test. ctest runs these suites unforked
 * (CK_FORK=no, tests/CMakeLists.txt says why): a case that fails an assertion leaves by a long
 * jump, so the state a case sets (the precision) is reset here, and a crash or hang ends the
 * whole process, so this line names the case it was in. */
static const fixture_case *start_case(int i, const char *pass) {
  g_precision = 0;
  printf("%s %s\n", pass, g_cases[i].name);
  fflush(stdout);
  return &g_cases[i];
}

START_TEST(test_op_fixture) {
  run_case(start_case(_i, "ops"), 2);
}
END_TEST

START_TEST(test_model) {
  run_case(start_case(g_n_ops + _i, "models"), 2);
}
END_TEST

/* --precision=f16 against the f32 references (a train step is refused at f16: skipped). */
static void run_case_f16(const fixture_case *c) {
  if (case_steps(c)) return;
  g_precision = 1; /* MLG_PRECISION_F16 */
  run_case(c, 2);
  g_precision = 0;
}

START_TEST(test_op_fixture_f16) {
  run_case_f16(start_case(_i, "ops_f16"));
}
END_TEST

START_TEST(test_model_f16) {
  run_case_f16(start_case(g_n_ops + _i, "models_f16"));
}
END_TEST

START_TEST(test_op_fixture_O0) {
  run_case(start_case(_i, "ops_O0"), 0);
}
END_TEST

START_TEST(test_model_O0) {
  run_case(start_case(g_n_ops + _i, "models_O0"), 0);
}
END_TEST

START_TEST(test_op_fixture_O1) {
  run_case_O1(start_case(_i, "ops_O1"));
}
END_TEST

START_TEST(test_model_O1) {
  run_case_O1(start_case(g_n_ops + _i, "models_O1"));
}
END_TEST

/* Runs a compiled bundle on `device` with the case's inputs; returns every output's floats
 * concatenated (caller frees) and their count. */
static float *run_outputs(const fixture_case *c, const uint8_t *bundle, size_t size,
                          const char *device, size_t *out_count) {
  mlg_runtime *rt = create_runtime_on(c, device);
  mlg_model *model = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &model);
  ck_assert_msg(st == MLG_OK, "%s on %s: load: %s", c->name, device, mlg_last_error());
  mlg_session *session = NULL;
  ck_assert_msg(mlg_session_create(model, &session) == MLG_OK, "%s: %s", c->name, mlg_last_error());
  set_inputs(c, model, session);
  st = mlg_session_run(session);
  ck_assert_msg(st == MLG_OK, "%s on %s: run: %s", c->name, device, mlg_last_error());
  size_t total = 0;
  for (int i = 0; i < mlg_model_output_count(model); i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_output_info(model, i, &info), MLG_OK);
    total += info.bytes / sizeof(float);
  }
  float *all = malloc((total ? total : 1) * sizeof(float));
  ck_assert_ptr_nonnull(all);
  size_t at = 0;
  for (int i = 0; i < mlg_model_output_count(model); i++) {
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_output_info(model, i, &info), MLG_OK);
    ck_assert_msg(mlg_session_get_output(session, info.name, all + at, info.bytes) == MLG_OK,
                  "%s: %s", c->name, mlg_last_error());
    at += info.bytes / sizeof(float);
  }
  mlg_session_destroy(session);
  mlg_model_destroy(model);
  mlg_runtime_destroy(rt);
  *out_count = total;
  return all;
}

/* Every model gives the same numbers on OpenCL (PoCL) and on Vulkan (lavapipe), within the
 * model's tolerance, independent of the references. */
START_TEST(test_cross_backend) {
  const fixture_case *c = start_case(g_n_ops + _i, "cross_backend");
  char weights[PATH_LEN], path[PATH_LEN];
  const char *w = case_weights(c, weights, sizeof weights);
  tolerance tol;
  tjoin(path, sizeof path, c->dir, "tolerance");
  ck_assert_int_eq(read_tolerance(path, &tol), 0);
  double rtol = tol.rtol, atol = tol.atol;
  size_t n_cl = 0, n_vk = 0, size_cl = 0, size_vk = 0;
  uint8_t *b_cl = compile_for(c, w, 2, MLGB_TARGET_OPENCL, &size_cl);
  uint8_t *b_vk = compile_for(c, w, 2, MLGB_TARGET_VULKAN, &size_vk);
  float *cl = run_outputs(c, b_cl, size_cl, "opencl:0", &n_cl);
  float *vk = run_outputs(c, b_vk, size_vk, "vulkan:0", &n_vk);
  free(b_cl);
  free(b_vk);
  ck_assert_int_eq(n_cl, n_vk);
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < n_cl; i++) {
    double d = fabs((double)cl[i] - vk[i]);
    if (!(d <= atol + rtol * fabs((double)cl[i]))) {
      if (!bad) worst = i;
      bad++;
    }
  }
  ck_assert_msg(bad == 0, "%s: %zu of %zu outputs differ between OpenCL and Vulkan (first at %zu: %g vs %g)",
                c->name, bad, n_cl, worst, (double)cl[worst], (double)vk[worst]);
  free(cl);
  free(vk);
}
END_TEST

/* The fixture folders exist and hold what the generators write: catches an empty checkout. */
START_TEST(test_fixture_tree) {
  const char *filter = getenv("MLG_FIXTURES");
  if (filter && *filter) return;
  ck_assert_msg(g_n_ops >= 80, "only %d op fixtures under tests/fixtures", g_n_ops);
  ck_assert_msg(g_n_cases - g_n_ops >= 4, "only %d models under tests/models",
                g_n_cases - g_n_ops);
  for (int i = 0; i < g_n_cases; i++) {
    char path[PATH_LEN];
    ck_assert_msg(file_exists(g_cases[i].source), "%s: no source %s", g_cases[i].name,
                  g_cases[i].source);
    tjoin(path, sizeof path, g_cases[i].dir, "tolerance");
    ck_assert_msg(file_exists(path), "%s: no tolerance file", g_cases[i].name);
    ck_assert_msg(count_expected(g_cases[i].dir) >= 1, "%s: no expected/*.npy", g_cases[i].name);
  }
}
END_TEST

/* A TCase named `name` that runs `test` for _i in [0, n). */
static void add_loop(Suite *s, const char *name, const TTest *test, int timeout_s, int n) {
  TCase *tc = tcase_create(name);
  tcase_set_timeout(tc, timeout_s);
  if (n > 0) tcase_add_loop_test(tc, test, 0, n);
  suite_add_tcase(s, tc);
}

int main(void) {
  const char *device = getenv("MLG_TEST_DEVICE");
  if (device && *device) g_device = device;
  if (strncmp(g_device, "vulkan", 6) == 0) g_target = MLGB_TARGET_VULKAN;
  /* -O0 and -O1 against the references once is enough: they check the optimizer, not the
   * backend (and compiling every case twice more costs the Vulkan run a minute of shaderc). */
  const char *o0 = getenv("MLG_TEST_O0");
  int with_o0 = !(o0 && strcmp(o0, "0") == 0);
  /* MLG_TEST_O0=only: -O0 and -O1 alone, so that ctest can run them beside the -O2 pass. */
  int only_o0 = o0 && strcmp(o0, "only") == 0;
  /* The cross-backend comparison runs where both backends are asked for. */
  const char *cross = getenv("MLG_TEST_CROSS_BACKEND");
  int with_cross = cross && strcmp(cross, "1") == 0;
  const char *filter = getenv("MLG_FIXTURES");
  if (filter && !*filter) filter = NULL;
  const char *root = MLG_SOURCE_DIR "/tests/fixtures";
  if (scan_cases(root, 0, filter) < 0) {
    fprintf(stderr, "test_fixtures: cannot open %s\n", root);
    return EXIT_FAILURE;
  }
  g_n_ops = g_n_cases;
  root = MLG_SOURCE_DIR "/tests/models";
  if (scan_cases(root, 1, filter) < 0) {
    fprintf(stderr, "test_fixtures: cannot open %s\n", root);
    return EXIT_FAILURE;
  }

  Suite *s = suite_create("fixtures");
  TCase *tree = tcase_create("tree");
  tcase_add_test(tree, test_fixture_tree);
  suite_add_tcase(s, tree);
  int n_models = g_n_cases - g_n_ops;
  if (!only_o0) {
    add_loop(s, "ops", test_op_fixture, 120, g_n_ops);
    add_loop(s, "models", test_model, 300, n_models);
  }
  if (with_o0) {
    add_loop(s, "ops_O0", test_op_fixture_O0, 120, g_n_ops);
    add_loop(s, "models_O0", test_model_O0, 300, n_models);
    add_loop(s, "ops_O1", test_op_fixture_O1, 120, g_n_ops);
    add_loop(s, "models_O1", test_model_O1, 300, n_models);
  }
  if (with_cross && !only_o0) add_loop(s, "cross_backend", test_cross_backend, 300, n_models);
  /* The --precision=f16 runs: MLG_TEST_F16=0 leaves them out, =ops runs the op fixtures only,
   * =models the models only; unset, both. */
  const char *f16 = getenv("MLG_TEST_F16");
  if (!f16 || only_o0) f16 = only_o0 ? "0" : "";
  if (strcmp(f16, "0") != 0 && strcmp(f16, "models") != 0)
    add_loop(s, "ops_f16", test_op_fixture_f16, 120, g_n_ops);
  /* PoCL compiles a CPU-class model's f16 kernels about 3x slower than its f32 ones (each
   * vstore_half rounds in software): gpt2_block's took 155 s of CPU on this machine. */
  if (strcmp(f16, "0") != 0 && strcmp(f16, "ops") != 0)
    add_loop(s, "models_f16", test_model_f16, 900, n_models);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

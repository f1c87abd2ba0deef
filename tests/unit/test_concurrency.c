/* test_concurrency.c — the runtime from several threads at once, as mlg.h allows: runtimes
 * created and destroyed concurrently; one runtime shared by threads that load the same bundle
 * at once (racing on the same program-cache entries, their writes and in-use marks) and each run
 * their own sessions; one model shared by threads that each run a session; the per-thread last
 * error. On opencl:0 (PoCL) and vulkan:0 (lavapipe).
 *
 * It runs in every build, and is what tools/test.sh runs under ThreadSanitizer (-DMLG_TSAN=ON,
 * tests/tsan.supp): there it links libmlgrt only, and its bundles come from the mlgc of another
 * build ($MLG_TEST_MLGC, default this build's bin/mlgc). Threads never call Check: each records
 * what went wrong, and the main thread asserts after joining. */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mlg.h"
#include "temp_files.c"

#define N_THREADS 4
#define N_RUNS 3

static char dir[4096];
static char bundle_paths[2][4300]; /* [0] opencl, [1] vulkan */

/* y = relu(x) * 2 + sum over the row of x: elementwise, a reduction, a broadcast. */
static const char *MODEL =
    "model conc {\n"
    "  input x : f32[4, 16]\n"
    "  output y = relu(x) * 2 + sum(x, axes=[1], keepdims=true)\n"
    "}\n";

static void expected(const float *x, float *y) {
  for (int r = 0; r < 4; r++) {
    float s = 0;
    for (int c = 0; c < 16; c++) s += x[r * 16 + c];
    for (int c = 0; c < 16; c++) y[r * 16 + c] = (x[r * 16 + c] > 0 ? 2 * x[r * 16 + c] : 0) + s;
  }
}

/* Bundles for both targets, compiled by mlgc in a fresh folder. */
static void setup(void) {
  temp_dir(dir, sizeof dir);
  char src[4300], cmd[16000];
  snprintf(src, sizeof src, "%s/conc.mlg", dir);
  write_file(src, MODEL, strlen(MODEL));
  const char *mlgc = getenv("MLG_TEST_MLGC");
  char own[4200];
  if (!mlgc || !*mlgc) {
    snprintf(own, sizeof own, "%s/bin/mlgc", MLG_BINARY_DIR);
    mlgc = own;
  }
  for (int t = 0; t < 2; t++) {
    snprintf(bundle_paths[t], sizeof bundle_paths[t], "%s/conc_%s.mlgb", dir, t ? "vulkan" : "opencl");
    int n = snprintf(cmd, sizeof cmd, "'%s' '%s' --target %s -o '%s'", mlgc, src, t ? "vulkan" : "opencl",
                     bundle_paths[t]);
    ck_assert(n > 0 && (size_t)n < sizeof cmd);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
  }
}

static void teardown(void) { remove_tree(dir); }

typedef struct worker {
  int id;
  int backend;               /* 0 opencl, 1 vulkan */
  mlg_runtime *rt;           /* shared, or NULL: the worker makes its own */
  mlg_model *model;          /* shared, or NULL: the worker loads its own */
  char cache[4300];
  char problem[1024];        /* "" when all went well */
} worker;

/* Records what went wrong in the worker; returns NULL, for `return worker_fail(...)`. */
static void *worker_fail(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *worker_fail(worker *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->problem, sizeof w->problem, fmt, ap);
  va_end(ap);
  return NULL;
}

/* Runs a session N_RUNS times with inputs of its own, checking every output. */
static void *run_session(worker *w, mlg_model *m, int salt) {
  mlg_session *s = NULL;
  if (mlg_session_create(m, &s) != MLG_OK) return worker_fail(w, "session: %s", mlg_last_error());
  for (int run = 0; run < N_RUNS; run++) {
    float x[64], y[64], want[64];
    for (int i = 0; i < 64; i++) x[i] = (float)((i * 7 + w->id * 13 + run * 5 + salt) % 11) - 5.0f;
    expected(x, want);
    if (mlg_session_set_input(s, "x", x, sizeof x) != MLG_OK || mlg_session_run(s) != MLG_OK ||
        mlg_session_get_output(s, "y", y, sizeof y) != MLG_OK) {
      worker_fail(w, "run: %s", mlg_last_error());
      break;
    }
    for (int i = 0; i < 64; i++)
      if (y[i] != want[i]) {
        worker_fail(w, "thread %d run %d: y[%d] = %g, want %g", w->id, run, i, y[i], want[i]);
        break;
      }
    if (w->problem[0]) break;
  }
  mlg_session_destroy(s);
  return NULL;
}

/* Loads the bundle on the shared runtime (all threads at once) and runs two sessions. */
static void *load_and_run(void *arg) {
  worker *w = arg;
  mlg_model *m = NULL;
  if (mlg_model_load_file(w->rt, bundle_paths[w->backend], NULL, &m) != MLG_OK)
    return worker_fail(w, "load: %s", mlg_last_error());
  run_session(w, m, 0);
  if (!w->problem[0]) run_session(w, m, 1);
  mlg_model_destroy(m);
  return NULL;
}

/* A session of its own on the shared model. */
static void *shared_model(void *arg) {
  worker *w = arg;
  return run_session(w, w->model, 2);
}

/* A runtime of its own (created and destroyed while others are), a load, and an error of its own
 * that mlg_last_error must report to this thread only. */
static void *own_runtime(void *arg) {
  worker *w = arg;
  mlg_runtime_options o = {.device = w->backend ? "vulkan:0" : "opencl:0", .cache_dir = w->cache};
  mlg_runtime *rt = NULL;
  if (mlg_runtime_create(&o, &rt) != MLG_OK) return worker_fail(w, "runtime: %s", mlg_last_error());
  mlg_model *m = NULL;
  if (mlg_model_load_file(rt, bundle_paths[w->backend], NULL, &m) != MLG_OK) {
    worker_fail(w, "load: %s", mlg_last_error());
  } else {
    char name[32];
    snprintf(name, sizeof name, "missing_%d", w->id);
    mlg_session *s = NULL;
    if (mlg_session_create(m, &s) != MLG_OK) {
      worker_fail(w, "session: %s", mlg_last_error());
    } else if (mlg_session_set_input(s, name, NULL, 0) != MLG_ERR_INVALID_ARGUMENT ||
               !strstr(mlg_last_error(), name)) {
      worker_fail(w, "thread %d got another thread's error: %s", w->id, mlg_last_error());
    } else {
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL); /* let the others set theirs */
      if (!strstr(mlg_last_error(), name)) worker_fail(w, "thread %d's error changed to: %s", w->id, mlg_last_error());
    }
    mlg_session_destroy(s);
  }
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  return NULL;
}

static void run_threads(void *(*fn)(void *), worker *workers) {
  pthread_t threads[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) ck_assert_int_eq(pthread_create(&threads[i], NULL, fn, &workers[i]), 0);
  for (int i = 0; i < N_THREADS; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < N_THREADS; i++) ck_assert_msg(!workers[i].problem[0], "%s", workers[i].problem);
}

/* _i: 0 opencl:0, 1 vulkan:0. */
START_TEST(test_concurrent) {
  const char *device = _i ? "vulkan:0" : "opencl:0";
  char cache[4300];
  snprintf(cache, sizeof cache, "%s/cache-%d", dir, _i);
  mlg_runtime_options o = {.device = device, .cache_dir = cache};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&o, &rt) == MLG_OK, "%s", mlg_last_error());
  worker workers[N_THREADS];
  /* Loads at once into an empty cache, then again from the entries the first round wrote. */
  for (int round = 0; round < 2; round++) {
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < N_THREADS; i++) workers[i] = (worker){.id = i, .backend = _i, .rt = rt};
    run_threads(load_and_run, workers);
  }
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_file(rt, bundle_paths[_i], NULL, &m) == MLG_OK, "%s", mlg_last_error());
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < N_THREADS; i++) workers[i] = (worker){.id = i, .backend = _i, .model = m};
  run_threads(shared_model, workers);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < N_THREADS; i++) {
    workers[i] = (worker){.id = i, .backend = _i};
    snprintf(workers[i].cache, sizeof workers[i].cache, "%s", cache);
  }
  run_threads(own_runtime, workers);
}
END_TEST

static Suite *concurrency_suite(void) {
  Suite *s = suite_create("concurrency");
  TCase *tc = tcase_create("threads");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_concurrent, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(concurrency_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

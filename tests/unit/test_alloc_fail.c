/* test_alloc_fail.c — allocation failure, swept: the Nth allocation made by mlg's own code fails,
 * for every N, along the compile, load, session and run paths. Every failure must give a status
 * (never a crash), leak nothing (LeakSanitizer, at the exit of each case), and leave the library
 * working: the same call right after, with nothing failing, must succeed and give the same bytes.
 *
 * The hook: this executable links the static libraries with -Wl,--wrap for malloc, calloc,
 * realloc, aligned_alloc, strdup and free (tests/CMakeLists.txt), so only allocations that mlg's
 * code asks for go through the wrappers below; the drivers' (PoCL, LLVM, Mesa) and the C++
 * runtime's do not, and are never failed. The same wrappers measure the memory a reader holds at
 * most (the safetensors header case). */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "file_util.h"
#include "mlg.h"
#include "tensor_file.h"
#include "temp_files.c"

/* ---- the hook ---- */

static atomic_long countdown = -1; /* allocations left before the one that fails; -1: never */
static atomic_long seen;           /* allocations since the last reset */
static atomic_int injected;        /* one was failed */

static int fail_now(void) {
  atomic_fetch_add(&seen, 1);
  long left = atomic_load(&countdown);
  if (left < 0) return 0;
  if (atomic_fetch_sub(&countdown, 1) == 0) {
    atomic_store(&injected, 1);
    errno = ENOMEM;
    return 1;
  }
  return 0;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
char *__wrap_strdup(const char *s);

/* While `measuring`: the bytes held now and at most, counted from when it was turned on. */
static atomic_int measuring;
static atomic_llong live, peak;

static void *note(void *p) {
  if (p && atomic_load(&measuring)) {
    long long now = atomic_fetch_add(&live, (long long)malloc_usable_size(p)) + (long long)malloc_usable_size(p);
    long long was = atomic_load(&peak);
    while (now > was && !atomic_compare_exchange_weak(&peak, &was, now)) {}
  }
  return p;
}

static void unnote(void *p) {
  if (p && atomic_load(&measuring)) atomic_fetch_sub(&live, (long long)malloc_usable_size(p));
}

void __real_free(void *p);
void __wrap_free(void *p);
void __wrap_free(void *p) {
  unnote(p);
  __real_free(p);
}

void *__wrap_malloc(size_t size) { return fail_now() ? NULL : note(__real_malloc(size)); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : note(__real_calloc(n, size)); }
void *__wrap_realloc(void *p, size_t size) {
  if (fail_now()) return NULL;
  unnote(p);
  void *q = __real_realloc(p, size);
  note(q ? q : (size ? p : NULL)); /* a failed realloc leaves p as it was */
  return q;
}
void *__wrap_aligned_alloc(size_t align, size_t size) {
  return fail_now() ? NULL : note(__real_aligned_alloc(align, size));
}
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : note(__real_strdup(s)); }

/* Arms the hook: allocation number `n` from now (0-based) fails; -1 disarms it. */
static void fail_at(long n) {
  atomic_store(&injected, 0);
  atomic_store(&seen, 0);
  atomic_store(&countdown, n);
}

/* ---- the paths ---- */

static const char *MODEL =
    "model dense {\n"
    "  input x : f32[2, 8]\n"
    "  param w : f32[4, 8] = normal(0, 0.5, seed=3)\n"
    "  param b : f32[4]    = uniform(-1, 1, seed=4)\n"
    "  h = relu(linear(x, w, b))\n"
    "  output p = softmax(h * 2 + 1, axis=-1)\n"
    "  output s = sum(h, axes=[1])\n"
    "}\n";

/* An ONNX model (a Conv, Relu, MaxPool and pooling fuzz seed): the importer, and protobuf-c,
 * which decodes with the importer's allocator and so is failed too. */
#define ONNX_MODEL MLG_SOURCE_DIR "/tests/fuzz/corpus/onnx/conv.onnx"

/* Compiles MODEL for `target` (3: ONNX_MODEL for OpenCL); 0 with the bundle, or -1 (then a
 * diagnostic was given). */
static int compile(int target, uint8_t **out, size_t *out_size, int *out_errors) {
  mlg_source src;
  *out = NULL;
  *out_size = 0;
  if (target == 3 ? mlg_pipeline_source_load(&src, ONNX_MODEL, NULL, 0) != 0
                  : mlg_source_from_memory(&src, "dense.mlg", MODEL, strlen(MODEL)) != 0) {
    *out_errors = 1; /* out of memory before there was a source to report against */
    return -1;
  }
  static FILE *null;
  if (!null) null = fopen("/dev/null", "w");
  mlg_diag diag;
  mlg_diag_init(&diag, &src, null);
  mlg_compile_options o = {.target = target == 3 ? 1 : target, .opt_level = 2};
  int rc = mlg_compile(&src, &o, &diag, out, out_size);
  *out_errors = diag.n_errors;
  mlg_source_free(&src);
  return rc;
}

/* What a step found wrong, reported once the hook is disarmed: Check's own assertions allocate,
 * so none may run while an allocation is due to fail. */
static char problem[1024];

#define PROBLEM(...) (snprintf(problem, sizeof problem, __VA_ARGS__), -2)

/* Runs fn with allocation n failing, for every n below what a clean call makes; fn returns 0 on
 * success, -1 for a failure it reported properly, -2 with `problem` for a wrong result. After
 * each, fn again with nothing failing must succeed. */
static void sweep(const char *what, int (*fn)(void *), void *arg) {
  fail_at(-1);
  problem[0] = '\0';
  ck_assert_msg(fn(arg) == 0, "%s: %s", what, problem);
  long total = atomic_load(&seen);
  ck_assert_msg(total > 0, "%s allocates nothing", what);
  int failures = 0;
  for (long n = 0; n < total; n++) {
    fail_at(n);
    int rc = fn(arg);
    int hit = atomic_load(&injected);
    fail_at(-1);
    ck_assert_msg(rc != -2, "%s, allocation %ld of %ld failing: %s", what, n, total, problem);
    /* A failure it recovered from (a cache it could not use, a log it could not keep) is fine. */
    failures += hit && rc != 0;
    rc = fn(arg);
    ck_assert_msg(rc == 0, "%s: the call after allocation %ld of %ld failed did not work: %s", what, n, total,
                  rc == -2 ? problem : mlg_last_error());
  }
  fprintf(stderr, "%s: %ld allocations swept, %d of the failures reported as errors\n", what, total, failures);
}

/* -- compile -- */

typedef struct compile_case {
  int target;
  uint8_t *reference;
  size_t reference_size;
} compile_case;

static int compile_step(void *arg) {
  compile_case *c = arg;
  uint8_t *data;
  size_t size;
  int errors = 0;
  int rc = compile(c->target, &data, &size, &errors);
  if (rc != 0) return errors > 0 ? -1 : PROBLEM("mlg_compile failed without a diagnostic");
  rc = size == c->reference_size && memcmp(data, c->reference, size) == 0
           ? 0 : PROBLEM("a compile that succeeded gave another bundle");
  free(data);
  return rc;
}

/* _i: 1 OpenCL C, 2 GLSL and SPIR-V through shaderc (whose own allocations are C++'s), 3 an
 * ONNX model to OpenCL C. */
START_TEST(test_compile) {
  compile_case c = {.target = _i};
  int errors;
  fail_at(-1);
  ck_assert_int_eq(compile(c.target, &c.reference, &c.reference_size, &errors), 0);
  sweep(_i == 1 ? "compile opencl" : _i == 2 ? "compile vulkan" : "compile onnx", compile_step, &c);
  free(c.reference);
}
END_TEST

/* -- load, session, run -- */

typedef struct load_case {
  mlg_runtime *rt;
  const uint8_t *bundle;
  size_t size;
  const char *weights;       /* a weights file to bind, or NULL */
  int stage;                 /* 0 load; 1 and a session; 2 and a run with outputs */
} load_case;

static int load_step(void *arg) {
  load_case *c = arg;
  mlg_model *m = NULL;
  mlg_session *s = NULL;
  mlg_load_options lo = {.weights_path = c->weights};
  int rc = 0;
  mlg_status st = mlg_model_load_memory(c->rt, c->bundle, c->size, &lo, &m);
  if (st == MLG_OK && c->stage >= 1) st = mlg_session_create(m, &s);
  if (st == MLG_OK && c->stage >= 2) {
    float x[16], p[8], sum[2];
    for (int i = 0; i < 16; i++) x[i] = (float)(i % 5) - 2.0f;
    st = mlg_session_set_input(s, "x", x, sizeof x);
    /* A run allocates nothing (mlg.h). */
    long before = atomic_load(&seen);
    if (st == MLG_OK) st = mlg_session_run(s);
    if (atomic_load(&seen) != before) rc = PROBLEM("mlg_session_run allocated %ld times", atomic_load(&seen) - before);
    if (st == MLG_OK) st = mlg_session_get_output(s, "p", p, sizeof p);
    if (st == MLG_OK) st = mlg_session_get_output(s, "s", sum, sizeof sum);
    for (int i = 0; st == MLG_OK && i < 8; i++)
      if (!(p[i] >= 0.0f && p[i] <= 1.0f)) rc = PROBLEM("p[%d] = %g", i, p[i]);
  }
  if (st != MLG_OK && !mlg_last_error()[0]) rc = PROBLEM("status %s without a message", mlg_status_string(st));
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  return rc ? rc : st == MLG_OK ? 0 : -1;
}

static void load_sweep(const char *device, int target, const char *weights, int cache, const char *what) {
  char dir[4096];
  temp_dir(dir, sizeof dir);
  mlg_runtime_options o = {.device = device, .cache_dir = cache ? dir : ""};
  mlg_runtime *rt = NULL;
  fail_at(-1);
  ck_assert_msg(mlg_runtime_create(&o, &rt) == MLG_OK, "%s", mlg_last_error());
  uint8_t *bundle;
  size_t size;
  int errors;
  ck_assert_int_eq(compile(target, &bundle, &size, &errors), 0);
  load_case c = {rt, bundle, size, weights, 2};
  /* The cache is warm after the first load: the sweep covers loads from it; a failure in the
   * cache's path falls back to a build from source, which the driver's own cache keeps quick. */
  sweep(what, load_step, &c);
  free(bundle);
  mlg_runtime_destroy(rt);
  remove_tree(dir);
}

START_TEST(test_load_opencl) { load_sweep("opencl:0", 1, NULL, 1, "load+session+run opencl:0"); }
END_TEST

/* No program cache: every load builds from source (quick, from PoCL's own kernel cache). */
START_TEST(test_load_opencl_no_cache) {
  load_sweep("opencl:0", 1, NULL, 0, "load+session+run opencl:0, no cache");
}
END_TEST

START_TEST(test_load_vulkan) { load_sweep("vulkan:0", 2, NULL, 1, "load+session+run vulkan:0"); }
END_TEST

/* Weights bound from a .safetensors file at load: the reader's allocations too. */
START_TEST(test_load_weights_file) {
  char dir[4096], path[4200];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  float w[32], b[4];
  for (int i = 0; i < 32; i++) w[i] = (float)i / 32.0f;
  for (int i = 0; i < 4; i++) b[i] = (float)i;
  mlg_tf_tensor t[2] = {{.name = (char *)"w", .dtype = MLG_TF_F32, .rank = 2, .dims = {4, 8}, .size = sizeof w, .data = w},
                        {.name = (char *)"b", .dtype = MLG_TF_F32, .rank = 1, .dims = {4}, .size = sizeof b, .data = b}};
  char err[512];
  fail_at(-1);
  ck_assert_msg(mlg_safetensors_write_file(path, t, 2, err, sizeof err) == 0, "%s", err);
  load_sweep("opencl:0", 1, path, 1, "load with a weights file opencl:0");
  remove_tree(dir);
}
END_TEST

/* ---- memory that grows with the input ---- */

/* The most bytes the .safetensors reader holds while it reads `text` as a header (followed by
 * `data_len` zero bytes of data). */
static long long reader_peak(const char *text, size_t data_len, int want_ok) {
  size_t hlen = strlen(text), size = 8 + hlen + data_len;
  uint8_t *file = __real_calloc(1, size);
  ck_assert_ptr_nonnull(file);
  for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  memcpy(file + 8, text, hlen);
  mlg_safetensors f;
  char err[512];
  atomic_store(&live, 0);
  atomic_store(&peak, 0);
  atomic_store(&measuring, 1);
  int rc = mlg_safetensors_read_memory(file, size, &f, err, sizeof err);
  long long most = atomic_load(&peak);
  if (rc == 0) mlg_safetensors_free(&f);
  atomic_store(&measuring, 0);
  ck_assert_msg((rc == 0) == want_ok, "%s", rc ? err : "accepted");
  __real_free(file);
  return most;
}

/* A 56 MB header cost 1.46 GB, parsed into a tree of 80-byte nodes: a header of zeros in an
 * array, of one long metadata string, and a real header of 100,000 tensors. Memory is now at
 * most a small multiple of the header (the tensors' list and names), and nothing for the rest. */
START_TEST(test_safetensors_header_memory) {
  size_t n = 28u << 20; /* 28 Mi zeros: a 56 MiB header */
  char *text = __real_malloc(2 * n + 16);
  ck_assert_ptr_nonnull(text);
  strcpy(text, "{\"x\":[0");
  size_t at = strlen(text);
  for (size_t i = 1; i < n; i++, at += 2) memcpy(text + at, ",0", 2);
  strcpy(text + at, "]}");
  long long zeros = reader_peak(text, 0, 0);
  ck_assert_msg(zeros < (1 << 20), "an array of zeros held %lld bytes", zeros);
  strcpy(text, "{\"__metadata__\":{\"k\":\"");
  at = strlen(text);
  memset(text + at, 'a', 2 * n - 64);
  at += 2 * n - 64;
  strcpy(text + at, "\"}}");
  long long metadata = reader_peak(text, 0, 1);
  ck_assert_msg(metadata < (1 << 20), "a metadata string held %lld bytes", metadata);
  int tensors = 100000;
  at = 0;
  text[at++] = '{';
  for (int i = 0; i < tensors; i++)
    at += (size_t)sprintf(text + at, "%s\"t%06d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                          i ? "," : "", i, 4 * i, 4 * i + 4);
  text[at++] = '}';
  text[at] = '\0';
  long long many = reader_peak(text, 4u * (unsigned)tensors, 1);
  fprintf(stderr, "safetensors reader: %zu-byte header of zeros held %lld bytes; of metadata %lld; %d tensors "
          "(%zu-byte header, %d bytes of data) %lld, %.2f bytes per header byte\n", 2 * n + 1, zeros, metadata,
          tensors, at, 4 * tensors, many, (double)many / (double)at);
  ck_assert_msg(many < 4 * (long long)at, "%d tensors held %lld bytes for a %zu-byte header", tensors, many, at);
  __real_free(text);
}
END_TEST

static Suite *alloc_fail_suite(void) {
  Suite *s = suite_create("alloc_fail");
  TCase *tc = tcase_create("sweep");
  tcase_add_loop_test(tc, test_compile, 1, 4);
  tcase_add_test(tc, test_load_opencl);
  tcase_add_test(tc, test_load_opencl_no_cache);
  tcase_add_test(tc, test_load_vulkan);
  tcase_add_test(tc, test_load_weights_file);
  suite_add_tcase(s, tc);
  TCase *memory = tcase_create("memory");
  tcase_add_test(memory, test_safetensors_header_memory);
  suite_add_tcase(s, memory);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(alloc_fail_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

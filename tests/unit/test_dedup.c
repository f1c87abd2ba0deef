/* test_dedup.c — compile once: a network whose layers repeat a shape is one kernel launched many
 * times (compiler/lower.c, codegen/kir_compare.c), the bundle stores that kernel once (format
 * version 3: arguments per dispatch), the runtime builds it once and caches it per kernel, so
 * models that share a kernel share its cache entry; its numbers equal a host reference on
 * OpenCL (PoCL) and Vulkan (lavapipe); loads report their progress; and a bundle built with
 * --no-weights keeps its constants. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "compile.h"
#include "internal.h"
#include "mlg.h"

#define WIDTH 16
#define BATCH 4

/* h{i} = relu(linear(h{i-1}, l{i}.weight, l{i}.bias)) + h{i-1} * 0.5 over `layers` layers. */
static char *deep_source(int layers) {
  size_t cap = 256 + (size_t)layers * 256;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  size_t n = (size_t)snprintf(s, cap, "model deep%d {\n  input x : f32[%d, %d]\n", layers, BATCH, WIDTH);
  for (int i = 1; i <= layers; i++)
    n += (size_t)snprintf(s + n, cap - n,
                          "  param l%d.weight : f32[%d, %d] = normal(0, 0.3, seed=%d)\n"
                          "  param l%d.bias : f32[%d] = uniform(-0.1, 0.1, seed=%d)\n",
                          i, WIDTH, WIDTH, i, i, WIDTH, 1000 + i);
  n += (size_t)snprintf(s + n, cap - n, "  h0 = x\n");
  for (int i = 1; i <= layers; i++)
    n += (size_t)snprintf(s + n, cap - n, "  h%d = relu(linear(h%d, l%d.weight, l%d.bias)) + h%d * 0.5\n", i,
                          i - 1, i, i, i - 1);
  snprintf(s + n, cap - n, "  output y = h%d\n}\n", layers);
  return s;
}

static uint8_t *compile_text(const char *text, int target, int opt_level, int no_weights, const char *weights,
                             size_t *out_size) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "deep.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = {.target = target, .opt_level = opt_level, .no_weights = no_weights,
                           .weights_path = weights};
  uint8_t *data = NULL;
  ck_assert_msg(mlg_compile(&src, &o, &diag, &data, out_size) == 0, "compile failed");
  mlg_source_free(&src);
  return data;
}

static uint8_t *compile_deep(int layers, int target, int opt_level, size_t *out_size) {
  char *text = deep_source(layers);
  uint8_t *data = compile_text(text, target, opt_level, 0, NULL, out_size);
  free(text);
  return data;
}

static mlgb_bundle *read_bundle(const uint8_t *data, size_t size) {
  mlgb_bundle *b = NULL;
  char err[512];
  ck_assert_msg(mlgb_read(data, size, &b, err, sizeof err) == 0, "%s", err);
  return b;
}

static const mlgb_tensor *tensor_named(const mlgb_bundle *b, const char *name) {
  for (uint32_t i = 0; i < b->n_tensors; i++)
    if (strcmp(b->tensors[i].name, name) == 0) return &b->tensors[i];
  ck_abort_msg("no tensor '%s' in the bundle", name);
  return NULL;
}

/* ---- the compiler ---- */

START_TEST(test_repeated_layers_one_kernel) {
  static const int targets[2] = {MLGB_TARGET_OPENCL, MLGB_TARGET_VULKAN};
  for (int t = 0; t < 2; t++) {
    size_t size;
    uint8_t *data = compile_deep(24, targets[t], 2, &size);
    mlgb_bundle *b = read_bundle(data, size);
    /* One fused kernel per layer, all the same code: one kernel, one module, 24 dispatches. */
    ck_assert_uint_eq(b->n_dispatches, 24);
    ck_assert_uint_eq(b->n_kernels, 1);
    ck_assert_uint_eq(b->n_modules, 1);
    ck_assert_str_eq(b->kernels[0].name, "k_linear_relu_mul_add");
    /* Each dispatch binds its own layer's weight, bias and input. */
    char name[32];
    for (uint32_t i = 0; i < b->n_dispatches; i++) {
      const mlgb_dispatch *d = &b->dispatches[i];
      ck_assert_uint_eq(d->kernel, 0);
      ck_assert_uint_eq(d->n_args, b->kernels[0].n_params);
      snprintf(name, sizeof name, "l%u.weight", i + 1);
      const mlgb_tensor *w = tensor_named(b, name);
      int binds = 0;
      for (uint32_t a = 0; a < d->n_args; a++) binds |= &b->tensors[d->args[a]] == w;
      ck_assert_msg(binds, "dispatch %u does not bind %s", i, name);
    }
    mlgb_free(b);
    free(data);
  }
}
END_TEST

/* Unfused, each op is its own launch and the kernels still repeat: linear, relu, mul and add,
 * 4 launches a layer of 4 distinct kernels. */
START_TEST(test_repeated_layers_O0) {
  size_t size;
  uint8_t *data = compile_deep(10, MLGB_TARGET_OPENCL, 0, &size);
  mlgb_bundle *b = read_bundle(data, size);
  ck_assert_uint_eq(b->n_dispatches, 40);
  ck_assert_uint_eq(b->n_kernels, 4);
  mlgb_free(b);
  free(data);
}
END_TEST

/* Different shapes are different kernels, never merged: the second layer is wider. */
/* Kernel variants stay whole through deduplication: three quantized matrix products, two of
 * one shape, compile to one variant + fallback pair for the repeated shape and another for the
 * third; each variant's fallback is the plain kernel of its own shape, and every dispatch names
 * a variant. */
START_TEST(test_variants_deduplicated) {
  static const char *text =
      "model qdedup {\n"
      "  input a : u8[4, 32]\n"
      "  param b1 : i8[32, 32] = zeros\n"
      "  param b2 : i8[32, 32] = zeros\n"
      "  param b3 : i8[32, 16] = zeros\n"
      "  const s : f32 = 0.5\n"
      "  const zu : u8 = 128\n"
      "  const zi : i8 = 0\n"
      "  h1 = qlinear_matmul(a, s, zu, b1, s, zi, s, zu)\n"
      "  h2 = qlinear_matmul(h1, s, zu, b2, s, zi, s, zu)\n"
      "  output y = qlinear_matmul(h2, s, zu, b3, s, zi, s, zu)\n"
      "}\n";
  static const int targets[2] = {MLGB_TARGET_OPENCL, MLGB_TARGET_VULKAN};
  for (int t = 0; t < 2; t++) {
    size_t size;
    uint8_t *data = compile_text(text, targets[t], 2, 0, NULL, &size);
    mlgb_bundle *b = read_bundle(data, size);
    ck_assert_uint_eq(b->n_dispatches, 3);
    ck_assert_uint_eq(b->n_kernels, 4);
    ck_assert_uint_eq(b->dispatches[0].kernel, b->dispatches[1].kernel);
    ck_assert_uint_ne(b->dispatches[0].kernel, b->dispatches[2].kernel);
    for (uint32_t i = 0; i < 3; i++) {
      const mlgb_kernel *k = &b->kernels[b->dispatches[i].kernel];
      ck_assert_uint_eq(k->requires, MLGB_DEVICE_INT_DOT);
      ck_assert_uint_ne(k->fallback, 0);
      const mlgb_kernel *f = &b->kernels[k->fallback - 1];
      ck_assert_uint_eq(f->requires, 0);
      ck_assert_uint_eq(f->fallback, 0);
      /* "k_qlinear_matmul_idot" beside "k_qlinear_matmul"; the second shape's get "_2" */
      ck_assert_ptr_nonnull(strstr(k->name, "_idot"));
      ck_assert_ptr_null(strstr(f->name, "_idot"));
    }
    ck_assert_uint_ne(b->kernels[b->dispatches[0].kernel].fallback, b->kernels[b->dispatches[2].kernel].fallback);
    mlgb_free(b);
    free(data);
  }
}
END_TEST

START_TEST(test_different_shapes_stay_apart) {
  const char *text =
      "model two {\n  input x : f32[2, 8]\n"
      "  param w1 : f32[8, 8] = ones\n  param w2 : f32[16, 8] = ones\n"
      "  a = relu(linear(x, w1))\n  b = relu(linear(x, w2))\n"
      "  output y = a\n  output z = b\n}\n";
  size_t size;
  uint8_t *data = compile_text(text, MLGB_TARGET_OPENCL, 2, 0, NULL, &size);
  mlgb_bundle *b = read_bundle(data, size);
  ck_assert_uint_eq(b->n_dispatches, 2);
  ck_assert_uint_eq(b->n_kernels, 2);
  ck_assert_str_eq(b->kernels[0].name, "k_linear_relu");
  ck_assert_str_eq(b->kernels[1].name, "k_linear_relu_2");
  mlgb_free(b);
  free(data);
}
END_TEST

/* ---- numbers against the host ---- */

/* y of the deep model in double, from the bundle's own weights, for input x. */
static void host_reference(const mlgb_bundle *b, int layers, const float *x, double *y) {
  uint8_t *image = calloc(1, b->region_size[MLGB_REGION_WEIGHTS]);
  ck_assert_ptr_nonnull(image);
  uint8_t *images[MLGB_N_REGIONS] = {image};
  mlgb_weights_unpack(b, images);
  double h[BATCH * WIDTH], next[BATCH * WIDTH];
  for (int i = 0; i < BATCH * WIDTH; i++) h[i] = x[i];
  char name[32];
  for (int l = 1; l <= layers; l++) {
    snprintf(name, sizeof name, "l%d.weight", l);
    const float *w = (const float *)(image + tensor_named(b, name)->offset);
    snprintf(name, sizeof name, "l%d.bias", l);
    const float *bias = (const float *)(image + tensor_named(b, name)->offset);
    for (int r = 0; r < BATCH; r++)
      for (int o = 0; o < WIDTH; o++) {
        double acc = bias[o];
        for (int k = 0; k < WIDTH; k++) acc += h[r * WIDTH + k] * w[o * WIDTH + k];
        next[r * WIDTH + o] = (acc > 0 ? acc : 0) + h[r * WIDTH + o] * 0.5;
      }
    memcpy(h, next, sizeof h);
  }
  memcpy(y, h, sizeof h);
  free(image);
}

static mlg_runtime *runtime_on(const char *device, const char *cache_dir) {
  mlg_runtime_options ro = {.device = device, .cache_dir = cache_dir};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "%s: %s", device, mlg_last_error());
  return rt;
}

static void check_deep_on(const char *device, int target) {
  const int layers = 30;
  size_t size;
  uint8_t *data = compile_deep(layers, target, 2, &size);
  mlgb_bundle *b = read_bundle(data, size);
  mlg_runtime *rt = runtime_on(device, "");
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, data, size, NULL, &m) == MLG_OK, "load: %s", mlg_last_error());
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  float x[BATCH * WIDTH], y[BATCH * WIDTH];
  for (int i = 0; i < BATCH * WIDTH; i++) x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
  ck_assert_int_eq(mlg_session_set_input(s, "x", x, sizeof x), MLG_OK);
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_OK);
  double ref[BATCH * WIDTH], scale = 0;
  host_reference(b, layers, x, ref);
  for (int i = 0; i < BATCH * WIDTH; i++) scale = fmax(scale, fabs(ref[i]));
  ck_assert_msg(scale > 1e-3, "the reference vanished (%g): the test would prove nothing", scale);
  for (int i = 0; i < BATCH * WIDTH; i++)
    ck_assert_msg(fabs(y[i] - ref[i]) <= 1e-4 * scale, "%s y[%d] = %.7g, expected %.7g", device, i, y[i], ref[i]);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  mlgb_free(b);
  free(data);
}

START_TEST(test_repeated_layers_numbers_opencl) { check_deep_on("opencl:0", MLGB_TARGET_OPENCL); }
END_TEST

START_TEST(test_repeated_layers_numbers_vulkan) { check_deep_on("vulkan:0", MLGB_TARGET_VULKAN); }
END_TEST

/* ---- the runtime's caches and progress ---- */

static char cache_dir[256];

static void fresh_cache_dir(void) {
  snprintf(cache_dir, sizeof cache_dir, "/tmp/mlg_test_dedup_%ld", (long)getpid());
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void expect_stats(const mlg_model *m, int hits, int misses, int writes) {
  int h, mi, w;
  mlg_model_cache_stats(m, &h, &mi, &w);
  ck_assert_msg(h == hits && mi == misses && w == writes, "cache: %d hits, %d misses, %d writes; want %d, %d, %d",
                h, mi, w, hits, misses, writes);
}

/* Models of different depth share their one kernel, so the second load finds it cached. */
static void check_shared_cache(const char *device, int target) {
  fresh_cache_dir();
  mlg_runtime *rt = runtime_on(device, cache_dir);
  size_t size3, size5;
  uint8_t *deep3 = compile_deep(3, target, 2, &size3), *deep5 = compile_deep(5, target, 2, &size5);
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, deep3, size3, NULL, &m) == MLG_OK, "%s", mlg_last_error());
  expect_stats(m, 0, 1, 1);
  mlg_model_destroy(m);
  ck_assert_msg(mlg_model_load_memory(rt, deep5, size5, NULL, &m) == MLG_OK, "%s", mlg_last_error());
  expect_stats(m, 1, 0, 0);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(deep3);
  free(deep5);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_cache_shared_across_models_opencl) { check_shared_cache("opencl:0", MLGB_TARGET_OPENCL); }
END_TEST

START_TEST(test_cache_shared_across_models_vulkan) { check_shared_cache("vulkan:0", MLGB_TARGET_VULKAN); }
END_TEST

typedef struct progress_log {
  int calls, last_done, last_total, backwards;
} progress_log;

static void on_progress(void *user, int done, int total) {
  progress_log *p = user;
  if (done < p->last_done) p->backwards = 1;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

/* The progress callback counts the distinct kernels and ends at total. */
START_TEST(test_load_reports_progress) {
  const char *text =
      "model three {\n  input x : f32[4, 8]\n  param w : f32[8, 8] = ones\n"
      "  a = relu(linear(x, w))\n  b = softmax(a, axis=-1)\n  output y = b * 2.0 + 1.0\n}\n";
  size_t size;
  uint8_t *data = compile_text(text, MLGB_TARGET_OPENCL, 0, 0, NULL, &size);
  mlgb_bundle *b = read_bundle(data, size);
  mlg_runtime *rt = runtime_on("opencl:0", "");
  progress_log log = {0};
  mlg_load_options lo = {.progress = on_progress, .progress_user = &log};
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, data, size, &lo, &m) == MLG_OK, "%s", mlg_last_error());
  ck_assert_int_ge(log.calls, 1);
  ck_assert_int_eq(log.backwards, 0);
  ck_assert_int_eq(log.last_total, (int)b->n_modules);
  ck_assert_int_eq(log.last_done, (int)b->n_modules);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  mlgb_free(b);
  free(data);
}
END_TEST

/* ---- --no-weights ---- */

static float *run_once(mlg_runtime *rt, const uint8_t *data, size_t size, const char *weights, size_t *out_n) {
  mlg_load_options lo = {.weights_path = weights};
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, data, size, &lo, &m) == MLG_OK, "load: %s", mlg_last_error());
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  mlg_tensor_info in, out;
  ck_assert_int_eq(mlg_model_input_info(m, 0, &in), MLG_OK);
  ck_assert_int_eq(mlg_model_output_info(m, 0, &out), MLG_OK);
  float *x = malloc(in.bytes), *y = malloc(out.bytes);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(y);
  for (size_t i = 0; i < in.bytes / 4; i++) x[i] = (float)((i * 13) % 11) / 5.0f - 1.0f;
  ck_assert_int_eq(mlg_session_set_input(s, in.name, x, in.bytes), MLG_OK);
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
  ck_assert_int_eq(mlg_session_get_output(s, out.name, y, out.bytes), MLG_OK);
  free(x);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  *out_n = out.bytes / 4;
  return y;
}

/* The transformer block's causal mask is a const: a --no-weights bundle keeps it, takes its
 * params from the file, and computes what the bundle built with them computes. At -O0: -O2
 * turns that mask into the attention's causal flag (pass_recognize), and no const is left. */
START_TEST(test_no_weights_keeps_constants) {
  char model[512], weights[512];
  snprintf(model, sizeof model, "%s/models/transformer_block.mlg", MLG_SOURCE_DIR);
  snprintf(weights, sizeof weights, "%s/tests/models/transformer_block/weights.safetensors", MLG_SOURCE_DIR);
  mlg_source src;
  ck_assert_int_eq(mlg_source_load(&src, model), 0);
  size_t with_size, without_size;
  uint8_t *with = compile_text(src.text, MLGB_TARGET_OPENCL, 0, 0, weights, &with_size);
  uint8_t *without = compile_text(src.text, MLGB_TARGET_OPENCL, 0, 1, NULL, &without_size);
  mlg_source_free(&src);
  mlgb_bundle *b = read_bundle(without, without_size);
  ck_assert_int_eq(b->has_params, 0);
  const mlgb_tensor *mask = tensor_named(b, "mask");
  ck_assert_uint_eq(mask->role, MLGB_ROLE_CONST);
  mlgb_free(b);

  mlg_runtime *rt = runtime_on("opencl:0", "");
  size_t n1, n2;
  float *y1 = run_once(rt, with, with_size, NULL, &n1);
  float *y2 = run_once(rt, without, without_size, weights, &n2);
  ck_assert_uint_eq(n1, n2);
  for (size_t i = 0; i < n1; i++) ck_assert_msg(y1[i] == y2[i], "out[%zu]: %g vs %g", i, y1[i], y2[i]);
  /* Without a weights file the first missing weight named is a param, never a constant. */
  mlg_model *m = NULL;
  ck_assert_int_eq(mlg_model_load_memory(rt, without, without_size, NULL, &m), MLG_ERR_NOT_FOUND);
  ck_assert_msg(strstr(mlg_last_error(), "'ln_1.weight'") != NULL, "%s", mlg_last_error());
  mlg_runtime_destroy(rt);
  free(y1);
  free(y2);
  free(with);
  free(without);
}
END_TEST

static Suite *dedup_suite(void) {
  Suite *s = suite_create("dedup");
  TCase *c = tcase_create("compiler");
  tcase_add_test(c, test_repeated_layers_one_kernel);
  tcase_add_test(c, test_repeated_layers_O0);
  tcase_add_test(c, test_different_shapes_stay_apart);
  tcase_add_test(c, test_variants_deduplicated);
  tcase_set_timeout(c, 120); /* shaderc under the sanitizers: seconds per kernel */
  suite_add_tcase(s, c);
  TCase *r = tcase_create("runtime");
  tcase_set_timeout(r, 600);
  tcase_add_test(r, test_repeated_layers_numbers_opencl);
  tcase_add_test(r, test_repeated_layers_numbers_vulkan);
  tcase_add_test(r, test_cache_shared_across_models_opencl);
  tcase_add_test(r, test_cache_shared_across_models_vulkan);
  tcase_add_test(r, test_load_reports_progress);
  tcase_add_test(r, test_no_weights_keeps_constants);
  suite_add_tcase(s, r);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(dedup_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

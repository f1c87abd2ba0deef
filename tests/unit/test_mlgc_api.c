/* test_mlgc_api.c — libmlgc (tools/libmlgc/mlgc.h), the compiler behind the Python package:
 * bundles with mlgc's options, compiling for a device as mlgrun does, and every error path,
 * whose diagnostics must land in mlgc_log() and never on stderr. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "mlg.h"
#include "mlgc.h"
#include "tensor_file.h"

#define MLP MLG_SOURCE_DIR "/models/mlp.mlg"
#define MLP_WEIGHTS MLG_SOURCE_DIR "/tests/models/mlp/weights.safetensors"

static mlgb_bundle *parse(const void *data, size_t size) {
  mlgb_bundle *b = NULL;
  char err[512];
  ck_assert_msg(mlgb_read(data, size, &b, err, sizeof err) == 0, "mlgb_read: %s", err);
  return b;
}

static const mlgb_tensor *tensor(const mlgb_bundle *b, const char *name) {
  for (uint32_t i = 0; i < b->n_tensors; i++)
    if (strcmp(b->tensors[i].name, name) == 0) return &b->tensors[i];
  ck_abort_msg("no tensor '%s' in the bundle", name);
  return NULL;
}

START_TEST(test_defaults) {
  void *data = NULL;
  size_t size = 0;
  ck_assert_int_eq(mlgc_compile_file(MLP, NULL, &data, &size), MLG_OK);
  ck_assert_str_eq(mlgc_log(), "");
  mlgb_bundle *b = parse(data, size);
  ck_assert_int_eq(b->target, MLGB_TARGET_OPENCL);
  ck_assert_int_eq(tensor(b, "x")->dims[0], 1);
  ck_assert(b->has_params);
  mlgb_free(b);
  mlgc_free(data);
}
END_TEST

START_TEST(test_options) {
  mlgc_options o;
  mlgc_options_init(&o);
  ck_assert_int_eq(o.opt_level, 2);
  mlgc_dim dims[] = {{"N", 4}};
  o.target = "vulkan";
  o.dims = dims;
  o.n_dims = 1;
  o.weights_path = MLP_WEIGHTS;
  void *data = NULL;
  size_t size = 0;
  ck_assert_msg(mlgc_compile_file(MLP, &o, &data, &size) == MLG_OK, "%s", mlgc_log());
  mlgb_bundle *b = parse(data, size);
  ck_assert_int_eq(b->target, MLGB_TARGET_VULKAN);
  ck_assert_int_eq(tensor(b, "x")->dims[0], 4);
  ck_assert_int_eq(tensor(b, "probs")->dims[0], 4);
  mlgb_free(b);
  mlgc_free(data);

  /* -O0: one kernel per op, more than -O2's three. */
  o.target = NULL;
  o.opt_level = 0;
  ck_assert_int_eq(mlgc_compile_file(MLP, &o, &data, &size), MLG_OK);
  b = parse(data, size);
  ck_assert_int_gt(b->n_dispatches, 3);
  mlgb_free(b);
  mlgc_free(data);

  /* --no-weights */
  o.opt_level = 2;
  o.weights_path = NULL;
  o.no_weights = 1;
  ck_assert_int_eq(mlgc_compile_file(MLP, &o, &data, &size), MLG_OK);
  b = parse(data, size);
  ck_assert(!b->has_params);
  mlgb_free(b);
  mlgc_free(data);

  /* precision "f16": the weights are halves, the interface stays f32. */
  o.no_weights = 0;
  o.weights_path = MLP_WEIGHTS;
  o.precision = "f16";
  ck_assert_msg(mlgc_compile_file(MLP, &o, &data, &size) == MLG_OK, "%s", mlgc_log());
  b = parse(data, size);
  ck_assert_int_eq(tensor(b, "fc1.weight")->dtype, MLG_DTYPE_F16);
  ck_assert_int_eq(tensor(b, "fc1.weight")->size, 784 * 256 * 2);
  ck_assert_int_eq(tensor(b, "x")->dtype, MLG_DTYPE_F32);
  ck_assert_int_eq(tensor(b, "probs")->dtype, MLG_DTYPE_F32);
  mlgb_free(b);
  mlgc_free(data);
  o.precision = "bf16";
  ck_assert_int_eq(mlgc_compile_file(MLP, &o, &data, &size), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(mlgc_log(), "unknown precision 'bf16' (expected f32 or f16)"), "log: %s", mlgc_log());
}
END_TEST

/* Compiled for each device, the bundle is for its backend and runs there: a softmax, so every
 * row of the output sums to 1. */
START_TEST(test_for_device) {
  int n = 0;
  ck_assert_int_eq(mlg_list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_int_gt(n, 0);
  mlg_device_info *devs = calloc((size_t)n, sizeof *devs);
  ck_assert_int_eq(mlg_list_devices(devs, n, &n), MLG_OK);
  for (int d = 0; d < n; d++) {
    mlgc_options o;
    mlgc_options_init(&o);
    o.device = &devs[d];
    o.target = "nonsense"; /* ignored with a device */
    mlgc_dim dims[] = {{"N", 2}};
    o.dims = dims;
    o.n_dims = 1;
    void *data = NULL;
    size_t size = 0;
    ck_assert_msg(mlgc_compile_file(MLP, &o, &data, &size) == MLG_OK, "%s: %s", devs[d].spec, mlgc_log());
    mlgb_bundle *b = parse(data, size);
    int vulkan = strcmp(devs[d].backend, "vulkan") == 0;
    ck_assert_int_eq(b->target, vulkan ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL);
    mlgb_free(b);

    mlg_runtime_options ro = {.device = devs[d].spec, .cache_dir = ""};
    mlg_runtime *rt = NULL;
    mlg_model *m = NULL;
    mlg_session *s = NULL;
    ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_model_load_memory(rt, data, size, NULL, &m) == MLG_OK, "%s", mlg_last_error());
    mlgc_free(data);
    ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
    float x[2 * 784], y[2 * 10];
    for (int i = 0; i < 2 * 784; i++) x[i] = (float)(i % 13) / 13.0f;
    ck_assert_int_eq(mlg_session_set_input(s, "x", x, sizeof x), MLG_OK);
    ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s", mlg_last_error());
    ck_assert_int_eq(mlg_session_get_output(s, "probs", y, sizeof y), MLG_OK);
    for (int r = 0; r < 2; r++) {
      double sum = 0;
      for (int k = 0; k < 10; k++) sum += y[r * 10 + k];
      ck_assert_msg(fabs(sum - 1.0) < 1e-5, "%s: row %d sums to %g", devs[d].spec, r, sum);
    }
    mlg_session_destroy(s);
    mlg_model_destroy(m);
    mlg_runtime_destroy(rt);
  }
  free(devs);
}
END_TEST

START_TEST(test_errors) {
  void *data = (void *)1;
  size_t size = 1;
  /* A model with an error: the diagnostic, with its location, in the log. */
  const char *bad = "model m {\n  input x : f32[4]\n  output y = relu(x, z)\n}\n";
  ck_assert_int_eq(mlgc_compile_source("bad.mlg", bad, strlen(bad), NULL, &data, &size), MLG_ERR_FORMAT);
  ck_assert_ptr_null(data);
  ck_assert_uint_eq(size, 0);
  ck_assert_msg(strstr(mlgc_log(), "bad.mlg:3:") && strstr(mlgc_log(), "error:"), "log: %s", mlgc_log());

  /* A good source clears the log. */
  const char *good = "model m {\n  input x : f32[4]\n  output y = relu(x)\n}\n";
  ck_assert_int_eq(mlgc_compile_source("good.mlg", good, strlen(good), NULL, &data, &size), MLG_OK);
  ck_assert_str_eq(mlgc_log(), "");
  mlgc_free(data);

  ck_assert_int_eq(mlgc_compile_file(MLG_SOURCE_DIR "/no/such.mlg", NULL, &data, &size), MLG_ERR_IO);
  ck_assert_msg(strstr(mlgc_log(), "no/such.mlg"), "log: %s", mlgc_log());

  mlgc_options o;
  struct {
    const char *target, *hint;
    int opt_level, subgroups;
    int64_t dim;
    int no_weights;
    const char *weights, *tuning, *want;
  } cases[] = {
      {"cuda", NULL, 2, -1, 1, 0, NULL, NULL, "unknown target 'cuda'"},
      {NULL, "tpu", 2, -1, 1, 0, NULL, NULL, "unknown device hint 'tpu'"},
      {NULL, NULL, 7, -1, 1, 0, NULL, NULL, "opt_level 7"},
      {NULL, NULL, 2, 1, 1, 0, NULL, NULL, "subgroups need the vulkan target"},
      {NULL, NULL, 2, -1, 0, 0, NULL, NULL, "a dim must be a positive integer"},
      {NULL, NULL, 2, -1, 1, 1, MLP_WEIGHTS, NULL, "exclude each other"},
      {NULL, NULL, 2, -1, 1, 0, NULL, MLG_SOURCE_DIR "/no/tuning.txt", "tuning:"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mlgc_options_init(&o);
    mlgc_dim dims[] = {{"N", cases[i].dim}};
    o.dims = dims;
    o.n_dims = 1;
    o.target = cases[i].target;
    o.device_hint = cases[i].hint;
    o.opt_level = cases[i].opt_level;
    o.subgroups = cases[i].subgroups;
    o.no_weights = cases[i].no_weights;
    o.weights_path = cases[i].weights;
    o.tuning_path = cases[i].tuning;
    ck_assert_int_eq(mlgc_compile_file(MLP, &o, &data, &size), MLG_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mlgc_log(), cases[i].want), "case %zu: log '%s', want '%s'", i, mlgc_log(),
                  cases[i].want);
  }
  /* A dim the model does not have: the checker's message. */
  mlgc_options_init(&o);
  mlgc_dim dims[] = {{"n", 4}};
  o.dims = dims;
  o.n_dims = 1;
  ck_assert_int_eq(mlgc_compile_file(MLP, &o, &data, &size), MLG_ERR_FORMAT);
  ck_assert_msg(strstr(mlgc_log(), "no dim 'n'; did you mean 'N'?"), "log: %s", mlgc_log());

  ck_assert_int_eq(mlgc_compile_file(MLP, NULL, NULL, &size), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(mlgc_compile_file(NULL, NULL, &data, &size), MLG_ERR_INVALID_ARGUMENT);
  mlgc_options_init(NULL); /* a no-op */
}
END_TEST

/* Writes a .safetensors file of f32 tensors with these names (each of `shapes`' elements, 0s). */
static void write_weights(const char *path, int n, const char *const *names, const int64_t (*shapes)[2]) {
  mlg_tf_tensor t[8];
  static float zeros[256 * 784];
  for (int i = 0; i < n; i++) {
    memset(&t[i], 0, sizeof t[i]);
    t[i].name = (char *)names[i];
    t[i].dtype = MLG_TF_F32;
    t[i].rank = shapes[i][1] ? 2 : 1;
    t[i].dims[0] = shapes[i][0];
    t[i].dims[1] = shapes[i][1];
    t[i].size = (size_t)(shapes[i][0] * (shapes[i][1] ? shapes[i][1] : 1)) * sizeof(float);
    t[i].data = zeros;
  }
  char err[512];
  ck_assert_msg(mlg_safetensors_write_file(path, t, n, err, sizeof err) == 0, "%s", err);
}

/* Tensors of a weights file that match no param: a warning naming them, with the param each
 * was probably meant for; a param without initializer missing from the file: an error with
 * the file's closest name. */
START_TEST(test_weight_names) {
  char path[] = MLG_BINARY_DIR "/test_mlgc_api_weights.safetensors";
  const char *names[] = {"fc1.weigth", "fc1.bias", "fc2.weight", "fc2.bias", "extra", "bn.num_batches_tracked"};
  const int64_t shapes[][2] = {{256, 784}, {256, 0}, {10, 256}, {10, 0}, {3, 0}, {1, 0}};
  write_weights(path, 6, names, shapes);
  mlgc_options o;
  mlgc_options_init(&o);
  o.weights_path = path;
  void *data = NULL;
  size_t size = 0;
  ck_assert_msg(mlgc_compile_file(MLP, &o, &data, &size) == MLG_OK, "%s", mlgc_log());
  mlgc_free(data);
  const char *log = mlgc_log();
  ck_assert_msg(strstr(log, "warning: ") &&
                    strstr(log, "2 tensors match no param of the model and are ignored: 'fc1.weigth' "
                                "(did you mean 'fc1.weight'?), 'extra'"),
                "log: %s", log);
  ck_assert_msg(!strstr(log, "num_batches_tracked"), "log: %s", log);

  /* A param without initializer. */
  const char *src = "model m {\n  input x : f32[3]\n  param fc1.weight : f32[256, 784]\n"
                    "  param b : f32[3]\n  output y = x + b\n}\n";
  ck_assert_int_eq(mlgc_compile_source("w.mlg", src, strlen(src), &o, &data, &size), MLG_ERR_FORMAT);
  log = mlgc_log();
  ck_assert_msg(strstr(log, "param 'b' is not in") && strstr(log, "and has no initializer\n"), "log: %s", log);
  const char *src2 = "model m {\n  input x : f32[3]\n  param extr : f32[3]\n  output y = x + extr\n}\n";
  ck_assert_int_eq(mlgc_compile_source("w.mlg", src2, strlen(src2), &o, &data, &size), MLG_ERR_FORMAT);
  log = mlgc_log();
  ck_assert_msg(strstr(log, "w.mlg:3:") && strstr(log, "param 'extr' is not in") &&
                    strstr(log, "did you mean 'extra' (in the file)?"),
                "log: %s", log);
  remove(path);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("mlgc_api");
  TCase *tc = tcase_create("compile");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_options);
  tcase_add_test(tc, test_for_device);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_weight_names);
  suite_add_tcase(suite, tc);
  SRunner *runner = srunner_create(suite);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

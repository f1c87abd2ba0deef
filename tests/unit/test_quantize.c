/* test_quantize.c — mlgc --quantize=int8 end to end (docs/quantization.md), through the tools
 * as a user runs them (PoCL):
 *   models  the ResNet block and LeNet of models/, calibrated on 32 seeded normal samples, then
 *           run by mlgrun on the fixed input of tests/models/<m>/x.npy: the int8 output must lie
 *           within the tolerance below of the PyTorch f32 reference (tests/models/<m>/expected),
 *           and every layer must run as an integer op;
 *   errors  every bad flag and calibration file: exit status and the message that says what to do.
 *
 * The tolerance comes from the quantization steps the report prints: every quantized value
 * (each layer's input and result) is rounded to its step s, an error of at most s/2, and the
 * test allows the sum of those half steps over the model's distinct quantized values. It is the
 * error budget of rounding each value once, with the layers in between taken as gain 1 (their
 * weights are normalized: BN-folded convs and small LeNet weights); the measured errors lie well
 * inside it (the test prints both). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tensor_file.h"

static char tmpdir[256];

static void path_in_tmp(char *buf, size_t size, const char *name) {
  ck_assert_int_lt(snprintf(buf, size, "%s/%s", tmpdir, name), (int)size);
}

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/mlg-quant.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "test_quantize: could not remove %s\n", tmpdir);
}

/* splitmix64, and normal samples from it (Box-Muller): the same on every platform. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static float next_normal(uint64_t *state) {
  double u = ((double)(next_random(state) >> 11) + 1.0) / 9007199254740993.0;
  double v = (double)(next_random(state) >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Writes tmpdir/name: f32 of `dims` filled with seeded normal samples; `nan_at` >= 0 puts a NaN
 * there. */
static void write_samples(const char *name, int rank, const int64_t *dims, int64_t nan_at) {
  mlg_tf_tensor t = {.dtype = MLG_TF_F32, .rank = rank};
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= t.dims[i] = dims[i];
  float *x = malloc(sizeof(float) * (size_t)n);
  ck_assert_ptr_nonnull(x);
  uint64_t seed = 2026;
  for (int64_t i = 0; i < n; i++) x[i] = next_normal(&seed);
  if (nan_at >= 0) x[nan_at] = NAN;
  t.data = x;
  t.size = sizeof(float) * (size_t)n;
  char path[512], err[512];
  path_in_tmp(path, sizeof path, name);
  ck_assert_msg(mlg_npy_write_file(path, &t, err, sizeof err) == 0, "%s", err);
  free(x);
}

/* The whole of a small text file, NUL-terminated (a static buffer). */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[32768];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Runs `TOOL ARGS` from the source folder with stderr captured; returns its exit status and the
 * text in *out_err. */
static int run(const char *tool, const char *args, char **out_err) {
  char err_path[512], cmd[4096];
  path_in_tmp(err_path, sizeof err_path, "stderr.txt");
  ck_assert_int_lt(snprintf(cmd, sizeof cmd, "cd '%s' && '%s/bin/%s' %s >/dev/null 2>'%s'", MLG_SOURCE_DIR,
                            MLG_BINARY_DIR, tool, args, err_path), (int)sizeof cmd);
  int rc = system(cmd);
  *out_err = slurp(err_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The tolerance of the header: half of each distinct "scale S" the report prints. */
static double half_steps(const char *report) {
  double seen[64];
  int n = 0;
  double sum = 0;
  for (const char *p = strstr(report, " scale "); p; p = strstr(p + 1, " scale ")) {
    double s = strtod(p + 7, NULL);
    int dup = 0;
    for (int i = 0; i < n; i++) dup |= seen[i] == s;
    if (dup || n == 64) continue;
    seen[n++] = s;
    sum += s / 2;
  }
  ck_assert_int_gt(n, 0);
  return sum;
}

/* Quantizes models/<model>.mlg with its fixture weights, runs it on the fixture input and
 * compares output `out` with the reference. */
static void check_model(const char *model, const char *out, const int64_t *dims, int layers) {
  write_samples("calib.npy", 4, dims, -1);
  char args[3072], *err;
  snprintf(args, sizeof args,
           "models/%s.mlg --weights tests/models/%s/weights.safetensors --quantize=int8 "
           "--calibrate x='%s/calib.npy' --device cpu -o '%s/q.mlgb'", model, model, tmpdir, tmpdir);
  ck_assert_msg(run("mlgc", args, &err) == 0, "mlgc %s:\n%s", args, err);
  char want[128];
  snprintf(want, sizeof want, "%d of %d layers quantized; %d run as integer ops", layers, layers, layers);
  ck_assert_msg(strstr(err, want), "%s", err);
  double tol = half_steps(err);
  printf("%s", err);
  snprintf(args, sizeof args, "'%s/q.mlgb' --device cpu --input x=tests/models/%s/x.npy --output-dir '%s'", tmpdir,
           model, tmpdir);
  ck_assert_msg(run("mlgrun", args, &err) == 0, "mlgrun %s:\n%s", args, err);

  mlg_tf_tensor got, ref;
  char path[1024], msg[512];
  snprintf(path, sizeof path, "%s/%s.npy", tmpdir, out);
  ck_assert_msg(mlg_npy_read_file(path, &got, msg, sizeof msg) == 0, "%s", msg);
  snprintf(path, sizeof path, "%s/tests/models/%s/expected/%s.npy", MLG_SOURCE_DIR, model, out);
  ck_assert_msg(mlg_npy_read_file(path, &ref, msg, sizeof msg) == 0, "%s", msg);
  ck_assert_uint_eq(got.size, ref.size);
  const float *g = got.data, *r = ref.data;
  double max_err = 0;
  for (size_t i = 0; i < ref.size / sizeof(float); i++) max_err = fmax(max_err, fabs((double)g[i] - r[i]));
  printf("%s int8 on tests/models/%s/x.npy: max abs error %.6g against the f32 reference, tolerance %.6g\n",
         model, model, max_err, tol);
  ck_assert_msg(max_err <= tol, "%s: max abs error %g beyond %g", model, max_err, tol);
  ck_assert_msg(max_err > 0, "%s: the int8 output equals f32 exactly: was anything quantized?", model);
  mlg_tf_tensor_free(&got);
  mlg_tf_tensor_free(&ref);
}

START_TEST(test_resnet_block) {
  static const int64_t dims[4] = {32, 3, 32, 32};
  check_model("resnet_block", "features", dims, 5);
}
END_TEST

START_TEST(test_lenet) {
  static const int64_t dims[4] = {32, 1, 28, 28};
  check_model("lenet", "logits", dims, 5);
}
END_TEST

/* mlgc ARGS (from the source folder; TMP in ARGS is tmpdir) exits with `status` and says `text`. */
static void expect(int status, const char *text, const char *args) {
  char full[3072], *err;
  size_t used = 0;
  for (const char *p = args; *p && used + sizeof tmpdir < sizeof full;) {
    if (strncmp(p, "TMP", 3) == 0) {
      used += (size_t)snprintf(full + used, sizeof full - used, "%s", tmpdir);
      p += 3;
    } else {
      full[used++] = *p++;
    }
  }
  full[used] = '\0';
  int rc = run("mlgc", full, &err);
  ck_assert_msg(rc == status && strstr(err, text), "mlgc %s: exit %d (want %d), stderr lacks '%s':\n%s", full, rc,
                status, text, err);
}

/* A layer whose weight is computed stays f32, said in the report; the other is quantized. */
START_TEST(test_mixed) {
  static const int64_t dims[2] = {16, 8};
  write_samples("x.npy", 2, dims, -1);
  char path[512];
  path_in_tmp(path, sizeof path, "mixed.mlg");
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs("model mixed {\n  input x : f32[4, 8]\n  param fc.weight : f32[3, 4] = normal(0, 0.3, seed=1)\n"
        "  h = relu(x @ transpose(x, perm=[1, 0]))\n  output y = linear(h, fc.weight)\n}\n", f);
  fclose(f);
  char args[2048], *err;
  snprintf(args, sizeof args, "'%s' --quantize=int8 --calibrate x='%s/x.npy' --device cpu -o '%s/m.mlgb'", path,
           tmpdir, tmpdir);
  ck_assert_msg(run("mlgc", args, &err) == 0, "mlgc %s:\n%s", args, err);
  ck_assert_msg(strstr(err, "matmul 'h': stays f32: its weight is not known at compile time"), "%s", err);
  ck_assert_msg(strstr(err, "linear 'fc.weight': int8: input [0, "), "%s", err);
  ck_assert_msg(strstr(err, "1 of 2 layers quantized; 1 run as integer ops"), "%s", err);
  ck_assert_msg(strstr(err, "16 samples, 4 batches of 4"), "%s", err);
  ck_assert_msg(strstr(err, "top-1 agreement"), "%s", err);
}
END_TEST

START_TEST(test_errors) {
  static const int64_t ok[4] = {4, 1, 28, 28}, wrong[4] = {4, 3, 28, 28};
  write_samples("ok.npy", 4, ok, -1);
  write_samples("wrong.npy", 4, wrong, -1);
  write_samples("nan.npy", 4, ok, 100);
  const char *w = "--weights tests/models/lenet/weights.safetensors --device cpu -o TMP/q.mlgb";
  char a[1024];
  expect(2, "unknown --quantize type 'int4' (int8 is the one there is)", "models/lenet.mlg --quantize=int4");
  expect(2, "--quantize=int8 needs calibration inputs: --calibrate NAME=FILE.npy", "models/lenet.mlg --quantize=int8");
  expect(2, "--calibrate gives the inputs of --quantize=int8", "models/lenet.mlg --calibrate x=TMP/ok.npy");
  expect(2, "bad --calibrate 'x': expected NAME=FILE.npy", "models/lenet.mlg --quantize=int8 --calibrate x");
  expect(2, "--device picks where --quantize=int8 calibrates", "models/lenet.mlg --device cpu");
  expect(2, "--emit=graph shows the model before the passes",
         "models/lenet.mlg --quantize=int8 --calibrate x=TMP/ok.npy --emit=graph");
  snprintf(a, sizeof a, "models/lenet.mlg --quantize=int8 --calibrate x=TMP/missing.npy %s", w);
  expect(1, "missing.npy: cannot open: No such file or directory", a);
  snprintf(a, sizeof a, "models/lenet.mlg --quantize=int8 --calibrate x=TMP/wrong.npy %s", w);
  expect(1, "holds f32[4, 3, 28, 28], but input 'x' is f32[1, 1, 28, 28]", a);
  snprintf(a, sizeof a, "models/lenet.mlg --quantize=int8 --calibrate x=TMP/nan.npy %s", w);
  expect(1, "element 100 of", a);
  expect(1, "is nan; calibration data must be finite", a);
  snprintf(a, sizeof a, "models/lenet.mlg -D N=8 --quantize=int8 --calibrate x=TMP/ok.npy %s", w);
  expect(1, "holds 4 samples, fewer than one batch of the model (8)", a);
  snprintf(a, sizeof a, "models/lenet.mlg --quantize=int8 --calibrate y=TMP/ok.npy %s", w);
  expect(1, "--calibrate y: the model has no input 'y'; its inputs: 'x'", a);
  snprintf(a, sizeof a, "models/lenet.mlg --quantize=int8 --calibrate x=TMP/ok.npy --calibrate x=TMP/ok.npy %s", w);
  expect(1, "--calibrate names input 'x' twice", a);
  snprintf(a, sizeof a, "models/lenet.mlg -O0 --quantize=int8 --calibrate x=TMP/ok.npy %s", w);
  expect(1, "quantization needs the graph passes", a);
  snprintf(a, sizeof a, "models/lenet.mlg --no-weights --quantize=int8 --calibrate x=TMP/ok.npy --device cpu");
  expect(1, "quantization needs the weights at compile time: drop --no-weights", a);
  snprintf(a, sizeof a, "tests/data/digits_cnn.mlg --quantize=int8 --calibrate x=TMP/ok.npy --device cpu");
  expect(1, "quantization needs a model without a train step", a);
  char plain[512];
  path_in_tmp(plain, sizeof plain, "two.mlg");
  FILE *two = fopen(plain, "w");
  ck_assert_ptr_nonnull(two);
  fputs("model two {\n  input x : f32[4, 1, 28, 28]\n  input w : f32[2, 8]\n"
        "  param k : f32[6, 1, 5, 5] = normal(0, 0.2, seed=3)\n  output y = conv2d(x, k)\n"
        "  output z = w * 2\n}\n", two);
  fclose(two);
  static const int64_t wd[2] = {4, 8};
  write_samples("w.npy", 2, wd, -1);
  expect(1, "input 'w' has 2 in dim 0, another input 4: calibration runs batches along dim 0",
         "TMP/two.mlg --quantize=int8 --calibrate x=TMP/ok.npy --calibrate w=TMP/w.npy --device cpu -o TMP/q.mlgb");
  expect(1, "input 'w' (f32[2, 8]) has no calibration data: add --calibrate w=FILE.npy",
         "TMP/two.mlg --quantize=int8 --calibrate x=TMP/ok.npy --device cpu -o TMP/q.mlgb");
  path_in_tmp(plain, sizeof plain, "plain.mlg");
  FILE *f = fopen(plain, "w");
  ck_assert_ptr_nonnull(f);
  fputs("model plain {\n  input x : f32[4, 1, 28, 28]\n  output y = relu(x)\n}\n", f);
  fclose(f);
  expect(1, "nothing to quantize: the model has no conv2d, linear or matmul layer",
         "TMP/plain.mlg --quantize=int8 --calibrate x=TMP/ok.npy --device cpu -o TMP/q.mlgb");
}
END_TEST

static Suite *quantize_suite(void) {
  Suite *s = suite_create("quantize");
  TCase *tc = tcase_create("quantize");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_mixed);
  tcase_add_test(tc, test_lenet);
  tcase_add_test(tc, test_resnet_block);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(quantize_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_train.c — training end to end: models learn real data through `mlgrun --train`.
 *
 * The data is scikit-learn's 8×8 handwritten digits (1797 images, 10 classes), read from the
 * CSV that Debian's python3-sklearn ships (load_digits reads the same file; nothing is
 * downloaded; $MLG_DIGITS_CSV names another copy). Every fifth image is held out for the test
 * set, the rest are the training set; pixels are scaled to [0, 1]. Each model in tests/data is
 * trained with mlgrun (PoCL, shuffled epochs, weights saved as .safetensors), then run forward
 * over the held-out images with mlgrun --weights, and the argmax of its logits must match the
 * label for at least 95% of them. The accuracy and the time to train go to stdout. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tensor_file.h"

#define DIGITS_CSV_DEFAULT "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
#define N_DIGITS 1797
#define PIXELS 64
#define MIN_ACCURACY 0.95

static char tmpdir[256];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void path_in_tmp(char *buf, size_t size, const char *name) {
  ck_assert_int_lt(snprintf(buf, size, "%s/%s", tmpdir, name), (int)size);
}

static void write_npy(const char *name, mlg_tf_dtype dtype, int rank, const int64_t *dims, void *data,
                      size_t size) {
  mlg_tf_tensor t = {.dtype = dtype, .rank = rank, .size = size, .data = data};
  memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
  char path[512], err[512];
  path_in_tmp(path, sizeof path, name);
  ck_assert_msg(mlg_npy_write_file(path, &t, err, sizeof err) == 0, "%s", err);
}

/* Reads the digits and writes x (f32 [n, 64]), xi (f32 [n, 1, 8, 8]) and y (i32 [n]) for the
 * training and the test split into tmpdir. */
static void write_digits(void) {
  const char *csv = getenv("MLG_DIGITS_CSV");
  if (!csv || !*csv) csv = DIGITS_CSV_DEFAULT;
  ck_assert_msg(access(csv, R_OK) == 0,
                "'%s' is missing: the digits come with Debian's python3-sklearn (tools/test.sh installs "
                "it; tools/deps.sh lists it), or set MLG_DIGITS_CSV to a copy of sklearn's digits.csv.gz",
                csv);
  char cmd[600];
  ck_assert_int_lt(snprintf(cmd, sizeof cmd, "gzip -dc '%s'", csv), (int)sizeof cmd);
  FILE *f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  float *x[2] = {malloc(sizeof(float) * N_DIGITS * PIXELS), malloc(sizeof(float) * N_DIGITS * PIXELS)};
  int32_t *y[2] = {malloc(sizeof(int32_t) * N_DIGITS), malloc(sizeof(int32_t) * N_DIGITS)};
  ck_assert(x[0] && x[1] && y[0] && y[1]);
  int64_t n[2] = {0, 0};
  int rows = 0;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    int split = rows % 5 == 4; /* 1: test */
    char *p = line;
    for (int k = 0; k <= PIXELS; k++) {
      char *end;
      long v = strtol(p, &end, 10);
      ck_assert_msg(end != p && v >= 0 && v <= 16, "digits row %d: bad value %d", rows, k);
      if (k < PIXELS) x[split][n[split] * PIXELS + k] = (float)v / 16.0f;
      else y[split][n[split]] = (int32_t)v;
      p = *end == ',' ? end + 1 : end;
    }
    n[split]++;
    rows++;
  }
  ck_assert_int_eq(pclose(f), 0);
  ck_assert_int_eq(rows, N_DIGITS);
  static const char *const split_name[2] = {"train", "test"};
  for (int s = 0; s < 2; s++) {
    char name[64];
    int64_t flat[2] = {n[s], PIXELS}, image[4] = {n[s], 1, 8, 8};
    size_t bytes = sizeof(float) * (size_t)n[s] * PIXELS;
    snprintf(name, sizeof name, "x_%s.npy", split_name[s]);
    write_npy(name, MLG_TF_F32, 2, flat, x[s], bytes);
    snprintf(name, sizeof name, "xi_%s.npy", split_name[s]);
    write_npy(name, MLG_TF_F32, 4, image, x[s], bytes);
    snprintf(name, sizeof name, "y_%s.npy", split_name[s]);
    write_npy(name, MLG_TF_I32, 1, n + s, y[s], sizeof(int32_t) * (size_t)n[s]);
    free(x[s]);
    free(y[s]);
  }
}

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/mlg-train.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  write_digits();
}

static void teardown(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "test_train: could not remove %s\n", tmpdir);
}

/* The whole of a small text file (the captured stderr of mlgrun), NUL-terminated. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  static char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Runs `mlgrun ARGS` with stderr in tmpdir/stderr.txt; returns that text, after checking the
 * exit status. */
static char *mlgrun(const char *args) {
  char err_path[512], cmd[4096];
  path_in_tmp(err_path, sizeof err_path, "stderr.txt");
  ck_assert_int_lt(snprintf(cmd, sizeof cmd, "'%s/bin/mlgrun' --device cpu %s >/dev/null 2>'%s'", MLG_BINARY_DIR,
                            args, err_path), (int)sizeof cmd);
  int rc = system(cmd);
  char *err = slurp(err_path);
  ck_assert_msg(rc == 0, "%s\nfailed:\n%s", cmd, err);
  return err;
}

/* The number of held-out digits. */
static int64_t test_count(void) {
  mlg_tf_tensor labels;
  char path[512], msg[512];
  path_in_tmp(path, sizeof path, "y_test.npy");
  ck_assert_msg(mlg_npy_read_file(path, &labels, msg, sizeof msg) == 0, "%s", msg);
  int64_t n = labels.dims[0];
  mlg_tf_tensor_free(&labels);
  return n;
}

/* Runs `mlgrun ARGS` (a forward pass over the held-out digits, logits to tmpdir) and returns
 * the fraction of them whose argmax is the label. */
static double test_accuracy(const char *args) {
  mlgrun(args);
  mlg_tf_tensor labels, logits;
  char path[512], msg[512];
  path_in_tmp(path, sizeof path, "y_test.npy");
  ck_assert_msg(mlg_npy_read_file(path, &labels, msg, sizeof msg) == 0, "%s", msg);
  int64_t n = labels.dims[0];
  path_in_tmp(path, sizeof path, "logits.npy");
  ck_assert_msg(mlg_npy_read_file(path, &logits, msg, sizeof msg) == 0, "%s", msg);
  ck_assert_int_eq(logits.rank, 2);
  ck_assert_int_eq(logits.dims[0], n);
  ck_assert_int_eq(logits.dims[1], 10);
  const float *l = logits.data;
  const int32_t *y = labels.data;
  int correct = 0;
  for (int64_t i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < 10; c++)
      if (l[i * 10 + c] > l[i * 10 + best]) best = c;
    correct += best == y[i];
  }
  mlg_tf_tensor_free(&labels);
  mlg_tf_tensor_free(&logits);
  return (double)correct / (double)n;
}

/* Trains model tests/data/<model>.mlg for `epochs` on the training split (input x from file
 * <xfile>_train.npy), then checks its test-set accuracy and returns it; the trained weights
 * stay in tmpdir/trained.safetensors. */
static double train_and_test(const char *model, const char *xfile, int epochs) {
  char mlg[512], weights[512], args[3072];
  snprintf(mlg, sizeof mlg, "%s/tests/data/%s.mlg", MLG_SOURCE_DIR, model);
  path_in_tmp(weights, sizeof weights, "trained.safetensors");
  snprintf(args, sizeof args,
           "'%s' --train --input x='%s/%s_train.npy' --input label='%s/y_train.npy' --epochs %d --shuffle 1 "
           "--save-weights '%s'", mlg, tmpdir, xfile, tmpdir, epochs, weights);
  double t0 = now_s();
  char *err = mlgrun(args);
  double total = now_s() - t0;
  /* 1438 samples: 44 batches of 32, and the 30 left over said once. */
  ck_assert_msg(strstr(err, "1438 samples, batches of 32 (44 steps per epoch)"), "%s", err);
  const char *dropped = "the last 30 samples make no full batch of 32";
  ck_assert_msg(strstr(err, dropped) && !strstr(strstr(err, dropped) + 1, dropped), "%s", err);
  const char *trained = strstr(err, "mlgrun: trained ");
  ck_assert_msg(trained, "%s", err);
  double train_s = 0;
  ck_assert_int_eq(sscanf(strstr(trained, " in ") + 4, "%lf", &train_s), 1);
  /* The last epoch's mean loss, for the log. */
  char last_epoch[128] = "";
  for (const char *e = strstr(err, "epoch "); e; e = strstr(e + 1, "\nepoch ")) {
    const char *s = *e == '\n' ? e + 1 : e;
    size_t len = strcspn(s, "\n");
    snprintf(last_epoch, sizeof last_epoch, "%.*s", (int)(len < 127 ? len : 127), s);
  }

  /* Forward over the held-out images with the trained weights. */
  snprintf(args, sizeof args,
           "'%s' -D N=%lld --weights '%s' --input x='%s/%s_test.npy' --input label='%s/y_test.npy' "
           "--output-dir '%s'", mlg, (long long)test_count(), weights, tmpdir, xfile, tmpdir, tmpdir);
  double accuracy = test_accuracy(args);
  printf("%s: %.1f%% of %lld test digits right after %d epochs (%s); trained in %.2f s, "
         "%.2f s with compiling\n", model, 100 * accuracy, (long long)test_count(), epochs, last_epoch, train_s,
         total);
  ck_assert_msg(accuracy >= MIN_ACCURACY, "%s: test accuracy %.3f, below %.2f", model, accuracy, MIN_ACCURACY);
  return accuracy;
}

START_TEST(test_digits_mlp) { train_and_test("digits_mlp", "x", 10); }
END_TEST

/* The CNN, then its int8 form (mlgc --quantize=int8, calibrated on the training images): the
 * int8 model's test accuracy must stay within 1 percentage point of the f32 model's. The
 * inference model (tests/data/digits_cnn_infer.mlg) is the CNN without its loss and train step,
 * with the same params; the calibration runs in batches of the test set's size. */
START_TEST(test_digits_cnn) {
  double f32 = train_and_test("digits_cnn", "xi", 6);
  char cmd[4096], bundle[512], err_path[512], weights[512];
  path_in_tmp(bundle, sizeof bundle, "digits_int8.mlgb");
  path_in_tmp(err_path, sizeof err_path, "mlgc.txt");
  path_in_tmp(weights, sizeof weights, "trained.safetensors");
  ck_assert_int_lt(snprintf(cmd, sizeof cmd,
                            "'%s/bin/mlgc' '%s/tests/data/digits_cnn_infer.mlg' -D N=%lld --weights '%s' "
                            "--quantize=int8 --calibrate x='%s/xi_train.npy' --device cpu -o '%s' 2>'%s'",
                            MLG_BINARY_DIR, MLG_SOURCE_DIR, (long long)test_count(), weights, tmpdir, bundle,
                            err_path), (int)sizeof cmd);
  int rc = system(cmd);
  char *report = slurp(err_path);
  ck_assert_msg(rc == 0, "%s\nfailed:\n%s", cmd, report);
  ck_assert_msg(strstr(report, "3 of 3 layers quantized; 3 run as integer ops"), "%s", report);
  printf("%s", report);
  char args[2048];
  snprintf(args, sizeof args, "'%s' --input x='%s/xi_test.npy' --output-dir '%s'", bundle, tmpdir, tmpdir);
  double int8 = test_accuracy(args);
  printf("digits_cnn int8: %.1f%% of %lld test digits right (f32: %.1f%%)\n", 100 * int8,
         (long long)test_count(), 100 * f32);
  ck_assert_msg(fabs(int8 - f32) <= 0.01, "int8 test accuracy %.3f, more than 1 point from f32's %.3f", int8, f32);
}
END_TEST

static Suite *train_suite(void) {
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("digits");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_digits_mlp);
  tcase_add_test(tc, test_digits_cnn);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(train_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

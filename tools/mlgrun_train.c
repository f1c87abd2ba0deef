/* mlgrun_train.c — mlgrun --train (see mlgrun_train.h). */
#include "mlgrun_train.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "mlgrun_perf.h"
#include "tensor_file.h"

static int fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mlgrun: %s", rc == 2 ? "" : "error: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (rc == 2) fprintf(stderr, "Try 'mlgrun --help' for more information.\n");
  return rc;
}

static int runtime_fail(void) { return fail(1, "%s", mlg_last_error()); }

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* One input the step reads: its dataset, and a batch's worth of staging. */
typedef struct feed {
  mlg_tensor_info info;
  mlg_tf_tensor data;        /* the whole .npy file */
  size_t sample_bytes;       /* bytes per sample (info.bytes / batch) */
  uint8_t *batch;
} feed;

static const char *shape_text(char *buf, size_t size, int i32, int rank, const int64_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "%s[", i32 ? "i32" : "f32");
  for (int d = 0; d < rank && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", dims[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* Opens the file of input `info` and checks it against the model: the same dtype, and the
 * model's dims after the first. Sets *samples to its first dim. */
static int open_feed(const train_options *o, feed *f, int64_t *samples) {
  const mlg_tensor_info *info = &f->info;
  const char *path = NULL;
  for (int k = 0; k < o->n_files; k++)
    if (strcmp(o->files[k].name, info->name) == 0) path = o->files[k].path;
  if (!path)
    return fail(2, "--train needs the dataset of input '%s' (the train step reads it): --input %s=FILE.npy",
                info->name, info->name);
  if (info->rank < 1)
    return fail(1, "input '%s' is a scalar: --train slices inputs into batches along their first dim", info->name);
  char err[1024], want[256], got[256];
  if (mlg_npy_read_file(path, &f->data, err, sizeof err) != 0) return fail(1, "input '%s': %s", info->name, err);
  int i32 = info->dtype == MLG_DTYPE_I32;
  int same = (f->data.dtype == MLG_TF_I32) == i32 && f->data.rank == info->rank;
  for (int d = 1; same && d < info->rank; d++) same = f->data.dims[d] == info->dims[d];
  if (!same) {
    int64_t expect[MLG_MAX_DIMS];
    memcpy(expect, info->dims, sizeof expect);
    expect[0] = f->data.rank ? f->data.dims[0] : 1;
    return fail(1, "input '%s': '%s' is %s, but a dataset for it is %s (any number of samples first, then the "
                   "model's dims after its batch of %" PRId64 ")", info->name, path,
                shape_text(got, sizeof got, f->data.dtype == MLG_TF_I32, f->data.rank, f->data.dims),
                shape_text(want, sizeof want, i32, info->rank, expect), info->dims[0]);
  }
  f->sample_bytes = info->bytes / (size_t)info->dims[0];
  f->batch = malloc(info->bytes);
  if (!f->batch) return fail(1, "out of memory (%zu bytes)", info->bytes);
  *samples = f->data.dims[0];
  return 0;
}

/* Copies the samples order[first .. first + batch) of every feed into its staging and sets it. */
static int set_batch(mlg_session *s, feed *feeds, int n_feeds, const int64_t *order, int64_t first,
                     int64_t batch) {
  for (int k = 0; k < n_feeds; k++) {
    feed *f = &feeds[k];
    const uint8_t *src = f->data.data;
    for (int64_t i = 0; i < batch; i++)
      memcpy(f->batch + (size_t)i * f->sample_bytes, src + (size_t)order[first + i] * f->sample_bytes,
             f->sample_bytes);
    if (mlg_session_set_input(s, f->info.name, f->batch, f->info.bytes) != MLG_OK) return runtime_fail();
  }
  return 0;
}

/* Device time of the last step, in ms (profiling runtimes). */
static int step_device_ms(mlg_session *s, mlg_dispatch_profile *prof, int n, double *out) {
  int count = 0;
  if (mlg_session_profile(s, prof, n, &count) != MLG_OK) return runtime_fail();
  uint64_t ns = 0;
  for (int i = 0; i < count && i < n; i++) ns += prof[i].device_ns;
  *out = ns / 1e6;
  return 0;
}

static int bench(mlg_session *s, const train_options *o, const mlg_train_info *ti) {
  int n_disp = 0, warmed = 0;
  for (uint64_t from = mlg_monotonic_ns(); perf_warming(warmed, o->warmup, from); warmed++)
    if (mlg_session_train_step(s, NULL) != MLG_OK) return runtime_fail();
  if (mlg_session_profile(s, NULL, 0, &n_disp) != MLG_OK) return runtime_fail();
  mlg_dispatch_profile *prof = calloc((size_t)n_disp + 1, sizeof *prof);
  double *wall = calloc((size_t)o->bench, sizeof *wall), *dev = calloc((size_t)o->bench, sizeof *dev);
  int rc = prof && wall && dev ? 0 : fail(1, "out of memory");
  float loss = 0;
  for (int r = 0; r < o->bench && rc == 0; r++) {
    double t0 = (mlg_monotonic_ns() / 1e6);
    if (mlg_session_train_step(s, &loss) != MLG_OK) {
      rc = runtime_fail();
      break;
    }
    wall[r] = (mlg_monotonic_ns() / 1e6) - t0;
    rc = step_device_ms(s, prof, n_disp, &dev[r]);
  }
  if (rc == 0) {
    printf("train step of model '%s' with %s: loss %.6g after %d steps\n", ti->loss, ti->optimizer, (double)loss,
           warmed + o->bench);
    printf("bench: median %.4f ms wall, %.4f ms device over %d train steps\n", perf_median(wall, o->bench),
           perf_median(dev, o->bench), o->bench);
  }
  free(prof);
  free(wall);
  free(dev);
  return rc;
}

int mlgrun_train(mlg_runtime *rt, mlg_model *model, const train_options *o) {
  mlg_train_info ti;
  if (mlg_model_train_info(model, &ti) != MLG_OK) return runtime_fail();
  int n_in = mlg_model_input_count(model);
  feed *feeds = calloc((size_t)n_in + 1, sizeof *feeds);
  if (!feeds) return fail(1, "out of memory");
  int n_feeds = 0, rc = 0;
  int64_t samples = -1, batch = 0;
  const char *first_name = NULL;
  for (int i = 0; i < n_in && rc == 0; i++) {
    feed *f = &feeds[n_feeds];
    if (mlg_model_input_info(model, i, &f->info) != MLG_OK) {
      rc = runtime_fail();
      break;
    }
    if (!(f->info.programs & MLG_PROGRAM_TRAIN)) continue;
    n_feeds++;
    int64_t n = 0;
    rc = open_feed(o, f, &n);
    if (rc) break;
    if (batch == 0) batch = f->info.dims[0];
    if (f->info.dims[0] != batch) {
      rc = fail(1, "inputs '%s' and '%s' have batches of %" PRId64 " and %" PRId64
                   "; --train takes one batch size for all", first_name, f->info.name, batch, f->info.dims[0]);
    } else if (samples >= 0 && n != samples) {
      rc = fail(1, "the datasets of inputs '%s' and '%s' have %" PRId64 " and %" PRId64
                   " samples; they must pair up one to one", first_name, f->info.name, samples, n);
    }
    samples = n;
    if (!first_name) first_name = f->info.name;
  }
  /* A file for an input the step does not read is a mistake worth saying. */
  for (int k = 0; k < o->n_files && rc == 0; k++) {
    int used = 0;
    for (int i = 0; i < n_feeds && !used; i++) used = strcmp(feeds[i].info.name, o->files[k].name) == 0;
    if (!used)
      fprintf(stderr, "mlgrun: warning: the train step does not read input '%s'; '%s' is ignored\n",
              o->files[k].name, o->files[k].path);
  }
  if (rc == 0 && n_feeds == 0) rc = fail(1, "the train step of model '%s' reads no input", mlg_model_name(model));
  if (rc == 0 && samples < batch)
    rc = fail(1, "the dataset has %" PRId64 " samples, fewer than one batch of %" PRId64, samples, batch);

  mlg_session *s = NULL;
  int64_t *order = rc == 0 ? malloc(sizeof(int64_t) * (size_t)samples) : NULL;
  if (rc == 0 && !order) rc = fail(1, "out of memory");
  if (rc == 0 && mlg_session_create(model, &s) != MLG_OK) rc = runtime_fail();
  for (int64_t i = 0; rc == 0 && i < samples; i++) order[i] = i;
  int64_t n_batches = rc == 0 ? samples / batch : 0, dropped = rc == 0 ? samples % batch : 0;
  if (rc == 0 && o->bench) {
    rc = set_batch(s, feeds, n_feeds, order, 0, batch);
    if (rc == 0) rc = bench(s, o, &ti);
  } else if (rc == 0) {
    if (!o->quiet) {
      fprintf(stderr, "mlgrun: training '%s' with %s: %" PRId64 " samples, batches of %" PRId64 " (%" PRId64
                      " steps per epoch), %d epoch%s%s\n", ti.loss, ti.optimizer, samples, batch, n_batches,
              o->epochs, o->epochs == 1 ? "" : "s", o->shuffle ? ", shuffled" : "");
      if (dropped)
        fprintf(stderr, "mlgrun: the last %" PRId64 " samples make no full batch of %" PRId64
                        " and are left out of every epoch\n", dropped, batch);
    }
    double started = (mlg_monotonic_ns() / 1e6);
    uint64_t rng = o->shuffle_seed;
    for (int e = 1; e <= o->epochs && rc == 0; e++) {
      if (o->shuffle)
        for (int64_t i = samples - 1; i > 0; i--) {
          int64_t j = (int64_t)(splitmix64(&rng) % (uint64_t)(i + 1));
          int64_t t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      double t0 = (mlg_monotonic_ns() / 1e6), sum = 0;
      for (int64_t k = 0; k < n_batches && rc == 0; k++) {
        float loss = 0;
        rc = set_batch(s, feeds, n_feeds, order, k * batch, batch);
        if (rc == 0 && mlg_session_train_step(s, &loss) != MLG_OK) rc = runtime_fail();
        if (rc == 0 && !isfinite(loss))
          rc = fail(1, "the loss is %s at epoch %d, step %" PRId64 ": training diverged (a learning rate too "
                       "high?) or a class index is outside [0, classes) (cross_entropy gives NaN then)",
                    isnan(loss) ? "NaN" : "infinite", e, k + 1);
        sum += loss;
      }
      double sec = ((mlg_monotonic_ns() / 1e6) - t0) / 1e3;
      if (rc == 0 && !o->quiet)
        fprintf(stderr, "epoch %d/%d: loss %.6f, %.0f samples/s (%.2f s)\n", e, o->epochs, sum / (double)n_batches,
                (double)(n_batches * batch) / (sec > 0 ? sec : 1e-9), sec);
    }
    if (rc == 0 && !o->quiet)
      fprintf(stderr, "mlgrun: trained %d epoch%s in %.2f s\n", o->epochs, o->epochs == 1 ? "" : "s",
              ((mlg_monotonic_ns() / 1e6) - started) / 1e3);
  }
  if (rc == 0 && o->save_weights) {
    if (mlg_session_save_weights(s, o->save_weights) != MLG_OK) rc = runtime_fail();
    else if (!o->quiet) fprintf(stderr, "mlgrun: weights saved to %s\n", o->save_weights);
  }
  (void)rt;
  mlg_session_destroy(s);
  free(order);
  for (int i = 0; i < n_feeds; i++) {
    mlg_tf_tensor_free(&feeds[i].data);
    free(feeds[i].batch);
  }
  free(feeds);
  return rc;
}

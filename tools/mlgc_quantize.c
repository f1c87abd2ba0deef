/* mlgc_quantize.c — calibration and the accuracy report of mlgc --quantize (mlgc_quantize.h). */
#include "mlgc_quantize.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "mlg.h"
#include "ops/op_defs.h"
#include "../runtime/bundle.h"
#include "../runtime/dtype.h"
#include "../runtime/file_util.h"
#include "../runtime/tensor_file.h"

enum { MAX_FILES = 64 };

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mlgc: error: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

/* Names and paths come from the command line and the bundle: made safe for the terminal. */
static const char *safe(const char *text, char *buf, size_t size) { return mlg_sanitize(text, 0, buf, size); }

static char *shape(char *buf, size_t size, int dtype, int rank, const int64_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "%s[", mlg_dtype_get((uint32_t)dtype)->name);
  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* The calibration inputs, as read, and how they split into batches. */
typedef struct calib_data {
  int n;
  const mlgc_calib_file *files;
  mlg_tf_tensor t[MAX_FILES];
  int64_t samples, batch, batches;
} calib_data;

static void calib_data_free(calib_data *d) {
  for (int i = 0; i < d->n; i++) mlg_tf_tensor_free(&d->t[i]);
}

static int read_files(const mlgc_quantize_request *req, calib_data *d) {
  char a[512], b[512], err[1024];
  if (req->n_files > MAX_FILES) return error("too many --calibrate files (at most %d)", MAX_FILES);
  d->files = req->files;
  for (int i = 0; i < req->n_files; i++) {
    for (int j = 0; j < i; j++)
      if (strcmp(req->files[i].name, req->files[j].name) == 0)
        return error("--calibrate names input '%s' twice", safe(req->files[i].name, a, sizeof a));
    if (mlg_npy_read_file(req->files[i].path, &d->t[i], err, sizeof err) != 0)
      return error("--calibrate %s: %s", safe(req->files[i].name, a, sizeof a), safe(err, b, sizeof b));
    d->n = i + 1;
    const mlg_tf_tensor *t = &d->t[i];
    if (t->dtype != MLG_TF_F32 && t->dtype != MLG_TF_F16) continue;
    int64_t count = (int64_t)(t->size / (size_t)mlg_dtype_get((uint32_t)t->dtype)->host_bytes);
    for (int64_t k = 0; k < count; k++)
      if (!isfinite(mlg_dtype_host_value((uint32_t)t->dtype, t->data, (size_t)k)))
        return error("--calibrate %s: element %" PRId64 " of '%s' is %g; calibration data must be finite",
                     safe(req->files[i].name, a, sizeof a), k, safe(req->files[i].path, b, sizeof b),
                     mlg_dtype_host_value((uint32_t)t->dtype, t->data, (size_t)k));
  }
  return 0;
}

/* Matches the files to the model's inputs: every input has one, of its dtype and its shape
 * with any number of samples in dim 0 (at least one batch, the same for every file). */
static int match_inputs(const mlg_model *model, calib_data *d) {
  char a[512], b[512], s1[256], s2[256], names[512];
  for (int f = 0; f < d->n; f++) {
    int found = 0;
    names[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < mlg_model_input_count(model); i++) {
      mlg_tensor_info info;
      if (mlg_model_input_info(model, i, &info) != MLG_OK) continue;
      found |= strcmp(info.name, d->files[f].name) == 0;
      int w = snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "", info.name);
      if (w > 0 && used + (size_t)w < sizeof names) used += (size_t)w;
    }
    if (!found)
      return error("--calibrate %s: the model has no input '%s'; its inputs: %s", safe(d->files[f].name, a, sizeof a),
                   safe(d->files[f].name, b, sizeof b), safe(names, s1, sizeof s1));
  }
  d->samples = -1;
  for (int i = 0; i < mlg_model_input_count(model); i++) {
    mlg_tensor_info info;
    if (mlg_model_input_info(model, i, &info) != MLG_OK) return error("%s", mlg_last_error());
    int f = 0;
    while (f < d->n && strcmp(d->files[f].name, info.name) != 0) f++;
    shape(s1, sizeof s1, info.dtype, info.rank, info.dims);
    if (f == d->n)
      return error("input '%s' (%s) has no calibration data: add --calibrate %s=FILE.npy",
                   safe(info.name, a, sizeof a), s1, safe(info.name, b, sizeof b));
    const mlg_tf_tensor *t = &d->t[f];
    shape(s2, sizeof s2, t->dtype, t->rank, t->dims);
    int ok = info.rank >= 1 && t->rank == info.rank && (int)t->dtype == (int)info.dtype;
    for (int k = 1; ok && k < info.rank; k++) ok = t->dims[k] == info.dims[k];
    if (!ok)
      return error("--calibrate %s: '%s' holds %s, but input '%s' is %s: the file must hold samples "
                   "of that shape along its first dim", safe(info.name, a, sizeof a),
                   safe(d->files[f].path, b, sizeof b), s2, safe(info.name, names, sizeof names), s1);
    if (t->dims[0] < info.dims[0])
      return error("--calibrate %s: '%s' holds %" PRId64 " samples, fewer than one batch of the model "
                   "(%" PRId64 "); give more samples or compile with a smaller batch (-D)",
                   safe(info.name, a, sizeof a), safe(d->files[f].path, b, sizeof b), t->dims[0], info.dims[0]);
    if (d->samples >= 0 && t->dims[0] != d->samples)
      return error("--calibrate %s: '%s' holds %" PRId64 " samples, the other files %" PRId64 "; every "
                   "input needs the same samples", safe(info.name, a, sizeof a),
                   safe(d->files[f].path, b, sizeof b), t->dims[0], d->samples);
    if (d->samples >= 0 && info.dims[0] != d->batch)
      return error("input '%s' has %" PRId64 " in dim 0, another input %" PRId64 ": calibration runs "
                   "batches along dim 0, which needs one size there for every input",
                   safe(info.name, a, sizeof a), info.dims[0], d->batch);
    d->samples = t->dims[0];
    d->batch = info.dims[0];
  }
  d->batches = d->samples / d->batch;
  return 0;
}

/* Sets every input to batch `b` of its file. */
static int set_batch(const mlg_model *model, mlg_session *s, const calib_data *d, int64_t b) {
  for (int f = 0; f < d->n; f++) {
    size_t bytes = d->t[f].size / (size_t)d->samples * (size_t)d->batch;
    if (mlg_session_set_input(s, d->files[f].name, (const char *)d->t[f].data + (size_t)b * bytes, bytes) != MLG_OK)
      return error("%s", mlg_last_error());
  }
  return mlg_session_run(s) == MLG_OK ? 0 : error("%s", mlg_last_error());
}

/* Compiles source for the device, with quant, and loads it. Returns 0, or 1 after an error. */
static int compile_load(const mlg_source *source, const mlg_compile_options *options, mlg_runtime *rt,
                        const mlg_quant_options *quant, mlg_pipeline *p, mlg_model **out_model) {
  const mlg_device_info *dev = mlg_runtime_device(rt);
  mlg_compile_options o = *options;
  o.target = strcmp(dev->backend, "vulkan") == 0 ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL;
  o.device_class = dev->is_gpu ? 2 : 1;
  o.local_mem_bytes = (int64_t)dev->local_mem_bytes;
  o.subgroups = dev->subgroup_arithmetic;
  o.gemm_tuning = NULL;
  o.quant = quant;
  mlg_diag diag;
  mlg_diag_init(&diag, source, stderr);
  if (mlg_pipeline_run(source, &o, MLG_STAGE_BUNDLE, &diag, p) != 0 || diag.n_errors) return 1;
  mlg_load_options lo = {0};
  if (mlg_model_load_memory(rt, p->bundle, p->bundle_size, &lo, out_model) != MLG_OK)
    return error("%s", mlg_last_error());
  return 0;
}

/* The f32 model's outputs over every batch (observed values left out), for the comparison. */
typedef struct outputs {
  int n;
  mlg_tensor_info info[64];
  float *data[64];       /* batches × the output's elements */
} outputs;

static int is_observed(const char *name) {
  return strncmp(name, MLG_QUANT_OBSERVE_PREFIX, strlen(MLG_QUANT_OBSERVE_PREFIX)) == 0;
}

/* Step 1: the range of each value of the plan, and the f32 outputs. */
static int observe(const mlg_model *model, const calib_data *d, const mlg_quant_plan *plan,
                   mlg_quant_range *ranges, outputs *ref) {
  int n_ranges = plan->n_observed;
  mlg_session *s = NULL;
  float *buf = NULL;
  size_t buf_size = 0;
  int rc = mlg_session_create((mlg_model *)model, &s) == MLG_OK ? 0 : error("%s", mlg_last_error());
  for (int k = 0; k < n_ranges; k++) ranges[k] = (mlg_quant_range){INFINITY, -INFINITY};
  for (int i = 0; rc == 0 && i < mlg_model_output_count(model); i++) {
    mlg_tensor_info info;
    if (mlg_model_output_info(model, i, &info) != MLG_OK) rc = error("%s", mlg_last_error());
    else if (!is_observed(info.name) && info.dtype == MLG_DTYPE_F32 && ref->n < 64) {
      ref->info[ref->n] = info;
      ref->data[ref->n] = malloc(info.bytes * (size_t)d->batches);
      if (!ref->data[ref->n++]) rc = error("out of memory");
    }
  }
  for (int64_t b = 0; rc == 0 && b < d->batches; b++) {
    rc = set_batch(model, s, d, b);
    for (int k = 0; rc == 0 && k < n_ranges; k++) {
      const char *name = plan->observed_names[k];
      mlg_tensor_info info = {0};
      for (int i = 0; i < mlg_model_output_count(model); i++)
        if (mlg_model_output_info(model, i, &info) == MLG_OK && strcmp(info.name, name) == 0) break;
      if (!info.name || strcmp(info.name, name) != 0 || info.dtype != MLG_DTYPE_F32) {
        rc = error("internal error: the observing model has no f32 output '%s'", name);
        break;
      }
      if (info.bytes > buf_size) {
        free(buf);
        if (!(buf = malloc(buf_size = info.bytes))) {
          rc = error("out of memory");
          break;
        }
      }
      if (mlg_session_get_output(s, name, buf, info.bytes) != MLG_OK) rc = error("%s", mlg_last_error());
      for (size_t e = 0; rc == 0 && e < info.bytes / sizeof(float); e++) {
        if (buf[e] < ranges[k].lo) ranges[k].lo = buf[e];
        if (buf[e] > ranges[k].hi) ranges[k].hi = buf[e];
      }
    }
    for (int o = 0; rc == 0 && o < ref->n; o++)
      if (mlg_session_get_output(s, ref->info[o].name, (char *)ref->data[o] + (size_t)b * ref->info[o].bytes,
                                 ref->info[o].bytes) != MLG_OK)
        rc = error("%s", mlg_last_error());
  }
  free(buf);
  mlg_session_destroy(s);
  return rc;
}

/* Step 2: the int8 model's outputs against the f32 ones. */
static int compare(const mlg_model *model, const calib_data *d, const outputs *ref, FILE *report) {
  mlg_session *s = NULL;
  if (mlg_session_create((mlg_model *)model, &s) != MLG_OK) return error("%s", mlg_last_error());
  float *q[64] = {0};
  int rc = 0;
  for (int o = 0; rc == 0 && o < ref->n; o++)
    if (!(q[o] = malloc(ref->info[o].bytes * (size_t)d->batches))) rc = error("out of memory");
  for (int64_t b = 0; rc == 0 && b < d->batches; b++) {
    rc = set_batch(model, s, d, b);
    for (int o = 0; rc == 0 && o < ref->n; o++)
      if (mlg_session_get_output(s, ref->info[o].name, (char *)q[o] + (size_t)b * ref->info[o].bytes,
                                 ref->info[o].bytes) != MLG_OK)
        rc = error("%s", mlg_last_error());
  }
  char a[256], sh[256];
  if (rc == 0)
    fprintf(report, "mlgc: quantize: int8 against f32 on the %" PRId64 " calibration samples:\n",
            d->batches * d->batch);
  for (int o = 0; rc == 0 && o < ref->n; o++) {
    const mlg_tensor_info *info = &ref->info[o];
    size_t n = info->bytes / sizeof(float) * (size_t)d->batches;
    double max_abs = 0, sum_abs = 0, sum_ref = 0;
    for (size_t e = 0; e < n; e++) {
      double diff = fabs((double)q[o][e] - (double)ref->data[o][e]);
      if (diff > max_abs) max_abs = diff;
      sum_abs += diff;
      sum_ref += fabs((double)ref->data[o][e]);
    }
    fprintf(report, "mlgc: quantize:   %s %s: max abs error %.6g, mean relative error %.4g%%",
            safe(info->name, a, sizeof a), shape(sh, sizeof sh, info->dtype, info->rank, info->dims),
            max_abs, sum_ref > 0 ? 100 * sum_abs / sum_ref : 0.0);
    if (info->rank == 2 && info->dims[1] > 1) { /* class scores: the argmax per row */
      int64_t rows = (int64_t)n / info->dims[1], agree = 0;
      for (int64_t r = 0; r < rows; r++) {
        const float *f = ref->data[o] + r * info->dims[1], *g = q[o] + r * info->dims[1];
        int64_t bf = 0, bg = 0;
        for (int64_t c = 1; c < info->dims[1]; c++) {
          if (f[c] > f[bf]) bf = c;
          if (g[c] > g[bg]) bg = c;
        }
        agree += bf == bg;
      }
      fprintf(report, ", top-1 agreement %.2f%% (%" PRId64 " of %" PRId64 ")", 100.0 * (double)agree / (double)rows,
              agree, rows);
    }
    fputc('\n', report);
  }
  for (int o = 0; o < ref->n; o++) free(q[o]);
  mlg_session_destroy(s);
  return rc;
}

/* "scale S zero point Z" of the value node `node` of the plan, from its range. */
static const char *qparams(const mlg_quant_plan *plan, const mlg_quant_range *ranges, int node, char *buf,
                           size_t size) {
  for (int k = 0; k < plan->n_observed; k++)
    if (plan->observed[k] == node) {
      float scale;
      int zp;
      mlg_quant_u8_params(ranges[k].lo, ranges[k].hi, &scale, &zp);
      snprintf(buf, size, "[%.6g, %.6g] scale %.6g zero point %d", (double)ranges[k].lo, (double)ranges[k].hi,
               (double)scale, zp);
      return buf;
    }
  return "?";
}

/* The layers of the plan, and how many of them the passes made integer ops. */
static void report_layers(const mlg_pipeline *p, const mlg_quant_range *ranges, FILE *report) {
  const mlg_quant_plan *plan = p->quant_plan;
  char a[256], x[160], y[160];
  for (int l = 0; l < plan->n_layers; l++) {
    const mlg_quant_layer *ly = &plan->layers[l];
    if (ly->skipped)
      fprintf(report, "mlgc: quantize: %s '%s': stays f32: %s\n", ly->op, safe(ly->name, a, sizeof a), ly->skipped);
    else
      fprintf(report, "mlgc: quantize: %s '%s': int8: input %s; result %s\n", ly->op, safe(ly->name, a, sizeof a),
              qparams(plan, ranges, ly->input, x, sizeof x), qparams(plan, ranges, ly->result, y, sizeof y));
  }
  int integer = 0;
  for (int i = 0; i < p->optimized->n_nodes; i++) {
    const mlg_node *n = &p->optimized->nodes[i];
    integer += n->kind == MLG_NODE_OP && (n->op == &mlg_op_qlinear_conv2d || n->op == &mlg_op_qlinear_matmul);
  }
  fprintf(report, "mlgc: quantize: %d of %d layers quantized; %d run as integer ops (qlinear_conv2d, "
          "qlinear_matmul)\n", plan->n_quantized, plan->n_layers, integer);
}

int mlgc_calibrate(const mlg_source *source, const mlg_compile_options *options,
                   const mlgc_quantize_request *req, FILE *report, mlg_quant_range **out_ranges, int *out_n) {
  *out_ranges = NULL;
  *out_n = 0;
  calib_data d = {0};
  mlg_runtime *rt = NULL;
  mlg_pipeline p1 = {0}, p2 = {0};
  mlg_model *m1 = NULL, *m2 = NULL;
  outputs ref = {0};
  mlg_quant_range *ranges = NULL;
  int rc = read_files(req, &d);
  mlg_runtime_options ro = {.device = req->device};
  if (rc == 0 && mlg_runtime_create(&ro, &rt) != MLG_OK) rc = error("%s", mlg_last_error());
  mlg_quant_options q = {.observe = 1};
  if (rc == 0) rc = compile_load(source, options, rt, &q, &p1, &m1);
  if (rc == 0) rc = match_inputs(m1, &d);
  if (rc == 0) {
    const mlg_device_info *dev = mlg_runtime_device(rt);
    char a[256];
    fprintf(report, "mlgc: quantize: calibrating on %s (%s): %" PRId64 " samples, %" PRId64 " batch%s of %" PRId64,
            dev->spec, safe(dev->name, a, sizeof a), d.samples, d.batches, d.batches == 1 ? "" : "es", d.batch);
    if (d.samples % d.batch)
      fprintf(report, " (the last %" PRId64 " make no full batch and are left out)", d.samples % d.batch);
    fputc('\n', report);
    ranges = calloc((size_t)p1.quant_plan->n_observed + 1, sizeof(*ranges));
    if (!ranges) rc = error("out of memory");
  }
  if (rc == 0) rc = observe(m1, &d, p1.quant_plan, ranges, &ref);
  q = (mlg_quant_options){.n_ranges = rc == 0 ? p1.quant_plan->n_observed : 0, .ranges = ranges};
  if (rc == 0) rc = compile_load(source, options, rt, &q, &p2, &m2);
  if (rc == 0) {
    report_layers(&p2, ranges, report);
    rc = compare(m2, &d, &ref, report);
  }
  if (rc == 0) {
    *out_ranges = ranges;
    *out_n = q.n_ranges;
    ranges = NULL;
  }
  free(ranges);
  for (int o = 0; o < ref.n; o++) free(ref.data[o]);
  mlg_model_destroy(m1);
  mlg_model_destroy(m2);
  mlg_pipeline_free(&p1);
  mlg_pipeline_free(&p2);
  mlg_runtime_destroy(rt);
  calib_data_free(&d);
  return rc;
}

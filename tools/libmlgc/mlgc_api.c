/* mlgc_api.c — libmlgc (mlgc.h): mlg_compile (compiler/compile.h) behind a public API whose
 * diagnostics land in a per-thread log instead of on stderr. */
#include "mlgc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "onnx/onnx_import.h"
#include "precision.h"
#include "gemm_tune.h"
#include "../runtime/bundle.h"

#define LOG_CAPACITY 32768
#define MAX_DIMS 64

static _Thread_local char log_text[LOG_CAPACITY];

static void log_set(const char *text, size_t size) {
  if (size >= LOG_CAPACITY) {
    size = LOG_CAPACITY - 5;
    memcpy(log_text + size, "...\n", 5);
  } else {
    log_text[size] = '\0';
  }
  memcpy(log_text, text, size);
}

static mlg_status fail(mlg_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mlg_status fail(mlg_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(log_text, sizeof log_text, fmt, ap);
  va_end(ap);
  return status;
}

const char *mlgc_log(void) { return log_text; }

void mlgc_options_init(mlgc_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
  o->subgroups = -1;
}

void mlgc_free(void *bundle) { free(bundle); }

/* The compiler's options from the public ones; *tuning is filled when a table applies. */
static mlg_status translate(const mlgc_options *o, mlg_dim_binding *dims, mlg_gemm_tuning *tuning,
                            mlg_compile_options *out) {
  memset(out, 0, sizeof *out);
  if (o->n_dims < 0 || o->n_dims > MAX_DIMS || (o->n_dims > 0 && !o->dims))
    return fail(MLG_ERR_INVALID_ARGUMENT, "n_dims is %d (at most %d, with dims set)", o->n_dims, MAX_DIMS);
  for (int i = 0; i < o->n_dims; i++) {
    if (!o->dims[i].name || !*o->dims[i].name)
      return fail(MLG_ERR_INVALID_ARGUMENT, "dim %d has no name", i);
    if (o->dims[i].value < 1)
      return fail(MLG_ERR_INVALID_ARGUMENT, "dim '%s' = %lld: a dim must be a positive integer",
                  o->dims[i].name, (long long)o->dims[i].value);
    dims[i].name = o->dims[i].name;
    dims[i].value = o->dims[i].value;
  }
  if (o->opt_level < 0 || o->opt_level > 2)
    return fail(MLG_ERR_INVALID_ARGUMENT, "opt_level %d (expected 0, 1 or 2)", o->opt_level);
  if (o->weights_path && o->no_weights)
    return fail(MLG_ERR_INVALID_ARGUMENT, "weights_path and no_weights exclude each other");
  out->n_dims = o->n_dims;
  out->dims = dims;
  out->weights_path = o->weights_path;
  out->no_weights = o->no_weights;
  out->opt_level = o->opt_level;
  out->no_memory_reuse = o->no_memory_reuse;
  out->no_winograd = o->no_winograd;
  mlg_precision precision;
  if (mlg_precision_parse(o->precision ? o->precision : "f32", &precision) != 0)
    return fail(MLG_ERR_INVALID_ARGUMENT, "unknown precision '%s' (expected f32 or f16)", o->precision);
  out->precision = precision;

  if (o->device) {
    /* What mlgrun does for a .mlg (tools/mlgrun.c, compile_source). */
    const mlg_device_info *dev = o->device;
    out->target = strcmp(dev->backend, "vulkan") == 0 ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL;
    out->device_class = dev->is_gpu ? 2 : 1;
    out->local_mem_bytes = (int64_t)dev->local_mem_bytes;
    out->subgroups = dev->subgroup_arithmetic;
    if (o->tune >= 0) {
      mlg_tune_options to = {.who = "mlg", .force = o->tune > 0, .no_search = o->tune == 0 && !dev->is_gpu};
      mlg_tune_report rep;
      if (mlg_tune_gemm(dev, &to, tuning, &rep) == 0) out->gemm_tuning = tuning;
    }
    return MLG_OK;
  }

  const char *t = o->target ? o->target : "opencl";
  if (strcmp(t, "opencl") == 0) out->target = MLGB_TARGET_OPENCL;
  else if (strcmp(t, "vulkan") == 0) out->target = MLGB_TARGET_VULKAN;
  else return fail(MLG_ERR_INVALID_ARGUMENT, "unknown target '%s' (expected opencl or vulkan)", t);
  const char *h = o->device_hint;
  if (!h || strcmp(h, "unknown") == 0) out->device_class = 0;
  else if (strcmp(h, "cpu") == 0) out->device_class = 1;
  else if (strcmp(h, "gpu") == 0) out->device_class = 2;
  else return fail(MLG_ERR_INVALID_ARGUMENT, "unknown device hint '%s' (expected cpu, gpu or unknown)", h);
  if (o->subgroups > 0 && out->target != MLGB_TARGET_VULKAN)
    return fail(MLG_ERR_INVALID_ARGUMENT, "subgroups need the vulkan target (OpenCL C 1.2 has no portable "
                                          "subgroup operations)");
  out->subgroups = out->target == MLGB_TARGET_VULKAN && o->subgroups != 0;
  if (o->tuning_path) {
    char err[1024];
    if (mlg_gemm_tuning_load(o->tuning_path, tuning, err, sizeof err) != 0)
      return fail(MLG_ERR_INVALID_ARGUMENT, "tuning: %s", err);
    out->gemm_tuning = tuning;
  }
  return MLG_OK;
}

/* Compiles `source` with the diagnostics written to the thread's log. */
static mlg_status compile(const mlg_source *source, const mlgc_options *options, void **out_bundle,
                          size_t *out_size) {
  mlgc_options defaults;
  mlgc_options_init(&defaults);
  if (!options) options = &defaults;
  mlg_dim_binding dims[MAX_DIMS];
  mlg_gemm_tuning tuning;
  mlg_compile_options co;
  mlg_status st = translate(options, dims, &tuning, &co);
  if (st != MLG_OK) return st;

  char *text = NULL;
  size_t text_size = 0;
  FILE *log = open_memstream(&text, &text_size);
  if (!log) return fail(MLG_ERR_OUT_OF_MEMORY, "out of memory for the compiler's diagnostics");
  mlg_diag diag;
  mlg_diag_init(&diag, source, log);
  if (mlg_onnx_is_model_path(source->path)) diag.max_errors = 0; /* one error lists every node */
  uint8_t *data = NULL;
  size_t size = 0;
  int rc = mlg_compile(source, &co, &diag, &data, &size);
  fclose(log);
  log_set(text ? text : "", text ? text_size : 0);
  free(text);
  if (rc != 0 || diag.n_errors > 0) {
    free(data);
    if (!log_text[0]) fail(MLG_ERR_FORMAT, "%s: the compilation failed", source->path);
    return MLG_ERR_FORMAT;
  }
  *out_bundle = data;
  *out_size = size;
  return MLG_OK;
}

mlg_status mlgc_compile_file(const char *path, const mlgc_options *options, void **out_bundle,
                             size_t *out_size) {
  if (!out_bundle || !out_size) return fail(MLG_ERR_INVALID_ARGUMENT, "mlgc_compile_file: no output pointers");
  *out_bundle = NULL;
  *out_size = 0;
  if (!path) return fail(MLG_ERR_INVALID_ARGUMENT, "mlgc_compile_file: path is NULL");
  mlg_source source;
  char why[1400];
  if (mlg_pipeline_source_load(&source, path, why, sizeof why) != 0) /* .mlg text, or a .onnx model */
    return fail(errno == ENOMEM ? MLG_ERR_OUT_OF_MEMORY : MLG_ERR_IO, "%s", why);
  mlg_status st = compile(&source, options, out_bundle, out_size);
  mlg_source_free(&source);
  return st;
}

mlg_status mlgc_compile_source(const char *name, const char *text, size_t length,
                               const mlgc_options *options, void **out_bundle, size_t *out_size) {
  if (!out_bundle || !out_size)
    return fail(MLG_ERR_INVALID_ARGUMENT, "mlgc_compile_source: no output pointers");
  *out_bundle = NULL;
  *out_size = 0;
  if (!text && length) return fail(MLG_ERR_INVALID_ARGUMENT, "mlgc_compile_source: text is NULL");
  mlg_source source;
  if (mlg_source_from_memory(&source, name, text, length) != 0)
    return fail(errno == ENOMEM ? MLG_ERR_OUT_OF_MEMORY : MLG_ERR_INVALID_ARGUMENT,
                "%s: cannot take the source: %s", name ? name : "<memory>", strerror(errno));
  mlg_status st = compile(&source, options, out_bundle, out_size);
  mlg_source_free(&source);
  return st;
}

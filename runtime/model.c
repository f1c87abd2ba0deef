/* model.c — loading a bundle: read and validate it, bind its weights (from the bundle or a
 * .safetensors file), then let the backend upload them and build the programs, once. A train
 * step's params stay on the host, as loaded: each session starts from a copy. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_entry.h"
#include "dtype.h"
#include "file_util.h"
#include "internal.h"
#include "tensor_file.h"

_Static_assert((int)MLG_DTYPE_F32 == MLG_DT_F32 && (int)MLG_DTYPE_I32 == MLG_DT_I32 &&
                   (int)MLG_DTYPE_BOOL == MLG_DT_BOOL && (int)MLG_DTYPE_I64 == MLG_DT_I64 &&
                   (int)MLG_DTYPE_F16 == MLG_DT_F16 && (int)MLG_DTYPE_I8 == MLG_DT_I8 &&
                   (int)MLG_DTYPE_U8 == MLG_DT_U8,
               "mlg.h's dtypes are numbered as dtype.h");

static const char *dtype_name(uint32_t dtype) {
  const mlg_dtype_info *t = mlg_dtype_get(dtype);
  return t ? t->name : "?";
}

/* "f32[784, 10]" into buf. */
static const char *shape_string(char *buf, size_t size, uint32_t dtype, int rank, const int64_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "%s[", dtype_name(dtype));
  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

static const char *target_name(uint32_t target) {
  switch (target) {
    case MLGB_TARGET_OPENCL: return "opencl";
    case MLGB_TARGET_VULKAN: return "vulkan";
  }
  return "unknown";
}

/* A tensor a weights file binds: params (read-only, or trained by the train step). Consts are
 * the compiler's and always in the bundle. */
static int is_param(const mlgb_tensor *t) {
  return t->role == MLGB_ROLE_PARAM &&
         (t->region == MLGB_REGION_WEIGHTS || t->region == MLGB_REGION_PARAMS);
}

/* What the reader cannot know: that this runtime can run the bundle. */
static mlg_status check_bundle(const mlg_runtime *rt, const mlgb_bundle *b, const char *where) {
  int vk = strcmp(rt->backend->name, "vulkan") == 0;
  uint32_t want = vk ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL;
  uint32_t kind = vk ? MLGB_MODULE_SPIRV : MLGB_MODULE_OPENCL_C;
  if (b->target != want)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "%s: bundle targets %s, but device '%s' is a%s device; recompile with "
                    "--target %s or choose a %s:N device", where, target_name(b->target),
                    rt->info.spec, vk ? " Vulkan" : "n OpenCL", vk ? "vulkan" : "opencl",
                    target_name(b->target));
  for (uint32_t m = 0; m < b->n_modules; m++)
    if (b->modules[m].kind != kind)
      return mlg_fail(MLG_ERR_UNSUPPORTED, "%s: module %u is not %s", where, m,
                      vk ? "SPIR-V" : "OpenCL C source");
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    const mlgb_tensor *t = &b->tensors[i];
    const mlg_dtype_info *dt = mlg_dtype_get(t->dtype);
    if (!dt)
      return mlg_fail(MLG_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype %u", where, t->name, t->dtype);
    /* Kernels address tensors as (buffer, element offset as uint). */
    if (t->offset % (uint64_t)dt->storage_bytes != 0 || mlgb_element_offset(t) > UINT32_MAX)
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "%s: tensor '%s' sits at byte offset %" PRIu64
                      ", which a 32-bit element offset cannot address", where, t->name, t->offset);
    if (t->region >= MLGB_N_REGIONS || t->offset > b->region_size[t->region] ||
        t->size > b->region_size[t->region] - t->offset)
      return mlg_fail(MLG_ERR_FORMAT, "%s: tensor '%s' lies outside its region", where, t->name);
    if ((t->role == MLGB_ROLE_INPUT || t->role == MLGB_ROLE_OUTPUT) && t->region == MLGB_REGION_WEIGHTS)
      return mlg_fail(MLG_ERR_FORMAT, "%s: %s '%s' is placed in the read-only weights region", where,
                      t->role == MLGB_ROLE_INPUT ? "input" : "output", t->name);
  }
  return MLG_OK;
}

/* "'a', 'b', ... (N in all)": the names of a file's tensors, or of a bundle's params. */
static void list_names(char *buf, size_t size, int n, const mlg_tf_tensor *tensors, const mlgb_bundle *b) {
  size_t used = 0;
  int listed = 0, total = 0;
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (b && !is_param(&b->tensors[i])) continue;
    const char *name = b ? b->tensors[i].name : tensors[i].name;
    total++;
    if (listed == 6) continue;
    int w = snprintf(buf + used, size - used, "%s'%s'", listed ? ", " : "", name);
    if (w < 0 || (size_t)w >= size - used) break;
    used += (size_t)w;
    listed++;
  }
  if (total > listed) snprintf(buf + used, size - used, ", ... (%d in all)", total);
  if (total == 0) snprintf(buf, size, "none");
}

/* Frees the images and returns st (an error path's shorthand). */
static mlg_status free_images(uint8_t *images[MLGB_N_REGIONS], mlg_status st) {
  for (int r = 0; r < MLGB_N_REGIONS; r++) {
    free(images[r]);
    images[r] = NULL;
  }
  return st;
}

/* Builds the images of the weights and params regions into images[] (malloc'd; NULL for an
 * empty region): the bundle's consts, and its params or, from the weights file, the file's
 * params over them. */
static mlg_status bind_weights(const mlgb_bundle *b, const char *where, const mlg_load_options *options,
                               uint8_t *images[MLGB_N_REGIONS]) {
  for (int r = 0; r < MLGB_N_REGIONS; r++) images[r] = NULL;
  const char *path = options ? options->weights_path : NULL;
  if (!path && !b->has_params)
    for (uint32_t i = 0; i < b->n_tensors; i++)
      if (is_param(&b->tensors[i]))
        return mlg_fail(MLG_ERR_NOT_FOUND,
                        "%s: the bundle was built with --no-weights and no weights file was given; "
                        "weight '%s' is missing (pass a .safetensors file with --weights)",
                        where, b->tensors[i].name);
  static const int filled[2] = {MLGB_REGION_WEIGHTS, MLGB_REGION_PARAMS};
  for (int k = 0; k < 2; k++) {
    uint64_t region = b->region_size[filled[k]];
    if (region == 0) continue;
    if (region > SIZE_MAX)
      return free_images(images, mlg_fail(MLG_ERR_OUT_OF_MEMORY, "%s: the %s region has %" PRIu64 " bytes", where,
                                          mlg_region_name((uint32_t)filled[k]), region));
    images[filled[k]] = calloc(1, (size_t)region);
    if (!images[filled[k]])
      return free_images(images, mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory for %" PRIu64 " bytes of weights",
                                          region));
  }
  mlgb_weights_unpack(b, images);
  if (!path) return MLG_OK;

  char err[1024];
  mlg_safetensors file;
  if (mlg_safetensors_read_file(path, &file, err, sizeof err) != 0) {
    int e = errno;
    free_images(images, MLG_OK);
    /* The reader does not tell I/O from format problems; a file we cannot open (or that is no
     * regular file, or too large for memory) is I/O. */
    uint64_t bytes;
    const char *kind;
    int fd = mlg_open_regular(path, 0, &bytes, &kind);
    if (fd < 0) return mlg_fail(MLG_ERR_IO, "cannot read weights '%s': %s", path, err);
    close(fd);
    if (e == ENOMEM) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "cannot read weights '%s': %s", path, err);
    return mlg_fail(MLG_ERR_FORMAT, "weights '%s': %s", path, err);
  }
  mlg_status st = MLG_OK;
  int n_bound = 0;
  for (uint32_t i = 0; i < b->n_tensors && st == MLG_OK; i++) {
    const mlgb_tensor *t = &b->tensors[i];
    if (!is_param(t)) continue;
    const mlg_tf_tensor *f = mlg_safetensors_find(&file, t->name);
    char want[256], got[256];
    if (!f) {
      /* Replacing some params of a bundle that has them all is fine; a bundle without them
       * needs every one. */
      const char *near = mlg_safetensors_closest(&file, t->name);
      if (!b->has_params)
        st = mlg_fail(MLG_ERR_NOT_FOUND, "weight '%s' (%s) is missing from '%s'%s%s%s", t->name,
                      shape_string(want, sizeof want, t->dtype, (int)t->rank, t->dims), path,
                      near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
      continue;
    }
    n_bound++;
    uint32_t fdtype = (uint32_t)f->dtype; /* numbered alike (dtype.h) */
    const mlg_dtype_info *dt = mlg_dtype_get(t->dtype);
    /* An f16 bundle (mlgc --precision=f16) takes the f32 weights its model declares, rounded. */
    int halved = fdtype == MLG_DT_F32 && t->dtype == MLG_DT_F16;
    int same = (fdtype == t->dtype || halved) && f->rank == (int)t->rank && dt &&
               f->size == t->size / (uint64_t)dt->storage_bytes * (halved ? 4u : (uint64_t)dt->host_bytes);
    for (int d = 0; same && d < f->rank; d++) same = f->dims[d] == t->dims[d];
    if (!same) {
      st = mlg_fail(MLG_ERR_MISMATCH, "weight '%s' in '%s' is %s, but the model expects %s", t->name,
                    path, shape_string(got, sizeof got, fdtype, f->rank, f->dims),
                    shape_string(want, sizeof want, t->dtype, (int)t->rank, t->dims));
      continue;
    }
    if (halved) {
      uint8_t *dst = images[t->region] + t->offset;
      for (uint64_t e = 0; e < t->size / 2; e++) {
        float v;
        memcpy(&v, (const uint8_t *)f->data + e * 4, 4);
        uint16_t h = mlg_f32_to_f16(v);
        memcpy(dst + e * 2, &h, 2);
      }
      continue;
    }
    size_t bad;
    int64_t bad_value;
    if (mlg_dtype_to_storage(t->dtype, f->data, images[t->region] + t->offset, (size_t)(t->size / (uint64_t)dt->storage_bytes),
                             &bad, &bad_value) != 0)
      st = mlg_fail(MLG_ERR_MISMATCH, "weight '%s' in '%s': element %zu is %" PRId64 ", which does not "
                    "fit in 32 bits (mlg computes i64 as i32)", t->name, path, bad, bad_value);
  }
  /* A file that replaces nothing was meant for another model, or for weights named otherwise. */
  if (st == MLG_OK && n_bound == 0 && file.n_tensors > 0) {
    char names[512], weights[512];
    list_names(names, sizeof names, file.n_tensors, file.tensors, NULL);
    list_names(weights, sizeof weights, (int)b->n_tensors, NULL, b);
    st = mlg_fail(MLG_ERR_NOT_FOUND,
                  "%s: no tensor of '%s' names a weight of the bundle, so it would bind nothing; the "
                  "file has %s, the bundle's weights are %s (to bind weights at load, compile with "
                  "--no-weights: with its weights, mlgc folds batch_norm into them and renames them)",
                  where, path, names, weights);
  }
  mlg_safetensors_free(&file);
  return st == MLG_OK ? MLG_OK : free_images(images, st);
}

static mlg_status collect_io(mlg_model *m) {
  const mlgb_bundle *b = m->bundle;
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    if (b->tensors[i].role == MLGB_ROLE_INPUT) m->n_inputs++;
    if (b->tensors[i].role == MLGB_ROLE_OUTPUT) m->n_outputs++;
    if (is_param(&b->tensors[i])) m->n_params++;
  }
  m->inputs = calloc((size_t)m->n_inputs + 1, sizeof *m->inputs);
  m->outputs = calloc((size_t)m->n_outputs + 1, sizeof *m->outputs);
  m->params = calloc((size_t)m->n_params + 1, sizeof *m->params);
  m->input_programs = calloc((size_t)m->n_inputs + 1, sizeof *m->input_programs);
  if (!m->inputs || !m->outputs || !m->params || !m->input_programs)
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  int ni = 0, no = 0, np = 0;
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    if (b->tensors[i].role == MLGB_ROLE_INPUT) m->inputs[ni++] = i;
    if (b->tensors[i].role == MLGB_ROLE_OUTPUT) m->outputs[no++] = i;
    if (is_param(&b->tensors[i])) m->params[np++] = i;
  }
  /* An input belongs to the programs whose dispatches read it. */
  for (uint32_t d = 0; d < b->n_dispatches; d++)
    for (uint32_t a = 0; a < b->dispatches[d].n_args; a++)
      for (int k = 0; k < m->n_inputs; k++)
        if (m->inputs[k] == b->dispatches[d].args[a]) m->input_programs[k] |= b->dispatches[d].programs;
  return MLG_OK;
}

/* Whether bytes that are no bundle read as mlg source: text (no NUL, no control bytes but
 * whitespace) in which the word "model" appears early. */
static int looks_like_source(const uint8_t *data, size_t size) {
  size_t n = size < 4096 ? size : 4096;
  for (size_t i = 0; i < n; i++)
    if (data[i] < 0x20 && data[i] != '\n' && data[i] != '\r' && data[i] != '\t') return 0;
  for (size_t i = 0; i + 6 <= n; i++)
    if (memcmp(data + i, "model", 5) == 0 && (data[i + 5] == ' ' || data[i + 5] == '\t') &&
        (i == 0 || data[i - 1] == '\n' || data[i - 1] == ' ' || data[i - 1] == '\t'))
      return 1;
  return 0;
}

/* The optional device features kernels may use here: what the device offers, less those
 * MLG_DISABLE_FEATURES names (comma-separated, e.g. "intdot"; tests run both variants of a
 * kernel on one device with it). */
static mlg_status usable_features(const mlg_runtime *rt, uint32_t *out) {
  *out = rt->backend->device_features ? rt->backend->device_features(rt->device) : 0;
  const char *off = getenv("MLG_DISABLE_FEATURES");
  for (const char *p = off; p && *p;) {
    size_t n = strcspn(p, ", ");
    if (n > 0) {
      uint32_t bit = mlgb_device_feature_by_name(p, n);
      if (!bit) {
        char known[128];
        return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "MLG_DISABLE_FEATURES names '%.*s', which is no device feature "
                        "(known: %s)", (int)(n < 64 ? n : 64), p,
                        mlgb_device_feature_names(MLGB_KNOWN_DEVICE_FEATURES, known, sizeof known));
      }
      *out &= ~bit;
    }
    p += n;
    p += strspn(p, ", ");
  }
  return MLG_OK;
}

/* Points each dispatch at the variant of its kernel the device can run (bundle.h
 * mlgb_choose_kernel): the loader's copy of the bundle is adjusted once, before the backend
 * sees it, so backends build and run only the chosen kernels. */
static mlg_status choose_variants(const mlg_runtime *rt, mlgb_bundle *b, const char *where) {
  uint32_t features;
  mlg_status st = usable_features(rt, &features);
  if (st != MLG_OK) return st;
  /* The inline-PTX kernels copy tensors into local memory 16 bytes at a time (cp.async), which
   * faults on an address off 16 bytes: a bundle planned at a smaller alignment (mlgc plans at
   * 256) runs their fallbacks. */
  if (b->alignment < 16) features &= ~(uint32_t)(MLGB_DEVICE_PTX_MMA | MLGB_DEVICE_PTX_WGMMA);
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    uint32_t k = mlgb_choose_kernel(b, b->dispatches[i].kernel, features);
    if (k == UINT32_MAX) {
      const mlgb_kernel *kd = &b->kernels[b->dispatches[i].kernel];
      char need[128];
      return mlg_fail(MLG_ERR_UNSUPPORTED, "%s: kernel '%s' needs device features (%s) that device '%s' lacks or "
                      "MLG_DISABLE_FEATURES turned off, and has no fallback; recompile the model for this device",
                      where, kd->name, mlgb_device_feature_names(kd->requires & ~features, need, sizeof need),
                      rt->info.name);
    }
    b->dispatches[i].kernel = k;
  }
  return MLG_OK;
}

static mlg_status load(mlg_runtime *rt, const void *data, size_t size, const char *where,
                       const mlg_load_options *options, mlg_model **out_model) {
  mlg_model *m = calloc(1, sizeof *m);
  if (!m) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory loading %s", where);
  m->runtime = rt;

  char err[1024];
  mlg_status st = MLG_OK;
  if (mlgb_read(data, size, &m->bundle, err, sizeof err) != 0) {
    m->bundle = NULL;
    if (looks_like_source(data, size))
      st = mlg_fail(MLG_ERR_FORMAT,
                    "%s is mlg source (.mlg), not a compiled bundle (.mlgb): compile it first "
                    "(mlgc MODEL.mlg -o MODEL.mlgb), or run the source as it is with "
                    "'mlgrun MODEL.mlg'", where);
    else
      st = mlg_fail(MLG_ERR_FORMAT, "%s: %s", where, err);
  }
  if (st == MLG_OK) st = check_bundle(rt, m->bundle, where);
  if (st == MLG_OK) st = choose_variants(rt, m->bundle, where);
  if (st == MLG_OK) st = mlg_check_plan_memory(rt, m->bundle, where, 0);
  if (st == MLG_OK) st = collect_io(m);
  uint8_t *images[MLGB_N_REGIONS] = {NULL};
  if (st == MLG_OK) st = bind_weights(m->bundle, where, options, images);
  if (st == MLG_OK)
    st = rt->backend->upload(rt->device, m->bundle, images[MLGB_REGION_WEIGHTS], &m->backend_model);
  m->params_image = images[MLGB_REGION_PARAMS];
  images[MLGB_REGION_PARAMS] = NULL;
  free_images(images, MLG_OK);
  if (st == MLG_OK)
    st = rt->backend->build(m->backend_model, rt->cache_dir, &m->cache_stats, options ? options->progress : NULL,
                            options ? options->progress_user : NULL);
  /* Entries were added: keep the folder within its limit (cache_entry.h). */
  if (m->cache_stats.writes > 0 && rt->cache_dir) mlg_cache_trim(rt->cache_dir, mlg_cache_limit());
  if (st != MLG_OK) {
    mlg_model_destroy(m);
    return st;
  }
  *out_model = m;
  return MLG_OK;
}

mlg_status mlg_model_load_memory(mlg_runtime *runtime, const void *data, size_t size,
                                 const mlg_load_options *options, mlg_model **out_model) {
  if (!out_model) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_load_memory: out_model is NULL");
  *out_model = NULL;
  if (!runtime || !data)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_load_memory: %s is NULL", runtime ? "data" : "runtime");
  return load(runtime, data, size, "<memory>", options, out_model);
}

mlg_status mlg_model_load_file(mlg_runtime *runtime, const char *path, const mlg_load_options *options,
                               mlg_model **out_model) {
  if (!out_model) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_load_file: out_model is NULL");
  *out_model = NULL;
  if (!runtime || !path)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_load_file: %s is NULL", runtime ? "path" : "runtime");

  uint8_t *data = NULL;
  size_t size = 0;
  char err[1024];
  mlg_status st = MLG_OK;
  if (mlg_read_file(path, &data, &size, err, sizeof err) != 0)
    st = mlg_fail(errno == ENOMEM ? MLG_ERR_OUT_OF_MEMORY : MLG_ERR_IO, "cannot read bundle: %s", err);
  if (st == MLG_OK) st = load(runtime, data, size, path, options, out_model);
  free(data);
  return st;
}

void mlg_model_destroy(mlg_model *model) {
  if (!model) return;
  if (model->backend_model) model->runtime->backend->model_destroy(model->backend_model);
  if (model->bundle) mlgb_free(model->bundle);
  free(model->inputs);
  free(model->outputs);
  free(model->params);
  free(model->input_programs);
  free(model->params_image);
  free(model);
}

const char *mlg_model_name(const mlg_model *model) {
  return model && model->bundle->model_name ? model->bundle->model_name : "";
}

int mlg_model_input_count(const mlg_model *model) { return model ? model->n_inputs : 0; }
int mlg_model_output_count(const mlg_model *model) { return model ? model->n_outputs : 0; }

static mlg_status tensor_info(const mlg_model *m, const uint32_t *list, int n, int index,
                              const char *what, mlg_tensor_info *out) {
  if (!out) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_%s_info: out_info is NULL", what);
  memset(out, 0, sizeof *out);
  if (!m) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_%s_info: model is NULL", what);
  if (index < 0 || index >= n)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "%s index %d out of range: model '%s' has %d %ss",
                    what, index, mlg_model_name(m), n, what);
  const mlgb_tensor *t = &m->bundle->tensors[list[index]];
  out->name = t->name;
  out->dtype = (mlg_dtype)t->dtype; /* numbered alike (dtype.h) */
  out->rank = (int)t->rank;
  for (uint32_t d = 0; d < t->rank && d < MLG_MAX_DIMS; d++) out->dims[d] = t->dims[d];
  /* What the caller passes: host elements (an i64 is 8 bytes, stored as 4). */
  const mlg_dtype_info *dt = mlg_dtype_get(t->dtype);
  out->bytes = (size_t)(t->size / (uint64_t)dt->storage_bytes * (uint64_t)dt->host_bytes);
  if (list == m->inputs) out->programs = m->input_programs[index];
  else if (list == m->outputs) out->programs = MLG_PROGRAM_RUN;
  else out->programs = t->region == MLGB_REGION_PARAMS ? MLG_PROGRAM_TRAIN : 0;
  return MLG_OK;
}

mlg_status mlg_model_input_info(const mlg_model *model, int index, mlg_tensor_info *out_info) {
  return tensor_info(model, model ? model->inputs : NULL, model ? model->n_inputs : 0, index, "input", out_info);
}

mlg_status mlg_model_output_info(const mlg_model *model, int index, mlg_tensor_info *out_info) {
  return tensor_info(model, model ? model->outputs : NULL, model ? model->n_outputs : 0, index, "output",
                     out_info);
}

int mlg_model_param_count(const mlg_model *model) { return model ? model->n_params : 0; }

mlg_status mlg_model_param_info(const mlg_model *model, int index, mlg_tensor_info *out_info) {
  return tensor_info(model, model ? model->params : NULL, model ? model->n_params : 0, index, "param", out_info);
}

mlg_status mlg_model_train_info(const mlg_model *model, mlg_train_info *out_info) {
  if (!model || !out_info)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_model_train_info: %s is NULL", model ? "out_info" : "model");
  memset(out_info, 0, sizeof *out_info);
  const mlgb_bundle *b = model->bundle;
  if (!b->has_train)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "model '%s' has no train step; add 'train LOSS with OPTIMIZER(...)' to the model and compile "
                    "it again", mlg_model_name(model));
  out_info->loss = b->tensors[b->train_loss].name;
  out_info->optimizer = b->optimizer;
  for (int k = 0; k < model->n_params; k++) {
    const mlgb_tensor *t = &b->tensors[model->params[k]];
    if (t->region != MLGB_REGION_PARAMS) continue;
    out_info->n_trained++;
    out_info->trained_bytes += t->size;
  }
  out_info->state_bytes = b->region_size[MLGB_REGION_STATE];
  return MLG_OK;
}

void mlg_model_cache_stats(const mlg_model *model, int *out_hits, int *out_misses, int *out_writes) {
  if (out_hits) *out_hits = model ? model->cache_stats.hits : 0;
  if (out_misses) *out_misses = model ? model->cache_stats.misses : 0;
  if (out_writes) *out_writes = model ? model->cache_stats.writes : 0;
}

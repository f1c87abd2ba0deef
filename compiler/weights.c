#include "weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/bundle.h"
#include "../runtime/dtype.h"
#include "../runtime/file_util.h"
#include "../runtime/tensor_file.h"

#define MLG_PI 3.14159265358979323846

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double next_unit(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

void mlg_init_fill(const mlg_init *init, float *out, int64_t n) {
  uint64_t state = init->seed;
  switch (init->kind) {
  case MLG_INIT_NONE:
  case MLG_INIT_DATA:
  case MLG_INIT_ZEROS:
    memset(out, 0, (size_t)n * sizeof(float));
    break;
  case MLG_INIT_ONES:
    for (int64_t i = 0; i < n; i++) out[i] = 1.0f;
    break;
  case MLG_INIT_UNIFORM:
    for (int64_t i = 0; i < n; i++) out[i] = (float)(init->a + (init->b - init->a) * next_unit(&state));
    break;
  case MLG_INIT_NORMAL:
    for (int64_t i = 0; i < n; i += 2) {
      double u1 = 1.0 - next_unit(&state); /* (0, 1]: log is finite */
      double u2 = next_unit(&state);
      double r = sqrt(-2.0 * log(u1));
      out[i] = (float)(init->a + init->b * r * cos(2.0 * MLG_PI * u2));
      if (i + 1 < n) out[i + 1] = (float)(init->a + init->b * r * sin(2.0 * MLG_PI * u2));
    }
    break;
  }
}

static int shape_matches(const mlg_type *t, const mlg_tf_tensor *f) {
  if (f->rank != t->rank) return 0;
  for (int i = 0; i < t->rank; i++)
    if (f->dims[i] != t->dims[i]) return 0;
  return 1;
}

static void format_file_shape(const mlg_tf_tensor *f, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "%s[", mlg_dtype_get((uint32_t)f->dtype)->name);
  for (int i = 0; i < f->rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld", (long long)f->dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

void mlg_weights_file_init(mlg_weights_file *file, const char *path) {
  memset(file, 0, sizeof(*file));
  file->path = path;
}

void mlg_weights_file_close(mlg_weights_file *file) {
  if (file->state == 1) mlg_safetensors_free(&file->tensors);
  file->state = 0;
}

/* The file's tensors (NULL when there is no file), read on first use. Returns 0, or -1 when the
 * file cannot be read (reported once). */
static int open_weights(mlg_weights_file *file, mlg_diag *diag, const mlg_safetensors **out) {
  *out = NULL;
  if (!file || !file->path) return 0;
  if (file->state == 0) {
    char err[512];
    file->state = mlg_safetensors_read_file(file->path, &file->tensors, err, sizeof(err)) == 0 ? 1 : -1;
    if (file->state < 0) mlg_diag_error(diag, (mlg_span){0, 0}, "%s", err);
  }
  if (file->state < 0) return -1;
  *out = &file->tensors;
  return 0;
}

/* Fills dst (size bytes) with param n's values: the file's tensor of that name when there is
 * one, else its initializer (or its data: an imported model's weights). Returns 0, or -1 when the param has no usable source (reported to
 * diag unless diag is NULL). */
static int load_param(const mlg_node *n, const mlg_safetensors *file, const char *weights_path,
                      mlg_diag *diag, void *dst, size_t size) {
  const mlg_tf_tensor *f = file ? mlg_safetensors_find(file, n->name) : NULL;
  char want[128], got[128];
  if (f) {
    if ((int)f->dtype != (int)n->type.dtype || !shape_matches(&n->type, f)) {
      if (diag) {
        mlg_type_format(&n->type, want, sizeof(want));
        format_file_shape(f, got, sizeof(got));
        mlg_diag_error(diag, n->span, "weight '%s' in %s is %s but the model declares %s",
                       n->name, weights_path, got, want);
      }
      return -1;
    }
    size_t bad;
    int64_t bad_value;
    if (mlg_dtype_to_storage((uint32_t)n->type.dtype, f->data, dst, (size_t)mlg_type_numel(&n->type),
                             &bad, &bad_value) != 0) {
      if (diag)
        mlg_diag_error(diag, n->span, "weight '%s' in %s: element %zu is %lld, which does not fit "
                       "in 32 bits (mlg computes i64 as i32)", n->name, weights_path, bad,
                       (long long)bad_value);
      return -1;
    }
  } else if (n->init.kind == MLG_INIT_DATA && n->data) {
    memcpy(dst, n->data, size);
  } else if (n->init.kind != MLG_INIT_NONE && n->init.kind != MLG_INIT_DATA) {
    int64_t numel = mlg_type_numel(&n->type);
    if (n->type.dtype == MLG_F32) {
      mlg_init_fill(&n->init, (float *)dst, numel);
    } else { /* the same values, stored as the param's dtype */
      float *v = malloc((size_t)(numel ? numel : 1) * sizeof(float));
      if (!v) {
        if (diag) mlg_diag_error(diag, n->span, "out of memory while initializing '%s'", n->name);
        return -1;
      }
      mlg_init_fill(&n->init, v, numel);
      for (int64_t i = 0; i < numel; i++) mlg_data_set(n->type.dtype, dst, i, v[i]);
      free(v);
    }
  } else {
    const char *near = mlg_safetensors_closest(file, n->name);
    if (diag && near)
      mlg_diag_error(diag, n->span, "param '%s' is not in %s and has no initializer; did you mean '%s' (in the file)?",
                     n->name, weights_path, near);
    else if (diag)
      mlg_diag_error(diag, n->span,
                     weights_path ? "param '%s' is not in %s and has no initializer"
                                  : "param '%s' has no initializer%s; pass --weights FILE.safetensors",
                     n->name, weights_path ? weights_path : "");
    return -1;
  }
  return 0;
}

int mlg_weights_check_budget(const mlg_graph *g, int params, uint64_t budget, mlg_diag *diag) {
  uint64_t total = 0, largest = 0;
  int at = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *n = &g->nodes[i];
    if (n->kind != MLG_NODE_CONST && !(params && n->kind == MLG_NODE_PARAM)) continue;
    int64_t numel = mlg_type_numel(&n->type);
    uint64_t bytes = numel < 0 ? UINT64_MAX / 4 : (uint64_t)numel * 4;
    total = total > UINT64_MAX - bytes ? UINT64_MAX : total + bytes;
    if (bytes > largest) {
      largest = bytes;
      at = i;
    }
  }
  if (total <= budget) return 0;
  const mlg_node *n = &g->nodes[at];
  char a[32], b[32], c[32], type[128];
  /* A budget that would do: the total rounded up to a whole MiB or GiB. */
  int shift = total < ((uint64_t)1 << 30) ? 20 : 30;
  unsigned long long whole = total > ((uint64_t)1 << 62) ? 1ull << 32
                             : (unsigned long long)((total + ((uint64_t)1 << shift) - 1) >> shift);
  mlg_diag_error(diag, n->span,
                 "the weights of model '%s' take %s, more than the compiler's budget of %s (the largest: %s "
                 "'%s' %s, %s); raise the budget with --max-weight-bytes=%llu%c, or compile with --no-weights and "
                 "bind the params at load", g->model_name ? g->model_name : "", mlg_format_bytes(total, a, sizeof a),
                 mlg_format_bytes(budget, b, sizeof b), n->kind == MLG_NODE_PARAM ? "param" : "const",
                 n->name ? n->name : "?", mlg_type_format(&n->type, type, sizeof type),
                 mlg_format_bytes(largest, c, sizeof c), whole, shift == 20 ? 'M' : 'G');
  return -1;
}

/* Values of node n (numel of its dtype, at src) stored as `stored` at dst, each rounded as a
 * kernel's store rounds it (mlg_data_set: an f32 weight as the nearest half). */
static void store_as(const mlg_node *n, mlg_ir_dtype stored, const void *src, void *dst) {
  int64_t numel = mlg_type_numel(&n->type);
  for (int64_t e = 0; e < numel; e++) mlg_data_set(stored, dst, e, mlg_data_get(n->type.dtype, src, e));
}

int mlg_weights_build(const mlg_graph *g, const mlg_plan *plan, const mlg_ir_dtype *stored,
                      mlg_weights_file *wf, int params, mlg_diag *diag,
                      uint8_t *out_images[MLGB_N_REGIONS]) {
  for (int r = 0; r < MLGB_N_REGIONS; r++) out_images[r] = NULL;
  const mlg_safetensors *file = NULL;
  if (params && open_weights(wf, diag, &file) != 0) return -1;
  const char *weights_path = file ? wf->path : NULL;
  static const int filled[2] = {MLGB_REGION_WEIGHTS, MLGB_REGION_PARAMS};
  for (int k = 0; k < 2; k++) {
    size_t size = (size_t)plan->region_size[filled[k]];
    out_images[filled[k]] = calloc(size ? size : 1, 1);
    if (!out_images[filled[k]]) {
      mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory for %zu bytes of weights", size);
      mlg_weights_images_free(out_images);
      return -1;
    }
  }
  int errors = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *n = &g->nodes[i];
    const mlg_placement *p = &plan->tensors[i];
    if (n->kind != MLG_NODE_PARAM && n->kind != MLG_NODE_CONST) continue;
    if (p->region != MLGB_REGION_WEIGHTS && p->region != MLGB_REGION_PARAMS) continue;
    uint8_t *dst = out_images[p->region] + p->offset;
    mlg_ir_dtype as = stored ? stored[i] : n->type.dtype;
    if (n->kind == MLG_NODE_CONST) {
      if (as == n->type.dtype) memcpy(dst, n->data, (size_t)p->size);
      else store_as(n, as, n->data, dst);
      continue;
    }
    if (!params) continue;
    if (as == n->type.dtype) { /* straight into the image */
      if (load_param(n, file, weights_path, diag, dst, (size_t)p->size) != 0) errors++;
      continue;
    }
    size_t size = (size_t)mlg_type_bytes(&n->type); /* loaded as declared, then stored as `as` */
    void *values = malloc(size ? size : 1);
    if (!values) {
      mlg_diag_error(diag, n->span, "out of memory while loading '%s'", n->name ? n->name : "?");
      errors++;
    } else if (load_param(n, file, weights_path, diag, values, size) != 0) {
      errors++;
    } else {
      store_as(n, as, values, dst);
    }
    free(values);
  }
  if (errors) {
    mlg_weights_images_free(out_images);
    return -1;
  }
  return 0;
}

void mlg_weights_images_free(uint8_t *images[MLGB_N_REGIONS]) {
  for (int r = 0; r < MLGB_N_REGIONS; r++) {
    free(images[r]);
    images[r] = NULL;
  }
}

/* Whether a tensor of a PyTorch state_dict is BatchNorm's step counter, which no model uses. */
static int is_bookkeeping(const char *name) {
  const char *last = strrchr(name, '.');
  return strcmp(last ? last + 1 : name, "num_batches_tracked") == 0;
}

int mlg_weights_check_names(const mlg_graph *g, mlg_weights_file *wf, mlg_diag *diag) {
  const mlg_safetensors *file;
  if (open_weights(wf, diag, &file) != 0) return -1;
  if (!file) return 0;
  char list[1024];
  size_t used = 0;
  int n_unmatched = 0, n_listed = 0;
  list[0] = '\0';
  for (int t = 0; t < file->n_tensors; t++) {
    const char *name = file->tensors[t].name;
    const char *best = NULL;
    int matched = 0, best_d = 3;
    for (int i = 0; i < g->n_nodes && !matched; i++) {
      const mlg_node *n = &g->nodes[i];
      if (n->kind != MLG_NODE_PARAM || !n->name) continue;
      matched = strcmp(n->name, name) == 0;
      /* Suggest only params the file does not give: those the misnamed tensor was meant for. */
      int d = mlg_suggest_distance(name, n->name);
      if (!matched && d >= 0 && d < best_d && !mlg_safetensors_find(file, n->name)) {
        best_d = d;
        best = n->name;
      }
    }
    if (matched || is_bookkeeping(name)) continue;
    n_unmatched++;
    if (n_listed == 8 || used >= sizeof list) continue;
    int w = best ? snprintf(list + used, sizeof list - used, "%s'%s' (did you mean '%s'?)", n_listed ? ", " : "",
                            name, best)
                 : snprintf(list + used, sizeof list - used, "%s'%s'", n_listed ? ", " : "", name);
    if (w > 0 && (size_t)w < sizeof list - used) {
      used += (size_t)w;
      n_listed++;
    }
  }
  if (n_unmatched == 1)
    mlg_diag_warning(diag, (mlg_span){0, 0}, "%s: tensor %s matches no param of the model and is ignored",
                     wf->path, list);
  else if (n_unmatched > 1)
    mlg_diag_warning(diag, (mlg_span){0, 0}, "%s: %d tensors match no param of the model and are ignored: %s%s",
                     wf->path, n_unmatched, list, n_listed < n_unmatched ? ", ..." : "");
  return 0;
}

int mlg_weights_param_values(const mlg_graph *g, mlg_weights_file *wf, const char *wanted,
                             mlg_diag *diag, float ***out_values) {
  *out_values = NULL;
  int any = 0;
  for (int i = 0; i < g->n_nodes && !any; i++)
    any = g->nodes[i].kind == MLG_NODE_PARAM && g->nodes[i].type.dtype == MLG_F32 &&
          (!wanted || wanted[i]);
  if (!any) return 0;
  const mlg_safetensors *file;
  if (open_weights(wf, diag, &file) != 0) return -1;
  const char *weights_path = file ? wf->path : NULL;
  float **values = calloc((size_t)g->n_nodes, sizeof(*values));
  int rc = values ? 0 : -1;
  for (int i = 0; i < g->n_nodes && rc == 0; i++) {
    const mlg_node *n = &g->nodes[i];
    if (n->kind != MLG_NODE_PARAM || n->type.dtype != MLG_F32 || (wanted && !wanted[i])) continue;
    size_t size = (size_t)mlg_type_numel(&n->type) * sizeof(float);
    values[i] = malloc(size ? size : 1);
    if (!values[i]) {
      rc = -1;
    } else if (load_param(n, file, weights_path, NULL, values[i], size) != 0) {
      free(values[i]); /* unknown: mlg_weights_build reports it if the bundle needs it */
      values[i] = NULL;
    }
  }
  if (rc != 0) {
    mlg_weights_values_free(values, g->n_nodes);
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while loading weights");
    return -1;
  }
  *out_values = values;
  return 0;
}

void mlg_weights_values_free(float **values, int n) {
  if (!values) return;
  for (int i = 0; i < n; i++) free(values[i]);
  free(values);
}

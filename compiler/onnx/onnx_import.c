/* onnx_import.c — the ONNX front end's driver: values, names, the walk over the nodes, and the
 * one error that lists every node that cannot be imported (see onnx_import.h). */
#include "onnx_import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/file_util.h"
#include "emit_mlg.h"
#include "onnx_file.h"
#include "onnx_internal.h"
#include "op.h"
#include "ops/op_util.h"
#include "weights.h"

#define OX_NAME_MAX 200

/* What an ONNX value name stands for during the import. */
typedef struct ox_value {
  const char *name;          /* the ONNX name (owned by the model) */
  int node;                  /* graph node, or -1 until materialized */
  const ox_tensor *k;        /* known at import, or NULL */
  int initializer;           /* k is an initializer: it becomes a param */
  int dtype;                 /* ONNX dtype (0: unknown) */
  const char *bad;           /* the value cannot be used: why (NULL: fine; "" a failed node) */
} ox_value;

struct ox_ctx {
  mlg_graph_builder b;
  mlg_arena arena;           /* known tensors, names, the report */
  mlg_diag *diag;
  const char *path;
  int opset;
  int oom;
  /* bytes of values computed at import (ox_new_tensor), against the weight budget */
  uint64_t value_bytes, value_budget;
  int over_budget;           /* the last ox_new_tensor failed on the budget, not the memory */
  /* values by ONNX name: open addressing over `values` */
  ox_value *values;
  int n_values, cap_values;
  int *slots;
  int n_slots;
  /* mlg names in use (the graph's names are unique) */
  char **used_names;
  int n_used, cap_used;
  /* the node being imported */
  const Onnx__NodeProto *node;
  unsigned char *attr_read;
  char reason[512];
  /* the report */
  char *report;
  size_t report_len, report_cap;
  int n_unsupported;
};

/* ---- small helpers ----------------------------------------------------------------------- */

int ox_mlg_dtype(int onnx_dtype, mlg_ir_dtype *out) {
  switch (onnx_dtype) {
  case OX_FLOAT: *out = MLG_F32; return 0;
  case OX_FLOAT16: *out = MLG_F16; return 0;
  case OX_INT32: *out = MLG_I32; return 0;
  case OX_INT64: *out = MLG_I64; return 0;
  case OX_INT8: *out = MLG_I8; return 0;
  case OX_UINT8: *out = MLG_U8; return 0;
  case OX_BOOL: *out = MLG_BOOL; return 0;
  default: return -1;
  }
}

int ox_onnx_dtype(mlg_ir_dtype dtype) {
  static const int onnx[MLG_N_DTYPES] = {
    [MLG_F32] = OX_FLOAT, [MLG_I32] = OX_INT32, [MLG_BOOL] = OX_BOOL, [MLG_I64] = OX_INT64,
    [MLG_F16] = OX_FLOAT16, [MLG_I8] = OX_INT8, [MLG_U8] = OX_UINT8,
  };
  return (int)dtype >= 0 && (int)dtype < MLG_N_DTYPES ? onnx[dtype] : 0;
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

int ox_oom(ox_ctx *c) {
  /* A value over the budget is the node's failure (ox_new_tensor said why), not the memory's. */
  if (c->over_budget) {
    c->over_budget = 0;
    return -1;
  }
  c->oom = 1;
  return ox_fail(c, "out of memory");
}

int ox_fail(ox_ctx *c, const char *fmt, ...) {
  if (c->reason[0]) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->reason, sizeof c->reason, fmt, ap);
  va_end(ap);
  return -1;
}

/* A copy of an untrusted string fit for messages: printable ASCII, at most 80 bytes. */
static const char *shown(ox_ctx *c, const char *s) {
  if (!s) return "";
  char buf[84];
  size_t n = 0;
  for (; *s && n < 80; s++) buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  if (*s) buf[n - 1] = buf[n - 2] = buf[n - 3] = '.';
  buf[n] = '\0';
  const char *copy = mlg_arena_strdup(&c->arena, buf);
  return copy ? copy : "";
}

static ox_value *find_value(ox_ctx *c, const char *name) {
  if (!name || !c->n_slots) return NULL;
  uint32_t h = hash_str(name);
  for (int k = 0; k < c->n_slots; k++) {
    int s = c->slots[(h + (uint32_t)k) & (uint32_t)(c->n_slots - 1)];
    if (s < 0) return NULL;
    if (strcmp(c->values[s].name, name) == 0) return &c->values[s];
  }
  return NULL;
}

/* Defines (or redefines) a value; NULL on out of memory. */
static ox_value *define_value(ox_ctx *c, const char *name) {
  ox_value *v = find_value(c, name);
  if (v) {
    *v = (ox_value){.name = v->name, .node = -1};
    return v;
  }
  if (c->n_values + 1 > c->n_slots / 2) {
    int n = c->n_slots ? c->n_slots * 2 : 256;
    int *slots = malloc((size_t)n * sizeof *slots);
    if (!slots) return NULL;
    for (int k = 0; k < n; k++) slots[k] = -1;
    for (int i = 0; i < c->n_values; i++) {
      uint32_t h = hash_str(c->values[i].name);
      int k = 0;
      while (slots[(h + (uint32_t)k) & (uint32_t)(n - 1)] >= 0) k++;
      slots[(h + (uint32_t)k) & (uint32_t)(n - 1)] = i;
    }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n;
  }
  if (c->n_values == c->cap_values) {
    int n = c->cap_values ? c->cap_values * 2 : 256;
    ox_value *values = realloc(c->values, (size_t)n * sizeof *values);
    if (!values) return NULL;
    c->values = values;
    c->cap_values = n;
  }
  uint32_t h = hash_str(name);
  int k = 0;
  while (c->slots[(h + (uint32_t)k) & (uint32_t)(c->n_slots - 1)] >= 0) k++;
  c->slots[(h + (uint32_t)k) & (uint32_t)(c->n_slots - 1)] = c->n_values;
  v = &c->values[c->n_values++];
  *v = (ox_value){.name = name, .node = -1};
  return v;
}

/* A unique mlg name for an ONNX name, in the graph's arena-independent scratch. The PyTorch
 * exporter's "/layer1/conv1/Conv_output_0" reads as "layer1.conv1.Conv". */
static const char *mlg_name(ox_ctx *c, const char *onnx_name) {
  char trimmed[OX_NAME_MAX + 1], base[OX_NAME_MAX + 1], name[OX_NAME_MAX + 16];
  snprintf(trimmed, sizeof trimmed, "%s", onnx_name ? onnx_name : "");
  size_t n = strlen(trimmed);
  static const char suffix[] = "_output_0";
  if (n > sizeof suffix - 1 && strcmp(trimmed + n - (sizeof suffix - 1), suffix) == 0)
    trimmed[n - (sizeof suffix - 1)] = '\0';
  mlg_name_sanitize(trimmed, base, sizeof base);
  snprintf(name, sizeof name, "%s", base);
  for (int k = 2;; k++) {
    int taken = 0;
    for (int i = 0; i < c->n_used && !taken; i++) taken = strcmp(c->used_names[i], name) == 0;
    if (!taken) break;
    snprintf(name, sizeof name, "%s_%d", base, k);
  }
  if (c->n_used == c->cap_used) {
    int cap = c->cap_used ? c->cap_used * 2 : 64;
    char **u = realloc(c->used_names, (size_t)cap * sizeof *u);
    if (!u) return NULL;
    c->used_names = u;
    c->cap_used = cap;
  }
  char *copy = mlg_arena_strdup(&c->arena, name);
  if (!copy) return NULL;
  c->used_names[c->n_used++] = copy;
  return copy;
}

static void report_add(ox_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(ox_ctx *c, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = strlen(line);
  if (c->report_len + len + 2 > c->report_cap) {
    size_t cap = (c->report_cap + len + 2) * 2;
    char *r = realloc(c->report, cap);
    if (!r) {
      c->oom = 1;
      return;
    }
    c->report = r;
    c->report_cap = cap;
  }
  memcpy(c->report + c->report_len, line, len);
  c->report_len += len;
  c->report[c->report_len++] = '\n';
  c->report[c->report_len] = '\0';
}

/* ---- graph building ---------------------------------------------------------------------- */

const mlg_type *ox_type(const ox_ctx *c, int node) { return &c->b.graph->nodes[node].type; }

static int add_node(ox_ctx *c, const mlg_node *n) {
  int id = mlg_graph_add(&c->b, n);
  if (id < 0) return ox_oom(c);
  return id;
}

mlg_attr ox_i(int64_t v) { return (mlg_attr){.kind = MLG_ATTR_INT, .n = 1, .ints = {v}}; }
mlg_attr ox_f(double v) { return (mlg_attr){.kind = MLG_ATTR_FLOAT, .f = v}; }
mlg_attr ox_is(const int64_t *v, int n) {
  mlg_attr a = {.kind = MLG_ATTR_INTS, .n = n < 0 ? 0 : n > MLG_MAX_ATTR_INTS ? MLG_MAX_ATTR_INTS : n};
  for (int k = 0; k < a.n; k++) a.ints[k] = v[k];
  return a;
}

mlg_attr ox_fs(const double *v, int n) {
  mlg_attr a = {.kind = MLG_ATTR_FLOATS, .n = n < 0 ? 0 : n > MLG_MAX_ATTR_INTS ? MLG_MAX_ATTR_INTS : n};
  for (int k = 0; k < a.n; k++) a.floats[k] = v[k];
  return a;
}

mlg_attr ox_enum(const char *op, const char *attr, const char *choice) {
  const mlg_op_def *def = mlg_op_find(op);
  int k = def ? mlg_op_attr_index(def, attr) : -1;
  for (int64_t i = 0; k >= 0 && mlg_attr_choice(&def->attrs[k], i); i++)
    if (strcmp(mlg_attr_choice(&def->attrs[k], i), choice) == 0)
      return (mlg_attr){.kind = MLG_ATTR_ENUM, .n = 1, .ints = {i}};
  return (mlg_attr){.kind = MLG_ATTR_NONE};
}

int ox_op(ox_ctx *c, const char *op, const int *in, int n_in, const ox_kv *kv) {
  const mlg_op_def *def = mlg_op_find(op);
  if (!def) return ox_fail(c, "internal error: no mlg op '%s'", op);
  mlg_attr attrs[MLG_MAX_ATTRS] = {{0}};
  for (int k = 0; k < def->n_attrs; k++) attrs[k] = def->attrs[k].deflt;
  for (int j = 0; kv && kv[j].name; j++) {
    int k = mlg_op_attr_index(def, kv[j].name);
    if (k < 0) return ox_fail(c, "internal error: mlg op %s has no attribute '%s'", op, kv[j].name);
    attrs[k] = kv[j].value;
  }
  mlg_type types[64];
  if (n_in > 64 || n_in < def->min_inputs || n_in > def->max_inputs)
    return ox_fail(c, "mlg op %s takes %d to %d inputs, not %d", op, def->min_inputs,
                   def->max_inputs, n_in);
  for (int i = 0; i < n_in; i++) {
    if (in[i] < 0) return -1;
    types[i] = *ox_type(c, in[i]);
  }
  mlg_shape_error err = {.input = -1, .attr = -1};
  mlg_type out = {0};
  if (def->infer(types, n_in, attrs, &out, &err) != 0 || mlg_check_type_limits(&out, &err) != 0)
    return ox_fail(c, "mlg op %s: %s", op, err.msg[0] ? err.msg : "invalid arguments");
  mlg_node n = {.kind = MLG_NODE_OP, .op = def, .type = out, .n_inputs = n_in, .inputs = in};
  for (int k = 0; k < def->n_attrs && k < MLG_MAX_ATTRS; k++) n.attrs[k] = attrs[k];
  return add_node(c, &n);
}

int ox_op1(ox_ctx *c, const char *op, int x, const ox_kv *kv) { return ox_op(c, op, &x, 1, kv); }

int ox_op2(ox_ctx *c, const char *op, int a, int b) {
  int in[2] = {a, b};
  return ox_op(c, op, in, 2, NULL);
}

int ox_const_node(ox_ctx *c, const mlg_type *type, const float *f, const int32_t *i) {
  mlg_node n = {.kind = MLG_NODE_CONST, .type = *type, .data = f ? (const void *)f : (const void *)i};
  return add_node(c, &n);
}

int ox_scalar(ox_ctx *c, float v) {
  mlg_type t = {.dtype = MLG_F32, .rank = 0};
  return ox_const_node(c, &t, &v, NULL);
}

ox_tensor *ox_new_tensor(ox_ctx *c, int dtype, int rank, const int64_t *dims, float **out_f,
                         int64_t **out_i) {
  if (out_f) *out_f = NULL;
  if (out_i) *out_i = NULL;
  if (rank < 0 || rank > MLG_MAX_RANK) return NULL;
  ox_tensor *t = mlg_arena_calloc(&c->arena, 1, sizeof *t);
  if (!t) return NULL;
  t->dtype = dtype;
  t->rank = rank;
  int64_t numel = 1;
  for (int k = 0; k < rank; k++) {
    if (dims[k] < 0 || __builtin_mul_overflow(numel, dims[k], &numel) || numel > ((int64_t)1 << 31))
      return NULL;
    t->dims[k] = dims[k];
  }
  t->numel = numel;
  size_t n = (size_t)(numel ? numel : 1);
  /* Folding is the compiler materializing values: held to the weight budget, in total, so that
   * a small file cannot make the import fill the memory (Expand or ConstantOfShape to 2^31). */
  uint64_t bytes = (uint64_t)n * (dtype == OX_FLOAT || dtype == OX_FLOAT16 ? sizeof(float) : sizeof(int64_t));
  if (bytes > c->value_budget - c->value_bytes) {
    char a[32], b[32];
    ox_fail(c, "folding it at import needs %s (%lld values), which takes the values computed at import past "
            "the compiler's budget of %s; raise it with --max-weight-bytes", mlg_format_bytes(bytes, a, sizeof a),
            (long long)numel, mlg_format_bytes(c->value_budget, b, sizeof b));
    c->over_budget = 1;
    return NULL;
  }
  c->value_bytes += bytes;
  if (dtype == OX_FLOAT || dtype == OX_FLOAT16) {
    float *f = mlg_arena_calloc(&c->arena, n, sizeof *f);
    if (!f) return NULL;
    t->f = f;
    if (out_f) *out_f = f;
  } else {
    int64_t *v = mlg_arena_calloc(&c->arena, n, sizeof *v);
    if (!v) return NULL;
    t->i = v;
    if (out_i) *out_i = v;
  }
  return t;
}

/* ---- the current node ---------------------------------------------------------------------- */

int ox_opset(const ox_ctx *c) { return c->opset; }
int ox_n_inputs(const ox_ctx *c) { return (int)c->node->n_input; }
int ox_n_outputs(const ox_ctx *c) { return (int)c->node->n_output; }

int ox_has_input(const ox_ctx *c, int i) {
  return i >= 0 && (size_t)i < c->node->n_input && c->node->input[i] && c->node->input[i][0];
}

int ox_has_output(const ox_ctx *c, int i) {
  return i >= 0 && (size_t)i < c->node->n_output && c->node->output[i] && c->node->output[i][0];
}

static ox_value *input_value(ox_ctx *c, int i) {
  if (!ox_has_input(c, i)) return NULL;
  return find_value(c, c->node->input[i]);
}

/* A graph node holding known tensor t (named after ONNX value `onnx_name`), a param when
 * `param`, else a const, with t's values viewed as `rank`/`dims` (the same element count). */
static int known_node(ox_ctx *c, const ox_tensor *t, const char *onnx_name, int param, int rank,
                      const int64_t *dims) {
  if (t->numel == 0)
    return ox_fail(c, "'%s' is an empty tensor; mlg tensors have at least one element",
                   shown(c, onnx_name));
  mlg_type type = {.rank = rank};
  memcpy(type.dims, dims, sizeof(int64_t) * (size_t)rank);
  if (ox_mlg_dtype(t->dtype, &type.dtype) != 0)
    return ox_fail(c, "'%s' is %s; mlg tensors are float32, float16, int32, int64, int8, uint8 "
                   "or bool", shown(c, onnx_name), ox_dtype_name(t->dtype));
  const void *data = t->f;
  if (type.dtype != MLG_F32) { /* the values as the dtype stores them */
    void *stored = mlg_arena_calloc(&c->arena, (size_t)t->numel, (size_t)mlg_dtype_size(type.dtype));
    if (!stored) return ox_oom(c);
    for (int64_t k = 0; k < t->numel; k++) {
      double x = ox_tensor_num(t, k);
      if (type.dtype == MLG_I64 && (x < INT32_MIN || x > INT32_MAX))
        return ox_fail(c, "'%s' is int64 and its element %lld is %.0f, which does not fit in 32 "
                       "bits (mlg computes int64 as int32)", shown(c, onnx_name), (long long)k, x);
      mlg_data_set(type.dtype, stored, k, x);
    }
    data = stored;
  }
  const char *name = mlg_name(c, onnx_name);
  if (!name) return ox_oom(c);
  mlg_node n = {.kind = param ? MLG_NODE_PARAM : MLG_NODE_CONST, .name = name, .type = type,
                .data = data};
  if (param) n.init.kind = MLG_INIT_DATA;
  return add_node(c, &n);
}

/* The graph node of a value, made from its known tensor when it has none yet. */
static int materialize(ox_ctx *c, ox_value *v) {
  if (v->node >= 0) return v->node;
  if (!v->k) return ox_fail(c, "internal error: value '%s' has no node", shown(c, v->name));
  v->node = known_node(c, v->k, v->name, v->initializer, v->k->rank, v->k->dims);
  return v->node;
}

int ox_known_const_in(ox_ctx *c, int i, int rank, const int64_t *dims) {
  ox_value *v = input_value(c, i);
  if (!v || !v->k) return ox_fail(c, "internal error: input %d is not known at import", i);
  int64_t numel = 1;
  for (int d = 0; d < rank; d++) numel *= dims[d];
  if (v->k->numel != numel)
    return ox_fail(c, "internal error: input %d viewed with another element count", i);
  if (v->node >= 0) { /* made before: reused when it is a const of that shape */
    const mlg_type *t = ox_type(c, v->node);
    if (c->b.graph->nodes[v->node].kind == MLG_NODE_CONST && t->rank == rank &&
        memcmp(t->dims, dims, sizeof(int64_t) * (size_t)rank) == 0)
      return v->node;
  }
  int id = known_node(c, v->k, v->name, 0, rank, dims);
  if (v->node < 0 && rank == v->k->rank) v->node = id;
  return id;
}

int ox_tensor_in(ox_ctx *c, int i) {
  ox_value *v = input_value(c, i);
  if (!v) return ox_fail(c, "input %d is missing", i);
  if (v->node < 0 && !v->k) return ox_fail(c, "input '%s' has no value", shown(c, v->name));
  return materialize(c, v);
}

const ox_tensor *ox_known(ox_ctx *c, int i) {
  ox_value *v = input_value(c, i);
  return v ? v->k : NULL;
}

const ox_tensor *ox_const_in(ox_ctx *c, int i, const char *what) {
  ox_value *v = input_value(c, i);
  if (!v) {
    ox_fail(c, "input %d (%s) is missing", i, what);
    return NULL;
  }
  if (!v->k)
    ox_fail(c, "input %d (%s, '%s') is computed at run time; mlg needs it known at import "
            "(a constant, an initializer, or arithmetic on static shapes)", i, what,
            shown(c, v->name));
  return v->k;
}

const mlg_type *ox_type_in(ox_ctx *c, int i) {
  int id = ox_tensor_in(c, i);
  return id < 0 ? NULL : ox_type(c, id);
}

int ox_dtype_in(ox_ctx *c, int i) {
  ox_value *v = input_value(c, i);
  return v ? v->dtype : 0;
}

static const Onnx__AttributeProto *find_attr(const ox_ctx *c, const char *name, int *index) {
  for (size_t k = 0; k < c->node->n_attribute; k++) {
    const Onnx__AttributeProto *a = c->node->attribute[k];
    if (a && a->name && strcmp(a->name, name) == 0) {
      if (index) *index = (int)k;
      return a;
    }
  }
  return NULL;
}

static const Onnx__AttributeProto *read_attr(ox_ctx *c, const char *name) {
  int k;
  const Onnx__AttributeProto *a = find_attr(c, name, &k);
  if (a) c->attr_read[k] = 1;
  return a;
}

int ox_has_attr(const ox_ctx *c, const char *name) { return find_attr(c, name, NULL) != NULL; }

void ox_attr_ignore(ox_ctx *c, const char *name) { (void)read_attr(c, name); }

int64_t ox_attr_int(ox_ctx *c, const char *name, int64_t deflt) {
  const Onnx__AttributeProto *a = read_attr(c, name);
  return a && a->has_i ? a->i : deflt;
}

/* The shortest decimal that reads back as f, as a double: ONNX stores 1e-5 as the float
 * 9.99999974e-06, which mlg text should show (and the kernels use) as 1e-05, the same float. */
static double float_value(float f) {
  char buf[32];
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
    if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
  }
  return (double)f;
}

double ox_attr_float(ox_ctx *c, const char *name, double deflt) {
  const Onnx__AttributeProto *a = read_attr(c, name);
  return a && a->has_f ? float_value(a->f) : a && a->has_i ? (double)a->i : deflt;
}

int ox_attr_ints(ox_ctx *c, const char *name, int64_t *out, int max) {
  const Onnx__AttributeProto *a = read_attr(c, name);
  if (!a) return -1;
  if (a->n_ints > (size_t)max) {
    ox_fail(c, "attribute '%s' has %zu values; at most %d are supported", name, a->n_ints, max);
    return -2;
  }
  for (size_t k = 0; k < a->n_ints; k++) out[k] = a->ints[k];
  return (int)a->n_ints;
}

const char *ox_attr_string(ox_ctx *c, const char *name, const char *deflt) {
  const Onnx__AttributeProto *a = read_attr(c, name);
  if (!a || !a->has_s) return deflt;
  char *s = mlg_arena_calloc(&c->arena, a->s.len + 1, 1);
  if (!s) return deflt;
  if (a->s.len) memcpy(s, a->s.data, a->s.len);
  return s;
}

const ox_tensor *ox_attr_tensor(ox_ctx *c, const char *name) {
  const Onnx__AttributeProto *a = read_attr(c, name);
  if (!a || !a->t) {
    ox_fail(c, "attribute '%s' is missing", name);
    return NULL;
  }
  ox_tensor *t = mlg_arena_calloc(&c->arena, 1, sizeof *t);
  char err[300];
  if (!t) {
    ox_oom(c);
    return NULL;
  }
  if (ox_tensor_decode(&c->arena, a->t, t, err, sizeof err) != 0) {
    ox_fail(c, "attribute '%s': %s", name, err);
    return NULL;
  }
  return t;
}

int ox_set_output(ox_ctx *c, int k, int node) {
  if (!ox_has_output(c, k)) return 0;
  if (node < 0) return -1;
  ox_value *v = define_value(c, c->node->output[k]);
  if (!v) return ox_oom(c);
  v->node = node;
  v->dtype = ox_onnx_dtype(c->b.graph->nodes[node].type.dtype);
  mlg_node *n = &c->b.graph->nodes[node];
  if (n->kind == MLG_NODE_OP && !n->name) {
    const char *name = mlg_name(c, v->name);
    if (!name) return ox_oom(c);
    n->name = mlg_arena_strdup(&c->b.graph->arena, name);
    if (!n->name) return ox_oom(c);
  }
  return 0;
}

int ox_set_output_const(ox_ctx *c, int k, const ox_tensor *t) {
  if (!ox_has_output(c, k)) return 0;
  ox_value *v = define_value(c, c->node->output[k]);
  if (!v) return ox_oom(c);
  v->k = t;
  v->dtype = t->dtype;
  return 0;
}

/* ---- the import ---------------------------------------------------------------------------- */

int mlg_onnx_is_model_path(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n > 5 && strcmp(path + n - 5, ".onnx") == 0;
}

static const char *node_label(ox_ctx *c, const Onnx__NodeProto *node, int index) {
  char buf[160];
  if (node->name && node->name[0]) snprintf(buf, sizeof buf, "'%s'", shown(c, node->name));
  else if (node->n_output && node->output[0] && node->output[0][0])
    snprintf(buf, sizeof buf, "#%d (output '%s')", index, shown(c, node->output[0]));
  else snprintf(buf, sizeof buf, "#%d", index);
  const char *s = mlg_arena_strdup(&c->arena, buf);
  return s ? s : "?";
}

/* Inputs of the graph: params and consts from initializers, inputs from the rest. */
static int import_inputs(ox_ctx *c, const Onnx__GraphProto *g, const mlg_onnx_options *opt) {
  char err[400];
  for (size_t k = 0; k < g->n_initializer; k++) {
    const Onnx__TensorProto *t = g->initializer[k];
    if (!t || !t->name || !t->name[0]) {
      report_add(c, "  initializer #%zu has no name", k);
      c->n_unsupported++;
      continue;
    }
    ox_value *v = define_value(c, t->name);
    ox_tensor *tensor = mlg_arena_calloc(&c->arena, 1, sizeof *tensor);
    if (!v || !tensor) return -1;
    if (ox_tensor_decode(&c->arena, t, tensor, err, sizeof err) != 0) {
      v->bad = mlg_arena_strdup(&c->arena, err);
      v->dtype = t->has_data_type ? t->data_type : 0;
      if (!v->bad) return -1;
      continue;
    }
    v->k = tensor;
    v->initializer = 1;
    v->dtype = tensor->dtype;
  }
  for (size_t k = 0; k < g->n_input; k++) {
    const Onnx__ValueInfoProto *in = g->input[k];
    if (!in || !in->name || !in->name[0]) {
      report_add(c, "  graph input #%zu has no name", k);
      c->n_unsupported++;
      continue;
    }
    if (find_value(c, in->name)) continue; /* an initializer listed as an input (IR < 4) */
    ox_value *v = define_value(c, in->name);
    if (!v) return -1;
    const Onnx__TensorProto *bound = NULL;
    for (int j = 0; j < opt->n_const_inputs; j++)
      if (opt->const_inputs[j].name && strcmp(opt->const_inputs[j].name, in->name) == 0)
        bound = opt->const_inputs[j].value;
    if (bound) {
      ox_tensor *tensor = mlg_arena_calloc(&c->arena, 1, sizeof *tensor);
      if (!tensor) return -1;
      if (ox_tensor_decode(&c->arena, bound, tensor, err, sizeof err) != 0) {
        report_add(c, "  input '%s' bound at import: %s", shown(c, in->name), err);
        c->n_unsupported++;
        v->bad = "";
        continue;
      }
      v->k = tensor;
      v->dtype = tensor->dtype;
      continue;
    }
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
      report_add(c, "  input '%s' is not a tensor (sequences, maps and optionals are not "
                 "supported)", shown(c, in->name));
      c->n_unsupported++;
      v->bad = "";
      continue;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int dtype = tt->has_elem_type ? tt->elem_type : 0;
    v->dtype = dtype;
    mlg_ir_dtype in_dtype;
    if (ox_mlg_dtype(dtype, &in_dtype) != 0) {
      report_add(c, "  input '%s' is %s; mlg model inputs are float32, float16, int32, int64, "
                 "int8, uint8 or bool", shown(c, in->name), ox_dtype_name(dtype));
      c->n_unsupported++;
      v->bad = "";
      continue;
    }
    if (!tt->shape) {
      report_add(c, "  input '%s' has no shape; mlg needs every input's rank", shown(c, in->name));
      c->n_unsupported++;
      v->bad = "";
      continue;
    }
    const Onnx__TensorShapeProto *sh = tt->shape;
    if (sh->n_dim > MLG_MAX_RANK) {
      report_add(c, "  input '%s' has rank %zu; mlg tensors have at most %d dims",
                 shown(c, in->name), sh->n_dim, MLG_MAX_RANK);
      c->n_unsupported++;
      v->bad = "";
      continue;
    }
    mlg_type type = {.dtype = in_dtype, .rank = (int)sh->n_dim};
    int dim_of[MLG_MAX_RANK];
    int ok = 1;
    for (size_t d = 0; d < sh->n_dim; d++) {
      const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
      dim_of[d] = -1;
      char dim_name[OX_NAME_MAX + 1];
      if (dim && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
        if (dim->dim_value < 1 || dim->dim_value > INT32_MAX) {
          report_add(c, "  input '%s' has dim %zu of size %lld; mlg dims are in [1, 2^31-1]",
                     shown(c, in->name), d, (long long)dim->dim_value);
          ok = 0;
        }
        type.dims[d] = dim->dim_value;
        continue;
      }
      /* A named dim (dim_param), or an unnamed unknown one (named after the input). */
      if (dim && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
          dim->dim_param && dim->dim_param[0])
        mlg_name_sanitize(dim->dim_param, dim_name, sizeof dim_name);
      else {
        char raw[OX_NAME_MAX + 16];
        snprintf(raw, sizeof raw, "%s_dim%zu", in->name, d);
        mlg_name_sanitize(raw, dim_name, sizeof dim_name);
      }
      int64_t value = 1;
      for (int j = 0; j < opt->n_dims; j++) {
        char bound_name[OX_NAME_MAX + 1];
        mlg_name_sanitize(opt->dims[j].name ? opt->dims[j].name : "", bound_name, sizeof bound_name);
        if (strcmp(bound_name, dim_name) == 0) value = opt->dims[j].value;
      }
      int found = -1;
      for (int j = 0; j < c->b.graph->n_dims; j++)
        if (strcmp(c->b.graph->dims[j].name, dim_name) == 0) found = j;
      if (found < 0) found = mlg_graph_add_dim(&c->b, dim_name, value);
      if (found < 0) return -1;
      dim_of[d] = found;
      type.dims[d] = c->b.graph->dims[found].value;
    }
    if (!ok) {
      c->n_unsupported++;
      v->bad = "";
      continue;
    }
    const char *name = mlg_name(c, in->name);
    if (!name) return -1;
    mlg_node n = {.kind = MLG_NODE_INPUT, .name = name, .type = type};
    v->node = mlg_graph_add(&c->b, &n);
    if (v->node < 0) return -1;
    for (int d = 0; d < type.rank; d++)
      if (dim_of[d] >= 0 && mlg_graph_add_dim_use(&c->b, v->node, d, dim_of[d]) != 0) return -1;
  }
  /* -D for a dim the model does not have. */
  for (int j = 0; j < opt->n_dims; j++) {
    char bound_name[OX_NAME_MAX + 1];
    mlg_name_sanitize(opt->dims[j].name ? opt->dims[j].name : "", bound_name, sizeof bound_name);
    int found = 0;
    for (int d = 0; d < c->b.graph->n_dims; d++) found |= strcmp(c->b.graph->dims[d].name, bound_name) == 0;
    if (!found) {
      if (c->b.graph->n_dims == 0)
        mlg_diag_error(c->diag, (mlg_span){0, 0}, "-D %s: the model has no symbolic dims (its "
                       "input shapes are fixed)", opt->dims[j].name);
      else
        mlg_diag_error(c->diag, (mlg_span){0, 0}, "-D %s: the model has no dim of that name "
                       "(its dims: %s%s)", opt->dims[j].name, c->b.graph->dims[0].name,
                       c->b.graph->n_dims > 1 ? ", ..." : "");
    }
  }
  return 0;
}

/* Marks a node's outputs as unusable: nodes that read them are not reported again. */
static int poison_outputs(ox_ctx *c, const Onnx__NodeProto *node) {
  for (size_t k = 0; k < node->n_output; k++) {
    if (!node->output[k] || !node->output[k][0]) continue;
    ox_value *v = define_value(c, node->output[k]);
    if (!v) return -1;
    v->bad = "";
  }
  return 0;
}

/* Imports one node; records it in the report when it cannot be. */
static int import_node(ox_ctx *c, const Onnx__NodeProto *node, int index) {
  c->node = node;
  c->reason[0] = '\0';
  const char *op = node->op_type ? node->op_type : "";
  const char *domain = node->domain ? node->domain : "";
  int bad_input = 0;
  for (size_t i = 0; i < node->n_input; i++) {
    if (!node->input[i] || !node->input[i][0]) continue;
    ox_value *v = find_value(c, node->input[i]);
    if (!v) {
      ox_fail(c, "input '%s' is not produced by any earlier node, initializer or graph input",
              shown(c, node->input[i]));
      break;
    }
    if (v->bad && !v->bad[0]) bad_input = 1;
    else if (v->bad) ox_fail(c, "input '%s': %s", shown(c, v->name), v->bad);
  }
  const ox_op_entry *entry = NULL;
  if (!c->reason[0]) {
    if (domain[0] && strcmp(domain, "ai.onnx") != 0) {
      ox_fail(c, "domain '%s' is not supported (only the default ONNX domain)", shown(c, domain));
    } else if (!(entry = ox_find_op(op))) {
      const char *why = ox_missing_reason(op);
      ox_fail(c, "no mapping for this op%s%s", why ? ": " : "", why ? why : "");
    } else if (ox_op_since(op) > c->opset) {
      ox_fail(c, "mlg imports %s from opset %d (of opset %d, only the quantization ops and a "
              "few around them: docs/onnx.md); convert the model with "
              "onnx.version_converter.convert_version(model, 17)", shown(c, op), ox_op_since(op),
              c->opset);
    }
  }
  if (!c->reason[0] && bad_input) return poison_outputs(c, node); /* nothing more to know */
  if (!c->reason[0]) {
    c->attr_read = calloc(node->n_attribute ? node->n_attribute : 1, 1);
    if (!c->attr_read) return -1;
    int rc = entry->map(c);
    if (rc == 0) {
      char unread[300] = "";
      size_t len = 0;
      for (size_t k = 0; k < node->n_attribute; k++) {
        const Onnx__AttributeProto *a = node->attribute[k];
        if (c->attr_read[k] || !a) continue;
        len += (size_t)snprintf(unread + len, len < sizeof unread ? sizeof unread - len : 0,
                                "%s'%s'", len ? ", " : "", shown(c, a->name));
        if (len >= sizeof unread) len = sizeof unread - 1;
      }
      if (len) ox_fail(c, "attribute%s %s not handled", strchr(unread, ',') ? "s" : "", unread);
      for (size_t k = 0; k < node->n_output && !c->reason[0]; k++)
        if (node->output[k] && node->output[k][0] && !find_value(c, node->output[k]))
          ox_fail(c, "output %zu ('%s') is not supported", k, shown(c, node->output[k]));
    } else if (!c->reason[0]) {
      ox_fail(c, "internal error: the mapping failed without a reason");
    }
    free(c->attr_read);
    c->attr_read = NULL;
  }
  if (c->oom) return -1;
  if (c->reason[0]) {
    report_add(c, "  node %s (%s, opset %d): %s", node_label(c, node, index), shown(c, op),
               c->opset, c->reason);
    c->n_unsupported++;
    return poison_outputs(c, node);
  }
  return 0;
}

static int import_outputs(ox_ctx *c, const Onnx__GraphProto *g) {
  for (size_t k = 0; k < g->n_output; k++) {
    const Onnx__ValueInfoProto *out = g->output[k];
    const char *name = out ? out->name : NULL;
    ox_value *v = name ? find_value(c, name) : NULL;
    if (!v) {
      report_add(c, "  output '%s' is not produced by any node", shown(c, name));
      c->n_unsupported++;
      continue;
    }
    if (v->bad) {
      if (v->bad[0]) {
        report_add(c, "  output '%s': %s", shown(c, name), v->bad);
        c->n_unsupported++;
      }
      continue;
    }
    c->node = NULL;
    c->reason[0] = '\0';
    int id = -1;
    id = materialize(c, v);
    if (c->reason[0]) {
      report_add(c, "  output '%s': %s", shown(c, name), c->reason);
      c->n_unsupported++;
      continue;
    }
    mlg_node *n = &c->b.graph->nodes[id];
    const char *oname = NULL;
    if (n->kind == MLG_NODE_OP && n->name) {
      /* Named after its ONNX value already (the usual case): the output takes that name. */
      oname = n->name;
    } else {
      oname = mlg_name(c, name);
      if (!oname) return -1;
      if (n->kind == MLG_NODE_OP && !n->name) n->name = mlg_arena_strdup(&c->b.graph->arena, oname);
    }
    if (mlg_graph_add_output(&c->b, oname, id) != 0) return -1;
  }
  return 0;
}

static int model_opset(ox_ctx *c, const Onnx__ModelProto *m) {
  int opset = -1;
  for (size_t k = 0; k < m->n_opset_import; k++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[k];
    if (!o) continue;
    const char *d = o->domain ? o->domain : "";
    if ((!d[0] || strcmp(d, "ai.onnx") == 0) && o->has_version)
      opset = o->version > INT32_MAX ? INT32_MAX : (int)o->version;
  }
  (void)c;
  return opset;
}

static void model_name(const Onnx__ModelProto *m, const char *path, char *out, size_t size) {
  const char *name = m->graph && m->graph->name && m->graph->name[0] ? m->graph->name : NULL;
  char stem[OX_NAME_MAX + 1] = "model";
  if (path) {
    /* The file's name without its extension; for a file named model.onnx, its folder's. */
    const char *base = strrchr(path, '/');
    if (base && strncmp(base + 1, "model.", 6) == 0) {
      const char *dir = base;
      while (dir > path && dir[-1] != '/') dir--;
      if (dir < base) snprintf(stem, sizeof stem, "%.*s", (int)(base - dir), dir);
    } else {
      snprintf(stem, sizeof stem, "%s", base ? base + 1 : path);
      char *dot = strrchr(stem, '.');
      if (dot && dot != stem) *dot = '\0';
    }
  }
  /* Exporters name graphs "main_graph", "torch_jit", "torch-jit-export": the file says more. */
  if (!name || strcmp(name, "main_graph") == 0 || strncmp(name, "torch", 5) == 0) name = stem;
  mlg_name_sanitize(name, out, size);
}

int mlg_onnx_import(const uint8_t *bytes, size_t size, const char *path,
                    const mlg_onnx_options *options, mlg_diag *diag, mlg_graph **out_graph) {
  static const mlg_onnx_options no_options = {0};
  if (!options) options = &no_options;
  *out_graph = NULL;
  const char *what = path ? path : "<memory>";
  char err[600];
  Onnx__ModelProto *m = NULL;
  if (size > MLG_ONNX_MAX_FILE_BYTES) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "the model is larger than %zu MiB, the most mlg imports",
                   MLG_ONNX_MAX_FILE_BYTES >> 20);
    return -1;
  }
  if (mlg_onnx_model_unpack(bytes, size, what, &m, err, sizeof err) != 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "%s", err);
    return -1;
  }
  ox_ctx c = {.diag = diag, .path = what,
              .value_budget = options->max_weight_bytes ? options->max_weight_bytes : MLG_DEFAULT_MAX_WEIGHT_BYTES};
  mlg_arena_init(&c.arena);
  int rc = -1;
  char name[OX_NAME_MAX + 1];
  const Onnx__GraphProto *g = m->graph;
  if (!g) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "the model has no graph");
    goto done;
  }
  c.opset = model_opset(&c, m);
  if (c.opset < 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "the model imports no opset of the default ONNX domain");
    goto done;
  }
  if (c.opset < MLG_ONNX_OLDEST_OPSET || c.opset > MLG_ONNX_MAX_OPSET) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "the model uses opset %d; mlg imports opsets %d to %d "
                   "(and opset %d models of the quantization ops; convert it with "
                   "onnx.version_converter.convert_version(model, 17))", c.opset,
                   MLG_ONNX_MIN_OPSET, MLG_ONNX_MAX_OPSET, MLG_ONNX_OLDEST_OPSET);
    goto done;
  }
  if (m->n_functions) {
    report_add(&c, "  the model defines %zu local function%s, which mlg does not expand",
               m->n_functions, m->n_functions == 1 ? "" : "s");
    c.n_unsupported++;
  }
  if (g->n_sparse_initializer) {
    report_add(&c, "  the graph has sparse initializers, which mlg does not read");
    c.n_unsupported++;
  }
  model_name(m, path, name, sizeof name);
  if (mlg_graph_builder_init(&c.b, name) != 0) goto oom;
  int before = diag->n_errors;
  if (import_inputs(&c, g, options) != 0) goto oom;
  if (diag->n_errors > before) goto done;
  for (size_t k = 0; k < g->n_node; k++) {
    if (!g->node[k]) continue;
    if (import_node(&c, g->node[k], (int)k) != 0 || c.oom) goto oom;
  }
  if (import_outputs(&c, g) != 0 || c.oom) goto oom;
  if (g->n_output == 0) {
    report_add(&c, "  the graph has no outputs");
    c.n_unsupported++;
  }
  if (c.n_unsupported) {
    mlg_diag_error(diag, (mlg_span){0, 0},
                   "cannot import this model: %d thing%s in it %s not supported by mlg:\n%s"
                   "(nodes after one that failed are not listed; docs/onnx.md lists the ops mlg imports)",
                   c.n_unsupported, c.n_unsupported == 1 ? "" : "s",
                   c.n_unsupported == 1 ? "is" : "are", c.report ? c.report : "");
    goto done;
  }
  *out_graph = mlg_graph_builder_finish(&c.b);
  rc = 0;
  goto done;
oom:
  mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while importing the model");
done:
  if (c.b.graph) mlg_graph_builder_abandon(&c.b);
  free(c.values);
  free(c.slots);
  free(c.used_names);
  free(c.report);
  free(c.attr_read);
  mlg_arena_free(&c.arena);
  mlg_onnx_model_free(m);
  return rc;
}

int mlg_onnx_import_file(const char *path, const mlg_onnx_options *options, mlg_diag *diag,
                         mlg_graph **out_graph) {
  *out_graph = NULL;
  uint8_t *bytes;
  size_t size;
  char err[600];
  if (mlg_onnx_read_bytes(path, &bytes, &size, err, sizeof err) != 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "%s", err);
    return -1;
  }
  int rc = mlg_onnx_import(bytes, size, path, options, diag, out_graph);
  free(bytes);
  return rc;
}

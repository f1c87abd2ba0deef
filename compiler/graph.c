/* graph.c — the graph builder, type utilities and the --emit=graph printer. */
#include "graph.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/dtype.h"
#include "op.h"

int64_t mlg_type_numel(const mlg_type *type) {
  if (type->rank < 0 || type->rank > MLG_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < type->rank; i++) {
    if (type->dims[i] < 0 || __builtin_mul_overflow(n, type->dims[i], &n)) return -1;
  }
  return n;
}

int mlg_type_equal(const mlg_type *a, const mlg_type *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

_Static_assert((int)MLG_F32 == MLG_DT_F32 && (int)MLG_I32 == MLG_DT_I32 &&
                   (int)MLG_BOOL == MLG_DT_BOOL && (int)MLG_I64 == MLG_DT_I64 &&
                   (int)MLG_F16 == MLG_DT_F16 && (int)MLG_I8 == MLG_DT_I8 &&
                   (int)MLG_U8 == MLG_DT_U8,
               "graph dtypes are numbered as dtype.h");

const char *mlg_dtype_name(mlg_ir_dtype dtype) {
  const mlg_dtype_info *t = mlg_dtype_get((uint32_t)dtype);
  return t ? t->name : "?";
}

int mlg_dtype_size(mlg_ir_dtype dtype) {
  const mlg_dtype_info *t = mlg_dtype_get((uint32_t)dtype);
  return t ? t->storage_bytes : 4;
}

int mlg_dtype_is_float(mlg_ir_dtype dtype) { return dtype == MLG_F32 || dtype == MLG_F16; }

int mlg_dtype_is_int(mlg_ir_dtype dtype) {
  return dtype == MLG_I32 || dtype == MLG_I64 || dtype == MLG_I8 || dtype == MLG_U8;
}

int mlg_dtype_is_narrow(mlg_ir_dtype dtype) {
  return dtype == MLG_F16 || dtype == MLG_I8 || dtype == MLG_U8;
}

int mlg_dtype_promote(mlg_ir_dtype a, mlg_ir_dtype b, mlg_ir_dtype *out) {
  if (a == b) *out = a;
  else if (mlg_dtype_is_float(a) && mlg_dtype_is_float(b)) *out = MLG_F32;
  else if (mlg_dtype_is_int(a) && mlg_dtype_is_int(b)) *out = a == MLG_I64 || b == MLG_I64 ? MLG_I64 : MLG_I32;
  else return -1;
  return 0;
}

double mlg_data_get(mlg_ir_dtype dtype, const void *data, int64_t i) {
  const unsigned char *p = (const unsigned char *)data + i * mlg_dtype_size(dtype);
  float f;
  int32_t w;
  uint16_t h;
  switch (dtype) {
  case MLG_F32: memcpy(&f, p, 4); return f;
  case MLG_F16: memcpy(&h, p, 2); return mlg_f16_to_f32(h);
  case MLG_I8: return (double)(int8_t)p[0];
  case MLG_U8:
  case MLG_BOOL: return p[0];
  default: memcpy(&w, p, 4); return w; /* i32, i64 */
  }
}

void mlg_data_set(mlg_ir_dtype dtype, void *data, int64_t i, double v) {
  unsigned char *p = (unsigned char *)data + i * mlg_dtype_size(dtype);
  if (dtype == MLG_F32) {
    float f = (float)v;
    memcpy(p, &f, 4);
    return;
  }
  if (dtype == MLG_F16) {
    uint16_t h = mlg_f32_to_f16((float)v);
    memcpy(p, &h, 2);
    return;
  }
  if (dtype == MLG_BOOL) {
    p[0] = v != 0;
    return;
  }
  /* Integers: toward zero, then the low bits (as unsigned arithmetic, which wraps). */
  double t = isnan(v) ? 0 : trunc(v);
  uint64_t u = t >= 9.2e18 ? UINT64_C(0x7FFFFFFFFFFFFFFF)
               : t <= -9.2e18 ? UINT64_C(0x8000000000000000)
                              : (uint64_t)(int64_t)t;
  if (dtype == MLG_I8 || dtype == MLG_U8) {
    p[0] = (unsigned char)(u & 0xFF);
  } else {
    uint32_t w = (uint32_t)u;
    memcpy(p, &w, 4);
  }
}

int64_t mlg_type_bytes(const mlg_type *type) {
  int64_t n = mlg_type_numel(type);
  return n < 0 ? -1 : n * mlg_dtype_size(type->dtype);
}

char *mlg_type_format(const mlg_type *type, char *buf, size_t size) {
  if (!buf || size == 0) return buf;
  size_t len = 0;
  int w = snprintf(buf, size, "%s[", mlg_dtype_name(type->dtype));
  len = w > 0 ? (size_t)w : 0;
  int rank = type->rank < 0 ? 0 : type->rank > MLG_MAX_RANK ? MLG_MAX_RANK : type->rank;
  for (int i = 0; i < rank && len < size; i++) {
    w = snprintf(buf + len, size - len, "%s%" PRId64, i ? ", " : "", type->dims[i]);
    len += w > 0 ? (size_t)w : 0;
  }
  if (len < size) snprintf(buf + len, size - len, "]");
  return buf;
}

/* ---- builder ---------------------------------------------------------------------------- */

int mlg_graph_builder_init(mlg_graph_builder *b, const char *model_name) {
  memset(b, 0, sizeof *b);
  mlg_graph *g = calloc(1, sizeof *g);
  if (!g) return -1;
  mlg_arena_init(&g->arena);
  if (model_name) {
    g->model_name = mlg_arena_strdup(&g->arena, model_name);
    if (!g->model_name) {
      mlg_graph_free(g);
      return -1;
    }
  }
  b->graph = g;
  return 0;
}

int mlg_graph_add(mlg_graph_builder *b, const mlg_node *node) {
  mlg_graph *g = b->graph;
  if (!g) return -1;
  if (g->n_nodes == b->capacity) {
    if (b->capacity > INT32_MAX / 4) return -1;
    int cap = b->capacity ? b->capacity * 2 : 64;
    mlg_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return -1;
    g->nodes = nodes;
    b->capacity = cap;
  }
  mlg_node n = *node;
  if (node->name) {
    n.name = mlg_arena_strdup(&g->arena, node->name);
    if (!n.name) return -1;
  }
  if (node->n_inputs > 0) {
    int *in = mlg_arena_calloc(&g->arena, (size_t)node->n_inputs, sizeof *in);
    if (!in) return -1;
    memcpy(in, node->inputs, (size_t)node->n_inputs * sizeof *in);
    n.inputs = in;
  } else {
    n.n_inputs = 0;
    n.inputs = NULL;
  }
  if (node->data) {
    int64_t numel = mlg_type_numel(&node->type);
    if (numel < 0) return -1;
    size_t esize = (size_t)mlg_dtype_size(node->type.dtype);
    void *d = mlg_arena_calloc(&g->arena, (size_t)numel, esize);
    if (!d) return -1;
    memcpy(d, node->data, (size_t)numel * esize);
    n.data = d;
  }
  g->nodes[g->n_nodes] = n;
  return g->n_nodes++;
}

int mlg_graph_add_output_in(mlg_graph_builder *b, const char *name, int node, unsigned programs) {
  mlg_graph *g = b->graph;
  if (!g || node < 0 || node >= g->n_nodes) return -1;
  if (g->n_outputs == b->output_capacity) {
    int cap = b->output_capacity ? b->output_capacity * 2 : 8;
    mlg_graph_output *o = realloc(g->outputs, (size_t)cap * sizeof *o);
    if (!o) return -1;
    g->outputs = o;
    b->output_capacity = cap;
  }
  const char *copy = name ? mlg_arena_strdup(&g->arena, name) : NULL;
  if (name && !copy) return -1;
  g->outputs[g->n_outputs].name = copy;
  g->outputs[g->n_outputs].node = node;
  g->outputs[g->n_outputs].programs = programs;
  g->n_outputs++;
  return 0;
}

int mlg_graph_add_output(mlg_graph_builder *b, const char *name, int node) {
  return mlg_graph_add_output_in(b, name, node, MLG_GRAPH_RUN);
}

int mlg_graph_add_update(mlg_graph_builder *b, int target, int value) {
  mlg_graph *g = b->graph;
  if (!g || target < 0 || target >= g->n_nodes || value < 0 || value >= g->n_nodes) return -1;
  if (g->n_updates == b->update_capacity) {
    int cap = b->update_capacity ? b->update_capacity * 2 : 8;
    mlg_graph_update *u = realloc(g->updates, (size_t)cap * sizeof *u);
    if (!u) return -1;
    g->updates = u;
    b->update_capacity = cap;
  }
  g->updates[g->n_updates++] = (mlg_graph_update){target, value};
  return 0;
}

int mlg_graph_set_optimizer(mlg_graph_builder *b, const char *optimizer) {
  mlg_graph *g = b->graph;
  if (!g) return -1;
  g->optimizer = optimizer ? mlg_arena_strdup(&g->arena, optimizer) : NULL;
  return optimizer && !g->optimizer ? -1 : 0;
}

void mlg_graph_programs(const mlg_graph *g, unsigned *out) {
  for (int i = 0; i < g->n_nodes; i++) out[i] = 0;
  for (int o = 0; o < g->n_outputs; o++) out[g->outputs[o].node] |= g->outputs[o].programs;
  for (int u = 0; u < g->n_updates; u++) out[g->updates[u].value] |= MLG_GRAPH_TRAIN;
  for (int i = g->n_nodes - 1; i >= 0; i--)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) out[g->nodes[i].inputs[k]] |= out[i];
}

int mlg_graph_update_of(const mlg_graph *g, int leaf) {
  for (int u = 0; u < g->n_updates; u++)
    if (g->updates[u].target == leaf) return u;
  return -1;
}

int mlg_graph_is_weight(const mlg_graph *g, int t) {
  if (t < 0 || t >= g->n_nodes) return 0;
  mlg_node_kind k = g->nodes[t].kind;
  return k == MLG_NODE_CONST || (k == MLG_NODE_PARAM && mlg_graph_update_of(g, t) < 0);
}

/* Grows an array kept in the graph's arena (dims are few: doubling copies are cheap). */
static void *arena_grow(mlg_arena *arena, void *old, int n, int *cap, size_t elem) {
  if (n < *cap) return old;
  if (*cap > INT32_MAX / 4) return NULL;
  int ncap = *cap ? *cap * 2 : 8;
  void *p = mlg_arena_calloc(arena, (size_t)ncap, elem);
  if (!p) return NULL;
  if (old && n) memcpy(p, old, (size_t)n * elem);
  *cap = ncap;
  return p;
}

int mlg_graph_add_dim(mlg_graph_builder *b, const char *name, int64_t value) {
  mlg_graph *g = b->graph;
  if (!g || !name) return -1;
  mlg_graph_dim *dims = arena_grow(&g->arena, g->dims, g->n_dims, &b->dim_capacity, sizeof *dims);
  const char *copy = mlg_arena_strdup(&g->arena, name);
  if (!dims || !copy) return -1;
  g->dims = dims;
  g->dims[g->n_dims] = (mlg_graph_dim){copy, value};
  return g->n_dims++;
}

int mlg_graph_add_dim_use(mlg_graph_builder *b, int node, int axis, int dim) {
  mlg_graph *g = b->graph;
  if (!g || node < 0 || node >= g->n_nodes || dim < 0 || dim >= g->n_dims) return -1;
  mlg_graph_dim_use *uses = arena_grow(&g->arena, g->dim_uses, g->n_dim_uses, &b->dim_use_capacity,
                                       sizeof *uses);
  if (!uses) return -1;
  g->dim_uses = uses;
  g->dim_uses[g->n_dim_uses++] = (mlg_graph_dim_use){node, axis, dim};
  return 0;
}

mlg_graph *mlg_graph_builder_finish(mlg_graph_builder *b) {
  mlg_graph *g = b->graph;
  b->graph = NULL;
  b->capacity = b->output_capacity = b->update_capacity = b->dim_capacity =
      b->dim_use_capacity = 0;
  return g;
}

void mlg_graph_builder_abandon(mlg_graph_builder *b) {
  mlg_graph_free(b->graph);
  b->graph = NULL;
  b->capacity = b->output_capacity = b->update_capacity = b->dim_capacity =
      b->dim_use_capacity = 0;
}

void mlg_graph_free(mlg_graph *graph) {
  if (!graph) return;
  free(graph->nodes);
  free(graph->outputs);
  free(graph->updates);
  mlg_arena_free(&graph->arena);
  free(graph);
}

/* ---- printer ---------------------------------------------------------------------------- */

/* Shortest of %.15g / %.17g that reads back as the same double; integral values keep ".0"
 * out ("1e-05", "0.05", "2"). */
static void print_double(FILE *out, double v) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
  fputs(buf, out);
}

/* Shortest %.Ng (N <= 9) that reads back as the same float. */
static void print_float(FILE *out, float v) {
  char buf[40];
  for (int p = 6; p <= 9; p++) {
    snprintf(buf, sizeof buf, "%.*g", p, (double)v);
    if ((float)strtod(buf, NULL) == v || p == 9) break;
  }
  fputs(buf, out);
}

/* Attribute `a` of the kind its definition `ad` gives (an ENUM prints its choice's name). */
static void print_attr(FILE *out, const mlg_attr_def *ad, const mlg_attr *a) {
  switch (a->kind) {
  case MLG_ATTR_NONE: fputs("none", out); break;
  case MLG_ATTR_INT: fprintf(out, "%" PRId64, a->ints[0]); break;
  case MLG_ATTR_FLOAT: print_double(out, a->f); break;
  case MLG_ATTR_INTS:
  case MLG_ATTR_FLOATS:
    fputc('[', out);
    for (int i = 0; i < a->n && i < MLG_MAX_ATTR_INTS; i++) {
      if (i) fputs(", ", out);
      if (a->kind == MLG_ATTR_INTS) fprintf(out, "%" PRId64, a->ints[i]);
      else print_double(out, a->floats[i]);
    }
    fputc(']', out);
    break;
  case MLG_ATTR_DTYPE: fputs(mlg_dtype_name((mlg_ir_dtype)a->ints[0]), out); break;
  case MLG_ATTR_ENUM: {
    const char *name = mlg_attr_choice(ad, a->ints[0]);
    if (name) fputs(name, out);
    else fprintf(out, "%" PRId64, a->ints[0]);
    break;
  }
  }
}

static void print_init(FILE *out, const mlg_init *init) {
  switch (init->kind) {
  case MLG_INIT_NONE: break;
  case MLG_INIT_ZEROS: fputs(" = zeros", out); break;
  case MLG_INIT_ONES: fputs(" = ones", out); break;
  case MLG_INIT_DATA: fputs(" = <data>", out); break;
  case MLG_INIT_NORMAL:
  case MLG_INIT_UNIFORM:
    fputs(init->kind == MLG_INIT_NORMAL ? " = normal(" : " = uniform(", out);
    print_double(out, init->a);
    fputs(", ", out);
    print_double(out, init->b);
    fprintf(out, ", seed=%" PRIu64 ")", init->seed);
    break;
  }
}

enum { CONST_PRINT_LIMIT = 16 };

static void print_const_data(FILE *out, const mlg_node *n) {
  int64_t numel = mlg_type_numel(&n->type);
  if (!n->data || numel < 0) return;
  if (numel > CONST_PRINT_LIMIT) {
    fprintf(out, " = <%" PRId64 " values>", numel);
    return;
  }
  fputs(n->type.rank == 0 ? " = " : " = [", out);
  for (int64_t i = 0; i < numel; i++) {
    if (i) fputs(", ", out);
    double v = mlg_data_get(n->type.dtype, n->data, i);
    if (mlg_dtype_is_float(n->type.dtype)) print_float(out, (float)v);
    else if (n->type.dtype == MLG_BOOL) fputs(v != 0 ? "true" : "false", out);
    else fprintf(out, "%" PRId64, (int64_t)v);
  }
  if (n->type.rank != 0) fputc(']', out);
}

/* Line starts of the source, so that each node's line:col is a binary search rather than a
 * scan from the top (graphs of big files have many nodes). */
typedef struct line_index {
  const mlg_source *source;
  uint32_t *starts;
  size_t n;
} line_index;

static void line_index_init(line_index *li, const mlg_source *source) {
  li->source = source;
  li->starts = NULL;
  li->n = 0;
  if (!source || !source->text) return;
  size_t n = 1;
  for (size_t i = 0; i < source->length; i++) n += source->text[i] == '\n';
  li->starts = malloc(n * sizeof *li->starts);
  if (!li->starts) return; /* fall back to mlg_source_line_col */
  li->starts[li->n++] = 0;
  for (size_t i = 0; i < source->length; i++)
    if (source->text[i] == '\n') li->starts[li->n++] = (uint32_t)(i + 1);
}

static void line_col(const line_index *li, uint32_t offset, int *line, int *col) {
  if (!li->starts) {
    mlg_source_line_col(li->source, offset, line, col);
    return;
  }
  size_t lo = 0, hi = li->n; /* last start <= offset */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (li->starts[mid] <= offset) lo = mid;
    else hi = mid;
  }
  *line = (int)lo + 1;
  *col = (int)(offset - li->starts[lo]) + 1;
}

static void print_where(FILE *out, const mlg_node *n, const line_index *li, int with_name) {
  const mlg_source *source = li->source;
  int has_span = source && (n->span.begin || n->span.end) && n->span.begin <= source->length;
  if (!(with_name && n->name) && !has_span) return;
  fputs("  #", out);
  if (with_name && n->name) fprintf(out, " %s", n->name);
  if (has_span) {
    int line, col;
    line_col(li, n->span.begin, &line, &col);
    fprintf(out, " @ %d:%d", line, col);
  }
}

void mlg_graph_print(const mlg_graph *graph, const mlg_source *source, FILE *out) {
  char tbuf[256];
  line_index li;
  line_index_init(&li, source);
  fprintf(out, "graph %s\n", graph->model_name ? graph->model_name : "?");
  /* Declarations first (inputs, params, consts), then the ops, each group in id order. */
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < graph->n_nodes; i++) {
      const mlg_node *n = &graph->nodes[i];
      if ((n->kind == MLG_NODE_OP) != (pass == 1)) continue;
      if (n->kind == MLG_NODE_STATE) {
        fprintf(out, "  %%%d = state %s : %s\n", i, n->name ? n->name : "?",
                mlg_type_format(&n->type, tbuf, sizeof tbuf));
        continue;
      }
      mlg_type_format(&n->type, tbuf, sizeof tbuf);
      switch (n->kind) {
      case MLG_NODE_INPUT:
        fprintf(out, "  %%%d = input %s : %s", i, n->name ? n->name : "?", tbuf);
        break;
      case MLG_NODE_PARAM:
        fprintf(out, "  %%%d = param %s : %s", i, n->name ? n->name : "?", tbuf);
        print_init(out, &n->init);
        break;
      case MLG_NODE_CONST:
        fprintf(out, "  %%%d = const%s%s : %s", i, n->name ? " " : "", n->name ? n->name : "", tbuf);
        print_const_data(out, n);
        break;
      case MLG_NODE_STATE:
        break;
      case MLG_NODE_OP:
        fprintf(out, "  %%%d = %s(", i, n->op ? n->op->name : "?");
        for (int k = 0; k < n->n_inputs; k++) fprintf(out, "%s%%%d", k ? ", " : "", n->inputs[k]);
        fputc(')', out);
        for (int k = 0; n->op && k < n->op->n_attrs && k < MLG_MAX_ATTRS; k++) {
          if (n->attrs[k].kind == MLG_ATTR_NONE) continue;
          fprintf(out, " %s=", n->op->attrs[k].name);
          print_attr(out, &n->op->attrs[k], &n->attrs[k]);
        }
        fprintf(out, " : %s", tbuf);
        break;
      }
      print_where(out, n, &li, n->kind == MLG_NODE_OP);
      fputc('\n', out);
    }
  }
  for (int i = 0; i < graph->n_outputs; i++) {
    const mlg_graph_output *o = &graph->outputs[i];
    fprintf(out, "  output %s = %%%d", o->name ? o->name : "?", o->node);
    /* Only a model with a train step says which program writes each output. */
    if (graph->optimizer)
      fprintf(out, " [%s]", o->programs == (MLG_GRAPH_RUN | MLG_GRAPH_TRAIN) ? "run, train"
                            : o->programs == MLG_GRAPH_TRAIN                  ? "train"
                                                                                : "run");
    fputc('\n', out);
  }
  for (int i = 0; i < graph->n_updates; i++) {
    const mlg_node *t = &graph->nodes[graph->updates[i].target];
    fprintf(out, "  update %%%d %s = %%%d\n", graph->updates[i].target, t->name ? t->name : "?",
            graph->updates[i].value);
  }
  if (graph->optimizer) fprintf(out, "  train with %s\n", graph->optimizer);
  free(li.starts);
}

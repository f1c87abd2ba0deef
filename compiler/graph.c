/* graph.c — the graph builder, type utilities and the --emit=graph printer. */
#include "graph.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

const char *mlg_dtype_name(mlg_ir_dtype dtype) {
  switch (dtype) {
  case MLG_F32: return "f32";
  case MLG_I32: return "i32";
  }
  return "?";
}

int mlg_dtype_size(mlg_ir_dtype dtype) {
  switch (dtype) {
  case MLG_F32: return 4;
  case MLG_I32: return 4;
  }
  return 4;
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

static size_t dtype_size(mlg_ir_dtype dtype) { return dtype == MLG_I32 ? sizeof(int32_t) : sizeof(float); }

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
    void *d = mlg_arena_calloc(&g->arena, (size_t)numel, dtype_size(node->type.dtype));
    if (!d) return -1;
    memcpy(d, node->data, (size_t)numel * dtype_size(node->type.dtype));
    n.data = d;
  }
  g->nodes[g->n_nodes] = n;
  return g->n_nodes++;
}

int mlg_graph_add_output(mlg_graph_builder *b, const char *name, int node) {
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
  g->n_outputs++;
  return 0;
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
  b->capacity = b->output_capacity = b->dim_capacity = b->dim_use_capacity = 0;
  return g;
}

void mlg_graph_builder_abandon(mlg_graph_builder *b) {
  mlg_graph_free(b->graph);
  b->graph = NULL;
  b->capacity = b->output_capacity = b->dim_capacity = b->dim_use_capacity = 0;
}

void mlg_graph_free(mlg_graph *graph) {
  if (!graph) return;
  free(graph->nodes);
  free(graph->outputs);
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
    if (n->type.dtype == MLG_I32) fprintf(out, "%" PRId32, ((const int32_t *)n->data)[i]);
    else print_float(out, ((const float *)n->data)[i]);
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
  for (int i = 0; i < graph->n_outputs; i++)
    fprintf(out, "  output %s = %%%d\n", graph->outputs[i].name ? graph->outputs[i].name : "?",
            graph->outputs[i].node);
  free(li.starts);
}

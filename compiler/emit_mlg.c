/* emit_mlg.c — a graph printed back as mlg text (see emit_mlg.h). */
#include "emit_mlg.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "../runtime/dtype.h"
#include "../runtime/tensor_file.h"

enum { LITERAL_MAX = 64, NAME_MAX_LEN = 200 };

static const char *const keywords[] = {"model", "fn",    "return", "as",    "dim",   "input",
                                       "param", "const", "output", "train", "with",  "frozen",
                                       "f32",   "i32",   "f16",    "i8",    "bool",  "i64",
                                       "u8",    "true",  "false"};

static int is_alnum_(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

void mlg_name_sanitize(const char *name, char *out, size_t size) {
  size_t n = 0;
  int need_sep = 0;
  if (size < 8) {
    if (size) out[0] = '\0';
    return;
  }
  for (const char *p = name ? name : ""; *p && n + 1 < size; p++) {
    char ch = *p;
    if (ch == '.' || ch == '/') {
      need_sep = n > 0;
      continue;
    }
    if (need_sep) {
      if (n + 2 >= size) break; /* a '.' and at least one character after it */
      out[n++] = '.';
      need_sep = 0;
    }
    if (n == 0 && ch >= '0' && ch <= '9') out[n++] = 'v';
    if (n + 1 >= size) break;
    out[n++] = is_alnum_(ch) ? ch : '_';
  }
  if (n > 0 && out[n - 1] == '.') n--;
  if (n == 0) out[n++] = 'v';
  out[n] = '\0';
  for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
    if (strcmp(out, keywords[k]) == 0 && n + 1 < size) {
      out[n++] = '_';
      out[n] = '\0';
    }
}

/* ---- the printer --------------------------------------------------------------------------- */

typedef struct printer {
  const mlg_graph *g;
  FILE *out;
  mlg_diag *diag;
  char **names;          /* per node: its binding or declared name, or NULL (inlined) */
  int *uses;
  char **used;           /* names taken */
  int n_used;
  int failed;
} printer;

static int name_taken(const printer *p, const char *name) {
  for (int i = 0; i < p->n_used; i++)
    if (strcmp(p->used[i], name) == 0) return 1;
  return 0;
}

/* A unique valid name from `want` (or `fallback` + id). */
static char *take_name(printer *p, const char *want, const char *fallback, int id) {
  char base[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 16];
  if (want) mlg_name_sanitize(want, base, sizeof base);
  else snprintf(base, sizeof base, "%s%d", fallback, id);
  snprintf(name, sizeof name, "%s", base);
  for (int k = 2; name_taken(p, name); k++) snprintf(name, sizeof name, "%s_%d", base, k);
  char *copy = strdup(name);
  if (!copy) {
    p->failed = 1;
    return NULL;
  }
  p->used[p->n_used++] = copy;
  return copy;
}

/* Shortest %.Ng that reads back as the same float. */
static void format_float(float v, char *buf, size_t size) {
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, size, "%.*g", prec, (double)v);
    if ((float)strtod(buf, NULL) == v) break;
  }
}

static void format_double(double v, char *buf, size_t size) {
  snprintf(buf, size, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

static int finite_data(const mlg_node *n) {
  if (!mlg_dtype_is_float(n->type.dtype) || !n->data) return 1;
  int64_t numel = mlg_type_numel(&n->type);
  for (int64_t i = 0; i < numel; i++)
    if (!isfinite(mlg_data_get(n->type.dtype, n->data, i))) return 0;
  return 1;
}

/* A 0-d f32 const written as a number where it is read. */
static int is_literal(const mlg_node *n) {
  return n->kind == MLG_NODE_CONST && n->type.rank == 0 && n->type.dtype == MLG_F32 && n->data &&
         finite_data(n);
}

/* A const small enough to declare with a tensor literal. */
static int const_as_literal(const mlg_node *n) {
  return n->kind == MLG_NODE_CONST && n->data && mlg_type_numel(&n->type) <= LITERAL_MAX && finite_data(n);
}

/* Whether a node's values can only come from the weights file: a param holding its data, or a
 * const too large (or not finite) to write as a literal. */
static int needs_weights_file(const mlg_node *n) {
  if (n->kind == MLG_NODE_PARAM) return n->init.kind == MLG_INIT_DATA && n->data;
  return n->kind == MLG_NODE_CONST && !is_literal(n) && !const_as_literal(n);
}

static void print_type(printer *p, int id) {
  const mlg_node *n = &p->g->nodes[id];
  fprintf(p->out, "%s", mlg_dtype_name(n->type.dtype));
  if (n->type.rank == 0) return;
  fputc('[', p->out);
  for (int k = 0; k < n->type.rank; k++) {
    const char *dim = NULL;
    for (int u = 0; u < p->g->n_dim_uses; u++)
      if (p->g->dim_uses[u].node == id && p->g->dim_uses[u].axis == k) dim = p->g->dims[p->g->dim_uses[u].dim].name;
    if (dim) fprintf(p->out, "%s%s", k ? ", " : "", dim);
    else fprintf(p->out, "%s%" PRId64, k ? ", " : "", n->type.dims[k]);
  }
  fputc(']', p->out);
}

static void print_value(printer *p, const mlg_node *n, int64_t i) {
  char buf[48];
  double v = mlg_data_get(n->type.dtype, n->data, i);
  if (n->type.dtype == MLG_BOOL) {
    fputs(v != 0 ? "true" : "false", p->out);
    return;
  }
  if (mlg_dtype_is_int(n->type.dtype)) {
    fprintf(p->out, "%" PRId64, (int64_t)v);
    return;
  }
  format_float((float)v, buf, sizeof buf);
  fputs(buf, p->out);
}

/* Nested list literal of a const's values, dims d.. of its type. */
static void print_list(printer *p, const mlg_node *n, int d, int64_t *pos) {
  if (d == n->type.rank) {
    print_value(p, n, (*pos)++);
    return;
  }
  fputc('[', p->out);
  for (int64_t k = 0; k < n->type.dims[d]; k++) {
    if (k) fputs(", ", p->out);
    print_list(p, n, d + 1, pos);
  }
  fputc(']', p->out);
}

static const char *infix_of(const mlg_op_def *op) {
  static const char *const ops[][2] = {{"add", "+"}, {"sub", "-"}, {"mul", "*"}, {"div", "/"}, {"matmul", "@"}};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
    if (strcmp(op->name, ops[k][0]) == 0) return ops[k][1];
  return NULL;
}

static int attr_equal(const mlg_attr *a, const mlg_attr *b) {
  if (a->kind != b->kind) return 0;
  switch (a->kind) {
  case MLG_ATTR_NONE: return 1;
  case MLG_ATTR_FLOAT: return a->f == b->f;
  case MLG_ATTR_INT:
  case MLG_ATTR_ENUM:
  case MLG_ATTR_DTYPE: return a->ints[0] == b->ints[0];
  case MLG_ATTR_INTS:
    if (a->n != b->n) return 0;
    for (int k = 0; k < a->n; k++)
      if (a->ints[k] != b->ints[k]) return 0;
    return 1;
  case MLG_ATTR_FLOATS:
    if (a->n != b->n) return 0;
    for (int k = 0; k < a->n; k++)
      if (a->floats[k] != b->floats[k]) return 0;
    return 1;
  }
  return 0;
}

/* Whether the op, given `attrs` as written, infers exactly the node's type and attributes. */
static int same_after_infer(const printer *p, const mlg_node *n, const mlg_attr *written) {
  mlg_type types[64];
  if (n->n_inputs > 64) return 0;
  for (int i = 0; i < n->n_inputs; i++) types[i] = p->g->nodes[n->inputs[i]].type;
  mlg_attr attrs[MLG_MAX_ATTRS];
  memcpy(attrs, written, sizeof attrs);
  mlg_shape_error err = {.input = -1, .attr = -1};
  mlg_type out;
  if (n->op->infer(types, n->n_inputs, attrs, &out, &err) != 0 || !mlg_type_equal(&out, &n->type)) return 0;
  for (int k = 0; k < n->op->n_attrs; k++)
    if (!attr_equal(&attrs[k], &n->attrs[k])) return 0;
  return 1;
}

static void print_expr(printer *p, int id, int operand);

/* A float attribute as mlg text spells it; mlg has no spelling for inf or nan. */
static void print_attr_float(printer *p, double f) {
  char buf[48];
  if (!isfinite(f)) {
    mlg_diag_error(p->diag, (mlg_span){0, 0}, "--emit=mlg: an attribute is not finite (%g); mlg "
                   "text cannot spell it", f);
    p->failed = 1;
  }
  format_double(f, buf, sizeof buf);
  fputs(buf, p->out);
}

static void print_attr_value(printer *p, const mlg_attr_def *ad, const mlg_attr *a) {
  switch (a->kind) {
  case MLG_ATTR_NONE: break;
  case MLG_ATTR_INT: fprintf(p->out, "%" PRId64, a->ints[0]); break;
  case MLG_ATTR_DTYPE: fputs(mlg_dtype_name((mlg_ir_dtype)a->ints[0]), p->out); break;
  case MLG_ATTR_FLOAT: print_attr_float(p, a->f); break;
  case MLG_ATTR_ENUM: {
    const char *name = mlg_attr_choice(ad, a->ints[0]);
    if (!name) {
      mlg_diag_error(p->diag, (mlg_span){0, 0}, "--emit=mlg: attribute '%s' has no choice %" PRId64,
                     ad->name, a->ints[0]);
      p->failed = 1;
      name = "?";
    }
    fputs(name, p->out);
  } break;
  case MLG_ATTR_FLOATS:
    fputc('[', p->out);
    for (int k = 0; k < a->n; k++) {
      if (k) fputs(", ", p->out);
      print_attr_float(p, a->floats[k]);
    }
    fputc(']', p->out);
    break;
  case MLG_ATTR_INTS:
    fputc('[', p->out);
    for (int k = 0; k < a->n; k++) fprintf(p->out, "%s%" PRId64, k ? ", " : "", a->ints[k]);
    fputc(']', p->out);
    break;
  }
}

static void print_call(printer *p, const mlg_node *n) {
  const mlg_op_def *op = n->op;
  fprintf(p->out, "%s(", op->name);
  if (op->list_input) fputc('[', p->out);
  for (int i = 0; i < n->n_inputs; i++) {
    if (i) fputs(", ", p->out);
    print_expr(p, n->inputs[i], 0);
  }
  if (op->list_input) fputc(']', p->out);
  /* Attributes, leaving out those the op infers anyway, a list of equal values as one. */
  mlg_attr written[MLG_MAX_ATTRS];
  memcpy(written, n->attrs, sizeof written);
  for (int k = 0; k < op->n_attrs; k++) {
    mlg_attr keep = written[k];
    if (keep.kind == MLG_ATTR_NONE) continue;
    if (!op->attrs[k].required) {
      written[k] = op->attrs[k].deflt;
      if (same_after_infer(p, n, written)) continue;
    }
    written[k] = keep;
    if (keep.kind == MLG_ATTR_INTS && keep.n > 1) {
      int all_same = 1;
      for (int j = 1; j < keep.n; j++) all_same &= keep.ints[j] == keep.ints[0];
      if (all_same) {
        written[k].n = 1;
        if (!same_after_infer(p, n, written)) written[k] = keep;
      }
    }
  }
  for (int k = 0; k < op->n_attrs; k++) {
    if (written[k].kind == MLG_ATTR_NONE) continue;
    if (!op->attrs[k].required && attr_equal(&written[k], &op->attrs[k].deflt) &&
        same_after_infer(p, n, written))
      continue;
    fprintf(p->out, "%s%s=", n->n_inputs || k ? ", " : "", op->attrs[k].name);
    if (written[k].kind == MLG_ATTR_INTS && written[k].n == 1) fprintf(p->out, "%" PRId64, written[k].ints[0]);
    else print_attr_value(p, &op->attrs[k], &written[k]);
  }
  fputc(')', p->out);
}

/* An expression for node id; `operand`: it is an operand of an infix operator (parenthesize
 * inlined infix expressions and negative numbers). */
static void print_expr(printer *p, int id, int operand) {
  const mlg_node *n = &p->g->nodes[id];
  if (p->names[id]) {
    fputs(p->names[id], p->out);
    return;
  }
  if (is_literal(n)) {
    char buf[48];
    float v = *(const float *)n->data;
    format_float(v, buf, sizeof buf);
    if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'n') && !strchr(buf, 'i'))
      strcat(buf, ".0"); /* 2.0, not 2: the literal's value is f32 either way */
    fprintf(p->out, v < 0 || signbit(v) ? (operand ? "(%s)" : "%s") : "%s", buf);
    return;
  }
  const char *infix = n->kind == MLG_NODE_OP ? infix_of(n->op) : NULL;
  if (infix && n->n_inputs == 2) {
    if (operand) fputc('(', p->out);
    print_expr(p, n->inputs[0], 1);
    fprintf(p->out, " %s ", infix);
    print_expr(p, n->inputs[1], 1);
    if (operand) fputc(')', p->out);
    return;
  }
  if (n->kind == MLG_NODE_OP && strcmp(n->op->name, "neg") == 0 && n->n_inputs == 1) {
    fputs(operand ? "(-" : "-", p->out);
    print_expr(p, n->inputs[0], 1);
    if (operand) fputc(')', p->out);
    return;
  }
  print_call(p, n);
}

static int is_output(const mlg_graph *g, int id, const char **out_name) {
  for (int o = 0; o < g->n_outputs; o++)
    if (g->outputs[o].node == id) {
      if (out_name) *out_name = g->outputs[o].name;
      return 1;
    }
  return 0;
}

int mlg_emit_mlg(const mlg_graph *g, const char *source_note, const char *weights_path,
                 mlg_diag *diag, FILE *out) {
  if (g->n_updates) {
    /* Its gradient and optimizer nodes are the train statement's expansion, which mlg text
     * only writes as that statement. */
    mlg_diag_error(diag, (mlg_span){0, 0},
                   "--emit=mlg: model '%s' has a train step (%s), which the printed text cannot "
                   "hold; print the model without its 'train' statement",
                   g->model_name ? g->model_name : "?", g->optimizer ? g->optimizer : "?");
    return -1;
  }
  printer p = {.g = g, .out = out, .diag = diag};
  int n = g->n_nodes;
  p.names = calloc((size_t)(n ? n : 1), sizeof *p.names);
  p.uses = calloc((size_t)(n ? n : 1), sizeof *p.uses);
  p.used = calloc((size_t)(n + g->n_outputs + g->n_dims + 1), sizeof *p.used);
  mlg_tf_tensor *weights = calloc((size_t)(n ? n : 1), sizeof *weights);
  int n_weights = 0, rc = -1;
  if (!p.names || !p.uses || !p.used || !weights) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while printing mlg text");
    goto done;
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) p.uses[g->nodes[i].inputs[k]]++;
  for (int o = 0; o < g->n_outputs; o++) p.uses[g->outputs[o].node] += 2;

  /* Names: dims first, then every node that needs one. */
  for (int d = 0; d < g->n_dims; d++) {
    char *name = take_name(&p, g->dims[d].name, "d", d);
    if (name && strcmp(name, g->dims[d].name) != 0) {
      mlg_diag_error(diag, (mlg_span){0, 0}, "--emit=mlg: dim '%s' is not a valid mlg name", g->dims[d].name);
      goto done;
    }
  }
  for (int i = 0; i < n && !p.failed; i++) {
    const mlg_node *nd = &g->nodes[i];
    const char *out_name = NULL;
    switch (nd->kind) {
    case MLG_NODE_INPUT: p.names[i] = take_name(&p, nd->name, "input", i); break;
    case MLG_NODE_PARAM: p.names[i] = take_name(&p, nd->name, "param", i); break;
    case MLG_NODE_CONST:
      if (!is_literal(nd) || is_output(g, i, NULL)) p.names[i] = take_name(&p, nd->name, "c", i);
      break;
    case MLG_NODE_STATE: break; /* only in a train step's graph, refused above */
    case MLG_NODE_OP:
      if (is_output(g, i, &out_name)) p.names[i] = take_name(&p, out_name, "y", i);
      else if (nd->name) p.names[i] = take_name(&p, nd->name, "t", i);
      else if (p.uses[i] != 1) p.names[i] = take_name(&p, NULL, "t", i);
      break;
    }
  }
  if (p.failed) goto oom;

  char model[NAME_MAX_LEN + 1];
  mlg_name_sanitize(g->model_name ? g->model_name : "model", model, sizeof model);
  fprintf(out, "# %s, printed by mlgc --emit=mlg%s%s\n", model, source_note ? " from " : "",
          source_note ? source_note : "");
  int with_values = 0;
  for (int i = 0; i < n; i++) with_values |= needs_weights_file(&g->nodes[i]);
  if (weights_path && with_values) fprintf(out, "# params: compile with --weights %s\n", weights_path);
  fprintf(out, "model %s {\n", model);
  for (int d = 0; d < g->n_dims; d++)
    fprintf(out, "  dim %s = %" PRId64 "\n", g->dims[d].name, g->dims[d].value);
  /* Declarations: inputs, params, consts. */
  for (int pass = 0; pass < 3; pass++) {
    for (int i = 0; i < n; i++) {
      const mlg_node *nd = &g->nodes[i];
      if (nd->kind == MLG_NODE_OP || !p.names[i]) continue;
      int kind = nd->kind == MLG_NODE_INPUT ? 0 : nd->kind == MLG_NODE_PARAM ? 1 : 2;
      /* Large consts are declared as params whose values go to the weights file. */
      if (kind == 2 && !const_as_literal(nd)) kind = 1;
      if (kind != pass) continue;
      fprintf(out, "  %s %s : ", kind == 0 ? "input" : kind == 1 ? "param" : "const", p.names[i]);
      print_type(&p, i);
      if (kind == 2) {
        int64_t pos = 0;
        fputs(" = ", out);
        print_list(&p, nd, 0, &pos);
      } else if (kind == 1) {
        char buf[48];
        const mlg_init *in = &nd->init;
        if (needs_weights_file(nd)) {
          /* The file holds host values: an i64 widened from its 32-bit storage. */
          const mlg_dtype_info *dt = mlg_dtype_get((uint32_t)nd->type.dtype);
          size_t numel = (size_t)mlg_type_numel(&nd->type);
          void *host = (void *)nd->data;
          if (dt->host_bytes != dt->storage_bytes) {
            host = malloc(numel * (size_t)dt->host_bytes);
            if (!host) goto oom;
            mlg_dtype_from_storage((uint32_t)nd->type.dtype, nd->data, host, numel);
          }
          weights[n_weights++] = (mlg_tf_tensor){
              .name = p.names[i], .dtype = (mlg_tf_dtype)nd->type.dtype, .rank = nd->type.rank,
              .size = numel * (size_t)dt->host_bytes, .data = host};
          memcpy(weights[n_weights - 1].dims, nd->type.dims, sizeof(int64_t) * (size_t)nd->type.rank);
        } else if (in->kind == MLG_INIT_ZEROS || in->kind == MLG_INIT_ONES) {
          fputs(in->kind == MLG_INIT_ZEROS ? " = zeros" : " = ones", out);
        } else if (nd->kind == MLG_NODE_PARAM && (in->kind == MLG_INIT_NORMAL || in->kind == MLG_INIT_UNIFORM)) {
          fputs(in->kind == MLG_INIT_NORMAL ? " = normal(" : " = uniform(", out);
          format_double(in->a, buf, sizeof buf);
          fprintf(out, "%s, ", buf);
          format_double(in->b, buf, sizeof buf);
          fprintf(out, "%s, seed=%" PRIu64 ")", buf, in->seed);
        }
      }
      fputc('\n', out);
    }
  }
  /* Bindings, in graph order; outputs as `output NAME = ...`. */
  for (int i = 0; i < n; i++) {
    const mlg_node *nd = &g->nodes[i];
    if (nd->kind != MLG_NODE_OP || !p.names[i]) continue;
    const char *out_name = NULL;
    int exported = is_output(g, i, &out_name) && strcmp(p.names[i], out_name ? out_name : "") == 0;
    fprintf(out, "  %s%s = ", exported ? "output " : "", p.names[i]);
    const char *saved = p.names[i];
    p.names[i] = NULL; /* print the node's own expression, not its name */
    print_expr(&p, i, 0);
    p.names[i] = (char *)saved;
    fputc('\n', out);
  }
  /* Outputs not printed above: leaves, and second names of a node. */
  for (int o = 0; o < g->n_outputs; o++) {
    int id = g->outputs[o].node;
    const char *name = g->outputs[o].name ? g->outputs[o].name : "y";
    if (g->nodes[id].kind == MLG_NODE_OP && p.names[id] && strcmp(p.names[id], name) == 0) continue;
    char *oname = take_name(&p, name, "y", o);
    if (!oname) goto oom;
    fprintf(out, "  output %s = ", oname);
    print_expr(&p, id, 0);
    fputc('\n', out);
  }
  fputs("}\n", out);
  if (p.failed) goto done;
  if (weights_path && n_weights) {
    char err[512];
    if (mlg_safetensors_write_file(weights_path, weights, n_weights, err, sizeof err) != 0) {
      mlg_diag_error(diag, (mlg_span){0, 0}, "%s", err);
      goto done;
    }
  } else if (n_weights) {
    mlg_diag_warning(diag, (mlg_span){0, 0}, "--emit=mlg: the values of %d param%s are not in the "
                     "text; write it to a file (-o OUT.mlg) to get them in OUT.safetensors",
                     n_weights, n_weights == 1 ? "" : "s");
  }
  rc = 0;
  goto done;
oom:
  mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while printing mlg text");
done:
  if (p.used)
    for (int i = 0; i < p.n_used; i++) free(p.used[i]);
  free(p.used);
  free(p.names);
  free(p.uses);
  for (int k = 0; k < n_weights; k++) {
    const mlg_dtype_info *dt = mlg_dtype_get((uint32_t)weights[k].dtype);
    if (dt->host_bytes != dt->storage_bytes) free(weights[k].data);
  }
  free(weights);
  return rc;
}

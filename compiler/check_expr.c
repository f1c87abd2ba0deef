/* check_expr.c — expressions: compile-time arithmetic, names, operators, op calls and their
 * attributes, builtins (causal_mask), tensor literals and declared types. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"
#include "ops/op_util.h"

static value poison(void) { return (value){ .kind = V_POISON }; }

static const char *kind_name(vkind k) {
  switch (k) {
  case V_INT: return "an integer";
  case V_FLOAT: return "a number";
  case V_TENSOR: return "a tensor";
  case V_LIST: return "a list";
  case V_DTYPE: return "a type name";
  case V_POISON: break;
  }
  return "an invalid value";
}

int chk_add_node(checker *c, const mlg_node *n) {
  if (c->oom || c->too_big) return -1;
  if (c->b.graph->n_nodes >= CHECK_MAX_NODES) {
    c->too_big = 1;
    chk_error(c, n->span, "the graph exceeds %d nodes (fn calls expand too far)", CHECK_MAX_NODES);
    return -1;
  }
  int id = mlg_graph_add(&c->b, n);
  if (id < 0) chk_oom(c);
  return id;
}

/* ---- describing values ------------------------------------------------------------------ */

int chk_span_text(const checker *c, mlg_span span, char *buf, size_t cap) {
  const mlg_source *src = c->ast ? c->ast->source : NULL;
  buf[0] = '\0';
  if (!src || !src->text || span.end <= span.begin || span.end > src->length) return 0;
  size_t n = span.end - span.begin;
  if (n + 1 > cap) return 0;
  const char *t = src->text + span.begin;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] == 0x7f) return 0;
  memcpy(buf, t, n);
  buf[n] = '\0';
  return 1;
}

/* Shortest "%g" spelling that reads back as the same double, always with a '.' or an exponent
 * so that it reads as a float. */
static void format_float(double f, char *buf, size_t cap) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, f);
    if (strtod(buf, NULL) == f) break;
  }
  if (isfinite(f) && !strpbrk(buf, ".e")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

static int is_plain_name(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '.'))
      return 0;
  return 1;
}

void chk_describe(const checker *c, const value *v, char *buf, size_t cap) {
  char what[160], num[48], type[128];
  switch (v->kind) {
  case V_INT: snprintf(what, sizeof what, "the integer %lld", (long long)v->i); break;
  case V_FLOAT:
    format_float(v->f, num, sizeof num);
    snprintf(what, sizeof what, "the float %s", num);
    break;
  case V_TENSOR:
    snprintf(what, sizeof what, "a tensor %s",
             mlg_type_format(&c->b.graph->nodes[v->node].type, type, sizeof type));
    break;
  case V_LIST: snprintf(what, sizeof what, "a list"); break;
  case V_DTYPE: snprintf(what, sizeof what, "the type %s", mlg_dtype_name((mlg_ir_dtype)v->i)); break;
  case V_POISON: snprintf(what, sizeof what, "an invalid value"); break;
  }
  /* A name says which binding the user passed; `true` and `false` are literals. */
  char name[72];
  if (chk_span_text(c, v->span, name, sizeof name) && is_plain_name(name) &&
      strcmp(name, "true") != 0 && strcmp(name, "false") != 0)
    snprintf(buf, cap, "'%s' (%s)", name, what);
  else
    snprintf(buf, cap, "%s", what);
}

/* ---- compile-time scalars --------------------------------------------------------------- */

int chk_as_int(checker *c, const value *v, const char *what, int64_t *out) {
  if (v->kind == V_INT) {
    *out = v->i;
    return 0;
  }
  if (v->kind != V_POISON) {
    char got[256];
    chk_describe(c, v, got, sizeof got);
    chk_error(c, v->span, "%s must be a compile-time integer, got %s", what, got);
  }
  return -1;
}

int chk_as_number(checker *c, const value *v, const char *what, double *out) {
  if (v->kind == V_INT) {
    *out = (double)v->i;
    return 0;
  }
  if (v->kind == V_FLOAT) {
    *out = v->f;
    return 0;
  }
  if (v->kind != V_POISON) {
    char got[256];
    chk_describe(c, v, got, sizeof got);
    chk_error(c, v->span, "%s must be a compile-time number, got %s", what, got);
  }
  return -1;
}

/* An integer division that does not come out even, in an integer-only context or not. */
static void report_inexact(checker *c, int64_t a, int64_t b, mlg_span span) {
  const int_ctx *x = c->ictx;
  char src[96];
  if (!x) {
    chk_error(c, span, "integer division is not exact (%lld / %lld); write a float (%lld.0) for a "
              "fractional result", (long long)a, (long long)b, (long long)a);
    return;
  }
  switch (x->kind) {
  case ICTX_DIM:
    if (chk_span_text(c, x->span, src, sizeof src))
      chk_error(c, span, "dim %s = %s: %lld / %lld is not an integer; a dim must divide exactly",
                x->name, src, (long long)a, (long long)b);
    else
      chk_error(c, span, "dim %s: %lld / %lld is not an integer; a dim must divide exactly",
                x->name, (long long)a, (long long)b);
    return;
  case ICTX_TYPE:
    if (chk_span_text(c, x->span, src, sizeof src))
      chk_error(c, span, "%s: %lld / %lld is not an integer; a dimension must divide exactly", src,
                (long long)a, (long long)b);
    else
      chk_error(c, span, "%lld / %lld is not an integer; a dimension must divide exactly",
                (long long)a, (long long)b);
    return;
  case ICTX_ATTR:
    chk_error(c, span, "%s: attribute '%s': %lld / %lld is not an integer; an integer attribute "
              "must divide exactly", x->op, x->name, (long long)a, (long long)b);
    return;
  case ICTX_OTHER:
    chk_error(c, span, "%lld / %lld is not an integer; %s must be an integer, so the division must "
              "be exact", (long long)a, (long long)b, x->name);
    return;
  }
}

static value fold_int(checker *c, int op, int64_t a, int64_t b, mlg_span span) {
  int64_t r = 0;
  int ovf = 0;
  switch (op) {
  case '+': ovf = __builtin_add_overflow(a, b, &r); break;
  case '-': ovf = __builtin_sub_overflow(a, b, &r); break;
  case '*': ovf = __builtin_mul_overflow(a, b, &r); break;
  case '/':
    if (b == 0) {
      chk_error(c, span, "division by zero");
      return poison();
    }
    if (a == INT64_MIN && b == -1) {
      ovf = 1;
      break;
    }
    if (a % b != 0) {
      report_inexact(c, a, b, span);
      return poison();
    }
    r = a / b;
    break;
  default:
    chk_error(c, span, "'%c' needs tensor operands", op);
    return poison();
  }
  if (ovf) {
    chk_error(c, span, "integer overflow in constant expression");
    return poison();
  }
  return (value){ .kind = V_INT, .i = r, .span = span };
}

static value fold_float(checker *c, int op, double a, double b, mlg_span span) {
  double r;
  switch (op) {
  case '+': r = a + b; break;
  case '-': r = a - b; break;
  case '*': r = a * b; break;
  case '/': r = a / b; break;
  default:
    chk_error(c, span, "'%c' needs tensor operands", op);
    return poison();
  }
  return (value){ .kind = V_FLOAT, .f = r, .span = span };
}

/* ---- tensors ---------------------------------------------------------------------------- */

/* The range of an integer dtype as mlg computes it (i64 as i32). */
static void int_range(mlg_ir_dtype dtype, int64_t *lo, int64_t *hi) {
  switch (dtype) {
  case MLG_I8: *lo = -128; *hi = 127; break;
  case MLG_U8: *lo = 0; *hi = 255; break;
  default: *lo = INT32_MIN; *hi = INT32_MAX; break;
  }
}

/* "an i32", "a bool". */
static const char *with_article(mlg_ir_dtype dtype, char *buf, size_t cap) {
  const char *n = mlg_dtype_name(dtype);
  snprintf(buf, cap, "%s %s", n[0] == 'i' || n[0] == 'f' ? "an" : "a", n);
  return buf;
}

int chk_store_number(checker *c, const value *v, mlg_ir_dtype dtype, const char *why, void *data,
                     int64_t pos) {
  char got[256], a_type[16];
  with_article(dtype, a_type, sizeof a_type);
  if (v->kind != V_INT && v->kind != V_FLOAT) {
    chk_describe(c, v, got, sizeof got);
    chk_error(c, v->span, "%s value must be a number, got %s", a_type, got);
    return -1;
  }
  double x = v->kind == V_INT ? (double)v->i : v->f;
  if (dtype == MLG_BOOL) {
    if (v->kind != V_INT || (v->i != 0 && v->i != 1)) {
      chk_describe(c, v, got, sizeof got);
      chk_error(c, v->span, "a bool value must be true or false (or 1, 0), got %s%s", got, why);
      return -1;
    }
  } else if (mlg_dtype_is_int(dtype)) {
    int64_t lo, hi;
    int_range(dtype, &lo, &hi);
    chk_describe(c, v, got, sizeof got);
    if (v->kind != V_INT && why[0]) {
      chk_error(c, v->span, "%s is not %s value%s; write an integer, or convert the tensor with "
                "cast(..., dtype=f32)", got, a_type, why);
      return -1;
    }
    if (v->kind != V_INT) {
      chk_error(c, v->span, "%s value must be an integer, got %s", a_type, got);
      return -1;
    }
    if (v->i < lo || v->i > hi) {
      chk_error(c, v->span, "%s does not fit in %s (%lld to %lld%s)%s", got, mlg_dtype_name(dtype),
                (long long)lo, (long long)hi, dtype == MLG_I64 ? ": mlg computes i64 as i32" : "",
                why);
      return -1;
    }
  } else if (dtype == MLG_F16 && isfinite(x) && fabs(x) >= 65520.0) {
    chk_describe(c, v, got, sizeof got);
    chk_error(c, v->span, "%s is beyond the range of f16 (at most 65504 in magnitude)%s", got, why);
    return -1;
  }
  mlg_data_set(dtype, data, pos, x);
  return 0;
}

int chk_as_tensor(checker *c, value *v) {
  if (v->kind == V_TENSOR) return v->node;
  if (v->kind == V_INT || v->kind == V_FLOAT) {
    mlg_node n = { .kind = MLG_NODE_CONST, .span = v->span };
    n.type = (mlg_type){ .dtype = v->dtype, .rank = 0 };
    unsigned char data[8];
    /* A number that took the dtype of the tensors it meets says so when it does not fit. */
    const char *why = v->typed || v->dtype == MLG_F32 ? "" : ", the dtype of the tensor it meets";
    if (chk_store_number(c, v, v->dtype, why, data, 0)) return -1;
    n.data = data;
    int id = chk_add_node(c, &n);
    if (id < 0) return -1;
    *v = (value){ .kind = V_TENSOR, .node = id, .span = v->span };
    return id;
  }
  if (v->kind == V_LIST) chk_error(c, v->span, "expected a tensor, got a list");
  if (v->kind == V_DTYPE)
    chk_error(c, v->span, "the type name %s is not a tensor; a type is the value of an attribute, "
              "as in cast(x, dtype=%s)", mlg_dtype_name((mlg_ir_dtype)v->i),
              mlg_dtype_name((mlg_ir_dtype)v->i));
  return -1;
}

/* Compile-time numbers given for the inputs of `def` that unify (op.h same_dtype) take the
 * dtype the other such inputs promote to, so `x + 1` with an i32 x adds an i32 1 and
 * where(m, x, 0.0) with an f16 x an f16 0. Inputs that do not mix are left for the shape rule
 * to report. */
static void adapt_numbers(checker *c, const mlg_op_def *def, value *vals, int n) {
  int have = 0;
  mlg_ir_dtype dt = MLG_F32;
  for (int i = 0; i < n && i < 32; i++) {
    if (!(def->same_dtype & (1u << i))) continue;
    const value *v = &vals[i];
    mlg_ir_dtype d;
    if (v->kind == V_TENSOR) d = c->b.graph->nodes[v->node].type.dtype;
    else if ((v->kind == V_INT || v->kind == V_FLOAT) && v->typed) d = v->dtype;
    else continue;
    if (!have) dt = d;
    else if (mlg_dtype_promote(dt, d, &dt) != 0) return;
    have = 1;
  }
  for (int i = 0; have && i < n && i < 32; i++)
    if ((def->same_dtype & (1u << i)) && (vals[i].kind == V_INT || vals[i].kind == V_FLOAT) &&
        !vals[i].typed)
      vals[i].dtype = dt;
}

static const mlg_type *node_type(checker *c, int id) { return &c->b.graph->nodes[id].type; }

/* Applies op `def` to tensor inputs with attributes `attrs` (n_attrs entries, already filled
 * with defaults), reporting shape errors at the call or at the named input / attribute. */
static value apply_op(checker *c, const mlg_op_def *def, const int *inputs, int n_in,
                      const mlg_span *in_spans, mlg_attr *attrs, const mlg_span *attr_spans,
                      mlg_span span) {
  mlg_type *types = mlg_arena_calloc(&c->scratch, (size_t)(n_in ? n_in : 1), sizeof *types);
  if (!types) {
    chk_oom(c);
    return poison();
  }
  for (int i = 0; i < n_in; i++) types[i] = *node_type(c, inputs[i]);
  mlg_shape_error err = { .input = -1, .attr = -1 };
  mlg_type out = { 0 };
  int rc = def->infer(types, n_in, attrs, &out, &err);
  if (rc == 0 && mlg_check_type_limits(&out, &err)) rc = -1;
  if (rc == 0 && def->check_values) {
    const void **data = mlg_arena_calloc(&c->scratch, (size_t)(n_in ? n_in : 1), sizeof *data);
    if (!data) {
      chk_oom(c);
      return poison();
    }
    for (int i = 0; i < n_in; i++) {
      const mlg_node *in = &c->b.graph->nodes[inputs[i]];
      data[i] = in->kind == MLG_NODE_CONST ? in->data : NULL;
    }
    rc = def->check_values(types, data, n_in, attrs, &err);
  }
  if (rc != 0) {
    mlg_span at = span;
    if (err.input >= 0 && err.input < n_in && in_spans) at = in_spans[err.input];
    else if (err.attr >= 0 && err.attr < def->n_attrs && attr_spans &&
             (attr_spans[err.attr].begin || attr_spans[err.attr].end))
      at = attr_spans[err.attr];
    chk_error(c, at, "%s: %s", def->name, err.msg[0] ? err.msg : "invalid arguments");
    return poison();
  }
  mlg_node n = { .kind = MLG_NODE_OP, .op = def, .type = out, .n_inputs = n_in, .inputs = inputs,
                 .span = span };
  for (int k = 0; k < def->n_attrs && k < MLG_MAX_ATTRS; k++) n.attrs[k] = attrs[k];
  int id = chk_add_node(c, &n);
  if (id < 0) return poison();
  return (value){ .kind = V_TENSOR, .node = id, .span = span };
}

static value apply_binary(checker *c, const mlg_op_def *def, value a, value b, mlg_span span) {
  value ab[2] = { a, b };
  adapt_numbers(c, def, ab, 2);
  a = ab[0];
  b = ab[1];
  int ia = chk_as_tensor(c, &a), ib = chk_as_tensor(c, &b);
  if (ia < 0 || ib < 0) return poison();
  int in[2] = { ia, ib };
  mlg_span spans[2] = { a.span, b.span };
  return apply_op(c, def, in, 2, spans, NULL, NULL, span);
}

static value eval_binary(checker *c, scope *sc, const mlg_expr *e) {
  value a = chk_eval(c, sc, e->args[0]);
  value b = chk_eval(c, sc, e->args[1]);
  if (a.kind == V_POISON || b.kind == V_POISON) return poison();
  if (a.kind == V_LIST || b.kind == V_LIST) {
    chk_error(c, a.kind == V_LIST ? a.span : b.span, "'%c' cannot take a list operand", e->op);
    return poison();
  }
  if (a.kind == V_DTYPE || b.kind == V_DTYPE) {
    chk_error(c, a.kind == V_DTYPE ? a.span : b.span, "'%c' cannot take a type name as an operand",
              e->op);
    return poison();
  }
  int scalars = a.kind != V_TENSOR && b.kind != V_TENSOR;
  if (scalars && e->op != '@') {
    value r;
    if (a.kind == V_INT && b.kind == V_INT)
      r = fold_int(c, e->op, a.i, b.i, e->span);
    else
      r = fold_float(c, e->op, a.kind == V_INT ? (double)a.i : a.f,
                     b.kind == V_INT ? (double)b.i : b.f, e->span);
    /* The result keeps a declared type of an operand (a's first). */
    const value *typed = a.typed ? &a : b.typed ? &b : NULL;
    if (r.kind != V_POISON && typed) {
      r.typed = 1;
      r.dtype = typed->dtype;
    }
    return r;
  }
  const mlg_op_def *def = mlg_op_for_operator((char)e->op, 2);
  if (!def) {
    chk_error(c, e->span, "unknown operator '%c'", e->op);
    return poison();
  }
  return apply_binary(c, def, a, b, e->span);
}

static value eval_unary(checker *c, scope *sc, const mlg_expr *e) {
  value a = chk_eval(c, sc, e->args[0]);
  if (a.kind == V_POISON) return a;
  const mlg_op_def *def = mlg_op_for_operator((char)e->op, 1);
  if (e->op != '-' || !def) {
    chk_error(c, e->span, "unknown unary operator '%c'", e->op);
    return poison();
  }
  switch (a.kind) {
  case V_INT:
    if (a.i == INT64_MIN) {
      chk_error(c, e->span, "integer overflow in constant expression");
      return poison();
    }
    a.i = -a.i;
    a.span = e->span;
    return a;
  case V_FLOAT:
    a.f = -a.f;
    a.span = e->span;
    return a;
  case V_TENSOR: {
    int in[1] = { a.node };
    mlg_span spans[1] = { a.span };
    return apply_op(c, def, in, 1, spans, NULL, NULL, e->span);
  }
  default:
    chk_error(c, e->span, "unary '-' cannot take %s", a.kind == V_DTYPE ? "a type name" : "a list");
    return poison();
  }
}

static value eval_name(checker *c, scope *sc, const mlg_expr *e) {
  int hidden = 0;
  symbol *s = scope_lookup(sc, e->text, &hidden);
  if (s) {
    value v = s->val;
    v.span = e->span;
    return v;
  }
  if (hidden) {
    chk_error(c, e->span, "'%s' is not visible inside fn '%s'; pass it as an argument", e->text,
              sc->fn ? sc->fn->name : "?");
    return poison();
  }
  if (chk_find_fn(c, e->text)) {
    chk_error(c, e->span, "'%s' is a fn; call it as %s(...)", e->text, e->text);
    return poison();
  }
  chk_unknown_name(c, sc, e->text, e->span);
  return poison();
}

static value eval_list(checker *c, scope *sc, const mlg_expr *e) {
  value *items = mlg_arena_calloc(&c->scratch, (size_t)(e->n_args ? e->n_args : 1), sizeof *items);
  if (!items) {
    chk_oom(c);
    return poison();
  }
  int bad = 0;
  for (int i = 0; i < e->n_args; i++) {
    items[i] = chk_eval(c, sc, e->args[i]);
    if (items[i].kind == V_POISON) bad = 1;
  }
  if (bad) return poison();
  return (value){ .kind = V_LIST, .n = e->n_args, .items = items, .span = e->span };
}

/* ---- attributes ------------------------------------------------------------------------- */

/* Converts v into an attribute of kind `kind`; 0, or -1 (reported or poison). */
static int to_attr(checker *c, const mlg_op_def *def, const mlg_attr_def *ad, const value *v,
                   mlg_attr *out) {
  if (v->kind == V_POISON) return -1;
  mlg_attr a = { .kind = ad->kind };
  switch (ad->kind) {
  case MLG_ATTR_INT:
    if (v->kind != V_INT) break;
    a.n = 1;
    a.ints[0] = v->i;
    *out = a;
    return 0;
  case MLG_ATTR_FLOAT:
    if (v->kind == V_INT) a.f = (double)v->i;
    else if (v->kind == V_FLOAT) a.f = v->f;
    else break;
    a.n = 1;
    *out = a;
    return 0;
  case MLG_ATTR_INTS:
  case MLG_ATTR_FLOATS: {
    /* A list, or one value taken as a list of one. */
    int floats = ad->kind == MLG_ATTR_FLOATS;
    const value *items = v->kind == V_LIST ? v->items : v;
    int n = v->kind == V_LIST ? v->n : 1;
    if (v->kind != V_LIST && v->kind != V_INT && !(floats && v->kind == V_FLOAT)) break;
    if (n > MLG_MAX_ATTR_INTS) {
      chk_error(c, v->span, "%s: attribute '%s' has %d values (at most %d)", def->name, ad->name,
                n, MLG_MAX_ATTR_INTS);
      return -1;
    }
    for (int i = 0; i < n; i++) {
      vkind k = items[i].kind;
      if (k != V_INT && !(floats && k == V_FLOAT)) {
        chk_error(c, items[i].span, "%s: attribute '%s' expects %s, got %s", def->name, ad->name,
                  floats ? "numbers" : "integers", kind_name(k));
        return -1;
      }
      if (floats) a.floats[i] = k == V_INT ? (double)items[i].i : items[i].f;
      else a.ints[i] = items[i].i;
    }
    a.n = n;
    *out = a;
    return 0;
  }
  case MLG_ATTR_DTYPE:
    if (v->kind != V_DTYPE) break;
    a.n = 1;
    a.ints[0] = v->i;
    *out = a;
    return 0;
  case MLG_ATTR_ENUM: /* a bare name, read by enum_attr before any evaluation */
  case MLG_ATTR_NONE:
    break;
  }
  const char *want = ad->kind == MLG_ATTR_INT      ? "an integer"
                     : ad->kind == MLG_ATTR_FLOAT  ? "a number"
                     : ad->kind == MLG_ATTR_FLOATS ? "a number or a list of numbers"
                     : ad->kind == MLG_ATTR_DTYPE  ? "a type name (f32, f16, i32, i64, i8, u8 or bool)"
                                                   : "an integer or a list of integers";
  char got[256];
  chk_describe(c, v, got, sizeof got);
  if (v->kind == V_TENSOR)
    chk_error(c, v->span, "%s: attribute '%s' expects %s known at compile time, got %s",
              def->name, ad->name, want, got);
  else
    chk_error(c, v->span, "%s: attribute '%s' expects %s, got %s", def->name, ad->name, want, got);
  return -1;
}

static const char *suggest_attr(const mlg_op_def *def, const char *name) {
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; i < def->n_attrs; i++) {
    int d = mlg_suggest_distance(name, def->attrs[i].name);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = def->attrs[i].name;
    }
  }
  return best;
}

/* The attribute a keyword argument names: its own name, or for `dim` (PyTorch's name), the op's
 * `axis`, else its `axes`. -1 when the op has no such attribute. */
static int attr_index(const mlg_op_def *def, const char *name) {
  int k = mlg_op_attr_index(def, name);
  if (k >= 0 || strcmp(name, "dim") != 0) return k;
  k = mlg_op_attr_index(def, "axis");
  return k >= 0 ? k : mlg_op_attr_index(def, "axes");
}

/* "none, tanh" into buf: the names an ENUM attribute takes. */
static void choice_list(const mlg_attr_def *ad, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; ad->choices && ad->choices[i] && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", ad->choices[i]);
}

/* An ENUM attribute: the expression must be a bare identifier naming one of its choices (it is
 * never looked up as a binding: `mode=reflect` names the choice even where a value is called
 * `reflect`). Fills *out with the choice's index; 0, or -1 (reported). */
static int enum_attr(checker *c, const mlg_op_def *def, const mlg_attr_def *ad, const mlg_expr *e,
                     mlg_attr *out) {
  char names[160];
  choice_list(ad, names, sizeof names);
  if (e->kind != MLG_EXPR_NAME) {
    chk_error(c, e->span, "%s: attribute '%s' expects one of %s, written as a bare name "
              "(%s=%s)", def->name, ad->name, names, ad->name, ad->choices[0]);
    return -1;
  }
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; ad->choices[i]; i++) {
    if (strcmp(ad->choices[i], e->text) == 0) {
      *out = (mlg_attr){ .kind = MLG_ATTR_ENUM, .n = 1, .ints = { i } };
      return 0;
    }
    int d = mlg_suggest_distance(e->text, ad->choices[i]);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = ad->choices[i];
    }
  }
  if (best)
    chk_error(c, e->span, "%s: attribute '%s' is one of %s, not '%s'; did you mean '%s'?",
              def->name, ad->name, names, e->text, best);
  else
    chk_error(c, e->span, "%s: attribute '%s' is one of %s, not '%s'", def->name, ad->name,
              names, e->text);
  return -1;
}

/* ---- op calls --------------------------------------------------------------------------- */

/* Other frameworks' names of mlg's types, for a type attribute given one of them. */
static const char *const foreign_types[][2] = {
  {"float32", "f32"}, {"float", "f32"}, {"float16", "f16"}, {"half", "f16"}, {"int32", "i32"},
  {"int", "i32"}, {"int64", "i64"}, {"long", "i64"}, {"int8", "i8"}, {"uint8", "u8"},
  {"bool_", "bool"}, {"boolean", "bool"},
};

/* An attribute's value; an integer attribute is an integer-only context. */
static value eval_attr_value(checker *c, scope *sc, const mlg_op_def *def,
                             const mlg_attr_def *ad, const mlg_expr *e) {
  int hidden;
  if (ad->kind == MLG_ATTR_DTYPE && e->kind == MLG_EXPR_NAME && !scope_lookup(sc, e->text, &hidden)) {
    for (size_t i = 0; i < sizeof foreign_types / sizeof foreign_types[0]; i++)
      if (strcmp(e->text, foreign_types[i][0]) == 0) {
        chk_error(c, e->span, "%s: attribute '%s': '%s' is not an mlg type; write %s", def->name,
                  ad->name, e->text, foreign_types[i][1]);
        return poison();
      }
  }
  int_ctx ctx = { .kind = ICTX_ATTR, .name = ad->name, .op = def->name };
  int ints = ad->kind == MLG_ATTR_INT || ad->kind == MLG_ATTR_INTS;
  const int_ctx *saved = c->ictx;
  c->ictx = ints ? &ctx : NULL;
  value v = chk_eval(c, sc, e);
  c->ictx = saved;
  return v;
}

static value eval_op_call(checker *c, scope *sc, const mlg_expr *e, const mlg_op_def *def) {
  int bad = 0;
  if (e->as_prefix) {
    chk_error(c, e->as_span, "'as' names the parameters of a fn call; '%s' is an op", def->name);
    bad = 1;
  }
  int n_pos = e->n_args;
  int max_in = def->list_input ? 1 : def->max_inputs;
  int n_tensor_args = n_pos < max_in ? n_pos : max_in;
  if (n_pos > max_in + def->n_attrs) {
    chk_error(c, e->args[max_in + def->n_attrs]->span,
              "%s: too many arguments (at most %d)", def->name, max_in + def->n_attrs);
    return poison();
  }
  /* Tensor inputs. */
  int cap = def->list_input ? def->max_inputs : n_tensor_args;
  int *inputs = mlg_arena_calloc(&c->scratch, (size_t)(cap ? cap : 1), sizeof *inputs);
  mlg_span *in_spans = mlg_arena_calloc(&c->scratch, (size_t)(cap ? cap : 1), sizeof *in_spans);
  mlg_attr *attrs = mlg_arena_calloc(&c->scratch, MLG_MAX_ATTRS, sizeof *attrs);
  mlg_span *attr_spans = mlg_arena_calloc(&c->scratch, MLG_MAX_ATTRS, sizeof *attr_spans);
  if (!inputs || !in_spans || !attrs || !attr_spans) {
    chk_oom(c);
    return poison();
  }
  int n_in = 0;
  if (def->list_input) {
    if (n_pos >= 1) {
      value lv = chk_eval(c, sc, e->args[0]);
      if (lv.kind == V_LIST) {
        if (lv.n > def->max_inputs) {
          chk_error(c, lv.span, "%s: too many inputs (%d; at most %d)", def->name, lv.n,
                    def->max_inputs);
          bad = 1;
        }
        for (int i = 0; i < lv.n && i < def->max_inputs; i++) {
          int id = chk_as_tensor(c, &lv.items[i]);
          if (id < 0) bad = 1;
          in_spans[n_in] = lv.items[i].span;
          inputs[n_in++] = id;
        }
      } else if (lv.kind == V_POISON) {
        bad = 1;
      } else {
        chk_error(c, lv.span, "%s: the first argument must be a list of tensors, as in %s([a, b], ...)",
                  def->name, def->name);
        bad = 1;
      }
    }
  } else {
    value *vals = mlg_arena_calloc(&c->scratch, (size_t)(cap ? cap : 1), sizeof *vals);
    if (!vals) {
      chk_oom(c);
      return poison();
    }
    for (int i = 0; i < n_tensor_args; i++) vals[i] = chk_eval(c, sc, e->args[i]);
    adapt_numbers(c, def, vals, n_tensor_args);
    for (int i = 0; i < n_tensor_args; i++) {
      int id = chk_as_tensor(c, &vals[i]);
      if (id < 0) bad = 1;
      in_spans[n_in] = e->args[i]->span;
      inputs[n_in++] = id;
    }
  }
  /* Attributes: defaults, then positional, then keywords. */
  int given[MLG_MAX_ATTRS] = { 0 };
  for (int k = 0; k < def->n_attrs; k++) attrs[k] = def->attrs[k].deflt;
  for (int i = max_in; i < n_pos; i++) {
    int k = i - max_in;
    if (def->attrs[k].kind == MLG_ATTR_ENUM) {
      if (enum_attr(c, def, &def->attrs[k], e->args[i], &attrs[k])) bad = 1;
    } else {
      value v = eval_attr_value(c, sc, def, &def->attrs[k], e->args[i]);
      if (to_attr(c, def, &def->attrs[k], &v, &attrs[k])) bad = 1;
    }
    given[k] = 1;
    attr_spans[k] = e->args[i]->span;
  }
  for (int j = 0; j < e->n_kwargs; j++) {
    const mlg_kwarg *kw = &e->kwargs[j];
    int k = attr_index(def, kw->name);
    int is_enum = k >= 0 && def->attrs[k].kind == MLG_ATTR_ENUM;
    value v = k < 0     ? chk_eval(c, sc, kw->value)
              : is_enum ? poison()
                        : eval_attr_value(c, sc, def, &def->attrs[k], kw->value);
    if (k < 0) {
      const char *hint = suggest_attr(def, kw->name);
      if (hint)
        chk_error(c, kw->name_span, "%s: unknown attribute '%s'; did you mean '%s'?", def->name,
                  kw->name, hint);
      else if (def->n_attrs == 0)
        chk_error(c, kw->name_span, "%s: unknown attribute '%s' (%s takes no attributes)",
                  def->name, kw->name, def->name);
      else
        chk_error(c, kw->name_span, "%s: unknown attribute '%s'", def->name, kw->name);
      bad = 1;
      continue;
    }
    if (given[k]) {
      if (strcmp(kw->name, def->attrs[k].name) != 0)
        chk_error(c, kw->name_span, "%s: attribute '%s' is given twice ('%s' is another name for it)",
                  def->name, def->attrs[k].name, kw->name);
      else
        chk_error(c, kw->name_span, "%s: attribute '%s' is given twice", def->name, kw->name);
      bad = 1;
      continue;
    }
    given[k] = 1;
    attr_spans[k] = kw->value->span;
    if (is_enum ? enum_attr(c, def, &def->attrs[k], kw->value, &attrs[k])
                : to_attr(c, def, &def->attrs[k], &v, &attrs[k]))
      bad = 1;
  }
  if (bad) return poison();
  if (n_in < def->min_inputs) {
    if (def->min_inputs == def->max_inputs)
      chk_error(c, e->span, "%s: expected %d input%s, got %d", def->name, def->min_inputs,
                def->min_inputs == 1 ? "" : "s", n_in);
    else
      chk_error(c, e->span, "%s: expected at least %d inputs, got %d", def->name, def->min_inputs,
                n_in);
    return poison();
  }
  for (int k = 0; k < def->n_attrs; k++) {
    if (def->attrs[k].required && !given[k]) {
      chk_error(c, e->span, "%s: missing required attribute '%s'", def->name, def->attrs[k].name);
      return poison();
    }
  }
  return apply_op(c, def, inputs, n_in, in_spans, attrs, attr_spans, e->span);
}

/* causal_mask(n): f32[n, n], 0 on and below the diagonal, -1e9 above. */
static value eval_causal_mask(checker *c, scope *sc, const mlg_expr *e) {
  if (e->n_args != 1 || e->n_kwargs != 0) {
    chk_error(c, e->span, "causal_mask takes one argument, the size n");
    return poison();
  }
  int_ctx ctx = { .kind = ICTX_OTHER, .name = "the size of causal_mask" };
  c->ictx = &ctx;
  value v = chk_eval(c, sc, e->args[0]);
  c->ictx = NULL;
  int64_t n;
  if (chk_as_int(c, &v, "the size of causal_mask", &n)) return poison();
  if (n < 1 || n > 4096) {
    chk_error(c, v.span, "causal_mask: size %lld is out of range [1, 4096]", (long long)n);
    return poison();
  }
  float *data = malloc((size_t)(n * n) * sizeof *data);
  if (!data) {
    chk_oom(c);
    return poison();
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) data[i * n + j] = j > i ? -1e9f : 0.0f;
  mlg_node node = { .kind = MLG_NODE_CONST, .span = e->span, .data = data,
                    .type = { .dtype = MLG_F32, .rank = 2, .dims = { n, n } } };
  int id = chk_add_node(c, &node);
  free(data);
  if (id < 0) return poison();
  return (value){ .kind = V_TENSOR, .node = id, .span = e->span };
}

static const char *const builtins[] = { "causal_mask", "zeros", "ones", "normal", "uniform" };

/* A call's inputs and a fn's body are not integer-only contexts, even inside one (an attribute
 * of its own says so again). */
static value eval_call_any(checker *c, scope *sc, const mlg_expr *e);

static value eval_call(checker *c, scope *sc, const mlg_expr *e) {
  const int_ctx *saved = c->ictx;
  c->ictx = NULL;
  value v = eval_call_any(c, sc, e);
  c->ictx = saved;
  return v;
}

static value eval_call_any(checker *c, scope *sc, const mlg_expr *e) {
  fn_entry *fe = chk_find_fn(c, e->text);
  if (fe) return chk_call_fn(c, sc, e, fe);
  const mlg_op_def *def = mlg_op_find(e->text);
  if (def) return eval_op_call(c, sc, e, def);
  if (strcmp(e->text, "causal_mask") == 0) return eval_causal_mask(c, sc, e);
  for (size_t i = 1; i < sizeof builtins / sizeof builtins[0]; i++) {
    if (strcmp(e->text, builtins[i]) == 0) {
      chk_error(c, e->name_span, "'%s' is a param initializer: param NAME : TYPE = %s%s",
                e->text, e->text, i <= 2 ? "" : "(...)");
      return poison();
    }
  }
  /* Another framework's name for an op, unless the model has a fn of that name. */
  const char *foreign = mlg_op_foreign(e->text);
  if (foreign) {
    chk_error(c, e->name_span, "unknown op '%s'; in mlg it is %s", e->text, foreign);
    for (int i = 0; i < e->n_args; i++) chk_eval(c, sc, e->args[i]);
    return poison();
  }
  /* Nearest op, fn or builtin name. */
  const char *best = mlg_op_suggest(e->text);
  int best_d = best ? mlg_suggest_distance(e->text, best) : 3;
  for (int i = 0; i < c->n_fns; i++) {
    int d = mlg_suggest_distance(e->text, c->fns[i].fn->name);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = c->fns[i].fn->name;
    }
  }
  int d_mask = mlg_suggest_distance(e->text, builtins[0]);
  if (d_mask >= 0 && d_mask < best_d) best = builtins[0];
  if (best) chk_error(c, e->name_span, "unknown op '%s'; did you mean '%s'?", e->text, best);
  else chk_error(c, e->name_span, "unknown op '%s'", e->text);
  for (int i = 0; i < e->n_args; i++) chk_eval(c, sc, e->args[i]);
  return poison();
}

value chk_eval(checker *c, scope *sc, const mlg_expr *e) {
  if (!e || c->oom || c->too_big) return poison();
  if (c->depth >= CHECK_MAX_DEPTH) {
    chk_error(c, e->span, "expression nested too deeply");
    return poison();
  }
  c->depth++;
  value v = poison();
  switch (e->kind) {
  case MLG_EXPR_INT:
  case MLG_EXPR_BOOL: v = (value){ .kind = V_INT, .i = e->int_value, .span = e->span }; break;
  case MLG_EXPR_FLOAT: v = (value){ .kind = V_FLOAT, .f = e->float_value, .span = e->span }; break;
  case MLG_EXPR_NAME: v = eval_name(c, sc, e); break;
  case MLG_EXPR_UNARY: v = eval_unary(c, sc, e); break;
  case MLG_EXPR_BINARY: v = eval_binary(c, sc, e); break;
  case MLG_EXPR_CALL: v = eval_call(c, sc, e); break;
  case MLG_EXPR_LIST: v = eval_list(c, sc, e); break;
  case MLG_EXPR_DTYPE: v = (value){ .kind = V_DTYPE, .i = e->int_value, .span = e->span }; break;
  }
  c->depth--;
  return v;
}

/* ---- types and tensor literals ---------------------------------------------------------- */

int chk_eval_type(checker *c, scope *sc, const mlg_ast_type *t, mlg_type *out) {
  if (t->rank > MLG_MAX_RANK || t->rank < 0) {
    chk_error(c, t->span, "rank %d exceeds the limit of %d", t->rank, MLG_MAX_RANK);
    return -1;
  }
  mlg_type r = { .dtype = (mlg_ir_dtype)t->dtype, .rank = t->rank }; /* numbered alike (ast.h) */
  int bad = 0;
  int_ctx ctx = { .kind = ICTX_TYPE, .span = t->span };
  for (int i = 0; i < t->rank; i++) {
    const int_ctx *saved = c->ictx;
    c->ictx = &ctx;
    value v = chk_eval(c, sc, t->dims[i].value);
    c->ictx = saved;
    int64_t d;
    if (chk_as_int(c, &v, "a dimension", &d)) {
      bad = 1;
      continue;
    }
    if (d < 1 || d > MLG_DIM_LIMIT) {
      chk_error(c, v.span, "dimension %lld is out of range [1, %lld]", (long long)d,
                (long long)MLG_DIM_LIMIT);
      bad = 1;
      continue;
    }
    r.dims[i] = d;
  }
  if (bad) return -1;
  int64_t numel = mlg_type_numel(&r);
  if (numel < 0 || numel >= MLG_NUMEL_LIMIT) {
    chk_error(c, t->span, "tensor type has too many elements (limit 2^40)");
    return -1;
  }
  *out = r;
  return 0;
}

/* Shape of a nested literal list: follows the first element down, then checks every
 * sub-list against it. */
static int literal_shape(checker *c, const value *v, mlg_type *shape) {
  const value *cur = v;
  shape->rank = 0;
  while (cur->kind == V_LIST) {
    if (cur->n == 0) {
      chk_error(c, cur->span, "empty tensor literal");
      return -1;
    }
    if (shape->rank >= MLG_MAX_RANK) {
      chk_error(c, v->span, "tensor literal nests deeper than %d", MLG_MAX_RANK);
      return -1;
    }
    shape->dims[shape->rank++] = cur->n;
    cur = &cur->items[0];
  }
  return 0;
}

static int literal_fill(checker *c, const value *v, const mlg_type *shape, int depth,
                        mlg_ir_dtype dtype, void *data, int64_t *pos) {
  if (depth == shape->rank) {
    if (v->kind != V_INT && v->kind != V_FLOAT) {
      chk_error(c, v->span, "tensor literal elements must be numbers, got %s", kind_name(v->kind));
      return -1;
    }
    return chk_store_number(c, v, dtype, "", data, (*pos)++);
  }
  if (v->kind != V_LIST || v->n != shape->dims[depth]) {
    if (v->kind == V_LIST)
      chk_error(c, v->span, "inconsistent tensor literal: expected %lld elements here, got %d",
                (long long)shape->dims[depth], v->n);
    else
      chk_error(c, v->span, "inconsistent tensor literal: expected a list of %lld elements here",
                (long long)shape->dims[depth]);
    return -1;
  }
  for (int i = 0; i < v->n; i++)
    if (literal_fill(c, &v->items[i], shape, depth + 1, dtype, data, pos)) return -1;
  return 0;
}

int chk_const_from_value(checker *c, const value *v, const mlg_type *declared, mlg_span span) {
  mlg_type t;
  if (v->kind == V_LIST) {
    if (literal_shape(c, v, &t)) return -1;
    t.dtype = declared ? declared->dtype : MLG_F32;
    if (declared && !mlg_type_equal(&t, declared)) {
      char a[128], b[128];
      chk_error(c, v->span, "tensor literal has shape %s but the declared type is %s",
                mlg_type_format(&t, a, sizeof a), mlg_type_format(declared, b, sizeof b));
      return -1;
    }
  } else if ((v->kind == V_INT || v->kind == V_FLOAT) && declared) {
    t = *declared;
  } else {
    return -1;
  }
  int64_t numel = mlg_type_numel(&t);
  if (numel < 0 || numel > CHECK_CONST_LIMIT) {
    chk_error(c, span, "constant has too many elements (limit %d)", CHECK_CONST_LIMIT);
    return -1;
  }
  size_t esize = (size_t)mlg_dtype_size(t.dtype);
  void *data = calloc((size_t)(numel ? numel : 1), esize);
  if (!data) {
    chk_oom(c);
    return -1;
  }
  int rc = 0;
  if (v->kind == V_LIST) {
    int64_t pos = 0;
    rc = literal_fill(c, v, &t, 0, t.dtype, data, &pos);
  } else {
    rc = chk_store_number(c, v, t.dtype, "", data, 0);
    for (int64_t i = 1; rc == 0 && i < numel; i++)
      memcpy((char *)data + (size_t)i * esize, data, esize);
  }
  int id = -1;
  if (rc == 0) {
    mlg_node n = { .kind = MLG_NODE_CONST, .type = t, .data = data, .span = span };
    id = chk_add_node(c, &n);
  }
  free(data);
  return id;
}

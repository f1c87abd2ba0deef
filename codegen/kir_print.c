/* kir_print.c — the shared walk of both kernel printers (see kir_print.h). */
#include "kir_print.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* C precedence levels (higher binds tighter). */
enum {
  PREC_SELECT = 3, PREC_OR = 4, PREC_AND = 5, PREC_XOR = 7, PREC_EQ = 9, PREC_REL = 10, PREC_ADD = 12,
  PREC_MUL = 13, PREC_UNARY = 15, PREC_ATOM = 17
};

void kir_print_indent(kir_printer *p) {
  for (int i = 0; i < p->indent; i++) fputs("  ", p->out);
}

void kir_print_float(kir_printer *p, double v) {
  float f = (float)v;
  if (isnan(f)) {
    fputs(p->d->nan, p->out);
    return;
  }
  if (isinf(f)) {
    if (f < 0) fputc('-', p->out);
    fputs(p->d->inf, p->out);
    return;
  }
  char buf[48];
  /* Shortest of %.6g..%.9g that reads back as the same float: exact and readable. */
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(buf, sizeof(buf), "%.*g", digits, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  if (!strpbrk(buf, ".en")) strcat(buf, ".0");
  fprintf(p->out, "%s%s", buf, p->d->float_suffix);
}

static int binop_prec(kir_binop op) {
  switch (op) {
  case KIR_ADD: case KIR_SUB: return PREC_ADD;
  case KIR_MUL: case KIR_DIV: case KIR_MOD: return PREC_MUL;
  case KIR_LT: case KIR_LE: case KIR_GT: case KIR_GE: return PREC_REL;
  case KIR_EQ: case KIR_NE: return PREC_EQ;
  case KIR_AND: return PREC_AND;
  case KIR_OR: return PREC_OR;
  case KIR_XOR: return PREC_XOR;
  default: return PREC_ATOM; /* function-call spelled */
  }
}

static const char *binop_token(kir_binop op) {
  static const char *const tok[] = {
    [KIR_ADD] = "+", [KIR_SUB] = "-", [KIR_MUL] = "*", [KIR_DIV] = "/", [KIR_MOD] = "%",
    [KIR_LT] = "<", [KIR_LE] = "<=", [KIR_GT] = ">", [KIR_GE] = ">=", [KIR_EQ] = "==",
    [KIR_NE] = "!=", [KIR_AND] = "&&", [KIR_OR] = "||", [KIR_XOR] = "^"};
  return tok[op];
}

static int expr_prec(const kir_expr *e) {
  switch (e->kind) {
  case KIR_E_CONST_F: return e->f < 0 || signbit(e->f) ? PREC_UNARY : PREC_ATOM;
  case KIR_E_CONST_I: return e->i < 0 ? PREC_UNARY : PREC_ATOM;
  case KIR_E_UNARY: return (e->op == KIR_NEG || e->op == KIR_NOT) ? PREC_UNARY : PREC_ATOM;
  case KIR_E_BINARY: return binop_prec((kir_binop)e->op);
  case KIR_E_SELECT: return PREC_SELECT;
  case KIR_E_VECTOR: return PREC_UNARY; /* (float4)(...).s0 would take .s0 of the list */
  default: return PREC_ATOM;
  }
}

static void print_call2(kir_printer *p, const char *fn, const kir_expr *a, const kir_expr *b) {
  fprintf(p->out, "%s(", fn);
  kir_print_expr(p, a);
  fputs(", ", p->out);
  kir_print_expr(p, b);
  fputc(')', p->out);
}

static void print_expr_inner(kir_printer *p, const kir_expr *e) {
  FILE *out = p->out;
  const kir_dialect *d = p->d;
  switch (e->kind) {
  case KIR_E_CONST_F:
    kir_print_float(p, e->f);
    break;
  case KIR_E_CONST_I:
    if (e->type.scalar == KIR_BOOL)
      fputs(e->i ? "true" : "false", out);
    else if (e->i == INT32_MIN)
      fputs("(-2147483647 - 1)", out);
    else
      fprintf(out, e->type.scalar == KIR_U32 ? "%lldu" : "%lld", (long long)e->i);
    break;
  case KIR_E_VAR:
    fputs(p->k->vars[e->index].name, out);
    break;
  case KIR_E_GLOBAL_ID:
  case KIR_E_LOCAL_ID:
  case KIR_E_GROUP_ID:
    d->work_item_id(p, e->kind, e->index);
    break;
  case KIR_E_LOAD:
    d->load(p, e);
    break;
  case KIR_E_LOCAL_LOAD:
    fprintf(out, "%s[", p->k->locals[e->index].name);
    kir_print_expr(p, e->a);
    fputc(']', out);
    break;
  case KIR_E_UNARY:
    if (e->op == KIR_NEG || e->op == KIR_NOT) {
      fputc(e->op == KIR_NEG ? '-' : '!', out);
      /* `- -x` and `--x` must not appear: parenthesize any unary operand. */
      kir_print_expr_prec(p, e->a, PREC_UNARY + 1);
    } else {
      const char *fn = d->unop_fn[e->op];
      if (e->op == KIR_ABS && e->type.scalar != KIR_F32) fn = "abs";
      fprintf(out, "%s(", fn);
      kir_print_expr(p, e->a);
      fputc(')', out);
    }
    break;
  case KIR_E_BINARY: {
    kir_binop op = (kir_binop)e->op;
    int is_float = e->a->type.scalar == KIR_F32;
    if (op == KIR_MIN || op == KIR_MAX) {
      const char *fn = op == KIR_MIN ? (is_float ? d->fmin_fn : d->imin_fn)
                                     : (is_float ? d->fmax_fn : d->imax_fn);
      print_call2(p, fn, e->a, e->b);
    } else if (op == KIR_POW) {
      print_call2(p, d->pow_fn, e->a, e->b);
    } else if (op == KIR_MOD && is_float) {
      print_call2(p, d->fmod_fn, e->a, e->b);
    } else if (op == KIR_ADD && e->b->kind == KIR_E_CONST_I && e->b->i < 0 &&
               e->b->i != INT32_MIN) {
      /* e + -2 reads as e - 2 */
      kir_print_expr_prec(p, e->a, PREC_ADD);
      fprintf(out, " - %lld", -(long long)e->b->i);
    } else {
      int prec = binop_prec(op);
      kir_print_expr_prec(p, e->a, prec);
      fprintf(out, " %s ", binop_token(op));
      kir_print_expr_prec(p, e->b, prec + 1);
    }
    break;
  }
  case KIR_E_SELECT:
    kir_print_expr_prec(p, e->a, PREC_SELECT + 1);
    fputs(" ? ", out);
    kir_print_expr_prec(p, e->b, PREC_SELECT + 1);
    fputs(" : ", out);
    kir_print_expr_prec(p, e->c, PREC_SELECT);
    break;
  case KIR_E_CAST:
    d->cast(p, e->type, e->a);
    break;
  case KIR_E_BITCAST:
    d->bitcast(p, e->type, e->a);
    break;
  case KIR_E_COMPONENT:
    kir_print_expr_prec(p, e->a, PREC_ATOM);
    fprintf(out, d->component_fmt, e->index);
    break;
  case KIR_E_SWIZZLE:
    kir_print_expr_prec(p, e->a, PREC_ATOM);
    fprintf(out, ".%s", d->swizzle_prefix);
    for (int i = 0; i < e->type.width; i++) fputc(d->swizzle_lanes[e->index + i * e->i], out);
    break;
  case KIR_E_VECTOR: {
    char buf[32];
    const kir_expr *parts[4] = {e->a, e->b, e->c, e->d};
    fprintf(out, d->vector_ctor_is_cast ? "(%s)(" : "%s(", d->type_name(e->type, buf, sizeof buf));
    for (int i = 0; i < e->type.width; i++) {
      if (i) fputs(", ", out);
      kir_print_expr(p, parts[i]);
    }
    fputc(')', out);
    break;
  }
  case KIR_E_SUBGROUP:
  case KIR_E_SUBGROUP_REDUCE:
    if (d->subgroup) d->subgroup(p, e);
    break;
  case KIR_E_LOAD_BITS:
  case KIR_E_LOCAL_LOAD_BITS:
    d->load_bits(p, e);
    break;
  case KIR_E_DOT4X8:
    d->dot4x8(p, e);
    break;
  case KIR_E_LOAD_PACKED:
    d->load_packed(p, e);
    break;
  case KIR_E_FRAG_ELEM:
  case KIR_E_LANE_XOR:
    if (d->frag_expr) d->frag_expr(p, e);
    break;
  }
}

void kir_print_expr_prec(kir_printer *p, const kir_expr *e, int min_prec) {
  int paren = expr_prec(e) < min_prec;
  if (paren) fputc('(', p->out);
  print_expr_inner(p, e);
  if (paren) fputc(')', p->out);
}

void kir_print_expr(kir_printer *p, const kir_expr *e) { kir_print_expr_prec(p, e, 0); }

static void print_block(kir_printer *p, kir_stmt *const *body, int n);

/* `if (c) { ... }` with else and flat else-if chains; leaves the cursor after the last `}`. */
static void print_if(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  fputs("if (", out);
  kir_print_expr(p, s->cond);
  fputs(") {\n", out);
  print_block(p, s->body, s->n_body);
  kir_print_indent(p);
  fputc('}', out);
  if (s->n_else == 1 && s->else_body[0]->kind == KIR_S_IF) {
    fputs(" else ", out);
    print_if(p, s->else_body[0]);
  } else if (s->n_else > 0) {
    fputs(" else {\n", out);
    print_block(p, s->else_body, s->n_else);
    kir_print_indent(p);
    fputc('}', out);
  }
}

static void print_stmt(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  char tbuf[32];
  if (s->kind == KIR_S_FOR && s->unroll) p->d->unroll(p, s->unroll);
  kir_print_indent(p);
  switch (s->kind) {
  case KIR_S_DECL: {
    const kir_variable *v = &p->k->vars[s->var];
    fprintf(out, "%s %s = ", p->d->type_name(v->type, tbuf, sizeof(tbuf)), v->name);
    kir_print_expr(p, s->value);
    fputs(";\n", out);
    break;
  }
  case KIR_S_ASSIGN:
    fprintf(out, "%s = ", p->k->vars[s->var].name);
    kir_print_expr(p, s->value);
    fputs(";\n", out);
    break;
  case KIR_S_STORE:
  case KIR_S_STORE_BITS:
    p->d->store(p, s);
    break;
  case KIR_S_LOCAL_STORE_BITS:
    p->d->local_store_half(p, s);
    break;
  case KIR_S_FRAG_ZERO:
  case KIR_S_FRAG_LOAD:
  case KIR_S_FRAG_MMA:
  case KIR_S_FRAG_STORE:
  case KIR_S_FRAG_SET:
  case KIR_S_FRAG_PACK:
    p->d->frag(p, s);
    break;
  case KIR_S_ASYNC_COPY:
  case KIR_S_ASYNC_COMMIT:
  case KIR_S_ASYNC_WAIT:
    p->d->async(p, s);
    break;
  case KIR_S_WG_MMA:
  case KIR_S_WG_FENCE:
  case KIR_S_WG_COMMIT:
  case KIR_S_WG_WAIT:
  case KIR_S_PROXY_FENCE:
    p->d->wg(p, s);
    break;
  case KIR_S_LOCAL_STORE:
    if (p->k->locals[s->target].elem.scalar == KIR_F16) {
      p->d->local_store_half(p, s);
      break;
    }
    fprintf(out, "%s[", p->k->locals[s->target].name);
    kir_print_expr(p, s->index);
    fputs("] = ", out);
    kir_print_expr(p, s->value);
    fputs(";\n", out);
    break;
  case KIR_S_FOR: {
    const kir_variable *v = &p->k->vars[s->var];
    fprintf(out, "for (%s %s = ", p->d->type_name(v->type, tbuf, sizeof(tbuf)), v->name);
    kir_print_expr(p, s->value);
    fprintf(out, "; %s < ", v->name);
    kir_print_expr_prec(p, s->end, PREC_REL + 1);
    int64_t step = 0;
    if (s->step->kind == KIR_E_CONST_I) step = s->step->i;
    if (step == 1) {
      fprintf(out, "; %s++) {\n", v->name);
    } else {
      fprintf(out, "; %s += ", v->name);
      kir_print_expr(p, s->step);
      fputs(") {\n", out);
    }
    print_block(p, s->body, s->n_body);
    kir_print_indent(p);
    fputs("}\n", out);
    break;
  }
  case KIR_S_IF:
    print_if(p, s);
    fputc('\n', out);
    break;
  case KIR_S_BARRIER:
    fprintf(out, "%s\n", p->d->barrier);
    break;
  case KIR_S_RETURN:
    fputs("return;\n", out);
    break;
  case KIR_S_BLOCK:
    fputs("{\n", out);
    print_block(p, s->body, s->n_body);
    kir_print_indent(p);
    fputs("}\n", out);
    break;
  }
}

static void print_block(kir_printer *p, kir_stmt *const *body, int n) {
  p->indent++;
  for (int i = 0; i < n; i++) print_stmt(p, body[i]);
  p->indent--;
}

int kir_print_kernel(const kir_dialect *d, const kir_kernel *k, FILE *out) {
  int *var_multiple = malloc(sizeof(int) * (size_t)(k->n_vars > 0 ? k->n_vars : 1));
  if (!var_multiple) return -1;
  kir_var_multiples(k, var_multiple);
  kir_printer p = {d, k, out, 0, var_multiple};
  d->kernel_begin(&p);
  print_block(&p, k->body, k->n_body);
  d->kernel_end(&p);
  free(var_multiple);
  return ferror(out) ? -1 : 0;
}

/* kir_multiple.c — which powers of two a kernel's integer expressions are known multiples of
 * (see kir.h).
 *
 * A variable's multiple is the smallest over everything that defines it: its declaration, its
 * assignments, and a loop's start and step. The definitions can read other variables (and
 * themselves), so the table starts at KIR_MULTIPLE_MAX for every integer variable and is lowered
 * until no definition lowers it further: each value a variable takes comes from one of its
 * definitions evaluated over values that, by the same argument, were multiples of what the
 * table says. Wrapping arithmetic keeps the claim: 2^32 is a multiple of every power of two
 * here. */
#include "kir.h"

static int is_int(kir_type t) { return t.width == 1 && (t.scalar == KIR_I32 || t.scalar == KIR_U32); }

static int min_int(int a, int b) { return a < b ? a : b; }

/* The largest power of two up to KIR_MULTIPLE_MAX that divides v (0 is a multiple of all). */
static int const_multiple(int64_t v) {
  int m = 1;
  while (m < KIR_MULTIPLE_MAX && v % (2 * m) == 0) m *= 2;
  return m;
}

int kir_expr_multiple(const kir_expr *e, const int *var_multiple) {
  if (!e || !is_int(e->type)) return 1;
  switch (e->kind) {
  case KIR_E_CONST_I:
    return const_multiple(e->i);
  case KIR_E_VAR:
    return var_multiple ? var_multiple[e->index] : 1;
  case KIR_E_CAST: /* between I32 and U32 the bits stay */
    return kir_expr_multiple(e->a, var_multiple);
  case KIR_E_UNARY:
    return e->op == KIR_NEG ? kir_expr_multiple(e->a, var_multiple) : 1;
  case KIR_E_SELECT:
    return min_int(kir_expr_multiple(e->b, var_multiple), kir_expr_multiple(e->c, var_multiple));
  case KIR_E_BINARY: {
    int a = kir_expr_multiple(e->a, var_multiple), b = kir_expr_multiple(e->b, var_multiple);
    switch ((kir_binop)e->op) {
    case KIR_ADD:
    case KIR_SUB:
    case KIR_MIN:
    case KIR_MAX:
    case KIR_MOD: /* a − b·trunc(a / b) */
      return min_int(a, b);
    case KIR_MUL:
      return min_int(a * b, KIR_MULTIPLE_MAX);
    default:
      return 1;
    }
  }
  default:
    return 1;
  }
}

/* Lowers var_multiple[v] to what the definitions in body allow; 1 when something changed. */
static int lower_block(kir_stmt *const *body, int n, int *var_multiple) {
  int changed = 0;
  for (int i = 0; i < n; i++) {
    const kir_stmt *s = body[i];
    if (s->kind == KIR_S_DECL || s->kind == KIR_S_ASSIGN || s->kind == KIR_S_FOR) {
      int m = kir_expr_multiple(s->value, var_multiple);
      if (s->kind == KIR_S_FOR) m = min_int(m, kir_expr_multiple(s->step, var_multiple));
      if (m < var_multiple[s->var]) {
        var_multiple[s->var] = m;
        changed = 1;
      }
    }
    changed |= lower_block(s->body, s->n_body, var_multiple);
    changed |= lower_block(s->else_body, s->n_else, var_multiple);
  }
  return changed;
}

void kir_var_multiples(const kir_kernel *k, int *out_multiple) {
  for (int v = 0; v < k->n_vars; v++) out_multiple[v] = is_int(k->vars[v].type) ? KIR_MULTIPLE_MAX : 1;
  while (lower_block(k->body, k->n_body, out_multiple)) {
  }
}

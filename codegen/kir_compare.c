/* kir_compare.c — structural equality and hashing of kernels, apart from their names, so that
 * lowering keeps one copy of kernels that several launches share (see kir.h).
 *
 * Both walk the same fields in the same order: work-group size, features, buffers, locals and
 * variables (names and types), then the statement tree with its expressions, and the fallback
 * kernel of a variant. Everything a
 * printer prints but the kernel's own name takes part, so equal kernels print the same text
 * under the same name. */
#include <string.h>

#include "kir.h"

/* ---- hashing (FNV-1a 64) ---- */

#define FNV_SEED 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t mix(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

static uint64_t mix_int(uint64_t h, int64_t v) { return mix(h, &v, sizeof v); }

static uint64_t mix_str(uint64_t h, const char *s) {
  return s ? mix(mix_int(h, (int64_t)strlen(s)), s, strlen(s)) : mix_int(h, -1);
}

static uint64_t mix_type(uint64_t h, kir_type t) { return mix_int(mix_int(h, t.scalar), t.width); }

static uint64_t hash_expr(uint64_t h, const kir_expr *e) {
  if (!e) return mix_int(h, -1);
  h = mix_int(h, e->kind);
  h = mix_type(h, e->type);
  h = mix_int(h, e->index);
  h = mix_int(h, e->op);
  h = mix(h, &e->f, sizeof e->f);
  h = mix_int(h, e->i);
  h = hash_expr(h, e->a);
  h = hash_expr(h, e->b);
  h = hash_expr(h, e->c);
  return hash_expr(h, e->d);
}

static uint64_t hash_stmts(uint64_t h, kir_stmt *const *list, int n);

static uint64_t hash_stmt(uint64_t h, const kir_stmt *s) {
  h = mix_int(h, s->kind);
  h = mix_int(h, s->var);
  h = mix_int(h, s->target);
  h = mix_int(h, s->unroll);
  h = hash_expr(h, s->index);
  h = hash_expr(h, s->value);
  h = hash_expr(h, s->end);
  h = hash_expr(h, s->step);
  h = hash_expr(h, s->cond);
  h = mix_int(mix_int(mix_int(h, s->frag), s->frag_a), s->frag_b);
  h = mix_int(mix_int(h, s->stride), s->col_major);
  for (int i = 0; i < 2; i++) {
    const kir_wg_operand *o = &s->wg[i];
    h = hash_expr(mix_int(mix_int(mix_int(mix_int(mix_int(h, o->local), o->swizzle), o->lbo), o->sbo), o->mn_major), o->index);
  }
  h = hash_stmts(h, s->body, s->n_body);
  return hash_stmts(h, s->else_body, s->n_else);
}

static uint64_t hash_stmts(uint64_t h, kir_stmt *const *list, int n) {
  h = mix_int(h, n);
  for (int i = 0; i < n; i++) h = hash_stmt(h, list[i]);
  return h;
}

uint64_t kir_kernel_hash(const kir_kernel *k) {
  uint64_t h = FNV_SEED;
  for (int d = 0; d < 3; d++) h = mix_int(h, k->local_size[d]);
  h = mix_int(h, k->features);
  h = mix_int(h, k->n_buffers);
  for (int i = 0; i < k->n_buffers; i++)
    h = mix_int(mix_type(mix_str(h, k->buffers[i].name), k->buffers[i].elem), k->buffers[i].access);
  h = mix_int(h, k->n_locals);
  for (int i = 0; i < k->n_locals; i++)
    h = mix_int(mix_type(mix_str(h, k->locals[i].name), k->locals[i].elem), k->locals[i].count);
  h = mix_int(h, k->n_vars);
  for (int i = 0; i < k->n_vars; i++) h = mix_type(mix_str(h, k->vars[i].name), k->vars[i].type);
  h = mix_int(h, k->n_frags);
  for (int i = 0; i < k->n_frags; i++) h = mix_int(mix_str(h, k->frags[i].name), k->frags[i].role);
  h = hash_stmts(h, k->body, k->n_body);
  /* a variant's fallback is part of what runs the launch */
  return k->fallback ? mix_int(h, (int64_t)kir_kernel_hash(k->fallback)) : mix_int(h, -1);
}

/* ---- equality ---- */

static int str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int type_eq(kir_type a, kir_type b) { return a.scalar == b.scalar && a.width == b.width; }

static int expr_eq(const kir_expr *a, const kir_expr *b) {
  if (a == b) return 1;
  if (!a || !b) return 0;
  return a->kind == b->kind && type_eq(a->type, b->type) && a->index == b->index && a->op == b->op &&
         memcmp(&a->f, &b->f, sizeof a->f) == 0 && a->i == b->i && expr_eq(a->a, b->a) &&
         expr_eq(a->b, b->b) && expr_eq(a->c, b->c) && expr_eq(a->d, b->d);
}

static int stmts_eq(kir_stmt *const *x, int nx, kir_stmt *const *y, int ny);

static int wg_eq(const kir_wg_operand *a, const kir_wg_operand *b) {
  return a->local == b->local && a->swizzle == b->swizzle && a->lbo == b->lbo && a->sbo == b->sbo &&
         a->mn_major == b->mn_major && expr_eq(a->index, b->index);
}

static int stmt_eq(const kir_stmt *a, const kir_stmt *b) {
  return wg_eq(&a->wg[0], &b->wg[0]) && wg_eq(&a->wg[1], &b->wg[1]) && a->kind == b->kind && a->var == b->var && a->target == b->target && a->unroll == b->unroll &&
         a->frag == b->frag && a->frag_a == b->frag_a && a->frag_b == b->frag_b &&
         a->stride == b->stride && a->col_major == b->col_major && expr_eq(a->index, b->index) && expr_eq(a->value, b->value) && expr_eq(a->end, b->end) &&
         expr_eq(a->step, b->step) && expr_eq(a->cond, b->cond) &&
         stmts_eq(a->body, a->n_body, b->body, b->n_body) &&
         stmts_eq(a->else_body, a->n_else, b->else_body, b->n_else);
}

static int stmts_eq(kir_stmt *const *x, int nx, kir_stmt *const *y, int ny) {
  if (nx != ny) return 0;
  for (int i = 0; i < nx; i++)
    if (!stmt_eq(x[i], y[i])) return 0;
  return 1;
}

int kir_kernel_equal(const kir_kernel *a, const kir_kernel *b) {
  if (a == b) return 1;
  if (memcmp(a->local_size, b->local_size, sizeof a->local_size) != 0 || a->features != b->features ||
      a->n_buffers != b->n_buffers || a->n_locals != b->n_locals || a->n_vars != b->n_vars ||
      a->n_frags != b->n_frags)
    return 0;
  for (int i = 0; i < a->n_buffers; i++)
    if (!str_eq(a->buffers[i].name, b->buffers[i].name) || !type_eq(a->buffers[i].elem, b->buffers[i].elem) ||
        a->buffers[i].access != b->buffers[i].access)
      return 0;
  for (int i = 0; i < a->n_locals; i++)
    if (!str_eq(a->locals[i].name, b->locals[i].name) || !type_eq(a->locals[i].elem, b->locals[i].elem) ||
        a->locals[i].count != b->locals[i].count)
      return 0;
  for (int i = 0; i < a->n_vars; i++)
    if (!str_eq(a->vars[i].name, b->vars[i].name) || !type_eq(a->vars[i].type, b->vars[i].type)) return 0;
  for (int i = 0; i < a->n_frags; i++)
    if (!str_eq(a->frags[i].name, b->frags[i].name) || a->frags[i].role != b->frags[i].role) return 0;
  if (!a->fallback != !b->fallback) return 0;
  if (a->fallback && !kir_kernel_equal(a->fallback, b->fallback)) return 0;
  return stmts_eq(a->body, a->n_body, b->body, b->n_body);
}

/* kir_eval.c — scalar evaluation of kir expressions with float32 / 32-bit int semantics.
 *
 * Every float operation's result is converted to float on the spot, so the arithmetic is
 * float32 even where the C compiler evaluates in wider precision (FLT_EVAL_METHOD != 0). */
#include "kir_eval.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

enum { KIR_EVAL_MAX_DEPTH = 512 };

kir_value kir_value_f32(float f) { return (kir_value){.type = KIR_F32, .f = f}; }
kir_value kir_value_i32(int32_t i) { return (kir_value){.type = KIR_I32, .i = i}; }
kir_value kir_value_u32(uint32_t u) { return (kir_value){.type = KIR_U32, .u = u}; }
kir_value kir_value_bool(int b) { return (kir_value){.type = KIR_BOOL, .i = b != 0}; }

static int32_t f32_to_i32(float f) {
  if (isnan(f)) return 0;
  if (f >= 2147483648.0f) return INT32_MAX;
  if (f < -2147483648.0f) return INT32_MIN;
  return (int32_t)f;
}

static uint32_t f32_to_u32(float f) {
  if (isnan(f) || f <= -1.0f) return 0;
  if (f >= 4294967296.0f) return UINT32_MAX;
  return (uint32_t)f;
}

static int truthy(kir_value v) {
  switch (v.type) {
  case KIR_F32: return v.f != 0.0f;
  case KIR_U32: return v.u != 0;
  default: return v.i != 0;
  }
}

kir_value kir_value_convert(kir_value v, kir_scalar to) {
  to = kir_compute_scalar(to); /* as kir_cast: storage types round where they are stored */
  if (v.type == to) return v;
  switch (to) {
  case KIR_F32:
    if (v.type == KIR_U32) return kir_value_f32((float)v.u);
    return kir_value_f32((float)v.i);
  case KIR_I32:
    if (v.type == KIR_F32) return kir_value_i32(f32_to_i32(v.f));
    if (v.type == KIR_U32) return kir_value_i32((int32_t)v.u); /* two's complement wrap */
    return kir_value_i32(v.i);
  case KIR_U32:
    if (v.type == KIR_F32) return kir_value_u32(f32_to_u32(v.f));
    return kir_value_u32((uint32_t)v.i);
  case KIR_BOOL:
    return kir_value_bool(truthy(v));
  default:
    break;
  }
  return v;
}

double kir_value_as_double(kir_value v) {
  switch (v.type) {
  case KIR_F32: return (double)v.f;
  case KIR_U32: return (double)v.u;
  default: return (double)v.i;
  }
}

static int eval(const kir_expr *e, const kir_eval_env *env, kir_value *out, int depth);

static int eval_unary(const kir_expr *e, kir_value a, kir_value *out) {
  kir_unop op = (kir_unop)e->op;
  if (op == KIR_NOT) {
    *out = kir_value_bool(!truthy(a));
    return 0;
  }
  if (a.type != KIR_F32) {
    /* Integer operands: only the ops that have an integer meaning. */
    kir_value s = kir_value_convert(a, KIR_I32);
    uint32_t u = (uint32_t)s.i;
    switch (op) {
    case KIR_NEG: *out = kir_value_i32((int32_t)(0u - u)); break;
    case KIR_ABS: *out = kir_value_i32(s.i < 0 ? (int32_t)(0u - u) : s.i); break;
    case KIR_FLOOR:
    case KIR_CEIL:
    case KIR_ROUND: *out = s; break;
    default: return -1;
    }
    *out = kir_value_convert(*out, e->type.scalar);
    return 0;
  }
  float x = a.f, r;
  switch (op) {
  case KIR_NEG: r = -x; break;
  case KIR_ABS: r = fabsf(x); break;
  case KIR_EXP: r = expf(x); break;
  case KIR_EXP2: r = exp2f(x); break;
  case KIR_LOG: r = logf(x); break;
  case KIR_SQRT: r = sqrtf(x); break;
  case KIR_RSQRT: r = (float)(1.0f / sqrtf(x)); break;
  case KIR_TANH: r = tanhf(x); break;
  case KIR_ERF: r = erff(x); break;
  case KIR_FLOOR: r = floorf(x); break;
  case KIR_CEIL: r = ceilf(x); break;
  case KIR_SIN: r = sinf(x); break;
  case KIR_COS: r = cosf(x); break;
  case KIR_TAN: r = tanf(x); break;
  case KIR_ROUND: r = rintf(x); break; /* the default rounding mode: to nearest, ties to even */
  default: return -1;
  }
  *out = kir_value_convert(kir_value_f32(r), e->type.scalar);
  return 0;
}

static int is_cmp(kir_binop op) {
  return op == KIR_LT || op == KIR_LE || op == KIR_GT || op == KIR_GE || op == KIR_EQ ||
         op == KIR_NE;
}

static int eval_float_bin(kir_binop op, float x, float y, kir_value *out) {
  float r;
  switch (op) {
  case KIR_ADD: r = x + y; break;
  case KIR_SUB: r = x - y; break;
  case KIR_MUL: r = x * y; break;
  case KIR_DIV: r = x / y; break;
  case KIR_MOD: r = fmodf(x, y); break;
  case KIR_MIN: r = fminf(x, y); break;
  case KIR_MAX: r = fmaxf(x, y); break;
  case KIR_POW: r = powf(x, y); break;
  case KIR_LT: *out = kir_value_bool(x < y); return 0;
  case KIR_LE: *out = kir_value_bool(x <= y); return 0;
  case KIR_GT: *out = kir_value_bool(x > y); return 0;
  case KIR_GE: *out = kir_value_bool(x >= y); return 0;
  case KIR_EQ: *out = kir_value_bool(x == y); return 0;
  case KIR_NE: *out = kir_value_bool(x != y); return 0;
  default: return -1;
  }
  *out = kir_value_f32((float)r);
  return 0;
}

/* The ops that only compare x and y (given as values and as x < y, x == y), shared by the
 * integer types. -1 for any other op. */
static int eval_ordered(kir_binop op, kir_value x, kir_value y, int less, int equal,
                        kir_value *out) {
  switch (op) {
  case KIR_MIN: *out = less ? x : y; return 0;
  case KIR_MAX: *out = !less && !equal ? x : y; return 0;
  case KIR_LT: *out = kir_value_bool(less); return 0;
  case KIR_LE: *out = kir_value_bool(less || equal); return 0;
  case KIR_GT: *out = kir_value_bool(!less && !equal); return 0;
  case KIR_GE: *out = kir_value_bool(!less); return 0;
  case KIR_EQ: *out = kir_value_bool(equal); return 0;
  case KIR_NE: *out = kir_value_bool(!equal); return 0;
  default: return -1;
  }
}

static int eval_signed_bin(kir_binop op, int32_t x, int32_t y, kir_value *out) {
  uint32_t ux = (uint32_t)x, uy = (uint32_t)y;
  switch (op) {
  case KIR_ADD: *out = kir_value_i32((int32_t)(ux + uy)); return 0;
  case KIR_SUB: *out = kir_value_i32((int32_t)(ux - uy)); return 0;
  case KIR_MUL: *out = kir_value_i32((int32_t)(ux * uy)); return 0;
  case KIR_XOR: *out = kir_value_i32((int32_t)(ux ^ uy)); return 0;
  case KIR_DIV:
  case KIR_MOD:
    if (y == 0 || (x == INT32_MIN && y == -1)) return -1;
    *out = kir_value_i32(op == KIR_DIV ? x / y : x % y);
    return 0;
  case KIR_POW: return eval_float_bin(op, (float)x, (float)y, out);
  default: return eval_ordered(op, kir_value_i32(x), kir_value_i32(y), x < y, x == y, out);
  }
}

static int eval_unsigned_bin(kir_binop op, uint32_t x, uint32_t y, kir_value *out) {
  switch (op) {
  case KIR_ADD: *out = kir_value_u32(x + y); return 0;
  case KIR_SUB: *out = kir_value_u32(x - y); return 0;
  case KIR_MUL: *out = kir_value_u32(x * y); return 0;
  case KIR_XOR: *out = kir_value_u32(x ^ y); return 0;
  case KIR_DIV:
  case KIR_MOD:
    if (y == 0) return -1;
    *out = kir_value_u32(op == KIR_DIV ? x / y : x % y);
    return 0;
  case KIR_POW: return eval_float_bin(op, (float)x, (float)y, out);
  default: return eval_ordered(op, kir_value_u32(x), kir_value_u32(y), x < y, x == y, out);
  }
}

static int eval_binary(const kir_expr *e, kir_value a, kir_value b, kir_value *out) {
  kir_binop op = (kir_binop)e->op;
  int rc;
  if (op == KIR_AND || op == KIR_OR) {
    int x = truthy(a), y = truthy(b);
    *out = kir_value_bool(op == KIR_AND ? (x && y) : (x || y));
    return 0;
  }
  /* C's usual arithmetic conversions: float wins, then unsigned, then int (bools are ints). */
  if (a.type == KIR_F32 || b.type == KIR_F32)
    rc = eval_float_bin(op, kir_value_convert(a, KIR_F32).f, kir_value_convert(b, KIR_F32).f, out);
  else if (a.type == KIR_U32 || b.type == KIR_U32)
    rc = eval_unsigned_bin(op, kir_value_convert(a, KIR_U32).u, kir_value_convert(b, KIR_U32).u,
                           out);
  else
    rc = eval_signed_bin(op, kir_value_convert(a, KIR_I32).i, kir_value_convert(b, KIR_I32).i,
                         out);
  if (rc == 0 && !is_cmp(op)) *out = kir_value_convert(*out, e->type.scalar);
  return rc;
}

static int eval_index(const kir_expr *e, const kir_eval_env *env, int64_t *out, int depth) {
  kir_value v;
  if (eval(e, env, &v, depth) != 0) return -1;
  if (v.type == KIR_F32) return -1;
  *out = v.type == KIR_U32 ? (int64_t)v.u : (int64_t)v.i;
  return 0;
}

static int eval(const kir_expr *e, const kir_eval_env *env, kir_value *out, int depth) {
  if (!e || depth > KIR_EVAL_MAX_DEPTH || e->type.width != 1) return -1;
  kir_value a, b, c;
  int64_t index;
  switch (e->kind) {
  case KIR_E_CONST_F:
    *out = kir_value_convert(kir_value_f32((float)e->f), e->type.scalar);
    return 0;
  case KIR_E_CONST_I:
    if (e->type.scalar == KIR_U32) *out = kir_value_u32((uint32_t)e->i);
    else *out = kir_value_convert(kir_value_i32((int32_t)e->i), e->type.scalar);
    return 0;
  case KIR_E_VAR:
    if (!env || !env->vars || e->index < 0 || e->index >= env->n_vars) return -1;
    *out = kir_value_convert(env->vars[e->index], e->type.scalar);
    return 0;
  case KIR_E_GLOBAL_ID:
  case KIR_E_LOCAL_ID:
  case KIR_E_GROUP_ID:
    if (!env || e->index < 0 || e->index > 2) return -1;
    *out = kir_value_i32(e->kind == KIR_E_GLOBAL_ID  ? env->global_id[e->index]
                         : e->kind == KIR_E_LOCAL_ID ? env->local_id[e->index]
                                                     : env->group_id[e->index]);
    return 0;
  case KIR_E_LOAD:
  case KIR_E_LOCAL_LOAD: {
    int (*fn)(void *, int, int64_t, kir_value *) =
        !env ? NULL : e->kind == KIR_E_LOAD ? env->load : env->local_load;
    if (!fn || eval_index(e->a, env, &index, depth + 1) != 0) return -1;
    if (fn(env->user, e->index, index, &a) != 0) return -1;
    *out = kir_value_convert(a, e->type.scalar);
    return 0;
  }
  case KIR_E_UNARY:
    if (eval(e->a, env, &a, depth + 1) != 0) return -1;
    return eval_unary(e, a, out);
  case KIR_E_BINARY:
    if (eval(e->a, env, &a, depth + 1) != 0 || eval(e->b, env, &b, depth + 1) != 0) return -1;
    return eval_binary(e, a, b, out);
  case KIR_E_SELECT:
    /* Like C's ?: — only the chosen arm is evaluated. */
    if (eval(e->a, env, &c, depth + 1) != 0) return -1;
    if (eval(truthy(c) ? e->b : e->c, env, &a, depth + 1) != 0) return -1;
    *out = kir_value_convert(a, e->type.scalar);
    return 0;
  case KIR_E_CAST:
    if (eval(e->a, env, &a, depth + 1) != 0) return -1;
    *out = kir_value_convert(a, e->type.scalar);
    return 0;
  case KIR_E_BITCAST: {
    if (eval(e->a, env, &a, depth + 1) != 0) return -1;
    uint32_t bits;
    if (a.type == KIR_F32) memcpy(&bits, &a.f, sizeof bits);
    else bits = a.type == KIR_U32 ? a.u : (uint32_t)a.i;
    if (e->type.scalar == KIR_F32) {
      float f;
      memcpy(&f, &bits, sizeof f);
      *out = kir_value_f32(f);
    } else {
      *out = e->type.scalar == KIR_U32 ? kir_value_u32(bits) : kir_value_i32((int32_t)bits);
    }
    return 0;
  }
  case KIR_E_DOT4X8: {
    if (eval(e->a, env, &a, depth + 1) != 0 || eval(e->b, env, &b, depth + 1) != 0) return -1;
    uint32_t x = kir_value_convert(a, KIR_U32).u, y = kir_value_convert(b, KIR_U32).u;
    int sx = e->op == KIR_DOT_SS || e->op == KIR_DOT_SU, sy = e->op == KIR_DOT_SS || e->op == KIR_DOT_US;
    int32_t sum = 0;
    for (int j = 0; j < 4; j++) {
      int32_t bx = (int32_t)((x >> (8 * j)) & 0xFFu), by = (int32_t)((y >> (8 * j)) & 0xFFu);
      if (sx && bx > 127) bx -= 256;
      if (sy && by > 127) by -= 256;
      sum += bx * by; /* |sum| <= 4 · 255 · 255: no overflow */
    }
    *out = kir_value_i32(sum);
    return 0;
  }
  case KIR_E_LOAD_PACKED: {
    if (!env || !env->load || eval_index(e->a, env, &index, depth + 1) != 0) return -1;
    uint32_t word = 0;
    for (int j = 0; j < 4; j++) {
      if (env->load(env->user, e->index, index + j, &a) != 0) return -1;
      word |= ((uint32_t)kir_value_convert(a, KIR_I32).i & 0xFFu) << (8 * j);
    }
    *out = kir_value_u32(word);
    return 0;
  }
  case KIR_E_COMPONENT: /* vectors are not evaluated on the host */
  case KIR_E_VECTOR:
  case KIR_E_SWIZZLE:
  case KIR_E_SUBGROUP:  /* device state the host cannot know */
  case KIR_E_LOAD_BITS: /* raw half bits: the templates never fold them */
  case KIR_E_LOCAL_LOAD_BITS:
  case KIR_E_SUBGROUP_REDUCE:
  case KIR_E_FRAG_ELEM:
  case KIR_E_LANE_XOR:
    return -1;
  }
  return -1;
}

int kir_eval(const kir_expr *e, const kir_eval_env *env, kir_value *out) {
  return eval(e, env, out, 0);
}

int kir_eval_decls(const kir_kernel *k, const kir_eval_env *env, kir_value *vars) {
  if (!k || !env || env->vars != vars || env->n_vars < k->n_vars) return -1;
  for (int i = 0; i < k->n_body; i++) {
    const kir_stmt *s = k->body[i];
    if ((s->kind != KIR_S_DECL && s->kind != KIR_S_ASSIGN) || s->var < 0 || s->var >= k->n_vars)
      return -1;
    kir_value v;
    if (eval(s->value, env, &v, 0) != 0) return -1;
    vars[s->var] = kir_value_convert(v, k->vars[s->var].type.scalar);
  }
  return 0;
}

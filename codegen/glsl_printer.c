/* glsl_printer.c — GLSL 450 compute spellings for the shared kernel walk (kir_print.c).
 *
 * One shader per kernel, entry point main. The binding convention (the Vulkan runtime relies on
 * it): buffer parameter i is `layout(std430, set = 0, binding = i) buffer B<i> { T NAME[]; }`,
 * bound to the whole region buffer that holds its tensor, and its element offset is pc.off[i] of
 * one push-constant block `PC { uint off[N]; }` (N <= 32: 128 bytes, the guaranteed minimum).
 * Element e of the tensor is NAME[pc.off[i] + (e)].
 *
 * What GLSL spells differently is written once here, as helper functions emitted only into the
 * shaders that use them (names start with mlg_, which the frame reserves):
 *  - erf: GLSL has none. mlg_erf is our own fit (two pieces, coefficients in
 *    templates/fastmath.c, whose IR form the kernel templates build instead of KIR_ERF; the fit
 *    itself is within 1.2e-9). Evaluated in float against mpmath on a dense grid over [-6, 6]
 *    plus magnitudes down to 1e-30: 1.28e-7 absolute, 1.7e-7 relative; run on lavapipe
 *    (200,000 points over [-8, 8] and tiny values, against C's erf): 1.35e-7 and 1.7e-7.
 *  - tanh: drivers may build it from exp and overflow to NaN for large |x|. mlg_tanh uses an odd
 *    polynomial for |x| < 0.625 (no cancellation near 0) and 1 - 2/(exp(2|x|) + 1) above, with
 *    |x| clamped to 9 (tanh(9) rounds to 1.0f): 8.2e-8 absolute, 1.5e-7 relative in float
 *    (lavapipe: 1.1e-7 and 1.8e-7).
 *  - sin, cos, tan: Vulkan only promises 2^-11 absolute for sin and cos on [-pi, pi] (and tan
 *    as their quotient). mlg_trig reduces x by pi/2 in three parts (Cody-Waite: k·C1 and k·C2
 *    are exact for |k| < 2^12) and evaluates our own least-squares fits of sin and cos on
 *    [-pi/4, pi/4] (coefficients below, against their Taylor series in float64). In float, over
 *    |x| <= 5000: 9.1e-8 absolute for sin and cos; tan within 7.1e-7 of max(1, |tan x|). Beyond
 *    |x| ~ 6400 the reduction loses digits.
 *  - pow: GLSL leaves x < 0 and x == 0 undefined; mlg_pow gives C's results for a negative x
 *    with an integral y, for x == 0, y == 0 and x == 1.
 *  - fmod: GLSL's mod floors, and a - b·trunc(a/b) is off whenever a/b rounds up to an
 *    integer. mlg_fmod is exact like C's: a long division of the significands in integers, one
 *    step per binary digit of the quotient (at most 254), with C's NaNs and zeros.
 *  - fmin/fmax: GLSL's min/max are undefined on NaN; mlg_fmin/mlg_fmax return the other
 *    operand, as OpenCL's fmin/fmax do.
 *  - vector loads/stores (vloadN/vstoreN): mlg_loadN_NAME / mlg_storeN_NAME per buffer, through
 *    a vector view of the binding (NAME_vN) where the index is a multiple of N.
 *  - buffers of 1- and 2-byte elements (BOOL, I8, U8, F16): a `uint` array, 4 or 2 elements
 *    per word, through mlg_ld_NAME / mlg_st_NAME. A load extracts its element (bitfieldExtract,
 *    which sign-extends I8; unpackHalf2x16, exact); a store clears its bits and sets them with
 *    two atomic operations on the word (atomicAnd, atomicOr), since the word's other elements
 *    belong to other invocations. Halves are rounded by mlg_f16_bits, to nearest with ties to
 *    even like OpenCL's vstore_half (packHalf2x16 leaves the rounding to the driver). Core
 *    Vulkan 1.1, no 8- or 16-bit storage feature needed; such buffers are never written in
 *    place of one they read (lowering gives them no in-place reuse).
 * Subgroup builtins and reductions are GL_KHR_shader_subgroup_basic / _arithmetic (gl_SubgroupSize,
 * subgroupAdd, ...); the #extension lines go only into the shaders that use them.
 * Matrix fragments (kir_frag_*) are GL_NV_cooperative_matrix: fcoopmatNV<16, gl_ScopeSubgroup,
 * 16, 16> for A and B, fcoopmatNV<32, ...> for accumulators, loaded from `shared float16_t`
 * arrays (GL_EXT_shader_explicit_arithmetic_types_float16) with coopMatLoadNV and stored to
 * shared floats with coopMatStoreNV; the driver owns the lane mapping.
 * Integer / and % are GLSL's (truncating division; the remainder agrees with C whenever both
 * operands are non-negative, which is all the index math the templates build). */
#include <stdint.h>
#include <string.h>

#include "kir.h"
#include "kir_print.h"
#include "templates/fastmath.h"

#define GLSL_MAX_BUFFERS 32

/* ---- helper function sources ---- */

/* erf: fastmath.h's fits (kt_fm_erf_p, kt_fm_erf_q). tanh(x) = x·T(x²) for |x| < 0.625. */
static const double tanh_t[] = {-0.00569752231, 0.0206303075, -0.0537358634, 0.133313656,
                                -0.333332747, 1.0};
/* On |r| <= pi/4: sin(r) = r + r³·S(r²), cos(r) = 1 − r²/2 + r⁴·C(r²). */
static const double sin_s[] = {-0.000194934968, 0.00833195820, -0.166666508};
static const double cos_c[] = {2.44358525e-05, -0.00138873421, 0.0416666456};

/* A coefficient as a GLSL float literal (always with a '.' or an exponent). */
static void print_coef(FILE *out, double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.9g", v);
  fprintf(out, strpbrk(buf, ".e") ? "%s" : "%s.0", buf);
}

/* Horner form of the polynomial c (highest degree first) in `var`. */
static void print_horner(FILE *out, const double *c, int n, const char *var) {
  for (int i = n - 1; i > 0; i--) {
    print_coef(out, c[i]);
    fprintf(out, " + %s * (", var);
  }
  print_coef(out, c[0]);
  for (int i = n - 1; i > 0; i--) fputc(')', out);
}

static void emit_erf(FILE *out) {
  fputs("float mlg_erf(float x) {\n"
        "  float a = abs(x);\n"
        "  if (a < 1.0) {\n"
        "    float t = x * x;\n"
        "    return x * (", out);
  print_horner(out, kt_fm_erf_p, KT_FM_ERF_P, "t");
  fputs(");\n"
        "  }\n"
        "  float u = 1.0 / (1.0 + 0.5 * a);\n"
        "  float q = ", out);
  print_horner(out, kt_fm_erf_q, KT_FM_ERF_Q, "u");
  fputs(";\n"
        "  float r = a >= 4.0 ? 1.0 : 1.0 - exp(-a * a) * q;\n"
        "  return x < 0.0 ? -r : r;\n"
        "}\n", out);
}

static void emit_tanh(FILE *out) {
  fputs("float mlg_tanh(float x) {\n"
        "  float a = abs(x);\n"
        "  if (a < 0.625) {\n"
        "    float t = x * x;\n"
        "    return x * (", out);
  print_horner(out, tanh_t, (int)(sizeof(tanh_t) / sizeof(tanh_t[0])), "t");
  fputs(");\n"
        "  }\n"
        "  float r = 1.0 - 2.0 / (exp(2.0 * min(a, 9.0)) + 1.0);\n"
        "  return x < 0.0 ? -r : r;\n"
        "}\n", out);
}

/* Reduces x to r = x − k·pi/2 (|r| <= pi/4), fills sin r and cos r, returns k mod 4. */
static void emit_trig(FILE *out) {
  fputs("int mlg_trig(float x, out float s, out float c) {\n"
        "  float k = roundEven(x * 0.636619747);\n"
        "  float r = ((x - k * 1.5703125) - k * 0.000483751297) - k * 7.54979013e-08;\n"
        "  float z = r * r;\n"
        "  s = r + r * z * (", out);
  print_horner(out, sin_s, (int)(sizeof(sin_s) / sizeof(sin_s[0])), "z");
  fputs(");\n"
        "  c = 1.0 - 0.5 * z + z * z * (", out);
  print_horner(out, cos_c, (int)(sizeof(cos_c) / sizeof(cos_c[0])), "z");
  fputs(");\n"
        "  return int(k) & 3;\n"
        "}\n", out);
}

static const char sin_src[] =
    "float mlg_sin(float x) {\n"
    "  float s, c;\n"
    "  int q = mlg_trig(x, s, c);\n"
    "  return q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;\n"
    "}\n";

static const char cos_src[] =
    "float mlg_cos(float x) {\n"
    "  float s, c;\n"
    "  int q = mlg_trig(x, s, c);\n"
    "  return q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;\n"
    "}\n";

static const char tan_src[] =
    "float mlg_tan(float x) {\n"
    "  float s, c;\n"
    "  int q = mlg_trig(x, s, c);\n"
    "  return (q & 1) == 0 ? s / c : -c / s;\n"
    "}\n";

static const char pow_src[] =
    "float mlg_pow(float x, float y) {\n"
    "  if (y == 0.0 || x == 1.0) return 1.0;\n"
    "  float a = abs(x);\n"
    "  float r = a == 0.0 ? (y < 0.0 ? uintBitsToFloat(0x7F800000u) : 0.0) : pow(a, y);\n"
    "  if (x < 0.0) {\n"
    "    if (floor(y) != y) return uintBitsToFloat(0x7FC00000u);\n"
    "    if (fract(0.5 * y) != 0.0) r = -r;\n"
    "  }\n"
    "  return r;\n"
    "}\n";

/* Long division of the magnitudes' integer significands (a subnormal counts as exponent 1
 * without its hidden bit): one conditional subtraction per binary digit of the quotient. */
static const char fmod_src[] =
    "float mlg_fmod(float a, float b) {\n"
    "  uint ua = floatBitsToUint(a) & 0x7FFFFFFFu, ub = floatBitsToUint(b) & 0x7FFFFFFFu;\n"
    "  uint sa = floatBitsToUint(a) & 0x80000000u;\n"
    "  if (ub == 0u || ua >= 0x7F800000u || ub > 0x7F800000u) return uintBitsToFloat(0x7FC00000u);\n"
    "  if (ua < ub) return a;\n"
    "  int ea = max(int(ua >> 23), 1), eb = max(int(ub >> 23), 1);\n"
    "  uint ma = ua >= 0x800000u ? (ua & 0x7FFFFFu) | 0x800000u : ua;\n"
    "  uint mb = ub >= 0x800000u ? (ub & 0x7FFFFFu) | 0x800000u : ub;\n"
    "  for (; ea > eb; ea--) {\n"
    "    if (ma >= mb) ma -= mb;\n"
    "    ma <<= 1;\n"
    "  }\n"
    "  if (ma >= mb) ma -= mb;\n"
    "  if (ma == 0u) return uintBitsToFloat(sa);\n"
    "  for (; ma < 0x800000u && eb > 1; eb--) ma <<= 1;\n"
    "  uint r = ma < 0x800000u ? ma : (uint(eb) << 23) | (ma & 0x7FFFFFu);\n"
    "  return uintBitsToFloat(r | sa);\n"
    "}\n";

static const char fmin_src[] =
    "float mlg_fmin(float a, float b) {\n"
    "  return isnan(a) ? b : isnan(b) ? a : min(a, b);\n"
    "}\n";

static const char fmax_src[] =
    "float mlg_fmax(float a, float b) {\n"
    "  return isnan(a) ? b : isnan(b) ? a : max(a, b);\n"
    "}\n";

/* ---- what a kernel uses (one scan before printing) and whether GLSL can express it ---- */

typedef struct glsl_uses {
  int erf, tanh, sin, cos, tan, pow, fmod, fmin, fmax;
  int f16_bits;                       /* mlg_f16_bits: a store to an F16 buffer */
  char narrow_ld[GLSL_MAX_BUFFERS];   /* mlg_ld_NAME / mlg_st_NAME of a packed buffer */
  char narrow_st[GLSL_MAX_BUFFERS];
  int sg_basic, sg_arith;             /* subgroup builtins, reductions: #extension lines */
  int dot[4];                         /* kir_dot_sign forms of KIR_E_DOT4X8 used */
  /* bit w set: a width-w vector load (store) of buffer i through mlg_loadW_NAME
   * (mlg_storeW_NAME), whose index is not known to be a multiple of w */
  unsigned load_w[GLSL_MAX_BUFFERS];
  unsigned store_w[GLSL_MAX_BUFFERS];
  unsigned aligned_w[GLSL_MAX_BUFFERS]; /* bit w set: one at a known multiple (direct_vector) */
  unsigned bits_w[GLSL_MAX_BUFFERS];  /* bit w set: kir_load_bits of width w > 1 through mlg_bitsW_NAME */
  char bits_q[GLSL_MAX_BUFFERS];      /* kir_load_bits of width 4 at a known multiple of 8 */
  const int *var_multiple;            /* the kernel's kir_var_multiples, or NULL (none known) */
  int mma;                            /* fragments or F16 local arrays: #extension lines */
  const char *problem;                /* first construct GLSL cannot express, or NULL */
} glsl_uses;

static int width_ok(kir_type t) { return t.width == 1 || t.width == 2 || t.width == 4; }

/* Elements packed into uint words (1- and 2-byte storage types). */
static int packed(kir_scalar s) { return kir_storage_bytes(s) < 4; }

/* Whether a statement list stores into F16 local `local` other than 16 bytes at a time. */
static int narrow_local_store(kir_stmt *const *body, int n, int local) {
  for (int i = 0; i < n; i++) {
    const kir_stmt *s = body[i];
    if (s->target == local &&
        (s->kind == KIR_S_LOCAL_STORE || (s->kind == KIR_S_LOCAL_STORE_BITS && s->value->type.width != 4)))
      return 1;
    if (narrow_local_store(s->body, s->n_body, local) || narrow_local_store(s->else_body, s->n_else, local))
      return 1;
  }
  return 0;
}

/* An F16 local array written only 16 bytes at a time (kir_local_store_bits of 4 words, async
 * copies: their indices are multiples of 8, kir.h) is a `shared uvec4` array: one 128-bit store
 * per 8 halves instead of 8 16-bit ones, and cooperative-matrix loads from it count in uvec4s
 * (index and stride / 8). Others stay `shared float16_t`. */
static int wide_local(const kir_kernel *k, int local) {
  return k->locals[local].elem.scalar == KIR_F16 && k->locals[local].count % 8 == 0 &&
         !narrow_local_store(k->body, k->n_body, local);
}

/* Why kernels that reach into an accumulator's elements are refused. */
static const char opaque_layout[] = "accumulator elements, their packing or lane exchanges (OpenCL "
                                    "only: cooperative matrices keep their element layout opaque)";

/* Buffer element offsets (pc.off) are multiples of 16 bytes: tensors are aligned at least that
 * much (a Vulkan bundle's alignment is checked at load). So a width-w access of a read-only or
 * write-only buffer of 4-byte elements whose index is a known multiple of w (kir_expr_multiple)
 * goes straight through its vector view, NAME_vW[(pc.off[i] + index) >> log2(w)], with no
 * alignment test; likewise 4 words of halves at a multiple of 8 through NAME_q. */
static int direct_vector(const kir_kernel *k, const int *var_multiple, int buffer, const kir_expr *index, int w) {
  const kir_buffer *b = &k->buffers[buffer];
  return var_multiple && (w == 2 || w == 4) && b->access != KIR_READ_WRITE && !packed(b->elem.scalar) &&
         kir_expr_multiple(index, var_multiple) % w == 0;
}

static int direct_bits(const kir_kernel *k, const int *var_multiple, int buffer, const kir_expr *index, int w) {
  return var_multiple && w == 4 && k->buffers[buffer].access == KIR_READ && kir_expr_multiple(index, var_multiple) % 8 == 0;
}

static void scan_expr(glsl_uses *u, const kir_kernel *k, const kir_expr *e) {
  if (!e) return;
  if (!width_ok(e->type)) u->problem = "a vector of width 8 or 16 (OpenCL only)";
  int vec = e->type.width > 1;
  switch (e->kind) {
  case KIR_E_LOAD:
    if (e->index >= 0 && e->index < k->n_buffers && e->index < GLSL_MAX_BUFFERS && vec) {
      if (direct_vector(k, u->var_multiple, e->index, e->a, e->type.width))
        u->aligned_w[e->index] |= 1u << e->type.width;
      else
        u->load_w[e->index] |= 1u << e->type.width;
    }
    if (e->index >= 0 && e->index < k->n_buffers && e->index < GLSL_MAX_BUFFERS &&
        packed(k->buffers[e->index].elem.scalar))
      u->narrow_ld[e->index] = 1;
    if (vec && e->index >= 0 && e->index < k->n_buffers && kir_storage_bytes(k->buffers[e->index].elem.scalar) == 1)
      u->problem = "a vector load of 8-bit elements (OpenCL only)";
    break;
  case KIR_E_UNARY:
    if (e->op == KIR_ERF) u->erf = 1;
    if (e->op == KIR_TANH) u->tanh = 1;
    if (e->op == KIR_SIN) u->sin = 1;
    if (e->op == KIR_COS) u->cos = 1;
    if (e->op == KIR_TAN) u->tan = 1;
    if (vec && (e->op == KIR_ERF || e->op == KIR_TANH || e->op == KIR_SIN || e->op == KIR_COS ||
                e->op == KIR_TAN))
      u->problem = "erf, tanh, sin, cos or tan of a vector";
    if (vec && e->op == KIR_NOT) u->problem = "logical not of a vector";
    break;
  case KIR_E_BINARY: {
    int is_float = e->a && e->a->type.scalar == KIR_F32;
    int avec = (e->a && e->a->type.width > 1) || (e->b && e->b->type.width > 1);
    switch ((kir_binop)e->op) {
    case KIR_POW: u->pow = 1; break;
    case KIR_MOD: u->fmod |= is_float; break;
    case KIR_MIN: u->fmin |= is_float; break;
    case KIR_MAX: u->fmax |= is_float; break;
    default: break;
    }
    if (avec && ((e->op == KIR_POW) || (is_float && (e->op == KIR_MOD || e->op == KIR_MIN ||
                                                     e->op == KIR_MAX))))
      u->problem = "pow, fmod, fmin or fmax of a vector";
    if (avec && e->op >= KIR_LT) u->problem = "a comparison or logical operator on vectors";
    break;
  }
  case KIR_E_SELECT:
    if (e->a && e->a->type.width > 1) u->problem = "a select with a vector condition";
    break;
  case KIR_E_SUBGROUP:
    u->sg_basic = 1;
    break;
  case KIR_E_DOT4X8:
    if (e->op >= KIR_DOT_SS && e->op <= KIR_DOT_UU) u->dot[e->op] = 1;
    break;
  case KIR_E_SUBGROUP_REDUCE:
    u->sg_basic = u->sg_arith = 1;
    break;
  case KIR_E_LOAD_BITS:
    if (e->index >= 0 && e->index < k->n_buffers && e->index < GLSL_MAX_BUFFERS && vec) {
      if (direct_bits(k, u->var_multiple, e->index, e->a, e->type.width))
        u->bits_q[e->index] = 1;
      else
        u->bits_w[e->index] |= 1u << e->type.width;
    }
    break;
  case KIR_E_LOCAL_LOAD_BITS:
    u->problem = "raw words of a local array of halves (OpenCL only)";
    break;
  case KIR_E_FRAG_ELEM:
  case KIR_E_LANE_XOR:
    u->problem = opaque_layout;
    break;
  default:
    break;
  }
  scan_expr(u, k, e->a);
  scan_expr(u, k, e->b);
  scan_expr(u, k, e->c);
  scan_expr(u, k, e->d);
}

static void scan_block(glsl_uses *u, const kir_kernel *k, kir_stmt *const *body, int n) {
  for (int i = 0; i < n; i++) {
    const kir_stmt *s = body[i];
    if (s->kind == KIR_S_STORE && s->value && s->value->type.width > 1 && s->target >= 0 &&
        s->target < k->n_buffers && s->target < GLSL_MAX_BUFFERS) {
      if (direct_vector(k, u->var_multiple, s->target, s->index, s->value->type.width))
        u->aligned_w[s->target] |= 1u << s->value->type.width;
      else
        u->store_w[s->target] |= 1u << s->value->type.width;
    }
    if (s->kind == KIR_S_STORE && s->value && s->value->type.width > 1 && s->target >= 0 &&
        s->target < k->n_buffers && kir_storage_bytes(k->buffers[s->target].elem.scalar) == 1)
      u->problem = "a vector store of 8-bit elements (OpenCL only)";
    if (s->kind == KIR_S_STORE && s->target >= 0 && s->target < k->n_buffers &&
        s->target < GLSL_MAX_BUFFERS && packed(k->buffers[s->target].elem.scalar)) {
      u->narrow_st[s->target] = 1;
      if (k->buffers[s->target].elem.scalar == KIR_F16) u->f16_bits = 1;
    }
    if (s->kind == KIR_S_FRAG_SET || s->kind == KIR_S_FRAG_PACK)
      u->problem = opaque_layout;
    if (s->kind == KIR_S_STORE_BITS) u->problem = "raw words stored into a buffer of halves (OpenCL only)";
    if (s->kind >= KIR_S_WG_MMA && s->kind <= KIR_S_PROXY_FENCE)
      u->problem = "warpgroup products (Hopper's wgmma, which GLSL cannot spell: OpenCL only)";
    scan_expr(u, k, s->index);
    scan_expr(u, k, s->value);
    scan_expr(u, k, s->end);
    scan_expr(u, k, s->step);
    scan_expr(u, k, s->cond);
    scan_block(u, k, s->body, s->n_body);
    scan_block(u, k, s->else_body, s->n_else);
  }
}

/* Names the frame itself declares or calls from main. */
static int name_clashes(const char *name) {
  static const char *const taken[] = {
    "pc", "PC", "main", "ivec2", "ivec4", "uvec2", "uvec4", "bvec2", "bvec4", "inversesqrt",
    "uintBitsToFloat", "memoryBarrierShared", "isnan", "trunc", "fract", "roundEven",
    "floatBitsToUint", NULL};
  for (int i = 0; taken[i]; i++)
    if (strcmp(name, taken[i]) == 0) return 1;
  if (strncmp(name, "mlg_", 4) == 0 || strncmp(name, "gl_", 3) == 0) return 1;
  if (name[0] == 'B' && name[1]) {
    const char *c = name + 1;
    while (*c >= '0' && *c <= '9') c++;
    if (!*c) return 1;
  }
  return 0;
}

/* var_multiple: the kernel's kir_var_multiples when printing, NULL when only checking. */
static const char *scan_kernel(const kir_kernel *k, const int *var_multiple, glsl_uses *u, const char **bad_name) {
  memset(u, 0, sizeof(*u));
  u->var_multiple = var_multiple;
  *bad_name = NULL;
  if (k->n_buffers > GLSL_MAX_BUFFERS)
    return "more than 32 buffer parameters (the push-constant offsets would exceed 128 bytes)";
  for (int i = 0; i < k->n_buffers; i++) {
    if (!width_ok(k->buffers[i].elem)) return "a vector buffer element type";
    if (name_clashes(k->buffers[i].name)) *bad_name = k->buffers[i].name;
  }
  for (int i = 0; i < k->n_locals; i++) {
    if (!width_ok(k->locals[i].elem)) return "a local array of 8- or 16-wide vectors";
    if (name_clashes(k->locals[i].name)) *bad_name = k->locals[i].name;
  }
  for (int i = 0; i < k->n_vars; i++) {
    if (!width_ok(k->vars[i].type)) return "a variable of width 8 or 16 (OpenCL only)";
    if (name_clashes(k->vars[i].name)) *bad_name = k->vars[i].name;
  }
  for (int i = 0; i < k->n_frags; i++)
    if (name_clashes(k->frags[i].name)) *bad_name = k->frags[i].name;
  for (int i = 0; i < k->n_locals; i++) u->mma |= k->locals[i].elem.scalar == KIR_F16;
  u->mma |= k->n_frags > 0;
  if (k->n_frags && (k->local_size[0] % 32 || k->local_size[1] != 1 || k->local_size[2] != 1))
    return "matrix fragments in a work-group that is not 1-D of whole subgroups of 32";
  if (*bad_name) return "a name that the GLSL frame reserves";
  scan_block(u, k, k->body, k->n_body);
  return u->problem;
}

int kir_glsl_check(const kir_kernel *k, char *err, size_t err_size) {
  glsl_uses u;
  const char *bad_name;
  const char *problem = scan_kernel(k, NULL, &u, &bad_name);
  if (!problem) return 0;
  if (err && err_size) {
    if (bad_name)
      snprintf(err, err_size, "kernel %s: cannot be written as GLSL: %s (\"%s\")", k->name,
               problem, bad_name);
    else
      snprintf(err, err_size, "kernel %s: cannot be written as GLSL: %s", k->name, problem);
  }
  return -1;
}

/* ---- the dialect ---- */

static const char *gl_type_name(kir_type t, char *buf, size_t size) {
  static const char *const base[] = {[KIR_F32] = "float", [KIR_I32] = "int",
                                     [KIR_U32] = "uint", [KIR_BOOL] = "bool"};
  static const char *const vbase[] = {[KIR_F32] = "vec", [KIR_I32] = "ivec",
                                      [KIR_U32] = "uvec", [KIR_BOOL] = "bvec"};
  if (t.width > 1)
    snprintf(buf, size, "%s%d", vbase[t.scalar], t.width);
  else
    snprintf(buf, size, "%s", base[t.scalar]);
  return buf;
}

static void gl_work_item_id(kir_printer *p, kir_expr_kind kind, int dim) {
  const char *v = kind == KIR_E_GLOBAL_ID ? "gl_GlobalInvocationID"
                  : kind == KIR_E_LOCAL_ID ? "gl_LocalInvocationID"
                                           : "gl_WorkGroupID";
  fprintf(p->out, "int(%s.%c)", v, "xyz"[dim >= 0 && dim < 3 ? dim : 0]);
}

/* pc.off[i] + index, with index at additive-right-operand precedence. */
static void gl_offset_index(kir_printer *p, int buffer, const kir_expr *index) {
  if (index->kind == KIR_E_CONST_I && index->i == 0) {
    fprintf(p->out, "pc.off[%d]", buffer);
    return;
  }
  fprintf(p->out, "pc.off[%d] + ", buffer);
  kir_print_expr_prec(p, index, KIR_PREC_ADD_RHS);
}

static void gl_load(kir_printer *p, const kir_expr *e) {
  const char *name = p->k->buffers[e->index].name;
  if (packed(p->k->buffers[e->index].elem.scalar) && e->type.width == 1) {
    fprintf(p->out, "mlg_ld_%s(", name);
    gl_offset_index(p, e->index, e->a);
    fputc(')', p->out);
    return;
  }
  if (e->type.width > 1 && direct_vector(p->k, p->var_multiple, e->index, e->a, e->type.width)) {
    fprintf(p->out, "%s_v%d[(", name, e->type.width);
    gl_offset_index(p, e->index, e->a);
    fprintf(p->out, ") >> %d]", e->type.width / 2);
    return;
  }
  if (e->type.width > 1)
    fprintf(p->out, "mlg_load%d_%s(", e->type.width, name);
  else
    fprintf(p->out, "%s[", name);
  gl_offset_index(p, e->index, e->a);
  fputc(e->type.width > 1 ? ')' : ']', p->out);
}

static void gl_store(kir_printer *p, const kir_stmt *s) {
  const char *name = p->k->buffers[s->target].name;
  if (packed(p->k->buffers[s->target].elem.scalar) && s->value->type.width == 1) {
    fprintf(p->out, "mlg_st_%s(", name);
    gl_offset_index(p, s->target, s->index);
    fputs(", ", p->out);
    kir_print_expr(p, s->value);
    fputs(");\n", p->out);
    return;
  }
  if (s->value->type.width > 1 && direct_vector(p->k, p->var_multiple, s->target, s->index, s->value->type.width)) {
    fprintf(p->out, "%s_v%d[(", name, s->value->type.width);
    gl_offset_index(p, s->target, s->index);
    fprintf(p->out, ") >> %d] = ", s->value->type.width / 2);
    kir_print_expr(p, s->value);
    fputs(";\n", p->out);
    return;
  }
  if (s->value->type.width > 1) {
    fprintf(p->out, "mlg_store%d_%s(", s->value->type.width, name);
    gl_offset_index(p, s->target, s->index);
    fputs(", ", p->out);
    kir_print_expr(p, s->value);
    fputs(");\n", p->out);
    return;
  }
  fprintf(p->out, "%s[", name);
  gl_offset_index(p, s->target, s->index);
  fputs("] = ", p->out);
  kir_print_expr(p, s->value);
  fputs(";\n", p->out);
}

static void gl_cast(kir_printer *p, kir_type t, const kir_expr *a) {
  char buf[32];
  fprintf(p->out, "%s(", gl_type_name(t, buf, sizeof(buf)));
  kir_print_expr(p, a);
  fputc(')', p->out);
}

static void gl_bitcast(kir_printer *p, kir_type t, const kir_expr *a) {
  const char *fn = t.scalar == KIR_I32   ? "floatBitsToInt("
                   : t.scalar == KIR_U32 ? "floatBitsToUint("
                   : a->type.scalar == KIR_U32 ? "uintBitsToFloat("
                                               : "intBitsToFloat(";
  fputs(fn, p->out);
  kir_print_expr(p, a);
  fputc(')', p->out);
}

/* GLSL has no portable unroll pragma; drivers unroll constant-trip loops themselves. */
static void gl_unroll(kir_printer *p, int unroll) {}

/* A read-only or write-only buffer with vector accesses also gets a vector view of its binding
 * (NAME_vW, the same memory): an access at an index that is a multiple of W goes through it, one
 * W-wide load or store, since a driver cannot tell that W scalar ones are aligned. (A read-write
 * buffer keeps the scalar forms: `restrict` views of it would let the compiler reorder a store
 * through one and a load through the other.) */
static int has_vector_view(const kir_buffer *b, const glsl_uses *u, int i, int w) {
  return b->access != KIR_READ_WRITE && !packed(b->elem.scalar) &&
         ((u->load_w[i] | u->store_w[i] | u->aligned_w[i]) & (1u << w));
}

/* A read-only buffer of halves read 8 at a time (kir_load_bits of 4 words) also gets a uvec4
 * view, NAME_q: one 128-bit load where the element index is a multiple of 8. */
static int has_bits_view(const kir_buffer *b, const glsl_uses *u, int i) {
  return b->access == KIR_READ && b->elem.scalar == KIR_F16 && i < GLSL_MAX_BUFFERS &&
         ((u->bits_w[i] & (1u << 4)) || u->bits_q[i]);
}

static void emit_vector_helpers(FILE *out, const kir_kernel *k, const glsl_uses *u) {
  static const char lane[] = "xyzw";
  char tbuf[32];
  for (int i = 0; i < k->n_buffers; i++) {
    const kir_buffer *b = &k->buffers[i];
    if (packed(b->elem.scalar)) continue; /* halves: emit_half_vector_helpers */
    for (int w = 2; w <= 4; w += 2) {
      const char *vt = gl_type_name(kir_tv(b->elem.scalar, w), tbuf, sizeof(tbuf));
      int view = has_vector_view(b, u, i, w);
      if (u->load_w[i] & (1u << w)) {
        fprintf(out, "%s mlg_load%d_%s(uint i) {\n", vt, w, b->name);
        if (view) fprintf(out, "  if ((i & %du) == 0u) return %s_v%d[i >> %d];\n", w - 1, b->name, w, w / 2);
        fprintf(out, "  return %s(", vt);
        for (int l = 0; l < w; l++) {
          if (l)
            fprintf(out, ", %s[i + %du]", b->name, l);
          else
            fprintf(out, "%s[i]", b->name);
        }
        fputs(");\n}\n", out);
      }
      if (u->store_w[i] & (1u << w)) {
        fprintf(out, "void mlg_store%d_%s(uint i, %s v) {\n", w, b->name, vt);
        if (view) fprintf(out, "  if ((i & %du) == 0u) {\n    %s_v%d[i >> %d] = v;\n    return;\n  }\n", w - 1, b->name, w, w / 2);
        for (int l = 0; l < w; l++) {
          if (l)
            fprintf(out, "  %s[i + %du] = v.%c;\n", b->name, l, lane[l]);
          else
            fprintf(out, "  %s[i] = v.x;\n", b->name);
        }
        fputs("}\n", out);
      }
    }
  }
}

/* f32 → binary16 bits, rounding to nearest with ties to even; overflow gives infinity, NaN a
 * quiet NaN. The same rule as the host's (runtime/dtype.c) and OpenCL's vstore_half. */
static const char f16_bits_src[] =
    "uint mlg_f16_bits(float v) {\n"
    "  uint x = floatBitsToUint(v);\n"
    "  uint sgn = (x >> 16u) & 0x8000u;\n"
    "  uint e = (x >> 23u) & 0xFFu;\n"
    "  uint m = x & 0x7FFFFFu;\n"
    "  if (e == 255u) return sgn | 0x7C00u | (m != 0u ? 0x200u : 0u);\n"
    "  int ue = int(e) - 112;\n"
    "  if (ue >= 31) return sgn | 0x7C00u;\n"
    "  uint h, rem, tie;\n"
    "  if (ue <= 0) {\n"
    "    if (ue < -10) return sgn;\n"
    "    m |= 0x800000u;\n"
    "    uint sh = uint(14 - ue);\n"
    "    h = m >> sh;\n"
    "    rem = m & ((1u << sh) - 1u);\n"
    "    tie = 1u << (sh - 1u);\n"
    "  } else {\n"
    "    h = (uint(ue) << 10u) | (m >> 13u);\n"
    "    rem = m & 0x1FFFu;\n"
    "    tie = 0x1000u;\n"
    "  }\n"
    "  if (rem > tie || (rem == tie && (h & 1u) != 0u)) h += 1u;\n"
    "  return sgn | h;\n"
    "}\n";

/* mlg_ld_NAME / mlg_st_NAME of a buffer whose elements are packed into uint words. Their own
 * names start with mlg_, which no buffer name does, so they shadow nothing. */
static void emit_packed_store(FILE *out, const char *n, const char *type, int bits,
                              const char *word_bits) {
  int per_word = 32 / bits;
  fprintf(out, "void mlg_st_%s(uint mlg_i, %s mlg_v) {\n"
          "  uint mlg_s = (mlg_i & %du) * %du;\n"
          "  atomicAnd(%s[mlg_i >> %du], ~(0x%Xu << mlg_s));\n"
          "  atomicOr(%s[mlg_i >> %du], %s << mlg_s);\n}\n",
          n, type, per_word - 1, bits, n, per_word / 2, (1u << bits) - 1u, n, per_word / 2,
          word_bits);
}

static void emit_packed_helpers(FILE *out, const kir_buffer *b, int load, int store) {
  const char *n = b->name;
  switch (b->elem.scalar) {
  case KIR_F16:
    if (load)
      fprintf(out, "float mlg_ld_%s(uint mlg_i) {\n"
              "  vec2 mlg_h = unpackHalf2x16(%s[mlg_i >> 1u]);\n"
              "  return (mlg_i & 1u) == 0u ? mlg_h.x : mlg_h.y;\n}\n", n, n);
    if (store) emit_packed_store(out, n, "float", 16, "mlg_f16_bits(mlg_v)");
    return;
  case KIR_BOOL:
    if (load)
      fprintf(out, "bool mlg_ld_%s(uint mlg_i) {\n"
              "  return bitfieldExtract(%s[mlg_i >> 2u], int(mlg_i & 3u) * 8, 8) != 0u;\n}\n",
              n, n);
    if (store) emit_packed_store(out, n, "bool", 8, "(mlg_v ? 1u : 0u)");
    return;
  default: /* I8, U8: computed as int */
    if (load && b->elem.scalar == KIR_I8)
      fprintf(out, "int mlg_ld_%s(uint mlg_i) {\n"
              "  return bitfieldExtract(int(%s[mlg_i >> 2u]), int(mlg_i & 3u) * 8, 8);\n}\n",
              n, n);
    else if (load)
      fprintf(out, "int mlg_ld_%s(uint mlg_i) {\n"
              "  return int(bitfieldExtract(%s[mlg_i >> 2u], int(mlg_i & 3u) * 8, 8));\n}\n",
              n, n);
    if (store) emit_packed_store(out, n, "int", 8, "(uint(mlg_v) & 0xFFu)");
    return;
  }
}

/* mlg_loadW_NAME / mlg_storeW_NAME of a buffer of halves (packed two to a word): a load at an
 * even index unpacks whole words, a store there writes them (no other invocation owns a half
 * of them); everything else goes element by element through mlg_ld_NAME / mlg_st_NAME
 * (emitted before these: a vector access is also a narrow one). */
static void emit_half_vector_helpers(FILE *out, const kir_buffer *b, unsigned load_w, unsigned store_w) {
  static const char lane[] = "xyzw";
  const char *n = b->name;
  for (int w = 2; w <= 4; w += 2) {
    if (load_w & (1u << w)) {
      fprintf(out, "vec%d mlg_load%d_%s(uint i) {\n  if ((i & 1u) == 0u) return ", w, w, n);
      if (w == 2) fprintf(out, "unpackHalf2x16(%s[i >> 1u]);\n", n);
      else fprintf(out, "vec4(unpackHalf2x16(%s[i >> 1u]), unpackHalf2x16(%s[(i >> 1u) + 1u]));\n", n, n);
      fprintf(out, "  return vec%d(mlg_ld_%s(i)", w, n);
      for (int l = 1; l < w; l++) fprintf(out, ", mlg_ld_%s(i + %du)", n, l);
      fputs(");\n}\n", out);
    }
    if (store_w & (1u << w)) { /* at an even index whole words, with no atomics */
      fprintf(out, "void mlg_store%d_%s(uint i, vec%d v) {\n  if ((i & 1u) == 0u) {\n", w, n, w);
      for (int l = 0; l < w; l += 2)
        fprintf(out, "    %s[(i >> 1u) + %du] = mlg_f16_bits(v.%c) | (mlg_f16_bits(v.%c) << 16u);\n", n, l / 2,
                lane[l], lane[l + 1]);
      fputs("    return;\n  }\n", out);
      for (int l = 0; l < w; l++) fprintf(out, "  mlg_st_%s(i + %du, v.%c);\n", n, l, lane[l]);
      fputs("}\n", out);
    }
  }
}

/* The SPIR-V instructions of SPV_KHR_integer_dot_product, declared through
 * GL_EXT_spirv_intrinsics (glslang has no GLSL extension of its own for them): OpSDot 4450,
 * OpUDot 4451, OpSUDot 4452 (first operand signed, second unsigned), each with capabilities
 * DotProductInput4x8BitPacked (6019) and DotProduct (6018) and the literal
 * PackedVectorFormat4x8Bit (0). The us form swaps its operands into SUDot. */
static void emit_dot_helpers(FILE *out, const glsl_uses *u) {
  static const char *const decl =
      "spirv_instruction(extensions = [\"SPV_KHR_integer_dot_product\"], capabilities = [6019, 6018], "
      "id = %d) %s %s(uint mlg_a, uint mlg_b, spirv_literal uint mlg_fmt);\n";
  if (u->dot[KIR_DOT_SS]) fprintf(out, decl, 4450, "int", "mlg_sdot");
  if (u->dot[KIR_DOT_SU] || u->dot[KIR_DOT_US]) fprintf(out, decl, 4452, "int", "mlg_sudot");
  if (u->dot[KIR_DOT_UU]) fprintf(out, decl, 4451, "uint", "mlg_udot");
}

static void gl_dot4x8(kir_printer *p, const kir_expr *e) {
  int swap = e->op == KIR_DOT_US;
  fputs(e->op == KIR_DOT_SS ? "mlg_sdot(" : e->op == KIR_DOT_UU ? "int(mlg_udot(" : "mlg_sudot(", p->out);
  kir_print_expr(p, swap ? e->b : e->a);
  fputs(", ", p->out);
  kir_print_expr(p, swap ? e->a : e->b);
  fputs(e->op == KIR_DOT_UU ? ", 0))" : ", 0)", p->out);
}

/* One word of the packed buffer: the index is a multiple of 4 (kir_load_packed). */
static void gl_load_packed(kir_printer *p, const kir_expr *e) {
  fprintf(p->out, "%s[(", p->k->buffers[e->index].name);
  gl_offset_index(p, e->index, e->a);
  fputs(") >> 2u]", p->out);
}

static void gl_kernel_begin(kir_printer *p) {
  const kir_kernel *k = p->k;
  FILE *out = p->out;
  char buf[32];
  glsl_uses u;
  const char *bad_name;
  scan_kernel(k, p->var_multiple, &u, &bad_name); /* kir_print_glsl_kernel checked it already */
  fprintf(out, "// kernel %s\n#version 450\n", k->name);
  if (u.sg_basic) fputs("#extension GL_KHR_shader_subgroup_basic : require\n", out);
  if (u.sg_arith) fputs("#extension GL_KHR_shader_subgroup_arithmetic : require\n", out);
  if (u.mma)
    fputs("#extension GL_NV_cooperative_matrix : require\n"
          "#extension GL_KHR_memory_scope_semantics : require\n"
          "#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n", out);
  int any_dot = u.dot[0] || u.dot[1] || u.dot[2] || u.dot[3];
  if (any_dot) fputs("#extension GL_EXT_spirv_intrinsics : require\n", out);
  fprintf(out, "layout(local_size_x = %d, local_size_y = %d, local_size_z = %d) in;\n",
          k->local_size[0], k->local_size[1], k->local_size[2]);
  if (k->n_buffers) fputc('\n', out);
  for (int i = 0; i < k->n_buffers; i++) {
    const kir_buffer *b = &k->buffers[i];
    int pk = packed(b->elem.scalar); /* atomics read the words they write: not writeonly */
    const char *q = b->access == KIR_READ ? "readonly "
                    : b->access == KIR_WRITE && !pk ? "writeonly " : "";
    fprintf(out, "layout(std430, set = 0, binding = %d) restrict %sbuffer B%d { %s %s[]; };\n", i,
            q, i, pk ? "uint" : gl_type_name(b->elem, buf, sizeof(buf)), b->name);
    for (int w = 2; w <= 4 && i < GLSL_MAX_BUFFERS; w += 2)
      if (has_vector_view(b, &u, i, w))
        fprintf(out, "layout(std430, set = 0, binding = %d) restrict %sbuffer B%dv%d { %s %s_v%d[]; };\n", i, q, i,
                w, gl_type_name(kir_tv(b->elem.scalar, w), buf, sizeof(buf)), b->name, w);
    if (has_bits_view(b, &u, i))
      fprintf(out, "layout(std430, set = 0, binding = %d) restrict %sbuffer B%dq { uvec4 %s_q[]; };\n", i, q, i,
              b->name);
  }
  if (k->n_buffers)
    fprintf(out, "layout(push_constant) uniform PC { uint off[%d]; } pc;\n", k->n_buffers);
  if (k->n_locals) fputc('\n', out);
  for (int i = 0; i < k->n_locals; i++) {
    const kir_local *l = &k->locals[i];
    if (wide_local(k, i))
      fprintf(out, "shared uvec4 %s[%d];\n", l->name, l->count / 8);
    else
      fprintf(out, "shared %s %s[%d];\n",
              l->elem.scalar == KIR_F16 ? "float16_t" : gl_type_name(l->elem, buf, sizeof(buf)), l->name,
              l->count);
  }
  int trig = u.sin || u.cos || u.tan;
  int any_helper = u.erf || u.tanh || trig || u.pow || u.fmod || u.fmin || u.fmax;
  for (int i = 0; i < k->n_buffers && i < GLSL_MAX_BUFFERS; i++)
    any_helper |= u.load_w[i] || u.store_w[i] || u.narrow_ld[i] || u.narrow_st[i] || u.bits_w[i];
  if (any_helper || any_dot) fputc('\n', out);
  emit_dot_helpers(out, &u);
  if (u.erf) emit_erf(out);
  if (u.tanh) emit_tanh(out);
  if (trig) emit_trig(out);
  if (u.sin) fputs(sin_src, out);
  if (u.cos) fputs(cos_src, out);
  if (u.tan) fputs(tan_src, out);
  if (u.pow) fputs(pow_src, out);
  if (u.fmod) fputs(fmod_src, out);
  if (u.fmin) fputs(fmin_src, out);
  if (u.fmax) fputs(fmax_src, out);
  emit_vector_helpers(out, k, &u);
  if (u.f16_bits) fputs(f16_bits_src, out);
  for (int i = 0; i < k->n_buffers && i < GLSL_MAX_BUFFERS; i++)
    if (u.narrow_ld[i] || u.narrow_st[i]) {
      emit_packed_helpers(out, &k->buffers[i], u.narrow_ld[i], u.narrow_st[i]);
      if (k->buffers[i].elem.scalar == KIR_F16)
        emit_half_vector_helpers(out, &k->buffers[i], u.load_w[i], u.store_w[i]);
    }
  for (int i = 0; i < k->n_buffers && i < GLSL_MAX_BUFFERS; i++)
    for (int w = 2; w <= 4; w += 2)
      if (u.bits_w[i] & (1u << w)) {
        /* words i/2 .. i/2 + w - 1 of a packed F16 buffer (i even: kir_load_bits) */
        fprintf(out, "uvec%d mlg_bits%d_%s(uint i) {\n", w, w, k->buffers[i].name);
        if (w == 4 && has_bits_view(&k->buffers[i], &u, i))
          fprintf(out, "  if ((i & 7u) == 0u) return %s_q[i >> 3u];\n", k->buffers[i].name);
        fprintf(out, "  uint w = i >> 1u;\n  return uvec%d(%s[w]", w, k->buffers[i].name);
        for (int l = 1; l < w; l++) fprintf(out, ", %s[w + %du]", k->buffers[i].name, l);
        fputs(");\n}\n", out);
      }
  fputs("\nvoid main() {\n", out);
  for (int i = 0; i < k->n_frags; i++)
    fprintf(out, "  fcoopmatNV<%d, gl_ScopeSubgroup, 16, 16> %s;\n",
            k->frags[i].role == KIR_FRAG_ACC ? 32 : 16, k->frags[i].name);
}

static void gl_load_bits(kir_printer *p, const kir_expr *e) {
  const char *name = p->k->buffers[e->index].name;
  if (e->type.width == 1 || direct_bits(p->k, p->var_multiple, e->index, e->a, e->type.width)) {
    fprintf(p->out, e->type.width == 1 ? "%s[(" : "%s_q[(", name);
    gl_offset_index(p, e->index, e->a);
    fputs(e->type.width == 1 ? ") >> 1u]" : ") >> 3u]", p->out);
    return;
  }
  fprintf(p->out, "mlg_bits%d_%s(", e->type.width, name);
  gl_offset_index(p, e->index, e->a);
  fputc(')', p->out);
}

/* Halves into an F16 local array: an F32 value converted, 4 words into a `shared uvec4` one
 * (wide_local), or the two halves of each word (unpackFloat2x16 reinterprets the bits) — a
 * block of its own for the temporaries. */
static void gl_local_store_half(kir_printer *p, const kir_stmt *s) {
  const char *name = p->k->locals[s->target].name;
  FILE *out = p->out;
  /* An F32 value converted, or 4 words at a multiple of 8 halves of a uvec4 array: one store. */
  const int wide = s->kind == KIR_S_LOCAL_STORE_BITS && wide_local(p->k, s->target);
  if (s->kind == KIR_S_LOCAL_STORE || wide) {
    fprintf(out, wide ? "%s[(" : "%s[", name);
    kir_print_expr(p, s->index);
    fputs(wide ? ") >> 3] = " : "] = float16_t(", out);
    kir_print_expr(p, s->value);
    fputs(wide ? ";\n" : ");\n", out);
    return;
  }
  int w = s->value->type.width;
  fputs("{\n", out);
  p->indent++;
  kir_print_indent(p);
  fprintf(out, w == 1 ? "uint mlg_w = " : "uvec%d mlg_w = ", w);
  kir_print_expr(p, s->value);
  fputs(";\n", out);
  kir_print_indent(p);
  fputs("int mlg_i = ", out);
  kir_print_expr(p, s->index);
  fputs(";\n", out);
  for (int l = 0; l < w; l++) {
    kir_print_indent(p);
    fprintf(out, "f16vec2 mlg_h%d = unpackFloat2x16(mlg_w%s);\n", l,
            w == 1 ? "" : (const char *[]){".x", ".y", ".z", ".w"}[l]);
    kir_print_indent(p);
    fprintf(out, "%s[mlg_i + %d] = mlg_h%d.x;\n", name, 2 * l, l);
    kir_print_indent(p);
    fprintf(out, "%s[mlg_i + %d] = mlg_h%d.y;\n", name, 2 * l + 1, l);
  }
  p->indent--;
  kir_print_indent(p);
  fputs("}\n", out);
}

static void gl_frag(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  const char *f = p->k->frags[s->frag].name;
  switch (s->kind) {
  case KIR_S_FRAG_ZERO:
    fprintf(out, "%s = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);\n", f);
    break;
  case KIR_S_FRAG_LOAD:
    fprintf(out, "coopMatLoadNV(%s, %s, uint(", f, p->k->locals[s->target].name);
    kir_print_expr(p, s->index);
    if (wide_local(p->k, s->target)) /* counted in uvec4s of 8 halves */
      fprintf(out, ") >> 3u, %du, %s);\n", s->stride / 8, s->col_major ? "true" : "false");
    else
      fprintf(out, "), %du, %s);\n", s->stride, s->col_major ? "true" : "false");
    break;
  case KIR_S_FRAG_MMA:
    fprintf(out, "%s = coopMatMulAddNV(%s, %s, %s);\n", f, p->k->frags[s->frag_a].name,
            p->k->frags[s->frag_b].name, f);
    break;
  case KIR_S_FRAG_STORE:
    fprintf(out, "coopMatStoreNV(%s, %s, uint(", f, p->k->locals[s->target].name);
    kir_print_expr(p, s->index);
    fprintf(out, "), %du, false);\n", s->stride);
    break;
  default: /* KIR_S_FRAG_SET, _PACK: refused by kir_glsl_check */
    break;
  }
}

/* Asynchronous copies are plain ones here (GLSL has none): the words of a present source, or
 * zeros, stored as kir_local_store_bits would store them; commit and wait leave a comment. */
static void gl_async(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  if (s->kind != KIR_S_ASYNC_COPY) {
    fputs(s->kind == KIR_S_ASYNC_COMMIT ? "// (copies commit: synchronous here)\n" : "// (copies wait: synchronous here)\n",
          out);
    return;
  }
  const kir_expr zero_i = {.kind = KIR_E_CONST_I, .type = kir_t(KIR_I32)};
  const kir_expr zeros = {.kind = KIR_E_CAST, .type = kir_tv(KIR_U32, 4), .a = (kir_expr *)&zero_i};
  kir_stmt copy = {.kind = KIR_S_LOCAL_STORE_BITS, .target = s->target, .index = s->index, .value = s->value};
  if (!s->cond) {
    gl_local_store_half(p, &copy);
    return;
  }
  fputs("if (", out);
  kir_print_expr(p, s->cond);
  fputs(") {\n", out);
  p->indent++;
  kir_print_indent(p);
  gl_local_store_half(p, &copy);
  p->indent--;
  kir_print_indent(p);
  fputs("} else {\n", out);
  p->indent++;
  kir_print_indent(p);
  copy.value = (kir_expr *)&zeros;
  gl_local_store_half(p, &copy);
  p->indent--;
  kir_print_indent(p);
  fputs("}\n", out);
}

static void gl_subgroup(kir_printer *p, const kir_expr *e) {
  static const char *const builtin[] = {[KIR_SG_SIZE] = "gl_SubgroupSize",
                                        [KIR_SG_ID] = "gl_SubgroupID",
                                        [KIR_SG_INVOCATION] = "gl_SubgroupInvocationID",
                                        [KIR_SG_COUNT] = "gl_NumSubgroups"};
  if (e->kind == KIR_E_SUBGROUP) {
    fprintf(p->out, "int(%s)", builtin[e->index]);
    return;
  }
  fputs(e->op == KIR_MIN   ? "subgroupMin("
        : e->op == KIR_MAX ? "subgroupMax("
        : e->op == KIR_MUL ? "subgroupMul("
                           : "subgroupAdd(",
        p->out);
  kir_print_expr(p, e->a);
  fputc(')', p->out);
}

static void gl_kernel_end(kir_printer *p) { fputs("}\n", p->out); }

static const kir_dialect glsl_dialect = {
  .type_name = gl_type_name,
  .unop_fn = {[KIR_ABS] = "abs", [KIR_EXP] = "exp", [KIR_LOG] = "log", [KIR_SQRT] = "sqrt",
              [KIR_RSQRT] = "inversesqrt", [KIR_TANH] = "mlg_tanh", [KIR_ERF] = "mlg_erf",
              [KIR_FLOOR] = "floor", [KIR_CEIL] = "ceil", [KIR_SIN] = "mlg_sin",
              [KIR_COS] = "mlg_cos", [KIR_TAN] = "mlg_tan", [KIR_ROUND] = "roundEven",
              [KIR_EXP2] = "exp2"},
  .fmin_fn = "mlg_fmin", .fmax_fn = "mlg_fmax", .imin_fn = "min", .imax_fn = "max",
  .pow_fn = "mlg_pow", .fmod_fn = "mlg_fmod",
  .work_item_id = gl_work_item_id,
  .inf = "uintBitsToFloat(0x7F800000u)", .nan = "uintBitsToFloat(0x7FC00000u)",
  .float_suffix = "",
  .load = gl_load, .store = gl_store, .cast = gl_cast, .bitcast = gl_bitcast,
  /* A control barrier plus visibility of shared-memory writes (tree reductions need both). */
  .barrier = "memoryBarrierShared(); barrier();",
  .component_fmt = "[%d]",
  .swizzle_prefix = "",
  .swizzle_lanes = "xyzw",
  .subgroup = gl_subgroup,
  .load_bits = gl_load_bits, .local_store_half = gl_local_store_half, .frag = gl_frag, .async = gl_async,
  .dot4x8 = gl_dot4x8, .load_packed = gl_load_packed,
  .unroll = gl_unroll,
  .kernel_begin = gl_kernel_begin, .kernel_end = gl_kernel_end,
};

int kir_print_glsl_kernel(const kir_kernel *k, FILE *out) {
  if (kir_glsl_check(k, NULL, 0) != 0) return -1;
  return kir_print_kernel(&glsl_dialect, k, out);
}

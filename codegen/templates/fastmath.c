/* fastmath.c — exp and erf built from kernel-IR arithmetic (see fastmath.h). */
#include "fastmath.h"

/* Polynomial coefficients, highest degree first. */
/* exp(r) on |r| <= ln2/2: Taylor to degree 7 (the first omitted term is below 5e-9). */
static const double exp_c[] = {1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0};
/* erf(x) = x·P(x²) for |x| < 1; 1 − exp(−x²)·Q(u), u = 1/(1 + |x|/2), for |x| >= 1. */
const double kt_fm_erf_p[KT_FM_ERF_P] = {7.89821061e-05, -0.000802435388, 0.00519005349,
                                         -0.0268548094, 0.112836123, -0.376126289, 1.12837923};
const double kt_fm_erf_q[KT_FM_ERF_Q] = {0.119280629, -0.471049935, 0.563167095, -0.103617974,
                                         0.347843736, 0.259666681, 0.284917027, -0.000154544046};

/* gelu's erf(z) = z·P(z²)/Q(z²) for |z| < KT_FM_GELU_ZMAX: rational fits of the project's own
 * (Loeb's linearized least squares with Lawson's reweighting toward the minimax fit, in double
 * over [0, 3.925], 1.7e-8 absolute there; rounded to float), highest degree first. */
const double kt_fm_gelu_p[KT_FM_GELU_N] = {2.030705847e-06, 0.0002874631853, 0.003875850076,
                                           0.05308286127, 0.1929639306, 1.128379021};
const double kt_fm_gelu_q[KT_FM_GELU_N] = {3.802821266e-05, 0.001189599286, 0.01518743143,
                                           0.1151635699, 0.5043414765, 1.0};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static kir_expr *f(kir_builder *b, double v) { return kir_f32(b, v); }
static kir_expr *add(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_ADD, x, y); }
static kir_expr *sub(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_SUB, x, y); }
static kir_expr *mul(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_MUL, x, y); }

/* e as a new variable (a formula uses its parts several times: one evaluation each). */
static kir_expr *let(kir_builder *b, const char *hint, kir_expr *e) {
  if (!e) return NULL;
  int v = kir_var_new(b, hint, e->type);
  kir_decl(b, v, e);
  return kir_var(b, v);
}

/* x itself when it is a variable or constant, else a new variable holding it. */
static kir_expr *operand(kir_builder *b, const char *hint, kir_expr *x) {
  if (!x || x->kind == KIR_E_VAR || x->kind == KIR_E_CONST_F) return x;
  return let(b, hint, x);
}

/* c[0]·t^(n−1) + ... + c[n−1], Horner's rule. */
static kir_expr *horner(kir_builder *b, const double *c, int n, kir_expr *t) {
  kir_expr *r = f(b, c[0]);
  for (int i = 1; i < n; i++) r = add(b, mul(b, r, t), f(b, c[i]));
  return r;
}

/* x < 0 ? −v : v (v >= 0 or NaN). */
static kir_expr *with_sign_of(kir_builder *b, kir_expr *x, kir_expr *v) {
  return kir_select(b, kir_bin(b, KIR_LT, x, f(b, 0.0)), kir_un(b, KIR_NEG, v), v);
}

/* 2^e for an integral float e in [−126, 127]: the exponent field (e + 127) << 23. The shift is
 * a multiply: (e + 127)·2^23 <= 254·2^23 < 2^31. */
static kir_expr *pow2i(kir_builder *b, kir_expr *e) {
  if (!e) return NULL;
  kir_expr *field = kir_cast(b, kir_tv(KIR_I32, e->type.width), add(b, e, f(b, 127.0)));
  return kir_bitcast(b, kir_tv(KIR_F32, e->type.width), kir_mul(b, field, kir_i32(b, 1 << 23)));
}

kir_expr *kt_fast_exp(kir_builder *b, kir_expr *x) {
  x = operand(b, "ex_in", x);
  /* Clamp into [−104, 89]; comparisons false for NaN send it to −104, so nothing below is NaN
   * or out of the int range; the last select gives NaN back. exp(−104) rounds to 0 and
   * exp(89) overflows to +inf, so the clamp changes no result. */
  kir_expr *xc = let(b, "ex_x", kir_select(b, kir_bin(b, KIR_GT, x, f(b, -104.0)),
                            kir_select(b, kir_bin(b, KIR_LT, x, f(b, 89.0)), x, f(b, 89.0)),
                            f(b, -104.0)));
  /* n = round(x / ln2); r = x − n·ln2 with ln2 split in two (the first part has 9 significant
   * bits, so n·ln2_hi is exact for |n| < 2^15). */
  kir_expr *scaled = add(b, mul(b, xc, f(b, 1.44269504088896341)), f(b, 0.5));
  kir_expr *n = let(b, "ex_n", kir_un(b, KIR_FLOOR, scaled));
  kir_expr *hi = sub(b, xc, mul(b, n, f(b, 0.693359375)));
  kir_expr *r = let(b, "ex_r", sub(b, hi, mul(b, n, f(b, -2.12194440e-4))));
  kir_expr *p = horner(b, exp_c, COUNT(exp_c), r);
  /* 2^n as 2^n1 · 2^(n − n1), n1 = floor(n/2): both factors are normal floats for every n in
   * [−150, 129], so subnormal and overflowing results round once, in the last multiply. */
  kir_expr *n1 = let(b, "ex_n1", kir_un(b, KIR_FLOOR, mul(b, n, f(b, 0.5))));
  kir_expr *v = mul(b, mul(b, p, pow2i(b, n1)), pow2i(b, sub(b, n, n1)));
  return let(b, "ex", kir_select(b, kir_bin(b, KIR_EQ, x, x), v, x));
}

kir_expr *kt_fast_erf(kir_builder *b, kir_expr *x) {
  x = operand(b, "ef_in", x);
  kir_expr *a = let(b, "ef_a", kir_un(b, KIR_ABS, x));
  kir_expr *small = mul(b, x, horner(b, kt_fm_erf_p, KT_FM_ERF_P, let(b, "ef_t", mul(b, x, x))));
  kir_expr *den = add(b, f(b, 1.0), mul(b, f(b, 0.5), a));
  kir_expr *u = let(b, "ef_u", kir_bin(b, KIR_DIV, f(b, 1.0), den));
  kir_expr *q = horner(b, kt_fm_erf_q, KT_FM_ERF_Q, u);
  /* Large |x|: exp(−x²) underflows to 0 and the result is exactly ±1; NaN stays NaN. */
  kir_expr *e = kt_fast_exp(b, let(b, "ef_x2", kir_un(b, KIR_NEG, mul(b, a, a))));
  kir_expr *large = let(b, "ef_l", sub(b, f(b, 1.0), mul(b, e, q)));
  return kir_select(b, kir_bin(b, KIR_LT, a, f(b, 1.0)), small, with_sign_of(b, x, large));
}

kir_expr *kt_fast_gelu(kir_builder *b, kir_expr *x) {
  x = operand(b, "ge_in", x);
  /* 1/sqrt(2) to double precision; the printer rounds it to the nearest float. */
  kir_expr *z = let(b, "ge_z", mul(b, x, f(b, 0.70710678118654752440)));
  kir_expr *t = let(b, "ge_t", mul(b, z, z));
  kir_expr *r = mul(b, z, kir_bin(b, KIR_DIV, horner(b, kt_fm_gelu_p, KT_FM_GELU_N, t),
                                  horner(b, kt_fm_gelu_q, KT_FM_GELU_N, t)));
  /* Beyond the fit erf is ±1 in float (erf(3.925) = 1 − 4e-9); NaN takes +1, and x keeps it. */
  kir_expr *e = let(b, "ge_e", kir_select(b, kir_bin(b, KIR_LT, kir_un(b, KIR_ABS, z), f(b, KT_FM_GELU_ZMAX)), r,
                                          with_sign_of(b, z, f(b, 1.0))));
  /* ½x + ½x·erf: one multiply-add, where ½x·(1 + erf) rounds 1 + erf first. */
  kir_expr *half_x = let(b, "ge_h", mul(b, f(b, 0.5), x));
  return add(b, mul(b, half_x, e), half_x);
}

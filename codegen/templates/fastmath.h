/* fastmath.h — erf (and the exp it needs) and gelu as straight-line kernel IR: range reduction,
 * polynomials and selects, no branches and no library calls, so a CPU compiler (PoCL's
 * work-group vectorizer) turns it into vector code, and both printers print it from the one
 * description.
 *
 * Why erf alone: once an elementwise kernel has no vector-typed values (lower_group.c, CPU class),
 * PoCL vectorizes its library exp and tanh itself, and they beat these forms; its erf stays a
 * scalar call per element. Over 2^24 floats, `erf(x * 1.5 + 0.25) * 0.5 - 1.0` took 2.7 s of
 * device time with the library erf and 0.18 s with this one, on the loaded 2-core machine
 * (docs/performance.md has the table).
 *
 * Accuracy, measured on PoCL by test_templates_compute (`fastmath_accuracy`) against the
 * double-precision libm result over a dense sweep:
 *  - exp: Cody–Waite reduction x = n·ln2 + r, |r| <= ln2/2, a degree-7 Taylor polynomial, and
 *    2^n built as two exponent fields through kir_bitcast (so results down to the
 *    subnormals round once): 0.9 ulp. exp(x) = 0 below -104, +inf above 89 (and where float overflows);
 *    NaN in, NaN out.
 *  - erf: x·P(x²) for |x| < 1; 1 − exp(−x²)·Q(1/(1 + |x|/2)) above: 2.3 ulp, 1.3e-7 absolute.
 *    The fits are the project's own least-squares fits, also printed by the GLSL printer's
 *    mlg_erf (the spelling of the IR's KIR_ERF there).
 *  - gelu: ½x + ½x·erf(x/√2), this erf a rational z·P(z²)/Q(z²) (one division, no exp: the
 *    transformer block's gelu over 128 × 3072 floats took 255 µs of PoCL device time through
 *    kt_fast_erf and takes 80): 4 ulp, or 2.5e-7·max(1, |x|) absolute where 1 + erf cancels
 *    (x < 0), the bound kt_fast_erf's gelu met; its worst is 0.75 of it (9.4e-7 at x = 5.2).
 *
 * Each function declares its intermediate values as variables (kir_decl in the builder's
 * current block, names starting ex_, ef_ and ge_) and returns an expression over them, to be used in that
 * block: call it where the value is needed, as the kernel templates call scalar formulas.
 * Constant folding evaluates such formulas with kir_eval_decls. NULL in → NULL out.
 * Thread safety: as the builder. */
#ifndef MLG_KT_FASTMATH_H
#define MLG_KT_FASTMATH_H

#include "kir.h"

/* erf's fits, highest degree first: x·P(x²) for |x| < 1, 1 − exp(−x²)·Q(u), u = 1/(1 + |x|/2),
 * above. */
enum { KT_FM_ERF_P = 7, KT_FM_ERF_Q = 8 };
extern const double kt_fm_erf_p[KT_FM_ERF_P], kt_fm_erf_q[KT_FM_ERF_Q];

/* gelu's erf(z), z = x/√2: z·P(z²)/Q(z²) for |z| < KT_FM_GELU_ZMAX, ±1 beyond. */
#define KT_FM_GELU_ZMAX 3.925
enum { KT_FM_GELU_N = 6 };
extern const double kt_fm_gelu_p[KT_FM_GELU_N], kt_fm_gelu_q[KT_FM_GELU_N];

kir_expr *kt_fast_exp(kir_builder *b, kir_expr *x);
kir_expr *kt_fast_erf(kir_builder *b, kir_expr *x);
/* gelu(x) = ½x·(1 + erf(x/√2)) with erf as the rational fit above (about half the operations
 * of kt_fast_erf, no exp). */
kir_expr *kt_fast_gelu(kir_builder *b, kir_expr *x);

#endif

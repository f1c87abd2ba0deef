/* kir_eval.h — evaluates one kir expression tree on the host, one scalar at a time, with the
 * device's semantics: float math is done in float32 (each operation rounded to float, the
 * float functions of libm: expf, erff, tanhf, powf, ...), ints are 32-bit and wrap, comparisons
 * give bools. The optimizer's constant folding uses it to run an op's scalar formula (op.h's
 * `scalar` hook) on compile-time values, so a folded constant equals what the kernel computes
 * (up to the libm vs OpenCL-builtin ulp differences).
 *
 * A packed dot product (KIR_E_DOT4X8) is evaluated as its definition; a packed load is four
 * loads of the callback, each element's low byte.
 * Leaves take their values from an environment: variables by id, buffer and local-array loads
 * through callbacks, work-item ids from arrays. Vector expressions (width > 1) are not
 * evaluated. Where C leaves a result undefined, the evaluator picks one and says so:
 * float → int conversion saturates (NaN → 0, like OpenCL's convert_int_sat), integer division
 * or modulo by zero and INT_MIN / -1 are errors.
 * Thread safety: reentrant; the expression is only read. */
#ifndef MLG_KIR_EVAL_H
#define MLG_KIR_EVAL_H

#include <stdint.h>

#include "kir.h"

/* A scalar of one kir type: F32 → f, I32 → i, U32 → u, BOOL → i (0 or 1). */
typedef struct kir_value {
  kir_scalar type;
  float f;
  int32_t i;
  uint32_t u;
} kir_value;

typedef struct kir_eval_env {
  int n_vars;
  const kir_value *vars;          /* value of variable id v (converted to the variable's type) */
  /* Value of element `index` of buffer / local array `id`; return 0, or -1 if unavailable. May
   * be NULL (a load is then an error). */
  int (*load)(void *user, int buffer, int64_t index, kir_value *out);
  int (*local_load)(void *user, int local, int64_t index, kir_value *out);
  void *user;
  int32_t global_id[3], local_id[3], group_id[3];
} kir_eval_env;

kir_value kir_value_f32(float f);
kir_value kir_value_i32(int32_t i);
kir_value kir_value_u32(uint32_t u);
kir_value kir_value_bool(int b);
/* Converts between kir scalar types as a C cast would (bool: nonzero → 1; float → int
 * saturating, NaN → 0). A storage type (F16, I8, U8) converts to its compute type, as kir_cast
 * does. */
kir_value kir_value_convert(kir_value v, kir_scalar to);
/* The value as a double (exact for every kir scalar). */
double kir_value_as_double(kir_value v);

/* Evaluates `e` in `env` (env may be NULL when e reads no variable, load or id). Returns 0 with
 * *out set, or -1 when the expression cannot be evaluated: a NULL operand, a vector, a missing
 * variable or load callback, a subgroup builtin or reduction (device state), an integer
 * division by zero, or nesting deeper than 512. */
int kir_eval(const kir_expr *e, const kir_eval_env *env, kir_value *out);
/* Runs the top-level statements of k, which must all be declarations or assignments (a scalar
 * formula that names its parts, fastmath.h): each value evaluated in env and stored in
 * vars[var], where env->vars points at vars (k->n_vars of them). Returns 0, or -1 when a
 * statement is of another kind or a value cannot be evaluated. */
int kir_eval_decls(const kir_kernel *k, const kir_eval_env *env, kir_value *vars);

#endif

/* cast.c — cast(x, dtype=T): x converted to dtype T (f32 f16 i32 i64 i8 u8 bool), as ONNX
 * Cast: a float to an integer truncates toward zero; anything to bool is x != 0 (a NaN is
 * true); bool to a number is 0 or 1. Where ONNX leaves a result undefined, mlg defines it, the
 * same on every device and in constant folding: a float beyond the int32 range saturates to
 * it and NaN gives 0, before an 8-bit type keeps the low 8 bits (as every integer result
 * does); to f16 rounds to nearest, ties to even (overflow gives infinity). */
#include "op_util.h"
#include "kir.h"

enum { A_DTYPE };

static int cast_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                      mlg_shape_error *err) {
  int64_t d = attrs[A_DTYPE].ints[0];
  if (attrs[A_DTYPE].kind != MLG_ATTR_DTYPE || d < 0 || d >= MLG_N_DTYPES) {
    mlg_shape_errorf(err, -1, A_DTYPE, "'dtype' must be a type name (f32, f16, i32, i64, i8, u8 "
                     "or bool)");
    return -1;
  }
  *out = in[0];
  out->dtype = (mlg_ir_dtype)d;
  return 0;
}

static kir_expr *cast_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  kir_expr *x = in[0];
  mlg_ir_dtype to = (mlg_ir_dtype)mlg_attr_int(n, A_DTYPE);
  if (!x) return NULL;
  kir_scalar from = x->type.scalar;
  if (to == MLG_BOOL) {
    if (from == KIR_BOOL) return x;
    return kir_bin(b, KIR_NE, x, from == KIR_F32 ? kir_f32(b, 0.0) : kir_i32(b, 0));
  }
  if (mlg_dtype_is_float(to)) return kir_cast(b, kir_t(KIR_F32), x);
  if (from != KIR_F32) return kir_cast(b, kir_t(KIR_I32), x);
  /* float → int: toward zero; saturating, and NaN → 0 (C leaves both undefined). */
  kir_expr *in_range = kir_select(b, kir_bin(b, KIR_LT, x, kir_f32(b, -2147483648.0)),
                                  kir_i32(b, INT32_MIN), kir_cast(b, kir_t(KIR_I32), x));
  kir_expr *high = kir_select(b, kir_bin(b, KIR_GE, x, kir_f32(b, 2147483648.0)),
                              kir_i32(b, INT32_MAX), in_range);
  return kir_select(b, kir_bin(b, KIR_NE, x, x), kir_i32(b, 0), high);
}

static const mlg_op_spelling cast_foreign[] = {
  {"astype", "cast(x, dtype=T)"},
  {"to", "cast(x, dtype=T)"},
  {"type", "cast(x, dtype=T)"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_cast = {
  .name = "cast",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "dtype", .kind = MLG_ATTR_DTYPE, .required = 1 },
  },
  .infer = cast_infer,
  .scalar = cast_scalar,
  .input_names = "x",
  .shape_doc = "as x, of dtype T",
  .doc = "x converted to dtype T: float to int toward zero, to bool x != 0 (ONNX Cast)",
  .foreign = cast_foreign,
};

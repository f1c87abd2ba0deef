/* binary.c — elementwise arithmetic of two tensors with NumPy broadcasting, in the dtype they
 * promote to (mlg_dtype_promote): add, sub, mul, maximum and minimum of any numbers (integers
 * wrap at their width), div, pow and fmod of floats. Their identities (x + 0, x * 1, ...) hold for
 * every IEEE value, so simplify may drop them; x * 0 and x - x are not identities (inf, NaN). */
#include "op_util.h"
#include "templates/elementwise.h"

static int binary_out(const mlg_type *in, mlg_ir_dtype dt, mlg_type *out, mlg_shape_error *err) {
  if (mlg_broadcast_types(&in[0], &in[1], out, err)) return -1;
  out->dtype = dt;
  return 0;
}

static int binary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  mlg_ir_dtype dt;
  if (mlg_unify_dtypes(in, n_in, 3, &dt, err) || mlg_require_numeric(in, n_in, err)) return -1;
  return binary_out(in, dt, out, err);
}

/* div, pow and fmod: floats only (mlg has no integer division). */
static int float_binary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                              mlg_shape_error *err) {
  mlg_ir_dtype dt;
  if (mlg_unify_dtypes(in, n_in, 3, &dt, err) || mlg_require_float(in, n_in, err)) return -1;
  return binary_out(in, dt, out, err);
}

/* The scalar formula of each op, shared by the elementwise kernel template and fusion. */
#define BINARY_SCALAR(op)                                                                   \
  static kir_expr *op##_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {         \
    return kt_sf_##op(b, in[0], in[1]);                                                     \
  }
BINARY_SCALAR(add)
BINARY_SCALAR(sub)
BINARY_SCALAR(mul)
BINARY_SCALAR(div)
BINARY_SCALAR(pow)
BINARY_SCALAR(maximum)
BINARY_SCALAR(minimum)
BINARY_SCALAR(fmod)

/* The binary ops differ in name, shape rule, formula, summary and algebra (the trailing
 * arguments: the mlg_algebra fields, or 0). */
#define BINARY_OP(op, infer_fn, summary, ...)                                               \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = 2,                                                                        \
    .max_inputs = 2,                                                                        \
    .infer = infer_fn,                                                                      \
    .same_dtype = 3,                                                                        \
    .scalar = op##_scalar,                                                                  \
    .algebra = { __VA_ARGS__ },                                                             \
    .input_names = "a, b",                                                                  \
    .shape_doc = "NumPy broadcast of a and b",                                              \
    .doc = summary,                                                                         \
  };
BINARY_OP(add, binary_infer, "a + b (broadcasting)",
          .operator_sym = '+', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 0)
BINARY_OP(sub, binary_infer, "a - b (broadcasting)",
          .operator_sym = '-', .identity_sides = MLG_ID_RIGHT, .identity = 0)
BINARY_OP(mul, binary_infer, "a * b (broadcasting)",
          .operator_sym = '*', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 1)
BINARY_OP(div, float_binary_infer, "a / b (broadcasting)",
          .operator_sym = '/', .identity_sides = MLG_ID_RIGHT, .identity = 1)
BINARY_OP(pow, float_binary_infer, "a ^ b (broadcasting)", 0)
BINARY_OP(maximum, binary_infer, "elementwise max(a, b) (broadcasting)", 0)
BINARY_OP(minimum, binary_infer, "elementwise min(a, b) (broadcasting)", 0)
BINARY_OP(fmod, float_binary_infer,
          "a - b * trunc(a / b), the sign of a (C fmod, torch.fmod, ONNX Mod fmod=1)", 0)

/* logical.c — elementwise logic of bool tensors (torch.logical_*, ONNX And/Or/Xor/Not):
 * logical_and, logical_or, logical_xor with NumPy broadcasting, and logical_not. Inputs must be
 * bool: a number becomes one with a comparison (not_equal(x, 0)) or cast(x, dtype=bool). */
#include "op_util.h"
#include "kir.h"

static int logical_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  for (int i = 0; i < n_in; i++) {
    if (in[i].dtype == MLG_BOOL) continue;
    mlg_shape_errorf(err, i, -1, "input %d must be bool, got %s (make one with a comparison, "
                     "e.g. not_equal(x, 0), or cast(x, dtype=bool))", i, mlg_dtype_name(in[i].dtype));
    return -1;
  }
  if (n_in == 1) {
    *out = in[0];
    return 0;
  }
  return mlg_broadcast_types(&in[0], &in[1], out, err);
}

static kir_expr *logical_and_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_bin(b, KIR_AND, in[0], in[1]);
}
static kir_expr *logical_or_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_bin(b, KIR_OR, in[0], in[1]);
}
static kir_expr *logical_xor_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_bin(b, KIR_NE, in[0], in[1]);
}
static kir_expr *logical_not_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_un(b, KIR_NOT, in[0]);
}

#define LOGICAL_OP(op, arity, names, shape, summary)                                        \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = arity,                                                                    \
    .max_inputs = arity,                                                                    \
    .infer = logical_infer,                                                                 \
    .same_dtype = arity == 2 ? 3 : 1,                                                       \
    .scalar = op##_scalar,                                                                  \
    .input_names = names,                                                                   \
    .shape_doc = shape,                                                                     \
    .doc = summary,                                                                         \
  };
LOGICAL_OP(logical_and, 2, "a, b", "NumPy broadcast of a and b, bool", "a and b (bools, broadcasting)")
LOGICAL_OP(logical_or, 2, "a, b", "NumPy broadcast of a and b, bool", "a or b (bools, broadcasting)")
LOGICAL_OP(logical_xor, 2, "a, b", "NumPy broadcast of a and b, bool",
           "a xor b: one of them but not both (bools, broadcasting)")
LOGICAL_OP(logical_not, 1, "x", "as x", "not x (bool)")

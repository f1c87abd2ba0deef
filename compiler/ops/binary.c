/* binary.c — elementwise arithmetic of two tensors with NumPy broadcasting, in the dtype they
 * promote to (mlg_dtype_promote): add, sub, mul, maximum and minimum of any numbers (integers
 * wrap at their width), div and pow of floats. Their identities (x + 0, x * 1, ...) hold for
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

/* div and pow: floats only (mlg has no integer division). */
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

const mlg_op_def mlg_op_add = {
  .name = "add",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .same_dtype = 3,
  .scalar = add_scalar,
  .algebra = { .operator_sym = '+', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 0 },
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "a + b (broadcasting)",
};

const mlg_op_def mlg_op_sub = {
  .name = "sub",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .same_dtype = 3,
  .scalar = sub_scalar,
  .algebra = { .operator_sym = '-', .identity_sides = MLG_ID_RIGHT, .identity = 0 },
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "a - b (broadcasting)",
};

const mlg_op_def mlg_op_mul = {
  .name = "mul",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .same_dtype = 3,
  .scalar = mul_scalar,
  .algebra = { .operator_sym = '*', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 1 },
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "a * b (broadcasting)",
};

const mlg_op_def mlg_op_div = {
  .name = "div",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = float_binary_infer,
  .same_dtype = 3,
  .scalar = div_scalar,
  .algebra = { .operator_sym = '/', .identity_sides = MLG_ID_RIGHT, .identity = 1 },
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "a / b (broadcasting)",
};

const mlg_op_def mlg_op_pow = {
  .name = "pow",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = float_binary_infer,
  .same_dtype = 3,
  .scalar = pow_scalar,
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "a ^ b (broadcasting)",
};

const mlg_op_def mlg_op_maximum = {
  .name = "maximum",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .same_dtype = 3,
  .scalar = maximum_scalar,
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "elementwise max(a, b) (broadcasting)",
};

const mlg_op_def mlg_op_minimum = {
  .name = "minimum",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .same_dtype = 3,
  .scalar = minimum_scalar,
  .input_names = "a, b",
  .shape_doc = "NumPy broadcast of a and b",
  .doc = "elementwise min(a, b) (broadcasting)",
};

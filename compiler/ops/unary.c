/* unary.c — elementwise ops of one tensor: out[i] = f(x[i]), same type as x. neg and abs take
 * any number (integers wrap at their width: abs of i8 -128 is -128, as in PyTorch); the others
 * are float math (f32, f16). */
#include "op_util.h"
#include "templates/elementwise.h"

static int unary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_float(in, n_in, err)) return -1;
  *out = in[0];
  return 0;
}

static int numeric_unary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                               mlg_shape_error *err) {
  if (mlg_require_numeric(in, n_in, err)) return -1;
  *out = in[0];
  return 0;
}

/* The scalar formula of each op, shared by the elementwise kernel template and fusion. */
#define UNARY_SCALAR(op)                                                                    \
  static kir_expr *op##_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {         \
    return kt_sf_##op(b, in[0]);                                                            \
  }
UNARY_SCALAR(neg)
UNARY_SCALAR(abs)
UNARY_SCALAR(exp)
UNARY_SCALAR(log)
UNARY_SCALAR(sqrt)
UNARY_SCALAR(rsqrt)
UNARY_SCALAR(relu)
UNARY_SCALAR(sigmoid)
UNARY_SCALAR(tanh)
UNARY_SCALAR(gelu)
UNARY_SCALAR(silu)
UNARY_SCALAR(erf)

const mlg_op_def mlg_op_neg = {
  .name = "neg",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = numeric_unary_infer,
  .scalar = neg_scalar,
  .algebra = { .operator_sym = '-', .involution = 1 },
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "-x",
};

const mlg_op_def mlg_op_abs = {
  .name = "abs",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = numeric_unary_infer,
  .scalar = abs_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "|x|",
};

const mlg_op_def mlg_op_exp = {
  .name = "exp",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = exp_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "e^x",
};

const mlg_op_def mlg_op_log = {
  .name = "log",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = log_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "natural logarithm",
};

const mlg_op_def mlg_op_sqrt = {
  .name = "sqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = sqrt_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "square root",
};

const mlg_op_def mlg_op_rsqrt = {
  .name = "rsqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = rsqrt_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "1 / sqrt(x)",
};

const mlg_op_def mlg_op_relu = {
  .name = "relu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = relu_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "max(x, 0)",
};

const mlg_op_def mlg_op_sigmoid = {
  .name = "sigmoid",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = sigmoid_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "1 / (1 + e^-x)",
};

const mlg_op_def mlg_op_tanh = {
  .name = "tanh",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = tanh_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "hyperbolic tangent",
};

const mlg_op_def mlg_op_gelu = {
  .name = "gelu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = gelu_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * Phi(x), the exact erf form (torch.nn.GELU())",
};

static const mlg_op_spelling silu_foreign[] = {{"swish", "silu(x)"}, {NULL, NULL}};

const mlg_op_def mlg_op_silu = {
  .name = "silu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = silu_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * sigmoid(x)",
  .foreign = silu_foreign,
};

const mlg_op_def mlg_op_erf = {
  .name = "erf",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = erf_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "error function",
};

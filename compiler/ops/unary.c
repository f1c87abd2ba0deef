/* unary.c — elementwise ops of one f32 tensor: out[i] = f(x[i]), same type as x. */
#include "op_util.h"

static int unary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  *out = in[0];
  return 0;
}

const mlg_op_def mlg_op_neg = {
  .name = "neg",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "-x",
};

const mlg_op_def mlg_op_abs = {
  .name = "abs",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "|x|",
};

const mlg_op_def mlg_op_exp = {
  .name = "exp",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "e^x",
};

const mlg_op_def mlg_op_log = {
  .name = "log",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "natural logarithm",
};

const mlg_op_def mlg_op_sqrt = {
  .name = "sqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "square root",
};

const mlg_op_def mlg_op_rsqrt = {
  .name = "rsqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "1 / sqrt(x)",
};

const mlg_op_def mlg_op_relu = {
  .name = "relu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "max(x, 0)",
};

const mlg_op_def mlg_op_sigmoid = {
  .name = "sigmoid",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "1 / (1 + e^-x)",
};

const mlg_op_def mlg_op_tanh = {
  .name = "tanh",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "hyperbolic tangent",
};

const mlg_op_def mlg_op_gelu = {
  .name = "gelu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "x * Phi(x), the exact erf form (torch.nn.GELU())",
};

const mlg_op_def mlg_op_silu = {
  .name = "silu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "x * sigmoid(x)",
};

const mlg_op_def mlg_op_erf = {
  .name = "erf",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .doc = "error function",
};

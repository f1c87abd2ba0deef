/* binary.c — elementwise ops of two f32 tensors with NumPy broadcasting. */
#include "op_util.h"

static int binary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  return mlg_broadcast_types(&in[0], &in[1], out, err);
}

const mlg_op_def mlg_op_add = {
  .name = "add",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "a + b (broadcasting)",
};

const mlg_op_def mlg_op_sub = {
  .name = "sub",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "a - b (broadcasting)",
};

const mlg_op_def mlg_op_mul = {
  .name = "mul",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "a * b (broadcasting)",
};

const mlg_op_def mlg_op_div = {
  .name = "div",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "a / b (broadcasting)",
};

const mlg_op_def mlg_op_pow = {
  .name = "pow",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "a ^ b (broadcasting)",
};

const mlg_op_def mlg_op_maximum = {
  .name = "maximum",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "elementwise max(a, b) (broadcasting)",
};

const mlg_op_def mlg_op_minimum = {
  .name = "minimum",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = binary_infer,
  .doc = "elementwise min(a, b) (broadcasting)",
};

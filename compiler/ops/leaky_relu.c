/* leaky_relu.c — leaky_relu(x, alpha=0.01) = x if x >= 0 else alpha * x. */
#include "op_util.h"

static int leaky_relu_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  *out = in[0];
  return 0;
}

const mlg_op_def mlg_op_leaky_relu = {
  .name = "leaky_relu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "alpha", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(0.01) },
  },
  .infer = leaky_relu_infer,
  .doc = "x if x >= 0 else alpha * x",
};

/* leaky_relu.c — leaky_relu(x, alpha=0.01) = x if x >= 0 else alpha * x. */
#include "op_util.h"
#include "templates/elementwise.h"

enum { A_ALPHA };

static int leaky_relu_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  if (mlg_require_float(in, n_in, err)) return -1;
  *out = in[0];
  return 0;
}

static kir_expr *leaky_relu_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kt_sf_leaky_relu(b, in[0], mlg_attr_float(n, A_ALPHA));
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
  .scalar = leaky_relu_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x if x >= 0 else alpha * x",
};

/* leaky_relu.c — leaky_relu(x, alpha=0.01) = x if x >= 0 else alpha * x. */
#include "op_defs.h"
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

/* dy where x > 0, else alpha dy (torch): dy (alpha + (1 - alpha) heaviside(x, 0)). */
static int leaky_relu_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx) {
  (void)node;
  if (!needs[0]) return 0;
  double alpha = mlg_attr_float(n, A_ALPHA);
  int step = mlg_b2(ob, &mlg_op_heaviside, n->inputs[0], mlg_build_scalar(ob, 0));
  int slope = mlg_b2(ob, &mlg_op_add, mlg_b_scale(ob, step, 1 - alpha), mlg_build_scalar(ob, alpha));
  dx[0] = mlg_b2(ob, &mlg_op_mul, dy, slope);
  return ob->failed ? -1 : 0;
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
  .vjp = leaky_relu_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x if x >= 0 else alpha * x",
};

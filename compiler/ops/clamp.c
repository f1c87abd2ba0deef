/* clamp.c — clamp(x, lo, hi) = min(max(x, lo), hi); lo and hi are attributes. */
#include "op_util.h"
#include "templates/elementwise.h"

enum { A_LO, A_HI };

static int clamp_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_float(in, n_in, err)) return -1;
  if (attrs[A_LO].f > attrs[A_HI].f) {
    mlg_shape_errorf(err, -1, A_LO, "lo (%g) is greater than hi (%g)", attrs[A_LO].f,
                     attrs[A_HI].f);
    return -1;
  }
  *out = in[0];
  return 0;
}

static kir_expr *clamp_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kt_sf_clamp(b, in[0], mlg_attr_float(n, A_LO), mlg_attr_float(n, A_HI));
}

static const mlg_op_spelling clamp_foreign[] = {
  {"relu6", "clamp(x, 0, 6)"},
  {"hardtanh", "clamp(x, -1, 1)"},
  {"clip", "clamp(x, lo, hi)"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_clamp = {
  .name = "clamp",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 2,
  .attrs = {
    { .name = "lo", .kind = MLG_ATTR_FLOAT, .required = 1 },
    { .name = "hi", .kind = MLG_ATTR_FLOAT, .required = 1 },
  },
  .infer = clamp_infer,
  .scalar = clamp_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "min(max(x, lo), hi)",
  .foreign = clamp_foreign,
};

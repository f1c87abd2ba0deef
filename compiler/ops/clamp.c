/* clamp.c — clamp(x, lo, hi) = min(max(x, lo), hi); lo and hi are attributes. */
#include "op_util.h"
#include "templates/elementwise.h"

static int clamp_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (attrs[0].f > attrs[1].f) {
    mlg_shape_errorf(err, -1, 0, "lo (%g) is greater than hi (%g)", attrs[0].f, attrs[1].f);
    return -1;
  }
  *out = in[0];
  return 0;
}

static kir_expr *clamp_scalar(kir_builder *b, kir_expr **in, const mlg_attr *attrs) {
  return kt_sf_clamp(b, in[0], attrs[0].f, attrs[1].f);
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
  .doc = "min(max(x, lo), hi)",
  .foreign = clamp_foreign,
};

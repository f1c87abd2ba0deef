/* compare.c — elementwise comparisons of two tensors with NumPy broadcasting, giving bool
 * (torch.eq/ne/lt/le/gt/ge, ONNX Equal/Less/LessOrEqual/Greater/GreaterOrEqual): the operands
 * promote as arithmetic's do (mlg_dtype_promote), bools included. A NaN compares unequal to
 * everything, itself included, as in IEEE and NumPy. */
#include "op_util.h"
#include "kir.h"

static int compare_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  mlg_ir_dtype dt;
  if (mlg_unify_dtypes(in, n_in, 3, &dt, err)) return -1;
  if (mlg_broadcast_types(&in[0], &in[1], out, err)) return -1;
  out->dtype = MLG_BOOL;
  return 0;
}

/* a op b; bools are ordered as 0 < 1 (GLSL orders numbers only). */
static kir_expr *compare(kir_builder *b, kir_binop op, kir_expr *x, kir_expr *y) {
  if (op != KIR_EQ && op != KIR_NE && x && y && x->type.scalar == KIR_BOOL) {
    x = kir_cast(b, kir_t(KIR_I32), x);
    y = kir_cast(b, kir_t(KIR_I32), y);
  }
  return kir_bin(b, op, x, y);
}

#define COMPARE_OP(op, binop, summary, torch_name)                                     \
  static kir_expr *op##_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {         \
    return compare(b, binop, in[0], in[1]);                                                 \
  }                                                                                         \
  static const mlg_op_spelling op##_foreign[] = {                                           \
    {torch_name, #op "(a, b)"},                                                             \
    {NULL, NULL},                                                                           \
  };                                                                                        \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = 2,                                                                        \
    .max_inputs = 2,                                                                        \
    .infer = compare_infer,                                                                 \
    .same_dtype = 3,                                                                        \
    .scalar = op##_scalar,                                                                  \
    .input_names = "a, b",                                                                  \
    .shape_doc = "NumPy broadcast of a and b, bool",                                        \
    .doc = summary,                                                                         \
    .foreign = op##_foreign,                                                                \
  };
COMPARE_OP(equal, KIR_EQ, "a == b (broadcasting), bool", "eq")
COMPARE_OP(not_equal, KIR_NE, "a != b (broadcasting), bool; true where either is NaN", "ne")
COMPARE_OP(less, KIR_LT, "a < b (broadcasting), bool", "lt")
COMPARE_OP(less_equal, KIR_LE, "a <= b (broadcasting), bool", "le")
COMPARE_OP(greater, KIR_GT, "a > b (broadcasting), bool", "gt")
COMPARE_OP(greater_equal, KIR_GE, "a >= b (broadcasting), bool", "ge")

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
UNARY_SCALAR(silu)
UNARY_SCALAR(erf)
UNARY_SCALAR(sin)
UNARY_SCALAR(cos)
UNARY_SCALAR(tan)
UNARY_SCALAR(floor)
UNARY_SCALAR(ceil)
UNARY_SCALAR(round)
UNARY_SCALAR(sign)
UNARY_SCALAR(reciprocal)

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

/* The float unary ops that differ only in name, formula, summary and other frameworks' names. */
#define UNARY_OP(op, summary, foreign_names)                                                \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .infer = unary_infer,                                                                   \
    .scalar = op##_scalar,                                                                  \
    .input_names = "x",                                                                     \
    .shape_doc = "as x",                                                                    \
    .doc = summary,                                                                         \
    .foreign = foreign_names,                                                               \
  };
UNARY_OP(exp, "e^x", NULL)
UNARY_OP(log, "natural logarithm", NULL)
UNARY_OP(sqrt, "square root", NULL)
UNARY_OP(rsqrt, "1 / sqrt(x)", NULL)
UNARY_OP(relu, "max(x, 0)", NULL)
UNARY_OP(sigmoid, "1 / (1 + e^-x)", NULL)
UNARY_OP(tanh, "hyperbolic tangent", NULL)

/* gelu's `approximate`, as torch.nn.functional.gelu's: the exact erf form, or the tanh one. */
enum { GELU_A_APPROXIMATE };
enum { GELU_NONE, GELU_TANH };
static const char *const gelu_approximations[] = {"none", "tanh", NULL};

static kir_expr *gelu_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  if (mlg_attr_int(n, GELU_A_APPROXIMATE) == GELU_TANH) return kt_sf_gelu_tanh(b, in[0]);
  return kt_sf_gelu(b, in[0]);
}

const mlg_op_def mlg_op_gelu = {
  .name = "gelu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "approximate", .kind = MLG_ATTR_ENUM, .deflt = MLG_DEFAULT_ENUM(GELU_NONE),
      .choices = gelu_approximations },
  },
  .infer = unary_infer,
  .scalar = gelu_scalar,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * Phi(x): the erf form, or with approximate=tanh 0.5x(1 + tanh(sqrt(2/pi)(x + "
         "0.044715x^3))) (torch.nn.functional.gelu)",
};

static const mlg_op_spelling silu_foreign[] = {{"swish", "silu(x)"}, {NULL, NULL}};
static const mlg_op_spelling reciprocal_foreign[] = {{"recip", "reciprocal(x)"},
                                                     {"inv", "reciprocal(x)"},
                                                     {NULL, NULL}};

UNARY_OP(silu, "x * sigmoid(x)", silu_foreign)
UNARY_OP(erf, "error function", NULL)
UNARY_OP(sin, "sine (radians)", NULL)
UNARY_OP(cos, "cosine (radians)", NULL)
UNARY_OP(tan, "tangent (radians)", NULL)
UNARY_OP(floor, "largest integer <= x", NULL)
UNARY_OP(ceil, "smallest integer >= x", NULL)
UNARY_OP(round, "nearest integer, halves to even (torch.round, ONNX Round)", NULL)
UNARY_OP(sign, "1 for x > 0, -1 for x < 0, x itself for 0 and NaN (torch.sign)", NULL)
UNARY_OP(reciprocal, "1 / x", reciprocal_foreign)

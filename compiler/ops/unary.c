/* unary.c — elementwise ops of one tensor: out[i] = f(x[i]), same type as x. neg and abs take
 * any number (integers wrap at their width: abs of i8 -128 is -128, as in PyTorch); the others
 * are float math (f32, f16). */
#include "op_defs.h"
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

/* gelu's `approximate`, as torch.nn.functional.gelu's: the exact erf form, or the tanh one. */
enum { GELU_A_APPROXIMATE };
enum { GELU_NONE, GELU_TANH };


/* Gradients (torch.autograd's formulas). `X` is the input, `node` the output y. */
#define X n->inputs[0]
#define VJP(op)                                                                             \
  static int op##_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,             \
                      const char *needs, int *dx) {                                         \
    (void)n, (void)node;                                                                    \
    if (needs[0]) dx[0] = op##_grad(ob, n, node, dy);                                       \
    return ob->failed ? -1 : 0;                                                             \
  }
#define MUL(a, b) mlg_b2(ob, &mlg_op_mul, (a), (b))
#define ONE mlg_build_scalar(ob, 1)
/* C11 has no M_SQRT1_2 or M_2_SQRTPI. */
#define SQRT1_2 0.70710678118654752440
#define TWO_OVER_SQRTPI 1.12837916709551257390

static int neg_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n, (void)node;
  return mlg_b1(ob, &mlg_op_neg, dy);
}
/* dy * sgn(x) */
static int abs_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  return MUL(dy, mlg_b1(ob, &mlg_op_sign, X));
}
static int exp_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(dy, node);
}
static int log_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  return mlg_b2(ob, &mlg_op_div, dy, X);
}
/* dy / (2 y) */
static int sqrt_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return mlg_b2(ob, &mlg_op_div, dy, mlg_b_scale(ob, node, 2));
}
/* -0.5 dy y^3 */
static int rsqrt_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(mlg_b_scale(ob, dy, -0.5), MUL(MUL(node, node), node));
}
/* dy where y > 0, else 0 */
static int relu_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(dy, mlg_b2(ob, &mlg_op_heaviside, node, mlg_build_scalar(ob, 0)));
}
/* dy (1 - y) y */
static int sigmoid_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(MUL(dy, mlg_b2(ob, &mlg_op_sub, ONE, node)), node);
}
/* dy (1 - y^2) */
static int tanh_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(dy, mlg_b2(ob, &mlg_op_sub, ONE, MUL(node, node)));
}
/* approximate=tanh: y = x (1 + t) / 2, t = tanh(u), u = c (x + k x^3), so
 * dy ((1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2). */
static int gelu_tanh_grad(mlg_op_builder *ob, const mlg_node *n, int dy) {
  const double c = 0.79788456080286535588, k = 0.044715;
  int x2 = MUL(X, X);
  int u = mlg_b_scale(ob, MUL(X, mlg_b2(ob, &mlg_op_add, ONE, mlg_b_scale(ob, x2, k))), c);
  int t = mlg_b1(ob, &mlg_op_tanh, u);
  int du = mlg_b_scale(ob, mlg_b2(ob, &mlg_op_add, ONE, mlg_b_scale(ob, x2, 3 * k)), c);
  int dt = MUL(mlg_b2(ob, &mlg_op_sub, ONE, MUL(t, t)), du);
  int g = mlg_b_scale(ob, mlg_b2(ob, &mlg_op_add, mlg_b2(ob, &mlg_op_add, ONE, t), MUL(X, dt)), 0.5);
  return MUL(dy, g);
}
/* dy (Phi(x) + x phi(x)): Phi = (1 + erf(x / sqrt 2)) / 2, phi = e^(-x^2 / 2) / sqrt(2 pi) */
static int gelu_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  if (mlg_attr_int(n, GELU_A_APPROXIMATE) == GELU_TANH) return gelu_tanh_grad(ob, n, dy);
  int cdf = mlg_b_scale(ob, mlg_b2(ob, &mlg_op_add, ONE, mlg_b1(ob, &mlg_op_erf, mlg_b_scale(ob, X, SQRT1_2))),
                        0.5);
  int pdf = mlg_b_scale(ob, mlg_b1(ob, &mlg_op_exp, mlg_b_scale(ob, MUL(X, X), -0.5)),
                        0.5 * TWO_OVER_SQRTPI * SQRT1_2);
  return MUL(dy, mlg_b2(ob, &mlg_op_add, cdf, MUL(X, pdf)));
}
/* dy s (1 + x (1 - s)), s = sigmoid(x) */
static int silu_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  int s = mlg_b1(ob, &mlg_op_sigmoid, X);
  int t = mlg_b2(ob, &mlg_op_add, ONE, MUL(X, mlg_b2(ob, &mlg_op_sub, ONE, s)));
  return MUL(MUL(dy, s), t);
}
/* dy 2/sqrt(pi) e^(-x^2) */
static int erf_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  return MUL(dy, mlg_b_scale(ob, mlg_b1(ob, &mlg_op_exp, mlg_b1(ob, &mlg_op_neg, MUL(X, X))), TWO_OVER_SQRTPI));
}
/* dy cos(x), -dy sin(x), dy (1 + y^2), -dy y^2 */
static int sin_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  return MUL(dy, mlg_b1(ob, &mlg_op_cos, X));
}
static int cos_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
  return MUL(mlg_b1(ob, &mlg_op_neg, dy), mlg_b1(ob, &mlg_op_sin, X));
}
static int tan_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(dy, mlg_b2(ob, &mlg_op_add, ONE, MUL(node, node)));
}
static int reciprocal_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)n;
  return MUL(mlg_b1(ob, &mlg_op_neg, dy), MUL(node, node));
}
VJP(neg)
VJP(abs)
VJP(exp)
VJP(log)
VJP(sqrt)
VJP(rsqrt)
VJP(relu)
VJP(sigmoid)
VJP(tanh)
VJP(gelu)
VJP(silu)
VJP(erf)
VJP(sin)
VJP(cos)
VJP(tan)
VJP(reciprocal)

/* sign, floor, ceil and round are piecewise constant: zero gradient (torch). */
static int zero_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                    int *dx) {
  (void)ob, (void)n, (void)node, (void)dy, (void)needs, (void)dx;
  return 0;
}

const mlg_op_def mlg_op_neg = {
  .name = "neg",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = numeric_unary_infer,
  .scalar = neg_scalar,
  .vjp = neg_vjp,
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
  .vjp = abs_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "|x|",
};

/* The float unary ops that differ only in name, formula, gradient, summary and other
 * frameworks' names. */
#define UNARY_OP(op, grad, summary, foreign_names)                                              \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .infer = unary_infer,                                                                   \
    .scalar = op##_scalar,                                                                  \
    .vjp = grad,                                                                            \
    .input_names = "x",                                                                     \
    .shape_doc = "as x",                                                                    \
    .doc = summary,                                                                         \
    .foreign = foreign_names,                                                               \
  };
UNARY_OP(exp, exp_vjp, "e^x", NULL)
UNARY_OP(log, log_vjp, "natural logarithm", NULL)
UNARY_OP(sqrt, sqrt_vjp, "square root", NULL)
UNARY_OP(rsqrt, rsqrt_vjp, "1 / sqrt(x)", NULL)
UNARY_OP(relu, relu_vjp, "max(x, 0)", NULL)
UNARY_OP(sigmoid, sigmoid_vjp, "1 / (1 + e^-x)", NULL)
UNARY_OP(tanh, tanh_vjp, "hyperbolic tangent", NULL)

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
  .vjp = gelu_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * Phi(x): the erf form, or with approximate=tanh 0.5x(1 + tanh(sqrt(2/pi)(x + "
         "0.044715x^3))) (torch.nn.functional.gelu)",
};

static const mlg_op_spelling silu_foreign[] = {{"swish", "silu(x)"}, {NULL, NULL}};
static const mlg_op_spelling reciprocal_foreign[] = {{"recip", "reciprocal(x)"},
                                                     {"inv", "reciprocal(x)"},
                                                     {NULL, NULL}};

UNARY_OP(silu, silu_vjp, "x * sigmoid(x)", silu_foreign)
UNARY_OP(erf, erf_vjp, "error function", NULL)
UNARY_OP(sin, sin_vjp, "sine (radians)", NULL)
UNARY_OP(cos, cos_vjp, "cosine (radians)", NULL)
UNARY_OP(tan, tan_vjp, "tangent (radians)", NULL)
UNARY_OP(floor, zero_vjp, "largest integer <= x", NULL)
UNARY_OP(ceil, zero_vjp, "smallest integer >= x", NULL)
UNARY_OP(round, zero_vjp, "nearest integer, halves to even (torch.round, ONNX Round)", NULL)
UNARY_OP(sign, zero_vjp, "1 for x > 0, -1 for x < 0, x itself for 0 and NaN (torch.sign; gradient 0)", NULL)
UNARY_OP(reciprocal, reciprocal_vjp, "1 / x", reciprocal_foreign)

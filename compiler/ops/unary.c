/* unary.c — elementwise ops of one f32 tensor: out[i] = f(x[i]), same type as x. */
#include "op_defs.h"
#include "op_util.h"
#include "templates/elementwise.h"

static int unary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
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
UNARY_SCALAR(gelu)
UNARY_SCALAR(silu)
UNARY_SCALAR(erf)
UNARY_SCALAR(sign)

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
/* dy (Phi(x) + x phi(x)): Phi = (1 + erf(x / sqrt 2)) / 2, phi = e^(-x^2 / 2) / sqrt(2 pi) */
static int gelu_grad(mlg_op_builder *ob, const mlg_node *n, int node, int dy) {
  (void)node;
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

/* sign is piecewise constant: zero gradient (torch). */
static int sign_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                    int *dx) {
  (void)ob, (void)n, (void)node, (void)dy, (void)needs, (void)dx;
  return 0;
}

const mlg_op_def mlg_op_neg = {
  .name = "neg",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
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
  .infer = unary_infer,
  .scalar = abs_scalar,
  .vjp = abs_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "|x|",
};

const mlg_op_def mlg_op_exp = {
  .name = "exp",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = exp_scalar,
  .vjp = exp_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "e^x",
};

const mlg_op_def mlg_op_log = {
  .name = "log",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = log_scalar,
  .vjp = log_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "natural logarithm",
};

const mlg_op_def mlg_op_sqrt = {
  .name = "sqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = sqrt_scalar,
  .vjp = sqrt_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "square root",
};

const mlg_op_def mlg_op_rsqrt = {
  .name = "rsqrt",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = rsqrt_scalar,
  .vjp = rsqrt_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "1 / sqrt(x)",
};

const mlg_op_def mlg_op_relu = {
  .name = "relu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = relu_scalar,
  .vjp = relu_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "max(x, 0)",
};

const mlg_op_def mlg_op_sigmoid = {
  .name = "sigmoid",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = sigmoid_scalar,
  .vjp = sigmoid_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "1 / (1 + e^-x)",
};

const mlg_op_def mlg_op_tanh = {
  .name = "tanh",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = tanh_scalar,
  .vjp = tanh_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "hyperbolic tangent",
};

const mlg_op_def mlg_op_gelu = {
  .name = "gelu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = gelu_scalar,
  .vjp = gelu_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * Phi(x), the exact erf form (torch.nn.GELU())",
};

static const mlg_op_spelling silu_foreign[] = {{"swish", "silu(x)"}, {NULL, NULL}};

const mlg_op_def mlg_op_silu = {
  .name = "silu",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = silu_scalar,
  .vjp = silu_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x * sigmoid(x)",
  .foreign = silu_foreign,
};

const mlg_op_def mlg_op_erf = {
  .name = "erf",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = erf_scalar,
  .vjp = erf_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "error function",
};

const mlg_op_def mlg_op_sign = {
  .name = "sign",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = unary_infer,
  .scalar = sign_scalar,
  .vjp = sign_vjp,
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "1 where x > 0, -1 where x < 0, else 0 (torch.sign; gradient 0)",
};

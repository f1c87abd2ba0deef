/* binary.c — elementwise arithmetic of two tensors with NumPy broadcasting, in the dtype they
 * promote to (mlg_dtype_promote): add, sub, mul, maximum and minimum of any numbers (integers
 * wrap at their width), div, pow and fmod of floats. Their identities (x + 0, x * 1, ...) hold for
 * every IEEE value, so simplify may drop them; x * 0 and x - x are not identities (inf, NaN). */
#include "op_defs.h"
#include "op_util.h"
#include "templates/elementwise.h"

static int binary_out(const mlg_type *in, mlg_ir_dtype dt, mlg_type *out, mlg_shape_error *err) {
  if (mlg_broadcast_types(&in[0], &in[1], out, err)) return -1;
  out->dtype = dt;
  return 0;
}

static int binary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  mlg_ir_dtype dt;
  if (mlg_unify_dtypes(in, n_in, 3, &dt, err) || mlg_require_numeric(in, n_in, err)) return -1;
  return binary_out(in, dt, out, err);
}

/* div, pow and fmod: floats only (mlg has no integer division). */
static int float_binary_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                              mlg_shape_error *err) {
  mlg_ir_dtype dt;
  if (mlg_unify_dtypes(in, n_in, 3, &dt, err) || mlg_require_float(in, n_in, err)) return -1;
  return binary_out(in, dt, out, err);
}

/* The scalar formula of each op, shared by the elementwise kernel template and fusion. */
#define BINARY_SCALAR(op)                                                                   \
  static kir_expr *op##_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {         \
    return kt_sf_##op(b, in[0], in[1]);                                                     \
  }
BINARY_SCALAR(add)
BINARY_SCALAR(sub)
BINARY_SCALAR(mul)
BINARY_SCALAR(div)
BINARY_SCALAR(pow)
BINARY_SCALAR(maximum)
BINARY_SCALAR(minimum)
BINARY_SCALAR(fmod)
BINARY_SCALAR(heaviside)

/* Gradients (torch.autograd's formulas), each reduced back over the dims broadcasting added
 * or stretched (mlg_b_sum_to). */
#define A_IN n->inputs[0]
#define B_IN n->inputs[1]

/* dx[k] = sum_to(g[k]) for the inputs that need it; g[k] built only then. */
static int finish2(mlg_op_builder *ob, const mlg_node *n, const char *needs, int *dx, int ga,
                   int gb) {
  if (needs[0]) dx[0] = mlg_b_sum_to(ob, ga, mlg_build_type(ob, A_IN));
  if (needs[1]) dx[1] = mlg_b_sum_to(ob, gb, mlg_build_type(ob, B_IN));
  return ob->failed ? -1 : 0;
}

static int add_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                   int *dx) {
  (void)node;
  return finish2(ob, n, needs, dx, dy, dy);
}

static int sub_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                   int *dx) {
  (void)node;
  return finish2(ob, n, needs, dx, dy, needs[1] ? mlg_b1(ob, &mlg_op_neg, dy) : -1);
}

static int mul_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                   int *dx) {
  (void)node;
  return finish2(ob, n, needs, dx, needs[0] ? mlg_b2(ob, &mlg_op_mul, dy, B_IN) : -1,
                 needs[1] ? mlg_b2(ob, &mlg_op_mul, dy, A_IN) : -1);
}

/* d(a / b) = dy / b, and -dy * a / (b * b). */
static int div_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                   int *dx) {
  (void)node;
  int gb = -1;
  if (needs[1]) {
    int num = mlg_b2(ob, &mlg_op_mul, mlg_b1(ob, &mlg_op_neg, dy), A_IN);
    gb = mlg_b2(ob, &mlg_op_div, num, mlg_b2(ob, &mlg_op_mul, B_IN, B_IN));
  }
  return finish2(ob, n, needs, dx, needs[0] ? mlg_b2(ob, &mlg_op_div, dy, B_IN) : -1, gb);
}

/* d(a ^ b) = dy * b * a^(b - 1), and dy * a^b * log(a). */
static int pow_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                   int *dx) {
  int ga = -1, gb = -1;
  if (needs[0]) {
    int p = mlg_b2(ob, &mlg_op_pow, A_IN, mlg_b2(ob, &mlg_op_sub, B_IN, mlg_build_scalar(ob, 1)));
    ga = mlg_b2(ob, &mlg_op_mul, dy, mlg_b2(ob, &mlg_op_mul, B_IN, p));
  }
  if (needs[1])
    gb = mlg_b2(ob, &mlg_op_mul, dy, mlg_b2(ob, &mlg_op_mul, node, mlg_b1(ob, &mlg_op_log, A_IN)));
  return finish2(ob, n, needs, dx, ga, gb);
}

/* maximum and minimum: the gradient goes to the operand chosen, halved where they are equal
 * (torch): dy * heaviside(a - b, 0.5) for the larger. */
static int choose(mlg_op_builder *ob, int dy, int x, int other) {
  int d = mlg_b2(ob, &mlg_op_sub, x, other);
  return mlg_b2(ob, &mlg_op_mul, dy, mlg_b2(ob, &mlg_op_heaviside, d, mlg_build_scalar(ob, 0.5)));
}

static int maximum_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                       int *dx) {
  (void)node;
  return finish2(ob, n, needs, dx, needs[0] ? choose(ob, dy, A_IN, B_IN) : -1,
                 needs[1] ? choose(ob, dy, B_IN, A_IN) : -1);
}

static int minimum_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                       int *dx) {
  (void)node;
  return finish2(ob, n, needs, dx, needs[0] ? choose(ob, dy, B_IN, A_IN) : -1,
                 needs[1] ? choose(ob, dy, A_IN, B_IN) : -1);
}

/* d fmod(a, b) = dy, and -dy * trunc(a / b) (trunc(q) = sign(q) floor(|q|)). */
static int fmod_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                    int *dx) {
  (void)node;
  int gb = -1;
  if (needs[1]) {
    int q = mlg_b2(ob, &mlg_op_div, A_IN, B_IN);
    int t = mlg_b2(ob, &mlg_op_mul, mlg_b1(ob, &mlg_op_sign, q),
                   mlg_b1(ob, &mlg_op_floor, mlg_b1(ob, &mlg_op_abs, q)));
    gb = mlg_b2(ob, &mlg_op_mul, mlg_b1(ob, &mlg_op_neg, dy), t);
  }
  return finish2(ob, n, needs, dx, needs[0] ? dy : -1, gb);
}

/* A step function: its gradient is zero wherever it has one. */
static int heaviside_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                         int *dx) {
  (void)ob, (void)n, (void)node, (void)dy, (void)needs, (void)dx;
  return 0;
}

/* The binary ops differ in name, type rule (any numbers, or floats only), formula (op_scalar),
 * gradient (op_vjp), summary and algebra (the trailing arguments: the mlg_algebra fields, or 0). */
#define BINARY_OP(op, infer_fn, summary, ...)                                               \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_ELEMENTWISE,                                                             \
    .min_inputs = 2,                                                                        \
    .max_inputs = 2,                                                                        \
    .infer = infer_fn,                                                                      \
    .same_dtype = 3,                                                                        \
    .scalar = op##_scalar,                                                                  \
    .vjp = op##_vjp,                                                                        \
    .algebra = { __VA_ARGS__ },                                                             \
    .input_names = "a, b",                                                                  \
    .shape_doc = "NumPy broadcast of a and b",                                              \
    .doc = summary,                                                                         \
  };
BINARY_OP(add, binary_infer, "a + b (broadcasting)",
          .operator_sym = '+', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 0)
BINARY_OP(sub, binary_infer, "a - b (broadcasting)",
          .operator_sym = '-', .identity_sides = MLG_ID_RIGHT, .identity = 0)
BINARY_OP(mul, binary_infer, "a * b (broadcasting)",
          .operator_sym = '*', .identity_sides = MLG_ID_RIGHT | MLG_ID_LEFT, .identity = 1)
BINARY_OP(div, float_binary_infer, "a / b (broadcasting)",
          .operator_sym = '/', .identity_sides = MLG_ID_RIGHT, .identity = 1)
BINARY_OP(pow, float_binary_infer, "a ^ b (broadcasting)", 0)
BINARY_OP(maximum, binary_infer, "elementwise max(a, b) (broadcasting)", 0)
BINARY_OP(minimum, binary_infer, "elementwise min(a, b) (broadcasting)", 0)
BINARY_OP(fmod, float_binary_infer, "a - b * trunc(a / b), the sign of a (C fmod, torch.fmod, ONNX Mod fmod=1)", 0)

const mlg_op_def mlg_op_heaviside = {
  .name = "heaviside",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = float_binary_infer,
  .same_dtype = 3,
  .scalar = heaviside_scalar,
  .vjp = heaviside_vjp,
  .input_names = "x, values",
  .shape_doc = "NumPy broadcast of x and values",
  .doc = "step: 0 where x < 0, values where x == 0, 1 where x > 0 (torch.heaviside; gradient 0)",
};

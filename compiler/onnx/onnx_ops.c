/* onnx_ops.c — the op table: one mapping function per ONNX op (opsets 11 to 21 and later ones
 * with the same meaning), from ONNX's semantics to mlg ops. Each reads the attributes it
 * handles (the driver reports any other) and says why when it cannot map a node. Supporting a
 * new ONNX op is one function and one table line; docs/onnx.md lists the table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_fold.h"
#include "onnx_import.h"
#include "onnx_internal.h"

#define MAXR MLG_MAX_RANK

/* ---- helpers ------------------------------------------------------------------------------- */

/* Normalizes an ONNX axis into [0, rank); -1 with the reason set when out of range. */
static int axis_of(ox_ctx *c, int64_t axis, int rank, const char *what) {
  if (axis < -rank || axis >= rank)
    return ox_fail(c, "%s %lld is out of range for rank %d", what, (long long)axis, rank);
  return (int)(axis < 0 ? axis + rank : axis);
}

/* The dims of input i, from its known value or its graph node's type; the rank, or -1. */
static int dims_in(ox_ctx *c, int i, int64_t *dims) {
  const ox_tensor *k = ox_known(c, i);
  if (k) {
    memcpy(dims, k->dims, sizeof(int64_t) * (size_t)k->rank);
    return k->rank;
  }
  const mlg_type *t = ox_type_in(c, i);
  if (!t) return -1;
  memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
  return t->rank;
}

/* A known 1-D (or scalar) integer input as at most `max` ints; the count or -1. */
static int ints_in(ox_ctx *c, int i, const char *what, int64_t *out, int max) {
  const ox_tensor *t = ox_const_in(c, i, what);
  if (!t) return -1;
  if (!t->i) return ox_fail(c, "input %d (%s) must be integers, not %s", i, what, ox_dtype_name(t->dtype));
  if (t->rank > 1) return ox_fail(c, "input %d (%s) must be 1-D", i, what);
  if (t->numel > max) return ox_fail(c, "input %d (%s) has %lld values; at most %d are supported", i, what,
                                     (long long)t->numel, max);
  for (int64_t k = 0; k < t->numel; k++) out[k] = t->i[k];
  return (int)t->numel;
}

/* A known scalar (or 1-element) number. */
static int num_in(ox_ctx *c, int i, const char *what, double *out) {
  const ox_tensor *t = ox_const_in(c, i, what);
  if (!t) return -1;
  if (t->numel != 1) return ox_fail(c, "input %d (%s) must hold one value", i, what);
  *out = ox_tensor_num(t, 0);
  return 0;
}

/* Every input in [from, n) known at import. */
static int all_known(ox_ctx *c, int from, int n) {
  for (int i = from; i < n; i++)
    if (ox_has_input(c, i) && !ox_known(c, i)) return 0;
  return 1;
}

static int out_node(ox_ctx *c, int node) { return ox_set_output(c, 0, node); }
static int out_const(ox_ctx *c, const ox_tensor *t) { return t ? ox_set_output_const(c, 0, t) : -1; }

static int unary(ox_ctx *c, const char *op) {
  int x = ox_tensor_in(c, 0);
  return out_node(c, x < 0 ? -1 : ox_op1(c, op, x, NULL));
}

/* x * s, x + s for a float scalar s. */
static int mul_s(ox_ctx *c, int x, float s) { return x < 0 ? -1 : ox_op2(c, "mul", x, ox_scalar(c, s)); }
static int add_s(ox_ctx *c, int x, float s) { return x < 0 ? -1 : ox_op2(c, "add", x, ox_scalar(c, s)); }
static int bin(ox_ctx *c, const char *op, int a, int b) { return a < 0 || b < 0 ? -1 : ox_op2(c, op, a, b); }
static int un(ox_ctx *c, const char *op, int x) { return x < 0 ? -1 : ox_op1(c, op, x, NULL); }

/* reshape(x, dims) */
static int reshape_to(ox_ctx *c, int x, int rank, const int64_t *dims) {
  if (x < 0) return -1;
  return ox_op1(c, "reshape", x, (ox_kv[]){{"shape", ox_is(dims, rank)}, OX_END});
}

static int reduce_op(ox_ctx *c, const char *op, int x, const int64_t *axes, int n, int keepdims) {
  if (x < 0) return -1;
  return ox_op1(c, op, x, (ox_kv[]){{"axes", ox_is(axes, n)}, {"keepdims", ox_i(keepdims)}, OX_END});
}

/* A per-channel vector [C] viewed as [C, 1, ..., 1] to broadcast over dim 1 of a rank-r tensor. */
static int channel_view(ox_ctx *c, int v, int rank) {
  if (v < 0) return -1;
  int64_t dims[MAXR];
  dims[0] = ox_type(c, v)->rank == 1 ? ox_type(c, v)->dims[0] : -1;
  if (dims[0] < 0) return ox_fail(c, "a per-channel input must be 1-D");
  for (int k = 1; k < rank - 1; k++) dims[k] = 1;
  return reshape_to(c, v, rank - 1, dims);
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static int m_relu(ox_ctx *c) { return unary(c, "relu"); }
static int m_sigmoid(ox_ctx *c) { return unary(c, "sigmoid"); }
static int m_tanh(ox_ctx *c) { return unary(c, "tanh"); }
static int m_exp(ox_ctx *c) { return unary(c, "exp"); }
static int m_log(ox_ctx *c) { return unary(c, "log"); }
static int m_sqrt(ox_ctx *c) { return unary(c, "sqrt"); }
static int m_abs(ox_ctx *c) { return unary(c, "abs"); }
static int m_erf(ox_ctx *c) { return unary(c, "erf"); }
static int m_sin(ox_ctx *c) { return unary(c, "sin"); }
static int m_cos(ox_ctx *c) { return unary(c, "cos"); }
static int m_tan(ox_ctx *c) { return unary(c, "tan"); }
static int m_floor(ox_ctx *c) { return unary(c, "floor"); }
static int m_ceil(ox_ctx *c) { return unary(c, "ceil"); }
static int m_round(ox_ctx *c) { return unary(c, "round"); }
static int m_sign(ox_ctx *c) { return unary(c, "sign"); }

static int m_neg(ox_ctx *c) {
  const ox_tensor *k = ox_known(c, 0);
  if (k && k->i) {
    const ox_tensor *zero = ox_new_tensor(c, k->dtype, 0, NULL, NULL, NULL);
    return zero ? out_const(c, ox_fold_binary(c, OX_SUB, zero, k)) : ox_oom(c);
  }
  return unary(c, "neg");
}

static int m_reciprocal(ox_ctx *c) { return unary(c, "reciprocal"); }

static int m_identity(ox_ctx *c) {
  const ox_tensor *k = ox_known(c, 0);
  return k ? out_const(c, k) : out_node(c, ox_tensor_in(c, 0));
}

static int m_dropout(ox_ctx *c) {
  ox_attr_ignore(c, "seed");
  ox_attr_ignore(c, "ratio"); /* inference: Dropout passes its input through */
  if (ox_has_input(c, 2)) {
    double training = 0;
    if (num_in(c, 2, "training_mode", &training) != 0) return -1;
    if (training != 0) return ox_fail(c, "training_mode is true; mlg runs inference");
  }
  if (ox_has_output(c, 1)) return ox_fail(c, "output 1 (the mask) is not supported");
  return m_identity(c);
}

/* Binary arithmetic: folded when both sides are known integers (shape arithmetic), else an mlg
 * op with NumPy broadcasting (ONNX's multidirectional broadcasting is the same rule). */
static int binary(ox_ctx *c, const char *op, ox_fold_op fold) {
  const ox_tensor *a = ox_known(c, 0), *b = ox_known(c, 1);
  if (a && b && (a->i || b->i || (a->numel <= 64 && b->numel <= 64)))
    return out_const(c, ox_fold_binary(c, fold, a, b));
  int x = ox_tensor_in(c, 0), y = ox_tensor_in(c, 1);
  return out_node(c, bin(c, op, x, y));
}

static int m_add(ox_ctx *c) { return binary(c, "add", OX_ADD); }
static int m_sub(ox_ctx *c) { return binary(c, "sub", OX_SUB); }
static int m_mul(ox_ctx *c) { return binary(c, "mul", OX_MUL); }
static int m_div(ox_ctx *c) { return binary(c, "div", OX_DIV); }
static int m_pow(ox_ctx *c) { return binary(c, "pow", OX_POW); }

/* Mod with fmod=1 is C's fmod (the sign of the dividend); fmod=0, the sign of the divisor, is
 * for integers, which mlg does not compute. */
static int m_mod(ox_ctx *c) {
  if (ox_attr_int(c, "fmod", 0) != 1)
    return ox_fail(c, "fmod=0 (integer Mod) is not supported; fmod=1 is (mlg's fmod)");
  int a = ox_tensor_in(c, 0), b = ox_tensor_in(c, 1);
  return out_node(c, bin(c, "fmod", a, b));
}

/* Max, Min, Sum, Mean of any number of inputs. */
static int variadic(ox_ctx *c, const char *op, ox_fold_op fold, int mean) {
  int n = ox_n_inputs(c);
  if (n < 1) return ox_fail(c, "no inputs");
  if (all_known(c, 0, n) && ox_known(c, 0)->i) {
    const ox_tensor *acc = ox_known(c, 0);
    for (int i = 1; i < n && acc; i++) acc = ox_fold_binary(c, fold, acc, ox_known(c, i));
    return out_const(c, acc);
  }
  int acc = ox_tensor_in(c, 0);
  for (int i = 1; i < n && acc >= 0; i++) acc = bin(c, op, acc, ox_tensor_in(c, i));
  if (mean && n > 1) acc = bin(c, "div", acc, ox_scalar(c, (float)n));
  return out_node(c, acc);
}

static int m_max(ox_ctx *c) { return variadic(c, "maximum", OX_MAX, 0); }
static int m_min(ox_ctx *c) { return variadic(c, "minimum", OX_MIN, 0); }
static int m_sum(ox_ctx *c) { return variadic(c, "add", OX_ADD, 0); }
static int m_mean(ox_ctx *c) { return variadic(c, "add", OX_ADD, 1); }

static int m_clip(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  double lo = -INFINITY, hi = INFINITY;
  if (ox_opset(c) < 11) {
    lo = ox_attr_float(c, "min", lo);
    hi = ox_attr_float(c, "max", hi);
  }
  if (ox_has_input(c, 1) && num_in(c, 1, "min", &lo) != 0) return -1;
  if (ox_has_input(c, 2) && num_in(c, 2, "max", &hi) != 0) return -1;
  if (isfinite(lo) && isfinite(hi) && lo <= hi)
    return out_node(c, ox_op1(c, "clamp", x, (ox_kv[]){{"lo", ox_f(lo)}, {"hi", ox_f(hi)}, OX_END}));
  int y = x;
  if (lo > -INFINITY) y = bin(c, "maximum", y, ox_scalar(c, (float)lo));
  if (hi < INFINITY) y = bin(c, "minimum", y, ox_scalar(c, (float)hi));
  return out_node(c, y);
}

static int m_leaky_relu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 0.01);
  return out_node(c, x < 0 ? -1 : ox_op1(c, "leaky_relu", x, (ox_kv[]){{"alpha", ox_f(alpha)}, OX_END}));
}

/* alpha * (exp(min(x, 0)) - 1): the negative branch of Elu and Selu. */
static int elu_negative(ox_ctx *c, int x, double alpha) {
  int e = un(c, "exp", bin(c, "minimum", x, ox_scalar(c, 0.0f)));
  return mul_s(c, add_s(c, e, -1.0f), (float)alpha);
}

static int m_elu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 1.0);
  return out_node(c, bin(c, "add", un(c, "relu", x), elu_negative(c, x, alpha)));
}

static int m_selu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 1.67326319217681884765625);
  double gamma = ox_attr_float(c, "gamma", 1.05070102214813232421875);
  return out_node(c, mul_s(c, bin(c, "add", un(c, "relu", x), elu_negative(c, x, alpha)), (float)gamma));
}

static int m_celu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 1.0);
  int e = un(c, "exp", mul_s(c, x, (float)(1.0 / alpha)));
  int neg = bin(c, "minimum", mul_s(c, add_s(c, e, -1.0f), (float)alpha), ox_scalar(c, 0.0f));
  return out_node(c, bin(c, "add", un(c, "relu", x), neg));
}

static int m_hard_sigmoid(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 0.2), beta = ox_attr_float(c, "beta", 0.5);
  int y = add_s(c, mul_s(c, x, (float)alpha), (float)beta);
  return out_node(c, y < 0 ? -1 : ox_op1(c, "clamp", y, (ox_kv[]){{"lo", ox_f(0)}, {"hi", ox_f(1)}, OX_END}));
}

static int m_hard_swish(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  int y = add_s(c, mul_s(c, x, 1.0f / 6.0f), 0.5f);
  y = y < 0 ? -1 : ox_op1(c, "clamp", y, (ox_kv[]){{"lo", ox_f(0)}, {"hi", ox_f(1)}, OX_END});
  return out_node(c, bin(c, "mul", x, y));
}

/* log(1 + exp(x)) as relu(x) + log(1 + exp(-|x|)), which never overflows. */
static int softplus(ox_ctx *c, int x) {
  int t = add_s(c, un(c, "exp", un(c, "neg", un(c, "abs", x))), 1.0f);
  return bin(c, "add", un(c, "relu", x), un(c, "log", t));
}

static int m_softplus(ox_ctx *c) { return out_node(c, softplus(c, ox_tensor_in(c, 0))); }

static int m_softsign(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  return out_node(c, bin(c, "div", x, add_s(c, un(c, "abs", x), 1.0f)));
}

static int m_mish(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  return out_node(c, bin(c, "mul", x, un(c, "tanh", softplus(c, x))));
}

static int m_gelu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  const char *approx = ox_attr_string(c, "approximate", "none");
  if (strcmp(approx, "none") == 0) return out_node(c, un(c, "gelu", x));
  if (strcmp(approx, "tanh") != 0) return ox_fail(c, "approximate='%s' is not supported", approx);
  return out_node(c, x < 0 ? -1 : ox_op1(c, "gelu", x, (ox_kv[]){{"approximate", ox_enum("gelu", "approximate", "tanh")}, OX_END}));
}

static int m_prelu(ox_ctx *c) {
  int x = ox_tensor_in(c, 0), slope = ox_tensor_in(c, 1);
  int neg = bin(c, "mul", slope, bin(c, "minimum", x, ox_scalar(c, 0.0f)));
  return out_node(c, bin(c, "add", un(c, "relu", x), neg));
}

/* ---- linear algebra -------------------------------------------------------------------------- */

static int m_matmul(ox_ctx *c) {
  int a = ox_tensor_in(c, 0), b = ox_tensor_in(c, 1);
  return out_node(c, bin(c, "matmul", a, b));
}

static int m_gemm(ox_ctx *c) {
  double alpha = ox_attr_float(c, "alpha", 1.0), beta = ox_attr_float(c, "beta", 1.0);
  int64_t trans_a = ox_attr_int(c, "transA", 0), trans_b = ox_attr_int(c, "transB", 0);
  int a = ox_tensor_in(c, 0), b = ox_tensor_in(c, 1);
  if (a < 0 || b < 0) return -1;
  if (ox_type(c, a)->rank != 2 || ox_type(c, b)->rank != 2) return ox_fail(c, "A and B must be 2-D");
  if (trans_a) a = ox_op1(c, "transpose", a, NULL);
  int cc = ox_has_input(c, 2) ? ox_tensor_in(c, 2) : -2;
  if (cc == -1) return -1;
  int64_t n_out = trans_b ? ox_type(c, b)->dims[0] : ox_type(c, b)->dims[1];
  /* The common case, a PyTorch Linear: linear(A, B, C) with B as [out, in]. */
  int bias_1d = cc >= 0 && ox_type(c, cc)->rank >= 1 && mlg_type_numel(ox_type(c, cc)) == n_out &&
                ox_type(c, cc)->dims[ox_type(c, cc)->rank - 1] == n_out;
  if (trans_b && alpha == 1.0 && (cc == -2 || (beta == 1.0 && bias_1d))) {
    int in[3] = {a, b, cc};
    if (cc >= 0 && ox_type(c, cc)->rank != 1) in[2] = reshape_to(c, cc, 1, &n_out);
    return out_node(c, ox_op(c, "linear", in, cc >= 0 ? 3 : 2, NULL));
  }
  if (trans_b) b = ox_op1(c, "transpose", b, NULL);
  int y = bin(c, "matmul", a, b);
  if (alpha != 1.0) y = mul_s(c, y, (float)alpha);
  if (cc >= 0 && beta != 0.0) y = bin(c, "add", y, beta == 1.0 ? cc : mul_s(c, cc, (float)beta));
  return out_node(c, y);
}

/* ---- convolution and pooling ------------------------------------------------------------------ */

/* The spatial attributes of Conv and the pools, for 1-D or 2-D windows, as 2-D. */
typedef struct window {
  int spatial;                 /* 1 or 2 */
  int64_t kernel[2], stride[2], dilation[2], pads[4]; /* pads: top, left, bottom, right */
} window;

/* Reads kernel_shape (or takes `kernel` from the weight), strides, dilations, pads and auto_pad
 * for an input of spatial size in[0..spatial). */
static int read_window(ox_ctx *c, int spatial, const int64_t *in, const int64_t *kernel, window *w) {
  int64_t v[4];
  memset(w, 0, sizeof *w);
  w->spatial = spatial;
  int n = ox_attr_ints(c, "kernel_shape", v, 2);
  if (n == -2) return -1;
  for (int k = 0; k < spatial; k++) {
    w->kernel[k] = n == spatial ? v[k] : kernel ? kernel[k] : 0;
    if (n >= 0 && n != spatial) return ox_fail(c, "kernel_shape has %d values for %d spatial dims", n, spatial);
    if (kernel && w->kernel[k] != kernel[k]) return ox_fail(c, "kernel_shape differs from the weight's");
    if (w->kernel[k] < 1) return ox_fail(c, "kernel_shape is missing");
    w->stride[k] = w->dilation[k] = 1;
  }
  n = ox_attr_ints(c, "strides", v, 2);
  if (n == -2) return -1;
  if (n >= 0 && n != spatial) return ox_fail(c, "strides has %d values for %d spatial dims", n, spatial);
  for (int k = 0; k < n; k++) w->stride[k] = v[k];
  n = ox_attr_ints(c, "dilations", v, 2);
  if (n == -2) return -1;
  if (n >= 0 && n != spatial) return ox_fail(c, "dilations has %d values for %d spatial dims", n, spatial);
  for (int k = 0; k < n; k++) w->dilation[k] = v[k];
  n = ox_attr_ints(c, "pads", v, 4);
  if (n == -2) return -1;
  if (n >= 0 && n != 2 * spatial) return ox_fail(c, "pads has %d values for %d spatial dims", n, spatial);
  for (int k = 0; k < spatial && n > 0; k++) {
    w->pads[k] = v[k];
    w->pads[2 + k] = v[spatial + k];
  }
  /* Before any arithmetic on them (auto_pad divides by the stride; a fuzzed model had 0):
   * each in mlg's range, so that no sum or product below overflows. */
  for (int k = 0; k < spatial; k++) {
    if (w->kernel[k] > INT32_MAX) return ox_fail(c, "kernel_shape %lld is larger than 2^31-1", (long long)w->kernel[k]);
    if (w->stride[k] < 1 || w->stride[k] > INT32_MAX)
      return ox_fail(c, "strides must be in [1, 2^31-1], not %lld", (long long)w->stride[k]);
    if (w->dilation[k] < 1 || w->dilation[k] > INT32_MAX)
      return ox_fail(c, "dilations must be in [1, 2^31-1], not %lld", (long long)w->dilation[k]);
    if (w->pads[k] > INT32_MAX || w->pads[2 + k] > INT32_MAX)
      return ox_fail(c, "pads larger than 2^31-1 are not supported");
  }
  const char *auto_pad = ox_attr_string(c, "auto_pad", "NOTSET");
  if (strcmp(auto_pad, "VALID") == 0) {
    memset(w->pads, 0, sizeof w->pads);
  } else if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
    for (int k = 0; k < spatial; k++) {
      int64_t out = (in[k] + w->stride[k] - 1) / w->stride[k];
      int64_t total = (out - 1) * w->stride[k] + (w->kernel[k] - 1) * w->dilation[k] + 1 - in[k];
      if (total < 0) total = 0;
      int64_t small = total / 2, big = total - small;
      w->pads[k] = auto_pad[5] == 'U' ? small : big;
      w->pads[2 + k] = auto_pad[5] == 'U' ? big : small;
    }
  } else if (strcmp(auto_pad, "NOTSET") != 0) {
    return ox_fail(c, "auto_pad='%s' is not supported", auto_pad);
  }
  for (int k = 0; k < 2 * spatial; k++)
    if (w->pads[k < spatial ? k : 2 + k - spatial] < 0) return ox_fail(c, "negative pads are not supported");
  /* 1-D as 2-D: a height of 1. */
  if (spatial == 1) {
    w->kernel[1] = w->kernel[0], w->stride[1] = w->stride[0], w->dilation[1] = w->dilation[0];
    int64_t b = w->pads[0], e = w->pads[2];
    w->kernel[0] = w->stride[0] = w->dilation[0] = 1;
    w->pads[0] = 0, w->pads[1] = b, w->pads[2] = 0, w->pads[3] = e;
  }
  return 0;
}

/* x [N, C, L] viewed as [N, C, 1, L] (axis 2 inserted), for 1-D windows. */
static int as_2d(ox_ctx *c, int x, int spatial) {
  if (x < 0 || spatial == 2) return x;
  int64_t ax = 2;
  return ox_op1(c, "unsqueeze", x, (ox_kv[]){{"axes", ox_is(&ax, 1)}, OX_END});
}

static int from_2d(ox_ctx *c, int y, int spatial) {
  if (y < 0 || spatial == 2) return y;
  int64_t ax = 2;
  return ox_op1(c, "squeeze", y, (ox_kv[]){{"axes", ox_is(&ax, 1)}, OX_END});
}

/* Inputs xi and wi of a Conv-like node (1-D or 2-D) as 2-D graph nodes, and its window; the
 * number of spatial dims, or -1 with the reason set. */
static int conv_operands(ox_ctx *c, int xi, int wi, int *out_x, int *out_w, window *win) {
  int x = ox_tensor_in(c, xi), w = ox_tensor_in(c, wi);
  if (x < 0 || w < 0) return -1;
  const mlg_type *xt = ox_type(c, x), *wt = ox_type(c, w);
  int spatial = xt->rank - 2;
  if (spatial < 1 || spatial > 2 || wt->rank != xt->rank)
    return ox_fail(c, "%d-D convolutions are not supported (1-D and 2-D are)", spatial);
  if (read_window(c, spatial, xt->dims + 2, wt->dims + 2, win) != 0) return -1;
  *out_x = as_2d(c, x, spatial);
  *out_w = as_2d(c, w, spatial);
  return *out_x < 0 || *out_w < 0 ? -1 : spatial;
}

/* mlg op `op` (conv2d, qlinear_conv2d) of in[] with the window and `group`, as 1-D again for a
 * 1-D window. */
static int conv_apply(ox_ctx *c, const char *op, const int *in, int n_in, const window *win) {
  for (int i = 0; i < n_in; i++)
    if (in[i] < 0) return -1;
  int y = ox_op(c, op, in, n_in,
                (ox_kv[]){{"stride", ox_is(win->stride, 2)}, {"padding", ox_is(win->pads, 4)},
                          {"dilation", ox_is(win->dilation, 2)},
                          {"groups", ox_i(ox_attr_int(c, "group", 1))}, OX_END});
  return from_2d(c, y, win->spatial);
}

static int m_conv(ox_ctx *c) {
  window win;
  int in[3] = {-1, -1, -1}, n_in = 2;
  if (conv_operands(c, 0, 1, &in[0], &in[1], &win) < 0) return -1;
  if (ox_has_input(c, 2)) in[n_in++] = ox_tensor_in(c, 2);
  return out_node(c, conv_apply(c, "conv2d", in, n_in, &win));
}

/* ConvTranspose: conv_transpose2d (1-D through unsqueeze/squeeze). output_shape (or auto_pad
 * SAME_*, whose output is input·stride) sets the pads as the ONNX spec says; rows it asks for
 * past the full output are output_padding. */
static int m_conv_transpose(ox_ctx *c) {
  int x = ox_tensor_in(c, 0), w = ox_tensor_in(c, 1);
  if (x < 0 || w < 0) return -1;
  const mlg_type *xt = ox_type(c, x), *wt = ox_type(c, w);
  int spatial = xt->rank - 2;
  if (spatial < 1 || spatial > 2 || wt->rank != xt->rank)
    return ox_fail(c, "%d-D transposed convolutions are not supported (1-D and 2-D are)", spatial);
  int64_t kernel[2], stride[2] = {1, 1}, dil[2] = {1, 1}, opad[2] = {0, 0}, pads[4] = {0, 0, 0, 0};
  int64_t oshape[2], v[4];
  for (int k = 0; k < spatial; k++) kernel[k] = wt->dims[2 + k];
  int n = ox_attr_ints(c, "kernel_shape", v, 2);
  for (int k = 0; k < n; k++)
    if (n != spatial || v[k] != kernel[k]) return ox_fail(c, "kernel_shape differs from the weight's");
  struct { const char *name; int64_t *out; int count; } lists[] = {
      {"strides", stride, spatial}, {"dilations", dil, spatial}, {"output_padding", opad, spatial},
      {"pads", pads, 2 * spatial}};
  for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
    n = ox_attr_ints(c, lists[l].name, v, 4);
    if (n == -2) return -1;
    if (n >= 0 && n != lists[l].count)
      return ox_fail(c, "%s has %d values for %d spatial dims", lists[l].name, n, spatial);
    for (int k = 0; k < n; k++) lists[l].out[k] = v[k];
  }
  /* In mlg's range before any arithmetic on them (output_shape's pads are a sum of products). */
  for (int k = 0; k < spatial; k++) {
    if (stride[k] < 1 || stride[k] > INT32_MAX || dil[k] < 1 || dil[k] > INT32_MAX)
      return ox_fail(c, "strides and dilations must be in [1, 2^31-1]");
    if (opad[k] < 0 || opad[k] > INT32_MAX || pads[k] < 0 || pads[k] > INT32_MAX ||
        pads[spatial + k] < 0 || pads[spatial + k] > INT32_MAX)
      return ox_fail(c, "pads and output_padding must be in [0, 2^31-1]");
  }
  const char *auto_pad = ox_attr_string(c, "auto_pad", "NOTSET");
  int same = strncmp(auto_pad, "SAME_", 5) == 0;
  if (!same && strcmp(auto_pad, "NOTSET") != 0 && strcmp(auto_pad, "VALID") != 0)
    return ox_fail(c, "auto_pad='%s' is not supported", auto_pad);
  if (strcmp(auto_pad, "VALID") == 0) memset(pads, 0, sizeof pads);
  n = ox_attr_ints(c, "output_shape", oshape, 2);
  if (n == -2) return -1;
  if (n >= 0 && n != spatial) return ox_fail(c, "output_shape has %d values for %d spatial dims", n, spatial);
  if (n > 0 || same) {
    for (int k = 0; k < spatial; k++) {
      if (n > 0 && (oshape[k] < 1 || oshape[k] > INT32_MAX))
        return ox_fail(c, "output_shape must be in [1, 2^31-1], not %lld", (long long)oshape[k]);
      int64_t in = xt->dims[2 + k], want = n > 0 ? oshape[k] : in * stride[k];
      int64_t total = stride[k] * (in - 1) + opad[k] + (kernel[k] - 1) * dil[k] + 1 - want;
      int upper = strcmp(auto_pad, "SAME_UPPER") == 0;
      int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2); /* floor, as the spec's // */
      int64_t begin = upper ? half : total - half, end = total - begin;
      if (end < 0) { /* rows past the full output: output_padding */
        opad[k] -= end;
        end = 0;
      }
      if (begin < 0) return ox_fail(c, "output_shape %lld needs negative pads", (long long)want);
      pads[k] = begin;
      pads[spatial + k] = end;
    }
  }
  int64_t p4[4], s2[2], d2[2], o2[2];
  if (spatial == 2) {
    memcpy(p4, pads, sizeof p4);
    memcpy(s2, stride, sizeof s2), memcpy(d2, dil, sizeof d2), memcpy(o2, opad, sizeof o2);
  } else { /* a height of 1 */
    p4[0] = p4[2] = 0, p4[1] = pads[0], p4[3] = pads[1];
    s2[0] = d2[0] = 1, o2[0] = 0, s2[1] = stride[0], d2[1] = dil[0], o2[1] = opad[0];
  }
  int in[3] = {as_2d(c, x, spatial), as_2d(c, w, spatial), -1};
  int n_in = 2;
  if (ox_has_input(c, 2)) in[n_in++] = ox_tensor_in(c, 2);
  for (int i = 0; i < n_in; i++)
    if (in[i] < 0) return -1;
  int y = ox_op(c, "conv_transpose2d", in, n_in,
                (ox_kv[]){{"stride", ox_is(s2, 2)}, {"padding", ox_is(p4, 4)},
                          {"output_padding", ox_is(o2, 2)}, {"dilation", ox_is(d2, 2)},
                          {"groups", ox_i(ox_attr_int(c, "group", 1))}, OX_END});
  return out_node(c, from_2d(c, y, spatial));
}

static int pool(ox_ctx *c, const char *op, int avg) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  const mlg_type *xt = ox_type(c, x);
  int spatial = xt->rank - 2;
  if (spatial < 1 || spatial > 2) return ox_fail(c, "%d-D pooling is not supported (1-D and 2-D are)", spatial);
  window win;
  if (read_window(c, spatial, xt->dims + 2, NULL, &win) != 0) return -1;
  if (avg && (win.dilation[0] != 1 || win.dilation[1] != 1))
    return ox_fail(c, "dilations other than 1 are not supported for AveragePool (mlg's avg_pool2d has none)");
  int64_t ceil_mode = ox_attr_int(c, "ceil_mode", 0);
  if (!avg && ox_attr_int(c, "storage_order", 0) != 0 && ox_has_output(c, 1))
    return ox_fail(c, "storage_order=1 is not supported");
  if (ox_has_output(c, 1)) return ox_fail(c, "output 1 (Indices) is not supported");
  ox_kv kv[6] = {{"kernel", ox_is(win.kernel, 2)}, {"stride", ox_is(win.stride, 2)},
                 {"padding", ox_is(win.pads, 4)}, {"ceil_mode", ox_i(ceil_mode)}, OX_END, OX_END};
  /* ONNX's default for AveragePool is count_include_pad=0, PyTorch's (and mlg's) 1. */
  if (avg) kv[4] = (ox_kv){"count_include_pad", ox_i(ox_attr_int(c, "count_include_pad", 0))};
  else kv[4] = (ox_kv){"dilation", ox_is(win.dilation, 2)};
  int y = ox_op1(c, op, as_2d(c, x, spatial), kv);
  return out_node(c, from_2d(c, y, spatial));
}

static int m_max_pool(ox_ctx *c) { return pool(c, "max_pool2d", 0); }
static int m_average_pool(ox_ctx *c) { return pool(c, "avg_pool2d", 1); }

static int global_pool(ox_ctx *c, const char *op) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int rank = ox_type(c, x)->rank;
  if (rank < 3) return ox_fail(c, "the input must have spatial dims");
  if (rank == 4 && strcmp(op, "mean") == 0) return out_node(c, ox_op1(c, "global_avg_pool2d", x, NULL));
  int64_t axes[MAXR];
  for (int k = 2; k < rank; k++) axes[k - 2] = k;
  return out_node(c, reduce_op(c, op, x, axes, rank - 2, 1));
}

static int m_global_average_pool(ox_ctx *c) { return global_pool(c, "mean"); }
static int m_global_max_pool(ox_ctx *c) { return global_pool(c, "max"); }

/* ---- normalization ------------------------------------------------------------------------ */

static int m_batch_norm(ox_ctx *c) {
  double eps = ox_attr_float(c, "epsilon", 1e-5);
  ox_attr_ignore(c, "momentum"); /* used in training only */
  if (ox_attr_int(c, "training_mode", 0) != 0) return ox_fail(c, "training_mode=1 is not supported");
  if (ox_has_output(c, 1) || ox_has_output(c, 2))
    return ox_fail(c, "the running mean and variance outputs (training) are not supported");
  int in[5];
  for (int i = 0; i < 5; i++)
    if ((in[i] = ox_tensor_in(c, i)) < 0) return -1;
  return out_node(c, ox_op(c, "batch_norm", in, 5, (ox_kv[]){{"eps", ox_f(eps)}, OX_END}));
}

/* (x - mean) / sqrt(var + eps) over `axes` (kept as 1s). */
static int normalize(ox_ctx *c, int x, const int64_t *axes, int n, double eps) {
  int m = reduce_op(c, "mean", x, axes, n, 1);
  int d = bin(c, "sub", x, m);
  int var = reduce_op(c, "mean", bin(c, "mul", d, d), axes, n, 1);
  return bin(c, "mul", d, un(c, "rsqrt", add_s(c, var, (float)eps)));
}

static int m_instance_norm(ox_ctx *c) {
  double eps = ox_attr_float(c, "epsilon", 1e-5);
  int x = ox_tensor_in(c, 0), s = ox_tensor_in(c, 1), b = ox_tensor_in(c, 2);
  if (x < 0 || s < 0 || b < 0) return -1;
  int rank = ox_type(c, x)->rank;
  if (rank < 3) return ox_fail(c, "the input must have spatial dims");
  int64_t axes[MAXR];
  for (int k = 2; k < rank; k++) axes[k - 2] = k;
  int y = normalize(c, x, axes, rank - 2, eps);
  y = bin(c, "mul", y, channel_view(c, s, rank));
  return out_node(c, bin(c, "add", y, channel_view(c, b, rank)));
}

static int m_layer_norm(ox_ctx *c) {
  double eps = ox_attr_float(c, "epsilon", 1e-5);
  int64_t axis = ox_attr_int(c, "axis", -1);
  ox_attr_ignore(c, "stash_type"); /* mlg computes the statistics in float32 either way */
  int in[3] = {ox_tensor_in(c, 0), ox_tensor_in(c, 1), -1};
  int n = 2;
  if (ox_has_input(c, 2)) in[n++] = ox_tensor_in(c, 2);
  for (int i = 0; i < n; i++)
    if (in[i] < 0) return -1;
  if (out_node(c, ox_op(c, "layer_norm", in, n, (ox_kv[]){{"eps", ox_f(eps)}, {"axis", ox_i(axis)}, OX_END})) != 0)
    return -1;
  if (!ox_has_output(c, 1) && !ox_has_output(c, 2)) return 0;
  /* Mean and InvStdDev, over the normalized axes, kept as 1s. */
  int rank = ox_type(c, in[0])->rank;
  int a = axis_of(c, axis, rank, "axis");
  if (a < 0) return -1;
  int64_t axes[MAXR];
  for (int k = a; k < rank; k++) axes[k - a] = k;
  int m = reduce_op(c, "mean", in[0], axes, rank - a, 1);
  int d = bin(c, "sub", in[0], m);
  int var = reduce_op(c, "mean", bin(c, "mul", d, d), axes, rank - a, 1);
  if (ox_set_output(c, 1, m) != 0) return -1;
  return ox_set_output(c, 2, un(c, "rsqrt", add_s(c, var, (float)eps)));
}

static int m_rms_norm(ox_ctx *c) {
  double eps = ox_attr_float(c, "epsilon", 1e-5);
  int64_t axis = ox_attr_int(c, "axis", -1);
  ox_attr_ignore(c, "stash_type");
  int x = ox_tensor_in(c, 0), s = ox_tensor_in(c, 1);
  if (x < 0 || s < 0) return -1;
  int rank = ox_type(c, x)->rank;
  int a = axis_of(c, axis, rank, "axis");
  if (a < 0) return -1;
  /* The scale broadcasts to the normalized dims; rms_norm takes it when it has exactly them. */
  const mlg_type *xt = ox_type(c, x), *st = ox_type(c, s);
  int exact = st->rank == rank - a;
  for (int k = 0; exact && k < st->rank; k++) exact = st->dims[k] == xt->dims[a + k];
  int in[2] = {x, s};
  int y = ox_op(c, "rms_norm", in, exact ? 2 : 1, (ox_kv[]){{"eps", ox_f(eps)}, {"axis", ox_i(a)}, OX_END});
  return out_node(c, exact ? y : bin(c, "mul", y, s));
}

static int m_swish(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  double alpha = ox_attr_float(c, "alpha", 1.0);
  return out_node(c, bin(c, "mul", x, un(c, "sigmoid", alpha == 1.0 ? x : mul_s(c, x, (float)alpha))));
}

static int m_eye_like(ox_ctx *c) {
  int64_t dims[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  if (rank != 2) return ox_fail(c, "the input must be 2-D");
  int64_t k = ox_attr_int(c, "k", 0);
  int dtype = (int)ox_attr_int(c, "dtype", ox_dtype_in(c, 0));
  if (dtype != OX_FLOAT && !ox_is_int_dtype(dtype)) return ox_fail(c, "dtype %s is not supported", ox_dtype_name(dtype));
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, dtype, 2, dims, &f, &v);
  if (!t) return ox_oom(c);
  /* A diagonal outside the matrix leaves it zero; clamped, so that r + k cannot overflow. */
  k = k > dims[1] ? dims[1] : k < -dims[0] ? -dims[0] : k;
  for (int64_t r = 0; r < dims[0]; r++)
    if (r + k >= 0 && r + k < dims[1]) {
      if (f) f[r * dims[1] + r + k] = 1.0f;
      else v[r * dims[1] + r + k] = 1;
    }
  return out_const(c, t);
}

static int m_group_norm(ox_ctx *c) {
  double eps = ox_attr_float(c, "epsilon", 1e-5);
  int64_t groups = ox_attr_int(c, "num_groups", 0);
  ox_attr_ignore(c, "stash_type");
  int x = ox_tensor_in(c, 0), s = ox_tensor_in(c, 1), b = ox_tensor_in(c, 2);
  if (x < 0 || s < 0 || b < 0) return -1;
  const mlg_type *xt = ox_type(c, x);
  int rank = xt->rank;
  int64_t ch = rank >= 2 ? xt->dims[1] : 0;
  if (rank < 3 || groups < 1 || ch % groups != 0)
    return ox_fail(c, "num_groups=%lld must divide the %lld channels of an input with spatial dims",
                   (long long)groups, (long long)ch);
  if (ox_opset(c) >= 21) { /* scale and bias per channel: group_norm's own */
    int in[3] = {x, s, b};
    return out_node(c, ox_op(c, "group_norm", in, 3,
                             (ox_kv[]){{"groups", ox_i(groups)}, {"eps", ox_f(eps)}, OX_END}));
  }
  int64_t dims[MAXR];
  memcpy(dims, xt->dims, sizeof dims);
  int64_t grouped[3] = {xt->dims[0], groups, mlg_type_numel(xt) / (xt->dims[0] * groups)};
  int64_t axis = 2;
  int y = normalize(c, reshape_to(c, x, 3, grouped), &axis, 1, eps);
  /* opset 18: scale and bias per group */
  int64_t gv[2] = {groups, 1};
  y = bin(c, "mul", y, reshape_to(c, s, 2, gv));
  y = bin(c, "add", y, reshape_to(c, b, 2, gv));
  return out_node(c, reshape_to(c, y, rank, dims));
}

static int m_lp_norm(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int axis = axis_of(c, ox_attr_int(c, "axis", -1), ox_type(c, x)->rank, "axis");
  int64_t p = ox_attr_int(c, "p", 2);
  if (axis < 0) return -1;
  int64_t ax = axis;
  if (p == 1) return out_node(c, bin(c, "div", x, reduce_op(c, "sum", un(c, "abs", x), &ax, 1, 1)));
  if (p != 2) return ox_fail(c, "p=%lld is not supported (1 and 2 are)", (long long)p);
  return out_node(c, bin(c, "div", x, un(c, "sqrt", reduce_op(c, "sum", bin(c, "mul", x, x), &ax, 1, 1))));
}

static int m_mvn(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int64_t axes[MAXR] = {0, 2, 3};
  int n = ox_attr_ints(c, "axes", axes, MAXR);
  if (n == -2) return -1;
  if (n < 0) n = 3;
  int m = reduce_op(c, "mean", x, axes, n, 1);
  int d = bin(c, "sub", x, m);
  int var = reduce_op(c, "mean", bin(c, "mul", d, d), axes, n, 1);
  return out_node(c, bin(c, "div", d, un(c, "sqrt", var)));
}

static int softmax(ox_ctx *c, const char *op) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  const mlg_type *t = ox_type(c, x);
  int old = ox_opset(c) < 13;
  int axis = axis_of(c, ox_attr_int(c, "axis", old ? 1 : -1), t->rank, "axis");
  if (axis < 0) return -1;
  if (!old || axis == t->rank - 1)
    return out_node(c, ox_op1(c, op, x, (ox_kv[]){{"axis", ox_i(axis)}, OX_END}));
  /* Opsets before 13: over the input flattened to 2-D at axis. */
  int64_t flat[2] = {1, 1}, dims[MAXR];
  for (int k = 0; k < t->rank; k++) flat[k < axis ? 0 : 1] *= t->dims[k];
  memcpy(dims, t->dims, sizeof dims);
  int y = ox_op1(c, op, reshape_to(c, x, 2, flat), (ox_kv[]){{"axis", ox_i(1)}, OX_END});
  return out_node(c, reshape_to(c, y, t->rank, dims));
}

static int m_softmax(ox_ctx *c) { return softmax(c, "softmax"); }
static int m_log_softmax(ox_ctx *c) { return softmax(c, "log_softmax"); }

/* ---- reductions ------------------------------------------------------------------------------ */

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP } reduce_kind;

static int reduce(ox_ctx *c, reduce_kind kind) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int rank = ox_type(c, x)->rank;
  int64_t keep = ox_attr_int(c, "keepdims", 1);
  int64_t noop = ox_attr_int(c, "noop_with_empty_axes", 0);
  int64_t axes[MAXR];
  /* ReduceSum takes axes as an input from opset 13, the others from 18. */
  int axes_input = ox_opset(c) >= (kind == R_SUM ? 13 : 18);
  int n = -1;
  if (axes_input) {
    if (ox_has_input(c, 1) && (n = ints_in(c, 1, "axes", axes, MAXR)) < 0) return -1;
  } else if ((n = ox_attr_ints(c, "axes", axes, MAXR)) == -2) {
    return -1;
  }
  if (n <= 0) {
    if (noop) return out_node(c, x);
    for (int k = 0; k < rank; k++) axes[k] = k;
    n = rank;
  }
  for (int k = 0; k < n; k++)
    if ((axes[k] = axis_of(c, axes[k], rank, "axis")) < 0) return -1;
  if (rank == 0) return out_node(c, x);
  int y;
  switch (kind) {
  case R_SUM: y = reduce_op(c, "sum", x, axes, n, (int)keep); break;
  case R_MEAN: y = reduce_op(c, "mean", x, axes, n, (int)keep); break;
  case R_MAX: y = reduce_op(c, "max", x, axes, n, (int)keep); break;
  case R_MIN: y = reduce_op(c, "min", x, axes, n, (int)keep); break;
  case R_PROD: y = reduce_op(c, "prod", x, axes, n, (int)keep); break;
  case R_L1: y = reduce_op(c, "sum", un(c, "abs", x), axes, n, (int)keep); break;
  case R_L2: y = un(c, "sqrt", reduce_op(c, "sum", bin(c, "mul", x, x), axes, n, (int)keep)); break;
  case R_SUMSQ: y = reduce_op(c, "sum", bin(c, "mul", x, x), axes, n, (int)keep); break;
  case R_LOGSUM: y = un(c, "log", reduce_op(c, "sum", x, axes, n, (int)keep)); break;
  default: { /* log(sum(exp(x - m))) + m, m the max: never overflows */
    int m = reduce_op(c, "max", x, axes, n, 1);
    int s = reduce_op(c, "sum", un(c, "exp", bin(c, "sub", x, m)), axes, n, (int)keep);
    y = bin(c, "add", un(c, "log", s), keep ? m : reduce_op(c, "max", x, axes, n, 0));
    break;
  }
  }
  return out_node(c, y);
}

static int m_reduce_sum(ox_ctx *c) { return reduce(c, R_SUM); }
static int m_reduce_mean(ox_ctx *c) { return reduce(c, R_MEAN); }
static int m_reduce_max(ox_ctx *c) { return reduce(c, R_MAX); }
static int m_reduce_min(ox_ctx *c) { return reduce(c, R_MIN); }
static int m_reduce_prod(ox_ctx *c) { return reduce(c, R_PROD); }

/* CumSum: the axis, an input, known at import. */
static int m_cumsum(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  int64_t axis;
  if (x < 0 || ints_in(c, 1, "axis", &axis, 1) != 1) return -1;
  int a = axis_of(c, axis, ox_type(c, x)->rank, "axis");
  if (a < 0) return -1;
  return out_node(c, ox_op1(c, "cumsum", x, (ox_kv[]){{"axis", ox_i(a)},
                                                      {"exclusive", ox_i(ox_attr_int(c, "exclusive", 0))},
                                                      {"reverse", ox_i(ox_attr_int(c, "reverse", 0))}, OX_END}));
}
static int m_reduce_l1(ox_ctx *c) { return reduce(c, R_L1); }
static int m_reduce_l2(ox_ctx *c) { return reduce(c, R_L2); }
static int m_reduce_sum_square(ox_ctx *c) { return reduce(c, R_SUMSQ); }
static int m_reduce_log_sum(ox_ctx *c) { return reduce(c, R_LOGSUM); }
static int m_reduce_log_sum_exp(ox_ctx *c) { return reduce(c, R_LOGSUMEXP); }

/* ---- shapes ------------------------------------------------------------------------------------ */

static int m_shape(ox_ctx *c) {
  int64_t dims[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int64_t start = ox_attr_int(c, "start", 0), end = ox_attr_int(c, "end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = start < 0 ? 0 : start > rank ? rank : start;
  end = end < start ? start : end > rank ? rank : end;
  int64_t n = end - start;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, OX_INT64, 1, &n, NULL, &v);
  if (!t) return ox_oom(c);
  for (int64_t k = 0; k < n; k++) v[k] = dims[start + k];
  return out_const(c, t);
}

static int m_size(ox_ctx *c) {
  int64_t dims[MAXR], n = 1;
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  for (int k = 0; k < rank; k++) n *= dims[k];
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, OX_INT64, 0, NULL, NULL, &v);
  if (!t) return ox_oom(c);
  v[0] = n;
  return out_const(c, t);
}

static int m_constant(ox_ctx *c) {
  const char *unsupported[] = {"sparse_value", "value_string", "value_strings"};
  for (int k = 0; k < 3; k++)
    if (ox_has_attr(c, unsupported[k])) return ox_fail(c, "attribute '%s' is not supported", unsupported[k]);
  if (ox_has_attr(c, "value")) return out_const(c, ox_attr_tensor(c, "value"));
  float *f;
  int64_t *v;
  if (ox_has_attr(c, "value_float") || ox_has_attr(c, "value_int")) {
    int is_f = ox_has_attr(c, "value_float");
    ox_tensor *t = ox_new_tensor(c, is_f ? OX_FLOAT : OX_INT64, 0, NULL, &f, &v);
    if (!t) return ox_oom(c);
    if (is_f) f[0] = (float)ox_attr_float(c, "value_float", 0);
    else v[0] = ox_attr_int(c, "value_int", 0);
    return out_const(c, t);
  }
  if (ox_has_attr(c, "value_ints")) {
    int64_t vals[MAXR * 8];
    int n = ox_attr_ints(c, "value_ints", vals, MAXR * 8);
    if (n < 0) return -1;
    int64_t d = n;
    ox_tensor *t = ox_new_tensor(c, OX_INT64, 1, &d, NULL, &v);
    if (!t) return ox_oom(c);
    memcpy(v, vals, sizeof(int64_t) * (size_t)n);
    return out_const(c, t);
  }
  return ox_fail(c, "no value attribute that mlg reads (value, value_float, value_int, value_ints)");
}

static int m_constant_of_shape(ox_ctx *c) {
  int64_t dims[MAXR];
  int rank = ints_in(c, 0, "shape", dims, MAXR);
  if (rank < 0) return -1;
  const ox_tensor *value = ox_has_attr(c, "value") ? ox_attr_tensor(c, "value") : NULL;
  if (ox_has_attr(c, "value") && !value) return -1;
  if (value && value->numel != 1) return ox_fail(c, "value must hold one element");
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, value ? value->dtype : OX_FLOAT, rank, dims, &f, &v);
  if (!t) return ox_fail(c, "the shape is too large");
  for (int64_t e = 0; e < t->numel; e++) {
    if (f) f[e] = value ? value->f[0] : 0.0f;
    else v[e] = value->i[0];
  }
  return out_const(c, t);
}

static int m_range(ox_ctx *c) {
  const ox_tensor *s = ox_const_in(c, 0, "start"), *l = ox_const_in(c, 1, "limit"),
                  *d = ox_const_in(c, 2, "delta");
  if (!s || !l || !d) return -1;
  if (s->numel != 1 || l->numel != 1 || d->numel != 1) return ox_fail(c, "start, limit and delta must be scalars");
  double start = ox_tensor_num(s, 0), limit = ox_tensor_num(l, 0), delta = ox_tensor_num(d, 0);
  if (delta == 0) return ox_fail(c, "delta is 0");
  double count = ceil((limit - start) / delta);
  /* Compared as a double, before the conversion: a range to infinity has no int64 count. */
  if (count > (double)((int64_t)1 << 24)) return ox_fail(c, "the range has more than 2^24 elements");
  int64_t n = count > 0 ? (int64_t)count : 0;
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, s->dtype, 1, &n, &f, &v);
  if (!t) return ox_oom(c);
  for (int64_t k = 0; k < n; k++) {
    int64_t step;
    if (f) f[k] = (float)(s->f[0] + (float)k * d->f[0]);
    else if (__builtin_mul_overflow(k, d->i[0], &step) || __builtin_add_overflow(s->i[0], step, &v[k]))
      return ox_fail(c, "the range's values pass the int64 range");
  }
  return out_const(c, t);
}

/* cast(x, dtype=to), or the value folded when x is known at import (every integer type and
 * float32); float32 to float32 is the identity. */
static int cast_to(ox_ctx *c, int to, const char *op) {
  const ox_tensor *k = ox_known(c, 0);
  if (k && (to == OX_FLOAT || ox_is_int_dtype(to))) return out_const(c, ox_fold_cast(c, k, to));
  if (to == OX_FLOAT && ox_dtype_in(c, 0) == OX_FLOAT) return m_identity(c);
  mlg_ir_dtype dt;
  if (ox_mlg_dtype(to, &dt) != 0)
    return ox_fail(c, "%s to %s: mlg's types are float32, float16, int32, int64, int8, uint8 and "
                   "bool", op, ox_dtype_name(to));
  int x = ox_tensor_in(c, 0);
  mlg_attr a = {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {dt}};
  return out_node(c, x < 0 ? -1 : ox_op1(c, "cast", x, (ox_kv[]){{"dtype", a}, OX_END}));
}

static int m_cast(ox_ctx *c) {
  ox_attr_ignore(c, "saturate"); /* float8 targets only */
  ox_attr_ignore(c, "round_mode");
  return cast_to(c, (int)ox_attr_int(c, "to", 0), "Cast");
}

static int m_cast_like(ox_ctx *c) {
  ox_attr_ignore(c, "saturate");
  ox_attr_ignore(c, "round_mode");
  return cast_to(c, ox_dtype_in(c, 1), "CastLike");
}

static int m_reshape(ox_ctx *c) {
  int64_t shape[MAXR], dims[MAXR];
  int n = ints_in(c, 1, "shape", shape, MAXR);
  int rank = dims_in(c, 0, dims);
  if (n < 0 || rank < 0) return -1;
  int64_t allowzero = ox_attr_int(c, "allowzero", 0);
  int64_t numel = 1, known = 1;
  int infer = -1;
  for (int k = 0; k < rank; k++) numel *= dims[k];
  for (int k = 0; k < n; k++) {
    if (shape[k] == 0 && !allowzero) {
      if (k >= rank) return ox_fail(c, "shape[%d] = 0 copies a dim the input does not have", k);
      shape[k] = dims[k];
    }
    if (shape[k] == -1) {
      if (infer >= 0) return ox_fail(c, "shape has two -1 entries");
      infer = k;
      continue;
    }
    if (shape[k] < 1) return ox_fail(c, "shape[%d] = %lld: empty tensors are not supported", k, (long long)shape[k]);
    if (known > INT64_MAX / shape[k])
      return ox_fail(c, "shape[%d] = %lld: the shape holds more than 2^63 elements", k, (long long)shape[k]);
    known *= shape[k];
  }
  if (infer >= 0) {
    if (known == 0 || numel % known) return ox_fail(c, "cannot reshape %lld elements", (long long)numel);
    shape[infer] = numel / known;
  }
  const ox_tensor *k = ox_known(c, 0);
  if (k) return out_const(c, ox_reshaped(c, k, n, shape));
  return out_node(c, reshape_to(c, ox_tensor_in(c, 0), n, shape));
}

static int m_flatten(ox_ctx *c) {
  int64_t dims[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int64_t axis = ox_attr_int(c, "axis", 1);
  if (axis < -rank || axis > rank) return ox_fail(c, "axis %lld is out of range", (long long)axis);
  if (axis < 0) axis += rank;
  int64_t flat[2] = {1, 1};
  for (int k = 0; k < rank; k++) flat[k < axis ? 0 : 1] *= dims[k];
  const ox_tensor *k = ox_known(c, 0);
  if (k) return out_const(c, ox_reshaped(c, k, 2, flat));
  int x = ox_tensor_in(c, 0);
  return out_node(c, x < 0 ? -1 : ox_op1(c, "flatten", x, (ox_kv[]){{"axis", ox_i(axis)}, OX_END}));
}

static int m_transpose(ox_ctx *c) {
  int64_t dims[MAXR], perm[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int n = ox_attr_ints(c, "perm", perm, MAXR);
  if (n == -2) return -1;
  if (n < 0) {
    for (int k = 0; k < rank; k++) perm[k] = rank - 1 - k;
    n = rank;
  }
  if (n != rank) return ox_fail(c, "perm has %d entries for rank %d", n, rank);
  for (int k = 0; k < n; k++)
    if ((perm[k] = axis_of(c, perm[k], rank, "perm entry")) < 0) return -1;
  const ox_tensor *k = ox_known(c, 0);
  if (k && (k->i || k->numel <= 4096)) return out_const(c, ox_fold_transpose(c, k, perm));
  int x = ox_tensor_in(c, 0);
  return out_node(c, x < 0 ? -1 : ox_op1(c, "transpose", x, (ox_kv[]){{"perm", ox_is(perm, n)}, OX_END}));
}

static int m_concat(ox_ctx *c) {
  int n = ox_n_inputs(c);
  int64_t dims[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int axis = axis_of(c, ox_attr_int(c, "axis", 0), rank, "axis");
  if (axis < 0 || n < 1) return -1;
  if (n > 64) return ox_fail(c, "more than 64 inputs");
  if (all_known(c, 0, n) && (ox_known(c, 0)->i || n <= 64)) {
    const ox_tensor *in[64];
    int m = 0;
    int all_small = 1;
    for (int i = 0; i < n; i++) {
      if (!ox_has_input(c, i)) continue;
      in[m] = ox_known(c, i);
      all_small &= in[m]->i != NULL || in[m]->numel <= 4096;
      if (in[m]->numel) m++;
    }
    if (all_small && m) return out_const(c, ox_fold_concat(c, in, m, axis));
  }
  int in[64], m = 0;
  for (int i = 0; i < n; i++) {
    if (!ox_has_input(c, i)) continue;
    const ox_tensor *k = ox_known(c, i);
    if (k && k->numel == 0) continue; /* an empty input adds nothing */
    if ((in[m++] = ox_tensor_in(c, i)) < 0) return -1;
  }
  if (m == 1) return out_node(c, in[0]);
  return out_node(c, ox_op(c, "concat", in, m, (ox_kv[]){{"axis", ox_i(axis)}, OX_END}));
}

/* One output of Split or a slice along one axis, known or computed. */
static int slice_axis(ox_ctx *c, int k, int axis, int64_t begin, int64_t count, int rank, const int64_t *dims) {
  int64_t starts[MAXR] = {0}, steps[MAXR], counts[MAXR];
  for (int d = 0; d < rank; d++) steps[d] = 1, counts[d] = dims[d];
  starts[axis] = begin;
  counts[axis] = count;
  const ox_tensor *known = ox_known(c, 0);
  if (known) {
    const ox_tensor *t = ox_fold_slice(c, known, starts, steps, counts);
    return t ? ox_set_output_const(c, k, t) : ox_oom(c);
  }
  int x = ox_tensor_in(c, 0);
  int64_t ax = axis, end = begin + count;
  if (count == dims[axis]) return ox_set_output(c, k, x);
  int y = x < 0 ? -1
                : ox_op1(c, "slice", x,
                         (ox_kv[]){{"starts", ox_is(&begin, 1)}, {"ends", ox_is(&end, 1)},
                                   {"axes", ox_is(&ax, 1)}, OX_END});
  return ox_set_output(c, k, y);
}

static int m_split(ox_ctx *c) {
  int64_t dims[MAXR], sizes[64];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int axis = axis_of(c, ox_attr_int(c, "axis", 0), rank, "axis");
  if (axis < 0) return -1;
  int outs = ox_n_outputs(c);
  if (outs > 64) return ox_fail(c, "more than 64 outputs");
  int64_t num_outputs = ox_attr_int(c, "num_outputs", 0);
  int n = -1;
  if (ox_opset(c) >= 13) {
    if (ox_has_input(c, 1) && (n = ints_in(c, 1, "split", sizes, 64)) < 0) return -1;
  } else if ((n = ox_attr_ints(c, "split", sizes, 64)) == -2) {
    return -1;
  }
  if (n < 0) {
    int64_t parts = num_outputs ? num_outputs : outs;
    if (parts < 1) return ox_fail(c, "no outputs");
    /* sizes holds 64: num_outputs=100 once wrote past it. */
    if (parts != outs)
      return ox_fail(c, "num_outputs=%lld, but the node has %d outputs", (long long)parts, outs);
    int64_t each = (dims[axis] + parts - 1) / parts; /* the last part may be smaller */
    n = (int)parts;
    for (int k = 0; k < n; k++) {
      int64_t left = dims[axis] - each * k;
      sizes[k] = left < each ? (left < 0 ? 0 : left) : each;
    }
  }
  if (n != outs) return ox_fail(c, "split has %d sizes for %d outputs", n, outs);
  int64_t begin = 0;
  for (int k = 0; k < n; k++) {
    if (sizes[k] < 1) return ox_fail(c, "output %d would be empty", k);
    if (slice_axis(c, k, axis, begin, sizes[k], rank, dims) != 0) return -1;
    begin += sizes[k];
  }
  if (begin != dims[axis]) return ox_fail(c, "the split sizes add up to %lld, not %lld", (long long)begin,
                                          (long long)dims[axis]);
  return 0;
}

static int m_slice(ox_ctx *c) {
  int64_t dims[MAXR], starts[MAXR], ends[MAXR], axes[MAXR], steps[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int n = ints_in(c, 1, "starts", starts, MAXR);
  if (n < 0) return -1;
  if (ints_in(c, 2, "ends", ends, MAXR) != n) return ox_fail(c, "starts and ends differ in length");
  for (int k = 0; k < n; k++) axes[k] = k, steps[k] = 1;
  if (ox_has_input(c, 3) && ints_in(c, 3, "axes", axes, MAXR) != n) return ox_fail(c, "axes differs in length from starts");
  if (ox_has_input(c, 4) && ints_in(c, 4, "steps", steps, MAXR) != n) return ox_fail(c, "steps differs in length from starts");
  int64_t fs[MAXR] = {0}, fsteps[MAXR], counts[MAXR];
  for (int d = 0; d < rank; d++) fsteps[d] = 1, counts[d] = dims[d];
  for (int k = 0; k < n; k++) {
    int a = axis_of(c, axes[k], rank, "axis");
    if (a < 0) return -1;
    if (steps[k] == 0) return ox_fail(c, "a step is 0");
    counts[a] = ox_slice_bounds(dims[a], starts[k], ends[k], steps[k], &fs[a]);
    fsteps[a] = steps[k];
    if (counts[a] == 0) return ox_fail(c, "the result is empty; mlg tensors have at least one element");
  }
  const ox_tensor *known = ox_known(c, 0);
  if (known) return out_const(c, ox_fold_slice(c, known, fs, fsteps, counts));
  int x = ox_tensor_in(c, 0);
  /* Full rank, bounds already clamped: what mlg's slice normalizes to anyway. */
  int64_t fe[MAXR], all[MAXR];
  for (int d = 0; d < rank; d++) fe[d] = fs[d] + counts[d] * fsteps[d], all[d] = d;
  for (int d = 0; d < rank; d++)
    if (fe[d] < 0) fe[d] = -dims[d] - 1; /* reversed to the start: past index 0 */
  return out_node(c, x < 0 ? -1
                           : ox_op1(c, "slice", x,
                                    (ox_kv[]){{"starts", ox_is(fs, rank)}, {"ends", ox_is(fe, rank)},
                                              {"axes", ox_is(all, rank)}, {"steps", ox_is(fsteps, rank)},
                                              OX_END}));
}

/* Axes of Squeeze and Unsqueeze: an attribute before opset 13, an input from 13 on. */
static int read_axes(ox_ctx *c, int64_t *axes, int max) {
  if (ox_opset(c) >= 13) return ox_has_input(c, 1) ? ints_in(c, 1, "axes", axes, max) : -3;
  int n = ox_attr_ints(c, "axes", axes, max);
  return n == -1 ? -3 : n;
}

static int m_squeeze(ox_ctx *c) {
  int64_t dims[MAXR], axes[MAXR], out[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int n = read_axes(c, axes, MAXR);
  if (n == -1 || n == -2) return -1;
  char drop[MAXR] = {0};
  for (int k = 0; k < n; k++) {
    int a = axis_of(c, axes[k], rank, "axis");
    if (a < 0) return -1;
    if (dims[a] != 1) return ox_fail(c, "axis %d has size %lld, not 1", a, (long long)dims[a]);
    drop[a] = 1;
  }
  int r = 0, n_drop = 0;
  int64_t dropped[MAXR];
  for (int d = 0; d < rank; d++) {
    if (!(n > 0 ? drop[d] : dims[d] == 1)) out[r++] = dims[d];
    else dropped[n_drop++] = d;
  }
  const ox_tensor *k = ox_known(c, 0);
  if (k) return out_const(c, ox_reshaped(c, k, r, out));
  int x = ox_tensor_in(c, 0);
  if (x < 0 || n_drop == 0) return out_node(c, x);
  return out_node(c, ox_op1(c, "squeeze", x, (ox_kv[]){{"axes", ox_is(dropped, n_drop)}, OX_END}));
}

static int m_unsqueeze(ox_ctx *c) {
  int64_t dims[MAXR], axes[MAXR], out[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int n = read_axes(c, axes, MAXR);
  if (n < 0) return n == -3 ? ox_fail(c, "axes is missing") : -1;
  int out_rank = rank + n;
  if (out_rank > MAXR) return ox_fail(c, "the result has more than %d dims", MAXR);
  char ins[MAXR] = {0};
  for (int k = 0; k < n; k++) {
    int a = axis_of(c, axes[k], out_rank, "axis");
    if (a < 0) return -1;
    if (ins[a]) return ox_fail(c, "axis %d is repeated", a);
    ins[a] = 1;
  }
  for (int d = 0, s = 0; d < out_rank; d++) out[d] = ins[d] ? 1 : dims[s++];
  const ox_tensor *k = ox_known(c, 0);
  if (k) return out_const(c, ox_reshaped(c, k, out_rank, out));
  int64_t sorted[MAXR];
  int m = 0;
  for (int d = 0; d < out_rank; d++)
    if (ins[d]) sorted[m++] = d;
  int x = ox_tensor_in(c, 0);
  return out_node(c, x < 0 ? -1 : ox_op1(c, "unsqueeze", x, (ox_kv[]){{"axes", ox_is(sorted, m)}, OX_END}));
}

static int m_gather(ox_ctx *c) {
  int64_t dims[MAXR];
  int rank = dims_in(c, 0, dims);
  if (rank < 0) return -1;
  int axis = axis_of(c, ox_attr_int(c, "axis", 0), rank, "axis");
  const ox_tensor *idx = ox_const_in(c, 1, "indices");
  if (axis < 0 || !idx) return -1;
  if (!idx->i) return ox_fail(c, "indices must be integers");
  const ox_tensor *k = ox_known(c, 0);
  if (k && (k->i || idx->numel <= 4096)) return out_const(c, ox_fold_gather(c, k, idx, axis));
  for (int64_t e = 0; e < idx->numel; e++)
    if (idx->i[e] < -dims[axis] || idx->i[e] >= dims[axis])
      return ox_fail(c, "index %lld is out of range for a dim of %lld", (long long)idx->i[e], (long long)dims[axis]);
  if (idx->numel == 0) return ox_fail(c, "the indices are empty");
  int32_t *iv = malloc(sizeof(int32_t) * (size_t)idx->numel);
  if (!iv) return ox_oom(c);
  for (int64_t e = 0; e < idx->numel; e++) iv[e] = (int32_t)idx->i[e];
  mlg_type it = {.dtype = MLG_I32, .rank = idx->rank};
  memcpy(it.dims, idx->dims, sizeof(int64_t) * (size_t)idx->rank);
  int in[2] = {ox_tensor_in(c, 0), ox_const_node(c, &it, NULL, iv)};
  free(iv);
  if (in[0] < 0 || in[1] < 0) return -1;
  return out_node(c, ox_op(c, "gather", in, 2, (ox_kv[]){{"axis", ox_i(axis)}, OX_END}));
}

static int m_expand(ox_ctx *c) {
  int64_t shape[MAXR], dims[MAXR], out[MAXR];
  int n = ints_in(c, 1, "shape", shape, MAXR);
  int rank = dims_in(c, 0, dims);
  if (n < 0 || rank < 0) return -1;
  ox_tensor a = {.rank = rank}, b = {.rank = n};
  memcpy(a.dims, dims, sizeof dims);
  memcpy(b.dims, shape, sizeof shape);
  int out_rank;
  if (ox_broadcast_dims(&a, &b, &out_rank, out) != 0) return ox_fail(c, "the shape does not broadcast with the input");
  const ox_tensor *k = ox_known(c, 0);
  if (k) return out_const(c, ox_fold_expand(c, k, out_rank, out));
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  if (out_rank == rank && memcmp(out, dims, sizeof(int64_t) * (size_t)rank) == 0) return out_node(c, x);
  return out_node(c, ox_op1(c, "expand", x, (ox_kv[]){{"shape", ox_is(out, out_rank)}, OX_END}));
}

static int m_tile(ox_ctx *c) {
  int64_t reps[MAXR];
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int rank = ox_type(c, x)->rank;
  int n = ints_in(c, 1, "repeats", reps, MAXR);
  if (n < 0) return -1;
  if (n != rank) return ox_fail(c, "repeats has %d entries for rank %d", n, rank);
  int y = x;
  for (int d = 0; d < rank && y >= 0; d++) {
    if (reps[d] < 1) return ox_fail(c, "repeats[%d] = %lld: empty tensors are not supported", d, (long long)reps[d]);
    if (reps[d] == 1) continue;
    if (reps[d] > 64) return ox_fail(c, "repeats[%d] = %lld: at most 64 are supported", d, (long long)reps[d]);
    int in[64];
    for (int k = 0; k < reps[d]; k++) in[k] = y;
    y = ox_op(c, "concat", in, (int)reps[d], (ox_kv[]){{"axis", ox_i(d)}, OX_END});
  }
  return out_node(c, y);
}

/* Pad: the pads (and axes) known at import; every mode is mlg's pad. */
static int m_pad(ox_ctx *c) {
  const char *mode = ox_attr_string(c, "mode", "constant");
  const char *mlg_mode = strcmp(mode, "constant") == 0 ? "constant" : strcmp(mode, "reflect") == 0 ? "reflect"
                         : strcmp(mode, "edge") == 0 ? "edge" : NULL;
  if (!mlg_mode) return ox_fail(c, "mode='%s' is not supported (constant, reflect and edge are)", mode);
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int rank = ox_type(c, x)->rank;
  int64_t pads[2 * MAXR], axes[MAXR], full[2 * MAXR] = {0};
  double value = 0;
  int n = ints_in(c, 1, "pads", pads, 2 * MAXR);
  if (n < 0) return -1;
  if (ox_has_input(c, 2) && num_in(c, 2, "constant_value", &value) != 0) return -1;
  int n_axes = rank;
  for (int d = 0; d < rank; d++) axes[d] = d;
  if (ox_has_input(c, 3) && (n_axes = ints_in(c, 3, "axes", axes, MAXR)) < 0) return -1;
  if (n != 2 * n_axes) return ox_fail(c, "pads has %d entries for %d axes", n, n_axes);
  for (int k = 0; k < n_axes; k++) {
    int a = axis_of(c, axes[k], rank, "axis");
    if (a < 0) return -1;
    full[a] = pads[k];
    full[rank + a] = pads[n_axes + k];
  }
  return out_node(c, ox_op1(c, "pad", x, (ox_kv[]){{"pads", ox_is(full, 2 * rank)},
                                                   {"mode", ox_enum("pad", "mode", mlg_mode)},
                                                   {"value", ox_f(value)}, OX_END}));
}

/* Resize (opset 11 and later) on NCHW, the batch and channel dims kept: nearest as
 * asymmetric/floor, linear as half_pixel (pytorch_half_pixel where no output dim is 1) or
 * align_corners; the scales or the sizes known at import. */
static int m_resize(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  const mlg_type *xt = ox_type(c, x);
  if (xt->rank != 4) return ox_fail(c, "only 4-D (NCHW) inputs are supported, not rank %d", xt->rank);
  const char *mode = ox_attr_string(c, "mode", "nearest");
  const char *ctm = ox_attr_string(c, "coordinate_transformation_mode", "half_pixel");
  const char *nearest = ox_attr_string(c, "nearest_mode", "round_prefer_floor");
  ox_attr_ignore(c, "cubic_coeff_a");
  ox_attr_ignore(c, "exclude_outside");
  ox_attr_ignore(c, "extrapolation_value");
  if (ox_attr_int(c, "antialias", 0)) return ox_fail(c, "antialias=1 is not supported");
  if (strcmp(ox_attr_string(c, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
    return ox_fail(c, "keep_aspect_ratio_policy other than stretch is not supported");
  int64_t axes[4] = {0, 1, 2, 3};
  int n_axes = ox_attr_ints(c, "axes", axes, 4);
  if (n_axes == -2) return -1;
  if (n_axes < 0) n_axes = 4;
  for (int k = 0; k < n_axes; k++)
    if ((axes[k] = axis_of(c, axes[k], 4, "axis")) < 0) return -1;
  /* scales (input 2) or sizes (input 3), per listed axis */
  double scale[4] = {1, 1, 1, 1};
  int64_t size[4] = {xt->dims[0], xt->dims[1], xt->dims[2], xt->dims[3]};
  int by_scale = ox_has_input(c, 2) && (!ox_known(c, 2) || ox_known(c, 2)->numel > 0);
  if (by_scale) {
    const ox_tensor *t = ox_const_in(c, 2, "scales");
    if (!t) return -1;
    if (t->numel != n_axes) return ox_fail(c, "scales has %lld values for %d axes", (long long)t->numel, n_axes);
    for (int k = 0; k < n_axes; k++) scale[axes[k]] = ox_tensor_num(t, k);
    for (int k = 2; k < 4; k++) /* before the sizes are computed from them */
      if (!(scale[k] > 0) || (double)xt->dims[k] * scale[k] >= 2147483648.0)
        return ox_fail(c, "scale %g must be positive and keep the output below 2^31", scale[k]);
  } else {
    int64_t v[4];
    int n = ox_has_input(c, 3) ? ints_in(c, 3, "sizes", v, 4) : ox_fail(c, "neither scales nor sizes is given");
    if (n < 0) return -1;
    if (n != n_axes) return ox_fail(c, "sizes has %d values for %d axes", n, n_axes);
    for (int k = 0; k < n_axes; k++) size[axes[k]] = v[k];
  }
  if (by_scale ? scale[0] != 1 || scale[1] != 1 : size[0] != xt->dims[0] || size[1] != xt->dims[1])
    return ox_fail(c, "resizing the batch or channel dims is not supported (H and W are)");
  int linear = strcmp(mode, "linear") == 0, align = 0;
  if (!linear && strcmp(mode, "nearest") != 0) return ox_fail(c, "mode='%s' is not supported (nearest and linear are)", mode);
  if (linear) {
    int64_t oh = by_scale ? (int64_t)floor((double)xt->dims[2] * scale[2]) : size[2];
    int64_t ow = by_scale ? (int64_t)floor((double)xt->dims[3] * scale[3]) : size[3];
    align = strcmp(ctm, "align_corners") == 0;
    /* ONNX maps align_corners coordinates with in·scale unrounded, mlg (as PyTorch) with the
     * output size: the same only where in·scale is a whole number. */
    for (int k = 2; align && by_scale && k < 4; k++)
      if ((double)xt->dims[k] * scale[k] != floor((double)xt->dims[k] * scale[k]))
        return ox_fail(c, "align_corners with a scale whose output size is not a whole number "
                       "(%lld x %g) is not supported (give sizes)", (long long)xt->dims[k], scale[k]);
    int pytorch = strcmp(ctm, "pytorch_half_pixel") == 0 && oh > 1 && ow > 1;
    if (!align && !pytorch && strcmp(ctm, "half_pixel") != 0)
      return ox_fail(c, "linear with coordinate_transformation_mode='%s' is not supported (half_pixel, "
                     "align_corners, and pytorch_half_pixel without an output dim of 1 are)", ctm);
  } else if (strcmp(ctm, "asymmetric") != 0 || strcmp(nearest, "floor") != 0) {
    return ox_fail(c, "nearest with coordinate_transformation_mode='%s', nearest_mode='%s' is not "
                   "supported (asymmetric with floor is: PyTorch's nearest)", ctm, nearest);
  }
  ox_kv kv[4] = {{"mode", ox_enum("resize", "mode", linear ? "linear" : "nearest")},
                 {"align_corners", ox_i(align)}, OX_END, OX_END};
  kv[2] = by_scale ? (ox_kv){"scale", ox_fs(scale + 2, 2)} : (ox_kv){"size", ox_is(size + 2, 2)};
  return out_node(c, ox_op1(c, "resize", x, kv));
}

/* DepthToSpace and SpaceToDepth: a reshape, a transpose and a reshape. */
static int m_depth_to_space(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  const mlg_type *t = ox_type(c, x);
  int64_t b = ox_attr_int(c, "blocksize", 0);
  const char *mode = ox_attr_string(c, "mode", "DCR");
  /* b <= the channels first: blocksize 2^32 overflowed b * b. */
  if (t->rank != 4 || b < 1 || b > t->dims[1] || t->dims[1] % (b * b))
    return ox_fail(c, "blocksize^2 must divide the channels of a 4-D input");
  int64_t n = t->dims[0], ch = t->dims[1] / (b * b), h = t->dims[2], w = t->dims[3];
  int crd = strcmp(mode, "CRD") == 0;
  if (!crd && strcmp(mode, "DCR") != 0) return ox_fail(c, "mode='%s' is not supported", mode);
  int64_t s1[6] = {n, b, b, ch, h, w}, s1c[6] = {n, ch, b, b, h, w};
  int64_t p[6] = {0, 3, 4, 1, 5, 2}, pc[6] = {0, 1, 4, 2, 5, 3};
  int64_t out[4] = {n, ch, h * b, w * b};
  int y = reshape_to(c, x, 6, crd ? s1c : s1);
  y = y < 0 ? -1 : ox_op1(c, "transpose", y, (ox_kv[]){{"perm", ox_is(crd ? pc : p, 6)}, OX_END});
  return out_node(c, reshape_to(c, y, 4, out));
}

static int m_space_to_depth(ox_ctx *c) {
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  const mlg_type *t = ox_type(c, x);
  int64_t b = ox_attr_int(c, "blocksize", 0);
  if (t->rank != 4 || b < 1 || t->dims[2] % b || t->dims[3] % b)
    return ox_fail(c, "blocksize must divide the height and width of a 4-D input");
  int64_t n = t->dims[0], ch = t->dims[1], h = t->dims[2] / b, w = t->dims[3] / b;
  int64_t s1[6] = {n, ch, h, b, w, b}, p[6] = {0, 3, 5, 1, 2, 4}, out[4] = {n, ch * b * b, h, w};
  int y = reshape_to(c, x, 6, s1);
  y = y < 0 ? -1 : ox_op1(c, "transpose", y, (ox_kv[]){{"perm", ox_is(p, 6)}, OX_END});
  return out_node(c, reshape_to(c, y, 4, out));
}

/* Comparisons and Where: folded when every input is known (shape arithmetic), else mlg's op
 * on the run-time tensors. */
static int compare(ox_ctx *c, ox_fold_op op, const char *mlg_op) {
  const ox_tensor *a = ox_known(c, 0), *b = ox_known(c, 1);
  if (a && b) return out_const(c, ox_fold_binary(c, op, a, b));
  int x = ox_tensor_in(c, 0), y = x < 0 ? -1 : ox_tensor_in(c, 1);
  return out_node(c, y < 0 ? -1 : ox_op2(c, mlg_op, x, y));
}

static int m_equal(ox_ctx *c) { return compare(c, OX_EQ, "equal"); }
static int m_less(ox_ctx *c) { return compare(c, OX_LT, "less"); }
static int m_greater(ox_ctx *c) { return compare(c, OX_GT, "greater"); }
static int m_less_equal(ox_ctx *c) { return compare(c, OX_LE, "less_equal"); }
static int m_greater_equal(ox_ctx *c) { return compare(c, OX_GE, "greater_equal"); }

static int m_where(ox_ctx *c) {
  const ox_tensor *k = ox_known(c, 0), *x = ox_known(c, 1), *y = ox_known(c, 2);
  if (k && x && y) return out_const(c, ox_fold_where(c, k, x, y));
  int in[3];
  for (int i = 0; i < 3; i++)
    if ((in[i] = ox_tensor_in(c, i)) < 0) return -1;
  return out_node(c, ox_op(c, "where", in, 3, NULL));
}

static int m_not(ox_ctx *c) {
  const ox_tensor *k = ox_known(c, 0);
  if (k && k->i) {
    int64_t *v;
    ox_tensor *t = ox_new_tensor(c, OX_BOOL, k->rank, k->dims, NULL, &v);
    if (!t) return ox_oom(c);
    for (int64_t e = 0; e < k->numel; e++) v[e] = !k->i[e];
    return out_const(c, t);
  }
  return unary(c, "logical_not");
}

static int logical(ox_ctx *c, const char *op) {
  int x = ox_tensor_in(c, 0), y = x < 0 ? -1 : ox_tensor_in(c, 1);
  return out_node(c, y < 0 ? -1 : ox_op2(c, op, x, y));
}
static int m_and(ox_ctx *c) { return logical(c, "logical_and"); }
static int m_or(ox_ctx *c) { return logical(c, "logical_or"); }
static int m_xor(ox_ctx *c) { return logical(c, "logical_xor"); }

/* ThresholdedRelu: x where x > alpha, else 0. */
static int m_thresholded_relu(ox_ctx *c) {
  float alpha = (float)ox_attr_float(c, "alpha", 1.0);
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int keep = ox_op2(c, "greater", x, ox_scalar(c, alpha));
  int in[3] = {keep, x, ox_scalar(c, 0.0f)};
  return out_node(c, keep < 0 ? -1 : ox_op(c, "where", in, 3, NULL));
}

/* Shrink: x + bias where x < -lambd, x - bias where x > lambd, else 0. */
static int m_shrink(ox_ctx *c) {
  float bias = (float)ox_attr_float(c, "bias", 0.0), lambd = (float)ox_attr_float(c, "lambd", 0.5);
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  int hi[3] = {ox_op2(c, "greater", x, ox_scalar(c, lambd)), ox_op2(c, "sub", x, ox_scalar(c, bias)),
               ox_scalar(c, 0.0f)};
  int upper = ox_op(c, "where", hi, 3, NULL);
  int lo[3] = {ox_op2(c, "less", x, ox_scalar(c, -lambd)), ox_op2(c, "add", x, ox_scalar(c, bias)),
               upper};
  return out_node(c, upper < 0 ? -1 : ox_op(c, "where", lo, 3, NULL));
}

/* ArgMax, ArgMin: mlg's i32 index, cast to ONNX's int64. mlg gives the first index on ties;
 * select_last_index=1 takes the first of x reversed along the axis, k, as dim - 1 - k. */
static int arg_extreme(ox_ctx *c, const char *op) {
  int64_t axis = ox_attr_int(c, "axis", 0), keep = ox_attr_int(c, "keepdims", 1);
  int64_t last = ox_attr_int(c, "select_last_index", 0);
  int x = ox_tensor_in(c, 0);
  if (x < 0) return -1;
  if (keep != 0 && keep != 1) return ox_fail(c, "keepdims must be 0 or 1");
  if (last != 0 && last != 1) return ox_fail(c, "select_last_index must be 0 or 1");
  const mlg_type *t = ox_type(c, x);
  int64_t a = axis < 0 ? axis + t->rank : axis;
  if (a < 0 || a >= t->rank) return ox_fail(c, "axis %lld is out of range for rank %d", (long long)axis, t->rank);
  int64_t dim = t->dims[a];
  if (last) {
    int64_t start = dim - 1, stop = -dim - 1, step = -1;
    x = ox_op1(c, "slice", x, (ox_kv[]){{"starts", ox_is(&start, 1)}, {"ends", ox_is(&stop, 1)},
                                         {"axes", ox_is(&a, 1)}, {"steps", ox_is(&step, 1)}, OX_END});
  }
  int y = x < 0 ? -1 : ox_op1(c, op, x, (ox_kv[]){{"axis", ox_i(a)}, {"keepdims", ox_i(keep)}, OX_END});
  if (last && y >= 0) {
    mlg_type i32 = {.dtype = MLG_I32, .rank = 0};
    int32_t top = (int32_t)(dim - 1);
    y = ox_op2(c, "sub", ox_const_node(c, &i32, NULL, &top), y);
  }
  mlg_attr i64 = {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_I64}};
  return out_node(c, y < 0 ? -1 : ox_op1(c, "cast", y, (ox_kv[]){{"dtype", i64}, OX_END}));
}
static int m_arg_max(ox_ctx *c) { return arg_extreme(c, "argmax"); }
static int m_arg_min(ox_ctx *c) { return arg_extreme(c, "argmin"); }

/* ---- the table (alphabetical, as docs/onnx.md lists it) ------------------------------------------------------------------------------ */

/* ---- attention ------------------------------------------------------------------------------ */

/* [B, S, H·d] → [B, H, S, d] for a 3-D Q, K or V given with its head count. */
static int split_heads(ox_ctx *c, int x, int64_t heads, const char *what) {
  if (x < 0) return -1;
  const mlg_type *t = ox_type(c, x);
  if (t->rank == 4) return x;
  if (t->rank != 3 || heads < 1 || t->dims[2] % heads)
    return ox_fail(c, "%s must be 4-D [B, heads, S, d], or 3-D [B, S, heads·d] with its head count "
                   "(q_num_heads / kv_num_heads) dividing the last dim", what);
  int64_t dims[4] = {t->dims[0], t->dims[1], heads, t->dims[2] / heads}, perm[4] = {0, 2, 1, 3};
  int y = reshape_to(c, x, 4, dims);
  return y < 0 ? -1 : ox_op1(c, "transpose", y, (ox_kv[]){{"perm", ox_is(perm, 4)}, OX_END});
}

/* ONNX Attention (opset 23) as scaled_dot_product_attention: 4-D or 3-D (heads split and merged
 * by reshape + transpose) inputs; grouped-query attention (q heads a multiple of kv heads) by
 * viewing q as [B, kv heads, group, S, d] so that k and v broadcast over the group. */
static int m_attention(ox_ctx *c) {
  int64_t causal = ox_attr_int(c, "is_causal", 0);
  double softcap = ox_attr_float(c, "softcap", 0.0);
  int has_scale = ox_has_attr(c, "scale");
  double scale = ox_attr_float(c, "scale", 0.0);
  int64_t qh = ox_attr_int(c, "q_num_heads", 0), kvh = ox_attr_int(c, "kv_num_heads", 0);
  ox_attr_ignore(c, "softmax_precision"); /* mlg's softmax is float32 in any case */
  ox_attr_ignore(c, "qk_matmul_output_mode"); /* only shapes output 3, refused below */
  if (softcap != 0.0) return ox_fail(c, "softcap is not supported");
  if (ox_has_input(c, 4) || ox_has_input(c, 5) || ox_has_input(c, 6))
    return ox_fail(c, "past_key / past_value (a KV cache) and nonpad_kv_seqlen are not supported");
  for (int k = 1; k < 4; k++)
    if (ox_has_output(c, k))
      return ox_fail(c, "output %d (present_key, present_value, qk_matmul_output) is not supported", k);
  int q = ox_tensor_in(c, 0), k = ox_tensor_in(c, 1), v = ox_tensor_in(c, 2);
  if (q < 0 || k < 0 || v < 0) return -1;
  int q3 = ox_type(c, q)->rank == 3;
  int64_t b = ox_type(c, q)->dims[0], tq = ox_type(c, q)->dims[1];
  q = split_heads(c, q, qh, "Q");
  k = split_heads(c, k, kvh, "K");
  v = split_heads(c, v, kvh, "V");
  if (q < 0 || k < 0 || v < 0) return -1;
  const mlg_type *tq4 = ox_type(c, q), *tk4 = ox_type(c, k);
  int64_t heads = tq4->dims[1], kv = tk4->dims[1], d = tq4->dims[3];
  tq = tq4->dims[2];
  int in[4] = {q, k, v, -1}, n = 3;
  if (ox_has_input(c, 3)) {
    in[n++] = ox_tensor_in(c, 3);
    if (in[3] < 0) return -1;
  }
  int group = kv != heads && kv > 1;
  if (group) {
    if (heads % kv) return ox_fail(c, "%lld query heads are no multiple of %lld key/value heads",
                                   (long long)heads, (long long)kv);
    int64_t qd[5] = {b, kv, heads / kv, tq, d};
    in[0] = reshape_to(c, q, 5, qd);
    for (int i = 1; i < 3; i++) {
      const mlg_type *t = ox_type(c, in[i]);
      int64_t dims[5] = {t->dims[0], t->dims[1], 1, t->dims[2], t->dims[3]};
      in[i] = reshape_to(c, in[i], 5, dims);
    }
    if (n == 4) {
      /* The mask broadcasts to [B, heads, Tq, Tk]: a per-head mask cannot follow the regrouping. */
      const mlg_type *t = ox_type(c, in[3]);
      if (t->rank >= 3 && t->dims[t->rank - 3] != 1)
        return ox_fail(c, "grouped-query attention with a per-head attn_mask is not supported");
      if (t->rank == 4) {
        int64_t dims[5] = {t->dims[0], 1, 1, t->dims[2], t->dims[3]};
        in[3] = reshape_to(c, in[3], 5, dims);
      }
    }
    for (int i = 0; i < n; i++)
      if (in[i] < 0) return -1;
  }
  if (!has_scale) scale = 1.0 / sqrt((double)d);
  int y = ox_op(c, "scaled_dot_product_attention", in, n,
                (ox_kv[]){{"causal", ox_i(causal)}, {"scale", ox_f(scale)}, OX_END});
  if (y < 0) return -1;
  int64_t dv = ox_type(c, y)->dims[ox_type(c, y)->rank - 1];
  if (group) {
    int64_t dims[4] = {b, heads, tq, dv};
    y = reshape_to(c, y, 4, dims);
  }
  if (q3) {
    int64_t perm[4] = {0, 2, 1, 3}, dims[3] = {b, tq, heads * dv};
    y = y < 0 ? -1 : ox_op1(c, "transpose", y, (ox_kv[]){{"perm", ox_is(perm, 4)}, OX_END});
    y = reshape_to(c, y, 3, dims);
  }
  return out_node(c, y);
}

/* ---- quantization ---------------------------------------------------------------------------- */

/* mlg's quantized types are int8 and uint8; the others ONNX has (int4, int16, float8, ...) are
 * refused, naming the input. */
static int require_q8(ox_ctx *c, int dtype, const char *what) {
  if (dtype == OX_INT8 || dtype == OX_UINT8) return 0;
  return ox_fail(c, "%s is %s; mlg quantizes to int8 and uint8 only", what, ox_dtype_name(dtype));
}

/* The attributes of QuantizeLinear / DequantizeLinear that ask for more than per-tensor or
 * per-axis quantization. */
static int refuse_blocked(ox_ctx *c) {
  int64_t block = ox_attr_int(c, "block_size", 0);
  if (block != 0)
    return ox_fail(c, "block_size=%lld (blocked quantization) is not supported; mlg quantizes "
                   "per tensor or per axis", (long long)block);
  return 0;
}

/* Checks a scale or zero point (input i, named `what`): one value (a scalar or a 1-D tensor of
 * one) or, when channels > 0, one per channel (1-D of `channels`). Its rank (dims in dims), or
 * -1 with the reason set. */
static int qparam_check(ox_ctx *c, int i, const char *what, int64_t channels, int64_t *dims) {
  if (!ox_has_input(c, i)) return ox_fail(c, "%s (input %d) is missing", what, i);
  int rank = dims_in(c, i, dims);
  if (rank < 0) return -1;
  if (rank > 1)
    return ox_fail(c, "%s (input %d) must be a scalar or 1-D, not of rank %d (blocked "
                   "quantization is not supported)", what, i, rank);
  int64_t n = rank == 1 ? dims[0] : 1;
  if (n != 1 && (channels <= 0 || n != channels)) {
    if (channels > 0)
      return ox_fail(c, "%s (input %d) holds %lld values; it must hold 1 (per tensor) or %lld "
                     "(one per channel)", what, i, (long long)n, (long long)channels);
    return ox_fail(c, "%s (input %d) holds %lld values; it must hold one (per tensor)", what, i,
                   (long long)n);
  }
  return rank;
}

/* A scale or zero point as qparam_check takes it, as a graph node: one value as 0-d (per
 * tensor, also when there is one channel), a float16 scale cast to float32 (exactly); known at
 * import, a const (ox_known_const_in). */
static int qparam_in(ox_ctx *c, int i, const char *what, int64_t channels) {
  int64_t dims[MAXR];
  int rank = qparam_check(c, i, what, channels, dims);
  if (rank < 0) return -1;
  int one = rank == 0 || dims[0] == 1;
  int p = ox_known(c, i) ? ox_known_const_in(c, i, one ? 0 : rank, dims) : ox_tensor_in(c, i);
  if (p >= 0 && one && ox_type(c, p)->rank == 1) {
    int64_t ax = 0;
    p = ox_op1(c, "squeeze", p, (ox_kv[]){{"axes", ox_is(&ax, 1)}, OX_END});
  }
  if (p >= 0 && ox_type(c, p)->dtype == MLG_F16) {
    mlg_attr f32 = {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_F32}};
    p = ox_op1(c, "cast", p, (ox_kv[]){{"dtype", f32}, OX_END});
  }
  return p;
}

/* x (input 0) as float32 (float16 cast, exactly) for quantize_linear. */
static int float_in(ox_ctx *c, int i) {
  int x = ox_tensor_in(c, i);
  if (x < 0 || ox_type(c, x)->dtype != MLG_F16) return x;
  mlg_attr f32 = {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_F32}};
  return ox_op1(c, "cast", x, (ox_kv[]){{"dtype", f32}, OX_END});
}

/* The axis of a per-axis scale (input 1) for x of `rank`/`dims` (attribute `axis`, default 1)
 * in [0, rank), and its dim's size in *channels; 0 for a scale of one value (per tensor, where
 * ONNX ignores the axis); -1 with the reason set. */
static int quant_axis(ox_ctx *c, int rank, const int64_t *dims, int64_t *channels) {
  int64_t axis = ox_attr_int(c, "axis", 1), sdims[MAXR];
  int srank = dims_in(c, 1, sdims);
  if (srank < 0) return -1;
  *channels = 0;
  if (srank == 0 || (srank == 1 && sdims[0] == 1)) return 0;
  if (rank == 0) return ox_fail(c, "a per-axis scale needs x of rank 1 or more");
  int a = axis_of(c, axis, rank, "axis");
  if (a >= 0) *channels = dims[a];
  return a;
}

/* QuantizeLinear (10, 13, 19, 21-25): quantize_linear. The result type is the zero point's,
 * else output_dtype (21), else uint8 (ONNX's default). */
static int m_quantize_linear(ox_ctx *c) {
  if (refuse_blocked(c) != 0) return -1;
  if (!ox_has_input(c, 1)) return ox_fail(c, "y_scale (input 1) is missing");
  int zp_dtype = ox_has_input(c, 2) ? ox_dtype_in(c, 2) : 0;
  int64_t out_dtype = ox_attr_int(c, "output_dtype", 0);
  if (zp_dtype && out_dtype && out_dtype != zp_dtype)
    return ox_fail(c, "output_dtype (%s) disagrees with y_zero_point, which is %s",
                   ox_dtype_name((int)out_dtype), ox_dtype_name(zp_dtype));
  int q = zp_dtype ? zp_dtype : out_dtype ? (int)out_dtype : OX_UINT8;
  if (require_q8(c, q, zp_dtype ? "y_zero_point" : "the output") != 0) return -1;
  ox_attr_ignore(c, "saturate"); /* for float8 outputs; integers always saturate */
  int64_t precision = ox_attr_int(c, "precision", 0);
  int scale_dtype = ox_dtype_in(c, 1);
  if ((precision && precision != OX_FLOAT) || (!precision && scale_dtype == OX_FLOAT16))
    return ox_fail(c, "dividing by the scale in %s is not supported (mlg divides in float32; "
                   "give a float32 y_scale or precision=FLOAT)",
                   ox_dtype_name(precision ? (int)precision : scale_dtype));
  int x = float_in(c, 0);
  if (x < 0) return -1;
  int64_t channels;
  int axis = quant_axis(c, ox_type(c, x)->rank, ox_type(c, x)->dims, &channels);
  if (axis < 0) return -1;
  int in[3] = {x, qparam_in(c, 1, "y_scale", channels), -1};
  if (zp_dtype) in[2] = qparam_in(c, 2, "y_zero_point", channels);
  mlg_ir_dtype dt = q == OX_INT8 ? MLG_I8 : MLG_U8;
  ox_kv kv[3] = {{"axis", ox_i(axis)}, OX_END, OX_END};
  if (!zp_dtype) kv[1] = (ox_kv){"dtype", {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {dt}}};
  return out_node(c, ox_op(c, "quantize_linear", in, zp_dtype ? 3 : 2, kv));
}

/* (q - zp) * scale of known int32 q, scale and zp (a bias, as ONNX's quantizers store it) in
 * float32, as ONNX computes it: the f32 bias the QDQ pass requantizes. */
static const ox_tensor *fold_dequantize(ox_ctx *c, const ox_tensor *q, int axis) {
  const ox_tensor *s = ox_known(c, 1), *z = ox_has_input(c, 2) ? ox_known(c, 2) : NULL;
  int64_t inner = 1;
  for (int d = axis + 1; d < q->rank; d++) inner *= q->dims[d];
  int64_t channels = q->rank ? q->dims[axis] : 1;
  float *f;
  ox_tensor *t = ox_new_tensor(c, OX_FLOAT, q->rank, q->dims, &f, NULL);
  if (!t) return NULL;
  for (int64_t k = 0; k < q->numel; k++) {
    int64_t ch = s->numel == 1 ? 0 : (k / inner) % channels;
    int64_t zp = z ? ox_tensor_int(z, z->numel == 1 ? 0 : ch) : 0;
    f[k] = (float)(ox_tensor_int(q, k) - zp) * (float)ox_tensor_num(s, ch);
  }
  return t;
}

/* DequantizeLinear (10, 13, 19, 21-25): dequantize_linear of int8, uint8 or int32; known int32
 * values are folded at import. A float16 scale (or output_dtype float16) gives float16, the
 * float32 product rounded once (exactly ONNX's float16 product). */
static int m_dequantize_linear(ox_ctx *c) {
  if (refuse_blocked(c) != 0) return -1;
  if (!ox_has_input(c, 1)) return ox_fail(c, "x_scale (input 1) is missing");
  int q = ox_dtype_in(c, 0);
  if (q != OX_INT32 && require_q8(c, q, "x") != 0) return -1;
  if (ox_has_input(c, 2) && ox_dtype_in(c, 2) != q)
    return ox_fail(c, "x_zero_point is %s but x is %s; they must agree",
                   ox_dtype_name(ox_dtype_in(c, 2)), ox_dtype_name(q));
  int scale_dtype = ox_dtype_in(c, 1);
  int out = (int)ox_attr_int(c, "output_dtype", scale_dtype);
  if ((scale_dtype != OX_FLOAT && scale_dtype != OX_FLOAT16) ||
      (out != OX_FLOAT && out != OX_FLOAT16))
    return ox_fail(c, "dequantizing to %s with a %s scale is not supported (float32 and float16 "
                   "are)", ox_dtype_name(out), ox_dtype_name(scale_dtype));
  int64_t dims[MAXR], pdims[MAXR], channels;
  int rank = dims_in(c, 0, dims);
  int axis = rank < 0 ? -1 : quant_axis(c, rank, dims, &channels);
  if (axis < 0) return -1;
  if (q == OX_INT32 && out == OX_FLOAT && all_known(c, 0, 3)) {
    if (qparam_check(c, 1, "x_scale", channels, pdims) < 0 ||
        (ox_has_input(c, 2) && qparam_check(c, 2, "x_zero_point", channels, pdims) < 0))
      return -1;
    if (ox_has_input(c, 2) && ox_known(c, 2)->numel != ox_known(c, 1)->numel)
      return ox_fail(c, "x_zero_point and x_scale hold different numbers of values");
    return out_const(c, fold_dequantize(c, ox_known(c, 0), axis));
  }
  int in[3] = {ox_tensor_in(c, 0), qparam_in(c, 1, "x_scale", channels), -1};
  int n_in = 2;
  if (ox_has_input(c, 2)) in[n_in++] = qparam_in(c, 2, "x_zero_point", channels);
  int y = ox_op(c, "dequantize_linear", in, n_in, (ox_kv[]){{"axis", ox_i(axis)}, OX_END});
  if (y >= 0 && out == OX_FLOAT16) {
    mlg_attr f16 = {.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_F16}};
    y = ox_op1(c, "cast", y, (ox_kv[]){{"dtype", f16}, OX_END});
  }
  return out_node(c, y);
}

/* The ONNX name of input i (< 8) of QLinearConv (a = "x", b = "w") or QLinearMatMul ("a", "b"). */
static const char *qlinear_name(int i, const char *a, const char *b, char *buf, size_t size) {
  static const char *const suffix[] = {"", "_scale", "_zero_point"};
  snprintf(buf, size, "%s%s", i >= 6 ? "y" : i < 3 ? a : b, suffix[i >= 6 ? i - 5 : i % 3]);
  return buf;
}

/* The eight inputs ONNX requires, present; else the reason names the first missing one. */
static int qlinear_inputs(ox_ctx *c, const char *a, const char *b) {
  char name[32];
  for (int i = 0; i < 8; i++)
    if (!ox_has_input(c, i))
      return ox_fail(c, "%s (input %d) is missing; the first 8 inputs are required",
                     qlinear_name(i, a, b, name, sizeof name), i);
  return 0;
}

/* The three scale / zero point pairs (inputs 1-2, 4-5, 6-7) into in[1..2], in[4..5], in[6..7];
 * b's (w's) may hold one value per `channels`. A per-channel scale with a single zero point
 * (or the reverse) has the single one expanded. */
static int qlinear_params(ox_ctx *c, int *in, int64_t channels, const char *a, const char *b) {
  char name[32];
  for (int i = 1; i < 8; i++) {
    if (i == 3) continue;
    int64_t per = i == 4 || i == 5 ? channels : 0;
    in[i] = qparam_in(c, i, qlinear_name(i, a, b, name, sizeof name), per);
    if (in[i] < 0) return -1;
  }
  for (int i = 4; i <= 5; i++) {
    int other = in[i == 4 ? 5 : 4];
    if (ox_type(c, in[i])->rank == 0 && ox_type(c, other)->rank == 1)
      in[i] = ox_op1(c, "expand", in[i], (ox_kv[]){{"shape", ox_is(&channels, 1)}, OX_END});
    if (in[i] < 0) return -1;
  }
  return 0;
}

/* QLinearConv (10): qlinear_conv2d (1-D through unsqueeze/squeeze), with Conv's attributes. */
static int m_qlinear_conv(ox_ctx *c) {
  if (qlinear_inputs(c, "x", "w") != 0) return -1;
  window win;
  int in[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1}, n_in = 8;
  if (conv_operands(c, 0, 3, &in[0], &in[3], &win) < 0) return -1;
  if (qlinear_params(c, in, ox_type(c, in[3])->dims[0], "x", "w") != 0) return -1;
  if (ox_has_input(c, 8)) in[n_in++] = ox_tensor_in(c, 8);
  return out_node(c, conv_apply(c, "qlinear_conv2d", in, n_in, &win));
}

/* QLinearMatMul (10, 21): qlinear_matmul, 2-D or batched; b's scale and zero point per tensor
 * or per column. */
static int m_qlinear_matmul(ox_ctx *c) {
  if (qlinear_inputs(c, "a", "b") != 0) return -1;
  int a = ox_tensor_in(c, 0), b = ox_tensor_in(c, 3);
  if (a < 0 || b < 0) return -1;
  const mlg_type *bt = ox_type(c, b);
  if (bt->rank < 2) return ox_fail(c, "b must be at least 2-D (a 1-D b is not supported)");
  int in[8] = {a, -1, -1, b, -1, -1, -1, -1};
  if (qlinear_params(c, in, bt->dims[bt->rank - 1], "a", "b") != 0) return -1;
  return out_node(c, ox_op(c, "qlinear_matmul", in, 8, NULL));
}

static const ox_op_entry table[] = {
    {"Abs", m_abs, "abs"},
    {"Add", m_add, "add"},
    {"Attention", m_attention, "scaled_dot_product_attention (3-D inputs and grouped-query heads through reshape, transpose)"},
    {"AveragePool", m_average_pool, "avg_pool2d (1-D through unsqueeze/squeeze)"},
    {"And", m_and, "logical_and"},
    {"ArgMax", m_arg_max, "argmax (of x reversed with slice for select_last_index=1), cast to int64"},
    {"ArgMin", m_arg_min, "argmin (of x reversed with slice for select_last_index=1), cast to int64"},
    {"BatchNormalization", m_batch_norm, "batch_norm"},
    {"Cast", m_cast, "cast (folded when known at import)"},
    {"CastLike", m_cast_like, "cast, as Cast"},
    {"Ceil", m_ceil, "ceil"},
    {"Celu", m_celu, "relu, exp, minimum, mul, add"},
    {"Clip", m_clip, "clamp, or maximum/minimum for one bound"},
    {"Concat", m_concat, "concat"},
    {"Constant", m_constant, "a const"},
    {"ConstantOfShape", m_constant_of_shape, "a const"},
    {"Conv", m_conv, "conv2d (1-D through unsqueeze/squeeze)"},
    {"ConvTranspose", m_conv_transpose, "conv_transpose2d (1-D through unsqueeze/squeeze)"},
    {"Cos", m_cos, "cos"},
    {"CumSum", m_cumsum, "cumsum (the axis known at import)"},
    {"DepthToSpace", m_depth_to_space, "reshape, transpose, reshape"},
    {"DequantizeLinear", m_dequantize_linear, "dequantize_linear (an int32 bias known at import: folded)"},
    {"Div", m_div, "div"},
    {"Dropout", m_dropout, "the identity (inference)"},
    {"Elu", m_elu, "relu, minimum, exp, mul, add"},
    {"Equal", m_equal, "equal"},
    {"Erf", m_erf, "erf"},
    {"Exp", m_exp, "exp"},
    {"EyeLike", m_eye_like, "a const"},
    {"Expand", m_expand, "expand (the shape known at import)"},
    {"Flatten", m_flatten, "flatten"},
    {"Floor", m_floor, "floor"},
    {"Gather", m_gather, "gather (indices known at import)"},
    {"Gelu", m_gelu, "gelu (approximate none or tanh)"},
    {"Gemm", m_gemm, "linear, or matmul with transposes, mul, add"},
    {"GlobalAveragePool", m_global_average_pool, "global_avg_pool2d, or mean"},
    {"GlobalMaxPool", m_global_max_pool, "max over the spatial axes"},
    {"Greater", m_greater, "greater"},
    {"GreaterOrEqual", m_greater_equal, "greater_equal"},
    {"GroupNormalization", m_group_norm, "group_norm (opset 21); opset 18's per-group scale: reshape, mean, sub, mul, rsqrt, add"},
    {"HardSigmoid", m_hard_sigmoid, "mul, add, clamp"},
    {"HardSwish", m_hard_swish, "mul, add, clamp"},
    {"Identity", m_identity, "nothing"},
    {"InstanceNormalization", m_instance_norm, "mean, sub, mul, rsqrt, add"},
    {"LayerNormalization", m_layer_norm, "layer_norm"},
    {"LeakyRelu", m_leaky_relu, "leaky_relu"},
    {"Less", m_less, "less"},
    {"LessOrEqual", m_less_equal, "less_equal"},
    {"Log", m_log, "log"},
    {"LogSoftmax", m_log_softmax, "log_softmax"},
    {"LpNormalization", m_lp_norm, "sum, sqrt or abs, div"},
    {"MatMul", m_matmul, "matmul"},
    {"Max", m_max, "maximum"},
    {"MaxPool", m_max_pool, "max_pool2d (1-D through unsqueeze/squeeze)"},
    {"Mean", m_mean, "add, div"},
    {"MeanVarianceNormalization", m_mvn, "mean, sub, mul, sqrt, div"},
    {"Min", m_min, "minimum"},
    {"Mish", m_mish, "softplus as relu, abs, exp, log; tanh, mul"},
    {"Mod", m_mod, "fmod (fmod=1)"},
    {"Mul", m_mul, "mul"},
    {"Neg", m_neg, "neg"},
    {"Not", m_not, "logical_not"},
    {"Or", m_or, "logical_or"},
    {"PRelu", m_prelu, "relu, minimum, mul, add"},
    {"Pad", m_pad, "pad (constant, reflect, edge; the pads known at import)"},
    {"Pow", m_pow, "pow"},
    {"QLinearConv", m_qlinear_conv, "qlinear_conv2d (1-D through unsqueeze/squeeze)"},
    {"QLinearMatMul", m_qlinear_matmul, "qlinear_matmul"},
    {"QuantizeLinear", m_quantize_linear, "quantize_linear"},
    {"Range", m_range, "folded at import"},
    {"Reciprocal", m_reciprocal, "reciprocal"},
    {"ReduceL1", m_reduce_l1, "abs, sum"},
    {"ReduceL2", m_reduce_l2, "mul, sum, sqrt"},
    {"ReduceLogSum", m_reduce_log_sum, "sum, log"},
    {"ReduceLogSumExp", m_reduce_log_sum_exp, "max, sub, exp, sum, log, add"},
    {"ReduceMax", m_reduce_max, "max"},
    {"ReduceMean", m_reduce_mean, "mean"},
    {"ReduceMin", m_reduce_min, "min"},
    {"ReduceProd", m_reduce_prod, "prod"},
    {"ReduceSum", m_reduce_sum, "sum"},
    {"ReduceSumSquare", m_reduce_sum_square, "mul, sum"},
    {"Relu", m_relu, "relu"},
    {"RMSNormalization", m_rms_norm, "rms_norm (and mul for a scale that broadcasts)"},
    {"Reshape", m_reshape, "reshape (the target known at import)"},
    {"Resize", m_resize, "resize (NCHW; nearest asymmetric/floor, linear half_pixel or align_corners)"},
    {"Round", m_round, "round"},
    {"Selu", m_selu, "relu, minimum, exp, mul, add"},
    {"Shape", m_shape, "folded at import"},
    {"Shrink", m_shrink, "greater, less, sub, add, where"},
    {"Sigmoid", m_sigmoid, "sigmoid"},
    {"Sign", m_sign, "sign"},
    {"Sin", m_sin, "sin"},
    {"Size", m_size, "folded at import"},
    {"Slice", m_slice, "slice (bounds known at import)"},
    {"Softmax", m_softmax, "softmax (before opset 13: over a 2-D reshape)"},
    {"Softplus", m_softplus, "relu, abs, neg, exp, add, log"},
    {"Softsign", m_softsign, "abs, add, div"},
    {"SpaceToDepth", m_space_to_depth, "reshape, transpose, reshape"},
    {"Split", m_split, "slice per output"},
    {"Sqrt", m_sqrt, "sqrt"},
    {"Squeeze", m_squeeze, "squeeze"},
    {"Sub", m_sub, "sub"},
    {"Sum", m_sum, "add"},
    {"Swish", m_swish, "sigmoid, mul"},
    {"Tan", m_tan, "tan"},
    {"Tanh", m_tanh, "tanh"},
    {"ThresholdedRelu", m_thresholded_relu, "greater, where"},
    {"Tile", m_tile, "concat of copies"},
    {"Transpose", m_transpose, "transpose"},
    {"Unsqueeze", m_unsqueeze, "unsqueeze"},
    {"Where", m_where, "where"},
    {"Xor", m_xor, "logical_xor"},
};

const ox_op_entry *ox_find_op(const char *onnx_op) {
  for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
    if (strcmp(table[k].onnx_op, onnx_op) == 0) return &table[k];
  return NULL;
}

int ox_op_table_size(void) { return (int)(sizeof table / sizeof table[0]); }
const ox_op_entry *ox_op_table_at(int i) {
  return i >= 0 && i < ox_op_table_size() ? &table[i] : NULL;
}

/* Opset 10: the quantization ops, and the ops around them in models quantized then (by
 * onnxruntime), whose opset-10 versions mean what their mappings read (later versions only
 * added types, negative axes or attributes whose defaults keep the old meaning). */
int ox_op_since(const char *onnx_op) {
  static const char *const opset10[] = {
      "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QuantizeLinear", "Add", "Sub", "Mul",
      "Div", "Relu", "Sigmoid", "Tanh", "MatMul", "Reshape", "Flatten", "Transpose", "Identity"};
  for (size_t k = 0; k < sizeof opset10 / sizeof opset10[0]; k++)
    if (strcmp(opset10[k], onnx_op) == 0) return 10;
  return MLG_ONNX_MIN_OPSET;
}

/* ONNX ops without an entry, and the mlg op or type each waits for. */
static const struct {
  const char *ops;
  const char *reason;
} missing[] = {
    {" Asin Acos Atan Sinh Cosh Asinh Acosh Atanh IsNaN IsInf "
     "BitShift BitwiseAnd BitwiseOr BitwiseXor BitwiseNot ",
     "needs an mlg elementwise op or type that does not exist yet (issue 11)"},
    {" Upsample TopK Einsum Trilu OneHot ",
     "needs an mlg op that does not exist yet (issue 11)"},
    {" RotaryEmbedding AffineGrid GridSample DeformConv Col2Im CenterCropPad Det DFT STFT "
     "BlackmanWindow HammingWindow HannWindow MelWeightMatrix NonMaxSuppression "
     "NegativeLogLikelihoodLoss SoftmaxCrossEntropyLoss TensorScatter ImageDecoder ",
     "needs an mlg op that does not exist (not planned yet)"},
    {" Hardmax LRN LpPool MaxUnpool MaxRoiPool RoiAlign ReverseSequence ",
     "needs an mlg op that does not exist yet"},
    {" GatherElements GatherND ScatterND ScatterElements Scatter Compress NonZero Unique ",
     "needs data-dependent indexing, which mlg does not have"},
    {" If Loop Scan ", "control flow is not supported (mlg graphs are static)"},
    {" RNN LSTM GRU ", "recurrent ops are not supported"},
    {" DynamicQuantizeLinear ConvInteger MatMulInteger ",
     "needs integer arithmetic with i32 results, which mlg's quantized ops do not give "
     "(QLinearConv, QLinearMatMul and QDQ graphs are imported)"},
    {" SequenceAt SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength "
     "SplitToSequence ConcatFromSequence StringNormalizer TfIdfVectorizer RegexFullMatch "
     "StringConcat StringSplit Optional OptionalGetElement OptionalHasElement ",
     "sequences, strings and optionals are not supported"},
    {" RandomNormal RandomNormalLike RandomUniform RandomUniformLike Multinomial Bernoulli ",
     "random number generation is not supported"},
};

const char *ox_missing_reason(const char *onnx_op) {
  char key[80];
  if (strlen(onnx_op) > 70) return NULL;
  snprintf(key, sizeof key, " %s ", onnx_op);
  for (size_t k = 0; k < sizeof missing / sizeof missing[0]; k++)
    if (strstr(missing[k].ops, key)) return missing[k].reason;
  return NULL;
}

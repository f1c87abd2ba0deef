/* batch_norm.c — inference batch normalization over dim 1 (channels), as
 * torch.nn.functional.batch_norm(training=False) / ONNX BatchNormalization:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, each of weight, bias, mean, var [C]. */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/rowwise.h"

enum { A_EPS };

static int batch_norm_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  static const char *const names[] = { "x", "weight", "bias", "mean", "var" };
  if (mlg_require_f32(in, n_in, err)) return -1;
  char s[128];
  if (in[0].rank < 2) {
    mlg_shape_errorf(err, 0, -1, "input must have rank >= 2 ([N, C, ...]), got %s",
                     mlg_type_format(&in[0], s, sizeof s));
    return -1;
  }
  int64_t c = in[0].dims[1];
  for (int i = 1; i < 5; i++) {
    if (in[i].rank != 1 || in[i].dims[0] != c) {
      mlg_shape_errorf(err, i, -1, "%s must be f32[%lld] (the channel count), got %s", names[i],
                       (long long)c, mlg_type_format(&in[i], s, sizeof s));
      return -1;
    }
  }
  if (!(attrs[A_EPS].f >= 0)) {
    mlg_shape_errorf(err, -1, A_EPS, "'eps' must be >= 0");
    return -1;
  }
  *out = in[0];
  return 0;
}

static int batch_norm_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  kt_batch_norm_desc d = {.n = x->dims[0], .c = x->dims[1], .hw = 1, .has_weight = 1,
                          .has_bias = 1, .eps = mlg_attr_float(n, A_EPS)};
  for (int i = 2; i < x->rank; i++) d.hw *= x->dims[i];
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_batch_norm(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 5);
}

/* Per element: (x - mean) · rsqrt(var + eps) · weight + bias (4). */
static void batch_norm_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = 4 * mlg_type_numel(&g->nodes[node].type);
}

/* Inputs x, weight, bias, mean, var: exactly the channel norm optimize.h folds. */
static int batch_norm_channel_norm(const mlg_node *n, mlg_channel_norm *out) {
  if (n->n_inputs != 5 || mlg_attr_at(n, A_EPS)->kind != MLG_ATTR_FLOAT) return -1;
  *out = (mlg_channel_norm){.scale = 1, .shift = 2, .mean = 3, .var = 4,
                            .eps = mlg_attr_float(n, A_EPS)};
  return 0;
}

/* The gradient of the inference form, with s = weight · rstd, rstd = 1 / sqrt(var + eps), and
 * sums over every dim but the channels: dx = dy s; dweight = sum(dy (x - mean)) rstd;
 * dbias = sum(dy); dmean = -sum(dy) s; dvar = -sum(dy (x - mean)) weight rstd³ / 2. */
static int batch_norm_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx) {
  (void)node;
  const mlg_type x_copy = mlg_build_type(ob, n->inputs[0]), *x = &x_copy;
  int rank = x->rank;
  int64_t axes[MLG_MAX_RANK], chan[MLG_MAX_RANK];
  int n_axes = 0;
  for (int d = 0; d < rank; d++) {
    chan[d] = d == 1 ? x->dims[1] : 1;
    if (d != 1) axes[n_axes++] = d;
  }
  /* A [C] vector as [C, 1, ...]: it broadcasts against x along dim 1. */
#define PER_CHANNEL(v) mlg_b_reshape(ob, (v), rank - 1, chan + 1)
  int w = n->inputs[1], mean = n->inputs[3], var = n->inputs[4];
  int rstd = mlg_b1(ob, &mlg_op_rsqrt, mlg_b2(ob, &mlg_op_add, var,
                                                mlg_build_scalar(ob, mlg_attr_float(n, A_EPS))));
  int s = mlg_b2(ob, &mlg_op_mul, w, rstd);
  if (needs[0]) dx[0] = mlg_b2(ob, &mlg_op_mul, dy, PER_CHANNEL(s));
  int sum_dy = needs[2] || needs[3] ? mlg_b_reduce(ob, &mlg_op_sum, dy, n_axes, axes, 0) : -1;
  int sum_dyxc = -1;
  if (needs[1] || needs[4]) {
    int xc = mlg_b2(ob, &mlg_op_sub, n->inputs[0], PER_CHANNEL(mean));
    sum_dyxc = mlg_b_reduce(ob, &mlg_op_sum, mlg_b2(ob, &mlg_op_mul, dy, xc), n_axes, axes, 0);
  }
  if (needs[1]) dx[1] = mlg_b2(ob, &mlg_op_mul, sum_dyxc, rstd);
  if (needs[2]) dx[2] = sum_dy;
  if (needs[3]) dx[3] = mlg_b1(ob, &mlg_op_neg, mlg_b2(ob, &mlg_op_mul, sum_dy, s));
  if (needs[4]) {
    int r3 = mlg_b2(ob, &mlg_op_mul, mlg_b2(ob, &mlg_op_mul, rstd, rstd), rstd);
    dx[4] = mlg_b2(ob, &mlg_op_mul, mlg_b_scale(ob, sum_dyxc, -0.5), mlg_b2(ob, &mlg_op_mul, w, r3));
  }
#undef PER_CHANNEL
  return ob->failed ? -1 : 0;
}

const mlg_op_def mlg_op_batch_norm = {
  .name = "batch_norm",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 5,
  .max_inputs = 5,
  .n_attrs = 1,
  .attrs = {
    { .name = "eps", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(1e-5) },
  },
  .infer = batch_norm_infer,
  .lower = batch_norm_lower,
  .cost = batch_norm_cost,
  .vjp = batch_norm_vjp,
  .algebra = { .channel_norm = batch_norm_channel_norm },
  .input_names = "x, weight, bias, mean, var",
  .shape_doc = "as x",
  .doc = "(x - mean) / sqrt(var + eps) * weight + bias over channels (inference)",
};

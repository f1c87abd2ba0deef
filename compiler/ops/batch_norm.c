/* batch_norm.c — inference batch normalization over dim 1 (channels), as
 * torch.nn.functional.batch_norm(training=False) / ONNX BatchNormalization:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, each of weight, bias, mean, var [C]. */
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
  .algebra = { .channel_norm = batch_norm_channel_norm },
  .input_names = "x, weight, bias, mean, var",
  .shape_doc = "as x",
  .doc = "(x - mean) / sqrt(var + eps) * weight + bias over channels (inference)",
};

/* softmax.c — softmax and log_softmax along one axis (default -1), as torch.softmax /
 * ONNX Softmax (opset 13). Normalized: axis in [0, rank). */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/rowwise.h"

enum { A_AXIS };

static int softmax_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_normalize_axis_attr(attrs, A_AXIS, &in[0], err) < 0) return -1;
  *out = in[0];
  return 0;
}

/* x as [outer, axis_len, inner] around the (normalized) axis; the variant is 1 for the log. */
static int softmax_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int axis = (int)mlg_attr_int(n, A_AXIS);
  kt_softmax_desc d = {.log = n->op->variant, .subgroups = ctx->subgroups,
                       .cpu_vec = mlg_lower_cpu_vectors(ctx) ? 16 : 0};
  mlg_split_axis(x, axis, &d.outer, &d.axis_len, &d.inner);
  kt_prologue pro = mlg_lower_prologue(ctx, node);
  kt_epilogue epi = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_softmax_fused(ctx->out->module, kb.name, &d, pro, epi, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, pro.fn ? 0 : 1);
}

/* MLG_SOFTMAX_FLOPS per element; log_softmax's shift by the log-sum counts one more. */
static void softmax_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  out->flops = (MLG_SOFTMAX_FLOPS + n->op->variant) * mlg_type_numel(&n->type);
}

int mlg_b_softmax_grad(mlg_op_builder *ob, int y, int dy, int64_t axis) {
  int s = mlg_b_reduce(ob, &mlg_op_sum, mlg_b2(ob, &mlg_op_mul, dy, y), 1, &axis, 1);
  return mlg_b2(ob, &mlg_op_mul, y, mlg_b2(ob, &mlg_op_sub, dy, s));
}

static int softmax_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                       int *dx) {
  if (!needs[0]) return 0;
  dx[0] = mlg_b_softmax_grad(ob, node, dy, mlg_attr_int(n, A_AXIS));
  return ob->failed ? -1 : 0;
}

/* dx = dy - exp(y) sum(dy) along the axis. */
static int log_softmax_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                           const char *needs, int *dx) {
  if (!needs[0]) return 0;
  int64_t axis = mlg_attr_int(n, A_AXIS);
  int s = mlg_b_reduce(ob, &mlg_op_sum, dy, 1, &axis, 1);
  dx[0] = mlg_b2(ob, &mlg_op_sub, dy, mlg_b2(ob, &mlg_op_mul, mlg_b1(ob, &mlg_op_exp, node), s));
  return ob->failed ? -1 : 0;
}

const mlg_op_def mlg_op_softmax = {
  .name = "softmax",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = softmax_infer,
  .lower = softmax_lower,
  .cost = softmax_cost,
  .vjp = softmax_vjp,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "exp(x - max) / sum(exp(x - max)) along axis",
};

const mlg_op_def mlg_op_log_softmax = {
  .name = "log_softmax",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = softmax_infer,
  .lower = softmax_lower,
  .cost = softmax_cost,
  .variant = 1,
  .vjp = log_softmax_vjp,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "x - max - log(sum(exp(x - max))) along axis",
};

/* cumsum.c — cumsum(x, axis=A, exclusive=0, reverse=0): running sums along one axis, as ONNX
 * CumSum (its attributes; the axis, an input there, is an attribute here) and torch.cumsum.
 * Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/cumsum.h"

enum { A_AXIS, A_EXCLUSIVE, A_REVERSE };

static int cumsum_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_normalize_axis_attr(attrs, A_AXIS, &in[0], err) < 0) return -1;
  if (mlg_require_bool(&attrs[A_EXCLUSIVE], A_EXCLUSIVE, "exclusive", err) ||
      mlg_require_bool(&attrs[A_REVERSE], A_REVERSE, "reverse", err))
    return -1;
  *out = in[0];
  return 0;
}

static int cumsum_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int axis = (int)mlg_attr_int(n, A_AXIS);
  kt_cumsum_desc d = {.exclusive = (int)mlg_attr_int(n, A_EXCLUSIVE),
                      .reverse = (int)mlg_attr_int(n, A_REVERSE),
                      .prologue = mlg_lower_prologue(ctx, node),
                      .epilogue = mlg_lower_epilogue(ctx, node)};
  mlg_split_axis(x, axis, &d.outer, &d.len, &d.inner);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_cumsum(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, d.prologue.fn ? 0 : 1);
}

/* One addition per element. */
static void cumsum_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = mlg_type_numel(&g->nodes[node].type);
}

const mlg_op_def mlg_op_cumsum = {
  .name = "cumsum",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 3,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .required = 1 },
    { .name = "exclusive", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
    { .name = "reverse", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
  },
  .infer = cumsum_infer,
  .lower = cumsum_lower,
  .cost = cumsum_cost,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },
  .input_names = "x",
  .shape_doc = "as x",
  .doc = "running sums along axis, from either end, with or without each element (ONNX CumSum)",
};

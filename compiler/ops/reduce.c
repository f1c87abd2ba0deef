/* reduce.c — reductions over axes (ONNX ReduceSum/Mean/Max/Min/Prod;
 * torch.sum/mean/amax/amin/prod): sum, mean, max, min, prod (x, axes=[...], keepdims=0). No axes (or an empty list) reduces every
 * axis. Normalized: axes sorted, non-negative, unique, and filled in when absent. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/reduce.h"

enum { A_AXES, A_KEEPDIMS };

static int reduce_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  const mlg_type *x = &in[0];
  mlg_attr *axes = &attrs[A_AXES];
  if (mlg_require_bool(&attrs[A_KEEPDIMS], A_KEEPDIMS, "keepdims", err)) return -1;
  if (axes->kind == MLG_ATTR_NONE || axes->n == 0) {
    axes->kind = MLG_ATTR_INTS;
    axes->n = x->rank;
    for (int i = 0; i < x->rank; i++) axes->ints[i] = i;
  }
  if (mlg_normalize_axes(axes, A_AXES, x->rank, err)) return -1;
  int keep = (int)attrs[A_KEEPDIMS].ints[0];
  mlg_type t = { .dtype = x->dtype, .rank = 0 };
  for (int i = 0, j = 0; i < x->rank; i++) {
    int reduced = j < axes->n && axes->ints[j] == i;
    if (reduced) j++;
    if (!reduced) t.dims[t.rank++] = x->dims[i];
    else if (keep) t.dims[t.rank++] = 1;
  }
  *out = t;
  return 0;
}

static int reduce_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_attr *axes = mlg_attr_at(n, A_AXES);
  kt_reduce_desc d = {.rank = x->rank, .op = n->op->variant,
                      .keepdims = (int)mlg_attr_int(n, A_KEEPDIMS), .subgroups = ctx->subgroups};
  for (int i = 0; i < x->rank; i++) d.shape[i] = x->dims[i];
  for (int j = 0; j < axes->n; j++) d.reduce[axes->ints[j]] = 1;
  d.prologue = mlg_lower_prologue(ctx, node);
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_reduce(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  /* A prologue computes x in the kernel's loads: then x is no buffer of it. */
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, d.prologue.fn ? 0 : 1);
}

/* The reductions differ only in name, formula (the variant, a kt_reduce_op) and doc. */
#define REDUCE_OP(op, formula, summary)                                                     \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_REDUCTION,                                                               \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .n_attrs = 2,                                                                           \
    .attrs = {                                                                              \
      { .name = "axes", .kind = MLG_ATTR_INTS },                                            \
      { .name = "keepdims", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },            \
    },                                                                                      \
    .infer = reduce_infer,                                                                  \
    .lower = reduce_lower,                                                                  \
    .cost = mlg_cost_per_input_element,                                                     \
    .variant = formula,                                                                     \
    .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },                               \
    .input_names = "x",                                                                     \
    .shape_doc = "x without the reduced dims (kept as 1 with keepdims=1)",                  \
    .doc = summary,                                                                         \
  };
REDUCE_OP(sum, KT_RED_SUM, "sum over axes (default: all)")
REDUCE_OP(mean, KT_RED_MEAN, "arithmetic mean over axes (default: all)")
REDUCE_OP(max, KT_RED_MAX, "maximum over axes (default: all)")
REDUCE_OP(min, KT_RED_MIN, "minimum over axes (default: all)")
REDUCE_OP(prod, KT_RED_PROD, "product over axes (default: all)")

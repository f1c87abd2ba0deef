/* argmax.c — argmax, argmin (x, axis=-1, keepdims=0) → i32: the index along `axis` of the
 * first largest (smallest) element, a NaN counting as beyond every number (the first NaN's
 * index), as torch.argmax/argmin and ONNX ArgMax/ArgMin (select_last_index=0). x is any number
 * (bool is not ordered for this); the result drops the axis, or keeps it as 1 with keepdims=1.
 * Normalized: axis in [0, rank). */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/argreduce.h"

enum { A_AXIS, A_KEEPDIMS };

static int arg_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                     mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  char s[128];
  if (mlg_require_numeric(in, n_in, err)) return -1;
  if (mlg_require_bool(&attrs[A_KEEPDIMS], A_KEEPDIMS, "keepdims", err)) return -1;
  if (x->rank < 1) {
    mlg_shape_errorf(err, 0, -1, "input 0 must have at least one dimension, got %s",
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  int axis = mlg_normalize_axis_attr(attrs, A_AXIS, x, err);
  if (axis < 0) return -1;
  mlg_type t = { .dtype = MLG_I32, .rank = 0 };
  for (int i = 0; i < x->rank; i++) {
    if (i != axis) t.dims[t.rank++] = x->dims[i];
    else if (attrs[A_KEEPDIMS].ints[0]) t.dims[t.rank++] = 1;
  }
  *out = t;
  return 0;
}

static int arg_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  kt_argreduce_desc d = {.rank = x->rank, .axis = (int)mlg_attr_int(n, A_AXIS),
                         .find_max = n->op->variant, .dtype = mlg_kir_scalar(x->dtype)};
  for (int i = 0; i < x->rank; i++) d.shape[i] = x->dims[i];
  d.prologue = mlg_lower_prologue(ctx, node);
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_argreduce(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  /* A prologue computes x in the kernel's loads: then x is no buffer of it. */
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, d.prologue.fn ? 0 : 1);
}

#define ARG_OP(op, find_max, summary)                                                       \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_REDUCTION,                                                               \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .n_attrs = 2,                                                                           \
    .attrs = {                                                                              \
      { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },               \
      { .name = "keepdims", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },            \
    },                                                                                      \
    .infer = arg_infer,                                                                     \
    .lower = arg_lower,                                                                     \
    .cost = mlg_cost_per_input_element, /* one comparison each */                           \
    .variant = find_max,                                                                    \
    .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },                               \
    .input_names = "x",                                                                     \
    .shape_doc = "x without dim axis (kept as 1 with keepdims=1), i32",                     \
    .doc = summary,                                                                         \
  };
ARG_OP(argmax, 1, "index of the first largest element along axis (a NaN counts as largest)")
ARG_OP(argmin, 0, "index of the first smallest element along axis (a NaN counts as smallest)")

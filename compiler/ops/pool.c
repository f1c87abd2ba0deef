/* pool.c — 2-D pooling, NCHW: max_pool2d and avg_pool2d (sliding windows, as
 * torch.nn.functional.max_pool2d / avg_pool2d with ceil_mode=False) and global_avg_pool2d.
 * Normalized attributes: kernel [kh, kw], stride [sh, sw] (default: the kernel),
 * padding [top, left, bottom, right]. avg_pool2d counts padded zeros in the average
 * (PyTorch's default count_include_pad=True): every window divides by kh * kw. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/pool.h"

enum { A_KERNEL, A_STRIDE, A_PADDING };

static int pool_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                      mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  if (mlg_expand_ints(&attrs[A_KERNEL], A_KERNEL, "kernel", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (attrs[A_STRIDE].kind == MLG_ATTR_NONE) attrs[A_STRIDE] = attrs[A_KERNEL];
  if (mlg_expand_ints(&attrs[A_STRIDE], A_STRIDE, "stride", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_padding(&attrs[A_PADDING], A_PADDING, err)) return -1;
  const int64_t *k = attrs[A_KERNEL].ints, *st = attrs[A_STRIDE].ints,
                *pd = attrs[A_PADDING].ints;
  /* As PyTorch: padding may be at most half the window, so no window lies in padding only. */
  for (int i = 0; i < 4; i++) {
    if (pd[i] > k[i % 2] / 2) {
      mlg_shape_errorf(err, -1, A_PADDING,
                       "padding (%lld) must be at most half the kernel size (%lld)",
                       (long long)pd[i], (long long)k[i % 2]);
      return -1;
    }
  }
  const mlg_type *x = &in[0];
  int64_t oh = mlg_conv_out_size(x->dims[2], pd[0], pd[2], k[0], st[0], 1);
  int64_t ow = mlg_conv_out_size(x->dims[3], pd[1], pd[3], k[1], st[1], 1);
  if (oh < 1 || ow < 1) {
    mlg_shape_errorf(err, -1, A_KERNEL, "the %lldx%lld window does not fit the padded %lldx%lld input",
                     (long long)k[0], (long long)k[1], (long long)(x->dims[2] + pd[0] + pd[2]),
                     (long long)(x->dims[3] + pd[1] + pd[3]));
    return -1;
  }
  *out = (mlg_type){ .dtype = MLG_F32, .rank = 4, .dims = { x->dims[0], x->dims[1], oh, ow } };
  return 0;
}

/* The op's variant is the kt_pool_kind. */
static int pool2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const int64_t *k = mlg_attr_at(n, A_KERNEL)->ints, *st = mlg_attr_at(n, A_STRIDE)->ints,
                *pd = mlg_attr_at(n, A_PADDING)->ints;
  kt_pool2d_desc d = {
      .kind = n->op->variant,
      .n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
      .kh = k[0], .kw = k[1], .stride_h = st[0], .stride_w = st[1],
      .pad_top = pd[0], .pad_left = pd[1], .pad_bottom = pd[2], .pad_right = pd[3],
  };
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_pool2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

static int global_avg_pool2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  kt_global_pool_desc d = {.n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
                           .subgroups = ctx->subgroups};
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_global_avg_pool2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* One comparison or addition per window tap. */
static void pool2d_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const int64_t *k = mlg_attr_at(n, A_KERNEL)->ints;
  out->flops = mlg_type_numel(&n->type) * k[0] * k[1];
}

/* One addition per input element. */
static void global_pool_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = mlg_type_numel(&g->nodes[g->nodes[node].inputs[0]].type);
}

/* max_pool2d and avg_pool2d share attributes, shape rule and lowering (the variant picks the
 * kind). */
#define WINDOW_POOL_OP(op, pool_kind, summary)                                              \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_POOL,                                                                    \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .n_attrs = 3,                                                                           \
    .attrs = {                                                                              \
      { .name = "kernel", .kind = MLG_ATTR_INTS, .required = 1 },                           \
      { .name = "stride", .kind = MLG_ATTR_INTS },                                          \
      { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },          \
    },                                                                                      \
    .infer = pool_infer,                                                                    \
    .lower = pool2d_lower,                                                                  \
    .cost = pool2d_cost,                                                                    \
    .variant = pool_kind,                                                                   \
    .input_names = "x",                                                                     \
    .shape_doc = "[N, C, H, W] → [N, C, H′, W′]",                                           \
    .doc = summary,                                                                         \
  };
WINDOW_POOL_OP(max_pool2d, KT_POOL_MAX, "max over each kernel window, NCHW (torch.nn.functional.max_pool2d)")
WINDOW_POOL_OP(avg_pool2d, KT_POOL_AVG,
               "mean over each kernel window, padding counted (torch avg_pool2d, count_include_pad=True)")

static int global_pool_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                             mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  *out = in[0];
  out->dims[2] = out->dims[3] = 1;
  return 0;
}

const mlg_op_def mlg_op_global_avg_pool2d = {
  .name = "global_avg_pool2d",
  .cls = MLG_OPC_POOL,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = global_pool_infer,
  .lower = global_avg_pool2d_lower,
  .cost = global_pool_cost,
  .input_names = "x",
  .shape_doc = "[N, C, H, W] → [N, C, 1, 1]",
  .doc = "mean over H and W, keeping them as 1 (ONNX GlobalAveragePool)",
};

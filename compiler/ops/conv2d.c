/* conv2d.c — 2-D convolution, NCHW, as torch.nn.functional.conv2d / ONNX Conv.
 * x [N, C, H, W], weight [O, C / groups, kh, kw], bias [O].
 * Normalized attributes: stride [sh, sw], padding [top, left, bottom, right],
 * dilation [dh, dw], groups. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/conv2d.h"
#include "templates/matmul.h"
#include "templates/matmul_cpu.h"

enum { A_STRIDE, A_PADDING, A_DILATION, A_GROUPS };

static int conv2d_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  if (mlg_require_rank(&in[1], 1, 4, "[out_channels, in_channels / groups, kh, kw]", err))
    return -1;
  if (mlg_conv2d_shape(&in[0], &in[1], 1, attrs, out, err)) return -1;
  int64_t o = in[1].dims[0];
  char s[128];
  if (n_in == 3 && (in[2].rank != 1 || in[2].dims[0] != o)) {
    mlg_shape_errorf(err, 2, -1, "bias must be f32[%lld], got %s", (long long)o,
                     mlg_type_format(&in[2], s, sizeof s));
    return -1;
  }
  return 0;
}

/* Tuned for a device class: the convolution as one GEMM of the weight [c_out, K] with the im2col
 * matrix of every image, gathered from x as the GEMM loads its tiles (x itself for a 1×1
 * stride-1 unpadded convolution), so it runs on the device's GEMM kernel (conv2d.h). */
static int conv2d_lower_gemm(mlg_lower_ctx *ctx, int node, const kt_matmul_desc *md) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kt_matmul_desc d = *md;
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = mlg_lower_matmul_kernel(ctx, kb.name, &d, &kb.kernel, kb.groups);
  /* The matmul template's buffers: a (w), b (x), bias, then c (y). */
  int inputs[3] = {n->inputs[1], n->inputs[0], n->n_inputs == 3 ? n->inputs[2] : -1};
  return mlg_lower_finish(ctx, node, &kb, rc, inputs, n->n_inputs);
}

/* Tuned for CPUs: the implicit GEMM of conv2d_cpu.c (output channels as vectors, every image in
 * one launch), after the weight's transpose and, when the convolution pads, x's padded copy. */
static int conv2d_lower_cpu(mlg_lower_ctx *ctx, int node, const kt_conv2d_desc *cd,
                            const kt_conv2d_cpu_plan *p) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kir_module *m = ctx->out->module;
  mlg_kernel_build kb;
  int x = n->inputs[0];
  int wt = ctx->temp(ctx, p->wt_numel * 4);
  if (wt < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  const int64_t K = cd->c_in * cd->kh * cd->kw;
  mlg_lower_begin_helper(ctx, node, "weight_t", wt, &kb);
  int rc = kt_cpu_pack_bt(m, kb.name, cd->c_out, K, p->c_out_pad, 0, K, 1, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &n->inputs[1], 1)) return -1;
  if (p->padded) {
    int xp = ctx->temp(ctx, p->xp_numel * 4);
    if (xp < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
    mlg_lower_begin_helper(ctx, node, "pad", xp, &kb);
    rc = kt_conv2d_cpu_pad(m, kb.name, cd, p, &kb.kernel, kb.groups);
    if (mlg_lower_finish(ctx, node, &kb, rc, &x, 1)) return -1;
    x = xp;
  }
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_conv2d_cpu(m, kb.name, cd, p, &kb.kernel, kb.groups);
  int inputs[3] = {x, wt, n->n_inputs == 3 ? n->inputs[2] : -1};
  return mlg_lower_finish(ctx, node, &kb, rc, inputs, n->n_inputs);
}

static int conv2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *w = &ctx->graph->nodes[n->inputs[1]].type;
  const mlg_attr *stride = mlg_attr_at(n, A_STRIDE), *pad = mlg_attr_at(n, A_PADDING);
  const mlg_attr *dil = mlg_attr_at(n, A_DILATION);
  if (stride->n != 2 || pad->n != 4 || dil->n != 2)
    return mlg_lower_fail(ctx, node, "conv2d: attributes are not normalized");
  kt_conv2d_desc d = {
      .n = x->dims[0], .c_in = x->dims[1], .h = x->dims[2], .w = x->dims[3],
      .c_out = w->dims[0], .kh = w->dims[2], .kw = w->dims[3],
      .stride_h = stride->ints[0], .stride_w = stride->ints[1],
      .pad_top = pad->ints[0], .pad_left = pad->ints[1], .pad_bottom = pad->ints[2],
      .pad_right = pad->ints[3], .dil_h = dil->ints[0], .dil_w = dil->ints[1],
      .groups = mlg_attr_int(n, A_GROUPS), .has_bias = n->n_inputs == 3,
      .epilogue = mlg_lower_epilogue(ctx, node),
  };
  kt_conv2d_cpu_plan plan;
  if (ctx->device_class == KT_DEVICE_CPU &&
      kt_conv2d_cpu_plan_for(&d, mlg_lower_max_vec(ctx), &plan) == 0)
    return conv2d_lower_cpu(ctx, node, &d, &plan);
  kt_matmul_desc md;
  if (ctx->device_class != KT_DEVICE_UNKNOWN && kt_conv2d_gemm_desc(&d, &md) == 0)
    return conv2d_lower_gemm(ctx, node, &md);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_conv2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

/* Each output element is a dot product over its group's channels and the window (2 flops per
 * tap) plus its bias. */
static void conv2d_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *w = &g->nodes[n->inputs[1]].type;
  int64_t y = mlg_type_numel(&n->type), taps = mlg_type_numel(w) / w->dims[0];
  out->flops = 2 * y * taps + (n->n_inputs == 3 ? y : 0);
}

const mlg_op_def mlg_op_conv2d = {
  .name = "conv2d",
  .cls = MLG_OPC_CONV,
  .min_inputs = 2,
  .max_inputs = 3,
  .n_attrs = 4,
  .attrs = { MLG_CONV2D_ATTRS },
  .infer = conv2d_infer,
  .lower = conv2d_lower,
  .cost = conv2d_cost,
  .algebra = { .channel_linear_rank = 4 },  /* output channel o = weight[o] ⋆ x + bias[o] */
  .fusion = { .anchor = 1 },  /* an epilogue only: bias, activation, residual */
  .input_names = "x, weight, bias?",
  .shape_doc = "[N, C, H, W] → [N, O, H′, W′]",
  .doc = "2-D convolution, NCHW (torch.nn.functional.conv2d)",
};

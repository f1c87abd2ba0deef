/* resize.c — resize(x, scale=[sh, sw] | size=[h, w], mode=nearest|linear, align_corners=0) on
 * NCHW, as torch.nn.functional.interpolate (nearest: PyTorch's legacy `nearest`; linear:
 * `bilinear`): with `scale`, the output is floor(in · scale) and source coordinates step by
 * 1/scale (PyTorch passes the factor on); with `size`, by in/out. Normalized: `size` filled in
 * from the output, `scale` (when given) with two values; both are accepted when they agree. */
#include <math.h>

#include "op_util.h"
#include "../lower_util.h"
#include "templates/resize.h"

enum { A_SCALE, A_SIZE, A_MODE, A_ALIGN_CORNERS };

static const char *const resize_modes[] = {"nearest", "linear", NULL};

static int resize_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  if (mlg_require_bool(&attrs[A_ALIGN_CORNERS], A_ALIGN_CORNERS, "align_corners", err)) return -1;
  mlg_attr *scale = &attrs[A_SCALE], *size = &attrs[A_SIZE];
  int has_scale = scale->kind != MLG_ATTR_NONE, has_size = size->kind != MLG_ATTR_NONE;
  if (!has_scale && !has_size) {
    mlg_shape_errorf(err, -1, -1, "give either scale=[sh, sw] or size=[h, w]");
    return -1;
  }
  if (attrs[A_ALIGN_CORNERS].ints[0] && attrs[A_MODE].ints[0] == KT_RESIZE_NEAREST) {
    mlg_shape_errorf(err, -1, A_ALIGN_CORNERS,
                     "align_corners applies to mode=linear only (as in PyTorch)");
    return -1;
  }
  const mlg_type *x = &in[0];
  int64_t hw[2];
  if (has_scale) {
    if (scale->n == 1) scale->floats[scale->n++] = scale->floats[0];
    if (scale->n != 2) {
      mlg_shape_errorf(err, -1, A_SCALE, "scale needs 1 or 2 values ([sh, sw]), got %d", scale->n);
      return -1;
    }
    for (int k = 0; k < 2; k++) {
      double v = floor((double)x->dims[2 + k] * scale->floats[k]);
      if (!(scale->floats[k] > 0) || !(v >= 1) || v > (double)MLG_DIM_LIMIT) {
        mlg_shape_errorf(err, -1, A_SCALE, "scale %g turns %s %lld into %g (dims are at least 1)",
                         scale->floats[k], k ? "width" : "height", (long long)x->dims[2 + k], v);
        return -1;
      }
      hw[k] = (int64_t)v;
    }
    /* Both only as the normalized form: the size the scale gives. */
    if (has_size && (mlg_expand_ints(size, A_SIZE, "size", 2, 1, MLG_DIM_LIMIT, err) ||
                     size->ints[0] != hw[0] || size->ints[1] != hw[1])) {
      mlg_shape_errorf(err, -1, A_SIZE, "give either scale=[sh, sw] or size=[h, w], not both");
      return -1;
    }
    *size = (mlg_attr){.kind = MLG_ATTR_INTS, .n = 2, .ints = {hw[0], hw[1]}};
  } else {
    if (mlg_expand_ints(size, A_SIZE, "size", 2, 1, MLG_DIM_LIMIT, err)) return -1;
    hw[0] = size->ints[0];
    hw[1] = size->ints[1];
  }
  *out = (mlg_type){.dtype = MLG_F32, .rank = 4, .dims = {x->dims[0], x->dims[1], hw[0], hw[1]}};
  return 0;
}

/* Source pixels per output pixel along one axis, in float as PyTorch's kernels compute it. */
static float axis_scale(int64_t in, int64_t out, const mlg_attr *scale, int k, int align) {
  if (align) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
  if (scale->kind == MLG_ATTR_FLOATS) return (float)(1.0 / scale->floats[k]);
  return (float)in / (float)out;
}

static int resize_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_attr *scale = mlg_attr_at(n, A_SCALE);
  int align = (int)mlg_attr_int(n, A_ALIGN_CORNERS);
  kt_resize_desc d = {.n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
                      .out_h = n->type.dims[2], .out_w = n->type.dims[3],
                      .mode = (kt_resize_mode)mlg_attr_int(n, A_MODE), .align_corners = align};
  d.scale_h = axis_scale(d.h, d.out_h, scale, 0, align);
  d.scale_w = axis_scale(d.w, d.out_w, scale, 1, align);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_resize(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* Bilinear: three lerps of two multiplies and an add per output element. */
static void resize_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  out->flops = mlg_attr_int(n, A_MODE) == KT_RESIZE_LINEAR ? 9 * mlg_type_numel(&n->type) : 0;
}

static const mlg_op_spelling resize_foreign[] = {
  {"interpolate", "resize(x, scale=[sh, sw], mode=nearest|linear)"},
  {"upsample", "resize(x, scale=[sh, sw], mode=nearest|linear)"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_resize = {
  .name = "resize",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 4,
  .attrs = {
    { .name = "scale", .kind = MLG_ATTR_FLOATS },
    { .name = "size", .kind = MLG_ATTR_INTS },
    { .name = "mode", .kind = MLG_ATTR_ENUM, .deflt = MLG_DEFAULT_ENUM(KT_RESIZE_NEAREST),
      .choices = resize_modes },
    { .name = "align_corners", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
  },
  .infer = resize_infer,
  .lower = resize_lower,
  .cost = resize_cost,
  .input_names = "x",
  .shape_doc = "[N, C, H, W] → [N, C, floor(H·sh), floor(W·sw)] or [N, C, h, w]",
  .doc = "nearest or bilinear resizing, NCHW (torch.nn.functional.interpolate)",
  .foreign = resize_foreign,
};

/* qlinear.c — quantized convolution and matrix product on 8-bit integers, as ONNX
 * QLinearConv and QLinearMatMul, with their argument order:
 *   qlinear_conv2d(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
 *                  bias?, stride, padding, dilation, groups)
 *   qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point,
 *                  bias?)
 * x, w, a, b and the zero points are i8 or u8 (each zero point its tensor's type); scales f32.
 * The scales and zero points are 0-d, except w's (b's) which may be 1-d per output channel
 * (per column), the scale and zero point alike; bias is i32 [O] (scale x_scale · w_scale, zero
 * point 0; ONNX's QLinearMatMul has none, mlg's takes one as QLinearConv does). The result has y_zero_point's type, saturated to its range, or to [lo, hi] when
 * given (a fused relu or clamp: pass_qdq.c). Kernels: templates/qlinear.h. */
#include "op_util.h"
#include "../lower_util.h"
#include "../gemm_tuning.h"
#include "templates/matmul.h"
#include "templates/qgemm.h"
#include "templates/qlinear.h"

enum { A_STRIDE, A_PADDING, A_DILATION, A_GROUPS, A_CONV_LO, A_CONV_HI };
enum { A_MM_LO, A_MM_HI };
enum { I_X, I_XS, I_XZ, I_W, I_WS, I_WZ, I_YS, I_YZ, I_BIAS };

static int is_q8(mlg_ir_dtype d) { return d == MLG_I8 || d == MLG_U8; }

static int require_q8(const mlg_type *in, int i, mlg_shape_error *err) {
  if (is_q8(in[i].dtype)) return 0;
  mlg_shape_errorf(err, i, -1, "input %d must be i8 or u8, got %s (quantize it with "
                   "quantize_linear)", i, mlg_dtype_name(in[i].dtype));
  return -1;
}

/* in[scale] f32 and in[zp] of in[of]'s dtype, both 0-d, or both [channels] when channels > 0. */
static int require_qparams(const mlg_type *in, int of, int scale, int zp, int64_t channels,
                           const char *per, mlg_shape_error *err) {
  if (mlg_require_dtype(&in[scale], scale, MLG_F32, err)) return -1;
  if (in[zp].dtype != in[of].dtype) {
    mlg_shape_errorf(err, zp, -1, "the zero point (input %d) is %s but input %d is %s; they "
                     "must agree", zp, mlg_dtype_name(in[zp].dtype), of,
                     mlg_dtype_name(in[of].dtype));
    return -1;
  }
  for (int i = scale; i <= zp; i += zp - scale) {
    int ok = in[i].rank == 0 || (channels > 0 && in[i].rank == 1 && in[i].dims[0] == channels);
    if (!ok || in[i].rank != in[scale].rank) {
      char s[128];
      if (channels > 0)
        mlg_shape_errorf(err, i, -1, "input %d must be 0-d, or [%lld] (one value %s) like "
                         "input %d, got %s", i, (long long)channels, per,
                         i == scale ? zp : scale, mlg_type_format(&in[i], s, sizeof s));
      else
        mlg_shape_errorf(err, i, -1, "input %d must be 0-d (one value for the tensor), got %s",
                         i, mlg_type_format(&in[i], s, sizeof s));
      return -1;
    }
  }
  return 0;
}

/* lo and hi (attributes lo_at, lo_at + 1), when given, within the type of y and ordered. */
static int check_range(const mlg_type *in, const mlg_attr *attrs, int lo_at, mlg_shape_error *err) {
  const mlg_attr *lo = &attrs[lo_at], *hi = &attrs[lo_at + 1];
  if (lo->kind == MLG_ATTR_NONE && hi->kind == MLG_ATTR_NONE) return 0;
  int64_t tlo = in[I_YZ].dtype == MLG_I8 ? -128 : 0, thi = in[I_YZ].dtype == MLG_I8 ? 127 : 255;
  int64_t l = lo->kind == MLG_ATTR_NONE ? tlo : lo->ints[0];
  int64_t h = hi->kind == MLG_ATTR_NONE ? thi : hi->ints[0];
  if (l < tlo || h > thi || l > h) {
    mlg_shape_errorf(err, -1, lo->kind == MLG_ATTR_NONE ? lo_at + 1 : lo_at,
                     "lo and hi must be ordered integers within %s's range [%lld, %lld], got "
                     "[%lld, %lld]", mlg_dtype_name(in[I_YZ].dtype), (long long)tlo,
                     (long long)thi, (long long)l, (long long)h);
    return -1;
  }
  return 0;
}

/* The results' range of node n for the template: lo = hi = 0 for the whole type. */
static void node_range(const mlg_node *n, int lo_at, int64_t *lo, int64_t *hi) {
  *lo = *hi = 0;
  const mlg_attr *l = mlg_attr_at(n, lo_at), *h = mlg_attr_at(n, lo_at + 1);
  if (l->kind == MLG_ATTR_NONE && h->kind == MLG_ATTR_NONE) return;
  int64_t tlo = n->type.dtype == MLG_I8 ? -128 : 0, thi = n->type.dtype == MLG_I8 ? 127 : 255;
  *lo = l->kind == MLG_ATTR_NONE ? tlo : l->ints[0];
  *hi = h->kind == MLG_ATTR_NONE ? thi : h->ints[0];
}

/* The optional bias: i32 [channels]. */
static int check_bias(const mlg_type *in, int n_in, int64_t channels, mlg_shape_error *err) {
  if (n_in <= I_BIAS) return 0;
  const mlg_type *b = &in[I_BIAS];
  if (b->dtype == MLG_I32 && b->rank == 1 && b->dims[0] == channels) return 0;
  char s[128];
  mlg_shape_errorf(err, I_BIAS, -1, "bias must be i32[%lld] (quantized with scale x_scale * "
                   "w_scale, zero point 0), got %s", (long long)channels,
                   mlg_type_format(b, s, sizeof s));
  return -1;
}

/* The checks both ops share: the 8-bit operands and every scale and zero point. */
static int qlinear_common(const mlg_type *in, int64_t w_channels, const char *per,
                          mlg_shape_error *err) {
  if (require_q8(in, I_X, err) || require_q8(in, I_W, err) || require_q8(in, I_YZ, err))
    return -1;
  if (require_qparams(in, I_X, I_XS, I_XZ, 0, per, err)) return -1;
  if (require_qparams(in, I_W, I_WS, I_WZ, w_channels, per, err)) return -1;
  if (mlg_require_dtype(&in[I_YS], I_YS, MLG_F32, err)) return -1;
  if (in[I_YS].rank != 0 || in[I_YZ].rank != 0) {
    int i = in[I_YS].rank != 0 ? I_YS : I_YZ;
    char s[128];
    mlg_shape_errorf(err, i, -1, "input %d must be 0-d (one value for the tensor), got %s", i,
                     mlg_type_format(&in[i], s, sizeof s));
    return -1;
  }
  return 0;
}

static int qconv_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (mlg_require_rank(&in[I_X], I_X, 4, "[N, C, H, W]", err)) return -1;
  if (mlg_require_rank(&in[I_W], I_W, 4, "[out_channels, in_channels / groups, kh, kw]", err))
    return -1;
  int64_t o = in[I_W].dims[0];
  if (qlinear_common(in, o, "per output channel", err)) return -1;
  if (check_bias(in, n_in, o, err)) return -1;
  if (check_range(in, attrs, A_CONV_LO, err)) return -1;
  if (mlg_conv2d_shape(&in[I_X], &in[I_W], I_W, attrs, out, err)) return -1;
  out->dtype = in[I_YZ].dtype;
  return 0;
}

static int qmatmul_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  const mlg_type *a = &in[I_X], *b = &in[I_W];
  char s[128], t[128];
  if (a->rank < 2 || b->rank < 2) {
    int i = a->rank < 2 ? I_X : I_W;
    mlg_shape_errorf(err, i, -1, "input %d must be at least 2-D, got %s", i,
                     mlg_type_format(&in[i], s, sizeof s));
    return -1;
  }
  int64_t k = a->dims[a->rank - 1], n = b->dims[b->rank - 1];
  if (qlinear_common(in, n, "per column", err)) return -1;
  if (check_range(in, attrs, A_MM_LO, err) || check_bias(in, n_in, n, err)) return -1;
  if (b->dims[b->rank - 2] != k) {
    mlg_shape_errorf(err, I_W, -1, "inner dimensions differ (%lld vs %lld)", (long long)k,
                     (long long)b->dims[b->rank - 2]);
    return -1;
  }
  if (b->rank > 2) {
    int same = b->rank == a->rank;
    for (int d = 0; same && d < a->rank - 2; d++) same = a->dims[d] == b->dims[d];
    if (!same) {
      mlg_shape_errorf(err, I_W, -1, "b %s must be 2-D or have a %s's batch dims",
                       mlg_type_format(b, s, sizeof s), mlg_type_format(a, t, sizeof t));
      return -1;
    }
  }
  *out = *a;
  out->dims[out->rank - 1] = n;
  out->dtype = in[I_YZ].dtype;
  return mlg_check_type_limits(out, err);
}

/* The integer GEMM's tiles for rows × cols × k: the GEMM tuner's choice for its shape class
 * where the device has one that the integer kernels take (gemm_tuning.h; it was measured on
 * the f32 GEMM, which stages tiles of the same size), else the built-in ones. */
static kt_qgemm_tiles int_tiles(const mlg_lower_ctx *ctx, int64_t rows, int64_t cols, int64_t k) {
  kt_qgemm_tiles t = kt_qgemm_default_tiles(ctx->device_class, rows, cols, k);
  mlg_gemm_class c = mlg_gemm_class_of(rows, cols);
  if (!ctx->gemm_tuning || c == MLG_GEMM_NO_CLASS || !ctx->gemm_tuning->cls[c].tile_m) return t;
  const mlg_gemm_tiles *g = &ctx->gemm_tuning->cls[c];
  kt_qgemm_tiles tuned = {g->tile_m, g->tile_n, g->tile_k, g->reg_m, g->reg_n};
  return kt_qgemm_tiles_valid(&tuned, ctx->local_mem_bytes) ? tuned : t;
}

/* A convolution on the CPU: x's im2col matrix into a temporary, then the CPU GEMM over it. */
static int qconv_lower_cpu(mlg_lower_ctx *ctx, int node, const kt_qlinear_conv2d_desc *d) {
  const mlg_node *n = &ctx->graph->nodes[node];
  int64_t bytes = kt_qim2col_bytes(d);
  int tmp = bytes > 0 ? ctx->temp(ctx, (bytes + 3) / 4 * 4) : -1;
  if (tmp < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  ctx->temp_dtype(ctx, tmp, ctx->graph->nodes[n->inputs[I_X]].type.dtype);
  mlg_kernel_build kb;
  mlg_lower_begin_helper(ctx, node, "qim2col", tmp, &kb);
  int rc = kt_qim2col(ctx->out->module, kb.name, d, &kb.kernel, kb.groups);
  const int gather_in[2] = {n->inputs[I_X], n->inputs[I_XZ]};
  if (mlg_lower_finish(ctx, node, &kb, rc, gather_in, 2)) return -1;
  int in[I_BIAS + 1];
  for (int i = 0; i < n->n_inputs; i++) in[i] = n->inputs[i];
  in[I_X] = tmp;
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_qgemm_cpu_conv2d(ctx->out->module, kb.name, d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, in, n->n_inputs);
}

static int qconv_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_graph *g = ctx->graph;
  const mlg_type *x = &g->nodes[n->inputs[I_X]].type, *w = &g->nodes[n->inputs[I_W]].type;
  const mlg_attr *stride = mlg_attr_at(n, A_STRIDE), *pad = mlg_attr_at(n, A_PADDING);
  const mlg_attr *dil = mlg_attr_at(n, A_DILATION);
  if (stride->n != 2 || pad->n != 4 || dil->n != 2)
    return mlg_lower_fail(ctx, node, "qlinear_conv2d: attributes are not normalized");
  kt_qlinear_conv2d_desc d = {
      .n = x->dims[0], .c_in = x->dims[1], .h = x->dims[2], .w = x->dims[3],
      .c_out = w->dims[0], .kh = w->dims[2], .kw = w->dims[3],
      .stride_h = stride->ints[0], .stride_w = stride->ints[1],
      .pad_top = pad->ints[0], .pad_left = pad->ints[1], .pad_bottom = pad->ints[2],
      .pad_right = pad->ints[3], .dil_h = dil->ints[0], .dil_w = dil->ints[1],
      .groups = mlg_attr_int(n, A_GROUPS),
      .x_type = mlg_kir_scalar(x->dtype), .w_type = mlg_kir_scalar(w->dtype),
      .y_type = mlg_kir_scalar(n->type.dtype),
      .w_per_channel = g->nodes[n->inputs[I_WS]].type.rank == 1,
      .has_bias = n->n_inputs > I_BIAS,
  };
  node_range(n, A_CONV_LO, &d.lo, &d.hi);
  if (mlg_lower_cpu_vectors(ctx) && kt_qgemm_conv_fits(&d)) return qconv_lower_cpu(ctx, node, &d);
  kt_qgemm_tiles tiles = int_tiles(ctx, d.c_out, d.h * d.w, d.c_in * d.kh * d.kw);
  d.tiles = &tiles;
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_qlinear_conv2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

static int qmatmul_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_graph *g = ctx->graph;
  const mlg_type *a = &g->nodes[n->inputs[I_X]].type, *b = &g->nodes[n->inputs[I_W]].type;
  int64_t batch = 1;
  for (int d = 0; d < a->rank - 2; d++) batch *= a->dims[d];
  kt_qlinear_matmul_desc d = {
      .batch = batch, .m = a->dims[a->rank - 2], .k = a->dims[a->rank - 1],
      .n = b->dims[b->rank - 1], .b_batched = b->rank > 2,
      .a_type = mlg_kir_scalar(a->dtype), .b_type = mlg_kir_scalar(b->dtype),
      .y_type = mlg_kir_scalar(n->type.dtype),
      .b_per_column = g->nodes[n->inputs[I_WS]].type.rank == 1,
      .has_bias = n->n_inputs > I_BIAS,
  };
  node_range(n, A_MM_LO, &d.lo, &d.hi);
  kt_qgemm_tiles tiles = int_tiles(ctx, d.m, d.n, d.k);
  d.tiles = &tiles;
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = mlg_lower_cpu_vectors(ctx) && kt_qgemm_cpu_fits(&d)
               ? kt_qgemm_cpu_matmul(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups)
               : kt_qlinear_matmul(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

/* Integer multiply-adds (2 ops per tap) and the requantization of each output. */
static void qconv_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *w = &g->nodes[n->inputs[I_W]].type;
  int64_t y = mlg_type_numel(&n->type), taps = mlg_type_numel(w) / w->dims[0];
  out->flops = 2 * y * taps + 4 * y;
}

static void qmatmul_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *a = &g->nodes[n->inputs[I_X]].type;
  int64_t y = mlg_type_numel(&n->type);
  out->flops = 2 * y * a->dims[a->rank - 1] + 4 * y;
}

static const mlg_op_spelling qconv_foreign[] = {
  {"QLinearConv", "qlinear_conv2d(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias)"},
  {NULL, NULL},
};

static const mlg_op_spelling qmatmul_foreign[] = {
  {"QLinearMatMul", "qlinear_matmul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_qlinear_conv2d = {
  .name = "qlinear_conv2d",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 8,
  .max_inputs = 9,
  .n_attrs = 6,
  .attrs = {
    MLG_CONV2D_ATTRS,
    { .name = "lo", .kind = MLG_ATTR_INT },
    { .name = "hi", .kind = MLG_ATTR_INT },
  },
  .infer = qconv_infer,
  .lower = qconv_lower,
  .cost = qconv_cost,
  .input_names = "x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, "
                 "bias?",
  .shape_doc = "[N, C, H, W] → [N, O, H′, W′]; the type of y_zero_point",
  .doc = "2-D convolution of 8-bit integers, i32 sums requantized (ONNX QLinearConv)",
  .foreign = qconv_foreign,
};

const mlg_op_def mlg_op_qlinear_matmul = {
  .name = "qlinear_matmul",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 8,
  .max_inputs = 9,
  .n_attrs = 2,
  .attrs = {
    { .name = "lo", .kind = MLG_ATTR_INT },
    { .name = "hi", .kind = MLG_ATTR_INT },
  },
  .infer = qmatmul_infer,
  .lower = qmatmul_lower,
  .cost = qmatmul_cost,
  .input_names = "a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, "
                 "bias?",
  .shape_doc = "[..., M, K] @ [K, N] (or [..., K, N]) → [..., M, N]; the type of y_zero_point",
  .doc = "matrix product of 8-bit integers, i32 sums requantized (ONNX QLinearMatMul)",
  .foreign = qmatmul_foreign,
};

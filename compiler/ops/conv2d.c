/* conv2d.c — the convolutions:
 *   conv2d: 2-D convolution, NCHW, as torch.nn.functional.conv2d / ONNX Conv.
 *     x [N, C, H, W], weight [O, C / groups, kh, kw], bias [O]. Normalized attributes:
 *     stride [sh, sw], padding [top, left, bottom, right], dilation [dh, dw], groups.
 *   conv1d: x [N, C, L], weight [O, C / groups, k], bias [O] (torch conv1d), computed as the
 *     conv2d of x viewed as [N, C, 1, L] (the same bytes). Normalized: stride [s], padding
 *     [begin, end], dilation [d].
 *   conv_transpose2d: x [N, C, H, W], weight [C, O / groups, kh, kw], bias [O], as
 *     torch.nn.functional.conv_transpose2d (template conv_transpose2d.h). Normalized: stride,
 *     dilation and output_padding [h, w], padding [top, left, bottom, right]. */
#include <stdlib.h>
#include <string.h>

#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/conv2d.h"
#include "templates/conv_transpose2d.h"
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
  /* Stored as halves (--precision=f16), the weight and x make the GEMM a tensor-core one. */
  mlg_lower_gemm_storage(ctx, node, &d, n->inputs[1], n->inputs[0], n->n_inputs == 3 ? n->inputs[2] : -1);
  /* The matmul template's buffers: a (w), b (x), bias, then c (y). */
  int inputs[3] = {n->inputs[1], n->inputs[0], n->n_inputs == 3 ? n->inputs[2] : -1};
  return mlg_lower_gemm(ctx, node, &d, inputs, n->n_inputs);
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
  int rc = kt_cpu_pack_bt(m, kb.name, cd->c_out, K, p->c_out_pad,
                          (int64_t)p->vec * p->nvec, &kb.kernel, kb.groups);
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

/* Tuned for CPUs, a 3×3 stride-1 convolution: Winograd's F(m×m, 3×3) (conv2d_winograd.c), the
 * weight's transform (once per session: it reads the weight alone), x's, the α² GEMMs, then the
 * output's transform with the bias and the epilogue. */
static int conv2d_lower_winograd(mlg_lower_ctx *ctx, int node, const kt_conv2d_desc *cd,
                                 const kt_winograd_plan *p) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kir_module *m = ctx->out->module;
  mlg_kernel_build kb;
  int u = ctx->temp(ctx, p->u_numel * 4), v = ctx->temp(ctx, p->v_numel * 4);
  int mt = ctx->temp(ctx, p->mt_numel * 4);
  if (u < 0 || v < 0 || mt < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  mlg_lower_begin_helper(ctx, node, "wino_weight", u, &kb);
  int rc = kt_winograd_weight(m, kb.name, cd, p, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &n->inputs[1], 1)) return -1;
  mlg_lower_begin_helper(ctx, node, "wino_input", v, &kb);
  rc = kt_winograd_input(m, kb.name, cd, p, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &n->inputs[0], 1)) return -1;
  mlg_lower_begin_helper(ctx, node, "wino_gemm", mt, &kb);
  rc = kt_winograd_gemm(m, kb.name, cd, p, &kb.kernel, kb.groups);
  int vu[2] = {v, u};
  if (mlg_lower_finish(ctx, node, &kb, rc, vu, 2)) return -1;
  const int i_gemm = ctx->out->n_launches - 1;
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_winograd_output(m, kb.name, cd, p, &kb.kernel, kb.groups);
  int inputs[2] = {mt, n->n_inputs == 3 ? n->inputs[2] : -1};
  if (mlg_lower_finish(ctx, node, &kb, rc, inputs, n->n_inputs - 1)) return -1;
  /* The node's cost counts the direct convolution's multiply-adds; the GEMMs make fewer
   * (α² per tile where the direct form makes 9·m²), and the output's kernel keeps the rest
   * (bias, epilogue), so that a profile rates each kernel by the work it does. */
  mlg_launch *lg = &ctx->out->launches[i_gemm], *lo = &ctx->out->launches[ctx->out->n_launches - 1];
  const int64_t direct = 2 * 9 * cd->c_in * mlg_type_numel(&n->type);
  lg->flops = 2 * p->t * (int64_t)p->alpha * p->alpha * cd->c_in * cd->c_out;
  lo->flops = lo->flops > direct ? lo->flops - direct : 0;
  return 0;
}

/* Depthwise on CPUs: x's padded copy (rows split by the stride, each phase as long as the
 * convolution reads), then conv2d_dw.c's kernel, outputs as vector lanes along each row. */
static int conv2d_lower_dw(mlg_lower_ctx *ctx, int node, const kt_conv2d_desc *cd, const kt_conv2d_cpu_plan *p) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kir_module *m = ctx->out->module;
  mlg_kernel_build kb;
  int xp = ctx->temp(ctx, p->xp_numel * 4);
  if (xp < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  mlg_lower_begin_helper(ctx, node, "pad", xp, &kb);
  int rc = kt_conv2d_dw_pad(m, kb.name, cd, p, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &n->inputs[0], 1)) return -1;
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_conv2d_dw_cpu(m, kb.name, cd, p, &kb.kernel, kb.groups);
  int inputs[3] = {xp, n->inputs[1], n->n_inputs == 3 ? n->inputs[2] : -1};
  return mlg_lower_finish(ctx, node, &kb, rc, inputs, n->n_inputs);
}

/* The convolution d (its epilogue set) on the device's best kernel. */
static int conv_lower_desc(mlg_lower_ctx *ctx, int node, kt_conv2d_desc d) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kt_conv2d_cpu_plan plan;
  kt_winograd_plan wplan;
  /* Winograd pays only with its weight transform prepared (not at -O0) */
  if (ctx->device_class == KT_DEVICE_CPU && !ctx->no_winograd && !ctx->no_prepare &&
      kt_winograd_pick(&d, mlg_lower_max_vec(ctx), &wplan) == 0)
    return conv2d_lower_winograd(ctx, node, &d, &wplan);
  kt_matmul_desc md;
  if (ctx->device_class == KT_DEVICE_CPU && kt_conv2d_cpu_direct_gemm(&d) && kt_conv2d_gemm_desc(&d, &md) == 0)
    return conv2d_lower_gemm(ctx, node, &md);
  if (ctx->device_class == KT_DEVICE_CPU &&
      kt_conv2d_cpu_plan_for(&d, mlg_lower_max_vec(ctx), &plan) == 0)
    return conv2d_lower_cpu(ctx, node, &d, &plan);
  if (ctx->device_class == KT_DEVICE_CPU && kt_conv2d_dw_plan_for(&d, mlg_lower_max_vec(ctx), &plan) == 0)
    return conv2d_lower_dw(ctx, node, &d, &plan);
  if (ctx->device_class != KT_DEVICE_UNKNOWN && kt_conv2d_gemm_desc(&d, &md) == 0)
    return conv2d_lower_gemm(ctx, node, &md);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_conv2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
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
  return conv_lower_desc(ctx, node, d);
}

/* Each output element is a dot product over its group's channels and the window (2 flops per
 * tap) plus its bias. */
static void conv2d_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *w = &g->nodes[n->inputs[1]].type;
  int64_t y = mlg_type_numel(&n->type), taps = mlg_type_numel(w) / w->dims[0];
  out->flops = 2 * y * taps + (n->n_inputs == 3 ? y : 0);
}

/* conv2d's attributes for mlg_build_op. */
static void conv_attrs(mlg_attr *a, const int64_t *stride, const int64_t *pad, const int64_t *dil,
                       int64_t groups) {
  a[A_STRIDE] = mlg_attr_of_ints(2, stride);
  a[A_PADDING] = mlg_attr_of_ints(4, pad);
  a[A_DILATION] = mlg_attr_of_ints(2, dil);
  a[A_GROUPS] = mlg_attr_of_int(groups);
}

/* x sliced to [0, size) along `axis` from `from` (x itself when that is all of it). */
static int crop(mlg_op_builder *ob, int x, int64_t axis, int64_t from, int64_t size) {
  if (x < 0) return -1;
  if (from == 0 && mlg_build_type(ob, x).dims[axis] == size) return x;
  int64_t end = from + size;
  mlg_attr a[MLG_MAX_ATTRS] = {mlg_attr_of_ints(1, &from), mlg_attr_of_ints(1, &end),
                               mlg_attr_of_ints(1, &axis)};
  return mlg_build_op(ob, &mlg_op_slice, &x, 1, a);
}

/* dx: a stride-1 convolution of dy (zeros inserted between its elements for a stride s > 1)
 * with the weight's taps flipped and its in/out channels swapped per group, dilated as the
 * forward and padded so that output element i sums every (oh, k) with oh·s + k·d − pad = i. */
static int conv2d_grad_x(mlg_op_builder *ob, const mlg_node *n, int dy) {
  const mlg_type x = mlg_build_type(ob, n->inputs[0]), w = mlg_build_type(ob, n->inputs[1]);
  const mlg_type *y = &n->type;
  const int64_t *st = mlg_attr_at(n, A_STRIDE)->ints, *pd = mlg_attr_at(n, A_PADDING)->ints,
                *dl = mlg_attr_at(n, A_DILATION)->ints;
  int64_t g = mlg_attr_int(n, A_GROUPS), O = w.dims[0], Cg = w.dims[1], Og = O / g;
  int64_t N = x.dims[0], OH = y->dims[2], OW = y->dims[3];
  int z = dy;
  if (st[0] > 1 || st[1] > 1) {
    /* [N, O, OH, 1, OW, 1] times a [s_h, s_w] mask with a single 1 broadcasts to
     * [N, O, OH, s_h, OW, s_w]: each value followed by s − 1 zeros per axis. */
    int64_t d6[6] = {N, O, OH, 1, OW, 1};
    int64_t numel = st[0] * st[1];
    float *mask = calloc((size_t)numel, sizeof *mask);
    if (!mask) return mlg_build_fail(ob, "out of memory");
    mask[0] = 1;
    mlg_type mt = {.dtype = MLG_F32, .rank = 6, .dims = {1, 1, 1, st[0], 1, st[1]}};
    int m = mlg_build_const(ob, &mt, mask);
    free(mask);
    int64_t d4[4] = {N, O, OH * st[0], OW * st[1]};
    z = mlg_b_reshape(ob, mlg_b2(ob, &mlg_op_mul, mlg_b_reshape(ob, dy, 6, d6), m), 4, d4);
    z = crop(ob, z, 2, 0, (OH - 1) * st[0] + 1);
    z = crop(ob, z, 3, 0, (OW - 1) * st[1] + 1);
  }
  int64_t pad[4];
  const int64_t in_len[2] = {x.dims[2], x.dims[3]}, out_len[2] = {OH, OW}, k[2] = {w.dims[2], w.dims[3]};
  for (int a = 0; a < 2; a++) {
    int64_t lo = (k[a] - 1) * dl[a] - pd[a];
    int64_t hi = in_len[a] - 1 + pd[a] - (out_len[a] - 1) * st[a];
    int64_t len = (out_len[a] - 1) * st[a] + 1;
    /* A negative pad crops instead. */
    if (lo < 0) z = crop(ob, z, 2 + a, -lo, len + lo), len += lo, lo = 0;
    if (hi < 0) z = crop(ob, z, 2 + a, 0, len + hi), hi = 0;
    pad[a] = lo;
    pad[a + 2] = hi;
  }
  /* [O, Cg, kh, kw] → [g, Og, Cg, kh, kw] → [g, Cg, Og, kh, kw] → [C, Og, kh, kw], taps flipped. */
  int64_t w5[5] = {g, Og, Cg, k[0], k[1]}, w4[4] = {g * Cg, Og, k[0], k[1]};
  static const int swap_io[5] = {0, 2, 1, 3, 4};
  int wt = mlg_b_reshape(ob, mlg_b_transpose(ob, mlg_b_reshape(ob, n->inputs[1], 5, w5), swap_io), 4, w4);
  int64_t starts[2] = {k[0] - 1, k[1] - 1}, ends[2] = {-k[0] - 1, -k[1] - 1}, axes[2] = {2, 3},
          steps[2] = {-1, -1};
  mlg_attr sa[MLG_MAX_ATTRS] = {mlg_attr_of_ints(2, starts), mlg_attr_of_ints(2, ends),
                                mlg_attr_of_ints(2, axes), mlg_attr_of_ints(2, steps)};
  int flipped = wt < 0 ? -1 : mlg_build_op(ob, &mlg_op_slice, &wt, 1, sa);
  static const int64_t one[2] = {1, 1};
  mlg_attr ca[MLG_MAX_ATTRS] = {{0}};
  conv_attrs(ca, one, pad, dl, g);
  int in[2] = {z, flipped};
  return z < 0 || flipped < 0 ? -1 : mlg_build_op(ob, &mlg_op_conv2d, in, 2, ca);
}

/* dw: a convolution over the batch — x as [Cg, g·N, H, W] (batch Cg, channels the batch per
 * group) with dy as the weight [O, N, OH, OW], stride and dilation swapped — gives
 * [Cg, O, kh′, kw′], cut to the kernel's taps and transposed to [O, Cg, kh, kw]. */
static int conv2d_grad_w(mlg_op_builder *ob, const mlg_node *n, int dy) {
  const mlg_type x = mlg_build_type(ob, n->inputs[0]), w = mlg_build_type(ob, n->inputs[1]);
  const mlg_type *y = &n->type;
  const int64_t *st = mlg_attr_at(n, A_STRIDE)->ints, *pd = mlg_attr_at(n, A_PADDING)->ints,
                *dl = mlg_attr_at(n, A_DILATION)->ints;
  int64_t g = mlg_attr_int(n, A_GROUPS), O = w.dims[0], Cg = w.dims[1], Og = O / g;
  int64_t N = x.dims[0], H = x.dims[2], W = x.dims[3], OH = y->dims[2], OW = y->dims[3];
  int64_t x5[5] = {N, g, Cg, H, W}, x4[4] = {Cg, g * N, H, W};
  static const int x_perm[5] = {2, 1, 0, 3, 4};
  int xr = mlg_b_reshape(ob, mlg_b_transpose(ob, mlg_b_reshape(ob, n->inputs[0], 5, x5), x_perm), 4, x4);
  int64_t y5[5] = {N, g, Og, OH, OW}, y4[4] = {O, N, OH, OW};
  static const int y_perm[5] = {1, 2, 0, 3, 4};
  int dyr = mlg_b_reshape(ob, mlg_b_transpose(ob, mlg_b_reshape(ob, dy, 5, y5), y_perm), 4, y4);
  /* Pad only as far as the last tap reads: (k − 1)·d + (out − 1)·s + 1 − in − pad_lo after. */
  const int64_t k[2] = {w.dims[2], w.dims[3]}, in_len[2] = {H, W}, out_len[2] = {OH, OW};
  int64_t pad[4] = {pd[0], pd[1], 0, 0};
  for (int a = 0; a < 2; a++) {
    int64_t need = (k[a] - 1) * dl[a] + (out_len[a] - 1) * st[a] + 1 - in_len[a] - pd[a];
    pad[a + 2] = need > 0 ? need : 0;
  }
  mlg_attr ca[MLG_MAX_ATTRS] = {{0}};
  conv_attrs(ca, dl, pad, st, g);
  int in[2] = {xr, dyr};
  int c = xr < 0 || dyr < 0 ? -1 : mlg_build_op(ob, &mlg_op_conv2d, in, 2, ca);
  c = crop(ob, crop(ob, c, 2, 0, k[0]), 3, 0, k[1]);
  static const int to_w[4] = {1, 0, 2, 3};
  return mlg_b_transpose(ob, c, to_w);
}

static int conv2d_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                      int *dx) {
  (void)node;
  if (needs[0]) dx[0] = conv2d_grad_x(ob, n, dy);
  if (needs[1]) dx[1] = conv2d_grad_w(ob, n, dy);
  if (n->n_inputs == 3 && needs[2]) {
    static const int64_t axes[3] = {0, 2, 3};
    dx[2] = mlg_b_reduce(ob, &mlg_op_sum, dy, 3, axes, 0);
  }
  return ob->failed ? -1 : 0;
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
  .vjp = conv2d_vjp,
  .algebra = { .channel_linear_rank = 4 },  /* output channel o = weight[o] ⋆ x + bias[o] */
  .fusion = { .anchor = 1, .blocked = 1 },  /* an epilogue only: bias, activation, residual */
  .input_names = "x, weight, bias?",
  .shape_doc = "[N, C, H, W] → [N, O, H′, W′]",
  .doc = "2-D convolution, NCHW (torch.nn.functional.conv2d)",
};

/* ---- conv1d: conv2d on [N, C, 1, L] ---- */

/* x, weight and attributes as conv2d's: a height of 1, no padding or stride along it. */
static void conv1d_as_2d(const mlg_type *in, int n_in, const mlg_attr *attrs, mlg_type *in2,
                         mlg_attr *attrs2) {
  for (int i = 0; i < n_in; i++) {
    in2[i] = in[i];
    if (i < 2 && in[i].rank == 3) {
      in2[i].rank = 4;
      in2[i].dims[3] = in[i].dims[2];
      in2[i].dims[2] = 1;
    }
  }
  memcpy(attrs2, attrs, sizeof(mlg_attr) * MLG_MAX_ATTRS);
  attrs2[A_STRIDE].n = attrs2[A_DILATION].n = 2;
  attrs2[A_STRIDE].ints[1] = attrs[A_STRIDE].ints[0], attrs2[A_STRIDE].ints[0] = 1;
  attrs2[A_DILATION].ints[1] = attrs[A_DILATION].ints[0], attrs2[A_DILATION].ints[0] = 1;
  attrs2[A_PADDING].n = 4;
  attrs2[A_PADDING].ints[0] = attrs2[A_PADDING].ints[2] = 0;
  attrs2[A_PADDING].ints[1] = attrs[A_PADDING].ints[0];
  attrs2[A_PADDING].ints[3] = attrs[A_PADDING].ints[1];
}

static int conv1d_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 3, "[N, C, L]", err)) return -1;
  if (mlg_require_rank(&in[1], 1, 3, "[out_channels, in_channels / groups, k]", err)) return -1;
  if (mlg_expand_ints(&attrs[A_STRIDE], A_STRIDE, "stride", 1, 1, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_ints(&attrs[A_PADDING], A_PADDING, "padding", 2, 0, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_ints(&attrs[A_DILATION], A_DILATION, "dilation", 1, 1, MLG_DIM_LIMIT, err))
    return -1;
  /* conv2d's rule on the [N, C, 1, L] view says the rest; this one names the 3-D weight. */
  int64_t groups = attrs[A_GROUPS].ints[0];
  char s[128];
  if (groups >= 1 && in[1].dims[1] * groups != in[0].dims[1]) {
    mlg_shape_errorf(err, 1, -1, "weight %s expects %lld input channels, input has %lld",
                     mlg_type_format(&in[1], s, sizeof s), (long long)(in[1].dims[1] * groups),
                     (long long)in[0].dims[1]);
    return -1;
  }
  mlg_type in2[3];
  mlg_attr attrs2[MLG_MAX_ATTRS];
  conv1d_as_2d(in, n_in, attrs, in2, attrs2);
  mlg_type out2;
  if (conv2d_infer(in2, n_in, attrs2, &out2, err)) return -1;
  *out = (mlg_type){ .dtype = MLG_F32, .rank = 3, .dims = { out2.dims[0], out2.dims[1], out2.dims[3] } };
  return 0;
}

static int conv1d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *w = &ctx->graph->nodes[n->inputs[1]].type;
  const mlg_attr *stride = mlg_attr_at(n, A_STRIDE), *pad = mlg_attr_at(n, A_PADDING);
  const mlg_attr *dil = mlg_attr_at(n, A_DILATION);
  if (stride->n != 1 || pad->n != 2 || dil->n != 1)
    return mlg_lower_fail(ctx, node, "conv1d: attributes are not normalized");
  kt_conv2d_desc d = {
      .n = x->dims[0], .c_in = x->dims[1], .h = 1, .w = x->dims[2],
      .c_out = w->dims[0], .kh = 1, .kw = w->dims[2],
      .stride_h = 1, .stride_w = stride->ints[0],
      .pad_left = pad->ints[0], .pad_right = pad->ints[1], .dil_h = 1, .dil_w = dil->ints[0],
      .groups = mlg_attr_int(n, A_GROUPS), .has_bias = n->n_inputs == 3,
      .epilogue = mlg_lower_epilogue(ctx, node),
  };
  return conv_lower_desc(ctx, node, d);
}

const mlg_op_def mlg_op_conv1d = {
  .name = "conv1d",
  .cls = MLG_OPC_CONV,
  .min_inputs = 2,
  .max_inputs = 3,
  .n_attrs = 4,
  .attrs = { MLG_CONV2D_ATTRS },
  .infer = conv1d_infer,
  .lower = conv1d_lower,
  .cost = conv2d_cost,
  .fusion = { .anchor = 1, .blocked = 1 },
  .input_names = "x, weight, bias?",
  .shape_doc = "[N, C, L] → [N, O, L′]",
  .doc = "1-D convolution, NCL (torch.nn.functional.conv1d); padding [p] or [begin, end]",
};

/* ---- conv_transpose2d ---- */

enum { T_STRIDE, T_PADDING, T_OUTPUT_PADDING, T_DILATION, T_GROUPS };

static int conv_transpose2d_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                                  mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  if (mlg_require_rank(&in[1], 1, 4, "[in_channels, out_channels / groups, kh, kw]", err))
    return -1;
  if (mlg_expand_ints(&attrs[T_STRIDE], T_STRIDE, "stride", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_padding(&attrs[T_PADDING], T_PADDING, err)) return -1;
  if (mlg_expand_ints(&attrs[T_OUTPUT_PADDING], T_OUTPUT_PADDING, "output_padding", 2, 0,
                      MLG_DIM_LIMIT, err))
    return -1;
  if (mlg_expand_ints(&attrs[T_DILATION], T_DILATION, "dilation", 2, 1, MLG_DIM_LIMIT, err))
    return -1;
  const mlg_type *x = &in[0], *w = &in[1];
  int64_t groups = attrs[T_GROUPS].ints[0], c = x->dims[1];
  char s[128];
  if (groups < 1 || groups > MLG_DIM_LIMIT || c % groups != 0) {
    mlg_shape_errorf(err, -1, T_GROUPS, "'groups' (%lld) must be >= 1 and divide the %lld input "
                     "channels", (long long)groups, (long long)c);
    return -1;
  }
  if (w->dims[0] != c) {
    mlg_shape_errorf(err, 1, -1, "weight %s must have the input's %lld channels first "
                     "([in_channels, out_channels / groups, kh, kw])",
                     mlg_type_format(w, s, sizeof s), (long long)c);
    return -1;
  }
  int64_t o = w->dims[1] * groups;
  if (n_in == 3 && (in[2].rank != 1 || in[2].dims[0] != o)) {
    mlg_shape_errorf(err, 2, -1, "bias must be f32[%lld], got %s", (long long)o,
                     mlg_type_format(&in[2], s, sizeof s));
    return -1;
  }
  const int64_t *st = attrs[T_STRIDE].ints, *pd = attrs[T_PADDING].ints,
                *op = attrs[T_OUTPUT_PADDING].ints, *dl = attrs[T_DILATION].ints;
  for (int k = 0; k < 2; k++) {
    if (op[k] >= st[k] && op[k] >= dl[k]) {
      mlg_shape_errorf(err, -1, T_OUTPUT_PADDING, "output_padding (%lld) must be smaller than "
                       "the stride (%lld) or the dilation (%lld)", (long long)op[k],
                       (long long)st[k], (long long)dl[k]);
      return -1;
    }
  }
  kt_conv_transpose2d_desc d = {
      .h = x->dims[2], .w = x->dims[3], .kh = w->dims[2], .kw = w->dims[3],
      .stride_h = st[0], .stride_w = st[1], .pad_top = pd[0], .pad_left = pd[1],
      .pad_bottom = pd[2], .pad_right = pd[3], .out_pad_h = op[0], .out_pad_w = op[1],
      .dil_h = dl[0], .dil_w = dl[1]};
  int64_t oh, ow;
  if (kt_conv_transpose2d_out_size(&d, &oh, &ow) || oh > MLG_DIM_LIMIT || ow > MLG_DIM_LIMIT) {
    mlg_shape_errorf(err, -1, T_PADDING, "the padding [%lld, %lld, %lld, %lld] leaves a %lldx%lld "
                     "output", (long long)pd[0], (long long)pd[1], (long long)pd[2],
                     (long long)pd[3], (long long)oh, (long long)ow);
    return -1;
  }
  *out = (mlg_type){ .dtype = MLG_F32, .rank = 4, .dims = { x->dims[0], o, oh, ow } };
  return mlg_check_type_limits(out, err);
}

static int conv_transpose2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *w = &ctx->graph->nodes[n->inputs[1]].type;
  const mlg_attr *st = mlg_attr_at(n, T_STRIDE), *pd = mlg_attr_at(n, T_PADDING);
  const mlg_attr *op = mlg_attr_at(n, T_OUTPUT_PADDING), *dl = mlg_attr_at(n, T_DILATION);
  if (st->n != 2 || pd->n != 4 || op->n != 2 || dl->n != 2)
    return mlg_lower_fail(ctx, node, "conv_transpose2d: attributes are not normalized");
  int64_t groups = mlg_attr_int(n, T_GROUPS);
  kt_conv_transpose2d_desc d = {
      .n = x->dims[0], .c_in = x->dims[1], .h = x->dims[2], .w = x->dims[3],
      .c_out = w->dims[1] * groups, .kh = w->dims[2], .kw = w->dims[3],
      .stride_h = st->ints[0], .stride_w = st->ints[1], .pad_top = pd->ints[0],
      .pad_left = pd->ints[1], .pad_bottom = pd->ints[2], .pad_right = pd->ints[3],
      .out_pad_h = op->ints[0], .out_pad_w = op->ints[1], .dil_h = dl->ints[0],
      .dil_w = dl->ints[1], .groups = groups, .has_bias = n->n_inputs == 3,
      .epilogue = mlg_lower_epilogue(ctx, node),
  };
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_conv_transpose2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

/* Each input element meets every tap of its group's output channels once (2 flops), plus the
 * bias per output element. */
static void conv_transpose2d_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *x = &g->nodes[n->inputs[0]].type, *w = &g->nodes[n->inputs[1]].type;
  int64_t y = mlg_type_numel(&n->type);
  out->flops = 2 * mlg_type_numel(x) * (mlg_type_numel(w) / w->dims[0]) +
               (n->n_inputs == 3 ? y : 0);
}

const mlg_op_def mlg_op_conv_transpose2d = {
  .name = "conv_transpose2d",
  .cls = MLG_OPC_CONV,
  .min_inputs = 2,
  .max_inputs = 3,
  .n_attrs = 5,
  .attrs = {
    { .name = "stride", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(1) },
    { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },
    { .name = "output_padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },
    { .name = "dilation", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(1) },
    { .name = "groups", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) },
  },
  .infer = conv_transpose2d_infer,
  .lower = conv_transpose2d_lower,
  .cost = conv_transpose2d_cost,
  .fusion = { .anchor = 1 },  /* an epilogue only: bias, activation, residual */
  .input_names = "x, weight, bias?",
  .shape_doc = "[N, C, H, W] → [N, O, H′, W′]",
  .doc = "2-D transposed convolution, NCHW (torch.nn.functional.conv_transpose2d)",
};

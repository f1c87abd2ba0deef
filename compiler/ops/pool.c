/* pool.c — 2-D pooling, NCHW: max_pool2d and avg_pool2d (sliding windows, as
 * torch.nn.functional.max_pool2d / avg_pool2d) and global_avg_pool2d.
 * Normalized attributes: kernel [kh, kw], stride [sh, sw] (default: the kernel),
 * padding [top, left, bottom, right], dilation [dh, dw] (max). Windows are PyTorch's, output
 * sizes rounded down or (ceil_mode) up; padding may reach up to kernel − 1 on a side as long as
 * every window keeps a real element (PyTorch allows half the kernel; ONNX, kernel − 1). avg
 * divides by the window's taps within the padded image (count_include_pad=1, PyTorch's
 * default) or by its real elements. Their gradients (max_pool2d_grad, avg_pool2d_grad) take
 * kernel, stride and padding only: dilation 1, ceil_mode 0, count_include_pad 1. */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/matmul.h"
#include "templates/pool.h"

/* The two ops' attributes, in PyTorch's positional order. */
enum { A_KERNEL, A_STRIDE, A_PADDING, MAX_A_DILATION, MAX_A_CEIL_MODE };
enum { AVG_A_CEIL_MODE = 3, AVG_A_COUNT_INCLUDE_PAD };
enum { GRAD_A_SIZE = 3 /* avg_pool2d_grad's [H, W] of x */ };

/* The first window along one axis none of whose taps is a real element, or -1. Only windows
 * that start before the input or end after it can miss it. */
static int64_t window_without_input(int64_t size, int64_t pad_lo, int64_t k, int64_t dil,
                                    int64_t stride, int64_t n) {
  for (int64_t o = 0; o < n; o++) {
    int64_t start = o * stride - pad_lo, last = start + (k - 1) * dil;
    if (start >= 0 && last < size) {
      o = (size - 1 - (k - 1) * dil + pad_lo) / stride; /* skip the windows inside */
      continue;
    }
    /* The first tap at or after element 0 must exist and lie before the end. */
    int64_t j0 = start >= 0 ? 0 : (-start + dil - 1) / dil;
    if (j0 >= k || start + j0 * dil >= size) return o;
  }
  return -1;
}

/* The window of x [N, C, H, W] (attributes normalized here), with the index of the dilation
 * attribute and of ceil_mode (-1: none, 1 and 0): out = the pooled type. */
static int pool_window(const mlg_type *x, mlg_attr *attrs, int a_dilation, int a_ceil,
                       mlg_type *out, mlg_shape_error *err) {
  if (mlg_expand_ints(&attrs[A_KERNEL], A_KERNEL, "kernel", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (attrs[A_STRIDE].kind == MLG_ATTR_NONE) attrs[A_STRIDE] = attrs[A_KERNEL];
  if (mlg_expand_ints(&attrs[A_STRIDE], A_STRIDE, "stride", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_padding(&attrs[A_PADDING], A_PADDING, err)) return -1;
  if (a_dilation >= 0 &&
      mlg_expand_ints(&attrs[a_dilation], a_dilation, "dilation", 2, 1, MLG_DIM_LIMIT, err))
    return -1;
  if (a_ceil >= 0 && mlg_require_bool(&attrs[a_ceil], a_ceil, "ceil_mode", err)) return -1;
  const int64_t *k = attrs[A_KERNEL].ints, *st = attrs[A_STRIDE].ints,
                *pd = attrs[A_PADDING].ints;
  const int64_t one[2] = {1, 1}, *dl = a_dilation >= 0 ? attrs[a_dilation].ints : one;
  int ceil_mode = a_ceil >= 0 ? (int)attrs[a_ceil].ints[0] : 0;
  for (int i = 0; i < 4; i++) {
    if (pd[i] >= k[i % 2]) {
      mlg_shape_errorf(err, -1, A_PADDING, "padding (%lld) must be smaller than the kernel (%lld)",
                       (long long)pd[i], (long long)k[i % 2]);
      return -1;
    }
  }
  int64_t o[2];
  for (int a = 0; a < 2; a++) {
    int64_t size = x->dims[2 + a];
    o[a] = kt_pool_window_count(size, pd[a], pd[a + 2], k[a], dl[a], st[a], ceil_mode);
    if (o[a] < 1) {
      mlg_shape_errorf(err, -1, A_KERNEL, "the %lldx%lld window (dilation [%lld, %lld]) does not "
                       "fit the padded %lldx%lld input", (long long)k[0], (long long)k[1],
                       (long long)dl[0], (long long)dl[1], (long long)(x->dims[2] + pd[0] + pd[2]),
                       (long long)(x->dims[3] + pd[1] + pd[3]));
      return -1;
    }
    int64_t miss = window_without_input(size, pd[a], k[a], dl[a], st[a], o[a]);
    if (miss >= 0) {
      mlg_shape_errorf(err, -1, A_PADDING, "window %lld along %s lies in the padding only "
                       "(every window must keep an element of the input)", (long long)miss,
                       a ? "W" : "H");
      return -1;
    }
  }
  *out = (mlg_type){ .dtype = MLG_F32, .rank = 4, .dims = { x->dims[0], x->dims[1], o[0], o[1] } };
  return 0;
}

/* The shape rule of both ops, with the index of the dilation attribute (-1: none) and of
 * ceil_mode. */
static int pool_infer_common(const mlg_type *in, int n_in, mlg_attr *attrs, int a_dilation,
                             int a_ceil, mlg_type *out, mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  return pool_window(&in[0], attrs, a_dilation, a_ceil, out, err);
}

static int max_pool_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                          mlg_shape_error *err) {
  return pool_infer_common(in, n_in, attrs, MAX_A_DILATION, MAX_A_CEIL_MODE, out, err);
}

static int avg_pool_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                          mlg_shape_error *err) {
  if (mlg_require_bool(&attrs[AVG_A_COUNT_INCLUDE_PAD], AVG_A_COUNT_INCLUDE_PAD,
                       "count_include_pad", err))
    return -1;
  return pool_infer_common(in, n_in, attrs, -1, AVG_A_CEIL_MODE, out, err);
}

/* The template's descriptor of node n pooling x: its window, without the forward ops' options. */
static kt_pool2d_desc pool_desc(const mlg_node *n, kt_pool_kind kind, const mlg_type *x) {
  const int64_t *k = mlg_attr_at(n, A_KERNEL)->ints, *st = mlg_attr_at(n, A_STRIDE)->ints,
                *pd = mlg_attr_at(n, A_PADDING)->ints;
  return (kt_pool2d_desc){
      .kind = kind,
      .n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
      .kh = k[0], .kw = k[1], .stride_h = st[0], .stride_w = st[1],
      .pad_top = pd[0], .pad_left = pd[1], .pad_bottom = pd[2], .pad_right = pd[3],
  };
}

/* The op's variant is the kt_pool_kind. */
static int pool2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  int is_max = n->op->variant == KT_POOL_MAX;
  kt_pool2d_desc d = pool_desc(n, n->op->variant, &ctx->graph->nodes[n->inputs[0]].type);
  d.ceil_mode = (int)mlg_attr_int(n, is_max ? MAX_A_CEIL_MODE : AVG_A_CEIL_MODE);
  d.exclude_pad = !is_max && !mlg_attr_int(n, AVG_A_COUNT_INCLUDE_PAD);
  if (is_max) {
    d.dil_h = mlg_attr_at(n, MAX_A_DILATION)->ints[0];
    d.dil_w = mlg_attr_at(n, MAX_A_DILATION)->ints[1];
  }
  /* PoCL's CPU kernel (GLSL has no vector fmax, and lavapipe runs invocations as SIMD lanes) */
  if (mlg_lower_cpu_vectors(ctx)) d.cpu_vec = 4;
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_pool2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* The gradients' kernel: x is the output's type (dx); dy is input 0, then x for max. */
static int pool2d_grad_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  kt_pool2d_desc d = pool_desc(n, n->op->variant, &n->type);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_pool2d_grad(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

/* The forward op's attributes, for its gradient op. */
static void copy_window(const mlg_node *n, mlg_attr *a) {
  for (int k = A_KERNEL; k <= A_PADDING; k++) a[k] = *mlg_attr_at(n, k);
}

static int max_pool2d_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx) {
  (void)node;
  if (!needs[0]) return 0;
  const int64_t *dl = mlg_attr_at(n, MAX_A_DILATION)->ints;
  if (dl[0] != 1 || dl[1] != 1 || mlg_attr_int(n, MAX_A_CEIL_MODE))
    return mlg_build_fail(ob, "max_pool2d with dilation or ceil_mode=1 has no gradient in mlg "
                          "yet; train with dilation=1, ceil_mode=0");
  mlg_attr a[MLG_MAX_ATTRS] = {{0}};
  copy_window(n, a);
  int in[2] = {dy, n->inputs[0]};
  dx[0] = mlg_build_op(ob, &mlg_op_max_pool2d_grad, in, 2, a);
  return ob->failed ? -1 : 0;
}

static int avg_pool2d_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx) {
  (void)node;
  if (!needs[0]) return 0;
  if (mlg_attr_int(n, AVG_A_CEIL_MODE) || !mlg_attr_int(n, AVG_A_COUNT_INCLUDE_PAD))
    return mlg_build_fail(ob, "avg_pool2d with ceil_mode=1 or count_include_pad=0 has no "
                          "gradient in mlg yet; train with the defaults");
  mlg_attr a[MLG_MAX_ATTRS] = {{0}};
  copy_window(n, a);
  const mlg_type x_copy = mlg_build_type(ob, n->inputs[0]), *x = &x_copy;
  a[GRAD_A_SIZE] = mlg_attr_of_ints(2, &x->dims[2]);
  dx[0] = mlg_build_op(ob, &mlg_op_avg_pool2d_grad, &dy, 1, a);
  return ob->failed ? -1 : 0;
}

/* avg_pool2d_grad is linear in dy, and its adjoint is avg_pool2d itself. */
static int avg_pool2d_grad_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                               const char *needs, int *dx) {
  (void)node;
  if (!needs[0]) return 0;
  mlg_attr a[MLG_MAX_ATTRS] = {{0}};
  copy_window(n, a);
  dx[0] = mlg_build_op(ob, &mlg_op_avg_pool2d, &dy, 1, a);
  return ob->failed ? -1 : 0;
}

/* dy [N, C, 1, 1] spread over each plane, divided by its H·W pixels. */
static int global_avg_pool2d_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                                 const char *needs, int *dx) {
  (void)node;
  if (!needs[0]) return 0;
  const mlg_type x_copy = mlg_build_type(ob, n->inputs[0]), *x = &x_copy;
  dx[0] = mlg_b_expand(ob, mlg_b_scale(ob, dy, 1.0 / (double)(x->dims[2] * x->dims[3])), *x);
  return ob->failed ? -1 : 0;
}

static int global_avg_pool2d_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  kt_global_pool_desc d = {.n = x->dims[0], .c = x->dims[1], .h = x->dims[2], .w = x->dims[3],
                           .subgroups = ctx->subgroups,
                           .per_item = ctx->device_class == KT_DEVICE_CPU};
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

/* max_pool2d and avg_pool2d share the window attributes, lowering and cost; the variant picks
 * the kind, the trailing arguments are the attributes after padding. */
#define WINDOW_POOL_OP(op, pool_kind, infer_fn, summary, ...)                               \
  const mlg_op_def mlg_op_##op = {                                                          \
    .name = #op,                                                                            \
    .cls = MLG_OPC_POOL,                                                                    \
    .min_inputs = 1,                                                                        \
    .max_inputs = 1,                                                                        \
    .n_attrs = 5,                                                                           \
    .attrs = {                                                                              \
      { .name = "kernel", .kind = MLG_ATTR_INTS, .required = 1 },                           \
      { .name = "stride", .kind = MLG_ATTR_INTS },                                          \
      { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },          \
      __VA_ARGS__                                                                           \
    },                                                                                      \
    .infer = infer_fn,                                                                      \
    .lower = pool2d_lower,                                                                  \
    .cost = pool2d_cost,                                                                    \
    .vjp = op##_vjp,                                                                        \
    .variant = pool_kind,                                                                   \
    .input_names = "x",                                                                     \
    .shape_doc = "[N, C, H, W] → [N, C, H′, W′]",                                           \
    .doc = summary,                                                                         \
  };
WINDOW_POOL_OP(max_pool2d, KT_POOL_MAX, max_pool_infer,
               "max over each kernel window, NCHW (torch.nn.functional.max_pool2d)",
               { .name = "dilation", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(1) },
               { .name = "ceil_mode", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) })
WINDOW_POOL_OP(avg_pool2d, KT_POOL_AVG, avg_pool_infer,
               "mean over each kernel window, NCHW (torch.nn.functional.avg_pool2d)",
               { .name = "ceil_mode", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
               { .name = "count_include_pad", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) })

static int global_pool_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                             mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H, W]", err)) return -1;
  *out = in[0];
  out->dims[2] = out->dims[3] = 1;
  return 0;
}

/* max_pool2d_grad(dy, x, kernel, stride, padding): dy has max_pool2d(x)'s type. */
static int max_pool2d_grad_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                                 mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[1], 1, 4, "[N, C, H, W]", err)) return -1;
  mlg_type pooled;
  if (pool_window(&in[1], attrs, -1, -1, &pooled, err)) return -1;
  char s[128], s2[128];
  if (!mlg_type_equal(&in[0], &pooled)) {
    mlg_shape_errorf(err, 0, -1, "dy must be %s (max_pool2d of x), got %s",
                     mlg_type_format(&pooled, s, sizeof s), mlg_type_format(&in[0], s2, sizeof s2));
    return -1;
  }
  *out = in[1];
  return 0;
}

/* avg_pool2d_grad(dy, kernel, stride, padding, size=[H, W]): x is [N, C, H, W]. */
static int avg_pool2d_grad_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                                 mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  if (mlg_require_rank(&in[0], 0, 4, "[N, C, H′, W′]", err)) return -1;
  if (mlg_expand_ints(&attrs[GRAD_A_SIZE], GRAD_A_SIZE, "size", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  mlg_type x = {.dtype = MLG_F32, .rank = 4,
                .dims = {in[0].dims[0], in[0].dims[1], attrs[GRAD_A_SIZE].ints[0], attrs[GRAD_A_SIZE].ints[1]}};
  mlg_type pooled;
  if (pool_window(&x, attrs, -1, -1, &pooled, err)) return -1;
  char s[128], s2[128];
  if (!mlg_type_equal(&in[0], &pooled)) {
    mlg_shape_errorf(err, 0, -1, "dy must be %s (avg_pool2d of the %lldx%lld input), got %s",
                     mlg_type_format(&pooled, s, sizeof s), (long long)x.dims[2],
                     (long long)x.dims[3], mlg_type_format(&in[0], s2, sizeof s2));
    return -1;
  }
  *out = x;
  return 0;
}

/* Per element of x, the taps of the windows that hold it. */
static void pool2d_grad_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const int64_t *k = mlg_attr_at(n, A_KERNEL)->ints, *st = mlg_attr_at(n, A_STRIDE)->ints;
  int64_t windows = ((k[0] + st[0] - 1) / st[0]) * ((k[1] + st[1] - 1) / st[1]);
  out->flops = mlg_type_numel(&n->type) * windows * (n->op->variant == KT_POOL_MAX ? k[0] * k[1] : 1);
}

const mlg_op_def mlg_op_max_pool2d_grad = {
  .name = "max_pool2d_grad",
  .cls = MLG_OPC_POOL,
  .min_inputs = 2,
  .max_inputs = 2,
  .n_attrs = 3,
  .attrs = {
    { .name = "kernel", .kind = MLG_ATTR_INTS, .required = 1 },
    { .name = "stride", .kind = MLG_ATTR_INTS },
    { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },
  },
  .infer = max_pool2d_grad_infer,
  .lower = pool2d_grad_lower,
  .cost = pool2d_grad_cost,
  .variant = KT_POOL_MAX,
  .input_names = "dy, x",
  .shape_doc = "as x",
  .doc = "gradient of max_pool2d: dy added at each window's first maximum of x",
};

const mlg_op_def mlg_op_avg_pool2d_grad = {
  .name = "avg_pool2d_grad",
  .cls = MLG_OPC_POOL,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 4,
  .attrs = {
    { .name = "kernel", .kind = MLG_ATTR_INTS, .required = 1 },
    { .name = "stride", .kind = MLG_ATTR_INTS },
    { .name = "padding", .kind = MLG_ATTR_INTS, .deflt = MLG_DEFAULT_INTS1(0) },
    { .name = "size", .kind = MLG_ATTR_INTS, .required = 1 },
  },
  .infer = avg_pool2d_grad_infer,
  .lower = pool2d_grad_lower,
  .cost = pool2d_grad_cost,
  .vjp = avg_pool2d_grad_vjp,
  .variant = KT_POOL_AVG,
  .input_names = "dy",
  .shape_doc = "[N, C, H′, W′] → [N, C, size[0], size[1]]",
  .doc = "gradient of avg_pool2d: each dy spread over its window, divided by kh·kw",
};

const mlg_op_def mlg_op_global_avg_pool2d = {
  .name = "global_avg_pool2d",
  .cls = MLG_OPC_POOL,
  .min_inputs = 1,
  .max_inputs = 1,
  .infer = global_pool_infer,
  .lower = global_avg_pool2d_lower,
  .cost = global_pool_cost,
  .vjp = global_avg_pool2d_vjp,
  .input_names = "x",
  .shape_doc = "[N, C, H, W] → [N, C, 1, 1]",
  .doc = "mean over H and W, keeping them as 1 (ONNX GlobalAveragePool)",
};

/* layer_norm.c — the normalizations over rows, one kernel (rowwise.h kt_layer_norm):
 *   layer_norm(x, weight?, bias?, eps=1e-5, axis=-1): normalizes over dims axis..rank-1 (ONNX
 *     LayerNormalization; torch layer_norm with normalized_shape = those dims);
 *   rms_norm(x, weight?, eps=1e-6, axis=-1): the same dims, divided by their root mean square
 *     (torch.nn.functional.rms_norm, ONNX RMSNormalization);
 *   group_norm(x, weight?, bias?, groups=G, eps=1e-5): x [N, C, ...] normalized over each of G
 *     groups of C/G channels and all their spatial elements; weight and bias per channel, [C]
 *     (torch.nn.functional.group_norm).
 * layer_norm's and rms_norm's weight and bias, when given, have exactly the normalized dims.
 * Normalized: axis in [0, rank). */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/rowwise.h"

enum { A_EPS, A_AXIS };

static int layer_norm_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  const mlg_type *x = &in[0];
  char s[128], s2[128];
  int axis = mlg_normalize_axis_attr(attrs, A_AXIS, x, err);
  if (axis < 0) return -1;
  mlg_type norm = { .dtype = MLG_F32, .rank = x->rank - axis };
  for (int i = axis; i < x->rank; i++) norm.dims[i - axis] = x->dims[i];
  for (int i = 1; i < n_in; i++) {
    if (!mlg_type_equal(&in[i], &norm)) {
      mlg_shape_errorf(err, i, -1, "%s must be %s (the normalized dims), got %s",
                       i == 1 ? "weight" : "bias", mlg_type_format(&norm, s, sizeof s),
                       mlg_type_format(&in[i], s2, sizeof s2));
      return -1;
    }
  }
  if (!(attrs[A_EPS].f >= 0)) {
    mlg_shape_errorf(err, -1, A_EPS, "'eps' must be >= 0");
    return -1;
  }
  *out = *x;
  return 0;
}

/* The kernel of node `node` given its rows (d: rows, norm_size and the variant's fields). */
static int norm_lower(mlg_lower_ctx *ctx, int node, kt_layer_norm_desc d) {
  const mlg_node *n = &ctx->graph->nodes[node];
  d.has_weight = n->n_inputs >= 2;
  d.has_bias = n->n_inputs >= 3;
  d.subgroups = ctx->subgroups;
  kt_prologue pro = mlg_lower_prologue(ctx, node);
  kt_epilogue epi = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_layer_norm_fused(ctx->out->module, kb.name, &d, pro, epi, &kb.kernel, kb.groups);
  int skip = pro.fn ? 1 : 0; /* a prologue computes x in the kernel's loads */
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs + skip, n->n_inputs - skip);
}

/* Rows are the dims before `axis`; each row of the trailing dims is normalized. */
static int layer_norm_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int axis = (int)mlg_attr_int(n, A_AXIS);
  kt_layer_norm_desc d = {.rows = 1, .norm_size = 1, .eps = mlg_attr_float(n, A_EPS),
                          .rms = n->op->variant,
                          .cpu_vec = mlg_lower_cpu_vectors(ctx) ? 16 : 0};
  for (int i = 0; i < x->rank; i++) *(i < axis ? &d.rows : &d.norm_size) *= x->dims[i];
  return norm_lower(ctx, node, d);
}

/* Over the last dim only, a reader (linear) can normalize its rows as it loads them. */
static int layer_norm_row_norm(const mlg_node *n, mlg_row_norm *out) {
  if (n->type.rank < 1 || mlg_attr_int(n, A_AXIS) != n->type.rank - 1) return -1;
  *out = (mlg_row_norm){.eps = mlg_attr_float(n, A_EPS),
                        .weight = n->n_inputs >= 2 ? n->inputs[1] : -1,
                        .bias = n->n_inputs >= 3 ? n->inputs[2] : -1};
  return 0;
}

/* Per element: the sum and the square sum for the statistics, the shift, the scale by the
 * reciprocal deviation, the weight and the bias (8 in all). */
static void layer_norm_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = 8 * mlg_type_numel(&g->nodes[node].type);
}

/* With D the normalized dims, xhat = (x - mean_D) · rstd, rstd = 1 / sqrt(var_D + eps) and
 * g = dy · weight: dx = rstd (g - mean_D(g) - xhat mean_D(g xhat)); dweight = sum(dy xhat) and
 * dbias = sum(dy) over the leading dims. The statistics are computed again from x. */
static int layer_norm_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx) {
  (void)node;
  const mlg_type x_copy = mlg_build_type(ob, n->inputs[0]), *x = &x_copy;
  int axis = (int)mlg_attr_int(n, A_AXIS), rank = x->rank;
  int64_t norm_axes[MLG_MAX_RANK], lead_axes[MLG_MAX_RANK];
  int n_norm = 0, n_lead = 0;
  for (int d = 0; d < rank; d++) {
    if (d < axis) lead_axes[n_lead++] = d;
    else norm_axes[n_norm++] = d;
  }
  int xin = n->inputs[0];
  int mu = mlg_b_reduce(ob, &mlg_op_mean, xin, n_norm, norm_axes, 1);
  int xc = mlg_b2(ob, &mlg_op_sub, xin, mu);
  int var = mlg_b_reduce(ob, &mlg_op_mean, mlg_b2(ob, &mlg_op_mul, xc, xc), n_norm, norm_axes, 1);
  int rstd = mlg_b1(ob, &mlg_op_rsqrt, mlg_b2(ob, &mlg_op_add, var,
                                                mlg_build_scalar(ob, mlg_attr_float(n, A_EPS))));
  int xhat = mlg_b2(ob, &mlg_op_mul, xc, rstd);
  if (needs[0]) {
    int g = n->n_inputs >= 2 ? mlg_b2(ob, &mlg_op_mul, dy, n->inputs[1]) : dy;
    int mg = mlg_b_reduce(ob, &mlg_op_mean, g, n_norm, norm_axes, 1);
    int mgx = mlg_b_reduce(ob, &mlg_op_mean, mlg_b2(ob, &mlg_op_mul, g, xhat), n_norm, norm_axes, 1);
    int inner = mlg_b2(ob, &mlg_op_sub, mlg_b2(ob, &mlg_op_sub, g, mg), mlg_b2(ob, &mlg_op_mul, xhat, mgx));
    dx[0] = mlg_b2(ob, &mlg_op_mul, rstd, inner);
  }
  if (n->n_inputs >= 2 && needs[1])
    dx[1] = mlg_b_reduce(ob, &mlg_op_sum, mlg_b2(ob, &mlg_op_mul, dy, xhat), n_lead, lead_axes, 0);
  if (n->n_inputs >= 3 && needs[2]) dx[2] = mlg_b_reduce(ob, &mlg_op_sum, dy, n_lead, lead_axes, 0);
  return ob->failed ? -1 : 0;
}

const mlg_op_def mlg_op_layer_norm = {
  .name = "layer_norm",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 3,
  .n_attrs = 2,
  .attrs = {
    { .name = "eps", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(1e-5) },
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = layer_norm_infer,
  .lower = layer_norm_lower,
  .cost = layer_norm_cost,
  .vjp = layer_norm_vjp,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE }, .row_norm = layer_norm_row_norm },
  .input_names = "x, weight?, bias?",
  .shape_doc = "as x",
  .doc = "(x - mean) / sqrt(var + eps) * weight + bias over dims axis..end",
};

/* The square sum, the scale by the reciprocal root and the weight (4 per element). */
static void rms_norm_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = 4 * mlg_type_numel(&g->nodes[node].type);
}

const mlg_op_def mlg_op_rms_norm = {
  .name = "rms_norm",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 2,
  .n_attrs = 2,
  .attrs = {
    { .name = "eps", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(1e-6) },
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = layer_norm_infer,
  .lower = layer_norm_lower,
  .variant = 1, /* kt_layer_norm_desc.rms */
  .cost = rms_norm_cost,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },
  .input_names = "x, weight?",
  .shape_doc = "as x",
  .doc = "x / sqrt(mean(x²) + eps) * weight over dims axis..end",
};

enum { G_GROUPS, G_EPS };

static int group_norm_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  const mlg_type *x = &in[0];
  char s[128];
  if (x->rank < 2) {
    mlg_shape_errorf(err, 0, -1, "x must be [N, C, ...] (rank 2 or more), got %s",
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  int64_t c = x->dims[1], groups = attrs[G_GROUPS].ints[0];
  if (groups < 1 || c % groups != 0) {
    mlg_shape_errorf(err, -1, G_GROUPS, "'groups' (%lld) must divide the %lld channels of x",
                     (long long)groups, (long long)c);
    return -1;
  }
  for (int i = 1; i < n_in; i++) {
    if (in[i].rank != 1 || in[i].dims[0] != c) {
      mlg_shape_errorf(err, i, -1, "%s must be f32[%lld] (one per channel), got %s",
                       i == 1 ? "weight" : "bias", (long long)c, mlg_type_format(&in[i], s, sizeof s));
      return -1;
    }
  }
  if (!(attrs[G_EPS].f >= 0)) {
    mlg_shape_errorf(err, -1, G_EPS, "'eps' must be >= 0");
    return -1;
  }
  *out = *x;
  return 0;
}

/* Rows are the (image, group) pairs; a row holds its group's channels and their elements. */
static int group_norm_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int64_t groups = mlg_attr_int(n, G_GROUPS), spatial = 1;
  for (int i = 2; i < x->rank; i++) spatial *= x->dims[i];
  kt_layer_norm_desc d = {.rows = x->dims[0] * groups,
                          .norm_size = x->dims[1] / groups * spatial,
                          .eps = mlg_attr_float(n, G_EPS), .groups = groups, .spatial = spatial};
  return norm_lower(ctx, node, d);
}

const mlg_op_def mlg_op_group_norm = {
  .name = "group_norm",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 3,
  .n_attrs = 2,
  .attrs = {
    { .name = "groups", .kind = MLG_ATTR_INT, .required = 1 },
    { .name = "eps", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(1e-5) },
  },
  .infer = group_norm_infer,
  .lower = group_norm_lower,
  .cost = layer_norm_cost,
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE } },
  .input_names = "x, weight?, bias?",
  .shape_doc = "as x ([N, C, ...])",
  .doc = "normalizes each group of C/groups channels of x; weight and bias per channel",
};

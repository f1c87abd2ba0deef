/* layer_norm.c — layer_norm(x, weight?, bias?, eps=1e-5, axis=-1): normalizes over dims
 * axis..rank-1 (ONNX LayerNormalization; torch layer_norm with normalized_shape = those dims).
 * weight and bias, when given, have exactly those dims. Normalized: axis in [0, rank). */
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

/* Rows are the dims before `axis`; each row of the trailing dims is normalized. */
static int layer_norm_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int axis = (int)mlg_attr_int(n, A_AXIS);
  kt_layer_norm_desc d = {.rows = 1, .norm_size = 1, .eps = mlg_attr_float(n, A_EPS),
                          .has_weight = n->n_inputs >= 2, .has_bias = n->n_inputs >= 3,
                          .subgroups = ctx->subgroups};
  for (int i = 0; i < x->rank; i++) *(i < axis ? &d.rows : &d.norm_size) *= x->dims[i];
  kt_prologue pro = mlg_lower_prologue(ctx, node);
  kt_epilogue epi = mlg_lower_epilogue(ctx, node);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_layer_norm_fused(ctx->out->module, kb.name, &d, pro, epi, &kb.kernel, kb.groups);
  int skip = pro.fn ? 1 : 0; /* a prologue computes x in the kernel's loads */
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs + skip, n->n_inputs - skip);
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
  .fusion = { .anchor = 1, .inputs = { MLG_IN_PROLOGUE }, .row_norm = layer_norm_row_norm },
  .input_names = "x, weight?, bias?",
  .shape_doc = "as x",
  .doc = "(x - mean) / sqrt(var + eps) * weight + bias over dims axis..end",
};

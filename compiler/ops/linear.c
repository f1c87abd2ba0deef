/* linear.c — linear(x, w, b?) = x @ wᵀ + b with PyTorch's layout: w is [out, in], b is [out]. */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/matmul.h"

static int linear_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_gemm_float(in, n_in, err)) return -1;
  const mlg_type *x = &in[0], *w = &in[1];
  char s[128];
  if (x->rank < 1) {
    mlg_shape_errorf(err, 0, -1, "input is a scalar; linear needs rank >= 1");
    return -1;
  }
  if (mlg_require_rank(w, 1, 2, "[out_features, in_features]", err)) return -1;
  int64_t k = x->dims[x->rank - 1];
  if (w->dims[1] != k) {
    mlg_shape_errorf(err, 1, -1, "weight %s expects %lld input features, input has %lld",
                     mlg_type_format(w, s, sizeof s), (long long)w->dims[1], (long long)k);
    return -1;
  }
  if (n_in == 3 && (in[2].rank != 1 || in[2].dims[0] != w->dims[0])) {
    mlg_shape_errorf(err, 2, -1, "bias must be %s[%lld], got %s", mlg_dtype_name(x->dtype),
                     (long long)w->dims[0], mlg_type_format(&in[2], s, sizeof s));
    return -1;
  }
  *out = *x;
  out->dims[x->rank - 1] = w->dims[0];
  return 0;
}

/* x [..., K] is an (M = rows) x K matrix; w [N, K] is B transposed. Fused, x and w may be
 * strided views, a layer_norm of x may be computed in the loads of x (pre-norm), the result
 * may be stored through a transpose, and an epilogue may follow. */
static int lower_linear(mlg_lower_ctx *ctx, int node, int softmax) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *w = &ctx->graph->nodes[n->inputs[1]].type;
  kt_matmul_desc d = {0};
  d.k = x->dims[x->rank - 1];
  d.m = mlg_type_numel(x) / d.k;
  d.n = w->dims[0];
  d.trans_b = 1;
  d.has_bias = n->n_inputs == 3;
  d.row_softmax = softmax;
  mlg_layout la, lb;
  int64_t cs[MLG_MAX_RANK] = {d.n, 1}, mk[2] = {d.m, d.k};
  if (mlg_lower_operand(ctx, node, 0, &la) || mlg_lower_operand(ctx, node, 1, &lb) ||
      (!softmax && mlg_lower_store_strides(ctx, node, cs) != 2))
    return -1;
  if (mlg_layout_reshape(&la, 2, mk, &la))
    return mlg_lower_fail(ctx, node, "internal error: linear input rows are not strided");
  d.strided = ctx->fusion != NULL;
  d.a_offset = la.offset;
  d.a_stride_m = la.strides[0];
  d.a_stride_k = la.strides[1];
  d.b_offset = lb.offset;
  d.b_stride_n = lb.strides[0];
  d.b_stride_k = lb.strides[1];
  d.c_stride_m = cs[0];
  d.c_stride_n = cs[1];
  mlg_row_norm rn;
  if (!softmax && mlg_lower_pre_norm(ctx, node, &rn) >= 0) {
    d.a_norm = 1;
    d.a_norm_eps = rn.eps;
    d.a_norm_weight = rn.weight >= 0;
    d.a_norm_bias = rn.bias >= 0;
  }
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_lower_gemm_storage(ctx, node, &d, la.tensor, lb.tensor, d.has_bias ? n->inputs[2] : -1);
  /* The GEMM's buffers: a (x), b (w), bias, the row norm's weight and bias, then c. */
  int inputs[5], n_in = 0;
  inputs[n_in++] = la.tensor;
  inputs[n_in++] = lb.tensor;
  if (d.has_bias) inputs[n_in++] = n->inputs[2];
  if (d.a_norm_weight) inputs[n_in++] = rn.weight;
  if (d.a_norm_bias) inputs[n_in++] = rn.bias;
  return mlg_lower_gemm(ctx, node, &d, inputs, n_in);
}

static int linear_lower(mlg_lower_ctx *ctx, int node) { return lower_linear(ctx, node, 0); }

/* The dims the GEMM iterates: [rows, N], rows = every leading dim of x. */
static int linear_iter_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]) {
  const mlg_type *t = &g->nodes[node].type;
  int64_t cols = t->dims[t->rank - 1];
  dims[0] = mlg_type_numel(t) / cols;
  dims[1] = cols;
  return 2;
}

/* Each output element is a K-long dot product (2·K flops) plus its bias. */
static void linear_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *x = &g->nodes[n->inputs[0]].type;
  int64_t y = mlg_type_numel(&n->type);
  out->flops = 2 * y * x->dims[x->rank - 1] + (n->n_inputs == 3 ? y : 0);
}

/* With x as rows [R, K] and dy as [R, N]: dx = dy @ w, dw = dyᵀ @ x, db = the column sums
 * of dy. */
static int linear_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                      int *dx) {
  (void)node;
  const mlg_type x_copy = mlg_build_type(ob, n->inputs[0]), *x = &x_copy;
  int64_t k = x->dims[x->rank - 1], cols = n->type.dims[n->type.rank - 1];
  int64_t rows = mlg_type_numel(x) / k;
  if (needs[0]) dx[0] = mlg_b2(ob, &mlg_op_matmul, dy, n->inputs[1]);
  int64_t dy_dims[2] = {rows, cols}, x_dims[2] = {rows, k};
  int dy2 = mlg_b_reshape(ob, dy, 2, dy_dims);
  if (needs[1]) {
    static const int swap[2] = {1, 0};
    int x2 = mlg_b_reshape(ob, n->inputs[0], 2, x_dims);
    dx[1] = mlg_b2(ob, &mlg_op_matmul, mlg_b_transpose(ob, dy2, swap), x2);
  }
  if (n->n_inputs == 3 && needs[2]) {
    int64_t axis0 = 0;
    dx[2] = mlg_b_reduce(ob, &mlg_op_sum, dy2, 1, &axis0, 0);
  }
  return ob->failed ? -1 : 0;
}

static const mlg_op_spelling linear_foreign[] = {{"dense", "linear(x, weight, bias)"}, {NULL, NULL}};

const mlg_op_def mlg_op_linear = {
  .name = "linear",
  .cls = MLG_OPC_MATMUL,
  .min_inputs = 2,
  .max_inputs = 3,
  .infer = linear_infer,
  .lower = linear_lower,
  .cost = linear_cost,
  .vjp = linear_vjp,
  .algebra = { .channel_linear_rank = 2 },  /* [N, C]: channel o = x · weight[o] + bias[o] */
  /* x is read as [rows, K] rows (and may be normalized in its loads), w as [N, K]. */
  .fusion = {
    .anchor = 1,
    .store_strided = 1,
    .blocked = 1,
    .inputs = { MLG_IN_STRIDED | MLG_IN_ROWS | MLG_IN_ROW_NORM, MLG_IN_STRIDED },
    .iter_dims = linear_iter_dims,
  },
  .input_names = "x, weight, bias?",
  .shape_doc = "[..., in] → [..., out]",
  .doc = "x @ weight^T + bias (torch.nn.functional.linear)",
  .foreign = linear_foreign,
};

/* ---- linear_softmax: softmax(linear(x, w, b), axis=-1), a classifier head in one kernel ---- */

static int linear_softmax_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                                mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err) || linear_infer(in, n_in, attrs, out, err)) return -1;
  if (in[1].dims[0] > KT_MATMUL_SOFTMAX_MAX_N) {
    mlg_shape_errorf(err, 1, -1, "linear_softmax takes at most %d output features (the weight "
                     "has %lld); write softmax(linear(x, weight, bias))", KT_MATMUL_SOFTMAX_MAX_N,
                     (long long)in[1].dims[0]);
    return -1;
  }
  return 0;
}

/* On CPUs each work-item takes whole rows: the dot products, the bias, then the row's softmax
 * (matmul_cpu.c's "nt" kernel with row_softmax). Removes a launch and a tensor: on PoCL the
 * MLP's head (256 × 10 outputs) ran as a linear and a softmax in 38 µs of device time plus a
 * launch, and runs in 20–24. Other devices run the GEMM and the softmax kernel
 * (mlg_lower_gemm). */
static int linear_softmax_lower(mlg_lower_ctx *ctx, int node) { return lower_linear(ctx, node, 1); }

/* The linear's FLOPs and the softmax's per output. */
static void linear_softmax_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  linear_cost(g, node, out);
  out->flops += MLG_SOFTMAX_FLOPS * mlg_type_numel(&g->nodes[node].type);
}

/* The softmax's backward along the last axis (y the node), then the linear's. */
static int linear_softmax_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                              const char *needs, int *dx) {
  int dz = mlg_b_softmax_grad(ob, node, dy, n->type.rank - 1);
  if (ob->failed) return -1;
  return linear_vjp(ob, n, node, dz, needs, dx);
}

/* softmax(linear(x, w, b?), axis=-1) with at most KT_MATMUL_SOFTMAX_MAX_N columns, the linear
 * read by nothing else. */
static int linear_softmax_recognize(const mlg_graph *g, int root, const int *uses,
                                    mlg_recognized *out) {
  const mlg_node *r = &g->nodes[root];
  if (r->kind != MLG_NODE_OP || r->op != &mlg_op_softmax || r->n_inputs != 1 ||
      mlg_attr_int(r, 0) != r->type.rank - 1)
    return -1;
  const int z = r->inputs[0];
  const mlg_node *l = &g->nodes[z];
  if (l->kind != MLG_NODE_OP || l->op != &mlg_op_linear || uses[z] != 1 ||
      l->type.dims[l->type.rank - 1] > KT_MATMUL_SOFTMAX_MAX_N)
    return -1;
  *out = (mlg_recognized){.n_inputs = l->n_inputs};
  for (int i = 0; i < l->n_inputs; i++) out->inputs[i] = l->inputs[i];
  return 0;
}

const mlg_op_def mlg_op_linear_softmax = {
  .name = "linear_softmax",
  .cls = MLG_OPC_MATMUL,
  .min_inputs = 2,
  .max_inputs = 3,
  .infer = linear_softmax_infer,
  .lower = linear_softmax_lower,
  .cost = linear_softmax_cost,
  .vjp = linear_softmax_vjp,
  .algebra = { .recognize = linear_softmax_recognize },
  /* x and w are read as stored (contiguous along K); the epilogue sees the softmax's values. */
  .fusion = { .anchor = 1, .blocked = 1 },
  .input_names = "x, weight, bias?",
  .shape_doc = "[..., in] → [..., out], out <= 16",
  .doc = "softmax(x @ weight^T + bias, axis=-1) in one kernel (a classifier head); -O2 makes it "
         "of softmax(linear(...)) along the last axis",
};

/* matmul.c — matmul(a, b) as numpy.matmul: batched over leading dims (broadcast), a 1-D
 * operand is treated as a row (a) or column (b) vector whose unit dim is dropped again. */
#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/matmul.h"

static int matmul_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_gemm_float(in, n_in, err)) return -1;
  const mlg_type *a = &in[0], *b = &in[1];
  for (int i = 0; i < 2; i++) {
    if (in[i].rank < 1) {
      mlg_shape_errorf(err, i, -1, "input %d is a scalar; matmul needs rank >= 1", i);
      return -1;
    }
  }
  int64_t ka = a->dims[a->rank - 1];
  int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  if (ka != kb) {
    mlg_shape_errorf(err, -1, -1, "inner dimensions differ (%lld vs %lld)", (long long)ka,
                     (long long)kb);
    return -1;
  }
  /* Batch dims: everything before the last two (none for 1-D and 2-D operands). */
  mlg_type ba = { .dtype = MLG_F32, .rank = a->rank > 2 ? a->rank - 2 : 0 };
  mlg_type bb = { .dtype = MLG_F32, .rank = b->rank > 2 ? b->rank - 2 : 0 };
  for (int i = 0; i < ba.rank; i++) ba.dims[i] = a->dims[i];
  for (int i = 0; i < bb.rank; i++) bb.dims[i] = b->dims[i];
  mlg_type t;
  if (mlg_broadcast_types(&ba, &bb, &t, err)) {
    mlg_shape_errorf(err, -1, -1, "batch dimensions do not broadcast");
    return -1;
  }
  if (a->rank >= 2) {
    if (t.rank >= MLG_MAX_RANK) goto too_deep;
    t.dims[t.rank++] = a->dims[a->rank - 2];
  }
  if (b->rank >= 2) {
    if (t.rank >= MLG_MAX_RANK) goto too_deep;
    t.dims[t.rank++] = b->dims[b->rank - 1];
  }
  t.dtype = a->dtype;
  *out = t;
  return 0;
too_deep:
  mlg_shape_errorf(err, -1, -1, "result rank exceeds the limit of %d", MLG_MAX_RANK);
  return -1;
}

/* Batch dims the GEMM does not need: dims of size 1, and innermost ones along which B is
 * broadcast while A's and C's rows run on from one batch into the next (a [B, T, C] activation
 * times a [C, N] weight): their rows join M, one GEMM of B·T rows in place of B of T, with the
 * same output element at each (row, col) and so the same linear index for an epilogue. A GEMM
 * with batches keeps the kernels that take a batch index (on CPUs, B unpacked: 34% of peak on
 * the GPT-2 block's projections, where the plain "nn" kernel on packed panels runs at 85%). */
static void fold_batches(kt_matmul_desc *d) {
  int kept = 0;
  for (int i = 0; i < d->n_batch; i++) /* size-1 dims index nothing */
    if (d->batch[i] != 1) {
      d->batch[kept] = d->batch[i];
      d->a_batch_stride[kept] = d->a_batch_stride[i];
      d->b_batch_stride[kept] = d->b_batch_stride[i];
      d->c_batch_stride[kept] = d->c_batch_stride[i];
      kept++;
    }
  d->n_batch = kept;
  while (d->n_batch > 0) {
    const int i = d->n_batch - 1;
    if (d->b_batch_stride[i] != 0 || d->a_stride_m == 0 || d->a_batch_stride[i] != d->m * d->a_stride_m ||
        d->c_batch_stride[i] != d->m * d->c_stride_m)
      break;
    d->m *= d->batch[i];
    d->n_batch--;
  }
}

/* Numpy semantics on the template's [batch..., M, K] x [batch..., K, N]: a 1-D a is one row,
 * a 1-D b one column; batch dims broadcast right-aligned, a size-1 (or missing) operand dim
 * getting stride 0. Fused, the operands may be strided views (folded transposes and slices),
 * the result may be stored through a transpose, and an epilogue may follow. */
static int matmul_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *a = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_type *b = &ctx->graph->nodes[n->inputs[1]].type;
  kt_matmul_desc d = {0};
  d.m = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  d.k = a->dims[a->rank - 1];
  d.n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
  int nb = ra > rb ? ra : rb;
  if (nb > KT_MATMUL_MAX_BATCH)
    return mlg_lower_fail(ctx, node, "matmul: %d batch dimensions (at most %d supported)", nb,
                          KT_MATMUL_MAX_BATCH);
  mlg_layout la, lb;
  int64_t cs[MLG_MAX_RANK];
  if (mlg_lower_operand(ctx, node, 0, &la) || mlg_lower_operand(ctx, node, 1, &lb) ||
      mlg_lower_store_strides(ctx, node, cs) != nb + 2)
    return -1;
  d.n_batch = nb;
  for (int i = 0; i < nb; i++) {
    int ia = i - (nb - ra), ib = i - (nb - rb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    d.batch[i] = da > db ? da : db;
    d.a_batch_stride[i] = da == 1 ? 0 : la.strides[ia];
    d.b_batch_stride[i] = db == 1 ? 0 : lb.strides[ib];
    d.c_batch_stride[i] = cs[i];
  }
  /* Unfused, the template's own contiguous layouts (same numbers, simpler kernel text). */
  d.strided = ctx->fusion != NULL;
  d.a_offset = la.offset;
  d.a_stride_m = a->rank == 1 ? 0 : la.strides[a->rank - 2];
  d.a_stride_k = la.strides[a->rank - 1];
  d.b_offset = lb.offset;
  d.b_stride_k = lb.strides[b->rank == 1 ? 0 : b->rank - 2];
  d.b_stride_n = b->rank == 1 ? 0 : lb.strides[b->rank - 1];
  d.c_stride_m = cs[nb];
  d.c_stride_n = cs[nb + 1];
  fold_batches(&d);
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_lower_gemm_storage(ctx, node, &d, la.tensor, lb.tensor, -1);
  int inputs[2] = {la.tensor, lb.tensor};
  return mlg_lower_gemm(ctx, node, &d, inputs, 2);
}

/* The dims the matmul template iterates: [batch..., M, N], M or N 1 for a 1-D operand. */
static int matmul_iter_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *a = &g->nodes[n->inputs[0]].type, *b = &g->nodes[n->inputs[1]].type;
  int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
  int nb = ra > rb ? ra : rb;
  if (nb + 2 > MLG_MAX_RANK) return -1;
  for (int i = 0; i < nb; i++) {
    int ia = i - (nb - ra), ib = i - (nb - rb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    dims[i] = da > db ? da : db;
  }
  dims[nb] = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  dims[nb + 1] = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  return nb + 2;
}

/* Each output element is a K-long dot product: 2·K flops. */
static void matmul_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *a = &g->nodes[n->inputs[0]].type;
  out->flops = 2 * mlg_type_numel(&n->type) * a->dims[a->rank - 1];
}

/* The last two dims swapped. */
static int swap_last2(mlg_op_builder *ob, int x) {
  int r = mlg_build_type(ob, x).rank, perm[MLG_MAX_RANK];
  for (int d = 0; d < r; d++) perm[d] = d;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return mlg_b_transpose(ob, x, perm);
}

/* With 1-D operands made 2-D (a [K] as [1, K], b [K] as [K, 1]) and dy given their unit dims:
 * da = dy @ bᵀ and db = aᵀ @ dy, each summed over the batch dims broadcasting added. */
static int matmul_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                      int *dx) {
  (void)node;
  const mlg_type ta = mlg_build_type(ob, n->inputs[0]), tb = mlg_build_type(ob, n->inputs[1]);
  mlg_type a2 = ta, b2 = tb, y2 = n->type;
  if (ta.rank == 1) a2 = (mlg_type){.dtype = ta.dtype, .rank = 2, .dims = {1, ta.dims[0]}};
  if (tb.rank == 1) b2 = (mlg_type){.dtype = tb.dtype, .rank = 2, .dims = {tb.dims[0], 1}};
  if (ta.rank == 1) {
    /* y lacks the M dim: put a 1 back before its last dim (or at the end, for b 1-D too). */
    int at = tb.rank == 1 ? y2.rank : y2.rank - 1;
    for (int d = y2.rank; d > at; d--) y2.dims[d] = y2.dims[d - 1];
    y2.dims[at] = 1;
    y2.rank++;
  }
  if (tb.rank == 1) y2.dims[y2.rank++] = 1;
  int a = mlg_b_reshape_as(ob, n->inputs[0], a2), b = mlg_b_reshape_as(ob, n->inputs[1], b2);
  int g = mlg_b_reshape_as(ob, dy, y2);
  if (needs[0]) {
    int da = mlg_b2(ob, &mlg_op_matmul, g, swap_last2(ob, b));
    dx[0] = mlg_b_reshape_as(ob, mlg_b_sum_to(ob, da, a2), ta);
  }
  if (needs[1]) {
    int db = mlg_b2(ob, &mlg_op_matmul, swap_last2(ob, a), g);
    dx[1] = mlg_b_reshape_as(ob, mlg_b_sum_to(ob, db, b2), tb);
  }
  return ob->failed ? -1 : 0;
}

static const mlg_op_spelling matmul_foreign[] = {
  {"mm", "matmul(a, b), or a @ b"}, {"bmm", "matmul(a, b), or a @ b"}, {NULL, NULL},
};

const mlg_op_def mlg_op_matmul = {
  .name = "matmul",
  .cls = MLG_OPC_MATMUL,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = matmul_infer,
  .lower = matmul_lower,
  .algebra = { .operator_sym = '@' },
  .cost = matmul_cost,
  .vjp = matmul_vjp,
  /* Operands are strided views (any batch, row and column strides); stores go anywhere. */
  .fusion = {
    .anchor = 1,
    .store_strided = 1,
    .blocked = 1,
    .inputs = { MLG_IN_STRIDED, MLG_IN_STRIDED },
    .iter_dims = matmul_iter_dims,
  },
  .input_names = "a, b",
  .shape_doc = "[..., M, K] @ [..., K, N] → [..., M, N] (batch dims broadcast)",
  .doc = "matrix product as numpy.matmul (the @ operator)",
  .foreign = matmul_foreign,
};

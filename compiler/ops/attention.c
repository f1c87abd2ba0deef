/* attention.c — scaled_dot_product_attention(q, k, v, mask?, causal=0, scale=1/sqrt(d)) as
 * torch.nn.functional.scaled_dot_product_attention: softmax(q @ kᵀ · scale + mask) @ v over
 * q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv], the leading (batch, head) dims broadcasting
 * as in matmul. The mask is f32 (added to the scores) or bool (true = keep) and broadcasts to
 * [..., Tq, Tk]; causal=1 keeps key j for query i when j <= i (torch's is_causal, aligned
 * top-left when Tq ≠ Tk). torch refuses a mask together with is_causal; mlg applies both (as
 * ONNX Attention does). q, k and v are all f32 or all f16 (the result's dtype). One fused kernel (templates/attention.h), and a tensor-core variant of it
 * where q, k and v are stored as halves (templates/attention_mma.c).
 * Normalized: scale is always set (1/sqrt(d) when not given). */
#include <math.h>

#include "op_defs.h"
#include "op_util.h"
#include "../lower_util.h"
#include "templates/attention.h"
#include "templates/matmul.h"

enum { A_CAUSAL, A_SCALE };
enum { IN_Q, IN_K, IN_V, IN_MASK };

/* The leading dims of t (all but the last two) as a type. */
static mlg_type batch_of(const mlg_type *t) {
  mlg_type b = {.dtype = t->dtype, .rank = t->rank - 2};
  for (int i = 0; i < b.rank; i++) b.dims[i] = t->dims[i];
  return b;
}

static int attention_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                           mlg_shape_error *err) {
  static const char *const names[] = {"q", "k", "v", "mask"};
  char s[128];
  /* q, k and v all f32, or all f16 (an f16 result; the arithmetic stays f32, and on tensor
   * cores both products take the halves as they are). */
  if (mlg_require_gemm_float(in, 3, err)) return -1;
  for (int i = 0; i < 3; i++) {
    if (in[i].rank < 2) {
      mlg_shape_errorf(err, i, -1, "%s must be [..., %s], got %s", names[i],
                       i == 0 ? "Tq, d" : i == 1 ? "Tk, d" : "Tk, dv",
                       mlg_type_format(&in[i], s, sizeof s));
      return -1;
    }
  }
  const mlg_type *q = &in[IN_Q], *k = &in[IN_K], *v = &in[IN_V];
  int64_t tq = q->dims[q->rank - 2], d = q->dims[q->rank - 1];
  int64_t tk = k->dims[k->rank - 2], dv = v->dims[v->rank - 1];
  if (k->dims[k->rank - 1] != d) {
    mlg_shape_errorf(err, IN_K, -1, "q and k head dims differ (%lld vs %lld)", (long long)d,
                     (long long)k->dims[k->rank - 1]);
    return -1;
  }
  if (v->dims[v->rank - 2] != tk) {
    mlg_shape_errorf(err, IN_V, -1, "k and v key counts differ (%lld vs %lld)", (long long)tk,
                     (long long)v->dims[v->rank - 2]);
    return -1;
  }
  mlg_type bq = batch_of(q), bk = batch_of(k), bv = batch_of(v), t;
  if (mlg_broadcast_types(&bq, &bk, &t, err) || mlg_broadcast_types(&t, &bv, &t, err)) {
    mlg_shape_errorf(err, -1, -1, "the leading dims of q, k and v do not broadcast");
    return -1;
  }
  if (t.rank + 2 > MLG_MAX_RANK) {
    mlg_shape_errorf(err, -1, -1, "result rank exceeds the limit of %d", MLG_MAX_RANK);
    return -1;
  }
  t.dtype = q->dtype;
  t.dims[t.rank++] = tq;
  t.dims[t.rank++] = dv;
  if (n_in > IN_MASK) {
    const mlg_type *mk = &in[IN_MASK];
    if (mk->dtype != MLG_F32 && mk->dtype != MLG_BOOL) {
      mlg_shape_errorf(err, IN_MASK, -1, "mask must be f32 (added to the scores) or bool (true "
                       "= keep), got %s", mlg_dtype_name(mk->dtype));
      return -1;
    }
    /* The scores are [..., Tq, Tk]: the mask must broadcast to them without widening them. */
    mlg_type scores = t, b;
    scores.dims[scores.rank - 1] = tk;
    scores.dtype = mk->dtype;
    if (mlg_broadcast_types(&scores, mk, &b, err) || !mlg_type_equal(&b, &scores)) {
      char ss[128];
      scores.dtype = MLG_F32;
      mlg_shape_errorf(err, IN_MASK, -1, "mask %s does not broadcast to the scores %s "
                       "([..., Tq, Tk])", mlg_type_format(mk, s, sizeof s),
                       mlg_type_format(&scores, ss, sizeof ss));
      return -1;
    }
  }
  if (mlg_require_bool(&attrs[A_CAUSAL], A_CAUSAL, "causal", err)) return -1;
  if (attrs[A_SCALE].kind == MLG_ATTR_NONE) {
    attrs[A_SCALE] = (mlg_attr){.kind = MLG_ATTR_FLOAT, .n = 1, .f = 1.0 / sqrt((double)d)};
  } else if (!isfinite(attrs[A_SCALE].f)) {
    mlg_shape_errorf(err, -1, A_SCALE, "scale must be a finite number");
    return -1;
  }
  if (mlg_check_type_limits(&t, err)) return -1;
  *out = t;
  return 0;
}

/* View `l` of an operand of type t, right-aligned to the output's n_batch batch dims; its last
 * two dims are the view's rows and columns (a mask of rank < 2 broadcasts along them). */
static void to_view(const mlg_type *t, const mlg_layout *l, int n_batch, kt_attn_view *w) {
  *w = (kt_attn_view){.offset = l->offset};
  int r = t->rank;
  w->stride_c = r >= 1 && t->dims[r - 1] > 1 ? l->strides[r - 1] : 0;
  w->stride_r = r >= 2 && t->dims[r - 2] > 1 ? l->strides[r - 2] : 0;
  for (int i = 0; i < n_batch; i++) {
    int it = i - (n_batch - (r - 2));
    w->batch_stride[i] = it >= 0 && t->dims[it] > 1 ? l->strides[it] : 0;
  }
}

static int attention_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_graph *g = ctx->graph;
  const mlg_node *n = &g->nodes[node];
  const mlg_type *o = &n->type, *q = &g->nodes[n->inputs[IN_Q]].type;
  int nb = o->rank - 2;
  if (nb > KT_ATTN_MAX_BATCH)
    return mlg_lower_fail(ctx, node, "scaled_dot_product_attention: %d leading dims (at most %d "
                          "supported)", nb, KT_ATTN_MAX_BATCH);
  kt_attention_desc d = {
    .tq = o->dims[nb], .dv = o->dims[nb + 1], .d = q->dims[q->rank - 1],
    .tk = g->nodes[n->inputs[IN_K]].type.dims[g->nodes[n->inputs[IN_K]].type.rank - 2],
    .n_batch = nb, .causal = (int)mlg_attr_int(n, A_CAUSAL), .scale = mlg_attr_float(n, A_SCALE),
    .device_class = ctx->device_class, .local_mem_bytes = ctx->local_mem_bytes,
    .max_vec = mlg_lower_max_vec(ctx),
  };
  for (int i = 0; i < nb; i++) d.batch[i] = o->dims[i];
  mlg_layout l[4];
  int inputs[4];
  kt_attn_view *views[4] = {&d.q, &d.k, &d.v, &d.mask};
  for (int i = 0; i < n->n_inputs; i++) {
    if (mlg_lower_operand(ctx, node, i, &l[i])) return -1;
    to_view(&g->nodes[n->inputs[i]].type, &l[i], nb, views[i]);
    inputs[i] = l[i].tensor;
  }
  /* The kernels declare q, k, v and out as stored (an f16 value's buffer is the template's to
   * declare); tensor cores where q, k and v are halves (attention_mma.c), chosen at load. */
  d.q_elem = mlg_lower_tensor_scalar(ctx, inputs[IN_Q]);
  d.k_elem = mlg_lower_tensor_scalar(ctx, inputs[IN_K]);
  d.v_elem = mlg_lower_tensor_scalar(ctx, inputs[IN_V]);
  d.out_elem = mlg_lower_tensor_scalar(ctx, mlg_lower_store_tensor(ctx, node));
  /* Not for Vulkan: on the H200 through NVIDIA's Vulkan driver the cooperative-matrix form ran
   * the unmasked and masked forms 2-7x slower than its fallback (T = 1024: 0.79 against the
   * causal form's 0.115 ms; the f16 GPT-2 block 5.9 ms against 1.4), where the PTX form through
   * OpenCL is 5x faster than the fallback (docs/performance.md, "Attention"). */
  d.mma = ctx->target != 2 /* MLGB_TARGET_VULKAN */;
  if (n->n_inputs > IN_MASK)
    d.mask_kind = g->nodes[n->inputs[IN_MASK]].type.dtype == MLG_F32 ? KT_ATTN_MASK_ADD
                                                                     : KT_ATTN_MASK_BOOL;
  int64_t cs[MLG_MAX_RANK];
  if (mlg_lower_store_strides(ctx, node, cs) != o->rank) return -1;
  for (int i = 0; i < nb; i++) d.out.batch_stride[i] = cs[i];
  d.out.stride_r = cs[nb];
  d.out.stride_c = cs[nb + 1];
  mlg_kernel_build kb;
  /* CPU: K transposed by a helper on every run, then keys as vector lanes (attention.h). */
  if (kt_attention_keys_applies(&d)) {
    int kt = ctx->temp(ctx, kt_attention_kt_elems(&d) * 4);
    if (kt < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
    mlg_lower_begin_helper(ctx, node, "k_t", kt, &kb);
    int rc = kt_attention_kt(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
    if (mlg_lower_finish(ctx, node, &kb, rc, &inputs[IN_K], 1)) return -1;
    d.k_transposed = 1;
    inputs[IN_K] = kt;
  }
  d.epilogue = mlg_lower_epilogue(ctx, node);
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_attention(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, inputs, n->n_inputs);
}

/* Per query and key: the score (2·d), the softmax (about 5) and the weighted value (2·dv). */
static void attention_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  const mlg_node *n = &g->nodes[node];
  const mlg_type *o = &n->type, *q = &g->nodes[n->inputs[IN_Q]].type;
  const mlg_type *k = &g->nodes[n->inputs[IN_K]].type;
  int64_t rows = mlg_type_numel(o) / o->dims[o->rank - 1];
  int64_t tk = k->dims[k->rank - 2];
  out->flops = rows * tk * (2 * q->dims[q->rank - 1] + 5 + 2 * o->dims[o->rank - 1]);
}

/* ---- recognizing attention written as matmul → (scale) → (mask) → softmax → matmul ---- */

/* Node id's op node when it is op `op` with n inputs, read by nothing but one consumer. */
static const mlg_node *sole(const mlg_graph *g, const int *uses, int id, const mlg_op_def *op,
                            int n) {
  const mlg_node *nd = &g->nodes[id];
  if (nd->kind != MLG_NODE_OP || nd->op != op || nd->n_inputs != n || uses[id] != 1) return NULL;
  return nd;
}

/* The value of a one-element f32 const, in *out. */
static int scalar_const(const mlg_graph *g, int id, double *out) {
  const mlg_node *nd = &g->nodes[id];
  if (nd->kind != MLG_NODE_CONST || !nd->data || nd->type.dtype != MLG_F32 ||
      mlg_type_numel(&nd->type) != 1)
    return -1;
  *out = ((const float *)nd->data)[0];
  return 0;
}

/* s = z, z·c, c·z or z / c with z = q @ kᵀ: fills q, kᵀ and the scale; 0 or -1. */
static int scaled_scores(const mlg_graph *g, const int *uses, int s, int *q, int *kt,
                         double *scale) {
  const mlg_node *nd = &g->nodes[s], *z = NULL;
  *scale = 1.0;
  double c = 1.0;
  if ((nd = sole(g, uses, s, &mlg_op_mul, 2)) != NULL) {
    if (scalar_const(g, nd->inputs[1], &c) == 0) z = sole(g, uses, nd->inputs[0], &mlg_op_matmul, 2);
    else if (scalar_const(g, nd->inputs[0], &c) == 0) z = sole(g, uses, nd->inputs[1], &mlg_op_matmul, 2);
    *scale = c;
  } else if ((nd = sole(g, uses, s, &mlg_op_div, 2)) != NULL) {
    if (scalar_const(g, nd->inputs[1], &c) == 0 && c != 0.0) {
      z = sole(g, uses, nd->inputs[0], &mlg_op_matmul, 2);
      *scale = 1.0 / c;
    }
  } else {
    z = sole(g, uses, s, &mlg_op_matmul, 2);
  }
  /* The scale may not widen the scores (a const of a higher rank broadcasts them). */
  if (!z || (nd && !mlg_type_equal(&nd->type, &z->type))) return -1;
  *q = z->inputs[0];
  *kt = z->inputs[1];
  return g->nodes[*q].type.rank >= 2 && g->nodes[*kt].type.rank >= 2 ? 0 : -1;
}

/* Whether const `mask` is exactly causal for scores of t × t: f32, one [t, t] matrix for every
 * batch item (leading dims of 1), 0 on and below the diagonal and −1e9 or less above it (the
 * causal_mask builtin's). Such a mask is the causal flag: the kernel skips the keys past each
 * query instead of adding −1e9 to their scores, and their exps are 0 either way while no score
 * comes within 1e9 of that. */
static int causal_const(const mlg_graph *g, int mask, int64_t t) {
  const mlg_node *m = &g->nodes[mask];
  const int r = m->type.rank;
  if (m->kind != MLG_NODE_CONST || !m->data || m->type.dtype != MLG_F32 || r < 2 || m->type.dims[r - 2] != t ||
      m->type.dims[r - 1] != t)
    return 0;
  for (int d = 0; d < r - 2; d++)
    if (m->type.dims[d] != 1) return 0;
  const float *v = m->data;
  for (int64_t i = 0; i < t; i++)
    for (int64_t j = 0; j < t; j++)
      if (j <= i ? v[i * t + j] != 0.0f : !(v[i * t + j] <= -1e9f)) return 0;
  return 1;
}

/* root = softmax(scores (+ mask), axis=-1) @ v, the scores as scaled_scores reads them. */
static int attention_recognize(const mlg_graph *g, int root, const int *uses, mlg_recognized *out) {
  const mlg_node *r = &g->nodes[root];
  if (r->kind != MLG_NODE_OP || r->op != &mlg_op_matmul || r->n_inputs != 2) return -1;
  const mlg_node *p = sole(g, uses, r->inputs[0], &mlg_op_softmax, 1);
  int v = r->inputs[1];
  if (!p || g->nodes[v].type.rank < 2 || mlg_attr_int(p, 0) != p->type.rank - 1) return -1;
  int q, kt, mask = -1;
  double scale;
  if (scaled_scores(g, uses, p->inputs[0], &q, &kt, &scale) != 0) {
    const mlg_node *a = sole(g, uses, p->inputs[0], &mlg_op_add, 2);
    if (!a) return -1;
    int side = scaled_scores(g, uses, a->inputs[0], &q, &kt, &scale) == 0 ? 0
             : scaled_scores(g, uses, a->inputs[1], &q, &kt, &scale) == 0 ? 1 : -1;
    if (side < 0 || !mlg_type_equal(&a->type, &g->nodes[a->inputs[side]].type)) return -1;
    mask = a->inputs[1 - side];
  }
  const int64_t tq = p->type.dims[p->type.rank - 2], tk = p->type.dims[p->type.rank - 1];
  const int causal = mask >= 0 && tq == tk && causal_const(g, mask, tq);
  if (causal) mask = -1;
  *out = (mlg_recognized){.n_inputs = mask >= 0 ? 4 : 3, .inputs = {q, kt, v, mask},
                          .swap_last2 = 2u};
  out->attrs[A_CAUSAL] = (mlg_attr)MLG_DEFAULT_INT(causal);
  out->attrs[A_SCALE] = (mlg_attr){.kind = MLG_ATTR_FLOAT, .n = 1, .f = scale};
  return 0;
}

static const mlg_op_spelling attention_foreign[] = {
  {"sdpa", "scaled_dot_product_attention(q, k, v, mask?, causal=0, scale=1/sqrt(d))"},
  {"attention", "scaled_dot_product_attention(q, k, v, mask?, causal=0, scale=1/sqrt(d))"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_scaled_dot_product_attention = {
  .name = "scaled_dot_product_attention",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 3,
  .max_inputs = 4,
  .n_attrs = 2,
  .attrs = {
    { .name = "causal", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(0) },
    { .name = "scale", .kind = MLG_ATTR_FLOAT },
  },
  .infer = attention_infer,
  .lower = attention_lower,
  .cost = attention_cost,
  .algebra = { .recognize = attention_recognize },
  /* Every operand a strided view (heads split by transposes need no copy); the output may be
   * stored through the transpose and reshape that merge the heads again. */
  .fusion = {
    .anchor = 1,
    .store_strided = 1,
    .blocked = 1,
    .inputs = { MLG_IN_STRIDED, MLG_IN_STRIDED, MLG_IN_STRIDED, MLG_IN_STRIDED },
  },
  .input_names = "q, k, v, mask?",
  .shape_doc = "[..., Tq, d], [..., Tk, d], [..., Tk, dv] → [..., Tq, dv]",
  .doc = "softmax(q @ kᵀ · scale + mask) @ v in one kernel (mask f32 added, or bool keep; "
         "causal=1 keeps j <= i)",
  .foreign = attention_foreign,
};

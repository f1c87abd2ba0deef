/* attention.c — fused scaled dot-product attention with an online softmax (attention.h). */
#include "attention.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"
#include "matmul.h"

#define INDEX_LIMIT INT64_C(2147483647)

typedef struct attn_ctx {
  const kt_attention_desc *d;
  int q, k, v, mask, out;          /* buffers (mask -1 without one) */
  int wq, wv;                      /* vector widths along d and dv */
  int nq, nv;                      /* vectors per row: d / wq, dv / wv */
  int bq, bk;                      /* queries per work-group, keys per tile */
  int stage;                       /* keys and values staged in local memory (GPU); else read
                                      from global memory where they are used (CPU) */
  int ktile, vtile;                /* local arrays (staging) */
  int stile;                       /* local array: each work-item's scores of a tile */
  /* variables: */
  int lid, bidx, qi, qrow;         /* local id, batch index, query, query clamped into range */
  int kend;                        /* the work-group's keys end here */
  int kb, vb, mb;                  /* element bases of k, v and the query's mask row */
  int t0, jn;                      /* the tile's first key and its key count */
  int mrun, lrun;                  /* running maximum and sum of exp(score − maximum) */
  int qv[KT_ATTN_MAX_HEAD];        /* the query row, scaled, as vectors */
  int ov[KT_ATTN_MAX_HEAD];        /* the output accumulator, as vectors */
} attn_ctx;

/* The largest element index view `w` reaches over rows [0, rows) and columns [0, cols) of
 * every batch item, or -1 when a stride is negative (views here never are). */
static int64_t view_reach(const kt_attention_desc *d, const kt_attn_view *w, int64_t rows,
                          int64_t cols) {
  if (w->offset < 0 || w->stride_r < 0 || w->stride_c < 0) return -1;
  int64_t top = w->offset + (rows - 1) * w->stride_r + (cols - 1) * w->stride_c;
  for (int i = 0; i < d->n_batch; i++) {
    if (w->batch_stride[i] < 0) return -1;
    top += (d->batch[i] - 1) * w->batch_stride[i];
  }
  return top;
}

static int widest(int64_t n, int max_vec) {
  for (int w = 16; w > 4; w /= 2)
    if (max_vec >= w && n % w == 0) return w;
  if (max_vec >= 4 && n % 4 == 0) return 4;
  if (max_vec >= 2 && n % 2 == 0) return 2;
  return 1;
}

int64_t kt_attention_items(const kt_attention_desc *d) {
  int64_t items = 1;
  for (int i = 0; i < d->n_batch; i++) items *= d->batch[i];
  return items;
}

/* Element base of the work-group's batch item in view w. */
static kir_expr *batch_base(kir_builder *b, const attn_ctx *a, const kt_attn_view *w) {
  const kt_attention_desc *d = a->d;
  kir_expr *base = kt_batch_offset(b, kir_var(b, a->bidx), d->n_batch, d->batch, w->batch_stride);
  return kir_add(b, base, kir_i32(b, w->offset));
}

/* `width` elements of buffer buf from element `at` on, `stride` apart: one vector load when
 * they are consecutive. */
static kir_expr *load_row_vec(kir_builder *b, int buf, kir_expr *at, int64_t stride, int width) {
  if (width == 1) return kir_load(b, buf, at);
  if (stride == 1) return kir_load_vec(b, buf, at, width);
  /* (widths above 4 only for consecutive elements: kt_attention picks them so) */
  kir_expr *parts[4];
  for (int i = 0; i < width; i++) parts[i] = kir_load(b, buf, kir_add(b, at, kt_scaled(b, kir_i32(b, i), stride)));
  return kir_vector(b, width, parts);
}

/* Stages rows t0 .. t0 + bk − 1 (those below kend) of k or v into local array `tile`: vector c
 * of row r at tile[r·n + c]; the block_q work-items take vectors lid, lid + block_q, .... */
static void stage_tile(kir_builder *b, const attn_ctx *a, int buf, int tile, int base, int t0,
                       int kend, int lid, const kt_attn_view *w, int n, int width) {
  int e = kir_var_new(b, "e", kir_t(KIR_I32));
  int row = kir_var_new(b, "row", kir_t(KIR_I32));
  kir_for(b, e, kir_var(b, lid), kir_i32(b, (int64_t)a->bk * n), kir_i32(b, a->bq));
  kir_decl(b, row, kir_add(b, kir_var(b, t0), kir_div(b, kir_var(b, e), kir_i32(b, n))));
  kir_if(b, kir_bin(b, KIR_LT, kir_var(b, row), kir_var(b, kend)));
  kir_expr *col = kt_scaled(b, kir_mod(b, kir_var(b, e), kir_i32(b, n)), (int64_t)width * w->stride_c);
  kir_expr *at = kir_add(b, kir_add(b, kir_var(b, base), kt_scaled(b, kir_var(b, row), w->stride_r)), col);
  kir_local_store(b, tile, kir_var(b, e), load_row_vec(b, buf, at, w->stride_c, width));
  kir_end(b);
  kir_end(b);
}

/* Σ of the components of vector variable `v` (a scalar stays as it is): halves added while
 * wider than 4, then the components. */
static kir_expr *hsum(kir_builder *b, int v, int width) {
  if (width == 1) return kir_var(b, v);
  int cur = v;
  for (; width > 4; width /= 2) {
    int half = kir_var_new(b, "half", kir_tv(KIR_F32, width / 2));
    kir_decl(b, half, kir_bin(b, KIR_ADD, kir_swizzle(b, kir_var(b, cur), 0, width / 2),
                              kir_swizzle(b, kir_var(b, cur), width / 2, width / 2)));
    cur = half;
  }
  kir_expr *s = kir_component(b, kir_var(b, cur), 0);
  for (int i = 1; i < width; i++) s = kir_bin(b, KIR_ADD, s, kir_component(b, kir_var(b, cur), i));
  return s;
}

/* Vector c of key (or value) row t0 + j: from the staged tile, or from global memory. */
static kir_expr *kv_row(kir_builder *b, const attn_ctx *a, int is_v, int t0, int j, int c) {
  int n = is_v ? a->nv : a->nq, width = is_v ? a->wv : a->wq;
  if (a->stage)
    return kir_local_load(b, is_v ? a->vtile : a->ktile,
                          kir_add(b, kir_mul(b, kir_var(b, j), kir_i32(b, n)), kir_i32(b, c)));
  const kt_attn_view *w = is_v ? &a->d->v : &a->d->k;
  kir_expr *row = kir_add(b, kir_var(b, t0), kir_var(b, j));
  kir_expr *at = kir_add(b, kir_add(b, kir_var(b, is_v ? a->vb : a->kb), kt_scaled(b, row, w->stride_r)),
                         kir_i32(b, (int64_t)c * width * w->stride_c));
  return load_row_vec(b, is_v ? a->v : a->k, at, w->stride_c, width);
}

/* `x` (a scalar) as a vector of `width`, or itself for width 1. */
static kir_expr *splat(kir_builder *b, int width, kir_expr *x) {
  return width == 1 ? x : kir_cast(b, kir_tv(KIR_F32, width), x);
}

/* Stores the finished output row: acc / lrun, through the epilogue when there is one. */
static void store_out(kir_builder *b, const attn_ctx *a) {
  const int *o = a->ov;
  int l = a->lrun;
  const kt_attention_desc *d = a->d;
  int inv = kir_var_new(b, "inv", kir_t(KIR_F32));
  int ob = kir_var_new(b, "ob", kir_t(KIR_I32));
  /* A query that kept no key summed nothing: its output is 0, as torch's and ONNX's. */
  kir_decl(b, inv, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, l), kir_f32(b, 0.0)), kir_f32(b, 0.0),
                              kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, l))));
  kir_decl(b, ob, kir_add(b, batch_base(b, a, &d->out), kt_scaled(b, kir_var(b, a->qi), d->out.stride_r)));
  kir_type vt = kir_tv(KIR_F32, a->wv);
  for (int c = 0; c < a->nv; c++) {
    kir_expr *val = kir_bin(b, KIR_MUL, kir_var(b, o[c]), splat(b, a->wv, kir_var(b, inv)));
    int64_t col0 = (int64_t)c * a->wv;
    if (!d->epilogue.fn && (a->wv == 1 || d->out.stride_c == 1)) {
      kir_store(b, a->out, kir_add(b, kir_var(b, ob), kir_i32(b, col0 * d->out.stride_c)), val);
      continue;
    }
    int ov = kir_var_new(b, "ov", vt);
    kir_decl(b, ov, val);
    for (int i = 0; i < a->wv; i++) {
      kir_expr *x = a->wv == 1 ? kir_var(b, ov) : kir_component(b, kir_var(b, ov), i);
      if (d->epilogue.fn) {
        kir_expr *row = kir_var(b, a->qi), *col = kir_i32(b, col0 + i);
        kir_expr *lin = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, a->bidx), kir_i32(b, d->tq)),
                                                      kir_var(b, a->qi)),
                                           kir_i32(b, d->dv)),
                                kir_i32(b, col0 + i));
        kt_out_pos at = {lin, kir_var(b, a->bidx), row, col};
        x = d->epilogue.fn(b, x, &at, d->epilogue.user);
      }
      kir_store(b, a->out, kir_add(b, kir_var(b, ob), kir_i32(b, (col0 + i) * d->out.stride_c)), x);
    }
  }
}

/* Fills in the tiling; 0, or -1 (reason in m) when it does not fit. */
static int pick_tiles(kir_module *m, const kt_attention_desc *d, attn_ctx *a) {
  int64_t budget = d->local_mem_bytes > 0 ? d->local_mem_bytes : 48 * 1024;
  a->stage = d->device_class != KT_DEVICE_CPU;
  a->bq = d->block_q ? d->block_q : (d->device_class == KT_DEVICE_CPU ? 16 : 64);
  if (a->bq < 1 || a->bq > 1024) return kt_fail(m, "block_q %d (1 to 1024 work-items)", a->bq);
  /* Tiles of at most 32 keys leave local memory for several work-groups per compute unit. */
  int bk = d->block_k;
  int64_t per_key = (a->stage ? d->d + d->dv : 0) + a->bq; /* floats of local memory per key */
  if (!bk) {
    bk = d->device_class == KT_DEVICE_CPU ? 64 : 32;
    while (bk > 8 && (int64_t)bk * per_key * 4 > budget / 2) bk /= 2;
  }
  if (bk < 1 || (int64_t)bk * per_key * 4 > budget)
    return kt_fail(m, "block_k %d with head dims %lld and %lld needs more than %lld bytes of local memory",
                   bk, (long long)d->d, (long long)d->dv, (long long)budget);
  a->bk = bk;
  return 0;
}

static int check_desc(kir_module *m, const kt_attention_desc *d) {
  if (d->tq < 1 || d->tk < 1 || d->d < 1 || d->dv < 1)
    return kt_fail(m, "every length and head dim must be at least 1");
  if (d->d > KT_ATTN_MAX_HEAD || d->dv > KT_ATTN_MAX_HEAD)
    return kt_fail(m, "head dims %lld and %lld: at most %d are supported (a query row and its "
                   "output are kept in registers)", (long long)d->d, (long long)d->dv,
                   KT_ATTN_MAX_HEAD);
  if (d->n_batch < 0 || d->n_batch > KT_ATTN_MAX_BATCH)
    return kt_fail(m, "%d batch dims (at most %d)", d->n_batch, KT_ATTN_MAX_BATCH);
  int64_t items = 1;
  for (int i = 0; i < d->n_batch; i++) {
    if (d->batch[i] < 1) return kt_fail(m, "batch dim %d is %lld", i, (long long)d->batch[i]);
    items *= d->batch[i];
  }
  if (items >= INDEX_LIMIT || d->tq >= INDEX_LIMIT) return kt_fail(m, "too many batch items");
  if (d->mask_kind < KT_ATTN_MASK_NONE || d->mask_kind > KT_ATTN_MASK_BOOL)
    return kt_fail(m, "unknown mask kind %d", d->mask_kind);
  const struct { const kt_attn_view *w; int64_t rows, cols; const char *name; } views[] = {
    {&d->q, d->tq, d->d, "q"}, {&d->k, d->tk, d->d, "k"}, {&d->v, d->tk, d->dv, "v"},
    {&d->out, d->tq, d->dv, "out"}, {&d->mask, d->tq, d->tk, "mask"},
  };
  int n_views = d->mask_kind ? 5 : 4;
  for (int i = 0; i < n_views; i++) {
    int64_t top = view_reach(d, views[i].w, views[i].rows, views[i].cols);
    if (top < 0) return kt_fail(m, "%s: negative offset or stride", views[i].name);
    if (top >= INDEX_LIMIT)
      return kt_fail(m, "%s reaches element %lld: 2^31 or more (32-bit indexing)", views[i].name,
                     (long long)top);
  }
  return 0;
}

/* Ids, the work-group's key range, the batch item's bases, the scaled query row in registers,
 * and the zeroed accumulator, maximum and sum. */
static void emit_setup(kir_builder *b, attn_ctx *a) {
  const kt_attention_desc *d = a->d;
  a->lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  a->bidx = kir_var_new(b, "bidx", kir_t(KIR_I32));
  a->qi = kir_var_new(b, "qi", kir_t(KIR_I32));
  a->qrow = kir_var_new(b, "qrow", kir_t(KIR_I32));
  a->kend = kir_var_new(b, "kend", kir_t(KIR_I32));
  a->kb = kir_var_new(b, "kb", kir_t(KIR_I32));
  a->vb = kir_var_new(b, "vb", kir_t(KIR_I32));
  kir_decl(b, a->lid, kir_local_id(b, 0));
  kir_decl(b, a->bidx, kir_group_id(b, 1));
  kir_decl(b, a->qi, kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_i32(b, a->bq)), kir_var(b, a->lid)));
  /* Work-items past the last query still stage tiles; they compute on the last query. */
  kir_decl(b, a->qrow, d->tq % a->bq ? kir_bin(b, KIR_MIN, kir_var(b, a->qi), kir_i32(b, d->tq - 1))
                                     : kir_var(b, a->qi));
  /* Causal: the work-group's last query sees keys up to itself. */
  kir_expr *all = kir_i32(b, d->tk);
  kir_expr *last = kir_mul(b, kir_add(b, kir_group_id(b, 0), kir_i32(b, 1)), kir_i32(b, a->bq));
  kir_decl(b, a->kend, d->causal ? kir_bin(b, KIR_MIN, all, last) : all);
  kir_decl(b, a->kb, batch_base(b, a, &d->k));
  kir_decl(b, a->vb, batch_base(b, a, &d->v));
  if (d->mask_kind) {
    a->mb = kir_var_new(b, "mb", kir_t(KIR_I32));
    kir_decl(b, a->mb, kir_add(b, batch_base(b, a, &d->mask),
                               kt_scaled(b, kir_var(b, a->qrow), d->mask.stride_r)));
  }
  int qb = kir_var_new(b, "qb", kir_t(KIR_I32));
  kir_decl(b, qb, kir_add(b, batch_base(b, a, &d->q), kt_scaled(b, kir_var(b, a->qrow), d->q.stride_r)));
  for (int c = 0; c < a->nq; c++) {
    a->qv[c] = kir_var_new(b, "qv", kir_tv(KIR_F32, a->wq));
    kir_expr *at = kir_add(b, kir_var(b, qb), kir_i32(b, (int64_t)c * a->wq * d->q.stride_c));
    kir_decl(b, a->qv[c], kir_bin(b, KIR_MUL, load_row_vec(b, a->q, at, d->q.stride_c, a->wq),
                                  splat(b, a->wq, kir_f32(b, d->scale))));
  }
  for (int c = 0; c < a->nv; c++) {
    a->ov[c] = kir_var_new(b, "acc", kir_tv(KIR_F32, a->wv));
    kir_decl(b, a->ov[c], splat(b, a->wv, kir_f32(b, 0.0)));
  }
  a->mrun = kir_var_new(b, "mrun", kir_t(KIR_F32));
  a->lrun = kir_var_new(b, "lrun", kir_t(KIR_F32));
  kir_decl(b, a->mrun, kir_f32(b, -INFINITY));
  kir_decl(b, a->lrun, kir_f32(b, 0.0));
}

/* stile[j][lid] for keys t0 + j, j < jn: the score with its mask, and their maximum in mt. */
static void emit_scores(kir_builder *b, const attn_ctx *a, int mt) {
  const kt_attention_desc *d = a->d;
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  int dot = kir_var_new(b, "dot", kir_tv(KIR_F32, a->wq));
  int s = kir_var_new(b, "s", kir_t(KIR_F32));
  kir_decl(b, mt, kir_f32(b, -INFINITY));
  kir_for(b, j, kir_i32(b, 0), kir_var(b, a->jn), kir_i32(b, 1));
  kir_decl(b, dot, kir_bin(b, KIR_MUL, kir_var(b, a->qv[0]), kv_row(b, a, 0, a->t0, j, 0)));
  for (int c = 1; c < a->nq; c++) {
    kir_expr *kv = kv_row(b, a, 0, a->t0, j, c);
    kir_assign(b, dot, kir_bin(b, KIR_ADD, kir_var(b, dot), kir_bin(b, KIR_MUL, kir_var(b, a->qv[c]), kv)));
  }
  kir_decl(b, s, hsum(b, dot, a->wq));
  if (d->mask_kind) {
    kir_expr *key = kir_add(b, kir_var(b, a->t0), kir_var(b, j));
    kir_expr *mv = kir_load(b, a->mask, kir_add(b, kir_var(b, a->mb), kt_scaled(b, key, d->mask.stride_c)));
    kir_assign(b, s, d->mask_kind == KT_ATTN_MASK_ADD
                         ? kir_bin(b, KIR_ADD, kir_var(b, s), mv)
                         : kir_select(b, mv, kir_var(b, s), kir_f32(b, -INFINITY)));
  }
  if (d->causal) {
    kir_expr *key = kir_add(b, kir_var(b, a->t0), kir_var(b, j));
    kir_assign(b, s, kir_select(b, kir_bin(b, KIR_GT, key, kir_var(b, a->qi)), kir_f32(b, -INFINITY),
                                kir_var(b, s)));
  }
  kir_local_store(b, a->stile, kir_add(b, kir_mul(b, kir_var(b, j), kir_i32(b, a->bq)), kir_var(b, a->lid)),
                  kir_var(b, s));
  kir_assign(b, mt, kir_bin(b, KIR_MAX, kir_var(b, mt), kir_var(b, s)));
  kir_end(b);
}

/* The work-item's score of key t0 + j (j an I32 expression) from the score tile. */
static kir_expr *score_at(kir_builder *b, const attn_ctx *a, kir_expr *j) {
  return kir_local_load(b, a->stile, kir_add(b, kir_mul(b, j, kir_i32(b, a->bq)), kir_var(b, a->lid)));
}

/* The tile's maximum mt joins the running one: what was summed so far is rescaled once, then
 * exp(score − max) · v is added for each key of the tile. A maximum still −inf counts as 0,
 * so masked keys add exp(−inf) = 0 and nothing turns into NaN. */
static void emit_accumulate(kir_builder *b, const attn_ctx *a, int mt) {
  int mnew = kir_var_new(b, "mnew", kir_t(KIR_F32));
  int muse = kir_var_new(b, "muse", kir_t(KIR_F32));
  int corr = kir_var_new(b, "corr", kir_t(KIR_F32));
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  int p = kir_var_new(b, "p", kir_t(KIR_F32));
  kir_decl(b, mnew, kir_bin(b, KIR_MAX, kir_var(b, a->mrun), kir_var(b, mt)));
  kir_decl(b, muse, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, mnew), kir_f32(b, -INFINITY)),
                               kir_f32(b, 0.0), kir_var(b, mnew)));
  kir_decl(b, corr, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_var(b, a->mrun), kir_var(b, muse))));
  kir_assign(b, a->lrun, kir_bin(b, KIR_MUL, kir_var(b, a->lrun), kir_var(b, corr)));
  for (int c = 0; c < a->nv; c++)
    kir_assign(b, a->ov[c], kir_bin(b, KIR_MUL, kir_var(b, a->ov[c]), splat(b, a->wv, kir_var(b, corr))));
  kir_assign(b, a->mrun, kir_var(b, mnew));
  /* On a CPU the exps of four keys at a time are one vector exp: PoCL's scalar exp is a library
   * call per key, and a work-item's code here is not vectorized across work-items. */
  kir_expr *from = kir_i32(b, 0);
  if (!a->stage) {
    int j4 = kir_var_new(b, "j4", kir_t(KIR_I32));
    int p4 = kir_var_new(b, "p4", kir_tv(KIR_F32, 4));
    int jq = kir_var_new(b, "jq", kir_t(KIR_I32));
    kir_expr *quads = kir_mul(b, kir_div(b, kir_var(b, a->jn), kir_i32(b, 4)), kir_i32(b, 4));
    kir_for(b, j4, kir_i32(b, 0), quads, kir_i32(b, 4));
    kir_expr *sc[4];
    for (int i = 0; i < 4; i++) sc[i] = score_at(b, a, kir_add(b, kir_var(b, j4), kir_i32(b, i)));
    kir_decl(b, p4, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_vector(b, 4, sc), splat(b, 4, kir_var(b, muse)))));
    kir_assign(b, a->lrun, kir_bin(b, KIR_ADD, kir_var(b, a->lrun), hsum(b, p4, 4)));
    for (int i = 0; i < 4; i++) {
      if (i == 0) kir_decl(b, jq, kir_var(b, j4));
      else kir_assign(b, jq, kir_add(b, kir_var(b, j4), kir_i32(b, i)));
      for (int c = 0; c < a->nv; c++) {
        kir_expr *pv = kir_bin(b, KIR_MUL, splat(b, a->wv, kir_component(b, kir_var(b, p4), i)),
                               kv_row(b, a, 1, a->t0, jq, c));
        kir_assign(b, a->ov[c], kir_bin(b, KIR_ADD, kir_var(b, a->ov[c]), pv));
      }
    }
    kir_end(b);
    from = quads;
  }
  kir_for(b, j, from, kir_var(b, a->jn), kir_i32(b, 1));
  kir_decl(b, p, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, score_at(b, a, kir_var(b, j)), kir_var(b, muse))));
  kir_assign(b, a->lrun, kir_bin(b, KIR_ADD, kir_var(b, a->lrun), kir_var(b, p)));
  for (int c = 0; c < a->nv; c++) {
    kir_expr *pv = kir_bin(b, KIR_MUL, splat(b, a->wv, kir_var(b, p)), kv_row(b, a, 1, a->t0, j, c));
    kir_assign(b, a->ov[c], kir_bin(b, KIR_ADD, kir_var(b, a->ov[c]), pv));
  }
  kir_end(b);
}

/* ---- CPU: keys as vector lanes (attention.h) ---- */

#define KEYS_LANES 16 /* keys per block: one float16 */
#define KEYS_BLOCKS 2 /* blocks per step of the online softmax */
#define KEYS_SPAN (KEYS_LANES * KEYS_BLOCKS)
#define KEYS_BQ 16    /* queries per work-group */
/* Queries per work-item: two share each key and value vector they load, where their partial
 * sums and accumulators (4 + dv / 16 vectors each) fit KEYS_REGS registers. */
#define KEYS_NR 2
#define KEYS_REGS 20

/* One block more than the keys: a work-item reads a block of keys from each of KT's d rows, and
 * rows a power of two of bytes apart (T = 1024: 4 KiB) fall in one set of L1 (twice as slow). */
int64_t kt_attention_kt_pad(int64_t tk) { return (tk + KEYS_LANES - 1) / KEYS_LANES * KEYS_LANES + KEYS_LANES; }

int64_t kt_attention_kt_elems(const kt_attention_desc *d) {
  return kt_attention_items(d) * (d->d + 1) * kt_attention_kt_pad(d->tk);
}

int kt_attention_keys_applies(const kt_attention_desc *d) {
  /* an additive mask read as vectors of a row's keys: whole blocks, so tk a multiple of them */
  const int mask_ok = d->mask_kind == KT_ATTN_MASK_NONE ||
                      (d->mask_kind == KT_ATTN_MASK_ADD && d->mask.stride_c == 1 && d->tk % KEYS_LANES == 0);
  return d->device_class == KT_DEVICE_CPU && d->max_vec >= KEYS_LANES && mask_ok &&
         d->q_elem == KIR_F32 && d->k_elem == KIR_F32 && d->v_elem == KIR_F32 && d->out_elem == KIR_F32 &&
         d->v.stride_c == 1 && d->dv % KEYS_LANES == 0 && kt_attention_kt_elems(d) < INDEX_LIMIT;
}

int kt_attention_kt(kir_module *m, const char *name, const kt_attention_desc *d, kir_kernel **out_kernel,
                    int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (check_desc(m, d)) return -1;
  if (!kt_attention_keys_applies(d)) return kt_fail(m, "keys as lanes do not apply to this attention");
  const int64_t pad = kt_attention_kt_pad(d->tk), rows = d->d + 1;
  attn_ctx a = {.d = d};
  kir_builder *b = kir_kernel_begin(m, name, KEYS_LANES, 1, 1);
  if (!b) return -1;
  int bk = kir_buffer_param(b, "k", d->k_elem, KIR_READ);
  int bt = kir_buffer_param(b, "kt", KIR_F32, KIR_WRITE);
  /* One work-item per key row j, which it scatters down KT's column j. */
  int j = kir_var_new(b, "j", kir_t(KIR_I32)), src = kir_var_new(b, "src", kir_t(KIR_I32));
  int dst = kir_var_new(b, "dst", kir_t(KIR_I32)), c = kir_var_new(b, "c", kir_t(KIR_I32));
  a.bidx = kir_var_new(b, "bidx", kir_t(KIR_I32));
  kir_decl(b, j, kir_global_id(b, 0));
  kir_decl(b, a.bidx, kir_group_id(b, 1));
  kir_decl(b, src, kir_add(b, batch_base(b, &a, &d->k),
                           kt_scaled(b, kir_bin(b, KIR_MIN, kir_var(b, j), kir_i32(b, d->tk - 1)), d->k.stride_r)));
  kir_decl(b, dst, kir_add(b, kir_mul(b, kir_var(b, a.bidx), kir_i32(b, rows * pad)), kir_var(b, j)));
  /* The row's elements in vectors of up to 16 where they are consecutive, stored one by one
   * (read one at a time, PoCL gathered them across work-items: 50 µs against 43 for the
   * transformer block's 12 heads of 128 × 64). */
  const int w = d->k.stride_c == 1 && d->d % 16 == 0 ? 16 : d->k.stride_c == 1 && d->d % 4 == 0 ? 4 : 1;
  kir_for(b, c, kir_i32(b, 0), kir_i32(b, d->d), kir_i32(b, w));
  kir_expr *at = kir_add(b, kir_var(b, src), kt_scaled(b, kir_var(b, c), d->k.stride_c));
  int x = kir_var_new(b, "x", kir_tv(KIR_F32, w));
  kir_decl(b, x, w > 1 ? kir_load_vec(b, bk, at, w) : kir_load(b, bk, at));
  if (pad > d->tk) kir_assign(b, x, kir_select(b, kt_lt(b, kir_var(b, j), d->tk), kir_var(b, x), kir_f32(b, 0.0)));
  for (int i = 0; i < w; i++)
    kir_store(b, bt, kir_add(b, kir_var(b, dst), kt_scaled(b, kir_add(b, kir_var(b, c), kir_i32(b, i)), pad)),
              w > 1 ? kir_component(b, kir_var(b, x), i) : kir_var(b, x));
  kir_end(b);
  kir_store(b, bt, kir_add(b, kir_var(b, dst), kir_i32(b, d->d * pad)), kir_cast(b, kir_t(KIR_F32), kir_var(b, j)));
  out_groups[0] = pad / KEYS_LANES;
  out_groups[1] = kt_attention_items(d);
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

/* Per query r < nr of a work-item: its scores of keys j0 .. j0 + 15 as one float16,
 * Σ_c q[c]·KT[c][j0 ..] in four partial sums (four chains of multiply-adds where one waited on
 * each), scaled, and −inf past limit[r] (the last key the query sees) by KT's row of key
 * indices; each KT vector loaded once for the nr queries. Declares s[r]. */
static void keys_scores(kir_builder *b, const attn_ctx *a, int nr, const int qb[], int ktb, int j0,
                        const int limit[], const int mb[], int s[]) {
  const kt_attention_desc *d = a->d;
  const int64_t pad = kt_attention_kt_pad(d->tk);
  const kir_type vt = kir_tv(KIR_F32, KEYS_LANES);
  /* The block's column of KT: every load below is it plus a constant (one base register; as
   * ktb + c·pad + j0 each load's index was computed and sign-extended anew, 290 of the loop's
   * 630 instructions). */
  int kp = kir_var_new(b, "kp", kir_t(KIR_I32));
  kir_decl(b, kp, kir_add(b, kir_var(b, ktb), kir_var(b, j0)));
  int part[KEYS_NR][4];
  for (int c = 0; c < d->d; c++) {
    int kt = kir_var_new(b, "ktv", vt);
    kir_decl(b, kt, kir_load_vec(b, a->k, kir_add(b, kir_var(b, kp), kir_i32(b, c * pad)), KEYS_LANES));
    for (int r = 0; r < nr; r++) {
      kir_expr *qc = kir_load(b, a->q, kir_add(b, kir_var(b, qb[r]), kir_i32(b, c * d->q.stride_c)));
      kir_expr *prod = kir_mul(b, splat(b, KEYS_LANES, qc), kir_var(b, kt));
      if (c < 4) {
        part[r][c] = kir_var_new(b, "s", vt);
        kir_decl(b, part[r][c], prod);
      } else {
        kir_assign(b, part[r][c % 4], kir_add(b, kir_var(b, part[r][c % 4]), prod));
      }
    }
  }
  int keys = kir_var_new(b, "keys", vt);
  kir_decl(b, keys, kir_load_vec(b, a->k, kir_add(b, kir_var(b, kp), kir_i32(b, d->d * pad)), KEYS_LANES));
  for (int r = 0; r < nr; r++) {
    kir_expr *sum = kir_var(b, part[r][0]);
    for (int p = 1; p < 4 && p < d->d; p++) sum = kir_add(b, sum, kir_var(b, part[r][p]));
    kir_expr *scaled = kir_mul(b, sum, splat(b, KEYS_LANES, kir_f32(b, d->scale)));
    if (d->mask_kind) /* the query's additive mask over these keys (tk a multiple of the block) */
      scaled = kir_add(b, scaled, kir_load_vec(b, a->mask, kir_add(b, kir_var(b, mb[r]), kir_var(b, j0)), KEYS_LANES));
    s[r] = kir_var_new(b, "s16", vt);
    kir_decl(b, s[r], kir_select(b, kir_bin(b, KIR_GT, kir_var(b, keys), kir_var(b, limit[r])),
                                 splat(b, KEYS_LANES, kir_f32(b, -INFINITY)), scaled));
  }
}

/* One step of the keys-as-lanes loop at key j0: the scores of `blocks` blocks of KEYS_LANES keys
 * (keys_scores), the online softmax's update of each query's running maximum mrun, sums l16 and
 * accumulators acc once for them all, and the products p_j·v_j. */
static void keys_step(kir_builder *b, const attn_ctx *a, int nr, const int qb[], int ktb, int j0,
                      const int limit[], const int mb[], const int mrun[], const int l16[],
                      int acc[][KT_ATTN_MAX_HEAD], int blocks) {
  const kt_attention_desc *d = a->d;
  const int nv = a->nv;
  const kir_type vt = kir_tv(KIR_F32, KEYS_LANES);
  int s[KEYS_BLOCKS][KEYS_NR], p[KEYS_BLOCKS][KEYS_NR];
  for (int h = 0; h < blocks; h++) {
    int jh = j0;
    if (h) {
      jh = kir_var_new(b, "jh", kir_t(KIR_I32));
      kir_decl(b, jh, kir_add(b, kir_var(b, j0), kir_i32(b, h * KEYS_LANES)));
    }
    keys_scores(b, a, nr, qb, ktb, jh, limit, mb, s[h]);
  }
  for (int r = 0; r < nr; r++) {
    int mnew = kir_var_new(b, "mnew", kir_t(KIR_F32)), muse = kir_var_new(b, "muse", kir_t(KIR_F32));
    int corr = kir_var_new(b, "corr", kir_t(KIR_F32));
    kir_expr *smax = kir_var(b, s[0][r]);
    for (int h = 1; h < blocks; h++) smax = kir_bin(b, KIR_MAX, smax, kir_var(b, s[h][r]));
    int sm = kir_var_new(b, "smax", vt);
    kir_decl(b, sm, smax);
    kir_decl(b, mnew, kir_bin(b, KIR_MAX, kir_var(b, mrun[r]), kt_lane_fold(b, sm, KIR_MAX)));
    /* A maximum still −inf counts as 0, so exp(−inf) = 0 and nothing turns into NaN. */
    kir_decl(b, muse, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, mnew), kir_f32(b, -INFINITY)), kir_f32(b, 0.0),
                                 kir_var(b, mnew)));
    kir_decl(b, corr, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_var(b, mrun[r]), kir_var(b, muse))));
    kir_expr *lsum = kir_mul(b, kir_var(b, l16[r]), splat(b, KEYS_LANES, kir_var(b, corr)));
    for (int h = 0; h < blocks; h++) {
      p[h][r] = kir_var_new(b, "p16", vt);
      kir_decl(b, p[h][r], kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_var(b, s[h][r]),
                                                      splat(b, KEYS_LANES, kir_var(b, muse)))));
      lsum = kir_add(b, lsum, kir_var(b, p[h][r]));
    }
    kir_assign(b, l16[r], lsum);
    for (int c = 0; c < nv; c++)
      kir_assign(b, acc[r][c], kir_mul(b, kir_var(b, acc[r][c]), splat(b, KEYS_LANES, kir_var(b, corr))));
    kir_assign(b, mrun[r], kir_var(b, mnew));
  }
  /* p_j·v_j: from the block's first row of v plus constants, each v vector loaded once for the
   * nr queries. Steps of several blocks end before tk; in a step of one where tk is ragged, rows
   * past it read as the last (their p is 0). */
  int vr = kir_var_new(b, "vrow", kir_t(KIR_I32));
  kir_decl(b, vr, kir_add(b, kir_var(b, a->vb), kt_scaled(b, kir_var(b, j0), d->v.stride_r)));
  for (int i = 0; i < blocks * KEYS_LANES; i++) {
    kir_expr *at = kir_add(b, kir_var(b, vr), kir_i32(b, i * d->v.stride_r));
    if (blocks == 1 && d->tk % KEYS_LANES) {
      kir_expr *row = kir_bin(b, KIR_MIN, kir_add(b, kir_var(b, j0), kir_i32(b, i)), kir_i32(b, d->tk - 1));
      at = kir_add(b, kir_var(b, a->vb), kt_scaled(b, row, d->v.stride_r));
    }
    int vi = kir_var_new(b, "vi", kir_t(KIR_I32));
    kir_decl(b, vi, at);
    for (int c = 0; c < nv; c++) {
      int vv = kir_var_new(b, "vv", vt);
      kir_decl(b, vv, kir_load_vec(b, a->v, kir_add(b, kir_var(b, vi), kir_i32(b, c * KEYS_LANES)), KEYS_LANES));
      for (int r = 0; r < nr; r++)
        kir_assign(b, acc[r][c],
                   kir_add(b, kir_var(b, acc[r][c]),
                           kir_mul(b, splat(b, KEYS_LANES, kir_component(b, kir_var(b, p[i / KEYS_LANES][r]), i % KEYS_LANES)),
                                   kir_var(b, vv))));
    }
  }
}

/* The keys-as-lanes kernel (attention.h): nr consecutive queries per work-item, KEYS_BQ
 * queries a group, blocks of KEYS_LANES keys up to the group's last (causal) or tk; per query
 * the running maximum, the float16 running sums and the accumulator vectors, rescaled once
 * per step of KEYS_BLOCKS blocks (keys_step). */
static int build_keys(kir_module *m, const char *name, const kt_attention_desc *d, kir_kernel **out_kernel,
                      int64_t out_groups[3]) {
  const int nv = (int)(d->dv / KEYS_LANES), nr = KEYS_NR * (4 + nv) <= KEYS_REGS ? KEYS_NR : 1;
  const int64_t pad = kt_attention_kt_pad(d->tk), bq = KEYS_BQ;
  const int items = KEYS_BQ / nr;
  attn_ctx a = {.d = d, .mask = -1, .bq = KEYS_BQ, .wv = KEYS_LANES, .nv = nv};
  const kir_type vt = kir_tv(KIR_F32, KEYS_LANES);
  kir_builder *b = kir_kernel_begin(m, name, items, 1, 1);
  if (!b) return -1;
  a.q = kir_buffer_param(b, "q", KIR_F32, KIR_READ);
  a.k = kir_buffer_param(b, "kt", KIR_F32, KIR_READ);
  a.v = kir_buffer_param(b, "v", KIR_F32, KIR_READ);
  if (d->mask_kind) a.mask = kir_buffer_param(b, "mask", KIR_F32, KIR_READ);
  a.out = kir_buffer_param(b, "out", KIR_F32, KIR_WRITE);
  a.lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  a.bidx = kir_var_new(b, "bidx", kir_t(KIR_I32));
  a.kend = kir_var_new(b, "kend", kir_t(KIR_I32));
  a.vb = kir_var_new(b, "vb", kir_t(KIR_I32));
  int ktb = kir_var_new(b, "ktb", kir_t(KIR_I32)), j0 = kir_var_new(b, "j0", kir_t(KIR_I32));
  int qi[KEYS_NR], qb[KEYS_NR], mb[KEYS_NR], limit[KEYS_NR], mrun[KEYS_NR], l16[KEYS_NR],
      acc[KEYS_NR][KT_ATTN_MAX_HEAD];
  kir_decl(b, a.lid, kir_local_id(b, 0));
  kir_decl(b, a.bidx, kir_group_id(b, 1));
  kir_expr *last = kir_mul(b, kir_add(b, kir_group_id(b, 0), kir_i32(b, 1)), kir_i32(b, bq));
  kir_decl(b, a.kend, d->causal ? kir_bin(b, KIR_MIN, kir_i32(b, d->tk), last) : kir_i32(b, d->tk));
  kir_decl(b, a.vb, batch_base(b, &a, &d->v));
  kir_decl(b, ktb, kir_mul(b, kir_var(b, a.bidx), kir_i32(b, (d->d + 1) * pad)));
  for (int r = 0; r < nr; r++) {
    qi[r] = kir_var_new(b, "qi", kir_t(KIR_I32));
    kir_expr *in_group = nr == 1 ? kir_var(b, a.lid) : kir_add(b, kir_mul(b, kir_var(b, a.lid), kir_i32(b, nr)), kir_i32(b, r));
    kir_decl(b, qi[r], kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_i32(b, bq)), in_group));
    kir_expr *qrow = d->tq % bq ? kir_bin(b, KIR_MIN, kir_var(b, qi[r]), kir_i32(b, d->tq - 1)) : kir_var(b, qi[r]);
    qb[r] = kir_var_new(b, "qb", kir_t(KIR_I32));
    kir_decl(b, qb[r], kir_add(b, batch_base(b, &a, &d->q), kt_scaled(b, qrow, d->q.stride_r)));
    if (d->mask_kind) {
      mb[r] = kir_var_new(b, "mb", kir_t(KIR_I32));
      kir_decl(b, mb[r], kir_add(b, batch_base(b, &a, &d->mask), kt_scaled(b, qrow, d->mask.stride_r)));
    }
    /* The last key this query sees: itself (causal, aligned top-left) or the last. */
    limit[r] = kir_var_new(b, "limit", kir_t(KIR_F32));
    kir_expr *lim = d->causal ? kir_bin(b, KIR_MIN, kir_var(b, qi[r]), kir_i32(b, d->tk - 1)) : kir_i32(b, d->tk - 1);
    kir_decl(b, limit[r], kir_cast(b, kir_t(KIR_F32), lim));
    for (int c = 0; c < nv; c++) {
      acc[r][c] = kir_var_new(b, "acc", vt);
      kir_decl(b, acc[r][c], splat(b, KEYS_LANES, kir_f32(b, 0.0)));
    }
    mrun[r] = kir_var_new(b, "mrun", kir_t(KIR_F32));
    kir_decl(b, mrun[r], kir_f32(b, -INFINITY));
    l16[r] = kir_var_new(b, "l16", vt);
    kir_decl(b, l16[r], splat(b, KEYS_LANES, kir_f32(b, 0.0)));
  }
  /* Steps of KEYS_BLOCKS blocks, then one block where kend is not a multiple of the span (at
   * T = 128 under the causal mask, a last step of two blocks took 318 → 395 µs). */
  int jspan = kir_var_new(b, "jspan", kir_t(KIR_I32));
  kir_decl(b, jspan, kir_bin(b, KIR_SUB, kir_var(b, a.kend), kir_mod(b, kir_var(b, a.kend), kir_i32(b, KEYS_SPAN))));
  kir_for(b, j0, kir_i32(b, 0), kir_var(b, jspan), kir_i32(b, KEYS_SPAN));
  keys_step(b, &a, nr, qb, ktb, j0, limit, mb, mrun, l16, acc, KEYS_BLOCKS);
  kir_end(b);
  kir_for(b, j0, kir_var(b, jspan), kir_var(b, a.kend), kir_i32(b, KEYS_LANES));
  keys_step(b, &a, nr, qb, ktb, j0, limit, mb, mrun, l16, acc, 1);
  kir_end(b); /* j0 */
  for (int r = 0; r < nr; r++) {
    a.qi = qi[r];
    for (int c = 0; c < nv; c++) a.ov[c] = acc[r][c];
    a.lrun = kir_var_new(b, "lrun", kir_t(KIR_F32));
    kir_decl(b, a.lrun, kt_lane_sum(b, l16[r]));
    if (d->tq % bq) kir_if(b, kt_lt(b, kir_var(b, qi[r]), d->tq));
    store_out(b, &a);
    if (d->tq % bq) kir_end(b);
  }
  out_groups[0] = (d->tq + bq - 1) / bq;
  out_groups[1] = kt_attention_items(d);
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

/* The tensor-core kernel with the scalar kernel (block_q KT_ATTN_MMA_BQ, its work-groups) as its fallback:
 * 1 when built, 0 when the fragment kernel does not apply, -1 on failure. */
static int mma_variant(kir_module *m, const char *name, const kt_attention_desc *d,
                       kir_kernel **out_kernel, int64_t out_groups[3]) {
  kir_kernel *fast = NULL, *slow = NULL;
  char mma_name[96];
  snprintf(mma_name, sizeof mma_name, "%s_mma", name); /* shows in profiles which one ran */
  int rc = kt_attention_mma(m, mma_name, d, &fast, out_groups);
  if (rc <= 0) return rc;
  kt_attention_desc fb = *d;
  fb.mma = 0;
  fb.block_q = KT_ATTN_MMA_BQ;
  if (fb.epilogue.restart) fb.epilogue.restart(fb.epilogue.user);
  int64_t g[3];
  if (kt_attention(m, name, &fb, &slow, g) != 0) return -1;
  return kt_pair_variant(m, fast, slow, out_groups, g, "tensor-core attention", name, out_kernel);
}

int kt_attention(kir_module *m, const char *name, const kt_attention_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (check_desc(m, d)) return -1;
  if (d->k_transposed) {
    if (!kt_attention_keys_applies(d)) return kt_fail(m, "keys as lanes do not apply to this attention");
    return build_keys(m, name, d, out_kernel, out_groups);
  }
  if (kt_attention_mma_applies(d)) {
    int rc = mma_variant(m, name, d, out_kernel, out_groups);
    if (rc != 0) return rc > 0 ? 0 : -1;
  }
  attn_ctx a = {.d = d, .mask = -1};
  if (pick_tiles(m, d, &a)) return -1;
  /* Local arrays hold vectors of up to 4; wider ones (CPU, read from global memory) only where
   * the elements are consecutive. */
  int max_vec = d->max_vec ? d->max_vec : 4;
  int narrow = max_vec < 4 ? max_vec : 4;
  a.wq = widest(d->d, !a.stage && d->q.stride_c == 1 && d->k.stride_c == 1 ? max_vec : narrow);
  a.wv = widest(d->dv, !a.stage && d->v.stride_c == 1 ? max_vec : narrow);
  a.nq = (int)(d->d / a.wq);
  a.nv = (int)(d->dv / a.wv);

  kir_builder *b = kir_kernel_begin(m, name, a.bq, 1, 1);
  if (!b) return -1;
  a.q = kir_buffer_param(b, "q", d->q_elem, KIR_READ);
  a.k = kir_buffer_param(b, "k", d->k_elem, KIR_READ);
  a.v = kir_buffer_param(b, "v", d->v_elem, KIR_READ);
  if (d->mask_kind)
    a.mask = kir_buffer_param(b, "mask", d->mask_kind == KT_ATTN_MASK_BOOL ? KIR_BOOL : KIR_F32, KIR_READ);
  a.out = kir_buffer_param(b, "out", d->out_elem, KIR_WRITE);
  if (a.stage) {
    a.ktile = kir_local_array_t(b, "ktile", kir_tv(KIR_F32, a.wq), a.bk * a.nq);
    a.vtile = kir_local_array_t(b, "vtile", kir_tv(KIR_F32, a.wv), a.bk * a.nv);
  }
  a.stile = kir_local_array(b, "stile", KIR_F32, a.bk * a.bq);
  emit_setup(b, &a);

  a.t0 = kir_var_new(b, "t0", kir_t(KIR_I32));
  a.jn = kir_var_new(b, "jn", kir_t(KIR_I32));
  int mt = kir_var_new(b, "mt", kir_t(KIR_F32));
  kir_for(b, a.t0, kir_i32(b, 0), kir_var(b, a.kend), kir_i32(b, a.bk));
  if (a.stage) {
    stage_tile(b, &a, a.k, a.ktile, a.kb, a.t0, a.kend, a.lid, &d->k, a.nq, a.wq);
    stage_tile(b, &a, a.v, a.vtile, a.vb, a.t0, a.kend, a.lid, &d->v, a.nv, a.wv);
    kir_barrier(b);
  }
  kir_decl(b, a.jn, kir_bin(b, KIR_MIN, kir_i32(b, a.bk),
                            kir_bin(b, KIR_SUB, kir_var(b, a.kend), kir_var(b, a.t0))));
  emit_scores(b, &a, mt);
  emit_accumulate(b, &a, mt);
  if (a.stage) kir_barrier(b); /* the next tile overwrites ktile and vtile */
  kir_end(b);

  if (d->tq % a.bq) kir_if(b, kt_lt(b, kir_var(b, a.qi), d->tq));
  store_out(b, &a);
  if (d->tq % a.bq) kir_end(b);

  out_groups[0] = (d->tq + a.bq - 1) / a.bq;
  out_groups[1] = kt_attention_items(d);
  return kir_kernel_end(b, out_kernel);
}

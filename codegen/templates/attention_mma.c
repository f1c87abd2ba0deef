/* attention_mma.c — fused attention on tensor cores (attention.h, kt_attention_mma): q, k and v
 * stored as halves, both products through the IR's subgroup matrix fragments (kir.h,
 * KIR_FEATURE_MMA_F16: inline PTX mma.sync on NVIDIA's OpenCL), and the online softmax in f32
 * on the score fragments themselves, in registers (kir_frag_elem: OpenCL only, since it needs
 * the accumulator's element layout, which cooperative matrices keep opaque).
 *
 * A work-group of 8 warps (256 work-items) takes 128 consecutive queries of one batch item
 * (KT_ATTN_MMA_BQ), a warp 16 of them. The query tile is staged once in local memory as halves and every warp keeps
 * its 16 × d rows as d / 16 A fragments in registers. Keys are walked in tiles of BK (64, or 32 /
 * 16 where local memory is short):
 *
 *   1. the K tile ([key][d], which read column-major is the k × n operand of q·kᵀ) and the V
 *      tile ([key][dv], row-major k × n of p·v) are in local memory as halves; rows past the
 *      work-group's last key are zeros (a zero value row times p = 0 adds nothing; garbage could
 *      be NaN). Where the views are 16-byte aligned rows they are copied asynchronously
 *      (kir_async_copy) into two stages: the next tile lands while this one is multiplied, with
 *      one barrier per tile. Elsewhere one stage is copied half by half or word by word, with a
 *      barrier on each side;
 *   2. each warp multiplies its query fragments by the K tile: BK / 16 score accumulators;
 *   3. the softmax on those accumulators' elements: the work-item of lane 4g + t holds, of each,
 *      columns 2t, 2t + 1, 2t + 8, 2t + 9 of rows g and g + 8 (kir.h). Scale, mask (added, or bool
 *      keep), causal cut (in the tiles that reach past a warp's first query) and ragged keys in
 *      f32, in base 2 (scale and mask times log2 e); each row's maximum over its 4 work-items
 *      through two lane exchanges; p = 2^(x − m) written back, the work-item's partial row sums
 *      and the output accumulators rescaled by 2^(m_old − m_new) as the scalar kernel does in
 *      base e;
 *   4. each score accumulator packed to halves is an A fragment (kir_frag_pack: the layouts
 *      agree), multiplied by the V tile into the dv / 16 output accumulators.
 *
 * At the end the 4 partial sums of a row are added (lane exchanges) and the output is o / l (0 for
 * a query that kept no key), stored with the scalar kernel's conventions (epilogue, strides).
 * Every work-item reaches each barrier and exchange (causal work-groups stop at the last key
 * tile their last query sees, uniformly; they are numbered from the last queries, which see the
 * most keys, so that the longest start first).
 *
 * Local memory, in halves: stages · BK · (d + dv + 16), and the query tile 128 · (d + 8) over the
 * last stage (it is read into registers before the first tile lands there); with d = dv = 64, BK
 * = 64 and two stages, 36 KiB. Rows are padded by 8 halves so fragment loads of neighbouring rows
 * fall in distinct banks.
 * Thread safety: reentrant. */
#include "attention.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"
#include "matmul.h"

#define BQ KT_ATTN_MMA_BQ /* queries per work-group */
#define WARPS (BQ / 16)      /* warps per work-group, 16 queries each */
#define NL (32 * WARPS)
#define PAD 8        /* halves after each staged row */
#define MAX_HEAD 128 /* largest d and dv on this path */

typedef struct mma_ctx {
  const kt_attention_desc *d;
  int bk, stages;               /* keys per tile; 2 stages copied asynchronously, or 1 */
  int ls, vs;                   /* row strides of the q/k tiles and of the v tile */
  int64_t stage_halves, q_at;   /* halves per stage (k then v); where the query tile is */
  int q, k, v, mask, out;       /* buffers */
  int kv;                       /* the local array */
  /* variables: */
  int lid, warp, g, t, bidx, q0, kend;
  int qb, kb, vb, ob;           /* element bases */
  int qi[2], mb[2];             /* the work-item's two query rows (g, g + 8), their mask rows */
  int mrun[2], lrun[2];
} mma_ctx;

/* Whether view w's rows are consecutive elements and each starts at a multiple of `n` halves
 * (d and dv are multiples of 16, tensors 256-byte aligned): n = 8 for 16-byte asynchronous
 * copies, 2 for copies as raw words. */
static int rows_at(const kt_attention_desc *d, const kt_attn_view *w, int n) {
  return w->stride_c == 1 && kt_strides_multiple(n, w->offset, w->stride_r, w->batch_stride, d->n_batch);
}

/* K and V copied asynchronously, in two stages. */
static int async_rows(const kt_attention_desc *d) { return rows_at(d, &d->k, 8) && rows_at(d, &d->v, 8); }

static int64_t local_halves(const kt_attention_desc *d, int bk, int stages) {
  int64_t stage_halves = (int64_t)bk * (d->d + PAD + d->dv + PAD);
  int64_t q_end = (stages - 1) * stage_halves + BQ * (d->d + PAD);
  return stages * stage_halves > q_end ? stages * stage_halves : q_end;
}

/* Keys per tile and stages: two stages where the copies are asynchronous and fit, the largest
 * of 64, 32, 16 keys first; 0 when nothing fits. */
static int pick(const kt_attention_desc *d, int *out_stages) {
  int64_t budget = d->local_mem_bytes > 0 ? d->local_mem_bytes : 48 * 1024;
  for (int stages = async_rows(d) ? 2 : 1; stages >= 1; stages--)
    for (int bk = 64; bk >= 16; bk /= 2)
      if (2 * local_halves(d, bk, stages) <= budget) {
        *out_stages = stages;
        return bk;
      }
  return 0;
}

int kt_attention_mma_applies(const kt_attention_desc *d) {
  int stages;
  return d->mma && d->device_class != KT_DEVICE_CPU && d->q_elem == KIR_F16 && d->k_elem == KIR_F16 &&
         d->v_elem == KIR_F16 && d->d % 16 == 0 && d->dv % 16 == 0 && d->d <= MAX_HEAD &&
         d->dv <= MAX_HEAD && pick(d, &stages) > 0;
}

/* Halves per plain copy unit of view w: 8 as four raw words where every row starts at an even
 * element, else 1 through f32 (exact). */
static int unit_width(const kt_attention_desc *d, const kt_attn_view *w) { return rows_at(d, w, 2) ? 8 : 1; }

/* The element base of the work-group's batch item in view w. */
static void decl_base(kir_builder *b, const mma_ctx *a, int var, const kt_attn_view *w) {
  const kt_attention_desc *d = a->d;
  kir_decl(b, var, kir_add(b, kt_batch_offset(b, kir_var(b, a->bidx), d->n_batch, d->batch, w->batch_stride),
                           kir_i32(b, w->offset)));
}

/* Local kv[at + r·ls + c] = row r0 + r of view w (cols halves each) for r < rows, rows at or
 * past `lim` (an I32 variable) as zeros; plain copies, seen by all after a barrier. */
static void stage(kir_builder *b, const mma_ctx *a, kir_expr *at, int ls, int buf, int base, const kt_attn_view *w,
                  int64_t cols, int rows, kir_expr *r0, int lim) {
  const int vw = unit_width(a->d, w);
  const int64_t per_row = cols / vw;
  int e = kir_var_new(b, "e", kir_t(KIR_I32));
  int row = kir_var_new(b, "row", kir_t(KIR_I32));
  int col = kir_var_new(b, "col", kir_t(KIR_I32));
  int gr = kir_var_new(b, "gr", kir_t(KIR_I32));
  kir_for(b, e, kir_var(b, a->lid), kir_i32(b, rows * per_row), kir_i32(b, NL));
  kir_decl(b, row, kir_div(b, kir_var(b, e), kir_i32(b, per_row)));
  kir_decl(b, col, kir_mul(b, kir_mod(b, kir_var(b, e), kir_i32(b, per_row)), kir_i32(b, vw)));
  kir_decl(b, gr, kir_add(b, r0, kir_var(b, row)));
  kir_expr *at_local = kir_add(b, at, kir_add(b, kir_mul(b, kir_var(b, row), kir_i32(b, ls)), kir_var(b, col)));
  kir_if(b, kir_bin(b, KIR_LT, kir_var(b, gr), kir_var(b, lim)));
  kir_expr *src = kir_add(b, kir_var(b, base), kir_add(b, kt_scaled(b, kir_var(b, gr), w->stride_r),
                                                       kt_scaled(b, kir_var(b, col), w->stride_c)));
  if (vw == 1) kir_local_store(b, a->kv, at_local, kir_load(b, buf, src));
  else kir_local_store_bits(b, a->kv, at_local, kir_load_bits(b, buf, src, vw / 2));
  kir_else(b);
  if (vw == 1) kir_local_store(b, a->kv, at_local, kir_f32(b, 0.0));
  else kir_local_store_bits(b, a->kv, at_local, kir_cast(b, kir_tv(KIR_U32, vw / 2), kir_i32(b, 0)));
  kir_end(b);
  kir_end(b);
}

/* The same for a key or value tile of BK rows from key t0, as asynchronous 16-byte copies
 * (async_rows): unit u of the tile is row u / (cols / 8), halves 8·(u mod cols / 8). */
static void copy_async(kir_builder *b, const mma_ctx *a, kir_expr *at, int ls, int buf, int base,
                       const kt_attn_view *w, int64_t cols, kir_expr *t0) {
  const int64_t per_row = cols / 8, units = a->bk * per_row;
  for (int64_t i = 0; i * NL < units; i++) {
    kir_expr *u = kir_add(b, kir_var(b, a->lid), kir_i32(b, NL * i));
    if ((i + 1) * NL > units) kir_if(b, kt_lt(b, u, units));
    kir_expr *r = kir_div(b, u, kir_i32(b, per_row));
    kir_expr *c = kir_mul(b, kir_mod(b, u, kir_i32(b, per_row)), kir_i32(b, 8));
    kir_expr *gr = kir_add(b, t0, r);
    kir_expr *src = kir_add(b, kir_var(b, base), kir_add(b, kt_scaled(b, gr, w->stride_r), c));
    kir_async_copy(b, a->kv, kir_add(b, at, kir_add(b, kir_mul(b, r, kir_i32(b, ls)), c)),
                   kir_load_bits(b, buf, src, 4), kir_bin(b, KIR_LT, gr, kir_var(b, a->kend)));
    if ((i + 1) * NL > units) kir_end(b);
  }
}

/* Ids, bases, the query tile as A fragments qa[0 .. d/16), and the zeroed running state. */
static void emit_setup(kir_builder *b, mma_ctx *a, const int *qa, const int *o) {
  const kt_attention_desc *d = a->d;
  const char *names[] = {"lid", "warp", "g", "t", "bidx", "q0", "kend", "qb", "kb", "vb", "ob"};
  int *vars[] = {&a->lid, &a->warp, &a->g, &a->t, &a->bidx, &a->q0, &a->kend, &a->qb, &a->kb, &a->vb, &a->ob};
  for (int i = 0; i < (int)(sizeof vars / sizeof vars[0]); i++) *vars[i] = kir_var_new(b, names[i], kir_t(KIR_I32));
  kir_decl(b, a->lid, kir_local_id(b, 0));
  kir_decl(b, a->warp, kir_div(b, kir_var(b, a->lid), kir_i32(b, 32)));
  kir_decl(b, a->g, kir_div(b, kir_mod(b, kir_var(b, a->lid), kir_i32(b, 32)), kir_i32(b, 4)));
  kir_decl(b, a->t, kir_mod(b, kir_var(b, a->lid), kir_i32(b, 4)));
  kir_decl(b, a->bidx, kir_group_id(b, 1));
  /* Causal: the work-groups of the last queries, which see the most keys, start first. */
  const int64_t n_q = (d->tq + BQ - 1) / BQ;
  kir_expr *qt = d->causal ? kir_bin(b, KIR_SUB, kir_i32(b, n_q - 1), kir_group_id(b, 0)) : kir_group_id(b, 0);
  kir_decl(b, a->q0, kir_mul(b, qt, kir_i32(b, BQ)));
  /* Causal: the work-group's last query sees keys up to itself. */
  kir_expr *last = kir_add(b, kir_var(b, a->q0), kir_i32(b, BQ));
  kir_decl(b, a->kend, d->causal ? kir_bin(b, KIR_MIN, kir_i32(b, d->tk), last) : kir_i32(b, d->tk));
  decl_base(b, a, a->qb, &d->q);
  decl_base(b, a, a->kb, &d->k);
  decl_base(b, a, a->vb, &d->v);
  decl_base(b, a, a->ob, &d->out);
  for (int h = 0; h < 2; h++) {
    a->qi[h] = kir_var_new(b, "qi", kir_t(KIR_I32));
    kir_decl(b, a->qi[h], kir_add(b, kir_var(b, a->q0), kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16)),
                                                                kir_add(b, kir_var(b, a->g), kir_i32(b, 8 * h)))));
    if (!d->mask_kind) continue;
    /* The mask row of the query (clamped into range: rows past Tq compute, unstored). */
    a->mb[h] = kir_var_new(b, "mb", kir_t(KIR_I32));
    kir_expr *row = d->tq % BQ ? kir_bin(b, KIR_MIN, kir_var(b, a->qi[h]), kir_i32(b, d->tq - 1)) : kir_var(b, a->qi[h]);
    decl_base(b, a, a->mb[h], &d->mask);
    kir_assign(b, a->mb[h], kir_add(b, kir_var(b, a->mb[h]), kt_scaled(b, row, d->mask.stride_r)));
  }
  int qlim = kir_var_new(b, "qlim", kir_t(KIR_I32));
  kir_decl(b, qlim, kir_i32(b, d->tq));
  stage(b, a, kir_i32(b, a->q_at), a->ls, a->q, a->qb, &d->q, d->d, BQ, kir_var(b, a->q0), qlim);
  if (a->stages == 2) { /* the first key and value tiles, in flight while the queries are read */
    copy_async(b, a, kir_i32(b, 0), a->ls, a->k, a->kb, &d->k, d->d, kir_i32(b, 0));
    copy_async(b, a, kir_i32(b, a->bk * a->ls), a->vs, a->v, a->vb, &d->v, d->dv, kir_i32(b, 0));
    kir_async_commit(b);
  }
  kir_barrier(b);
  for (int c = 0; c < d->d / 16; c++)
    kir_frag_load(b, qa[c], a->kv, kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16 * a->ls)),
                                          kir_i32(b, a->q_at + 16 * c)), a->ls, 0);
  /* One stage: the key tiles overwrite the query tile (with two, the first tile's barrier
   * comes before any copy into the last stage). */
  if (a->stages == 1) kir_barrier(b);
  for (int h = 0; h < 2; h++) {
    a->mrun[h] = kir_var_new(b, "mrun", kir_t(KIR_F32));
    a->lrun[h] = kir_var_new(b, "lrun", kir_t(KIR_F32));
    kir_decl(b, a->mrun[h], kir_f32(b, -INFINITY));
    kir_decl(b, a->lrun[h], kir_f32(b, 0.0));
  }
  for (int j = 0; j < d->dv / 16; j++) kir_frag_zero(b, o[j]);
}

/* Row (0: g, 1: g + 8) and column of element e of an accumulator (kir.h). */
static int elem_half(int e) { return e >> 1 & 1; }
static kir_expr *elem_col(kir_builder *b, const mma_ctx *a, int e) {
  return kir_add(b, kir_mul(b, kir_var(b, a->t), kir_i32(b, 2)), kir_i32(b, 8 * (e >> 2) + (e & 1)));
}

/* The max over the 4 work-items of a row (lanes 4g .. 4g + 3) of F32 variable v, or its sum. */
static void row_reduce(kir_builder *b, int v, kir_binop op) {
  for (int mask = 1; mask <= 2; mask *= 2)
    kir_assign(b, v, kir_bin(b, op, kir_var(b, v), kir_lane_xor(b, kir_var(b, v), mask)));
}

/* Scores in base 2: s · scale · log2(e) (+ mask · log2(e)), so that p = 2^(x − m) is exp(s − m)
 * of the natural scores with one exp2 and no multiply inside it. */
#define LOG2E 1.4426950408889634

/* Step 3, first half: each element of the score accumulators s[0 .. nk) scaled, masked, cut
 * (`cut`: the causal cut applies to this tile), into mt[h], the work-item's maximum of row h. */
static void emit_scores(kir_builder *b, const mma_ctx *a, const int *s, int nk, int t0, const int *mt, int cut) {
  const kt_attention_desc *d = a->d;
  const int ragged = d->tk % a->bk != 0;
  int key = kir_var_new(b, "key", kir_t(KIR_I32));
  int x = kir_var_new(b, "x", kir_t(KIR_F32));
  kir_decl(b, key, kir_i32(b, 0));
  kir_decl(b, x, kir_f32(b, 0.0));
  for (int j = 0; j < nk; j++)
    for (int e = 0; e < 8; e++) {
      const int h = elem_half(e);
      kir_assign(b, key, kir_add(b, kir_var(b, t0), kir_add(b, elem_col(b, a, e), kir_i32(b, 16 * j))));
      /* Keys past the work-group's last (a ragged last tile) are −inf; their mask is not read. */
      if (ragged) {
        kir_assign(b, x, kir_f32(b, -INFINITY));
        kir_if(b, kir_bin(b, KIR_LT, kir_var(b, key), kir_var(b, a->kend)));
      }
      kir_assign(b, x, kir_bin(b, KIR_MUL, kir_frag_elem(b, s[j], e), kir_f32(b, d->scale * LOG2E)));
      if (d->mask_kind) {
        kir_expr *mv = kir_load(b, a->mask, kir_add(b, kir_var(b, a->mb[h]), kt_scaled(b, kir_var(b, key), d->mask.stride_c)));
        kir_assign(b, x, d->mask_kind == KT_ATTN_MASK_ADD
                             ? kir_bin(b, KIR_ADD, kir_var(b, x), kir_bin(b, KIR_MUL, mv, kir_f32(b, LOG2E)))
                             : kir_select(b, mv, kir_var(b, x), kir_f32(b, -INFINITY)));
      }
      if (cut)
        kir_assign(b, x, kir_select(b, kir_bin(b, KIR_GT, kir_var(b, key), kir_var(b, a->qi[h])),
                                    kir_f32(b, -INFINITY), kir_var(b, x)));
      if (ragged) kir_end(b);
      kir_frag_set(b, s[j], e, kir_var(b, x));
      kir_assign(b, mt[h], kir_bin(b, KIR_MAX, kir_var(b, mt[h]), kir_var(b, x)));
    }
}

/* Step 3 of the file comment on score accumulators s[0 .. BK/16) from key t0: p in their place. */
static void emit_softmax(kir_builder *b, const mma_ctx *a, const int *s, int nk, const int *o, int nv, int t0) {
  const kt_attention_desc *d = a->d;
  int mt[2];
  for (int h = 0; h < 2; h++) {
    mt[h] = kir_var_new(b, "mt", kir_t(KIR_F32));
    kir_decl(b, mt[h], kir_f32(b, -INFINITY));
  }
  if (d->causal) {
    /* The cut only where the tile's last key is past the warp's first query (warp-uniform). */
    kir_expr *first = kir_add(b, kir_var(b, a->q0), kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16)));
    kir_if(b, kir_bin(b, KIR_GT, kir_add(b, kir_var(b, t0), kir_i32(b, a->bk - 1)), first));
    emit_scores(b, a, s, nk, t0, mt, 1);
    kir_else(b);
    emit_scores(b, a, s, nk, t0, mt, 0);
    kir_end(b);
  } else {
    emit_scores(b, a, s, nk, t0, mt, 0);
  }

  int muse[2];
  for (int h = 0; h < 2; h++) {
    row_reduce(b, mt[h], KIR_MAX);
    int mnew = kir_var_new(b, "mnew", kir_t(KIR_F32));
    int corr = kir_var_new(b, "corr", kir_t(KIR_F32));
    muse[h] = kir_var_new(b, "muse", kir_t(KIR_F32));
    kir_decl(b, mnew, kir_bin(b, KIR_MAX, kir_var(b, a->mrun[h]), kir_var(b, mt[h])));
    /* A maximum still −inf counts as 0: masked keys add 2^−inf = 0, never NaN. */
    kir_decl(b, muse[h], kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, mnew), kir_f32(b, -INFINITY)), kir_f32(b, 0.0),
                                    kir_var(b, mnew)));
    kir_decl(b, corr, kir_un(b, KIR_EXP2, kir_bin(b, KIR_SUB, kir_var(b, a->mrun[h]), kir_var(b, muse[h]))));
    kir_assign(b, a->mrun[h], kir_var(b, mnew));
    kir_assign(b, a->lrun[h], kir_bin(b, KIR_MUL, kir_var(b, a->lrun[h]), kir_var(b, corr)));
    for (int j = 0; j < nv; j++)
      for (int e = 0; e < 8; e++)
        if (elem_half(e) == h)
          kir_frag_set(b, o[j], e, kir_bin(b, KIR_MUL, kir_frag_elem(b, o[j], e), kir_var(b, corr)));
  }
  int p = kir_var_new(b, "p", kir_t(KIR_F32));
  kir_decl(b, p, kir_f32(b, 0.0));
  for (int j = 0; j < nk; j++)
    for (int e = 0; e < 8; e++) {
      const int h = elem_half(e);
      kir_assign(b, p, kir_un(b, KIR_EXP2, kir_bin(b, KIR_SUB, kir_frag_elem(b, s[j], e), kir_var(b, muse[h]))));
      kir_assign(b, a->lrun[h], kir_bin(b, KIR_ADD, kir_var(b, a->lrun[h]), kir_var(b, p)));
      kir_frag_set(b, s[j], e, kir_var(b, p));
    }
}

/* o / l for the work-item's elements, through the epilogue, with the scalar kernel's
 * conventions (attention.h). */
static int emit_store(kir_builder *b, const mma_ctx *a, const int *o, int nv) {
  const kt_attention_desc *d = a->d;
  for (int h = 0; h < 2; h++) {
    row_reduce(b, a->lrun[h], KIR_ADD);
    /* A query that kept no key summed nothing: its output is 0, as torch's and ONNX's. */
    int inv = kir_var_new(b, "inv", kir_t(KIR_F32));
    kir_decl(b, inv, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, a->lrun[h]), kir_f32(b, 0.0)), kir_f32(b, 0.0),
                                kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, a->lrun[h]))));
    if (d->tq % BQ) kir_if(b, kt_lt(b, kir_var(b, a->qi[h]), d->tq));
    int orow = kir_var_new(b, "orow", kir_t(KIR_I32));
    kir_decl(b, orow, kir_add(b, kir_var(b, a->ob), kt_scaled(b, kir_var(b, a->qi[h]), d->out.stride_r)));
    for (int j = 0; j < nv; j++)
      for (int e = 0; e < 8; e++) {
        if (elem_half(e) != h) continue;
        kir_expr *col = kir_add(b, elem_col(b, a, e), kir_i32(b, 16 * j));
        kir_expr *v = kir_bin(b, KIR_MUL, kir_frag_elem(b, o[j], e), kir_var(b, inv));
        if (d->epilogue.fn) {
          kir_expr *lin = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, a->bidx), kir_i32(b, d->tq)),
                                                        kir_var(b, a->qi[h])),
                                             kir_i32(b, d->dv)),
                                  col);
          kt_out_pos at = {lin, kir_var(b, a->bidx), kir_var(b, a->qi[h]), col};
          v = d->epilogue.fn(b, v, &at, d->epilogue.user);
          if (!v) return -1;
        }
        kir_store(b, a->out, kir_add(b, kir_var(b, orow), kt_scaled(b, col, d->out.stride_c)), v);
      }
    if (d->tq % BQ) kir_end(b);
  }
  return 0;
}

int kt_attention_mma(kir_module *m, const char *name, const kt_attention_desc *d, kir_kernel **out_kernel,
                     int64_t out_groups[3]) {
  if (!kt_attention_mma_applies(d)) return 0;
  mma_ctx a = {.d = d, .mask = -1};
  a.bk = pick(d, &a.stages);
  a.ls = (int)d->d + PAD;
  a.vs = (int)d->dv + PAD;
  a.stage_halves = (int64_t)a.bk * (a.ls + a.vs);
  a.q_at = (a.stages - 1) * a.stage_halves;
  const int nd = (int)(d->d / 16), nv = (int)(d->dv / 16), nk = a.bk / 16;

  kir_builder *b = kir_kernel_begin(m, name, NL, 1, 1);
  if (!b) return -1;
  a.q = kir_buffer_param(b, "q", KIR_F16, KIR_READ);
  a.k = kir_buffer_param(b, "k", KIR_F16, KIR_READ);
  a.v = kir_buffer_param(b, "v", KIR_F16, KIR_READ);
  if (d->mask_kind)
    a.mask = kir_buffer_param(b, "mask", d->mask_kind == KT_ATTN_MASK_BOOL ? KIR_BOOL : KIR_F32, KIR_READ);
  a.out = kir_buffer_param(b, "out", d->out_elem, KIR_WRITE);
  a.kv = kir_local_array(b, "kv_tiles", KIR_F16, (int)local_halves(d, a.bk, a.stages));

  int qa[MAX_HEAD / 16], s[4], o[MAX_HEAD / 16];
  for (int c = 0; c < nd; c++) qa[c] = kir_frag_new(b, "qa", KIR_FRAG_A);
  for (int j = 0; j < nk; j++) s[j] = kir_frag_new(b, "sc", KIR_FRAG_ACC);
  for (int j = 0; j < nv; j++) o[j] = kir_frag_new(b, "oc", KIR_FRAG_ACC);
  int pa = kir_frag_new(b, "pa", KIR_FRAG_A);
  int fb = kir_frag_new(b, "fb", KIR_FRAG_B);
  emit_setup(b, &a, qa, o);

  int t0 = kir_var_new(b, "t0", kir_t(KIR_I32));
  int k_at = kir_var_new(b, "k_at", kir_t(KIR_I32));
  kir_for(b, t0, kir_i32(b, 0), kir_var(b, a.kend), kir_i32(b, a.bk));
  {
    /* 1. this tile's keys and values in local memory; with two stages, the next tile's copies
     *    into the other stage, whose readers all passed this barrier */
    if (a.stages == 2) {
      kir_async_wait(b, 0);
      kir_barrier(b);
      kir_decl(b, k_at, kir_mul(b, kir_mod(b, kir_div(b, kir_var(b, t0), kir_i32(b, a.bk)), kir_i32(b, 2)),
                                kir_i32(b, a.stage_halves)));
      int next = kir_var_new(b, "next", kir_t(KIR_I32));
      int n_at = kir_var_new(b, "n_at", kir_t(KIR_I32));
      kir_decl(b, next, kir_add(b, kir_var(b, t0), kir_i32(b, a.bk)));
      kir_decl(b, n_at, kir_bin(b, KIR_SUB, kir_i32(b, a.stage_halves), kir_var(b, k_at)));
      kir_if(b, kir_bin(b, KIR_LT, kir_var(b, next), kir_var(b, a.kend)));
      copy_async(b, &a, kir_var(b, n_at), a.ls, a.k, a.kb, &d->k, d->d, kir_var(b, next));
      copy_async(b, &a, kir_add(b, kir_var(b, n_at), kir_i32(b, a.bk * a.ls)), a.vs, a.v, a.vb, &d->v, d->dv,
                 kir_var(b, next));
      kir_async_commit(b);
      kir_end(b);
    } else {
      kir_decl(b, k_at, kir_i32(b, 0));
      stage(b, &a, kir_i32(b, 0), a.ls, a.k, a.kb, &d->k, d->d, a.bk, kir_var(b, t0), a.kend);
      stage(b, &a, kir_i32(b, a.bk * a.ls), a.vs, a.v, a.vb, &d->v, d->dv, a.bk, kir_var(b, t0), a.kend);
      kir_barrier(b);
    }
    /* 2. scores: accumulator j is keys 16j .. 16j + 15; element (d, key) of kᵀ at key·ls + d */
    for (int j = 0; j < nk; j++) {
      kir_frag_zero(b, s[j]);
      for (int c = 0; c < nd; c++) {
        kir_frag_load(b, fb, a.kv, kir_add(b, kir_var(b, k_at), kir_i32(b, (int64_t)16 * j * a.ls + 16 * c)), a.ls, 1);
        kir_frag_mma(b, s[j], qa[c], fb);
      }
    }
    /* 3. softmax in registers */
    emit_softmax(b, &a, s, nk, o, nv, t0);
    /* 4. P·V: P's fragments along the keys, the V tile's (key, dv) row-major */
    for (int c = 0; c < nk; c++) {
      kir_frag_pack(b, pa, s[c]);
      for (int j = 0; j < nv; j++) {
        kir_frag_load(b, fb, a.kv, kir_add(b, kir_var(b, k_at), kir_i32(b, a.bk * a.ls + (int64_t)16 * c * a.vs + 16 * j)),
                      a.vs, 0);
        kir_frag_mma(b, o[j], pa, fb);
      }
    }
    /* One stage: the next tile's copies wait for every warp's last reads. */
    if (a.stages == 1) kir_barrier(b);
  }
  kir_end(b); /* t0 */
  if (emit_store(b, &a, o, nv) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue could not be built");
  }

  out_groups[0] = (d->tq + BQ - 1) / BQ;
  out_groups[1] = kt_attention_items(d);
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel) == 0 ? 1 : -1;
}

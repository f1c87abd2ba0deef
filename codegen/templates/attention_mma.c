/* attention_mma.c — fused attention on tensor cores (attention.h, kt_attention_mma): q, k and v
 * stored as halves, both products through the IR's subgroup matrix fragments (kir.h,
 * KIR_FEATURE_MMA_F16: inline PTX mma.sync on NVIDIA's OpenCL, GL_NV_cooperative_matrix on
 * Vulkan), the online softmax in f32 by the work-items.
 *
 * A work-group of 4 warps (128 work-items) takes 64 consecutive queries of one batch item, a
 * warp 16 of them. The query tile is staged once in local memory as halves (in the array that
 * later holds the key tiles) and every warp keeps its 16 × d rows as d / 16 A fragments in
 * registers. Keys are walked in tiles of BK (64, or 32 / 16 where local memory is short):
 *
 *   1. the K tile ([key][d], which read column-major is the k × n operand of q·kᵀ) and the V
 *      tile ([key][dv], row-major k × n of p·v) are staged as halves; rows past the work-group's
 *      last key are zeros (a zero value row times p = 0 adds nothing; garbage could be NaN).
 *      Where a view copies as raw words the tiles pass through registers: the next tiles'
 *      global loads are issued right after the current ones are stored (prefetch);
 *   2. each warp multiplies its query fragments by the K tile: a 16 × BK score block, stored
 *      fragment by fragment into the warp's f32 slice of local memory;
 *   3. the warp's 32 work-items take the scores over, two per query row (work-item 2r + h has
 *      row r and the columns of parity h): scale, mask (added, or bool keep) and causal cut in
 *      f32, the row's maximum combined with the partner's through local memory, then
 *      p = exp(s − m) written as halves into the warp's P block, the running sum and the output
 *      accumulator rescaled by exp(m_old − m_new) as in the scalar kernel;
 *   4. the warp multiplies its P block (A fragments) by the V tile, stores the 16 × dv product
 *      into its slice, and each work-item adds its row's columns to its accumulator.
 *
 * The output accumulator therefore lives in registers owned by work-items (dv / 2 floats each),
 * not in fragments: an accumulator fragment's element layout is opaque (cooperative matrices),
 * and the per-row rescale needs to know which row an element is in. A tile's P·V comes out of a
 * fresh fragment through local memory instead. Five barriers per key tile; every work-item
 * reaches each (causal work-groups stop at the last key tile their last query sees, uniformly).
 * At the end the two partial sums of a row are added and the output is o / l (0 for a query
 * that kept no key), stored with the scalar kernel's conventions (epilogue, strides).
 *
 * Local memory, in bytes: 2·64·(d + 8) (query, then key tiles) + 2·BK·(dv + 8) (value tile)
 * + 4·64·(max(BK, dv) + 4) (score and product slices) + 2·64·(BK + 8) (P blocks) + 512; with
 * d = dv = 64 and BK = 64, 44.5 KiB. Rows are padded by 8 halves (4 floats) so fragment loads
 * and stores of neighbouring rows fall in distinct banks.
 * Thread safety: reentrant. */
#include "attention.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"
#include "matmul.h"

#define BQ 64        /* queries per work-group */
#define WARPS 4      /* warps per work-group, 16 queries each */
#define NL (32 * WARPS)
#define PAD 8        /* halves after each staged row */
#define SPAD 4       /* floats after each slice row */
#define MAX_HEAD 128 /* largest d and dv on this path (the accumulator is dv / 2 registers) */

typedef struct mma_ctx {
  const kt_attention_desc *d;
  int bk;                       /* keys per tile */
  int ls, vs, sw, ps;           /* row strides of the q/k tile, v tile, slices, P blocks */
  int q, k, v, mask, out;       /* buffers */
  int qk, vt, sl, pt, xm;       /* local arrays */
  /* variables: */
  int lid, warp, lane, r, h;    /* h: the column parity of the work-item's half row */
  int bidx, q0, qi, kend;
  int qb, kb, vb, mb, ob;       /* element bases */
  int mrun, lrun;
  int ov[MAX_HEAD / 2];         /* the accumulator: columns 2i + h of row r */
} mma_ctx;

static int64_t tile_bytes(const kt_attention_desc *d, int bk) {
  int64_t sw = (bk > d->dv ? bk : d->dv) + SPAD;
  return 2 * (int64_t)(bk > BQ ? bk : BQ) * (d->d + PAD) + 2 * (int64_t)bk * (d->dv + PAD) +
         4 * (int64_t)BQ * sw + 2 * (int64_t)BQ * (bk + PAD) + 4 * NL;
}

/* Keys per tile: the largest of 64, 32, 16 whose local memory fits; 0 when none does. */
static int pick_bk(const kt_attention_desc *d) {
  int64_t budget = d->local_mem_bytes > 0 ? d->local_mem_bytes : 48 * 1024;
  for (int bk = 64; bk >= 16; bk /= 2)
    if (tile_bytes(d, bk) <= budget) return bk;
  return 0;
}

int kt_attention_mma_applies(const kt_attention_desc *d) {
  return d->mma && d->device_class != KT_DEVICE_CPU && d->q_elem == KIR_F16 && d->k_elem == KIR_F16 &&
         d->v_elem == KIR_F16 && d->d % 16 == 0 && d->dv % 16 == 0 && d->d <= MAX_HEAD &&
         d->dv <= MAX_HEAD && pick_bk(d) > 0;
}

/* Halves per copy unit of view w: 8 as four raw words where a row's elements are consecutive
 * and every row starts at an even element (d is a multiple of 16), else 1 through f32 (exact). */
static int unit_width(const kt_attention_desc *d, const kt_attn_view *w) {
  if (w->stride_c != 1 || w->stride_r % 2 || w->offset % 2) return 1;
  for (int i = 0; i < d->n_batch; i++)
    if (w->batch_stride[i] % 2) return 1;
  return 8;
}

/* The element base of the work-group's batch item in view w. */
static void decl_base(kir_builder *b, const mma_ctx *a, int var, const kt_attn_view *w) {
  const kt_attention_desc *d = a->d;
  kir_decl(b, var, kir_add(b, kt_batch_offset(b, kir_var(b, a->bidx), d->n_batch, d->batch, w->batch_stride),
                           kir_i32(b, w->offset)));
}

/* F16 local `local` (row stride ls) = rows r0 .. r0 + rows − 1 of view w (cols halves each),
 * rows at or past `lim` (an I32 variable) as zeros. */
static void stage(kir_builder *b, const mma_ctx *a, int local, int ls, int buf, int base, const kt_attn_view *w,
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
  kir_expr *at_local = kir_add(b, kir_mul(b, kir_var(b, row), kir_i32(b, ls)), kir_var(b, col));
  kir_if(b, kir_bin(b, KIR_LT, kir_var(b, gr), kir_var(b, lim)));
  kir_expr *at = kir_add(b, kir_var(b, base), kir_add(b, kt_scaled(b, kir_var(b, gr), w->stride_r),
                                                      kt_scaled(b, kir_var(b, col), w->stride_c)));
  if (vw == 1) kir_local_store(b, local, at_local, kir_load(b, buf, at));
  else kir_local_store_bits(b, local, at_local, kir_load_bits(b, buf, at, vw / 2));
  kir_else(b);
  at_local = kir_add(b, kir_mul(b, kir_var(b, row), kir_i32(b, ls)), kir_var(b, col));
  if (vw == 1) kir_local_store(b, local, at_local, kir_f32(b, 0.0));
  else kir_local_store_bits(b, local, at_local, kir_cast(b, kir_tv(KIR_U32, vw / 2), kir_i32(b, 0)));
  kir_end(b);
  kir_end(b);
}

/* A key or value tile copied through registers, so that the next tile's global loads are
 * issued before the current tile is multiplied (as the GEMM does): unit i of the work-item is
 * 8 halves (four raw words) at tile row ur[i], column uc[i], held in val[i]. Only where the
 * view copies raw words (unit_width 8) and a work-item has at most MAX_UNITS units. */
#define MAX_UNITS 4
typedef struct prefetch {
  int on;
  int local, ls, buf, base, lim, rows, n_units, steps;
  const kt_attn_view *w;
  int ur[MAX_UNITS], uc[MAX_UNITS], val[MAX_UNITS];
} prefetch;

static void prefetch_init(kir_builder *b, const mma_ctx *a, prefetch *p, int local, int ls, int buf, int base,
                          const kt_attn_view *w, int64_t cols, const char *tag) {
  const int64_t per_row = cols / 8;
  *p = (prefetch){.local = local, .ls = ls, .buf = buf, .base = base, .lim = a->kend, .w = w,
                  .rows = a->bk, .n_units = (int)(a->bk * per_row)};
  p->steps = (p->n_units + NL - 1) / NL;
  p->on = unit_width(a->d, w) == 8 && p->steps <= MAX_UNITS;
  if (!p->on) return;
  char nm[32];
  for (int i = 0; i < p->steps; i++) {
    kir_expr *u = kir_add(b, kir_var(b, a->lid), kir_i32(b, (int64_t)NL * i));
    snprintf(nm, sizeof nm, "%s_r%d", tag, i);
    p->ur[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, p->ur[i], kir_div(b, u, kir_i32(b, per_row)));
    snprintf(nm, sizeof nm, "%s_c%d", tag, i);
    p->uc[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, p->uc[i], kir_mul(b, kir_mod(b, kir_add(b, kir_var(b, a->lid), kir_i32(b, (int64_t)NL * i)),
                                             kir_i32(b, per_row)), kir_i32(b, 8)));
    snprintf(nm, sizeof nm, "%s_v%d", tag, i);
    p->val[i] = kir_var_new(b, nm, kir_tv(KIR_U32, 4));
    kir_decl(b, p->val[i], kir_cast(b, kir_tv(KIR_U32, 4), kir_i32(b, 0)));
  }
}

/* Global → registers: the tile whose first row is t0; rows at or past the last key are zeros. */
static void prefetch_fetch(kir_builder *b, const prefetch *p, kir_expr *t0) {
  for (int i = 0; i < p->steps; i++) {
    kir_assign(b, p->val[i], kir_cast(b, kir_tv(KIR_U32, 4), kir_i32(b, 0)));
    kir_expr *gr = kir_add(b, t0, kir_var(b, p->ur[i]));
    kir_expr *guard = kir_bin(b, KIR_LT, gr, kir_var(b, p->lim));
    /* (a unit past the tile, in a last step that the units do not fill, fetches nothing) */
    if ((int64_t)NL * (i + 1) > p->n_units) guard = kt_and_opt(b, kt_lt(b, kir_var(b, p->ur[i]), p->rows), guard);
    kir_if(b, guard);
    kir_expr *at = kir_add(b, kir_var(b, p->base), kir_add(b, kt_scaled(b, kir_add(b, t0, kir_var(b, p->ur[i])), p->w->stride_r),
                                                            kir_var(b, p->uc[i])));
    kir_assign(b, p->val[i], kir_load_bits(b, p->buf, at, 4));
    kir_end(b);
  }
}

/* Registers → the local tile. */
static void prefetch_stash(kir_builder *b, const prefetch *p) {
  for (int i = 0; i < p->steps; i++) {
    int partial = (int64_t)NL * (i + 1) > p->n_units;
    if (partial) kir_if(b, kt_lt(b, kir_var(b, p->ur[i]), p->rows));
    kir_local_store_bits(b, p->local, kir_add(b, kir_mul(b, kir_var(b, p->ur[i]), kir_i32(b, p->ls)),
                                              kir_var(b, p->uc[i])),
                         kir_var(b, p->val[i]));
    if (partial) kir_end(b);
  }
}

/* Index of element (r, c) of the work-item's warp's slice. */
static kir_expr *slice_at(kir_builder *b, const mma_ctx *a, kir_expr *c) {
  kir_expr *row0 = kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16)), kir_var(b, a->r)),
                           kir_i32(b, a->sw));
  return kir_add(b, row0, c);
}

/* Ids, bases, the query tile as A fragments qa[0 .. d/16), and the zeroed running state. */
static void emit_setup(kir_builder *b, mma_ctx *a, const int *qa) {
  const kt_attention_desc *d = a->d;
  const char *names[] = {"lid", "warp", "lane", "r", "h", "bidx", "q0", "qi", "kend", "qb", "kb", "vb", "ob"};
  int *vars[] = {&a->lid, &a->warp, &a->lane, &a->r, &a->h, &a->bidx, &a->q0, &a->qi, &a->kend,
                 &a->qb, &a->kb, &a->vb, &a->ob};
  for (int i = 0; i < (int)(sizeof vars / sizeof vars[0]); i++) *vars[i] = kir_var_new(b, names[i], kir_t(KIR_I32));
  kir_decl(b, a->lid, kir_local_id(b, 0));
  kir_decl(b, a->warp, kir_div(b, kir_var(b, a->lid), kir_i32(b, 32)));
  kir_decl(b, a->lane, kir_mod(b, kir_var(b, a->lid), kir_i32(b, 32)));
  kir_decl(b, a->r, kir_div(b, kir_var(b, a->lane), kir_i32(b, 2)));
  kir_decl(b, a->h, kir_mod(b, kir_var(b, a->lane), kir_i32(b, 2)));
  kir_decl(b, a->bidx, kir_group_id(b, 1));
  kir_decl(b, a->q0, kir_mul(b, kir_group_id(b, 0), kir_i32(b, BQ)));
  kir_decl(b, a->qi, kir_add(b, kir_var(b, a->q0), kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16)),
                                                          kir_var(b, a->r))));
  /* Causal: the work-group's last query sees keys up to itself. */
  kir_expr *last = kir_add(b, kir_var(b, a->q0), kir_i32(b, BQ));
  kir_decl(b, a->kend, d->causal ? kir_bin(b, KIR_MIN, kir_i32(b, d->tk), last) : kir_i32(b, d->tk));
  decl_base(b, a, a->qb, &d->q);
  decl_base(b, a, a->kb, &d->k);
  decl_base(b, a, a->vb, &d->v);
  decl_base(b, a, a->ob, &d->out);
  if (d->mask_kind) {
    /* The mask row of the work-item's query (clamped into range: rows past Tq compute, unstored). */
    a->mb = kir_var_new(b, "mb", kir_t(KIR_I32));
    kir_expr *row = d->tq % BQ ? kir_bin(b, KIR_MIN, kir_var(b, a->qi), kir_i32(b, d->tq - 1)) : kir_var(b, a->qi);
    decl_base(b, a, a->mb, &d->mask);
    kir_assign(b, a->mb, kir_add(b, kir_var(b, a->mb), kt_scaled(b, row, d->mask.stride_r)));
  }
  int qlim = kir_var_new(b, "qlim", kir_t(KIR_I32));
  kir_decl(b, qlim, kir_i32(b, d->tq));
  stage(b, a, a->qk, a->ls, a->q, a->qb, &d->q, d->d, BQ, kir_var(b, a->q0), qlim);
  kir_barrier(b);
  for (int c = 0; c < d->d / 16; c++)
    kir_frag_load(b, qa[c], a->qk,
                  kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16 * a->ls)), kir_i32(b, 16 * c)), a->ls, 0);
  kir_barrier(b); /* the key tiles overwrite the query tile */
  a->mrun = kir_var_new(b, "mrun", kir_t(KIR_F32));
  a->lrun = kir_var_new(b, "lrun", kir_t(KIR_F32));
  kir_decl(b, a->mrun, kir_f32(b, -INFINITY));
  kir_decl(b, a->lrun, kir_f32(b, 0.0));
  for (int i = 0; i < d->dv / 2; i++) {
    a->ov[i] = kir_var_new(b, "acc", kir_t(KIR_F32));
    kir_decl(b, a->ov[i], kir_f32(b, 0.0));
  }
}

/* Step 3 of the file comment: the work-item's half row of scores → P halves, running state. */
static void emit_softmax(kir_builder *b, const mma_ctx *a, int t0) {
  const kt_attention_desc *d = a->d;
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  int c = kir_var_new(b, "c", kir_t(KIR_I32));
  int key = kir_var_new(b, "key", kir_t(KIR_I32));
  int s = kir_var_new(b, "s", kir_t(KIR_F32));
  int mt = kir_var_new(b, "mt", kir_t(KIR_F32));
  kir_decl(b, mt, kir_f32(b, -INFINITY));
  kir_for(b, i, kir_i32(b, 0), kir_i32(b, a->bk / 2), kir_i32(b, 1));
  kir_decl(b, c, kir_add(b, kir_mul(b, kir_var(b, i), kir_i32(b, 2)), kir_var(b, a->h)));
  kir_decl(b, key, kir_add(b, kir_var(b, t0), kir_var(b, c)));
  kir_decl(b, s, kir_f32(b, -INFINITY));
  /* Keys past the work-group's last (a ragged last tile) are −inf; their mask is not read. */
  const int ragged = d->tk % a->bk != 0;
  if (ragged) kir_if(b, kir_bin(b, KIR_LT, kir_var(b, key), kir_var(b, a->kend)));
  kir_assign(b, s, kir_bin(b, KIR_MUL, kir_local_load(b, a->sl, slice_at(b, a, kir_var(b, c))),
                           kir_f32(b, d->scale)));
  if (d->mask_kind) {
    kir_expr *mv = kir_load(b, a->mask, kir_add(b, kir_var(b, a->mb), kt_scaled(b, kir_var(b, key), d->mask.stride_c)));
    kir_assign(b, s, d->mask_kind == KT_ATTN_MASK_ADD ? kir_bin(b, KIR_ADD, kir_var(b, s), mv)
                                                      : kir_select(b, mv, kir_var(b, s), kir_f32(b, -INFINITY)));
  }
  if (d->causal)
    kir_assign(b, s, kir_select(b, kir_bin(b, KIR_GT, kir_var(b, key), kir_var(b, a->qi)), kir_f32(b, -INFINITY),
                                kir_var(b, s)));
  if (ragged) kir_end(b);
  kir_local_store(b, a->sl, slice_at(b, a, kir_var(b, c)), kir_var(b, s));
  kir_assign(b, mt, kir_bin(b, KIR_MAX, kir_var(b, mt), kir_var(b, s)));
  kir_end(b);

  /* The row's maximum: this half's and the partner's (work-item lane ^ 1). */
  kir_local_store(b, a->xm, kir_var(b, a->lid), kir_var(b, mt));
  kir_barrier(b);
  int mnew = kir_var_new(b, "mnew", kir_t(KIR_F32));
  int muse = kir_var_new(b, "muse", kir_t(KIR_F32));
  int corr = kir_var_new(b, "corr", kir_t(KIR_F32));
  kir_expr *partner = kir_add(b, kir_bin(b, KIR_SUB, kir_var(b, a->lid), kir_var(b, a->h)),
                              kir_bin(b, KIR_SUB, kir_i32(b, 1), kir_var(b, a->h)));
  kir_decl(b, mnew, kir_bin(b, KIR_MAX, kir_var(b, a->mrun),
                            kir_bin(b, KIR_MAX, kir_var(b, mt), kir_local_load(b, a->xm, partner))));
  /* A maximum still −inf counts as 0: masked keys add exp(−inf) = 0, never NaN. */
  kir_decl(b, muse, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, mnew), kir_f32(b, -INFINITY)), kir_f32(b, 0.0),
                               kir_var(b, mnew)));
  kir_decl(b, corr, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_var(b, a->mrun), kir_var(b, muse))));
  kir_assign(b, a->mrun, kir_var(b, mnew));
  kir_assign(b, a->lrun, kir_bin(b, KIR_MUL, kir_var(b, a->lrun), kir_var(b, corr)));
  for (int j = 0; j < d->dv / 2; j++)
    kir_assign(b, a->ov[j], kir_bin(b, KIR_MUL, kir_var(b, a->ov[j]), kir_var(b, corr)));
  int p = kir_var_new(b, "p", kir_t(KIR_F32));
  kir_for(b, i, kir_i32(b, 0), kir_i32(b, a->bk / 2), kir_i32(b, 1));
  kir_decl(b, c, kir_add(b, kir_mul(b, kir_var(b, i), kir_i32(b, 2)), kir_var(b, a->h)));
  kir_decl(b, p, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, kir_local_load(b, a->sl, slice_at(b, a, kir_var(b, c))),
                                            kir_var(b, muse))));
  kir_assign(b, a->lrun, kir_bin(b, KIR_ADD, kir_var(b, a->lrun), kir_var(b, p)));
  kir_expr *prow = kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, a->warp), kir_i32(b, 16)), kir_var(b, a->r)),
                           kir_i32(b, a->ps));
  kir_local_store(b, a->pt, kir_add(b, prow, kir_var(b, c)), kir_var(b, p));
  kir_end(b);
}

/* o / l for the work-item's half row, through the epilogue, with the scalar kernel's
 * conventions (attention.h). */
static int emit_store(kir_builder *b, const mma_ctx *a) {
  const kt_attention_desc *d = a->d;
  /* The row's sum: this half's and the partner's. The last reads of xm in the loop came
   * before its last barriers. */
  kir_local_store(b, a->xm, kir_var(b, a->lid), kir_var(b, a->lrun));
  kir_barrier(b);
  kir_expr *partner = kir_add(b, kir_bin(b, KIR_SUB, kir_var(b, a->lid), kir_var(b, a->h)),
                              kir_bin(b, KIR_SUB, kir_i32(b, 1), kir_var(b, a->h)));
  int l = kir_var_new(b, "l", kir_t(KIR_F32));
  int inv = kir_var_new(b, "inv", kir_t(KIR_F32));
  kir_decl(b, l, kir_bin(b, KIR_ADD, kir_var(b, a->lrun), kir_local_load(b, a->xm, partner)));
  /* A query that kept no key summed nothing: its output is 0, as torch's and ONNX's. */
  kir_decl(b, inv, kir_select(b, kir_bin(b, KIR_EQ, kir_var(b, l), kir_f32(b, 0.0)), kir_f32(b, 0.0),
                              kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, l))));
  if (d->tq % BQ) kir_if(b, kt_lt(b, kir_var(b, a->qi), d->tq));
  int orow = kir_var_new(b, "orow", kir_t(KIR_I32));
  kir_decl(b, orow, kir_add(b, kir_var(b, a->ob), kt_scaled(b, kir_var(b, a->qi), d->out.stride_r)));
  for (int i = 0; i < d->dv / 2; i++) {
    kir_expr *col = kir_add(b, kir_var(b, a->h), kir_i32(b, 2 * i));
    kir_expr *x = kir_bin(b, KIR_MUL, kir_var(b, a->ov[i]), kir_var(b, inv));
    if (d->epilogue.fn) {
      kir_expr *lin = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, a->bidx), kir_i32(b, d->tq)),
                                                    kir_var(b, a->qi)),
                                         kir_i32(b, d->dv)),
                              col);
      kt_out_pos at = {lin, kir_var(b, a->bidx), kir_var(b, a->qi), col};
      x = d->epilogue.fn(b, x, &at, d->epilogue.user);
      if (!x) return -1;
    }
    kir_store(b, a->out, kir_add(b, kir_var(b, orow), kt_scaled(b, col, d->out.stride_c)), x);
  }
  if (d->tq % BQ) kir_end(b);
  return 0;
}

/* Column block j (16 wide) of the warp's 16-row product: Σ_c fa[c] · the B fragment of `local`
 * at element at0 + c·step (stride, col_major as kir_frag_load), into the slice's columns
 * 16j .. 16j + 15. */
static void frag_product(kir_builder *b, const mma_ctx *a, int acc, int fb, int n, const int *fa, int local,
                         int64_t at0, int64_t step, int stride, int col_major, int slice0, int j) {
  kir_frag_zero(b, acc);
  for (int c = 0; c < n; c++) {
    kir_frag_load(b, fb, local, kir_i32(b, at0 + c * step), stride, col_major);
    kir_frag_mma(b, acc, fa[c], fb);
  }
  kir_frag_store(b, acc, a->sl, kir_add(b, kir_var(b, slice0), kir_i32(b, 16 * j)), a->sw);
}

int kt_attention_mma(kir_module *m, const char *name, const kt_attention_desc *d, kir_kernel **out_kernel,
                     int64_t out_groups[3]) {
  if (!kt_attention_mma_applies(d)) return 0;
  mma_ctx a = {.d = d, .mask = -1};
  a.bk = pick_bk(d);
  a.ls = (int)d->d + PAD;
  a.vs = (int)d->dv + PAD;
  a.sw = (a.bk > d->dv ? a.bk : (int)d->dv) + SPAD;
  a.ps = a.bk + PAD;
  const int nd = (int)(d->d / 16), nv = (int)(d->dv / 16), nk = a.bk / 16;

  kir_builder *b = kir_kernel_begin(m, name, NL, 1, 1);
  if (!b) return -1;
  a.q = kir_buffer_param(b, "q", KIR_F16, KIR_READ);
  a.k = kir_buffer_param(b, "k", KIR_F16, KIR_READ);
  a.v = kir_buffer_param(b, "v", KIR_F16, KIR_READ);
  if (d->mask_kind)
    a.mask = kir_buffer_param(b, "mask", d->mask_kind == KT_ATTN_MASK_BOOL ? KIR_BOOL : KIR_F32, KIR_READ);
  a.out = kir_buffer_param(b, "out", d->out_elem, KIR_WRITE);
  a.qk = kir_local_array(b, "qk_tile", KIR_F16, (a.bk > BQ ? a.bk : BQ) * a.ls);
  a.vt = kir_local_array(b, "v_tile", KIR_F16, a.bk * a.vs);
  a.sl = kir_local_array(b, "s_slice", KIR_F32, BQ * a.sw);
  a.pt = kir_local_array(b, "p_tile", KIR_F16, BQ * a.ps);
  a.xm = kir_local_array(b, "pair", KIR_F32, NL);

  int qa[MAX_HEAD / 16], pa[4];
  for (int c = 0; c < nd; c++) qa[c] = kir_frag_new(b, "qa", KIR_FRAG_A);
  for (int c = 0; c < nk; c++) pa[c] = kir_frag_new(b, "pa", KIR_FRAG_A);
  int fb = kir_frag_new(b, "fb", KIR_FRAG_B);
  int acc = kir_frag_new(b, "fc", KIR_FRAG_ACC);
  emit_setup(b, &a, qa);

  int t0 = kir_var_new(b, "t0", kir_t(KIR_I32));
  int slice0 = kir_var_new(b, "slice0", kir_t(KIR_I32));
  int prow0 = kir_var_new(b, "prow0", kir_t(KIR_I32));
  kir_decl(b, slice0, kir_mul(b, kir_var(b, a.warp), kir_i32(b, 16 * a.sw)));
  kir_decl(b, prow0, kir_mul(b, kir_var(b, a.warp), kir_i32(b, 16 * a.ps)));
  /* The key and value tiles through registers where they copy as raw words (prefetch), else
   * straight into local memory at the top of each step. */
  prefetch pk, pv;
  prefetch_init(b, &a, &pk, a.qk, a.ls, a.k, a.kb, &d->k, d->d, "uk");
  prefetch_init(b, &a, &pv, a.vt, a.vs, a.v, a.vb, &d->v, d->dv, "uv");
  if (pk.on) prefetch_fetch(b, &pk, kir_i32(b, 0));
  if (pv.on) prefetch_fetch(b, &pv, kir_i32(b, 0));
  kir_for(b, t0, kir_i32(b, 0), kir_var(b, a.kend), kir_i32(b, a.bk));
  {
    /* 1. the key and value tiles; then the next ones' global loads, in flight during this step */
    if (pk.on) prefetch_stash(b, &pk);
    else stage(b, &a, a.qk, a.ls, a.k, a.kb, &d->k, d->d, a.bk, kir_var(b, t0), a.kend);
    if (pv.on) prefetch_stash(b, &pv);
    else stage(b, &a, a.vt, a.vs, a.v, a.vb, &d->v, d->dv, a.bk, kir_var(b, t0), a.kend);
    kir_barrier(b);
    if (pk.on || pv.on) {
      kir_expr *next = kir_add(b, kir_var(b, t0), kir_i32(b, a.bk));
      kir_if(b, kir_bin(b, KIR_LT, next, kir_var(b, a.kend)));
      if (pk.on) prefetch_fetch(b, &pk, kir_add(b, kir_var(b, t0), kir_i32(b, a.bk)));
      if (pv.on) prefetch_fetch(b, &pv, kir_add(b, kir_var(b, t0), kir_i32(b, a.bk)));
      kir_end(b);
    }
    /* 2. scores: fragment j is keys 16j .. 16j + 15; element (d, key) of kᵀ at key·ls + d */
    for (int j = 0; j < nk; j++)
      frag_product(b, &a, acc, fb, nd, qa, a.qk, (int64_t)16 * j * a.ls, 16, a.ls, 1, slice0, j);
    kir_barrier(b);
    /* 3. softmax (a barrier inside: the pair's maxima) */
    emit_softmax(b, &a, t0);
    kir_barrier(b);
    /* 4. P·V: P's fragments along the keys, the V tile's (key, dv) row-major */
    for (int c = 0; c < nk; c++)
      kir_frag_load(b, pa[c], a.pt, kir_add(b, kir_var(b, prow0), kir_i32(b, 16 * c)), a.ps, 0);
    for (int j = 0; j < nv; j++)
      frag_product(b, &a, acc, fb, nk, pa, a.vt, 16 * j, (int64_t)16 * a.vs, a.vs, 0, slice0, j);
    kir_barrier(b);
    for (int i = 0; i < d->dv / 2; i++)
      kir_assign(b, a.ov[i], kir_bin(b, KIR_ADD, kir_var(b, a.ov[i]),
                                     kir_local_load(b, a.sl, slice_at(b, &a, kir_add(b, kir_var(b, a.h),
                                                                                     kir_i32(b, 2 * i))))));
    /* (The next tile's staging comes after this tile's last fragment loads: barrier above.) */
  }
  kir_end(b); /* t0 */
  if (emit_store(b, &a) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue could not be built");
  }

  int64_t items = 1;
  for (int i = 0; i < d->n_batch; i++) items *= d->batch[i];
  out_groups[0] = (d->tq + BQ - 1) / BQ;
  out_groups[1] = items;
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel) == 0 ? 1 : -1;
}

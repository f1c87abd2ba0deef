/* matmul_wgmma.c — the GEMM on Hopper's warpgroup products (kir.h kir_wg_*, KIR_FEATURE_WGMMA:
 * wgmma.mma_async through inline PTX retargeted to sm_90a, OpenCL on compute capability 9.0),
 * built in front of the tensor-core kernel of matmul_mma.c (its fallback) with that kernel's
 * work-group tile TM × TN, each 64 or 128, for f16 GEMMs.
 *
 * A work-group is TM / 64 warpgroups (2·TM work-items); warpgroup g computes rows 64g ..
 * 64g + 63 of the tile, its warp w rows 16w .. 16w + 15 as TN / 16 accumulator fragments of 16
 * columns (kir_wg_mma's layout). K is walked in steps of 32 through a ring of S local stages
 * (as many as 48 KiB holds, at most 4: 3 at 128 × 128): the tiles of steps ahead arrive by
 * asynchronous 16-byte copies (cp.async), S − 1 steps ahead of the products; in a step each
 * work-item waits for its copies of the step's tiles, fences them for the products
 * (kir_async_proxy_fence), and one barrier publishes them and closes the step before, whose
 * stage then takes the copies S − 1 steps ahead; then each warpgroup issues two products
 * (k 0..15, 16..31) over the stage and waits for them.
 *
 * Local layouts (kir.h, PTX's canonical ones) are swizzled so that both the copies and the
 * products run without bank conflicts: neighbouring work-items copy neighbouring 16-byte
 * chunks of a row (global reads coalesced), and the swizzle spreads each 8 of them over the
 * 32 banks. A [M, K] (k contiguous): rows of 32 halves (64 bytes, 64-byte swizzle), 8-row atoms
 * of 512 bytes. B as [K, N] (n contiguous, n-major for the product): rows of 64 halves of n
 * (128-byte swizzle), atoms of 8 rows of k (1 KiB), 64-wide blocks of the tile 32 rows apart;
 * B as [N, K] (k contiguous) like A. On the H200 at 4096³ (128 × 128): 0.275 ms (0.71× cuBLAS),
 * where the same tiles without swizzling took 0.98 (tools/gpu/wgmma_probe.c: the copies' bank
 * conflicts and uncoalesced reads) and the tensor-core kernel 0.476.
 *
 * It applies where the tensor-core kernel takes tiles of 64 or 128 each way and both operands
 * are halves copied whole: A's k contiguous, B's k or n, offsets, row and batch strides multiples
 * of 8 halves (16 bytes), K (and N for an n-major B) multiples of 8; no gathered B. An A
 * layer-normalized on load (matmul_tile.h's prologue; f16 or f32, k contiguous) is taken in
 * 128-row tiles: its row statistics first, then each step's tile through registers — fetched
 * before the step's products, normalized, stored as halves after them into the next step's
 * stage — with the stages that still fit beside the statistics (2 at 128 × 128). Rows, columns
 * and k past M, N or K are zeros in the local tiles (copies of source size 0, guarded loads),
 * so any M, N and K of that kind work. The epilogue reads the accumulators in
 * registers (kir_frag_elem): a product stored as it is into f16 rows goes through local memory
 * as whole 16-byte chunks (store_staged), others through the shared GEMM frame (bias, fused
 * epilogue), two columns a store where C's rows allow.
 * Thread safety: reentrant. */
#include "matmul.h"
#include "matmul_tile.h"

#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define TK 32
#define MAX_STAGES 4
#define MAX_LOCAL (48 * 1024)

int kt_matmul_wgmma_applies(const kt_matmul_desc *d, const int tiles[2]) {
  if (!d->wgmma || d->device_class == KT_DEVICE_CPU || (tiles[0] != 64 && tiles[0] != 128) ||
      (tiles[1] != 64 && tiles[1] != 128) || d->b_im2col.on || d->b_elem != KIR_F16 || d->a_stride_k != 1 ||
      (d->a_elem != KIR_F16 && !(d->a_norm && d->a_elem == KIR_F32)))
    return 0;
  /* A normalized on load only in 128-row tiles: at 64 rows (few rows in all) the register
   * staging cost more than the products saved (H200: the f16 block at T = 128 0.225 -> 0.236 ms,
   * at T = 1024 0.658 -> 0.64 with 128-row tiles) */
  if (d->a_norm && tiles[0] != 128) return 0;
  const int b_kmajor = d->b_stride_k == 1;
  if (!b_kmajor && d->b_stride_n != 1) return 0;
  /* A normalized on load goes through registers (norm_fetch): any layout with k contiguous */
  return (d->a_norm || kt_matmul_chunks_whole(d, d->a_offset, d->a_batch_stride, d->a_stride_m, d->k)) &&
         kt_matmul_chunks_whole(d, d->b_offset, d->b_batch_stride, b_kmajor ? d->b_stride_n : d->b_stride_k,
                  b_kmajor ? d->k : d->n);
}

/* The local index of the chunk (row r, chunk c of 8 halves) of a k-major tile with rows of TK
 * halves: atoms of 8 rows, the chunk swizzled by the row (64-byte rows: c ^ (r % 8) / 2). */
static kir_expr *kmajor_at(kir_builder *b, kir_expr *r, kir_expr *c) {
  kir_expr *r8 = kir_mod(b, r, kir_i32(b, 8));
  kir_expr *sw = kir_bin(b, KIR_XOR, c, kir_div(b, r8, kir_i32(b, 2)));
  return kir_add(b, kir_add(b, kir_mul(b, kir_div(b, r, kir_i32(b, 8)), kir_i32(b, 8 * TK)),
                            kir_mul(b, r8, kir_i32(b, TK))),
                 kir_mul(b, sw, kir_i32(b, 8)));
}

/* ... of an n-major tile (rows of 64 halves of n along k, 128-byte swizzle): chunk c (of 8 n)
 * of row k is in the 64-wide block c / 8, atom k / 8, at chunk (c % 8) ^ (k % 8). */
static kir_expr *nmajor_at(kir_builder *b, kir_expr *k, kir_expr *c) {
  kir_expr *k8 = kir_mod(b, k, kir_i32(b, 8));
  kir_expr *sw = kir_bin(b, KIR_XOR, kir_mod(b, c, kir_i32(b, 8)), k8);
  kir_expr *at = kir_add(b, kir_mul(b, kir_div(b, c, kir_i32(b, 8)), kir_i32(b, 64 * TK)),
                         kir_mul(b, kir_div(b, k, kir_i32(b, 8)), kir_i32(b, 512)));
  return kir_add(b, at, kir_add(b, kir_mul(b, k8, kir_i32(b, 64)), kir_mul(b, sw, kir_i32(b, 8))));
}

typedef struct operand {
  int local, buf, base;   /* local array, buffer, I32 base variable */
  int nmajor;             /* B stored [K, N] */
  int64_t rows, row_stride, r_lim, c_lim; /* tile rows (m/n, or k when n-major) and limits */
  int per_row;            /* chunks per tile row */
  int stage;              /* halves per stage */
  int r_tile, c_tile;     /* the tile's extents along the rows' and the columns' global axes */
  const kt_norm_state *norm; /* A layer-normalized on load (through registers: norm_fetch), or NULL */
  int val[2][8];          /* norm: a work-item's two chunks of A (F32 registers) */
} operand;

/* A's tile at k0 (an I32 expression) into the registers, normalized (the layer-norm prologue,
 * matmul_tile.h): chunk u = lid + L·i is row u / (TK / 8), k from (u % (TK / 8))·8; elements past
 * M or K are zeros. */
static void norm_fetch(kir_builder *b, operand *o, kir_expr *k0, int m0, int lid, int L, int declare) {
  for (int i = 0; i < (int)o->rows * o->per_row / L; i++) {
    kir_expr *u = kir_add(b, kir_var(b, lid), kir_i32(b, (int64_t)L * i));
    kir_expr *r = kir_div(b, u, kir_i32(b, o->per_row));
    kir_expr *gr = kir_add(b, kir_var(b, m0), r);
    for (int e = 0; e < 8; e++) {
      if (declare) {
        char nm[24];
        snprintf(nm, sizeof nm, "an%d_%d", i, e);
        o->val[i][e] = kir_var_new(b, nm, kir_t(KIR_F32));
        kir_decl(b, o->val[i][e], kir_f32(b, 0.0));
      } else {
        kir_assign(b, o->val[i][e], kir_f32(b, 0.0));
      }
      kir_expr *gk = kir_add(b, k0, kir_add(b, kir_mul(b, kir_mod(b, u, kir_i32(b, o->per_row)), kir_i32(b, 8)),
                                            kir_i32(b, e)));
      kir_expr *guard = kt_and_opt(b, o->r_lim % o->r_tile ? kt_lt(b, gr, o->r_lim) : NULL,
                                   o->c_lim % o->c_tile ? kt_lt(b, gk, o->c_lim) : NULL);
      if (guard) kir_if(b, guard);
      kir_expr *v = kir_load(b, o->buf, kir_add(b, kir_var(b, o->base), kir_add(b, kt_scaled(b, gr, o->row_stride), gk)));
      kir_assign(b, o->val[i][e], kt_norm_apply(b, o->norm, v, r, gk));
      if (guard) kir_end(b);
    }
  }
}

/* The registers of norm_fetch into stage `slot` of A's local tile, rounded to halves. */
static void norm_stash(kir_builder *b, const operand *o, int lid, int L, kir_expr *slot) {
  for (int i = 0; i < (int)o->rows * o->per_row / L; i++) {
    kir_expr *u = kir_add(b, kir_var(b, lid), kir_i32(b, (int64_t)L * i));
    kir_expr *at = kir_add(b, kir_mul(b, slot, kir_i32(b, o->stage)),
                           kmajor_at(b, kir_div(b, u, kir_i32(b, o->per_row)), kir_mod(b, u, kir_i32(b, o->per_row))));
    for (int e = 0; e < 8; e++) kir_local_store(b, o->local, kir_add(b, at, kir_i32(b, e)), kir_var(b, o->val[i][e]));
  }
}

/* Copies the operand tile whose first row and column (global: m/n and k, or k and n) are r0, c0
 * into stage `slot` (an I32 expression), asynchronously: chunk u = lid + L·i of the tile is row
 * u / per_row, chunk u % per_row. */
static void copy_tile(kir_builder *b, const operand *o, kir_expr *r0, kir_expr *c0, int lid, int L, kir_expr *slot) {
  const int chunks = (int)o->rows * o->per_row;
  for (int i = 0; i < chunks / L; i++) {
    kir_expr *u = kir_add(b, kir_var(b, lid), kir_i32(b, (int64_t)L * i));
    kir_expr *r = kir_div(b, u, kir_i32(b, o->per_row)), *c = kir_mod(b, u, kir_i32(b, o->per_row));
    kir_expr *gr = kir_add(b, r0, r), *gc = kir_add(b, c0, kir_mul(b, c, kir_i32(b, 8)));
    /* (tiles start at multiples of their extent: a limit that is one never cuts a tile) */
    kir_expr *present = kt_and_opt(b, o->r_lim % o->r_tile ? kt_lt(b, gr, o->r_lim) : NULL,
                                   o->c_lim % o->c_tile ? kt_lt(b, gc, o->c_lim) : NULL);
    kir_expr *from = kir_add(b, kir_var(b, o->base), kir_add(b, kt_scaled(b, gr, o->row_stride), gc));
    kir_expr *at = kir_add(b, kir_mul(b, slot, kir_i32(b, o->stage)), o->nmajor ? nmajor_at(b, r, c) : kmajor_at(b, r, c));
    kir_async_copy(b, o->local, at, kir_load_bits(b, o->buf, from, 4), present);
  }
}

static void copy_step(kir_builder *b, const operand *oa, const operand *ob, kir_expr *k0, int m0, int n0, int lid,
                      int L, kir_expr *slot) {
  if (!oa->norm) copy_tile(b, oa, kir_var(b, m0), k0, lid, L, slot);
  if (ob->nmajor) copy_tile(b, ob, k0, kir_var(b, n0), lid, L, slot);
  else copy_tile(b, ob, kir_var(b, n0), k0, lid, L, slot);
}

/* Element e of accumulator fragment j of warp `warp` is at tile row 16·warp + g + 8·(e / 2 % 2),
 * column 16j + 8·(e / 4) + 2t + e % 2 (lane = 4g + t; kir.h). */

/* The epilogue from the registers through the shared GEMM frame (bias, fused epilogue, C's
 * type and layout): pairs e, e + 1 are neighbouring columns, one two-wide store where C's rows
 * allow. 0, or -1 on failure. */
static int store_registers(kir_builder *b, const kt_matmul_frame *f, int acc, int FN, int warp, int lane, int m0,
                           int n0, int TM, int TN) {
  const kt_matmul_desc *d = f->d;
  const int64_t M = d->m, N = d->n;
  const int pair = d->c_stride_n == 1 && N % 2 == 0 && (!d->c_fold || d->c_fold % 2 == 0);
  int row0 = kir_var_new(b, "row0", kir_t(KIR_I32)), col0 = kir_var_new(b, "col0", kir_t(KIR_I32));
  kir_decl(b, row0, kir_add(b, kir_add(b, kir_var(b, m0), kir_mul(b, kir_var(b, warp), kir_i32(b, 16))),
                            kir_div(b, kir_var(b, lane), kir_i32(b, 4))));
  kir_decl(b, col0, kir_add(b, kir_var(b, n0), kir_mul(b, kir_mod(b, kir_var(b, lane), kir_i32(b, 4)), kir_i32(b, 2))));
  for (int j = 0; j < FN; j++)
    for (int e = 0; e < 8; e += 2) {
      kir_expr *row = kir_add(b, kir_var(b, row0), kir_i32(b, 8 * (e / 2 % 2)));
      kir_expr *col = kir_add(b, kir_var(b, col0), kir_i32(b, 16 * j + 8 * (e / 4)));
      for (int q = 0; q < (pair ? 1 : 2); q++) {
        kir_expr *c = q ? kir_add(b, col, kir_i32(b, 1)) : col;
        kir_expr *guard = kt_and_opt(b, M % TM ? kt_lt(b, row, M) : NULL, N % TN ? kt_lt(b, c, N) : NULL);
        if (guard) kir_if(b, guard);
        kir_expr *v[2] = {kir_frag_elem(b, acc + j, e + q), kir_frag_elem(b, acc + j, e + 1)};
        if (kt_matmul_frame_store(b, f, pair ? 2 : 1, v, row, c) != 0) return -1;
        if (guard) kir_end(b);
      }
    }
  return 0;
}

/* A product stored as it is (f16 C, no bias or fused epilogue) into rows of whole 16-byte
 * chunks: the staged epilogue applies. */
static int staged_epilogue(const kt_matmul_desc *d) {
  return d->c_elem == KIR_F16 && !d->has_bias && !d->epilogue.fn && !d->c_fold && d->c_stride_n == 1 &&
         kt_matmul_chunks_whole(d, 0, d->c_batch_stride, d->c_stride_m, d->n);
}

#define STAGE_ROW (64 + 8) /* halves a staged row of 64 takes: 144 bytes, 4 banks on per row */

/* The staged epilogue: 64 columns at a time, each warp rounds its 16 rows to halves into its
 * slice of A's local tiles (free now: every product was waited for and a barrier passes), and
 * then stores them as 16-byte chunks, 8 work-items a row — whole lines, where the stores from
 * the registers write 16 bytes of each of 8 rows (on the H200 the register epilogue took 13% of
 * a 4096³ product, tools/gpu/wgmma_probe.c). 0, or -1 on failure. */
static int store_staged(kir_builder *b, const kt_matmul_frame *f, const operand *oa, int acc, int FN, int warp,
                        int lane, int m0, int n0, int TM, int TN) {
  const kt_matmul_desc *d = f->d;
  const int64_t M = d->m, N = d->n;
  int slice = kir_var_new(b, "slice", kir_t(KIR_I32)), g = kir_var_new(b, "g", kir_t(KIR_I32));
  int t2 = kir_var_new(b, "t2", kir_t(KIR_I32));
  kir_decl(b, slice, kir_mul(b, kir_var(b, warp), kir_i32(b, 16 * STAGE_ROW)));
  kir_decl(b, g, kir_div(b, kir_var(b, lane), kir_i32(b, 4)));
  kir_decl(b, t2, kir_mul(b, kir_mod(b, kir_var(b, lane), kir_i32(b, 4)), kir_i32(b, 2)));
  for (int p = 0; p < TN / 64; p++) {
    kir_barrier(b);
    for (int j = 4 * p; j < 4 * p + 4 && j < FN; j++)
      for (int e = 0; e < 8; e++) {
        kir_expr *r = kir_add(b, kir_var(b, g), kir_i32(b, 8 * (e / 2 % 2)));
        kir_expr *c = kir_add(b, kir_var(b, t2), kir_i32(b, 16 * (j - 4 * p) + 8 * (e / 4) + e % 2));
        kir_local_store(b, oa->local, kir_add(b, kir_var(b, slice), kir_add(b, kir_mul(b, r, kir_i32(b, STAGE_ROW)), c)),
                        kir_frag_elem(b, acc + j, e));
      }
    kir_barrier(b);
    for (int i = 0; i < 4; i++) { /* 16 rows × 8 chunks: chunk lane + 32i */
      kir_expr *q = kir_add(b, kir_var(b, lane), kir_i32(b, 32 * i));
      kir_expr *r = kir_div(b, q, kir_i32(b, 8)), *c = kir_mul(b, kir_mod(b, q, kir_i32(b, 8)), kir_i32(b, 8));
      kir_expr *row = kir_add(b, kir_add(b, kir_var(b, m0), kir_mul(b, kir_var(b, warp), kir_i32(b, 16))), r);
      kir_expr *col = kir_add(b, kir_var(b, n0), kir_add(b, kir_i32(b, 64 * p), c));
      kir_expr *guard = kt_and_opt(b, M % TM ? kt_lt(b, row, M) : NULL, N % TN ? kt_lt(b, col, N) : NULL);
      if (guard) kir_if(b, guard);
      kir_expr *words = kir_local_load_bits(b, oa->local, kir_add(b, kir_var(b, slice), kir_add(b, kir_mul(b, r, kir_i32(b, STAGE_ROW)), c)), 4);
      kir_store_bits(b, f->bC, kir_add(b, kir_var(b, f->c_base), kir_add(b, kt_scaled(b, row, d->c_stride_m), col)), words);
      if (guard) kir_end(b);
    }
  }
  return kir_builder_failed(b) ? -1 : 0;
}

int kt_matmul_wgmma(kir_module *m, const char *name, const kt_matmul_desc *d, const int tiles[2],
                    kir_kernel **out_kernel, int64_t out_groups[3]) {
  const int64_t M = d->m, N = d->n, K = d->k;
  const int TM = tiles[0], TN = tiles[1], L = 2 * TM, FN = TN / 16;
  const int stats = d->a_norm ? 8 * TM : 0; /* the prologue's row statistics */
  const int fit = (MAX_LOCAL - stats) / ((TM + TN) * TK * 2), S = fit < MAX_STAGES ? fit : MAX_STAGES;
  kt_matmul_frame f;
  kir_builder *b = kt_matmul_frame_begin(m, name, d, L, 1, &f);
  if (!b) return -1;
  kt_norm_state ns = kt_matmul_norm_state(b, &f, TM);
  operand oa = {.local = kir_local_array(b, "a_tile", KIR_F16, S * TM * TK), .buf = f.bA, .base = f.a_base,
                .nmajor = 0, .rows = TM, .row_stride = d->a_stride_m, .r_lim = M, .c_lim = K, .per_row = TK / 8,
                .stage = TM * TK, .r_tile = TM, .c_tile = TK, .norm = d->a_norm ? &ns : NULL};
  const int nmajor = d->b_stride_k != 1;
  operand ob = {.local = kir_local_array(b, "b_tile", KIR_F16, S * TK * TN), .buf = f.bB, .base = f.b_base,
                .nmajor = nmajor, .rows = nmajor ? TK : TN, .row_stride = nmajor ? d->b_stride_k : d->b_stride_n,
                .r_lim = nmajor ? K : N, .c_lim = nmajor ? N : K, .per_row = nmajor ? TN / 8 : TK / 8,
                .stage = TK * TN, .r_tile = nmajor ? TK : TN, .c_tile = nmajor ? TN : TK};

  int lid = kir_var_new(b, "lid", kir_t(KIR_I32)), warp = kir_var_new(b, "warp", kir_t(KIR_I32));
  int lane = kir_var_new(b, "lane", kir_t(KIR_I32));
  int m0 = kir_var_new(b, "m0", kir_t(KIR_I32)), n0 = kir_var_new(b, "n0", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_decl(b, warp, kir_div(b, kir_var(b, lid), kir_i32(b, 32)));
  kir_decl(b, lane, kir_mod(b, kir_var(b, lid), kir_i32(b, 32)));
  kir_decl(b, m0, kir_mul(b, kir_group_id(b, 1), kir_i32(b, TM)));
  kir_decl(b, n0, kir_mul(b, kir_group_id(b, 0), kir_i32(b, TN)));
  if (oa.norm) kt_matmul_norm_stats(b, d, TM, f.bA, f.a_base, m0, lid, L, &ns);
  int acc = -1;
  for (int j = 0; j < FN; j++) {
    int a = kir_frag_new(b, "acc", KIR_FRAG_ACC);
    if (j == 0) acc = a;
    kir_frag_zero(b, a);
  }

  /* Steps 0 .. S − 2 in flight before the loop, one group of copies each; a normalized A's
   * first tile stored (the loop's step s fetches step s + 1's into registers before its
   * products and stores it after them). */
  for (int st = 0; st + 1 < S; st++) {
    if ((int64_t)st * TK < K) copy_step(b, &oa, &ob, kir_i32(b, (int64_t)st * TK), m0, n0, lid, L, kir_i32(b, st));
    kir_async_commit(b);
  }
  if (oa.norm) {
    norm_fetch(b, &oa, kir_i32(b, 0), m0, lid, L, 1);
    norm_stash(b, &oa, lid, L, kir_i32(b, 0));
  }
  /* The warpgroup's A rows in a stage, and the stage of step `step`. */
  int a_rows = kir_var_new(b, "a_rows", kir_t(KIR_I32));
  kir_decl(b, a_rows, kir_mul(b, kir_div(b, kir_var(b, warp), kir_i32(b, 4)), kir_i32(b, 64 * TK)));
  int k0 = kir_var_new(b, "k0", kir_t(KIR_I32)), step = kir_var_new(b, "step", kir_t(KIR_I32));
  int slot = kir_var_new(b, "slot", kir_t(KIR_I32));
  kir_for(b, k0, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, TK));
  {
    kir_decl(b, step, kir_div(b, kir_var(b, k0), kir_i32(b, TK)));
    kir_async_wait(b, S - 2);
    kir_async_proxy_fence(b);
    kir_barrier(b);
    /* Every warpgroup finished the step before (its wait below): its stage takes the tiles
     * S − 1 steps ahead. Every step commits a group, empty past K, so the count holds. */
    if (K > (int64_t)(S - 1) * TK) {
      kir_expr *ahead = kir_add(b, kir_var(b, k0), kir_i32(b, (int64_t)(S - 1) * TK));
      kir_if(b, kt_lt(b, ahead, K));
      copy_step(b, &oa, &ob, ahead, m0, n0, lid, L,
                kir_mod(b, kir_add(b, kir_var(b, step), kir_i32(b, S - 1)), kir_i32(b, S)));
      kir_end(b);
    }
    kir_async_commit(b);
    kir_expr *next = kir_add(b, kir_var(b, k0), kir_i32(b, TK));
    if (oa.norm && K > TK) {
      kir_if(b, kt_lt(b, next, K));
      norm_fetch(b, &oa, next, m0, lid, L, 0);
      kir_end(b);
    }
    kir_decl(b, slot, kir_mod(b, kir_var(b, step), kir_i32(b, S)));
    kir_expr *now_a = kir_mul(b, kir_var(b, slot), kir_i32(b, oa.stage));
    kir_expr *now_b = kir_mul(b, kir_var(b, slot), kir_i32(b, ob.stage));
    kir_wg_fence(b, acc, FN);
    for (int ks = 0; ks < TK; ks += 16) {
      /* A: k-major, 64-byte swizzle, 8-row atoms 8·TK halves apart; the 16 k at ks inside the
       * row. B n-major: 128-byte swizzle, 64-wide blocks 64·TK halves apart (lbo), 8-k atoms
       * 1 KiB apart (sbo), k = ks from atom ks / 8; k-major: like A. */
      kir_wg_operand wa = {oa.local, kir_add(b, now_a, kir_add(b, kir_var(b, a_rows), kir_i32(b, ks))), 64,
                           16, 16 * TK, 0};
      kir_wg_operand wb = nmajor ? (kir_wg_operand){ob.local, kir_add(b, now_b, kir_i32(b, ks * 64)), 128,
                                                    128 * TK, 1024, 1}
                                 : (kir_wg_operand){ob.local, kir_add(b, now_b, kir_i32(b, ks)), 64, 16,
                                                    16 * TK, 0};
      kir_wg_mma(b, acc, FN, &wa, &wb);
    }
    kir_wg_commit(b);
    kir_wg_wait(b, 0, acc, FN);
    /* Step s + 1's stage was last read in step s + 1 − S, before this step's barrier; the next
     * step's proxy fence and barrier publish what goes in. */
    if (oa.norm && K > TK) {
      kir_if(b, kt_lt(b, next, K));
      norm_stash(b, &oa, lid, L, kir_mod(b, kir_add(b, kir_var(b, step), kir_i32(b, 1)), kir_i32(b, S)));
      kir_end(b);
    }
  }
  kir_end(b); /* k0 */

  if (staged_epilogue(d)) {
    if (store_staged(b, &f, &oa, acc, FN, warp, lane, m0, n0, TM, TN) != 0) {
      kir_kernel_end(b, NULL);
      return kt_fail(m, "the staged epilogue could not be built");
    }
  } else if (store_registers(b, &f, acc, FN, warp, lane, m0, n0, TM, TN) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue could not be built");
  }
  out_groups[0] = kt_ceil_div(N, TN);
  out_groups[1] = kt_ceil_div(M, TM);
  out_groups[2] = f.nb;
  return kir_kernel_end(b, out_kernel);
}

/* matmul_mma.c — the GEMM on tensor cores: f16 B, f16 or f32 A (rounded to halves), f32
 * accumulation, through the IR's subgroup matrix fragments (kir.h, KIR_FEATURE_MMA_F16: inline
 * PTX mma.sync on NVIDIA's OpenCL, GL_NV_cooperative_matrix on Vulkan).
 *
 * A work-group of W subgroups (warps of 32) computes a TM × TN tile of one C[b]; the warps form
 * a WM × WN grid and each owns an FM × FN grid of 16×16 accumulator fragments. K is walked in
 * steps of TK (16, 32 or 64): the A and B tiles of the step are staged in local memory as halves,
 * each laid out as it lies in global memory — [m or n][k] where k is the operand's contiguous
 * axis, [k][m or n] where m or n is — with rows padded by 8 halves (16 bytes: the fragment loads
 * of 8 neighbouring rows fall in distinct banks); then every warp loads its FM A and FN B
 * fragments per 16 of k, row- or column-major as the layout says (ldmatrix, plain or
 * transposing, on OpenCL), and does FM·FN 16×16×16 multiply-adds. The next step's global loads
 * are issued into registers before the current step is multiplied; double-buffered, they are
 * stored into the other of two local buffers after it, and one barrier ends the step
 * (single-buffered: two). Pipelined (configurations 37.., where both operands' units are 16
 * aligned bytes of halves): no registers — asynchronous copies (cp.async on OpenCL) fill a ring
 * of `stages` local buffers, stages − 1 K steps ahead of the multiply, one barrier per step.
 *
 * Staging: each operand tile is read as R rows along its contiguous global axis (k for A
 * [M, K] and for B as [N, K] like linear's weight; m or n when that one is contiguous). Where the
 * contiguous axis' extent, the row stride, the offset and the batch strides are even, a
 * work-item copies 8, 4 or 2 halves at a time as raw 32-bit words (kir_load_bits, no
 * conversion); otherwise half by half through f32 (exact). Rows and columns past M, N or K are
 * filled with zeros, so any M, N and K work.
 * An f32 A goes element by element through f32 and is rounded to the nearest half as it is
 * stored in the local tile; so is a layer-normalized A, after the prologue (the tiled kernel's,
 * matmul_tile.h: row statistics over all K first, then (a − mean)·rstd (·w[k]) (+b[k]) in f32).
 * A B gathered from x as an im2col matrix (conv2d as GEMM) has its own staging path (gather_*):
 * element by element from x (f16 or f32) through f32, stored [k][n].
 *
 * Epilogue: fragment by fragment, each warp stores its accumulator into its own 16×16 float
 * slice of local memory, and its 32 work-items then finish the 256 outputs through the shared
 * GEMM frame (bias, fused epilogue, guarded store, as the tiled kernel does): column pairs of
 * rows, eight work-items a row, where C's rows allow two-wide stores, else rows of 16
 * neighbouring columns per half-warp.
 *
 * Configurations (kt_matmul_mma_config, matmul.h): warp grid, warp tile, TK and buffering; the
 * built-in one (pick) or d->mma_config, which the GEMM tuner's table or mlgc --mma-config sets.
 * Local memory: at most buffers·(TM + TN)·(TK + 8)·2 bytes of operand tiles (a [k][m or n]
 * tile, TK·(TM or TN + 8) halves, is smaller: TK ≤ 64 ≤ TM, TN) plus W·16·16·4 bytes of
 * epilogue slices (and the layer-norm prologue's row statistics); a configuration over the
 * device's local memory (at most 48 KiB) is refused.
 * Thread safety: reentrant. */
#include "matmul.h"
#include "matmul_tile.h"

#include <stdio.h>

#include "kt_util.h"

#define PAD 8          /* halves after each local row */
#define SLICE 16       /* row stride of a warp's float slice of the epilogue */
#define MAX_F 4        /* fragments per warp along one axis */
#define MAX_STEPS 64   /* copy steps per operand tile and work-item (half by half: 16384 / 256) */
#define MAX_LOCAL (48 * 1024)

/* The configurations kt_matmul_mma_config numbers from 1: warp grids 2×2, 2×4, 4×2; warp tiles
 * 32×32, 64×32, 64×64; K steps 32, 64; double then single buffering. */
static const int GRIDS[3][2] = {{2, 2}, {2, 4}, {4, 2}};
static const int WTILES[3][2] = {{2, 2}, {4, 2}, {4, 4}}; /* fragments per warp (m, n) */
static const int KSTEPS[2] = {32, 64};

/* Configurations 37..47: pipelines of asynchronous copies (stages local tiles, one barrier per
 * K step), each within 48 KiB with its epilogue slices: 128×256 and 256×128 tiles at k16 in two
 * stages, 128×128 of 4 warps (64×64 each) or 8 (64×32) at k32 in two stages or k16 in three,
 * 64×64 at k32 in three and four stages; at k16 in four, 128×64 of 4 warps (64×32), 64×128 of 8
 * (32×32) and 64×64 of 4 (32×32). Operands that cannot be copied asynchronously take single
 * (or, where it fits, double) buffering in the same tile. */
#define PIPELINED_LARGE 41 /* 2×4 warps of 64×32, k32, 2 stages: the fastest at 2048 and 4096 */
#define PIPELINED_MEDIUM 45 /* 2×2 warps of 64×32, k16, 4 stages: the fastest at 1024 */
#define PIPELINED_SMALL 47  /* 2×2 warps of 32×32, k16, 4 stages: the fastest at 512 */
static const kt_mma_config PIPELINED[] = {
    {2, 4, 4, 4, 16, 1, 2}, {4, 2, 4, 4, 16, 1, 2}, {2, 2, 4, 4, 32, 1, 2}, {2, 2, 4, 4, 16, 1, 3},
    {2, 4, 4, 2, 32, 1, 2}, {2, 4, 4, 2, 16, 1, 3}, {2, 2, 2, 2, 32, 1, 3}, {2, 2, 2, 2, 32, 1, 4},
    {2, 2, 4, 2, 16, 1, 4}, {2, 4, 2, 2, 16, 1, 4}, {2, 2, 2, 2, 16, 1, 4}};
#define REGISTER_STAGED 36 /* configurations 1..36: the grids × warp tiles × K steps × buffers above */
_Static_assert(REGISTER_STAGED + sizeof PIPELINED / sizeof PIPELINED[0] == KT_MMA_N_CONFIGS, "37..");

int kt_matmul_mma_config(int index, kt_mma_config *out) {
  if (index < 1 || index > KT_MMA_N_CONFIGS) return -1;
  if (index > REGISTER_STAGED) {
    *out = PIPELINED[index - REGISTER_STAGED - 1];
    return 0;
  }
  int i = index - 1;
  const int buf = i % 2, ks = i / 2 % 2, wt = i / 4 % 3, gr = i / 12;
  *out = (kt_mma_config){GRIDS[gr][0], GRIDS[gr][1], WTILES[wt][0], WTILES[wt][1], KSTEPS[ks], buf ? 1 : 2, 0};
  return 0;
}

void kt_mma_config_format(const kt_mma_config *c, char *buf, size_t size) {
  if (c->stages)
    snprintf(buf, size, "%dx%d warps of %dx%d, k%d, %d stages", c->wm, c->wn, 16 * c->fm, 16 * c->fn, c->tk,
             c->stages);
  else
    snprintf(buf, size, "%dx%d warps of %dx%d, k%d, %s", c->wm, c->wn, 16 * c->fm, 16 * c->fn, c->tk,
             c->buffers == 2 ? "double-buffered" : "single-buffered");
}

int64_t kt_mma_config_local_bytes(const kt_mma_config *c, int a_norm) {
  const int64_t tm = 16 * c->wm * c->fm, tn = 16 * c->wn * c->fn;
  return (int64_t)(c->stages ? c->stages : c->buffers) * (tm + tn) * (c->tk + PAD) * 2 + (int64_t)c->wm * c->wn * 16 * SLICE * 4 +
         (a_norm ? 8 * tm : 0);
}

/* The local memory a work-group may use: the device's, at most 48 KiB. */
static int64_t local_limit(const kt_matmul_desc *d) {
  return d->local_mem_bytes > 0 && d->local_mem_bytes < MAX_LOCAL ? d->local_mem_bytes : MAX_LOCAL;
}


/* One operand tile: in global memory `rows` × `cols` with cols along the operand's contiguous
 * axis — element (r, c) of the tile is at base + (r0 + r)·s_r + (c0 + c)·s_c, present when
 * r0 + r < r_lim and c0 + c < c_lim; r_is_k says the rows run along k (m or n contiguous: B
 * row-major [K, N], A stored [K, M]), else along m or n. In local memory it lies the same way,
 * rows of cols halves at row stride ls = cols + PAD, `nbuf` buffers of rows·ls halves one after
 * the other; a fragment load reads it row- or column-major as the layout says (the printers'
 * business: a transposing ldmatrix on OpenCL, a column-major cooperative-matrix load on Vulkan). */
typedef struct stage {
  int local, rows, cols, ls, nbuf;
  int base;                 /* I32 variable: the operand's batch base */
  int64_t s_r, s_c, r_lim, c_lim;
  int r_is_k;               /* global rows run along k (m or n contiguous) */
  int kn;                   /* stored transposed, [k][n] (a gathered B: rows along n, stored
                               as columns, so neighbouring work-items store neighbouring
                               halves and fragments load row-major) */
  int vw;                   /* halves per unit along the columns: 8, 4 or 2 (raw words), or 1 */
  int units, steps;
  int ur[MAX_STEPS], uc[MAX_STEPS], val[MAX_STEPS];
                            /* per step: the unit's row and first column in the tile (I32
                               vars), its value register */
  int buf;
  const kt_norm_state *norm; /* A's layer-norm prologue, or NULL */
  const char *tag;          /* the local array's name */
} stage;

/* Halves per copy unit: the widest of 8, 4, 2 that the layout keeps 4-byte aligned and that
 * divides the contiguous extent (so a unit is wholly inside or outside), else 1 — always for
 * floats and for a normalized A (converted and normalized element by element). */
static int unit_width(const kt_matmul_desc *d, kir_scalar elem, int norm, int64_t offset,
                      const int64_t *bstride, int64_t s_r, int64_t s_c, int64_t c_lim) {
  if (elem != KIR_F16 || norm || s_c != 1 || s_r % 2 || offset % 2) return 1;
  for (int i = 0; i < d->n_batch; i++)
    if (bstride[i] % 2) return 1;
  return c_lim % 8 == 0 ? 8 : c_lim % 4 == 0 ? 4 : c_lim % 2 == 0 ? 2 : 1;
}

/* Declares the units' coordinates: unit u = lid + L·step covers vw columns of row
 * u / (cols / vw), from column (u % (cols / vw))·vw, so neighbouring work-items copy
 * neighbouring words of a row. */
static void stage_declare(kir_builder *b, stage *s, int lid, int L, const char *tag) {
  const int per_row = s->cols / s->vw;
  s->units = per_row * s->rows;
  s->steps = (s->units + L - 1) / L;
  for (int i = 0; i < s->steps; i++) {
    char nm[32];
    kir_expr *u = kir_add(b, kir_var(b, lid), kir_i32(b, (int64_t)L * i));
    snprintf(nm, sizeof nm, "%s_r%d", tag, i);
    s->ur[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, s->ur[i], kir_div(b, u, kir_i32(b, per_row)));
    snprintf(nm, sizeof nm, "%s_c%d", tag, i);
    s->uc[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, s->uc[i], kir_mul(b, kir_mod(b, u, kir_i32(b, per_row)), kir_i32(b, s->vw)));
    snprintf(nm, sizeof nm, "%s_v%d", tag, i);
    s->val[i] = kir_var_new(b, nm, s->vw == 1 ? kir_t(KIR_F32) : kir_tv(KIR_U32, s->vw / 2));
  }
}

static kir_expr *zero_of(kir_builder *b, const stage *s) {
  if (s->vw == 1) return kir_f32(b, 0.0);
  return kir_cast(b, kir_tv(KIR_U32, s->vw / 2), kir_i32(b, 0));
}

/* A unit past the tile (the last step of an uneven split): NULL when every step is whole. */
static kir_expr *unit_guard(kir_builder *b, const stage *s, int lid, int L, int i) {
  if ((int64_t)L * (i + 1) <= s->units) return NULL;
  return kt_lt(b, kir_add(b, kir_var(b, lid), kir_i32(b, (int64_t)L * i)), s->units);
}

/* Global → registers: row gr (global) of the unit of step i into register var. */
static void fetch_row(kir_builder *b, const stage *s, int i, kir_expr *gr, kir_expr *gc, int var) {
  kir_expr *guard = s->r_lim % s->rows ? kt_lt(b, gr, s->r_lim) : NULL;
  if (guard) kir_if(b, guard);
  kir_expr *at = kir_add(b, kir_var(b, s->base), kir_add(b, kt_scaled(b, gr, s->s_r), kt_scaled(b, gc, s->s_c)));
  kir_expr *v = s->vw == 1 ? kir_load(b, s->buf, at) : kir_load_bits(b, s->buf, at, s->vw / 2);
  /* The prologue in f32 (vw is 1): the tile row is the unit's m, k its global k. */
  if (s->norm)
    v = kt_norm_apply(b, s->norm, v, kir_var(b, s->r_is_k ? s->uc[i] : s->ur[i]), s->r_is_k ? gr : gc);
  kir_assign(b, var, v);
  if (guard) kir_end(b);
}

/* Global → registers for the tile whose row and column origins are r0 and c0. */
static void stage_fetch(kir_builder *b, stage *s, kir_expr *r0, kir_expr *c0, int lid, int L, int declare) {
  for (int i = 0; i < s->steps; i++) {
    if (declare) kir_decl(b, s->val[i], zero_of(b, s));
    else kir_assign(b, s->val[i], zero_of(b, s));
    kir_expr *gr = kir_add(b, r0, kir_var(b, s->ur[i]));
    kir_expr *gc = kir_add(b, c0, kir_var(b, s->uc[i]));
    /* (Tiles start at multiples of their extent: a limit that is one never cuts a tile.) */
    kir_expr *guard = unit_guard(b, s, lid, L, i);
    if (s->c_lim % s->cols) guard = kt_and_opt(b, guard, kt_lt(b, gc, s->c_lim));
    if (guard) kir_if(b, guard);
    fetch_row(b, s, i, gr, gc, s->val[i]);
    if (guard) kir_end(b);
  }
}

/* Registers → local buffer `off` (an I32 expression: the first element of the buffer; f32
 * values rounded to the nearest half). */
static void stage_stash(kir_builder *b, const stage *s, int lid, int L, kir_expr *off) {
  for (int i = 0; i < s->steps; i++) {
    kir_expr *guard = unit_guard(b, s, lid, L, i);
    if (guard) kir_if(b, guard);
    const int r = s->kn ? s->uc[i] : s->ur[i], c = s->kn ? s->ur[i] : s->uc[i];
    kir_expr *at = kir_add(b, off, kir_add(b, kir_mul(b, kir_var(b, r), kir_i32(b, s->ls)), kir_var(b, c)));
    if (s->vw == 1) kir_local_store(b, s->local, at, kir_var(b, s->val[i]));
    else kir_local_store_bits(b, s->local, at, kir_var(b, s->val[i]));
    if (guard) kir_end(b);
  }
}

/* The operand tile of A (is_b 0) or B: which axis is contiguous picks the global traversal. */
static void stage_init(stage *s, const kt_matmul_desc *d, const kt_mma_config *c, int is_b,
                       int ext, int buf, int base, const kt_norm_state *norm, const char *tag) {
  int64_t s_mn = is_b ? d->b_stride_n : d->a_stride_m, s_k = is_b ? d->b_stride_k : d->a_stride_k;
  int64_t mn_lim = is_b ? d->n : d->m, off = is_b ? d->b_offset : d->a_offset;
  const int64_t *bs = is_b ? d->b_batch_stride : d->a_batch_stride;
  /* k contiguous (or neither): rows along m/n, columns along k; else the other way. */
  s->r_is_k = s_k != 1 && s_mn == 1;
  s->kn = 0;
  s->nbuf = c->buffers;
  s->rows = s->r_is_k ? c->tk : ext;
  s->cols = s->r_is_k ? ext : c->tk;
  s->s_r = s->r_is_k ? s_k : s_mn;
  s->s_c = s->r_is_k ? s_mn : s_k;
  s->r_lim = s->r_is_k ? d->k : mn_lim;
  s->c_lim = s->r_is_k ? mn_lim : d->k;
  s->ls = s->cols + PAD;
  s->norm = norm;
  s->vw = unit_width(d, is_b ? d->b_elem : d->a_elem, norm != NULL, off, bs, s->s_r, s->s_c, s->c_lim);
  s->buf = buf;
  s->base = base;
  s->tag = tag;
}

/* Whether the tiles of s can be copied asynchronously: 16-byte units (8 halves along the
 * contiguous axis) at 16-byte aligned addresses — offset, row stride and batch strides multiples
 * of 8 halves (tensors are 256-byte aligned) —, not converted or normalized. */
static int stage_async(const kt_matmul_desc *d, const stage *s, int is_b) {
  return s->vw == 8 && kt_matmul_chunks_whole(d, is_b ? d->b_offset : d->a_offset,
                                              is_b ? d->b_batch_stride : d->a_batch_stride, s->s_r, s->c_lim);
}

/* Whether both operands' tiles can be copied asynchronously (stage_async), in any tile. */
static int operands_async(const kt_matmul_desc *d) {
  if (d->b_im2col.on || d->a_norm) return 0;
  const kt_mma_config any = {2, 2, 2, 2, 16, 1, 2};
  stage sa, sb;
  stage_init(&sa, d, &any, 0, 64, 0, 0, NULL, "a_tile");
  stage_init(&sb, d, &any, 1, 64, 0, 0, NULL, "b_tile");
  return stage_async(d, &sa, 0) && stage_async(d, &sb, 1);
}

/* The built-in choice: where both operands can be copied asynchronously and M and N are both
 * at least 512, a pipelined configuration: PIPELINED_LARGE (128×128 of 8 warps, k32, two
 * stages: on the H200 0.465 ms at 4096³ against 0.62 for the best register-staged one, 0.063
 * at 2048³ against 0.082) where its 128×128 tiles make at least 128 work-groups (about one per
 * SM), else PIPELINED_MEDIUM (128×64 of 4 warps, k16, four stages: 0.0160 ms at 1024³ against
 * 0.0215) where they make 32, else PIPELINED_SMALL (64×64 of 4 warps, k16, four stages: 0.0081
 * ms at 512³ against 0.0099). Only where the target copies asynchronously (d->async_copies).
 * Otherwise 128×256 with 8 warps as 2×4, each 64×64, single-buffered, when M and N
 * are both at least 2048 (512 work-groups and more: the fastest at 4096³ on the H200, 0.62 ms
 * against 0.79 for the next); 128×128 with 8 warps as 2×4, each 64×32, when both are at least
 * 512 (like the tiled kernel's GPU tile), and for a convolution (gathered B) through a target
 * without asynchronous copies (Vulkan) when M is at least 128 and N at least 512 (ResNet-18 b16's
 * layers 2 and 3 in f16 on the H100: 202–232 µs a 3×3 convolution on 64×64 tiles, 120–148 on
 * 128×128; its 64-channel layer 1 stays faster on 64×64: 212–234 against 231–252); else 64×64
 * with 4 warps as 2×2, each 32×32. K step 32, double-buffered where it fits the local memory (not
 * at 128×128 with a layer-norm prologue's row statistics), else single-buffered. */
static kt_mma_config pick(const kt_matmul_desc *d) {
  int64_t groups = (d->m + 127) / 128 * ((d->n + 127) / 128);
  for (int i = 0; i < d->n_batch; i++) groups *= d->batch[i];
  const int pipelined = groups >= 128 ? PIPELINED_LARGE : groups >= 32 ? PIPELINED_MEDIUM : PIPELINED_SMALL;
  kt_mma_config c;
  kt_matmul_mma_config(pipelined, &c);
  if (d->async_copies && d->m >= 512 && d->n >= 512 && operands_async(d) &&
      kt_mma_config_local_bytes(&c, 0) <= local_limit(d))
    return c;
  const int wide_conv = d->b_im2col.on && !d->async_copies && d->m >= 128 && d->n >= 512;
  c = d->m >= 2048 && d->n >= 2048 ? (kt_mma_config){2, 4, 4, 4, 32, 1, 0}
      : (d->m >= 512 && d->n >= 512) || wide_conv ? (kt_mma_config){2, 4, 4, 2, 32, 2, 0}
                                                  : (kt_mma_config){2, 2, 2, 2, 32, 2, 0};
  if (kt_mma_config_local_bytes(&c, d->a_norm) > local_limit(d)) c.buffers = 1;
  return c;
}

/* Halves of one local tile. */
static int64_t tile_size(const stage *s) { return (int64_t)(s->kn ? s->cols : s->rows) * s->ls; }

/* Its local array: nbuf tiles one after the other. */
static void stage_alloc(kir_builder *b, stage *s, int nbuf) {
  s->nbuf = nbuf;
  s->local = kir_local_array(b, s->tag, KIR_F16, nbuf * tile_size(s));
}

/* Global → local buffer `off` asynchronously, for the tile whose row and column origins are r0
 * and c0: one 16-byte copy per unit, zeros for units past M, N or K. */
static void stage_copy(kir_builder *b, const stage *s, kir_expr *r0, kir_expr *c0, int lid, int L, kir_expr *off) {
  for (int i = 0; i < s->steps; i++) {
    kir_expr *guard = unit_guard(b, s, lid, L, i);
    if (guard) kir_if(b, guard);
    kir_expr *gr = kir_add(b, r0, kir_var(b, s->ur[i])), *gc = kir_add(b, c0, kir_var(b, s->uc[i]));
    kir_expr *present = kt_and_opt(b, s->r_lim % s->rows ? kt_lt(b, gr, s->r_lim) : NULL,
                                   s->c_lim % s->cols ? kt_lt(b, gc, s->c_lim) : NULL);
    kir_expr *from = kir_add(b, kir_var(b, s->base), kir_add(b, kt_scaled(b, gr, s->s_r), gc));
    kir_expr *at = kir_add(b, off, kir_add(b, kir_mul(b, kir_var(b, s->ur[i]), kir_i32(b, s->ls)), kir_var(b, s->uc[i])));
    kir_async_copy(b, s->local, at, kir_load_bits(b, s->buf, from, 4), present);
    if (guard) kir_end(b);
  }
}

/* Both operand tiles at k (an I32 expression; m0 and n0 the tile's I32 variables) into the
 * local buffers at element offsets oa and ob, asynchronously. */
static void copy_tiles(kir_builder *b, const stage *sa, const stage *sb, kir_expr *k, int m0, int n0, int lid, int L,
                       kir_expr *oa, kir_expr *ob) {
  stage_copy(b, sa, sa->r_is_k ? k : kir_var(b, m0), sa->r_is_k ? kir_var(b, m0) : k, lid, L, oa);
  stage_copy(b, sb, sb->r_is_k ? k : kir_var(b, n0), sb->r_is_k ? kir_var(b, n0) : k, lid, L, ob);
}

/* B as the im2col matrix of x (conv2d as GEMM: kt_matmul_im2col), its own staging path. The
 * tile is stored [k][n] like a row-major B (stage.kn: neighbouring work-items, which take
 * neighbouring columns, store neighbouring halves, and fragments load row-major); it is
 * gathered element by element through f32 (x stored as halves or floats) and rounded to a half
 * as it is stashed (stage_stash). Unit u of a work-item's step i is
 * column n = u % TN, k = u / TN: neighbouring work-items read neighbouring output pixels
 * (consecutive addresses of x at stride 1). L is a multiple of TN, so a work-item's column is
 * the same at every step and every K step: its divisions are done once (kt_gather_column), and
 * each element costs its row's (kt_gather_row_of) and the bounds guard. */
typedef struct gather {
  const kt_matmul_im2col *g;
  int col_guard;            /* N % TN: columns past N */
  int unsigned_bounds;      /* the bounds test (kt_matmul_desc) */
  int row_offsets;          /* index as off(k) + at(j) (kt_matmul_desc.gather_row_offsets) */
  kt_gather_col col;        /* the work-item's column */
} gather;

static void gather_init(kir_builder *b, stage *s, gather *gt, const kt_matmul_desc *d, const kt_mma_config *c,
                        int ext, int buf, int base) {
  *s = (stage){.rows = ext, .cols = c->tk, .ls = ext + PAD, .s_r = 0, .s_c = 0, .r_lim = d->n,
               .c_lim = d->k, .r_is_k = 0, .kn = 1, .vw = 1, .buf = buf, .base = base, .norm = NULL,
               .tag = "b_tile"};
  stage_alloc(b, s, c->buffers);
  gt->g = &d->b_im2col;
  gt->col_guard = d->n % ext != 0;
  gt->unsigned_bounds = d->unsigned_bounds;
  gt->row_offsets = d->gather_row_offsets;
}

/* Whether configuration t splits a gathered B tile evenly over the work-group, a whole number of
 * steps with L a multiple of TN (gather_declare); else the tiled kernel runs alone. */
static int gather_splits(const kt_mma_config *t) {
  const int L = 32 * t->wm * t->wn, tn = 16 * t->wn * t->fn, units = tn * t->tk;
  return L % tn == 0 && units % L == 0 && units / L <= MAX_STEPS;
}

/* The units' coordinates and their column: n0 is the tile's first column (I32 var).
 * Returns -1 when the tile does not split evenly over the work-group (gather_splits). */
static int gather_declare(kir_builder *b, stage *s, gather *gt, int lid, int n0, int L) {
  s->units = s->rows * s->cols;
  if (L % s->rows || s->units % L || s->units / L > MAX_STEPS) return -1;
  s->steps = s->units / L;
  char nm[32];
  s->ur[0] = kir_var_new(b, "ub_n", kir_t(KIR_I32));
  kir_decl(b, s->ur[0], kir_mod(b, kir_var(b, lid), kir_i32(b, s->rows)));
  for (int i = 0; i < s->steps; i++) {
    s->ur[i] = s->ur[0];
    snprintf(nm, sizeof nm, "ub_k%d", i);
    s->uc[i] = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, s->uc[i], kir_add(b, kir_div(b, kir_var(b, lid), kir_i32(b, s->rows)),
                                  kir_i32(b, (int64_t)(L / s->rows) * i)));
    snprintf(nm, sizeof nm, "ub_v%d", i);
    s->val[i] = kir_var_new(b, nm, kir_t(KIR_F32));
  }
  gt->col = kt_gather_column(b, gt->g, kir_add(b, kir_var(b, n0), kir_var(b, s->ur[0])), "gb", "");
  return 0;
}

/* Global → registers for the tile whose first k is k0: element (n, k) of x, 0 outside x and
 * past N or K. */
static void gather_fetch(kir_builder *b, const stage *s, const gather *gt, kir_expr *k0, int declare) {
  for (int i = 0; i < s->steps; i++) {
    if (declare) kir_decl(b, s->val[i], kir_f32(b, 0.0));
    else kir_assign(b, s->val[i], kir_f32(b, 0.0));
    kir_expr *k = kir_add(b, k0, kir_var(b, s->uc[i]));
    kt_gather_row row = kt_gather_row_of(b, gt->g, k, "gb");
    /* The guards stay on the slice's own k (split K adds z·k_per_batch to the row only). */
    kir_expr *guard = s->c_lim % s->cols ? kt_lt(b, k, s->c_lim) : NULL;
    if (gt->col_guard) guard = kt_and_opt(b, guard, kt_lt(b, kir_var(b, gt->col.j), s->r_lim));
    kir_expr *index;
    if (gt->row_offsets) {
      kt_gather_row_offset(b, gt->g, s->base, &row, "gb");
      guard = kt_gather_guard(b, gt->g, &row, &gt->col, guard, gt->unsigned_bounds);
      index = kt_gather_index(b, &row, &gt->col);
    } else { /* the image's base + (ci·h + ih)·w + iw, the window's row and column as variables */
      const kt_matmul_im2col *g = gt->g;
      int ih = kir_var_new(b, "gb_wh", kir_t(KIR_I32)), iw = kir_var_new(b, "gb_ww", kir_t(KIR_I32));
      kir_decl(b, ih, row.dr ? kir_add(b, kir_var(b, gt->col.ih), row.dr) : kir_var(b, gt->col.ih));
      kir_decl(b, iw, row.ds ? kir_add(b, kir_var(b, gt->col.iw), row.ds) : kir_var(b, gt->col.iw));
      guard = kt_and_opt(b, guard, kt_gather_inside(b, g, kir_var(b, ih), kir_var(b, iw), gt->unsigned_bounds));
      kir_expr *in_image = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, kir_var(b, row.ci), kir_i32(b, g->h)), kir_var(b, ih)),
                                              kir_i32(b, g->w)),
                                   kir_var(b, iw));
      index = kir_add(b, kir_add(b, kir_var(b, s->base), kir_var(b, gt->col.img)), in_image);
    }
    if (guard) kir_if(b, guard);
    kir_assign(b, s->val[i], kir_load(b, s->buf, index));
    if (guard) kir_end(b);
  }
}

/* B's tile at k0 (an I32 expression) into registers: gathered, or staged as it lies. */
static void fetch_b(kir_builder *b, stage *s, const gather *gt, kir_expr *k0, int n0, int lid, int L,
                    int declare) {
  if (gt) gather_fetch(b, s, gt, k0, declare);
  else stage_fetch(b, s, s->r_is_k ? k0 : kir_var(b, n0), s->r_is_k ? kir_var(b, n0) : k0, lid, L, declare);
}

/* The fragment of operand tile s (in the buffer at `buf`) whose m or n starts at mn and k at ks:
 * element (m or n, k) lies at mn·ls + k, or k·ls + mn in a k-rows tile; read row-major for A
 * (element (m, k)) and column-major for B (element (k, n)) in the first layout, the other way
 * in the second. */
static void frag_load(kir_builder *b, const stage *s, int frag, kir_expr *buf, kir_expr *mn, int ks, int is_b) {
  const int k_rows = s->r_is_k || s->kn;
  kir_expr *at = k_rows ? kir_add(b, kir_i32(b, (int64_t)ks * s->ls), mn)
                        : kir_add(b, kir_mul(b, mn, kir_i32(b, s->ls)), kir_i32(b, ks));
  kir_frag_load(b, frag, s->local, kir_add(b, buf, at), s->ls, k_rows != is_b);
}

/* B stored as halves and A as halves or floats (rounded to halves as they are staged, after the
 * layer-norm prologue if any), and enough rows and columns for a 64×64 tile to be worth its
 * fragments. An f32 B keeps the tiled kernel: B is the weight of a linear, and one kept at f32
 * says the model wants its precision (a matmul of two f32 values is f32). A convolution's
 * operands are the other way round: A is the weight (f16: stored as halves), B the gathered
 * activations, f16 or f32 (a model's f32 input under --precision=f16, rounded as staged). */
/* The configuration in effect: d->mma_config when set, else pick's. -1 for a configuration
 * that does not exist (*out is then pick's). */
static int config_of(const kt_matmul_desc *d, kt_mma_config *out) {
  *out = pick(d);
  return d->mma_config ? kt_matmul_mma_config(d->mma_config, out) : 0;
}

static int fits(const kt_matmul_desc *d) {
  kt_mma_config t;
  config_of(d, &t); /* a bad one: kt_matmul_mma says why */
  int operands = d->b_im2col.on ? d->a_elem == KIR_F16 && (d->b_elem == KIR_F16 || d->b_elem == KIR_F32) &&
                                      gather_splits(&t)
                                : (d->a_elem == KIR_F16 || d->a_elem == KIR_F32) && d->b_elem == KIR_F16;
  return operands && d->m >= 32 && d->n >= 32 && d->k >= 16;
}

int kt_matmul_mma_applies(const kt_matmul_desc *d) {
  return d->mma && d->device_class != KT_DEVICE_CPU && fits(d);
}

int kt_matmul_mma(kir_module *m, const char *name, const kt_matmul_desc *d, kir_kernel **out_kernel,
                  int64_t out_groups[3], int out_tiles[2]) {
  if (!fits(d)) return 0;
  kt_mma_config t;
  if (config_of(d, &t) != 0)
    return kt_fail(m, "tensor-core configuration %d does not exist (1..%d)", d->mma_config, KT_MMA_N_CONFIGS);
  if (kt_mma_config_local_bytes(&t, d->a_norm) > local_limit(d)) {
    if (!d->mma_config) return 0; /* a device with less local memory: the tiled kernel alone */
    char cfg[96];
    kt_mma_config_format(&t, cfg, sizeof cfg);
    return kt_fail(m, "tensor-core configuration %d (%s) needs %lld bytes of local memory, more than "
                   "the device's %lld",
                   d->mma_config, cfg, (long long)kt_mma_config_local_bytes(&t, d->a_norm),
                   (long long)local_limit(d));
  }
  const int W = t.wm * t.wn, L = 32 * W, TK = t.tk, TM = 16 * t.wm * t.fm, TN = 16 * t.wn * t.fn;
  const int64_t M = d->m, N = d->n, K = d->k;
  if (out_tiles) {
    out_tiles[0] = TM;
    out_tiles[1] = TN;
  }

  kt_matmul_frame f;
  kir_builder *b = kt_matmul_frame_begin(m, name, d, L, 1, &f);
  if (!b) return -1;
  /* The layer-norm prologue: the tile rows' statistics in local memory (kt_matmul_norm_stats). */
  kt_norm_state ns = kt_matmul_norm_state(b, &f, TM);
  stage sa, sb;
  gather gb, *gt = d->b_im2col.on ? &gb : NULL;
  stage_init(&sa, d, &t, 0, TM, f.bA, f.a_base, d->a_norm ? &ns : NULL, "a_tile");
  if (!gt) stage_init(&sb, d, &t, 1, TN, f.bB, f.b_base, NULL, "b_tile");
  /* A pipelined configuration whose operands cannot both be copied asynchronously: the same
   * tile double-buffered where that fits, else single-buffered. */
  const int async = t.stages && !gt && stage_async(d, &sa, 0) && stage_async(d, &sb, 1);
  if (t.stages && !async) {
    t.stages = 0;
    t.buffers = 2;
    if (kt_mma_config_local_bytes(&t, d->a_norm) > local_limit(d)) t.buffers = 1;
  }
  const int S = t.stages;
  stage_alloc(b, &sa, async ? S : t.buffers);
  if (gt) gather_init(b, &sb, gt, d, &t, TN, f.bB, f.b_base);
  else stage_alloc(b, &sb, async ? S : t.buffers);
  if (sa.rows * sa.cols / sa.vw > MAX_STEPS * L || sb.rows * sb.cols / sb.vw > MAX_STEPS * L) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "internal error: an operand tile needs more than %d copy steps", MAX_STEPS);
  }
  int slices = kir_local_array(b, "c_slice", KIR_F32, W * 16 * SLICE);

  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int warp = kir_var_new(b, "warp", kir_t(KIR_I32));
  int lane = kir_var_new(b, "lane", kir_t(KIR_I32));
  int wm0 = kir_var_new(b, "wm0", kir_t(KIR_I32));
  int wn0 = kir_var_new(b, "wn0", kir_t(KIR_I32));
  int m0 = kir_var_new(b, "m0", kir_t(KIR_I32));
  int n0 = kir_var_new(b, "n0", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_decl(b, warp, kir_div(b, kir_var(b, lid), kir_i32(b, 32)));
  kir_decl(b, lane, kir_mod(b, kir_var(b, lid), kir_i32(b, 32)));
  /* Warp w owns rows wm0 .. wm0 + 16·FM − 1 and columns wn0 .. wn0 + 16·FN − 1 of the tile. */
  kir_decl(b, wm0, kir_mul(b, kir_div(b, kir_var(b, warp), kir_i32(b, t.wn)), kir_i32(b, 16 * t.fm)));
  kir_decl(b, wn0, kir_mul(b, kir_mod(b, kir_var(b, warp), kir_i32(b, t.wn)), kir_i32(b, 16 * t.fn)));
  kir_decl(b, m0, kir_mul(b, kir_group_id(b, 1), kir_i32(b, TM)));
  kir_decl(b, n0, kir_mul(b, kir_group_id(b, 0), kir_i32(b, TN)));
  if (d->a_norm) kt_matmul_norm_stats(b, d, TM, f.bA, f.a_base, m0, lid, L, &ns);

  int fa[MAX_F], fb[MAX_F], acc[MAX_F][MAX_F];
  for (int i = 0; i < t.fm; i++) fa[i] = kir_frag_new(b, "fa", KIR_FRAG_A);
  for (int j = 0; j < t.fn; j++) fb[j] = kir_frag_new(b, "fb", KIR_FRAG_B);
  for (int i = 0; i < t.fm; i++)
    for (int j = 0; j < t.fn; j++) {
      acc[i][j] = kir_frag_new(b, "acc", KIR_FRAG_ACC);
      kir_frag_zero(b, acc[i][j]);
    }

  stage_declare(b, &sa, lid, L, "ua");
  if (!gt) stage_declare(b, &sb, lid, L, "ub");
  else if (gather_declare(b, &sb, gt, lid, n0, L) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "internal error: a %dx%d gathered tile does not split over %d work-items", sb.rows, TK, L);
  }
  /* The origins of a tile at k0: (m0 or n0, k0), or (k0, m0 or n0) for a k-rows tile. */
  kir_expr *zero = kir_i32(b, 0);
  const int64_t za = tile_size(&sa), zb = tile_size(&sb);
  int k0 = kir_var_new(b, "k0", kir_t(KIR_I32));
  if (async) {
    /* Pipelined: tiles 0 .. S − 2 are in flight before the loop, one group of copies each; in
     * step k0 the work-item waits for its copies of this step's tile (at most S − 2 groups
     * left in flight), and the barrier makes everyone's visible and closes the step before,
     * whose buffer then takes the copies of the tile S − 1 steps ahead; then the multiply.
     * Every step commits a group, empty past K, so that the count holds. */
    for (int st = 0; st + 1 < S; st++) {
      if ((int64_t)st * TK < K) {
        copy_tiles(b, &sa, &sb, kir_i32(b, (int64_t)st * TK), m0, n0, lid, L, kir_i32(b, st * za),
                   kir_i32(b, st * zb));
      }
      kir_async_commit(b);
    }
  } else {
    stage_fetch(b, &sa, sa.r_is_k ? zero : kir_var(b, m0), sa.r_is_k ? kir_var(b, m0) : zero, lid, L, 1);
    fetch_b(b, &sb, gt, zero, n0, lid, L, 1);
  }
  /* Double-buffered: the first tile is stored before the loop; in step k0 the next tile's
   * global loads go to registers, the fragments multiply buffer cur, the registers go to the
   * other buffer and one barrier ends the step (the other buffer was last read in the step
   * before, which that step's barrier closed). Single-buffered: store, barrier, next loads,
   * multiply, barrier. */
  const int dbuf = !async && t.buffers == 2;
  int cur_a = -1, cur_b = -1;
  if (dbuf) {
    stage_stash(b, &sa, lid, L, zero);
    stage_stash(b, &sb, lid, L, zero);
    kir_barrier(b);
    cur_a = kir_var_new(b, "cur_a", kir_t(KIR_I32));
    cur_b = kir_var_new(b, "cur_b", kir_t(KIR_I32));
    kir_decl(b, cur_a, zero);
    kir_decl(b, cur_b, zero);
  }
  kir_for(b, k0, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, TK));
  {
    kir_expr *a_at = zero, *b_at = zero;
    if (async) {
      int step = kir_var_new(b, "step", kir_t(KIR_I32));
      kir_decl(b, step, kir_div(b, kir_var(b, k0), kir_i32(b, TK)));
      kir_async_wait(b, S - 2);
      kir_barrier(b);
      if (K > (int64_t)(S - 1) * TK) {
        kir_expr *ahead = kir_add(b, kir_var(b, k0), kir_i32(b, (int64_t)(S - 1) * TK));
        kir_expr *slot = kir_mod(b, kir_add(b, kir_var(b, step), kir_i32(b, S - 1)), kir_i32(b, S));
        kir_if(b, kt_lt(b, ahead, K));
        copy_tiles(b, &sa, &sb, ahead, m0, n0, lid, L, kir_mul(b, slot, kir_i32(b, za)),
                   kir_mul(b, slot, kir_i32(b, zb)));
        kir_end(b);
      }
      kir_async_commit(b);
      kir_expr *now = kir_mod(b, kir_var(b, step), kir_i32(b, S));
      a_at = kir_mul(b, now, kir_i32(b, za));
      b_at = kir_mul(b, now, kir_i32(b, zb));
    } else {
      if (!dbuf) {
        stage_stash(b, &sa, lid, L, zero);
        stage_stash(b, &sb, lid, L, zero);
        kir_barrier(b);
      }
      if (K > TK) {
        kir_expr *next = kir_add(b, kir_var(b, k0), kir_i32(b, TK));
        kir_if(b, kt_lt(b, next, K));
        stage_fetch(b, &sa, sa.r_is_k ? next : kir_var(b, m0), sa.r_is_k ? kir_var(b, m0) : next, lid, L, 0);
        fetch_b(b, &sb, gt, next, n0, lid, L, 0);
        kir_end(b);
      }
      if (dbuf) {
        a_at = kir_var(b, cur_a);
        b_at = kir_var(b, cur_b);
      }
    }
    for (int ks = 0; ks < TK; ks += 16) {
      /* A fragment i: tile rows wm0 + 16i.., k = ks..; B fragment j: columns wn0 + 16j... */
      for (int i = 0; i < t.fm; i++)
        frag_load(b, &sa, fa[i], a_at, kir_add(b, kir_var(b, wm0), kir_i32(b, 16 * i)), ks, 0);
      for (int j = 0; j < t.fn; j++)
        frag_load(b, &sb, fb[j], b_at, kir_add(b, kir_var(b, wn0), kir_i32(b, 16 * j)), ks, 1);
      for (int i = 0; i < t.fm; i++)
        for (int j = 0; j < t.fn; j++) kir_frag_mma(b, acc[i][j], fa[i], fb[j]);
    }
    if (dbuf && K > TK) {
      /* The other buffer: cur + size − 2·cur (cur is 0 or size). */
      kir_assign(b, cur_a, kir_bin(b, KIR_SUB, kir_i32(b, za), kir_var(b, cur_a)));
      kir_assign(b, cur_b, kir_bin(b, KIR_SUB, kir_i32(b, zb), kir_var(b, cur_b)));
      kir_if(b, kt_lt(b, kir_add(b, kir_var(b, k0), kir_i32(b, TK)), K));
      stage_stash(b, &sa, lid, L, kir_var(b, cur_a));
      stage_stash(b, &sb, lid, L, kir_var(b, cur_b));
      kir_end(b);
    }
    if (!async) kir_barrier(b);
  }
  kir_end(b); /* k0 */

  /* Epilogue, one fragment at a time through the warp's slice. Where C's rows are contiguous and
   * N even (and a fold of images even too), work-item `lane` finishes the column pair
   * (2·(lane % 8), + 1) of rows 4e + lane / 8 for e < 4, one two-wide store each (a whole
   * 32-bit word of an f16 C: no read-modify-write of a neighbour's half); else the element
   * (2e + lane / 16, lane % 16) for e < 8. The barriers are reached by every work-item (no early
   * return anywhere). */
  const int pair = d->c_stride_n == 1 && N % 2 == 0 && (!d->c_fold || d->c_fold % 2 == 0);
  const int per_row = pair ? 8 : 16, width = pair ? 2 : 1;
  int slice0 = kir_var_new(b, "slice0", kir_t(KIR_I32));
  kir_decl(b, slice0, kir_mul(b, kir_var(b, warp), kir_i32(b, 16 * SLICE)));
  int e = kir_var_new(b, "e", kir_t(KIR_I32));
  int r = kir_var_new(b, "r", kir_t(KIR_I32));
  int cl = kir_var_new(b, "cl", kir_t(KIR_I32));
  int row = kir_var_new(b, "row", kir_t(KIR_I32));
  int col = kir_var_new(b, "col", kir_t(KIR_I32));
  const int row_guard = M % TM != 0, col_guard = N % TN != 0;
  for (int i = 0; i < t.fm; i++)
    for (int j = 0; j < t.fn; j++) {
      kir_frag_store(b, acc[i][j], slices, kir_var(b, slice0), SLICE);
      kir_barrier(b);
      kir_for(b, e, kir_i32(b, 0), kir_i32(b, 256 / (32 * width)), kir_i32(b, 1));
      kir_decl(b, r, kir_add(b, kir_mul(b, kir_var(b, e), kir_i32(b, 32 / per_row)),
                             kir_div(b, kir_var(b, lane), kir_i32(b, per_row))));
      kir_decl(b, cl, kir_mul(b, kir_mod(b, kir_var(b, lane), kir_i32(b, per_row)), kir_i32(b, width)));
      kir_decl(b, row, kir_add(b, kir_add(b, kir_var(b, m0), kir_var(b, wm0)), kir_add(b, kir_var(b, r), kir_i32(b, 16 * i))));
      kir_decl(b, col, kir_add(b, kir_add(b, kir_var(b, n0), kir_var(b, wn0)), kir_add(b, kir_var(b, cl), kir_i32(b, 16 * j))));
      kir_expr *guard = kt_and_opt(b, row_guard ? kt_lt(b, kir_var(b, row), M) : NULL,
                                   col_guard ? kt_lt(b, kir_var(b, col), N) : NULL);
      if (guard) kir_if(b, guard);
      kir_expr *v[2];
      for (int q = 0; q < width; q++)
        v[q] = kir_local_load(b, slices, kir_add(b, kir_var(b, slice0),
                                                 kir_add(b, kir_mul(b, kir_var(b, r), kir_i32(b, SLICE)),
                                                         kir_add(b, kir_var(b, cl), kir_i32(b, q)))));
      if (kt_matmul_frame_store(b, &f, width, v, kir_var(b, row), kir_var(b, col)) != 0) {
        kir_kernel_end(b, NULL);
        return kt_fail(m, "the fused epilogue could not be built");
      }
      if (guard) kir_end(b);
      kir_end(b); /* e */
      kir_barrier(b);
    }

  out_groups[0] = (N + TN - 1) / TN;
  out_groups[1] = (M + TM - 1) / TM;
  out_groups[2] = f.nb;
  return kir_kernel_end(b, out_kernel) == 0 ? 1 : -1;
}

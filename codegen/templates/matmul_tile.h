/* matmul_tile.h — staging one operand tile of the tiled GEMM (matmul.c) in local memory; internal
 * to the GEMM templates.
 *
 * A tile of tile_k × extent elements is stored as [tile_k][extent / vec] vectors of width `vec`
 * along the operand's m (A) or n (B) axis, so the GEMM's inner loop reads whole vectors. Each
 * work-item handles a fixed set of "units" (a vector of one k, or four k of `vec` rows). Staging
 * is split in two phases so the next tile's global loads can be in flight while the current tile
 * is multiplied: kt_tile_fetch loads the units of the tile at k0 into registers (guards, zeros
 * outside the operand, the layer-norm prologue of A), kt_tile_stash writes the registers to local
 * memory. Element (mn, k) comes from src[base + (mn0 + mn)·s_mn + (k0 + k)·s_k], or, for a B
 * gathered as an im2col matrix, from x (kt_matmul_im2col).
 * Thread safety: reentrant. */
#ifndef MLG_KT_MATMUL_TILE_H
#define MLG_KT_MATMUL_TILE_H

#include "matmul.h"

/* The layer-norm prologue of A: local arrays of the tile rows' statistics and the norm weight /
 * bias buffers (-1 when absent). */
typedef struct kt_norm_state {
  int mean, rstd;         /* local arrays [tile_m] */
  int weight, bias;       /* buffers */
} kt_norm_state;

/* Whether an operand of d, at element offset `offset` with batch strides bstride, rows
 * row_stride apart and `extent` elements along its contiguous axis, splits into 16-byte chunks
 * of 8 halves that start at 16-byte aligned addresses (tensors are 256-byte aligned): what
 * asynchronous copies need. Shared by the tensor-core and warpgroup kernels. */
int kt_matmul_chunks_whole(const kt_matmul_desc *d, int64_t offset, const int64_t *bstride, int64_t row_stride,
                           int64_t extent);
/* The prologue's state for a kernel begun by kt_matmul_frame_begin: the norm's buffers, and
 * when f's descriptor normalizes A, the local arrays of the statistics of tile_m rows
 * (row_mean, row_rstd; else -1). Shared by the tiled, tensor-core and warpgroup kernels. */
kt_norm_state kt_matmul_norm_state(kir_builder *b, const kt_matmul_frame *f, int tile_m);
/* Row statistics of A for the layer-norm prologue: for each of the tile_m rows of the tile at
 * m0 (an I32 variable; strided over n_items work-items from lid), a two-pass mean and
 * 1/sqrt(biased variance + eps) over all K into ns's local arrays; then a barrier. Shared by the
 * tiled (matmul.c) and tensor-core (matmul_mma.c) kernels. */
void kt_matmul_norm_stats(kir_builder *b, const kt_matmul_desc *d, int tile_m, int bA, int a_base, int m0,
                          int lid, int n_items, const kt_norm_state *ns);
/* A's element v normalized: (v − mean[ml]) · rstd[ml] (· weight[gk]) (+ bias[gk]), with ml the
 * row within the tile and gk the global k (I32 expressions). */
kir_expr *kt_norm_apply(kir_builder *b, const kt_norm_state *ns, kir_expr *v, kir_expr *ml, kir_expr *gk);

/* ---- B gathered from x as its im2col matrix (kt_matmul_im2col): shared by the tiled and the
 * tensor-core kernels ----
 * Column j of the matrix is the output pixel q = j % HW of image j / HW: its window starts at
 * row ih0 = (q / w_out)·stride_h − pad_top and column iw0 = (q % w_out)·stride_w − pad_left of
 * x, and element (k, j) sits at x[at(j) + off(k)] with at(j) = (j / HW)·c_in·h·w + ih0·w + iw0
 * and off(k) = base + ci·h·w + r·dil_h·w + s·dil_w for k = (ci, r, s): the divisions of a
 * column are done once per column, those of a row once per row. */

/* Whether some window of the im2col gather g reaches outside x (padding, or a last window past
 * the edge): its loads then need a bounds guard. */
int kt_im2col_pads(const kt_matmul_im2col *g);

/* A column's I32 variables: j, its image's offset in x img = (j / HW)·c_in·h·w, its window's
 * origin ih0, iw0, and at(j) = img + ih0·w + iw0. */
typedef struct kt_gather_col {
  int j, img, ih, iw, at;
} kt_gather_col;

/* Declares column j (an I32 expression) as variables named TAG_jSUFFIX, TAG_imgSUFFIX, ... */
kt_gather_col kt_gather_column(kir_builder *b, const kt_matmul_im2col *g, kir_expr *j, const char *tag,
                               const char *suffix);

/* A row's channel ci, its offset off(k) (I32 variables) and its window offsets r·dil_h and
 * s·dil_w (NULL for a 1×1 window). */
typedef struct kt_gather_row {
  int ci, off;
  kir_expr *dr, *ds;
} kt_gather_row;

/* Declares row k (an I32 expression: the k within a split-K slice, whose own start
 * z·k_per_batch is added here) as variables named TAG_k, TAG_ci, TAG_r, TAG_s; off is -1. */
kt_gather_row kt_gather_row_of(kir_builder *b, const kt_matmul_im2col *g, kir_expr *k, const char *tag);
/* Declares the row's offset off(k) in the operand whose batch base is the variable `base`, as
 * TAG_off (what kt_gather_index adds a column's at(j) to). */
void kt_gather_row_offset(kir_builder *b, const kt_matmul_im2col *g, int base, kt_gather_row *row, const char *tag);

/* Where g pads: x's row ih and column iw (I32 expressions) inside x, as unsigned comparisons
 * when `as_unsigned`; else NULL (nothing to test). */
kir_expr *kt_gather_inside(kir_builder *b, const kt_matmul_im2col *g, kir_expr *ih, kir_expr *iw, int as_unsigned);

/* `guard` (may be NULL) and element (row, col) inside x (kt_gather_inside). */
kir_expr *kt_gather_guard(kir_builder *b, const kt_matmul_im2col *g, const kt_gather_row *row,
                          const kt_gather_col *col, kir_expr *guard, int as_unsigned);

/* The element's index in x as its row's offset plus its column's: off(k) + at(j). */
kir_expr *kt_gather_index(kir_builder *b, const kt_gather_row *row, const kt_gather_col *col);

typedef struct kt_tile {
  /* What the caller fills. */
  int buf, local, lid, n_items;
  int extent, tk, vec;      /* tile extent along mn, K step, local vector width */
  int base;                 /* var: operand batch base */
  kir_expr *mn0;            /* tile origin along mn (an I32 expression, reusable) */
  int64_t s_mn, s_k, mn_lim, k_lim;
  int mn_exact, k_exact;    /* 1: the guard on that side can never fire */
  const char *tag;
  const kt_norm_state *norm;        /* A only, or NULL */
  const kt_matmul_im2col *gather;   /* B gathered from x, or NULL */
  int unsigned_bounds;              /* the gather's bounds test (kt_matmul_desc) */
  /* What kt_tile_declare fills (freed by kt_tile_free). */
  int mode, units, steps, groups, kdiv;
  int *g, *kl;              /* per step: unit's mn group and k (first of kdiv) within the tile */
  int *val;                 /* per step, 4 value registers */
  /* A gather whose steps all read the same columns (kt_tile_declare): column p < vec's
   * variables, declared once before the K loop; `at` is -1 where the columns are not hoisted. */
  kt_gather_col col[4];
} kt_tile;

/* Declares the unit coordinates and value registers; call before the K loop. -1 on failure. */
int  kt_tile_declare(kir_builder *b, kt_tile *t);
/* Global memory → registers for the tile whose first k is k0 (an I32 expression). */
void kt_tile_fetch(kir_builder *b, const kt_tile *t, kir_expr *k0);
/* Registers → local memory, `at` elements into the local array (NULL: 0; a second buffer). */
void kt_tile_stash(kir_builder *b, const kt_tile *t, kir_expr *at);
void kt_tile_free(kt_tile *t);

#endif

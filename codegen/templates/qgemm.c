/* qgemm.c — the tiled integer GEMM of quantized matrix product and convolution (qgemm.h). */
#include "qgemm.h"

#include <stdio.h>

#include "kt_util.h"
#include "matmul.h"
#include "reduce.h"

#define QG_MAX_REG 8
#define LIMIT32 ((int64_t)1 << 31)

/* The problem in GEMM terms (qgemm.h): which buffer is A (rows, k contiguous) and which is B. */
typedef struct qg_problem {
  const kt_qlinear_conv2d_desc *conv; /* NULL for a matrix product */
  const kt_qlinear_matmul_desc *mm;
  int64_t rows, cols, k, batch;
  kir_scalar a_type, b_type, y_type;
  int row_q, col_q;     /* the weights' zero point and scale are per row (conv) / column (matmul) */
  int bias_per_row;
  int has_bias;
  int64_t lo, hi;
  int64_t oh, ow;       /* conv: the output's height and width */
} qg_problem;

/* The kernel's buffers and the variables the staging and the epilogue share. */
typedef struct qg_kernel {
  const qg_problem *p;
  const kt_qgemm_tiles *t;
  int use_dot;
  kt_q_buffers q;
  int a, az, b, bz;     /* A's and B's buffers and zero-point buffers */
  int bias, y;
  int as, bs;           /* local tiles: words [tile_k / 4][tile_m] (dot) or ints [tile_k][tile_m] */
  int lid, tx, ty, row0, col0, z, kt;
  int za1, zb1;         /* A's / B's zero point when it is one for the tensor, else -1 */
  int lx, ly;
} qg_kernel;

/* The results' range: the descriptor's, or y's type's when both are 0. */
static void result_range(kir_scalar y_type, int64_t lo, int64_t hi, qg_problem *p) {
  kt_q_range(y_type, &p->lo, &p->hi);
  if (lo || hi) p->lo = lo, p->hi = hi;
}

static qg_problem conv_problem(const kt_qlinear_conv2d_desc *d, int64_t oh, int64_t ow) {
  qg_problem p = {.conv = d, .rows = d->c_out, .cols = oh * ow, .k = d->c_in * d->kh * d->kw, .batch = d->n,
                  .a_type = d->w_type, .b_type = d->x_type, .y_type = d->y_type, .row_q = d->w_per_channel,
                  .bias_per_row = 1, .has_bias = d->has_bias, .oh = oh, .ow = ow};
  result_range(d->y_type, d->lo, d->hi, &p);
  return p;
}

static qg_problem matmul_problem(const kt_qlinear_matmul_desc *d) {
  qg_problem p = {.mm = d, .rows = d->m, .cols = d->n, .k = d->k, .batch = d->batch, .a_type = d->a_type,
                  .b_type = d->b_type, .y_type = d->y_type, .col_q = d->b_per_column, .has_bias = d->has_bias};
  result_range(d->y_type, d->lo, d->hi, &p);
  return p;
}

static kir_expr *u32c(kir_builder *b, int64_t v) { return kir_cast(b, kir_t(KIR_U32), kir_i32(b, v)); }
static kir_expr *var(kir_builder *b, int v) { return kir_var(b, v); }

static int decl(kir_builder *b, const char *name, kir_type t, kir_expr *e) {
  int v = kir_var_new(b, name, t);
  kir_decl(b, v, e);
  return v;
}

/* The low byte of an I32 as U32 (0..255). */
static kir_expr *low_byte(kir_builder *b, kir_expr *v) {
  return kir_bin(b, KIR_MOD, kir_cast(b, kir_t(KIR_U32), v), u32c(b, 256));
}

/* Byte q (0..3) of U32 word w as the I32 value of an element of type s. */
static kir_expr *unpack(kir_builder *b, kir_expr *w, int q, kir_scalar s) {
  kir_expr *u = kir_bin(b, KIR_MOD, q ? kir_bin(b, KIR_DIV, w, u32c(b, (int64_t)1 << (8 * q))) : w, u32c(b, 256));
  kir_expr *v = kir_cast(b, kir_t(KIR_I32), u);
  if (s == KIR_U8) return v;
  return kir_select(b, kir_bin(b, KIR_GE, v, kir_i32(b, 128)), kir_bin(b, KIR_SUB, v, kir_i32(b, 256)), v);
}

/* The zero point of A's row r / B's column c (an I32 expression; per row / column or one). */
static kir_expr *zero_point(kir_builder *b, int buf, int per, kir_expr *index, int64_t extent) {
  if (!per) return kir_load(b, buf, kir_i32(b, 0));
  return kir_load(b, buf, kir_bin(b, KIR_MIN, index, kir_i32(b, extent - 1)));
}

/* Element (gr, gk) of A: its buffer index. */
static kir_expr *a_index(kir_builder *b, const qg_kernel *g, kir_expr *gr, kir_expr *gk) {
  const qg_problem *p = g->p;
  kir_expr *e = kir_add(b, kir_mul(b, gr, kir_i32(b, p->k)), gk);
  if (p->mm) e = kir_add(b, kir_mul(b, var(b, g->z), kir_i32(b, p->rows * p->k)), e);
  return e;
}

/* var = guard ? element of `buf` at index : zero point `zp` (loading only when the guard holds). */
static void guarded_byte(kir_builder *b, int v, kir_expr *guard, int buf, kir_expr *index, kir_expr *zp) {
  if (!guard) {
    kir_assign(b, v, kir_load(b, buf, index));
    return;
  }
  kir_if(b, guard);
  kir_assign(b, v, kir_load(b, buf, index));
  kir_else(b);
  kir_assign(b, v, zp);
  kir_end(b);
}

/* Stores the word of four consecutive k (first gk) of A's row r / B's column c into the local
 * tile at (k4, mn): as the word (dot), or as four ints less the zero point (plain). */
static void stash(kir_builder *b, const qg_kernel *g, int local, int extent, kir_expr *k4, kir_expr *mn,
                  int word, int zp, kir_scalar s) {
  if (g->use_dot) {
    kir_local_store(b, local, kir_add(b, kir_mul(b, k4, kir_i32(b, extent)), mn), var(b, word));
    return;
  }
  for (int q = 0; q < 4; q++) {
    kir_expr *at = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, k4, kir_i32(b, 4)), kir_i32(b, q)), kir_i32(b, extent)),
                           mn);
    kir_local_store(b, local, at, kir_bin(b, KIR_SUB, unpack(b, var(b, word), q, s), var(b, zp)));
  }
}

/* The four elements (I32 variables) of one k-word: packed into the local word (dot), or stored
 * as they are less the zero point (plain: no packing and unpacking). */
static void stash_bytes(kir_builder *b, const qg_kernel *g, int local, int extent, kir_expr *k4, kir_expr *mn,
                        const int *bytes, int zp);

/* word = byte0 + byte1·2^8 + ... of the four I32 element variables. */
static kir_expr *pack(kir_builder *b, const int *bytes) {
  kir_expr *w = low_byte(b, var(b, bytes[0]));
  for (int q = 1; q < 4; q++)
    w = kir_bin(b, KIR_ADD, w, kir_bin(b, KIR_MUL, low_byte(b, var(b, bytes[q])), u32c(b, (int64_t)1 << (8 * q))));
  return w;
}

static void stash_bytes(kir_builder *b, const qg_kernel *g, int local, int extent, kir_expr *k4, kir_expr *mn,
                        const int *bytes, int zp) {
  if (g->use_dot) {
    int word = decl(b, "w", kir_t(KIR_U32), pack(b, bytes));
    kir_local_store(b, local, kir_add(b, kir_mul(b, k4, kir_i32(b, extent)), mn), var(b, word));
    return;
  }
  for (int q = 0; q < 4; q++) {
    kir_expr *at = kir_add(b, kir_mul(b, kir_add(b, kir_mul(b, k4, kir_i32(b, 4)), kir_i32(b, q)), kir_i32(b, extent)),
                           mn);
    kir_local_store(b, local, at, kir_bin(b, KIR_SUB, var(b, bytes[q]), var(b, zp)));
  }
}

/* Stages A's tile: tile_m rows × tile_k / 4 words, consecutive work-items along k. */
static void stage_a(kir_builder *b, const qg_kernel *g) {
  const qg_problem *p = g->p;
  const kt_qgemm_tiles *t = g->t;
  const int tk4 = t->tile_k / 4, units = t->tile_m * tk4, nt = g->lx * g->ly;
  const int packed = p->k % 4 == 0;
  for (int s = 0; s * nt < units; s++) {
    int u = decl(b, "au", kir_t(KIR_I32), kir_add(b, var(b, g->lid), kir_i32(b, (int64_t)s * nt)));
    int partial = (int64_t)(s + 1) * nt > units;
    if (partial) kir_if(b, kt_lt(b, var(b, u), units));
    int r = decl(b, "ar", kir_t(KIR_I32), kir_div(b, var(b, u), kir_i32(b, tk4)));
    int k4 = decl(b, "ak4", kir_t(KIR_I32), kir_mod(b, var(b, u), kir_i32(b, tk4)));
    int gr = decl(b, "agr", kir_t(KIR_I32), kir_add(b, var(b, g->row0), var(b, r)));
    int gk = decl(b, "agk", kir_t(KIR_I32), kir_add(b, var(b, g->kt), kir_mul(b, var(b, k4), kir_i32(b, 4))));
    int zp = p->row_q ? decl(b, "azp", kir_t(KIR_I32), zero_point(b, g->az, 1, var(b, gr), p->rows)) : g->za1;
    kir_expr *row_ok = p->rows % t->tile_m ? kt_lt(b, var(b, gr), p->rows) : NULL;
    if (packed) {
      int word = kir_var_new(b, "aw", kir_t(KIR_U32));
      /* Four k of one row in one aligned word; past the end of k (or of the rows), the zero point. */
      kir_expr *zw = kir_bin(b, KIR_MUL, low_byte(b, var(b, zp)), u32c(b, 0x01010101));
      kir_expr *ok = kt_and_opt(b, row_ok, p->k % t->tile_k ? kt_lt(b, var(b, gk), p->k) : NULL);
      if (ok) {
        kir_decl(b, word, zw);
        kir_if(b, ok);
        kir_assign(b, word, kir_load_packed(b, g->a, a_index(b, g, var(b, gr), var(b, gk))));
        kir_end(b);
      } else {
        kir_decl(b, word, kir_load_packed(b, g->a, a_index(b, g, var(b, gr), var(b, gk))));
      }
      stash(b, g, g->as, t->tile_m, var(b, k4), var(b, r), word, zp, p->a_type);
    } else {
      int bytes[4];
      for (int q = 0; q < 4; q++) {
        bytes[q] = kir_var_new(b, "ab", kir_t(KIR_I32));
        kir_decl(b, bytes[q], var(b, zp));
        kir_expr *gkq = kir_add(b, var(b, gk), kir_i32(b, q));
        guarded_byte(b, bytes[q], kt_and_opt(b, row_ok, kt_lt(b, gkq, p->k)), g->a,
                     a_index(b, g, var(b, gr), kir_add(b, var(b, gk), kir_i32(b, q))), var(b, zp));
      }
      stash_bytes(b, g, g->as, t->tile_m, var(b, k4), var(b, r), bytes, zp);
    }
    if (partial) kir_end(b);
  }
}

/* Element (gk, gc) of B: the index into its buffer, and the guard (NULL: always inside) under
 * which it is read, else B's zero point (a padding position of the convolution, or past k or
 * the columns). */
static kir_expr *b_element(kir_builder *b, const qg_kernel *g, kir_expr *gk, int gc, kir_expr **out_guard) {
  const qg_problem *p = g->p;
  const kt_qgemm_tiles *t = g->t;
  kir_expr *guard = kt_and_opt(b, p->k % t->tile_k ? kt_lt(b, gk, p->k) : NULL,
                               p->cols % t->tile_n ? kt_lt(b, var(b, gc), p->cols) : NULL);
  if (p->mm) {
    *out_guard = guard;
    kir_expr *e = kir_add(b, kir_mul(b, gk, kir_i32(b, p->cols)), var(b, gc));
    if (p->mm->b_batched) e = kir_add(b, kir_mul(b, var(b, g->z), kir_i32(b, p->k * p->cols)), e);
    return e;
  }
  const kt_qlinear_conv2d_desc *d = p->conv;
  const int64_t khw = d->kh * d->kw, hw = d->h * d->w;
  int kk = decl(b, "bk", kir_t(KIR_I32), gk);
  int ci = decl(b, "bci", kir_t(KIR_I32), kir_div(b, var(b, kk), kir_i32(b, khw)));
  int rr = decl(b, "brr", kir_t(KIR_I32), kir_div(b, kir_mod(b, var(b, kk), kir_i32(b, khw)), kir_i32(b, d->kw)));
  int ss = decl(b, "bss", kir_t(KIR_I32), kir_mod(b, var(b, kk), kir_i32(b, d->kw)));
  int ih = decl(b, "bih", kir_t(KIR_I32),
                kir_add(b, kir_mul(b, kir_div(b, var(b, gc), kir_i32(b, p->ow)), kir_i32(b, kt_one_if_0(d->stride_h))),
                        kir_add(b, kir_i32(b, -d->pad_top), kt_scaled(b, var(b, rr), kt_one_if_0(d->dil_h)))));
  int iw = decl(b, "biw", kir_t(KIR_I32),
                kir_add(b, kir_mul(b, kir_mod(b, var(b, gc), kir_i32(b, p->ow)), kir_i32(b, kt_one_if_0(d->stride_w))),
                        kir_add(b, kir_i32(b, -d->pad_left), kt_scaled(b, var(b, ss), kt_one_if_0(d->dil_w)))));
  int64_t last_h = (p->oh - 1) * kt_one_if_0(d->stride_h) - d->pad_top + (d->kh - 1) * kt_one_if_0(d->dil_h);
  int64_t last_w = (p->ow - 1) * kt_one_if_0(d->stride_w) - d->pad_left + (d->kw - 1) * kt_one_if_0(d->dil_w);
  guard = kt_and_opt(b, guard, kt_axis_guard(b, ih, d->pad_top, last_h >= d->h ? 1 : 0, d->h));
  guard = kt_and_opt(b, guard, kt_axis_guard(b, iw, d->pad_left, last_w >= d->w ? 1 : 0, d->w));
  *out_guard = guard;
  return kir_add(b, kir_mul(b, var(b, g->z), kir_i32(b, d->c_in * hw)),
                 kir_add(b, kir_mul(b, var(b, ci), kir_i32(b, hw)),
                         kir_add(b, kir_mul(b, var(b, ih), kir_i32(b, d->w)), var(b, iw))));
}

/* Stages B's tile: tile_k / 4 words × tile_n columns, consecutive work-items along the columns. */
static void stage_b(kir_builder *b, const qg_kernel *g) {
  const qg_problem *p = g->p;
  const kt_qgemm_tiles *t = g->t;
  const int tk4 = t->tile_k / 4, units = t->tile_n * tk4, nt = g->lx * g->ly;
  for (int s = 0; s * nt < units; s++) {
    int u = decl(b, "bu", kir_t(KIR_I32), kir_add(b, var(b, g->lid), kir_i32(b, (int64_t)s * nt)));
    int partial = (int64_t)(s + 1) * nt > units;
    if (partial) kir_if(b, kt_lt(b, var(b, u), units));
    int c = decl(b, "bc", kir_t(KIR_I32), kir_mod(b, var(b, u), kir_i32(b, t->tile_n)));
    int k4 = decl(b, "bk4", kir_t(KIR_I32), kir_div(b, var(b, u), kir_i32(b, t->tile_n)));
    int gc = decl(b, "bgc", kir_t(KIR_I32), kir_add(b, var(b, g->col0), var(b, c)));
    int zp = p->col_q ? decl(b, "bzp", kir_t(KIR_I32), zero_point(b, g->bz, 1, var(b, gc), p->cols)) : g->zb1;
    int bytes[4];
    for (int q = 0; q < 4; q++) {
      kir_expr *gk = kir_add(b, var(b, g->kt), kir_add(b, kir_mul(b, var(b, k4), kir_i32(b, 4)), kir_i32(b, q)));
      kir_expr *guard = NULL;
      kir_expr *index = b_element(b, g, gk, gc, &guard);
      bytes[q] = kir_var_new(b, "bb", kir_t(KIR_I32));
      kir_decl(b, bytes[q], var(b, zp));
      guarded_byte(b, bytes[q], guard, g->b, index, var(b, zp));
    }
    stash_bytes(b, g, g->bs, t->tile_n, var(b, k4), var(b, c), bytes, zp);
    if (partial) kir_end(b);
  }
}

/* The signedness form of dot4x8(x word, y word) for element types xs and ys. */
static kir_dot_sign dot_sign(kir_scalar xs, kir_scalar ys) {
  if (xs == KIR_I8) return ys == KIR_I8 ? KIR_DOT_SS : KIR_DOT_SU;
  return ys == KIR_I8 ? KIR_DOT_US : KIR_DOT_UU;
}

/* The multiply-adds of one local k step (k4 of the dot form's words, k of the plain form's
 * ints) into acc[i][j]; the dot form also sums A's rows (sa) and B's columns (sb) where the other
 * operand's zero point is not 0 (flags need_sa, need_sb). */
static void multiply(kir_builder *b, const qg_kernel *g, int kk, const int acc[QG_MAX_REG][QG_MAX_REG],
                     const int *sa, const int *sb, int need_sa, int need_sb) {
  const qg_problem *p = g->p;
  const kt_qgemm_tiles *t = g->t;
  int av[QG_MAX_REG], bv[QG_MAX_REG];
  kir_type vt = kir_t(g->use_dot ? KIR_U32 : KIR_I32);
  for (int i = 0; i < t->reg_m; i++)
    av[i] = decl(b, "a", vt,
                 kir_local_load(b, g->as, kir_add(b, kir_mul(b, var(b, kk), kir_i32(b, t->tile_m)),
                                                  kir_add(b, var(b, g->ty), kir_i32(b, (int64_t)i * g->ly)))));
  for (int j = 0; j < t->reg_n; j++)
    bv[j] = decl(b, "b", vt,
                 kir_local_load(b, g->bs, kir_add(b, kir_mul(b, var(b, kk), kir_i32(b, t->tile_n)),
                                                  kir_add(b, var(b, g->tx), kir_i32(b, (int64_t)j * g->lx)))));
  for (int i = 0; i < t->reg_m; i++)
    for (int j = 0; j < t->reg_n; j++) {
      kir_expr *prod = g->use_dot ? kir_dot4x8(b, dot_sign(p->a_type, p->b_type), var(b, av[i]), var(b, bv[j]))
                                  : kir_bin(b, KIR_MUL, var(b, av[i]), var(b, bv[j]));
      kir_assign(b, acc[i][j], kir_add(b, var(b, acc[i][j]), prod));
    }
  if (!g->use_dot) return;
  /* Σ of a word's four bytes: a dot product with 0x01010101 read as u8 (ones). */
  kir_if(b, kir_bin(b, KIR_NE, var(b, need_sa), kir_i32(b, 0)));
  for (int i = 0; i < t->reg_m; i++)
    kir_assign(b, sa[i], kir_add(b, var(b, sa[i]), kir_dot4x8(b, dot_sign(p->a_type, KIR_U8), var(b, av[i]),
                                                             u32c(b, 0x01010101))));
  kir_end(b);
  kir_if(b, kir_bin(b, KIR_NE, var(b, need_sb), kir_i32(b, 0)));
  for (int j = 0; j < t->reg_n; j++)
    kir_assign(b, sb[j], kir_add(b, var(b, sb[j]), kir_dot4x8(b, dot_sign(p->b_type, KIR_U8), var(b, bv[j]),
                                                             u32c(b, 0x01010101))));
  kir_end(b);
}

static int build(kir_module *m, const char *name, const qg_problem *p, const kt_qgemm_tiles *t, int use_dot,
                 kir_kernel **out_kernel) {
  const int lx = t->tile_n / t->reg_n, ly = t->tile_m / t->reg_m;
  kir_builder *b = kir_kernel_begin(m, name, lx, ly, 1);
  if (!b) return -1;
  qg_kernel g = {.p = p, .t = t, .use_dot = use_dot, .lx = lx, .ly = ly};
  kir_type i32 = kir_t(KIR_I32);
  if (p->conv) {
    g.q = kt_q_buffers_declare(b, "x", p->b_type, "w", p->a_type, p->y_type);
    g.a = g.q.w, g.az = g.q.wz, g.b = g.q.x, g.bz = g.q.xz;
  } else {
    g.q = kt_q_buffers_declare(b, "a", p->a_type, "b", p->b_type, p->y_type);
    g.a = g.q.x, g.az = g.q.xz, g.b = g.q.w, g.bz = g.q.wz;
  }
  g.bias = p->has_bias ? kir_buffer_param(b, "bias", KIR_I32, KIR_READ) : -1;
  g.y = kir_buffer_param(b, "y", p->y_type, KIR_WRITE);
  const int per_k = use_dot ? t->tile_k / 4 : t->tile_k;
  g.as = kir_local_array(b, "as", use_dot ? KIR_U32 : KIR_I32, per_k * t->tile_m);
  g.bs = kir_local_array(b, "bs", use_dot ? KIR_U32 : KIR_I32, per_k * t->tile_n);

  g.tx = decl(b, "tx", i32, kir_local_id(b, 0));
  g.ty = decl(b, "ty", i32, kir_local_id(b, 1));
  g.lid = decl(b, "lid", i32, kir_add(b, kir_mul(b, var(b, g.ty), kir_i32(b, lx)), var(b, g.tx)));
  g.col0 = decl(b, "col0", i32, kir_mul(b, kir_group_id(b, 0), kir_i32(b, t->tile_n)));
  g.row0 = decl(b, "row0", i32, kir_mul(b, kir_group_id(b, 1), kir_i32(b, t->tile_m)));
  g.z = decl(b, "z", i32, kir_group_id(b, 2));
  /* a zero point of the whole tensor is read once, not per staged word */
  g.za1 = p->row_q ? -1 : decl(b, "za1", i32, kir_load(b, g.az, kir_i32(b, 0)));
  g.zb1 = p->col_q ? -1 : decl(b, "zb1", i32, kir_load(b, g.bz, kir_i32(b, 0)));
  /* This work-item's rows' and columns' zero points (clamped inside the tensor). */
  int zr[QG_MAX_REG], zc[QG_MAX_REG], acc[QG_MAX_REG][QG_MAX_REG], sa[QG_MAX_REG], sb[QG_MAX_REG];
  for (int i = 0; i < t->reg_m; i++)
    zr[i] = decl(b, "zr", i32, zero_point(b, g.az, p->row_q, kir_add(b, var(b, g.row0), kir_add(b, var(b, g.ty),
                                                                         kir_i32(b, (int64_t)i * ly))), p->rows));
  for (int j = 0; j < t->reg_n; j++)
    zc[j] = decl(b, "zc", i32, zero_point(b, g.bz, p->col_q, kir_add(b, var(b, g.col0), kir_add(b, var(b, g.tx),
                                                                         kir_i32(b, (int64_t)j * lx))), p->cols));
  for (int i = 0; i < t->reg_m; i++)
    for (int j = 0; j < t->reg_n; j++) acc[i][j] = decl(b, "acc", i32, kir_i32(b, 0));
  int need_sa = -1, need_sb = -1;
  if (use_dot) {
    for (int i = 0; i < t->reg_m; i++) sa[i] = decl(b, "sa", i32, kir_i32(b, 0));
    for (int j = 0; j < t->reg_n; j++) sb[j] = decl(b, "sb", i32, kir_i32(b, 0));
    kir_expr *any_c = NULL, *any_r = NULL;
    for (int j = 0; j < t->reg_n; j++)
      any_c = kt_and_opt(b, any_c, kir_bin(b, KIR_EQ, var(b, zc[j]), kir_i32(b, 0)));
    for (int i = 0; i < t->reg_m; i++)
      any_r = kt_and_opt(b, any_r, kir_bin(b, KIR_EQ, var(b, zr[i]), kir_i32(b, 0)));
    need_sa = decl(b, "need_sa", i32, kir_select(b, any_c, kir_i32(b, 0), kir_i32(b, 1)));
    need_sb = decl(b, "need_sb", i32, kir_select(b, any_r, kir_i32(b, 0), kir_i32(b, 1)));
  }
  const int64_t k_pad = kt_ceil_div(p->k, t->tile_k) * t->tile_k;
  g.kt = kir_var_new(b, "kt", i32);
  kir_for(b, g.kt, kir_i32(b, 0), kir_i32(b, k_pad), kir_i32(b, t->tile_k));
  stage_a(b, &g);
  stage_b(b, &g);
  kir_barrier(b);
  int kk = kir_var_new(b, "kk", i32);
  kir_for(b, kk, kir_i32(b, 0), kir_i32(b, per_k), kir_i32(b, 1));
  kir_for_unroll(b, per_k <= 8 ? per_k : 4);
  multiply(b, &g, kk, acc, sa, sb, need_sa, need_sb);
  kir_end(b);
  kir_barrier(b);
  kir_end(b);

  /* The epilogue: zero-point terms (dot form), bias, requantization, one store per output. */
  for (int i = 0; i < t->reg_m; i++) {
    int r = decl(b, "r", i32, kir_add(b, var(b, g.row0), kir_add(b, var(b, g.ty), kir_i32(b, (int64_t)i * ly))));
    kir_expr *row_ok = p->rows % t->tile_m ? kt_lt(b, var(b, r), p->rows) : NULL;
    if (row_ok) kir_if(b, row_ok);
    for (int j = 0; j < t->reg_n; j++) {
      int c = decl(b, "c", i32, kir_add(b, var(b, g.col0), kir_add(b, var(b, g.tx), kir_i32(b, (int64_t)j * lx))));
      kir_expr *col_ok = p->cols % t->tile_n ? kt_lt(b, var(b, c), p->cols) : NULL;
      if (col_ok) kir_if(b, col_ok);
      kir_expr *v = var(b, acc[i][j]);
      if (use_dot) {
        v = kir_bin(b, KIR_SUB, v, kir_mul(b, var(b, zc[j]), var(b, sa[i])));
        v = kir_bin(b, KIR_SUB, v, kir_mul(b, var(b, zr[i]), var(b, sb[j])));
        v = kir_add(b, v, kir_mul(b, kir_i32(b, k_pad), kir_mul(b, var(b, zr[i]), var(b, zc[j]))));
      }
      if (p->has_bias) v = kir_add(b, v, kir_load(b, g.bias, var(b, p->bias_per_row ? r : c)));
      kir_expr *wi = p->row_q ? var(b, r) : p->col_q ? var(b, c) : kir_i32(b, 0);
      kir_expr *mult = kt_q_multiplier(b, g.q.xs, g.q.ws, wi, g.q.ys);
      kir_expr *at = kir_add(b, kir_mul(b, var(b, g.z), kir_i32(b, p->rows * p->cols)),
                             kir_add(b, kir_mul(b, var(b, r), kir_i32(b, p->cols)), var(b, c)));
      kir_store(b, g.y, at, kt_requantize(b, v, mult, kir_load(b, g.q.yz, kir_i32(b, 0)), p->lo, p->hi));
      if (col_ok) kir_end(b);
    }
    if (row_ok) kir_end(b);
  }
  return kir_kernel_end(b, out_kernel);
}

kt_qgemm_tiles kt_qgemm_default_tiles(int device_class, int64_t rows, int64_t cols, int64_t k) {
  (void)k;
  if (device_class == KT_DEVICE_GPU && rows >= 512 && cols >= 512) return (kt_qgemm_tiles){128, 128, 32, 8, 8};
  if (device_class == KT_DEVICE_GPU) return (kt_qgemm_tiles){64, 64, 32, 4, 4};
  return (kt_qgemm_tiles){32, 32, 32, 4, 4};
}

int kt_qgemm_tiles_valid(const kt_qgemm_tiles *t, int64_t local_mem_bytes) {
  int64_t local = local_mem_bytes > 0 && local_mem_bytes < 48 * 1024 ? local_mem_bytes : 48 * 1024;
  return t->reg_m >= 1 && t->reg_m <= QG_MAX_REG && t->reg_n >= 1 && t->reg_n <= QG_MAX_REG && t->tile_k >= 4 &&
         t->tile_k % 4 == 0 && t->tile_m % t->reg_m == 0 && t->tile_n % t->reg_n == 0 &&
         (int64_t)(t->tile_m / t->reg_m) * (t->tile_n / t->reg_n) <= 1024 &&
         (int64_t)(t->tile_m + t->tile_n) * t->tile_k * 4 <= local;
}

static int check_tiles(kir_module *m, const kt_qgemm_tiles *t) {
  if (kt_qgemm_tiles_valid(t, 0)) return 0;
  return kt_fail(m, "integer GEMM tiles %dx%d (k %d) in %dx%d per work-item do not fit (blocks of at most %d "
                 "dividing their tiles, k a multiple of 4, at most 1024 work-items, 48 KiB of local memory)",
                 t->tile_m, t->tile_n, t->tile_k, t->reg_m, t->reg_n, QG_MAX_REG);
}

/* Both forms of p: the dot variant with the plain kernel as its fallback. */
static int build_pair(kir_module *m, const char *name, const qg_problem *p, const kt_qgemm_tiles *tiles,
                      kir_kernel **out_kernel, int64_t out_groups[3]) {
  kt_qgemm_tiles t = *tiles;
  if (check_tiles(m, &t)) return -1;
  if (p->rows * p->cols * p->batch >= LIMIT32) return kt_fail(m, "y has 2^31 elements or more (32-bit indexing)");
  char dot_name[64];
  snprintf(dot_name, sizeof dot_name, "%s_idot", name);
  kir_kernel *plain = NULL, *dot = NULL;
  if (build(m, name, p, &t, 0, &plain) || build(m, dot_name, p, &t, 1, &dot)) return -1;
  if (kir_kernel_set_fallback(dot, plain)) return kt_fail(m, "internal error: the integer GEMM's variants differ");
  *out_kernel = dot;
  out_groups[0] = kt_ceil_div(p->cols, t.tile_n);
  out_groups[1] = kt_ceil_div(p->rows, t.tile_m);
  out_groups[2] = p->batch;
  return 0;
}

int kt_qgemm_conv_fits(const kt_qlinear_conv2d_desc *d) { return kt_one_if_0(d->groups) == 1; }

int kt_qgemm_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d,
                    const kt_qgemm_tiles *tiles, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (!kt_qgemm_conv_fits(d)) return kt_fail(m, "the tiled integer convolution takes groups 1 only");
  int64_t oh = kt_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, kt_one_if_0(d->dil_h), kt_one_if_0(d->stride_h));
  int64_t ow = kt_window_count(d->w, d->pad_left, d->pad_right, d->kw, kt_one_if_0(d->dil_w), kt_one_if_0(d->stride_w));
  if (oh < 1 || ow < 1) return kt_fail(m, "the window does not fit the padded input");
  if (d->n * d->c_in * d->h * d->w >= LIMIT32) return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  qg_problem p = conv_problem(d, oh, ow);
  return build_pair(m, name, &p, tiles, out_kernel, out_groups);
}

int kt_qgemm_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d,
                    const kt_qgemm_tiles *tiles, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->batch * d->m * d->k >= LIMIT32 || (d->b_batched ? d->batch : 1) * d->k * d->n >= LIMIT32)
    return kt_fail(m, "a or b has 2^31 elements or more (32-bit indexing)");
  qg_problem p = matmul_problem(d);
  return build_pair(m, name, &p, tiles, out_kernel, out_groups);
}

/* ---- the CPU class (OpenCL): explicit vectors, no local memory ----
 * A work-item computes CPU_RM rows × CPU_NV·16 columns of C: per k it loads CPU_NV 16-byte
 * vectors of B's row, widens them and subtracts the zero points, and multiply-adds them with
 * A's scalars (less theirs). The products are whole numbers below 2^16 in magnitude, so a
 * float sum of 256 of them stays below 2^24 and is exact: the sums run in float vectors (the
 * CPU's fastest multiply-add; PoCL vectorizes nothing by itself) and move into i32 vectors
 * every CPU_CHUNK k. */
enum { CPU_RM = 8, CPU_NV = 2, CPU_VW = 16, CPU_CHUNK = 256 };

int64_t kt_qgemm_cpu_cols(int64_t cols) { return kt_ceil_div(cols, CPU_VW) * CPU_VW; }

int kt_qgemm_cpu_fits(const kt_qlinear_matmul_desc *d) { return d->n % CPU_VW == 0; }

static kir_expr *splat_f(kir_builder *b, kir_expr *e) { return kir_cast(b, kir_tv(KIR_F32, CPU_VW), e); }

/* facc[i][v] += A value × (B's row at k less its zero points), for each row i and vector v:
 * the A value is lane `lane` of av[i] (or av[i] itself, a scalar, for lane -1). */
static void multiply_cpu(kir_builder *b, int bb, const int *bcol, kir_expr *k, int64_t ld, const int *zb,
                         const int *av, int lane, int facc[CPU_RM][CPU_NV]) {
  kir_type fv = kir_tv(KIR_F32, CPU_VW);
  int bv[CPU_NV];
  for (int v = 0; v < CPU_NV; v++) {
    kir_expr *at = kir_add(b, var(b, bcol[v]), kir_mul(b, k, kir_i32(b, ld)));
    bv[v] = decl(b, "bv", fv, kir_bin(b, KIR_SUB, kir_cast(b, fv, kir_load_vec(b, bb, at, CPU_VW)), var(b, zb[v])));
  }
  for (int i = 0; i < CPU_RM; i++) {
    kir_expr *a = lane < 0 ? var(b, av[i]) : kir_component(b, var(b, av[i]), lane);
    for (int v = 0; v < CPU_NV; v++)
      kir_assign(b, facc[i][v], kir_add(b, var(b, facc[i][v]), kir_bin(b, KIR_MUL, a, var(b, bv[v]))));
  }
}

/* iacc += the float sums (exact), which restart at 0. */
static void flush_cpu(kir_builder *b, int facc[CPU_RM][CPU_NV], int iacc[CPU_RM][CPU_NV]) {
  kir_type fv = kir_tv(KIR_F32, CPU_VW), iv = kir_tv(KIR_I32, CPU_VW);
  for (int i = 0; i < CPU_RM; i++)
    for (int v = 0; v < CPU_NV; v++) {
      kir_assign(b, iacc[i][v], kir_add(b, var(b, iacc[i][v]), kir_cast(b, iv, var(b, facc[i][v]))));
      kir_assign(b, facc[i][v], kir_cast(b, fv, kir_f32(b, 0.0)));
    }
}

/* The CPU GEMM of p; B is `b` ([batch] × k × ld, or shared by the batch when !b_batched). */
static int build_cpu(kir_module *m, const char *name, const qg_problem *p, int64_t ld, int b_batched,
                     kir_kernel **out_kernel, int64_t out_groups[3]) {
  kir_builder *b = kir_kernel_begin(m, name, 4, 4, 1);
  if (!b) return -1;
  kir_type i32 = kir_t(KIR_I32), fv = kir_tv(KIR_F32, CPU_VW), iv = kir_tv(KIR_I32, CPU_VW);
  kt_q_buffers q;
  int ba, baz, bb, bbz;
  if (p->conv) {
    q = kt_q_buffers_declare(b, "x", p->b_type, "w", p->a_type, p->y_type);
    ba = q.w, baz = q.wz, bb = q.x, bbz = q.xz;
  } else {
    q = kt_q_buffers_declare(b, "a", p->a_type, "b", p->b_type, p->y_type);
    ba = q.x, baz = q.xz, bb = q.w, bbz = q.wz;
  }
  int bias = p->has_bias ? kir_buffer_param(b, "bias", KIR_I32, KIR_READ) : -1;
  int y = kir_buffer_param(b, "y", p->y_type, KIR_WRITE);
  const int64_t cols_pad = kt_ceil_div(p->cols, CPU_VW * CPU_NV) * CPU_VW * CPU_NV;
  int c0 = decl(b, "c0", i32, kir_mul(b, kir_global_id(b, 0), kir_i32(b, CPU_VW * CPU_NV)));
  int r0 = decl(b, "r0", i32, kir_mul(b, kir_global_id(b, 1), kir_i32(b, CPU_RM)));
  int z = decl(b, "z", i32, kir_global_id(b, 2));
  /* Whole work-items past the edge leave (no barrier follows). */
  kir_if(b, kir_bin(b, KIR_OR, kir_bin(b, KIR_GE, var(b, c0), kir_i32(b, ld)),
                    kir_bin(b, KIR_GE, var(b, r0), kir_i32(b, p->rows))));
  kir_return(b);
  kir_end(b);
  int arow[CPU_RM], za[CPU_RM], zb[CPU_NV], facc[CPU_RM][CPU_NV], iacc[CPU_RM][CPU_NV];
  kir_expr *a_base = p->mm ? kir_mul(b, var(b, z), kir_i32(b, p->rows * p->k)) : kir_i32(b, 0);
  for (int i = 0; i < CPU_RM; i++) {
    kir_expr *r = kir_bin(b, KIR_MIN, kir_add(b, var(b, r0), kir_i32(b, i)), kir_i32(b, p->rows - 1));
    arow[i] = decl(b, "arow", i32, kir_add(b, a_base, kir_mul(b, r, kir_i32(b, p->k))));
    za[i] = decl(b, "za", i32, zero_point(b, baz, p->row_q, kir_add(b, var(b, r0), kir_i32(b, i)), p->rows));
  }
  for (int v = 0; v < CPU_NV; v++) {
    /* B's zero points of these 16 columns (per column: clamped inside the tensor). */
    kir_expr *zv = NULL;
    if (p->col_q) {
      kir_expr *c = kir_bin(b, KIR_MIN, kir_add(b, var(b, c0), kir_i32(b, v * CPU_VW)), kir_i32(b, p->cols - CPU_VW));
      zv = kir_cast(b, fv, kir_load_vec(b, bbz, c, CPU_VW));
    } else {
      zv = splat_f(b, kir_load(b, bbz, kir_i32(b, 0)));
    }
    zb[v] = decl(b, "zb", fv, zv);
  }
  for (int i = 0; i < CPU_RM; i++)
    for (int v = 0; v < CPU_NV; v++) {
      facc[i][v] = decl(b, "facc", fv, splat_f(b, kir_f32(b, 0.0)));
      iacc[i][v] = decl(b, "iacc", iv, kir_cast(b, iv, kir_i32(b, 0)));
    }
  kir_expr *b_base = b_batched ? kir_mul(b, var(b, z), kir_i32(b, p->k * ld)) : kir_i32(b, 0);
  int bcol[CPU_NV];
  for (int v = 0; v < CPU_NV; v++) /* clamped: a block past the last column reads inside B */
    bcol[v] = decl(b, "bcol", i32,
                   kir_add(b, b_base, kir_bin(b, KIR_MIN, kir_add(b, var(b, c0), kir_i32(b, v * CPU_VW)),
                                              kir_i32(b, ld - CPU_VW))));
  const int64_t k16 = p->k / CPU_VW * CPU_VW;
  int kc = kir_var_new(b, "kc", i32), k = kir_var_new(b, "k", i32);
  if (k16 > 0) {
    /* 16 k at a time: each row's 16 A values in one vector, B's rows one k after another. */
    kir_for(b, kc, kir_i32(b, 0), kir_i32(b, k16), kir_i32(b, CPU_CHUNK));
    kir_for(b, k, var(b, kc), kir_bin(b, KIR_MIN, kir_add(b, var(b, kc), kir_i32(b, CPU_CHUNK)), kir_i32(b, k16)),
            kir_i32(b, CPU_VW));
    int av[CPU_RM];
    for (int i = 0; i < CPU_RM; i++)
      av[i] = decl(b, "av", fv,
                   kir_bin(b, KIR_SUB, kir_cast(b, fv, kir_load_vec(b, ba, kir_add(b, var(b, arow[i]), var(b, k)), CPU_VW)),
                           splat_f(b, var(b, za[i]))));
    for (int kk = 0; kk < CPU_VW; kk++)
      multiply_cpu(b, bb, bcol, kir_add(b, var(b, k), kir_i32(b, kk)), ld, zb, av, kk, facc);
    kir_end(b); /* k */
    flush_cpu(b, facc, iacc);
    kir_end(b); /* kc */
  }
  if (k16 < p->k) {
    /* K's remainder (fewer than 16), one k at a time. */
    kir_for(b, k, kir_i32(b, k16), kir_i32(b, p->k), kir_i32(b, 1));
    int av[CPU_RM];
    for (int i = 0; i < CPU_RM; i++)
      av[i] = decl(b, "av1", kir_t(KIR_F32),
                   kir_cast(b, kir_t(KIR_F32), kir_bin(b, KIR_SUB, kir_load(b, ba, kir_add(b, var(b, arow[i]), var(b, k))),
                                                       var(b, za[i]))));
    multiply_cpu(b, bb, bcol, var(b, k), ld, zb, av, -1, facc);
    kir_end(b);
    flush_cpu(b, facc, iacc);
  }

  /* Requantized 16 at a time; a block crossing the last column stores lane by lane. */
  kir_expr *yz = kir_load(b, q.yz, kir_i32(b, 0));
  int yzv = decl(b, "yz", i32, yz);
  for (int i = 0; i < CPU_RM; i++) {
    int r = decl(b, "r", i32, kir_add(b, var(b, r0), kir_i32(b, i)));
    if (p->rows % CPU_RM) kir_if(b, kt_lt(b, var(b, r), p->rows));
    for (int v = 0; v < CPU_NV; v++) {
      int c = decl(b, "c", i32, kir_add(b, var(b, c0), kir_i32(b, v * CPU_VW)));
      kir_if(b, kt_lt(b, var(b, c), p->cols));
      kir_expr *acc = var(b, iacc[i][v]);
      kir_expr *cl = kir_bin(b, KIR_MIN, var(b, c), kir_i32(b, p->cols - CPU_VW)); /* loads stay inside */
      if (p->has_bias)
        acc = kir_add(b, acc, p->bias_per_row ? kir_load(b, bias, var(b, r)) : kir_load_vec(b, bias, cl, CPU_VW));
      kir_expr *ws = p->row_q ? kir_load(b, q.ws, var(b, r))
                     : p->col_q ? kir_load_vec(b, q.ws, cl, CPU_VW) : kir_load(b, q.ws, kir_i32(b, 0));
      kir_expr *mult = kir_bin(b, KIR_DIV, kir_bin(b, KIR_MUL, kir_load(b, q.xs, kir_i32(b, 0)), ws),
                               kir_load(b, q.ys, kir_i32(b, 0)));
      int val = decl(b, "val", iv, kt_requantize(b, acc, mult, var(b, yzv), p->lo, p->hi));
      kir_expr *at = kir_add(b, kir_mul(b, var(b, z), kir_i32(b, p->rows * p->cols)),
                             kir_add(b, kir_mul(b, var(b, r), kir_i32(b, p->cols)), var(b, c)));
      int yat = decl(b, "yat", i32, at);
      if (p->cols % CPU_VW == 0) {
        kir_store(b, y, var(b, yat), var(b, val));
      } else {
        kir_if(b, kt_lt(b, kir_add(b, var(b, c), kir_i32(b, CPU_VW)), p->cols + 1));
        kir_store(b, y, var(b, yat), var(b, val));
        kir_else(b);
        for (int l = 0; l < CPU_VW; l++) {
          kir_if(b, kt_lt(b, kir_add(b, var(b, c), kir_i32(b, l)), p->cols));
          kir_store(b, y, kir_add(b, var(b, yat), kir_i32(b, l)), kir_component(b, var(b, val), l));
          kir_end(b);
        }
        kir_end(b);
      }
      kir_end(b);
    }
    if (p->rows % CPU_RM) kir_end(b);
  }
  out_groups[0] = kt_ceil_div(cols_pad / (CPU_VW * CPU_NV), 4);
  out_groups[1] = kt_ceil_div(kt_ceil_div(p->rows, CPU_RM), 4);
  out_groups[2] = p->batch;
  return kir_kernel_end(b, out_kernel);
}

int kt_qgemm_cpu_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d, kir_kernel **out_kernel,
                        int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (!kt_qgemm_cpu_fits(d)) return kt_fail(m, "the CPU integer GEMM needs n a multiple of %d", CPU_VW);
  if (d->batch * d->m * d->k >= LIMIT32 || (d->b_batched ? d->batch : 1) * d->k * d->n >= LIMIT32 ||
      d->batch * d->m * d->n >= LIMIT32)
    return kt_fail(m, "a, b or y has 2^31 elements or more (32-bit indexing)");
  qg_problem p = matmul_problem(d);
  return build_cpu(m, name, &p, d->n, d->b_batched, out_kernel, out_groups);
}

/* conv's output positions and im2col dims. */
static int conv_dims(kir_module *m, const kt_qlinear_conv2d_desc *d, int64_t *oh, int64_t *ow) {
  *oh = kt_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, kt_one_if_0(d->dil_h), kt_one_if_0(d->stride_h));
  *ow = kt_window_count(d->w, d->pad_left, d->pad_right, d->kw, kt_one_if_0(d->dil_w), kt_one_if_0(d->stride_w));
  if (*oh < 1 || *ow < 1) return kt_fail(m, "the window does not fit the padded input");
  if (!kt_qgemm_conv_fits(d)) return kt_fail(m, "the integer GEMM convolution takes groups 1 only");
  return 0;
}

int64_t kt_qim2col_bytes(const kt_qlinear_conv2d_desc *d) {
  int64_t oh = kt_window_count(d->h, d->pad_top, d->pad_bottom, d->kh, kt_one_if_0(d->dil_h), kt_one_if_0(d->stride_h));
  int64_t ow = kt_window_count(d->w, d->pad_left, d->pad_right, d->kw, kt_one_if_0(d->dil_w), kt_one_if_0(d->stride_w));
  if (oh < 1 || ow < 1) return -1;
  return d->n * d->c_in * d->kh * d->kw * kt_qgemm_cpu_cols(oh * ow);
}

int kt_qim2col(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d, kir_kernel **out_kernel,
               int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  int64_t oh, ow;
  if (conv_dims(m, d, &oh, &ow)) return -1;
  const int64_t ld = kt_qgemm_cpu_cols(oh * ow), rk = d->c_in * d->kh * d->kw, total = d->n * rk * ld;
  if (total >= LIMIT32 || d->n * d->c_in * d->h * d->w >= LIMIT32)
    return kt_fail(m, "x or its im2col matrix has 2^31 elements or more (32-bit indexing)");
  kir_builder *b = kir_kernel_begin(m, name, 64, 1, 1);
  if (!b) return -1;
  kir_type i32 = kir_t(KIR_I32);
  int bx = kir_buffer_param(b, "x", d->x_type, KIR_READ);
  int bxz = kir_buffer_param(b, "x_zp", d->x_type, KIR_READ);
  int by = kir_buffer_param(b, "cols", d->x_type, KIR_WRITE);
  int e = decl(b, "e", i32, kir_global_id(b, 0));
  if (total % 64) kir_if(b, kt_lt(b, var(b, e), total));
  int pcol = decl(b, "p", i32, kir_mod(b, var(b, e), kir_i32(b, ld)));
  int kk = decl(b, "k", i32, kir_mod(b, kir_div(b, var(b, e), kir_i32(b, ld)), kir_i32(b, rk)));
  int img = decl(b, "img", i32, kir_div(b, var(b, e), kir_i32(b, ld * rk)));
  int v = decl(b, "v", i32, kir_load(b, bxz, kir_i32(b, 0)));
  qg_problem p = {.conv = d, .rows = d->c_out, .cols = oh * ow, .k = rk, .batch = d->n, .oh = oh, .ow = ow};
  kt_qgemm_tiles t = {.tile_k = 4, .tile_n = 1}; /* every k and column checked: k % 4 and cols % 1 */
  qg_kernel g = {.p = &p, .t = &t, .z = img, .b = bx};
  kir_expr *guard = NULL;
  kir_expr *index = b_element(b, &g, var(b, kk), pcol, &guard);
  guard = kt_and_opt(b, guard, kt_lt(b, var(b, pcol), oh * ow));
  guarded_byte(b, v, guard, bx, index, kir_load(b, bxz, kir_i32(b, 0)));
  kir_store(b, by, var(b, e), var(b, v));
  if (total % 64) kir_end(b);
  out_groups[0] = kt_ceil_div(total, 64);
  return kir_kernel_end(b, out_kernel);
}

int kt_qgemm_cpu_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d, kir_kernel **out_kernel,
                        int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  int64_t oh, ow;
  if (conv_dims(m, d, &oh, &ow)) return -1;
  const int64_t ld = kt_qgemm_cpu_cols(oh * ow), rk = d->c_in * d->kh * d->kw;
  if (d->n * rk * ld >= LIMIT32 || d->n * d->c_out * oh * ow >= LIMIT32)
    return kt_fail(m, "the im2col matrix or y has 2^31 elements or more (32-bit indexing)");
  qg_problem p = conv_problem(d, oh, ow);
  return build_cpu(m, name, &p, ld, 1, out_kernel, out_groups);
}

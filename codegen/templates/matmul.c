/* matmul.c — tiled batched matmul: local-memory tiles, a register block per work-item. */
#include "matmul.h"

#include <stdio.h>

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_REG 8

/* Tile and block for one output axis of extent s. */
static void pick_axis(int64_t s, int *tile, int *reg) {
  if (s <= 1) { *tile = 1; *reg = 1; }
  else if (s <= 4) { *tile = 4; *reg = 1; }
  else if (s <= 16) { *tile = 16; *reg = 2; }
  else if (s <= 32) { *tile = 32; *reg = 2; }
  else { *tile = 64; *reg = 4; }
}

void kt_matmul_pick_tiles(kt_matmul_desc *d) {
  int tm, rm, tn, rn;
  pick_axis(d->m, &tm, &rm);
  pick_axis(d->n, &tn, &rn);
  /* Large problems: a 32×64 tile of 8×8 work-items with 4×8 blocks. On PoCL (2-core AVX-512,
   * shared and noisy) SGEMM 1024 ran at 10–35 GFLOP/s with this and with the 64×64 / 4×4
   * alternatives alike; per-device tuning is left to the tuner (fast-kernels issue). */
  if (d->m > 32 && d->n > 32) { tm = 32; rm = 4; tn = 64; rn = 8; }
  /* A skinny side leaves few work-items: widen the other side's tile instead. */
  if (tm <= 4 && d->n > 64) { tn = 128; rn = tm == 1 ? 2 : 4; }
  if (tn <= 4 && d->m > 64) { tm = 128; rm = tn == 1 ? 2 : 4; }
  /* GPUs (NVIDIA through OpenCL or Vulkan): 8×8 per work-item in a 128×128 tile (256
   * work-items) or, for mid-sized problems, a 64×64 one (64 work-items) — CLBlast's winners on
   * recent NVIDIA cards are of this shape; 2·128·16·4 = 16 KiB of local memory. */
  if (d->device_class == KT_DEVICE_GPU && d->m >= 64 && d->n >= 64) {
    int big = d->m >= 512 && d->n >= 512;
    tm = tn = big ? 128 : 64;
    rm = rn = 8;
  }
  if (!d->tile_m) d->tile_m = tm;
  if (!d->reg_m) d->reg_m = d->tile_m == tm ? rm : 1;
  if (!d->tile_n) d->tile_n = tn;
  if (!d->reg_n) d->reg_n = d->tile_n == tn ? rn : 1;
  if (!d->tile_k) d->tile_k = d->k < 16 ? (int)d->k : 16;
}

/* The layouts of the descriptor as explicit strides (the contiguous ones unless strided). */
static void resolve_layouts(kt_matmul_desc *d) {
  if (d->strided) return;
  d->a_offset = d->b_offset = 0;
  d->a_stride_m = d->k;
  d->a_stride_k = 1;
  d->b_stride_k = d->trans_b ? 1 : d->n;
  d->b_stride_n = d->trans_b ? d->k : 1;
  int64_t inner = d->m * d->n;
  for (int i = d->n_batch - 1; i >= 0; i--) {
    d->c_batch_stride[i] = inner;
    inner *= d->batch[i];
  }
  d->c_stride_m = d->n;
  d->c_stride_n = 1;
}

/* Smallest and largest element an operand addresses must lie in [0, 2^31). */
static int span_ok(const kt_matmul_desc *d, int64_t offset, const int64_t *bstride, int64_t s0,
                   int64_t e0, int64_t s1, int64_t e1) {
  int64_t lo = offset, hi = offset;
  int64_t ext[2] = {e0, e1}, st[2] = {s0, s1};
  for (int i = 0; i < 2 + d->n_batch; i++) {
    int64_t e = i < 2 ? ext[i] : d->batch[i - 2];
    int64_t s = i < 2 ? st[i] : bstride[i - 2];
    if (s <= -LIMIT32 || s >= LIMIT32) return 0;
    if (s > 0) hi += (e - 1) * s;
    else lo += (e - 1) * s;
    if (lo <= -LIMIT32 || hi >= LIMIT32) return 0;
  }
  return lo >= 0 && hi < LIMIT32;
}

static int valid(const kt_matmul_desc *d) {
  if (d->m < 1 || d->n < 1 || d->k < 1) return 0;
  if (d->n_batch < 0 || d->n_batch > KT_MATMUL_MAX_BATCH) return 0;
  int64_t nb = 1;
  for (int i = 0; i < d->n_batch; i++) {
    if (d->batch[i] < 1) return 0;
    if (!d->strided && (d->a_batch_stride[i] < 0 || d->b_batch_stride[i] < 0)) return 0;
    nb *= d->batch[i];
    if (nb >= LIMIT32) return 0;
  }
  if (d->m * d->n >= LIMIT32 || d->m * d->k >= LIMIT32 || d->k * d->n >= LIMIT32) return 0;
  if (nb * d->m * d->n >= LIMIT32) return 0;
  /* Every element each operand addresses must stay addressable in 32 bits. */
  if (!span_ok(d, d->a_offset, d->a_batch_stride, d->a_stride_m, d->m, d->a_stride_k, d->k) ||
      !span_ok(d, d->b_offset, d->b_batch_stride, d->b_stride_k, d->k, d->b_stride_n, d->n) ||
      !span_ok(d, 0, d->c_batch_stride, d->c_stride_m, d->m, d->c_stride_n, d->n))
    return 0;
  if (d->a_norm && !(d->a_norm_eps >= 0.0)) return 0;
  if (d->tile_m < 1 || d->tile_n < 1 || d->tile_k < 1 || d->reg_m < 1 || d->reg_n < 1) return 0;
  if (d->reg_m > MAX_REG || d->reg_n > MAX_REG) return 0;
  if (d->tile_m % d->reg_m || d->tile_n % d->reg_n) return 0;
  int64_t wi = (int64_t)(d->tile_m / d->reg_m) * (d->tile_n / d->reg_n);
  if (wi > 1024) return 0;
  if ((int64_t)(d->tile_m + d->tile_n) * d->tile_k * 4 + (d->a_norm ? 8 * d->tile_m : 0) >
      48 * 1024)
    return 0;
  return 1;
}

/* The layer-norm prologue of A (a_norm): local arrays of the tile rows' statistics and the
 * norm weight / bias buffers (-1 when absent). */
typedef struct a_norm_state {
  int mean, rstd;         /* local arrays [tile_m] */
  int weight, bias;       /* buffers */
} a_norm_state;

/* Emits the cooperative load of one operand tile into local memory.
 * The tile has `rows` × `cols` elements, iterated with cols fastest; element (r, c) comes from
 * src[base + (r0 + r)·s_r + (c0 + c)·s_c], guarded by r0 + r < row_lim and c0 + c < col_lim,
 * and goes to local[r·ls_r + c·ls_c]. With `norm`, the A element is normalized; `m_is_row`
 * says which of r / c indexes A's rows (m), the other one being k. */
typedef struct tile_load {
  int buf, local, lid, n_items;
  int rows, cols;
  int base;               /* var: operand batch base */
  kir_expr *r0, *c0;      /* tile origin in global rows / cols (I32 expressions, reusable) */
  int64_t s_r, s_c, row_lim, col_lim;
  int row_exact, col_exact; /* 1: the guard on that side can never fire */
  int64_t ls_r, ls_c;
  const char *tag;
  const a_norm_state *norm; /* A only, or NULL */
  int m_is_row;
} tile_load;

static kir_expr *normalized(kir_builder *b, const tile_load *t, kir_expr *v, int r, int c,
                            kir_expr *gr, kir_expr *gc) {
  const a_norm_state *ns = t->norm;
  kir_expr *ml = kir_var(b, t->m_is_row ? r : c), *gk = t->m_is_row ? gc : gr;
  v = kir_bin(b, KIR_MUL, kir_bin(b, KIR_SUB, v, kir_local_load(b, ns->mean, ml)),
              kir_local_load(b, ns->rstd, t->m_is_row ? kir_var(b, r) : kir_var(b, c)));
  if (ns->weight >= 0) v = kir_bin(b, KIR_MUL, v, kir_load(b, ns->weight, gk));
  if (ns->bias >= 0) v = kir_bin(b, KIR_ADD, v, kir_load(b, ns->bias, t->m_is_row ? gc : gr));
  return v;
}

static void emit_tile_load(kir_builder *b, const tile_load *t) {
  int total = t->rows * t->cols;
  int steps = (int)kt_ceil_div(total, t->n_items);
  for (int s = 0; s < steps; s++) {
    char nm[32];
    kir_expr *idx = kir_add(b, kir_var(b, t->lid), kir_i32(b, (int64_t)s * t->n_items));
    int partial = (int64_t)(s + 1) * t->n_items > total;
    if (partial) kir_if(b, kt_lt(b, idx, total));
    snprintf(nm, sizeof nm, "%s_r%d", t->tag, s);
    int r = kir_var_new(b, nm, kir_t(KIR_I32));
    snprintf(nm, sizeof nm, "%s_c%d", t->tag, s);
    int c = kir_var_new(b, nm, kir_t(KIR_I32));
    snprintf(nm, sizeof nm, "%s_v%d", t->tag, s);
    int v = kir_var_new(b, nm, kir_t(KIR_F32));
    kir_decl(b, r, t->cols == 1 ? idx : kir_div(b, idx, kir_i32(b, t->cols)));
    kir_decl(b, c, t->cols == 1 ? kir_i32(b, 0) : kir_mod(b, idx, kir_i32(b, t->cols)));
    kir_expr *gr = kir_add(b, t->r0, kir_var(b, r));
    kir_expr *gc = kir_add(b, t->c0, kir_var(b, c));
    kir_expr *addr = kir_add(b, kir_var(b, t->base),
                             kir_add(b, kt_scaled(b, gr, t->s_r), kt_scaled(b, gc, t->s_c)));
    kir_expr *guard = kt_and_opt(b, t->row_exact ? NULL : kt_lt(b, gr, t->row_lim),
                              t->col_exact ? NULL : kt_lt(b, gc, t->col_lim));
    kir_expr *val = kir_load(b, t->buf, addr);
    if (t->norm) val = normalized(b, t, val, r, c, gr, gc);
    if (guard) {
      kir_decl(b, v, kir_f32(b, 0.0));
      kir_if(b, guard);
      kir_assign(b, v, val);
      kir_end(b);
    } else {
      kir_decl(b, v, val);
    }
    kir_local_store(b, t->local,
                    kir_add(b, kir_mul(b, kir_var(b, r), kir_i32(b, t->ls_r)),
                            kir_mul(b, kir_var(b, c), kir_i32(b, t->ls_c))),
                    kir_var(b, v));
    if (partial) kir_end(b);
  }
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

/* Row statistics of A for the layer-norm prologue: for each tile row (strided over the
 * work-items), a two-pass mean and 1/sqrt(biased variance + eps) over all K, into local
 * memory; then a barrier. */
static void emit_norm_stats(kir_builder *b, const kt_matmul_desc *d, int bA, int a_base, int m0,
                            int lid, int n_items, const a_norm_state *ns) {
  const int64_t K = d->k;
  int rr = kir_var_new(b, "ln_r", kir_t(KIR_I32));
  int row = kir_var_new(b, "ln_row", kir_t(KIR_I32));
  int kk = kir_var_new(b, "ln_k", kir_t(KIR_I32));
  int kk2 = kir_var_new(b, "ln_k", kir_t(KIR_I32));
  int sum = kir_var_new(b, "ln_sum", kir_t(KIR_F32));
  int mean = kir_var_new(b, "ln_mean", kir_t(KIR_F32));
  int sq = kir_var_new(b, "ln_sq", kir_t(KIR_F32));
  int dev = kir_var_new(b, "ln_dev", kir_t(KIR_F32));
  kir_for(b, rr, kir_var(b, lid), kir_i32(b, d->tile_m), kir_i32(b, n_items));
  int guard = d->m % d->tile_m != 0;
  if (guard) kir_if(b, kt_lt(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->m));
  kir_decl(b, row, kir_add(b, kir_var(b, a_base),
                           kt_scaled(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->a_stride_m)));
  kir_decl(b, sum, kir_f32(b, 0.0));
  kir_for(b, kk, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_assign(b, sum, kir_bin(b, KIR_ADD, kir_var(b, sum),
                             kir_load(b, bA, kir_add(b, kir_var(b, row),
                                                     kt_scaled(b, kir_var(b, kk), d->a_stride_k)))));
  kir_end(b);
  kir_decl(b, mean, kir_bin(b, KIR_DIV, kir_var(b, sum), kir_f32(b, (double)K)));
  kir_decl(b, sq, kir_f32(b, 0.0));
  kir_for(b, kk2, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, 1));
  kir_decl(b, dev, kir_bin(b, KIR_SUB,
                           kir_load(b, bA, kir_add(b, kir_var(b, row),
                                                   kt_scaled(b, kir_var(b, kk2), d->a_stride_k))),
                           kir_var(b, mean)));
  kir_assign(b, sq, kir_bin(b, KIR_ADD, kir_var(b, sq),
                            kir_bin(b, KIR_MUL, kir_var(b, dev), kir_var(b, dev))));
  kir_end(b);
  kir_local_store(b, ns->mean, kir_var(b, rr), kir_var(b, mean));
  kir_local_store(b, ns->rstd, kir_var(b, rr),
                  kir_bin(b, KIR_DIV, kir_f32(b, 1.0),
                          kir_un(b, KIR_SQRT,
                                 kir_bin(b, KIR_ADD,
                                         kir_bin(b, KIR_DIV, kir_var(b, sq), kir_f32(b, (double)K)),
                                         kir_f32(b, d->a_norm_eps)))));
  if (guard) kir_end(b);
  kir_end(b); /* rr */
  kir_barrier(b);
}

int kt_matmul(kir_module *m, const char *name, const kt_matmul_desc *desc,
              kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  kt_matmul_desc d = *desc;
  kt_matmul_pick_tiles(&d);
  resolve_layouts(&d);
  if (!valid(&d)) return -1;
  int cpu = kt_matmul_cpu(m, name, &d, out_kernel, out_groups);
  if (cpu != 0) return cpu > 0 ? 0 : -1;
  const int TM = d.tile_m, TN = d.tile_n, TK = d.tile_k, RM = d.reg_m, RN = d.reg_n;
  const int WX = TN / RN, WY = TM / RM, L = WX * WY;
  const int64_t M = d.m, N = d.n, K = d.k;
  int64_t nb = 1;
  for (int i = 0; i < d.n_batch; i++) nb *= d.batch[i];

  kir_builder *b = kir_kernel_begin(m, name, WX, WY, 1);
  if (!b) return -1;
  int bA = kir_buffer_param(b, "a", KIR_F32, KIR_READ);
  int bB = kir_buffer_param(b, "b", KIR_F32, KIR_READ);
  int bBias = d.has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  a_norm_state ns = {-1, -1, -1, -1};
  if (d.a_norm) {
    ns.weight = d.a_norm_weight ? kir_buffer_param(b, "norm_weight", KIR_F32, KIR_READ) : -1;
    ns.bias = d.a_norm_bias ? kir_buffer_param(b, "norm_bias", KIR_F32, KIR_READ) : -1;
  }
  int bC = kir_buffer_param(b, "c", KIR_F32, KIR_WRITE);
  int lA = kir_local_array(b, "a_tile", KIR_F32, TK * TM); /* [k][m] */
  int lB = kir_local_array(b, "b_tile", KIR_F32, TK * TN); /* [k][n] */
  if (d.a_norm) {
    ns.mean = kir_local_array(b, "row_mean", KIR_F32, TM);
    ns.rstd = kir_local_array(b, "row_rstd", KIR_F32, TM);
  }

  int tx = kir_var_new(b, "tx", kir_t(KIR_I32));
  int ty = kir_var_new(b, "ty", kir_t(KIR_I32));
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int m0 = kir_var_new(b, "m0", kir_t(KIR_I32));
  int n0 = kir_var_new(b, "n0", kir_t(KIR_I32));
  int a_base = kir_var_new(b, "a_base", kir_t(KIR_I32));
  int b_base = kir_var_new(b, "b_base", kir_t(KIR_I32));
  int c_base = kir_var_new(b, "c_base", kir_t(KIR_I32));
  kir_decl(b, tx, kir_local_id(b, 0));
  kir_decl(b, ty, kir_local_id(b, 1));
  kir_decl(b, lid, kir_add(b, kir_mul(b, kir_var(b, ty), kir_i32(b, WX)), kir_var(b, tx)));
  kir_decl(b, m0, kir_mul(b, kir_group_id(b, 1), kir_i32(b, TM)));
  kir_decl(b, n0, kir_mul(b, kir_group_id(b, 0), kir_i32(b, TN)));
  kir_decl(b, a_base, kir_add(b, nb > 1 ? kt_batch_offset(b, kir_group_id(b, 2), d.n_batch,
                                                          d.batch, d.a_batch_stride)
                                        : kir_i32(b, 0), kir_i32(b, d.a_offset)));
  kir_decl(b, b_base, kir_add(b, nb > 1 ? kt_batch_offset(b, kir_group_id(b, 2), d.n_batch,
                                                          d.batch, d.b_batch_stride)
                                        : kir_i32(b, 0), kir_i32(b, d.b_offset)));
  kir_decl(b, c_base, nb <= 1 ? kir_i32(b, 0)
                     : d.strided ? kt_batch_offset(b, kir_group_id(b, 2), d.n_batch, d.batch,
                                                   d.c_batch_stride)
                                 : kir_mul(b, kir_group_id(b, 2), kir_i32(b, M * N)));
  if (d.a_norm) emit_norm_stats(b, &d, bA, a_base, m0, lid, L, &ns);

  int acc[MAX_REG][MAX_REG];
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "acc%d_%d", i, j);
      acc[i][j] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, acc[i][j], kir_f32(b, 0.0));
    }

  int k0 = kir_var_new(b, "k0", kir_t(KIR_I32));
  kir_for(b, k0, kir_i32(b, 0), kir_i32(b, K), kir_i32(b, TK));
  {
    int k_exact = K % TK == 0;
    /* Each tile is walked with its smaller-stride axis fastest (coalesced loads). */
    if (!d.strided || M == 1 || abs64(d.a_stride_k) <= abs64(d.a_stride_m)) {
      /* A tile: TM rows (m) × TK cols (k), stored [k][m]. */
      tile_load ta = {bA, lA, lid, L, TM, TK, a_base, kir_var(b, m0), kir_var(b, k0),
                      d.a_stride_m, d.a_stride_k, M, K, M % TM == 0, k_exact, 1, TM, "a",
                      d.a_norm ? &ns : NULL, 1};
      emit_tile_load(b, &ta);
    } else {
      /* A tile: TK rows (k) × TM cols (m), stored [k][m]. */
      tile_load ta = {bA, lA, lid, L, TK, TM, a_base, kir_var(b, k0), kir_var(b, m0),
                      d.a_stride_k, d.a_stride_m, K, M, k_exact, M % TM == 0, TM, 1, "a",
                      d.a_norm ? &ns : NULL, 0};
      emit_tile_load(b, &ta);
    }
    if (d.strided ? abs64(d.b_stride_n) <= abs64(d.b_stride_k) : !d.trans_b) {
      /* B tile: TK rows (k) × TN cols (n), stored [k][n]. */
      tile_load tb = {bB, lB, lid, L, TK, TN, b_base, kir_var(b, k0), kir_var(b, n0),
                      d.b_stride_k, d.b_stride_n, K, N, k_exact, N % TN == 0, TN, 1, "b",
                      NULL, 0};
      emit_tile_load(b, &tb);
    } else {
      /* B tile: TN rows (n) × TK cols (k), stored [k][n]. */
      tile_load tb = {bB, lB, lid, L, TN, TK, b_base, kir_var(b, n0), kir_var(b, k0),
                      d.b_stride_n, d.b_stride_k, N, K, N % TN == 0, k_exact, 1, TN, "b",
                      NULL, 0};
      emit_tile_load(b, &tb);
    }
    kir_barrier(b);

    int kk = kir_var_new(b, "kk", kir_t(KIR_I32));
    kir_for(b, kk, kir_i32(b, 0), kir_i32(b, TK), kir_i32(b, 1));
    int av[MAX_REG], bv[MAX_REG];
    for (int i = 0; i < RM; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "av%d", i);
      av[i] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, av[i], kir_local_load(b, lA, kir_add(b, kir_mul(b, kir_var(b, kk), kir_i32(b, TM)),
                                                       kir_add(b, kir_mul(b, kir_var(b, ty), kir_i32(b, RM)),
                                                               kir_i32(b, i)))));
    }
    for (int j = 0; j < RN; j++) {
      char nm[32];
      snprintf(nm, sizeof nm, "bv%d", j);
      bv[j] = kir_var_new(b, nm, kir_t(KIR_F32));
      kir_decl(b, bv[j], kir_local_load(b, lB, kir_add(b, kir_mul(b, kir_var(b, kk), kir_i32(b, TN)),
                                                       kir_add(b, kir_mul(b, kir_var(b, tx), kir_i32(b, RN)),
                                                               kir_i32(b, j)))));
    }
    for (int i = 0; i < RM; i++)
      for (int j = 0; j < RN; j++)
        kir_assign(b, acc[i][j], kir_add(b, kir_var(b, acc[i][j]),
                                         kir_mul(b, kir_var(b, av[i]), kir_var(b, bv[j]))));
    kir_end(b); /* kk */
    kir_barrier(b);
  }
  kir_end(b); /* k0 */

  /* Epilogue: bias, the fused epilogue, guarded stores. */
  int gm = kir_var_new(b, "gm", kir_t(KIR_I32));
  int gn = kir_var_new(b, "gn", kir_t(KIR_I32));
  kir_decl(b, gm, kir_add(b, kir_var(b, m0), kir_mul(b, kir_var(b, ty), kir_i32(b, RM))));
  kir_decl(b, gn, kir_add(b, kir_var(b, n0), kir_mul(b, kir_var(b, tx), kir_i32(b, RN))));
  for (int i = 0; i < RM; i++) {
    kir_expr *row = kir_add(b, kir_var(b, gm), kir_i32(b, i));
    int row_guard = M % TM != 0;
    if (row_guard) kir_if(b, kt_lt(b, row, M));
    for (int j = 0; j < RN; j++) {
      kir_expr *col = kir_add(b, kir_var(b, gn), kir_i32(b, j));
      int col_guard = N % TN != 0;
      if (col_guard) kir_if(b, kt_lt(b, col, N));
      kir_expr *v = kir_var(b, acc[i][j]);
      if (bBias >= 0) v = kir_add(b, v, kir_load(b, bBias, d.bias_per_row ? row : col));
      if (d.epilogue.fn) {
        kir_expr *bidx = nb > 1 ? kir_group_id(b, 2) : kir_i32(b, 0);
        kir_expr *lin = kir_add(b, kir_mul(b, bidx, kir_i32(b, M * N)),
                                kir_add(b, kir_mul(b, row, kir_i32(b, N)), col));
        kt_out_pos at = {lin, bidx, row, col};
        v = d.epilogue.fn(b, v, &at, d.epilogue.user);
        if (!v) {
          kir_kernel_end(b, NULL);
          return -1;
        }
      }
      kir_store(b, bC,
                kir_add(b, kir_var(b, c_base),
                        kir_add(b, kt_scaled(b, row, d.c_stride_m), kt_scaled(b, col, d.c_stride_n))),
                v);
      if (col_guard) kir_end(b);
    }
    if (row_guard) kir_end(b);
  }

  out_groups[0] = kt_ceil_div(N, TN);
  out_groups[1] = kt_ceil_div(M, TM);
  out_groups[2] = nb;
  return kir_kernel_end(b, out_kernel);
}

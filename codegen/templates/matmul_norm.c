/* matmul_norm.c — the GEMM kernels' layer-norm prologue (matmul.h, a_norm): the statistics of
 * A's rows, computed by each work-group for its own rows or read from the row-statistics
 * kernel, and A's elements normalized as they are loaded. */
#include "matmul.h"
#include "matmul_tile.h"

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define STATS_ITEMS 128 /* work-items per row of the row-statistics kernel */

kt_norm_state kt_matmul_norm_state(kir_builder *b, const kt_matmul_frame *f, int tile_m) {
  kt_norm_state ns = {-1, -1, f->bNormW, f->bNormB, f->bNormStats, -1};
  if (f->d->a_norm) {
    ns.mean = kir_local_array(b, "row_mean", KIR_F32, tile_m);
    ns.rstd = kir_local_array(b, "row_rstd", KIR_F32, tile_m);
  }
  if (f->d->a_norm && f->d->a_norm_k) {
    ns.k0 = kir_var_new(b, "ln_k0", kir_t(KIR_I32));
    kir_decl(b, ns.k0, kt_scaled(b, kir_group_id(b, 2), f->d->k));
  }
  return ns;
}

/* 1/sqrt(sq / K + eps) */
static kir_expr *rstd_of(kir_builder *b, int sq, int64_t K, double eps) {
  return kir_bin(b, KIR_DIV, kir_f32(b, 1.0),
                 kir_un(b, KIR_SQRT, kir_bin(b, KIR_ADD, kir_bin(b, KIR_DIV, kir_var(b, sq), kir_f32(b, (double)K)),
                                             kir_f32(b, eps))));
}

/* Var `out` (declared here) += over k = first, first + step, ... < K of f(A[row + k·stride_k]),
 * where f(a) = a, or (a − mean)² given var `mean` (else -1). */
static void fold_row(kir_builder *b, int bA, int row, int64_t stride_k, kir_expr *first, int64_t step,
                     int64_t K, int mean, int out) {
  int kk = kir_var_new(b, "ln_k", kir_t(KIR_I32));
  kir_decl(b, out, kir_f32(b, 0.0));
  kir_for(b, kk, first, kir_i32(b, K), kir_i32(b, step));
  kir_expr *x = kir_load(b, bA, kir_add(b, kir_var(b, row), kt_scaled(b, kir_var(b, kk), stride_k)));
  if (mean >= 0) {
    int dev = kir_var_new(b, "ln_dev", kir_t(KIR_F32));
    kir_decl(b, dev, kir_bin(b, KIR_SUB, x, kir_var(b, mean)));
    x = kir_bin(b, KIR_MUL, kir_var(b, dev), kir_var(b, dev));
  }
  kir_assign(b, out, kir_bin(b, KIR_ADD, kir_var(b, out), x));
  kir_end(b);
}

void kt_matmul_norm_stats(kir_builder *b, const kt_matmul_desc *d, int tile_m, int bA, int a_base, int m0,
                          int lid, int n_items, const kt_norm_state *ns) {
  const int64_t K = d->k;
  int rr = kir_var_new(b, "ln_r", kir_t(KIR_I32));
  kir_for(b, rr, kir_var(b, lid), kir_i32(b, tile_m), kir_i32(b, n_items));
  int guard = d->m % tile_m != 0;
  if (guard) kir_if(b, kt_lt(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->m));
  if (ns->stats >= 0) {
    kir_expr *at = kt_scaled(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), 2);
    kir_local_store(b, ns->mean, kir_var(b, rr), kir_load(b, ns->stats, at));
    kir_local_store(b, ns->rstd, kir_var(b, rr), kir_load(b, ns->stats, kir_add(b, at, kir_i32(b, 1))));
  } else {
    int row = kir_var_new(b, "ln_row", kir_t(KIR_I32));
    int sum = kir_var_new(b, "ln_sum", kir_t(KIR_F32));
    int mean = kir_var_new(b, "ln_mean", kir_t(KIR_F32));
    int sq = kir_var_new(b, "ln_sq", kir_t(KIR_F32));
    kir_decl(b, row, kir_add(b, kir_var(b, a_base), kt_scaled(b, kir_add(b, kir_var(b, m0), kir_var(b, rr)), d->a_stride_m)));
    fold_row(b, bA, row, d->a_stride_k, kir_i32(b, 0), 1, K, -1, sum);
    kir_decl(b, mean, kir_bin(b, KIR_DIV, kir_var(b, sum), kir_f32(b, (double)K)));
    fold_row(b, bA, row, d->a_stride_k, kir_i32(b, 0), 1, K, mean, sq);
    kir_local_store(b, ns->mean, kir_var(b, rr), kir_var(b, mean));
    kir_local_store(b, ns->rstd, kir_var(b, rr), rstd_of(b, sq, K, d->a_norm_eps));
  }
  if (guard) kir_end(b);
  kir_end(b); /* rr */
  kir_barrier(b);
}

kir_expr *kt_norm_apply(kir_builder *b, const kt_norm_state *ns, kir_expr *v, kir_expr *ml, kir_expr *gk) {
  if (ns->k0 >= 0) gk = kir_add(b, kir_var(b, ns->k0), gk);
  v = kir_bin(b, KIR_MUL, kir_bin(b, KIR_SUB, v, kir_local_load(b, ns->mean, ml)), kir_local_load(b, ns->rstd, ml));
  if (ns->weight >= 0) v = kir_bin(b, KIR_MUL, v, kir_load(b, ns->weight, gk));
  if (ns->bias >= 0) v = kir_bin(b, KIR_ADD, v, kir_load(b, ns->bias, gk));
  return v;
}

int kt_matmul_row_stats(kir_module *m, const char *name, const kt_matmul_desc *desc,
                        kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  kt_matmul_desc d = *desc;
  kt_matmul_resolve_layouts(&d);
  const int64_t M = d.m, K = d.k;
  if (!d.a_norm || d.n_batch || M < 1 || K < 1 || !(d.a_norm_eps >= 0.0))
    return kt_fail(m, "row statistics of an unbatched GEMM with a layer-norm prologue (eps >= 0)");
  if (2 * M >= LIMIT32 || d.a_offset < 0 || d.a_stride_m < 0 || d.a_stride_k < 0 ||
      d.a_offset + (M - 1) * d.a_stride_m + (K - 1) * d.a_stride_k >= LIMIT32)
    return kt_fail(m, "A's rows address elements outside [0, 2^31)");
  kir_builder *b = kir_kernel_begin(m, name, STATS_ITEMS, 1, 1);
  if (!b) return -1;
  int bA = kir_buffer_param(b, "a", d.a_elem, KIR_READ);
  int bS = kir_buffer_param(b, "norm_stats", KIR_F32, KIR_WRITE);
  int red = kir_local_array(b, "red", KIR_F32, STATS_ITEMS);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int row = kir_var_new(b, "row", kir_t(KIR_I32));
  int sum = kir_var_new(b, "sum", kir_t(KIR_F32)), sq = kir_var_new(b, "sq", kir_t(KIR_F32));
  int mean = kir_var_new(b, "mean", kir_t(KIR_F32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_decl(b, row, kir_add(b, kir_i32(b, d.a_offset), kt_scaled(b, kir_group_id(b, 0), d.a_stride_m)));
  fold_row(b, bA, row, d.a_stride_k, kir_var(b, lid), STATS_ITEMS, K, -1, sum);
  int total = kt_emit_wg_reduce(b, KIR_ADD, kir_var(b, sum), red, lid, STATS_ITEMS, d.subgroups, "row_sum");
  if (total < 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }
  kir_decl(b, mean, kir_bin(b, KIR_DIV, kir_var(b, total), kir_f32(b, (double)K)));
  fold_row(b, bA, row, d.a_stride_k, kir_var(b, lid), STATS_ITEMS, K, mean, sq);
  int sq_total = kt_emit_wg_reduce(b, KIR_ADD, kir_var(b, sq), red, lid, STATS_ITEMS, d.subgroups, "row_sq");
  if (sq_total < 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }
  kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lid), kir_i32(b, 0)));
  kir_expr *at = kt_scaled(b, kir_group_id(b, 0), 2);
  kir_store(b, bS, at, kir_var(b, mean));
  kir_store(b, bS, kir_add(b, at, kir_i32(b, 1)), rstd_of(b, sq_total, K, d.a_norm_eps));
  kir_end(b);
  out_groups[0] = M;
  return kir_kernel_end(b, out_kernel);
}

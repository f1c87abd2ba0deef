/* matmul_skinny.c — the GPU GEMM for few rows (M ≤ KT_SKINNY_MAX_M, a batch-1 linear layer).
 *
 * A tiled kernel gives such a problem a handful of work-groups that each walk all of K alone.
 * Here K is split across the work-items of a group instead, and the partial sums are reduced
 * in local memory:
 *
 *  - "dot" (B contiguous along K, as linear's [out, in] weight): one work-group of 64 per
 *    output column n; work-item l reads K positions l, l + 64, ... (4-wide when A and B are
 *    contiguous along K and K % 4 == 0), so each step reads 64 neighbouring elements of B's row.
 *  - "column" (B contiguous along N): work-groups of 64 columns × 4 slices of K; each step of a
 *    slice reads 64 neighbouring elements of one row of B.
 *
 * Every row's partial sums are reduced per column, then bias and epilogue as in the tiled
 * kernel (kt_matmul_frame_store). */
#include <stdio.h>

#include "kt_util.h"
#include "matmul.h"
#include "reduce.h"

#define DOT_LANES 64
#define COL_LANES 64
#define COL_SLICES 4

static int store_output(kir_builder *b, const kt_matmul_frame *s, kir_expr *v, int64_t row, kir_expr *col) {
  return kt_matmul_frame_store(b, s, 1, &v, kir_i32(b, row), col);
}

static int build_dot(kir_builder *b, kt_matmul_frame *s) {
  const kt_matmul_desc *d = s->d;
  const int M = (int)d->m;
  const int vec = d->a_stride_k == 1 && d->b_stride_k == 1 && d->k % 4 == 0 ? 4 : 1;
  int scratch = kir_local_array(b, "partial", KIR_F32, DOT_LANES);
  int lane = kir_var_new(b, "lane", kir_t(KIR_I32));
  int n = kir_var_new(b, "n", kir_t(KIR_I32));
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  int acc[KT_SKINNY_MAX_M];
  kir_decl(b, lane, kir_local_id(b, 0));
  kir_decl(b, n, kir_group_id(b, 0));
  for (int i = 0; i < M; i++) {
    acc[i] = kir_var_new(b, "acc", kir_t(KIR_F32));
    kir_decl(b, acc[i], kir_f32(b, 0.0));
  }
  kir_for(b, k, kir_mul(b, kir_var(b, lane), kir_i32(b, vec)), kir_i32(b, d->k), kir_i32(b, (int64_t)DOT_LANES * vec));
  int bv = kir_var_new(b, "bv", kir_tv(KIR_F32, vec));
  kir_decl(b, bv, kir_load_vec(b, s->bB,
                               kir_add(b, kir_var(b, s->b_base),
                                       kir_add(b, kt_scaled(b, kir_var(b, n), d->b_stride_n),
                                               kt_scaled(b, kir_var(b, k), d->b_stride_k))),
                               vec));
  for (int i = 0; i < M; i++) {
    kir_expr *av = kir_load_vec(b, s->bA,
                                kir_add(b, kir_var(b, s->a_base),
                                        kir_add(b, kir_i32(b, i * d->a_stride_m), kt_scaled(b, kir_var(b, k), d->a_stride_k))),
                                vec);
    int a = kir_var_new(b, "av", kir_tv(KIR_F32, vec));
    kir_decl(b, a, av);
    for (int c = 0; c < vec; c++)
      kir_assign(b, acc[i], kir_add(b, kir_var(b, acc[i]),
                                    kir_mul(b, kir_component(b, kir_var(b, a), c), kir_component(b, kir_var(b, bv), c))));
  }
  kir_end(b);
  for (int i = 0; i < M; i++) {
    int sum = kt_emit_wg_reduce(b, KIR_ADD, kir_var(b, acc[i]), scratch, lane, DOT_LANES, d->subgroups, "sum");
    if (sum < 0) return -1;
    kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lane), kir_i32(b, 0)));
    if (store_output(b, s, kir_var(b, sum), i, kir_var(b, n)) != 0) return -1;
    kir_end(b);
  }
  return 0;
}

static int build_column(kir_builder *b, kt_matmul_frame *s) {
  const kt_matmul_desc *d = s->d;
  const int M = (int)d->m;
  int scratch = kir_local_array(b, "partial", KIR_F32, M * COL_SLICES * COL_LANES);
  int lx = kir_var_new(b, "lx", kir_t(KIR_I32));
  int slice = kir_var_new(b, "slice", kir_t(KIR_I32));
  int col = kir_var_new(b, "col", kir_t(KIR_I32));
  int colc = kir_var_new(b, "col_in", kir_t(KIR_I32));
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  int bval = kir_var_new(b, "bv", kir_t(KIR_F32));
  int acc[KT_SKINNY_MAX_M];
  kir_decl(b, lx, kir_local_id(b, 0));
  kir_decl(b, slice, kir_local_id(b, 1));
  kir_decl(b, col, kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_i32(b, COL_LANES)), kir_var(b, lx)));
  /* Columns past N read column N - 1 (every work-item must reach the barrier) and store nothing. */
  kir_decl(b, colc, d->n % COL_LANES ? kir_bin(b, KIR_MIN, kir_var(b, col), kir_i32(b, d->n - 1)) : kir_var(b, col));
  for (int i = 0; i < M; i++) {
    acc[i] = kir_var_new(b, "acc", kir_t(KIR_F32));
    kir_decl(b, acc[i], kir_f32(b, 0.0));
  }
  kir_for(b, k, kir_var(b, slice), kir_i32(b, d->k), kir_i32(b, COL_SLICES));
  kir_decl(b, bval, kir_load(b, s->bB, kir_add(b, kir_var(b, s->b_base),
                                             kir_add(b, kt_scaled(b, kir_var(b, k), d->b_stride_k),
                                                     kt_scaled(b, kir_var(b, colc), d->b_stride_n)))));
  for (int i = 0; i < M; i++)
    kir_assign(b, acc[i],
               kir_add(b, kir_var(b, acc[i]),
                       kir_mul(b, kir_load(b, s->bA, kir_add(b, kir_var(b, s->a_base),
                                                              kir_add(b, kir_i32(b, i * d->a_stride_m),
                                                                      kt_scaled(b, kir_var(b, k), d->a_stride_k)))),
                               kir_var(b, bval))));
  kir_end(b);
  /* partial[(i·SLICES + slice)·LANES + lx]; slice 0 sums the column's slices. */
  for (int i = 0; i < M; i++)
    kir_local_store(b, scratch,
                    kir_add(b, kir_mul(b, kir_add(b, kir_var(b, slice), kir_i32(b, (int64_t)i * COL_SLICES)),
                                       kir_i32(b, COL_LANES)),
                            kir_var(b, lx)),
                    kir_var(b, acc[i]));
  kir_barrier(b);
  kir_expr *in = kir_bin(b, KIR_EQ, kir_var(b, slice), kir_i32(b, 0));
  if (d->n % COL_LANES) in = kir_bin(b, KIR_AND, in, kt_lt(b, kir_var(b, col), d->n));
  kir_if(b, in);
  for (int i = 0; i < M; i++) {
    kir_expr *sum = NULL;
    for (int sl = 0; sl < COL_SLICES; sl++) {
      kir_expr *p = kir_local_load(b, scratch, kir_add(b, kir_var(b, lx), kir_i32(b, ((int64_t)i * COL_SLICES + sl) * COL_LANES)));
      sum = sum ? kir_add(b, sum, p) : p;
    }
    if (store_output(b, s, sum, i, kir_var(b, col)) != 0) return -1;
  }
  kir_end(b);
  return 0;
}

int kt_matmul_skinny(kir_module *m, const char *name, const kt_matmul_desc *d, kir_kernel **out_kernel,
                     int64_t out_groups[3]) {
  if (d->device_class != KT_DEVICE_GPU || d->m > KT_SKINNY_MAX_M || d->a_norm) return 0;
  int dot = d->b_stride_k == 1;
  if (!dot && d->b_stride_n != 1) return 0;
  kt_matmul_frame s;
  kir_builder *b = dot ? kt_matmul_frame_begin(m, name, d, DOT_LANES, 1, &s)
                       : kt_matmul_frame_begin(m, name, d, COL_LANES, COL_SLICES, &s);
  if (!b) return -1;
  if ((dot ? build_dot(b, &s) : build_column(b, &s)) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue or the row reduction could not be built");
  }
  out_groups[0] = dot ? d->n : kt_ceil_div(d->n, COL_LANES);
  out_groups[1] = 1;
  out_groups[2] = s.nb;
  return kir_kernel_end(b, out_kernel) == 0 ? 1 : -1;
}

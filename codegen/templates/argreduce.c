/* argreduce.c — argmax / argmin along an axis (see argreduce.h). */
#include "argreduce.h"

#include "kt_util.h"

#define INDEX_LIMIT INT64_C(2147483647)

/* Element `index` of x: loaded from its buffer, or computed by the fused prologue. */
static kir_expr *load_x(kir_builder *b, const kt_argreduce_desc *d, int x, kir_scalar cs,
                        kir_expr *index) {
  if (!d->prologue.fn) return kir_load(b, x, index);
  kir_expr *v = d->prologue.fn(b, index, d->prologue.user);
  return v ? kir_cast(b, kir_t(cs), v) : NULL;
}

int kt_argreduce(kir_module *m, const char *name, const kt_argreduce_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->rank < 1 || d->rank > KT_MAX_RANK || d->axis < 0 || d->axis >= d->rank)
    return kt_fail(m, "rank %d, axis %d (rank 1..%d, axis inside it)", d->rank, d->axis, KT_MAX_RANK);
  if (d->dtype == KIR_BOOL || (int)d->dtype < 0 || (int)d->dtype >= KIR_N_SCALARS)
    return kt_fail(m, "element type %d (a number)", (int)d->dtype);
  int64_t outer = 1, inner = 1, dim = d->shape[d->axis], total = 1;
  for (int k = 0; k < d->rank; k++) {
    if (d->shape[k] < 1 || d->shape[k] >= INDEX_LIMIT || total > (INDEX_LIMIT - 1) / d->shape[k])
      return kt_fail(m, "an empty dim, or 2^31 elements or more (32-bit indexing)");
    total *= d->shape[k];
    if (k < d->axis) outer *= d->shape[k];
    if (k > d->axis) inner *= d->shape[k];
  }
  int64_t n = outer * inner;
  kir_builder *b = kir_kernel_begin(m, name, KT_ARG_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int x = d->prologue.fn ? -1 : kir_buffer_param(b, "x", d->dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_I32, KIR_WRITE);
  int vi = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, vi, kir_global_id(b, 0));
  kt_return_past(b, kir_var(b, vi), n);
  /* base = outer·dim·inner + in; element k of the line at base + k·inner. */
  kir_expr *o = kir_div(b, kir_var(b, vi), kir_i32(b, inner));
  kir_expr *in = kir_mod(b, kir_var(b, vi), kir_i32(b, inner));
  int vbase = kir_var_new(b, "base", kir_t(KIR_I32));
  kir_decl(b, vbase, kir_add(b, kir_mul(b, o, kir_i32(b, dim * inner)), in));
  kir_scalar cs = kir_compute_scalar(d->dtype);
  int vbest = kir_var_new(b, "best", kir_t(cs));
  kir_decl(b, vbest, load_x(b, d, x, cs, kir_var(b, vbase)));
  int vat = kir_var_new(b, "at", kir_t(KIR_I32));
  kir_decl(b, vat, kir_i32(b, 0));
  int vk = kir_var_new(b, "k", kir_t(KIR_I32));
  kir_for(b, vk, kir_i32(b, 1), kir_i32(b, dim), kir_i32(b, 1));
  int vv = kir_var_new(b, "v", kir_t(cs));
  kir_decl(b, vv, load_x(b, d, x, cs, kir_add(b, kir_var(b, vbase), kir_mul(b, kir_var(b, vk), kir_i32(b, inner)))));
  /* Strictly better, so the first of equal extremes stays; for floats a NaN beats every
   * number (v != v) and the first NaN stays (best == best). */
  kir_expr *better = kir_bin(b, d->find_max ? KIR_GT : KIR_LT, kir_var(b, vv), kir_var(b, vbest));
  if (cs == KIR_F32)
    better = kir_bin(b, KIR_OR, better,
                     kir_bin(b, KIR_AND, kir_bin(b, KIR_NE, kir_var(b, vv), kir_var(b, vv)),
                             kir_bin(b, KIR_EQ, kir_var(b, vbest), kir_var(b, vbest))));
  kir_if(b, better);
  kir_assign(b, vbest, kir_var(b, vv));
  kir_assign(b, vat, kir_var(b, vk));
  kir_end(b);
  kir_end(b);
  kir_expr *index = kir_var(b, vat);
  if (d->epilogue.fn) {
    kt_out_pos at = {kir_var(b, vi), NULL, NULL, NULL};
    index = d->epilogue.fn(b, index, &at, d->epilogue.user);
  }
  kir_store(b, y, kir_var(b, vi), index);
  return kt_end_1d(b, n, KT_ARG_LOCAL_SIZE, out_kernel, out_groups);
}

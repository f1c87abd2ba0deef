/* kt_util.c — pieces the kernel templates share (kt_util.h). */
#include "kt_util.h"

#include <stdarg.h>

int kt_fail(kir_module *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kir_module_vset_error(m, fmt, ap);
  va_end(ap);
  return -1;
}

int64_t kt_one_if_0(int64_t v) { return v == 0 ? 1 : v; }

int64_t kt_window_count(int64_t size, int64_t pad_lo, int64_t pad_hi, int64_t k, int64_t dil,
                        int64_t stride) {
  if (k < 1 || dil < 1 || stride < 1 || pad_lo < 0 || pad_hi < 0) return -1;
  int64_t span = size + pad_lo + pad_hi - dil * (k - 1) - 1;
  if (span < 0) return -1;
  return span / stride + 1;
}

kir_expr *kt_lt(kir_builder *b, kir_expr *x, int64_t bound) {
  return kir_bin(b, KIR_LT, x, kir_i32(b, bound));
}

kir_expr *kt_and_opt(kir_builder *b, kir_expr *x, kir_expr *y) {
  if (!x) return y;
  if (!y) return x;
  return kir_bin(b, KIR_AND, x, y);
}

kir_expr *kt_axis_guard(kir_builder *b, int var, int64_t pad_lo, int64_t pad_hi, int64_t hi) {
  kir_expr *g = NULL;
  if (pad_lo > 0) g = kir_bin(b, KIR_GE, kir_var(b, var), kir_i32(b, 0));
  if (pad_hi > 0) g = kt_and_opt(b, g, kt_lt(b, kir_var(b, var), hi));
  return g;
}

void kt_return_past(kir_builder *b, kir_expr *id, int64_t n) {
  kir_if(b, kir_bin(b, KIR_GE, id, kir_i32(b, n)));
  kir_return(b);
  kir_end(b);
}

int kt_end_1d(kir_builder *b, int64_t items, int ls, kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (kir_kernel_end(b, out_kernel)) return -1;
  if (out_groups) {
    out_groups[0] = (items + ls - 1) / ls;
    out_groups[1] = out_groups[2] = 1;
  }
  return 0;
}

kir_expr *kt_scaled(kir_builder *b, kir_expr *e, int64_t s) {
  return s == 1 ? e : kir_mul(b, e, kir_i32(b, s));
}

int kt_strides_multiple(int64_t n, int64_t offset, int64_t row_stride, const int64_t *bstride, int n_batch) {
  if (offset % n || row_stride % n) return 0;
  for (int i = 0; i < n_batch; i++)
    if (bstride[i] % n) return 0;
  return 1;
}

kir_expr *kt_batch_offset(kir_builder *b, kir_expr *bidx, int n_batch, const int64_t *batch,
                          const int64_t *stride) {
  kir_expr *off = kir_i32(b, 0);
  int64_t inner = 1;
  for (int i = n_batch - 1; i >= 0; i--) {
    if (stride[i] != 0 && batch[i] > 1) {
      kir_expr *digit = inner == 1 ? bidx : kir_div(b, bidx, kir_i32(b, inner));
      digit = kir_mod(b, digit, kir_i32(b, batch[i]));
      off = kir_add(b, off, kt_scaled(b, digit, stride[i]));
    }
    inner *= batch[i];
  }
  return off;
}

int kt_pair_variant(kir_module *m, kir_kernel *fast, kir_kernel *slow, const int64_t fast_groups[3],
                    const int64_t slow_groups[3], const char *what, const char *name, kir_kernel **out_kernel) {
  if (fast_groups[0] != slow_groups[0] || fast_groups[1] != slow_groups[1] || fast_groups[2] != slow_groups[2] ||
      kir_kernel_set_fallback(fast, slow) != 0)
    return kt_fail(m, "internal error: the fallback of the %s %s does not match it", what, name);
  *out_kernel = fast;
  return 1;
}

kir_expr *kt_lane_fold(kir_builder *b, int v, kir_binop op) {
  kir_expr *x = kir_var(b, v);
  while (x && x->type.width > 2) {
    int h = x->type.width / 2;
    int half = kir_var_new(b, "lanes", kir_tv(KIR_F32, h));
    kir_decl(b, half, kir_bin(b, op, kir_swizzle(b, x, 0, h), kir_swizzle(b, x, h, h)));
    x = kir_var(b, half);
  }
  return x && x->type.width == 2 ? kir_bin(b, op, kir_component(b, x, 0), kir_component(b, x, 1)) : x;
}

kir_expr *kt_lane_sum(kir_builder *b, int v) { return kt_lane_fold(b, v, KIR_ADD); }

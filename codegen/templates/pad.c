/* pad.c — constant, reflect and edge padding (pad.h). */
#include "pad.h"

#include "elementwise.h"
#include "kt_util.h"

#define INDEX_LIMIT INT64_C(2147483647)

/* The descriptor with neighbouring unpadded dims merged and size-1 unpadded dims dropped. */
typedef struct pad_plan {
  const kt_pad_desc *d;
  int rank;
  int64_t in[KT_MAX_RANK], out[KT_MAX_RANK], begin[KT_MAX_RANK];
  int padded[KT_MAX_RANK];
  int buf;
} pad_plan;

static void plan_dims(const kt_pad_desc *d, pad_plan *p) {
  p->d = d;
  p->rank = 0;
  for (int k = 0; k < d->rank; k++) {
    int padded = d->begin[k] != 0 || d->end[k] != 0;
    if (!padded && d->shape[k] == 1) continue;
    if (!padded && p->rank > 0 && !p->padded[p->rank - 1]) {
      p->in[p->rank - 1] *= d->shape[k];
      p->out[p->rank - 1] *= d->shape[k];
      continue;
    }
    p->in[p->rank] = d->shape[k];
    p->out[p->rank] = d->shape[k] + d->begin[k] + d->end[k];
    p->begin[p->rank] = d->begin[k];
    p->padded[p->rank++] = padded;
  }
}

/* The value of output element `index`. */
static kir_expr *pad_body(kir_builder *b, kir_expr *index, void *user) {
  pad_plan *p = user;
  const kt_pad_desc *d = p->d;
  p->buf = kir_buffer_param(b, "x", d->dtype, KIR_READ);
  kir_expr *src = kir_i32(b, 0), *inside = NULL;
  int64_t out_stride = 1, in_stride = 1;
  for (int k = p->rank - 1; k >= 0; k--) {
    kir_expr *o = out_stride == 1 ? index : kir_div(b, index, kir_i32(b, out_stride));
    if (k > 0) o = kir_mod(b, o, kir_i32(b, p->out[k]));
    kir_expr *j = p->begin[k] ? kir_add(b, o, kir_i32(b, -p->begin[k])) : o;
    if (p->padded[k]) {
      int vj = kir_var_new(b, "j", kir_t(KIR_I32));
      kir_decl(b, vj, j);
      j = kir_var(b, vj);
      int64_t n = p->in[k];
      if (d->mode == KT_PAD_REFLECT) {
        /* -j below the first element, 2(n - 1) - j above the last. */
        kir_expr *lo = kir_select(b, kir_bin(b, KIR_LT, j, kir_i32(b, 0)), kir_un(b, KIR_NEG, j), j);
        kir_assign(b, vj, lo);
        kir_assign(b, vj, kir_select(b, kir_bin(b, KIR_GE, j, kir_i32(b, n)),
                                     kir_bin(b, KIR_SUB, kir_i32(b, 2 * (n - 1)), j), j));
      } else {
        /* Edge: the nearest element; constant: the same, to load inside the tensor, then the
         * constant where j was outside. */
        if (d->mode == KT_PAD_CONSTANT) {
          int vin = kir_var_new(b, "in_range", kir_t(KIR_BOOL));
          kir_decl(b, vin, kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, j, kir_i32(b, 0)),
                                   kir_bin(b, KIR_LT, j, kir_i32(b, n))));
          inside = kt_and_opt(b, inside, kir_var(b, vin));
        }
        kir_assign(b, vj, kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, j, kir_i32(b, 0)),
                                  kir_i32(b, n - 1)));
      }
    }
    src = kir_add(b, src, kt_scaled(b, j, in_stride));
    out_stride *= p->out[k];
    in_stride *= p->in[k];
  }
  kir_expr *v = kir_load(b, p->buf, src);
  if (inside) {
    kir_expr *c = d->dtype == KIR_I32 ? kir_i32(b, (int64_t)d->value) : kir_f32(b, d->value);
    v = kir_select(b, inside, v, c);
  }
  return v;
}

int kt_pad(kir_module *m, const char *name, const kt_pad_desc *d, kir_kernel **out_kernel,
           int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->rank < 1 || d->rank > KT_MAX_RANK || (d->dtype != KIR_F32 && d->dtype != KIR_I32))
    return kt_fail(m, "rank %d or element type %d (rank 1..%d, f32 or i32)", d->rank,
                   (int)d->dtype, KT_MAX_RANK);
  int64_t n_in = 1, n_out = 1;
  for (int k = 0; k < d->rank; k++) {
    int64_t out = d->shape[k] + d->begin[k] + d->end[k];
    if (d->shape[k] < 1 || out < 1)
      return kt_fail(m, "dim %d: %lld elements padded by %lld and %lld leave none", k,
                     (long long)d->shape[k], (long long)d->begin[k], (long long)d->end[k]);
    if (d->mode == KT_PAD_REFLECT && (d->begin[k] >= d->shape[k] || d->end[k] >= d->shape[k]))
      return kt_fail(m, "dim %d: reflect padding (%lld, %lld) must be smaller than the dim (%lld)",
                     k, (long long)d->begin[k], (long long)d->end[k], (long long)d->shape[k]);
    n_in *= d->shape[k];
    n_out *= out;
    if (n_in >= INDEX_LIMIT || n_out >= INDEX_LIMIT)
      return kt_fail(m, "a tensor has 2^31 elements or more (32-bit indexing)");
  }
  pad_plan p;
  plan_dims(d, &p);
  return kt_elementwise_body(m, name, n_out, d->dtype, pad_body, &p, 0, out_kernel, out_groups);
}

/* elementwise.c — the broadcasting elementwise kernel and the scalar formulas. */
#include "elementwise.h"

#include <stdio.h>

#include "fastmath.h"
#include "kt_util.h"

#define INDEX_LIMIT INT64_C(2147483647)

static int64_t numel(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) {
    if (shape[d] < 1 || shape[d] > INDEX_LIMIT) return -1;
    if (n > INDEX_LIMIT / shape[d]) return -1;
    n *= shape[d];
  }
  return n;
}

int kt_elementwise(kir_module *m, const char *name, const kt_elementwise_desc *d,
                   kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d || !d->scalar) return kt_fail(m, "no module, name or formula");
  if (d->rank < 0 || d->rank > KT_MAX_RANK)
    return kt_fail(m, "rank %d (at most %d)", d->rank, KT_MAX_RANK);
  if (d->n_inputs < 1 || d->n_inputs > KT_EW_MAX_INPUTS)
    return kt_fail(m, "%d inputs (1 to %d)", d->n_inputs, KT_EW_MAX_INPUTS);
  int64_t n = numel(d->rank, d->shape);
  if (n < 0 || n >= INDEX_LIMIT)
    return kt_fail(m, "the output has an empty dim or 2^31 elements or more");
  int ni = d->n_inputs;
  for (int j = 0; j < ni; j++) {
    const kt_ew_input *in = &d->inputs[j];
    if (in->rank < 0 || in->rank > d->rank || numel(in->rank, in->shape) < 0)
      return kt_fail(m, "input %d has rank %d or an empty dim (the output has rank %d)", j,
                     in->rank, d->rank);
    for (int id = 0; id < in->rank; id++) {
      int64_t osz = d->shape[id + d->rank - in->rank];
      if (in->shape[id] != 1 && in->shape[id] != osz)
        return kt_fail(m, "input %d does not broadcast to the output (dim %d is %lld, not 1 or "
                       "%lld)", j, id, (long long)in->shape[id], (long long)osz);
    }
  }

  /* Collapse the output dims: drop size-1 dims, merge neighbours every input treats alike. */
  int r = 0;
  int64_t cdim[KT_MAX_RANK];
  int cb[KT_EW_MAX_INPUTS][KT_MAX_RANK]; /* 1 = input broadcast along collapsed dim */
  for (int od = 0; od < d->rank; od++) {
    int64_t size = d->shape[od];
    if (size == 1) continue;
    int bc[KT_EW_MAX_INPUTS];
    for (int j = 0; j < ni; j++) {
      const kt_ew_input *in = &d->inputs[j];
      int id = od - (d->rank - in->rank);
      bc[j] = id < 0 || in->shape[id] == 1;
    }
    int same = r > 0;
    for (int j = 0; j < ni && same; j++) same = cb[j][r - 1] == bc[j];
    if (same) {
      cdim[r - 1] *= size;
    } else {
      cdim[r] = size;
      for (int j = 0; j < ni; j++) cb[j][r] = bc[j];
      r++;
    }
  }
  int ls = d->local_size > 0 ? d->local_size : KT_EW_LOCAL_SIZE;
  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int buf[KT_EW_MAX_INPUTS];
  for (int j = 0; j < ni; j++) {
    char nm[32];
    snprintf(nm, sizeof(nm), "x%d", j);
    buf[j] = kir_buffer_param(b, nm, d->inputs[j].dtype, KIR_READ);
  }
  int ybuf = kir_buffer_param(b, "y", d->out_dtype, KIR_WRITE);

  int vi = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, vi, kir_global_id(b, 0));
  kt_return_past(b, kir_var(b, vi), n);

  /* ostride[c]: elements of the output per step of collapsed dim c. */
  int64_t ostride[KT_MAX_RANK];
  for (int c = r - 1; c >= 0; c--) ostride[c] = c == r - 1 ? 1 : ostride[c + 1] * cdim[c + 1];
  int coord_var[KT_MAX_RANK];
  for (int c = 0; c < r; c++) coord_var[c] = -1;

  kir_expr *vals[KT_EW_MAX_INPUTS];
  for (int j = 0; j < ni; j++) {
    /* Which collapsed dims does input j span? */
    int first = -1, all_suffix = 1, any = 0;
    for (int c = 0; c < r; c++) {
      if (!cb[j][c]) {
        if (first < 0) first = c;
        any = 1;
      } else if (first >= 0) {
        all_suffix = 0; /* a broadcast dim after a present one */
      }
    }
    kir_expr *idx;
    if (!any) {
      idx = kir_i32(b, 0);
    } else if (all_suffix) {
      /* Present exactly in dims [first, r): contiguous tail of the output index. */
      idx = first == 0 ? kir_var(b, vi) : kir_mod(b, kir_var(b, vi), kir_i32(b, ostride[first - 1]));
    } else {
      /* Input strides over its present dims, then the sum from the outermost dim in. */
      int64_t istride[KT_MAX_RANK], s = 1;
      for (int c = r - 1; c >= 0; c--) {
        istride[c] = s;
        if (!cb[j][c]) s *= cdim[c];
      }
      idx = kir_i32(b, 0);
      for (int c = 0; c < r; c++) {
        if (cb[j][c]) continue;
        if (coord_var[c] < 0) {
          char nm[32];
          snprintf(nm, sizeof(nm), "c%d", c);
          coord_var[c] = kir_var_new(b, nm, kir_t(KIR_I32));
          kir_expr *q = kir_div(b, kir_var(b, vi), kir_i32(b, ostride[c]));
          if (c > 0) q = kir_mod(b, q, kir_i32(b, cdim[c]));
          kir_decl(b, coord_var[c], q);
        }
        idx = kir_add(b, idx, kir_mul(b, kir_var(b, coord_var[c]), kir_i32(b, istride[c])));
      }
    }
    char nm[32];
    snprintf(nm, sizeof(nm), "v%d", j);
    int v = kir_var_new(b, nm, kir_t(kir_compute_scalar(d->inputs[j].dtype)));
    kir_decl(b, v, kir_load(b, buf[j], idx));
    vals[j] = kir_var(b, v);
  }
  kir_expr *result = kir_builder_failed(b) ? NULL : d->scalar(b, vals, d->user);
  if (result && result->type.scalar != kir_compute_scalar(d->out_dtype))
    result = kir_cast(b, kir_t(d->out_dtype), result);
  kir_store(b, ybuf, kir_var(b, vi), result);
  if (kir_kernel_end(b, out_kernel)) return -1;
  if (out_groups) {
    out_groups[0] = (n + ls - 1) / ls;
    if (out_groups[0] < 1) out_groups[0] = 1;
    out_groups[1] = out_groups[2] = 1;
  }
  return 0;
}

/* The frame of the body kernels: a 1-D kernel of `items` work-items in groups of local_size
 * (0: KT_EW_LOCAL_SIZE; *out_ls), variable *out_i the work-item's index, items past the last
 * returning. NULL when the kernel cannot be begun. */
static kir_builder *body_begin(kir_module *m, const char *name, int64_t items, int local_size,
                               int *out_ls, int *out_i) {
  const int ls = local_size > 0 ? local_size : KT_EW_LOCAL_SIZE;
  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return NULL;
  int vi = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, vi, kir_global_id(b, 0));
  if (items % ls != 0) {
    kt_return_past(b, kir_var(b, vi), items);
  }
  *out_ls = ls;
  *out_i = vi;
  return b;
}

int kt_elementwise_body(kir_module *m, const char *name, int64_t n, kir_scalar out_dtype,
                        kt_ew_body_fn body, void *user, int local_size, kir_kernel **out_kernel,
                        int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !body) return kt_fail(m, "no module, name or body");
  if (n < 1 || n >= INDEX_LIMIT) return kt_fail(m, "%lld elements (1 to 2^31 - 1)", (long long)n);
  int ls, vi;
  kir_builder *b = body_begin(m, name, n, local_size, &ls, &vi);
  if (!b) return -1;
  kir_expr *result = kir_builder_failed(b) ? NULL : body(b, kir_var(b, vi), user);
  if (!result) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused body could not be built");
  }
  if (result->type.scalar != kir_compute_scalar(out_dtype))
    result = kir_cast(b, kir_t(out_dtype), result);
  int ybuf = kir_buffer_param(b, "y", out_dtype, KIR_WRITE);
  kir_store(b, ybuf, kir_var(b, vi), result);
  return kt_end_1d(b, n, ls, out_kernel, out_groups);
}

int kt_elementwise_body_vec(kir_module *m, const char *name, int64_t n, int width, kt_ew_body_fn body,
                            void *user, int local_size, kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !body) return kt_fail(m, "no module, name or body");
  if (n < 1 || n >= INDEX_LIMIT) return kt_fail(m, "%lld elements (1 to 2^31 - 1)", (long long)n);
  if ((width != 2 && width != 4 && width != 8 && width != 16) || n % width != 0)
    return kt_fail(m, "%d lanes per work-item for %lld elements (2, 4, 8 or 16, dividing them)", width,
                   (long long)n);
  const int64_t items = n / width;
  int ls, vi;
  kir_builder *b = body_begin(m, name, items, local_size, &ls, &vi);
  if (!b) return -1;
  int vb = kir_var_new(b, "e", kir_t(KIR_I32));
  kir_decl(b, vb, kir_mul(b, kir_var(b, vi), kir_i32(b, width)));
  kir_expr *result = kir_builder_failed(b) ? NULL : body(b, kir_var(b, vb), user);
  if (!result || result->type.width != width || result->type.scalar != KIR_F32) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused body is no vector of %d floats", width);
  }
  int ybuf = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  kir_store(b, ybuf, kir_var(b, vb), result);
  return kt_end_1d(b, items, ls, out_kernel, out_groups);
}

int kt_elementwise_body_lanes(kir_module *m, const char *name, int64_t n, kir_scalar out_dtype,
                              int width, kt_ew_lane_fn lane, void *user, int local_size,
                              kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !lane) return kt_fail(m, "no module, name or body");
  if (n < 1 || n >= INDEX_LIMIT) return kt_fail(m, "%lld elements (1 to 2^31 - 1)", (long long)n);
  if (width != 1 && width != 2 && width != 4)
    return kt_fail(m, "%d lanes per work-item (1, 2 or 4)", width);
  if (n % width != 0) width = 1;
  int64_t items = n / width;
  int ls, vi;
  kir_builder *b = body_begin(m, name, items, local_size, &ls, &vi);
  if (!b) return -1;
  kir_expr *base = kir_var(b, vi);
  if (width > 1) {
    int vb = kir_var_new(b, "e", kir_t(KIR_I32));
    kir_decl(b, vb, kir_mul(b, kir_var(b, vi), kir_i32(b, width)));
    base = kir_var(b, vb);
  }
  kir_expr *index[4] = {base, NULL, NULL, NULL};
  kir_expr *result[4] = {NULL, NULL, NULL, NULL};
  for (int l = 0; l < width; l++) {
    if (l > 0) {
      int vl = kir_var_new(b, "e", kir_t(KIR_I32));
      kir_decl(b, vl, kir_add(b, base, kir_i32(b, l)));
      index[l] = kir_var(b, vl);
    }
    result[l] = kir_builder_failed(b) ? NULL : lane(b, index[l], base, l, width, user);
    if (!result[l]) {
      kir_kernel_end(b, NULL);
      return kt_fail(m, "the fused body could not be built");
    }
    if (result[l]->type.scalar != kir_compute_scalar(out_dtype))
      result[l] = kir_cast(b, kir_t(out_dtype), result[l]);
    if (width > 1 && result[l]->kind != KIR_E_VAR && result[l]->kind != KIR_E_CONST_F &&
        result[l]->kind != KIR_E_CONST_I) {
      int vr = kir_var_new(b, "r", kir_t(kir_compute_scalar(out_dtype)));
      kir_decl(b, vr, result[l]);
      result[l] = kir_var(b, vr);
    }
  }
  int ybuf = kir_buffer_param(b, "y", out_dtype, KIR_WRITE);
  /* One vector store of the lanes: W scalar stores are not merged into one by a driver that
   * cannot prove their alignment. */
  if (width > 1 && out_dtype == KIR_F32)
    kir_store(b, ybuf, base, kir_vector(b, width, result));
  else
    for (int l = 0; l < width; l++) kir_store(b, ybuf, index[l], result[l]);
  return kt_end_1d(b, items, ls, out_kernel, out_groups);
}

/* ---- scalar formulas ---- */

kir_expr *kt_sf_neg(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_NEG, x); }
kir_expr *kt_sf_abs(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_ABS, x); }
kir_expr *kt_sf_exp(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_EXP, x); }
kir_expr *kt_sf_log(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_LOG, x); }
kir_expr *kt_sf_sqrt(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_SQRT, x); }
kir_expr *kt_sf_rsqrt(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_RSQRT, x); }
kir_expr *kt_sf_tanh(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_TANH, x); }
kir_expr *kt_sf_erf(kir_builder *b, kir_expr *x) {
  return kir_builder_ir_math(b) ? kt_fast_erf(b, x) : kir_un(b, KIR_ERF, x);
}
kir_expr *kt_sf_sin(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_SIN, x); }
kir_expr *kt_sf_cos(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_COS, x); }
kir_expr *kt_sf_tan(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_TAN, x); }
kir_expr *kt_sf_floor(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_FLOOR, x); }
kir_expr *kt_sf_ceil(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_CEIL, x); }
kir_expr *kt_sf_round(kir_builder *b, kir_expr *x) { return kir_un(b, KIR_ROUND, x); }

kir_expr *kt_sf_sign(kir_builder *b, kir_expr *x) {
  kir_expr *neg = kir_select(b, kir_bin(b, KIR_LT, x, kir_f32(b, 0.0)), kir_f32(b, -1.0), x);
  return kir_select(b, kir_bin(b, KIR_GT, x, kir_f32(b, 0.0)), kir_f32(b, 1.0), neg);
}

kir_expr *kt_sf_reciprocal(kir_builder *b, kir_expr *x) {
  return kir_bin(b, KIR_DIV, kir_f32(b, 1.0), x);
}

kir_expr *kt_sf_relu(kir_builder *b, kir_expr *x) {
  return kir_select(b, kir_bin(b, KIR_LT, x, kir_f32(b, 0.0)), kir_f32(b, 0.0), x);
}

kir_expr *kt_sf_sigmoid(kir_builder *b, kir_expr *x) {
  kir_expr *den = kir_bin(b, KIR_ADD, kir_f32(b, 1.0), kir_un(b, KIR_EXP, kir_un(b, KIR_NEG, x)));
  return kir_bin(b, KIR_DIV, kir_f32(b, 1.0), den);
}

kir_expr *kt_sf_gelu(kir_builder *b, kir_expr *x) {
  if (kir_builder_ir_math(b)) return kt_fast_gelu(b, x);
  /* 1/sqrt(2) to double precision; the printer rounds it to the nearest float. */
  kir_expr *t = kt_sf_erf(b, kir_bin(b, KIR_MUL, x, kir_f32(b, 0.70710678118654752440)));
  kir_expr *half_x = kir_bin(b, KIR_MUL, kir_f32(b, 0.5), x);
  return kir_bin(b, KIR_MUL, half_x, kir_bin(b, KIR_ADD, kir_f32(b, 1.0), t));
}

kir_expr *kt_sf_gelu_tanh(kir_builder *b, kir_expr *x) {
  kir_expr *x3 = kir_bin(b, KIR_MUL, kir_bin(b, KIR_MUL, x, x), x);
  kir_expr *inner = kir_bin(b, KIR_ADD, x, kir_bin(b, KIR_MUL, kir_f32(b, 0.044715), x3));
  if (kir_builder_ir_math(b)) {
    /* ½x·(1 + tanh u) = x·σ(2u) = x / (1 + exp(−2u)): PoCL's exp on float16 vectors, where its
     * tanh there took 358 µs against 224 over 128 × 3072 floats; nor does 1 + tanh cancel. */
    kir_expr *e = kir_un(b, KIR_EXP, kir_bin(b, KIR_MUL, kir_f32(b, -2.0 * 0.79788456080286535588), inner));
    return kir_bin(b, KIR_DIV, x, kir_bin(b, KIR_ADD, kir_f32(b, 1.0), e));
  }
  kir_expr *t = kir_un(b, KIR_TANH, kir_bin(b, KIR_MUL, kir_f32(b, 0.79788456080286535588), inner));
  kir_expr *half_x = kir_bin(b, KIR_MUL, kir_f32(b, 0.5), x);
  return kir_bin(b, KIR_MUL, half_x, kir_bin(b, KIR_ADD, kir_f32(b, 1.0), t));
}

kir_expr *kt_sf_silu(kir_builder *b, kir_expr *x) {
  kir_expr *den = kir_bin(b, KIR_ADD, kir_f32(b, 1.0), kir_un(b, KIR_EXP, kir_un(b, KIR_NEG, x)));
  return kir_bin(b, KIR_DIV, x, den);
}

kir_expr *kt_sf_leaky_relu(kir_builder *b, kir_expr *x, double alpha) {
  return kir_select(b, kir_bin(b, KIR_LT, x, kir_f32(b, 0.0)),
                    kir_bin(b, KIR_MUL, x, kir_f32(b, alpha)), x);
}

kir_expr *kt_sf_clamp(kir_builder *b, kir_expr *x, double lo, double hi) {
  return kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, x, kir_f32(b, lo)), kir_f32(b, hi));
}

kir_expr *kt_sf_heaviside(kir_builder *b, kir_expr *x, kir_expr *v) {
  kir_expr *step = kir_select(b, kir_bin(b, KIR_GT, x, kir_f32(b, 0.0)), kir_f32(b, 1.0), kir_f32(b, 0.0));
  return kir_select(b, kir_bin(b, KIR_EQ, x, kir_f32(b, 0.0)), v, step);
}

kir_expr *kt_sf_add(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_ADD, x, y); }
kir_expr *kt_sf_sub(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_SUB, x, y); }
kir_expr *kt_sf_mul(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_MUL, x, y); }
kir_expr *kt_sf_div(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_DIV, x, y); }
kir_expr *kt_sf_pow(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_POW, x, y); }
kir_expr *kt_sf_fmod(kir_builder *b, kir_expr *x, kir_expr *y) { return kir_bin(b, KIR_MOD, x, y); }
kir_expr *kt_sf_maximum(kir_builder *b, kir_expr *x, kir_expr *y) {
  return kir_bin(b, KIR_MAX, x, y);
}
kir_expr *kt_sf_minimum(kir_builder *b, kir_expr *x, kir_expr *y) {
  return kir_bin(b, KIR_MIN, x, y);
}

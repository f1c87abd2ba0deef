/* shape.c — transpose, slice, concat, gather and copy kernels (see shape.h). */
#include "shape.h"

#include <stdio.h>

#include "kt_util.h"

#define INDEX_LIMIT INT64_C(2147483647)

/* Element count, or -1 if a dim is < 1 or the count reaches 2^31. */
static int64_t numel(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) {
    if (shape[d] < 1 || shape[d] >= INDEX_LIMIT) return -1;
    if (n > (INDEX_LIMIT - 1) / shape[d]) return -1;
    n *= shape[d];
  }
  return n;
}

/* Declares `i = global id` and returns when i >= n; returns the variable. Call after the
 * buffer parameters so that the signature lists them first. */
static int guard_1d(kir_builder *b, int64_t n) {
  int vi = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, vi, kir_global_id(b, 0));
  kt_return_past(b, kir_var(b, vi), n);
  return vi;
}

static int end_1d(kir_builder *b, int64_t n, kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (kir_kernel_end(b, out_kernel)) return -1;
  if (out_groups) {
    out_groups[0] = (n + KT_SHAPE_LOCAL_SIZE - 1) / KT_SHAPE_LOCAL_SIZE;
    if (out_groups[0] < 1) out_groups[0] = 1;
    out_groups[1] = out_groups[2] = 1;
  }
  return 0;
}

/* Declares `name = value` unless value folded to a constant; returns the value to use. */
static kir_expr *bind(kir_builder *b, const char *name, kir_expr *value) {
  if (!value || value->kind == KIR_E_CONST_I || value->kind == KIR_E_VAR) return value;
  int v = kir_var_new(b, name, value->type);
  kir_decl(b, v, value);
  return kir_var(b, v);
}

/* Any element type the kernel IR stores: the data is moved, never computed on. */
static int valid_dtype(kir_scalar s) { return s >= KIR_F32 && (int)s < KIR_N_SCALARS; }

int kt_copy(kir_module *m, const char *name, int64_t n, kir_scalar dtype,
            kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name) return kt_fail(m, "no module or name");
  if (n < 1 || n >= INDEX_LIMIT) return kt_fail(m, "%lld elements (1 to 2^31 - 1)", (long long)n);
  if (!valid_dtype(dtype)) return kt_fail(m, "element type %d (no kir scalar)", (int)dtype);
  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", dtype, KIR_WRITE);
  int vi = guard_1d(b, n);
  kir_store(b, y, kir_var(b, vi), kir_load(b, x, kir_var(b, vi)));
  return end_1d(b, n, out_kernel, out_groups);
}

/* ---- the strided read shared by transpose and slice ----
 * y[i] = x[base + Σ_c coord_c(i) · stride[c]] over output dims `dims` (C order). */
static int strided_read(kir_module *m, const char *name, kir_scalar dtype, int rank,
                        const int64_t *dims, const int64_t *stride, int64_t base,
                        kir_kernel **out_kernel, int64_t out_groups[3]) {
  int64_t n = numel(rank, dims);
  if (n < 0) return kt_fail(m, "the output has an empty dim or 2^31 elements or more");
  /* Drop size-1 dims; merge c into its left neighbour when the strides chain. */
  int r = 0;
  int64_t cd[KT_MAX_RANK], cs[KT_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    if (dims[d] == 1) continue;
    if (r > 0 && cs[r - 1] == stride[d] * dims[d]) {
      cd[r - 1] *= dims[d];
      cs[r - 1] = stride[d];
      continue;
    }
    cd[r] = dims[d];
    cs[r] = stride[d];
    r++;
  }
  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", dtype, KIR_WRITE);
  int vi = guard_1d(b, n);
  int64_t ostride[KT_MAX_RANK];
  for (int c = r - 1; c >= 0; c--) ostride[c] = c == r - 1 ? 1 : ostride[c + 1] * cd[c + 1];
  kir_expr *idx = kir_i32(b, 0);
  for (int c = 0; c < r; c++) {
    kir_expr *q = kir_div(b, kir_var(b, vi), kir_i32(b, ostride[c]));
    if (c > 0) q = kir_mod(b, q, kir_i32(b, cd[c]));
    char nm[32];
    snprintf(nm, sizeof(nm), "c%d", c);
    /* A single merged dim is just i: no coordinate variable needed. */
    kir_expr *coord = r == 1 ? kir_var(b, vi) : bind(b, nm, q);
    idx = kir_add(b, idx, kir_mul(b, coord, kir_i32(b, cs[c])));
  }
  idx = kir_add(b, idx, kir_i32(b, base));
  kir_store(b, y, kir_var(b, vi), kir_load(b, x, idx));
  return end_1d(b, n, out_kernel, out_groups);
}

static void contiguous_strides(int rank, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d];
  }
}

/* The checks every strided-read template starts with: a module, a name and a descriptor, and an
 * input of a supported rank and element type that is neither empty nor 2^31 elements. */
static int check_strided(kir_module *m, const char *name, const void *d, int rank, kir_scalar dtype,
                         const int64_t *in_shape, kir_kernel **out_kernel) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (rank < 0 || rank > KT_MAX_RANK || !valid_dtype(dtype) || numel(rank, in_shape) < 0)
    return kt_fail(m, "rank %d, element type %d, or an empty or 2^31-element input (rank at most "
                   "%d, a kir scalar)", rank, (int)dtype, KT_MAX_RANK);
  return 0;
}

int kt_transpose(kir_module *m, const char *name, const kt_transpose_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (check_strided(m, name, d, d ? d->rank : 0, d ? d->dtype : KIR_F32, d ? d->shape : NULL,
                    out_kernel))
    return -1;
  int seen[KT_MAX_RANK] = {0};
  int64_t in_stride[KT_MAX_RANK], out_dims[KT_MAX_RANK], stride[KT_MAX_RANK];
  contiguous_strides(d->rank, d->shape, in_stride);
  for (int k = 0; k < d->rank; k++) {
    int p = d->perm[k];
    if (p < 0 || p >= d->rank || seen[p])
      return kt_fail(m, "perm is not a permutation of 0..%d", d->rank - 1);
    seen[p] = 1;
    out_dims[k] = d->shape[p];
    stride[k] = in_stride[p];
  }
  return strided_read(m, name, d->dtype, d->rank, out_dims, stride, 0, out_kernel, out_groups);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

int kt_slice_resolve(int rank, const int64_t *in_shape, int n, const int64_t *starts,
                     const int64_t *ends, const int64_t *axes, const int64_t *steps,
                     kt_slice_desc *d) {
  if (rank < 0 || rank > KT_MAX_RANK || n < 0 || n > rank || (n > 0 && (!starts || !ends)))
    return -1;
  d->rank = rank;
  for (int k = 0; k < rank; k++) {
    if (in_shape[k] < 1) return -1;
    d->in_shape[k] = in_shape[k];
    d->start[k] = 0;
    d->step[k] = 1;
    d->out_shape[k] = in_shape[k];
  }
  int named[KT_MAX_RANK] = {0};
  for (int k = 0; k < n; k++) {
    int64_t axis = axes ? axes[k] : k;
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || named[axis]) return -1;
    named[axis] = 1;
    int64_t dim = in_shape[axis], step = steps ? steps[k] : 1;
    if (step == 0) return -1;
    /* Starts/ends may be huge (INT64_MAX as "to the end"): clamp before adding dim. */
    int64_t s = clamp64(starts[k], -dim - 1, dim + 1), e = clamp64(ends[k], -dim - 1, dim + 1);
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count;
    if (step > 0) {
      s = clamp64(s, 0, dim);
      e = clamp64(e, 0, dim);
      count = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = clamp64(s, 0, dim - 1);
      e = clamp64(e, -1, dim - 1);
      count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    if (count < 1) return -1;
    d->start[axis] = s;
    d->step[axis] = step;
    d->out_shape[axis] = count;
  }
  return 0;
}

int kt_slice(kir_module *m, const char *name, const kt_slice_desc *d, kir_kernel **out_kernel,
             int64_t out_groups[3]) {
  if (check_strided(m, name, d, d ? d->rank : 0, d ? d->dtype : KIR_F32, d ? d->in_shape : NULL,
                    out_kernel))
    return -1;
  int64_t in_stride[KT_MAX_RANK], stride[KT_MAX_RANK], base = 0;
  contiguous_strides(d->rank, d->in_shape, in_stride);
  for (int k = 0; k < d->rank; k++) {
    int64_t dim = d->in_shape[k], s = d->start[k], st = d->step[k], cnt = d->out_shape[k];
    /* Every index read, start + c·step for c < cnt, must lie in [0, dim). */
    int bad = st == 0 || cnt < 1 || s < 0 || s >= dim || st > dim || st < -dim;
    int64_t last = bad ? 0 : s + (cnt - 1) * st;
    if (bad || last < 0 || last >= dim)
      return kt_fail(m, "dim %d: %lld elements from %lld by %lld do not lie in [0, %lld)", k,
                     (long long)cnt, (long long)s, (long long)st, (long long)dim);
    base += s * in_stride[k];
    stride[k] = st * in_stride[k];
  }
  return strided_read(m, name, d->dtype, d->rank, d->out_shape, stride, base, out_kernel,
                      out_groups);
}

int kt_slice_grad(kir_module *m, const char *name, const kt_slice_desc *d, kir_kernel **out_kernel,
                  int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  int64_t n = numel(d->rank, d->in_shape);
  if (d->rank < 0 || d->rank > KT_MAX_RANK || !valid_dtype(d->dtype) || n < 0 ||
      numel(d->rank, d->out_shape) < 0)
    return kt_fail(m, "rank %d, element type %d, or an empty or 2^31-element tensor (rank at "
                   "most %d, f32 or i32)", d->rank, (int)d->dtype, KT_MAX_RANK);
  for (int k = 0; k < d->rank; k++) {
    int64_t dim = d->in_shape[k], s = d->start[k], st = d->step[k], cnt = d->out_shape[k];
    int64_t last = s + (cnt - 1) * st;
    if (st == 0 || s < 0 || s >= dim || last < 0 || last >= dim)
      return kt_fail(m, "dim %d: %lld elements from %lld by %lld do not lie in [0, %lld)", k,
                     (long long)cnt, (long long)s, (long long)st, (long long)dim);
  }
  int64_t in_stride[KT_MAX_RANK], dy_stride[KT_MAX_RANK];
  contiguous_strides(d->rank, d->in_shape, in_stride);
  contiguous_strides(d->rank, d->out_shape, dy_stride);
  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int dy = kir_buffer_param(b, "dy", d->dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", d->dtype, KIR_WRITE);
  int vi = guard_1d(b, n);
  /* Per dim: the distance r from the slice's start in its direction must be a multiple of
   * |step| below count·|step|; then dy's coordinate is r / |step|. */
  kir_expr *inside = NULL, *at = kir_i32(b, 0);
  for (int k = 0; k < d->rank; k++) {
    if (d->in_shape[k] == 1) continue; /* start 0, count 1: always inside, coordinate 0 */
    kir_expr *c = kir_div(b, kir_var(b, vi), kir_i32(b, in_stride[k]));
    if (k > 0) c = kir_mod(b, c, kir_i32(b, d->in_shape[k]));
    int64_t st = d->step[k] < 0 ? -d->step[k] : d->step[k];
    kir_expr *r = d->step[k] > 0 ? kir_add(b, c, kir_i32(b, -d->start[k]))
                                 : kir_bin(b, KIR_SUB, kir_i32(b, d->start[k]), c);
    char nm[32];
    snprintf(nm, sizeof nm, "r%d", k);
    int vr = kir_var_new(b, nm, kir_t(KIR_I32));
    kir_decl(b, vr, r);
    kir_expr *ok = kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, vr), kir_i32(b, 0)),
                           kir_bin(b, KIR_LT, kir_var(b, vr), kir_i32(b, d->out_shape[k] * st)));
    /* r is not negative where the modulo is used: select it only then. */
    if (st > 1)
      ok = kir_bin(b, KIR_AND, ok,
                   kir_bin(b, KIR_EQ, kir_mod(b, kir_bin(b, KIR_MAX, kir_var(b, vr), kir_i32(b, 0)),
                                              kir_i32(b, st)), kir_i32(b, 0)));
    inside = inside ? kir_bin(b, KIR_AND, inside, ok) : ok;
    kir_expr *q = kir_div(b, kir_bin(b, KIR_MAX, kir_var(b, vr), kir_i32(b, 0)), kir_i32(b, st));
    at = kir_add(b, at, kir_mul(b, q, kir_i32(b, dy_stride[k])));
  }
  kir_expr *zero = d->dtype == KIR_F32 ? kir_f32(b, 0.0) : kir_i32(b, 0);
  if (!inside) {
    kir_store(b, y, kir_var(b, vi), kir_load(b, dy, at));
  } else {
    kir_if(b, inside);
    kir_store(b, y, kir_var(b, vi), kir_load(b, dy, at));
    kir_else(b);
    kir_store(b, y, kir_var(b, vi), zero);
    kir_end(b);
  }
  return end_1d(b, n, out_kernel, out_groups);
}

/* Splits a rank-r shape around `axis` into (outer, axis dim, inner) element counts. */
static void split_axis(int rank, const int64_t *shape, int axis, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int k = 0; k < axis; k++) *outer *= shape[k];
  for (int k = axis + 1; k < rank; k++) *inner *= shape[k];
}

int kt_concat(kir_module *m, const char *name, const kt_concat_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->rank < 1 || d->rank > KT_MAX_RANK || d->axis < 0 || d->axis >= d->rank ||
      !valid_dtype(d->dtype))
    return kt_fail(m, "rank %d, axis %d or element type %d (rank 1..%d, kir scalars)", d->rank,
                   d->axis, (int)d->dtype, KT_MAX_RANK);
  if (d->n_inputs < 1 || d->n_inputs > KT_CONCAT_MAX_INPUTS)
    return kt_fail(m, "%d inputs (1 to %d)", d->n_inputs, KT_CONCAT_MAX_INPUTS);
  int64_t n = numel(d->rank, d->shape);
  if (n < 0) return kt_fail(m, "the output has an empty dim or 2^31 elements or more");
  int64_t total = 0;
  for (int k = 0; k < d->n_inputs; k++) {
    if (d->axis_size[k] < 1)
      return kt_fail(m, "input %d is %lld long on the axis", k, (long long)d->axis_size[k]);
    total += d->axis_size[k];
  }
  if (total != d->shape[d->axis])
    return kt_fail(m, "the inputs add up to %lld on the axis, the output has %lld",
                   (long long)total, (long long)d->shape[d->axis]);
  int64_t outer, inner, a_dim = d->shape[d->axis];
  split_axis(d->rank, d->shape, d->axis, &outer, &inner);

  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int xb[KT_CONCAT_MAX_INPUTS];
  for (int k = 0; k < d->n_inputs; k++) {
    char nm[32];
    snprintf(nm, sizeof(nm), "x%d", k);
    xb[k] = kir_buffer_param(b, nm, d->dtype, KIR_READ);
  }
  int y = kir_buffer_param(b, "y", d->dtype, KIR_WRITE);
  int vi = guard_1d(b, n);
  kir_expr *in_i = bind(b, "inner", kir_mod(b, kir_var(b, vi), kir_i32(b, inner)));
  kir_expr *a = kir_div(b, kir_var(b, vi), kir_i32(b, inner));
  if (outer > 1) a = kir_mod(b, a, kir_i32(b, a_dim));
  a = bind(b, "a", a);
  kir_expr *o = outer > 1 ? bind(b, "outer", kir_div(b, kir_var(b, vi), kir_i32(b, inner * a_dim)))
                          : kir_i32(b, 0);
  int64_t off = 0;
  for (int k = 0; k < d->n_inputs; k++) {
    int last = k == d->n_inputs - 1;
    if (!last) kir_if(b, kir_bin(b, KIR_LT, a, kir_i32(b, off + d->axis_size[k])));
    /* x_k[(outer · size_k + (a - off_k)) · inner + inner_i] */
    kir_expr *row = kir_add(b, kir_mul(b, o, kir_i32(b, d->axis_size[k])),
                            kir_add(b, a, kir_i32(b, -off)));
    kir_expr *idx = kir_add(b, kir_mul(b, row, kir_i32(b, inner)), in_i);
    kir_store(b, y, kir_var(b, vi), kir_load(b, xb[k], idx));
    if (!last) kir_else(b);
    off += d->axis_size[k];
  }
  for (int k = 0; k < d->n_inputs - 1; k++) kir_end(b);
  return end_1d(b, n, out_kernel, out_groups);
}

int kt_gather(kir_module *m, const char *name, const kt_gather_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->rank < 1 || d->rank > KT_MAX_RANK || d->axis < 0 || d->axis >= d->rank ||
      !valid_dtype(d->dtype) || !valid_dtype(d->index_dtype) || numel(d->rank, d->shape) < 0)
    return kt_fail(m, "rank %d, axis %d, element types %d and %d, or an empty or 2^31-element "
                   "x (rank 1..%d, kir scalars)", d->rank, d->axis, (int)d->dtype,
                   (int)d->index_dtype, KT_MAX_RANK);
  if (d->n_indices < 1 || d->n_indices >= INDEX_LIMIT)
    return kt_fail(m, "%lld indices (1 to 2^31 - 1)", (long long)d->n_indices);
  int64_t outer, inner, a_dim = d->shape[d->axis];
  split_axis(d->rank, d->shape, d->axis, &outer, &inner);
  int64_t q_n = d->n_indices;
  if (outer > (INDEX_LIMIT - 1) / q_n || outer * q_n > (INDEX_LIMIT - 1) / inner)
    return kt_fail(m, "the output has 2^31 elements or more (32-bit indexing)");
  int64_t n = outer * q_n * inner;

  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", d->dtype, KIR_READ);
  int ib = kir_buffer_param(b, "idx", d->index_dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", d->dtype, KIR_WRITE);
  int vi = guard_1d(b, n);
  kir_expr *in_i = bind(b, "inner", kir_mod(b, kir_var(b, vi), kir_i32(b, inner)));
  kir_expr *q = kir_div(b, kir_var(b, vi), kir_i32(b, inner));
  if (outer > 1) q = kir_mod(b, q, kir_i32(b, q_n));
  q = bind(b, "q", q);
  kir_expr *o = outer > 1 ? bind(b, "outer", kir_div(b, kir_var(b, vi), kir_i32(b, inner * q_n)))
                          : kir_i32(b, 0);
  int vj = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_decl(b, vj, kir_cast(b, kir_t(KIR_I32), kir_load(b, ib, q)));
  /* j < 0 ? j + dim : j, then clamped into [0, dim - 1]. */
  kir_assign(b, vj, kir_select(b, kir_bin(b, KIR_LT, kir_var(b, vj), kir_i32(b, 0)),
                               kir_add(b, kir_var(b, vj), kir_i32(b, a_dim)), kir_var(b, vj)));
  kir_assign(b, vj, kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, kir_var(b, vj), kir_i32(b, 0)),
                            kir_i32(b, a_dim - 1)));
  kir_expr *row = kir_add(b, kir_mul(b, o, kir_i32(b, a_dim)), kir_var(b, vj));
  kir_expr *idx = kir_add(b, kir_mul(b, row, kir_i32(b, inner)), in_i);
  kir_store(b, y, kir_var(b, vi), kir_load(b, x, idx));
  return end_1d(b, n, out_kernel, out_groups);
}

int kt_gather_grad(kir_module *m, const char *name, const kt_gather_desc *d,
                   kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  int64_t n = numel(d->rank, d->shape);
  if (d->rank < 1 || d->rank > KT_MAX_RANK || d->axis < 0 || d->axis >= d->rank ||
      d->dtype != KIR_F32 || !valid_dtype(d->index_dtype) || n < 0)
    return kt_fail(m, "rank %d, axis %d, element types %d and %d, or an empty or 2^31-element "
                   "x (rank 1..%d, f32 data)", d->rank, d->axis, (int)d->dtype,
                   (int)d->index_dtype, KT_MAX_RANK);
  if (d->n_indices < 1 || d->n_indices >= INDEX_LIMIT)
    return kt_fail(m, "%lld indices (1 to 2^31 - 1)", (long long)d->n_indices);
  int64_t outer, inner, a_dim = d->shape[d->axis], q_n = d->n_indices;
  split_axis(d->rank, d->shape, d->axis, &outer, &inner);
  if (outer > (INDEX_LIMIT - 1) / q_n || outer * q_n > (INDEX_LIMIT - 1) / inner)
    return kt_fail(m, "dy has 2^31 elements or more (32-bit indexing)");

  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int dy = kir_buffer_param(b, "dy", KIR_F32, KIR_READ);
  int ib = kir_buffer_param(b, "idx", d->index_dtype, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int vi = guard_1d(b, n);
  kir_expr *in_i = bind(b, "inner", kir_mod(b, kir_var(b, vi), kir_i32(b, inner)));
  kir_expr *j = kir_div(b, kir_var(b, vi), kir_i32(b, inner));
  if (outer > 1) j = kir_mod(b, j, kir_i32(b, a_dim));
  j = bind(b, "jx", j);
  kir_expr *o = outer > 1 ? bind(b, "outer", kir_div(b, kir_var(b, vi), kir_i32(b, inner * a_dim)))
                          : kir_i32(b, 0);
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, acc, kir_f32(b, 0.0));
  int vq = kir_var_new(b, "q", kir_t(KIR_I32)), vj = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_for(b, vq, kir_i32(b, 0), kir_i32(b, q_n), kir_i32(b, 1));
  kir_decl(b, vj, kir_cast(b, kir_t(KIR_I32), kir_load(b, ib, kir_var(b, vq))));
  kir_assign(b, vj, kir_select(b, kir_bin(b, KIR_LT, kir_var(b, vj), kir_i32(b, 0)),
                               kir_add(b, kir_var(b, vj), kir_i32(b, a_dim)), kir_var(b, vj)));
  kir_assign(b, vj, kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, kir_var(b, vj), kir_i32(b, 0)),
                            kir_i32(b, a_dim - 1)));
  kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, vj), j));
  kir_expr *row = kir_add(b, kir_mul(b, o, kir_i32(b, q_n)), kir_var(b, vq));
  kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc),
                             kir_load(b, dy, kir_add(b, kir_mul(b, row, kir_i32(b, inner)), in_i))));
  kir_end(b);
  kir_end(b);
  kir_store(b, y, kir_var(b, vi), kir_var(b, acc));
  return end_1d(b, n, out_kernel, out_groups);
}

int kt_one_hot(kir_module *m, const char *name, int64_t n_labels, int64_t classes,
               kir_kernel **out_kernel, int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name) return kt_fail(m, "no module or name");
  if (n_labels < 1 || classes < 1 || n_labels > (INDEX_LIMIT - 1) / classes)
    return kt_fail(m, "%lld labels of %lld classes (at least 1 each, fewer than 2^31 elements)",
                   (long long)n_labels, (long long)classes);
  int64_t n = n_labels * classes;
  kir_builder *b = kir_kernel_begin(m, name, KT_SHAPE_LOCAL_SIZE, 1, 1);
  if (!b) return -1;
  int labels = kir_buffer_param(b, "labels", KIR_I32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int vi = guard_1d(b, n);
  kir_expr *label = kir_load(b, labels, kir_div(b, kir_var(b, vi), kir_i32(b, classes)));
  kir_expr *hit = kir_bin(b, KIR_EQ, label, kir_mod(b, kir_var(b, vi), kir_i32(b, classes)));
  kir_store(b, y, kir_var(b, vi), kir_select(b, hit, kir_f32(b, 1.0), kir_f32(b, 0.0)));
  return end_1d(b, n, out_kernel, out_groups);
}

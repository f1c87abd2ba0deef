/* onnx_fold.c — arithmetic on values known at import (shape plumbing: Shape, Gather, Concat,
 * Unsqueeze, Range, Mul/Div on shapes, ...), so that it never reaches the graph. Results are
 * new tensors in the import's arena; sizes are checked (at most 2^31 elements, 8 dims). */
#include "onnx_fold.h"

#include <math.h>
#include <string.h>

int ox_broadcast_dims(const ox_tensor *a, const ox_tensor *b, int *out_rank, int64_t *out_dims) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int k = 0; k < r; k++) {
    int64_t da = k < r - a->rank ? 1 : a->dims[k - (r - a->rank)];
    int64_t db = k < r - b->rank ? 1 : b->dims[k - (r - b->rank)];
    if (da != db && da != 1 && db != 1) return -1;
    out_dims[k] = da == 1 ? db : da;
  }
  *out_rank = r;
  return 0;
}

/* The flat index into `t` (broadcast to `rank` dims) of the output position `idx`. */
static int64_t bcast_offset(const ox_tensor *t, int rank, const int64_t *idx) {
  int64_t off = 0;
  for (int k = 0; k < t->rank; k++) {
    int64_t i = t->dims[k] == 1 ? 0 : idx[k + rank - t->rank];
    off = off * t->dims[k] + i;
  }
  return off;
}

static void next_index(int64_t *idx, const int64_t *dims, int rank) {
  for (int k = rank - 1; k >= 0; k--) {
    if (++idx[k] < dims[k]) return;
    idx[k] = 0;
  }
}

static int64_t int_div(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (a == INT64_MIN && b == -1) return INT64_MIN;
  int64_t q = a / b; /* ONNX Div on integers truncates (as C does) */
  return q;
}

const ox_tensor *ox_fold_binary(ox_ctx *c, ox_fold_op op, const ox_tensor *a, const ox_tensor *b) {
  int rank;
  int64_t dims[MLG_MAX_RANK];
  if (ox_broadcast_dims(a, b, &rank, dims) != 0) {
    ox_fail(c, "the shapes of the inputs do not broadcast");
    return NULL;
  }
  int is_cmp = op == OX_EQ || op == OX_LT || op == OX_GT || op == OX_LE || op == OX_GE;
  int is_int = a->i && b->i;
  int dtype = is_cmp ? OX_BOOL : is_int ? a->dtype : OX_FLOAT;
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, dtype, rank, dims, &f, &v);
  if (!t) {
    ox_fail(c, "the result of folding is too large");
    return NULL;
  }
  int64_t idx[MLG_MAX_RANK] = {0};
  for (int64_t e = 0; e < t->numel; e++, next_index(idx, dims, rank)) {
    int64_t oa = bcast_offset(a, rank, idx), ob = bcast_offset(b, rank, idx);
    if (is_int) {
      int64_t x = a->i[oa], y = b->i[ob], r = 0;
      switch (op) {
      case OX_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
      case OX_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
      case OX_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
      case OX_DIV: r = int_div(x, y); break;
      case OX_MAX: r = x > y ? x : y; break;
      case OX_MIN: r = x < y ? x : y; break;
      case OX_EQ: r = x == y; break;
      case OX_LT: r = x < y; break;
      case OX_GT: r = x > y; break;
      case OX_LE: r = x <= y; break;
      case OX_GE: r = x >= y; break;
      case OX_POW: r = (int64_t)pow((double)x, (double)y); break;
      }
      v[e] = r;
    } else {
      double x = ox_tensor_num(a, oa), y = ox_tensor_num(b, ob);
      float fx = (float)x, fy = (float)y, r = 0;
      switch (op) {
      case OX_ADD: r = fx + fy; break;
      case OX_SUB: r = fx - fy; break;
      case OX_MUL: r = fx * fy; break;
      case OX_DIV: r = fx / fy; break;
      case OX_MAX: r = fx > fy ? fx : fy; break;
      case OX_MIN: r = fx < fy ? fx : fy; break;
      case OX_POW: r = powf(fx, fy); break;
      case OX_EQ: v[e] = fx == fy; continue;
      case OX_LT: v[e] = fx < fy; continue;
      case OX_GT: v[e] = fx > fy; continue;
      case OX_LE: v[e] = fx <= fy; continue;
      case OX_GE: v[e] = fx >= fy; continue;
      }
      f[e] = r;
    }
  }
  return t;
}

const ox_tensor *ox_fold_where(ox_ctx *c, const ox_tensor *cond, const ox_tensor *x, const ox_tensor *y) {
  int r1, rank;
  int64_t d1[MLG_MAX_RANK], dims[MLG_MAX_RANK];
  ox_tensor tmp = {.rank = 0};
  if (ox_broadcast_dims(cond, x, &r1, d1) != 0) goto bad;
  tmp.rank = r1;
  memcpy(tmp.dims, d1, sizeof d1);
  if (ox_broadcast_dims(&tmp, y, &rank, dims) != 0) goto bad;
  if ((x->i != NULL) != (y->i != NULL)) goto bad;
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, x->dtype, rank, dims, &f, &v);
  if (!t) {
    ox_fail(c, "the result of folding is too large");
    return NULL;
  }
  int64_t idx[MLG_MAX_RANK] = {0};
  for (int64_t e = 0; e < t->numel; e++, next_index(idx, dims, rank)) {
    int take_x = ox_tensor_int(cond, bcast_offset(cond, rank, idx)) != 0;
    const ox_tensor *s = take_x ? x : y;
    int64_t o = bcast_offset(s, rank, idx);
    if (v) v[e] = s->i[o];
    else f[e] = s->f[o];
  }
  return t;
bad:
  ox_fail(c, "Where: the inputs do not broadcast or differ in dtype");
  return NULL;
}

const ox_tensor *ox_fold_cast(ox_ctx *c, const ox_tensor *x, int to) {
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, to == OX_FLOAT ? OX_FLOAT : to, x->rank, x->dims, &f, &v);
  if (!t) {
    ox_oom(c);
    return NULL;
  }
  for (int64_t e = 0; e < x->numel; e++) {
    if (f) {
      f[e] = (float)ox_tensor_num(x, e);
      continue;
    }
    int64_t r = ox_tensor_int(x, e);
    switch (to) {
    case OX_BOOL: r = x->f ? x->f[e] != 0.0f : r != 0; break;
    case OX_INT32: r = (int32_t)r; break;
    case OX_INT16: r = (int16_t)r; break;
    case OX_INT8: r = (int8_t)r; break;
    case OX_UINT8: r = (uint8_t)r; break;
    case OX_UINT16: r = (uint16_t)r; break;
    case OX_UINT32: r = (uint32_t)r; break;
    default: break;
    }
    v[e] = r;
  }
  return t;
}

/* Copies `t` reading element `src(e)` for each output element e of `shape`. */
const ox_tensor *ox_reshaped(ox_ctx *c, const ox_tensor *x, int rank, const int64_t *dims) {
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, x->dtype, rank, dims, &f, &v);
  if (!t || t->numel != x->numel) {
    ox_fail(c, "cannot reshape %lld elements", (long long)x->numel);
    return NULL;
  }
  if (f) memcpy(f, x->f, sizeof(float) * (size_t)x->numel);
  else memcpy(v, x->i, sizeof(int64_t) * (size_t)x->numel);
  return t;
}

/* C-order strides of x's dims. */
static void strides_of(const ox_tensor *x, int64_t *strides) {
  int64_t s = 1;
  for (int k = x->rank - 1; k >= 0; k--) {
    strides[k] = s;
    s *= x->dims[k];
  }
}

/* A new tensor of `dims` whose element at index idx is x's at base + sum(idx[k] * step[k]):
 * transposes and slices. */
static const ox_tensor *strided_copy(ox_ctx *c, const ox_tensor *x, const int64_t *dims,
                                     int64_t base, const int64_t *step) {
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, x->dtype, x->rank, dims, &f, &v);
  if (!t) {
    ox_oom(c);
    return NULL;
  }
  int64_t idx[MLG_MAX_RANK] = {0};
  for (int64_t e = 0; e < t->numel; e++, next_index(idx, dims, x->rank)) {
    int64_t o = base;
    for (int k = 0; k < x->rank; k++) o += idx[k] * step[k];
    if (f) f[e] = x->f[o];
    else v[e] = x->i[o];
  }
  return t;
}

const ox_tensor *ox_fold_transpose(ox_ctx *c, const ox_tensor *x, const int64_t *perm) {
  int64_t dims[MLG_MAX_RANK], strides[MLG_MAX_RANK], step[MLG_MAX_RANK];
  strides_of(x, strides);
  for (int k = 0; k < x->rank; k++) dims[k] = x->dims[perm[k]], step[k] = strides[perm[k]];
  return strided_copy(c, x, dims, 0, step);
}

const ox_tensor *ox_fold_concat(ox_ctx *c, const ox_tensor *const *in, int n, int axis) {
  int64_t dims[MLG_MAX_RANK];
  int rank = in[0]->rank;
  memcpy(dims, in[0]->dims, sizeof dims);
  dims[axis] = 0;
  for (int j = 0; j < n; j++) {
    if (in[j]->rank != rank || (in[j]->i != NULL) != (in[0]->i != NULL)) {
      ox_fail(c, "Concat: the inputs differ in rank or dtype");
      return NULL;
    }
    dims[axis] += in[j]->dims[axis];
  }
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, in[0]->dtype, rank, dims, &f, &v);
  if (!t) return NULL;
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= dims[k];
  for (int k = axis + 1; k < rank; k++) inner *= dims[k];
  int64_t e = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int j = 0; j < n; j++) {
      int64_t chunk = in[j]->dims[axis] * inner;
      for (int64_t q = 0; q < chunk; q++, e++) {
        if (f) f[e] = in[j]->f[o * chunk + q];
        else v[e] = in[j]->i[o * chunk + q];
      }
    }
  return t;
}

const ox_tensor *ox_fold_gather(ox_ctx *c, const ox_tensor *x, const ox_tensor *idx, int axis) {
  int64_t dims[MLG_MAX_RANK];
  int rank = x->rank - 1 + idx->rank;
  if (rank > MLG_MAX_RANK) {
    ox_fail(c, "Gather: the result has more than %d dims", MLG_MAX_RANK);
    return NULL;
  }
  int r = 0;
  for (int k = 0; k < axis; k++) dims[r++] = x->dims[k];
  for (int k = 0; k < idx->rank; k++) dims[r++] = idx->dims[k];
  for (int k = axis + 1; k < x->rank; k++) dims[r++] = x->dims[k];
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, x->dtype, rank, dims, &f, &v);
  if (!t) return NULL;
  int64_t outer = 1, inner = 1, n = x->dims[axis];
  for (int k = 0; k < axis; k++) outer *= x->dims[k];
  for (int k = axis + 1; k < x->rank; k++) inner *= x->dims[k];
  int64_t e = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < idx->numel; j++) {
      int64_t i = ox_tensor_int(idx, j);
      if (i < 0) i += n;
      if (i < 0 || i >= n) {
        ox_fail(c, "Gather: index %lld is out of range for a dim of %lld",
                (long long)ox_tensor_int(idx, j), (long long)n);
        return NULL;
      }
      for (int64_t q = 0; q < inner; q++, e++) {
        int64_t src = (o * n + i) * inner + q;
        if (f) f[e] = x->f[src];
        else v[e] = x->i[src];
      }
    }
  return t;
}

/* Clamps ONNX Slice bounds for one axis; returns the element count. */
int64_t ox_slice_bounds(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *out_start) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < 0 ? 0 : end > dim ? dim : end;
  } else {
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
  }
  *out_start = start;
  int64_t n = step > 0 ? (end - start + step - 1) / step : (start - end + (-step) - 1) / (-step);
  return n < 0 ? 0 : n;
}

const ox_tensor *ox_fold_slice(ox_ctx *c, const ox_tensor *x, const int64_t *starts,
                               const int64_t *steps, const int64_t *counts) {
  int64_t strides[MLG_MAX_RANK], step[MLG_MAX_RANK], base = 0;
  strides_of(x, strides);
  for (int k = 0; k < x->rank; k++) base += starts[k] * strides[k], step[k] = steps[k] * strides[k];
  return strided_copy(c, x, counts, base, step);
}

const ox_tensor *ox_fold_expand(ox_ctx *c, const ox_tensor *x, int rank, const int64_t *dims) {
  float *f;
  int64_t *v;
  ox_tensor *t = ox_new_tensor(c, x->dtype, rank, dims, &f, &v);
  if (!t) return NULL;
  int64_t idx[MLG_MAX_RANK] = {0};
  for (int64_t e = 0; e < t->numel; e++, next_index(idx, dims, rank)) {
    int64_t o = bcast_offset(x, rank, idx);
    if (f) f[e] = x->f[o];
    else v[e] = x->i[o];
  }
  return t;
}

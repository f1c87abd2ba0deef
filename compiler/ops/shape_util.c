/* shape_util.c — helpers the shape rules share: broadcasting, axes, attribute expansion. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "op_util.h"

void mlg_shape_errorf(mlg_shape_error *err, int input, int attr, const char *fmt, ...) {
  if (!err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  err->input = input;
  err->attr = attr;
}

int mlg_normalize_axis(int64_t axis, int rank) {
  if (axis < -(int64_t)rank || axis >= rank) return -1;
  return (int)(axis < 0 ? axis + rank : axis);
}

void mlg_split_axis(const mlg_type *x, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = *len = *inner = 1;
  for (int i = 0; i < x->rank; i++) *(i < axis ? outer : i == axis ? len : inner) *= x->dims[i];
}

int mlg_broadcast_types(const mlg_type *a, const mlg_type *b, mlg_type *out, mlg_shape_error *err) {
  int rank = a->rank > b->rank ? a->rank : b->rank;
  mlg_type t = { .dtype = a->dtype, .rank = rank };
  for (int i = 0; i < rank; i++) {
    int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[128], sb[128];
      mlg_shape_errorf(err, -1, -1, "cannot broadcast %s with %s (dimension %d: %lld vs %lld)",
                       mlg_type_format(a, sa, sizeof sa), mlg_type_format(b, sb, sizeof sb), i,
                       (long long)da, (long long)db);
      return -1;
    }
    t.dims[i] = da == 1 ? db : da;
  }
  *out = t;
  return 0;
}

int mlg_unify_dtypes(const mlg_type *in, int n, unsigned mask, mlg_ir_dtype *out,
                     mlg_shape_error *err) {
  int first = -1;
  mlg_ir_dtype d = MLG_F32;
  for (int i = 0; i < n; i++) {
    if (!(mask & (1u << i))) continue;
    if (first < 0) {
      first = i;
      d = in[i].dtype;
    } else if (mlg_dtype_promote(d, in[i].dtype, &d) != 0) {
      mlg_shape_errorf(err, i, -1, "input %d is %s but input %d is %s; mlg does not mix them: "
                       "convert one with cast(..., dtype=%s)", i, mlg_dtype_name(in[i].dtype),
                       first, mlg_dtype_name(in[first].dtype), mlg_dtype_name(in[first].dtype));
      return -1;
    }
  }
  *out = d;
  return 0;
}

int mlg_require_dtype(const mlg_type *t, int input, mlg_ir_dtype dtype, mlg_shape_error *err) {
  if (t->dtype == dtype) return 0;
  mlg_shape_errorf(err, input, -1, "input %d must be %s, got %s (convert it with cast(..., dtype=%s))",
                   input, mlg_dtype_name(dtype), mlg_dtype_name(t->dtype), mlg_dtype_name(dtype));
  return -1;
}

int mlg_require_f32(const mlg_type *in, int n, mlg_shape_error *err) {
  for (int i = 0; i < n; i++)
    if (mlg_require_dtype(&in[i], i, MLG_F32, err)) return -1;
  return 0;
}

int mlg_require_float(const mlg_type *in, int n, mlg_shape_error *err) {
  for (int i = 0; i < n; i++) {
    if (mlg_dtype_is_float(in[i].dtype)) continue;
    mlg_shape_errorf(err, i, -1, "input %d must be f32 or f16, got %s (convert it with "
                     "cast(..., dtype=f32))", i, mlg_dtype_name(in[i].dtype));
    return -1;
  }
  return 0;
}

int mlg_require_gemm_float(const mlg_type *in, int n, mlg_shape_error *err) {
  if (mlg_require_float(in, n, err)) return -1;
  for (int i = 1; i < n; i++)
    if (in[i].dtype != in[0].dtype) {
      mlg_shape_errorf(err, i, -1, "input %d is %s but input 0 is %s; the operands share one dtype "
                       "(convert one with cast(..., dtype=%s))", i, mlg_dtype_name(in[i].dtype),
                       mlg_dtype_name(in[0].dtype), mlg_dtype_name(in[0].dtype));
      return -1;
    }
  return 0;
}

int mlg_require_numeric(const mlg_type *in, int n, mlg_shape_error *err) {
  for (int i = 0; i < n; i++) {
    if (in[i].dtype != MLG_BOOL) continue;
    mlg_shape_errorf(err, i, -1, "input %d is bool, which has no arithmetic (convert it with "
                     "cast(..., dtype=f32), or use the logical_* ops)", i);
    return -1;
  }
  return 0;
}

int mlg_require_rank(const mlg_type *t, int input, int rank, const char *layout,
                     mlg_shape_error *err) {
  if (t->rank == rank) return 0;
  char s[128];
  mlg_shape_errorf(err, input, -1, "input %d must be %d-D%s%s, got %s", input, rank,
                   layout ? " " : "", layout ? layout : "", mlg_type_format(t, s, sizeof s));
  return -1;
}

int mlg_check_type_limits(const mlg_type *t, mlg_shape_error *err) {
  if (t->rank < 0 || t->rank > MLG_MAX_RANK) {
    mlg_shape_errorf(err, -1, -1, "result rank %d exceeds the limit of %d", t->rank, MLG_MAX_RANK);
    return -1;
  }
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 1) {
      mlg_shape_errorf(err, -1, -1, "result dimension %d is empty (%lld)", i, (long long)t->dims[i]);
      return -1;
    }
    if (t->dims[i] > MLG_DIM_LIMIT) {
      mlg_shape_errorf(err, -1, -1, "result dimension %d is too large (%lld; limit %lld)", i,
                       (long long)t->dims[i], (long long)MLG_DIM_LIMIT);
      return -1;
    }
  }
  int64_t n = mlg_type_numel(t);
  if (n < 0 || n >= MLG_NUMEL_LIMIT) {
    mlg_shape_errorf(err, -1, -1, "result has too many elements (limit 2^40)");
    return -1;
  }
  return 0;
}

int mlg_expand_ints(mlg_attr *a, int attr, const char *name, int n, int64_t lo, int64_t hi,
                    mlg_shape_error *err) {
  if (a->kind != MLG_ATTR_INTS || (a->n != 1 && a->n != n)) {
    mlg_shape_errorf(err, -1, attr, "'%s' needs 1 or %d values, got %d", name, n,
                     a->kind == MLG_ATTR_INTS ? a->n : 0);
    return -1;
  }
  for (int i = 0; i < a->n; i++) {
    if (a->ints[i] < lo || a->ints[i] > hi) {
      mlg_shape_errorf(err, -1, attr, "'%s' value %lld is out of range [%lld, %lld]", name,
                       (long long)a->ints[i], (long long)lo, (long long)hi);
      return -1;
    }
  }
  if (a->n == 1)
    for (int i = 1; i < n; i++) a->ints[i] = a->ints[0];
  a->n = n;
  return 0;
}

int mlg_expand_padding(mlg_attr *a, int attr, mlg_shape_error *err) {
  if (a->kind != MLG_ATTR_INTS || (a->n != 1 && a->n != 2 && a->n != 4)) {
    mlg_shape_errorf(err, -1, attr,
                     "'padding' needs 1, 2 ([ph, pw]) or 4 ([top, left, bottom, right]) values, got %d",
                     a->kind == MLG_ATTR_INTS ? a->n : 0);
    return -1;
  }
  for (int i = 0; i < a->n; i++) {
    if (a->ints[i] < 0 || a->ints[i] > MLG_DIM_LIMIT) {
      mlg_shape_errorf(err, -1, attr, "'padding' value %lld is out of range [0, %lld]",
                       (long long)a->ints[i], (long long)MLG_DIM_LIMIT);
      return -1;
    }
  }
  int64_t p[4];
  if (a->n == 1) {
    p[0] = p[1] = p[2] = p[3] = a->ints[0];
  } else if (a->n == 2) {
    p[0] = p[2] = a->ints[0];
    p[1] = p[3] = a->ints[1];
  } else {
    memcpy(p, a->ints, sizeof p);
  }
  memcpy(a->ints, p, sizeof p);
  a->n = 4;
  return 0;
}

int mlg_normalize_axes(mlg_attr *a, int attr, int rank, mlg_shape_error *err) {
  for (int i = 0; i < a->n; i++) {
    int ax = mlg_normalize_axis(a->ints[i], rank);
    if (ax < 0) {
      mlg_shape_errorf(err, -1, attr, "axis %lld is out of range for rank %d", (long long)a->ints[i],
                       rank);
      return -1;
    }
    a->ints[i] = ax;
  }
  for (int i = 1; i < a->n; i++) { /* insertion sort: at most 8 values */
    int64_t v = a->ints[i];
    int j = i - 1;
    while (j >= 0 && a->ints[j] > v) {
      a->ints[j + 1] = a->ints[j];
      j--;
    }
    a->ints[j + 1] = v;
  }
  for (int i = 1; i < a->n; i++) {
    if (a->ints[i] == a->ints[i - 1]) {
      mlg_shape_errorf(err, -1, attr, "axis %lld is listed twice", (long long)a->ints[i]);
      return -1;
    }
  }
  return 0;
}

int mlg_normalize_axis_attr(mlg_attr *attrs, int attr, const mlg_type *x, mlg_shape_error *err) {
  int axis = mlg_normalize_axis(attrs[attr].ints[0], x->rank);
  if (axis < 0) {
    char s[128];
    mlg_shape_errorf(err, -1, attr, "axis %lld is out of range for %s",
                     (long long)attrs[attr].ints[0], mlg_type_format(x, s, sizeof s));
    return -1;
  }
  attrs[attr].ints[0] = axis;
  return axis;
}

void mlg_cost_per_input_element(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = mlg_type_numel(&g->nodes[g->nodes[node].inputs[0]].type);
}

int mlg_require_bool(const mlg_attr *a, int attr, const char *name, mlg_shape_error *err) {
  if (a->kind == MLG_ATTR_INT && (a->ints[0] == 0 || a->ints[0] == 1)) return 0;
  mlg_shape_errorf(err, -1, attr, "'%s' must be 0 or 1", name);
  return -1;
}

/* floor((in + pads - dilation * (k - 1) - 1) / stride) + 1, or 0 when the window does not fit.
 * Every operand is at most 2^31-1, so nothing here overflows int64. */
int64_t mlg_conv_out_size(int64_t in, int64_t pad_a, int64_t pad_b, int64_t k, int64_t stride,
                          int64_t dilation) {
  int64_t span = dilation * (k - 1) + 1;
  int64_t avail = in + pad_a + pad_b;
  if (avail < span) return 0;
  return (avail - span) / stride + 1;
}

int mlg_index_same_order(const mlg_node *n, mlg_index_map *map) {
  (void)n;
  map->kind = MLG_INDEX_SAME_ORDER;
  return 0;
}

/* attrs[0..3]: stride, padding, dilation, groups (conv2d's and qlinear_conv2d's schema). */
int mlg_conv2d_shape(const mlg_type *x, const mlg_type *w, int w_in, mlg_attr *attrs,
                     mlg_type *out, mlg_shape_error *err) {
  enum { A_STRIDE, A_PADDING, A_DILATION, A_GROUPS };
  if (mlg_expand_ints(&attrs[A_STRIDE], A_STRIDE, "stride", 2, 1, MLG_DIM_LIMIT, err)) return -1;
  if (mlg_expand_padding(&attrs[A_PADDING], A_PADDING, err)) return -1;
  if (mlg_expand_ints(&attrs[A_DILATION], A_DILATION, "dilation", 2, 1, MLG_DIM_LIMIT, err))
    return -1;
  int64_t groups = attrs[A_GROUPS].ints[0];
  int64_t c = x->dims[1], o = w->dims[0];
  char s[128];
  if (groups < 1 || groups > MLG_DIM_LIMIT) {
    mlg_shape_errorf(err, -1, A_GROUPS, "'groups' must be >= 1, got %lld", (long long)groups);
    return -1;
  }
  if (c % groups != 0 || o % groups != 0) {
    mlg_shape_errorf(err, -1, A_GROUPS,
                     "groups (%lld) must divide both input channels (%lld) and output channels (%lld)",
                     (long long)groups, (long long)c, (long long)o);
    return -1;
  }
  if (w->dims[1] * groups != c) {
    mlg_shape_errorf(err, w_in, -1, "weight %s expects %lld input channels, input has %lld",
                     mlg_type_format(w, s, sizeof s), (long long)(w->dims[1] * groups),
                     (long long)c);
    return -1;
  }
  const int64_t *st = attrs[A_STRIDE].ints, *pd = attrs[A_PADDING].ints,
                *dl = attrs[A_DILATION].ints;
  int64_t oh = mlg_conv_out_size(x->dims[2], pd[0], pd[2], w->dims[2], st[0], dl[0]);
  int64_t ow = mlg_conv_out_size(x->dims[3], pd[1], pd[3], w->dims[3], st[1], dl[1]);
  if (oh < 1 || ow < 1) {
    mlg_shape_errorf(err, -1, -1,
                     "the %lldx%lld kernel (dilation [%lld, %lld]) does not fit the padded %lldx%lld input",
                     (long long)w->dims[2], (long long)w->dims[3], (long long)dl[0],
                     (long long)dl[1], (long long)(x->dims[2] + pd[0] + pd[2]),
                     (long long)(x->dims[3] + pd[1] + pd[3]));
    return -1;
  }
  *out = (mlg_type){ .dtype = MLG_F32, .rank = 4, .dims = { x->dims[0], o, oh, ow } };
  return 0;
}

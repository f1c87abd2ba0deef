/* reduce.c — sum / mean / max / min / prod over axes; the shared work-group tree reduction. */
#include "reduce.h"

#include <math.h>
#include <stdio.h>

#include "kt_util.h"

int64_t kt_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

static kir_expr *identity(kir_builder *b, kir_binop op) {
  return kir_f32(b, op == KIR_MAX   ? -INFINITY
                    : op == KIR_MIN ? INFINITY
                    : op == KIR_MUL ? 1.0
                                    : 0.0);
}

/* Subgroup path: each subgroup reduces in registers, its first invocation writes one partial
 * per subgroup, and after one barrier every subgroup folds the gl_NumSubgroups partials (a
 * strided loop, then one more subgroup reduction) so that every invocation holds the result
 * without a second broadcast barrier. Nothing assumes a subgroup size: partial subgroups (a
 * work-group that is not a multiple of it) and more partials than lanes are both handled.
 * The partials counted are max(gl_NumSubgroups, ceil(local_size / gl_SubgroupSize)): lavapipe
 * (Mesa 22.3) reports gl_NumSubgroups rounded down, 1 for 13 work-items in subgroups of 8,
 * while its second, partial subgroup does write a partial. */
static void emit_sg_reduce(kir_builder *b, kir_binop op, kir_expr *value, int scratch,
                           int local_size, int result) {
  int part = kir_var_new(b, "sg_part", kir_t(KIR_F32));
  int i = kir_var_new(b, "sg_i", kir_t(KIR_I32));
  /* Reduced by the whole subgroup first: inside the if only one invocation would be active. */
  kir_decl(b, part, kir_subgroup_reduce(b, op, value));
  kir_if(b, kir_bin(b, KIR_EQ, kir_subgroup(b, KIR_SG_INVOCATION), kir_i32(b, 0)));
  kir_local_store(b, scratch, kir_subgroup(b, KIR_SG_ID), kir_var(b, part));
  kir_end(b);
  kir_barrier(b);
  kir_assign(b, part, identity(b, op));
  kir_expr *filled = kir_div(b, kir_add(b, kir_subgroup(b, KIR_SG_SIZE), kir_i32(b, local_size - 1)),
                             kir_subgroup(b, KIR_SG_SIZE));
  kir_for(b, i, kir_subgroup(b, KIR_SG_INVOCATION),
          kir_bin(b, KIR_MAX, kir_subgroup(b, KIR_SG_COUNT), filled), kir_subgroup(b, KIR_SG_SIZE));
  kir_assign(b, part, kir_bin(b, op, kir_var(b, part), kir_local_load(b, scratch, kir_var(b, i))));
  kir_end(b);
  kir_decl(b, result, kir_subgroup_reduce(b, op, kir_var(b, part)));
}

int kt_emit_wg_reduce(kir_builder *b, kir_binop op, kir_expr *value, int scratch, int lid,
                      int local_size, int subgroups, const char *result_name) {
  int result = kir_var_new(b, result_name, kir_t(KIR_F32));
  if (result < 0) return -1;
  if (subgroups) {
    emit_sg_reduce(b, op, value, scratch, local_size, result);
  } else {
    kir_local_store(b, scratch, kir_var(b, lid), value);
    kir_barrier(b);
    for (int s = local_size / 2; s > 0; s /= 2) {
      kir_if(b, kir_bin(b, KIR_LT, kir_var(b, lid), kir_i32(b, s)));
      kir_local_store(b, scratch, kir_var(b, lid),
                      kir_bin(b, op, kir_local_load(b, scratch, kir_var(b, lid)),
                              kir_local_load(b, scratch, kir_add(b, kir_var(b, lid), kir_i32(b, s)))));
      kir_end(b);
      kir_barrier(b);
    }
    kir_decl(b, result, kir_local_load(b, scratch, kir_i32(b, 0)));
  }
  /* Everyone has read the scratch before anyone may overwrite it again. */
  kir_barrier(b);
  return kir_builder_failed(b) ? -1 : result;
}

int kt_reduce_out_shape(const kt_reduce_desc *d, int64_t out_shape[KT_MAX_RANK]) {
  int r = 0;
  for (int i = 0; i < d->rank && i < KT_MAX_RANK; i++) {
    if (!d->reduce[i])
      out_shape[r++] = d->shape[i];
    else if (d->keepdims)
      out_shape[r++] = 1;
  }
  return r;
}

/* A run of adjacent input dims of one kind, merged: extent and element stride in x. */
typedef struct dim_group {
  int64_t extent, stride;
} dim_group;

/* x[(idx / div) % ext] with the trivial cases folded away. */
static kir_expr *digit(kir_builder *b, kir_expr *idx, int64_t div, int64_t ext, int64_t total) {
  kir_expr *q = div == 1 ? idx : kir_div(b, idx, kir_i32(b, div));
  /* The leading digit never needs the modulo: idx < total = div * ext. */
  if (div * ext >= total) return q;
  return kir_mod(b, q, kir_i32(b, ext));
}

static kir_expr *scaled(kir_builder *b, kir_expr *e, int64_t stride) {
  return stride == 1 ? e : kir_mul(b, e, kir_i32(b, stride));
}

/* Offset in x of the element with linear index `idx` over the groups g[0..n) (C order). */
static kir_expr *offset_of(kir_builder *b, kir_expr *idx, const dim_group *g, int n) {
  int64_t total = 1;
  for (int i = 0; i < n; i++) total *= g[i].extent;
  kir_expr *off = NULL;
  int64_t div = total;
  for (int i = 0; i < n; i++) {
    div /= g[i].extent;
    kir_expr *t = scaled(b, digit(b, idx, div, g[i].extent, total), g[i].stride);
    off = off ? kir_add(b, off, t) : t;
  }
  return off ? off : kir_i32(b, 0);
}

/* Where x's elements come from: the buffer, or the fused prologue. */
typedef struct input_src {
  int buf;
  kt_prologue prologue;
} input_src;

static kir_expr *load_x(kir_builder *b, const input_src *src, kir_expr *index) {
  if (src->prologue.fn) return src->prologue.fn(b, index, src->prologue.user);
  return kir_load(b, src->buf, index);
}

static kir_expr *epilogue(kir_builder *b, const kt_reduce_desc *d, kir_expr *v, kir_expr *out) {
  if (!d->epilogue.fn) return v;
  kt_out_pos at = {out, NULL, NULL, NULL};
  return d->epilogue.fn(b, v, &at, d->epilogue.user);
}

static kir_binop combine_op(kt_reduce_op op) {
  switch (op) {
  case KT_RED_MAX: return KIR_MAX;
  case KT_RED_MIN: return KIR_MIN;
  case KT_RED_PROD: return KIR_MUL;
  default: return KIR_ADD;
  }
}

int kt_reduce(kir_module *m, const char *name, const kt_reduce_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->rank < 0 || d->rank > KT_MAX_RANK)
    return kt_fail(m, "rank %d (at most %d)", d->rank, KT_MAX_RANK);
  int ls = d->local_size ? d->local_size : 128;
  if (!is_pow2(ls) || ls > 1024)
    return kt_fail(m, "local size %d (a power of two, at most 1024)", ls);

  /* Merge dims: drop extent-1 dims, join neighbours of the same kind. */
  dim_group kept[KT_MAX_RANK], red[KT_MAX_RANK];
  int n_kept = 0, n_red = 0, last_kind = -1;
  int64_t stride = 1, total = 1;
  for (int i = d->rank - 1; i >= 0; i--) {
    if (d->shape[i] < 1) return kt_fail(m, "dim %d is %lld", i, (long long)d->shape[i]);
    total *= d->shape[i];
    if (total >= ((int64_t)1 << 31))
      return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  }
  /* Walk from the innermost dim outwards so strides are known; fill the groups reversed. */
  dim_group kept_r[KT_MAX_RANK], red_r[KT_MAX_RANK];
  for (int i = d->rank - 1; i >= 0; i--) {
    int64_t e = d->shape[i];
    int kind = d->reduce[i] ? 1 : 0;
    if (e > 1) {
      dim_group *arr = kind ? red_r : kept_r;
      int *n = kind ? &n_red : &n_kept;
      if (kind == last_kind)
        arr[*n - 1].extent *= e;
      else
        arr[(*n)++] = (dim_group){e, stride};
      last_kind = kind;
    }
    stride *= e;
  }
  for (int i = 0; i < n_kept; i++) kept[i] = kept_r[n_kept - 1 - i];
  for (int i = 0; i < n_red; i++) red[i] = red_r[n_red - 1 - i];
  int64_t n_out = 1, n_r = 1;
  for (int i = 0; i < n_kept; i++) n_out *= kept[i].extent;
  for (int i = 0; i < n_red; i++) n_r *= red[i].extent;

  kt_reduce_strategy st = d->strategy;
  if (st == KT_REDUCE_AUTO) {
    /* Innermost dim reduced (rows), or too few outputs to fill a device: a group per output. */
    int inner_reduced = n_red > 0 && red[n_red - 1].stride == 1;
    st = (inner_reduced || n_out < 256 || n_r >= 64 * 32) ? KT_REDUCE_WG_PER_OUTPUT
                                                           : KT_REDUCE_ITEM_PER_OUTPUT;
  }
  kir_binop cop = combine_op(d->op);
  /* Sums and products start from their identity; max and min from an element of the row. */
  int is_sum = d->op == KT_RED_SUM || d->op == KT_RED_MEAN || d->op == KT_RED_PROD;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = d->prologue.fn ? -1 : kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  input_src src = {bx, d->prologue};

  if (st == KT_REDUCE_WG_PER_OUTPUT) {
    int r = kir_var_new(b, "r", kir_t(KIR_I32));
    int sh = kir_local_array(b, "red", KIR_F32, ls);
    int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
    int base = kir_var_new(b, "base", kir_t(KIR_I32));
    kir_decl(b, lid, kir_local_id(b, 0));
    kir_decl(b, base, offset_of(b, kir_group_id(b, 0), kept, n_kept));
    if (is_sum) {
      kir_decl(b, acc, identity(b, cop));
      kir_for(b, r, kir_var(b, lid), kir_i32(b, n_r), kir_i32(b, ls));
    } else {
      /* Work-items past the end repeat the last element: harmless for max and min. */
      kir_expr *first = n_r >= ls ? kir_var(b, lid)
                                  : kir_bin(b, KIR_MIN, kir_var(b, lid), kir_i32(b, n_r - 1));
      kir_decl(b, acc, load_x(b, &src, kir_add(b, kir_var(b, base), offset_of(b, first, red, n_red))));
      kir_for(b, r, kir_add(b, kir_var(b, lid), kir_i32(b, ls)), kir_i32(b, n_r), kir_i32(b, ls));
    }
    kir_assign(b, acc, kir_bin(b, cop, kir_var(b, acc),
                               load_x(b, &src, kir_add(b, kir_var(b, base),
                                                       offset_of(b, kir_var(b, r), red, n_red)))));
    kir_end(b);
    int res = kt_emit_wg_reduce(b, cop, kir_var(b, acc), sh, lid, ls, d->subgroups, "total");
    if (res >= 0) {
      kir_expr *v = kir_var(b, res);
      if (d->op == KT_RED_MEAN) v = kir_bin(b, KIR_DIV, v, kir_f32(b, (double)n_r));
      kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lid), kir_i32(b, 0)));
      kir_store(b, by, kir_group_id(b, 0), epilogue(b, d, v, kir_group_id(b, 0)));
      kir_end(b);
    }
    out_groups[0] = n_out;
  } else {
    int o = kir_var_new(b, "o", kir_t(KIR_I32));
    int base = kir_var_new(b, "base", kir_t(KIR_I32));
    kir_decl(b, o, kir_global_id(b, 0));
    kir_if(b, kir_bin(b, KIR_LT, kir_var(b, o), kir_i32(b, n_out)));
    kir_decl(b, base, offset_of(b, kir_var(b, o), kept, n_kept));
    /* One counted loop per reduced group, outermost first: offsets by multiply-add only. */
    int ptr[KT_MAX_RANK + 1];
    ptr[0] = base;
    int loops[KT_MAX_RANK];
    if (is_sum) {
      kir_decl(b, acc, identity(b, cop));
    } else {
      kir_decl(b, acc, load_x(b, &src, kir_var(b, base)));
    }
    for (int g = 0; g < n_red; g++) {
      char nm[32];
      snprintf(nm, sizeof nm, "r%d", g);
      loops[g] = kir_var_new(b, nm, kir_t(KIR_I32));
      snprintf(nm, sizeof nm, "p%d", g + 1);
      ptr[g + 1] = kir_var_new(b, nm, kir_t(KIR_I32));
      kir_for(b, loops[g], kir_i32(b, 0), kir_i32(b, red[g].extent), kir_i32(b, 1));
      kir_decl(b, ptr[g + 1],
               kir_add(b, kir_var(b, ptr[g]), scaled(b, kir_var(b, loops[g]), red[g].stride)));
    }
    kir_assign(b, acc, kir_bin(b, cop, kir_var(b, acc), load_x(b, &src, kir_var(b, ptr[n_red]))));
    for (int g = 0; g < n_red; g++) kir_end(b);
    kir_expr *v = kir_var(b, acc);
    if (d->op == KT_RED_MEAN) v = kir_bin(b, KIR_DIV, v, kir_f32(b, (double)n_r));
    kir_store(b, by, kir_var(b, o), epilogue(b, d, v, kir_var(b, o)));
    kir_end(b);
    out_groups[0] = kt_ceil_div(n_out, ls);
  }
  return kir_kernel_end(b, out_kernel);
}

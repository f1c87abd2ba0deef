/* rowwise.c — softmax, log_softmax, layer_norm (a work-group per row) and batch_norm. */
#include "rowwise.h"

#include <math.h>

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)

static int pow2_size(int requested, int deflt) {
  int ls = requested ? requested : deflt;
  if (ls < 1 || ls > 1024 || (ls & (ls - 1))) return -1;
  return ls;
}

/* Where x's elements come from: a buffer, or the fused prologue. */
typedef struct input_src {
  int buf;
  kt_prologue prologue;
} input_src;

/* x[base + j·stride] */
static kir_expr *row_elem(kir_builder *b, const input_src *src, int base, int j, int64_t stride) {
  kir_expr *idx = kir_add(b, kir_var(b, base), kir_mul(b, kir_var(b, j), kir_i32(b, stride)));
  if (src->prologue.fn) return src->prologue.fn(b, idx, src->prologue.user);
  return kir_load(b, src->buf, idx);
}

/* Stores v (through the fused epilogue, if any) at y[idx]. */
static void store_out(kir_builder *b, int by, const kt_epilogue *e, kir_expr *v, kir_expr *idx) {
  if (e->fn) {
    int yi = kir_var_new(b, "y_idx", kir_t(KIR_I32));
    kir_decl(b, yi, idx);
    kt_out_pos at = {kir_var(b, yi), NULL, NULL, NULL};
    v = e->fn(b, v, &at, e->user);
    idx = kir_var(b, yi);
  }
  kir_store(b, by, idx, v);
}

/* How a row-wise kernel maps rows to work-items. Rows of at most KT_ROW_SERIAL_MAX elements are
 * folded serially by one work-item each (a work-group would leave most of its items idle and pay
 * for barriers: 128 items for a row of 10 cost PoCL ~20× the serial loop); longer rows get a
 * work-group each, whose items stride over the row and combine through kt_emit_wg_reduce. */
typedef struct row_map {
  int serial;     /* 1: one work-item per row */
  int ls;         /* work-group size */
  int subgroups;
  int sh;         /* the reduction's local array (work-group mode) */
  int lid;        /* variable: local id (work-group mode) */
  int row;        /* variable: this item's row */
} row_map;

/* Picks the mapping for `rows` rows of `len` elements; local_size as in the descriptors (power
 * of two, 0 = default). Returns 0, or -1 on an invalid local_size. */
static int row_map_plan(int64_t rows, int64_t len, int local_size, int subgroups, row_map *r) {
  int ls = pow2_size(local_size, 128);
  if (ls < 0) return -1;
  r->serial = len <= KT_ROW_SERIAL_MAX;
  if (r->serial && !local_size) ls = rows < 64 ? (int)rows : 64;
  r->ls = ls;
  r->subgroups = subgroups;
  return 0;
}

/* Declares the row mapping's local array and variables (after the buffers): row = the group
 * id, or the global id with items past the last row returning at once. */
static void row_map_begin(kir_builder *b, int64_t rows, row_map *r) {
  r->sh = r->serial ? -1 : kir_local_array(b, "red", KIR_F32, r->ls);
  r->lid = -1;
  if (!r->serial) {
    r->lid = kir_var_new(b, "lid", kir_t(KIR_I32));
    kir_decl(b, r->lid, kir_local_id(b, 0));
  }
  r->row = kir_var_new(b, "row", kir_t(KIR_I32));
  kir_decl(b, r->row, r->serial ? kir_global_id(b, 0) : kir_group_id(b, 0));
  if (r->serial && rows % r->ls) {
    kt_return_past(b, kir_var(b, r->row), rows);
  }
}

/* for (j = first element of this item; j < len; j += items per row) */
static void row_for(kir_builder *b, const row_map *r, int j, int64_t len) {
  kir_for(b, j, r->serial ? kir_i32(b, 0) : kir_var(b, r->lid), kir_i32(b, len),
          kir_i32(b, r->serial ? 1 : r->ls));
}

/* The row's total of the items' partial results in `var` (op: KIR_ADD or KIR_MAX): var itself
 * when one item holds the whole row; else a work-group reduction. Returns a variable, or -1. */
static int row_total(kir_builder *b, const row_map *r, kir_binop op, int var, const char *name) {
  if (r->serial) return var;
  return kt_emit_wg_reduce(b, op, kir_var(b, var), r->sh, r->lid, r->ls, r->subgroups, name);
}

/* Launch groups for `rows` rows. */
static int64_t row_groups(const row_map *r, int64_t rows) {
  return r->serial ? kt_ceil_div(rows, r->ls) : rows;
}

int kt_softmax(kir_module *m, const char *name, const kt_softmax_desc *d, kir_kernel **out_kernel,
               int64_t out_groups[3]) {
  kt_prologue no_pro = {NULL, NULL};
  kt_epilogue no_epi = {0};
  return kt_softmax_fused(m, name, d, no_pro, no_epi, out_kernel, out_groups);
}

/* Rows per work-group of a cpu_vec kernel. */
static int cpu_row_items(int64_t rows) { return rows < KT_ROW_CPU_ITEMS ? (int)rows : KT_ROW_CPU_ITEMS; }

/* A cpu_vec kernel's vector width: vw, halved while wider than the row (down to 4). */
static int cpu_row_width(int vw, int64_t L) {
  while (vw > 4 && vw > L) vw /= 2;
  return vw;
}

/* Declares the work-item's row and its first element for a cpu_vec kernel of `rows` rows of
 * L contiguous elements, `ls` rows a group; items past the last row return. */
static int cpu_row_begin(kir_builder *b, int64_t rows, int64_t L, int ls) {
  int row = kir_var_new(b, "row", kir_t(KIR_I32)), base = kir_var_new(b, "base", kir_t(KIR_I32));
  kir_decl(b, row, kir_global_id(b, 0));
  if (rows % ls) kt_return_past(b, kir_var(b, row), rows);
  kir_decl(b, base, kir_mul(b, kir_var(b, row), kir_i32(b, L)));
  return base;
}

/* Opens the loop over part `part` of a row of L elements (0: whole vectors of VW lanes, 1: the
 * scalar rest) and returns its element variable, or -1 for an empty part (nothing opened);
 * *out_width: the part's width. Close it with kir_end. */
static int cpu_row_part(kir_builder *b, int64_t L, int VW, int part, int *out_width) {
  const int64_t lv = L / VW * VW, from = part ? lv : 0, to = part ? L : lv;
  *out_width = part ? 1 : VW;
  if (from >= to) return -1;
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_for(b, j, kir_i32(b, from), kir_i32(b, to), kir_i32(b, *out_width));
  return j;
}

/* `width` elements of buffer buf from element base + j on. */
static kir_expr *row_load(kir_builder *b, int buf, int base, int j, int width) {
  kir_expr *at = kir_add(b, kir_var(b, base), kir_var(b, j));
  return width > 1 ? kir_load_vec(b, buf, at, width) : kir_load(b, buf, at);
}

/* A term of a cpu_row_fold: from x, the row's elements from base + j on (of x's width). */
typedef kir_expr *(*row_term_fn)(kir_builder *b, kir_expr *x, int base, int j, const void *user);

/* fold(op) over x[base .. base + L) of term(x) (x itself without one): VW lanes at a time into a
 * vector accumulator from `init`, its lanes folded, then the scalar rest; returns the scalar
 * variable `name`. */
static int cpu_row_fold(kir_builder *b, int bx, int base, int64_t L, int VW, kir_binop op, double init,
                        row_term_fn term, const void *user, const char *name) {
  int acc = kir_var_new(b, "acc", kir_tv(KIR_F32, VW));
  kir_decl(b, acc, kir_cast(b, kir_tv(KIR_F32, VW), kir_f32(b, init)));
  for (int part = 0; part < 2; part++) {
    if (part) {
      int total = kir_var_new(b, name, kir_t(KIR_F32));
      kir_decl(b, total, kt_lane_fold(b, acc, op));
      acc = total;
    }
    int w, j = cpu_row_part(b, L, VW, part, &w);
    if (j < 0) continue;
    kir_expr *x = row_load(b, bx, base, j, w);
    if (term) x = term(b, x, base, j, user);
    kir_assign(b, acc, kir_bin(b, op, kir_var(b, acc), x));
    kir_end(b);
  }
  return acc;
}

/* softmax's term: exp(x − shift), stored at y too where y >= 0 (the exps scaled later). */
typedef struct exp_term {
  int shift, y;
} exp_term;

static kir_expr *exp_shifted(kir_builder *b, kir_expr *x, int base, int j, const void *user) {
  const exp_term *t = user;
  int e = kir_var_new(b, "e", x->type);
  kir_decl(b, e, kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, x, kir_var(b, t->shift))));
  if (t->y >= 0) kir_store(b, t->y, kir_add(b, kir_var(b, base), kir_var(b, j)), kir_var(b, e));
  return kir_var(b, e);
}

/* The cpu_vec form of softmax (rowwise.h): one work-item per row of x's contiguous elements,
 * the maximum and the sum folded in VW-lane accumulators. Without an epilogue, softmax stores
 * exp(x − max) as it sums it and then scales y in place (its row still in cache): one exp per
 * element where recomputing took two (8192 rows of 1024 on PoCL: 3.4–4.0 → 2.5–2.6 ms). */
static int softmax_cpu(kir_module *m, const char *name, const kt_softmax_desc *d, kt_epilogue epilogue,
                       kir_kernel **out_kernel, int64_t out_groups[3]) {
  const int64_t L = d->axis_len, rows = d->outer;
  const int ls = cpu_row_items(rows), VW = cpu_row_width(d->cpu_vec, L);
  const int exp_once = !d->log && !epilogue.fn;
  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, exp_once ? KIR_READ_WRITE : KIR_WRITE);
  int base = cpu_row_begin(b, rows, L, ls);
  const int mx = cpu_row_fold(b, bx, base, L, VW, KIR_MAX, -INFINITY, NULL, NULL, "row_max");
  const exp_term et = {mx, exp_once ? by : -1};
  const int sum = cpu_row_fold(b, bx, base, L, VW, KIR_ADD, 0.0, exp_shifted, &et, "row_sum");
  int scale = kir_var_new(b, d->log ? "log_sum" : "inv_sum", kir_t(KIR_F32));
  kir_decl(b, scale, d->log ? kir_un(b, KIR_LOG, kir_var(b, sum))
                            : kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, sum)));
  /* In vectors without an epilogue (which takes scalars). */
  const int vw_out = epilogue.fn ? 1 : VW;
  for (int part = 0; part < 2; part++) {
    int w, j = cpu_row_part(b, L, vw_out, part, &w);
    if (j < 0) continue;
    kir_expr *v;
    if (exp_once) {
      v = kir_mul(b, row_load(b, by, base, j, w), kir_var(b, scale));
    } else {
      kir_expr *shifted = kir_bin(b, KIR_SUB, row_load(b, bx, base, j, w), kir_var(b, mx));
      v = d->log ? kir_bin(b, KIR_SUB, shifted, kir_var(b, scale))
                 : kir_bin(b, KIR_MUL, kir_un(b, KIR_EXP, shifted), kir_var(b, scale));
    }
    store_out(b, by, &epilogue, v, kir_add(b, kir_var(b, base), kir_var(b, j)));
    kir_end(b);
  }
  out_groups[0] = kt_ceil_div(rows, ls);
  return kir_kernel_end(b, out_kernel);
}

int kt_softmax_fused(kir_module *m, const char *name, const kt_softmax_desc *d,
                     kt_prologue prologue, kt_epilogue epilogue, kir_kernel **out_kernel,
                     int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->outer < 1 || d->axis_len < 1 || d->inner < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (d->outer * d->axis_len * d->inner >= LIMIT32)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  if (d->cpu_vec && d->cpu_vec != 4 && d->cpu_vec != 8 && d->cpu_vec != 16)
    return kt_fail(m, "CPU vector width %d (0, 4, 8 or 16)", d->cpu_vec);
  if (d->cpu_vec && !prologue.fn && d->inner == 1)
    return softmax_cpu(m, name, d, epilogue, out_kernel, out_groups);
  const int64_t L = d->axis_len, inner = d->inner, rows = d->outer * d->inner;
  row_map r;
  if (row_map_plan(rows, L, d->local_size, d->subgroups, &r))
    return kt_fail(m, "local size %d (a power of two, at most 1024)", d->local_size);

  kir_builder *b = kir_kernel_begin(m, name, r.ls, 1, 1);
  if (!b) return -1;
  input_src bx = {prologue.fn ? -1 : kir_buffer_param(b, "x", KIR_F32, KIR_READ), prologue};
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  row_map_begin(b, rows, &r);
  int base = kir_var_new(b, "base", kir_t(KIR_I32));
  kir_expr *row = kir_var(b, r.row);
  /* base = (row / inner)·L·inner + row % inner */
  kir_expr *bexpr = inner == 1 ? kir_mul(b, row, kir_i32(b, L))
                               : kir_add(b, kir_mul(b, kir_div(b, row, kir_i32(b, inner)), kir_i32(b, L * inner)),
                                         kir_mod(b, kir_var(b, r.row), kir_i32(b, inner)));
  kir_decl(b, base, bexpr);

  int mx = kir_var_new(b, "mx", kir_t(KIR_F32));
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_decl(b, mx, kir_f32(b, -INFINITY));
  row_for(b, &r, j, L);
  kir_assign(b, mx, kir_bin(b, KIR_MAX, kir_var(b, mx), row_elem(b, &bx, base, j, inner)));
  kir_end(b);
  int rmax = row_total(b, &r, KIR_MAX, mx, "row_max");
  if (rmax < 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }

  int sum = kir_var_new(b, "sum", kir_t(KIR_F32));
  int j2 = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_decl(b, sum, kir_f32(b, 0.0));
  row_for(b, &r, j2, L);
  kir_assign(b, sum, kir_add(b, kir_var(b, sum),
                             kir_un(b, KIR_EXP, kir_bin(b, KIR_SUB, row_elem(b, &bx, base, j2, inner),
                                                        kir_var(b, rmax)))));
  kir_end(b);
  int rsum = row_total(b, &r, KIR_ADD, sum, "row_sum");
  if (rsum < 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }

  int scale = kir_var_new(b, d->log ? "log_sum" : "inv_sum", kir_t(KIR_F32));
  kir_decl(b, scale, d->log ? kir_un(b, KIR_LOG, kir_var(b, rsum))
                            : kir_bin(b, KIR_DIV, kir_f32(b, 1.0), kir_var(b, rsum)));
  int j3 = kir_var_new(b, "j", kir_t(KIR_I32));
  row_for(b, &r, j3, L);
  kir_expr *shifted = kir_bin(b, KIR_SUB, row_elem(b, &bx, base, j3, inner), kir_var(b, rmax));
  kir_expr *v = d->log ? kir_bin(b, KIR_SUB, shifted, kir_var(b, scale))
                       : kir_bin(b, KIR_MUL, kir_un(b, KIR_EXP, shifted), kir_var(b, scale));
  store_out(b, by, &epilogue, v,
            kir_add(b, kir_var(b, base), kir_mul(b, kir_var(b, j3), kir_i32(b, inner))));
  kir_end(b);

  out_groups[0] = row_groups(&r, rows);
  return kir_kernel_end(b, out_kernel);
}

int kt_layer_norm(kir_module *m, const char *name, const kt_layer_norm_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]) {
  kt_prologue no_pro = {NULL, NULL};
  kt_epilogue no_epi = {0};
  return kt_layer_norm_fused(m, name, d, no_pro, no_epi, out_kernel, out_groups);
}

/* layer_norm's term for the variance: (x − mean)² with the mean variable *user, its deviation a
 * variable declared where it is called; x² for -1 (rms_norm). */
static kir_expr *squared(kir_builder *b, kir_expr *x, int base, int j, const void *user) {
  (void)base, (void)j;
  const int mean = *(const int *)user;
  int dev = kir_var_new(b, "dev", x->type);
  kir_decl(b, dev, mean >= 0 ? kir_bin(b, KIR_SUB, x, kir_var(b, mean)) : x);
  return kir_mul(b, kir_var(b, dev), kir_var(b, dev));
}

/* The cpu_vec form (rowwise.h): one work-item per row of x's contiguous elements. */
static int layer_norm_cpu(kir_module *m, const char *name, const kt_layer_norm_desc *d, kt_epilogue epilogue,
                          kir_kernel **out_kernel, int64_t out_groups[3]) {
  const int64_t L = d->norm_size, rows = d->rows;
  const int ls = cpu_row_items(rows), VW = cpu_row_width(d->cpu_vec, L);
  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bw = d->has_weight ? kir_buffer_param(b, "weight", KIR_F32, KIR_READ) : -1;
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int base = cpu_row_begin(b, rows, L, ls);
  int mean = -1;
  if (!d->rms) {
    int sum = cpu_row_fold(b, bx, base, L, VW, KIR_ADD, 0.0, NULL, NULL, "row_sum");
    mean = kir_var_new(b, "mean", kir_t(KIR_F32));
    kir_decl(b, mean, kir_bin(b, KIR_DIV, kir_var(b, sum), kir_f32(b, (double)L)));
  }
  int sq = cpu_row_fold(b, bx, base, L, VW, KIR_ADD, 0.0, squared, &mean, "row_sq");
  int inv = kir_var_new(b, "inv_std", kir_t(KIR_F32));
  kir_decl(b, inv, kir_bin(b, KIR_DIV, kir_f32(b, 1.0),
                           kir_un(b, KIR_SQRT, kir_add(b, kir_bin(b, KIR_DIV, kir_var(b, sq), kir_f32(b, (double)L)),
                                                       kir_f32(b, d->eps)))));
  /* y = (x − mean)·inv_std·w + b: in vectors without an epilogue (which takes scalars). */
  for (int part = 0; part < 2; part++) {
    int w, j = cpu_row_part(b, L, epilogue.fn ? 1 : VW, part, &w);
    if (j < 0) continue;
    kir_expr *x = row_load(b, bx, base, j, w);
    kir_expr *v = kir_mul(b, mean >= 0 ? kir_bin(b, KIR_SUB, x, kir_var(b, mean)) : x, kir_var(b, inv));
    if (bw >= 0) v = kir_mul(b, v, w > 1 ? kir_load_vec(b, bw, kir_var(b, j), w) : kir_load(b, bw, kir_var(b, j)));
    if (bb >= 0) v = kir_add(b, v, w > 1 ? kir_load_vec(b, bb, kir_var(b, j), w) : kir_load(b, bb, kir_var(b, j)));
    store_out(b, by, &epilogue, v, kir_add(b, kir_var(b, base), kir_var(b, j)));
    kir_end(b);
  }
  out_groups[0] = kt_ceil_div(rows, ls);
  return kir_kernel_end(b, out_kernel);
}

int kt_layer_norm_fused(kir_module *m, const char *name, const kt_layer_norm_desc *d,
                        kt_prologue prologue, kt_epilogue epilogue, kir_kernel **out_kernel,
                        int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->rows < 1 || d->norm_size < 1) return kt_fail(m, "every dim must be at least 1");
  if (d->rows * d->norm_size >= LIMIT32)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  if (!(d->eps >= 0.0)) return kt_fail(m, "eps (%g) must be >= 0", d->eps);
  const int64_t L = d->norm_size;
  if (d->groups < 0 || (d->groups > 0 && (d->spatial < 1 || L % d->spatial != 0 ||
                                          d->rows % d->groups != 0)))
    return kt_fail(m, "%lld groups of %lld rows with %lld elements per channel in rows of %lld",
                   (long long)d->groups, (long long)d->rows, (long long)d->spatial, (long long)L);
  if (d->cpu_vec && d->cpu_vec != 4 && d->cpu_vec != 8 && d->cpu_vec != 16)
    return kt_fail(m, "CPU vector width %d (0, 4, 8 or 16)", d->cpu_vec);
  if (d->cpu_vec && !prologue.fn && d->groups == 0)
    return layer_norm_cpu(m, name, d, epilogue, out_kernel, out_groups);
  row_map r;
  if (row_map_plan(d->rows, L, d->local_size, d->subgroups, &r))
    return kt_fail(m, "local size %d (a power of two, at most 1024)", d->local_size);

  kir_builder *b = kir_kernel_begin(m, name, r.ls, 1, 1);
  if (!b) return -1;
  input_src bx = {prologue.fn ? -1 : kir_buffer_param(b, "x", KIR_F32, KIR_READ), prologue};
  int bw = d->has_weight ? kir_buffer_param(b, "weight", KIR_F32, KIR_READ) : -1;
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  row_map_begin(b, d->rows, &r);
  int base = kir_var_new(b, "base", kir_t(KIR_I32));
  kir_decl(b, base, kir_mul(b, kir_var(b, r.row), kir_i32(b, L)));

  /* mean = Σx / L, then Σ(x − mean)²; rms_norm's statistic is Σx² alone. */
  kir_expr *mean = NULL;
  if (!d->rms) {
    int s1 = kir_var_new(b, "sum", kir_t(KIR_F32));
    int j = kir_var_new(b, "j", kir_t(KIR_I32));
    kir_decl(b, s1, kir_f32(b, 0.0));
    row_for(b, &r, j, L);
    kir_assign(b, s1, kir_add(b, kir_var(b, s1), row_elem(b, &bx, base, j, 1)));
    kir_end(b);
    int tot = row_total(b, &r, KIR_ADD, s1, "row_sum");
    if (tot < 0) {
      kir_kernel_end(b, NULL);
      return kt_fail(m, "out of memory");
    }
    int vmean = kir_var_new(b, "mean", kir_t(KIR_F32));
    kir_decl(b, vmean, kir_bin(b, KIR_DIV, kir_var(b, tot), kir_f32(b, (double)L)));
    mean = kir_var(b, vmean);
  }

  int s2 = kir_var_new(b, "sq", kir_t(KIR_F32));
  int j2 = kir_var_new(b, "j", kir_t(KIR_I32));
  int dv = kir_var_new(b, "dev", kir_t(KIR_F32));
  kir_decl(b, s2, kir_f32(b, 0.0));
  row_for(b, &r, j2, L);
  kir_expr *x2 = row_elem(b, &bx, base, j2, 1);
  kir_decl(b, dv, mean ? kir_bin(b, KIR_SUB, x2, mean) : x2);
  kir_assign(b, s2, kir_add(b, kir_var(b, s2), kir_mul(b, kir_var(b, dv), kir_var(b, dv))));
  kir_end(b);
  int sq = row_total(b, &r, KIR_ADD, s2, "row_sq");
  if (sq < 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "out of memory");
  }
  int inv = kir_var_new(b, "inv_std", kir_t(KIR_F32));
  kir_decl(b, inv, kir_bin(b, KIR_DIV, kir_f32(b, 1.0),
                           kir_un(b, KIR_SQRT, kir_add(b, kir_bin(b, KIR_DIV, kir_var(b, sq), kir_f32(b, (double)L)),
                                                       kir_f32(b, d->eps)))));

  int j3 = kir_var_new(b, "j", kir_t(KIR_I32));
  row_for(b, &r, j3, L);
  kir_expr *x3 = row_elem(b, &bx, base, j3, 1);
  kir_expr *v = kir_mul(b, mean ? kir_bin(b, KIR_SUB, x3, mean) : x3, kir_var(b, inv));
  /* The weight and bias of element j: its own, or its channel's (group_norm). */
  kir_expr *wi = kir_var(b, j3);
  if (d->groups > 0 && (bw >= 0 || bb >= 0)) {
    int64_t cpg = L / d->spatial;
    kir_expr *g = d->rows > d->groups ? kir_mod(b, kir_var(b, r.row), kir_i32(b, d->groups))
                                      : kir_var(b, r.row);
    int vc = kir_var_new(b, "ch", kir_t(KIR_I32));
    kir_decl(b, vc, kir_add(b, kir_mul(b, g, kir_i32(b, cpg)),
                            kir_div(b, kir_var(b, j3), kir_i32(b, d->spatial))));
    wi = kir_var(b, vc);
  }
  if (bw >= 0) v = kir_mul(b, v, kir_load(b, bw, wi));
  if (bb >= 0) v = kir_add(b, v, kir_load(b, bb, wi));
  store_out(b, by, &epilogue, v, kir_add(b, kir_var(b, base), kir_var(b, j3)));
  kir_end(b);

  out_groups[0] = row_groups(&r, d->rows);
  return kir_kernel_end(b, out_kernel);
}

int kt_batch_norm(kir_module *m, const char *name, const kt_batch_norm_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (d->n < 1 || d->c < 1 || d->hw < 1) return kt_fail(m, "every dim must be at least 1");
  if (d->n * d->c * d->hw >= LIMIT32)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  if (!(d->eps >= 0.0)) return kt_fail(m, "eps (%g) must be >= 0", d->eps);
  int ls = d->local_size ? d->local_size : 256;
  if (ls < 1 || ls > 1024) return kt_fail(m, "local size %d (1 to 1024)", ls);
  const int64_t total = d->n * d->c * d->hw;

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bw = d->has_weight ? kir_buffer_param(b, "weight", KIR_F32, KIR_READ) : -1;
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int bm = kir_buffer_param(b, "mean", KIR_F32, KIR_READ);
  int bv = kir_buffer_param(b, "var", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  int c = kir_var_new(b, "c", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  int partial = total % ls != 0;
  if (partial) kir_if(b, kir_bin(b, KIR_LT, kir_var(b, i), kir_i32(b, total)));
  kir_expr *ce = kir_div(b, kir_var(b, i), kir_i32(b, d->hw));
  if (d->n > 1) ce = kir_mod(b, ce, kir_i32(b, d->c));
  kir_decl(b, c, ce);
  kir_expr *v = kir_bin(b, KIR_DIV, kir_bin(b, KIR_SUB, kir_load(b, bx, kir_var(b, i)), kir_load(b, bm, kir_var(b, c))),
                        kir_un(b, KIR_SQRT, kir_add(b, kir_load(b, bv, kir_var(b, c)), kir_f32(b, d->eps))));
  if (bw >= 0) v = kir_mul(b, v, kir_load(b, bw, kir_var(b, c)));
  if (bb >= 0) v = kir_add(b, v, kir_load(b, bb, kir_var(b, c)));
  kir_store(b, by, kir_var(b, i), v);
  if (partial) kir_end(b);

  out_groups[0] = kt_ceil_div(total, ls);
  return kir_kernel_end(b, out_kernel);
}

/* cumsum.c — cumulative sums along an axis, serial or a work-group per line (cumsum.h). */
#include "cumsum.h"

#include "kt_util.h"
#include "reduce.h"

#define INDEX_LIMIT INT64_C(2147483647)

typedef struct scan_ctx {
  const kt_cumsum_desc *d;
  int x, y;                        /* buffers (x -1 with a prologue) */
  int base;                        /* variable: the line's first element */
} scan_ctx;

/* Element index of scan position k (a variable or constant expression) of the line. */
static kir_expr *elem(kir_builder *b, const scan_ctx *s, kir_expr *k) {
  const kt_cumsum_desc *d = s->d;
  if (d->reverse) k = kir_bin(b, KIR_SUB, kir_i32(b, d->len - 1), k);
  return kir_add(b, kir_var(b, s->base), kt_scaled(b, k, d->inner));
}

static kir_expr *load_x(kir_builder *b, const scan_ctx *s, kir_expr *index) {
  if (s->d->prologue.fn) return s->d->prologue.fn(b, index, s->d->prologue.user);
  return kir_load(b, s->x, index);
}

static void store_y(kir_builder *b, const scan_ctx *s, kir_expr *index, kir_expr *v) {
  const kt_epilogue *e = &s->d->epilogue;
  if (e->fn) {
    kt_out_pos at = {index, NULL, NULL, NULL};
    v = e->fn(b, v, &at, e->user);
  }
  kir_store(b, s->y, index, v);
}

/* for (k = begin; k < end; k++) { v = x[k]; exclusive ? (store acc, acc += v) : (acc += v,
 * store acc) } */
static void scan_run(kir_builder *b, const scan_ctx *s, int acc, kir_expr *begin, kir_expr *end) {
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  int at = kir_var_new(b, "at", kir_t(KIR_I32));
  int v = kir_var_new(b, "v", kir_t(KIR_F32));
  kir_for(b, k, begin, end, kir_i32(b, 1));
  kir_decl(b, at, elem(b, s, kir_var(b, k)));
  kir_decl(b, v, load_x(b, s, kir_var(b, at)));
  if (s->d->exclusive) store_y(b, s, kir_var(b, at), kir_var(b, acc));
  kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc), kir_var(b, v)));
  if (!s->d->exclusive) store_y(b, s, kir_var(b, at), kir_var(b, acc));
  kir_end(b);
}

/* base = (line / inner)·len·inner + line % inner */
static void decl_base(kir_builder *b, scan_ctx *s, kir_expr *line) {
  const kt_cumsum_desc *d = s->d;
  s->base = kir_var_new(b, "base", kir_t(KIR_I32));
  kir_expr *e = d->inner == 1 ? kir_mul(b, line, kir_i32(b, d->len))
                              : kir_add(b, kir_mul(b, kir_div(b, line, kir_i32(b, d->inner)),
                                                   kir_i32(b, d->len * d->inner)),
                                        kir_mod(b, line, kir_i32(b, d->inner)));
  kir_decl(b, s->base, e);
}

int kt_cumsum(kir_module *m, const char *name, const kt_cumsum_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  out_groups[0] = out_groups[1] = out_groups[2] = 1;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->outer < 1 || d->len < 1 || d->inner < 1) return kt_fail(m, "every dim must be at least 1");
  if (d->outer * d->len * d->inner >= INDEX_LIMIT)
    return kt_fail(m, "x has 2^31 elements or more (32-bit indexing)");
  int64_t lines = d->outer * d->inner;
  int wg = d->len > KT_SCAN_SERIAL_MAX && lines < KT_SCAN_WG_LINES;
  int ls = wg ? (d->local_size ? d->local_size : 128) : (lines < 64 ? (int)lines : 64);
  if (wg && (ls < 2 || ls > 1024 || (ls & (ls - 1))))
    return kt_fail(m, "local size %d (a power of two, 2 to 1024)", ls);

  kir_builder *b = kir_kernel_begin(m, name, ls, 1, 1);
  if (!b) return -1;
  scan_ctx s = {d, d->prologue.fn ? -1 : kir_buffer_param(b, "x", KIR_F32, KIR_READ),
                kir_buffer_param(b, "y", KIR_F32, KIR_WRITE), -1};
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  if (!wg) {
    int line = kir_var_new(b, "line", kir_t(KIR_I32));
    kir_decl(b, line, kir_global_id(b, 0));
    if (lines % ls) {
      kt_return_past(b, kir_var(b, line), lines);
    }
    decl_base(b, &s, kir_var(b, line));
    kir_decl(b, acc, kir_f32(b, 0.0));
    scan_run(b, &s, acc, kir_i32(b, 0), kir_i32(b, d->len));
    out_groups[0] = kt_ceil_div(lines, ls);
    return kir_kernel_end(b, out_kernel);
  }
  /* A work-group per line: chunk sums, their scan in local memory, then each chunk again. */
  int64_t chunk = kt_ceil_div(d->len, ls);
  int sums = kir_local_array(b, "sums", KIR_F32, ls);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int first = kir_var_new(b, "first", kir_t(KIR_I32));
  int last = kir_var_new(b, "last", kir_t(KIR_I32));
  int part = kir_var_new(b, "part", kir_t(KIR_F32));
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  decl_base(b, &s, kir_group_id(b, 0));
  kir_decl(b, first, kir_mul(b, kir_var(b, lid), kir_i32(b, chunk)));
  kir_decl(b, last, kir_bin(b, KIR_MIN, kir_add(b, kir_var(b, first), kir_i32(b, chunk)),
                            kir_i32(b, d->len)));
  kir_decl(b, part, kir_f32(b, 0.0));
  kir_for(b, k, kir_var(b, first), kir_var(b, last), kir_i32(b, 1));
  kir_assign(b, part, kir_bin(b, KIR_ADD, kir_var(b, part), load_x(b, &s, elem(b, &s, kir_var(b, k)))));
  kir_end(b);
  kir_local_store(b, sums, kir_var(b, lid), kir_var(b, part));
  kir_barrier(b);
  /* Inclusive scan of the ls chunk sums (Hillis–Steele): read, wait, add, wait. */
  int add = kir_var_new(b, "add", kir_t(KIR_F32));
  kir_decl(b, add, kir_f32(b, 0.0));
  for (int off = 1; off < ls; off *= 2) {
    if (off > 1) kir_assign(b, add, kir_f32(b, 0.0));
    kir_if(b, kir_bin(b, KIR_GE, kir_var(b, lid), kir_i32(b, off)));
    kir_assign(b, add, kir_local_load(b, sums, kir_add(b, kir_var(b, lid), kir_i32(b, -off))));
    kir_end(b);
    kir_barrier(b);
    kir_local_store(b, sums, kir_var(b, lid),
                    kir_bin(b, KIR_ADD, kir_local_load(b, sums, kir_var(b, lid)), kir_var(b, add)));
    kir_barrier(b);
  }
  /* This chunk starts from the sum of the chunks before it. */
  kir_decl(b, acc, kir_f32(b, 0.0));
  kir_if(b, kir_bin(b, KIR_GT, kir_var(b, lid), kir_i32(b, 0)));
  kir_assign(b, acc, kir_local_load(b, sums, kir_add(b, kir_var(b, lid), kir_i32(b, -1))));
  kir_end(b);
  scan_run(b, &s, acc, kir_var(b, first), kir_var(b, last));
  out_groups[0] = lines;
  return kir_kernel_end(b, out_kernel);
}

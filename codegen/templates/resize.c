/* resize.c — nearest and bilinear resizing of NCHW images (resize.h). */
#include "resize.h"

#include "elementwise.h"
#include "kt_util.h"

#define INDEX_LIMIT INT64_C(2147483647)

typedef struct resize_state {
  const kt_resize_desc *d;
} resize_state;

/* A new I32 variable holding e. */
static kir_expr *var_i(kir_builder *b, const char *name, kir_expr *e) {
  int v = kir_var_new(b, name, kir_t(KIR_I32));
  kir_decl(b, v, e);
  return kir_var(b, v);
}

static kir_expr *var_f(kir_builder *b, const char *name, kir_expr *e) {
  int v = kir_var_new(b, name, kir_t(KIR_F32));
  kir_decl(b, v, e);
  return kir_var(b, v);
}

/* The nearest source coordinate of output coordinate o along an axis of `in` → `out`. */
static kir_expr *nearest_src(kir_builder *b, kir_expr *o, int64_t in, int64_t out, float scale) {
  if (out == in) return o;
  if (out == 2 * in) return kir_div(b, o, kir_i32(b, 2));
  kir_expr *f = kir_un(b, KIR_FLOOR, kir_bin(b, KIR_MUL, kir_cast(b, kir_t(KIR_F32), o),
                                             kir_f32(b, scale)));
  return kir_bin(b, KIR_MIN, kir_cast(b, kir_t(KIR_I32), f), kir_i32(b, in - 1));
}

/* Linear interpolation along an axis: the first source index, its step to the second (0 or
 * 1) and the second one's weight. */
static void linear_src(kir_builder *b, kir_expr *o, int64_t in, float scale, int align,
                       const char *axis, kir_expr **i0, kir_expr **step, kir_expr **lambda) {
  char nm[16];
  kir_expr *of = kir_cast(b, kir_t(KIR_F32), o);
  kir_expr *s = align ? kir_bin(b, KIR_MUL, kir_f32(b, scale), of)
                      : kir_bin(b, KIR_SUB, kir_bin(b, KIR_MUL, kir_f32(b, scale),
                                                    kir_bin(b, KIR_ADD, of, kir_f32(b, 0.5))),
                                kir_f32(b, 0.5));
  if (!align) s = kir_bin(b, KIR_MAX, s, kir_f32(b, 0.0));
  snprintf(nm, sizeof nm, "src_%s", axis);
  s = var_f(b, nm, s);
  snprintf(nm, sizeof nm, "%s0", axis);
  *i0 = var_i(b, nm, kir_bin(b, KIR_MIN, kir_cast(b, kir_t(KIR_I32), kir_un(b, KIR_FLOOR, s)),
                             kir_i32(b, in - 1)));
  *step = kir_select(b, kir_bin(b, KIR_LT, *i0, kir_i32(b, in - 1)), kir_i32(b, 1), kir_i32(b, 0));
  snprintf(nm, sizeof nm, "l%s", axis);
  kir_expr *l = kir_bin(b, KIR_SUB, s, kir_cast(b, kir_t(KIR_F32), *i0));
  *lambda = var_f(b, nm, kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, l, kir_f32(b, 0.0)),
                                 kir_f32(b, 1.0)));
}

static kir_expr *resize_body(kir_builder *b, kir_expr *index, void *user) {
  const kt_resize_desc *d = ((resize_state *)user)->d;
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  kir_expr *ox = var_i(b, "ox", kir_mod(b, index, kir_i32(b, d->out_w)));
  kir_expr *oy = kir_div(b, index, kir_i32(b, d->out_w));
  if (d->n * d->c > 1) oy = kir_mod(b, oy, kir_i32(b, d->out_h));
  oy = var_i(b, "oy", oy);
  kir_expr *plane = kir_i32(b, 0);
  if (d->n * d->c > 1)
    plane = var_i(b, "plane", kir_mul(b, kir_div(b, index, kir_i32(b, d->out_h * d->out_w)),
                                      kir_i32(b, d->h * d->w)));
  if (d->mode == KT_RESIZE_NEAREST) {
    kir_expr *sy = nearest_src(b, oy, d->h, d->out_h, d->scale_h);
    kir_expr *sx = nearest_src(b, ox, d->w, d->out_w, d->scale_w);
    return kir_load(b, x, kir_add(b, plane, kir_add(b, kt_scaled(b, sy, d->w), sx)));
  }
  kir_expr *y0, *dy, *ly, *x0, *dx, *lx;
  linear_src(b, oy, d->h, d->scale_h, d->align_corners, "h", &y0, &dy, &ly);
  linear_src(b, ox, d->w, d->scale_w, d->align_corners, "w", &x0, &dx, &lx);
  kir_expr *r0 = var_i(b, "r0", kir_add(b, plane, kt_scaled(b, y0, d->w)));
  kir_expr *r1 = var_i(b, "r1", kir_add(b, r0, kt_scaled(b, dy, d->w)));
  kir_expr *x1 = var_i(b, "x1", kir_add(b, x0, dx));
  kir_expr *one_lx = kir_bin(b, KIR_SUB, kir_f32(b, 1.0), lx);
  kir_expr *top = kir_bin(b, KIR_ADD, kir_bin(b, KIR_MUL, one_lx, kir_load(b, x, kir_add(b, r0, x0))),
                          kir_bin(b, KIR_MUL, lx, kir_load(b, x, kir_add(b, r0, x1))));
  kir_expr *bot = kir_bin(b, KIR_ADD, kir_bin(b, KIR_MUL, one_lx, kir_load(b, x, kir_add(b, r1, x0))),
                          kir_bin(b, KIR_MUL, lx, kir_load(b, x, kir_add(b, r1, x1))));
  return kir_bin(b, KIR_ADD, kir_bin(b, KIR_MUL, kir_bin(b, KIR_SUB, kir_f32(b, 1.0), ly), top),
                 kir_bin(b, KIR_MUL, ly, bot));
}

int kt_resize(kir_module *m, const char *name, const kt_resize_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]) {
  if (out_kernel) *out_kernel = NULL;
  if (!m || !name || !d) return kt_fail(m, "no module, name or descriptor");
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->out_h < 1 || d->out_w < 1)
    return kt_fail(m, "every dim must be at least 1");
  if (d->n * d->c * d->h * d->w >= INDEX_LIMIT || d->n * d->c * d->out_h * d->out_w >= INDEX_LIMIT)
    return kt_fail(m, "a tensor has 2^31 elements or more (32-bit indexing)");
  if (d->mode != KT_RESIZE_NEAREST && d->mode != KT_RESIZE_LINEAR)
    return kt_fail(m, "mode %d (nearest or linear)", (int)d->mode);
  if (!(d->scale_h >= 0.0f) || !(d->scale_w >= 0.0f))
    return kt_fail(m, "scales (%g, %g) must be >= 0", (double)d->scale_h, (double)d->scale_w);
  resize_state st = {d};
  return kt_elementwise_body(m, name, d->n * d->c * d->out_h * d->out_w, KIR_F32, resize_body,
                             &st, 0, out_kernel, out_groups);
}

/* conv2d_dw.c — depthwise convolution for CPUs (PoCL): each channel its own filter, the output
 * row's pixels as vector lanes (conv2d.h).
 *
 * The direct kernel of conv2d.c runs a work-item per output pixel with its window's bounds
 * checked per tap; PoCL does not vectorize that, and a depthwise layer (one input channel per
 * output, 9 taps) ran at 2 GFLOP/s: MobileNet's expand-depthwise-project block
 * (tests/onnx/mobilenet, 96 channels of 14 × 14) spent 166 of its 196 µs there (2026-12-05).
 * Here the input is first copied with its zero border, each padded row split into stride_w
 * phases (its columns ≡ f mod stride_w, one after the other) with a vector's slack of zeros
 * after each (kt_conv2d_dw_pad), so that the taps of `vec` consecutive outputs are `vec`
 * consecutive floats of one phase of one row: one vector load each, no bounds, at any stride. */
#include "conv2d.h"

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_VECS 8          /* output vectors per work-item */
#define ITEMS_PER_GROUP 8
#define COPY_LOCAL 64

int kt_conv2d_dw_plan_for(const kt_conv2d_desc *in, int max_vec, kt_conv2d_cpu_plan *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  *out = (kt_conv2d_cpu_plan){0};
  if (d.groups < 2 || d.c_in != d.groups || d.c_out != d.groups || kt_conv2d_out_size(&d, &ho, &wo) || d.n < 1 ||
      d.stride_w > 16)
    return -1;
  const int vec = max_vec == 0 || max_vec >= 16 ? 16 : max_vec >= 8 ? 8 : 4;
  const int64_t hp = d.h + d.pad_top + d.pad_bottom;
  /* each phase of a padded row: its columns ≡ f (mod stride_w), and a vector's slack of zeros
   * (the last vector of a row reads up to vec − 1 past the last output's window) */
  const int64_t phase = kt_ceil_div(d.w + d.pad_left + d.pad_right, d.stride_w) + vec;
  if (phase > LIMIT32 / d.stride_w) return -1;
  const int64_t wp = phase * d.stride_w;
  if (hp > LIMIT32 / wp || hp * wp > LIMIT32 / d.c_in || d.c_in * hp * wp > LIMIT32 / d.n) return -1;
  if (d.c_in * d.h * d.w > LIMIT32 / d.n || d.c_out * ho * wo > LIMIT32 / d.n) return -1;
  out->vec = vec;
  out->nvec = 1;
  out->rows = 1;
  out->padded = 1;
  out->hp = hp;
  out->wp = wp;
  out->xp_numel = d.n * d.c_in * hp * wp;
  return 0;
}

/* xp[dst + from .. dst + to) = 0 (loop variable i). */
static void zeros(kir_builder *b, int bxp, int dst, int64_t from, int64_t to, int i) {
  if (to <= from) return;
  kir_for(b, i, kir_i32(b, from), kir_i32(b, to), kir_i32(b, 1));
  kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, i)), kir_f32(b, 0.0));
  kir_end(b);
}

int kt_conv2d_dw_pad(kir_module *m, const char *name, const kt_conv2d_desc *in, const kt_conv2d_cpu_plan *p,
                     kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  kt_conv2d_cpu_plan check;
  if (kt_conv2d_dw_plan_for(&d, p->vec, &check) || check.hp != p->hp || check.wp != p->wp)
    return kt_fail(m, "the depthwise CPU convolution does not apply to this convolution or plan");
  const int64_t S = d.stride_w, phase = p->wp / S, rows = d.n * d.c_in * p->hp;
  const int lx = rows >= COPY_LOCAL ? COPY_LOCAL : (int)rows;
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bxp = kir_buffer_param(b, "xp", KIR_F32, KIR_WRITE);
  /* A work-item per row of xp: padded column q = i·S + f goes to f·phase + i. At stride 1 the
   * copy compiles to a block copy; a strided one stays scalar (MobileNet-V2's 96 × 112² at
   * stride 2: 640–920 µs, against 2.7 ms for the direct convolution it replaces). */
  int row = kir_var_new(b, "row", kir_t(KIR_I32)), ih = kir_var_new(b, "ih", kir_t(KIR_I32));
  int src = kir_var_new(b, "src", kir_t(KIR_I32)), dst = kir_var_new(b, "dst", kir_t(KIR_I32));
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, row, kir_global_id(b, 0));
  if (rows % lx) kt_return_past(b, kir_var(b, row), rows);
  kir_decl(b, ih, kir_add(b, kir_mod(b, kir_var(b, row), kir_i32(b, p->hp)), kir_i32(b, -d.pad_top)));
  kir_decl(b, dst, kt_scaled(b, kir_var(b, row), p->wp));
  kir_if(b, kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, ih), kir_i32(b, 0)), kt_lt(b, kir_var(b, ih), d.h)));
  kir_decl(b, src, kt_scaled(b, kir_add(b, kt_scaled(b, kir_div(b, kir_var(b, row), kir_i32(b, p->hp)), d.h),
                                        kir_var(b, ih)),
                             d.w));
  /* Per phase f (unrolled): zeros, x's columns f + i·S − pad_left, zeros; the bounds are
   * constants, the copy a plain strided loop. */
  for (int64_t f = 0; f < S; f++) {
    /* the first i with f + i·S ≥ pad_left, and the first past x's last column (f < S, so
     * pad_left − f > −S and neither is negative) */
    const int64_t lo = d.pad_left - f <= 0 ? 0 : kt_ceil_div(d.pad_left - f, S);
    const int64_t hi = kt_ceil_div(d.pad_left + d.w - f, S) > lo ? kt_ceil_div(d.pad_left + d.w - f, S) : lo;
    const int64_t at = f * phase;
    zeros(b, bxp, dst, at, at + lo, i);
    if (hi > lo) {
      kir_for(b, i, kir_i32(b, lo), kir_i32(b, hi), kir_i32(b, 1));
      kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_add(b, kir_var(b, i), kir_i32(b, at))),
                kir_load(b, bx, kir_add(b, kir_var(b, src), kir_add(b, kt_scaled(b, kir_var(b, i), S),
                                                                      kir_i32(b, f - d.pad_left)))));
      kir_end(b);
    }
    zeros(b, bxp, dst, at + hi, at + phase, i);
  }
  kir_else(b); /* a row of the top or bottom border: all zeros */
  zeros(b, bxp, dst, 0, p->wp, i);
  kir_end(b);
  out_groups[0] = kt_ceil_div(rows, lx);
  out_groups[1] = out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

/* Stores vector v, consecutive outputs of one row from y's index `at` of which the first
 * `lanes` are outputs: whole where all its vec lanes are and the epilogue takes vectors, else
 * lane by lane. */
static int store(kir_builder *b, const kt_conv2d_desc *d, int by, kir_expr *v, int at, int lanes, int vec) {
  if (lanes == vec && (!d->epilogue.fn || d->epilogue.plane_vectors)) {
    if (d->epilogue.fn) {
      kt_out_pos pos = {kir_var(b, at), NULL, NULL, NULL};
      v = d->epilogue.fn(b, v, &pos, d->epilogue.user);
      if (!v) return -1;
    }
    kir_store(b, by, kir_var(b, at), v);
    return 0;
  }
  int lv = kir_var_new(b, "lanes", v->type);
  kir_decl(b, lv, v);
  for (int l = 0; l < lanes; l++) {
    kir_expr *x = kir_component(b, kir_var(b, lv), l);
    kir_expr *idx = kir_add(b, kir_var(b, at), kir_i32(b, l));
    if (d->epilogue.fn) {
      int iv = kir_var_new(b, "y_idx", kir_t(KIR_I32));
      kir_decl(b, iv, idx);
      idx = kir_var(b, iv);
      kt_out_pos pos = {idx, NULL, NULL, NULL};
      x = d->epilogue.fn(b, x, &pos, d->epilogue.user);
      if (!x) return -1;
    }
    kir_store(b, by, idx, x);
  }
  return 0;
}

int kt_conv2d_dw_cpu(kir_module *m, const char *name, const kt_conv2d_desc *in, const kt_conv2d_cpu_plan *p,
                     kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc nd = kt_conv2d_normalized(in);
  const kt_conv2d_desc *d = &nd;
  kt_conv2d_cpu_plan check;
  int64_t ho, wo;
  if (kt_conv2d_dw_plan_for(d, p->vec, &check) || check.hp != p->hp || check.wp != p->wp ||
      kt_conv2d_out_size(d, &ho, &wo))
    return kt_fail(m, "the depthwise CPU convolution does not apply to this convolution or plan");
  const int vec = p->vec, nvr = (int)kt_ceil_div(wo, vec); /* vectors per output row */
  const int nv = nvr < MAX_VECS ? nvr : MAX_VECS, segs = (int)kt_ceil_div(nvr, nv);
  const int64_t planes = d->n * d->c_in, items = planes * ho * segs, taps = d->kh * d->kw;
  const int lx = items >= ITEMS_PER_GROUP ? ITEMS_PER_GROUP : (int)items;
  const kir_type vt = kir_tv(KIR_F32, vec);
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "xp", KIR_F32, KIR_READ);
  int bw = kir_buffer_param(b, "w", KIR_F32, KIR_READ);
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  /* item = (plane · ho + oh) · segs + seg: output row oh of plane (image, channel), its
   * vectors seg·nv .. */
  int item = kir_var_new(b, "item", kir_t(KIR_I32)), row = kir_var_new(b, "row", kir_t(KIR_I32));
  int plane = kir_var_new(b, "plane", kir_t(KIR_I32)), c = kir_var_new(b, "c", kir_t(KIR_I32));
  int oh = kir_var_new(b, "oh", kir_t(KIR_I32)), ow0 = kir_var_new(b, "ow0", kir_t(KIR_I32));
  int xrow = kir_var_new(b, "x_row", kir_t(KIR_I32)), wb = kir_var_new(b, "w_base", kir_t(KIR_I32));
  kir_decl(b, item, kir_global_id(b, 0));
  if (items % lx) kt_return_past(b, kir_var(b, item), items);
  kir_decl(b, row, segs > 1 ? kir_div(b, kir_var(b, item), kir_i32(b, segs)) : kir_var(b, item));
  kir_decl(b, plane, kir_div(b, kir_var(b, row), kir_i32(b, ho)));
  kir_decl(b, oh, kir_mod(b, kir_var(b, row), kir_i32(b, ho)));
  kir_decl(b, c, kir_mod(b, kir_var(b, plane), kir_i32(b, d->c_in)));
  kir_decl(b, ow0, segs > 1 ? kir_mul(b, kir_mod(b, kir_var(b, item), kir_i32(b, segs)), kir_i32(b, (int64_t)nv * vec))
                            : kir_i32(b, 0));
  /* xp's row of the window's first tap: (plane·hp + oh·stride_h)·wp + ow0 */
  kir_decl(b, xrow, kir_add(b, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, plane), p->hp),
                                                    kt_scaled(b, kir_var(b, oh), d->stride_h)),
                                         p->wp),
                            kir_var(b, ow0)));
  kir_decl(b, wb, kt_scaled(b, kir_var(b, c), taps));
  int acc[MAX_VECS];
  for (int v = 0; v < nv; v++) {
    acc[v] = kir_var_new(b, "acc", vt);
    kir_decl(b, acc[v], kir_cast(b, vt, bb >= 0 ? kir_load(b, bb, kir_var(b, c)) : kir_f32(b, 0.0)));
  }
  /* The taps unrolled: each a weight broadcast and one load per vector at a constant offset. */
  for (int64_t r = 0; r < d->kh; r++)
    for (int64_t s = 0; s < d->kw; s++) {
      int wv = kir_var_new(b, "wv", vt);
      kir_decl(b, wv, kir_cast(b, vt, kir_load(b, bw, kir_add(b, kir_var(b, wb), kir_i32(b, r * d->kw + s)))));
      /* padded column ow·S + s·dil_w: phase (s·dil_w) % S, (s·dil_w) / S + ow within it */
      const int64_t S = d->stride_w, off = r * d->dil_h * p->wp + (s * d->dil_w) % S * (p->wp / S) + s * d->dil_w / S;
      for (int v = 0; v < nv; v++) {
        kir_expr *x = kir_load_vec(b, bx, kir_add(b, kir_var(b, xrow), kir_i32(b, off + (int64_t)v * vec)), vec);
        kir_assign(b, acc[v], kir_add(b, kir_var(b, acc[v]), kir_mul(b, kir_var(b, wv), x)));
      }
    }
  /* y[(plane·ho + oh)·wo + ow]: whole vectors, then the row's ragged end */
  int at = kir_var_new(b, "y_at", kir_t(KIR_I32));
  kir_decl(b, at, kir_add(b, kt_scaled(b, kir_var(b, row), wo), kir_var(b, ow0)));
  for (int v = 0; v < nv; v++) {
    int vat = at;
    if (v) {
      vat = kir_var_new(b, "y_v", kir_t(KIR_I32));
      kir_decl(b, vat, kir_add(b, kir_var(b, at), kir_i32(b, (int64_t)v * vec)));
    }
    /* Its lanes past the row's end, if any, are in the last segment: there it stores the
     * outputs it has, elsewhere (several segments) a whole vector. */
    const int64_t last_lanes = wo - ((int64_t)(segs - 1) * nv + v) * vec;
    if (last_lanes >= vec) {
      if (store(b, d, by, kir_var(b, acc[v]), vat, vec, vec)) goto fail;
      continue;
    }
    if (segs > 1) {
      kir_if(b, kir_bin(b, KIR_LT, kir_var(b, ow0), kir_i32(b, (int64_t)(segs - 1) * nv * vec)));
      if (store(b, d, by, kir_var(b, acc[v]), vat, vec, vec)) goto fail;
      kir_else(b);
    }
    if (last_lanes > 0 && store(b, d, by, kir_var(b, acc[v]), vat, (int)last_lanes, vec)) goto fail;
    if (segs > 1) kir_end(b);
  }
  out_groups[0] = kt_ceil_div(items, lx);
  out_groups[1] = out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
fail:
  kir_kernel_end(b, NULL);
  return kt_fail(m, "the fused epilogue could not be built");
}

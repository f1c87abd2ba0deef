/* conv2d_dw.c — depthwise convolution for CPUs (PoCL): each channel its own filter, the output
 * row's pixels as vector lanes (conv2d.h).
 *
 * The direct kernel of conv2d.c runs a work-item per output pixel with its window's bounds
 * checked per tap; PoCL does not vectorize that, and a depthwise layer (one input channel per
 * output, 9 taps) ran at 2 GFLOP/s: MobileNet's expand-depthwise-project block
 * (tests/onnx/mobilenet, 96 channels of 14 × 14) spent 166 of its 196 µs there (2026-12-05).
 * Here the input is first copied with its zero border, each padded row split into stride_w
 * phases (its columns ≡ f mod stride_w, one after the other) with zeros after each up to what
 * a row's last vector reads (kt_conv2d_dw_pad), so that the taps of `vec` consecutive outputs are `vec`
 * consecutive floats of one phase of one row: one vector load each, no bounds, at any stride.
 * A work-item takes a block of output rows where the rows are short (MobileNet-V2's 384 × 14²
 * layer: 155 → 45 µs wall with the copy's rows blocked too), see kt_conv2d_dw_plan_for. */
#include "conv2d.h"

#include "kt_util.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_VECS 8          /* output vectors per work-item */
#define ITEMS_PER_GROUP 8
#define MIN_ITEMS 64        /* work-items a convolution keeps when it blocks rows */
#define COPY_LOCAL 64
#define COPY_FLOATS 2048    /* xp floats a work-item of the padded copy writes, at most */

/* The most rows a work-item takes, at most `most`, that divide `rows` and leave `planes`·(rows
 * / r) ≥ MIN_ITEMS work-items (a row of a small map is a few floats); 1 where none does. Shared
 * by the convolution's output rows and the padded copy's. */
static int64_t rows_per_item(int64_t rows, int64_t most, int64_t planes) {
  for (int64_t r = most < rows ? most : rows; r > 1; r--)
    if (rows % r == 0 && planes * (rows / r) >= MIN_ITEMS) return r;
  return 1;
}

int kt_conv2d_dw_plan_for(const kt_conv2d_desc *in, int max_vec, kt_conv2d_cpu_plan *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  *out = (kt_conv2d_cpu_plan){0};
  if (d.groups < 2 || d.c_in != d.groups || d.c_out != d.groups || kt_conv2d_out_size(&d, &ho, &wo) || d.n < 1 ||
      d.stride_w > 16)
    return -1;
  const int vec = max_vec == 0 || max_vec >= 16 ? 16 : max_vec >= 8 ? 8 : 4;
  const int64_t hp = d.h + d.pad_top + d.pad_bottom;
  /* each phase of a padded row: its columns ≡ f (mod stride_w), then zeros up to what the
   * row's last vector reads — its lanes past wo too: tap s reads elements (s·dil_w)/S + ow of
   * its phase, ow < nvr·vec (a vector's slack of zeros after each phase took 28% more bytes at
   * MobileNet-V2's 56-wide rows) */
  const int64_t nvr = kt_ceil_div(wo, vec), reach = nvr * vec + (d.kw - 1) * d.dil_w / d.stride_w;
  const int64_t cols = kt_ceil_div(d.w + d.pad_left + d.pad_right, d.stride_w);
  const int64_t phase = cols > reach ? cols : reach;
  if (phase > LIMIT32 / d.stride_w) return -1;
  const int64_t wp = phase * d.stride_w;
  if (hp > LIMIT32 / wp || hp * wp > LIMIT32 / d.c_in || d.c_in * hp * wp > LIMIT32 / d.n) return -1;
  if (d.c_in * d.h * d.w > LIMIT32 / d.n || d.c_out * ho * wo > LIMIT32 / d.n) return -1;
  out->vec = vec;
  out->nvec = 1;
  /* Output rows per work-item: as many as have all their vectors accumulated at once (at most
   * MAX_VECS); 1 where a row takes more. */
  out->rows = (int)rows_per_item(ho, nvr <= MAX_VECS ? MAX_VECS / nvr : 1, d.n * d.c_in);
  out->padded = 1;
  out->hp = hp;
  out->wp = wp;
  out->xp_numel = d.n * d.c_in * hp * wp;
  return 0;
}

/* Phase f of a padded row holds x's columns f + i·S − pad_left for i in [lo, hi): the first i
 * with f + i·S ≥ pad_left, and the first past x's last column (f < S, so pad_left − f > −S and
 * neither is negative). */
static void phase_range(const kt_conv2d_desc *d, int64_t f, int64_t *lo, int64_t *hi) {
  const int64_t S = d->stride_w, end = kt_ceil_div(d->pad_left + d->w - f, S);
  *lo = d->pad_left - f <= 0 ? 0 : kt_ceil_div(d->pad_left - f, S);
  *hi = end > *lo ? end : *lo;
}

/* x's columns c .. c + width − 1 of the row at src (c a multiple of S; `col` is c and `col_s`
 * c / S, I32 expressions) into xp's row at dst: padded column q = c + l + pad_left of lane l
 * goes to phase f = q mod S, so phase f's lanes are l_f, l_f + S, .. with
 * l_f ≡ f − pad_left (mod S), stored as one vector (a strided swizzle) from its element
 * c/S + (l_f + pad_left − f)/S. */
static void copy_columns(kir_builder *b, const kt_conv2d_desc *d, int bx, int bxp, int src, int dst, kir_expr *col,
                         kir_expr *col_s, int width, int64_t phase) {
  const int64_t S = d->stride_w;
  int v = kir_var_new(b, "v", kir_tv(KIR_F32, width));
  kir_decl(b, v, kir_load_vec(b, bx, kir_add(b, kir_var(b, src), col), width));
  for (int64_t f = 0; f < S; f++) {
    const int64_t lf = ((f - d->pad_left) % S + S) % S;
    kir_store(b, bxp,
              kir_add(b, kir_var(b, dst), kir_add(b, col_s, kir_i32(b, f * phase + (lf + d->pad_left - f) / S))),
              kir_swizzle_step(b, kir_var(b, v), (int)lf, (int)S, width / (int)S));
  }
}

/* xp[dst + from .. dst + to) = 0 (loop variable i): one by one below `lanes`, else vectors of
 * `lanes` zeros, the last one ending at `to` (overlapping its predecessor). */
static void zeros(kir_builder *b, int bxp, int dst, int64_t from, int64_t to, int i, int lanes) {
  if (to <= from) return;
  if (to - from < lanes) {
    kir_for(b, i, kir_i32(b, from), kir_i32(b, to), kir_i32(b, 1));
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, i)), kir_f32(b, 0.0));
    kir_end(b);
    return;
  }
  kir_expr *z = kir_cast(b, kir_tv(KIR_F32, lanes), kir_f32(b, 0.0));
  if (to - from > 2 * lanes) {
    kir_for(b, i, kir_i32(b, from), kir_i32(b, to - lanes), kir_i32(b, lanes));
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_var(b, i)), z);
    kir_end(b);
  } else if (to - from > lanes) {
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_i32(b, from)), z);
  }
  kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_i32(b, to - lanes)), z);
}

int kt_conv2d_dw_pad(kir_module *m, const char *name, const kt_conv2d_desc *in, const kt_conv2d_cpu_plan *p,
                     kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  kt_conv2d_cpu_plan check;
  if (kt_conv2d_dw_plan_for(&d, p->vec, &check) || check.hp != p->hp || check.wp != p->wp)
    return kt_fail(m, "the depthwise CPU convolution does not apply to this convolution or plan");
  const int64_t S = d.stride_w, phase = p->wp / S, planes = d.n * d.c_in;
  /* A work-item per `rpi` rows of one plane of xp, within COPY_FLOATS */
  const int64_t rpi = rows_per_item(p->hp, COPY_FLOATS / p->wp, planes);
  const int64_t items = planes * (p->hp / rpi);
  const int lx = items >= COPY_LOCAL ? COPY_LOCAL : (int)items;
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bxp = kir_buffer_param(b, "xp", KIR_F32, KIR_WRITE);
  /* Padded column q = i·S + f of a row goes to f·phase + i. x's row is read `lanes` columns
   * at a time (16, or p->vec where less) where each phase gets at least 2 of them
   * (copy_columns), its last columns one by one (MobileNet-V2's 96 × 112² at stride 2: 640–920
   * µs element by element, 147 so). Zeros are vectors too where there are `lanes` of them. */
  const int lanes = p->vec < 16 ? p->vec : 16;
  const int64_t vecs = lanes % S == 0 && lanes / S >= 2 ? d.w / lanes : 0;
  int item = kir_var_new(b, "item", kir_t(KIR_I32)), j = kir_var_new(b, "j", kir_t(KIR_I32));
  int r0 = kir_var_new(b, "r0", kir_t(KIR_I32)), plane = kir_var_new(b, "plane", kir_t(KIR_I32));
  int ih = kir_var_new(b, "ih", kir_t(KIR_I32)), src = kir_var_new(b, "src", kir_t(KIR_I32));
  int dst = kir_var_new(b, "dst", kir_t(KIR_I32)), i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, item, kir_global_id(b, 0));
  if (items % lx) kt_return_past(b, kir_var(b, item), items);
  kir_decl(b, plane, kir_div(b, kir_var(b, item), kir_i32(b, p->hp / rpi)));
  kir_decl(b, r0, kt_scaled(b, kir_mod(b, kir_var(b, item), kir_i32(b, p->hp / rpi)), rpi));
  kir_for(b, j, kir_i32(b, 0), kir_i32(b, rpi), kir_i32(b, 1));
  kir_decl(b, ih, kir_add(b, kir_var(b, r0), kir_add(b, kir_var(b, j), kir_i32(b, -d.pad_top))));
  kir_expr *row = kir_add(b, kt_scaled(b, kir_var(b, plane), p->hp), kir_add(b, kir_var(b, r0), kir_var(b, j)));
  kir_decl(b, dst, kt_scaled(b, row, p->wp));
  kir_if(b, kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, kir_var(b, ih), kir_i32(b, 0)), kt_lt(b, kir_var(b, ih), d.h)));
  kir_decl(b, src, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, plane), d.h), kir_var(b, ih)), d.w));
  /* Per phase f (unrolled): zeros, then x's columns f + i·S − pad_left; the bounds are
   * constants. */
  for (int64_t f = 0; f < S; f++) {
    int64_t lo, hi;
    phase_range(&d, f, &lo, &hi);
    zeros(b, bxp, dst, f * phase, f * phase + lo, i, lanes);
    zeros(b, bxp, dst, f * phase + hi, (f + 1) * phase, i, lanes);
  }
  if (vecs) {
    kir_for(b, i, kir_i32(b, 0), kir_i32(b, vecs), kir_i32(b, 1));
    copy_columns(b, &d, bx, bxp, src, dst, kt_scaled(b, kir_var(b, i), lanes), kt_scaled(b, kir_var(b, i), lanes / S),
                 lanes, phase);
    kir_end(b);
  }
  /* the columns past them: vectors of half as many, a quarter, while a phase gets 2 lanes;
   * then one by one, phase by phase */
  int64_t done = vecs * lanes; /* x's columns copied */
  for (int w = lanes / 2; w >= 4 && w >= 2 * S; w /= 2)
    if (w % S == 0 && d.w - done >= w) {
      copy_columns(b, &d, bx, bxp, src, dst, kir_i32(b, done), kir_i32(b, done / S), w, phase);
      done += w;
    }
  for (int64_t f = 0; f < S; f++) {
    int64_t lo, hi;
    phase_range(&d, f, &lo, &hi);
    const int64_t after = kt_ceil_div(done + d.pad_left - f, S), first = after > lo ? after : lo;
    if (hi <= first) continue;
    kir_for(b, i, kir_i32(b, first), kir_i32(b, hi), kir_i32(b, 1));
    kir_store(b, bxp, kir_add(b, kir_var(b, dst), kir_add(b, kir_var(b, i), kir_i32(b, f * phase))),
              kir_load(b, bx, kir_add(b, kir_var(b, src), kir_add(b, kt_scaled(b, kir_var(b, i), S),
                                                                    kir_i32(b, f - d.pad_left)))));
    kir_end(b);
  }
  kir_else(b); /* a row of the top or bottom border: all zeros */
  zeros(b, bxp, dst, 0, p->wp, i, lanes);
  kir_end(b);
  kir_end(b);
  out_groups[0] = kt_ceil_div(items, lx);
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
  const int nv = nvr < MAX_VECS ? nvr : MAX_VECS, segs = (int)kt_ceil_div(nvr, nv), R = p->rows;
  if (R < 1 || ho % R || (R > 1 && (segs > 1 || R * nv > MAX_VECS)))
    return kt_fail(m, "the depthwise CPU convolution's row block does not fit this convolution");
  const int64_t planes = d->n * d->c_in, items = planes * (ho / R) * segs;
  const int lx = items >= ITEMS_PER_GROUP ? ITEMS_PER_GROUP : (int)items;
  const kir_type vt = kir_tv(KIR_F32, vec);
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "xp", KIR_F32, KIR_READ);
  int bw = kir_buffer_param(b, "w", KIR_F32, KIR_READ);
  int bb = d->has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  /* item = (plane · ho/R + block) · segs + seg: output rows oh0 = block·R .. + R − 1 of plane
   * (image, channel), their vectors seg·nv .. */
  int item = kir_var_new(b, "item", kir_t(KIR_I32)), blk = kir_var_new(b, "block", kir_t(KIR_I32));
  int plane = kir_var_new(b, "plane", kir_t(KIR_I32)), c = kir_var_new(b, "c", kir_t(KIR_I32));
  int oh0 = kir_var_new(b, "oh0", kir_t(KIR_I32)), ow0 = kir_var_new(b, "ow0", kir_t(KIR_I32));
  int xrow = kir_var_new(b, "x_row", kir_t(KIR_I32)), wb = kir_var_new(b, "w_base", kir_t(KIR_I32));
  kir_decl(b, item, kir_global_id(b, 0));
  if (items % lx) kt_return_past(b, kir_var(b, item), items);
  kir_decl(b, blk, segs > 1 ? kir_div(b, kir_var(b, item), kir_i32(b, segs)) : kir_var(b, item));
  kir_decl(b, plane, kir_div(b, kir_var(b, blk), kir_i32(b, ho / R)));
  kir_decl(b, oh0, kt_scaled(b, kir_mod(b, kir_var(b, blk), kir_i32(b, ho / R)), R));
  kir_decl(b, c, kir_mod(b, kir_var(b, plane), kir_i32(b, d->c_in)));
  kir_decl(b, ow0, segs > 1 ? kir_mul(b, kir_mod(b, kir_var(b, item), kir_i32(b, segs)), kir_i32(b, (int64_t)nv * vec))
                            : kir_i32(b, 0));
  /* xp's row of the first row's first tap: (plane·hp + oh0·stride_h)·wp + ow0 */
  kir_decl(b, xrow, kir_add(b, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, plane), p->hp),
                                                    kt_scaled(b, kir_var(b, oh0), d->stride_h)),
                                         p->wp),
                            kir_var(b, ow0)));
  kir_decl(b, wb, kt_scaled(b, kir_var(b, c), d->kh * d->kw));
  int acc[MAX_VECS]; /* acc[r·nv + v]: output row oh0 + r, vector v */
  for (int a = 0; a < R * nv; a++) {
    acc[a] = kir_var_new(b, "acc", vt);
    kir_decl(b, acc[a], kir_cast(b, vt, bb >= 0 ? kir_load(b, bb, kir_var(b, c)) : kir_f32(b, 0.0)));
  }
  /* The rows of xp the block reads, unrolled: each vector loaded once and multiplied into
   * every output row whose window has it (a row shared by R rows at stride 1), the weights
   * broadcast once per item. */
  const int64_t in_rows = (int64_t)(R - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1;
  for (int64_t ir = 0; ir < in_rows; ir++)
    for (int64_t s = 0; s < d->kw; s++) {
      /* padded column ow·S + s·dil_w: phase (s·dil_w) % S, (s·dil_w) / S + ow within it */
      const int64_t S = d->stride_w, off = ir * p->wp + (s * d->dil_w) % S * (p->wp / S) + s * d->dil_w / S;
      for (int v = 0; v < nv; v++) {
        int xv = -1;
        for (int r = 0; r < R; r++) {
          const int64_t t = ir - (int64_t)r * d->stride_h; /* the tap row, times dil_h */
          if (t < 0 || t % d->dil_h || t / d->dil_h >= d->kh) continue;
          if (xv < 0) {
            xv = kir_var_new(b, "x", vt);
            kir_decl(b, xv, kir_load_vec(b, bx, kir_add(b, kir_var(b, xrow), kir_i32(b, off + (int64_t)v * vec)), vec));
          }
          kir_expr *tap = kir_add(b, kir_var(b, wb), kir_i32(b, t / d->dil_h * d->kw + s));
          kir_expr *wv = kir_cast(b, vt, kir_load(b, bw, tap));
          kir_assign(b, acc[r * nv + v], kir_add(b, kir_var(b, acc[r * nv + v]), kir_mul(b, wv, kir_var(b, xv))));
        }
      }
    }
  /* y[(plane·ho + oh0 + r)·wo + ow]: whole vectors, then each row's ragged end */
  for (int r = 0; r < R; r++) {
    int at = kir_var_new(b, "y_at", kir_t(KIR_I32));
    kir_decl(b, at, kir_add(b, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, plane), ho),
                                                    kir_add(b, kir_var(b, oh0), kir_i32(b, r))),
                                         wo),
                            kir_var(b, ow0)));
    for (int v = 0; v < nv; v++) {
      int vat = at, a = acc[r * nv + v];
      if (v) {
        vat = kir_var_new(b, "y_v", kir_t(KIR_I32));
        kir_decl(b, vat, kir_add(b, kir_var(b, at), kir_i32(b, (int64_t)v * vec)));
      }
      /* Its lanes past the row's end, if any, are in the last segment: there it stores the
       * outputs it has, elsewhere (several segments) a whole vector. A row whose whole vectors
       * end within the block stores them whole too: the lanes past its end are outputs of the
       * block's later rows, whose stores, after, overwrite them (not past the block: 7-wide
       * rows spill 9 lanes of 16, into the row after next). */
      const int64_t last_lanes = wo - ((int64_t)(segs - 1) * nv + v) * vec;
      if (last_lanes >= vec || (int64_t)r * wo + (int64_t)nvr * vec <= (int64_t)R * wo) {
        if (store(b, d, by, kir_var(b, a), vat, vec, vec)) goto fail;
        continue;
      }
      if (segs > 1) {
        kir_if(b, kir_bin(b, KIR_LT, kir_var(b, ow0), kir_i32(b, (int64_t)(segs - 1) * nv * vec)));
        if (store(b, d, by, kir_var(b, a), vat, vec, vec)) goto fail;
        kir_else(b);
      }
      if (last_lanes > 0 && store(b, d, by, kir_var(b, a), vat, (int)last_lanes, vec)) goto fail;
      if (segs > 1) kir_end(b);
    }
  }
  out_groups[0] = kt_ceil_div(items, lx);
  out_groups[1] = out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
fail:
  kir_kernel_end(b, NULL);
  return kt_fail(m, "the fused epilogue could not be built");
}

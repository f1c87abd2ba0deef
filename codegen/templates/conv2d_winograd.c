/* conv2d_winograd.c — 3×3 convolution for CPUs by Winograd's minimal filtering F(m×m, 3×3)
 * (conv2d.h describes the four kernels and their buffers).
 *
 * Why: ResNet-18's 3×3 stride-1 convolutions are 83% of its multiply-adds, and the implicit
 * GEMM (conv2d_cpu.c) already runs them near the FMA peak of PoCL; only fewer multiplications
 * make them faster. F(2×2, 3×3) needs 16 products per 4 outputs and input channel where the
 * direct form needs 36. The transforms are additions (Bᵀ, Aᵀ) or run once per session (G, in
 * the preparation); the products are α² GEMMs on the CPU register block of matmul_cpu.h.
 *
 * The transform matrices are those of Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks" (2016): interpolation points 0, 1, −1 for m = 2, and 0, ±1, ±2 for m = 4. */
#include <stdio.h>

#include "conv2d.h"
#include "kt_util.h"
#include "matmul_cpu.h"
#include "reduce.h"

#define LIMIT32 ((int64_t)1 << 31)
#define MAX_ALPHA 6
#define ROWS_PER_ITEM 6
#define ITEMS_PER_GROUP 8

/* Bᵀ (α × α), G (α × 3) and Aᵀ (m × α), row-major, for m = 2 and m = 4. */
static const double BT2[4 * 4] = {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1};
static const double G2[4 * 3] = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};
static const double AT2[2 * 4] = {1, 1, 1, 0, 0, 1, -1, -1};
static const double BT4[6 * 6] = {4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0,
                                  0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0, -5, 0, 1};
static const double G4[6 * 3] = {1.0 / 4,  0,         0,        -1.0 / 6, -1.0 / 6,  -1.0 / 6,
                                 -1.0 / 6, 1.0 / 6,   -1.0 / 6, 1.0 / 24, 1.0 / 12,  1.0 / 6,
                                 1.0 / 24, -1.0 / 12, 1.0 / 6,  0,        0,         1};
static const double AT4[4 * 6] = {1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0,
                                  0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1};

static const double *mat_bt(int m) { return m == 2 ? BT2 : BT4; }
static const double *mat_g(int m) { return m == 2 ? G2 : G4; }
static const double *mat_at(int m) { return m == 2 ? AT2 : AT4; }

int kt_winograd_plan_for(const kt_conv2d_desc *in, int max_vec, int m, kt_winograd_plan *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  int64_t ho, wo;
  *out = (kt_winograd_plan){0};
  if (m != 2 && m != 4) return -1;
  if (d.kh != 3 || d.kw != 3 || d.stride_h != 1 || d.stride_w != 1 || d.dil_h != 1 ||
      d.dil_w != 1 || d.groups != 1 || kt_conv2d_out_size(&d, &ho, &wo))
    return -1;
  if (d.n < 1 || d.c_in < 1 || d.c_out < 1) return -1;
  int vec, nvec;
  kt_cpu_channel_block(d.c_out, max_vec, &vec, &nvec);
  const int64_t cn = (int64_t)vec * nvec, alpha2 = (int64_t)(m + 2) * (m + 2);
  const int64_t c_out_pad = (d.c_out + cn - 1) / cn * cn;
  const int64_t th = (ho + m - 1) / m, tw = (wo + m - 1) / m;
  if (th > LIMIT32 / tw || th * tw > LIMIT32 / d.n) return -1;
  const int64_t t = d.n * th * tw;
  /* Every buffer the kernels index stays below 2^31 elements. */
  if (c_out_pad > LIMIT32 / alpha2 || alpha2 * c_out_pad > LIMIT32 / d.c_in) return -1;
  if (t > LIMIT32 / (alpha2 * c_out_pad) || t > LIMIT32 / (alpha2 * d.c_in)) return -1;
  if (d.h * d.w > LIMIT32 / d.c_in || d.c_in * d.h * d.w > LIMIT32 / d.n) return -1;
  if (ho * wo > LIMIT32 / d.c_out || d.c_out * ho * wo > LIMIT32 / d.n) return -1;
  out->m = m;
  out->alpha = m + 2;
  out->vec = vec;
  out->nvec = nvec;
  out->rows = ROWS_PER_ITEM;
  out->c_out_pad = c_out_pad;
  out->tiles_h = th;
  out->tiles_w = tw;
  out->t = t;
  out->u_numel = alpha2 * d.c_in * c_out_pad;
  out->v_numel = alpha2 * d.c_in * t;
  out->mt_numel = t * alpha2 * c_out_pad;
  return 0;
}

/* Device time per unit of work on PoCL (2 cores of an EPYC, AVX-512), in picoseconds, from
 * ResNet-18's convolutions at batch 16 and 1 (2026-12-05): the implicit GEMM's multiply-add,
 * 10.1 (18.7 ms per 64 → 64-channel 56×56 convolution at batch 16, its padded copy included);
 * per m: the α² GEMMs' multiply-add, the input transform per tile and input channel, the output
 * transform per tile and output channel; and a byte of weights streamed from memory, 31 (about
 * 32 GB/s). A GEMM takes the longer of its multiply-adds and its weight's bytes: at batch 1 the
 * last stage's 7×7 maps are 4 tiles of F(4×4), whose 36 × 512 × 512 transformed weights
 * (38 MB) take longer to read (1.2 ms) than the products. The transforms cost what their
 * scalar arithmetic does, so a few channels make Winograd lose (the cross-over is near 48
 * channels in and out). */
#define PS_DIRECT_MAC 10.1
#define PS_WEIGHT_BYTE 31.0
static const struct { int m; double gemm_mac, input, output; } WINO_COST[] = {
  {2, 14.6, 10000.0, 6200.0},
  {4, 14.2, 25000.0, 15000.0},
};

static double max_d(double a, double b) { return a > b ? a : b; }

int kt_winograd_pick(const kt_conv2d_desc *in, int max_vec, kt_winograd_plan *out) {
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  kt_conv2d_cpu_plan direct;
  int64_t ho, wo;
  if (kt_conv2d_out_size(&d, &ho, &wo) || kt_conv2d_cpu_plan_for(&d, max_vec, &direct)) return -1;
  const double cio = (double)d.c_in * (double)d.c_out;
  double best = max_d(PS_DIRECT_MAC * (double)(d.n * ho * wo) * 9.0 * cio,
                      PS_WEIGHT_BYTE * 4.0 * (double)direct.wt_numel);
  int found = -1;
  for (size_t i = 0; i < sizeof WINO_COST / sizeof WINO_COST[0]; i++) {
    kt_winograd_plan p;
    if (kt_winograd_plan_for(&d, max_vec, WINO_COST[i].m, &p)) continue;
    const double t = (double)p.t, a2 = (double)p.alpha * p.alpha;
    double cost = max_d(WINO_COST[i].gemm_mac * t * a2 * cio, PS_WEIGHT_BYTE * 4.0 * (double)p.u_numel) +
                  WINO_COST[i].input * t * (double)d.c_in + WINO_COST[i].output * t * (double)d.c_out;
    if (cost < best) {
      best = cost;
      *out = p;
      found = 0;
    }
  }
  return found;
}

/* Declares a variable of type ty named nm<i>_<j>, set to e; returns it. */
static int decl_ij(kir_builder *b, const char *nm, int i, int j, kir_type ty, kir_expr *e) {
  char s[32];
  snprintf(s, sizeof s, "%s%d_%d", nm, i, j);
  int v = kir_var_new(b, s, ty);
  kir_decl(b, v, e);
  return v;
}

/* Σ_k c[k·stride]·var[k] over k < n and the nonzero coefficients (±1 as additions and
 * subtractions, no products); `zero` when every coefficient is 0. (Sharing the sums of the
 * matrices' columns and rows that repeat up to a sign, (m1 ± m2) in Aᵀ, E ± O for rows 1, 2
 * of Bᵀ, took the additions of F(4×4)'s input transform from 36 to 20 per column, and the
 * kernel from 40 to 57 ms per ResNet-18 batch-16 run: PoCL vectorizes it across work-items,
 * where the order of the sums decides how many of its 16-lane values stay live.) */
static kir_expr *combine(kir_builder *b, const double *c, int stride, const int *var, int n,
                         kir_expr *zero) {
  kir_expr *sum = NULL;
  for (int k = 0; k < n; k++) {
    double ck = c[k * stride];
    if (ck == 0) continue;
    double mag = ck < 0 ? -ck : ck;
    kir_expr *t = kir_var(b, var[k]);
    if (mag != 1) t = kir_mul(b, kir_f32(b, mag), t);
    if (!sum)
      sum = ck < 0 ? kir_un(b, KIR_NEG, t) : t;
    else
      sum = kir_bin(b, ck < 0 ? KIR_SUB : KIR_ADD, sum, t);
  }
  return sum ? sum : zero;
}

/* out[i][j] = Σ_k L[i][k]·in[k][j] (L: rows × n, row-major; in: n × cols), declared as
 * variables named nm. in and out index [i·MAX_ALPHA + j]. */
static void left_mul(kir_builder *b, const char *nm, const double *L, int rows, int n, const int *in,
                     int cols, kir_type ty, kir_expr *zero, int *out) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      int col[MAX_ALPHA];
      for (int k = 0; k < n; k++) col[k] = in[k * MAX_ALPHA + j];
      out[i * MAX_ALPHA + j] = decl_ij(b, nm, i, j, ty, combine(b, L + i * n, 1, col, n, zero));
    }
}

/* out[i][j] = Σ_k in[i][k]·R[j][k] (in: rows × n; R: cols × n, row-major): in times Rᵀ. */
static void right_mul_t(kir_builder *b, const char *nm, const int *in, int rows, int n,
                        const double *R, int cols, kir_type ty, kir_expr *zero, int *out) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++)
      out[i * MAX_ALPHA + j] = decl_ij(b, nm, i, j, ty, combine(b, R + j * n, 1, in + i * MAX_ALPHA, n, zero));
}

static int check_plan(kir_module *m, const kt_conv2d_desc *d, const kt_winograd_plan *p) {
  kt_winograd_plan q;
  if (kt_winograd_plan_for(d, p->vec, p->m, &q) || q.alpha != p->alpha || q.t != p->t ||
      p->rows < 1 || p->rows > KT_CPU_MAX_ROWS || p->nvec < 1 || p->nvec > KT_CPU_MAX_NV ||
      p->c_out_pad % ((int64_t)p->vec * p->nvec) || p->c_out_pad < d->c_out)
    return kt_fail(m, "the Winograd plan does not fit this convolution (a 3x3 window, stride 1, "
                      "no dilation, groups 1, m 2 or 4)");
  return 0;
}

int kt_winograd_weight(kir_module *m, const char *name, const kt_conv2d_desc *in,
                       const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  if (check_plan(m, &d, p)) return -1;
  /* One work-item per (output channel co < c_out_pad, input channel ci); a group is one
   * panel's channels, so its stores to each U[ξ] are one contiguous run. */
  const int A = p->alpha, CN = p->vec * p->nvec;
  const int64_t CP = p->c_out_pad, CI = d.c_in;
  kir_builder *b = kir_kernel_begin(m, name, CN, 1, 1);
  if (!b) return -1;
  int bw = kir_buffer_param(b, "w", KIR_F32, KIR_READ);
  int bu = kir_buffer_param(b, "u", KIR_F32, KIR_WRITE);
  const kir_type f = kir_t(KIR_F32);
  kir_expr *zero = kir_f32(b, 0.0);
  int co = kir_var_new(b, "co", kir_t(KIR_I32));
  int ci = kir_var_new(b, "ci", kir_t(KIR_I32));
  int src = kir_var_new(b, "src", kir_t(KIR_I32));
  int dst = kir_var_new(b, "dst", kir_t(KIR_I32));
  kir_decl(b, co, kir_global_id(b, 0));
  kir_decl(b, ci, kir_global_id(b, 1));
  /* channels past c_out read c_out − 1's weights and store zeros */
  kir_expr *co_read = CP > d.c_out ? kir_bin(b, KIR_MIN, kir_var(b, co), kir_i32(b, d.c_out - 1))
                                   : kir_var(b, co);
  kir_decl(b, src, kt_scaled(b, kir_add(b, kt_scaled(b, co_read, CI), kir_var(b, ci)), 9));
  /* U[ξ] starts at ξ·c_in·c_out_pad; channel co's panel at (co / CN)·c_in·CN, row ci at ci·CN */
  kir_decl(b, dst, kir_add(b, kir_add(b, kt_scaled(b, kir_div(b, kir_var(b, co), kir_i32(b, CN)), CI * CN),
                                      kt_scaled(b, kir_var(b, ci), CN)),
                           kir_mod(b, kir_var(b, co), kir_i32(b, CN))));
  int g[MAX_ALPHA * MAX_ALPHA] = {0}, t1[MAX_ALPHA * MAX_ALPHA] = {0}, u[MAX_ALPHA * MAX_ALPHA] = {0};
  for (int r = 0; r < 3; r++)
    for (int s = 0; s < 3; s++)
      g[r * MAX_ALPHA + s] = decl_ij(b, "g", r, s, f, kir_load(b, bw, kir_add(b, kir_var(b, src), kir_i32(b, r * 3 + s))));
  left_mul(b, "gw", mat_g(p->m), A, 3, g, 3, f, zero, t1);       /* G w: α × 3 */
  right_mul_t(b, "u", t1, A, 3, mat_g(p->m), A, f, zero, u);      /* (G w) Gᵀ: α × α */
  kir_expr *live = CP > d.c_out ? kt_lt(b, kir_var(b, co), d.c_out) : NULL;
  for (int i = 0; i < A; i++)
    for (int j = 0; j < A; j++) {
      kir_expr *v = kir_var(b, u[i * MAX_ALPHA + j]);
      if (live) v = kir_select(b, live, v, kir_f32(b, 0.0));
      kir_store(b, bu, kir_add(b, kir_var(b, dst), kir_i32(b, (int64_t)(i * A + j) * CI * CP)), v);
    }
  out_groups[0] = CP / CN;
  out_groups[1] = CI;
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

int kt_winograd_input(kir_module *m, const char *name, const kt_conv2d_desc *in,
                      const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  if (check_plan(m, &d, p)) return -1;
  /* One work-item per (tile of any image, input channel): its α×α patch of x, zeros outside x
   * (loads at clamped positions, their values selected away), transformed. Groups of 64 tiles
   * whichever images they lie in: PoCL runs a group as 16-lane vectors, and one image's tiles
   * per group (196 at ResNet-18's first stage, in groups of 49; 4 at its last) left lanes
   * idle (the kernel 43–44 → 29–31 ms per batch-16 run). */
  const int A = p->alpha, M = p->m;
  const int64_t TPI = p->tiles_h * p->tiles_w, CI = d.c_in;
  const int64_t T = p->t;
  const int lx = T >= 64 ? 64 : (int)T;
  kir_builder *b = kir_kernel_begin(m, name, lx, 1, 1);
  if (!b) return -1;
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int bv = kir_buffer_param(b, "v", KIR_F32, KIR_WRITE);
  const kir_type f = kir_t(KIR_F32), i32 = kir_t(KIR_I32);
  kir_expr *zero = kir_f32(b, 0.0);
  int t = kir_var_new(b, "t", i32);
  kir_decl(b, t, kir_global_id(b, 0));
  if (T % lx) kt_return_past(b, kir_var(b, t), T);
  int ci = kir_var_new(b, "ci", i32), img = kir_var_new(b, "img", i32), tl = kir_var_new(b, "tl", i32);
  kir_decl(b, ci, kir_global_id(b, 1));
  kir_decl(b, img, kir_div(b, kir_var(b, t), kir_i32(b, TPI)));
  kir_decl(b, tl, kir_mod(b, kir_var(b, t), kir_i32(b, TPI)));
  int plane = kir_var_new(b, "plane", i32);
  kir_decl(b, plane, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, img), CI), kir_var(b, ci)), d.h * d.w));
  int ih0 = kir_var_new(b, "ih0", i32), iw0 = kir_var_new(b, "iw0", i32);
  kir_decl(b, ih0, kir_add(b, kt_scaled(b, kir_div(b, kir_var(b, tl), kir_i32(b, p->tiles_w)), M),
                           kir_i32(b, -d.pad_top)));
  kir_decl(b, iw0, kir_add(b, kt_scaled(b, kir_mod(b, kir_var(b, tl), kir_i32(b, p->tiles_w)), M),
                           kir_i32(b, -d.pad_left)));
  /* Per patch row and column: inside x or not, and the clamped position read; every load is
   * made, its value selected. (Branch-free, the kernel vectorizes across work-items on PoCL: a
   * separate path of unguarded loads for the patches inside x made it 1.25× slower.) */
  int rin[MAX_ALPHA], roff[MAX_ALPHA], cin[MAX_ALPHA], coff[MAX_ALPHA];
  for (int k = 0; k < A; k++) {
    for (int axis = 0; axis < 2; axis++) {
      kir_expr *pos = kir_add(b, kir_var(b, axis ? iw0 : ih0), kir_i32(b, k));
      const int64_t size = axis ? d.w : d.h;
      int ok = decl_ij(b, axis ? "cin" : "rin", k, 0, kir_t(KIR_BOOL),
                       kir_bin(b, KIR_AND, kir_bin(b, KIR_GE, pos, kir_i32(b, 0)), kt_lt(b, pos, size)));
      kir_expr *cl = kir_bin(b, KIR_MIN, kir_bin(b, KIR_MAX, pos, kir_i32(b, 0)), kir_i32(b, size - 1));
      int off = decl_ij(b, axis ? "coff" : "roff", k, 0, i32, axis ? cl : kt_scaled(b, cl, d.w));
      (axis ? cin : rin)[k] = ok;
      (axis ? coff : roff)[k] = off;
    }
  }
  int x[MAX_ALPHA * MAX_ALPHA] = {0}, t1[MAX_ALPHA * MAX_ALPHA] = {0}, v[MAX_ALPHA * MAX_ALPHA] = {0};
  for (int i = 0; i < A; i++)
    for (int j = 0; j < A; j++) {
      kir_expr *at = kir_add(b, kir_var(b, plane), kir_add(b, kir_var(b, roff[i]), kir_var(b, coff[j])));
      kir_expr *ok = kir_bin(b, KIR_AND, kir_var(b, rin[i]), kir_var(b, cin[j]));
      x[i * MAX_ALPHA + j] = decl_ij(b, "x", i, j, f, kir_select(b, ok, kir_load(b, bx, at), kir_f32(b, 0.0)));
    }
  left_mul(b, "bx", mat_bt(M), A, A, x, A, f, zero, t1);      /* Bᵀ x */
  right_mul_t(b, "v", t1, A, A, mat_bt(M), A, f, zero, v);    /* (Bᵀ x) B */
  /* V[ξ][ci][t] */
  int dst = kir_var_new(b, "dst", i32);
  kir_decl(b, dst, kir_add(b, kt_scaled(b, kir_var(b, ci), T), kir_var(b, t)));
  for (int i = 0; i < A; i++)
    for (int j = 0; j < A; j++)
      kir_store(b, bv, kir_add(b, kir_var(b, dst), kir_i32(b, (int64_t)(i * A + j) * CI * p->t)),
                kir_var(b, v[i * MAX_ALPHA + j]));
  out_groups[0] = kt_ceil_div(T, lx);
  out_groups[1] = CI;
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

int kt_winograd_gemm(kir_module *m, const char *name, const kt_conv2d_desc *in,
                     const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  if (check_plan(m, &d, p)) return -1;
  /* Per work-item: `rows` tiles × CN channels of one ξ, over K = c_in; per k one scalar of V
   * per tile (the tiles are consecutive in V) and nvec vectors of U's panel. */
  const int VW = p->vec, NV = p->nvec, RM = p->rows, CN = VW * NV;
  const int64_t A2 = (int64_t)p->alpha * p->alpha, T = p->t, CP = p->c_out_pad, CI = d.c_in;
  const int64_t nby = kt_ceil_div(T, RM);
  const int LY = kt_cpu_group_items(nby, ITEMS_PER_GROUP);
  kir_builder *b = kir_kernel_begin(m, name, 1, LY, 1);
  if (!b) return -1;
  int bv = kir_buffer_param(b, "v", KIR_F32, KIR_READ);
  int bu = kir_buffer_param(b, "u", KIR_F32, KIR_READ);
  int bm = kir_buffer_param(b, "mt", KIR_F32, KIR_WRITE);
  const kir_type i32 = kir_t(KIR_I32);
  int col0 = kir_var_new(b, "col0", i32), row0 = kir_var_new(b, "row0", i32);
  int xi = kir_var_new(b, "xi", i32);
  kir_decl(b, col0, kir_mul(b, kir_global_id(b, 0), kir_i32(b, CN)));
  kir_decl(b, row0, kir_mul(b, kir_global_id(b, 1), kir_i32(b, RM)));
  if (nby % LY) kt_return_past(b, kir_var(b, row0), T);
  kir_decl(b, xi, kir_global_id(b, 2));
  /* Tiles past T read tile T − 1 and are not stored. */
  const int ragged = T % RM != 0;
  int arow[KT_CPU_MAX_ROWS];
  for (int i = 0; i < RM; i++) {
    kir_expr *r = kir_add(b, kir_var(b, row0), kir_i32(b, i));
    if (ragged) r = kir_bin(b, KIR_MIN, r, kir_i32(b, T - 1));
    arow[i] = decl_ij(b, "arow", i, 0, i32, kir_add(b, kt_scaled(b, kir_var(b, xi), CI * T), r));
  }
  int bbase = kir_var_new(b, "bbase", i32);
  kir_decl(b, bbase, kir_add(b, kt_scaled(b, kir_var(b, xi), CI * CP), kt_scaled(b, kir_var(b, col0), CI)));
  int acc[KT_CPU_MAX_ROWS][KT_CPU_MAX_NV];
  kt_cpu_block_zero(b, RM, NV, VW, acc);
  int ci = kir_var_new(b, "ci", i32), ao = kir_var_new(b, "ao", i32);
  kir_for(b, ci, kir_i32(b, 0), kir_i32(b, CI), kir_i32(b, 1));
  kir_decl(b, ao, kt_scaled(b, kir_var(b, ci), T));
  kir_expr *a_at[KT_CPU_MAX_ROWS];
  for (int i = 0; i < RM; i++) a_at[i] = kir_add(b, kir_var(b, arow[i]), kir_var(b, ao));
  kt_cpu_block_step(b, bv, a_at, RM, bu, kir_add(b, kir_var(b, bbase), kt_scaled(b, kir_var(b, ci), CN)),
                    NV, VW, acc);
  kir_end(b); /* ci */
  /* Mt[ξ][t][co]: whole vectors, a work-item's rows one contiguous run (as Mt[t][ξ][co], rows
   * α²·c_out_pad floats apart, the GEMMs took 2% longer) */
  for (int i = 0; i < RM; i++) {
    kir_expr *t = kir_add(b, kir_var(b, row0), kir_i32(b, i));
    if (ragged) kir_if(b, kt_lt(b, t, T));
    kir_expr *at = kir_add(b, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, xi), T), t), CP), kir_var(b, col0));
    for (int v = 0; v < NV; v++)
      kir_store(b, bm, v ? kir_add(b, at, kir_i32(b, v * VW)) : at, kir_var(b, acc[i][v]));
    if (ragged) kir_end(b);
  }
  out_groups[0] = CP / CN;
  out_groups[1] = kt_ceil_div(nby, LY);
  out_groups[2] = A2;
  return kir_kernel_end(b, out_kernel);
}

int kt_winograd_output(kir_module *m, const char *name, const kt_conv2d_desc *in,
                       const kt_winograd_plan *p, kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  kt_conv2d_desc d = kt_conv2d_normalized(in);
  if (check_plan(m, &d, p)) return -1;
  int64_t ho, wo;
  kt_conv2d_out_size(&d, &ho, &wo);
  /* One work-item per (vector of VW output channels, tile): α² vectors of Mt in, m×m
   * vectors out, stored lane by lane (each lane is a channel, its own plane of y). */
  const int VW = p->vec, A = p->alpha, M = p->m;
  const int64_t CP = p->c_out_pad, TPI = p->tiles_h * p->tiles_w;
  const int64_t ncv = kt_ceil_div(d.c_out, VW);
  const int lx = ncv >= 8 ? 8 : (int)ncv;
  const int ly = kt_cpu_group_items(p->t, 64 / lx);
  kir_builder *b = kir_kernel_begin(m, name, lx, ly, 1);
  if (!b) return -1;
  int bm = kir_buffer_param(b, "mt", KIR_F32, KIR_READ);
  int bbias = d.has_bias ? kir_buffer_param(b, "bias", KIR_F32, KIR_READ) : -1;
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  const kir_type vt = kir_tv(KIR_F32, VW), i32 = kir_t(KIR_I32);
  kir_expr *zero = kir_cast(b, vt, kir_f32(b, 0.0));
  int cv = kir_var_new(b, "cv", i32), t = kir_var_new(b, "t", i32);
  kir_decl(b, cv, kir_global_id(b, 0));
  kir_decl(b, t, kir_global_id(b, 1));
  if (ncv % lx) kt_return_past(b, kir_var(b, cv), ncv);
  if (p->t % ly) kt_return_past(b, kir_var(b, t), p->t);
  int base = kir_var_new(b, "base", i32);
  kir_decl(b, base, kir_add(b, kt_scaled(b, kir_var(b, t), CP), kt_scaled(b, kir_var(b, cv), VW)));
  int mv[MAX_ALPHA * MAX_ALPHA] = {0}, t1[MAX_ALPHA * MAX_ALPHA] = {0}, o[MAX_ALPHA * MAX_ALPHA] = {0};
  for (int i = 0; i < A; i++)
    for (int j = 0; j < A; j++)
      mv[i * MAX_ALPHA + j] = decl_ij(b, "mv", i, j, vt,
                                      kir_load_vec(b, bm, kir_add(b, kir_var(b, base), kir_i32(b, (int64_t)(i * A + j) * p->t * CP)), VW));
  left_mul(b, "am", mat_at(M), M, A, mv, A, vt, zero, t1);   /* Aᵀ Mt */
  right_mul_t(b, "o", t1, M, A, mat_at(M), M, vt, zero, o);  /* (Aᵀ Mt) A */
  const int ragged_c = d.c_out % VW != 0;
  if (bbias >= 0 && !ragged_c) {
    int bv = kir_var_new(b, "bias_v", vt);
    kir_decl(b, bv, kir_load_vec(b, bbias, kt_scaled(b, kir_var(b, cv), VW), VW));
    for (int i = 0; i < M; i++)
      for (int j = 0; j < M; j++)
        kir_assign(b, o[i * MAX_ALPHA + j], kir_add(b, kir_var(b, o[i * MAX_ALPHA + j]), kir_var(b, bv)));
  }
  /* the tile's first output: image img, row th·m, column tw·m */
  int img = kir_var_new(b, "img", i32), rem = kir_var_new(b, "rem", i32);
  int oh0 = kir_var_new(b, "oh0", i32), ow0 = kir_var_new(b, "ow0", i32);
  int pix = kir_var_new(b, "pix", i32);
  kir_decl(b, img, kir_div(b, kir_var(b, t), kir_i32(b, TPI)));
  kir_decl(b, rem, kir_mod(b, kir_var(b, t), kir_i32(b, TPI)));
  kir_decl(b, oh0, kt_scaled(b, kir_div(b, kir_var(b, rem), kir_i32(b, p->tiles_w)), M));
  kir_decl(b, ow0, kt_scaled(b, kir_mod(b, kir_var(b, rem), kir_i32(b, p->tiles_w)), M));
  kir_decl(b, pix, kir_add(b, kt_scaled(b, kir_add(b, kt_scaled(b, kir_var(b, img), d.c_out * ho),
                                                   kir_var(b, oh0)),
                                        wo),
                           kir_var(b, ow0)));
  /* A row's m outputs as one vector when none can fall past the right edge and the epilogue
   * takes vectors; else one at a time, each guarded where the tiles overrun the output. */
  const int row_vec = wo % M == 0 && (!d.epilogue.fn || d.epilogue.plane_vectors);
  for (int l = 0; l < VW; l++) {
    kir_expr *co = kir_add(b, kt_scaled(b, kir_var(b, cv), VW), kir_i32(b, l));
    if (ragged_c) kir_if(b, kt_lt(b, co, d.c_out));
    int lin0 = decl_ij(b, "lin", l, 0, i32, kir_add(b, kir_var(b, pix), kt_scaled(b, co, ho * wo)));
    kir_expr *bias = NULL;
    if (bbias >= 0 && ragged_c) {
      int bs = decl_ij(b, "bias", l, 0, kir_t(KIR_F32), kir_load(b, bbias, co));
      bias = kir_var(b, bs);
    }
    for (int i = 0; i < M; i++) {
      if (ho % M) kir_if(b, kt_lt(b, kir_add(b, kir_var(b, oh0), kir_i32(b, i)), ho));
      kir_expr *vals[MAX_ALPHA];
      for (int j = 0; j < M; j++) {
        vals[j] = kir_component(b, kir_var(b, o[i * MAX_ALPHA + j]), l);
        if (bias) vals[j] = kir_add(b, vals[j], bias);
      }
      kir_expr *row_at = kir_add(b, kir_var(b, lin0), kir_i32(b, (int64_t)i * wo));
      for (int j = 0; j < (row_vec ? 1 : M); j++) {
        if (!row_vec && wo % M) kir_if(b, kt_lt(b, kir_add(b, kir_var(b, ow0), kir_i32(b, j)), wo));
        kir_expr *val = row_vec ? kir_vector(b, M, vals) : vals[j];
        kir_expr *lin = j ? kir_add(b, row_at, kir_i32(b, j)) : row_at;
        if (d.epilogue.fn) {
          kt_out_pos at = {lin, NULL, NULL, NULL};
          val = d.epilogue.fn(b, val, &at, d.epilogue.user);
          if (!val) {
            kir_kernel_end(b, NULL);
            return kt_fail(m, "the fused epilogue could not be built");
          }
        }
        kir_store(b, by, lin, val);
        if (!row_vec && wo % M) kir_end(b);
      }
      if (ho % M) kir_end(b);
    }
    if (ragged_c) kir_end(b);
  }
  out_groups[0] = kt_ceil_div(ncv, lx);
  out_groups[1] = kt_ceil_div(p->t, ly);
  out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

/* test_templates_compute.c — the compute kernel templates (matmul, conv2d, the integer GEMM, pool, reduce,
 * rowwise, cumsum, pad, resize, attention, and the fast math of fastmath.h) printed as OpenCL C, built and run on the first OpenCL device (PoCL here), and
 * compared with plain C references computed in double.
 *
 * Tolerance: |got − ref| <= 1e-4 · max(|ref|, floor), i.e. relative 1e-4, with values smaller
 * than `floor` compared absolutely at 1e-4·floor. floor is 1 for sums/products of O(1) data
 * (matmul, conv, reduce sum, layer_norm, log_softmax: cancellation makes small results only
 * absolutely accurate) and 1e-6 for max/min/pooling/softmax probabilities (exact or
 * relatively accurate). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kir.h"
#include "templates/argreduce.h"
#include "templates/attention.h"
#include "templates/conv2d.h"
#include "templates/conv_transpose2d.h"
#include "templates/cumsum.h"
#include "templates/elementwise.h"
#include "templates/fastmath.h"
#include "templates/matmul_cpu.h"
#include "templates/matmul.h"
#include "templates/pad.h"
#include "templates/pool.h"
#include "templates/qgemm.h"
#include "templates/qlinear.h"
#include "templates/reduce.h"
#include "templates/resize.h"
#include "templates/rowwise.h"

#include "cl_harness.c"
#include "kt_check.h"

/* ---------------------------------------------------------------- running a kernel */

static clh g_cl;
static int g_cl_ready;

typedef struct run_arg {
  void *host;      /* inputs: data to upload; outputs: filled from the device (the buffer's
                      storage type: floats, ints or bytes) */
  size_t n;        /* elements */
} run_arg;

/* Runs kernel `k` on the shared harness's device with one argument per buffer parameter, in
 * the kernel's declared order (which is the order each template documents). */
static void run_kernel(const kir_kernel *k, const int64_t groups[3], const run_arg *args,
                       int n_args) {
  if (!g_cl_ready) {
    ck_assert_msg(clh_init(&g_cl) == 0, "no OpenCL device (install pocl-opencl-icd)");
    g_cl_ready = 1;
  }
  ck_assert_int_eq(k->n_buffers, n_args);
  void *host[12];
  size_t count[12];
  ck_assert_int_le(n_args, 12);
  for (int i = 0; i < n_args; i++) {
    host[i] = args[i].host;
    count[i] = args[i].n;
  }
  for (int d = 0; d < 3; d++) ck_assert_int_ge(groups[d], 1);
  ck_assert_msg(clh_run(&g_cl, k, groups, host, count) == 0, "%s: build or run failed", k->name);
}

/* ---------------------------------------------------------------- data and comparison */

static uint64_t g_seed = 12345;

static float frand(void) {
  g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(g_seed >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
}

static float *rand_vec(size_t n) {
  float *v = malloc((n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(v);
  for (size_t i = 0; i < n; i++) v[i] = frand();
  return v;
}

/* Output buffers start as NaN: an element the kernel never writes fails the comparison. */
static float *nan_vec(size_t n) {
  float *v = malloc((n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(v);
  for (size_t i = 0; i < n; i++) v[i] = NAN;
  return v;
}

static void expect_close(const char *what, const float *got, const double *ref, size_t n,
                         double floor_mag) {
  for (size_t i = 0; i < n; i++) {
    double mag = fabs(ref[i]) > floor_mag ? fabs(ref[i]) : floor_mag;
    double diff = fabs((double)got[i] - ref[i]);
    ck_assert_msg(diff <= 1e-4 * mag, "%s: element %zu: got %.9g, expected %.9g", what, i,
                  (double)got[i], ref[i]);
  }
}

/* ---------------------------------------------------------------- matmul */

static void check_matmul(const char *what, kt_matmul_desc d) {
  int64_t nb = 1, a_n = d.m * d.k, b_n = d.k * d.n;
  for (int i = 0; i < d.n_batch; i++) {
    nb *= d.batch[i];
    a_n += (d.batch[i] - 1) * d.a_batch_stride[i];
    b_n += (d.batch[i] - 1) * d.b_batch_stride[i];
  }
  float *a = rand_vec(a_n), *bm = rand_vec(b_n), *bias = rand_vec(d.n);
  float *c = nan_vec(nb * d.m * d.n);
  double *ref = malloc(nb * d.m * d.n * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t bi = 0; bi < nb; bi++) {
    int64_t ao = 0, bo = 0, rem = bi;
    for (int i = d.n_batch - 1; i >= 0; i--) {
      int64_t digit = rem % d.batch[i];
      rem /= d.batch[i];
      ao += digit * d.a_batch_stride[i];
      bo += digit * d.b_batch_stride[i];
    }
    for (int64_t i = 0; i < d.m; i++)
      for (int64_t j = 0; j < d.n; j++) {
        double s = d.has_bias ? bias[j] : 0.0;
        for (int64_t k = 0; k < d.k; k++) {
          double bv = d.trans_b ? bm[bo + j * d.k + k] : bm[bo + k * d.n + j];
          s += (double)a[ao + i * d.k + k] * bv;
        }
        ref[(bi * d.m + i) * d.n + j] = s;
      }
  }
  kir_module *m = kir_module_new();
  ck_assert_ptr_nonnull(m);
  kir_kernel *k;
  int64_t g[3];
  /* A packed B (b_panels): the panels kt_cpu_pack_bt writes from trans_b's N × K source, or
   * kt_cpu_pack_b from a K × N one. */
  float *bk = bm;
  int64_t bk_n = b_n;
  if (d.b_panels) {
    const int64_t panel = kt_matmul_cpu_panel(&d), n_pad = (d.n + panel - 1) / panel * panel;
    bk_n = d.k * n_pad;
    bk = nan_vec((size_t)bk_n);
    ck_assert_int_eq(d.trans_b ? kt_cpu_pack_bt(m, "pack", d.n, d.k, n_pad, panel, &k, g)
                               : kt_cpu_pack_b(m, "pack", d.n, d.k, d.n, n_pad, panel, d.max_vec, &k, g),
                     0);
    run_kernel(k, g, (run_arg[]){{bm, b_n}, {bk, bk_n}}, 2);
  }
  ck_assert_msg(kt_matmul(m, "matmul", &d, &k, g) == 0, "%s: kt_matmul failed", what);
  run_arg args[4];
  int na = 0;
  args[na++] = (run_arg){a, a_n};
  args[na++] = (run_arg){bk, bk_n};
  if (d.has_bias) args[na++] = (run_arg){bias, d.n};
  args[na++] = (run_arg){c, nb * d.m * d.n};
  run_kernel(k, g, args, na);
  expect_close(what, c, ref, nb * d.m * d.n, 1.0);
  kir_module_free(m);
  if (bk != bm) free(bk);
  free(a), free(bm), free(bias), free(c), free(ref);
}

START_TEST(matmul_small_and_odd) {
  check_matmul("1x1x1", (kt_matmul_desc){.m = 1, .n = 1, .k = 1});
  check_matmul("3x17x33", (kt_matmul_desc){.m = 3, .n = 17, .k = 33});
  check_matmul("33x17x19", (kt_matmul_desc){.m = 33, .n = 17, .k = 19});
  check_matmul("17x1x5", (kt_matmul_desc){.m = 17, .n = 1, .k = 5});
  check_matmul("130x3x20 (skinny n)", (kt_matmul_desc){.m = 130, .n = 3, .k = 20});
}
END_TEST

START_TEST(matmul_exact_tiles) {
  /* Multiples of the 64×64×16 tile: the kernel has no edge guards at all. */
  check_matmul("64x64x64", (kt_matmul_desc){.m = 64, .n = 64, .k = 64});
  check_matmul("128x64x32", (kt_matmul_desc){.m = 128, .n = 64, .k = 32});
}
END_TEST

START_TEST(matmul_linear_transposed_bias) {
  /* linear: y = x @ wᵀ + b with w [out, in]. */
  check_matmul("linear 33x17x19", (kt_matmul_desc){.m = 33, .n = 17, .k = 19, .trans_b = 1, .has_bias = 1});
  check_matmul("linear mlp fc1 1x256x784",
               (kt_matmul_desc){.m = 1, .n = 256, .k = 784, .trans_b = 1, .has_bias = 1});
  check_matmul("linear 5x10x3", (kt_matmul_desc){.m = 5, .n = 10, .k = 3, .trans_b = 1, .has_bias = 1});
  check_matmul("bias without transpose", (kt_matmul_desc){.m = 7, .n = 9, .k = 11, .has_bias = 1});
  /* The CPU kernel (matmul_cpu.c, "nt"): 4 × 6 blocks where N is a multiple of 6 — ragged M,
   * K's scalar remainder, one block short of a group — else 4 × 4. */
  check_matmul("cpu linear 10x12x37",
               (kt_matmul_desc){.m = 10, .n = 12, .k = 37, .trans_b = 1, .has_bias = 1, .device_class = KT_DEVICE_CPU});
  check_matmul("cpu linear 128x30x64",
               (kt_matmul_desc){.m = 128, .n = 30, .k = 64, .trans_b = 1, .device_class = KT_DEVICE_CPU});
  check_matmul("cpu linear 9x10x20 (4 x 4)",
               (kt_matmul_desc){.m = 9, .n = 10, .k = 20, .trans_b = 1, .has_bias = 1, .device_class = KT_DEVICE_CPU});
  /* The "nn" kernel over a packed weight (b_panels): a ragged last panel (its columns one at a
   * time), ragged M, groups of row blocks spread evenly; and 4-wide vectors (Vulkan's). */
  check_matmul("cpu packed 150x41x40", (kt_matmul_desc){.m = 150, .n = 41, .k = 40, .trans_b = 1, .has_bias = 1,
                                                        .device_class = KT_DEVICE_CPU, .b_panels = 1});
  check_matmul("cpu packed 72x64x9", (kt_matmul_desc){.m = 72, .n = 64, .k = 9, .trans_b = 1,
                                                      .device_class = KT_DEVICE_CPU, .b_panels = 1});
  check_matmul("cpu packed vec4 20x23x17", (kt_matmul_desc){.m = 20, .n = 23, .k = 17, .trans_b = 1, .has_bias = 1,
                                                            .device_class = KT_DEVICE_CPU, .max_vec = 4, .b_panels = 1});
  check_matmul("cpu packed from K x N 67x45x30", (kt_matmul_desc){.m = 67, .n = 45, .k = 30, .has_bias = 1,
                                                                  .device_class = KT_DEVICE_CPU, .b_panels = 1});
  /* Only the CPU kernel reads panels. */
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_int_eq(kt_matmul(m, "matmul", &(kt_matmul_desc){.m = 64, .n = 64, .k = 64, .b_panels = 1}, &k, g), -1);
  ck_assert_ptr_nonnull(strstr(kir_module_error(m), "packed B"));
  kir_module_free(m);
}
END_TEST

START_TEST(matmul_batched_broadcast) {
  /* A [2,1,5,9] @ B [1,3,9,7] → C [2,3,5,7] */
  check_matmul("broadcast batch", (kt_matmul_desc){.m = 5, .n = 7, .k = 9, .n_batch = 2, .batch = {2, 3},
                                                   .a_batch_stride = {5 * 9, 0},
                                                   .b_batch_stride = {0, 9 * 7}});
  /* attention-like: [4, 16, 8] @ [4, 8, 16] and with B given as [4, 16, 8] transposed */
  check_matmul("batched 4", (kt_matmul_desc){.m = 16, .n = 16, .k = 8, .n_batch = 1, .batch = {4},
                                             .a_batch_stride = {128}, .b_batch_stride = {128}});
  check_matmul("batched 4 transposed", (kt_matmul_desc){.m = 16, .n = 17, .k = 8, .n_batch = 1, .batch = {4},
                                                        .a_batch_stride = {128}, .b_batch_stride = {136},
                                                        .trans_b = 1});
  /* a matrix times a batch of matrices: A broadcast, B batched */
  check_matmul("A broadcast", (kt_matmul_desc){.m = 3, .n = 5, .k = 4, .n_batch = 1, .batch = {3},
                                               .a_batch_stride = {0}, .b_batch_stride = {20}});
}
END_TEST

START_TEST(matmul_explicit_tiles) {
  check_matmul("tiles 32x32x8 reg 2x4",
               (kt_matmul_desc){.m = 70, .n = 45, .k = 37, .tile_m = 32, .tile_n = 32, .tile_k = 8,
                                .reg_m = 2, .reg_n = 4});
  check_matmul("tiles 16x16x16 reg 1x1 transposed",
               (kt_matmul_desc){.m = 20, .n = 33, .k = 50, .trans_b = 1, .tile_m = 16, .tile_n = 16,
                                .tile_k = 16, .reg_m = 1, .reg_n = 1});
  check_matmul("tiles 8x64x4 reg 1x8 (ragged cooperative load)",
               (kt_matmul_desc){.m = 9, .n = 65, .k = 13, .tile_m = 8, .tile_n = 64, .tile_k = 4,
                                .reg_m = 1, .reg_n = 8, .has_bias = 1});
  /* GPUs' wide tiles: 8×16 blocks, local tiles double-buffered; ragged M, N and K (a last step
   * of 8), run on PoCL. */
  check_matmul("tiles 128x256x16 reg 8x16 double-buffered",
               (kt_matmul_desc){.m = 130, .n = 300, .k = 40, .tile_m = 128, .tile_n = 256, .tile_k = 16,
                                .reg_m = 8, .reg_n = 16, .has_bias = 1, .device_class = KT_DEVICE_GPU});
  /* which plain f32 GEMMs take them: those that make 128 groups of them, whole; 128×256 on
   * OpenCL, 256×128 through Vulkan */
  kt_matmul_desc p = {.m = 2048, .n = 2048, .k = 2048, .device_class = KT_DEVICE_GPU, .pragma_unroll = 1};
  kt_matmul_pick_tiles(&p);
  ck_assert(p.tile_m == 128 && p.tile_n == 256 && p.reg_m == 8 && p.reg_n == 16);
  ck_assert_int_eq(kt_matmul_split_slices(&p), 1);
  p = (kt_matmul_desc){.m = 1024, .n = 1024, .k = 1024, .device_class = KT_DEVICE_GPU, .pragma_unroll = 1};
  kt_matmul_pick_tiles(&p);
  ck_assert(p.tile_m == 128 && p.tile_n == 128 && p.reg_m == 8 && p.reg_n == 8);
  p = (kt_matmul_desc){.m = 2048, .n = 2048, .k = 2048, .device_class = KT_DEVICE_GPU}; /* Vulkan */
  kt_matmul_pick_tiles(&p);
  ck_assert(p.tile_m == 256 && p.tile_n == 128 && p.reg_m == 16 && p.reg_n == 8);
}
END_TEST

START_TEST(matmul_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_matmul_desc d = {.m = 8, .n = 8, .k = 8, .tile_m = 128, .tile_n = 128, .tile_k = 64, .reg_m = 4, .reg_n = 4};
  ASSERT_REJECTS(m, kt_matmul(m, "too_much_local", &d, &k, g), "48 KiB of local memory");
  ck_assert_ptr_null(k);
  d = (kt_matmul_desc){.m = 8, .n = 8, .k = 8, .tile_m = 30, .reg_m = 4};
  ASSERT_REJECTS(m, kt_matmul(m, "reg_not_dividing", &d, &k, g), "dividing its tile");
  d = (kt_matmul_desc){.m = 0, .n = 8, .k = 8};
  ASSERT_REJECTS(m, kt_matmul(m, "empty", &d, &k, g), "got 0, 8, 8");
  d = (kt_matmul_desc){.m = 65536, .n = 65536, .k = 2};
  ASSERT_REJECTS(m, kt_matmul(m, "huge", &d, &k, g), "2^31 elements");
  kt_matmul_desc p = {.m = 1, .n = 1000, .k = 10};
  kt_matmul_pick_tiles(&p);
  ck_assert_int_eq(p.tile_m, 1);
  ck_assert_int_le((p.tile_m + p.tile_n) * p.tile_k * 4, 48 * 1024);
  ck_assert_int_eq(kir_module_count(m), 0);
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- conv2d */

/* Runs convolution kernel k on its buffers: the input (x, or its padded copy), the weight (as
 * given, or packed), the bias where d has one, and y (a gathered GEMM: the weight first). */
static void run_conv(const kir_kernel *k, const int64_t gr[3], const kt_conv2d_desc *d, run_arg in, run_arg wt,
                     float *bias, run_arg y) {
  run_arg args[4];
  int na = 0;
  args[na++] = in;
  args[na++] = wt;
  if (d->has_bias) args[na++] = (run_arg){bias, d->c_out};
  args[na++] = y;
  run_kernel(k, gr, args, na);
}

/* The convolution *d_io of x and w, plus bias where it has one, in double: its n·c_out·ho·wo
 * outputs (malloc'd). Its zero strides, dilations and groups are made 1 in *d_io too. */
static double *conv_reference(kt_conv2d_desc *d_io, const float *x, const float *w, const float *bias) {
  kt_conv2d_desc d = *d_io;
  int64_t ho, wo;
  ck_assert_int_eq(kt_conv2d_out_size(&d, &ho, &wo), 0);
  if (!d.stride_h) d.stride_h = 1;
  if (!d.stride_w) d.stride_w = 1;
  if (!d.dil_h) d.dil_h = 1;
  if (!d.dil_w) d.dil_w = 1;
  if (!d.groups) d.groups = 1;
  *d_io = d;
  int64_t cin_g = d.c_in / d.groups, cout_g = d.c_out / d.groups;
  double *ref = malloc((size_t)(d.n * d.c_out * ho * wo) * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t oc = 0; oc < d.c_out; oc++)
      for (int64_t oh = 0; oh < ho; oh++)
        for (int64_t ow = 0; ow < wo; ow++) {
          int64_t g = oc / cout_g;
          double s = d.has_bias ? bias[oc] : 0.0;
          for (int64_t ci = 0; ci < cin_g; ci++)
            for (int64_t r = 0; r < d.kh; r++)
              for (int64_t q = 0; q < d.kw; q++) {
                int64_t ih = oh * d.stride_h - d.pad_top + r * d.dil_h;
                int64_t iw = ow * d.stride_w - d.pad_left + q * d.dil_w;
                if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                s += (double)x[((n * d.c_in + g * cin_g + ci) * d.h + ih) * d.w + iw] *
                     w[((oc * cin_g + ci) * d.kh + r) * d.kw + q];
              }
          ref[((n * d.c_out + oc) * ho + oh) * wo + ow] = s;
        }
  return ref;
}

/* cpu_vec 0: the direct kernel (conv2d.c); else the CPU implicit GEMM (conv2d_cpu.c) with
 * vectors of at most cpu_vec lanes (16: OpenCL; 4: what Vulkan allows), or with wino_m 2 or 4
 * Winograd's F(m×m, 3×3) (conv2d_winograd.c) with such vectors, or with wino_m −1 the
 * depthwise kernel (conv2d_dw.c). */
static void check_conv_wino(const char *what, kt_conv2d_desc d, int cpu_vec, int wino_m) {
  int64_t ho, wo;
  ck_assert_int_eq(kt_conv2d_out_size(&d, &ho, &wo), 0);
  int64_t cin_g = d.c_in / (d.groups ? d.groups : 1);
  int64_t xn = d.n * d.c_in * d.h * d.w, wn = d.c_out * cin_g * d.kh * d.kw;
  int64_t yn = d.n * d.c_out * ho * wo;
  float *x = rand_vec(xn), *w = rand_vec(wn), *bias = rand_vec(d.c_out), *y = nan_vec(yn);
  double *ref = conv_reference(&d, x, w, bias);
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t gr[3];
  if (wino_m > 0) {
    /* U from w, V from x, their GEMMs into Mt, then y from Mt. */
    kt_winograd_plan p;
    ck_assert_msg(kt_winograd_plan_for(&d, cpu_vec, wino_m, &p) == 0, "%s: no Winograd plan", what);
    float *u = nan_vec(p.u_numel), *v = nan_vec(p.v_numel), *mt = nan_vec(p.mt_numel);
    ck_assert_int_eq(kt_winograd_weight(m, "wino_w", &d, &p, &k, gr), 0);
    run_kernel(k, gr, (run_arg[]){{w, wn}, {u, p.u_numel}}, 2);
    ck_assert_int_eq(kt_winograd_input(m, "wino_x", &d, &p, &k, gr), 0);
    run_kernel(k, gr, (run_arg[]){{x, xn}, {v, p.v_numel}}, 2);
    ck_assert_int_eq(kt_winograd_gemm(m, "wino_gemm", &d, &p, &k, gr), 0);
    run_kernel(k, gr, (run_arg[]){{v, p.v_numel}, {u, p.u_numel}, {mt, p.mt_numel}}, 3);
    ck_assert_int_eq(kt_winograd_output(m, "wino_y", &d, &p, &k, gr), 0);
    run_arg args[3];
    int na = 0;
    args[na++] = (run_arg){mt, p.mt_numel};
    if (d.has_bias) args[na++] = (run_arg){bias, d.c_out};
    args[na++] = (run_arg){y, yn};
    run_kernel(k, gr, args, na);
    free(u), free(v), free(mt);
  } else if (wino_m < 0) {
    /* Depthwise on CPUs: x padded with each row's slack, then the row-vector kernel. */
    kt_conv2d_cpu_plan p;
    ck_assert_msg(kt_conv2d_dw_plan_for(&d, cpu_vec, &p) == 0, "%s: no depthwise plan", what);
    float *xp = nan_vec(p.xp_numel);
    ck_assert_int_eq(kt_conv2d_dw_pad(m, "pad", &d, &p, &k, gr), 0);
    run_kernel(k, gr, (run_arg[]){{x, xn}, {xp, p.xp_numel}}, 2);
    ck_assert_msg(kt_conv2d_dw_cpu(m, "dw", &d, &p, &k, gr) == 0, "%s: kt_conv2d_dw_cpu failed", what);
    run_conv(k, gr, &d, (run_arg){xp, p.xp_numel}, (run_arg){w, wn}, bias, (run_arg){y, yn});
    free(xp);
  } else if (cpu_vec) {
    /* The CPU path: the weight packed as K × c_out_pad, x padded, then the implicit GEMM. */
    kt_conv2d_cpu_plan p;
    ck_assert_msg(kt_conv2d_cpu_plan_for(&d, cpu_vec, &p) == 0, "%s: no CPU plan", what);
    int64_t kk = cin_g * d.kh * d.kw;
    float *wt = nan_vec(p.wt_numel), *xp = p.padded ? nan_vec(p.xp_numel) : x;
    ck_assert_int_eq(kt_cpu_pack_bt(m, "pack", d.c_out, kk, p.c_out_pad, (int64_t)p.vec * p.nvec, &k, gr), 0);
    run_kernel(k, gr, (run_arg[]){{w, wn}, {wt, p.wt_numel}}, 2);
    if (p.padded) {
      ck_assert_int_eq(kt_conv2d_cpu_pad(m, "pad", &d, &p, &k, gr), 0);
      run_kernel(k, gr, (run_arg[]){{x, xn}, {xp, p.xp_numel}}, 2);
    }
    ck_assert_msg(kt_conv2d_cpu(m, "conv", &d, &p, &k, gr) == 0, "%s: kt_conv2d_cpu failed", what);
    run_conv(k, gr, &d, (run_arg){xp, p.padded ? p.xp_numel : xn}, (run_arg){wt, p.wt_numel}, bias,
             (run_arg){y, yn});
    free(wt);
    if (p.padded) free(xp);
  } else {
    ck_assert_msg(kt_conv2d(m, "conv", &d, &k, gr) == 0, "%s: kt_conv2d failed", what);
    run_conv(k, gr, &d, (run_arg){x, xn}, (run_arg){w, wn}, bias, (run_arg){y, yn});
  }
  expect_close(what, y, ref, yn, 1.0);
  kir_module_free(m);
  free(x), free(w), free(bias), free(y), free(ref);
}

/* The convolution as the GPU-class tiled GEMM (kt_conv2d_gemm_desc: B gathered from x) on
 * tile_m × tile_n tiles of reg_m × reg_n blocks, run on PoCL against the reference. */
static void check_conv_gemm(const char *what, kt_conv2d_desc d, int tile_m, int tile_n, int reg_m, int reg_n,
                            int unsigned_bounds) {
  int64_t ho, wo;
  ck_assert_int_eq(kt_conv2d_out_size(&d, &ho, &wo), 0);
  int64_t xn = d.n * d.c_in * d.h * d.w, wn = d.c_out * d.c_in * d.kh * d.kw, yn = d.n * d.c_out * ho * wo;
  float *x = rand_vec(xn), *w = rand_vec(wn), *bias = rand_vec(d.c_out), *y = nan_vec(yn);
  double *ref = conv_reference(&d, x, w, bias);
  kt_matmul_desc md;
  ck_assert_int_eq(kt_conv2d_gemm_desc(&d, &md), 0);
  ck_assert_msg(md.b_im2col.on, "%s: not a gathered GEMM", what);
  md.device_class = KT_DEVICE_GPU;
  md.tile_m = tile_m, md.tile_n = tile_n, md.reg_m = reg_m, md.reg_n = reg_n;
  md.unsigned_bounds = unsigned_bounds;
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t gr[3];
  ck_assert_msg(kt_matmul(m, "conv_gemm", &md, &k, gr) == 0, "%s: %s", what, kir_module_error(m));
  run_conv(k, gr, &d, (run_arg){w, wn}, (run_arg){x, xn}, bias, (run_arg){y, yn}); /* the GEMM's A, B */
  expect_close(what, y, ref, yn, 1.0);
  kir_module_free(m);
  free(x), free(w), free(bias), free(y), free(ref);
}

static void check_conv_on(const char *what, kt_conv2d_desc d, int cpu_vec) {
  check_conv_wino(what, d, cpu_vec, 0);
}
static void check_conv(const char *what, kt_conv2d_desc d) { check_conv_on(what, d, 0); }

/* stride, dilation and groups left 0 mean 1 */
#define CONV(...) ((kt_conv2d_desc){__VA_ARGS__})

/* conv_transpose2d against its definition written the other way round: each input pixel
 * scatters its window into the (unpadded) full output, which is then cropped. */
static void check_conv_transpose(const char *what, kt_conv_transpose2d_desc d) {
  int64_t ho, wo;
  ck_assert_int_eq(kt_conv_transpose2d_out_size(&d, &ho, &wo), 0);
  int64_t sh = d.stride_h ? d.stride_h : 1, sw = d.stride_w ? d.stride_w : 1;
  int64_t dh = d.dil_h ? d.dil_h : 1, dw = d.dil_w ? d.dil_w : 1, groups = d.groups ? d.groups : 1;
  int64_t cin_g = d.c_in / groups, cout_g = d.c_out / groups;
  int64_t xn = d.n * d.c_in * d.h * d.w, wn = d.c_in * cout_g * d.kh * d.kw;
  int64_t yn = d.n * d.c_out * ho * wo;
  float *x = rand_vec(xn), *w = rand_vec(wn), *bias = rand_vec(d.c_out), *y = nan_vec(yn);
  double *ref = calloc((size_t)yn, sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c_in; c++)
      for (int64_t ih = 0; ih < d.h; ih++)
        for (int64_t iw = 0; iw < d.w; iw++)
          for (int64_t ol = 0; ol < cout_g; ol++)
            for (int64_t r = 0; r < d.kh; r++)
              for (int64_t q = 0; q < d.kw; q++) {
                int64_t oh = ih * sh + r * dh - d.pad_top, ow = iw * sw + q * dw - d.pad_left;
                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                int64_t o = c / cin_g * cout_g + ol;
                ref[((n * d.c_out + o) * ho + oh) * wo + ow] +=
                    (double)x[((n * d.c_in + c) * d.h + ih) * d.w + iw] *
                    w[((c * cout_g + ol) * d.kh + r) * d.kw + q];
              }
  if (d.has_bias)
    for (int64_t i = 0; i < yn; i++) ref[i] += bias[i / (ho * wo) % d.c_out];
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t gr[3];
  run_arg args[4];
  int na = 0;
  ck_assert_msg(kt_conv_transpose2d(m, "convt", &d, &k, gr) == 0, "%s: %s", what, kir_module_error(m));
  args[na++] = (run_arg){x, xn};
  args[na++] = (run_arg){w, wn};
  if (d.has_bias) args[na++] = (run_arg){bias, d.c_out};
  args[na++] = (run_arg){y, yn};
  run_kernel(k, gr, args, na);
  expect_close(what, y, ref, yn, 1.0);
  kir_module_free(m);
  free(x), free(w), free(bias), free(y), free(ref);
}

#define CONVT(...) ((kt_conv_transpose2d_desc){__VA_ARGS__})

START_TEST(conv_transpose) {
  check_conv_transpose("3x3 stride 1", CONVT(.n = 1, .c_in = 3, .h = 4, .w = 5, .c_out = 2, .kh = 3, .kw = 3, .has_bias = 1));
  check_conv_transpose("2x2 stride 2 (U-Net up)", CONVT(.n = 2, .c_in = 4, .h = 3, .w = 3, .c_out = 3, .kh = 2, .kw = 2,
                                                        .stride_h = 2, .stride_w = 2, .has_bias = 1));
  check_conv_transpose("stride [2,3], pads, output padding", CONVT(.n = 1, .c_in = 2, .h = 4, .w = 5, .c_out = 4, .kh = 3,
                                                                   .kw = 2, .stride_h = 2, .stride_w = 3, .pad_top = 1,
                                                                   .pad_left = 0, .pad_bottom = 2, .pad_right = 1,
                                                                   .out_pad_h = 1, .out_pad_w = 2));
  check_conv_transpose("dilation 2, groups 2, 65 outputs a group", CONVT(.n = 1, .c_in = 4, .h = 5, .w = 7, .c_out = 6, .kh = 3,
                                                                         .kw = 3, .dil_h = 2, .dil_w = 2, .groups = 2,
                                                                         .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                                                                         .pad_right = 1, .has_bias = 1, .local_size = 65));
}
END_TEST

START_TEST(conv_transpose_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_conv_transpose2d_desc d = CONVT(.n = 1, .c_in = 3, .h = 4, .w = 4, .c_out = 4, .kh = 3, .kw = 3, .groups = 2);
  ASSERT_REJECTS(m, kt_conv_transpose2d(m, "g", &d, &k, g), "groups (2) must divide the input channels (3)");
  d = CONVT(.n = 1, .c_in = 2, .h = 1, .w = 1, .c_out = 2, .kh = 1, .kw = 1, .pad_top = 1);
  ASSERT_REJECTS(m, kt_conv_transpose2d(m, "p", &d, &k, g), "leaves an empty output");
  d = CONVT(.n = 1, .c_in = 2, .h = 2, .w = 2, .c_out = 2, .kh = 1, .kw = 1, .out_pad_w = -1);
  ASSERT_REJECTS(m, kt_conv_transpose2d(m, "o", &d, &k, g), "paddings >= 0");
  d = CONVT(.n = 1, .c_in = 2, .h = 2, .w = 2, .c_out = 2, .kh = 1, .kw = 1, .local_size = 2048);
  ASSERT_REJECTS(m, kt_conv_transpose2d(m, "l", &d, &k, g), "local size 2048");
  kir_module_free(m);
}
END_TEST

START_TEST(conv_basic) {
  check_conv("lenet conv1", CONV(.n = 1, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5, .has_bias = 1));
  check_conv("1x1 conv, 33 channels", CONV(.n = 2, .c_in = 16, .h = 7, .w = 7, .c_out = 33, .kh = 1, .kw = 1,
                                           .oc_block = 8));
  check_conv("1x1 image", CONV(.n = 1, .c_in = 3, .h = 1, .w = 1, .c_out = 5, .kh = 1, .kw = 1, .has_bias = 1));
  check_conv("3x3 pad 1, 17x17, ragged channel block",
             CONV(.n = 2, .c_in = 3, .h = 17, .w = 17, .c_out = 5, .kh = 3, .kw = 3, .pad_top = 1,
                  .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .has_bias = 1));
}
END_TEST

START_TEST(conv_stride_dilation_padding) {
  check_conv("stride 2 pad 1", CONV(.n = 1, .c_in = 4, .h = 17, .w = 16, .c_out = 8, .kh = 3, .kw = 3,
                                    .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_left = 1,
                                    .pad_bottom = 1, .pad_right = 1));
  check_conv("dilation 2, asymmetric padding",
             CONV(.n = 1, .c_in = 2, .h = 9, .w = 11, .c_out = 3, .kh = 3, .kw = 2, .dil_h = 2,
                  .dil_w = 2, .pad_top = 1, .pad_left = 0, .pad_bottom = 2, .pad_right = 3,
                  .has_bias = 1));
  check_conv("stride (2,1), dilation (1,3), pad only bottom/right",
             CONV(.n = 2, .c_in = 3, .h = 12, .w = 13, .c_out = 4, .kh = 2, .kw = 3, .stride_h = 2,
                  .dil_w = 3, .pad_bottom = 1, .pad_right = 2));
  check_conv("7x7 stride 2 pad 3 (resnet stem)",
             CONV(.n = 1, .c_in = 3, .h = 33, .w = 33, .c_out = 8, .kh = 7, .kw = 7, .stride_h = 2,
                  .stride_w = 2, .pad_top = 3, .pad_left = 3, .pad_bottom = 3, .pad_right = 3));
}
END_TEST

START_TEST(conv_groups) {
  check_conv("groups 2", CONV(.n = 1, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 3, .kw = 3,
                              .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
                              .groups = 2, .has_bias = 1));
  check_conv("depthwise stride 2", CONV(.n = 2, .c_in = 8, .h = 9, .w = 10, .c_out = 8, .kh = 3, .kw = 3,
                                        .stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_left = 1,
                                        .pad_bottom = 1, .pad_right = 1, .groups = 8));
  check_conv("depthwise multiplier 2", CONV(.n = 1, .c_in = 3, .h = 6, .w = 6, .c_out = 6, .kh = 3,
                                            .kw = 3, .groups = 3, .has_bias = 1, .oc_block = 3));
  /* Depthwise on CPUs (conv2d_dw.c), vectors of 16 and of 4: MobileNet's 3×3 pad 1 (a row
   * shorter than a vector) and its stride 2, no padding with a 5×5 window, stride (2, 1) and
   * dilation 2, stride 3 along rows with dilation 2 (taps in every phase), rows of 150
   * (10 vectors of 16, 38 of 4: segments, the last one ragged), strides 2 and 4 over rows
   * of whole vectors and a remainder (the padded copy's vector path, pad_left even and odd),
   * and 64 channels in blocks of output rows (6 of one vector, 2 of three) at stride 2 with
   * dilation 2 along the rows, and blocks of 7 rows of 7 (a vector of 16 spans more than the
   * next row: only the rows whose vectors end within the block store them whole); the 14 × 14
   * maps take blocks of 2. */
  static const kt_conv2d_desc dw[] = {
    CONV(.n = 2, .c_in = 12, .h = 14, .w = 14, .c_out = 12, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = 12, .has_bias = 1),
    CONV(.n = 1, .c_in = 5, .h = 9, .w = 21, .c_out = 5, .kh = 5, .kw = 5, .groups = 5),
    CONV(.n = 1, .c_in = 3, .h = 11, .w = 17, .c_out = 3, .kh = 3, .kw = 3, .stride_h = 2,
         .dil_h = 2, .dil_w = 2, .pad_top = 2, .pad_left = 2, .pad_bottom = 1, .pad_right = 2,
         .groups = 3, .has_bias = 1),
    CONV(.n = 1, .c_in = 2, .h = 3, .w = 150, .c_out = 2, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = 2, .has_bias = 1),
    CONV(.n = 2, .c_in = 6, .h = 15, .w = 15, .c_out = 6, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 2, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = 6,
         .has_bias = 1),
    CONV(.n = 1, .c_in = 4, .h = 10, .w = 40, .c_out = 4, .kh = 2, .kw = 5, .stride_w = 3,
         .dil_w = 2, .pad_left = 2, .pad_right = 1, .groups = 4),
    CONV(.n = 1, .c_in = 3, .h = 5, .w = 37, .c_out = 3, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 2, .pad_top = 0, .pad_left = 0, .pad_bottom = 1, .pad_right = 1, .groups = 3),
    CONV(.n = 1, .c_in = 2, .h = 4, .w = 35, .c_out = 2, .kh = 1, .kw = 5, .stride_w = 4,
         .pad_left = 3, .pad_right = 2, .groups = 2, .has_bias = 1),
    CONV(.n = 1, .c_in = 64, .h = 12, .w = 20, .c_out = 64, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 2, .dil_h = 2, .pad_top = 2, .pad_left = 1, .pad_bottom = 2, .pad_right = 1,
         .groups = 64, .has_bias = 1),
    CONV(.n = 1, .c_in = 64, .h = 7, .w = 7, .c_out = 64, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = 64, .has_bias = 1),
  };
  for (int i = 0; i < (int)(sizeof dw / sizeof dw[0]); i++) {
    check_conv_wino("depthwise CPU, vectors of 16", dw[i], 16, -1);
    check_conv_wino("depthwise CPU, vectors of 4", dw[i], 4, -1);
  }
  kt_conv2d_cpu_plan plan;
  kt_conv2d_desc mult2 = dw[0];
  mult2.c_out = 24; /* two filters per channel: not depthwise */
  ck_assert_int_eq(kt_conv2d_dw_plan_for(&mult2, 16, &plan), -1);
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_conv2d_desc bad = CONV(.n = 1, .c_in = 3, .h = 6, .w = 6, .c_out = 4, .kh = 3, .kw = 3, .groups = 2);
  ASSERT_REJECTS(m, kt_conv2d(m, "bad_groups", &bad, &k, g),
                 "groups (2) must divide the input channels (3) and the output channels (4)");
  bad = CONV(.n = 1, .c_in = 1, .h = 2, .w = 2, .c_out = 1, .kh = 3, .kw = 3);
  ASSERT_REJECTS(m, kt_conv2d(m, "window_too_big", &bad, &k, g),
                 "the 3x3 kernel (stride [1, 1], dilation [1, 1]) does not fit the 2x2 input");
  kir_module_free(m);
}
END_TEST

/* The GPU-class gathered GEMM: on 64 × 64 tiles of 8 × 8 blocks a work-item's staging steps
 * all read the same columns of B (hoisted before the K loop); on 8 × 64 tiles (one row of 8
 * work-items, 16 column groups) they do not, and each element takes its own column. Padded and
 * unpadded windows, stride and dilation, ragged N; both bounds tests. */
START_TEST(conv_gemm_gather) {
  static const kt_conv2d_desc cases[] = {
    CONV(.n = 2, .c_in = 5, .h = 9, .w = 11, .c_out = 12, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .has_bias = 1),
    CONV(.n = 1, .c_in = 3, .h = 13, .w = 10, .c_out = 9, .kh = 3, .kw = 2, .stride_h = 2,
         .dil_w = 2, .pad_top = 2, .pad_left = 0, .pad_bottom = 1, .pad_right = 3),
    CONV(.n = 3, .c_in = 4, .h = 8, .w = 8, .c_out = 7, .kh = 2, .kw = 2),
  };
  static const char *names[] = {"3x3 pad 1", "stride 2, dilation 2, asymmetric padding", "2x2 unpadded"};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
    for (int u = 0; u < 2; u++) {
      check_conv_gemm(names[i], cases[i], 64, 64, 8, 8, u);
      check_conv_gemm(names[i], cases[i], 8, 64, 8, 8, u);
    }
}
END_TEST

START_TEST(conv_cpu) {
  /* Ragged pixel blocks (M % 6), padded channel blocks (c_out not a multiple of the vector
   * block), stride, dilation, asymmetric padding, no padding, the 7×7 stem, batches. */
  static const kt_conv2d_desc cases[] = {
    CONV(.n = 2, .c_in = 3, .h = 17, .w = 17, .c_out = 5, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .has_bias = 1),
    CONV(.n = 3, .c_in = 8, .h = 7, .w = 7, .c_out = 64, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1),
    CONV(.n = 2, .c_in = 4, .h = 9, .w = 10, .c_out = 70, .kh = 1, .kw = 1, .stride_h = 2,
         .stride_w = 2, .has_bias = 1),
    CONV(.n = 1, .c_in = 2, .h = 9, .w = 11, .c_out = 33, .kh = 3, .kw = 2, .dil_h = 2,
         .dil_w = 2, .pad_top = 1, .pad_left = 0, .pad_bottom = 2, .pad_right = 3),
    CONV(.n = 2, .c_in = 3, .h = 33, .w = 33, .c_out = 16, .kh = 7, .kw = 7, .stride_h = 2,
         .stride_w = 2, .pad_top = 3, .pad_left = 3, .pad_bottom = 3, .pad_right = 3),
    /* padded planes of 16×16 and 128×4 floats: xp gets one more column, or one more row */
    CONV(.n = 2, .c_in = 3, .h = 14, .w = 14, .c_out = 20, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .has_bias = 1),
    CONV(.n = 1, .c_in = 2, .h = 126, .w = 2, .c_out = 16, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1),
  };
  static const char *names[] = {"3x3 pad 1, c_out 5", "7x7 map, c_out 64, n 3",
                                "1x1 stride 2, c_out 70", "dilated, asymmetric padding",
                                "7x7 stride 2 stem", "16x16 padded plane",
                                "128x4 padded plane"};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    check_conv_on(names[i], cases[i], 16);
    check_conv_on(names[i], cases[i], 4);
  }
  kt_conv2d_cpu_plan p;
  ck_assert_int_eq(kt_conv2d_cpu_plan_for(&cases[5], 16, &p), 0);
  ck_assert(p.hp == 16 && p.wp == 17);
  ck_assert_int_eq(kt_conv2d_cpu_plan_for(&cases[6], 16, &p), 0);
  ck_assert(p.hp == 129 && p.wp == 4);
  kt_conv2d_desc grouped = CONV(.n = 1, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 3, .kw = 3,
                                .groups = 2);
  ck_assert_int_eq(kt_conv2d_cpu_plan_for(&grouped, 16, &p), -1);
}
END_TEST

START_TEST(conv_winograd) {
  /* Tiles that overrun the output (odd sizes), ragged tile blocks (T % 6), ragged channel
   * vectors and blocks (c_out % 16, c_out < 64), asymmetric and no padding, several images,
   * a bias or none; m = 2 and 4, vectors of 16 and 4 lanes. */
  static const kt_conv2d_desc cases[] = {
    CONV(.n = 2, .c_in = 16, .h = 8, .w = 8, .c_out = 64, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .has_bias = 1),
    CONV(.n = 3, .c_in = 5, .h = 7, .w = 9, .c_out = 37, .kh = 3, .kw = 3, .pad_top = 1,
         .pad_left = 1, .pad_bottom = 1, .pad_right = 1),
    CONV(.n = 1, .c_in = 7, .h = 11, .w = 6, .c_out = 20, .kh = 3, .kw = 3, .has_bias = 1),
    CONV(.n = 2, .c_in = 3, .h = 9, .w = 10, .c_out = 70, .kh = 3, .kw = 3, .pad_top = 2,
         .pad_left = 0, .pad_bottom = 1, .pad_right = 3, .has_bias = 1),
  };
  static const char *names[] = {"winograd 8x8 pad 1, c_out 64", "winograd 7x9, c_out 37",
                                "winograd unpadded 11x6", "winograd asymmetric padding"};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    /* every pairing on the first two cases; one each way on the others (each builds 4 kernels) */
    check_conv_wino(names[i], cases[i], 16, 4);
    check_conv_wino(names[i], cases[i], 4, 2);
    if (i < 2) {
      check_conv_wino(names[i], cases[i], 16, 2);
      check_conv_wino(names[i], cases[i], 4, 4);
    }
  }
  kt_winograd_plan p;
  kt_conv2d_desc strided = CONV(.n = 1, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 3, .kw = 3,
                                .stride_h = 2, .stride_w = 2);
  ck_assert_int_eq(kt_winograd_plan_for(&strided, 16, 2, &p), -1);
  kt_conv2d_desc five = CONV(.n = 1, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 5, .kw = 5);
  ck_assert_int_eq(kt_winograd_plan_for(&five, 16, 2, &p), -1);
  ck_assert_int_eq(kt_winograd_plan_for(&cases[0], 16, 3, &p), -1);
  ck_assert_int_eq(kt_winograd_plan_for(&cases[1], 16, 4, &p), 0);
  ck_assert(p.tiles_h == 2 && p.tiles_w == 3 && p.t == 18 && p.c_out_pad == 48);
}
END_TEST

/* The CPU weight pack against its definition: panels of `panel` columns, each K deep, zeros
 * past R; ragged K (K % 4), ragged R (R % 4), panels not a multiple of 4, one panel. */
/* Runs pack kernel k (module m, freed here) from src and checks every element of its panels:
 * dst[(n / panel)·K·panel + k·panel + n % panel] is src[n·col_stride + k·k_stride] for n < N,
 * 0 up to n_pad. */
static void check_panels(const char *what, kir_module *m, kir_kernel *k, const int64_t g[3], float *src,
                         size_t src_n, int64_t N, int64_t K, int64_t n_pad, int64_t panel, int64_t col_stride,
                         int64_t k_stride) {
  float *dst = nan_vec((size_t)(K * n_pad));
  run_kernel(k, g, (run_arg[]){{src, src_n}, {dst, (size_t)(K * n_pad)}}, 2);
  for (int64_t n = 0; n < n_pad; n++)
    for (int64_t kk = 0; kk < K; kk++) {
      float want = n < N ? src[n * col_stride + kk * k_stride] : 0.0f;
      float got = dst[(n / panel) * K * panel + kk * panel + n % panel];
      ck_assert_msg(got == want, "%s: n %lld, k %lld: got %g, want %g", what, (long long)n, (long long)kk,
                    (double)got, (double)want);
    }
  kir_module_free(m);
  free(dst);
}

START_TEST(cpu_pack_panels) {
  static const int64_t cases[][4] = {/* R, K, r_pad, panel */
                                     {70, 9, 128, 64}, {33, 6, 48, 16}, {5, 147, 16, 16},
                                     {12, 7, 12, 6},   {3, 5, 4, 2},    {64, 4608, 64, 64}};
  for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
    const int64_t R = cases[c][0], K = cases[c][1], rp = cases[c][2], pw = cases[c][3];
    float *src = rand_vec((size_t)(R * K));
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t gr[3];
    char what[32];
    snprintf(what, sizeof what, "case %d", c);
    ck_assert_int_eq(kt_cpu_pack_bt(m, "pack", R, K, rp, pw, &k, gr), 0);
    check_panels(what, m, k, gr, src, (size_t)(R * K), R, K, rp, pw, K, 1);
    free(src);
  }
  /* B itself (kt_cpu_pack_b): K × N rows stride_k apart; whole-vector copies of 16, 8, 4 and one
   * lane, a ragged last panel (zeros past N), rows wider than N. */
  static const int64_t bcases[][6] = {/* N, K, stride_k, n_pad, panel, max_vec */
                                      {70, 9, 70, 96, 32, 0}, {64, 5, 80, 64, 32, 0}, {20, 7, 20, 24, 8, 0},
                                      {33, 6, 40, 48, 16, 0}, {3, 5, 3, 4, 2, 0},     {8, 11, 9, 12, 4, 0},
                                      {40, 6, 40, 48, 16, 4}};
  for (int c = 0; c < (int)(sizeof bcases / sizeof bcases[0]); c++) {
    const int64_t N = bcases[c][0], K = bcases[c][1], sk = bcases[c][2], np = bcases[c][3], pw = bcases[c][4];
    float *src = rand_vec((size_t)(K * sk));
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t gr[3];
    char what[32];
    snprintf(what, sizeof what, "B case %d", c);
    ck_assert_int_eq(kt_cpu_pack_b(m, "pack", N, K, sk, np, pw, (int)bcases[c][5], &k, gr), 0);
    check_panels(what, m, k, gr, src, (size_t)(K * sk), N, K, np, pw, 1, sk);
    free(src);
  }
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t gr[3];
  ck_assert_int_eq(kt_cpu_pack_bt(m, "pack", 8, 4, 16, 6, &k, gr), -1); /* 6 does not divide 16 */
  ck_assert_int_eq(kt_cpu_pack_b(m, "pack", 8, 4, 8, 16, 6, 0, &k, gr), -1);
  ck_assert_int_eq(kt_cpu_pack_b(m, "pack", 8, 4, 7, 8, 4, 0, &k, gr), -1); /* rows overlap */
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- integer GEMM (qgemm.h) */

static uint32_t g_qseed = 777;
static int qrand(int lo, int hi) {
  g_qseed = g_qseed * 1103515245u + 12345u;
  return lo + (int)((g_qseed >> 8) % (uint32_t)(hi - lo + 1));
}

/* 8-bit tensor data of type t (KIR_I8: −128..127, else 0..255). */
static uint8_t *q_data(size_t n, kir_scalar t) {
  uint8_t *v = malloc(n ? n : 1);
  ck_assert_ptr_nonnull(v);
  for (size_t i = 0; i < n; i++) v[i] = (uint8_t)(t == KIR_I8 ? qrand(-128, 127) : qrand(0, 255));
  return v;
}

static int q_val(const uint8_t *v, size_t i, kir_scalar t) { return t == KIR_I8 ? (int8_t)v[i] : v[i]; }

/* The requantization as the kernels do it (f32 multiplier in ONNX's order, round half even). */
static int q_requant(int64_t acc, float xs, float ws, float ys, int yz, int lo, int hi) {
  float mult = xs * ws / ys;
  float r = rintf((float)acc * mult) + (float)yz;
  r = r < (float)lo ? (float)lo : r > (float)hi ? (float)hi : r;
  return (int)r;
}

typedef struct q_params {
  float xs, ws[80], ys;
  uint8_t xz, wz[80], yz;
  int32_t bias[80];
} q_params;

static void q_params_fill(q_params *q, int n_w, kir_scalar xt, kir_scalar wt, kir_scalar yt) {
  q->xs = 0.03f;
  q->ys = 0.5f;
  q->xz = (uint8_t)(xt == KIR_I8 ? qrand(-5, 5) : qrand(100, 140));
  q->yz = (uint8_t)(yt == KIR_I8 ? 3 : 128);
  for (int i = 0; i < n_w && i < 80; i++) {
    q->ws[i] = 0.002f + 0.0005f * (float)(i % 7);
    q->wz[i] = (uint8_t)(wt == KIR_I8 ? qrand(-3, 3) : qrand(120, 136));
    q->bias[i] = qrand(-3000, 3000);
  }
}

/* The buffers of kt_qlinear_*'s order for run_kernel (element counts). */
static void q_args(run_arg *args, int *na, void *x, size_t xn, q_params *q, int per, void *w, size_t wn, int n_w,
                   int has_bias, void *y, size_t yn) {
  args[(*na)++] = (run_arg){x, xn};
  args[(*na)++] = (run_arg){&q->xs, 1};
  args[(*na)++] = (run_arg){&q->xz, 1};
  args[(*na)++] = (run_arg){w, wn};
  args[(*na)++] = (run_arg){q->ws, per ? (size_t)n_w : 1};
  args[(*na)++] = (run_arg){q->wz, per ? (size_t)n_w : 1};
  args[(*na)++] = (run_arg){&q->ys, 1};
  args[(*na)++] = (run_arg){&q->yz, 1};
  if (has_bias) args[(*na)++] = (run_arg){q->bias, (size_t)n_w};
  args[(*na)++] = (run_arg){y, yn};
}

static void expect_bytes(const char *what, const char *kernel, const uint8_t *got, const uint8_t *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(got[i] == want[i], "%s (%s): element %zu: got %d, expected %d", what, kernel, i, got[i], want[i]);
}

/* The matrix product through every integer kernel PoCL runs: the direct one, the tiled plain
 * fallback (portable and GPU tiles), and the CPU vector kernel where n allows; each must equal the
 * reference exactly. (The dot product variant runs on lavapipe: test_fixtures_vulkan.) */
static void check_qmatmul(const char *what, kt_qlinear_matmul_desc d) {
  int64_t an = d.batch * d.m * d.k, bn = (d.b_batched ? d.batch : 1) * d.k * d.n, yn = d.batch * d.m * d.n;
  uint8_t *a = q_data(an, d.a_type), *bm = q_data(bn, d.b_type), *want = malloc(yn), *got = malloc(yn);
  q_params q;
  q_params_fill(&q, (int)d.n, d.a_type, d.b_type, d.y_type);
  int lo = d.y_type == KIR_I8 ? -128 : 0, hi = d.y_type == KIR_I8 ? 127 : 255;
  if (d.lo || d.hi) lo = (int)d.lo, hi = (int)d.hi;
  for (int64_t z = 0; z < d.batch; z++)
    for (int64_t i = 0; i < d.m; i++)
      for (int64_t j = 0; j < d.n; j++) {
        int c = d.b_per_column ? (int)j : 0;
        int64_t acc = d.has_bias ? q.bias[j] : 0;
        for (int64_t k = 0; k < d.k; k++)
          acc += (int64_t)(q_val(a, (size_t)((z * d.m + i) * d.k + k), d.a_type) - q_val(&q.xz, 0, d.a_type)) *
                 (q_val(bm, (size_t)((d.b_batched ? z * d.k * d.n : 0) + k * d.n + j), d.b_type) -
                  q_val(q.wz, (size_t)c, d.b_type));
        want[(z * d.m + i) * d.n + j] =
            (uint8_t)q_requant(acc, q.xs, q.ws[c], q.ys, q_val(&q.yz, 0, d.y_type), lo, hi);
      }
  kt_qgemm_tiles tiles[2] = {kt_qgemm_default_tiles(KT_DEVICE_UNKNOWN, d.m, d.n, d.k),
                             kt_qgemm_default_tiles(KT_DEVICE_GPU, d.m, d.n, d.k)};
  for (int form = 0; form < 4; form++) {
    if (form == 3 && !kt_qgemm_cpu_fits(&d)) continue;
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t g[3];
    kt_qlinear_matmul_desc dd = d;
    dd.tiles = form == 1 ? &tiles[0] : form == 2 ? &tiles[1] : NULL;
    int rc = form == 3 ? kt_qgemm_cpu_matmul(m, "qmm", &dd, &k, g) : kt_qlinear_matmul(m, "qmm", &dd, &k, g);
    ck_assert_msg(rc == 0, "%s: %s", what, kir_module_error(m));
    if (k->fallback) k = k->fallback; /* PoCL has no integer dot product */
    run_arg args[10];
    int na = 0;
    memset(got, 0xEE, yn);
    q_args(args, &na, a, an, &q, d.b_per_column, bm, bn, (int)d.n, d.has_bias, got, yn);
    run_kernel(k, g, args, na);
    expect_bytes(what, k->name, got, want, yn);
    kir_module_free(m);
  }
  free(a), free(bm), free(want), free(got);
}

#define QMM(...) ((kt_qlinear_matmul_desc){__VA_ARGS__})

START_TEST(qgemm_matmul) {
  check_qmatmul("u8 x i8, per column, bias, n 32 (CPU kernel), k 37",
                QMM(.batch = 1, .m = 11, .k = 37, .n = 32, .a_type = KIR_U8, .b_type = KIR_I8, .y_type = KIR_U8,
                    .b_per_column = 1, .has_bias = 1));
  check_qmatmul("i8 x i8, batched b, k 64 (packed loads), n 48, relu range",
                QMM(.batch = 3, .m = 9, .k = 64, .n = 48, .b_batched = 1, .a_type = KIR_I8, .b_type = KIR_I8,
                    .y_type = KIR_I8, .lo = 3, .hi = 127));
  check_qmatmul("u8 x u8, ragged everything, k 300 (a float chunk and the remainder)",
                QMM(.batch = 2, .m = 67, .k = 300, .n = 70, .a_type = KIR_U8, .b_type = KIR_U8, .y_type = KIR_U8));
  check_qmatmul("i8 x u8, k 3", QMM(.batch = 1, .m = 5, .k = 3, .n = 16, .a_type = KIR_I8, .b_type = KIR_U8,
                                       .y_type = KIR_I8, .b_per_column = 1));
}
END_TEST

/* The convolution through the tiled plain kernel and the CPU path (im2col into a temporary,
 * then the CPU GEMM), against the direct kernel's definition. */
static void check_qconv(const char *what, kt_qlinear_conv2d_desc d) {
  int64_t sh = d.stride_h ? d.stride_h : 1, sw = d.stride_w ? d.stride_w : 1;
  int64_t dh = d.dil_h ? d.dil_h : 1, dw = d.dil_w ? d.dil_w : 1;
  int64_t oh = (d.h + d.pad_top + d.pad_bottom - dh * (d.kh - 1) - 1) / sh + 1;
  int64_t ow = (d.w + d.pad_left + d.pad_right - dw * (d.kw - 1) - 1) / sw + 1;
  int64_t xn = d.n * d.c_in * d.h * d.w, wn = d.c_out * d.c_in * d.kh * d.kw, yn = d.n * d.c_out * oh * ow;
  uint8_t *x = q_data(xn, d.x_type), *w = q_data(wn, d.w_type), *want = malloc(yn), *got = malloc(yn);
  q_params q;
  q_params_fill(&q, (int)d.c_out, d.x_type, d.w_type, d.y_type);
  int lo = d.y_type == KIR_I8 ? -128 : 0, hi = d.y_type == KIR_I8 ? 127 : 255;
  for (int64_t img = 0; img < d.n; img++)
    for (int64_t o = 0; o < d.c_out; o++)
      for (int64_t py = 0; py < oh; py++)
        for (int64_t px = 0; px < ow; px++) {
          int c = d.w_per_channel ? (int)o : 0;
          int64_t acc = d.has_bias ? q.bias[o] : 0;
          for (int64_t ci = 0; ci < d.c_in; ci++)
            for (int64_t r = 0; r < d.kh; r++)
              for (int64_t s2 = 0; s2 < d.kw; s2++) {
                int64_t ih = py * sh - d.pad_top + r * dh, iw = px * sw - d.pad_left + s2 * dw;
                if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                acc += (int64_t)(q_val(x, (size_t)(((img * d.c_in + ci) * d.h + ih) * d.w + iw), d.x_type) -
                                 q_val(&q.xz, 0, d.x_type)) *
                       (q_val(w, (size_t)(((o * d.c_in + ci) * d.kh + r) * d.kw + s2), d.w_type) -
                        q_val(q.wz, (size_t)c, d.w_type));
              }
          want[((img * d.c_out + o) * oh + py) * ow + px] =
              (uint8_t)q_requant(acc, q.xs, q.ws[c], q.ys, q_val(&q.yz, 0, d.y_type), lo, hi);
        }
  kt_qgemm_tiles tiles = kt_qgemm_default_tiles(KT_DEVICE_GPU, d.c_out, oh * ow, d.c_in * d.kh * d.kw);
  for (int form = 0; form < 2; form++) {
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t g[3];
    run_arg args[10];
    int na = 0;
    memset(got, 0xEE, yn);
    if (form == 0) {
      kt_qlinear_conv2d_desc dd = d;
      dd.tiles = &tiles;
      ck_assert_msg(kt_qlinear_conv2d(m, "qconv", &dd, &k, g) == 0, "%s: %s", what, kir_module_error(m));
      ck_assert_ptr_nonnull(k->fallback);
      k = k->fallback;
      q_args(args, &na, x, xn, &q, d.w_per_channel, w, wn, (int)d.c_out, d.has_bias, got, yn);
    } else {
      int64_t cols_n = kt_qim2col_bytes(&d);
      uint8_t *cols = malloc(cols_n);
      kir_kernel *gather;
      ck_assert_msg(kt_qim2col(m, "qim2col", &d, &gather, g) == 0, "%s: %s", what, kir_module_error(m));
      run_arg gargs[3] = {{x, xn}, {&q.xz, 1}, {cols, cols_n}};
      run_kernel(gather, g, gargs, 3);
      ck_assert_msg(kt_qgemm_cpu_conv2d(m, "qconv", &d, &k, g) == 0, "%s: %s", what, kir_module_error(m));
      q_args(args, &na, cols, cols_n, &q, d.w_per_channel, w, wn, (int)d.c_out, d.has_bias, got, yn);
      run_kernel(k, g, args, na);
      expect_bytes(what, k->name, got, want, yn);
      free(cols);
      kir_module_free(m);
      continue;
    }
    run_kernel(k, g, args, na);
    expect_bytes(what, k->name, got, want, yn);
    kir_module_free(m);
  }
  free(x), free(w), free(want), free(got);
}

#define QCONV(...) ((kt_qlinear_conv2d_desc){__VA_ARGS__})

START_TEST(qgemm_conv) {
  check_qconv("u8 x i8 3x3 pad 1, per channel, bias, c_in 16 (k 144)",
              QCONV(.n = 2, .c_in = 16, .h = 9, .w = 11, .c_out = 24, .kh = 3, .kw = 3, .pad_top = 1, .pad_left = 1,
                    .pad_bottom = 1, .pad_right = 1, .x_type = KIR_U8, .w_type = KIR_I8, .y_type = KIR_U8,
                    .w_per_channel = 1, .has_bias = 1));
  check_qconv("i8 x i8 stride 2, dilation, asymmetric padding, c_in 3 (k 27)",
              QCONV(.n = 1, .c_in = 3, .h = 13, .w = 12, .c_out = 5, .kh = 3, .kw = 2, .stride_h = 2,
                    .stride_w = 2, .dil_h = 2, .dil_w = 1, .pad_top = 2, .pad_left = 0, .pad_bottom = 1,
                    .pad_right = 1, .x_type = KIR_I8, .w_type = KIR_I8, .y_type = KIR_I8));
  check_qconv("u8 x u8 1x1, 70 channels", QCONV(.n = 1, .c_in = 20, .h = 5, .w = 5, .c_out = 70, .kh = 1, .kw = 1,
                                                .x_type = KIR_U8, .w_type = KIR_U8, .y_type = KIR_U8,
                                                .w_per_channel = 1));
}
END_TEST

/* ---------------------------------------------------------------- pooling */

static void check_pool(const char *what, kt_pool2d_desc d) {
  int64_t ho, wo;
  ck_assert_int_eq(kt_pool2d_out_size(&d, &ho, &wo), 0);
  int64_t dh = d.dil_h ? d.dil_h : 1, dw = d.dil_w ? d.dil_w : 1;
  if (!d.stride_h) d.stride_h = 1;
  if (!d.stride_w) d.stride_w = 1;
  int64_t xn = d.n * d.c * d.h * d.w, yn = d.n * d.c * ho * wo;
  float *x = rand_vec(xn), *y = nan_vec(yn);
  double *ref = malloc(yn * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t p = 0; p < d.n * d.c; p++)
    for (int64_t oh = 0; oh < ho; oh++)
      for (int64_t ow = 0; ow < wo; ow++) {
        double acc = d.kind == KT_POOL_MAX ? -INFINITY : 0.0;
        for (int64_t r = 0; r < d.kh; r++)
          for (int64_t q = 0; q < d.kw; q++) {
            int64_t ih = oh * d.stride_h - d.pad_top + r * dh, iw = ow * d.stride_w - d.pad_left + q * dw;
            if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
            double v = x[(p * d.h + ih) * d.w + iw];
            acc = d.kind == KT_POOL_MAX ? (v > acc ? v : acc) : acc + v;
          }
        ref[(p * ho + oh) * wo + ow] = d.kind == KT_POOL_MAX ? acc : acc / (double)(d.kh * d.kw);
      }
  /* the scalar kernel, then the CPU kernel with vectors of 2 and 4 where it applies */
  static const int vecs[] = {0, 2, 4};
  for (int i = 0; i < 3; i++) {
    d.cpu_vec = vecs[i];
    if (d.cpu_vec && !kt_pool2d_segmented(&d)) continue;
    for (int64_t e = 0; e < yn; e++) y[e] = NAN;
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t g[3];
    ck_assert_msg(kt_pool2d(m, "pool", &d, &k, g) == 0, "%s: kt_pool2d failed", what);
    run_arg args[2] = {{x, xn}, {y, yn}};
    run_kernel(k, g, args, 2);
    expect_close(what, y, ref, yn, 1e-6);
    kir_module_free(m);
  }
  free(x), free(y), free(ref);
}

#define POOL(...) ((kt_pool2d_desc){__VA_ARGS__})

START_TEST(pool_max) {
  check_pool("max 2x2 s2 (lenet)", POOL(.kind = KT_POOL_MAX, .n = 1, .c = 6, .h = 24, .w = 24, .kh = 2,
                                        .kw = 2, .stride_h = 2, .stride_w = 2));
  check_pool("max 3x3 s2 pad 1", POOL(.kind = KT_POOL_MAX, .n = 2, .c = 3, .h = 17, .w = 17, .kh = 3,
                                      .kw = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1,
                                      .pad_left = 1, .pad_bottom = 1, .pad_right = 1));
  check_pool("max asymmetric pad, stride (1,2), dilation 2",
             POOL(.kind = KT_POOL_MAX, .n = 1, .c = 2, .h = 9, .w = 11, .kh = 2, .kw = 3,
                  .stride_w = 2, .pad_top = 1, .pad_right = 1, .dil_h = 2, .dil_w = 2));
  check_pool("max 1x1 window", POOL(.kind = KT_POOL_MAX, .n = 1, .c = 1, .h = 3, .w = 1, .kh = 1, .kw = 1));
  /* rows of whole segments and a ragged one, windows in the padding and inside */
  kt_pool2d_desc resnet = POOL(.kind = KT_POOL_MAX, .n = 2, .c = 3, .h = 40, .w = 45, .kh = 3,
                               .kw = 3, .stride_h = 2, .stride_w = 2, .pad_top = 1,
                               .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .cpu_vec = 4);
  ck_assert(kt_pool2d_segmented(&resnet));
  check_pool("max 3x3 s2 pad 1, 23 outputs a row", resnet);
  kt_pool2d_desc dilated = POOL(.kind = KT_POOL_MAX, .n = 1, .c = 2, .h = 9, .w = 40, .kh = 2,
                                .kw = 3, .stride_w = 2, .pad_top = 1, .pad_right = 1, .dil_h = 2,
                                .dil_w = 2, .cpu_vec = 4);
  ck_assert(kt_pool2d_segmented(&dilated));
  check_pool("max dilated, 20 outputs a row", dilated);
  /* the first segment's vectors with two columns of left padding under a dilated window */
  kt_pool2d_desc left = POOL(.kind = KT_POOL_MAX, .n = 1, .c = 2, .h = 8, .w = 30, .kh = 2,
                             .kw = 3, .pad_left = 2, .pad_right = 2, .dil_w = 2, .cpu_vec = 4);
  ck_assert(kt_pool2d_segmented(&left));
  check_pool("max dilated, left padding 2", left);
  /* a span past 64 elements keeps the scalar kernel */
  kt_pool2d_desc wide = POOL(.kind = KT_POOL_MAX, .n = 1, .c = 1, .h = 4, .w = 200, .kh = 1,
                             .kw = 2, .stride_w = 9, .cpu_vec = 4);
  ck_assert(!kt_pool2d_segmented(&wide));
}
END_TEST

START_TEST(pool_avg) {
  check_pool("avg 3x3 s1 pad 1 (pad counted)",
             POOL(.kind = KT_POOL_AVG, .n = 1, .c = 2, .h = 5, .w = 7, .kh = 3, .kw = 3,
                  .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1));
  check_pool("avg 2x2 s2 floor", POOL(.kind = KT_POOL_AVG, .n = 1, .c = 3, .h = 9, .w = 9, .kh = 2,
                                      .kw = 2, .stride_h = 2, .stride_w = 2));
  check_pool("avg asymmetric pad", POOL(.kind = KT_POOL_AVG, .n = 2, .c = 1, .h = 6, .w = 5, .kh = 3,
                                        .kw = 2, .stride_h = 2, .pad_top = 0, .pad_left = 1,
                                        .pad_bottom = 2, .pad_right = 0));
  check_pool("avg 3x3 s1 pad 1, 21 outputs a row",
             POOL(.kind = KT_POOL_AVG, .n = 1, .c = 2, .h = 12, .w = 21, .kh = 3, .kw = 3,
                  .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1));
  check_pool("avg 2x2 s2, 16 outputs a row",
             POOL(.kind = KT_POOL_AVG, .n = 2, .c = 2, .h = 10, .w = 33, .kh = 2, .kw = 2,
                  .stride_h = 2, .stride_w = 2));
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_pool2d_desc bad = POOL(.kind = KT_POOL_AVG, .n = 1, .c = 1, .h = 5, .w = 5, .kh = 2, .kw = 2, .dil_h = 2);
  ASSERT_REJECTS(m, kt_pool2d(m, "avg_dilated", &bad, &k, g), "dilation [2, 1]");
  kir_module_free(m);
}
END_TEST

static void check_global_pool(int64_t n, int64_t c, int64_t h, int64_t w, int ls, int per_item) {
  kt_global_pool_desc d = {n, c, h, w, ls, 0, per_item};
  int64_t xn = n * c * h * w;
  float *x = rand_vec(xn), *y = nan_vec(n * c);
  double *ref = malloc(n * c * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t p = 0; p < n * c; p++) {
    double s = 0;
    for (int64_t i = 0; i < h * w; i++) s += x[p * h * w + i];
    ref[p] = s / (double)(h * w);
  }
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_int_eq(kt_global_avg_pool2d(m, "gap", &d, &k, g), 0);
  int lsz = ls ? ls : 64;
  ck_assert_int_eq(g[0], per_item ? (n * c + lsz - 1) / lsz : n * c);
  run_arg args[2] = {{x, xn}, {y, n * c}};
  run_kernel(k, g, args, 2);
  expect_close("global_avg_pool2d", y, ref, n * c, 1.0);
  kir_module_free(m);
  free(x), free(y), free(ref);
}

START_TEST(pool_global_avg) {
  for (int per_item = 0; per_item < 2; per_item++) {
    check_global_pool(2, 3, 7, 7, 0, per_item);
    check_global_pool(1, 5, 1, 1, 0, per_item);
    check_global_pool(1, 2, 33, 33, 64, per_item); /* plane larger than the work-group */
    check_global_pool(3, 1, 3, 17, 1, per_item);   /* a work-group of one */
    check_global_pool(5, 30, 3, 3, 16, per_item);  /* planes past a whole number of groups */
  }
}
END_TEST

/* ---------------------------------------------------------------- reductions */

static void check_reduce(const char *what, kt_reduce_desc d) {
  int64_t xn = 1;
  for (int i = 0; i < d.rank; i++) xn *= d.shape[i];
  int64_t out_shape[KT_MAX_RANK];
  int out_rank = kt_reduce_out_shape(&d, out_shape);
  int64_t yn = 1;
  for (int i = 0; i < out_rank; i++) yn *= out_shape[i];
  float *x = rand_vec(xn), *y = nan_vec(yn);
  double *ref = malloc(yn * sizeof(double)), *cnt = calloc(yn, sizeof(double));
  ck_assert_ptr_nonnull(ref);
  ck_assert_ptr_nonnull(cnt);
  /* Walk every input element; its output index is its kept coordinates in C order. */
  for (int64_t i = 0; i < yn; i++) ref[i] = d.op == KT_RED_MAX ? -INFINITY : d.op == KT_RED_MIN ? INFINITY : 0;
  for (int64_t e = 0; e < xn; e++) {
    int64_t rem = e, o = 0, mul = 1;
    for (int ax = d.rank - 1; ax >= 0; ax--) {
      int64_t coord = rem % d.shape[ax];
      rem /= d.shape[ax];
      if (!d.reduce[ax]) {
        o += coord * mul;
        mul *= d.shape[ax];
      }
    }
    double v = x[e];
    if (d.op == KT_RED_MAX) ref[o] = v > ref[o] ? v : ref[o];
    else if (d.op == KT_RED_MIN) ref[o] = v < ref[o] ? v : ref[o];
    else ref[o] += v;
    cnt[o] += 1;
  }
  if (d.op == KT_RED_MEAN)
    for (int64_t i = 0; i < yn; i++) ref[i] /= cnt[i];
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_msg(kt_reduce(m, "reduce", &d, &k, g) == 0, "%s: kt_reduce failed", what);
  run_arg args[2] = {{x, xn}, {y, yn}};
  run_kernel(k, g, args, 2);
  expect_close(what, y, ref, yn, d.op == KT_RED_MAX || d.op == KT_RED_MIN ? 1e-6 : 1.0);
  kir_module_free(m);
  free(x), free(y), free(ref), free(cnt);
}

START_TEST(reduce_contiguous) {
  check_reduce("sum last axis [3,17]", (kt_reduce_desc){.op = KT_RED_SUM, .rank = 2, .shape = {3, 17}, .reduce = {0, 1}});
  check_reduce("sum row longer than the group [2,1000]",
               (kt_reduce_desc){.op = KT_RED_SUM, .rank = 2, .shape = {2, 1000}, .reduce = {0, 1}, .local_size = 64});
  check_reduce("max over all [2,3,33]", (kt_reduce_desc){.op = KT_RED_MAX, .rank = 3, .shape = {2, 3, 33}, .reduce = {1, 1, 1}});
  check_reduce("min axis 1 keepdims [2,33,5]",
               (kt_reduce_desc){.op = KT_RED_MIN, .rank = 3, .shape = {2, 33, 5}, .reduce = {0, 1, 0}, .keepdims = 1});
  check_reduce("mean axes 1,2 [3,4,5,2]", (kt_reduce_desc){.op = KT_RED_MEAN, .rank = 4, .shape = {3, 4, 5, 2}, .reduce = {0, 1, 1, 0}});
  check_reduce("sum axis 0 of [1,5] (copy)", (kt_reduce_desc){.op = KT_RED_SUM, .rank = 2, .shape = {1, 5}, .reduce = {1, 0}});
  check_reduce("rank 0", (kt_reduce_desc){.op = KT_RED_MEAN, .rank = 0, .shape = {0}, .reduce = {0}});
  check_reduce("max, 1 work-item groups", (kt_reduce_desc){.op = KT_RED_MAX, .rank = 2, .shape = {3, 17}, .reduce = {0, 1}, .local_size = 1});
}
END_TEST

START_TEST(reduce_strided) {
  check_reduce("mean axes 0,2 [4,5,6]", (kt_reduce_desc){.op = KT_RED_MEAN, .rank = 3, .shape = {4, 5, 6}, .reduce = {1, 0, 1}});
  check_reduce("sum axes 1,3 [2,3,4,5]", (kt_reduce_desc){.op = KT_RED_SUM, .rank = 4, .shape = {2, 3, 4, 5}, .reduce = {0, 1, 0, 1}});
  check_reduce("max axes 0,2 [3,7,1,9] with a unit dim",
               (kt_reduce_desc){.op = KT_RED_MAX, .rank = 4, .shape = {3, 7, 1, 9}, .reduce = {1, 0, 1, 1}});
  check_reduce("min axes 0,2 [5,3,17]", (kt_reduce_desc){.op = KT_RED_MIN, .rank = 3, .shape = {5, 3, 17}, .reduce = {1, 0, 1}});
}
END_TEST

START_TEST(reduce_item_per_output) {
  kt_reduce_desc d = {.op = KT_RED_SUM, .rank = 2, .shape = {300, 17}, .reduce = {1, 0}, .strategy = KT_REDUCE_ITEM_PER_OUTPUT};
  check_reduce("item: sum axis 0 [300,17]", d);
  d = (kt_reduce_desc){.op = KT_RED_MEAN, .rank = 4, .shape = {2, 3, 4, 5}, .reduce = {0, 1, 0, 1}, .strategy = KT_REDUCE_ITEM_PER_OUTPUT};
  check_reduce("item: mean axes 1,3 [2,3,4,5]", d);
  d = (kt_reduce_desc){.op = KT_RED_MAX, .rank = 3, .shape = {4, 33, 70}, .reduce = {0, 1, 0}, .strategy = KT_REDUCE_ITEM_PER_OUTPUT};
  check_reduce("item: max axis 1 [4,33,70]", d);
  d = (kt_reduce_desc){.op = KT_RED_MIN, .rank = 3, .shape = {4, 33, 70}, .reduce = {1, 0, 1}, .strategy = KT_REDUCE_ITEM_PER_OUTPUT,
                       .local_size = 32};
  check_reduce("item: min axes 0,2 [4,33,70]", d);
  /* AUTO on a channel reduction of NCHW picks the per-item kernel; it must agree as well. */
  d = (kt_reduce_desc){.op = KT_RED_SUM, .rank = 4, .shape = {2, 16, 8, 8}, .reduce = {0, 1, 0, 0}};
  check_reduce("auto: sum over channels [2,16,8,8]", d);
  int64_t shape[KT_MAX_RANK];
  d.keepdims = 1;
  ck_assert_int_eq(kt_reduce_out_shape(&d, shape), 4);
  ck_assert_int_eq(shape[1], 1);
  d.keepdims = 0;
  ck_assert_int_eq(kt_reduce_out_shape(&d, shape), 3);
  ck_assert_int_eq(shape[2], 8);
}
END_TEST

START_TEST(reduce_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_reduce_desc d = {.op = KT_RED_SUM, .rank = 2, .shape = {3, 17}, .reduce = {0, 1}, .local_size = 100};
  ASSERT_REJECTS(m, kt_reduce(m, "not_pow2", &d, &k, g), "local size 100");
  d = (kt_reduce_desc){.op = KT_RED_SUM, .rank = 2, .shape = {3, 0}, .reduce = {0, 1}};
  ASSERT_REJECTS(m, kt_reduce(m, "zero_dim", &d, &k, g), "dim 1 is 0");
  d = (kt_reduce_desc){.op = KT_RED_SUM, .rank = 9, .shape = {1}, .reduce = {0}};
  ASSERT_REJECTS(m, kt_reduce(m, "rank_9", &d, &k, g), "rank 9");
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- argreduce */

/* argmax/argmin of x (f32) along d.axis against a first-extreme scan (a NaN beats every number,
 * the first NaN wins); the I32 result is read back through the float buffer's bytes. */
static void check_argreduce(const char *what, kt_argreduce_desc d, const float *x) {
  int64_t outer = 1, inner = 1, dim = d.shape[d.axis];
  for (int k = 0; k < d.rank; k++) {
    if (k < d.axis) outer *= d.shape[k];
    if (k > d.axis) inner *= d.shape[k];
  }
  int64_t yn = outer * inner;
  float *y = nan_vec((size_t)yn);
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_msg(kt_argreduce(m, "arg", &d, &k, g) == 0, "%s: kt_argreduce failed: %s", what,
                kir_module_error(m));
  run_arg args[2] = {{(float *)x, (size_t)(outer * dim * inner)}, {y, (size_t)yn}};
  run_kernel(k, g, args, 2);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * dim * inner + in, best = 0;
      for (int64_t j = 1; j < dim; j++) {
        float v = x[base + j * inner], b = x[base + best * inner];
        int better = d.find_max ? v > b : v < b;
        if (better || (isnan(v) && !isnan(b))) best = j;
      }
      int32_t got;
      memcpy(&got, &y[o * inner + in], 4);
      ck_assert_msg(got == best, "%s: result %lld is %d, want %lld", what, (long long)(o * inner + in),
                    got, (long long)best);
    }
  kir_module_free(m);
  free(y);
}

START_TEST(argreduce_axes_ties_nan) {
  float *x = rand_vec(3 * 17 * 5);
  check_argreduce("argmax last axis [15,17]", (kt_argreduce_desc){.rank = 2, .shape = {15, 17}, .axis = 1, .find_max = 1, .dtype = KIR_F32}, x);
  check_argreduce("argmin middle axis [3,17,5]", (kt_argreduce_desc){.rank = 3, .shape = {3, 17, 5}, .axis = 1, .find_max = 0, .dtype = KIR_F32}, x);
  check_argreduce("argmax axis 0 [3,85]", (kt_argreduce_desc){.rank = 2, .shape = {3, 85}, .axis = 0, .find_max = 1, .dtype = KIR_F32}, x);
  /* ties and NaNs: values from {-1, 0, 1}, a few NaN */
  for (int i = 0; i < 3 * 17 * 5; i++) x[i] = i % 23 == 7 ? NAN : (float)((int)(x[i] * 1.5f));
  check_argreduce("argmax ties, NaN [5,51]", (kt_argreduce_desc){.rank = 2, .shape = {5, 51}, .axis = 1, .find_max = 1, .dtype = KIR_F32}, x);
  check_argreduce("argmin ties, NaN [51,5]", (kt_argreduce_desc){.rank = 2, .shape = {51, 5}, .axis = 0, .find_max = 0, .dtype = KIR_F32}, x);
  check_argreduce("one element per line [255]", (kt_argreduce_desc){.rank = 2, .shape = {255, 1}, .axis = 1, .find_max = 1, .dtype = KIR_F32}, x);
  free(x);
}
END_TEST

START_TEST(argreduce_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_argreduce_desc d = {.rank = 2, .shape = {3, 4}, .axis = 2, .find_max = 1, .dtype = KIR_F32};
  ASSERT_REJECTS(m, kt_argreduce(m, "axis", &d, &k, g), "axis 2");
  d = (kt_argreduce_desc){.rank = 2, .shape = {3, 4}, .axis = 0, .find_max = 1, .dtype = KIR_BOOL};
  ASSERT_REJECTS(m, kt_argreduce(m, "bool", &d, &k, g), "a number");
  d = (kt_argreduce_desc){.rank = 2, .shape = {3, 0}, .axis = 0, .find_max = 1, .dtype = KIR_F32};
  ASSERT_REJECTS(m, kt_argreduce(m, "empty", &d, &k, g), "empty dim");
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- rowwise */

static void check_softmax(const char *what, kt_softmax_desc d, float scale, float shift) {
  int64_t xn = d.outer * d.axis_len * d.inner;
  float *x = rand_vec(xn), *y = nan_vec(xn);
  for (int64_t i = 0; i < xn; i++) x[i] = x[i] * scale + shift;
  double *ref = malloc(xn * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t o = 0; o < d.outer; o++)
    for (int64_t in = 0; in < d.inner; in++) {
      int64_t base = o * d.axis_len * d.inner + in;
      double mx = -INFINITY, s = 0;
      for (int64_t j = 0; j < d.axis_len; j++) mx = fmax(mx, x[base + j * d.inner]);
      for (int64_t j = 0; j < d.axis_len; j++) s += exp(x[base + j * d.inner] - mx);
      for (int64_t j = 0; j < d.axis_len; j++) {
        double v = x[base + j * d.inner] - mx;
        ref[base + j * d.inner] = d.log ? v - log(s) : exp(v) / s;
      }
    }
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_msg(kt_softmax(m, "softmax", &d, &k, g) == 0, "%s: kt_softmax failed", what);
  run_arg args[2] = {{x, xn}, {y, xn}};
  run_kernel(k, g, args, 2);
  expect_close(what, y, ref, xn, d.log ? 1.0 : 1e-6);
  kir_module_free(m);
  free(x), free(y), free(ref);
}

START_TEST(rowwise_softmax) {
  check_softmax("softmax [3,17]", (kt_softmax_desc){3, 17, 1, 0, 0, 0, 0}, 1.0f, 0.0f);
  check_softmax("softmax row > group [2,1000]", (kt_softmax_desc){2, 1000, 1, 0, 64, 0, 0}, 3.0f, 0.0f);
  check_softmax("softmax middle axis [2,5,3]", (kt_softmax_desc){2, 5, 3, 0, 0, 0, 0}, 1.0f, 0.0f);
  check_softmax("softmax [1,1]", (kt_softmax_desc){1, 1, 1, 0, 0, 0, 0}, 1.0f, 0.0f);
  check_softmax("softmax large logits (stability)", (kt_softmax_desc){4, 33, 1, 0, 32, 0, 0}, 500.0f, 0.0f);
  /* exp(x) underflows for every x here: only the max shift keeps the sum finite. */
  check_softmax("softmax very negative logits", (kt_softmax_desc){2, 40, 1, 0, 16, 0, 0}, 5.0f, -1000.0f);
  check_softmax("log_softmax very negative logits", (kt_softmax_desc){2, 40, 1, 1, 16, 0, 0}, 5.0f, -1000.0f);
  check_softmax("log_softmax [4,33]", (kt_softmax_desc){4, 33, 1, 1, 0, 0, 0}, 1.0f, 0.0f);
  check_softmax("log_softmax large logits, middle axis", (kt_softmax_desc){3, 17, 4, 1, 8, 0, 0}, 200.0f, 0.0f);
  /* Short rows (<= KT_ROW_SERIAL_MAX), a work-item each: more rows than one group, ragged. */
  check_softmax("softmax short rows [100,10]", (kt_softmax_desc){100, 10, 1, 0, 0, 0, 0}, 4.0f, 0.0f);
  check_softmax("softmax longest short row [70,32]", (kt_softmax_desc){70, 32, 1, 0, 0, 0, 0}, 1.0f, 0.0f);
  check_softmax("log_softmax short rows, middle axis [9,6,11]", (kt_softmax_desc){9, 6, 11, 1, 0, 0, 0}, 50.0f, 0.0f);
  /* The CPU form (cpu_vec): a row per work-item in vectors and a scalar rest; softmax stores its
   * exps and scales them in place. Rows past a group of 8, rows shorter than the vector, a middle
   * axis (the usual mapping), and the stability cases. */
  for (int vw = 4; vw <= 16; vw *= 2) {
    char what[96];
    snprintf(what, sizeof what, "cpu_vec %d softmax [13,1000]", vw);
    check_softmax(what, (kt_softmax_desc){13, 1000, 1, 0, 0, 0, vw}, 3.0f, 0.0f);
    snprintf(what, sizeof what, "cpu_vec %d log_softmax [9,37]", vw);
    check_softmax(what, (kt_softmax_desc){9, 37, 1, 1, 0, 0, vw}, 50.0f, 0.0f);
  }
  check_softmax("cpu_vec softmax row shorter than a vector [20,3]", (kt_softmax_desc){20, 3, 1, 0, 0, 0, 16}, 1.0f, 0.0f);
  check_softmax("cpu_vec softmax [1,1]", (kt_softmax_desc){1, 1, 1, 0, 0, 0, 16}, 1.0f, 0.0f);
  check_softmax("cpu_vec softmax middle axis [2,5,3]", (kt_softmax_desc){2, 5, 3, 0, 0, 0, 16}, 1.0f, 0.0f);
  check_softmax("cpu_vec softmax large logits [4,64]", (kt_softmax_desc){4, 64, 1, 0, 0, 0, 16}, 500.0f, 0.0f);
  check_softmax("cpu_vec softmax very negative logits [2,40]", (kt_softmax_desc){2, 40, 1, 0, 0, 0, 8}, 5.0f, -1000.0f);
  check_softmax("cpu_vec log_softmax very negative logits [2,40]", (kt_softmax_desc){2, 40, 1, 1, 0, 0, 8}, 5.0f, -1000.0f);
}
END_TEST

/* Short rows get a work-item each (no local memory, ceil(rows / 64) groups of 64); longer rows
 * a work-group of local_size each. */
START_TEST(rowwise_maps_short_rows_to_items) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_softmax_desc d = {256, 10, 1, 0, 0, 0, 0};
  ck_assert_int_eq(kt_softmax(m, "short", &d, &k, g), 0);
  ck_assert_int_eq(k->local_size[0], 64);
  ck_assert_int_eq(g[0], 4);
  ck_assert_int_eq(k->n_locals, 0);
  d = (kt_softmax_desc){3, KT_ROW_SERIAL_MAX, 1, 0, 0, 0, 0};
  ck_assert_int_eq(kt_softmax(m, "few", &d, &k, g), 0);
  ck_assert_int_eq(k->local_size[0], 3);
  ck_assert_int_eq(g[0], 1);
  d = (kt_softmax_desc){256, KT_ROW_SERIAL_MAX + 1, 1, 0, 0, 0, 0};
  ck_assert_int_eq(kt_softmax(m, "long", &d, &k, g), 0);
  ck_assert_int_eq(k->local_size[0], 128);
  ck_assert_int_eq(g[0], 256);
  ck_assert_int_eq(k->n_locals, 1);
  kt_layer_norm_desc ln = {100, 16, 1e-5, 1, 1, 32, 0, 0, 0, 0, 0};
  ck_assert_int_eq(kt_layer_norm(m, "ln_short", &ln, &k, g), 0);
  ck_assert_int_eq(k->local_size[0], 32);
  ck_assert_int_eq(g[0], 4);
  d = (kt_softmax_desc){256, 10, 1, 0, 100, 0, 0};
  ck_assert_int_eq(kt_softmax(m, "not_pow2", &d, &k, g), -1);
  kir_module_free(m);
}
END_TEST

/* layer_norm, and its rms_norm and group_norm forms (rowwise.h). */
static void check_layer_norm(const char *what, kt_layer_norm_desc d) {
  int64_t xn = d.rows * d.norm_size;
  /* group_norm's weight and bias hold one value per channel of the image. */
  int64_t wn = d.groups > 0 ? d.groups * (d.norm_size / d.spatial) : d.norm_size;
  float *x = rand_vec(xn), *w = rand_vec(wn), *bias = rand_vec(wn), *y = nan_vec(xn);
  for (int64_t i = 0; i < xn; i++) x[i] = x[i] * 2.0f + 0.5f; /* a non-zero mean */
  double *ref = malloc(xn * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t r = 0; r < d.rows; r++) {
    const float *row = x + r * d.norm_size;
    double mu = 0, var = 0;
    if (!d.rms) {
      for (int64_t j = 0; j < d.norm_size; j++) mu += row[j];
      mu /= (double)d.norm_size;
    }
    for (int64_t j = 0; j < d.norm_size; j++) var += (row[j] - mu) * (row[j] - mu);
    var /= (double)d.norm_size;
    for (int64_t j = 0; j < d.norm_size; j++) {
      int64_t c = d.groups > 0 ? (r % d.groups) * (d.norm_size / d.spatial) + j / d.spatial : j;
      double v = (row[j] - mu) / sqrt(var + d.eps);
      if (d.has_weight) v *= w[c];
      if (d.has_bias) v += bias[c];
      ref[r * d.norm_size + j] = v;
    }
  }
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_msg(kt_layer_norm(m, "layer_norm", &d, &k, g) == 0, "%s: kt_layer_norm failed", what);
  run_arg args[4];
  int na = 0;
  args[na++] = (run_arg){x, xn};
  if (d.has_weight) args[na++] = (run_arg){w, wn};
  if (d.has_bias) args[na++] = (run_arg){bias, wn};
  args[na++] = (run_arg){y, xn};
  run_kernel(k, g, args, na);
  expect_close(what, y, ref, xn, 1.0);
  kir_module_free(m);
  free(x), free(w), free(bias), free(y), free(ref);
}

START_TEST(rowwise_layer_norm) {
  check_layer_norm("layer_norm [5,64] w+b", (kt_layer_norm_desc){5, 64, 1e-5, 1, 1, 0, 0, 0, 0, 0, 0});
  check_layer_norm("layer_norm [3,1000] plain, group 32", (kt_layer_norm_desc){3, 1000, 1e-5, 0, 0, 32, 0, 0, 0, 0, 0});
  check_layer_norm("layer_norm [1,17] weight only", (kt_layer_norm_desc){1, 17, 1e-3, 1, 0, 0, 0, 0, 0, 0, 0});
  check_layer_norm("layer_norm [7,3] bias only", (kt_layer_norm_desc){7, 3, 1e-5, 0, 1, 4, 0, 0, 0, 0, 0});
  check_layer_norm("layer_norm [2,1] (variance 0: y = b)", (kt_layer_norm_desc){2, 1, 1e-5, 1, 1, 0, 0, 0, 0, 0, 0});
  check_layer_norm("layer_norm short rows [100,24] w+b", (kt_layer_norm_desc){100, 24, 1e-5, 1, 1, 0, 0, 0, 0, 0, 0});
  check_layer_norm("rms_norm [6,40] weight", (kt_layer_norm_desc){6, 40, 1e-6, 1, 0, 0, 0, 1, 0, 0, 0});
  check_layer_norm("rms_norm [3,777] plain", (kt_layer_norm_desc){3, 777, 1e-6, 0, 0, 0, 0, 1, 0, 0, 0});
  /* group_norm: 2 images × 3 groups of 2 channels × 5 pixels; 4 groups of 3 channels × 40 */
  check_layer_norm("group_norm [2·3, 2·5] w+b", (kt_layer_norm_desc){6, 10, 1e-5, 1, 1, 0, 0, 0, 3, 5, 0});
  check_layer_norm("group_norm [4, 3·40] weight", (kt_layer_norm_desc){4, 120, 1e-5, 1, 0, 0, 0, 0, 4, 40, 0});
  /* The CPU form: a row per work-item in vectors, the rest of the row scalar; rows past a
   * group of 8; group_norm keeps the usual mapping. */
  check_layer_norm("cpu layer_norm [5,64] w+b", (kt_layer_norm_desc){5, 64, 1e-5, 1, 1, 0, 0, 0, 0, 0, 16});
  check_layer_norm("cpu layer_norm [11,1000] plain", (kt_layer_norm_desc){11, 1000, 1e-5, 0, 0, 0, 0, 0, 0, 0, 16});
  check_layer_norm("cpu layer_norm [1,17] weight, vec 8", (kt_layer_norm_desc){1, 17, 1e-3, 1, 0, 0, 0, 0, 0, 0, 8});
  check_layer_norm("cpu layer_norm [9,3] bias, vec 4", (kt_layer_norm_desc){9, 3, 1e-5, 0, 1, 0, 0, 0, 0, 0, 4});
  check_layer_norm("cpu rms_norm [3,777] w+b", (kt_layer_norm_desc){3, 777, 1e-6, 1, 1, 0, 0, 1, 0, 0, 16});
  check_layer_norm("cpu group_norm [4, 3·40]", (kt_layer_norm_desc){4, 120, 1e-5, 1, 1, 0, 0, 0, 4, 40, 16});
}
END_TEST

static void check_batch_norm(const char *what, kt_batch_norm_desc d) {
  int64_t xn = d.n * d.c * d.hw;
  float *x = rand_vec(xn), *w = rand_vec(d.c), *bias = rand_vec(d.c), *mean = rand_vec(d.c);
  float *var = rand_vec(d.c), *y = nan_vec(xn);
  for (int64_t i = 0; i < d.c; i++) var[i] = var[i] * var[i] + 0.1f;
  double *ref = malloc(xn * sizeof(double));
  ck_assert_ptr_nonnull(ref);
  for (int64_t i = 0; i < xn; i++) {
    int64_t c = (i / d.hw) % d.c;
    double v = (x[i] - (double)mean[c]) / sqrt((double)var[c] + d.eps);
    if (d.has_weight) v *= w[c];
    if (d.has_bias) v += bias[c];
    ref[i] = v;
  }
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  ck_assert_msg(kt_batch_norm(m, "batch_norm", &d, &k, g) == 0, "%s: kt_batch_norm failed", what);
  run_arg args[6];
  int na = 0;
  args[na++] = (run_arg){x, xn};
  if (d.has_weight) args[na++] = (run_arg){w, d.c};
  if (d.has_bias) args[na++] = (run_arg){bias, d.c};
  args[na++] = (run_arg){mean, d.c};
  args[na++] = (run_arg){var, d.c};
  args[na++] = (run_arg){y, xn};
  run_kernel(k, g, args, na);
  expect_close(what, y, ref, xn, 1.0);
  kir_module_free(m);
  free(x), free(w), free(bias), free(mean), free(var), free(y), free(ref);
}

START_TEST(rowwise_batch_norm) {
  check_batch_norm("batch_norm [2,3,25]", (kt_batch_norm_desc){2, 3, 25, 1e-5, 1, 1, 0});
  check_batch_norm("batch_norm [1,16,1]", (kt_batch_norm_desc){1, 16, 1, 1e-5, 1, 1, 0});
  check_batch_norm("batch_norm [3,5,7] no affine, group 16", (kt_batch_norm_desc){3, 5, 7, 1e-3, 0, 0, 16});
}
END_TEST

START_TEST(rowwise_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_softmax_desc s = {0, 5, 1, 0, 0, 0, 0};
  ASSERT_REJECTS(m, kt_softmax(m, "s0", &s, &k, g), "at least 1");
  s = (kt_softmax_desc){2, 5, 1, 0, 48, 0, 0};
  ASSERT_REJECTS(m, kt_softmax(m, "s1", &s, &k, g), "local size 48");
  s = (kt_softmax_desc){2, 5, 1, 0, 0, 0, 12};
  ASSERT_REJECTS(m, kt_softmax(m, "s2", &s, &k, g), "vector width 12");
  kt_layer_norm_desc l = {2, 0, 1e-5, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_REJECTS(m, kt_layer_norm(m, "l0", &l, &k, g), "at least 1");
  l = (kt_layer_norm_desc){2, 8, 1e-5, 0, 0, 0, 0, 0, 0, 0, 3};
  ASSERT_REJECTS(m, kt_layer_norm(m, "l1", &l, &k, g), "vector width 3");
  kt_batch_norm_desc bn = {1, 1, 1, 1e-5, 0, 0, 2000};
  ASSERT_REJECTS(m, kt_batch_norm(m, "b0", &bn, &k, g), "local size 2000");
  ck_assert_int_eq(kir_module_count(m), 0);
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- fast math */

typedef struct fm_case {
  const char *name;
  kir_expr *(*formula)(kir_builder *b, kir_expr *x);
  double (*ref)(double x);
  double lo, hi;        /* the dense sweep */
  double max_ulp;       /* bound on the error in units of the float result's last place */
  double max_abs;       /* ... or on the absolute error, whichever is looser at that point */
} fm_case;

static double ref_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
/* ½x·(1 + tanh u) as x·σ(2u): in double, 1 + tanh u is 0 for u below −19 where this is not. */
static double ref_gelu_tanh(double x) {
  return x / (1.0 + exp(-2.0 * 0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}

static kir_expr *fm_body(kir_builder *b, kir_expr *index, void *user) {
  const fm_case *c = user;
  int xb = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int v = kir_var_new(b, "xv", kir_t(KIR_F32));
  kir_decl(b, v, kir_load(b, xb, index));
  return c->formula(b, kir_var(b, v));
}

/* The same formula on 16 elements at once as a float16 (the CPU's explicit vectors). */
static kir_expr *fm_body_vec(kir_builder *b, kir_expr *index, void *user) {
  const fm_case *c = user;
  int xb = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int v = kir_var_new(b, "xv", kir_tv(KIR_F32, 16));
  kir_decl(b, v, kir_load_vec(b, xb, index, 16));
  return c->formula(b, kir_var(b, v));
}

/* Spacing of floats at |r| (the smallest subnormal near 0). */
static double ulp_of(double r) {
  float a = fabsf((float)r);
  if (isinf(a)) a = FLT_MAX;
  return (double)nextafterf(a, INFINITY) - (double)a;
}

/* exp, erf (and gelu built on it), and gelu's tanh form run on the device over a dense sweep of
 * 2^20 points plus special values, against libm in double: the max error in ulp (and absolute)
 * is printed and bounded; as scalars (a work-item per element) and as float16 vectors (the
 * CPU's vectorized elementwise kernels, kt_elementwise_body_vec). */
START_TEST(fastmath_accuracy) {
  const fm_case cases[] = {
      {"exp", kt_fast_exp, exp, -104.0, 89.0, 2.0, 0.0},
      {"erf", kt_fast_erf, erf, -6.0, 6.0, 3.0, 0.0},
      /* 1 + erf(x/√2) cancels for negative x: absolute error, scaled by |x|. */
      {"gelu", kt_sf_gelu, ref_gelu, -10.0, 10.0, 4.0, 2.5e-7},
      /* as x / (1 + exp(−2u)) with the library exp: nothing cancels, but u rounded to float
       * moves exp(−2u) by up to |2u|·2^-24 (80 ulp at x = −9.5, where the result is 4e-33);
       * the bound gelu's erf form meets */
      {"gelu_tanh", kt_sf_gelu_tanh, ref_gelu_tanh, -12.0, 12.0, 4.0, 2.5e-7},
  };
  const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f,
                           200.0f, -200.0f, 88.72f, -86.5f, -103.9f, 0.625f, -0.625f, 1.0f, -1.0f};
  const size_t n_special = sizeof special / sizeof special[0];
  /* A whole number of 16-lane vectors: the specials, then ones. */
  const size_t n_sweep = (size_t)1 << 20, n = n_sweep + (n_special + 15) / 16 * 16;
  for (size_t ci = 0; ci < 2 * sizeof cases / sizeof cases[0]; ci++) {
    const fm_case *c = &cases[ci / 2];
    const int vec = ci % 2;
    kir_module *m = kir_module_new();
    ck_assert_ptr_nonnull(m);
    kir_module_set_ir_math(m, 1); /* gelu through kt_fast_erf, as CPU bundles build it */
    kir_kernel *k = NULL;
    int64_t g[3];
    ck_assert_int_eq(vec ? kt_elementwise_body_vec(m, "fm", (int64_t)n, 16, fm_body_vec, (void *)c, 0, &k, g)
                         : kt_elementwise_body(m, "fm", (int64_t)n, KIR_F32, fm_body, (void *)c, 0, &k, g),
                     0);
    float *x = malloc(n * sizeof(float)), *y = nan_vec(n);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n_sweep; i++)
      x[i] = (float)(c->lo + (c->hi - c->lo) * (double)i / (double)(n_sweep - 1));
    for (size_t i = n_sweep; i < n; i++) x[i] = i - n_sweep < n_special ? special[i - n_sweep] : 1.0f;
    run_arg args[] = {{x, n}, {y, n}};
    run_kernel(k, g, args, 2);
    double worst_ulp = 0, worst_abs = 0;
    float at_ulp = 0, at_abs = 0;
    for (size_t i = 0; i < n; i++) {
      double r = c->ref((double)x[i]);
      if (isnan(r)) {
        ck_assert_msg(isnan(y[i]), "%s(NaN) = %g, not NaN", c->name, (double)y[i]);
        continue;
      }
      if (isinf((float)r) || isinf(y[i])) {
        ck_assert_msg((float)r == y[i], "%s(%g) = %g, libm %g", c->name, (double)x[i], (double)y[i], r);
        continue;
      }
      double err = fabs((double)y[i] - r), ulp = err / ulp_of(r);
      int ok = ulp <= c->max_ulp || err <= c->max_abs * fmax(1.0, fabs((double)x[i]));
      ck_assert_msg(ok, "%s(%.9g) = %.9g, libm %.9g: %.2f ulp, %.3g absolute", c->name,
                    (double)x[i], (double)y[i], r, ulp, err);
      if (ulp > worst_ulp) worst_ulp = ulp, at_ulp = x[i];
      if (err > worst_abs) worst_abs = err, at_abs = x[i];
    }
    fprintf(stderr, "fastmath %-7s %s over [%g, %g]: max %.2f ulp (at %.7g), max abs %.3g (at %.7g)\n",
            c->name, vec ? "float16" : "scalar ", c->lo, c->hi, worst_ulp, (double)at_ulp, worst_abs,
            (double)at_abs);
    free(x);
    free(y);
    kir_module_free(m);
  }
}
END_TEST

/* ---------------------------------------------------------------- scans, padding, resizing */

/* cumsum against a double reference: serial lines, and long lines a work-group each (chunks
 * that do not divide the line, every direction). */
START_TEST(cumsum_serial_and_work_group) {
  static const struct { int64_t outer, len, inner; int excl, rev; } cases[] = {
    {3, 7, 5, 0, 0}, {2, 9, 1, 1, 1}, {1, 1000, 1, 0, 0}, {2, 301, 3, 1, 0}, {1, 700, 2, 0, 1},
    {3, 1029, 1, 1, 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    kt_cumsum_desc d = {.outer = cases[c].outer, .len = cases[c].len, .inner = cases[c].inner,
                        .exclusive = cases[c].excl, .reverse = cases[c].rev};
    int64_t n = d.outer * d.len * d.inner;
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t g[3];
    ck_assert_int_eq(kt_cumsum(m, "k_cumsum", &d, &k, g), 0);
    float *x = rand_vec(n), *y = nan_vec(n);
    double *ref = malloc(n * sizeof(double));
    ck_assert_ptr_nonnull(ref);
    for (int64_t o = 0; o < d.outer; o++)
      for (int64_t i = 0; i < d.inner; i++) {
        double acc = 0;
        for (int64_t s = 0; s < d.len; s++) {
          int64_t j = d.reverse ? d.len - 1 - s : s, at = (o * d.len + j) * d.inner + i;
          if (d.exclusive) ref[at] = acc;
          acc += x[at];
          if (!d.exclusive) ref[at] = acc;
        }
      }
    run_arg args[2] = {{x, n}, {y, n}};
    run_kernel(k, g, args, 2);
    expect_close("cumsum", y, ref, n, 1.0);
    free(x);
    free(y);
    free(ref);
    kir_module_free(m);
  }
}
END_TEST

START_TEST(resample_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_cumsum_desc c = {.outer = 1, .len = 0, .inner = 1};
  ASSERT_REJECTS(m, kt_cumsum(m, "c0", &c, &k, g), "at least 1");
  c = (kt_cumsum_desc){.outer = 1, .len = 5000, .inner = 1, .local_size = 96};
  ASSERT_REJECTS(m, kt_cumsum(m, "c1", &c, &k, g), "local size 96");
  kt_pad_desc p = {.rank = 1, .shape = {3}, .begin = {-2}, .end = {-1}, .dtype = KIR_F32};
  ASSERT_REJECTS(m, kt_pad(m, "p0", &p, &k, g), "leave none");
  p = (kt_pad_desc){.rank = 1, .shape = {3}, .begin = {3}, .mode = KT_PAD_REFLECT,
                    .dtype = KIR_F32};
  ASSERT_REJECTS(m, kt_pad(m, "p1", &p, &k, g), "smaller than the dim");
  kt_resize_desc r = {.n = 1, .c = 1, .h = 4, .w = 4, .out_h = 0, .out_w = 2};
  ASSERT_REJECTS(m, kt_resize(m, "r0", &r, &k, g), "at least 1");
  ck_assert_int_eq(kir_module_count(m), 0);
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- attention */

/* Contiguous [batch, rows, cols] view of a tensor with `items` batch items in one batch dim. */
static kt_attn_view attn_view(int64_t rows, int64_t cols) {
  return (kt_attn_view){.batch_stride = {rows * cols}, .stride_r = cols, .stride_c = 1};
}

/* One attention case against a double reference: `mask_kind` an additive mask [tq, tk] shared by
 * the batch items (stride 0), with -inf entries but never a whole row. */
static void check_attention(int64_t items, int64_t tq, int64_t tk, int64_t dh, int64_t dv,
                            int causal, int mask_kind, int bq, int bk, int device_class,
                            int max_vec, int keys) {
  kt_attention_desc d = {.tq = tq, .tk = tk, .d = dh, .dv = dv, .n_batch = 1, .batch = {items},
                         .q = attn_view(tq, dh), .k = attn_view(tk, dh), .v = attn_view(tk, dv),
                         .out = attn_view(tq, dv), .mask = {.stride_r = tk, .stride_c = 1},
                         .mask_kind = mask_kind, .causal = causal, .scale = 1.0 / sqrt((double)dh),
                         .block_q = bq, .block_k = bk, .device_class = device_class,
                         .max_vec = max_vec};
  float *q = rand_vec(items * tq * dh), *k = rand_vec(items * tk * dh), *v = rand_vec(items * tk * dv);
  float *mask = rand_vec(tq * tk), *out = nan_vec(items * tq * dv);
  for (int64_t i = 0; i < tq * tk; i++)
    if (i % tk && mask[i] > 0.6f) mask[i] = -INFINITY;
  double *ref = malloc(items * tq * dv * sizeof(double)), *p = malloc(tk * sizeof(double));
  ck_assert(ref && p);
  for (int64_t b = 0; b < items; b++)
    for (int64_t i = 0; i < tq; i++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < tk; j++) {
        double s = 0;
        for (int64_t c = 0; c < dh; c++) s += (double)q[(b * tq + i) * dh + c] * k[(b * tk + j) * dh + c];
        s *= d.scale;
        if (mask_kind) s += mask[i * tk + j];
        if (causal && j > i) s = -INFINITY;
        p[j] = s;
        if (s > mx) mx = s;
      }
      for (int64_t j = 0; j < tk; j++) sum += p[j] = exp(p[j] - mx);
      for (int64_t c = 0; c < dv; c++) {
        double acc = 0;
        for (int64_t j = 0; j < tk; j++) acc += p[j] * v[(b * tk + j) * dv + c];
        ref[(b * tq + i) * dv + c] = acc / sum;
      }
    }
  kir_module *m = kir_module_new();
  kir_kernel *kk;
  int64_t g[3];
  /* Keys as lanes (CPU): K transposed by its helper first, read in k's place. */
  float *kt = NULL;
  int64_t kt_n = 0;
  if (keys) {
    ck_assert(kt_attention_keys_applies(&d));
    kt_n = kt_attention_kt_elems(&d);
    kt = nan_vec((size_t)kt_n);
    ck_assert_msg(kt_attention_kt(m, "k_t", &d, &kk, g) == 0, "%s", kir_module_error(m));
    run_kernel(kk, g, (run_arg[]){{k, items * tk * dh}, {kt, kt_n}}, 2);
    d.k_transposed = 1;
  }
  ck_assert_msg(kt_attention(m, "k_attn", &d, &kk, g) == 0, "%s", kir_module_error(m));
  run_arg args[5] = {{q, items * tq * dh}, {keys ? kt : k, keys ? kt_n : items * tk * dh}, {v, items * tk * dv},
                     {mask, tq * tk}, {out, items * tq * dv}};
  if (!mask_kind) args[3] = args[4];
  run_kernel(kk, g, args, mask_kind ? 5 : 4);
  char what[96];
  snprintf(what, sizeof what, "attention %lldx%lldx%lld d%lld dv%lld causal %d mask %d bq %d bk %d keys %d",
           (long long)items, (long long)tq, (long long)tk, (long long)dh, (long long)dv, causal,
           mask_kind, bq, bk, keys);
  expect_close(what, out, ref, items * tq * dv, 1.0);
  free(q), free(k), free(v), free(mask), free(out), free(ref), free(p), free(kt);
  kir_module_free(m);
}

/* Tiles that divide and do not divide the keys and queries, one key per tile, a work-group of
 * one query, causal with Tq below and above Tk, masks, head dims of vector width 16, 8, 4, 2
 * and 1, staged (GPU, portable) and read from global memory (CPU). */
START_TEST(attention_tiles_masks_widths) {
  check_attention(2, 37, 45, 16, 8, 0, 0, 0, 0, 0, 0, 0);
  check_attention(2, 37, 45, 16, 8, 1, 0, 0, 0, 2, 4, 0);
  check_attention(1, 70, 70, 8, 8, 1, KT_ATTN_MASK_ADD, 16, 64, 1, 4, 0);
  check_attention(3, 20, 75, 12, 6, 1, 0, 8, 5, 0, 0, 0);
  check_attention(1, 90, 33, 5, 3, 1, KT_ATTN_MASK_ADD, 32, 1, 0, 0, 0);
  check_attention(2, 1, 130, 32, 32, 0, KT_ATTN_MASK_ADD, 1, 7, 0, 0, 0);
  check_attention(1, 64, 64, 64, 64, 1, 0, 64, 32, 2, 16, 0);
  /* CPU: keys and values from global memory, vectors of 16 and 8 (halves summed), no barrier */
  check_attention(2, 50, 70, 64, 24, 1, KT_ATTN_MASK_ADD, 0, 0, 1, 16, 0);
  check_attention(1, 9, 100, 8, 16, 0, 0, 4, 16, 1, 16, 0);
  /* CPU, keys as lanes (K transposed by its helper; steps of two 16-key blocks): ragged keys
   * and queries, Tk a multiple of 16 but not of 32 (the last step's second block all padding,
   * 16 and 48), Tq above and below Tk, head dims below the four partial sums, two queries per
   * work-item and (dv 128) one. */
  check_attention(2, 37, 45, 16, 16, 0, 0, 0, 0, 1, 16, 1);
  check_attention(1, 90, 33, 5, 32, 1, 0, 0, 0, 1, 16, 1);
  check_attention(3, 20, 75, 64, 64, 1, 0, 0, 0, 1, 16, 1);
  check_attention(1, 16, 16, 3, 16, 1, 0, 0, 0, 1, 16, 1);
  check_attention(1, 9, 40, 8, 128, 0, 0, 0, 0, 1, 16, 1);
  check_attention(2, 20, 48, 16, 32, 0, 0, 0, 0, 1, 16, 1);
  /* ... with an additive mask (-inf entries; Tk a multiple of 16), causal or not */
  check_attention(2, 37, 48, 16, 16, 0, KT_ATTN_MASK_ADD, 0, 0, 1, 16, 1);
  check_attention(1, 70, 64, 64, 64, 1, KT_ATTN_MASK_ADD, 0, 0, 1, 16, 1);
  check_attention(3, 16, 32, 8, 32, 0, KT_ATTN_MASK_ADD, 0, 0, 1, 16, 1);
}
END_TEST

START_TEST(attention_rejects_bad_descriptors) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t g[3];
  kt_attention_desc d = {.tq = 4, .tk = 4, .d = 300, .dv = 8, .q = attn_view(4, 300),
                         .k = attn_view(4, 300), .v = attn_view(4, 8), .out = attn_view(4, 8)};
  ASSERT_REJECTS(m, kt_attention(m, "a0", &d, &k, g), "at most 256");
  d.d = 8;
  d.tk = 0;
  ASSERT_REJECTS(m, kt_attention(m, "a1", &d, &k, g), "at least 1");
  d.tk = 4;
  d.block_k = 4096;
  ASSERT_REJECTS(m, kt_attention(m, "a2", &d, &k, g), "local memory");
  d.block_k = 0;
  d.block_q = 2048;
  ASSERT_REJECTS(m, kt_attention(m, "a3", &d, &k, g), "block_q 2048");
  d.block_q = 0;
  d.q.stride_r = INT64_C(1) << 30;
  ASSERT_REJECTS(m, kt_attention(m, "a4", &d, &k, g), "32-bit indexing");
  ck_assert_int_eq(kir_module_count(m), 0);
  kir_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------- allocation failure */

/* Every template, with the module's allocator failing after n allocations for each n up to
 * success: the template returns -1, no kernel and a reason (never crashes), then 0 once it
 * fits. */
START_TEST(templates_survive_allocation_failure) {
  for (int which = 0; which < 16; which++) {
    int ok = 0;
    for (long n = 0; n < 100000 && !ok; n++) {
      kir_module *m = kir_module_new();
      ck_assert_ptr_nonnull(m);
      kir_module_fail_after(m, n);
      kir_kernel *k = NULL;
      int64_t g[3];
      int rc = -1;
      switch (which) {
      case 0: {
        kt_matmul_desc d = {.m = 33, .n = 17, .k = 19, .trans_b = 1, .has_bias = 1, .n_batch = 1,
                            .batch = {2}, .a_batch_stride = {33 * 19}};
        rc = kt_matmul(m, "k", &d, &k, g);
      } break;
      case 1: {
        kt_conv2d_desc d = {.n = 1, .c_in = 4, .h = 9, .w = 9, .c_out = 6, .kh = 3, .kw = 3,
                            .pad_top = 1, .pad_right = 1, .groups = 2, .has_bias = 1};
        rc = kt_conv2d(m, "k", &d, &k, g);
      } break;
      case 2: {
        kt_pool2d_desc d = {.kind = KT_POOL_MAX, .n = 1, .c = 2, .h = 5, .w = 5, .kh = 2, .kw = 2, .pad_top = 1};
        rc = kt_pool2d(m, "k", &d, &k, g);
      } break;
      case 3: {
        kt_global_pool_desc d = {1, 2, 5, 5, 0, 0, 0};
        rc = kt_global_avg_pool2d(m, "k", &d, &k, g);
      } break;
      case 4: {
        kt_reduce_desc d = {.op = KT_RED_MEAN, .rank = 3, .shape = {4, 5, 6}, .reduce = {1, 0, 1}};
        rc = kt_reduce(m, "k", &d, &k, g);
      } break;
      case 5: {
        kt_softmax_desc d = {2, 5, 3, 1, 0, 0, 0};
        rc = kt_softmax(m, "k", &d, &k, g);
      } break;
      case 6: {
        kt_layer_norm_desc d = {2, 7, 1e-5, 1, 1, 0, 0, 1, 0, 0, 0};
        rc = kt_layer_norm(m, "k", &d, &k, g);
      } break;
      case 7: {
        kt_batch_norm_desc d = {2, 3, 4, 1e-5, 1, 1, 0};
        rc = kt_batch_norm(m, "k", &d, &k, g);
      } break;
      case 8: {
        kt_cumsum_desc d = {.outer = 2, .len = 600, .inner = 1, .exclusive = 1, .reverse = 1};
        rc = kt_cumsum(m, "k", &d, &k, g);
      } break;
      case 9: {
        kt_pad_desc d = {.rank = 2, .shape = {3, 4}, .begin = {1, 0}, .end = {0, 2},
                         .dtype = KIR_F32};
        rc = kt_pad(m, "k", &d, &k, g);
      } break;
      case 10: {
        kt_resize_desc d = {.n = 1, .c = 2, .h = 3, .w = 4, .out_h = 5, .out_w = 7,
                            .mode = KT_RESIZE_LINEAR, .scale_h = 0.6f, .scale_w = 0.57f};
        rc = kt_resize(m, "k", &d, &k, g);
      } break;
      case 11: {
        kt_conv_transpose2d_desc d = {.n = 1, .c_in = 4, .h = 3, .w = 3, .c_out = 2, .kh = 2, .kw = 2,
                                      .stride_h = 2, .stride_w = 2, .pad_top = 1, .groups = 2, .has_bias = 1};
        rc = kt_conv_transpose2d(m, "k", &d, &k, g);
      } break;
      case 12: {
        kt_attention_desc d = {.tq = 5, .tk = 9, .d = 6, .dv = 4, .q = attn_view(5, 6),
                               .k = attn_view(9, 6), .v = attn_view(9, 4), .out = attn_view(5, 4),
                               .mask = attn_view(5, 9), .mask_kind = KT_ATTN_MASK_ADD,
                               .causal = 1, .scale = 0.5};
        rc = kt_attention(m, "k", &d, &k, g);
      } break;
      case 14:
      case 15: { /* keys as lanes: K's transpose, then the kernel */
        kt_attention_desc d = {.tq = 5, .tk = 19, .d = 6, .dv = 16, .q = attn_view(5, 6),
                               .k = attn_view(19, 6), .v = attn_view(19, 16), .out = attn_view(5, 16),
                               .causal = 1, .scale = 0.5, .device_class = KT_DEVICE_CPU, .max_vec = 16,
                               .k_transposed = which == 15};
        rc = which == 14 ? kt_attention_kt(m, "k", &d, &k, g) : kt_attention(m, "k", &d, &k, g);
      } break;
      default: {
        kt_cumsum_desc d = {.outer = 3, .len = 5, .inner = 2};
        rc = kt_cumsum(m, "k", &d, &k, g);
      } break;
      }
      if (rc == 0) {
        ck_assert_ptr_nonnull(k);
        ok = 1;
      } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(k);
        ck_assert_msg(kir_module_error(m)[0], "template %d failed without a reason", which);
      }
      kir_module_free(m);
    }
    ck_assert_msg(ok, "template %d never succeeded", which);
  }
}
END_TEST

static Suite *templates_suite(void) {
  Suite *s = suite_create("templates_compute");
  TCase *tc = tcase_create("matmul");
  tcase_add_test(tc, matmul_small_and_odd);
  tcase_add_test(tc, matmul_exact_tiles);
  tcase_add_test(tc, matmul_linear_transposed_bias);
  tcase_add_test(tc, matmul_batched_broadcast);
  tcase_add_test(tc, matmul_explicit_tiles);
  tcase_add_test(tc, matmul_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("conv2d");
  tcase_add_test(tc, conv_basic);
  tcase_add_test(tc, conv_stride_dilation_padding);
  tcase_add_test(tc, conv_groups);
  tcase_add_test(tc, conv_cpu);
  tcase_add_test(tc, conv_gemm_gather);
  tcase_add_test(tc, conv_winograd);
  tcase_add_test(tc, cpu_pack_panels);
  tcase_add_test(tc, qgemm_matmul);
  tcase_add_test(tc, qgemm_conv);
  tcase_set_timeout(tc, 600); /* the integer GEMM cases build 15 kernels: 60 s at load 7 */
  tcase_add_test(tc, conv_transpose);
  tcase_add_test(tc, conv_transpose_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("pool");
  tcase_add_test(tc, pool_max);
  tcase_add_test(tc, pool_avg);
  tcase_add_test(tc, pool_global_avg);
  suite_add_tcase(s, tc);
  tc = tcase_create("reduce");
  tcase_add_test(tc, reduce_contiguous);
  tcase_add_test(tc, reduce_strided);
  tcase_add_test(tc, reduce_item_per_output);
  tcase_add_test(tc, reduce_rejects_bad_descriptors);
  tcase_add_test(tc, argreduce_axes_ties_nan);
  tcase_add_test(tc, argreduce_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("rowwise");
  tcase_add_test(tc, rowwise_softmax);
  tcase_add_test(tc, rowwise_maps_short_rows_to_items);
  tcase_add_test(tc, rowwise_layer_norm);
  tcase_add_test(tc, rowwise_batch_norm);
  tcase_add_test(tc, rowwise_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("resample");
  tcase_add_test(tc, cumsum_serial_and_work_group);
  tcase_add_test(tc, resample_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("attention");
  tcase_add_test(tc, attention_tiles_masks_widths);
  tcase_add_test(tc, attention_rejects_bad_descriptors);
  suite_add_tcase(s, tc);
  tc = tcase_create("robustness");
  tcase_add_test(tc, templates_survive_allocation_failure);
  suite_add_tcase(s, tc);
  tc = tcase_create("fastmath");
  tcase_add_test(tc, fastmath_accuracy);
  tcase_set_timeout(tc, 600); /* 3 sweeps of 2^20 points: 69 s at load 15 */
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(templates_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_matmul_mma.c — the tensor-core GEMM (codegen/templates/matmul_mma.c) run on a device
 * without tensor cores: its OpenCL C as printed, but for the one helper that issues the inline
 * PTX (mlg_mma_16, two mma.sync.m16n8k16), which is replaced by an emulation of that
 * instruction. The emulation is written from the PTX ISA's fragment layout ("Matrix Fragments
 * for mma.m16n8k16 with floating point type"), independently of the printer: each lane puts its
 * registers where that layout says they belong in a 16×16 A and B of local memory, and takes
 * its accumulator elements back from their product. So this checks everything else — the
 * printer's fragment loads and store (the lane mapping of mlg_mma_load_a/b and mlg_mma_store),
 * the staging of every operand layout, the K loop, ragged edges and the epilogue — against a
 * host product in double, on PoCL. The real instruction is checked on the GPU
 * (tools/gpu/mma_check.sh). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_harness.h"
#include "dtype.h"
#include "kir.h"
#include "templates/conv2d.h"
#include "templates/matmul.h"

#include "cl_harness.c"
#include "mma_emu.c"

#define WGMMA (-1) /* run_case's configuration: the warpgroup-product kernel (matmul_wgmma.c) */

typedef struct mma_case {
  int64_t m, n, k;
  int trans_b, bias, c16, a_t, batch;
  uint32_t offset;   /* the element offset every buffer is bound at (even: tensors are aligned) */
  int a32;           /* A stored as f32 (rounded to halves in the local tile) */
  int norm;          /* A layer-normalized on load: 1 plain, 2 with norm weight and bias */
  int async;         /* the configuration's tiles must be copied asynchronously (cp.async) */
} mma_case;

#define EPS 1e-5

/* A's element as the kernel stages it: f32 A normalized in f32 and rounded to a half. *amb
 * receives how far the rounding could move when the kernel's f32 arithmetic differs from the
 * host's double in the last bits (non-zero only next to a rounding boundary). */
static float staged(double v, double *amb) {
  float lo = mlg_f16_to_f32(mlg_f32_to_f16((float)(v - 1e-5 * fabs(v) - 1e-6)));
  float hi = mlg_f16_to_f32(mlg_f32_to_f16((float)(v + 1e-5 * fabs(v) + 1e-6)));
  *amb = fabs((double)hi - lo);
  return mlg_f16_to_f32(mlg_f32_to_f16((float)v));
}

static float rand_unit(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (float)((*state >> 8) % 2001) / 1000.0f - 1.0f;
}

static uint16_t rand_half(unsigned *state) { return mlg_f32_to_f16(rand_unit(state)); }

static cl_mem buffer(clh *h, const void *host, size_t bytes, uint32_t offset, size_t elem) {
  size_t total = bytes + offset * elem;
  char *init = calloc(1, total);
  ck_assert_ptr_nonnull(init);
  memcpy(init + offset * elem, host, bytes);
  cl_int err;
  cl_mem m = clCreateBuffer(h->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, total, init, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  free(init);
  return m;
}

/* Builds source src of kernel k, binds mems[i] at element offset `offset` to its buffers in
 * order, runs it with `groups` work-groups of its local size and waits. */
static void launch(clh *h, const kir_kernel *k, const char *src, int index, const int64_t groups[3],
                   const cl_mem *mems, int n_mems, uint32_t offset) {
  cl_program prog;
  cl_kernel kern = mma_emu_kernel(h, src, k->name, index, &prog);
  ck_assert_int_eq(k->n_buffers, n_mems);
  for (int i = 0; i < n_mems; i++) {
    ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)(2 * i), sizeof(cl_mem), &mems[i]), CL_SUCCESS);
    ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)(2 * i + 1), sizeof(cl_uint), &offset), CL_SUCCESS);
  }
  size_t local[3], global[3];
  for (int d = 0; d < 3; d++) {
    local[d] = (size_t)k->local_size[d];
    global[d] = (size_t)groups[d] * local[d];
  }
  ck_assert_int_eq(clEnqueueNDRangeKernel(h->queue, kern, 3, NULL, global, local, 0, NULL, NULL), CL_SUCCESS);
  ck_assert_int_eq(clFinish(h->queue), CL_SUCCESS);
  clReleaseKernel(kern);
  clReleaseProgram(prog);
}

/* config: a configuration of kt_matmul_mma_config, 0 for the built-in one, or WGMMA for the
 * warpgroup kernel with tile wg_tiles. */
static void run_case(clh *h, const mma_case *c, int index, int config, const int wg_tiles[2]) {
  kt_matmul_desc d = {.m = c->m, .n = c->n, .k = c->k, .trans_b = c->trans_b, .has_bias = c->bias,
                      .a_elem = c->a32 ? KIR_F32 : KIR_F16, .b_elem = KIR_F16, .bias_elem = KIR_F32,
                      .c_elem = c->c16 ? KIR_F16 : KIR_F32, .device_class = KT_DEVICE_GPU, .strided = 1,
                      .a_norm = c->norm > 0, .a_norm_eps = EPS, .a_norm_weight = c->norm == 2,
                      .a_norm_bias = c->norm == 2};
  const int64_t M = c->m, N = c->n, K = c->k, NB = c->batch ? c->batch : 1;
  d.a_stride_m = c->a_t ? 1 : K;
  d.a_stride_k = c->a_t ? M : 1;
  d.b_stride_k = c->trans_b ? 1 : N;
  d.b_stride_n = c->trans_b ? K : 1;
  d.c_stride_m = N;
  d.c_stride_n = 1;
  if (c->batch) {
    d.n_batch = 1;
    d.batch[0] = c->batch;
    d.a_batch_stride[0] = M * K;
    d.b_batch_stride[0] = 0; /* B broadcast */
    d.c_batch_stride[0] = M * N;
  }
  d.mma_config = config > 0 ? config : 0;
  kir_module *mod = kir_module_new();
  kir_kernel *k = NULL;
  int64_t groups[3];
  if (config == WGMMA) { /* the warpgroup-product kernel by itself (any M, N: its own tiles) */
    d.wgmma = 1;
    ck_assert(kt_matmul_wgmma_applies(&d, wg_tiles));
    ck_assert_msg(kt_matmul_wgmma(mod, "wg", &d, wg_tiles, &k, groups) == 0, "case %d: %s", index, kir_module_error(mod));
    ck_assert(k->features & KIR_FEATURE_WGMMA);
  } else {
    ck_assert_msg(kt_matmul_mma(mod, "mma", &d, &k, groups, NULL) == 1, "case %d: %s", index, kir_module_error(mod));
  }
  /* The variant with its tiled fallback, as lowering builds it: the same work-groups. */
  kt_matmul_desc both = d;
  both.mma = 1;
  both.wgmma = 0;
  kir_module *mod2 = kir_module_new();
  kir_kernel *k2 = NULL;
  int64_t g2[3];
  ck_assert_msg(kt_matmul(mod2, "both", &both, &k2, g2) == 0, "case %d: %s", index, kir_module_error(mod2));
  ck_assert(config == WGMMA || (g2[0] == groups[0] && g2[1] == groups[1] && g2[2] == groups[2]));
  ck_assert_ptr_nonnull(k2->fallback);
  char *src = mma_emu_source(k);
  ck_assert_msg(src != NULL, "case %d: the printed source has no mlg_mma_16 helper", index);
  ck_assert_msg(!c->async || (strstr(src, "mlg_cp_async(a_tile") && strstr(src, "mlg_cp_async(b_tile")),
                "case %d: the pipelined configuration %d does not copy its tiles asynchronously", index, config);
  /* A configuration's tiled fallback runs too where it computes what the reference does: f16 A
   * without a prologue (it keeps an f32 or normalized A in f32, unrounded). */
  char *fb_src = config > 0 && !c->a32 && !c->norm ? clh_source(k2->fallback) : NULL;

  unsigned seed = 1234u + (unsigned)index;
  size_t na = (size_t)(NB * M * K), nb = (size_t)(K * N), nc = (size_t)(NB * M * N);
  const size_t aelem = c->a32 ? 4 : 2;
  uint16_t *a = malloc(na * 2), *b = malloc(nb * 2);
  float *a32 = malloc(na * 4), *bias = malloc((size_t)N * 4), *nw = malloc((size_t)K * 4),
        *nbias = malloc((size_t)K * 4);
  double *ah = malloc(na * sizeof(double)), *amb = calloc(na, sizeof(double));
  ck_assert(a && b && a32 && bias && nw && nbias && ah && amb);
  /* f32 A has more bits than a half; a normalized one is offset (a non-zero mean). */
  for (size_t i = 0; i < na; i++) {
    a32[i] = c->a32 ? rand_unit(&seed) * 0.999f : mlg_f16_to_f32(rand_half(&seed));
    a[i] = mlg_f32_to_f16(a32[i]);
  }
  if (c->norm)
    for (size_t i = 0; i < na; i++) {
      a32[i] += (float)(i % 5) * 0.5f; /* a mean near 1 */
      a[i] = mlg_f32_to_f16(a32[i]);
      if (!c->a32) a32[i] = mlg_f16_to_f32(a[i]);
    }
  for (size_t i = 0; i < nb; i++) b[i] = rand_half(&seed);
  for (int64_t i = 0; i < N; i++) bias[i] = (float)(i % 7) * 0.25f - 0.75f;
  for (int64_t i = 0; i < K; i++) {
    nw[i] = 0.5f + (float)(i % 5) * 0.25f;
    nbias[i] = (float)(i % 3) * 0.5f - 0.5f;
  }
  /* The reference A: rows normalized in double (two-pass, biased variance), then rounded. */
  for (int64_t q = 0; q < NB; q++)
    for (int64_t i = 0; i < M; i++) {
      size_t row = (size_t)(q * M * K + i * d.a_stride_m);
      double mean = 0, var = 0;
      if (c->norm) {
        for (int64_t l = 0; l < K; l++) mean += a32[row + (size_t)(l * d.a_stride_k)];
        mean /= (double)K;
        for (int64_t l = 0; l < K; l++) {
          double dv = a32[row + (size_t)(l * d.a_stride_k)] - mean;
          var += dv * dv;
        }
        var /= (double)K;
      }
      for (int64_t l = 0; l < K; l++) {
        size_t at = row + (size_t)(l * d.a_stride_k);
        double v = a32[at];
        if (c->norm) {
          v = (v - mean) / sqrt(var + EPS);
          if (c->norm == 2) v = v * nw[l] + nbias[l];
          ah[at] = staged(v, &amb[at]);
        } else {
          ah[at] = mlg_f16_to_f32(a[at]); /* f32 A: the same RNE rounding as vstore_half */
        }
      }
    }

  for (int run = 0; run < (fb_src ? 2 : 1); run++) {
    const kir_kernel *kk = run ? k2->fallback : k;
    size_t celem = c->c16 ? 2 : 4;
    cl_mem ma = buffer(h, c->a32 ? (void *)a32 : (void *)a, na * aelem, c->offset, aelem);
    cl_mem mb = buffer(h, b, nb * 2, c->offset, 2);
    cl_mem mbias = buffer(h, bias, (size_t)N * 4, c->offset, 4);
    cl_mem mnw = buffer(h, nw, (size_t)K * 4, c->offset, 4), mnb = buffer(h, nbias, (size_t)K * 4, c->offset, 4);
    void *zero = calloc(nc, celem);
    cl_mem mc = buffer(h, zero, nc * celem, c->offset, celem);
    cl_mem mems[6] = {ma, mb, mbias, mnw, mnb, mc}, bound[6];
    int n_bound = 0;
    for (int i = 0; i < 6; i++)
      if (!((i == 2 && !c->bias) || ((i == 3 || i == 4) && c->norm != 2))) bound[n_bound++] = mems[i];
    launch(h, kk, run ? fb_src : src, index, groups, bound, n_bound, c->offset);
    void *out = malloc(nc * celem);
    ck_assert_int_eq(clEnqueueReadBuffer(h->queue, mc, CL_TRUE, c->offset * celem, nc * celem, out, 0, NULL, NULL),
                     CL_SUCCESS);

    /* The product in double of the same halves; f32 output within accumulation rounding (plus,
     * for a normalized A, the staged halves' rounding ambiguity), f16 within one rounding to a
     * half. */
    size_t bad = 0, first = 0;
    double worst_got = 0, worst_want = 0;
    for (int64_t q = 0; q < NB; q++)
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          double s = c->bias ? bias[j] : 0.0, slack = 0.0;
          for (int64_t l = 0; l < K; l++) {
            size_t ai = (size_t)(q * M * K + i * d.a_stride_m + l * d.a_stride_k);
            double bv = mlg_f16_to_f32(b[l * d.b_stride_k + j * d.b_stride_n]);
            s += ah[ai] * bv;
            slack += amb[ai] * fabs(bv);
          }
          size_t at = (size_t)(q * M * N + i * N + j);
          double got = c->c16 ? mlg_f16_to_f32(((uint16_t *)out)[at]) : ((float *)out)[at];
          double tol = (c->c16 ? 1e-3 * fabs(s) + 1e-3 : 1e-5 * (fabs(s) + 1.0)) + slack;
          if (!(fabs(got - s) <= tol)) {
            if (!bad) {
              first = at;
              worst_got = got;
              worst_want = s;
            }
            bad++;
          }
        }
    ck_assert_msg(bad == 0, "case %d (%lldx%lldx%lld, %s): %zu of %zu outputs wrong, first at %zu: %g, want %g",
                  index, (long long)M, (long long)N, (long long)K, kk->name, bad, nc, first, worst_got, worst_want);
    for (int i = 0; i < 6; i++) clReleaseMemObject(mems[i]);
    free(out);
    free(zero);
  }
  free(fb_src);
  kir_module_free(mod2);
  free(a);
  free(b);
  free(a32);
  free(bias);
  free(nw);
  free(nbias);
  free(ah);
  free(amb);
  free(src);
  kir_module_free(mod);
}

/* Every staging layout and both tile shapes: K contiguous (words of 2, 4 and 8 halves), B
 * row-major, A transposed, odd K (half by half), batches with B broadcast, a bias, f16 and f32
 * results, ragged M, N and K, a non-zero binding offset; an f32 A and a layer-norm prologue
 * (with and without its weight and bias, on f16 and f32 A, K-rows and transposed A). */
static const mma_case cases[] = {
  {100, 70, 50, 1, 1, 0, 0, 0, 0, 0, 0, 0},     /* linear-like, K % 8 == 2: words of two halves */
  {64, 96, 33, 0, 0, 1, 0, 0, 128, 0, 0, 0},    /* odd K: half by half; f16 C; offset */
  {80, 48, 64, 1, 0, 1, 1, 3, 0, 0, 0, 0},      /* A stored [K, M], 3 batches, B broadcast */
  {40, 36, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0},     /* K % 4 == 0, ragged in both tiles' directions */
  {520, 530, 72, 0, 0, 1, 0, 0, 0, 0, 0, 0},    /* the 128×128 tile of 8 warps, B [K, N] */
  {512, 520, 48, 1, 1, 0, 0, 0, 256, 0, 0, 0},  /* the 128×128 tile, B [N, K], bias, offset */
  {100, 70, 50, 1, 1, 0, 0, 0, 2, 1, 0, 0},     /* f32 A, linear-like, ragged, offset */
  {80, 48, 64, 0, 0, 1, 1, 2, 0, 1, 0, 0},      /* f32 A stored [K, M], 2 batches, f16 C */
  {100, 70, 96, 1, 1, 0, 0, 0, 0, 1, 2, 0},     /* layer_norm_linear on f32 A, weight and bias */
  {72, 40, 50, 1, 0, 1, 0, 0, 2, 0, 1, 0},      /* plain layer norm on f16 A, ragged K, offset */
  {64, 64, 48, 0, 1, 0, 1, 2, 0, 0, 2, 0},      /* normalized f16 A stored [K, M], 2 batches */
  {520, 512, 80, 1, 1, 1, 0, 0, 0, 1, 2, 0},    /* the 128×128 tile: normalized f32 A, f16 C */
};

START_TEST(test_mma_emulated) {
  clh h;
  if (clh_init(&h) != 0) return; /* no OpenCL device: nothing to run on */
  run_case(&h, &cases[_i], _i, 0, NULL);
  clh_free(&h);
}
END_TEST

/* Every configuration of kt_matmul_mma_config, each on one of the layouts above in turn (so
 * each layout meets three configurations), the shape grown to two tiles plus a ragged edge
 * along m and n and to two K steps plus the layout's remainder of K modulo 16 (the staging
 * widths stay those of the layout). A configuration over 48 KiB of local memory is refused
 * with a message that says so. */
/* MLG_MMA_CONFIGS="1,12,..." runs only those configurations (the suite's default, for time:
 * tests/CMakeLists.txt); unset, all of them. */
static int config_selected(int config) {
  const char *list = getenv("MLG_MMA_CONFIGS");
  if (!list || !*list) return 1;
  for (const char *p = list; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    if (v == config) return 1;
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

START_TEST(test_mma_configs) {
  const int config = _i + 1;
  if (!config_selected(config)) return;
  kt_mma_config c;
  ck_assert_int_eq(kt_matmul_mma_config(config, &c), 0);
  mma_case mc = cases[_i % (int)(sizeof cases / sizeof cases[0])];
  const int64_t tm = 16 * c.wm * c.fm, tn = 16 * c.wn * c.fn;
  mc.m = tm + mc.m % 64 + 8;
  mc.n = tn + mc.n % 32;
  mc.k = 2 * c.tk + mc.k % 16;
  if (kt_mma_config_local_bytes(&c, mc.norm > 0) > 48 * 1024) {
    kt_matmul_desc d = {.m = mc.m, .n = mc.n, .k = mc.k, .a_elem = KIR_F16, .b_elem = KIR_F16,
                        .device_class = KT_DEVICE_GPU, .a_norm = mc.norm > 0, .mma_config = config};
    d.a_stride_m = d.k;
    d.a_stride_k = 1;
    d.b_stride_k = d.n;
    d.b_stride_n = 1;
    d.c_stride_m = d.n;
    d.c_stride_n = 1;
    d.strided = 1;
    kir_module *mod = kir_module_new();
    kir_kernel *k = NULL;
    int64_t groups[3];
    ck_assert_int_eq(kt_matmul_mma(mod, "mma", &d, &k, groups, NULL), -1);
    ck_assert_msg(strstr(kir_module_error(mod), "local memory") != NULL, "%s", kir_module_error(mod));
    kir_module_free(mod);
    return;
  }
  clh h;
  if (clh_init(&h) != 0) return;
  run_case(&h, &mc, 100 + _i, config, NULL);
  clh_free(&h);
}
END_TEST

/* The pipelined configurations (37..) on the operands they copy asynchronously — halves, the
 * contiguous extents multiples of 8 — in turn A [M, K] with B [N, K], 2 batches, a bias and
 * an offset, and A [K, M] with B [K, N] and an f16 C: two tiles plus a ragged edge along m
 * and n, and enough K steps to wrap the pipeline's buffers twice plus a ragged 8 (zeros
 * copied past K). The emulated cp.async completes a copy only at a wait that covers it. */
START_TEST(test_mma_pipelined) {
  const int config = 37 + _i;
  if (!config_selected(config)) return;
  kt_mma_config c;
  ck_assert_int_eq(kt_matmul_mma_config(config, &c), 0);
  ck_assert_int_ge(c.stages, 2);
  const int64_t tm = 16 * c.wm * c.fm, tn = 16 * c.wn * c.fn, k = (2 * c.stages + 1) * c.tk + 8;
  const mma_case mc = _i % 2 ? (mma_case){tm + 8, tn + 24, k, 0, 0, 1, 1, 0, 0, 0, 0, 1}
                             : (mma_case){tm + 24, tn + 16, k, 1, 1, 0, 0, 2, 128, 0, 0, 1};
  clh h;
  if (clh_init(&h) != 0) return;
  run_case(&h, &mc, 200 + _i, config, NULL);
  clh_free(&h);
}
END_TEST

/* The warpgroup-product kernel (matmul_wgmma.c) with its products emulated (mma_emu.c, from the
 * PTX descriptor and layout rules): B [K, N] (n-major local tiles, 128-byte swizzle) with ragged
 * M, N and K (a K step cut short, zeros copied past every edge) and an f16 C; B [N, K] (k-major,
 * like A) with 2 batches, B broadcast, a bias and an offset; whole tiles over 8 K steps (the
 * ring of 3 stages wrapped), an offset of 8 halves; the smaller tiles (128×64, 64×64 with one
 * warpgroup, 64×128), ragged, on both layouts of B; and A layer-normalized on load (through
 * registers, two stages at 128×128, three at 128×64; 128-row tiles only), f16 with the norm's
 * weight and bias, f32 without. */
static const struct {
  mma_case c;
  int tiles[2];
} wgmma_cases[] = {
  {{200, 136, 72, 0, 0, 1, 0, 0, 0, 0, 0, 1}, {128, 128}},
  {{130, 260, 104, 1, 1, 0, 0, 2, 256, 0, 0, 1}, {128, 128}},
  {{256, 128, 256, 0, 1, 0, 0, 0, 8, 0, 0, 1}, {128, 128}},
  {{150, 104, 200, 0, 1, 1, 0, 0, 0, 0, 0, 1}, {128, 64}}, /* four stages */
  {{100, 72, 136, 1, 0, 0, 0, 2, 0, 0, 0, 1}, {64, 64}},   /* one warpgroup */
  {{64, 200, 40, 0, 0, 1, 0, 0, 0, 0, 0, 1}, {64, 128}},
  {{150, 136, 104, 1, 1, 0, 0, 0, 0, 0, 2, 0}, {128, 128}}, /* layer-norm prologue, weight, bias */
  {{100, 72, 72, 0, 0, 1, 0, 2, 0, 1, 1, 0}, {128, 64}},    /* an f32 A normalized, 2 batches */
};

START_TEST(test_wgmma_emulated) {
  clh h;
  if (clh_init(&h) != 0) return;
  run_case(&h, &wgmma_cases[_i].c, 300 + _i, WGMMA, wgmma_cases[_i].tiles);
  clh_free(&h);
}
END_TEST

/* Lowering's chain: an f16 GEMM whose operands it copies whole gets the warpgroup kernel in
 * front of the tensor-core one (which keeps the tiled fallback), with the tensor-core kernel's
 * tile (128×128 at 2048, 128×64 at 1024); not where the target has no warpgroup products
 * (Vulkan), nor for an A stored [K, M]. */
START_TEST(test_wgmma_chain) {
  static const struct {
    int64_t mn;
    int wgmma, a_t, want, g0, g1;
  } v[] = {{2048, 1, 0, 1, 16, 16}, {1024, 1, 0, 1, 16, 8}, {2048, 0, 0, 0, 16, 16}, {2048, 1, 1, 0, 16, 16}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    kt_matmul_desc d = {.m = v[i].mn, .n = v[i].mn, .k = 256, .a_elem = KIR_F16, .b_elem = KIR_F16,
                        .c_elem = KIR_F16, .device_class = KT_DEVICE_GPU, .strided = 1, .mma = 1,
                        .async_copies = 1, .wgmma = v[i].wgmma};
    d.a_stride_m = v[i].a_t ? 1 : d.k;
    d.a_stride_k = v[i].a_t ? d.m : 1;
    d.b_stride_k = d.n;
    d.b_stride_n = 1;
    d.c_stride_m = d.n;
    d.c_stride_n = 1;
    kir_module *mod = kir_module_new();
    kir_kernel *k = NULL;
    int64_t groups[3];
    ck_assert_msg(kt_matmul(mod, "g", &d, &k, groups) == 0, "%s", kir_module_error(mod));
    const kir_kernel *mma = v[i].want ? k->fallback : k;
    ck_assert_int_eq((k->features & KIR_FEATURE_WGMMA) != 0, v[i].want);
    ck_assert_ptr_nonnull(mma);
    ck_assert(!(mma->features & KIR_FEATURE_WGMMA) && (mma->features & KIR_FEATURE_MMA_F16));
    ck_assert(mma->fallback && !(mma->fallback->features & KIR_FEATURE_OPTIONAL) && !mma->fallback->fallback);
    ck_assert_int_eq(groups[0], v[i].g0);
    ck_assert_int_eq(groups[1], v[i].g1);
    kir_module_free(mod);
  }
}
END_TEST

/* conv2d as GEMM (kt_conv2d_gemm_desc, as lowering builds it under a GPU hint): y = w @ col with
 * col, the im2col matrix of x, gathered as B's tiles are staged. Both kernels of the variant
 * run: the fragment kernel (emulated mma) and its tiled fallback, against a host convolution
 * in double of the same values — w and (for the fragment kernel) x as halves; the fallback
 * computes in f32 with an f32 x as it is. */
typedef struct conv_case {
  int64_t n, c_in, h, w, c_out, k, stride, pad, dil;
  int x32;   /* x stored as f32 (a model's input under --precision=f16); else f16 */
  int epi;   /* 0: bias; 1: bias + relu; 2: bias + residual add + relu; 3: no bias */
  int c16;   /* y stored as f16 */
  int split; /* > 1: the partial GEMM of a K split into that many slices (kt_matmul_split_partial:
                f32 sums [split][c_out][n·ho·wo], added up here; epi 3 and c16 0) */
} conv_case;

/* The fused epilogue the compiler gives conv → add → relu (hooks.h): the residual's buffer is
 * declared once per kernel (restart: again for the fallback). */
typedef struct conv_epi {
  int residual, buf;
} conv_epi;

static kir_expr *conv_epi_fn(kir_builder *b, kir_expr *v, const kt_out_pos *at, void *user) {
  conv_epi *e = user;
  if (e->residual) {
    if (e->buf < 0) e->buf = kir_buffer_param(b, "res", KIR_F16, KIR_READ);
    v = kir_bin(b, KIR_ADD, v, kir_load(b, e->buf, at->lin));
  }
  return kir_bin(b, KIR_MAX, v, kir_f32(b, 0.0));
}

static void conv_epi_restart(void *user) { ((conv_epi *)user)->buf = -1; }

/* Runs kernel k (the fragment kernel when emulate) and checks y against the reference. */
static void run_conv_kernel(clh *h, const conv_case *c, int index, const kir_kernel *k, const int64_t groups[3],
                            int emulate, const void *x, const uint16_t *w, const float *bias, const uint16_t *res,
                            const double *want, const double *slack, size_t nx, size_t nw, size_t ny) {
  const uint32_t off = 64; /* even: the kernel's 32-bit loads of halves need aligned tensors */
  char *src = emulate ? mma_emu_source(k) : clh_source(k);
  ck_assert_msg(src != NULL, "case %d: no source for %s", index, k->name);
  const size_t celem = c->c16 ? 2 : 4, xelem = c->x32 ? 4 : 2, slices = c->split > 1 ? (size_t)c->split : 1;
  const size_t ncell = ny * slices; /* the partial sums of a split, else y */
  void *zero = calloc(ncell, celem);
  ck_assert_ptr_nonnull(zero);
  cl_mem mems[5];
  int n = 0;
  mems[n++] = buffer(h, w, nw * 2, off, 2);
  mems[n++] = buffer(h, x, nx * xelem, off, xelem);
  if (c->epi != 3) mems[n++] = buffer(h, bias, (size_t)c->c_out * 4, off, 4);
  cl_mem my = mems[n++] = buffer(h, zero, ncell * celem, off, celem);
  if (c->epi == 2) mems[n++] = buffer(h, res, ny * 2, off, 2);
  launch(h, k, src, index, groups, mems, n, off);
  void *out = malloc(ncell * celem);
  ck_assert_ptr_nonnull(out);
  ck_assert_int_eq(clEnqueueReadBuffer(h->queue, my, CL_TRUE, off * celem, ncell * celem, out, 0, NULL, NULL),
                   CL_SUCCESS);
  if (slices > 1) { /* slice z's (co, j), j = image·HW + pixel, into y's (image, co, pixel) */
    const size_t HW = ny / (size_t)(c->n * c->c_out), cols = (size_t)c->n * HW;
    float *p = out, *y = malloc(ny * 4);
    ck_assert_ptr_nonnull(y);
    for (size_t q = 0; q < (size_t)c->n; q++)
      for (size_t co = 0; co < (size_t)c->c_out; co++)
        for (size_t px = 0; px < HW; px++) {
          float sum = 0.0f;
          for (size_t z = 0; z < slices; z++) sum += p[(z * (size_t)c->c_out + co) * cols + q * HW + px];
          y[(q * (size_t)c->c_out + co) * HW + px] = sum;
        }
    free(out);
    out = y;
  }
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < ny; i++) {
    double got = c->c16 ? mlg_f16_to_f32(((uint16_t *)out)[i]) : ((float *)out)[i];
    double tol = 1e-5 * (slack[i] + 1.0) + (c->c16 ? 1e-3 * fabs(want[i]) : 0.0);
    if (!(fabs(got - want[i]) <= tol) && !bad++) first = i;
  }
  ck_assert_msg(bad == 0, "case %d, %s: %zu of %zu outputs wrong, first at %zu: %g, want %g", index, k->name, bad,
                ny, first, c->c16 ? mlg_f16_to_f32(((uint16_t *)out)[first]) : ((float *)out)[first], want[first]);
  for (int i = 0; i < n; i++) clReleaseMemObject(mems[i]);
  free(out);
  free(zero);
  free(src);
}

/* The reference y in double from x as the kernel reads it (xh), with each output's Σ|terms|
 * (the f32 accumulation's error scale) in slack. */
static void conv_reference(const conv_case *c, int64_t ho, int64_t wo, const double *xh, const uint16_t *w,
                           const float *bias, const uint16_t *res, double *want, double *slack) {
  for (int64_t q = 0; q < c->n; q++)
    for (int64_t co = 0; co < c->c_out; co++)
      for (int64_t oh = 0; oh < ho; oh++)
        for (int64_t ow = 0; ow < wo; ow++) {
          double s = c->epi != 3 ? bias[co] : 0.0, sa = fabs(s);
          for (int64_t ci = 0; ci < c->c_in; ci++)
            for (int64_t r = 0; r < c->k; r++)
              for (int64_t t = 0; t < c->k; t++) {
                int64_t ih = oh * c->stride - c->pad + r * c->dil, iw = ow * c->stride - c->pad + t * c->dil;
                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                double p = mlg_f16_to_f32(w[((co * c->c_in + ci) * c->k + r) * c->k + t]) *
                           xh[((q * c->c_in + ci) * c->h + ih) * c->w + iw];
                s += p;
                sa += fabs(p);
              }
          size_t at = (size_t)(((q * c->c_out + co) * ho + oh) * wo + ow);
          if (c->epi == 2) {
            s += mlg_f16_to_f32(res[at]);
            sa += fabs(mlg_f16_to_f32(res[at]));
          }
          if (c->epi == 1 || c->epi == 2) s = s > 0 ? s : 0;
          want[at] = s;
          slack[at] = sa;
        }
}

static void run_conv_case(clh *h, const conv_case *c, int index, int row_offsets) {
  kt_conv2d_desc cd = {.n = c->n, .c_in = c->c_in, .h = c->h, .w = c->w, .c_out = c->c_out, .kh = c->k,
                       .kw = c->k, .stride_h = c->stride, .stride_w = c->stride, .pad_top = c->pad,
                       .pad_left = c->pad, .pad_bottom = c->pad, .pad_right = c->pad, .dil_h = c->dil,
                       .dil_w = c->dil, .groups = 1, .has_bias = c->epi != 3};
  kt_matmul_desc d, whole;
  ck_assert_int_eq(kt_conv2d_gemm_desc(&cd, &whole), 0);
  ck_assert_msg(whole.b_im2col.on, "case %d: not a gathered GEMM", index);
  whole.device_class = KT_DEVICE_GPU;
  d = whole;
  if (c->split > 1) {
    ck_assert_int_eq(c->epi, 3);
    ck_assert_int_eq(c->c16, 0);
    ck_assert_int_eq(kt_matmul_split_partial(&whole, c->split, &d), 0);
  }
  conv_epi epi = {c->epi == 2, -1};
  if (c->epi == 1 || c->epi == 2) d.epilogue = (kt_epilogue){conv_epi_fn, &epi, conv_epi_restart, 0};
  d.a_elem = KIR_F16;
  d.b_elem = c->x32 ? KIR_F32 : KIR_F16;
  d.bias_elem = KIR_F32;
  d.c_elem = c->c16 ? KIR_F16 : KIR_F32;
  d.mma = 1;
  d.gather_row_offsets = row_offsets;
  ck_assert_msg(kt_matmul_mma_applies(&d), "case %d: the tensor-core variant does not apply", index);
  kir_module *mod = kir_module_new();
  kir_kernel *k = NULL;
  int64_t groups[3];
  ck_assert_msg(kt_matmul(mod, "conv", &d, &k, groups) == 0, "case %d: %s", index, kir_module_error(mod));
  ck_assert_msg(k->fallback != NULL, "case %d: the variant has no fallback", index);

  int64_t ho = (c->h + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->stride + 1;
  int64_t wo = (c->w + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->stride + 1;
  size_t nx = (size_t)(c->n * c->c_in * c->h * c->w), nw = (size_t)(c->c_out * whole.k),
         ny = (size_t)(c->n * c->c_out * ho * wo);
  unsigned seed = 777u + (unsigned)index;
  uint16_t *x16 = malloc(nx * 2), *w = malloc(nw * 2), *res = malloc(ny * 2);
  float *x32 = malloc(nx * 4), *bias = malloc((size_t)c->c_out * 4);
  double *xh = calloc(nx, sizeof(double)), *want = malloc(ny * sizeof(double)),
         *slack = malloc(ny * sizeof(double));
  ck_assert(x16 && w && res && x32 && bias && xh && want && slack);
  for (size_t i = 0; i < nx; i++) {
    x32[i] = c->x32 ? rand_unit(&seed) * 0.999f : mlg_f16_to_f32(rand_half(&seed));
    x16[i] = mlg_f32_to_f16(x32[i]);
  }
  for (size_t i = 0; i < nw; i++) w[i] = rand_half(&seed);
  for (size_t i = 0; i < ny; i++) res[i] = rand_half(&seed);
  for (int64_t i = 0; i < c->c_out; i++) bias[i] = (float)(i % 7) * 0.25f - 0.75f;
  const void *x = c->x32 ? (const void *)x32 : (const void *)x16;

  /* The fragment kernel stages x as halves (an f32 x rounded to nearest even, as vstore_half). */
  for (size_t i = 0; i < nx; i++) xh[i] = mlg_f16_to_f32(x16[i]);
  conv_reference(c, ho, wo, xh, w, bias, res, want, slack);
  run_conv_kernel(h, c, index, k, groups, 1, x, w, bias, res, want, slack, nx, nw, ny);
  /* The tiled fallback reads x as stored and computes in f32. */
  for (size_t i = 0; i < nx; i++) xh[i] = x32[i];
  conv_reference(c, ho, wo, xh, w, bias, res, want, slack);
  run_conv_kernel(h, c, index, k->fallback, groups, 0, x, w, bias, res, want, slack, nx, nw, ny);
  free(x16);
  free(w);
  free(res);
  free(x32);
  free(bias);
  free(xh);
  free(want);
  free(slack);
  kir_module_free(mod);
}

/* ResNet's convolutions and the gather's other paths: 3×3 stride 1 and 2, the 1×1 stride-2
 * downsample (no padding: no bounds guard), the 7×7 stride-2 stem on 3 channels (K = 147, not a
 * multiple of 16) from an f32 x, a dilated 3×3 (K = 36), ragged M and N in both tiles, the
 * 128×128 tile, with bias, bias + relu and the residual add + relu, f32 and f16 y; and the
 * partial GEMMs of two convolutions split along K (each slice gathers its own window rows).
 * Odd cases index their elements as row plus column offsets (gather_row_offsets: Vulkan's
 * form), even ones through the image base (OpenCL's). */
static const conv_case conv_cases[] = {
  /* n  c_in  h   w  c_out k  str pad dil x32 epi c16 split */
  {2, 16, 12, 12, 40, 3, 1, 1, 1, 0, 1, 0, 0},   /* 3×3 s1 p1: M 40, N 288, K 144; bias + relu */
  {2, 8, 15, 15, 64, 3, 2, 1, 1, 0, 2, 1, 0},    /* 3×3 s2 p1: N 128, K 72; residual + relu, f16 y */
  {3, 32, 9, 9, 48, 1, 2, 0, 1, 0, 0, 0, 0},     /* 1×1 s2 (downsample): M 48, N 75, K 32; bias */
  {2, 3, 20, 20, 64, 7, 2, 3, 1, 1, 1, 0, 0},    /* 7×7 s2 p3 stem, f32 x: N 200, K 147 */
  {2, 4, 10, 10, 36, 3, 1, 2, 2, 0, 3, 1, 0},    /* dilation 2, K 36, no bias, f16 y */
  {1, 8, 24, 24, 520, 3, 1, 1, 1, 0, 2, 0, 0},   /* the 128×128 tile: M 520, N 576; residual */
  {2, 64, 7, 7, 72, 3, 1, 1, 1, 0, 3, 0, 4},     /* split K: 4 slices of 144 (ResNet's last stage) */
  {2, 30, 9, 9, 40, 3, 2, 1, 1, 1, 3, 0, 3},     /* split K, f32 x, s2: 3 slices of 90, ragged */
};

START_TEST(test_conv_emulated) {
  clh h;
  if (clh_init(&h) != 0) return;
  run_conv_case(&h, &conv_cases[_i], _i, _i % 2); /* the two index forms in turn (matmul.h) */
  clh_free(&h);
}
END_TEST

/* The built-in tile of a gathered convolution: 128×128 through a target without asynchronous
 * copies (Vulkan) once M reaches 128 and N 512, 64×64 below that and through OpenCL, where the
 * wider tile lost (matmul_mma.c pick). */
START_TEST(test_conv_tiles) {
  kt_conv2d_desc cd = {.n = 4, .c_in = 32, .h = 16, .w = 16, .c_out = 128, .kh = 3, .kw = 3, .stride_h = 1,
                       .stride_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .dil_h = 1,
                       .dil_w = 1, .groups = 1};
  static const struct {
    int64_t c_out;
    int async, tm, tn;
  } want[] = {{128, 0, 128, 128}, {128, 1, 64, 64}, {64, 0, 64, 64}, {96, 0, 64, 64}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    cd.c_out = want[i].c_out;
    kt_matmul_desc d;
    ck_assert_int_eq(kt_conv2d_gemm_desc(&cd, &d), 0);
    d.device_class = KT_DEVICE_GPU;
    d.a_elem = d.b_elem = KIR_F16;
    d.c_elem = KIR_F32;
    d.mma = 1;
    d.async_copies = want[i].async;
    kir_module *mod = kir_module_new();
    kir_kernel *k = NULL;
    int64_t groups[3];
    int tiles[2] = {0, 0};
    ck_assert_msg(kt_matmul_mma(mod, "conv", &d, &k, groups, tiles) == 1, "case %zu: %s", i,
                  kir_module_error(mod));
    ck_assert_msg(tiles[0] == want[i].tm && tiles[1] == want[i].tn, "case %zu: %dx%d tiles, want %dx%d", i,
                  tiles[0], tiles[1], want[i].tm, want[i].tn);
    kir_module_free(mod);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("matmul_mma");
  TCase *tc = tcase_create("emulated");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, test_mma_emulated, 0, (int)(sizeof cases / sizeof cases[0]));
  tcase_add_loop_test(tc, test_conv_emulated, 0, (int)(sizeof conv_cases / sizeof conv_cases[0]));
  tcase_add_loop_test(tc, test_wgmma_emulated, 0, (int)(sizeof wgmma_cases / sizeof wgmma_cases[0]));
  tcase_add_test(tc, test_wgmma_chain);
  tcase_add_test(tc, test_conv_tiles);
  suite_add_tcase(s, tc);
  TCase *tcc = tcase_create("configs");
  tcase_set_timeout(tcc, 900);
  tcase_add_loop_test(tcc, test_mma_configs, 0, KT_MMA_N_CONFIGS);
  suite_add_tcase(s, tcc);
  TCase *tcp = tcase_create("pipelined");
  tcase_set_timeout(tcp, 900);
  tcase_add_loop_test(tcp, test_mma_pipelined, 0, KT_MMA_N_CONFIGS - 36);
  suite_add_tcase(s, tcp);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

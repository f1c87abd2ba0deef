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
#include "templates/matmul.h"

#include "cl_harness.c"

/* mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 twice (columns 0..7, then 8..15), as the
 * hardware computes it: lane 4g + t holds A (g, 2t..2t+1), (g+8, ..), (g, 2t+8..), (g+8, 2t+8..);
 * B (2t..2t+1, g), (2t+8..2t+9, g) of each 8-column half; C (g, 2t..2t+1), (g+8, 2t..2t+1) of
 * each half. scr: 512 floats of local memory per warp. */
static const char emulated_mma[] =
    "float mlg_emu_h2f(uint h) {\n"
    "  uint e = (h >> 10) & 31u, m = h & 1023u;\n"
    "  float v = e == 0u ? ldexp((float)m, -24) : ldexp((float)(m | 1024u), (int)e - 25);\n"
    "  return (h & 0x8000u) ? -v : v;\n"
    "}\n"
    "void mlg_mma_16_emu(float *c, const uint *a, const uint *b, __local float *scr) {\n"
    "  int lane = (int)(get_local_id(0) & 31), g = lane >> 2, t = (lane & 3) * 2;\n"
    "  __local float *A = scr + (get_local_id(0) >> 5) * 512, *B = A + 256;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int q = 0; q < 4; q++) {\n"
    "    int r = g + (q & 1) * 8, k = t + (q >> 1) * 8;\n"
    "    A[r * 16 + k] = mlg_emu_h2f(a[q] & 0xFFFFu);\n"
    "    A[r * 16 + k + 1] = mlg_emu_h2f(a[q] >> 16);\n"
    "  }\n"
    "  for (int h = 0; h < 2; h++)\n"
    "    for (int q = 0; q < 2; q++) {\n"
    "      int k = t + q * 8, n = h * 8 + g;\n"
    "      B[k * 16 + n] = mlg_emu_h2f(b[2 * h + q] & 0xFFFFu);\n"
    "      B[(k + 1) * 16 + n] = mlg_emu_h2f(b[2 * h + q] >> 16);\n"
    "    }\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int h = 0; h < 2; h++)\n"
    "    for (int q = 0; q < 4; q++) {\n"
    "      int r = g + (q >> 1) * 8, n = h * 8 + t + (q & 1);\n"
    "      float s = c[4 * h + q];\n"
    "      for (int k = 0; k < 16; k++) s += A[r * 16 + k] * B[k * 16 + n];\n"
    "      c[4 * h + q] = s;\n"
    "    }\n"
    "}\n";

/* The kernel's source with mlg_mma_16 emulated: NULL on a source of another shape. */
static char *emulated_source(const kir_kernel *k) {
  char *src = clh_source(k);
  if (!src) return NULL;
  const char *from = strstr(src, "MLG_MMA_INLINE void mlg_mma_16(");
  const char *to = strstr(src, "MLG_MMA_INLINE void mlg_mma_store(");
  const char *endif = strstr(src, "#endif\n");
  const char *body = endif ? strstr(endif, ") {\n") : NULL;
  if (!from || !to || to < from || !body) {
    free(src);
    return NULL;
  }
  body += 4;
  int warps = k->local_size[0] / 32;
  size_t n = strlen(src) + sizeof emulated_mma + 512;
  char *out = malloc(n);
  if (out)
    snprintf(out, n, "%.*s%s%.*s#define mlg_mma_16(c, a, b) mlg_mma_16_emu(c, a, b, mlg_emu_scratch)\n"
             "%.*s  __local float mlg_emu_scratch[%d];\n%s",
             (int)(from - src), src, emulated_mma, (int)(endif + 7 - to), to, (int)(body - (endif + 7)),
             endif + 7, warps * 512, body);
  free(src);
  return out;
}

typedef struct mma_case {
  int64_t m, n, k;
  int trans_b, bias, c16, a_t, batch;
  uint32_t offset;   /* the element offset every buffer is bound at (even: tensors are aligned) */
  int a32;           /* A stored as f32 (rounded to halves in the local tile) */
  int norm;          /* A layer-normalized on load: 1 plain, 2 with norm weight and bias */
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

static void run_case(clh *h, const mma_case *c, int index, int config) {
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
  d.mma_config = config;
  kir_module *mod = kir_module_new();
  kir_kernel *k = NULL;
  int64_t groups[3];
  ck_assert_msg(kt_matmul_mma(mod, "mma", &d, &k, groups, NULL) == 1, "case %d: %s", index, kir_module_error(mod));
  /* The variant with its tiled fallback, as lowering builds it: the same work-groups. */
  kt_matmul_desc both = d;
  both.mma = 1;
  kir_module *mod2 = kir_module_new();
  kir_kernel *k2 = NULL;
  int64_t g2[3];
  ck_assert_msg(kt_matmul(mod2, "both", &both, &k2, g2) == 0, "case %d: %s", index, kir_module_error(mod2));
  ck_assert(g2[0] == groups[0] && g2[1] == groups[1] && g2[2] == groups[2]);
  ck_assert_ptr_nonnull(k2->fallback);
  char *src = emulated_source(k);
  ck_assert_msg(src != NULL, "case %d: the printed source has no mlg_mma_16 helper", index);
  /* A configuration's tiled fallback runs too where it computes what the reference does: f16 A
   * without a prologue (it keeps an f32 or normalized A in f32, unrounded). */
  char *fb_src = config && !c->a32 && !c->norm ? clh_source(k2->fallback) : NULL;

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
    cl_int err;
    const char *srcs[] = {run ? fb_src : src};
    cl_program prog = clCreateProgramWithSource(h->context, 1, srcs, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    if (clBuildProgram(prog, 1, &h->device, "", NULL, NULL) != CL_SUCCESS) {
      char log[8192] = "";
      clGetProgramBuildInfo(prog, h->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
      ck_abort_msg("case %d: build failed:\n%s", index, log);
    }
    cl_kernel kern = clCreateKernel(prog, kk->name, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    size_t celem = c->c16 ? 2 : 4;
    cl_mem ma = buffer(h, c->a32 ? (void *)a32 : (void *)a, na * aelem, c->offset, aelem);
    cl_mem mb = buffer(h, b, nb * 2, c->offset, 2);
    cl_mem mbias = buffer(h, bias, (size_t)N * 4, c->offset, 4);
    cl_mem mnw = buffer(h, nw, (size_t)K * 4, c->offset, 4), mnb = buffer(h, nbias, (size_t)K * 4, c->offset, 4);
    void *zero = calloc(nc, celem);
    cl_mem mc = buffer(h, zero, nc * celem, c->offset, celem);
    cl_mem mems[6] = {ma, mb, mbias, mnw, mnb, mc};
    int arg = 0;
    for (int i = 0; i < 6; i++) {
      if ((i == 2 && !c->bias) || ((i == 3 || i == 4) && c->norm != 2)) continue;
      ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)arg++, sizeof(cl_mem), &mems[i]), CL_SUCCESS);
      ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)arg++, sizeof(cl_uint), &c->offset), CL_SUCCESS);
    }
    size_t local[3], global[3];
    for (int q = 0; q < 3; q++) {
      local[q] = (size_t)kk->local_size[q];
      global[q] = (size_t)groups[q] * local[q];
    }
    ck_assert_int_eq(clEnqueueNDRangeKernel(h->queue, kern, 3, NULL, global, local, 0, NULL, NULL), CL_SUCCESS);
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
    clReleaseKernel(kern);
    clReleaseProgram(prog);
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
  {100, 70, 50, 1, 1, 0, 0, 0, 0, 0, 0},     /* linear-like, K % 8 == 2: words of two halves */
  {64, 96, 33, 0, 0, 1, 0, 0, 128, 0, 0},    /* odd K: half by half; f16 C; offset */
  {80, 48, 64, 1, 0, 1, 1, 3, 0, 0, 0},      /* A stored [K, M], 3 batches, B broadcast */
  {40, 36, 100, 0, 1, 0, 0, 0, 0, 0, 0},     /* K % 4 == 0, ragged in both tiles' directions */
  {520, 530, 72, 0, 0, 1, 0, 0, 0, 0, 0},    /* the 128×128 tile of 8 warps, B [K, N] */
  {512, 520, 48, 1, 1, 0, 0, 0, 256, 0, 0},  /* the 128×128 tile, B [N, K], bias, offset */
  {100, 70, 50, 1, 1, 0, 0, 0, 2, 1, 0},     /* f32 A, linear-like, ragged, offset */
  {80, 48, 64, 0, 0, 1, 1, 2, 0, 1, 0},      /* f32 A stored [K, M], 2 batches, f16 C */
  {100, 70, 96, 1, 1, 0, 0, 0, 0, 1, 2},     /* layer_norm_linear on f32 A, weight and bias */
  {72, 40, 50, 1, 0, 1, 0, 0, 2, 0, 1},      /* plain layer norm on f16 A, ragged K, offset */
  {64, 64, 48, 0, 1, 0, 1, 2, 0, 0, 2},      /* normalized f16 A stored [K, M], 2 batches */
  {520, 512, 80, 1, 1, 1, 0, 0, 0, 1, 2},    /* the 128×128 tile: normalized f32 A, f16 C */
};

START_TEST(test_mma_emulated) {
  clh h;
  if (clh_init(&h) != 0) return; /* no OpenCL device: nothing to run on */
  run_case(&h, &cases[_i], _i, 0);
  clh_free(&h);
}
END_TEST

/* Every configuration of kt_matmul_mma_config, each on one of the layouts above in turn (so
 * each layout meets three configurations), the shape grown to two tiles plus a ragged edge
 * along m and n and to two K steps plus the layout's remainder of K modulo 16 (the staging
 * widths stay those of the layout). A configuration over 48 KiB of local memory is refused
 * with a message that says so. */
START_TEST(test_mma_configs) {
  const int config = _i + 1;
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
  run_case(&h, &mc, 100 + _i, config);
  clh_free(&h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("matmul_mma");
  TCase *tc = tcase_create("emulated");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, test_mma_emulated, 0, (int)(sizeof cases / sizeof cases[0]));
  suite_add_tcase(s, tc);
  TCase *tcc = tcase_create("configs");
  tcase_set_timeout(tcc, 900);
  tcase_add_loop_test(tcc, test_mma_configs, 0, KT_MMA_N_CONFIGS);
  suite_add_tcase(s, tcc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

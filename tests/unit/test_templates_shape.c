/* test_templates_shape.c — the elementwise and shape kernel templates, run on the first OpenCL
 * device (PoCL) through tests/unit/cl_harness.c and compared with plain C references. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_harness.c"
#include "kt_check.h"
#include "templates/elementwise.h"
#include "templates/shape.h"

static clh H;
static int have_cl;

static void setup(void) { have_cl = clh_init(&H) == 0; }
static void teardown(void) {
  if (have_cl) clh_free(&H);
}

static int64_t numel(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

static void fill(float *p, int64_t n, unsigned seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (float)((seed >> 8) % 2001) / 250.0f - 4.0f; /* [-4, 4] */
  }
}

static void expect_close(const float *got, const float *want, int64_t n, float tol,
                         const char *what) {
  for (int64_t i = 0; i < n; i++) {
    if (got[i] == want[i]) continue; /* also equal infinities */
    float d = fabsf(got[i] - want[i]);
    ck_assert_msg(d <= tol * (1.0f + fabsf(want[i])), "%s: element %lld: got %.9g want %.9g",
                  what, (long long)i, got[i], want[i]);
  }
}

/* Runs kernel k with buffers host[0..n) of count[i] elements; ck-fails on error. */
static void run(const kir_kernel *k, const int64_t groups[3], void *const *host,
                const size_t *count) {
  ck_assert_msg(clh_run(&H, k, groups, host, count) == 0, "kernel %s failed", k->name);
}

/* ---- elementwise ---- */

static kir_expr *f_add(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_add(b, in[0], in[1]);
}
static kir_expr *f_fma3(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_add(b, kt_sf_mul(b, in[0], in[1]), in[2]);
}
static kir_expr *f_gelu(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_gelu(b, in[0]); }
static kir_expr *f_mix(kir_builder *b, kir_expr **in, const void *u) {
  /* clamp(leaky_relu(x), -1, 2) + silu(x) * sigmoid(x) + relu(x) - tanh(x) */
  kir_expr *x = in[0];
  kir_expr *a = kt_sf_clamp(b, kt_sf_leaky_relu(b, x, 0.1), -1.0, 2.0);
  kir_expr *c = kt_sf_mul(b, kt_sf_silu(b, x), kt_sf_sigmoid(b, x));
  return kt_sf_sub(b, kt_sf_add(b, kt_sf_add(b, a, c), kt_sf_relu(b, x)), kt_sf_tanh(b, x));
}
static kir_expr *f_binmix(kir_builder *b, kir_expr **in, const void *u) {
  /* maximum(x, y) * minimum(x, y) + pow(abs(x), y) / exp(y) */
  kir_expr *p = kt_sf_div(b, kt_sf_pow(b, kt_sf_abs(b, in[0]), in[1]), kt_sf_exp(b, in[1]));
  return kt_sf_add(b, kt_sf_mul(b, kt_sf_maximum(b, in[0], in[1]), kt_sf_minimum(b, in[0], in[1])), p);
}

static float ref_mix(float x) {
  float lr = x < 0 ? 0.1f * x : x;
  float a = fminf(fmaxf(lr, -1.0f), 2.0f);
  float sg = 1.0f / (1.0f + expf(-x));
  float c = (x / (1.0f + expf(-x))) * sg;
  return a + c + (x < 0 ? 0 : x) - tanhf(x);
}

/* Reference broadcast: index of output element i in an input of shape `in` (right-aligned). */
static int64_t bcast_index(int64_t i, int rank, const int64_t *out, int in_rank, const int64_t *in) {
  int64_t idx = 0, stride = 1;
  for (int d = rank - 1; d >= 0; d--) {
    int64_t c = i % out[d];
    i /= out[d];
    int id = d - (rank - in_rank);
    if (id < 0) continue;
    if (in[id] != 1) idx += c * stride;
    stride *= in[id];
  }
  return idx;
}

typedef struct ew_case {
  int rank;
  int64_t out[KT_MAX_RANK];
  int n_in;
  int in_rank[3];
  int64_t in[3][KT_MAX_RANK];
} ew_case;

START_TEST(test_elementwise_broadcast) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  static const ew_case cases[] = {
    {3, {2, 3, 4}, 2, {3, 2}, {{2, 3, 4}, {3, 1}}},           /* column broadcast */
    {2, {5, 7}, 2, {2, 0}, {{5, 7}, {0}}},                    /* scalar */
    {2, {33, 17}, 2, {1, 2}, {{17}, {33, 17}}},               /* bias row, first operand */
    {3, {4, 5, 6}, 2, {3, 3}, {{4, 1, 6}, {1, 5, 1}}},        /* both broadcast */
    {4, {2, 3, 5, 7}, 3, {4, 3, 1}, {{2, 3, 5, 7}, {3, 1, 1}, {7}}}, /* NCHW + per-channel */
    {1, {1000}, 2, {1, 1}, {{1000}, {1}}},
    {0, {0}, 2, {0, 0}, {{0}, {0}}},                          /* 0-d */
    {5, {2, 1, 3, 1, 5}, 2, {5, 3}, {{2, 1, 3, 1, 5}, {1, 1, 5}}},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    const ew_case *t = &cases[c];
    kt_elementwise_desc d = {.rank = t->rank, .out_dtype = KIR_F32, .n_inputs = t->n_in,
                             .scalar = t->n_in == 2 ? f_add : f_fma3};
    memcpy(d.shape, t->out, sizeof(t->out));
    float *bufs[4];
    size_t count[4];
    for (int j = 0; j < t->n_in; j++) {
      d.inputs[j].rank = t->in_rank[j];
      d.inputs[j].dtype = KIR_F32;
      memcpy(d.inputs[j].shape, t->in[j], sizeof(t->in[j]));
      count[j] = (size_t)numel(t->in_rank[j], t->in[j]);
      bufs[j] = malloc(count[j] * sizeof(float));
      fill(bufs[j], (int64_t)count[j], (unsigned)(c * 10 + j));
    }
    int64_t n = numel(t->rank, t->out);
    count[t->n_in] = (size_t)n;
    bufs[t->n_in] = calloc((size_t)n, sizeof(float));
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t groups[3];
    ck_assert_int_eq(kt_elementwise(m, "k0_add", &d, &k, groups), 0);
    ck_assert_int_eq(groups[0], (n + 255) / 256);
    run(k, groups, (void *const *)bufs, count);
    float *want = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
      float v[3];
      for (int j = 0; j < t->n_in; j++)
        v[j] = bufs[j][bcast_index(i, t->rank, t->out, t->in_rank[j], t->in[j])];
      want[i] = t->n_in == 2 ? v[0] + v[1] : v[0] * v[1] + v[2];
    }
    char what[32];
    snprintf(what, sizeof(what), "case %zu", c);
    expect_close(bufs[t->n_in], want, n, 1e-6f, what);
    for (int j = 0; j <= t->n_in; j++) free(bufs[j]);
    free(want);
    kir_module_free(m);
  }
}
END_TEST

/* The index math is as small as promised: same-shape inputs read x[i], row broadcasts x[i % n]. */
START_TEST(test_elementwise_index_forms) {
  kt_elementwise_desc d = {.rank = 2, .shape = {8, 16}, .out_dtype = KIR_F32, .n_inputs = 2,
                           .scalar = f_add};
  d.inputs[0] = (kt_ew_input){2, {8, 16}, KIR_F32};
  d.inputs[1] = (kt_ew_input){1, {16}, KIR_F32};
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t groups[3];
  ck_assert_int_eq(kt_elementwise(m, "k3_add", &d, &k, groups), 0);
  char *s = clh_source(k);
  ck_assert_str_eq(s,
                   "__kernel __attribute__((reqd_work_group_size(256, 1, 1)))\n"
                   "void k3_add(__global const float *restrict x0, const uint x0_off,\n"
                   "    __global const float *restrict x1, const uint x1_off,\n"
                   "    __global float *restrict y, const uint y_off) {\n"
                   "  int i = (int)get_global_id(0);\n"
                   "  if (i >= 128) {\n"
                   "    return;\n"
                   "  }\n"
                   "  float v0 = x0[x0_off + i];\n"
                   "  float v1 = x1[x1_off + i % 16];\n"
                   "  y[y_off + i] = v0 + v1;\n"
                   "}\n");
  free(s);
  /* shapes that do not broadcast, and too many elements, are rejected */
  d.inputs[1].shape[0] = 15;
  ASSERT_REJECTS(m, kt_elementwise(m, "bad", &d, &k, groups),
                 "input 1 does not broadcast to the output (dim 0 is 15, not 1 or 16)");
  d.inputs[1].shape[0] = 16;
  d.shape[0] = INT64_C(1) << 28;
  d.inputs[0].shape[0] = INT64_C(1) << 28;
  ASSERT_REJECTS(m, kt_elementwise(m, "big", &d, &k, groups), "2^31 elements or more");
  kir_module_free(m);
}
END_TEST

START_TEST(test_elementwise_formulas) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  int64_t n = 1001; /* odd: the guard matters */
  float *x = malloc((size_t)n * sizeof(float)), *yv = malloc((size_t)n * sizeof(float));
  float *out = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
  fill(x, n, 7);
  fill(yv, n, 8);
  x[0] = -0.0f;
  x[1] = 30.0f;
  x[2] = -30.0f;
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t groups[3];
  size_t count2[2] = {(size_t)n, (size_t)n}, count3[3] = {(size_t)n, (size_t)n, (size_t)n};

  kt_elementwise_desc d = {.rank = 1, .shape = {n}, .out_dtype = KIR_F32, .n_inputs = 1,
                           .scalar = f_gelu};
  d.inputs[0] = (kt_ew_input){1, {n}, KIR_F32};
  ck_assert_int_eq(kt_elementwise(m, "k0_gelu", &d, &k, groups), 0);
  void *b2[2] = {x, out};
  run(k, groups, b2, count2);
  for (int64_t i = 0; i < n; i++)
    want[i] = (float)(0.5 * x[i] * (1.0 + erf((double)x[i] / sqrt(2.0))));
  expect_close(out, want, n, 1e-5f, "gelu");

  d.scalar = f_mix;
  ck_assert_int_eq(kt_elementwise(m, "k1_mix", &d, &k, groups), 0);
  run(k, groups, b2, count2);
  for (int64_t i = 0; i < n; i++) want[i] = ref_mix(x[i]);
  expect_close(out, want, n, 1e-5f, "mix");

  d.n_inputs = 2;
  d.inputs[1] = (kt_ew_input){1, {n}, KIR_F32};
  d.scalar = f_binmix;
  ck_assert_int_eq(kt_elementwise(m, "k2_binmix", &d, &k, groups), 0);
  void *b3[3] = {x, yv, out};
  run(k, groups, b3, count3);
  for (int64_t i = 0; i < n; i++)
    want[i] = fmaxf(x[i], yv[i]) * fminf(x[i], yv[i]) + powf(fabsf(x[i]), yv[i]) / expf(yv[i]);
  expect_close(out, want, n, 1e-5f, "binmix");
  free(x);
  free(yv);
  free(out);
  free(want);
  kir_module_free(m);
}
END_TEST

/* ---- transpose ---- */

static void ref_transpose(const float *x, float *y, int rank, const int64_t *shape, const int *perm) {
  int64_t n = numel(rank, shape), in_stride[KT_MAX_RANK], out_shape[KT_MAX_RANK];
  in_stride[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; d--) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  for (int d = 0; d < rank; d++) out_shape[d] = shape[perm[d]];
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, src = 0;
    for (int d = rank - 1; d >= 0; d--) {
      src += (r % out_shape[d]) * in_stride[perm[d]];
      r /= out_shape[d];
    }
    y[i] = x[src];
  }
}

START_TEST(test_transpose) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  static const struct { int rank; int64_t shape[5]; int perm[5]; } cases[] = {
    {2, {33, 17}, {1, 0}},
    {5, {2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
    {4, {1, 16, 4, 16}, {0, 2, 1, 3}},   /* attention heads */
    {4, {1, 16, 4, 16}, {0, 2, 3, 1}},
    {3, {7, 1, 9}, {1, 2, 0}},
    {3, {2, 3, 4}, {0, 1, 2}},           /* identity: one merged dim */
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    kt_transpose_desc d = {.rank = cases[c].rank, .dtype = KIR_F32};
    memcpy(d.shape, cases[c].shape, sizeof(cases[c].shape));
    memcpy(d.perm, cases[c].perm, sizeof(cases[c].perm));
    int64_t n = numel(d.rank, d.shape);
    float *x = malloc((size_t)n * 4), *y = calloc((size_t)n, 4), *want = malloc((size_t)n * 4);
    fill(x, n, (unsigned)c);
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t groups[3];
    ck_assert_int_eq(kt_transpose(m, "k0_transpose", &d, &k, groups), 0);
    void *bufs[2] = {x, y};
    size_t count[2] = {(size_t)n, (size_t)n};
    run(k, groups, bufs, count);
    ref_transpose(x, want, d.rank, d.shape, d.perm);
    expect_close(y, want, n, 0, "transpose");
    free(x);
    free(y);
    free(want);
    kir_module_free(m);
  }
  /* not a permutation */
  kir_module *m = kir_module_new();
  kt_transpose_desc bad = {.rank = 2, .shape = {2, 2}, .perm = {0, 0}, .dtype = KIR_F32};
  kir_kernel *k;
  int64_t groups[3];
  ASSERT_REJECTS(m, kt_transpose(m, "bad", &bad, &k, groups), "not a permutation of 0..1");
  kir_module_free(m);
}
END_TEST

/* ---- slice ---- */

START_TEST(test_slice_resolve) {
  kt_slice_desc d;
  int64_t shape[2] = {5, 7};
  /* x[4:-6:-1, -1:0:-2] → rows 4,3,2,1,0 (end -6 → -1 after +dim, clamps to -1), cols 6,4,2 */
  int64_t starts[2] = {4, -1}, ends[2] = {-6, 0}, steps[2] = {-1, -2};
  ck_assert_int_eq(kt_slice_resolve(2, shape, 2, starts, ends, NULL, steps, &d), 0);
  ck_assert_int_eq(d.start[0], 4);
  ck_assert_int_eq(d.out_shape[0], 5);
  ck_assert_int_eq(d.start[1], 6);
  ck_assert_int_eq(d.step[1], -2);
  ck_assert_int_eq(d.out_shape[1], 3);
  /* axes given, huge ends, clamped starts */
  int64_t s2[1] = {-100}, e2[1] = {INT64_MAX}, ax[1] = {-1};
  ck_assert_int_eq(kt_slice_resolve(2, shape, 1, s2, e2, ax, NULL, &d), 0);
  ck_assert_int_eq(d.start[1], 0);
  ck_assert_int_eq(d.out_shape[1], 7);
  ck_assert_int_eq(d.out_shape[0], 5);
  /* empty, zero step, repeated axis */
  int64_t s3[1] = {3}, e3[1] = {3}, z[1] = {0}, ax2[2] = {0, -2}, s4[2] = {0, 0}, e4[2] = {1, 1};
  ck_assert_int_eq(kt_slice_resolve(2, shape, 1, s3, e3, NULL, NULL, &d), -1);
  ck_assert_int_eq(kt_slice_resolve(2, shape, 1, s2, e2, NULL, z, &d), -1);
  ck_assert_int_eq(kt_slice_resolve(2, shape, 2, s4, e4, ax2, NULL, &d), -1);
}
END_TEST

START_TEST(test_slice_run) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  static const struct { int rank; int64_t shape[3]; int n; int64_t s[3], e[3], st[3]; } cases[] = {
    {2, {5, 7}, 2, {4, -1}, {-6, 0}, {-1, -2}},
    {3, {2, 9, 12}, 1, {0, 0, 4}, {2, 9, 8}, {1, 1, 1}},    /* qkv-style slice of the last axis */
    {3, {4, 6, 5}, 3, {1, 5, 0}, {4, 0, 5}, {2, -2, 3}},
    {1, {1000}, 1, {-1}, {-1001}, {-1}},                    /* reverse */
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    kt_slice_desc d;
    ck_assert_int_eq(kt_slice_resolve(cases[c].rank, cases[c].shape, cases[c].n, cases[c].s,
                                      cases[c].e, NULL, cases[c].st, &d), 0);
    d.dtype = KIR_F32;
    int64_t nin = numel(d.rank, d.in_shape), n = numel(d.rank, d.out_shape);
    float *x = malloc((size_t)nin * 4), *y = calloc((size_t)n, 4), *want = malloc((size_t)n * 4);
    fill(x, nin, (unsigned)c + 40);
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t groups[3];
    ck_assert_int_eq(kt_slice(m, "k0_slice", &d, &k, groups), 0);
    void *bufs[2] = {x, y};
    size_t count[2] = {(size_t)nin, (size_t)n};
    run(k, groups, bufs, count);
    for (int64_t i = 0; i < n; i++) {
      int64_t r = i, src = 0, stride = 1;
      for (int dd = d.rank - 1; dd >= 0; dd--) {
        int64_t coord = r % d.out_shape[dd];
        r /= d.out_shape[dd];
        src += (d.start[dd] + coord * d.step[dd]) * stride;
        stride *= d.in_shape[dd];
      }
      want[i] = x[src];
    }
    expect_close(y, want, n, 0, "slice");
    free(x);
    free(y);
    free(want);
    kir_module_free(m);
  }
  /* hand-checked: [0..34] as 5×7, x[4:-6:-1, -1:0:-2] */
  kt_slice_desc d;
  int64_t shape[2] = {5, 7}, s[2] = {4, -1}, e[2] = {-6, 0}, st[2] = {-1, -2};
  kt_slice_resolve(2, shape, 2, s, e, NULL, st, &d);
  d.dtype = KIR_I32;
  int32_t x[35], y[15];
  for (int i = 0; i < 35; i++) x[i] = i;
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t groups[3];
  ck_assert_int_eq(kt_slice(m, "k1_slice", &d, &k, groups), 0);
  void *bufs[2] = {x, y};
  size_t count[2] = {35, 15};
  run(k, groups, bufs, count);
  static const int32_t want[15] = {34, 32, 30, 27, 25, 23, 20, 18, 16, 13, 11, 9, 6, 4, 2};
  for (int i = 0; i < 15; i++) ck_assert_int_eq(y[i], want[i]);
  /* a read past the input is rejected */
  d.out_shape[0] = 6;
  ASSERT_REJECTS(m, kt_slice(m, "bad", &d, &k, groups), "do not lie in [0,");
  kir_module_free(m);
}
END_TEST

/* ---- concat ---- */

START_TEST(test_concat) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  static const struct { int rank; int64_t shape[3]; int axis; int n; int64_t sizes[4]; } cases[] = {
    {3, {2, 10, 3}, 1, 3, {2, 5, 3}},
    {2, {9, 4}, 0, 2, {4, 5}},
    {2, {3, 7}, 1, 4, {1, 2, 3, 1}},
    {1, {5}, 0, 1, {5}},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    kt_concat_desc d = {.rank = cases[c].rank, .axis = cases[c].axis, .n_inputs = cases[c].n,
                        .dtype = KIR_F32};
    memcpy(d.shape, cases[c].shape, sizeof(cases[c].shape));
    memcpy(d.axis_size, cases[c].sizes, sizeof(cases[c].sizes));
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < d.axis; k++) outer *= d.shape[k];
    for (int k = d.axis + 1; k < d.rank; k++) inner *= d.shape[k];
    int64_t n = numel(d.rank, d.shape);
    void *bufs[5];
    size_t count[5];
    for (int j = 0; j < d.n_inputs; j++) {
      count[j] = (size_t)(outer * d.axis_size[j] * inner);
      bufs[j] = malloc(count[j] * 4);
      fill(bufs[j], (int64_t)count[j], (unsigned)(c * 7 + j));
    }
    float *y = calloc((size_t)n, 4), *want = malloc((size_t)n * 4);
    bufs[d.n_inputs] = y;
    count[d.n_inputs] = (size_t)n;
    kir_module *m = kir_module_new();
    kir_kernel *k;
    int64_t groups[3];
    ck_assert_int_eq(kt_concat(m, "k0_concat", &d, &k, groups), 0);
    run(k, groups, bufs, count);
    int64_t pos = 0;
    for (int64_t o = 0; o < outer; o++)
      for (int j = 0; j < d.n_inputs; j++) {
        int64_t len = d.axis_size[j] * inner;
        memcpy(want + pos, (float *)bufs[j] + o * len, (size_t)len * 4);
        pos += len;
      }
    expect_close(y, want, n, 0, "concat");
    for (int j = 0; j <= d.n_inputs; j++) free(bufs[j]);
    free(want);
    kir_module_free(m);
  }
}
END_TEST

/* ---- gather ---- */

START_TEST(test_gather) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  /* data 4×3, axis 0, indices with negatives and out-of-range values (clamped) */
  float data[12];
  for (int i = 0; i < 12; i++) data[i] = (float)i;
  int32_t idx[6] = {-1, 0, 2, -4, 7, -9};
  float y[18];
  kt_gather_desc d = {.rank = 2, .shape = {4, 3}, .axis = 0, .n_indices = 6, .dtype = KIR_F32,
                      .index_dtype = KIR_I32};
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t groups[3];
  ck_assert_int_eq(kt_gather(m, "k0_gather", &d, &k, groups), 0);
  void *bufs[3] = {data, idx, y};
  size_t count[3] = {12, 6, 18};
  run(k, groups, bufs, count);
  static const int rows[6] = {3, 0, 2, 0, 3, 0}; /* 7 → 3 (clamped), -9 → -5 → 0 (clamped) */
  for (int q = 0; q < 6; q++)
    for (int c = 0; c < 3; c++) ck_assert_float_eq(y[q * 3 + c], data[rows[q] * 3 + c]);

  /* data 2×5×3, axis 1, 2×2 indices → out 2×2×2×3 */
  float data2[30], y2[24], want2[24];
  fill(data2, 30, 5);
  int32_t idx2[4] = {4, -5, 1, -2};
  kt_gather_desc d2 = {.rank = 3, .shape = {2, 5, 3}, .axis = 1, .n_indices = 4,
                       .dtype = KIR_F32, .index_dtype = KIR_I32};
  ck_assert_int_eq(kt_gather(m, "k1_gather", &d2, &k, groups), 0);
  void *bufs2[3] = {data2, idx2, y2};
  size_t count2[3] = {30, 4, 24};
  run(k, groups, bufs2, count2);
  for (int o = 0; o < 2; o++)
    for (int q = 0; q < 4; q++) {
      int j = idx2[q] < 0 ? idx2[q] + 5 : idx2[q];
      for (int c = 0; c < 3; c++) want2[(o * 4 + q) * 3 + c] = data2[(o * 5 + j) * 3 + c];
    }
  expect_close(y2, want2, 24, 0, "gather axis 1");
  kir_module_free(m);
}
END_TEST

START_TEST(test_copy) {
  ck_assert_msg(have_cl, "no OpenCL device (install PoCL)");
  int64_t n = 777;
  float *x = malloc((size_t)n * 4), *y = calloc((size_t)n, 4);
  fill(x, n, 3);
  kir_module *m = kir_module_new();
  kir_kernel *k;
  int64_t groups[3];
  ck_assert_int_eq(kt_copy(m, "k0_copy", n, KIR_F32, &k, groups), 0);
  ck_assert_int_eq(groups[0], 4);
  void *bufs[2] = {x, y};
  size_t count[2] = {(size_t)n, (size_t)n};
  run(k, groups, bufs, count);
  expect_close(y, x, n, 0, "copy");
  ASSERT_REJECTS(m, kt_copy(m, "bad", 0, KIR_F32, &k, groups), "0 elements");
  free(x);
  free(y);
  kir_module_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("templates_shape");
  TCase *tc = tcase_create("templates");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_elementwise_broadcast);
  tcase_add_test(tc, test_elementwise_index_forms);
  tcase_add_test(tc, test_elementwise_formulas);
  tcase_add_test(tc, test_transpose);
  tcase_add_test(tc, test_slice_resolve);
  tcase_add_test(tc, test_slice_run);
  tcase_add_test(tc, test_concat);
  tcase_add_test(tc, test_gather);
  tcase_add_test(tc, test_copy);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

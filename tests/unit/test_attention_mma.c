/* test_attention_mma.c — the tensor-core attention (codegen/templates/attention_mma.c) run on a
 * device without tensor cores: its OpenCL C as printed, with the inline-PTX mma.sync replaced by
 * the emulation of mma_emu.c (written from the PTX fragment layout, not from the printer). So
 * this checks the staging of q, k and v (asynchronous copies in two stages, raw words and half
 * by half in one), both fragment products, the online softmax on the score accumulators'
 * elements with its lane exchanges, the packing of p, masks, the causal cut, ragged tiles and
 * the store
 * against a host attention in double over the same halves, on PoCL; and the scalar fallback
 * kt_attention attaches, on the same cases (halves in, f16 or f32 out), and both with a fused
 * epilogue. The real instruction is
 * checked on the GPU (tools/gpu/mma_check.sh for the helpers; tools/bench for this kernel). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_harness.h"
#include "dtype.h"
#include "kir.h"
#include "templates/attention.h"
#include "templates/matmul.h"

#include "cl_harness.c"
#include "mma_emu.c"

typedef struct attn_case {
  int64_t tq, tk, d, dv;
  int batch;        /* batch items (heads) */
  int causal;
  int mask;         /* kt_attn_mask; f32 broadcast over the batch, bool per item */
  int split;        /* q, k and v rows of all items interleaved: [T, batch·d] as heads of a
                       projection (row stride batch·d, item stride d), else [batch, T, d] */
  int64_t offset;   /* element offset of q, k and v in their buffers (odd: half-by-half copies) */
  double scale;     /* 0: 1/sqrt(d) */
  int out16;        /* the output stored as halves (an f16 attention) */
  int fallback;     /* run the scalar fallback kt_attention attached (reads halves too) */
  int epi;          /* a fused epilogue that sees every output's position (epilogue below) */
  int local_kib;    /* local memory budget (0: 48 KiB); a small one forces short key tiles */
} attn_case;

/* The fused epilogue of the `epi` cases: 2·o + 1e-4·lin − 1e-3·row + 1e-2·col + 0.1·batch, so
 * a wrong position of any kind moves the value. */
static kir_expr *epilogue(kir_builder *b, kir_expr *v, const kt_out_pos *at, void *user) {
  (void)user;
  kir_expr *x = kir_bin(b, KIR_MUL, v, kir_f32(b, 2.0));
  x = kir_bin(b, KIR_ADD, x, kir_bin(b, KIR_MUL, at->lin, kir_f32(b, 1e-4)));
  x = kir_bin(b, KIR_SUB, x, kir_bin(b, KIR_MUL, at->row, kir_f32(b, 1e-3)));
  x = kir_bin(b, KIR_ADD, x, kir_bin(b, KIR_MUL, at->col, kir_f32(b, 1e-2)));
  return kir_bin(b, KIR_ADD, x, kir_bin(b, KIR_MUL, at->batch, kir_f32(b, 0.1)));
}

static double epilogue_ref(double o, int64_t lin, int64_t row, int64_t col, int64_t batch) {
  return 2.0 * o + 1e-4 * (double)lin - 1e-3 * (double)row + 1e-2 * (double)col + 0.1 * (double)batch;
}

static float rand_unit(unsigned *state) {
  *state = *state * 1103515245u + 12345u;
  return (float)((*state >> 8) % 2001) / 1000.0f - 1.0f;
}

static cl_mem buffer(clh *h, const void *host, size_t bytes) {
  cl_int err;
  cl_mem m = clCreateBuffer(h->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, (void *)host, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  return m;
}

/* The view of q/k (cols d) or v (cols dv) over `rows` rows. */
static kt_attn_view view_of(const attn_case *c, int64_t rows, int64_t cols) {
  kt_attn_view w = {.offset = c->offset, .stride_c = 1};
  w.stride_r = c->split ? c->batch * cols : cols;
  w.batch_stride[0] = c->split ? cols : rows * cols;
  return w;
}

static int64_t at_of(const kt_attn_view *w, int64_t bi, int64_t r, int64_t col) {
  return w->offset + bi * w->batch_stride[0] + r * w->stride_r + col * w->stride_c;
}

static void run_case(clh *h, const attn_case *c, int index) {
  const int64_t B = c->batch, TQ = c->tq, TK = c->tk, D = c->d, DV = c->dv;
  kt_attention_desc d = {.tq = TQ, .tk = TK, .d = D, .dv = DV, .n_batch = 1, .batch = {B},
                         .mask_kind = c->mask, .causal = c->causal,
                         .scale = c->scale ? c->scale : 1.0 / sqrt((double)D),
                         .device_class = KT_DEVICE_GPU, .q_elem = KIR_F16, .k_elem = KIR_F16,
                         .v_elem = KIR_F16, .out_elem = c->out16 ? KIR_F16 : KIR_F32, .mma = 1,
                         .local_mem_bytes = (int64_t)c->local_kib * 1024};
  d.q = view_of(c, TQ, D);
  d.k = view_of(c, TK, D);
  d.v = view_of(c, TK, DV);
  if (c->mask == KT_ATTN_MASK_ADD) d.mask = (kt_attn_view){.stride_r = TK, .stride_c = 1};
  if (c->mask == KT_ATTN_MASK_BOOL) d.mask = (kt_attn_view){.batch_stride = {TQ * TK}, .stride_r = TK, .stride_c = 1};
  d.out = (kt_attn_view){.batch_stride = {TQ * DV}, .stride_r = DV, .stride_c = 1};
  if (c->epi) d.epilogue.fn = epilogue;
  ck_assert_msg(kt_attention_mma_applies(&d), "case %d: the tensor-core kernel does not apply", index);

  kir_module *mod = kir_module_new();
  kir_kernel *k = NULL;
  int64_t groups[3];
  /* Through kt_attention: the variant, with the scalar kernel as its fallback. */
  ck_assert_msg(kt_attention(mod, "attn", &d, &k, groups) == 0, "case %d: %s", index, kir_module_error(mod));
  ck_assert_ptr_nonnull(k->fallback);
  ck_assert_uint_eq(k->features & KIR_FEATURE_MMA_F16, KIR_FEATURE_MMA_F16);
  ck_assert_uint_eq(k->fallback->features & KIR_FEATURE_MMA_F16, 0);
  if (c->fallback) k = k->fallback; /* same buffers and work-groups */
  char *src = c->fallback ? clh_source(k) : mma_emu_source(k);
  ck_assert_msg(src != NULL, "case %d: the printed source has no mlg_mma_16 helper", index);
  /* Rows at multiples of 8 halves are copied asynchronously (two stages), others not. */
  if (!c->fallback)
    ck_assert_msg((strstr(src, "mlg_cp_async(kv_tiles") != NULL) == (c->offset % 8 == 0),
                  "case %d: asynchronous copies %s", index, c->offset % 8 ? "of unaligned rows" : "missing");

  unsigned seed = 777u + (unsigned)index;
  size_t nq = (size_t)(c->offset + B * TQ * D), nk = (size_t)(c->offset + B * TK * D),
         nv = (size_t)(c->offset + B * TK * DV), no = (size_t)(B * TQ * DV), nm = (size_t)(B * TQ * TK);
  uint16_t *q = calloc(nq, 2), *kk = calloc(nk, 2), *v = calloc(nv, 2);
  float *madd = malloc(nm * 4), *out = malloc(no * 4);
  uint16_t *out_h = malloc(no * 2);
  unsigned char *mbool = malloc(nm);
  ck_assert(q && kk && v && madd && out && out_h && mbool);
  for (size_t i = 0; i < nq; i++) q[i] = mlg_f32_to_f16(rand_unit(&seed) * 2.0f);
  for (size_t i = 0; i < nk; i++) kk[i] = mlg_f32_to_f16(rand_unit(&seed) * 2.0f);
  for (size_t i = 0; i < nv; i++) v[i] = mlg_f32_to_f16(rand_unit(&seed));
  for (size_t i = 0; i < nm; i++) {
    madd[i] = i % 7 == 3 ? -INFINITY : rand_unit(&seed) - 1.0f;
    mbool[i] = (i * 2654435761u >> 7) % 4 != 0;
  }
  /* A bool-masked query that keeps no key gets 0. */
  if (c->mask == KT_ATTN_MASK_BOOL)
    for (int64_t j = 0; j < TK; j++) mbool[(size_t)(TQ / 2 * TK + j)] = 0;

  cl_program prog;
  cl_kernel kern = mma_emu_kernel(h, src, k->name, index, &prog);
  for (size_t i = 0; i < no; i++) {
    out[i] = NAN;
    out_h[i] = 0x7E00; /* NaN: an output never stored fails */
  }
  const size_t oelem = c->out16 ? 2 : 4;
  cl_mem mems[5] = {buffer(h, q, nq * 2), buffer(h, kk, nk * 2), buffer(h, v, nv * 2), NULL,
                    c->out16 ? buffer(h, out_h, no * 2) : buffer(h, out, no * 4)};
  if (c->mask) mems[3] = c->mask == KT_ATTN_MASK_ADD ? buffer(h, madd, (size_t)(TQ * TK) * 4) : buffer(h, mbool, nm);
  int arg = 0;
  const cl_uint zero = 0;
  for (int i = 0; i < 5; i++) {
    if (!mems[i]) continue;
    ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)arg++, sizeof(cl_mem), &mems[i]), CL_SUCCESS);
    ck_assert_int_eq(clSetKernelArg(kern, (cl_uint)arg++, sizeof(cl_uint), &zero), CL_SUCCESS);
  }
  size_t local[3] = {(size_t)k->local_size[0], 1, 1};
  size_t global[3] = {(size_t)groups[0] * local[0], (size_t)groups[1], (size_t)groups[2]};
  ck_assert_int_eq(clEnqueueNDRangeKernel(h->queue, kern, 3, NULL, global, local, 0, NULL, NULL), CL_SUCCESS);
  ck_assert_int_eq(clEnqueueReadBuffer(h->queue, mems[4], CL_TRUE, 0, no * oelem, c->out16 ? (void *)out_h : (void *)out,
                                       0, NULL, NULL), CL_SUCCESS);
  if (c->out16)
    for (size_t i = 0; i < no; i++) out[i] = mlg_f16_to_f32(out_h[i]);

  /* The attention in double over the same halves. The kernel rounds each p = exp(s − m) <= 1
   * to a half before p·v (relative 2^-11) and sums the unrounded p: the output may differ by
   * about 2^-11 · max |v| (|v| <= 1), within 2e-3; an f16 output adds one rounding (2^-11). */
  const double tol = (c->out16 ? 3e-3 : 2e-3) * (c->epi ? 2.0 : 1.0);
  double *p = malloc((size_t)TK * sizeof(double));
  ck_assert_ptr_nonnull(p);
  size_t bad = 0, first = 0;
  double first_got = 0, first_want = 0;
  for (int64_t bi = 0; bi < B; bi++)
    for (int64_t i = 0; i < TQ; i++) {
      double mx = -INFINITY, l = 0;
      for (int64_t j = 0; j < TK; j++) {
        double s = 0;
        for (int64_t e = 0; e < D; e++)
          s += (double)mlg_f16_to_f32(q[at_of(&d.q, bi, i, e)]) * mlg_f16_to_f32(kk[at_of(&d.k, bi, j, e)]);
        s *= d.scale;
        if (c->mask == KT_ATTN_MASK_ADD) s += madd[i * TK + j];
        if (c->mask == KT_ATTN_MASK_BOOL && !mbool[(bi * TQ + i) * TK + j]) s = -INFINITY;
        if (c->causal && j > i) s = -INFINITY;
        p[j] = s;
        if (s > mx) mx = s;
      }
      for (int64_t j = 0; j < TK; j++) {
        p[j] = mx == -INFINITY ? 0.0 : exp(p[j] - mx);
        l += p[j];
      }
      for (int64_t e = 0; e < DV; e++) {
        double want = 0;
        for (int64_t j = 0; j < TK; j++) want += p[j] * mlg_f16_to_f32(v[at_of(&d.v, bi, j, e)]);
        want = l > 0 ? want / l : 0.0;
        size_t at = (size_t)((bi * TQ + i) * DV + e);
        if (c->epi) want = epilogue_ref(want, (int64_t)at, i, e, bi);
        if (!(fabs(out[at] - want) <= tol)) {
          if (!bad) {
            first = at;
            first_got = out[at];
            first_want = want;
          }
          bad++;
        }
      }
    }
  ck_assert_msg(bad == 0, "case %d (Tq %lld, Tk %lld, d %lld, dv %lld): %zu of %zu outputs wrong, first at %zu: %g, "
                "want %g", index, (long long)TQ, (long long)TK, (long long)D, (long long)DV, bad, no, first,
                first_got, first_want);
  for (int i = 0; i < 5; i++)
    if (mems[i]) clReleaseMemObject(mems[i]);
  clReleaseKernel(kern);
  clReleaseProgram(prog);
  free(p);
  free(q);
  free(kk);
  free(v);
  free(madd);
  free(mbool);
  free(out);
  free(out_h);
  free(src);
  kir_module_free(mod);
}

static const attn_case cases[] = {
  {128, 128, 64, 64, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  /* two whole tiles, no mask */
  {100, 100, 64, 64, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0},                  /* causal, ragged Tq and Tk */
  {70, 150, 32, 64, 2, 0, KT_ATTN_MASK_ADD, 0, 0, 0.3, 0, 0, 0, 0},  /* Tq != Tk, f32 mask with −inf, d != dv */
  {130, 90, 64, 32, 2, 1, KT_ATTN_MASK_BOOL, 0, 0, 0, 0, 0, 0, 0},   /* bool mask (a row keeps nothing) and causal */
  {96, 96, 64, 64, 3, 1, 0, 1, 0, 0, 0, 0, 0, 0},                    /* heads split from a projection, causal */
  {80, 72, 16, 48, 2, 0, 0, 1, 1, 0, 0, 0, 0, 0},                    /* odd offset: half-by-half copies */
  {64, 100, 128, 64, 1, 0, KT_ATTN_MASK_ADD, 0, 0, 0, 0, 0, 0, 0},   /* d 128: key tiles of 32 */
  {100, 100, 64, 64, 2, 1, 0, 1, 0, 0, 1, 0, 0, 0},            /* f16 output (an f16 attention) */
  {130, 90, 64, 32, 2, 1, KT_ATTN_MASK_BOOL, 0, 0, 0, 1, 1, 0, 0}, /* the fallback, f16 output */
  {70, 150, 32, 64, 2, 0, KT_ATTN_MASK_ADD, 1, 1, 0.3, 0, 1, 0, 0}, /* the fallback, half by half */
  {100, 70, 32, 32, 3, 1, 0, 1, 0, 0, 0, 0, 1, 0},                /* a fused epilogue */
  {100, 70, 32, 32, 3, 1, 0, 1, 0, 0, 1, 1, 1, 0},                /* the fallback's, f16 output */
  {80, 72, 16, 48, 2, 1, 0, 0, 0, 0, 0, 0, 0, 9},              /* 9 KiB: key tiles of 16, copies
                                                                   that leave work-items idle */
  {100, 90, 32, 64, 2, 1, KT_ATTN_MASK_ADD, 1, 2, 0, 0, 0, 0, 0}, /* rows 4-byte aligned: one stage
                                                                   copied word by word */
};

START_TEST(test_attention_mma_emulated) {
  clh h;
  if (clh_init(&h) != 0) return; /* no OpenCL device: nothing to run on */
  run_case(&h, &cases[_i], _i);
  clh_free(&h);
}
END_TEST

/* Where the tensor-core kernel applies: halves, head dims multiples of 16 up to 128, not on a
 * CPU; kt_attention builds the scalar kernel alone elsewhere. */
START_TEST(test_attention_mma_applies) {
  kt_attention_desc d = {.tq = 64, .tk = 64, .d = 64, .dv = 64, .scale = 0.125, .device_class = KT_DEVICE_GPU,
                         .q_elem = KIR_F16, .k_elem = KIR_F16, .v_elem = KIR_F16, .mma = 1};
  d.q = d.k = d.v = d.out = (kt_attn_view){.stride_r = 64, .stride_c = 1};
  ck_assert(kt_attention_mma_applies(&d));
  kt_attention_desc e = d;
  e.k_elem = KIR_F32;
  ck_assert(!kt_attention_mma_applies(&e));
  e = d;
  e.d = 40;
  ck_assert(!kt_attention_mma_applies(&e));
  e = d;
  e.dv = 256;
  ck_assert(!kt_attention_mma_applies(&e));
  e = d;
  e.device_class = KT_DEVICE_CPU;
  ck_assert(!kt_attention_mma_applies(&e));
  e = d;
  e.mma = 0;
  ck_assert(!kt_attention_mma_applies(&e));
  e = d;
  e.local_mem_bytes = 16 * 1024; /* the query tile alone is 18 KiB */
  ck_assert(!kt_attention_mma_applies(&e));
  kir_module *m = kir_module_new();
  kir_kernel *k = NULL;
  int64_t g[3];
  e = d;
  e.device_class = KT_DEVICE_CPU;
  ck_assert_int_eq(kt_attention(m, "cpu", &e, &k, g), 0);
  ck_assert_ptr_null(k->fallback);
  ck_assert_uint_eq(k->features, 0);
  ck_assert_int_eq(kt_attention_mma(m, "none", &e, &k, g), 0);
  kir_module_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("attention_mma");
  TCase *tc = tcase_create("emulated");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_attention_mma_applies);
  tcase_add_loop_test(tc, test_attention_mma_emulated, 0, (int)(sizeof cases / sizeof cases[0]));
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

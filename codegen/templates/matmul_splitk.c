/* matmul_splitk.c — a GEMM with too few output tiles to fill a GPU, split along K: partial
 * products of K slices into f32 scratch, then one pass that sums them and finishes C. */
#include "matmul.h"

#include "kt_util.h"
#include "reduce.h"

#define SPLIT_WANT_GROUPS 512 /* work-groups to aim for: several waves of a large GPU's SMs */
#define SPLIT_WANT_GROUPS_CONV 2048
#define SPLIT_MIN_K 256       /* no slice shorter than this */
#define SPLIT_MIN_K_CONV 64   /* ... but a convolution far from its aim (kt_matmul_split_slices) */
#define SPLIT_MAX 16
#define SPLIT_MAX_GATHERED 8  /* the tiled kernel's gathered convolutions (kt_matmul_split_slices) */

/* The work-groups to aim for. A convolution's tiled kernel (64 items a group, its B gathered)
 * wants many more groups than a plain GEMM to hide its loads: on the H200, ResNet-18's f32
 * convolutions at batch 16 took 2.97 ms of device time aiming at 512 and 2.73 at 2048 (3072 and
 * 4096 the same), 3.67 and 3.33 through Vulkan, whose f16 convolutions (no cp.async) went from
 * 4.12 to 3.78; while SGEMM 2048 went from 0.480 to 0.541 ms, the transformer block at T = 1024
 * from 1.066 to 1.087, and the OpenCL tensor-core convolutions (cp.async pipelines) at f16 from
 * 1.281 to 1.328 (mlgrun --no-tune --bench 20-30, 2026-12-04). */
static int conv_aim(const kt_matmul_desc *d) {
  return d->b_im2col.on && !(kt_matmul_mma_applies(d) && d->async_copies);
}

static int64_t want_groups(const kt_matmul_desc *d) {
  return conv_aim(d) ? SPLIT_WANT_GROUPS_CONV : SPLIT_WANT_GROUPS;
}

/* The fewest slices (at most max_slices) that reach `aim` groups from `groups`, each a whole
 * number of K steps (so that slices never straddle a step and the tiled kernel's K guards stay
 * exact) and at least min_k long; fewer where K does not divide; 1 when none fits. */
static int pick_slices(const kt_matmul_desc *t, int64_t groups, int64_t aim, int64_t min_k, int max_slices) {
  int want = (int)kt_ceil_div(aim, groups);
  for (int s = want < max_slices ? want : max_slices; s >= 2; s--)
    if (t->k % s == 0 && (t->k / s) % t->tile_k == 0 && t->k / s >= min_k) return s;
  return 1;
}

int kt_matmul_split_slices(const kt_matmul_desc *d) {
  /* A tensor-core GEMM splits only as a convolution (gathered B): the case measured. */
  if (d->device_class != KT_DEVICE_GPU || d->n_batch || d->a_norm || d->row_softmax || (kt_matmul_mma_applies(d) && !d->b_im2col.on) ||
      d->k < 2 * SPLIT_MIN_K_CONV)
    return 1;
  kt_matmul_desc t = *d;
  kt_matmul_pick_tiles(&t);
  if (t.m <= KT_SKINNY_MAX_M) return 1; /* the skinny kernel's problem */
  if (t.reg_m * t.reg_n > 64) return 1;  /* wide tiles: picked only where they fill the device */
  int64_t groups = kt_ceil_div(t.m, t.tile_m) * kt_ceil_div(t.n, t.tile_n);
  const int64_t aim = want_groups(d);
  /* Half the aim is enough: SGEMM 2048 (256 groups of 128 × 128) took 0.481 ms on the H200 in
   * two slices and 0.461 whole, one wave of two groups per SM (2026-12-05). */
  if (groups * 2 >= aim) return 1;
  /* The tiled kernel's gathered convolutions take at most 8 slices, except on 64×64 tiles far
   * from their aim (below): once their gathers no longer divided per element, ResNet-18's
   * layers 3 and 4 at batch 16 in 8 slices instead of 9 and 16 ran 2.42 → 2.33 ms through OpenCL
   * and 2.73 → 2.54 through Vulkan, while 8 for its batch-1 layers too (64×64 tiles, 16 slices)
   * lost: 0.45 → 0.51 and 0.64 → 0.73 (H100, 2026-12-05, docs/performance.md "The gather's
   * arithmetic"). */
  const int gathered = d->b_im2col.on && !kt_matmul_mma_applies(d);
  int s = pick_slices(&t, groups, aim, SPLIT_MIN_K, gathered ? SPLIT_MAX_GATHERED : SPLIT_MAX);
  /* A convolution still under a quarter of its aim takes slices down to SPLIT_MIN_K_CONV: at
   * batch 1 ResNet-18's stages have 16 to 49 output tiles of 64 items a group, and with slices
   * of 256 or more an SM held one or two warps, each slice's K steps at one warp's latency.
   * The model at batch 1 went from 0.653 to 0.475 ms of device time on the H200 through
   * OpenCL, 1.254 to 0.806 through Vulkan; shorter slices for every convolution made batch 16
   * slower (2.72 → 2.83 ms through OpenCL: 3 and 6 slices where 2 and 4 did). */
  if (conv_aim(d) && groups * s * 4 < aim)
    s = pick_slices(&t, groups, aim, SPLIT_MIN_K_CONV, gathered && t.tile_m >= 128 ? SPLIT_MAX_GATHERED : SPLIT_MAX);
  return s;
}

/* Contiguous layouts written out as strides (strided = 0 means them). */
static void explicit_strides(const kt_matmul_desc *d, kt_matmul_desc *out) {
  if (d->strided) return;
  out->strided = 1;
  out->a_offset = out->b_offset = 0;
  out->a_stride_m = d->k;
  out->a_stride_k = 1;
  out->b_stride_k = d->trans_b ? 1 : d->n;
  out->b_stride_n = d->trans_b ? d->k : 1;
  out->c_stride_m = d->n;
  out->c_stride_n = 1;
}

int kt_matmul_split_partial(const kt_matmul_desc *d, int slices, kt_matmul_desc *out) {
  if (slices < 2 || d->n_batch || d->k % slices) return -1;
  *out = *d;
  explicit_strides(d, out);
  const int64_t ks = d->k / slices;
  out->k = ks;
  out->n_batch = 1;
  out->batch[0] = slices;
  /* Slice z is batch z: A and B advance by ks along K (a gathered B by ks in its k index). */
  out->a_batch_stride[0] = ks * out->a_stride_k;
  out->b_batch_stride[0] = d->b_im2col.on ? 0 : ks * out->b_stride_k;
  if (d->b_im2col.on) out->b_im2col.k_per_batch = ks;
  /* C: plain f32 [slices][M][N], no bias, no epilogue, nothing folded. */
  out->c_batch_stride[0] = d->m * d->n;
  out->c_stride_m = d->n;
  out->c_stride_n = 1;
  out->c_fold = 0;
  out->has_bias = 0;
  out->epilogue = (kt_epilogue){0};
  out->c_elem = KIR_F32;
  return 0;
}

int kt_matmul_split_reduce(kir_module *m, const char *name, const kt_matmul_desc *desc, int slices,
                           kir_kernel **out_kernel, int64_t out_groups[3]) {
  *out_kernel = NULL;
  const int L = 256;
  const int64_t M = desc->m, N = desc->n, MN = M * N;
  if (slices < 2 || desc->n_batch || MN * slices >= ((int64_t)1 << 31))
    return kt_fail(m, "a K split into %d slices of an %lldx%lld result", slices, (long long)M, (long long)N);
  kt_matmul_desc d = *desc;
  explicit_strides(desc, &d);
  /* The frame's buffers: the partial sums stand where A is, without B (bB = -1). */
  kt_matmul_frame f = {.d = &d, .nb = 1, .bB = -1, .bNormW = -1, .bNormB = -1};
  kir_builder *b = kir_kernel_begin(m, name, L, 1, 1);
  if (!b) return -1;
  f.bA = kir_buffer_param(b, "partial", KIR_F32, KIR_READ);
  f.bBias = d.has_bias ? kir_buffer_param(b, "bias", d.bias_elem, KIR_READ) : -1;
  f.bC = kir_buffer_param(b, "c", d.c_elem, KIR_WRITE);
  f.c_base = kir_var_new(b, "c_base", kir_t(KIR_I32));
  kir_decl(b, f.c_base, kir_i32(b, 0));
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  kir_if(b, kt_lt(b, kir_var(b, i), MN));
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, acc, kir_load(b, f.bA, kir_var(b, i)));
  for (int s = 1; s < slices; s++)
    kir_assign(b, acc, kir_add(b, kir_var(b, acc), kir_load(b, f.bA, kir_add(b, kir_var(b, i), kir_i32(b, s * MN)))));
  kir_expr *v = kir_var(b, acc);
  if (kt_matmul_frame_store(b, &f, 1, &v, kir_div(b, kir_var(b, i), kir_i32(b, N)),
                            kir_mod(b, kir_var(b, i), kir_i32(b, N))) != 0) {
    kir_kernel_end(b, NULL);
    return kt_fail(m, "the fused epilogue could not be built");
  }
  kir_end(b);
  out_groups[0] = kt_ceil_div(MN, L);
  out_groups[1] = out_groups[2] = 1;
  return kir_kernel_end(b, out_kernel);
}

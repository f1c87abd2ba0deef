/* matmul.h — kernel template for batched matrix multiply, C[b] = A[b] @ B[b] (+ bias).
 *
 * Serves `matmul` (with broadcast batch dims) and `linear` (trans_b = 1, has_bias = 1:
 * y = x @ wᵀ + bias with w as [out, in]).
 *
 * Layout: A[b] is a row-major M×K matrix starting at element Σ_d idx_d · a_batch_stride[d] of A;
 * B[b] is row-major K×N (or N×K when trans_b) at Σ_d idx_d · b_batch_stride[d] of B, where
 * idx_d are the C-order digits of the batch index b over batch[]. A stride of 0 broadcasts
 * that operand along the dim. C is contiguous [batch..., M, N]. bias is [N].
 *
 * The tiled kernel (matmul.c): each work-group computes a tile_m × tile_n tile of one C[b]; it
 * walks K in steps of tile_k, staging the A and B tiles in local memory as vectors of up to 4
 * along m and n (matmul_tile.h: the next tile's global loads are issued before the current
 * tile's multiply-adds); each work-item accumulates a reg_m × reg_n register block made of the
 * vectors tx + WX·j (columns) and ty + WY·i (rows), so neighbouring work-items read neighbouring
 * local vectors; register blocks go up to 16 × 16 (a plain f32 GEMM's wide tiles on GPUs, whose
 * local tiles are double-buffered). Loads past the matrix edges read 0 and stores past them are skipped, so M, N and
 * K may be any size; guards that cannot fire are omitted. Other kernels for the same descriptor:
 * the CPU vector kernel (matmul_cpu.c) and the split-K kernel for few rows on GPUs
 * (matmul_skinny.c), chosen by kt_matmul.
 *
 * Fusion (compiler/fuse.h): with `strided`, A, B and C may be any strided views (a transposed,
 * sliced or reshaped operand needs no copy, and C may be written straight into the layout of a
 * transpose that follows). With `a_norm`, the rows of A are layer-normalized as they are loaded:
 * each work-group first computes mean and 1/sqrt(var + eps) of its tile_m rows (over all K),
 * then every A element becomes (a − mean) · rstd (· norm_weight[k]) (+ norm_bias[k]); the
 * row statistics are recomputed by each column tile, 2·K loads per row against K·tile_n
 * multiply-adds. The epilogue (hooks.h) sees the value after the bias.
 *
 * Buffers, in order: A (read), B (read), bias (read, only if has_bias), norm_weight and
 * norm_bias (read, [K], only if a_norm with a_norm_weight / a_norm_bias), C (write), then any
 * the epilogue declares.
 * Launch (the tiled kernel; the others return theirs): work-group size (tile_n / reg_n,
 *         tile_m / reg_m, 1); groups = (ceil(N / tile_n), ceil(M / tile_m), Π batch).
 * Index arithmetic is 32-bit: each buffer must have fewer than 2^31 elements.
 * Thread safety: reentrant. */
#ifndef MLG_KT_MATMUL_H
#define MLG_KT_MATMUL_H

#include <stdint.h>
#include <stddef.h>

#include "../kir.h"
#include "hooks.h"

#define KT_MATMUL_MAX_BATCH 6

/* What the kernel is tuned for (mlg_compile_options.device_class). */
typedef enum kt_device_class { KT_DEVICE_UNKNOWN = 0, KT_DEVICE_CPU = 1, KT_DEVICE_GPU = 2 } kt_device_class;

/* B as the im2col matrix of an image batch x [n, c_in, h, w], gathered while B's tiles are
 * loaded (an implicit-GEMM convolution): B(k, j) = x[j / HW, ci, oh·stride_h − pad_top + r·dil_h,
 * ow·stride_w − pad_left + s·dil_w] (0 outside x) with k = (ci·kh + r)·kw + s, j % HW = oh·w_out
 * + ow and HW = h_out·w_out. The B buffer is x; K must be c_in·kh·kw and N a multiple of HW. */
typedef struct kt_matmul_im2col {
  int on;
  int64_t c_in, h, w, kh, kw, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, h_out, w_out;
  int64_t k_per_batch;  /* > 0: a K slice per batch (split K, one batch dim): batch z gathers
                           k + z·k_per_batch; the desc's k is the slice's length */
} kt_matmul_im2col;

typedef struct kt_matmul_desc {
  int64_t m, n, k;                               /* C[b] is m×n, the inner dim is k; all >= 1 */
  int n_batch;                                   /* number of batch dims, 0..KT_MATMUL_MAX_BATCH */
  int64_t batch[KT_MATMUL_MAX_BATCH];            /* C's batch dims, each >= 1 */
  int64_t a_batch_stride[KT_MATMUL_MAX_BATCH];   /* elements; 0 = A broadcast along that dim */
  int64_t b_batch_stride[KT_MATMUL_MAX_BATCH];   /* elements; 0 = B broadcast along that dim */
  int trans_b;                                   /* 0: B[b] is K×N; 1: B[b] is N×K */
  int has_bias;                                  /* 1: add bias[n] to every row */
  /* Layouts. strided = 0: as described above (trans_b picks B's). strided = 1: element (m, k)
   * of A[b] is at a_offset + a_base(b) + m·a_stride_m + k·a_stride_k, with a_base(b) from
   * a_batch_stride as above; likewise B's (k, n) and C's (m, n) with c_batch_stride. Strides
   * may be negative; C's must not send two elements to one place. trans_b is ignored. */
  int strided;
  int64_t a_offset, a_stride_m, a_stride_k;
  int64_t b_offset, b_stride_k, b_stride_n;
  int64_t c_batch_stride[KT_MATMUL_MAX_BATCH];
  int64_t c_stride_m, c_stride_n;
  /* Layer-normalize A's rows on load (see above). */
  int a_norm;
  double a_norm_eps;
  int a_norm_weight, a_norm_bias;
  kt_epilogue epilogue;                          /* fn NULL: store the (biased) value */
  /* Tiling (0 = let kt_matmul_pick_tiles choose). tile_m % reg_m == 0, tile_n % reg_n == 0,
   * (tile_m/reg_m)·(tile_n/reg_n) <= 1024 work-items, (tile_m + tile_n)·tile_k·4 bytes of
   * local memory <= 48 KiB. */
  int tile_m, tile_n, tile_k;                    /* work-group tile and K step */
  int reg_m, reg_n;                              /* register block per work-item */
  /* Device class (kt_device_class). CPU: when B's rows (or, with B as N×K, both operands' K
   * axes) are contiguous and A is not normalized, the vector kernel of matmul_cpu.c runs
   * instead (no local memory; tile fields ignored). GPU: large tiles (128×128, 8×8 per
   * work-item) for large problems. UNKNOWN: the portable tiles above. */
  int device_class;
  int max_vec;                                   /* widest vector the target allows; 0 → 16
                                                    (OpenCL); Vulkan: 4 */
  int64_t local_mem_bytes;                       /* 0 → 48 KiB */
  int bias_per_row;                              /* has_bias: bias is [M], added along rows */
  /* Images folded into N (convolution as one GEMM over every image's pixels): c_fold > 0 says
   * column j of C is position j % c_fold of image j / c_fold, C being [N / c_fold, M, c_fold]
   * contiguous. Needs strided = 1, no batch dims, c_stride_m = c_fold, c_stride_n = 1 and N a
   * multiple of c_fold; the epilogue's `lin` is the element's index in that layout. */
  int64_t c_fold;
  kt_matmul_im2col b_im2col;                     /* on: B gathered from x (the tiled and the
                                                    tensor-core kernel) */
  int subgroups;                                 /* reductions (matmul_skinny.c) may use subgroup
                                                    operations: Vulkan only, kt_emit_wg_reduce */
  /* How A, B, bias and C are stored (kir_scalar; 0 is KIR_F32): every kernel declares its
   * buffers so (loads widen to f32, stores round). */
  kir_scalar a_elem, b_elem, bias_elem, c_elem;
  /* Tensor cores: also build the fragment kernel of matmul_mma.c where it applies (f16 B, f16
   * or f32 A; gathered from x, f16 A and f16 or f32 B: kt_matmul_mma_applies) with the tiled
   * kernel as its fallback for devices without KIR_FEATURE_MMA_F16. mma_config: 0 for the
   * built-in configuration of that kernel, i ≥ 1 for kt_matmul_mma_config(i) (the GEMM tuner's
   * choice, or one forced to measure it). */
  int mma;
  int mma_config;
  /* The target copies global to local memory asynchronously (OpenCL: cp.async on the devices
   * that run the variant), so the built-in choice takes the pipelined configurations where the
   * operands allow; 0 (GLSL prints the copies as plain ones): register-staged ones. */
  int async_copies;
  /* The target may run warpgroup products (OpenCL: KIR_FEATURE_WGMMA on compute capability 9.0):
   * where kt_matmul_wgmma_applies, the tensor-core kernel gets the kernel of matmul_wgmma.c in
   * front of it (its fallback). */
  int wgmma;
  /* The target unrolls a loop the kernel marks (OpenCL's #pragma unroll); 0 (GLSL prints no
   * such hint): the tiled kernel unrolls by hand where it would mark one (matmul.c). */
  int pragma_unroll;
  /* A gathered B (b_im2col) tests each window's bounds as one unsigned comparison per axis,
   * (uint)ih < h, instead of 0 <= ih && ih < h: faster through NVIDIA's Vulkan driver, slower
   * through its OpenCL (docs/performance.md, "The gather's arithmetic"), so lowering sets it
   * for Vulkan. */
  int unsigned_bounds;
  /* The tensor-core kernel (one gathered column per work-item) indexes a gathered element as its
   * row's offset plus its column's, off(k) + at(j) (matmul_tile.h), like the tiled kernel, rather
   * than as its image's base + (ci·h + ih)·w + iw: ResNet-18 b16 in f16 through NVIDIA's Vulkan
   * driver 3.10 → 2.74 ms of device time on the H100, through its OpenCL 1.26 → 1.32 (2026-12-05),
   * so lowering sets it for Vulkan. */
  int gather_row_offsets;
  /* Each row of C is a softmax of the GEMM's row (bias included) along N: linear_softmax, a
   * classifier head in one kernel. Needs trans_b, A and B contiguous along K, no batch dims,
   * no row norm, N <= KT_MATMUL_SOFTMAX_MAX_N; built as the CPU "nt" kernel with whole rows per
   * work-item (matmul_cpu.c) whatever the device class (lowering asks for it on CPUs only:
   * lower_util.h mlg_lower_gemm); the epilogue sees the softmax's values. */
  int row_softmax;
  /* CPU only: B is packed in panels of kt_matmul_cpu_panel(d) columns, each K × panel and
   * contiguous (kt_cpu_pack_bt of the N × K weight, zeros past N), at b_offset; B's strides are
   * unused. The "nn" kernel then reads its block of B from one contiguous range, and a
   * work-group's row blocks share it (lowering packs a weight's panels once, when a session
   * starts: lower_util.h mlg_lower_gemm). */
  int b_panels;
} kt_matmul_desc;

#define KT_MATMUL_SOFTMAX_MAX_N 16

/* The CPU vector kernel (matmul_cpu.c) for a descriptor with resolved layouts: returns 1 and
 * builds it when it applies, 0 when it does not (the caller builds the tiled kernel), -1 on
 * failure. */
int kt_matmul_cpu(kir_module *m, const char *name, const kt_matmul_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3]);
/* The columns of one panel of a packed B (b_panels): the "nn" kernel's column block for d's
 * vector width. */
int kt_matmul_cpu_panel(const kt_matmul_desc *d);

/* The GPU kernel for few rows (matmul_skinny.c): returns 1 and builds it when the descriptor
 * (layouts resolved) is for a GPU, M <= KT_SKINNY_MAX_M, A is not normalized and B is contiguous
 * along K or N; 0 when it does not apply; -1 on failure. */
#define KT_SKINNY_MAX_M 4
int kt_matmul_skinny(kir_module *m, const char *name, const kt_matmul_desc *d,
                     kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- split K (matmul_splitk.c) ----
 * A GEMM whose output tiles are too few to fill a GPU (ResNet's last convolutions: 512 × 784
 * outputs over K = 4608) runs as two kernels: the GEMM of kt_matmul_split_partial's descriptor
 * (the tiled kernel, with its tensor-core variant where that applies) — slice z of K as batch
 * z, f32 partial sums into scratch [slices][M][N], no bias or epilogue — then
 * kt_matmul_split_reduce, which sums the slices and finishes C as the original descriptor says
 * (bias, fused epilogue, folded images, C's type and strides). */
/* How many slices for d: 1 (no split) unless d is a GPU-class GEMM without batch dims or layer-
 * norm prologue, with no tensor-core variant or one that gathers B (a convolution), whose
 * tiles leave under half of the work-groups the split aims for; then the fewest slices (each a
 * whole number of K steps, at least 256 long) that reach it. */
int kt_matmul_split_slices(const kt_matmul_desc *d);
/* out = the partial GEMM of d in `slices` slices (d without batch dims, K divisible). 0 or -1. */
int kt_matmul_split_partial(const kt_matmul_desc *d, int slices, kt_matmul_desc *out);
/* The reduce kernel: buffers partial (f32 [slices][M][N]), bias (when d has one), c, then what
 * the epilogue declares; one work-item per element of C. */
int kt_matmul_split_reduce(kir_module *m, const char *name, const kt_matmul_desc *d, int slices,
                           kir_kernel **out_kernel, int64_t out_groups[3]);

/* What every GEMM kernel shares: its buffers in the documented order (A, B, bias, norm_weight,
 * norm_bias, C), the element bases of A, B and C of the work-group's batch (group id 2 is the
 * batch index), and how outputs are finished (bias, fused epilogue, store). */
typedef struct kt_matmul_frame {
  const kt_matmul_desc *d;         /* layouts resolved */
  int64_t nb;                      /* number of batches */
  int bA, bB, bBias, bC;           /* buffers; -1 when absent */
  int bNormW, bNormB;
  int a_base, b_base, c_base;      /* I32 variables */
} kt_matmul_frame;

/* Begins kernel `name` with a (lx, ly, 1) work-group, declares the buffers and the bases.
 * Returns the builder, NULL on allocation failure. */
kir_builder *kt_matmul_frame_begin(kir_module *m, const char *name, const kt_matmul_desc *d,
                                   int lx, int ly, kt_matmul_frame *f);
/* Stores outputs (row, col + q) for q < width (1, 2 or 4; width > 1 needs c_stride_n == 1: one
 * vector store) from the accumulated values acc[q], after the bias and the fused epilogue.
 * Returns 0, or -1 on failure. */
int kt_matmul_frame_store(kir_builder *b, const kt_matmul_frame *f, int width, kir_expr *const acc[],
                          kir_expr *row, kir_expr *col);
/* Whether kt_matmul_frame_store_vec applies: C contiguous along N and not folded, and no
 * epilogue or one that takes vectors (kt_epilogue.plane_vectors). */
int kt_matmul_frame_vec_ok(const kt_matmul_desc *d);
/* Stores outputs (row, col + l) for the lanes l of vector acc as one vector store, after the
 * bias (a vector load, or one value per row splat) and the fused epilogue, which sees the whole vector (the lanes are
 * consecutive elements of one row of C). Needs kt_matmul_frame_vec_ok. Returns 0, or -1. */
int kt_matmul_frame_store_vec(kir_builder *b, const kt_matmul_frame *f, kir_expr *acc, kir_expr *row,
                              kir_expr *col);

/* The tensor-core kernel (matmul_mma.c) for a descriptor with resolved layouts: returns 1 and
 * builds it when it applies (B stored as f16, A as f16 or f32 — rounded to halves as it is
 * staged, after the layer-norm prologue if any —; with the im2col gather, A as f16 and x as f16
 * or f32, rounded likewise; M and N at least 32, K at least 16), 0 when it does not, -1 on
 * failure. It launches
 * (ceil(N / tile_n), ceil(M / tile_m), Π batch) work-groups like the tiled kernel, with the
 * work-group tile of its configuration (d->mma_config, or the built-in one); *out_tiles (may be
 * NULL) receives it. A configuration d->mma_config that does not exist or is over the local
 * memory is an error (-1, the module's error says which and how many bytes); a built-in one over
 * it (a device with little local memory) is 0: the tiled kernel alone. */
int kt_matmul_mma(kir_module *m, const char *name, const kt_matmul_desc *d,
                  kir_kernel **out_kernel, int64_t out_groups[3], int out_tiles[2]);
/* The warpgroup-product kernel (matmul_wgmma.c) for a descriptor with resolved layouts, in
 * front of a tensor-core kernel with work-group tile tiles[0] × tiles[1]: whether it applies
 * (d->wgmma, tiles of 64 or 128 each way, f16 operands copied whole; see there), and the kernel
 * with that tile (0, or -1 on failure), launching the same work-groups. */
int kt_matmul_wgmma_applies(const kt_matmul_desc *d, const int tiles[2]);
int kt_matmul_wgmma(kir_module *m, const char *name, const kt_matmul_desc *d, const int tiles[2],
                    kir_kernel **out_kernel, int64_t out_groups[3]);
/* A configuration of the tensor-core kernel: a wm × wn grid of warps, each owning fm × fn
 * accumulator fragments of 16×16 (the work-group tile is 16·wm·fm × 16·wn·fn), K step tk (16, 32
 * or 64), buffers 1 (two barriers per K step) or 2 (double-buffered local tiles, one), or
 * stages ≥ 2: a pipeline of that many local tiles filled by asynchronous copies, stages − 1 K
 * steps ahead of the multiply (one barrier per step; operands whose tiles cannot be copied so,
 * see matmul_mma.c, take `buffers` instead). */
typedef struct kt_mma_config {
  int wm, wn, fm, fn, tk, buffers, stages;
} kt_mma_config;
/* Configurations 1..36: warp grids 2×2, 2×4, 4×2 × warp tiles 32×32, 64×32, 64×64 × K steps
 * 32, 64 × double, single buffering (index − 1 = buffers + 2·(tk) + 4·(warp tile) + 12·(grid),
 * each counted from 0 in that order); 37..KT_MMA_N_CONFIGS: pipelined ones (matmul_mma.c,
 * PIPELINED). 0, or -1 for an index out of range. Each one's work-group tile is 64, 128 or 256
 * along m and n, which the tiled fallback takes with 8×8 per work-item. */
#define KT_MMA_N_CONFIGS 47
int     kt_matmul_mma_config(int index, kt_mma_config *out);
/* "2x4 warps of 64x32, k32, double-buffered" (or ", 3 stages") into buf. */
void    kt_mma_config_format(const kt_mma_config *c, char *buf, size_t size);
/* Local memory a work-group of c uses: operand tiles, epilogue slices, and the layer-norm
 * prologue's row statistics when a_norm. kt_matmul_mma refuses a configuration over the
 * device's local memory (at most 48 KiB). */
int64_t kt_mma_config_local_bytes(const kt_mma_config *c, int a_norm);
/* Whether kt_matmul builds the tensor-core variant for d (d->mma set, not for a CPU, and
 * kt_matmul_mma applies): its fallback then takes its tiles instead of tuned ones. */
int kt_matmul_mma_applies(const kt_matmul_desc *d);

/* Fills every tiling field that is 0 from the problem shape (small tiles for skinny
 * problems, e.g. M = 1; a 32×64 tile with 4×8 blocks when M and N both exceed 32). */
void kt_matmul_pick_tiles(kt_matmul_desc *d);

/* Builds the kernel (picking tiles for fields left 0; d itself is not changed).
 * Returns 0, or -1 on an invalid descriptor or allocation failure. */
int kt_matmul(kir_module *m, const char *name, const kt_matmul_desc *d, kir_kernel **out_kernel,
              int64_t out_groups[3]);

#endif

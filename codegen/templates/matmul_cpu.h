/* matmul_cpu.h — pieces the CPU kernels (matmul_cpu.c, conv2d_cpu.c) share.
 * Thread safety: reentrant. */
#ifndef MLG_KT_MATMUL_CPU_H
#define MLG_KT_MATMUL_CPU_H

#include <stdint.h>

#include "../kir.h"

#define KT_CPU_MAX_ROWS 8
#define KT_CPU_MAX_NV 4

/* The register block of the "nn" kernels (matmul_cpu.c, conv2d_cpu.c): rows × nvec vector
 * accumulators of vw lanes. kt_cpu_block_zero declares them (acc<i>_<v> = 0); kt_cpu_block_step
 * does one k step: loads nvec vectors of B at b_at + v·vw, then per row i one scalar of A at
 * a_at[i], and adds a·b into acc[i][v]. Expressions may be shared. */
/* Work-items per group for `blocks` blocks that share a panel of B (the convolution's pixel
 * blocks, a packed GEMM's row blocks): at most `most`, as evenly as the groups divide them
 * (9 blocks in groups of 8 left one group a single block, and PoCL hands each thread a
 * contiguous share of the groups: conv2d_cpu.c). */
int  kt_cpu_group_items(int64_t blocks, int most);
/* The vector block of a CPU kernel whose vectors run along `channels` output channels (the
 * convolutions'): vectors of the widest of 16, 8, 4, 2, 1 lanes within max_vec (0: 16), and up
 * to 4 of them per work-item: the most whose blocks pad the channels least. */
void kt_cpu_channel_block(int64_t channels, int max_vec, int *out_vec, int *out_nvec);
void kt_cpu_block_zero(kir_builder *b, int rows, int nvec, int vw,
                       int acc[KT_CPU_MAX_ROWS][KT_CPU_MAX_NV]);
void kt_cpu_block_step(kir_builder *b, int buf_a, kir_expr *const *a_at, int rows, int buf_b,
                       kir_expr *b_at, int nvec, int vw, int acc[KT_CPU_MAX_ROWS][KT_CPU_MAX_NV]);

/* The transpose of the row-major R × K matrix src, packed for a CPU GEMM that reads it as its B
 * operand with R (output features or channels) as the vector axis, in panels of `panel`
 * columns (the GEMM's vector block, dividing r_pad), each K × panel and contiguous:
 * dst[(r / panel)·K·panel + k·panel + r % panel] = src[r·K + k] for r < R, 0 for
 * R <= r < r_pad. (A work-item then streams its block of B from one contiguous range: read as
 * 256 bytes out of every 2 KB row of a K × r_pad matrix, ResNet-18's 4608-deep weights spanned
 * 9 MB of pages per work-item.) With panel = r_pad, dst is plainly K × r_pad.
 * Buffers: src (read), dst (write, K·r_pad). One work-item per 4 rows k of one panel.
 * Launch: groups as returned. Returns 0, or -1 on an invalid shape or allocation failure. */
int kt_cpu_pack_bt(kir_module *m, const char *name, int64_t R, int64_t K, int64_t r_pad,
                   int64_t panel, kir_kernel **out_kernel, int64_t out_groups[3]);
/* The same panels from B itself, K × N with row k at src[k·stride_k] (stride_k >= N), not
 * transposed: dst[(n / panel)·K·panel + k·panel + n % panel] = src[k·stride_k + n] for n < N,
 * 0 for N <= n < n_pad. (A matmul's B, [K, N]: its rows are copied panel by panel in vectors
 * of up to max_vec lanes, 0: 16.) Buffers: src (read), dst (write, K·n_pad). One work-item per
 * 4 rows k of one panel. Launch: groups as returned. Returns 0, or -1 on an invalid shape or
 * allocation failure. */
int kt_cpu_pack_b(kir_module *m, const char *name, int64_t N, int64_t K, int64_t stride_k, int64_t n_pad,
                  int64_t panel, int max_vec, kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

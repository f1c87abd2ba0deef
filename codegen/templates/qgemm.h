/* qgemm.h — the tiled integer GEMM behind quantized matrix product and convolution
 * (qlinear.h): 8-bit operands packed four to a 32-bit word, i32 sums, a requantizing epilogue.
 *
 * The problem is C[rows × cols] = Σ_k (A[r, k] − zr) · (B[k, c] − zc) per batch item, with
 *   matmul: A = a [M × K] (k contiguous), B = b [K × N], zr = a's zero point, zc = b's (per column
 *           or not), batch items = a's leading dims;
 *   conv:   A = w [O × C·kh·kw] (k contiguous), B = the im2col matrix of x gathered on the fly
 *           (padding reads x's zero point), zr = w's zero point (per channel or not), zc = x's,
 *           batch items = images (groups must be 1).
 * A work-group computes a tile_m × tile_n block of C; both operand tiles are staged in local
 * memory as words of four consecutive k (a k beyond the end reads the operand's zero point, so it
 * adds nothing), work-item (tx, ty) owns rows ty + i·ly and columns tx + j·lx (i < reg_m,
 * j < reg_n: neighbouring work-items read neighbouring local words).
 *
 * Two forms from this one description, a kernel variant and its fallback (kir.h
 * kir_kernel_set_fallback):
 *   dot:   acc += dot4x8(a word, b word) (the device's packed integer dot product), with the
 *          zero points applied once at the end: Σ(a−zr)(b−zc) = Σab − zc·Σa − zr·Σb + K'·zr·zc,
 *          Σa and Σb also by dot products with the word 0x01010101 (only where the other zero
 *          point is not 0); K' is K rounded up to the K step;
 *   plain: each word's four bytes are unpacked, the zero points subtracted, and multiplied-added.
 * Thread safety: reentrant. */
#ifndef MLG_KT_QGEMM_H
#define MLG_KT_QGEMM_H

#include <stdint.h>

#include "../kir.h"
#include "qlinear.h"

/* The blocking: tile_m × tile_n outputs per work-group in reg_m × reg_n per work-item (so
 * (tile_n / reg_n) × (tile_m / reg_m) work-items), K step tile_k (a multiple of 4). 0 fields:
 * the defaults of kt_qgemm_default_tiles. */
typedef struct kt_qgemm_tiles {
  int tile_m, tile_n, tile_k, reg_m, reg_n;
} kt_qgemm_tiles;

/* Tiles for a problem of rows × cols × k on a device of kt_device_class `device_class`. */
kt_qgemm_tiles kt_qgemm_default_tiles(int device_class, int64_t rows, int64_t cols, int64_t k);
/* 1 when the tiled kernels take t on a device with local_mem_bytes of local memory per
 * work-group (0: 48 KiB): blocks 1..8 dividing their tiles, K step a multiple of 4, at most 1024
 * work-items, both tiles staged as i32 within the local memory. */
int            kt_qgemm_tiles_valid(const kt_qgemm_tiles *t, int64_t local_mem_bytes);

/* Whether the tiled kernels take this convolution (groups 1; else kt_qlinear_conv2d's direct
 * kernel). */
int kt_qgemm_conv_fits(const kt_qlinear_conv2d_desc *d);

/* The tiled kernels of d, in kt_qlinear_conv2d's / kt_qlinear_matmul's buffer order: the
 * variant using the integer dot product (*out_kernel, named name + "_idot") with the plain one
 * as its fallback (named name). Launch: groups (ceil(cols / tile_n), ceil(rows / tile_m),
 * batch items). Returns 0, or -1 (reason in the module). */
int kt_qgemm_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d,
                    const kt_qgemm_tiles *tiles, kir_kernel **out_kernel, int64_t out_groups[3]);
int kt_qgemm_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d,
                    const kt_qgemm_tiles *tiles, kir_kernel **out_kernel, int64_t out_groups[3]);

/* ---- the CPU class (OpenCL only: vectors of 16) ----
 * One kernel, no variant: CPU_RM = 8 rows × 32 columns of C per work-item, B's rows read as
 * 16-byte vectors, the sums in float vectors over 256 k at a time (exact: below 2^24) moved into
 * i32 vectors (qgemm.c says why). A convolution first gathers its im2col matrix into a
 * temporary of x's type [n][c_in·kh·kw][kt_qgemm_cpu_cols(oh·ow)] (padding and the columns past
 * oh·ow hold x's zero point; kt_qim2col, buffers x, x_zp, then the temporary), which the GEMM
 * reads in x's place (buffers as kt_qlinear_conv2d's). */
int64_t kt_qgemm_cpu_cols(int64_t cols);
/* Whether the CPU GEMM takes this matrix product (n a multiple of 16). */
int     kt_qgemm_cpu_fits(const kt_qlinear_matmul_desc *d);
/* Bytes of conv d's im2col temporary (-1 when the window does not fit). */
int64_t kt_qim2col_bytes(const kt_qlinear_conv2d_desc *d);
int     kt_qim2col(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d, kir_kernel **out_kernel,
                   int64_t out_groups[3]);
int     kt_qgemm_cpu_conv2d(kir_module *m, const char *name, const kt_qlinear_conv2d_desc *d,
                            kir_kernel **out_kernel, int64_t out_groups[3]);
int     kt_qgemm_cpu_matmul(kir_module *m, const char *name, const kt_qlinear_matmul_desc *d,
                            kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

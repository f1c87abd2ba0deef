/* attention.h — kernel template for fused scaled dot-product attention (flash-attention style):
 *
 *   out[b, i, :] = Σ_j softmax_j(scale · q[b, i, :] · k[b, j, :] + mask(b, i, j)) · v[b, j, :]
 *
 * in one kernel, with an online softmax: no Tq × Tk score matrix is ever stored.
 *
 * Work: a work-group of block_q work-items takes block_q consecutive queries of one batch item,
 * a work-item one query. The query row (pre-multiplied by `scale`) and the output accumulator
 * live in registers as vectors along the head dim (up to 4 wide where staged). Keys and values
 * are walked in tiles of block_k rows: the work-group stages the K and V tile in local memory (each work-item
 * loads a share), then every work-item computes its block_k scores against the staged keys,
 * keeps them in its own column of a local score tile, takes the tile's maximum, rescales its
 * accumulator and running sum once by exp(m_old − m_new), and adds p_j · v_j for the tile.
 * Work per key and query: d multiply-adds for the score, dv for the value, one exp.
 * For a CPU (device_class KT_DEVICE_CPU) nothing is staged: each work-item reads the key and
 * value rows from global memory (they stay in the caches), with vectors as wide as max_vec
 * where the elements are consecutive, so the kernel has no barrier (a CPU runtime then runs a
 * work-group's items as a plain loop). With K transposed (k_transposed, below) a CPU kernel
 * takes keys as vector lanes instead.
 *
 * Masking: `causal` keeps key j for query i when j <= i (torch's is_causal: lower-triangular,
 * aligned top-left when Tq ≠ Tk), and a work-group stops at the last key its last query sees.
 * An additive mask adds mask(b, i, j) to the score; a bool mask (stored one byte per element,
 * true = keep) makes a dropped score −inf. A query that keeps no key gets 0, as torch and
 * ONNX Attention give.
 *
 * Layouts: every operand is a strided view of its buffer. Element (b, r, c) of q (r a query,
 * c along d), k (r a key), v (r a key, c along dv), mask (r a query, c a key) and out (r a
 * query, c along dv) lies at offset + base(b) + r·stride_r + c·stride_c, base(b) from the
 * per-batch-dim strides over the C-order digits of the batch index b (a stride of 0
 * broadcasts). Vector loads and stores are used along c where stride_c is 1.
 *
 * Tensor cores: with `mma` set, q, k and v stored as halves and head dims multiples of 16 (up
 * to 128), on a GPU or portable class, kt_attention builds the fragment kernel of
 * attention_mma.c (`<name>_mma`, work-group of 256: 8 warps) with this kernel (block_q
 * KT_ATTN_MMA_BQ) as its fallback for devices without KIR_FEATURE_MMA_F16; the two share
 * buffers and work-groups. The fragment kernel keeps its softmax on the accumulators' elements
 * (kir_frag_elem), which the GLSL printer refuses: lowering builds it for OpenCL only.
 *
 * Buffers, in order: q, k, v (read; stored as q_elem, k_elem, v_elem), mask (read; f32 or bool;
 * only with a mask), out (write; stored as out_elem),
 * then those the epilogue (hooks.h) declares; the epilogue sees each output value with `lin` its
 * index in a contiguous [batch..., Tq, dv] output, `batch`, `row` (query) and `col`.
 * Launch: work-group size (block_q, 1, 1); groups = (ceil(Tq / block_q), Π batch, 1).
 * Index arithmetic is 32-bit: every element a view reaches must lie below 2^31.
 * Thread safety: reentrant. */
#ifndef MLG_KT_ATTENTION_H
#define MLG_KT_ATTENTION_H

#include <stdint.h>

#include "../kir.h"
#include "hooks.h"

#define KT_ATTN_MAX_BATCH 6
/* Largest head dim (d and dv): the query row and the accumulator are registers. */
#define KT_ATTN_MAX_HEAD 256

typedef enum kt_attn_mask { KT_ATTN_MASK_NONE = 0, KT_ATTN_MASK_ADD, KT_ATTN_MASK_BOOL } kt_attn_mask;

/* A strided view of one operand (see above). */
typedef struct kt_attn_view {
  int64_t offset;
  int64_t batch_stride[KT_ATTN_MAX_BATCH];
  int64_t stride_r, stride_c;
} kt_attn_view;

typedef struct kt_attention_desc {
  int64_t tq, tk, d, dv;                 /* queries, keys, head dims of q/k and of v; >= 1 */
  int n_batch;                           /* 0..KT_ATTN_MAX_BATCH */
  int64_t batch[KT_ATTN_MAX_BATCH];      /* the output's batch dims, each >= 1 */
  kt_attn_view q, k, v, mask, out;
  int mask_kind;                         /* kt_attn_mask */
  int causal;
  double scale;                          /* multiplies q·k (torch: 1/sqrt(d) by default) */
  kt_epilogue epilogue;
  /* Tiling: 0 = chosen from device_class. block_q work-items (1..1024); block_k keys per tile;
   * (block_k·(d + dv + block_q))·4 bytes of local memory (block_k·block_q·4 unstaged) must
   * fit local_mem_bytes. */
  int block_q, block_k;
  int device_class;                      /* kt_device_class (matmul.h) */
  int max_vec;                           /* widest vector along d and dv (4 where staged;
                                            8 and 16 OpenCL only); 0 → 4 */
  int64_t local_mem_bytes;               /* 0 → 48 KiB */
  /* How q, k, v and out are stored (kir_scalar; 0 is KIR_F32): both kernels declare those
   * buffers so (loads widen halves to f32, the store rounds). */
  kir_scalar q_elem, k_elem, v_elem, out_elem;
  /* Tensor cores: also build the fragment kernel of attention_mma.c where it applies
   * (kt_attention_mma_applies) with the scalar kernel as its fallback for devices without
   * KIR_FEATURE_MMA_F16. */
  int mma;
  /* CPU, keys as lanes (below): the kernel reads kt_attention_kt's K transposed from buffer
   * "kt" in place of k (whose view then only gives its shape). Needs kt_attention_keys_applies. */
  int k_transposed;
} kt_attention_desc;

/* The number of batch items: the product of d's batch dims (the launches' second dim). */
int64_t kt_attention_items(const kt_attention_desc *d);

/* Builds the kernel. Returns 0, or -1 (reason in m) on an invalid descriptor or allocation
 * failure. */
int kt_attention(kir_module *m, const char *name, const kt_attention_desc *d,
                 kir_kernel **out_kernel, int64_t out_groups[3]);

/* Queries per work-group of the tensor-core kernel, 16 per warp; its scalar fallback takes as
 * many (they share the launch). */
#define KT_ATTN_MMA_BQ 128

/* CPU, keys as vector lanes. Per query the kernel above computes a dot product per key and
 * sums its vector's lanes, and takes each key's exp one at a time; with keys as lanes a
 * work-item computes the scores of 16 keys as one float16 (Σ_c q[c]·KT[c][j .. j + 15], four
 * partial sums), masks them against a row of key indices, keeps the online softmax per two
 * blocks of 16 (one float16 exp each, one rescale), and adds p_j·v_j per key. K comes transposed by a helper kernel
 * (kt_attention_kt), on every run: KT[item][c][j] for c < d, and row d holding j itself (as a
 * float, exact below 2^24), each row kt_attention_kt_pad(tk) long, zeros past tk. Applies to
 * CPU class with vectors of 16 (OpenCL), no mask tensor or an additive one whose rows are
 * contiguous along the keys with tk a multiple of 16 (added to each block's scores as a
 * float16; causal or not), f32 q, k, v and out, v's rows contiguous with dv a multiple of 16,
 * and KT within 32-bit indexing. */
int     kt_attention_keys_applies(const kt_attention_desc *d);
int64_t kt_attention_kt_pad(int64_t tk);
/* KT's elements: batch items · (d + 1) · kt_attention_kt_pad(tk). */
int64_t kt_attention_kt_elems(const kt_attention_desc *d);
/* The helper writing KT from d's k view. Buffers: k (read, stored as k_elem), kt (write).
 * Work-group (16, 1, 1), one work-item per key row; groups (kt_pad / 16, batch items, 1).
 * Returns 0, or -1 (reason in m) when the descriptor is invalid or keys do not apply. */
int kt_attention_kt(kir_module *m, const char *name, const kt_attention_desc *d, kir_kernel **out_kernel,
                    int64_t out_groups[3]);

/* The tensor-core kernel (attention_mma.c) applies: mma set, not CPU class, q, k and v stored
 * as halves, d and dv multiples of 16 up to 128, and its tiles fit local_mem_bytes. */
int kt_attention_mma_applies(const kt_attention_desc *d);
/* Builds the tensor-core kernel alone (kt_attention adds it with the scalar kernel, block_q
 * KT_ATTN_MMA_BQ, as its fallback): work-group 2·KT_ATTN_MMA_BQ work-items, groups as the scalar
 * kernel's with that block_q; same buffers. Returns 1 when built, 0 when it does not apply, -1 on failure (reason in
 * m). The descriptor must be valid (kt_attention checks it). */
int kt_attention_mma(kir_module *m, const char *name, const kt_attention_desc *d,
                     kir_kernel **out_kernel, int64_t out_groups[3]);

#endif

/* lower_util.h — helpers that op lowering hooks (op.h mlg_lower_fn) share, and ready-made
 * hooks for the injective shape ops (ops/lower_util.c).
 *
 * A hook typically: reads its node and attributes, fills a kt_*_desc from the node's types,
 * builds the kernel with the template under a name from mlg_lower_kernel_name, and appends the
 * launch with mlg_lower_emit (input tensor ids, then the node). Failures are reported at the
 * node's span through mlg_lower_fail. Thread safety: reentrant. */
#ifndef MLG_LOWER_UTIL_H
#define MLG_LOWER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../codegen/templates/hooks.h"
#include "lower.h"

/* Largest element count a kernel's 32-bit index math allows (exclusive bound is 2^31). */
#define MLG_KERNEL_NUMEL_LIMIT INT64_C(2147483647)

kir_scalar  mlg_kir_scalar(mlg_ir_dtype dtype);
/* C-order element strides of `t` (stride of the last dim is 1). */
void        mlg_contiguous_strides(const mlg_type *t, int64_t out_strides[MLG_MAX_RANK]);
/* The node's attribute called `name` per its op's schema, or NULL if the op has none by that
 * name or it is absent (kind NONE). */
const mlg_attr *mlg_node_attr(const mlg_node *node, const char *name);
int64_t     mlg_node_attr_int(const mlg_node *node, const char *name, int64_t dflt);
double      mlg_node_attr_float(const mlg_node *node, const char *name, double dflt);

/* The kernel's name before deduplication into buf: "k_" and the fused group's label
 * ("k_linear_relu") or the op's name (the prefix keeps names clear of the languages' builtins:
 * "k_rsqrt"). Lowering makes the names of distinct kernels unique when it keeps them
 * ("k_linear_relu", "k_linear_relu_2"; see lower.h). Returns buf. */
const char *mlg_lower_kernel_name(mlg_lower_ctx *ctx, const char *op_name, char *buf, size_t size);
/* Reports "message" at node's span (or a general error for node < 0); returns -1. */
int         mlg_lower_fail(mlg_lower_ctx *ctx, int node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends a launch of `kernel` with `groups`; reports allocation failure. Returns 0 or -1. */
int         mlg_lower_emit(mlg_lower_ctx *ctx, int node, kir_kernel *kernel,
                           const int64_t groups[3], const int *args, int n_args);
/* Builds the GEMM kernel of `d` (templates/matmul.h) for ctx's device — the one place every
 * kt_matmul_desc of lowering passes (matmul, linear, conv2d as GEMM): fills d's device fields
 * (class, widest vector, local memory) and, from ctx->gemm_tuning (gemm_tuning.h), the tiles of
 * its shape class; a tuned tiling kt_matmul rejects falls back to the built-in one. Returns
 * kt_matmul's result (0 or -1). */
struct kt_matmul_desc;
int         mlg_lower_matmul_kernel(mlg_lower_ctx *ctx, const char *name, struct kt_matmul_desc *d,
                                    kir_kernel **out_kernel, int64_t out_groups[3]);
/* Copies tensor `src` (numel elements of dtype) into tensor `dst` with one kernel named
 * k<N>_copy. Returns 0 or -1 (reported at `node`). */
int         mlg_lower_copy(mlg_lower_ctx *ctx, int node, int src, int dst, int64_t numel,
                           mlg_ir_dtype dtype);

/* ---- strided layouts (fusion folds transposes, slices and views into index arithmetic) ----
 * Element (i_0, ..., i_{rank-1}) of a layout lies at element offset + Σ i_d · strides[d] of
 * tensor `tensor`. Strides of size-1 dims are 0. */
typedef struct mlg_layout {
  int tensor;
  int rank;
  int64_t dims[MLG_MAX_RANK];
  int64_t strides[MLG_MAX_RANK];
  int64_t offset;
} mlg_layout;

/* The contiguous C-order layout of a tensor of type t. */
void mlg_layout_contiguous(const mlg_type *t, int tensor, mlg_layout *out);
/* The same elements seen with dims new_dims (equal element count) without moving any: 0, or -1
 * when no strides express it (e.g. merging two dims that a transpose separated). out may be l. */
int  mlg_layout_reshape(const mlg_layout *l, int new_rank, const int64_t *new_dims,
                        mlg_layout *out);
/* Given the layout of index node n's input (transpose, slice or a view op), its own layout
 * (in place). Returns 0, or -1 when n is no index op or the result is not a strided view. */
int  mlg_layout_through(const mlg_node *n, mlg_layout *l);
/* 1 if n is an index op: transpose, slice, or a view (reshape, flatten, squeeze, unsqueeze). */
int  mlg_is_index_op(const mlg_node *n);

/* The canonical output dims of a matmul-class anchor as the matmul template iterates them:
 * [batch..., M, N] for matmul (M or N is 1 for a 1-D operand), [M, N] for linear (rows are all
 * leading dims). Returns the rank, or -1 for another op. */
int  mlg_matmul_canon_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]);

/* ---- fusion: what the lower hook of an anchor op (matmul, linear, conv2d, reductions,
 * softmax, log_softmax, layer_norm) asks while its fused group is lowered (lower_group.c).
 * Each gives the unfused answer when the node is lowered on its own. ---- */

/* The tensor the kernel computing `node` stores (its group's root; else node). */
int         mlg_lower_store_tensor(mlg_lower_ctx *ctx, int node);
/* The epilogue to pass to the template (fn NULL when nothing follows the op in its kernel). */
kt_epilogue mlg_lower_epilogue(mlg_lower_ctx *ctx, int node);
/* The prologue computing input 0 of a reduction / row-wise op (fn NULL: load the tensor). */
kt_prologue mlg_lower_prologue(mlg_lower_ctx *ctx, int node);
/* Input `slot` of `node` as a strided view of a stored tensor (through the transposes, slices
 * and views that fusion folded); out->tensor is what to bind. Returns 0, or -1 (reported) if
 * the folded chain is not a strided view. */
int         mlg_lower_operand(mlg_lower_ctx *ctx, int node, int slot, mlg_layout *out);
/* The layer_norm that fusion moved into the operand loads of this linear, or -1. */
int         mlg_lower_pre_norm(mlg_lower_ctx *ctx, int node);
/* Strides over mlg_matmul_canon_dims(node) of where each element is stored (contiguous unless
 * the group stores through a transpose). Returns the rank or -1 (reported). */
int         mlg_lower_store_strides(mlg_lower_ctx *ctx, int node, int64_t strides[MLG_MAX_RANK]);
/* Appends the tensors of the buffers that the prologue / epilogue declared (in declaration
 * order) to args[n_args..cap); returns the new count, or -1 (reported) if they do not fit. */
int         mlg_lower_extra_args(mlg_lower_ctx *ctx, int node, int *args, int n_args, int cap);
/* Appends the launch of a reduction / row-wise anchor's kernel: inputs [0, n_inputs) of `node`
 * (less input 0 when prologue_fused: the prologue computes it), the tensor it stores, then the
 * prologue / epilogue buffers. Returns 0 or -1 (reported). */
int         mlg_lower_emit_anchor(mlg_lower_ctx *ctx, int node, kir_kernel *kernel,
                                  const int64_t groups[3], int n_inputs, int prologue_fused);

/* Lowering hooks for the injective shape ops, to be set as op->lower. They read the
 * normalized attributes (perm; starts/steps at full rank; axis) and the node's output type. */
int mlg_lower_transpose(mlg_lower_ctx *ctx, int node);
int mlg_lower_slice(mlg_lower_ctx *ctx, int node);
int mlg_lower_concat(mlg_lower_ctx *ctx, int node);
int mlg_lower_gather(mlg_lower_ctx *ctx, int node);

#endif

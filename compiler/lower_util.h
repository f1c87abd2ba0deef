/* lower_util.h — helpers that op lowering hooks (op.h mlg_lower_fn) share (ops/lower_util.c,
 * and lower_group.c for the fused-group questions).
 *
 * A hook reads its node (attributes through op.h mlg_attr_*), fills a kt_*_desc from the
 * node's types and builds its kernel in three steps:
 *
 *   mlg_kernel_build kb;
 *   mlg_lower_begin(ctx, node, &kb);
 *   int rc = kt_pool2d(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
 *   return mlg_lower_finish(ctx, node, &kb, rc, inputs, n_inputs);
 *
 * mlg_lower_finish reports a failed template at the node, naming the op, the node and the
 * template's reason, or appends the launch. Thread safety: reentrant. */
#ifndef MLG_LOWER_UTIL_H
#define MLG_LOWER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../codegen/templates/hooks.h"
#include "lower.h"
#include "op.h"

/* Largest element count a kernel's 32-bit index math allows (exclusive bound is 2^31). */
#define MLG_KERNEL_NUMEL_LIMIT INT64_C(2147483647)

/* How a tensor of dtype is stored in a kernel buffer (an i64 as I32; kir.h: loads widen a
 * storage type to its compute type), and a const's element i as a kir literal (f16 as its
 * float value, bool as true/false). */
kir_scalar  mlg_kir_scalar(mlg_ir_dtype dtype);
kir_expr   *mlg_kir_const(kir_builder *b, const mlg_node *n, int64_t i);
/* Builds elementwise node `node`'s scalar formula (op.h mlg_op_def.scalar) in a probe kernel
 * of a throwaway module, on one variable per input of type in_types[k], and returns what
 * `judge` says of it (the builder and the formula's expressions live until judge returns; the
 * formula may be NULL). 0 for a node without a formula (not elementwise, more than
 * KT_EW_MAX_INPUTS inputs) or when allocation fails. */
typedef int (*mlg_formula_judge)(kir_builder *b, const kir_expr *formula, void *user);
int         mlg_probe_formula(const mlg_graph *g, int node, const kir_type *in_types,
                              mlg_formula_judge judge, void *user);
/* C-order element strides of `t` (stride of the last dim is 1). */
void        mlg_contiguous_strides(const mlg_type *t, int64_t out_strides[MLG_MAX_RANK]);

/* One kernel a hook builds: named by mlg_lower_begin*, filled by the template. */
typedef struct mlg_kernel_build {
  char name[48];          /* "k_<op>", "k_<fused group label>" or "k_<helper>", before lowering
                             makes the names of distinct kernels unique (lower.h) */
  kir_kernel *kernel;     /* the template's out_kernel */
  int64_t groups[3];      /* the template's out_groups */
  int store;              /* the tensor the kernel writes */
  int main;               /* the node's own kernel (1), or a helper before it (0) */
} mlg_kernel_build;

/* Starts the kernel computing `node`: names it "k_" and the op's name or its fused group's
 * label (the prefix keeps names clear of the languages' builtins: "k_rsqrt"), and stores into
 * mlg_lower_store_tensor(node). Returns kb->name. */
const char *mlg_lower_begin(mlg_lower_ctx *ctx, int node, mlg_kernel_build *kb);
/* Starts a helper kernel of `node` ("k_<what>": a weight transpose, a padded copy, an output
 * copy) that writes tensor `store`. Returns kb->name. */
const char *mlg_lower_begin_helper(mlg_lower_ctx *ctx, int node, const char *what, int store,
                                   mlg_kernel_build *kb);
/* Ends the kernel the template built with result `rc`. On failure reports "<op> '<node>':
 * cannot build kernel <name>: <reason>" at the node. Else appends its launch, binding
 * inputs[0..n_inputs), the stored tensor, then (a fused anchor's main kernel) the buffers its
 * prologue and epilogue declared. Returns 0, or -1 (reported). */
int         mlg_lower_finish(mlg_lower_ctx *ctx, int node, const mlg_kernel_build *kb, int rc,
                             const int *inputs, int n_inputs);
/* Reports "message" at node's span (or a general error for node < 0); returns -1. */
int         mlg_lower_fail(mlg_lower_ctx *ctx, int node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Lowers GEMM `d` (templates/matmul.h) as node's kernel — the one place every kt_matmul_desc
 * of lowering passes (matmul, linear, conv2d as GEMM) — and appends its launch binding
 * inputs[0..n_inputs) (A, B, then bias and the row norm's weight and bias where d has them)
 * like mlg_lower_finish. Fills d's device fields (class, widest vector, local memory) and takes
 * the tiles of its shape class from ctx->gemm_tuning (gemm_tuning.h); a tuned tiling kt_matmul
 * rejects falls back to the built-in one. f16 operands (mlg_lower_gemm_storage; for conv2d an
 * f16 weight and x f16 or f32) add the tensor-core variant, whose fixed tiles its fallback
 * shares (no tuned tiles then). Where kt_matmul_split_slices says, two launches instead: the
 * partial GEMM over K slices into f32 scratch (a helper, "k_gemm_part") and the reduce that
 * finishes C. A softmax'ed GEMM (d->row_softmax) is one kernel on CPUs; on other devices the
 * GEMM into f32 scratch (a helper, "k_linear") and the softmax kernel. Returns 0, or -1
 * (reported at node). */
struct kt_matmul_desc;
int         mlg_lower_gemm(mlg_lower_ctx *ctx, int node, struct kt_matmul_desc *d, const int *inputs,
                           int n_inputs);
/* How tensor t is stored in a kernel buffer: as the precision stage says (an f32 value stored as
 * halves under --precision=f16 is KIR_F16); a temporary of lowering is f32 scratch. Templates
 * with a tensor-core variant for half operands (GEMM, attention) read it. */
kir_scalar  mlg_lower_tensor_scalar(const mlg_lower_ctx *ctx, int t);
/* Fills d's storage types (a_elem, b_elem, bias_elem, c_elem) from the tensors bound to them:
 * a, b, bias (-1: none) and the tensor `node`'s kernel stores. f16 operands on both sides make
 * mlg_lower_gemm add the tensor-core variant. */
void        mlg_lower_gemm_storage(mlg_lower_ctx *ctx, int node, struct kt_matmul_desc *d, int a, int b,
                                   int bias);
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
/* The layout of an index op's output (op.h mlg_index_map) given its input's layout `l`, in
 * place: a gather of the same elements through the map. Returns 0, or -1 when no strides
 * express it. */
int  mlg_layout_forward(mlg_layout *l, const mlg_index_map *map);
/* The other way: given where each element of an index op's output is stored (`l`), where each
 * element of its input is stored, in place. Returns 0, or -1 when some input element is not one
 * output element (a slice) or no strides express it. */
int  mlg_layout_backward(mlg_layout *l, const mlg_index_map *map);

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
/* The row normalization (op.h fusion.row_norm) that fusion moved into the loads of `node`'s
 * input 0: its node, with *out filled; -1 when there is none. */
int         mlg_lower_pre_norm(mlg_lower_ctx *ctx, int node, mlg_row_norm *out);
/* Strides over mlg_node_iter_dims(node) of where each element is stored (contiguous unless
 * the group stores through a transpose). Returns the rank or -1 (reported). */
int         mlg_lower_store_strides(mlg_lower_ctx *ctx, int node, int64_t strides[MLG_MAX_RANK]);
/* Appends the tensors of the buffers that the prologue / epilogue declared (in declaration
 * order) to args[n_args..cap); returns the new count, or -1 (reported) if they do not fit. */
int         mlg_lower_extra_args(mlg_lower_ctx *ctx, int node, int *args, int n_args, int cap);
/* The cost of what the kernel computing `node` computes: the node alone, or the members of
 * the fused group it anchors (or roots). Returns how many ops that is. */
int         mlg_lower_kernel_cost(const mlg_lower_ctx *ctx, int node, mlg_op_cost *out);
/* Why the fused group being lowered failed (a prologue or epilogue it could not build), or
 * NULL. */
const char *mlg_lower_fused_failure(const mlg_lower_ctx *ctx);

#endif

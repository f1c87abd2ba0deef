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

/* "k<N>_<opname>" into buf (N = ctx->next_kernel, which is then incremented); returns buf. */
const char *mlg_lower_kernel_name(mlg_lower_ctx *ctx, const char *op_name, char *buf, size_t size);
/* Reports "message" at node's span (or a general error for node < 0); returns -1. */
int         mlg_lower_fail(mlg_lower_ctx *ctx, int node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends a launch of `kernel` with `groups`; reports allocation failure. Returns 0 or -1. */
int         mlg_lower_emit(mlg_lower_ctx *ctx, int node, kir_kernel *kernel,
                           const int64_t groups[3], const int *args, int n_args);
/* Copies tensor `src` (numel elements of dtype) into tensor `dst` with one kernel named
 * k<N>_copy. Returns 0 or -1 (reported at `node`). */
int         mlg_lower_copy(mlg_lower_ctx *ctx, int node, int src, int dst, int64_t numel,
                           mlg_ir_dtype dtype);

/* Lowering hooks for the injective shape ops, to be set as op->lower. They read the
 * normalized attributes (perm; starts/steps at full rank; axis) and the node's output type. */
int mlg_lower_transpose(mlg_lower_ctx *ctx, int node);
int mlg_lower_slice(mlg_lower_ctx *ctx, int node);
int mlg_lower_concat(mlg_lower_ctx *ctx, int node);
int mlg_lower_gather(mlg_lower_ctx *ctx, int node);

#endif

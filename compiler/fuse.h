/* fuse.h — fusion: the optimized graph's ops grouped into kernels. A separate structure that
 * lowering (lower.h, mlg_lower_fused) reads; the graph is never modified.
 *
 * Every node gets a role. A group is one kernel: it stores one tensor (its root) — and, in a
 * train step, the updates (graph.h mlg_graph_update) of the same shape that only it reads: an
 * optimizer's state is stored by the kernel that updates its param (second roots, role ROOT,
 * ELEMENTWISE groups only) — and computes everything else it holds on the fly:
 *   - ELEMENTWISE groups evaluate a tree of elementwise ops (and the index ops between them)
 *     for each element of the root, reading only external tensors;
 *   - ANCHORED groups are built around one compute op whose template runs the group (an op
 *     with the fusion trait `anchor`, op.h: matmul, linear, conv2d, sum/mean/max/min, softmax,
 *     log_softmax, layer_norm): elementwise ops that feed an input with MLG_IN_PROLOGUE (a
 *     reduction's or row-wise op's) become its prologue (recomputed on each load), elementwise
 *     ops after the anchor (bias, activation, residual, scale) its epilogue, and an op with a
 *     row_norm trait (layer_norm over the last dim) feeding an MLG_IN_ROW_NORM input (a
 *     linear's x) is computed in that input's loads (pre-anchor);
 *   - SINGLE groups are one op through its own lowering hook (pooling, concat, gather, ...).
 * Index ops (an index map, op.h: transpose, slice, the views) are INDEX nodes wherever every
 * reader can fold them into its own index arithmetic (an elementwise evaluation, a prologue, or
 * an MLG_IN_STRIDED operand that is still a strided view of a stored tensor); they are never
 * stored then and may be read by several kernels. A view whose reader needs bytes is an ALIAS
 * of the tensor it views.
 *
 * Rules that keep results exact: an op whose result is narrow (f16, i8, u8: computed wider,
 * rounded or wrapped where stored) is always stored, so it rounds as it does alone; an anchor's
 * epilogue ends in a root of the anchor's dtype (its template's output buffer).
 *
 * A train step reads every leaf's value from before the step: a group that stores updates
 * reads no leaf that another group's update replaces (that value is stored by an earlier
 * kernel), and takes no anchor (update kernels are elementwise).
 *
 * Rules that keep fusion from adding work: a value read by ops of different kernels is stored
 * (only INDEX nodes, which cost no arithmetic, are read through by several kernels); anchors
 * are never recomputed; an epilogue never grows the anchor's iteration space (each epilogue op
 * has the anchor's element count); index ops that move elements (transposes) in an epilogue
 * only for anchors with `store_strided` (matmul, linear), which store through any strided
 * layout.
 *
 * Thread safety: reentrant; a finished mlg_fusion is immutable. */
#ifndef MLG_FUSE_H
#define MLG_FUSE_H

#include <stdio.h>

#include "graph.h"
#include "lower.h"

typedef enum mlg_fuse_role {
  MLG_ROLE_LEAF,      /* input, param, const: no kernel computes it */
  MLG_ROLE_ROOT,      /* a tensor its group's kernel stores (the group's root, or a second
                         root) */
  MLG_ROLE_INNER,     /* computed inside its group's kernel, never stored */
  MLG_ROLE_INDEX,     /* transpose / slice / view folded into the index math of its readers */
  MLG_ROLE_ALIAS      /* a view of a stored tensor: the same bytes, no kernel */
} mlg_fuse_role;

typedef enum mlg_group_kind {
  MLG_GROUP_ELEMENTWISE,
  MLG_GROUP_ANCHORED,
  MLG_GROUP_SINGLE
} mlg_group_kind;

typedef struct mlg_fusion_group {
  mlg_group_kind kind;
  int root;           /* the node the kernel stores */
  int anchor;         /* ANCHORED: the compute op; else -1 */
  int pre_anchor;     /* a layer_norm computed in the anchor's (linear's) operand loads, or -1 */
  int n_nodes;
  int *nodes;         /* root, second roots and INNER nodes, ascending (INDEX nodes it reads are
                         not listed) */
} mlg_fusion_group;

typedef struct mlg_fusion {
  int n_nodes;                /* = graph->n_nodes */
  mlg_fuse_role *role;        /* per node */
  int *group_of;              /* per node: the group of a ROOT or INNER node, else -1 */
  int n_groups;
  mlg_fusion_group *groups;   /* in execution order (ascending root) */
} mlg_fusion;

/* Flags for mlg_fuse. */
enum {
  MLG_FUSE_ON = 1,                /* without it: one op per group (the unfused lowering's view of
                                     the graph, for --emit=fused at -O0) */
  MLG_FUSE_NO_LN_PROLOGUE = 2,    /* keep layer_norm out of the linear that reads it: on CPUs the
                                     fast GEMM has no normalizing prologue; on GPUs the layer_norm
                                     kernel and the plain GEMM (asynchronous copies, split K)
                                     beat the fused GEMM (docs/performance.md) */
  MLG_FUSE_CHEAP_EPILOGUES = 4    /* keep elementwise ops whose formula calls a transcendental
                                     function (gelu, tanh, sigmoid, exp, ...) out of the epilogue
                                     of a `blocked` anchor (op.h): on CPUs it runs there as scalar
                                     code per output, and as its own kernel PoCL vectorizes it
                                     (the transformer block's linear + gelu: 17% of the block);
                                     the packed "nn" GEMM runs it on vectors, but no faster than
                                     the two kernels (docs/performance.md) */
};

/* Groups the ops of `graph` as `flags` ask. Returns NULL on allocation failure. */
mlg_fusion *mlg_fuse(const mlg_graph *graph, int flags);
void        mlg_fusion_free(mlg_fusion *fusion);

/* Strides, over the dims the anchor's template iterates (mlg_node_iter_dims), of the root's
 * contiguous layout seen back through the index ops
 * between the anchor (or the last elementwise op after it) and the root: where the anchor's
 * kernel stores each element. Returns the rank, or -1 if no strides express it. */
int         mlg_fusion_store_strides(const mlg_graph *graph, int root, int anchor,
                                     int64_t strides[MLG_MAX_RANK]);

/* Number of op nodes in the graph (what fusion groups). */
int         mlg_graph_op_count(const mlg_graph *graph);

/* --emit=fused: a header with the op and kernel counts, then each launch of `lowered` (which
 * must come from lowering `graph` with this fusion, or unfused when enable was 0) with the ops
 * its kernel holds and their role in it, then the views that are aliases. Stable text. */
void        mlg_fusion_print(const mlg_fusion *fusion, const mlg_graph *graph,
                             const mlg_lowered *lowered, FILE *out);

#endif

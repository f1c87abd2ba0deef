/* autodiff.h — reverse-mode automatic differentiation on the graph IR. The gradient of a scalar
 * node with respect to leaves (params, inputs) is appended to the graph being built as
 * ordinary ops, each op's part built by its own gradient hook (op.h `vjp`), so the backward
 * graph is optimized, fused and planned like the forward one. Used by the checker for
 * `grad(LOSS, X)` and for a `train` statement's step.
 * Thread safety: reentrant. */
#ifndef MLG_AUTODIFF_H
#define MLG_AUTODIFF_H

#include "graph.h"

/* Why the gradient could not be built. */
typedef struct mlg_autodiff_error {
  int node;              /* the node at fault (its span says where), or -1 */
  int wrt;               /* the index in wrt[] of a leaf the loss reaches through it, or -1 */
  char msg[256];         /* "max_pool2d_grad has no gradient", or a gradient op's failure */
} mlg_autodiff_error;

/* Appends to b's graph the gradient of node `loss` (an f32 scalar) with respect to each node
 * wrt[i] (f32 leaves or any earlier nodes) and sets out_grads[i] to the node holding it (of
 * wrt[i]'s type; a zeros const when the loss does not depend on wrt[i]). Contributions of
 * several readers are summed in reader order. Returns 0, or -1 with *err filled (an op on a
 * path from a wrt node to the loss that has no gradient hook, a hook that failed, or memory;
 * nodes appended before the failure stay in the graph). */
int mlg_autodiff(mlg_graph_builder *b, int loss, const int *wrt, int n_wrt, int *out_grads,
                 mlg_autodiff_error *err);

#endif

/* optimize.h — graph-to-graph passes. Each pass reads a graph and builds a new one (the input
 * is never modified); -O0 runs none of them.
 *
 *   dce   dead-code elimination: drops op/const/param nodes no output depends on (inputs stay:
 *         they are the model's interface)
 *   cse   common-subexpression elimination: one node per (op, inputs, attributes), one const
 *         per distinct value
 *
 * Thread safety: reentrant. */
#ifndef MLG_OPTIMIZE_H
#define MLG_OPTIMIZE_H

#include "diag.h"
#include "graph.h"

/* Rebuilding a graph node by node: map[i] is the new id of old node i (or of the node that
 * replaces it), -1 when dropped. */
typedef struct mlg_rewriter {
  const mlg_graph *src;
  mlg_graph_builder builder;
  int *map;
  int failed;            /* an allocation failed; finish returns NULL */
} mlg_rewriter;

int        mlg_rewriter_init(mlg_rewriter *rw, const mlg_graph *src);
/* Copies old node `i` with its inputs remapped; returns the new id (also stored in map[i]). */
int        mlg_rewriter_copy(mlg_rewriter *rw, int i);
/* Adds the source's outputs (remapped) and returns the new graph; frees the rewriter. */
mlg_graph *mlg_rewriter_finish(mlg_rewriter *rw);
void       mlg_rewriter_abandon(mlg_rewriter *rw);

mlg_graph *mlg_pass_dce(const mlg_graph *graph);
mlg_graph *mlg_pass_cse(const mlg_graph *graph);

/* Runs the pass pipeline for opt_level (0: a plain copy). NULL on allocation failure (reported). */
mlg_graph *mlg_optimize(const mlg_graph *graph, int opt_level, mlg_diag *diag);

#endif

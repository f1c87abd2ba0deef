/* optimize.h — graph-to-graph passes. Each pass reads a graph and builds a new one (the input
 * is never modified); -O0 runs none of them.
 *
 *   dce   dead-code elimination: drops op/const/param nodes no output depends on (inputs stay:
 *         they are the model's interface)
 *   cse      common-subexpression elimination: one node per (op, inputs, attributes), one
 *            const per distinct value
 *   simplify algebraic identities that hold for every IEEE value (pass_simplify.c): x*1, x/1,
 *            x+0, x-0, neg(neg(x)), transpose chains and identity transposes, chains of views
 *            (reshape/flatten/squeeze/unsqueeze) and views to the same shape
 *   fold     constant folding (pass_fold.c): an op whose inputs are all consts becomes a const
 *            (elementwise ops through their scalar formula, views, transpose), up to
 *            MLG_FOLD_MAX_NUMEL elements
 *   bn_fold  batch_norm after conv2d / 2-D linear folded into that op's weight and bias, when
 *            their values are known at compile time (pass_bn_fold.c)
 *   recognize subgraphs one op computes, replaced by that op (pass_recognize.c, op.h
 *            mlg_algebra.recognize): softmax(q @ k · s + mask) @ v as one
 *            scaled_dot_product_attention
 *   qdq      quantize_linear(relu|clamp(conv2d|matmul|linear(dequantize_linear(qx),
 *            dequantize_linear(qw)) + bias)) as one qlinear_conv2d / qlinear_matmul on the
 *            integers (pass_qdq.c)
 *
 * -O1 and -O2 run: (simplify, fold) to a fixed point (at most 4 rounds), bn_fold, recognize,
 * (simplify, fold) once more if bn_fold or recognize changed anything, qdq, (simplify, fold)
 * once more if qdq rewrote anything, cse, dce.
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

/* Largest result (in elements) that constant folding computes at compile time: bigger consts
 * would bloat the bundle's weights region more than the kernel they save. */
#define MLG_FOLD_MAX_NUMEL (INT64_C(1) << 20)

/* The *_n variants also report how many nodes they rewrote (0: the graph is unchanged up to
 * renumbering), so the pipeline can stop at a fixed point. out_rewrites may be NULL. */
mlg_graph *mlg_pass_simplify(const mlg_graph *graph);
mlg_graph *mlg_pass_simplify_n(const mlg_graph *graph, int *out_rewrites);
mlg_graph *mlg_pass_fold(const mlg_graph *graph);
mlg_graph *mlg_pass_fold_n(const mlg_graph *graph, int *out_rewrites);
mlg_graph *mlg_pass_qdq(const mlg_graph *graph);
mlg_graph *mlg_pass_qdq_n(const mlg_graph *graph, int *out_rewrites);

/* Replaces each subgraph that an op's recognize hook claims by one node of that op (see
 * above); the nodes it no longer needs are left for dce. */
mlg_graph *mlg_pass_recognize(const mlg_graph *graph);
mlg_graph *mlg_pass_recognize_n(const mlg_graph *graph, int *out_rewrites);

/* Values of params known at compile time, indexed by node id of the graph they come with:
 * data[i] holds numel floats of f32 param node i, or is NULL (unknown; also for every other
 * node). n is that graph's node count. Consts always have known values (their data). */
typedef struct mlg_param_values {
  int n;
  const float *const *data;
} mlg_param_values;

/* The param values of `orig` re-indexed for `g` (a later graph of the pipeline): params keep
 * their names through every pass, so they are matched by name (and type). The array is the
 * caller's to free (not the values it points to). NULL on allocation failure. */
const float **mlg_param_values_remap(const mlg_graph *g, const mlg_graph *orig,
                                     const mlg_param_values *values);

/* Folds batch_norm(conv2d(x, w, b?)) and batch_norm(linear(x, w, b?)) (linear on 2-D [N, C])
 * into one conv2d / linear with new const weight and bias, when the conv/linear has no other
 * consumer (and is no output) and w, b, and the four batch_norm vectors are consts or params
 * with known values. The BN params are left for dce. values may be NULL (no param is known). */
mlg_graph *mlg_pass_bn_fold(const mlg_graph *graph, const mlg_param_values *values);
mlg_graph *mlg_pass_bn_fold_n(const mlg_graph *graph, const mlg_param_values *values,
                              int *out_rewrites);

/* Marks in wanted[0..n_nodes) the params whose values the passes can use (today: the inputs of
 * batch_norm nodes and of the conv2d/linear nodes they read), so that a driver loads only those.
 * Returns the number marked. */
int mlg_optimize_wanted_values(const mlg_graph *graph, char *wanted);

/* Runs the pass pipeline for opt_level (0: a plain copy). NULL on allocation failure (reported). */
mlg_graph *mlg_optimize(const mlg_graph *graph, int opt_level, mlg_diag *diag);
/* The same, with the compile-time values of params (indexed by node id of `graph`; NULL: none
 * known, which disables batch_norm folding into params). */
mlg_graph *mlg_optimize_ex(const mlg_graph *graph, int opt_level, const mlg_param_values *values,
                           mlg_diag *diag);

#endif

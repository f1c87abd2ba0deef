/* dot.h — mlgc --emit=dot: the optimized graph as a Graphviz digraph, for a picture of what
 * runs (render it with `dot -Tsvg`).
 *
 * Every op is a node labelled with its op and binding name; the ops of one kernel sit in a
 * cluster labelled with the kernel's name (the anchor drawn bold); inputs, params and consts
 * are leaves, each output a node of its own. Each edge is labelled with the shape of the
 * tensor it carries: solid when that tensor is stored in memory (a leaf, a kernel's root, a
 * view of one), dashed when it never leaves the kernel's registers (inner values, index ops
 * folded into their readers). Stable text (golden files).
 * Thread safety: reentrant. */
#ifndef MLG_DOT_H
#define MLG_DOT_H

#include <stdio.h>

#include "fuse.h"
#include "graph.h"
#include "lower.h"

/* `lowered` must come from lowering `graph` with `fusion` (as for mlg_fusion_print). */
void mlg_dot_print(const mlg_graph *graph, const mlg_fusion *fusion, const mlg_lowered *lowered,
                   FILE *out);

#endif

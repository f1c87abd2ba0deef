#include "optimize.h"

#include <stdlib.h>

typedef mlg_graph *(*pass_fn)(const mlg_graph *);

mlg_graph *mlg_optimize(const mlg_graph *graph, int opt_level, mlg_diag *diag) {
  static const pass_fn pipeline[] = {mlg_pass_cse, mlg_pass_dce};
  mlg_rewriter rw;
  mlg_graph *g = NULL;
  /* -O0 and every level start from a copy, so the caller always owns what it gets. */
  if (mlg_rewriter_init(&rw, graph) == 0) {
    for (int i = 0; i < graph->n_nodes; i++) mlg_rewriter_copy(&rw, i);
    g = mlg_rewriter_finish(&rw);
  }
  for (size_t p = 0; g && opt_level > 0 && p < sizeof(pipeline) / sizeof(pipeline[0]); p++) {
    mlg_graph *next = pipeline[p](g);
    mlg_graph_free(g);
    g = next;
  }
  if (!g) mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while optimizing the graph");
  return g;
}

/* pass_dce.c — dead-code elimination: keep what some output or update depends on, every
 * update's target, and every input. */
#include <stdlib.h>

#include "optimize.h"

mlg_graph *mlg_pass_dce(const mlg_graph *g) {
  char *live = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
  if (!live) return NULL;
  for (int o = 0; o < g->n_outputs; o++) live[g->outputs[o].node] = 1;
  for (int u = 0; u < g->n_updates; u++) live[g->updates[u].target] = live[g->updates[u].value] = 1;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    if (g->nodes[i].kind == MLG_NODE_INPUT) live[i] = 1;
    if (!live[i]) continue;
    for (int k = 0; k < g->nodes[i].n_inputs; k++) live[g->nodes[i].inputs[k]] = 1;
  }
  mlg_rewriter rw;
  if (mlg_rewriter_init(&rw, g) != 0) {
    free(live);
    return NULL;
  }
  for (int i = 0; i < g->n_nodes; i++)
    if (live[i]) mlg_rewriter_copy(&rw, i);
  free(live);
  return mlg_rewriter_finish(&rw);
}

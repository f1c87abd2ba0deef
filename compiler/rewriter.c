#include <stdlib.h>
#include <string.h>

#include "optimize.h"

int mlg_rewriter_init(mlg_rewriter *rw, const mlg_graph *src) {
  memset(rw, 0, sizeof(*rw));
  rw->src = src;
  rw->map = malloc(sizeof(int) * (size_t)(src->n_nodes ? src->n_nodes : 1));
  if (!rw->map || mlg_graph_builder_init(&rw->builder, src->model_name) != 0) {
    free(rw->map);
    rw->map = NULL;
    return -1;
  }
  for (int i = 0; i < src->n_nodes; i++) rw->map[i] = -1;
  return 0;
}

int mlg_rewriter_copy(mlg_rewriter *rw, int i) {
  const mlg_node *old = &rw->src->nodes[i];
  int inputs[64];
  int *in = old->n_inputs <= 64 ? inputs : malloc(sizeof(int) * (size_t)old->n_inputs);
  if (!in) {
    rw->failed = 1;
    return -1;
  }
  for (int k = 0; k < old->n_inputs; k++) in[k] = rw->map[old->inputs[k]];
  mlg_node copy = *old;
  copy.inputs = in;
  int id = mlg_graph_add(&rw->builder, &copy);
  if (in != inputs) free(in);
  if (id < 0) rw->failed = 1;
  rw->map[i] = id;
  return id;
}

mlg_graph *mlg_rewriter_finish(mlg_rewriter *rw) {
  const mlg_graph *src = rw->src;
  for (int o = 0; o < src->n_outputs && !rw->failed; o++)
    if (mlg_graph_add_output_in(&rw->builder, src->outputs[o].name, rw->map[src->outputs[o].node],
                                src->outputs[o].programs) != 0)
      rw->failed = 1;
  for (int u = 0; u < src->n_updates && !rw->failed; u++)
    if (mlg_graph_add_update(&rw->builder, rw->map[src->updates[u].target],
                             rw->map[src->updates[u].value]) != 0)
      rw->failed = 1;
  if (!rw->failed && mlg_graph_set_optimizer(&rw->builder, src->optimizer) != 0) rw->failed = 1;
  if (rw->failed) {
    mlg_rewriter_abandon(rw);
    return NULL;
  }
  free(rw->map);
  rw->map = NULL;
  return mlg_graph_builder_finish(&rw->builder);
}

void mlg_rewriter_abandon(mlg_rewriter *rw) {
  mlg_graph_builder_abandon(&rw->builder);
  free(rw->map);
  rw->map = NULL;
}

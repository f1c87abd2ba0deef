/* autodiff.c — reverse mode over the nodes between the wrt leaves and the loss (see
 * autodiff.h). One sweep from the loss down: when node i is reached every reader of it has
 * been, so its gradient (the sum of what they contributed) is complete, and its op's gradient
 * hook hands each of its inputs a contribution. */
#include "autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "ops/op_util.h"

static int fail(mlg_autodiff_error *err, int node, int wrt, const char *msg) {
  err->node = node;
  err->wrt = wrt;
  snprintf(err->msg, sizeof err->msg, "%s", msg);
  return -1;
}

/* A zeros const of type t. */
static int zeros(mlg_op_builder *ob, const mlg_type *t) {
  int64_t n = mlg_type_numel(t);
  void *data = calloc((size_t)(n > 0 ? n : 1), 4);
  if (!data) return mlg_build_fail(ob, "out of memory");
  int id = mlg_build_const(ob, t, data);
  free(data);
  return id;
}

int mlg_autodiff(mlg_graph_builder *b, int loss, const int *wrt, int n_wrt, int *out_grads,
                 mlg_autodiff_error *err) {
  memset(err, 0, sizeof *err);
  err->node = err->wrt = -1;
  if (loss < 0 || loss >= b->graph->n_nodes) return fail(err, -1, -1, "the loss is not a node of the graph");
  const int n = loss + 1; /* nothing after the loss feeds it */
  int *grad = malloc(sizeof(int) * (size_t)n);
  int *reach = malloc(sizeof(int) * (size_t)n); /* a wrt index that reaches node i, or -1 */
  char *needed = calloc((size_t)n, 1);
  if (!grad || !reach || !needed) {
    free(grad);
    free(reach);
    free(needed);
    return fail(err, -1, -1, "out of memory");
  }
  const mlg_node *nodes = b->graph->nodes;
  for (int i = 0; i < n; i++) grad[i] = reach[i] = -1;
  for (int w = n_wrt - 1; w >= 0; w--)
    if (wrt[w] >= 0 && wrt[w] < n) reach[wrt[w]] = w;
  /* Forward: which nodes depend on a wrt node (through f32 values only: integers carry no
   * gradient). Backward: which of those the loss depends on. */
  for (int i = 0; i < n; i++) {
    if (reach[i] >= 0 || nodes[i].type.dtype != MLG_F32) continue;
    for (int k = 0; k < nodes[i].n_inputs && reach[i] < 0; k++) reach[i] = reach[nodes[i].inputs[k]];
  }
  needed[loss] = reach[loss] >= 0;
  for (int i = loss; i >= 0; i--) {
    if (!needed[i] || nodes[i].kind != MLG_NODE_OP) continue;
    for (int k = 0; k < nodes[i].n_inputs; k++)
      if (reach[nodes[i].inputs[k]] >= 0) needed[nodes[i].inputs[k]] = 1;
  }

  mlg_op_builder ob = {.graph = b, .span = nodes[loss].span};
  int rc = 0;
  if (needed[loss]) grad[loss] = mlg_build_scalar(&ob, 1.0);
  for (int i = loss; i >= 0 && rc == 0; i--) {
    if (!needed[i] || grad[i] < 0 || b->graph->nodes[i].kind != MLG_NODE_OP) continue;
    /* A copy: hooks append nodes, which may move the array. */
    const mlg_node node = b->graph->nodes[i];
    if (node.n_inputs > 64) {
      rc = fail(err, i, reach[i], "too many inputs to differentiate");
      break;
    }
    char needs[64] = {0};
    int dx[64], any = 0;
    for (int k = 0; k < node.n_inputs; k++) {
      needs[k] = (char)needed[node.inputs[k]];
      any |= needs[k];
      dx[k] = -1;
    }
    if (!any) continue;
    if (!node.op->vjp) {
      char msg[160];
      snprintf(msg, sizeof msg, "%s has no gradient", node.op->name);
      rc = fail(err, i, reach[i], msg);
      break;
    }
    ob.span = node.span;
    if (node.op->vjp(&ob, &node, i, grad[i], needs, dx) != 0 || ob.failed) {
      rc = fail(err, i, reach[i], ob.error[0] ? ob.error : "its gradient could not be built");
      break;
    }
    /* Each contribution joins its input's sum, in reader order (so the sums are the same
     * every time the model is compiled). */
    for (int k = 0; k < node.n_inputs && rc == 0; k++) {
      int in = node.inputs[k];
      if (!needs[k] || dx[k] < 0) continue;
      mlg_type got = mlg_build_type(&ob, dx[k]);
      if (!mlg_type_equal(&got, &b->graph->nodes[in].type)) {
        char msg[200], t1[96], t2[96];
        snprintf(msg, sizeof msg, "internal error: the gradient of %s's input %d is %s, not %s",
                 node.op->name, k, mlg_type_format(&got, t1, sizeof t1),
                 mlg_type_format(&b->graph->nodes[in].type, t2, sizeof t2));
        rc = fail(err, i, reach[i], msg);
        break;
      }
      grad[in] = grad[in] < 0 ? dx[k] : mlg_b2(&ob, &mlg_op_add, grad[in], dx[k]);
      if (ob.failed) rc = fail(err, i, reach[i], ob.error);
    }
  }
  for (int w = 0; w < n_wrt && rc == 0; w++) {
    int leaf = wrt[w];
    int g = leaf >= 0 && leaf < n ? grad[leaf] : -1;
    if (g < 0) g = zeros(&ob, &b->graph->nodes[leaf].type);
    if (g < 0) rc = fail(err, -1, w, ob.error);
    out_grads[w] = g;
  }
  free(grad);
  free(reach);
  free(needed);
  return rc;
}

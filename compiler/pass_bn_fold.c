/* pass_bn_fold.c — a channel norm (batch_norm) folded into the conv2d or linear that feeds it;
 * both say so through their algebra traits (op.h: channel_norm, channel_linear_rank).
 *
 *   norm(conv2d(x, w, b?), gamma, beta, mean, var, eps)
 *     = conv2d(x, w', b')   with s = gamma / sqrt(var + eps),
 *                                w'[o, ...] = w[o, ...] * s[o],  b' = (b - mean) * s + beta
 *
 * and the same for linear(x, w, b?) on a 2-D [N, C] input (the norm's channel axis 1 is then
 * linear's output feature axis; w is [out, in], so row o scales by s[o]). Computed in double,
 * stored as float. Conditions: the conv/linear has no consumer but the norm and is no output,
 * and w, b, gamma, beta, mean, var all have known values (consts, or params given in
 * `values`). w' and b' become consts named after the weight and the norm, e.g.
 * "layer1.0.conv1.weight+bn1" and "layer1.0.conv1.bias+bn1", so --emit=graph shows the fold;
 * the old params are left for dce. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "optimize.h"

static const float *known(const mlg_graph *g, const mlg_param_values *v, int id) {
  const mlg_node *n = &g->nodes[id];
  if (n->type.dtype != MLG_F32) return NULL;
  if (n->kind == MLG_NODE_CONST) return n->data;
  if (n->kind == MLG_NODE_PARAM && v && v->data && id < v->n) return v->data[id];
  return NULL;
}

/* The conv2d/linear node that channel-norm node i can absorb (its norm in *nm), or -1. */
static int foldable(const mlg_graph *g, const mlg_param_values *v, const int *uses, int i,
                    mlg_channel_norm *nm) {
  const mlg_node *bn = &g->nodes[i];
  if (bn->kind != MLG_NODE_OP || !bn->op || !bn->op->algebra.channel_norm ||
      bn->op->algebra.channel_norm(bn, nm) || bn->n_inputs < 1)
    return -1;
  int c = bn->inputs[0];
  const mlg_node *cn = &g->nodes[c];
  if (cn->kind != MLG_NODE_OP || !cn->op || cn->n_inputs < 2 || cn->n_inputs > 3 ||
      uses[c] != 1 || cn->op->algebra.channel_linear_rank != cn->type.rank)
    return -1;
  if (!mlg_type_equal(&cn->type, &bn->type)) return -1;
  const mlg_node *w = &g->nodes[cn->inputs[1]];
  int64_t channels = cn->type.dims[1];
  if (w->type.rank < 1 || w->type.dims[0] != channels) return -1;
  for (int k = 1; k < cn->n_inputs; k++)
    if (!known(g, v, cn->inputs[k])) return -1;
  const int slots[4] = {nm->scale, nm->shift, nm->mean, nm->var};
  for (int k = 0; k < 4; k++) {
    if (slots[k] < 1 || slots[k] >= bn->n_inputs) return -1;
    const mlg_node *p = &g->nodes[bn->inputs[slots[k]]];
    if (p->type.rank != 1 || p->type.dims[0] != channels || !known(g, v, bn->inputs[slots[k]]))
      return -1;
  }
  if (cn->n_inputs == 3) {
    const mlg_node *b = &g->nodes[cn->inputs[2]];
    if (b->type.rank != 1 || b->type.dims[0] != channels) return -1;
  }
  return c;
}

/* "conv1" from "layer1.0.bn1.weight" next to "layer1.0.conv1.weight": the norm's name minus
 * its last component and minus the leading components it shares with the weight's name. */
static void norm_label(const char *norm, const char *weight, char *buf, size_t size) {
  if (!norm) {
    snprintf(buf, size, "bn");
    return;
  }
  const char *last = strrchr(norm, '.');
  size_t len = last ? (size_t)(last - norm) : strlen(norm);
  size_t skip = 0;
  if (weight) {
    for (size_t k = 0; k < len && norm[k] == weight[k]; k++)
      if (norm[k] == '.') skip = k + 1;
  }
  if (skip >= len) skip = 0;
  snprintf(buf, size, "%.*s", (int)(len - skip), norm + skip);
}

/* "<base>+<label>"; base = the weight's (or bias's) name; a missing bias name is derived from
 * the weight's ("conv1.weight" → "conv1.bias"). */
static void folded_name(const char *name, const char *weight, int is_bias, const char *label,
                        char *buf, size_t size) {
  if (name) {
    snprintf(buf, size, "%s+%s", name, label);
  } else if (is_bias && weight) {
    const char *last = strrchr(weight, '.');
    int len = last ? (int)(last - weight) : 0;
    snprintf(buf, size, "%.*s%sbias+%s", len, weight, last ? "." : "", label);
  } else {
    snprintf(buf, size, "%s+%s", is_bias ? "bias" : "weight", label);
  }
}

static int add_const(mlg_rewriter *rw, const char *name, const mlg_type *type, mlg_span span,
                     const float *data) {
  mlg_node k = {.kind = MLG_NODE_CONST, .name = name, .type = *type, .span = span, .data = data};
  int id = mlg_graph_add(&rw->builder, &k);
  if (id < 0) rw->failed = 1;
  return id;
}

/* Emits w', b' and the new conv/linear for norm node i (nm) absorbing node c. */
static int emit_folded(mlg_rewriter *rw, const mlg_param_values *v, int i, int c,
                       const mlg_channel_norm *nm) {
  const mlg_graph *g = rw->src;
  const mlg_node *bn = &g->nodes[i], *cn = &g->nodes[c];
  const mlg_node *wn = &g->nodes[cn->inputs[1]];
  const int has_bias = cn->n_inputs == 3;
  int64_t channels = cn->type.dims[1];
  int64_t wnumel = mlg_type_numel(&wn->type), per = wnumel / channels;
  const float *w = known(g, v, cn->inputs[1]);
  const float *b = has_bias ? known(g, v, cn->inputs[2]) : NULL;
  const float *gamma = known(g, v, bn->inputs[nm->scale]);
  const float *beta = known(g, v, bn->inputs[nm->shift]);
  const float *mean = known(g, v, bn->inputs[nm->mean]), *var = known(g, v, bn->inputs[nm->var]);
  double eps = nm->eps;

  float *nw = malloc(sizeof(float) * (size_t)wnumel);
  float *nb = malloc(sizeof(float) * (size_t)channels);
  if (!nw || !nb) {
    free(nw);
    free(nb);
    rw->failed = 1;
    return -1;
  }
  for (int64_t o = 0; o < channels; o++) {
    double s = (double)gamma[o] / sqrt((double)var[o] + eps);
    for (int64_t k = 0; k < per; k++) nw[o * per + k] = (float)((double)w[o * per + k] * s);
    nb[o] = (float)(((b ? (double)b[o] : 0.0) - (double)mean[o]) * s + (double)beta[o]);
  }

  char label[128], wname[512], bname[512];
  norm_label(g->nodes[bn->inputs[nm->scale]].name, wn->name, label, sizeof(label));
  folded_name(wn->name, NULL, 0, label, wname, sizeof(wname));
  folded_name(has_bias ? g->nodes[cn->inputs[2]].name : NULL, wn->name, 1, label, bname,
              sizeof(bname));
  mlg_type btype = {.dtype = MLG_F32, .rank = 1, .dims = {channels}};
  int wid = add_const(rw, wname, &wn->type, wn->span, nw);
  int bid = wid < 0 ? -1 : add_const(rw, bname, &btype, bn->span, nb);
  free(nw);
  free(nb);
  if (bid < 0) return -1;

  int inputs[3] = {rw->map[cn->inputs[0]], wid, bid};
  mlg_node n = *cn;
  n.inputs = inputs;
  n.n_inputs = 3;
  if (bn->name) n.name = bn->name;
  int id = mlg_graph_add(&rw->builder, &n);
  if (id < 0) rw->failed = 1;
  return id;
}

mlg_graph *mlg_pass_bn_fold_n(const mlg_graph *g, const mlg_param_values *values,
                              int *out_rewrites) {
  if (out_rewrites) *out_rewrites = 0;
  size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
  int *uses = calloc(n, sizeof(int));
  int *absorbed_by = malloc(n * sizeof(int)); /* conv/linear id → the batch_norm folding it */
  int *absorbs = malloc(n * sizeof(int));     /* norm id → the conv/linear it folds */
  mlg_channel_norm *norms = malloc(n * sizeof(*norms));
  mlg_rewriter rw;
  if (!uses || !absorbed_by || !absorbs || !norms || mlg_rewriter_init(&rw, g) != 0) {
    free(uses);
    free(absorbed_by);
    free(absorbs);
    free(norms);
    return NULL;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    absorbed_by[i] = absorbs[i] = -1;
    for (int k = 0; k < g->nodes[i].n_inputs; k++) uses[g->nodes[i].inputs[k]]++;
  }
  for (int o = 0; o < g->n_outputs; o++) uses[g->outputs[o].node]++;
  int folded = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    int c = foldable(g, values, uses, i, &norms[i]);
    if (c >= 0) {
      absorbs[i] = c;
      absorbed_by[c] = i;
    }
  }
  for (int i = 0; i < g->n_nodes && !rw.failed; i++) {
    if (absorbed_by[i] >= 0) continue; /* its only consumer, the norm, rebuilds it */
    if (absorbs[i] >= 0) {
      int id = emit_folded(&rw, values, i, absorbs[i], &norms[i]);
      if (id >= 0) {
        rw.map[i] = id;
        folded++;
      }
    } else {
      mlg_rewriter_copy(&rw, i);
    }
  }
  free(uses);
  free(absorbed_by);
  free(absorbs);
  free(norms);
  if (out_rewrites) *out_rewrites = folded;
  return mlg_rewriter_finish(&rw);
}

mlg_graph *mlg_pass_bn_fold(const mlg_graph *g, const mlg_param_values *values) {
  return mlg_pass_bn_fold_n(g, values, NULL);
}

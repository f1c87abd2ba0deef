/* pass_quantize.c — post-training int8 quantization of conv2d / linear / matmul layers: the
 * plan (which layers, which values need ranges), the observing graph and the QDQ rewrite
 * (quantize.h says what each computes). The rewrite only writes the QDQ pattern; pass_qdq.c
 * turns it into integer ops, so the two passes agree on one description of a quantized layer. */
#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "ops/op_util.h"

static int is_op(const mlg_graph *g, int id, const mlg_op_def *op) {
  return id >= 0 && g->nodes[id].kind == MLG_NODE_OP && g->nodes[id].op == op;
}

/* Whether node id is an f32 tensor whose values the compiler knows: a const, or a param with
 * a compile-time value. */
static int known(const mlg_graph *g, const mlg_param_values *v, int id) {
  const mlg_node *n = &g->nodes[id];
  if (n->type.dtype != MLG_F32) return 0;
  if (n->kind == MLG_NODE_CONST) return 1;
  return n->kind == MLG_NODE_PARAM && v && id < v->n && v->data[id];
}

/* Element i of a known node (see known). */
static float known_at(const mlg_graph *g, const mlg_param_values *v, int id, int64_t i) {
  const mlg_node *n = &g->nodes[id];
  if (n->kind == MLG_NODE_CONST) return (float)mlg_data_get(MLG_F32, n->data, i);
  return v->data[id][i];
}

/* Why layer node i stays f32, or NULL; fills l->result (also for a layer that stays f32, whose
 * name may be its relu's). single[k]: the one consumer of node k
 * when it has exactly one and is no output, else -1. */
static const char *layer_skip(const mlg_graph *g, const mlg_param_values *v, const int *single,
                              int i, mlg_quant_layer *l) {
  const mlg_node *n = &g->nodes[i];
  int conv = n->op == &mlg_op_conv2d;
  const mlg_type *xt = &g->nodes[n->inputs[0]].type, *wt = &g->nodes[n->inputs[1]].type;
  int c = single[i];
  l->result = c >= 0 && (is_op(g, c, &mlg_op_relu) || is_op(g, c, &mlg_op_clamp)) ? c : i;
  if (xt->dtype != MLG_F32) return "its input is not f32";
  if (!known(g, v, n->inputs[1])) return "its weight is not known at compile time (an input or a computed value)";
  if (wt->rank != (conv ? 4 : 2)) return "its weight is not 2-D";
  if (!conv && (xt->rank < 2 || n->type.rank < 2)) return "its input is 1-D";
  if (n->n_inputs == 3 && (!known(g, v, n->inputs[2]) || g->nodes[n->inputs[2]].type.rank != 1))
    return "its bias is not known at compile time";
  return NULL;
}

int mlg_quant_plan_build(const mlg_graph *g, const mlg_param_values *values, mlg_quant_plan *out) {
  memset(out, 0, sizeof(*out));
  size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
  int *uses = calloc(n, sizeof(int)), *single = malloc(n * sizeof(int));
  char *observe = calloc(n, 1);
  out->layers = malloc(n * sizeof(*out->layers));
  out->observed = malloc(n * sizeof(int));
  if (!uses || !single || !observe || !out->layers || !out->observed) {
    free(uses);
    free(single);
    free(observe);
    mlg_quant_plan_free(out);
    return -1;
  }
  for (int i = 0; i < g->n_nodes; i++) single[i] = -1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      int in = g->nodes[i].inputs[k];
      single[in] = uses[in]++ ? -1 : i;
    }
  for (int o = 0; o < g->n_outputs; o++) single[g->outputs[o].node] = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *nd = &g->nodes[i];
    if (!is_op(g, i, &mlg_op_conv2d) && !is_op(g, i, &mlg_op_linear) && !is_op(g, i, &mlg_op_matmul))
      continue;
    mlg_quant_layer *l = &out->layers[out->n_layers++];
    *l = (mlg_quant_layer){.node = i, .input = nd->inputs[0], .op = nd->op->name};
    l->skipped = layer_skip(g, values, single, i, l);
    const char *name = g->nodes[nd->inputs[1]].name;
    if (!name) name = g->nodes[l->result].name ? g->nodes[l->result].name : nd->name;
    l->name = strdup(name ? name : "(unnamed)");
    if (!l->name) {
      free(uses);
      free(single);
      free(observe);
      mlg_quant_plan_free(out);
      return -1;
    }
    if (l->skipped) continue;
    out->n_quantized++;
    observe[l->input] = observe[l->result] = 1;
  }
  for (int i = 0; i < g->n_nodes; i++)
    if (observe[i]) out->observed[out->n_observed++] = i;
  int failed = !(out->observed_names = calloc((size_t)out->n_observed + 1, sizeof(char *)));
  for (int k = 0; k < out->n_observed && !failed; k++) {
    char name[64];
    snprintf(name, sizeof name, MLG_QUANT_OBSERVE_PREFIX "%d", k);
    const char *given = name;
    for (int o = 0; o < g->n_outputs; o++)
      if (g->outputs[o].node == out->observed[k] && g->outputs[o].name) given = g->outputs[o].name;
    failed = !(out->observed_names[k] = strdup(given));
  }
  if (failed) mlg_quant_plan_free(out);
  free(uses);
  free(single);
  free(observe);
  return failed ? -1 : 0;
}

int mlg_quant_wanted_values(const mlg_graph *g, char *wanted) {
  int count = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *n = &g->nodes[i];
    if (!is_op(g, i, &mlg_op_conv2d) && !is_op(g, i, &mlg_op_linear) && !is_op(g, i, &mlg_op_matmul))
      continue;
    for (int k = 1; k < n->n_inputs; k++) {
      int p = n->inputs[k];
      if (g->nodes[p].kind == MLG_NODE_PARAM && !wanted[p]) wanted[p] = 1, count++;
    }
  }
  return count;
}

void mlg_quant_plan_free(mlg_quant_plan *plan) {
  for (int l = 0; l < plan->n_layers; l++) free((char *)plan->layers[l].name);
  for (int k = 0; plan->observed_names && k < plan->n_observed; k++) free(plan->observed_names[k]);
  free(plan->observed_names);
  free(plan->layers);
  free(plan->observed);
  memset(plan, 0, sizeof(*plan));
}

mlg_graph *mlg_quant_observe(const mlg_graph *g, const mlg_quant_plan *plan) {
  mlg_rewriter rw;
  if (mlg_rewriter_init(&rw, g) != 0) return NULL;
  for (int i = 0; i < g->n_nodes; i++) mlg_rewriter_copy(&rw, i);
  for (int k = 0; k < plan->n_observed && !rw.failed; k++)
    if (strncmp(plan->observed_names[k], MLG_QUANT_OBSERVE_PREFIX, strlen(MLG_QUANT_OBSERVE_PREFIX)) == 0 &&
        mlg_graph_add_output(&rw.builder, plan->observed_names[k], rw.map[plan->observed[k]]) != 0)
      rw.failed = 1;
  return mlg_rewriter_finish(&rw);
}

void mlg_quant_u8_params(float lo, float hi, float *out_scale, int *out_zero_point) {
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  float scale = (hi - lo) / 255.0f;
  if (!(scale > 0) || !isfinite(scale)) scale = 1.0f;
  double z = nearbyint(-(double)lo / scale);
  *out_scale = scale;
  *out_zero_point = z < 0 ? 0 : z > 255 ? 255 : (int)z;
}

/* The rewrite's state: per old node, its quantize_linear and dequantize_linear in the new
 * graph (-1: not quantized yet). */
typedef struct quantizer {
  mlg_rewriter rw;
  mlg_op_builder ob;
  const mlg_param_values *values;
  const mlg_quant_range *ranges;
  int *range_of;         /* old node → index into ranges, or -1 */
  int *q, *dq;
} quantizer;

/* Quantizes old value v (already copied: rw.map[v]) as u8 with its range: q[v], dq[v]. */
static int quantize_value(quantizer *qz, int v) {
  if (qz->dq[v] >= 0) return 0;
  const mlg_quant_range *r = &qz->ranges[qz->range_of[v]];
  float scale;
  int zp;
  mlg_quant_u8_params(r->lo, r->hi, &scale, &zp);
  uint8_t z8 = (uint8_t)zp;
  mlg_type zt = {.dtype = MLG_U8, .rank = 0};
  int in[3] = {qz->rw.map[v], mlg_build_scalar(&qz->ob, scale), mlg_build_const(&qz->ob, &zt, &z8)};
  qz->q[v] = in[0] = mlg_build_op(&qz->ob, &mlg_op_quantize_linear, in, 3, NULL);
  qz->dq[v] = mlg_build_op(&qz->ob, &mlg_op_dequantize_linear, in, 3, NULL);
  return qz->dq[v] < 0 ? -1 : 0;
}

/* dequantize_linear(qw, ws, 0) for weight node w of layer `layer`: i8 per output channel
 * (conv2d, linear: dim 0; matmul: dim 1), symmetric. Returns the node, or -1. */
static int quantize_weight(quantizer *qz, const mlg_node *layer, int w) {
  const mlg_graph *g = qz->rw.src;
  const mlg_type *wt = &g->nodes[w].type;
  int axis = layer->op == &mlg_op_matmul ? 1 : 0;
  int64_t channels = wt->dims[axis], numel = mlg_type_numel(wt);
  int64_t inner = axis == 0 ? numel / channels : 1; /* elements of one channel in a row */
  float *scale = calloc((size_t)channels, sizeof(float));
  int8_t *qw = malloc((size_t)numel), *zero = calloc((size_t)channels, 1);
  int id = -1;
  if (scale && qw && zero) {
    for (int64_t i = 0; i < numel; i++) {
      int64_t c = axis == 0 ? i / inner : i % channels;
      float a = fabsf(known_at(g, qz->values, w, i));
      if (a > scale[c]) scale[c] = a;
    }
    for (int64_t c = 0; c < channels; c++) scale[c] = scale[c] > 0 ? scale[c] / 127.0f : 1.0f;
    for (int64_t i = 0; i < numel; i++) {
      int64_t c = axis == 0 ? i / inner : i % channels;
      double v = nearbyint((double)(known_at(g, qz->values, w, i) / scale[c]));
      qw[i] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
    }
    mlg_type qt = *wt, ct = {.dtype = MLG_F32, .rank = 1, .dims = {channels}};
    qt.dtype = MLG_I8;
    int in[3] = {mlg_build_const(&qz->ob, &qt, qw), mlg_build_const(&qz->ob, &ct, scale), -1};
    ct.dtype = MLG_I8;
    in[2] = mlg_build_const(&qz->ob, &ct, zero);
    mlg_attr attrs[MLG_MAX_ATTRS] = {mlg_attr_of_int(axis)};
    id = mlg_build_op(&qz->ob, &mlg_op_dequantize_linear, in, 3, attrs);
  }
  free(scale);
  free(qw);
  free(zero);
  return id;
}

/* A known f32 node as a const of the new graph (a param's compile-time value copied). */
static int known_const(quantizer *qz, int id) {
  const mlg_graph *g = qz->rw.src;
  if (g->nodes[id].kind == MLG_NODE_CONST) return qz->rw.map[id];
  mlg_node k = {.kind = MLG_NODE_CONST, .name = g->nodes[id].name, .type = g->nodes[id].type,
                .span = g->nodes[id].span, .data = qz->values->data[id]};
  int c = mlg_graph_add(&qz->rw.builder, &k);
  if (c < 0) qz->rw.failed = 1;
  return c;
}

/* Layer node i over dequantized input and weight. Returns its new id, or -1. */
static int quantize_layer(quantizer *qz, int i) {
  const mlg_node *n = &qz->rw.src->nodes[i];
  if (quantize_value(qz, n->inputs[0]) != 0) return -1;
  int in[3] = {qz->dq[n->inputs[0]], quantize_weight(qz, n, n->inputs[1]), -1};
  if (n->n_inputs == 3) in[2] = known_const(qz, n->inputs[2]);
  for (int k = 0; k < n->n_inputs; k++)
    if (in[k] < 0) return -1;
  mlg_node copy = *n;
  copy.inputs = in;
  return mlg_graph_add(&qz->rw.builder, &copy);
}

mlg_graph *mlg_pass_quantize(const mlg_graph *g, const mlg_param_values *values,
                             const mlg_quant_plan *plan, const mlg_quant_range *ranges,
                             char *err, size_t err_size) {
  if (err_size) err[0] = '\0';
  for (int k = 0; k < plan->n_observed; k++)
    if (!isfinite(ranges[k].lo) || !isfinite(ranges[k].hi) || ranges[k].lo > ranges[k].hi) {
      const char *name = g->nodes[plan->observed[k]].name;
      snprintf(err, err_size, "the range of value '%s' is [%g, %g], not a finite interval",
               name ? name : "(unnamed)", (double)ranges[k].lo, (double)ranges[k].hi);
      return NULL;
    }
  size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
  quantizer qz = {.values = values, .ranges = ranges};
  qz.range_of = malloc(n * sizeof(int));
  qz.q = malloc(n * sizeof(int));
  qz.dq = malloc(n * sizeof(int));
  char *role = calloc(n, 1); /* 1: a quantized layer, 2: a quantized layer's result */
  mlg_graph *out = NULL;
  if (qz.range_of && qz.q && qz.dq && role && mlg_rewriter_init(&qz.rw, g) == 0) {
    qz.ob = (mlg_op_builder){.graph = &qz.rw.builder};
    for (int i = 0; i < g->n_nodes; i++) qz.range_of[i] = qz.q[i] = qz.dq[i] = -1;
    for (int k = 0; k < plan->n_observed; k++) qz.range_of[plan->observed[k]] = k;
    for (int l = 0; l < plan->n_layers; l++)
      if (!plan->layers[l].skipped) role[plan->layers[l].node] = 1, role[plan->layers[l].result] |= 2;
    for (int i = 0; i < g->n_nodes && !qz.rw.failed && !qz.ob.failed; i++) {
      if (role[i] & 1) {
        qz.rw.map[i] = quantize_layer(&qz, i);
        if (qz.rw.map[i] < 0) qz.rw.failed = 1;
      } else {
        mlg_rewriter_copy(&qz.rw, i);
      }
      if ((role[i] & 2) && !qz.rw.failed) {
        if (quantize_value(&qz, i) != 0) qz.rw.failed = 1;
        else qz.rw.map[i] = qz.dq[i]; /* every later reader takes the quantized value */
      }
    }
    if (qz.ob.failed) {
      snprintf(err, err_size, "%s", qz.ob.error);
      qz.rw.failed = 1;
    }
    out = mlg_rewriter_finish(&qz.rw);
  }
  if (!out && err_size && !err[0]) snprintf(err, err_size, "out of memory");
  free(qz.range_of);
  free(qz.q);
  free(qz.dq);
  free(role);
  return out;
}

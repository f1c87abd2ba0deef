#include "precision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_defs.h"

int mlg_precision_parse(const char *text, mlg_precision *out) {
  if (text && strcmp(text, "f32") == 0) *out = MLG_PRECISION_F32;
  else if (text && strcmp(text, "f16") == 0) *out = MLG_PRECISION_F16;
  else return -1;
  return 0;
}

const char *mlg_precision_name(mlg_precision precision) {
  return precision == MLG_PRECISION_F16 ? "f16" : "f32";
}

/* Whether a const holds a finite value beyond the range of f16 (65504), which a half would turn
 * into an infinity: an attention mask's -1e9, a large scale. */
static int beyond_half(const mlg_node *n) {
  int64_t numel = mlg_type_numel(&n->type);
  for (int64_t e = 0; n->data && e < numel; e++) {
    double v = fabs(mlg_data_get(n->type.dtype, n->data, e));
    if (isfinite(v) && v > 65504.0) return 1;
  }
  return 0;
}

/* Ops whose result is one of their input's values (the extreme of a group of them): a gradient
 * finds it again by comparing (`x - max(x) >= 0` marks the maxima), which a rounded copy of the
 * maximum of an f32 input would miss (no element would match, and the gradient would divide by
 * zero). Their result is stored as their input is: f32 of an f32 input, f16 (exact) of f16. */
static int selects(const mlg_node *n) {
  return n->kind == MLG_NODE_OP && n->n_inputs >= 1 &&
         (n->op == &mlg_op_max || n->op == &mlg_op_min || n->op == &mlg_op_max_pool2d);
}

/* The quantization ops: their f32 operands besides the value quantized are scales, which set
 * where every rounding to an integer falls; a scale off by a half's rounding (2^-11) moves some
 * results by one quantum. */
static int quantizes(const mlg_node *n) {
  return n->kind == MLG_NODE_OP &&
         (n->op == &mlg_op_quantize_linear || n->op == &mlg_op_dequantize_linear ||
          n->op == &mlg_op_qlinear_conv2d || n->op == &mlg_op_qlinear_matmul);
}

/* Why a value keeps f32 whatever its kind (bits of keep[], per node). */
enum { KEEP_OUTPUT = 1, KEEP_SCALE = 2 };

/* Whether node i of g is a value that --precision=f16 stores as f16: an f32 weight or
 * intermediate that is none of the model's outputs (those keep the declared interface) and no
 * quantization scale (keep[i]), no const with values a half cannot hold, and no selection or
 * view of a value stored as f32. */
static int halved(const mlg_graph *g, int i, const char *keep, const mlg_ir_dtype *stored) {
  const mlg_node *n = &g->nodes[i];
  if (n->type.dtype != MLG_F32 || keep[i]) return 0;
  if (n->kind == MLG_NODE_CONST) return !beyond_half(n);
  /* A view shares its input's bytes (lowering makes it an alias): stored as they are. */
  if (selects(n) || (n->kind == MLG_NODE_OP && n->op->cls == MLG_OPC_VIEW && n->n_inputs >= 1))
    return stored[n->inputs[0]] == MLG_F16;
  return n->kind == MLG_NODE_PARAM || n->kind == MLG_NODE_OP;
}

int mlg_precision_storage(const mlg_graph *g, mlg_precision precision, mlg_diag *diag,
                          mlg_ir_dtype **out_stored) {
  *out_stored = NULL;
  if (precision == MLG_PRECISION_F16 && (g->n_updates > 0 || g->optimizer)) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "--precision=f16 compiles models without a train step: "
                   "mixed-precision training is not implemented; compile '%s' with --precision=f32 "
                   "(the default)", g->model_name ? g->model_name : "model");
    return -1;
  }
  mlg_ir_dtype *stored = malloc(sizeof(*stored) * (size_t)(g->n_nodes ? g->n_nodes : 1));
  char *keep = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
  if (!stored || !keep) {
    free(stored);
    free(keep);
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while choosing the precision");
    return -1;
  }
  for (int o = 0; o < g->n_outputs; o++) keep[g->outputs[o].node] |= KEEP_OUTPUT;
  for (int i = 0; i < g->n_nodes; i++) /* every input but the value quantized is a scale */
    for (int k = 1; quantizes(&g->nodes[i]) && k < g->nodes[i].n_inputs; k++)
      keep[g->nodes[i].inputs[k]] |= KEEP_SCALE;
  for (int i = 0; i < g->n_nodes; i++)
    stored[i] = precision == MLG_PRECISION_F16 && halved(g, i, keep, stored) ? MLG_F16
                                                                           : g->nodes[i].type.dtype;
  free(keep);
  *out_stored = stored;
  return 0;
}

/* quantize.h — post-training int8 quantization of a model's conv2d, linear and matmul layers
 * (pass_quantize.c), driven by activation ranges measured on calibration inputs.
 *
 * Two graphs come from one optimized f32 graph and its plan (mlg_quant_plan_build):
 *   observe   the same graph with every value the plan needs a range of as an output
 *             (mlg_quant_plan.observed_names), so a runtime can measure them;
 *   quantize  the QDQ form of every quantizable layer L with input x and result y (L, its
 *             `+ bias` and a relu/clamp after it):
 *               y' = dequantize_linear(quantize_linear(E(L(dequantize_linear(qx),
 *                                                         dequantize_linear(qw)) + b)))
 *             with qw the weight as i8 per output channel (symmetric: zero point 0, scale
 *             max|w| / 127), qx = quantize_linear(x) (u8, scale and zero point from x's range
 *             widened to hold 0, as onnxruntime's MinMax calibration), b the f32 bias. A value
 *             that is both a layer's result and the next layer's input is quantized once, so
 *             pass_qdq.c (run by the pipeline afterwards) turns each layer into one
 *             qlinear_conv2d / qlinear_matmul whose integer result feeds the next directly.
 * Layers that cannot be quantized keep f32 and say why (mlg_quant_layer.skipped).
 * Thread safety: reentrant; plans are immutable once built. */
#ifndef MLG_QUANTIZE_H
#define MLG_QUANTIZE_H

#include "graph.h"
#include "optimize.h"

#define MLG_QUANT_OBSERVE_PREFIX "quant.observe."

typedef struct mlg_quant_layer {
  int node;              /* the conv2d / linear / matmul node */
  int input;             /* its activation x (a node of the same graph) */
  int result;            /* its result y: the node itself, or the bias add / relu / clamp after it */
  const char *name;      /* what the report calls it: the weight's name, else the result's
                            (owned by the plan) */
  const char *op;        /* "conv2d", "linear", "matmul" */
  const char *skipped;   /* NULL: quantized; else why it stays f32 (a static string) */
} mlg_quant_layer;

/* Node ids are those of the graph the plan was built on. */
typedef struct mlg_quant_plan {
  int n_layers;
  mlg_quant_layer *layers;
  int n_quantized;
  int n_observed;        /* values that need a range: inputs and results of quantized layers */
  int *observed;         /* their node ids, in node order */
  char **observed_names; /* the output of the observing graph that holds each: a declared
                            output's name when the value is one, else MLG_QUANT_OBSERVE_PREFIX
                            and its index (owned by the plan) */
} mlg_quant_plan;

/* A value's range over the calibration inputs. */
typedef struct mlg_quant_range {
  float lo, hi;
} mlg_quant_range;

/* What mlg_compile_options.quant asks of the pipeline: after the passes, build the plan on the
 * optimized graph (mlg_pipeline.quant_plan) and compile either the observing graph or the
 * quantized one (ranges[k] for plan->observed[k]; the pipeline checks the count), which the
 * passes then run over again so that pass_qdq fuses each layer. Needs -O1 or -O2, embedded
 * weights and a model without a train step (each an error otherwise), and at least one
 * quantizable layer. */
typedef struct mlg_quant_options {
  int observe;                   /* 1: the observing graph; 0: the quantized graph */
  int n_ranges;
  const mlg_quant_range *ranges;
} mlg_quant_options;

/* Marks in wanted[0..n_nodes) the params whose values quantization reads (the weights and
 * biases of conv2d, linear and matmul), besides what is marked already. Returns the number
 * newly marked. */
int         mlg_quant_wanted_values(const mlg_graph *g, char *wanted);
/* The layers of `g` and the values to observe. values: compile-time values of g's params (may
 * be NULL: params then count as unknown weights). Returns 0, or -1 (out of memory). */
int         mlg_quant_plan_build(const mlg_graph *g, const mlg_param_values *values,
                                 mlg_quant_plan *out_plan);
void        mlg_quant_plan_free(mlg_quant_plan *plan);
/* g with plan->observed as extra outputs (see above). NULL: out of memory. */
mlg_graph  *mlg_quant_observe(const mlg_graph *g, const mlg_quant_plan *plan);
/* The QDQ graph (see above); ranges[k] is the range of plan->observed[k]. NULL: out of memory,
 * or a range that is not finite (err says which). */
mlg_graph  *mlg_pass_quantize(const mlg_graph *g, const mlg_param_values *values,
                              const mlg_quant_plan *plan, const mlg_quant_range *ranges,
                              char *err, size_t err_size);
/* The u8 scale and zero point for [lo, hi] widened to hold 0 (a zero-width range gets scale 1). */
void        mlg_quant_u8_params(float lo, float hi, float *out_scale, int *out_zero_point);

#endif

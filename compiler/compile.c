#include "compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/bundle.h"
#include "../runtime/file_util.h"
#include "ast.h"
#include "bundle_emit.h"
#include "emit_code.h"
#include "fuse.h"
#include "graph.h"
#include "lower.h"
#include "onnx/onnx_import.h"
#include "optimize.h"
#include "parse.h"
#include "plan.h"
#include "quantize.h"
#include "precision.h"
#include "weights.h"

/* options->quant on g, the optimized f32 graph (freed): the observing graph or the int8 graph
 * passed through the passes again; the plan goes to out->quant_plan. values: the params'
 * compile-time values, indexed by node of orig (the checked graph), or NULL. */
static mlg_graph *quantize(mlg_graph *g, const mlg_graph *orig, const mlg_param_values *values,
                           const mlg_compile_options *options, mlg_diag *diag, mlg_pipeline *out) {
  const mlg_quant_options *q = options->quant;
  const float **v = values ? mlg_param_values_remap(g, orig, values) : NULL;
  mlg_param_values mapped = {.n = g->n_nodes, .data = v};
  mlg_graph *next = NULL;
  out->quant_plan = calloc(1, sizeof(*out->quant_plan));
  if ((values && !v) || !out->quant_plan ||
      mlg_quant_plan_build(g, v ? &mapped : NULL, out->quant_plan) != 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while quantizing");
  } else if (out->quant_plan->n_quantized == 0) {
    const mlg_quant_layer *l = out->quant_plan->layers;
    if (out->quant_plan->n_layers == 0)
      mlg_diag_error(diag, (mlg_span){0, 0}, "nothing to quantize: the model has no conv2d, linear "
                     "or matmul layer");
    else
      mlg_diag_error(diag, (mlg_span){0, 0}, "nothing to quantize: none of the model's %d conv2d, "
                     "linear or matmul layers can be (the first, %s '%s': %s)",
                     out->quant_plan->n_layers, l->op, l->name, l->skipped);
  } else if (q->observe) {
    next = mlg_quant_observe(g, out->quant_plan);
    if (!next) mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while quantizing");
  } else if (q->n_ranges != out->quant_plan->n_observed) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "quantization needs the ranges of %d values, %d were "
                   "given", out->quant_plan->n_observed, q->n_ranges);
  } else {
    char err[512];
    mlg_graph *int8 = mlg_pass_quantize(g, v ? &mapped : NULL, out->quant_plan, q->ranges, err,
                                        sizeof err);
    if (!int8) mlg_diag_error(diag, (mlg_span){0, 0}, "cannot quantize: %s", err);
    else next = mlg_optimize(int8, options->opt_level, diag);
    if (int8) mlg_graph_free(int8);
  }
  free(v);
  mlg_graph_free(g);
  return next;
}

/* What options->quant needs of the model and the options. Returns 0, or -1 after an error. */
static int quantize_check(const mlg_graph *graph, const mlg_compile_options *options,
                          mlg_diag *diag) {
  const char *why = options->opt_level <= 0 ? "the graph passes, which fuse the quantized layers "
                                              "into integer ops: use -O1 or -O2, not -O0"
                    : options->no_weights ? "the weights at compile time: drop --no-weights"
                    : graph->n_updates > 0 ? "a model without a train step: quantize the model's "
                                             "inference form with its trained weights (--weights)"
                    : NULL;
  if (!why) return 0;
  mlg_diag_error(diag, (mlg_span){0, 0}, "quantization needs %s", why);
  return -1;
}

/* Runs the passes; when weights are embedded, first loads the param values the passes can use
 * (batch_norm folding, quantization), so the folded weights end up in the bundle as consts. */
static mlg_graph *optimize(const mlg_graph *graph, const mlg_compile_options *options,
                           mlg_weights_file *weights_file, mlg_diag *diag, mlg_pipeline *out) {
  if (options->quant && quantize_check(graph, options, diag) != 0) return NULL;
  if (options->no_weights || options->opt_level <= 0)
    return mlg_optimize(graph, options->opt_level, diag);
  char *wanted = calloc((size_t)(graph->n_nodes ? graph->n_nodes : 1), 1);
  float **data = NULL;
  if (!wanted) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while optimizing the graph");
    return NULL;
  }
  mlg_optimize_wanted_values(graph, wanted);
  if (options->quant) mlg_quant_wanted_values(graph, wanted);
  int rc = mlg_weights_param_values(graph, weights_file, wanted, diag, &data);
  free(wanted);
  if (rc != 0) return NULL;
  mlg_param_values values = {.n = graph->n_nodes, .data = (const float *const *)data};
  mlg_graph *g = mlg_optimize_ex(graph, options->opt_level, data ? &values : NULL, diag);
  if (g && options->quant) g = quantize(g, graph, data ? &values : NULL, options, diag, out);
  mlg_weights_values_free(data, graph->n_nodes);
  return g;
}

static int run_graph_stages(const mlg_compile_options *options, mlg_stage last, int target,
                            mlg_weights_file *weights_file, mlg_diag *diag, mlg_pipeline *out);

static int check_options(const mlg_compile_options *options, mlg_diag *diag) {
  int target = options->target ? options->target : MLGB_TARGET_OPENCL;
  if (options->precision != MLG_PRECISION_F32 && options->precision != MLG_PRECISION_F16) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "unknown precision %d (expected f32 or f16)", options->precision);
    return -1;
  }
  if (target != MLGB_TARGET_OPENCL && target != MLGB_TARGET_VULKAN) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "unknown target %d (expected opencl or vulkan)", target);
    return -1;
  }
  /* GLSL kernels access vectors at tensor offsets they take to be multiples of 16 bytes. */
  if (options->alignment && (options->alignment < 16 || (options->alignment & (options->alignment - 1)))) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "tensor alignment %lld must be a power of two of at least 16 bytes",
                   (long long)options->alignment);
    return -1;
  }
  return target;
}

/* The stages of mlg_pipeline_run; `weights_file` is read at most once across them. */
static int run_stages(const mlg_source *source, const mlg_compile_options *options,
                      mlg_stage last, mlg_weights_file *weights_file, mlg_diag *diag,
                      mlg_pipeline *out) {
  int target = check_options(options, diag);
  if (target < 0) return -1;

  out->ast = mlg_parse(source, diag);
  if (!out->ast) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while parsing");
    return -1;
  }
  if (diag->n_errors) return -1;
  if (last == MLG_STAGE_AST) return 0;

  mlg_check_options check = {.n_dims = options->n_dims, .dims = options->dims};
  out->graph = mlg_check(out->ast, &check, diag);
  if (!out->graph) return -1;
  return run_graph_stages(options, last, target, weights_file, diag, out);
}

/* The stages after the graph (out->graph), whichever front end built it. */
static int run_graph_stages(const mlg_compile_options *options, mlg_stage last, int target,
                            mlg_weights_file *weights_file, mlg_diag *diag, mlg_pipeline *out) {
  if (last <= MLG_STAGE_GRAPH) return 0;
  if (!options->no_weights && mlg_weights_check_names(out->graph, weights_file, diag) != 0) return -1;
  uint64_t budget = options->max_weight_bytes ? options->max_weight_bytes : MLG_DEFAULT_MAX_WEIGHT_BYTES;
  if (mlg_weights_check_budget(out->graph, !options->no_weights, budget, diag) != 0) return -1;
  out->optimized = optimize(out->graph, options, weights_file, diag, out);
  if (!out->optimized) return -1;
  const mlg_graph *g = out->optimized;
  if (mlg_precision_storage(g, (mlg_precision)options->precision, diag, &out->stored) != 0) return -1;

  /* -O0 prepares nothing (plan.h): lowering then adds no weight-only launch for speed. */
  const int no_prepare = options->opt_level == 0;
  mlg_lower_hints hints = {.target = target, .device_class = options->device_class,
                           .local_mem_bytes = options->local_mem_bytes,
                           .subgroups = options->subgroups,
                           .gemm_tuning = options->gemm_tuning, .mma_config = options->mma_config,
                           .stored = out->stored, .no_winograd = options->no_winograd,
                           .no_prepare = no_prepare};
  /* At -O0 every op is its own group, and lowering takes no fusion at all. */
  int fuse_flags = options->opt_level > 0 ? MLG_FUSE_ON : 0;
  if (options->device_class == 1) /* CPU: see fuse.h */
    fuse_flags |= MLG_FUSE_NO_LN_PROLOGUE | MLG_FUSE_CHEAP_EPILOGUES;
  if (options->device_class == 2) /* GPU: see fuse.h */
    fuse_flags |= MLG_FUSE_NO_LN_PROLOGUE;
  out->fusion = mlg_fuse(g, fuse_flags);
  if (!out->fusion) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while fusing");
    return -1;
  }
  out->lowered = mlg_lower_fused_ex(g, options->opt_level > 0 ? out->fusion : NULL, &hints, diag);
  if (!out->lowered) return -1;
  out->code = calloc(1, sizeof(*out->code));
  if (!out->code) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while generating code");
    return -1;
  }
  if (mlg_code_emit(out->lowered, target, diag, out->code) != 0) return -1;
  if (last == MLG_STAGE_KERNELS) return 0;

  mlg_plan_options plan_options = {.alignment = options->alignment,
                                   .no_sharing = options->no_memory_reuse,
                                   .no_prepare = no_prepare};
  out->plan = mlg_plan_build(g, out->lowered, &plan_options);
  if (!out->plan) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while planning memory");
    return -1;
  }
  char err[512];
  if (mlg_plan_validate(out->plan, err, sizeof(err)) != 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: invalid memory plan: %s", err);
    return -1;
  }
  if (last == MLG_STAGE_PLAN) return 0;

  /* Again after the passes, which may fold weights into new consts. */
  if (mlg_weights_check_budget(g, !options->no_weights, budget, diag) != 0) return -1;
  mlg_emit_input emit = {
      .graph = g, .lowered = out->lowered, .plan = out->plan, .target = target,
      .code = out->code, .has_params = !options->no_weights,
  };
  if (mlg_weights_build(g, out->plan, out->lowered->stored, weights_file, !options->no_weights, diag, emit.images) != 0)
    return -1;
  int rc = mlg_bundle_emit(&emit, diag, &out->bundle, &out->bundle_size);
  mlg_weights_images_free(emit.images);
  return rc;
}

int mlg_pipeline_source_load(mlg_source *out_source, const char *path, char *err, size_t err_size) {
  if (mlg_onnx_is_model_path(path)) {
    if (mlg_source_from_memory(out_source, path, "", 0) == 0) return 0;
    return mlg_errorf(err, err_size, "out of memory");
  }
  return mlg_source_read(out_source, path, err, err_size);
}

/* The ONNX front end, then the same stages. */
static int run_onnx(const mlg_source *source, const mlg_compile_options *options, mlg_stage last,
                    mlg_diag *diag, mlg_pipeline *out) {
  if (last == MLG_STAGE_AST) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "an ONNX model has no AST: it is imported straight into a "
                   "graph (print it with --emit=mlg or --emit=graph)");
    return -1;
  }
  mlg_onnx_options io = {.n_dims = options->n_dims, .dims = options->dims,
                         .max_weight_bytes = options->max_weight_bytes};
  mlg_graph *graph = NULL;
  if (mlg_onnx_import_file(source->path, &io, diag, &graph) != 0) return -1;
  return mlg_pipeline_run_graph(graph, options, last, diag, out);
}

int mlg_pipeline_run(const mlg_source *source, const mlg_compile_options *options, mlg_stage last,
                     mlg_diag *diag, mlg_pipeline *out) {
  static const mlg_compile_options defaults = {0};
  if (!options) options = &defaults;
  memset(out, 0, sizeof(*out));
  /* mlg_pipeline_source_load's stand-in for an ONNX file: no text, a path ending in .onnx. */
  if (source && source->length == 0 && mlg_onnx_is_model_path(source->path))
    return run_onnx(source, options, last, diag, out);
  mlg_weights_file weights_file;
  mlg_weights_file_init(&weights_file, options->weights_path);
  int rc = run_stages(source, options, last, &weights_file, diag, out);
  mlg_weights_file_close(&weights_file);
  return rc;
}

int mlg_pipeline_run_graph(mlg_graph *graph, const mlg_compile_options *options, mlg_stage last,
                           mlg_diag *diag, mlg_pipeline *out) {
  static const mlg_compile_options defaults = {0};
  if (!options) options = &defaults;
  memset(out, 0, sizeof(*out));
  out->graph = graph;
  int target = check_options(options, diag);
  if (target < 0) return -1;
  mlg_weights_file weights_file;
  mlg_weights_file_init(&weights_file, options->weights_path);
  int rc = run_graph_stages(options, last, target, &weights_file, diag, out);
  mlg_weights_file_close(&weights_file);
  return rc;
}

void mlg_pipeline_free(mlg_pipeline *p) {
  if (p->ast) mlg_ast_free(p->ast);
  if (p->graph) mlg_graph_free(p->graph);
  if (p->optimized) mlg_graph_free(p->optimized);
  if (p->quant_plan) mlg_quant_plan_free(p->quant_plan);
  free(p->quant_plan);
  free(p->stored);
  if (p->fusion) mlg_fusion_free(p->fusion);
  if (p->lowered) mlg_lowered_free(p->lowered);
  if (p->plan) mlg_plan_free(p->plan);
  if (p->code) mlg_code_free(p->code);
  free(p->code);
  free(p->bundle);
  memset(p, 0, sizeof(*p));
}

int mlg_compile(const mlg_source *source, const mlg_compile_options *options, mlg_diag *diag,
                uint8_t **out_data, size_t *out_size) {
  mlg_pipeline p;
  *out_data = NULL;
  *out_size = 0;
  int rc = mlg_pipeline_run(source, options, MLG_STAGE_BUNDLE, diag, &p);
  if (rc == 0) {
    *out_data = p.bundle;
    *out_size = p.bundle_size;
    p.bundle = NULL;
  }
  mlg_pipeline_free(&p);
  return rc;
}

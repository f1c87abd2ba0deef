/* compile.h — the whole compiler as one call: source text to bundle bytes. Used by mlgc and by
 * mlgrun (which compiles .mlg files in memory). Each stage is also reachable on its own
 * (parse.h, check.h, lower.h, plan.h, bundle_emit.h) for --emit dumps and tests.
 * Thread safety: reentrant. */
#ifndef MLG_COMPILE_H
#define MLG_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "checker.h"
#include "diag.h"

typedef struct mlg_compile_options {
  int target;                     /* mlgb_target; 0 → OpenCL */
  int n_dims;                     /* -D NAME=VALUE */
  const mlg_dim_binding *dims;
  const char *weights_path;       /* .safetensors, or NULL: initializers */
  int no_weights;                 /* leave weights out of the bundle (bound at load) */
  int opt_level;                  /* 0: no passes; 2: default */
  int64_t alignment;              /* bytes, a power of two ≥ 16; 0 → 256 */
  int no_memory_reuse;            /* debug: every intermediate gets its own arena bytes */
  /* CPU hint: 3×3 convolutions keep the implicit GEMM instead of Winograd's F(m×m, 3×3),
   * whose transformed weights take (m + 2)²/9 times the weight's bytes (mlgc --no-winograd). */
  int no_winograd;
  /* Device hint for kernel tiling (kt_device_class: 0 unknown → portable tiles, 1 CPU → vector
   * register blocks without local memory, 2 GPU → large local-memory tiles), and the device's
   * local memory per work-group in bytes (0 → 48 KiB). mlgrun fills both from the device it
   * runs on; mlgc --device-hint=cpu|gpu sets the class. */
  int device_class;
  int64_t local_mem_bytes;
  /* Vulkan only (ignored for OpenCL): 1 lets reductions combine through subgroup operations
   * (GL_KHR_shader_subgroup_arithmetic); the bundle then requires them of the device (see
   * docs/bundle.md). mlgc turns it on for --target vulkan unless --subgroups=off; mlgrun from
   * the device it runs on. */
  int subgroups;
  /* Tiles of the tiled GEMM kernel per shape class, measured on the device (gemm_tuning.h;
   * mlgrun's tuner, mlgc --tuning FILE). NULL: the built-in choice for device_class. */
  const struct mlg_gemm_tuning *gemm_tuning;
  /* The tensor-core GEMM's configuration forced for every f16 GEMM that gets that variant
   * (kt_matmul_mma_config: 1..KT_MMA_N_CONFIGS; mlgc --mma-config N), over the tuning table's
   * choice; 0: the table's, else the built-in one. For measuring configurations. */
  int mma_config;
  /* The most bytes of weights the compiler reads or generates into the bundle (consts, and the
   * params unless no_weights); a model over it is an error naming the budget and its largest
   * tensor. 0 → MLG_DEFAULT_MAX_WEIGHT_BYTES (4 GiB, weights.h). */
  uint64_t max_weight_bytes;
  /* Post-training quantization after the passes (quantize.h: the observing graph for
   * calibration, or the int8 graph from measured ranges); NULL: none. */
  const struct mlg_quant_options *quant;
  /* mlg_precision (precision.h): 0 (f32) stores every value as its dtype; MLG_PRECISION_F16
   * stores f32 weights and intermediates as f16 and computes in f32 (mlgc --precision=f16). */
  int precision;
} mlg_compile_options;

/* The stages, in order; a pipeline can stop after any of them (mlgc --emit=STAGE). */
typedef enum mlg_stage {
  MLG_STAGE_AST, MLG_STAGE_GRAPH, MLG_STAGE_KERNELS, MLG_STAGE_PLAN, MLG_STAGE_BUNDLE
} mlg_stage;

/* What each stage produced; later fields are NULL when the pipeline stopped earlier. */
typedef struct mlg_pipeline {
  struct mlg_ast *ast;
  struct mlg_graph *graph;         /* as checked (--emit=graph) */
  struct mlg_graph *optimized;     /* after the passes of opt_level (and quantization, with
                                      options->quant); what later stages read */
  struct mlg_quant_plan *quant_plan; /* with options->quant: the layers, quantized or skipped,
                                      and the values observed (ids of the f32 optimized graph,
                                      which is not kept) */
  mlg_ir_dtype *stored;            /* per node of `optimized`: the dtype it is stored as
                                      (precision.h) */
  struct mlg_fusion *fusion;       /* kernels as groups of ops (--emit=fused) */
  struct mlg_lowered *lowered;
  struct mlg_plan *plan;
  struct mlg_code *code;          /* generated modules, and their text for --emit=kernels */
  uint8_t *bundle;                /* serialized .mlgb */
  size_t bundle_size;
} mlg_pipeline;

/* Loads the source for `path` as the pipeline reads it: mlg text (mlg_source_read), or, for an
 * ONNX model (a path ending in .onnx), an empty source that names the file, which
 * mlg_pipeline_run and mlg_compile hand to the ONNX front end (compiler/onnx/, which reads the
 * file itself; docs/onnx.md). Returns 0, or -1 with errno set and a message in err
 * ("cannot read 'PATH': ..."). */
int  mlg_pipeline_source_load(mlg_source *out_source, const char *path, char *err, size_t err_size);

/* Runs the stages up to and including `last`. The front end is the checker for mlg text, the
 * ONNX importer for the source mlg_pipeline_source_load makes for a .onnx file (no text, named
 * *.onnx; MLG_STAGE_AST is then an error). Returns 0, or -1 when a stage failed (reported to diag); whatever was produced is in *out either way and freed by mlg_pipeline_free. */
int  mlg_pipeline_run(const mlg_source *source, const mlg_compile_options *options, mlg_stage last,
                      mlg_diag *diag, mlg_pipeline *out);
/* The same stages from the graph on, for a graph another front end built (compiler/onnx/):
 * takes ownership of `graph` (out->graph, freed by mlg_pipeline_free in every case); `last` at
 * MLG_STAGE_AST or MLG_STAGE_GRAPH stops at once. */
int  mlg_pipeline_run_graph(struct mlg_graph *graph, const mlg_compile_options *options,
                            mlg_stage last, mlg_diag *diag, mlg_pipeline *out);
void mlg_pipeline_free(mlg_pipeline *pipeline);

/* Compiles `source` into bundle bytes (caller frees *out_data with free). Diagnostics go to
 * diag. Returns 0, or -1 when anything failed (diag->n_errors > 0). */
int mlg_compile(const mlg_source *source, const mlg_compile_options *options, mlg_diag *diag,
                uint8_t **out_data, size_t *out_size);

#endif

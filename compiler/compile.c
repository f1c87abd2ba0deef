#include "compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/bundle.h"
#include "ast.h"
#include "bundle_emit.h"
#include "graph.h"
#include "kir.h"
#include "lower.h"
#include "optimize.h"
#include "parse.h"
#include "plan.h"
#include "weights.h"

static int print_code(const mlg_lowered *lw, mlg_diag *diag, char **out_code, size_t *out_size) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while printing kernels");
    return -1;
  }
  int rc = kir_print_opencl(lw->module, f);
  if (fclose(f) != 0 || rc != 0) {
    free(buf);
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while printing kernels");
    return -1;
  }
  *out_code = buf;
  *out_size = size;
  return 0;
}

int mlg_pipeline_run(const mlg_source *source, const mlg_compile_options *options, mlg_stage last,
                     mlg_diag *diag, mlg_pipeline *out) {
  static const mlg_compile_options defaults = {0};
  if (!options) options = &defaults;
  memset(out, 0, sizeof(*out));
  int target = options->target ? options->target : MLGB_TARGET_OPENCL;
  if (target != MLGB_TARGET_OPENCL) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "target %d is not supported by this mlgc (use opencl)", target);
    return -1;
  }

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
  if (last == MLG_STAGE_GRAPH) return 0;

  out->optimized = mlg_optimize(out->graph, options->opt_level, diag);
  if (!out->optimized) return -1;
  const mlg_graph *g = out->optimized;

  out->lowered = mlg_lower(g, diag);
  if (!out->lowered) return -1;
  if (print_code(out->lowered, diag, &out->code, &out->code_size) != 0) return -1;
  if (last == MLG_STAGE_KERNELS) return 0;

  mlg_plan_options plan_options = {.alignment = options->alignment};
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

  uint8_t *weights = NULL;
  if (!options->no_weights &&
      mlg_weights_build(g, out->plan, options->weights_path, diag, &weights) != 0)
    return -1;
  mlg_emit_input emit = {
      .graph = g, .lowered = out->lowered, .plan = out->plan, .target = target,
      .code = out->code, .code_size = out->code_size, .weights = weights,
  };
  int rc = mlg_bundle_emit(&emit, diag, &out->bundle, &out->bundle_size);
  free(weights);
  return rc;
}

void mlg_pipeline_free(mlg_pipeline *p) {
  if (p->ast) mlg_ast_free(p->ast);
  if (p->graph) mlg_graph_free(p->graph);
  if (p->optimized) mlg_graph_free(p->optimized);
  if (p->lowered) mlg_lowered_free(p->lowered);
  if (p->plan) mlg_plan_free(p->plan);
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

/* bundle_emit.h — assembles the .mlgb bundle from the compiler's stages: the tensor table
 * (graph + plan), the kernels and dispatch list (lowering), the generated code, the weights.
 * Reads those structures; writes only the bundle. Thread safety: reentrant. */
#ifndef MLG_BUNDLE_EMIT_H
#define MLG_BUNDLE_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "graph.h"
#include "lower.h"
#include "plan.h"

typedef struct mlg_emit_input {
  const mlg_graph *graph;
  const mlg_lowered *lowered;
  const mlg_plan *plan;
  int target;                 /* mlgb_target */
  const struct mlg_code *code; /* the generated modules (emit_code.h) */
  const uint8_t *weights;     /* plan->region_size[WEIGHTS] bytes: consts, and params when
                                 has_params */
  int has_params;             /* 0: --no-weights, params are bound at load */
} mlg_emit_input;

/* Serializes the bundle. Returns 0, or -1 after reporting to diag. */
int mlg_bundle_emit(const mlg_emit_input *in, mlg_diag *diag, uint8_t **out_data, size_t *out_size);

#endif

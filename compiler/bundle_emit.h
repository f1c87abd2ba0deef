/* bundle_emit.h — assembles the .mlgb bundle from the compiler's stages: the tensor table
 * (graph + plan), the kernels and dispatch list (lowering, each dispatch with the programs it
 * belongs to), the generated code, the weights, and a train step's loss and optimizer.
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
  uint8_t *images[5];         /* per mlgb_region: the weights and params regions' images
                                 (weights.h: consts, and params when has_params); else NULL */
  int has_params;             /* 0: --no-weights, params are bound at load */
} mlg_emit_input;

/* Serializes the bundle. Returns 0, or -1 after reporting to diag. */
int mlg_bundle_emit(const mlg_emit_input *in, mlg_diag *diag, uint8_t **out_data, size_t *out_size);

#endif

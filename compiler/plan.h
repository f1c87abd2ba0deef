/* plan.h — static memory plan: every tensor gets a region (weights, io, arena; with a train
 * step also params and state) and a byte offset in it, decided from the launch schedule before
 * anything runs.
 * Thread safety: reentrant. */
#ifndef MLG_PLAN_H
#define MLG_PLAN_H

#include <stdio.h>

#include "graph.h"
#include "lower.h"

typedef struct mlg_placement {
  int region;             /* mlgb_region */
  int64_t offset;         /* bytes, multiple of the plan's alignment */
  int64_t size;           /* bytes */
  int shares_with;        /* in-place: the arena tensor whose bytes this one takes over at its
                             first launch (that tensor's last), or -1 */
  int view_of;            /* a view (reshape, flatten, squeeze, unsqueeze): the tensor that owns
                             its bytes, never another view; the view's placement is a copy of
                             that tensor's. -1 for a tensor that owns its bytes */
  int first_use, last_use;/* launch indices; -1 when no launch touches it (an arena tensor
                             fused away: it has no storage and is left out of the bundle).
                             A prepared tensor: the whole schedule, 0 .. n_launches - 1 */
  int prepared;           /* written by a prepare launch (below) */
} mlg_placement;

typedef struct mlg_plan {
  int n_tensors;
  mlg_placement *tensors; /* indexed by tensor id (mlg_lowered) */
  int64_t region_size[5]; /* mlgb_region: weights, io, arena, params, state */
  int64_t alignment;
  int64_t lower_bound;    /* arena: largest sum of simultaneously live bytes */
  int64_t naive_bytes;    /* arena: sum of all intermediate sizes */
  int n_launches;
  char *prepare;          /* per launch: 1 when it computes from the weights alone (a weight's
                             transpose or packed layout): it runs once, when a session starts
                             (bundle.h MLGB_PROGRAM_PREPARE), and what it writes keeps its arena
                             bytes for the whole schedule. All 0 with no_prepare */
} mlg_plan;

typedef struct mlg_plan_options {
  int64_t alignment;      /* bytes; 0 → 256 */
  int no_sharing;         /* debug: every intermediate gets its own bytes (and no in-place) */
  int no_prepare;         /* every launch runs on every run (-O0) */
} mlg_plan_options;

/* Returns NULL on allocation failure. */
mlg_plan *mlg_plan_build(const mlg_graph *graph, const mlg_lowered *lowered, const mlg_plan_options *options);
void      mlg_plan_free(mlg_plan *plan);
/* Proves the plan sound: every view is placed exactly as the tensor it views, and no two arena
 * tensors that own bytes overlap while both are live, except where one takes the other's bytes
 * over in place (at the launch where the first dies and the second is written). 0 if valid,
 * else -1 with a message in err naming the tensors. */
int       mlg_plan_validate(const mlg_plan *plan, char *err, size_t err_size);
/* --emit=plan */
void      mlg_plan_print(const mlg_plan *plan, const mlg_graph *graph, const mlg_lowered *lowered, FILE *out);

#endif

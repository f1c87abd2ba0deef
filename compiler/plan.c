/* plan.c — static memory planning over the launch schedule.
 *
 * Weights (params, consts), I/O (inputs, outputs), the params a train step updates and the
 * optimizer's state are laid out one after another in their regions (a train step's new value
 * of a leaf is a view of it: lowering aliases it there). Intermediates share the arena: each gets a live interval [first, last] of launch
 * indices; offsets come from a best-fit placement that considers every gap between blocks
 * already placed and live at the same time, including the gap before the first one. Two
 * orders are tried (largest first; longest-lived first) and the smaller arena wins. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "../runtime/bundle.h"
#include "../codegen/kir.h"

static int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

/* Follows alias links to the tensor that owns the bytes. */
static int alias_root(const mlg_lowered *lw, int t) {
  for (int guard = 0; guard < lw->n_tensors && lw->alias_of[t] >= 0; guard++) t = lw->alias_of[t];
  return t;
}

/* A graph node's bytes as lowering stores it (lower.h mlg_lowered_stored, precision.h). */
static int64_t tensor_bytes(const mlg_graph *g, const mlg_lowered *lw, int t) {
  if (t < g->n_nodes) {
    mlg_type stored = g->nodes[t].type;
    stored.dtype = mlg_lowered_stored(g, lw, t);
    return mlg_type_bytes(&stored);
  }
  return lw->temp_bytes[t - g->n_nodes];
}

/* Marks the prepare launches (plan.h) and the tensors they write (owners of bytes). A launch
 * qualifies when each buffer it only reads is a weight or a prepared tensor, it reads at least
 * one, and each buffer it writes is an intermediate (an op's value or a temporary, never an
 * output) that no other launch writes — so a zeroed accumulator, or a tensor that a later launch
 * updates, stays in the run. Launches come in order, so what a launch reads is decided first.
 * Returns 0, or -1 on allocation failure. */
static int find_prepare(const mlg_graph *g, const mlg_lowered *lw, const char *is_output,
                        mlg_plan *plan) {
  int *writers = calloc((size_t)(lw->n_tensors ? lw->n_tensors : 1), sizeof(int));
  if (!writers) return -1;
  for (int l = 0; l < lw->n_launches; l++) {
    const mlg_launch *la = &lw->launches[l];
    for (int a = 0; a < la->n_args; a++)
      if (la->kernel->buffers[a].access & KIR_WRITE) writers[alias_root(lw, la->args[a])]++;
  }
  for (int l = 0; l < lw->n_launches; l++) {
    const mlg_launch *la = &lw->launches[l];
    int reads = 0, ok = 1;
    for (int a = 0; a < la->n_args && ok; a++) {
      int t = alias_root(lw, la->args[a]);
      if (la->kernel->buffers[a].access & KIR_WRITE) {
        ok = (t >= g->n_nodes || g->nodes[t].kind == MLG_NODE_OP) && !is_output[t] && writers[t] == 1;
      } else {
        ok = mlg_graph_is_weight(g, t) || plan->tensors[t].prepared;
        reads++;
      }
    }
    if (!ok || !reads) continue;
    plan->prepare[l] = 1;
    for (int a = 0; a < la->n_args; a++)
      if (la->kernel->buffers[a].access & KIR_WRITE) plan->tensors[alias_root(lw, la->args[a])].prepared = 1;
  }
  free(writers);
  return 0;
}

typedef struct block {
  int tensor;
  int64_t size;      /* aligned */
  int first, last;
  int64_t offset;
} block;

static int cmp_by_size(const void *pa, const void *pb) {
  const block *a = pa, *b = pb;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return a->tensor - b->tensor;
}

static int cmp_by_lifetime(const void *pa, const void *pb) {
  const block *a = pa, *b = pb;
  int la = a->last - a->first, lb = b->last - b->first;
  if (la != lb) return la > lb ? -1 : 1;
  return cmp_by_size(pa, pb);
}

static int cmp_by_offset(const void *pa, const void *pb) {
  const block *const *a = pa, *const *b = pb;
  if ((*a)->offset != (*b)->offset) return (*a)->offset < (*b)->offset ? -1 : 1;
  return 0;
}

/* Places blocks in the given order; returns the arena size, or -1 on allocation failure.
 * `placed` is scratch of n pointers. */
static int64_t place_best_fit(block *blocks, int n, const block **placed) {
  int64_t arena = 0;
  for (int i = 0; i < n; i++) {
    block *b = &blocks[i];
    int n_live = 0;
    for (int j = 0; j < i; j++)
      if (blocks[j].first <= b->last && b->first <= blocks[j].last) placed[n_live++] = &blocks[j];
    qsort(placed, (size_t)n_live, sizeof(*placed), cmp_by_offset);
    /* Best fit: the smallest gap that holds the block; otherwise after the last block. */
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (int j = 0; j < n_live; j++) {
      int64_t gap = placed[j]->offset - cursor;
      if (gap >= b->size && gap < best_gap) { best = cursor; best_gap = gap; }
      int64_t end = placed[j]->offset + placed[j]->size;
      if (end > cursor) cursor = end;
    }
    b->offset = best >= 0 ? best : cursor;
    if (b->offset + b->size > arena) arena = b->offset + b->size;
  }
  return arena;
}

/* Largest sum of sizes live at one launch. */
static int64_t max_live(const block *blocks, int n, int n_launches) {
  int64_t best = 0;
  for (int t = 0; t < n_launches; t++) {
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
      if (blocks[i].first <= t && t <= blocks[i].last) sum += blocks[i].size;
    if (sum > best) best = sum;
  }
  return best;
}

mlg_plan *mlg_plan_build(const mlg_graph *g, const mlg_lowered *lw, const mlg_plan_options *options) {
  int64_t alignment = options && options->alignment > 0 ? options->alignment : 256;
  int no_sharing = options && options->no_sharing;
  mlg_plan *plan = calloc(1, sizeof(*plan));
  int n = lw->n_tensors;
  if (!plan) return NULL;
  plan->n_tensors = n;
  plan->n_launches = lw->n_launches;
  plan->alignment = alignment;
  plan->tensors = calloc((size_t)(n ? n : 1), sizeof(*plan->tensors));
  plan->prepare = calloc((size_t)(lw->n_launches ? lw->n_launches : 1), 1);
  char *is_output = calloc((size_t)(n ? n : 1), 1);
  block *blocks = calloc((size_t)(n ? n : 1), sizeof(*blocks));
  const block **scratch = calloc((size_t)(n ? n : 1), sizeof(*scratch));
  block *order2 = calloc((size_t)(n ? n : 1), sizeof(*order2));
  /* owner[t]: the tensor whose block t's bytes live in (t itself, or the start of its in-place
   * chain); block_last[owner]: the last launch any tensor of that chain is used by. */
  int *owner = malloc(sizeof(int) * (size_t)(n ? n : 1));
  int *block_last = malloc(sizeof(int) * (size_t)(n ? n : 1));
  if (!plan->tensors || !plan->prepare || !is_output || !blocks || !scratch || !order2 || !owner ||
      !block_last)
    goto fail;

  for (int i = 0; i < lw->n_outputs; i++) is_output[lw->output_tensor[i]] = 1;
  for (int t = 0; t < n; t++) {
    mlg_placement *p = &plan->tensors[t];
    p->size = tensor_bytes(g, lw, t);
    p->first_use = p->last_use = -1;
    p->view_of = -1;
  }
  /* Liveness, charged to the tensor that owns the bytes. */
  for (int l = 0; l < lw->n_launches; l++) {
    const mlg_launch *la = &lw->launches[l];
    for (int a = 0; a < la->n_args; a++) {
      mlg_placement *p = &plan->tensors[alias_root(lw, la->args[a])];
      if (p->first_use < 0) p->first_use = l;
      p->last_use = l;
    }
  }
  /* Prepared tensors are written once, when a session starts, and read by every run after. */
  if (!(options && options->no_prepare) && find_prepare(g, lw, is_output, plan) != 0) goto fail;
  for (int t = 0; t < n; t++)
    if (plan->tensors[t].prepared) {
      plan->tensors[t].first_use = 0;
      plan->tensors[t].last_use = lw->n_launches - 1;
    }
  /* In-place: an elementwise launch whose input dies there hands that input's bytes to its
   * output. The output then joins the input's block (extending its lifetime) instead of
   * getting one of its own; chains of such launches share one block. */
  for (int t = 0; t < n; t++) {
    plan->tensors[t].shares_with = -1;
    owner[t] = t;
    block_last[t] = plan->tensors[t].last_use;
  }
  if (!no_sharing)
    for (int l = 0; l < lw->n_launches; l++) {
      const mlg_launch *la = &lw->launches[l];
      if (la->inplace_arg < 0 || la->inplace_arg >= la->n_args - 1) continue;
      int in = alias_root(lw, la->args[la->inplace_arg]), o = alias_root(lw, la->args[la->n_args - 1]);
      mlg_placement *pi = &plan->tensors[in], *po = &plan->tensors[o];
      if (in == o || pi->prepared || po->prepared || in >= g->n_nodes || o >= g->n_nodes ||
          g->nodes[in].kind != MLG_NODE_OP ||
          g->nodes[o].kind != MLG_NODE_OP || is_output[in] || is_output[o] ||
          pi->last_use != l || po->first_use != l || pi->size != po->size)
        continue;
      po->shares_with = in;
      /* Launches run in order, so `in`'s chain is already resolved. */
      owner[o] = owner[in];
      if (po->last_use > block_last[owner[o]]) block_last[owner[o]] = po->last_use;
    }

  /* Regions: roots only; aliases copy their root's placement afterwards. */
  int n_blocks = 0;
  for (int t = 0; t < n; t++) {
    if (lw->alias_of[t] >= 0) continue;
    mlg_placement *p = &plan->tensors[t];
    mlg_node_kind kind = t < g->n_nodes ? g->nodes[t].kind : MLG_NODE_OP;
    if (kind == MLG_NODE_PARAM && mlg_graph_update_of(g, t) >= 0) {
      p->region = MLGB_REGION_PARAMS;
    } else if (kind == MLG_NODE_STATE) {
      p->region = MLGB_REGION_STATE;
    } else if (kind == MLG_NODE_PARAM || kind == MLG_NODE_CONST) {
      p->region = MLGB_REGION_WEIGHTS;
    } else if (kind == MLG_NODE_INPUT || is_output[t]) {
      p->region = MLGB_REGION_IO;
    } else {
      p->region = MLGB_REGION_ARENA;
      if (p->first_use < 0 || p->shares_with >= 0) continue; /* no bytes, or another's */
      block *b = &blocks[n_blocks++];
      b->tensor = t;
      b->size = align_up(p->size, alignment);
      b->first = p->first_use;
      b->last = block_last[t]; /* until the last tensor that took its bytes over dies */
      plan->naive_bytes += b->size;
      continue;
    }
    p->offset = plan->region_size[p->region];
    plan->region_size[p->region] = align_up(p->offset + p->size, alignment);
  }

  plan->lower_bound = max_live(blocks, n_blocks, lw->n_launches);
  if (no_sharing) {
    int64_t cursor = 0;
    for (int i = 0; i < n_blocks; i++) { blocks[i].offset = cursor; cursor += blocks[i].size; }
    plan->region_size[MLGB_REGION_ARENA] = cursor;
  } else {
    memcpy(order2, blocks, sizeof(*blocks) * (size_t)n_blocks);
    qsort(blocks, (size_t)n_blocks, sizeof(*blocks), cmp_by_size);
    qsort(order2, (size_t)n_blocks, sizeof(*order2), cmp_by_lifetime);
    int64_t a1 = place_best_fit(blocks, n_blocks, scratch);
    int64_t a2 = place_best_fit(order2, n_blocks, scratch);
    if (a2 < a1) { memcpy(blocks, order2, sizeof(*blocks) * (size_t)n_blocks); a1 = a2; }
    plan->region_size[MLGB_REGION_ARENA] = a1;
  }
  for (int i = 0; i < n_blocks; i++) plan->tensors[blocks[i].tensor].offset = blocks[i].offset;
  for (int t = 0; t < n; t++)
    if (owner[t] != t) plan->tensors[t].offset = plan->tensors[owner[t]].offset;
  for (int t = 0; t < n; t++) {
    if (lw->alias_of[t] < 0) continue;
    const mlg_placement *r = &plan->tensors[alias_root(lw, t)];
    mlg_placement *p = &plan->tensors[t];
    p->view_of = alias_root(lw, t);
    p->region = r->region;
    p->offset = r->offset;
    p->first_use = r->first_use;
    p->last_use = r->last_use;
  }
  free(is_output);
  free(blocks);
  free(scratch);
  free(order2);
  free(owner);
  free(block_last);
  return plan;
fail:
  free(is_output);
  free(blocks);
  free(scratch);
  free(order2);
  free(owner);
  free(block_last);
  mlg_plan_free(plan);
  return NULL;
}

void mlg_plan_free(mlg_plan *plan) {
  if (!plan) return;
  free(plan->tensors);
  free(plan->prepare);
  free(plan);
}

/* A view must sit exactly where the tensor it views sits, for exactly as long. */
static int validate_view(const mlg_plan *plan, int t, char *err, size_t err_size) {
  const mlg_placement *v = &plan->tensors[t];
  int root = v->view_of;
  const mlg_placement *r = root >= 0 && root < plan->n_tensors ? &plan->tensors[root] : NULL;
  if (!r || root == t || r->view_of >= 0) {
    snprintf(err, err_size, "tensor %d is a view of %d, which is no tensor that owns bytes", t, root);
    return -1;
  }
  if (v->region != r->region || v->offset != r->offset || v->size > r->size ||
      v->first_use != r->first_use || v->last_use != r->last_use) {
    snprintf(err, err_size,
             "view %d [%d, %d] @%lld+%lld is not placed as its tensor %d [%d, %d] @%lld+%lld", t,
             v->first_use, v->last_use, (long long)v->offset, (long long)v->size, root,
             r->first_use, r->last_use, (long long)r->offset, (long long)r->size);
    return -1;
  }
  return 0;
}

int mlg_plan_validate(const mlg_plan *plan, char *err, size_t err_size) {
  for (int a = 0; a < plan->n_tensors; a++) {
    const mlg_placement *pa = &plan->tensors[a];
    if (pa->view_of >= 0) {
      if (validate_view(plan, a, err, err_size) != 0) return -1;
      continue; /* its bytes are its root's, checked below */
    }
    if (pa->region == MLGB_REGION_ARENA && pa->first_use < 0) continue; /* no storage */
    if (pa->region < 0 || pa->region >= MLGB_N_REGIONS || pa->offset % plan->alignment ||
        pa->offset < 0 || pa->offset + pa->size > plan->region_size[pa->region]) {
      snprintf(err, err_size, "tensor %d placed outside its region or misaligned", a);
      return -1;
    }
    if (pa->region != MLGB_REGION_ARENA) continue;
    for (int b = a + 1; b < plan->n_tensors; b++) {
      const mlg_placement *pb = &plan->tensors[b];
      if (pb->view_of >= 0 || pb->region != MLGB_REGION_ARENA || pb->first_use < 0) continue;
      int live_together = pa->first_use <= pb->last_use && pb->first_use <= pa->last_use;
      int overlap = pa->offset < pb->offset + pb->size && pb->offset < pa->offset + pa->size;
      /* In-place: b takes over a's bytes at b's first launch, where a is last read. */
      int in_place = pa->offset == pb->offset && pa->size == pb->size &&
                     ((pb->shares_with == a && pb->first_use == pa->last_use) ||
                      (pa->shares_with == b && pa->first_use == pb->last_use));
      if (live_together && overlap && !in_place) {
        snprintf(err, err_size,
                 "tensors %d [%d, %d] @%lld+%lld and %d [%d, %d] @%lld+%lld overlap while both live",
                 a, pa->first_use, pa->last_use, (long long)pa->offset, (long long)pa->size, b,
                 pb->first_use, pb->last_use, (long long)pb->offset, (long long)pb->size);
        return -1;
      }
    }
  }
  return 0;
}

static const char *region_name(int r) {
  static const char *names[] = {"weights", "io", "arena", "params", "state"};
  return r >= 0 && r < MLGB_N_REGIONS ? names[r] : "?";
}

void mlg_plan_print(const mlg_plan *plan, const mlg_graph *g, const mlg_lowered *lw, FILE *out) {
  int n_prepare = 0;
  for (int l = 0; l < plan->n_launches; l++) n_prepare += plan->prepare[l];
  fprintf(out, "plan %s: %d launches, alignment %lld\n", g->model_name ? g->model_name : "?",
          lw->n_launches, (long long)plan->alignment);
  if (n_prepare)
    fprintf(out, "launches prepared once, when a session starts: %d (what they write lives throughout)\n",
            n_prepare);
  for (int r = 0; r < MLGB_N_REGIONS; r++) {
    /* The train step's regions only where there is one. */
    if (r >= MLGB_REGION_PARAMS && !g->optimizer) continue;
    fprintf(out, "region %s: %lld bytes\n", region_name(r), (long long)plan->region_size[r]);
    for (int t = 0; t < plan->n_tensors; t++) {
      const mlg_placement *p = &plan->tensors[t];
      if (p->region != r || (r == MLGB_REGION_ARENA && p->first_use < 0)) continue;
      const char *name = t < g->n_nodes && g->nodes[t].name ? g->nodes[t].name : "";
      fprintf(out, "  %%%-4d %-28s [%3d, %3d] offset %10lld size %10lld", t, name, p->first_use,
              p->last_use, (long long)p->offset, (long long)p->size);
      if (p->view_of >= 0) fprintf(out, "  (view of %%%d)", p->view_of);
      if (p->shares_with >= 0) fprintf(out, "  (in place of %%%d)", p->shares_with);
      if (p->prepared) fputs("  (prepared)", out);
      fputc('\n', out);
    }
  }
  int n_unstored = 0;
  for (int t = 0; t < plan->n_tensors; t++)
    n_unstored += plan->tensors[t].region == MLGB_REGION_ARENA && plan->tensors[t].first_use < 0;
  if (n_unstored) fprintf(out, "not stored (fused away or unused): %d tensors\n", n_unstored);
  int64_t arena = plan->region_size[MLGB_REGION_ARENA];
  fprintf(out, "arena: %lld bytes, lower bound %lld, naive %lld, efficiency %.3f\n",
          (long long)arena, (long long)plan->lower_bound, (long long)plan->naive_bytes,
          arena ? (double)plan->lower_bound / (double)arena : 1.0);
}

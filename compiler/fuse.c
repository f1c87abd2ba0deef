/* fuse.c — grouping the graph's ops into kernels (see fuse.h).
 *
 * One pass from the last node to the first: when a node is decided, every node that reads it
 * already is, so it can join the one group all its readers belong to, or be stored. Readers
 * are looked at through INDEX nodes (their "uses"): a use is the first non-INDEX reader, the
 * input slot it reads, and the INDEX nodes on the way. */
#include "fuse.h"

#include <stdlib.h>
#include <string.h>

#include "../codegen/templates/elementwise.h"
#include "lower_util.h"
#include "op.h"

#define MAX_USES 64
#define MAX_PATH 16
#define MAX_GROUP_NODES 64
/* Tensors one fused kernel may read besides the template's own (at most 6): GLSL allows 32
 * buffer parameters per shader. */
#define MAX_GROUP_READS 20

typedef enum use_kind {
  USE_EW,       /* read by an elementwise evaluation (any position in a group) */
  USE_PRO,      /* read as the input of a reduction / row-wise anchor: its prologue */
  USE_OPERAND,  /* read as a matmul / linear operand (a strided view of a stored tensor) */
  USE_NONE      /* the reader needs a stored tensor */
} use_kind;

typedef struct use {
  int reader, slot, group;
  use_kind kind;
  int n_path;
  int path[MAX_PATH];      /* INDEX nodes from the producer's reader to `reader`, in order */
} use;

typedef struct group_build {
  mlg_group_kind kind;
  int root, anchor, pre_anchor;
  int n_nodes, cap;
  int *nodes;
  int n_updates;      /* train-step updates it stores (its root, and second roots) */
} group_build;

typedef struct fuser {
  const mlg_graph *g;
  mlg_fuse_role *role;
  int *group_of;
  int *cons_start, *cons, *cons_slot; /* readers of each node (CSR) */
  char *is_output;    /* graph outputs and update values: stored */
  char *is_update;    /* update values (graph.h mlg_graph_update) */
  int *writer;        /* per leaf: the update value that replaces it, or -1 */
  int n_groups, cap_groups;
  group_build *groups;
  int failed;
} fuser;

static const mlg_node *node(const fuser *f, int i) { return &f->g->nodes[i]; }

static int is_op(const mlg_node *n) { return n->kind == MLG_NODE_OP && n->op; }

static int is_anchor_op(const mlg_node *n) {
  return is_op(n) && n->op->fusion.anchor && n->op->lower != NULL;
}

static int64_t numel(const mlg_node *n) { return mlg_type_numel(&n->type); }

static int new_group(fuser *f, mlg_group_kind kind, int root) {
  if (f->n_groups == f->cap_groups) {
    int cap = f->cap_groups ? f->cap_groups * 2 : 16;
    group_build *p = realloc(f->groups, (size_t)cap * sizeof(*p));
    if (!p) {
      f->failed = 1;
      return -1;
    }
    f->groups = p;
    f->cap_groups = cap;
  }
  group_build *gb = &f->groups[f->n_groups];
  *gb = (group_build){kind, root, -1, -1, 0, 0, NULL, f->is_update[root]};
  return f->n_groups++;
}

static void add_member(fuser *f, int group, int n, mlg_fuse_role role) {
  group_build *gb = &f->groups[group];
  if (gb->n_nodes == gb->cap) {
    int cap = gb->cap ? gb->cap * 2 : 8;
    int *p = realloc(gb->nodes, (size_t)cap * sizeof(int));
    if (!p) {
      f->failed = 1;
      return;
    }
    gb->nodes = p;
    gb->cap = cap;
  }
  gb->nodes[gb->n_nodes++] = n;
  f->role[n] = role;
  f->group_of[n] = group;
}

static void make_root(fuser *f, int n, mlg_group_kind kind) {
  int g = new_group(f, kind, n);
  if (g < 0) return;
  if (kind == MLG_GROUP_ANCHORED) f->groups[g].anchor = n;
  add_member(f, g, n, MLG_ROLE_ROOT);
}

/* Adds to reads[] (distinct, at most cap) the stored tensors node i reads, seen through INDEX
 * nodes; nodes of `group` and `extra` are computed, not read. Returns the count, or cap + 1. */
static int add_reads(const fuser *f, int group, int extra, int i, int *reads, int n, int cap) {
  const mlg_node *nd = node(f, i);
  for (int k = 0; k < nd->n_inputs && n <= cap; k++) {
    int in = nd->inputs[k];
    if (in == extra || (f->group_of[in] == group && f->role[in] != MLG_ROLE_ROOT)) continue;
    if (f->role[in] == MLG_ROLE_INDEX) {
      n = add_reads(f, group, extra, in, reads, n, cap);
      continue;
    }
    int seen = 0;
    for (int j = 0; j < n && !seen; j++) seen = reads[j] == in;
    if (!seen) reads[n++] = in;
  }
  return n;
}

/* Whether group g with node `extra` added still reads few enough tensors. Undecided inputs
 * count as read; if one joins later, that join is checked again. */
static int reads_ok(const fuser *f, int g, int extra) {
  int reads[MAX_GROUP_READS + 1], n = 0;
  const group_build *gb = &f->groups[g];
  for (int k = 0; k < gb->n_nodes && n <= MAX_GROUP_READS; k++)
    n = add_reads(f, g, extra, gb->nodes[k], reads, n, MAX_GROUP_READS);
  if (n <= MAX_GROUP_READS) n = add_reads(f, g, extra, extra, reads, n, MAX_GROUP_READS);
  return n <= MAX_GROUP_READS;
}

/* Whether node n reads a leaf that an update outside group g replaces. A train step computes
 * every update from the values the leaves had when it began, and group g's kernel runs where
 * its root is: a group that stores updates runs after other groups' updates may have, so it
 * must read no leaf they replace (the value is stored by an earlier kernel instead). */
static int reads_foreign_target(const fuser *f, int g, int n) {
  if (g < 0 || f->groups[g].n_updates == 0) return 0;
  const mlg_node *nd = node(f, n);
  for (int k = 0; k < nd->n_inputs; k++) {
    int w = f->writer[nd->inputs[k]];
    if (w >= 0 && w != n && f->group_of[w] != g) return 1;
  }
  return 0;
}

/* How reader r (not INDEX) reads its input slot. */
static use_kind use_kind_of(const fuser *f, int r, int slot) {
  if (f->role[r] == MLG_ROLE_ALIAS || f->group_of[r] < 0) return USE_NONE;
  const group_build *gb = &f->groups[f->group_of[r]];
  if (gb->kind == MLG_GROUP_SINGLE) return USE_NONE;
  if (r == gb->pre_anchor) return USE_NONE;
  if (r != gb->anchor) return USE_EW;
  unsigned traits = mlg_op_input_traits(node(f, r)->op, slot);
  if (traits & MLG_IN_PROLOGUE) return USE_PRO;
  if (traits & MLG_IN_STRIDED) return USE_OPERAND;
  return USE_NONE;
}

/* Appends the uses of node n (through INDEX readers) after `prefix`; returns the new count,
 * or -1 when there are too many to consider (the node is then stored). */
static int collect_uses(const fuser *f, int n, const int *prefix, int n_prefix, use *uses,
                        int count) {
  for (int c = f->cons_start[n]; c < f->cons_start[n + 1]; c++) {
    int r = f->cons[c];
    if (f->role[r] == MLG_ROLE_INDEX) {
      if (n_prefix >= MAX_PATH) return -1;
      int path[MAX_PATH];
      if (n_prefix > 0) memcpy(path, prefix, sizeof(int) * (size_t)n_prefix);
      path[n_prefix] = r;
      count = collect_uses(f, r, path, n_prefix + 1, uses, count);
      if (count < 0) return -1;
      continue;
    }
    if (count >= MAX_USES) return -1;
    use *u = &uses[count++];
    u->reader = r;
    u->slot = f->cons_slot[c];
    u->group = f->group_of[r];
    u->kind = use_kind_of(f, r, u->slot);
    u->n_path = n_prefix;
    if (n_prefix > 0) memcpy(u->path, prefix, sizeof(int) * (size_t)n_prefix);
  }
  return count;
}

/* Can anchor `a` read input `slot` (MLG_IN_STRIDED) as `l` without a copy? Any strides do,
 * unless the input is read as rows (MLG_IN_ROWS): then its leading dims must merge. */
static int operand_ok(const fuser *f, int a, int slot, const mlg_layout *l) {
  if (!(mlg_op_input_traits(node(f, a)->op, slot) & MLG_IN_ROWS)) return 1;
  int64_t k = l->rank ? l->dims[l->rank - 1] : 1;
  int64_t dims[2] = {numel(node(f, node(f, a)->inputs[slot])) / k, k};
  mlg_layout r;
  return mlg_layout_reshape(l, 2, dims, &r) == 0;
}

/* INDEX decision for transpose / slice / view n: every use can fold it. */
static int can_be_index(fuser *f, int n, const use *uses, int n_uses) {
  if (n_uses == 0) return 0;
  for (int i = 0; i < n_uses; i++) {
    const use *u = &uses[i];
    if (reads_foreign_target(f, u->group, n)) return 0;
    if (u->kind == USE_EW || u->kind == USE_PRO) continue;
    if (u->kind != USE_OPERAND) return 0;
    /* The operand must stay a strided view of n's input, assumed stored (contiguous): if the
     * input turns out to be INDEX too, it is checked again then with the longer chain. */
    const mlg_node *nn = node(f, n);
    mlg_layout l;
    mlg_index_map map;
    mlg_layout_contiguous(&node(f, nn->inputs[0])->type, nn->inputs[0], &l);
    if (mlg_node_index_map(f->g, n, &map) || mlg_layout_forward(&l, &map)) return 0;
    for (int p = 0; p < u->n_path; p++)
      if (mlg_node_index_map(f->g, u->path[p], &map) || mlg_layout_forward(&l, &map)) return 0;
    if (!operand_ok(f, u->reader, u->slot, &l)) return 0;
  }
  return 1;
}

/* The one group every use belongs to, with all uses of the given kinds; else -1. */
static int common_group(const use *uses, int n_uses, int allow_pro) {
  if (n_uses == 0) return -1;
  int g = uses[0].group;
  for (int i = 0; i < n_uses; i++) {
    if (uses[i].group != g || g < 0) return -1;
    if (uses[i].kind != USE_EW && !(allow_pro && uses[i].kind == USE_PRO)) return -1;
  }
  return g;
}

/* Whether anchor a can take group g's members that depend on it as its epilogue (fuse.h). */
static int epilogue_ok(fuser *f, int a, int g) {
  const mlg_graph *G = f->g;
  const group_build *gb = &f->groups[g];
  int n = G->n_nodes;
  char *dep = calloc((size_t)n, 1), *moved = calloc((size_t)n, 1);
  char *member = calloc((size_t)n, 1);
  int ok = dep && moved && member;
  if (!ok) f->failed = 1;
  for (int i = 0; ok && i < gb->n_nodes; i++) member[gb->nodes[i]] = 1;
  if (ok) dep[a] = 1;
  int is_mm = node(f, a)->op->fusion.store_strided;
  int64_t count = numel(node(f, a));
  /* The anchor's template stores the group's root as the anchor's own dtype. */
  if (node(f, gb->root)->type.dtype != node(f, a)->type.dtype) ok = 0;
  /* Nothing past the root belongs to the group's kernel. */
  for (int i = a + 1; ok && i <= gb->root; i++) {
    const mlg_node *nd = node(f, i);
    if (!member[i] && f->role[i] != MLG_ROLE_INDEX) continue;
    int any = 0, any_moved = 0;
    for (int k = 0; k < nd->n_inputs; k++) {
      if (dep[nd->inputs[k]]) {
        any = 1;
        any_moved |= moved[nd->inputs[k]];
      }
    }
    if (!any) continue;
    dep[i] = 1;
    mlg_index_map map;
    if (nd->op->cls == MLG_OPC_ELEMENTWISE) {
      /* Same iteration space as the anchor, at the same element positions. */
      ok = numel(nd) == count && !any_moved;
    } else if (mlg_node_index_map(G, i, &map) == 0 && map.kind == MLG_INDEX_SAME_ORDER) {
      moved[i] = (char)any_moved;
    } else if (mlg_node_index_map(G, i, &map) == 0) {
      /* Elements move: only an anchor that stores through strides, and only through a map
       * that stores every element once (mlg_fusion_store_strides checks it). */
      ok = is_mm;
      moved[i] = 1;
    } else {
      ok = 0;
    }
  }
  /* A matmul storing through transposes: the root's layout, pulled back, must be strided. */
  if (ok && is_mm && moved[gb->root]) {
    int64_t strides[MLG_MAX_RANK];
    ok = mlg_fusion_store_strides(G, gb->root, a, strides) >= 0;
  }
  free(dep);
  free(moved);
  free(member);
  return ok;
}

/* Whether expression e calls a transcendental function. */
static int calls_transcendental(const kir_expr *e) {
  if (!e) return 0;
  if (e->kind == KIR_E_UNARY && (e->op == KIR_EXP || e->op == KIR_EXP2 || e->op == KIR_LOG ||
                                 e->op == KIR_TANH || e->op == KIR_ERF || e->op == KIR_SIN ||
                                 e->op == KIR_COS || e->op == KIR_TAN))
    return 1;
  if (e->kind == KIR_E_BINARY && e->op == KIR_POW) return 1;
  return calls_transcendental(e->a) || calls_transcendental(e->b) || calls_transcendental(e->c) ||
         calls_transcendental(e->d);
}

static int judge_costly(kir_builder *b, const kir_expr *formula, void *user) {
  (void)b, (void)user;
  return calls_transcendental(formula);
}

/* Whether elementwise node i's scalar formula, built on a probe kernel, calls one (the
 * dialect's functions: erf stays a call outside the CPU's IR math). */
static int formula_costly(const fuser *f, int i) {
  const mlg_node *nd = node(f, i);
  kir_type in[KT_EW_MAX_INPUTS];
  for (int k = 0; k < nd->n_inputs && k < KT_EW_MAX_INPUTS; k++)
    in[k] = kir_t(kir_compute_scalar(mlg_kir_scalar(node(f, nd->inputs[k])->type.dtype)));
  return mlg_probe_formula(f->g, i, in, judge_costly, NULL);
}

/* MLG_FUSE_CHEAP_EPILOGUES: whether group g holds an op that anchor a's epilogue should not run. */
static int epilogue_costly(const fuser *f, int a, int g) {
  if (!node(f, a)->op->fusion.blocked) return 0;
  for (int i = 0; i < f->groups[g].n_nodes; i++)
    if (formula_costly(f, f->groups[g].nodes[i])) return 1;
  return 0;
}

static void decide(fuser *f, int n, int flags) {
  const mlg_node *nd = node(f, n);
  if (!is_op(nd)) {
    f->role[n] = MLG_ROLE_LEAF;
    return;
  }
  mlg_op_class cls = nd->op->cls;
  int index_op = mlg_node_is_index(nd);
  if (!(flags & MLG_FUSE_ON)) {
    if (cls == MLG_OPC_VIEW) f->role[n] = MLG_ROLE_ALIAS;
    else make_root(f, n, cls == MLG_OPC_ELEMENTWISE ? MLG_GROUP_ELEMENTWISE
                         : is_anchor_op(nd)        ? MLG_GROUP_ANCHORED
                                                   : MLG_GROUP_SINGLE);
    return;
  }
  use uses[MAX_USES];
  int n_uses = collect_uses(f, n, NULL, 0, uses, 0);
  int out = f->is_output[n];

  if (index_op) {
    if (!out && n_uses > 0 && can_be_index(f, n, uses, n_uses)) f->role[n] = MLG_ROLE_INDEX;
    else if (!out && cls == MLG_OPC_VIEW) f->role[n] = MLG_ROLE_ALIAS;
    else make_root(f, n, MLG_GROUP_ELEMENTWISE);
    return;
  }
  if (cls == MLG_OPC_ELEMENTWISE) {
    /* A narrow result (f16, i8, u8) is stored, rounded as its op alone rounds it. */
    int g = out || n_uses < 0 || mlg_dtype_is_narrow(nd->type.dtype) ? -1
                                                                     : common_group(uses, n_uses, 1);
    if (g >= 0 && f->groups[g].n_nodes < MAX_GROUP_NODES && reads_ok(f, g, n) &&
        !reads_foreign_target(f, g, n)) {
      add_member(f, g, n, MLG_ROLE_INNER);
      return;
    }
    /* An update read only by one elementwise group of its size (a momentum by its param's
     * update) is stored by that group's kernel too: a second root, one kernel per param. */
    g = f->is_update[n] && n_uses > 0 ? common_group(uses, n_uses, 0) : -1;
    if (g >= 0 && f->groups[g].kind == MLG_GROUP_ELEMENTWISE &&
        numel(node(f, f->groups[g].root)) == numel(nd) && f->groups[g].n_nodes < MAX_GROUP_NODES &&
        reads_ok(f, g, n) && !reads_foreign_target(f, g, n)) {
      add_member(f, g, n, MLG_ROLE_ROOT);
      f->groups[g].n_updates++;
      return;
    }
    make_root(f, n, MLG_GROUP_ELEMENTWISE);
    return;
  }
  if (!is_anchor_op(nd)) {
    make_root(f, n, MLG_GROUP_SINGLE);
    return;
  }
  /* A row normalization (layer_norm over the last dim) feeding only an input that can
   * normalize its loads (a linear's x): computed there. */
  mlg_row_norm rn;
  if (!(flags & MLG_FUSE_NO_LN_PROLOGUE) && !out && n_uses == 1 && uses[0].n_path == 0 &&
      nd->op->fusion.row_norm && nd->op->fusion.row_norm(nd, &rn) == 0 &&
      uses[0].kind == USE_OPERAND &&
      (mlg_op_input_traits(node(f, uses[0].reader)->op, uses[0].slot) & MLG_IN_ROW_NORM) &&
      f->groups[uses[0].group].pre_anchor < 0) {
    f->groups[uses[0].group].pre_anchor = n;
    add_member(f, uses[0].group, n, MLG_ROLE_INNER);
    return;
  }
  /* Update kernels stay elementwise: an anchor in one would keep what it reads alive until the
   * step's end, and its template stores one tensor. A narrow result (an f16 GEMM) is stored,
   * rounded as its op alone rounds it, like an elementwise one. */
  int g = out || n_uses < 0 || mlg_dtype_is_narrow(nd->type.dtype) ? -1 : common_group(uses, n_uses, 0);
  if (g >= 0 && f->groups[g].kind == MLG_GROUP_ELEMENTWISE && f->groups[g].n_updates == 0 &&
      reads_ok(f, g, n) && epilogue_ok(f, n, g) &&
      !((flags & MLG_FUSE_CHEAP_EPILOGUES) && epilogue_costly(f, n, g))) {
    f->groups[g].kind = MLG_GROUP_ANCHORED;
    f->groups[g].anchor = n;
    add_member(f, g, n, MLG_ROLE_INNER);
    return;
  }
  make_root(f, n, MLG_GROUP_ANCHORED);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static int cmp_group_root(const void *a, const void *b) {
  const mlg_fusion_group *x = a, *y = b;
  return (x->root > y->root) - (x->root < y->root);
}

void mlg_fusion_free(mlg_fusion *fu) {
  if (!fu) return;
  for (int i = 0; fu->groups && i < fu->n_groups; i++) free(fu->groups[i].nodes);
  free(fu->groups);
  free(fu->role);
  free(fu->group_of);
  free(fu);
}

mlg_fusion *mlg_fuse(const mlg_graph *g, int flags) {
  int n = g->n_nodes;
  size_t nn = (size_t)(n ? n : 1);
  fuser f = {.g = g};
  f.role = calloc(nn, sizeof(*f.role));
  f.group_of = malloc(nn * sizeof(int));
  f.cons_start = calloc(nn + 1, sizeof(int));
  f.is_output = calloc(nn, 1);
  f.is_update = calloc(nn, 1);
  f.writer = malloc(nn * sizeof(int));
  mlg_fusion *fu = calloc(1, sizeof(*fu));
  int n_edges = 0;
  for (int i = 0; i < n; i++) n_edges += g->nodes[i].n_inputs;
  f.cons = malloc((size_t)(n_edges ? n_edges : 1) * sizeof(int));
  f.cons_slot = malloc((size_t)(n_edges ? n_edges : 1) * sizeof(int));
  if (!f.role || !f.group_of || !f.cons_start || !f.is_output || !f.is_update || !f.writer || !fu ||
      !f.cons || !f.cons_slot)
    goto fail;
  for (int i = 0; i < n; i++) f.group_of[i] = f.writer[i] = -1;
  for (int o = 0; o < g->n_outputs; o++) f.is_output[g->outputs[o].node] = 1;
  for (int u = 0; u < g->n_updates; u++) {
    f.is_output[g->updates[u].value] = f.is_update[g->updates[u].value] = 1;
    f.writer[g->updates[u].target] = g->updates[u].value;
  }
  /* Readers of each node, in node order. */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) f.cons_start[g->nodes[i].inputs[k] + 1]++;
  for (int i = 0; i < n; i++) f.cons_start[i + 1] += f.cons_start[i];
  {
    int *fill = calloc(nn, sizeof(int));
    if (!fill) goto fail;
    for (int i = 0; i < n; i++)
      for (int k = 0; k < g->nodes[i].n_inputs; k++) {
        int src = g->nodes[i].inputs[k];
        int at = f.cons_start[src] + fill[src]++;
        f.cons[at] = i;
        f.cons_slot[at] = k;
      }
    free(fill);
  }
  for (int i = n - 1; i >= 0 && !f.failed; i--) decide(&f, i, flags);
  if (f.failed) goto fail;

  fu->n_nodes = n;
  fu->role = f.role;
  fu->group_of = f.group_of;
  fu->n_groups = f.n_groups;
  fu->groups = calloc((size_t)(f.n_groups ? f.n_groups : 1), sizeof(*fu->groups));
  f.role = NULL;
  f.group_of = NULL;
  if (!fu->groups) goto fail;
  for (int i = 0; i < f.n_groups; i++) {
    group_build *gb = &f.groups[i];
    qsort(gb->nodes, (size_t)gb->n_nodes, sizeof(int), cmp_int);
    fu->groups[i] = (mlg_fusion_group){gb->kind, gb->root, gb->anchor, gb->pre_anchor,
                                       gb->n_nodes, gb->nodes};
    gb->nodes = NULL;
  }
  qsort(fu->groups, (size_t)fu->n_groups, sizeof(*fu->groups), cmp_group_root);
  for (int i = 0; i < fu->n_groups; i++)
    for (int k = 0; k < fu->groups[i].n_nodes; k++) fu->group_of[fu->groups[i].nodes[k]] = i;
  free(f.cons_start);
  free(f.cons);
  free(f.cons_slot);
  free(f.is_output);
  free(f.is_update);
  free(f.writer);
  free(f.groups);
  return fu;

fail:
  for (int i = 0; i < f.n_groups; i++) free(f.groups[i].nodes);
  free(f.groups);
  free(f.role);
  free(f.group_of);
  free(f.cons_start);
  free(f.cons);
  free(f.cons_slot);
  free(f.is_output);
  free(f.is_update);
  free(f.writer);
  mlg_fusion_free(fu);
  return NULL;
}

int mlg_fusion_store_strides(const mlg_graph *g, int root, int anchor,
                             int64_t strides[MLG_MAX_RANK]) {
  mlg_layout l;
  mlg_layout_contiguous(&g->nodes[root].type, root, &l);
  int at = root;
  /* Down the index ops between the root and the first elementwise op (or the anchor): each
   * one's input seen through the root's layout. */
  for (int guard = 0; at != anchor && mlg_node_is_index(&g->nodes[at]) && guard < 64; guard++) {
    mlg_index_map map;
    if (mlg_node_index_map(g, at, &map) || mlg_layout_backward(&l, &map)) return -1;
    at = g->nodes[at].inputs[0];
  }
  int64_t canon[MLG_MAX_RANK];
  int rank = mlg_node_iter_dims(g, anchor, canon);
  if (rank < 0 || mlg_layout_reshape(&l, rank, canon, &l)) return -1;
  memcpy(strides, l.strides, sizeof(int64_t) * (size_t)rank);
  return rank;
}

int mlg_graph_op_count(const mlg_graph *g) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].kind == MLG_NODE_OP;
  return n;
}

static void print_node(const mlg_graph *g, int i, const char *what, FILE *out) {
  const mlg_node *n = &g->nodes[i];
  char ty[160];
  fprintf(out, "  %-9s %%%d", what, i);
  if (n->name) fprintf(out, " %s", n->name);
  fprintf(out, " = %s(", n->op ? n->op->name : "?");
  for (int k = 0; k < n->n_inputs; k++) fprintf(out, "%s%%%d", k ? ", " : "", n->inputs[k]);
  fprintf(out, ") : %s\n", mlg_type_format(&n->type, ty, sizeof ty));
}

/* The INDEX nodes that the group's kernel reads through, ascending, into `seen`. */
static void mark_index_reads(const mlg_fusion *fu, const mlg_graph *g, int i, char *seen) {
  const mlg_node *n = &g->nodes[i];
  for (int k = 0; k < n->n_inputs; k++) {
    int in = n->inputs[k];
    if (fu->role[in] == MLG_ROLE_INDEX && !seen[in]) {
      seen[in] = 1;
      mark_index_reads(fu, g, in, seen);
    }
  }
}

/* Marks the group members and INDEX nodes that the anchor reads (its prologue). */
static void mark_feeds(const mlg_fusion *fu, const mlg_graph *g, int gi, int i, char *feeds) {
  const mlg_node *n = &g->nodes[i];
  for (int k = 0; k < n->n_inputs; k++) {
    int in = n->inputs[k];
    if (feeds[in] || (fu->group_of[in] != gi && fu->role[in] != MLG_ROLE_INDEX)) continue;
    feeds[in] = 1;
    mark_feeds(fu, g, gi, in, feeds);
  }
}

static const char *member_role(const mlg_fusion *fu, const mlg_fusion_group *gr, int i,
                               const char *feeds) {
  if (i != gr->root && fu->role[i] == MLG_ROLE_ROOT) return "stores";
  if (gr->kind != MLG_GROUP_ANCHORED) return "op";
  if (i == gr->anchor) return "anchor";
  return feeds[i] ? "prologue" : "epilogue";
}

void mlg_fusion_print(const mlg_fusion *fu, const mlg_graph *g, const mlg_lowered *lw,
                      FILE *out) {
  int n = g->n_nodes;
  char *seen = calloc((size_t)(n ? n : 1), 1), *dep = calloc((size_t)(n ? n : 1), 1);
  if (!seen || !dep) {
    free(seen);
    free(dep);
    return;
  }
  int n_kernels = kir_module_count(lw->module);
  fprintf(out, "fusion %s: %d ops, %d launches per run of %d distinct kernel%s\n",
          g->model_name ? g->model_name : "model", mlg_graph_op_count(g), lw->n_launches, n_kernels,
          n_kernels == 1 ? "" : "s");
  for (int l = 0; l < lw->n_launches; l++) {
    const mlg_launch *la = &lw->launches[l];
    int root = lw->launch_node ? lw->launch_node[l] : -1;
    int gi = root >= 0 && root < n ? fu->group_of[root] : -1;
    fprintf(out, "\nlaunch %d: %s", l, la->kernel->name);
    if (gi < 0 || fu->groups[gi].root != root) {
      fprintf(out, " (copy of output %%%d)\n", root);
      continue;
    }
    const mlg_fusion_group *gr = &fu->groups[gi];
    static const char *const kinds[] = {"elementwise", "anchored", "single"};
    fprintf(out, " (%s, stores %%%d", kinds[gr->kind], root);
    for (int k = 0; k < gr->n_nodes; k++)
      if (gr->nodes[k] != root && fu->role[gr->nodes[k]] == MLG_ROLE_ROOT) fprintf(out, ", %%%d", gr->nodes[k]);
    fputs(")\n", out);
    memset(seen, 0, (size_t)n);
    memset(dep, 0, (size_t)n);
    if (gr->anchor >= 0) mark_feeds(fu, g, gi, gr->anchor, dep);
    for (int k = 0; k < gr->n_nodes; k++) mark_index_reads(fu, g, gr->nodes[k], seen);
    for (int k = 0; k < gr->n_nodes; k++) seen[gr->nodes[k]] = 2;
    for (int i = 0; i < n; i++) {
      if (seen[i] == 1) print_node(g, i, "index", out);
      else if (seen[i] == 2) print_node(g, i, member_role(fu, gr, i, dep), out);
    }
  }
  int header = 0;
  for (int i = 0; i < n; i++) {
    if (fu->role[i] != MLG_ROLE_ALIAS) continue;
    if (!header) fprintf(out, "\nno kernel (views of stored tensors)\n");
    header = 1;
    print_node(g, i, "alias", out);
  }
  free(seen);
  free(dep);
}

/* lower_group.c — one fusion group (fuse.h) → one kernel.
 *
 * The heart is an evaluator that builds the kir expression of any node of the group at an
 * element position: elementwise ops through their `scalar` formulas, index ops (transpose,
 * slice, views: their op.h index map) as index arithmetic, and everything outside the group as a load of the tensor
 * that stores it (a 1-element const becomes a literal). A position is a linear index, or
 * coordinates, or both (struct pos); views keep the linear index, broadcasting keeps it where
 * the input is a trailing block of the output, and only transposes, slices and general
 * broadcasts need coordinates (integer div/mod by constants, declared once per kernel site).
 * Each computed value is declared as a variable and remembered with its position, so a value
 * used several times at the same position (x * sigmoid(x), a shared subexpression) is computed
 * once.
 *
 * ELEMENTWISE groups run the evaluator over the root's elements (kt_elementwise_body_lanes).
 * ANCHORED groups call the anchor's own lower hook, which asks lower_util.h's helpers for a
 * prologue (the evaluator at the anchor's input, per load), an epilogue (the evaluator at the
 * root, with the anchor's value substituted where the anchor is read) and the strided layouts
 * of folded operands. SINGLE groups are the op's hook unchanged. */
#include "lower_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "lower_util.h"
#include "op.h"
#include "templates/elementwise.h"
#include "templates/matmul.h"

#define FK_MAX_BUFS 30   /* GLSL allows 32 buffer parameters; leave room for the template's */
#define FK_MAX_MEMO 512
#define FK_MAX_DECOMP 64
/* ELEMENTWISE groups: consecutive elements per work-item (vector loads of direct inputs). Not on
 * a CPU: PoCL vectorizes the loop over a work-group's items itself (8 lanes on this AVX-512 host)
 * only when the kernel has no vector-typed value ("instruction return type cannot be vectorized"
 * for the vload4), and then runs its library exp and tanh, and fastmath.h's erf, 8 elements at a
 * time (docs/performance.md, Transcendentals). */
#define KT_EW_VEC_WIDTH 4
#define KT_EW_VEC_WIDTH_CPU 1
/* ...except where a group computes in explicit 16-lane vectors (group_vectorizes): then the
 * AVX-512 units run 16 elements at a time instead of PoCL's 8. */
#define KT_EW_WHOLE_CPU 16

/* An element position in a tensor of `rank` dims: its contiguous linear index and/or its
 * coordinates (c[d] NULL for dims of size 1, which are always 0). */
typedef struct pos {
  int rank;
  int64_t dims[MLG_MAX_RANK];
  kir_expr *lin;
  int has_c;
  kir_expr *c[MLG_MAX_RANK];
} pos;

typedef struct memo_entry {
  int node;
  pos at;
  kir_expr *value;
} memo_entry;

struct mlg_fused_kernel {
  mlg_lower_ctx *ctx;
  const mlg_fusion *fu;
  const mlg_fusion_group *group;
  int gi;
  kir_builder *b;            /* the kernel being built (set by each callback) */
  int n_bufs;
  int buf_tensor[FK_MAX_BUFS], buf_id[FK_MAX_BUFS];
  /* Per buffer: loaded at the kernel's own element index (1), or anywhere else (2); an input
   * read only directly may share its bytes with the output (in-place). */
  char buf_reads[FK_MAX_BUFS];
  kir_expr *root_index;      /* ELEMENTWISE groups: the element each work-item writes */
  /* ELEMENTWISE groups: lane `lane` of `vec_width` consecutive elements from `vec_base`; an input
   * read at root_index is loaded once per work-item as a vector (vec_var[i] for buffer i). */
  int vec_width, lane;
  kir_expr *vec_base;
  kir_expr *vec_var[FK_MAX_BUFS];
  int whole;                 /* ELEMENTWISE groups computed as vectors of this width (loads of
                                `whole` elements at root_index), or 0 */
  int n_memo;
  memo_entry memo[FK_MAX_MEMO];
  int n_decomp;
  pos decomp[FK_MAX_DECOMP]; /* coordinates already derived from a linear index */
  char *spine;               /* per node: depends on the anchor (epilogue), 0/1 */
  kir_expr *anchor_value;    /* while an epilogue is built */
  kir_expr *anchor_lin;
  int failed;
  char msg[160];
};

typedef struct mlg_fused_kernel fk_t;

static void fk_fail(fk_t *fk, const char *msg) {
  if (!fk->failed) snprintf(fk->msg, sizeof fk->msg, "%s", msg);
  fk->failed = 1;
}

/* ---- expressions ---- */

static int expr_eq(const kir_expr *a, const kir_expr *b) {
  if (a == b) return 1;
  if (!a || !b) return 0;
  if (a->kind != b->kind || a->type.scalar != b->type.scalar || a->type.width != b->type.width ||
      a->index != b->index || a->op != b->op || a->i != b->i ||
      memcmp(&a->f, &b->f, sizeof(double)) != 0)
    return 0;
  return expr_eq(a->a, b->a) && expr_eq(a->b, b->b) && expr_eq(a->c, b->c) &&
         expr_eq(a->d, b->d);
}

static int pos_eq(const pos *x, const pos *y) {
  if (x->rank != y->rank) return 0;
  for (int d = 0; d < x->rank; d++)
    if (x->dims[d] != y->dims[d]) return 0;
  if (x->lin && y->lin) return expr_eq(x->lin, y->lin);
  if (!x->has_c || !y->has_c) return 0;
  for (int d = 0; d < x->rank; d++)
    if (!expr_eq(x->c[d], y->c[d])) return 0;
  return 1;
}

static int64_t dims_numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= dims[d];
  return n;
}

static void pos_init(pos *p, const mlg_type *t, kir_expr *lin) {
  memset(p, 0, sizeof(*p));
  p->rank = t->rank;
  memcpy(p->dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
  p->lin = lin;
}

/* A variable holding e (constants and variables stay as they are). */
static kir_expr *as_var(fk_t *fk, kir_expr *e, const char *hint) {
  if (!e) return NULL;
  if (e->kind == KIR_E_VAR || e->kind == KIR_E_CONST_F || e->kind == KIR_E_CONST_I) return e;
  int v = kir_var_new(fk->b, hint, e->type);
  kir_decl(fk->b, v, e);
  return kir_var(fk->b, v);
}

/* Fills p->lin from the coordinates. */
static void ensure_lin(fk_t *fk, pos *p) {
  if (p->lin) return;
  kir_builder *b = fk->b;
  kir_expr *lin = kir_i32(b, 0);
  int64_t stride = 1;
  for (int d = p->rank - 1; d >= 0; d--) {
    if (p->dims[d] != 1 && p->c[d]) lin = kir_add(b, kir_mul(b, p->c[d], kir_i32(b, stride)), lin);
    stride *= p->dims[d];
  }
  p->lin = lin;
}

/* Fills p's coordinates from its linear index, reusing an earlier decomposition. */
static void ensure_coords(fk_t *fk, pos *p) {
  if (p->has_c) return;
  if (!p->lin) {
    fk_fail(fk, "internal error: a position with neither index nor coordinates");
    return;
  }
  for (int i = 0; i < fk->n_decomp; i++) {
    pos *q = &fk->decomp[i];
    if (q->rank == p->rank && !memcmp(q->dims, p->dims, sizeof(int64_t) * (size_t)p->rank) &&
        expr_eq(q->lin, p->lin)) {
      memcpy(p->c, q->c, sizeof(p->c));
      p->has_c = 1;
      return;
    }
  }
  kir_builder *b = fk->b;
  kir_expr *lin = as_var(fk, p->lin, "idx");
  p->lin = lin;
  int64_t total = dims_numel(p->rank, p->dims), stride = total;
  for (int d = 0; d < p->rank; d++) {
    int64_t dim = p->dims[d];
    stride /= dim;
    if (dim == 1) {
      p->c[d] = NULL;
      continue;
    }
    kir_expr *q = stride == 1 ? lin : kir_div(b, lin, kir_i32(b, stride));
    if (stride * dim < total) q = kir_mod(b, q, kir_i32(b, dim));
    p->c[d] = as_var(fk, q, "c");
  }
  p->has_c = 1;
  if (fk->n_decomp < FK_MAX_DECOMP) fk->decomp[fk->n_decomp++] = *p;
}

/* The position in an input of type `in` that NumPy broadcasting reads for position p. */
static void broadcast_pos(fk_t *fk, pos *p, const mlg_type *in, pos *out) {
  pos_init(out, in, NULL);
  int off = p->rank - in->rank;
  int same = off == 0;
  for (int d = 0; same && d < in->rank; d++) same = in->dims[d] == p->dims[d];
  if (same) {
    *out = *p;
    return;
  }
  int64_t n_in = dims_numel(in->rank, in->dims);
  if (n_in == 1) {
    out->lin = kir_i32(fk->b, 0);
    return;
  }
  /* A trailing block of the output (leading dims broadcast): index modulo its size. */
  int first = 0;
  while (first < in->rank && in->dims[first] == 1) first++;
  int block = off >= 0;
  for (int d = first; block && d < in->rank; d++) block = in->dims[d] == p->dims[d + off];
  if (block && p->lin) {
    out->lin = n_in == dims_numel(p->rank, p->dims) ? p->lin
                                                    : kir_mod(fk->b, p->lin, kir_i32(fk->b, n_in));
    return;
  }
  ensure_coords(fk, p);
  for (int d = 0; d < in->rank; d++) out->c[d] = in->dims[d] == 1 ? NULL : p->c[d + off];
  out->has_c = 1;
}

/* The position in an index op's input that its element at p reads (op.h mlg_index_map). */
static void map_pos(fk_t *fk, const mlg_index_map *m, pos *p, pos *out) {
  kir_builder *b = fk->b;
  memset(out, 0, sizeof(*out));
  out->rank = m->in_rank;
  memcpy(out->dims, m->in_dims, sizeof(int64_t) * (size_t)m->in_rank);
  if (m->kind == MLG_INDEX_SAME_ORDER) {
    if (!p->lin) {
      /* Same dims apart from 1s: the coordinates carry over. */
      int i = 0, j = 0, match = 1;
      kir_expr *cs[MLG_MAX_RANK] = {0};
      while (match) {
        while (i < p->rank && p->dims[i] == 1) i++;
        while (j < out->rank && out->dims[j] == 1) j++;
        if (i == p->rank || j == out->rank) {
          match = i == p->rank && j == out->rank;
          break;
        }
        if (p->dims[i] != out->dims[j]) match = 0;
        else cs[j++] = p->c[i++];
      }
      if (match) {
        memcpy(out->c, cs, sizeof(cs));
        out->has_c = 1;
        return;
      }
      ensure_lin(fk, p);
    }
    out->lin = p->lin;
    return;
  }
  /* Input coordinate along axis[d]: start + c · step (a constant where c is 0). */
  ensure_coords(fk, p);
  for (int d = 0; d < m->rank; d++) {
    int a = m->axis[d];
    if (m->in_dims[a] == 1) out->c[a] = NULL;
    else if (!p->c[d]) out->c[a] = kir_i32(b, m->start[d]);
    else out->c[a] = kir_add(b, kir_mul(b, p->c[d], kir_i32(b, m->step[d])), kir_i32(b, m->start[d]));
  }
  out->has_c = 1;
}

/* The buffer parameter bound to `tensor`, declared on first use. */
static int buffer_of(fk_t *fk, int tensor) {
  for (int i = 0; i < fk->n_bufs; i++)
    if (fk->buf_tensor[i] == tensor) return fk->buf_id[i];
  if (fk->n_bufs == FK_MAX_BUFS) {
    fk_fail(fk, "too many tensors read by one fused kernel");
    return -1;
  }
  const mlg_node *n = &fk->ctx->graph->nodes[tensor];
  /* Named by position, never after the tensor, so that kernels of layers that differ only in
   * which tensors they read are one kernel (lower.h). */
  char name[16];
  snprintf(name, sizeof name, "in%d", fk->n_bufs);
  int id = kir_buffer_param(fk->b, name, mlg_kir_scalar(n->type.dtype), KIR_READ);
  if (id < 0) {
    fk_fail(fk, "out of memory while building a fused kernel");
    return -1;
  }
  fk->buf_tensor[fk->n_bufs] = tensor;
  fk->buf_id[fk->n_bufs++] = id;
  return id;
}

static kir_expr *memo_find(fk_t *fk, int node, const pos *p) {
  for (int i = 0; i < fk->n_memo; i++)
    if (fk->memo[i].node == node && pos_eq(&fk->memo[i].at, p)) return fk->memo[i].value;
  return NULL;
}

static void memo_add(fk_t *fk, int node, const pos *p, kir_expr *value) {
  if (fk->n_memo < FK_MAX_MEMO) fk->memo[fk->n_memo++] = (memo_entry){node, *p, value};
}

/* Forgets everything tied to variables of the current block (each callback runs in its own). */
static void fk_reset(fk_t *fk, kir_builder *b) {
  fk->b = b;
  fk->n_memo = 0;
  fk->n_decomp = 0;
}

static kir_expr *eval(fk_t *fk, int node, pos *p);

/* A tensor stored outside this kernel, at position p. */
static kir_expr *load_tensor(fk_t *fk, int node, pos *p) {
  const mlg_node *n = &fk->ctx->graph->nodes[node];
  kir_builder *b = fk->b;
  if (n->kind == MLG_NODE_CONST && n->data && mlg_type_numel(&n->type) == 1)
    return mlg_kir_const(b, n, 0);
  kir_expr *hit = memo_find(fk, node, p);
  if (hit) return hit;
  int buf = buffer_of(fk, node);
  if (buf < 0) return NULL;
  ensure_lin(fk, p);
  int direct = p->lin == fk->root_index &&
               mlg_type_numel(&n->type) ==
                   mlg_type_numel(&fk->ctx->graph->nodes[fk->group->root].type);
  int bi = 0;
  while (bi < fk->n_bufs && fk->buf_tensor[bi] != node) bi++;
  fk->buf_reads[bi] |= direct ? 1 : 2;
  char hint[24];
  kir_expr *v;
  /* Vector loads need 4-byte elements (kir.h); other buffers are read a lane at a time. */
  if (fk->whole) { /* group_vectorizes: the lanes are consecutive elements of one row of n */
    snprintf(hint, sizeof hint, "ld%d", bi);
    int bcast_row = n->type.rank == 0 || n->type.dims[n->type.rank - 1] == 1;
    v = as_var(fk, bcast_row ? kir_load(b, buf, p->lin) : kir_load_vec(b, buf, p->lin, fk->whole), hint);
  } else if (direct && fk->vec_width > 1 && kir_storage_bytes(mlg_kir_scalar(n->type.dtype)) == 4) {
    if (!fk->vec_var[bi]) {
      snprintf(hint, sizeof hint, "vld%d", bi);
      fk->vec_var[bi] = as_var(fk, kir_load_vec(b, buf, fk->vec_base, fk->vec_width), hint);
    }
    v = kir_component(b, fk->vec_var[bi], fk->lane);
  } else {
    snprintf(hint, sizeof hint, "ld%d", bi);
    v = as_var(fk, kir_load(b, buf, p->lin), hint);
  }
  memo_add(fk, node, p, v);
  return v;
}

static kir_expr *eval(fk_t *fk, int node, pos *p) {
  if (fk->failed) return NULL;
  const mlg_graph *g = fk->ctx->graph;
  const mlg_node *n = &g->nodes[node];
  const mlg_fusion *fu = fk->fu;
  if (fk->anchor_value && node == fk->group->anchor) return fk->anchor_value;
  pos spine_pos;
  if (fk->anchor_value && fk->spine[node]) {
    /* After the anchor every op keeps the anchor's element order (fuse.h). */
    pos_init(&spine_pos, &n->type, fk->anchor_lin);
    p = &spine_pos;
  }
  int inside = n->kind == MLG_NODE_OP &&
               (fu->role[node] == MLG_ROLE_INDEX ||
                (fu->group_of[node] == fk->gi && node != fk->group->anchor &&
                 node != fk->group->pre_anchor));
  if (!inside) return load_tensor(fk, node, p);
  if (p == &spine_pos && mlg_node_is_index(n)) return eval(fk, n->inputs[0], p);
  if (mlg_node_is_index(n)) {
    mlg_index_map map;
    if (mlg_node_index_map(g, node, &map)) {
      fk_fail(fk, "internal error: an index op's attributes are not normalized");
      return NULL;
    }
    pos in;
    map_pos(fk, &map, p, &in);
    return eval(fk, n->inputs[0], &in);
  }
  if (n->op->cls != MLG_OPC_ELEMENTWISE || !n->op->scalar || n->n_inputs > KT_EW_MAX_INPUTS) {
    fk_fail(fk, "internal error: a fused kernel reaches an op it cannot compute");
    return NULL;
  }
  kir_expr *hit = memo_find(fk, node, p);
  if (hit) return hit;
  kir_expr *vals[KT_EW_MAX_INPUTS];
  for (int k = 0; k < n->n_inputs; k++) {
    pos in;
    broadcast_pos(fk, p, &g->nodes[n->inputs[k]].type, &in);
    vals[k] = eval(fk, n->inputs[k], &in);
    if (!vals[k]) return NULL;
  }
  /* Named after the op, not the node, so the same code gets the same names in every layer;
   * "v_" keeps the name clear of the languages' builtins (rsqrt, exp). */
  char hint[48];
  snprintf(hint, sizeof hint, "v_%s", n->op->name);
  kir_expr *v = as_var(fk, n->op->scalar(fk->b, vals, n), hint);
  if (!v) {
    fk_fail(fk, "out of memory while building a fused kernel");
    return NULL;
  }
  memo_add(fk, node, p, v);
  return v;
}

/* ---- callbacks handed to the templates ---- */

/* The output buffer of a second root (fuse.h) of the group, declared on first use; it is
 * listed with the loads (fk->buf_tensor) so that the launch binds it in declaration order. */
static int out_buffer_of(fk_t *fk, int tensor) {
  for (int i = 0; i < fk->n_bufs; i++)
    if (fk->buf_tensor[i] == tensor) return fk->buf_id[i];
  if (fk->n_bufs == FK_MAX_BUFS) {
    fk_fail(fk, "too many tensors in one fused kernel");
    return -1;
  }
  char name[16];
  snprintf(name, sizeof name, "out%d", fk->n_bufs);
  int id = kir_buffer_param(fk->b, name, mlg_kir_scalar(fk->ctx->graph->nodes[tensor].type.dtype), KIR_WRITE);
  if (id < 0) {
    fk_fail(fk, "out of memory while building a fused kernel");
    return -1;
  }
  fk->buf_tensor[fk->n_bufs] = tensor;
  fk->buf_id[fk->n_bufs++] = id;
  return id;
}

static kir_expr *body_cb(kir_builder *b, kir_expr *index, kir_expr *base, int lane, int width,
                         void *user) {
  fk_t *fk = user;
  fk_reset(fk, b);
  fk->root_index = index;
  fk->vec_base = base;
  fk->lane = lane;
  fk->vec_width = width;
  pos p;
  pos_init(&p, &fk->ctx->graph->nodes[fk->group->root].type, index);
  kir_expr *v = eval(fk, fk->group->root, &p);
  /* Second roots have the root's shape: each is stored at the same element. Every load of this
   * element came before (the root's value needs them), so a second root may replace a tensor
   * the kernel reads. */
  for (int k = 0; k < fk->group->n_nodes && v; k++) {
    int s = fk->group->nodes[k];
    if (s == fk->group->root || fk->fu->role[s] != MLG_ROLE_ROOT) continue;
    kir_expr *sv = eval(fk, s, &p);
    int buf = out_buffer_of(fk, s);
    if (!sv || buf < 0) return NULL;
    kir_store(b, buf, index, sv);
  }
  return v;
}

/* body_cb for a group computed as vectors: `base` is the first of the work-item's elements. */
static kir_expr *body_vec_cb(kir_builder *b, kir_expr *base, void *user) {
  return body_cb(b, base, base, 0, 1, user);
}

/* A constant of one element, which fused code reads as a literal. */
static int scalar_const(const mlg_node *x) {
  return x->kind == MLG_NODE_CONST && x->data && mlg_type_numel(&x->type) == 1;
}

static int judge_vector(kir_builder *b, const kir_expr *formula, void *user) {
  (void)user;
  return formula && !kir_builder_failed(b) && formula->type.width == KT_EW_WHOLE_CPU &&
         formula->type.scalar == KIR_F32;
}

/* Whether elementwise node i's formula, built on a vector of KT_EW_WHOLE_CPU lanes per input
 * (a scalar per one-element constant, as fused code has them), is a vector of that width:
 * formulas that cast to a scalar are not. */
static int formula_vectorizes(const mlg_graph *g, int i) {
  const mlg_node *nd = &g->nodes[i];
  kir_type in[KT_EW_MAX_INPUTS];
  for (int k = 0; k < nd->n_inputs && k < KT_EW_MAX_INPUTS; k++)
    in[k] = kir_tv(KIR_F32, scalar_const(&g->nodes[nd->inputs[k]]) ? 1 : KT_EW_WHOLE_CPU);
  return mlg_probe_formula(g, i, in, judge_vector, NULL);
}

/* Whether input x (f32, broadcast to the root's type rt) gives the KT_EW_WHOLE_CPU lanes of a
 * work-item as one load: of the root's shape (the lanes themselves); else, when the root's rows
 * hold whole vectors, broadcast with the last dim kept (the lanes are consecutive in x's row) or
 * of last dim 1 (one element for every lane). */
static int input_vectorizes(const mlg_type *x, const mlg_type *rt) {
  if (mlg_type_equal(x, rt)) return 1;
  if (x->rank < 1 || rt->rank < 1 || rt->dims[rt->rank - 1] % KT_EW_WHOLE_CPU != 0) return 0;
  int64_t last = x->dims[x->rank - 1];
  return last == 1 || last == rt->dims[rt->rank - 1];
}

/* Whether group gr's members but `skip` (-1: none) vectorize: none an index op; each f32 of
 * type t, stored as f32, its formula a vector; each input of theirs computed in the group (no
 * index op), a constant of one element, or stored as f32 and of a type input_ok accepts. */
static int members_vectorize(const mlg_lower_ctx *ctx, const mlg_fusion *fu, const mlg_fusion_group *gr,
                             int gi, const mlg_type *t, int skip,
                             int (*input_ok)(const mlg_type *x, const mlg_type *t)) {
  const mlg_graph *g = ctx->graph;
  for (int k = 0; k < gr->n_nodes; k++) {
    int i = gr->nodes[k];
    const mlg_node *nd = &g->nodes[i];
    if (i == skip) continue;
    if (fu->role[i] == MLG_ROLE_INDEX || !mlg_type_equal(&nd->type, t) ||
        mlg_lowered_stored(g, ctx->out, i) != MLG_F32 || !formula_vectorizes(g, i))
      return 0;
    for (int j = 0; j < nd->n_inputs; j++) {
      int in = nd->inputs[j];
      const mlg_node *x = &g->nodes[in];
      if (fu->role[in] == MLG_ROLE_INDEX) return 0;
      if (fu->group_of[in] == gi || scalar_const(x)) continue;
      if (mlg_lowered_stored(g, ctx->out, in) != MLG_F32 || !input_ok(&x->type, t)) return 0;
    }
  }
  return 1;
}

/* Whether ELEMENTWISE group gr can compute KT_EW_WHOLE_CPU consecutive elements per work-item as
 * one explicit vector (OpenCL CPU: PoCL vectorizes a scalar kernel across 8 work-items, these
 * 16 lanes fill its AVX-512 units): its size a multiple of the width, its members of the
 * root's shape, every input read as input_vectorizes says. */
static int group_vectorizes(const mlg_lower_ctx *ctx, const mlg_fusion *fu, const mlg_fusion_group *gr, int gi) {
  const mlg_type *rt = &ctx->graph->nodes[gr->root].type;
  return mlg_lower_cpu_vectors(ctx) && mlg_type_numel(rt) % KT_EW_WHOLE_CPU == 0 &&
         members_vectorize(ctx, fu, gr, gi, rt, -1, input_vectorizes);
}

static kir_expr *prologue_cb(kir_builder *b, kir_expr *index, void *user) {
  fk_t *fk = user;
  fk_reset(fk, b);
  const mlg_node *a = &fk->ctx->graph->nodes[fk->group->anchor];
  pos p;
  pos_init(&p, &fk->ctx->graph->nodes[a->inputs[0]].type, index);
  return eval(fk, a->inputs[0], &p);
}

static kir_expr *epilogue_cb(kir_builder *b, kir_expr *value, const kt_out_pos *at, void *user) {
  fk_t *fk = user;
  fk_reset(fk, b);
  fk->anchor_value = as_var(fk, value, "acc_out");
  fk->anchor_lin = at->lin;
  /* A vector value (kt_epilogue.plane_vectors): inputs load as in a group computed as vectors. */
  fk->whole = value && value->type.width > 1 ? value->type.width : 0;
  pos p;
  pos_init(&p, &fk->ctx->graph->nodes[fk->group->root].type, fk->anchor_lin);
  kir_expr *v = eval(fk, fk->group->root, &p);
  fk->anchor_value = NULL;
  fk->whole = 0;
  return v;
}

/* Whether input x (f32, broadcast to rt) is of rt's shape or has one value over each plane of
 * rt's last two dims. */
static int plane_input(const mlg_type *x, const mlg_type *rt) {
  if (mlg_type_equal(x, rt)) return 1;
  for (int k = 1; k <= 2; k++)
    if (x->rank >= k && x->dims[x->rank - k] != 1) return 0;
  return rt->rank >= 2;
}

/* Whether anchored group gr's epilogue can take vectors of consecutive outputs inside one plane
 * of the last two dims (kt_epilogue.plane_vectors; OpenCL CPU): its members but the anchor of
 * the anchor's shape, every input as plane_input says. */
static int epilogue_vectorizes(const mlg_lower_ctx *ctx, const mlg_fusion *fu, const mlg_fusion_group *gr, int gi) {
  return mlg_lower_cpu_vectors(ctx) && gr->pre_anchor < 0 &&
         members_vectorize(ctx, fu, gr, gi, &ctx->graph->nodes[gr->anchor].type, gr->anchor, plane_input);
}

/* ---- helpers for anchor hooks (lower_util.h) ---- */

static fk_t *fused_for(mlg_lower_ctx *ctx, int node) {
  fk_t *fk = ctx->fused;
  return fk && fk->group->anchor == node ? fk : NULL;
}

int mlg_lower_store_tensor(mlg_lower_ctx *ctx, int node) {
  fk_t *fk = fused_for(ctx, node);
  return fk ? fk->group->root : node;
}

/* A kernel variant's fallback is built through the same callbacks: its builder declares the
 * buffers anew (each epilogue evaluates the whole root expression, so in the same order). */
static void epilogue_restart(void *user) {
  fk_t *fk = user;
  fk->n_bufs = 0;
}

kt_epilogue mlg_lower_epilogue(mlg_lower_ctx *ctx, int node) {
  fk_t *fk = fused_for(ctx, node);
  kt_epilogue e = {0};
  if (fk && fk->group->root != node)
    e = (kt_epilogue){epilogue_cb, fk, epilogue_restart,
                      epilogue_vectorizes(ctx, fk->fu, fk->group, fk->gi)};
  return e;
}

kt_prologue mlg_lower_prologue(mlg_lower_ctx *ctx, int node) {
  fk_t *fk = fused_for(ctx, node);
  kt_prologue p = {NULL, NULL};
  if (!fk) return p;
  int in = ctx->graph->nodes[node].inputs[0];
  if (fk->fu->role[in] == MLG_ROLE_INDEX || fk->fu->group_of[in] == fk->gi)
    p = (kt_prologue){prologue_cb, fk};
  return p;
}

int mlg_lower_pre_norm(mlg_lower_ctx *ctx, int node, mlg_row_norm *out) {
  fk_t *fk = fused_for(ctx, node);
  int pre = fk ? fk->group->pre_anchor : -1;
  if (pre < 0) return -1;
  const mlg_node *n = &ctx->graph->nodes[pre];
  if (!n->op->fusion.row_norm || n->op->fusion.row_norm(n, out)) return -1;
  return pre;
}

int mlg_lower_operand(mlg_lower_ctx *ctx, int node, int slot, mlg_layout *out) {
  const mlg_graph *g = ctx->graph;
  int at = g->nodes[node].inputs[slot];
  int chain[64], n_chain = 0;
  const mlg_fusion *fu = ctx->fusion;
  mlg_row_norm rn;
  if (mlg_lower_pre_norm(ctx, node, &rn) == at) at = g->nodes[at].inputs[0];
  while (fu && fu->role[at] == MLG_ROLE_INDEX) {
    if (n_chain == 64) return mlg_lower_fail(ctx, node, "operand chain too long");
    chain[n_chain++] = at;
    at = g->nodes[at].inputs[0];
  }
  mlg_layout_contiguous(&g->nodes[at].type, at, out);
  for (int i = n_chain - 1; i >= 0; i--) {
    mlg_index_map map;
    if (mlg_node_index_map(g, chain[i], &map) || mlg_layout_forward(out, &map))
      return mlg_lower_fail(ctx, node, "internal error: a folded operand is not a strided view");
  }
  return 0;
}

int mlg_lower_store_strides(mlg_lower_ctx *ctx, int node, int64_t strides[MLG_MAX_RANK]) {
  int64_t canon[MLG_MAX_RANK];
  int rank = mlg_node_iter_dims(ctx->graph, node, canon);
  if (rank < 0) return mlg_lower_fail(ctx, node, "internal error: no iteration dims");
  fk_t *fk = fused_for(ctx, node);
  if (fk && fk->group->root != node) {
    int r = mlg_fusion_store_strides(ctx->graph, fk->group->root, node, strides);
    if (r != rank) return mlg_lower_fail(ctx, node, "internal error: no strided store layout");
    return rank;
  }
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    strides[d] = canon[d] == 1 ? 0 : s;
    s *= canon[d];
  }
  return rank;
}

int mlg_lower_kernel_cost(const mlg_lower_ctx *ctx, int node, mlg_op_cost *out) {
  const fk_t *fk = ctx->fused;
  if (!fk || (fk->group->anchor != node && fk->group->root != node)) {
    mlg_node_cost(ctx->graph, node, out);
    return 1;
  }
  *out = (mlg_op_cost){0, 0};
  for (int k = 0; k < fk->group->n_nodes; k++) {
    mlg_op_cost c;
    mlg_node_cost(ctx->graph, fk->group->nodes[k], &c);
    out->flops += c.flops;
    out->bytes += c.bytes;
  }
  return fk->group->n_nodes;
}

const char *mlg_lower_fused_failure(const mlg_lower_ctx *ctx) {
  const fk_t *fk = ctx->fused;
  return fk && fk->failed ? fk->msg : NULL;
}

int mlg_lower_extra_args(mlg_lower_ctx *ctx, int node, int *args, int n_args, int cap) {
  fk_t *fk = fused_for(ctx, node);
  if (!fk) return n_args;
  if (fk->failed) return mlg_lower_fail(ctx, node, "%s", fk->msg);
  if (n_args + fk->n_bufs > cap)
    return mlg_lower_fail(ctx, node, "a fused kernel reads too many tensors");
  for (int i = 0; i < fk->n_bufs; i++) args[n_args++] = fk->buf_tensor[i];
  return n_args;
}

/* ---- groups ---- */

/* "linear_gelu": the group's op names in node order (repeats dropped), cut to fit. */
static void group_label(const mlg_graph *g, const mlg_fusion_group *gr, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
  const char *last = NULL;
  for (int k = 0; k < gr->n_nodes; k++) {
    const char *name = g->nodes[gr->nodes[k]].op->name;
    if (last && strcmp(last, name) == 0) continue;
    size_t len = strlen(name);
    if (n + len + (n ? 1 : 0) >= size) break;
    n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "_" : "", name);
    last = name;
  }
}

int mlg_lower_group(mlg_lower_ctx *ctx, int gi) {
  const mlg_fusion *fu = ctx->fusion;
  const mlg_fusion_group *gr = &fu->groups[gi];
  const mlg_graph *g = ctx->graph;
  const mlg_node *root = &g->nodes[gr->root];
  if (gr->kind == MLG_GROUP_SINGLE) {
    if (!root->op->lower) return mlg_lower_fail(ctx, gr->root, "no kernel for op '%s'", root->op->name);
    return root->op->lower(ctx, gr->root);
  }
  fk_t *fk = calloc(1, sizeof(*fk));
  char *spine = calloc((size_t)g->n_nodes, 1);
  if (!fk || !spine) {
    free(fk);
    free(spine);
    return mlg_lower_fail(ctx, gr->root, "out of memory while lowering");
  }
  *fk = (fk_t){.ctx = ctx, .fu = fu, .group = gr, .gi = gi, .spine = spine};
  char label[33];
  group_label(g, gr, label, sizeof label);
  int rc;
  if (gr->kind == MLG_GROUP_ELEMENTWISE) {
    mlg_kernel_build kb;
    ctx->group_label = label;
    mlg_lower_begin(ctx, gr->root, &kb);
    ctx->fused = fk; /* no anchor: only for mlg_lower_fused_failure */
    int64_t n = mlg_type_numel(&root->type);
    fk->whole = group_vectorizes(ctx, fu, gr, gi) ? KT_EW_WHOLE_CPU : 0;
    if (fk->whole)
      rc = kt_elementwise_body_vec(ctx->out->module, kb.name, n, fk->whole, body_vec_cb, fk, 0, &kb.kernel,
                                   kb.groups);
    else
      rc = kt_elementwise_body_lanes(ctx->out->module, kb.name, n, mlg_kir_scalar(root->type.dtype),
                                     ctx->device_class == KT_DEVICE_CPU ? KT_EW_VEC_WIDTH_CPU
                                                                        : KT_EW_VEC_WIDTH,
                                     body_cb, fk, 0, &kb.kernel, kb.groups);
    rc = mlg_lower_finish(ctx, gr->root, &kb, rc, fk->buf_tensor, fk->n_bufs);
    ctx->fused = NULL;
    ctx->group_label = NULL;
    for (int i = 0; rc == 0 && i < fk->n_bufs; i++)
      if (fk->buf_reads[i] == 1 && g->nodes[fk->buf_tensor[i]].type.dtype == root->type.dtype &&
          mlg_dtype_size(ctx->out->stored[gr->root]) == 4) { /* packed words are stored atomically */
        ctx->out->launches[ctx->out->n_launches - 1].inplace_arg = i;
        break;
      }
  } else {
    /* The epilogue: members that depend on the anchor, and index nodes between them. */
    spine[gr->anchor] = 1;
    for (int i = gr->anchor + 1; i <= gr->root; i++) {
      if (fu->group_of[i] != gi && fu->role[i] != MLG_ROLE_INDEX) continue;
      for (int k = 0; k < g->nodes[i].n_inputs; k++) spine[i] |= spine[g->nodes[i].inputs[k]];
    }
    spine[gr->anchor] = 0;
    const mlg_node *a = &g->nodes[gr->anchor];
    ctx->fused = fk;
    ctx->group_label = label;
    rc = a->op->lower ? a->op->lower(ctx, gr->anchor)
                      : mlg_lower_fail(ctx, gr->anchor, "no kernel for op '%s'", a->op->name);
    ctx->fused = NULL;
    ctx->group_label = NULL;
    if (rc == 0 && fk->failed) rc = mlg_lower_fail(ctx, gr->root, "%s", fk->msg);
  }
  free(spine);
  free(fk);
  return rc;
}

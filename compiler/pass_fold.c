/* pass_fold.c — constant folding: an op node whose inputs are all consts is computed at compile
 * time and becomes a const (keeping the node's name and span). Handled:
 *   - elementwise ops, through their scalar formula (op->scalar) evaluated by kir_eval with
 *     float32 semantics and NumPy broadcasting; an op without a formula is left alone;
 *   - index ops, through their index map (op.h): a view's data under the new type, a
 *     transpose's permuted, a slice's gathered.
 * Results above MLG_FOLD_MAX_NUMEL elements are not folded: a kernel is cheaper than the bytes
 * it would add to every bundle. Folding walks the graph in order and looks at the nodes it has
 * already built, so a chain of foldable ops collapses in one run. */
#include <stdlib.h>
#include <string.h>

#include "kir.h"
#include "kir_eval.h"
#include "lower_util.h"
#include "op.h"
#include "optimize.h"

enum { FOLD_MAX_INPUTS = 8 };

/* The type a dtype's values compute in (f16 → f32; bool, i8, u8, i64 → i32 or bool). */
static kir_scalar kir_scalar_of(mlg_ir_dtype d) { return kir_compute_scalar(mlg_kir_scalar(d)); }

static kir_value read_value(const mlg_node *c, int64_t i) {
  double v = mlg_data_get(c->type.dtype, c->data, i);
  switch (kir_scalar_of(c->type.dtype)) {
  case KIR_F32: return kir_value_f32((float)v);
  case KIR_BOOL: return kir_value_bool(v != 0);
  default: return kir_value_i32((int32_t)v);
  }
}

/* As the kernel stores it: converted to the dtype's compute type, then to its storage. */
static void write_value(void *data, mlg_ir_dtype dtype, int64_t i, kir_value v) {
  mlg_data_set(dtype, data, i, kir_value_as_double(kir_value_convert(v, kir_scalar_of(dtype))));
}

/* Element strides of `in` seen from an output of rank `rank` (NumPy broadcasting: dims are
 * aligned on the right; a dim of 1, or a missing one, has stride 0). */
static void broadcast_strides(const mlg_type *in, int rank, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    int k = d - (rank - in->rank);
    if (k < 0) {
      st[d] = 0;
      continue;
    }
    st[d] = in->dims[k] == 1 ? 0 : s;
    s *= in->dims[k];
  }
}

/* Evaluates old's scalar formula over the const inputs c[0..n) into out. Returns 0, or -1 when
 * the formula cannot be built or evaluated (the node is then left as it is). */
static int fold_elementwise(kir_module *m, const mlg_node *old, const mlg_node *const *c,
                            void *out) {
  int n = old->n_inputs;
  if (n < 1 || n > FOLD_MAX_INPUTS) return -1;
  kir_builder *b = kir_kernel_begin(m, "fold", 1, 1, 1);
  if (!b) return -1;
  kir_expr *leaves[FOLD_MAX_INPUTS];
  for (int k = 0; k < n; k++) {
    int v = kir_var_new(b, "in", kir_t(kir_scalar_of(c[k]->type.dtype)));
    leaves[k] = v == k ? kir_var(b, v) : NULL;
  }
  kir_expr *f = kir_builder_failed(b) ? NULL : old->op->scalar(b, leaves, old);
  int rc = f && !kir_builder_failed(b) ? 0 : -1;

  const mlg_type *t = &old->type;
  int64_t numel = mlg_type_numel(t);
  int64_t st[FOLD_MAX_INPUTS][MLG_MAX_RANK], off[FOLD_MAX_INPUTS] = {0};
  int64_t coord[MLG_MAX_RANK] = {0};
  kir_value vals[FOLD_MAX_INPUTS];
  kir_eval_env env = {.n_vars = n, .vars = vals};
  for (int k = 0; k < n; k++) broadcast_strides(&c[k]->type, t->rank, st[k]);
  for (int64_t i = 0; rc == 0 && i < numel; i++) {
    for (int k = 0; k < n; k++) vals[k] = read_value(c[k], off[k]);
    kir_value v;
    if (kir_eval(f, &env, &v) != 0) {
      rc = -1;
      break;
    }
    write_value(out, t->dtype, i, v);
    /* Odometer over the output coordinates, moving each input's offset along. */
    for (int d = t->rank - 1; d >= 0; d--) {
      for (int k = 0; k < n; k++) off[k] += st[k][d];
      if (++coord[d] < t->dims[d]) break;
      for (int k = 0; k < n; k++) off[k] -= st[k][d] * coord[d];
      coord[d] = 0;
    }
  }
  kir_kernel_end(b, NULL); /* frees the builder; the scratch kernel dies with the module */
  return rc;
}

/* An index op's output gathered from its const input through the op's map (op.h): a view's
 * bytes as they are; otherwise out[c] = in[start + step · c] along each output dim's axis. */
static void fold_index(const mlg_index_map *m, const mlg_node *in, void *out) {
  size_t esize = (size_t)mlg_dtype_size(in->type.dtype);
  int64_t numel = 1;
  for (int d = 0; d < m->rank; d++) numel *= m->dims[d];
  if (m->kind == MLG_INDEX_SAME_ORDER) {
    memcpy(out, in->data, (size_t)numel * esize);
    return;
  }
  int64_t in_st[MLG_MAX_RANK], st[MLG_MAX_RANK], coord[MLG_MAX_RANK] = {0}, off = 0, s = 1;
  for (int d = m->in_rank - 1; d >= 0; d--) {
    in_st[d] = s;
    s *= m->in_dims[d];
  }
  for (int d = 0; d < m->rank; d++) {
    st[d] = in_st[m->axis[d]] * m->step[d];
    off += in_st[m->axis[d]] * m->start[d];
  }
  for (int64_t i = 0; i < numel; i++) {
    memcpy((char *)out + i * (int64_t)esize, (const char *)in->data + off * (int64_t)esize, esize);
    for (int d = m->rank - 1; d >= 0; d--) {
      off += st[d];
      if (++coord[d] < m->dims[d]) break;
      off -= st[d] * coord[d];
      coord[d] = 0;
    }
  }
}

/* Tries to fold old node i; returns the new const's id, or -1 to copy the node instead (or on
 * allocation failure, which sets rw->failed). */
static int try_fold(mlg_rewriter *rw, kir_module **m, int i) {
  const mlg_node *old = &rw->src->nodes[i];
  if (old->kind != MLG_NODE_OP || !old->op || old->n_inputs < 1 ||
      old->n_inputs > FOLD_MAX_INPUTS)
    return -1;
  const mlg_graph *built = rw->builder.graph;
  const mlg_node *c[FOLD_MAX_INPUTS];
  for (int k = 0; k < old->n_inputs; k++) {
    int id = rw->map[old->inputs[k]];
    if (id < 0 || built->nodes[id].kind != MLG_NODE_CONST || !built->nodes[id].data) return -1;
    c[k] = &built->nodes[id];
  }
  int64_t numel = mlg_type_numel(&old->type);
  if (numel < 1 || numel > MLG_FOLD_MAX_NUMEL) return -1;

  const mlg_op_def *op = old->op;
  mlg_index_map map;
  int elementwise = op->cls == MLG_OPC_ELEMENTWISE && op->scalar;
  int index = mlg_node_is_index(old) && mlg_index_map_of(old, &c[0]->type, &map) == 0 &&
              c[0]->type.dtype == old->type.dtype;
  if (!elementwise && !index) return -1;

  void *data = malloc((size_t)numel * (size_t)mlg_dtype_size(old->type.dtype));
  if (!data) {
    rw->failed = 1;
    return -1;
  }
  int rc = 0;
  if (elementwise) {
    if (!*m) *m = kir_module_new();
    rc = *m ? fold_elementwise(*m, old, c, data) : -1;
  } else {
    fold_index(&map, c[0], data);
  }
  int id = -1;
  if (rc == 0) {
    mlg_node k = {.kind = MLG_NODE_CONST, .name = old->name, .type = old->type,
                  .span = old->span, .data = data};
    id = mlg_graph_add(&rw->builder, &k);
    if (id < 0) rw->failed = 1;
    else rw->map[i] = id;
  }
  free(data);
  return id;
}

mlg_graph *mlg_pass_fold_n(const mlg_graph *g, int *out_rewrites) {
  mlg_rewriter rw;
  int folded = 0;
  if (out_rewrites) *out_rewrites = 0;
  if (mlg_rewriter_init(&rw, g) != 0) return NULL;
  kir_module *m = NULL; /* scratch for the formulas, made on first use */
  for (int i = 0; i < g->n_nodes && !rw.failed; i++) {
    if (try_fold(&rw, &m, i) >= 0) folded++;
    else if (!rw.failed) mlg_rewriter_copy(&rw, i);
  }
  kir_module_free(m);
  if (out_rewrites) *out_rewrites = folded;
  return mlg_rewriter_finish(&rw);
}

mlg_graph *mlg_pass_fold(const mlg_graph *g) { return mlg_pass_fold_n(g, NULL); }

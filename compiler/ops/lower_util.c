/* lower_util.c — helpers for op lowering hooks, and the hooks of the shape ops (transpose,
 * slice, concat, gather), which map a node onto the templates of codegen/templates/shape.h. */
#include "../lower_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../gemm_tuning.h"
#include "../op.h"
#include "templates/matmul.h"
#include "templates/shape.h"

kir_scalar mlg_kir_scalar(mlg_ir_dtype dtype) { return dtype == MLG_I32 ? KIR_I32 : KIR_F32; }

void mlg_contiguous_strides(const mlg_type *t, int64_t out_strides[MLG_MAX_RANK]) {
  int64_t s = 1;
  for (int d = t->rank - 1; d >= 0; d--) {
    out_strides[d] = s;
    s *= t->dims[d];
  }
}

const mlg_attr *mlg_node_attr(const mlg_node *node, const char *name) {
  if (!node->op) return NULL;
  int i = mlg_op_attr_index(node->op, name);
  if (i < 0 || i >= MLG_MAX_ATTRS || node->attrs[i].kind == MLG_ATTR_NONE) return NULL;
  return &node->attrs[i];
}

int64_t mlg_node_attr_int(const mlg_node *node, const char *name, int64_t dflt) {
  const mlg_attr *a = mlg_node_attr(node, name);
  if (!a || a->n < 1) return dflt;
  return a->kind == MLG_ATTR_FLOAT ? (int64_t)a->f : a->ints[0];
}

double mlg_node_attr_float(const mlg_node *node, const char *name, double dflt) {
  const mlg_attr *a = mlg_node_attr(node, name);
  if (!a) return dflt;
  return a->kind == MLG_ATTR_FLOAT ? a->f : (double)a->ints[0];
}

const char *mlg_lower_kernel_name(mlg_lower_ctx *ctx, const char *op_name, char *buf,
                                  size_t size) {
  snprintf(buf, size, "k_%s", ctx->group_label ? ctx->group_label : op_name);
  return buf;
}

int mlg_lower_fail(mlg_lower_ctx *ctx, int node, const char *fmt, ...) {
  mlg_span span = {0, 0};
  if (node >= 0 && node < ctx->graph->n_nodes) span = ctx->graph->nodes[node].span;
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(ctx->diag, MLG_DIAG_ERROR, span, fmt, ap);
  va_end(ap);
  return -1;
}

int mlg_lower_emit(mlg_lower_ctx *ctx, int node, kir_kernel *kernel, const int64_t groups[3],
                   const int *args, int n_args) {
  if (ctx->launch(ctx, kernel, args, n_args, groups[0], groups[1], groups[2]))
    return mlg_lower_fail(ctx, node, "out of memory while lowering");
  return 0;
}

int mlg_lower_emit_anchor(mlg_lower_ctx *ctx, int node, kir_kernel *kernel,
                          const int64_t groups[3], int n_inputs, int prologue_fused) {
  const mlg_node *n = &ctx->graph->nodes[node];
  int args[40], n_args = 0;
  for (int i = prologue_fused ? 1 : 0; i < n_inputs; i++) args[n_args++] = n->inputs[i];
  args[n_args++] = mlg_lower_store_tensor(ctx, node);
  n_args = mlg_lower_extra_args(ctx, node, args, n_args, 40);
  if (n_args < 0) return -1;
  return mlg_lower_emit(ctx, node, kernel, groups, args, n_args);
}

int mlg_lower_matmul_kernel(mlg_lower_ctx *ctx, const char *name, kt_matmul_desc *d,
                            kir_kernel **out_kernel, int64_t out_groups[3]) {
  d->device_class = ctx->device_class;
  d->subgroups = ctx->subgroups;
  d->max_vec = mlg_lower_max_vec(ctx);
  d->local_mem_bytes = ctx->local_mem_bytes;
  kt_matmul_desc tuned = *d;
  if (mlg_gemm_tuning_apply(ctx->gemm_tuning, &tuned) &&
      kt_matmul(ctx->out->module, name, &tuned, out_kernel, out_groups) == 0)
    return 0;
  return kt_matmul(ctx->out->module, name, d, out_kernel, out_groups);
}

int mlg_lower_copy(mlg_lower_ctx *ctx, int node, int src, int dst, int64_t numel,
                   mlg_ir_dtype dtype) {
  char name[48];
  kir_kernel *k;
  int64_t groups[3];
  mlg_lower_kernel_name(ctx, "copy", name, sizeof(name));
  if (kt_copy(ctx->out->module, name, numel, mlg_kir_scalar(dtype), &k, groups))
    return mlg_lower_fail(ctx, node, "cannot build the copy kernel %s", name);
  int args[2] = {src, dst};
  return mlg_lower_emit(ctx, node, k, groups, args, 2);
}

void mlg_layout_contiguous(const mlg_type *t, int tensor, mlg_layout *out) {
  memset(out, 0, sizeof(*out));
  out->tensor = tensor;
  out->rank = t->rank;
  int64_t s = 1;
  for (int d = t->rank - 1; d >= 0; d--) {
    out->dims[d] = t->dims[d];
    out->strides[d] = t->dims[d] == 1 ? 0 : s;
    s *= t->dims[d];
  }
}

/* Groups runs of old dims (size-1 dims dropped) whose product equals a run of new dims; a run
 * of old dims must be contiguous among itself (stride_k = dim_{k+1} · stride_{k+1}), and the
 * new dims of the run get strides from its innermost stride outwards. */
int mlg_layout_reshape(const mlg_layout *l, int new_rank, const int64_t *new_dims,
                       mlg_layout *out) {
  int64_t od[MLG_MAX_RANK], os[MLG_MAX_RANK], ns[MLG_MAX_RANK];
  int on = 0;
  int64_t n_old = 1, n_new = 1;
  if (new_rank < 0 || new_rank > MLG_MAX_RANK) return -1;
  for (int d = 0; d < l->rank; d++) {
    n_old *= l->dims[d];
    if (l->dims[d] != 1) {
      od[on] = l->dims[d];
      os[on++] = l->strides[d];
    }
  }
  for (int d = 0; d < new_rank; d++) n_new *= new_dims[d];
  if (n_old != n_new) return -1;
  int oi = 0, ni = 0;
  while (ni < new_rank) {
    if (new_dims[ni] == 1) {
      ns[ni++] = 0;
      continue;
    }
    if (oi >= on) return -1;
    /* One run: old dims [oi, oj) against new dims [ni, nj) with equal products. */
    int oj = oi + 1, nj = ni + 1;
    int64_t po = od[oi], pn = new_dims[ni];
    while (po != pn) {
      if (pn < po) {
        if (nj >= new_rank) return -1;
        pn *= new_dims[nj++];
      } else {
        if (oj >= on) return -1;
        po *= od[oj++];
      }
    }
    for (int k = oi; k + 1 < oj; k++)
      if (os[k] != od[k + 1] * os[k + 1]) return -1;
    int64_t s = os[oj - 1];
    for (int k = nj - 1; k >= ni; k--) {
      ns[k] = new_dims[k] == 1 ? 0 : s;
      s *= new_dims[k];
    }
    oi = oj;
    ni = nj;
  }
  if (oi != on) return -1;
  mlg_layout r = *l;
  r.rank = new_rank;
  for (int d = 0; d < new_rank; d++) {
    r.dims[d] = new_dims[d];
    r.strides[d] = ns[d];
  }
  *out = r;
  return 0;
}

int mlg_is_index_op(const mlg_node *n) {
  if (n->kind != MLG_NODE_OP || !n->op) return 0;
  if (n->op->cls == MLG_OPC_VIEW) return 1;
  return n->op->lower == mlg_lower_transpose || n->op->lower == mlg_lower_slice;
}

int mlg_layout_through(const mlg_node *n, mlg_layout *l) {
  if (!mlg_is_index_op(n)) return -1;
  const mlg_type *t = &n->type;
  if (n->op->cls == MLG_OPC_VIEW) return mlg_layout_reshape(l, t->rank, t->dims, l);
  if (n->op->lower == mlg_lower_transpose) {
    const mlg_attr *perm = mlg_node_attr(n, "perm");
    if (!perm || perm->n != l->rank || t->rank != l->rank) return -1;
    mlg_layout r = *l;
    for (int d = 0; d < l->rank; d++) {
      int p = (int)perm->ints[d];
      if (p < 0 || p >= l->rank) return -1;
      r.dims[d] = l->dims[p];
      r.strides[d] = l->strides[p];
    }
    *l = r;
    return 0;
  }
  const mlg_attr *starts = mlg_node_attr(n, "starts"), *steps = mlg_node_attr(n, "steps");
  if (!starts || starts->n != l->rank || t->rank != l->rank) return -1;
  for (int d = 0; d < l->rank; d++) {
    int64_t step = steps && steps->n == l->rank ? steps->ints[d] : 1;
    l->offset += starts->ints[d] * l->strides[d];
    l->strides[d] = t->dims[d] == 1 ? 0 : l->strides[d] * step;
    l->dims[d] = t->dims[d];
  }
  return 0;
}

int mlg_matmul_canon_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]) {
  const mlg_node *n = &g->nodes[node];
  if (n->kind != MLG_NODE_OP || !n->op || n->op->cls != MLG_OPC_MATMUL || n->n_inputs < 2)
    return -1;
  const mlg_type *a = &g->nodes[n->inputs[0]].type, *b = &g->nodes[n->inputs[1]].type;
  if (strcmp(n->op->name, "linear") == 0) {
    int64_t numel = mlg_type_numel(&n->type), cols = n->type.dims[n->type.rank - 1];
    dims[0] = numel / cols;
    dims[1] = cols;
    return 2;
  }
  int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
  int nb = ra > rb ? ra : rb;
  if (nb + 2 > MLG_MAX_RANK) return -1;
  for (int i = 0; i < nb; i++) {
    int ia = i - (nb - ra), ib = i - (nb - rb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    dims[i] = da > db ? da : db;
  }
  dims[nb] = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  dims[nb + 1] = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  return nb + 2;
}

static const mlg_node *node_at(mlg_lower_ctx *ctx, int node) { return &ctx->graph->nodes[node]; }

static const mlg_type *input_type(mlg_lower_ctx *ctx, const mlg_node *n, int k) {
  return &ctx->graph->nodes[n->inputs[k]].type;
}

/* Builds the launch args: every input of the node, then the node itself. */
static int node_args(const mlg_node *n, int node, int *args, int cap) {
  if (n->n_inputs + 1 > cap) return -1;
  for (int k = 0; k < n->n_inputs; k++) args[k] = n->inputs[k];
  args[n->n_inputs] = node;
  return n->n_inputs + 1;
}

int mlg_lower_transpose(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = node_at(ctx, node);
  const mlg_type *x = input_type(ctx, n, 0);
  const mlg_attr *perm = mlg_node_attr(n, "perm");
  kt_transpose_desc d = {.rank = x->rank, .dtype = mlg_kir_scalar(x->dtype)};
  for (int k = 0; k < x->rank; k++) {
    d.shape[k] = x->dims[k];
    d.perm[k] = perm && perm->n == x->rank ? (int)perm->ints[k] : x->rank - 1 - k;
  }
  char name[48];
  kir_kernel *kern;
  int64_t groups[3];
  mlg_lower_kernel_name(ctx, n->op->name, name, sizeof(name));
  if (kt_transpose(ctx->out->module, name, &d, &kern, groups))
    return mlg_lower_fail(ctx, node, "transpose: cannot build kernel %s", name);
  int args[2] = {n->inputs[0], node};
  return mlg_lower_emit(ctx, node, kern, groups, args, 2);
}

int mlg_lower_slice(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = node_at(ctx, node);
  const mlg_type *x = input_type(ctx, n, 0);
  const mlg_attr *starts = mlg_node_attr(n, "starts"), *steps = mlg_node_attr(n, "steps");
  /* The shape rule normalized starts and steps to one absolute entry per dim; the output type
   * gives the counts. (Ends are not needed, and after normalization -1 means "before 0".) */
  if (!starts || starts->n != x->rank || n->type.rank != x->rank)
    return mlg_lower_fail(ctx, node, "slice: attributes are not normalized to rank %d", x->rank);
  kt_slice_desc d = {.rank = x->rank, .dtype = mlg_kir_scalar(x->dtype)};
  for (int k = 0; k < x->rank; k++) {
    d.in_shape[k] = x->dims[k];
    d.start[k] = starts->ints[k];
    d.step[k] = steps && steps->n == x->rank ? steps->ints[k] : 1;
    d.out_shape[k] = n->type.dims[k];
  }
  char name[48];
  kir_kernel *kern;
  int64_t groups[3];
  mlg_lower_kernel_name(ctx, n->op->name, name, sizeof(name));
  if (kt_slice(ctx->out->module, name, &d, &kern, groups))
    return mlg_lower_fail(ctx, node, "slice: cannot build kernel %s", name);
  int args[2] = {n->inputs[0], node};
  return mlg_lower_emit(ctx, node, kern, groups, args, 2);
}

int mlg_lower_concat(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = node_at(ctx, node);
  int rank = n->type.rank;
  int axis = mlg_normalize_axis(mlg_node_attr_int(n, "axis", 0), rank);
  if (axis < 0) return mlg_lower_fail(ctx, node, "concat: axis out of range");
  if (n->n_inputs > KT_CONCAT_MAX_INPUTS)
    return mlg_lower_fail(ctx, node, "concat: %d inputs; at most %d are supported", n->n_inputs,
                          KT_CONCAT_MAX_INPUTS);
  kt_concat_desc d = {.rank = rank, .axis = axis, .n_inputs = n->n_inputs,
                      .dtype = mlg_kir_scalar(n->type.dtype)};
  for (int k = 0; k < rank; k++) d.shape[k] = n->type.dims[k];
  for (int k = 0; k < n->n_inputs; k++) d.axis_size[k] = input_type(ctx, n, k)->dims[axis];
  char name[48];
  kir_kernel *kern;
  int64_t groups[3];
  mlg_lower_kernel_name(ctx, n->op->name, name, sizeof(name));
  if (kt_concat(ctx->out->module, name, &d, &kern, groups))
    return mlg_lower_fail(ctx, node, "concat: cannot build kernel %s", name);
  int args[KT_CONCAT_MAX_INPUTS + 1];
  int n_args = node_args(n, node, args, KT_CONCAT_MAX_INPUTS + 1);
  return mlg_lower_emit(ctx, node, kern, groups, args, n_args);
}

int mlg_lower_gather(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = node_at(ctx, node);
  const mlg_type *x = input_type(ctx, n, 0), *idx = input_type(ctx, n, 1);
  int axis = mlg_normalize_axis(mlg_node_attr_int(n, "axis", 0), x->rank);
  if (axis < 0) return mlg_lower_fail(ctx, node, "gather: axis out of range");
  kt_gather_desc d = {.rank = x->rank, .axis = axis, .n_indices = mlg_type_numel(idx),
                      .dtype = mlg_kir_scalar(x->dtype), .index_dtype = mlg_kir_scalar(idx->dtype)};
  for (int k = 0; k < x->rank; k++) d.shape[k] = x->dims[k];
  char name[48];
  kir_kernel *kern;
  int64_t groups[3];
  mlg_lower_kernel_name(ctx, n->op->name, name, sizeof(name));
  if (kt_gather(ctx->out->module, name, &d, &kern, groups))
    return mlg_lower_fail(ctx, node, "gather: cannot build kernel %s", name);
  int args[3] = {n->inputs[0], n->inputs[1], node};
  return mlg_lower_emit(ctx, node, kern, groups, args, 3);
}

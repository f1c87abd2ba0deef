/* lower.c — the lowering driver: graph nodes in order → kernel launches (see lower.h).
 *
 * Leaves (inputs, params, consts) get no launch. Unfused, elementwise ops go through the
 * broadcasting template with the op's scalar formula; views become aliases; every other op
 * calls its own lower hook. Fused, each group is lowered at its root (lower_group.c).
 * Launch arguments always name the tensor that owns the bytes: ctx->launch maps each argument
 * through alias_of, so later stages never have to. */
#include "lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "lower_group.h"
#include "lower_util.h"
#include "op.h"
#include "templates/elementwise.h"
#include "templates/matmul.h"

typedef struct lower_state {
  mlg_lower_ctx ctx; /* first: hooks receive &state->ctx */
  int cap_launches;
  int cap_tensors;
  /* Per graph update: the first launch that binds its value (computes it) and the last launch
   * that binds its target leaf (reads the value it had when the step began). */
  int *update_write, *update_last_read;
  /* The kernels kept so far (distinct ones, in order of first launch) and their hashes. */
  int n_kept, cap_kept;
  kir_kernel **kept;
  uint64_t *kept_hash;
} lower_state;

static int root_of(const mlg_lowered *lw, int t) {
  for (int guard = 0; guard <= lw->n_tensors && t >= 0 && lw->alias_of[t] >= 0; guard++)
    t = lw->alias_of[t];
  return t;
}

/* Whether a kept kernel is called `name`. */
static int name_in_use(const lower_state *st, const char *name) {
  for (int i = 0; i < st->n_kept; i++)
    if (strcmp(st->kept[i]->name, name) == 0) return 1;
  return 0;
}

/* The kept kernel equal to `kernel` (kir_kernel_equal: the same code apart from its name), or
 * `kernel` itself, now kept under a name unique among the kept ones (its own, else the first
 * free of name_2, name_3, ...). A duplicate leaves the
 * module, so the module holds each distinct kernel once and launches share it. NULL on
 * allocation failure. */
static kir_kernel *keep_kernel(lower_state *st, kir_kernel *kernel) {
  for (int i = 0; i < st->n_kept; i++)
    if (st->kept[i] == kernel) return kernel;
  /* A variant's fallback is kept first (deduplicated like any kernel), so the kept variant
   * points at the kept copy. */
  if (kernel->fallback) {
    kir_kernel *fb = keep_kernel(st, kernel->fallback);
    if (!fb) return NULL;
    kernel->fallback = fb;
  }
  uint64_t h = kir_kernel_hash(kernel);
  for (int i = 0; i < st->n_kept; i++)
    if (st->kept_hash[i] == h && kir_kernel_equal(st->kept[i], kernel)) {
      kir_module_remove(st->ctx.out->module, kernel);
      return st->kept[i];
    }
  if (st->n_kept == st->cap_kept) {
    int cap = st->cap_kept ? st->cap_kept * 2 : 32;
    kir_kernel **k = realloc(st->kept, (size_t)cap * sizeof(*k));
    if (!k) return NULL;
    st->kept = k;
    uint64_t *hs = realloc(st->kept_hash, (size_t)cap * sizeof(*hs));
    if (!hs) return NULL;
    st->kept_hash = hs;
    st->cap_kept = cap;
  }
  if (name_in_use(st, kernel->name)) {
    char base[64], name[80];
    snprintf(base, sizeof base, "%s", kernel->name);
    int renamed = 0;
    for (int n = 2; !renamed && n < 1000000; n++) {
      snprintf(name, sizeof name, "%s_%d", base, n);
      renamed = !name_in_use(st, name) && kir_kernel_rename(st->ctx.out->module, kernel, name) == 0;
    }
    if (!renamed) return NULL;
  }
  st->kept[st->n_kept] = kernel;
  st->kept_hash[st->n_kept++] = h;
  return kernel;
}

/* The kernel as it reads and writes the tensors `args` (one per buffer): a buffer a template
 * declared F32 that is bound to a tensor stored as f16 (precision.h) stores halves. NULL on
 * allocation failure, or a buffer of another type bound to such a tensor (the module's error
 * says which). */
static kir_kernel *with_storage(mlg_lower_ctx *ctx, kir_kernel *kernel, const int *args) {
  const mlg_lowered *lw = ctx->out;
  kir_scalar *elem = malloc(sizeof(*elem) * (size_t)(kernel->n_buffers ? kernel->n_buffers : 1));
  if (!elem) return NULL;
  for (int i = 0; i < kernel->n_buffers; i++) {
    int t = args[i] >= 0 && args[i] < lw->n_tensors ? root_of(lw, args[i]) : -1;
    elem[i] = kernel->buffers[i].elem.scalar;
    /* Temporaries are the kernels' own scratch: stored as declared. */
    if (t < 0 || t >= ctx->graph->n_nodes || lw->stored[t] != MLG_F16 ||
        ctx->graph->nodes[t].type.dtype == MLG_F16 || elem[i] == KIR_F16 /* built for halves */)
      continue;
    if (elem[i] != KIR_F32) {
      kir_module_set_error(lw->module, "internal error: kernel %s binds tensor %d, stored as f16, to "
                           "its buffer %s of another type", kernel->name, t, kernel->buffers[i].name);
      free(elem);
      return NULL;
    }
    elem[i] = KIR_F16;
  }
  kir_kernel *out = NULL;
  int rc = kir_kernel_with_storage(lw->module, kernel, elem, &out);
  free(elem);
  return rc == 0 ? out : NULL;
}

mlg_ir_dtype mlg_lowered_stored(const mlg_graph *g, const mlg_lowered *lw, int t) {
  if (t < g->n_nodes) return lw->stored ? lw->stored[t] : g->nodes[t].type.dtype;
  for (int o = 0; o < lw->n_outputs; o++)
    if (lw->output_tensor[o] == t) return g->nodes[g->outputs[o].node].type.dtype;
  return MLG_F32;
}

static int ctx_launch(mlg_lower_ctx *ctx, kir_kernel *kernel, const int *args, int n_args,
                      int64_t gx, int64_t gy, int64_t gz) {
  lower_state *st = (lower_state *)ctx;
  mlg_lowered *lw = ctx->out;
  if (!kernel || n_args < 0) return -1;
  if (n_args != kernel->n_buffers) return -1;
  kernel = with_storage(ctx, kernel, args);
  if (!kernel) return -1;
  kernel = keep_kernel(st, kernel);
  if (!kernel) return -1;
  if (lw->n_launches == st->cap_launches) {
    int cap = st->cap_launches ? st->cap_launches * 2 : 32;
    mlg_launch *p = realloc(lw->launches, (size_t)cap * sizeof(*p));
    if (!p) return -1;
    lw->launches = p;
    int *ln = realloc(lw->launch_node, (size_t)cap * sizeof(int));
    if (!ln) return -1;
    lw->launch_node = ln;
    st->cap_launches = cap;
  }
  int *copy = malloc((size_t)(n_args ? n_args : 1) * sizeof(int));
  if (!copy) return -1;
  for (int i = 0; i < n_args; i++) {
    if (args[i] < 0 || args[i] >= lw->n_tensors) {
      free(copy);
      return -1;
    }
    copy[i] = root_of(lw, args[i]);
    const mlg_graph *g = ctx->graph;
    for (int u = 0; u < g->n_updates; u++) {
      if (args[i] == g->updates[u].target) st->update_last_read[u] = lw->n_launches;
      if (args[i] == g->updates[u].value && st->update_write[u] < 0) st->update_write[u] = lw->n_launches;
    }
  }
  lw->launch_node[lw->n_launches] = ctx->current;
  mlg_launch *l = &lw->launches[lw->n_launches++];
  l->kernel = kernel;
  l->n_args = n_args;
  l->args = copy;
  l->groups[0] = gx;
  l->groups[1] = gy;
  l->groups[2] = gz;
  l->inplace_arg = -1;
  l->flops = l->bytes = 0;
  return 0;
}

static int ctx_temp(mlg_lower_ctx *ctx, int64_t bytes) {
  lower_state *st = (lower_state *)ctx;
  mlg_lowered *lw = ctx->out;
  int n_nodes = ctx->graph->n_nodes;
  if (bytes < 0) return -1;
  if (lw->n_tensors == st->cap_tensors) {
    int cap = st->cap_tensors * 2;
    int *a = realloc(lw->alias_of, (size_t)cap * sizeof(int));
    if (!a) return -1;
    lw->alias_of = a;
    int64_t *tb = realloc(lw->temp_bytes, (size_t)(cap - n_nodes + 1) * sizeof(int64_t));
    if (!tb) return -1;
    lw->temp_bytes = tb;
    int *td = realloc(lw->temp_dtype, (size_t)(cap - n_nodes + 1) * sizeof(int));
    if (!td) return -1;
    lw->temp_dtype = td;
    st->cap_tensors = cap;
  }
  int id = lw->n_tensors++;
  lw->alias_of[id] = -1;
  lw->temp_bytes[id - n_nodes] = bytes;
  lw->temp_dtype[id - n_nodes] = MLG_F32;
  return id;
}

static void ctx_temp_dtype(mlg_lower_ctx *ctx, int tensor, mlg_ir_dtype dtype) {
  mlg_lowered *lw = ctx->out;
  int n_nodes = ctx->graph->n_nodes;
  if (tensor >= n_nodes && tensor < lw->n_tensors) lw->temp_dtype[tensor - n_nodes] = (int)dtype;
}

static void ctx_alias(mlg_lower_ctx *ctx, int node, int of) {
  mlg_lowered *lw = ctx->out;
  if (node < 0 || node >= lw->n_tensors || of < 0 || of >= lw->n_tensors) return;
  int root = root_of(lw, of);
  if (root != node) lw->alias_of[node] = root;
}

void mlg_lowered_free(mlg_lowered *lw) {
  if (!lw) return;
  for (int i = 0; i < lw->n_launches; i++) free(lw->launches[i].args);
  free(lw->launches);
  free(lw->alias_of);
  free(lw->temp_bytes);
  free(lw->temp_dtype);
  free(lw->output_tensor);
  free(lw->launch_node);
  free(lw->stored);
  kir_module_free(lw->module);
  free(lw);
}

/* op->scalar takes the node; the template passes an opaque pointer. */
static kir_expr *scalar_trampoline(kir_builder *b, kir_expr **in, const void *user) {
  const mlg_node *n = user;
  return n->op->scalar(b, in, n);
}

static int lower_elementwise(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  if (!n->op->scalar) return mlg_lower_fail(ctx, node, "no kernel for op '%s'", n->op->name);
  if (n->n_inputs < 1 || n->n_inputs > KT_EW_MAX_INPUTS)
    return mlg_lower_fail(ctx, node, "%s: %d inputs; the elementwise kernel takes 1 to %d",
                          n->op->name, n->n_inputs, KT_EW_MAX_INPUTS);
  kt_elementwise_desc d = {.rank = n->type.rank, .out_dtype = mlg_kir_scalar(n->type.dtype),
                           .n_inputs = n->n_inputs, .scalar = scalar_trampoline, .user = n};
  memcpy(d.shape, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
  for (int k = 0; k < n->n_inputs; k++) {
    const mlg_type *t = &ctx->graph->nodes[n->inputs[k]].type;
    d.inputs[k].rank = t->rank;
    d.inputs[k].dtype = mlg_kir_scalar(t->dtype);
    memcpy(d.inputs[k].shape, t->dims, sizeof(int64_t) * (size_t)t->rank);
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_elementwise(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs)) return -1;
  /* An input of the output's own shape is read only at the element each work-item writes
   * (not for 1- and 2-byte elements: the GLSL printer stores them into shared words). */
  for (int i = 0; i < n->n_inputs && mlg_dtype_size(ctx->out->stored[node]) == 4; i++)
    if (mlg_type_equal(&ctx->graph->nodes[n->inputs[i]].type, &n->type)) {
      ctx->out->launches[ctx->out->n_launches - 1].inplace_arg = i;
      break;
    }
  return 0;
}

static int lower_node(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  int64_t numel = mlg_type_numel(&n->type);
  if (numel < 0 || numel > MLG_KERNEL_NUMEL_LIMIT - 1) {
    char buf[128];
    mlg_type_format(&n->type, buf, sizeof(buf));
    if (n->name)
      return mlg_lower_fail(ctx, node,
                            "tensor '%s' (%s) has too many elements for 32-bit kernel indexing "
                            "(the limit is 2^31 - 1)", n->name, buf);
    return mlg_lower_fail(ctx, node,
                          "tensor %s has too many elements for 32-bit kernel indexing "
                          "(the limit is 2^31 - 1)", buf);
  }
  if (n->kind != MLG_NODE_OP) return 0;
  if (!n->op) return mlg_lower_fail(ctx, node, "internal error: op node without an op");
  switch (n->op->cls) {
  case MLG_OPC_ELEMENTWISE:
    return lower_elementwise(ctx, node);
  case MLG_OPC_VIEW:
    if (n->n_inputs < 1) return mlg_lower_fail(ctx, node, "%s: view without input", n->op->name);
    ctx->alias(ctx, node, n->inputs[0]);
    return 0;
  default:
    if (!n->op->lower) return mlg_lower_fail(ctx, node, "no kernel for op '%s'", n->op->name);
    return n->op->lower(ctx, node);
  }
}

/* Every graph output must own its bytes: a view gets a copy into its own tensor (and stops
 * being an alias); an input, param or const named as an output is copied into a temporary,
 * recorded in output_tensor. */
static int own_outputs(mlg_lower_ctx *ctx) {
  const mlg_graph *g = ctx->graph;
  mlg_lowered *lw = ctx->out;
  for (int o = 0; o < g->n_outputs; o++) {
    int node = g->outputs[o].node;
    const mlg_node *n = &g->nodes[node];
    int64_t numel = mlg_type_numel(&n->type);
    ctx->current = node;
    lw->output_tensor[o] = node;
    if (lw->alias_of[node] >= 0) {
      int src = lw->alias_of[node];
      lw->alias_of[node] = -1;
      if (mlg_lower_copy(ctx, node, src, node, numel, n->type.dtype)) return -1;
    } else if (n->kind != MLG_NODE_OP) {
      int t = ctx->temp(ctx, numel * mlg_dtype_size(n->type.dtype));
      if (t < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
      if (mlg_lower_copy(ctx, node, node, t, numel, n->type.dtype)) return -1;
      lw->output_tensor[o] = t;
    }
  }
  return 0;
}

/* Fused: each group's kernel is emitted at its root; views that are aliases alias. */
static int lower_fused_node(mlg_lower_ctx *ctx, int node) {
  const mlg_fusion *fu = ctx->fusion;
  const mlg_node *n = &ctx->graph->nodes[node];
  /* Every tensor, a kernel's operands (params, inputs) as well as its results. */
  int64_t numel = mlg_type_numel(&n->type);
  if (numel < 0 || numel > MLG_KERNEL_NUMEL_LIMIT - 1) return lower_node(ctx, node);
  switch (fu->role[node]) {
  case MLG_ROLE_ALIAS:
    ctx->alias(ctx, node, n->inputs[0]);
    return 0;
  case MLG_ROLE_ROOT:
    /* A group's second roots (fuse.h) are stored by the kernel of its root. */
    if (fu->groups[fu->group_of[node]].root != node) return 0;
    ctx->current = node;
    return mlg_lower_group(ctx, fu->group_of[node]);
  default:
    return 0;
  }
}

int mlg_lower_max_vec(const mlg_lower_ctx *ctx) {
  return ctx->target == 2 /* MLGB_TARGET_VULKAN */ ? 4 : 16;
}

int mlg_lower_cpu_vectors(const mlg_lower_ctx *ctx) {
  return ctx->device_class == KT_DEVICE_CPU && mlg_lower_max_vec(ctx) >= 16;
}

mlg_lowered *mlg_lower(const mlg_graph *graph, mlg_diag *diag) {
  return mlg_lower_fused(graph, NULL, diag);
}

mlg_lowered *mlg_lower_fused(const mlg_graph *graph, const mlg_fusion *fusion, mlg_diag *diag) {
  return mlg_lower_fused_ex(graph, fusion, NULL, diag);
}

mlg_lowered *mlg_lower_fused_ex(const mlg_graph *graph, const mlg_fusion *fusion,
                                const mlg_lower_hints *hints, mlg_diag *diag) {
  lower_state st = {0};
  mlg_lowered *lw = calloc(1, sizeof(*lw));
  int n = graph->n_nodes;
  st.cap_tensors = n + 16;
  if (lw) {
    lw->module = kir_module_new();
    lw->alias_of = malloc((size_t)st.cap_tensors * sizeof(int));
    lw->temp_bytes = malloc(17 * sizeof(int64_t));
    lw->temp_dtype = malloc(17 * sizeof(int));
    lw->output_tensor = malloc((size_t)(graph->n_outputs + 1) * sizeof(int));
    lw->stored = malloc((size_t)(n + 1) * sizeof(*lw->stored));
  }
  if (lw && lw->module) kir_module_set_ir_math(lw->module, hints && hints->device_class == KT_DEVICE_CPU);
  if (!lw || !lw->module || !lw->alias_of || !lw->temp_bytes || !lw->temp_dtype || !lw->output_tensor ||
      !lw->stored) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while lowering");
    mlg_lowered_free(lw);
    return NULL;
  }
  lw->n_tensors = n;
  lw->n_outputs = graph->n_outputs;
  for (int i = 0; i < n; i++) {
    lw->alias_of[i] = -1;
    lw->stored[i] = hints && hints->stored ? hints->stored[i] : graph->nodes[i].type.dtype;
  }
  /* A train step's new value of a leaf is stored in the leaf's own bytes. */
  st.update_write = malloc(sizeof(int) * (size_t)(graph->n_updates + 1));
  st.update_last_read = malloc(sizeof(int) * (size_t)(graph->n_updates + 1));
  if (!st.update_write || !st.update_last_read) {
    free(st.update_write);
    free(st.update_last_read);
    mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while lowering");
    mlg_lowered_free(lw);
    return NULL;
  }
  for (int u = 0; u < graph->n_updates; u++) {
    lw->alias_of[graph->updates[u].value] = graph->updates[u].target;
    st.update_write[u] = st.update_last_read[u] = -1;
  }
  st.ctx = (mlg_lower_ctx){.graph = graph, .out = lw, .diag = diag, .launch = ctx_launch,
                           .temp = ctx_temp, .temp_dtype = ctx_temp_dtype, .alias = ctx_alias,
                           .fusion = fusion};
  if (hints) {
    st.ctx.target = hints->target;
    st.ctx.device_class = hints->device_class;
    st.ctx.local_mem_bytes = hints->local_mem_bytes;
    /* OpenCL C 1.2 has no portable subgroup operations: never for that target. */
    st.ctx.subgroups = hints->subgroups && hints->target == 2 /* MLGB_TARGET_VULKAN */;
    st.ctx.gemm_tuning = hints->gemm_tuning;
    st.ctx.mma_config = hints->mma_config;
    st.ctx.no_winograd = hints->no_winograd;
    st.ctx.no_prepare = hints->no_prepare;
  }
  if (fusion && fusion->n_nodes != n) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: the fusion is of another graph");
    free(st.update_write);
    free(st.update_last_read);
    mlg_lowered_free(lw);
    return NULL;
  }
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    st.ctx.current = i;
    rc = fusion ? lower_fused_node(&st.ctx, i) : lower_node(&st.ctx, i);
  }
  if (rc == 0) rc = own_outputs(&st.ctx);
  /* Every kernel that reads a leaf's old value must run before the one that replaces it
   * (fusion and the optimizer's order of nodes see to it; this proves it). The kernel that
   * replaces it may read it, at the element each work-item writes. */
  for (int u = 0; u < graph->n_updates && rc == 0; u++) {
    if (st.update_write[u] < 0 || st.update_last_read[u] <= st.update_write[u]) continue;
    const mlg_node *t = &graph->nodes[graph->updates[u].target];
    rc = mlg_lower_fail(&st.ctx, graph->updates[u].value,
                        "internal error: launch %d reads '%s' after launch %d replaced it",
                        st.update_last_read[u], t->name ? t->name : "?", st.update_write[u]);
  }
  free(st.update_write);
  free(st.update_last_read);
  /* A view holds the bytes of the tensor it views, stored as that one is. */
  for (int i = 0; i < n; i++)
    if (lw->alias_of[i] >= 0) lw->stored[i] = lw->stored[root_of(lw, lw->alias_of[i])];
  /* Kernels a hook built but never launched leave the module, which then holds exactly the
   * kept kernels. */
  for (int i = kir_module_count(lw->module) - 1; rc == 0 && i >= 0; i--) {
    kir_kernel *k = kir_module_kernel(lw->module, i);
    int kept = 0;
    for (int j = 0; j < st.n_kept && !kept; j++) kept = st.kept[j] == k;
    if (!kept) kir_module_remove(lw->module, k);
  }
  free(st.kept);
  free(st.kept_hash);
  if (rc != 0) {
    mlg_lowered_free(lw);
    return NULL;
  }
  return lw;
}

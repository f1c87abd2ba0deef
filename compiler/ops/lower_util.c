/* lower_util.c — helpers for op lowering hooks (lower_util.h): kernel names, the common tail of
 * every hook, the GEMM for a device, copies, and strided layouts. */
#include "../lower_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../gemm_tuning.h"
#include "../op.h"
#include "op_util.h"
#include "templates/elementwise.h"
#include "templates/matmul.h"
#include "templates/matmul_cpu.h"
#include "templates/rowwise.h"
#include "templates/shape.h"

int mlg_probe_formula(const mlg_graph *g, int node, const kir_type *in_types, mlg_formula_judge judge,
                      void *user) {
  const mlg_node *nd = &g->nodes[node];
  if (nd->op->cls != MLG_OPC_ELEMENTWISE || !nd->op->scalar || nd->n_inputs > KT_EW_MAX_INPUTS) return 0;
  kir_module *m = kir_module_new();
  kir_builder *b = m ? kir_kernel_begin(m, "probe", 1, 1, 1) : NULL;
  int verdict = 0;
  if (b) {
    kir_expr *in[KT_EW_MAX_INPUTS];
    for (int k = 0; k < nd->n_inputs; k++) in[k] = kir_var(b, kir_var_new(b, "x", in_types[k]));
    verdict = judge(b, nd->op->scalar(b, in, nd), user);
    kir_kernel_end(b, NULL);
  }
  kir_module_free(m);
  return verdict;
}

kir_scalar mlg_kir_scalar(mlg_ir_dtype dtype) {
  switch (dtype) {
  case MLG_F32: return KIR_F32;
  case MLG_BOOL: return KIR_BOOL;
  case MLG_F16: return KIR_F16;
  case MLG_I8: return KIR_I8;
  case MLG_U8: return KIR_U8;
  default: return KIR_I32; /* i32, i64 */
  }
}

kir_expr *mlg_kir_const(kir_builder *b, const mlg_node *n, int64_t i) {
  double v = mlg_data_get(n->type.dtype, n->data, i);
  if (mlg_dtype_is_float(n->type.dtype)) return kir_f32(b, v);
  if (n->type.dtype == MLG_BOOL) return kir_bool(b, v != 0);
  return kir_i32(b, (int64_t)v);
}

void mlg_contiguous_strides(const mlg_type *t, int64_t out_strides[MLG_MAX_RANK]) {
  int64_t s = 1;
  for (int d = t->rank - 1; d >= 0; d--) {
    out_strides[d] = s;
    s *= t->dims[d];
  }
}

static const char *kernel_name(mlg_lower_ctx *ctx, const char *what, mlg_kernel_build *kb) {
  kir_module_clear_error(ctx->out->module);
  snprintf(kb->name, sizeof kb->name, "k_%s", what);
  return kb->name;
}

const char *mlg_lower_begin(mlg_lower_ctx *ctx, int node, mlg_kernel_build *kb) {
  memset(kb, 0, sizeof *kb);
  kb->store = mlg_lower_store_tensor(ctx, node);
  kb->main = 1;
  const mlg_node *n = &ctx->graph->nodes[node];
  return kernel_name(ctx, ctx->group_label ? ctx->group_label : n->op->name, kb);
}

const char *mlg_lower_begin_helper(mlg_lower_ctx *ctx, int node, const char *what, int store,
                                   mlg_kernel_build *kb) {
  (void)node;
  memset(kb, 0, sizeof *kb);
  kb->store = store;
  return kernel_name(ctx, what, kb);
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

static int64_t tensor_bytes(const mlg_lower_ctx *ctx, int t) {
  int n_nodes = ctx->graph->n_nodes;
  return t < n_nodes ? mlg_type_bytes(&ctx->graph->nodes[t].type)
                     : ctx->out->temp_bytes[t - n_nodes];
}

/* Sums the bytes of the tensors launch l binds, each once. */
static int64_t bound_bytes(const mlg_lower_ctx *ctx, const mlg_launch *l) {
  int64_t bytes = 0;
  for (int i = 0; i < l->n_args; i++) {
    int seen = 0;
    for (int j = 0; j < i && !seen; j++) seen = l->args[j] == l->args[i];
    if (!seen) bytes += tensor_bytes(ctx, l->args[i]);
  }
  return bytes;
}

/* Launch arguments of one kernel: the template's buffers, and a fused group's after them. */
#define MAX_ARGS 64

int mlg_lower_finish(mlg_lower_ctx *ctx, int node, const mlg_kernel_build *kb, int rc,
                     const int *inputs, int n_inputs) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const char *op = n->op ? n->op->name : "copy";
  if (rc != 0) {
    /* A fused prologue or epilogue that failed says more than the template that called it. */
    const char *why = mlg_lower_fused_failure(ctx);
    if (!why) why = kir_module_error(ctx->out->module);
    if (!why[0]) why = "internal error: the template gave no reason";
    if (n->name)
      return mlg_lower_fail(ctx, node, "%s '%s': cannot build kernel %s: %s", op, n->name,
                            kb->name, why);
    return mlg_lower_fail(ctx, node, "%s: cannot build kernel %s: %s", op, kb->name, why);
  }
  int args[MAX_ARGS], n_args = 0;
  if (n_inputs + 1 > MAX_ARGS) return mlg_lower_fail(ctx, node, "%s: too many inputs", op);
  for (int i = 0; i < n_inputs; i++) args[n_args++] = inputs[i];
  args[n_args++] = kb->store;
  if (kb->main) n_args = mlg_lower_extra_args(ctx, node, args, n_args, MAX_ARGS);
  if (n_args < 0) return -1;
  kir_module_clear_error(ctx->out->module);
  if (ctx->launch(ctx, kb->kernel, args, n_args, kb->groups[0], kb->groups[1], kb->groups[2])) {
    /* The storage types of an f16 bundle's buffers (lower.c) say what went wrong there. */
    const char *why = kir_module_error(ctx->out->module);
    return mlg_lower_fail(ctx, node, "%s", *why ? why : "out of memory while lowering");
  }
  /* Its cost (lower.h mlg_launch): bound tensors are counted with the owners' ids. */
  mlg_launch *l = &ctx->out->launches[ctx->out->n_launches - 1];
  mlg_op_cost c = {0, 0};
  int n_ops = kb->main ? mlg_lower_kernel_cost(ctx, node, &c) : 0;
  if (n_ops != 1) c.bytes = bound_bytes(ctx, l);
  l->flops = c.flops;
  l->bytes = c.bytes;
  return 0;
}

/* d's device fields, and its shape class's tuned tiles where the tiled kernel alone runs. A
 * tensor-core variant fixes the work-group tile that its fallback shares: no tuned tiles there
 * (the tiled kernel alone takes them where the variant does not apply: CPU class, small GEMMs,
 * f32 B). A convolution's GEMM (B gathered from x) keeps the built-in tiles too: the search
 * times square GEMMs of each size class, and its tiles made ResNet-18's f32 convolutions 16–21%
 * slower on the H200 through both backends (docs/performance.md). Returns whether *tuned
 * differs from *d. */
static int gemm_prepare(mlg_lower_ctx *ctx, kt_matmul_desc *d, kt_matmul_desc *tuned) {
  d->device_class = ctx->device_class;
  d->subgroups = ctx->subgroups;
  /* The tensor-core kernel too where kt_matmul_mma_applies says (B stored as halves), chosen at
   * load (matmul_mma.c). */
  d->mma = 1;
  d->async_copies = ctx->target != 2 /* MLGB_TARGET_VULKAN */;
  d->wgmma = ctx->target != 2;
  d->pragma_unroll = ctx->target != 2;
  d->unsigned_bounds = ctx->target == 2;
  d->gather_row_offsets = ctx->target == 2;
  d->max_vec = mlg_lower_max_vec(ctx);
  d->local_mem_bytes = ctx->local_mem_bytes;
  /* Its configuration: one forced (mlgc --mma-config), else the table's for the shape class
   * (mlg_gemm_tuning_apply_mma), else the built-in choice (0). */
  if (kt_matmul_mma_applies(d))
    d->mma_config = ctx->mma_config ? ctx->mma_config : mlg_gemm_tuning_apply_mma(ctx->gemm_tuning, d);
  *tuned = *d;
  return !kt_matmul_mma_applies(d) && !d->b_im2col.on && mlg_gemm_tuning_apply(ctx->gemm_tuning, tuned);
}

/* The split-K form (matmul.h): the partial GEMM as a helper writing f32 scratch, then the
 * reduce as the node's own kernel (bias, epilogue). The partial launch carries the op's FLOPs
 * in profiles; the reduce its additions. */
static int lower_gemm_split(mlg_lower_ctx *ctx, int node, const kt_matmul_desc *d, int slices,
                            const int *inputs) {
  kir_module *m = ctx->out->module;
  kt_matmul_desc part;
  mlg_kernel_build kb;
  if (kt_matmul_split_partial(d, slices, &part) != 0)
    return mlg_lower_fail(ctx, node, "internal error: a K split that does not divide K");
  int scratch = ctx->temp(ctx, (int64_t)slices * d->m * d->n * 4);
  if (scratch < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  mlg_lower_begin_helper(ctx, node, "gemm_part", scratch, &kb);
  int rc = kt_matmul(m, kb.name, &part, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, inputs, 2)) return -1;
  int i_part = ctx->out->n_launches - 1;
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_matmul_split_reduce(m, kb.name, d, slices, &kb.kernel, kb.groups);
  int rin[2] = {scratch, d->has_bias ? inputs[2] : -1};
  if (mlg_lower_finish(ctx, node, &kb, rc, rin, d->has_bias ? 2 : 1)) return -1;
  mlg_launch *lp = &ctx->out->launches[i_part], *lr = &ctx->out->launches[ctx->out->n_launches - 1];
  lp->flops = lr->flops;
  lr->flops = (int64_t)(slices - 1) * d->m * d->n;
  lr->bytes = bound_bytes(ctx, lr);
  return 0;
}

/* A softmax'ed GEMM (linear_softmax) off CPUs: the GEMM into f32 scratch as a helper
 * ("k_linear"), then the softmax along N as the node's own kernel, with the node's epilogue.
 * The one-kernel form (a work-item per row or two, matmul_cpu.c) leaves a GPU idle: on the H200
 * mlp_b256 took 0.094 ms of device time with it against 0.078 through OpenCL, and mlp_b1 0.0564
 * against 0.0131 through Vulkan (2026-12-05). No tuned tiles: with N <= 16 the GEMM is in no
 * shape class of the tuning table. */
static int lower_gemm_softmax(mlg_lower_ctx *ctx, int node, const kt_matmul_desc *d, const int *inputs,
                              int n_inputs) {
  kir_module *m = ctx->out->module;
  kt_matmul_desc g = *d;
  g.row_softmax = 0;
  g.epilogue = (kt_epilogue){0};
  g.c_elem = KIR_F32;
  int scratch = ctx->temp(ctx, d->m * d->n * 4);
  if (scratch < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  mlg_kernel_build kb;
  mlg_lower_begin_helper(ctx, node, "linear", scratch, &kb);
  int rc = kt_matmul(m, kb.name, &g, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, inputs, n_inputs)) return -1;
  int i_gemm = ctx->out->n_launches - 1;
  kt_softmax_desc sd = {.outer = d->m, .axis_len = d->n, .inner = 1, .subgroups = ctx->subgroups};
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_softmax_fused(m, kb.name, &sd, (kt_prologue){0}, d->epilogue, &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &scratch, 1)) return -1;
  mlg_launch *lg = &ctx->out->launches[i_gemm], *ls = &ctx->out->launches[ctx->out->n_launches - 1];
  const int64_t softmax_flops = MLG_SOFTMAX_FLOPS * d->m * d->n;
  lg->flops = ls->flops - softmax_flops;
  ls->flops = softmax_flops;
  ls->bytes = bound_bytes(ctx, ls);
  return 0;
}

/* B deeper than this, in a GEMM of at least PACK_RUN_MIN_M rows, is packed on every run when
 * it is not a weight: the unpacked "nn" kernel's work-groups read B in strips of 4 × 32 columns
 * down all K rows, 512·K bytes that stop fitting L2 past K ≈ 1500 (SGEMM 2048 on PoCL: 167 ms
 * unpacked, 79 with B in panels; the copy takes K·N·8 bytes of traffic, ~3% of the GEMM at
 * M = 1024 and more below). */
#define PACK_RUN_MIN_K 1536
#define PACK_RUN_MIN_M 128

enum { PACK_NONE, PACK_BT, PACK_B };

/* How a CPU GEMM's B comes packed into the "nn" kernel's panels (lower_gemm_packed), if it
 * does: PACK_BT from a weight stored N × K (linear's), PACK_B from B itself, K × N rows at any
 * stride (matmul's): a weight's once per session (the preparation; not at -O0, where it would
 * run every run), another's on every run where it is deep enough (PACK_RUN_MIN_K). Both need
 * the strided layout (which sets the panels' strides), f32 operands, no batch dims, row norm
 * or softmax, N at least one vector block. */
static int b_packing(const mlg_lower_ctx *ctx, const kt_matmul_desc *d, const int *inputs) {
  if (ctx->device_class != KT_DEVICE_CPU || !d->strided || d->row_softmax || d->a_norm || d->n_batch ||
      d->b_im2col.on || d->c_fold || d->b_offset != 0 || d->a_elem != KIR_F32 || d->b_elem != KIR_F32 ||
      d->n < 16 || d->m < 8)
    return PACK_NONE;
  const int weight = mlg_graph_is_weight(ctx->graph, inputs[1]);
  if (d->b_stride_k == 1 && d->b_stride_n == d->k) return weight && !ctx->no_prepare ? PACK_BT : PACK_NONE;
  if (d->b_stride_n != 1 || d->b_stride_k < d->n) return PACK_NONE;
  if (weight) return ctx->no_prepare ? PACK_NONE : PACK_B;
  return d->k > PACK_RUN_MIN_K && d->m >= PACK_RUN_MIN_M ? PACK_B : PACK_NONE;
}

/* The GEMM with B packed in the CPU "nn" kernel's panels (matmul.h b_panels): a helper
 * ("weight_t", kt_cpu_pack_bt or kt_cpu_pack_b) writes them — as it reads a weight alone the
 * plan runs it once, when a session starts; another B's on every run —, then the "nn" kernel,
 * whose work-groups share a panel. */
static int lower_gemm_packed(mlg_lower_ctx *ctx, int node, const kt_matmul_desc *d, const int *inputs,
                             int n_inputs, int packing) {
  kt_matmul_desc p = *d;
  const int64_t panel = kt_matmul_cpu_panel(d), n_pad = (d->n + panel - 1) / panel * panel;
  int wt = ctx->temp(ctx, d->k * n_pad * 4);
  if (wt < 0) return mlg_lower_fail(ctx, node, "out of memory while lowering");
  mlg_kernel_build kb;
  mlg_lower_begin_helper(ctx, node, "weight_t", wt, &kb);
  int rc = packing == PACK_BT
               ? kt_cpu_pack_bt(ctx->out->module, kb.name, d->n, d->k, n_pad, panel, &kb.kernel, kb.groups)
               : kt_cpu_pack_b(ctx->out->module, kb.name, d->n, d->k, d->b_stride_k, n_pad, panel, d->max_vec,
                               &kb.kernel, kb.groups);
  if (mlg_lower_finish(ctx, node, &kb, rc, &inputs[1], 1)) return -1;
  p.b_panels = 1;
  p.b_stride_k = panel;
  p.b_stride_n = 1;
  int packed[8];
  if (n_inputs > 8) return mlg_lower_fail(ctx, node, "internal error: %d GEMM inputs", n_inputs);
  for (int i = 0; i < n_inputs; i++) packed[i] = i == 1 ? wt : inputs[i];
  mlg_lower_begin(ctx, node, &kb);
  rc = kt_matmul(ctx->out->module, kb.name, &p, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, packed, n_inputs);
}

int mlg_lower_gemm(mlg_lower_ctx *ctx, int node, kt_matmul_desc *d, const int *inputs, int n_inputs) {
  kt_matmul_desc tuned;
  int has_tuned = gemm_prepare(ctx, d, &tuned);
  int packing = b_packing(ctx, d, inputs);
  if (packing != PACK_NONE) return lower_gemm_packed(ctx, node, d, inputs, n_inputs, packing);
  const kt_matmul_desc *use = has_tuned ? &tuned : d;
  if (d->row_softmax && d->device_class != KT_DEVICE_CPU) return lower_gemm_softmax(ctx, node, d, inputs, n_inputs);
  int slices = kt_matmul_split_slices(use);
  if (slices > 1) return lower_gemm_split(ctx, node, use, slices, inputs);
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  /* A tuned tiling kt_matmul rejects falls back to the built-in one. */
  int rc = has_tuned ? kt_matmul(ctx->out->module, kb.name, &tuned, &kb.kernel, kb.groups) : -1;
  if (rc != 0) rc = kt_matmul(ctx->out->module, kb.name, d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, inputs, n_inputs);
}

/* How tensor t is stored: as the precision stage says (an f32 value stored as halves under
 * --precision=f16 is an f16 operand, so its GEMM gets the tensor-core variant); a temporary of
 * lowering is f32 scratch. */
kir_scalar mlg_lower_tensor_scalar(const mlg_lower_ctx *ctx, int t) {
  return t >= 0 && t < ctx->graph->n_nodes ? mlg_kir_scalar(mlg_lowered_stored(ctx->graph, ctx->out, t))
                                           : KIR_F32;
}

void mlg_lower_gemm_storage(mlg_lower_ctx *ctx, int node, kt_matmul_desc *d, int a, int b, int bias) {
  d->a_elem = mlg_lower_tensor_scalar(ctx, a);
  d->b_elem = mlg_lower_tensor_scalar(ctx, b);
  d->bias_elem = bias >= 0 ? mlg_lower_tensor_scalar(ctx, bias) : KIR_F32;
  d->c_elem = mlg_lower_tensor_scalar(ctx, mlg_lower_store_tensor(ctx, node));
}

int mlg_lower_copy(mlg_lower_ctx *ctx, int node, int src, int dst, int64_t numel,
                   mlg_ir_dtype dtype) {
  mlg_kernel_build kb;
  mlg_lower_begin_helper(ctx, node, "copy", dst, &kb);
  int rc = kt_copy(ctx->out->module, kb.name, numel, mlg_kir_scalar(dtype), &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, &src, 1);
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

int mlg_layout_forward(mlg_layout *l, const mlg_index_map *m) {
  if (l->rank != m->in_rank) return -1;
  if (m->kind == MLG_INDEX_SAME_ORDER) return mlg_layout_reshape(l, m->rank, m->dims, l);
  mlg_layout r = *l;
  r.rank = m->rank;
  for (int d = 0; d < m->rank; d++) {
    int a = m->axis[d];
    r.offset += m->start[d] * l->strides[a];
    r.dims[d] = m->dims[d];
    r.strides[d] = m->dims[d] == 1 ? 0 : l->strides[a] * m->step[d];
  }
  *l = r;
  return 0;
}

int mlg_layout_backward(mlg_layout *l, const mlg_index_map *m) {
  if (l->rank != m->rank) return -1;
  if (m->kind == MLG_INDEX_SAME_ORDER) return mlg_layout_reshape(l, m->in_rank, m->in_dims, l);
  /* Only a permutation covers every input element exactly once. */
  for (int d = 0; d < m->rank; d++)
    if (m->start[d] != 0 || m->step[d] != 1 || m->dims[d] != m->in_dims[m->axis[d]]) return -1;
  mlg_layout r = *l;
  for (int d = 0; d < m->rank; d++) {
    r.dims[m->axis[d]] = l->dims[d];
    r.strides[m->axis[d]] = l->strides[d];
  }
  *l = r;
  return 0;
}

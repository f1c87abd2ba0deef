#include "bundle_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/bundle.h"
#include "../runtime/mlg_version.h"
#include "emit_code.h"

#define MLG_PRODUCER "mlgc " MLG_VERSION_STRING

/* Whether `name` is the name of one of g's outputs. */
static int is_output_name(const mlg_graph *g, const char *name) {
  for (int o = 0; o < g->n_outputs; o++)
    if (g->outputs[o].name && strcmp(g->outputs[o].name, name) == 0) return 1;
  return 0;
}

/* Bundle tensor names are unique: inputs, params and consts keep their declared names, outputs
 * their output names, and everything else is "%ID" or "%ID:binding" — also a const folded from
 * an output's value, which keeps its binding's name while the output (a copy of it) is named so
 * too. */
static char *tensor_name(const mlg_graph *g, int t, const char *output_name) {
  char buf[512];
  if (output_name) return strdup(output_name);
  if (t < g->n_nodes) {
    const mlg_node *n = &g->nodes[t];
    if (n->kind != MLG_NODE_OP && n->name &&
        !(n->kind == MLG_NODE_CONST && is_output_name(g, n->name)))
      return strdup(n->name);
    if (n->name) {
      snprintf(buf, sizeof(buf), "%%%d:%s", t, n->name);
      return strdup(buf);
    }
  }
  snprintf(buf, sizeof(buf), "%%%d", t);
  return strdup(buf);
}

/* A tensor holding an output of the run program is a model output; one only the train step
 * writes (its loss) is an intermediate in the io region. */
static int role_of(const mlg_graph *g, int t, int is_output) {
  if (is_output) return MLGB_ROLE_OUTPUT;
  if (t >= g->n_nodes) return MLGB_ROLE_INTERMEDIATE;
  switch (g->nodes[t].kind) {
  case MLG_NODE_INPUT: return MLGB_ROLE_INPUT;
  case MLG_NODE_PARAM: return MLGB_ROLE_PARAM;
  case MLG_NODE_CONST: return MLGB_ROLE_CONST;
  case MLG_NODE_STATE: return MLGB_ROLE_STATE;
  default: return MLGB_ROLE_INTERMEDIATE;
  }
}

/* The optional kernel features (kir.h KIR_FEATURE_OPTIONAL) as the device features the bundle's
 * kernel table records (bundle.h mlgb_device_feature): one row per feature, per target (matrix
 * fragments print as inline PTX in OpenCL C, as cooperative matrices in GLSL). */
static const struct {
  unsigned kir;
  uint32_t opencl, vulkan;
} optional_features[] = {
  {KIR_FEATURE_INT_DOT, MLGB_DEVICE_INT_DOT, MLGB_DEVICE_INT_DOT},
  {KIR_FEATURE_MMA_F16, MLGB_DEVICE_PTX_MMA, MLGB_DEVICE_COOPMAT_NV},
  /* (GLSL cannot spell warpgroup products: a Vulkan device never reports the feature) */
  {KIR_FEATURE_WGMMA, MLGB_DEVICE_PTX_WGMMA, MLGB_DEVICE_PTX_WGMMA},
};
_Static_assert(KIR_FEATURE_OPTIONAL == (KIR_FEATURE_INT_DOT | KIR_FEATURE_MMA_F16 | KIR_FEATURE_WGMMA),
               "a new optional kir feature needs its row above");

int mlg_bundle_emit(const mlg_emit_input *in, mlg_diag *diag, uint8_t **out_data, size_t *out_size) {
  const mlg_graph *g = in->graph;
  const mlg_lowered *lw = in->lowered;
  const mlg_plan *plan = in->plan;
  mlgb_bundle b = {0};
  int *index = NULL;
  unsigned *programs = NULL;
  int rc = -1;
  *out_data = NULL;
  *out_size = 0;

  b.target = (uint32_t)in->target;
  b.model_name = (char *)(g->model_name ? g->model_name : "model");
  b.producer = MLG_PRODUCER;
  b.alignment = (uint32_t)plan->alignment;
  for (int r = 0; r < MLGB_N_REGIONS; r++) b.region_size[r] = (uint64_t)plan->region_size[r];
  b.has_params = in->has_params;
  if (g->optimizer) {
    b.has_train = 1;
    b.optimizer = (char *)g->optimizer;
  }

  /* index[] maps tensor ids to bundle indices. The table lists the inputs, then the outputs,
   * each in declaration order (the order the runtime lists them in), then every other tensor
   * by id. Arena tensors that no launch touches (fused away) have no storage: the bundle
   * leaves them out. */
  index = malloc(sizeof(int) * (size_t)(lw->n_tensors ? lw->n_tensors : 1));
  if (!index) goto oom;
  for (int t = 0; t < lw->n_tensors; t++) index[t] = -1;
  for (int t = 0; t < g->n_nodes; t++) /* the checker makes input nodes in declaration order */
    if (g->nodes[t].kind == MLG_NODE_INPUT) index[t] = (int)b.n_tensors++;
  for (int o = 0; o < lw->n_outputs; o++)
    if (index[lw->output_tensor[o]] < 0) index[lw->output_tensor[o]] = (int)b.n_tensors++;
  for (int t = 0; t < lw->n_tensors; t++) {
    const mlg_placement *p = &plan->tensors[t];
    if (index[t] < 0 && !(p->region == MLGB_REGION_ARENA && p->first_use < 0))
      index[t] = (int)b.n_tensors++;
  }
  b.tensors = calloc(b.n_tensors ? b.n_tensors : 1, sizeof(*b.tensors));
  b.kernels = calloc(in->code->n_modules ? (size_t)in->code->n_modules : 1, sizeof(*b.kernels));
  b.dispatches = calloc(lw->n_launches ? (size_t)lw->n_launches : 1, sizeof(*b.dispatches));
  if (!b.tensors || !b.kernels || !b.dispatches) goto oom;
  for (int t = 0; t < lw->n_tensors; t++) {
    if (index[t] < 0) continue;
    const char *output_name = NULL;
    int run_output = 0;
    const mlg_type *ty = t < g->n_nodes ? &g->nodes[t].type : NULL;
    for (int o = 0; o < lw->n_outputs; o++)
      if (lw->output_tensor[o] == t) {
        output_name = g->outputs[o].name;
        ty = &g->nodes[g->outputs[o].node].type; /* a temporary copy has its node's type */
        run_output |= (g->outputs[o].programs & MLG_GRAPH_RUN) != 0;
        if (g->outputs[o].programs & MLG_GRAPH_TRAIN) b.train_loss = (uint32_t)index[t];
      }
    mlgb_tensor *bt = &b.tensors[index[t]];
    const mlg_placement *p = &plan->tensors[t];
    bt->name = tensor_name(g, t, output_name);
    if (!bt->name) goto oom;
    bt->role = (uint32_t)role_of(g, t, run_output);
    bt->region = (uint32_t)p->region;
    bt->offset = (uint64_t)p->offset;
    bt->size = (uint64_t)p->size;
    if (ty) {
      /* As stored (precision.h); numbered alike (runtime/dtype.h). */
      bt->dtype = (uint32_t)mlg_lowered_stored(g, lw, t);
      bt->rank = (uint32_t)ty->rank;
      for (int d = 0; d < ty->rank; d++) bt->dims[d] = ty->dims[d];
    } else {
      /* a temporary: elements of the dtype its kernels address it in */
      mlg_ir_dtype dt = t >= g->n_nodes && lw->temp_dtype ? (mlg_ir_dtype)lw->temp_dtype[t - g->n_nodes] : MLG_F32;
      bt->dtype = (uint32_t)dt;
      bt->rank = 1;
      bt->dims[0] = p->size / mlg_dtype_size(dt);
    }
  }

  /* The weights section: the consts' bytes, and the params' unless --no-weights. */
  b.weights_size = mlgb_weights_size(&b);
  if (b.weights_size) {
    if (!in->images[MLGB_REGION_WEIGHTS] || !(b.weights = malloc((size_t)b.weights_size))) goto oom;
    mlgb_weights_pack(&b, (const uint8_t *const *)in->images, b.weights);
  }
  /* Each dispatch belongs to the programs of the value it computes (a dead value's, at -O0,
   * to the run), or, computing from the weights alone, to the session's preparation (plan.h). */
  programs = malloc(sizeof(unsigned) * (size_t)(g->n_nodes ? g->n_nodes : 1));
  if (!programs) goto oom;
  mlg_graph_programs(g, programs);

  b.n_modules = (uint32_t)in->code->n_modules;
  b.modules = in->code->modules;

  /* Kernel k of the lowered module is module k (emit_code.h). */
  b.n_kernels = (uint32_t)in->code->n_modules;
  for (int k = 0; k < in->code->n_modules; k++) {
    const kir_kernel *kk = kir_module_kernel(lw->module, k);
    mlgb_kernel *bk = &b.kernels[k];
    bk->name = (char *)kk->name;
    bk->module = (uint32_t)k;
    for (int d = 0; d < 3; d++) bk->local_size[d] = (uint32_t)kk->local_size[d];
    bk->n_params = (uint32_t)kk->n_buffers;
    /* What the device must offer: the runtime refuses a device without it at load. */
    if (kk->features & (KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH))
      b.required_features |= MLGB_FEATURE_SUBGROUP_ARITH;
    /* A variant: what it needs of the device, and the kernel to run without it. */
    for (size_t f = 0; f < sizeof optional_features / sizeof optional_features[0]; f++)
      if (kk->features & optional_features[f].kir)
        bk->requires |= in->target == MLGB_TARGET_VULKAN ? optional_features[f].vulkan : optional_features[f].opencl;
    if (kk->fallback) {
      int fb = mlg_code_module_of(in->code, lw, kk->fallback);
      if (fb < 0) {
        mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: the fallback of kernel %s has no module", kk->name);
        goto done;
      }
      bk->fallback = (uint32_t)fb + 1;
    }
  }
  b.n_dispatches = (uint32_t)lw->n_launches;
  for (int l = 0; l < lw->n_launches; l++) {
    const mlg_launch *la = &lw->launches[l];
    mlgb_dispatch *dp = &b.dispatches[l];
    int kernel = mlg_code_module_of(in->code, lw, la->kernel);
    if (kernel < 0) {
      mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: kernel %s has no module", la->kernel->name);
      goto done;
    }
    dp->kernel = (uint32_t)kernel;
    int node = lw->launch_node[l];
    dp->programs = plan->prepare[l] ? MLGB_PROGRAM_PREPARE
                   : programs[node] ? programs[node] : MLGB_PROGRAM_RUN;
    const char *output_name = NULL;
    for (int o = 0; o < g->n_outputs; o++)
      if (g->outputs[o].node == node) output_name = g->outputs[o].name;
    dp->name = tensor_name(g, node, output_name);
    dp->n_args = (uint32_t)la->n_args;
    /* The ops' cost rules, summed per launch by lowering (lower.h mlg_launch). */
    dp->flops = (uint64_t)la->flops;
    dp->bytes = (uint64_t)la->bytes;
    dp->args = calloc(la->n_args ? (size_t)la->n_args : 1, sizeof(*dp->args));
    if (!dp->name || !dp->args) goto oom;
    for (int a = 0; a < la->n_args; a++) {
      if (index[la->args[a]] < 0) {
        mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: dispatch %d (kernel %s) reads a tensor with no storage",
                       l, la->kernel->name);
        goto done;
      }
      dp->args[a] = (uint32_t)index[la->args[a]];
    }
    for (int d = 0; d < 3; d++) {
      if (la->groups[d] < 1 || la->groups[d] > UINT32_MAX) {
        mlg_diag_error(diag, (mlg_span){0, 0}, "kernel %s: %lld work-groups in dimension %d is out of range",
                       la->kernel->name, (long long)la->groups[d], d);
        goto done;
      }
      dp->groups[d] = (uint32_t)la->groups[d];
    }
  }

  char err[512];
  if (mlgb_write(&b, out_data, out_size, err, sizeof(err)) != 0) {
    mlg_diag_error(diag, (mlg_span){0, 0}, "internal error: cannot write bundle: %s", err);
    goto done;
  }
  rc = 0;
  goto done;
oom:
  mlg_diag_error(diag, (mlg_span){0, 0}, "out of memory while assembling the bundle");
done:
  if (b.tensors)
    for (uint32_t t = 0; t < b.n_tensors; t++) free(b.tensors[t].name);
  if (b.dispatches)
    for (int l = 0; l < lw->n_launches; l++) {
      free(b.dispatches[l].name);
      free(b.dispatches[l].args);
    }
  free(index);
  free(programs);
  free(b.weights);
  free(b.tensors);
  free(b.kernels);
  free(b.dispatches);
  return rc;
}

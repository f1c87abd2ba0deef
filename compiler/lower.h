/* lower.h — from graph to kernels. Unfused (mlg_lower), each op node becomes zero or more
 * kernel launches in the kir module (views become aliases, no launch). Fused
 * (mlg_lower_fused), each group of the fusion (fuse.h) becomes one kernel that stores only the
 * group's root; nodes computed inside a kernel or folded into index arithmetic get no tensor
 * any launch touches (so the memory plan gives them no bytes).
 *
 * Kernels are kept once: a launch whose kernel equals one already kept (kir_kernel_equal: the
 * same code apart from its name) launches that one, so the module holds each distinct kernel
 * once, in order of first launch, and launches differ only in their arguments and work-groups.
 * For this, kernels are written in a canonical form: named after their group or op
 * ("k_linear_relu"), never after a tensor id, with buffer parameters and variables named by
 * position. Distinct kernels that would share a name get a suffix ("k_linear_relu_2").
 *
 * Tensors: ids 0..n_nodes-1 are the graph's nodes; lowering may add temporaries after them
 * (scratch for multi-pass kernels), each with a byte size.
 * Thread safety: reentrant. */
#ifndef MLG_LOWER_H
#define MLG_LOWER_H

#include "../codegen/kir.h"
#include "diag.h"
#include "graph.h"

typedef struct mlg_launch {
  kir_kernel *kernel;     /* a kernel of the module, shared by every launch of the same code */
  int n_args;
  int *args;              /* tensor id for each buffer parameter of the kernel, in order */
  int64_t groups[3];      /* work-groups per dimension */
  int inplace_arg;        /* index of an input arg that each work-item reads only at the element
                             it writes (same index, same size): the planner may give the output
                             that input's bytes when the input dies here; -1 when none */
  /* What one run of the launch costs (op.h mlg_op_cost), for the bundle and --profile:
   * flops: the sum of the cost rules of the ops its kernel computes (a fused group's members;
   * 0 for a helper kernel: a copy, a padded copy, a weight transpose);
   * bytes: a kernel of one op takes that op's rule (which knows when it reads part of an
   * input); any other (a fused group, a helper) counts each tensor it binds once, whole:
   * the values a fused kernel computes inside never reach memory. */
  int64_t flops, bytes;
} mlg_launch;

typedef struct mlg_lowered {
  kir_module *module;
  int n_launches;
  mlg_launch *launches;   /* in execution order */
  int n_tensors;          /* graph nodes + temporaries */
  int *alias_of;          /* per tensor: the tensor whose bytes it shares (views), or -1 */
  int64_t *temp_bytes;    /* per tensor id >= n_nodes: size in bytes (index id - n_nodes) */
  int *temp_dtype;        /* per tensor id >= n_nodes: its mlg_ir_dtype (MLG_F32 unless a hook
                             said otherwise: kernels address it in elements of that size) */
  int n_outputs;          /* = graph->n_outputs */
  int *output_tensor;     /* per graph output: the tensor holding it — the output node itself,
                             or a temporary copy when the output is an input, param or const */
  int *launch_node;       /* per launch: the node it was emitted for (the group's root when
                             fused; the output node for an output copy) */
  mlg_ir_dtype *stored;   /* per graph node: the dtype its bytes hold, which the kernels' buffers
                             bound to it use (precision.h; a view: the tensor it views);
                             temporaries hold their kernels' own types (f32 scratch, or an
                             output copy of its node's dtype) */
} mlg_lowered;

/* The dtype tensor t's bytes hold: lw->stored for a graph node (a node's own dtype when
 * stored is NULL: a lowering assembled by hand in a test); a temporary is f32 scratch or an
 * output's copy (of its node's dtype). */
mlg_ir_dtype mlg_lowered_stored(const mlg_graph *graph, const mlg_lowered *lw, int t);

struct mlg_fusion;
struct mlg_fused_kernel;

/* Context handed to an op's lower hook (op.h). */
typedef struct mlg_lower_ctx {
  const mlg_graph *graph;
  mlg_lowered *out;
  mlg_diag *diag;
  /* Appends a launch; copies args, replacing each by the tensor that owns its bytes (views
   * resolved through alias_of). Returns 0 or -1 (allocation, or an arg that is no tensor). */
  int (*launch)(struct mlg_lower_ctx *ctx, kir_kernel *kernel, const int *args, int n_args,
                int64_t gx, int64_t gy, int64_t gz);
  /* Adds a temporary tensor of `bytes`; returns its id or -1. Its elements are f32 unless
   * temp_dtype says otherwise (before any launch binds it). */
  int (*temp)(struct mlg_lower_ctx *ctx, int64_t bytes);
  void (*temp_dtype)(struct mlg_lower_ctx *ctx, int tensor, mlg_ir_dtype dtype);
  /* Declares node `node` a view of tensor `of` (no launch); alias_of[node] is set to the
   * root owner of `of`, never to another view. */
  void (*alias)(struct mlg_lower_ctx *ctx, int node, int of);
  const struct mlg_fusion *fusion;   /* NULL: one op per kernel */
  /* While the anchor op of a fused group is lowered by its hook: the group's state (the
   * helpers in lower_util.h read it); NULL otherwise. */
  struct mlg_fused_kernel *fused;
  int current;            /* node whose kernels are being emitted (launch_node) */
  const char *group_label; /* fused: what the kernel is named after ("linear_gelu"), or NULL */
  int target;             /* mlgb_target the kernels are for (0: OpenCL) */
  int device_class;       /* kt_device_class (codegen/templates/matmul.h): picks GEMM tiles */
  int64_t local_mem_bytes; /* local memory per work-group; 0 → 48 KiB */
  int subgroups;          /* reductions may use subgroup operations (Vulkan target only) */
  const struct mlg_gemm_tuning *gemm_tuning; /* GEMM tiles per shape class, or NULL */
  int mma_config;         /* tensor-core GEMM configuration forced (mlg_compile_options), or 0 */
  int no_winograd;        /* CPU: 3×3 convolutions as the implicit GEMM (mlg_compile_options) */
  int no_prepare;         /* the plan prepares nothing (-O0, plan.h): a launch that reads only
                             weights runs on every run, so none is added for speed */
} mlg_lower_ctx;

/* What lowering may tune its kernels for (all 0: portable kernels for OpenCL). */
typedef struct mlg_lower_hints {
  int target;             /* mlgb_target; Vulkan limits vectors to width 4 */
  int device_class;       /* kt_device_class */
  int64_t local_mem_bytes;
  int subgroups;          /* honoured for the Vulkan target only */
  const struct mlg_gemm_tuning *gemm_tuning; /* gemm_tuning.h; NULL: built-in GEMM tiles */
  int mma_config;         /* tensor-core GEMM configuration forced, or 0 (mlg_compile_options) */
  const mlg_ir_dtype *stored; /* per node, the dtype it is stored as (precision.h); NULL: its
                                 own dtype */
  int no_winograd;        /* CPU: no Winograd convolutions (mlg_compile_options) */
  int no_prepare;         /* as the plan's option (plan.h; -O0) */
} mlg_lower_hints;

/* Lowers every op node. Graph outputs that would alias another tensor get a copy kernel so that
 * every output owns its bytes. Returns NULL after reporting to diag on failure. */
mlg_lowered *mlg_lower(const mlg_graph *graph, mlg_diag *diag);
/* Lowers the groups of `fusion` (from mlg_fuse on this graph), one kernel each; fusion NULL is
 * mlg_lower. Returns NULL after reporting to diag on failure. */
mlg_lowered *mlg_lower_fused(const mlg_graph *graph, const struct mlg_fusion *fusion,
                             mlg_diag *diag);
/* The widest vector type a kernel for ctx's target may use: 4 for Vulkan (GLSL), else 16. */
int          mlg_lower_max_vec(const mlg_lower_ctx *ctx);
/* Whether ctx's kernels are for a CPU through OpenCL (PoCL): explicit vectors of 16 lanes, a
 * work-group's items run one after another (the CPU forms of the templates). */
int          mlg_lower_cpu_vectors(const mlg_lower_ctx *ctx);
/* mlg_lower_fused with kernels tuned for `hints` (NULL: none). */
mlg_lowered *mlg_lower_fused_ex(const mlg_graph *graph, const struct mlg_fusion *fusion,
                                const mlg_lower_hints *hints, mlg_diag *diag);
void         mlg_lowered_free(mlg_lowered *lowered);

#endif

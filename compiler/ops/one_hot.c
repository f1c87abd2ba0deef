/* one_hot.c — one_hot(labels, num_classes): i32 class indices [...] → f32 [..., num_classes],
 * 1 at each label's class and 0 elsewhere (torch.nn.functional.one_hot, as f32). A label
 * outside [0, num_classes) gives a row of zeros. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_CLASSES };

static int one_hot_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  (void)n_in;
  if (mlg_require_dtype(&in[0], 0, MLG_I32, err)) return -1;
  int64_t c = attrs[A_CLASSES].ints[0];
  if (c < 1 || c > MLG_DIM_LIMIT) {
    mlg_shape_errorf(err, -1, A_CLASSES, "num_classes must be in [1, 2^31 - 1], got %lld", (long long)c);
    return -1;
  }
  if (in[0].rank >= MLG_MAX_RANK) {
    mlg_shape_errorf(err, 0, -1, "labels of rank %d leave no room for the class dim (rank at most %d)",
                     in[0].rank, MLG_MAX_RANK);
    return -1;
  }
  *out = in[0];
  out->dtype = MLG_F32;
  out->dims[out->rank++] = c;
  return 0;
}

static int one_hot_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_one_hot(ctx->out->module, kb.name, mlg_type_numel(&ctx->graph->nodes[n->inputs[0]].type),
                      mlg_attr_int(n, A_CLASSES), &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* One comparison per output element. */
static void one_hot_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = mlg_type_numel(&g->nodes[node].type);
}

const mlg_op_def mlg_op_one_hot = {
  .name = "one_hot",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "num_classes", .kind = MLG_ATTR_INT, .required = 1 },
  },
  .infer = one_hot_infer,
  .lower = one_hot_lower,
  .cost = one_hot_cost,
  .input_names = "labels",
  .shape_doc = "labels.dims + [num_classes], f32",
  .doc = "1 at each i32 label's class, 0 elsewhere (torch one_hot, as f32)",
};

/* expand.c — expand(x, shape=[...]): x repeated along its dims of size 1 to `shape` (torch
 * Tensor.expand, numpy.broadcast_to), with as many dims as x (reshape or unsqueeze x first
 * to add some); -1 keeps x's dim. An index op: readers fold it into their index arithmetic,
 * so it moves no bytes unless a reader needs them stored. Normalized: shape explicit. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/shape.h"

enum { A_SHAPE };

static int expand_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  (void)n_in;
  const mlg_type *x = &in[0];
  mlg_attr *shape = &attrs[A_SHAPE];
  char s[128];
  if (shape->n != x->rank) {
    mlg_shape_errorf(err, -1, A_SHAPE,
                     "shape has %d entries but x is %s; give one per dim of x (reshape or unsqueeze "
                     "x to add dims)", shape->n, mlg_type_format(x, s, sizeof s));
    return -1;
  }
  mlg_type t = {.dtype = x->dtype, .rank = x->rank};
  for (int d = 0; d < x->rank; d++) {
    int64_t v = shape->ints[d];
    if (v == -1) v = x->dims[d];
    if (v < 1 || v > MLG_DIM_LIMIT || (x->dims[d] != 1 && v != x->dims[d])) {
      mlg_shape_errorf(err, -1, A_SHAPE,
                       "dim %d of %s cannot expand to %lld (only dims of size 1 expand; -1 keeps one)",
                       d, mlg_type_format(x, s, sizeof s), (long long)shape->ints[d]);
      return -1;
    }
    shape->ints[d] = v;
    t.dims[d] = v;
  }
  *out = t;
  return 0;
}

/* Output coordinate c_d reads x at c_d, or at 0 along the dims that expand (step 0). */
static int expand_index(const mlg_node *n, mlg_index_map *map) {
  (void)n;
  if (map->rank != map->in_rank) return -1;
  map->kind = MLG_INDEX_AXES;
  for (int d = 0; d < map->rank; d++) {
    map->axis[d] = d;
    map->start[d] = 0;
    map->step[d] = map->in_dims[d] == 1 && map->dims[d] != 1 ? 0 : 1;
  }
  return 0;
}

/* Alone (a reader needs the bytes): one kernel writing every repeated element. */
static int expand_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  kt_expand_desc d = {.rank = x->rank, .dtype = mlg_kir_scalar(x->dtype)};
  for (int k = 0; k < x->rank; k++) {
    d.in_shape[k] = x->dims[k];
    d.out_shape[k] = n->type.dims[k];
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_expand(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

/* The gradient of a broadcast: dy summed over the expanded dims. */
static int expand_vjp(mlg_op_builder *ob, const mlg_node *n, int node, int dy, const char *needs,
                      int *dx) {
  (void)node;
  if (needs[0]) dx[0] = mlg_b_sum_to(ob, dy, mlg_build_type(ob, n->inputs[0]));
  return ob->failed ? -1 : 0;
}

static const mlg_op_spelling expand_foreign[] = {{"broadcast_to", "expand(x, shape=[...])"},
                                                 {NULL, NULL}};

const mlg_op_def mlg_op_expand = {
  .name = "expand",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "shape", .kind = MLG_ATTR_INTS, .required = 1 },
  },
  .infer = expand_infer,
  .lower = expand_lower,
  .index = expand_index,
  .vjp = expand_vjp,
  .input_names = "x",
  .shape_doc = "the shape attribute (x's dims of size 1 repeated)",
  .doc = "repeat x along its dims of size 1 (torch Tensor.expand, same rank)",
  .foreign = expand_foreign,
};

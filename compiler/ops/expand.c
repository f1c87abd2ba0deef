/* expand.c — expand(x, shape=[...]) = numpy.broadcast_to: x repeated along the dims where it
 * has 1 (or lacks them, on the left). An elementwise op of one input whose output is larger
 * than it: its formula is the identity and broadcasting does the rest, so it fuses and folds
 * like any elementwise op, and fused it costs no bytes of its own. */
#include "op_defs.h"
#include "op_util.h"
#include "kir.h"

enum { A_SHAPE };

static int expand_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  const mlg_attr *shape = &attrs[A_SHAPE];
  char s[128];
  if (shape->n < x->rank) {
    mlg_shape_errorf(err, -1, A_SHAPE, "shape has %d dims, fewer than %s has (broadcasting "
                     "adds dims on the left, never removes them)", shape->n,
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  mlg_type t = { .dtype = x->dtype, .rank = shape->n };
  for (int d = 0; d < shape->n; d++) {
    int64_t want = shape->ints[d];
    int xd = d - (shape->n - x->rank);
    if (want < 1 || want > MLG_DIM_LIMIT) {
      mlg_shape_errorf(err, -1, A_SHAPE, "shape[%d] is %lld (dims are at least 1)", d,
                       (long long)want);
      return -1;
    }
    if (xd >= 0 && x->dims[xd] != 1 && x->dims[xd] != want) {
      mlg_shape_errorf(err, 0, -1, "cannot broadcast %s to shape[%d] = %lld: dim %d is %lld, "
                       "not 1 or %lld", mlg_type_format(x, s, sizeof s), d, (long long)want,
                       xd, (long long)x->dims[xd], (long long)want);
      return -1;
    }
    t.dims[d] = want;
  }
  *out = t;
  return 0;
}

/* Each output element is the input element that broadcasting picks. */
static kir_expr *expand_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  (void)b;
  (void)n;
  return in[0];
}

/* No arithmetic: it moves bytes. */
static void expand_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  (void)g;
  (void)node;
  out->flops = 0;
}

/* The gradient of a broadcast: dy summed over the dims it added or stretched. */
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
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "shape", .kind = MLG_ATTR_INTS, .required = 1 },
  },
  .infer = expand_infer,
  .scalar = expand_scalar,
  .cost = expand_cost,
  .vjp = expand_vjp,
  .input_names = "x",
  .shape_doc = "the shape attribute (x's dims align on the right; each is 1 or equal)",
  .doc = "x broadcast to shape (numpy.broadcast_to; ONNX Expand with the broadcast shape)",
  .foreign = expand_foreign,
};

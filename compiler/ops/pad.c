/* pad.c — pad(x, pads=[...], mode=constant|reflect|edge, value=0.0), as ONNX Pad: `pads` holds
 * all the begins, then all the ends (2·rank values; a negative one crops). As
 * torch.nn.functional.pad with modes constant / reflect / replicate. */
#include "op_util.h"
#include "../lower_util.h"
#include "templates/pad.h"

enum { A_PADS, A_MODE, A_VALUE };

static const char *const pad_modes[] = {"constant", "reflect", "edge", NULL};

static int pad_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                     mlg_shape_error *err) {
  const mlg_type *x = &in[0];
  const mlg_attr *pads = &attrs[A_PADS];
  int mode = (int)attrs[A_MODE].ints[0];
  char s[128];
  if (x->rank < 1 || 2 * x->rank > MLG_MAX_ATTR_INTS) {
    mlg_shape_errorf(err, 0, -1, "x must have rank 1 to %d (pads holds 2 values per dim, at most "
                     "%d), got %s", MLG_MAX_ATTR_INTS / 2, MLG_MAX_ATTR_INTS,
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  if (pads->n != 2 * x->rank) {
    mlg_shape_errorf(err, -1, A_PADS, "pads must have %d values for %s (all begins, then all "
                     "ends), got %d", 2 * x->rank, mlg_type_format(x, s, sizeof s), pads->n);
    return -1;
  }
  mlg_type t = *x;
  for (int d = 0; d < x->rank; d++) {
    int64_t b = pads->ints[d], e = pads->ints[x->rank + d];
    if (b < -MLG_DIM_LIMIT || b > MLG_DIM_LIMIT || e < -MLG_DIM_LIMIT || e > MLG_DIM_LIMIT ||
        x->dims[d] + b + e < 1) {
      mlg_shape_errorf(err, -1, A_PADS, "dim %d (%lld) padded by %lld and %lld leaves no element",
                       d, (long long)x->dims[d], (long long)b, (long long)e);
      return -1;
    }
    if (mode == KT_PAD_REFLECT && (b >= x->dims[d] || e >= x->dims[d])) {
      mlg_shape_errorf(err, -1, A_PADS, "reflect padding of dim %d (%lld and %lld) must be "
                       "smaller than the dim (%lld)", d, (long long)b, (long long)e,
                       (long long)x->dims[d]);
      return -1;
    }
    t.dims[d] = x->dims[d] + b + e;
  }
  *out = t;
  return 0;
}

static int pad_lower(mlg_lower_ctx *ctx, int node) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  const mlg_attr *pads = mlg_attr_at(n, A_PADS);
  kt_pad_desc d = {.rank = x->rank, .mode = (kt_pad_mode)mlg_attr_int(n, A_MODE),
                   .value = mlg_attr_float(n, A_VALUE), .dtype = mlg_kir_scalar(x->dtype)};
  for (int k = 0; k < x->rank; k++) {
    d.shape[k] = x->dims[k];
    d.begin[k] = pads->ints[k];
    d.end[k] = pads->ints[x->rank + k];
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_pad(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, 1);
}

const mlg_op_def mlg_op_pad = {
  .name = "pad",
  .cls = MLG_OPC_INJECTIVE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 3,
  .attrs = {
    { .name = "pads", .kind = MLG_ATTR_INTS, .required = 1 },
    { .name = "mode", .kind = MLG_ATTR_ENUM, .deflt = MLG_DEFAULT_ENUM(KT_PAD_CONSTANT),
      .choices = pad_modes },
    { .name = "value", .kind = MLG_ATTR_FLOAT, .deflt = MLG_DEFAULT_FLOAT(0.0) },
  },
  .infer = pad_infer,
  .lower = pad_lower,
  .input_names = "x",
  .shape_doc = "dims[d] + pads[d] + pads[rank + d]",
  .doc = "pad each dim with value, its mirror image, or its edge (ONNX Pad; pads: all begins, "
         "then all ends)",
};

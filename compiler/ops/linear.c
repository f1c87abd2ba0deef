/* linear.c — linear(x, w, b?) = x @ wᵀ + b with PyTorch's layout: w is [out, in], b is [out]. */
#include "op_util.h"

static int linear_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                        mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  const mlg_type *x = &in[0], *w = &in[1];
  char s[128];
  if (x->rank < 1) {
    mlg_shape_errorf(err, 0, -1, "input is a scalar; linear needs rank >= 1");
    return -1;
  }
  if (mlg_require_rank(w, 1, 2, "[out_features, in_features]", err)) return -1;
  int64_t k = x->dims[x->rank - 1];
  if (w->dims[1] != k) {
    mlg_shape_errorf(err, 1, -1, "weight %s expects %lld input features, input has %lld",
                     mlg_type_format(w, s, sizeof s), (long long)w->dims[1], (long long)k);
    return -1;
  }
  if (n_in == 3 && (in[2].rank != 1 || in[2].dims[0] != w->dims[0])) {
    mlg_shape_errorf(err, 2, -1, "bias must be f32[%lld], got %s", (long long)w->dims[0],
                     mlg_type_format(&in[2], s, sizeof s));
    return -1;
  }
  *out = *x;
  out->dims[x->rank - 1] = w->dims[0];
  return 0;
}

const mlg_op_def mlg_op_linear = {
  .name = "linear",
  .cls = MLG_OPC_MATMUL,
  .min_inputs = 2,
  .max_inputs = 3,
  .infer = linear_infer,
  .doc = "x @ weight^T + bias (torch.nn.functional.linear)",
};

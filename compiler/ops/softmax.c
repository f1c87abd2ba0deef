/* softmax.c — softmax and log_softmax along one axis (default -1), as torch.softmax /
 * ONNX Softmax (opset 13). Normalized: axis in [0, rank). */
#include "op_util.h"

static int softmax_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                         mlg_shape_error *err) {
  if (mlg_require_f32(in, n_in, err)) return -1;
  char s[128];
  int axis = mlg_normalize_axis(attrs[0].ints[0], in[0].rank);
  if (axis < 0) {
    mlg_shape_errorf(err, -1, 0, "axis %lld is out of range for %s", (long long)attrs[0].ints[0],
                     mlg_type_format(&in[0], s, sizeof s));
    return -1;
  }
  attrs[0].ints[0] = axis;
  *out = in[0];
  return 0;
}

const mlg_op_def mlg_op_softmax = {
  .name = "softmax",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = softmax_infer,
  .doc = "exp(x - max) / sum(exp(x - max)) along axis",
};

const mlg_op_def mlg_op_log_softmax = {
  .name = "log_softmax",
  .cls = MLG_OPC_ROWWISE,
  .min_inputs = 1,
  .max_inputs = 1,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(-1) },
  },
  .infer = softmax_infer,
  .doc = "x - max - log(sum(exp(x - max))) along axis",
};

/* loss.c — the losses, each the mean over its elements as PyTorch's default reduction:
 * cross_entropy(logits, labels) (torch.nn.functional.cross_entropy with i32 class indices),
 * mse_loss(a, b) and bce_with_logits(x, target). They are composite ops: the checker writes each
 * as the ops below (op.h `decompose`), so their gradients are those ops' gradients and fusion
 * sees ordinary ops. */
#include "op_defs.h"
#include "op_util.h"

/* cross_entropy: logits [N, C, d...] (class dim 1), labels i32 [N, d...]. */
static int cross_entropy_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                               mlg_shape_error *err) {
  (void)n_in, (void)attrs;
  const mlg_type *x = &in[0], *y = &in[1];
  char s[128], s2[128];
  if (mlg_require_dtype(x, 0, MLG_F32, err) || mlg_require_dtype(y, 1, MLG_I32, err)) return -1;
  if (x->rank < 2) {
    mlg_shape_errorf(err, 0, -1, "logits must be [N, C, ...] (classes in dim 1), got %s",
                     mlg_type_format(x, s, sizeof s));
    return -1;
  }
  int ok = y->rank == x->rank - 1 && y->dims[0] == x->dims[0];
  for (int d = 2; ok && d < x->rank; d++) ok = y->dims[d - 1] == x->dims[d];
  if (!ok) {
    mlg_type want = {.dtype = MLG_I32, .rank = x->rank - 1};
    want.dims[0] = x->dims[0];
    for (int d = 2; d < x->rank; d++) want.dims[d - 1] = x->dims[d];
    mlg_shape_errorf(err, 1, -1, "labels must be %s (a class index per row of the logits %s), got %s",
                     mlg_type_format(&want, s, sizeof s), mlg_type_format(x, s2, sizeof s2),
                     mlg_type_format(y, s, sizeof s));
    return -1;
  }
  *out = (mlg_type){.dtype = MLG_F32, .rank = 0};
  return 0;
}

/* mean over the rows of -log_softmax(logits)[label], as sum(one_hot · log_softmax) over the
 * classes divided by sum(one_hot): 1 for a label in [0, C), and 0 — a NaN loss — for one
 * outside (PyTorch raises an error there; a kernel cannot). */
static int cross_entropy_decompose(mlg_op_builder *ob, const int *in, int n_in, const mlg_attr *attrs) {
  (void)n_in, (void)attrs;
  const mlg_type x = mlg_build_type(ob, in[0]);
  int64_t classes = x.dims[1], axis = 1;
  mlg_attr ls[MLG_MAX_ATTRS] = {mlg_attr_of_int(1)};
  int lp = mlg_build_op(ob, &mlg_op_log_softmax, &in[0], 1, ls);
  mlg_attr oa[MLG_MAX_ATTRS] = {mlg_attr_of_int(classes)};
  int oh = mlg_build_op(ob, &mlg_op_one_hot, &in[1], 1, oa);
  if (x.rank > 2) {
    /* [N, d..., C] → [N, C, d...] */
    int perm[MLG_MAX_RANK] = {0, x.rank - 1};
    for (int d = 2; d < x.rank; d++) perm[d] = d - 1;
    oh = mlg_b_transpose(ob, oh, perm);
  }
  int picked = mlg_b_reduce(ob, &mlg_op_sum, mlg_b2(ob, &mlg_op_mul, oh, lp), 1, &axis, 0);
  int valid = mlg_b_reduce(ob, &mlg_op_sum, oh, 1, &axis, 0);
  int per_row = mlg_b2(ob, &mlg_op_div, picked, valid);
  int64_t all[MLG_MAX_RANK];
  for (int d = 0; d < x.rank - 1; d++) all[d] = d;
  return mlg_b1(ob, &mlg_op_neg, mlg_b_reduce(ob, &mlg_op_mean, per_row, x.rank - 1, all, 0));
}

/* Two f32 tensors that broadcast together; the loss is a scalar. */
static int pair_loss_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                           mlg_shape_error *err) {
  (void)attrs;
  mlg_type t;
  if (mlg_require_f32(in, n_in, err) || mlg_broadcast_types(&in[0], &in[1], &t, err)) return -1;
  *out = (mlg_type){.dtype = MLG_F32, .rank = 0};
  return 0;
}

/* The mean of every element of x. */
static int mean_all(mlg_op_builder *ob, int x) {
  if (x < 0) return -1;
  int rank = mlg_build_type(ob, x).rank;
  if (rank == 0) return x;
  int64_t all[MLG_MAX_RANK];
  for (int d = 0; d < rank; d++) all[d] = d;
  return mlg_b_reduce(ob, &mlg_op_mean, x, rank, all, 0);
}

/* mean((a - b)²) */
static int mse_loss_decompose(mlg_op_builder *ob, const int *in, int n_in, const mlg_attr *attrs) {
  (void)n_in, (void)attrs;
  int d = mlg_b2(ob, &mlg_op_sub, in[0], in[1]);
  return mean_all(ob, mlg_b2(ob, &mlg_op_mul, d, d));
}

/* mean(max(x, 0) − x·target + log(1 + e^−|x|)), stable for any x, with max(x, 0) written
 * (x + |x|) / 2 so that its gradient at x = 0 is 1/2 and the loss's is sigmoid(0) − target,
 * as PyTorch's. */
static int bce_with_logits_decompose(mlg_op_builder *ob, const int *in, int n_in, const mlg_attr *attrs) {
  (void)n_in, (void)attrs;
  int x = in[0], y = in[1];
  int ax = mlg_b1(ob, &mlg_op_abs, x);
  int pos = mlg_b_scale(ob, mlg_b2(ob, &mlg_op_add, x, ax), 0.5);
  int soft = mlg_b1(ob, &mlg_op_log, mlg_b2(ob, &mlg_op_add, mlg_build_scalar(ob, 1),
                                            mlg_b1(ob, &mlg_op_exp, mlg_b1(ob, &mlg_op_neg, ax))));
  int per = mlg_b2(ob, &mlg_op_add, mlg_b2(ob, &mlg_op_sub, pos, mlg_b2(ob, &mlg_op_mul, x, y)), soft);
  return mean_all(ob, per);
}

const mlg_op_def mlg_op_cross_entropy = {
  .name = "cross_entropy",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = cross_entropy_infer,
  .decompose = cross_entropy_decompose,
  .input_names = "logits, labels",
  .shape_doc = "[N, C, ...] and i32 [N, ...] → f32[]",
  .doc = "mean of -log_softmax(logits)[label] over the rows (torch cross_entropy; a label outside [0, C) gives NaN)",
};

const mlg_op_def mlg_op_mse_loss = {
  .name = "mse_loss",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = pair_loss_infer,
  .decompose = mse_loss_decompose,
  .input_names = "a, b",
  .shape_doc = "a and b broadcast → f32[]",
  .doc = "mean((a - b)^2) (torch mse_loss)",
};

const mlg_op_def mlg_op_bce_with_logits = {
  .name = "bce_with_logits",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 2,
  .max_inputs = 2,
  .infer = pair_loss_infer,
  .decompose = bce_with_logits_decompose,
  .input_names = "x, target",
  .shape_doc = "x and target broadcast → f32[]",
  .doc = "mean binary cross-entropy of sigmoid(x) against target in [0, 1] (torch binary_cross_entropy_with_logits)",
};

/* where.c — where(cond, a, b): a where cond is true, else b, with NumPy broadcasting of all
 * three (torch.where, ONNX Where). cond is bool; a and b promote as arithmetic's operands do,
 * and a compile-time number for either takes the other's dtype (where(m, x, 0)). */
#include "op_util.h"
#include "kir.h"

static int where_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                       mlg_shape_error *err) {
  if (in[0].dtype != MLG_BOOL) {
    mlg_shape_errorf(err, 0, -1, "input 0 (the condition) must be bool, got %s (make one with a "
                     "comparison, e.g. greater(x, 0), or cast(x, dtype=bool))",
                     mlg_dtype_name(in[0].dtype));
    return -1;
  }
  mlg_ir_dtype dt;
  mlg_type ab;
  if (mlg_unify_dtypes(in, n_in, 6, &dt, err)) return -1;
  if (mlg_broadcast_types(&in[1], &in[2], &ab, err) || mlg_broadcast_types(&in[0], &ab, out, err))
    return -1;
  out->dtype = dt;
  return 0;
}

static kir_expr *where_scalar(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_select(b, in[0], in[1], in[2]);
}

const mlg_op_def mlg_op_where = {
  .name = "where",
  .cls = MLG_OPC_ELEMENTWISE,
  .min_inputs = 3,
  .max_inputs = 3,
  .infer = where_infer,
  .same_dtype = 6,
  .scalar = where_scalar,
  .input_names = "cond, a, b",
  .shape_doc = "NumPy broadcast of cond, a and b; the dtype a and b promote to",
  .doc = "a where cond is true, else b (elementwise select)",
};

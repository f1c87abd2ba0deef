/* quantize.c — linear quantization, as ONNX QuantizeLinear / DequantizeLinear:
 *   quantize_linear(x, scale, zero_point?, axis=1, dtype?)
 *       q = saturate(round_half_even(x / scale) + zero_point)       (i8 or u8)
 *   dequantize_linear(q, scale, zero_point?, axis=1)
 *       x = (q - zero_point) * scale                                 (f32)
 * scale (f32) and zero_point (i8/u8; i32 for dequantizing an i32 bias) are 0-d (per tensor) or
 * 1-d with one value per index of dim `axis` of x (per channel). A missing zero point is 0.
 * The output type of quantize_linear is the zero point's; `dtype` names it when there is none,
 * and must agree with it when both are given.
 *
 * Both are one elementwise kernel (templates/elementwise.h) whose scale and zero point are read
 * as [C, 1, ..., 1] tensors aligned with dim `axis`. They are not elementwise ops of the
 * registry (per-channel parameters do not broadcast the NumPy way), so constant folding never
 * turns quantized weights back into f32. */
#include <string.h>

#include "op_util.h"
#include "../lower_util.h"
#include "templates/elementwise.h"
#include "templates/qlinear.h"

enum { A_AXIS, A_DTYPE };

/* scale and zero point: 0-d, or 1-d along the normalized axis of x. */
static int qparams_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_shape_error *err) {
  const mlg_type *x = &in[0], *scale = &in[1];
  if (mlg_require_dtype(scale, 1, MLG_F32, err)) return -1;
  int axis = mlg_normalize_axis(attrs[A_AXIS].ints[0], x->rank > 0 ? x->rank : 1);
  if (axis < 0) {
    mlg_shape_errorf(err, -1, A_AXIS, "axis %lld is out of range for rank %d",
                     (long long)attrs[A_AXIS].ints[0], x->rank);
    return -1;
  }
  attrs[A_AXIS].ints[0] = axis;
  char s[128], t[128];
  for (int i = 1; i < n_in; i++) {
    const mlg_type *p = &in[i];
    if (p->rank == 0) continue;
    if (p->rank != 1 || x->rank == 0 || p->dims[0] != x->dims[axis]) {
      mlg_shape_errorf(err, i, -1,
                       "input %d must be 0-d (per tensor) or 1-d with one value per channel "
                       "of dim %d of %s, got %s", i, axis, mlg_type_format(x, s, sizeof s),
                       mlg_type_format(p, t, sizeof t));
      return -1;
    }
  }
  if (n_in == 3 && (in[2].rank != scale->rank || (in[2].rank == 1 && in[2].dims[0] != scale->dims[0]))) {
    mlg_shape_errorf(err, 2, -1, "the zero point %s and the scale %s differ in shape",
                     mlg_type_format(&in[2], s, sizeof s), mlg_type_format(scale, t, sizeof t));
    return -1;
  }
  return 0;
}

static int quantize_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                          mlg_shape_error *err) {
  if (mlg_require_float(in, 1, err)) return -1;
  if (qparams_infer(in, n_in, attrs, err)) return -1;
  const mlg_attr *dt = &attrs[A_DTYPE];
  int given = dt->kind == MLG_ATTR_DTYPE;
  if (given && dt->ints[0] != MLG_I8 && dt->ints[0] != MLG_U8) {
    mlg_shape_errorf(err, -1, A_DTYPE, "dtype must be i8 or u8, got %s",
                     mlg_dtype_name((mlg_ir_dtype)dt->ints[0]));
    return -1;
  }
  mlg_ir_dtype q;
  if (n_in == 3) {
    q = in[2].dtype;
    if (q != MLG_I8 && q != MLG_U8) {
      mlg_shape_errorf(err, 2, -1, "the zero point must be i8 or u8, got %s (declare it "
                       "`const zp : u8 = 128`)", mlg_dtype_name(q));
      return -1;
    }
    if (given && dt->ints[0] != q) {
      mlg_shape_errorf(err, -1, A_DTYPE, "dtype=%s disagrees with the zero point, which is %s; "
                       "drop dtype or change one of them", mlg_dtype_name((mlg_ir_dtype)dt->ints[0]),
                       mlg_dtype_name(q));
      return -1;
    }
  } else if (given) {
    q = (mlg_ir_dtype)dt->ints[0];
  } else {
    mlg_shape_errorf(err, -1, A_DTYPE, "without a zero point the result type is unknown: "
                     "give dtype=i8 or dtype=u8, or a zero point");
    return -1;
  }
  *out = in[0];
  out->dtype = q;
  return 0;
}

static int dequantize_infer(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err) {
  mlg_ir_dtype q = in[0].dtype;
  if (q != MLG_I8 && q != MLG_U8 && q != MLG_I32) {
    mlg_shape_errorf(err, 0, -1, "input 0 must be i8, u8 or i32, got %s", mlg_dtype_name(q));
    return -1;
  }
  if (qparams_infer(in, n_in, attrs, err)) return -1;
  if (n_in == 3 && in[2].dtype != q) {
    mlg_shape_errorf(err, 2, -1, "the zero point is %s but the input is %s; they must agree",
                     mlg_dtype_name(in[2].dtype), mlg_dtype_name(q));
    return -1;
  }
  *out = in[0];
  out->dtype = MLG_F32;
  return 0;
}

/* Input i's shape as the kernel reads it: x itself, a parameter as [C, 1, ..., 1] from dim
 * `axis` on (NumPy alignment from the right), or 0-d. */
static void param_shape(const mlg_type *x, const mlg_type *p, int axis, kt_ew_input *out) {
  if (p->rank == 0) {
    out->rank = 0;
    return;
  }
  out->rank = x->rank - axis;
  out->shape[0] = p->dims[0];
  for (int d = 1; d < out->rank; d++) out->shape[d] = 1;
}

typedef struct q_formula {
  kir_scalar q;     /* quantize: the output storage type */
  int has_zp;
} q_formula;

/* min(max(rint(x / s) + zp, lo), hi) as I32 (templates/qlinear.h kt_q_saturate). */
static kir_expr *quantize_scalar(kir_builder *b, kir_expr **in, const void *user) {
  const q_formula *f = user;
  int64_t lo, hi;
  kt_q_range(f->q, &lo, &hi);
  return kt_q_saturate(b, kir_bin(b, KIR_DIV, in[0], in[1]), f->has_zp ? in[2] : NULL, lo, hi);
}

/* f32(q - zp) * s: the integer difference is exact, so is its conversion (|q - zp| < 2^24 for
 * 8-bit inputs; an i32 input converts with f32 rounding, as ONNX's does). */
static kir_expr *dequantize_scalar(kir_builder *b, kir_expr **in, const void *user) {
  const q_formula *f = user;
  kir_expr *d = f->has_zp ? kir_bin(b, KIR_SUB, in[0], in[2]) : in[0];
  return kir_bin(b, KIR_MUL, kir_cast(b, kir_t(KIR_F32), d), in[1]);
}

static int qdq_lower(mlg_lower_ctx *ctx, int node, kt_scalar_fn scalar) {
  const mlg_node *n = &ctx->graph->nodes[node];
  const mlg_type *x = &ctx->graph->nodes[n->inputs[0]].type;
  int axis = (int)mlg_attr_int(n, A_AXIS);
  q_formula f = {.q = mlg_kir_scalar(n->type.dtype), .has_zp = n->n_inputs == 3};
  kt_elementwise_desc d = {.rank = n->type.rank, .out_dtype = mlg_kir_scalar(n->type.dtype),
                           .n_inputs = n->n_inputs, .scalar = scalar, .user = &f};
  memcpy(d.shape, n->type.dims, sizeof(int64_t) * (size_t)n->type.rank);
  d.inputs[0].rank = x->rank;
  memcpy(d.inputs[0].shape, x->dims, sizeof(int64_t) * (size_t)x->rank);
  for (int k = 0; k < n->n_inputs; k++) {
    const mlg_type *t = &ctx->graph->nodes[n->inputs[k]].type;
    d.inputs[k].dtype = mlg_kir_scalar(t->dtype);
    if (k > 0) param_shape(x, t, axis, &d.inputs[k]);
  }
  mlg_kernel_build kb;
  mlg_lower_begin(ctx, node, &kb);
  int rc = kt_elementwise(ctx->out->module, kb.name, &d, &kb.kernel, kb.groups);
  return mlg_lower_finish(ctx, node, &kb, rc, n->inputs, n->n_inputs);
}

static int quantize_lower(mlg_lower_ctx *ctx, int node) {
  return qdq_lower(ctx, node, quantize_scalar);
}

static int dequantize_lower(mlg_lower_ctx *ctx, int node) {
  return qdq_lower(ctx, node, dequantize_scalar);
}

/* A few operations per element (divide, round, add, clamp; subtract, multiply). */
static void qdq_cost(const mlg_graph *g, int node, mlg_op_cost *out) {
  out->flops = 2 * mlg_type_numel(&g->nodes[node].type);
}

static const mlg_op_spelling quantize_foreign[] = {
  {"QuantizeLinear", "quantize_linear(x, scale, zero_point, axis=1)"},
  {"quantize_per_tensor", "quantize_linear(x, scale, zero_point)"},
  {"quantize_per_channel", "quantize_linear(x, scale, zero_point, axis=A)"},
  {NULL, NULL},
};

static const mlg_op_spelling dequantize_foreign[] = {
  {"DequantizeLinear", "dequantize_linear(q, scale, zero_point, axis=1)"},
  {"dequantize", "dequantize_linear(q, scale, zero_point)"},
  {NULL, NULL},
};

const mlg_op_def mlg_op_quantize_linear = {
  .name = "quantize_linear",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 2,
  .max_inputs = 3,
  .n_attrs = 2,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) },
    { .name = "dtype", .kind = MLG_ATTR_DTYPE },
  },
  .infer = quantize_infer,
  .lower = quantize_lower,
  .cost = qdq_cost,
  .input_names = "x, scale, zero_point?",
  .shape_doc = "as x; i8 or u8 (the zero point's type, else dtype)",
  .doc = "saturate(round_half_even(x / scale) + zero_point), per tensor or per channel of "
         "dim axis (ONNX QuantizeLinear)",
  .foreign = quantize_foreign,
};

const mlg_op_def mlg_op_dequantize_linear = {
  .name = "dequantize_linear",
  .cls = MLG_OPC_OPAQUE,
  .min_inputs = 2,
  .max_inputs = 3,
  .n_attrs = 1,
  .attrs = {
    { .name = "axis", .kind = MLG_ATTR_INT, .deflt = MLG_DEFAULT_INT(1) },
  },
  .infer = dequantize_infer,
  .lower = dequantize_lower,
  .cost = qdq_cost,
  .input_names = "q, scale, zero_point?",
  .shape_doc = "as q; f32",
  .doc = "(q - zero_point) * scale, per tensor or per channel of dim axis (ONNX "
         "DequantizeLinear)",
  .foreign = dequantize_foreign,
};

/* op.h — the op registry: for each op, its name, arity, attributes and shape rule, and the
 * hooks that later stages use to lower it into kernels.
 *
 * One op (or one family sharing a rule, e.g. the unary elementwise ops) is defined in one file
 * under compiler/ops/, and listed once in ops/op_list.h. Adding an op touches that file, the
 * list line, and its tests.
 *
 * Call convention (checker): positional arguments fill the tensor inputs first (up to
 * max_inputs; a scalar literal there becomes a 0-d const tensor), then the attributes in schema
 * order; keyword arguments name attributes. With list_input set, the first argument is a list
 * of tensors ([a, b, ...]) that becomes all of the inputs (concat).
 * Thread safety: the registry is immutable static data. */
#ifndef MLG_OP_H
#define MLG_OP_H

#include "graph.h"

typedef enum mlg_op_class {
  MLG_OPC_ELEMENTWISE,  /* out[i] = f(in_0[bcast(i)], ...): unary, binary, clamp, ... */
  MLG_OPC_VIEW,         /* same bytes, new shape: reshape, flatten, squeeze, unsqueeze */
  MLG_OPC_INJECTIVE,    /* each output element reads one input element: transpose, slice,
                           concat, gather */
  MLG_OPC_REDUCTION,    /* sum, mean, max, min over axes */
  MLG_OPC_ROWWISE,      /* row reductions with an epilogue: softmax, log_softmax, layer_norm */
  MLG_OPC_MATMUL,       /* matmul, linear */
  MLG_OPC_CONV,         /* conv2d */
  MLG_OPC_POOL,         /* max_pool2d, avg_pool2d, global_avg_pool2d */
  MLG_OPC_OPAQUE        /* anything else (batch_norm before folding) */
} mlg_op_class;

typedef struct mlg_attr_def {
  const char *name;
  mlg_attr_kind kind;   /* INT (also bools), FLOAT (ints accepted), INTS (a single int accepted
                           as a 1-element list) */
  int required;
  mlg_attr deflt;       /* used when not given and not required (kind NONE = absent) */
} mlg_attr_def;

/* What a shape rule reports when the call is wrong. */
typedef struct mlg_shape_error {
  char msg[256];        /* without the op name: "inner dimensions differ (784 vs 785)" */
  int input;            /* index of the offending input, or -1 */
  int attr;             /* index of the offending attribute, or -1 */
} mlg_shape_error;

/* Infers the output type from the input types and attributes. May normalize attrs in place
 * (negative axes made non-negative, padding expanded to 4 values, defaults that depend on the
 * input rank filled in). Returns 0, or -1 with err filled. Must reject (never overflow on)
 * huge dims: every output numel must fit in int64 and below 2^40 elements. */
typedef int (*mlg_shape_fn)(const mlg_type *in, int n_in, mlg_attr *attrs, mlg_type *out,
                            mlg_shape_error *err);

/* Checks the values of the inputs known at compile time, after the shape rule: in_data[i] holds
 * input i's values (C order, its dtype) when it is a const, else NULL. Returns 0, or -1 with err
 * filled (err->input: the input at fault). */
typedef int (*mlg_value_check_fn)(const mlg_type *in, const void *const *in_data, int n_in,
                                  const mlg_attr *attrs, mlg_shape_error *err);

struct kir_builder;
struct kir_expr;
struct mlg_lower_ctx;

/* ELEMENTWISE ops: the scalar formula, given the (already broadcast) input values. */
typedef struct kir_expr *(*mlg_scalar_fn)(struct kir_builder *b, struct kir_expr **in,
                                          const mlg_attr *attrs);
/* Every other op: emits the kernels computing node `node` (see lower.h). */
typedef int (*mlg_lower_fn)(struct mlg_lower_ctx *ctx, int node);

/* A name other frameworks give an op, and how mlg writes it ("relu6" → "clamp(x, 0, 6)"),
 * for the checker's answer to an unknown op. */
typedef struct mlg_op_spelling {
  const char *name;
  const char *mlg;
} mlg_op_spelling;

struct mlg_op_def {
  const char *name;
  mlg_op_class cls;
  int min_inputs, max_inputs;
  int list_input;
  int n_attrs;
  mlg_attr_def attrs[MLG_MAX_ATTRS];
  mlg_shape_fn infer;
  mlg_value_check_fn check_values; /* optional: rules on const inputs (gather's indices) */
  mlg_scalar_fn scalar; /* ELEMENTWISE only */
  mlg_lower_fn lower;   /* non-ELEMENTWISE */
  const char *doc;      /* one line, for docs and "did you mean" listings */
  const mlg_op_spelling *foreign; /* other frameworks' names for it, {NULL} last; or NULL */
};

/* Looks an op up by name; NULL if unknown. */
const mlg_op_def *mlg_op_find(const char *name);
/* The closest op name within edit distance 2 (for "did you mean"), or NULL. */
const char *mlg_op_suggest(const char *name);
/* How mlg writes the op another framework calls `name` (an op's `foreign` list), or NULL. */
const char *mlg_op_foreign(const char *name);
int mlg_op_count(void);
const mlg_op_def *mlg_op_at(int i);
/* Index of an attribute by name in def->attrs, or -1. */
int mlg_op_attr_index(const mlg_op_def *def, const char *name);

/* Helpers for shape rules (ops/shape_util.c). */
int mlg_broadcast_types(const mlg_type *a, const mlg_type *b, mlg_type *out, mlg_shape_error *err);
/* Normalizes an axis in [-rank, rank) to [0, rank); returns -1 if out of range. */
int mlg_normalize_axis(int64_t axis, int rank);
void mlg_shape_errorf(mlg_shape_error *err, int input, int attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

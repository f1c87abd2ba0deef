/* onnx_internal.h — what the op table's mapping functions see of an import in progress.
 *
 * A mapping function (one per ONNX op, listed in onnx_ops.c) reads the current node's inputs
 * (as graph nodes, or as values known at import), its attributes (each one it reads is marked
 * handled), builds mlg ops through the registry, and binds the node's outputs. It returns 0,
 * or ox_fail(...)'s -1 with the reason the node cannot be imported.
 * Thread safety: one import per context. */
#ifndef MLG_ONNX_INTERNAL_H
#define MLG_ONNX_INTERNAL_H

#include <stdint.h>

#include "arena.h"
#include "graph.h"
#include "onnx/onnx.pb-c.h"

/* ONNX TensorProto.DataType values the importer names. */
enum {
  OX_FLOAT = 1, OX_UINT8 = 2, OX_INT8 = 3, OX_UINT16 = 4, OX_INT16 = 5, OX_INT32 = 6,
  OX_INT64 = 7, OX_STRING = 8, OX_BOOL = 9, OX_FLOAT16 = 10, OX_DOUBLE = 11, OX_UINT32 = 12,
  OX_UINT64 = 13
};

/* The mlg dtype of an ONNX one (float, float16, int32, int64, int8, uint8, bool): 0, or -1
 * for the others. */
int ox_mlg_dtype(int onnx_dtype, mlg_ir_dtype *out);
/* The ONNX dtype of an mlg one. */
int ox_onnx_dtype(mlg_ir_dtype dtype);

/* A tensor known at import: an initializer, a Constant, an input bound as a constant, or the
 * result of folding. FLOAT and FLOAT16 values are in `f`, every integer type and BOOL in `i`. */
typedef struct ox_tensor {
  int dtype;
  int rank;
  int64_t dims[MLG_MAX_RANK];
  int64_t numel;
  const float *f;
  const int64_t *i;
} ox_tensor;

typedef struct ox_ctx ox_ctx;

/* ---- the current node ---- */
int         ox_opset(const ox_ctx *c);
int         ox_n_inputs(const ox_ctx *c);   /* including trailing optional ones left empty */
int         ox_n_outputs(const ox_ctx *c);
/* Whether input i is given (an optional input may be absent or named ""). */
int         ox_has_input(const ox_ctx *c, int i);
int         ox_has_output(const ox_ctx *c, int i);

/* ---- inputs ---- */
/* Input i as a graph node (a value known at import becomes a param, for an initializer, or a
 * const); -1 with the reason set when it is not a tensor mlg can compute with (its dtype). */
int         ox_tensor_in(ox_ctx *c, int i);
/* Input i's value when it is known at import, else NULL with the reason set (`what` names it:
 * "shape", "axes"). */
const ox_tensor *ox_const_in(ox_ctx *c, int i, const char *what);
/* Input i, known at import (ox_known), as a const node (never a param, even for an
 * initializer) whose values are viewed as `rank`/`dims` (the same element count): the scales
 * and zero points of the quantization ops, which are the model's arithmetic rather than weights
 * to rebind, and which the QDQ pass (pass_qdq.c) needs const. -1 with the reason set. */
int         ox_known_const_in(ox_ctx *c, int i, int rank, const int64_t *dims);
/* Input i's value if known at import, else NULL (no reason set). */
const ox_tensor *ox_known(ox_ctx *c, int i);
/* Input i's type (dtype as mlg sees it, dims); NULL with the reason set if it has none. */
const mlg_type *ox_type_in(ox_ctx *c, int i);
/* The ONNX dtype of input i (0 if unknown). */
int         ox_dtype_in(ox_ctx *c, int i);

/* ---- attributes (reading one marks it handled) ---- */
int         ox_has_attr(const ox_ctx *c, const char *name);
int64_t     ox_attr_int(ox_ctx *c, const char *name, int64_t deflt);
double      ox_attr_float(ox_ctx *c, const char *name, double deflt);
/* Up to `max` ints into out; returns the count, or -1 when absent (out untouched), or -2 with
 * the reason set when there are more than max. */
int         ox_attr_ints(ox_ctx *c, const char *name, int64_t *out, int max);
/* A string attribute, or deflt. */
const char *ox_attr_string(ox_ctx *c, const char *name, const char *deflt);
/* A TENSOR attribute (Constant's value) decoded; NULL with the reason set. */
const ox_tensor *ox_attr_tensor(ox_ctx *c, const char *name);
/* Marks an attribute handled without reading it (one whose every value means the same here). */
void        ox_attr_ignore(ox_ctx *c, const char *name);

/* ---- building ---- */
/* One attribute of an mlg op call: name and value. Lists end with OX_END. */
typedef struct ox_kv {
  const char *name;
  mlg_attr value;
} ox_kv;
#define OX_END {.name = NULL}    /* ends a list of ox_kv */
mlg_attr    ox_i(int64_t v);
mlg_attr    ox_f(double v);
mlg_attr    ox_is(const int64_t *v, int n);
mlg_attr    ox_fs(const double *v, int n);
/* Choice `choice` of ENUM attribute `attr` of mlg op `op` (kind NONE when there is none). */
mlg_attr    ox_enum(const char *op, const char *attr, const char *choice);

/* Applies mlg op `op` to graph nodes `in` with attributes `kv` (NULL or an OX_END-terminated
 * list; the rest take the op's defaults) through its shape rule. Returns the node id, or -1
 * with the reason set ("mlg op conv2d: ..."). */
int         ox_op(ox_ctx *c, const char *op, const int *in, int n_in, const ox_kv *kv);
int         ox_op1(ox_ctx *c, const char *op, int x, const ox_kv *kv);
int         ox_op2(ox_ctx *c, const char *op, int a, int b);
/* A 0-d f32 const. */
int         ox_scalar(ox_ctx *c, float v);
/* A const of `type` (f32 from `f`, or i32 from `i`); -1 on failure. */
int         ox_const_node(ox_ctx *c, const mlg_type *type, const float *f, const int32_t *i);
const mlg_type *ox_type(const ox_ctx *c, int node);

/* Binds output k to graph node `node` (naming it after the output when it has no name). */
int         ox_set_output(ox_ctx *c, int k, int node);
/* Binds output k to a value known at import (the tensor is copied). */
int         ox_set_output_const(ox_ctx *c, int k, const ox_tensor *t);
/* A new tensor of `dtype` with `rank` dims, values zeroed, in the import's arena (f or i is
 * writable through the returned pointers); NULL on overflow or out of memory. */
ox_tensor  *ox_new_tensor(ox_ctx *c, int dtype, int rank, const int64_t *dims, float **out_f,
                          int64_t **out_i);

/* Records why the current node cannot be imported; returns -1. Only the first reason is kept. */
int         ox_fail(ox_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An out-of-memory failure: stops the import. */
int         ox_oom(ox_ctx *c);

/* ---- the op table (onnx_ops.c) ---- */
typedef int (*ox_map_fn)(ox_ctx *c);
typedef struct ox_op_entry {
  const char *onnx_op;
  ox_map_fn map;
  const char *mlg;          /* the mlg ops it becomes, for docs/onnx.md */
} ox_op_entry;
const ox_op_entry *ox_find_op(const char *onnx_op);
int                ox_op_table_size(void);
const ox_op_entry *ox_op_table_at(int i);
/* The oldest opset whose meaning of `onnx_op` its mapping implements: MLG_ONNX_MIN_OPSET, or
 * before it for the ops that have not changed since (the quantization ops of opset 10). */
int                ox_op_since(const char *onnx_op);
/* Why an ONNX op has no entry (the mlg op it waits for), or NULL. */
const char *ox_missing_reason(const char *onnx_op);

/* ---- tensors (onnx_tensor.c) ---- */
const char *ox_dtype_name(int dtype);
/* Decodes a TensorProto into arena memory; -1 with err filled (external data, sizes that do
 * not match the dims, unsupported dtypes, more than 2^31 elements). */
int         ox_tensor_decode(mlg_arena *arena, const Onnx__TensorProto *t, ox_tensor *out,
                             char *err, size_t err_size);
int64_t     ox_tensor_int(const ox_tensor *t, int64_t i);   /* element i as an integer */
double      ox_tensor_num(const ox_tensor *t, int64_t i);   /* element i as a number */
int         ox_is_int_dtype(int dtype);

#endif

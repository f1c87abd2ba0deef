/* onnx_import.h — the ONNX front end: an .onnx model to the same checked graph (graph.h) that
 * the .mlg checker builds. Nothing after the graph knows where it came from.
 *
 *   - Initializers become params named after them, their values embedded (MLG_INIT_DATA), so
 *     a bundle carries them and `mlgrun --weights` can still rebind them. Constant nodes become
 *     consts. Values known at import (shapes, Shape/Gather/Concat/Range arithmetic on them,
 *     Reshape targets, Slice bounds, ...) are folded and never reach the graph.
 *   - Each ONNX op maps through one entry of the op table (onnx_ops.c): a function that builds
 *     mlg ops with the registry's shape rules, reads the attributes it handles, and says why
 *     when it cannot. An attribute nobody read is reported.
 *   - Tensors of float32, float16, int32, int64, int8, uint8 and bool become mlg's f32 f16 i32
 *     i64 i8 u8 bool (an int64 value known at import must fit in 32 bits); other dtypes only
 *     as values known at import.
 *   - Names are mapped to mlg names (mlg_name_sanitize in emit_mlg.h; docs/onnx.md).
 *   - A symbolic input dim (dim_param) becomes a graph dim, bound by options->dims (by its ONNX
 *     or mlg name) or 1.
 *   - A model that uses anything unsupported is rejected with ONE error listing every node that
 *     cannot be imported (name, op, opset, the reason), not just the first.
 * Thread safety: reentrant. */
#ifndef MLG_ONNX_IMPORT_H
#define MLG_ONNX_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "checker.h"
#include "diag.h"
#include "graph.h"

/* The opsets of the default domain ("" / "ai.onnx") the importer accepts. A model of an older
 * opset, down to MLG_ONNX_OLDEST_OPSET, is read when every op in it means there what its
 * mapping implements (the quantization ops of opset 10); any other op of it is reported. */
#define MLG_ONNX_MIN_OPSET 11
#define MLG_ONNX_MAX_OPSET 25
#define MLG_ONNX_OLDEST_OPSET 10

struct Onnx__TensorProto;

/* A graph input whose value is fixed at import (folded like an initializer): the conformance
 * runner binds the shape-like inputs of the ONNX backend tests this way. */
typedef struct mlg_onnx_const_input {
  const char *name;                          /* the ONNX input name */
  const struct Onnx__TensorProto *value;
} mlg_onnx_const_input;

typedef struct mlg_onnx_options {
  int n_dims;                                /* values of symbolic dims (-D NAME=VALUE) */
  const mlg_dim_binding *dims;
  int n_const_inputs;
  const mlg_onnx_const_input *const_inputs;
  /* The most bytes of values the import may compute (folding: Expand, ConstantOfShape, shape
   * arithmetic, ...), all together; a node past it is reported like any node that cannot be
   * imported. 0 → MLG_DEFAULT_MAX_WEIGHT_BYTES; the compiler passes its weight budget. */
  uint64_t max_weight_bytes;
} mlg_onnx_options;

/* Imports a model from memory; `path` names it in messages and gives the model its name when
 * the graph has none. Returns 0 with *out_graph set (free with mlg_graph_free), or -1 after
 * reporting to diag. */
int mlg_onnx_import(const uint8_t *bytes, size_t size, const char *path,
                    const mlg_onnx_options *options, mlg_diag *diag, mlg_graph **out_graph);
/* Reads the file (at most MLG_ONNX_MAX_FILE_BYTES) and imports it. */
int mlg_onnx_import_file(const char *path, const mlg_onnx_options *options, mlg_diag *diag,
                         mlg_graph **out_graph);
/* Whether `path` names an ONNX model (ends in ".onnx"): the tools pick the front end by it. */
int mlg_onnx_is_model_path(const char *path);

#endif

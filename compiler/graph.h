/* graph.h — the op graph: typed SSA nodes in topological order.
 *
 * Built by the checker (check.h) from the AST, with every symbolic dim bound and every shape
 * known. Leaves are inputs, params and consts; every other node applies one op (op.h) to
 * earlier nodes. Later stages (passes, fusion, planning, lowering) read a graph and build new
 * structures; a pass that rewrites produces a new graph (mlg_graph_builder), never patches one.
 * Thread safety: immutable once built; safe to read from several threads. */
#ifndef MLG_GRAPH_H
#define MLG_GRAPH_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

#define MLG_MAX_RANK 8
#define MLG_MAX_ATTRS 8
#define MLG_MAX_ATTR_INTS 8

/* Element types, numbered as runtime/dtype.h (and the bundle). Devices compute f16 in f32, and
 * bool, i8, u8 and i64 in i32; each is stored as it is (i64 as i32: see language.md). */
typedef enum mlg_ir_dtype {
  MLG_F32 = 0, MLG_I32 = 1, MLG_BOOL = 2, MLG_I64 = 3, MLG_F16 = 4, MLG_I8 = 5, MLG_U8 = 6
} mlg_ir_dtype;
#define MLG_N_DTYPES 7

typedef struct mlg_type {
  mlg_ir_dtype dtype;
  int rank;                      /* 0 = scalar */
  int64_t dims[MLG_MAX_RANK];
} mlg_type;

typedef enum mlg_attr_kind {
  MLG_ATTR_NONE = 0,             /* not given and no default */
  MLG_ATTR_INT,                  /* ints[0] (bools are 0/1) */
  MLG_ATTR_FLOAT,                /* f */
  MLG_ATTR_INTS,                 /* n ints */
  MLG_ATTR_DTYPE,                /* ints[0]: an mlg_ir_dtype, written as a type name (i32) */
  MLG_ATTR_FLOATS,               /* n numbers in floats[] */
  MLG_ATTR_ENUM,                 /* ints[0]: the index of a name in the attribute's choices
                                    (op.h mlg_attr_def), written as a bare identifier */
} mlg_attr_kind;

typedef struct mlg_attr {
  mlg_attr_kind kind;
  int n;
  union {
    int64_t ints[MLG_MAX_ATTR_INTS];    /* INT, INTS, ENUM */
    double floats[MLG_MAX_ATTR_INTS];   /* FLOATS */
  };
  double f;                      /* FLOAT */
} mlg_attr;

typedef enum mlg_node_kind {
  MLG_NODE_INPUT,                /* model input, fed at run time */
  MLG_NODE_PARAM,                /* weight: from a weights file or its initializer */
  MLG_NODE_CONST,                /* compile-time tensor, data in `data` */
  MLG_NODE_OP,                   /* op applied to inputs */
  MLG_NODE_STATE                 /* optimizer state (a momentum, an Adam moment, the step count):
                                    zeros when a session starts, then written by each train
                                    step (graph updates) */
} mlg_node_kind;

typedef enum mlg_init_kind {
  MLG_INIT_NONE,                 /* must come from a weights file */
  MLG_INIT_ZEROS, MLG_INIT_ONES,
  MLG_INIT_NORMAL,               /* a = mean, b = std */
  MLG_INIT_UNIFORM,              /* a = lo, b = hi */
  MLG_INIT_DATA                  /* the node's `data` (an imported model's weights) */
} mlg_init_kind;

typedef struct mlg_init {
  mlg_init_kind kind;
  double a, b;
  uint64_t seed;
} mlg_init;

typedef struct mlg_op_def mlg_op_def;

typedef struct mlg_node {
  mlg_node_kind kind;
  const mlg_op_def *op;          /* MLG_NODE_OP only */
  const char *name;              /* input/param/const name, or the binding name; may be NULL */
  mlg_type type;
  int n_inputs;
  const int *inputs;             /* ids of earlier nodes */
  mlg_attr attrs[MLG_MAX_ATTRS]; /* in the op's schema order, normalized by its shape rule */
  mlg_span span;                 /* where in the source this node came from */
  mlg_init init;                 /* PARAM */
  const void *data;              /* CONST, and PARAM with MLG_INIT_DATA: values as stored
                                    (mlg_dtype_size bytes each, C order, count = numel): read
                                    and write them with mlg_data_get/set */
} mlg_node;

/* The programs a graph holds (bits): a model runs forward (RUN: the declared outputs); a model
 * with a `train` statement also has a train step (TRAIN: the loss, and the updates). */
enum { MLG_GRAPH_RUN = 1, MLG_GRAPH_TRAIN = 2 };

typedef struct mlg_graph_output {
  const char *name;
  int node;
  unsigned programs;             /* MLG_PROGRAM_* bits: which programs write it */
} mlg_graph_output;

/* A train step's write: when the step ends, leaf `target` (a trained param or an optimizer
 * state) holds the value of node `value`, computed from the values every leaf had when the
 * step began. */
typedef struct mlg_graph_update {
  int target;
  int value;
} mlg_graph_update;
/* A symbolic dim of the model (`dim N = 1`, an ONNX input's dim_param) with the value it was
 * bound to, and where the inputs use it: what `--emit=mlg` prints back as `dim` declarations
 * and input types. Every shape in the graph is concrete either way. */
typedef struct mlg_graph_dim {
  const char *name;
  int64_t value;
} mlg_graph_dim;

typedef struct mlg_graph_dim_use {
  int node;                      /* an INPUT node */
  int axis;
  int dim;                       /* index into dims */
} mlg_graph_dim_use;

typedef struct mlg_graph {
  mlg_arena arena;               /* owns nodes, names, inputs arrays, const and param data */
  const char *model_name;
  int n_nodes;
  mlg_node *nodes;               /* topological: node i reads only nodes < i */
  int n_outputs;
  mlg_graph_output *outputs;
  int n_updates;                 /* the train step's writes, in the order they were built */
  mlg_graph_update *updates;
  const char *optimizer;         /* a model with a train step: its optimizer as the bundle
                                    records it ("sgd(lr=0.1, momentum=0.9)"); else NULL */
  /* The model's symbolic dims, as declared (front ends fill them; the passes' graphs have none). */
  int n_dims;
  mlg_graph_dim *dims;
  int n_dim_uses;
  mlg_graph_dim_use *dim_uses;
} mlg_graph;

/* Number of elements; -1 on overflow (the checker rejects such types). */
int64_t mlg_type_numel(const mlg_type *type);
int     mlg_type_equal(const mlg_type *a, const mlg_type *b);
/* "f32[1, 784]" into buf; returns buf. */
char   *mlg_type_format(const mlg_type *type, char *buf, size_t size);
const char *mlg_dtype_name(mlg_ir_dtype dtype);
/* Bytes per element as stored (f16 2; bool, i8, u8 1; i64 4, as i32; else 4), and bytes of a
 * whole tensor (-1 on overflow). */
int     mlg_dtype_size(mlg_ir_dtype dtype);
int64_t mlg_type_bytes(const mlg_type *type);
int     mlg_dtype_is_float(mlg_ir_dtype dtype);     /* f32, f16 */
int     mlg_dtype_is_int(mlg_ir_dtype dtype);       /* i32, i64, i8, u8 */
/* f16, i8, u8: values computed in a wider type (f32, i32) and rounded or wrapped where they
 * are stored, so every op's result of such a type is stored (never fused away): each op rounds
 * exactly as it does alone. */
int     mlg_dtype_is_narrow(mlg_ir_dtype dtype);
/* The dtype an op mixing a and b computes in (language.md, "Types"): a when they are equal;
 * f16 with f32 gives f32; two integer types give i64 when one is i64, else i32. Returns 0, or
 * -1 for any other pair (a float with an integer, bool with a number): a cast is needed. */
int     mlg_dtype_promote(mlg_ir_dtype a, mlg_ir_dtype b, mlg_ir_dtype *out);
/* Element i of values stored as dtype (f16 as binary16 bits, i64 as i32, bool as a 0/1 byte),
 * as a double: exact for every dtype. */
double  mlg_data_get(mlg_ir_dtype dtype, const void *data, int64_t i);
/* Stores v as element i the way a kernel's store converts a computed value: f32 and f16 round
 * to nearest (ties to even); an integer type truncates toward zero and keeps the low bits of
 * its width (two's complement; i64 keeps 32); bool stores v != 0. */
void    mlg_data_set(mlg_ir_dtype dtype, void *data, int64_t i, double v);

/* Builder: append nodes in topological order; the graph takes a copy of everything passed. */
typedef struct mlg_graph_builder {
  mlg_graph *graph;
  int capacity;
  int output_capacity;
  int update_capacity;
  int dim_capacity, dim_use_capacity;
} mlg_graph_builder;

int  mlg_graph_builder_init(mlg_graph_builder *b, const char *model_name);
/* Returns the new node id, or -1 on allocation failure. `node->inputs` and `node->data` are
 * copied into the graph's arena. */
int  mlg_graph_add(mlg_graph_builder *b, const mlg_node *node);
/* An output of the RUN program (a declared output). */
int  mlg_graph_add_output(mlg_graph_builder *b, const char *name, int node);
/* An output written by `programs` (MLG_PROGRAM_* bits). */
int  mlg_graph_add_output_in(mlg_graph_builder *b, const char *name, int node, unsigned programs);
/* A train step's write of `value` into leaf `target` (mlg_graph_update). */
int  mlg_graph_add_update(mlg_graph_builder *b, int target, int value);
/* Copies `optimizer` (a description, or NULL) into the graph. Returns 0, or -1 (memory). */
int  mlg_graph_set_optimizer(mlg_graph_builder *b, const char *optimizer);
/* The programs each node is computed in: out[i] = the MLG_PROGRAM_* bits of the outputs and
 * updates node i feeds (0: dead). `out` has g->n_nodes entries. */
void mlg_graph_programs(const mlg_graph *g, unsigned *out);
/* The index in g->updates of the update whose target is node `leaf`, or -1. */
int  mlg_graph_update_of(const mlg_graph *g, int leaf);
/* Whether node t (any int) is a weight: a param that no train step updates, or a const. Its
 * value is fixed once a model is loaded (the memory plan's preparation reads only these). */
int  mlg_graph_is_weight(const mlg_graph *g, int t);
/* Declares a symbolic dim (returns its index, or -1), and its use by an input's axis. */
int  mlg_graph_add_dim(mlg_graph_builder *b, const char *name, int64_t value);
int  mlg_graph_add_dim_use(mlg_graph_builder *b, int node, int axis, int dim);
/* Hands the finished graph to the caller (free with mlg_graph_free). */
mlg_graph *mlg_graph_builder_finish(mlg_graph_builder *b);
void mlg_graph_builder_abandon(mlg_graph_builder *b);

void mlg_graph_free(mlg_graph *graph);
/* --emit=graph: one node per line, e.g.
 *   %3 = linear(%0, %1, %2) : f32[1, 256]          # fc1 @ 9:14
 * with params/inputs/consts (and optimizer states) first as declarations, then the outputs
 * (`output loss = %9 [run, train]` when a train step writes one too), the updates
 * (`update %1 = %40`) and the optimizer. Stable for golden files. */
void mlg_graph_print(const mlg_graph *graph, const mlg_source *source, FILE *out);

#endif

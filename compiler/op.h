/* op.h — the op registry: for each op, its name, arity, attributes and shape rule, and the
 * hooks and traits through which every later stage (passes, fusion, lowering) asks about it.
 * No stage outside compiler/ops/ tests an op's name or the address of its definition.
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
                           as a 1-element list), FLOATS (numbers; a single number accepted as a
                           1-element list), ENUM (one of `choices`, a bare identifier) */
  int required;
  mlg_attr deflt;       /* used when not given and not required (kind NONE = absent) */
  const char *const *choices; /* ENUM: the names it takes, NULL last; stored as their index */
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

/* ELEMENTWISE ops: the scalar formula, given the (already broadcast) input values; node n
 * gives the attributes (mlg_attr_*). */
typedef struct kir_expr *(*mlg_scalar_fn)(struct kir_builder *b, struct kir_expr **in,
                                          const mlg_node *n);
/* Every other op: emits the kernels computing node `node` (see lower.h). */
typedef int (*mlg_lower_fn)(struct mlg_lower_ctx *ctx, int node);

/* ---- index mapping: ops whose every output element is one input element (transpose, slice,
 * the views). Fusion folds them into the index arithmetic of their readers and lowering turns a
 * chain of them into one strided view; both work from this map alone, never from the op. ---- */
typedef enum mlg_index_kind {
  MLG_INDEX_SAME_ORDER, /* a view: output element i (C order) is input element i; same bytes */
  MLG_INDEX_AXES        /* output coordinate c_d reads input coordinate start[d] + step[d]·c_d
                           along input dim axis[d]; ranks are equal and axis[] is a permutation */
} mlg_index_kind;

typedef struct mlg_index_map {
  mlg_index_kind kind;
  int rank, in_rank;
  int64_t dims[MLG_MAX_RANK];      /* the output's dims */
  int64_t in_dims[MLG_MAX_RANK];   /* the input's dims */
  int axis[MLG_MAX_RANK];          /* AXES only, per output dim */
  int64_t start[MLG_MAX_RANK], step[MLG_MAX_RANK];
} mlg_index_map;

/* Fills kind, axis, start and step of node n's map (rank and dims are filled by the caller,
 * mlg_node_index_map). Returns 0, or -1 when n's attributes are not normalized. */
typedef int (*mlg_index_fn)(const mlg_node *n, mlg_index_map *map);

/* ---- fusion traits: where fuse.c may put the op's nodes (fuse.h). An anchor's template runs
 * a whole group: elementwise ops after it are its epilogue; its inputs may take more work, per
 * input slot: ---- */
enum {
  MLG_IN_PROLOGUE = 1,  /* computed per load by a prologue: the elementwise and index ops that
                           produce it are recomputed inside the anchor's loads */
  MLG_IN_STRIDED = 2,   /* read as a strided view of a stored tensor: index ops before it fold
                           into its offset and strides */
  MLG_IN_ROWS = 4,      /* with STRIDED: read as a [rows, last dim] matrix, so the view's leading
                           dims must merge into one stride */
  MLG_IN_ROW_NORM = 8   /* a row normalization (an op with a row_norm trait) may be computed in
                           its loads */
};
#define MLG_TRAIT_INPUTS 4 /* input slots with traits; later slots take none */

/* A row normalization as a reader computes it in its loads: each row of the last dim becomes
 * (x - mean) / sqrt(var + eps) * weight + bias. */
typedef struct mlg_row_norm {
  double eps;
  int weight, bias;     /* the node ids of the weight and bias tensors, or -1 */
} mlg_row_norm;

typedef struct mlg_fusion_traits {
  int anchor;           /* the op's template runs a fused group (takes an epilogue, and the
                           input traits below); it is never recomputed */
  int store_strided;    /* as an anchor, stores through any strided layout: transposes and views
                           may follow it inside its group */
  int blocked;          /* as an anchor, its CPU kernel computes register blocks of explicit
                           vectors, so its epilogue runs as scalar code per output, which PoCL
                           does not vectorize (fuse.h MLG_FUSE_CHEAP_EPILOGUES) */
  unsigned char inputs[MLG_TRAIT_INPUTS]; /* per input slot: MLG_IN_* */
  /* store_strided anchors whose template iterates other dims than the output's (matmul:
   * [batch..., M, N]; linear: [rows, N]): those dims. Returns the rank, or -1. NULL: the
   * output's dims. */
  int (*iter_dims)(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]);
  /* Ops a reader can compute in its loads (layer_norm over the last dim): 0 with *out filled
   * when node n can be, else -1. NULL: never. */
  int (*row_norm)(const mlg_node *n, mlg_row_norm *out);
} mlg_fusion_traits;

/* ---- algebra: what the optimizer's passes may rewrite (pass_simplify.c, pass_bn_fold.c) and
 * how the language's operators name ops (the checker) ---- */
enum { MLG_ID_RIGHT = 1, MLG_ID_LEFT = 2 };

/* A per-channel normalization of its input 0 over dim 1 given by its other inputs (slots):
 * y = (x - mean) / sqrt(var + eps) * scale + shift. */
typedef struct mlg_channel_norm {
  int scale, shift, mean, var;  /* input slots */
  double eps;
} mlg_channel_norm;

/* What an op's recognize hook found (below): the inputs and attributes of one node of the op
 * that computes what a subgraph computes. */
typedef struct mlg_recognized {
  int n_inputs;
  int inputs[MLG_TRAIT_INPUTS];     /* node ids of the graph searched */
  unsigned swap_last2;              /* bit i: input i is read with its last two dims swapped
                                       (the pass puts a transpose before it) */
  mlg_attr attrs[MLG_MAX_ATTRS];    /* in this op's schema order, before its shape rule */
} mlg_recognized;

typedef struct mlg_algebra {
  char operator_sym;    /* the operator that means this op ('+', '@'; '-' for sub with two
                           operands and neg with one), or 0 */
  /* Binary ops: x op e == x for every IEEE value x when e is a const whose every element is
   * `identity`, on the sides listed (MLG_ID_RIGHT: x op e; MLG_ID_LEFT: e op x). */
  int identity_sides;
  float identity;
  int involution;       /* unary: op(op(x)) == x */
  /* outer(inner(x)) with both nodes this op, as one application: fills attrs (the schema's
   * slots) and returns 0, or -1 when it cannot. */
  int (*compose)(const mlg_node *outer, const mlg_node *inner, mlg_attr attrs[MLG_MAX_ATTRS]);
  /* This op is a channel norm (above): fills *out and returns 0, or -1. */
  int (*channel_norm)(const mlg_node *n, mlg_channel_norm *out);
  /* At an output of this rank, output channel o (dim 1) is linear in row o of the weight
   * (input 1, dims[0] = channels) plus bias[o] (input 2, optional): a channel norm after it
   * folds into its weight and bias (conv2d: 4, linear: 2); 0: never. */
  int channel_linear_rank;
  /* This op computes what a subgraph of other ops computes (attention: softmax(q @ k · s + m)
   * @ v): when the nodes ending at node `root` of g are such a subgraph, and every node of it
   * but the root is read by nothing else (uses[i]: how many inputs and outputs read node i),
   * fills *out and returns 0; else -1. The optimizer's recognize pass (optimize.h) then
   * computes the root with one node of this op. NULL: never. */
  int (*recognize)(const mlg_graph *g, int root, const int *uses, mlg_recognized *out);
} mlg_algebra;

/* ---- cost: what the op's work is, for the kernel table of the bundle and mlgrun --profile
 * (lowering sums it per launch, see lower.h mlg_launch). ---- */
typedef struct mlg_op_cost {
  int64_t flops;        /* arithmetic operations; a multiply-add counts 2 */
  int64_t bytes;        /* bytes it reads and writes running alone: each input read once,
                           the output written once (less where it reads part of an input) */
} mlg_op_cost;

/* Fills the cost of node `node` of g. */
typedef void (*mlg_cost_fn)(const mlg_graph *g, int node, mlg_op_cost *out);

/* ---- building graph ops from an op's own hooks. A composite op's expansion (the checker
 * appends it in place of a node of the op) and an op's gradient (autodiff.h) are ordinary ops
 * appended to the graph being built, each through its op's shape rule, so that everything
 * after the checker sees only ops it already knows. ---- */
typedef struct mlg_op_builder {
  mlg_graph_builder *graph; /* where the nodes go */
  mlg_span span;            /* given to every node built (the node whose expansion or gradient
                               this is) */
  int failed;               /* a shape rule or an allocation failed: later calls return -1 */
  char error[256];          /* the first failure, "<op>: <what>" */
} mlg_op_builder;

/* Appends `def` applied to inputs[0..n_inputs) with attributes `attrs` (the schema's slots, as
 * the checker fills them; NULL: every default), through the op's shape rule (and its
 * decomposition, for a composite op). Returns the node id, or -1 (ob->error says why). */
int mlg_build_op(mlg_op_builder *ob, const mlg_op_def *def, const int *inputs, int n_inputs,
                 const mlg_attr *attrs);
/* An f32 scalar (rank 0) const. Returns its id or -1. */
int mlg_build_scalar(mlg_op_builder *ob, double value);
/* A const of `type` holding `data` (numel values of its dtype, C order). Returns its id or -1. */
int mlg_build_const(mlg_op_builder *ob, const mlg_type *type, const void *data);
/* The type of node `node` of the graph being built, as a copy: building appends nodes, which
 * may move the node array, so no pointer into it outlives the next build call. */
mlg_type mlg_build_type(const mlg_op_builder *ob, int node);
/* Records a failure (the first one is kept) and returns -1. */
int mlg_build_fail(mlg_op_builder *ob, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Gradient of op node `n` (a copy of node `node` of the graph being built), its vector-Jacobian
 * product: dy is the gradient of the loss with respect to n's output (a node of n's type).
 * Fills dx[i], for every input i with needs[i] set, with the gradient with respect to input i
 * (a node of input i's type), or -1 where it is zero (a piecewise-constant op). Built from
 * ordinary ops, so the backward graph is optimized, fused and planned like any other. Returns
 * 0, or -1 (ob's error). */
typedef int (*mlg_vjp_fn)(mlg_op_builder *ob, const mlg_node *n, int node, int dy,
                          const char *needs, int *dx);
/* A composite op: builds its result from other ops, given the inputs and the attributes its
 * shape rule normalized; returns the node holding the result, or -1 (ob's error). */
typedef int (*mlg_decompose_fn)(mlg_op_builder *ob, const int *inputs, int n_inputs,
                                const mlg_attr *attrs);

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
  /* Bit i set: input i's dtype unifies with the other such inputs' (mlg_dtype_promote: add's
   * a and b, where's branches); a compile-time number given for one of them takes the dtype
   * they unify to (`x + 1` with an i32 x adds an i32 1). The shape rule still checks them. */
  unsigned same_dtype;
  mlg_scalar_fn scalar; /* ELEMENTWISE only */
  mlg_lower_fn lower;   /* non-ELEMENTWISE */
  int variant;          /* a family sharing hooks: which member, in the family's own terms
                           (reduce.c: KT_RED_SUM ...; pool.c: KT_POOL_MAX ...) */
  mlg_index_fn index;   /* index ops (transpose, slice, views): the element each output reads */
  mlg_fusion_traits fusion;
  mlg_algebra algebra;
  mlg_cost_fn cost;     /* NULL: mlg_node_cost's default rule (below); a hook is handed that
                           default filled in and changes what differs */
  mlg_vjp_fn vjp;       /* the gradient; NULL: not differentiable (autodiff names the op) */
  mlg_decompose_fn decompose; /* a composite op: never a node, always these ops (losses) */
  /* Documentation, printed into docs/ops.md by mlg_op_doc_print: */
  const char *input_names; /* "x, weight, bias?": one name per input, `?` marking the optional
                              ones; "[a, b, ...]" for a list input */
  const char *shape_doc;   /* the shape rule in one line: "[N, C, H, W] → [N, O, H′, W′]" */
  const char *doc;         /* what it computes, one line (also "did you mean" listings) */
  const mlg_op_spelling *foreign; /* other frameworks' names for it, {NULL} last; or NULL */
};

/* Looks an op up by name; NULL if unknown. */
const mlg_op_def *mlg_op_find(const char *name);
/* The op that operator `sym` applied to n_operands operands means ('+', 2: add), or NULL. */
const mlg_op_def *mlg_op_for_operator(char sym, int n_operands);
/* The closest op name within edit distance 2 (for "did you mean"), or NULL. */
const char *mlg_op_suggest(const char *name);
/* How mlg writes the op another framework calls `name` (an op's `foreign` list), or NULL. */
const char *mlg_op_foreign(const char *name);
int mlg_op_count(void);
const mlg_op_def *mlg_op_at(int i);
/* Index of an attribute by name in def->attrs, or -1. */
int mlg_op_attr_index(const mlg_op_def *def, const char *name);
/* The name of choice `index` of ENUM attribute `ad`, or NULL when out of range. */
const char *mlg_attr_choice(const mlg_attr_def *ad, int64_t index);

/* Attributes, the one way every stage after the checker reads them: attribute k of node n by
 * its op's schema index (the op file's A_* enum), the node's value or else the schema default;
 * kind NONE when neither (an optional attribute without default, not given). */
const mlg_attr *mlg_attr_at(const mlg_node *n, int k);
/* ints[0] (a FLOAT truncated; an ENUM's index); 0 when absent. */
int64_t mlg_attr_int(const mlg_node *n, int k);
/* f (an INT converted); 0 when absent. */
double  mlg_attr_float(const mlg_node *n, int k);

/* The fusion traits (MLG_IN_*) of input `slot` of op def; 0 past MLG_TRAIT_INPUTS. */
unsigned mlg_op_input_traits(const mlg_op_def *def, int slot);
/* The dims node `node`'s kernel iterates when it anchors a group (fusion.iter_dims, else its
 * output dims). Returns the rank, or -1. */
int mlg_node_iter_dims(const mlg_graph *g, int node, int64_t dims[MLG_MAX_RANK]);

/* The cost of op node `node`: its op's cost hook, else the default rule: an elementwise op one
 * flop per output element, any other op none (data movement); bytes every input once and the
 * output once. Leaves (inputs, params, consts) cost nothing. */
void mlg_node_cost(const mlg_graph *g, int node, mlg_op_cost *out);

/* The index map of op node n whose input has type `in` (mlg_node_index_map without a graph,
 * for nodes being built). */
int mlg_index_map_of(const mlg_node *n, const mlg_type *in, mlg_index_map *out);
/* Whether map m reads every element of its input in place (output element i is input
 * element i with the same coordinates). */
int mlg_index_map_is_identity(const mlg_index_map *m);

/* Whether node n applies an index op (one with an index hook). */
int mlg_node_is_index(const mlg_node *n);
/* The index map of node `node` of g (an index op applied to one input). Returns 0, or -1 when
 * the node is no index op or its attributes are not normalized. */
int mlg_node_index_map(const mlg_graph *g, int node, mlg_index_map *out);

/* The per-op reference tables of docs/ops.md, generated from the registry (ops/op_doc.c):
 * a row per op (class, inputs, attributes with kinds and defaults, output shape, summary),
 * then the ops of each class. `mlgc --ops-doc` prints it; tests/suite_ops_doc.sh checks that
 * docs/ops.md holds exactly this text. */
void mlg_op_doc_print(FILE *out);

/* Helpers for shape rules (ops/shape_util.c). */
int mlg_broadcast_types(const mlg_type *a, const mlg_type *b, mlg_type *out, mlg_shape_error *err);
/* The dtype inputs `mask` (bit i: in[i]) of in[0..n) unify to (mlg_dtype_promote), or -1 with
 * err naming the input that does not mix and how to cast it. */
int mlg_unify_dtypes(const mlg_type *in, int n, unsigned mask, mlg_ir_dtype *out,
                     mlg_shape_error *err);
/* Normalizes an axis in [-rank, rank) to [0, rank); returns -1 if out of range. */
int mlg_normalize_axis(int64_t axis, int rank);
void mlg_shape_errorf(mlg_shape_error *err, int input, int attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

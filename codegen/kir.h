/* kir.h — the kernel IR: one description of a compute kernel that both printers render
 * (opencl_printer.c → OpenCL C 1.2, glsl_printer.c → GLSL 450 compute).
 *
 * A kernel has buffer parameters (each bound at run time to a (buffer, element offset) pair, so
 * no sub-buffers are needed), optional local (work-group shared) arrays, typed variables, a fixed
 * work-group size, and a body of statements over expressions. Expressions cover index arithmetic,
 * loads from buffers and local arrays, elementwise math and select. Statements cover variable
 * declaration/assignment, stores, counted loops, if/else, barriers and early return.
 *
 * Printers differ only in spelling: `p[p_off + i]` vs a buffer block with a push-constant
 * offset, get_global_id vs gl_GlobalInvocationID, __local vs shared, barrier spellings, and the
 * math library (GLSL has no erf: the GLSL printer emits a helper).
 *
 * Memory: everything belongs to the kir_module's arena and dies with it.
 * Thread safety: thread-compatible; a finished module is immutable and may be printed from
 * several threads. */
#ifndef MLG_KIR_H
#define MLG_KIR_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* Scalar types. Expressions compute in F32, I32, U32 and BOOL. F16, I8 and U8 are storage types
 * only: a buffer's elements may be stored as them (and a BOOL buffer stores one byte per
 * element, 0 or 1). A load from such a buffer yields its compute type (kir_compute_scalar: F16
 * → F32, I8 and U8 → I32, BOOL → BOOL) and a store converts the value back: F16 rounds to the
 * nearest half (ties to even), I8 and U8 keep the low 8 bits (two's complement), BOOL stores 0
 * or 1. Variables and local arrays have compute types (but for the F16 local arrays that
 * matrix fragments are loaded from, below); vector loads and stores need a 4-byte
 * element type or F16. */
typedef enum kir_scalar { KIR_F32, KIR_I32, KIR_U32, KIR_BOOL, KIR_F16, KIR_I8, KIR_U8 } kir_scalar;
#define KIR_N_SCALARS 7

/* A value type: a scalar or a short vector (width 1, 2, 4; 8 and 16 OpenCL only). */
typedef struct kir_type {
  kir_scalar scalar;
  int width;
} kir_type;

/* KIR_ROUND rounds half to even (OpenCL rint, GLSL roundEven); KIR_EXP2 is 2^x. */
typedef enum kir_unop {
  KIR_NEG, KIR_ABS, KIR_EXP, KIR_LOG, KIR_SQRT, KIR_RSQRT, KIR_TANH, KIR_ERF,
  KIR_FLOOR, KIR_CEIL, KIR_NOT, KIR_SIN, KIR_COS, KIR_TAN, KIR_ROUND,
  KIR_EXP2, KIR_UNOP_COUNT
} kir_unop;

typedef enum kir_binop {
  KIR_ADD, KIR_SUB, KIR_MUL, KIR_DIV, KIR_MOD /* ints */, KIR_MIN, KIR_MAX, KIR_POW,
  KIR_LT, KIR_LE, KIR_GT, KIR_GE, KIR_EQ, KIR_NE, KIR_AND, KIR_OR,
  KIR_XOR /* bitwise, of I32 or U32 */
} kir_binop;

typedef enum kir_expr_kind {
  KIR_E_CONST_F,   /* f */
  KIR_E_CONST_I,   /* i (type says I32, U32 or BOOL) */
  KIR_E_VAR,       /* index = variable id */
  KIR_E_GLOBAL_ID, /* index = dimension 0..2 */
  KIR_E_LOCAL_ID,
  KIR_E_GROUP_ID,
  KIR_E_LOAD,      /* index = buffer id, a = element index (of the buffer's element type) */
  KIR_E_LOCAL_LOAD,/* index = local array id, a = element index */
  KIR_E_UNARY,     /* unop, a */
  KIR_E_BINARY,    /* binop, a, b */
  KIR_E_SELECT,    /* a ? b : c */
  KIR_E_CAST,      /* a converted to type (a scalar cast to a vector type splats it) */
  KIR_E_COMPONENT, /* component `index` of the vector a (a scalar of a's element type) */
  KIR_E_VECTOR,    /* a vector of type.width (2 or 4) scalars: a, b (, c, d) */
  KIR_E_SWIZZLE,   /* lanes index, index + i, .. (type.width of them) of the vector a */
  KIR_E_SUBGROUP,  /* subgroup builtin `index` (kir_subgroup_builtin), I32 — Vulkan only */
  KIR_E_SUBGROUP_REDUCE, /* op (KIR_ADD/MUL/MIN/MAX) of scalar a over the subgroup — Vulkan only */
  KIR_E_BITCAST,   /* a's bits read as type (F32 <-> I32/U32, same width): as_float / intBitsToFloat */
  KIR_E_LOAD_BITS, /* index = F16 buffer, a = even element index: the raw bits of elements
                      a .. a + 2·width − 1 as `width` U32 words (kir_load_bits) */
  KIR_E_DOT4X8,    /* op = kir_dot_sign: Σ of the four byte products of U32 words a and b, I32 */
  KIR_E_LOAD_PACKED, /* index = buffer (I8 or U8), a = element index: elements a .. a+3 as one U32 */
  KIR_E_FRAG_ELEM, /* index = accumulator fragment, i = element 0..7 of the invocation's share,
                      F32 (kir_frag_elem) — OpenCL only */
  KIR_E_LANE_XOR,  /* F32 a of the subgroup invocation whose lane is this one's XOR i
                      (kir_lane_xor) — OpenCL only */
  KIR_E_LOCAL_LOAD_BITS /* index = F16 local, a = element index: kir_load_bits of a local array
                           (kir_local_load_bits) — OpenCL only */
} kir_expr_kind;

/* The signedness of the two operands of a packed 4×8-bit dot product (kir_dot4x8): the first
 * letter is the first operand's (S: each byte is an i8, U: a u8). */
typedef enum kir_dot_sign { KIR_DOT_SS, KIR_DOT_SU, KIR_DOT_US, KIR_DOT_UU } kir_dot_sign;

/* Subgroup builtins (GLSL gl_SubgroupSize, gl_SubgroupID, gl_SubgroupInvocationID,
 * gl_NumSubgroups). The size is the device's; the last subgroup of a work-group whose size is
 * not a multiple of it is partial. */
typedef enum kir_subgroup_builtin {
  KIR_SG_SIZE, KIR_SG_ID, KIR_SG_INVOCATION, KIR_SG_COUNT
} kir_subgroup_builtin;

/* kir_kernel.features: what a kernel needs beyond core OpenCL C 1.2 / Vulkan 1.1 compute.
 * The subgroup bits are required of the whole bundle (Vulkan only). The bits of
 * KIR_FEATURE_OPTIONAL are device features a kernel may use when the device reports them: such
 * a kernel carries a fallback without them (kir_kernel_set_fallback), and the runtime picks one
 * of the two at load (bundle.h mlgb_kernel.requires). New optional features take the next bits,
 * join KIR_FEATURE_OPTIONAL, and get a row in compiler/bundle_emit.c's optional_features (their
 * bundle.h mlgb_device_feature bit per target), a name in runtime/bundle.c and a query in each
 * backend's device_features. */
enum {
  KIR_FEATURE_SUBGROUP_BASIC = 1,
  KIR_FEATURE_SUBGROUP_ARITH = 2,
  /* the packed 4×8-bit integer dot product (kir_dot4x8): OpenCL cl_khr_integer_dot_product,
   * Vulkan VK_KHR_shader_integer_dot_product (SPV_KHR_integer_dot_product) */
  KIR_FEATURE_INT_DOT = 4,
  /* subgroup matrix fragments (kir_frag_*, below): on OpenCL NVIDIA's inline PTX mma.sync
   * (compute capability 8.0 or later, bundle.h MLGB_DEVICE_PTX_MMA), on Vulkan
   * VK_NV_cooperative_matrix with 16×16×16 f16 × f16 + f32 at subgroup scope, subgroups of 32
   * and shaderFloat16 (MLGB_DEVICE_COOPMAT_NV): docs/performance.md, "Tensor cores" */
  KIR_FEATURE_MMA_F16 = 8,
  /* warpgroup products (kir_wg_*, below): Hopper's wgmma.mma_async through inline PTX that
   * the runtime retargets to sm_90a (OpenCL on compute capability 9.0 only, bundle.h
   * MLGB_DEVICE_PTX_WGMMA); no Vulkan spelling */
  KIR_FEATURE_WGMMA = 16
};
#define KIR_FEATURE_OPTIONAL ((unsigned)(KIR_FEATURE_INT_DOT | KIR_FEATURE_MMA_F16 | KIR_FEATURE_WGMMA))

typedef struct kir_expr kir_expr;
struct kir_expr {
  kir_expr_kind kind;
  kir_type type;
  int index;
  int op;          /* kir_unop or kir_binop */
  double f;
  int64_t i;
  kir_expr *a, *b, *c, *d;
};

typedef enum kir_stmt_kind {
  KIR_S_DECL,        /* var = value (declares the variable here) */
  KIR_S_ASSIGN,      /* var = value */
  KIR_S_STORE,       /* buffer[index] = value */
  KIR_S_LOCAL_STORE, /* local[index] = value */
  KIR_S_FOR,         /* for (var = begin; var < end; var += step) body — var is I32 */
  KIR_S_IF,          /* if (cond) body else else_body (else_body may be NULL) */
  KIR_S_BARRIER,     /* work-group barrier with local memory fence */
  KIR_S_RETURN,      /* leave the kernel (only before any barrier, or uniformly) */
  KIR_S_BLOCK,       /* body */
  KIR_S_LOCAL_STORE_BITS, /* F16 local[index ..] = the halves of the U32 word(s) value */
  KIR_S_FRAG_ZERO,   /* fragment frag = 0 */
  KIR_S_FRAG_LOAD,   /* fragment frag = 16×16 halves of F16 local `target` from element index,
                        row stride `stride` (column stride when col_major) */
  KIR_S_FRAG_MMA,    /* accumulator frag += frag_a · frag_b */
  KIR_S_FRAG_STORE,  /* F32 local `target` [index + r·stride + c] = accumulator frag (r, c) */
  KIR_S_ASYNC_COPY,  /* F16 local `target` [index .. + 7] = the 4 words `value` (KIR_E_LOAD_BITS),
                        or zeros when cond (may be NULL) is false; asynchronous (kir_async_copy) */
  KIR_S_ASYNC_COMMIT, /* closes this work-item's group of asynchronous copies */
  KIR_S_ASYNC_WAIT,  /* waits until at most `stride` of its groups are still in flight */
  KIR_S_FRAG_SET,    /* element `stride` (0..7) of accumulator frag = value (kir_frag_set) */
  KIR_S_FRAG_PACK,   /* A fragment frag = accumulator frag_a rounded to halves (kir_frag_pack) */
  KIR_S_WG_MMA,      /* accumulators frag .. frag + stride − 1 += wg[0] · wg[1] (kir_wg_mma) */
  KIR_S_WG_FENCE,    /* orders register writes of accumulators frag .. + stride − 1 before
                        the warpgroup products that follow (kir_wg_fence) */
  KIR_S_WG_COMMIT,   /* closes the warpgroup's group of products */
  KIR_S_WG_WAIT,     /* waits until at most col_major groups are in flight; accumulators
                        frag .. + stride − 1 are then readable when col_major is 0 */
  KIR_S_PROXY_FENCE, /* makes this work-item's local writes visible to warpgroup products */
  KIR_S_STORE_BITS   /* F16 buffer `target` [index ..] = the halves of U32 word(s) value
                        (kir_store_bits) — OpenCL only */
} kir_stmt_kind;

/* One operand of a warpgroup product, in an F16 local array (kir_wg_mma). */
typedef struct kir_wg_operand {
  int local;         /* the F16 local array */
  kir_expr *index;   /* I32: element index of the operand's first element */
  int swizzle;       /* bytes: 0 (none), 32, 64 or 128 */
  int lbo, sbo;      /* the leading and stride byte offsets of the layout */
  int mn_major;      /* 1: m (A) or n (B) is the contiguous axis; 0: k is */
} kir_wg_operand;

typedef struct kir_stmt kir_stmt;
struct kir_stmt {
  kir_stmt_kind kind;
  int var;           /* DECL, ASSIGN, FOR */
  int target;        /* STORE: buffer id; LOCAL_STORE: local id */
  kir_expr *index;   /* STORE, LOCAL_STORE */
  kir_expr *value;   /* DECL, ASSIGN, STORE, LOCAL_STORE; FOR: begin */
  kir_expr *end;     /* FOR */
  kir_expr *step;    /* FOR */
  kir_expr *cond;    /* IF; ASYNC_COPY: the source is present (NULL: always) */
  int unroll;        /* FOR: hint, 0 = none */
  int n_body;
  kir_stmt **body;   /* FOR, IF, BLOCK */
  int n_else;
  kir_stmt **else_body;
  int frag, frag_a, frag_b; /* FRAG_*: the fragment (MMA: the accumulator, and its operands) */
  int stride, col_major;    /* FRAG_LOAD, FRAG_STORE; ASYNC_WAIT: stride = groups left in flight;
                               FRAG_SET: stride = the element; WG_*: above */
  kir_wg_operand wg[2];     /* WG_MMA: A and B */
};

typedef enum kir_access { KIR_READ = 1, KIR_WRITE = 2, KIR_READ_WRITE = 3 } kir_access;

typedef struct kir_buffer {
  const char *name;  /* printed as the parameter name, e.g. "x" → x, x_off */
  kir_type elem;     /* element type as stored (width 1): any kir_scalar; loads yield
                        kir_compute_scalar(elem.scalar) */
  kir_access access;
} kir_buffer;

typedef struct kir_local {
  const char *name;
  kir_type elem;     /* a scalar, or a vector of width 2 or 4 (kir_local_array_t) */
  int count;         /* elements; total local bytes must stay within 48 KiB */
} kir_local;

typedef struct kir_variable {
  const char *name;
  kir_type type;
} kir_variable;

/* A subgroup matrix fragment (kir_frag_new): a 16×16 tile held jointly by the 32 invocations
 * of a subgroup — A (16×16 m×k halves), B (16×16 k×n halves) or an accumulator (16×16 f32). */
typedef enum kir_frag_role { KIR_FRAG_A, KIR_FRAG_B, KIR_FRAG_ACC } kir_frag_role;

typedef struct kir_fragment {
  const char *name;
  kir_frag_role role;
} kir_fragment;

typedef struct kir_kernel {
  const char *name;  /* a valid identifier in both languages, unique in its module */
  int local_size[3]; /* fixed work-group size; unused dims are 1 */
  int n_buffers;
  kir_buffer *buffers;
  int n_locals;
  kir_local *locals;
  int n_vars;
  kir_variable *vars;
  int n_body;
  kir_stmt **body;
  unsigned features; /* KIR_FEATURE_* bits, set by the constructors that need them */
  int n_frags;
  kir_fragment *frags;
  /* The kernel to run instead on a device without one of this kernel's optional features
   * (features & KIR_FEATURE_OPTIONAL), or NULL: set by kir_kernel_set_fallback. */
  struct kir_kernel *fallback;
} kir_kernel;

typedef struct kir_module kir_module; /* owns an arena and the list of kernels */

kir_module *kir_module_new(void);
void        kir_module_free(kir_module *m);
int         kir_module_count(const kir_module *m);
kir_kernel *kir_module_kernel(const kir_module *m, int i);
/* Test hook: the next n_allocs arena allocations succeed, later ones fail (-1 = never fail). */
void        kir_module_fail_after(kir_module *m, long n_allocs);
/* Why the last kernel was not built: a kernel template that returns -1 (codegen/templates,
 * kt_fail) says what it cannot do ("groups (3) must divide the 16 input channels"), and
 * kir_kernel_begin / kir_kernel_end say when they failed. "" when nothing failed since
 * kir_module_clear_error. */
void        kir_module_set_error(kir_module *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void        kir_module_vset_error(kir_module *m, const char *fmt, va_list ap);
const char *kir_module_error(const kir_module *m);
/* Whether the scalar formulas of m's kernels spell erf (and gelu through it) as branch-free IR
 * arithmetic (templates/fastmath.h) instead of the dialect's erf: on for CPU-class modules,
 * where PoCL vectorizes arithmetic but leaves its library erf a scalar call; off (the default)
 * on GPUs, whose drivers have a faster erf of their own. */
void kir_module_set_ir_math(kir_module *m, int on);
void        kir_module_clear_error(kir_module *m);
/* Takes kernel k out of the module's list (its memory stays in the arena until the module is
 * freed); later kernels move up one place. Returns 0, or -1 if k is not in the module. */
int         kir_module_remove(kir_module *m, const kir_kernel *k);
/* Renames kernel k of module m. Returns 0, or -1 when `name` is no valid identifier, is already
 * a buffer, local or variable of k, or memory runs out (k keeps its name then). The caller keeps
 * names unique in the module. */
int         kir_kernel_rename(kir_module *m, kir_kernel *k, const char *name);

/* Makes `fallback` the kernel a device without one of k's optional features runs instead of
 * k (a kernel variant). The two must take the same buffers (names, types, access) and the same
 * work-groups (the launch is shared), and the fallback must need strictly fewer optional
 * features (so a chain of fallbacks ends). Returns 0, or -1 when they do not fit (nothing set). */
int         kir_kernel_set_fallback(kir_kernel *k, kir_kernel *fallback);
/* The same kernel with buffer i stored as elem[i] (k->n_buffers entries), each of the compute
 * type buffer i has now (F32 buffers as F16 and back: the code is unchanged, its loads widen
 * and its stores round). A template builds its kernels over F32 buffers; lowering stores a
 * tensor as f16 (compiler/precision.h) by giving the kernel that binds it this copy. When
 * nothing changes *out_kernel is k; else it is a new kernel appended to the module (sharing
 * k's statements; k's fallback, if any, is copied alike), and k stays in the module. Returns 0, or -1 (out of memory, or a change of
 * compute type) with the module's error set. */
int         kir_kernel_with_storage(kir_module *m, kir_kernel *k, const kir_scalar *elem,
                                    kir_kernel **out_kernel);

/* ---- comparing kernels (kir_compare.c) ----
 * Two kernels are equal when everything a printer prints but the kernel's own name is the same:
 * work-group size, features, buffers, locals and variables (names and types) and the statement
 * tree, and their fallbacks (both none, or equal kernels). Equal kernels have equal hashes. */
int      kir_kernel_equal(const kir_kernel *a, const kir_kernel *b);
uint64_t kir_kernel_hash(const kir_kernel *k);

/* ---- known multiples (kir_multiple.c) ----
 * kir_expr_multiple: the largest power of two, at most KIR_MULTIPLE_MAX, that every value of
 * an I32 or U32 scalar expression is known to be a multiple of: from its constants through
 * +, −, ·, %, min, max, select, negation and I32/U32 casts, and from var_multiple[v] for the
 * variables it reads (var_multiple may be NULL: 1 for each); 1 for anything else.
 * kir_var_multiples fills out_multiple[v] for each of k's n_vars variables from every definition
 * of v in k (1 for a non-integer variable). The GLSL printer reads and writes a vector whose
 * element index is a known multiple of its width as one aligned access. */
#define KIR_MULTIPLE_MAX 64
int  kir_expr_multiple(const kir_expr *e, const int *var_multiple);
void kir_var_multiples(const kir_kernel *k, int *out_multiple);

/* ---- building a kernel (all constructors return NULL only on allocation failure, which the
 * builder remembers: kir_kernel_end reports it) ---- */
typedef struct kir_builder kir_builder;

kir_builder *kir_kernel_begin(kir_module *m, const char *name, int lx, int ly, int lz);
/* A buffer parameter whose elements are stored as `elem` (any kir_scalar, see above). */
int          kir_buffer_param(kir_builder *b, const char *name, kir_scalar elem, kir_access access);
int          kir_local_array(kir_builder *b, const char *name, kir_scalar elem, int count);
/* A local array of `count` elements of type `elem` (a vector of width 2 or 4, or a scalar):
 * kir_local_load returns one whole element, kir_local_store writes one. */
int          kir_local_array_t(kir_builder *b, const char *name, kir_type elem, int count);
int          kir_var_new(kir_builder *b, const char *name_hint, kir_type type);
/* Finishes the kernel and appends it to the module. Returns 0, or -1 if any allocation failed
 * or the builder was misused (NULL operand, bad id, unclosed for/if); nothing is added then,
 * and the module's error says which. Frees the builder in every case. */
int          kir_kernel_end(kir_builder *b, kir_kernel **out_kernel);
/* Nonzero once an allocation failed or the builder was misused (sticky). */
int          kir_builder_failed(const kir_builder *b);
/* kir_module_set_ir_math of the builder's module. */
int          kir_builder_ir_math(const kir_builder *b);

/* Names: buffer, local and variable names are made unique in the kernel and never collide with
 * a keyword or builtin of OpenCL C or GLSL (a clash gets a numeric suffix: "x" → "x1"). */

kir_type kir_t(kir_scalar s);                       /* width 1 */
kir_type kir_tv(kir_scalar s, int width);
/* The type values of storage type s compute in: F16 → F32, I8 and U8 → I32, others s. */
kir_scalar kir_compute_scalar(kir_scalar s);
/* Bytes per element of a buffer of s: F16 2; I8, U8 and BOOL 1; the others 4. */
int        kir_storage_bytes(kir_scalar s);

kir_expr *kir_f32(kir_builder *b, double v);
kir_expr *kir_i32(kir_builder *b, int64_t v);
/* A BOOL constant: `true` / `false` in both languages. */
kir_expr *kir_bool(kir_builder *b, int v);
kir_expr *kir_var(kir_builder *b, int var);
kir_expr *kir_global_id(kir_builder *b, int dim);   /* I32 */
kir_expr *kir_local_id(kir_builder *b, int dim);
kir_expr *kir_group_id(kir_builder *b, int dim);
/* Element `index` of a buffer, of the buffer's compute type. */
kir_expr *kir_load(kir_builder *b, int buffer, kir_expr *index);
/* A vector of `width` consecutive elements starting at element `index` (OpenCL vloadN). A store
 * whose value has width > 1 writes that many consecutive elements (vstoreN). Both need a
 * buffer of 4-byte elements, of halves (vload_halfN / vstore_halfN), or of I8/U8 ones (OpenCL
 * only: loaded as an I32 vector, `convert_intN(vloadN(...))`, an I32 vector stored keeping each
 * lane's low 8 bits). */
kir_expr *kir_load_vec(kir_builder *b, int buffer, kir_expr *index, int width);
kir_expr *kir_local_load(kir_builder *b, int local, kir_expr *index);
kir_expr *kir_un(kir_builder *b, kir_unop op, kir_expr *a);
kir_expr *kir_bin(kir_builder *b, kir_binop op, kir_expr *a, kir_expr *c);
/* cond ? if_true : if_false, per lane where any of them is a vector (scalar branches are
 * splatted to its width; OpenCL's vector select). */
kir_expr *kir_select(kir_builder *b, kir_expr *cond, kir_expr *if_true, kir_expr *if_false);
/* `a` converted to `to` (a storage type converts to its compute type: the rounding to the
 * storage type happens where the value is stored); of a's width, or a scalar a splatted to
 * to's (a vector to another width fails the builder). */
kir_expr *kir_cast(kir_builder *b, kir_type to, kir_expr *a);
/* a's bits reinterpreted as `to` (F32 to I32/U32 or back, width kept): OpenCL `as_float(a)`,
 * GLSL `intBitsToFloat(a)`. The fast math of codegen/templates/fastmath.h builds 2^n with it. */
kir_expr *kir_bitcast(kir_builder *b, kir_type to, kir_expr *a);
/* Component i (0 <= i < width) of vector v: OpenCL `(v).sI`, GLSL `(v)[i]`. */
kir_expr *kir_component(kir_builder *b, kir_expr *v, int i);
/* Lanes start .. start + width − 1 of vector v as a vector of `width` (2, 4 or 8; 1 gives
 * kir_component): OpenCL `(v).s4567`, GLSL `(v).zw`. */
kir_expr *kir_swizzle(kir_builder *b, kir_expr *v, int start, int width);
/* Lanes start, start + step, .., start + (width − 1)·step of v (step ≥ 1; width as above, or
 * all of v's lanes): OpenCL `(v).s02468ace`, GLSL `(v).xz`. */
kir_expr *kir_swizzle_step(kir_builder *b, kir_expr *v, int start, int step, int width);
/* The vector (parts[0], ..., parts[width - 1]) of `width` 2 or 4 scalars of one type: OpenCL
 * `(float4)(a, b, c, d)`, GLSL `vec4(a, b, c, d)`. Width 1 returns parts[0]. */
kir_expr *kir_vector(kir_builder *b, int width, kir_expr *const parts[]);
/* The raw bits of F16 buffer elements index .. index + 2·width − 1 as `width` (1, 2 or 4) U32
 * words, element index in the low half of the first: a copy of halves that converts nothing.
 * The buffer's element offset plus index must be even (tensors are 256-byte aligned; the
 * template checks its strides): OpenCL `vloadN` of a `uint` pointer, GLSL words of the packed
 * buffer. */
kir_expr *kir_load_bits(kir_builder *b, int buffer, kir_expr *index, int width);
/* The same of F16 local array elements (index a multiple of 2·width: whole words, aligned), and
 * its store: F16 buffer elements index .. = the halves of U32 `words` (width 1, 2 or 4; the
 * buffer's offset plus index a multiple of 2·width), the raw bits unconverted. OpenCL only (a
 * staged epilogue's rows of halves; kir_glsl_check refuses them). */
kir_expr *kir_local_load_bits(kir_builder *b, int local, kir_expr *index, int width);
void kir_store_bits(kir_builder *b, int buffer, kir_expr *index, kir_expr *words);
/* The packed 4×8-bit dot product of U32 words a and c with i32 result: Σ_{j<4} byte_j(a) ·
 * byte_j(c), each byte read as i8 or u8 as `sign` says (byte 0 is the low one). OpenCL
 * dot_4x8packed_{ss,su,us}_int / (int)dot_4x8packed_uu_uint (cl_khr_integer_dot_product);
 * GLSL OpSDot / OpSUDot / OpUDot with PackedVectorFormat4x8Bit through GL_EXT_spirv_intrinsics
 * (SPV_KHR_integer_dot_product). Sets KIR_FEATURE_INT_DOT: give the kernel a fallback
 * (templates compute the same sum from the bytes, kt_dot4x8). */
kir_expr *kir_dot4x8(kir_builder *b, kir_dot_sign sign, kir_expr *a, kir_expr *c);
/* Elements index .. index+3 of an I8 or U8 buffer as one U32 word, element `index` in the low
 * byte. index must be a multiple of 4 (the buffer's offset is: tensors are 4-byte aligned):
 * GLSL reads one word of the packed buffer. OpenCL `as_uint(vload4(0, NAME + NAME_off + i))`. */
kir_expr *kir_load_packed(kir_builder *b, int buffer, kir_expr *index);
/* Subgroup operations (Vulkan only: the OpenCL printer refuses a kernel that uses them, see
 * kir_opencl_check). A subgroup builtin as I32; and op (KIR_ADD, KIR_MUL, KIR_MIN or KIR_MAX) of the
 * scalar F32 or I32 `value` over the active invocations of the subgroup, the result in each —
 * to be reached in uniform control flow of the subgroup. They set the kernel's features. */
kir_expr *kir_subgroup(kir_builder *b, kir_subgroup_builtin which);
kir_expr *kir_subgroup_reduce(kir_builder *b, kir_binop op, kir_expr *value);
/* kir_bin/kir_select with one float and one integer operand convert the integer (a constant
 * becomes a float constant, anything else a cast): printers never rely on implicit conversion.
 * Comparisons, AND and OR have type BOOL.
 * Shorthands with constant folding of integer constants (index arithmetic stays readable):
 * c1+c2, e+0, (e+c1)+c2, c1*c2, e*0, e*1, (e*c1)*c2, c1/c2, e/1, c1%c2, e%1; constants are moved
 * to the right. Division and modulo fold with C semantics (truncation); x/0 is never folded.
 * Float operands are never folded (the printed formula stays exactly what was built). */
kir_expr *kir_add(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kir_mul(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kir_div(kir_builder *b, kir_expr *x, kir_expr *y);
kir_expr *kir_mod(kir_builder *b, kir_expr *x, kir_expr *y);

/* Statements are appended to the current block; for/if open a nested block closed by kir_end. */
void kir_decl(kir_builder *b, int var, kir_expr *value);
void kir_assign(kir_builder *b, int var, kir_expr *value);
/* buffer[index] = value; a scalar value of another type than the buffer's compute type is
 * converted to it first. */
void kir_store(kir_builder *b, int buffer, kir_expr *index, kir_expr *value);
void kir_local_store(kir_builder *b, int local, kir_expr *index, kir_expr *value);
void kir_for(kir_builder *b, int var, kir_expr *begin, kir_expr *end, kir_expr *step);
/* Sets the unroll hint of the innermost open for loop (call right after kir_for). */
void kir_for_unroll(kir_builder *b, int unroll);
void kir_if(kir_builder *b, kir_expr *cond);
void kir_else(kir_builder *b);
void kir_end(kir_builder *b);                       /* closes the innermost for/if */
void kir_barrier(kir_builder *b);
void kir_return(kir_builder *b);

/* ---- subgroup matrix fragments (tensor cores; KIR_FEATURE_MMA_F16) ----
 * A work-group of 32·W invocations (local size (32·W, 1, 1)) is W subgroups of 32 consecutive
 * invocations; each statement below is executed by a whole subgroup together, in control flow
 * uniform over it, with the same operands in each invocation. The fragments live in registers
 * spread over the subgroup; how (the lane mapping of mma.sync on OpenCL, opaque cooperative
 * matrices on Vulkan) is the printers' business only: the IR sees whole 16×16 tiles.
 * F16 local arrays (kir_local_array with KIR_F16) hold the operand tiles as halves: they are
 * written by kir_local_store (an F32 value, rounded) or kir_local_store_bits (raw words) and
 * read only by kir_frag_load. Element indices and strides must be multiples of 8 for fragment
 * loads and of 4 for stores (16-byte alignment: halves, floats). */
int  kir_frag_new(kir_builder *b, const char *name_hint, kir_frag_role role);
/* F16 local[index + 2·i], [.. + 1] = the low and high halves of word i of `words` (a U32 scalar
 * or vector of width 2 or 4, e.g. from kir_load_bits); index must be even, and a multiple of 8
 * for 4 words (16 bytes, as the GLSL printer may store them: kir_glsl_check below). */
void kir_local_store_bits(kir_builder *b, int local, kir_expr *index, kir_expr *words);
void kir_frag_zero(kir_builder *b, int acc);
/* A or B fragment `frag` = the 16×16 tile of F16 local `local` whose element (r, c) — (m, k)
 * for A, (k, n) for B — is at index + r·stride + c, or index + c·stride + r when col_major. */
void kir_frag_load(kir_builder *b, int frag, int local, kir_expr *index, int stride, int col_major);
/* acc += a · b (f32 accumulation of the f16 products). Sets KIR_FEATURE_MMA_F16. */
void kir_frag_mma(kir_builder *b, int acc, int a, int frag_b);
/* F32 local[index + r·stride + c] = acc (r, c) for r, c < 16. */
void kir_frag_store(kir_builder *b, int acc, int local, kir_expr *index, int stride);
/* Asynchronous copies into F16 local arrays, for the operand tiles of fragment kernels (they
 * set KIR_FEATURE_MMA_F16: cp.async on OpenCL, which needs the same compute capability 8.0 as
 * mma.sync; plain copies on Vulkan, where commit and wait do nothing). F16 local[index ..
 * index + 7] = the 8 halves of `words` (kir_load_bits of width 4, whose element index and
 * local index must be multiples of 8: 16-byte aligned), or zeros when `present` (may be NULL)
 * is false — the source is then not read. The copy lands in the background: the work-item's
 * copies are grouped by kir_async_commit, and kir_async_wait(b, n) returns once at most n of
 * its groups are still in flight; other work-items see the copies after that wait and a
 * barrier. */
void kir_async_copy(kir_builder *b, int local, kir_expr *index, kir_expr *words, kir_expr *present);
void kir_async_commit(kir_builder *b);
void kir_async_wait(kir_builder *b, int pending);
/* Accumulator elements in registers (OpenCL only: they spell out mma.sync's layout, which
 * cooperative matrices keep opaque, so kir_glsl_check refuses them). The invocation of lane
 * l = 4g + t of its subgroup (g = l >> 2, t = l & 3) holds the 8 elements e = 0..7 of every
 * accumulator at (row, column) (g + 8·(e >> 1 & 1), 8·(e >> 2) + 2t + (e & 1)): each row of the
 * tile lies in the 4 invocations of one g, 4 elements of it in each. kir_frag_elem reads one
 * (F32), kir_frag_set writes one; kir_frag_pack makes A fragment `a` of the accumulator's tile
 * rounded to halves (a product's result as the next product's m × k operand, no local memory);
 * kir_lane_xor is the F32 `value` of the subgroup's invocation of lane l ^ mask (mask 1..31),
 * reached by the whole subgroup, like the fragment statements. All set KIR_FEATURE_MMA_F16. */
kir_expr *kir_frag_elem(kir_builder *b, int acc, int e);
void kir_frag_set(kir_builder *b, int acc, int e, kir_expr *value);
void kir_frag_pack(kir_builder *b, int a, int acc);
kir_expr *kir_lane_xor(kir_builder *b, kir_expr *value, int mask);

/* ---- warpgroup products (Hopper's wgmma; KIR_FEATURE_WGMMA, OpenCL only) ----
 * Four consecutive subgroups of a fragment kernel (local ids 128w .. 128w + 127, a warpgroup)
 * multiply together: kir_wg_mma adds A (64 × 16, m × k) times B (16 × 16n, k × n) to the
 * warpgroup's 64 × 16n accumulator, whose rows 16s .. 16s + 15 are subgroup s's accumulator
 * fragments acc, acc + 1, .., acc + n − 1 (consecutive fragment ids, columns 16j ..; their
 * elements as kir_frag_elem says), for n = 1 .. 16. The product runs in the background, reading
 * A and B from F16 local arrays as they lie when it runs: kir_wg_fence before the first product
 * of a step (after the accumulators were written otherwise), kir_wg_commit after the step's
 * products, kir_wg_wait(pending) until at most `pending` groups are in flight (0: the
 * accumulators acc .. acc + n − 1 are final and readable; a wait that leaves groups in flight
 * may name none, n = 0). Local writes reach the products only through
 * kir_async_proxy_fence (after kir_async_wait for copies, before the barrier that publishes
 * them). The operands' layouts are PTX's canonical ones ("Shared Memory Matrix Layout" of
 * wgmma), in bytes from the element at `index`, which is 16-byte aligned: K-major with swizzle
 * w (32, 64 or 128): rows of w bytes (w / 2 halves along k, the row's 16-byte chunk c stored at
 * chunk c ^ (row % 8 >> (3 − log2(w / 16)))), atoms of 8 rows, sbo bytes from one atom to the
 * next along m or n, the product's 16 halves of k starting at `index` inside the row (atoms
 * 8w-byte aligned: the swizzle is of address bits); MN-major with swizzle 128: rows of 64
 * halves along m or n, atoms of 8 rows (k, chunk c at c ^ k % 8), lbo bytes from one 64-wide
 * block to the next and sbo from one atom to the next along k; without swizzle: 8 × 8 core
 * matrices of 128 contiguous bytes (16-byte rows along the contiguous axis), lbo bytes from one
 * to the next along k and sbo along m or n. Local arrays such operands read are 1024-byte
 * aligned. All set KIR_FEATURE_WGMMA. */
void kir_wg_mma(kir_builder *b, int acc, int n, const kir_wg_operand *a, const kir_wg_operand *op_b);
void kir_wg_fence(kir_builder *b, int acc, int n);
void kir_wg_commit(kir_builder *b);
void kir_wg_wait(kir_builder *b, int pending, int acc, int n);
void kir_async_proxy_fence(kir_builder *b);

/* ---- printers ---- */
/* OpenCL C 1.2: every kernel of the module in one program source (kernels separated by a blank
 * line); each buffer parameter is `__global [const] float *restrict NAME, const uint NAME_off`
 * (const for KIR_READ buffers; int for I32, half for F16, char for I8, uchar for U8 and BOOL)
 * and element e is NAME[NAME_off + (e)]; halves are read and written with vload_half and
 * vstore_half, which need no cl_khr_fp16 (the arithmetic stays in float). Work-item ids
 * are (int)get_global_id(d) etc.; float constants print as the shortest literal that reads back
 * as the same float ("0.1f", "1.0f", "-0.0f", INFINITY, NAN). Output is stable (golden files).
 * The walk shared with the GLSL printer lives in kir_print.c; opencl_printer.c holds only the
 * OpenCL spellings (a kir_dialect table). Returns 0, -1 on write error. */
int kir_print_opencl(const kir_module *m, FILE *out);
int kir_print_opencl_kernel(const kir_kernel *k, FILE *out);
/* 0 if OpenCL C 1.2 can express `k`; else -1 and a message naming the kernel in err (may be
 * NULL): subgroup operations (no portable spelling on NVIDIA's OpenCL 1.2). The printers above
 * return -1 for such a kernel. */
int kir_opencl_check(const kir_kernel *k, char *err, size_t err_size);
/* Fragments print as inline PTX (mma.sync.aligned.m16n8k16, two per 16×16×16 step): OpenCL C
 * that only NVIDIA's driver compiles, on devices of compute capability 8.0 or later, and so do
 * asynchronous copies (cp.async.cg, commit_group, wait_group); helper functions (mlg_mma_*,
 * mlg_cp_*) go once into the program, guarded by #ifndef MLG_MMA_HELPERS. F16 local
 * arrays are `__local ushort` arrays aligned to 16 bytes. */

/* GLSL 450 compute (Vulkan): one shader per kernel, entry point main, written by
 * glsl_printer.c through the same walk. Buffer parameter i is
 * `layout(std430, set = 0, binding = i) restrict [readonly|writeonly] buffer B<i> { T NAME[]; }`
 * (bound to the whole buffer holding the tensor) and its element offset is pc.off[i] of
 * `layout(push_constant) uniform PC { uint off[n_buffers]; } pc;`: element e is
 * NAME[pc.off[i] + (e)]. A buffer of 1- or 2-byte elements (BOOL, I8, U8, F16) is a `uint`
 * array holding 4 or 2 elements per word, read and written through helpers mlg_ld_NAME and
 * mlg_st_NAME (the stores as two atomic operations on the word, since neighbouring elements
 * belong to other invocations): portable to every Vulkan 1.1 device, no 8- or 16-bit storage
 * feature needed. Local arrays are `shared`; a barrier is memoryBarrierShared() plus
 * barrier(); erf, tanh, sin, cos, tan, pow, fmod, fmin, fmax and vector loads/stores go through mlg_* helper
 * functions emitted only into the shaders that use them — except a vector access of a read-only
 * or write-only buffer of 4-byte elements at an index that is a known multiple of its width
 * (kir_expr_multiple), and 4 words of halves at a multiple of 8, which go straight through a
 * vector view of the buffer: the shaders take every pc.off to be a multiple of 16 bytes (tensors
 * are aligned that much; the Vulkan runtime refuses a bundle aligned less). Returns 0, or -1 on a write error or
 * a kernel that kir_glsl_check rejects (nothing useful is printed then). */
int kir_print_glsl_kernel(const kir_kernel *k, FILE *out);
/* 0 if GLSL can express `k`; else -1 and a message naming the kernel in err (may be NULL):
 * vectors of width 8 or 16, vector comparisons/select/logic, erf/tanh/sin/cos/tan/pow/fmod/
 * fmin/fmax of vectors, more than 32 buffer parameters (the push-constant block must fit 128 bytes), or a
 * name the GLSL frame uses itself (pc, PC, main, B<digits>, mlg_*). A kernel with subgroup
 * operations gets `#extension GL_KHR_shader_subgroup_basic` (and `_arithmetic` when it reduces)
 * and needs a Vulkan 1.1 device that supports them in compute shaders. A kernel with fragments
 * gets GL_NV_cooperative_matrix (fcoopmatNV<16 or 32, gl_ScopeSubgroup, 16, 16>,
 * coopMatLoadNV / coopMatMulAddNV / coopMatStoreNV), GL_KHR_memory_scope_semantics and
 * GL_EXT_shader_explicit_arithmetic_types_float16 (F16 local arrays are `shared float16_t`, or
 * `shared uvec4` where every store is 4 words — kir_local_store_bits of width 4, async copies —,
 * whose indices must then be multiples of 8). */
int kir_glsl_check(const kir_kernel *k, char *err, size_t err_size);

#endif

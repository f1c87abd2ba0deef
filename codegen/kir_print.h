/* kir_print.h — the language-independent part of the kernel printers (internal to codegen/).
 *
 * kir_print.c walks statements and expressions once: indentation, one statement per line,
 * operator precedence and parentheses, constant formatting, loops and branches. A dialect (the
 * OpenCL C table in opencl_printer.c, the GLSL one later) supplies only spellings: type names,
 * builtin names, how a buffer element is addressed, barriers, and the kernel's frame (signature,
 * local arrays). Thread safety: reentrant; a printer holds no global state. */
#ifndef MLG_KIR_PRINT_H
#define MLG_KIR_PRINT_H

#include <stdio.h>

#include "kir.h"

typedef struct kir_printer kir_printer;

typedef struct kir_dialect {
  /* Type name, e.g. "float", "int4" / "vec4", "ivec4". */
  const char *(*type_name)(kir_type t, char *buf, size_t size);
  /* Builtin function names for unary ops (indexed by kir_unop; KIR_NEG and KIR_NOT are
   * operators and ignored here). */
  const char *unop_fn[KIR_UNOP_COUNT];
  /* float and int spellings of min/max (fmin vs min in OpenCL), and pow. */
  const char *fmin_fn, *fmax_fn, *imin_fn, *imax_fn, *pow_fn, *fmod_fn;
  /* "get_global_id(%d)"-style format for work-item ids; already int-typed. */
  void (*work_item_id)(kir_printer *p, kir_expr_kind kind, int dim);
  /* Special float values. */
  const char *inf, *nan;
  const char *float_suffix;               /* "f" in OpenCL C, "" in GLSL */
  /* Loads/stores: prints the element access (or vload/vstore) for buffer `buf` at `index`. */
  void (*load)(kir_printer *p, const kir_expr *e);
  void (*store)(kir_printer *p, const kir_stmt *s);
  /* Conversion of `a` to `t`. */
  void (*cast)(kir_printer *p, kir_type t, const kir_expr *a);
  /* The bits of `a` read as `t` (KIR_E_BITCAST). */
  void (*bitcast)(kir_printer *p, kir_type t, const kir_expr *a);
  const char *barrier;                    /* full statement text without indentation */
  /* Vector component access after the parenthesized vector: ".s%X" (OpenCL), "[%d]" (GLSL). */
  const char *component_fmt;
  /* Lane names of a swizzle after ".": "0123456789abcdef" with prefix "s" (OpenCL), "xyzw" (GLSL). */
  const char *swizzle_prefix, *swizzle_lanes;
  /* 1: a vector constructor is a cast of a list, `(float4)(a, b)` (OpenCL); 0: `vec4(a, b)`. */
  int vector_ctor_is_cast;
  /* A subgroup builtin or reduction (KIR_E_SUBGROUP, KIR_E_SUBGROUP_REDUCE); NULL in a dialect
   * without them, whose check refuses such kernels before printing. */
  void (*subgroup)(kir_printer *p, const kir_expr *e);
  /* The raw words of F16 buffer elements (KIR_E_LOAD_BITS). */
  void (*load_bits)(kir_printer *p, const kir_expr *e);
  /* A store into an F16 local array (KIR_S_LOCAL_STORE of an F32 value, or
   * KIR_S_LOCAL_STORE_BITS), and the fragment statements (KIR_S_FRAG_*): whole statements,
   * called after the indentation of their first line. */
  void (*local_store_half)(kir_printer *p, const kir_stmt *s);
  void (*frag)(kir_printer *p, const kir_stmt *s);
  /* An accumulator element or a lane exchange (KIR_E_FRAG_ELEM, KIR_E_LANE_XOR); NULL in a
   * dialect without them, whose check refuses such kernels before printing. */
  void (*frag_expr)(kir_printer *p, const kir_expr *e);
  /* The asynchronous copies (KIR_S_ASYNC_COPY, _COMMIT, _WAIT), likewise whole statements. */
  void (*async)(kir_printer *p, const kir_stmt *s);
  /* The warpgroup statements (KIR_S_WG_*, KIR_S_PROXY_FENCE); NULL in a dialect without them,
   * whose check refuses such kernels before printing. */
  void (*wg)(kir_printer *p, const kir_stmt *s);
  /* A packed 4×8-bit dot product (KIR_E_DOT4X8) and a packed load (KIR_E_LOAD_PACKED). */
  void (*dot4x8)(kir_printer *p, const kir_expr *e);
  void (*load_packed)(kir_printer *p, const kir_expr *e);
  /* Unroll hint line before a loop (may print nothing). */
  void (*unroll)(kir_printer *p, int unroll);
  /* The kernel frame: everything before the body statements and after them. */
  void (*kernel_begin)(kir_printer *p);
  void (*kernel_end)(kir_printer *p);
} kir_dialect;

struct kir_printer {
  const kir_dialect *d;
  const kir_kernel *k;
  FILE *out;
  int indent;      /* current depth; two spaces each */
  const int *var_multiple; /* k's kir_var_multiples */
};

/* Prints one kernel through dialect `d`. Returns 0, or -1 on a write error. */
int  kir_print_kernel(const kir_dialect *d, const kir_kernel *k, FILE *out);

/* For dialect callbacks. */
void kir_print_expr(kir_printer *p, const kir_expr *e);          /* at lowest precedence */
void kir_print_expr_prec(kir_printer *p, const kir_expr *e, int min_prec);
void kir_print_indent(kir_printer *p);
/* Shortest float literal that reads back as the same float, with the dialect's suffix. */
void kir_print_float(kir_printer *p, double v);
/* Precedence of an additive right operand: `off + (a + b)` but `off + a * b`. */
enum { KIR_PREC_ADD_RHS = 13, KIR_PREC_ATOM = 17 };

#endif

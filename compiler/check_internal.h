/* check_internal.h — private to the checker (checker.c, check_expr.c, check_fn.c):
 * values, scopes and the checker state. */
#ifndef MLG_CHECK_INTERNAL_H
#define MLG_CHECK_INTERNAL_H

#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "checker.h"
#include "diag.h"
#include "graph.h"
#include "op.h"

enum {
  CHECK_MAX_NODES = 1 << 20,        /* graph size limit (fn inlining can blow up) */
  CHECK_MAX_DEPTH = 1500,           /* expression and fn-call nesting */
  CHECK_CONST_LIMIT = 1 << 24       /* elements of one compile-time tensor */
};

/* What an expression evaluates to. Compile-time scalars (V_INT, V_FLOAT) become 0-d const
 * nodes when used as tensor operands; lists only serve as attributes, concat inputs and tensor
 * literals; a type name (V_DTYPE) only as an attribute. V_POISON: the expression failed and its
 * error was already reported. */
typedef enum vkind { V_POISON, V_INT, V_FLOAT, V_TENSOR, V_LIST, V_DTYPE } vkind;

typedef struct value {
  vkind kind;
  mlg_ir_dtype dtype;   /* V_INT/V_FLOAT: dtype of the const it becomes: declared (typed), else
                           the dtype of the op inputs it joins (op.h same_dtype), else f32 */
  int typed;            /* V_INT/V_FLOAT: a const declared its type */
  int64_t i;            /* V_INT; V_DTYPE: the mlg_ir_dtype */
  double f;             /* V_FLOAT */
  int node;             /* V_TENSOR */
  int n;                /* V_LIST */
  struct value *items;
  mlg_span span;
} value;

typedef enum symkind { SYM_DIM, SYM_CONST, SYM_INPUT, SYM_PARAM, SYM_LET, SYM_ARG } symkind;

typedef struct symbol {
  const char *name;
  symkind kind;
  value val;
  mlg_span span;        /* where it was defined */
} symbol;

typedef struct symtab {
  symbol **slots;
  int cap, n;
} symtab;

typedef struct scope {
  symtab tab;
  struct scope *parent; /* model scope for fn bodies; NULL for the model */
  const mlg_fn *fn;     /* the fn being inlined, or NULL */
  const char *prefix;   /* param prefix of this call ("layer1.0"), or NULL */
  mlg_span call_span;   /* the call's `as` (where its params are created); {0, 0} in the model */
} scope;

typedef struct fn_entry {
  const mlg_fn *fn;
  int active;           /* on the call stack: calling it again is recursion */
  int broken;           /* its body reported errors once: later calls stay silent */
} fn_entry;

/* Leaf names (inputs, params) created so far, to catch a weight created twice. */
typedef struct leaf_name {
  const char *name;
  mlg_span span;
} leaf_name;

/* Where a compile-time integer is being computed, for the message when a division in it is
 * not exact: a float would do elsewhere, but not in a dim, a shape or an integer attribute. */
typedef enum int_ctx_kind { ICTX_DIM, ICTX_TYPE, ICTX_ATTR, ICTX_OTHER } int_ctx_kind;

typedef struct int_ctx {
  int_ctx_kind kind;
  const char *name;     /* DIM: the dim; ATTR: the attribute; OTHER: what it is ("a seed") */
  const char *op;       /* ATTR: the op */
  mlg_span span;        /* DIM: its value; TYPE: the declared type (quoted when short) */
} int_ctx;

typedef struct checker {
  const mlg_ast *ast;
  mlg_diag *diag;
  const mlg_check_options *opts;
  mlg_arena scratch;
  mlg_graph_builder b;
  int oom;              /* allocation failed: reported once, everything is poison after */
  int too_big;          /* node limit hit: reported once */
  int depth;
  scope *model;
  int n_fns;
  fn_entry *fns;
  symtab leaves;        /* name → symbol whose span is the first creation */
  symtab outputs;
  const int_ctx *ictx;  /* innermost integer-only context being evaluated, or NULL */
} checker;

/* checker.c */
void        chk_error(checker *c, mlg_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void        chk_note(checker *c, mlg_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int         chk_oom(checker *c);
symbol     *symtab_get(const symtab *t, const char *name);
int         symtab_put(checker *c, symtab *t, symbol *s);
symbol     *scope_lookup(const scope *sc, const char *name, int *out_hidden);
fn_entry   *chk_find_fn(checker *c, const char *name);
/* Runs one fn body for a call (check_fn.c). */
value       chk_call_fn(checker *c, scope *sc, const mlg_expr *e, fn_entry *fe);
/* Processes one statement of the model or of a fn body; *out_ret gets a return's value. */
void        chk_stmt(checker *c, scope *sc, const mlg_stmt *st, value *out_ret, int *out_returned);

/* check_expr.c */
value       chk_eval(checker *c, scope *sc, const mlg_expr *e);
/* Turns a value into a tensor node (materializing scalars as v->dtype); -1 when poison or not
 * a tensor (reported). */
int         chk_as_tensor(checker *c, value *v);
/* Stores compile-time number v as element pos of data of `dtype`, or reports at v why it cannot
 * be one (`why` is appended to the message): a bool takes true, false, 1 or 0; an integer type
 * an integer in its range (i64: in 32 bits, as mlg computes it); f16 a number within ±65504.
 * Returns 0 or -1 (reported). */
int         chk_store_number(checker *c, const value *v, mlg_ir_dtype dtype, const char *why,
                             void *data, int64_t pos);
/* A compile-time integer; returns 0, or -1 (reported, or poison). */
int         chk_as_int(checker *c, const value *v, const char *what, int64_t *out);
int         chk_as_number(checker *c, const value *v, const char *what, double *out);
int         chk_add_node(checker *c, const mlg_node *n);
/* A const node from a literal list / scalar fill, typed by `type` (rank > 0). */
int         chk_const_from_value(checker *c, const value *v, const mlg_type *declared,
                                 mlg_span span);
/* Evaluates a declared type; returns 0 or -1 (reported). */
int         chk_eval_type(checker *c, scope *sc, const mlg_ast_type *t, mlg_type *out);
/* "did you mean" among names visible from sc; NULL if none close. */
const char *chk_suggest_name(const scope *sc, const char *name);
/* Reports an unknown name at span: defined later in this body (with a note), or with a
 * "did you mean" when one is close. */
void        chk_unknown_name(checker *c, const scope *sc, const char *name, mlg_span span);
/* The source text of span when it is one line of at most cap - 1 bytes; else "" (returns 0). */
int         chk_span_text(const checker *c, mlg_span span, char *buf, size_t cap);
/* What a value is, for "got ..." in messages: "the float 2.5", "'x' (a tensor f32[4])". */
void        chk_describe(const checker *c, const value *v, char *buf, size_t cap);

#endif

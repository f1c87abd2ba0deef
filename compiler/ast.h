/* ast.h — the syntax tree of one .mlg file, as written (no names resolved, no shapes).
 *
 * Produced by mlg_parse (parse.h), read by the checker (check.h) and by mlg_ast_print
 * (--emit=ast). All nodes live in the mlg_ast's arena. Lists are arrays with counts.
 * Thread safety: immutable after parsing; safe to read from several threads. */
#ifndef MLG_AST_H
#define MLG_AST_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

/* The type keywords, in the order of the graph's mlg_ir_dtype (the checker casts one to the
 * other). */
typedef enum mlg_ast_dtype {
  MLG_AST_F32, MLG_AST_I32, MLG_AST_BOOL, MLG_AST_I64, MLG_AST_F16, MLG_AST_I8, MLG_AST_U8
} mlg_ast_dtype;

typedef enum mlg_expr_kind {
  MLG_EXPR_INT,    /* int_value */
  MLG_EXPR_FLOAT,  /* float_value (text kept in `text` for exact printing) */
  MLG_EXPR_BOOL,   /* int_value 0/1 */
  MLG_EXPR_NAME,   /* name (may be dotted: "fc1.weight") */
  MLG_EXPR_UNARY,  /* op '-', operand = args[0] */
  MLG_EXPR_BINARY, /* op '+','-','*','/','@'; args[0], args[1] */
  MLG_EXPR_CALL,   /* name = callee; args (positional) then kwargs; `as_prefix` optional */
  MLG_EXPR_LIST,   /* args = elements: [a, b, c] */
  MLG_EXPR_DTYPE   /* a type name as a value (int_value = mlg_ast_dtype): cast(x, dtype=i32) */
} mlg_expr_kind;

typedef struct mlg_expr mlg_expr;

typedef struct mlg_kwarg {
  const char *name;
  mlg_span name_span;
  mlg_expr *value;
} mlg_kwarg;

struct mlg_expr {
  mlg_expr_kind kind;
  mlg_span span;           /* whole expression */
  int op;                  /* UNARY/BINARY: the operator character */
  int64_t int_value;       /* INT, BOOL, DTYPE. Literals that overflow int64 are a parse
                              error. */
  double float_value;      /* FLOAT */
  const char *text;        /* FLOAT: source spelling; NAME/CALL: the name */
  mlg_span name_span;      /* CALL: the callee name */
  int n_args;
  mlg_expr **args;
  int n_kwargs;
  mlg_kwarg *kwargs;
  const char *as_prefix;   /* CALL of a fn: "f(x) as layer1.0" → "layer1.0"; else NULL */
  mlg_span as_span;
};

/* One dimension of a declared type: a compile-time integer expression over literals, `dim`s,
 * consts and fn arguments: `784`, `N`, `3 * C`. */
typedef struct mlg_ast_dim {
  mlg_expr *value;
} mlg_ast_dim;

typedef struct mlg_ast_type {
  mlg_ast_dtype dtype;
  int rank;                /* 0 for a scalar type written as "f32" or "f32[]" */
  mlg_ast_dim *dims;
  mlg_span span;
} mlg_ast_type;

typedef enum mlg_stmt_kind {
  MLG_STMT_DIM,     /* dim NAME = expr */
  MLG_STMT_INPUT,   /* input NAME : type */
  MLG_STMT_PARAM,   /* param NAME : type [= init]   (init: zeros | ones | normal(..) | uniform(..)) */
  MLG_STMT_CONST,   /* const NAME [: type] = expr */
  MLG_STMT_LET,     /* NAME = expr */
  MLG_STMT_OUTPUT,  /* output NAME [= expr] — value NULL refers to an existing binding */
  MLG_STMT_RETURN,  /* return expr (fn bodies only) */
  MLG_STMT_FN       /* fn definition (model body or file level) */
} mlg_stmt_kind;

typedef struct mlg_stmt mlg_stmt;
typedef struct mlg_fn mlg_fn;

struct mlg_stmt {
  mlg_stmt_kind kind;
  mlg_span span;           /* whole statement */
  const char *name;        /* declared/bound name (NULL for RETURN, FN) */
  mlg_span name_span;
  int has_type;
  mlg_ast_type type;       /* INPUT, PARAM, CONST (if has_type) */
  mlg_expr *value;         /* DIM, PARAM (initializer, may be NULL), CONST, LET, OUTPUT, RETURN */
  mlg_fn *fn;              /* FN */
};

struct mlg_fn {
  const char *name;
  mlg_span name_span;
  mlg_span span;
  int n_params;
  const char **params;     /* argument names */
  mlg_span *param_spans;
  int n_stmts;
  mlg_stmt **stmts;
};

typedef struct mlg_ast {
  mlg_arena arena;
  const mlg_source *source;
  const char *model_name;  /* NULL if the file has no model block (an error the parser reports) */
  mlg_span model_span;
  int n_stmts;             /* model body, in order (FN statements included) */
  mlg_stmt **stmts;
  int n_fns;               /* fn definitions at file level */
  mlg_fn **fns;
} mlg_ast;

void mlg_ast_free(mlg_ast *ast);
/* --emit=ast: stable, indented, one node per line, with line:col of each node. */
void mlg_ast_print(const mlg_ast *ast, FILE *out);

#endif

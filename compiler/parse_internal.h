/* parse_internal.h — private to the front end (lexer.re, grammar.y, parse.c): tokens, the lexer,
 * the parser state Lemon threads through its actions, and the AST builders the actions call.
 * Thread safety: all state lives in mlg_lexer / mlg_parser; no globals. */
#ifndef MLG_PARSE_INTERNAL_H
#define MLG_PARSE_INTERNAL_H

#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

enum {
  MLG_MAX_NESTING = 256,     /* ( and [ levels; deeper is an error that ends the parse */
  MLG_MAX_EXPR_DEPTH = 1000, /* AST depth of one expression (a + a + ... chains included) */
  MLG_PARSER_STACK = 4000    /* Lemon %stack_size; must match grammar.y */
};

/* One token as the parser sees it (Lemon's %token_type). */
typedef struct mlg_token {
  mlg_span span;
  int64_t int_value;   /* INT, TRUE/FALSE */
  double float_value;  /* FLOAT */
  const char *text;    /* ID and FLOAT: NUL-terminated copy in the AST arena; else NULL */
} mlg_token;

typedef struct mlg_lexer {
  const mlg_source *source;
  mlg_diag *diag;
  mlg_arena *arena;
  const unsigned char *cursor;
  const unsigned char *end;      /* the terminating NUL of source->text */
  int depth;                     /* open ( and [ */
  int after_newline;             /* last token emitted was NEWLINE (or none yet): collapse */
  uint32_t last_end;             /* end offset of the last token emitted, for the EOF span */
  int bad_in_statement;          /* a bad character was dropped since the last NEWLINE */
  int oom;
  uint32_t open_at[MLG_MAX_NESTING]; /* offsets of the open ( and [, innermost last */
  int had_open;                  /* a ( or [ was open when the last token was read ... */
  uint32_t had_open_at;          /* ... this one, the innermost (for "not closed" notes) */
} mlg_lexer;

void mlg_lexer_init(mlg_lexer *lexer, const mlg_source *source, mlg_diag *diag, mlg_arena *arena);
/* Next token code (TK_* from grammar.h), 0 at end of input, -1 when lexing must stop (nesting
 * too deep, out of memory; already reported). Lexical errors are reported and skipped. */
int  mlg_lexer_next(mlg_lexer *lexer, mlg_token *out_token);

/* Growable array of pointers in the arena (old storage is abandoned on growth). */
typedef struct mlg_vec {
  void **items;
  int n, cap;
} mlg_vec;

/* Call arguments while they are being parsed. */
typedef struct mlg_args {
  mlg_vec pos;    /* mlg_expr* */
  mlg_vec kw;     /* mlg_kwarg* */
} mlg_args;

/* Lemon's %extra_argument. */
typedef struct mlg_parser {
  mlg_ast *ast;
  mlg_diag *diag;
  mlg_arena *arena;
  int stop;        /* stack overflow, too deep, out of memory: feed no more tokens */
  int oom;
  int quiet_syntax;   /* the lexer dropped a bad character in this statement: its syntax
                       * error would only repeat that one */
  int toplevel_quiet; /* a file-level syntax error was reported; quiet until 'model' / 'fn' */
  int saw_model;   /* a `model` keyword was seen (so "no model" is not reported again) */
  int n_models;
  mlg_span first_model_name;
  mlg_vec *file_fns;    /* mlg_fn*, file-level definitions in order */
  mlg_span last_token;  /* span of the token most recently fed, for messages */
  int has_open_bracket; /* a ( or [ was open before the token being fed: where */
  uint32_t open_bracket;
} mlg_parser;

/* Builders called from grammar.y actions (parse.c). They return NULL only when out of memory
 * (and set p->oom / p->stop); every builder accepts NULL children. */
mlg_vec    *mlg_syn_vec(mlg_parser *p);
mlg_vec    *mlg_syn_push(mlg_parser *p, mlg_vec *v, void *item);
mlg_expr   *mlg_syn_int(mlg_parser *p, const mlg_token *t);
mlg_expr   *mlg_syn_float(mlg_parser *p, const mlg_token *t);
mlg_expr   *mlg_syn_bool(mlg_parser *p, const mlg_token *t, int value);
/* A type name used as a value (dtype_tok->int_value: the mlg_ast_dtype). */
mlg_expr   *mlg_syn_dtype(mlg_parser *p, const mlg_token *dtype_tok);
mlg_expr   *mlg_syn_name(mlg_parser *p, const mlg_token *t);
/* (e): widens e's span over the parentheses; adds no node. */
mlg_expr   *mlg_syn_paren(mlg_parser *p, const mlg_token *lparen, mlg_expr *e, const mlg_token *rparen);
mlg_expr   *mlg_syn_unary(mlg_parser *p, const mlg_token *op, int op_char, mlg_expr *operand);
mlg_expr   *mlg_syn_binary(mlg_parser *p, mlg_expr *lhs, int op_char, mlg_expr *rhs);
mlg_args   *mlg_syn_args(mlg_parser *p);
mlg_args   *mlg_syn_args_pos(mlg_parser *p, mlg_args *a, mlg_expr *value);
mlg_args   *mlg_syn_args_kw(mlg_parser *p, mlg_args *a, const mlg_token *name, mlg_expr *value);
mlg_expr   *mlg_syn_call(mlg_parser *p, const mlg_token *name, mlg_args *a, const mlg_token *rparen);
mlg_expr   *mlg_syn_call_as(mlg_parser *p, mlg_expr *call, const mlg_token *prefix);
mlg_expr   *mlg_syn_list(mlg_parser *p, const mlg_token *lbracket, mlg_vec *items, const mlg_token *rbracket);
/* dtype_tok->int_value holds the mlg_ast_dtype; rbracket NULL for a bare "f32". */
mlg_ast_type *mlg_syn_type(mlg_parser *p, const mlg_token *dtype_tok, mlg_vec *dims,
                           const mlg_token *rbracket);
mlg_stmt   *mlg_syn_stmt(mlg_parser *p, mlg_stmt_kind kind, const mlg_token *first,
                         const mlg_token *name, const mlg_ast_type *type, mlg_expr *value);
/* name NULL after a syntax error in the header. params: NAME exprs; stmts: mlg_stmt*. */
mlg_fn     *mlg_syn_fn(mlg_parser *p, const mlg_token *fn_tok, const mlg_token *name,
                       mlg_vec *params, mlg_vec *stmts, const mlg_token *rbrace);
mlg_stmt   *mlg_syn_fn_stmt(mlg_parser *p, mlg_fn *fn);
void        mlg_syn_file_fn(mlg_parser *p, mlg_fn *fn);
void        mlg_syn_model(mlg_parser *p, const mlg_token *model_tok, const mlg_token *name,
                          mlg_vec *stmts, const mlg_token *rbrace);

/* Lemon's entry points (grammar.y, %name mlgParse). */
void *mlgParseAlloc(void *(*malloc_fn)(size_t));
void  mlgParse(void *parser, int code, mlg_token token, mlg_parser *p);
void  mlgParseFree(void *parser, void (*free_fn)(void *));

/* Called before each token is fed: reports a syntax error if the parser cannot take `code`
 * (and is not recovering from an error already). Returns 1 if the token will be shifted. */
int   mlg_parser_precheck(void *parser, int code, const mlg_token *token, mlg_parser *p);

/* After a NEWLINE was fed: if the parser shifted it (also when it was the token of a syntax error
 * and recovery then took it as the statement's end), it is at a statement boundary: report the
 * next error. */
void  mlg_parser_rearm(void *parser);

/* Display name of a token code for messages: "')'", "identifier", "end of line". */
const char *mlg_token_name(int code);

#endif

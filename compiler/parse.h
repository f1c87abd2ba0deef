/* parse.h — lexing (re2c, lexer.re) and parsing (Lemon, grammar.y) of one source.
 * Thread safety: reentrant; no global state. */
#ifndef MLG_PARSE_H
#define MLG_PARSE_H

#include "ast.h"
#include "diag.h"

/* Parses source into a freshly allocated AST. Syntax errors are reported to diag (several per
 * run where the parser can resynchronise at the next statement). Returns NULL if allocation
 * failed; otherwise an AST that the caller frees with mlg_ast_free — partial when
 * diag->n_errors > 0. Never crashes on any byte sequence; nesting deeper than 256 is an error. */
mlg_ast *mlg_parse(const mlg_source *source, mlg_diag *diag);

#endif

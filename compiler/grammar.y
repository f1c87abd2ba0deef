/* grammar.y — Lemon grammar of .mlg files. Actions build the AST through the mlg_syn_* builders
 * of parse.c; the driver (mlg_parse) feeds tokens from the re2c lexer.
 *
 * Error recovery: a statement that fails to parse becomes `error`, and Lemon discards tokens up
 * to the next NEWLINE (newline or ';') or '}'. Lemon normally stays silent until three tokens
 * have been shifted after an error; the driver re-arms reporting (mlg_parser_rearm) once a
 * NEWLINE is shifted, so an error on the very next line is reported too. That includes a
 * NEWLINE that was itself the error token (`b = x +` at the end of a line): recovery shifts
 * `error`, reduces it to an empty statement and then shifts that same NEWLINE. The lexer always ends
 * the input with a NEWLINE, so every item and statement has a terminator. */

%name mlgParse
%token_prefix TK_
%token_type {mlg_token}
%extra_argument {mlg_parser *p}
%stack_size 4000
%start_symbol file

%include {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

}

%stack_overflow {
  if (!p->stop)
    mlg_diag_error(p->diag, p->last_token, "nesting too deep: the parser's stack is full");
  p->stop = 1;
}

%syntax_error {
  /* Reported by mlg_parser_precheck before the token reached the parser: Lemon's default
   * reductions would otherwise have moved the parser past the state that knows what was
   * expected. */
  (void)p;
  (void)yymajor;
  (void)TOKEN;
}

%parse_failure {
  /* Only reached at end of file inside an unfinished construct: already reported. */
}

/* Token order fixes the codes in grammar.h. */
%token MODEL FN RETURN AS DIM INPUT PARAM CONST OUTPUT F32 I32 F16 I8 BOOL I64 U8 TRUE FALSE ID INT
       FLOAT
       LBRACE RBRACE LPAREN RPAREN LBRACKET RBRACKET COMMA COLON EQ NEWLINE.

%left PLUS MINUS.
%left STAR SLASH AT.
%right UMINUS.

/* ---- file ------------------------------------------------------------------------------- */

file ::= items.

items ::= .
items ::= items item NEWLINE.

item ::= .
item ::= model_def.
item ::= fn_def(F).                                     { mlg_syn_file_fn(p, F); }
item ::= error.

model_def ::= MODEL(M) ID(N) LBRACE stmts(S) stmt_opt(L) RBRACE(R). {
  mlg_syn_model(p, &M, &N, mlg_syn_push(p, S, L), &R);
}
model_def ::= MODEL(M) error LBRACE stmts(S) stmt_opt(L) RBRACE(R). {
  mlg_syn_model(p, &M, NULL, mlg_syn_push(p, S, L), &R);
}

%type fn_def {mlg_fn *}
fn_def(A) ::= FN(F) ID(N) LPAREN params(P) RPAREN LBRACE stmts(S) stmt_opt(L) RBRACE(R). {
  A = mlg_syn_fn(p, &F, &N, P, mlg_syn_push(p, S, L), &R);
}
fn_def(A) ::= FN(F) error LBRACE stmts(S) stmt_opt(L) RBRACE(R). {
  A = mlg_syn_fn(p, &F, NULL, mlg_syn_vec(p), mlg_syn_push(p, S, L), &R);
}

%type params {mlg_vec *}
params(A) ::= .                                         { A = mlg_syn_vec(p); }
params(A) ::= param_list(B).                            { A = B; }
%type param_list {mlg_vec *}
param_list(A) ::= ID(N).                                { A = mlg_syn_push(p, mlg_syn_vec(p), mlg_syn_name(p, &N)); }
param_list(A) ::= param_list(B) COMMA ID(N).            { A = mlg_syn_push(p, B, mlg_syn_name(p, &N)); }

/* ---- statements ------------------------------------------------------------------------- */

%type stmts {mlg_vec *}
stmts(A) ::= .                                          { A = mlg_syn_vec(p); }
stmts(A) ::= stmts(B) stmt_opt(S) NEWLINE.              { A = mlg_syn_push(p, B, S); }

%type stmt_opt {mlg_stmt *}
stmt_opt(A) ::= .                                       { A = NULL; }
stmt_opt(A) ::= stmt(S).                                { A = S; }
stmt_opt(A) ::= error.                                  { A = NULL; }

%type stmt {mlg_stmt *}
stmt(A) ::= DIM(K) ID(N) EQ expr(E).                    { A = mlg_syn_stmt(p, MLG_STMT_DIM, &K, &N, NULL, E); }
stmt(A) ::= INPUT(K) ID(N) COLON type(T).               { A = mlg_syn_stmt(p, MLG_STMT_INPUT, &K, &N, T, NULL); }
stmt(A) ::= PARAM(K) ID(N) COLON type(T).               { A = mlg_syn_stmt(p, MLG_STMT_PARAM, &K, &N, T, NULL); }
stmt(A) ::= PARAM(K) ID(N) COLON type(T) EQ expr(E).    { A = mlg_syn_stmt(p, MLG_STMT_PARAM, &K, &N, T, E); }
stmt(A) ::= CONST(K) ID(N) EQ expr(E).                  { A = mlg_syn_stmt(p, MLG_STMT_CONST, &K, &N, NULL, E); }
stmt(A) ::= CONST(K) ID(N) COLON type(T) EQ expr(E).    { A = mlg_syn_stmt(p, MLG_STMT_CONST, &K, &N, T, E); }
stmt(A) ::= ID(N) EQ expr(E).                           { A = mlg_syn_stmt(p, MLG_STMT_LET, &N, &N, NULL, E); }
stmt(A) ::= OUTPUT(K) ID(N).                            { A = mlg_syn_stmt(p, MLG_STMT_OUTPUT, &K, &N, NULL, NULL); }
stmt(A) ::= OUTPUT(K) ID(N) EQ expr(E).                 { A = mlg_syn_stmt(p, MLG_STMT_OUTPUT, &K, &N, NULL, E); }
stmt(A) ::= RETURN(K) expr(E).                          { A = mlg_syn_stmt(p, MLG_STMT_RETURN, &K, NULL, NULL, E); }
stmt(A) ::= fn_def(F).                                  { A = mlg_syn_fn_stmt(p, F); }

/* ---- types ------------------------------------------------------------------------------ */

%type dtype {mlg_token}
dtype(A) ::= F32(T).                                    { A = T; A.int_value = MLG_AST_F32; }
dtype(A) ::= I32(T).                                    { A = T; A.int_value = MLG_AST_I32; }
dtype(A) ::= F16(T).                                    { A = T; A.int_value = MLG_AST_F16; }
dtype(A) ::= I8(T).                                     { A = T; A.int_value = MLG_AST_I8; }
dtype(A) ::= BOOL(T).                                   { A = T; A.int_value = MLG_AST_BOOL; }
dtype(A) ::= I64(T).                                    { A = T; A.int_value = MLG_AST_I64; }
dtype(A) ::= U8(T).                                     { A = T; A.int_value = MLG_AST_U8; }

%type type {mlg_ast_type *}
type(A) ::= dtype(D).                                   { A = mlg_syn_type(p, &D, NULL, NULL); }
type(A) ::= dtype(D) LBRACKET RBRACKET(R).              { A = mlg_syn_type(p, &D, NULL, &R); }
type(A) ::= dtype(D) LBRACKET list(L) RBRACKET(R).      { A = mlg_syn_type(p, &D, L, &R); }

/* ---- expressions ------------------------------------------------------------------------ */

%type expr {mlg_expr *}
expr(A) ::= INT(T).                                     { A = mlg_syn_int(p, &T); }
expr(A) ::= FLOAT(T).                                   { A = mlg_syn_float(p, &T); }
expr(A) ::= TRUE(T).                                    { A = mlg_syn_bool(p, &T, 1); }
expr(A) ::= FALSE(T).                                   { A = mlg_syn_bool(p, &T, 0); }
expr(A) ::= ID(T).                                      { A = mlg_syn_name(p, &T); }
/* A type name as a value: only an attribute takes one (cast(x, dtype=i32)). */
expr(A) ::= dtype(D).                                   { A = mlg_syn_dtype(p, &D); }
expr(A) ::= LPAREN(L) expr(E) RPAREN(R).                { A = mlg_syn_paren(p, &L, E, &R); }
expr(A) ::= MINUS(M) expr(E). [UMINUS]                  { A = mlg_syn_unary(p, &M, '-', E); }
expr(A) ::= expr(L) PLUS expr(R).                       { A = mlg_syn_binary(p, L, '+', R); }
expr(A) ::= expr(L) MINUS expr(R).                      { A = mlg_syn_binary(p, L, '-', R); }
expr(A) ::= expr(L) STAR expr(R).                       { A = mlg_syn_binary(p, L, '*', R); }
expr(A) ::= expr(L) SLASH expr(R).                      { A = mlg_syn_binary(p, L, '/', R); }
expr(A) ::= expr(L) AT expr(R).                         { A = mlg_syn_binary(p, L, '@', R); }
expr(A) ::= ID(N) LPAREN args(G) RPAREN(R).             { A = mlg_syn_call(p, &N, G, &R); }
expr(A) ::= ID(N) LPAREN args(G) RPAREN(R) AS ID(X).    { A = mlg_syn_call_as(p, mlg_syn_call(p, &N, G, &R), &X); }
expr(A) ::= LBRACKET(L) RBRACKET(R).                    { A = mlg_syn_list(p, &L, NULL, &R); }
expr(A) ::= LBRACKET(L) list(V) RBRACKET(R).            { A = mlg_syn_list(p, &L, V, &R); }

%type list {mlg_vec *}
list(A) ::= expr(E).                                    { A = mlg_syn_push(p, mlg_syn_vec(p), E); }
list(A) ::= list(B) COMMA expr(E).                      { A = mlg_syn_push(p, B, E); }

%type args {mlg_args *}
args(A) ::= .                                           { A = mlg_syn_args(p); }
args(A) ::= arg_list(B).                                { A = B; }
%type arg_list {mlg_args *}
arg_list(A) ::= expr(E).                                { A = mlg_syn_args_pos(p, mlg_syn_args(p), E); }
arg_list(A) ::= kw_name(N) EQ expr(E).                  { A = mlg_syn_args_kw(p, mlg_syn_args(p), &N, E); }
arg_list(A) ::= arg_list(B) COMMA expr(E).              { A = mlg_syn_args_pos(p, B, E); }
arg_list(A) ::= arg_list(B) COMMA kw_name(N) EQ expr(E). { A = mlg_syn_args_kw(p, B, &N, E); }
/* A keyword argument's name: an identifier, or `dim` (a keyword as a statement, `dim N = 1`),
 * which PyTorch users write for an axis and the checker takes as one. */
%type kw_name {mlg_token}
kw_name(A) ::= ID(N).                                   { A = N; }
kw_name(A) ::= DIM(N).                                  { A = N; A.text = "dim"; }

%code {

const char *mlg_token_name(int code) {
  switch (code) {
  case 0: return "end of file";
  case TK_MODEL: return "'model'";
  case TK_FN: return "'fn'";
  case TK_RETURN: return "'return'";
  case TK_AS: return "'as'";
  case TK_DIM: return "'dim'";
  case TK_INPUT: return "'input'";
  case TK_PARAM: return "'param'";
  case TK_CONST: return "'const'";
  case TK_OUTPUT: return "'output'";
  case TK_F32: return "'f32'";
  case TK_I32: return "'i32'";
  case TK_F16: return "'f16'";
  case TK_I8: return "'i8'";
  case TK_BOOL: return "'bool'";
  case TK_I64: return "'i64'";
  case TK_U8: return "'u8'";
  case TK_TRUE: return "'true'";
  case TK_FALSE: return "'false'";
  case TK_ID: return "name";
  case TK_INT: return "integer";
  case TK_FLOAT: return "number";
  case TK_LBRACE: return "'{'";
  case TK_RBRACE: return "'}'";
  case TK_LPAREN: return "'('";
  case TK_RPAREN: return "')'";
  case TK_LBRACKET: return "'['";
  case TK_RBRACKET: return "']'";
  case TK_COMMA: return "','";
  case TK_COLON: return "':'";
  case TK_EQ: return "'='";
  case TK_NEWLINE: return "end of line";
  case TK_PLUS: return "'+'";
  case TK_MINUS: return "'-'";
  case TK_STAR: return "'*'";
  case TK_SLASH: return "'/'";
  case TK_AT: return "'@'";
  default: return "token";
  }
}

/* Would the parser, in its current configuration, eventually shift terminal `t`? 1 yes, 0 no,
 * -1 unknown (the replay ran out of room). Replays the reductions on a virtual stack: states
 * popped from the real stack are only read, states pushed by reductions go to `extra`. */
static int parser_accepts(const yyParser *pp, int t) {
  enum { EXTRA = 64 };
  YYACTIONTYPE extra[EXTRA];
  int n_extra = 0;
  const yyStackEntry *base = pp->yytos;
  YYACTIONTYPE state = base->stateno;
  for (int steps = 0; steps < 1000; steps++) {
    YYACTIONTYPE act = yy_find_shift_action((YYCODETYPE)t, state);
    if (act <= YY_MAX_SHIFTREDUCE || act == YY_ACCEPT_ACTION) return 1;
    if (act < YY_MIN_REDUCE || act > YY_MAX_REDUCE) return 0;
    unsigned rule = act - YY_MIN_REDUCE;
    int n_pop = -yyRuleInfoNRhs[rule];
    while (n_pop > 0 && n_extra > 0) { n_extra--; n_pop--; }
    if (base - n_pop < pp->yystack) return -1;
    base -= n_pop;
    YYACTIONTYPE below = n_extra > 0 ? extra[n_extra - 1] : base->stateno;
    YYACTIONTYPE go = yy_find_reduce_action(below, (YYCODETYPE)yyRuleInfoLhs[rule]);
    if (n_extra == EXTRA) return -1;
    extra[n_extra++] = go;
    state = go;
  }
  return -1;
}

typedef struct token_group {
  const char *name;
  int members[9];
} token_group;

/* Groups name a whole set of expected tokens at once ("expected expression"). */
static const token_group GROUPS[] = {
  {"statement", {TK_DIM, TK_INPUT, TK_PARAM, TK_CONST, TK_OUTPUT, TK_RETURN, TK_FN, TK_ID, 0}},
  {"expression", {TK_ID, TK_INT, TK_FLOAT, TK_TRUE, TK_FALSE, TK_LPAREN, TK_LBRACKET, TK_MINUS, 0}},
  {"operator", {TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_AT, 0}},
  {"type", {TK_F32, TK_I32, TK_F16, TK_I8, TK_BOOL, TK_I64, TK_U8, 0}},
};

/* The offending token as the user wrote it: 'text' (shortened, escaped), or a description. */
static void describe_token(const mlg_parser *p, int major, const mlg_token *token, char *buf, size_t cap) {
  const mlg_source *src = p->ast->source;
  if (major == 0) { snprintf(buf, cap, "end of file"); return; }
  if (major == TK_NEWLINE) {
    if (token->span.begin == token->span.end)  /* the lexer's terminator at end of input */
      snprintf(buf, cap, "end of file");
    else if (src && token->span.begin < src->length && src->text[token->span.begin] == ';')
      snprintf(buf, cap, "';'");
    else
      snprintf(buf, cap, "end of line");
    return;
  }
  if (!src || token->span.end <= token->span.begin || token->span.end > src->length) {
    snprintf(buf, cap, "%s", mlg_token_name(major));
    return;
  }
  size_t n = 0;
  buf[n++] = '\'';
  uint32_t len = token->span.end - token->span.begin;
  uint32_t shown = len > 32 ? 32 : len;
  for (uint32_t i = 0; i < shown && n + 6 < cap; i++) {
    unsigned char c = (unsigned char)src->text[token->span.begin + i];
    if (c >= 0x20 && c < 0x7f) buf[n++] = (char)c;
    else n += (size_t)snprintf(buf + n, cap - n, "\\x%02X", c);
  }
  if (shown < len && n + 5 < cap) { memcpy(buf + n, "...", 3); n += 3; }
  if (n + 1 < cap) buf[n++] = '\'';
  buf[n] = '\0';
}

/* Newlines inside ( ) and [ ] do not end a statement, so a missing ')' surfaces as an error on
 * a later line; point at the bracket that is still open. */
static void note_open_bracket(mlg_parser *p, int major, const mlg_token *token) {
  const mlg_source *src = p->ast->source;
  if (!p->has_open_bracket || !src || major == TK_RPAREN || major == TK_RBRACKET) return;
  uint32_t at = p->open_bracket, to = token->span.begin;
  if (at >= to || to > src->length || !memchr(src->text + at, '\n', to - at)) return;
  char open = src->text[at];
  mlg_span span = {at, at + 1};
  mlg_diag_note(p->diag, span, "the '%c' opened here is not closed (newlines inside %s do not end a "
                "statement)", open, open == '(' ? "parentheses" : "brackets");
}

static void syntax_error(mlg_parser *p, const yyParser *pp, int major, const mlg_token *token) {
  if (p->stop || p->quiet_syntax) return;
  char tok[160];
  describe_token(p, major, token, tok, sizeof tok);

  int ok[YYNTOKEN];
  int n_ok = 0;
  for (int t = 0; t < YYNTOKEN; t++) {
    ok[t] = t > 0 && t != YYERRORSYMBOL && parser_accepts(pp, t) == 1;
    n_ok += ok[t];
  }
  /* Build the list of expected items: complete groups first, then single tokens. */
  const char *items[YYNTOKEN + 4];
  int n_items = 0;
  int left[YYNTOKEN];
  memcpy(left, ok, sizeof left);
  int expression = 0;
  for (size_t g = 0; g < sizeof GROUPS / sizeof GROUPS[0]; g++) {
    int all = 1;
    for (int k = 0; GROUPS[g].members[k]; k++) all &= ok[GROUPS[g].members[k]];
    if (!all) continue;
    /* A type name is an expression too (an attribute's value): where an expression may start,
     * "expression" says it all. */
    int is_type = strcmp(GROUPS[g].name, "type") == 0;
    expression |= strcmp(GROUPS[g].name, "expression") == 0;
    if (is_type && expression) {
      for (int k = 0; GROUPS[g].members[k]; k++) left[GROUPS[g].members[k]] = 0;
      continue;
    }
    for (int k = 0; GROUPS[g].members[k]; k++) left[GROUPS[g].members[k]] = 0;
    items[n_items++] = GROUPS[g].name;
  }
  if (left[TK_NEWLINE]) left[TK_RBRACE] = 0; /* a newline before the '}' is as good */
  left[TK_AS] = 0;                            /* legal after a call, but never what was missing */
  if (ok[TK_ID]) left[TK_DIM] = 0;            /* `dim=` in arguments: a name like any other */
  for (int t = 1; t < YYNTOKEN; t++)
    if (left[t] && t != TK_NEWLINE) items[n_items++] = mlg_token_name(t);
  if (left[TK_NEWLINE]) items[n_items++] = mlg_token_name(TK_NEWLINE);

  /* Between items at file level. After one error here (often a '}' too many closed the model
   * early), stay quiet until the next 'model' or 'fn' instead of flagging every line. */
  if (ok[TK_MODEL]) {
    if (p->toplevel_quiet) return;
    p->toplevel_quiet = 1;
    if (major == TK_ID || major == TK_DIM || major == TK_INPUT || major == TK_PARAM ||
        major == TK_CONST || major == TK_OUTPUT || major == TK_RETURN) {
      mlg_diag_error(p->diag, token->span,
                     "%s outside of a 'model { ... }' or 'fn' block (a '}' too many above?)", tok);
      if (mlg_diag_full(p->diag)) p->stop = 1;
      return;
    }
  }

  char expected[512];
  size_t n = 0;
  expected[0] = '\0';
  if (n_ok > 0 && n_items > 0 && n_items <= 5) {
    n += (size_t)snprintf(expected + n, sizeof expected - n, "expected ");
    for (int i = 0; i < n_items && n < sizeof expected; i++) {
      const char *sep = i == 0 ? "" : (i == n_items - 1 ? " or " : ", ");
      n += (size_t)snprintf(expected + n, sizeof expected - n, "%s%s", sep, items[i]);
    }
  }
  if (major == 0) {
    /* At the end of the file, the missing closer is what the user needs to hear about. */
    static const int closers[] = {TK_RBRACE, TK_RPAREN, TK_RBRACKET};
    for (int i = 0; i < 3; i++)
      if (ok[closers[i]]) {
        snprintf(expected, sizeof expected, "expected %s", mlg_token_name(closers[i]));
        break;
      }
    if (expected[0]) mlg_diag_error(p->diag, token->span, "unexpected end of file; %s", expected);
    else mlg_diag_error(p->diag, token->span, "unexpected end of file");
  } else if (expected[0]) {
    mlg_diag_error(p->diag, token->span, "%s before %s", expected, tok);
  } else {
    mlg_diag_error(p->diag, token->span, "syntax error at %s", tok);
  }
  note_open_bracket(p, major, token);
  if (mlg_diag_full(p->diag)) p->stop = 1;
}

int mlg_parser_precheck(void *parser, int code, const mlg_token *token, mlg_parser *p) {
  const yyParser *pp = parser;
  if (parser_accepts(pp, code) != 0) {
    if (code == TK_MODEL || code == TK_FN) p->toplevel_quiet = 0;
    return 1;
  }
  /* Lemon stays quiet until three tokens have been shifted after an error (yyerrcnt >= 0). */
  if (pp->yyerrcnt < 0) syntax_error(p, pp, code, token);
  return 0;
}

void mlg_parser_rearm(void *parser) {
  yyParser *pp = parser;
  /* A NEWLINE that was the error token is shifted too, after recovery reduced `error` to a
   * statement: then the NEWLINE is on top just the same. A discarded one is not. */
  if (pp->yytos->major == TK_NEWLINE && pp->yyerrcnt >= 0) pp->yyerrcnt = -1;
}

}

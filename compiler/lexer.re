/* lexer.re — re2c lexer of .mlg files (re2c 3.0, `re2c -W`).
 *
 * The input is NUL-terminated (mlg_source guarantees it); a NUL before the end is an ordinary
 * bad byte. Newlines end statements only outside ( ) and [ ], and runs of them collapse into one
 * NEWLINE token; the input always ends with a NEWLINE so the grammar needs no special case for
 * the last line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "parse_internal.h"

void mlg_lexer_init(mlg_lexer *lexer, const mlg_source *source, mlg_diag *diag, mlg_arena *arena) {
  memset(lexer, 0, sizeof *lexer);
  lexer->source = source;
  lexer->diag = diag;
  lexer->arena = arena;
  lexer->cursor = (const unsigned char *)source->text;
  lexer->end = (const unsigned char *)source->text + source->length;
  lexer->after_newline = 1;
}

static mlg_span span_of(const mlg_lexer *lx, const unsigned char *begin, const unsigned char *end) {
  const unsigned char *base = (const unsigned char *)lx->source->text;
  mlg_span s = {(uint32_t)(begin - base), (uint32_t)(end - base)};
  return s;
}

/* Bytes that can start some token or separator; a run of anything else is one error. */
static int starts_token(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  return c != 0 && strchr("_ \t\r\v\f\n#;{}()[],:=+-*/@.", c) != NULL;
}

/* The code point of a well-formed UTF-8 sequence of 2 to 4 bytes at p (no overlongs, no
 * surrogates, at most U+10FFFF); its length, or 0 if the bytes are not one. */
static int utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *out_cp) {
  unsigned char c = p[0];
  int n;
  uint32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1Fu;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0Fu;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07u;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (end - p < n || p[1] < lo || p[1] > hi) return 0;
  for (int i = 1; i < n; i++) {
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    cp = (cp << 6) | (p[i] & 0x3Fu);
  }
  *out_cp = cp;
  return n;
}

static void bad_bytes(mlg_lexer *lx, const unsigned char *begin, const unsigned char **cursor) {
  const unsigned char *p = begin + 1;
  lx->bad_in_statement = 1;
  while (p < lx->end && !starts_token(*p)) p++;
  *cursor = p;
  mlg_span span = span_of(lx, begin, p);
  unsigned char c = *begin;
  uint32_t cp;
  int n = utf8_decode(begin, lx->end, &cp);
  if (c >= 0x21 && c < 0x7f)
    mlg_diag_error(lx->diag, span, "unexpected character '%c'", c);
  else if (n > 0 && cp >= 0xA0) /* the whole character, as written */
    mlg_diag_error(lx->diag, span, "unexpected character '%.*s' (U+%04X)", n, (const char *)begin,
                   (unsigned)cp);
  else if (n > 0) /* U+0080..U+009F: C1 controls, not printed */
    mlg_diag_error(lx->diag, span, "unexpected character U+%04X", (unsigned)cp);
  else
    mlg_diag_error(lx->diag, span, "unexpected character '\\x%02X'", c);
}

static int parse_int(mlg_lexer *lx, const unsigned char *begin, const unsigned char *end, int64_t *out) {
  uint64_t v = 0;
  for (const unsigned char *p = begin; p < end; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) {
      mlg_diag_error(lx->diag, span_of(lx, begin, end),
                     "integer literal too large (the limit is 9223372036854775807)");
      *out = 0;
      return -1;
    }
    v = v * 10 + d;
  }
  *out = (int64_t)v;
  return 0;
}

static int emit(mlg_lexer *lx, int code, const unsigned char *begin, const unsigned char *end,
                mlg_token *out) {
  out->span = span_of(lx, begin, end);
  lx->after_newline = code == TK_NEWLINE;
  if (code != TK_NEWLINE) lx->last_end = out->span.end;
  return code;
}

static int copy_text(mlg_lexer *lx, const unsigned char *begin, const unsigned char *end, mlg_token *out) {
  out->text = mlg_arena_strndup(lx->arena, (const char *)begin, (size_t)(end - begin));
  if (!out->text) {
    lx->oom = 1;
    return -1;
  }
  return 0;
}

/* After a newline inside ( ) or [ ]: does the next line start with a keyword that can only begin
 * a statement? Then the bracket was left open by mistake; ending the statement here lets the
 * parser report it and carry on with the next line instead of swallowing the rest of the file. */
static int next_line_starts_statement(const unsigned char *p, const unsigned char *end) {
  static const char *const words[] = {"model", "fn", "dim", "input", "param", "const", "output", "return"};
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\v' || *p == '\f')) p++;
    if (p < end && *p == '#') {
      while (p < end && *p != '\n') p++;
      continue;
    }
    break;
  }
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    size_t n = strlen(words[i]);
    if ((size_t)(end - p) >= n && memcmp(p, words[i], n) == 0) {
      unsigned char next = p + n < end ? p[n] : ' ';
      if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
          (next >= '0' && next <= '9') || next == '_' || next == '.')
        continue;
      /* `dim=` on a continued line is a keyword argument (dim=-1), not `dim N = ...`. */
      const unsigned char *q = p + n;
      while (q < end && (*q == ' ' || *q == '\t')) q++;
      if (strcmp(words[i], "dim") == 0 && q < end && *q == '=') continue;
      return 1;
    }
  }
  return 0;
}

/*!re2c
  re2c:define:YYCTYPE = "unsigned char";
  re2c:yyfill:enable = 0;
  re2c:indent:top = 1;

  digit = [0-9];
  ident = [A-Za-z_] [A-Za-z0-9_]* ("." [A-Za-z0-9_]+)*;
  exponent = [eE] [+-]? digit+;
  float = digit+ "." digit* exponent? | "." digit+ exponent? | digit+ exponent;
*/

int mlg_lexer_next(mlg_lexer *lx, mlg_token *out) {
  memset(out, 0, sizeof *out);
  if (lx->oom) return -1;
  lx->had_open = lx->depth > 0;
  if (lx->had_open) lx->had_open_at = lx->open_at[lx->depth - 1];
  if (lx->after_newline) lx->bad_in_statement = 0;
  for (;;) {
    const unsigned char *YYCURSOR = lx->cursor;
    const unsigned char *YYMARKER = YYCURSOR;
    const unsigned char *tok = YYCURSOR;
    int code;
    /*!re2c
      "\x00" {
        if (tok < lx->end) {
          bad_bytes(lx, tok, &YYCURSOR);
          lx->cursor = YYCURSOR;
          continue;
        }
        lx->cursor = tok;
        if (!lx->after_newline) {
          /* The statement terminator the last line did not have. */
          out->span.begin = out->span.end = lx->last_end;
          lx->after_newline = 1;
          return TK_NEWLINE;
        }
        out->span.begin = out->span.end = lx->last_end;
        return 0;
      }
      [ \t\r\v\f]+ { lx->cursor = YYCURSOR; continue; }
      "#" [^\n\x00]* { lx->cursor = YYCURSOR; continue; }
      "\n" | ";" {
        lx->cursor = YYCURSOR;
        if (lx->depth > 0 && *tok == '\n') {
          if (!next_line_starts_statement(YYCURSOR, lx->end)) continue;
          lx->depth = 0;
        }
        if (lx->after_newline) continue;
        return emit(lx, TK_NEWLINE, tok, YYCURSOR, out);
      }

      "model"  { code = TK_MODEL; goto simple; }
      "fn"     { code = TK_FN; goto simple; }
      "return" { code = TK_RETURN; goto simple; }
      "as"     { code = TK_AS; goto simple; }
      "dim"    { code = TK_DIM; goto simple; }
      "input"  { code = TK_INPUT; goto simple; }
      "param"  { code = TK_PARAM; goto simple; }
      "const"  { code = TK_CONST; goto simple; }
      "output" { code = TK_OUTPUT; goto simple; }
      "f32"    { code = TK_F32; goto simple; }
      "i32"    { code = TK_I32; goto simple; }
      "f16"    { code = TK_F16; goto simple; }
      "i8"     { code = TK_I8; goto simple; }
      "bool"   { code = TK_BOOL; goto simple; }
      "i64"    { code = TK_I64; goto simple; }
      "u8"     { code = TK_U8; goto simple; }
      "true"   { out->int_value = 1; code = TK_TRUE; goto simple; }
      "false"  { out->int_value = 0; code = TK_FALSE; goto simple; }

      ident {
        lx->cursor = YYCURSOR;
        if (copy_text(lx, tok, YYCURSOR, out) < 0) return -1;
        return emit(lx, TK_ID, tok, YYCURSOR, out);
      }
      digit+ {
        lx->cursor = YYCURSOR;
        parse_int(lx, tok, YYCURSOR, &out->int_value);
        return emit(lx, TK_INT, tok, YYCURSOR, out);
      }
      (digit+ ("." digit*)? | "." digit+) [eE] [+-]? {
        lx->cursor = YYCURSOR;
        mlg_diag_error(lx->diag, span_of(lx, tok, YYCURSOR),
                       "malformed number: the exponent has no digits (write e.g. 1e-5)");
        out->text = "0";
        return emit(lx, TK_FLOAT, tok, YYCURSOR, out);
      }
      float {
        lx->cursor = YYCURSOR;
        if (copy_text(lx, tok, YYCURSOR, out) < 0) return -1;
        errno = 0;
        out->float_value = strtod(out->text, NULL);
        if (errno == ERANGE && (out->float_value > 1.0 || out->float_value < -1.0)) {
          mlg_diag_error(lx->diag, span_of(lx, tok, YYCURSOR), "number out of range for a double");
          out->float_value = 0;
        }
        return emit(lx, TK_FLOAT, tok, YYCURSOR, out);
      }

      (digit+ | float) [A-Za-z_] [A-Za-z0-9_]* {
        lx->cursor = YYCURSOR;
        mlg_diag_error(lx->diag, span_of(lx, tok, YYCURSOR),
                       "malformed number: a letter right after the digits");
        return emit(lx, TK_INT, tok, YYCURSOR, out);
      }

      "(" { code = TK_LPAREN; goto open; }
      "[" { code = TK_LBRACKET; goto open; }
      ")" { code = TK_RPAREN; goto close; }
      "]" { code = TK_RBRACKET; goto close; }
      "{" { code = TK_LBRACE; lx->depth = 0; goto simple; }
      "}" { code = TK_RBRACE; lx->depth = 0; goto simple; }
      "," { code = TK_COMMA; goto simple; }
      ":" { code = TK_COLON; goto simple; }
      "=" { code = TK_EQ; goto simple; }
      "+" { code = TK_PLUS; goto simple; }
      "-" { code = TK_MINUS; goto simple; }
      "*" { code = TK_STAR; goto simple; }
      "/" { code = TK_SLASH; goto simple; }
      "@" { code = TK_AT; goto simple; }

      * {
        bad_bytes(lx, tok, &YYCURSOR);
        lx->cursor = YYCURSOR;
        continue;
      }
    */
  open:
    if (lx->depth >= MLG_MAX_NESTING) {
      mlg_diag_error(lx->diag, span_of(lx, tok, YYCURSOR),
                     "nesting too deep: more than %d levels of parentheses and brackets",
                     MLG_MAX_NESTING);
      return -1;
    }
    lx->open_at[lx->depth++] = span_of(lx, tok, YYCURSOR).begin;
    goto simple;
  close:
    if (lx->depth > 0) lx->depth--;
  simple:
    lx->cursor = YYCURSOR;
    return emit(lx, code, tok, YYCURSOR, out);
  }
}

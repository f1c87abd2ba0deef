/* diag.c — sources, line/column lookup, and compiler-style diagnostics with a caret line. */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/file_util.h"

enum {
  MAX_SOURCE_BYTES = 64 * 1024 * 1024,
  WINDOW = 160,        /* most bytes of one source line echoed under a message */
  WINDOW_BEFORE = 60,  /* of which before the span, when the line is longer than WINDOW */
};

/* ---- sources ---------------------------------------------------------------------------- */

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

int mlg_source_read(mlg_source *out_source, const char *path, char *err, size_t err_size) {
  memset(out_source, 0, sizeof *out_source);
  if (!path) {
    errno = EINVAL;
    return mlg_errorf(err, err_size, "no path given");
  }
  /* A regular file only (a FIFO would hang the read, /dev/zero never end), of at most 64 MiB
   * and within the host memory (file_util.h). Its messages start with "PATH: ". */
  uint8_t *data;
  size_t len;
  char why[1200];
  if (mlg_read_file_limit(path, MAX_SOURCE_BYTES, &data, &len, why, sizeof why) != 0) {
    int e = errno;
    size_t skip = strncmp(why, path, strlen(path)) == 0 && why[strlen(path)] == ':' ? strlen(path) + 2 : 0;
    mlg_errorf(err, err_size, "cannot read '%s': %s", path, why + (skip < strlen(why) ? skip : 0));
    errno = e;
    return -1;
  }
  char *buf = realloc(data, len + 1); /* room for the terminator */
  out_source->path = dup_string(path);
  if (!buf || !out_source->path) {
    free(buf ? buf : (char *)data);
    free(out_source->path);
    out_source->path = NULL;
    errno = ENOMEM;
    return mlg_errorf(err, err_size, "cannot read '%s': out of memory", path);
  }
  buf[len] = '\0';
  out_source->text = buf;
  out_source->length = len;
  return 0;
}

int mlg_source_load(mlg_source *out_source, const char *path) {
  return mlg_source_read(out_source, path, NULL, 0);
}

int mlg_source_from_memory(mlg_source *out_source, const char *name, const char *text, size_t length) {
  memset(out_source, 0, sizeof *out_source);
  if (length > MAX_SOURCE_BYTES) {
    errno = EFBIG;
    return -1;
  }
  if (!text && length > 0) {
    errno = EINVAL;
    return -1;
  }
  out_source->path = dup_string(name ? name : "<memory>");
  out_source->text = malloc(length + 1);
  if (!out_source->path || !out_source->text) {
    mlg_source_free(out_source);
    errno = ENOMEM;
    return -1;
  }
  if (length) memcpy(out_source->text, text, length);
  out_source->text[length] = '\0';
  out_source->length = length;
  return 0;
}

void mlg_source_free(mlg_source *source) {
  if (!source) return;
  free(source->path);
  free(source->text);
  source->path = NULL;
  source->text = NULL;
  source->length = 0;
}

void mlg_source_line_col(const mlg_source *source, uint32_t offset, int *out_line, int *out_col) {
  *out_line = 1;
  *out_col = 1;
  if (!source || !source->text) return;
  size_t end = offset < source->length ? offset : source->length;
  size_t line_start = 0;
  int line = 1;
  const char *p = source->text;
  const char *stop = source->text + end;
  while (p < stop) {
    const char *nl = memchr(p, '\n', (size_t)(stop - p));
    if (!nl) break;
    line++;
    line_start = (size_t)(nl - source->text) + 1;
    p = nl + 1;
  }
  *out_line = line;
  *out_col = (int)(end - line_start) + 1;
}

/* ---- reporting -------------------------------------------------------------------------- */

void mlg_diag_init(mlg_diag *diag, const mlg_source *source, FILE *out) {
  memset(diag, 0, sizeof *diag);
  diag->source = source;
  diag->out = out;
  diag->max_errors = 20;
}

int mlg_diag_full(const mlg_diag *diag) {
  return diag && diag->max_errors > 0 && diag->n_errors >= diag->max_errors;
}

/* Length in bytes of the display unit at p: a valid UTF-8 sequence (printed as is, one column)
 * or a single byte. *out_printable is 0 for control and invalid bytes, which print as '?'. */
static size_t glyph(const unsigned char *p, const unsigned char *end, int *out_printable) {
  unsigned char c = *p;
  *out_printable = (c >= 0x20 && c < 0x7f) || c == '\t';
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *out_printable = 0;
    return 1;
  }
  if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
    *out_printable = 0;
    return 1;
  }
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) {
      *out_printable = 0;
      return 1;
    }
  /* U+0080..U+009F are C1 control characters. */
  *out_printable = !(c == 0xC2 && p[1] < 0xA0);
  return n;
}

static int digits(int v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

/* The source line of `span`, clipped to a window around it, and a caret line under it. */
static void render_line(const mlg_diag *diag, mlg_span span, int line) {
  FILE *out = diag->out;
  const mlg_source *src = diag->source;
  const unsigned char *text = (const unsigned char *)src->text;
  size_t len = src->length;
  size_t b = span.begin < len ? span.begin : len;
  size_t e = span.end < len ? span.end : len;
  if (e < b) e = b;

  size_t ls = b;
  while (ls > 0 && text[ls - 1] != '\n') ls--;
  const unsigned char *nl = memchr(text + b, '\n', len - b);
  size_t le = nl ? (size_t)(nl - text) : len;
  if (le > ls && text[le - 1] == '\r') le--;
  if (b > le) b = le;
  if (e > le) e = le;

  size_t ws = ls, we = le;
  if (le - ls > WINDOW) {
    ws = b > ls + WINDOW_BEFORE ? b - WINDOW_BEFORE : ls;
    we = ws + WINDOW < le ? ws + WINDOW : le;
    if (we - ws < WINDOW) ws = we - WINDOW > ls ? we - WINDOW : ls;
  }
  const char *lead = ws > ls ? "..." : "";
  const char *trail = we < le ? "..." : "";
  int width = digits(line) > 5 ? digits(line) : 5;

  fprintf(out, "%*d | %s", width, line, lead);
  for (size_t i = ws; i < we;) {
    int printable;
    size_t n = glyph(text + i, text + we, &printable);
    if (printable) fwrite(text + i, 1, n, out);
    else fputc('?', out);
    i += n;
  }
  fprintf(out, "%s\n", trail);

  fprintf(out, "%*s | %s", width, "", *lead ? "   " : "");
  if (diag->color) fputs("\033[1;32m", out);
  size_t i = ws;
  while (i < we) {
    int printable;
    size_t n = glyph(text + i, text + we, &printable);
    if (i + n > b) break; /* this glyph holds the span's first byte */
    fputc(text[i] == '\t' ? '\t' : ' ', out);
    i += n;
  }
  fputc('^', out);
  if (i < we) {
    int printable;
    i += glyph(text + i, text + we, &printable);
  }
  while (i < we && i < e) {
    int printable;
    i += glyph(text + i, text + we, &printable);
    fputc('~', out);
  }
  if (diag->color) fputs("\033[0m", out);
  fputc('\n', out);
}

static void print_header(const mlg_diag *diag, mlg_diag_level level, mlg_span span, int *out_line) {
  FILE *out = diag->out;
  static const char *const names[] = {"error", "warning", "note"};
  static const char *const colors[] = {"\033[1;31m", "\033[1;35m", "\033[1;36m"};
  *out_line = 0;
  if (diag->color) fputs("\033[1m", out);
  if (diag->source) {
    fputs(diag->source->path ? diag->source->path : "<memory>", out);
    if (span.begin != 0 || span.end != 0) {
      int col;
      mlg_source_line_col(diag->source, span.begin, out_line, &col);
      fprintf(out, ":%d:%d", *out_line, col);
    }
    fputs(": ", out);
  }
  if (diag->color) fprintf(out, "%s%s:\033[0m ", colors[level], names[level]);
  else fprintf(out, "%s: ", names[level]);
}

void mlg_diag_vreport(mlg_diag *diag, mlg_diag_level level, mlg_span span, const char *fmt, va_list ap) {
  if (!diag || mlg_diag_full(diag)) return;
  if (level == MLG_DIAG_ERROR) diag->n_errors++;
  else if (level == MLG_DIAG_WARNING) diag->n_warnings++;
  if (!diag->out) return;

  char small[512];
  char *msg = small;
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  if (n >= (int)sizeof small) {
    char *big = malloc((size_t)n + 1);
    if (big) {
      vsnprintf(big, (size_t)n + 1, fmt, copy);
      msg = big;
    }
  }
  va_end(copy);
  if (n < 0) small[0] = '\0';

  int line;
  print_header(diag, level, span, &line);
  /* Names in a message can come from a weights file: shown safe for a terminal (file_util.h). */
  char safe_small[1024];
  size_t cap = strlen(msg) * 4 + 1;
  char *safe = cap <= sizeof safe_small ? safe_small : malloc(cap);
  if (!safe) {
    safe = safe_small;
    cap = sizeof safe_small;
  }
  fprintf(diag->out, "%s\n", mlg_sanitize(msg, 1, safe, cap));
  if (safe != safe_small) free(safe);
  if (msg != small) free(msg);
  if (line > 0 && diag->source->text) render_line(diag, span, line);

  if (level == MLG_DIAG_ERROR && mlg_diag_full(diag)) {
    mlg_span none = {0, 0};
    print_header(diag, MLG_DIAG_NOTE, none, &line);
    fputs("too many errors, stopping\n", diag->out);
  }
  fflush(diag->out);
}

void mlg_diag_error(mlg_diag *diag, mlg_span span, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(diag, MLG_DIAG_ERROR, span, fmt, ap);
  va_end(ap);
}

void mlg_diag_warning(mlg_diag *diag, mlg_span span, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(diag, MLG_DIAG_WARNING, span, fmt, ap);
  va_end(ap);
}

void mlg_diag_note(mlg_diag *diag, mlg_span span, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mlg_diag_vreport(diag, MLG_DIAG_NOTE, span, fmt, ap);
  va_end(ap);
}

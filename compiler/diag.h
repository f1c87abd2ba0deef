/* diag.h — source files and compiler diagnostics.
 *
 * A mlg_source holds one model's text; a mlg_span is a byte range in it. A mlg_diag collects
 * errors (and notes) for one compilation and prints them like a C compiler does:
 *
 *     models/x.mlg:12:17: error: matmul: inner dimensions differ (784 vs 785)
 *        12 |   y = x @ w
 *           |       ^~~~~
 *
 * Thread safety: thread-compatible (one compilation per mlg_diag). */
#ifndef MLG_DIAG_H
#define MLG_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "suggest.h"

typedef struct mlg_source {
  char *path;       /* as given by the user; "<memory>" when none */
  char *text;       /* NUL-terminated copy of the file (embedded NULs are kept as bytes) */
  size_t length;    /* bytes in text, without the terminating NUL */
} mlg_source;

/* Byte range [begin, end) into a mlg_source's text. {0, 0} means "no location". */
typedef struct mlg_span {
  uint32_t begin;
  uint32_t end;
} mlg_span;

typedef enum mlg_diag_level { MLG_DIAG_ERROR, MLG_DIAG_WARNING, MLG_DIAG_NOTE } mlg_diag_level;

typedef struct mlg_diag {
  const mlg_source *source; /* may be NULL (errors without a file, e.g. bad -D flags) */
  FILE *out;                /* where messages go as they are reported; NULL = keep silent */
  int n_errors;
  int n_warnings;
  int max_errors;           /* stop reporting after this many (default 20); 0 = no limit */
  int color;                /* nonzero: ANSI colors */
} mlg_diag;

/* Reads a whole regular file (anything else, such as a FIFO or /dev/zero, is refused before a
 * byte is read: errno = EINVAL). Returns 0 on success, -1 with errno set on failure and, in
 * err, "cannot read 'PATH': why". Rejects files over 64 MiB (errno = EFBIG) or larger than the
 * host memory the process may use (ENOMEM). mlg_source_load is mlg_source_read without err. */
int  mlg_source_read(mlg_source *out_source, const char *path, char *err, size_t err_size);
int  mlg_source_load(mlg_source *out_source, const char *path);
/* Makes a source from memory (copied). */
int  mlg_source_from_memory(mlg_source *out_source, const char *name, const char *text, size_t length);
void mlg_source_free(mlg_source *source);
/* 1-based line and column (in bytes) of a byte offset. */
void mlg_source_line_col(const mlg_source *source, uint32_t offset, int *out_line, int *out_col);

void mlg_diag_init(mlg_diag *diag, const mlg_source *source, FILE *out);
/* Reports at a span: "path:line:col: error: message", the source line, and a caret line. */
void mlg_diag_error(mlg_diag *diag, mlg_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mlg_diag_warning(mlg_diag *diag, mlg_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mlg_diag_note(mlg_diag *diag, mlg_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mlg_diag_vreport(mlg_diag *diag, mlg_diag_level level, mlg_span span, const char *fmt, va_list ap);
/* Nonzero once max_errors have been reported: callers stop trying to recover. */
int  mlg_diag_full(const mlg_diag *diag);

/* mlg_edit_distance and mlg_suggest_distance for "did you mean ..." hints: suggest.h. */

#endif

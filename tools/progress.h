/* progress.h — mlgrun's progress line on stderr for work that may take a while (building a
 * model's kernels, the GEMM tile search): "mlgrun: building kernels 12/23". Nothing is shown
 * until the work has taken about a second, so quick loads stay silent. On a terminal the line
 * is rewritten in place; elsewhere (only when asked for) a line is printed at most once a
 * second, and the last count always.
 * Thread safety: one progress_line per thread; progress_update is a callback for
 * mlg_load_options.progress and its kin, which call it on the loading thread. */
#ifndef MLG_TOOLS_PROGRESS_H
#define MLG_TOOLS_PROGRESS_H

#include <stdio.h>

typedef struct progress_line {
  FILE *out;                 /* NULL: disabled */
  int tty;                   /* rewrite the line with '\r' */
  const char *who;           /* "mlgrun" */
  const char *what;          /* "building kernels" */
  double start_ms, last_ms;  /* when the work began; when a line was last printed */
  int shown;                 /* a line is on the terminal, not yet ended with '\n' */
  int last_done;
} progress_line;

/* Starts a progress line for `what` on `out` (NULL: shows nothing); tty as isatty(out). */
void progress_begin(progress_line *p, FILE *out, int tty, const char *who, const char *what);
/* `done` of `total` are finished; user is the progress_line. */
void progress_update(void *user, int done, int total);
/* Ends the line (a newline after the last rewrite on a terminal). */
void progress_end(progress_line *p);

#endif

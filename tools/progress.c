/* progress.c — the progress line (progress.h). */
#include "progress.h"

#include "file_util.h"

#define QUIET_MS 1000.0

void progress_begin(progress_line *p, FILE *out, int tty, const char *who, const char *what) {
  *p = (progress_line){.out = out, .tty = tty, .who = who, .what = what, .start_ms = (mlg_monotonic_ns() / 1e6), .last_done = -1};
}

void progress_update(void *user, int done, int total) {
  progress_line *p = user;
  if (!p->out || done == p->last_done) return;
  double t = (mlg_monotonic_ns() / 1e6);
  if (t - p->start_ms < QUIET_MS) return;
  /* Off a terminal, one line a second at most, and the last. */
  if (!p->tty && done < total && p->last_ms > 0 && t - p->last_ms < 1000.0) return;
  fprintf(p->out, "%s%s: %s %d/%d%s", p->tty ? "\r" : "", p->who, p->what, done, total, p->tty ? "" : "\n");
  fflush(p->out);
  p->shown = p->tty;
  p->last_ms = t;
  p->last_done = done;
}

void progress_end(progress_line *p) {
  if (p->out && p->shown) fputc('\n', p->out);
  p->shown = 0;
}

/* progress.c — the progress line (progress.h). */
#include "progress.h"

#include <time.h>

#define QUIET_MS 1000.0

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void progress_begin(progress_line *p, FILE *out, int tty, const char *who, const char *what) {
  *p = (progress_line){.out = out, .tty = tty, .who = who, .what = what, .start_ms = now_ms(), .last_done = -1};
}

void progress_update(void *user, int done, int total) {
  progress_line *p = user;
  if (!p->out || done == p->last_done) return;
  double t = now_ms();
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

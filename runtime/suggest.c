/* suggest.c — edit distances for "did you mean" hints (suggest.h). */
#include "suggest.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mlg_edit_distance(const char *a, const char *b, int cap) {
  if (cap < 0) cap = 0;
  if (!a || !b) return cap + 1;
  size_t la = strlen(a), lb = strlen(b);
  size_t diff = la > lb ? la - lb : lb - la;
  if (diff > (size_t)cap) return cap + 1;
  if (lb > 4096) return cap + 1; /* names are short; don't allocate for pathological input */
  int *prev = malloc((lb + 1) * sizeof *prev);
  int *cur = malloc((lb + 1) * sizeof *cur);
  if (!prev || !cur) {
    free(prev);
    free(cur);
    return cap + 1;
  }
  for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
  int result = -1;
  for (size_t i = 1; i <= la && result < 0; i++) {
    cur[0] = (int)i;
    int row_min = cur[0];
    for (size_t j = 1; j <= lb; j++) {
      int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      int v = sub < del ? sub : del;
      cur[j] = v < ins ? v : ins;
      if (cur[j] < row_min) row_min = cur[j];
    }
    if (row_min > cap) result = cap + 1;
    int *t = prev;
    prev = cur;
    cur = t;
  }
  if (result < 0) result = prev[lb] > cap ? cap + 1 : prev[lb];
  free(prev);
  free(cur);
  return result;
}

int mlg_suggest_distance(const char *typed, const char *candidate) {
  if (!typed || !candidate) return -1;
  /* Only the case differs ("n" for the dim "N"): as close as one edit, whatever the length. */
  if (strcasecmp(typed, candidate) == 0 && strcmp(typed, candidate) != 0) return 1;
  size_t lt = strlen(typed), lc = strlen(candidate);
  int d = mlg_edit_distance(typed, candidate, 2);
  if (d > 2) return -1;
  if (lt <= 2) {
    size_t longer = lt > lc ? lt : lc;
    if (d != 1 || (size_t)d >= longer) return -1;
  }
  return d;
}

/* suggest.h — "did you mean": which known name an unknown one was probably meant to be. Shared
 * by the compiler (names, ops, attributes, dims, weights) and the runtime (weights bound at
 * load), so both suggest alike. Thread safety: reentrant. */
#ifndef MLG_SUGGEST_H
#define MLG_SUGGEST_H

/* Levenshtein distance, capped: returns cap+1 when larger. */
int mlg_edit_distance(const char *a, const char *b, int cap);
/* Whether `candidate` is close enough to the unknown name `typed` to suggest it: its edit
 * distance (at most 2), or -1. A name of one or two characters needs a single edit that keeps
 * a character in common ("hh" -> "h", "w1" -> "w2"; not "g" -> "x", which is any other letter).
 * Names that differ only in case are 1 apart ("n" -> "N"). */
int mlg_suggest_distance(const char *typed, const char *candidate);

#endif

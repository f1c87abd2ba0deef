/* tools/gpu/ptx_text.h — text replacement for the probes of tools/gpu/ (sm90a_probe.c,
 * wgmma_probe.c), which rewrite a program's PTX themselves (mlg's runtime does it in
 * runtime/opencl/opencl_ptx.c). */
#ifndef MLG_TOOLS_PTX_TEXT_H
#define MLG_TOOLS_PTX_TEXT_H
#include <stdlib.h>
#include <string.h>

/* s with every `a` replaced by `b` (malloc'd), or NULL. */
static char *replace_all(const char *s, const char *a, const char *b) {
  size_t n = strlen(s) + 1, la = strlen(a), lb = strlen(b);
  for (const char *at = s; (at = strstr(at, a)); at += la) n += lb;
  char *o = malloc(n), *w = o;
  if (!o) return NULL;
  for (const char *at; (at = strstr(s, a)); s = at + la) {
    memcpy(w, s, (size_t)(at - s));
    w += at - s;
    memcpy(w, b, lb);
    w += lb;
  }
  strcpy(w, s);
  return o;
}

#endif

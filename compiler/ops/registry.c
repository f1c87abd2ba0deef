/* registry.c — the table of ops built from op_list.h, and lookups by name. */
#include <string.h>

#include "op_defs.h"

static const mlg_op_def *const registry[] = {
#define MLG_OP(sym) &mlg_op_##sym,
#include "op_list.h"
#undef MLG_OP
};

enum { N_OPS = (int)(sizeof registry / sizeof registry[0]) };

int mlg_op_count(void) { return N_OPS; }

const mlg_op_def *mlg_op_at(int i) { return i >= 0 && i < N_OPS ? registry[i] : NULL; }

const mlg_op_def *mlg_op_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_OPS; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

const char *mlg_op_suggest(const char *name) {
  if (!name || strlen(name) > 64) return NULL;
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; i < N_OPS; i++) {
    int d = mlg_suggest_distance(name, registry[i]->name);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = registry[i]->name;
    }
  }
  return best;
}

const char *mlg_op_foreign(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_OPS; i++)
    for (const mlg_op_spelling *f = registry[i]->foreign; f && f->name; f++)
      if (strcmp(f->name, name) == 0) return f->mlg;
  return NULL;
}

int mlg_op_attr_index(const mlg_op_def *def, const char *name) {
  if (!def || !name) return -1;
  for (int i = 0; i < def->n_attrs; i++)
    if (strcmp(def->attrs[i].name, name) == 0) return i;
  return -1;
}

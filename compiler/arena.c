#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mlg_arena_block {
  mlg_arena_block *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
};

enum { ARENA_BLOCK_MIN = 64 * 1024 };

void mlg_arena_init(mlg_arena *arena) { arena->head = NULL; arena->used_bytes = 0; }

void mlg_arena_free(mlg_arena *arena) {
  mlg_arena_block *b = arena->head;
  while (b) {
    mlg_arena_block *next = b->next;
    free(b);
    b = next;
  }
  arena->head = NULL;
  arena->used_bytes = 0;
}

void *mlg_arena_alloc(mlg_arena *arena, size_t size) {
  if (size > SIZE_MAX / 2) return NULL;
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  mlg_arena_block *b = arena->head;
  if (!b || b->size - b->used < size) {
    size_t cap = size > ARENA_BLOCK_MIN ? size : ARENA_BLOCK_MIN;
    b = malloc(sizeof(*b) + cap);
    if (!b) return NULL;
    b->size = cap;
    b->used = 0;
    b->next = arena->head;
    arena->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  arena->used_bytes += size;
  memset(p, 0, size);
  return p;
}

void *mlg_arena_calloc(mlg_arena *arena, size_t n, size_t size) {
  if (size && n > SIZE_MAX / 4 / size) return NULL;
  return mlg_arena_alloc(arena, n * size);
}

char *mlg_arena_strndup(mlg_arena *arena, const char *s, size_t n) {
  char *p = mlg_arena_alloc(arena, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *mlg_arena_strdup(mlg_arena *arena, const char *s) { return mlg_arena_strndup(arena, s, strlen(s)); }

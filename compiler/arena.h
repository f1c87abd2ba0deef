/* arena.h — bump allocator for structures that live and die together (an AST, a graph).
 * Allocation failure returns NULL; every allocation is zero-filled and 16-byte aligned.
 * Thread safety: thread-compatible. */
#ifndef MLG_ARENA_H
#define MLG_ARENA_H

#include <stddef.h>

typedef struct mlg_arena_block mlg_arena_block;
typedef struct mlg_arena {
  mlg_arena_block *head;
  size_t used_bytes; /* total handed out, for statistics */
} mlg_arena;

void  mlg_arena_init(mlg_arena *arena);
void  mlg_arena_free(mlg_arena *arena);
void *mlg_arena_alloc(mlg_arena *arena, size_t size);
/* n * size with overflow check; NULL on overflow. */
void *mlg_arena_calloc(mlg_arena *arena, size_t n, size_t size);
char *mlg_arena_strdup(mlg_arena *arena, const char *s);
char *mlg_arena_strndup(mlg_arena *arena, const char *s, size_t n);

#endif

/* hooks.h — the callbacks through which a compute template's kernel absorbs fused work
 * (compiler/fuse.h): a prologue that replaces the load of the main input by any expression, and
 * an epilogue that turns each computed output value into the value stored.
 *
 * Callbacks run while the kernel is being built, inside whatever loop or guard the template has
 * open, and may be called several times per kernel (once per load site or per stored element of
 * a register block). They may declare variables (kir_decl in the current block) and buffer
 * parameters (kir_buffer_param): every template declares all of its own buffers before the
 * first callback runs, so buffers a callback declares come after the template's own, in the
 * order the callbacks declared them. A callback returns NULL on failure (the builder is then
 * poisoned or the template reports -1).
 * Thread safety: reentrant. */
#ifndef MLG_KT_HOOKS_H
#define MLG_KT_HOOKS_H

#include "../kir.h"

/* Where an output element lies. `lin` is its index in the op's output as a contiguous C-order
 * tensor (I32). Matmul also gives its batch index (C-order over the batch dims), row and column;
 * other templates leave them NULL. The expressions may be used more than once. */
typedef struct kt_out_pos {
  kir_expr *lin;
  kir_expr *batch, *row, *col;
} kt_out_pos;

typedef kir_expr *(*kt_epilogue_fn)(kir_builder *b, kir_expr *value, const kt_out_pos *at,
                                    void *user);
/* The value of input element `index` (contiguous C-order index into the op's input). */
typedef kir_expr *(*kt_load_fn)(kir_builder *b, kir_expr *index, void *user);

typedef struct kt_epilogue {
  kt_epilogue_fn fn;   /* NULL: store the value as computed */
  void *user;
  /* Called (when not NULL) before the template builds a second kernel through fn: a kernel
   * variant's fallback (kir_kernel_set_fallback). The buffers fn declared belong to the first
   * kernel's builder; fn declares them again, in the same order, in the next one. */
  void (*restart)(void *user);
  /* 1: fn also takes a vector `value` (and returns one of its width): the outputs at lin,
   * lin + 1, ..., consecutive elements inside one plane of the output's last two dims. */
  int plane_vectors;
} kt_epilogue;

typedef struct kt_prologue {
  kt_load_fn fn;       /* NULL: the template declares its input buffer and loads it */
  void *user;
} kt_prologue;

#endif

/* file_util.h — small file helpers the format readers and the program/pipeline caches share:
 * whole-file reads, atomic writes (temporary file + rename), mkdir -p, FNV-1a hashing, and the
 * error-message setter. Thread safety: reentrant. */
#ifndef MLG_FILE_UTIL_H
#define MLG_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Formats a message into err (when err_size > 0) and returns -1, for `return mlg_errorf(...)`. */
int      mlg_errorf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads a whole file into a malloc'd buffer (non-NULL even when empty). 0, or -1 with a
 * message naming the path. */
int      mlg_read_file(const char *path, uint8_t **out_data, size_t *out_size, char *err,
                       size_t err_size);
/* mkdir -p; folders that exist are fine. 0, or -1 with errno set (ENOTDIR when `dir` exists
 * but is not a folder). */
int      mlg_make_dirs(const char *dir);
/* Writes head then body to a temporary file beside `path` (unique per process and call) and
 * renames it over `path`, so readers only ever see whole files. 0 or -1 (nothing left behind). */
int      mlg_write_file_atomic(const char *path, const void *head, size_t head_size,
                               const void *body, size_t body_size);
/* The cache folder for `option` (mlg_runtime_options.cache_dir): option itself when non-NULL,
 * else $MLG_CACHE_DIR, else $XDG_CACHE_HOME/mlg, else $HOME/.cache/mlg. Returns 1 with the
 * folder in buf, or 0 when there is none ("" disables the cache; no home; too long). */
int      mlg_cache_dir_resolve(const char *option, char *buf, size_t size);
/* FNV-1a 64 of n bytes, continuing from hash h (start with MLG_FNV_SEED). */
#define MLG_FNV_SEED 0xcbf29ce484222325ull
uint64_t mlg_fnv1a(uint64_t h, const void *data, size_t n);

#endif

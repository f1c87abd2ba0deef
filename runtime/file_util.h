/* file_util.h — small file helpers the format readers, the program/pipeline caches and the tools
 * share: bounded reads of regular files, atomic durable writes (temporary file, fsync, rename),
 * mkdir -p, FNV-1a hashing, text made safe for a terminal, byte sizes with K/M/G suffixes, the
 * monotonic clock, and the error-message setter. Thread safety: reentrant. */
#ifndef MLG_FILE_UTIL_H
#define MLG_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* What mlg_read_file takes at most: bundles, .npy and .safetensors files (a bundle's regions
 * are addressed with 32-bit element offsets, so no valid one comes near it). Smaller readers
 * state their own limit (the GEMM tuning table: MLG_READ_LIMIT_TEXT). */
#define MLG_READ_LIMIT ((uint64_t)64 << 30)
#define MLG_READ_LIMIT_TEXT ((uint64_t)1 << 20)

/* Formats a message into err (when err_size > 0) and returns -1, for `return mlg_errorf(...)`. */
int      mlg_errorf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads a whole regular file into a malloc'd buffer (non-NULL even when empty). Anything but a
 * regular file (a FIFO, /dev/zero, a folder) is refused before a byte is read, and so is a file
 * larger than `max_size` or than the host memory the process may still use (host_memory.h).
 * 0, or -1 with a message naming the path and errno set: ENOMEM for memory, EFBIG over the
 * limit, EINVAL for no regular file, else open's or read's. mlg_read_file is
 * mlg_read_file_limit with MLG_READ_LIMIT. */
int      mlg_read_file(const char *path, uint8_t **out_data, size_t *out_size, char *err,
                       size_t err_size);
int      mlg_read_file_limit(const char *path, uint64_t max_size, uint8_t **out_data,
                             size_t *out_size, char *err, size_t err_size);
/* Opens `path` for reading only if it is a regular file, without blocking on a FIFO and, with
 * `no_follow`, without following a symbolic link. Returns the descriptor (close-on-exec), or -1
 * with errno set and, for a file that exists but is no regular file, `*out_kind` naming what it
 * is ("a FIFO", "a character device", ...; NULL otherwise). *out_size gets the file's size. */
int      mlg_open_regular(const char *path, int no_follow, uint64_t *out_size, const char **out_kind);
/* mkdir -p; folders that exist are fine. 0, or -1 with errno set (ENOTDIR when `dir` exists
 * but is not a folder). */
int      mlg_make_dirs(const char *dir);
/* Writes the parts, one after another, to a temporary file beside `path` (unique per process
 * and call), flushes it to the disk (fsync), renames it over `path` and flushes the folder, so
 * readers only ever see whole files and a crash or a full disk leaves the old file or none,
 * never a part of one. 0, or -1 with errno set (nothing left behind). */
typedef struct mlg_file_part {
  const void *data;
  size_t size;
} mlg_file_part;
int      mlg_write_parts_atomic(const char *path, const mlg_file_part *parts, int n_parts);
/* mlg_write_parts_atomic of two parts. */
int      mlg_write_file_atomic(const char *path, const void *head, size_t head_size,
                               const void *body, size_t body_size);
/* The cache folder for `option` (mlg_runtime_options.cache_dir): option itself when non-NULL,
 * else $MLG_CACHE_DIR, else $XDG_CACHE_HOME/mlg, else $HOME/.cache/mlg. Returns 1 with the
 * folder in buf, or 0 when there is none ("" disables the cache; no home; too long). */
int      mlg_cache_dir_resolve(const char *option, char *buf, size_t size);
/* FNV-1a 64 of n bytes, continuing from hash h (start with MLG_FNV_SEED). */
#define MLG_FNV_SEED 0xcbf29ce484222325ull
uint64_t mlg_fnv1a(uint64_t h, const void *data, size_t n);
/* Copies text into out (always terminated) so that a terminal shows it as it is: control
 * characters (C0 but newline and tab when `keep_lines`, DEL, C1) and bytes that are no valid
 * UTF-8 become \xHH escapes; text that does not fit ends in "...". Returns out. */
char    *mlg_sanitize(const char *text, int keep_lines, char *out, size_t size);
/* "4096", "64K", "512M", "4G" (powers of 1024; an optional trailing 'B' or 'iB') into bytes.
 * 0, or -1 for anything else, 0 bytes, or more than 2^62. */
int      mlg_parse_bytes(const char *text, uint64_t *out_bytes);
/* "3.5 GiB", "12.0 MiB", "640 bytes" into buf; returns buf. */
const char *mlg_format_bytes(uint64_t bytes, char *buf, size_t size);
/* CLOCK_MONOTONIC in nanoseconds: for timing, warm-ups and polling deadlines. */
uint64_t mlg_monotonic_ns(void);

#endif

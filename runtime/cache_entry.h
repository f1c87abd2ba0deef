/* cache_entry.h — what the two disk caches (OpenCL program binaries, opencl/opencl_cache.c;
 * Vulkan pipeline caches, vulkan/vulkan_pipeline_cache.c) do with an entry file apart from its
 * format, so that a bad entry heals instead of failing every later load:
 *
 *   read      only a regular file (a FIFO, a device or a link in its place is a miss, with one
 *             warning), within a size limit; a hit refreshes its time, for the eviction below;
 *   mark      while the driver loads an entry (or builds what it will hold), a mark file beside
 *             it ("<entry>.inuse") is held (flock). A load that crashes the process leaves the
 *             mark unheld: the next load finds it so, removes the entry (one warning) and builds
 *             from source. An entry the driver refuses is removed at once (discard);
 *   write     atomic and durable (file_util.h: temporary file, fsync, rename);
 *   trim      the folder's entries are kept under a size limit ($MLG_CACHE_MAX_BYTES, default
 *             1 GiB), the least recently used removed first.
 *
 * Thread safety: reentrant; several threads and processes may use one folder at once. */
#ifndef MLG_CACHE_ENTRY_H
#define MLG_CACHE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#define MLG_CACHE_DEFAULT_LIMIT ((uint64_t)1 << 30)

typedef struct mlg_cache_mark {
  int fd;                    /* the held mark; -1 when none could be made (read-only folder) */
  char path[4200];
} mlg_cache_mark;

/* Reads entry `path` into a malloc'd buffer. 0 on a hit; -1 on a miss: no file, one that is not
 * a regular file (warned about), one larger than max_size, a read error. */
int      mlg_cache_read(const char *path, uint64_t max_size, uint8_t **out_data, size_t *out_size);
/* Marks entry `path` in use before the driver loads it (or builds what it caches). 0: the
 * mark is held; 1: an earlier load of the entry never finished — the entry has been removed
 * (warned about) and the mark is held anew, so build from source, and where a driver keeps a
 * cache of its own, in a way that does not meet it. Either way call mlg_cache_mark_end after. */
int      mlg_cache_mark_begin(const char *path, mlg_cache_mark *out_mark);
/* Releases the mark, removing it unless another load still holds it. */
void     mlg_cache_mark_end(mlg_cache_mark *mark);
/* Removes entry `path`: the driver refused it. */
void     mlg_cache_discard(const char *path);
/* $MLG_CACHE_MAX_BYTES (bytes, with an optional K/M/G suffix), else MLG_CACHE_DEFAULT_LIMIT. */
uint64_t mlg_cache_limit(void);
/* Removes the least recently used entries (opencl-*.bin, vulkan-*.bin) of `dir` until they take
 * at most `limit` bytes, and temporary files that writers left more than an hour ago. */
void     mlg_cache_trim(const char *dir, uint64_t limit);

#endif

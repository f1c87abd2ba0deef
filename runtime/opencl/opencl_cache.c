/* opencl_cache.c — the program-binary disk cache. One file per (source, options, device,
 * driver, mlg version):
 *
 *   "MLGCLBIN" | u32 format version | u32 0 | u64 check hash | u64 binary size | u64 binary hash
 *   | binary bytes
 *
 * all little-endian as the host writes them (a cache never travels between machines). Anything
 * that does not match exactly is a miss; the caller rebuilds and overwrites the entry. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "file_util.h"
#include "opencl_internal.h"

#define CACHE_MAGIC "MLGCLBIN"
#define CACHE_FORMAT 1u
#define HEADER_SIZE 40
/* A program binary larger than this is not cached (and a file claiming one is corrupt). */
#define MAX_BINARY ((uint64_t)1 << 30)

/* Hashes a field with its length first, so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t field(uint64_t h, const void *data, size_t size) {
  uint64_t n = size;
  h = mlg_fnv1a(h, &n, sizeof n);
  return mlg_fnv1a(h, data, size);
}

static uint64_t key_hash(uint64_t seed, const mlg_backend_device *dev, const void *source, size_t source_size,
                         const char *options) {
  uint64_t h = seed;
  h = field(h, source, source_size);
  h = field(h, options, strlen(options));
  h = field(h, dev->name, strlen(dev->name));
  h = field(h, dev->platform_version, strlen(dev->platform_version));
  h = field(h, dev->driver_version, strlen(dev->driver_version));
  h = field(h, MLG_VERSION_STRING, strlen(MLG_VERSION_STRING));
  return h;
}

mlg_cl_cache_key mlg_cl_cache_key_make(const mlg_backend_device *dev, const void *source, size_t source_size,
                                       const char *options) {
  /* Two independent seeds: one names the file, the other must match inside it. */
  mlg_cl_cache_key k;
  k.file_hash = key_hash(MLG_FNV_SEED, dev, source, source_size, options);
  k.check_hash = key_hash(0x84222325cbf29ce4ull, dev, source, source_size, options);
  return k;
}

void mlg_cl_cache_path(const char *dir, mlg_cl_cache_key key, char *buf, size_t size) {
  snprintf(buf, size, "%s/opencl-%016" PRIx64 ".bin", dir, key.file_hash);
}

int mlg_cl_cache_load(const char *dir, mlg_cl_cache_key key, uint8_t **out_binary, size_t *out_size) {
  *out_binary = NULL;
  *out_size = 0;
  char path[4096];
  mlg_cl_cache_path(dir, key, path, sizeof path);
  uint8_t *file;
  size_t n;
  if (mlg_cache_read(path, HEADER_SIZE + MAX_BINARY, &file, &n) != 0) return -1;
  uint32_t format = 0;
  uint64_t check = 0, size = 0, hash = 0;
  int ok = n >= HEADER_SIZE && memcmp(file, CACHE_MAGIC, 8) == 0;
  if (ok) {
    memcpy(&format, file + 8, 4);
    memcpy(&check, file + 16, 8);
    memcpy(&size, file + 24, 8);
    memcpy(&hash, file + 32, 8);
    ok = format == CACHE_FORMAT && check == key.check_hash && size > 0 && size == n - HEADER_SIZE &&
         mlg_fnv1a(MLG_FNV_SEED, file + HEADER_SIZE, (size_t)size) == hash;
  }
  if (!ok) {
    free(file);
    return -1;
  }
  memmove(file, file + HEADER_SIZE, (size_t)size);
  *out_binary = file;
  *out_size = (size_t)size;
  return 0;
}

int mlg_cl_cache_store(const char *dir, mlg_cl_cache_key key, const uint8_t *binary, size_t size) {
  if (!binary || size == 0 || size > MAX_BINARY) return -1;
  if (mlg_make_dirs(dir) != 0) return -1;
  char path[4096];
  mlg_cl_cache_path(dir, key, path, sizeof path);

  uint8_t header[HEADER_SIZE] = {0};
  uint32_t format = CACHE_FORMAT;
  uint64_t size64 = size, hash = mlg_fnv1a(MLG_FNV_SEED, binary, size);
  memcpy(header, CACHE_MAGIC, 8);
  memcpy(header + 8, &format, 4);
  memcpy(header + 16, &key.check_hash, 8);
  memcpy(header + 24, &size64, 8);
  memcpy(header + 32, &hash, 8);

  return mlg_write_file_atomic(path, header, sizeof header, binary, size);
}

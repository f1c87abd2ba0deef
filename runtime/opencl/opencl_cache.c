/* opencl_cache.c — the program-binary disk cache. One file per (source, options, device,
 * driver, mlg version):
 *
 *   "MLGCLBIN" | u32 format version | u32 0 | u64 check hash | u64 binary size | u64 binary hash
 *   | binary bytes
 *
 * all little-endian as the host writes them (a cache never travels between machines). Anything
 * that does not match exactly is a miss; the caller rebuilds and overwrites the entry. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opencl_internal.h"

#define CACHE_MAGIC "MLGCLBIN"
#define CACHE_FORMAT 1u
#define HEADER_SIZE 40
/* A program binary larger than this is not cached (and a file claiming one is corrupt). */
#define MAX_BINARY ((uint64_t)1 << 30)

/* FNV-1a, 64 bit, continued from `h`. */
static uint64_t fnv(uint64_t h, const void *data, size_t size) {
  const uint8_t *p = data;
  for (size_t i = 0; i < size; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* Hashes a field with its length first, so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t field(uint64_t h, const void *data, size_t size) {
  uint64_t n = size;
  h = fnv(h, &n, sizeof n);
  return fnv(h, data, size);
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
  k.file_hash = key_hash(0xcbf29ce484222325ull, dev, source, source_size, options);
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
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint8_t header[HEADER_SIZE];
  uint8_t *binary = NULL;
  int ok = fread(header, 1, sizeof header, f) == sizeof header && memcmp(header, CACHE_MAGIC, 8) == 0;
  uint32_t format = 0;
  uint64_t check = 0, size = 0, hash = 0;
  if (ok) {
    memcpy(&format, header + 8, 4);
    memcpy(&check, header + 16, 8);
    memcpy(&size, header + 24, 8);
    memcpy(&hash, header + 32, 8);
    ok = format == CACHE_FORMAT && check == key.check_hash && size > 0 && size <= MAX_BINARY;
  }
  if (ok) {
    binary = malloc((size_t)size);
    ok = binary && fread(binary, 1, (size_t)size, f) == size && fgetc(f) == EOF &&
         fnv(0xcbf29ce484222325ull, binary, (size_t)size) == hash;
  }
  fclose(f);
  if (!ok) {
    free(binary);
    return -1;
  }
  *out_binary = binary;
  *out_size = (size_t)size;
  return 0;
}

/* mkdir -p; existing folders are fine. */
static int make_dirs(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

int mlg_cl_cache_store(const char *dir, mlg_cl_cache_key key, const uint8_t *binary, size_t size) {
  if (!binary || size == 0 || size > MAX_BINARY) return -1;
  if (make_dirs(dir) != 0) return -1;
  char path[4096], tmp[4200];
  mlg_cl_cache_path(dir, key, path, sizeof path);
  /* Unique per process and per call, so concurrent writers never share a temporary file; the
   * rename makes whichever finishes last the entry, and readers only ever see whole files. */
  static _Atomic unsigned counter;
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);

  uint8_t header[HEADER_SIZE] = {0};
  uint32_t format = CACHE_FORMAT;
  uint64_t size64 = size, hash = fnv(0xcbf29ce484222325ull, binary, size);
  memcpy(header, CACHE_MAGIC, 8);
  memcpy(header + 8, &format, 4);
  memcpy(header + 16, &key.check_hash, 8);
  memcpy(header + 24, &size64, 8);
  memcpy(header + 32, &hash, 8);

  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  int ok = fwrite(header, 1, sizeof header, f) == sizeof header && fwrite(binary, 1, size, f) == size;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mlg_errorf(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int mlg_cache_dir_resolve(const char *option, char *buf, size_t size) {
  const char *dir = option, *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n = -1;
  if (!dir) dir = getenv("MLG_CACHE_DIR");
  if (dir) n = snprintf(buf, size, "%s", dir);
  else if (xdg && *xdg) n = snprintf(buf, size, "%s/mlg", xdg);
  else if (home && *home) n = snprintf(buf, size, "%s/.cache/mlg", home);
  return n > 0 && (size_t)n < size;
}

int mlg_read_file(const char *path, uint8_t **out, size_t *out_n, char *err, size_t es) {
  *out = NULL;
  *out_n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return mlg_errorf(err, es, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return mlg_errorf(err, es, "%s: out of memory", path);
  }
  for (;;) {
    if (n == cap) {
      uint8_t *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
      if (!grown) {
        free(buf);
        fclose(f);
        return mlg_errorf(err, es, "%s: file too large for memory", path);
      }
      buf = grown;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return mlg_errorf(err, es, "%s: read error", path);
  }
  *out = buf;
  *out_n = n;
  return 0;
}

int mlg_make_dirs(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR; /* it exists, but is not a folder */
    return -1;
  }
  return 0;
}

int mlg_write_file_atomic(const char *path, const void *head, size_t head_size, const void *body,
                          size_t body_size) {
  static _Atomic unsigned counter;
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++) >= (int)sizeof tmp)
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  int ok = fwrite(head, 1, head_size, f) == head_size && fwrite(body, 1, body_size, f) == body_size;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

uint64_t mlg_fnv1a(uint64_t h, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

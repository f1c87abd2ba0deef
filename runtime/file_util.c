#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_memory.h"

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

static const char *file_kind(mode_t mode) {
  return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
         : S_ISDIR(mode) ? "a folder" : S_ISSOCK(mode) ? "a socket" : S_ISLNK(mode) ? "a symbolic link"
         : "not a regular file";
}

int mlg_open_regular(const char *path, int no_follow, uint64_t *out_size, const char **out_kind) {
  *out_size = 0;
  *out_kind = NULL;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (no_follow ? O_NOFOLLOW : 0));
  if (fd < 0) {
    struct stat st;
    if (errno == ELOOP && no_follow && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) *out_kind = "a symbolic link";
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *out_kind = file_kind(st.st_mode);
    close(fd);
    errno = EINVAL;
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  *out_size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  return fd;
}

int mlg_read_file(const char *path, uint8_t **out, size_t *out_n, char *err, size_t es) {
  return mlg_read_file_limit(path, MLG_READ_LIMIT, out, out_n, err, es);
}

int mlg_read_file_limit(const char *path, uint64_t max_size, uint8_t **out, size_t *out_n, char *err, size_t es) {
  *out = NULL;
  *out_n = 0;
  uint64_t size;
  const char *kind;
  int fd = mlg_open_regular(path, 0, &size, &kind);
  if (fd < 0 && kind) {
    mlg_errorf(err, es, "%s: is %s, not a regular file; give the path of a file", path, kind);
    errno = EINVAL;
    return -1;
  }
  if (fd < 0) {
    int e = errno;
    mlg_errorf(err, es, "%s: cannot open: %s", path, strerror(e));
    errno = e;
    return -1;
  }
  char a[32], b[32], why[256];
  if (size > max_size) {
    close(fd);
    mlg_errorf(err, es, "%s: the file has %s, more than the %s this reader takes", path,
               mlg_format_bytes(size, a, sizeof a), mlg_format_bytes(max_size, b, sizeof b));
    errno = EFBIG;
    return -1;
  }
  mlg_host_memory mem;
  mlg_host_memory_query(&mem);
  if (size > mem.budget) {
    close(fd);
    mlg_errorf(err, es, "%s: reading the file needs %s of memory, but %s", path,
               mlg_format_bytes(size, a, sizeof a), mlg_host_memory_describe(&mem, why, sizeof why));
    errno = ENOMEM;
    return -1;
  }
  uint8_t *buf = malloc(size ? (size_t)size : 1);
  if (!buf) {
    close(fd);
    mlg_errorf(err, es, "%s: out of memory for %s", path, mlg_format_bytes(size, a, sizeof a));
    errno = ENOMEM;
    return -1;
  }
  /* Read what fstat promised, then make sure nothing follows (a file that grows meanwhile). */
  size_t n = 0;
  for (;;) {
    uint8_t extra;
    uint8_t *at = n < size ? buf + n : &extra;
    size_t want = n < size ? (size_t)size - n : 1;
    ssize_t got = read(fd, at, want);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      free(buf);
      close(fd);
      mlg_errorf(err, es, "%s: read error: %s", path, strerror(e));
      errno = e;
      return -1;
    }
    if (got == 0) break;
    if (n >= size) {
      free(buf);
      close(fd);
      mlg_errorf(err, es, "%s: the file grew while it was read; read it again when it is complete", path);
      errno = EIO;
      return -1;
    }
    n += (size_t)got;
  }
  close(fd);
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

static int write_all(int fd, const void *data, size_t size) {
  const uint8_t *p = data;
  while (size > 0) {
    ssize_t w = write(fd, p, size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      return -1;
    }
    p += w;
    size -= (size_t)w;
  }
  return 0;
}

/* Flushes the folder holding `path`, so that a rename into it survives a crash. */
static void sync_parent(const char *path) {
  char copy[4096];
  if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) return;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

int mlg_write_parts_atomic(const char *path, const mlg_file_part *parts, int n_parts) {
  static _Atomic unsigned counter;
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int rc = 0;
  for (int i = 0; i < n_parts && rc == 0; i++) rc = write_all(fd, parts[i].data, parts[i].size);
  if (rc == 0) rc = fsync(fd);
  int e = errno;
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    e = errno;
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    rc = -1;
    e = errno;
  }
  if (rc != 0) {
    unlink(tmp);
    errno = e;
    return -1;
  }
  sync_parent(path);
  return 0;
}

int mlg_write_file_atomic(const char *path, const void *head, size_t head_size, const void *body,
                          size_t body_size) {
  mlg_file_part parts[2] = {{head, head_size}, {body, body_size}};
  return mlg_write_parts_atomic(path, parts, 2);
}

uint64_t mlg_fnv1a(uint64_t h, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* Length of the valid UTF-8 sequence at s, or 0; C1 controls (U+0080..U+009F) count as invalid. */
static size_t utf8_printable_len(const unsigned char *s) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
  else return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f) return 0;
  return len;
}

char *mlg_sanitize(const char *text, int keep_lines, char *out, size_t size) {
  if (size == 0) return out;
  size_t j = 0;
  const unsigned char *s = (const unsigned char *)(text ? text : "");
  for (size_t i = 0; s[i];) {
    char piece[8];
    size_t n = 1, used = 1;
    if ((s[i] >= 0x20 && s[i] < 0x7f) || (keep_lines && (s[i] == '\n' || s[i] == '\t'))) {
      piece[0] = (char)s[i];
    } else if (s[i] >= 0x80 && (used = utf8_printable_len(s + i)) > 0) {
      memcpy(piece, s + i, used);
      n = used;
    } else {
      used = 1;
      n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
    }
    if (j + n + 1 > size) {
      if (size <= 4) {
        out[size - 1 < j ? size - 1 : j] = '\0';
        return out;
      }
      if (j > size - 4) {
        j = size - 4;
        /* Do not cut a UTF-8 sequence in two. */
        while (j > 0 && ((unsigned char)out[j] & 0xc0) == 0x80) j--;
      }
      memcpy(out + j, "...", 4);
      return out;
    }
    memcpy(out + j, piece, n);
    j += n;
    i += used;
  }
  out[j] = '\0';
  return out;
}

int mlg_parse_bytes(const char *text, uint64_t *out) {
  *out = 0;
  if (!text || *text < '0' || *text > '9') return -1;
  uint64_t v = 0;
  const char *p = text;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > ((uint64_t)1 << 62) / 10) return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  int shift = 0;
  switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: break;
  }
  if (shift && *p == 'i') p++;
  if (*p == 'B') p++;
  if (*p || v == 0 || v > (((uint64_t)1 << 62) >> shift)) return -1;
  *out = v << shift;
  return 0;
}

const char *mlg_format_bytes(uint64_t bytes, char *buf, size_t size) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    return buf;
  }
  double v = (double)bytes / 1024;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  snprintf(buf, size, "%.*f %s", v < 10 ? 2 : 1, v, units[u]);
  return buf;
}

uint64_t mlg_monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

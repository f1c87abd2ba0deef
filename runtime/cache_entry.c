#define _DEFAULT_SOURCE /* flock, DT_REG */
#include "cache_entry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file_util.h"
#include "internal.h"

int mlg_cache_read(const char *path, uint64_t max_size, uint8_t **out, size_t *out_size) {
  *out = NULL;
  *out_size = 0;
  uint64_t size;
  const char *kind;
  int fd = mlg_open_regular(path, 1, &size, &kind);
  if (fd < 0) {
    if (kind) mlg_warn("cache entry '%s' is %s, not a regular file; ignored (built from source instead)", path, kind);
    return -1;
  }
  uint8_t *data = size <= max_size ? malloc(size ? (size_t)size : 1) : NULL;
  size_t n = 0;
  while (data && n < size) {
    ssize_t got = read(fd, data + n, (size_t)size - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (!data || n != size) {
    free(data);
    return -1;
  }
  /* Used now: the least recently used entries are the first to go (mlg_cache_trim). */
  utimensat(AT_FDCWD, path, NULL, 0);
  *out = data;
  *out_size = n;
  return 0;
}

/* Whether descriptor fd is still the file linked at path (not a mark removed meanwhile). */
static int still_linked(int fd, const char *path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int mlg_cache_mark_begin(const char *path, mlg_cache_mark *m) {
  static _Atomic unsigned counter;
  int recovered = 0;
  m->fd = -1;
  if (snprintf(m->path, sizeof m->path, "%s.inuse", path) >= (int)sizeof m->path) return 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    /* A new mark is locked before it is linked into place, so no one sees it unheld. */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%ld.%u", m->path, (long)getpid(), counter++);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return recovered; /* an unwritable folder: go on unmarked */
    flock(fd, LOCK_SH);
    int linked = link(tmp, m->path) == 0, e = errno;
    unlink(tmp);
    if (linked) {
      m->fd = fd;
      return recovered;
    }
    close(fd);
    if (e != EEXIST) return recovered;
    /* A mark is there: a load in progress holds it, or a load that never finished left it. */
    fd = open(m->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue; /* removed meanwhile: mark anew */
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      if (still_linked(fd, m->path)) {
        unlink(path);
        unlink(m->path);
        if (!recovered)
          mlg_warn("cache entry '%s' was being loaded by a process that never finished (the driver may have "
                   "crashed on it); removed it, building from source instead", path);
        recovered = 1;
      }
      close(fd);
      continue; /* mark anew */
    }
    flock(fd, LOCK_SH); /* shared with the load in progress */
    if (still_linked(fd, m->path)) {
      m->fd = fd;
      return recovered;
    }
    close(fd);
  }
  return recovered;
}

void mlg_cache_mark_end(mlg_cache_mark *m) {
  if (m->fd < 0) return;
  /* The last load to finish removes the mark; one still holding it keeps it. */
  if (flock(m->fd, LOCK_EX | LOCK_NB) == 0 && still_linked(m->fd, m->path)) unlink(m->path);
  close(m->fd);
  m->fd = -1;
}

void mlg_cache_discard(const char *path) { unlink(path); }

uint64_t mlg_cache_limit(void) {
  uint64_t v;
  const char *env = getenv("MLG_CACHE_MAX_BYTES");
  return env && mlg_parse_bytes(env, &v) == 0 ? v : MLG_CACHE_DEFAULT_LIMIT;
}

typedef struct trim_entry {
  char name[256];
  uint64_t size;
  struct timespec used;
} trim_entry;

static int older_first(const void *a, const void *b) {
  const trim_entry *x = a, *y = b;
  if (x->used.tv_sec != y->used.tv_sec) return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
  return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

static int is_entry(const char *name) {
  size_t n = strlen(name);
  return (strncmp(name, "opencl-", 7) == 0 || strncmp(name, "vulkan-", 7) == 0) && n > 4 &&
         strcmp(name + n - 4, ".bin") == 0;
}

void mlg_cache_trim(const char *dir, uint64_t limit) {
  DIR *d = opendir(dir);
  if (!d) return;
  trim_entry *list = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  time_t now = time(NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    struct stat st;
    char path[4400];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (strstr(e->d_name, ".tmp.") && now - st.st_mtime > 3600) {
      unlink(path); /* a write that never finished */
      continue;
    }
    if (!is_entry(e->d_name) || strlen(e->d_name) >= sizeof list->name) continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      trim_entry *grown = realloc(list, ncap * sizeof *list);
      if (!grown) break;
      list = grown;
      cap = ncap;
    }
    snprintf(list[n].name, sizeof list[n].name, "%s", e->d_name);
    list[n].size = (uint64_t)st.st_size;
    list[n].used = st.st_mtim;
    total += list[n].size;
    n++;
  }
  closedir(d);
  if (total > limit && n > 0) {
    qsort(list, n, sizeof *list, older_first);
    for (size_t i = 0; i < n && total > limit; i++) {
      char path[4400];
      snprintf(path, sizeof path, "%s/%s", dir, list[i].name);
      if (unlink(path) == 0) total -= list[i].size;
    }
  }
  free(list);
}

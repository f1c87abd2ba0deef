#include "host_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "file_util.h"

/* The number after `key` in a "Key:   123 kB" file such as /proc/meminfo, in bytes. */
static uint64_t proc_field_kb(const char *path, const char *key) {
  FILE *f = fopen(path, "re");
  if (!f) return MLG_MEMORY_UNKNOWN;
  char line[256];
  uint64_t v = MLG_MEMORY_UNKNOWN;
  size_t k = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, k) == 0 && line[k] == ':') {
      unsigned long long kb = 0;
      if (sscanf(line + k + 1, "%llu", &kb) == 1) v = (uint64_t)kb * 1024;
      break;
    }
  fclose(f);
  return v;
}

/* A cgroup file holding one number ("max" and missing files are unknown). */
static uint64_t cgroup_number(const char *dir, const char *file) {
  char path[1024];
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return MLG_MEMORY_UNKNOWN;
  FILE *f = fopen(path, "re");
  if (!f) return MLG_MEMORY_UNKNOWN;
  unsigned long long v = 0;
  int ok = fscanf(f, "%llu", &v) == 1;
  fclose(f);
  return ok ? (uint64_t)v : MLG_MEMORY_UNKNOWN;
}

/* Walks from cgroup `rel` under `root` up to the root, keeping the tightest (limit - usage). A
 * folder that is not there (a path from outside a container's namespace) is skipped. */
static void cgroup_walk(mlg_host_memory *m, const char *root, const char *path, const char *limit_file,
                        const char *usage_file) {
  char rel[1024];
  snprintf(rel, sizeof rel, "%s", path);
  for (;;) {
    char dir[2100];
    snprintf(dir, sizeof dir, "%s%s", root, strcmp(rel, "/") == 0 ? "" : rel);
    uint64_t limit = cgroup_number(dir, limit_file), usage = cgroup_number(dir, usage_file);
    /* v1 reports "no limit" as a huge page-rounded number. */
    if (limit != MLG_MEMORY_UNKNOWN && limit < ((uint64_t)1 << 60) && usage != MLG_MEMORY_UNKNOWN) {
      uint64_t left = usage < limit ? limit - usage : 0;
      uint64_t best = m->cgroup_limit == MLG_MEMORY_UNKNOWN ? MLG_MEMORY_UNKNOWN
                      : m->cgroup_usage < m->cgroup_limit ? m->cgroup_limit - m->cgroup_usage : 0;
      if (left < best) {
        m->cgroup_limit = limit;
        m->cgroup_usage = usage;
      }
    }
    char *slash = strrchr(rel, '/');
    if (!slash || strcmp(rel, "/") == 0) break;
    if (slash == rel) slash[1] = '\0';
    else *slash = '\0';
  }
}

/* The process's cgroups from /proc/self/cgroup: v2 ("0::PATH", under /sys/fs/cgroup or, on a
 * hybrid system, /sys/fs/cgroup/unified) and v1's memory controller. */
static void cgroup_budget(mlg_host_memory *m) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *v1 = strstr(line, ":memory:");
    if (strncmp(line, "0::", 3) == 0 && line[3] == '/') {
      cgroup_walk(m, "/sys/fs/cgroup", line + 3, "memory.max", "memory.current");
      cgroup_walk(m, "/sys/fs/cgroup/unified", line + 3, "memory.max", "memory.current");
    } else if (v1 && v1[8] == '/') {
      cgroup_walk(m, "/sys/fs/cgroup/memory", v1 + 8, "memory.limit_in_bytes", "memory.usage_in_bytes");
    }
  }
  fclose(f);
}

void mlg_host_memory_query(mlg_host_memory *m) {
  *m = (mlg_host_memory){MLG_MEMORY_UNKNOWN, MLG_MEMORY_UNKNOWN, MLG_MEMORY_UNKNOWN, 0, MLG_MEMORY_UNKNOWN, 0,
                         MLG_MEMORY_UNKNOWN, 0};
  m->available = proc_field_kb("/proc/meminfo", "MemAvailable");
  cgroup_budget(m);
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    m->as_limit = (uint64_t)rl.rlim_cur;
    m->as_used = proc_field_kb("/proc/self/status", "VmSize");
    if (m->as_used == MLG_MEMORY_UNKNOWN) m->as_used = 0;
  }
  const char *env = getenv("MLG_MEMORY_LIMIT");
  uint64_t limit;
  if (env && mlg_parse_bytes(env, &limit) == 0) {
    m->user_limit = limit;
    m->resident = proc_field_kb("/proc/self/status", "VmRSS");
    if (m->resident == MLG_MEMORY_UNKNOWN) m->resident = 0;
  }
  uint64_t b = m->available;
  if (m->user_limit != MLG_MEMORY_UNKNOWN) {
    uint64_t left = m->resident < m->user_limit ? m->user_limit - m->resident : 0;
    if (left < b) b = left;
  }
  if (m->cgroup_limit != MLG_MEMORY_UNKNOWN) {
    uint64_t left = m->cgroup_usage < m->cgroup_limit ? m->cgroup_limit - m->cgroup_usage : 0;
    if (left < b) b = left;
  }
  if (m->as_limit != MLG_MEMORY_UNKNOWN) {
    uint64_t left = m->as_used < m->as_limit ? m->as_limit - m->as_used : 0;
    if (left < b) b = left;
  }
  m->budget = b;
}

const char *mlg_host_memory_describe(const mlg_host_memory *m, char *buf, size_t size) {
  char a[32], b[32];
  size_t used = 0;
  buf[0] = '\0';
#define PUT(...)                                                              \
  do {                                                                        \
    int w_ = snprintf(buf + used, size > used ? size - used : 0, __VA_ARGS__); \
    if (w_ > 0) used += (size_t)w_;                                           \
    if (used >= size) return buf;                                             \
  } while (0)
  if (m->budget == MLG_MEMORY_UNKNOWN) {
    PUT("the host memory left is unknown");
    return buf;
  }
  PUT("the process may use %s more host memory (", mlg_format_bytes(m->budget, a, sizeof a));
  const char *sep = "";
  if (m->available != MLG_MEMORY_UNKNOWN) {
    PUT("MemAvailable %s", mlg_format_bytes(m->available, a, sizeof a));
    sep = "; ";
  }
  if (m->cgroup_limit != MLG_MEMORY_UNKNOWN) {
    PUT("%scgroup limit %s, %s in use", sep, mlg_format_bytes(m->cgroup_limit, a, sizeof a),
        mlg_format_bytes(m->cgroup_usage, b, sizeof b));
    sep = "; ";
  }
  if (m->as_limit != MLG_MEMORY_UNKNOWN) {
    PUT("%sRLIMIT_AS %s, %s mapped", sep, mlg_format_bytes(m->as_limit, a, sizeof a),
        mlg_format_bytes(m->as_used, b, sizeof b));
    sep = "; ";
  }
  if (m->user_limit != MLG_MEMORY_UNKNOWN)
    PUT("%sMLG_MEMORY_LIMIT %s, %s resident", sep, mlg_format_bytes(m->user_limit, a, sizeof a),
        mlg_format_bytes(m->resident, b, sizeof b));
  PUT(")");
#undef PUT
  return buf;
}

/* host_memory.h — how much more host memory this process may use: the least of the memory the
 * kernel reports available (MemAvailable), what the cgroup's limits leave (cgroup v2
 * memory.max − memory.current at every level, or v1 memory.limit_in_bytes − usage), what
 * RLIMIT_AS leaves of the address space (VmSize), and what $MLG_MEMORY_LIMIT (bytes with an
 * optional K/M/G suffix: a limit of the user's, on the process's resident memory, VmRSS) leaves. The runtime compares a model's memory plan
 * with it before allocating (CPU drivers — PoCL, lavapipe — allocate device buffers on the
 * host), and the file readers a file's size. Linux; elsewhere every figure is unknown.
 * Thread safety: reentrant. */
#ifndef MLG_HOST_MEMORY_H
#define MLG_HOST_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define MLG_MEMORY_UNKNOWN UINT64_MAX

typedef struct mlg_host_memory {
  uint64_t budget;           /* the least of the three below; MLG_MEMORY_UNKNOWN when none is known */
  uint64_t available;        /* MemAvailable */
  uint64_t cgroup_limit;     /* the tightest cgroup limit, and its group's usage */
  uint64_t cgroup_usage;
  uint64_t as_limit;         /* RLIMIT_AS (soft), and the address space mapped now (VmSize) */
  uint64_t as_used;
  uint64_t user_limit;       /* $MLG_MEMORY_LIMIT, and the process's resident memory (VmRSS) */
  uint64_t resident;
} mlg_host_memory;

void        mlg_host_memory_query(mlg_host_memory *out);
/* "the process may use 2.90 GiB more host memory (RLIMIT_AS 3.00 GiB, 103 MiB mapped; ...)":
 * the budget and each known figure, into buf; returns buf. */
const char *mlg_host_memory_describe(const mlg_host_memory *m, char *buf, size_t size);

#endif

/* gemm_tune.h — the per-device GEMM tile search and its disk cache (docs/performance.md).
 *
 * For each shape class of compiler/gemm_tuning.h, a representative SGEMM (1024³ and 256³ on a
 * GPU, 512³ and 128³ on other devices) is compiled in memory once per candidate tiling with
 * that tiling forced, run through the public runtime API with profiling on (warm-up runs, then
 * the median device time of a few), and checked against a product computed on the host; a
 * candidate that fails to build, run or match is discarded, never chosen. The fastest wins.
 *
 * The table is cached as a text file per (device name, driver version, backend) in the
 * runtime's cache folder (mlg_cache_dir_resolve): CACHE/gemm-tuning-<hash>.txt. A missing,
 * unreadable, corrupt, other-version or other-device file is ignored with a one-line warning
 * and the search runs again.
 *
 * Lives outside libmlgrt (it needs the compiler); mlgrun links it. Thread safety: one call at a
 * time per device (it creates its own runtime on the device for the search). */
#ifndef MLG_GEMM_TUNE_H
#define MLG_GEMM_TUNE_H

#include <stdio.h>

#include "gemm_tuning.h"
#include "mlg.h"

typedef struct mlg_tune_options {
  const char *cache_dir;     /* NULL: as the runtime resolves it; "": no cache (never stored) */
  int force;                 /* search even when the cache holds a valid table */
  int no_search;             /* only read the cache: no table when it has none */
  /* Tiny problems and two candidates per class, for tests; $MLG_TUNE_QUICK=1 sets it too. */
  int quick;
  const char *who;           /* prefix of the messages ("mlgrun"); NULL: "mlgtune" */
  FILE *log;                 /* warnings and the one line per tuned class; NULL: stderr */
  /* Test hook: i > 0 spoils the output of the i-th candidate (1-based) of each class before it
   * is checked, as a kernel computing a wrong product would. 0: none. */
  int corrupt_candidate;
  /* Optional: called on the calling thread as the search goes, `done` of `total` candidates
   * tried (mlgrun shows a progress line with it). */
  void (*progress)(void *user, int done, int total);
  void *progress_user;
} mlg_tune_options;

/* What mlg_tune_gemm did. */
typedef struct mlg_tune_report {
  int from_cache;            /* 1: the table was read from the cache file */
  int searched;              /* 1: a search ran */
  int stored;                /* 1: the searched table was written to the cache */
  int n_tried, n_rejected;   /* candidates measured; discarded (build, run or wrong output) */
  char path[4200];           /* the cache file ("" when there is no cache folder) */
} mlg_tune_report;

/* CACHE/gemm-tuning-<16 hex digits of the identity hash>.txt into buf; 0, or -1 when it does
 * not fit. */
int mlg_tune_cache_path(const mlg_device_info *dev, const char *cache_dir, char *buf, size_t size);

/* The GEMM tuning table of `dev` (a device of mlg_list_devices / mlg_runtime_device): from the
 * cache when it holds a valid one for this device (and !force), else by a search (unless
 * no_search), stored in the cache. Returns 0 with *out filled, or -1 when there is none (no
 * cache and no search, or no candidate built, ran and matched — a line on the log says so,
 * and that empty table is cached too, so the search is not repeated): the caller then keeps
 * the built-in tiles. */
int mlg_tune_gemm(const mlg_device_info *dev, const mlg_tune_options *options, mlg_gemm_tuning *out,
                  mlg_tune_report *out_report);

/* Prints the table: "large: 128x128 k16 8x8, 21000.5 GFLOP/s" per class with an entry. */
void mlg_tune_print(FILE *f, const mlg_gemm_tuning *t);

#endif

/* internal.h — what the runtime's files share and the public header does not show: the error
 * setter, the three handle structs, and the transfer list a session hands its backend.
 * Backend-neutral: nothing here names OpenCL (that lives in opencl/opencl_internal.h). */
#ifndef MLG_RUNTIME_INTERNAL_H
#define MLG_RUNTIME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "bundle.h"
#include "mlg.h"
#include "mlg_version.h"

/* Largest message kept by mlg_last_error (longer ones are cut, ending in "..."). */
#define MLG_ERROR_CAPACITY 8192

/* Formats the thread's last error and returns `status`, so a failure reads
 * `return mlg_fail(MLG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));`. */
mlg_status mlg_fail(mlg_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "mlg: warning: ..." on stderr, made safe for a terminal (file_util.h mlg_sanitize): for
 * what a call recovers from but a user should know (a cache entry discarded). */
void mlg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Clears the thread's last error (each public entry point that succeeds leaves it as it was). */
void mlg_clear_error(void);

struct mlg_runtime {
  const mlg_backend *backend;
  mlg_backend_device *device;
  mlg_device_info info;
  char *cache_dir;           /* NULL: cache disabled */
  int enable_profiling;
};

struct mlg_model {
  mlg_runtime *runtime;
  mlgb_bundle *bundle;
  mlg_backend_model *backend_model;
  int n_inputs;
  int n_outputs;
  uint32_t *inputs;          /* tensor indices, in table order */
  uint32_t *outputs;
  unsigned *input_programs;  /* per input: the programs (mlgb_program bits) whose dispatches read it */
  int n_params;              /* params (trained or not), in table order */
  uint32_t *params;
  /* A train step's params as loaded (the params region's image, region_size[PARAMS] bytes):
   * each session starts from a copy. NULL without a train step. */
  uint8_t *params_image;
  mlg_backend_cache_stats cache_stats;
};

struct mlg_session {
  mlg_model *model;
  mlg_backend_session *backend_session;
  /* Host staging, one slot per input then per output (then the train step's loss when it is no
   * output of the run), allocated at create. */
  uint8_t *staging;          /* NULL when the backend gave its own (backend.h host_staging) */
  mlg_transfer *transfers;   /* n_inputs inputs, then n_outputs outputs (then the loss),
                                pointing into staging, or into the device's own memory, where
                                a resident backend moves them at each run */
  int n_transfers;
  /* Per program (0 run, 1 train step): the transfers it takes (the inputs its dispatches read)
   * and gives back (the run's outputs; the step's loss): copies of the `transfers` entries at
   * indices program_in_at / program_out_at, made again before each run (a resident backend
   * moves the host pointers). */
  mlg_transfer *program_in[2], *program_out[2];
  int *program_in_at[2], *program_out_at[2];
  int n_program_in[2], n_program_out[2];
  int loss_transfer;         /* the train step's loss among `transfers` */
  uint8_t *input_set;        /* per input: set since create */
  int has_run;               /* what ran last, successfully: 0 nothing, 1 the run, 2 the train
                                step, 3 the preparation (mlg_session_create) */
  /* Profiling runtimes only: per bundle dispatch, device ns of the last run (filled on demand
   * by mlg_session_profile) and bytes bound (filled at create). NULL otherwise. */
  uint64_t *profile_ns;
  uint64_t *profile_bytes;
};

/* Test hook, not part of the public API (libmlgrt.so does not export it; tests link the static
 * libmlgrt.a): how many of the model's programs came from the disk cache (hits), were built
 * from source (misses), and were written back (writes). */
void mlg_model_cache_stats(const mlg_model *model, int *out_hits, int *out_misses,
                                   int *out_writes);

/* Compares a bundle's memory plan with the device (the largest buffer, its memory) and with the
 * host memory the process may still use (host_memory.h), before anything is allocated: at load
 * the weights and one session, with `session_only` one more session. MLG_OK, or
 * MLG_ERR_OUT_OF_MEMORY with the figures (memory_plan.c). */
mlg_status mlg_check_plan_memory(const mlg_runtime *rt, const mlgb_bundle *b, const char *where, int session_only);

/* "weights", "io", "arena", "params" or "state" for an mlgb_region, "?" for another value
 * (status.c). */
const char *mlg_region_name(uint32_t region);

/* The device specs mlg_runtime_create takes, for messages. */
#define MLG_DEVICE_SPEC_FORMS "opencl:N, vulkan:N, opencl or vulkan (device 0), gpu or cpu"

/* Builds "<spec> (<name>, GPU|CPU)" lines of the available devices, comma-separated, into buf. */
void mlg_format_device_list(char *buf, size_t size);

#endif

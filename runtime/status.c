/* status.c — the version, status and region names, and the per-thread last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "file_util.h"
#include "internal.h"

static _Thread_local char last_error[MLG_ERROR_CAPACITY];

const char *mlg_version(void) { return MLG_VERSION_STRING; }

const char *mlg_status_string(mlg_status status) {
  switch (status) {
    case MLG_OK: return "ok";
    case MLG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MLG_ERR_IO: return "I/O error";
    case MLG_ERR_FORMAT: return "malformed file";
    case MLG_ERR_MISMATCH: return "dtype or shape mismatch";
    case MLG_ERR_NOT_FOUND: return "not found";
    case MLG_ERR_NO_DEVICE: return "no device";
    case MLG_ERR_UNSUPPORTED: return "unsupported";
    case MLG_ERR_BUILD: return "kernel build failed";
    case MLG_ERR_DEVICE: return "device error";
    case MLG_ERR_OUT_OF_MEMORY: return "out of memory";
  }
  return "unknown status";
}

const char *mlg_region_name(uint32_t region) {
  switch (region) {
    case MLGB_REGION_WEIGHTS: return "weights";
    case MLGB_REGION_IO: return "io";
    case MLGB_REGION_ARENA: return "arena";
    case MLGB_REGION_PARAMS: return "params";
    case MLGB_REGION_STATE: return "state";
  }
  return "?";
}

const char *mlg_last_error(void) { return last_error; }

void mlg_clear_error(void) { last_error[0] = '\0'; }

/* Messages name tensors, kernels and files that come from bundles and weights files, which may
 * hold anything: each is kept safe for a terminal (control characters and invalid UTF-8 become
 * \xHH escapes; line breaks and tabs stay, for build logs). */
mlg_status mlg_fail(mlg_status status, const char *fmt, ...) {
  char raw[MLG_ERROR_CAPACITY];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  if (n < 0) {
    snprintf(last_error, sizeof last_error, "%s", mlg_status_string(status));
    return status;
  }
  if ((size_t)n >= sizeof raw) memcpy(raw + sizeof raw - 4, "...", 4);
  mlg_sanitize(raw, 1, last_error, sizeof last_error);
  return status;
}

void mlg_warn(const char *fmt, ...) {
  char raw[2048], safe[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  fprintf(stderr, "mlg: warning: %s\n", mlg_sanitize(raw, 0, safe, sizeof safe));
}

/* gemm_tuning.c — GEMM tile tables: shape classes, validity, the strict text form. */
#include "gemm_tuning.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"

#define MAGIC "mlg-gemm-tuning"
#define LOCAL_LIMIT (48 * 1024)

static const char *const CLASS_NAMES[MLG_GEMM_N_CLASSES] = {"large", "medium", "huge"};

mlg_gemm_class mlg_gemm_class_of(int64_t m, int64_t n) {
  if (m >= 2048 && n >= 2048) return MLG_GEMM_HUGE;
  if (m >= 512 && n >= 512) return MLG_GEMM_LARGE;
  if (m >= 64 && n >= 64) return MLG_GEMM_MEDIUM;
  return MLG_GEMM_NO_CLASS;
}

const char *mlg_gemm_class_name(mlg_gemm_class c) {
  return c >= 0 && c < MLG_GEMM_N_CLASSES ? CLASS_NAMES[c] : "?";
}

int mlg_gemm_tiles_valid(const mlg_gemm_tiles *t, int64_t local_mem_bytes) {
  int64_t limit = local_mem_bytes > 0 && local_mem_bytes < LOCAL_LIMIT ? local_mem_bytes : LOCAL_LIMIT;
  if (t->tile_m < 1 || t->tile_m > 256 || t->tile_n < 1 || t->tile_n > 256) return 0;
  if (t->tile_k < 1 || t->tile_k > 64) return 0;
  if (t->reg_m < 1 || t->reg_m > 16 || t->reg_n < 1 || t->reg_n > 16) return 0;
  if (t->tile_m % t->reg_m || t->tile_n % t->reg_n) return 0;
  if ((t->tile_m / t->reg_m) * (t->tile_n / t->reg_n) > 1024) return 0;
  /* Both staged tiles, plus the row mean and 1/std a pre-normalized A keeps (matmul.h). */
  int64_t bytes = (int64_t)(t->tile_m + t->tile_n) * t->tile_k * 4 + 8 * (int64_t)t->tile_m;
  return bytes <= limit;
}

void mlg_gemm_tiles_format(const mlg_gemm_tiles *t, char *buf, size_t size) {
  snprintf(buf, size, "%dx%d k%d %dx%d", t->tile_m, t->tile_n, t->tile_k, t->reg_m, t->reg_n);
}

static void copy_line(char *dst, size_t size, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < size; i++)
    dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
  dst[i] = '\0';
}

void mlg_gemm_tuning_set_device(mlg_gemm_tuning *t, const char *device, const char *driver,
                                const char *backend) {
  copy_line(t->device, sizeof t->device, device);
  copy_line(t->driver, sizeof t->driver, driver);
  copy_line(t->backend, sizeof t->backend, backend);
}

int mlg_gemm_tuning_same_device(const mlg_gemm_tuning *t, const char *device, const char *driver,
                                const char *backend) {
  mlg_gemm_tuning want;
  mlg_gemm_tuning_set_device(&want, device, driver, backend);
  return strcmp(t->device, want.device) == 0 && strcmp(t->driver, want.driver) == 0 &&
         strcmp(t->backend, want.backend) == 0;
}

/* Appends printf output to a growing buffer; 0, or -1 when memory runs out. */
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if (*cap - *len <= (size_t)n) {
    size_t ncap = *len + (size_t)n + 256;
    char *nbuf = realloc(*buf, ncap);
    if (!nbuf) return -1;
    *buf = nbuf;
    *cap = ncap;
  }
  va_start(ap, fmt);
  vsnprintf(*buf + *len, *cap - *len, fmt, ap);
  va_end(ap);
  *len += (size_t)n;
  return 0;
}

int mlg_gemm_tuning_format(const mlg_gemm_tuning *t, char **out_text, size_t *out_size) {
  *out_text = NULL;
  *out_size = 0;
  /* The identity fields as set_device stores them: one line each, terminated within the field. */
  mlg_gemm_tuning id;
  char device[sizeof t->device], driver[sizeof t->driver], backend[sizeof t->backend];
  snprintf(device, sizeof device, "%.*s", (int)strnlen(t->device, sizeof t->device - 1), t->device);
  snprintf(driver, sizeof driver, "%.*s", (int)strnlen(t->driver, sizeof t->driver - 1), t->driver);
  snprintf(backend, sizeof backend, "%.*s", (int)strnlen(t->backend, sizeof t->backend - 1), t->backend);
  mlg_gemm_tuning_set_device(&id, device, driver, backend);
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = append(&buf, &len, &cap, "%s %d\ndevice %s\ndriver %s\nbackend %s\n", MAGIC, MLG_GEMM_TUNING_VERSION,
                  id.device, id.driver, id.backend);
  for (int c = 0; c < MLG_GEMM_N_CLASSES && rc == 0; c++) {
    const mlg_gemm_tiles *e = &t->cls[c];
    if (!e->tile_m) continue;
    rc = append(&buf, &len, &cap, "%s %d %d %d %d %d %.1f\n", CLASS_NAMES[c], e->tile_m, e->tile_n, e->tile_k,
                e->reg_m, e->reg_n, isfinite(e->gflops) && e->gflops >= 0 ? e->gflops : 0.0);
  }
  for (int c = 0; c < MLG_GEMM_N_CLASSES && rc == 0; c++) {
    const mlg_gemm_mma *e = &t->mma[c];
    if (!e->config) continue;
    rc = append(&buf, &len, &cap, "mma %s %d %.1f\n", CLASS_NAMES[c], e->config,
                isfinite(e->gflops) && e->gflops >= 0 ? e->gflops : 0.0);
  }
  if (rc == 0) rc = append(&buf, &len, &cap, "end %016" PRIx64 "\n", mlg_fnv1a(MLG_FNV_SEED, buf, len));
  if (rc != 0) {
    free(buf);
    return -1;
  }
  *out_text = buf;
  *out_size = len;
  return 0;
}

/* A whole decimal field in [lo, hi]. */
static int parse_int(const char *s, int lo, int hi, int *out) {
  if (*s < '0' || *s > '9') return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*end || errno || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

/* Splits line (edited in place) at single spaces into exactly `want` fields (an empty field is
 * an error of the caller's checks); -1 with a message naming `what` otherwise. */
static int split_fields(char *line, char **fields, int want, const char *what, char *err, size_t err_size) {
  int n = 0;
  for (char *p = line;; p++) {
    if (n == want) return mlg_errorf(err, err_size, "%s line with more than %d fields", what, want);
    fields[n++] = p;
    p = strchr(p, ' ');
    if (!p) break;
    *p = '\0';
  }
  if (n != want) return mlg_errorf(err, err_size, "%s line with %d fields (expected %d)", what, n, want);
  return 0;
}

static int class_index(const char *name) {
  for (int i = 0; i < MLG_GEMM_N_CLASSES; i++)
    if (strcmp(name, CLASS_NAMES[i]) == 0) return i;
  return -1;
}

/* A finite, non-negative GFLOP/s field. */
static int parse_gflops(const char *s, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return end == s || *end || errno || !isfinite(*out) || *out < 0 ? -1 : 0;
}

/* "large 128 128 16 8 8 21000.5" (line without its newline, edited in place). */
static int parse_class_line(char *line, mlg_gemm_tuning *out, char *err, size_t err_size) {
  char *fields[7] = {0};
  if (split_fields(line, fields, 7, "class", err, err_size)) return -1;
  int c = class_index(fields[0]);
  if (c < 0) return mlg_errorf(err, err_size, "unknown line '%.40s'", fields[0]);
  if (out->cls[c].tile_m) return mlg_errorf(err, err_size, "class '%s' given twice", CLASS_NAMES[c]);
  mlg_gemm_tiles t;
  int *v[5] = {&t.tile_m, &t.tile_n, &t.tile_k, &t.reg_m, &t.reg_n};
  for (int i = 0; i < 5; i++)
    if (parse_int(fields[1 + i], 1, 4096, v[i]))
      return mlg_errorf(err, err_size, "class '%s': bad number '%.20s'", CLASS_NAMES[c], fields[1 + i]);
  if (parse_gflops(fields[6], &t.gflops))
    return mlg_errorf(err, err_size, "class '%s': bad GFLOP/s '%.20s'", CLASS_NAMES[c], fields[6]);
  if (!mlg_gemm_tiles_valid(&t, 0))
    return mlg_errorf(err, err_size, "class '%s': tiles the kernel cannot take", CLASS_NAMES[c]);
  out->cls[c] = t;
  return 0;
}

/* "mma large 8 98000.5" (line without its newline, edited in place). */
static int parse_mma_line(char *line, mlg_gemm_tuning *out, char *err, size_t err_size) {
  char *fields[4] = {0};
  if (split_fields(line, fields, 4, "mma", err, err_size)) return -1;
  int c = class_index(fields[1]), config;
  if (c < 0) return mlg_errorf(err, err_size, "mma line: unknown class '%.20s'", fields[1]);
  if (out->mma[c].config) return mlg_errorf(err, err_size, "mma class '%s' given twice", CLASS_NAMES[c]);
  if (parse_int(fields[2], 1, KT_MMA_N_CONFIGS, &config))
    return mlg_errorf(err, err_size, "mma class '%s': configuration '%.20s' is not one of 1..%d", CLASS_NAMES[c],
                      fields[2], KT_MMA_N_CONFIGS);
  if (parse_gflops(fields[3], &out->mma[c].gflops))
    return mlg_errorf(err, err_size, "mma class '%s': bad GFLOP/s '%.20s'", CLASS_NAMES[c], fields[3]);
  out->mma[c].config = config;
  return 0;
}

/* The body of mlg_gemm_tuning_parse; `text` is a NUL-terminated copy it may edit. */
static int parse_copy(char *text, size_t size, mlg_gemm_tuning *out, char *err, size_t err_size) {
  if (memchr(text, '\0', size)) return mlg_errorf(err, err_size, "NUL byte in the file");
  char *end_line = NULL;
  for (char *p = text; (p = strstr(p, "end ")) != NULL; p++)
    if (p == text || p[-1] == '\n') end_line = p;
  if (!end_line) return mlg_errorf(err, err_size, "no 'end' line (truncated?)");
  uint64_t want = mlg_fnv1a(MLG_FNV_SEED, text, (size_t)(end_line - text));
  char expect[32];
  snprintf(expect, sizeof expect, "end %016" PRIx64 "\n", want);
  if (strlen(end_line) < strlen(expect) && strncmp(end_line, expect, strlen(end_line)) == 0)
    return mlg_errorf(err, err_size, "truncated 'end' line");
  if (strcmp(end_line, expect) != 0)
    return mlg_errorf(err, err_size, "checksum mismatch (corrupt or edited)");
  *end_line = '\0';
  const char *keys[4] = {MAGIC " ", "device ", "driver ", "backend "};
  char *line = text;
  for (int i = 0; i < 4; i++) {
    char *nl = strchr(line, '\n');
    if (!nl) return mlg_errorf(err, err_size, "missing '%s' line", keys[i]);
    *nl = '\0';
    size_t k = strlen(keys[i]);
    if (strncmp(line, keys[i], k) != 0)
      return mlg_errorf(err, err_size, "line %d: expected '%.*s'", i + 1, (int)k - 1, keys[i]);
    const char *v = line + k;
    if (i == 0) {
      int version;
      if (parse_int(v, 0, 1 << 20, &version) || version != MLG_GEMM_TUNING_VERSION)
        return mlg_errorf(err, err_size, "version '%.20s' (this mlg reads %d)", v, MLG_GEMM_TUNING_VERSION);
    } else {
      char *dst = i == 1 ? out->device : i == 2 ? out->driver : out->backend;
      size_t cap = i == 1 ? sizeof out->device : i == 2 ? sizeof out->driver : sizeof out->backend;
      if (strlen(v) >= cap) return mlg_errorf(err, err_size, "line %d too long", i + 1);
      memcpy(dst, v, strlen(v) + 1);
    }
    line = nl + 1;
  }
  while (*line) {
    char *nl = strchr(line, '\n');
    if (!nl) return mlg_errorf(err, err_size, "unterminated line");
    *nl = '\0';
    if (strncmp(line, "mma ", 4) == 0 ? parse_mma_line(line, out, err, err_size)
                                      : parse_class_line(line, out, err, err_size))
      return -1;
    line = nl + 1;
  }
  return 0;
}

int mlg_gemm_tuning_parse(const char *text, size_t size, mlg_gemm_tuning *out, char *err,
                          size_t err_size) {
  memset(out, 0, sizeof *out);
  char *copy = malloc(size + 1);
  if (!copy) return mlg_errorf(err, err_size, "out of memory");
  memcpy(copy, text, size);
  copy[size] = '\0';
  int rc = parse_copy(copy, size, out, err, err_size);
  free(copy);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int mlg_gemm_tuning_load(const char *path, mlg_gemm_tuning *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  uint8_t *data = NULL;
  size_t size = 0;
  char why[512];
  if (mlg_read_file_limit(path, MLG_READ_LIMIT_TEXT, &data, &size, why, sizeof why))
    return mlg_errorf(err, err_size, "%s", why);
  int rc = mlg_gemm_tuning_parse((const char *)data, size, out, why, sizeof why);
  free(data);
  if (rc) return mlg_errorf(err, err_size, "'%s': %s", path, why);
  return 0;
}

int mlg_gemm_tuning_apply(const mlg_gemm_tuning *t, kt_matmul_desc *d) {
  if (!t || d->tile_m || d->tile_n || d->tile_k || d->reg_m || d->reg_n) return 0;
  mlg_gemm_class c = mlg_gemm_class_of(d->m, d->n);
  if (c == MLG_GEMM_NO_CLASS) return 0;
  const mlg_gemm_tiles *e = &t->cls[c];
  if (!e->tile_m || !mlg_gemm_tiles_valid(e, d->local_mem_bytes)) return 0;
  d->tile_m = e->tile_m;
  d->tile_n = e->tile_n;
  d->tile_k = d->k < e->tile_k ? (int)d->k : e->tile_k;
  d->reg_m = e->reg_m;
  d->reg_n = e->reg_n;
  return 1;
}

int mlg_gemm_tuning_apply_mma(const mlg_gemm_tuning *t, const kt_matmul_desc *d) {
  if (!t) return 0;
  mlg_gemm_class c = mlg_gemm_class_of(d->m, d->n);
  kt_mma_config cfg;
  if (c == MLG_GEMM_NO_CLASS || kt_matmul_mma_config(t->mma[c].config, &cfg) != 0) return 0;
  int64_t limit = d->local_mem_bytes > 0 && d->local_mem_bytes < 48 * 1024 ? d->local_mem_bytes : 48 * 1024;
  return kt_mma_config_local_bytes(&cfg, d->a_norm) <= limit ? t->mma[c].config : 0;
}

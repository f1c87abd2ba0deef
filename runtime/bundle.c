/* bundle.c — the .mlgb reader, writer and validator. Layout: docs/bundle.md.
 *
 * The reader never trusts a byte: it checks the header, the checksum, then every section's
 * bounds, then decodes into the in-memory form and runs the same invariant check the writer
 * runs before serializing (bundle_validate). Every read from the file goes through a bounds
 * check done before it, with overflow-safe arithmetic (a <= n && b <= n - a, never a + b <= n). */
#include "bundle.h"

#include "dtype.h"
#include "file_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- on-disk constants (version 7) ---- */

enum {
  HDR_FIXED = 48,            /* magic .. required features, before the section table */
  SECTION_ENTRY = 24,        /* u32 id, u32 count, u64 offset, u64 size */
  N_SECTIONS = 11,
  HDR_SIZE = HDR_FIXED + N_SECTIONS * SECTION_ENTRY, /* 312 */
  OFF_CHECKSUM = 24,
  OFF_FEATURES = 40,         /* u64 required_features (version 1: reserved, 0) */
  SECTION_ALIGN = 8,
  WEIGHTS_ALIGN = 64,
  TENSOR_REC = 104,
  MODULE_REC = 24,
  KERNEL_REC = 40,
  ARG_REC = 4,
  DISPATCH_REC = 56,
  PLAN_REC = 8 + 8 * MLGB_N_REGIONS, /* 48 */
  META_REC = 16,
  TRAIN_REC = 16,
  MAX_LOCAL_ITEMS = 1024,
  MAX_PARAMS = 4096,         /* buffer parameters per kernel */
  MIN_ALIGNMENT = 4,
  MAX_ALIGNMENT = 65536,
};

#define FLAG_HAS_PARAMS 1u
#define MAX_REGION_SIZE ((uint64_t)1 << 48)
#define SPIRV_MAGIC 0x07230203u

enum {
  SEC_STRINGS, SEC_TENSORS, SEC_MODULES, SEC_CODE, SEC_KERNELS, SEC_ARGS, SEC_DISPATCHES,
  SEC_PLAN, SEC_META, SEC_WEIGHTS, SEC_TRAIN
};

static const char *const section_names[N_SECTIONS] = {
  "string", "tensor", "module", "code", "kernel", "argument", "dispatch", "plan", "metadata",
  "weights", "train"
};
/* Bytes per entry; the entry count times this must equal the section size. 0: a byte section
 * (strings, code, weights), whose count field is 0 and whose size is free. */
static const uint32_t section_rec[N_SECTIONS] = {
  0, TENSOR_REC, MODULE_REC, 0, KERNEL_REC, ARG_REC, DISPATCH_REC, PLAN_REC, META_REC, 0, TRAIN_REC
};

static const char *const region_names[MLGB_N_REGIONS] = { "weights", "io", "arena", "params", "state" };

/* ---- little helpers ---- */

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/* FNV-1a 64 of the whole file, with the 8 checksum bytes read as zero. */
/* Only called with n >= HDR_SIZE. */
static uint64_t bundle_checksum(const uint8_t *p, size_t n) {
  static const uint8_t zeros[8];
  uint64_t h = mlg_fnv1a(MLG_FNV_SEED, p, OFF_CHECKSUM);
  h = mlg_fnv1a(h, zeros, 8);
  return mlg_fnv1a(h, p + OFF_CHECKSUM + 8, n - OFF_CHECKSUM - 8);
}

void mlgb_seal(uint8_t *data, size_t size) {
  if (size >= HDR_SIZE) put_u64(data + OFF_CHECKSUM, bundle_checksum(data, size));
}

/* A name for messages: quoted, at most 48 characters, non-printable bytes shown as '?'. */
static const char *show(const char *s, char buf[64]) {
  size_t j = 0;
  buf[j++] = '\'';
  for (size_t i = 0; s && s[i] && j < 52; i++)
    buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  if (s && strlen(s) > 50) { buf[j++] = '.'; buf[j++] = '.'; buf[j++] = '.'; }
  buf[j++] = '\'';
  buf[j] = '\0';
  return buf;
}

static int is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

static const char *role_name(uint32_t role) {
  static const char *const names[] = { "input", "output", "param", "const", "intermediate", "state" };
  return role <= MLGB_ROLE_STATE ? names[role] : "?";
}

/* The region a role must live in: the runtime binds parameters and constants in the weights
 * region (trained params in the params region), optimizer state in the state region, and copies
 * inputs and outputs through the io region. Intermediates may be anywhere: a view (reshape)
 * shares the bytes of an input or a weight. */
static int role_region_ok(uint32_t role, uint32_t region, uint32_t *out_expected) {
  switch (role) {
  case MLGB_ROLE_INPUT: case MLGB_ROLE_OUTPUT: *out_expected = MLGB_REGION_IO; break;
  case MLGB_ROLE_PARAM:
    *out_expected = region == MLGB_REGION_PARAMS ? MLGB_REGION_PARAMS : MLGB_REGION_WEIGHTS;
    break;
  case MLGB_ROLE_CONST: *out_expected = MLGB_REGION_WEIGHTS; break;
  case MLGB_ROLE_STATE: *out_expected = MLGB_REGION_STATE; break;
  default: *out_expected = region; break;
  }
  return region == *out_expected;
}

/* ---- invariants shared by reader and writer ---- */

static int cmp_name_index(const void *a, const void *b, const mlgb_tensor *t) {
  return strcmp(t[*(const uint32_t *)a].name, t[*(const uint32_t *)b].name);
}

/* Duplicate names: sort indices by name (O(n log n); counts are bounded only by file size). */
static int check_unique_names(const mlgb_bundle *b, const char *what, char *err, size_t err_size) {
  if (b->n_tensors < 2) return 0;
  uint32_t *idx = malloc((size_t)b->n_tensors * sizeof *idx);
  if (!idx) return mlg_errorf(err, err_size, "out of memory checking %u tensor names", b->n_tensors);
  for (uint32_t i = 0; i < b->n_tensors; i++) idx[i] = i;
  /* A bottom-up merge sort: qsort has no context argument, and a global would not be reentrant. */
  uint32_t *tmp = malloc((size_t)b->n_tensors * sizeof *tmp);
  if (!tmp) { free(idx); return mlg_errorf(err, err_size, "out of memory checking tensor names"); }
  for (uint32_t width = 1; width < b->n_tensors; width *= 2) {
    for (uint32_t lo = 0; lo < b->n_tensors; lo += 2 * width) {
      uint32_t mid = lo + width < b->n_tensors ? lo + width : b->n_tensors;
      uint32_t hi = mid + width < b->n_tensors ? mid + width : b->n_tensors;
      uint32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        tmp[k++] = cmp_name_index(&idx[j], &idx[i], b->tensors) < 0 ? idx[j++] : idx[i++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    uint32_t *swap = idx; idx = tmp; tmp = swap;
  }
  free(tmp);
  for (uint32_t k = 1; k < b->n_tensors; k++) {
    if (strcmp(b->tensors[idx[k - 1]].name, b->tensors[idx[k]].name) == 0) {
      uint32_t i = idx[k - 1] < idx[k] ? idx[k - 1] : idx[k];
      uint32_t j = idx[k - 1] < idx[k] ? idx[k] : idx[k - 1];
      char nb[64];
      mlg_errorf(err, err_size, "%s: tensors %u and %u have the same name %s", what, i, j,
           show(b->tensors[i].name, nb));
      free(idx);
      return -1;
    }
  }
  free(idx);
  return 0;
}

_Static_assert((int)MLGB_F32 == MLG_DT_F32 && (int)MLGB_I32 == MLG_DT_I32 &&
                   (int)MLGB_BOOL == MLG_DT_BOOL && (int)MLGB_I64 == MLG_DT_I64 &&
                   (int)MLGB_F16 == MLG_DT_F16 && (int)MLGB_I8 == MLG_DT_I8 &&
                   (int)MLGB_U8 == MLG_DT_U8,
               "bundle dtypes are numbered as dtype.h");

static int check_tensor(const mlgb_bundle *b, uint32_t i, const char *what, char *err, size_t err_size) {
  const mlgb_tensor *t = &b->tensors[i];
  char nb[64];
  if (!t->name || !t->name[0]) return mlg_errorf(err, err_size, "%s: tensor %u has an empty name", what, i);
  const char *name = show(t->name, nb);
  const mlg_dtype_info *dt = mlg_dtype_get(t->dtype);
  if (!dt) return mlg_errorf(err, err_size, "%s: tensor %u %s has unknown dtype %u", what, i, name, t->dtype);
  if (t->role > MLGB_ROLE_STATE)
    return mlg_errorf(err, err_size, "%s: tensor %u %s has unknown role %u", what, i, name, t->role);
  if (t->region >= MLGB_N_REGIONS)
    return mlg_errorf(err, err_size, "%s: tensor %u %s has region %u (must be < %d)", what, i, name,
                t->region, MLGB_N_REGIONS);
  uint32_t expected;
  if (!role_region_ok(t->role, t->region, &expected))
    return mlg_errorf(err, err_size, "%s: tensor %u %s is a %s tensor in the %s region (expected %s)",
                what, i, name, role_name(t->role), region_names[t->region], region_names[expected]);
  if (t->rank > MLGB_MAX_RANK)
    return mlg_errorf(err, err_size, "%s: tensor %u %s has rank %u (at most %d)", what, i, name, t->rank,
                MLGB_MAX_RANK);
  uint64_t numel = 1;
  for (uint32_t d = 0; d < MLGB_MAX_RANK; d++) {
    if (d >= t->rank) {
      if (t->dims[d] != 0)
        return mlg_errorf(err, err_size, "%s: tensor %u %s: unused dimension %u is %lld (must be 0)",
                    what, i, name, d, (long long)t->dims[d]);
      continue;
    }
    if (t->dims[d] < 1)
      return mlg_errorf(err, err_size, "%s: tensor %u %s: dimension %u is %lld (must be >= 1)", what, i,
                  name, d, (long long)t->dims[d]);
    if ((uint64_t)t->dims[d] > (UINT64_MAX / 4) / numel)
      return mlg_errorf(err, err_size, "%s: tensor %u %s: element count overflows at dimension %u", what,
                  i, name, d);
    numel *= (uint64_t)t->dims[d];
  }
  uint64_t need = numel * (uint64_t)dt->storage_bytes;
  if (t->size != need)
    return mlg_errorf(err, err_size, "%s: tensor %u %s has size %llu bytes, its shape needs %llu", what, i,
                name, (unsigned long long)t->size, (unsigned long long)need);
  if (t->offset % b->alignment != 0)
    return mlg_errorf(err, err_size, "%s: tensor %u %s offset %llu is not a multiple of the alignment %u",
                what, i, name, (unsigned long long)t->offset, b->alignment);
  uint64_t rsize = b->region_size[t->region];
  if (t->offset > rsize || t->size > rsize - t->offset)
    return mlg_errorf(err, err_size, "%s: tensor %u %s offset %llu + size %llu exceeds %s region (%llu bytes)",
                what, i, name, (unsigned long long)t->offset, (unsigned long long)t->size,
                region_names[t->region], (unsigned long long)rsize);
  return 0;
}

static int check_module(const mlgb_module *m, uint32_t i, const char *what, char *err, size_t err_size) {
  if (m->kind != MLGB_MODULE_OPENCL_C && m->kind != MLGB_MODULE_SPIRV)
    return mlg_errorf(err, err_size, "%s: module %u has unknown kind %u", what, i, m->kind);
  if (m->size == 0 || !m->data) return mlg_errorf(err, err_size, "%s: module %u is empty", what, i);
  if (m->kind == MLGB_MODULE_OPENCL_C) {
    /* Printable ASCII and line breaks only: what mlgc writes, and all a driver's compiler is
     * given (PoCL's clang crashed on a control byte). */
    uint64_t line = 1;
    for (uint64_t k = 0; k < m->size; k++) {
      uint8_t c = m->data[k];
      if (c == '\n') line++;
      if ((c < 0x20 || c > 0x7e) && c != '\n' && c != '\t' && c != '\r')
        return mlg_errorf(err, err_size, "%s: module %u (OpenCL C) has byte 0x%02x at offset %llu (line %llu); "
                          "OpenCL C sources are printable ASCII text", what, i, c, (unsigned long long)k,
                          (unsigned long long)line);
    }
  } else {
    if (m->size % 4 != 0 || m->size < 20)
      return mlg_errorf(err, err_size, "%s: module %u (SPIR-V) has %llu bytes, not a whole SPIR-V module",
                  what, i, (unsigned long long)m->size);
    if (get_u32(m->data) != SPIRV_MAGIC)
      return mlg_errorf(err, err_size, "%s: module %u (SPIR-V) lacks the SPIR-V magic number", what, i);
  }
  return 0;
}

static int check_kernel(const mlgb_bundle *b, uint32_t i, const char *what, char *err, size_t err_size) {
  const mlgb_kernel *k = &b->kernels[i];
  char nb[64];
  if (!k->name || !k->name[0]) return mlg_errorf(err, err_size, "%s: kernel %u has an empty name", what, i);
  const char *name = show(k->name, nb);
  if (k->module >= b->n_modules)
    return mlg_errorf(err, err_size, "%s: kernel %u %s refers to module %u, bundle has %u", what, i, name,
                k->module, b->n_modules);
  uint64_t items = 1;
  for (int d = 0; d < 3; d++) {
    if (k->local_size[d] < 1)
      return mlg_errorf(err, err_size, "%s: kernel %u %s has local size 0 in dimension %d", what, i, name, d);
    items *= k->local_size[d];
    if (items > MAX_LOCAL_ITEMS)
      return mlg_errorf(err, err_size, "%s: kernel %u %s local size %ux%ux%u exceeds %d work-items", what,
                  i, name, k->local_size[0], k->local_size[1], k->local_size[2], MAX_LOCAL_ITEMS);
  }
  if (k->n_params > MAX_PARAMS)
    return mlg_errorf(err, err_size, "%s: kernel %u %s has %u buffer parameters (at most %d)", what, i, name,
                k->n_params, MAX_PARAMS);
  if (k->requires & ~MLGB_KNOWN_DEVICE_FEATURES)
    return mlg_errorf(err, err_size, "%s: kernel %u %s requires unknown device features 0x%x; recompile with "
                "this mlgc", what, i, name, k->requires & ~MLGB_KNOWN_DEVICE_FEATURES);
  if (k->fallback == 0) return 0;
  uint32_t fb = k->fallback - 1;
  if (fb >= b->n_kernels)
    return mlg_errorf(err, err_size, "%s: kernel %u %s falls back to kernel %u, bundle has %u", what, i, name,
                fb, b->n_kernels);
  /* Strictly fewer requirements: every chain ends, and no kernel is its own fallback. */
  const mlgb_kernel *f = &b->kernels[fb];
  if ((f->requires & ~k->requires) || f->requires == k->requires)
    return mlg_errorf(err, err_size, "%s: kernel %u %s falls back to kernel %u, which does not require strictly "
                "fewer device features (0x%x vs 0x%x)", what, i, name, fb, f->requires, k->requires);
  /* The local size may differ: a dispatch gives work-group counts, each kernel its own size. */
  if (f->n_params != k->n_params)
    return mlg_errorf(err, err_size, "%s: kernel %u %s and its fallback kernel %u differ in buffer parameters "
                "(a dispatch runs either)", what, i, name, fb);
  return 0;
}

uint32_t mlgb_choose_kernel(const mlgb_bundle *b, uint32_t k, uint32_t device_features) {
  /* Each step strictly shrinks `requires` (bundle_validate): at most 33 steps. */
  while (k < b->n_kernels && (b->kernels[k].requires & ~device_features)) k = b->kernels[k].fallback - 1;
  return k < b->n_kernels ? k : UINT32_MAX;
}

static const struct { uint32_t bit; const char *name; } device_feature_names[] = {
  {MLGB_DEVICE_INT_DOT, "intdot"},
  {MLGB_DEVICE_PTX_MMA, "ptxmma"},
  {MLGB_DEVICE_COOPMAT_NV, "coopmat"},
  {MLGB_DEVICE_PTX_WGMMA, "ptxwgmma"},
};

const char *mlgb_device_feature_names(uint32_t features, char *buf, size_t size) {
  size_t at = 0;
  if (size) buf[0] = '\0';
  for (size_t i = 0; i < sizeof device_feature_names / sizeof device_feature_names[0]; i++)
    if ((features & device_feature_names[i].bit) && at < size) {
      int n = snprintf(buf + at, size - at, "%s%s", at ? "," : "", device_feature_names[i].name);
      at += n > 0 ? (size_t)n : 0;
    }
  return buf;
}

uint32_t mlgb_device_feature_by_name(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof device_feature_names / sizeof device_feature_names[0]; i++)
    if (strlen(device_feature_names[i].name) == len && memcmp(device_feature_names[i].name, name, len) == 0)
      return device_feature_names[i].bit;
  return 0;
}

int mlgb_kernel_used(const mlgb_bundle *b, uint32_t k) {
  for (uint32_t i = 0; i < b->n_dispatches; i++)
    if (b->dispatches[i].kernel == k) return 1;
  return 0;
}

int mlgb_program_used(const mlgb_bundle *b, uint32_t program) {
  for (uint32_t i = 0; i < b->n_dispatches; i++)
    if (b->dispatches[i].programs & program) return 1;
  return 0;
}

int mlgb_module_used(const mlgb_bundle *b, uint32_t module) {
  for (uint32_t i = 0; i < b->n_dispatches; i++)
    if (b->dispatches[i].kernel < b->n_kernels && b->kernels[b->dispatches[i].kernel].module == module) return 1;
  return 0;
}

static int check_dispatch(const mlgb_bundle *b, uint32_t i, const char *what, char *err, size_t err_size) {
  const mlgb_dispatch *dp = &b->dispatches[i];
  char nb[64];
  if (!dp->name) return mlg_errorf(err, err_size, "%s: dispatch %u has no name", what, i);
  if (dp->kernel >= b->n_kernels)
    return mlg_errorf(err, err_size, "%s: dispatch %u refers to kernel %u, bundle has %u", what, i,
                dp->kernel, b->n_kernels);
  const mlgb_kernel *k = &b->kernels[dp->kernel];
  for (int d = 0; d < 3; d++) {
    if (dp->groups[d] < 1)
      return mlg_errorf(err, err_size, "%s: dispatch %u (kernel %s) has 0 groups in dimension %d", what, i,
                  show(k->name, nb), d);
    if ((uint64_t)dp->groups[d] * k->local_size[d] > UINT32_MAX)
      return mlg_errorf(err, err_size, "%s: dispatch %u (kernel %s) global size %u x %u overflows in "
                  "dimension %d", what, i, show(k->name, nb), dp->groups[d], k->local_size[d], d);
  }
  if (dp->n_args != k->n_params)
    return mlg_errorf(err, err_size, "%s: dispatch %u binds %u tensors, but kernel %s has %u buffer parameters",
                what, i, dp->n_args, show(k->name, nb), k->n_params);
  if (dp->n_args > 0 && !dp->args)
    return mlg_errorf(err, err_size, "%s: dispatch %u has %u arguments but no argument list", what, i, dp->n_args);
  for (uint32_t a = 0; a < dp->n_args; a++)
    if (dp->args[a] >= b->n_tensors)
      return mlg_errorf(err, err_size, "%s: dispatch %u (kernel %s) argument %u is tensor %u, bundle has %u",
                  what, i, show(k->name, nb), a, dp->args[a], b->n_tensors);
  uint32_t known = MLGB_PROGRAM_RUN | (b->has_train ? MLGB_PROGRAM_TRAIN : 0);
  if (dp->programs != MLGB_PROGRAM_PREPARE && (dp->programs == 0 || (dp->programs & ~known)))
    return mlg_errorf(err, err_size, "%s: dispatch %u (kernel %s) belongs to programs 0x%x (%s)", what, i,
                show(k->name, nb), dp->programs,
                b->has_train ? "1 run, 2 train, 3 both, or 4 prepare alone"
                             : "1 run or 4 prepare: the bundle has no train step");
  /* The preparation computes from the weights into the arena, once: it binds nothing else. */
  for (uint32_t a = 0; dp->programs == MLGB_PROGRAM_PREPARE && a < dp->n_args; a++) {
    const mlgb_tensor *t = &b->tensors[dp->args[a]];
    if (t->region != MLGB_REGION_WEIGHTS && t->region != MLGB_REGION_ARENA)
      return mlg_errorf(err, err_size, "%s: dispatch %u (kernel %s) prepares from tensor %u in the %s region "
                        "(the preparation binds weights and arena tensors only)", what, i,
                        show(k->name, nb), dp->args[a], region_names[t->region]);
  }
  return 0;
}

/* The train step: its loss an f32 scalar in the io region; the read-write regions only with it. */
static int check_train(const mlgb_bundle *b, const char *what, char *err, size_t err_size) {
  if (!b->has_train) {
    for (int r = MLGB_REGION_PARAMS; r <= MLGB_REGION_STATE; r++)
      if (b->region_size[r] != 0)
        return mlg_errorf(err, err_size, "%s: the %s region has %llu bytes, but the bundle has no train step",
                    what, region_names[r], (unsigned long long)b->region_size[r]);
    return 0;
  }
  if (!b->optimizer || !b->optimizer[0])
    return mlg_errorf(err, err_size, "%s: the train step names no optimizer", what);
  if (b->train_loss >= b->n_tensors)
    return mlg_errorf(err, err_size, "%s: the train step's loss is tensor %u, bundle has %u", what,
                b->train_loss, b->n_tensors);
  const mlgb_tensor *t = &b->tensors[b->train_loss];
  char nb[64];
  if (t->dtype != MLGB_F32 || t->rank != 0 || t->region != MLGB_REGION_IO ||
      (t->role != MLGB_ROLE_OUTPUT && t->role != MLGB_ROLE_INTERMEDIATE))
    return mlg_errorf(err, err_size, "%s: the train step's loss %s is not an f32 scalar output in the io region",
                what, show(t->name, nb));
  return 0;
}

/* A tensor whose bytes the weights section carries: every const, and every param (in the
 * weights or the params region) of a bundle built with its params. */
static int embedded(const mlgb_bundle *b, const mlgb_tensor *t) {
  return (t->role == MLGB_ROLE_CONST && t->region == MLGB_REGION_WEIGHTS) ||
         (t->role == MLGB_ROLE_PARAM && b->has_params &&
          (t->region == MLGB_REGION_WEIGHTS || t->region == MLGB_REGION_PARAMS));
}

uint64_t mlgb_weights_size(const mlgb_bundle *b) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < b->n_tensors; i++)
    if (embedded(b, &b->tensors[i])) n += b->tensors[i].size;
  return n;
}

void mlgb_weights_unpack(const mlgb_bundle *b, uint8_t *const images[MLGB_N_REGIONS]) {
  uint64_t at = 0;
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    const mlgb_tensor *t = &b->tensors[i];
    if (!embedded(b, t)) continue;
    if (images[t->region]) memcpy(images[t->region] + t->offset, b->weights + at, (size_t)t->size);
    at += t->size;
  }
}

uint64_t mlgb_element_offset(const mlgb_tensor *t) {
  const mlg_dtype_info *dt = mlg_dtype_get(t->dtype);
  return t->offset / (uint64_t)(dt ? dt->storage_bytes : 4);
}

void mlgb_weights_pack(const mlgb_bundle *b, const uint8_t *const images[MLGB_N_REGIONS], uint8_t *out) {
  uint64_t at = 0;
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    const mlgb_tensor *t = &b->tensors[i];
    if (!embedded(b, t)) continue;
    if (images[t->region]) memcpy(out + at, images[t->region] + t->offset, (size_t)t->size);
    at += t->size;
  }
}

/* Every invariant of the in-memory form. `what` prefixes messages ("bundle corrupt"). */
static int bundle_validate(const mlgb_bundle *b, const char *what, char *err, size_t err_size) {
  if (b->target != MLGB_TARGET_OPENCL && b->target != MLGB_TARGET_VULKAN)
    return mlg_errorf(err, err_size, "%s: unknown target %u (1 = opencl, 2 = vulkan)", what, b->target);
  if (b->required_features & ~MLGB_KNOWN_FEATURES)
    return mlg_errorf(err, err_size, "%s: requires unknown features 0x%llx; recompile with this mlgc", what,
                (unsigned long long)(b->required_features & ~MLGB_KNOWN_FEATURES));
  if (b->target == MLGB_TARGET_OPENCL && (b->required_features & MLGB_FEATURE_SUBGROUP_ARITH))
    return mlg_errorf(err, err_size, "%s: an OpenCL bundle cannot require subgroup operations", what);
  if (!is_pow2(b->alignment) || b->alignment < MIN_ALIGNMENT || b->alignment > MAX_ALIGNMENT)
    return mlg_errorf(err, err_size, "%s: alignment %u is not a power of two between %d and %d", what,
                b->alignment, MIN_ALIGNMENT, MAX_ALIGNMENT);
  for (int r = 0; r < MLGB_N_REGIONS; r++) {
    if (b->region_size[r] > MAX_REGION_SIZE)
      return mlg_errorf(err, err_size, "%s: %s region size %llu exceeds the limit of 2^48 bytes", what,
                  region_names[r], (unsigned long long)b->region_size[r]);
    /* Kernels may read 1- and 2-byte elements as whole 32-bit words (the GLSL printer does). */
    if (b->region_size[r] % 4 != 0)
      return mlg_errorf(err, err_size, "%s: %s region size %llu is not a multiple of 4 bytes", what,
                  region_names[r], (unsigned long long)b->region_size[r]);
  }
  if ((b->n_tensors && !b->tensors) || (b->n_modules && !b->modules) ||
      (b->n_kernels && !b->kernels) || (b->n_dispatches && !b->dispatches))
    return mlg_errorf(err, err_size, "%s: a table has a count but no entries", what);
  for (uint32_t i = 0; i < b->n_tensors; i++)
    if (check_tensor(b, i, what, err, err_size)) return -1;
  if (check_unique_names(b, what, err, err_size)) return -1;
  for (uint32_t i = 0; i < b->n_modules; i++)
    if (check_module(&b->modules[i], i, what, err, err_size)) return -1;
  for (uint32_t i = 0; i < b->n_kernels; i++)
    if (check_kernel(b, i, what, err, err_size)) return -1;
  for (uint32_t i = 0; i < b->n_dispatches; i++)
    if (check_dispatch(b, i, what, err, err_size)) return -1;
  if (check_train(b, what, err, err_size)) return -1;
  uint64_t want = mlgb_weights_size(b);
  if (b->weights_size != want)
    return mlg_errorf(err, err_size, "%s: weights section has %llu bytes, but the %s it embeds take %llu", what,
                (unsigned long long)b->weights_size, b->has_params ? "params and consts" : "consts",
                (unsigned long long)want);
  if (want > 0 && !b->weights) return mlg_errorf(err, err_size, "%s: %llu bytes of weights but no data", what,
                                                 (unsigned long long)want);
  return 0;
}

/* ---- free ---- */

void mlgb_free(mlgb_bundle *b) {
  if (!b) return;
  free(b->model_name);
  free(b->producer);
  free(b->optimizer);
  if (b->tensors)
    for (uint32_t i = 0; i < b->n_tensors; i++) free(b->tensors[i].name);
  free(b->tensors);
  if (b->modules)
    for (uint32_t i = 0; i < b->n_modules; i++) free(b->modules[i].data);
  free(b->modules);
  if (b->kernels)
    for (uint32_t i = 0; i < b->n_kernels; i++) free(b->kernels[i].name);
  free(b->kernels);
  if (b->dispatches)
    for (uint32_t i = 0; i < b->n_dispatches; i++) {
      free(b->dispatches[i].name);
      free(b->dispatches[i].args);
    }
  free(b->dispatches);
  free(b->weights);
  free(b);
}

/* ---- reader ---- */

typedef struct section {
  uint32_t count;
  uint64_t offset, size;
} section;

typedef struct reader {
  const uint8_t *p;
  size_t n;
  section sec[N_SECTIONS];
  char *err;
  size_t err_size;
} reader;

/* Copies string (off, len) of the string table after checking bounds and NULs. `where` names the
 * referrer for messages ("tensor 3 name"). */
static int read_string(reader *r, uint32_t off, uint32_t len, const char *where, char **out) {
  const section *s = &r->sec[SEC_STRINGS];
  *out = NULL;
  if (off > s->size || len > s->size - off)
    return mlg_errorf(r->err, r->err_size, "bundle corrupt: %s (offset %u, length %u) lies outside the "
                "string table (%llu bytes)", where, off, len, (unsigned long long)s->size);
  const uint8_t *src = r->p + s->offset + off;
  if (memchr(src, 0, len))
    return mlg_errorf(r->err, r->err_size, "bundle corrupt: %s contains a NUL byte", where);
  char *dst = malloc((size_t)len + 1);
  if (!dst) return mlg_errorf(r->err, r->err_size, "out of memory reading %s", where);
  memcpy(dst, src, len);
  dst[len] = '\0';
  *out = dst;
  return 0;
}

static int read_header(reader *r, mlgb_bundle *b) {
  const uint8_t *p = r->p;
  size_t n = r->n;
  char *err = r->err;
  size_t es = r->err_size;
  if (n < 8)
    return mlg_errorf(err, es, "bundle truncated: header needs %d bytes, file has %zu", HDR_SIZE, n);
  if (memcmp(p, MLGB_MAGIC, 4) != 0) {
    char shown[5];
    for (int i = 0; i < 4; i++) shown[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    shown[4] = '\0';
    return mlg_errorf(err, es, "not a bundle: magic is '%s' (expected 'MLGB')", shown);
  }
  uint32_t version = get_u32(p + 4);
  if (version != MLGB_VERSION)
    return mlg_errorf(err, es, "bundle version %u not supported by this runtime (expects %d); "
                "recompile with this mlgc", version, MLGB_VERSION);
  if (n < HDR_SIZE)
    return mlg_errorf(err, es, "bundle truncated: header needs %d bytes, file has %zu", HDR_SIZE, n);
  uint64_t file_size = get_u64(p + 16);
  if (file_size > n)
    return mlg_errorf(err, es, "bundle truncated: header says the file has %llu bytes, it has %zu",
                (unsigned long long)file_size, n);
  if (file_size < n)
    return mlg_errorf(err, es, "bundle corrupt: trailing data (%llu bytes) after the %llu bytes the "
                "header declares", (unsigned long long)(n - file_size), (unsigned long long)file_size);
  uint64_t stored = get_u64(p + OFF_CHECKSUM), computed = bundle_checksum(p, n);
  if (stored != computed)
    return mlg_errorf(err, es, "bundle corrupt: checksum mismatch (stored %016llx, computed %016llx); "
                "the file was damaged after it was written", (unsigned long long)stored,
                (unsigned long long)computed);
  b->target = get_u32(p + 8);
  if (b->target != MLGB_TARGET_OPENCL && b->target != MLGB_TARGET_VULKAN)
    return mlg_errorf(err, es, "bundle corrupt: unknown target %u (1 = opencl, 2 = vulkan)", b->target);
  uint32_t flags = get_u32(p + 12);
  if (flags & ~FLAG_HAS_PARAMS)
    return mlg_errorf(err, es, "bundle corrupt: unknown flags 0x%x", flags & ~FLAG_HAS_PARAMS);
  b->has_params = (flags & FLAG_HAS_PARAMS) != 0;
  uint32_t hdr_size = get_u32(p + 32), n_sections = get_u32(p + 36);
  if (hdr_size != HDR_SIZE || n_sections != N_SECTIONS)
    return mlg_errorf(err, es, "bundle corrupt: header size %u with %u sections (version 7 has %d with %d)",
                hdr_size, n_sections, HDR_SIZE, N_SECTIONS);
  b->required_features = get_u64(p + OFF_FEATURES); /* checked with the tables (bundle_validate) */

  uint64_t prev_end = HDR_SIZE;
  for (uint32_t i = 0; i < N_SECTIONS; i++) {
    const uint8_t *e = p + HDR_FIXED + (size_t)i * SECTION_ENTRY;
    section *s = &r->sec[i];
    const char *nm = section_names[i];
    uint32_t id = get_u32(e);
    s->count = get_u32(e + 4);
    s->offset = get_u64(e + 8);
    s->size = get_u64(e + 16);
    if (id != i)
      return mlg_errorf(err, es, "bundle corrupt: section table entry %u has id %u (expected %u)", i, id, i);
    if (section_rec[i] == 0 && s->count != 0)
      return mlg_errorf(err, es, "bundle corrupt: %s section has count %u (must be 0)", nm, s->count);
    if (section_rec[i] != 0 && (uint64_t)s->count * section_rec[i] != s->size)
      return mlg_errorf(err, es, "bundle corrupt: %s section has %u entries of %u bytes but size %llu",
                  nm, s->count, section_rec[i], (unsigned long long)s->size);
    if (s->offset > n || s->size > n - s->offset)
      return mlg_errorf(err, es, "bundle corrupt: %s section needs %llu bytes at offset %llu, file has %zu",
                  nm, (unsigned long long)s->size, (unsigned long long)s->offset, n);
    uint32_t align = i == SEC_WEIGHTS ? WEIGHTS_ALIGN : SECTION_ALIGN;
    if (s->offset % align != 0)
      return mlg_errorf(err, es, "bundle corrupt: %s section offset %llu is not a multiple of %u", nm,
                  (unsigned long long)s->offset, align);
    if (s->offset < prev_end)
      return mlg_errorf(err, es, "bundle corrupt: %s section at offset %llu overlaps the data before it "
                  "(which ends at %llu)", nm, (unsigned long long)s->offset,
                  (unsigned long long)prev_end);
    for (uint64_t k = prev_end; k < s->offset; k++)
      if (p[k] != 0)
        return mlg_errorf(err, es, "bundle corrupt: nonzero padding byte at offset %llu", (unsigned long long)k);
    prev_end = s->offset + s->size;
  }
  if (prev_end != n)
    return mlg_errorf(err, es, "bundle corrupt: %llu bytes after the last section", (unsigned long long)(n - prev_end));
  if (r->sec[SEC_PLAN].count != 1 || r->sec[SEC_META].count != 1)
    return mlg_errorf(err, es, "bundle corrupt: plan and metadata sections must have exactly 1 entry "
                "(have %u and %u)", r->sec[SEC_PLAN].count, r->sec[SEC_META].count);
  if (r->sec[SEC_TRAIN].count > 1)
    return mlg_errorf(err, es, "bundle corrupt: train section has %u entries (at most 1)", r->sec[SEC_TRAIN].count);
  return 0;
}

static int read_tables(reader *r, mlgb_bundle *b) {
  const uint8_t *p = r->p;
  char *err = r->err;
  size_t es = r->err_size;
  char where[96];

  const uint8_t *plan = p + r->sec[SEC_PLAN].offset;
  b->alignment = get_u32(plan);
  if (get_u32(plan + 4) != 0) return mlg_errorf(err, es, "bundle corrupt: reserved plan field is not 0");
  for (int k = 0; k < MLGB_N_REGIONS; k++) b->region_size[k] = get_u64(plan + 8 + 8 * k);

  const uint8_t *meta = p + r->sec[SEC_META].offset;
  if (read_string(r, get_u32(meta), get_u32(meta + 4), "model name", &b->model_name)) return -1;
  if (read_string(r, get_u32(meta + 8), get_u32(meta + 12), "producer", &b->producer)) return -1;
  if (r->sec[SEC_TRAIN].count == 1) {
    const uint8_t *tr = p + r->sec[SEC_TRAIN].offset;
    b->has_train = 1;
    b->train_loss = get_u32(tr);
    if (get_u32(tr + 4) != 0) return mlg_errorf(err, es, "bundle corrupt: reserved train field is not 0");
    if (read_string(r, get_u32(tr + 8), get_u32(tr + 12), "optimizer", &b->optimizer)) return -1;
  }

  /* Tables: the counts were checked against section sizes, which lie inside the file, so each
   * allocation is bounded by the file length. */
  b->n_tensors = r->sec[SEC_TENSORS].count;
  if (b->n_tensors && !(b->tensors = calloc(b->n_tensors, sizeof *b->tensors)))
    return mlg_errorf(err, es, "out of memory for %u tensors", b->n_tensors);
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    const uint8_t *e = p + r->sec[SEC_TENSORS].offset + (size_t)i * TENSOR_REC;
    mlgb_tensor *t = &b->tensors[i];
    snprintf(where, sizeof where, "tensor %u name", i);
    if (read_string(r, get_u32(e), get_u32(e + 4), where, &t->name)) return -1;
    t->dtype = get_u32(e + 8);
    t->role = get_u32(e + 12);
    t->region = get_u32(e + 16);
    t->rank = get_u32(e + 20);
    t->offset = get_u64(e + 24);
    t->size = get_u64(e + 32);
    for (int d = 0; d < MLGB_MAX_RANK; d++) t->dims[d] = (int64_t)get_u64(e + 40 + 8 * d);
  }

  const section *code = &r->sec[SEC_CODE];
  b->n_modules = r->sec[SEC_MODULES].count;
  if (b->n_modules && !(b->modules = calloc(b->n_modules, sizeof *b->modules)))
    return mlg_errorf(err, es, "out of memory for %u modules", b->n_modules);
  uint64_t code_end = 0;
  for (uint32_t i = 0; i < b->n_modules; i++) {
    const uint8_t *e = p + r->sec[SEC_MODULES].offset + (size_t)i * MODULE_REC;
    mlgb_module *m = &b->modules[i];
    m->kind = get_u32(e);
    if (get_u32(e + 4) != 0) return mlg_errorf(err, es, "bundle corrupt: module %u reserved field is not 0", i);
    uint64_t off = get_u64(e + 8);
    m->size = get_u64(e + 16);
    if (off > code->size || m->size > code->size - off)
      return mlg_errorf(err, es, "bundle corrupt: module %u code (%llu bytes at offset %llu) lies outside "
                  "the code section (%llu bytes)", i, (unsigned long long)m->size,
                  (unsigned long long)off, (unsigned long long)code->size);
    if (off != code_end)
      return mlg_errorf(err, es, "bundle corrupt: module %u code starts at %llu, expected %llu", i,
                  (unsigned long long)off, (unsigned long long)code_end);
    code_end = off + m->size;
    if (m->size) {
      if (!(m->data = malloc(m->size))) return mlg_errorf(err, es, "out of memory for module %u", i);
      memcpy(m->data, p + code->offset + off, m->size);
    }
  }
  if (code_end != code->size)
    return mlg_errorf(err, es, "bundle corrupt: code section has %llu bytes, modules use %llu",
                (unsigned long long)code->size, (unsigned long long)code_end);

  b->n_kernels = r->sec[SEC_KERNELS].count;
  if (b->n_kernels && !(b->kernels = calloc(b->n_kernels, sizeof *b->kernels)))
    return mlg_errorf(err, es, "out of memory for %u kernels", b->n_kernels);
  for (uint32_t i = 0; i < b->n_kernels; i++) {
    const uint8_t *e = p + r->sec[SEC_KERNELS].offset + (size_t)i * KERNEL_REC;
    mlgb_kernel *k = &b->kernels[i];
    snprintf(where, sizeof where, "kernel %u name", i);
    if (read_string(r, get_u32(e), get_u32(e + 4), where, &k->name)) return -1;
    k->module = get_u32(e + 8);
    for (int d = 0; d < 3; d++) k->local_size[d] = get_u32(e + 12 + 4 * d);
    k->n_params = get_u32(e + 24);
    k->requires = get_u32(e + 28); /* requires and fallback: checked with the tables (bundle_validate) */
    k->fallback = get_u32(e + 32);
    if (get_u32(e + 36) != 0) return mlg_errorf(err, es, "bundle corrupt: kernel %u reserved field is not 0", i);
  }

  const section *args = &r->sec[SEC_ARGS];
  b->n_dispatches = r->sec[SEC_DISPATCHES].count;
  if (b->n_dispatches && !(b->dispatches = calloc(b->n_dispatches, sizeof *b->dispatches)))
    return mlg_errorf(err, es, "out of memory for %u dispatches", b->n_dispatches);
  uint64_t next_arg = 0;
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const uint8_t *e = p + r->sec[SEC_DISPATCHES].offset + (size_t)i * DISPATCH_REC;
    mlgb_dispatch *dp = &b->dispatches[i];
    snprintf(where, sizeof where, "dispatch %u name", i);
    if (read_string(r, get_u32(e), get_u32(e + 4), where, &dp->name)) return -1;
    dp->kernel = get_u32(e + 8);
    for (int d = 0; d < 3; d++) dp->groups[d] = get_u32(e + 12 + 4 * d);
    uint32_t first = get_u32(e + 24);
    dp->n_args = get_u32(e + 28);
    dp->flops = get_u64(e + 32);
    dp->bytes = get_u64(e + 40);
    dp->programs = get_u32(e + 48);
    if (get_u32(e + 52) != 0)
      return mlg_errorf(err, es, "bundle corrupt: dispatch %u reserved field is not 0", i);
    if (first != next_arg || dp->n_args > args->count - first)
      return mlg_errorf(err, es, "bundle corrupt: dispatch %u arguments [%u, +%u) do not follow on at %llu "
                  "within the %u-entry argument table", i, first, dp->n_args,
                  (unsigned long long)next_arg, args->count);
    next_arg = (uint64_t)first + dp->n_args;
    if (dp->n_args) {
      if (!(dp->args = malloc((size_t)dp->n_args * sizeof *dp->args)))
        return mlg_errorf(err, es, "out of memory for dispatch %u arguments", i);
      for (uint32_t a = 0; a < dp->n_args; a++)
        dp->args[a] = get_u32(p + args->offset + ((size_t)first + a) * ARG_REC);
    }
  }
  if (next_arg != args->count)
    return mlg_errorf(err, es, "bundle corrupt: argument table has %u entries, dispatches use %llu",
                args->count, (unsigned long long)next_arg);

  return 0;
}

/* The weights section: the embedded tensors' bytes (bundle_validate checks its size). */
static int read_weights(reader *r, mlgb_bundle *b) {
  const section *w = &r->sec[SEC_WEIGHTS];
  b->weights_size = w->size;
  if (w->size == 0) return 0;
  if (!(b->weights = malloc((size_t)w->size)))
    return mlg_errorf(r->err, r->err_size, "out of memory for %llu bytes of weights", (unsigned long long)w->size);
  memcpy(b->weights, r->p + w->offset, (size_t)w->size);
  return 0;
}

int mlgb_read(const void *data, size_t size, mlgb_bundle **out_bundle, char *err, size_t err_size) {
  if (out_bundle) *out_bundle = NULL;
  if (err && err_size) err[0] = '\0';
  if (!out_bundle || (!data && size))
    return mlg_errorf(err, err_size, "mlgb_read: invalid arguments");
  mlgb_bundle *b = calloc(1, sizeof *b);
  if (!b) return mlg_errorf(err, err_size, "out of memory reading bundle");
  reader r = { .p = data, .n = size, .err = err, .err_size = err_size };
  if (read_header(&r, b) || read_tables(&r, b) || read_weights(&r, b) ||
      bundle_validate(b, "bundle corrupt", err, err_size)) {
    mlgb_free(b);
    return -1;
  }
  *out_bundle = b;
  return 0;
}

/* ---- writer ---- */

/* Each string of the bundle, in write order: model name, producer, tensor names, kernel names,
 * dispatch names. */
static int string_total(const mlgb_bundle *b, uint64_t *out_total, const char *what, char *err,
                        size_t err_size) {
  uint64_t total = 0;
  const char *strs[2] = { b->model_name, b->producer };
  for (int i = 0; i < 2; i++) {
    if (!strs[i]) return mlg_errorf(err, err_size, "%s: %s is NULL", what, i ? "producer" : "model name");
    total += strlen(strs[i]);
  }
  if (b->has_train) total += strlen(b->optimizer);
  for (uint32_t i = 0; i < b->n_tensors; i++) total += strlen(b->tensors[i].name);
  for (uint32_t i = 0; i < b->n_kernels; i++) total += strlen(b->kernels[i].name);
  for (uint32_t i = 0; i < b->n_dispatches; i++) total += strlen(b->dispatches[i].name);
  if (total > UINT32_MAX)
    return mlg_errorf(err, err_size, "%s: names take %llu bytes, more than the 4 GiB string table allows",
                what, (unsigned long long)total);
  *out_total = total;
  return 0;
}

typedef struct writer {
  uint8_t *p;
  uint64_t str_base, str_pos;
} writer;

static void write_string(writer *w, const char *s, uint8_t *ref) {
  size_t len = strlen(s);
  memcpy(w->p + w->str_base + w->str_pos, s, len);
  put_u32(ref, (uint32_t)w->str_pos);
  put_u32(ref + 4, (uint32_t)len);
  w->str_pos += len;
}

int mlgb_write(const mlgb_bundle *b, uint8_t **out_data, size_t *out_size, char *err, size_t err_size) {
  const char *what = "cannot write bundle";
  if (out_data) *out_data = NULL;
  if (out_size) *out_size = 0;
  if (err && err_size) err[0] = '\0';
  if (!b || !out_data || !out_size) return mlg_errorf(err, err_size, "mlgb_write: invalid arguments");
  if (bundle_validate(b, what, err, err_size)) return -1;
  uint64_t n_strings = 0;
  if (string_total(b, &n_strings, what, err, err_size)) return -1;

  uint64_t n_code = 0, n_args = 0;
  for (uint32_t i = 0; i < b->n_modules; i++) n_code += b->modules[i].size;
  for (uint32_t i = 0; i < b->n_dispatches; i++) n_args += b->dispatches[i].n_args;
  if (n_args > UINT32_MAX)
    return mlg_errorf(err, err_size, "%s: %llu dispatch arguments exceed the format's 32-bit count", what,
                (unsigned long long)n_args);
  uint64_t w_size = b->weights_size;

  uint64_t count[N_SECTIONS] = {
    0, b->n_tensors, b->n_modules, 0, b->n_kernels, n_args, b->n_dispatches, 1, 1, 0,
    b->has_train ? 1 : 0
  };
  uint64_t bytes[N_SECTIONS];
  for (int i = 0; i < N_SECTIONS; i++) bytes[i] = count[i] * section_rec[i];
  bytes[SEC_STRINGS] = n_strings;
  bytes[SEC_CODE] = n_code;
  bytes[SEC_WEIGHTS] = w_size;
  uint64_t off[N_SECTIONS], pos = HDR_SIZE;
  for (int i = 0; i < N_SECTIONS; i++) {
    pos = align_up(pos, i == SEC_WEIGHTS ? WEIGHTS_ALIGN : SECTION_ALIGN);
    off[i] = pos;
    pos += bytes[i];
  }
  if (pos > SIZE_MAX) return mlg_errorf(err, err_size, "%s: %llu bytes do not fit in memory", what,
                                  (unsigned long long)pos);
  uint8_t *p = calloc(1, (size_t)pos);
  if (!p) return mlg_errorf(err, err_size, "%s: out of memory for %llu bytes", what, (unsigned long long)pos);

  memcpy(p, MLGB_MAGIC, 4);
  put_u32(p + 4, MLGB_VERSION);
  put_u32(p + 8, b->target);
  put_u32(p + 12, b->has_params ? FLAG_HAS_PARAMS : 0);
  put_u64(p + 16, pos);
  put_u32(p + 32, HDR_SIZE);
  put_u32(p + 36, N_SECTIONS);
  put_u64(p + OFF_FEATURES, b->required_features);
  for (uint32_t i = 0; i < N_SECTIONS; i++) {
    uint8_t *e = p + HDR_FIXED + i * SECTION_ENTRY;
    put_u32(e, i);
    put_u32(e + 4, (uint32_t)count[i]);
    put_u64(e + 8, off[i]);
    put_u64(e + 16, bytes[i]);
  }

  writer w = { .p = p, .str_base = off[SEC_STRINGS], .str_pos = 0 };
  uint8_t *plan = p + off[SEC_PLAN];
  put_u32(plan, b->alignment);
  for (int k = 0; k < MLGB_N_REGIONS; k++) put_u64(plan + 8 + 8 * k, b->region_size[k]);
  uint8_t *meta = p + off[SEC_META];
  write_string(&w, b->model_name, meta);
  write_string(&w, b->producer, meta + 8);
  if (b->has_train) {
    uint8_t *tr = p + off[SEC_TRAIN];
    put_u32(tr, b->train_loss);
    write_string(&w, b->optimizer, tr + 8);
  }

  for (uint32_t i = 0; i < b->n_tensors; i++) {
    const mlgb_tensor *t = &b->tensors[i];
    uint8_t *e = p + off[SEC_TENSORS] + (size_t)i * TENSOR_REC;
    write_string(&w, t->name, e);
    put_u32(e + 8, t->dtype);
    put_u32(e + 12, t->role);
    put_u32(e + 16, t->region);
    put_u32(e + 20, t->rank);
    put_u64(e + 24, t->offset);
    put_u64(e + 32, t->size);
    for (int d = 0; d < MLGB_MAX_RANK; d++) put_u64(e + 40 + 8 * d, (uint64_t)t->dims[d]);
  }
  uint64_t code_pos = 0;
  for (uint32_t i = 0; i < b->n_modules; i++) {
    const mlgb_module *m = &b->modules[i];
    uint8_t *e = p + off[SEC_MODULES] + (size_t)i * MODULE_REC;
    put_u32(e, m->kind);
    put_u64(e + 8, code_pos);
    put_u64(e + 16, m->size);
    memcpy(p + off[SEC_CODE] + code_pos, m->data, m->size);
    code_pos += m->size;
  }
  for (uint32_t i = 0; i < b->n_kernels; i++) {
    const mlgb_kernel *k = &b->kernels[i];
    uint8_t *e = p + off[SEC_KERNELS] + (size_t)i * KERNEL_REC;
    write_string(&w, k->name, e);
    put_u32(e + 8, k->module);
    for (int d = 0; d < 3; d++) put_u32(e + 12 + 4 * d, k->local_size[d]);
    put_u32(e + 24, k->n_params);
    put_u32(e + 28, k->requires);
    put_u32(e + 32, k->fallback);
  }
  uint64_t arg_pos = 0;
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *dp = &b->dispatches[i];
    uint8_t *e = p + off[SEC_DISPATCHES] + (size_t)i * DISPATCH_REC;
    write_string(&w, dp->name, e);
    put_u32(e + 8, dp->kernel);
    for (int d = 0; d < 3; d++) put_u32(e + 12 + 4 * d, dp->groups[d]);
    put_u32(e + 24, (uint32_t)arg_pos);
    put_u32(e + 28, dp->n_args);
    put_u64(e + 32, dp->flops);
    put_u64(e + 40, dp->bytes);
    put_u32(e + 48, dp->programs);
    for (uint32_t a = 0; a < dp->n_args; a++)
      put_u32(p + off[SEC_ARGS] + (arg_pos + a) * ARG_REC, dp->args[a]);
    arg_pos += dp->n_args;
  }
  if (w_size) memcpy(p + off[SEC_WEIGHTS], b->weights, (size_t)w_size);
  put_u64(p + OFF_CHECKSUM, bundle_checksum(p, (size_t)pos));

  *out_data = p;
  *out_size = (size_t)pos;
  return 0;
}

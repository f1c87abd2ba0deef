/* kir.c — the kernel IR's module, builder and expression constructors.
 *
 * Everything lives in the module's arena (a private bump allocator, so codegen depends on
 * nothing outside codegen/). Statement, buffer, local and variable lists grow by doubling inside
 * the arena; the old copy is simply left behind (bounded waste, no frees).
 *
 * Allocation failure is sticky: the builder sets `failed`, every later constructor that would
 * have used a NULL operand returns NULL, statement calls become no-ops, and kir_kernel_end
 * reports -1. Callers may therefore build a whole kernel and check once at the end. */
#include "kir.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

typedef struct kir_block {
  struct kir_block *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
} kir_block;

enum { KIR_BLOCK_MIN = 32 * 1024, KIR_MAX_DEPTH = 64 };

struct kir_module {
  kir_block *head;
  int n_kernels, cap_kernels;
  kir_kernel **kernels;  /* malloc'd: the only non-arena allocation */
  long fail_after;       /* test hook: allocations left before failing; -1 = never */
  char error[192];       /* why the last kernel was not built, or "" */
  int ir_math;           /* kir_module_set_ir_math */
};

static void *kir_alloc(kir_module *m, size_t size) {
  if (m->fail_after == 0) return NULL;
  if (m->fail_after > 0) m->fail_after--;
  if (size > SIZE_MAX / 4) return NULL;
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  kir_block *blk = m->head;
  if (!blk || blk->size - blk->used < size) {
    size_t cap = size > KIR_BLOCK_MIN ? size : KIR_BLOCK_MIN;
    blk = malloc(sizeof(*blk) + cap);
    if (!blk) return NULL;
    blk->size = cap;
    blk->used = 0;
    blk->next = m->head;
    m->head = blk;
  }
  void *p = blk->data + blk->used;
  blk->used += size;
  memset(p, 0, size);
  return p;
}

static char *kir_strdup(kir_module *m, const char *s) {
  size_t n = strlen(s);
  char *p = kir_alloc(m, n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

kir_module *kir_module_new(void) {
  kir_module *m = calloc(1, sizeof(*m));
  if (m) m->fail_after = -1;
  return m;
}

void kir_module_free(kir_module *m) {
  if (!m) return;
  kir_block *blk = m->head;
  while (blk) {
    kir_block *next = blk->next;
    free(blk);
    blk = next;
  }
  free(m->kernels);
  free(m);
}

int kir_module_count(const kir_module *m) { return m ? m->n_kernels : 0; }

kir_kernel *kir_module_kernel(const kir_module *m, int i) {
  if (!m || i < 0 || i >= m->n_kernels) return NULL;
  return m->kernels[i];
}

void kir_module_fail_after(kir_module *m, long n_allocs) { m->fail_after = n_allocs; }

int kir_module_remove(kir_module *m, const kir_kernel *k) {
  for (int i = 0; m && i < m->n_kernels; i++)
    if (m->kernels[i] == k) {
      memmove(&m->kernels[i], &m->kernels[i + 1], (size_t)(m->n_kernels - i - 1) * sizeof(*m->kernels));
      m->n_kernels--;
      return 0;
    }
  return -1;
}

int kir_kernel_with_storage(kir_module *m, kir_kernel *k, const kir_scalar *elem,
                            kir_kernel **out_kernel) {
  *out_kernel = NULL;
  if (!m || !k) return -1;
  int changed = 0;
  for (int i = 0; i < k->n_buffers; i++) {
    if (kir_compute_scalar(elem[i]) != kir_compute_scalar(k->buffers[i].elem.scalar)) {
      kir_module_set_error(m, "internal error: buffer %s of kernel %s would change its compute "
                           "type", k->buffers[i].name, k->name);
      return -1;
    }
    changed |= elem[i] != k->buffers[i].elem.scalar;
  }
  if (!changed) {
    *out_kernel = k;
    return 0;
  }
  kir_kernel *copy = kir_alloc(m, sizeof(*copy));
  kir_buffer *buffers = copy ? kir_alloc(m, sizeof(*buffers) * (size_t)k->n_buffers) : NULL;
  if (!buffers || m->n_kernels == INT_MAX) {
    kir_module_set_error(m, "out of memory");
    return -1;
  }
  *copy = *k;
  for (int i = 0; i < k->n_buffers; i++) {
    buffers[i] = k->buffers[i];
    buffers[i].elem.scalar = elem[i];
  }
  copy->buffers = buffers;
  /* A variant's fallback takes the same buffers (kir_kernel_set_fallback): stored alike. */
  if (k->fallback && kir_kernel_with_storage(m, k->fallback, elem, &copy->fallback) != 0) return -1;
  if (m->n_kernels == m->cap_kernels) {
    int cap = m->cap_kernels ? m->cap_kernels * 2 : 16;
    kir_kernel **p = realloc(m->kernels, (size_t)cap * sizeof(*p));
    if (!p) {
      kir_module_set_error(m, "out of memory");
      return -1;
    }
    m->kernels = p;
    m->cap_kernels = cap;
  }
  m->kernels[m->n_kernels++] = copy;
  *out_kernel = copy;
  return 0;
}

/* ---- builder ---- */

/* A growing list of pointers or structs in the arena. */
static int grow(kir_module *m, void **items, int n, int *cap, size_t elem) {
  if (n < *cap) return 0;
  int new_cap = *cap ? *cap * 2 : 8;
  if (new_cap > INT_MAX / 2) return -1;
  void *p = kir_alloc(m, (size_t)new_cap * elem);
  if (!p) return -1;
  if (n) memcpy(p, *items, (size_t)n * elem);
  *items = p;
  *cap = new_cap;
  return 0;
}

typedef struct kir_frame {
  kir_stmt *owner;     /* FOR/IF statement whose body is open; NULL for the kernel body */
  int in_else;
  kir_stmt **list;
  int n, cap;
} kir_frame;

/* A name in use in the kernel being built (taken), or a base whose numbered variants are being
 * handed out: `next` is the first suffix not yet known to be taken. */
typedef struct kir_name {
  const char *name;    /* in the arena; NULL: an empty slot */
  int taken;
  int next;
} kir_name;

struct kir_builder {
  kir_module *m;
  kir_kernel *k;
  int failed;
  int cap_buffers, cap_locals, cap_vars, cap_frags;
  /* Open-addressing hash set of the kernel's names (malloc'd, freed with the builder): a
   * kernel of thousands of variables named from a few hints is named in linear time. */
  kir_name *names;
  int n_names, cap_names;
  int depth;           /* frames in use; frame 0 = kernel body */
  kir_frame frames[KIR_MAX_DEPTH];
};

static void *balloc(kir_builder *b, size_t size) {
  void *p = kir_alloc(b->m, size);
  if (!p) b->failed = 1;
  return p;
}

/* Words that are keywords or builtins in OpenCL C or GLSL: names that would collide get a
 * trailing underscore, so the same kernel prints validly in both languages. */
static const char *const reserved_words[] = {
  "active", "atomic_uint", "attribute", "barrier", "bool", "break", "buffer", "case", "cast",
  "centroid", "char", "coherent", "common", "const", "constant", "continue", "default",
  "discard", "do", "double", "else", "enum", "extern", "external", "filter", "flat", "float",
  "for", "global", "goto", "half", "highp", "if", "image", "in", "inline", "inout", "input", "int",
  "invariant", "kernel", "layout", "local", "long", "lowp", "main", "mat2", "mat3", "mat4",
  "max", "mediump", "min", "noinline", "out", "output", "partition", "patch", "precise",
  "precision", "private", "public", "read_only", "read_write", "register", "resource",
  "restrict", "return", "sample", "shared", "short", "signed", "sizeof", "smooth", "static",
  "struct", "subroutine", "superp", "switch", "template", "this", "typedef", "uint", "uniform",
  "union", "unsigned", "using", "varying", "vec2", "vec3", "vec4", "void", "volatile", "while",
  "write_only", "pow", "exp", "log", "sqrt", "erf", "tanh", "abs", "floor", "ceil", "rint",
  "roundEven", "select", "mix", "clamp", "sign", "step", "length", "dot", "cross", "distance",
  "normalize", "fma", "pc", "mlg_erf", NULL};

static int reserved(const kir_kernel *k, const char *name) {
  for (int i = 0; reserved_words[i]; i++)
    if (strcmp(reserved_words[i], name) == 0) return 1;
  return strncmp(name, "get_", 4) == 0 || strncmp(name, "gl_", 3) == 0 || strcmp(k->name, name) == 0;
}

/* Whether a finished kernel already uses `name` (a buffer "x" also takes "x_off"). */
static int kernel_uses(const kir_kernel *k, const char *name) {
  for (int i = 0; i < k->n_buffers; i++) {
    const char *bn = k->buffers[i].name;
    size_t len = strlen(bn);
    if (strcmp(bn, name) == 0) return 1;
    if (strncmp(bn, name, len) == 0 && strcmp(name + len, "_off") == 0) return 1;
  }
  for (int i = 0; i < k->n_locals; i++)
    if (strcmp(k->locals[i].name, name) == 0) return 1;
  for (int i = 0; i < k->n_vars; i++)
    if (strcmp(k->vars[i].name, name) == 0) return 1;
  for (int i = 0; i < k->n_frags; i++)
    if (strcmp(k->frags[i].name, name) == 0) return 1;
  return 0;
}

static uint64_t name_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* The builder's entry for `name`; with `create`, added (copied into the arena) when missing.
 * NULL when absent, or on allocation failure (which poisons the builder). */
static kir_name *name_entry(kir_builder *b, const char *name, int create) {
  if (create && (b->n_names + 1) * 2 > b->cap_names) {
    int cap = b->cap_names ? b->cap_names * 2 : 64;
    kir_name *t = calloc((size_t)cap, sizeof(*t));
    if (!t) {
      b->failed = 1;
      return NULL;
    }
    for (int i = 0; i < b->cap_names; i++) {
      if (!b->names[i].name) continue;
      size_t j = name_hash(b->names[i].name) & (size_t)(cap - 1);
      while (t[j].name) j = (j + 1) & (size_t)(cap - 1);
      t[j] = b->names[i];
    }
    free(b->names);
    b->names = t;
    b->cap_names = cap;
  }
  if (b->cap_names == 0) return NULL;
  size_t j = name_hash(name) & (size_t)(b->cap_names - 1);
  while (b->names[j].name) {
    if (strcmp(b->names[j].name, name) == 0) return &b->names[j];
    j = (j + 1) & (size_t)(b->cap_names - 1);
  }
  if (!create) return NULL;
  const char *copy = kir_strdup(b->m, name);
  if (!copy) {
    b->failed = 1;
    return NULL;
  }
  b->names[j] = (kir_name){copy, 0, 1};
  b->n_names++;
  return &b->names[j];
}

static int name_taken(kir_builder *b, const char *name) {
  if (reserved(b->k, name)) return 1;
  const kir_name *e = name_entry(b, name, 0);
  return e && e->taken;
}

/* Records `name` as used (and "name_off" for a buffer). Returns the arena copy, or NULL. */
static const char *take_name(kir_builder *b, const char *name, int buffer) {
  kir_name *e = name_entry(b, name, 1);
  if (!e) return NULL;
  e->taken = 1;
  if (buffer) {
    char off[80];
    snprintf(off, sizeof(off), "%s_off", name);
    kir_name *o = name_entry(b, off, 1);
    if (!o) return NULL;
    o->taken = 1;
    e = name_entry(b, name, 0); /* the table may have grown */
  }
  return e->name;
}

/* A valid identifier derived from `hint`, unique in the kernel: the hint itself, else the hint
 * with the first free number ("acc", "acc1", "acc2"; "t3" gives "t3_1"). */
static const char *unique_name(kir_builder *b, const char *hint, int buffer) {
  char base[48];
  size_t n = 0;
  if (!hint || !*hint) hint = "v";
  for (const char *s = hint; *s && n < sizeof(base) - 1; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (n > 0 && c >= '0' && c <= '9');
    base[n++] = ok ? c : '_';
  }
  base[n] = '\0';
  /* Double underscores are reserved in GLSL; leading underscores in C. */
  for (size_t i = 0; i + 1 < n; i++)
    if (base[i] == '_' && base[i + 1] == '_') base[i + 1] = 'u';
  if (base[0] == '_') base[0] = 'v';
  char buf[64];
  snprintf(buf, sizeof(buf), "%s", base);
  if (name_taken(b, buf)) {
    /* Names are never given back, so every suffix below the base's counter is still taken. */
    kir_name *e = name_entry(b, base, 1);
    if (!e) return NULL;
    int need_sep = n > 0 && base[n - 1] >= '0' && base[n - 1] <= '9';
    int i = e->next;
    do snprintf(buf, sizeof(buf), need_sep ? "%s_%d" : "%s%d", base, i++);
    while (name_taken(b, buf));
    e = name_entry(b, base, 0);
    if (e) e->next = i;
  }
  const char *p = take_name(b, buf, buffer);
  if (!p) b->failed = 1;
  return p;
}

void kir_module_vset_error(kir_module *m, const char *fmt, va_list ap) {
  if (m) vsnprintf(m->error, sizeof m->error, fmt, ap);
}

void kir_module_set_error(kir_module *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kir_module_vset_error(m, fmt, ap);
  va_end(ap);
}

const char *kir_module_error(const kir_module *m) { return m ? m->error : ""; }

void kir_module_set_ir_math(kir_module *m, int on) {
  if (m) m->ir_math = on != 0;
}

int kir_builder_ir_math(const kir_builder *b) { return b && b->m && b->m->ir_math; }

void kir_module_clear_error(kir_module *m) {
  if (m) m->error[0] = '\0';
}

kir_builder *kir_kernel_begin(kir_module *m, const char *name, int lx, int ly, int lz) {
  if (!m || !name) return NULL;
  kir_builder *b = calloc(1, sizeof(*b));
  if (!b) {
    kir_module_set_error(m, "out of memory");
    return NULL;
  }
  b->m = m;
  b->k = balloc(b, sizeof(kir_kernel));
  if (!b->k) {
    free(b);
    kir_module_set_error(m, "out of memory");
    return NULL;
  }
  b->k->name = kir_strdup(m, name);
  if (!b->k->name) b->failed = 1;
  b->k->local_size[0] = lx > 0 ? lx : 1;
  b->k->local_size[1] = ly > 0 ? ly : 1;
  b->k->local_size[2] = lz > 0 ? lz : 1;
  b->depth = 1;
  return b;
}

int kir_buffer_param(kir_builder *b, const char *name, kir_scalar elem, kir_access access) {
  if (!b || b->failed) return -1;
  if ((unsigned)elem >= KIR_N_SCALARS) {
    b->failed = 1;
    return -1;
  }
  kir_kernel *k = b->k;
  if (grow(b->m, (void **)&k->buffers, k->n_buffers, &b->cap_buffers, sizeof(kir_buffer))) {
    b->failed = 1;
    return -1;
  }
  const char *nm = unique_name(b, name, 1);
  if (!nm) return -1;
  kir_buffer *buf = &k->buffers[k->n_buffers];
  buf->name = nm;
  buf->elem = kir_t(elem);
  buf->access = access;
  return k->n_buffers++;
}

int kir_local_array(kir_builder *b, const char *name, kir_scalar elem, int count) {
  return kir_local_array_t(b, name, kir_t(elem), count);
}

/* Variables and local arrays hold compute types only. */
static int is_compute(kir_scalar s) { return kir_compute_scalar(s) == s; }

int kir_local_array_t(kir_builder *b, const char *name, kir_type elem, int count) {
  if (!b || b->failed) return -1;
  kir_kernel *k = b->k;
  /* F16: the operand tiles of matrix fragments (scalar halves only). */
  int half_tile = elem.scalar == KIR_F16 && elem.width == 1;
  if (count <= 0 || !(elem.width == 1 || elem.width == 2 || elem.width == 4) ||
      (!is_compute(elem.scalar) && !half_tile)) {
    b->failed = 1;
    return -1;
  }
  if (grow(b->m, (void **)&k->locals, k->n_locals, &b->cap_locals, sizeof(kir_local))) {
    b->failed = 1;
    return -1;
  }
  const char *nm = unique_name(b, name, 0);
  if (!nm) return -1;
  kir_local *l = &k->locals[k->n_locals];
  l->name = nm;
  l->elem = elem;
  l->count = count;
  return k->n_locals++;
}

int kir_var_new(kir_builder *b, const char *name_hint, kir_type type) {
  if (!b || b->failed) return -1;
  kir_kernel *k = b->k;
  if (!is_compute(type.scalar)) {
    b->failed = 1;
    return -1;
  }
  if (grow(b->m, (void **)&k->vars, k->n_vars, &b->cap_vars, sizeof(kir_variable))) {
    b->failed = 1;
    return -1;
  }
  const char *nm = unique_name(b, name_hint, 0);
  if (!nm) return -1;
  k->vars[k->n_vars].name = nm;
  k->vars[k->n_vars].type = type;
  return k->n_vars++;
}

int kir_kernel_end(kir_builder *b, kir_kernel **out_kernel) {
  if (out_kernel) *out_kernel = NULL;
  if (!b) return -1;
  int rc = -1;
  /* Unclosed for/if blocks are a template bug: report them as failure. */
  if (!b->failed && b->depth == 1) {
    kir_module *m = b->m;
    kir_kernel *k = b->k;
    k->body = b->frames[0].list;
    k->n_body = b->frames[0].n;
    if (m->n_kernels == m->cap_kernels) {
      int cap = m->cap_kernels ? m->cap_kernels * 2 : 16;
      kir_kernel **p = realloc(m->kernels, (size_t)cap * sizeof(*p));
      if (p) {
        m->kernels = p;
        m->cap_kernels = cap;
      }
    }
    if (m->n_kernels < m->cap_kernels) {
      m->kernels[m->n_kernels++] = k;
      if (out_kernel) *out_kernel = k;
      rc = 0;
    }
  }
  if (rc != 0)
    kir_module_set_error(b->m, b->failed ? "out of memory, or an expression the kernel builder "
                                           "rejected (a template or fused-code bug)"
                         : b->depth != 1 ? "internal error: a block of the kernel is not closed"
                                         : "out of memory");
  free(b->names);
  free(b);
  return rc;
}

int kir_builder_failed(const kir_builder *b) { return !b || b->failed; }

int kir_kernel_rename(kir_module *m, kir_kernel *k, const char *name) {
  if (!m || !k || !name || !name[0]) return -1;
  for (const char *s = name; *s; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (s > name && c >= '0' && c <= '9');
    if (!ok) return -1;
  }
  const char *old = k->name;
  k->name = "";
  int taken = reserved(k, name) || kernel_uses(k, name);
  k->name = old;
  if (taken) return -1;
  char *copy = kir_strdup(m, name);
  if (!copy) return -1;
  k->name = copy;
  return 0;
}

/* ---- types and expressions ---- */

kir_type kir_t(kir_scalar s) { return (kir_type){s, 1}; }
kir_type kir_tv(kir_scalar s, int width) { return (kir_type){s, width}; }

kir_scalar kir_compute_scalar(kir_scalar s) {
  switch (s) {
  case KIR_F16: return KIR_F32;
  case KIR_I8:
  case KIR_U8: return KIR_I32;
  default: return s;
  }
}

int kir_storage_bytes(kir_scalar s) {
  switch (s) {
  case KIR_F16: return 2;
  case KIR_I8:
  case KIR_U8:
  case KIR_BOOL: return 1;
  default: return 4;
  }
}

static kir_expr *new_expr(kir_builder *b, kir_expr_kind kind, kir_type type) {
  if (!b || b->failed) return NULL;
  kir_expr *e = balloc(b, sizeof(kir_expr));
  if (!e) return NULL;
  e->kind = kind;
  e->type = type;
  e->index = -1;
  return e;
}

/* An operand of NULL means an earlier failure (or a caller bug): poison the builder. */
static int bad(kir_builder *b, const kir_expr *e) {
  if (e) return 0;
  if (b) b->failed = 1;
  return 1;
}

kir_expr *kir_f32(kir_builder *b, double v) {
  kir_expr *e = new_expr(b, KIR_E_CONST_F, kir_t(KIR_F32));
  if (e) e->f = v;
  return e;
}

kir_expr *kir_i32(kir_builder *b, int64_t v) {
  kir_expr *e = new_expr(b, KIR_E_CONST_I, kir_t(KIR_I32));
  if (e) e->i = v;
  return e;
}

kir_expr *kir_bool(kir_builder *b, int v) {
  kir_expr *e = new_expr(b, KIR_E_CONST_I, kir_t(KIR_BOOL));
  if (e) e->i = v != 0;
  return e;
}

kir_expr *kir_var(kir_builder *b, int var) {
  if (!b || var < 0 || var >= b->k->n_vars) {
    if (b) b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_VAR, b->k->vars[var].type);
  if (e) e->index = var;
  return e;
}

static kir_expr *id_expr(kir_builder *b, kir_expr_kind kind, int dim) {
  if (dim < 0 || dim > 2) {
    if (b) b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, kind, kir_t(KIR_I32));
  if (e) e->index = dim;
  return e;
}

kir_expr *kir_global_id(kir_builder *b, int dim) { return id_expr(b, KIR_E_GLOBAL_ID, dim); }
kir_expr *kir_local_id(kir_builder *b, int dim) { return id_expr(b, KIR_E_LOCAL_ID, dim); }
kir_expr *kir_group_id(kir_builder *b, int dim) { return id_expr(b, KIR_E_GROUP_ID, dim); }

/* Buffers whose elements vector loads and stores reach: 4-byte ones, and halves (OpenCL
 * vload_halfN / vstore_halfN, GLSL through the packed-word helpers). */
static int vector_storage(kir_scalar s) { return kir_storage_bytes(s) == 4 || s == KIR_F16; }

kir_expr *kir_load(kir_builder *b, int buffer, kir_expr *index) {
  return kir_load_vec(b, buffer, index, 1);
}

kir_expr *kir_load_vec(kir_builder *b, int buffer, kir_expr *index, int width) {
  if (!b || bad(b, index)) return NULL;
  kir_scalar st = buffer >= 0 && buffer < b->k->n_buffers ? b->k->buffers[buffer].elem.scalar : KIR_F32;
  if (buffer < 0 || buffer >= b->k->n_buffers || width < 1 ||
      (width > 1 && !vector_storage(st) && st != KIR_I8 && st != KIR_U8)) {
    b->failed = 1;
    return NULL;
  }
  kir_scalar s = kir_compute_scalar(b->k->buffers[buffer].elem.scalar);
  kir_expr *e = new_expr(b, KIR_E_LOAD, kir_tv(s, width));
  if (e) {
    e->index = buffer;
    e->a = index;
  }
  return e;
}

kir_expr *kir_local_load(kir_builder *b, int local, kir_expr *index) {
  if (!b || bad(b, index)) return NULL;
  /* F16 local arrays are read by fragment loads only. */
  if (local < 0 || local >= b->k->n_locals || b->k->locals[local].elem.scalar == KIR_F16) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_LOCAL_LOAD, b->k->locals[local].elem);
  if (e) {
    e->index = local;
    e->a = index;
  }
  return e;
}

kir_expr *kir_un(kir_builder *b, kir_unop op, kir_expr *a) {
  if (bad(b, a)) return NULL;
  kir_type t = op == KIR_NOT ? kir_t(KIR_BOOL) : a->type;
  kir_expr *e = new_expr(b, KIR_E_UNARY, t);
  if (e) {
    e->op = op;
    e->a = a;
  }
  return e;
}

static int is_cmp(kir_binop op) {
  return op == KIR_LT || op == KIR_LE || op == KIR_GT || op == KIR_GE || op == KIR_EQ ||
         op == KIR_NE;
}

/* Mixed float/int operands: integer constants become float constants, other integers are
 * cast, so that no printer has to rely on implicit conversions (GLSL has none). */
static kir_expr *as_float(kir_builder *b, kir_expr *x, int width) {
  if (x->type.scalar == KIR_F32) return x;
  if (x->kind == KIR_E_CONST_I) return kir_f32(b, (double)x->i);
  return kir_cast(b, kir_tv(KIR_F32, width), x);
}

kir_expr *kir_bin(kir_builder *b, kir_binop op, kir_expr *a, kir_expr *c) {
  if (bad(b, a) || bad(b, c)) return NULL;
  if (op == KIR_XOR && (a->type.scalar != c->type.scalar || (a->type.scalar != KIR_I32 && a->type.scalar != KIR_U32))) {
    b->failed = 1;
    return NULL;
  }
  int width = a->type.width > c->type.width ? a->type.width : c->type.width;
  if (op != KIR_AND && op != KIR_OR &&
      (a->type.scalar == KIR_F32) != (c->type.scalar == KIR_F32)) {
    a = as_float(b, a, a->type.width);
    c = as_float(b, c, c->type.width);
    if (!a || !c) return NULL;
  }
  kir_type t;
  if (is_cmp(op) || op == KIR_AND || op == KIR_OR)
    t = kir_tv(KIR_BOOL, width);
  else
    t = kir_tv(a->type.scalar, width);
  kir_expr *e = new_expr(b, KIR_E_BINARY, t);
  if (e) {
    e->op = op;
    e->a = a;
    e->b = c;
  }
  return e;
}

kir_expr *kir_select(kir_builder *b, kir_expr *cond, kir_expr *if_true, kir_expr *if_false) {
  if (bad(b, cond) || bad(b, if_true) || bad(b, if_false)) return NULL;
  if ((if_true->type.scalar == KIR_F32) != (if_false->type.scalar == KIR_F32)) {
    if_true = as_float(b, if_true, if_true->type.width);
    if_false = as_float(b, if_false, if_false->type.width);
    if (!if_true || !if_false) return NULL;
  }
  /* A vector condition or branch makes a vector: scalar branches are splatted to its width. */
  int w = cond->type.width;
  if (if_true->type.width > w) w = if_true->type.width;
  if (if_false->type.width > w) w = if_false->type.width;
  if (if_true->type.width < w) if_true = kir_cast(b, kir_tv(if_true->type.scalar, w), if_true);
  if (if_false->type.width < w) if_false = kir_cast(b, kir_tv(if_false->type.scalar, w), if_false);
  if (!if_true || !if_false) return NULL;
  kir_expr *e = new_expr(b, KIR_E_SELECT, if_true->type);
  if (e) {
    e->a = cond;
    e->b = if_true;
    e->c = if_false;
  }
  return e;
}

kir_expr *kir_cast(kir_builder *b, kir_type to, kir_expr *a) {
  if (bad(b, a)) return NULL;
  to.scalar = kir_compute_scalar(to.scalar);
  if (a->type.width > 1 && a->type.width != to.width) {
    b->failed = 1; /* a cast keeps the width, or splats a scalar */
    return NULL;
  }
  if (a->type.scalar == to.scalar && a->type.width == to.width) return a;
  if (a->kind == KIR_E_CONST_I && to.width == 1 && to.scalar == KIR_F32)
    return kir_f32(b, (double)a->i);
  kir_expr *e = new_expr(b, KIR_E_CAST, to);
  if (e) e->a = a;
  return e;
}

kir_expr *kir_bitcast(kir_builder *b, kir_type to, kir_expr *a) {
  if (bad(b, a)) return NULL;
  if (a->type.width != to.width || (a->type.scalar == KIR_F32) == (to.scalar == KIR_F32) ||
      a->type.scalar == KIR_BOOL || to.scalar == KIR_BOOL) {
    b->failed = 1; /* only float <-> int of one width has a spelling in both languages */
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_BITCAST, to);
  if (e) e->a = a;
  return e;
}

kir_expr *kir_component(kir_builder *b, kir_expr *v, int i) {
  if (bad(b, v)) return NULL;
  if (i < 0 || i >= v->type.width) {
    b->failed = 1;
    return NULL;
  }
  if (v->type.width == 1) return v;
  kir_expr *e = new_expr(b, KIR_E_COMPONENT, kir_t(v->type.scalar));
  if (e) {
    e->index = i;
    e->a = v;
  }
  return e;
}

kir_expr *kir_swizzle_step(kir_builder *b, kir_expr *v, int start, int step, int width) {
  if (bad(b, v)) return NULL;
  if (width == 1) return kir_component(b, v, start);
  if (start == 0 && step == 1 && width == v->type.width) return v;
  if (!(width == 2 || width == 4 || width == 8) || start < 0 || step < 1 ||
      start + (int64_t)(width - 1) * step >= v->type.width) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_SWIZZLE, kir_tv(v->type.scalar, width));
  if (e) {
    e->index = start;
    e->i = step;
    e->a = v;
  }
  return e;
}

kir_expr *kir_swizzle(kir_builder *b, kir_expr *v, int start, int width) {
  return kir_swizzle_step(b, v, start, 1, width);
}

kir_expr *kir_vector(kir_builder *b, int width, kir_expr *const parts[]) {
  if (!b || !parts || !(width == 1 || width == 2 || width == 4)) {
    if (b) b->failed = 1;
    return NULL;
  }
  for (int i = 0; i < width; i++)
    if (bad(b, parts[i]) || parts[i]->type.width != 1 || parts[i]->type.scalar != parts[0]->type.scalar) {
      b->failed = 1;
      return NULL;
    }
  if (width == 1) return parts[0];
  kir_expr *e = new_expr(b, KIR_E_VECTOR, kir_tv(parts[0]->type.scalar, width));
  if (e) {
    e->a = parts[0];
    e->b = parts[1];
    e->c = width == 4 ? parts[2] : NULL;
    e->d = width == 4 ? parts[3] : NULL;
  }
  return e;
}

/* Words of halves from F16 buffer or local array `from` (ok: it is one). */
static kir_expr *load_bits(kir_builder *b, kir_expr_kind kind, int from, int ok, kir_expr *index, int width) {
  if (!b || bad(b, index)) return NULL;
  if (!ok || !(width == 1 || width == 2 || width == 4)) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, kind, kir_tv(KIR_U32, width));
  if (e) {
    e->index = from;
    e->a = index;
  }
  return e;
}

kir_expr *kir_load_bits(kir_builder *b, int buffer, kir_expr *index, int width) {
  return load_bits(b, KIR_E_LOAD_BITS, buffer,
                   b && buffer >= 0 && buffer < b->k->n_buffers && b->k->buffers[buffer].elem.scalar == KIR_F16,
                   index, width);
}

kir_expr *kir_local_load_bits(kir_builder *b, int local, kir_expr *index, int width) {
  return load_bits(b, KIR_E_LOCAL_LOAD_BITS, local,
                   b && local >= 0 && local < b->k->n_locals && b->k->locals[local].elem.scalar == KIR_F16 &&
                       b->k->locals[local].elem.width == 1,
                   index, width);
}

kir_expr *kir_dot4x8(kir_builder *b, kir_dot_sign sign, kir_expr *a, kir_expr *c) {
  if (bad(b, a) || bad(b, c)) return NULL;
  if (sign < KIR_DOT_SS || sign > KIR_DOT_UU || a->type.width != 1 || c->type.width != 1 ||
      a->type.scalar != KIR_U32 || c->type.scalar != KIR_U32) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_DOT4X8, kir_t(KIR_I32));
  if (!e) return NULL;
  e->op = (int)sign;
  e->a = a;
  e->b = c;
  b->k->features |= KIR_FEATURE_INT_DOT;
  return e;
}

kir_expr *kir_load_packed(kir_builder *b, int buffer, kir_expr *index) {
  if (!b || bad(b, index)) return NULL;
  if (buffer < 0 || buffer >= b->k->n_buffers ||
      (b->k->buffers[buffer].elem.scalar != KIR_I8 && b->k->buffers[buffer].elem.scalar != KIR_U8)) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_LOAD_PACKED, kir_t(KIR_U32));
  if (e) {
    e->index = buffer;
    e->a = index;
  }
  return e;
}

int kir_kernel_set_fallback(kir_kernel *k, kir_kernel *fallback) {
  if (!k || !fallback || k == fallback || k->n_buffers != fallback->n_buffers) return -1;
  unsigned need = k->features & KIR_FEATURE_OPTIONAL, fneed = fallback->features & KIR_FEATURE_OPTIONAL;
  if ((fneed & ~need) || fneed == need) return -1;
  for (int i = 0; i < k->n_buffers; i++) {
    const kir_buffer *x = &k->buffers[i], *y = &fallback->buffers[i];
    if (strcmp(x->name, y->name) != 0 || x->elem.scalar != y->elem.scalar || x->elem.width != y->elem.width ||
        x->access != y->access)
      return -1;
  }
  k->fallback = fallback;
  return 0;
}

kir_expr *kir_subgroup(kir_builder *b, kir_subgroup_builtin which) {
  if (which < KIR_SG_SIZE || which > KIR_SG_COUNT) {
    if (b) b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_SUBGROUP, kir_t(KIR_I32));
  if (!e) return NULL;
  e->index = (int)which;
  b->k->features |= KIR_FEATURE_SUBGROUP_BASIC;
  return e;
}

kir_expr *kir_subgroup_reduce(kir_builder *b, kir_binop op, kir_expr *value) {
  if (bad(b, value)) return NULL;
  int scalar_ok = value->type.width == 1 &&
                  (value->type.scalar == KIR_F32 || value->type.scalar == KIR_I32);
  if (!scalar_ok || (op != KIR_ADD && op != KIR_MUL && op != KIR_MIN && op != KIR_MAX)) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *e = new_expr(b, KIR_E_SUBGROUP_REDUCE, value->type);
  if (!e) return NULL;
  e->op = (int)op;
  e->a = value;
  b->k->features |= KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH;
  return e;
}

/* ---- integer constant folding ---- */

static int is_int_const(const kir_expr *e, int64_t *v) {
  if (e && e->kind == KIR_E_CONST_I && e->type.width == 1) {
    if (v) *v = e->i;
    return 1;
  }
  return 0;
}

static int is_int(const kir_expr *e) {
  return e->type.scalar == KIR_I32 || e->type.scalar == KIR_U32;
}

/* Folded results must still fit the 32-bit index type; otherwise the expression stays. */
static int fits_i32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

kir_expr *kir_add(kir_builder *b, kir_expr *x, kir_expr *y) {
  if (bad(b, x) || bad(b, y)) return NULL;
  int64_t cx = 0, cy = 0;
  if (is_int(x) && is_int(y)) {
    int kx = is_int_const(x, &cx), ky = is_int_const(y, &cy);
    if (kx && ky && fits_i32(cx + cy)) return kir_i32(b, cx + cy);
    if (kx && cx == 0) return y;
    if (ky && cy == 0) return x;
    /* (e + c1) + c2 → e + (c1 + c2) */
    int64_t c1;
    if (ky && x->kind == KIR_E_BINARY && x->op == KIR_ADD && is_int_const(x->b, &c1) &&
        fits_i32(c1 + cy))
      return kir_add(b, x->a, kir_i32(b, c1 + cy));
    /* keep constants on the right: c + e → e + c */
    if (kx) return kir_bin(b, KIR_ADD, y, x);
  }
  return kir_bin(b, KIR_ADD, x, y);
}

kir_expr *kir_mul(kir_builder *b, kir_expr *x, kir_expr *y) {
  if (bad(b, x) || bad(b, y)) return NULL;
  int64_t cx = 0, cy = 0;
  if (is_int(x) && is_int(y)) {
    int kx = is_int_const(x, &cx), ky = is_int_const(y, &cy);
    if (kx && ky && fits_i32(cx * cy)) return kir_i32(b, cx * cy);
    if ((kx && cx == 0) || (ky && cy == 0)) return kir_i32(b, 0);
    if (kx && cx == 1) return y;
    if (ky && cy == 1) return x;
    /* (e * c1) * c2 → e * (c1 * c2) */
    int64_t c1;
    if (ky && x->kind == KIR_E_BINARY && x->op == KIR_MUL && is_int_const(x->b, &c1) &&
        fits_i32(c1 * cy))
      return kir_mul(b, x->a, kir_i32(b, c1 * cy));
    if (kx) return kir_bin(b, KIR_MUL, y, x);
  }
  return kir_bin(b, KIR_MUL, x, y);
}

kir_expr *kir_div(kir_builder *b, kir_expr *x, kir_expr *y) {
  if (bad(b, x) || bad(b, y)) return NULL;
  int64_t cx = 0, cy = 0;
  if (is_int(x) && is_int(y)) {
    int kx = is_int_const(x, &cx), ky = is_int_const(y, &cy);
    /* C semantics: truncation toward zero. */
    if (kx && ky && cy != 0 && fits_i32(cx / cy)) return kir_i32(b, cx / cy);
    if (ky && cy == 1) return x;
    if (kx && cx == 0 && ky && cy != 0) return kir_i32(b, 0);
  }
  return kir_bin(b, KIR_DIV, x, y);
}

kir_expr *kir_mod(kir_builder *b, kir_expr *x, kir_expr *y) {
  if (bad(b, x) || bad(b, y)) return NULL;
  int64_t cx = 0, cy = 0;
  if (is_int(x) && is_int(y)) {
    int kx = is_int_const(x, &cx), ky = is_int_const(y, &cy);
    if (kx && ky && cy != 0) return kir_i32(b, cx % cy);
    if (ky && (cy == 1 || cy == -1)) return kir_i32(b, 0);
  }
  return kir_bin(b, KIR_MOD, x, y);
}

/* ---- statements ---- */

static kir_stmt *append(kir_builder *b, kir_stmt_kind kind) {
  if (!b || b->failed) return NULL;
  kir_frame *f = &b->frames[b->depth - 1];
  if (grow(b->m, (void **)&f->list, f->n, &f->cap, sizeof(kir_stmt *))) {
    b->failed = 1;
    return NULL;
  }
  kir_stmt *s = balloc(b, sizeof(kir_stmt));
  if (!s) return NULL;
  s->kind = kind;
  s->var = -1;
  s->target = -1;
  f->list[f->n++] = s;
  return s;
}

static int valid_var(kir_builder *b, int var) {
  if (b && var >= 0 && var < b->k->n_vars) return 1;
  if (b) b->failed = 1;
  return 0;
}

void kir_decl(kir_builder *b, int var, kir_expr *value) {
  if (bad(b, value) || !valid_var(b, var)) return;
  kir_stmt *s = append(b, KIR_S_DECL);
  if (s) {
    s->var = var;
    s->value = value;
  }
}

void kir_assign(kir_builder *b, int var, kir_expr *value) {
  if (bad(b, value) || !valid_var(b, var)) return;
  kir_stmt *s = append(b, KIR_S_ASSIGN);
  if (s) {
    s->var = var;
    s->value = value;
  }
}

void kir_store(kir_builder *b, int buffer, kir_expr *index, kir_expr *value) {
  if (bad(b, index) || bad(b, value)) return;
  if (buffer < 0 || buffer >= b->k->n_buffers) {
    b->failed = 1;
    return;
  }
  kir_scalar elem = b->k->buffers[buffer].elem.scalar;
  int bytes8 = elem == KIR_I8 || elem == KIR_U8;
  if (value->type.width > 1 && ((!vector_storage(elem) && !bytes8) ||
                                (bytes8 && value->type.scalar != KIR_I32))) {
    b->failed = 1;
    return;
  }
  if (value->type.width == 1 && value->type.scalar != kir_compute_scalar(elem)) {
    value = kir_cast(b, kir_t(elem), value);
    if (!value) return;
  }
  kir_stmt *s = append(b, KIR_S_STORE);
  if (s) {
    s->target = buffer;
    s->index = index;
    s->value = value;
  }
}

void kir_local_store(kir_builder *b, int local, kir_expr *index, kir_expr *value) {
  if (bad(b, index) || bad(b, value)) return;
  if (local < 0 || local >= b->k->n_locals ||
      (b->k->locals[local].elem.scalar == KIR_F16 &&
       (value->type.scalar != KIR_F32 || value->type.width != 1))) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_LOCAL_STORE);
  if (s) {
    s->target = local;
    s->index = index;
    s->value = value;
  }
}

static void open_block(kir_builder *b, kir_stmt *s) {
  if (!s) return;
  if (b->depth >= KIR_MAX_DEPTH) {
    b->failed = 1;
    return;
  }
  kir_frame *f = &b->frames[b->depth++];
  memset(f, 0, sizeof(*f));
  f->owner = s;
}

/* Stores the open frame's list into its owner (body or else-body). */
static void flush_frame(kir_frame *f) {
  if (f->in_else) {
    f->owner->else_body = f->list;
    f->owner->n_else = f->n;
  } else {
    f->owner->body = f->list;
    f->owner->n_body = f->n;
  }
}

void kir_for(kir_builder *b, int var, kir_expr *begin, kir_expr *end, kir_expr *step) {
  if (bad(b, begin) || bad(b, end) || bad(b, step) || !valid_var(b, var)) return;
  kir_stmt *s = append(b, KIR_S_FOR);
  if (s) {
    s->var = var;
    s->value = begin;
    s->end = end;
    s->step = step;
  }
  open_block(b, s);
}

void kir_for_unroll(kir_builder *b, int unroll) {
  if (!b || b->failed || b->depth < 2) return;
  kir_stmt *s = b->frames[b->depth - 1].owner;
  if (s->kind == KIR_S_FOR) s->unroll = unroll;
}

void kir_if(kir_builder *b, kir_expr *cond) {
  if (bad(b, cond)) return;
  kir_stmt *s = append(b, KIR_S_IF);
  if (s) s->cond = cond;
  open_block(b, s);
}

void kir_else(kir_builder *b) {
  if (!b || b->failed) return;
  kir_frame *f = &b->frames[b->depth - 1];
  if (b->depth < 2 || f->owner->kind != KIR_S_IF || f->in_else) {
    b->failed = 1;
    return;
  }
  flush_frame(f);
  f->in_else = 1;
  f->list = NULL;
  f->n = f->cap = 0;
}

void kir_end(kir_builder *b) {
  if (!b || b->failed) return;
  if (b->depth < 2) {
    b->failed = 1;
    return;
  }
  flush_frame(&b->frames[b->depth - 1]);
  b->depth--;
}

void kir_barrier(kir_builder *b) { append(b, KIR_S_BARRIER); }
void kir_return(kir_builder *b) { append(b, KIR_S_RETURN); }

/* ---- subgroup matrix fragments ---- */

int kir_frag_new(kir_builder *b, const char *name_hint, kir_frag_role role) {
  if (!b || b->failed) return -1;
  kir_kernel *k = b->k;
  if (role < KIR_FRAG_A || role > KIR_FRAG_ACC ||
      grow(b->m, (void **)&k->frags, k->n_frags, &b->cap_frags, sizeof(kir_fragment))) {
    b->failed = 1;
    return -1;
  }
  const char *nm = unique_name(b, name_hint, 0);
  if (!nm) return -1;
  k->frags[k->n_frags].name = nm;
  k->frags[k->n_frags].role = role;
  return k->n_frags++;
}

static int frag_is(kir_builder *b, int frag, int acc) {
  if (b && !b->failed && frag >= 0 && frag < b->k->n_frags &&
      (b->k->frags[frag].role == KIR_FRAG_ACC) == acc)
    return 1;
  if (b) b->failed = 1;
  return 0;
}

static int local_is(kir_builder *b, int local, kir_scalar elem) {
  if (b && !b->failed && local >= 0 && local < b->k->n_locals &&
      b->k->locals[local].elem.scalar == elem && b->k->locals[local].elem.width == 1)
    return 1;
  if (b) b->failed = 1;
  return 0;
}

void kir_store_bits(kir_builder *b, int buffer, kir_expr *index, kir_expr *words) {
  if (!b || bad(b, index) || bad(b, words)) return;
  const int w = words->type.width;
  if (buffer < 0 || buffer >= b->k->n_buffers || b->k->buffers[buffer].elem.scalar != KIR_F16 ||
      words->type.scalar != KIR_U32 || !(w == 1 || w == 2 || w == 4)) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_STORE_BITS);
  if (s) {
    s->target = buffer;
    s->index = index;
    s->value = words;
  }
}

void kir_local_store_bits(kir_builder *b, int local, kir_expr *index, kir_expr *words) {
  if (bad(b, index) || bad(b, words) || !local_is(b, local, KIR_F16)) return;
  if (words->type.scalar != KIR_U32 || !(words->type.width == 1 || words->type.width == 2 ||
                                         words->type.width == 4)) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_LOCAL_STORE_BITS);
  if (s) {
    s->target = local;
    s->index = index;
    s->value = words;
  }
}

void kir_frag_zero(kir_builder *b, int acc) {
  if (!frag_is(b, acc, 1)) return;
  kir_stmt *s = append(b, KIR_S_FRAG_ZERO);
  if (s) s->frag = acc;
}

void kir_frag_load(kir_builder *b, int frag, int local, kir_expr *index, int stride, int col_major) {
  if (bad(b, index) || !frag_is(b, frag, 0) || !local_is(b, local, KIR_F16)) return;
  if (stride < 16 || stride % 8) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_FRAG_LOAD);
  if (s) {
    s->frag = frag;
    s->target = local;
    s->index = index;
    s->stride = stride;
    s->col_major = col_major != 0;
  }
}

void kir_frag_mma(kir_builder *b, int acc, int a, int frag_b) {
  if (!frag_is(b, acc, 1) || !frag_is(b, a, 0) || !frag_is(b, frag_b, 0)) return;
  if (b->k->frags[a].role != KIR_FRAG_A || b->k->frags[frag_b].role != KIR_FRAG_B) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_FRAG_MMA);
  if (s) {
    s->frag = acc;
    s->frag_a = a;
    s->frag_b = frag_b;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
}

void kir_frag_store(kir_builder *b, int acc, int local, kir_expr *index, int stride) {
  if (bad(b, index) || !frag_is(b, acc, 1) || !local_is(b, local, KIR_F32)) return;
  if (stride < 16 || stride % 4) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_FRAG_STORE);
  if (s) {
    s->frag = acc;
    s->target = local;
    s->index = index;
    s->stride = stride;
  }
}

void kir_async_copy(kir_builder *b, int local, kir_expr *index, kir_expr *words, kir_expr *present) {
  if (bad(b, index) || bad(b, words) || !local_is(b, local, KIR_F16)) return;
  if (words->kind != KIR_E_LOAD_BITS || words->type.width != 4) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_ASYNC_COPY);
  if (s) {
    s->target = local;
    s->index = index;
    s->value = words;
    s->cond = present;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
}

void kir_async_commit(kir_builder *b) { append(b, KIR_S_ASYNC_COMMIT); }

void kir_async_wait(kir_builder *b, int pending) {
  if (pending < 0 || pending > 7) { /* an immediate of wait_group; the pipelines need at most 2 */
    if (b) b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_ASYNC_WAIT);
  if (s) s->stride = pending;
}

/* ---- accumulator elements in registers ---- */

kir_expr *kir_frag_elem(kir_builder *b, int acc, int e) {
  if (!frag_is(b, acc, 1)) return NULL;
  if (e < 0 || e > 7) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *x = new_expr(b, KIR_E_FRAG_ELEM, kir_t(KIR_F32));
  if (x) {
    x->index = acc;
    x->i = e;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
  return x;
}

void kir_frag_set(kir_builder *b, int acc, int e, kir_expr *value) {
  if (bad(b, value) || !frag_is(b, acc, 1)) return;
  if (e < 0 || e > 7 || value->type.scalar != KIR_F32 || value->type.width != 1) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_FRAG_SET);
  if (s) {
    s->frag = acc;
    s->stride = e;
    s->value = value;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
}

void kir_frag_pack(kir_builder *b, int a, int acc) {
  if (!frag_is(b, a, 0) || !frag_is(b, acc, 1)) return;
  if (b->k->frags[a].role != KIR_FRAG_A) {
    b->failed = 1;
    return;
  }
  kir_stmt *s = append(b, KIR_S_FRAG_PACK);
  if (s) {
    s->frag = a;
    s->frag_a = acc;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
}

kir_expr *kir_lane_xor(kir_builder *b, kir_expr *value, int mask) {
  if (!b || bad(b, value)) return NULL;
  if (mask < 1 || mask > 31 || value->type.scalar != KIR_F32 || value->type.width != 1) {
    b->failed = 1;
    return NULL;
  }
  kir_expr *x = new_expr(b, KIR_E_LANE_XOR, kir_t(KIR_F32));
  if (x) {
    x->a = value;
    x->i = mask;
    b->k->features |= KIR_FEATURE_MMA_F16;
  }
  return x;
}

/* ---- warpgroup products ---- */

/* acc .. acc + n − 1 are accumulators, 1 ≤ n ≤ 16. */
static int accs_are(kir_builder *b, int acc, int n) {
  if (n < 1 || n > 16) {
    if (b) b->failed = 1;
    return 0;
  }
  for (int j = 0; j < n; j++)
    if (!frag_is(b, acc + j, 1)) return 0;
  return 1;
}

static int wg_operand_ok(kir_builder *b, const kir_wg_operand *o) {
  if (!o || bad(b, o->index) || !local_is(b, o->local, KIR_F16)) return 0;
  const int sw = o->swizzle;
  if ((sw != 0 && sw != 32 && sw != 64 && sw != 128) || (o->mn_major && sw != 0 && sw != 128) || o->lbo < 0 ||
      o->sbo < 0 || o->lbo % 16 || o->sbo % 16 || o->lbo >= 1 << 18 || o->sbo >= 1 << 18 ||
      o->index->type.scalar != KIR_I32) {
    b->failed = 1;
    return 0;
  }
  return 1;
}

static kir_stmt *wg_stmt(kir_builder *b, kir_stmt_kind kind, int acc, int n) {
  kir_stmt *s = append(b, kind);
  if (s) {
    s->frag = acc;
    s->stride = n;
    b->k->features |= KIR_FEATURE_WGMMA | KIR_FEATURE_MMA_F16;
  }
  return s;
}

void kir_wg_mma(kir_builder *b, int acc, int n, const kir_wg_operand *a, const kir_wg_operand *op_b) {
  if (!accs_are(b, acc, n) || !wg_operand_ok(b, a) || !wg_operand_ok(b, op_b)) return;
  kir_stmt *s = wg_stmt(b, KIR_S_WG_MMA, acc, n);
  if (s) {
    s->wg[0] = *a;
    s->wg[1] = *op_b;
  }
}

void kir_wg_fence(kir_builder *b, int acc, int n) {
  if (accs_are(b, acc, n)) wg_stmt(b, KIR_S_WG_FENCE, acc, n);
}

void kir_wg_commit(kir_builder *b) {
  if (b && !b->failed) wg_stmt(b, KIR_S_WG_COMMIT, 0, 0);
}

void kir_wg_wait(kir_builder *b, int pending, int acc, int n) {
  if (pending < 0 || pending > 7) { /* an immediate of wait_group */
    if (b) b->failed = 1;
    return;
  }
  if (!(pending > 0 && n == 0) && !accs_are(b, acc, n)) return; /* none tied while in flight */
  kir_stmt *s = wg_stmt(b, KIR_S_WG_WAIT, acc, n);
  if (s) s->col_major = pending;
}

void kir_async_proxy_fence(kir_builder *b) {
  if (b && !b->failed) wg_stmt(b, KIR_S_PROXY_FENCE, 0, 0);
}

/* vulkan_spirv.c — just enough SPIR-V reflection to check a shader against the bundle's
 * convention before a driver sees it (a binding outside the pipeline layout is undefined
 * behaviour, not an error, without the validation layer), and to learn which buffers a kernel
 * only reads, so the recorder can leave out barriers between readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_internal.h"

enum {
  OP_ENTRY_POINT = 15, OP_EXECUTION_MODE = 16, OP_TYPE_INT = 21, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23,
  OP_TYPE_ARRAY = 28, OP_TYPE_RUNTIME_ARRAY = 29, OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32, OP_CONSTANT = 43,
  OP_VARIABLE = 59, OP_DECORATE = 71, OP_MEMBER_DECORATE = 72, OP_EXECUTION_MODE_ID = 331,
};
enum { DEC_BLOCK = 2, DEC_BUFFER_BLOCK = 3, DEC_ARRAY_STRIDE = 6, DEC_NON_WRITABLE = 24, DEC_BINDING = 33,
       DEC_DESCRIPTOR_SET = 34, DEC_OFFSET = 35 };
enum { SC_UNIFORM_CONSTANT = 0, SC_UNIFORM = 2, SC_PUSH_CONSTANT = 9, SC_STORAGE_BUFFER = 12 };
enum { MODEL_GL_COMPUTE = 5, MODE_LOCAL_SIZE = 17, MODE_LOCAL_SIZE_ID = 38 };

#define MAX_BOUND (1u << 22)

typedef struct spv_id {
  uint32_t op;               /* the opcode that defined it (types, constants, variables) */
  uint32_t w[3];             /* its first operands after the result id (see uses below) */
  uint32_t at;               /* word index of the instruction, for struct members */
  uint32_t set, binding, array_stride;
  uint8_t has_set, has_binding, non_writable, buffer_block;
} spv_id;

typedef struct member_dec {
  uint32_t type, member, decoration, value;
} member_dec;

typedef struct reflector {
  const uint32_t *words;
  size_t n_words;
  spv_id *ids;
  uint32_t bound;
  member_dec *members;
  size_t n_members, cap_members;
} reflector;

static int fail(char *err, size_t size, const char *msg, unsigned a) {
  snprintf(err, size, msg, a);
  return -1;
}

static int member_non_writable(const reflector *r, uint32_t type, uint32_t member) {
  for (size_t i = 0; i < r->n_members; i++)
    if (r->members[i].type == type && r->members[i].member == member && r->members[i].decoration == DEC_NON_WRITABLE)
      return 1;
  return 0;
}

static int member_offset(const reflector *r, uint32_t type, uint32_t member, uint32_t *out) {
  for (size_t i = 0; i < r->n_members; i++)
    if (r->members[i].type == type && r->members[i].member == member && r->members[i].decoration == DEC_OFFSET) {
      *out = r->members[i].value;
      return 1;
    }
  return 0;
}

/* Size in bytes of a type as laid out in a block; UINT32_MAX when unknown. */
static uint32_t type_size(const reflector *r, uint32_t id, int depth) {
  if (id >= r->bound || depth > 16) return UINT32_MAX;
  const spv_id *t = &r->ids[id];
  switch (t->op) {
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT: return t->w[0] / 8;
    case OP_TYPE_VECTOR: {
      uint32_t c = type_size(r, t->w[0], depth + 1);
      return c == UINT32_MAX ? c : c * t->w[1];
    }
    case OP_TYPE_ARRAY: {
      uint32_t len_id = t->w[1];
      if (len_id >= r->bound || r->ids[len_id].op != OP_CONSTANT) return UINT32_MAX;
      uint64_t len = r->ids[len_id].w[1];
      uint64_t stride = t->array_stride ? t->array_stride : type_size(r, t->w[0], depth + 1);
      return stride == UINT32_MAX || len * stride > UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)(len * stride);
    }
    case OP_TYPE_STRUCT: {
      uint32_t wc = r->words[t->at] >> 16, end = 0;
      for (uint32_t m = 0; m + 2 < wc; m++) {
        uint32_t off = 0, size = type_size(r, r->words[t->at + 2 + m], depth + 1);
        if (size == UINT32_MAX || !member_offset(r, id, m, &off)) return UINT32_MAX;
        if ((uint64_t)off + size > end) end = off + size;
      }
      return end;
    }
  }
  return UINT32_MAX;
}

/* Pass one: remembers types, constants, variables and decorations by id. */
static int collect(reflector *r, mlg_spv_info *out, char *err, size_t es) {
  uint32_t main_id = UINT32_MAX;
  for (size_t at = 5; at < r->n_words;) {
    uint32_t op = r->words[at] & 0xffffu, wc = r->words[at] >> 16;
    if (wc == 0 || at + wc > r->n_words) return fail(err, es, "SPIR-V instruction at word %u is malformed", (unsigned)at);
    const uint32_t *w = r->words + at;
    switch (op) {
      case OP_ENTRY_POINT:
        if (wc >= 4 && w[1] == MODEL_GL_COMPUTE) {
          /* The name is a NUL-terminated literal inside the instruction. */
          size_t max = (wc - 3) * 4;
          const char *name = (const char *)(w + 3);
          if (memchr(name, '\0', max) && strcmp(name, "main") == 0) {
            out->has_main = 1;
            main_id = w[2];
          }
        }
        break;
      case OP_EXECUTION_MODE:
        if (wc >= 6 && w[1] == main_id && w[2] == MODE_LOCAL_SIZE)
          for (int d = 0; d < 3; d++) out->local_size[d] = w[3 + d];
        break;
      case OP_EXECUTION_MODE_ID:
        if (wc >= 3 && w[1] == main_id && w[2] == MODE_LOCAL_SIZE_ID) memset(out->local_size, 0, sizeof out->local_size);
        break;
      case OP_TYPE_INT: case OP_TYPE_FLOAT: case OP_TYPE_VECTOR: case OP_TYPE_ARRAY: case OP_TYPE_RUNTIME_ARRAY:
      case OP_TYPE_STRUCT: case OP_TYPE_POINTER:
        if (wc < 2 || w[1] >= r->bound) return fail(err, es, "SPIR-V type at word %u is malformed", (unsigned)at);
        r->ids[w[1]].op = op;
        r->ids[w[1]].at = (uint32_t)at;
        for (uint32_t k = 0; k < 3 && k + 2 < wc; k++) r->ids[w[1]].w[k] = w[2 + k];
        break;
      case OP_CONSTANT:
      case OP_VARIABLE:
        if (wc < 4 || w[2] >= r->bound) return fail(err, es, "SPIR-V instruction at word %u is malformed", (unsigned)at);
        r->ids[w[2]].op = op;
        r->ids[w[2]].w[0] = w[1]; /* result type */
        r->ids[w[2]].w[1] = w[3]; /* constant value (low word) or storage class */
        break;
      case OP_DECORATE: {
        if (wc < 3 || w[1] >= r->bound) return fail(err, es, "SPIR-V decoration at word %u is malformed", (unsigned)at);
        spv_id *t = &r->ids[w[1]];
        if (w[2] == DEC_NON_WRITABLE) t->non_writable = 1;
        if (w[2] == DEC_BUFFER_BLOCK) t->buffer_block = 1;
        if (wc >= 4 && w[2] == DEC_DESCRIPTOR_SET) t->has_set = 1, t->set = w[3];
        if (wc >= 4 && w[2] == DEC_BINDING) t->has_binding = 1, t->binding = w[3];
        if (wc >= 4 && w[2] == DEC_ARRAY_STRIDE) t->array_stride = w[3];
        break;
      }
      case OP_MEMBER_DECORATE:
        if (wc < 4) return fail(err, es, "SPIR-V member decoration at word %u is malformed", (unsigned)at);
        if (w[3] == DEC_NON_WRITABLE || (w[3] == DEC_OFFSET && wc >= 5)) {
          if (r->n_members == r->cap_members) {
            size_t cap = r->cap_members ? r->cap_members * 2 : 64;
            member_dec *m = realloc(r->members, cap * sizeof *m);
            if (!m) return fail(err, es, "out of host memory reflecting SPIR-V%.0u", 0);
            r->members = m;
            r->cap_members = cap;
          }
          r->members[r->n_members++] = (member_dec){w[1], w[2], w[3], wc >= 5 ? w[4] : 0};
        }
        break;
    }
    at += wc;
  }
  return 0;
}

/* Pass two: the module's resource variables. */
static int resources(reflector *r, mlg_spv_info *out, char *err, size_t es) {
  for (uint32_t id = 0; id < r->bound; id++) {
    const spv_id *v = &r->ids[id];
    if (v->op != OP_VARIABLE) continue;
    uint32_t storage = v->w[1];
    uint32_t ptr = v->w[0];
    uint32_t pointee = ptr < r->bound && r->ids[ptr].op == OP_TYPE_POINTER ? r->ids[ptr].w[1] : UINT32_MAX;
    if (storage == SC_PUSH_CONSTANT) {
      uint32_t size = pointee < r->bound ? type_size(r, pointee, 0) : UINT32_MAX;
      if (size > out->push_constant_size || size == UINT32_MAX) out->push_constant_size = size;
      continue;
    }
    int storage_buffer = storage == SC_STORAGE_BUFFER ||
                         (storage == SC_UNIFORM && pointee < r->bound && r->ids[pointee].buffer_block);
    if (!storage_buffer) {
      if (storage == SC_UNIFORM || storage == SC_UNIFORM_CONSTANT) out->other_resources = 1;
      continue;
    }
    if (out->n_bindings == MLG_SPV_MAX_BINDINGS)
      return fail(err, es, "the shader declares more than %u storage buffers", MLG_SPV_MAX_BINDINGS);
    int writable = !v->non_writable;
    if (writable && pointee < r->bound && r->ids[pointee].op == OP_TYPE_STRUCT) {
      uint32_t wc = r->words[r->ids[pointee].at] >> 16;
      int all = wc > 2;
      for (uint32_t m = 0; m + 2 < wc && all; m++) all = member_non_writable(r, pointee, m);
      if (all || r->ids[pointee].non_writable) writable = 0;
    }
    out->bindings[out->n_bindings++] = (mlg_spv_binding){v->has_set ? v->set : 0, v->has_binding ? v->binding : 0, writable};
  }
  return 0;
}

int mlg_spv_reflect(const void *code, size_t size, mlg_spv_info *out, char *err, size_t es) {
  memset(out, 0, sizeof *out);
  if (size % 4 != 0 || size < 20) return fail(err, es, "%u bytes are not a SPIR-V module", (unsigned)size);
  reflector r = {.words = code, .n_words = size / 4};
  if (r.words[0] != 0x07230203u) return fail(err, es, "bad SPIR-V magic number 0x%08x", r.words[0]);
  r.bound = r.words[3];
  if (r.bound == 0 || r.bound > MAX_BOUND) return fail(err, es, "SPIR-V id bound %u is out of range", r.bound);
  r.ids = calloc(r.bound, sizeof *r.ids);
  if (!r.ids) return fail(err, es, "out of host memory reflecting SPIR-V (%u ids)", r.bound);
  int rc = collect(&r, out, err, es);
  if (rc == 0) rc = resources(&r, out, err, es);
  free(r.ids);
  free(r.members);
  return rc;
}

/* onnx_file.c — bounded reads of ONNX protobuf files through protobuf-c (see onnx_file.h). */
#include "onnx_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void set_err(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t size, const char *fmt, ...) {
  if (!err || !size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
}

int mlg_onnx_read_bytes(const char *path, uint8_t **out_bytes, size_t *out_size, char *err,
                        size_t err_size) {
  *out_bytes = NULL;
  *out_size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, err_size, "cannot read '%s': %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc(cap);
  int rc = buf ? 0 : -1;
  while (rc == 0) {
    if (len == cap) {
      if (cap > MLG_ONNX_MAX_FILE_BYTES) {
        set_err(err, err_size, "'%s' is larger than %zu MiB, the most mlg imports", path,
                MLG_ONNX_MAX_FILE_BYTES >> 20);
        rc = -1;
        break;
      }
      uint8_t *nbuf = realloc(buf, cap * 2);
      if (!nbuf) {
        rc = -1;
        break;
      }
      buf = nbuf;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) {
        set_err(err, err_size, "cannot read '%s': %s", path, strerror(errno ? errno : EIO));
        rc = -1;
      }
      break;
    }
  }
  fclose(f);
  if (rc == 0 && len > MLG_ONNX_MAX_FILE_BYTES) {
    set_err(err, err_size, "'%s' is larger than %zu MiB, the most mlg imports", path,
            MLG_ONNX_MAX_FILE_BYTES >> 20);
    rc = -1;
  }
  if (rc != 0) {
    if (!buf) set_err(err, err_size, "out of memory reading '%s'", path);
    free(buf);
    return -1;
  }
  *out_bytes = buf;
  *out_size = len;
  return 0;
}

/* ---- the structural walk ------------------------------------------------------------------ */

static int read_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return -1;
    uint8_t byte = p[(*pos)++];
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* Checks that the bytes are well-formed protobuf wire data for `desc`: every field's length fits,
 * no groups, and submessages (as the schema names them) nest at most MLG_ONNX_MAX_DEPTH deep.
 * Returns 0, or -1 with the reason in *why. */
static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, int depth,
                const char **why) {
  if (depth > MLG_ONNX_MAX_DEPTH) {
    *why = "messages nest deeper than 64 levels";
    return -1;
  }
  size_t pos = 0;
  while (pos < n) {
    uint64_t key, len;
    if (read_varint(p, n, &pos, &key) != 0) {
      *why = "a field key is cut off";
      return -1;
    }
    switch (key & 7) {
    case 0:
      if (read_varint(p, n, &pos, &len) != 0) {
        *why = "a varint is cut off";
        return -1;
      }
      break;
    case 1:
    case 5: {
      size_t w = (key & 7) == 1 ? 8 : 4;
      if (n - pos < w) {
        *why = "a fixed-size field is cut off";
        return -1;
      }
      pos += w;
      break;
    }
    case 2: {
      if (read_varint(p, n, &pos, &len) != 0 || len > n - pos) {
        *why = "a length runs past the end of its message";
        return -1;
      }
      uint64_t id = key >> 3;
      const ProtobufCFieldDescriptor *fd =
          id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)id) : NULL;
      if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
          walk(fd->descriptor, p + pos, (size_t)len, depth + 1, why) != 0)
        return -1;
      pos += (size_t)len;
      break;
    }
    default:
      *why = "it uses a wire type that ONNX files never use (a group or an invalid type)";
      return -1;
    }
  }
  return 0;
}

/* ---- a bounded allocator for protobuf-c ------------------------------------------------------ */

typedef struct alloc_budget {
  size_t used, limit;
} alloc_budget;

enum { HEADER = 16 }; /* keeps the payload max-aligned */

static void *budget_alloc(void *data, size_t size) {
  alloc_budget *b = data;
  if (size > SIZE_MAX - HEADER) return NULL;
  if (b && (size > b->limit || b->used > b->limit - size)) return NULL;
  unsigned char *p = malloc(size + HEADER);
  if (!p) return NULL;
  memcpy(p, &size, sizeof size);
  if (b) b->used += size;
  return p + HEADER;
}

static void budget_free(void *data, void *ptr) {
  if (!ptr) return;
  unsigned char *p = (unsigned char *)ptr - HEADER;
  alloc_budget *b = data;
  if (b) {
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size < b->used ? size : b->used;
  }
  free(p);
}

/* Frees with no budget: the accounting ended with the unpack. */
static ProtobufCAllocator free_allocator = {budget_alloc, budget_free, NULL};

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                                size_t size, const char *what, char *err, size_t err_size) {
  const char *why = NULL;
  if (walk(desc, bytes, size, 0, &why) != 0) {
    set_err(err, err_size, "'%s' is not a valid ONNX %s file: %s", what,
            desc == &onnx__model_proto__descriptor ? "model" : "tensor", why);
    return NULL;
  }
  alloc_budget budget = {0, size * 2 + ((size_t)256 << 20)};
  ProtobufCAllocator allocator = {budget_alloc, budget_free, &budget};
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, &allocator, size, bytes);
  if (!m) {
    if (budget.used + (size_t)(1 << 20) >= budget.limit)
      set_err(err, err_size, "'%s' would take more than %zu MiB of memory to read; it is not a "
              "plausible ONNX file", what, budget.limit >> 20);
    else
      set_err(err, err_size, "'%s' is not a valid ONNX %s file (protobuf-c could not decode it)",
              what, desc == &onnx__model_proto__descriptor ? "model" : "tensor");
  }
  return m;
}

int mlg_onnx_model_unpack(const uint8_t *bytes, size_t size, const char *what,
                          Onnx__ModelProto **out_model, char *err, size_t err_size) {
  *out_model = (Onnx__ModelProto *)unpack(&onnx__model_proto__descriptor, bytes, size, what, err,
                                          err_size);
  return *out_model ? 0 : -1;
}

void mlg_onnx_model_free(Onnx__ModelProto *model) {
  if (model) onnx__model_proto__free_unpacked(model, &free_allocator);
}

int mlg_onnx_tensor_proto_read(const char *path, Onnx__TensorProto **out_tensor, char *err,
                               size_t err_size) {
  *out_tensor = NULL;
  uint8_t *bytes;
  size_t size;
  if (mlg_onnx_read_bytes(path, &bytes, &size, err, err_size) != 0) return -1;
  *out_tensor = (Onnx__TensorProto *)unpack(&onnx__tensor_proto__descriptor, bytes, size, path,
                                            err, err_size);
  free(bytes);
  return *out_tensor ? 0 : -1;
}

void mlg_onnx_tensor_proto_free(Onnx__TensorProto *tensor) {
  if (tensor) onnx__tensor_proto__free_unpacked(tensor, &free_allocator);
}

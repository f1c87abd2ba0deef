/* npy.c — strict .npy reader (format 1.0, 2.0, 3.0) and writer (1.0).
 *
 * The header is a Python dict literal. Rather than a general Python parser, this accepts exactly
 * what numpy writes: the keys 'descr', 'fortran_order' and 'shape' once each, in any order, with
 * any spacing, an optional trailing comma, then space padding and a newline. Anything else is an
 * error that says what was found. */
#include "tensor_file.h"

#include "dtype.h"
#include "file_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_HEADER_ALIGN 64
/* Dimensions above this are refused before any arithmetic, so products stay well-defined. */
#define NPY_MAX_DIM ((int64_t)1 << 62)

/* ---- header dict parser ---- */

typedef struct cursor {
  const char *s;
  size_t i, n;
  const char *name;   /* file name for messages */
  char *err;
  size_t es;
} cursor;

static void skip_ws(cursor *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' ||
                         c->s[c->i] == '\n'))
    c->i++;
}

static int syntax(cursor *c, const char *expected) {
  if (c->i >= c->n)
    return mlg_errorf(c->err, c->es, "%s: malformed header: expected %s at end of header", c->name, expected);
  char ch = c->s[c->i];
  if (ch >= 0x20 && ch < 0x7f)
    return mlg_errorf(c->err, c->es, "%s: malformed header: expected %s at byte %zu, found '%c'", c->name,
                expected, c->i, ch);
  return mlg_errorf(c->err, c->es, "%s: malformed header: expected %s at byte %zu, found byte 0x%02x",
              c->name, expected, c->i, (unsigned)(unsigned char)ch);
}

static int expect(cursor *c, char ch, const char *what) {
  skip_ws(c);
  if (c->i >= c->n || c->s[c->i] != ch) return syntax(c, what);
  c->i++;
  return 0;
}

/* A quoted string ('...' or "..."), without escapes. */
static int parse_str(cursor *c, const char **out, size_t *out_len) {
  skip_ws(c);
  if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return syntax(c, "a quoted string");
  char q = c->s[c->i++];
  size_t start = c->i;
  while (c->i < c->n && c->s[c->i] != q) {
    if (c->s[c->i] == '\\')
      return mlg_errorf(c->err, c->es, "%s: malformed header: escape sequence in a string at byte %zu",
                  c->name, c->i);
    c->i++;
  }
  if (c->i >= c->n) return syntax(c, "the end of a string");
  *out = c->s + start;
  *out_len = c->i - start;
  c->i++;
  return 0;
}

static int match_word(cursor *c, const char *word) {
  size_t len = strlen(word);
  if (c->n - c->i < len || memcmp(c->s + c->i, word, len) != 0) return 0;
  c->i += len;
  return 1;
}

/* A non-negative integer, optionally with Python 2's 'L' suffix. */
static int parse_dim(cursor *c, int index, int64_t *out) {
  skip_ws(c);
  if (c->i < c->n && c->s[c->i] == '-')
    return mlg_errorf(c->err, c->es, "%s: shape dimension %d is negative", c->name, index);
  if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9') return syntax(c, "a dimension");
  int64_t v = 0;
  while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
    int digit = c->s[c->i] - '0';
    if (v > (NPY_MAX_DIM - digit) / 10)
      return mlg_errorf(c->err, c->es, "%s: shape dimension %d is too large", c->name, index);
    v = v * 10 + digit;
    c->i++;
  }
  if (c->i < c->n && c->s[c->i] == 'L') c->i++;
  *out = v;
  return 0;
}

/* (), (a,), (a, b), (a, b,) */
static int parse_shape(cursor *c, int *out_rank, int64_t *dims) {
  if (expect(c, '(', "'(' starting the shape tuple")) return -1;
  int rank = 0;
  int trailing_comma = 0;
  for (;;) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ')') { c->i++; break; }
    if (rank == MLG_TF_MAX_RANK)
      return mlg_errorf(c->err, c->es, "%s: rank exceeds %d (shape has more dimensions)", c->name,
                  MLG_TF_MAX_RANK);
    if (parse_dim(c, rank, &dims[rank])) return -1;
    rank++;
    skip_ws(c);
    trailing_comma = 0;
    if (c->i < c->n && c->s[c->i] == ',') { c->i++; trailing_comma = 1; continue; }
    if (c->i < c->n && c->s[c->i] == ')') { c->i++; break; }
    return syntax(c, "',' or ')' in the shape tuple");
  }
  if (rank == 1 && !trailing_comma)
    return mlg_errorf(c->err, c->es, "%s: malformed header: shape '(n)' is not a tuple (numpy writes '(n,)')",
                c->name);
  *out_rank = rank;
  return 0;
}

_Static_assert((int)MLG_TF_F32 == MLG_DT_F32 && (int)MLG_TF_I32 == MLG_DT_I32 &&
                   (int)MLG_TF_BOOL == MLG_DT_BOOL && (int)MLG_TF_I64 == MLG_DT_I64 &&
                   (int)MLG_TF_F16 == MLG_DT_F16 && (int)MLG_TF_I8 == MLG_DT_I8 &&
                   (int)MLG_TF_U8 == MLG_DT_U8,
               "tensor-file dtypes are numbered as dtype.h");

/* Maps a descr to a dtype (the descr numpy writes for it, dtype.h), or explains why not. */
static int parse_descr(cursor *c, const char *d, size_t len, mlg_tf_dtype *out) {
  for (uint32_t k = 0; k < MLG_DT_COUNT; k++)
    if (len == strlen(mlg_dtype_get(k)->npy) && memcmp(d, mlg_dtype_get(k)->npy, len) == 0) {
      *out = (mlg_tf_dtype)k;
      return 0;
    }
  int shown = len > 32 ? 32 : (int)len;
  if (len >= 2 && d[0] == '>' && d[1] != 'O')
    return mlg_errorf(c->err, c->es, "%s: big-endian dtype '%.*s' not supported; save little-endian "
                "('<f4', e.g. arr.astype('<f4'))", c->name, shown, d);
  size_t kind = (len > 0 && d[0] && strchr("<>|=", d[0])) ? 1 : 0;
  if (kind < len && d[kind] == 'O')
    return mlg_errorf(c->err, c->es, "%s: object dtype '%.*s' not supported (arrays of Python objects); "
                "save as float32", c->name, shown, d);
  return mlg_errorf(c->err, c->es, "%s: dtype '%.*s' not supported; save as float32 (mlg also reads "
              "float16, int32, int64, int8, uint8 and bool)", c->name, shown, d);
}

static int parse_header(cursor *c, mlg_tf_tensor *t) {
  int seen_descr = 0, seen_order = 0, seen_shape = 0;
  if (expect(c, '{', "'{' starting the header dict")) return -1;
  for (;;) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == '}') { c->i++; break; }
    const char *key;
    size_t klen;
    if (parse_str(c, &key, &klen)) return -1;
    if (expect(c, ':', "':' after a key")) return -1;
    skip_ws(c);
    int *seen;
    if (klen == 5 && memcmp(key, "descr", 5) == 0) {
      seen = &seen_descr;
    } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
      seen = &seen_order;
    } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
      seen = &seen_shape;
    } else {
      return mlg_errorf(c->err, c->es, "%s: unknown key '%.*s' in header (expected descr, fortran_order, "
                  "shape)", c->name, klen > 32 ? 32 : (int)klen, key);
    }
    if (*seen)
      return mlg_errorf(c->err, c->es, "%s: key '%.*s' appears twice in header", c->name, (int)klen, key);
    *seen = 1;
    if (seen == &seen_descr) {
      if (c->i < c->n && c->s[c->i] == '[')
        return mlg_errorf(c->err, c->es, "%s: structured dtype not supported; save a plain float32 array",
                    c->name);
      const char *d;
      size_t dlen;
      if (parse_str(c, &d, &dlen) || parse_descr(c, d, dlen, &t->dtype)) return -1;
    } else if (seen == &seen_order) {
      if (match_word(c, "True"))
        return mlg_errorf(c->err, c->es, "%s: fortran_order True not supported; save a C-ordered array "
                    "(np.ascontiguousarray)", c->name);
      if (!match_word(c, "False")) return syntax(c, "True or False for fortran_order");
    } else {
      if (parse_shape(c, &t->rank, t->dims)) return -1;
    }
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ',') { c->i++; continue; }
    if (c->i < c->n && c->s[c->i] == '}') { c->i++; break; }
    return syntax(c, "',' or '}' in the header dict");
  }
  skip_ws(c);
  if (c->i != c->n) return syntax(c, "the end of the header after '}'");
  const char *missing = !seen_descr ? "descr" : !seen_order ? "fortran_order" : !seen_shape ? "shape" : NULL;
  if (missing) return mlg_errorf(c->err, c->es, "%s: header lacks the '%s' key", c->name, missing);
  return 0;
}

/* Formats a shape as numpy prints it: (2, 3), (5,), (). */
static void shape_str(const int64_t *dims, int rank, char *buf, size_t n) {
  size_t j = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < rank && j < n; d++)
    j += (size_t)snprintf(buf + j, n - j, d ? ", %lld" : "%lld", (long long)dims[d]);
  if (j < n) snprintf(buf + j, n - j, rank == 1 ? ",)" : ")");
}

static int npy_parse(const char *name, const uint8_t *p, size_t n, mlg_tf_tensor *out, char *err,
                     size_t es) {
  if (n < 10)
    return mlg_errorf(err, es, "%s: truncated: %zu bytes, an .npy file has at least 10", name, n);
  if (memcmp(p, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
    return mlg_errorf(err, es, "%s: not an .npy file (bad magic)", name);
  unsigned major = p[6], minor = p[7];
  size_t hstart, hlen;
  if (major == 1 && minor == 0) {
    hstart = 10;
    hlen = (size_t)p[8] | (size_t)p[9] << 8;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (n < 12) return mlg_errorf(err, es, "%s: truncated: %zu bytes, a version %u.0 header needs 12", name,
                            n, major);
    hstart = 12;
    hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
  } else {
    return mlg_errorf(err, es, "%s: .npy format version %u.%u not supported (1.0, 2.0 and 3.0 are)", name,
                major, minor);
  }
  if (hlen > n - hstart)
    return mlg_errorf(err, es, "%s: header length %zu extends past the end of the file (%zu bytes)", name,
                hlen, n);
  if (hlen == 0 || p[hstart + hlen - 1] != '\n')
    return mlg_errorf(err, es, "%s: malformed header: it does not end with a newline", name);

  mlg_tf_tensor t;
  memset(&t, 0, sizeof t);
  cursor c = { (const char *)p + hstart, 0, hlen - 1, name, err, es };
  if (parse_header(&c, &t)) return -1;

  size_t numel = 1, esize = (size_t)mlg_dtype_get(t.dtype)->host_bytes;
  for (int d = 0; d < t.rank; d++) {
    if (t.dims[d] == 0)
      return mlg_errorf(err, es, "%s: dimension %d is 0; empty arrays not supported", name, d);
    if ((uint64_t)t.dims[d] > (SIZE_MAX / 8) / numel)
      return mlg_errorf(err, es, "%s: shape overflows the addressable size", name);
    numel *= (size_t)t.dims[d];
  }
  size_t need = numel * esize, have = n - hstart - hlen;
  char sh[160];
  if (have < need) {
    shape_str(t.dims, t.rank, sh, sizeof sh);
    return mlg_errorf(err, es, "%s: data truncated: shape %s needs %zu bytes, file has %zu", name, sh, need,
                have);
  }
  if (have > need)
    return mlg_errorf(err, es, "%s: %zu trailing bytes after the data", name, have - need);
  t.size = need;
  t.data = malloc(need);
  if (!t.data) return mlg_errorf(err, es, "%s: out of memory for %zu bytes", name, need);
  memcpy(t.data, p + hstart + hlen, need);
  *out = t;
  return 0;
}

int mlg_npy_read_memory(const void *bytes, size_t size, mlg_tf_tensor *out, char *err, size_t err_size) {
  if (!out) return mlg_errorf(err, err_size, "mlg_npy_read_memory: invalid arguments");
  memset(out, 0, sizeof *out);
  if (!bytes && size) return mlg_errorf(err, err_size, "mlg_npy_read_memory: invalid arguments");
  return npy_parse("npy data", bytes, size, out, err, err_size);
}

int mlg_npy_read_file(const char *path, mlg_tf_tensor *out, char *err, size_t err_size) {
  if (!out || !path) return mlg_errorf(err, err_size, "mlg_npy_read_file: invalid arguments");
  memset(out, 0, sizeof *out);
  uint8_t *buf;
  size_t n;
  if (mlg_read_file(path, &buf, &n, err, err_size)) return -1;
  int rc = npy_parse(path, buf, n, out, err, err_size);
  free(buf);
  return rc;
}

int mlg_npy_write_file(const char *path, const mlg_tf_tensor *t, char *err, size_t err_size) {
  if (!path || !t) return mlg_errorf(err, err_size, "mlg_npy_write_file: invalid arguments");
  const mlg_dtype_info *dt = mlg_dtype_get((uint32_t)t->dtype);
  if (!dt) return mlg_errorf(err, err_size, "%s: unknown dtype %d", path, (int)t->dtype);
  if (t->rank < 0 || t->rank > MLG_TF_MAX_RANK)
    return mlg_errorf(err, err_size, "%s: rank %d (at most %d)", path, t->rank, MLG_TF_MAX_RANK);
  size_t numel = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d] < 1 || t->dims[d] > NPY_MAX_DIM)
      return mlg_errorf(err, err_size, "%s: dimension %d is %lld", path, d, (long long)t->dims[d]);
    if ((uint64_t)t->dims[d] > (SIZE_MAX / 8) / numel)
      return mlg_errorf(err, err_size, "%s: shape overflows", path);
    numel *= (size_t)t->dims[d];
  }
  size_t need = numel * (size_t)dt->host_bytes;
  if (t->size != need || !t->data)
    return mlg_errorf(err, err_size, "%s: tensor has %zu bytes of data, its shape needs %zu", path, t->size,
                need);

  char sh[200], header[320];
  shape_str(t->dims, t->rank, sh, sizeof sh);
  int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     dt->npy, sh);
  /* Pad with spaces so magic + length + header + '\n' is a multiple of 64 (numpy's alignment). */
  size_t total = 10 + (size_t)len + 1;
  size_t padded = (total + NPY_HEADER_ALIGN - 1) / NPY_HEADER_ALIGN * NPY_HEADER_ALIGN;
  size_t hlen = padded - 10;
  uint8_t pre[10 + sizeof header + NPY_HEADER_ALIGN];
  memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = (uint8_t)(hlen & 0xff);
  pre[9] = (uint8_t)(hlen >> 8);
  memcpy(pre + 10, header, (size_t)len);
  memset(pre + 10 + len, ' ', hlen - (size_t)len - 1);
  pre[padded - 1] = '\n';

  FILE *f = fopen(path, "wb");
  if (!f) return mlg_errorf(err, err_size, "%s: cannot create: %s", path, strerror(errno));
  int ok = fwrite(pre, 1, padded, f) == padded && fwrite(t->data, 1, t->size, f) == t->size;
  if (fclose(f) != 0) ok = 0;
  if (!ok) return mlg_errorf(err, err_size, "%s: write error: %s", path, strerror(errno));
  return 0;
}

void mlg_tf_tensor_free(mlg_tf_tensor *t) {
  if (!t) return;
  free(t->name);
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* safetensors.c — strict .safetensors reader and writer (F32, I32, BOOL, I64, F16, I8 and U8
 * tensors).
 *
 * File: u64 little-endian header length N, N bytes of JSON, then the data buffer. The JSON is
 * parsed by a small RFC 8259 parser into a tree (depth-limited), then interpreted: an object
 * mapping names to {"dtype", "shape", "data_offsets"}, plus an optional "__metadata__" object of
 * strings. The tensors' byte ranges must tile the data buffer exactly: no gaps, no overlap. */
#include "tensor_file.h"

#include "dtype.h"
#include "file_util.h"
#include "suggest.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20)  /* the reference implementation's limit */
#define ST_MAX_DEPTH 32
#define ST_MAX_INT ((uint64_t)1 << 62)

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* ---- JSON, read in place ----
 *
 * Two passes over the header text, neither of which builds a tree: the first checks the syntax
 * of the whole header (RFC 8259, nesting at most ST_MAX_DEPTH) without allocating; the second
 * interprets the checked text, allocating only the tensor list and each tensor's name. Memory is
 * therefore linear in the number of tensors, each of which takes some 50 bytes of header. */

typedef struct jparser {
  const char *s;
  size_t i, n;
  const char *name;
  char *err;
  size_t es;
} jparser;

static const char *jtype_name(char c) {
  return c == '{' ? "an object" : c == '[' ? "an array" : c == '"' ? "a string"
         : c == 't' || c == 'f' ? "a boolean" : c == 'n' ? "null" : "a number";
}

static int jerr(jparser *p, const char *what) {
  if (p->i >= p->n)
    return mlg_errorf(p->err, p->es, "%s: bad JSON header: %s at end of header", p->name, what);
  unsigned char ch = (unsigned char)p->s[p->i];
  if (ch >= 0x20 && ch < 0x7f)
    return mlg_errorf(p->err, p->es, "%s: bad JSON header: %s at byte %zu ('%c')", p->name, what, p->i, ch);
  return mlg_errorf(p->err, p->es, "%s: bad JSON header: %s at byte %zu (0x%02x)", p->name, what, p->i, ch);
}

static void jws(jparser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                         p->s[p->i] == '\r'))
    p->i++;
}

static int hex4(jparser *p, unsigned *out) {
  if (p->n - p->i < 4) return jerr(p, "truncated \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p->s[p->i + k];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
               : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
    if (d == 16) return jerr(p, "bad hex digit in \\u escape");
    v = v << 4 | d;
  }
  p->i += 4;
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* At the opening quote: checks the string and moves past it. With `out`, a malloc'd decoded copy
 * (NUL-terminated; it may hold an embedded NUL) goes to *out and its length to *out_len. Escapes
 * never lengthen the text, so the raw length bounds the copy. */
static int jstring(jparser *p, char **out, size_t *out_len) {
  size_t pos = p->i;
  p->i++;
  size_t start = p->i;
  while (p->i < p->n && p->s[p->i] != '"') p->i += p->s[p->i] == '\\' && p->i + 1 < p->n ? 2 : 1;
  if (p->i >= p->n) { p->i = pos; return jerr(p, "unterminated string"); }
  size_t raw = p->i - start;
  p->i = start;
  char scratch[8];
  char *o = NULL;
  if (out) {
    *out = NULL;
    if (!(o = malloc(raw + 1))) return mlg_errorf(p->err, p->es, "%s: out of memory", p->name);
  }
  size_t k = 0;
#define EMIT(ptr, len)                             \
  do {                                             \
    if (o) memcpy(o + k, (ptr), (len));            \
    k += (len);                                    \
  } while (0)
  while (p->s[p->i] != '"') {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c < 0x20) { jerr(p, "control character in string"); goto fail; }
    if (c != '\\') {
      size_t len = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
      if (!len) { jerr(p, "invalid UTF-8 in string"); goto fail; }
      EMIT(p->s + p->i, len);
      p->i += len;
      continue;
    }
    p->i++;
    char e = p->s[p->i++];
    char one = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b' : e == 'f' ? '\f'
               : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
    if (one) {
      EMIT(&one, 1);
      continue;
    }
    if (e != 'u') {
      p->i--;
      { jerr(p, "bad escape in string"); goto fail; }
    }
    unsigned cp;
    if (hex4(p, &cp)) goto fail;
    if (cp >= 0xdc00 && cp <= 0xdfff) { jerr(p, "unpaired low surrogate in \\u escape"); goto fail; }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      unsigned lo;
      if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
        { jerr(p, "unpaired high surrogate in \\u escape"); goto fail; }
      p->i += 2;
      if (hex4(p, &lo)) goto fail;
      if (lo < 0xdc00 || lo > 0xdfff) { jerr(p, "bad low surrogate in \\u escape"); goto fail; }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    size_t len = put_utf8(scratch, cp);
    EMIT(scratch, len);
  }
#undef EMIT
  p->i++;
  if (o) {
    o[k] = '\0';
    *out = o;
    *out_len = k;
  }
  return 0;
fail:
  free(o);
  return -1;
}

/* At a number: checks it and moves past it; the token goes to *tok and *tok_len. */
static int jnumber(jparser *p, const char **tok, size_t *tok_len) {
  size_t i = p->i;
  if (i < p->n && p->s[i] == '-') i++;
  if (i < p->n && p->s[i] == '0') i++;
  else if (i < p->n && p->s[i] >= '1' && p->s[i] <= '9') while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  else { p->i = i; return jerr(p, "bad number"); }
  if (i < p->n && p->s[i] == '.') {
    i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') { p->i = i; return jerr(p, "bad number"); }
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  }
  if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
    i++;
    if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') { p->i = i; return jerr(p, "bad number"); }
    while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
  }
  *tok = p->s + p->i;
  *tok_len = i - p->i;
  p->i = i;
  return 0;
}

/* Checks one value (after optional whitespace) and moves past it. Allocates nothing. */
static int jskip(jparser *p, int depth) {
  jws(p);
  if (p->i >= p->n) return jerr(p, "expected a value");
  char c = p->s[p->i];
  if (c == '"') return jstring(p, NULL, NULL);
  if (c == '-' || (c >= '0' && c <= '9')) {
    const char *tok;
    size_t len;
    return jnumber(p, &tok, &len);
  }
  if (c == '{' || c == '[') {
    int is_obj = c == '{';
    char close = is_obj ? '}' : ']';
    if (depth >= ST_MAX_DEPTH)
      return mlg_errorf(p->err, p->es, "%s: bad JSON header: nesting deeper than %d levels at byte %zu", p->name,
                        ST_MAX_DEPTH, p->i);
    p->i++;
    jws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
      if (is_obj) {
        jws(p);
        if (p->i >= p->n || p->s[p->i] != '"') return jerr(p, "expected a string key");
        if (jstring(p, NULL, NULL)) return -1;
        jws(p);
        if (p->i >= p->n || p->s[p->i] != ':') return jerr(p, "expected ':'");
        p->i++;
      }
      if (jskip(p, depth + 1)) return -1;
      jws(p);
      if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
      if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
      return jerr(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  static const char *const words[] = {"true", "false", "null"};
  for (size_t k = 0; k < 3; k++) {
    size_t len = strlen(words[k]);
    if (p->n - p->i >= len && memcmp(p->s + p->i, words[k], len) == 0) {
      p->i += len;
      return 0;
    }
  }
  return jerr(p, "expected a value");
}

/* Walking text the first pass checked: the first character of the value at p (its type). */
static char jpeek(jparser *p) {
  jws(p);
  return p->s[p->i];
}

/* At '{' or '[': moves inside. 0 when the container is empty (and moves past it), else 1. */
static int jenter(jparser *p) {
  p->i++;
  jws(p);
  if (p->s[p->i] == '}' || p->s[p->i] == ']') {
    p->i++;
    return 0;
  }
  return 1;
}

/* After an element: 1 and past the ',' when another follows, else 0 and past the close. */
static int jnext(jparser *p) {
  jws(p);
  return p->s[p->i++] == ',';
}

/* At a member: its key decoded into a malloc'd *key, and p at its value. */
static int jkey(jparser *p, char **key, size_t *key_len) {
  jws(p);
  if (jstring(p, key, key_len)) return -1;
  jws(p);
  p->i++; /* ':' */
  return 0;
}

/* ---- interpretation ---- */

typedef struct st_entry {
  const char *name;
  size_t name_len;
  uint64_t begin, end;
  int index;           /* position in the output tensor list */
} st_entry;

static int cmp_by_name(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);
  if (c) return c;
  return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int cmp_by_begin(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

/* The value at p as a non-negative integer no larger than 2^62 (so sums and products below
 * stay in range); p moves past it either way. */
static int juint(jparser *p, uint64_t *out) {
  char c = jpeek(p);
  if (c != '-' && (c < '0' || c > '9')) {
    jskip(p, 1);
    return -1;
  }
  const char *tok;
  size_t len;
  jnumber(p, &tok, &len);
  uint64_t r = 0;
  for (size_t i = 0; i < len; i++) {
    if (tok[i] < '0' || tok[i] > '9') return -1;
    uint64_t digit = (uint64_t)(tok[i] - '0');
    if (r > (ST_MAX_INT - digit) / 10) return -1;
    r = r * 10 + digit;
  }
  *out = r;
  return 0;
}

/* Shown names in messages: at most 64 bytes. */
#define NAMEF "'%.*s'"
#define NAMEA(str, len) ((len) > 64 ? 64 : (int)(len)), (str)

static int key_is(const char *key, size_t len, const char *want) {
  return len == strlen(want) && memcmp(key, want, len) == 0;
}

/* Tensor `name` (its key), whose value is at p: fills t (but its name) and e's offsets. */
static int read_tensor_entry(jparser *p, const char *name, size_t name_len, uint64_t data_len, mlg_tf_tensor *t,
                             st_entry *e) {
  const char *fname = p->name;
  char *err = p->err;
  size_t es = p->es;
  if (name_len == 0) return mlg_errorf(err, es, "%s: a tensor has an empty name", fname);
  if (memchr(name, 0, name_len))
    return mlg_errorf(err, es, "%s: tensor name " NAMEF " contains a NUL character", fname, NAMEA(name, name_len));
  char type = jpeek(p);
  if (type != '{')
    return mlg_errorf(err, es, "%s: tensor " NAMEF " is %s, expected an object", fname, NAMEA(name, name_len),
                      jtype_name(type));
  /* Where each field's value starts; 0 while absent (no value starts at byte 0). */
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  size_t at[3] = {0, 0, 0};
  for (int more = jenter(p); more; more = jnext(p)) {
    char *k;
    size_t klen;
    if (jkey(p, &k, &klen)) return -1;
    int f = 0;
    while (f < 3 && !key_is(k, klen, fields[f])) f++;
    int rc = 0;
    if (f == 3)
      rc = mlg_errorf(err, es, "%s: tensor " NAMEF " has unknown field " NAMEF, fname, NAMEA(name, name_len),
                      NAMEA(k, klen));
    else if (at[f])
      rc = mlg_errorf(err, es, "%s: tensor " NAMEF " has field " NAMEF " twice", fname, NAMEA(name, name_len),
                      NAMEA(k, klen));
    free(k);
    if (rc) return rc;
    jws(p);
    at[f] = p->i;
    jskip(p, 1);
  }
  for (int f = 0; f < 3; f++)
    if (!at[f])
      return mlg_errorf(err, es, "%s: tensor " NAMEF " lacks \"%s\"", fname, NAMEA(name, name_len), fields[f]);

  p->i = at[0];
  if (jpeek(p) != '"')
    return mlg_errorf(err, es, "%s: tensor " NAMEF " dtype is %s, expected a string", fname, NAMEA(name, name_len),
                      jtype_name(jpeek(p)));
  char *dtype;
  size_t dlen;
  if (jstring(p, &dtype, &dlen)) return -1;
  int dt = -1;
  for (uint32_t k = 0; k < MLG_DT_COUNT && dt < 0; k++)
    if (key_is(dtype, dlen, mlg_dtype_get(k)->safetensors)) dt = (int)k;
  int rc = 0;
  if (dt < 0)
    rc = mlg_errorf(err, es, "%s: tensor " NAMEF " has dtype " NAMEF "; mlg reads F32, F16, I32, I64, I8, U8 and "
                    "BOOL (save as float32)", fname, NAMEA(name, name_len), NAMEA(dtype, dlen));
  free(dtype);
  if (rc) return rc;
  t->dtype = (mlg_tf_dtype)dt;
  uint64_t esize = (uint64_t)mlg_dtype_get((uint32_t)dt)->host_bytes;

  p->i = at[1];
  if (jpeek(p) != '[')
    return mlg_errorf(err, es, "%s: tensor " NAMEF " shape is %s, expected an array", fname, NAMEA(name, name_len),
                      jtype_name(jpeek(p)));
  size_t start = p->i;
  int rank = 0;
  for (int more = jenter(p); more; more = jnext(p)) {
    jskip(p, 1);
    if (rank < INT_MAX) rank++;
  }
  if (rank > MLG_TF_MAX_RANK)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " has rank %d (at most %d)", fname, NAMEA(name, name_len), rank,
                      MLG_TF_MAX_RANK);
  p->i = start;
  t->rank = rank;
  uint64_t numel = 1;
  int d = 0;
  for (int more = jenter(p); more; more = jnext(p), d++) {
    uint64_t dim;
    if (juint(p, &dim))
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape[%d] is not a non-negative integer below 2^62", fname,
                        NAMEA(name, name_len), d);
    if (dim == 0)
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape[%d] is 0; empty tensors not supported", fname,
                        NAMEA(name, name_len), d);
    if (dim > (ST_MAX_INT / 8) / numel)
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape overflows", fname, NAMEA(name, name_len));
    numel *= dim;
    t->dims[d] = (int64_t)dim;
  }

  p->i = at[2];
  int n_offs = 0, bad = jpeek(p) != '[';
  for (int more = bad ? 0 : jenter(p); more && !bad; more = jnext(p)) {
    uint64_t v = 0;
    bad = n_offs == 2 || juint(p, &v) != 0;
    if (!bad) *(n_offs++ ? &e->end : &e->begin) = v;
  }
  if (bad || n_offs != 2)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets must be [begin, end] with non-negative "
                      "integers", fname, NAMEA(name, name_len));
  if (e->begin > e->end)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets [%llu, %llu] are unordered (begin > end)", fname,
                      NAMEA(name, name_len), (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end > data_len)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets [%llu, %llu] out of range: the data "
                      "buffer has %llu bytes", fname, NAMEA(name, name_len), (unsigned long long)e->begin,
                      (unsigned long long)e->end, (unsigned long long)data_len);
  if (e->end - e->begin != numel * esize)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " has %llu bytes of data, its shape needs %llu", fname,
                      NAMEA(name, name_len), (unsigned long long)(e->end - e->begin),
                      (unsigned long long)(numel * esize));
  t->size = (size_t)(numel * esize);
  e->name = name;
  e->name_len = name_len;
  return 0;
}

/* The __metadata__ value at p: an object of strings. */
static int check_metadata(jparser *p) {
  char type = jpeek(p);
  if (type != '{')
    return mlg_errorf(p->err, p->es, "%s: __metadata__ is %s, expected an object of strings", p->name,
                      jtype_name(type));
  for (int more = jenter(p); more; more = jnext(p)) {
    char *k;
    size_t klen;
    if (jkey(p, &k, &klen)) return -1;
    type = jpeek(p);
    int rc = type == '"' ? 0
             : mlg_errorf(p->err, p->es, "%s: __metadata__ entry " NAMEF " is %s, expected a string", p->name,
                          NAMEA(k, klen), jtype_name(type));
    free(k);
    if (rc) return rc;
    jskip(p, 1);
  }
  return 0;
}

/* Parses bytes[0, size). With `adopt` (== bytes, malloc'd), the data buffer is moved to its start
 * and kept as the file's storage on success, instead of copied. */
static int st_parse(const char *fname, const uint8_t *bytes, size_t size, uint8_t *adopt, mlg_safetensors *out,
                    char *err, size_t es) {
  if (size < 8)
    return mlg_errorf(err, es, "%s: truncated: %zu bytes, a .safetensors file starts with an 8-byte "
                "header length", fname, size);
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
  if (hlen > size - 8)
    return mlg_errorf(err, es, "%s: header length %llu extends past the end of the file (%zu bytes)", fname,
                (unsigned long long)hlen, size);
  if (hlen > ST_MAX_HEADER)
    return mlg_errorf(err, es, "%s: header length %llu exceeds the 100 MiB limit", fname,
                (unsigned long long)hlen);
  if (hlen < 2 || bytes[8] != '{')
    return mlg_errorf(err, es, "%s: header is not a JSON object", fname);
  uint64_t data_len = size - 8 - hlen;

  jparser p = { (const char *)bytes + 8, 0, (size_t)hlen, fname, err, es };
  st_entry *entries = NULL;
  int rc = -1, n_tensors = 0, n_named = 0, n_metadata = 0;
  if (jskip(&p, 0)) goto done;
  jws(&p);
  if (p.i != p.n) { jerr(&p, "trailing characters after the JSON object"); goto done; }

  /* Count the tensors, so their list is allocated once, at its size. */
  p.i = 0;
  for (int more = jenter(&p); more; more = jnext(&p)) {
    char *k;
    size_t klen;
    if (jkey(&p, &k, &klen)) goto done;
    if (key_is(k, klen, "__metadata__")) n_metadata++;
    else n_tensors++;
    free(k);
    jskip(&p, 1);
  }
  if (n_metadata > 1) {
    mlg_errorf(err, es, "%s: \"__metadata__\" appears more than once", fname);
    goto done;
  }
  out->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *out->tensors);
  entries = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *entries);
  if (!out->tensors || !entries) { mlg_errorf(err, es, "%s: out of memory", fname); goto done; }
  p.i = 0;
  for (int more = jenter(&p); more; more = jnext(&p)) {
    char *k;
    size_t klen;
    if (jkey(&p, &k, &klen)) goto done;
    if (key_is(k, klen, "__metadata__")) {
      free(k);
      if (check_metadata(&p)) goto done;
      continue;
    }
    int i = n_named++;
    out->tensors[i].name = k; /* owned by the list from here on, freed with it on failure */
    entries[i].index = i;
    jws(&p);
    size_t value = p.i;
    if (read_tensor_entry(&p, k, klen, data_len, &out->tensors[i], &entries[i])) goto done;
    p.i = value; /* the entry's fields were read in their own order: step over it whole */
    jskip(&p, 1);
  }
  /* Duplicate names: neighbours once sorted. */
  qsort(entries, (size_t)n_tensors, sizeof *entries, cmp_by_name);
  for (int k = 1; k < n_tensors; k++)
    if (cmp_by_name(&entries[k - 1], &entries[k]) == 0) {
      mlg_errorf(err, es, "%s: duplicate tensor name " NAMEF, fname, NAMEA(entries[k].name, entries[k].name_len));
      goto done;
    }
  /* The byte ranges must tile [0, data_len) in some order. */
  qsort(entries, (size_t)n_tensors, sizeof *entries, cmp_by_begin);
  uint64_t pos = 0;
  for (int k = 0; k < n_tensors; k++) {
    if (entries[k].begin < pos) {
      mlg_errorf(err, es, "%s: data of tensors " NAMEF " and " NAMEF " overlap", fname,
                 NAMEA(entries[k - 1].name, entries[k - 1].name_len), NAMEA(entries[k].name, entries[k].name_len));
      goto done;
    }
    if (entries[k].begin > pos) {
      mlg_errorf(err, es, "%s: %llu-byte gap in the data before tensor " NAMEF " (offsets must be "
                 "contiguous)", fname, (unsigned long long)(entries[k].begin - pos),
                 NAMEA(entries[k].name, entries[k].name_len));
      goto done;
    }
    pos = entries[k].end;
  }
  if (pos != data_len) {
    mlg_errorf(err, es, "%s: %llu bytes of data after the last tensor", fname,
         (unsigned long long)(data_len - pos));
    goto done;
  }

  if (adopt) {
    memmove(adopt, bytes + 8 + hlen, (size_t)data_len);
    uint8_t *shrunk = realloc(adopt, data_len ? (size_t)data_len : 1);
    out->storage = shrunk ? shrunk : adopt;
  } else {
    out->storage = malloc(data_len ? (size_t)data_len : 1);
    if (!out->storage) {
      mlg_errorf(err, es, "%s: out of memory for %llu bytes", fname, (unsigned long long)data_len);
      goto done;
    }
    memcpy(out->storage, bytes + 8 + hlen, (size_t)data_len);
  }
  for (int k = 0; k < n_tensors; k++)
    out->tensors[entries[k].index].data = (uint8_t *)out->storage + entries[k].begin;
  out->n_tensors = n_tensors;
  rc = 0;
done:
  if (rc) {
    if (out->tensors)
      for (int k = 0; k < n_named; k++) free(out->tensors[k].name);
    free(out->tensors);
    memset(out, 0, sizeof *out);
  }
  free(entries);
  return rc;
}

int mlg_safetensors_read_memory(const void *bytes, size_t size, mlg_safetensors *out, char *err,
                                size_t err_size) {
  if (!out) return mlg_errorf(err, err_size, "mlg_safetensors_read_memory: invalid arguments");
  memset(out, 0, sizeof *out);
  if (!bytes && size) return mlg_errorf(err, err_size, "mlg_safetensors_read_memory: invalid arguments");
  return st_parse("safetensors data", bytes, size, NULL, out, err, err_size);
}

int mlg_safetensors_read_file(const char *path, mlg_safetensors *out, char *err, size_t err_size) {
  if (!out || !path) return mlg_errorf(err, err_size, "mlg_safetensors_read_file: invalid arguments");
  memset(out, 0, sizeof *out);
  uint8_t *buf;
  size_t n;
  if (mlg_read_file(path, &buf, &n, err, err_size)) return -1;
  errno = 0;
  int rc = st_parse(path, buf, n, buf, out, err, err_size);
  if (rc) {
    if (errno != ENOMEM) errno = EINVAL;
    free(buf);
  }
  return rc;
}

const mlg_tf_tensor *mlg_safetensors_find(const mlg_safetensors *file, const char *name) {
  if (!file || !name) return NULL;
  for (int i = 0; i < file->n_tensors; i++)
    if (strcmp(file->tensors[i].name, name) == 0) return &file->tensors[i];
  return NULL;
}

const char *mlg_safetensors_closest(const mlg_safetensors *file, const char *name) {
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; file && name && i < file->n_tensors; i++) {
    int d = mlg_suggest_distance(name, file->tensors[i].name);
    if (d >= 0 && d < best_d) {
      best_d = d;
      best = file->tensors[i].name;
    }
  }
  return best;
}

void mlg_safetensors_free(mlg_safetensors *file) {
  if (!file) return;
  if (file->tensors)
    for (int i = 0; i < file->n_tensors; i++) free(file->tensors[i].name);
  free(file->tensors);
  free(file->storage);
  memset(file, 0, sizeof *file);
}

/* ---- writer ---- */

typedef struct strbuf {
  char *p;
  size_t n, cap;
  int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->cap - b->n < len + 1) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < len + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, unsigned long long v) {
  char tmp[32];
  int len = snprintf(tmp, sizeof tmp, fmt, v);
  sb_put(b, tmp, (size_t)len);
}

/* A JSON string literal; the name was checked to be valid UTF-8. */
static void sb_json_string(strbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { char esc[2] = { '\\', (char)c }; sb_put(b, esc, 2); }
    else if (c < 0x20) sb_fmt(b, "\\u%04llx", c);
    else sb_put(b, s, 1);
  }
  sb_put(b, "\"", 1);
}

static int check_write_tensor(const char *path, const mlg_tf_tensor *t, int i, char *err, size_t es) {
  if (!t->name || !t->name[0]) return mlg_errorf(err, es, "%s: tensor %d has no name", path, i);
  if (strcmp(t->name, "__metadata__") == 0)
    return mlg_errorf(err, es, "%s: tensor %d may not be named __metadata__", path, i);
  size_t len = strlen(t->name);
  for (size_t k = 0; k < len;) {
    size_t l = utf8_len((const unsigned char *)t->name + k, len - k);
    if (!l) return mlg_errorf(err, es, "%s: tensor %d name is not valid UTF-8", path, i);
    k += l;
  }
  const mlg_dtype_info *dt = mlg_dtype_get((uint32_t)t->dtype);
  if (!dt) return mlg_errorf(err, es, "%s: tensor '%s' has unknown dtype %d", path, t->name, (int)t->dtype);
  if (t->rank < 0 || t->rank > MLG_TF_MAX_RANK)
    return mlg_errorf(err, es, "%s: tensor '%s' has rank %d (at most %d)", path, t->name, t->rank,
                MLG_TF_MAX_RANK);
  uint64_t numel = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d] < 1 || (uint64_t)t->dims[d] > (ST_MAX_INT / 8) / numel)
      return mlg_errorf(err, es, "%s: tensor '%s' dimension %d is %lld", path, t->name, d,
                  (long long)t->dims[d]);
    numel *= (uint64_t)t->dims[d];
  }
  uint64_t need = numel * (uint64_t)dt->host_bytes;
  if (t->size != need || !t->data)
    return mlg_errorf(err, es, "%s: tensor '%s' has %zu bytes of data, its shape needs %llu", path,
                t->name, t->size, (unsigned long long)need);
  return 0;
}

int mlg_safetensors_write_file(const char *path, const mlg_tf_tensor *tensors, int n, char *err,
                               size_t err_size) {
  if (!path || n < 0 || (n > 0 && !tensors))
    return mlg_errorf(err, err_size, "mlg_safetensors_write_file: invalid arguments");
  for (int i = 0; i < n; i++) {
    if (check_write_tensor(path, &tensors[i], i, err, err_size)) return -1;
    for (int j = 0; j < i; j++)
      if (strcmp(tensors[i].name, tensors[j].name) == 0)
        return mlg_errorf(err, err_size, "%s: duplicate tensor name '%s'", path, tensors[i].name);
  }
  strbuf h = { 0 };
  sb_str(&h, "{");
  uint64_t pos = 0;
  for (int i = 0; i < n; i++) {
    const mlg_tf_tensor *t = &tensors[i];
    if (i) sb_str(&h, ",");
    sb_json_string(&h, t->name);
    sb_str(&h, ":{\"dtype\":\"");
    sb_str(&h, mlg_dtype_get((uint32_t)t->dtype)->safetensors);
    sb_str(&h, "\",\"shape\":[");
    for (int d = 0; d < t->rank; d++) sb_fmt(&h, d ? ",%llu" : "%llu", (unsigned long long)t->dims[d]);
    sb_fmt(&h, "],\"data_offsets\":[%llu,", pos);
    pos += t->size;
    sb_fmt(&h, "%llu]}", pos);
  }
  sb_str(&h, "}");
  /* Pad with spaces so the data starts 8-byte aligned, as the reference writer does. */
  while (!h.oom && h.n % 8 != 0) sb_str(&h, " ");
  if (h.oom) { free(h.p); return mlg_errorf(err, err_size, "%s: out of memory", path); }

  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  /* Written whole or not at all: a full disk leaves no partial file behind. */
  mlg_file_part *parts = malloc(((size_t)n + 2) * sizeof *parts);
  if (!parts) { free(h.p); return mlg_errorf(err, err_size, "%s: out of memory", path); }
  parts[0] = (mlg_file_part){len8, 8};
  parts[1] = (mlg_file_part){h.p, h.n};
  for (int i = 0; i < n; i++) parts[2 + i] = (mlg_file_part){tensors[i].data, tensors[i].size};
  int rc = mlg_write_parts_atomic(path, parts, n + 2);
  int e = errno;
  free(parts);
  free(h.p);
  if (rc != 0) return mlg_errorf(err, err_size, "%s: cannot write: %s", path, strerror(e));
  return 0;
}

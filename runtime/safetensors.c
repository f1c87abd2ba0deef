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

/* ---- JSON tree ---- */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval jval;
struct jval {
  jtype type;
  size_t pos;            /* byte offset in the header, for messages */
  const char *num;       /* J_NUM: the raw token */
  size_t num_len;
  char *str;             /* J_STR: decoded, NUL-terminated (may hold an embedded NUL) */
  size_t str_len;
  int n;                 /* J_ARR, J_OBJ */
  jval *items;
  jval *keys;            /* J_OBJ: J_STR keys, parallel to items */
};

static const char *jtype_name(jtype t) {
  static const char *const names[] = { "null", "a boolean", "a number", "a string", "an array",
                                       "an object" };
  return names[t];
}

static void jfree(jval *v) {
  if (!v) return;
  free(v->str);
  for (int i = 0; i < v->n; i++) {
    if (v->items) jfree(&v->items[i]);
    if (v->keys) jfree(&v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
}

typedef struct jparser {
  const char *s;
  size_t i, n;
  const char *name;
  char *err;
  size_t es;
} jparser;

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

/* At the opening quote. Escapes never lengthen the text, so the raw length bounds the output. */
static int jstring(jparser *p, jval *v) {
  v->type = J_STR;
  v->pos = p->i;
  p->i++;
  size_t start = p->i;
  while (p->i < p->n && p->s[p->i] != '"') p->i += p->s[p->i] == '\\' && p->i + 1 < p->n ? 2 : 1;
  if (p->i >= p->n) { p->i = v->pos; return jerr(p, "unterminated string"); }
  size_t raw = p->i - start;
  p->i = start;
  char *o = malloc(raw + 1);
  if (!o) return mlg_errorf(p->err, p->es, "%s: out of memory", p->name);
  v->str = o;
  size_t k = 0;
  while (p->s[p->i] != '"') {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c < 0x20) return jerr(p, "control character in string");
    if (c != '\\') {
      size_t len = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
      if (!len) return jerr(p, "invalid UTF-8 in string");
      memcpy(o + k, p->s + p->i, len);
      k += len;
      p->i += len;
      continue;
    }
    p->i++;
    char e = p->s[p->i++];
    switch (e) {
    case '"': o[k++] = '"'; break;
    case '\\': o[k++] = '\\'; break;
    case '/': o[k++] = '/'; break;
    case 'b': o[k++] = '\b'; break;
    case 'f': o[k++] = '\f'; break;
    case 'n': o[k++] = '\n'; break;
    case 'r': o[k++] = '\r'; break;
    case 't': o[k++] = '\t'; break;
    case 'u': {
      unsigned cp;
      if (hex4(p, &cp)) return -1;
      if (cp >= 0xdc00 && cp <= 0xdfff) return jerr(p, "unpaired low surrogate in \\u escape");
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
          return jerr(p, "unpaired high surrogate in \\u escape");
        p->i += 2;
        if (hex4(p, &lo)) return -1;
        if (lo < 0xdc00 || lo > 0xdfff) return jerr(p, "bad low surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      k += put_utf8(o + k, cp);
      break;
    }
    default:
      p->i--;
      return jerr(p, "bad escape in string");
    }
  }
  p->i++;
  o[k] = '\0';
  v->str_len = k;
  return 0;
}

static int jnumber(jparser *p, jval *v) {
  v->type = J_NUM;
  v->pos = p->i;
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
  v->num = p->s + p->i;
  v->num_len = i - p->i;
  p->i = i;
  return 0;
}

static int jvalue(jparser *p, jval *v, int depth);

/* Appends an element to a growing (items, keys) pair; `cap` is the current capacity. */
static int jgrow(jparser *p, jval *v, int *cap, int with_keys) {
  if (v->n < *cap) return 0;
  if (*cap > (1 << 24)) return jerr(p, "too many elements");
  int nc = *cap ? *cap * 2 : 4;
  jval *items = realloc(v->items, (size_t)nc * sizeof *items);
  if (!items) return mlg_errorf(p->err, p->es, "%s: out of memory", p->name);
  v->items = items;
  if (with_keys) {
    jval *keys = realloc(v->keys, (size_t)nc * sizeof *keys);
    if (!keys) return mlg_errorf(p->err, p->es, "%s: out of memory", p->name);
    v->keys = keys;
  }
  *cap = nc;
  return 0;
}

static int jcontainer(jparser *p, jval *v, int depth) {
  int is_obj = p->s[p->i] == '{';
  char close = is_obj ? '}' : ']';
  v->type = is_obj ? J_OBJ : J_ARR;
  v->pos = p->i;
  if (depth >= ST_MAX_DEPTH)
    return mlg_errorf(p->err, p->es, "%s: bad JSON header: nesting deeper than %d levels at byte %zu",
                p->name, ST_MAX_DEPTH, p->i);
  p->i++;
  jws(p);
  if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
  int cap = 0;
  for (;;) {
    if (jgrow(p, v, &cap, is_obj)) return -1;
    jval *item = &v->items[v->n];
    memset(item, 0, sizeof *item);
    if (is_obj) {
      jval *key = &v->keys[v->n];
      memset(key, 0, sizeof *key);
      v->n++;  /* counted now so a failure below frees what was parsed */
      jws(p);
      if (p->i >= p->n || p->s[p->i] != '"') return jerr(p, "expected a string key");
      if (jstring(p, key)) return -1;
      jws(p);
      if (p->i >= p->n || p->s[p->i] != ':') return jerr(p, "expected ':'");
      p->i++;
    } else {
      v->n++;
    }
    if (jvalue(p, item, depth + 1)) return -1;
    jws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    return jerr(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int jvalue(jparser *p, jval *v, int depth) {
  jws(p);
  if (p->i >= p->n) return jerr(p, "expected a value");
  char c = p->s[p->i];
  if (c == '{' || c == '[') return jcontainer(p, v, depth);
  if (c == '"') return jstring(p, v);
  if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p, v);
  v->pos = p->i;
  static const struct { const char *word; jtype type; } words[] = {
    { "true", J_BOOL }, { "false", J_BOOL }, { "null", J_NULL }
  };
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
    size_t len = strlen(words[k].word);
    if (p->n - p->i >= len && memcmp(p->s + p->i, words[k].word, len) == 0) {
      v->type = words[k].type;
      p->i += len;
      return 0;
    }
  }
  return jerr(p, "expected a value");
}

/* ---- interpretation ---- */

typedef struct st_entry {
  const jval *key;
  uint64_t begin, end;
  int index;           /* position in the output tensor list */
} st_entry;

static int cmp_by_name(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  size_t n = x->key->str_len < y->key->str_len ? x->key->str_len : y->key->str_len;
  int c = memcmp(x->key->str, y->key->str, n);
  if (c) return c;
  return (x->key->str_len > y->key->str_len) - (x->key->str_len < y->key->str_len);
}

static int cmp_by_begin(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

/* A non-negative integer no larger than 2^62 (so sums and products below stay in range). */
static int juint(const jval *v, uint64_t *out) {
  if (v->type != J_NUM || v->num_len == 0) return -1;
  uint64_t r = 0;
  for (size_t i = 0; i < v->num_len; i++) {
    char c = v->num[i];
    if (c < '0' || c > '9') return -1;
    uint64_t digit = (uint64_t)(c - '0');
    if (r > (ST_MAX_INT - digit) / 10) return -1;
    r = r * 10 + digit;
  }
  *out = r;
  return 0;
}

/* Shown names in messages: at most 64 bytes. */
#define NAMEF "'%.*s'"
#define NAMEA(k) ((k)->str_len > 64 ? 64 : (int)(k)->str_len), (k)->str

static int read_tensor_entry(const char *fname, const jval *key, const jval *v, uint64_t data_len,
                             mlg_tf_tensor *t, st_entry *e, char *err, size_t es) {
  if (key->str_len == 0) return mlg_errorf(err, es, "%s: a tensor has an empty name", fname);
  if (memchr(key->str, 0, key->str_len))
    return mlg_errorf(err, es, "%s: tensor name " NAMEF " contains a NUL character", fname, NAMEA(key));
  if (v->type != J_OBJ)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " is %s, expected an object", fname, NAMEA(key),
                jtype_name(v->type));
  const jval *dtype = NULL, *shape = NULL, *offs = NULL;
  for (int i = 0; i < v->n; i++) {
    const jval *k = &v->keys[i];
    const jval **slot = strcmp(k->str, "dtype") == 0 ? &dtype : strcmp(k->str, "shape") == 0 ? &shape
                      : strcmp(k->str, "data_offsets") == 0 ? &offs : NULL;
    if (!slot || k->str_len != strlen(k->str))
      return mlg_errorf(err, es, "%s: tensor " NAMEF " has unknown field " NAMEF, fname, NAMEA(key), NAMEA(k));
    if (*slot)
      return mlg_errorf(err, es, "%s: tensor " NAMEF " has field " NAMEF " twice", fname, NAMEA(key), NAMEA(k));
    *slot = &v->items[i];
  }
  const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
  if (missing) return mlg_errorf(err, es, "%s: tensor " NAMEF " lacks \"%s\"", fname, NAMEA(key), missing);

  if (dtype->type != J_STR)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " dtype is %s, expected a string", fname, NAMEA(key),
                jtype_name(dtype->type));
  int dt = -1;
  for (uint32_t k = 0; k < MLG_DT_COUNT && dt < 0; k++)
    if (strcmp(dtype->str, mlg_dtype_get(k)->safetensors) == 0 &&
        dtype->str_len == strlen(mlg_dtype_get(k)->safetensors))
      dt = (int)k;
  if (dt < 0)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " has dtype " NAMEF "; mlg reads F32, F16, I32, I64, "
                "I8, U8 and BOOL (save as float32)", fname, NAMEA(key), NAMEA(dtype));
  t->dtype = (mlg_tf_dtype)dt;
  uint64_t esize = (uint64_t)mlg_dtype_get((uint32_t)dt)->host_bytes;

  if (shape->type != J_ARR)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " shape is %s, expected an array", fname, NAMEA(key),
                jtype_name(shape->type));
  if (shape->n > MLG_TF_MAX_RANK)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " has rank %d (at most %d)", fname, NAMEA(key), shape->n,
                MLG_TF_MAX_RANK);
  t->rank = shape->n;
  uint64_t numel = 1;
  for (int d = 0; d < shape->n; d++) {
    uint64_t dim;
    if (juint(&shape->items[d], &dim))
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape[%d] is not a non-negative integer below 2^62",
                  fname, NAMEA(key), d);
    if (dim == 0)
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape[%d] is 0; empty tensors not supported", fname,
                  NAMEA(key), d);
    if (dim > (ST_MAX_INT / 8) / numel)
      return mlg_errorf(err, es, "%s: tensor " NAMEF " shape overflows", fname, NAMEA(key));
    numel *= dim;
    t->dims[d] = (int64_t)dim;
  }
  if (offs->type != J_ARR || offs->n != 2 || juint(&offs->items[0], &e->begin) ||
      juint(&offs->items[1], &e->end))
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets must be [begin, end] with non-negative "
                "integers", fname, NAMEA(key));
  if (e->begin > e->end)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets [%llu, %llu] are unordered (begin > end)",
                fname, NAMEA(key), (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end > data_len)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " data_offsets [%llu, %llu] out of range: the data "
                "buffer has %llu bytes", fname, NAMEA(key), (unsigned long long)e->begin,
                (unsigned long long)e->end, (unsigned long long)data_len);
  if (e->end - e->begin != numel * esize)
    return mlg_errorf(err, es, "%s: tensor " NAMEF " has %llu bytes of data, its shape needs %llu", fname,
                NAMEA(key), (unsigned long long)(e->end - e->begin), (unsigned long long)(numel * esize));
  t->size = (size_t)(numel * esize);
  e->key = key;
  return 0;
}

static int check_metadata(const char *fname, const jval *v, char *err, size_t es) {
  if (v->type != J_OBJ)
    return mlg_errorf(err, es, "%s: __metadata__ is %s, expected an object of strings", fname,
                jtype_name(v->type));
  for (int i = 0; i < v->n; i++)
    if (v->items[i].type != J_STR)
      return mlg_errorf(err, es, "%s: __metadata__ entry " NAMEF " is %s, expected a string", fname,
                  NAMEA(&v->keys[i]), jtype_name(v->items[i].type));
  return 0;
}

static int st_parse(const char *fname, const uint8_t *bytes, size_t size, mlg_safetensors *out,
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
  jval root;
  memset(&root, 0, sizeof root);
  st_entry *entries = NULL;
  int rc = -1, n_tensors = 0;
  if (jvalue(&p, &root, 0)) goto done;
  jws(&p);
  if (p.i != p.n) { jerr(&p, "trailing characters after the JSON object"); goto done; }

  for (int i = 0; i < root.n; i++)
    if (strcmp(root.keys[i].str, "__metadata__") != 0 || root.keys[i].str_len != 12) n_tensors++;
  if (n_tensors < root.n - 1) {
    mlg_errorf(err, es, "%s: \"__metadata__\" appears more than once", fname);
    goto done;
  }
  out->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *out->tensors);
  entries = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *entries);
  if (!out->tensors || !entries) { mlg_errorf(err, es, "%s: out of memory", fname); goto done; }
  for (int i = 0, k = 0; i < root.n; i++) {
    if (strcmp(root.keys[i].str, "__metadata__") == 0 && root.keys[i].str_len == 12) {
      if (check_metadata(fname, &root.items[i], err, es)) goto done;
      continue;
    }
    entries[k].index = k;
    if (read_tensor_entry(fname, &root.keys[i], &root.items[i], data_len, &out->tensors[k],
                          &entries[k], err, es))
      goto done;
    k++;
  }
  /* Duplicate names: neighbours once sorted. */
  qsort(entries, (size_t)n_tensors, sizeof *entries, cmp_by_name);
  for (int k = 1; k < n_tensors; k++)
    if (cmp_by_name(&entries[k - 1], &entries[k]) == 0) {
      mlg_errorf(err, es, "%s: duplicate tensor name " NAMEF, fname, NAMEA(entries[k].key));
      goto done;
    }
  /* The byte ranges must tile [0, data_len) in some order. */
  qsort(entries, (size_t)n_tensors, sizeof *entries, cmp_by_begin);
  uint64_t pos = 0;
  for (int k = 0; k < n_tensors; k++) {
    if (entries[k].begin < pos) {
      mlg_errorf(err, es, "%s: data of tensors " NAMEF " and " NAMEF " overlap", fname,
           NAMEA(entries[k - 1].key), NAMEA(entries[k].key));
      goto done;
    }
    if (entries[k].begin > pos) {
      mlg_errorf(err, es, "%s: %llu-byte gap in the data before tensor " NAMEF " (offsets must be "
           "contiguous)", fname, (unsigned long long)(entries[k].begin - pos), NAMEA(entries[k].key));
      goto done;
    }
    pos = entries[k].end;
  }
  if (pos != data_len) {
    mlg_errorf(err, es, "%s: %llu bytes of data after the last tensor", fname,
         (unsigned long long)(data_len - pos));
    goto done;
  }

  out->storage = malloc(data_len ? (size_t)data_len : 1);
  if (!out->storage) { mlg_errorf(err, es, "%s: out of memory for %llu bytes", fname, (unsigned long long)data_len); goto done; }
  memcpy(out->storage, bytes + 8 + hlen, (size_t)data_len);
  for (int k = 0; k < n_tensors; k++) {
    mlg_tf_tensor *t = &out->tensors[entries[k].index];
    const jval *key = entries[k].key;
    t->data = (uint8_t *)out->storage + entries[k].begin;
    if (!(t->name = malloc(key->str_len + 1))) { mlg_errorf(err, es, "%s: out of memory", fname); goto done; }
    memcpy(t->name, key->str, key->str_len + 1);
  }
  out->n_tensors = n_tensors;
  rc = 0;
done:
  if (rc) {
    if (out->tensors)
      for (int k = 0; k < n_tensors; k++) free(out->tensors[k].name);
    free(out->tensors);
    free(out->storage);
    memset(out, 0, sizeof *out);
  }
  free(entries);
  jfree(&root);
  return rc;
}

int mlg_safetensors_read_memory(const void *bytes, size_t size, mlg_safetensors *out, char *err,
                                size_t err_size) {
  if (!out) return mlg_errorf(err, err_size, "mlg_safetensors_read_memory: invalid arguments");
  memset(out, 0, sizeof *out);
  if (!bytes && size) return mlg_errorf(err, err_size, "mlg_safetensors_read_memory: invalid arguments");
  return st_parse("safetensors data", bytes, size, out, err, err_size);
}

int mlg_safetensors_read_file(const char *path, mlg_safetensors *out, char *err, size_t err_size) {
  if (!out || !path) return mlg_errorf(err, err_size, "mlg_safetensors_read_file: invalid arguments");
  memset(out, 0, sizeof *out);
  uint8_t *buf;
  size_t n;
  if (mlg_read_file(path, &buf, &n, err, err_size)) return -1;
  int rc = st_parse(path, buf, n, out, err, err_size);
  free(buf);
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
  FILE *f = fopen(path, "wb");
  if (!f) { free(h.p); return mlg_errorf(err, err_size, "%s: cannot create: %s", path, strerror(errno)); }
  int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.p, 1, h.n, f) == h.n;
  for (int i = 0; ok && i < n; i++)
    ok = fwrite(tensors[i].data, 1, tensors[i].size, f) == tensors[i].size;
  if (fclose(f) != 0) ok = 0;
  free(h.p);
  if (!ok) return mlg_errorf(err, err_size, "%s: write error: %s", path, strerror(errno));
  return 0;
}

/* test_tensor_file.c — .npy and .safetensors readers and writers: round trips, files written by
 * numpy and the safetensors package (tests/data/tf_*), and a catalogue of malformed files
 * (tests/data/bad/, made by tools/make_bad_tensor_files.py), each with its expected message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "tensor_file.h"

#define DATA_DIR MLG_SOURCE_DIR "/tests/data"

static char err[512];

static void data_path(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", DATA_DIR, name);
}

static void tmp_path(char *buf, size_t n, const char *suffix) {
  snprintf(buf, n, "%s/test_tensor_file_%ld_%s", MLG_BINARY_DIR, (long)getpid(), suffix);
}

static uint8_t *slurp(const char *path, size_t *out_n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *out_n = (size_t)n;
  return buf;
}

static float f32_at(const mlg_tf_tensor *t, size_t i) {
  float v;
  memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
  return v;
}

static int32_t i32_at(const mlg_tf_tensor *t, size_t i) {
  int32_t v;
  memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
  return v;
}

/* ---- .npy files written by numpy ---- */

START_TEST(npy_numpy_f32_1d) {
  char p[512];
  mlg_tf_tensor t;
  data_path(p, sizeof p, "tf_f32_1d.npy");
  ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(t.dtype, MLG_TF_F32);
  ck_assert_int_eq(t.rank, 1);
  ck_assert_int_eq(t.dims[0], 5);
  ck_assert_uint_eq(t.size, 20);
  ck_assert_ptr_null(t.name);
  for (int i = 0; i < 5; i++) ck_assert_float_eq(f32_at(&t, (size_t)i), i * 0.5f - 1.0f);
  mlg_tf_tensor_free(&t);
  ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(npy_numpy_i32_2d) {
  char p[512];
  mlg_tf_tensor t;
  data_path(p, sizeof p, "tf_i32_2d.npy");
  ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(t.dtype, MLG_TF_I32);
  ck_assert_int_eq(t.rank, 2);
  ck_assert_int_eq(t.dims[0], 2);
  ck_assert_int_eq(t.dims[1], 3);
  for (int i = 0; i < 6; i++) ck_assert_int_eq(i32_at(&t, (size_t)i), i - 2);
  mlg_tf_tensor_free(&t);
}
END_TEST

/* The other dtypes, as numpy and the safetensors package write them (make_bad_tensor_files.py):
 * the bytes of each, in file order. */
typedef struct dtype_file {
  const char *name;
  mlg_tf_dtype dtype;
  int rank;
  int64_t dims[2];
  size_t size;
  const void *bytes;
} dtype_file;

static const uint8_t bool_bytes[] = {1, 0, 1, 0, 0, 1};
static const int64_t i64_vals[] = {-3, 0, 2147483647, -2147483648LL, 7};
static const uint16_t f16_bits[] = {0x3E00, 0x8000, 0x7BFF, 0x0001, 0x7C00};
static const int8_t i8_vals[] = {-128, -1, 0, 127};
static const uint8_t u8_vals[] = {0, 1, 128, 255};
static const dtype_file dtype_files[] = {
  {"bool", MLG_TF_BOOL, 2, {2, 3}, 6, bool_bytes},
  {"i64", MLG_TF_I64, 1, {5}, 40, i64_vals},
  {"f16", MLG_TF_F16, 1, {5}, 10, f16_bits},
  {"i8", MLG_TF_I8, 1, {4}, 4, i8_vals},
  {"u8", MLG_TF_U8, 2, {2, 2}, 4, u8_vals},
};

static void check_dtype_file(const mlg_tf_tensor *t, const dtype_file *want) {
  ck_assert_int_eq(t->dtype, want->dtype);
  ck_assert_int_eq(t->rank, want->rank);
  for (int d = 0; d < want->rank; d++) ck_assert_int_eq(t->dims[d], want->dims[d]);
  ck_assert_uint_eq(t->size, want->size);
  ck_assert_mem_eq(t->data, want->bytes, want->size);
}

START_TEST(npy_numpy_dtypes) {
  for (size_t k = 0; k < sizeof dtype_files / sizeof dtype_files[0]; k++) {
    char p[512], file[64];
    snprintf(file, sizeof file, "tf_%s.npy", dtype_files[k].name);
    data_path(p, sizeof p, file);
    mlg_tf_tensor t;
    ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
    check_dtype_file(&t, &dtype_files[k]);
    /* Written back, it reads the same. */
    char q[512];
    tmp_path(q, sizeof q, "dt.npy");
    ck_assert_msg(mlg_npy_write_file(q, &t, err, sizeof err) == 0, "%s", err);
    mlg_tf_tensor u;
    ck_assert_msg(mlg_npy_read_file(q, &u, err, sizeof err) == 0, "%s", err);
    check_dtype_file(&u, &dtype_files[k]);
    mlg_tf_tensor_free(&u);
    mlg_tf_tensor_free(&t);
    unlink(q);
  }
}
END_TEST

/* The dtype table: names, sizes, the i64 narrowing and its refusal, half rounding. */
START_TEST(dtype_conversions) {
  ck_assert_str_eq(mlg_dtype_get(MLG_DT_BOOL)->name, "bool");
  ck_assert_int_eq(mlg_dtype_get(MLG_DT_I64)->host_bytes, 8);
  ck_assert_int_eq(mlg_dtype_get(MLG_DT_I64)->storage_bytes, 4);
  ck_assert_ptr_null(mlg_dtype_get(MLG_DT_COUNT));
  ck_assert_int_eq(mlg_dtype_by_name("u8"), MLG_DT_U8);
  ck_assert_int_eq(mlg_dtype_by_name("f64"), -1);
  int32_t st[5];
  int64_t back[5];
  size_t bad = 0;
  int64_t bad_value = 0;
  ck_assert_int_eq(mlg_dtype_to_storage(MLG_DT_I64, i64_vals, st, 5, &bad, &bad_value), 0);
  ck_assert_int_eq(st[2], 2147483647);
  ck_assert_int_eq(st[3], INT32_MIN);
  mlg_dtype_from_storage(MLG_DT_I64, st, back, 5);
  ck_assert_mem_eq(back, i64_vals, sizeof back);
  int64_t big[3] = {1, -2147483649LL, 5};
  ck_assert_int_eq(mlg_dtype_to_storage(MLG_DT_I64, big, st, 3, &bad, &bad_value), -1);
  ck_assert_uint_eq(bad, 1);
  ck_assert_int_eq(bad_value, -2147483649LL);
  uint8_t b[3] = {0, 2, 255}, bs[3];
  ck_assert_int_eq(mlg_dtype_to_storage(MLG_DT_BOOL, b, bs, 3, NULL, NULL), 0);
  ck_assert_int_eq(bs[0], 0);
  ck_assert_int_eq(bs[1], 1);
  ck_assert_int_eq(bs[2], 1);
  /* Half: exact values, ties to even, overflow, subnormals, NaN, and back. */
  ck_assert_uint_eq(mlg_f32_to_f16(1.5f), 0x3E00);
  ck_assert_uint_eq(mlg_f32_to_f16(65504.0f), 0x7BFF);
  ck_assert_uint_eq(mlg_f32_to_f16(65520.0f), 0x7C00);             /* rounds up to inf */
  ck_assert_uint_eq(mlg_f32_to_f16(65519.0f), 0x7BFF);
  ck_assert_uint_eq(mlg_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00);   /* tie, to even */
  ck_assert_uint_eq(mlg_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02);   /* tie, to even (up) */
  ck_assert_uint_eq(mlg_f32_to_f16(0x1p-24f), 0x0001);
  ck_assert_uint_eq(mlg_f32_to_f16(0x1p-25f), 0x0000);             /* tie, to even (zero) */
  ck_assert_uint_eq(mlg_f32_to_f16(0x1.8p-25f), 0x0001);
  ck_assert_uint_eq(mlg_f32_to_f16(-0.0f), 0x8000);
  ck_assert_uint_eq(mlg_f32_to_f16(-INFINITY), 0xFC00);
  ck_assert_uint_eq(mlg_f32_to_f16(NAN) & 0x7E00, 0x7E00);
  ck_assert_float_eq(mlg_f16_to_f32(0x0001), 0x1p-24f);
  ck_assert_float_eq(mlg_f16_to_f32(0x03FF), 1023 * 0x1p-24f);
  ck_assert_float_eq(mlg_f16_to_f32(0xC000), -2.0f);
  ck_assert(isnan(mlg_f16_to_f32(0x7E00)));
  for (uint32_t h = 0; h < 0x10000; h++) { /* every finite half survives a round trip */
    if ((h & 0x7C00) == 0x7C00) continue;
    ck_assert_uint_eq(mlg_f32_to_f16(mlg_f16_to_f32((uint16_t)h)), h);
  }
}
END_TEST

START_TEST(npy_numpy_scalar) {
  char p[512];
  mlg_tf_tensor t;
  data_path(p, sizeof p, "tf_f32_scalar.npy");
  ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(t.rank, 0);
  ck_assert_uint_eq(t.size, 4);
  ck_assert_float_eq(f32_at(&t, 0), 3.25f);
  mlg_tf_tensor_free(&t);
}
END_TEST

START_TEST(npy_numpy_4d) {
  char p[512];
  mlg_tf_tensor t;
  data_path(p, sizeof p, "tf_f32_4d.npy");
  ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(t.rank, 4);
  int64_t want[4] = { 2, 3, 4, 5 };
  for (int d = 0; d < 4; d++) ck_assert_int_eq(t.dims[d], want[d]);
  ck_assert_uint_eq(t.size, 480);
  for (int i = 0; i < 120; i++) ck_assert_float_eq(f32_at(&t, (size_t)i), i * 0.25f);
  mlg_tf_tensor_free(&t);
}
END_TEST

/* Format 2.0 and 3.0 headers (4-byte header length). */
START_TEST(npy_numpy_v2_v3) {
  const char *names[2] = { "tf_f32_v2.npy", "tf_f32_v3.npy" };
  for (int k = 0; k < 2; k++) {
    char p[512];
    mlg_tf_tensor t;
    data_path(p, sizeof p, names[k]);
    ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.dims[0], 3);
    ck_assert_int_eq(t.dims[1], 2);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(f32_at(&t, (size_t)i), i + 0.5f);
    mlg_tf_tensor_free(&t);
  }
}
END_TEST

START_TEST(npy_read_memory_matches_file) {
  char p[512];
  size_t n;
  data_path(p, sizeof p, "tf_i32_2d.npy");
  uint8_t *bytes = slurp(p, &n);
  mlg_tf_tensor t;
  ck_assert_msg(mlg_npy_read_memory(bytes, n, &t, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(i32_at(&t, 5), 3);
  mlg_tf_tensor_free(&t);
  /* Every proper prefix is rejected cleanly, with a message. */
  for (size_t len = 0; len < n; len++) {
    err[0] = '\0';
    ck_assert_int_eq(mlg_npy_read_memory(bytes, len, &t, err, sizeof err), -1);
    ck_assert_msg(err[0] != '\0', "no message at length %zu", len);
    ck_assert_ptr_null(t.data);
  }
  free(bytes);
}
END_TEST

/* Every single-byte change of a numpy-written file is rejected with a message or yields a
 * tensor whose size matches its shape (under ASan: no out-of-bounds reads). */
START_TEST(npy_flip_every_byte) {
  char p[512];
  size_t n;
  data_path(p, sizeof p, "tf_f32_4d.npy");
  uint8_t *bytes = slurp(p, &n);
  for (size_t i = 0; i < 128; i++) {
    static const uint8_t masks[] = { 0x01, 0x20, 0x80, 0xff };
    for (size_t m = 0; m < sizeof masks; m++) {
      bytes[i] ^= masks[m];
      mlg_tf_tensor t;
      err[0] = '\0';
      if (mlg_npy_read_memory(bytes, n, &t, err, sizeof err) == 0) {
        size_t numel = 1;
        for (int d = 0; d < t.rank; d++) numel *= (size_t)t.dims[d];
        ck_assert_uint_eq(t.size, numel * 4);
        mlg_tf_tensor_free(&t);
      } else {
        ck_assert_msg(err[0] != '\0', "no message for byte %zu", i);
      }
      bytes[i] ^= masks[m];
    }
  }
  free(bytes);
}
END_TEST

/* ---- .npy round trips ---- */

START_TEST(npy_round_trip) {
  float f[24];
  for (int i = 0; i < 24; i++) f[i] = (float)i * 1.5f - 7.0f;
  int32_t s = -123456;
  mlg_tf_tensor cases[3] = {
    { NULL, MLG_TF_F32, 3, { 2, 3, 4 }, sizeof f, f },
    { NULL, MLG_TF_I32, 0, { 0 }, 4, &s },
    { NULL, MLG_TF_F32, 8, { 1, 2, 1, 3, 1, 2, 1, 2 }, sizeof f, f },
  };
  for (int k = 0; k < 3; k++) {
    char p[512];
    tmp_path(p, sizeof p, "rt.npy");
    ck_assert_msg(mlg_npy_write_file(p, &cases[k], err, sizeof err) == 0, "%s", err);
    size_t n;
    uint8_t *bytes = slurp(p, &n);
    ck_assert_uint_eq((n - cases[k].size) % 64, 0); /* header padded to 64 bytes */
    ck_assert_int_eq(bytes[6], 1);
    free(bytes);
    mlg_tf_tensor t;
    ck_assert_msg(mlg_npy_read_file(p, &t, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(t.dtype, cases[k].dtype);
    ck_assert_int_eq(t.rank, cases[k].rank);
    for (int d = 0; d < t.rank; d++) ck_assert_int_eq(t.dims[d], cases[k].dims[d]);
    ck_assert_uint_eq(t.size, cases[k].size);
    ck_assert_mem_eq(t.data, cases[k].data, t.size);
    mlg_tf_tensor_free(&t);
    unlink(p);
  }
}
END_TEST

START_TEST(npy_write_rejects_inconsistent) {
  float f[6] = { 0 };
  mlg_tf_tensor t = { NULL, MLG_TF_F32, 2, { 2, 3 }, 20, f };
  char p[512];
  tmp_path(p, sizeof p, "bad.npy");
  ck_assert_int_eq(mlg_npy_write_file(p, &t, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "needs 24"));
  t.size = 24;
  t.dims[1] = 0;
  ck_assert_int_eq(mlg_npy_write_file(p, &t, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dimension 1 is 0"));
  unlink(p);
}
END_TEST

START_TEST(npy_missing_file) {
  mlg_tf_tensor t;
  ck_assert_int_eq(mlg_npy_read_file(DATA_DIR "/no_such_file.npy", &t, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "no_such_file.npy: cannot open"));
}
END_TEST

/* ---- bad .npy catalogue ---- */

static const struct { const char *file, *message; } bad_npy[] = {
  { "empty.npy", "empty.npy: truncated: 0 bytes" },
  { "bad_magic.npy", "not an .npy file (bad magic)" },
  { "truncated_prefix.npy", "truncated: 8 bytes" },
  { "header_past_end.npy", "header length 500 extends past the end of the file" },
  { "version4.npy", "format version 4.0 not supported" },
  { "big_endian.npy", "big-endian dtype '>f4' not supported" },
  { "fortran_order.npy", "fortran_order True not supported" },
  { "object_dtype.npy", "object dtype '|O' not supported" },
  { "float64.npy", "float64.npy: dtype '<f8' not supported; save as float32 (mlg also reads float16, "
                   "int32, int64, int8, uint8 and bool)" },
  { "structured.npy", "structured dtype not supported" },
  { "data_truncated.npy", "data truncated: shape (2, 3) needs 24 bytes, file has 8" },
  { "trailing_bytes.npy", "4 trailing bytes after the data" },
  { "rank9.npy", "rank exceeds 8" },
  { "negative_dim.npy", "shape dimension 0 is negative" },
  { "huge_dim.npy", "shape dimension 0 is too large" },
  { "overflow_dims.npy", "shape overflows" },
  { "zero_dim.npy", "empty arrays not supported" },
  { "missing_shape.npy", "header lacks the 'shape' key" },
  { "duplicate_key.npy", "key 'descr' appears twice" },
  { "unknown_key.npy", "unknown key 'extra'" },
  { "bad_syntax.npy", "malformed header: expected ':' after a key" },
  { "no_newline.npy", "does not end with a newline" },
  { "shape_not_tuple.npy", "is not a tuple" },
};

START_TEST(npy_bad_catalogue) {
  char p[512];
  snprintf(p, sizeof p, "%s/bad/%s", DATA_DIR, bad_npy[_i].file);
  mlg_tf_tensor t;
  err[0] = '\0';
  ck_assert_int_eq(mlg_npy_read_file(p, &t, err, sizeof err), -1);
  ck_assert_msg(strstr(err, bad_npy[_i].message) != NULL, "%s: expected \"%s\", got \"%s\"",
                bad_npy[_i].file, bad_npy[_i].message, err);
  ck_assert_msg(strstr(err, bad_npy[_i].file) != NULL, "message does not name the file: %s", err);
  ck_assert_ptr_null(t.data);
}
END_TEST

/* ---- .safetensors ---- */

START_TEST(st_from_safetensors_package) {
  char p[512];
  mlg_safetensors f;
  data_path(p, sizeof p, "tf_weights.safetensors");
  ck_assert_msg(mlg_safetensors_read_file(p, &f, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(f.n_tensors, 4);
  const mlg_tf_tensor *w = mlg_safetensors_find(&f, "fc1.weight");
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(w->dtype, MLG_TF_F32);
  ck_assert_int_eq(w->rank, 2);
  ck_assert_int_eq(w->dims[0], 4);
  ck_assert_int_eq(w->dims[1], 3);
  for (int i = 0; i < 12; i++) ck_assert_float_eq(f32_at(w, (size_t)i), (i - 6.0f) / 8.0f);
  const mlg_tf_tensor *b = mlg_safetensors_find(&f, "fc1.bias");
  ck_assert_ptr_nonnull(b);
  ck_assert_float_eq(f32_at(b, 3), -1.5f);
  const mlg_tf_tensor *s = mlg_safetensors_find(&f, "steps");
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(s->dtype, MLG_TF_I32);
  ck_assert_int_eq(i32_at(s, 3), -4);
  const mlg_tf_tensor *sc = mlg_safetensors_find(&f, "scale");
  ck_assert_ptr_nonnull(sc);
  ck_assert_int_eq(sc->rank, 0);
  ck_assert_float_eq(f32_at(sc, 0), 2.0f);
  ck_assert_ptr_null(mlg_safetensors_find(&f, "fc2.weight"));
  ck_assert_ptr_null(mlg_safetensors_find(&f, "__metadata__"));
  mlg_safetensors_free(&f);
  ck_assert_int_eq(f.n_tensors, 0);
}
END_TEST

START_TEST(st_dtypes_from_safetensors_package) {
  char p[512];
  data_path(p, sizeof p, "tf_dtypes.safetensors");
  mlg_safetensors f;
  ck_assert_msg(mlg_safetensors_read_file(p, &f, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(f.n_tensors, 5);
  for (size_t k = 0; k < sizeof dtype_files / sizeof dtype_files[0]; k++) {
    const mlg_tf_tensor *t = mlg_safetensors_find(&f, dtype_files[k].name);
    ck_assert_msg(t != NULL, "%s missing", dtype_files[k].name);
    check_dtype_file(t, &dtype_files[k]);
  }
  /* Written back, it reads the same. */
  char q[512];
  tmp_path(q, sizeof q, "dt.safetensors");
  ck_assert_msg(mlg_safetensors_write_file(q, f.tensors, f.n_tensors, err, sizeof err) == 0, "%s", err);
  mlg_safetensors g;
  ck_assert_msg(mlg_safetensors_read_file(q, &g, err, sizeof err) == 0, "%s", err);
  for (size_t k = 0; k < sizeof dtype_files / sizeof dtype_files[0]; k++)
    check_dtype_file(mlg_safetensors_find(&g, dtype_files[k].name), &dtype_files[k]);
  mlg_safetensors_free(&g);
  mlg_safetensors_free(&f);
  unlink(q);
}
END_TEST

START_TEST(st_round_trip) {
  float a[6] = { 1, -2, 3.5f, 4, 5, -6.25f };
  int32_t b[4] = { 7, -8, 9, 2147483647 };
  float c = 0.125f;
  mlg_tf_tensor ts[3] = {
    { "layer \"1\"\\w\n\xc3\xa9", MLG_TF_F32, 2, { 3, 2 }, sizeof a, a },
    { "ids", MLG_TF_I32, 1, { 4 }, sizeof b, b },
    { "c", MLG_TF_F32, 0, { 0 }, 4, &c },
  };
  char p[512];
  tmp_path(p, sizeof p, "rt.safetensors");
  ck_assert_msg(mlg_safetensors_write_file(p, ts, 3, err, sizeof err) == 0, "%s", err);
  size_t n;
  uint8_t *bytes = slurp(p, &n);
  ck_assert_uint_eq((n - sizeof a - sizeof b - 4 - 8) % 8, 0); /* header padded to 8 bytes */
  mlg_safetensors f;
  ck_assert_msg(mlg_safetensors_read_memory(bytes, n, &f, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(f.n_tensors, 3);
  for (int k = 0; k < 3; k++) {
    const mlg_tf_tensor *t = mlg_safetensors_find(&f, ts[k].name);
    ck_assert_msg(t != NULL, "tensor %d missing", k);
    ck_assert_int_eq(t->dtype, ts[k].dtype);
    ck_assert_int_eq(t->rank, ts[k].rank);
    for (int d = 0; d < t->rank; d++) ck_assert_int_eq(t->dims[d], ts[k].dims[d]);
    ck_assert_uint_eq(t->size, ts[k].size);
    ck_assert_mem_eq(t->data, ts[k].data, t->size);
  }
  mlg_safetensors_free(&f);
  /* Every proper prefix is rejected cleanly. */
  for (size_t len = 0; len < n; len++) {
    err[0] = '\0';
    ck_assert_int_eq(mlg_safetensors_read_memory(bytes, len, &f, err, sizeof err), -1);
    ck_assert_msg(err[0] != '\0', "no message at length %zu", len);
  }
  free(bytes);
  unlink(p);
}
END_TEST

START_TEST(st_empty_file_round_trip) {
  char p[512];
  tmp_path(p, sizeof p, "empty.safetensors");
  ck_assert_msg(mlg_safetensors_write_file(p, NULL, 0, err, sizeof err) == 0, "%s", err);
  mlg_safetensors f;
  ck_assert_msg(mlg_safetensors_read_file(p, &f, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(f.n_tensors, 0);
  mlg_safetensors_free(&f);
  unlink(p);
}
END_TEST

START_TEST(st_write_rejects_invalid) {
  float a[2] = { 1, 2 };
  mlg_tf_tensor ts[2] = {
    { "x", MLG_TF_F32, 1, { 2 }, 8, a },
    { "x", MLG_TF_F32, 1, { 2 }, 8, a },
  };
  char p[512];
  tmp_path(p, sizeof p, "bad.safetensors");
  ck_assert_int_eq(mlg_safetensors_write_file(p, ts, 2, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "duplicate tensor name 'x'"));
  ts[1].name = "y";
  ts[1].size = 4;
  ck_assert_int_eq(mlg_safetensors_write_file(p, ts, 2, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "tensor 'y' has 4 bytes of data, its shape needs 8"));
  ts[1].size = 8;
  ts[1].name = "__metadata__";
  ck_assert_int_eq(mlg_safetensors_write_file(p, ts, 2, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "__metadata__"));
  unlink(p);
}
END_TEST

static const struct { const char *file, *message; } bad_st[] = {
  { "short.safetensors", "truncated: 5 bytes" },
  { "header_past_end.safetensors", "header length 4096 extends past the end of the file" },
  { "header_huge.safetensors", "header length 9223372036854775808 extends past the end" },
  { "not_object.safetensors", "header is not a JSON object" },
  { "bad_json.safetensors", "bad JSON header: expected ',' or '}' at end of header" },
  { "trailing_json.safetensors", "trailing characters after the JSON object" },
  { "bad_escape.safetensors", "bad JSON header: bad escape in string" },
  { "bad_utf8.safetensors", "invalid UTF-8 in string" },
  { "deep_nesting.safetensors", "nesting deeper than 32 levels" },
  { "f64.safetensors", "tensor 'a' has dtype 'F64'; mlg reads F32, F16, I32, I64, I8, U8 and BOOL" },
  { "offsets_out_of_range.safetensors", "data_offsets [8, 16] out of range: the data buffer has 8 bytes" },
  { "overlap.safetensors", "data of tensors 'a' and 'b' overlap" },
  { "unordered.safetensors", "data_offsets [8, 0] are unordered" },
  { "gap.safetensors", "8-byte gap in the data before tensor 'a'" },
  { "trailing_data.safetensors", "8 bytes of data after the last tensor" },
  { "size_mismatch.safetensors", "tensor 'a' has 8 bytes of data, its shape needs 12" },
  { "duplicate_name.safetensors", "duplicate tensor name 'a'" },
  { "missing_offsets.safetensors", "tensor 'a' lacks \"data_offsets\"" },
  { "negative_dim.safetensors", "shape[0] is not a non-negative integer" },
  { "rank9.safetensors", "tensor 'a' has rank 9 (at most 8)" },
  { "metadata_not_string.safetensors", "__metadata__ entry 'n' is a number, expected a string" },
};

START_TEST(st_bad_catalogue) {
  char p[512];
  snprintf(p, sizeof p, "%s/bad/%s", DATA_DIR, bad_st[_i].file);
  mlg_safetensors f;
  err[0] = '\0';
  ck_assert_int_eq(mlg_safetensors_read_file(p, &f, err, sizeof err), -1);
  ck_assert_msg(strstr(err, bad_st[_i].message) != NULL, "%s: expected \"%s\", got \"%s\"",
                bad_st[_i].file, bad_st[_i].message, err);
  ck_assert_msg(strstr(err, bad_st[_i].file) != NULL, "message does not name the file: %s", err);
  ck_assert_int_eq(f.n_tensors, 0);
  ck_assert_ptr_null(f.tensors);
}
END_TEST

/* Every single-byte change of the package-written file is either rejected with a message or
 * yields tensors that tile the data buffer (checked under ASan: no out-of-bounds reads). */
START_TEST(st_flip_every_byte) {
  char p[512];
  size_t n;
  data_path(p, sizeof p, "tf_weights.safetensors");
  uint8_t *bytes = slurp(p, &n);
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit += 3) {
      bytes[i] ^= (uint8_t)(1u << bit);
      mlg_safetensors f;
      err[0] = '\0';
      if (mlg_safetensors_read_memory(bytes, n, &f, err, sizeof err) == 0) {
        size_t total = 0;
        for (int k = 0; k < f.n_tensors; k++) total += f.tensors[k].size;
        ck_assert_uint_le(total, n);
        mlg_safetensors_free(&f);
      } else {
        ck_assert_msg(err[0] != '\0', "no message for byte %zu", i);
      }
      bytes[i] ^= (uint8_t)(1u << bit);
    }
  }
  free(bytes);
}
END_TEST

static Suite *tensor_file_suite(void) {
  Suite *s = suite_create("tensor_file");
  TCase *npy = tcase_create("npy");
  tcase_add_test(npy, npy_numpy_f32_1d);
  tcase_add_test(npy, npy_numpy_i32_2d);
  tcase_add_test(npy, npy_numpy_dtypes);
  tcase_add_test(npy, dtype_conversions);
  tcase_add_test(npy, npy_numpy_scalar);
  tcase_add_test(npy, npy_numpy_4d);
  tcase_add_test(npy, npy_numpy_v2_v3);
  tcase_add_test(npy, npy_read_memory_matches_file);
  tcase_add_test(npy, npy_flip_every_byte);
  tcase_add_test(npy, npy_round_trip);
  tcase_add_test(npy, npy_write_rejects_inconsistent);
  tcase_add_test(npy, npy_missing_file);
  tcase_add_loop_test(npy, npy_bad_catalogue, 0, (int)(sizeof bad_npy / sizeof bad_npy[0]));
  suite_add_tcase(s, npy);
  TCase *st = tcase_create("safetensors");
  tcase_add_test(st, st_from_safetensors_package);
  tcase_add_test(st, st_round_trip);
  tcase_add_test(st, st_dtypes_from_safetensors_package);
  tcase_add_test(st, st_empty_file_round_trip);
  tcase_add_test(st, st_write_rejects_invalid);
  tcase_add_loop_test(st, st_bad_catalogue, 0, (int)(sizeof bad_st / sizeof bad_st[0]));
  tcase_add_test(st, st_flip_every_byte);
  suite_add_tcase(s, st);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(tensor_file_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

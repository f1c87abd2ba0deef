/* onnx_tensor.c — TensorProto values decoded into host memory, every size checked. */
#include <stdio.h>
#include <string.h>

#include "onnx_internal.h"
#include "../runtime/dtype.h"

#define OX_MAX_NUMEL ((int64_t)1 << 31)

const char *ox_dtype_name(int dtype) {
  static const char *const names[] = {
      "undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
      "bool", "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
      "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4",
      "float4e2m1", "float8e8m0", "uint2", "int2"};
  if (dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0])) return names[dtype];
  return "an unknown dtype";
}

int ox_is_int_dtype(int dtype) {
  switch (dtype) {
  case OX_UINT8: case OX_INT8: case OX_UINT16: case OX_INT16: case OX_INT32: case OX_INT64:
  case OX_BOOL: case OX_UINT32: case OX_UINT64:
    return 1;
  default:
    return 0;
  }
}

/* Bytes per element in raw_data; 0 for dtypes the importer does not decode. */
static size_t raw_size(int dtype) {
  switch (dtype) {
  case OX_FLOAT: case OX_INT32: case OX_UINT32: return 4;
  case OX_INT64: case OX_UINT64: case OX_DOUBLE: return 8;
  case OX_INT16: case OX_UINT16: case OX_FLOAT16: return 2;
  case OX_INT8: case OX_UINT8: case OX_BOOL: return 1;
  default: return 0;
  }
}

static int64_t raw_int(const uint8_t *p, int dtype) {
  switch (dtype) {
  case OX_INT8: return (int8_t)p[0];
  case OX_UINT8: case OX_BOOL: return p[0];
  case OX_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
  case OX_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
  case OX_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
  case OX_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
  default: { int64_t v; memcpy(&v, p, 8); return v; } /* INT64, UINT64 (as two's complement) */
  }
}

int ox_tensor_decode(mlg_arena *arena, const Onnx__TensorProto *t, ox_tensor *out, char *err,
                     size_t err_size) {
  memset(out, 0, sizeof *out);
  int dtype = t->has_data_type ? t->data_type : 0;
  out->dtype = dtype;
  if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    snprintf(err, err_size, "its data is in an external file, which mlg does not read: save the "
             "model with every tensor inside it (onnx.save_model(m, path, "
             "save_as_external_data=False), or torch.onnx.export without external data)");
    return -1;
  }
  if (t->segment) {
    snprintf(err, err_size, "it is a segment of a tensor, which mlg does not read");
    return -1;
  }
  if (t->n_dims > MLG_MAX_RANK) {
    snprintf(err, err_size, "it has %zu dims; mlg tensors have at most %d", t->n_dims, MLG_MAX_RANK);
    return -1;
  }
  out->rank = (int)t->n_dims;
  int64_t numel = 1;
  for (size_t k = 0; k < t->n_dims; k++) {
    if (t->dims[k] < 0 || __builtin_mul_overflow(numel, t->dims[k], &numel) || numel > OX_MAX_NUMEL) {
      snprintf(err, err_size, "its dims are negative or hold more than 2^31 elements");
      return -1;
    }
    out->dims[k] = t->dims[k];
  }
  out->numel = numel;
  size_t esize = raw_size(dtype);
  if (esize == 0 || dtype == OX_DOUBLE) {
    snprintf(err, err_size, "its dtype is %s; mlg imports float32, float16, integer and bool "
             "tensors", ox_dtype_name(dtype));
    return -1;
  }
  size_t n = (size_t)numel;
  size_t have;
  if (t->has_raw_data) have = t->raw_data.len / esize;
  else if (dtype == OX_FLOAT) have = t->n_float_data;
  else if (dtype == OX_INT64) have = t->n_int64_data;
  else if (dtype == OX_UINT32 || dtype == OX_UINT64) have = t->n_uint64_data;
  else have = t->n_int32_data;
  if ((t->has_raw_data && t->raw_data.len != n * esize) || have != n) {
    snprintf(err, err_size, "it holds %zu values where its dims need %zu", have, n);
    return -1;
  }
  if (dtype == OX_FLOAT) {
    float *f = mlg_arena_calloc(arena, n ? n : 1, sizeof *f);
    if (!f) goto oom;
    if (n) memcpy(f, t->has_raw_data ? (const void *)t->raw_data.data : (const void *)t->float_data,
                  n * sizeof *f);
    out->f = f;
    return 0;
  }
  if (dtype == OX_FLOAT16) { /* binary16 bits, in raw_data or one per int32_data */
    float *f = mlg_arena_calloc(arena, n ? n : 1, sizeof *f);
    if (!f) goto oom;
    for (size_t k = 0; k < n; k++) {
      uint16_t h;
      if (t->has_raw_data) memcpy(&h, t->raw_data.data + 2 * k, 2);
      else h = (uint16_t)t->int32_data[k];
      f[k] = mlg_f16_to_f32(h);
    }
    out->f = f;
    return 0;
  }
  int64_t *v = mlg_arena_calloc(arena, n ? n : 1, sizeof *v);
  if (!v) goto oom;
  for (size_t k = 0; k < n; k++) {
    if (t->has_raw_data) v[k] = raw_int(t->raw_data.data + k * esize, dtype);
    else if (dtype == OX_INT64) v[k] = t->int64_data[k];
    else if (dtype == OX_UINT32 || dtype == OX_UINT64) v[k] = (int64_t)t->uint64_data[k];
    else v[k] = t->int32_data[k];
    if (dtype == OX_BOOL) v[k] = v[k] != 0;
  }
  out->i = v;
  return 0;
oom:
  snprintf(err, err_size, "out of memory for %zu values", n);
  return -1;
}

int64_t ox_tensor_int(const ox_tensor *t, int64_t i) {
  if (t->i) return t->i[i];
  float f = t->f[i];
  return f != f ? 0 : f >= 9.2e18f ? INT64_MAX : f <= -9.2e18f ? INT64_MIN : (int64_t)f;
}

double ox_tensor_num(const ox_tensor *t, int64_t i) { return t->i ? (double)t->i[i] : (double)t->f[i]; }

/* dtype.c — the dtype table and the host ↔ storage conversions (dtype.h). */
#include "dtype.h"

#include <string.h>

static const mlg_dtype_info table[MLG_DT_COUNT] = {
  [MLG_DT_F32] = {"f32", 4, 4, "<f4", "F32"},
  [MLG_DT_I32] = {"i32", 4, 4, "<i4", "I32"},
  [MLG_DT_BOOL] = {"bool", 1, 1, "|b1", "BOOL"},
  [MLG_DT_I64] = {"i64", 8, 4, "<i8", "I64"},
  [MLG_DT_F16] = {"f16", 2, 2, "<f2", "F16"},
  [MLG_DT_I8] = {"i8", 1, 1, "|i1", "I8"},
  [MLG_DT_U8] = {"u8", 1, 1, "|u1", "U8"},
};

const mlg_dtype_info *mlg_dtype_get(uint32_t dtype) {
  return dtype < MLG_DT_COUNT ? &table[dtype] : NULL;
}

int mlg_dtype_by_name(const char *name) {
  for (int i = 0; name && i < MLG_DT_COUNT; i++)
    if (strcmp(table[i].name, name) == 0) return i;
  return -1;
}

int mlg_dtype_to_storage(uint32_t dtype, const void *src, void *dst, size_t n, size_t *out_bad,
                         int64_t *out_bad_value) {
  if (dtype == MLG_DT_I64) {
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
      int64_t v;
      memcpy(&v, s + i * 8, 8);
      if (v < INT32_MIN || v > INT32_MAX) {
        if (out_bad) *out_bad = i;
        if (out_bad_value) *out_bad_value = v;
        return -1;
      }
      int32_t w = (int32_t)v;
      memcpy((unsigned char *)dst + i * 4, &w, 4);
    }
    return 0;
  }
  if (dtype == MLG_DT_BOOL) {
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = s[i] != 0;
    return 0;
  }
  const mlg_dtype_info *t = mlg_dtype_get(dtype);
  if (t && n) memcpy(dst, src, n * (size_t)t->storage_bytes);
  return 0;
}

void mlg_dtype_from_storage(uint32_t dtype, const void *src, void *dst, size_t n) {
  if (dtype == MLG_DT_I64) {
    for (size_t i = 0; i < n; i++) {
      int32_t w;
      memcpy(&w, (const unsigned char *)src + i * 4, 4);
      int64_t v = w;
      memcpy((unsigned char *)dst + i * 8, &v, 8);
    }
    return;
  }
  const mlg_dtype_info *t = mlg_dtype_get(dtype);
  if (t && n) memcpy(dst, src, n * (size_t)t->storage_bytes);
}

double mlg_dtype_host_value(uint32_t dtype, const void *data, size_t i) {
  const unsigned char *p = data;
  float f;
  int32_t w;
  int64_t q;
  uint16_t h;
  switch (dtype) {
  case MLG_DT_F32: memcpy(&f, p + 4 * i, 4); return f;
  case MLG_DT_I32: memcpy(&w, p + 4 * i, 4); return w;
  case MLG_DT_I64: memcpy(&q, p + 8 * i, 8); return (double)q;
  case MLG_DT_F16: memcpy(&h, p + 2 * i, 2); return mlg_f16_to_f32(h);
  case MLG_DT_I8: return (signed char)p[i];
  default: return p[i]; /* bool, u8 */
  }
}

uint16_t mlg_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xFFu, m = x & 0x7FFFFFu;
  if (e == 255) return (uint16_t)(sign | 0x7C00u | (m ? 0x200u : 0u));
  int ue = (int)e - 112; /* the half's biased exponent */
  if (ue >= 31) return (uint16_t)(sign | 0x7C00u);
  uint32_t h, rem, tie;
  if (ue <= 0) { /* a half subnormal, or zero */
    if (ue < -10) return (uint16_t)sign;
    m |= 0x800000u;
    uint32_t sh = (uint32_t)(14 - ue);
    h = m >> sh;
    rem = m & ((1u << sh) - 1u);
    tie = 1u << (sh - 1u);
  } else {
    h = ((uint32_t)ue << 10) | (m >> 13);
    rem = m & 0x1FFFu;
    tie = 0x1000u;
  }
  if (rem > tie || (rem == tie && (h & 1u))) h++; /* a carry into the exponent is right */
  return (uint16_t)(sign | h);
}

float mlg_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
  if (e == 31) {
    x = sign | 0x7F800000u | (m << 13);
  } else if (e == 0) {
    if (m == 0) {
      x = sign;
    } else { /* subnormal: normalize */
      int shift = 0;
      while (!(m & 0x400u)) {
        m <<= 1;
        shift++;
      }
      x = sign | ((uint32_t)(113 - shift) << 23) | ((m & 0x3FFu) << 13);
    }
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

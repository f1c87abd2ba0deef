/* dtype.h — the element types every layer shares: their numbering (the same in mlg.h's
 * mlg_dtype, the bundle's mlgb_dtype, the tensor files' mlg_tf_dtype and the compiler's
 * mlg_ir_dtype), names, sizes, and the conversions between what a caller or a file holds and
 * what a device stores.
 *
 * Sizes: a host (API, .npy, .safetensors) element of an i64 is 8 bytes, but devices store and
 * compute i64 as i32 (4 bytes): values that do not fit in 32 bits are refused where they enter
 * (an input, a weight, a const), with the index of the first one. Every other dtype is stored
 * as it is held: f32 and i32 4 bytes, f16 2 (IEEE binary16 bits), bool, i8 and u8 1 (a bool
 * byte is 0 or 1).
 * Thread safety: reentrant; the table is immutable. */
#ifndef MLG_DTYPE_H
#define MLG_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum {
  MLG_DT_F32 = 0, MLG_DT_I32 = 1, MLG_DT_BOOL = 2, MLG_DT_I64 = 3, MLG_DT_F16 = 4, MLG_DT_I8 = 5,
  MLG_DT_U8 = 6,
  MLG_DT_COUNT = 7
};

typedef struct mlg_dtype_info {
  const char *name;        /* "f32", "bool", ...: the mlg spelling */
  int host_bytes;          /* per element as an API caller or a tensor file holds it */
  int storage_bytes;       /* per element in device memory and in bundles */
  const char *npy;         /* the .npy descr numpy writes: "<f4", "|b1", ... */
  const char *safetensors; /* the .safetensors dtype: "F32", "BOOL", ... */
} mlg_dtype_info;

/* The row of dtype, or NULL when it is no dtype (>= MLG_DT_COUNT). */
const mlg_dtype_info *mlg_dtype_get(uint32_t dtype);
/* The dtype named `name` (mlg spelling), or -1. */
int                   mlg_dtype_by_name(const char *name);

/* n elements of dtype from host form to device storage (dst: n * storage_bytes). An i64 that
 * does not fit in i32 stops the copy: returns -1 with its index in *out_bad (and its value in
 * *out_bad_value); a bool byte other than 0 stores 1. Returns 0 otherwise. src and dst may not
 * overlap. */
int  mlg_dtype_to_storage(uint32_t dtype, const void *src, void *dst, size_t n, size_t *out_bad,
                          int64_t *out_bad_value);
/* n elements of dtype from device storage to host form (dst: n * host_bytes). */
void mlg_dtype_from_storage(uint32_t dtype, const void *src, void *dst, size_t n);

/* Element i of n elements of dtype in host form, as a double (exact for every dtype). */
double mlg_dtype_host_value(uint32_t dtype, const void *data, size_t i);

/* IEEE binary16: f32 → half bits rounding to nearest, ties to even (overflow → infinity, NaN →
 * a quiet NaN of the same sign), and half bits → f32 (exact). The devices round alike
 * (OpenCL vstore_half, the GLSL printer's mlg_f16_bits). */
uint16_t mlg_f32_to_f16(float f);
float    mlg_f16_to_f32(uint16_t h);

#endif

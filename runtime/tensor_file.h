/* tensor_file.h — strict readers and writers for .npy (v1.0/2.0/3.0, little-endian, C order)
 * and .safetensors files, of every mlg dtype: float32, int32, bool, int64, float16, int8 and
 * uint8 (npy descr '<f4' '<i4' '|b1' '<i8' '<f2' '|i1' '|u1'; safetensors F32 I32 BOOL I64 F16
 * I8 U8). Data is kept as the file holds it (dtype.h's host form: an int64 is 8 bytes).
 *
 * Every header is validated (bounds, JSON syntax, dtype, shape, sizes that match the data, no
 * overflow) before any data is touched; failures return -1 with a message naming the file and
 * what is wrong. Thread safety: reentrant. */
#ifndef MLG_TENSOR_FILE_H
#define MLG_TENSOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#define MLG_TF_MAX_RANK 8

/* Numbered as dtype.h (MLG_DT_*), which gives each one's name and size. */
typedef enum mlg_tf_dtype {
  MLG_TF_F32 = 0, MLG_TF_I32 = 1, MLG_TF_BOOL = 2, MLG_TF_I64 = 3, MLG_TF_F16 = 4, MLG_TF_I8 = 5,
  MLG_TF_U8 = 6
} mlg_tf_dtype;

typedef struct mlg_tf_tensor {
  char *name;                 /* safetensors: the key; npy: NULL */
  mlg_tf_dtype dtype;
  int rank;
  int64_t dims[MLG_TF_MAX_RANK];
  size_t size;                /* bytes of data */
  void *data;                 /* owned, little-endian, C order */
} mlg_tf_tensor;

int  mlg_npy_read_file(const char *path, mlg_tf_tensor *out_tensor, char *err, size_t err_size);
int  mlg_npy_read_memory(const void *bytes, size_t size, mlg_tf_tensor *out_tensor, char *err, size_t err_size);
int  mlg_npy_write_file(const char *path, const mlg_tf_tensor *tensor, char *err, size_t err_size);
void mlg_tf_tensor_free(mlg_tf_tensor *tensor);

typedef struct mlg_safetensors {
  int n_tensors;
  mlg_tf_tensor *tensors;     /* data pointers point into one owned buffer */
  void *storage;
} mlg_safetensors;

int  mlg_safetensors_read_file(const char *path, mlg_safetensors *out_file, char *err, size_t err_size);
int  mlg_safetensors_read_memory(const void *bytes, size_t size, mlg_safetensors *out_file, char *err, size_t err_size);
/* Finds a tensor by name; NULL if absent. */
const mlg_tf_tensor *mlg_safetensors_find(const mlg_safetensors *file, const char *name);
/* The tensor name closest to `name`, for a "did you mean" (suggest.h), or NULL. */
const char *mlg_safetensors_closest(const mlg_safetensors *file, const char *name);
int  mlg_safetensors_write_file(const char *path, const mlg_tf_tensor *tensors, int n, char *err, size_t err_size);
void mlg_safetensors_free(mlg_safetensors *file);

#endif

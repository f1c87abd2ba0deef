/* onnx_file.h — ONNX protobuf files (a ModelProto, or one TensorProto as in the ONNX backend
 * tests' test_data_set_N/input_K.pb) read through protobuf-c, bounded and checked.
 *
 * Before protobuf-c unpacks anything, the bytes are walked once with the schema's descriptors:
 * every length must fit in what is left, and messages may nest at most MLG_ONNX_MAX_DEPTH
 * deep (a hostile file cannot exhaust the stack). protobuf-c then unpacks with an allocator
 * that refuses to hold more than twice the file's size plus 256 MiB. Files larger than
 * MLG_ONNX_MAX_FILE_BYTES are refused; tensors kept in external data files are not supported
 * (onnx_tensor.c says so when it meets one).
 * Thread safety: reentrant. */
#ifndef MLG_ONNX_FILE_H
#define MLG_ONNX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/onnx.pb-c.h"

#define MLG_ONNX_MAX_FILE_BYTES ((size_t)1 << 30) /* 1 GiB */
#define MLG_ONNX_MAX_DEPTH 64

/* Reads a whole file of at most MLG_ONNX_MAX_FILE_BYTES; caller frees *out_bytes. */
int  mlg_onnx_read_bytes(const char *path, uint8_t **out_bytes, size_t *out_size, char *err,
                         size_t err_size);
/* Unpacks a ModelProto. `what` names the bytes in messages (the file's path). Returns 0, or -1
 * with err filled. Free with mlg_onnx_model_free. */
int  mlg_onnx_model_unpack(const uint8_t *bytes, size_t size, const char *what,
                           Onnx__ModelProto **out_model, char *err, size_t err_size);
void mlg_onnx_model_free(Onnx__ModelProto *model);
/* Reads and unpacks one TensorProto file. Free with mlg_onnx_tensor_proto_free. */
int  mlg_onnx_tensor_proto_read(const char *path, Onnx__TensorProto **out_tensor, char *err,
                                size_t err_size);
void mlg_onnx_tensor_proto_free(Onnx__TensorProto *tensor);

#endif

/* fuzz_npy.c — libFuzzer harness: the .npy reader. What it accepts must hold exactly its shape's
 * bytes, in its dtype's size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dtype.h"
#include "tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlg_tf_tensor t;
  char err[512];
  if (mlg_npy_read_memory(data, size, &t, err, sizeof err) == 0) {
    size_t numel = 1;
    for (int d = 0; d < t.rank; d++) numel *= (size_t)t.dims[d];
    if (t.size != numel * (size_t)mlg_dtype_get((uint32_t)t.dtype)->host_bytes || t.size > size) {
      fprintf(stderr, "npy: %zu bytes for %zu elements in a %zu-byte file\n", t.size, numel, size);
      abort();
    }
    mlg_tf_tensor_free(&t);
  }
  return 0;
}

/* fuzz_safetensors.c — libFuzzer harness: the .safetensors reader. What it accepts must have
 * named tensors whose bytes lie in the file and match their shapes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlg_safetensors f;
  char err[512];
  if (mlg_safetensors_read_memory(data, size, &f, err, sizeof err) == 0) {
    size_t total = 0;
    for (int i = 0; i < f.n_tensors; i++) {
      const mlg_tf_tensor *t = &f.tensors[i];
      size_t numel = 1;
      for (int d = 0; d < t->rank; d++) numel *= (size_t)t->dims[d];
      if (!t->name || !t->name[0] || t->size != numel * (size_t)mlg_dtype_get((uint32_t)t->dtype)->host_bytes || mlg_safetensors_find(&f, t->name) != t) abort();
      total += t->size;
    }
    if (total > size) abort();
    mlg_safetensors_free(&f);
  }
  return 0;
}

/* fuzz_bundle_read.c — libFuzzer harness: the bundle reader (mlgb_read) on sealed inputs
 * (fuzz_seal.h). A bundle it accepts must unpack its weights, write back (mlgb_write runs the
 * same checks) and read again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundle.h"
#include "fuzz_seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = fuzz_sealed_copy(data, size);
  if (!copy) return 0;
  mlgb_bundle *b = NULL;
  char err[512];
  if (mlgb_read(copy, size, &b, err, sizeof err) == 0) {
    /* Unpack the weights and params regions when they are small enough to hold here. */
    uint64_t w = b->region_size[MLGB_REGION_WEIGHTS], p = b->region_size[MLGB_REGION_PARAMS];
    if (w <= (64u << 20) && p <= (64u << 20)) {
      uint8_t *images[MLGB_N_REGIONS] = {0};
      images[MLGB_REGION_WEIGHTS] = calloc(1, w ? (size_t)w : 1);
      images[MLGB_REGION_PARAMS] = calloc(1, p ? (size_t)p : 1);
      if (images[MLGB_REGION_WEIGHTS] && images[MLGB_REGION_PARAMS]) mlgb_weights_unpack(b, images);
      free(images[MLGB_REGION_WEIGHTS]);
      free(images[MLGB_REGION_PARAMS]);
    }
    uint8_t *out = NULL;
    size_t out_size = 0;
    if (mlgb_write(b, &out, &out_size, err, sizeof err) != 0) {
      fprintf(stderr, "a bundle the reader accepts cannot be written back: %s\n", err);
      abort();
    }
    mlgb_bundle *again = NULL;
    if (mlgb_read(out, out_size, &again, err, sizeof err) != 0) {
      fprintf(stderr, "a bundle written back cannot be read: %s\n", err);
      abort();
    }
    mlgb_free(again);
    free(out);
    mlgb_free(b);
  }
  free(copy);
  return 0;
}

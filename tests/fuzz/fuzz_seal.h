/* fuzz_seal.h — the fuzzers' view of a bundle: the input's bytes with the header's file size and
 * checksum made right, so that a mutation reaches the checks behind them instead of stopping at
 * "checksum mismatch". Header-only; included by the bundle harnesses. */
#ifndef MLG_FUZZ_SEAL_H
#define MLG_FUZZ_SEAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

/* A malloc'd, sealed copy of data (NULL when out of memory). */
static uint8_t *fuzz_sealed_copy(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return NULL;
  memcpy(copy, data, size);
  if (size >= 32) {
    uint64_t n = size; /* file_size at byte 16, little-endian */
    for (int i = 0; i < 8; i++) copy[16 + i] = (uint8_t)(n >> (8 * i));
  }
  mlgb_seal(copy, size);
  return copy;
}

#endif

/* fuzz_tuning.c — libFuzzer harness: the GEMM tuning table (compiler/gemm_tuning.h). The last
 * "end" line's checksum is made right before parsing, so that mutations reach the checks behind
 * it. A table the parser accepts must format and parse back to the same tiles. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "gemm_tuning.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  /* The checksum of what precedes the last line-starting "end " (when 16 digits fit after it). */
  char *end = NULL;
  for (size_t i = 0; i + 4 <= size; i++)
    if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "end ", 4) == 0) end = text + i;
  if (end && (size_t)(end - text) + 20 <= size) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, mlg_fnv1a(MLG_FNV_SEED, text, (size_t)(end - text)));
    memcpy(end + 4, hex, 16);
  }
  mlg_gemm_tuning t, back;
  char err[256];
  if (mlg_gemm_tuning_parse(text, size, &t, err, sizeof err) == 0) {
    char *out = NULL;
    size_t out_size = 0;
    if (mlg_gemm_tuning_format(&t, &out, &out_size) != 0 ||
        mlg_gemm_tuning_parse(out, out_size, &back, err, sizeof err) != 0) {
      fprintf(stderr, "a table the parser accepts does not format and parse back: %s\n", err);
      abort();
    }
    for (int c = 0; c < MLG_GEMM_N_CLASSES; c++)
      if (back.cls[c].tile_m != t.cls[c].tile_m || back.cls[c].reg_n != t.cls[c].reg_n) abort();
    free(out);
  }
  free(text);
  return 0;
}

/* fuzz_mlg.c — libFuzzer harness: .mlg source text through the whole compiler (parse, check,
 * passes, fusion, lowering, OpenCL C generation, plan, bundle), then the bundle reader on what
 * the compiler wrote: every input must be refused with diagnostics or give a bundle the runtime
 * accepts. Weights are held to 16 MiB so that a model with a huge param fails as designed
 * instead of filling memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundle.h"
#include "compile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *null;
  if (!null) null = fopen("/dev/null", "w");
  mlg_source src;
  if (mlg_source_from_memory(&src, "fuzz.mlg", (const char *)data, size) != 0) return 0;
  mlg_diag diag;
  mlg_diag_init(&diag, &src, null);
  mlg_compile_options o = {.opt_level = 2, .max_weight_bytes = 16 << 20};
  uint8_t *bundle = NULL;
  size_t bundle_size = 0;
  if (mlg_compile(&src, &o, &diag, &bundle, &bundle_size) == 0) {
    mlgb_bundle *b = NULL;
    char err[512];
    if (mlgb_read(bundle, bundle_size, &b, err, sizeof err) != 0) {
      fprintf(stderr, "the compiler wrote a bundle the reader refuses: %s\n", err);
      abort();
    }
    mlgb_free(b);
  }
  free(bundle);
  mlg_source_free(&src);
  return 0;
}

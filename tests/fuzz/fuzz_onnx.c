/* fuzz_onnx.c — libFuzzer harness: ONNX model bytes through the importer (the protobuf walk,
 * protobuf-c's unpack, the op table, folding at import), and every graph it accepts through the
 * rest of the compiler (passes, fusion, lowering, OpenCL C generation, plan, bundle), then the
 * bundle reader on what the compiler wrote: every input must be refused with diagnostics or give
 * a bundle the runtime accepts. The weight budget is 16 MiB, for the values folded at import as
 * for the weights, so that a small file asking for huge values fails as designed instead of
 * filling memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundle.h"
#include "compile.h"
#include "onnx/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *null;
  if (!null) null = fopen("/dev/null", "w");
  const uint64_t budget = 16 << 20;
  mlg_source src;
  if (mlg_source_from_memory(&src, "fuzz.onnx", "", 0) != 0) return 0;
  mlg_diag diag;
  mlg_diag_init(&diag, &src, null);
  mlg_onnx_options io = {.max_weight_bytes = budget};
  mlg_graph *g = NULL;
  if (mlg_onnx_import(data, size, "fuzz.onnx", &io, &diag, &g) != 0) {
    if (g || diag.n_errors == 0) {
      fprintf(stderr, "the importer failed without an error, or left a graph\n");
      abort();
    }
    mlg_source_free(&src);
    return 0;
  }
  mlg_compile_options o = {.opt_level = 2, .max_weight_bytes = budget};
  mlg_pipeline p;
  if (mlg_pipeline_run_graph(g, &o, MLG_STAGE_BUNDLE, &diag, &p) == 0) {
    mlgb_bundle *b = NULL;
    char err[512];
    if (mlgb_read(p.bundle, p.bundle_size, &b, err, sizeof err) != 0) {
      fprintf(stderr, "the compiler wrote a bundle the reader refuses: %s\n", err);
      abort();
    }
    mlgb_free(b);
  } else if (diag.n_errors == 0) {
    fprintf(stderr, "the pipeline failed without an error\n");
    abort();
  }
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
  return 0;
}

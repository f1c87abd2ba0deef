/* mlgc_quantize.h — mlgc --quantize=int8: calibration and the accuracy report, through the
 * runtime's public API (libmlgrt). The compiler builds the graphs (compiler/quantize.h); this
 * runs them on a device:
 *   1. the observing graph, compiled for the calibration device, over the calibration inputs
 *      in batches of the model's batch size: each observed value's min and max, and the f32
 *      model's outputs;
 *   2. the int8 graph from those ranges, compiled for the same device, over the same inputs:
 *      per f32 output the max abs error, the mean relative error (sum |int8 − f32| over
 *      sum |f32|) and, for a rank-2 output (class scores), how often the argmax agrees.
 * The ranges then go into the compile mlgc was asked for (-o, --emit). docs/quantization.md. */
#ifndef MLGC_QUANTIZE_H
#define MLGC_QUANTIZE_H

#include <stdio.h>

#include "compile.h"
#include "quantize.h"

/* --calibrate NAME=FILE.npy */
typedef struct mlgc_calib_file {
  const char *name;
  const char *path;
} mlgc_calib_file;

typedef struct mlgc_quantize_request {
  const char *device;            /* runtime device spec (mlg_runtime_options.device) or NULL */
  int n_files;
  const mlgc_calib_file *files;
} mlgc_quantize_request;

/* Steps 1 and 2 above for `source` compiled with `options` (its target, hints and quant are
 * replaced by the device's). The report goes to `report`: the calibration data, one line per
 * layer (int8, or f32 and why), how many run as integer kernels, and the accuracy change. Returns 0 with *out_ranges (malloc'd,
 * *out_n entries) for mlg_quant_options.ranges, or 1 after an error message on stderr. */
int  mlgc_calibrate(const mlg_source *source, const mlg_compile_options *options,
                    const mlgc_quantize_request *request, FILE *report,
                    mlg_quant_range **out_ranges, int *out_n);

#endif

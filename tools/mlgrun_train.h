/* mlgrun_train.h — `mlgrun MODEL --train`: epochs over a dataset of .npy files through a
 * trainable model's train step (mlg.h mlg_session_train_step), one progress line per epoch,
 * and the trained weights saved as .safetensors; with --bench, timed steps on one batch.
 *
 * Batches: each --input file holds the whole dataset, its first dim the sample count (the same
 * in every file) and the rest the model input's dims after its first, the batch size; batch k
 * is samples [k·B, (k+1)·B) (of the epoch's order: the files' own, or a permutation seeded by
 * --shuffle and the epoch). A last partial batch is left out, said once. */
#ifndef MLGRUN_TRAIN_H
#define MLGRUN_TRAIN_H

#include <stdint.h>

#include "mlg.h"

typedef struct train_dataset_file {
  const char *name;          /* the model input it feeds */
  const char *path;          /* .npy */
} train_dataset_file;

typedef struct train_options {
  int epochs;                /* >= 1 */
  int shuffle;               /* permute the samples each epoch */
  uint64_t shuffle_seed;
  const char *save_weights;  /* .safetensors to write after training, or NULL */
  int bench;                 /* > 0: time this many steps on the first batch instead */
  int warmup;                /* untimed steps before --bench's */
  int quiet;                 /* no progress lines on stderr */
  int n_files;
  const train_dataset_file *files;
} train_options;

/* Trains a session of `model` (loaded on rt) as `o` says; progress on stderr, and with --bench
 * the last line of stdout is 'bench: median X ms wall, Y ms device over N train steps'.
 * Returns 0, 1 after printing an error (a runtime error, a dataset that does not fit the
 * model, a loss that became NaN or infinite), or 2 for a command line that cannot train. */
int mlgrun_train(mlg_runtime *rt, mlg_model *model, const train_options *o);

#endif

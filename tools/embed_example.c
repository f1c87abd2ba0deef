/* embed_example — the smallest complete program that embeds mlg: it links only libmlgrt, loads
 * a compiled bundle, and runs it twice with different inputs.
 *
 *   usage: mlg_embed_example MODEL.mlgb
 *
 * The device is chosen by $MLG_DEVICE (opencl:N, gpu, cpu) or defaults to the first GPU, else
 * the first CPU device. Exits 1 on any error, after printing mlg_last_error(). */
#include <stdio.h>
#include <stdlib.h>

#include "mlg.h"

/* Prints the failed call's message and jumps to cleanup. */
#define CHECK(call)                                                             \
  do {                                                                          \
    if ((call) != MLG_OK) {                                                     \
      fprintf(stderr, "embed_example: %s: %s\n", #call, mlg_last_error());      \
      goto done;                                                                \
    }                                                                           \
  } while (0)

/* Deterministic input values: a different ramp for each run. */
static void fill(float *x, size_t n, int run) {
  for (size_t i = 0; i < n; i++) x[i] = (float)((long)((i * 7 + (size_t)run * 13) % 17) - 8) / 8.0f * (run + 1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.mlgb\n", argv[0]);
    return 2;
  }
  int status = 1;
  mlg_runtime *runtime = NULL;
  mlg_model *model = NULL;
  mlg_session *session = NULL;
  void **buffers = NULL;
  int n_in = 0, n_out = 0;

  CHECK(mlg_runtime_create(NULL, &runtime));
  printf("device: %s (%s)\n", mlg_runtime_device(runtime)->name, mlg_runtime_device(runtime)->spec);
  CHECK(mlg_model_load_file(runtime, argv[1], NULL, &model));
  CHECK(mlg_session_create(model, &session));

  n_in = mlg_model_input_count(model);
  n_out = mlg_model_output_count(model);
  buffers = calloc((size_t)(n_in + n_out) + 1, sizeof *buffers);
  if (!buffers) {
    fprintf(stderr, "embed_example: out of memory\n");
    goto done;
  }
  mlg_tensor_info info;
  for (int i = 0; i < n_in + n_out; i++) {
    CHECK(i < n_in ? mlg_model_input_info(model, i, &info) : mlg_model_output_info(model, i - n_in, &info));
    buffers[i] = calloc(info.bytes ? info.bytes : 1, 1);
    if (!buffers[i]) {
      fprintf(stderr, "embed_example: out of memory\n");
      goto done;
    }
  }

  for (int run = 0; run < 2; run++) {
    for (int i = 0; i < n_in; i++) {
      CHECK(mlg_model_input_info(model, i, &info));
      if (info.dtype == MLG_DTYPE_F32) fill(buffers[i], info.bytes / sizeof(float), run);
      CHECK(mlg_session_set_input(session, info.name, buffers[i], info.bytes));
    }
    CHECK(mlg_session_run(session));
    for (int i = 0; i < n_out; i++) {
      CHECK(mlg_model_output_info(model, i, &info));
      CHECK(mlg_session_get_output(session, info.name, buffers[n_in + i], info.bytes));
      printf("run %d: %s =", run + 1, info.name);
      size_t n = info.bytes / 4;
      for (size_t k = 0; k < n && k < 6; k++) {
        if (info.dtype == MLG_DTYPE_F32)
          printf(" %.6g", (double)((const float *)buffers[n_in + i])[k]);
        else
          printf(" %d", (int)((const int32_t *)buffers[n_in + i])[k]);
      }
      printf("%s\n", n > 6 ? " ..." : "");
    }
  }
  status = 0;

done:
  for (int i = 0; buffers && i < n_in + n_out; i++) free(buffers[i]);
  free(buffers);
  mlg_session_destroy(session);
  mlg_model_destroy(model);
  mlg_runtime_destroy(runtime);
  return status;
}

/* fuzz_bundle_load.c — libFuzzer harness: sealed bundles (fuzz_seal.h) through the whole loader
 * on a real device — the runtime's checks, the weights binding, the backend's checks, the
 * driver's build through the program cache, a session — but never a run: a bundle's code may do
 * anything once it runs (docs/runtime.md, trust model), and the loader is what must hold.
 *
 * The device is $MLG_FUZZ_DEVICE (default opencl:0); the program cache, in $MLG_FUZZ_CACHE
 * (default a folder under /tmp), keeps the seeds' kernels warm, so that mutations which leave
 * the code alone do not wait on the driver's compiler. Plans are held to 1 GiB of host memory
 * ($MLG_MEMORY_LIMIT, unless set): a mutated region size is refused by the runtime's memory
 * check rather than allocated under libFuzzer's malloc limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_seal.h"
#include "mlg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mlg_runtime *runtime(void) {
  static mlg_runtime *rt;
  if (rt) return rt;
  const char *device = getenv("MLG_FUZZ_DEVICE");
  const char *cache = getenv("MLG_FUZZ_CACHE");
  static char dir[256];
  if (!cache) {
    snprintf(dir, sizeof dir, "/tmp/mlg-fuzz-cache-%ld", (long)getuid());
    cache = dir;
  }
  setenv("MLG_MEMORY_LIMIT", "1G", 0);
  mlg_runtime_options o = {.device = device ? device : "opencl:0", .cache_dir = cache};
  if (mlg_runtime_create(&o, &rt) != MLG_OK) {
    fprintf(stderr, "fuzz_bundle_load: no device: %s\n", mlg_last_error());
    abort();
  }
  return rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlg_runtime *rt = runtime();
  uint8_t *copy = fuzz_sealed_copy(data, size);
  if (!copy) return 0;
  mlg_model *m = NULL;
  if (mlg_model_load_memory(rt, copy, size, NULL, &m) == MLG_OK) {
    mlg_session *s = NULL;
    if (mlg_session_create(m, &s) == MLG_OK) mlg_session_destroy(s);
    mlg_model_destroy(m);
  }
  free(copy);
  return 0;
}

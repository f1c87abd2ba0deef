/* vulkan_spirv_validate.c — SPIRV-Tools' validator between a bundle and the driver.
 *
 * A driver's shader compiler is not written for hostile input (lavapipe crashed in
 * vkCreateComputePipelines on modules that spirv-val rejects, with or without the validation
 * layer), so every module is validated for the Vulkan 1.1 environment before it reaches
 * vkCreateShaderModule. SPIRV-Tools is C++ and large, so libmlgrt does not link it: its C API
 * is opened with dlopen the first time a module is checked, from the first of
 *   $MLG_SPIRV_TOOLS_LIBRARY;
 *   libmlgspirv.so beside the library or program holding this code, or in ../lib from it
 *   (mlg's own build of the validator, runtime/spirv/mlgspirv.c, installed beside libmlgrt);
 *   libmlgspirv.so and libSPIRV-Tools-shared.so (a system SPIRV-Tools: Fedora, Arch, upstream
 *   builds) in the dynamic loader's search path.
 * With none of them, a module is refused (MLG_ERR_UNSUPPORTED) unless MLG_SPIRV_VALIDATION=0
 * says the bundles are trusted as they are. The library stays loaded for the life of the
 * process, as the Vulkan loader does. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spirv-tools/libspirv.h>

#include "vulkan_internal.h"

typedef spv_context (*context_create_fn)(spv_target_env);
typedef void (*context_destroy_fn)(spv_context);
typedef spv_result_t (*validate_fn)(const spv_const_context, const uint32_t *, const size_t, spv_diagnostic *);
typedef void (*diagnostic_destroy_fn)(spv_diagnostic);

static struct {
  pthread_once_t once;
  context_create_fn context_create;
  context_destroy_fn context_destroy;
  validate_fn validate;
  diagnostic_destroy_fn diagnostic_destroy;
  char why[1024];            /* why none could be loaded */
} tools = {.once = PTHREAD_ONCE_INIT};

/* Tries one library; 1 when it has the four functions (and stays loaded). */
static int try_library(const char *path, size_t *used) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  const char *reason = NULL;
  if (lib) {
    void *sym[4] = {dlsym(lib, "spvContextCreate"), dlsym(lib, "spvContextDestroy"), dlsym(lib, "spvValidateBinary"),
                    dlsym(lib, "spvDiagnosticDestroy")};
    if (sym[0] && sym[1] && sym[2] && sym[3]) {
      memcpy(&tools.context_create, &sym[0], sizeof sym[0]);
      memcpy(&tools.context_destroy, &sym[1], sizeof sym[1]);
      memcpy(&tools.validate, &sym[2], sizeof sym[2]);
      memcpy(&tools.diagnostic_destroy, &sym[3], sizeof sym[3]);
      return 1;
    }
    reason = "it lacks SPIRV-Tools' C API (spvValidateBinary)";
    dlclose(lib);
  } else {
    reason = dlerror();
  }
  int w = snprintf(tools.why + *used, sizeof tools.why - *used, "%s%s: %s", *used ? "; " : "", path,
                   reason ? reason : "dlopen failed");
  if (w > 0 && (size_t)w < sizeof tools.why - *used) *used += (size_t)w;
  return 0;
}

static void load_tools(void) {
  size_t used = 0;
  const char *env = getenv("MLG_SPIRV_TOOLS_LIBRARY");
  if (env && *env) {
    try_library(env, &used);
    return;
  }
  /* Beside libmlgrt.so (or the program a static libmlgrt is linked into), then in ../lib. */
  Dl_info info;
  if (dladdr((void *)load_tools, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    char dir[3000], path[3100];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    *strrchr(dir, '/') = '\0';
    snprintf(path, sizeof path, "%s/libmlgspirv.so", dir);
    if (try_library(path, &used)) return;
    snprintf(path, sizeof path, "%s/../lib/libmlgspirv.so", dir);
    if (access(path, F_OK) == 0 && try_library(path, &used)) return;
  }
  if (try_library("libmlgspirv.so", &used)) return;
  try_library("libSPIRV-Tools-shared.so", &used);
}

int mlg_vk_spirv_validation_on(void) {
  const char *v = getenv("MLG_SPIRV_VALIDATION");
  return !(v && strcmp(v, "0") == 0);
}

int mlg_vk_spirv_validate(const void *code, size_t size, char *err, size_t err_size) {
  pthread_once(&tools.once, load_tools);
  if (!tools.validate) {
    snprintf(err, err_size,
             "SPIR-V validation is on (the default), but SPIRV-Tools could not be loaded (%s); install it "
             "(mlg installs libmlgspirv.so beside libmlgrt; or a system libSPIRV-Tools-shared.so), point "
             "MLG_SPIRV_TOOLS_LIBRARY at it, or "
             "set MLG_SPIRV_VALIDATION=0 to give the bundle's SPIR-V to the driver unchecked (only for bundles you "
             "trust)", tools.why);
    return -2;
  }
  spv_context ctx = tools.context_create(SPV_ENV_VULKAN_1_1);
  if (!ctx) {
    snprintf(err, err_size, "SPIRV-Tools could not create a validation context");
    return -2;
  }
  spv_diagnostic diag = NULL;
  spv_result_t r = tools.validate(ctx, (const uint32_t *)code, size / 4, &diag);
  int rc = 0;
  if (r != SPV_SUCCESS) {
    rc = -1;
    if (diag && diag->error)
      snprintf(err, err_size, "%s (word %zu)", diag->error, diag->position.index);
    else
      snprintf(err, err_size, "SPIRV-Tools rejected it (result %d)", (int)r);
  }
  if (diag) tools.diagnostic_destroy(diag);
  tools.context_destroy(ctx);
  return rc;
}

/* spirv.c — GLSL → SPIR-V with libshaderc (see spirv.h). */
#include "spirv.h"

#include <shaderc/shaderc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPIRV_MAGIC 0x07230203u

struct mlg_spirv_compiler {
  shaderc_compiler_t compiler;
  shaderc_compile_options_t options;
};

mlg_spirv_compiler *mlg_spirv_compiler_new(void) {
  mlg_spirv_compiler *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->compiler = shaderc_compiler_initialize();
  c->options = shaderc_compile_options_initialize();
  if (!c->compiler || !c->options) {
    mlg_spirv_compiler_free(c);
    return NULL;
  }
  shaderc_compile_options_set_source_language(c->options, shaderc_source_language_glsl);
  shaderc_compile_options_set_target_env(c->options, shaderc_target_env_vulkan,
                                         shaderc_env_version_vulkan_1_1);
  shaderc_compile_options_set_target_spirv(c->options, shaderc_spirv_version_1_3);
  /* No spirv-opt passes: they took 97% of a Vulkan compile (GPT-2's block at f16: 5.6 s of
   * 5.8), and the drivers optimize anyway — NVIDIA's ran the benchmarks as fast or faster
   * without them (docs/performance.md, "SPIR-V without spirv-opt"). */
  shaderc_compile_options_set_optimization_level(c->options, shaderc_optimization_level_zero);
  return c;
}

void mlg_spirv_compiler_free(mlg_spirv_compiler *c) {
  if (!c) return;
  if (c->options) shaderc_compile_options_release(c->options);
  if (c->compiler) shaderc_compiler_release(c->compiler);
  free(c);
}

/* shaderc's log without its trailing newline(s). */
static void report(const char *kernel_name, shaderc_compilation_result_t r, const char *what,
                   char *err, size_t err_size) {
  const char *log = r ? shaderc_result_get_error_message(r) : NULL;
  if (!log || !*log) log = r ? "no message from shaderc" : "shaderc ran out of memory";
  size_t n = strlen(log);
  while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == '\r')) n--;
  if (err && err_size)
    snprintf(err, err_size, "kernel %s: GLSL does not compile to %s (a bug in mlgc): %.*s",
             kernel_name, what, (int)n, log);
}

typedef enum { OUT_BINARY, OUT_ASSEMBLY } out_kind;

static int compile(mlg_spirv_compiler *c, const char *kernel_name, const char *glsl,
                   size_t glsl_size, out_kind kind, void **out, size_t *out_size, char *err,
                   size_t err_size) {
  *out = NULL;
  *out_size = 0;
  if (!kernel_name) kernel_name = "(unnamed)";
  shaderc_compilation_result_t r =
      kind == OUT_BINARY
          ? shaderc_compile_into_spv(c->compiler, glsl, glsl_size, shaderc_glsl_compute_shader,
                                     kernel_name, "main", c->options)
          : shaderc_compile_into_spv_assembly(c->compiler, glsl, glsl_size,
                                              shaderc_glsl_compute_shader, kernel_name, "main",
                                              c->options);
  if (!r || shaderc_result_get_compilation_status(r) != shaderc_compilation_status_success) {
    report(kernel_name, r, kind == OUT_BINARY ? "SPIR-V" : "SPIR-V assembly", err, err_size);
    if (r) shaderc_result_release(r);
    return -1;
  }
  size_t n = shaderc_result_get_length(r);
  const char *bytes = shaderc_result_get_bytes(r);
  uint32_t magic = 0;
  if (kind == OUT_BINARY && n >= 4) memcpy(&magic, bytes, 4);
  if (kind == OUT_BINARY && (n < 20 || n % 4 != 0 || magic != SPIRV_MAGIC)) {
    if (err && err_size)
      snprintf(err, err_size, "kernel %s: shaderc returned %zu bytes that are not a SPIR-V module",
               kernel_name, n);
    shaderc_result_release(r);
    return -1;
  }
  char *buf = malloc(n + 1);
  if (!buf) {
    if (err && err_size) snprintf(err, err_size, "kernel %s: out of memory for SPIR-V", kernel_name);
    shaderc_result_release(r);
    return -1;
  }
  memcpy(buf, bytes, n);
  buf[n] = '\0';
  shaderc_result_release(r);
  *out = buf;
  *out_size = n;
  return 0;
}

int mlg_spirv_compile(mlg_spirv_compiler *c, const char *kernel_name, const char *glsl,
                      size_t glsl_size, uint32_t **out_words, size_t *out_size, char *err,
                      size_t err_size) {
  void *p;
  int rc = compile(c, kernel_name, glsl, glsl_size, OUT_BINARY, &p, out_size, err, err_size);
  *out_words = p;
  return rc;
}

int mlg_spirv_disassemble_glsl(mlg_spirv_compiler *c, const char *kernel_name, const char *glsl,
                               size_t glsl_size, char **out_text, size_t *out_size, char *err,
                               size_t err_size) {
  void *p;
  int rc = compile(c, kernel_name, glsl, glsl_size, OUT_ASSEMBLY, &p, out_size, err, err_size);
  *out_text = p;
  return rc;
}

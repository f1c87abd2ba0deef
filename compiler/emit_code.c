/* emit_code.c — kernels to bundle modules for each target (see emit_code.h). */
#include "emit_code.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kir.h"
#include "spirv.h"

static const mlg_span nowhere = {0, 0};

static void oom(mlg_diag *diag) {
  mlg_diag_error(diag, nowhere, "out of memory while generating kernel code");
}

/* Prints with `print` into a malloc'd NUL-terminated string. */
static int print_to_string(int (*print)(const void *, FILE *), const void *what, char **out,
                           size_t *out_size) {
  char *buf = NULL;
  size_t size = 0;
  *out = NULL;
  *out_size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) return -1;
  int rc = print(what, f);
  if (fclose(f) != 0 || rc != 0) {
    free(buf);
    return -1;
  }
  *out = buf;
  *out_size = size;
  return 0;
}

static int print_module_opencl(const void *m, FILE *f) { return kir_print_opencl(m, f); }
static int print_kernel_glsl(const void *k, FILE *f) { return kir_print_glsl_kernel(k, f); }

static int emit_opencl(const mlg_lowered *lw, mlg_diag *diag, mlg_code *out) {
  for (int i = 0; i < kir_module_count(lw->module); i++) {
    char err[512];
    if (kir_opencl_check(kir_module_kernel(lw->module, i), err, sizeof(err)) != 0) {
      mlg_diag_error(diag, nowhere, "internal error: %s", err);
      return -1;
    }
  }
  if (print_to_string(print_module_opencl, lw->module, &out->text, &out->text_size) != 0) {
    oom(diag);
    return -1;
  }
  out->modules = calloc(1, sizeof(*out->modules));
  uint8_t *data = malloc(out->text_size ? out->text_size : 1);
  if (!out->modules || !data) {
    free(data);
    oom(diag);
    return -1;
  }
  memcpy(data, out->text, out->text_size);
  out->modules[0] = (mlgb_module){.kind = MLGB_MODULE_OPENCL_C, .size = out->text_size,
                                  .data = data};
  out->n_modules = 1;
  for (int i = 0; i < out->n_kernels; i++) out->kernel_module[i] = 0;
  return 0;
}

/* Appends `s` (n bytes) to the growing text. */
static int append(mlg_code *out, size_t *cap, const char *s, size_t n) {
  if (out->text_size + n + 1 > *cap) {
    size_t c = *cap ? *cap : 4096;
    while (c < out->text_size + n + 1) c *= 2;
    char *t = realloc(out->text, c);
    if (!t) return -1;
    out->text = t;
    *cap = c;
  }
  memcpy(out->text + out->text_size, s, n);
  out->text_size += n;
  out->text[out->text_size] = '\0';
  return 0;
}

static int emit_vulkan(const mlg_lowered *lw, mlg_diag *diag, mlg_code *out) {
  int n = out->n_kernels;
  out->modules = calloc(n ? (size_t)n : 1, sizeof(*out->modules));
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  size_t cap = 0;
  int rc = -1;
  if (!out->modules || !sc || append(out, &cap, "", 0) != 0) {
    if (out->modules && !sc)
      mlg_diag_error(diag, nowhere, "cannot initialize shaderc (the GLSL to SPIR-V compiler)");
    else
      oom(diag);
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const kir_kernel *k = kir_module_kernel(lw->module, i);
    char err[4096];
    if (kir_glsl_check(k, err, sizeof(err)) != 0) {
      mlg_diag_error(diag, nowhere, "internal error: %s", err);
      goto done;
    }
    char *glsl;
    size_t glsl_size;
    if (print_to_string(print_kernel_glsl, k, &glsl, &glsl_size) != 0) {
      oom(diag);
      goto done;
    }
    if ((i > 0 && append(out, &cap, "\n", 1) != 0) || append(out, &cap, glsl, glsl_size) != 0) {
      free(glsl);
      oom(diag);
      goto done;
    }
    uint32_t *words;
    size_t size;
    int crc = mlg_spirv_compile(sc, k->name, glsl, glsl_size, &words, &size, err, sizeof(err));
    free(glsl);
    if (crc != 0) {
      mlg_diag_error(diag, nowhere, "internal error: %s", err);
      goto done;
    }
    out->modules[i] = (mlgb_module){.kind = MLGB_MODULE_SPIRV, .size = size,
                                    .data = (uint8_t *)words};
    out->n_modules = i + 1;
    out->kernel_module[i] = i;
  }
  rc = 0;
done:
  mlg_spirv_compiler_free(sc);
  return rc;
}

int mlg_code_emit(const mlg_lowered *lw, int target, mlg_diag *diag, mlg_code *out) {
  memset(out, 0, sizeof(*out));
  if (!target) target = MLGB_TARGET_OPENCL;
  out->target = target;
  if (target != MLGB_TARGET_OPENCL && target != MLGB_TARGET_VULKAN) {
    mlg_diag_error(diag, nowhere, "target %d is not supported (use opencl or vulkan)", target);
    return -1;
  }
  out->n_kernels = kir_module_count(lw->module);
  out->kernel_module = calloc(out->n_kernels ? (size_t)out->n_kernels : 1, sizeof(int));
  if (!out->kernel_module) {
    oom(diag);
    return -1;
  }
  for (int i = 0; i < out->n_kernels; i++) out->kernel_module[i] = -1;
  return target == MLGB_TARGET_OPENCL ? emit_opencl(lw, diag, out) : emit_vulkan(lw, diag, out);
}

void mlg_code_free(mlg_code *code) {
  if (!code) return;
  if (code->modules)
    for (int i = 0; i < code->n_modules; i++) free(code->modules[i].data);
  free(code->modules);
  free(code->kernel_module);
  free(code->text);
  memset(code, 0, sizeof(*code));
}

int mlg_code_module_of(const mlg_code *code, const mlg_lowered *lw, const kir_kernel *kernel) {
  for (int i = 0; i < code->n_kernels; i++)
    if (kir_module_kernel(lw->module, i) == kernel) return code->kernel_module[i];
  return -1;
}

const char *mlg_code_entry_point(const mlg_code *code, const kir_kernel *kernel) {
  return code->target == MLGB_TARGET_VULKAN ? "main" : kernel->name;
}

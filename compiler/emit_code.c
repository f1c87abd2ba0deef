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

static int print_kernel_opencl(const void *k, FILE *f) { return kir_print_opencl_kernel(k, f); }
static int print_kernel_glsl(const void *k, FILE *f) { return kir_print_glsl_kernel(k, f); }

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

/* One module per kernel: its OpenCL C source, or its GLSL compiled to SPIR-V. The text is every
 * kernel's source in order, separated by blank lines. */
static int emit_modules(const mlg_lowered *lw, int target, mlg_diag *diag, mlg_code *out) {
  int vulkan = target == MLGB_TARGET_VULKAN;
  int n = out->n_kernels;
  out->modules = calloc(n ? (size_t)n : 1, sizeof(*out->modules));
  mlg_spirv_compiler *sc = vulkan ? mlg_spirv_compiler_new() : NULL;
  size_t cap = 0;
  int rc = -1;
  if (!out->modules || (vulkan && !sc) || append(out, &cap, "", 0) != 0) {
    if (out->modules && vulkan && !sc)
      mlg_diag_error(diag, nowhere, "cannot initialize shaderc (the GLSL to SPIR-V compiler)");
    else
      oom(diag);
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const kir_kernel *k = kir_module_kernel(lw->module, i);
    char err[4096];
    if ((vulkan ? kir_glsl_check(k, err, sizeof(err)) : kir_opencl_check(k, err, sizeof(err))) != 0) {
      mlg_diag_error(diag, nowhere, "internal error: %s", err);
      goto done;
    }
    char *src;
    size_t src_size;
    if (print_to_string(vulkan ? print_kernel_glsl : print_kernel_opencl, k, &src, &src_size) != 0) {
      oom(diag);
      goto done;
    }
    if ((i > 0 && append(out, &cap, "\n", 1) != 0) || append(out, &cap, src, src_size) != 0) {
      free(src);
      oom(diag);
      goto done;
    }
    if (vulkan) {
      uint32_t *words;
      size_t size;
      int crc = mlg_spirv_compile(sc, k->name, src, src_size, &words, &size, err, sizeof(err));
      free(src);
      if (crc != 0) {
        mlg_diag_error(diag, nowhere, "internal error: %s", err);
        goto done;
      }
      out->modules[i] = (mlgb_module){.kind = MLGB_MODULE_SPIRV, .size = size, .data = (uint8_t *)words};
    } else {
      /* The module holds the source without a terminating NUL (bundle.md). */
      out->modules[i] = (mlgb_module){.kind = MLGB_MODULE_OPENCL_C, .size = src_size, .data = (uint8_t *)src};
    }
    out->n_modules = i + 1;
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
  return emit_modules(lw, target, diag, out);
}

void mlg_code_free(mlg_code *code) {
  if (!code) return;
  if (code->modules)
    for (int i = 0; i < code->n_modules; i++) free(code->modules[i].data);
  free(code->modules);
  free(code->text);
  memset(code, 0, sizeof(*code));
}

int mlg_code_module_of(const mlg_code *code, const mlg_lowered *lw, const kir_kernel *kernel) {
  for (int i = 0; i < code->n_modules; i++)
    if (kir_module_kernel(lw->module, i) == kernel) return i;
  return -1;
}

const char *mlg_code_entry_point(const mlg_code *code, const kir_kernel *kernel) {
  return code->target == MLGB_TARGET_VULKAN ? "main" : kernel->name;
}

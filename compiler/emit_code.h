/* emit_code.h — the code stage: the lowered kernels rendered for a target and packed as the
 * bundle's modules, one module per kernel of the lowered module (which holds each distinct
 * kernel once, lower.h), so module i holds kernel i and the runtime builds and caches each
 * distinct kernel on its own:
 *
 *  - OpenCL: an MLGB_MODULE_OPENCL_C module with the kernel's source (kir_print_opencl_kernel);
 *    its entry point is the kernel's name.
 *  - Vulkan: an MLGB_MODULE_SPIRV module (GLSL 450 from kir_print_glsl_kernel, compiled with
 *    shaderc: Vulkan 1.1, SPIR-V 1.3); the entry point is "main". Binding i is buffer
 *    parameter i, and the push-constant block holds one uint element offset per buffer
 *    parameter (see kir.h).
 * `text` is what `mlgc --emit=kernels` prints: the OpenCL C or GLSL source of every kernel, in
 * kernel order, separated by blank lines.
 *
 * Reads the lowered module; writes only the mlg_code. Thread safety: reentrant. */
#ifndef MLG_EMIT_CODE_H
#define MLG_EMIT_CODE_H

#include <stddef.h>

#include "../runtime/bundle.h"
#include "diag.h"
#include "lower.h"

typedef struct mlg_code {
  int target;                /* mlgb_target */
  int n_modules;            /* = n_kernels once emitted: module i holds kernel i */
  mlgb_module *modules;      /* kind, size and data (malloc'd, owned) of each module */
  int n_kernels;             /* = kir_module_count(lowered->module) */
  char *text;                /* NUL-terminated; text_size excludes the NUL */
  size_t text_size;
} mlg_code;

/* Renders every kernel of lowered->module for `target` (mlgb_target; 0 = OpenCL). Returns 0,
 * or -1 after reporting to diag: an unsupported target, a kernel GLSL cannot express, a shader
 * shaderc rejects ("kernel NAME: ..." with shaderc's log), or out of memory. *out is filled
 * either way and freed by mlg_code_free. */
int  mlg_code_emit(const mlg_lowered *lowered, int target, mlg_diag *diag, mlg_code *out);
void mlg_code_free(mlg_code *code);

/* The module holding `kernel` (a kernel of the lowered module), or -1 if it is not one. */
int         mlg_code_module_of(const mlg_code *code, const mlg_lowered *lowered,
                               const kir_kernel *kernel);
/* The entry point of `kernel` in its module: its name for OpenCL C, "main" for SPIR-V. */
const char *mlg_code_entry_point(const mlg_code *code, const kir_kernel *kernel);

#endif

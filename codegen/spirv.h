/* spirv.h — GLSL 450 compute shaders to SPIR-V through libshaderc (Vulkan 1.1 target
 * environment, SPIR-V 1.3 so subgroup operations are available; not optimized: the drivers do
 * it, and spirv-opt's passes cost most of a Vulkan compile).
 *
 * The shaders come from kir_print_glsl_kernel: one that does not compile is a bug in mlgc, so
 * the error names the kernel and carries shaderc's log verbatim.
 * Thread safety: a compiler is thread-compatible (one thread at a time); distinct compilers
 * may be used from different threads. */
#ifndef MLG_SPIRV_H
#define MLG_SPIRV_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlg_spirv_compiler mlg_spirv_compiler;

/* NULL when shaderc cannot be initialized (or out of memory). */
mlg_spirv_compiler *mlg_spirv_compiler_new(void);
void                mlg_spirv_compiler_free(mlg_spirv_compiler *compiler);

/* Compiles the compute shader `glsl` (glsl_size bytes) of kernel `kernel_name` (used as the
 * source name in shaderc's messages). On success returns 0 with *out_words (malloc'd, caller
 * frees; SPIR-V words in host byte order, starting with the magic 0x07230203) and *out_size in
 * bytes (a multiple of 4). On failure returns -1, *out_words = NULL, and err holds
 * "kernel NAME: GLSL does not compile to SPIR-V (a bug in mlgc): <shaderc's log>". */
int mlg_spirv_compile(mlg_spirv_compiler *compiler, const char *kernel_name, const char *glsl,
                      size_t glsl_size, uint32_t **out_words, size_t *out_size, char *err,
                      size_t err_size);

/* The same for assembly text (SPIR-V Tools syntax, NUL-terminated; *out_size excludes the NUL):
 * for tests and debugging. */
int mlg_spirv_disassemble_glsl(mlg_spirv_compiler *compiler, const char *kernel_name,
                               const char *glsl, size_t glsl_size, char **out_text,
                               size_t *out_size, char *err, size_t err_size);

#endif

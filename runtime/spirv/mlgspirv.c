/* mlgspirv.c — libmlgspirv.so: SPIRV-Tools' validator as a small shared library of its own.
 *
 * The Vulkan backend validates every SPIR-V module of a bundle before a driver sees it
 * (runtime/vulkan/vulkan_spirv_validate.c). SPIRV-Tools is a large C++ library, so libmlgrt
 * does not link it; it opens SPIRV-Tools' C API with dlopen when a Vulkan bundle is loaded.
 * Distributions that ship a shared SPIRV-Tools provide it as libSPIRV-Tools-shared.so; Debian
 * ships only static archives (and a libshaderc.so.1 that cannot be loaded on its own), so this
 * library is linked from the static libSPIRV-Tools.a and installed beside libmlgrt. It exports
 * exactly the four functions the runtime calls (mlgspirv.map), under SPIRV-Tools' own names, so
 * the runtime treats it and a system SPIRV-Tools alike. */
#include <spirv-tools/libspirv.h>

/* Referenced here so that the linker takes them (and what they need) from the archive. */
__attribute__((used)) static spv_context (*const keep_create)(spv_target_env) = spvContextCreate;
__attribute__((used)) static void (*const keep_destroy)(spv_context) = spvContextDestroy;
__attribute__((used)) static spv_result_t (*const keep_validate)(const spv_const_context, const uint32_t *,
                                                                 const size_t, spv_diagnostic *) = spvValidateBinary;
__attribute__((used)) static void (*const keep_diagnostic_destroy)(spv_diagnostic) = spvDiagnosticDestroy;

/* kir_samples.c — SHARED by the printer tests (test_kir.c: OpenCL C, test_glsl.c: GLSL): kernels
 * built once and printed by each dialect. Include this file from one test translation unit
 * (`#include "kir_samples.c"`): tests are single-file executables. */
#include "kir.h"

/* A relu-like kernel: guard, load, select, store. */
static int build_relu(kir_module *m, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, "k0_relu", 256, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  kir_if(b, kir_bin(b, KIR_GE, kir_var(b, i), kir_i32(b, 1000)));
  kir_return(b);
  kir_end(b);
  int v = kir_var_new(b, "v", kir_t(KIR_F32));
  kir_decl(b, v, kir_load(b, x, kir_var(b, i)));
  kir_store(b, y, kir_var(b, i),
            kir_select(b, kir_bin(b, KIR_LT, kir_var(b, v), kir_f32(b, 0)), kir_f32(b, 0),
                       kir_var(b, v)));
  return kir_kernel_end(b, out);
}

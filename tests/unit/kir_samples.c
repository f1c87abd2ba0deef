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

/* Every storage type: y = bool and halves and bytes in, each loaded once and stored back. */
/* The packed 4×8-bit dot product in its four signedness forms over packed loads:
 * y[i] = ss(a, a) + us(b, a) + su(a, b) + uu(b, b) of word i of the i8 buffer a and the u8
 * buffer b. */
static int build_dot(kir_module *m, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, "k_dot", 64, 1, 1);
  if (!b) return -1;
  int a = kir_buffer_param(b, "a", KIR_I8, KIR_READ);
  int u = kir_buffer_param(b, "u", KIR_U8, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_I32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  int pa = kir_var_new(b, "pa", kir_t(KIR_U32)), pu = kir_var_new(b, "pu", kir_t(KIR_U32));
  kir_decl(b, pa, kir_load_packed(b, a, kir_mul(b, kir_var(b, i), kir_i32(b, 4))));
  kir_decl(b, pu, kir_load_packed(b, u, kir_mul(b, kir_var(b, i), kir_i32(b, 4))));
  kir_expr *ss = kir_dot4x8(b, KIR_DOT_SS, kir_var(b, pa), kir_var(b, pa));
  kir_expr *us = kir_dot4x8(b, KIR_DOT_US, kir_var(b, pu), kir_var(b, pa));
  kir_expr *su = kir_dot4x8(b, KIR_DOT_SU, kir_var(b, pa), kir_var(b, pu));
  kir_expr *uu = kir_dot4x8(b, KIR_DOT_UU, kir_var(b, pu), kir_var(b, pu));
  kir_store(b, y, kir_var(b, i), kir_add(b, kir_add(b, ss, us), kir_add(b, su, uu)));
  return kir_kernel_end(b, out);
}

static int build_storage(kir_module *m, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, "k_storage", 64, 1, 1);
  if (!b) return -1;
  int h = kir_buffer_param(b, "h", KIR_F16, KIR_READ);
  int c = kir_buffer_param(b, "c", KIR_BOOL, KIR_READ);
  int s8 = kir_buffer_param(b, "s8", KIR_I8, KIR_READ);
  int u8 = kir_buffer_param(b, "u8", KIR_U8, KIR_READ);
  int yh = kir_buffer_param(b, "yh", KIR_F16, KIR_WRITE);
  int yb = kir_buffer_param(b, "yb", KIR_BOOL, KIR_WRITE);
  int yi = kir_buffer_param(b, "yi", KIR_I8, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  kir_expr *sum = kir_bin(b, KIR_ADD, kir_load(b, s8, kir_var(b, i)), kir_load(b, u8, kir_var(b, i)));
  kir_store(b, yh, kir_var(b, i), kir_bin(b, KIR_MUL, kir_load(b, h, kir_var(b, i)), kir_f32(b, 2)));
  kir_store(b, yb, kir_var(b, i), kir_un(b, KIR_NOT, kir_load(b, c, kir_var(b, i))));
  kir_store(b, yi, kir_var(b, i), sum);
  return kir_kernel_end(b, out);
}

/* Vectors of a float buffer, as a template builds them (x, y F32), then stored as halves
 * (kir_kernel_with_storage), as lowering gives it a tensor of an f16 bundle: y[4i..] = x[4i..]²
 * and y2[2i..] = x[2i..] + 1 through width-4 and width-2 loads and stores. *out_f32 is the
 * template's kernel, *out the copy with every buffer F16. */
static int build_half_vectors(kir_module *m, kir_kernel **out_f32, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, "k_half_vec", 64, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int y2 = kir_buffer_param(b, "y2", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_global_id(b, 0));
  int v = kir_var_new(b, "v", kir_tv(KIR_F32, 4));
  kir_decl(b, v, kir_load_vec(b, x, kir_mul(b, kir_var(b, i), kir_i32(b, 4)), 4));
  kir_store(b, y, kir_mul(b, kir_var(b, i), kir_i32(b, 4)), kir_bin(b, KIR_MUL, kir_var(b, v), kir_var(b, v)));
  kir_expr *w = kir_load_vec(b, x, kir_mul(b, kir_var(b, i), kir_i32(b, 2)), 2);
  kir_store(b, y2, kir_mul(b, kir_var(b, i), kir_i32(b, 2)),
            kir_bin(b, KIR_ADD, w, kir_cast(b, kir_tv(KIR_F32, 2), kir_f32(b, 1))));
  if (kir_kernel_end(b, out_f32) != 0) return -1;
  const kir_scalar halves[3] = {KIR_F16, KIR_F16, KIR_F16};
  return kir_kernel_with_storage(m, *out_f32, halves, out);
}

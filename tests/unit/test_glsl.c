/* test_glsl.c — the GLSL 450 printer (exact text for small kernels, helpers only where used,
 * what it refuses), SPIR-V compilation through shaderc of every kernel template and of every
 * model's kernels, shaderc errors naming the kernel, and the code stage (emit_code.h) for both
 * targets. Running the shaders is the Vulkan runtime's suite. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "compile.h"
#include "emit_code.h"
#include "kir.h"
#include "kir_eval.h"
#include "lower.h"
#include "spirv.h"
#include "templates/attention.h"
#include "templates/conv2d.h"
#include "templates/elementwise.h"
#include "templates/matmul.h"
#include "templates/pool.h"
#include "templates/reduce.h"
#include "templates/rowwise.h"
#include "templates/shape.h"

#define SPIRV_MAGIC 0x07230203u

static char *print_glsl(const kir_kernel *k) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(kir_print_glsl_kernel(k, f), 0);
  fclose(f);
  return s;
}

static char *print_opencl(const kir_module *m) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(kir_print_opencl(m, f), 0);
  fclose(f);
  return s;
}

/* Prints `k` as GLSL and compiles it; fails the test with shaderc's message otherwise. */
static void compile_ok(mlg_spirv_compiler *sc, const kir_kernel *k, const char *what) {
  char err[8192] = "";
  ck_assert_msg(kir_glsl_check(k, err, sizeof(err)) == 0, "%s: %s", what, err);
  char *glsl = print_glsl(k);
  uint32_t *words = NULL;
  size_t size = 0;
  int rc = mlg_spirv_compile(sc, k->name, glsl, strlen(glsl), &words, &size, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s: %s\n--- GLSL ---\n%s", what, err, glsl);
  ck_assert_uint_ge(size, 20);
  ck_assert_uint_eq(size % 4, 0);
  ck_assert_uint_eq(words[0], SPIRV_MAGIC);
  ck_assert_uint_eq(words[1], 0x00010300u); /* SPIR-V 1.3 */
  free(words);
  free(glsl);
}

/* ---- exact text ---- */

#include "kir_samples.c"

START_TEST(test_text_relu) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_relu(m, &k), 0);
  char *s = print_glsl(k);
  ck_assert_str_eq(s,
                   "// kernel k0_relu\n"
                   "#version 450\n"
                   "layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;\n"
                   "\n"
                   "layout(std430, set = 0, binding = 0) restrict readonly buffer B0 { float x[]; };\n"
                   "layout(std430, set = 0, binding = 1) restrict writeonly buffer B1 { float y[]; };\n"
                   "layout(push_constant) uniform PC { uint off[2]; } pc;\n"
                   "\n"
                   "void main() {\n"
                   "  int i = int(gl_GlobalInvocationID.x);\n"
                   "  if (i >= 1000) {\n"
                   "    return;\n"
                   "  }\n"
                   "  float v = x[pc.off[0] + i];\n"
                   "  y[pc.off[1] + i] = v < 0.0 ? 0.0 : v;\n"
                   "}\n");
  free(s);
  kir_module_free(m);
}
END_TEST

/* Local memory, barrier, ids in all three spaces, an int buffer read and written, casts, a
 * strided loop, integer div/mod, special float constants and a 2-D work-group. */
static int build_mixed(kir_module *m, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, "k1_mixed", 8, 4, 1);
  if (!b) return -1;
  int idx = kir_buffer_param(b, "idx", KIR_I32, KIR_READ_WRITE);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int sh = kir_local_array(b, "tile", KIR_F32, 32);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  kir_decl(b, lid, kir_add(b, kir_mul(b, kir_local_id(b, 1), kir_i32(b, 8)), kir_local_id(b, 0)));
  int j = kir_var_new(b, "j", kir_t(KIR_I32));
  kir_decl(b, j, kir_load(b, idx, kir_add(b, kir_mul(b, kir_group_id(b, 2), kir_i32(b, 32)),
                                          kir_var(b, lid))));
  kir_local_store(b, sh, kir_var(b, lid), kir_cast(b, kir_t(KIR_F32), kir_var(b, j)));
  kir_barrier(b);
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  kir_decl(b, acc, kir_un(b, KIR_NEG, kir_f32(b, INFINITY)));
  int r = kir_var_new(b, "r", kir_t(KIR_I32));
  kir_for(b, r, kir_i32(b, 0), kir_i32(b, 32), kir_i32(b, 4));
  kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc), kir_local_load(b, sh, kir_var(b, r))));
  kir_end(b);
  kir_store(b, idx, kir_global_id(b, 1), kir_cast(b, kir_t(KIR_I32), kir_var(b, acc)));
  kir_store(b, y, kir_i32(b, 0),
            kir_select(b, kir_bin(b, KIR_EQ, kir_mod(b, kir_var(b, j), kir_i32(b, 3)), kir_i32(b, 0)),
                       kir_f32(b, NAN),
                       kir_un(b, KIR_RSQRT, kir_cast(b, kir_t(KIR_F32),
                                                     kir_div(b, kir_var(b, j), kir_i32(b, 2))))));
  return kir_kernel_end(b, out);
}

START_TEST(test_text_mixed) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_mixed(m, &k), 0);
  char *s = print_glsl(k);
  ck_assert_str_eq(s,
                   "// kernel k1_mixed\n"
                   "#version 450\n"
                   "layout(local_size_x = 8, local_size_y = 4, local_size_z = 1) in;\n"
                   "\n"
                   "layout(std430, set = 0, binding = 0) restrict buffer B0 { int idx[]; };\n"
                   "layout(std430, set = 0, binding = 1) restrict writeonly buffer B1 { float y[]; };\n"
                   "layout(push_constant) uniform PC { uint off[2]; } pc;\n"
                   "\n"
                   "shared float tile[32];\n"
                   "\n"
                   "void main() {\n"
                   "  int lid = int(gl_LocalInvocationID.y) * 8 + int(gl_LocalInvocationID.x);\n"
                   "  int j = idx[pc.off[0] + (int(gl_WorkGroupID.z) * 32 + lid)];\n"
                   "  tile[lid] = float(j);\n"
                   "  memoryBarrierShared(); barrier();\n"
                   "  float acc = -uintBitsToFloat(0x7F800000u);\n"
                   "  for (int r = 0; r < 32; r += 4) {\n"
                   "    acc = acc + tile[r];\n"
                   "  }\n"
                   "  idx[pc.off[0] + int(gl_GlobalInvocationID.y)] = int(acc);\n"
                   "  y[pc.off[1]] = j % 3 == 0 ? uintBitsToFloat(0x7FC00000u) : "
                   "inversesqrt(float(j / 2));\n"
                   "}\n");
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  compile_ok(sc, k, "mixed");
  /* The barrier is a work-group control barrier that also orders shared memory. */
  char *asm_text = NULL;
  size_t asm_size = 0;
  char err[4096];
  ck_assert_int_eq(mlg_spirv_disassemble_glsl(sc, k->name, s, strlen(s), &asm_text, &asm_size,
                                              err, sizeof(err)),
                   0);
  ck_assert_ptr_nonnull(strstr(asm_text, "OpControlBarrier %uint_2 %uint_2 %uint_264"));
  ck_assert_ptr_nonnull(strstr(asm_text, "OpEntryPoint GLCompute"));
  ck_assert_ptr_nonnull(strstr(asm_text, "\"main\""));
  ck_assert_ptr_nonnull(strstr(asm_text, "PushConstant"));
  ck_assert_ptr_nonnull(strstr(asm_text, "LocalSize 8 4 1"));
  free(asm_text);
  mlg_spirv_compiler_free(sc);
  free(s);
  kir_module_free(m);
}
END_TEST

/* ---- helpers appear only where used ---- */

static kir_expr *sf_gelu(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_gelu(b, in[0]); }
static kir_expr *sf_gelu_tanh(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_gelu_tanh(b, in[0]);
}
static kir_expr *sf_erf(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_erf(b, in[0]); }
/* The IR's own erf (the templates build fastmath.h's form instead). */
static kir_expr *sf_ir_erf(kir_builder *b, kir_expr **in, const void *u) { return kir_un(b, KIR_ERF, in[0]); }
static kir_expr *sf_pow(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_pow(b, in[0], in[1]);
}
static kir_expr *sf_clamp(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_clamp(b, in[0], -1.0, 6.0);
}
static kir_expr *sf_add(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_add(b, in[0], in[1]);
}
static kir_expr *sf_silu(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_silu(b, in[0]); }
static kir_expr *sf_sigmoid(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_sigmoid(b, in[0]);
}
static kir_expr *sf_leaky(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_leaky_relu(b, in[0], 0.01);
}
static kir_expr *sf_sin(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_sin(b, in[0]); }
static kir_expr *sf_tan(kir_builder *b, kir_expr **in, const void *u) { return kt_sf_tan(b, in[0]); }
static kir_expr *sf_fmod(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_fmod(b, in[0], in[1]);
}
static kir_expr *sf_round(kir_builder *b, kir_expr **in, const void *u) {
  return kt_sf_round(b, in[0]);
}
static kir_expr *sf_unary_mix(kir_builder *b, kir_expr **in, const void *u) {
  kir_expr *x = in[0];
  kir_expr *t = kir_bin(b, KIR_ADD, kt_sf_exp(b, x), kt_sf_log(b, kt_sf_abs(b, x)));
  t = kir_bin(b, KIR_ADD, t, kt_sf_sqrt(b, kt_sf_abs(b, x)));
  t = kir_bin(b, KIR_ADD, t, kt_sf_rsqrt(b, kt_sf_abs(b, x)));
  t = kir_bin(b, KIR_ADD, t, kt_sf_tanh(b, x));
  t = kir_bin(b, KIR_ADD, t, kt_sf_erf(b, kt_sf_neg(b, x)));
  t = kir_bin(b, KIR_ADD, t, kir_un(b, KIR_FLOOR, x));
  t = kir_bin(b, KIR_ADD, t, kir_un(b, KIR_CEIL, x));
  t = kir_bin(b, KIR_ADD, t, kir_bin(b, KIR_MOD, x, kir_f32(b, 2.5)));
  return kir_bin(b, KIR_ADD, t, kt_sf_minimum(b, x, kir_f32(b, 1.0)));
}

static kir_kernel *ew(kir_module *m, const char *name, kt_scalar_fn fn, int n_inputs,
                      kir_scalar out_dtype, kir_scalar in_dtype) {
  kt_elementwise_desc d = {.rank = 3, .shape = {2, 3, 5}, .out_dtype = out_dtype,
                           .n_inputs = n_inputs, .scalar = fn};
  d.inputs[0] = (kt_ew_input){.rank = 3, .shape = {2, 3, 5}, .dtype = in_dtype};
  if (n_inputs > 1) d.inputs[1] = (kt_ew_input){.rank = 2, .shape = {3, 1}, .dtype = in_dtype};
  kir_kernel *k = NULL;
  int64_t g[3];
  ck_assert_int_eq(kt_elementwise(m, name, &d, &k, g), 0);
  return k;
}

START_TEST(test_helpers_only_where_used) {
  kir_module *m = kir_module_new();
  struct { kt_scalar_fn fn; int n_in; const char *has; const char *lacks; } cases[] = {
    {sf_ir_erf, 1, "float mlg_erf(float x)", "mlg_tanh"},
    {sf_gelu, 1, "float mlg_erf(float x)", "intBitsToFloat"},
    {sf_gelu_tanh, 1, "float mlg_tanh(float x)", "mlg_erf"},
    {sf_pow, 2, "float mlg_pow(float x, float y)", "mlg_erf"},
    {sf_clamp, 1, "float mlg_fmax(float a, float b)", "mlg_pow"},
    {sf_add, 2, "void main", "mlg_"},
    {sf_sin, 1, "float mlg_sin(float x)", "mlg_cos"},
    {sf_tan, 1, "int mlg_trig(float x, out float s, out float c)", "mlg_sin"},
    {sf_fmod, 2, "float mlg_fmod(float a, float b)", "mlg_trig"},
    {sf_round, 1, "roundEven(v0)", "mlg_"},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    char name[32];
    snprintf(name, sizeof(name), "k%zu_ew", c);
    kir_kernel *k = ew(m, name, cases[c].fn, cases[c].n_in, KIR_F32, KIR_F32);
    char *s = print_glsl(k);
    ck_assert_msg(strstr(s, cases[c].has), "case %zu lacks %s:\n%s", c, cases[c].has, s);
    ck_assert_msg(!strstr(s, cases[c].lacks), "case %zu has %s:\n%s", c, cases[c].lacks, s);
    ck_assert_msg(!strstr(s, ".0f") && !strstr(s, " fmin(") && !strstr(s, "get_global_id"),
                  "OpenCL spelling in GLSL:\n%s", s);
    free(s);
  }
  /* A CPU-class module spells erf as fastmath.h's arithmetic, 2^n through intBitsToFloat, and
   * gelu as its rational form (a division, no exp), with no helper. */
  kir_module *cpu = kir_module_new();
  kir_module_set_ir_math(cpu, 1);
  char *fs = print_glsl(ew(cpu, "k_fast_erf", sf_erf, 1, KIR_F32, KIR_F32));
  ck_assert_msg(strstr(fs, "intBitsToFloat(int(") && !strstr(fs, "mlg_erf"), "fast erf:\n%s", fs);
  free(fs);
  fs = print_glsl(ew(cpu, "k_fast_gelu", sf_gelu, 1, KIR_F32, KIR_F32));
  ck_assert_msg(strstr(fs, " / ") && !strstr(fs, "intBitsToFloat") && !strstr(fs, "mlg_"), "fast gelu:\n%s", fs);
  free(fs);
  kir_module_free(cpu);
  kir_module_free(m);
}
END_TEST

/* ---- vectors ---- */

static int build_vec(kir_module *m, const char *name, int width, kir_kernel **out) {
  kir_builder *b = kir_kernel_begin(m, name, 64, 1, 1);
  if (!b) return -1;
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  /* width + 1 apart: not known to be multiples of width */
  kir_decl(b, i, kir_mul(b, kir_global_id(b, 0), kir_i32(b, width + 1)));
  int v = kir_var_new(b, "v", kir_tv(KIR_F32, width));
  kir_decl(b, v, kir_load_vec(b, x, kir_var(b, i), width));
  kir_store(b, y, kir_var(b, i), kir_bin(b, KIR_MUL, kir_var(b, v), kir_f32(b, 2.0)));
  return kir_kernel_end(b, out);
}

START_TEST(test_vectors) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  kir_kernel *k4, *k2, *k8;
  ck_assert_int_eq(build_vec(m, "k0_vec4", 4, &k4), 0);
  ck_assert_int_eq(build_vec(m, "k1_vec2", 2, &k2), 0);
  ck_assert_int_eq(build_vec(m, "k2_vec8", 8, &k8), 0);
  char *s = print_glsl(k4);
  /* At an index not known to be a multiple of 4, the helpers test it at run time: aligned
   * accesses go through a vector view of the binding, others lane by lane. */
  ck_assert_ptr_nonnull(strstr(s, "layout(std430, set = 0, binding = 0) restrict readonly buffer B0v4 { vec4 x_v4[]; };\n"));
  ck_assert_ptr_nonnull(strstr(s, "layout(std430, set = 0, binding = 1) restrict writeonly buffer B1v4 { vec4 y_v4[]; };\n"));
  ck_assert_ptr_nonnull(strstr(s, "vec4 mlg_load4_x(uint i) {\n  if ((i & 3u) == 0u) return x_v4[i >> 2];\n"
                                  "  return vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);\n}\n"));
  ck_assert_ptr_nonnull(strstr(s, "void mlg_store4_y(uint i, vec4 v) {\n  if ((i & 3u) == 0u) {\n    y_v4[i >> 2] = v;\n"
                                  "    return;\n  }\n  y[i] = v.x;\n"
                                  "  y[i + 1u] = v.y;\n  y[i + 2u] = v.z;\n  y[i + 3u] = v.w;\n}\n"));
  ck_assert_ptr_nonnull(strstr(s, "  vec4 v = mlg_load4_x(pc.off[0] + i);\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_store4_y(pc.off[1] + i, v * 2.0);\n"));
  free(s);
  /* A read-write buffer has no vector view (restrict views could be reordered). */
  kir_builder *b = kir_kernel_begin(m, "k3_rw", 64, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));
  kir_decl(b, i, kir_mul(b, kir_global_id(b, 0), kir_i32(b, 4)));
  kir_store(b, x, kir_var(b, i), kir_bin(b, KIR_MUL, kir_load_vec(b, x, kir_var(b, i), 4), kir_f32(b, 2.0)));
  kir_kernel *krw;
  ck_assert_int_eq(kir_kernel_end(b, &krw), 0);
  s = print_glsl(krw);
  ck_assert_ptr_null(strstr(s, "x_v4"));
  ck_assert_ptr_nonnull(strstr(s, "vec4 mlg_load4_x(uint i) {\n  return vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);\n}\n"));
  free(s);
  compile_ok(sc, krw, "read-write vec4");
  compile_ok(sc, k4, "vec4");
  compile_ok(sc, k2, "vec2");
  char err[512];
  ck_assert_int_eq(kir_glsl_check(k8, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "k2_vec8"));
  ck_assert_ptr_nonnull(strstr(err, "width 8"));
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ck_assert_int_eq(kir_print_glsl_kernel(k8, f), -1);
  fclose(f);
  free(buf);
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* At an index that is a known multiple of its width (kir_expr_multiple), a vector access goes
 * straight through the buffer's vector view; the helpers stay for the others. */
START_TEST(test_vectors_known_multiples) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  kir_builder *b = kir_kernel_begin(m, "k0_known", 64, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32)), j = kir_var_new(b, "j", kir_t(KIR_I32));
  int k = kir_var_new(b, "k", kir_t(KIR_I32)), k2 = kir_var_new(b, "k2", kir_t(KIR_I32));
  kir_decl(b, i, kir_mul(b, kir_global_id(b, 0), kir_i32(b, 16)));
  kir_decl(b, j, kir_var(b, i));
  kir_for(b, k, kir_i32(b, 0), kir_i32(b, 8), kir_i32(b, 4));
  kir_store(b, y, kir_add(b, kir_var(b, i), kir_var(b, k)), kir_load_vec(b, x, kir_add(b, kir_var(b, i), kir_var(b, k)), 4));
  kir_end(b);
  kir_for(b, k2, kir_i32(b, 10), kir_i32(b, 16), kir_i32(b, 4));
  kir_store(b, y, kir_add(b, kir_var(b, i), kir_var(b, k2)), kir_load_vec(b, x, kir_add(b, kir_var(b, i), kir_var(b, k2)), 2));
  kir_store(b, y, kir_add(b, kir_var(b, j), kir_i32(b, 2)), kir_load_vec(b, x, kir_var(b, j), 4));
  kir_assign(b, j, kir_add(b, kir_var(b, j), kir_i32(b, 1))); /* so j is only a multiple of 1 */
  kir_end(b);
  kir_kernel *kk;
  ck_assert_int_eq(kir_kernel_end(b, &kk), 0);
  char *s = print_glsl(kk);
  ck_assert_msg(strstr(s, "    y_v4[(pc.off[1] + (i + k)) >> 2] = x_v4[(pc.off[0] + (i + k)) >> 2];\n"), "got:\n%s", s);
  ck_assert_msg(strstr(s, "    y_v2[(pc.off[1] + (i + k2)) >> 1] = x_v2[(pc.off[0] + (i + k2)) >> 1];\n"), "got:\n%s", s);
  ck_assert_msg(strstr(s, "    mlg_store4_y(pc.off[1] + (j + 2), mlg_load4_x(pc.off[0] + j));\n"), "got:\n%s", s);
  ck_assert_msg(strstr(s, "vec4 mlg_load4_x(uint i) {\n  if ((i & 3u) == 0u) return x_v4[i >> 2];\n"), "got:\n%s", s);
  ck_assert_msg(!strstr(s, "mlg_load2_x") && !strstr(s, "mlg_store2_y"), "got:\n%s", s);
  free(s);
  compile_ok(sc, kk, "known multiples");
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* vec4 shared arrays and vector constructors (the GEMM's tiles) print and compile. */
START_TEST(test_vector_locals) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  kir_builder *b = kir_kernel_begin(m, "k0_tiles", 4, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int t = kir_local_array_t(b, "t", kir_tv(KIR_F32, 4), 4);
  kir_expr *parts[4];
  for (int i = 0; i < 4; i++) parts[i] = kir_load(b, x, kir_i32(b, i));
  kir_local_store(b, t, kir_local_id(b, 0), kir_vector(b, 4, parts));
  kir_barrier(b);
  kir_store(b, y, kir_mul(b, kir_local_id(b, 0), kir_i32(b, 4)),
            kir_local_load(b, t, kir_bin(b, KIR_SUB, kir_i32(b, 3), kir_local_id(b, 0))));
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_glsl(k);
  ck_assert_msg(strstr(s, "shared vec4 t[4];\n") != NULL, "got:\n%s", s);
  ck_assert_msg(strstr(s, " = vec4(x[pc.off[0]], x[pc.off[0] + 1], x[pc.off[0] + 2]") != NULL, "got:\n%s", s);
  free(s);
  compile_ok(sc, k, "vector locals");
  /* Swizzles spell GLSL's lane letters. */
  b = kir_kernel_begin(m, "k1_swizzle", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  kir_expr *v = kir_load_vec(b, x, kir_i32(b, 0), 4);
  kir_store(b, y, kir_i32(b, 0), kir_add(b, kir_swizzle(b, v, 0, 2), kir_swizzle(b, v, 2, 2)));
  kir_store(b, y, kir_i32(b, 2), kir_swizzle_step(b, v, 1, 2, 2));
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  s = print_glsl(k);
  ck_assert_msg(strstr(s, "x_v4[(pc.off[0]) >> 2].xy + x_v4[(pc.off[0]) >> 2].zw") != NULL, "got:\n%s", s);
  ck_assert_msg(strstr(s, "x_v4[(pc.off[0]) >> 2].yw") != NULL, "got:\n%s", s);
  free(s);
  compile_ok(sc, k, "swizzle");
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

START_TEST(test_refuses_too_many_buffers_and_reserved_names) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  kt_concat_desc d = {.rank = 1, .shape = {32}, .axis = 0, .n_inputs = 32, .dtype = KIR_F32};
  for (int i = 0; i < 32; i++) d.axis_size[i] = 1;
  int64_t g[3];
  ck_assert_int_eq(kt_concat(m, "k0_concat32", &d, &k, g), 0);
  char err[512];
  ck_assert_int_eq(kir_glsl_check(k, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "k0_concat32"));
  ck_assert_ptr_nonnull(strstr(err, "32 buffer"));
  d.n_inputs = 31; /* 31 inputs + the output: exactly 32 offsets, 128 bytes */
  d.shape[0] = 31;
  ck_assert_int_eq(kt_concat(m, "k1_concat31", &d, &k, g), 0);
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  compile_ok(sc, k, "concat of 31");
  mlg_spirv_compiler_free(sc);

  kir_builder *b = kir_kernel_begin(m, "k2_named", 1, 1, 1);
  int x = kir_buffer_param(b, "B3", KIR_F32, KIR_WRITE);
  kir_store(b, x, kir_i32(b, 0), kir_f32(b, 1.0));
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  ck_assert_int_eq(kir_glsl_check(k, err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "k2_named"));
  ck_assert_ptr_nonnull(strstr(err, "\"B3\""));
  kir_module_free(m);
}
END_TEST

/* ---- shaderc errors ---- */

START_TEST(test_broken_glsl_names_kernel) {
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  const char *src = "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n"
                    "  float a = no_such_thing + 1.0;\n}\n";
  uint32_t *words = (uint32_t *)1;
  size_t size = 7;
  char err[4096];
  ck_assert_int_eq(mlg_spirv_compile(sc, "k7_broken", src, strlen(src), &words, &size, err,
                                     sizeof(err)),
                   -1);
  ck_assert_ptr_null(words);
  ck_assert_uint_eq(size, 0);
  ck_assert_msg(strncmp(err, "kernel k7_broken: ", 18) == 0, "%s", err);
  /* shaderc's own log, with the kernel as the source name and the line number */
  ck_assert_msg(strstr(err, "k7_broken:4: error:"), "%s", err);
  ck_assert_msg(strstr(err, "no_such_thing"), "%s", err);
  ck_assert_msg(strstr(err, "undeclared identifier"), "%s", err);
  /* a truncated error buffer stays a terminated string */
  char small[24];
  ck_assert_int_eq(mlg_spirv_compile(sc, "k7_broken", src, strlen(src), &words, &size, small,
                                     sizeof(small)),
                   -1);
  ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
  mlg_spirv_compiler_free(sc);
}
END_TEST

/* ---- every template compiles ---- */

START_TEST(test_templates_compile) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  kir_kernel *k;
  int64_t g[3];
  char name[64];
  int n = 0;
#define NEXT(what) (snprintf(name, sizeof(name), "k%d_%s", n++, what), name)

  /* elementwise: every scalar formula, broadcasting, int in / float out and back */
  compile_ok(sc, ew(m, NEXT("gelu"), sf_gelu, 1, KIR_F32, KIR_F32), "gelu");
  compile_ok(sc, ew(m, NEXT("gelu_tanh"), sf_gelu_tanh, 1, KIR_F32, KIR_F32), "gelu_tanh");
  compile_ok(sc, ew(m, NEXT("pow"), sf_pow, 2, KIR_F32, KIR_F32), "pow");
  compile_ok(sc, ew(m, NEXT("clamp"), sf_clamp, 1, KIR_F32, KIR_F32), "clamp");
  compile_ok(sc, ew(m, NEXT("add_bcast"), sf_add, 2, KIR_F32, KIR_F32), "add broadcast");
  compile_ok(sc, ew(m, NEXT("add_i32"), sf_add, 2, KIR_I32, KIR_I32), "add int");
  compile_ok(sc, ew(m, NEXT("add_i2f"), sf_add, 2, KIR_F32, KIR_I32), "add int to float");
  compile_ok(sc, ew(m, NEXT("silu_f2i"), sf_silu, 1, KIR_I32, KIR_F32), "silu to int");
  compile_ok(sc, ew(m, NEXT("sigmoid"), sf_sigmoid, 1, KIR_F32, KIR_F32), "sigmoid");
  compile_ok(sc, ew(m, NEXT("leaky"), sf_leaky, 1, KIR_F32, KIR_F32), "leaky_relu");
  compile_ok(sc, ew(m, NEXT("unary_mix"), sf_unary_mix, 1, KIR_F32, KIR_F32), "unary mix");
  {
    kt_elementwise_desc d = {.rank = 4, .shape = {2, 3, 4, 5}, .out_dtype = KIR_F32,
                             .n_inputs = 3, .scalar = sf_add, .local_size = 64};
    d.inputs[0] = (kt_ew_input){.rank = 4, .shape = {2, 1, 4, 1}, .dtype = KIR_F32};
    d.inputs[1] = (kt_ew_input){.rank = 1, .shape = {5}, .dtype = KIR_F32};
    d.inputs[2] = (kt_ew_input){.rank = 0, .dtype = KIR_F32};
    ck_assert_int_eq(kt_elementwise(m, NEXT("ew_strided"), &d, &k, g), 0);
    compile_ok(sc, k, "elementwise strided broadcast");
  }

  /* shape */
  ck_assert_int_eq(kt_copy(m, NEXT("copy"), 1000, KIR_F32, &k, g), 0);
  compile_ok(sc, k, "copy");
  ck_assert_int_eq(kt_copy(m, NEXT("copy_i32"), 7, KIR_I32, &k, g), 0);
  compile_ok(sc, k, "copy int");
  {
    kt_transpose_desc d = {.rank = 4, .shape = {2, 3, 4, 5}, .perm = {0, 2, 3, 1}, .dtype = KIR_F32};
    ck_assert_int_eq(kt_transpose(m, NEXT("transpose"), &d, &k, g), 0);
    compile_ok(sc, k, "transpose");
    kt_transpose_desc d2 = {.rank = 2, .shape = {64, 3}, .perm = {1, 0}, .dtype = KIR_I32};
    ck_assert_int_eq(kt_transpose(m, NEXT("transpose_i32"), &d2, &k, g), 0);
    compile_ok(sc, k, "transpose int");
  }
  {
    kt_slice_desc d = {.dtype = KIR_F32};
    int64_t shape[3] = {4, 6, 8}, starts[2] = {1, -1}, ends[2] = {6, -9}, axes[2] = {1, 2},
            steps[2] = {2, -3};
    ck_assert_int_eq(kt_slice_resolve(3, shape, 2, starts, ends, axes, steps, &d), 0);
    ck_assert_int_eq(kt_slice(m, NEXT("slice"), &d, &k, g), 0);
    compile_ok(sc, k, "slice");
  }
  {
    kt_concat_desc d = {.rank = 3, .shape = {2, 9, 4}, .axis = 1, .n_inputs = 3,
                        .axis_size = {2, 3, 4}, .dtype = KIR_F32};
    ck_assert_int_eq(kt_concat(m, NEXT("concat"), &d, &k, g), 0);
    compile_ok(sc, k, "concat");
    kt_concat_desc d2 = {.rank = 1, .shape = {5}, .axis = 0, .n_inputs = 1, .axis_size = {5},
                         .dtype = KIR_I32};
    ck_assert_int_eq(kt_concat(m, NEXT("concat1"), &d2, &k, g), 0);
    compile_ok(sc, k, "concat of one");
  }
  {
    kt_gather_desc d = {.rank = 2, .shape = {50, 16}, .axis = 0, .n_indices = 7,
                        .dtype = KIR_F32, .index_dtype = KIR_I32};
    ck_assert_int_eq(kt_gather(m, NEXT("gather"), &d, &k, g), 0);
    compile_ok(sc, k, "gather");
    kt_gather_desc d2 = {.rank = 3, .shape = {3, 4, 5}, .axis = 2, .n_indices = 2,
                         .dtype = KIR_I32, .index_dtype = KIR_F32};
    ck_assert_int_eq(kt_gather(m, NEXT("gather_f"), &d2, &k, g), 0);
    compile_ok(sc, k, "gather float indices");
  }

  /* matmul: skinny, square with tiles, batched with broadcast and bias, odd sizes */
  {
    kt_matmul_desc d = {.m = 1, .n = 10, .k = 784, .trans_b = 1, .has_bias = 1};
    ck_assert_int_eq(kt_matmul(m, NEXT("linear"), &d, &k, g), 0);
    compile_ok(sc, k, "linear");
    kt_matmul_desc d2 = {.m = 128, .n = 256, .k = 64};
    ck_assert_int_eq(kt_matmul(m, NEXT("matmul"), &d2, &k, g), 0);
    compile_ok(sc, k, "matmul 128x256x64");
    kt_matmul_desc d3 = {.m = 17, .n = 33, .k = 5, .n_batch = 2, .batch = {2, 3},
                         .a_batch_stride = {3 * 17 * 5, 17 * 5}, .b_batch_stride = {0, 5 * 33}};
    ck_assert_int_eq(kt_matmul(m, NEXT("matmul_batched"), &d3, &k, g), 0);
    compile_ok(sc, k, "batched matmul");
  }

  /* conv2d: plain, strided/padded/dilated with bias, depthwise */
  {
    kt_conv2d_desc d = {.n = 1, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5};
    ck_assert_int_eq(kt_conv2d(m, NEXT("conv"), &d, &k, g), 0);
    compile_ok(sc, k, "conv");
    kt_conv2d_desc d2 = {.n = 2, .c_in = 4, .h = 9, .w = 7, .c_out = 6, .kh = 3, .kw = 2,
                         .stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_left = 2,
                         .pad_bottom = 0, .pad_right = 1, .dil_h = 2, .dil_w = 1, .groups = 2,
                         .has_bias = 1, .oc_block = 3, .local_size = 32};
    ck_assert_int_eq(kt_conv2d(m, NEXT("conv_general"), &d2, &k, g), 0);
    compile_ok(sc, k, "conv general");
    kt_conv2d_desc d3 = {.n = 1, .c_in = 8, .h = 5, .w = 5, .c_out = 8, .kh = 3, .kw = 3,
                         .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
                         .groups = 8};
    ck_assert_int_eq(kt_conv2d(m, NEXT("conv_dw"), &d3, &k, g), 0);
    compile_ok(sc, k, "depthwise conv");
  }

  /* pooling */
  {
    kt_pool2d_desc d = {.kind = KT_POOL_MAX, .n = 1, .c = 3, .h = 8, .w = 8, .kh = 2, .kw = 2,
                        .stride_h = 2, .stride_w = 2};
    ck_assert_int_eq(kt_pool2d(m, NEXT("maxpool"), &d, &k, g), 0);
    compile_ok(sc, k, "max pool");
    kt_pool2d_desc d2 = {.kind = KT_POOL_AVG, .n = 2, .c = 2, .h = 7, .w = 6, .kh = 3, .kw = 3,
                         .stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_left = 1,
                         .pad_bottom = 1, .pad_right = 1};
    ck_assert_int_eq(kt_pool2d(m, NEXT("avgpool"), &d2, &k, g), 0);
    compile_ok(sc, k, "avg pool");
    kt_global_pool_desc d3 = {.n = 2, .c = 5, .h = 7, .w = 7, .local_size = 64};
    ck_assert_int_eq(kt_global_avg_pool2d(m, NEXT("gap"), &d3, &k, g), 0);
    compile_ok(sc, k, "global avg pool");
  }

  /* reductions: both strategies, all ops, strided axes */
  {
    kt_reduce_op ops[] = {KT_RED_SUM, KT_RED_MEAN, KT_RED_MAX, KT_RED_MIN};
    for (int o = 0; o < 4; o++) {
      kt_reduce_desc d = {.op = ops[o], .rank = 3, .shape = {4, 300, 3}, .reduce = {0, 1, 0},
                          .strategy = KT_REDUCE_WG_PER_OUTPUT};
      ck_assert_int_eq(kt_reduce(m, NEXT("reduce_wg"), &d, &k, g), 0);
      compile_ok(sc, k, "reduce work-group per output");
      d.strategy = KT_REDUCE_ITEM_PER_OUTPUT;
      ck_assert_int_eq(kt_reduce(m, NEXT("reduce_item"), &d, &k, g), 0);
      compile_ok(sc, k, "reduce item per output");
    }
    kt_reduce_desc d = {.op = KT_RED_SUM, .rank = 4, .shape = {2, 3, 4, 5},
                        .reduce = {1, 0, 1, 0}};
    ck_assert_int_eq(kt_reduce(m, NEXT("reduce_strided"), &d, &k, g), 0);
    compile_ok(sc, k, "reduce strided axes");
    kt_reduce_desc d0 = {.op = KT_RED_MEAN, .rank = 0};
    ck_assert_int_eq(kt_reduce(m, NEXT("reduce_rank0"), &d0, &k, g), 0);
    compile_ok(sc, k, "reduce rank 0");
  }

  /* rowwise */
  {
    kt_softmax_desc d = {.outer = 3, .axis_len = 1000, .inner = 1, .log = 0};
    ck_assert_int_eq(kt_softmax(m, NEXT("softmax"), &d, &k, g), 0);
    compile_ok(sc, k, "softmax");
    kt_softmax_desc d2 = {.outer = 2, .axis_len = 5, .inner = 3, .log = 1, .local_size = 32};
    ck_assert_int_eq(kt_softmax(m, NEXT("log_softmax"), &d2, &k, g), 0);
    compile_ok(sc, k, "log_softmax");
    kt_layer_norm_desc d3 = {.rows = 16, .norm_size = 64, .eps = 1e-5, .has_weight = 1,
                             .has_bias = 1};
    ck_assert_int_eq(kt_layer_norm(m, NEXT("layer_norm"), &d3, &k, g), 0);
    compile_ok(sc, k, "layer_norm");
    kt_layer_norm_desc d4 = {.rows = 3, .norm_size = 7, .eps = 1e-5};
    ck_assert_int_eq(kt_layer_norm(m, NEXT("layer_norm_plain"), &d4, &k, g), 0);
    compile_ok(sc, k, "layer_norm without affine");
    kt_batch_norm_desc d5 = {.n = 2, .c = 3, .hw = 49, .eps = 1e-5, .has_weight = 1,
                             .has_bias = 1};
    ck_assert_int_eq(kt_batch_norm(m, NEXT("batch_norm"), &d5, &k, g), 0);
    compile_ok(sc, k, "batch_norm");
  }
#undef NEXT
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* ---- the code stage ---- */

static mlg_lowered *small_lowered(void) {
  mlg_lowered *lw = calloc(1, sizeof(*lw));
  ck_assert_ptr_nonnull(lw);
  lw->module = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_relu(lw->module, &k), 0);
  ck_assert_int_eq(build_mixed(lw->module, &k), 0);
  ew(lw->module, "k2_gelu", sf_gelu, 1, KIR_F32, KIR_F32);
  return lw;
}

static void free_lowered(mlg_lowered *lw) {
  kir_module_free(lw->module);
  free(lw);
}

START_TEST(test_emit_code_opencl) {
  mlg_lowered *lw = small_lowered();
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_code code;
  ck_assert_int_eq(mlg_code_emit(lw, MLGB_TARGET_OPENCL, &diag, &code), 0);
  char *expect = print_opencl(lw->module);
  ck_assert_str_eq(code.text, expect);
  ck_assert_uint_eq(code.text_size, strlen(expect));
  /* One module per kernel, holding that kernel's source alone. */
  ck_assert_int_eq(code.n_modules, 3);
  ck_assert_int_eq(code.n_kernels, 3);
  for (int i = 0; i < 3; i++) {
    const kir_kernel *k = kir_module_kernel(lw->module, i);
    char *src = NULL;
    size_t src_size = 0;
    FILE *f = open_memstream(&src, &src_size);
    ck_assert_int_eq(kir_print_opencl_kernel(k, f), 0);
    fclose(f);
    ck_assert_uint_eq(code.modules[i].kind, MLGB_MODULE_OPENCL_C);
    ck_assert_uint_eq(code.modules[i].size, src_size);
    ck_assert_int_eq(memcmp(code.modules[i].data, src, src_size), 0);
    ck_assert_ptr_nonnull(strstr(expect, src));
    free(src);
    ck_assert_int_eq(mlg_code_module_of(&code, lw, k), i);
    ck_assert_str_eq(mlg_code_entry_point(&code, k), k->name);
  }
  free(expect);
  mlg_code_free(&code);
  /* 0 means OpenCL, as in mlg_compile_options */
  ck_assert_int_eq(mlg_code_emit(lw, 0, &diag, &code), 0);
  ck_assert_int_eq(code.target, MLGB_TARGET_OPENCL);
  mlg_code_free(&code);
  ck_assert_int_eq(diag.n_errors, 0);
  free_lowered(lw);
}
END_TEST

START_TEST(test_emit_code_vulkan) {
  mlg_lowered *lw = small_lowered();
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_code code;
  ck_assert_int_eq(mlg_code_emit(lw, MLGB_TARGET_VULKAN, &diag, &code), 0);
  ck_assert_int_eq(code.n_modules, 3);
  ck_assert_int_eq(code.n_kernels, 3);
  size_t pos = 0;
  for (int i = 0; i < 3; i++) {
    const kir_kernel *k = kir_module_kernel(lw->module, i);
    ck_assert_int_eq(mlg_code_module_of(&code, lw, k), i);
    ck_assert_str_eq(mlg_code_entry_point(&code, k), "main");
    ck_assert_uint_eq(code.modules[i].kind, MLGB_MODULE_SPIRV);
    ck_assert_uint_eq(code.modules[i].size % 4, 0);
    uint32_t magic;
    memcpy(&magic, code.modules[i].data, 4);
    ck_assert_uint_eq(magic, SPIRV_MAGIC);
    /* the text is every shader, in order, separated by a blank line */
    char *glsl = print_glsl(k);
    ck_assert_msg(strncmp(code.text + pos, glsl, strlen(glsl)) == 0, "kernel %d text", i);
    pos += strlen(glsl);
    if (i < 2) ck_assert_int_eq(code.text[pos++], '\n');
    free(glsl);
  }
  ck_assert_uint_eq(pos, code.text_size);
  ck_assert_uint_eq(strlen(code.text), code.text_size);
  ck_assert_int_eq(mlg_code_module_of(&code, lw, NULL), -1);
  mlg_code_free(&code);
  ck_assert_int_eq(diag.n_errors, 0);

  ck_assert_int_eq(mlg_code_emit(lw, 7, &diag, &code), -1);
  ck_assert_int_eq(diag.n_errors, 1);
  mlg_code_free(&code);
  free_lowered(lw);
}
END_TEST

START_TEST(test_emit_code_vulkan_reports_kernel) {
  mlg_lowered *lw = small_lowered();
  kir_kernel *k;
  ck_assert_int_eq(build_vec(lw->module, "k3_wide", 8, &k), 0);
  char *msg = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&msg, &n);
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, f);
  mlg_code code;
  ck_assert_int_eq(mlg_code_emit(lw, MLGB_TARGET_VULKAN, &diag, &code), -1);
  fclose(f);
  ck_assert_int_eq(diag.n_errors, 1);
  ck_assert_msg(strstr(msg, "kernel k3_wide"), "%s", msg);
  mlg_code_free(&code);
  free(msg);
  free_lowered(lw);
}
END_TEST

/* Every example model's kernels, lowered for Vulkan (which has no warpgroup products: their
 * kernels are OpenCL's only), compile to SPIR-V. */
START_TEST(test_models_compile_to_spirv) {
  DIR *dir = opendir(MLG_SOURCE_DIR "/models");
  ck_assert_ptr_nonnull(dir);
  struct dirent *e;
  int n_models = 0;
  while ((e = readdir(dir))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".mlg") != 0) continue;
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/%s", MLG_SOURCE_DIR, e->d_name);
    mlg_source src;
    ck_assert_int_eq(mlg_source_load(&src, path), 0);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, stderr);
    mlg_compile_options opt = {.opt_level = 2, .target = MLGB_TARGET_VULKAN};
    mlg_pipeline p;
    int rc = mlg_pipeline_run(&src, &opt, MLG_STAGE_KERNELS, &diag, &p);
    ck_assert_msg(rc == 0, "%s: pipeline failed", path);
    mlg_code code;
    rc = mlg_code_emit(p.lowered, MLGB_TARGET_VULKAN, &diag, &code);
    ck_assert_msg(rc == 0, "%s: Vulkan code failed", path);
    ck_assert_int_eq(code.n_modules, kir_module_count(p.lowered->module));
    ck_assert_int_gt(code.n_modules, 0);
    for (int l = 0; l < p.lowered->n_launches; l++)
      ck_assert_int_ge(mlg_code_module_of(&code, p.lowered, p.lowered->launches[l].kernel), 0);
    mlg_code_free(&code);
    mlg_pipeline_free(&p);
    mlg_source_free(&src);
    n_models++;
  }
  closedir(dir);
  ck_assert_int_ge(n_models, 5);
}
END_TEST

/* ---- subgroup operations (Vulkan only) ---- */

/* y[group] = the subgroup sum/min/max of x, written by the subgroup's first invocation, plus
 * the four builtins: every new node once. */
static kir_kernel *build_subgroup(kir_module *m, const char *name, int reduce) {
  kir_builder *b = kir_kernel_begin(m, name, 64, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int v = kir_var_new(b, "v", kir_t(KIR_F32));
  kir_decl(b, v, kir_load(b, x, kir_global_id(b, 0)));
  if (reduce) {
    kir_assign(b, v, kir_subgroup_reduce(b, KIR_ADD, kir_var(b, v)));
    kir_assign(b, v, kir_subgroup_reduce(b, KIR_MIN, kir_var(b, v)));
    kir_assign(b, v, kir_subgroup_reduce(b, KIR_MAX, kir_var(b, v)));
  }
  kir_if(b, kir_bin(b, KIR_EQ, kir_subgroup(b, KIR_SG_INVOCATION), kir_i32(b, 0)));
  kir_expr *at = kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_subgroup(b, KIR_SG_COUNT)),
                         kir_subgroup(b, KIR_SG_ID));
  kir_store(b, y, at, kir_add(b, kir_var(b, v), kir_cast(b, kir_t(KIR_F32), kir_subgroup(b, KIR_SG_SIZE))));
  kir_end(b);
  kir_kernel *k = NULL;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  return k;
}

START_TEST(test_subgroup_nodes) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  kir_kernel *k = build_subgroup(m, "k_sg", 1);
  ck_assert_uint_eq(k->features, KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH);
  char *s = print_glsl(k);
  ck_assert_msg(strstr(s, "#version 450\n#extension GL_KHR_shader_subgroup_basic : require\n"
                          "#extension GL_KHR_shader_subgroup_arithmetic : require\nlayout("), "%s", s);
  ck_assert_msg(strstr(s, "  v = subgroupAdd(v);\n  v = subgroupMin(v);\n  v = subgroupMax(v);\n"), "%s", s);
  ck_assert_msg(strstr(s, "  if (int(gl_SubgroupInvocationID) == 0) {\n"
                          "    y[pc.off[1] + (int(gl_WorkGroupID.x) * int(gl_NumSubgroups) + int(gl_SubgroupID))] = "
                          "v + float(int(gl_SubgroupSize));\n"), "%s", s);
  free(s);
  compile_ok(sc, k, "subgroup reductions and builtins");

  /* Builtins alone: the basic extension only. */
  k = build_subgroup(m, "k_sg_basic", 0);
  ck_assert_uint_eq(k->features, KIR_FEATURE_SUBGROUP_BASIC);
  s = print_glsl(k);
  ck_assert_msg(strstr(s, "GL_KHR_shader_subgroup_basic") && !strstr(s, "arithmetic"), "%s", s);
  free(s);
  compile_ok(sc, k, "subgroup builtins");

  /* A kernel without them gets no #extension at all. */
  kir_kernel *relu;
  ck_assert_int_eq(build_relu(m, &relu), 0);
  ck_assert_uint_eq(relu->features, 0);
  s = print_glsl(relu);
  ck_assert_msg(!strstr(s, "#extension"), "%s", s);
  free(s);

  /* OpenCL C 1.2 has no spelling for them: refused with the kernel's name, nothing printed. */
  char err[256];
  ck_assert_int_eq(kir_opencl_check(relu, err, sizeof err), 0);
  ck_assert_int_eq(kir_opencl_check(k, err, sizeof err), -1);
  ck_assert_str_eq(err, "kernel k_sg_basic: cannot be written as OpenCL C 1.2: it uses subgroup operations "
                        "(Vulkan only)");
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(kir_print_opencl_kernel(k, f), -1);
  ck_assert_int_eq(kir_print_opencl(m, f), -1);
  ck_assert_int_eq((int)ftell(f), 0);
  fclose(f);

  /* The constant folder cannot know them. */
  kir_builder *b = kir_kernel_begin(m, "k_eval", 1, 1, 1);
  kir_value out;
  ck_assert_int_eq(kir_eval(kir_subgroup(b, KIR_SG_SIZE), NULL, &out), -1);
  ck_assert_int_eq(kir_eval(kir_subgroup_reduce(b, KIR_ADD, kir_f32(b, 1.0)), NULL, &out), -1);
  ck_assert(!kir_builder_failed(b));
  /* Misuse poisons the builder: another op, a vector, a bad builtin. */
  ck_assert_ptr_null(kir_subgroup_reduce(b, KIR_SUB, kir_f32(b, 1.0)));
  ck_assert(kir_builder_failed(b));
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);
  b = kir_kernel_begin(m, "k_vec", 1, 1, 1);
  ck_assert_ptr_null(kir_subgroup_reduce(b, KIR_ADD, kir_cast(b, kir_tv(KIR_F32, 4), kir_f32(b, 1.0))));
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);
  b = kir_kernel_begin(m, "k_bad", 1, 1, 1);
  ck_assert_ptr_null(kir_subgroup(b, (kir_subgroup_builtin)9));
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* Every reduction template with subgroups compiles to SPIR-V, uses them, and keeps a single
 * pass structure: 2 barriers per reduction instead of log2(local size) + 2. */
START_TEST(test_templates_subgroups) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  kir_kernel *k[6];
  int64_t g[3];
  kt_softmax_desc sm = {.outer = 4, .axis_len = 1000, .inner = 1, .local_size = 256, .subgroups = 1};
  ck_assert_int_eq(kt_softmax(m, "softmax", &sm, &k[0], g), 0);
  sm.log = 1;
  sm.inner = 3;
  ck_assert_int_eq(kt_softmax(m, "log_softmax", &sm, &k[1], g), 0);
  kt_layer_norm_desc ln = {.rows = 8, .norm_size = 768, .eps = 1e-5, .has_weight = 1, .has_bias = 1,
                           .subgroups = 1};
  ck_assert_int_eq(kt_layer_norm(m, "layer_norm", &ln, &k[2], g), 0);
  kt_reduce_desc rd = {.op = KT_RED_MAX, .rank = 2, .shape = {3, 500}, .reduce = {0, 1}, .subgroups = 1};
  ck_assert_int_eq(kt_reduce(m, "reduce_max", &rd, &k[3], g), 0);
  rd.op = KT_RED_MEAN;
  ck_assert_int_eq(kt_reduce(m, "reduce_mean", &rd, &k[4], g), 0);
  kt_global_pool_desc gp = {.n = 2, .c = 3, .h = 7, .w = 7, .subgroups = 1};
  ck_assert_int_eq(kt_global_avg_pool2d(m, "global_pool", &gp, &k[5], g), 0);
  static const int reductions[6] = {2, 2, 2, 1, 1, 1};
  for (int i = 0; i < 6; i++) {
    ck_assert_uint_eq(k[i]->features, KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH);
    compile_ok(sc, k[i], k[i]->name);
    char *s = print_glsl(k[i]);
    int barriers = 0;
    for (const char *p = s; (p = strstr(p, "barrier();")); p++) barriers++;
    ck_assert_msg(barriers == 2 * reductions[i], "%s: %d barriers\n%s", k[i]->name, barriers, s);
    free(s);
  }
  /* Without the flag: the local-memory tree, no subgroup operation. */
  sm = (kt_softmax_desc){.outer = 4, .axis_len = 1000, .inner = 1, .local_size = 256};
  kir_kernel *tree;
  ck_assert_int_eq(kt_softmax(m, "softmax_tree", &sm, &tree, g), 0);
  ck_assert_uint_eq(tree->features, 0);
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* The option reaches the templates for Vulkan only, and the bundle records the need. */
START_TEST(test_compile_option_subgroups) {
  static const char text[] = "model sm {\n  input x : f32[3, 40]\n  output y = softmax(x, axis=-1)\n"
                             "  output s = sum(x, axes=[1])\n}\n";
  struct { int target, subgroups; uint64_t features; } cases[] = {
    {MLGB_TARGET_VULKAN, 1, MLGB_FEATURE_SUBGROUP_ARITH},
    {MLGB_TARGET_VULKAN, 0, 0},
    {MLGB_TARGET_OPENCL, 1, 0},   /* ignored: OpenCL never gets them */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mlg_source src;
    ck_assert_int_eq(mlg_source_from_memory(&src, "sm.mlg", text, strlen(text)), 0);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, stderr);
    mlg_compile_options opt = {.target = cases[c].target, .opt_level = 2, .subgroups = cases[c].subgroups};
    uint8_t *data = NULL;
    size_t size = 0;
    ck_assert_int_eq(mlg_compile(&src, &opt, &diag, &data, &size), 0);
    mlgb_bundle *b = NULL;
    char err[256];
    ck_assert_msg(mlgb_read(data, size, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(b->required_features, cases[c].features);
    mlgb_free(b);
    free(data);
    mlg_source_free(&src);
  }
}
END_TEST

/* Tensors aligned below 16 bytes (or to no power of two) are refused: the shaders' vector
 * accesses take every tensor offset to be a multiple of 16. */
START_TEST(test_compile_alignment) {
  static const char text[] = "model al {\n  input x : f32[64]\n  output y = x * 2.0\n}\n";
  const int64_t alignments[] = {8, 24, 4, -16};
  for (size_t c = 0; c < sizeof alignments / sizeof alignments[0]; c++) {
    mlg_source src;
    ck_assert_int_eq(mlg_source_from_memory(&src, "al.mlg", text, strlen(text)), 0);
    char *log = NULL;
    size_t log_size = 0;
    FILE *lf = open_memstream(&log, &log_size);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, lf);
    mlg_compile_options opt = {.target = MLGB_TARGET_VULKAN, .opt_level = 2, .alignment = alignments[c]};
    uint8_t *data = NULL;
    size_t size = 0;
    ck_assert_int_ne(mlg_compile(&src, &opt, &diag, &data, &size), 0);
    fclose(lf);
    ck_assert_msg(strstr(log, "must be a power of two of at least 16 bytes"), "log: %s", log);
    free(log);
    free(data);
    mlg_source_free(&src);
  }
}
END_TEST

/* Storage types: packed uint words, helpers per buffer, atomics for the stores, the half
 * rounding helper only where a half is stored; and shaderc takes it. */
START_TEST(test_storage_types) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_storage(m, &k), 0);
  char *s = print_glsl(k);
  FILE *dump = getenv("MLG_DUMP_GLSL") ? stderr : NULL;
  if (dump) fputs(s, dump);
  ck_assert_ptr_nonnull(strstr(s, "restrict readonly buffer B0 { uint h[]; };"));
  ck_assert_ptr_nonnull(strstr(s, "restrict buffer B4 { uint yh[]; };")); /* not writeonly */
  ck_assert_ptr_nonnull(strstr(s, "float mlg_ld_h(uint mlg_i) {\n"
                                  "  vec2 mlg_h = unpackHalf2x16(h[mlg_i >> 1u]);"));
  ck_assert_ptr_nonnull(strstr(s, "return bitfieldExtract(int(s8[mlg_i >> 2u]), int(mlg_i & 3u) * 8, 8);"));
  ck_assert_ptr_nonnull(strstr(s, "return int(bitfieldExtract(u8[mlg_i >> 2u], int(mlg_i & 3u) * 8, 8));"));
  ck_assert_ptr_nonnull(strstr(s, "atomicAnd(yh[mlg_i >> 1u], ~(0xFFFFu << mlg_s));"));
  ck_assert_ptr_nonnull(strstr(s, "atomicOr(yh[mlg_i >> 1u], mlg_f16_bits(mlg_v) << mlg_s);"));
  ck_assert_ptr_nonnull(strstr(s, "atomicOr(yb[mlg_i >> 2u], (mlg_v ? 1u : 0u) << mlg_s);"));
  ck_assert_ptr_nonnull(strstr(s, "uint mlg_f16_bits(float v) {"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_st_yh(pc.off[4] + i, mlg_ld_h(pc.off[0] + i) * 2.0);\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_st_yi(pc.off[6] + i, mlg_ld_s8(pc.off[2] + i) + mlg_ld_u8(pc.off[3] + i));\n"));
  free(s);
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  compile_ok(sc, k, "storage types");
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* The tensor-core GEMM (templates/matmul_mma.c) over every staging layout — A and B contiguous
 * along K (linear), B along N (matmul), A along M (a transposed operand), an odd K (half by
 * half), batches and a bias, f16 or f32 C — prints as GL_NV_cooperative_matrix GLSL that
 * shaderc compiles (tiles copied 16 bytes at a time as uvec4 arrays), and as OpenCL C with the
 * inline-PTX helpers once per program. */
START_TEST(test_mma_templates) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  /* a32: A stored as f32; norm: the layer-norm prologue, 2 with its weight and bias. */
  struct { int64_t m, n, k; int trans_b, bias, c16, a_t, batch, a32, norm; } cases[] = {
    {4096, 4096, 4096, 0, 0, 1, 0, 0, 0, 0}, /* HGEMM: B [K, N] */
    {100, 70, 50, 1, 1, 0, 0, 0, 0, 0},      /* linear with ragged edges, K % 8 == 2 */
    {64, 96, 33, 0, 0, 0, 0, 0, 0, 0},       /* odd K: half-by-half copies */
    {80, 48, 64, 1, 0, 1, 1, 3, 0, 0},       /* A stored [K, M] (strided), batches */
    {1024, 2304, 768, 1, 1, 1, 0, 0, 1, 2},  /* layer_norm_linear on an f32 input, GPT-2 size */
    {100, 70, 50, 1, 0, 0, 0, 0, 0, 1},      /* plain layer norm on f16 A, ragged */
    {80, 48, 64, 1, 0, 1, 1, 3, 1, 0},       /* f32 A stored [K, M], batches */
  };
  /* The built-in configuration on every case; each of kt_matmul_mma_config's on two of them in
   * turn (those within 48 KiB of local memory: kt_matmul_mma refuses the others). */
  const size_t n_cases = sizeof cases / sizeof cases[0];
  for (int cfg = 0; cfg <= KT_MMA_N_CONFIGS; cfg++) {
    for (size_t c = 0; c < n_cases; c++) {
      kt_mma_config cc;
      if (cfg && (c != (size_t)cfg % n_cases && c != (size_t)(cfg + 3) % n_cases)) continue;
      if (cfg && (kt_matmul_mma_config(cfg, &cc) != 0 ||
                  kt_mma_config_local_bytes(&cc, cases[c].norm > 0) > 48 * 1024))
        continue;
      kt_matmul_desc d = {.m = cases[c].m, .n = cases[c].n, .k = cases[c].k, .trans_b = cases[c].trans_b,
                          .has_bias = cases[c].bias, .a_elem = cases[c].a32 ? KIR_F32 : KIR_F16,
                          .b_elem = KIR_F16, .c_elem = cases[c].c16 ? KIR_F16 : KIR_F32,
                          .device_class = KT_DEVICE_GPU, .a_norm = cases[c].norm > 0, .a_norm_eps = 1e-5,
                          .a_norm_weight = cases[c].norm == 2, .a_norm_bias = cases[c].norm == 2,
                          .mma_config = cfg};
      d.strided = 1;
      d.a_stride_m = cases[c].a_t ? 1 : d.k;
      d.a_stride_k = cases[c].a_t ? d.m : 1;
      d.b_stride_k = d.trans_b ? 1 : d.n;
      d.b_stride_n = d.trans_b ? d.k : 1;
      d.c_stride_m = d.n;
      d.c_stride_n = 1;
      if (cases[c].batch) {
        d.n_batch = 1;
        d.batch[0] = cases[c].batch;
        d.a_batch_stride[0] = d.m * d.k;
        d.b_batch_stride[0] = 0;
        d.c_batch_stride[0] = d.m * d.n;
      }
      char name[32];
      snprintf(name, sizeof name, "mma%zu_%d", c, cfg);
      kir_kernel *k = NULL;
      int64_t g[3];
      int tiles[2];
      ck_assert_msg(kt_matmul_mma(m, name, &d, &k, g, tiles) == 1, "case %zu: %s", c, kir_module_error(m));
      ck_assert_uint_eq(k->features, KIR_FEATURE_MMA_F16);
      ck_assert_int_eq(g[0], (d.n + tiles[1] - 1) / tiles[1]);
      ck_assert_int_eq(g[1], (d.m + tiles[0] - 1) / tiles[0]);
      ck_assert_int_eq(g[2], cases[c].batch ? cases[c].batch : 1);
      compile_ok(sc, k, name);
      char *glsl = print_glsl(k);
      if (getenv("MLG_DUMP_GLSL")) fputs(glsl, stderr);
      ck_assert_ptr_nonnull(strstr(glsl, "#extension GL_NV_cooperative_matrix : require\n"));
      ck_assert_ptr_nonnull(strstr(glsl, "coopMatMulAddNV("));
      /* Tiles copied 8 halves at a time are uvec4 arrays, counted in uvec4s by the loads (of B,
       * at known multiples of 8, straight from its uvec4 view); a tile
       * stored element by element (an f32 or normalized A) stays float16_t. */
      if (c == 0) {
        ck_assert_msg(strstr(glsl, "shared uvec4 a_tile[") && strstr(glsl, "shared uvec4 b_tile[") &&
                          strstr(glsl, "coopMatLoadNV(fb, b_tile, uint(") && strstr(glsl, ") >> 3u, ") &&
                          strstr(glsl, "b_q[(pc.off[1] + "),
                      "configuration %d: HGEMM's tiles are not uvec4 arrays (MLG_DUMP_GLSL=1 prints them)", cfg);
      }
      if (cases[c].a32 || cases[c].norm) ck_assert_ptr_nonnull(strstr(glsl, "shared float16_t a_tile["));
      free(glsl);
    }
  }
  /* conv2d as GEMM, B gathered from x (its own staging path): ResNet-18's stem (7×7 stride 2,
   * K = 147, an f32 x), a 3×3 with padding (f16 x, the 128×128 tile) and the 1×1 stride-2
   * downsample (no bounds guard). */
  struct { int64_t n, c_in, s, c_out, k, stride, pad; int x32; } convs[] = {
    {16, 3, 224, 64, 7, 2, 3, 1}, {16, 256, 14, 256, 3, 1, 1, 0}, {16, 128, 28, 256, 1, 2, 0, 0},
  };
  for (size_t c = 0; c < sizeof convs / sizeof convs[0]; c++) {
    kt_conv2d_desc cd = {.n = convs[c].n, .c_in = convs[c].c_in, .h = convs[c].s, .w = convs[c].s,
                         .c_out = convs[c].c_out, .kh = convs[c].k, .kw = convs[c].k,
                         .stride_h = convs[c].stride, .stride_w = convs[c].stride, .pad_top = convs[c].pad,
                         .pad_left = convs[c].pad, .pad_bottom = convs[c].pad, .pad_right = convs[c].pad,
                         .has_bias = 1};
    kt_matmul_desc d;
    ck_assert_int_eq(kt_conv2d_gemm_desc(&cd, &d), 0);
    d.a_elem = KIR_F16;
    d.b_elem = convs[c].x32 ? KIR_F32 : KIR_F16;
    d.device_class = KT_DEVICE_GPU;
    char name[32];
    snprintf(name, sizeof name, "conv_mma%zu", c);
    kir_kernel *k = NULL;
    int64_t g[3];
    ck_assert_msg(kt_matmul_mma(m, name, &d, &k, g, NULL) == 1, "conv %zu: %s", c, kir_module_error(m));
    compile_ok(sc, k, name);
  }
  /* Not for an f32 B (with f32 or f16 A), nor below 32 rows. */
  kt_matmul_desc d32 = {.m = 256, .n = 256, .k = 256, .device_class = KT_DEVICE_GPU};
  kir_kernel *none = NULL;
  int64_t g[3];
  ck_assert_int_eq(kt_matmul_mma(m, "f32", &d32, &none, g, NULL), 0);
  d32.a_elem = KIR_F16;
  ck_assert_int_eq(kt_matmul_mma(m, "f32b", &d32, &none, g, NULL), 0);
  /* A gathered B (a convolution) may be f32, its weight A may not. */
  kt_matmul_desc dconv = d32;
  dconv.b_im2col = (kt_matmul_im2col){1, 256, 16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 16, 16, 0};
  dconv.a_elem = KIR_F32;
  dconv.n = 256;
  ck_assert_int_eq(kt_matmul_mma(m, "conv32", &dconv, &none, g, NULL), 0);
  d32.a_elem = d32.b_elem = KIR_F16;
  /* A device with 8 KiB of local memory: not the built-in configuration (the tiled kernel
   * alone), and a forced one is an error that says how much it needs. */
  d32.local_mem_bytes = 8 * 1024;
  ck_assert_int_eq(kt_matmul_mma(m, "small", &d32, &none, g, NULL), 0);
  kir_module *m2 = kir_module_new();
  d32.mma_config = 1;
  ck_assert_int_eq(kt_matmul_mma(m2, "forced", &d32, &none, g, NULL), -1);
  ck_assert_ptr_nonnull(strstr(kir_module_error(m2), "needs 24576 bytes of local memory, more than the device's 8192"));
  kir_module_free(m2);
  d32.mma_config = 0;
  d32.local_mem_bytes = 0;
  d32.m = 8;
  ck_assert_int_eq(kt_matmul_mma(m, "skinny", &d32, &none, g, NULL), 0);
  char *cl = print_opencl(m);
  if (getenv("MLG_DUMP_OPENCL")) fputs(cl, stderr);
  ck_assert_ptr_nonnull(strstr(cl, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"));
  const char *first = strstr(cl, "#define MLG_MMA_HELPERS");
  ck_assert_ptr_nonnull(first);
  ck_assert_ptr_nonnull(strstr(first + 1, "#define MLG_MMA_HELPERS")); /* guarded, per kernel */
  ck_assert_ptr_nonnull(strstr(cl, "__local ushort a_tile["));
  free(cl);
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* The tensor-core attention (templates/attention_mma.c) keeps its softmax on the accumulators'
 * elements, whose layout cooperative matrices keep opaque: the GLSL printer refuses it, saying
 * why (lowering builds it for OpenCL only), for GPT-2's heads split from one projection (f32
 * mask, causal), a bool mask with d != dv and ragged lengths, and head dim 128; the scalar
 * fallback kt_attention attaches compiles. */
START_TEST(test_attention_mma_template) {
  kir_module *m = kir_module_new();
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  struct { int64_t tq, tk, d, dv; int mask, causal, split; } cases[] = {
    {1024, 1024, 64, 64, KT_ATTN_MASK_ADD, 1, 1},
    {100, 70, 32, 64, KT_ATTN_MASK_BOOL, 0, 0},
    {4096, 4096, 128, 64, KT_ATTN_MASK_NONE, 1, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    kt_attention_desc d = {.tq = cases[c].tq, .tk = cases[c].tk, .d = cases[c].d, .dv = cases[c].dv,
                           .n_batch = 1, .batch = {12}, .mask_kind = cases[c].mask, .causal = cases[c].causal,
                           .scale = 0.125, .device_class = KT_DEVICE_GPU, .q_elem = KIR_F16,
                           .k_elem = KIR_F16, .v_elem = KIR_F16, .mma = 1};
    int64_t h = cases[c].split ? 12 : 1;
    d.q = (kt_attn_view){.batch_stride = {cases[c].split ? d.d : d.tq * d.d}, .stride_r = h * d.d, .stride_c = 1};
    d.k = (kt_attn_view){.batch_stride = {cases[c].split ? d.d : d.tk * d.d}, .stride_r = h * d.d, .stride_c = 1};
    d.v = (kt_attn_view){.batch_stride = {cases[c].split ? d.dv : d.tk * d.dv}, .stride_r = h * d.dv, .stride_c = 1};
    d.out = (kt_attn_view){.batch_stride = {d.tq * d.dv}, .stride_r = d.dv, .stride_c = 1};
    d.mask = (kt_attn_view){.stride_r = d.tk, .stride_c = 1};
    char name[32];
    snprintf(name, sizeof name, "attn%zu", c);
    kir_kernel *k = NULL;
    int64_t g[3];
    ck_assert_msg(kt_attention(m, name, &d, &k, g) == 0, "case %zu: %s", c, kir_module_error(m));
    ck_assert_uint_eq(k->features, KIR_FEATURE_MMA_F16);
    ck_assert_ptr_nonnull(k->fallback);
    ck_assert_int_eq(g[0], (d.tq + KT_ATTN_MMA_BQ - 1) / KT_ATTN_MMA_BQ);
    ck_assert_int_eq(g[1], 12);
    char err[256] = "";
    ck_assert_int_ne(kir_glsl_check(k, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "OpenCL only") != NULL, "case %zu: %s", c, err);
    compile_ok(sc, k->fallback, name);
  }
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* The packed dot product through GL_EXT_spirv_intrinsics: OpSDot / OpSUDot / OpUDot, declared
 * only for the forms used; the us form swaps its operands into SUDot; packed loads read one
 * word. Compiles to SPIR-V. */
START_TEST(test_dot4x8) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_dot(m, &k), 0);
  char *s = print_glsl(k);
  if (getenv("MLG_DUMP_GLSL")) fputs(s, stderr);
  ck_assert_ptr_nonnull(strstr(s, "#extension GL_EXT_spirv_intrinsics : require\n"));
  ck_assert_ptr_nonnull(strstr(s, "spirv_instruction(extensions = [\"SPV_KHR_integer_dot_product\"], capabilities = "
                                  "[6019, 6018], id = 4450) int mlg_sdot(uint mlg_a, uint mlg_b, spirv_literal uint mlg_fmt);"));
  ck_assert_ptr_nonnull(strstr(s, "id = 4452) int mlg_sudot("));
  ck_assert_ptr_nonnull(strstr(s, "id = 4451) uint mlg_udot("));
  ck_assert_ptr_nonnull(strstr(s, "  uint pa = a[(pc.off[0] + i * 4) >> 2u];\n"));
  ck_assert_ptr_nonnull(strstr(s, "  y[pc.off[2] + i] = mlg_sdot(pa, pa, 0) + mlg_sudot(pa, pu, 0) + "
                                  "(mlg_sudot(pa, pu, 0) + int(mlg_udot(pu, pu, 0)));\n"));
  free(s);
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  compile_ok(sc, k, "packed dot product");
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

/* Vector loads and stores of halves (an f16 bundle's GEMM tiles): helpers built on the packed
 * words, whole words unpacked and written at even indices; the shader compiles. */
START_TEST(test_half_vectors) {
  kir_module *m = kir_module_new();
  kir_kernel *k32, *k;
  ck_assert_int_eq(build_half_vectors(m, &k32, &k), 0);
  char *s = print_glsl(k);
  ck_assert_msg(strstr(s, "vec4 mlg_load4_x(uint i) {\n"
                          "  if ((i & 1u) == 0u) return vec4(unpackHalf2x16(x[i >> 1u]), unpackHalf2x16(x[(i >> 1u) + 1u]));\n"
                          "  return vec4(mlg_ld_x(i), mlg_ld_x(i + 1u), mlg_ld_x(i + 2u), mlg_ld_x(i + 3u));\n}\n") &&
                    strstr(s, "vec2 mlg_load2_x(uint i) {\n  if ((i & 1u) == 0u) return unpackHalf2x16(x[i >> 1u]);\n") &&
                    strstr(s, "void mlg_store4_y(uint i, vec4 v) {\n  if ((i & 1u) == 0u) {\n"
                              "    y[(i >> 1u) + 0u] = mlg_f16_bits(v.x) | (mlg_f16_bits(v.y) << 16u);\n"
                              "    y[(i >> 1u) + 1u] = mlg_f16_bits(v.z) | (mlg_f16_bits(v.w) << 16u);\n"
                              "    return;\n  }\n  mlg_st_y(i + 0u, v.x);\n") &&
                    strstr(s, "  mlg_store4_y(pc.off[1] + i * 4, v * v);\n"),
                "got:\n%s", s);
  free(s);
  mlg_spirv_compiler *sc = mlg_spirv_compiler_new();
  ck_assert_ptr_nonnull(sc);
  compile_ok(sc, k, "half vectors");
  mlg_spirv_compiler_free(sc);
  kir_module_free(m);
}
END_TEST

static Suite *glsl_suite(void) {
  Suite *s = suite_create("glsl");
  TCase *tc = tcase_create("printer");
  tcase_add_test(tc, test_text_relu);
  tcase_add_test(tc, test_text_mixed);
  tcase_add_test(tc, test_helpers_only_where_used);
  tcase_add_test(tc, test_vectors);
  tcase_add_test(tc, test_vectors_known_multiples);
  tcase_add_test(tc, test_compile_alignment);
  tcase_add_test(tc, test_storage_types);
  tcase_add_test(tc, test_dot4x8);
  tcase_add_test(tc, test_half_vectors);
  tcase_add_test(tc, test_vector_locals);
  tcase_add_test(tc, test_refuses_too_many_buffers_and_reserved_names);
  suite_add_tcase(s, tc);
  TCase *sp = tcase_create("spirv");
  tcase_set_timeout(sp, 300);
  tcase_add_test(sp, test_broken_glsl_names_kernel);
  tcase_add_test(sp, test_templates_compile);
  tcase_add_test(sp, test_subgroup_nodes);
  tcase_add_test(sp, test_templates_subgroups);
  tcase_add_test(sp, test_compile_option_subgroups);
  tcase_add_test(sp, test_mma_templates);
  tcase_add_test(sp, test_attention_mma_template);
  suite_add_tcase(s, sp);
  TCase *em = tcase_create("emit_code");
  tcase_set_timeout(em, 300);
  tcase_add_test(em, test_emit_code_opencl);
  tcase_add_test(em, test_emit_code_vulkan);
  tcase_add_test(em, test_emit_code_vulkan_reports_kernel);
  tcase_add_test(em, test_models_compile_to_spirv);
  suite_add_tcase(s, em);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(glsl_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_kir.c — the kernel IR builder, integer constant folding, allocation-failure behaviour
 * and the OpenCL C printer (exact expected source for small kernels). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kir.h"
#include "kir_eval.h"

static char *print_kernel(const kir_kernel *k) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(kir_print_opencl_kernel(k, f), 0);
  fclose(f);
  return s;
}

#include "kir_samples.c"

START_TEST(test_print_relu) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_relu(m, &k), 0);
  ck_assert_int_eq(kir_module_count(m), 1);
  ck_assert_ptr_eq(kir_module_kernel(m, 0), k);
  ck_assert_ptr_null(kir_module_kernel(m, 1));
  char *s = print_kernel(k);
  ck_assert_str_eq(s,
                   "__kernel __attribute__((reqd_work_group_size(256, 1, 1)))\n"
                   "void k0_relu(__global const float *restrict x, const uint x_off,\n"
                   "    __global float *restrict y, const uint y_off) {\n"
                   "  int i = (int)get_global_id(0);\n"
                   "  if (i >= 1000) {\n"
                   "    return;\n"
                   "  }\n"
                   "  float v = x[x_off + i];\n"
                   "  y[y_off + i] = v < 0.0f ? 0.0f : v;\n"
                   "}\n");
  free(s);
  kir_module_free(m);
}
END_TEST

/* A reduction-shaped kernel: local array, loop, barrier, else-if chain, unroll hint. */
/* Storage types: uchar/char/half buffers, bytes widened to int, halves through
 * vload_half/vstore_half. */
START_TEST(test_print_storage_types) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_storage(m, &k), 0);
  ck_assert_int_eq(k->buffers[0].elem.scalar, KIR_F16);
  char *s = print_kernel(k);
  ck_assert_str_eq(s,
                   "__kernel __attribute__((reqd_work_group_size(64, 1, 1)))\n"
                   "void k_storage(__global const half *restrict h, const uint h_off,\n"
                   "    __global const uchar *restrict c, const uint c_off,\n"
                   "    __global const char *restrict s8, const uint s8_off,\n"
                   "    __global const uchar *restrict u8, const uint u8_off,\n"
                   "    __global half *restrict yh, const uint yh_off,\n"
                   "    __global uchar *restrict yb, const uint yb_off,\n"
                   "    __global char *restrict yi, const uint yi_off) {\n"
                   "  int i = (int)get_global_id(0);\n"
                   "  vstore_half(vload_half(h_off + i, h) * 2.0f, yh_off + i, yh);\n"
                   "  yb[yb_off + i] = (uchar)(!(c[c_off + i] != 0));\n"
                   "  yi[yi_off + i] = (char)(convert_int(s8[s8_off + i]) + convert_int(u8[u8_off + i]));\n"
                   "}\n");
  free(s);
  kir_module_free(m);
}
END_TEST

/* The packed dot product and packed loads: their OpenCL spelling, the feature bit, the host
 * evaluation, and the rules of a fallback. */
static int dot_load(void *user, int buffer, int64_t index, kir_value *out) {
  static const int8_t a[8] = {-128, 127, -1, 5, 0, 0, 0, 0};
  static const uint8_t u[8] = {255, 1, 200, 7, 0, 0, 0, 0};
  (void)user;
  if (index < 0 || index >= 8) return -1;
  *out = kir_value_i32(buffer == 0 ? a[index] : u[index]);
  return 0;
}

START_TEST(test_dot4x8) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  ck_assert_int_eq(build_dot(m, &k), 0);
  ck_assert_uint_eq(k->features & KIR_FEATURE_OPTIONAL, KIR_FEATURE_INT_DOT);
  char *s = print_kernel(k);
  ck_assert_str_eq(s,
                   "#ifdef cl_khr_integer_dot_product\n"
                   "#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable\n"
                   "#define mlg_dot_ss(a, b) ((int)dot_4x8packed_ss_int(a, b))\n"
                   "#define mlg_dot_su(a, b) ((int)dot_4x8packed_su_int(a, b))\n"
                   "#define mlg_dot_us(a, b) ((int)dot_4x8packed_us_int(a, b))\n"
                   "#define mlg_dot_uu(a, b) ((int)dot_4x8packed_uu_uint(a, b))\n"
                   "#else\n"
                   "static inline int mlg_dot_ss(uint a, uint b) {\n  int d;\n"
                   "  asm(\"dp4a.s32.s32 %0, %1, %2, 0;\" : \"=r\"(d) : \"r\"(a), \"r\"(b));\n"
                   "  return (int)d;\n}\n"
                   "static inline int mlg_dot_su(uint a, uint b) {\n  int d;\n"
                   "  asm(\"dp4a.s32.u32 %0, %1, %2, 0;\" : \"=r\"(d) : \"r\"(a), \"r\"(b));\n"
                   "  return (int)d;\n}\n"
                   "static inline int mlg_dot_us(uint a, uint b) {\n  int d;\n"
                   "  asm(\"dp4a.u32.s32 %0, %1, %2, 0;\" : \"=r\"(d) : \"r\"(a), \"r\"(b));\n"
                   "  return (int)d;\n}\n"
                   "static inline int mlg_dot_uu(uint a, uint b) {\n  uint d;\n"
                   "  asm(\"dp4a.u32.u32 %0, %1, %2, 0;\" : \"=r\"(d) : \"r\"(a), \"r\"(b));\n"
                   "  return (int)d;\n}\n"
                   "#endif\n"
                   "__kernel __attribute__((reqd_work_group_size(64, 1, 1)))\n"
                   "void k_dot(__global const char *restrict a, const uint a_off,\n"
                   "    __global const uchar *restrict u, const uint u_off,\n"
                   "    __global int *restrict y, const uint y_off) {\n"
                   "  int i = (int)get_global_id(0);\n"
                   "  uint pa = as_uint(vload4(0, a + a_off + i * 4));\n"
                   "  uint pu = as_uint(vload4(0, u + u_off + i * 4));\n"
                   "  y[y_off + i] = mlg_dot_ss(pa, pa) + mlg_dot_us(pu, pa) + "
                   "(mlg_dot_su(pa, pu) + mlg_dot_uu(pu, pu));\n"
                   "}\n");
  free(s);
  /* Host evaluation of the stored value's four terms, against the sums written out. */
  const kir_stmt *st = k->body[3];
  ck_assert_int_eq(st->kind, KIR_S_STORE);
  kir_value vars[3] = {kir_value_i32(0)};
  kir_eval_env env = {.n_vars = k->n_vars, .vars = vars, .load = dot_load};
  ck_assert_int_eq(kir_eval(k->body[1]->value, &env, &vars[1]), 0);
  ck_assert_int_eq(kir_eval(k->body[2]->value, &env, &vars[2]), 0);
  ck_assert_uint_eq(vars[1].u, 0x05FF7F80u); /* bytes -128, 127, -1, 5: low byte first */
  ck_assert_uint_eq(vars[2].u, 0x07C801FFu);
  kir_value v;
  ck_assert_int_eq(kir_eval(st->value, &env, &v), 0);
  int ss = 128 * 128 + 127 * 127 + 1 + 25;
  int us = 255 * -128 + 1 * 127 + 200 * -1 + 7 * 5;
  int uu = 255 * 255 + 1 + 200 * 200 + 49;
  ck_assert_int_eq(v.i, ss + us + us + uu);
  /* A fallback takes the same buffers and needs fewer optional features. */
  kir_kernel *plain, *twin;
  ck_assert_int_eq(build_storage(m, &plain), 0);
  ck_assert_int_eq(kir_kernel_set_fallback(k, plain), -1); /* other buffers */
  ck_assert_int_eq(build_dot(m, &twin), 0);
  ck_assert_int_eq(kir_kernel_set_fallback(k, twin), -1);  /* the same features */
  ck_assert_int_eq(kir_kernel_set_fallback(k, k), -1);
  ck_assert_ptr_null(k->fallback);
  kir_module_free(m);
}
END_TEST

/* Storage types hold values, never compute: no variable, local or vector of them. */
START_TEST(test_storage_types_misuse) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 1, 1, 1);
  ck_assert_int_lt(kir_var_new(b, "v", kir_t(KIR_F16)), 0);
  ck_assert(kir_builder_failed(b));
  ck_assert_int_ne(kir_kernel_end(b, NULL), 0);
  b = kir_kernel_begin(m, "k", 1, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_BOOL, KIR_READ); /* halves and bytes have vectors */
  ck_assert_ptr_null(kir_load_vec(b, x, kir_i32(b, 0), 4));
  ck_assert_int_ne(kir_kernel_end(b, NULL), 0);
  /* 8-bit elements load as I32 vectors (OpenCL), and only I32 vectors store into them. */
  b = kir_kernel_begin(m, "k", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_U8, KIR_READ);
  int y8 = kir_buffer_param(b, "y", KIR_I8, KIR_WRITE);
  kir_expr *w = kir_load_vec(b, x, kir_i32(b, 0), 16);
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(w->type.scalar, KIR_I32);
  kir_store(b, y8, kir_i32(b, 0), w);
  ck_assert(!kir_builder_failed(b));
  kir_store(b, y8, kir_i32(b, 0), kir_cast(b, kir_tv(KIR_F32, 16), w));
  ck_assert(kir_builder_failed(b));
  ck_assert_int_ne(kir_kernel_end(b, NULL), 0);
  b = kir_kernel_begin(m, "k", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_I8, KIR_READ);
  kir_expr *v = kir_load(b, x, kir_i32(b, 0));
  ck_assert_int_eq(v->type.scalar, KIR_I32);
  ck_assert_int_eq(kir_cast(b, kir_t(KIR_F16), v)->type.scalar, KIR_F32);
  ck_assert_int_eq(kir_compute_scalar(KIR_U8), KIR_I32);
  ck_assert_int_eq(kir_storage_bytes(KIR_F16), 2);
  ck_assert_int_eq(kir_storage_bytes(KIR_BOOL), 1);
  ck_assert_int_eq(kir_local_array(b, "l", KIR_I8, 4), -1);
  ck_assert_int_ne(kir_kernel_end(b, NULL), 0);
  kir_module_free(m);
}
END_TEST

/* A template's F32 kernel stored as halves: a new kernel of the module with the same code,
 * whose vector loads and stores become vload_halfN / vstore_halfN; the template's kernel is
 * unchanged, a copy with nothing to change is the kernel itself, and a change of compute type
 * (F32 to I8) is refused. */
START_TEST(test_with_storage_halves) {
  kir_module *m = kir_module_new();
  kir_kernel *k32, *k16;
  ck_assert_int_eq(build_half_vectors(m, &k32, &k16), 0);
  ck_assert_ptr_ne(k16, k32);
  ck_assert_int_eq(kir_module_count(m), 2);
  ck_assert_ptr_eq(k16->body, k32->body);
  ck_assert_int_eq(k32->buffers[0].elem.scalar, KIR_F32);
  ck_assert_int_eq(k16->buffers[2].elem.scalar, KIR_F16);
  ck_assert(!kir_kernel_equal(k16, k32));
  char *s = print_kernel(k16);
  ck_assert_msg(strstr(s, "__global const half *restrict x, const uint x_off,\n") &&
                    strstr(s, "  float4 v = vload_half4(0, x + x_off + i * 4);\n"
                              "  vstore_half4(v * v, 0, y + y_off + i * 4);\n"
                              "  vstore_half2(vload_half2(0, x + x_off + i * 2) + (float2)(1.0f), 0, y2 + y2_off + i * 2);\n"),
                "got:\n%s", s);
  free(s);
  kir_kernel *same = NULL;
  const kir_scalar f32s[3] = {KIR_F32, KIR_F32, KIR_F32};
  ck_assert_int_eq(kir_kernel_with_storage(m, k32, f32s, &same), 0);
  ck_assert_ptr_eq(same, k32);
  const kir_scalar bytes[3] = {KIR_I8, KIR_F32, KIR_F32};
  ck_assert_int_ne(kir_kernel_with_storage(m, k32, bytes, &same), 0);
  ck_assert_ptr_null(same);
  ck_assert_ptr_nonnull(strstr(kir_module_error(m), "compute type"));
  ck_assert_int_eq(kir_module_count(m), 2);
  kir_module_free(m);
}
END_TEST

START_TEST(test_print_loops_locals) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k1_sum", 64, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_READ_WRITE);
  int idx = kir_buffer_param(b, "idx", KIR_I32, KIR_READ);
  int tile = kir_local_array(b, "tile", KIR_F32, 64);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  int acc = kir_var_new(b, "acc", kir_t(KIR_F32));
  int k = kir_var_new(b, "k", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_decl(b, acc, kir_f32(b, 0));
  kir_for(b, k, kir_var(b, lid), kir_i32(b, 100), kir_i32(b, 64));
  kir_for_unroll(b, 4);
  kir_assign(b, acc, kir_bin(b, KIR_ADD, kir_var(b, acc),
                             kir_load(b, x, kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_i32(b, 100)),
                                                    kir_var(b, k)))));
  kir_end(b);
  kir_local_store(b, tile, kir_var(b, lid), kir_var(b, acc));
  kir_barrier(b);
  kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lid), kir_i32(b, 0)));
  kir_store(b, y, kir_group_id(b, 0), kir_local_load(b, tile, kir_i32(b, 0)));
  kir_else(b);
  kir_if(b, kir_bin(b, KIR_LT, kir_var(b, lid), kir_load(b, idx, kir_i32(b, 0))));
  kir_store(b, y, kir_i32(b, 0), kir_f32(b, -1.5));
  kir_else(b);
  kir_return(b);
  kir_end(b);
  kir_end(b);
  kir_kernel *kern;
  ck_assert_int_eq(kir_kernel_end(b, &kern), 0);
  char *s = print_kernel(kern);
  ck_assert_str_eq(s,
                   "__kernel __attribute__((reqd_work_group_size(64, 1, 1)))\n"
                   "void k1_sum(__global const float *restrict x, const uint x_off,\n"
                   "    __global float *restrict y, const uint y_off,\n"
                   "    __global const int *restrict idx, const uint idx_off) {\n"
                   "  __local float tile[64];\n"
                   "  int lid = (int)get_local_id(0);\n"
                   "  float acc = 0.0f;\n"
                   "  #pragma unroll 4\n"
                   "  for (int k = lid; k < 100; k += 64) {\n"
                   "    acc = acc + x[x_off + ((int)get_group_id(0) * 100 + k)];\n"
                   "  }\n"
                   "  tile[lid] = acc;\n"
                   "  barrier(CLK_LOCAL_MEM_FENCE);\n"
                   "  if (lid == 0) {\n"
                   "    y[y_off + (int)get_group_id(0)] = tile[0];\n"
                   "  } else if (lid < idx[idx_off]) {\n"
                   "    y[y_off] = -1.5f;\n"
                   "  } else {\n"
                   "    return;\n"
                   "  }\n"
                   "}\n");
  free(s);
  kir_module_free(m);
}
END_TEST

/* Parentheses follow C precedence: only where needed. */
START_TEST(test_print_precedence) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k2_prec", 1, 1, 1);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int a = kir_var_new(b, "a", kir_t(KIR_F32)), c = kir_var_new(b, "c", kir_t(KIR_F32));
  int n = kir_var_new(b, "n", kir_t(KIR_I32));
  kir_decl(b, a, kir_f32(b, 1));
  kir_decl(b, c, kir_f32(b, 2));
  kir_decl(b, n, kir_i32(b, 7));
  kir_expr *A = kir_var(b, a), *C = kir_var(b, c);
  /* (a + c) * a */
  kir_store(b, y, kir_i32(b, 0), kir_bin(b, KIR_MUL, kir_bin(b, KIR_ADD, A, C), A));
  /* a - (c - a) and (a - c) - a */
  kir_store(b, y, kir_i32(b, 1), kir_bin(b, KIR_SUB, A, kir_bin(b, KIR_SUB, C, A)));
  kir_store(b, y, kir_i32(b, 2), kir_bin(b, KIR_SUB, kir_bin(b, KIR_SUB, A, C), A));
  /* -(-a), -(a + c), exp(-a) */
  kir_store(b, y, kir_i32(b, 3), kir_un(b, KIR_NEG, kir_un(b, KIR_NEG, A)));
  kir_store(b, y, kir_i32(b, 4), kir_un(b, KIR_NEG, kir_bin(b, KIR_ADD, A, C)));
  kir_store(b, y, kir_i32(b, 5), kir_un(b, KIR_EXP, kir_un(b, KIR_NEG, A)));
  /* mixed int/float: n * a converts n; an int constant becomes a float constant */
  kir_store(b, y, kir_i32(b, 6), kir_bin(b, KIR_MUL, kir_var(b, n), A));
  kir_store(b, y, kir_i32(b, 7), kir_bin(b, KIR_ADD, A, kir_i32(b, 3)));
  /* min/max/pow spellings, nested select, integer index math */
  kir_store(b, y, kir_add(b, kir_mul(b, kir_add(b, kir_var(b, n), kir_i32(b, 1)), kir_i32(b, 2)),
                          kir_i32(b, 1)),
            kir_select(b, kir_bin(b, KIR_GT, A, C), kir_bin(b, KIR_MIN, A, C),
                       kir_select(b, kir_bin(b, KIR_LT, A, C), kir_bin(b, KIR_POW, A, C),
                                  kir_bin(b, KIR_MAX, A, C))));
  kir_store(b, y, kir_mod(b, kir_var(b, n), kir_i32(b, 3)),
            kir_un(b, KIR_RSQRT, kir_un(b, KIR_ERF, kir_un(b, KIR_TANH, A))));
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_kernel(k);
  const char *body =
      "  float a = 1.0f;\n"
      "  float c = 2.0f;\n"
      "  int n = 7;\n"
      "  y[y_off] = (a + c) * a;\n"
      "  y[y_off + 1] = a - (c - a);\n"
      "  y[y_off + 2] = a - c - a;\n"
      "  y[y_off + 3] = -(-a);\n"
      "  y[y_off + 4] = -(a + c);\n"
      "  y[y_off + 5] = exp(-a);\n"
      "  y[y_off + 6] = (float)n * a;\n"
      "  y[y_off + 7] = a + 3.0f;\n"
      "  y[y_off + ((n + 1) * 2 + 1)] = a > c ? fmin(a, c) : a < c ? pow(a, c) : fmax(a, c);\n"
      "  y[y_off + n % 3] = rsqrt(erf(tanh(a)));\n"
      "}\n";
  ck_assert_msg(strstr(s, body) != NULL, "got:\n%s", s);
  free(s);
  kir_module_free(m);
}
END_TEST

static char *print_const(double v) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 1, 1, 1);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  kir_store(b, y, kir_i32(b, 0), kir_f32(b, v));
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_kernel(k);
  char *line = strstr(s, "y[y_off] = ");
  ck_assert_ptr_nonnull(line);
  line += strlen("y[y_off] = ");
  char *end = strchr(line, ';');
  char *out = strndup(line, (size_t)(end - line));
  free(s);
  kir_module_free(m);
  return out;
}

START_TEST(test_float_constants) {
  static const struct { double v; const char *text; } cases[] = {
    {1.0, "1.0f"}, {0.5, "0.5f"}, {0.1, "0.1f"}, {-2.25, "-2.25f"}, {-0.0, "-0.0f"},
    {1e-30, "1e-30f"}, {3.4028234663852886e38, "3.4028235e+38f"},
    {0.70710678118654752, "0.70710677f"}, {1e9, "1e+09f"}, {123456789.0, "1.2345679e+08f"},
    {INFINITY, "INFINITY"}, {-INFINITY, "-INFINITY"}, {NAN, "NAN"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *s = print_const(cases[i].v);
    ck_assert_msg(strcmp(s, cases[i].text) == 0, "%.17g printed as %s, expected %s", cases[i].v,
                  s, cases[i].text);
    /* Every finite literal reads back as the same float. */
    if (isfinite(cases[i].v)) ck_assert(strtof(s, NULL) == (float)cases[i].v);
    free(s);
  }
}
END_TEST

START_TEST(test_constant_folding) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 1, 1, 1);
  int v = kir_var_new(b, "v", kir_t(KIR_I32));
  kir_expr *x = kir_var(b, v);
  kir_expr *e;
  e = kir_add(b, kir_i32(b, 2), kir_i32(b, 3));
  ck_assert(e->kind == KIR_E_CONST_I && e->i == 5);
  ck_assert_ptr_eq(kir_add(b, x, kir_i32(b, 0)), x);
  ck_assert_ptr_eq(kir_add(b, kir_i32(b, 0), x), x);
  ck_assert_ptr_eq(kir_mul(b, x, kir_i32(b, 1)), x);
  ck_assert_ptr_eq(kir_mul(b, kir_i32(b, 1), x), x);
  e = kir_mul(b, x, kir_i32(b, 0));
  ck_assert(e->kind == KIR_E_CONST_I && e->i == 0);
  e = kir_mul(b, kir_i32(b, 6), kir_i32(b, 7));
  ck_assert(e->kind == KIR_E_CONST_I && e->i == 42);
  /* (x + 2) + 3 → x + 5, constants on the right */
  e = kir_add(b, kir_add(b, x, kir_i32(b, 2)), kir_i32(b, 3));
  ck_assert(e->kind == KIR_E_BINARY && e->op == KIR_ADD && e->a == x && e->b->i == 5);
  e = kir_add(b, kir_i32(b, 4), x);
  ck_assert(e->kind == KIR_E_BINARY && e->a == x && e->b->i == 4);
  /* (x * 4) * 8 → x * 32 */
  e = kir_mul(b, kir_mul(b, x, kir_i32(b, 4)), kir_i32(b, 8));
  ck_assert(e->kind == KIR_E_BINARY && e->op == KIR_MUL && e->a == x && e->b->i == 32);
  /* division and modulo: C truncation */
  ck_assert_int_eq(kir_div(b, kir_i32(b, 7), kir_i32(b, 2))->i, 3);
  ck_assert_int_eq(kir_div(b, kir_i32(b, -7), kir_i32(b, 2))->i, -3);
  ck_assert_int_eq(kir_mod(b, kir_i32(b, -7), kir_i32(b, 3))->i, -1);
  ck_assert_ptr_eq(kir_div(b, x, kir_i32(b, 1)), x);
  e = kir_mod(b, x, kir_i32(b, 1));
  ck_assert(e->kind == KIR_E_CONST_I && e->i == 0);
  /* never folded: x / 0, float operands, overflowing results */
  e = kir_div(b, kir_i32(b, 1), kir_i32(b, 0));
  ck_assert_int_eq(e->kind, KIR_E_BINARY);
  e = kir_add(b, kir_f32(b, 1), kir_f32(b, 2));
  ck_assert_int_eq(e->kind, KIR_E_BINARY);
  e = kir_mul(b, kir_i32(b, 1 << 20), kir_i32(b, 1 << 20));
  ck_assert_int_eq(e->kind, KIR_E_BINARY);
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  kir_module_free(m);
}
END_TEST

START_TEST(test_names_unique_and_safe) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 1, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int out = kir_buffer_param(b, "out", KIR_F32, KIR_WRITE);   /* GLSL keyword */
  int v1 = kir_var_new(b, "x", kir_t(KIR_F32));               /* clashes with buffer */
  int v2 = kir_var_new(b, "x_off", kir_t(KIR_F32));           /* clashes with its offset */
  int v3 = kir_var_new(b, "a.b", kir_t(KIR_F32));             /* not an identifier */
  int v4 = kir_var_new(b, "c0", kir_t(KIR_F32));
  int v5 = kir_var_new(b, "c0", kir_t(KIR_F32));
  kir_decl(b, v1, kir_load(b, x, kir_i32(b, 0)));
  kir_decl(b, v2, kir_var(b, v1));
  kir_decl(b, v3, kir_var(b, v2));
  kir_decl(b, v4, kir_var(b, v3));
  kir_decl(b, v5, kir_var(b, v4));
  kir_store(b, out, kir_i32(b, 0), kir_var(b, v5));
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  ck_assert_str_eq(k->buffers[out].name, "out1");
  ck_assert_str_eq(k->vars[v1].name, "x1");
  ck_assert_str_eq(k->vars[v2].name, "x_off1");
  ck_assert_str_eq(k->vars[v3].name, "a_b");
  ck_assert_str_eq(k->vars[v4].name, "c0");
  ck_assert_str_eq(k->vars[v5].name, "c0_1");
  kir_module_free(m);
}
END_TEST

START_TEST(test_vector_load_store) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 1, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int v = kir_var_new(b, "v", kir_tv(KIR_F32, 4));
  kir_decl(b, v, kir_load_vec(b, x, kir_i32(b, 8), 4));
  kir_store(b, y, kir_i32(b, 4), kir_bin(b, KIR_MUL, kir_var(b, v), kir_var(b, v)));
  /* A cast keeps the width (convert_int4) or splats a scalar. */
  int w = kir_var_new(b, "w", kir_tv(KIR_I32, 4));
  kir_decl(b, w, kir_cast(b, kir_tv(KIR_I32, 4), kir_var(b, v)));
  kir_store(b, y, kir_i32(b, 0), kir_cast(b, kir_tv(KIR_F32, 4), kir_var(b, w)));
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_kernel(k);
  ck_assert_msg(strstr(s, "  float4 v = vload4(0, x + x_off + 8);\n"
                          "  vstore4(v * v, 0, y + y_off + 4);\n"
                          "  int4 w = convert_int4(v);\n") != NULL, "got:\n%s", s);
  free(s);
  /* A vector cast to another width fails the builder. */
  b = kir_kernel_begin(m, "k2", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  ck_assert_ptr_null(kir_cast(b, kir_t(KIR_I32), kir_load_vec(b, x, kir_i32(b, 0), 4)));
  ck_assert(kir_builder_failed(b));
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  kir_module_free(m);
}
END_TEST

/* A local array of float4 elements and a vector built from scalars (the GEMM's tiles). */
START_TEST(test_vector_locals_and_constructor) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k", 4, 1, 1);
  int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int t = kir_local_array_t(b, "t", kir_tv(KIR_F32, 4), 8);
  ck_assert_int_eq(kir_local_array_t(b, "bad", kir_tv(KIR_F32, 3), 8), -1); /* width 3 */
  ck_assert(kir_builder_failed(b));
  kir_kernel_end(b, NULL);

  b = kir_kernel_begin(m, "k", 4, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  t = kir_local_array_t(b, "t", kir_tv(KIR_F32, 4), 8);
  kir_expr *parts[4];
  for (int i = 0; i < 4; i++) parts[i] = kir_load(b, x, kir_i32(b, i));
  kir_local_store(b, t, kir_local_id(b, 0), kir_vector(b, 4, parts));
  ck_assert_ptr_eq(kir_vector(b, 1, parts), parts[0]);
  kir_barrier(b);
  kir_expr *v = kir_local_load(b, t, kir_i32(b, 1));
  ck_assert_int_eq(v->type.width, 4);
  kir_store(b, y, kir_i32(b, 0), kir_component(b, kir_vector(b, 2, parts), 1));
  kir_store(b, y, kir_i32(b, 4), v);
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_kernel(k);
  ck_assert_msg(strstr(s, "  __local float4 t[8];\n") != NULL, "got:\n%s", s);
  ck_assert_msg(strstr(s, "  t[(int)get_local_id(0)] = (float4)(x[x_off], x[x_off + 1], "
                          "x[x_off + 2], x[x_off + 3]);\n") != NULL, "got:\n%s", s);
  ck_assert_msg(strstr(s, "  y[y_off] = ((float2)(x[x_off], x[x_off + 1])).s1;\n") != NULL,
                "got:\n%s", s);
  ck_assert_msg(strstr(s, "  vstore4(t[1], 0, y + y_off + 4);\n") != NULL, "got:\n%s", s);
  free(s);

  /* Swizzles: lanes of a vector, OpenCL .sXYZ spelling; bad ranges poison the builder. */
  b = kir_kernel_begin(m, "k3", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  kir_expr *v16 = kir_load_vec(b, x, kir_i32(b, 0), 16);
  kir_expr *hi = kir_swizzle(b, v16, 8, 8);
  ck_assert_int_eq(hi->type.width, 8);
  ck_assert_ptr_eq(kir_swizzle(b, hi, 0, 8), hi);
  kir_store(b, y, kir_i32(b, 0), kir_swizzle(b, hi, 4, 4));
  kir_store(b, y, kir_i32(b, 4), kir_swizzle(b, hi, 6, 1));
  /* strided: the odd lanes, every fifth from 2 */
  kir_store(b, y, kir_i32(b, 8), kir_swizzle_step(b, v16, 1, 2, 8));
  kir_store(b, y, kir_i32(b, 16), kir_swizzle_step(b, v16, 2, 5, 2));
  ck_assert_ptr_eq(kir_swizzle_step(b, v16, 0, 1, 16), v16);
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  s = print_kernel(k);
  ck_assert_msg(strstr(s, "vstore4(vload16(0, x + x_off).s89abcdef.s4567, 0, y + y_off);\n") != NULL,
                "got:\n%s", s);
  ck_assert_msg(strstr(s, "= vload16(0, x + x_off).s89abcdef.s6;\n") != NULL, "got:\n%s", s);
  ck_assert_msg(strstr(s, "vstore8(vload16(0, x + x_off).s13579bdf, 0, y + y_off + 8);\n") != NULL,
                "got:\n%s", s);
  ck_assert_msg(strstr(s, "vstore2(vload16(0, x + x_off).s27, 0, y + y_off + 16);\n") != NULL,
                "got:\n%s", s);
  free(s);
  b = kir_kernel_begin(m, "k4", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  ck_assert_ptr_null(kir_swizzle(b, kir_load_vec(b, x, kir_i32(b, 0), 4), 2, 4)); /* past the end */
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);
  b = kir_kernel_begin(m, "k5", 1, 1, 1);
  x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  ck_assert_ptr_null(kir_swizzle_step(b, kir_load_vec(b, x, kir_i32(b, 0), 8), 2, 2, 4)); /* lanes 2 .. 8 */
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);

  /* Parts of different types or of vector type poison the builder. */
  b = kir_kernel_begin(m, "k2", 1, 1, 1);
  kir_expr *mixed[2] = {kir_f32(b, 1.0), kir_i32(b, 1)};
  ck_assert_ptr_null(kir_vector(b, 2, mixed));
  ck_assert(kir_builder_failed(b));
  ck_assert_int_eq(kir_kernel_end(b, NULL), -1);
  kir_module_free(m);
}
END_TEST

/* Every allocation point fails in turn: nothing crashes, nothing leaks (ASan), and the builder
 * reports -1 until enough allocations succeed. */
START_TEST(test_allocation_failure) {
  int ok_at = -1;
  for (long n = 0; n < 400 && ok_at < 0; n++) {
    kir_module *m = kir_module_new();
    ck_assert_ptr_nonnull(m);
    kir_module_fail_after(m, n);
    kir_kernel *k = (kir_kernel *)1;
    int rc = build_relu(m, &k);
    if (rc == 0) {
      ok_at = (int)n;
      ck_assert_ptr_nonnull(k);
      ck_assert_int_eq(kir_module_count(m), 1);
    } else {
      ck_assert_int_eq(rc, -1);
      ck_assert_ptr_null(k == (kir_kernel *)1 ? NULL : k);
      ck_assert_int_eq(kir_module_count(m), 0);
    }
    kir_module_free(m);
  }
  ck_assert_int_gt(ok_at, 5);
}
END_TEST

START_TEST(test_misuse_reported) {
  kir_module *m = kir_module_new();
  kir_kernel *k;
  /* unclosed if */
  kir_builder *b = kir_kernel_begin(m, "a", 1, 1, 1);
  kir_if(b, kir_bin(b, KIR_LT, kir_i32(b, 0), kir_i32(b, 1)));
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  ck_assert_ptr_null(k);
  /* else without if, end without block */
  b = kir_kernel_begin(m, "b", 1, 1, 1);
  kir_else(b);
  ck_assert(kir_builder_failed(b));
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  b = kir_kernel_begin(m, "c", 1, 1, 1);
  kir_end(b);
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  /* a NULL operand and a bad buffer id poison the builder */
  b = kir_kernel_begin(m, "d", 1, 1, 1);
  ck_assert_ptr_null(kir_add(b, NULL, kir_i32(b, 1)));
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  b = kir_kernel_begin(m, "e", 1, 1, 1);
  ck_assert_ptr_null(kir_load(b, 3, kir_i32(b, 0)));
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
  ck_assert_int_eq(kir_module_count(m), 0);
  /* NULL builder is harmless */
  kir_decl(NULL, 0, NULL);
  kir_end(NULL);
  ck_assert_int_eq(kir_kernel_end(NULL, &k), -1);
  kir_module_free(m);
}
END_TEST

/* GLSL refuses kernel k as OpenCL only. */
static void assert_opencl_only(const kir_kernel *k) {
  char err[256] = "";
  ck_assert_int_ne(kir_glsl_check(k, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "OpenCL only") != NULL, "%s", err);
}

/* Misuse number `bad` failed builder b, and its kernel does not end. */
static void assert_misuse_reported(kir_builder *b, int bad) {
  kir_kernel *k = NULL;
  ck_assert_msg(kir_builder_failed(b), "misuse %d not reported", bad);
  ck_assert_int_eq(kir_kernel_end(b, &k), -1);
}

/* Accumulator elements in registers (OpenCL only): an element read and written, an
 * accumulator packed into an A fragment, a lane exchange; each sets the tensor-core feature,
 * prints as the lane's register, mlg_mma_pack and mlg_shfl_xor, and the GLSL printer refuses
 * the kernel. Out-of-range elements and masks, a B fragment packed into, and a vector value
 * poison the builder. */
START_TEST(test_accumulator_elements) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "acc_elems", 32, 1, 1);
  int out = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int acc = kir_frag_new(b, "sc", KIR_FRAG_ACC), fa = kir_frag_new(b, "pa", KIR_FRAG_A);
  int x = kir_var_new(b, "x", kir_t(KIR_F32));
  kir_frag_zero(b, acc);
  kir_decl(b, x, kir_frag_elem(b, acc, 3));
  kir_assign(b, x, kir_bin(b, KIR_MAX, kir_var(b, x), kir_lane_xor(b, kir_var(b, x), 2)));
  kir_frag_set(b, acc, 7, kir_un(b, KIR_EXP2, kir_var(b, x)));
  kir_frag_pack(b, fa, acc);
  kir_store(b, out, kir_local_id(b, 0), kir_frag_elem(b, acc, 7));
  kir_kernel *k = NULL;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  ck_assert_uint_eq(k->features, KIR_FEATURE_MMA_F16);
  char *s = print_kernel(k);
  ck_assert_ptr_nonnull(strstr(s, "  float x = sc[3];\n"));
  ck_assert_ptr_nonnull(strstr(s, "  x = fmax(x, mlg_shfl_xor(x, 2));\n"));
  ck_assert_ptr_nonnull(strstr(s, "  sc[7] = exp2(x);\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_mma_pack(pa, sc);\n"));
  ck_assert_ptr_nonnull(strstr(s, "cvt.rn.f16x2.f32"));
  ck_assert_ptr_nonnull(strstr(s, "shfl.sync.bfly.b32"));
  free(s);
  assert_opencl_only(k);

  for (int bad = 0; bad < 5; bad++) {
    b = kir_kernel_begin(m, "misuse", 32, 1, 1);
    acc = kir_frag_new(b, "sc", KIR_FRAG_ACC);
    int fb = kir_frag_new(b, "fb", KIR_FRAG_B);
    switch (bad) {
    case 0: kir_frag_elem(b, acc, 8); break;
    case 1: kir_frag_set(b, acc, -1, kir_f32(b, 0.0)); break;
    case 2: kir_frag_pack(b, fb, acc); break;
    case 3: kir_lane_xor(b, kir_f32(b, 1.0), 32); break;
    default: kir_frag_set(b, acc, 0, kir_cast(b, kir_tv(KIR_F32, 4), kir_f32(b, 0.0))); break;
    }
    assert_misuse_reported(b, bad);
  }
  kir_module_free(m);
}
END_TEST

/* Warpgroup products: their statements print as the marked helpers (sm_90a PTX in comments,
 * one helper per product shape and transposition), F16 locals they read are 1024-byte aligned,
 * GLSL refuses them, and misuse fails the builder. Also XOR, which their swizzles use. */
START_TEST(test_warpgroup_products) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "wg", 128, 1, 1);
  int out = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int ta = kir_local_array(b, "ta", KIR_F16, 1024), tb = kir_local_array(b, "tb", KIR_F16, 2048);
  int acc = kir_frag_new(b, "acc", KIR_FRAG_ACC);
  kir_frag_new(b, "acc", KIR_FRAG_ACC);
  kir_frag_zero(b, acc);
  kir_frag_zero(b, acc + 1);
  kir_async_proxy_fence(b);
  kir_barrier(b);
  kir_wg_fence(b, acc, 2);
  kir_wg_operand a = {ta, kir_i32(b, 16), 64, 16, 512, 0};
  kir_wg_operand bo = {tb, kir_bin(b, KIR_XOR, kir_local_id(b, 0), kir_i32(b, 3)), 128, 4096, 1024, 1};
  kir_wg_mma(b, acc, 2, &a, &bo);
  kir_wg_commit(b);
  kir_wg_wait(b, 1, acc, 0);
  kir_wg_wait(b, 0, acc, 2);
  kir_store(b, out, kir_local_id(b, 0), kir_frag_elem(b, acc + 1, 5));
  kir_kernel *k = NULL;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  ck_assert_uint_eq(k->features, KIR_FEATURE_WGMMA | KIR_FEATURE_MMA_F16);
  char *s = print_kernel(k);
  ck_assert_ptr_nonnull(strstr(s, "__local ushort ta[1024] __attribute__((aligned(1024)));"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_proxy_fence();\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_wg_fence_n2(acc, acc1);\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_wgmma_n2_01(acc, acc1, mlg_wg_desc(ta + 16, 16, 512, 2), "
                                  "mlg_wg_desc(tb + ((int)get_local_id(0) ^ 3), 4096, 1024, 1));\n"));
  ck_assert_ptr_nonnull(strstr(s, "  mlg_wg_wait(1);\n  mlg_wg_wait0_n2(acc, acc1);\n"));
  ck_assert_ptr_nonnull(strstr(s, "//MLGA wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0, %1"));
  ck_assert_ptr_nonnull(strstr(s, "}, %16, %17, p, 1, 1, 0, 1;"));
  free(s);
  assert_opencl_only(k);

  for (int bad = 0; bad < 6; bad++) {
    b = kir_kernel_begin(m, "misuse", 128, 1, 1);
    ta = kir_local_array(b, "ta", KIR_F16, 1024);
    int f32 = kir_local_array(b, "tf", KIR_F32, 1024);
    acc = kir_frag_new(b, "acc", KIR_FRAG_ACC);
    int fa = kir_frag_new(b, "fa", KIR_FRAG_A);
    kir_wg_operand o = {ta, kir_i32(b, 0), 64, 16, 512, 0};
    switch (bad) {
    case 0: kir_wg_mma(b, acc, 2, &o, &o); break; /* acc + 1 is no accumulator */
    case 1: kir_wg_fence(b, fa, 1); break;
    case 2: o.swizzle = 48; kir_wg_mma(b, acc, 1, &o, &o); break;
    case 3: o.local = f32; kir_wg_mma(b, acc, 1, &o, &o); break;
    case 4: kir_wg_wait(b, 0, acc, 0); break; /* a final wait names the accumulators */
    default: kir_bin(b, KIR_XOR, kir_f32(b, 1.0), kir_f32(b, 2.0)); break;
    }
    assert_misuse_reported(b, bad);
  }
  kir_module_free(m);
}
END_TEST

/* Raw words of halves: read from an F16 local array, stored into an F16 buffer (OpenCL only). */
START_TEST(test_half_words) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "words", 64, 1, 1);
  int y = kir_buffer_param(b, "y", KIR_F16, KIR_WRITE);
  int t = kir_local_array(b, "t", KIR_F16, 512);
  kir_local_store(b, t, kir_local_id(b, 0), kir_f32(b, 1.5));
  kir_barrier(b);
  kir_expr *at = kir_mul(b, kir_local_id(b, 0), kir_i32(b, 8));
  kir_store_bits(b, y, at, kir_local_load_bits(b, t, at, 4));
  kir_store_bits(b, y, kir_i32(b, 600), kir_local_load_bits(b, t, kir_i32(b, 2), 1));
  kir_kernel *k = NULL;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  char *s = print_kernel(k);
  ck_assert_ptr_nonnull(strstr(s, "  vstore4(vload4(0, (__local const uint *)(t + (int)get_local_id(0) * 8)), 0, "
                                  "(__global uint *)(y + y_off + (int)get_local_id(0) * 8));\n"));
  ck_assert_ptr_nonnull(strstr(s, "  *(__global uint *)(y + y_off + 600) = *(__local const uint *)(t + 2);\n"));
  free(s);
  assert_opencl_only(k);
  for (int bad = 0; bad < 4; bad++) {
    b = kir_kernel_begin(m, "misuse", 64, 1, 1);
    int f32 = kir_buffer_param(b, "f", KIR_F32, KIR_WRITE), h = kir_buffer_param(b, "h", KIR_F16, KIR_WRITE);
    int lf = kir_local_array(b, "lf", KIR_F32, 64), lh = kir_local_array(b, "lh", KIR_F16, 64);
    switch (bad) {
    case 0: kir_local_load_bits(b, lf, kir_i32(b, 0), 1); break;
    case 1: kir_local_load_bits(b, lh, kir_i32(b, 0), 3); break;
    case 2: kir_store_bits(b, f32, kir_i32(b, 0), kir_local_load_bits(b, lh, kir_i32(b, 0), 1)); break;
    default: kir_store_bits(b, h, kir_i32(b, 0), kir_f32(b, 1.0)); break;
    }
    assert_misuse_reported(b, bad);
  }
  kir_module_free(m);
}
END_TEST

START_TEST(test_module_many_kernels) {
  kir_module *m = kir_module_new();
  for (int i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof(name), "k%d_copy", i);
    kir_builder *b = kir_kernel_begin(m, name, 128, 1, 1);
    int x = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
    int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
    kir_store(b, y, kir_global_id(b, 0), kir_load(b, x, kir_global_id(b, 0)));
    kir_kernel *k;
    ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  }
  ck_assert_int_eq(kir_module_count(m), 100);
  ck_assert_str_eq(kir_module_kernel(m, 99)->name, "k99_copy");
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  ck_assert_int_eq(kir_print_opencl(m, f), 0);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(s, "}\n\n__kernel __attribute__((reqd_work_group_size(128, 1, 1)))\n"
                                  "void k1_copy("));
  free(s);
  kir_module_free(m);
}
END_TEST

/* Known multiples: constants, the arithmetic that keeps low zero bits, and variables through
 * every definition, loops and self-references included; anything else is a multiple of 1. */
START_TEST(test_known_multiples) {
  kir_module *m = kir_module_new();
  kir_builder *b = kir_kernel_begin(m, "k0_multiples", 64, 1, 1);
  int y = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int i = kir_var_new(b, "i", kir_t(KIR_I32));  /* gid · 8: 8 */
  int j = kir_var_new(b, "j", kir_t(KIR_I32));  /* i, then j + 2 in a loop: 2 */
  int k = kir_var_new(b, "k", kir_t(KIR_I32));  /* 4, 16, ...: 4 */
  int l = kir_var_new(b, "l", kir_t(KIR_I32));  /* gid % 4 · 4 + k: 4 */
  int f = kir_var_new(b, "f", kir_t(KIR_F32));
  kir_decl(b, i, kir_mul(b, kir_global_id(b, 0), kir_i32(b, 8)));
  kir_decl(b, j, kir_var(b, i));
  kir_decl(b, f, kir_f32(b, 8.0));
  kir_for(b, k, kir_i32(b, 4), kir_i32(b, 64), kir_i32(b, 12));
  kir_assign(b, j, kir_add(b, kir_var(b, j), kir_i32(b, 2)));
  kir_decl(b, l, kir_add(b, kir_mul(b, kir_mod(b, kir_global_id(b, 0), kir_i32(b, 4)), kir_i32(b, 4)), kir_var(b, k)));
  kir_store(b, y, kir_var(b, l), kir_var(b, f));
  kir_end(b);
  kir_kernel *kk;
  ck_assert_int_eq(kir_kernel_end(b, &kk), 0);
  int mult[5];
  ck_assert_int_eq(kk->n_vars, 5);
  kir_var_multiples(kk, mult);
  ck_assert_int_eq(mult[i], 8);
  ck_assert_int_eq(mult[j], 2);
  ck_assert_int_eq(mult[k], 4);
  ck_assert_int_eq(mult[l], 4);
  ck_assert_int_eq(mult[f], 1);
  /* Expressions over them. */
  b = kir_kernel_begin(m, "k1_exprs", 64, 1, 1);
  ck_assert_int_eq(kir_expr_multiple(kir_i32(b, 0), NULL), KIR_MULTIPLE_MAX);
  ck_assert_int_eq(kir_expr_multiple(kir_i32(b, 12), NULL), 4);
  ck_assert_int_eq(kir_expr_multiple(kir_i32(b, -8), NULL), 8);
  ck_assert_int_eq(kir_expr_multiple(kir_i32(b, 1 << 20), NULL), KIR_MULTIPLE_MAX);
  ck_assert_int_eq(kir_expr_multiple(kir_cast(b, kir_t(KIR_U32), kir_i32(b, 6)), NULL), 2);
  ck_assert_int_eq(kir_expr_multiple(kir_f32(b, 8.0), NULL), 1);
  kir_expr *gid = kir_global_id(b, 0);
  ck_assert_int_eq(kir_expr_multiple(gid, NULL), 1);
  ck_assert_int_eq(kir_expr_multiple(kir_mul(b, gid, kir_i32(b, 16)), NULL), 16);
  ck_assert_int_eq(kir_expr_multiple(kir_mul(b, kir_mul(b, gid, kir_i32(b, 16)), kir_i32(b, 16)), NULL),
                   KIR_MULTIPLE_MAX);
  ck_assert_int_eq(kir_expr_multiple(kir_bin(b, KIR_SUB, kir_mul(b, gid, kir_i32(b, 16)), kir_i32(b, 4)), NULL), 4);
  ck_assert_int_eq(kir_expr_multiple(kir_bin(b, KIR_DIV, kir_mul(b, gid, kir_i32(b, 16)), kir_i32(b, 2)), NULL), 1);
  ck_assert_int_eq(kir_expr_multiple(kir_bin(b, KIR_XOR, kir_mul(b, gid, kir_i32(b, 16)), kir_i32(b, 16)), NULL), 1);
  ck_assert_int_eq(kir_expr_multiple(kir_cast(b, kir_t(KIR_U32), kir_mul(b, gid, kir_i32(b, 4))), NULL), 4);
  ck_assert_int_eq(kir_expr_multiple(kir_select(b, kir_bin(b, KIR_LT, gid, kir_i32(b, 3)),
                                                kir_mul(b, gid, kir_i32(b, 4)), kir_mul(b, gid, kir_i32(b, 8))),
                                     NULL),
                   4);
  ck_assert_int_eq(kir_expr_multiple(kir_cast(b, kir_t(KIR_I32), kir_f32(b, 4.0)), NULL), 1);
  ck_assert_int_eq(kir_kernel_end(b, &kk), 0);
  kir_module_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kir");
  TCase *tc = tcase_create("kir");
  tcase_add_test(tc, test_print_relu);
  tcase_add_test(tc, test_print_loops_locals);
  tcase_add_test(tc, test_print_storage_types);
  tcase_add_test(tc, test_dot4x8);
  tcase_add_test(tc, test_storage_types_misuse);
  tcase_add_test(tc, test_vector_locals_and_constructor);
  tcase_add_test(tc, test_print_precedence);
  tcase_add_test(tc, test_float_constants);
  tcase_add_test(tc, test_constant_folding);
  tcase_add_test(tc, test_names_unique_and_safe);
  tcase_add_test(tc, test_vector_load_store);
  tcase_add_test(tc, test_with_storage_halves);
  tcase_add_test(tc, test_allocation_failure);
  tcase_add_test(tc, test_misuse_reported);
  tcase_add_test(tc, test_accumulator_elements);
  tcase_add_test(tc, test_warpgroup_products);
  tcase_add_test(tc, test_half_words);
  tcase_add_test(tc, test_module_many_kernels);
  tcase_add_test(tc, test_known_multiples);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

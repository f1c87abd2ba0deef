/* test_profile.c — per-dispatch device times (mlg_session_profile) on PoCL, the device's peak
 * estimate, the compiler's FLOP and byte counts as the bundle carries them and mlgrun's table
 * shows them, and the copy-bandwidth measurement (tools/mlgrun_perf.c, compiled in here). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "compile.h"
#include "mlg.h"
#include "../../tools/mlgrun_perf.c"

/* C[8,4] = A[8,16] @ B[16,4], one output per work-item; then y = relu(C). */
static const char *SOURCE =
    "__kernel void k0_matmul(__global const float *a, uint a_off, __global const float *b, uint b_off,\n"
    "                        __global float *c, uint c_off) {\n"
    "  uint i = get_global_id(0) / 4, j = get_global_id(0) % 4;\n"
    "  float s = 0;\n"
    "  for (uint k = 0; k < 16; k++) s += a[a_off + i * 16 + k] * b[b_off + k * 4 + j];\n"
    "  c[c_off + i * 4 + j] = s;\n"
    "}\n"
    "__kernel void k1_relu(__global const float *c, uint c_off, __global float *y, uint y_off) {\n"
    "  uint i = get_global_id(0);\n"
    "  y[y_off + i] = fmax(c[c_off + i], 0.0f);\n"
    "}\n";

static uint8_t *make_bundle(size_t *out_size) {
  static char na[] = "a", nb[] = "b", nc[] = "c", ny[] = "y";
  mlgb_tensor t[4];
  memset(t, 0, sizeof t);
  t[0] = (mlgb_tensor){na, MLGB_F32, MLGB_ROLE_INPUT, MLGB_REGION_IO, 2, {8, 16}, 0, 8 * 16 * 4};
  t[1] = (mlgb_tensor){nb, MLGB_F32, MLGB_ROLE_INPUT, MLGB_REGION_IO, 2, {16, 4}, 512, 16 * 4 * 4};
  t[2] = (mlgb_tensor){nc, MLGB_F32, MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 2, {8, 4}, 0, 8 * 4 * 4};
  t[3] = (mlgb_tensor){ny, MLGB_F32, MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 2, {8, 4}, 768, 8 * 4 * 4};
  mlgb_module module = {MLGB_MODULE_OPENCL_C, strlen(SOURCE), (uint8_t *)SOURCE};
  uint32_t args0[3] = {0, 1, 2}, args1[2] = {2, 3};
  static char k0[] = "k0_matmul", k1[] = "k1_relu";
  mlgb_kernel kernels[2] = {{k0, 0, {32, 1, 1}, 3, 0, 0}, {k1, 0, {32, 1, 1}, 2, 0, 0}};
  /* The second dispatch carries no counts, as from a producer that counts nothing. */
  mlgb_dispatch dispatches[2] = {{.name = nc, .kernel = 0, .groups = {1, 1, 1}, .n_args = 3, .args = args0,
                                  .flops = 2 * 8 * 4 * 16, .bytes = 512 + 256 + 128, .programs = MLGB_PROGRAM_RUN},
                                 {.name = ny, .kernel = 1, .groups = {1, 1, 1}, .n_args = 2, .args = args1,
                                  .programs = MLGB_PROGRAM_RUN}};
  static char model_name[] = "mm_relu", producer[] = "test_profile";
  mlgb_bundle b = {0};
  b.target = MLGB_TARGET_OPENCL;
  b.model_name = model_name;
  b.producer = producer;
  b.alignment = 256;
  b.region_size[MLGB_REGION_IO] = 1024;
  b.region_size[MLGB_REGION_ARENA] = 256;
  b.n_tensors = 4;
  b.tensors = t;
  b.n_modules = 1;
  b.modules = &module;
  b.n_kernels = 2;
  b.kernels = kernels;
  b.n_dispatches = 2;
  b.dispatches = dispatches;
  uint8_t *data = NULL;
  char err[512];
  ck_assert_msg(mlgb_write(&b, &data, out_size, err, sizeof err) == 0, "mlgb_write: %s", err);
  return data;
}

static mlg_runtime *cpu_runtime(int profiling) {
  mlg_runtime_options opts = {.device = "cpu", .cache_dir = "", .enable_profiling = profiling};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&opts, &rt) == MLG_OK, "runtime: %s", mlg_last_error());
  return rt;
}

static mlg_session *session_on(mlg_runtime *rt, mlg_model **out_model) {
  size_t size;
  uint8_t *data = make_bundle(&size);
  ck_assert_msg(mlg_model_load_memory(rt, data, size, NULL, out_model) == MLG_OK, "load: %s", mlg_last_error());
  free(data);
  mlg_session *s = NULL;
  ck_assert_msg(mlg_session_create(*out_model, &s) == MLG_OK, "session: %s", mlg_last_error());
  float a[128], b[64];
  for (int i = 0; i < 128; i++) a[i] = (float)(i % 5) - 2.0f;
  for (int i = 0; i < 64; i++) b[i] = (float)(i % 3) - 1.0f;
  ck_assert(mlg_session_set_input(s, "a", a, sizeof a) == MLG_OK);
  ck_assert(mlg_session_set_input(s, "b", b, sizeof b) == MLG_OK);
  return s;
}

START_TEST(test_profile_times_each_dispatch) {
  mlg_runtime *rt = cpu_runtime(1);
  mlg_model *m = NULL;
  mlg_session *s = session_on(rt, &m);
  mlg_dispatch_profile p[4];
  int count = -1;
  /* Before any run there is nothing to report. */
  ck_assert_int_eq(mlg_session_profile(s, p, 4, &count), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(count, 0);
  for (int run = 0; run < 2; run++) {
    ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
    memset(p, 0, sizeof p);
    ck_assert_msg(mlg_session_profile(s, p, 4, &count) == MLG_OK, "%s", mlg_last_error());
    ck_assert_int_eq(count, 2);
    ck_assert_str_eq(p[0].kernel, "k0_matmul");
    ck_assert_str_eq(p[1].kernel, "k1_relu");
    ck_assert_str_eq(p[0].name, "c");
    ck_assert_str_eq(p[1].name, "y");
    ck_assert_int_eq(p[0].kernel_index, 0);
    ck_assert_int_eq(p[1].dispatch_index, 1);
    ck_assert_uint_eq(p[0].bytes, 512 + 256 + 128); /* a, b read; c written */
    ck_assert_uint_eq(p[1].bytes, 128 + 128);
    ck_assert_msg(p[0].device_ns > 0 && p[1].device_ns > 0, "times %llu %llu", (unsigned long long)p[0].device_ns,
                  (unsigned long long)p[1].device_ns);
    ck_assert_msg(p[0].device_ns < 10000000000ull, "a tiny kernel took %llu ns", (unsigned long long)p[0].device_ns);
  }
  /* A smaller capacity: the count still says how many there are. */
  memset(p, 0, sizeof p);
  ck_assert(mlg_session_profile(s, p, 1, &count) == MLG_OK);
  ck_assert_int_eq(count, 2);
  ck_assert_str_eq(p[0].kernel, "k0_matmul");
  ck_assert_ptr_null(p[1].kernel);
  ck_assert(mlg_session_profile(s, NULL, 0, &count) == MLG_OK);
  ck_assert_int_eq(count, 2);
  ck_assert_int_eq(mlg_session_profile(NULL, p, 4, &count), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(mlg_session_profile(s, NULL, 4, &count), MLG_ERR_INVALID_ARGUMENT);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

START_TEST(test_profile_needs_profiling_runtime) {
  mlg_runtime *rt = cpu_runtime(0);
  mlg_model *m = NULL;
  mlg_session *s = session_on(rt, &m);
  ck_assert(mlg_session_run(s) == MLG_OK);
  mlg_dispatch_profile p[2];
  int count = -1;
  ck_assert_int_eq(mlg_session_profile(s, p, 2, &count), MLG_ERR_UNSUPPORTED);
  ck_assert_int_eq(count, 0);
  ck_assert_msg(strstr(mlg_last_error(), "enable_profiling") != NULL, "message: %s", mlg_last_error());
  /* Results are the same with and without profiling. */
  float y[32];
  ck_assert(mlg_session_get_output(s, "y", y, sizeof y) == MLG_OK);
  for (int i = 0; i < 32; i++) ck_assert(y[i] >= 0.0f);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

START_TEST(test_peak_estimate) {
  mlg_runtime *rt = cpu_runtime(0);
  const mlg_device_info *d = mlg_runtime_device(rt);
  ck_assert_int_gt(d->max_clock_mhz, 0);
#if defined(__x86_64__)
  ck_assert_msg(d->peak_gflops > 0, "no peak for %s", d->name);
  ck_assert_msg(strstr(d->peak_formula, "cores") != NULL, "formula: %s", d->peak_formula);
  /* units x FLOP/cycle x clock: at least 8 FLOP/cycle per core, at most 64. */
  double per_cycle = d->peak_gflops * 1000.0 / d->compute_units / d->max_clock_mhz;
  ck_assert_msg(per_cycle >= 7.99 && per_cycle <= 64.01, "%g FLOP/cycle", per_cycle);
#endif
  mlg_runtime_destroy(rt);
}
END_TEST

/* The table prints the bundle's counts; bytes fall back to the bound tensors' without them. */
START_TEST(test_profile_table_shows_counts) {
  size_t size;
  uint8_t *data = make_bundle(&size);
  mlgb_bundle *b = NULL;
  char err[256];
  ck_assert(mlgb_read(data, size, &b, err, sizeof err) == 0);
  free(data);
  mlg_dispatch_profile prof[2] = {
      {.dispatch_index = 0, .kernel = "k0_matmul", .name = "c", .device_ns = 1000, .bytes = 1},
      {.dispatch_index = 1, .kernel = "k1_relu", .name = "y", .device_ns = 1000, .bytes = 256}};
  perf_limits lim = {0};
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  perf_print_profile(out, b, prof, 2, &lim, 0.0);
  fclose(out);
  /* Row 0: 896 bytes and 1.02K FLOPs from the bundle (not the profile's 1 byte); row 1: the
   * profile's 256 bytes, no FLOPs. */
  ck_assert_msg(strstr(text, "      896") && strstr(text, "    1.02K"), "table:\n%s", text);
  ck_assert_msg(strstr(text, "total: 2 dispatches, 2.0 us device, 1.15K bytes"), "table:\n%s", text);
  free(text);
  mlgb_free(b);
  double v[5] = {5, 1, 4, 2, 3};
  ck_assert(perf_median(v, 5) == 3);
  ck_assert(perf_median(v, 4) == 2.5);
}
END_TEST

/* The OpenCL bundle of source `text` at -O2 for `device_class` (kt_device_class), read: its
 * bytes in *out_data (*out_size), to free. */
static mlgb_bundle *compile_bundle(const char *text, int device_class, uint8_t **out_data, size_t *out_size) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "t.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = {.target = MLGB_TARGET_OPENCL, .opt_level = 2, .device_class = device_class};
  *out_data = NULL;
  ck_assert_int_eq(mlg_compile(&src, &o, &diag, out_data, out_size), 0);
  mlg_source_free(&src);
  mlgb_bundle *b = NULL;
  char err[256];
  ck_assert_msg(mlgb_read(*out_data, *out_size, &b, err, sizeof err) == 0, "%s", err);
  return b;
}

/* mlgc writes each dispatch's counts from the ops' cost rules: one fused linear + relu kernel
 * does 2·4·8·16 multiply-adds, 32 bias additions and 32 maxima, and moves x, w, b and y once. */
START_TEST(test_compiled_bundle_counts) {
  static const char text[] = "model t {\n"
                             "  input x : f32[4, 16]\n"
                             "  param w : f32[8, 16] = normal(0, 0.1, seed=1)\n"
                             "  param b : f32[8] = zeros\n"
                             "  output y = relu(linear(x, w, b))\n"
                             "}\n";
  size_t size = 0;
  uint8_t *data = NULL;
  mlgb_bundle *b = compile_bundle(text, 0, &data, &size);
  free(data);
  ck_assert_uint_eq(b->n_dispatches, 1);
  ck_assert_uint_eq(b->dispatches[0].flops, 2 * 4 * 8 * 16 + 32 + 32);
  ck_assert_uint_eq(b->dispatches[0].bytes, (4 * 16 + 8 * 16 + 8 + 4 * 8) * 4);
  mlgb_free(b);
}
END_TEST

/* A bundle with a preparation (a CPU-class convolution's weight pack): before the first run the
 * profile is the preparation's, after it the run's, and the table counts the prepared
 * dispatch on a line of its own. */
START_TEST(test_profile_of_the_preparation) {
  static const char text[] = "model p {\n"
                             "  input x : f32[1, 2, 6, 6]\n"
                             "  param w : f32[4, 2, 3, 3] = normal(0, 0.1, seed=1)\n"
                             "  output y = relu(conv2d(x, w, padding=1))\n"
                             "}\n";
  size_t size = 0;
  uint8_t *data = NULL;
  mlgb_bundle *b = compile_bundle(text, 1, &data, &size);
  mlg_runtime *rt = cpu_runtime(1);
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, data, size, NULL, &m) == MLG_OK, "%s", mlg_last_error());
  free(data);
  mlg_session *s = NULL;
  ck_assert_msg(mlg_session_create(m, &s) == MLG_OK, "%s", mlg_last_error());
  mlg_dispatch_profile prof[8];
  int n = 0;
  ck_assert_msg(mlg_session_profile(s, prof, 8, &n) == MLG_OK, "%s", mlg_last_error());
  ck_assert_int_eq(n, (int)b->n_dispatches);
  ck_assert_int_le(n, 8);
  int n_prepare = 0;
  for (int i = 0; i < n; i++) {
    int prepare = b->dispatches[i].programs == MLGB_PROGRAM_PREPARE;
    n_prepare += prepare;
    ck_assert_msg(prepare ? prof[i].device_ns > 0 : prof[i].device_ns == 0, "dispatch %d (%s): %llu ns", i,
                  prof[i].kernel, (unsigned long long)prof[i].device_ns);
  }
  ck_assert_int_eq(n_prepare, 1);
  /* An output before any run is still refused. */
  float y[4 * 36];
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "has not run"));
  float x[2 * 36] = {0};
  ck_assert_int_eq(mlg_session_set_input(s, "x", x, sizeof x), MLG_OK);
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s", mlg_last_error());
  ck_assert_int_eq(mlg_session_profile(s, prof, 8, &n), MLG_OK);
  for (int i = 0; i < n; i++) {
    int prepare = b->dispatches[i].programs == MLGB_PROGRAM_PREPARE;
    ck_assert_msg(prepare ? prof[i].device_ns == 0 : prof[i].device_ns > 0, "dispatch %d after the run", i);
  }
  perf_limits lim = {0};
  char *table = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&table, &len);
  perf_print_profile(out, b, prof, n, &lim, 0.25);
  fclose(out);
  ck_assert_msg(strstr(table, "prepared once, when the session started (not in the run): 1 dispatches, 0.250 ms"),
                "table:\n%s", table);
  char want[64];
  snprintf(want, sizeof want, "total: %d dispatches", n - 1);
  ck_assert_msg(strstr(table, want), "table:\n%s", table);
  free(table);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  mlgb_free(b);
}
END_TEST

START_TEST(test_copy_bandwidth) {
  mlg_runtime *rt = cpu_runtime(1);
  double gbps = 0;
  ck_assert_msg(perf_measure_copy(rt, 4 << 20, &gbps) == MLG_OK, "%s", mlg_last_error());
  ck_assert_msg(gbps > 0.1 && gbps < 10000, "copy bandwidth %g GB/s", gbps);
  mlg_runtime_destroy(rt);
}
END_TEST

/* A device of another backend finds the OpenCL device of its name and kind, nothing else. */
START_TEST(test_opencl_twin) {
  mlg_runtime *rt = cpu_runtime(0);
  mlg_device_info as_vulkan = *mlg_runtime_device(rt), twin;
  snprintf(as_vulkan.backend, sizeof as_vulkan.backend, "vulkan");
  snprintf(as_vulkan.spec, sizeof as_vulkan.spec, "vulkan:7");
  ck_assert_int_eq(opencl_twin(&as_vulkan, &twin), 1);
  ck_assert_str_eq(twin.spec, mlg_runtime_device(rt)->spec);
  as_vulkan.is_gpu = !as_vulkan.is_gpu;
  ck_assert_int_eq(opencl_twin(&as_vulkan, &twin), 0);
  as_vulkan.is_gpu = !as_vulkan.is_gpu;
  snprintf(as_vulkan.name, sizeof as_vulkan.name, "another device");
  ck_assert_int_eq(opencl_twin(&as_vulkan, &twin), 0);
  mlg_runtime_destroy(rt);
}
END_TEST

static void print_limits(const mlg_runtime *rt, const perf_limits *l, char *buf, size_t size) {
  FILE *f = fmemopen(buf, size, "w");
  ck_assert_ptr_nonnull(f);
  perf_limits_print(f, mlg_runtime_device(rt), l);
  fclose(f);
}

/* The copy bandwidth is cached per device and size: --profile (use_cache) measures once. */
START_TEST(test_limits_cache) {
  char dir[] = MLG_BINARY_DIR "/test_profile_cache_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  setenv("MLG_CACHE_DIR", dir, 1);
  mlg_runtime *rt = cpu_runtime(1);
  perf_limits l;
  char text[16384];
  perf_limits_measure(rt, 4 << 20, 1, &l);
  ck_assert_msg(l.copy_gbps > 0, "%s", l.why_not);
  ck_assert_str_eq(l.copy_source, "measured now");
  /* PoCL is a CPU: its peak is measured (FMA chains), the nominal clock's formula kept beside. */
  ck_assert_msg(l.peak_gflops > 0 && strstr(l.peak_formula, "measured: ") && strstr(l.peak_formula, "(measured now)") &&
                strstr(l.peak_formula, "at the nominal clock"), "%s", l.peak_formula);
  double first = l.copy_gbps, peak = l.peak_gflops;
  perf_limits_measure(rt, 4 << 20, 1, &l);
  ck_assert_ptr_nonnull(strstr(l.copy_source, "cached in "));
  ck_assert_msg(strstr(l.peak_formula, "(cached in "), "%s", l.peak_formula);
  ck_assert_double_eq_tol(l.peak_gflops, peak, 0.001);
  ck_assert_double_eq_tol(l.copy_gbps, first, 0.001);
  print_limits(rt, &l, text, sizeof text);
  ck_assert_msg(strstr(text, "; cached in ") && strstr(text, "limits: peak "), "%s", text);
  /* Another size is another entry; without use_cache (--limits) it is measured again. */
  perf_limits_measure(rt, 8 << 20, 1, &l);
  ck_assert_str_eq(l.copy_source, "measured now");
  perf_limits_measure(rt, 4 << 20, 0, &l);
  ck_assert_str_eq(l.copy_source, "measured now");
  /* A spoiled entry is measured again. */
  char path[4300], key[1024];
  ck_assert_int_eq(limit_cache_file("copy-bandwidth", mlg_runtime_device(rt), 4 << 20, path, sizeof path, key, sizeof key), 0);
  FILE *f = fopen(path, "w");
  fputs("mlg copy bandwidth 1\ndevice someone else\n", f);
  fclose(f);
  perf_limits_measure(rt, 4 << 20, 1, &l);
  ck_assert_str_eq(l.copy_source, "measured now");
  mlg_runtime_destroy(rt);
  unsetenv("MLG_CACHE_DIR");
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* lavapipe has no OpenCL twin: the limits say what cannot be measured, not zeros. */
START_TEST(test_limits_without_twin) {
  mlg_runtime_options opts = {.device = "vulkan:0", .cache_dir = "", .enable_profiling = 1};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&opts, &rt) == MLG_OK, "%s", mlg_last_error());
  perf_limits l;
  perf_limits_measure(rt, 4 << 20, 0, &l);
  ck_assert(l.copy_gbps == 0 && l.peak_gflops == 0);
  char text[4096];
  print_limits(rt, &l, text, sizeof text);
  ck_assert_msg(strstr(text, "copy bandwidth: not measured: the copy kernel is OpenCL C, and vulkan:0 has no "
                             "OpenCL twin") &&
                    strstr(text, "peak FP32: unknown: Vulkan reports") &&
                    strstr(text, "limits: peak unknown, copy not measured\n") && !strstr(text, "0.0 G"),
                "%s", text);
  mlg_runtime_destroy(rt);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("profile");
  TCase *tc = tcase_create("opencl");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_profile_times_each_dispatch);
  tcase_add_test(tc, test_profile_needs_profiling_runtime);
  tcase_add_test(tc, test_peak_estimate);
  tcase_add_test(tc, test_profile_table_shows_counts);
  tcase_add_test(tc, test_compiled_bundle_counts);
  tcase_add_test(tc, test_profile_of_the_preparation);
  tcase_add_test(tc, test_copy_bandwidth);
  tcase_add_test(tc, test_opencl_twin);
  tcase_add_test(tc, test_limits_cache);
  tcase_add_test(tc, test_limits_without_twin);
  suite_add_tcase(suite, tc);
  SRunner *runner = srunner_create(suite);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

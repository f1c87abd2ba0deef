/* test_runtime.c — libmlgrt on PoCL: device listing and specs, a hand-assembled bundle that runs
 * and gives exact numbers, sessions, weights from .safetensors, the program cache, errors, and
 * inputs and outputs of a compiled model listed in declaration order, and the preparation of a
 * weight's packed layout on both backends. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "compile.h"
#include "internal.h"
#include "mlg.h"
#include "opencl/opencl_internal.h"
#include "temp_files.c"

/* y = x * 2 + w, through an intermediate t in the arena; every tensor sits at a nonzero offset
 * except x, so a kernel that ignored its offsets would read the garbage around them. */
static const char *SOURCE =
    "__kernel void mul2(__global const float *x, const uint x_off,\n"
    "                   __global float *t, const uint t_off) {\n"
    "  uint i = get_global_id(0);\n"
    "  t[t_off + i] = x[x_off + i] * 2.0f;\n"
    "}\n"
    "__kernel void addw(__global const float *t, const uint t_off,\n"
    "                   __global const float *w, const uint w_off,\n"
    "                   __global float *y, const uint y_off) {\n"
    "  uint i = get_global_id(0);\n"
    "  y[y_off + i] = t[t_off + i] + w[w_off + i];\n"
    "}\n";

static const float W[4] = {0.5f, 1.0f, 1.5f, 2.0f};

typedef struct bundle_spec {
  uint32_t target;
  int has_weights;
  const char *source;
  int addw_args;             /* how many tensors addw binds (3 is right) */
  /* 1: the first dispatch runs a variant of mul2 that needs the integer dot product, in a
   * module of its own that is no OpenCL (so building it fails), with mul2 as its fallback;
   * 2: the same variant without a fallback. */
  int variant;
} bundle_spec;

static const bundle_spec GOOD = {MLGB_TARGET_OPENCL, 1, NULL, 3, 0};

static uint8_t *make_bundle(bundle_spec spec, size_t *out_size) {
  mlgb_tensor tensors[4];
  memset(tensors, 0, sizeof tensors);
  static char nx[] = "x", nw[] = "w", nt[] = "t", ny[] = "y";
  char *names[4] = {nx, nw, nt, ny};
  uint32_t roles[4] = {MLGB_ROLE_INPUT, MLGB_ROLE_PARAM, MLGB_ROLE_INTERMEDIATE, MLGB_ROLE_OUTPUT};
  uint32_t regions[4] = {MLGB_REGION_IO, MLGB_REGION_WEIGHTS, MLGB_REGION_ARENA, MLGB_REGION_IO};
  uint64_t offsets[4] = {0, 256, 256, 256};
  for (int i = 0; i < 4; i++) {
    tensors[i].name = names[i];
    tensors[i].dtype = MLGB_F32;
    tensors[i].role = roles[i];
    tensors[i].region = regions[i];
    tensors[i].rank = 1;
    tensors[i].dims[0] = 4;
    tensors[i].offset = offsets[i];
    tensors[i].size = 16;
  }
  /* SPIR-V stand-in for the wrong-target bundle: the magic number and four more words. */
  uint32_t spirv[5] = {0x07230203u, 0x00010300u, 0, 1, 0};
  const char *src = spec.source ? spec.source : SOURCE;
  mlgb_module module = {MLGB_MODULE_OPENCL_C, strlen(src), (uint8_t *)src};
  if (spec.target == MLGB_TARGET_VULKAN) module = (mlgb_module){MLGB_MODULE_SPIRV, sizeof spirv, (uint8_t *)spirv};
  uint32_t args0[2] = {0, 2}, args1[3] = {2, 1, 3};
  static char kmul[] = "mul2", kadd[] = "addw";
  static char kvar[] = "mul2_idot", not_cl[] = "this is no OpenCL C (a variant that must not be built)";
  mlgb_module modules[2] = {module, {MLGB_MODULE_OPENCL_C, strlen(not_cl), (uint8_t *)not_cl}};
  mlgb_kernel kernels[3] = {
      {kmul, 0, {4, 1, 1}, 2, 0, 0},
      {kadd, 0, {2, 1, 1}, (uint32_t)spec.addw_args, 0, 0},
      {kvar, 1, {4, 1, 1}, 2, MLGB_DEVICE_INT_DOT, spec.variant == 1 ? 1 : 0},
  };
  mlgb_dispatch dispatches[2] = {{.name = "t", .kernel = spec.variant ? 2 : 0, .groups = {1, 1, 1}, .n_args = 2, .args = args0,
                                  .programs = MLGB_PROGRAM_RUN},
                                 {.name = "y", .kernel = 1, .groups = {2, 1, 1}, .n_args = kernels[1].n_params,
                                  .args = args1, .programs = MLGB_PROGRAM_RUN}};
  static char model_name[] = "double_add", producer[] = "test_runtime";

  mlgb_bundle b = {0};
  b.target = spec.target;
  b.model_name = model_name;
  b.producer = producer;
  b.alignment = 256;
  b.region_size[MLGB_REGION_WEIGHTS] = 512;
  b.region_size[MLGB_REGION_IO] = 512;
  b.region_size[MLGB_REGION_ARENA] = 512;
  b.n_tensors = 4;
  b.tensors = tensors;
  b.n_modules = spec.variant ? 2 : 1;
  b.modules = modules;
  b.n_kernels = spec.variant ? 3 : 2;
  b.kernels = kernels;
  b.n_dispatches = 2;
  b.dispatches = dispatches;
  /* The weights section holds w (f32[4] at byte 256 of the region) when the params travel. */
  b.has_params = spec.has_weights;
  b.weights_size = spec.has_weights ? sizeof W : 0;
  b.weights = spec.has_weights ? (uint8_t *)W : NULL;

  uint8_t *data = NULL;
  char err[512];
  int rc = mlgb_write(&b, &data, out_size, err, sizeof err);
  ck_assert_msg(rc == 0, "mlgb_write: %s", err);
  return data;
}

static mlg_runtime *cpu_runtime(const char *cache_dir) {
  mlg_runtime_options opts = {.device = "cpu", .cache_dir = cache_dir};
  mlg_runtime *rt = NULL;
  mlg_status st = mlg_runtime_create(&opts, &rt);
  ck_assert_msg(st == MLG_OK, "runtime: %s", mlg_last_error());
  return rt;
}

static mlg_model *load(mlg_runtime *rt, bundle_spec spec, const char *weights_path, mlg_status want) {
  size_t size;
  uint8_t *data = make_bundle(spec, &size);
  mlg_load_options lo = {.weights_path = weights_path};
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, data, size, &lo, &m);
  free(data);
  ck_assert_msg(st == want, "load: got %s (%s), want %s", mlg_status_string(st), mlg_last_error(),
                mlg_status_string(want));
  ck_assert(want == MLG_OK ? m != NULL : m == NULL);
  return m;
}

static void run_and_check(mlg_session *s, float scale, const float *w) {
  float x[4], y[4];
  for (int i = 0; i < 4; i++) x[i] = scale * (float)(i + 1);
  ck_assert_msg(mlg_session_set_input(s, "x", x, sizeof x) == MLG_OK, "%s", mlg_last_error());
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
  ck_assert_msg(mlg_session_get_output(s, "y", y, sizeof y) == MLG_OK, "%s", mlg_last_error());
  for (int i = 0; i < 4; i++)
    ck_assert_msg(y[i] == x[i] * 2.0f + w[i], "y[%d] = %g, want %g", i, y[i], x[i] * 2.0f + w[i]);
}

/* The single entry in dir (path into buf); fails the test unless there is exactly one. */
static void only_entry(const char *dir, char *buf, size_t size) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "opendir %s", dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    n++;
    snprintf(buf, size, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  ck_assert_int_eq(n, 1);
}

/* A .safetensors file written by hand: header length, JSON header padded to 8, data. */
static void write_safetensors(const char *path, const char *json, const void *data, size_t size) {
  size_t n = strlen(json), padded = (n + 7) & ~(size_t)7;
  uint8_t *buf = calloc(1, 8 + padded + size);
  ck_assert(buf != NULL);
  uint64_t len = padded;
  memcpy(buf, &len, 8);
  memcpy(buf + 8, json, n);
  memset(buf + 8 + n, ' ', padded - n);
  memcpy(buf + 8 + padded, data, size);
  write_file(path, buf, 8 + padded + size);
  free(buf);
}

START_TEST(test_list_devices) {
  int n = -1;
  ck_assert_int_eq(mlg_list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_int_ge(n, 1);
  mlg_device_info devs[16];
  int n2 = 0;
  ck_assert_int_eq(mlg_list_devices(devs, 16, &n2), MLG_OK);
  ck_assert_int_eq(n2, n);
  ck_assert_str_eq(devs[0].spec, "opencl:0");
  ck_assert_str_eq(devs[0].backend, "opencl");
  ck_assert(devs[0].name[0] != '\0');
  ck_assert(devs[0].platform[0] != '\0');
  ck_assert_int_ge(devs[0].compute_units, 1);
  ck_assert(devs[0].global_mem_bytes > 0);
}
END_TEST

static void expect_spec(const char *spec, mlg_status want, const char *in_message) {
  mlg_runtime_options opts = {.device = spec, .cache_dir = ""};
  mlg_runtime *rt = (mlg_runtime *)1;
  mlg_status st = mlg_runtime_create(&opts, &rt);
  ck_assert_msg(st == want, "spec '%s': got %s (%s)", spec, mlg_status_string(st), mlg_last_error());
  ck_assert(rt == NULL);
  ck_assert_msg(strstr(mlg_last_error(), in_message) != NULL, "spec '%s': message '%s' lacks '%s'", spec,
                mlg_last_error(), in_message);
}

START_TEST(test_device_specs) {
  expect_spec("opencl:99", MLG_ERR_NO_DEVICE, "opencl:0");
  expect_spec("tpu", MLG_ERR_INVALID_ARGUMENT, "available: opencl:0");
  expect_spec("opencl:", MLG_ERR_INVALID_ARGUMENT, "unknown device spec 'opencl:'");
  expect_spec("opencl:x", MLG_ERR_INVALID_ARGUMENT, "opencl:N");
  expect_spec("opencl:1x", MLG_ERR_INVALID_ARGUMENT, "opencl:N");
  expect_spec("opencl:-1", MLG_ERR_INVALID_ARGUMENT, "opencl:N");
  expect_spec("vulkan:99", MLG_ERR_NO_DEVICE, "available");
  expect_spec("openclx", MLG_ERR_INVALID_ARGUMENT, "opencl or vulkan (device 0)");

  /* A backend's name alone is its device 0. */
  const char *bare[] = {"opencl", "vulkan"};
  for (int b = 0; b < 2; b++) {
    mlg_runtime_options o = {.device = bare[b], .cache_dir = ""};
    mlg_runtime *r = NULL;
    ck_assert_msg(mlg_runtime_create(&o, &r) == MLG_OK, "%s: %s", bare[b], mlg_last_error());
    char want[32];
    snprintf(want, sizeof want, "%s:0", bare[b]);
    ck_assert_str_eq(mlg_runtime_device(r)->spec, want);
    mlg_runtime_destroy(r);
  }

  mlg_device_info devs[16];
  int n = 0, has_gpu = 0;
  mlg_list_devices(devs, 16, &n);
  for (int i = 0; i < n && i < 16; i++) has_gpu |= devs[i].is_gpu;
  if (!has_gpu) expect_spec("gpu", MLG_ERR_NO_DEVICE, "no GPU device");

  mlg_runtime *rt = cpu_runtime("");
  ck_assert_int_eq(mlg_runtime_device(rt)->is_gpu, 0);
  mlg_runtime_destroy(rt);

  /* $MLG_DEVICE applies when the options name no device, and the message says it came from there. */
  setenv("MLG_DEVICE", "bogus", 1);
  mlg_runtime_options opts = {.cache_dir = ""};
  ck_assert_int_eq(mlg_runtime_create(&opts, &rt), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "MLG_DEVICE"));
  setenv("MLG_DEVICE", "opencl:0", 1);
  ck_assert_int_eq(mlg_runtime_create(&opts, &rt), MLG_OK);
  ck_assert_str_eq(mlg_runtime_device(rt)->spec, "opencl:0");
  mlg_runtime_destroy(rt);
  unsetenv("MLG_DEVICE");
}
END_TEST

START_TEST(test_run_exact) {
  mlg_runtime *rt = cpu_runtime("");
  mlg_model *m = load(rt, GOOD, NULL, MLG_OK);
  ck_assert_str_eq(mlg_model_name(m), "double_add");
  ck_assert_int_eq(mlg_model_input_count(m), 1);
  ck_assert_int_eq(mlg_model_output_count(m), 1);
  mlg_tensor_info info;
  ck_assert_int_eq(mlg_model_input_info(m, 0, &info), MLG_OK);
  ck_assert_str_eq(info.name, "x");
  ck_assert_int_eq(info.rank, 1);
  ck_assert_int_eq(info.dims[0], 4);
  ck_assert_uint_eq(info.bytes, 16);
  ck_assert_int_eq(mlg_model_output_info(m, 0, &info), MLG_OK);
  ck_assert_str_eq(info.name, "y");
  ck_assert_int_eq(mlg_model_output_info(m, 1, &info), MLG_ERR_INVALID_ARGUMENT);

  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 1.0f, W);
  run_and_check(s, -3.25f, W);
  run_and_check(s, 1000.0f, W);
  /* An input stays set across runs, and setting one keeps the last run's outputs until the next
   * run (on PoCL they live in the device's own buffer: backend.h host_staging, resident). */
  float x[4] = {1, 2, 3, 4}, x2[4] = {5, 6, 7, 8}, y[4];
  ck_assert_int_eq(mlg_session_set_input(s, "x", x, sizeof x), MLG_OK);
  ck_assert_int_eq(mlg_session_run(s), MLG_OK);
  ck_assert_int_eq(mlg_session_set_input(s, "x", x2, sizeof x2), MLG_OK);
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_OK);
  for (int i = 0; i < 4; i++) ck_assert(y[i] == x[i] * 2 + W[i]);
  for (int r = 0; r < 2; r++) {
    ck_assert_int_eq(mlg_session_run(s), MLG_OK);
    ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_OK);
    for (int i = 0; i < 4; i++) ck_assert(y[i] == x2[i] * 2 + W[i]);
  }
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

/* A kernel variant the device cannot run (PoCL has no cl_khr_integer_dot_product; or it is
 * turned off) is never built: dispatches run its fallback, which --profile names. */
START_TEST(test_kernel_variant) {
  mlg_runtime *rt = cpu_runtime("");
  bundle_spec spec = GOOD;
  spec.variant = 1;
  setenv("MLG_DISABLE_FEATURES", "intdot", 1);
  mlg_model *m = load(rt, spec, NULL, MLG_OK);
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 1.0f, W);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  /* Without a fallback the load fails and says which feature is missing. */
  spec.variant = 2;
  load(rt, spec, NULL, MLG_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(mlg_last_error(), "kernel 'mul2_idot' needs device features (intdot)") != NULL, "%s",
                mlg_last_error());
  /* An unknown name is an error, not silently ignored. */
  setenv("MLG_DISABLE_FEATURES", "intdot,tensorcores", 1);
  spec.variant = 1;
  load(rt, spec, NULL, MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(mlg_last_error(), "MLG_DISABLE_FEATURES names 'tensorcores', which is no device feature "
                       "(known: intdot,ptxmma,coopmat,ptxwgmma)") != NULL, "%s", mlg_last_error());
  unsetenv("MLG_DISABLE_FEATURES");
  mlg_runtime_destroy(rt);
}
END_TEST

/* Programs with warpgroup products (opencl_ptx.c): the marks are found in a source, and a built
 * sm_90 PTX gets them removed and its target set to sm_90a; PTX for another target (or already
 * retargeted) is refused. */
START_TEST(test_ptx_retarget) {
  static const char src[] = "asm volatile(\"//MLGA wgmma.commit_group.sync.aligned;\" ::: \"memory\");";
  ck_assert_int_eq(mlg_cl_ptx_marked(src, sizeof src - 1), 1);
  ck_assert_int_eq(mlg_cl_ptx_marked(src, 15), 0); /* the mark cut off */
  ck_assert_int_eq(mlg_cl_ptx_marked("// MLG", 6), 0);
  static const char ptx[] = ".version 9.0\n.target sm_90, texmode_independent\n.address_size 64\n"
                            "\t// begin inline asm\n\t//MLGA wgmma.fence.sync.aligned;\n\t//MLGA {\n"
                            "// other comment\n";
  char *out = NULL;
  size_t n = 0;
  ck_assert_int_eq(mlg_cl_ptx_retarget(ptx, sizeof ptx - 1, &out, &n), 0);
  ck_assert_str_eq(out, ".version 9.0\n.target sm_90a, texmode_independent\n.address_size 64\n"
                        "\t// begin inline asm\n\t wgmma.fence.sync.aligned;\n\t {\n// other comment\n");
  ck_assert_uint_eq(n, strlen(out));
  for (int i = 0; i < 2; i++) {
    char *again = NULL;
    const char *other = i ? ".target sm_80\n//MLGA x\n" : out;
    ck_assert_int_eq(mlg_cl_ptx_retarget(other, strlen(other), &again, &n), -1);
    ck_assert_ptr_null(again);
  }
  free(out);
}
END_TEST

START_TEST(test_two_sessions) {
  mlg_runtime *rt = cpu_runtime("");
  mlg_model *m = load(rt, GOOD, NULL, MLG_OK);
  mlg_session *a = NULL, *b = NULL;
  ck_assert_int_eq(mlg_session_create(m, &a), MLG_OK);
  ck_assert_int_eq(mlg_session_create(m, &b), MLG_OK);
  float xa[4] = {1, 2, 3, 4}, xb[4] = {10, 20, 30, 40}, y[4];
  ck_assert_int_eq(mlg_session_set_input(a, "x", xa, sizeof xa), MLG_OK);
  ck_assert_int_eq(mlg_session_set_input(b, "x", xb, sizeof xb), MLG_OK);
  ck_assert_int_eq(mlg_session_run(a), MLG_OK);
  ck_assert_int_eq(mlg_session_run(b), MLG_OK);
  /* Each session keeps its own outputs. */
  ck_assert_int_eq(mlg_session_get_output(a, "y", y, sizeof y), MLG_OK);
  for (int i = 0; i < 4; i++) ck_assert(y[i] == xa[i] * 2 + W[i]);
  ck_assert_int_eq(mlg_session_get_output(b, "y", y, sizeof y), MLG_OK);
  for (int i = 0; i < 4; i++) ck_assert(y[i] == xb[i] * 2 + W[i]);
  mlg_session_destroy(a);
  run_and_check(b, 7.0f, W);
  mlg_session_destroy(b);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

START_TEST(test_weights_file) {
  char dir[4096], path[4200];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  mlg_runtime *rt = cpu_runtime("");
  bundle_spec no_weights = GOOD;
  no_weights.has_weights = 0;

  load(rt, no_weights, NULL, MLG_ERR_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "'w'"));

  float other[4] = {1, 2, 3, 4};
  write_safetensors(path, "{\"other\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", other,
                    sizeof other);
  load(rt, no_weights, path, MLG_ERR_NOT_FOUND);
  ck_assert_msg(strstr(mlg_last_error(), "weight 'w' (f32[4]) is missing") != NULL, "%s", mlg_last_error());
  ck_assert_ptr_null(strstr(mlg_last_error(), "did you mean"));
  /* A file that binds nothing of a bundle with weights is a mistake too: both lists named. */
  load(rt, GOOD, path, MLG_ERR_NOT_FOUND);
  ck_assert_msg(strstr(mlg_last_error(), "would bind nothing") && strstr(mlg_last_error(), "the file has 'other'") &&
                    strstr(mlg_last_error(), "weights are 'w'"), "%s", mlg_last_error());

  write_safetensors(path, "{\"W\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", other,
                    sizeof other);
  load(rt, no_weights, path, MLG_ERR_NOT_FOUND);
  ck_assert_msg(strstr(mlg_last_error(), "is missing") && strstr(mlg_last_error(), "did you mean 'W'?"), "%s",
                mlg_last_error());

  write_safetensors(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", other,
                    sizeof other);
  load(rt, no_weights, path, MLG_ERR_MISMATCH);
  ck_assert_msg(strstr(mlg_last_error(), "'w'") && strstr(mlg_last_error(), "f32[2, 2]") &&
                    strstr(mlg_last_error(), "f32[4]"), "%s", mlg_last_error());

  write_safetensors(path, "{\"w\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}", other,
                    sizeof other);
  load(rt, no_weights, path, MLG_ERR_MISMATCH);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "i32[4]"));

  /* The right tensor plus one the model does not use: the extra is ignored. */
  float both[8] = {5, 6, 7, 8, 10, 20, 30, 40};
  write_safetensors(path,
                    "{\"extra\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}",
                    both, sizeof both);
  mlg_model *m = load(rt, no_weights, path, MLG_OK);
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 1.0f, both + 4);
  mlg_session_destroy(s);
  mlg_model_destroy(m);

  /* A weights file replaces the weights of a bundle that has them too. */
  m = load(rt, GOOD, path, MLG_OK);
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 2.0f, both + 4);
  mlg_session_destroy(s);
  mlg_model_destroy(m);

  snprintf(path, sizeof path, "%s/absent.safetensors", dir);
  load(rt, GOOD, path, MLG_ERR_IO);
  mlg_runtime_destroy(rt);
  remove_tree(dir);
}
END_TEST

START_TEST(test_bad_bundles) {
  mlg_runtime *rt = cpu_runtime("");
  bundle_spec vk = GOOD;
  vk.target = MLGB_TARGET_VULKAN;
  load(rt, vk, NULL, MLG_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(mlg_last_error(), "vulkan") != NULL, "%s", mlg_last_error());

  bundle_spec broken = GOOD;
  broken.source = "__kernel void mul2(__global float *x, const uint x_off) { this is not C; }\n";
  load(rt, broken, NULL, MLG_ERR_BUILD);
  ck_assert_msg(strstr(mlg_last_error(), "clBuildProgram") && strstr(mlg_last_error(), "CL_BUILD_PROGRAM_FAILURE"),
                "%s", mlg_last_error());

  bundle_spec args = GOOD;
  args.addw_args = 2;
  load(rt, args, NULL, MLG_ERR_FORMAT);
  ck_assert_msg(strstr(mlg_last_error(), "kernel 'addw' takes 6 arguments") != NULL, "%s", mlg_last_error());

  size_t size;
  uint8_t *data = make_bundle(GOOD, &size);
  mlg_model *m = NULL;
  ck_assert_int_eq(mlg_model_load_memory(rt, data, size / 2, NULL, &m), MLG_ERR_FORMAT);
  ck_assert(m == NULL);
  free(data);
  ck_assert_int_eq(mlg_model_load_file(rt, "/nonexistent/model.mlgb", NULL, &m), MLG_ERR_IO);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "/nonexistent/model.mlgb"));
  mlg_runtime_destroy(rt);
}
END_TEST

START_TEST(test_load_file) {
  char dir[4096], path[4200];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/model.mlgb", dir);
  size_t size;
  uint8_t *data = make_bundle(GOOD, &size);
  write_file(path, data, size);
  free(data);
  mlg_runtime *rt = cpu_runtime("");
  mlg_model *m = NULL;
  ck_assert_msg(mlg_model_load_file(rt, path, NULL, &m) == MLG_OK, "%s", mlg_last_error());
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 0.5f, W);
  mlg_session_destroy(s);
  mlg_model_destroy(m);

  /* A source given to the bundle loader: say so, and what to do instead. */
  m = (mlg_model *)1;
  ck_assert_int_eq(mlg_model_load_file(rt, MLG_SOURCE_DIR "/models/mlp.mlg", NULL, &m), MLG_ERR_FORMAT);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(mlg_last_error(), "models/mlp.mlg is mlg source (.mlg), not a compiled bundle") &&
                    strstr(mlg_last_error(), "mlgc MODEL.mlg -o MODEL.mlgb") &&
                    strstr(mlg_last_error(), "'mlgrun MODEL.mlg'"),
                "%s", mlg_last_error());
  static const char text[] = "# a comment\nmodel m {\n}\n";
  ck_assert_int_eq(mlg_model_load_memory(rt, text, sizeof text - 1, NULL, &m), MLG_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "<memory> is mlg source"));
  /* Other bytes keep the reader's own message. */
  static const char junk[] = "hello world, no bundle";
  ck_assert_int_eq(mlg_model_load_memory(rt, junk, sizeof junk - 1, NULL, &m), MLG_ERR_FORMAT);
  ck_assert_ptr_null(strstr(mlg_last_error(), "mlg source"));
  mlg_runtime_destroy(rt);
  remove_tree(dir);
}
END_TEST

static void cache_counts(mlg_model *m, int hits, int misses, int writes) {
  int h, mi, w;
  mlg_model_cache_stats(m, &h, &mi, &w);
  ck_assert_msg(h == hits && mi == misses && w == writes, "cache: %d hits %d misses %d writes, want %d %d %d",
                h, mi, w, hits, misses, writes);
}

static void load_run_destroy(mlg_runtime *rt, int hits, int misses, int writes) {
  mlg_model *m = load(rt, GOOD, NULL, MLG_OK);
  cache_counts(m, hits, misses, writes);
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  run_and_check(s, 3.0f, W);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
}

START_TEST(test_program_cache) {
  char dir[4096], cache[4200], entry[4400];
  temp_dir(dir, sizeof dir);
  /* The cache folder (two levels) does not exist yet: the first load creates it. */
  snprintf(cache, sizeof cache, "%s/a/b", dir);
  mlg_runtime *rt = cpu_runtime(cache);
  load_run_destroy(rt, 0, 1, 1);
  only_entry(cache, entry, sizeof entry);
  ck_assert_ptr_nonnull(strstr(entry, "/opencl-"));
  load_run_destroy(rt, 1, 0, 0);

  /* Garbage in place of the entry: a miss, rebuilt and overwritten, then a hit again. */
  write_file(entry, "garbage, not a program binary", 29);
  load_run_destroy(rt, 0, 1, 1);
  load_run_destroy(rt, 1, 0, 0);

  /* A truncated entry is a miss too. */
  struct stat st;
  ck_assert_int_eq(stat(entry, &st), 0);
  ck_assert_int_eq(truncate(entry, st.st_size / 2), 0);
  load_run_destroy(rt, 0, 1, 1);

  /* A flipped byte in the binary: the checksum catches it. */
  FILE *f = fopen(entry, "r+b");
  ck_assert(f != NULL);
  fseek(f, 60, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 60, SEEK_SET);
  fputc(c ^ 0x5a, f);
  fclose(f);
  load_run_destroy(rt, 0, 1, 1);
  only_entry(cache, entry, sizeof entry); /* no temporary files left behind */
  mlg_runtime_destroy(rt);

  /* A cache folder that cannot be created is not an error: the model still loads and runs. */
  rt = cpu_runtime("/proc/mlg-cannot-create-this");
  load_run_destroy(rt, 0, 1, 0);
  mlg_runtime_destroy(rt);
  remove_tree(dir);
}
END_TEST

START_TEST(test_session_errors) {
  mlg_runtime *rt = cpu_runtime("");
  mlg_model *m = load(rt, GOOD, NULL, MLG_OK);
  mlg_session *s = NULL;
  ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
  float x[5] = {0}, y[4];

  ck_assert_int_eq(mlg_session_run(s), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(mlg_last_error(), "input 'x' was never set") != NULL, "%s", mlg_last_error());

  ck_assert_int_eq(mlg_session_set_input(s, "x", x, 20), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(mlg_last_error(), "input 'x' takes 16 bytes, got 20") != NULL, "%s", mlg_last_error());
  ck_assert_int_eq(mlg_session_set_input(s, "z", x, 16), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(mlg_last_error(), "no input 'z'; its inputs: 'x'") != NULL, "%s", mlg_last_error());
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(mlg_session_get_output(s, "x", y, sizeof y), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(mlg_last_error(), "its outputs: 'y'"));

  ck_assert_int_eq(mlg_session_set_input(s, "x", x, 16), MLG_OK);
  ck_assert_int_eq(mlg_session_run(s), MLG_OK);
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, 12), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, 16), MLG_OK);

  mlg_session_destroy(s);
  ck_assert_int_eq(mlg_session_create(NULL, &s), MLG_ERR_INVALID_ARGUMENT);
  ck_assert(s == NULL);
  ck_assert_str_eq(mlg_status_string(MLG_ERR_BUILD), "kernel build failed");
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

typedef struct thread_job {
  mlg_model *model;
  float scale;
  int failures;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *job = arg;
  mlg_session *s = NULL;
  if (mlg_session_create(job->model, &s) != MLG_OK) {
    job->failures = 1000;
    return NULL;
  }
  for (int r = 0; r < 50; r++) {
    float x[4], y[4];
    for (int i = 0; i < 4; i++) x[i] = job->scale * (float)(r + i);
    if (mlg_session_set_input(s, "x", x, sizeof x) != MLG_OK || mlg_session_run(s) != MLG_OK ||
        mlg_session_get_output(s, "y", y, sizeof y) != MLG_OK) {
      job->failures++;
      continue;
    }
    for (int i = 0; i < 4; i++) job->failures += y[i] != x[i] * 2.0f + W[i];
  }
  /* The last error is per thread: this thread's failure does not show in another's. */
  mlg_session_set_input(s, "nope", NULL, 0);
  if (!strstr(mlg_last_error(), "'nope'")) job->failures++;
  mlg_session_destroy(s);
  return NULL;
}

/* One model, one session per thread, running at the same time. */
START_TEST(test_threads) {
  mlg_runtime *rt = cpu_runtime("");
  mlg_model *m = load(rt, GOOD, NULL, MLG_OK);
  thread_job jobs[3] = {{m, 1.0f, 0}, {m, -2.0f, 0}, {m, 0.25f, 0}};
  pthread_t threads[3];
  for (int t = 0; t < 3; t++) ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_main, &jobs[t]), 0);
  for (int t = 0; t < 3; t++) pthread_join(threads[t], NULL);
  for (int t = 0; t < 3; t++) ck_assert_int_eq(jobs[t].failures, 0);
  ck_assert_ptr_null(strstr(mlg_last_error(), "'nope'"));
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
}
END_TEST

/* Inputs and outputs declared in an order other than the one their tensors are computed in
 * (h before g, a after h) are listed in declaration order at every optimization level. */
static const char ORDER_MODEL[] =
    "model order {\n"
    "  input b : f32[3]\n"
    "  h = relu(b)\n"
    "  input a : f32[3]\n"
    "  g = a * 2.0\n"
    "  output g\n"
    "  output s = h + a\n"
    "  output h\n"
    "}\n";

/* The bundle mlgc makes of source `text` with `opt` (the test fails if it does not compile). */
static uint8_t *compile_text(const char *text, const mlg_compile_options *opt, size_t *out_size) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "test.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  uint8_t *data = NULL;
  ck_assert_int_eq(mlg_compile(&src, opt, &diag, &data, out_size), 0);
  mlg_source_free(&src);
  return data;
}

START_TEST(test_io_declaration_order) {
  static const char *const inputs[] = {"b", "a"}, *const outputs[] = {"g", "s", "h"};
  const float a[3] = {0.5f, -1.0f, 2.0f}, b[3] = {-3.0f, 0.25f, 4.0f};
  mlg_runtime *rt = cpu_runtime("");
  for (int level = 0; level <= 2; level++) {
    size_t size = 0;
    uint8_t *data = compile_text(ORDER_MODEL, &(mlg_compile_options){.target = MLGB_TARGET_OPENCL, .opt_level = level},
                                 &size);
    mlg_model *m = NULL;
    ck_assert_msg(mlg_model_load_memory(rt, data, size, NULL, &m) == MLG_OK, "%s", mlg_last_error());
    free(data);
    mlg_tensor_info info;
    ck_assert_int_eq(mlg_model_input_count(m), 2);
    for (int i = 0; i < 2; i++) {
      ck_assert_int_eq(mlg_model_input_info(m, i, &info), MLG_OK);
      ck_assert_msg(strcmp(info.name, inputs[i]) == 0, "-O%d: input %d is %s, want %s", level, i,
                    info.name, inputs[i]);
    }
    ck_assert_int_eq(mlg_model_output_count(m), 3);
    for (int i = 0; i < 3; i++) {
      ck_assert_int_eq(mlg_model_output_info(m, i, &info), MLG_OK);
      ck_assert_msg(strcmp(info.name, outputs[i]) == 0, "-O%d: output %d is %s, want %s", level,
                    i, info.name, outputs[i]);
    }
    mlg_session *s = NULL;
    ck_assert_int_eq(mlg_session_create(m, &s), MLG_OK);
    ck_assert_int_eq(mlg_session_set_input(s, "a", a, sizeof a), MLG_OK);
    ck_assert_int_eq(mlg_session_set_input(s, "b", b, sizeof b), MLG_OK);
    ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s", mlg_last_error());
    float g[3], sum[3], h[3];
    ck_assert_int_eq(mlg_session_get_output(s, "g", g, sizeof g), MLG_OK);
    ck_assert_int_eq(mlg_session_get_output(s, "s", sum, sizeof sum), MLG_OK);
    ck_assert_int_eq(mlg_session_get_output(s, "h", h, sizeof h), MLG_OK);
    for (int i = 0; i < 3; i++) {
      float relu_b = b[i] > 0.0f ? b[i] : 0.0f;
      ck_assert_float_eq(g[i], a[i] * 2.0f);
      ck_assert_float_eq(h[i], relu_b);
      ck_assert_float_eq(sum[i], relu_b + a[i]);
    }
    mlg_session_destroy(s);
    mlg_model_destroy(m);
  }
  mlg_runtime_destroy(rt);
}
END_TEST

/* Runs in a forked child (Check's default), before anything in it touched the ICD loader. */
/* A convolution compiled for a CPU: its weight's packed layout is a prepare dispatch. */
static const char *PREP_MODEL =
    "model prep {\n"
    "  input x : f32[1, 2, 5, 5]\n"
    "  param w : f32[3, 2, 3, 3] = normal(0, 1, seed=3)\n"
    "  output y = conv2d(x, w, padding=1)\n"
    "}\n";

/* y = conv2d(x, w, padding=1) on the host, in double. */
static void prep_reference(const float *x, const float *w, float *y) {
  for (int o = 0; o < 3; o++)
    for (int i = 0; i < 5; i++)
      for (int j = 0; j < 5; j++) {
        double acc = 0;
        for (int c = 0; c < 2; c++)
          for (int di = 0; di < 3; di++)
            for (int dj = 0; dj < 3; dj++) {
              int r = i + di - 1, q = j + dj - 1;
              if (r >= 0 && r < 5 && q >= 0 && q < 5) acc += (double)x[(c * 5 + r) * 5 + q] * w[((o * 2 + c) * 3 + di) * 3 + dj];
            }
        y[(o * 5 + i) * 5 + j] = (float)acc;
      }
}

/* Runs session s on x and checks y against the host's convolution with w. */
static void prep_run(mlg_session *s, float seed, const float *w, const char *what) {
  float x[50], y[75], want[75];
  for (int i = 0; i < 50; i++) x[i] = sinf(seed * (float)(i + 1));
  ck_assert_msg(mlg_session_set_input(s, "x", x, sizeof x) == MLG_OK, "%s", mlg_last_error());
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s: %s", what, mlg_last_error());
  ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_OK);
  prep_reference(x, w, want);
  for (int i = 0; i < 75; i++)
    ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-4f * (1 + fabsf(want[i])), "%s: y[%d] = %g, want %g", what, i,
                  y[i], want[i]);
}

/* The preparation (bundle.h MLGB_PROGRAM_PREPARE) on each backend: it runs once per session from
 * the weights bound at load (a weights file's, not the bundle's), and what it writes survives
 * every run after. */
START_TEST(test_prepared_weights) {
  static const char *const devices[] = {"cpu", "vulkan:0"};
  const int targets[] = {MLGB_TARGET_OPENCL, MLGB_TARGET_VULKAN};
  char dir[4096], path[4200];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  float w[2][54];
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 54; i++) w[k][i] = cosf((float)(k + 1) * 0.37f * (float)i);
  const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2,3,3],\"data_offsets\":[0,216]}}";
  for (int d = 0; d < 2; d++) {
    mlg_runtime_options opts = {.device = devices[d], .cache_dir = ""};
    mlg_runtime *rt = NULL;
    ck_assert_msg(mlg_runtime_create(&opts, &rt) == MLG_OK, "%s: %s", devices[d], mlg_last_error());
    size_t size = 0;
    uint8_t *data = compile_text(PREP_MODEL, &(mlg_compile_options){.target = targets[d], .opt_level = 2,
                                                                   .device_class = 1}, &size);
    mlgb_bundle *b = NULL;
    char err[512];
    ck_assert_msg(mlgb_read(data, size, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mlgb_program_used(b, MLGB_PROGRAM_PREPARE), "%s: no prepare dispatch", devices[d]);
    mlgb_free(b);
    for (int k = 0; k < 2; k++) {
      write_safetensors(path, header, w[k], sizeof w[k]);
      mlg_load_options lo = {.weights_path = path};
      mlg_model *m = NULL;
      ck_assert_msg(mlg_model_load_memory(rt, data, size, &lo, &m) == MLG_OK, "%s", mlg_last_error());
      mlg_session *s1 = NULL, *s2 = NULL;
      ck_assert_msg(mlg_session_create(m, &s1) == MLG_OK, "%s", mlg_last_error());
      prep_run(s1, 0.5f, w[k], devices[d]);
      ck_assert_msg(mlg_session_create(m, &s2) == MLG_OK, "%s", mlg_last_error());
      prep_run(s2, 1.5f, w[k], devices[d]);
      prep_run(s1, 2.5f, w[k], devices[d]); /* the second run reads what the first session prepared */
      mlg_session_destroy(s1);
      prep_run(s2, 3.5f, w[k], devices[d]);
      mlg_session_destroy(s2);
      mlg_model_destroy(m);
    }
    free(data);
    mlg_runtime_destroy(rt);
  }
  remove_tree(dir);
}
END_TEST

/* A 3×3 convolution wide enough for Winograd (conv2d_winograd.c) under the CPU hint, with the bias,
 * a residual add and relu fused into its output transform: on each backend, the bundle has the
 * Winograd kernels (and, with no_winograd or at -O0, none), its weight transform is prepared,
 * and y matches the convolution computed here in double, run after run. */
#define WINO_C 96
#define WINO_H 16
#define WINO_W 13
static const char *WINO_MODEL =
    "model wino {\n"
    "  input x : f32[1, 96, 16, 13]\n"
    "  param w : f32[96, 96, 3, 3] = zeros\n"
    "  param b : f32[96] = zeros\n"
    "  output y = relu(conv2d(x, w, b, padding=1) + x)\n"
    "}\n";

/* The dispatches of bundle `data` whose kernel's name holds `part`, run by exactly `programs`
 * (0: by any). */
static int dispatches_named(const uint8_t *data, size_t size, const char *part, uint32_t programs) {
  mlgb_bundle *bb = NULL;
  char err[512];
  ck_assert_msg(mlgb_read(data, size, &bb, err, sizeof err) == 0, "%s", err);
  int n = 0;
  for (uint32_t i = 0; i < bb->n_dispatches; i++) {
    const mlgb_dispatch *dp = &bb->dispatches[i];
    n += strstr(bb->kernels[dp->kernel].name, part) && (!programs || dp->programs == programs);
  }
  mlgb_free(bb);
  return n;
}

START_TEST(test_winograd_conv) {
  static const char *const devices[] = {"cpu", "vulkan:0"};
  const int targets[] = {MLGB_TARGET_OPENCL, MLGB_TARGET_VULKAN};
  enum { NX = WINO_C * WINO_H * WINO_W, NW = WINO_C * WINO_C * 9 };
  char dir[4096], path[4200], header[256];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  float *wb = malloc((NW + WINO_C) * sizeof(float)), *x = malloc(NX * sizeof(float));
  float *y = malloc(NX * sizeof(float)), *want = malloc(NX * sizeof(float));
  ck_assert(wb && x && y && want);
  for (int i = 0; i < NW + WINO_C; i++) wb[i] = 0.08f * sinf(0.731f * (float)i + 0.2f);
  for (int i = 0; i < NX; i++) x[i] = cosf(0.377f * (float)i);
  snprintf(header, sizeof header,
           "{\"w\":{\"dtype\":\"F32\",\"shape\":[96,96,3,3],\"data_offsets\":[0,%d]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[96],\"data_offsets\":[%d,%d]}}",
           NW * 4, NW * 4, (NW + WINO_C) * 4);
  write_safetensors(path, header, wb, (NW + WINO_C) * sizeof(float));
  const float *w = wb, *bias = wb + NW;
  for (int o = 0; o < WINO_C; o++)
    for (int i = 0; i < WINO_H; i++)
      for (int j = 0; j < WINO_W; j++) {
        double acc = bias[o];
        for (int c = 0; c < WINO_C; c++)
          for (int di = 0; di < 3; di++)
            for (int dj = 0; dj < 3; dj++) {
              int r = i + di - 1, q = j + dj - 1;
              if (r >= 0 && r < WINO_H && q >= 0 && q < WINO_W)
                acc += (double)x[(c * WINO_H + r) * WINO_W + q] * w[((o * WINO_C + c) * 3 + di) * 3 + dj];
            }
        acc += x[(o * WINO_H + i) * WINO_W + j];
        want[(o * WINO_H + i) * WINO_W + j] = acc > 0 ? (float)acc : 0.0f;
      }
  /* -O0 prepares nothing, so the weight's transform would run on every run: no Winograd. */
  size_t o0_size = 0;
  uint8_t *o0 = compile_text(WINO_MODEL, &(mlg_compile_options){.opt_level = 0, .device_class = 1}, &o0_size);
  ck_assert_int_eq(dispatches_named(o0, o0_size, "wino", 0), 0);
  free(o0);
  for (int d = 0; d < 2; d++) {
    mlg_runtime_options opts = {.device = devices[d], .cache_dir = ""};
    mlg_runtime *rt = NULL;
    ck_assert_msg(mlg_runtime_create(&opts, &rt) == MLG_OK, "%s: %s", devices[d], mlg_last_error());
    for (int off = 0; off < 2; off++) {
      size_t size = 0;
      uint8_t *data = compile_text(WINO_MODEL, &(mlg_compile_options){.target = targets[d], .opt_level = 2,
                                                                     .device_class = 1, .no_winograd = off},
                                   &size);
      /* the weight transform in the preparation */
      int n_wino = dispatches_named(data, size, "wino", 0),
          wino_prepared = dispatches_named(data, size, "wino_weight", MLGB_PROGRAM_PREPARE) == 1;
      ck_assert_msg(off ? n_wino == 0 : n_wino == 3 && wino_prepared,
                    "%s, no_winograd %d: %d Winograd dispatches (weight transform prepared: %d)", devices[d], off,
                    n_wino, wino_prepared);
      mlg_load_options lo = {.weights_path = path};
      mlg_model *m = NULL;
      ck_assert_msg(mlg_model_load_memory(rt, data, size, &lo, &m) == MLG_OK, "%s", mlg_last_error());
      mlg_session *s = NULL;
      ck_assert_msg(mlg_session_create(m, &s) == MLG_OK, "%s", mlg_last_error());
      for (int run = 0; run < 2; run++) {
        memset(y, 0, NX * sizeof(float));
        ck_assert_msg(mlg_session_set_input(s, "x", x, NX * sizeof(float)) == MLG_OK, "%s", mlg_last_error());
        ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s: %s", devices[d], mlg_last_error());
        ck_assert_int_eq(mlg_session_get_output(s, "y", y, NX * sizeof(float)), MLG_OK);
        for (int i = 0; i < NX; i++)
          ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-4f * (1 + fabsf(want[i])),
                        "%s, no_winograd %d, run %d: y[%d] = %g, want %g", devices[d], off, run, i, y[i], want[i]);
      }
      mlg_session_destroy(s);
      mlg_model_destroy(m);
      free(data);
    }
    mlg_runtime_destroy(rt);
  }
  free(wb), free(x), free(y), free(want);
  remove_tree(dir);
}
END_TEST

/* GEMMs under the CPU hint read B in the "nn" kernel's panels (lower_util.c b_packing): the
 * linear's N × K weight and the matmul's K × N weight packed once per session (the
 * preparation), a matmul's deep B (K = 1600) packed on every run. The linear's fused residual
 * add and relu take whole 16-lane vectors of a row on OpenCL (kt_epilogue.plane_vectors), one
 * output at a time on Vulkan. N = 48 is one full 32-column block and a ragged one (scalars) on
 * OpenCL, three 16-column blocks on Vulkan; M = 20 is ragged in blocks of 8 rows. y and z
 * match the host's, in double. */
#define PK_M 20
#define PK_K 40
#define PK_N 48
#define PK_AM 130
#define PK_AK 1600
#define PK_AN 20
#define PK_VN 36
static const char *PACK_MODEL =
    "model packs {\n"
    "  input x : f32[20, 40]\n"
    "  input r : f32[20, 48]\n"
    "  input a : f32[130, 1600]\n"
    "  input bm : f32[1600, 20]\n"
    "  param w : f32[48, 40] = zeros\n"
    "  param b : f32[48] = zeros\n"
    "  param v : f32[20, 36] = zeros\n"
    "  output y = relu(linear(x, w, b) + r)\n"
    "  output z = (a @ bm) @ v\n"
    "}\n";

START_TEST(test_cpu_packed_gemms) {
  static const char *const devices[] = {"cpu", "vulkan:0"};
  const int targets[] = {MLGB_TARGET_OPENCL, MLGB_TARGET_VULKAN};
  enum { NX = PK_M * PK_K, NW = PK_N * PK_K, NY = PK_M * PK_N, NA = PK_AM * PK_AK, NB = PK_AK * PK_AN,
         NV = PK_AN * PK_VN, NZ = PK_AM * PK_VN, NP = NW + PK_N + NV };
  char dir[4096], path[4200], header[512];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  static float params[NP], x[NX], r[NY], a[NA], bm[NB], y[NY], want_y[NY], z[NZ], want_z[NZ];
  static double ab[PK_AM * PK_AN];
  for (int i = 0; i < NP; i++) params[i] = 0.2f * sinf(0.731f * (float)i + 0.2f);
  for (int i = 0; i < NX; i++) x[i] = cosf(0.377f * (float)i);
  for (int i = 0; i < NY; i++) r[i] = 0.5f * sinf(0.151f * (float)i);
  for (int i = 0; i < NA; i++) a[i] = 0.1f * cosf(0.0113f * (float)i);
  for (int i = 0; i < NB; i++) bm[i] = 0.1f * sinf(0.0291f * (float)i + 1.0f);
  snprintf(header, sizeof header,
           "{\"w\":{\"dtype\":\"F32\",\"shape\":[48,40],\"data_offsets\":[0,%d]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[48],\"data_offsets\":[%d,%d]},"
           "\"v\":{\"dtype\":\"F32\",\"shape\":[20,36],\"data_offsets\":[%d,%d]}}",
           NW * 4, NW * 4, (NW + PK_N) * 4, (NW + PK_N) * 4, NP * 4);
  write_safetensors(path, header, params, sizeof params);
  const float *w = params, *bias = params + NW, *v = params + NW + PK_N;
  for (int i = 0; i < PK_M; i++)
    for (int j = 0; j < PK_N; j++) {
      double acc = bias[j] + r[i * PK_N + j];
      for (int k = 0; k < PK_K; k++) acc += (double)x[i * PK_K + k] * w[j * PK_K + k];
      want_y[i * PK_N + j] = acc > 0 ? (float)acc : 0.0f;
    }
  for (int i = 0; i < PK_AM; i++)
    for (int j = 0; j < PK_AN; j++) {
      double acc = 0;
      for (int k = 0; k < PK_AK; k++) acc += (double)a[i * PK_AK + k] * bm[k * PK_AN + j];
      ab[i * PK_AN + j] = acc;
    }
  for (int i = 0; i < PK_AM; i++)
    for (int j = 0; j < PK_VN; j++) {
      double acc = 0;
      for (int k = 0; k < PK_AN; k++) acc += ab[i * PK_AN + k] * v[k * PK_VN + j];
      want_z[i * PK_VN + j] = (float)acc;
    }
  for (int d = 0; d < 2; d++) {
    mlg_runtime_options opts = {.device = devices[d], .cache_dir = ""};
    mlg_runtime *rt = NULL;
    ck_assert_msg(mlg_runtime_create(&opts, &rt) == MLG_OK, "%s: %s", devices[d], mlg_last_error());
    size_t size = 0;
    uint8_t *data = compile_text(PACK_MODEL, &(mlg_compile_options){.target = targets[d], .opt_level = 2,
                                                                    .device_class = 1}, &size);
    const int prepared = dispatches_named(data, size, "weight_t", MLGB_PROGRAM_PREPARE),
              per_run = dispatches_named(data, size, "weight_t", MLGB_PROGRAM_RUN);
    ck_assert_msg(prepared == 2 && per_run == 1, "%s: %d packs prepared, %d per run", devices[d], prepared, per_run);
    mlg_load_options lo = {.weights_path = path};
    mlg_model *m = NULL;
    ck_assert_msg(mlg_model_load_memory(rt, data, size, &lo, &m) == MLG_OK, "%s", mlg_last_error());
    mlg_session *s = NULL;
    ck_assert_msg(mlg_session_create(m, &s) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_session_set_input(s, "x", x, sizeof x) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_session_set_input(s, "r", r, sizeof r) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_session_set_input(s, "a", a, sizeof a) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_session_set_input(s, "bm", bm, sizeof bm) == MLG_OK, "%s", mlg_last_error());
    ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s: %s", devices[d], mlg_last_error());
    ck_assert_int_eq(mlg_session_get_output(s, "y", y, sizeof y), MLG_OK);
    ck_assert_int_eq(mlg_session_get_output(s, "z", z, sizeof z), MLG_OK);
    for (int i = 0; i < NY; i++)
      ck_assert_msg(fabsf(y[i] - want_y[i]) <= 1e-4f * (1 + fabsf(want_y[i])), "%s: y[%d] = %g, want %g",
                    devices[d], i, y[i], want_y[i]);
    for (int i = 0; i < NZ; i++)
      ck_assert_msg(fabsf(z[i] - want_z[i]) <= 1e-4f * (1 + fabsf(want_z[i])), "%s: z[%d] = %g, want %g",
                    devices[d], i, z[i], want_z[i]);
    mlg_session_destroy(s);
    mlg_model_destroy(m);
    free(data);
    mlg_runtime_destroy(rt);
  }
  remove_tree(dir);
}
END_TEST

START_TEST(test_no_platform) {
  char dir[4096];
  temp_dir(dir, sizeof dir);
  setenv("OCL_ICD_VENDORS", dir, 1);
  unsetenv("OCL_ICD_FILENAMES");
  setenv("MLG_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1", 1); /* and no Vulkan loader */
  int n = -1;
  ck_assert_int_eq(mlg_list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_int_eq(n, 0);
  mlg_runtime *rt = NULL;
  ck_assert_int_eq(mlg_runtime_create(NULL, &rt), MLG_ERR_NO_DEVICE);
  ck_assert_msg(strstr(mlg_last_error(), "no OpenCL platform or Vulkan device found") &&
                    strstr(mlg_last_error(), "pocl-opencl-icd"), "%s", mlg_last_error());
  remove_tree(dir);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("runtime");
  TCase *tc = tcase_create("opencl");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_list_devices);
  tcase_add_test(tc, test_device_specs);
  tcase_add_test(tc, test_run_exact);
  tcase_add_test(tc, test_kernel_variant);
  tcase_add_test(tc, test_ptx_retarget);
  tcase_add_test(tc, test_two_sessions);
  tcase_add_test(tc, test_weights_file);
  tcase_add_test(tc, test_bad_bundles);
  tcase_add_test(tc, test_load_file);
  tcase_add_test(tc, test_program_cache);
  tcase_add_test(tc, test_session_errors);
  tcase_add_test(tc, test_threads);
  tcase_add_test(tc, test_io_declaration_order);
  tcase_add_test(tc, test_prepared_weights);
  tcase_add_test(tc, test_winograd_conv);
  tcase_add_test(tc, test_cpu_packed_gemms);
  tcase_add_test(tc, test_no_platform);
  suite_add_tcase(suite, tc);
  SRunner *runner = srunner_create(suite);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

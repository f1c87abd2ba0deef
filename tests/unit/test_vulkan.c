/* test_vulkan.c — the Vulkan backend through its vtable on lavapipe (mesa-vulkan-drivers), with
 * the Khronos validation layer on: bundles assembled here with SPIR-V compiled from GLSL by
 * libshaderc, exact numbers, barriers only between dependent dispatches, the pipeline cache,
 * clear errors for bundles the device cannot run, and no loader at all. Every test that opens a
 * device ends by asserting that validation reported nothing. */
#include <check.h>
#include <shaderc/shaderc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../codegen/kir.h"
#include "../codegen/templates/reduce.h"
#include "bundle.h"
#include "vulkan/vulkan_internal.h"

static const mlg_backend *B = &mlg_vulkan_backend;

/* ---- SPIR-V from GLSL ---- */

typedef struct spirv {
  uint8_t *data;
  size_t size;
} spirv;

static spirv compile_glsl(const char *name, const char *source) {
  shaderc_compiler_t c = shaderc_compiler_initialize();
  shaderc_compile_options_t o = shaderc_compile_options_initialize();
  ck_assert(c && o);
  shaderc_compile_options_set_target_env(o, shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_1);
  shaderc_compile_options_set_target_spirv(o, shaderc_spirv_version_1_3);
  shaderc_compilation_result_t r =
      shaderc_compile_into_spv(c, source, strlen(source), shaderc_compute_shader, name, "main", o);
  ck_assert_msg(shaderc_result_get_compilation_status(r) == shaderc_compilation_status_success, "%s: %s", name,
                shaderc_result_get_error_message(r));
  spirv s = {malloc(shaderc_result_get_length(r)), shaderc_result_get_length(r)};
  ck_assert(s.data);
  memcpy(s.data, shaderc_result_get_bytes(r), s.size);
  shaderc_result_release(r);
  shaderc_compile_options_release(o);
  shaderc_compiler_release(c);
  return s;
}

/* The printer's conventions, spelled once for the test shaders. */
#define GLSL_HEAD "#version 450\n"
#define RO(i, name) "layout(std430, set = 0, binding = " #i ") readonly buffer B" #i " { float d[]; } " name ";\n"
#define RW(i, name) "layout(std430, set = 0, binding = " #i ") buffer B" #i " { float d[]; } " name ";\n"
#define OFFSETS(n) "layout(push_constant) uniform P { uint off[" #n "]; } p;\n"

/* t = x * 2 */
static const char *MUL2 = GLSL_HEAD "layout(local_size_x = 4) in;\n" RO(0, "x") RW(1, "t") OFFSETS(2)
    "void main() { uint i = gl_GlobalInvocationID.x; t.d[p.off[1] + i] = x.d[p.off[0] + i] * 2.0; }\n";
/* y = t + w */
static const char *ADDW = GLSL_HEAD "layout(local_size_x = 2) in;\n" RO(0, "t") RO(1, "w") RW(2, "y") OFFSETS(3)
    "void main() { uint i = gl_GlobalInvocationID.x; y.d[p.off[2] + i] = t.d[p.off[0] + i] + w.d[p.off[1] + i]; }\n";
/* y = a + k (k in {1, 3}) */
static const char *ADD1 = GLSL_HEAD "layout(local_size_x = 4) in;\n" RO(0, "a") RW(1, "y") OFFSETS(2)
    "void main() { uint i = gl_GlobalInvocationID.x; y.d[p.off[1] + i] = a.d[p.off[0] + i] + 1.0; }\n";
static const char *MUL3 = GLSL_HEAD "layout(local_size_x = 4) in;\n" RO(0, "a") RW(1, "y") OFFSETS(2)
    "void main() { uint i = gl_GlobalInvocationID.x; y.d[p.off[1] + i] = a.d[p.off[0] + i] * 3.0; }\n";
/* y = a * b */
static const char *MUL = GLSL_HEAD "layout(local_size_x = 4) in;\n" RO(0, "a") RO(1, "b") RW(2, "y") OFFSETS(3)
    "void main() { uint i = gl_GlobalInvocationID.x;\n"
    "  y.d[p.off[2] + i] = a.d[p.off[0] + i] * b.d[p.off[1] + i]; }\n";
/* Per work-group sums of 64 elements, through shared memory. */
static const char *PARTIAL_SUM = GLSL_HEAD "layout(local_size_x = 64) in;\n" RO(0, "x") RW(1, "s") OFFSETS(2)
    "shared float acc[64];\n"
    "void main() {\n"
    "  uint l = gl_LocalInvocationID.x;\n"
    "  acc[l] = x.d[p.off[0] + gl_GlobalInvocationID.x];\n"
    "  barrier();\n"
    "  for (uint n = 32; n > 0; n >>= 1) {\n"
    "    if (l < n) acc[l] += acc[l + n];\n"
    "    barrier();\n"
    "  }\n"
    "  if (l == 0) s.d[p.off[1] + gl_WorkGroupID.x] = acc[0];\n"
    "}\n";
static const char *FINAL_SUM = GLSL_HEAD "layout(local_size_x = 1) in;\n" RO(0, "s") RW(1, "y") OFFSETS(2)
    "void main() { float t = 0.0; for (uint i = 0; i < 4; i++) t += s.d[p.off[0] + i]; y.d[p.off[1]] = t; }\n";
/* Uses binding 3 although the bundle binds 2 tensors. */
static const char *BAD_BINDING = GLSL_HEAD "layout(local_size_x = 4) in;\n" RO(0, "a") RW(3, "y") OFFSETS(2)
    "void main() { uint i = gl_GlobalInvocationID.x; y.d[p.off[1] + i] = a.d[p.off[0] + i]; }\n";

/* ---- bundles ---- */

typedef struct tensor_spec {
  const char *name;
  uint32_t role, region;
  uint64_t offset;
  int64_t n;                 /* f32 elements */
} tensor_spec;

typedef struct kernel_spec {
  const char *name;
  const char *glsl;          /* NULL: the module is given raw */
  uint32_t local;
  uint32_t n_args;
  uint32_t args[4];          /* what every dispatch of the kernel binds */
} kernel_spec;

typedef struct dispatch_spec {
  uint32_t kernel;
  uint32_t groups[3];
} dispatch_spec;

typedef struct model_spec {
  uint32_t target;
  uint32_t alignment;
  uint64_t region_size[MLGB_N_REGIONS];
  int n_tensors;
  tensor_spec tensors[8];
  int n_kernels;
  kernel_spec kernels[4];
  int n_dispatches;
  dispatch_spec dispatches[4];
  const float *weights;      /* region_size[0] / 4 floats, or NULL */
  int opencl_module;         /* 1: module 0 is OpenCL C source */
  uint64_t features;         /* required_features */
} model_spec;

/* A bundle read back through mlgb_read, as the runtime would hold it. */
static mlgb_bundle *make_bundle(const model_spec *spec) {
  mlgb_tensor tensors[8];
  mlgb_module modules[4];
  mlgb_kernel kernels[4];
  spirv code[4] = {{0}};
  memset(tensors, 0, sizeof tensors);
  for (int i = 0; i < spec->n_tensors; i++) {
    const tensor_spec *t = &spec->tensors[i];
    tensors[i] = (mlgb_tensor){.name = (char *)t->name, .dtype = MLGB_F32, .role = t->role, .region = t->region,
                               .rank = 1, .dims = {t->n}, .offset = t->offset, .size = (uint64_t)t->n * 4};
  }
  static char cl_source[] = "__kernel void k(__global float *a, uint a_off) {}\n";
  for (int k = 0; k < spec->n_kernels; k++) {
    const kernel_spec *ks = &spec->kernels[k];
    if (spec->opencl_module && k == 0) {
      modules[k] = (mlgb_module){MLGB_MODULE_OPENCL_C, strlen(cl_source), (uint8_t *)cl_source};
    } else {
      code[k] = compile_glsl(ks->name, ks->glsl);
      modules[k] = (mlgb_module){MLGB_MODULE_SPIRV, code[k].size, code[k].data};
    }
    kernels[k] = (mlgb_kernel){(char *)ks->name, (uint32_t)k, {ks->local, 1, 1}, ks->n_args, 0, 0};
  }
  mlgb_dispatch dispatches[4];
  for (int i = 0; i < spec->n_dispatches; i++) {
    const dispatch_spec *ds = &spec->dispatches[i];
    const kernel_spec *ks = &spec->kernels[ds->kernel];
    dispatches[i] = (mlgb_dispatch){.name = (char *)ks->name, .kernel = ds->kernel,
                                    .groups = {ds->groups[0], ds->groups[1], ds->groups[2]},
                                    .n_args = ks->n_args, .args = (uint32_t *)ks->args,
                                    .programs = MLGB_PROGRAM_RUN};
  }
  mlgb_bundle b = {0};
  b.target = spec->target ? spec->target : MLGB_TARGET_VULKAN;
  b.required_features = spec->features;
  b.model_name = "test_model";
  b.producer = "test_vulkan";
  b.alignment = spec->alignment ? spec->alignment : 256;
  memcpy(b.region_size, spec->region_size, sizeof b.region_size);
  b.n_tensors = (uint32_t)spec->n_tensors;
  b.tensors = tensors;
  b.n_modules = (uint32_t)spec->n_kernels;
  b.modules = modules;
  b.n_kernels = (uint32_t)spec->n_kernels;
  b.kernels = kernels;
  b.n_dispatches = (uint32_t)spec->n_dispatches;
  b.dispatches = dispatches;
  b.has_params = 1;
  static const float no_weights[1024];
  b.weights_size = mlgb_weights_size(&b);
  b.weights = malloc(b.weights_size + 1);
  ck_assert_ptr_nonnull(b.weights);
  const uint8_t *images[MLGB_N_REGIONS] = {(const uint8_t *)(spec->weights ? spec->weights : no_weights)};
  mlgb_weights_pack(&b, images, b.weights);
  uint8_t *data;
  size_t size;
  char err[512];
  ck_assert_msg(mlgb_write(&b, &data, &size, err, sizeof err) == 0, "mlgb_write: %s", err);
  for (int k = 0; k < spec->n_kernels; k++) free(code[k].data);
  free(b.weights);
  mlgb_bundle *out = NULL;
  ck_assert_msg(mlgb_read(data, size, &out, err, sizeof err) == 0, "mlgb_read: %s", err);
  free(data);
  return out;
}

/* y = x * 2 + w through t in the arena. Every tensor but x sits at a nonzero offset and the
 * weights around w are 99s, so a kernel that ignored its offsets would give other numbers. */
static float W_REGION[128];
static model_spec double_add(void) {
  for (int i = 0; i < 128; i++) W_REGION[i] = 99.0f;
  W_REGION[64] = 0.5f, W_REGION[65] = 1.0f, W_REGION[66] = 1.5f, W_REGION[67] = 2.0f;
  model_spec s = {
      .region_size = {512, 512, 512},
      .n_tensors = 4,
      .tensors = {{"x", MLGB_ROLE_INPUT, MLGB_REGION_IO, 0, 4},
                  {"w", MLGB_ROLE_PARAM, MLGB_REGION_WEIGHTS, 256, 4},
                  {"t", MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 256, 4},
                  {"y", MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 256, 4}},
      .n_kernels = 2,
      .kernels = {{"mul2", MUL2, 4, 2, {0, 2}}, {"addw", ADDW, 2, 3, {2, 1, 3}}},
      .n_dispatches = 2,
      .dispatches = {{0, {1, 1, 1}}, {1, {2, 1, 1}}},
      .weights = W_REGION,
  };
  return s;
}

/* ---- device, model, session ---- */

static mlg_backend_device *open_device_profiling(int profiling) {
  mlg_backend_device *dev = NULL;
  mlg_device_info info;
  mlg_status st = B->device_create(0, profiling, &dev, &info);
  ck_assert_msg(st == MLG_OK, "device_create: %s", mlg_last_error());
  ck_assert_str_eq(info.spec, "vulkan:0");
  return dev;
}

static mlg_backend_device *open_device(void) { return open_device_profiling(0); }

/* Closes the device and fails the test if validation reported anything on it. */
static void close_device(mlg_backend_device *dev) {
  int warnings = 0;
  int errors = mlg_vk_validation_errors(dev, &warnings);
  B->device_destroy(dev);
  ck_assert_msg(errors == 0, "%d Vulkan validation errors (see stderr)", errors);
  ck_assert_msg(warnings == 0, "%d Vulkan validation warnings (see stderr)", warnings);
}

/* The weights region's image, as the runtime builds it from the bundle (model.c). */
static uint8_t *weights_image(const mlgb_bundle *b) {
  uint8_t *image = calloc(1, b->region_size[MLGB_REGION_WEIGHTS] + 1);
  ck_assert_ptr_nonnull(image);
  uint8_t *images[MLGB_N_REGIONS] = {image};
  mlgb_weights_unpack(b, images);
  return image;
}

static mlg_backend_model *load(mlg_backend_device *dev, const mlgb_bundle *b, const char *cache_dir,
                               mlg_backend_cache_stats *stats) {
  mlg_backend_model *m = NULL;
  uint8_t *image = weights_image(b);
  mlg_status st = B->upload(dev, b, image, &m);
  free(image);
  ck_assert_msg(st == MLG_OK, "upload: %s", mlg_last_error());
  mlg_backend_cache_stats none = {0};
  st = B->build(m, cache_dir, stats ? stats : &none, NULL, NULL);
  ck_assert_msg(st == MLG_OK, "build: %s", mlg_last_error());
  return m;
}

/* Loads a bundle that must fail, at upload or build, with `want` and a message containing
 * `needle`. */
static void load_fails(mlg_backend_device *dev, const mlgb_bundle *b, mlg_status want, const char *needle) {
  mlg_backend_model *m = NULL;
  mlg_backend_cache_stats stats = {0};
  uint8_t *image = weights_image(b);
  mlg_status st = B->upload(dev, b, image, &m);
  free(image);
  if (st == MLG_OK) {
    st = B->build(m, NULL, &stats, NULL, NULL);
    B->model_destroy(m);
  } else {
    ck_assert(m == NULL);
  }
  ck_assert_msg(st == want, "got %s (%s), want %s", mlg_status_string(st), mlg_last_error(), mlg_status_string(want));
  ck_assert_msg(strstr(mlg_last_error(), needle), "message '%s' lacks '%s'", mlg_last_error(), needle);
}

/* Transfers for every input and output in table order, as mlg_session builds them. */
typedef struct host_io {
  mlg_transfer t[8];
  float data[8][256];
  int n_in, n_out;
} host_io;

static void host_io_init(host_io *io, const mlgb_bundle *b) {
  memset(io, 0, sizeof *io);
  int n = 0;
  for (int pass = 0; pass < 2; pass++)
    for (uint32_t i = 0; i < b->n_tensors; i++) {
      const mlgb_tensor *t = &b->tensors[i];
      if (t->role != (pass == 0 ? MLGB_ROLE_INPUT : MLGB_ROLE_OUTPUT)) continue;
      ck_assert(t->size <= sizeof io->data[n]);
      io->t[n] = (mlg_transfer){t->name, t->region, t->offset, t->size, io->data[n]};
      n++;
      if (pass == 0) io->n_in++;
      else io->n_out++;
    }
}

static void run(mlg_backend_session *s, host_io *io) {
  mlg_status st = B->run(s, MLGB_PROGRAM_RUN, io->t, io->n_in, io->t + io->n_in, io->n_out);
  ck_assert_msg(st == MLG_OK, "run: %s", mlg_last_error());
}

/* ---- tests ---- */

START_TEST(test_list_devices) {
  int n = -1;
  ck_assert_int_eq(B->list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_msg(n >= 1, "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
  mlg_device_info info[8];
  int m = 0;
  ck_assert_int_eq(B->list_devices(info, 8, &m), MLG_OK);
  ck_assert_int_eq(m, n);
  int lavapipe = -1;
  for (int i = 0; i < m && i < 8; i++) {
    char spec[32];
    snprintf(spec, sizeof spec, "vulkan:%d", i);
    ck_assert_str_eq(info[i].spec, spec);
    ck_assert_str_eq(info[i].backend, "vulkan");
    ck_assert(info[i].name[0] && info[i].driver[0]);
    ck_assert(strncmp(info[i].platform, "Vulkan 1.", 9) == 0);
    if (strstr(info[i].name, "llvmpipe")) lavapipe = i;
  }
  ck_assert_msg(lavapipe >= 0, "lavapipe is not among the Vulkan devices");
  ck_assert_int_eq(info[lavapipe].is_gpu, 0);
  ck_assert(info[lavapipe].global_mem_bytes > 0 && info[lavapipe].local_mem_bytes >= 16384);
}
END_TEST

START_TEST(test_double_add) {
  mlg_backend_device *dev = open_device();
  model_spec spec = double_add();
  mlgb_bundle *b = make_bundle(&spec);
  mlg_backend_model *m = load(dev, b, NULL, NULL);
  mlg_backend_session *s = NULL;
  ck_assert_msg(B->record(m, NULL, &s) == MLG_OK, "record: %s", mlg_last_error());
  ck_assert_int_eq(s->n_recorded_dispatches, 2);
  ck_assert_int_eq(s->n_compute_barriers, 1); /* addw reads t, which mul2 wrote */
  host_io io;
  host_io_init(&io, b);
  ck_assert_int_eq(io.n_in, 1);
  ck_assert_int_eq(io.n_out, 1);
  /* Several runs on one recording, with different inputs each time. */
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < 4; i++) io.data[0][i] = (float)(i + 1 + 10 * r);
    run(s, &io);
    for (int i = 0; i < 4; i++)
      ck_assert_float_eq(io.data[1][i], (float)(i + 1 + 10 * r) * 2.0f + 0.5f * (float)(i + 1));
  }
  /* A second session of the same model has its own io and arena. */
  mlg_backend_session *s2 = NULL;
  ck_assert(B->record(m, NULL, &s2) == MLG_OK);
  host_io io2;
  host_io_init(&io2, b);
  for (int i = 0; i < 4; i++) io2.data[0][i] = -1.0f;
  run(s2, &io2);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(io2.data[1][i], -2.0f + 0.5f * (float)(i + 1));
  B->session_destroy(s2);
  B->session_destroy(s);
  B->model_destroy(m);
  mlgb_free(b);
  close_device(dev);
}
END_TEST

/* a = x + 1 and b = x * 3 are independent (no barrier); y = a * b reads both (one barrier); then
 * a = x + 1 again overwrites the range that y = a * b read (another). */
START_TEST(test_barriers_only_where_needed) {
  mlg_backend_device *dev = open_device();
  model_spec spec = {
      .region_size = {0, 1024, 1024},
      .n_tensors = 4,
      .tensors = {{"x", MLGB_ROLE_INPUT, MLGB_REGION_IO, 0, 4},
                  {"a", MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 0, 4},
                  {"b", MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 256, 4},
                  {"y", MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 256, 4}},
      .n_kernels = 3,
      .kernels = {{"add1", ADD1, 4, 2, {0, 1}}, {"mul3", MUL3, 4, 2, {0, 2}}, {"mul", MUL, 4, 3, {1, 2, 3}}},
      .n_dispatches = 4,
      .dispatches = {{0, {1, 1, 1}}, {1, {1, 1, 1}}, {2, {1, 1, 1}}, {0, {1, 1, 1}}},
  };
  mlgb_bundle *b = make_bundle(&spec);
  mlg_backend_model *m = load(dev, b, NULL, NULL);
  mlg_backend_session *s = NULL;
  ck_assert_msg(B->record(m, NULL, &s) == MLG_OK, "record: %s", mlg_last_error());
  ck_assert_int_eq(s->n_recorded_dispatches, 4);
  ck_assert_int_eq(s->n_compute_barriers, 2);
  host_io io;
  host_io_init(&io, b);
  for (int i = 0; i < 4; i++) io.data[0][i] = (float)i;
  run(s, &io);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(io.data[1][i], (float)(i + 1) * (float)(3 * i));
  B->session_destroy(s);
  B->model_destroy(m);
  mlgb_free(b);
  close_device(dev);
}
END_TEST

START_TEST(test_shared_memory_reduction) {
  mlg_backend_device *dev = open_device();
  model_spec spec = {
      .region_size = {0, 2048, 256},
      .n_tensors = 3,
      .tensors = {{"x", MLGB_ROLE_INPUT, MLGB_REGION_IO, 0, 256},
                  {"s", MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 0, 4},
                  {"y", MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 1024, 1}},
      .n_kernels = 2,
      .kernels = {{"partial_sum", PARTIAL_SUM, 64, 2, {0, 1}}, {"final_sum", FINAL_SUM, 1, 2, {1, 2}}},
      .n_dispatches = 2,
      .dispatches = {{0, {4, 1, 1}}, {1, {1, 1, 1}}},
  };
  mlgb_bundle *b = make_bundle(&spec);
  mlg_backend_model *m = load(dev, b, NULL, NULL);
  mlg_backend_session *s = NULL;
  ck_assert_msg(B->record(m, NULL, &s) == MLG_OK, "record: %s", mlg_last_error());
  ck_assert_int_eq(s->n_compute_barriers, 1);
  host_io io;
  host_io_init(&io, b);
  for (int i = 0; i < 256; i++) io.data[0][i] = (float)i;
  run(s, &io);
  ck_assert_float_eq(io.data[1][0], 255.0f * 256.0f / 2.0f);
  B->session_destroy(s);
  B->model_destroy(m);
  mlgb_free(b);
  close_device(dev);
}
END_TEST

/* Profiling devices time each recorded dispatch; others say they cannot. */
START_TEST(test_profile) {
  for (int profiling = 0; profiling < 2; profiling++) {
    mlg_backend_device *dev = open_device_profiling(profiling);
    model_spec spec = double_add();
    mlgb_bundle *b = make_bundle(&spec);
    mlg_backend_model *m = load(dev, b, NULL, NULL);
    mlg_backend_session *s = NULL;
    ck_assert(B->record(m, NULL, &s) == MLG_OK);
    ck_assert_int_eq(s->n_recorded_dispatches, 2);
    host_io io;
    host_io_init(&io, b);
    run(s, &io);
    uint64_t ns[2] = {0, 0};
    mlg_status st = B->profile(s, ns, 2);
    if (profiling) {
      ck_assert_msg(st == MLG_OK, "profile: %s", mlg_last_error());
      ck_assert(ns[0] > 0 && ns[1] > 0 && ns[0] < 1000000000u && ns[1] < 1000000000u);
    } else {
      ck_assert_int_eq(st, MLG_ERR_UNSUPPORTED);
      ck_assert(strstr(mlg_last_error(), "without profiling"));
    }
    B->session_destroy(s);
    B->model_destroy(m);
    mlgb_free(b);
    close_device(dev);
  }
}
END_TEST

static char cache_dir[256];

static void make_cache_dir(void) {
  snprintf(cache_dir, sizeof cache_dir, "/tmp/mlg_test_vulkan_%ld", (long)getpid());
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void remove_cache_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Loads, checks the counts, and runs the model to the right numbers. */
static void load_expect(mlg_backend_device *dev, const mlgb_bundle *b, int hits, int misses, int writes) {
  mlg_backend_cache_stats stats = {0};
  mlg_backend_model *m = load(dev, b, cache_dir, &stats);
  ck_assert_msg(stats.hits == hits && stats.misses == misses && stats.writes == writes,
                "cache: %d hits, %d misses, %d writes; want %d, %d, %d", stats.hits, stats.misses, stats.writes, hits,
                misses, writes);
  mlg_backend_session *s = NULL;
  ck_assert(B->record(m, NULL, &s) == MLG_OK);
  host_io io;
  host_io_init(&io, b);
  for (int i = 0; i < 4; i++) io.data[0][i] = 1.0f;
  run(s, &io);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(io.data[1][i], 2.0f + 0.5f * (float)(i + 1));
  B->session_destroy(s);
  B->model_destroy(m);
}

/* Rewrites `size` bytes at `offset` of the cache file of the bundle's kernel 0. */
static void patch_cache(mlg_backend_device *dev, const mlgb_bundle *b, long offset, const void *bytes, size_t size,
                        int truncate_after) {
  char path[600];
  const mlgb_kernel *k = &b->kernels[0];
  mlg_vk_cache_path(cache_dir, mlg_vk_cache_key_make(&dev->props, &b->modules[k->module], k->n_params), path,
                    sizeof path);
  FILE *f = fopen(path, "r+b");
  ck_assert_msg(f != NULL, "no cache file %s", path);
  ck_assert_int_eq(fseek(f, offset, SEEK_SET), 0);
  ck_assert_int_eq(fwrite(bytes, 1, size, f), size);
  ck_assert_int_eq(fclose(f), 0);
  if (truncate_after) ck_assert_int_eq(truncate(path, offset + (long)size), 0);
}

START_TEST(test_pipeline_cache) {
  make_cache_dir();
  mlg_backend_device *dev = open_device();
  model_spec spec = double_add();
  mlgb_bundle *b = make_bundle(&spec);
  load_expect(dev, b, 0, 2, 2); /* cold: both pipelines built, an entry written for each */
  load_expect(dev, b, 2, 0, 0); /* warm */

  /* Each entry is checked on its own: a bad one is a miss for its kernel alone, rewritten. */
  uint8_t junk[4] = {0xde, 0xad, 0xbe, 0xef};
  patch_cache(dev, b, 100, junk, sizeof junk, 0); /* corrupted data */
  load_expect(dev, b, 1, 1, 1);
  load_expect(dev, b, 2, 0, 0);

  uint32_t other_device = dev->props.deviceID + 1;
  patch_cache(dev, b, 16, &other_device, 4, 0); /* another device's entry */
  load_expect(dev, b, 1, 1, 1);
  uint32_t other_driver = dev->props.driverVersion + 1;
  patch_cache(dev, b, 20, &other_driver, 4, 0); /* another driver's entry */
  load_expect(dev, b, 1, 1, 1);
  patch_cache(dev, b, 24, junk, sizeof junk, 0); /* another pipelineCacheUUID */
  load_expect(dev, b, 1, 1, 1);
  patch_cache(dev, b, 70, junk, 2, 1); /* truncated */
  load_expect(dev, b, 1, 1, 1);
  load_expect(dev, b, 2, 0, 0);

  /* No temporary files are left behind. */
  char cmd[400];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 2", cache_dir);
  ck_assert_int_eq(system(cmd), 0);
  mlgb_free(b);
  close_device(dev);
  remove_cache_dir();
}
END_TEST

START_TEST(test_bad_bundles) {
  mlg_backend_device *dev = open_device();
  const VkPhysicalDeviceLimits *lim = &dev->props.limits;

  model_spec spec = double_add();
  spec.target = MLGB_TARGET_OPENCL;
  spec.opencl_module = 1;
  mlgb_bundle *b = make_bundle(&spec);
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "targets opencl");
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "--target vulkan");
  mlgb_free(b);

  spec = double_add();
  spec.opencl_module = 1; /* a Vulkan bundle holding OpenCL C */
  b = make_bundle(&spec);
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "module 0 is OpenCL C source");
  mlgb_free(b);

  spec = double_add();
  spec.kernels[0].glsl = BAD_BINDING;
  b = make_bundle(&spec);
  load_fails(dev, b, MLG_ERR_FORMAT, "kernel 'mul2' of model 'test_model' uses descriptor set 0 binding 3");
  mlgb_free(b);

  spec = double_add();
  spec.dispatches[1].groups[0] = lim->maxComputeWorkGroupCount[0] + 1u;
  if (lim->maxComputeWorkGroupCount[0] < UINT32_MAX) {
    b = make_bundle(&spec);
    load_fails(dev, b, MLG_ERR_UNSUPPORTED, "maxComputeWorkGroupCount");
    mlgb_free(b);
  }

  /* A region larger than one storage buffer can address must fail, not be cut short. */
  spec = double_add();
  spec.region_size[MLGB_REGION_ARENA] = (uint64_t)lim->maxStorageBufferRange + 256;
  b = make_bundle(&spec);
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "the arena region has");
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "maxStorageBufferRange");
  mlgb_free(b);

  /* Tensors aligned below 16 bytes: the shaders' vector accesses assume 16 (and the device may
   * need more). */
  spec = double_add();
  spec.alignment = 8;
  b = make_bundle(&spec);
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "aligns tensors to 8 bytes");
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "minStorageBufferOffsetAlignment");
  mlgb_free(b);
  close_device(dev);
}
END_TEST

/* The validation counter does count: a zero-sized buffer is a validation error. */
START_TEST(test_validation_counts) {
  mlg_backend_device *dev = open_device();
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = 0,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
  };
  int before = mlg_vk_validation_errors(dev, NULL);
  VkBuffer buffer = VK_NULL_HANDLE;
  dev->inst.vk.vkCreateBuffer(dev->device, &info, NULL, &buffer);
  if (buffer) dev->inst.vk.vkDestroyBuffer(dev->device, buffer, NULL);
  ck_assert_int_gt(mlg_vk_validation_errors(dev, NULL), before);
  ck_assert_int_eq(mlg_vk_validation_check(dev, before, "the test"), MLG_ERR_DEVICE);
  ck_assert(strstr(mlg_last_error(), "Vulkan validation reported"));
  B->device_destroy(dev);
}
END_TEST

START_TEST(test_no_loader) {
  setenv("MLG_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1", 1);
  int n = -1;
  ck_assert_int_eq(B->list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_int_eq(n, 0);
  mlg_backend_device *dev = (mlg_backend_device *)1;
  mlg_device_info info;
  ck_assert_int_eq(B->device_create(0, 0, &dev, &info), MLG_ERR_NO_DEVICE);
  ck_assert(dev == NULL);
  ck_assert_msg(strstr(mlg_last_error(), "libvulkan1"), "message: %s", mlg_last_error());
  unsetenv("MLG_VULKAN_LIBRARY");
  ck_assert_int_eq(B->list_devices(NULL, 0, &n), MLG_OK);
  ck_assert_int_ge(n, 1);
}
END_TEST

START_TEST(test_no_such_device) {
  mlg_backend_device *dev = NULL;
  mlg_device_info info;
  ck_assert_int_eq(B->device_create(99, 0, &dev, &info), MLG_ERR_NO_DEVICE);
  ck_assert(dev == NULL);
  ck_assert(strstr(mlg_last_error(), "vulkan:99"));
}
END_TEST

/* MLG_VK_SPIN_US: a bad value is refused at device creation; lavapipe is a CPU device, so it
 * blocks by default, and a run that polls its fence first gives the same results. */
START_TEST(test_fence_spin) {
  mlg_backend_device *dev = NULL;
  mlg_device_info info;
  const char *bad[] = {"abc", "-1", "1000001", "5us"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    setenv("MLG_VK_SPIN_US", bad[i], 1);
    ck_assert_int_eq(B->device_create(0, 0, &dev, &info), MLG_ERR_INVALID_ARGUMENT);
    ck_assert(dev == NULL);
    ck_assert_msg(strstr(mlg_last_error(), "MLG_VK_SPIN_US"), "message: %s", mlg_last_error());
  }
  unsetenv("MLG_VK_SPIN_US");
  dev = open_device();
  ck_assert_uint_eq(dev->spin_ns, 0);
  close_device(dev);
  setenv("MLG_VK_SPIN_US", "200", 1);
  dev = open_device();
  unsetenv("MLG_VK_SPIN_US");
  ck_assert_uint_eq(dev->spin_ns, 200000);
  model_spec spec = double_add();
  mlgb_bundle *b = make_bundle(&spec);
  mlg_backend_model *m = load(dev, b, NULL, NULL);
  mlg_backend_session *s = NULL;
  ck_assert_msg(B->record(m, NULL, &s) == MLG_OK, "record: %s", mlg_last_error());
  host_io io;
  host_io_init(&io, b);
  for (int i = 0; i < 4; i++) io.data[0][i] = (float)i;
  run(s, &io);
  for (int i = 0; i < 4; i++) ck_assert_float_eq(io.data[1][i], (float)i * 2.0f + 0.5f * (float)(i + 1));
  B->session_destroy(s);
  B->model_destroy(m);
  mlgb_free(b);
  close_device(dev);
}
END_TEST

START_TEST(test_result_names) {
  ck_assert_str_eq(mlg_vk_result_name(VK_ERROR_OUT_OF_DEVICE_MEMORY), "VK_ERROR_OUT_OF_DEVICE_MEMORY");
  ck_assert_str_eq(mlg_vk_result_name(VK_ERROR_DEVICE_LOST), "VK_ERROR_DEVICE_LOST");
  ck_assert_str_eq(mlg_vk_result_name((VkResult)-12345), "VkResult -12345");
  ck_assert_int_eq(mlg_vk_status(VK_ERROR_OUT_OF_DEVICE_MEMORY), MLG_ERR_OUT_OF_MEMORY);
  ck_assert_int_eq(mlg_vk_status(VK_ERROR_DEVICE_LOST), MLG_ERR_DEVICE);
}
END_TEST

/* Reflection reads bindings, NonWritable and the push-constant size. */
START_TEST(test_spirv_reflection) {
  spirv code = compile_glsl("addw", ADDW);
  mlg_spv_info info;
  char err[256];
  ck_assert_int_eq(mlg_spv_reflect(code.data, code.size, &info, err, sizeof err), 0);
  ck_assert(info.has_main);
  ck_assert_int_eq(info.local_size[0], 2);
  ck_assert_int_eq(info.n_bindings, 3);
  ck_assert_int_eq(info.push_constant_size, 12);
  for (uint32_t i = 0; i < info.n_bindings; i++) {
    ck_assert_int_eq(info.bindings[i].set, 0);
    ck_assert_int_eq(info.bindings[i].writable, info.bindings[i].binding == 2);
  }
  code.data[0] ^= 1;
  ck_assert_int_eq(mlg_spv_reflect(code.data, code.size, &info, err, sizeof err), -1);
  ck_assert(strstr(err, "magic"));
  free(code.data);
}
END_TEST

/* ---- subgroup reductions (kt_emit_wg_reduce through the GLSL printer) ---- */

/* y[g] = op over x[g·ls .. g·ls + ls) with one work-group of ls work-items per g, reduced
 * through subgroups. ls need not be a power of two nor a multiple of the subgroup size. */
static char *sg_reduce_glsl(kir_binop op, int ls) {
  kir_module *m = kir_module_new();
  ck_assert_ptr_nonnull(m);
  kir_builder *b = kir_kernel_begin(m, "sg_reduce", ls, 1, 1);
  int bx = kir_buffer_param(b, "x", KIR_F32, KIR_READ);
  int by = kir_buffer_param(b, "y", KIR_F32, KIR_WRITE);
  int sh = kir_local_array(b, "red", KIR_F32, ls);
  int lid = kir_var_new(b, "lid", kir_t(KIR_I32));
  kir_decl(b, lid, kir_local_id(b, 0));
  kir_expr *at = kir_add(b, kir_mul(b, kir_group_id(b, 0), kir_i32(b, ls)), kir_var(b, lid));
  int r = kt_emit_wg_reduce(b, op, kir_load(b, bx, at), sh, lid, ls, 1, "r");
  ck_assert_int_ge(r, 0);
  kir_if(b, kir_bin(b, KIR_EQ, kir_var(b, lid), kir_i32(b, 0)));
  kir_store(b, by, kir_group_id(b, 0), kir_var(b, r));
  kir_end(b);
  kir_kernel *k;
  ck_assert_int_eq(kir_kernel_end(b, &k), 0);
  ck_assert_uint_eq(k->features, KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH);
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(kir_print_glsl_kernel(k, f), 0);
  fclose(f);
  kir_module_free(m);
  return text;
}

/* Every op at work-group sizes below, at, above and across the subgroup size (lavapipe: 8 at
 * 256-bit vectors; the test_vulkan_sg4/_sg16 runs set LP_NATIVE_VECTOR_WIDTH for 4 and 16),
 * exact against the host: the inputs are small integers, so every order sums exactly. */
START_TEST(test_subgroup_reduce_sizes) {
  static const int sizes[] = {1, 3, 4, 7, 8, 13, 32, 100, 250};
  static const kir_binop ops[] = {KIR_ADD, KIR_MAX, KIR_MIN};
  mlg_backend_device *dev = open_device();
  ck_assert_msg(dev->subgroup_arithmetic, "lavapipe reports no subgroup arithmetic");
  ck_assert(dev->subgroup_size >= 1);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (size_t oi = 0; oi < 3; oi++) {
      int ls = sizes[si], groups = 250 / ls < 4 ? 250 / ls : 4;
      char *glsl = sg_reduce_glsl(ops[oi], ls);
      model_spec spec = {
          .region_size = {0, 2048, 0},
          .n_tensors = 2,
          .tensors = {{"x", MLGB_ROLE_INPUT, MLGB_REGION_IO, 0, groups * ls},
                      {"y", MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 1024, groups}},
          .n_kernels = 1,
          .kernels = {{"sg_reduce", glsl, (uint32_t)ls, 2, {0, 1}}},
          .n_dispatches = 1,
          .dispatches = {{0, {(uint32_t)groups, 1, 1}}},
          .features = MLGB_FEATURE_SUBGROUP_ARITH,
      };
      mlgb_bundle *b = make_bundle(&spec);
      free(glsl);
      mlg_backend_model *m = load(dev, b, NULL, NULL);
      mlg_backend_session *s = NULL;
      ck_assert(B->record(m, NULL, &s) == MLG_OK);
      host_io io;
      host_io_init(&io, b);
      for (int i = 0; i < groups * ls; i++) io.data[0][i] = (float)((i * 37 + 11) % 23) - 11.0f;
      run(s, &io);
      for (int g = 0; g < groups; g++) {
        float want = io.data[0][g * ls];
        for (int i = 1; i < ls; i++) {
          float v = io.data[0][g * ls + i];
          want = ops[oi] == KIR_ADD ? want + v : ops[oi] == KIR_MAX ? (v > want ? v : want) : (v < want ? v : want);
        }
        ck_assert_msg(io.data[1][g] == want, "op %d, local size %d, subgroup size %u, group %d: %g, want %g",
                      (int)ops[oi], ls, dev->subgroup_size, g, io.data[1][g], want);
      }
      B->session_destroy(s);
      B->model_destroy(m);
      mlgb_free(b);
    }
  close_device(dev);
}
END_TEST

/* A bundle that needs subgroup arithmetic on a device without it: refused at load, saying to
 * recompile without; the same bundle loads once the device has it. */
START_TEST(test_subgroup_refusal) {
  mlg_backend_device *dev = open_device();
  char *glsl = sg_reduce_glsl(KIR_ADD, 8);
  model_spec spec = {
      .region_size = {0, 2048, 0},
      .n_tensors = 2,
      .tensors = {{"x", MLGB_ROLE_INPUT, MLGB_REGION_IO, 0, 8}, {"y", MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 1024, 1}},
      .n_kernels = 1,
      .kernels = {{"sg_reduce", glsl, 8, 2, {0, 1}}},
      .n_dispatches = 1,
      .dispatches = {{0, {1, 1, 1}}},
      .features = MLGB_FEATURE_SUBGROUP_ARITH,
  };
  mlgb_bundle *b = make_bundle(&spec);
  free(glsl);
  int had = dev->subgroup_arithmetic;
  dev->subgroup_arithmetic = 0; /* play a device without subgroup arithmetic in compute */
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "compiled with subgroup operations");
  load_fails(dev, b, MLG_ERR_UNSUPPORTED, "recompile with mlgc --target vulkan --subgroups=off");
  /* Bundles that do not need them still load there. */
  model_spec plain = double_add();
  mlgb_bundle *pb = make_bundle(&plain);
  mlg_backend_model *pm = load(dev, pb, NULL, NULL);
  B->model_destroy(pm);
  mlgb_free(pb);
  dev->subgroup_arithmetic = had;
  mlg_backend_model *m = load(dev, b, NULL, NULL);
  B->model_destroy(m);
  mlgb_free(b);
  close_device(dev);
}
END_TEST

static Suite *vulkan_suite(void) {
  Suite *s = suite_create("vulkan");
  TCase *tc = tcase_create("backend");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_result_names);
  tcase_add_test(tc, test_spirv_reflection);
  tcase_add_test(tc, test_list_devices);
  tcase_add_test(tc, test_no_loader);
  tcase_add_test(tc, test_no_such_device);
  tcase_add_test(tc, test_double_add);
  tcase_add_test(tc, test_fence_spin);
  tcase_add_test(tc, test_barriers_only_where_needed);
  tcase_add_test(tc, test_shared_memory_reduction);
  tcase_add_test(tc, test_profile);
  tcase_add_test(tc, test_pipeline_cache);
  tcase_add_test(tc, test_bad_bundles);
  tcase_add_test(tc, test_validation_counts);
  suite_add_tcase(s, tc);
  /* Its own case, so that CK_RUN_CASE=subgroups reruns it at other subgroup sizes. */
  TCase *sg = tcase_create("subgroups");
  tcase_set_timeout(sg, 300);
  tcase_add_test(sg, test_subgroup_reduce_sizes);
  tcase_add_test(sg, test_subgroup_refusal);
  suite_add_tcase(s, sg);
  return s;
}

int main(void) {
  /* Every device these tests open runs under the validation layer, on lavapipe. */
  setenv("MLG_VK_VALIDATION", "1", 1);
  if (!getenv("VK_ICD_FILENAMES") && !getenv("VK_DRIVER_FILES")) {
    struct stat st;
    if (stat("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json", &st) == 0)
      setenv("VK_ICD_FILENAMES", "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json", 1);
  }
  SRunner *sr = srunner_create(vulkan_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

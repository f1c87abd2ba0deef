/* test_bundle.c — the .mlgb reader and writer: a round trip of a bundle that uses every field, a
 * catalogue of corruptions each with its expected message, and exhaustive truncation and
 * byte-flip loops (run under ASan: the reader must never read out of bounds).
 *
 * The byte offsets used to corrupt files are those of docs/bundle.md; they pin the format. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

/* ---- layout constants (docs/bundle.md) ---- */
enum { HDR_SIZE = 312, SEC_TABLE = 48, SEC_ENTRY = 24, TENSOR_REC = 104, KERNEL_REC = 40,
       DISPATCH_REC = 56, MODULE_REC = 24 };
enum { S_STRINGS, S_TENSORS, S_MODULES, S_CODE, S_KERNELS, S_ARGS, S_DISPATCHES, S_PLAN, S_META,
       S_WEIGHTS, S_TRAIN };

static char err[512];

static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static uint8_t *sec_entry(uint8_t *b, int id) { return b + SEC_TABLE + SEC_ENTRY * id; }
static uint64_t sec_off(const uint8_t *b, int id) { return rd64(b + SEC_TABLE + SEC_ENTRY * id + 8); }
static uint8_t *tensor_rec(uint8_t *b, int i) { return b + sec_off(b, S_TENSORS) + TENSOR_REC * i; }
static uint8_t *kernel_rec(uint8_t *b, int i) { return b + sec_off(b, S_KERNELS) + KERNEL_REC * i; }
static uint8_t *dispatch_rec(uint8_t *b, int i) { return b + sec_off(b, S_DISPATCHES) + DISPATCH_REC * i; }

/* Recomputes the checksum (FNV-1a 64 of the file with bytes 24..31 read as zero), so that a
 * corruption reaches the structural checks behind it. */
static void reseal(uint8_t *b, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (i >= 24 && i < 32 ? 0 : b[i])) * 0x100000001b3ull;
  wr64(b + 24, h);
}

/* ---- a bundle that uses every field ---- */

static char *dup(const char *s) {
  char *d = malloc(strlen(s) + 1);
  ck_assert_ptr_nonnull(d);
  return strcpy(d, s);
}

static void set_tensor(mlgb_tensor *t, const char *name, uint32_t dtype, uint32_t role,
                       uint32_t region, uint32_t rank, const int64_t *dims, uint64_t offset) {
  memset(t, 0, sizeof *t);
  t->name = dup(name);
  t->dtype = dtype;
  t->role = role;
  t->region = region;
  t->rank = rank;
  uint64_t numel = 1;
  for (uint32_t d = 0; d < rank; d++) { t->dims[d] = dims[d]; numel *= (uint64_t)dims[d]; }
  t->offset = offset;
  t->size = numel * 4;
}

static const char CL_SOURCE[] = "__kernel void matmul(__global float *a) { a[0] = 1.0f; }\n"
                                "__kernel void bias_relu(__global float *a) { }\n";
static const uint32_t SPIRV_WORDS[6] = { 0x07230203u, 0x00010000u, 0, 8, 0, 0 };

static mlgb_bundle *make_bundle(int with_weights) {
  mlgb_bundle *b = calloc(1, sizeof *b);
  ck_assert_ptr_nonnull(b);
  b->target = MLGB_TARGET_OPENCL;
  b->model_name = dup("mlp");
  b->producer = dup("mlgc 0.1.0");
  b->alignment = 64;
  b->region_size[MLGB_REGION_WEIGHTS] = 192;
  b->region_size[MLGB_REGION_IO] = 192;
  b->region_size[MLGB_REGION_ARENA] = 64;
  b->region_size[MLGB_REGION_PARAMS] = 64;
  b->region_size[MLGB_REGION_STATE] = 64;

  /* A train step: fc2.weight is trained (params region) with a momentum (state region); the
   * step returns loss. */
  b->n_tensors = 9;
  b->tensors = calloc(9, sizeof *b->tensors);
  ck_assert_ptr_nonnull(b->tensors);
  set_tensor(&b->tensors[0], "x", MLGB_F32, MLGB_ROLE_INPUT, MLGB_REGION_IO, 2, (int64_t[]){ 1, 3 }, 0);
  set_tensor(&b->tensors[1], "fc1.weight", MLGB_F32, MLGB_ROLE_PARAM, MLGB_REGION_WEIGHTS, 2,
             (int64_t[]){ 4, 3 }, 0);
  set_tensor(&b->tensors[2], "fc1.bias", MLGB_F32, MLGB_ROLE_PARAM, MLGB_REGION_WEIGHTS, 1,
             (int64_t[]){ 4 }, 64);
  set_tensor(&b->tensors[3], "h", MLGB_F32, MLGB_ROLE_INTERMEDIATE, MLGB_REGION_ARENA, 2,
             (int64_t[]){ 1, 4 }, 0);
  set_tensor(&b->tensors[4], "y", MLGB_F32, MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 2, (int64_t[]){ 1, 4 }, 64);
  set_tensor(&b->tensors[5], "shift", MLGB_I32, MLGB_ROLE_CONST, MLGB_REGION_WEIGHTS, 0, NULL, 128);
  set_tensor(&b->tensors[6], "loss", MLGB_F32, MLGB_ROLE_OUTPUT, MLGB_REGION_IO, 0, NULL, 128);
  set_tensor(&b->tensors[7], "fc2.weight", MLGB_F32, MLGB_ROLE_PARAM, MLGB_REGION_PARAMS, 1,
             (int64_t[]){ 4 }, 0);
  set_tensor(&b->tensors[8], "fc2.weight.momentum_buffer", MLGB_F32, MLGB_ROLE_STATE,
             MLGB_REGION_STATE, 1, (int64_t[]){ 4 }, 0);
  b->has_train = 1;
  b->train_loss = 6;
  b->optimizer = dup("sgd(lr=0.1, momentum=0.9)");

  b->n_modules = 2;
  b->modules = calloc(2, sizeof *b->modules);
  ck_assert_ptr_nonnull(b->modules);
  b->modules[0].kind = MLGB_MODULE_OPENCL_C;
  b->modules[0].size = sizeof CL_SOURCE - 1;
  b->modules[0].data = malloc(sizeof CL_SOURCE);
  memcpy(b->modules[0].data, CL_SOURCE, sizeof CL_SOURCE - 1);
  b->modules[1].kind = MLGB_MODULE_SPIRV;
  b->modules[1].size = sizeof SPIRV_WORDS;
  b->modules[1].data = malloc(sizeof SPIRV_WORDS);
  memcpy(b->modules[1].data, SPIRV_WORDS, sizeof SPIRV_WORDS);

  b->n_kernels = 4;
  b->kernels = calloc(4, sizeof *b->kernels);
  ck_assert_ptr_nonnull(b->kernels);
  mlgb_kernel *k = b->kernels;
  k[0] = (mlgb_kernel){ dup("matmul"), 0, { 8, 8, 1 }, 3, 0, 0 };
  k[1] = (mlgb_kernel){ dup("bias_relu"), 0, { 64, 1, 1 }, 4, 0, 0 };
  k[2] = (mlgb_kernel){ dup("noop"), 1, { 1, 2, 3 }, 0, 0, 0 };
  /* a variant of matmul using the integer dot product, falling back to matmul */
  k[3] = (mlgb_kernel){ dup("matmul_idot"), 0, { 8, 8, 1 }, 3, MLGB_DEVICE_INT_DOT, 1 };

  /* Four dispatches; the first and the last run the same kernel on different tensors. */
  static const uint32_t args0[3] = { 0, 1, 3 }, args1[4] = { 3, 2, 5, 4 }, args3[3] = { 3, 1, 4 };
  b->n_dispatches = 4;
  b->dispatches = calloc(4, sizeof *b->dispatches);
  ck_assert_ptr_nonnull(b->dispatches);
  mlgb_dispatch *d = b->dispatches;
  d[0] = (mlgb_dispatch){ dup("h"), 0, { 1, 2, 3 }, 3, malloc(sizeof args0), 96, 80, 3 };
  memcpy(d[0].args, args0, sizeof args0);
  d[1] = (mlgb_dispatch){ dup("y"), 1, { 4, 1, 1 }, 4, malloc(sizeof args1), 8, 52, 1 };
  memcpy(d[1].args, args1, sizeof args1);
  d[2] = (mlgb_dispatch){ dup(""), 2, { 1, 1, 7 }, 0, NULL, 0, 0, 2 };
  d[3] = (mlgb_dispatch){ dup("%12:h2"), 0, { 1, 2, 3 }, 3, malloc(sizeof args3), 0, 0, 3 };
  memcpy(d[3].args, args3, sizeof args3);

  /* The weights section: the const (4 bytes), between the params (48 + 16 before it, 16 of the
   * trained one after) in a bundle built with them. */
  b->has_params = with_weights;
  b->weights_size = with_weights ? 84 : 4;
  b->weights = malloc(b->weights_size);
  ck_assert_ptr_nonnull(b->weights);
  for (uint64_t i = 0; i < b->weights_size; i++) b->weights[i] = (uint8_t)(i * 7 + 3);
  return b;
}

static void assert_same(const mlgb_bundle *a, const mlgb_bundle *b) {
  ck_assert_uint_eq(a->target, b->target);
  ck_assert_uint_eq(a->required_features, b->required_features);
  ck_assert_str_eq(a->model_name, b->model_name);
  ck_assert_str_eq(a->producer, b->producer);
  ck_assert_uint_eq(a->alignment, b->alignment);
  for (int r = 0; r < MLGB_N_REGIONS; r++) ck_assert_uint_eq(a->region_size[r], b->region_size[r]);
  ck_assert_uint_eq(a->n_tensors, b->n_tensors);
  for (uint32_t i = 0; i < a->n_tensors; i++) {
    const mlgb_tensor *x = &a->tensors[i], *y = &b->tensors[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_uint_eq(x->dtype, y->dtype);
    ck_assert_uint_eq(x->role, y->role);
    ck_assert_uint_eq(x->region, y->region);
    ck_assert_uint_eq(x->rank, y->rank);
    for (int d = 0; d < MLGB_MAX_RANK; d++) ck_assert_int_eq(x->dims[d], y->dims[d]);
    ck_assert_uint_eq(x->offset, y->offset);
    ck_assert_uint_eq(x->size, y->size);
  }
  ck_assert_uint_eq(a->n_modules, b->n_modules);
  for (uint32_t i = 0; i < a->n_modules; i++) {
    ck_assert_uint_eq(a->modules[i].kind, b->modules[i].kind);
    ck_assert_uint_eq(a->modules[i].size, b->modules[i].size);
    ck_assert_mem_eq(a->modules[i].data, b->modules[i].data, a->modules[i].size);
  }
  ck_assert_uint_eq(a->n_kernels, b->n_kernels);
  for (uint32_t i = 0; i < a->n_kernels; i++) {
    const mlgb_kernel *x = &a->kernels[i], *y = &b->kernels[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_uint_eq(x->module, y->module);
    for (int d = 0; d < 3; d++) ck_assert_uint_eq(x->local_size[d], y->local_size[d]);
    ck_assert_uint_eq(x->n_params, y->n_params);
    ck_assert_uint_eq(x->requires, y->requires);
    ck_assert_uint_eq(x->fallback, y->fallback);
  }
  ck_assert_uint_eq(a->n_dispatches, b->n_dispatches);
  for (uint32_t i = 0; i < a->n_dispatches; i++) {
    const mlgb_dispatch *x = &a->dispatches[i], *y = &b->dispatches[i];
    ck_assert_str_eq(x->name, y->name);
    ck_assert_uint_eq(x->kernel, y->kernel);
    for (int d = 0; d < 3; d++) ck_assert_uint_eq(x->groups[d], y->groups[d]);
    ck_assert_uint_eq(x->n_args, y->n_args);
    for (uint32_t j = 0; j < x->n_args; j++) ck_assert_uint_eq(x->args[j], y->args[j]);
    ck_assert_uint_eq(x->flops, y->flops);
    ck_assert_uint_eq(x->bytes, y->bytes);
    ck_assert_uint_eq(x->programs, y->programs);
  }
  ck_assert_int_eq(a->has_train, b->has_train);
  if (a->has_train) {
    ck_assert_uint_eq(a->train_loss, b->train_loss);
    ck_assert_str_eq(a->optimizer, b->optimizer);
  }
  ck_assert_int_eq(a->has_params, b->has_params);
  ck_assert_uint_eq(a->weights_size, b->weights_size);
  if (a->weights_size) ck_assert_mem_eq(a->weights, b->weights, a->weights_size);
}

/* The serialized full bundle; the caller frees. */
static uint8_t *valid_bytes(size_t *out_n) {
  mlgb_bundle *b = make_bundle(1);
  uint8_t *data;
  ck_assert_msg(mlgb_write(b, &data, out_n, err, sizeof err) == 0, "%s", err);
  mlgb_free(b);
  return data;
}

/* ---- round trips ---- */

START_TEST(round_trip_every_field) {
  mlgb_bundle *b = make_bundle(1);
  uint8_t *data;
  size_t n;
  ck_assert_msg(mlgb_write(b, &data, &n, err, sizeof err) == 0, "%s", err);
  ck_assert_mem_eq(data, "MLGB", 4);
  ck_assert_uint_eq(rd64(data + 16), n);
  ck_assert_uint_eq(sec_off(data, S_WEIGHTS) % 64, 0);
  mlgb_bundle *r;
  ck_assert_msg(mlgb_read(data, n, &r, err, sizeof err) == 0, "%s", err);
  assert_same(b, r);
  /* Deterministic: writing what was read gives the same bytes. */
  uint8_t *again;
  size_t n2;
  ck_assert_msg(mlgb_write(r, &again, &n2, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(n, n2);
  ck_assert_mem_eq(data, again, n);
  free(again);
  free(data);
  mlgb_free(r);
  mlgb_free(b);
}
END_TEST

START_TEST(round_trip_no_weights) {
  mlgb_bundle *b = make_bundle(0);
  b->target = MLGB_TARGET_VULKAN;
  b->required_features = MLGB_FEATURE_SUBGROUP_ARITH;
  uint8_t *data;
  size_t n;
  ck_assert_msg(mlgb_write(b, &data, &n, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(rd64(data + 40), MLGB_FEATURE_SUBGROUP_ARITH); /* docs/bundle.md: offset 40 */
  mlgb_bundle *r;
  ck_assert_msg(mlgb_read(data, n, &r, err, sizeof err) == 0, "%s", err);
  assert_same(b, r);
  ck_assert_int_eq(r->has_params, 0);
  /* Only the const travels: 4 bytes of weights, the params are bound at load. */
  ck_assert_uint_eq(rd64(sec_entry(data, S_WEIGHTS) + 16), 4);
  ck_assert_uint_eq(rd64(sec_entry(data, S_TRAIN) + 16), 16); /* one train entry */
  ck_assert_uint_eq(r->weights_size, 4);
  ck_assert_uint_eq(r->target, MLGB_TARGET_VULKAN);
  ck_assert_uint_eq(r->required_features, MLGB_FEATURE_SUBGROUP_ARITH);
  free(data);
  mlgb_free(r);
  mlgb_free(b);
}
END_TEST

START_TEST(round_trip_empty) {
  mlgb_bundle b;
  memset(&b, 0, sizeof b);
  b.target = MLGB_TARGET_OPENCL;
  b.model_name = "";
  b.producer = "p";
  b.alignment = 256;
  uint8_t *data;
  size_t n;
  ck_assert_msg(mlgb_write(&b, &data, &n, err, sizeof err) == 0, "%s", err);
  mlgb_bundle *r;
  ck_assert_msg(mlgb_read(data, n, &r, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(r->model_name, "");
  ck_assert_uint_eq(r->n_tensors + r->n_kernels + r->n_modules + r->n_dispatches, 0);
  free(data);
  mlgb_free(r);
}
END_TEST

/* mlgb_write refuses what mlgb_read would refuse, so the compiler cannot produce a bad file. */
/* Unpacking places each embedded tensor at its offset of the region; packing gathers them back. */
START_TEST(weights_pack_unpack) {
  mlgb_bundle *b = make_bundle(1);
  uint8_t image[192], params[64], packed[84];
  memset(image, 0xee, sizeof image);
  memset(params, 0xee, sizeof params);
  uint8_t *images[MLGB_N_REGIONS] = {image, NULL, NULL, params, NULL};
  ck_assert_uint_eq(mlgb_weights_size(b), 84);
  mlgb_weights_unpack(b, images);
  ck_assert_mem_eq(image + 0, b->weights, 48);        /* fc1.weight at 0 */
  ck_assert_mem_eq(image + 64, b->weights + 48, 16);  /* fc1.bias at 64 */
  ck_assert_mem_eq(image + 128, b->weights + 64, 4);  /* shift at 128 */
  ck_assert_mem_eq(params + 0, b->weights + 68, 16);  /* fc2.weight at 0 of the params region */
  ck_assert_uint_eq(image[48], 0xee);                 /* padding untouched */
  ck_assert_uint_eq(params[16], 0xee);
  const uint8_t *const read_images[MLGB_N_REGIONS] = {image, NULL, NULL, params, NULL};
  mlgb_weights_pack(b, read_images, packed);
  ck_assert_mem_eq(packed, b->weights, 84);
  b->has_params = 0;
  ck_assert_uint_eq(mlgb_weights_size(b), 4);
  mlgb_free(b);
}
END_TEST

START_TEST(write_validates) {
  mlgb_bundle *b = make_bundle(1);
  uint8_t *data = (uint8_t *)1;
  size_t n = 1;
  b->dispatches[0].args[0] = 99;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_null(data);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_nonnull(
      strstr(err, "cannot write bundle: dispatch 0 (kernel 'matmul') argument 0 is tensor 99, bundle has 9"));
  b->dispatches[0].args[0] = 0;
  b->dispatches[3].n_args = 2;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dispatch 3 binds 2 tensors, but kernel 'matmul' has 3 buffer parameters"));
  b->dispatches[3].n_args = 3;
  b->required_features = MLGB_FEATURE_SUBGROUP_ARITH; /* on an OpenCL bundle */
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "cannot write bundle: an OpenCL bundle cannot require subgroup operations"));
  b->target = MLGB_TARGET_VULKAN;
  b->required_features = 1u << 7;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "cannot write bundle: requires unknown features 0x80"));
  b->target = MLGB_TARGET_OPENCL;
  b->required_features = 0;
  b->tensors[1].offset = 4096;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "tensor 1 'fc1.weight' offset 4096 + size 48 exceeds weights region (192 bytes)"));
  b->tensors[1].offset = 0;
  free(b->tensors[4].name);
  b->tensors[4].name = dup("x");
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "tensors 0 and 4 have the same name 'x'"));
  free(b->tensors[4].name);
  b->tensors[4].name = dup("y");
  b->dispatches[2].groups[0] = 0;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dispatch 2 (kernel 'noop') has 0 groups in dimension 0"));
  b->dispatches[2].groups[0] = 1;
  b->alignment = 48;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "alignment 48 is not a power of two"));
  b->alignment = 64;
  b->dispatches[1].programs = 0;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dispatch 1 (kernel 'bias_relu') belongs to programs 0x0 (1 run, 2 train, 3 both, or 4 prepare alone)"));
  b->dispatches[1].programs = 1;
  b->train_loss = 4; /* y: f32[1, 4] */
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "the train step's loss 'y' is not an f32 scalar output in the io region"));
  b->train_loss = 6;
  b->has_train = 0;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dispatch 0 (kernel 'matmul') belongs to programs 0x3 (1 run or 4 prepare: the bundle has no train step)"));
  for (uint32_t i = 0; i < b->n_dispatches; i++) b->dispatches[i].programs = MLGB_PROGRAM_RUN;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "the params region has 64 bytes, but the bundle has no train step"));
  b->has_train = 1;
  b->tensors[8].region = MLGB_REGION_ARENA;
  ck_assert_int_eq(mlgb_write(b, &data, &n, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "tensor 8 'fc2.weight.momentum_buffer' is a state tensor in the arena region (expected state)"));
  b->tensors[8].region = MLGB_REGION_STATE;
  ck_assert_msg(mlgb_write(b, &data, &n, err, sizeof err) == 0, "%s", err);
  free(data);
  mlgb_free(b);
}
END_TEST

/* ---- the corruption catalogue ---- */

typedef struct corruption {
  const char *what;
  void (*apply)(uint8_t *b, size_t *n);
  int reseal;              /* recompute the checksum after the change */
  const char *message;
} corruption;

static void c_magic(uint8_t *b, size_t *n) { b[3] = 'X'; }
static void c_version(uint8_t *b, size_t *n) { wr32(b + 4, 8); }
static void c_version6(uint8_t *b, size_t *n) { wr32(b + 4, 6); }
static void c_version5(uint8_t *b, size_t *n) { wr32(b + 4, 5); }
static void c_version1(uint8_t *b, size_t *n) { wr32(b + 4, 1); }
static void c_version2(uint8_t *b, size_t *n) { wr32(b + 4, 2); }
static void c_version3(uint8_t *b, size_t *n) { wr32(b + 4, 3); }
static void c_version4(uint8_t *b, size_t *n) { wr32(b + 4, 4); }
static void c_features(uint8_t *b, size_t *n) { wr64(b + 40, 6); }
static void c_opencl_subgroups(uint8_t *b, size_t *n) { wr64(b + 40, MLGB_FEATURE_SUBGROUP_ARITH); }
static void c_target(uint8_t *b, size_t *n) { wr32(b + 8, 7); }
static void c_flags(uint8_t *b, size_t *n) { wr32(b + 12, 0x11); }
static void c_flip_weights(uint8_t *b, size_t *n) { b[sec_off(b, S_WEIGHTS) + 5] ^= 0x10; }
static void c_trailing(uint8_t *b, size_t *n) { b[*n] = 0; *n += 1; }
static void c_truncated_body(uint8_t *b, size_t *n) { *n -= 100; }
static void c_section_id(uint8_t *b, size_t *n) { wr32(sec_entry(b, 3), 7); }
static void c_count_vs_size(uint8_t *b, size_t *n) { wr32(sec_entry(b, S_TENSORS) + 4, 1000); }
static void c_oversized_count(uint8_t *b, size_t *n) {
  wr32(sec_entry(b, S_TENSORS) + 4, 1000);
  wr64(sec_entry(b, S_TENSORS) + 16, 1000 * TENSOR_REC);
}
static void c_offset_past_end(uint8_t *b, size_t *n) { wr64(sec_entry(b, S_KERNELS) + 8, *n + 64); }
static void c_offset_overflow(uint8_t *b, size_t *n) { wr64(sec_entry(b, S_ARGS) + 8, UINT64_MAX - 7); }
static void c_section_overlap(uint8_t *b, size_t *n) {
  wr64(sec_entry(b, S_ARGS) + 8, sec_off(b, S_KERNELS));
}
static void c_bad_string(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 1), 100000); }
static void c_string_overflow(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 1) + 4, UINT32_MAX); }
static void c_nul_in_string(uint8_t *b, size_t *n) { b[sec_off(b, S_STRINGS) + 1] = 0; }
static void c_arg_range(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_ARGS), 99); }
static void c_kernel_module(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 1) + 8, 5); }
static void c_dispatch_args_span(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 1) + 28, 40); }
static void c_kernel_reserved(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 0) + 36, 1); }
static void c_kernel_requires(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 3) + 28, 0x81); }
static void c_fallback_range(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 3) + 32, 10); }
static void c_fallback_self(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 3) + 32, 4); }
/* matmul falling back to its own variant: a cycle, refused since requirements must shrink */
static void c_fallback_cycle(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 0) + 32, 4); }
static void c_fallback_params(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 3) + 32, 2); }
static void c_kernel_params(uint8_t *b, size_t *n) {
  wr32(kernel_rec(b, 0) + 24, 2);
  wr32(kernel_rec(b, 3) + 24, 2); /* its variant alike */
}
static void c_kernel_params_huge(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 2) + 24, 1u << 20); }
static void c_local_size(uint8_t *b, size_t *n) {
  wr32(kernel_rec(b, 0) + 12, 64);
  wr32(kernel_rec(b, 0) + 16, 32);
}
static void c_local_zero(uint8_t *b, size_t *n) { wr32(kernel_rec(b, 2) + 20, 0); }
static void c_dispatch_kernel(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 1) + 8, 9); }
static void c_zero_groups(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 0) + 16, 0); }
static void c_dispatch_name(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 1), 100000); }
static void c_outside_region(uint8_t *b, size_t *n) { wr64(tensor_rec(b, 1) + 24, 4096); }
static void c_offset_size_overflow(uint8_t *b, size_t *n) { wr64(tensor_rec(b, 4) + 24, UINT64_MAX - 63); }
static void c_misaligned(uint8_t *b, size_t *n) { wr64(tensor_rec(b, 2) + 24, 68); }
static void c_rank(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 0) + 20, 9); }
static void c_zero_dim(uint8_t *b, size_t *n) { wr64(tensor_rec(b, 1) + 40, 0); }
static void c_numel_overflow(uint8_t *b, size_t *n) {
  wr64(tensor_rec(b, 1) + 40, (uint64_t)1 << 40);
  wr64(tensor_rec(b, 1) + 48, (uint64_t)1 << 40);
}
static void c_size(uint8_t *b, size_t *n) { wr64(tensor_rec(b, 1) + 32, 44); }
static void c_region(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 3) + 16, 5); }
static void c_programs(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 2) + 48, 8); }
static void c_programs_prepare_and_run(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 2) + 48, 5); }
static void c_prepare_binds_io(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 0) + 48, 4); }
static void c_dispatch_reserved(uint8_t *b, size_t *n) { wr32(dispatch_rec(b, 0) + 52, 1); }
static void c_train_reserved(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_TRAIN) + 4, 1); }
static void c_train_loss(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_TRAIN), 12); }
static void c_train_loss_shape(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_TRAIN), 0); }
static void c_train_count(uint8_t *b, size_t *n) { wr32(sec_entry(b, S_TRAIN) + 4, 2); }
static void c_state_region(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 8) + 16, MLGB_REGION_PARAMS); }
static void c_role_region(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 0) + 12, MLGB_ROLE_PARAM); }
static void c_dtype(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 0) + 8, 7); }
/* x (f32[1, 3], 12 bytes) read as bool: 3 bytes. */
static void c_dtype_size(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 0) + 8, MLGB_BOOL); }
static void c_region_size4(uint8_t *b, size_t *n) { wr64(b + sec_off(b, S_PLAN) + 16, 126); }
static void c_duplicate(uint8_t *b, size_t *n) { memcpy(tensor_rec(b, 4), tensor_rec(b, 0), 8); }
static void c_alignment(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_PLAN), 48); }
/* A param turned intermediate: the weights section carries 48 bytes the table no longer embeds. */
static void c_weights_size(uint8_t *b, size_t *n) { wr32(tensor_rec(b, 1) + 12, MLGB_ROLE_INTERMEDIATE); }
static void c_file_size(uint8_t *b, size_t *n) { wr64(b + 16, *n + 4096); }
static void c_module_kind(uint8_t *b, size_t *n) { wr32(b + sec_off(b, S_MODULES) + MODULE_REC, 9); }
static void c_module_range(uint8_t *b, size_t *n) { wr64(b + sec_off(b, S_MODULES) + 16, 1u << 20); }

static const corruption corruptions[] = {
  { "wrong magic", c_magic, 0, "not a bundle: magic is 'MLGX' (expected 'MLGB')" },
  { "wrong version", c_version, 0,
    "bundle version 8 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 1 (before required features)", c_version1, 1,
    "bundle version 1 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 2 (arguments per kernel)", c_version2, 1,
    "bundle version 2 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 3 (f32 and i32 only, before train steps)", c_version3, 1,
    "bundle version 3 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 4 (train steps or types, before both)", c_version4, 1,
    "bundle version 4 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 5 (before kernel variants)", c_version5, 1,
    "bundle version 5 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "version 6 (before the preparation)", c_version6, 1,
    "bundle version 6 not supported by this runtime (expects 7); recompile with this mlgc" },
  { "unknown required features", c_features, 1,
    "bundle corrupt: requires unknown features 0x6; recompile with this mlgc" },
  { "OpenCL bundle requiring subgroups", c_opencl_subgroups, 1,
    "bundle corrupt: an OpenCL bundle cannot require subgroup operations" },
  { "flipped byte", c_flip_weights, 0, "bundle corrupt: checksum mismatch" },
  { "trailing data", c_trailing, 0, "bundle corrupt: trailing data (1 bytes) after the" },
  { "truncated body", c_truncated_body, 0, "bundle truncated: header says the file has" },
  { "file size field", c_file_size, 1, "bundle truncated: header says the file has" },
  { "wrong target value", c_target, 1, "bundle corrupt: unknown target 7" },
  { "unknown flags", c_flags, 1, "bundle corrupt: unknown flags 0x10" },
  { "section id", c_section_id, 1, "section table entry 3 has id 7" },
  { "count vs size", c_count_vs_size, 1, "tensor section has 1000 entries of 104 bytes but size 936" },
  { "oversized count", c_oversized_count, 1, "bundle corrupt: tensor section needs 104000 bytes at offset" },
  { "offset past end", c_offset_past_end, 1, "bundle corrupt: kernel section needs 160 bytes at offset" },
  { "overflowing offset+size", c_offset_overflow, 1,
    "argument section needs 40 bytes at offset 18446744073709551608" },
  { "overlapping sections", c_section_overlap, 1, "argument section at offset" },
  { "bad string index", c_bad_string, 1,
    "bundle corrupt: tensor 1 name (offset 100000, length 10) lies outside the string table" },
  { "overflowing string length", c_string_overflow, 1, "tensor 1 name (offset" },
  { "NUL in a name", c_nul_in_string, 1, "model name contains a NUL byte" },
  { "arg index out of range", c_arg_range, 1,
    "bundle corrupt: dispatch 0 (kernel 'matmul') argument 0 is tensor 99, bundle has 9" },
  { "kernel module out of range", c_kernel_module, 1, "kernel 1 'bias_relu' refers to module 5, bundle has 2" },
  { "dispatch args span", c_dispatch_args_span, 1, "dispatch 1 arguments [3, +40) do not follow on" },
  { "kernel reserved field", c_kernel_reserved, 1, "bundle corrupt: kernel 0 reserved field is not 0" },
  { "unknown kernel requirement", c_kernel_requires, 1,
    "bundle corrupt: kernel 3 'matmul_idot' requires unknown device features 0x80; recompile with this mlgc" },
  { "fallback out of range", c_fallback_range, 1,
    "bundle corrupt: kernel 3 'matmul_idot' falls back to kernel 9, bundle has 4" },
  { "fallback to itself", c_fallback_self, 1,
    "bundle corrupt: kernel 3 'matmul_idot' falls back to kernel 3, which does not require strictly fewer device "
    "features (0x1 vs 0x1)" },
  { "fallback cycle", c_fallback_cycle, 1,
    "bundle corrupt: kernel 0 'matmul' falls back to kernel 3, which does not require strictly fewer device "
    "features (0x1 vs 0x0)" },
  { "fallback with other parameters", c_fallback_params, 1,
    "bundle corrupt: kernel 3 'matmul_idot' and its fallback kernel 1 differ in buffer parameters (a dispatch runs "
    "either)" },
  { "dispatch arity vs kernel", c_kernel_params, 1,
    "bundle corrupt: dispatch 0 binds 3 tensors, but kernel 'matmul' has 2 buffer parameters" },
  { "too many kernel parameters", c_kernel_params_huge, 1,
    "bundle corrupt: kernel 2 'noop' has 1048576 buffer parameters (at most 4096)" },
  { "bad dispatch name", c_dispatch_name, 1, "bundle corrupt: dispatch 1 name (offset 100000" },
  { "local size too large", c_local_size, 1, "local size 64x32x1 exceeds 1024 work-items" },
  { "zero local size", c_local_zero, 1, "kernel 2 'noop' has local size 0 in dimension 2" },
  { "dispatch kernel out of range", c_dispatch_kernel, 1, "dispatch 1 refers to kernel 9, bundle has 4" },
  { "zero groups", c_zero_groups, 1, "dispatch 0 (kernel 'matmul') has 0 groups in dimension 1" },
  { "tensor outside its region", c_outside_region, 1,
    "bundle corrupt: tensor 1 'fc1.weight' offset 4096 + size 48 exceeds weights region (192 bytes)" },
  { "tensor offset overflow", c_offset_size_overflow, 1, "tensor 4 'y' offset 18446744073709551552 + size 16 exceeds io region" },
  { "misaligned offset", c_misaligned, 1, "tensor 2 'fc1.bias' offset 68 is not a multiple of the alignment 64" },
  { "rank too large", c_rank, 1, "tensor 0 'x' has rank 9 (at most 8)" },
  { "zero dimension", c_zero_dim, 1, "tensor 1 'fc1.weight': dimension 0 is 0 (must be >= 1)" },
  { "element count overflow", c_numel_overflow, 1, "tensor 1 'fc1.weight': element count overflows" },
  { "size vs shape", c_size, 1, "tensor 1 'fc1.weight' has size 44 bytes, its shape needs 48" },
  { "region out of range", c_region, 1, "tensor 3 'h' has region 5 (must be < 5)" },
  { "unknown program", c_programs, 1, "dispatch 2 (kernel 'noop') belongs to programs 0x8 (1 run, 2 train, 3 both, or 4 prepare alone)" },
  { "preparation binds an input", c_prepare_binds_io, 1,
    "dispatch 0 (kernel 'matmul') prepares from tensor 0 in the io region (the preparation binds weights and arena tensors only)" },
  { "prepare with the run", c_programs_prepare_and_run, 1,
    "dispatch 2 (kernel 'noop') belongs to programs 0x5 (1 run, 2 train, 3 both, or 4 prepare alone)" },
  { "dispatch reserved field", c_dispatch_reserved, 1, "bundle corrupt: dispatch 0 reserved field is not 0" },
  { "train reserved field", c_train_reserved, 1, "bundle corrupt: reserved train field is not 0" },
  { "loss out of range", c_train_loss, 1, "bundle corrupt: the train step's loss is tensor 12, bundle has 9" },
  { "loss not a scalar", c_train_loss_shape, 1, "the train step's loss 'x' is not an f32 scalar output in the io region" },
  { "two train entries", c_train_count, 1, "bundle corrupt: train section has 2 entries of 16 bytes but size 16" },
  { "state in the params region", c_state_region, 1,
    "tensor 8 'fc2.weight.momentum_buffer' is a state tensor in the params region (expected state)" },
  { "role in wrong region", c_role_region, 1, "tensor 0 'x' is a param tensor in the io region (expected weights)" },
  { "unknown dtype", c_dtype, 1, "tensor 0 'x' has unknown dtype 7" },
  { "size vs dtype", c_dtype_size, 1, "tensor 0 'x' has size 12 bytes, its shape needs 3" },
  { "region size not in words", c_region_size4, 1, "io region size 126 is not a multiple of 4 bytes" },
  { "duplicate names", c_duplicate, 1, "tensors 0 and 4 have the same name 'x'" },
  { "alignment not a power of two", c_alignment, 1, "alignment 48 is not a power of two" },
  { "weights size mismatch", c_weights_size, 1,
    "bundle corrupt: weights section has 84 bytes, but the params and consts it embeds take 36" },
  { "unknown module kind", c_module_kind, 1, "module 1 has unknown kind 9" },
  { "module code out of range", c_module_range, 1, "module 0 code (1048576 bytes at offset 0) lies outside the code section" },
};

START_TEST(corruption_catalogue) {
  const corruption *c = &corruptions[_i];
  size_t n;
  uint8_t *valid = valid_bytes(&n);
  uint8_t *b = calloc(1, n + 16);
  ck_assert_ptr_nonnull(b);
  memcpy(b, valid, n);
  c->apply(b, &n);
  if (c->reseal) reseal(b, n);
  mlgb_bundle *out = (mlgb_bundle *)1;
  err[0] = '\0';
  ck_assert_int_eq(mlgb_read(b, n, &out, err, sizeof err), -1);
  ck_assert_ptr_null(out);
  ck_assert_msg(strstr(err, c->message) != NULL, "%s: expected \"%s\", got \"%s\"", c->what,
                c->message, err);
  free(b);
  free(valid);
}
END_TEST

/* Every length shorter than the header, then every other length: a clean error each time. */
START_TEST(truncated_everywhere) {
  size_t n;
  uint8_t *valid = valid_bytes(&n);
  for (size_t len = 0; len < n; len++) {
    uint8_t *b = malloc(len ? len : 1);   /* exact size, so ASan sees any overread */
    memcpy(b, valid, len);
    mlgb_bundle *out = (mlgb_bundle *)1;
    err[0] = '\0';
    ck_assert_int_eq(mlgb_read(b, len, &out, err, sizeof err), -1);
    ck_assert_ptr_null(out);
    if (len < HDR_SIZE)
      ck_assert_msg(strstr(err, "bundle truncated: header needs 312 bytes") != NULL, "%zu: %s", len, err);
    else
      ck_assert_msg(strstr(err, "bundle truncated: header says the file has") != NULL, "%zu: %s", len, err);
    free(b);
  }
  free(valid);
}
END_TEST

/* Reads a mutated bundle. If accepted, it must be self-consistent: the writer (which checks the
 * same invariants) accepts it and its output reads back equal. */
static void read_or_fail_cleanly(const uint8_t *b, size_t n, size_t where) {
  mlgb_bundle *out = NULL;
  err[0] = '\0';
  if (mlgb_read(b, n, &out, err, sizeof err) != 0) {
    ck_assert_msg(err[0] != '\0', "no message for change at byte %zu", where);
    ck_assert_ptr_null(out);
    return;
  }
  for (uint32_t k = 0; k < out->n_kernels; k++) ck_assert_uint_lt(out->kernels[k].module, out->n_modules);
  for (uint32_t d = 0; d < out->n_dispatches; d++) {
    const mlgb_dispatch *dp = &out->dispatches[d];
    ck_assert_uint_lt(dp->kernel, out->n_kernels);
    ck_assert_uint_eq(dp->n_args, out->kernels[dp->kernel].n_params);
    for (uint32_t a = 0; a < dp->n_args; a++) ck_assert_uint_lt(dp->args[a], out->n_tensors);
  }
  uint8_t *again;
  size_t n2;
  ck_assert_msg(mlgb_write(out, &again, &n2, err, sizeof err) == 0, "byte %zu: %s", where, err);
  mlgb_bundle *back;
  ck_assert_msg(mlgb_read(again, n2, &back, err, sizeof err) == 0, "byte %zu: %s", where, err);
  assert_same(out, back);
  mlgb_free(back);
  free(again);
  mlgb_free(out);
}

/* Flipping any bit is caught (by the checksum if nothing earlier). */
START_TEST(flip_every_byte) {
  size_t n;
  uint8_t *b = valid_bytes(&n);
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      mlgb_bundle *out = (mlgb_bundle *)1;
      ck_assert_msg(mlgb_read(b, n, &out, err, sizeof err) == -1, "flip at %zu bit %d accepted", i, bit);
      ck_assert_ptr_null(out);
      b[i] ^= (uint8_t)(1u << bit);
    }
  }
  free(b);
}
END_TEST

/* The same with the checksum fixed up, so every structural check is exercised. */
START_TEST(flip_every_byte_resealed) {
  size_t n;
  uint8_t *valid = valid_bytes(&n);
  uint8_t *b = malloc(n);
  ck_assert_ptr_nonnull(b);
  static const uint8_t masks[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
  for (size_t i = 0; i < n; i++) {
    if (i >= 24 && i < 32) continue;   /* the checksum itself */
    for (size_t m = 0; m < sizeof masks; m++) {
      memcpy(b, valid, n);
      b[i] ^= masks[m];
      reseal(b, n);
      read_or_fail_cleanly(b, n, i);
    }
  }
  free(b);
  free(valid);
}
END_TEST

START_TEST(read_rejects_bad_arguments) {
  mlgb_bundle *out = (mlgb_bundle *)1;
  ck_assert_int_eq(mlgb_read(NULL, 10, &out, err, sizeof err), -1);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(mlgb_read("MLGB", 4, NULL, err, sizeof err), -1);
  /* A tiny err buffer is truncated, never overrun. */
  char small[8];
  ck_assert_int_eq(mlgb_read("XXXXXXXX", 8, &out, small, sizeof small), -1);
  ck_assert_uint_eq(strlen(small), 7);
  mlgb_free(NULL);
}
END_TEST

static Suite *bundle_suite(void) {
  Suite *s = suite_create("bundle");
  TCase *rt = tcase_create("round_trip");
  tcase_add_test(rt, round_trip_every_field);
  tcase_add_test(rt, round_trip_no_weights);
  tcase_add_test(rt, round_trip_empty);
  tcase_add_test(rt, weights_pack_unpack);
  tcase_add_test(rt, write_validates);
  suite_add_tcase(s, rt);
  TCase *bad = tcase_create("corrupt");
  tcase_set_timeout(bad, 120);
  tcase_add_loop_test(bad, corruption_catalogue, 0, (int)(sizeof corruptions / sizeof corruptions[0]));
  tcase_add_test(bad, truncated_everywhere);
  tcase_add_test(bad, flip_every_byte);
  tcase_add_test(bad, flip_every_byte_resealed);
  tcase_add_test(bad, read_rejects_bad_arguments);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(bundle_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* opencl_device.c — OpenCL platform and device enumeration, device contexts, error names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "opencl_internal.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

const char *mlg_cl_error_name(cl_int err) {
  switch (err) {
#define NAME(code) case code: return #code
    NAME(CL_SUCCESS);
    NAME(CL_DEVICE_NOT_FOUND);
    NAME(CL_DEVICE_NOT_AVAILABLE);
    NAME(CL_COMPILER_NOT_AVAILABLE);
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    NAME(CL_OUT_OF_RESOURCES);
    NAME(CL_OUT_OF_HOST_MEMORY);
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
    NAME(CL_MEM_COPY_OVERLAP);
    NAME(CL_IMAGE_FORMAT_MISMATCH);
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    NAME(CL_BUILD_PROGRAM_FAILURE);
    NAME(CL_MAP_FAILURE);
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    NAME(CL_COMPILE_PROGRAM_FAILURE);
    NAME(CL_LINKER_NOT_AVAILABLE);
    NAME(CL_LINK_PROGRAM_FAILURE);
    NAME(CL_DEVICE_PARTITION_FAILED);
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
    NAME(CL_INVALID_VALUE);
    NAME(CL_INVALID_DEVICE_TYPE);
    NAME(CL_INVALID_PLATFORM);
    NAME(CL_INVALID_DEVICE);
    NAME(CL_INVALID_CONTEXT);
    NAME(CL_INVALID_QUEUE_PROPERTIES);
    NAME(CL_INVALID_COMMAND_QUEUE);
    NAME(CL_INVALID_HOST_PTR);
    NAME(CL_INVALID_MEM_OBJECT);
    NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
    NAME(CL_INVALID_IMAGE_SIZE);
    NAME(CL_INVALID_SAMPLER);
    NAME(CL_INVALID_BINARY);
    NAME(CL_INVALID_BUILD_OPTIONS);
    NAME(CL_INVALID_PROGRAM);
    NAME(CL_INVALID_PROGRAM_EXECUTABLE);
    NAME(CL_INVALID_KERNEL_NAME);
    NAME(CL_INVALID_KERNEL_DEFINITION);
    NAME(CL_INVALID_KERNEL);
    NAME(CL_INVALID_ARG_INDEX);
    NAME(CL_INVALID_ARG_VALUE);
    NAME(CL_INVALID_ARG_SIZE);
    NAME(CL_INVALID_KERNEL_ARGS);
    NAME(CL_INVALID_WORK_DIMENSION);
    NAME(CL_INVALID_WORK_GROUP_SIZE);
    NAME(CL_INVALID_WORK_ITEM_SIZE);
    NAME(CL_INVALID_GLOBAL_OFFSET);
    NAME(CL_INVALID_EVENT_WAIT_LIST);
    NAME(CL_INVALID_EVENT);
    NAME(CL_INVALID_OPERATION);
    NAME(CL_INVALID_GL_OBJECT);
    NAME(CL_INVALID_BUFFER_SIZE);
    NAME(CL_INVALID_MIP_LEVEL);
    NAME(CL_INVALID_GLOBAL_WORK_SIZE);
    NAME(CL_INVALID_PROPERTY);
    NAME(CL_INVALID_IMAGE_DESCRIPTOR);
    NAME(CL_INVALID_COMPILER_OPTIONS);
    NAME(CL_INVALID_LINKER_OPTIONS);
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT);
    NAME(CL_PLATFORM_NOT_FOUND_KHR);
#undef NAME
  }
  static _Thread_local char unknown[32];
  snprintf(unknown, sizeof unknown, "CL error %d", (int)err);
  return unknown;
}

/* All platforms into a malloc'd array; no loader, no ICD or any failure is 0 platforms. */
static cl_uint get_platforms(cl_platform_id **out) {
  *out = NULL;
  cl_uint n = 0;
  if (clGetPlatformIDs(0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
  cl_platform_id *p = calloc(n, sizeof *p);
  if (!p) return 0;
  if (clGetPlatformIDs(n, p, NULL) != CL_SUCCESS) {
    free(p);
    return 0;
  }
  *out = p;
  return n;
}

/* Devices of one platform into a malloc'd array (0 when it has none or the query fails). */
static cl_uint get_devices(cl_platform_id platform, cl_device_id **out) {
  *out = NULL;
  cl_uint n = 0;
  if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
  cl_device_id *d = calloc(n, sizeof *d);
  if (!d) return 0;
  if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, d, NULL) != CL_SUCCESS) {
    free(d);
    return 0;
  }
  *out = d;
  return n;
}

/* Walks every (platform, device) in order; calls visit until it returns nonzero. Returns the
 * number of devices seen. */
typedef int (*device_visitor)(int index, cl_platform_id platform, cl_device_id device, void *ctx);

static int walk_devices(device_visitor visit, void *ctx) {
  cl_platform_id *platforms;
  cl_uint np = get_platforms(&platforms);
  int index = 0, stop = 0;
  for (cl_uint p = 0; p < np && !stop; p++) {
    cl_device_id *devices;
    cl_uint nd = get_devices(platforms[p], &devices);
    for (cl_uint d = 0; d < nd && !stop; d++, index++)
      stop = visit ? visit(index, platforms[p], devices[d], ctx) : 0;
    free(devices);
  }
  free(platforms);
  return index;
}

static void info_string(cl_device_id device, cl_device_info what, char *buf, size_t size) {
  buf[0] = '\0';
  if (clGetDeviceInfo(device, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
  buf[size - 1] = '\0';
}

static void platform_string(cl_platform_id platform, cl_platform_info what, char *buf, size_t size) {
  buf[0] = '\0';
  if (clGetPlatformInfo(platform, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
  buf[size - 1] = '\0';
}

/* cl_nv_device_attribute_query: the CUDA compute capability. */
#define MLG_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define MLG_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#define MLG_VENDOR_NVIDIA 0x10DE

/* NVIDIA's compute capability as major * 10 + minor, or 0 when the device is not NVIDIA's or
 * does not say (no cl_nv_device_attribute_query). */
static int nv_compute_capability(cl_device_id device) {
  cl_uint vendor = 0, major = 0, minor = 0;
  if (clGetDeviceInfo(device, CL_DEVICE_VENDOR_ID, sizeof vendor, &vendor, NULL) != CL_SUCCESS ||
      vendor != MLG_VENDOR_NVIDIA ||
      clGetDeviceInfo(device, MLG_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major, NULL) != CL_SUCCESS ||
      clGetDeviceInfo(device, MLG_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor, NULL) != CL_SUCCESS)
    return 0;
  return (int)(major * 10 + minor);
}

/* FP32 lanes per SM of an NVIDIA compute capability (CUDA C Programming Guide, "Arithmetic
 * Instructions"), or 0 when unknown. */
static int nvidia_lanes_per_sm(int major, int minor) {
  switch (major) {
    case 3: return 192;
    case 5: return 128;
    case 6: return minor == 0 ? 64 : 128;
    case 7: return 64;
    case 8: return minor == 0 ? 64 : 128;
    case 9: case 10: case 11: case 12: return 128;
  }
  return 0;
}

#if defined(__x86_64__) || defined(__i386__)
/* Whether the host is an AMD family 19h core (Zen 3 and Zen 4; with AVX-512, Zen 4). */
static int host_is_amd_family_19h(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
  if (b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u) return 0; /* "AuthenticAMD" */
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  unsigned family = (a >> 8) & 0xfu;
  if (family == 0xfu) family += (a >> 20) & 0xffu;
  return family == 0x19u;
}
#endif

/* FP32 FLOPs per cycle of one core of the host CPU (PoCL's devices run on it): SIMD lanes x 2
 * (an FMA is 2 FLOPs) x 2 FMA units, the count on Intel server cores and AMD Zen 5; Zen 4
 * splits 512-bit operations into two halves on its two 256-bit FMA units and reaches half of
 * it (a loop of independent 512-bit FMAs ran at 32 FLOPs per cycle of its boost clock there). */
static int host_flops_per_cycle(const char **out_isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && host_is_amd_family_19h()) {
    *out_isa = "AVX-512 on Zen 4, 512-bit FMAs in two halves: 8 lanes x 2 FMA units x 2";
    return 32;
  }
  if (__builtin_cpu_supports("avx512f")) {
    *out_isa = "AVX-512: 16 lanes x 2 FMA units x 2";
    return 64;
  }
  if (__builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2")) {
    *out_isa = "AVX2: 8 lanes x 2 FMA units x 2";
    return 32;
  }
  if (__builtin_cpu_supports("avx")) {
    *out_isa = "AVX: 8 lanes, add + mul";
    return 16;
  }
  *out_isa = "SSE: 4 lanes, add + mul";
  return 8;
#else
  *out_isa = "";
  return 0;
#endif
}

/* Peak FP32 rate from units and clock, where the device kind is known (see mlg.h). */
static void estimate_peak(cl_device_id device, cl_device_type type, mlg_device_info *info) {
  info->peak_gflops = 0;
  info->peak_formula[0] = '\0';
  if (info->compute_units <= 0 || info->max_clock_mhz <= 0) return;
  double ghz = info->max_clock_mhz / 1000.0;
  if (type & CL_DEVICE_TYPE_GPU) {
    int cc = nv_compute_capability(device);
    if (!cc) return;
    int major = cc / 10, minor = cc % 10;
    int lanes = nvidia_lanes_per_sm(major, minor);
    if (!lanes) return;
    info->peak_gflops = info->compute_units * (double)lanes * 2.0 * ghz;
    snprintf(info->peak_formula, sizeof info->peak_formula, "%d SMs x %d FP32 lanes (sm_%d%d) x 2 x %d MHz",
             info->compute_units, lanes, major, minor, info->max_clock_mhz);
  } else if (type & CL_DEVICE_TYPE_CPU) {
    const char *isa = "";
    int per_cycle = host_flops_per_cycle(&isa);
    if (!per_cycle) return;
    info->peak_gflops = info->compute_units * (double)per_cycle * ghz;
    snprintf(info->peak_formula, sizeof info->peak_formula, "%d cores x %d FLOP/cycle (%s) x %d MHz",
             info->compute_units, per_cycle, isa, info->max_clock_mhz);
  }
}

static void fill_info(int index, cl_platform_id platform, cl_device_id device, mlg_device_info *info) {
  memset(info, 0, sizeof *info);
  snprintf(info->spec, sizeof info->spec, "opencl:%d", index);
  snprintf(info->backend, sizeof info->backend, "opencl");
  info_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
  platform_string(platform, CL_PLATFORM_NAME, info->platform, sizeof info->platform);
  info_string(device, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
  cl_device_type type = 0;
  cl_uint units = 0;
  cl_ulong global = 0, local = 0;
  clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
  clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
  clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
  info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
  info->compute_units = (int)units;
  info->global_mem_bytes = global;
  info->local_mem_bytes = local;
  cl_uint clock = 0;
  clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof clock, &clock, NULL);
  info->max_clock_mhz = (int)clock;
  estimate_peak(device, type, info);
}

typedef struct list_ctx {
  mlg_device_info *out;
  int capacity;
} list_ctx;

static int list_visit(int index, cl_platform_id platform, cl_device_id device, void *ctx) {
  list_ctx *c = ctx;
  if (index < c->capacity) fill_info(index, platform, device, &c->out[index]);
  return 0;
}

mlg_status mlg_cl_list_devices(mlg_device_info *out_devices, int capacity, int *out_count) {
  list_ctx ctx = {out_devices, out_devices ? capacity : 0};
  *out_count = walk_devices(list_visit, &ctx);
  return MLG_OK;
}

typedef struct find_ctx {
  int want;
  cl_platform_id platform;
  cl_device_id device;
} find_ctx;

static int find_visit(int index, cl_platform_id platform, cl_device_id device, void *ctx) {
  find_ctx *c = ctx;
  if (index != c->want) return 0;
  c->platform = platform;
  c->device = device;
  return 1;
}

int mlg_cl_find_device(int index, cl_platform_id *out_platform, cl_device_id *out_device) {
  find_ctx ctx = {index, NULL, NULL};
  walk_devices(find_visit, &ctx);
  if (!ctx.device) return -1;
  *out_platform = ctx.platform;
  *out_device = ctx.device;
  return 0;
}

/* cl_khr_integer_dot_product (0x1073 CL_DEVICE_INTEGER_DOT_PRODUCT_CAPABILITIES_KHR, bit 0
 * CL_DEVICE_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_PACKED_KHR), spelled here since Debian's headers
 * predate it. The packed form is what kir_dot4x8 prints. */
#define MLG_CL_DEVICE_INTEGER_DOT_PRODUCT_CAPABILITIES_KHR 0x1073
#define MLG_CL_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_PACKED_KHR ((cl_bitfield)1 << 0)

static int has_extension(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  return 0;
}

/* The optional features (mlgb_device_feature) the device reports. The integer dot product is
 * cl_khr_integer_dot_product's packed form, or on NVIDIA (compute capability 6.1 or more, which
 * has no such extension) the PTX dp4a instruction that the printed kernel falls back to. */
static uint32_t optional_features(cl_device_id device) {
  uint32_t features = 0;
  size_t size = 0;
  if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || size == 0) return 0;
  char *ext = malloc(size + 1);
  if (!ext) return 0;
  if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, ext, NULL) == CL_SUCCESS) {
    ext[size] = '\0';
    cl_bitfield caps = 0;
    if (has_extension(ext, "cl_khr_integer_dot_product") &&
        clGetDeviceInfo(device, MLG_CL_DEVICE_INTEGER_DOT_PRODUCT_CAPABILITIES_KHR, sizeof caps, &caps, NULL) ==
            CL_SUCCESS &&
        (caps & MLG_CL_INTEGER_DOT_PRODUCT_INPUT_4x8BIT_PACKED_KHR))
      features |= MLGB_DEVICE_INT_DOT;
    /* Tensor cores: the same driver takes mma.sync m16n8k16 with f16 operands from sm_80 on
     * (measured on an H200, sm_90: exact). */
    int cc = nv_compute_capability(device);
    if (cc >= 61) features |= MLGB_DEVICE_INT_DOT;
    if (cc >= 80) features |= MLGB_DEVICE_PTX_MMA;
    /* Warpgroup products: sm_90a code, which runs on compute capability 9.0 only */
    if (cc == 90) features |= MLGB_DEVICE_PTX_WGMMA;
  }
  free(ext);
  return features;
}

mlg_status mlg_cl_device_create(int index, int enable_profiling, mlg_backend_device **out_device,
                                  mlg_device_info *out_info) {
  *out_device = NULL;
  cl_platform_id platform;
  cl_device_id device;
  if (mlg_cl_find_device(index, &platform, &device) != 0)
    return mlg_fail(MLG_ERR_NO_DEVICE, "OpenCL device opencl:%d disappeared", index);
  fill_info(index, platform, device, out_info);

  cl_bool available = CL_FALSE, compiler = CL_FALSE;
  /* Room for more dimensions than the 3 used: the query fails if the buffer is too small. */
  size_t max_work_group = 0, max_work_item[16] = {0};
  cl_ulong max_alloc = 0;
  cl_bool host_unified = CL_FALSE;
  struct {
    cl_device_info what;
    const char *name;
    size_t size;
    void *out;
  } queries[] = {
      {CL_DEVICE_AVAILABLE, "CL_DEVICE_AVAILABLE", sizeof available, &available},
      {CL_DEVICE_COMPILER_AVAILABLE, "CL_DEVICE_COMPILER_AVAILABLE", sizeof compiler, &compiler},
      {CL_DEVICE_MAX_WORK_GROUP_SIZE, "CL_DEVICE_MAX_WORK_GROUP_SIZE", sizeof max_work_group, &max_work_group},
      {CL_DEVICE_MAX_WORK_ITEM_SIZES, "CL_DEVICE_MAX_WORK_ITEM_SIZES", sizeof max_work_item, max_work_item},
      {CL_DEVICE_MAX_MEM_ALLOC_SIZE, "CL_DEVICE_MAX_MEM_ALLOC_SIZE", sizeof max_alloc, &max_alloc},
  };
  for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
    cl_int err = clGetDeviceInfo(device, queries[q].what, queries[q].size, queries[q].out, NULL);
    if (err != CL_SUCCESS)
      return mlg_fail(MLG_ERR_DEVICE, "clGetDeviceInfo(%s) on '%s' (%s) failed: %s", queries[q].name,
                      out_info->name, out_info->spec, mlg_cl_error_name(err));
  }
  if (!available) return mlg_fail(MLG_ERR_NO_DEVICE, "OpenCL device '%s' (%s) is not available", out_info->name, out_info->spec);
  if (!compiler)
    return mlg_fail(MLG_ERR_UNSUPPORTED, "OpenCL device '%s' (%s) has no kernel compiler", out_info->name,
                    out_info->spec);

  mlg_backend_device *dev = calloc(1, sizeof *dev);
  if (!dev) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory opening %s", out_info->spec);
  dev->platform = platform;
  dev->device = device;
  dev->profiling = enable_profiling;
  snprintf(dev->name, sizeof dev->name, "%s", out_info->name);
  snprintf(dev->driver_version, sizeof dev->driver_version, "%s", out_info->driver);
  platform_string(platform, CL_PLATFORM_VERSION, dev->platform_version, sizeof dev->platform_version);
  dev->max_work_group = max_work_group;
  memcpy(dev->max_work_item, max_work_item, sizeof dev->max_work_item);
  dev->max_alloc = max_alloc;
  dev->features = optional_features(device);
  /* Deprecated in OpenCL 2.0 (a 3.0 driver may refuse it): unknown reads as discrete memory. */
  if (clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof host_unified, &host_unified, NULL) == CL_SUCCESS)
    dev->host_unified = host_unified == CL_TRUE;

  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
  cl_int err = CL_SUCCESS;
  dev->context = clCreateContext(props, 1, &device, NULL, NULL, &err);
  if (err != CL_SUCCESS || !dev->context) {
    free(dev);
    return mlg_fail(MLG_ERR_DEVICE, "clCreateContext on '%s' (%s) failed: %s", out_info->name, out_info->spec,
                    mlg_cl_error_name(err));
  }
  *out_device = dev;
  return MLG_OK;
}

void mlg_cl_device_destroy(mlg_backend_device *dev) {
  if (!dev) return;
  if (dev->context) clReleaseContext(dev->context);
  free(dev);
}

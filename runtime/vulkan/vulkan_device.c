/* vulkan_device.c — the loader, instances (with the validation layer on request), physical
 * device enumeration as vulkan:N, logical devices, VkResult names. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_internal.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"
#define DEFAULT_LOADER "libvulkan.so.1"
#define NVIDIA_VENDOR_ID 0x10deu

const char *mlg_vk_result_name(VkResult r) {
  switch (r) {
#define NAME(code) case code: return #code
    NAME(VK_SUCCESS);
    NAME(VK_NOT_READY);
    NAME(VK_TIMEOUT);
    NAME(VK_EVENT_SET);
    NAME(VK_EVENT_RESET);
    NAME(VK_INCOMPLETE);
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY);
    NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY);
    NAME(VK_ERROR_INITIALIZATION_FAILED);
    NAME(VK_ERROR_DEVICE_LOST);
    NAME(VK_ERROR_MEMORY_MAP_FAILED);
    NAME(VK_ERROR_LAYER_NOT_PRESENT);
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT);
    NAME(VK_ERROR_FEATURE_NOT_PRESENT);
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER);
    NAME(VK_ERROR_TOO_MANY_OBJECTS);
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED);
    NAME(VK_ERROR_FRAGMENTED_POOL);
    NAME(VK_ERROR_UNKNOWN);
    NAME(VK_ERROR_OUT_OF_POOL_MEMORY);
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE);
    NAME(VK_ERROR_FRAGMENTATION);
    NAME(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS);
    NAME(VK_PIPELINE_COMPILE_REQUIRED);
    NAME(VK_ERROR_VALIDATION_FAILED_EXT);
    NAME(VK_ERROR_INVALID_SHADER_NV);
#undef NAME
    default: break;
  }
  static _Thread_local char unknown[32];
  snprintf(unknown, sizeof unknown, "VkResult %d", (int)r);
  return unknown;
}

mlg_status mlg_vk_status(VkResult r) {
  return r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_POOL_MEMORY ||
                 r == VK_ERROR_FRAGMENTED_POOL || r == VK_ERROR_FRAGMENTATION || r == VK_ERROR_TOO_MANY_OBJECTS
             ? MLG_ERR_OUT_OF_MEMORY
             : MLG_ERR_DEVICE;
}

/* ---- loader ---- */

/* Loaded libraries stay loaded for the life of the process: unloading a loader with a driver
 * (and its LLVM) inside is not something drivers survive reliably. One per distinct path. */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char path[512];
  PFN_vkGetInstanceProcAddr gipa;
} loaders[4];

/* Why the last attempt to open the loader failed ("" after one that worked), under loader_lock. */
static char loader_failure[1024];

const char *mlg_vk_why_no_devices(void) {
  static _Thread_local char copy[sizeof loader_failure];
  pthread_mutex_lock(&loader_lock);
  snprintf(copy, sizeof copy, "%s", loader_failure);
  pthread_mutex_unlock(&loader_lock);
  return copy;
}

/* vkGetInstanceProcAddr of $MLG_VULKAN_LIBRARY (default libvulkan.so.1), or NULL with `why`. A
 * loader the user named that does not open is worth a warning (once): no Vulkan device would be
 * listed, and nothing else would say why. */
static PFN_vkGetInstanceProcAddr open_loader(char *why, size_t why_size) {
  static int warned;
  const char *path = getenv("MLG_VULKAN_LIBRARY");
  int named = path && *path;
  if (!named) path = DEFAULT_LOADER;
  PFN_vkGetInstanceProcAddr gipa = NULL;
  pthread_mutex_lock(&loader_lock);
  int slot = -1;
  for (int i = 0; i < 4 && slot < 0; i++)
    if (loaders[i].gipa && strcmp(loaders[i].path, path) == 0) slot = i;
  if (slot >= 0) {
    gipa = loaders[slot].gipa;
  } else {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *e = dlerror();
      snprintf(why, why_size, "cannot load the Vulkan loader '%s' (%s); install it (Debian: libvulkan1)", path,
               e ? e : "dlopen failed");
    } else {
      void *sym = dlsym(lib, "vkGetInstanceProcAddr");
      if (!sym) {
        snprintf(why, why_size, "'%s' has no vkGetInstanceProcAddr: not a Vulkan loader", path);
      } else {
        memcpy(&gipa, &sym, sizeof gipa);
        for (int i = 0; i < 4; i++)
          if (!loaders[i].gipa) {
            snprintf(loaders[i].path, sizeof loaders[i].path, "%s", path);
            loaders[i].gipa = gipa;
            break;
          }
      }
    }
  }
  snprintf(loader_failure, sizeof loader_failure, "%s", gipa ? "" : why);
  int warn = !gipa && named && !warned;
  if (warn) warned = 1;
  pthread_mutex_unlock(&loader_lock);
  if (warn) mlg_warn("MLG_VULKAN_LIBRARY: %s; no Vulkan device is listed", why);
  return gipa;
}

/* ---- validation ---- */

int mlg_vk_validation_requested(void) {
  const char *v = getenv("MLG_VK_VALIDATION");
  return v && *v && strcmp(v, "0") != 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  mlg_vk_validation *sink = user;
  const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    atomic_fetch_add(&sink->errors, 1);
    pthread_mutex_lock(&sink->lock);
    snprintf(sink->last_error, sizeof sink->last_error, "%s", msg);
    pthread_mutex_unlock(&sink->lock);
    fprintf(stderr, "mlg: Vulkan validation error: %s\n", msg);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    atomic_fetch_add(&sink->warnings, 1);
    fprintf(stderr, "mlg: Vulkan validation warning: %s\n", msg);
  }
  return VK_FALSE; /* never abort the call that triggered it */
}

mlg_status mlg_vk_validation_check(mlg_backend_device *dev, int errors_before, const char *during) {
  int now = atomic_load(&dev->validation.errors);
  if (now == errors_before) return MLG_OK;
  char last[1024];
  pthread_mutex_lock(&dev->validation.lock);
  snprintf(last, sizeof last, "%s", dev->validation.last_error);
  pthread_mutex_unlock(&dev->validation.lock);
  return mlg_fail(MLG_ERR_DEVICE, "Vulkan validation reported %d error%s during %s on '%s'; the latest: %s",
                  now - errors_before, now - errors_before == 1 ? "" : "s", during, dev->name, last);
}

int mlg_vk_validation_errors(const mlg_backend_device *dev, int *out_warnings) {
  mlg_vk_validation *v = (mlg_vk_validation *)&dev->validation;
  if (out_warnings) *out_warnings = atomic_load(&v->warnings);
  return atomic_load(&v->errors);
}

/* ---- instance ---- */

static int has_layer(const mlg_vk_fns *vk, const char *name) {
  uint32_t n = 0;
  if (vk->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkLayerProperties *layers = calloc(n, sizeof *layers);
  if (!layers) return 0;
  int found = 0;
  if (vk->vkEnumerateInstanceLayerProperties(&n, layers) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(layers[i].layerName, name) == 0;
  free(layers);
  return found;
}

mlg_status mlg_vk_instance_create(int validation, mlg_vk_validation *sink, mlg_vk_instance *out) {
  memset(out, 0, sizeof *out);
  char why[1024];
  mlg_vk_fns *vk = &out->vk;
  vk->vkGetInstanceProcAddr = open_loader(why, sizeof why);
  if (!vk->vkGetInstanceProcAddr) return mlg_fail(MLG_ERR_NO_DEVICE, "no Vulkan device: %s", why);
#define LOAD_GLOBAL(name) vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(NULL, #name);
  MLG_VK_GLOBAL_FNS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
  if (!vk->vkCreateInstance || !vk->vkEnumerateInstanceLayerProperties)
    return mlg_fail(MLG_ERR_NO_DEVICE, "no Vulkan device: the Vulkan loader lacks vkCreateInstance");
  uint32_t version = VK_API_VERSION_1_0;
  if (vk->vkEnumerateInstanceVersion && vk->vkEnumerateInstanceVersion(&version) != VK_SUCCESS)
    version = VK_API_VERSION_1_0;
  if (version < VK_API_VERSION_1_1)
    return mlg_fail(MLG_ERR_NO_DEVICE, "no Vulkan device: the Vulkan loader supports only Vulkan %u.%u; mlg needs 1.1",
                    VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
  if (validation && !has_layer(vk, VALIDATION_LAYER))
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "Vulkan validation was requested (MLG_VK_VALIDATION), but the layer " VALIDATION_LAYER
                    " is not installed (Debian: vulkan-validationlayers)");

  VkApplicationInfo app = {
      .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
      .pApplicationName = "mlg",
      .applicationVersion = 1,
      .pEngineName = "mlg",
      .engineVersion = 1,
      .apiVersion = VK_API_VERSION_1_1,
  };
  const char *layers[] = {VALIDATION_LAYER};
  const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_message,
      .pUserData = sink,
  };
  VkInstanceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
      /* Chained messenger: reports what happens inside vkCreateInstance/vkDestroyInstance too. */
      .pNext = validation ? &messenger_info : NULL,
      .pApplicationInfo = &app,
      .enabledLayerCount = validation ? 1u : 0u,
      .ppEnabledLayerNames = layers,
      .enabledExtensionCount = validation ? 1u : 0u,
      .ppEnabledExtensionNames = extensions,
  };
  VkResult r = vk->vkCreateInstance(&info, NULL, &out->instance);
  if (r != VK_SUCCESS) {
    out->instance = VK_NULL_HANDLE;
    return mlg_fail(r == VK_ERROR_OUT_OF_HOST_MEMORY ? MLG_ERR_OUT_OF_MEMORY : MLG_ERR_NO_DEVICE,
                    "no Vulkan device: vkCreateInstance failed: %s%s", mlg_vk_result_name(r),
                    r == VK_ERROR_INCOMPATIBLE_DRIVER ? " (no Vulkan 1.1 driver is installed)" : "");
  }
  out->validation = validation;
  int missing = 0;
#define LOAD_INSTANCE(name) \
  vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(out->instance, #name); \
  if (!vk->name) missing = 1;
  MLG_VK_INSTANCE_FNS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
  if (missing) {
    PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)vk->vkGetInstanceProcAddr(out->instance, "vkDestroyInstance");
    if (destroy) destroy(out->instance, NULL);
    out->instance = VK_NULL_HANDLE;
    return mlg_fail(MLG_ERR_NO_DEVICE, "no Vulkan device: the Vulkan loader lacks Vulkan 1.1 entry points");
  }
  if (validation) {
#define LOAD_DEBUG(name) vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(out->instance, #name);
    MLG_VK_DEBUG_FNS(LOAD_DEBUG)
#undef LOAD_DEBUG
    if (vk->vkCreateDebugUtilsMessengerEXT) r = vk->vkCreateDebugUtilsMessengerEXT(out->instance, &messenger_info, NULL, &out->messenger);
    if (!vk->vkCreateDebugUtilsMessengerEXT || r != VK_SUCCESS) {
      vk->vkDestroyInstance(out->instance, NULL);
      out->instance = VK_NULL_HANDLE;
      return mlg_fail(MLG_ERR_UNSUPPORTED, "vkCreateDebugUtilsMessengerEXT failed: %s",
                      vk->vkCreateDebugUtilsMessengerEXT ? mlg_vk_result_name(r) : "entry point missing");
    }
  }
  return MLG_OK;
}

void mlg_vk_instance_destroy(mlg_vk_instance *inst) {
  if (!inst->instance) return;
  if (inst->messenger) inst->vk.vkDestroyDebugUtilsMessengerEXT(inst->instance, inst->messenger, NULL);
  inst->vk.vkDestroyInstance(inst->instance, NULL);
  inst->instance = VK_NULL_HANDLE;
}

/* ---- physical devices ---- */

/* The first queue family that can run compute (and its timestamp bits), or -1. */
/* The fence polling time (see mlg_backend_device.spin_ns): MLG_VK_SPIN_US when set, else
 * 1 ms on a GPU and none on a CPU device. */
static mlg_status fence_spin_ns(int is_gpu, uint64_t *out_ns) {
  const char *v = getenv("MLG_VK_SPIN_US");
  *out_ns = is_gpu ? 1000000u : 0;
  if (!v || !*v) return MLG_OK;
  char *end = NULL;
  unsigned long us = strtoul(v, &end, 10);
  if (*end || v[0] == '-' || us > 1000000ul)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT,
                    "MLG_VK_SPIN_US='%.40s' is not a number of microseconds from 0 to 1000000", v);
  *out_ns = (uint64_t)us * 1000u;
  return MLG_OK;
}

static int compute_family(const mlg_vk_fns *vk, VkPhysicalDevice pd, uint32_t *out_timestamp_bits) {
  uint32_t n = 0;
  vk->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  if (n == 0) return -1;
  VkQueueFamilyProperties *fam = calloc(n, sizeof *fam);
  if (!fam) return -1;
  vk->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fam);
  int found = -1;
  for (uint32_t i = 0; i < n && found < 0; i++)
    if ((fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && fam[i].queueCount > 0) {
      found = (int)i;
      if (out_timestamp_bits) *out_timestamp_bits = fam[i].timestampValidBits;
    }
  free(fam);
  return found;
}

/* The usable physical devices (Vulkan 1.1 and a compute queue), in enumeration order, into a
 * malloc'd array; vulkan:N is entry N. Any failure is 0 devices. */
static uint32_t usable_devices(const mlg_vk_instance *inst, VkPhysicalDevice **out) {
  *out = NULL;
  const mlg_vk_fns *vk = &inst->vk;
  uint32_t n = 0;
  if (vk->vkEnumeratePhysicalDevices(inst->instance, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkPhysicalDevice *all = calloc(n, sizeof *all);
  if (!all) return 0;
  VkResult r = vk->vkEnumeratePhysicalDevices(inst->instance, &n, all);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    free(all);
    return 0;
  }
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vk->vkGetPhysicalDeviceProperties(all[i], &p);
    if (p.apiVersion >= VK_API_VERSION_1_1 && compute_family(vk, all[i], NULL) >= 0) all[kept++] = all[i];
  }
  *out = all;
  return kept;
}

static void version_string(uint32_t vendor, uint32_t v, char *buf, size_t size) {
  if (vendor == NVIDIA_VENDOR_ID)
    snprintf(buf, size, "%u.%u.%u", v >> 22, (v >> 14) & 0xffu, (v >> 6) & 0xffu);
  else
    snprintf(buf, size, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
}

static void fill_info(const mlg_vk_instance *inst, int index, VkPhysicalDevice pd, mlg_device_info *info) {
  const mlg_vk_fns *vk = &inst->vk;
  memset(info, 0, sizeof *info);
  VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  /* Core in 1.1, which every listed device has (usable_devices). */
  VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
  VkPhysicalDeviceProperties p;
  vk->vkGetPhysicalDeviceProperties(pd, &p);
  /* VkPhysicalDeviceDriverProperties is core in 1.2; older devices leave it zeroed. */
  if (p.apiVersion >= VK_API_VERSION_1_2) sub.pNext = &driver;
  vk->vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  info->subgroup_size = (int)sub.subgroupSize;
  info->subgroup_arithmetic = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                              (sub.supportedOperations & need) == need;
  snprintf(info->spec, sizeof info->spec, "vulkan:%d", index);
  snprintf(info->backend, sizeof info->backend, "vulkan");
  snprintf(info->name, sizeof info->name, "%s", p.deviceName);
  char version[64];
  version_string(p.vendorID, p.driverVersion, version, sizeof version);
  snprintf(info->platform, sizeof info->platform, "Vulkan %u.%u%s%.100s", VK_API_VERSION_MAJOR(p.apiVersion),
           VK_API_VERSION_MINOR(p.apiVersion), driver.driverName[0] ? ", " : "", driver.driverName);
  snprintf(info->driver, sizeof info->driver, "%.127s", driver.driverInfo[0] ? driver.driverInfo : version);
  info->is_gpu = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                 p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                 p.deviceType == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
  info->compute_units = 0; /* core Vulkan does not report it */
  VkPhysicalDeviceMemoryProperties mem;
  vk->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t h = 0; h < mem.memoryHeapCount; h++)
    if ((mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mem.memoryHeaps[h].size > info->global_mem_bytes)
      info->global_mem_bytes = mem.memoryHeaps[h].size;
  info->local_mem_bytes = p.limits.maxComputeSharedMemorySize;
}

/* Listing uses one instance per loader, created on first use and kept for the life of the
 * process (under loader_lock): runtimes list devices several times, and a driver whose library
 * the loader unloaded on every vkDestroyInstance would leave its allocations to unknown
 * modules, out of reach of leak-checker suppressions. */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static mlg_vk_instance list_instances[4];

mlg_status mlg_vk_list_devices(mlg_device_info *out_devices, int capacity, int *out_count) {
  *out_count = 0;
  char saved[MLG_ERROR_CAPACITY], why[1024];
  /* A machine without Vulkan is 0 devices, not an error: keep the caller's last error. */
  snprintf(saved, sizeof saved, "%s", mlg_last_error());
  pthread_mutex_lock(&list_lock);
  PFN_vkGetInstanceProcAddr gipa = open_loader(why, sizeof why);
  mlg_vk_instance *inst = NULL;
  for (int i = 0; i < 4 && gipa && !inst; i++)
    if (list_instances[i].instance && list_instances[i].vk.vkGetInstanceProcAddr == gipa) inst = &list_instances[i];
  for (int i = 0; i < 4 && gipa && !inst; i++)
    if (!list_instances[i].instance) {
      if (mlg_vk_instance_create(0, NULL, &list_instances[i]) == MLG_OK) inst = &list_instances[i];
      break;
    }
  if (inst) {
    VkPhysicalDevice *devices;
    uint32_t n = usable_devices(inst, &devices);
    for (uint32_t i = 0; i < n && out_devices && (int)i < capacity; i++)
      fill_info(inst, (int)i, devices[i], &out_devices[i]);
    free(devices);
    *out_count = (int)n;
  }
  pthread_mutex_unlock(&list_lock);
  if (saved[0]) mlg_fail(MLG_OK, "%s", saved);
  else mlg_clear_error();
  return MLG_OK;
}

/* ---- logical device ---- */

/* Whether the physical device offers device extension `name`. */
static int has_device_extension(const mlg_vk_fns *vk, VkPhysicalDevice physical, const char *name) {
  uint32_t n = 0;
  if (vk->vkEnumerateDeviceExtensionProperties(physical, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *ext = calloc(n, sizeof *ext);
  int found = 0;
  if (ext && vk->vkEnumerateDeviceExtensionProperties(physical, NULL, &n, ext) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(ext[i].extensionName, name) == 0;
  free(ext);
  return found;
}

/* Whether the fragment kernels of templates/matmul_mma.c (GL_NV_cooperative_matrix GLSL) can
 * run: the extension with its feature, a 16×16×16 shape with f16 A and B and f32 C and D at
 * subgroup scope among vkGetPhysicalDeviceCooperativeMatrixPropertiesNV's, subgroups of 32 (the
 * kernels give each 32 consecutive invocations a fragment), VK_KHR_shader_float16_int8's
 * shaderFloat16 (float16_t shared arrays) and VK_KHR_vulkan_memory_model's vulkanMemoryModel
 * (glslang declares the Vulkan memory model for cooperative-matrix shaders). Fills *coop, *f16
 * and *vmm with the device's features. */
static int coopmat_usable(const mlg_vk_instance *inst, VkPhysicalDevice physical, uint32_t subgroup_size,
                          VkPhysicalDeviceCooperativeMatrixFeaturesNV *coop,
                          VkPhysicalDeviceShaderFloat16Int8FeaturesKHR *f16,
                          VkPhysicalDeviceVulkanMemoryModelFeaturesKHR *vmm) {
  const mlg_vk_fns *vk = &inst->vk;
  if (subgroup_size != 32 || !has_device_extension(vk, physical, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !has_device_extension(vk, physical, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME) ||
      !has_device_extension(vk, physical, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME))
    return 0;
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV props_fn =
      (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vk->vkGetInstanceProcAddr(
          inst->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
  if (!props_fn) return 0;
  coop->pNext = f16;
  f16->pNext = vmm;
  vmm->pNext = NULL;
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = coop};
  vk->vkGetPhysicalDeviceFeatures2(physical, &f2);
  if (!coop->cooperativeMatrix || !f16->shaderFloat16 || !vmm->vulkanMemoryModel) return 0;
  uint32_t n = 0;
  if (props_fn(physical, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
  int found = 0;
  if (p) {
    for (uint32_t i = 0; i < n; i++) p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    if (props_fn(physical, &n, p) == VK_SUCCESS)
      for (uint32_t i = 0; i < n && !found; i++)
        found = p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 &&
                p[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && p[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                p[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && p[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                p[i].scope == VK_SCOPE_SUBGROUP_NV;
  }
  free(p);
  return found;
}

mlg_status mlg_vk_device_create(int index, int enable_profiling, mlg_backend_device **out_device,
                                mlg_device_info *out_info) {
  *out_device = NULL;
  mlg_backend_device *dev = calloc(1, sizeof *dev);
  if (!dev) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory opening vulkan:%d", index);
  snprintf(dev->spec, sizeof dev->spec, "vulkan:%d", index);
  snprintf(dev->name, sizeof dev->name, "%s", dev->spec);
  pthread_mutex_init(&dev->validation.lock, NULL);
  pthread_mutex_init(&dev->queue_lock, NULL);
  /* Makes sure the process-wide listing instance exists, which keeps the drivers loaded across
   * this device's own instance (see mlg_vk_list_devices). */
  int listed = 0;
  mlg_vk_list_devices(NULL, 0, &listed);
  int validation = mlg_vk_validation_requested();
  mlg_status st = mlg_vk_instance_create(validation, &dev->validation, &dev->inst);
  if (st != MLG_OK) {
    mlg_vk_device_destroy(dev);
    return st;
  }
  mlg_vk_fns *vk = &dev->inst.vk;
  VkPhysicalDevice *devices;
  uint32_t n = usable_devices(&dev->inst, &devices);
  if (index < 0 || (uint32_t)index >= n) {
    free(devices);
    mlg_vk_device_destroy(dev);
    return mlg_fail(MLG_ERR_NO_DEVICE, "no Vulkan device vulkan:%d (%u found)", index, n);
  }
  dev->physical = devices[index];
  free(devices);
  fill_info(&dev->inst, index, dev->physical, out_info);
  snprintf(dev->name, sizeof dev->name, "%s", out_info->name);
  vk->vkGetPhysicalDeviceProperties(dev->physical, &dev->props);
  vk->vkGetPhysicalDeviceMemoryProperties(dev->physical, &dev->memory);
  VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
  vk->vkGetPhysicalDeviceProperties2(dev->physical, &p2);
  dev->max_allocation = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : UINT64_MAX;
  dev->subgroup_arithmetic = out_info->subgroup_arithmetic;
  dev->subgroup_size = (uint32_t)out_info->subgroup_size;
  dev->queue_family = (uint32_t)compute_family(vk, dev->physical, &dev->timestamp_bits);
  dev->profiling = enable_profiling;
  mlg_status spin = fence_spin_ns(out_info->is_gpu, &dev->spin_ns);
  if (spin != MLG_OK) {
    mlg_vk_device_destroy(dev);
    return spin;
  }

  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
      .queueFamilyIndex = dev->queue_family,
      .queueCount = 1,
      .pQueuePriorities = &priority,
  };
  VkDeviceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue,
  };
  /* The integer dot product (kernel variants that use it): enabled only where the device
   * reports both the extension and the feature. */
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR dot = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
  const char *extensions[5];
  uint32_t n_extensions = 0;
  void *chain = NULL;
  if (has_device_extension(vk, dev->physical, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME)) {
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &dot};
    vk->vkGetPhysicalDeviceFeatures2(dev->physical, &f2);
    if (dot.shaderIntegerDotProduct) {
      dot.pNext = chain;
      chain = &dot;
      extensions[n_extensions++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
      dev->features |= MLGB_DEVICE_INT_DOT;
    }
  }
  /* Tensor cores (the GEMM's cooperative-matrix variants): likewise. */
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceShaderFloat16Int8FeaturesKHR f16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR};
  VkPhysicalDeviceVulkanMemoryModelFeaturesKHR vmm = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR};
  if (coopmat_usable(&dev->inst, dev->physical, dev->subgroup_size, &coop, &f16, &vmm)) {
    coop.cooperativeMatrixRobustBufferAccess = VK_FALSE;
    f16.shaderInt8 = VK_FALSE;
    vmm.vulkanMemoryModelDeviceScope = VK_FALSE;
    vmm.vulkanMemoryModelAvailabilityVisibilityChains = VK_FALSE;
    vmm.pNext = chain;
    f16.pNext = &vmm;
    coop.pNext = &f16;
    chain = &coop;
    extensions[n_extensions++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    extensions[n_extensions++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    extensions[n_extensions++] = VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME;
    dev->features |= MLGB_DEVICE_COOPMAT_NV;
  }
  /* The driver's statistics of each pipeline's code (a measuring aid, docs/performance.md). */
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  const char *stats = getenv("MLG_VK_PIPELINE_STATS");
  if (stats && *stats && strcmp(stats, "0") != 0 &&
      has_device_extension(vk, dev->physical, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &exec};
    vk->vkGetPhysicalDeviceFeatures2(dev->physical, &f2);
    if (exec.pipelineExecutableInfo) {
      exec.pNext = chain;
      chain = &exec;
      extensions[n_extensions++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
      dev->pipeline_stats = 1;
    }
  }
  info.pNext = chain;
  info.enabledExtensionCount = n_extensions;
  info.ppEnabledExtensionNames = n_extensions ? extensions : NULL;
  int errors = atomic_load(&dev->validation.errors);
  VkResult r = vk->vkCreateDevice(dev->physical, &info, NULL, &dev->device);
  if (r != VK_SUCCESS) {
    dev->device = VK_NULL_HANDLE;
    mlg_vk_device_destroy(dev);
    return mlg_fail(mlg_vk_status(r), "vkCreateDevice on '%s' (%s) failed: %s", out_info->name, out_info->spec,
                    mlg_vk_result_name(r));
  }
  int missing = 0;
  const char *missing_name = "";
#define LOAD_DEVICE(name) \
  vk->name = (PFN_##name)vk->vkGetDeviceProcAddr(dev->device, #name); \
  if (!vk->name && !missing) { missing = 1; missing_name = #name; }
  MLG_VK_DEVICE_FNS(LOAD_DEVICE)
#undef LOAD_DEVICE
  if (missing) {
    PFN_vkDestroyDevice destroy = (PFN_vkDestroyDevice)vk->vkGetDeviceProcAddr(dev->device, "vkDestroyDevice");
    if (destroy) destroy(dev->device, NULL);
    dev->device = VK_NULL_HANDLE;
    mlg_vk_device_destroy(dev);
    return mlg_fail(MLG_ERR_NO_DEVICE, "Vulkan device '%s' (%s) lacks %s", out_info->name, out_info->spec, missing_name);
  }
  vk->vkGetDeviceQueue(dev->device, dev->queue_family, 0, &dev->queue);
  st = mlg_vk_validation_check(dev, errors, "vkCreateDevice");
  if (st != MLG_OK) {
    mlg_vk_device_destroy(dev);
    return st;
  }
  *out_device = dev;
  return MLG_OK;
}

void mlg_vk_device_destroy(mlg_backend_device *dev) {
  if (!dev) return;
  if (dev->device) {
    dev->inst.vk.vkDeviceWaitIdle(dev->device);
    dev->inst.vk.vkDestroyDevice(dev->device, NULL);
  }
  mlg_vk_instance_destroy(&dev->inst);
  pthread_mutex_destroy(&dev->validation.lock);
  pthread_mutex_destroy(&dev->queue_lock);
  free(dev);
}

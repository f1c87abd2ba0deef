/* vulkan_backend.c — the Vulkan backend's models: bundle checks against the device's limits,
 * the weights upload, and shader modules, layouts and pipelines built once through the
 * pipeline cache. Sessions are in vulkan_session.c.
 *
 * The bundle convention (shared with codegen/glsl_printer.c): one SPIR-V module per kernel
 * with entry point "main"; buffer parameter i is a storage buffer at set 0, binding i, bound to
 * the whole buffer of its tensor's region; push constants `uint off[n_params]` hold each
 * tensor's element offset in that buffer; the work-group size is baked into the shader. Each
 * distinct kernel is one pipeline, which every dispatch of it binds with its own descriptor
 * set and push constants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "vulkan_internal.h"

const mlg_backend mlg_vulkan_backend = {
    .name = "vulkan",
    .list_devices = mlg_vk_list_devices,
    .device_create = mlg_vk_device_create,
    .device_destroy = mlg_vk_device_destroy,
    .upload = mlg_vk_upload_model,
    .build = mlg_vk_build,
    .model_destroy = mlg_vk_model_destroy,
    .record = mlg_vk_record,
    .session_destroy = mlg_vk_session_destroy,
    .host_staging = mlg_vk_host_staging,
    .run = mlg_vk_run,
    .read = mlg_vk_read,
    .write = mlg_vk_write,
    .profile = mlg_vk_profile,
    .max_buffer = mlg_vk_max_buffer,
    .why_no_devices = mlg_vk_why_no_devices,
    .device_features = mlg_vk_device_features,
};

uint64_t mlg_vk_max_buffer(const mlg_backend_device *dev) { return dev->max_allocation; }
uint32_t mlg_vk_device_features(const mlg_backend_device *dev) { return dev->features; }

static const char *model_name(const mlgb_bundle *b) { return b->model_name ? b->model_name : ""; }

/* What the reader cannot know: that this device can run the bundle at all. */
static mlg_status check_bundle(const mlg_backend_device *dev, const mlgb_bundle *b) {
  if (b->target != MLGB_TARGET_VULKAN)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "model '%s' targets %s, but device '%s' (%s) is a Vulkan device; recompile with --target vulkan",
                    model_name(b), b->target == MLGB_TARGET_OPENCL ? "opencl" : "an unknown target", dev->name,
                    dev->spec);
  for (uint32_t m = 0; m < b->n_modules; m++)
    if (b->modules[m].kind != MLGB_MODULE_SPIRV)
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "model '%s': module %u is %s, but a Vulkan device runs SPIR-V modules; recompile with "
                      "--target vulkan", model_name(b), m,
                      b->modules[m].kind == MLGB_MODULE_OPENCL_C ? "OpenCL C source" : "of an unknown kind");
  if ((b->required_features & MLGB_FEATURE_SUBGROUP_ARITH) && !dev->subgroup_arithmetic)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "model '%s' was compiled with subgroup operations, but device '%s' (%s) has no subgroup "
                    "arithmetic in compute shaders (VkPhysicalDeviceSubgroupProperties); recompile with "
                    "mlgc --target vulkan --subgroups=off", model_name(b), dev->name, dev->spec);
  const VkPhysicalDeviceLimits *lim = &dev->props.limits;
  /* The shaders read and write whole vectors at tensor offsets they take to be multiples of 16
   * bytes (kir.h, GLSL printer), and the device binds buffers at multiples of its own
   * minimum. */
  uint64_t align = lim->minStorageBufferOffsetAlignment > 16 ? lim->minStorageBufferOffsetAlignment : 16;
  if (b->alignment == 0 || b->alignment % align != 0)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "model '%s' aligns tensors to %u bytes, but its shaders on device '%s' need them aligned to "
                    "%llu bytes (the larger of 16, for whole-vector access, and the device's "
                    "minStorageBufferOffsetAlignment); recompile it with mlgc", model_name(b), b->alignment, dev->name,
                    (unsigned long long)align);
  for (uint32_t r = 0; r < MLGB_N_REGIONS; r++)
    if (b->region_size[r] > lim->maxStorageBufferRange)
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "model '%s': the %s region has %llu bytes, but a shader on device '%s' can address at most "
                      "%u bytes of one storage buffer (maxStorageBufferRange)", model_name(b), mlg_region_name(r),
                      (unsigned long long)b->region_size[r], dev->name, lim->maxStorageBufferRange);
  for (uint32_t k = 0; k < b->n_kernels; k++) {
    const mlgb_kernel *kd = &b->kernels[k];
    if (kd->n_params > MLG_VK_MAX_ARGS)
      return mlg_fail(MLG_ERR_UNSUPPORTED, "kernel '%s' of model '%s' binds %u tensors; the Vulkan backend takes at most %d",
                      kd->name, model_name(b), kd->n_params, MLG_VK_MAX_ARGS);
    if (kd->n_params * 4 > lim->maxPushConstantsSize)
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "kernel '%s' of model '%s' needs %u bytes of push constants (one offset per tensor), but device "
                      "'%s' allows %u (maxPushConstantsSize)", kd->name, model_name(b), kd->n_params * 4, dev->name,
                      lim->maxPushConstantsSize);
    if (kd->n_params > lim->maxPerStageDescriptorStorageBuffers ||
        kd->n_params > lim->maxDescriptorSetStorageBuffers)
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "kernel '%s' of model '%s' binds %u storage buffers, but device '%s' allows %u per shader "
                      "(maxPerStageDescriptorStorageBuffers)", kd->name, model_name(b), kd->n_params, dev->name,
                      lim->maxPerStageDescriptorStorageBuffers);
  }
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    for (int dim = 0; dim < 3; dim++)
      if (d->groups[dim] > lim->maxComputeWorkGroupCount[dim])
        return mlg_fail(MLG_ERR_UNSUPPORTED,
                        "dispatch %u (kernel '%s') of model '%s' launches %ux%ux%u work-groups, but device '%s' "
                        "allows at most %u in dimension %d (maxComputeWorkGroupCount)", i,
                        b->kernels[d->kernel].name, model_name(b), d->groups[0], d->groups[1], d->groups[2],
                        dev->name, lim->maxComputeWorkGroupCount[dim], dim);
  }
  return MLG_OK;
}

mlg_status mlg_vk_upload_model(mlg_backend_device *dev, const mlgb_bundle *b, const void *weights,
                               mlg_backend_model **out_model) {
  *out_model = NULL;
  mlg_status st = check_bundle(dev, b);
  if (st != MLG_OK) return st;
  mlg_backend_model *m = calloc(1, sizeof *m);
  if (!m) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  m->dev = dev;
  m->bundle = b;
  uint32_t total_args = 0;
  for (uint32_t k = 0; k < b->n_kernels; k++) total_args += b->kernels[k].n_params;
  m->modules = calloc(b->n_modules + 1u, sizeof *m->modules);
  m->pipelines = calloc(b->n_kernels + 1u, sizeof *m->pipelines);
  m->access = calloc(total_args + 1u, 1);
  m->arg_base = calloc(b->n_kernels + 1u, sizeof *m->arg_base);
  if (!m->modules || !m->pipelines || !m->access || !m->arg_base) {
    mlg_vk_model_destroy(m);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  for (uint32_t k = 0, at = 0; k < b->n_kernels; at += b->kernels[k].n_params, k++) m->arg_base[k] = at;

  int errors = atomic_load(&dev->validation.errors);
  char what[300];
  snprintf(what, sizeof what, "weights region of model '%s'", model_name(b));
  /* TRANSFER_SRC: a session reads params back from it (mlg_session_get_param, save_weights). */
  st = mlg_vk_buffer_create(dev, b->region_size[MLGB_REGION_WEIGHTS],
                            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, what, &m->weights, &m->weights_memory, NULL);
  if (st == MLG_OK && weights) st = mlg_vk_upload(dev, m->weights, weights, b->region_size[MLGB_REGION_WEIGHTS], what);
  if (st == MLG_OK) st = mlg_vk_validation_check(dev, errors, "the weights upload");
  if (st != MLG_OK) {
    mlg_vk_model_destroy(m);
    return st;
  }
  *out_model = m;
  return MLG_OK;
}

/* Checks kernel k's shader against the convention and the device, and records what it does
 * with each argument. */
static mlg_status check_kernel(mlg_backend_model *m, uint32_t k, const mlg_spv_info *info) {
  const mlgb_bundle *b = m->bundle;
  const mlgb_kernel *kd = &b->kernels[k];
  const VkPhysicalDeviceLimits *lim = &m->dev->props.limits;
  if (!info->has_main)
    return mlg_fail(MLG_ERR_FORMAT, "kernel '%s' of model '%s': module %u has no GLCompute entry point \"main\"",
                    kd->name, model_name(b), kd->module);
  if (info->other_resources)
    return mlg_fail(MLG_ERR_FORMAT,
                    "kernel '%s' of model '%s': module %u declares uniform buffers, images or samplers; the bundle "
                    "convention passes tensors as storage buffers only", kd->name, model_name(b), kd->module);
  for (uint32_t i = 0; i < info->n_bindings; i++) {
    const mlg_spv_binding *bd = &info->bindings[i];
    if (bd->set != 0 || bd->binding >= kd->n_params)
      return mlg_fail(MLG_ERR_FORMAT,
                      "kernel '%s' of model '%s' uses descriptor set %u binding %u, but the bundle binds %u tensors "
                      "(set 0, bindings 0..%d)", kd->name, model_name(b), bd->set, bd->binding, kd->n_params,
                      (int)kd->n_params - 1);
    uint8_t *a = &m->access[m->arg_base[k] + bd->binding];
    uint8_t want = bd->writable ? MLG_VK_ARG_WRITE : MLG_VK_ARG_READ;
    if (want > *a) *a = want;
  }
  if (info->push_constant_size == UINT32_MAX || info->push_constant_size > kd->n_params * 4u)
    return mlg_fail(MLG_ERR_FORMAT,
                    "kernel '%s' of model '%s' declares %s bytes of push constants, but the bundle passes %u (one "
                    "uint offset per tensor)", kd->name, model_name(b),
                    info->push_constant_size == UINT32_MAX ? "an unknown number of" : "more", kd->n_params * 4u);
  const uint32_t *ls = info->local_size;
  uint64_t total = (uint64_t)ls[0] * ls[1] * ls[2];
  for (int d = 0; d < 3; d++)
    if (ls[d] > lim->maxComputeWorkGroupSize[d])
      return mlg_fail(MLG_ERR_UNSUPPORTED,
                      "kernel '%s' uses work-groups of %ux%ux%u, but device '%s' allows at most %u in dimension %d "
                      "(maxComputeWorkGroupSize)", kd->name, ls[0], ls[1], ls[2], m->dev->name,
                      lim->maxComputeWorkGroupSize[d], d);
  if (total > lim->maxComputeWorkGroupInvocations)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "kernel '%s' uses work-groups of %llu invocations, but device '%s' allows at most %u "
                    "(maxComputeWorkGroupInvocations)", kd->name, (unsigned long long)total, m->dev->name,
                    lim->maxComputeWorkGroupInvocations);
  return MLG_OK;
}

/* Reflects every module, checks every kernel, creates the shader modules. */
static mlg_status create_modules(mlg_backend_model *m) {
  mlg_backend_device *dev = m->dev;
  const mlgb_bundle *b = m->bundle;
  mlg_spv_info *infos = calloc(b->n_modules + 1u, sizeof *infos);
  if (!infos) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  mlg_status st = MLG_OK;
  for (uint32_t i = 0; i < b->n_modules && st == MLG_OK; i++) {
    const mlgb_module *mod = &b->modules[i];
    if (!mlgb_module_used(b, i)) continue; /* a kernel variant the device does not run */
    /* pCode must be 4-byte aligned; the reader's copy is, but make sure. */
    uint32_t *words = NULL;
    const void *code = mod->data;
    if ((uintptr_t)code % 4 != 0) {
      words = malloc((size_t)mod->size);
      if (!words) {
        st = mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
        break;
      }
      memcpy(words, mod->data, (size_t)mod->size);
      code = words;
    }
    char err[1400];
    int invalid = mlg_vk_spirv_validation_on() ? mlg_vk_spirv_validate(code, (size_t)mod->size, err, sizeof err) : 0;
    if (invalid == -2) {
      st = mlg_fail(MLG_ERR_UNSUPPORTED, "model '%s': %s", model_name(b), err);
    } else if (invalid) {
      st = mlg_fail(MLG_ERR_FORMAT,
                    "model '%s': module %u is not valid SPIR-V for Vulkan 1.1 (SPIRV-Tools: %s); it was not "
                    "given to the driver (recompile the bundle with mlgc)", model_name(b), i, err);
    } else if (mlg_spv_reflect(code, (size_t)mod->size, &infos[i], err, sizeof err) != 0) {
      st = mlg_fail(MLG_ERR_FORMAT, "model '%s': module %u is not valid SPIR-V: %s", model_name(b), i, err);
    } else {
      VkShaderModuleCreateInfo info = {
          .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
          .codeSize = (size_t)mod->size,
          .pCode = code,
      };
      VkResult r = dev->inst.vk.vkCreateShaderModule(dev->device, &info, NULL, &m->modules[i]);
      if (r != VK_SUCCESS) {
        m->modules[i] = VK_NULL_HANDLE;
        st = mlg_fail(r == VK_ERROR_INVALID_SHADER_NV ? MLG_ERR_BUILD : mlg_vk_status(r),
                      "vkCreateShaderModule (module %u of model '%s') on '%s' failed: %s", i, model_name(b), dev->name,
                      mlg_vk_result_name(r));
      }
    }
    free(words);
  }
  for (uint32_t k = 0; k < b->n_kernels && st == MLG_OK; k++)
    if (mlgb_kernel_used(b, k)) st = check_kernel(m, k, &infos[b->kernels[k].module]);
  free(infos);
  return st;
}

/* One descriptor-set layout and pipeline layout per distinct argument count. */
static mlg_status create_layouts(mlg_backend_model *m) {
  mlg_backend_device *dev = m->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = m->bundle;
  VkDescriptorSetLayoutBinding bindings[MLG_VK_MAX_ARGS];
  for (uint32_t i = 0; i < MLG_VK_MAX_ARGS; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding){
        .binding = i,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = 1,
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  for (uint32_t k = 0; k < b->n_kernels; k++) {
    uint32_t n = b->kernels[k].n_params;
    if (m->layouts[n]) continue;
    VkDescriptorSetLayoutCreateInfo set_info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = n,
        .pBindings = bindings,
    };
    VkResult r = vk->vkCreateDescriptorSetLayout(dev->device, &set_info, NULL, &m->set_layouts[n]);
    const char *call = "vkCreateDescriptorSetLayout";
    if (r == VK_SUCCESS) {
      VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, n * 4};
      VkPipelineLayoutCreateInfo info = {
          .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
          .setLayoutCount = 1,
          .pSetLayouts = &m->set_layouts[n],
          .pushConstantRangeCount = n ? 1u : 0u,
          .pPushConstantRanges = &push,
      };
      call = "vkCreatePipelineLayout";
      r = vk->vkCreatePipelineLayout(dev->device, &info, NULL, &m->layouts[n]);
    } else {
      m->set_layouts[n] = VK_NULL_HANDLE;
    }
    if (r != VK_SUCCESS) {
      m->layouts[n] = VK_NULL_HANDLE;
      return mlg_fail(mlg_vk_status(r), "%s (kernel '%s' of model '%s', %u storage buffers) on '%s' failed: %s", call,
                      b->kernels[k].name, model_name(b), n, dev->name, mlg_vk_result_name(r));
    }
  }
  return MLG_OK;
}

/* One pipeline's build, done on a worker thread: its own VkPipelineCache, seeded from its
 * entry in the disk cache and written back after a miss. The outcome waits here until the
 * loading thread turns it into the call's status and message. */
typedef struct pipeline_build {
  VkResult result;
  const char *call;          /* the failing call */
  int hit, written;
  int skipped;               /* a kernel no dispatch runs: not built */
} pipeline_build;

typedef struct pipelines_job {
  mlg_backend_model *m;
  const char *cache_dir;
  pipeline_build *results;
} pipelines_job;

/* Prints the driver's statistics of kernel k's pipeline on stderr, one line per executable
 * (MLG_VK_PIPELINE_STATS). */
static void print_pipeline_stats(mlg_backend_model *m, uint32_t k) {
  mlg_backend_device *dev = m->dev;
  PFN_vkGetPipelineExecutablePropertiesKHR props_fn = (PFN_vkGetPipelineExecutablePropertiesKHR)
      dev->inst.vk.vkGetDeviceProcAddr(dev->device, "vkGetPipelineExecutablePropertiesKHR");
  PFN_vkGetPipelineExecutableStatisticsKHR stats_fn = (PFN_vkGetPipelineExecutableStatisticsKHR)
      dev->inst.vk.vkGetDeviceProcAddr(dev->device, "vkGetPipelineExecutableStatisticsKHR");
  if (!props_fn || !stats_fn) return;
  VkPipelineInfoKHR pipe = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = m->pipelines[k]};
  VkPipelineExecutablePropertiesKHR props[4];
  uint32_t n_exec = 4;
  for (uint32_t i = 0; i < n_exec; i++)
    props[i] = (VkPipelineExecutablePropertiesKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR};
  if (props_fn(dev->device, &pipe, &n_exec, props) < 0) return;
  for (uint32_t e = 0; e < n_exec; e++) {
    VkPipelineExecutableInfoKHR at = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = m->pipelines[k], .executableIndex = e};
    VkPipelineExecutableStatisticKHR st[32];
    uint32_t n = 32;
    for (uint32_t i = 0; i < n; i++)
      st[i] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
    if (stats_fn(dev->device, &at, &n, st) < 0) continue;
    char line[2048];
    int len = snprintf(line, sizeof line, "mlg: pipeline %s (%s):", m->bundle->kernels[k].name, props[e].name);
    for (uint32_t i = 0; i < n && len > 0 && (size_t)len < sizeof line; i++) {
      const VkPipelineExecutableStatisticValueKHR *v = &st[i].value;
      const char *sep = i ? "," : "";
      switch (st[i].format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
          len += snprintf(line + len, sizeof line - len, "%s %s %s", sep, st[i].name, v->b32 ? "yes" : "no");
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
          len += snprintf(line + len, sizeof line - len, "%s %s %lld", sep, st[i].name, (long long)v->i64);
          break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
          len += snprintf(line + len, sizeof line - len, "%s %s %llu", sep, st[i].name, (unsigned long long)v->u64);
          break;
        default:
          len += snprintf(line + len, sizeof line - len, "%s %s %g", sep, st[i].name, v->f64);
      }
    }
    fprintf(stderr, "%s\n", line);
  }
}

/* Creates kernel k's pipeline through `cache` (VK_NULL_HANDLE: none). */
static VkResult create_pipeline(mlg_backend_model *m, uint32_t k, VkPipelineCache cache) {
  mlg_backend_device *dev = m->dev;
  const mlgb_kernel *kd = &m->bundle->kernels[k];
  VkComputePipelineCreateInfo pinfo = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {
          .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
          .stage = VK_SHADER_STAGE_COMPUTE_BIT,
          .module = m->modules[kd->module],
          .pName = "main",
      },
      .layout = m->layouts[kd->n_params],
  };
  if (dev->pipeline_stats) pinfo.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkResult r = dev->inst.vk.vkCreateComputePipelines(dev->device, cache, 1, &pinfo, NULL, &m->pipelines[k]);
  if (r != VK_SUCCESS) m->pipelines[k] = VK_NULL_HANDLE;
  else if (dev->pipeline_stats) print_pipeline_stats(m, k);
  return r;
}

/* The driver reads a cache entry and builds the pipeline under the entry's in-use mark
 * (cache_entry.h): data that crashes it is found marked by the next load and rebuilt from SPIR-V;
 * data it refuses is discarded now. */
static int build_pipeline(void *user, int k) {
  pipelines_job *job = user;
  mlg_backend_model *m = job->m;
  mlg_backend_device *dev = m->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_kernel *kd = &m->bundle->kernels[k];
  pipeline_build *r = &job->results[k];
  if (!mlgb_kernel_used(m->bundle, (uint32_t)k)) { /* a kernel variant the device does not run */
    r->result = VK_SUCCESS;
    r->skipped = 1;
    return 0;
  }
  mlg_vk_cache_key key = mlg_vk_cache_key_make(&dev->props, &m->bundle->modules[kd->module], kd->n_params);
  char path[4096] = "";
  mlg_cache_mark mark = {.fd = -1};
  uint8_t *data = NULL;
  size_t size = 0;
  int marked = 0;
  if (job->cache_dir) {
    mlg_vk_cache_path(job->cache_dir, key, path, sizeof path);
    marked = 1;
    r->hit = mlg_cache_mark_begin(path, &mark) == 0 &&
             mlg_vk_cache_load(job->cache_dir, key, &dev->props, &data, &size) == 0;
  }
  VkPipelineCacheCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
      .initialDataSize = r->hit ? size : 0,
      .pInitialData = r->hit ? data : NULL,
  };
  VkPipelineCache cache = VK_NULL_HANDLE;
  r->call = "vkCreatePipelineCache";
  r->result = vk->vkCreatePipelineCache(dev->device, &info, NULL, &cache);
  int refused = 0;
  if (r->result == VK_SUCCESS) {
    r->call = "vkCreateComputePipelines";
    r->result = create_pipeline(m, (uint32_t)k, cache);
  }
  if (r->result != VK_SUCCESS && r->hit) {
    /* The driver refused the data, or could not build from it: a miss, like any other bad entry. */
    refused = 1;
    r->hit = 0;
    if (cache) vk->vkDestroyPipelineCache(dev->device, cache, NULL);
    cache = VK_NULL_HANDLE;
    info.initialDataSize = 0;
    info.pInitialData = NULL;
    r->call = "vkCreatePipelineCache";
    r->result = vk->vkCreatePipelineCache(dev->device, &info, NULL, &cache);
    if (r->result == VK_SUCCESS) {
      r->call = "vkCreateComputePipelines";
      r->result = create_pipeline(m, (uint32_t)k, cache);
    }
  }
  if (refused) mlg_cache_discard(path);
  free(data);
  if (r->result == VK_SUCCESS && job->cache_dir && !r->hit) {
    size_t n = 0;
    uint8_t *out = NULL;
    if (vk->vkGetPipelineCacheData(dev->device, cache, &n, NULL) == VK_SUCCESS && n > 0 && (out = malloc(n)) &&
        vk->vkGetPipelineCacheData(dev->device, cache, &n, out) == VK_SUCCESS &&
        mlg_vk_cache_store(job->cache_dir, key, &dev->props, out, n) == 0)
      r->written = 1;
    free(out);
  }
  if (cache) vk->vkDestroyPipelineCache(dev->device, cache, NULL);
  if (marked) mlg_cache_mark_end(&mark);
  return r->result == VK_SUCCESS ? 0 : -1;
}

/* Creates every kernel's pipeline, several at a time, each through its own cache entry.
 * Counts are per pipeline. */
static mlg_status create_pipelines(mlg_backend_model *m, const char *cache_dir, mlg_backend_cache_stats *stats,
                                   mlg_progress_fn progress, void *progress_user) {
  const mlgb_bundle *b = m->bundle;
  pipelines_job job = {.m = m, .cache_dir = cache_dir, .results = calloc(b->n_kernels + 1u, sizeof(pipeline_build))};
  if (!job.results) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  mlg_status st = MLG_OK;
  if (mlg_parallel_for((int)b->n_kernels, 0, build_pipeline, &job, progress, progress_user) != 0) {
    st = mlg_fail(MLG_ERR_DEVICE, "building the pipelines of model '%s' failed", model_name(b));
    for (uint32_t k = 0; k < b->n_kernels; k++) {
      const pipeline_build *r = &job.results[k];
      if (r->result == VK_SUCCESS) continue;
      const mlgb_kernel *kd = &b->kernels[k];
      st = mlg_fail(r->result == VK_ERROR_INVALID_SHADER_NV ? MLG_ERR_BUILD : mlg_vk_status(r->result),
                    "%s (kernel '%s', module %u of model '%s') on '%s' failed: %s", r->call, kd->name, kd->module,
                    model_name(b), m->dev->name, mlg_vk_result_name(r->result));
      break;
    }
  }
  for (uint32_t k = 0; k < b->n_kernels; k++) {
    if (job.results[k].result != VK_SUCCESS || job.results[k].skipped) continue;
    if (job.results[k].hit) stats->hits++;
    else stats->misses++;
    stats->writes += job.results[k].written;
  }
  free(job.results);
  return st;
}

mlg_status mlg_vk_build(mlg_backend_model *m, const char *cache_dir, mlg_backend_cache_stats *stats,
                        mlg_progress_fn progress, void *progress_user) {
  int errors = atomic_load(&m->dev->validation.errors);
  mlg_status st = create_modules(m);
  if (st == MLG_OK) st = create_layouts(m);
  if (st == MLG_OK) st = create_pipelines(m, cache_dir, stats, progress, progress_user);
  if (st == MLG_OK) st = mlg_vk_validation_check(m->dev, errors, "pipeline creation");
  return st;
}

void mlg_vk_model_destroy(mlg_backend_model *m) {
  if (!m) return;
  mlg_backend_device *dev = m->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = m->bundle;
  for (uint32_t k = 0; m->pipelines && k < b->n_kernels; k++)
    if (m->pipelines[k]) vk->vkDestroyPipeline(dev->device, m->pipelines[k], NULL);
  for (int n = 0; n <= MLG_VK_MAX_ARGS; n++) {
    if (m->layouts[n]) vk->vkDestroyPipelineLayout(dev->device, m->layouts[n], NULL);
    if (m->set_layouts[n]) vk->vkDestroyDescriptorSetLayout(dev->device, m->set_layouts[n], NULL);
  }
  for (uint32_t i = 0; m->modules && i < b->n_modules; i++)
    if (m->modules[i]) vk->vkDestroyShaderModule(dev->device, m->modules[i], NULL);
  mlg_vk_buffer_destroy(dev, m->weights, m->weights_memory);
  free(m->modules);
  free(m->pipelines);
  free(m->access);
  free(m->arg_base);
  free(m);
}

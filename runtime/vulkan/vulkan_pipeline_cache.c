/* vulkan_pipeline_cache.c — VkPipelineCache data on disk. One file per (distinct kernel: its
 * SPIR-V module and buffer-parameter count, device, driver, mlg version), named by a hash of all
 * of them, so models that share a kernel share its entry:
 *
 *   "MLGVKPC\0" | u32 format | u32 vendorID | u32 deviceID | u32 driverVersion
 *   | u8 pipelineCacheUUID[16] | u64 check hash | u64 data size | u64 data hash | data
 *
 * in host byte order (a cache never travels between machines). The data itself must also start
 * with Vulkan's own cache header for the same device. Anything that does not match is a miss;
 * the caller rebuilds and overwrites the entry. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_entry.h"
#include "file_util.h"
#include "vulkan_internal.h"

#define CACHE_MAGIC "MLGVKPC"
#define CACHE_FORMAT 1u
#define HEADER_SIZE 64
#define MAX_DATA ((uint64_t)1 << 30)
#define SEED_A 0xcbf29ce484222325ull
#define SEED_B 0x84222325cbf29ce4ull

static uint64_t field(uint64_t h, const void *data, size_t size) {
  uint64_t n = size;
  h = mlg_fnv1a(h, &n, sizeof n);
  return mlg_fnv1a(h, data, size);
}

static uint64_t key_hash(uint64_t h, const VkPhysicalDeviceProperties *p, const mlgb_module *module,
                         uint32_t n_params) {
  h = field(h, &p->vendorID, sizeof p->vendorID);
  h = field(h, &p->deviceID, sizeof p->deviceID);
  h = field(h, &p->driverVersion, sizeof p->driverVersion);
  h = field(h, p->pipelineCacheUUID, VK_UUID_SIZE);
  h = field(h, MLG_VERSION_STRING, strlen(MLG_VERSION_STRING));
  h = field(h, module->data, (size_t)module->size);
  /* The pipeline also depends on its layout, which the parameter count decides. */
  return field(h, &n_params, sizeof n_params);
}

mlg_vk_cache_key mlg_vk_cache_key_make(const VkPhysicalDeviceProperties *props, const mlgb_module *module,
                                       uint32_t n_params) {
  mlg_vk_cache_key k = {key_hash(SEED_A, props, module, n_params), key_hash(SEED_B, props, module, n_params)};
  return k;
}

void mlg_vk_cache_path(const char *dir, mlg_vk_cache_key key, char *buf, size_t size) {
  snprintf(buf, size, "%s/vulkan-%016" PRIx64 ".bin", dir, key.file_hash);
}

static void make_header(uint8_t *h, mlg_vk_cache_key key, const VkPhysicalDeviceProperties *p, uint64_t size,
                        uint64_t hash) {
  uint32_t format = CACHE_FORMAT;
  memset(h, 0, HEADER_SIZE);
  memcpy(h, CACHE_MAGIC, 8);
  memcpy(h + 8, &format, 4);
  memcpy(h + 12, &p->vendorID, 4);
  memcpy(h + 16, &p->deviceID, 4);
  memcpy(h + 20, &p->driverVersion, 4);
  memcpy(h + 24, p->pipelineCacheUUID, VK_UUID_SIZE);
  memcpy(h + 40, &key.check_hash, 8);
  memcpy(h + 48, &size, 8);
  memcpy(h + 56, &hash, 8);
}

/* Vulkan's own header at the start of the data (VkPipelineCacheHeaderVersionOne). */
static int vulkan_header_matches(const uint8_t *d, size_t size, const VkPhysicalDeviceProperties *p) {
  if (size < 32) return 0;
  uint32_t length, version, vendor, device;
  memcpy(&length, d, 4);
  memcpy(&version, d + 4, 4);
  memcpy(&vendor, d + 8, 4);
  memcpy(&device, d + 12, 4);
  return length >= 32 && length <= size && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         vendor == p->vendorID && device == p->deviceID && memcmp(d + 16, p->pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

int mlg_vk_cache_load(const char *dir, mlg_vk_cache_key key, const VkPhysicalDeviceProperties *props,
                      uint8_t **out_data, size_t *out_size) {
  *out_data = NULL;
  *out_size = 0;
  char path[4096];
  mlg_vk_cache_path(dir, key, path, sizeof path);
  uint8_t *file, want[HEADER_SIZE];
  size_t n;
  if (mlg_cache_read(path, HEADER_SIZE + MAX_DATA, &file, &n) != 0) return -1;
  uint64_t size = 0, hash = 0;
  int ok = n >= HEADER_SIZE;
  if (ok) {
    memcpy(&size, file + 48, 8);
    memcpy(&hash, file + 56, 8);
    make_header(want, key, props, size, hash);
    /* Everything but size and data hash must be exactly ours: device, driver, UUID, key. */
    ok = memcmp(file, want, 48) == 0 && size > 0 && size == n - HEADER_SIZE &&
         mlg_fnv1a(SEED_A, file + HEADER_SIZE, (size_t)size) == hash &&
         vulkan_header_matches(file + HEADER_SIZE, (size_t)size, props);
  }
  if (!ok) {
    free(file);
    return -1;
  }
  memmove(file, file + HEADER_SIZE, (size_t)size);
  *out_data = file;
  *out_size = (size_t)size;
  return 0;
}

int mlg_vk_cache_store(const char *dir, mlg_vk_cache_key key, const VkPhysicalDeviceProperties *props,
                       const uint8_t *data, size_t size) {
  if (!data || size == 0 || size > MAX_DATA) return -1;
  if (mlg_make_dirs(dir) != 0) return -1;
  char path[4096];
  mlg_vk_cache_path(dir, key, path, sizeof path);
  uint8_t header[HEADER_SIZE];
  make_header(header, key, props, size, mlg_fnv1a(SEED_A, data, size));
  return mlg_write_file_atomic(path, header, sizeof header, data, size);
}

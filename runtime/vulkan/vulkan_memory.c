/* vulkan_memory.c — buffers with their own memory, one-off uploads through staging, and queue
 * submission. */
#include <stdio.h>
#include <string.h>

#include "../file_util.h"
#include "vulkan_internal.h"

/* A memory type allowed by `bits` with all `required` flags, preferring one that also has
 * `preferred`; -1 when none. */
static int memory_type(const mlg_backend_device *dev, uint32_t bits, VkMemoryPropertyFlags required,
                       VkMemoryPropertyFlags preferred) {
  int fallback = -1;
  for (uint32_t i = 0; i < dev->memory.memoryTypeCount; i++) {
    if (!(bits & (1u << i))) continue;
    VkMemoryPropertyFlags f = dev->memory.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return (int)i;
    if (fallback < 0) fallback = (int)i;
  }
  return fallback;
}

void mlg_vk_buffer_destroy(mlg_backend_device *dev, VkBuffer buffer, VkDeviceMemory memory) {
  if (buffer) dev->inst.vk.vkDestroyBuffer(dev->device, buffer, NULL);
  if (memory) dev->inst.vk.vkFreeMemory(dev->device, memory, NULL);
}

mlg_status mlg_vk_buffer_create(mlg_backend_device *dev, uint64_t size, VkBufferUsageFlags usage,
                                VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                                const char *what, VkBuffer *out_buffer, VkDeviceMemory *out_memory,
                                void **out_map) {
  const mlg_vk_fns *vk = &dev->inst.vk;
  *out_buffer = VK_NULL_HANDLE;
  *out_memory = VK_NULL_HANDLE;
  if (out_map) *out_map = NULL;
  /* Vulkan has no empty buffers; an empty region gets a few bytes nothing reads. */
  if (size == 0) size = 16;
  if (size > dev->max_allocation)
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY,
                    "%s needs %llu bytes, but device '%s' allocates at most %llu bytes at once "
                    "(maxMemoryAllocationSize)", what, (unsigned long long)size, dev->name,
                    (unsigned long long)dev->max_allocation);
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = size,
      .usage = usage,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkBuffer buffer = VK_NULL_HANDLE;
  VkResult r = vk->vkCreateBuffer(dev->device, &info, NULL, &buffer);
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "vkCreateBuffer (%s, %llu bytes) on '%s' failed: %s", what,
                    (unsigned long long)size, dev->name, mlg_vk_result_name(r));
  VkMemoryRequirements req;
  vk->vkGetBufferMemoryRequirements(dev->device, buffer, &req);
  int type = memory_type(dev, req.memoryTypeBits, required, preferred);
  if (type < 0) {
    vk->vkDestroyBuffer(dev->device, buffer, NULL);
    return mlg_fail(MLG_ERR_UNSUPPORTED, "device '%s' has no memory type with flags 0x%x for %s", dev->name,
                    (unsigned)required, what);
  }
  VkMemoryAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .allocationSize = req.size,
      .memoryTypeIndex = (uint32_t)type,
  };
  VkDeviceMemory memory = VK_NULL_HANDLE;
  r = vk->vkAllocateMemory(dev->device, &alloc, NULL, &memory);
  if (r != VK_SUCCESS) {
    vk->vkDestroyBuffer(dev->device, buffer, NULL);
    return mlg_fail(mlg_vk_status(r), "vkAllocateMemory (%s, %llu bytes) on '%s' failed: %s", what,
                    (unsigned long long)req.size, dev->name, mlg_vk_result_name(r));
  }
  r = vk->vkBindBufferMemory(dev->device, buffer, memory, 0);
  void *map = NULL;
  const char *call = "vkBindBufferMemory";
  if (r == VK_SUCCESS && out_map) {
    call = "vkMapMemory";
    r = vk->vkMapMemory(dev->device, memory, 0, VK_WHOLE_SIZE, 0, &map);
  }
  if (r != VK_SUCCESS) {
    mlg_vk_buffer_destroy(dev, buffer, memory);
    return mlg_fail(mlg_vk_status(r), "%s (%s, %llu bytes) on '%s' failed: %s", call, what,
                    (unsigned long long)size, dev->name, mlg_vk_result_name(r));
  }
  *out_buffer = buffer;
  *out_memory = memory;
  if (out_map) *out_map = map;
  return MLG_OK;
}

VkResult mlg_vk_submit(mlg_backend_device *dev, VkCommandBuffer commands, VkFence fence) {
  VkSubmitInfo submit = {
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
      .commandBufferCount = 1,
      .pCommandBuffers = &commands,
  };
  pthread_mutex_lock(&dev->queue_lock);
  VkResult r = dev->inst.vk.vkQueueSubmit(dev->queue, 1, &submit, fence);
  pthread_mutex_unlock(&dev->queue_lock);
  return r;
}

VkResult mlg_vk_wait(mlg_backend_device *dev, VkFence fence) {
  const mlg_vk_fns *vk = &dev->inst.vk;
  if (dev->spin_ns) {
    uint64_t until = mlg_monotonic_ns() + dev->spin_ns;
    do {
      VkResult r = vk->vkGetFenceStatus(dev->device, fence);
      if (r != VK_NOT_READY) return r;
    } while (mlg_monotonic_ns() < until);
  }
  return vk->vkWaitForFences(dev->device, 1, &fence, VK_TRUE, UINT64_MAX);
}

mlg_status mlg_vk_upload(mlg_backend_device *dev, VkBuffer dst, const void *data, uint64_t size, const char *what) {
  return mlg_vk_copy(dev, dst, 0, (void *)data, size, 1, what);
}

mlg_status mlg_vk_copy(mlg_backend_device *dev, VkBuffer buffer, uint64_t offset, void *host, uint64_t size,
                       int to_device, const char *what) {
  const mlg_vk_fns *vk = &dev->inst.vk;
  if (size == 0) return MLG_OK;
  char staging_what[300];
  snprintf(staging_what, sizeof staging_what, "staging for the %s", what);
  VkBuffer staging;
  VkDeviceMemory staging_memory;
  void *map;
  mlg_status st = mlg_vk_buffer_create(dev, size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0,
                                       staging_what, &staging, &staging_memory, &map);
  if (st != MLG_OK) return st;
  if (to_device) memcpy(map, host, (size_t)size);

  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  const char *call = "vkCreateCommandPool";
  VkCommandPoolCreateInfo pool_info = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
      .queueFamilyIndex = dev->queue_family,
  };
  VkResult r = vk->vkCreateCommandPool(dev->device, &pool_info, NULL, &pool);
  if (r == VK_SUCCESS) {
    call = "vkAllocateCommandBuffers";
    VkCommandBufferAllocateInfo cb_info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vk->vkAllocateCommandBuffers(dev->device, &cb_info, &cb);
  }
  if (r == VK_SUCCESS) {
    call = "vkCreateFence";
    VkFenceCreateInfo fence_info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vk->vkCreateFence(dev->device, &fence_info, NULL, &fence);
  }
  if (r == VK_SUCCESS) {
    call = "vkBeginCommandBuffer";
    VkCommandBufferBeginInfo begin = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    r = vk->vkBeginCommandBuffer(cb, &begin);
  }
  if (r == VK_SUCCESS) {
    /* After every earlier submission's shader and transfer writes; before every later read. */
    VkMemoryBarrier before = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vk->vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
    VkBufferCopy copy = to_device ? (VkBufferCopy){0, offset, size} : (VkBufferCopy){offset, 0, size};
    if (to_device) vk->vkCmdCopyBuffer(cb, staging, buffer, 1, &copy);
    else vk->vkCmdCopyBuffer(cb, buffer, staging, 1, &copy);
    /* Make the copy visible to every later shader read (sessions submit after this returns),
     * or to the host. */
    VkMemoryBarrier after = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = to_device ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT : VK_ACCESS_HOST_READ_BIT,
    };
    vk->vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             to_device ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT : VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                             &after, 0, NULL, 0, NULL);
    call = "vkEndCommandBuffer";
    r = vk->vkEndCommandBuffer(cb);
  }
  if (r == VK_SUCCESS) {
    call = "vkQueueSubmit";
    r = mlg_vk_submit(dev, cb, fence);
  }
  if (r == VK_SUCCESS) {
    call = "vkWaitForFences";
    r = mlg_vk_wait(dev, fence);
  }
  if (r == VK_SUCCESS && !to_device) memcpy(host, map, (size_t)size);
  if (fence) vk->vkDestroyFence(dev->device, fence, NULL);
  if (pool) vk->vkDestroyCommandPool(dev->device, pool, NULL);
  mlg_vk_buffer_destroy(dev, staging, staging_memory);
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "%s (%s the %s, %llu bytes) on '%s' failed: %s", call,
                    to_device ? "uploading" : "reading", what, (unsigned long long)size, dev->name,
                    mlg_vk_result_name(r));
  return MLG_OK;
}

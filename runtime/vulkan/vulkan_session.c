/* vulkan_session.c — sessions: the io and arena buffers (and a train step's params and state),
 * staging, one descriptor set per dispatch, and each program (the run; the train step) recorded
 * once into a command buffer of its own:
 *
 *   barrier (previous run) | copy inputs staging → io | barrier | dispatches, with a barrier
 *   only before a dispatch that touches what an earlier one wrote (or overwrites what it read)
 *   since the last barrier | barrier | copy outputs io → staging | barrier to the host
 *
 * A run copies inputs into staging, submits, waits on the session's fence and copies outputs
 * out: it allocates and records nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_internal.h"

#define SLOT_ALIGN 64

static const char *model_name(const mlgb_bundle *b) { return b->model_name ? b->model_name : ""; }

/* A byte range of one region touched by a dispatch. */
typedef struct range {
  uint32_t region;
  uint64_t begin, end;
} range;

static int overlaps(const range *list, uint32_t n, range x) {
  for (uint32_t i = 0; i < n; i++)
    if (list[i].region == x.region && list[i].begin < x.end && x.begin < list[i].end) return 1;
  return 0;
}

static void memory_barrier(const mlg_vk_fns *vk, VkCommandBuffer cb, VkPipelineStageFlags src_stage,
                           VkAccessFlags src, VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
  VkMemoryBarrier barrier = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
  vk->vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 1, &barrier, 0, NULL, 0, NULL);
}

/* A train step's loss when no output of the run holds it: it gets a slot of its own. */
static int extra_loss(const mlgb_bundle *b) {
  return b->has_train && b->tensors[b->train_loss].role != MLGB_ROLE_OUTPUT;
}

/* Whether a dispatch of `program` binds tensor t. */
static int program_binds(const mlgb_bundle *b, uint32_t program, uint32_t t) {
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    if (!(d->programs & program)) continue;
    for (uint32_t a = 0; a < d->n_args; a++)
      if (d->args[a] == t) return 1;
  }
  return 0;
}

/* Input and output slots in tensor-table order (the order mlg_session's transfers use), then a
 * train step's loss, and their places in staging. */
static mlg_status plan_slots(mlg_backend_session *s, uint64_t *out_staging_size) {
  const mlgb_bundle *b = s->model->bundle;
  for (uint32_t i = 0; i < b->n_tensors; i++) {
    if (b->tensors[i].role == MLGB_ROLE_INPUT) s->n_inputs++;
    if (b->tensors[i].role == MLGB_ROLE_OUTPUT) s->n_outputs++;
  }
  if (extra_loss(b)) s->n_outputs++;
  s->slots = calloc((size_t)s->n_inputs + (size_t)s->n_outputs + 1, sizeof *s->slots);
  if (!s->slots) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  uint64_t at = 0;
  int n = 0;
  for (int pass = 0; pass < 3; pass++)
    for (uint32_t i = 0; i < b->n_tensors; i++) {
      const mlgb_tensor *t = &b->tensors[i];
      int take = pass == 0   ? t->role == MLGB_ROLE_INPUT
                 : pass == 1 ? t->role == MLGB_ROLE_OUTPUT
                             : extra_loss(b) && i == b->train_loss;
      if (!take) continue;
      s->slots[n++] = (mlg_vk_slot){i, t->region, t->offset, t->size, at};
      at += (t->size + SLOT_ALIGN - 1) & ~(uint64_t)(SLOT_ALIGN - 1);
    }
  *out_staging_size = at;
  return MLG_OK;
}

static mlg_status create_buffers(mlg_backend_session *s, uint64_t staging_size, const void *params) {
  mlg_backend_model *m = s->model;
  mlg_backend_device *dev = m->dev;
  const mlgb_bundle *b = m->bundle;
  char what[300];
  s->buffers[MLGB_REGION_WEIGHTS] = m->weights;
  const VkBufferUsageFlags usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  snprintf(what, sizeof what, "io region of model '%s'", model_name(b));
  mlg_status st = mlg_vk_buffer_create(dev, b->region_size[MLGB_REGION_IO], usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                       0, what, &s->buffers[MLGB_REGION_IO], &s->memories[MLGB_REGION_IO], NULL);
  if (st != MLG_OK) return st;
  snprintf(what, sizeof what, "arena region of model '%s'", model_name(b));
  st = mlg_vk_buffer_create(dev, b->region_size[MLGB_REGION_ARENA], usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0,
                            what, &s->buffers[MLGB_REGION_ARENA], &s->memories[MLGB_REGION_ARENA], NULL);
  if (st != MLG_OK) return st;
  /* A train step's params (this session's copy) and the optimizer's state, zeros at first. */
  for (int r = MLGB_REGION_PARAMS; r <= MLGB_REGION_STATE; r++) {
    snprintf(what, sizeof what, "%s region of model '%s'", mlg_region_name((uint32_t)r), model_name(b));
    st = mlg_vk_buffer_create(dev, b->region_size[r], usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, what,
                              &s->buffers[r], &s->memories[r], NULL);
    if (st != MLG_OK) return st;
    uint64_t size = b->region_size[r];
    if (size == 0) continue;
    void *zeros = r == MLGB_REGION_STATE || !params ? calloc(1, (size_t)size) : NULL;
    if (!params && r == MLGB_REGION_PARAMS && !zeros) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (r == MLGB_REGION_STATE && !zeros) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
    st = mlg_vk_upload(dev, s->buffers[r], r == MLGB_REGION_PARAMS && params ? params : zeros, size, what);
    free(zeros);
    if (st != MLG_OK) return st;
  }
  snprintf(what, sizeof what, "input/output staging of model '%s'", model_name(b));
  void *map = NULL;
  /* Cached memory reads outputs back fast; coherent means no flush or invalidate. */
  st = mlg_vk_buffer_create(dev, staging_size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                            VK_MEMORY_PROPERTY_HOST_CACHED_BIT, what, &s->staging, &s->staging_memory, &map);
  s->staging_map = map;
  return st;
}

/* One descriptor set per dispatch with arguments, each binding its tensors' whole region
 * buffers (the tensors' offsets go in push constants). */
static mlg_status create_sets(mlg_backend_session *s) {
  mlg_backend_model *m = s->model;
  mlg_backend_device *dev = m->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = m->bundle;
  uint32_t n_sets = 0, n_descriptors = 0;
  for (uint32_t i = 0; i < b->n_dispatches; i++)
    if (b->dispatches[i].n_args) n_sets++, n_descriptors += b->dispatches[i].n_args;
  s->sets = calloc(b->n_dispatches + 1u, sizeof *s->sets);
  if (!s->sets) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  if (n_sets == 0) return MLG_OK;
  VkDescriptorPoolSize pool_size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n_descriptors};
  VkDescriptorPoolCreateInfo pool_info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
      .maxSets = n_sets,
      .poolSizeCount = 1,
      .pPoolSizes = &pool_size,
  };
  VkResult r = vk->vkCreateDescriptorPool(dev->device, &pool_info, NULL, &s->pool);
  if (r != VK_SUCCESS) {
    s->pool = VK_NULL_HANDLE;
    return mlg_fail(mlg_vk_status(r), "vkCreateDescriptorPool (%u sets, model '%s') on '%s' failed: %s", n_sets,
                    model_name(b), dev->name, mlg_vk_result_name(r));
  }
  VkDescriptorBufferInfo infos[MLG_VK_MAX_ARGS];
  VkWriteDescriptorSet writes[MLG_VK_MAX_ARGS];
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    if (d->n_args == 0) continue;
    VkDescriptorSetAllocateInfo alloc = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = s->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &m->set_layouts[d->n_args],
    };
    r = vk->vkAllocateDescriptorSets(dev->device, &alloc, &s->sets[i]);
    if (r != VK_SUCCESS)
      return mlg_fail(mlg_vk_status(r), "vkAllocateDescriptorSets (dispatch %u '%s' of model '%s') on '%s' failed: %s",
                      i, d->name, model_name(b), dev->name, mlg_vk_result_name(r));
    for (uint32_t a = 0; a < d->n_args; a++) {
      infos[a] = (VkDescriptorBufferInfo){s->buffers[b->tensors[d->args[a]].region], 0, VK_WHOLE_SIZE};
      writes[a] = (VkWriteDescriptorSet){
          .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
          .dstSet = s->sets[i],
          .dstBinding = a,
          .descriptorCount = 1,
          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
          .pBufferInfo = &infos[a],
      };
    }
    vk->vkUpdateDescriptorSets(dev->device, d->n_args, writes, 0, NULL);
  }
  return MLG_OK;
}

/* Copies of the n slots between staging and their region buffers, one vkCmdCopyBuffer per
 * region buffer. `in`: staging → region; else region → staging. */
static int record_copies(mlg_backend_session *s, VkCommandBuffer cb, const mlg_vk_slot *slots, int n, int in,
                         VkBufferCopy *scratch) {
  const mlg_vk_fns *vk = &s->model->dev->inst.vk;
  int copies = 0;
  for (uint32_t region = 0; region < MLGB_N_REGIONS; region++) {
    uint32_t count = 0;
    for (int i = 0; i < n; i++) {
      const mlg_vk_slot *sl = &slots[i];
      if (sl->region != region || sl->size == 0) continue;
      scratch[count++] = in ? (VkBufferCopy){sl->staging_offset, sl->offset, sl->size}
                            : (VkBufferCopy){sl->offset, sl->staging_offset, sl->size};
    }
    if (count == 0) continue;
    if (in) vk->vkCmdCopyBuffer(cb, s->staging, s->buffers[region], count, scratch);
    else vk->vkCmdCopyBuffer(cb, s->buffers[region], s->staging, count, scratch);
    copies += (int)count;
  }
  return copies;
}

/* The dispatches of `program` (index p), with barriers only where one depends on an earlier
 * one: a read or write of a range written since the last barrier, or a write of a range read
 * since then. Weights are never written and never need one. */
static mlg_status record_dispatches(mlg_backend_session *s, VkCommandBuffer cb, uint32_t p) {
  mlg_backend_model *m = s->model;
  const mlg_vk_fns *vk = &m->dev->inst.vk;
  const mlgb_bundle *b = m->bundle;
  uint32_t max_ranges = 0;
  for (uint32_t i = 0; i < b->n_dispatches; i++) max_ranges += b->dispatches[i].n_args;
  range *written = calloc(max_ranges + 1u, sizeof *written);
  range *read = calloc(max_ranges + 1u, sizeof *read);
  if (!written || !read) {
    free(written);
    free(read);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  uint32_t n_written = 0, n_read = 0;
  uint32_t bound = UINT32_MAX;
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    if (d->groups[0] == 0 || d->groups[1] == 0 || d->groups[2] == 0) continue; /* nothing to do */
    if (!(d->programs & (1u << p))) continue;
    const uint8_t *access = &m->access[m->arg_base[d->kernel]];
    int need = 0;
    for (uint32_t a = 0; a < d->n_args && !need; a++) {
      const mlgb_tensor *t = &b->tensors[d->args[a]];
      if (access[a] == MLG_VK_ARG_UNUSED || t->region == MLGB_REGION_WEIGHTS || t->size == 0) continue;
      range x = {t->region, t->offset, t->offset + t->size};
      need = overlaps(written, n_written, x) || (access[a] == MLG_VK_ARG_WRITE && overlaps(read, n_read, x));
    }
    if (need) {
      memory_barrier(vk, cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      s->n_compute_barriers++;
      n_written = n_read = 0;
    }
    for (uint32_t a = 0; a < d->n_args; a++) {
      const mlgb_tensor *t = &b->tensors[d->args[a]];
      if (access[a] == MLG_VK_ARG_UNUSED || t->region == MLGB_REGION_WEIGHTS || t->size == 0) continue;
      range x = {t->region, t->offset, t->offset + t->size};
      if (access[a] == MLG_VK_ARG_WRITE) written[n_written++] = x;
      else read[n_read++] = x;
    }
    if (bound != d->kernel) {
      vk->vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, m->pipelines[d->kernel]);
      bound = d->kernel;
    }
    if (d->n_args) {
      vk->vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, m->layouts[d->n_args], 0, 1, &s->sets[i], 0,
                                  NULL);
      uint32_t off[MLG_VK_MAX_ARGS];
      for (uint32_t a = 0; a < d->n_args; a++) off[a] = (uint32_t)mlgb_element_offset(&b->tensors[d->args[a]]);
      vk->vkCmdPushConstants(cb, m->layouts[d->n_args], VK_SHADER_STAGE_COMPUTE_BIT, 0, d->n_args * 4, off);
    }
    uint32_t q = 2 * s->n_recorded_dispatches; /* every program's dispatches number on */
    /* The start is written once every earlier command has finished (BOTTOM_OF_PIPE): at
     * TOP_OF_PIPE it was written as soon as the command was reached, so a dispatch's time also
     * counted the input copies or the previous dispatch it waits for (on the H100 a 2048³ GEMM
     * read 2.9 ms, of which 2.3 were its inputs' upload). */
    if (s->queries) vk->vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->queries, q);
    vk->vkCmdDispatch(cb, d->groups[0], d->groups[1], d->groups[2]);
    if (s->queries) {
      vk->vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->queries, q + 1);
      s->recorded_index[p * b->n_dispatches + i] = s->n_recorded_dispatches;
    }
    s->n_recorded_dispatches++;
  }
  free(written);
  free(read);
  return MLG_OK;
}

/* Whether the bundle has program p (bit 1 << p): the run always; a train step; a preparation
 * when some dispatch belongs to it. */
static int has_program(const mlgb_bundle *b, uint32_t p) {
  return p == 0 || (p == 1 ? b->has_train : mlgb_program_used(b, 1u << p));
}

/* Recorded dispatches of program p (those without work are not recorded). */
static uint32_t count_work_of(const mlgb_bundle *b, uint32_t p) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    const mlgb_dispatch *d = &b->dispatches[i];
    n += d->groups[0] && d->groups[1] && d->groups[2] && (d->programs & (1u << p));
  }
  return n;
}

/* Recorded dispatches of every program. */
static uint32_t count_work(const mlgb_bundle *b) {
  uint32_t n = 0;
  for (uint32_t p = 0; p < MLG_VK_PROGRAMS; p++) n += has_program(b, p) ? count_work_of(b, p) : 0;
  return n;
}

/* Profiling devices: a timestamp query pool, two queries per recorded dispatch. */
static mlg_status create_queries(mlg_backend_session *s) {
  mlg_backend_device *dev = s->model->dev;
  const mlgb_bundle *b = s->model->bundle;
  uint32_t n = count_work(b);
  if (!dev->profiling || !dev->timestamp_bits || n == 0) return MLG_OK;
  s->stamps = calloc(2 * (size_t)n, sizeof *s->stamps);
  s->recorded_index = malloc((MLG_VK_PROGRAMS * (size_t)b->n_dispatches + 1u) * sizeof *s->recorded_index);
  if (!s->stamps || !s->recorded_index) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  for (uint32_t i = 0; i < MLG_VK_PROGRAMS * b->n_dispatches; i++) s->recorded_index[i] = UINT32_MAX;
  VkQueryPoolCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = 2 * n,
  };
  VkResult r = dev->inst.vk.vkCreateQueryPool(dev->device, &info, NULL, &s->queries);
  if (r != VK_SUCCESS) {
    s->queries = VK_NULL_HANDLE;
    return mlg_fail(mlg_vk_status(r), "vkCreateQueryPool (%u timestamps, model '%s') on '%s' failed: %s", 2 * n,
                    model_name(b), dev->name, mlg_vk_result_name(r));
  }
  return MLG_OK;
}

/* Records program p (0 the run, 1 the train step, 2 the preparation) into s->commands[p]: its
 * inputs in, its dispatches, its outputs out (the run's outputs; the train step's loss; the
 * preparation has neither). */
static mlg_status record_program(mlg_backend_session *s, uint32_t p) {
  mlg_backend_device *dev = s->model->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = s->model->bundle;
  VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VkResult r = vk->vkBeginCommandBuffer(s->commands[p], &begin);
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "vkBeginCommandBuffer (session of model '%s') on '%s' failed: %s", model_name(b),
                    dev->name, mlg_vk_result_name(r));
  VkCommandBuffer cb = s->commands[p];
  uint32_t n_work = count_work_of(b, p);
  s->first_recorded[p] = s->n_recorded_dispatches;
  if (s->queries && n_work) vk->vkCmdResetQueryPool(cb, s->queries, 2 * s->n_recorded_dispatches, 2 * n_work);
  const VkAccessFlags any_device = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                   VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags both = VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  /* Orders this run after the previous submission of either program. */
  memory_barrier(vk, cb, both, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, both, any_device);
  VkBufferCopy *scratch = calloc((size_t)s->n_inputs + (size_t)s->n_outputs + 1, sizeof *scratch);
  mlg_vk_slot *slots = calloc((size_t)s->n_inputs + (size_t)s->n_outputs + 1, sizeof *slots);
  if (!scratch || !slots) {
    free(scratch);
    free(slots);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  /* The inputs the program reads, then what it returns. */
  int n_in = 0, n_out = 0;
  for (int i = 0; i < s->n_inputs; i++)
    if (program_binds(b, 1u << p, s->slots[i].tensor)) slots[n_in++] = s->slots[i];
  for (int i = s->n_inputs; i < s->n_inputs + s->n_outputs; i++) {
    uint32_t t = s->slots[i].tensor;
    int want = p == 0 ? b->tensors[t].role == MLGB_ROLE_OUTPUT : p == 1 && t == b->train_loss;
    if (want) slots[n_in + n_out++] = s->slots[i];
  }
  if (record_copies(s, cb, slots, n_in, 1, scratch) > 0)
    memory_barrier(vk, cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  mlg_status st = record_dispatches(s, cb, p);
  if (st == MLG_OK) {
    memory_barrier(vk, cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                   VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    if (record_copies(s, cb, slots + n_in, n_out, 0, scratch) > 0)
      memory_barrier(vk, cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                     VK_ACCESS_HOST_READ_BIT);
  }
  free(scratch);
  free(slots);
  if (st != MLG_OK) return st;
  r = vk->vkEndCommandBuffer(cb);
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "vkEndCommandBuffer (session of model '%s', %u dispatches) on '%s' failed: %s",
                    model_name(b), s->n_recorded_dispatches, dev->name, mlg_vk_result_name(r));
  return MLG_OK;
}

static mlg_status record_commands(mlg_backend_session *s) {
  mlg_backend_device *dev = s->model->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = s->model->bundle;
  VkCommandPoolCreateInfo pool_info = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .queueFamilyIndex = dev->queue_family,
  };
  const char *call = "vkCreateCommandPool";
  VkResult r = vk->vkCreateCommandPool(dev->device, &pool_info, NULL, &s->command_pool);
  if (r != VK_SUCCESS) s->command_pool = VK_NULL_HANDLE;
  if (r == VK_SUCCESS) {
    call = "vkAllocateCommandBuffers";
    VkCommandBufferAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = s->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = MLG_VK_PROGRAMS,
    };
    r = vk->vkAllocateCommandBuffers(dev->device, &info, s->commands);
  }
  if (r == VK_SUCCESS) {
    call = "vkCreateFence";
    VkFenceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vk->vkCreateFence(dev->device, &info, NULL, &s->fence);
    if (r != VK_SUCCESS) s->fence = VK_NULL_HANDLE;
  }
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "%s (session of model '%s') on '%s' failed: %s", call, model_name(b), dev->name,
                    mlg_vk_result_name(r));
  mlg_status st = MLG_OK;
  for (uint32_t p = 0; p < MLG_VK_PROGRAMS && st == MLG_OK; p++)
    if (has_program(b, p)) st = record_program(s, p);
  return st;
}

mlg_status mlg_vk_record(mlg_backend_model *m, const void *params, mlg_backend_session **out_session) {
  *out_session = NULL;
  mlg_backend_session *s = calloc(1, sizeof *s);
  if (!s) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory");
  s->model = m;
  int errors = atomic_load(&m->dev->validation.errors);
  uint64_t staging_size = 0;
  mlg_status st = plan_slots(s, &staging_size);
  if (st == MLG_OK) st = create_buffers(s, staging_size, params);
  if (st == MLG_OK) st = create_sets(s);
  if (st == MLG_OK) st = create_queries(s);
  if (st == MLG_OK) st = record_commands(s);
  if (st == MLG_OK) st = mlg_vk_validation_check(m->dev, errors, "session recording");
  if (st != MLG_OK) {
    mlg_vk_session_destroy(s);
    return st;
  }
  *out_session = s;
  return MLG_OK;
}

void mlg_vk_session_destroy(mlg_backend_session *s) {
  if (!s) return;
  mlg_backend_device *dev = s->model->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  if (s->fence) vk->vkDestroyFence(dev->device, s->fence, NULL);
  if (s->command_pool) vk->vkDestroyCommandPool(dev->device, s->command_pool, NULL);
  if (s->pool) vk->vkDestroyDescriptorPool(dev->device, s->pool, NULL);
  if (s->queries) vk->vkDestroyQueryPool(dev->device, s->queries, NULL);
  mlg_vk_buffer_destroy(dev, s->staging, s->staging_memory); /* freeing unmaps */
  for (int r = MLGB_REGION_IO; r < MLGB_N_REGIONS; r++) mlg_vk_buffer_destroy(dev, s->buffers[r], s->memories[r]);
  free(s->sets);
  free(s->slots);
  free(s->stamps);
  free(s->recorded_index);
  free(s);
}

/* The recorded slot for transfer `t` (expected at `hint`, the same table order), or NULL. */
static const mlg_vk_slot *find_slot(const mlg_backend_session *s, int first, int n, int hint, const mlg_transfer *t) {
  for (int k = 0; k < n; k++) {
    const mlg_vk_slot *sl = &s->slots[first + (hint + k) % n];
    if (sl->region == t->region && sl->offset == t->offset && sl->size == t->size) return sl;
  }
  return NULL;
}

/* The session stages straight in the mapped staging buffer: a run then copies nothing on the
 * host (the slots are where the recorded buffer copies read and write). */
int mlg_vk_host_staging(mlg_backend_session *s, mlg_transfer *transfers, int n_transfers) {
  if (n_transfers != s->n_inputs + s->n_outputs) return -1;
  for (int i = 0; i < n_transfers; i++) {
    int input = i < s->n_inputs;
    const mlg_vk_slot *sl = input ? find_slot(s, 0, s->n_inputs, i, &transfers[i])
                                  : find_slot(s, s->n_inputs, s->n_outputs, i - s->n_inputs, &transfers[i]);
    if (!sl) return -1;
    transfers[i].host = s->staging_map + sl->staging_offset;
  }
  return 0;
}

mlg_status mlg_vk_run(mlg_backend_session *s, uint32_t program, const mlg_transfer *inputs, int n_inputs,
                      const mlg_transfer *outputs, int n_outputs) {
  mlg_backend_device *dev = s->model->dev;
  const mlg_vk_fns *vk = &dev->inst.vk;
  const mlgb_bundle *b = s->model->bundle;
  uint32_t p = program == MLGB_PROGRAM_TRAIN ? 1 : program == MLGB_PROGRAM_PREPARE ? 2 : 0;
  if (!has_program(b, p))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "model '%s' has no %s", model_name(b),
                    p == 1 ? "train step" : "preparation");
  for (int i = 0; i < n_inputs; i++) {
    const mlg_vk_slot *sl = s->n_inputs ? find_slot(s, 0, s->n_inputs, i, &inputs[i]) : NULL;
    if (!sl)
      return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "input '%s' is not an input the session of model '%s' recorded",
                      inputs[i].name, model_name(b));
    uint8_t *slot = s->staging_map + sl->staging_offset;
    if (sl->size && inputs[i].host != slot) memcpy(slot, inputs[i].host, (size_t)sl->size);
  }
  for (int i = 0; i < n_outputs; i++)
    if (!s->n_outputs || !find_slot(s, s->n_inputs, s->n_outputs, i, &outputs[i]))
      return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "output '%s' is not an output the session of model '%s' recorded",
                      outputs[i].name, model_name(b));
  int errors = atomic_load(&dev->validation.errors);
  const char *call = "vkResetFences";
  VkResult r = vk->vkResetFences(dev->device, 1, &s->fence);
  if (r == VK_SUCCESS) {
    call = "vkQueueSubmit";
    r = mlg_vk_submit(dev, s->commands[p], s->fence);
  }
  if (r == VK_SUCCESS) {
    call = "vkWaitForFences";
    r = mlg_vk_wait(dev, s->fence);
  }
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "%s (running model '%s', %u dispatches) on '%s' failed: %s%s", call,
                    model_name(b), s->n_recorded_dispatches, dev->name, mlg_vk_result_name(r),
                    r == VK_ERROR_DEVICE_LOST ? " (a kernel of the model crashed or hung the device)" : "");
  for (int i = 0; i < n_outputs; i++) {
    const mlg_vk_slot *sl = find_slot(s, s->n_inputs, s->n_outputs, i, &outputs[i]);
    uint8_t *slot = s->staging_map + sl->staging_offset;
    if (sl->size && outputs[i].host != slot) memcpy(outputs[i].host, slot, (size_t)sl->size);
  }
  s->last_program = p;
  return mlg_vk_validation_check(dev, errors, p == 1 ? "the train step" : p == 2 ? "the preparation" : "the run");
}

static mlg_status copy_region(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, void *host,
                              int to_device) {
  const mlgb_bundle *b = s->model->bundle;
  char what[300];
  snprintf(what, sizeof what, "%s region of model '%s'", mlg_region_name(region), model_name(b));
  int errors = atomic_load(&s->model->dev->validation.errors);
  mlg_status st = mlg_vk_copy(s->model->dev, s->buffers[region], offset, host, size, to_device, what);
  return st == MLG_OK ? mlg_vk_validation_check(s->model->dev, errors, "a copy") : st;
}

mlg_status mlg_vk_read(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, void *host) {
  return copy_region(s, region, offset, size, host, 0);
}

mlg_status mlg_vk_write(mlg_backend_session *s, uint32_t region, uint64_t offset, uint64_t size, const void *host) {
  return copy_region(s, region, offset, size, (void *)host, 1);
}

mlg_status mlg_vk_profile(mlg_backend_session *s, uint64_t *out_ns, uint32_t n_dispatches) {
  mlg_backend_device *dev = s->model->dev;
  const mlgb_bundle *b = s->model->bundle;
  if (!s->queries)
    return mlg_fail(MLG_ERR_UNSUPPORTED, "device '%s' cannot time dispatches%s", dev->name,
                    dev->profiling ? " (its compute queue has no timestamps)" : " (the runtime was created without profiling)");
  /* The last run's program only: the other's queries may never have been written. */
  uint32_t p = s->last_program, first = s->first_recorded[p];
  uint32_t n = 2 * count_work_of(b, p);
  VkResult r = n == 0 ? VK_SUCCESS
                      : dev->inst.vk.vkGetQueryPoolResults(dev->device, s->queries, 2 * first, n, n * sizeof *s->stamps,
                                                           s->stamps + 2 * first, sizeof *s->stamps,
                                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r != VK_SUCCESS)
    return mlg_fail(mlg_vk_status(r), "vkGetQueryPoolResults (model '%s') on '%s' failed: %s", model_name(b), dev->name,
                    mlg_vk_result_name(r));
  uint64_t mask = dev->timestamp_bits >= 64 ? UINT64_MAX : (((uint64_t)1 << dev->timestamp_bits) - 1);
  double period = dev->props.limits.timestampPeriod; /* ns per tick */
  for (uint32_t i = 0; i < n_dispatches && i < b->n_dispatches; i++) {
    uint32_t k = s->recorded_index[p * b->n_dispatches + i];
    out_ns[i] = 0;
    if (k == UINT32_MAX) continue;
    uint64_t ticks = ((s->stamps[2 * k + 1] & mask) - (s->stamps[2 * k] & mask)) & mask;
    out_ns[i] = (uint64_t)((double)ticks * period + 0.5);
  }
  return MLG_OK;
}

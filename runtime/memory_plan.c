/* memory_plan.c — a model's memory plan against what the device and the process can give, before
 * anything is allocated. Drivers fail in their own ways when memory runs out: PoCL aborted inside
 * clCreateBuffer with a 3.6 GB arena under a 3 GB limit, where each region alone was checked
 * against the largest buffer but never their total. CPU devices (PoCL, lavapipe) allocate
 * their buffers on the host, so there the device's memory counts against the host's. */
#include <inttypes.h>
#include <stdio.h>

#include "file_util.h"
#include "host_memory.h"
#include "internal.h"

mlg_status mlg_check_plan_memory(const mlg_runtime *rt, const mlgb_bundle *b, const char *where, int session_only) {
  const char *model = b->model_name ? b->model_name : "";
  uint64_t w = b->region_size[MLGB_REGION_WEIGHTS], io = b->region_size[MLGB_REGION_IO];
  /* Per session: the arena, and a trainable model's own copy of its params and its optimizer's
   * state (counted with the arena in the messages). */
  uint64_t arena = b->region_size[MLGB_REGION_ARENA] + b->region_size[MLGB_REGION_PARAMS] +
                   b->region_size[MLGB_REGION_STATE];
  char s1[32], s2[32], s3[32], s4[32], s5[32], why[512];
  uint64_t max_buffer = rt->backend->max_buffer ? rt->backend->max_buffer(rt->device) : 0;
  for (uint32_t r = 0; r < MLGB_N_REGIONS && max_buffer; r++)
    if (b->region_size[r] > max_buffer)
      return mlg_fail(MLG_ERR_OUT_OF_MEMORY,
                      "%s: model '%s': the %s region needs %s, but device '%s' allocates at most %s in one buffer",
                      where, model, mlg_region_name(r), mlg_format_bytes(b->region_size[r], s1, sizeof s1),
                      rt->info.spec, mlg_format_bytes(max_buffer, s2, sizeof s2));
  /* The device: the weights once per model, io and arena per session. */
  uint64_t device_need = (session_only ? 0 : w) + io + arena;
  if (rt->info.global_mem_bytes && device_need > rt->info.global_mem_bytes)
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY,
                    "%s: model '%s' needs %s of device memory (weights %s, io %s, arena %s), but device '%s' has %s",
                    where, model, mlg_format_bytes(device_need, s1, sizeof s1), mlg_format_bytes(w, s2, sizeof s2),
                    mlg_format_bytes(io, s3, sizeof s3), mlg_format_bytes(arena, s4, sizeof s4), rt->info.spec,
                    mlg_format_bytes(rt->info.global_mem_bytes, s5, sizeof s5));
  /* The host: the weights' image while they are uploaded and each session's staging of its io,
   * and on a CPU device the device's buffers as well. */
  uint64_t host_need = (session_only ? 0 : w) + io;
  if (!rt->info.is_gpu) host_need += device_need;
  mlg_host_memory mem;
  mlg_host_memory_query(&mem);
  if (host_need > mem.budget)
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY,
                    "%s: model '%s' needs %s of host memory%s (weights %s, io %s, arena %s), but %s",
                    where, model, mlg_format_bytes(host_need, s1, sizeof s1),
                    rt->info.is_gpu ? "" : " (its device buffers are host memory on a CPU device)",
                    mlg_format_bytes(w, s2, sizeof s2), mlg_format_bytes(io, s3, sizeof s3),
                    mlg_format_bytes(arena, s4, sizeof s4), mlg_host_memory_describe(&mem, why, sizeof why));
  return MLG_OK;
}

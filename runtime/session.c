/* session.c — one execution context of a model: host staging for its inputs and outputs
 * (allocated once: the backend's pinned memory when it has some, else here) and the backend's
 * recorded dispatch list. A run allocates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "internal.h"

/* Bytes a dispatch binds: each distinct tensor among its arguments once. */
static uint64_t dispatch_bytes(const mlgb_bundle *b, const mlgb_dispatch *d) {
  uint64_t bytes = 0;
  for (uint32_t a = 0; a < d->n_args; a++) {
    int seen = 0;
    for (uint32_t e = 0; e < a && !seen; e++) seen = d->args[e] == d->args[a];
    if (!seen) bytes += b->tensors[d->args[a]].size;
  }
  return bytes;
}

mlg_status mlg_session_create(mlg_model *model, mlg_session **out_session) {
  if (!out_session) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_create: out_session is NULL");
  *out_session = NULL;
  if (!model) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_create: model is NULL");

  const mlgb_bundle *b = model->bundle;
  int n = model->n_inputs + model->n_outputs;

  mlg_session *s = calloc(1, sizeof *s);
  if (!s) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory creating a session");
  s->model = model;
  mlg_runtime *rt = model->runtime;
  mlg_status st = rt->backend->record(model->backend_model, &s->backend_session);
  if (st != MLG_OK) {
    mlg_session_destroy(s);
    return st;
  }
  s->transfers = calloc((size_t)n + 1, sizeof *s->transfers);
  s->input_set = calloc((size_t)model->n_inputs + 1, 1);
  if (!s->transfers || !s->input_set) {
    mlg_session_destroy(s);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory creating a session");
  }
  for (int i = 0; i < n; i++) {
    uint32_t t = i < model->n_inputs ? model->inputs[i] : model->outputs[i - model->n_inputs];
    const mlgb_tensor *tensor = &b->tensors[t];
    s->transfers[i] = (mlg_transfer){tensor->name, tensor->region, tensor->offset, tensor->size, NULL};
  }
  /* The backend's staging when it has some (pinned memory: transfers run at the bus's speed,
   * where the driver copies pageable memory through a bounce buffer of its own first). */
  if (!rt->backend->host_staging || rt->backend->host_staging(s->backend_session, s->transfers, n) != 0) {
    /* Each slot 64-byte aligned, so staging can be handed to drivers that like it. */
    size_t staging_bytes = 0;
    for (int i = 0; i < n; i++) staging_bytes += ((size_t)s->transfers[i].size + 63) & ~(size_t)63;
    s->staging = aligned_alloc(64, staging_bytes ? staging_bytes : 64);
    if (!s->staging) {
      mlg_session_destroy(s);
      return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory for %zu bytes of session staging",
                      staging_bytes);
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
      s->transfers[i].host = s->staging + at;
      at += ((size_t)s->transfers[i].size + 63) & ~(size_t)63;
    }
  }
  for (int i = 0; i < n; i++) memset(s->transfers[i].host, 0, (size_t)s->transfers[i].size);

  if (rt->enable_profiling) {
    s->profile_ns = calloc((size_t)b->n_dispatches + 1, sizeof *s->profile_ns);
    s->profile_bytes = calloc((size_t)b->n_dispatches + 1, sizeof *s->profile_bytes);
    if (!s->profile_ns || !s->profile_bytes) {
      mlg_session_destroy(s);
      return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory for the profile of %u dispatches",
                      b->n_dispatches);
    }
    for (uint32_t i = 0; i < b->n_dispatches; i++)
      s->profile_bytes[i] = dispatch_bytes(b, &b->dispatches[i]);
  }
  *out_session = s;
  return MLG_OK;
}

void mlg_session_destroy(mlg_session *session) {
  if (!session) return;
  free(session->staging);
  if (session->backend_session)
    session->model->runtime->backend->session_destroy(session->backend_session);
  free(session->transfers);
  free(session->input_set);
  free(session->profile_ns);
  free(session->profile_bytes);
  free(session);
}

/* The bundle tensor of transfer i (inputs first, then outputs), its dtype's row, and the bytes a
 * caller passes for it (host elements: an i64 is 8 bytes, stored as 4). */
static const mlgb_tensor *tensor_of(const mlg_session *s, int i) {
  const mlg_model *m = s->model;
  return &m->bundle->tensors[i < m->n_inputs ? m->inputs[i] : m->outputs[i - m->n_inputs]];
}

static uint64_t host_bytes(const mlgb_tensor *t, uint64_t *out_numel) {
  const mlg_dtype_info *dt = mlg_dtype_get(t->dtype); /* model.c checked every dtype */
  *out_numel = t->size / (uint64_t)dt->storage_bytes;
  return *out_numel * (uint64_t)dt->host_bytes;
}

/* Index into transfers of the named input (outputs: n_inputs + k), or -1. */
static int find(const mlg_session *s, const char *name, int outputs) {
  const mlg_model *m = s->model;
  int first = outputs ? m->n_inputs : 0;
  int n = outputs ? m->n_outputs : m->n_inputs;
  for (int i = first; i < first + n; i++)
    if (strcmp(s->transfers[i].name, name) == 0) return i;
  return -1;
}

/* "x, y" — the names the model does have, for an unknown-name message. */
static void list_names(const mlg_session *s, int outputs, char *buf, size_t size) {
  const mlg_model *m = s->model;
  int first = outputs ? m->n_inputs : 0;
  int n = outputs ? m->n_outputs : m->n_inputs;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = first; i < first + n && used < size; i++) {
    int w = snprintf(buf + used, size - used, "%s'%s'", i > first ? ", " : "", s->transfers[i].name);
    if (w < 0) break;
    used += (size_t)w;
  }
  if (n == 0) snprintf(buf, size, "none");
}

mlg_status mlg_session_set_input(mlg_session *session, const char *name, const void *data, size_t bytes) {
  if (!session || !name || (!data && bytes))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_set_input: %s is NULL",
                    !session ? "session" : !name ? "name" : "data");
  int i = find(session, name, 0);
  if (i < 0) {
    char names[1024];
    list_names(session, 0, names, sizeof names);
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "model '%s' has no input '%s'; its inputs: %s",
                    mlg_model_name(session->model), name, names);
  }
  mlg_transfer *t = &session->transfers[i];
  const mlgb_tensor *tensor = tensor_of(session, i);
  uint64_t numel, want = host_bytes(tensor, &numel);
  if (bytes != want)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "input '%s' takes %llu bytes, got %zu", name,
                    (unsigned long long)want, bytes);
  size_t bad;
  int64_t bad_value;
  session->input_set[i] = 0;
  if (bytes && mlg_dtype_to_storage(tensor->dtype, data, t->host, (size_t)numel, &bad, &bad_value) != 0)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT,
                    "input '%s': element %zu is %lld, which does not fit in 32 bits (mlg computes "
                    "i64 as i32)", name, bad, (long long)bad_value);
  session->input_set[i] = 1;
  return MLG_OK;
}

mlg_status mlg_session_run(mlg_session *session) {
  if (!session) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_run: session is NULL");
  const mlg_model *m = session->model;
  for (int i = 0; i < m->n_inputs; i++)
    if (!session->input_set[i])
      return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "input '%s' was never set (mlg_session_set_input)",
                      session->transfers[i].name);
  mlg_status st = m->runtime->backend->run(session->backend_session, session->transfers, m->n_inputs,
                                           session->transfers + m->n_inputs, m->n_outputs);
  session->has_run = st == MLG_OK;
  return st;
}

mlg_status mlg_session_get_output(mlg_session *session, const char *name, void *data, size_t bytes) {
  if (!session || !name || (!data && bytes))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_get_output: %s is NULL",
                    !session ? "session" : !name ? "name" : "data");
  int i = find(session, name, 1);
  if (i < 0) {
    char names[1024];
    list_names(session, 1, names, sizeof names);
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "model '%s' has no output '%s'; its outputs: %s",
                    mlg_model_name(session->model), name, names);
  }
  const mlg_transfer *t = &session->transfers[i];
  const mlgb_tensor *tensor = tensor_of(session, i);
  uint64_t numel, want = host_bytes(tensor, &numel);
  if (bytes != want)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "output '%s' has %llu bytes, got room for %zu", name,
                    (unsigned long long)want, bytes);
  if (!session->has_run)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "output '%s': the session has not run successfully yet", name);
  if (bytes) mlg_dtype_from_storage(tensor->dtype, t->host, data, (size_t)numel);
  return MLG_OK;
}

mlg_status mlg_session_profile(mlg_session *session, mlg_dispatch_profile *out_profiles, int capacity,
                               int *out_count) {
  if (!session || !out_count || (!out_profiles && capacity > 0))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_profile: %s is NULL",
                    !session ? "session" : !out_count ? "out_count" : "out_profiles");
  *out_count = 0;
  const mlg_model *m = session->model;
  const mlg_backend *backend = m->runtime->backend;
  if (!session->profile_ns)
    return mlg_fail(MLG_ERR_UNSUPPORTED,
                    "model '%s': profiling is off; create the runtime with enable_profiling set",
                    mlg_model_name(m));
  if (!backend->profile)
    return mlg_fail(MLG_ERR_UNSUPPORTED, "the %s backend cannot time dispatches", backend->name);
  if (!session->has_run)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "model '%s': the session has not run successfully yet",
                    mlg_model_name(m));
  const mlgb_bundle *b = m->bundle;
  mlg_status st = backend->profile(session->backend_session, session->profile_ns, b->n_dispatches);
  if (st != MLG_OK) return st;
  for (uint32_t i = 0; i < b->n_dispatches && (int)i < capacity; i++) {
    uint32_t k = b->dispatches[i].kernel;
    out_profiles[i] = (mlg_dispatch_profile){b->dispatches[i].name, b->kernels[k].name, (int)k, (int)i,
                                             session->profile_ns[i], session->profile_bytes[i]};
  }
  *out_count = (int)b->n_dispatches;
  return MLG_OK;
}

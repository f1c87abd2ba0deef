/* session.c — one execution context of a model: host staging for its inputs and outputs
 * (allocated once: the backend's pinned memory when it has some, else here) and the backend's
 * recorded programs, whose preparation (the weights' packed layouts) runs once, here; for a
 * trainable model, the train step and the session's params. A run or a step allocates
 * nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "internal.h"
#include "tensor_file.h"

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
  /* A train step's loss that no output holds gets a transfer of its own, after the outputs. */
  int extra_loss = b->has_train && b->tensors[b->train_loss].role != MLGB_ROLE_OUTPUT;
  int n = model->n_inputs + model->n_outputs + extra_loss;

  /* The load checked one session's worth; each further one is checked again, as it comes. */
  mlg_status st = mlg_check_plan_memory(model->runtime, b, "mlg_session_create", 1);
  if (st != MLG_OK) return st;
  mlg_session *s = calloc(1, sizeof *s);
  if (!s) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory creating a session");
  s->model = model;
  mlg_runtime *rt = model->runtime;
  st = rt->backend->record(model->backend_model, model->params_image, &s->backend_session);
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
  s->n_transfers = n;
  for (int i = 0; i < n; i++) {
    uint32_t t = i < model->n_inputs                      ? model->inputs[i]
                 : i < model->n_inputs + model->n_outputs ? model->outputs[i - model->n_inputs]
                                                          : b->train_loss;
    const mlgb_tensor *tensor = &b->tensors[t];
    s->transfers[i] = (mlg_transfer){tensor->name, tensor->region, tensor->offset, tensor->size, NULL};
  }
  /* The backend's staging when it has some (pinned memory: transfers run at the bus's speed,
   * where the driver copies pageable memory through a bounce buffer of its own first). */
  int staged = rt->backend->host_staging ? rt->backend->host_staging(s->backend_session, s->transfers, n) : -1;
  if (staged < 0) {
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
  /* Each program's transfers: the inputs it reads; the run's outputs, or the step's loss. */
  for (int p = 0; p < 2; p++) {
    s->program_in[p] = calloc((size_t)n + 1, sizeof *s->program_in[p]);
    s->program_out[p] = calloc((size_t)n + 1, sizeof *s->program_out[p]);
    s->program_in_at[p] = calloc((size_t)n + 1, sizeof *s->program_in_at[p]);
    s->program_out_at[p] = calloc((size_t)n + 1, sizeof *s->program_out_at[p]);
    if (!s->program_in[p] || !s->program_out[p] || !s->program_in_at[p] || !s->program_out_at[p]) {
      mlg_session_destroy(s);
      return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory creating a session");
    }
    unsigned bit = p ? MLG_PROGRAM_TRAIN : MLG_PROGRAM_RUN;
    for (int i = 0; i < model->n_inputs; i++)
      if (model->input_programs[i] & bit) s->program_in_at[p][s->n_program_in[p]++] = i;
    if (p == 0)
      for (int i = 0; i < model->n_outputs; i++)
        s->program_out_at[0][s->n_program_out[0]++] = model->n_inputs + i;
    else if (b->has_train)
      for (int i = model->n_inputs; i < n; i++) {
        int output = i < model->n_inputs + model->n_outputs;
        if (output ? model->outputs[i - model->n_inputs] == b->train_loss : extra_loss) {
          s->loss_transfer = i;
          s->program_out_at[1][s->n_program_out[1]++] = i;
        }
      }
  }

  /* The dispatches that compute from the weights alone (a weight's packed layout), once: what
   * they write stays in the session's arena for every run and step after (bundle.h). */
  if (mlgb_program_used(b, MLGB_PROGRAM_PREPARE)) {
    st = rt->backend->run(s->backend_session, MLGB_PROGRAM_PREPARE, NULL, 0, NULL, 0);
    if (st != MLG_OK) {
      mlg_session_destroy(s);
      return st;
    }
    s->has_run = 3; /* profiles show the preparation until the first run */
  }
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
  for (int p = 0; p < 2; p++) {
    free(session->program_in[p]);
    free(session->program_out[p]);
    free(session->program_in_at[p]);
    free(session->program_out_at[p]);
  }
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
  if (!t->host) /* a resident backend lost its mapping (backend.h host_staging) */
    return mlg_fail(MLG_ERR_DEVICE, "input '%s': the session lost its device memory in a failed run; create "
                    "a new session", name);
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

/* Runs program p (0 the run, 1 the train step) after checking that its inputs were set. */
static mlg_status run_program(mlg_session *session, int p) {
  const mlg_model *m = session->model;
  unsigned bit = p ? MLG_PROGRAM_TRAIN : MLG_PROGRAM_RUN;
  for (int i = 0; i < m->n_inputs; i++)
    if ((m->input_programs[i] & bit) && !session->input_set[i])
      return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "input '%s' was never set (mlg_session_set_input)%s",
                      session->transfers[i].name, p ? "; the train step reads it" : "");
  for (int k = 0; k < session->n_program_in[p]; k++)
    session->program_in[p][k] = session->transfers[session->program_in_at[p][k]];
  for (int k = 0; k < session->n_program_out[p]; k++)
    session->program_out[p][k] = session->transfers[session->program_out_at[p][k]];
  session->has_run = 0;
  mlg_status st = m->runtime->backend->run(session->backend_session, bit, session->program_in[p],
                                           session->n_program_in[p], session->program_out[p],
                                           session->n_program_out[p]);
  session->has_run = st == MLG_OK ? p + 1 : 0;
  return st;
}

mlg_status mlg_session_run(mlg_session *session) {
  if (!session) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_run: session is NULL");
  return run_program(session, 0);
}

/* The train step's unsupported-model message. */
static mlg_status no_train_step(const mlg_session *session) {
  return mlg_fail(MLG_ERR_UNSUPPORTED,
                  "model '%s' has no train step; add 'train LOSS with OPTIMIZER(...)' to the model and "
                  "compile it again", mlg_model_name(session->model));
}

mlg_status mlg_session_train_step(mlg_session *session, float *out_loss) {
  if (!session) return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_train_step: session is NULL");
  const mlgb_bundle *b = session->model->bundle;
  if (!b->has_train) return no_train_step(session);
  mlg_status st = run_program(session, 1);
  if (st == MLG_OK && out_loss && session->n_program_out[1] == 1)
    memcpy(out_loss, session->transfers[session->loss_transfer].host, sizeof *out_loss);
  return st;
}

/* The model's param called `name` (its index in the model's param list), or -1 (reported). */
static int find_param(const mlg_session *session, const char *name, const char *what) {
  const mlg_model *m = session->model;
  const mlgb_bundle *b = m->bundle;
  for (int k = 0; k < m->n_params; k++)
    if (strcmp(b->tensors[m->params[k]].name, name) == 0) return k;
  char names[1024];
  size_t used = 0;
  names[0] = '\0';
  for (int k = 0; k < m->n_params && k < 8 && used < sizeof names; k++)
    used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", k ? ", " : "", b->tensors[m->params[k]].name);
  if (m->n_params > 8 && used < sizeof names) snprintf(names + used, sizeof names - used, ", ...");
  mlg_fail(MLG_ERR_INVALID_ARGUMENT, "%s: model '%s' has no param '%s'; its params: %s", what,
           mlg_model_name(m), name, m->n_params ? names : "none");
  return -1;
}

/* Copies tensor t's bytes between `host` and the session's copy of its region (set: to it). */
static mlg_status region_copy(mlg_session *session, const mlgb_tensor *t, void *host, int set) {
  const mlgb_bundle *b = session->model->bundle;
  if (t->region >= MLGB_N_REGIONS || t->offset > b->region_size[t->region] ||
      t->size > b->region_size[t->region] - t->offset)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "tensor '%s': %llu bytes at %llu lie outside the %s region",
                    t->name, (unsigned long long)t->size, (unsigned long long)t->offset,
                    mlg_region_name(t->region));
  const mlg_backend *be = session->model->runtime->backend;
  return set ? be->write(session->backend_session, t->region, t->offset, t->size, host)
             : be->read(session->backend_session, t->region, t->offset, t->size, host);
}

static mlg_status param_copy(mlg_session *session, const char *name, void *data, size_t bytes, int set) {
  const char *what = set ? "mlg_session_set_param" : "mlg_session_get_param";
  if (!session || !name || (!data && bytes))
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", what, !session ? "session" : !name ? "name" : "data");
  int k = find_param(session, name, what);
  if (k < 0) return MLG_ERR_INVALID_ARGUMENT;
  const mlgb_tensor *t = &session->model->bundle->tensors[session->model->params[k]];
  uint64_t numel, want = host_bytes(t, &numel);
  if (bytes != want)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "%s: param '%s' has %llu bytes, got %zu", what, name,
                    (unsigned long long)want, bytes);
  if (set && t->region != MLGB_REGION_PARAMS)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT,
                    "mlg_session_set_param: param '%s' is not trained by model '%s' (frozen, or not on the "
                    "loss's path): it is the model's, read-only; load other values with the weights_path load option",
                    name, mlg_model_name(session->model));
  if (want == t->size && t->dtype != MLGB_BOOL) return region_copy(session, t, data, set);
  /* Host and device forms differ (an i64 stored as i32, a bool normalized): through a copy. */
  uint8_t *stored = malloc(t->size ? (size_t)t->size : 1);
  if (!stored) return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "%s: out of host memory", what);
  mlg_status st = MLG_OK;
  size_t bad;
  int64_t bad_value;
  if (set && mlg_dtype_to_storage(t->dtype, data, stored, (size_t)numel, &bad, &bad_value) != 0)
    st = mlg_fail(MLG_ERR_INVALID_ARGUMENT, "%s: param '%s': element %zu is %lld, which does not fit in "
                  "32 bits (mlg computes i64 as i32)", what, name, bad, (long long)bad_value);
  if (st == MLG_OK) st = region_copy(session, t, stored, set);
  if (st == MLG_OK && !set) mlg_dtype_from_storage(t->dtype, stored, data, (size_t)numel);
  free(stored);
  return st;
}

mlg_status mlg_session_get_param(mlg_session *session, const char *name, void *data, size_t bytes) {
  return param_copy(session, name, data, bytes, 0);
}

mlg_status mlg_session_set_param(mlg_session *session, const char *name, const void *data, size_t bytes) {
  return param_copy(session, name, (void *)data, bytes, 1);
}

mlg_status mlg_session_save_weights(mlg_session *session, const char *path) {
  if (!session || !path)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "mlg_session_save_weights: %s is NULL", session ? "path" : "session");
  const mlg_model *m = session->model;
  const mlgb_bundle *b = m->bundle;
  uint64_t total = 0, numel;
  for (int k = 0; k < m->n_params; k++) total += host_bytes(&b->tensors[m->params[k]], &numel);
  mlg_tf_tensor *tensors = calloc((size_t)m->n_params + 1, sizeof *tensors);
  uint8_t *bytes = malloc(total ? (size_t)total : 1);
  if (!tensors || !bytes) {
    free(tensors);
    free(bytes);
    return mlg_fail(MLG_ERR_OUT_OF_MEMORY, "out of host memory saving %llu bytes of weights", (unsigned long long)total);
  }
  mlg_status st = MLG_OK;
  uint64_t at = 0;
  for (int k = 0; k < m->n_params && st == MLG_OK; k++) {
    const mlgb_tensor *t = &b->tensors[m->params[k]];
    mlg_tf_tensor *f = &tensors[k];
    f->name = t->name; /* borrowed: the writer only reads it */
    f->dtype = (mlg_tf_dtype)t->dtype; /* numbered alike (dtype.h) */
    f->rank = (int)t->rank;
    for (uint32_t d = 0; d < t->rank; d++) f->dims[d] = t->dims[d];
    f->size = host_bytes(t, &numel);
    f->data = bytes + at;
    st = param_copy(session, t->name, bytes + at, (size_t)f->size, 0);
    at += f->size;
  }
  char err[512];
  if (st == MLG_OK && mlg_safetensors_write_file(path, tensors, m->n_params, err, sizeof err) != 0)
    st = mlg_fail(MLG_ERR_IO, "cannot save weights to '%s': %s", path, err);
  free(tensors);
  free(bytes);
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
  if (session->has_run != 1)
    return mlg_fail(MLG_ERR_INVALID_ARGUMENT, "output '%s': %s", name,
                    session->has_run == 2 ? "the last call was a train step, which returns only its loss; "
                                            "mlg_session_run computes the outputs"
                                          : "the session has not run successfully yet");
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

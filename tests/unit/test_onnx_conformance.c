/* test_onnx_conformance.c — the ONNX backend node tests through the ONNX front end: each test's
 * model.onnx is imported, compiled at -O2, run on $MLG_TEST_DEVICE (default: the CPU OpenCL
 * device, PoCL) with test_data_set_0/input_N.pb, and compared with output_N.pb.
 *
 * The tests come from the onnx wheel (tools/onnx_tests.sh fetches them into
 * .cache/onnx-node-tests, which tools/test.sh does before ctest; $MLG_ONNX_TESTS_DIR names
 * another folder). Without them this suite fails and says how to fetch them: it never passes
 * having run nothing.
 *
 * A test is one of:
 *   passed       every output within rtol=1e-3, atol=1e-5 (the backend tests' own rtol; their
 *                atol of 1e-7 is below float32 rounding of results near 1 computed another way)
 *   unsupported  the importer rejects the model, with its reason (an op, attribute or dtype
 *                mlg does not have), listed
 *   failed       anything else: a compile error after a successful import, a run error, or a
 *                wrong value. The suite fails when any test fails.
 * Inputs that mlg cannot take at run time (a dtype mlg does not have, a scalar such as Clip's
 * bounds, or Resize's roi and scales) are bound as constants at import
 * (mlg_onnx_options.const_inputs), as an exporter writes them. The summary prints totals, per-op
 * counts and the unsupported reasons by
 * frequency; MLG_ONNX_TESTS=TEXT|TEXT... runs the tests whose name contains one of them,
 * MLG_ONNX_VERBOSE=1 prints every test's result and time. MLG_ONNX_RUN=sample imports and
 * compiles every test but runs only the first one of each op (and of each family of function
 * expansions); PoCL's kernel builds are what takes the time (about a second per test in the
 * sanitizer build). ctest runs that sample on PoCL and the core ops of CNNs and transformers on
 * lavapipe (tests/CMakeLists.txt); run the binary without MLG_ONNX_RUN for all of them. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bundle.h"
#include "compile.h"
#include "dtype.h"
#include "emit_mlg.h"
#include "mlg.h"
#include "onnx/onnx_file.h"
#include "onnx/onnx_import.h"
#include "onnx/onnx_internal.h"

#define MAX_TESTS 4096
#define MAX_IO 16
#define PATH_LEN 1024

typedef enum { R_PASSED, R_FAILED, R_UNSUPPORTED, R_COMPILED } result;

typedef struct node_test {
  char name[128];
  char op[48];
  result r;
  char detail[512];
} node_test;

static node_test g_results[MAX_TESTS];
static int g_n;
static mlg_runtime *g_rt;
static int g_target = MLGB_TARGET_OPENCL;
/* MLG_ONNX_RUN=sample: run only the first compiled test of each op (of each test family for
 * the function expansions); the others stop after import and compilation (R_COMPILED). */
static int g_sample;
static char g_run_keys[MAX_TESTS][48];
static int g_n_run_keys;

/* Whether the sampling runs this test: the first one compiled of its op or family. */
static int sample_runs(const node_test *t) {
  if (!g_sample) return 1;
  char key[48];
  if (strcmp(t->op, "(expanded)") == 0) snprintf(key, sizeof key, "x:%.*s", (int)strcspn(t->name + 5, "_"), t->name + 5);
  else snprintf(key, sizeof key, "%s", t->op);
  for (int i = 0; i < g_n_run_keys; i++)
    if (strcmp(g_run_keys[i], key) == 0) return 0;
  if (g_n_run_keys < MAX_TESTS) snprintf(g_run_keys[g_n_run_keys++], sizeof g_run_keys[0], "%s", key);
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void set_detail(node_test *t, result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_detail(node_test *t, result r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->detail, sizeof t->detail, fmt, ap);
  va_end(ap);
  t->r = r;
}

/* The op a test exercises: the model's op when all its nodes share one, else "(expanded)". */
static void test_op(const Onnx__ModelProto *m, char *out, size_t size) {
  const Onnx__GraphProto *g = m->graph;
  snprintf(out, size, "(none)");
  if (!g || !g->n_node || !g->node[0] || !g->node[0]->op_type) return;
  for (size_t k = 1; k < g->n_node; k++)
    if (!g->node[k] || !g->node[k]->op_type || strcmp(g->node[k]->op_type, g->node[0]->op_type) != 0) {
      snprintf(out, size, "(expanded)");
      return;
    }
  snprintf(out, size, "%s", g->node[0]->op_type);
}

/* The first line of the import error that names a reason: "node 'x' (Op, opset N): why". */
static void first_reason(const char *log, char *out, size_t size) {
  const char *line = strstr(log, "\n  ");
  const char *start = line ? line + 3 : log;
  const char *colon = line ? strstr(start, "): ") : NULL;
  if (colon && colon < strchr(start, '\n')) start = colon + 3;
  else if (line) start = line + 3;
  else if ((colon = strstr(log, "error: ")) != NULL) start = colon + 7;
  size_t n = strcspn(start, "\n");
  if (n >= size) n = size - 1;
  memcpy(out, start, n);
  out[n] = '\0';
}

typedef struct io_tensor {
  Onnx__TensorProto *proto;
  ox_tensor value;
} io_tensor;

static int read_io(const char *dir, const char *kind, int k, mlg_arena *arena, io_tensor *out,
                   char *err, size_t err_size) {
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%.900s/test_data_set_0/%s_%d.pb", dir, kind, k);
  memset(out, 0, sizeof *out);
  if (mlg_onnx_tensor_proto_read(path, &out->proto, err, err_size) != 0) return -1;
  return ox_tensor_decode(arena, out->proto, &out->value, err, err_size);
}

/* Whether input value v is fed at run time: not a scalar, and a dtype mlg has (float32 only
 * with `float_only`, the retry for a model whose integer inputs are shapes or axes). */
static int run_time_input(const ox_tensor *v, int float_only) {
  mlg_ir_dtype dt;
  if (float_only) return v->rank > 0 && v->dtype == OX_FLOAT;
  return v->rank > 0 && ox_mlg_dtype(v->dtype, &dt) == 0;
}

/* v's values in host form of `dtype` (the API's: i64 8 bytes, f16 binary16 bits). */
static void *host_values(const ox_tensor *v, mlg_ir_dtype dtype, size_t *out_size) {
  size_t n = (size_t)v->numel, hb = (size_t)mlg_dtype_get((uint32_t)dtype)->host_bytes;
  unsigned char *p = malloc(n ? n * hb : 1);
  if (!p) return NULL;
  for (size_t k = 0; k < n; k++) {
    double x = ox_tensor_num(v, (int64_t)k);
    unsigned char *e = p + k * hb;
    switch (dtype) {
    case MLG_F32: { float f = (float)x; memcpy(e, &f, 4); break; }
    case MLG_F16: { uint16_t h = mlg_f32_to_f16((float)x); memcpy(e, &h, 2); break; }
    case MLG_I32: { int32_t w = (int32_t)ox_tensor_int(v, (int64_t)k); memcpy(e, &w, 4); break; }
    case MLG_I64: { int64_t q = ox_tensor_int(v, (int64_t)k); memcpy(e, &q, 8); break; }
    default: e[0] = (unsigned char)ox_tensor_int(v, (int64_t)k); break; /* bool, i8, u8 */
    }
  }
  *out_size = n * hb;
  return p;
}

/* Whether the test's expected outputs wrap out-of-range 8-bit results around where the spec
 * and onnxruntime saturate them: QLinearMatMul's int8 tests up to onnx 1.20 (onnx issue 7835;
 * onnx PR 7868 regenerated them). mlg saturates; compare() lets such an element differ. */
static int data_wraps(const char *test) {
  return strncmp(test, "test_qlinearmatmul_", 19) == 0 && strstr(test, "_int8_") != NULL;
}

/* Compares an output of `dtype` (host form) with the test's: floats within the tolerance,
 * integers and bools exactly; with `wraps` (data_wraps), an 8-bit element mlg saturated to its
 * type's bound may differ (the data holds the value wrapped around). */
static int compare(const ox_tensor *want, mlg_ir_dtype dtype, const void *got, int wraps,
                   char *msg, size_t size) {
  const double rtol = 1e-3, atol = 1e-5;
  int exact = !mlg_dtype_is_float(dtype);
  double lo = dtype == MLG_I8 ? -128 : 0, hi = dtype == MLG_I8 ? 127 : 255;
  wraps = wraps && (dtype == MLG_I8 || dtype == MLG_U8);
  for (int64_t i = 0; i < want->numel; i++) {
    double w = ox_tensor_num(want, i), g = mlg_dtype_host_value((uint32_t)dtype, got, (size_t)i);
    int ok = exact ? g == w || (wraps && (g == lo || g == hi))
             : isnan(w) ? isnan(g) : isinf(w) ? g == w : isfinite(g) && fabs(g - w) <= atol + rtol * fabs(w);
    if (!ok) {
      snprintf(msg, size, "element %lld of %lld: got %.9g, want %.9g", (long long)i,
               (long long)want->numel, g, w);
      return -1;
    }
  }
  return 0;
}

/* Runs one test folder; fills t. */
/* Whether graph input `name` is the roi or the scales of a Resize node (values an exporter
 * writes as constants, and mlg needs known at import). */
static int resize_parameter(const Onnx__GraphProto *g, const char *name) {
  for (size_t k = 0; k < g->n_node; k++) {
    const Onnx__NodeProto *n = g->node[k];
    if (!n || !n->op_type || strcmp(n->op_type, "Resize") != 0) continue;
    for (size_t i = 1; i < 3 && i < n->n_input; i++)
      if (n->input[i] && strcmp(n->input[i], name) == 0) return 1;
  }
  return 0;
}

static void run_test(const char *dir, node_test *t) {
  char err[1024];
  uint8_t *bytes = NULL;
  size_t size = 0;
  Onnx__ModelProto *m = NULL;
  mlg_arena arena;
  mlg_arena_init(&arena);
  io_tensor ins[MAX_IO], outs[MAX_IO];
  int n_ins = 0, n_outs = 0;
  mlg_onnx_const_input consts[MAX_IO];
  const char *in_names[MAX_IO];
  int float_only = 0;
  mlg_graph *graph = NULL;
  mlg_pipeline p;
  memset(&p, 0, sizeof p);
  mlg_model *model = NULL;
  mlg_session *session = NULL;
  char *log = NULL;
  size_t log_size = 0;
  char path[PATH_LEN];
  snprintf(path, sizeof path, "%.900s/model.onnx", dir);

  if (mlg_onnx_read_bytes(path, &bytes, &size, err, sizeof err) != 0 ||
      mlg_onnx_model_unpack(bytes, size, path, &m, err, sizeof err) != 0) {
    set_detail(t, R_FAILED, "cannot read the model: %s", err);
    goto done;
  }
  test_op(m, t->op, sizeof t->op);
  const Onnx__GraphProto *g = m->graph;
  /* Graph inputs that are not initializers, in order: input_0.pb, input_1.pb, ... */
  for (size_t k = 0; g && k < g->n_input && n_ins < MAX_IO; k++) {
    const char *name = g->input[k] && g->input[k]->name ? g->input[k]->name : "";
    int is_init = 0;
    for (size_t j = 0; j < g->n_initializer; j++)
      is_init |= g->initializer[j] && g->initializer[j]->name && strcmp(g->initializer[j]->name, name) == 0;
    if (is_init) continue;
    const Onnx__TypeProto *tp = g->input[k] ? g->input[k]->type : NULL;
    if (tp && tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
      set_detail(t, R_UNSUPPORTED, "an input is a sequence, map or optional, not a tensor");
      goto done;
    }
    if (read_io(dir, "input", n_ins, &arena, &ins[n_ins], err, sizeof err) != 0) {
      n_ins++;
      set_detail(t, R_UNSUPPORTED, "an input: %s", err);
      goto done;
    }
    in_names[n_ins] = name;
    n_ins++;
  }
  for (size_t k = 0; g && k < g->n_output && n_outs < MAX_IO; k++) {
    if (read_io(dir, "output", n_outs, &arena, &outs[n_outs], err, sizeof err) != 0) {
      n_outs++;
      set_detail(t, R_UNSUPPORTED, "an output: %s", err);
      goto done;
    }
    n_outs++;
  }

  /* Inputs of every dtype mlg has are fed at run time; when the import needs the integer ones
   * known (shapes, axes, indices), it is tried again with them bound, as an exporter writes them. */
  int imported = 0, compiled = 0;
  for (;;) {
    int n_consts = 0, retry = 0;
    for (int k = 0; k < n_ins; k++) {
      if (!run_time_input(&ins[k].value, float_only) || resize_parameter(g, in_names[k]))
        consts[n_consts++] = (mlg_onnx_const_input){.name = in_names[k], .value = ins[k].proto};
      else if (!float_only && ins[k].value.dtype != OX_FLOAT)
        retry = 1;
    }
    free(log);
    log = NULL;
    FILE *log_stream = open_memstream(&log, &log_size);
    if (!log_stream) {
      set_detail(t, R_FAILED, "open_memstream failed");
      goto done;
    }
    mlg_source src;
    mlg_source_from_memory(&src, "model.onnx", "", 0);
    mlg_diag diag;
    mlg_diag_init(&diag, &src, log_stream);
    diag.max_errors = 0;
    mlg_onnx_options io = {.n_const_inputs = n_consts, .const_inputs = consts};
    imported = mlg_onnx_import(bytes, size, "model.onnx", &io, &diag, &graph) == 0;
    if (imported) {
      mlg_compile_options opt;
      memset(&opt, 0, sizeof opt);
      opt.target = g_target;
      opt.opt_level = 2;
      opt.subgroups = 0;
      compiled = mlg_pipeline_run_graph(graph, &opt, MLG_STAGE_BUNDLE, &diag, &p) == 0;
      graph = NULL; /* owned by p */
    }
    fclose(log_stream);
    mlg_source_free(&src);
    if (imported || !retry) break;
    float_only = 1;
  }
  if (!imported) {
    first_reason(log ? log : "", t->detail, sizeof t->detail);
    t->r = R_UNSUPPORTED;
    goto done;
  }
  if (!compiled) {
    set_detail(t, R_FAILED, "imported but did not compile: %.400s", log ? log : "");
    goto done;
  }
  if (!sample_runs(t)) {
    t->r = R_COMPILED;
    goto done;
  }
  mlg_status st = mlg_model_load_memory(g_rt, p.bundle, p.bundle_size, NULL, &model);
  if (st == MLG_OK) st = mlg_session_create(model, &session);
  if (st != MLG_OK) {
    set_detail(t, R_FAILED, "load: %s", mlg_last_error());
    goto done;
  }
  /* Run-time inputs: the graph's input nodes, in order, are the inputs not bound as consts. */
  const mlg_graph *gr = p.graph;
  int next = 0;
  for (int i = 0; i < gr->n_nodes; i++) {
    if (gr->nodes[i].kind != MLG_NODE_INPUT) continue;
    while (next < n_ins && !run_time_input(&ins[next].value, float_only)) next++;
    if (next >= n_ins) {
      set_detail(t, R_FAILED, "the graph has more inputs than the test");
      goto done;
    }
    const ox_tensor *v = &ins[next++].value;
    size_t bytes = 0;
    void *host = host_values(v, gr->nodes[i].type.dtype, &bytes);
    if (!host) goto done;
    st = mlg_session_set_input(session, gr->nodes[i].name, host, bytes);
    free(host);
    if (st != MLG_OK && gr->nodes[i].type.dtype == MLG_I64) {
      /* mlg computes int64 as int32: values beyond it are refused, with their index. */
      set_detail(t, R_UNSUPPORTED, "input %s: %s", gr->nodes[i].name, mlg_last_error());
      goto done;
    }
    if (st != MLG_OK) {
      set_detail(t, R_FAILED, "set_input %s: %s", gr->nodes[i].name, mlg_last_error());
      goto done;
    }
  }
  st = mlg_session_run(session);
  if (st != MLG_OK) {
    set_detail(t, R_FAILED, "run: %s", mlg_last_error());
    goto done;
  }
  if (gr->n_outputs != n_outs) {
    set_detail(t, R_FAILED, "%d outputs, the test has %d", gr->n_outputs, n_outs);
    goto done;
  }
  for (int o = 0; o < n_outs; o++) {
    const ox_tensor *want = &outs[o].value;
    const mlg_type *type = &gr->nodes[gr->outputs[o].node].type;
    if (mlg_type_numel(type) != want->numel || type->rank != want->rank) {
      set_detail(t, R_FAILED, "output %d has %lld elements (rank %d), the test %lld (rank %d)", o,
                 (long long)mlg_type_numel(type), type->rank, (long long)want->numel, want->rank);
      goto done;
    }
    size_t bytes = (size_t)want->numel * (size_t)mlg_dtype_get((uint32_t)type->dtype)->host_bytes;
    void *got = malloc(bytes ? bytes : 1);
    if (!got) goto done;
    st = mlg_session_get_output(session, gr->outputs[o].name, got, bytes);
    char msg[256];
    int bad = st != MLG_OK ? (snprintf(msg, sizeof msg, "get_output: %s", mlg_last_error()), 1)
              : ox_onnx_dtype(type->dtype) != want->dtype
                  ? (snprintf(msg, sizeof msg, "it is %s, the test's is %s", mlg_dtype_name(type->dtype),
                              ox_dtype_name(want->dtype)), 1)
                  : compare(want, type->dtype, got, data_wraps(t->name), msg, sizeof msg) != 0;
    free(got);
    if (bad) {
      set_detail(t, R_FAILED, "output %d (%s): %s", o, gr->outputs[o].name, msg);
      goto done;
    }
  }
  t->r = R_PASSED;
done:
  if (session) mlg_session_destroy(session);
  if (model) mlg_model_destroy(model);
  mlg_pipeline_free(&p);
  if (graph) mlg_graph_free(graph);
  for (int i = 0; i < n_ins; i++) mlg_onnx_tensor_proto_free(ins[i].proto);
  for (int i = 0; i < n_outs; i++) mlg_onnx_tensor_proto_free(outs[i].proto);
  mlg_onnx_model_free(m);
  free(bytes);
  free(log);
  mlg_arena_free(&arena);
}

/* ---- the summary --------------------------------------------------------------------------- */

typedef struct tally {
  const char *key;
  int n[4];
} tally;

static int find_or_add(tally *ts, int *n, const char *key) {
  for (int i = 0; i < *n; i++)
    if (strcmp(ts[i].key, key) == 0) return i;
  ts[*n] = (tally){.key = key};
  return (*n)++;
}

static int by_count_desc(const void *a, const void *b) {
  const tally *x = a, *y = b;
  return y->n[R_UNSUPPORTED] - x->n[R_UNSUPPORTED];
}

static void print_summary(int totals[4]) {
  static tally ops[MAX_TESTS], reasons[MAX_TESTS];
  int n_ops = 0, n_reasons = 0;
  for (int i = 0; i < g_n; i++) {
    ops[find_or_add(ops, &n_ops, g_results[i].op)].n[g_results[i].r]++;
    if (g_results[i].r == R_UNSUPPORTED) reasons[find_or_add(reasons, &n_reasons, g_results[i].detail)].n[R_UNSUPPORTED]++;
  }
  printf("\nONNX backend node tests, per op (passed/failed/unsupported%s):\n", g_sample ? "/compiled, not run" : "");
  for (int i = 0; i < n_ops; i++) {
    printf("  %-28s %3d %3d %3d", ops[i].key, ops[i].n[R_PASSED], ops[i].n[R_FAILED], ops[i].n[R_UNSUPPORTED]);
    if (g_sample) printf(" %3d", ops[i].n[R_COMPILED]);
    putchar('\n');
  }
  qsort(reasons, (size_t)n_reasons, sizeof reasons[0], by_count_desc);
  printf("\nunsupported, by reason:\n");
  for (int i = 0; i < n_reasons; i++) printf("  %4d  %s\n", reasons[i].n[R_UNSUPPORTED], reasons[i].key);
  printf("\nunsupported tests:\n");
  for (int i = 0; i < g_n; i++)
    if (g_results[i].r == R_UNSUPPORTED) printf("  %s: %s\n", g_results[i].name, g_results[i].detail);
  if (totals[R_FAILED]) {
    printf("\nfailed tests:\n");
    for (int i = 0; i < g_n; i++)
      if (g_results[i].r == R_FAILED) printf("  %s (%s): %s\n", g_results[i].name, g_results[i].op, g_results[i].detail);
  }
  printf("\nonnx conformance: %d tests: %d passed, %d failed, %d unsupported", g_n,
         totals[R_PASSED], totals[R_FAILED], totals[R_UNSUPPORTED]);
  if (g_sample)
    printf("; %d more imported and compiled but not run (MLG_ONNX_RUN=sample: the first test of each "
           "op runs; unset it to run them all)", totals[R_COMPILED]);
  putchar('\n');
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Whether name contains one of the '|'-separated parts of filter. */
static int matches(const char *name, const char *filter) {
  for (const char *p = filter; *p;) {
    size_t n = strcspn(p, "|");
    char part[128];
    if (n && n < sizeof part) {
      memcpy(part, p, n);
      part[n] = '\0';
      if (strstr(name, part)) return 1;
    }
    p += n + (p[n] == '|');
  }
  return 0;
}

START_TEST(node_tests) {
  const char *root = getenv("MLG_ONNX_TESTS_DIR");
  char default_root[PATH_LEN];
  snprintf(default_root, sizeof default_root, "%s/.cache/onnx-node-tests/node", MLG_SOURCE_DIR);
  if (!root) root = default_root;
  DIR *d = opendir(root);
  ck_assert_msg(d != NULL, "the ONNX backend node tests are not in %s (%s): run tools/onnx_tests.sh "
                "(tools/test.sh does) to fetch them from the onnx wheel on PyPI", root, strerror(errno));
  static char *names[MAX_TESTS];
  int n = 0;
  const char *filter = getenv("MLG_ONNX_TESTS");
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAX_TESTS) {
    if (e->d_name[0] == '.' || strncmp(e->d_name, "test_", 5) != 0) continue;
    if (filter && !matches(e->d_name, filter)) continue;
    names[n] = strdup(e->d_name);
    ck_assert_ptr_nonnull(names[n]);
    n++;
  }
  closedir(d);
  ck_assert_msg(n > 0, "no tests in %s", root);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);

  const char *device = getenv("MLG_TEST_DEVICE");
  if (device && strncmp(device, "vulkan", 6) == 0) g_target = MLGB_TARGET_VULKAN;
  const char *cache = MLG_BINARY_DIR "/test-onnx-cache";
  if (mkdir(cache, 0777) != 0 && errno != EEXIST) cache = "";
  mlg_runtime_options ro = {.device = device ? device : "cpu", .cache_dir = cache};
  ck_assert_msg(mlg_runtime_create(&ro, &g_rt) == MLG_OK, "no device: %s", mlg_last_error());
  int verbose = getenv("MLG_ONNX_VERBOSE") != NULL;
  int totals[4] = {0};
  const char *run = getenv("MLG_ONNX_RUN");
  g_sample = run && strcmp(run, "sample") == 0;
  for (int i = 0; i < n; i++) {
    node_test *t = &g_results[g_n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%.120s", names[i]);
    char dir[PATH_LEN];
    snprintf(dir, sizeof dir, "%.700s/%.200s", root, names[i]);
    double t0 = now_ms();
    run_test(dir, t);
    totals[t->r]++;
    if (verbose)
      printf("%-60s %7.0f ms %s %s\n", t->name, now_ms() - t0,
             t->r == R_PASSED ? "passed" : t->r == R_FAILED ? "FAILED" : t->r == R_COMPILED ? "compiled" : "unsupported",
             t->detail);
    free(names[i]);
  }
  mlg_runtime_destroy(g_rt);
  print_summary(totals);
  ck_assert_msg(totals[R_FAILED] == 0, "%d of %d ONNX node tests failed (listed above)", totals[R_FAILED], n);
  ck_assert_msg(totals[R_PASSED] > 0, "no ONNX node test passed");
}
END_TEST

int main(void) {
  Suite *s = suite_create("onnx_conformance");
  TCase *tc = tcase_create("node");
  tcase_set_timeout(tc, 1800);
  tcase_add_test(tc, node_tests);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_onnx_models.c — networks written in PyTorch and exported with torch.onnx.export
 * (tools/gen_onnx_models.py: tests/onnx/<model>/model.onnx, input.npy, and expected.npy from
 * onnxruntime), imported by the ONNX front end and run on PoCL and on lavapipe; their
 * --emit=mlg text compiled again with its weights file gives the same outputs; and a model
 * with several unsupported nodes is rejected with one error that lists each of them.
 * MLG_ONNX_MODELS_VERBOSE=1 prints each model's largest error against onnxruntime. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "compile.h"
#include "emit_mlg.h"
#include "mlg.h"
#include "onnx/onnx_import.h"
#include "op.h"
#include "tensor_file.h"

#define DIR_ONNX MLG_SOURCE_DIR "/tests/onnx"

typedef struct model_case {
  const char *name;
  const char *dim;      /* a symbolic dim bound from the input's first dim, or NULL */
  double rtol, atol;
  /* Quantized models: an element may also be one quantum (quantum.npy, the output's scale)
   * from onnxruntime's, on at most this fraction of the elements; 0 for float models. */
  double off_by_one_fraction;
  const char *fused_ops; /* ops `mlgc --emit=fused` must show (each once at least), or NULL */
} model_case;

/* The tolerances cover float32 sums in another order than onnxruntime's (and erf/tanh/exp
 * of the device's libm); the largest errors seen are printed with MLG_ONNX_MODELS_VERBOSE.
 * The quantized models' integer results may differ by one where a requantization lands on a
 * tie the other way (mlg's QDQ pass and onnxruntime's kernels round the scaled i32 sums with
 * float arithmetic of their own), as tests/fixtures' q_* fixtures allow; the QDQ model must
 * run the integer kernels, not float ones between quantize and dequantize. */
static const model_case cases[] = {
    {"resnet", NULL, 1e-4, 1e-5, 0, NULL},
    {"mobilenet", NULL, 1e-4, 1e-5, 0, NULL},
    {"gpt2", "batch", 1e-4, 1e-4, 0, NULL},
    {"qdq", NULL, 1e-5, 1e-6, 0.05, "qlinear_conv2d qlinear_matmul"},
    {"qoperator", NULL, 1e-5, 1e-6, 0.05, "qlinear_conv2d qlinear_matmul"},
    {"qdq_params", NULL, 1e-6, 1e-7, 0, NULL},
};

static const char *const devices[] = {"cpu", "vulkan:0"};

static mlg_diag g_diag;
static char *g_log;
static size_t g_log_size;
static FILE *g_log_stream;
static mlg_source g_src;

static void diag_begin(const char *name) {
  g_log_stream = open_memstream(&g_log, &g_log_size);
  ck_assert_ptr_nonnull(g_log_stream);
  ck_assert_int_eq(mlg_source_from_memory(&g_src, name, "", 0), 0);
  mlg_diag_init(&g_diag, &g_src, g_log_stream);
  g_diag.max_errors = 0;
}

static const char *diag_end(void) {
  fclose(g_log_stream);
  mlg_source_free(&g_src);
  return g_log ? g_log : "";
}

static mlg_graph *import(const model_case *mc, const mlg_tf_tensor *x) {
  char path[512];
  snprintf(path, sizeof path, DIR_ONNX "/%s/model.onnx", mc->name);
  mlg_dim_binding dim = {.name = mc->dim, .value = x->dims[0]};
  mlg_onnx_options io = {.n_dims = mc->dim ? 1 : 0, .dims = &dim};
  mlg_graph *g = NULL;
  diag_begin(path);
  int rc = mlg_onnx_import_file(path, &io, &g_diag, &g);
  const char *log = diag_end();
  ck_assert_msg(rc == 0 && g, "%s: import failed:\n%s", mc->name, log);
  free(g_log);
  g_log = NULL;
  return g;
}

/* Runs bundle bytes on `device` with input x; returns the single output (caller frees). */
static float *run_bundle(const uint8_t *bundle, size_t size, const char *device, const char *input,
                         const mlg_tf_tensor *x, size_t *out_n) {
  const char *cache = MLG_BINARY_DIR "/test-onnx-cache";
  if (mkdir(cache, 0777) != 0 && errno != EEXIST) cache = "";
  mlg_runtime_options ro = {.device = device, .cache_dir = cache};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "%s: %s", device, mlg_last_error());
  mlg_model *model = NULL;
  mlg_session *s = NULL;
  ck_assert_msg(mlg_model_load_memory(rt, bundle, size, NULL, &model) == MLG_OK, "load: %s", mlg_last_error());
  ck_assert_msg(mlg_session_create(model, &s) == MLG_OK, "session: %s", mlg_last_error());
  ck_assert_msg(mlg_session_set_input(s, input, x->data, x->size) == MLG_OK, "input: %s", mlg_last_error());
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "run: %s", mlg_last_error());
  mlg_tensor_info info;
  ck_assert_int_eq(mlg_model_output_count(model), 1);
  ck_assert_int_eq(mlg_model_output_info(model, 0, &info), MLG_OK);
  float *y = malloc(info.bytes);
  ck_assert_ptr_nonnull(y);
  ck_assert(mlg_session_get_output(s, info.name, y, info.bytes) == MLG_OK);
  *out_n = info.bytes / sizeof(float);
  mlg_session_destroy(s);
  mlg_model_destroy(model);
  mlg_runtime_destroy(rt);
  return y;
}

static void read_npy(const char *model, const char *file, mlg_tf_tensor *t) {
  char path[512], err[512];
  snprintf(path, sizeof path, DIR_ONNX "/%s/%s", model, file);
  ck_assert_msg(mlg_npy_read_file(path, t, err, sizeof err) == 0, "%s", err);
}

/* One quantum of a quantized model's output (its quantum.npy), or 0. */
static double quantum_of(const model_case *mc) {
  if (mc->off_by_one_fraction <= 0) return 0;
  mlg_tf_tensor q;
  read_npy(mc->name, "quantum.npy", &q);
  ck_assert_msg(q.dtype == MLG_TF_F32 && q.size == sizeof(float), "%s: quantum.npy must be one float32",
                mc->name);
  double v = *(const float *)q.data;
  mlg_tf_tensor_free(&q);
  ck_assert_msg(v > 0, "%s: quantum.npy holds %g", mc->name, v);
  return v;
}

static void compare(const model_case *mc, const char *what, const float *got, size_t n,
                    const mlg_tf_tensor *want) {
  ck_assert_msg(n * sizeof(float) == want->size, "%s %s: %zu outputs, onnxruntime has %zu", mc->name, what,
                n, want->size / sizeof(float));
  const float *w = want->data;
  double worst = 0, quantum = quantum_of(mc);
  size_t off_by_one = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)w[i]), tol = mc->atol + mc->rtol * fabs((double)w[i]);
    int one_off = quantum > 0 && d > tol && fabs(d - quantum) <= tol + 1e-4 * quantum;
    ck_assert_msg(d <= tol || one_off, "%s %s: element %zu: got %.9g, onnxruntime %.9g%s", mc->name,
                  what, i, got[i], w[i], quantum > 0 ? " (more than one quantum apart)" : "");
    off_by_one += (size_t)one_off;
    if (d > worst) worst = d;
  }
  ck_assert_msg((double)off_by_one <= mc->off_by_one_fraction * (double)n,
                "%s %s: %zu of %zu elements are one quantum from onnxruntime's (at most %g allowed)",
                mc->name, what, off_by_one, n, mc->off_by_one_fraction);
  if (getenv("MLG_ONNX_MODELS_VERBOSE") && quantum > 0)
    printf("%-10s %-28s max |error| %.3g, %zu of %zu one quantum (%.3g) apart\n", mc->name, what,
           worst, off_by_one, n, quantum);
  else if (getenv("MLG_ONNX_MODELS_VERBOSE"))
    printf("%-10s %-28s max |error| %.3g\n", mc->name, what, worst);
}

/* The graph's only input's name (mapped from the ONNX "x"). */
static const char *input_name(const mlg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].kind == MLG_NODE_INPUT) return g->nodes[i].name;
  return "?";
}

/* Whether graph g has a node of mlg op `op`. */
static int has_op(const mlg_graph *g, const char *op) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].kind == MLG_NODE_OP && strcmp(g->nodes[i].op->name, op) == 0) return 1;
  return 0;
}

/* Every op of mc->fused_ops is in the optimized graph (what --emit=fused shows), and no float
 * conv2d or matmul is left beside them. */
static void check_fused_ops(const model_case *mc, const mlg_graph *optimized) {
  if (!mc->fused_ops) return;
  char ops[128];
  snprintf(ops, sizeof ops, "%s", mc->fused_ops);
  for (char *save = NULL, *op = strtok_r(ops, " ", &save); op; op = strtok_r(NULL, " ", &save))
    ck_assert_msg(has_op(optimized, op), "%s: no %s after the passes", mc->name, op);
  ck_assert_msg(!has_op(optimized, "conv2d") && !has_op(optimized, "matmul") &&
                !has_op(optimized, "linear"), "%s: a float conv2d, matmul or linear is left", mc->name);
}

START_TEST(exported_models) {
  const model_case *mc = &cases[_i];
  mlg_tf_tensor x, want;
  read_npy(mc->name, "input.npy", &x);
  read_npy(mc->name, "expected.npy", &want);
  for (size_t d = 0; d < sizeof devices / sizeof devices[0]; d++) {
    mlg_graph *g = import(mc, &x);
    char input[128];
    snprintf(input, sizeof input, "%s", input_name(g));
    /* Portable kernels on PoCL (its CPU-class GEMMs take PoCL tens of seconds to build),
     * CPU-class ones on lavapipe, as test_fixtures_vulkan does. */
    mlg_compile_options opt = {.opt_level = 2,
                               .target = d ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL,
                               .device_class = d ? 1 : 0};
    mlg_pipeline p;
    diag_begin(mc->name);
    int rc = mlg_pipeline_run_graph(g, &opt, MLG_STAGE_BUNDLE, &g_diag, &p);
    const char *log = diag_end();
    ck_assert_msg(rc == 0, "%s: compile failed:\n%s", mc->name, log);
    free(g_log);
    g_log = NULL;
    check_fused_ops(mc, p.optimized);
    size_t n;
    float *y = run_bundle(p.bundle, p.bundle_size, devices[d], input, &x, &n);
    char what[64];
    snprintf(what, sizeof what, "on %s", devices[d]);
    compare(mc, what, y, n, &want);
    free(y);
    mlg_pipeline_free(&p);
  }
  mlg_tf_tensor_free(&x);
  mlg_tf_tensor_free(&want);
}
END_TEST

/* --emit=mlg: the text and its weights file compile to a model with the same outputs. */
START_TEST(emitted_mlg_round_trip) {
  const model_case *mc = &cases[_i];
  mlg_tf_tensor x, want;
  read_npy(mc->name, "input.npy", &x);
  read_npy(mc->name, "expected.npy", &want);
  mlg_graph *g = import(mc, &x);
  char weights[512], input[128];
  snprintf(weights, sizeof weights, MLG_BINARY_DIR "/test-onnx-%s.safetensors", mc->name);
  snprintf(input, sizeof input, "%s", input_name(g));
  char *text = NULL;
  size_t text_size = 0;
  FILE *out = open_memstream(&text, &text_size);
  diag_begin(mc->name);
  int rc = mlg_emit_mlg(g, "model.onnx", weights, &g_diag, out);
  fclose(out);
  const char *log = diag_end();
  ck_assert_msg(rc == 0, "%s: --emit=mlg failed:\n%s", mc->name, log);
  free(g_log);
  g_log = NULL;
  mlg_graph_free(g);

  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "emitted.mlg", text, text_size), 0);
  FILE *log_stream = open_memstream(&g_log, &g_log_size);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, log_stream);
  /* A model whose values are all consts (qdq_params) writes no weights file. */
  struct stat st;
  mlg_compile_options opt = {.opt_level = 2, .weights_path = stat(weights, &st) == 0 ? weights : NULL};
  uint8_t *bundle = NULL;
  size_t size = 0;
  rc = mlg_compile(&src, &opt, &diag, &bundle, &size);
  fclose(log_stream);
  ck_assert_msg(rc == 0, "%s: the emitted text does not compile:\n%s\n%s", mc->name, g_log, text);
  free(g_log);
  g_log = NULL;
  size_t n;
  float *y = run_bundle(bundle, size, "cpu", input, &x, &n);
  compare(mc, "emitted mlg on cpu", y, n, &want);
  free(y);
  free(bundle);
  free(text);
  mlg_source_free(&src);
  remove(weights);
  mlg_tf_tensor_free(&x);
  mlg_tf_tensor_free(&want);
}
END_TEST

/* One error names every node that cannot be imported, and no node that can. */
START_TEST(unsupported_listed_together) {
  mlg_graph *g = NULL;
  diag_begin("unsupported.onnx");
  int rc = mlg_onnx_import_file(DIR_ONNX "/unsupported/model.onnx", NULL, &g_diag, &g);
  const char *log = diag_end();
  ck_assert_int_ne(rc, 0);
  ck_assert_ptr_null(g);
  ck_assert_int_eq(g_diag.n_errors, 1);
  static const char *const listed[] = {
      "cannot import this model: 5 things in it are not supported by mlg",
      "node 'upsample' (Resize, opset 17): nearest with coordinate_transformation_mode='half_pixel'",
      "node 'pool_indices' (MaxPool, opset 17): output 1 (Indices) is not supported",
      "node 'arcsine' (Asin, opset 17): no mapping for this op",
      "node 'conv_odd' (Conv, opset 17): attribute 'foo' not handled",
      "node 'arccosine' (Acos, opset 17): no mapping for this op"};
  for (size_t k = 0; k < sizeof listed / sizeof listed[0]; k++)
    ck_assert_msg(strstr(log, listed[k]), "missing '%s' in:\n%s", listed[k], log);
  ck_assert_msg(!strstr(log, "'fine'") && !strstr(log, "'after_pool'"), "lists a node it should not:\n%s", log);
  free(g_log);
  g_log = NULL;
}
END_TEST

/* Puts tag and the varint length of buf[0, len) in front of it; returns the new length. */
static size_t wrap(uint8_t *buf, size_t len, uint8_t tag) {
  uint8_t head[11];
  size_t h = 0, l = len;
  head[h++] = tag;
  do {
    head[h++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
    l >>= 7;
  } while (l);
  memmove(buf + h, buf, len);
  memcpy(buf, head, h);
  return len + h;
}

/* Bad files: an error each, never a crash. */
START_TEST(bad_files) {
  static const struct {
    const char *bytes;
    size_t size;
    const char *expect;
  } bad[] = {
      {"", 0, "the model has no graph"},
      {"\x0a\xff\xff\xff\xff\x0f", 6, "a length runs past the end"},
      {"\x3a\x02\x0a\x00", 4, "imports no opset"},
      {"hello, world", 12, "not a valid ONNX model file"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    mlg_graph *g = NULL;
    diag_begin("bad.onnx");
    int rc = mlg_onnx_import((const uint8_t *)bad[k].bytes, bad[k].size, "bad.onnx", NULL, &g_diag, &g);
    const char *log = diag_end();
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(log, bad[k].expect), "case %zu: expected '%s' in:\n%s", k, bad[k].expect, log);
    free(g_log);
    g_log = NULL;
  }
  /* Nesting deeper than the walk allows: graphs inside node attributes, 200 levels. */
  enum { LEVELS = 200, CAP = LEVELS * 3 * 8 + 16 };
  uint8_t *buf = calloc(CAP, 1);
  ck_assert_ptr_nonnull(buf);
  size_t len = 0;
  static const uint8_t tags[] = {0x32, 0x2a, 0x0a}; /* Attribute.g, Node.attribute, Graph.node */
  for (int level = 0; level < LEVELS; level++)
    for (int t = 0; t < 3; t++) len = wrap(buf, len, tags[t]);
  len = wrap(buf, len, 0x3a); /* Model.graph */
  mlg_graph *g = NULL;
  diag_begin("deep.onnx");
  int rc = mlg_onnx_import(buf, len, "deep.onnx", NULL, &g_diag, &g);
  const char *log = diag_end();
  ck_assert_int_ne(rc, 0);
  ck_assert_msg(strstr(log, "nest deeper than 64 levels"), "%s", log);
  free(g_log);
  g_log = NULL;
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("onnx_models");
  TCase *tc = tcase_create("models");
  tcase_set_timeout(tc, 900);
  int n = (int)(sizeof cases / sizeof cases[0]);
  tcase_add_loop_test(tc, exported_models, 0, n);
  tcase_add_loop_test(tc, emitted_mlg_round_trip, 0, n);
  tcase_add_test(tc, unsupported_listed_together);
  tcase_add_test(tc, bad_files);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

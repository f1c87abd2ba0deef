/* test_fuzz.c — a fuzz smoke test of the front ends: a few thousand generated and mutated
 * inputs through mlg_parse + mlg_check (and a subset through mlg_compile at -O2, -O1 and -O0),
 * and mutated ONNX models (tests/onnx/) through the ONNX importer.
 *
 * For every input: it either checks cleanly (a graph, no errors) or reports at least one error
 * (no graph) — never both, never neither — and it never crashes (ASan/UBSan turn a crash or an
 * overflow into a failed test). Graphs that come back are checked for their own invariants.
 *
 * Deterministic: the seed is printed; MLG_FUZZ_SEED=N replays another one, MLG_FUZZ_SCALE=N
 * multiplies the number of generated inputs, MLG_FUZZ_VERBOSE=1 prints every diagnostic. Each case stops generating new inputs when it has
 * spent its time budget (printed), so the whole suite stays well under a minute under ASan. */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../runtime/bundle.h"
#include "ast.h"
#include "checker.h"
#include "compile.h"
#include "diag.h"
#include "graph.h"
#include "onnx/onnx_file.h"
#include "onnx/onnx_import.h"
#include "op.h"
#include "parse.h"

#define DEFAULT_SEED UINT64_C(0x6d6c67f0221)
#define CASE_BUDGET_S 6.0        /* per case, wall time, ASan included */
#define MAX_CORPUS 256

/* ---- deterministic random numbers (splitmix64) ---------------------------------------------- */

static uint64_t g_seed;
static int g_scale = 1;
static FILE *g_diag_out; /* MLG_FUZZ_VERBOSE=1: print every diagnostic to stderr */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static size_t rng_below(rng *r, size_t n) { return (size_t)(rng_next(r) % n); }

static rng rng_for(const char *stream) {
  uint64_t h = g_seed;
  for (const char *p = stream; *p; p++) h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
  return (rng){h};
}

/* ---- a growable byte buffer ------------------------------------------------------------------ */

typedef struct buf {
  char *data;
  size_t len, cap;
} buf;

static void buf_reserve(buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  ck_assert_ptr_nonnull(p);
  b->data = p;
  b->cap = cap;
}

static void buf_add(buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void buf_puts(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  ck_assert_int_ge(n, 0);
  buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void buf_repeat(buf *b, const char *s, size_t times) {
  size_t n = strlen(s);
  buf_reserve(b, n * times);
  for (size_t i = 0; i < times; i++) buf_add(b, s, n);
}

static void buf_reset(buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

static void buf_free(buf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

/* ---- running one input ----------------------------------------------------------------------- */

typedef struct stats {
  int inputs, clean, rejected, compiled;
} stats;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A graph the checker hands back must be well formed. */
static void assert_graph_valid(const mlg_graph *g, const char *what) {
  ck_assert_msg(g->n_nodes >= 0, "%s: negative node count", what);
  for (int i = 0; i < g->n_nodes; i++) {
    const mlg_node *nd = &g->nodes[i];
    ck_assert_msg(nd->type.rank >= 0 && nd->type.rank <= MLG_MAX_RANK, "%s: node %d rank %d", what,
                  i, nd->type.rank);
    for (int d = 0; d < nd->type.rank; d++)
      ck_assert_msg(nd->type.dims[d] >= 1, "%s: node %d dim %d is %" PRId64, what, i, d,
                    nd->type.dims[d]);
    int64_t numel = mlg_type_numel(&nd->type);
    ck_assert_msg(numel >= 1 && numel <= (INT64_C(1) << 40), "%s: node %d numel %" PRId64, what,
                  i, numel);
    if (nd->kind == MLG_NODE_OP) ck_assert_msg(nd->op != NULL, "%s: op node %d has no op", what, i);
    for (int k = 0; k < nd->n_inputs; k++)
      ck_assert_msg(nd->inputs[k] >= 0 && nd->inputs[k] < i,
                    "%s: node %d input %d = %d is not an earlier node", what, i, k, nd->inputs[k]);
  }
  ck_assert_msg(g->n_outputs >= 1, "%s: a checked graph without outputs", what);
  for (int o = 0; o < g->n_outputs; o++)
    ck_assert_msg(g->outputs[o].node >= 0 && g->outputs[o].node < g->n_nodes,
                  "%s: output %d refers to node %d", what, o, g->outputs[o].node);
}

/* Parses and checks one input; optionally compiles it at -O2, -O1 and -O0 and reads each bundle
 * back. Returns 1 if it checked cleanly. */
static int run_input(const char *text, size_t len, const char *what, int compile, stats *st) {
  /* compile: 0 no, 1 with --no-weights (fast), 2 with the initializers' weights */
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "<fuzz>", text, len), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, g_diag_out);
  st->inputs++;

  mlg_ast *ast = mlg_parse(&src, &diag);
  ck_assert_msg(ast != NULL, "%s: mlg_parse returned NULL (out of memory?)", what);
  mlg_graph *graph = NULL;
  if (diag.n_errors == 0) {
    mlg_check_options opts = {0};
    graph = mlg_check(ast, &opts, &diag);
    if (graph) {
      ck_assert_msg(diag.n_errors == 0, "%s: a graph and %d errors", what, diag.n_errors);
      assert_graph_valid(graph, what);
    } else {
      ck_assert_msg(diag.n_errors >= 1, "%s: no graph and no error reported", what);
    }
  }
  int clean = graph != NULL;
  if (clean) st->clean++;
  else st->rejected++;
  if (graph) mlg_graph_free(graph);
  mlg_ast_free(ast);

  /* Every optimization level compiles what -O2 compiles, and none fails on its own mistake. */
  for (int level = 2, rc2 = 0; clean && compile && level >= 0; level--) {
    char *log = NULL;
    size_t log_size = 0;
    FILE *log_stream = open_memstream(&log, &log_size);
    ck_assert_ptr_nonnull(log_stream);
    mlg_diag cdiag;
    mlg_diag_init(&cdiag, &src, log_stream);
    mlg_compile_options copts = {0};
    copts.opt_level = level;
    copts.no_weights = compile == 1;
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = mlg_compile(&src, &copts, &cdiag, &data, &size);
    fclose(log_stream);
    if (g_diag_out) fputs(log, g_diag_out);
    ck_assert_msg(strstr(log, "internal error") == NULL, "%s -O%d: %s", what, level, log);
    if (level == 2) rc2 = rc;
    ck_assert_msg(rc == rc2, "%s: compiles at -O2 but not at -O%d: %s", what, level, log);
    if (rc == 0) {
      ck_assert_msg(data != NULL && size > 0, "%s: compiled to an empty bundle", what);
      ck_assert_msg(cdiag.n_errors == 0, "%s: compiled with %d errors", what, cdiag.n_errors);
      mlgb_bundle *bundle = NULL;
      char err[256] = "";
      ck_assert_msg(mlgb_read(data, size, &bundle, err, sizeof(err)) == 0,
                    "%s: mlgc's own bundle does not read back: %s", what, err);
      mlgb_free(bundle);
      if (level == 2) st->compiled++;
    } else {
      ck_assert_msg(cdiag.n_errors >= 1, "%s: mlg_compile failed without an error", what);
    }
    free(data);
    free(log);
  }
  mlg_source_free(&src);
  return clean;
}

static void report(const char *name, const stats *st, double t0, int stopped_early) {
  printf("fuzz %-12s seed=0x%" PRIx64 ": %d inputs (%d clean, %d rejected, %d compiled) in %.2f s%s\n",
         name, g_seed, st->inputs, st->clean, st->rejected, st->compiled, now_s() - t0,
         stopped_early ? " (time budget reached)" : "");
  fflush(stdout);
}

/* ---- the corpus: every .mlg file in models/ and tests/diag/ ----------------------------------- */

typedef struct corpus {
  int n;
  char *text[MAX_CORPUS];
  size_t len[MAX_CORPUS];
  char name[MAX_CORPUS][64];
  int valid[MAX_CORPUS];   /* 1: a model that must check; 0: a catalogued bad input */
} corpus;

static corpus g_corpus;

static void corpus_add_dir(const char *dir, int valid) {
  DIR *d = opendir(dir);
  if (!d) return;
  /* readdir order is filesystem order; sort by name so the corpus is the same everywhere. */
  char *names[MAX_CORPUS];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAX_CORPUS) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".mlg") == 0) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    free(names[i]);
    if (g_corpus.n >= MAX_CORPUS) continue;
    mlg_source src;
    if (mlg_source_load(&src, path) != 0) continue;
    g_corpus.text[g_corpus.n] = malloc(src.length + 1);
    ck_assert_ptr_nonnull(g_corpus.text[g_corpus.n]);
    memcpy(g_corpus.text[g_corpus.n], src.text, src.length + 1);
    g_corpus.len[g_corpus.n] = src.length;
    const char *rel = path + strlen(MLG_SOURCE_DIR) + 1;
    size_t rl = strlen(rel);
    if (rl >= sizeof(g_corpus.name[0])) rl = sizeof(g_corpus.name[0]) - 1;
    memcpy(g_corpus.name[g_corpus.n], rel, rl);
    g_corpus.name[g_corpus.n][rl] = '\0';
    g_corpus.valid[g_corpus.n] = valid;
    g_corpus.n++;
    mlg_source_free(&src);
  }
}

static void corpus_load(void) {
  if (g_corpus.n) return;
  corpus_add_dir(MLG_SOURCE_DIR "/models", 1);
  corpus_add_dir(MLG_SOURCE_DIR "/tests/diag", 0);
}

/* ---- generators ------------------------------------------------------------------------------ */

static const char *const k_tokens[] = {
    "model", "fn", "dim", "input", "param", "const", "output", "return", "as", "zeros", "ones",
    "normal", "uniform", "true", "false", "f32", "i32", "f16", "i8", "x", "y", "h", "N", "C",
    "fc1.weight", "layer1.0.conv1.weight", "relu", "softmax", "linear", "conv2d", "reshape",
    "transpose", "concat", "matmul", "max_pool2d", "layer_norm", "gather", "sum", "slice",
    "axis", "axes", "perm", "stride", "padding", "groups", "kernel", "eps", "seed", "keepdims",
    "0", "1", "-1", "2", "3", "784", "1e-5", "2.5", "0.0", "999999999999", "9223372036854775807",
    "{", "}", "(", ")", "[", "]", ",", ":", "=", "+", "-", "*", "/", "@", ";", ".", "\n", "\n",
    "# comment\n", " ", "  ",
};
#define N_TOKENS (sizeof(k_tokens) / sizeof(k_tokens[0]))

static void gen_token_soup(rng *r, buf *b) {
  int wrap = rng_below(r, 3) != 0;
  if (wrap) buf_puts(b, "model m {\n  input x : f32[2, 4]\n");
  size_t n = 1 + rng_below(r, 80);
  for (size_t i = 0; i < n; i++) {
    buf_puts(b, k_tokens[rng_below(r, N_TOKENS)]);
    if (rng_below(r, 2)) buf_puts(b, " ");
  }
  if (wrap) buf_puts(b, "\n  output y = x\n}\n");
}

static void gen_random_bytes(rng *r, buf *b) {
  size_t n = rng_below(r, 512);
  buf_reserve(b, n);
  for (size_t i = 0; i < n; i++) b->data[b->len++] = (char)(rng_next(r) & 0xff);
  b->data[b->len] = '\0';
}

static void gen_random_printable(rng *r, buf *b) {
  static const char extra[] = "\n\n\n\t ";
  size_t n = rng_below(r, 512);
  buf_reserve(b, n);
  for (size_t i = 0; i < n; i++) {
    size_t k = rng_below(r, 95 + sizeof(extra) - 1);
    b->data[b->len++] = k < 95 ? (char)(32 + k) : extra[k - 95];
  }
  b->data[b->len] = '\0';
}

/* Byte flips, insertions, deletions, line splices (within and across files) of a corpus file. */
static void gen_mutation(rng *r, buf *b) {
  /* Half of the time a valid model (so that mutants get past the parser), else any file. */
  size_t which = rng_below(r, (size_t)g_corpus.n);
  if (rng_below(r, 2)) {
    size_t n_valid = 0;
    for (int i = 0; i < g_corpus.n; i++) n_valid += (size_t)g_corpus.valid[i];
    size_t k = n_valid ? rng_below(r, n_valid) : 0;
    for (int i = 0; i < g_corpus.n && n_valid; i++)
      if (g_corpus.valid[i] && k-- == 0) {
        which = (size_t)i;
        break;
      }
  }
  buf_add(b, g_corpus.text[which], g_corpus.len[which]);
  int n_mut = 1 + (int)rng_below(r, 3);
  for (int m = 0; m < n_mut && b->len > 0; m++) {
    size_t pos = rng_below(r, b->len);
    switch (rng_below(r, 6)) {
    case 0: /* flip a bit */
      b->data[pos] = (char)(b->data[pos] ^ (1u << rng_below(r, 8)));
      break;
    case 1: { /* replace a byte by an interesting one */
      static const char interesting[] = "()[]{},:=+-*/@;.#\n0-9xe\"'\\";
      b->data[pos] = interesting[rng_below(r, sizeof(interesting) - 1)];
      break;
    }
    case 2: { /* delete a run */
      size_t n = 1 + rng_below(r, 16);
      if (n > b->len - pos) n = b->len - pos;
      memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
      b->len -= n;
      b->data[b->len] = '\0';
      break;
    }
    case 3: { /* insert a token */
      const char *t = k_tokens[rng_below(r, N_TOKENS)];
      size_t n = strlen(t);
      buf_reserve(b, n);
      memmove(b->data + pos + n, b->data + pos, b->len - pos);
      memcpy(b->data + pos, t, n);
      b->len += n;
      b->data[b->len] = '\0';
      break;
    }
    case 4: { /* duplicate a line (possibly from another file) at a line start */
      size_t src_i = rng_below(r, (size_t)g_corpus.n);
      const char *s = g_corpus.text[src_i];
      size_t sl = g_corpus.len[src_i];
      if (sl == 0) break;
      size_t a = rng_below(r, sl);
      while (a > 0 && s[a - 1] != '\n') a--;
      size_t e = a;
      while (e < sl && s[e] != '\n') e++;
      if (e < sl) e++;
      while (pos > 0 && b->data[pos - 1] != '\n') pos--;
      size_t n = e - a;
      buf_reserve(b, n);
      memmove(b->data + pos + n, b->data + pos, b->len - pos);
      memcpy(b->data + pos, s + a, n);
      b->len += n;
      b->data[b->len] = '\0';
      break;
    }
    default: /* truncate */
      b->len = pos;
      b->data[b->len] = '\0';
      break;
    }
  }
}

static const int64_t k_dims[] = {1, 1, 2, 2, 3, 4, 5, 7, 8, 16, 0, -1, 999999999999};

static void gen_type(rng *r, buf *b) {
  int rank = (int)rng_below(r, 6);
  buf_puts(b, rng_below(r, 20) ? "f32[" : "i32[");
  for (int i = 0; i < rank; i++)
    buf_printf(b, "%s%" PRId64, i ? ", " : "", k_dims[rng_below(r, sizeof(k_dims) / sizeof(k_dims[0]))]);
  buf_puts(b, "]");
}

static void gen_attr_value(rng *r, buf *b, const mlg_attr_def *ad) {
  static const int64_t ints[] = {-3, -2, -1, 0, 1, 1, 2, 3, 4, 8, 100, INT64_C(4611686018427387904)};
  size_t n_ints = sizeof(ints) / sizeof(ints[0]);
  mlg_attr_kind kind = ad->kind;
  /* Mostly the right kind, sometimes another. */
  if (rng_below(r, 5) == 0) kind = (mlg_attr_kind)(1 + rng_below(r, 5));
  switch (kind) {
  case MLG_ATTR_FLOAT:
    buf_printf(b, "%g", (double)(int64_t)rng_below(r, 2000) / 100.0 - 5.0);
    break;
  case MLG_ATTR_FLOATS: {
    size_t n = rng_below(r, MLG_MAX_ATTR_INTS + 2);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++)
      buf_printf(b, "%s%g", i ? ", " : "", (double)(int64_t)rng_below(r, 800) / 100.0 - 2.0);
    buf_puts(b, "]");
    break;
  }
  case MLG_ATTR_ENUM: {
    /* One of its names, or a name it does not take. */
    size_t n = 0;
    while (ad->choices && ad->choices[n]) n++;
    if (n == 0 || rng_below(r, 6) == 0) buf_puts(b, "nonesuch");
    else buf_puts(b, ad->choices[rng_below(r, n)]);
    break;
  }
  case MLG_ATTR_INTS: {
    size_t n = rng_below(r, MLG_MAX_ATTR_INTS + 2);
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) buf_printf(b, "%s%" PRId64, i ? ", " : "", ints[rng_below(r, n_ints)]);
    buf_puts(b, "]");
    break;
  }
  default:
    buf_printf(b, "%" PRId64, ints[rng_below(r, n_ints)]);
    break;
  }
}

/* A model of random ops from the registry applied to random earlier values, with attributes of
 * (mostly) the right kinds and odd values: reaches every op's shape rule with bad shapes. */
static void gen_op_program(rng *r, buf *b) {
  buf_puts(b, "model m {\n");
  int n_vals = 0;
  int n_in = 1 + (int)rng_below(r, 3);
  for (int i = 0; i < n_in; i++) {
    buf_printf(b, "  input v%d : ", n_vals++);
    gen_type(r, b);
    buf_puts(b, "\n");
  }
  int n_ops = 1 + (int)rng_below(r, 6);
  int count = mlg_op_count();
  for (int k = 0; k < n_ops; k++) {
    const mlg_op_def *def = mlg_op_at((int)rng_below(r, (size_t)count));
    buf_printf(b, "  v%d = %s(", n_vals, def->name);
    int span = def->max_inputs - def->min_inputs;
    if (span > 4) span = 4;
    int n_args = def->min_inputs + (int)rng_below(r, (size_t)span + 1);
    if (rng_below(r, 12) == 0) n_args += rng_below(r, 2) ? 1 : -1;
    const char *sep = "";
    if (def->list_input) {
      buf_puts(b, "[");
      for (int a = 0; a < n_args; a++) buf_printf(b, "%sv%d", a ? ", " : "", (int)rng_below(r, (size_t)n_vals));
      buf_puts(b, "]");
      sep = ", ";
    } else {
      for (int a = 0; a < n_args; a++) {
        if (rng_below(r, 15) == 0) buf_printf(b, "%s%d", sep, (int)rng_below(r, 5));
        else buf_printf(b, "%sv%d", sep, (int)rng_below(r, (size_t)n_vals));
        sep = ", ";
      }
    }
    for (int a = 0; a < def->n_attrs; a++) {
      if (!def->attrs[a].required && rng_below(r, 2)) continue;
      if (def->attrs[a].required && rng_below(r, 20) == 0) continue;
      buf_printf(b, "%s%s=", sep, def->attrs[a].name);
      gen_attr_value(r, b, &def->attrs[a]);
      sep = ", ";
    }
    buf_puts(b, ")\n");
    n_vals++;
  }
  buf_printf(b, "  output out = v%d\n}\n", n_vals - 1);
}

/* ---- the cases ------------------------------------------------------------------------------- */

typedef void (*gen_fn)(rng *r, buf *b);

static void run_generated(const char *name, gen_fn gen, int count, int compile_every) {
  rng r = rng_for(name);
  stats st = {0};
  buf b = {0};
  double t0 = now_s();
  int stopped = 0;
  int compiles = 0;
  for (int i = 0; i < count * g_scale; i++) {
    if (now_s() - t0 > CASE_BUDGET_S) {
      stopped = 1;
      break;
    }
    buf_reset(&b);
    gen(&r, &b);
    char what[96];
    snprintf(what, sizeof(what), "%s #%d (seed 0x%" PRIx64 ")", name, i, g_seed);
    /* Compile every compile_every-th input that checks cleanly (up to 40 per scale), through the whole
     * in-memory pipeline. */
    int compile = compile_every > 0 && compiles < 40 * g_scale && st.clean % compile_every == 0;
    if (run_input(b.data ? b.data : "", b.len, what, compile, &st) && compile) compiles++;
  }
  buf_free(&b);
  report(name, &st, t0, stopped);
  ck_assert_int_gt(st.inputs, 0);
}

START_TEST(random_bytes) { run_generated("bytes", gen_random_bytes, 2000, 0); }
END_TEST

START_TEST(random_printable) { run_generated("printable", gen_random_printable, 2000, 0); }
END_TEST

START_TEST(token_soup) { run_generated("tokens", gen_token_soup, 3000, 1); }
END_TEST

START_TEST(mutations) {
  corpus_load();
  ck_assert_msg(g_corpus.n >= 4, "corpus: only %d .mlg files found under %s", g_corpus.n, MLG_SOURCE_DIR);
  run_generated("mutations", gen_mutation, 5000, 2);
}
END_TEST

START_TEST(op_programs) { run_generated("ops", gen_op_program, 4000, 3); }
END_TEST

/* Every corpus file unmodified: models check and compile, diag inputs are rejected. */
START_TEST(corpus_as_is) {
  corpus_load();
  stats st = {0};
  double t0 = now_s();
  for (int i = 0; i < g_corpus.n; i++) {
    int clean = run_input(g_corpus.text[i], g_corpus.len[i], g_corpus.name[i], 2 * g_corpus.valid[i], &st);
    ck_assert_msg(clean == g_corpus.valid[i], "%s: %s", g_corpus.name[i],
                  g_corpus.valid[i] ? "an example model does not check" : "a bad input was accepted");
  }
  report("corpus", &st, t0, 0);
  ck_assert_int_eq(st.compiled, st.clean);
}
END_TEST

/* ---- ONNX models: mutations of the exported models in tests/onnx/ through the importer ------- */

/* Imports one (mutated) model: a valid graph or at least one error, never both, never neither;
 * every `compile`-th clean graph goes on through the pipeline to the kernels. */
static int run_onnx(const uint8_t *bytes, size_t len, const char *what, int compile, stats *st) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "<fuzz.onnx>", "", 0), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, g_diag_out);
  diag.max_errors = 0;
  mlg_graph *g = NULL;
  st->inputs++;
  int rc = mlg_onnx_import(bytes, len, "<fuzz.onnx>", NULL, &diag, &g);
  if (rc == 0) {
    ck_assert_msg(g && diag.n_errors == 0, "%s: a graph and %d errors", what, diag.n_errors);
    assert_graph_valid(g, what);
    st->clean++;
    if (compile) {
      mlg_pipeline p;
      mlg_compile_options o = {.opt_level = 2, .no_weights = 1};
      if (mlg_pipeline_run_graph(g, &o, MLG_STAGE_PLAN, &diag, &p) == 0) st->compiled++;
      else ck_assert_msg(diag.n_errors >= 1, "%s: the pipeline failed without an error", what);
      mlg_pipeline_free(&p);
      g = NULL;
    }
  } else {
    ck_assert_msg(!g && diag.n_errors >= 1, "%s: no graph and no error reported", what);
    st->rejected++;
  }
  mlg_graph_free(g);
  mlg_source_free(&src);
  return rc == 0;
}

START_TEST(onnx_mutations) {
  static const char *const models[] = {"mobilenet", "resnet", "gpt2", "unsupported"};
  enum { N_MODELS = sizeof models / sizeof models[0] };
  uint8_t *orig[N_MODELS];
  size_t orig_len[N_MODELS];
  for (int k = 0; k < N_MODELS; k++) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/tests/onnx/%s/model.onnx", MLG_SOURCE_DIR, models[k]);
    ck_assert_msg(mlg_onnx_read_bytes(path, &orig[k], &orig_len[k], err, sizeof err) == 0, "%s", err);
  }
  rng r = rng_for("onnx");
  stats st = {0};
  buf b = {0};
  double t0 = now_s();
  int stopped = 0;
  /* Each model as it is first: the exported ones import (and compile), the other is rejected. */
  for (int k = 0; k < N_MODELS; k++)
    ck_assert_int_eq(run_onnx(orig[k], orig_len[k], models[k], 1, &st), k < 3);
  for (int i = 0; i < 3000 * g_scale; i++) {
    if (now_s() - t0 > CASE_BUDGET_S) {
      stopped = 1;
      break;
    }
    /* The small models more often: their bytes are mostly structure, not weights. */
    size_t which = rng_below(&r, 8);
    which = which < 4 ? 0 : which < 6 ? 3 : which - 5;
    buf_reset(&b);
    buf_add(&b, (const char *)orig[which], orig_len[which]);
    int n_mut = 1 + (int)rng_below(&r, 4);
    for (int m = 0; m < n_mut && b.len > 0; m++) {
      size_t pos = rng_below(&r, b.len);
      switch (rng_below(&r, 5)) {
      case 0: b.data[pos] = (char)(b.data[pos] ^ (1u << rng_below(&r, 8))); break;
      case 1: {
        static const unsigned char interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x3a};
        b.data[pos] = (char)interesting[rng_below(&r, sizeof interesting)];
        break;
      }
      case 2: { /* a varint that claims a huge length or value */
        static const unsigned char big[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
        size_t n = b.len - pos < sizeof big ? b.len - pos : sizeof big;
        memcpy(b.data + pos, big, n);
        break;
      }
      case 3: { /* delete a run */
        size_t n = 1 + rng_below(&r, 32);
        if (n > b.len - pos) n = b.len - pos;
        memmove(b.data + pos, b.data + pos + n, b.len - pos - n);
        b.len -= n;
        break;
      }
      default: b.len = pos; break; /* truncate */
      }
    }
    char what[96];
    snprintf(what, sizeof what, "onnx #%d (seed 0x%" PRIx64 ")", i, g_seed);
    run_onnx((const uint8_t *)b.data, b.len, what, st.clean % 8 == 0 && st.compiled < 20 * g_scale, &st);
  }
  buf_free(&b);
  for (int k = 0; k < N_MODELS; k++) free(orig[k]);
  report("onnx", &st, t0, stopped);
  ck_assert_int_gt(st.rejected, 0);
}
END_TEST

/* Inputs built to break recursion and arithmetic: each must be rejected or accepted, not crash. */
static void run_one(const char *what, const buf *b, stats *st) {
  double t0 = now_s();
  run_input(b->data, b->len, what, 0, st);
  printf("fuzz %-40s %9zu bytes in %.2f s\n", what, b->len, now_s() - t0);
  fflush(stdout);
}

START_TEST(deep_nesting) {
  stats st = {0};
  buf b = {0};
  const size_t depth = 100000;
  static const struct {
    const char *name, *open, *close;
  } forms[] = {
      {"parens", "(", ")"},
      {"lists", "[", "]"},
      {"calls", "relu(", ")"},
      {"unary minus", "-", ""},
      {"unary minus parens", "-(", ")"},
  };
  for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
    buf_reset(&b);
    buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = ");
    buf_repeat(&b, forms[f].open, depth);
    buf_puts(&b, "x");
    buf_repeat(&b, forms[f].close, depth);
    buf_puts(&b, "\n}\n");
    char what[64];
    snprintf(what, sizeof(what), "deep %s (%zu)", forms[f].name, depth);
    run_one(what, &b, &st);
  }
  /* Unclosed: 10^5 opening parens and then the end of the file. */
  buf_reset(&b);
  buf_puts(&b, "model m {\n  output y = ");
  buf_repeat(&b, "(", depth);
  run_one("deep unclosed parens", &b, &st);
  /* Nesting of blocks: fn bodies cannot nest, but braces can be typed. */
  buf_reset(&b);
  buf_repeat(&b, "model m {\n", depth / 10);
  run_one("deep model blocks", &b, &st);
  buf_free(&b);
}
END_TEST

START_TEST(long_lines) {
  stats st = {0};
  buf b = {0};
  const size_t mb = 1 << 20;
  /* A left-associative chain: no parser nesting, but a very deep AST for later stages. */
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = x");
  buf_repeat(&b, " + x", mb / 4);
  buf_puts(&b, "\n}\n");
  run_one("1 MB line: x + x + ... (262144 terms)", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = x");
  buf_repeat(&b, " * 1.5", mb / 6);
  buf_puts(&b, "\n}\n");
  run_one("1 MB line: x * 1.5 * ...", &b, &st);
  /* One identifier, one number, one comment, each 1 MB long. */
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = relu(");
  buf_repeat(&b, "a", mb);
  buf_puts(&b, ")\n}\n");
  run_one("1 MB identifier", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = x * ");
  buf_repeat(&b, "9", mb);
  buf_puts(&b, "\n}\n");
  run_one("1 MB integer", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = x * 0.");
  buf_repeat(&b, "5", mb);
  buf_puts(&b, "\n}\n");
  run_one("1 MB float", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]   # ");
  buf_repeat(&b, "c", mb);
  buf_puts(&b, "\n  output y = x\n}\n");
  run_one("1 MB comment", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = concat([x");
  buf_repeat(&b, ", x", mb / 3);
  buf_puts(&b, "], axis=0)\n}\n");
  run_one("1 MB list of 349525 tensors", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n  output y = reshape(x, [1");
  buf_repeat(&b, ", 1", mb / 3);
  buf_puts(&b, "])\n}\n");
  run_one("1 MB list attribute", &b, &st);
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[1");
  buf_repeat(&b, ", 1", mb / 3);
  buf_puts(&b, "]\n  output y = x\n}\n");
  run_one("1 MB type (rank 349526)", &b, &st);
  /* 1 MB of newlines and semicolons: many empty statements. */
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input x : f32[4]\n");
  buf_repeat(&b, ";\n", mb / 2);
  buf_puts(&b, "  output y = x\n}\n");
  run_one("1 MB of empty statements", &b, &st);
  /* Many statements (a long but flat model): 20000 bindings in a chain. */
  buf_reset(&b);
  buf_puts(&b, "model m {\n  input v0 : f32[4]\n");
  for (int i = 1; i <= 20000; i++) buf_printf(&b, "  v%d = relu(v%d)\n", i, i - 1);
  buf_puts(&b, "  output y = v20000\n}\n");
  run_one("20000 chained bindings", &b, &st);
  buf_free(&b);
}
END_TEST

START_TEST(huge_dims) {
  static const char *const cases[] = {
      "model m {\n  input x : f32[999999999999, 999999999999]\n  output y = relu(x)\n}\n",
      "model m {\n  input x : f32[9223372036854775807]\n  output y = relu(x)\n}\n",
      "model m {\n  input x : f32[4294967296, 4294967296, 4294967296]\n  output y = x\n}\n",
      "model m {\n  dim N = 999999999 * 999999999 * 999999999\n  input x : f32[N]\n  output y = x\n}\n",
      "model m {\n  dim N = 9223372036854775807 + 1\n  input x : f32[N]\n  output y = x\n}\n",
      "model m {\n  dim N = -9223372036854775807 - 1\n  dim M = N / -1\n  input x : f32[M]\n  output y = x\n}\n",
      "model m {\n  dim N = 0 - 9223372036854775807 - 1\n  dim M = -N\n  input x : f32[M]\n  output y = x\n}\n",
      "model m {\n  dim N = 4 / 0\n  input x : f32[N]\n  output y = x\n}\n",
      "model m {\n  dim N = 4\n  input x : f32[N * 0]\n  output y = x\n}\n",
      "model m {\n  input x : f32[1, 1, 1, 1, 1, 1, 1, 1, 1]\n  output y = relu(x)\n}\n",
      "model m {\n  input x : f32[1048576, 1048576]\n  output y = relu(x)\n}\n",
      "model m {\n  input x : f32[2, 3]\n  output y = reshape(x, [-1, 4611686018427387904])\n}\n",
      "model m {\n  input x : f32[2, 3]\n  output y = reshape(x, [0, -1])\n}\n",
      "model m {\n  input x : f32[1, 1, 8, 8]\n  param w : f32[1, 1, 3, 3] = zeros\n"
      "  output y = conv2d(x, w, stride=9223372036854775807, padding=4611686018427387904, "
      "dilation=4611686018427387904)\n}\n",
      "model m {\n  input x : f32[1, 1, 8, 8]\n  output y = max_pool2d(x, kernel=9223372036854775807, stride=0)\n}\n",
      "model m {\n  input x : f32[4, 4]\n  output y = slice(x, starts=[-9223372036854775807], "
      "ends=[9223372036854775807], axes=[0], steps=[-9223372036854775807])\n}\n",
      "model m {\n  input x : f32[4, 4]\n  output y = softmax(x, axis=-9223372036854775807)\n}\n",
      "model m {\n  input x : f32[4, 4]\n  output y = unsqueeze(x, axes=[9223372036854775807])\n}\n",
      "model m {\n  input x : f32[4, 4]\n  output y = sum(x, axes=[0, 0, 1, 1, -1, -2, 5, -9])\n}\n",
      "model m {\n  input x : f32[4]\n  param w : f32[1048576, 1048576] = normal(0, 1, seed=18446744073709551615)\n"
      "  output y = x\n}\n",
      "model m {\n  const c : f32[2] = [1e308, -1e308]\n  input x : f32[2]\n  output y = x * c * 1e38\n}\n",
  };
  stats st = {0};
  double t0 = now_s();
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char what[32];
    snprintf(what, sizeof(what), "huge dims case %zu", i);
    run_input(cases[i], strlen(cases[i]), what, 0, &st);
  }
  report("huge", &st, t0, 0);
  /* The first case is the one the spec names: it must be rejected, not accepted. */
  stats one = {0};
  ck_assert_int_eq(run_input(cases[0], strlen(cases[0]), "f32[999999999999, 999999999999]", 0, &one), 0);
}
END_TEST

int main(void) {
  const char *env = getenv("MLG_FUZZ_SEED");
  g_seed = env && *env ? strtoull(env, NULL, 0) : DEFAULT_SEED;
  const char *scale = getenv("MLG_FUZZ_SCALE");
  if (scale && atoi(scale) > 0) g_scale = atoi(scale);
  const char *verbose = getenv("MLG_FUZZ_VERBOSE");
  if (verbose && *verbose && *verbose != '0') g_diag_out = stderr;
  printf("test_fuzz: seed 0x%" PRIx64 " (set MLG_FUZZ_SEED to replay another), scale %d\n", g_seed, g_scale);
  fflush(stdout);

  Suite *s = suite_create("fuzz");
  TCase *tc = tcase_create("fuzz");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, corpus_as_is);
  tcase_add_test(tc, random_bytes);
  tcase_add_test(tc, random_printable);
  tcase_add_test(tc, token_soup);
  tcase_add_test(tc, mutations);
  tcase_add_test(tc, op_programs);
  tcase_add_test(tc, deep_nesting);
  tcase_add_test(tc, long_lines);
  tcase_add_test(tc, huge_dims);
  tcase_add_test(tc, onnx_mutations);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

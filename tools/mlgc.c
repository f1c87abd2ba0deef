/* mlgc — the mlg compiler driver: .mlg source to .mlgb bundle, or a dump of any stage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ast.h"
#include "compile.h"
#include "diag.h"
#include "dot.h"
#include "emit_code.h"
#include "emit_mlg.h"
#include "fuse.h"
#include "gemm_tuning.h"
#include "graph.h"
#include "lower.h"
#include "op.h"
#include "plan.h"
#include "onnx/onnx_import.h"
#include "plan_svg.h"
#include "mlgc_quantize.h"
#include "precision.h"
#include "../runtime/bundle.h"
#include "../runtime/file_util.h"
#include "../runtime/mlg_version.h"

#define MAX_DIMS 64
#define MAX_CALIBRATE 64

static const char usage[] =
    "usage: mlgc FILE.mlg|FILE.onnx [-o OUT] [--emit=ast|graph|mlg|fused|dot|kernels|plan [--svg FILE]]\n"
    "            [--target opencl|vulkan] [-D NAME=VALUE ...] [--weights FILE.safetensors]\n"
    "            [--no-weights] [-O0|-O2] [--device-hint=cpu|gpu] [--subgroups=on|off]\n"
    "            [--tuning FILE] [--mma-config=N] [--no-memory-reuse] [--no-winograd]\n"
    "            [--max-weight-bytes=SIZE]\n"
    "            [--quantize=int8 --calibrate NAME=FILE.npy ... [--device SPEC]]\n"
    "            [--precision=f32|f16]\n"
    "       mlgc --ops-doc\n"
    "\n"
    "Compiles an mlg model, or an ONNX model (FILE.onnx, docs/onnx.md), into a bundle (.mlgb;\n"
    "default: FILE with .mlgb in place of .mlg or .onnx), or prints one stage with --emit (to\n"
    "stdout, or to -o OUT).\n"
    "  -o OUT            output file (its folder is created when missing)\n"
    "  --emit=STAGE      ast | graph | mlg (the graph as mlg text; with -o OUT.mlg the params'\n"
    "                    values go to OUT.safetensors) | fused (the ops each kernel holds) |\n"
    "                    dot (the fused graph for Graphviz: dot -Tsvg) |\n"
    "                    kernels (OpenCL C or GLSL) | plan (memory plan)\n"
    "  --svg FILE        with --emit=plan: also draw the arena as SVG (tensors over launches\n"
    "                    and offsets, the lower bound as a line)\n"
    "  --target T        opencl (default) or vulkan (GLSL compiled to SPIR-V)\n"
    "  --device-hint=H   cpu, gpu or unknown (default): tile GEMM/conv kernels for that class\n"
    "  --subgroups=on|off  vulkan: reductions through subgroup operations (default on; the\n"
    "                    bundle then needs a device with subgroup arithmetic in compute\n"
    "                    shaders: use off for one without; opencl never uses them)\n"
    "  --tuning FILE     GEMM tiles per shape class from a tuning cache file (what mlgrun --tune\n"
    "                    writes; mlgrun --show-tuning names it), for the tiled GEMM kernel\n"
    "  --mma-config=N    force configuration N (1..47, docs/performance.md) of the tensor-core\n"
    "                    GEMM on every f16 GEMM that gets it (to measure one; default: the\n"
    "                    tuning file's choice, else the built-in one)\n"
    "  -D NAME=VALUE     bind a symbolic dim, e.g. -D N=64 (repeatable)\n"
    "  --weights FILE    take params from a .safetensors file (by name)\n"
    "  --no-weights      leave weights out; bind them when loading (mlgrun --weights)\n"
    "  --max-weight-bytes=SIZE  the most weights (bytes; K, M, G suffixes) the compiler reads or\n"
    "                    generates into the bundle, or an ONNX import computes (default 4G)\n"
    "  --precision=P     f32 (default) or f16: store f32 weights and intermediates as f16\n"
    "                    (half the bytes) and compute in f32; inputs and outputs keep their\n"
    "                    dtypes (docs/language.md, \"Precision\"; no train step)\n"
    "  -O0, -O2          graph passes off / on (default -O2: simplify, fold constants and\n"
    "                    batch_norm, CSE, dead-code elimination)\n"
    "  --no-winograd     with --device-hint=cpu: 3x3 stride-1 convolutions as the implicit GEMM,\n"
    "                    not Winograd's F(4x4 or 2x2, 3x3), whose weights, transformed once per\n"
    "                    session, take up to 4x their bytes (docs/performance.md)\n"
    "  --no-memory-reuse debug: give every intermediate its own arena bytes (no sharing,\n"
    "                    no in-place reuse), to tell planner bugs from kernel bugs\n"
    "  --quantize=int8   post-training quantization (docs/quantization.md): conv2d, linear and\n"
    "                    matmul layers get i8 weights per output channel and u8 activations whose\n"
    "                    ranges are measured on the --calibrate inputs; reports each layer and the\n"
    "                    accuracy change on those inputs (stderr)\n"
    "  --calibrate NAME=FILE.npy  calibration samples of input NAME along dim 0, run in batches of\n"
    "                    the model's batch (repeat per input; required with --quantize)\n"
    "  --device SPEC     where calibration runs: opencl:N, vulkan:N, opencl, vulkan, gpu or cpu\n"
    "                    (default as mlgrun: $MLG_DEVICE, else the first GPU, else the widest CPU)\n"
    "  --ops-doc         print the op reference tables of docs/ops.md, generated from the op\n"
    "                    registry (no FILE)\n"
    "  --help, --version\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "mlgc: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(run 'mlgc --help' for usage)\n");
  return 2;
}

/* Parses NAME=VALUE with VALUE a positive integer that fits in int64. */
static int parse_dim(const char *arg, mlg_dim_binding *out, char *name_buf, size_t name_size) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg || (size_t)(eq - arg) >= name_size) return -1;
  memcpy(name_buf, arg, (size_t)(eq - arg));
  name_buf[eq - arg] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(eq + 1, &end, 10);
  if (errno || end == eq + 1 || *end || v < 1) return -1;
  out->name = name_buf;
  out->value = v;
  return 0;
}

/* Creates the folders above `path` that are missing. Returns 0, or -1 with errno set. */
static int make_parent_dirs(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return 0;
  char dir[4096];
  if ((size_t)(slash - path) >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir, path, (size_t)(slash - path));
  dir[slash - path] = '\0';
  return mlg_make_dirs(dir);
}

/* Writes `size` bytes to `path` as a whole file or not at all (a temporary file beside it,
 * fsync'd and renamed: file_util.h), so that a full disk never leaves a cut bundle or text
 * behind, and an old file stays whole. A path that exists as no regular file (/dev/null, a
 * FIFO, /dev/stdout) is written to as it is, never replaced. Returns 0, or 1 after an error
 * message. */
static int write_output(const char *path, const void *data, size_t size) {
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    FILE *f = fopen(path, "wb");
    if (f) {
      int bad = fwrite(data, 1, size, f) != size || fflush(f) != 0;
      if (fclose(f) == 0 && !bad) return 0;
    }
  } else if (make_parent_dirs(path) == 0 && mlg_write_file_atomic(path, data, size, NULL, 0) == 0) {
    return 0;
  }
  fprintf(stderr, "mlgc: error: cannot write '%s': %s\n", path, strerror(errno));
  return 1;
}

/* A memory stream for text printed to a file, so that write_output writes it whole. NULL after
 * an error message. */
static FILE *text_stream(char **text, size_t *len) {
  FILE *f = open_memstream(text, len);
  if (!f) fprintf(stderr, "mlgc: error: out of memory\n");
  return f;
}

/* --svg FILE: the plan's picture. Returns 0, or 1 after an error message. */
static int write_svg(const char *path, const mlg_pipeline *p) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = text_stream(&text, &len);
  if (!f) return 1;
  mlg_plan_svg(p->plan, p->optimized, p->lowered, f);
  int rc = fclose(f) == 0 ? write_output(path, text, len) : 1;
  free(text);
  return rc;
}

static char *default_output(const char *input) {
  const char *base = strrchr(input, '/');
  base = base ? base + 1 : input;
  size_t n = strlen(base);
  if (n > 4 && strcmp(base + n - 4, ".mlg") == 0) n -= 4;
  else if (n > 5 && strcmp(base + n - 5, ".onnx") == 0) n -= 5;
  char *out = malloc(n + 6);
  if (!out) return NULL;
  memcpy(out, base, n);
  memcpy(out + n, ".mlgb", 6);
  return out;
}

/* --emit=kernels: how many launches run each distinct kernel, as comments, then the code. */
static void print_kernels(const mlg_pipeline *p, FILE *out) {
  const mlg_lowered *lw = p->lowered;
  int n = kir_module_count(lw->module);
  fprintf(out, "// %s: %d launches per run of %d distinct kernel%s\n",
          p->optimized->model_name ? p->optimized->model_name : "model", lw->n_launches, n, n == 1 ? "" : "s");
  for (int k = 0; k < n; k++) {
    const kir_kernel *kk = kir_module_kernel(lw->module, k);
    int uses = 0;
    for (int l = 0; l < lw->n_launches; l++) uses += lw->launches[l].kernel == kk;
    fprintf(out, "// %s: %d launch%s\n", kk->name, uses, uses == 1 ? "" : "es");
  }
  fputc('\n', out);
  fwrite(p->code->text, 1, p->code->text_size, out);
}

int main(int argc, char **argv) {
  const char *input = NULL, *output = NULL, *emit = NULL, *svg = NULL;
  mlg_compile_options options = {.target = MLGB_TARGET_OPENCL, .opt_level = 2};
  static mlg_dim_binding dims[MAX_DIMS];
  static char dim_names[MAX_DIMS][128];
  static mlg_gemm_tuning tuning;
  const char *tuning_path = NULL;
  int n_dims = 0;
  int subgroups = -1; /* -1: the target's default */
  static mlgc_calib_file calib[MAX_CALIBRATE];
  mlgc_quantize_request quant = {.files = calib};
  int quantize = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      puts("mlgc " MLG_VERSION_STRING);
      return 0;
    } else if (strcmp(a, "--ops-doc") == 0) {
      mlg_op_doc_print(stdout);
      return 0;
    } else if (strcmp(a, "-o") == 0) {
      if (++i >= argc) return usage_error("%s needs a file name", a);
      output = argv[i];
    } else if (strncmp(a, "--emit=", 7) == 0 || strcmp(a, "--emit") == 0) {
      if (a[6] == '=') emit = a + 7;
      else if (++i < argc) emit = argv[i];
      else return usage_error("%s needs a stage (ast, graph, fused, dot, kernels, plan)", a);
    } else if (strncmp(a, "--svg=", 6) == 0 || strcmp(a, "--svg") == 0) {
      svg = a[5] == '=' ? a + 6 : (++i < argc ? argv[i] : NULL);
      if (!svg || !*svg) return usage_error("%s needs a file name", a);
    } else if (strncmp(a, "--target=", 9) == 0 || strcmp(a, "--target") == 0) {
      const char *t = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
      if (!t) return usage_error("%s needs a target (opencl or vulkan)", a);
      if (strcmp(t, "opencl") == 0) options.target = MLGB_TARGET_OPENCL;
      else if (strcmp(t, "vulkan") == 0) options.target = MLGB_TARGET_VULKAN;
      else return usage_error("unknown target '%s' (expected opencl or vulkan)", t);
    } else if (strncmp(a, "-D", 2) == 0) {
      const char *d = a[2] ? a + 2 : (++i < argc ? argv[i] : NULL);
      if (!d) return usage_error("%s needs NAME=VALUE", a);
      if (n_dims == MAX_DIMS) return usage_error("too many -D flags (at most %s)", "64");
      if (parse_dim(d, &dims[n_dims], dim_names[n_dims], sizeof(dim_names[0])) != 0)
        return usage_error("bad -D '%s': expected NAME=VALUE with VALUE a positive integer", d);
      n_dims++;
    } else if (strcmp(a, "--weights") == 0 || strncmp(a, "--weights=", 10) == 0) {
      const char *w = a[9] == '=' ? a + 10 : (++i < argc ? argv[i] : NULL);
      if (!w) return usage_error("%s needs a .safetensors file", a);
      options.weights_path = w;
    } else if (strncmp(a, "--device-hint=", 14) == 0 || strcmp(a, "--device-hint") == 0) {
      const char *h = a[13] == '=' ? a + 14 : (++i < argc ? argv[i] : NULL);
      if (!h) return usage_error("%s needs cpu, gpu or unknown", a);
      if (strcmp(h, "cpu") == 0) options.device_class = 1;
      else if (strcmp(h, "gpu") == 0) options.device_class = 2;
      else if (strcmp(h, "unknown") == 0) options.device_class = 0;
      else return usage_error("unknown device hint '%s' (expected cpu, gpu or unknown)", h);
    } else if (strncmp(a, "--subgroups=", 12) == 0 || strcmp(a, "--subgroups") == 0) {
      const char *v = a[11] == '=' ? a + 12 : (++i < argc ? argv[i] : NULL);
      if (!v) return usage_error("%s needs on or off", a);
      if (strcmp(v, "on") == 0) subgroups = 1;
      else if (strcmp(v, "off") == 0) subgroups = 0;
      else return usage_error("bad --subgroups value '%s' (expected on or off)", v);
    } else if (strcmp(a, "--tuning") == 0 || strncmp(a, "--tuning=", 9) == 0) {
      tuning_path = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
      if (!tuning_path || !*tuning_path) return usage_error("%s needs a tuning file", a);
    } else if (strcmp(a, "--mma-config") == 0 || strncmp(a, "--mma-config=", 13) == 0) {
      const char *v = a[12] == '=' ? a + 13 : (++i < argc ? argv[i] : NULL);
      char *end = NULL;
      long c = v ? strtol(v, &end, 10) : 0;
      _Static_assert(KT_MMA_N_CONFIGS == 47, "the usage message names 1..47");
      if (!v || !*v || *end || c < 1 || c > KT_MMA_N_CONFIGS)
        return usage_error("%s needs a configuration number 1..47 (docs/performance.md)", a);
      options.mma_config = (int)c;
    } else if (strcmp(a, "--precision") == 0 || strncmp(a, "--precision=", 12) == 0) {
      const char *v = a[11] == '=' ? a + 12 : (++i < argc ? argv[i] : NULL);
      mlg_precision p;
      if (!v) return usage_error("%s needs f32 or f16", a);
      if (mlg_precision_parse(v, &p) != 0)
        return usage_error("unknown precision '%s' (expected f32 or f16)", v);
      options.precision = p;
    } else if (strcmp(a, "--no-weights") == 0) {
      options.no_weights = 1;
    } else if (strcmp(a, "--max-weight-bytes") == 0 || strncmp(a, "--max-weight-bytes=", 19) == 0) {
      const char *v = a[18] == '=' ? a + 19 : (++i < argc ? argv[i] : NULL);
      if (!v || mlg_parse_bytes(v, &options.max_weight_bytes) != 0)
        return usage_error("bad --max-weight-bytes '%s': expected a size in bytes, with an optional K, M or G "
                           "suffix (e.g. 8G)", v ? v : "");
    } else if (strncmp(a, "--quantize=", 11) == 0 || strcmp(a, "--quantize") == 0) {
      const char *v = a[10] == '=' ? a + 11 : (++i < argc ? argv[i] : NULL);
      if (!v) return usage_error("%s needs a type (int8)", a);
      if (strcmp(v, "int8") != 0)
        return usage_error("unknown --quantize type '%s' (int8 is the one there is)", v);
      quantize = 1;
    } else if (strncmp(a, "--calibrate=", 12) == 0 || strcmp(a, "--calibrate") == 0) {
      const char *v = a[11] == '=' ? a + 12 : (++i < argc ? argv[i] : NULL);
      const char *eq = v ? strchr(v, '=') : NULL;
      if (!v) return usage_error("%s needs NAME=FILE.npy", a);
      if (!eq || eq == v || !eq[1])
        return usage_error("bad --calibrate '%s': expected NAME=FILE.npy (an input's name, a .npy file)", v);
      if (quant.n_files == MAX_CALIBRATE) return usage_error("too many --calibrate flags (at most %s)", "64");
      static char names[MAX_CALIBRATE][128];
      if ((size_t)(eq - v) >= sizeof names[0]) return usage_error("bad --calibrate '%s': the name is too long", v);
      memcpy(names[quant.n_files], v, (size_t)(eq - v));
      names[quant.n_files][eq - v] = '\0';
      calib[quant.n_files] = (mlgc_calib_file){.name = names[quant.n_files], .path = eq + 1};
      quant.n_files++;
    } else if (strncmp(a, "--device=", 9) == 0 || strcmp(a, "--device") == 0) {
      quant.device = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
      if (!quant.device || !*quant.device)
        return usage_error("%s needs a device: opencl:N, vulkan:N, opencl, vulkan, gpu or cpu (mlgrun "
                           "--list-devices lists them)", a);
    } else if (strcmp(a, "--no-memory-reuse") == 0) {
      options.no_memory_reuse = 1;
    } else if (strcmp(a, "--no-winograd") == 0) {
      options.no_winograd = 1;
    } else if (strcmp(a, "-O0") == 0 || strcmp(a, "-O1") == 0 || strcmp(a, "-O2") == 0) {
      options.opt_level = a[2] - '0';
    } else if (a[0] == '-' && a[1]) {
      return usage_error("unknown option '%s'", a);
    } else if (input) {
      return usage_error("more than one input file ('%s')", a);
    } else {
      input = a;
    }
  }
  if (!input) return usage_error("%s", "no input file");
  if (options.weights_path && options.no_weights)
    return usage_error("%s", "--weights and --no-weights exclude each other");
  if (subgroups == 1 && options.target != MLGB_TARGET_VULKAN)
    return usage_error("%s", "--subgroups=on needs --target vulkan (OpenCL C 1.2 has no portable "
                             "subgroup operations)");
  if (quantize && quant.n_files == 0)
    return usage_error("%s", "--quantize=int8 needs calibration inputs: --calibrate NAME=FILE.npy for each "
                             "input of the model");
  if (!quantize && quant.n_files)
    return usage_error("%s", "--calibrate gives the inputs of --quantize=int8; add it, or drop --calibrate");
  if (!quantize && quant.device)
    return usage_error("%s", "--device picks where --quantize=int8 calibrates (mlgc compiles for a target, "
                             "--target and --device-hint); use it with --quantize");
  options.subgroups = options.target == MLGB_TARGET_VULKAN && subgroups != 0;
  options.n_dims = n_dims;
  options.dims = dims;
  if (tuning_path) {
    char err[1024];
    if (mlg_gemm_tuning_load(tuning_path, &tuning, err, sizeof err) != 0) {
      fprintf(stderr, "mlgc: error: --tuning: %s (re-tune with 'mlgrun --tune')\n", err);
      return 1;
    }
    options.gemm_tuning = &tuning;
  }

  mlg_stage last = MLG_STAGE_BUNDLE;
  int emit_fused = 0, emit_dot = 0, emit_mlg = 0;
  int onnx = mlg_onnx_is_model_path(input);
  if (emit) {
    if (strcmp(emit, "ast") == 0) last = MLG_STAGE_AST;
    else if (strcmp(emit, "graph") == 0) last = MLG_STAGE_GRAPH;
    else if (strcmp(emit, "mlg") == 0) last = MLG_STAGE_GRAPH, emit_mlg = 1;
    else if (strcmp(emit, "kernels") == 0) last = MLG_STAGE_KERNELS;
    else if (strcmp(emit, "fused") == 0) last = MLG_STAGE_KERNELS, emit_fused = 1;
    else if (strcmp(emit, "dot") == 0) last = MLG_STAGE_KERNELS, emit_dot = 1;
    else if (strcmp(emit, "plan") == 0) last = MLG_STAGE_PLAN;
    else return usage_error("unknown --emit stage '%s' (ast, graph, mlg, fused, dot, kernels, plan)", emit);
  }
  if (svg && last != MLG_STAGE_PLAN)
    return usage_error("%s", "--svg draws the memory plan: use it with --emit=plan");
  if (quantize && last <= MLG_STAGE_GRAPH)
    return usage_error("--emit=%s shows the model before the passes, which --quantize does not change; "
                       "the quantized model shows in --emit=fused, dot, kernels and plan", emit);
  if (onnx && last == MLG_STAGE_AST)
    return usage_error("--emit=ast: '%s' is an ONNX model, imported straight into a graph (try "
                       "--emit=mlg or --emit=graph)", input);

  /* The front end: mlg text (parse + check), or an ONNX model (compiler/onnx/). */
  mlg_source source;
  char why[1400];
  if (mlg_pipeline_source_load(&source, input, why, sizeof why) != 0) {
    char shown[1400]; /* the path, as typed, may hold anything */
    fprintf(stderr, "mlgc: error: %s\n", mlg_sanitize(why, 0, shown, sizeof shown));
    return 1;
  }
  mlg_diag diag;
  mlg_diag_init(&diag, &source, stderr);
  if (onnx) diag.max_errors = 0; /* one error may list many nodes; -D errors are few */
  /* --quantize: calibration through the runtime, whose ranges this compile then takes. */
  mlg_quant_range *ranges = NULL;
  mlg_quant_options quant_options = {0};
  if (quantize) {
    if (mlgc_calibrate(&source, &options, &quant, stderr, &ranges, &quant_options.n_ranges) != 0) {
      mlg_source_free(&source);
      return 1;
    }
    quant_options.ranges = ranges;
    options.quant = &quant_options;
  }
  mlg_pipeline p;
  int rc = mlg_pipeline_run(&source, &options, last, &diag, &p);
  int status = rc == 0 && diag.n_errors == 0 ? 0 : 1;
  char *weights_out = NULL;
  if (status == 0 && emit_mlg && output) {
    /* OUT.mlg's params go to OUT.safetensors (the -o name with its extension replaced). */
    const char *dot = strrchr(output, '.'), *slash = strrchr(output, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - output) : strlen(output);
    weights_out = malloc(stem + 13);
    if (weights_out) {
      memcpy(weights_out, output, stem);
      memcpy(weights_out + stem, ".safetensors", 13);
    }
    if (!weights_out || strcmp(weights_out, output) == 0) {
      fprintf(stderr, "mlgc: error: %s\n", weights_out ? "-o names a .safetensors file, which the "
              "weights would overwrite; name the text OUT.mlg" : "out of memory");
      status = 1;
    }
  }

  if (status == 0) {
    char *default_out = NULL;
    if (!emit && !output) output = default_out = default_output(input);
    /* Text for a file is printed to memory first, then written whole (write_output). */
    FILE *out = stdout;
    char *text = NULL;
    size_t text_len = 0;
    if (output && last != MLG_STAGE_BUNDLE && !(out = text_stream(&text, &text_len))) {
      status = 1;
    } else {
      switch (last) {
      case MLG_STAGE_AST: mlg_ast_print(p.ast, out); break;
      case MLG_STAGE_GRAPH:
        if (!emit_mlg) mlg_graph_print(p.graph, &source, out);
        else if (mlg_emit_mlg(p.graph, input, weights_out, &diag, out) != 0) status = 1;
        break;
      case MLG_STAGE_KERNELS:
        if (emit_fused) mlg_fusion_print(p.fusion, p.optimized, p.lowered, out);
        else if (emit_dot) mlg_dot_print(p.optimized, p.fusion, p.lowered, out);
        else print_kernels(&p, out);
        break;
      case MLG_STAGE_PLAN: mlg_plan_print(p.plan, p.optimized, p.lowered, out); break;
      case MLG_STAGE_BUNDLE:
        if (output) status = write_output(output, p.bundle, p.bundle_size);
        else fwrite(p.bundle, 1, p.bundle_size, out);
        break;
      }
      if (out != stdout) {
        if (fclose(out) != 0) {
          fprintf(stderr, "mlgc: error: out of memory\n");
          status = 1;
        } else if (status == 0) {
          status = write_output(output, text, text_len);
        }
      } else if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "mlgc: error: cannot write to the standard output: %s\n", strerror(errno));
        status = 1;
      }
    }
    free(text);
    free(default_out);
  }
  if (status == 0 && svg && write_svg(svg, &p) != 0) status = 1;
  free(weights_out);
  free(ranges);
  mlg_pipeline_free(&p);
  mlg_source_free(&source);
  return status;
}

/* mlgrun — run a model (.mlgb, or .mlg compiled in memory) on an OpenCL or Vulkan device:
 * inputs from .npy files or seeded random values, outputs written as .npy and summarized on
 * stdout; or, with --train, train a model that has a train step (mlgrun_train.h).
 *
 * Exit status: 0 success, 1 a runtime or compile error, 2 a bad command line. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "dtype.h"
#include "file_util.h"
#include "compile.h"
#include "onnx/onnx_import.h"
#include "precision.h"
#include "gemm_tune.h"
#include "mlg.h"
#include "mlg_version.h"
#include "mlgrun_perf.h"
#include "mlgrun_train.h"
#include "progress.h"
#include "tensor_file.h"

#define MAX_DIMS_FLAGS 64
#define MAX_INPUTS 256
#define SUMMARY_VALUES 5
#define DEFAULT_WARMUP 3
#define DEFAULT_COPY_MIB 256

static const char USAGE[] =
    "usage: mlgrun MODEL [options]\n"
    "\n"
    "Runs MODEL (.mlgb bundle, or .mlg source or .onnx model compiled in memory) and writes each\n"
    "output to DIR/NAME.npy; with --train, trains it.\n"
    "\n"
    "options:\n"
    "  --weights FILE.safetensors   weights to bind by name (for .mlg: given to the compiler)\n"
    "  --input NAME=FILE.npy        an input (repeatable); inputs not given are random\n"
    "                               (named on stderr)\n"
    "  --output-dir DIR             where outputs go (default: the current folder)\n"
    "  --device SPEC                opencl:N, vulkan:N, opencl or vulkan (device 0), gpu or cpu\n"
    "                               (default: $MLG_DEVICE, else the first GPU, else the widest\n"
    "                               CPU device); an empty SPEC lists the forms and the devices.\n"
    "                               mlgrun asks PoCL for its serial CPU device too (unless\n"
    "                               POCL_DEVICES is set) and, where no device or cpu is named,\n"
    "                               runs models under 8 MFLOP a run there, in this thread\n"
    "  --validate                   Vulkan: enable the validation layers; a validation error\n"
    "                               fails the run (same as MLG_VK_VALIDATION=1)\n"
    "  -D NAME=VALUE                bind a dimension of a .mlg or .onnx model (repeatable)\n"
    "  --precision f32|f16          .mlg/.onnx: store f32 weights and intermediates as f16 and\n"
    "                               compute in f32 (default f32; mlgc --precision)\n"
    "  --no-winograd                .mlg/.onnx on a CPU: 3x3 convolutions without Winograd's\n"
    "                               transformed weights (up to 4x their bytes; mlgc --no-winograd)\n"
    "  --seed S                     seed of the random inputs (default 0); f32 and f16 inputs\n"
    "                               are uniform in [-1, 1), bools random, integers 0\n"
    "  --list-devices               list devices and exit\n"
    "  --quiet                      print nothing on stderr but errors and warnings (no\n"
    "                               progress line, load summary or random-input note)\n"
    "  --progress                   show the progress line of loads that take over a second\n"
    "                               even when stderr is no terminal (it is shown on one)\n"
    "\n"
    "training (a model with a 'train' statement; docs/runtime.md, Training):\n"
    "  --train                      train instead of running: each --input file is a dataset\n"
    "                               (its first dim the samples), cut into batches of the model's\n"
    "                               batch size; one line per epoch on stderr\n"
    "  --epochs E                   passes over the dataset (default 1)\n"
    "  --shuffle SEED               a new order of the samples each epoch, from SEED (default:\n"
    "                               the files' order)\n"
    "  --save-weights OUT           write the trained params to OUT.safetensors (loadable by\n"
    "                               --weights, and by PyTorch's load_state_dict)\n"
    "  (--weights sets the initial values; --bench N times N steps on the first batch)\n"
    "\n"
    "GEMM tuning (.mlg sources; docs/performance.md):\n"
    "  --tune                       search the device's GEMM tiles again and cache them; alone,\n"
    "                               without a model, print the table and exit. Without it a GPU\n"
    "                               is searched once and its table cached; a CPU device uses a\n"
    "                               cached table but is never searched unasked\n"
    "  --no-tune                    use the built-in GEMM tiles\n"
    "  --show-tuning                print the device's GEMM table and its cache file (searching\n"
    "                               first on a GPU without one) and exit\n"
    "\n"
    "measuring (docs/performance.md):\n"
    "  --profile                    after the warm-up (--warmup), time one run and print each\n"
    "                               dispatch's device time, bytes, FLOPs and fraction of the\n"
    "                               device limit\n"
    "                               (the copy bandwidth measured once per device, then cached)\n"
    "  --bench N                    N timed runs after the warm-up runs; the last line of stdout\n"
    "                               is 'bench: median X ms wall, Y ms device over N runs'\n"
    "  --warmup W                   warm-up runs before --bench and --profile (default 3, at\n"
    "                               least 1; and on until 1 s has passed)\n"
    "  --max-seconds S              stop --bench's timed runs once they took S seconds (at\n"
    "                               least one run; the bench line gives the count made)\n"
    "  --limits                     print the device's peak FP32 rate (a CPU's measured by an\n"
    "                               FMA kernel) and measure its copy bandwidth (a copy kernel;\n"
    "                               on a Vulkan device through its OpenCL twin); alone, without\n"
    "                               a model, and exit\n"
    "  --copy-mib M                 bytes the copy kernel reads (and writes) for the limits, in\n"
    "                               MiB (default 256)\n"
    "  --no-outputs                 do not write the outputs' .npy files\n"
    "  -h, --help                   show this help\n"
    "  --version                    print mlgrun's and libmlgrt's versions\n";

typedef struct input_flag {
  char *name;                /* points into argv's copy */
  const char *path;
  int used;
} input_flag;

typedef struct args {
  const char *model;
  const char *weights;
  const char *output_dir;
  const char *device;
  uint64_t seed;
  int list_devices;
  int profile;
  int bench;                 /* timed runs; 0: no --bench */
  int warmup;
  int limits;
  int copy_mib;
  int max_seconds;           /* 0: no limit */
  int no_outputs;
  int quiet;
  int progress;              /* --progress: the progress line also off a terminal */
  int tune;                  /* --tune: search again */
  int no_tune;
  int show_tuning;
  int precision;             /* mlg_precision: --precision */
  int precision_given;
  int no_winograd;           /* --no-winograd */
  int n_dims;
  mlg_dim_binding dims[MAX_DIMS_FLAGS];
  int n_inputs;
  input_flag inputs[MAX_INPUTS];
  int train;                 /* --train */
  int epochs;                /* 0: not given */
  int shuffle;
  uint64_t shuffle_seed;
  const char *save_weights;
} args;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mlgrun: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'mlgrun --help' for more information.\n");
  return 2;
}

static int runtime_error(void) {
  fprintf(stderr, "mlgrun: error: %s\n", mlg_last_error());
  return 1;
}

/* Names, paths and messages come from bundles and files: what mlgrun prints of them is made safe
 * for the terminal first (control characters as \xHH, file_util.h). */
static const char *safe(const char *text, char *buf, size_t size) { return mlg_sanitize(text, 0, buf, size); }

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...) {
  char raw[4096], text[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  fprintf(stderr, "mlgrun: error: %s\n", mlg_sanitize(raw, 1, text, sizeof text));
  return 1;
}

/* Matches "--flag VALUE" and "--flag=VALUE"; advances *i past what it used. Returns 1 on a
 * match with *out set, 0 when argv[*i] is another flag, -1 when the value is missing. */
static int flag_value(int argc, char **argv, int *i, const char *flag, const char **out) {
  size_t n = strlen(flag);
  const char *a = argv[*i];
  if (strncmp(a, flag, n) != 0) return 0;
  if (a[n] == '=') {
    *out = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *out = argv[++*i];
  return 1;
}

/* A decimal integer in [lo, hi] into *out; returns 0 or -1. */
static int parse_count(const char *v, int lo, int hi, int *out) {
  char *end = NULL;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (!*v || *end || errno || n < lo || n > hi) return -1;
  *out = (int)n;
  return 0;
}

static int parse_dim(args *a, char *text) {
  if (a->n_dims == MAX_DIMS_FLAGS) return usage_error("too many -D flags (at most %d)", MAX_DIMS_FLAGS);
  char *eq = strchr(text, '=');
  if (!eq || eq == text || !eq[1]) return usage_error("-D expects NAME=VALUE, got '%s'", text);
  *eq = '\0';
  char *end = NULL;
  errno = 0;
  long long v = strtoll(eq + 1, &end, 10);
  if (*end != '\0' || errno != 0 || v < 1) {
    *eq = '=';
    return usage_error("-D %s: the value must be a positive integer", text);
  }
  a->dims[a->n_dims].name = text;
  a->dims[a->n_dims].value = v;
  a->n_dims++;
  return 0;
}

static int device_forms(void);

/* Parses argv (whose strings it may edit: "NAME=FILE" is split in place). Returns 0, 2 on a
 * bad command line, or -1 after --help or --version was printed. */
static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->output_dir = ".";
  a->warmup = DEFAULT_WARMUP;
  a->copy_mib = DEFAULT_COPY_MIB;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *v = NULL;
    int r;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      fputs(USAGE, stdout);
      return -1;
    }
    if (strcmp(arg, "--version") == 0) {
      /* The library's own version too: the one found at run time may not be the one built with. */
      printf("mlgrun %s (libmlgrt %s)\n", MLG_VERSION_STRING, mlg_version());
      return -1;
    }
    if (strcmp(arg, "--list-devices") == 0) {
      a->list_devices = 1;
    } else if (strcmp(arg, "--profile") == 0) {
      a->profile = 1;
    } else if (strcmp(arg, "--limits") == 0) {
      a->limits = 1;
    } else if (strcmp(arg, "--no-outputs") == 0) {
      a->no_outputs = 1;
    } else if (strcmp(arg, "--quiet") == 0) {
      a->quiet = 1;
    } else if (strcmp(arg, "--progress") == 0) {
      a->progress = 1;
    } else if (strcmp(arg, "--tune") == 0) {
      a->tune = 1;
    } else if (strcmp(arg, "--no-tune") == 0) {
      a->no_tune = 1;
    } else if (strcmp(arg, "--show-tuning") == 0) {
      a->show_tuning = 1;
    } else if (strcmp(arg, "--train") == 0) {
      a->train = 1;
    } else if ((r = flag_value(argc, argv, &i, "--epochs", &v)) != 0) {
      if (r < 0 || parse_count(v, 1, 1000000, &a->epochs) != 0)
        return usage_error("--epochs expects a number of passes (1 to 1000000)");
    } else if ((r = flag_value(argc, argv, &i, "--shuffle", &v)) != 0) {
      if (r < 0) return usage_error("--shuffle needs a seed");
      char *end = NULL;
      errno = 0;
      unsigned long long s = strtoull(v, &end, 10);
      if (!*v || *end || errno || v[0] == '-') return usage_error("--shuffle expects a non-negative seed, got '%s'", v);
      a->shuffle = 1;
      a->shuffle_seed = s;
    } else if ((r = flag_value(argc, argv, &i, "--save-weights", &v)) != 0) {
      if (r < 0 || !*v) return usage_error("--save-weights needs a file (OUT.safetensors)");
      a->save_weights = v;
    } else if (strcmp(arg, "--validate") == 0) {
      /* Read by the Vulkan backend when it creates its instance. */
      setenv("MLG_VK_VALIDATION", "1", 1);
    } else if ((r = flag_value(argc, argv, &i, "--bench", &v)) != 0) {
      if (r < 0 || parse_count(v, 1, 1000000, &a->bench) != 0)
        return usage_error("--bench expects a number of runs (1 to 1000000)");
    } else if ((r = flag_value(argc, argv, &i, "--warmup", &v)) != 0) {
      if (r < 0 || parse_count(v, 1, 1000000, &a->warmup) != 0)
        return usage_error("--warmup expects a number of runs (1 to 1000000)");
    } else if ((r = flag_value(argc, argv, &i, "--max-seconds", &v)) != 0) {
      if (r < 0 || parse_count(v, 1, 1000000, &a->max_seconds) != 0)
        return usage_error("--max-seconds expects a whole number of seconds (1 to 1000000)");
    } else if ((r = flag_value(argc, argv, &i, "--copy-mib", &v)) != 0) {
      if (r < 0 || parse_count(v, 0, 65536, &a->copy_mib) != 0)
        return usage_error("--copy-mib expects a size in MiB (0 to 65536; 0 skips the measurement)");
    } else if (strcmp(arg, "--no-winograd") == 0) {
      a->no_winograd = 1;
    } else if ((r = flag_value(argc, argv, &i, "--precision", &v)) != 0) {
      mlg_precision p;
      if (r < 0) return usage_error("--precision needs f32 or f16");
      if (mlg_precision_parse(v, &p) != 0) return usage_error("unknown precision '%s' (expected f32 or f16)", v);
      a->precision = p;
      a->precision_given = 1;
    } else if ((r = flag_value(argc, argv, &i, "--weights", &v)) != 0) {
      if (r < 0) return usage_error("--weights needs a file");
      a->weights = v;
    } else if ((r = flag_value(argc, argv, &i, "--output-dir", &v)) != 0) {
      if (r < 0 || !*v) return usage_error("--output-dir needs a folder");
      a->output_dir = v;
    } else if ((r = flag_value(argc, argv, &i, "--device", &v)) != 0) {
      if (r < 0 || !*v) return device_forms();
      a->device = v;
    } else if ((r = flag_value(argc, argv, &i, "--seed", &v)) != 0) {
      if (r < 0) return usage_error("--seed needs a number");
      char *end = NULL;
      errno = 0;
      unsigned long long s = strtoull(v, &end, 10);
      if (!*v || *end || errno || v[0] == '-') return usage_error("--seed expects a non-negative integer, got '%s'", v);
      a->seed = s;
    } else if ((r = flag_value(argc, argv, &i, "--input", &v)) != 0) {
      if (r < 0) return usage_error("--input needs NAME=FILE.npy");
      char *eq = strchr((char *)v, '=');
      if (!eq || eq == v || !eq[1]) return usage_error("--input expects NAME=FILE.npy, got '%s'", v);
      if (a->n_inputs == MAX_INPUTS) return usage_error("too many --input flags (at most %d)", MAX_INPUTS);
      *eq = '\0';
      for (int k = 0; k < a->n_inputs; k++)
        if (strcmp(a->inputs[k].name, v) == 0) return usage_error("input '%s' given twice", v);
      a->inputs[a->n_inputs].name = (char *)v;
      a->inputs[a->n_inputs].path = eq + 1;
      a->n_inputs++;
    } else if (strncmp(arg, "-D", 2) == 0) {
      char *text = argv[i] + 2;
      if (!*text) {
        if (i + 1 >= argc) return usage_error("-D needs NAME=VALUE");
        text = argv[++i];
      }
      if (parse_dim(a, text) != 0) return 2;
    } else if (arg[0] == '-' && arg[1] != '\0') {
      return usage_error("unknown option '%s'", arg);
    } else if (a->model) {
      return usage_error("more than one model given ('%s' and '%s')", a->model, arg);
    } else {
      a->model = arg;
    }
  }
  if (a->tune && a->no_tune) return usage_error("--tune and --no-tune exclude each other");
  if (a->quiet && a->progress) return usage_error("--quiet and --progress exclude each other");
  if (a->show_tuning && a->model)
    return usage_error("--show-tuning takes no model (it prints the device's table and exits)");
  if (!a->model && !a->list_devices && !a->limits && !a->tune && !a->show_tuning)
    return usage_error("no model given");
  if (!a->train && (a->epochs || a->shuffle || a->save_weights))
    return usage_error("%s applies to --train", a->epochs ? "--epochs" : a->shuffle ? "--shuffle" : "--save-weights");
  if (a->train && (a->profile || a->limits))
    return usage_error("--train times steps with --bench N; %s applies to runs", a->profile ? "--profile" : "--limits");
  if (a->train && a->bench && (a->epochs || a->save_weights))
    return usage_error("--bench with --train times steps on one batch; it takes no %s",
                       a->epochs ? "--epochs" : "--save-weights");
  return 0;
}

static int list_devices(FILE *out) {
  int n = 0;
  if (mlg_list_devices(NULL, 0, &n) != MLG_OK) return runtime_error();
  if (n == 0)
    return error("no OpenCL platform or Vulkan device found; install a driver (e.g. Debian packages pocl-opencl-icd, mesa-vulkan-drivers)");
  mlg_device_info *devs = calloc((size_t)n, sizeof *devs);
  if (!devs) return error("out of memory");
  int got = 0;
  if (mlg_list_devices(devs, n, &got) != MLG_OK) {
    free(devs);
    return runtime_error();
  }
  for (int i = 0; i < n && i < got; i++) {
    char sub[64] = "";
    if (strcmp(devs[i].backend, "vulkan") == 0)
      snprintf(sub, sizeof sub, ", subgroup %d%s", devs[i].subgroup_size,
               devs[i].subgroup_arithmetic ? " arithmetic" : ", no arithmetic");
    fprintf(out, "%-10s %s  [%s, %s%s]\n", devs[i].spec, devs[i].name, devs[i].platform,
            devs[i].is_gpu ? "GPU" : "CPU", sub);
  }
  free(devs);
  return 0;
}

/* --device without a spec: every form it takes, and the devices here. Returns 2. */
static int device_forms(void) {
  fputs("mlgrun: --device needs a spec, one of:\n"
        "  opencl:N        the N-th OpenCL device, counting across platforms\n"
        "  vulkan:N        the N-th Vulkan device\n"
        "  opencl, vulkan  device 0 of that backend\n"
        "  gpu, cpu        the first device of that kind (OpenCL devices first)\n"
        "the devices here:\n",
        stderr);
  list_devices(stderr);
  return 2;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A .mlgb by name, or any file that starts with the bundle magic. */
static int is_bundle(const char *path) {
  if (ends_with(path, ".mlgb")) return 1;
  if (ends_with(path, ".mlg") || ends_with(path, ".onnx")) return 0;
  char magic[4] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  return n == 4 && memcmp(magic, MLGB_MAGIC, 4) == 0;
}

/* Starts the progress line for `what`: on stderr when it is a terminal (or with --progress),
 * never with --quiet. */
static void progress_start(const args *a, progress_line *p, const char *what) {
  int tty = isatty(STDERR_FILENO);
  progress_begin(p, !a->quiet && (tty || a->progress) ? stderr : NULL, tty, "mlgrun", what);
}

/* The device's GEMM tuning (gemm_tune.h): 1 with *out filled, 0 for the built-in tiles. A GPU
 * is searched when the cache has no table; a CPU device only with --tune (its vector kernel
 * does not use these tiles). */
static int gemm_tuning(const args *a, const mlg_device_info *dev, mlg_gemm_tuning *out, mlg_tune_report *rep) {
  memset(rep, 0, sizeof *rep);
  if (a->no_tune) return 0;
  progress_line line;
  progress_start(a, &line, "tuning GEMM tiles");
  /* The search's own lines wait until the progress line is done, so the two do not mix. */
  char *log = NULL;
  size_t log_size = 0;
  FILE *log_file = line.out ? open_memstream(&log, &log_size) : NULL;
  mlg_tune_options o = {.who = "mlgrun", .force = a->tune, .no_search = !a->tune && !dev->is_gpu,
                        .log = log_file, .progress = progress_update, .progress_user = &line};
  int rc = mlg_tune_gemm(dev, &o, out, rep);
  progress_end(&line);
  if (log_file && fclose(log_file) == 0) fputs(log, stderr);
  free(log);
  return rc == 0;
}

/* --tune or --show-tuning without a model: the table of the device, and where it is cached. */
static int tuning_only(const args *a) {
  mlg_runtime_options ro = {0};
  ro.device = a->device;
  mlg_runtime *rt = NULL;
  if (mlg_runtime_create(&ro, &rt) != MLG_OK) return runtime_error();
  mlg_device_info dev = *mlg_runtime_device(rt);
  mlg_runtime_destroy(rt); /* the search creates its own, with profiling on */
  mlg_gemm_tuning t;
  mlg_tune_report rep;
  int have = gemm_tuning(a, &dev, &t, &rep);
  printf("gemm tuning of %s %s [%s, driver %s]\n", dev.spec, dev.name, dev.backend, dev.driver);
  printf("cache: %s\n", rep.path[0] ? rep.path : "none (no cache folder)");
  if (have) {
    printf("source: %s\n", rep.from_cache ? "cache" : rep.stored ? "search (stored)" : "search (not stored)");
    mlg_tune_print(stdout, &t);
    return 0;
  }
  if (a->tune) return error("the GEMM search found no working tiling on %s", dev.spec);
  printf("source: none: %s\n", dev.is_gpu ? "the search found no working tiling"
                                          : "a CPU-class device is tuned only with --tune");
  return 0;
}

/* Compiles a .mlg (or imports a .onnx) in memory; diagnostics go to stderr. */
static int compile_source(const args *a, int target, const mlg_device_info *dev, uint8_t **out_data,
                          size_t *out_size) {
  mlg_source src;
  char why[1400];
  if (mlg_pipeline_source_load(&src, a->model, why, sizeof why) != 0) return error("%s", why);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  diag.color = isatty(STDERR_FILENO);
  if (mlg_onnx_is_model_path(a->model)) diag.max_errors = 0; /* one error lists every node */
  mlg_compile_options opts = {0};
  opts.target = target;
  opts.n_dims = a->n_dims;
  opts.dims = a->dims;
  opts.weights_path = a->weights;
  opts.opt_level = 2;
  opts.precision = a->precision;
  opts.no_winograd = a->no_winograd;
  opts.device_class = dev->is_gpu ? 2 : 1; /* kt_device_class: tiles for the device that runs it */
  opts.local_mem_bytes = (int64_t)dev->local_mem_bytes;
  opts.subgroups = dev->subgroup_arithmetic; /* Vulkan devices that have them; never OpenCL */
  mlg_gemm_tuning tuning;
  mlg_tune_report rep;
  if (gemm_tuning(a, dev, &tuning, &rep)) opts.gemm_tuning = &tuning;
  int rc = mlg_compile(&src, &opts, &diag, out_data, out_size);
  mlg_source_free(&src);
  if (rc != 0) return error("could not compile '%s' (%d error%s)", a->model, diag.n_errors, diag.n_errors == 1 ? "" : "s");
  return 0;
}

static const char *shape_string(char *buf, size_t size, mlg_dtype dtype, int rank, const int64_t *dims) {
  size_t used = (size_t)snprintf(buf, size, "%s[", mlg_dtype_get((uint32_t)dtype)->name);
  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", dims[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* splitmix64: small, fast and the same on every platform. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int input_given(const args *a, const char *name) {
  for (int k = 0; k < a->n_inputs; k++)
    if (strcmp(a->inputs[k].name, name) == 0) return 1;
  return 0;
}

/* How fill_input makes up an input's values: floats (f32, f16) random in [-1, 1), bools random,
 * integers 0 (always a valid index). */
typedef enum made_up { MADE_RANDOM, MADE_BOOL, MADE_ZERO } made_up;

static made_up made_up_kind(mlg_dtype dtype) {
  if (dtype == MLG_DTYPE_F32 || dtype == MLG_DTYPE_F16) return MADE_RANDOM;
  return dtype == MLG_DTYPE_BOOL ? MADE_BOOL : MADE_ZERO;
}

/* One line on stderr naming the inputs that fill_input made up (none: no line), so that a run
 * on random data is never mistaken for a run on real inputs. */
static void report_generated_inputs(const args *a, const mlg_model *model) {
  char list[3][1024] = {"", "", ""};
  size_t used[3] = {0, 0, 0};
  for (int i = 0; i < mlg_model_input_count(model); i++) {
    mlg_tensor_info info;
    if (mlg_model_input_info(model, i, &info) != MLG_OK || input_given(a, info.name)) continue;
    made_up k = made_up_kind(info.dtype);
    int w = snprintf(list[k] + used[k], sizeof list[k] - used[k], "%s%s", used[k] ? ", " : "", info.name);
    if (w > 0 && used[k] + (size_t)w < sizeof list[k]) used[k] += (size_t)w;
  }
  if (!used[0] && !used[1] && !used[2]) return;
  char shown[1024]; /* the names come from the bundle */
  fprintf(stderr, "mlgrun: inputs without --input:");
  const char *sep = "";
  if (used[MADE_RANDOM]) {
    fprintf(stderr, " %s random in [-1, 1) (--seed %" PRIu64 ")", safe(list[MADE_RANDOM], shown, sizeof shown), a->seed);
    sep = ";";
  }
  if (used[MADE_BOOL]) {
    fprintf(stderr, "%s %s random true/false (--seed %" PRIu64 ")", sep, safe(list[MADE_BOOL], shown, sizeof shown),
            a->seed);
    sep = ";";
  }
  if (used[MADE_ZERO]) fprintf(stderr, "%s %s all 0 (integers)", sep, safe(list[MADE_ZERO], shown, sizeof shown));
  fputc('\n', stderr);
}

/* Loads the --input file for `info`, or fills random values. Returns 0 or 1 (message printed). */
static int fill_input(const args *a, const mlg_tensor_info *info, uint64_t *rng, void *data) {
  char want[256], got[256];
  for (int k = 0; k < a->n_inputs; k++) {
    if (strcmp(a->inputs[k].name, info->name) != 0) continue;
    mlg_tf_tensor t;
    char err[1024];
    if (mlg_npy_read_file(a->inputs[k].path, &t, err, sizeof err) != 0) return error("input '%s': %s", info->name, err);
    mlg_dtype dtype = (mlg_dtype)t.dtype; /* numbered alike (dtype.h) */
    int same = dtype == info->dtype && t.rank == info->rank && t.size == info->bytes;
    for (int d = 0; same && d < t.rank; d++) same = t.dims[d] == info->dims[d];
    if (!same) {
      error("input '%s' in '%s' is %s, but the model expects %s", info->name, a->inputs[k].path,
            shape_string(got, sizeof got, dtype, t.rank, t.dims),
            shape_string(want, sizeof want, info->dtype, info->rank, info->dims));
      mlg_tf_tensor_free(&t);
      return 1;
    }
    memcpy(data, t.data, info->bytes);
    mlg_tf_tensor_free(&t);
    return 0;
  }
  size_t n = info->bytes / (size_t)mlg_dtype_get((uint32_t)info->dtype)->host_bytes;
  switch (made_up_kind(info->dtype)) {
  case MADE_ZERO:
    memset(data, 0, info->bytes);
    break;
  case MADE_BOOL:
    for (size_t i = 0; i < n; i++) ((uint8_t *)data)[i] = (uint8_t)(next_random(rng) >> 63);
    break;
  case MADE_RANDOM:
    for (size_t i = 0; i < n; i++) {
      /* 24 random bits: every value is exact in f32 and in [-1, 1) (f16 rounds it). */
      float f = (float)(next_random(rng) >> 40) * (2.0f / 16777216.0f) - 1.0f;
      if (info->dtype == MLG_DTYPE_F16) ((uint16_t *)data)[i] = mlg_f32_to_f16(f);
      else ((float *)data)[i] = f;
    }
    break;
  }
  return 0;
}

static void format_number(char *buf, size_t size, double v) {
  double m = fabs(v);
  if (v == 0 || (m >= 1e-3 && m < 1e6) || isnan(v) || isinf(v))
    snprintf(buf, size, "%.4f", v);
  else
    snprintf(buf, size, "%.4e", v);
}

static void summarize(const mlg_tensor_info *info, const void *data) {
  char shape[256], mn[48], mx[48], mean[48];
  size_t n = info->bytes / (size_t)mlg_dtype_get((uint32_t)info->dtype)->host_bytes;
  int is_float = info->dtype == MLG_DTYPE_F32 || info->dtype == MLG_DTYPE_F16;
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  size_t nans = 0;
  for (size_t i = 0; i < n; i++) {
    double v = mlg_dtype_host_value((uint32_t)info->dtype, data, i);
    if (isnan(v)) {
      nans++;
      continue;
    }
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    sum += v;
  }
  size_t counted = n - nans;
  format_number(mn, sizeof mn, counted ? lo : NAN);
  format_number(mx, sizeof mx, counted ? hi : NAN);
  format_number(mean, sizeof mean, counted ? sum / (double)counted : NAN);
  char name[256];
  printf("%s: %s  min %s max %s mean %s", safe(info->name, name, sizeof name),
         shape_string(shape, sizeof shape, info->dtype, info->rank, info->dims), mn, mx, mean);
  if (nans) printf("  (%zu NaN)", nans);
  printf("  [");
  for (size_t i = 0; i < n && i < SUMMARY_VALUES; i++) {
    double v = mlg_dtype_host_value((uint32_t)info->dtype, data, i);
    if (info->dtype == MLG_DTYPE_BOOL) printf("%s%s", i ? ", " : "", v != 0 ? "true" : "false");
    else if (is_float) printf("%s%.6g", i ? ", " : "", v);
    else printf("%s%" PRId64, i ? ", " : "", (int64_t)v);
  }
  printf("%s]\n", n > SUMMARY_VALUES ? ", ..." : "");
}

/* A tensor name as a file name: anything but [A-Za-z0-9._-] becomes '_', and so does a
 * leading '.', so "a/b" and ".." cannot leave DIR. */
static void file_name(const char *name, char *buf, size_t size) {
  size_t j = 0;
  for (size_t i = 0; name[i] && j + 1 < size; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             (c == '.' && j > 0);
    buf[j++] = ok ? c : '_';
  }
  buf[j] = '\0';
  if (j == 0) snprintf(buf, size, "output");
}

typedef struct run_state {
  mlg_runtime *rt;
  mlg_model *model;
  mlg_session *session;
  void *buffer;
  mlgb_bundle *bundle;       /* --profile only: the bundle, read again for its shapes */
  double prepare_ms;         /* --profile only: device time of the session's preparation */
} run_state;

/* Reads a whole file into a malloc'd buffer. Returns 0, or 1 after printing an error. */
static int read_file(const char *path, uint8_t **out_data, size_t *out_size) {
  char err[512];
  if (mlg_read_file(path, out_data, out_size, err, sizeof err) != 0) return error("%s", err);
  return 0;
}

/* Keeps a parsed copy of the bundle for --profile's FLOP and byte counts. */
static int keep_bundle(const args *a, run_state *s, const uint8_t *data, size_t size) {
  char err[1024];
  if (mlgb_read(data, size, &s->bundle, err, sizeof err) != 0) {
    s->bundle = NULL;
    return error("'%s': %s", a->model, err);
  }
  return 0;
}

/* Device time of the session's last run: the sum of its dispatches' times, in ms. */
static int device_ms(run_state *s, mlg_dispatch_profile *prof, int capacity, double *out_ms) {
  int count = 0;
  if (mlg_session_profile(s->session, prof, capacity, &count) != MLG_OK) return runtime_error();
  uint64_t ns = 0;
  for (int i = 0; i < count && i < capacity; i++) ns += prof[i].device_ns;
  *out_ms = ns / 1e6;
  return 0;
}

/* The device time of the preparation a new session ran (bundle.h MLGB_PROGRAM_PREPARE): its
 * last run, until the first mlg_session_run. 0 for a bundle without one. */
static int prepare_time(run_state *s) {
  if (!mlgb_program_used(s->bundle, MLGB_PROGRAM_PREPARE)) return 0;
  int n = 0;
  if (mlg_session_profile(s->session, NULL, 0, &n) != MLG_OK) return runtime_error();
  mlg_dispatch_profile *prof = calloc((size_t)n + 1, sizeof *prof);
  if (!prof) return error("out of memory");
  int rc = mlg_session_profile(s->session, prof, n, &n) == MLG_OK ? 0 : runtime_error();
  uint64_t ns = 0;
  for (int i = 0; rc == 0 && i < n; i++)
    if ((uint32_t)prof[i].dispatch_index < s->bundle->n_dispatches &&
        s->bundle->dispatches[prof[i].dispatch_index].programs == MLGB_PROGRAM_PREPARE)
      ns += prof[i].device_ns;
  s->prepare_ms = ns / 1e6;
  free(prof);
  return rc;
}

/* --limits, --bench and --profile, after the first run (which is the first warm-up). */
static int measure(const args *a, run_state *s) {
  const mlg_device_info *dev = mlg_runtime_device(s->rt);
  perf_limits limits;
  memset(&limits, 0, sizeof limits);
  if (a->limits || a->profile) {
    /* --profile takes the device's cached copy bandwidth; --limits measures it again. */
    perf_limits_measure(s->rt, (uint64_t)a->copy_mib << 20, !a->limits, &limits);
    perf_limits_print(stdout, dev, &limits);
  }
  int n_disp = 0;
  if (mlg_session_profile(s->session, NULL, 0, &n_disp) != MLG_OK) return runtime_error();
  mlg_dispatch_profile *prof = calloc((size_t)n_disp + 1, sizeof *prof);
  double *wall = calloc((size_t)a->bench + 1, sizeof *wall), *devt = calloc((size_t)a->bench + 1, sizeof *devt);
  int rc = 0;
  if (!prof || !wall || !devt) rc = error("out of memory");
  /* The first run was made: warm up to --warmup runs and PERF_WARMUP_MS of the clock. */
  uint64_t warm_from = mlg_monotonic_ns();
  for (int w = 1; (a->bench || a->profile) && rc == 0 && perf_warming(w, a->warmup, warm_from); w++)
    if (mlg_session_run(s->session) != MLG_OK) rc = runtime_error();
  int runs = 0;
  double started = (mlg_monotonic_ns() / 1e6);
  for (int r = 0; r < a->bench && rc == 0; r++) {
    if (r > 0 && a->max_seconds && (mlg_monotonic_ns() / 1e6) - started > a->max_seconds * 1e3) break;
    double t0 = (mlg_monotonic_ns() / 1e6);
    if (mlg_session_run(s->session) != MLG_OK) {
      rc = runtime_error();
      break;
    }
    wall[r] = (mlg_monotonic_ns() / 1e6) - t0;
    rc = device_ms(s, prof, n_disp, &devt[r]);
    runs++;
  }
  if (a->profile && rc == 0) {
    double t0 = (mlg_monotonic_ns() / 1e6), dms = 0;
    if (mlg_session_run(s->session) != MLG_OK) rc = runtime_error();
    double wms = (mlg_monotonic_ns() / 1e6) - t0;
    if (rc == 0) rc = device_ms(s, prof, n_disp, &dms);
    if (rc == 0) {
      char name[256];
      printf("profile of model '%s' (one run after warm-up): %.3f ms wall, %.3f ms device\n",
             safe(mlg_model_name(s->model), name, sizeof name), wms, dms);
      perf_print_profile(stdout, s->bundle, prof, n_disp, &limits, s->prepare_ms);
    }
  }
  if (a->bench && rc == 0) {
    double wm = perf_median(wall, runs), dm = perf_median(devt, runs);
    printf("bench: median %.4f ms wall, %.4f ms device over %d runs\n", wm, dm, runs);
  }
  free(prof);
  free(wall);
  free(devt);
  return rc;
}

/* --limits without a model. */
static int limits_only(const args *a) {
  mlg_runtime_options ro = {0};
  ro.device = a->device;
  ro.enable_profiling = 1;
  mlg_runtime *rt = NULL;
  if (mlg_runtime_create(&ro, &rt) != MLG_OK) return runtime_error();
  perf_limits limits;
  perf_limits_measure(rt, (uint64_t)a->copy_mib << 20, 0, &limits);
  perf_limits_print(stdout, mlg_runtime_device(rt), &limits);
  mlg_runtime_destroy(rt);
  return 0;
}

/* Runs of fewer FLOPs than this are faster on a serial CPU device (one compute unit, its
 * commands run in the calling thread: PoCL's "basic") than on a threaded one, whose worker
 * threads wake for every command: `mlp` at batch 1 0.043 → 0.011 ms a run, batch 16 (6.5
 * MFLOP) the same, batch 32 slower (docs/performance.md). */
#define SERIAL_MAX_FLOPS 8e6
#define SERIAL_MAX_FILE ((uint64_t)64 << 20)

/* The spec of the serial CPU device to run the bundle on in place of `dev` (in out_spec), or
 * NULL: when the device was not named (no --device or $MLG_DEVICE, or --device cpu), dev is a
 * CPU of several compute units, its backend and platform also list a CPU device of one, and the
 * bundle (`data`, or NULL: the file a->model) counts fewer than SERIAL_MAX_FLOPS in a run (a
 * train step with --train). */
static const char *serial_device(const args *a, const mlg_device_info *dev, const uint8_t *data, size_t size,
                                 char out_spec[32]) {
  const char *named = a->device ? a->device : getenv("MLG_DEVICE");
  if ((named && *named && strcmp(named, "cpu") != 0) || dev->is_gpu || dev->compute_units <= 1) return NULL;
  mlg_device_info devices[64];
  int n = 0;
  if (mlg_list_devices(devices, 64, &n) != MLG_OK) return NULL;
  const mlg_device_info *serial = NULL;
  for (int i = 0; i < n && i < 64 && !serial; i++)
    if (!devices[i].is_gpu && devices[i].compute_units == 1 && strcmp(devices[i].backend, dev->backend) == 0 &&
        strcmp(devices[i].platform, dev->platform) == 0)
      serial = &devices[i];
  if (!serial) return NULL;
  uint8_t *file = NULL;
  char err[1024];
  /* A bundle file past SERIAL_MAX_FILE is not read twice: it is not taken for small. (Errors
   * reading it are load's to report.) */
  if (!data && mlg_read_file_limit(a->model, SERIAL_MAX_FILE, &file, &size, err, sizeof err) != 0) return NULL;
  mlgb_bundle *b = NULL;
  int bad = mlgb_read(data ? data : file, size, &b, err, sizeof err) != 0;
  free(file);
  if (bad) return NULL;
  const uint32_t program = a->train ? MLGB_PROGRAM_TRAIN : MLGB_PROGRAM_RUN;
  double flops = 0;
  int counted = 1;
  for (uint32_t i = 0; i < b->n_dispatches; i++) {
    if (!(b->dispatches[i].programs & program)) continue;
    counted = counted && b->dispatches[i].bytes > 0; /* bytes 0: the producer counted nothing */
    flops += (double)b->dispatches[i].flops;
  }
  mlgb_free(b);
  if (!counted || flops >= SERIAL_MAX_FLOPS) return NULL;
  snprintf(out_spec, 32, "%s", serial->spec);
  if (!a->quiet)
    fprintf(stderr, "mlgrun: %.2f MFLOP a run: on the serial CPU device %s, its commands in this thread "
            "(--device %s for the threaded one)\n", flops / 1e6, serial->spec, dev->spec);
  return out_spec;
}

static int run_model(const args *a, run_state *s) {
  int is_b = is_bundle(a->model);
  if (is_b && a->n_dims > 0)
    return usage_error("-D applies to .mlg sources; recompile the bundle ('%s')", a->model);
  if (is_b && a->precision_given)
    return usage_error("--precision applies to .mlg and .onnx sources; a bundle's precision is chosen "
                       "when mlgc compiles it (mlgc --precision=f16)");
  if (is_b && a->no_winograd)
    return usage_error("--no-winograd applies to .mlg and .onnx sources; a bundle's kernels are chosen "
                       "when mlgc compiles it (mlgc --no-winograd)");
  if (is_b && (a->tune || a->no_tune))
    return usage_error("%s applies to .mlg sources; a bundle's kernels are tiled when mlgc compiles it "
                       "(mlgc --tuning FILE)", a->tune ? "--tune" : "--no-tune");

  mlg_runtime_options ro = {0};
  ro.device = a->device;
  ro.enable_profiling = a->profile || a->bench || a->limits;
  if (mlg_runtime_create(&ro, &s->rt) != MLG_OK) return runtime_error();
  const mlg_device_info *dev = mlg_runtime_device(s->rt);

  double t0 = (mlg_monotonic_ns() / 1e6);
  mlg_status st;
  progress_line line;
  mlg_load_options lo = {.progress = progress_update, .progress_user = &line};
  uint8_t *data = NULL;
  size_t size = 0;
  if (!is_b && compile_source(a, strcmp(dev->backend, "vulkan") == 0 ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL,
                              dev, &data, &size) != 0)
    return 1;
  /* A small model on the threaded CPU device: its serial sibling, if the driver lists one. */
  char spec[32];
  if (serial_device(a, dev, data, size, spec)) {
    mlg_runtime_destroy(s->rt);
    s->rt = NULL;
    ro.device = spec;
    if (mlg_runtime_create(&ro, &s->rt) != MLG_OK) {
      free(data);
      return runtime_error();
    }
    dev = mlg_runtime_device(s->rt);
  }
  if (is_b) {
    lo.weights_path = a->weights;
    progress_start(a, &line, "building kernels");
    st = mlg_model_load_file(s->rt, a->model, &lo, &s->model);
    progress_end(&line);
    if (st == MLG_OK && a->profile) {
      if (read_file(a->model, &data, &size) != 0) return 1;
      int bad = keep_bundle(a, s, data, size);
      free(data);
      if (bad) return 1;
    }
  } else {
    progress_start(a, &line, "building kernels");
    st = mlg_model_load_memory(s->rt, data, size, &lo, &s->model);
    progress_end(&line);
    if (st == MLG_OK && a->profile && keep_bundle(a, s, data, size) != 0) {
      free(data);
      return 1;
    }
    free(data);
  }
  if (st != MLG_OK) return runtime_error();
  double t1 = (mlg_monotonic_ns() / 1e6);
  if (a->train) {
    train_dataset_file files[MAX_INPUTS];
    for (int k = 0; k < a->n_inputs; k++) files[k] = (train_dataset_file){a->inputs[k].name, a->inputs[k].path};
    train_options o = {.epochs = a->epochs ? a->epochs : 1, .shuffle = a->shuffle,
                       .shuffle_seed = a->shuffle_seed, .save_weights = a->save_weights,
                       .bench = a->bench, .warmup = a->warmup, .quiet = a->quiet,
                       .n_files = a->n_inputs, .files = files};
    if (!a->quiet)
      fprintf(stderr, "mlgrun: model '%s' on %s (%s): load %.1f ms\n", mlg_model_name(s->model), dev->spec,
              dev->name, t1 - t0);
    return mlgrun_train(s->rt, s->model, &o);
  }

  /* Every --input must name an input of the model. */
  int n_in = mlg_model_input_count(s->model), n_out = mlg_model_output_count(s->model);
  for (int k = 0; k < a->n_inputs; k++) {
    int found = 0;
    mlg_tensor_info info;
    for (int i = 0; i < n_in && !found; i++)
      found = mlg_model_input_info(s->model, i, &info) == MLG_OK && strcmp(info.name, a->inputs[k].name) == 0;
    if (!found) {
      char names[2048];
      size_t used = 0;
      names[0] = '\0';
      for (int i = 0; i < n_in && used < sizeof names; i++) {
        mlg_model_input_info(s->model, i, &info);
        int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", info.name);
        if (w > 0) used += (size_t)w;
      }
      return error("model '%s' has no input '%s'; its inputs: %s", mlg_model_name(s->model), a->inputs[k].name,
                   n_in ? names : "none");
    }
  }

  size_t largest = 4;
  mlg_tensor_info info;
  for (int i = 0; i < n_in; i++)
    if (mlg_model_input_info(s->model, i, &info) == MLG_OK && info.bytes > largest) largest = info.bytes;
  for (int i = 0; i < n_out; i++)
    if (mlg_model_output_info(s->model, i, &info) == MLG_OK && info.bytes > largest) largest = info.bytes;
  s->buffer = malloc(largest);
  if (!s->buffer) return error("out of memory (%zu bytes)", largest);

  if (mlg_session_create(s->model, &s->session) != MLG_OK) return runtime_error();
  if (a->profile && s->bundle && prepare_time(s) != 0) return 1;
  uint64_t rng = a->seed;
  for (int i = 0; i < n_in; i++) {
    if (mlg_model_input_info(s->model, i, &info) != MLG_OK) return runtime_error();
    if (fill_input(a, &info, &rng, s->buffer) != 0) return 1;
    if (mlg_session_set_input(s->session, info.name, s->buffer, info.bytes) != MLG_OK) return runtime_error();
  }
  if (!a->quiet) report_generated_inputs(a, s->model);
  double t2 = (mlg_monotonic_ns() / 1e6);
  if (mlg_session_run(s->session) != MLG_OK) return runtime_error();
  double t3 = (mlg_monotonic_ns() / 1e6);

  if (n_out > 0 && !a->no_outputs && mlg_make_dirs(a->output_dir) != 0)
    return error("cannot create output folder '%s': %s", a->output_dir, strerror(errno));
  for (int i = 0; i < n_out; i++) {
    if (mlg_model_output_info(s->model, i, &info) != MLG_OK) return runtime_error();
    if (mlg_session_get_output(s->session, info.name, s->buffer, info.bytes) != MLG_OK) return runtime_error();
    char fname[256], path[4400], err[1024];
    file_name(info.name, fname, sizeof fname);
    snprintf(path, sizeof path, "%s/%s.npy", a->output_dir, fname);
    mlg_tf_tensor t = {0};
    t.dtype = (mlg_tf_dtype)info.dtype; /* numbered alike (dtype.h) */
    t.rank = info.rank;
    for (int d = 0; d < info.rank; d++) t.dims[d] = info.dims[d];
    t.size = info.bytes;
    t.data = s->buffer;
    if (!a->no_outputs && mlg_npy_write_file(path, &t, err, sizeof err) != 0)
      return error("writing output '%s': %s", info.name, err);
    summarize(&info, s->buffer);
  }
  char name[256];
  if (!a->quiet)
    fprintf(stderr, "mlgrun: model '%s' on %s (%s): load %.1f ms, run %.1f ms\n",
            safe(mlg_model_name(s->model), name, sizeof name), dev->spec, dev->name, t1 - t0, t3 - t2);
  if (a->profile || a->bench || a->limits) return measure(a, s);
  return 0;
}

int main(int argc, char **argv) {
  /* PoCL's serial CPU device beside its threaded one (run_model picks it for small models);
   * an explicit POCL_DEVICES wins. */
  setenv("POCL_DEVICES", "pthread basic", 0);
  args a;
  int rc = parse_args(argc, argv, &a);
  if (rc < 0) return 0;
  if (rc != 0) return rc;
  if (a.list_devices) return list_devices(stdout);
  if (a.limits && !a.model) return limits_only(&a);
  if ((a.tune || a.show_tuning) && !a.model) return tuning_only(&a);

  run_state s = {0};
  rc = run_model(&a, &s);
  mlg_session_destroy(s.session);
  mlg_model_destroy(s.model);
  mlg_runtime_destroy(s.rt);
  free(s.buffer);
  if (s.bundle) mlgb_free(s.bundle);
  return rc;
}

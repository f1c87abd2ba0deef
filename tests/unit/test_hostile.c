/* test_hostile.c — hostile and broken input past the format readers (issue 15): bundles whose
 * checksum is right but whose code would crash a driver, cache entries that are damaged,
 * foreign, not files at all or left by a crash, paths that are no regular file, plans larger
 * than the memory the process may use, names made of terminal escapes, weights beyond 32-bit
 * indexing or the compiler's budget.
 *
 * What could crash runs in a child process (fork), so that a crash fails the case instead of
 * killing the suite: `in_child` reports a child that died of a signal, and one that exited with
 * anything but 0 (an expectation it printed, or a sanitizer report). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bundle.h"
#include "compile.h"
#include "file_util.h"
#include "internal.h"
#include "mlg.h"
#include "onnx/onnx_import.h"
#include "tensor_file.h"
#include "temp_files.c"

#define HOSTILE_DIR MLG_SOURCE_DIR "/tests/data/hostile"

/* ---- helpers ---- */

/* Runs fn(arg) in a child; returns its exit status, failing the case when it died of a signal.
 * The child ends with _exit: LeakSanitizer's tracer has itself crashed at the exit of forked
 * children under load (tests/CMakeLists.txt); leaks of these paths are test_alloc_fail's job. */
static int in_child(int (*fn)(void *), void *arg) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int rc = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(!WIFSIGNALED(status), "the child died of signal %d (%s)", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "");
  return WEXITSTATUS(status);
}

/* In a child: prints what went wrong and returns the child's failure status. */
#define EXPECT(cond, ...)                                                  \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: expected %s: ", __FILE__, __LINE__, #cond);  \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      return 2;                                                            \
    }                                                                      \
  } while (0)

static uint8_t *slurp(const char *path, size_t *out_size) {
  uint8_t *data;
  char err[512];
  ck_assert_msg(mlg_read_file(path, &data, out_size, err, sizeof err) == 0, "%s", err);
  return data;
}

/* The .mlg text compiled for `target` (no weights file: initializers). Caller frees. */
static uint8_t *compile_text(const char *text, int target, size_t *out_size) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "hostile.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = {.target = target, .opt_level = 2};
  uint8_t *data = NULL;
  ck_assert_msg(mlg_compile(&src, &o, &diag, &data, out_size) == 0, "compile failed");
  mlg_source_free(&src);
  return data;
}

static const char *TINY = "model tiny {\n  input x : f32[4]\n  output y = relu(x) * 2\n}\n";

/* One kernel of four buffer parameters (the shape of the fixtures' kernels: a, b, bias, c), over
 * four f32[8] tensors, with `module` as its code. With offset >= 0, the module is written with
 * 'x' at `offset` (the writer refuses what the reader refuses), then `byte` is put there and
 * the file sealed: a bundle that passes the checksum and holds what a hostile file would. */
static uint8_t *one_kernel_bundle(uint32_t target, const uint8_t *module, size_t module_size, const char *kernel,
                                  uint32_t local, long offset, uint8_t byte, size_t *out_size) {
  static char names[4][2] = {"a", "b", "c", "d"};
  uint32_t roles[4] = {MLGB_ROLE_INPUT, MLGB_ROLE_INPUT, MLGB_ROLE_INPUT, MLGB_ROLE_OUTPUT};
  mlgb_tensor tensors[4];
  memset(tensors, 0, sizeof tensors);
  for (int i = 0; i < 4; i++)
    tensors[i] = (mlgb_tensor){.name = names[i], .dtype = MLGB_F32, .role = roles[i], .region = MLGB_REGION_IO,
                               .rank = 1, .dims = {8}, .offset = 256u * (uint32_t)i, .size = 32};
  uint8_t *code = malloc(module_size);
  ck_assert_ptr_nonnull(code);
  memcpy(code, module, module_size);
  if (offset >= 0) code[offset] = 'x';
  mlgb_module mod = {target == MLGB_TARGET_OPENCL ? MLGB_MODULE_OPENCL_C : MLGB_MODULE_SPIRV, module_size, code};
  uint32_t args[4] = {0, 1, 2, 3};
  mlgb_kernel k = {(char *)kernel, 0, {local, 1, 1}, 4, 0, 0};
  mlgb_dispatch d = {.name = (char *)"d", .kernel = 0, .groups = {1, 1, 1}, .n_args = 4, .args = args,
                     .programs = MLGB_PROGRAM_RUN};
  mlgb_bundle b = {.target = target, .model_name = (char *)"hostile", .producer = (char *)"test_hostile",
                   .alignment = 256, .region_size = {0, 1024, 0}, .n_tensors = 4, .tensors = tensors,
                   .n_modules = 1, .modules = &mod, .n_kernels = 1, .kernels = &k, .n_dispatches = 1,
                   .dispatches = &d, .has_params = 1};
  uint8_t *data = NULL;
  char err[512];
  ck_assert_msg(mlgb_write(&b, &data, out_size, err, sizeof err) == 0, "mlgb_write: %s", err);
  if (offset >= 0) {
    /* The module's bytes, found in the file by their text around the placeholder. */
    uint8_t *at = NULL;
    for (size_t i = 0; i + module_size <= *out_size && !at; i++)
      if (memcmp(data + i, code, module_size) == 0) at = data + i;
    ck_assert_ptr_nonnull(at);
    at[offset] = byte;
    mlgb_seal(data, *out_size);
  }
  free(code);
  return data;
}

static mlg_runtime *runtime_on(const char *device, const char *cache_dir) {
  mlg_runtime_options o = {.device = device, .cache_dir = cache_dir};
  mlg_runtime *rt = NULL;
  mlg_status st = mlg_runtime_create(&o, &rt);
  ck_assert_msg(st == MLG_OK, "runtime %s: %s", device, mlg_last_error());
  return rt;
}

/* ---- code that crashed a driver ---- */

/* PoCL's clang died of SIGSEGV on this kernel with one '_' replaced by 0x1f (the fixture holds
 * the byte); the checksum was right, so the file reached the driver. */
static int child_control_byte(void *unused) {
  (void)unused;
  size_t n, size;
  uint8_t *src = slurp(HOSTILE_DIR "/pocl_crash.cl", &n);
  const uint8_t *ctl = memchr(src, 0x1f, n);
  EXPECT(ctl != NULL, "the fixture lost its control byte");
  uint8_t *bundle = one_kernel_bundle(MLGB_TARGET_OPENCL, src, n, "k_linear_relu", 64, ctl - src, 0x1f, &size);
  mlg_runtime *rt = runtime_on("opencl:0", "");
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &m);
  EXPECT(st == MLG_ERR_FORMAT, "got %s: %s", mlg_status_string(st), mlg_last_error());
  EXPECT(strstr(mlg_last_error(), "(OpenCL C) has byte 0x1f at offset 3219 (line 70)") != NULL, "%s",
         mlg_last_error());
  mlg_runtime_destroy(rt);
  free(bundle);
  free(src);
  return 0;
}

START_TEST(test_control_byte_source) { ck_assert_int_eq(in_child(child_control_byte, NULL), 0); }
END_TEST

/* lavapipe died of SIGSEGV in vkCreateComputePipelines on this module (a compiled kernel with
 * one id redefined; spirv-val: "Id 3 is defined more than once"), also under the validation
 * layer. `arg` non-NULL: with MLG_VK_VALIDATION=1, as mlgrun --validate. */
static int child_invalid_spirv(void *validate) {
  if (validate) setenv("MLG_VK_VALIDATION", "1", 1);
  size_t n, size;
  uint8_t *spv = slurp(HOSTILE_DIR "/lavapipe_crash.spv", &n);
  uint8_t *bundle = one_kernel_bundle(MLGB_TARGET_VULKAN, spv, n, "k_linear", 8, -1, 0, &size);
  mlg_runtime *rt = runtime_on("vulkan:0", "");
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &m);
  EXPECT(st == MLG_ERR_FORMAT, "got %s: %s", mlg_status_string(st), mlg_last_error());
  EXPECT(strstr(mlg_last_error(), "module 0 is not valid SPIR-V for Vulkan 1.1 (SPIRV-Tools: Id 3 is defined more "
                                  "than once") != NULL, "%s", mlg_last_error());
  mlg_runtime_destroy(rt);
  free(bundle);
  free(spv);
  return 0;
}

START_TEST(test_invalid_spirv) {
  ck_assert_int_eq(in_child(child_invalid_spirv, NULL), 0);
  ck_assert_int_eq(in_child(child_invalid_spirv, (void *)1), 0);
}
END_TEST

/* Without a validator a Vulkan bundle is refused, saying how to get one or to opt out; with
 * MLG_SPIRV_VALIDATION=0 it is trusted and runs. */
static int child_no_validator(void *opt_out) {
  setenv("MLG_SPIRV_TOOLS_LIBRARY", "/nonexistent/libSPIRV-Tools-shared.so", 1);
  if (opt_out) setenv("MLG_SPIRV_VALIDATION", "0", 1);
  size_t size;
  uint8_t *bundle = compile_text(TINY, MLGB_TARGET_VULKAN, &size);
  mlg_runtime *rt = runtime_on("vulkan:0", "");
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &m);
  if (opt_out) {
    EXPECT(st == MLG_OK, "%s", mlg_last_error());
  } else {
    EXPECT(st == MLG_ERR_UNSUPPORTED, "got %s: %s", mlg_status_string(st), mlg_last_error());
    EXPECT(strstr(mlg_last_error(), "SPIRV-Tools could not be loaded (/nonexistent/libSPIRV-Tools-shared.so: ") &&
               strstr(mlg_last_error(), "set MLG_SPIRV_VALIDATION=0"), "%s", mlg_last_error());
  }
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(bundle);
  return 0;
}

START_TEST(test_no_validator) {
  ck_assert_int_eq(in_child(child_no_validator, NULL), 0);
  ck_assert_int_eq(in_child(child_no_validator, (void *)1), 0);
}
END_TEST

/* ---- caches that heal ---- */

typedef struct cache_run {
  const char *cache;         /* mlg's cache folder */
  const char *pocl_cache;    /* PoCL's own kernel cache (cold in a fresh folder) */
  const char *device;
  int want_hit;              /* -1: either */
} cache_run;

/* Loads TINY through the cache, runs it and checks y = 2 relu(x). */
static int child_cached_run(void *arg) {
  const cache_run *c = arg;
  if (c->pocl_cache) setenv("POCL_CACHE_DIR", c->pocl_cache, 1);
  int vk = strncmp(c->device, "vulkan", 6) == 0;
  size_t size;
  uint8_t *bundle = compile_text(TINY, vk ? MLGB_TARGET_VULKAN : MLGB_TARGET_OPENCL, &size);
  mlg_runtime *rt = runtime_on(c->device, c->cache);
  mlg_model *m = NULL;
  mlg_session *s = NULL;
  EXPECT(mlg_model_load_memory(rt, bundle, size, NULL, &m) == MLG_OK, "load: %s", mlg_last_error());
  int hits = 0, misses = 0, writes = 0;
  mlg_model_cache_stats(m, &hits, &misses, &writes);
  EXPECT(c->want_hit < 0 || hits == c->want_hit, "%d hits, %d misses, %d writes", hits, misses, writes);
  EXPECT(mlg_session_create(m, &s) == MLG_OK, "%s", mlg_last_error());
  float x[4] = {-1, 2, -3, 4}, y[4];
  EXPECT(mlg_session_set_input(s, "x", x, sizeof x) == MLG_OK, "%s", mlg_last_error());
  EXPECT(mlg_session_run(s) == MLG_OK, "%s", mlg_last_error());
  EXPECT(mlg_session_get_output(s, "y", y, sizeof y) == MLG_OK, "%s", mlg_last_error());
  for (int i = 0; i < 4; i++) EXPECT(y[i] == (x[i] > 0 ? 2 * x[i] : 0), "y[%d] = %g", i, y[i]);
  mlg_session_destroy(s);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(bundle);
  return 0;
}

/* The one entry named PREFIX* in dir, into buf; fails unless there is exactly one. */
static void the_entry(const char *dir, const char *prefix, char *buf, size_t size) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
      n++;
      snprintf(buf, size, "%s/%s", dir, e->d_name);
    }
  closedir(d);
  ck_assert_msg(n == 1, "%d entries named %s* in %s", n, prefix, dir);
}

/* Rewrites an OpenCL cache entry's binary hash (opencl_cache.c: FNV-1a 64 at byte 32 of the
 * binary after the 40-byte header), as a damaged binary with a valid mlg checksum has. */
static void reseal_cl_entry(uint8_t *e, size_t n) {
  uint64_t h = mlg_fnv1a(MLG_FNV_SEED, e + 40, n - 40);
  memcpy(e + 32, &h, 8);
}

/* A PoCL binary damaged behind a valid checksum aborted PoCL (an assertion) on every later run:
 * the driver unpacks the binary into its own kernel cache, so even a build from source met the
 * damage. The first run after the damage may still die (the driver aborts before mlg can do
 * anything); the next one finds the entry's in-use mark left behind, drops the entry, builds a
 * source the driver's cache does not know, and stores a good entry; the one after hits it. */
START_TEST(test_damaged_binary_heals) {
  char dir[4096], cache[4200], pocl[4200], pocl2[4200], entry[4400];
  temp_dir(dir, sizeof dir);
  snprintf(cache, sizeof cache, "%s/mlg", dir);
  snprintf(pocl, sizeof pocl, "%s/pocl", dir);
  snprintf(pocl2, sizeof pocl2, "%s/pocl2", dir);
  cache_run good = {cache, pocl, "opencl:0", 0};
  ck_assert_int_eq(in_child(child_cached_run, &good), 0);
  the_entry(cache, "opencl-", entry, sizeof entry);
  size_t n;
  uint8_t *e = slurp(entry, &n);
  /* The magic number of the program's LLVM bitcode ("BC\xc0\xde"), inside PoCL's binary. */
  uint8_t *bc = NULL;
  for (size_t i = 40; i + 4 <= n && !bc; i++)
    if (memcmp(e + i, "BC\xc0\xde", 4) == 0) bc = e + i;
  ck_assert_ptr_nonnull(bc);
  bc[1] ^= 0xff;
  reseal_cl_entry(e, n);
  write_file(entry, e, n);
  free(e);
  /* A cold driver cache, as on the machine the issue saw it on. */
  cache_run damaged = {cache, pocl2, "opencl:0", -1};
  fflush(stderr);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) _exit(child_cached_run(&damaged));
  int status;
  waitpid(pid, &status, 0);
  (void)status; /* it may die: the driver aborts before mlg can do anything */
  cache_run heal = {cache, pocl2, "opencl:0", 0};
  ck_assert_int_eq(in_child(child_cached_run, &heal), 0);
  cache_run hit = {cache, pocl2, "opencl:0", 1};
  ck_assert_int_eq(in_child(child_cached_run, &hit), 0);
  struct stat st;
  snprintf(entry + strlen(entry), sizeof entry - strlen(entry), ".inuse");
  ck_assert_msg(stat(entry, &st) != 0, "the in-use mark was left behind");
  remove_tree(dir);
}
END_TEST

/* A binary the driver takes but whose kernels it cannot create (another kernel's program under
 * this kernel's key, valid checksum and all) failed the load before; it is rebuilt from source. */
START_TEST(test_foreign_binary_rebuilt) {
  char dir[4096], a[4400], b[4400];
  temp_dir(dir, sizeof dir);
  static const char *OTHER = "model other {\n  input x : f32[4]\n  output y = exp(x)\n}\n";
  mlg_runtime *rt = runtime_on("opencl:0", dir);
  size_t n1, n2;
  uint8_t *b1 = compile_text(TINY, MLGB_TARGET_OPENCL, &n1), *b2 = compile_text(OTHER, MLGB_TARGET_OPENCL, &n2);
  mlg_model *m = NULL;
  ck_assert_int_eq(mlg_model_load_memory(rt, b1, n1, NULL, &m), MLG_OK);
  mlg_model_destroy(m);
  the_entry(dir, "opencl-", a, sizeof a);
  char moved[4500];
  snprintf(moved, sizeof moved, "%s/tiny-entry", dir);
  ck_assert_int_eq(rename(a, moved), 0);
  ck_assert_int_eq(mlg_model_load_memory(rt, b2, n2, NULL, &m), MLG_OK);
  mlg_model_destroy(m);
  the_entry(dir, "opencl-", b, sizeof b);
  /* tiny's binary, under other's key (its header's check hash kept). */
  size_t na, nb;
  uint8_t *ea = slurp(moved, &na), *eb = slurp(b, &nb);
  uint8_t *forged = malloc(na);
  ck_assert_ptr_nonnull(forged);
  memcpy(forged, ea, na);
  memcpy(forged + 16, eb + 16, 8);
  reseal_cl_entry(forged, na);
  write_file(b, forged, na);
  unlink(moved);
  ck_assert_int_eq(mlg_model_load_memory(rt, b2, n2, NULL, &m), MLG_OK);
  int hits, misses, writes;
  mlg_model_cache_stats(m, &hits, &misses, &writes);
  ck_assert_int_eq(hits, 0);
  ck_assert_int_eq(misses, 1);
  ck_assert_int_eq(writes, 1);
  mlg_model_destroy(m);
  ck_assert_int_eq(mlg_model_load_memory(rt, b2, n2, NULL, &m), MLG_OK);
  mlg_model_cache_stats(m, &hits, &misses, &writes);
  ck_assert_int_eq(hits, 1);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(ea);
  free(eb);
  free(forged);
  free(b1);
  free(b2);
  remove_tree(dir);
}
END_TEST

/* A FIFO in place of an entry hung the load (fopen waits for a writer); now it is a miss with a
 * warning, and the rebuilt entry replaces it. Both backends. */
static void fifo_entry(const char *device) {
  char dir[4096], entry[4400];
  temp_dir(dir, sizeof dir);
  cache_run first = {dir, NULL, device, 0};
  ck_assert_int_eq(in_child(child_cached_run, &first), 0);
  the_entry(dir, strncmp(device, "vulkan", 6) == 0 ? "vulkan-" : "opencl-", entry, sizeof entry);
  ck_assert_int_eq(unlink(entry), 0);
  ck_assert_int_eq(mkfifo(entry, 0600), 0);
  alarm(60); /* a hang fails the case instead of the suite's timeout */
  cache_run again = {dir, NULL, device, 0};
  ck_assert_int_eq(in_child(child_cached_run, &again), 0);
  alarm(0);
  struct stat st;
  ck_assert_int_eq(lstat(entry, &st), 0);
  ck_assert_msg(S_ISREG(st.st_mode), "the FIFO was not replaced by an entry");
  cache_run hit = {dir, NULL, device, 1};
  ck_assert_int_eq(in_child(child_cached_run, &hit), 0);
  remove_tree(dir);
}

START_TEST(test_fifo_entry) {
  fifo_entry("opencl:0");
  fifo_entry("vulkan:0");
}
END_TEST

/* With MLG_CACHE_MAX_BYTES, the least recently used entries go first. */
START_TEST(test_cache_limit) {
  char dir[4096];
  temp_dir(dir, sizeof dir);
  /* Three kernels that differ in a constant only: entries of one size. */
  static const char *MODELS[3] = {
      "model m1 {\n  input x : f32[4]\n  output y = x * 2.0\n}\n",
      "model m2 {\n  input x : f32[4]\n  output y = x * 3.0\n}\n",
      "model m3 {\n  input x : f32[4]\n  output y = x * 5.0\n}\n",
  };
  mlg_runtime *rt = runtime_on("vulkan:0", dir);
  size_t sizes[3], entry_size = 0;
  uint8_t *bundles[3];
  for (int i = 0; i < 3; i++) bundles[i] = compile_text(MODELS[i], MLGB_TARGET_VULKAN, &sizes[i]);
  /* m1, m2, m1 again (a hit: used last), then m3 under a limit of two and a half entries. */
  mlg_model *m = NULL;
  ck_assert_int_eq(mlg_model_load_memory(rt, bundles[0], sizes[0], NULL, &m), MLG_OK);
  mlg_model_destroy(m);
  char e1[4400];
  the_entry(dir, "vulkan-", e1, sizeof e1);
  struct stat st;
  ck_assert_int_eq(stat(e1, &st), 0);
  entry_size = (size_t)st.st_size;
  sleep(1); /* modification times a second apart: the order is then certain */
  ck_assert_int_eq(mlg_model_load_memory(rt, bundles[1], sizes[1], NULL, &m), MLG_OK);
  mlg_model_destroy(m);
  sleep(1);
  ck_assert_int_eq(mlg_model_load_memory(rt, bundles[0], sizes[0], NULL, &m), MLG_OK); /* a hit: m1 is fresh */
  mlg_model_destroy(m);
  char limit[32];
  snprintf(limit, sizeof limit, "%zu", entry_size * 5 / 2);
  setenv("MLG_CACHE_MAX_BYTES", limit, 1);
  sleep(1);
  ck_assert_int_eq(mlg_model_load_memory(rt, bundles[2], sizes[2], NULL, &m), MLG_OK);
  mlg_model_destroy(m);
  unsetenv("MLG_CACHE_MAX_BYTES");
  /* m2's entry went, the least recently used; m1's (used after m2's) and m3's stay. */
  int n = 0;
  DIR *d = opendir(dir);
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += strncmp(e->d_name, "vulkan-", 7) == 0;
  closedir(d);
  ck_assert_int_eq(n, 2);
  ck_assert_msg(stat(e1, &st) == 0, "the entry used last but one went");
  ck_assert_int_eq(mlg_model_load_memory(rt, bundles[1], sizes[1], NULL, &m), MLG_OK);
  int hits, misses, writes;
  mlg_model_cache_stats(m, &hits, &misses, &writes);
  ck_assert_int_eq(misses, 1);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  for (int i = 0; i < 3; i++) free(bundles[i]);
  remove_tree(dir);
}
END_TEST

/* ---- paths that are no regular file ---- */

START_TEST(test_bundle_not_a_file) {
  char dir[4096], fifo[4200];
  temp_dir(dir, sizeof dir);
  snprintf(fifo, sizeof fifo, "%s/model.mlgb", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  mlg_runtime *rt = runtime_on("opencl:0", "");
  mlg_model *m = NULL;
  alarm(30);
  ck_assert_int_eq(mlg_model_load_file(rt, "/dev/zero", NULL, &m), MLG_ERR_IO);
  ck_assert_msg(strstr(mlg_last_error(), "/dev/zero: is a character device, not a regular file"), "%s",
                mlg_last_error());
  ck_assert_int_eq(mlg_model_load_file(rt, fifo, NULL, &m), MLG_ERR_IO);
  ck_assert_msg(strstr(mlg_last_error(), "is a FIFO, not a regular file"), "%s", mlg_last_error());
  /* Weights from /dev/zero or a FIFO: the same, as I/O errors. */
  size_t size;
  uint8_t *bundle = compile_text(TINY, MLGB_TARGET_OPENCL, &size);
  mlg_load_options lo = {.weights_path = "/dev/zero"};
  ck_assert_int_eq(mlg_model_load_memory(rt, bundle, size, &lo, &m), MLG_ERR_IO);
  ck_assert_msg(strstr(mlg_last_error(), "is a character device"), "%s", mlg_last_error());
  lo.weights_path = fifo;
  ck_assert_int_eq(mlg_model_load_memory(rt, bundle, size, &lo, &m), MLG_ERR_IO);
  ck_assert_msg(strstr(mlg_last_error(), "is a FIFO"), "%s", mlg_last_error());
  alarm(0);
  free(bundle);
  mlg_runtime_destroy(rt);
  remove_tree(dir);
}
END_TEST

/* The compiler's readers opened any path with fopen: a FIFO named model.mlg or model.onnx hung
 * mlgc, and /dev/zero was read up to 64 MiB (mlg text) or 1 GiB (ONNX) before it was refused.
 * Now both take regular files only, as every reader does, within their limit and the host
 * memory, and say what the path is. */
static int onnx_diag(const char *path, uint64_t budget, char **out_text);

START_TEST(test_compiler_inputs_not_files) {
  char dir[4096], fifo[4200], why[1400];
  temp_dir(dir, sizeof dir);
  snprintf(fifo, sizeof fifo, "%s/model.mlg", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  alarm(30);
  mlg_source src;
  ck_assert_int_ne(mlg_pipeline_source_load(&src, fifo, why, sizeof why), 0);
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_msg(strstr(why, "model.mlg': is a FIFO, not a regular file; give the path of a file"), "%s", why);
  ck_assert_int_ne(mlg_pipeline_source_load(&src, "/dev/zero", why, sizeof why), 0);
  ck_assert_str_eq(why, "cannot read '/dev/zero': is a character device, not a regular file; give the path of a file");
  ck_assert_int_ne(mlg_pipeline_source_load(&src, dir, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "': is a folder, not a regular file"), "%s", why);
  snprintf(fifo, sizeof fifo, "%s/model.onnx", dir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  char *text = NULL;
  ck_assert_int_ne(onnx_diag(fifo, 0, &text), 0);
  ck_assert_msg(strstr(text, "model.onnx: is a FIFO, not a regular file; give the path of a file"), "%s", text);
  free(text);
  ck_assert_int_eq(mlg_source_from_memory(&src, "zero", "", 0), 0);
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, out);
  mlg_graph *g = NULL;
  ck_assert_int_ne(mlg_onnx_import_file("/dev/zero", NULL, &diag, &g), 0);
  fclose(out);
  ck_assert_msg(strstr(text, "/dev/zero: is a character device, not a regular file"), "%s", text);
  ck_assert_ptr_null(g);
  alarm(0);
  free(text);
  mlg_source_free(&src);
  remove_tree(dir);
}
END_TEST

/* ---- memory ---- */

/* x (io) → t (arena, `arena_bytes`) → y (io), one kernel each way: a plan whose arena alone is
 * large. */
static uint8_t *big_arena_bundle(uint64_t arena_bytes, size_t *out_size) {
  static const char *SRC =
      "__kernel void fill(__global const float *x, const uint x_off, __global float *t, const uint t_off) {\n"
      "  t[t_off + get_global_id(0)] = x[x_off + get_global_id(0)];\n}\n"
      "__kernel void back(__global const float *t, const uint t_off, __global float *y, const uint y_off) {\n"
      "  y[y_off + get_global_id(0)] = t[t_off + get_global_id(0)];\n}\n";
  static char nx[] = "x", nt[] = "t", ny[] = "y";
  mlgb_tensor tensors[3] = {
      {.name = nx, .dtype = MLGB_F32, .role = MLGB_ROLE_INPUT, .region = MLGB_REGION_IO, .rank = 1, .dims = {4},
       .offset = 0, .size = 16},
      {.name = nt, .dtype = MLGB_F32, .role = MLGB_ROLE_INTERMEDIATE, .region = MLGB_REGION_ARENA, .rank = 1,
       .dims = {(int64_t)(arena_bytes / 4)}, .offset = 0, .size = arena_bytes / 4 * 4},
      {.name = ny, .dtype = MLGB_F32, .role = MLGB_ROLE_OUTPUT, .region = MLGB_REGION_IO, .rank = 1, .dims = {4},
       .offset = 256, .size = 16},
  };
  mlgb_module mod = {MLGB_MODULE_OPENCL_C, strlen(SRC), (uint8_t *)SRC};
  uint32_t args0[2] = {0, 1}, args1[2] = {1, 2};
  mlgb_kernel kernels[2] = {{(char *)"fill", 0, {4, 1, 1}, 2, 0, 0}, {(char *)"back", 0, {4, 1, 1}, 2, 0, 0}};
  mlgb_dispatch d[2] = {{.name = (char *)"t", .kernel = 0, .groups = {1, 1, 1}, .n_args = 2, .args = args0,
                         .programs = MLGB_PROGRAM_RUN},
                        {.name = (char *)"y", .kernel = 1, .groups = {1, 1, 1}, .n_args = 2, .args = args1,
                         .programs = MLGB_PROGRAM_RUN}};
  mlgb_bundle b = {.target = MLGB_TARGET_OPENCL, .model_name = (char *)"big_arena", .producer = (char *)"test_hostile",
                   .alignment = 256, .region_size = {0, 512, arena_bytes}, .n_tensors = 3, .tensors = tensors,
                   .n_modules = 1, .modules = &mod, .n_kernels = 2, .kernels = kernels, .n_dispatches = 2,
                   .dispatches = d, .has_params = 1};
  uint8_t *data = NULL;
  char err[512];
  ck_assert_msg(mlgb_write(&b, &data, out_size, err, sizeof err) == 0, "mlgb_write: %s", err);
  return data;
}

/* The address space this process maps now (VmSize), in bytes. */
static uint64_t mapped_now(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %llu kB", &kb) == 1) break;
  if (f) fclose(f);
  return (uint64_t)kb * 1024;
}

/* A 3.6 GB arena under a 3 GB memory limit (RLIMIT_AS over what is mapped already) aborted inside
 * PoCL; now the load is refused with the figures. */
static int child_arena_over_limit(void *unused) {
  (void)unused;
  size_t size;
  uint8_t *bundle = big_arena_bundle((uint64_t)3600 << 20, &size);
  mlg_runtime *rt = runtime_on("opencl:0", "");
  struct rlimit rl = {mapped_now() + ((rlim_t)3 << 30), RLIM_INFINITY};
  EXPECT(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &m);
  if (st == MLG_OK) {
    mlg_session *s = NULL;
    st = mlg_session_create(m, &s);
    mlg_session_destroy(s);
  }
  EXPECT(st == MLG_ERR_OUT_OF_MEMORY, "got %s: %s", mlg_status_string(st), mlg_last_error());
  EXPECT(strstr(mlg_last_error(), "model 'big_arena' needs 3.52 GiB of host memory") &&
             strstr(mlg_last_error(), "arena 3.52 GiB") && strstr(mlg_last_error(), "RLIMIT_AS"),
         "%s", mlg_last_error());
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(bundle);
  return 0;
}

START_TEST(test_arena_over_limit) { ck_assert_int_eq(in_child(child_arena_over_limit, NULL), 0); }
END_TEST

/* A region larger than the device's largest buffer; then, under MLG_MEMORY_LIMIT, a second
 * session that no longer fits while the first did. (In a child: LeakSanitizer's tracer crashed at
 * the exit of this process, on a bogus dynamic-TLS range, after PoCL's builds.) */
static int child_plan_against_device(void *unused) {
  (void)unused;
  mlg_runtime *rt = runtime_on("opencl:0", "");
  const mlg_device_info *dev = mlg_runtime_device(rt);
  size_t size;
  uint8_t *bundle = big_arena_bundle(dev->global_mem_bytes + 4096, &size);
  mlg_model *m = NULL;
  mlg_status st = mlg_model_load_memory(rt, bundle, size, NULL, &m);
  EXPECT(st == MLG_ERR_OUT_OF_MEMORY, "got %s", mlg_status_string(st));
  EXPECT(strstr(mlg_last_error(), "the arena region needs") && strstr(mlg_last_error(), "allocates at most"), "%s",
         mlg_last_error());
  free(bundle);
  uint8_t *small = big_arena_bundle(64 << 20, &size);
  EXPECT(mlg_model_load_memory(rt, small, size, NULL, &m) == MLG_OK, "%s", mlg_last_error());
  mlg_session *a = NULL, *b = NULL;
  EXPECT(mlg_session_create(m, &a) == MLG_OK, "%s", mlg_last_error());
  /* What the process holds now, plus room for less than one more arena. */
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) break;
  if (f) fclose(f);
  char limit[64];
  snprintf(limit, sizeof limit, "%lluK", kb + 32 * 1024);
  setenv("MLG_MEMORY_LIMIT", limit, 1);
  st = mlg_session_create(m, &b);
  EXPECT(st == MLG_ERR_OUT_OF_MEMORY, "got %s", mlg_status_string(st));
  EXPECT(strstr(mlg_last_error(), "mlg_session_create: model 'big_arena' needs") &&
             strstr(mlg_last_error(), "MLG_MEMORY_LIMIT"), "%s", mlg_last_error());
  unsetenv("MLG_MEMORY_LIMIT");
  EXPECT(mlg_session_create(m, &b) == MLG_OK, "%s", mlg_last_error());
  mlg_session_destroy(a);
  mlg_session_destroy(b);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  free(small);
  return 0;
}

START_TEST(test_plan_against_device) { ck_assert_int_eq(in_child(child_plan_against_device, NULL), 0); }
END_TEST

/* ---- names that would drive a terminal ---- */

#define ESC_MODEL "\x1b[2J\x1b[31mevil"
#define ESC_INPUT "x\x1b]0;owned\x07"
#define ESC_OUTPUT "y\x1b[0m\r"

/* y = x, with a model and tensor names made of escape sequences (clear screen, colours, a window
 * title, a carriage return). */
static uint8_t *named_bundle(size_t *out_size) {
  static const char *SRC = "__kernel void copy(__global const float *x, const uint x_off, __global float *y, "
                           "const uint y_off) {\n  y[y_off + get_global_id(0)] = x[x_off + get_global_id(0)];\n}\n";
  static char nx[] = ESC_INPUT, ny[] = ESC_OUTPUT;
  mlgb_tensor tensors[2] = {
      {.name = nx, .dtype = MLGB_F32, .role = MLGB_ROLE_INPUT, .region = MLGB_REGION_IO, .rank = 1, .dims = {4},
       .offset = 0, .size = 16},
      {.name = ny, .dtype = MLGB_F32, .role = MLGB_ROLE_OUTPUT, .region = MLGB_REGION_IO, .rank = 1, .dims = {4},
       .offset = 256, .size = 16},
  };
  mlgb_module mod = {MLGB_MODULE_OPENCL_C, strlen(SRC), (uint8_t *)SRC};
  uint32_t args[2] = {0, 1};
  mlgb_kernel k = {(char *)"copy", 0, {4, 1, 1}, 2, 0, 0};
  mlgb_dispatch d = {.name = (char *)ESC_OUTPUT, .kernel = 0, .groups = {1, 1, 1}, .n_args = 2, .args = args,
                     .programs = MLGB_PROGRAM_RUN};
  mlgb_bundle b = {.target = MLGB_TARGET_OPENCL, .model_name = (char *)ESC_MODEL, .producer = (char *)"test_hostile",
                   .alignment = 256, .region_size = {0, 512, 0}, .n_tensors = 2, .tensors = tensors, .n_modules = 1,
                   .modules = &mod, .n_kernels = 1, .kernels = &k, .n_dispatches = 1, .dispatches = &d,
                   .has_params = 1};
  uint8_t *data = NULL;
  char err[512];
  ck_assert_msg(mlgb_write(&b, &data, out_size, err, sizeof err) == 0, "mlgb_write: %s", err);
  return data;
}

/* Names from a bundle went to the terminal raw. Now the runtime's messages and everything mlgrun
 * prints show them escaped. */
START_TEST(test_names_sanitized) {
  size_t size;
  uint8_t *bundle = named_bundle(&size);
  mlg_runtime *rt = runtime_on("opencl:0", "");
  mlg_model *m = NULL;
  mlg_session *se = NULL;
  ck_assert_int_eq(mlg_model_load_memory(rt, bundle, size, NULL, &m), MLG_OK);
  ck_assert_int_eq(mlg_session_create(m, &se), MLG_OK);
  ck_assert_int_eq(mlg_session_set_input(se, "nope", NULL, 0), MLG_ERR_INVALID_ARGUMENT);
  ck_assert_msg(!strchr(mlg_last_error(), 0x1b) && !strchr(mlg_last_error(), '\r') && !strchr(mlg_last_error(), 0x07),
                "%s", mlg_last_error());
  ck_assert_msg(strstr(mlg_last_error(), "model '\\x1b[2J\\x1b[31mevil' has no input 'nope'; its inputs: "
                                         "'x\\x1b]0;owned\\x07'"), "%s", mlg_last_error());
  mlg_session_destroy(se);
  mlg_model_destroy(m);
  mlg_runtime_destroy(rt);
  /* mlgrun: the summary of the output, the load line, an error naming the input. */
  char dir[4096], path[4300], cmd[9000];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/evil.mlgb", dir);
  write_file(path, bundle, size);
  for (int variant = 0; variant < 2; variant++) {
    snprintf(cmd, sizeof cmd, "MLG_CACHE_DIR= %s/bin/mlgrun %s --device opencl:0 --output-dir %s %s 2>&1",
             MLG_BINARY_DIR, path, dir, variant ? "--input nope=/dev/null" : "");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    ck_assert_msg(n > 0 && !memchr(out, 0x1b, n) && !memchr(out, '\r', n) && !memchr(out, 0x07, n), "%s", out);
    ck_assert_msg(strstr(out, variant ? "no input 'nope'; its inputs: x\\x1b]0;owned\\x07"
                                      : "y\\x1b[0m\\x0d: f32[4]"), "%s", out);
  }
  remove_tree(dir);
  free(bundle);
}
END_TEST

/* The compiler's diagnostics name the tensors of a weights file: escaped too. */
START_TEST(test_compiler_names_sanitized) {
  char dir[4096], path[4200];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  float v[4] = {1, 2, 3, 4};
  mlg_tf_tensor t = {.name = (char *)"w\x1b[31m\x1b]0;owned\x07", .dtype = MLG_TF_F32, .rank = 1, .dims = {4},
                     .size = sizeof v, .data = v};
  char err[512];
  ck_assert_msg(mlg_safetensors_write_file(path, &t, 1, err, sizeof err) == 0, "%s", err);
  static const char *TEXT = "model m {\n  input x : f32[4]\n  param w : f32[4] = zeros\n  output y = x + w\n}\n";
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "m.mlg", TEXT, strlen(TEXT)), 0);
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, f);
  mlg_compile_options o = {.weights_path = path};
  uint8_t *data = NULL;
  size_t size = 0;
  mlg_compile(&src, &o, &diag, &data, &size);
  fclose(f);
  ck_assert_msg(strstr(out, "'w\\x1b[31m\\x1b]0;owned\\x07'") && !strchr(out, 0x1b) && !strchr(out, 0x07), "%s", out);
  free(out);
  free(data);
  mlg_source_free(&src);
  remove_tree(dir);
}
END_TEST

/* A Vulkan loader named by MLG_VULKAN_LIBRARY that would not open hid why no Vulkan device was
 * listed; now a warning and the no-device message say it. */
static int child_vulkan_loader(void *unused) {
  (void)unused;
  setenv("MLG_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1", 1);
  mlg_runtime_options o = {.device = "vulkan:0", .cache_dir = ""};
  mlg_runtime *rt = NULL;
  mlg_status st = mlg_runtime_create(&o, &rt);
  EXPECT(st == MLG_ERR_NO_DEVICE, "got %s", mlg_status_string(st));
  EXPECT(strstr(mlg_last_error(), "no device 'vulkan:0'; available: ") &&
             strstr(mlg_last_error(), "cannot load the Vulkan loader '/nonexistent/libvulkan.so.1' (/nonexistent/"
                                      "libvulkan.so.1: cannot open shared object file"), "%s", mlg_last_error());
  return 0;
}

START_TEST(test_vulkan_loader_reason) { ck_assert_int_eq(in_child(child_vulkan_loader, NULL), 0); }
END_TEST

/* ---- weights the compiler should not take on ---- */

/* Compiles `src` (then frees it) with `budget` (0: the default); returns mlg_compile's result,
 * the diagnostics in *out_text (caller frees). */
static int compile_source_diag(mlg_source *src, uint64_t budget, int no_weights, char **out_text) {
  size_t len = 0;
  FILE *out = open_memstream(out_text, &len);
  ck_assert_ptr_nonnull(out);
  mlg_diag diag;
  mlg_diag_init(&diag, src, out);
  mlg_compile_options o = {.opt_level = 2, .max_weight_bytes = budget, .no_weights = no_weights};
  uint8_t *data = NULL;
  size_t size = 0;
  int rc = mlg_compile(src, &o, &diag, &data, &size);
  fclose(out);
  free(data);
  mlg_source_free(src);
  return rc;
}

/* Compiles `text` with `budget` (0: the default); returns mlg_compile's result, the diagnostics
 * in *out_text (caller frees). */
static int compile_diag(const char *text, uint64_t budget, int no_weights, char **out_text) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "big.mlg", text, strlen(text)), 0);
  return compile_source_diag(&src, budget, no_weights, out_text);
}

/* A weight of more than 2^31 elements said only "linear: cannot build kernel k_linear"; now the
 * 32-bit indexing message names it, at its declaration, as for other tensors. */
START_TEST(test_weight_over_int32) {
  static const char *BIG = "model big {\n  input x : f32[1, 50000]\n  param w : f32[50000, 50000]\n"
                           "  output y = linear(x, w)\n}\n";
  char *text = NULL;
  ck_assert_int_ne(compile_diag(BIG, 0, 1, &text), 0);
  ck_assert_msg(strstr(text, "big.mlg:3:9: error: tensor 'w' (f32[50000, 50000]) has too many elements for 32-bit "
                             "kernel indexing (the limit is 2^31 - 1)"), "%s", text);
  ck_assert_msg(!strstr(text, "cannot build kernel"), "%s", text);
  free(text);
}
END_TEST

/* A 40000 x 40000 param with an initializer took 3.2 GB and over two minutes to compile; the
 * budget refuses it at once, naming the budget and the tensor. */
START_TEST(test_weight_budget) {
  static const char *BIG = "model big {\n  input x : f32[1, 40000]\n"
                           "  param w : f32[40000, 40000] = normal(0, 0.01, seed=1)\n"
                           "  param b : f32[40000] = zeros\n  output y = linear(x, w, b)\n}\n";
  char *text = NULL;
  ck_assert_int_ne(compile_diag(BIG, 0, 0, &text), 0);
  ck_assert_msg(strstr(text, "big.mlg:3:9: error: the weights of model 'big' take 5.96 GiB, more than the "
                             "compiler's budget of 4.00 GiB (the largest: param 'w' f32[40000, 40000], 5.96 GiB); "
                             "raise the budget with --max-weight-bytes=6G, or compile with --no-weights"), "%s",
                text);
  free(text);
  /* A smaller budget of the caller's; and --no-weights embeds no params, so none count. */
  static const char *SMALL = "model small {\n  input x : f32[1, 300]\n  param w : f32[300, 300] = ones\n"
                             "  output y = linear(x, w)\n}\n";
  ck_assert_int_ne(compile_diag(SMALL, 300 * 1024, 0, &text), 0);
  ck_assert_msg(strstr(text, "take 351.6 KiB, more than the compiler's budget of 300.0 KiB (the largest: param "
                             "'w' f32[300, 300], 351.6 KiB); raise the budget with --max-weight-bytes=1M"), "%s", text);
  free(text);
  ck_assert_int_eq(compile_diag(SMALL, 300 * 1024, 1, &text), 0);
  free(text);
  ck_assert_int_eq(compile_diag(SMALL, 400 * 1024, 0, &text), 0);
  free(text);
}
END_TEST

/* ONNX models that ask for huge values at import: a 251-byte file Expanding a constant to 2^31
 * int64 values (16 GiB), a 230-byte one with a 40000 x 40000 ConstantOfShape (5.96 GiB). The
 * importer folded them with no limit, filling the memory before the weight budget was ever
 * asked; now the values computed at import count against the same budget, and the node that
 * would pass it is named. Files written by tools/gen_fuzz_onnx_seeds.py. */
static int onnx_diag(const char *path, uint64_t budget, char **out_text) {
  mlg_source src;
  ck_assert_int_eq(mlg_pipeline_source_load(&src, path, NULL, 0), 0);
  return compile_source_diag(&src, budget, 0, out_text);
}

START_TEST(test_onnx_fold_budget) {
  char *text = NULL;
  ck_assert_int_ne(onnx_diag(HOSTILE_DIR "/expand_bomb.onnx", 0, &text), 0);
  ck_assert_msg(strstr(text, "node 'expand_big' (Expand, opset 17): folding it at import needs 16.0 GiB (2147483648 "
                             "values), which takes the values computed at import past the compiler's budget of "
                             "4.00 GiB; raise it with --max-weight-bytes"), "%s", text);
  free(text);
  ck_assert_int_ne(onnx_diag(HOSTILE_DIR "/constant_of_shape_bomb.onnx", 0, &text), 0);
  ck_assert_msg(strstr(text, "node 'constantofshape_c' (ConstantOfShape, opset 17): folding it at import needs "
                             "5.96 GiB (1600000000 values)"), "%s", text);
  free(text);
  /* The caller's budget counts too: the fuzz seed's 2 x 3 ConstantOfShape (24 bytes folded)
   * imports within 1 KiB, not within 16 bytes. */
  ck_assert_int_eq(onnx_diag(MLG_SOURCE_DIR "/tests/fuzz/corpus/onnx/constant_of_shape.onnx", 1024, &text), 0);
  free(text);
  ck_assert_int_ne(onnx_diag(MLG_SOURCE_DIR "/tests/fuzz/corpus/onnx/constant_of_shape.onnx", 16, &text), 0);
  ck_assert_msg(strstr(text, "node 'constantofshape_c' (ConstantOfShape, opset 13): folding it at import needs 24 "
                             "bytes (6 values), which takes the values computed at import past the compiler's budget "
                             "of 16 bytes"), "%s", text);
  free(text);
}
END_TEST

/* Quantization nodes with bad arguments (tools/gen_fuzz_onnx_seeds.py): each is named with
 * what is wrong, in one error, and nothing is compiled. */
START_TEST(test_onnx_quantization_arguments) {
  char *text = NULL;
  ck_assert_int_ne(onnx_diag(HOSTILE_DIR "/quantize_bad.onnx", 0, &text), 0);
  static const char *const want[] = {
      "8 things in it are not supported by mlg",
      "node 'zero_point_int16' (QuantizeLinear, opset 21): y_zero_point is int16; mlg quantizes to "
      "int8 and uint8 only",
      "node 'three_scales_four_channels' (DequantizeLinear, opset 21): x_scale (input 1) holds 3 "
      "values; it must hold 1 (per tensor) or 4 (one per channel)",
      "node 'conv_missing_inputs' (QLinearConv, opset 21): w (input 3) is missing; the first 8 "
      "inputs are required",
      "node 'matmul_zero_point_int8' (QLinearMatMul, opset 21): mlg op qlinear_matmul: the zero "
      "point (input 2) is i8 but input 0 is u8; they must agree",
      "node 'blocked' (QuantizeLinear, opset 21): block_size=2 (blocked quantization) is not "
      "supported",
      "node 'axis_7' (DequantizeLinear, opset 21): axis 7 is out of range for rank 4",
      "node 'matmul_b_1d' (QLinearMatMul, opset 21): b must be at least 2-D",
      "node 'scale_2d' (DequantizeLinear, opset 21): x_scale (input 1) must be a scalar or 1-D, "
      "not of rank 2",
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
    ck_assert_msg(strstr(text, want[k]), "missing \"%s\" in:\n%s", want[k], text);
  free(text);
}
END_TEST

static Suite *hostile_suite(void) {
  Suite *s = suite_create("hostile");
  TCase *drivers = tcase_create("drivers");
  tcase_add_test(drivers, test_control_byte_source);
  tcase_add_test(drivers, test_invalid_spirv);
  tcase_add_test(drivers, test_no_validator);
  suite_add_tcase(s, drivers);
  TCase *caches = tcase_create("caches");
  tcase_add_test(caches, test_damaged_binary_heals);
  tcase_add_test(caches, test_foreign_binary_rebuilt);
  tcase_add_test(caches, test_fifo_entry);
  tcase_add_test(caches, test_cache_limit);
  suite_add_tcase(s, caches);
  TCase *names = tcase_create("names");
  tcase_add_test(names, test_names_sanitized);
  tcase_add_test(names, test_compiler_names_sanitized);
  tcase_add_test(names, test_vulkan_loader_reason);
  suite_add_tcase(s, names);
  TCase *memory = tcase_create("memory");
  tcase_add_test(memory, test_arena_over_limit);
  tcase_add_test(memory, test_plan_against_device);
  suite_add_tcase(s, memory);
  TCase *weights = tcase_create("weights");
  tcase_add_test(weights, test_weight_over_int32);
  tcase_add_test(weights, test_weight_budget);
  tcase_add_test(weights, test_onnx_fold_budget);
  tcase_add_test(weights, test_onnx_quantization_arguments);
  suite_add_tcase(s, weights);
  TCase *files = tcase_create("files");
  tcase_add_test(files, test_bundle_not_a_file);
  tcase_add_test(files, test_compiler_inputs_not_files);
  suite_add_tcase(s, files);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(hostile_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

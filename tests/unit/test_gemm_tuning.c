/* test_gemm_tuning.c — GEMM tile tables (compiler/gemm_tuning.h): the strict cache-file format
 * and every way a file can be bad, shape classes, how lowering applies a table to matmul,
 * linear and conv2d kernels; then the tuner (tools/tune/gemm_tune.h) on PoCL with its quick
 * candidate set: search, store, reuse, re-tune, bad cache files, wrong candidates discarded;
 * last mlgrun --tune and mlgc --tuning end to end, and kernels built with tuned tiles checked
 * against products computed here. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compile.h"
#include "emit_code.h"
#include "file_util.h"
#include "gemm_tune.h"
#include "gemm_tuning.h"
#include "mlg.h"
#include "tensor_file.h"
#include "templates/matmul.h"

static mlg_gemm_tuning sample(void) {
  mlg_gemm_tuning t;
  memset(&t, 0, sizeof t);
  mlg_gemm_tuning_set_device(&t, "Some GPU 80GB", "550.54.15", "opencl");
  t.cls[MLG_GEMM_LARGE] = (mlg_gemm_tiles){128, 128, 16, 8, 8, 21000.5};
  t.cls[MLG_GEMM_MEDIUM] = (mlg_gemm_tiles){64, 32, 8, 4, 8, 3100.2};
  return t;
}

/* text (NUL-terminated) with its end line replaced by a correct checksum of what precedes it:
 * to test the checks behind the checksum. Caller frees. */
static char *resign(const char *text) {
  const char *end = strstr(text, "end ");
  while (end && end != text && end[-1] != '\n') end = strstr(end + 1, "end ");
  size_t body = end ? (size_t)(end - text) : strlen(text);
  char *out = malloc(body + 32);
  ck_assert_ptr_nonnull(out);
  memcpy(out, text, body);
  snprintf(out + body, 32, "end %016llx\n", (unsigned long long)mlg_fnv1a(MLG_FNV_SEED, text, body));
  return out;
}

/* Same tiles in every class; GFLOP/s as the file rounds them. */
static void assert_same_tiles(const mlg_gemm_tuning *a, const mlg_gemm_tuning *b) {
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) {
    ck_assert_int_eq(a->cls[c].tile_m, b->cls[c].tile_m);
    ck_assert_int_eq(a->cls[c].tile_n, b->cls[c].tile_n);
    ck_assert_int_eq(a->cls[c].tile_k, b->cls[c].tile_k);
    ck_assert_int_eq(a->cls[c].reg_m, b->cls[c].reg_m);
    ck_assert_int_eq(a->cls[c].reg_n, b->cls[c].reg_n);
    ck_assert_double_eq_tol(a->cls[c].gflops, b->cls[c].gflops, 0.05);
  }
}

static int parses(const char *text) {
  mlg_gemm_tuning t;
  char err[256];
  return mlg_gemm_tuning_parse(text, strlen(text), &t, err, sizeof err) == 0;
}

START_TEST(test_round_trip) {
  mlg_gemm_tuning t = sample(), back;
  char *text;
  size_t size;
  char err[256];
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &text, &size), 0);
  ck_assert_uint_eq(strlen(text), size);
  ck_assert_ptr_nonnull(strstr(text, "mlg-gemm-tuning 3\ndevice Some GPU 80GB\ndriver 550.54.15\n"
                                     "backend opencl\nlarge 128 128 16 8 8 21000.5\n"
                                     "medium 64 32 8 4 8 3100.2\nend "));
  ck_assert_int_eq(mlg_gemm_tuning_parse(text, size, &back, err, sizeof err), 0);
  ck_assert_str_eq(back.device, t.device);
  ck_assert_str_eq(back.driver, t.driver);
  ck_assert_str_eq(back.backend, t.backend);
  assert_same_tiles(&back, &t);
  /* A class without an entry is left out and stays empty. */
  t.cls[MLG_GEMM_MEDIUM].tile_m = 0;
  free(text);
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &text, &size), 0);
  ck_assert_ptr_null(strstr(text, "medium"));
  ck_assert_int_eq(mlg_gemm_tuning_parse(text, size, &back, err, sizeof err), 0);
  ck_assert_int_eq(back.cls[MLG_GEMM_MEDIUM].tile_m, 0);
  ck_assert_int_eq(back.cls[MLG_GEMM_LARGE].tile_m, 128);
  free(text);
}
END_TEST

/* Identity fields filled to the last byte without a terminator, and GFLOP/s of 1e300 (301
 * digits each): the text grows to fit (it used to be written past a fixed buffer), and the
 * table reads back. Hostile input from issue 15. */
START_TEST(test_format_long_fields) {
  mlg_gemm_tuning t = sample(), back;
  memset(t.device, 'D', sizeof t.device);
  memset(t.driver, 'v', sizeof t.driver);
  memset(t.backend, 'b', sizeof t.backend);
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) t.cls[c] = (mlg_gemm_tiles){64, 64, 16, 4, 4, 1e300};
  char *text;
  size_t size;
  char err[256];
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &text, &size), 0);
  ck_assert_uint_eq(strlen(text), size);
  ck_assert_uint_gt(size, 3 * 300);
  ck_assert_msg(mlg_gemm_tuning_parse(text, size, &back, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(strlen(back.device), sizeof t.device - 1);
  ck_assert_uint_eq(strlen(back.driver), sizeof t.driver - 1);
  ck_assert_double_eq_tol(back.cls[MLG_GEMM_HUGE].gflops, 1e300, 1e288);
  free(text);
}
END_TEST

/* A tuning table is a small text file: /dev/zero, a FIFO and a folder are refused at once
 * (they used to be read without end, or hang), and so is a file over 1 MiB. */
START_TEST(test_load_not_regular) {
  mlg_gemm_tuning t;
  char err[512], path[512];
  ck_assert_int_ne(mlg_gemm_tuning_load("/dev/zero", &t, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "/dev/zero: is a character device, not a regular file"), "%s", err);
  snprintf(path, sizeof path, "%s/test_gemm_tuning_fifo_%ld", MLG_BINARY_DIR, (long)getpid());
  unlink(path);
  ck_assert_int_eq(mkfifo(path, 0600), 0);
  alarm(20); /* a hang fails the test instead of the suite's timeout */
  ck_assert_int_ne(mlg_gemm_tuning_load(path, &t, err, sizeof err), 0);
  alarm(0);
  ck_assert_msg(strstr(err, "is a FIFO, not a regular file"), "%s", err);
  unlink(path);
  ck_assert_int_ne(mlg_gemm_tuning_load(MLG_BINARY_DIR, &t, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "is a folder"), "%s", err);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, (2 << 20) - 1, SEEK_SET), 0);
  fputc('\n', f);
  fclose(f);
  ck_assert_int_ne(mlg_gemm_tuning_load(path, &t, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "the file has 2.00 MiB, more than the 1.00 MiB this reader takes"), "%s", err);
  unlink(path);
}
END_TEST

START_TEST(test_truncated_and_flipped) {
  mlg_gemm_tuning t = sample();
  char *text;
  size_t size;
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &text, &size), 0);
  mlg_gemm_tuning out;
  char err[256];
  /* Every proper prefix is rejected (a truncated write), and leaves *out zeroed. */
  for (size_t n = 0; n < size; n++) {
    memset(&out, 0x55, sizeof out);
    err[0] = '\0';
    ck_assert_msg(mlg_gemm_tuning_parse(text, n, &out, err, sizeof err) != 0, "prefix of %zu bytes accepted", n);
    ck_assert_int_eq(out.cls[0].tile_m, 0);
    ck_assert_msg(err[0] != '\0', "no reason for a prefix of %zu bytes", n);
  }
  /* Any one changed byte is rejected, checksum digits included. */
  for (size_t i = 0; i < size; i++) {
    char *copy = malloc(size);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, size);
    copy[i] = copy[i] == '7' ? '3' : (char)(copy[i] ^ 0x04);
    ck_assert_msg(mlg_gemm_tuning_parse(copy, size, &out, err, sizeof err) != 0, "byte %zu changed, accepted", i);
    free(copy);
  }
  /* Trailing bytes after the end line, a NUL, CRLF line ends. */
  char *more = malloc(size + 8);
  ck_assert_ptr_nonnull(more);
  memcpy(more, text, size);
  memcpy(more + size, "x\n", 2);
  ck_assert_int_ne(mlg_gemm_tuning_parse(more, size + 2, &out, err, sizeof err), 0);
  memcpy(more, text, size);
  more[size] = '\0';
  ck_assert_int_ne(mlg_gemm_tuning_parse(more, size + 1, &out, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "NUL"));
  free(more);
  ck_assert(!parses(""));
  ck_assert(!parses("\n"));
  ck_assert(!parses("garbage"));
  free(text);
}
END_TEST

/* Files with a correct checksum whose content is still wrong. */
START_TEST(test_bad_content) {
  static const char *const bad[] = {
      "mlg-gemm-tuning 4\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0\n",   /* version */
      "mlg-gemm-tuning 2\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0\n",   /* old version */
      "mlg-gemm-tuning 1\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0\n",   /* old version */
      "mlg-gemm-tuning 0\ndevice d\ndriver v\nbackend opencl\n",                           /* version */
      "mlg-gemm-tuning x\ndevice d\ndriver v\nbackend opencl\n",                           /* version */
      "mlg-gemm-tunin 2\ndevice d\ndriver v\nbackend opencl\n",                            /* magic */
      "mlg-gemm-tuning 3\ndriver v\ndevice d\nbackend opencl\n",                           /* order */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\n",                                           /* no backend */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nxlarge 64 64 16 4 4 1.0\n",   /* class */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4\n",        /* fields */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0 9\n",  /* fields */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64  64 16 4 4 1.0\n",   /* spacing */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 -4 1.0\n",   /* sign */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4x 1.0\n",   /* number */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 nan\n",    /* GFLOP/s */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 -1\n",     /* GFLOP/s */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 3 4 1.0\n",    /* 3 ∤ 64 */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 128 128 16 2 4 1.0\n",  /* 2048 items */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 256 256 32 8 8 1.0\n",  /* 64 KiB */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 32 4 1.0\n",   /* block > 16 */
      ("mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0\n"
       "large 64 64 16 4 4 1.0\n"),                                                        /* twice */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\n\n",                         /* blank */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 \n",      /* empty */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\n large 64 64 16 4 4 1\n",    /* indent */
      "mlg-gemm-tuning 3\r\ndevice d\r\ndriver v\r\nbackend opencl\r\n",                   /* CRLF */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *text = resign(bad[i]);
    ck_assert_msg(!parses(text), "bad file %zu accepted:\n%s", i, text);
    free(text);
  }
  char *ok = resign("mlg-gemm-tuning 3\ndevice d\ndriver \nbackend vulkan\nmedium 32 64 8 4 8 12.5\n");
  mlg_gemm_tuning t;
  char err[256];
  ck_assert_msg(mlg_gemm_tuning_parse(ok, strlen(ok), &t, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(t.driver, "");
  ck_assert_int_eq(t.cls[MLG_GEMM_MEDIUM].tile_n, 64);
  ck_assert_int_eq(t.cls[MLG_GEMM_LARGE].tile_m, 0);
  free(ok);
  /* A missing file names its path. */
  ck_assert_int_ne(mlg_gemm_tuning_load("/nonexistent/gemm.txt", &t, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/gemm.txt"));
}
END_TEST

/* The tensor-core lines: formatted after the class lines, parsed back, strictly; applied to an
 * f16 GEMM's descriptor of their class within its local memory. */
START_TEST(test_mma_lines) {
  mlg_gemm_tuning t = sample(), back;
  t.mma[MLG_GEMM_HUGE] = (mlg_gemm_mma){8, 98000.46};
  t.mma[MLG_GEMM_MEDIUM] = (mlg_gemm_mma){1, 2000.0};
  char *text;
  size_t size;
  char err[256];
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &text, &size), 0);
  ck_assert_ptr_nonnull(strstr(text, "medium 64 32 8 4 8 3100.2\nmma medium 1 2000.0\nmma huge 8 98000.5\nend "));
  ck_assert_msg(mlg_gemm_tuning_parse(text, size, &back, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(back.mma[MLG_GEMM_HUGE].config, 8);
  ck_assert_double_eq_tol(back.mma[MLG_GEMM_HUGE].gflops, 98000.5, 0.01);
  ck_assert_int_eq(back.mma[MLG_GEMM_MEDIUM].config, 1);
  ck_assert_int_eq(back.mma[MLG_GEMM_LARGE].config, 0);
  free(text);
  static const char *const bad[] = {
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 0 1.0\n",     /* no config 0 */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 48 1.0\n",    /* past the last */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma xlarge 3 1.0\n",    /* class */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 3\n",         /* fields */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 3 1.0 2\n",   /* fields */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large  3 1.0\n",    /* spacing */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large -3 1.0\n",    /* sign */
      "mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 3 nan\n",     /* GFLOP/s */
      ("mlg-gemm-tuning 3\ndevice d\ndriver v\nbackend opencl\nmma large 3 1.0\n"
       "mma large 4 1.0\n"),                                                          /* twice */
      "mlg-gemm-tuning 2\ndevice d\ndriver v\nbackend opencl\nlarge 64 64 16 4 4 1.0\n", /* old version */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *r = resign(bad[i]);
    ck_assert_msg(!parses(r), "bad file %zu accepted:\n%s", i, r);
    free(r);
  }
  /* Applied by class; not past the local memory (configuration 17, 2x4 warps of 64x32, k32,
   * double-buffered: 48 KiB exactly, over it with a layer-norm prologue's row statistics). */
  kt_mma_config c;
  ck_assert_int_eq(kt_matmul_mma_config(17, &c), 0);
  ck_assert_int_eq(c.wm * 10 + c.wn, 24);
  ck_assert_int_eq(c.fm * 10 + c.fn, 42);
  ck_assert_int_eq(c.tk, 32);
  ck_assert_int_eq(c.buffers, 2);
  ck_assert_int_eq(kt_mma_config_local_bytes(&c, 0), 48 * 1024);
  t.mma[MLG_GEMM_LARGE] = (mlg_gemm_mma){17, 1.0};
  kt_matmul_desc d = {.m = 1024, .n = 1024, .k = 64, .a_elem = KIR_F16, .b_elem = KIR_F16};
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(NULL, &d), 0);
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(&t, &d), 17);
  d.a_norm = 1;
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(&t, &d), 0);
  d.a_norm = 0;
  d.local_mem_bytes = 32 * 1024;
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(&t, &d), 0);
  d = (kt_matmul_desc){.m = 4096, .n = 4096, .k = 64};
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(&t, &d), 8);
  d = (kt_matmul_desc){.m = 8, .n = 4096, .k = 64};
  ck_assert_int_eq(mlg_gemm_tuning_apply_mma(&t, &d), 0); /* no class */
  ck_assert_int_eq(kt_matmul_mma_config(0, &c), -1);
  ck_assert_int_eq(kt_matmul_mma_config(KT_MMA_N_CONFIGS + 1, &c), -1);
}
END_TEST

START_TEST(test_identity_and_classes) {
  mlg_gemm_tuning t;
  memset(&t, 0, sizeof t);
  mlg_gemm_tuning_set_device(&t, "GPU\nwith newline", "1.0", "opencl");
  ck_assert_str_eq(t.device, "GPU?with newline");
  ck_assert(mlg_gemm_tuning_same_device(&t, "GPU\nwith newline", "1.0", "opencl"));
  ck_assert(!mlg_gemm_tuning_same_device(&t, "GPU\nwith newline", "1.1", "opencl"));
  ck_assert(!mlg_gemm_tuning_same_device(&t, "GPU\nwith newline", "1.0", "vulkan"));
  ck_assert(!mlg_gemm_tuning_same_device(&t, "GPU", "1.0", "opencl"));
  ck_assert_int_eq(mlg_gemm_class_of(512, 512), MLG_GEMM_LARGE);
  ck_assert_int_eq(mlg_gemm_class_of(4096, 511), MLG_GEMM_MEDIUM);
  ck_assert_int_eq(mlg_gemm_class_of(64, 64), MLG_GEMM_MEDIUM);
  ck_assert_int_eq(mlg_gemm_class_of(63, 4096), MLG_GEMM_NO_CLASS);
  ck_assert_int_eq(mlg_gemm_class_of(1, 1), MLG_GEMM_NO_CLASS);
  ck_assert_str_eq(mlg_gemm_class_name(MLG_GEMM_LARGE), "large");
  ck_assert_str_eq(mlg_gemm_class_name(MLG_GEMM_NO_CLASS), "?");
  char buf[64];
  mlg_gemm_tiles_format(&(mlg_gemm_tiles){128, 64, 16, 8, 4, 0}, buf, sizeof buf);
  ck_assert_str_eq(buf, "128x64 k16 8x4");
  /* Local memory: (128 + 128)·32·4 + 8·128 bytes = 33 KiB fits 48 KiB, not 32 KiB. */
  mlg_gemm_tiles big = {128, 128, 32, 8, 8, 0};
  ck_assert(mlg_gemm_tiles_valid(&big, 0));
  ck_assert(mlg_gemm_tiles_valid(&big, 1 << 20));
  ck_assert(!mlg_gemm_tiles_valid(&big, 32 * 1024));
}
END_TEST

START_TEST(test_apply) {
  mlg_gemm_tuning t = sample();
  kt_matmul_desc d = {.m = 1024, .n = 600, .k = 300};
  ck_assert_int_eq(mlg_gemm_tuning_apply(NULL, &d), 0);
  ck_assert_int_eq(d.tile_m, 0);
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 1);
  ck_assert_int_eq(d.tile_m, 128);
  ck_assert_int_eq(d.tile_k, 16);
  ck_assert_int_eq(d.reg_n, 8);
  /* Medium; a K below the tuned step becomes the step. */
  d = (kt_matmul_desc){.m = 100, .n = 4096, .k = 5};
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 1);
  ck_assert_int_eq(d.tile_m, 64);
  ck_assert_int_eq(d.tile_n, 32);
  ck_assert_int_eq(d.tile_k, 5);
  /* No class, an empty class, tiles already chosen, too little local memory: untouched. */
  d = (kt_matmul_desc){.m = 1, .n = 4096, .k = 64};
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 0);
  ck_assert_int_eq(d.tile_m, 0);
  t.cls[MLG_GEMM_MEDIUM].tile_m = 0;
  d = (kt_matmul_desc){.m = 100, .n = 100, .k = 64};
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 0);
  d = (kt_matmul_desc){.m = 1024, .n = 1024, .k = 64, .tile_k = 8};
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 0);
  ck_assert_int_eq(d.tile_m, 0);
  d = (kt_matmul_desc){.m = 1024, .n = 1024, .k = 64, .local_mem_bytes = 8 * 1024};
  ck_assert_int_eq(mlg_gemm_tuning_apply(&t, &d), 0);
}
END_TEST

/* Medium-class problems for matmul, linear and conv2d (as GEMM: c_out 64, 10×10 outputs). */
static const char *MODEL =
    "model tiles {\n"
    "  input x : f32[128, 96]\n"
    "  input b : f32[96, 128]\n"
    "  input img : f32[1, 8, 12, 12]\n"
    "  param w : f32[80, 96] = zeros\n"
    "  param cw : f32[64, 8, 3, 3] = zeros\n"
    "  output y1 = matmul(x, b)\n"
    "  output y2 = linear(x, w)\n"
    "  output y3 = conv2d(img, cw)\n"
    "}\n";

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* The kernel text of MODEL compiled for a GPU with `tuning` (or NULL). Caller frees. */
static char *kernels(const mlg_gemm_tuning *tuning, int target) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "tiles.mlg", MODEL, strlen(MODEL)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = {.target = target, .opt_level = 2, .device_class = KT_DEVICE_GPU,
                           .gemm_tuning = tuning};
  mlg_pipeline p;
  ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_KERNELS, &diag, &p), 0);
  char *text = strndup(p.code->text, p.code->text_size);
  ck_assert_ptr_nonnull(text);
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
  return text;
}

START_TEST(test_lowering_uses_table) {
  mlg_gemm_tuning t = sample();
  /* Built-in GPU tiles for medium problems: 64×64 with 8×8 blocks, 8×8 work-items. */
  char *plain = kernels(NULL, 1);
  ck_assert_int_eq(count(plain, "reqd_work_group_size(8, 8, 1)"), 3);
  ck_assert_int_eq(count(plain, "reqd_work_group_size(4, 16, 1)"), 0);
  free(plain);
  /* Tuned medium: 64×32 tile, 4×8 blocks → (32/8) × (64/4) work-items; tiles of 8·64 and 8·32
   * floats, held as float4 vectors — for the matmul and the linear; the convolution keeps the
   * built-in tiles (lower_util.c: the search times plain GEMMs). */
  char *tuned = kernels(&t, 1);
  ck_assert_int_eq(count(tuned, "reqd_work_group_size(4, 16, 1)"), 2);
  ck_assert_int_eq(count(tuned, "float4 a_tile[128]"), 2);
  ck_assert_int_eq(count(tuned, "float4 b_tile[64]"), 2);
  ck_assert_int_eq(count(tuned, "reqd_work_group_size(8, 8, 1)"), 1);
  ck_assert_ptr_nonnull(strstr(tuned, "reqd_work_group_size(8, 8, 1)))\nvoid k_conv2d("));
  free(tuned);
  /* The GLSL printer gets the same tiles. */
  char *glsl = kernels(&t, 2);
  ck_assert_int_eq(count(glsl, "local_size_x = 4, local_size_y = 16"), 2);
  ck_assert_int_eq(count(glsl, "local_size_x = 8, local_size_y = 8"), 1);
  free(glsl);
}
END_TEST

/* ---- the tuner, on PoCL ---- */

static mlg_device_info cpu_device(void) {
  mlg_runtime_options ro = {.device = "cpu", .cache_dir = ""};
  mlg_runtime *rt = NULL;
  ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "%s", mlg_last_error());
  mlg_device_info dev = *mlg_runtime_device(rt);
  mlg_runtime_destroy(rt);
  return dev;
}

static char *temp_dir(void) {
  char *dir = strdup("/tmp/mlg-tune-test.XXXXXX");
  ck_assert_ptr_nonnull(dir);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

static void remove_dir(char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  free(dir);
}

/* What the log FILE got. Caller frees. */
static char *log_text(FILE *f) {
  long n = ftell(f);
  char *buf = calloc((size_t)n + 1, 1);
  ck_assert_ptr_nonnull(buf);
  rewind(f);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  rewind(f);
  ck_assert_int_eq(ftruncate(fileno(f), 0), 0);
  return buf;
}

static void write_text(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* The quick search's options, with a new cache folder and log (the caller removes and closes
 * them). */
static mlg_tune_options quick_tune(char **out_dir, FILE **out_log) {
  *out_dir = temp_dir();
  *out_log = tmpfile();
  ck_assert_ptr_nonnull(*out_log);
  return (mlg_tune_options){.cache_dir = *out_dir, .quick = 1, .who = "test", .log = *out_log};
}

/* A GPU whose runtime does not run the tensor-core variant (here PoCL, told it is a GPU): the
 * tensor-core search compiles its first f16 candidate, sees the tiled fallback run and stops
 * with a note; the table gets no mma line, the tiled classes are tuned as before. */
START_TEST(test_tune_mma_absent) {
  mlg_device_info dev = cpu_device();
  dev.is_gpu = 1;
  char *dir;
  FILE *log;
  mlg_tune_options o = quick_tune(&dir, &log);
  mlg_gemm_tuning t;
  mlg_tune_report rep;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), 0);
  ck_assert_int_eq(rep.n_tried, 2 * MLG_GEMM_N_CLASSES);
  char *text = log_text(log);
  ck_assert_msg(strstr(text, "does not run the tensor-core GEMM (no ptxmma or coopmat)") != NULL, "%s", text);
  ck_assert_ptr_null(strstr(text, "tuned tensor-core GEMM"));
  free(text);
  for (int c = 0; c < MLG_GEMM_N_CLASSES; c++) ck_assert_int_eq(t.mma[c].config, 0);
  fclose(log);
  remove_dir(dir);
}
END_TEST

START_TEST(test_tune_store_reuse) {
  mlg_device_info dev = cpu_device();
  char *dir = temp_dir();
  FILE *log = tmpfile();
  ck_assert_ptr_nonnull(log);
  mlg_tune_options o = {.cache_dir = dir, .quick = 1, .who = "test", .log = log};
  mlg_gemm_tuning t, again;
  mlg_tune_report rep;
  /* First use: a search, every class tuned, the table stored. */
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), 0);
  ck_assert(rep.searched && rep.stored && !rep.from_cache);
  ck_assert_int_eq(rep.n_tried, 2 * MLG_GEMM_N_CLASSES);
  ck_assert_int_eq(rep.n_rejected, 0);
  char *text = log_text(log);
  ck_assert_ptr_nonnull(strstr(text, "test: no GEMM tuning for"));
  ck_assert_int_eq(count(text, "test: tuned GEMM for '"), MLG_GEMM_N_CLASSES);
  ck_assert_ptr_nonnull(strstr(text, "(large: "));
  ck_assert_ptr_nonnull(strstr(text, "(medium: "));
  free(text);
  ck_assert(t.cls[MLG_GEMM_LARGE].tile_m > 0 && t.cls[MLG_GEMM_LARGE].gflops > 0);
  ck_assert(t.cls[MLG_GEMM_MEDIUM].tile_m > 0 && t.cls[MLG_GEMM_MEDIUM].gflops > 0);
  char path[4200];
  ck_assert_int_eq(mlg_tune_cache_path(&dev, dir, path, sizeof path), 0);
  ck_assert_str_eq(rep.path, path);
  ck_assert_int_eq(access(path, R_OK), 0);
  /* Second use: read back, no search, nothing logged. */
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &again, &rep), 0);
  ck_assert(rep.from_cache && !rep.searched && rep.n_tried == 0);
  assert_same_tiles(&again, &t);
  text = log_text(log);
  ck_assert_str_eq(text, "");
  free(text);
  /* Cache only: the same. Forced: a new search. */
  o.no_search = 1;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &again, &rep), 0);
  ck_assert(rep.from_cache);
  o.no_search = 0;
  o.force = 1;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &again, &rep), 0);
  ck_assert(rep.searched && rep.stored && !rep.from_cache);
  fclose(log);
  remove_dir(dir);
}
END_TEST

START_TEST(test_tune_bad_cache) {
  mlg_device_info dev = cpu_device();
  char *dir = temp_dir();
  FILE *log = tmpfile();
  ck_assert_ptr_nonnull(log);
  mlg_tune_options o = {.cache_dir = dir, .quick = 1, .who = "test", .log = log, .no_search = 1};
  mlg_gemm_tuning t = sample();
  mlg_tune_report rep;
  char path[4200];
  ck_assert_int_eq(mlg_tune_cache_path(&dev, dir, path, sizeof path), 0);
  /* Missing, cache only: no table, quietly. */
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  char *text = log_text(log);
  ck_assert_str_eq(text, "");
  free(text);
  /* A table of another device (checksum fine): ignored with a warning. */
  t = sample();
  char *good;
  size_t size;
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &good, &size), 0);
  write_text(path, good, size);
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  ck_assert_int_eq(t.cls[0].tile_m, 0);
  text = log_text(log);
  ck_assert_ptr_nonnull(strstr(text, "test: warning: ignoring GEMM tuning cache"));
  ck_assert_ptr_nonnull(strstr(text, "it is for 'Some GPU 80GB'"));
  ck_assert_int_eq(count(text, "\n"), 1);
  free(text);
  /* Right device, but truncated / corrupt / empty / a folder: one warning line each. */
  t = sample();
  mlg_gemm_tuning_set_device(&t, dev.name, dev.driver, dev.backend);
  free(good);
  ck_assert_int_eq(mlg_gemm_tuning_format(&t, &good, &size), 0);
  write_text(path, good, size);
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), 0); /* intact: taken */
  ck_assert(rep.from_cache);
  ck_assert_int_eq(t.cls[MLG_GEMM_LARGE].tile_m, 128);
  text = log_text(log);
  ck_assert_str_eq(text, "");
  free(text);
  const size_t cuts[3] = {size - 5, size / 2, 0};
  for (int i = 0; i < 3; i++) {
    write_text(path, good, cuts[i]);
    ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
    text = log_text(log);
    ck_assert_msg(count(text, "test: warning: ignoring GEMM tuning cache") == 1 && count(text, "\n") == 1, "%s", text);
    free(text);
  }
  good[size / 3] ^= 0x01;
  write_text(path, good, size);
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  text = log_text(log);
  ck_assert_ptr_nonnull(strstr(text, "checksum"));
  free(text);
  unlink(path);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  text = log_text(log);
  ck_assert_int_eq(count(text, "test: warning: ignoring GEMM tuning cache"), 1);
  free(text);
  rmdir(path);
  /* Corrupt again, searching allowed: re-tuned and rewritten. */
  write_text(path, good, size);
  o.no_search = 0;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), 0);
  ck_assert(rep.searched && rep.stored);
  text = log_text(log);
  ck_assert_int_eq(count(text, "test: warning: ignoring GEMM tuning cache"), 1);
  ck_assert_int_eq(count(text, "test: tuned GEMM for"), MLG_GEMM_N_CLASSES);
  free(text);
  mlg_gemm_tuning back;
  char err[512];
  ck_assert_msg(mlg_gemm_tuning_load(path, &back, err, sizeof err) == 0, "%s", err);
  ck_assert(mlg_gemm_tuning_same_device(&back, dev.name, dev.driver, dev.backend));
  free(good);
  fclose(log);
  remove_dir(dir);
}
END_TEST

/* A candidate whose output is wrong is never chosen, however fast. */
START_TEST(test_tune_discards_wrong) {
  mlg_device_info dev = cpu_device();
  FILE *log = tmpfile();
  ck_assert_ptr_nonnull(log);
  mlg_tune_options o = {.cache_dir = "", .quick = 1, .log = log, .corrupt_candidate = 1};
  mlg_gemm_tuning t;
  mlg_tune_report rep;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), 0);
  ck_assert(rep.searched && !rep.stored && rep.path[0] == '\0');
  ck_assert_int_eq(rep.n_tried, 2 * MLG_GEMM_N_CLASSES);
  ck_assert_int_eq(rep.n_rejected, MLG_GEMM_N_CLASSES);
  /* The quick set's second candidates (gemm_tune.c). */
  ck_assert_int_eq(t.cls[MLG_GEMM_LARGE].tile_m, 32);
  ck_assert_int_eq(t.cls[MLG_GEMM_LARGE].tile_n, 64);
  ck_assert_int_eq(t.cls[MLG_GEMM_MEDIUM].tile_m, 64);
  ck_assert_int_eq(t.cls[MLG_GEMM_MEDIUM].tile_n, 32);
  ck_assert_int_eq(t.cls[MLG_GEMM_HUGE].tile_m, 64);
  ck_assert_int_eq(t.cls[MLG_GEMM_HUGE].tile_n, 128);
  char *text = log_text(log);
  ck_assert_ptr_nonnull(strstr(text, "mlgtune: note: no cache folder"));
  free(text);
  fclose(log);
}
END_TEST

/* No candidate fits (1 KiB of local memory): no table, and that outcome is cached too, so the
 * next compile does not search again. */
START_TEST(test_tune_nothing_fits) {
  mlg_device_info dev = cpu_device();
  dev.local_mem_bytes = 1024;
  char *dir;
  FILE *log;
  mlg_tune_options o = quick_tune(&dir, &log);
  mlg_gemm_tuning t;
  mlg_tune_report rep;
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  ck_assert(rep.searched && rep.stored);
  ck_assert_int_eq(rep.n_tried, 0);
  char *text = log_text(log);
  ck_assert_int_eq(count(text, "test: warning: no GEMM candidate for class"), MLG_GEMM_N_CLASSES);
  free(text);
  ck_assert_int_eq(mlg_tune_gemm(&dev, &o, &t, &rep), -1);
  ck_assert(rep.from_cache && !rep.searched);
  text = log_text(log);
  ck_assert_str_eq(text, "");
  free(text);
  fclose(log);
  remove_dir(dir);
}
END_TEST

/* ---- end to end: numbers of kernels with tuned tiles, mlgrun --tune, mlgc --tuning ---- */

/* Medium-class GEMMs of every kind with all operands as inputs, so the host can check them. */
static const char *CHECKED =
    "model tuned {\n"
    "  input x : f32[128, 96]\n"
    "  input b : f32[96, 72]\n"
    "  input w : f32[80, 96]\n"
    "  input img : f32[1, 8, 12, 12]\n"
    "  input cw : f32[64, 8, 3, 3]\n"
    "  output y1 = matmul(x, b)\n"
    "  output y2 = linear(x, w)\n"
    "  output y3 = conv2d(img, cw)\n"
    "}\n";

enum { N_IN = 5, N_OUT = 3 };
static const char *const IN_NAMES[N_IN] = {"x", "b", "w", "img", "cw"};
static const int64_t IN_NUMEL[N_IN] = {128 * 96, 96 * 72, 80 * 96, 8 * 12 * 12, 64 * 8 * 9};
static const char *const OUT_NAMES[N_OUT] = {"y1", "y2", "y3"};
static const int64_t OUT_NUMEL[N_OUT] = {128 * 72, 128 * 80, 64 * 10 * 10};

typedef struct checked_data {
  float *in[N_IN];
  float *want[N_OUT];
} checked_data;

/* n multiples of 1/8 in [-1, 1] (element e is (e·mul + add) mod 17, less 8, over 8): with such
 * operands every sum is exact, so any tiling must match the host bit for bit. */
static float *eighths(int64_t n, int64_t mul, int64_t add) {
  float *v = malloc((size_t)n * sizeof(float));
  ck_assert_ptr_nonnull(v);
  for (int64_t e = 0; e < n; e++) v[e] = (float)((e * mul + add) % 17 - 8) / 8.0f;
  return v;
}

static checked_data checked_data_make(void) {
  checked_data d;
  for (int i = 0; i < N_IN; i++) d.in[i] = eighths(IN_NUMEL[i], 3 + 2 * i, i);
  for (int o = 0; o < N_OUT; o++) {
    d.want[o] = calloc((size_t)OUT_NUMEL[o], sizeof(float));
    ck_assert_ptr_nonnull(d.want[o]);
  }
  const float *x = d.in[0], *b = d.in[1], *w = d.in[2], *img = d.in[3], *cw = d.in[4];
  for (int m = 0; m < 128; m++)
    for (int k = 0; k < 96; k++) {
      for (int n = 0; n < 72; n++) d.want[0][m * 72 + n] += x[m * 96 + k] * b[k * 72 + n];
      for (int n = 0; n < 80; n++) d.want[1][m * 80 + n] += x[m * 96 + k] * w[n * 96 + k];
    }
  for (int oc = 0; oc < 64; oc++)
    for (int oy = 0; oy < 10; oy++)
      for (int ox = 0; ox < 10; ox++) {
        float s = 0;
        for (int c = 0; c < 8; c++)
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
              s += img[(c * 12 + oy + ky) * 12 + ox + kx] * cw[((oc * 8 + c) * 3 + ky) * 3 + kx];
        d.want[2][(oc * 10 + oy) * 10 + ox] = s;
      }
  return d;
}

static void checked_data_free(checked_data *d) {
  for (int i = 0; i < N_IN; i++) free(d->in[i]);
  for (int o = 0; o < N_OUT; o++) free(d->want[o]);
}

static void assert_matches(const char *what, const float *got, const float *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(got[i] == want[i], "%s[%lld] = %g, expected %g", what, (long long)i, (double)got[i],
                  (double)want[i]);
}

/* Runs bundle p on PoCL with inputs in[i] (names, element counts) and asserts that every output
 * equals want[i] bit for bit. */
static void run_bundle_exact_on(const char *device, const mlg_pipeline *p, int n_in, const char *const *in_names,
                                float *const *in, const int64_t *in_numel, int n_out,
                                const char *const *out_names, float *const *want, const int64_t *out_numel) {
  mlg_runtime_options ro = {.device = device, .cache_dir = ""};
  mlg_runtime *rt = NULL;
  mlg_model *model = NULL;
  mlg_session *s = NULL;
  ck_assert_msg(mlg_runtime_create(&ro, &rt) == MLG_OK, "%s", mlg_last_error());
  ck_assert_msg(mlg_model_load_memory(rt, p->bundle, p->bundle_size, NULL, &model) == MLG_OK, "%s", mlg_last_error());
  ck_assert_int_eq(mlg_session_create(model, &s), MLG_OK);
  for (int i = 0; i < n_in; i++)
    ck_assert_int_eq(mlg_session_set_input(s, in_names[i], in[i], (size_t)in_numel[i] * 4), MLG_OK);
  ck_assert_msg(mlg_session_run(s) == MLG_OK, "%s", mlg_last_error());
  for (int i = 0; i < n_out; i++) {
    float *got = malloc((size_t)out_numel[i] * 4);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(mlg_session_get_output(s, out_names[i], got, (size_t)out_numel[i] * 4), MLG_OK);
    assert_matches(out_names[i], got, want[i], out_numel[i]);
    free(got);
  }
  mlg_session_destroy(s);
  mlg_model_destroy(model);
  mlg_runtime_destroy(rt);
}

static void run_bundle_exact(const mlg_pipeline *p, int n_in, const char *const *in_names, float *const *in,
                             const int64_t *in_numel, int n_out, const char *const *out_names,
                             float *const *want, const int64_t *out_numel) {
  run_bundle_exact_on("cpu", p, n_in, in_names, in, in_numel, n_out, out_names, want, out_numel);
}

/* Kernels tiled from a table (GPU class, both printers' target here OpenCL) compute exactly the
 * host's products on PoCL. */
START_TEST(test_tuned_kernels_numbers) {
  mlg_gemm_tuning t;
  memset(&t, 0, sizeof t);
  t.cls[MLG_GEMM_MEDIUM] = (mlg_gemm_tiles){32, 64, 8, 4, 8, 0};
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "tuned.mlg", CHECKED, strlen(CHECKED)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  mlg_compile_options o = {.opt_level = 2, .device_class = KT_DEVICE_GPU, .gemm_tuning = &t};
  mlg_pipeline p;
  ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_BUNDLE, &diag, &p), 0);
  /* 64/8 × 32/4 work-items: the table is in effect for the matmul and the linear (the
   * convolution keeps the built-in 64×64 tiles, whose work-groups are 8×8 too). */
  char *text = strndup(p.code->text, p.code->text_size);
  ck_assert_int_eq(count(text, "reqd_work_group_size(8, 8, 1)"), 3);
  ck_assert_int_eq(count(text, "float4 a_tile[64]"), 2);
  free(text);
  checked_data d = checked_data_make();
  run_bundle_exact(&p, N_IN, IN_NAMES, d.in, IN_NUMEL, N_OUT, OUT_NAMES, d.want, OUT_NUMEL);
  checked_data_free(&d);
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
}
END_TEST

/* Split K (matmul_splitk.c): GEMMs with few output tiles and a long K — matmul, linear with
 * bias and relu, conv2d with bias, padding and a residual add then relu — run as partial GEMMs
 * into scratch plus a reduce that applies the epilogue; with multiples of 1/8 every order of
 * summation is exact, so the results must equal the host's bit for bit. */
static const char *SPLIT =
    "model split {\n"
    "  input x : f32[64, 1024]\n"
    "  input b : f32[1024, 96]\n"
    "  input w : f32[80, 1024]\n"
    "  input bias : f32[80]\n"
    "  input img : f32[2, 64, 6, 6]\n"
    "  input cw : f32[40, 64, 3, 3]\n"
    "  input cb : f32[40]\n"
    "  input r : f32[2, 40, 6, 6]\n"
    "  output y1 = matmul(x, b)\n"
    "  output y2 = relu(linear(x, w, bias))\n"
    "  output y3 = relu(conv2d(img, cw, cb, padding=1) + r)\n"
    "}\n";

enum { S_IN = 8, S_OUT = 3 };
static const char *const S_IN_NAMES[S_IN] = {"x", "b", "w", "bias", "img", "cw", "cb", "r"};
static const int64_t S_IN_NUMEL[S_IN] = {64 * 1024, 1024 * 96, 80 * 1024, 80, 2 * 64 * 36, 40 * 64 * 9, 40, 2 * 40 * 36};
static const char *const S_OUT_NAMES[S_OUT] = {"y1", "y2", "y3"};
static const int64_t S_OUT_NUMEL[S_OUT] = {64 * 96, 64 * 80, 2 * 40 * 36};

START_TEST(test_split_k_numbers) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "split.mlg", SPLIT, strlen(SPLIT)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  float *in[S_IN], *want[S_OUT];
  for (int i = 0; i < S_IN; i++) in[i] = eighths(S_IN_NUMEL[i], 5 + 2 * i, i);
  for (int i = 0; i < S_OUT; i++) {
    want[i] = calloc((size_t)S_OUT_NUMEL[i], sizeof(float));
    ck_assert_ptr_nonnull(want[i]);
  }
  const float *x = in[0], *b = in[1], *w = in[2], *bias = in[3], *img = in[4], *cw = in[5], *cb = in[6], *r = in[7];
  for (int m = 0; m < 64; m++) {
    for (int n = 0; n < 96; n++)
      for (int k = 0; k < 1024; k++) want[0][m * 96 + n] += x[m * 1024 + k] * b[k * 96 + n];
    for (int n = 0; n < 80; n++) {
      float s = bias[n];
      for (int k = 0; k < 1024; k++) s += x[m * 1024 + k] * w[n * 1024 + k];
      want[1][m * 80 + n] = s > 0 ? s : 0;
    }
  }
  for (int im = 0; im < 2; im++)
    for (int oc = 0; oc < 40; oc++)
      for (int oy = 0; oy < 6; oy++)
        for (int ox = 0; ox < 6; ox++) {
          float s = cb[oc];
          for (int c = 0; c < 64; c++)
            for (int ky = 0; ky < 3; ky++)
              for (int kx = 0; kx < 3; kx++) {
                int iy = oy + ky - 1, ix = ox + kx - 1;
                if (iy >= 0 && iy < 6 && ix >= 0 && ix < 6)
                  s += img[((im * 64 + c) * 6 + iy) * 6 + ix] * cw[((oc * 64 + c) * 3 + ky) * 3 + kx];
              }
          int at = ((im * 40 + oc) * 6 + oy) * 6 + ox;
          s += r[at];
          want[2][at] = s > 0 ? s : 0;
        }
  /* OpenCL on PoCL, then Vulkan on lavapipe (its gathered convolution two k steps an
   * iteration, matmul.c). */
  for (int target = 1; target <= 2; target++) {
    mlg_compile_options o = {.target = target, .opt_level = 2, .device_class = KT_DEVICE_GPU};
    mlg_pipeline p;
    ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_BUNDLE, &diag, &p), 0);
    char *text = strndup(p.code->text, p.code->text_size);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(count(text, target == 1 ? "void k_gemm_part" : "// kernel k_gemm_part"), 3);
    ck_assert_int_eq(count(text, "kk += 2"), target == 1 ? 0 : 1); /* the convolution's */
    /* Its window bounds: through Vulkan one unsigned comparison per axis (unsigned_bounds). */
    ck_assert_int_eq(count(text, ") < uint(6)") > 0, target == 2);
    free(text);
    run_bundle_exact_on(target == 1 ? "cpu" : "vulkan:0", &p, S_IN, S_IN_NAMES, in, S_IN_NUMEL, S_OUT, S_OUT_NAMES,
                        want, S_OUT_NUMEL);
    mlg_pipeline_free(&p);
  }
  for (int i = 0; i < S_IN; i++) free(in[i]);
  for (int i = 0; i < S_OUT; i++) free(want[i]);
  mlg_source_free(&src);
}
END_TEST

/* The slice count: few tiles and a long K split, each slice a whole number of K steps of at
 * least 256 (64 for a convolution far from its aim); batched, normalized, tensor-core, CPU-class and well-filled GEMMs do not. */
START_TEST(test_split_k_slices) {
  kt_matmul_desc d = {.m = 512, .n = 784, .k = 4608, .device_class = KT_DEVICE_GPU};
  int s = kt_matmul_split_slices(&d);
  ck_assert_int_gt(s, 1);
  ck_assert_int_eq(4608 % s, 0);
  ck_assert_int_ge(4608 / s, 256);
  d.tile_m = d.tile_n = 64;
  d.reg_m = d.reg_n = 8;
  d.tile_k = 16;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 4); /* 104 tiles: 4 slices reach 416 */
  d.device_class = KT_DEVICE_CPU;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1);
  d.device_class = KT_DEVICE_GPU;
  d.a_norm = 1;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1);
  d.a_norm = 0;
  d.k = 384; /* too short to split */
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1);
  d = (kt_matmul_desc){.m = 4096, .n = 4096, .k = 4096, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1); /* enough tiles */
  d = (kt_matmul_desc){.m = 64, .n = 64, .k = 4099, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1); /* prime-ish K: no slice of whole steps */
  /* ResNet-18's layer 2 at batch 16 (128 × 12544, K = 1152: 392 tiles of 64 × 64): a plain GEMM
   * is filled enough, a convolution (B gathered) aims at 2048 groups: 4 slices of 288. */
  d = (kt_matmul_desc){.m = 128, .n = 12544, .k = 1152, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1);
  d.b_im2col.on = 1;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 4);
  /* Its layer 1 at batch 1 (64 × 3136, K = 576: 49 tiles): slices of 256 or more reach 98
   * groups, under a quarter of the aim, so the convolution takes 9 slices of 64; a plain GEMM
   * of that shape keeps slices of 256 or more (2 of 288). */
  d = (kt_matmul_desc){.m = 64, .n = 3136, .k = 576, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 2);
  d.b_im2col.on = 1;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 9);
  /* Gathered convolutions take at most 8 slices, but 16 on 64 × 64 tiles far from the aim:
   * ResNet-18 at batch 16, layer 3 (196 groups) and layer 4 (28 groups of 128 × 128), 8 each
   * (a plain GEMM of layer 4's shape: 16 of 288); layer 4 at batch 1 (8 groups of 64 × 64), 16. */
  d = (kt_matmul_desc){.m = 256, .n = 3136, .k = 2304, .device_class = KT_DEVICE_GPU, .b_im2col.on = 1};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 8);
  d = (kt_matmul_desc){.m = 512, .n = 784, .k = 4608, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 16);
  d.b_im2col.on = 1;
  ck_assert_int_eq(kt_matmul_split_slices(&d), 8);
  d = (kt_matmul_desc){.m = 512, .n = 49, .k = 4608, .device_class = KT_DEVICE_GPU, .b_im2col.on = 1};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 16);
  /* SGEMM 2048 on 128 × 128 tiles: 256 groups, half the aim, run whole. */
  d = (kt_matmul_desc){.m = 2048, .n = 2048, .k = 2048, .device_class = KT_DEVICE_GPU};
  ck_assert_int_eq(kt_matmul_split_slices(&d), 1);
}
END_TEST

/* The plain GEMM on 128 × 128 tiles (GPU class) unrolls its k loop: through OpenCL by a pragma,
 * through Vulkan by hand, eight k steps an iteration (matmul.c unroll_kk). The Vulkan kernel,
 * run on lavapipe, computes exactly the host's product. */
START_TEST(test_unrolled_gemm_vulkan) {
  static const char *text = "model u {\n  input a : f32[512, 48]\n  input b : f32[48, 512]\n"
                            "  output c = a @ b\n}\n";
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "u.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, stderr);
  for (int target = 1; target <= 2; target++) { /* OpenCL, Vulkan (bundle.h mlgb_target) */
    mlg_compile_options o = {.target = target, .opt_level = 2, .device_class = KT_DEVICE_GPU};
    mlg_pipeline p;
    ck_assert_int_eq(mlg_pipeline_run(&src, &o, MLG_STAGE_BUNDLE, &diag, &p), 0);
    char *k = strndup(p.code->text, p.code->text_size);
    ck_assert_ptr_nonnull(k);
    if (target == 1) {
      ck_assert_int_eq(count(k, "#pragma unroll"), 1);
      ck_assert_int_eq(count(k, "kk++"), 1);
      free(k);
      mlg_pipeline_free(&p);
      continue;
    }
    ck_assert_int_eq(count(k, "kk += 8"), 1);
    free(k);
    float *in[2], *want = calloc(512 * 512, sizeof(float));
    ck_assert_ptr_nonnull(want);
    for (int i = 0; i < 2; i++) in[i] = eighths(512 * 48, 3 + 2 * i, i);
    for (int m = 0; m < 512; m++)
      for (int kk = 0; kk < 48; kk++)
        for (int n = 0; n < 512; n++) want[m * 512 + n] += in[0][m * 48 + kk] * in[1][kk * 512 + n];
    static const char *const in_names[2] = {"a", "b"}, *const out_names[1] = {"c"};
    static const int64_t in_numel[2] = {512 * 48, 48 * 512}, out_numel[1] = {512 * 512};
    run_bundle_exact_on("vulkan:0", &p, 2, in_names, in, in_numel, 1, out_names, &want, out_numel);
    for (int i = 0; i < 2; i++) free(in[i]);
    free(want);
    mlg_pipeline_free(&p);
  }
  mlg_source_free(&src);
}
END_TEST

/* Runs a shell command; returns its exit status. */
static int run(const char *cmd) {
  int rc = system(cmd);
  ck_assert_int_ne(rc, -1);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static char *slurp(const char *path) {
  uint8_t *data;
  size_t size;
  char err[512];
  ck_assert_msg(mlg_read_file(path, &data, &size, err, sizeof err) == 0, "%s", err);
  char *text = realloc(data, size + 1);
  ck_assert_ptr_nonnull(text);
  text[size] = '\0';
  return text;
}

/* mlgrun on CHECKED with the inputs in dir; outputs must match the host's. Returns stderr. */
static char *mlgrun_checked(const char *dir, const char *flags) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && MLG_CACHE_DIR='%s/cache' MLG_TUNE_QUICK=1 '%s/bin/mlgrun' tuned.mlg --device cpu %s "
           "--input x=x.npy --input b=b.npy --input w=w.npy --input img=img.npy --input cw=cw.npy "
           "--output-dir out >stdout.txt 2>stderr.txt",
           dir, dir, MLG_BINARY_DIR, flags);
  char path[4200];
  snprintf(path, sizeof path, "%s/stderr.txt", dir);
  int rc = run(cmd);
  char *err = slurp(path);
  ck_assert_msg(rc == 0, "mlgrun %s exited %d:\n%s", flags, rc, err);
  checked_data d = checked_data_make();
  for (int o = 0; o < N_OUT; o++) {
    mlg_tf_tensor t;
    char why[512];
    snprintf(path, sizeof path, "%s/out/%s.npy", dir, OUT_NAMES[o]);
    ck_assert_msg(mlg_npy_read_file(path, &t, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(t.size, (size_t)OUT_NUMEL[o] * 4);
    assert_matches(OUT_NAMES[o], t.data, d.want[o], OUT_NUMEL[o]);
    mlg_tf_tensor_free(&t);
  }
  checked_data_free(&d);
  return err;
}

START_TEST(test_mlgrun_tune_end_to_end) {
  char *dir = temp_dir();
  char path[4200], err[512];
  snprintf(path, sizeof path, "%s/tuned.mlg", dir);
  write_text(path, CHECKED, strlen(CHECKED));
  checked_data d = checked_data_make();
  static const int ranks[N_IN] = {2, 2, 2, 4, 4};
  static const int64_t dims[N_IN][4] = {{128, 96}, {96, 72}, {80, 96}, {1, 8, 12, 12}, {64, 8, 3, 3}};
  for (int i = 0; i < N_IN; i++) {
    mlg_tf_tensor t = {.dtype = MLG_TF_F32, .rank = ranks[i], .size = (size_t)IN_NUMEL[i] * 4, .data = d.in[i]};
    memcpy(t.dims, dims[i], sizeof dims[i]);
    snprintf(path, sizeof path, "%s/%s.npy", dir, IN_NAMES[i]);
    ck_assert_msg(mlg_npy_write_file(path, &t, err, sizeof err) == 0, "%s", err);
  }
  checked_data_free(&d);
  /* A CPU device is not searched unasked: no table, no message about one. */
  char *log = mlgrun_checked(dir, "");
  ck_assert_ptr_null(strstr(log, "GEMM"));
  free(log);
  /* --tune: a search, one line per class, the cache written. */
  log = mlgrun_checked(dir, "--tune");
  ck_assert_int_eq(count(log, "mlgrun: tuned GEMM for '"), MLG_GEMM_N_CLASSES);
  free(log);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "MLG_CACHE_DIR='%s/cache' '%s/bin/mlgrun' --show-tuning --device cpu >'%s/show.txt'",
           dir, MLG_BINARY_DIR, dir);
  ck_assert_int_eq(run(cmd), 0);
  snprintf(path, sizeof path, "%s/show.txt", dir);
  char *show = slurp(path);
  ck_assert_ptr_nonnull(strstr(show, "source: cache\n"));
  char *cache = strstr(show, "cache: ");
  ck_assert_ptr_nonnull(cache);
  cache += 7;
  *strchr(cache, '\n') = '\0';
  mlg_gemm_tuning t;
  ck_assert_msg(mlg_gemm_tuning_load(cache, &t, err, sizeof err) == 0, "%s", err);
  /* Second run: the cached table, no search. */
  log = mlgrun_checked(dir, "");
  ck_assert_ptr_null(strstr(log, "GEMM"));
  free(log);
  log = mlgrun_checked(dir, "--no-tune");
  ck_assert_ptr_null(strstr(log, "GEMM"));
  free(log);
  /* mlgc --tuning: the tuned medium tiles set the work-group size of all three kernels. */
  const mlg_gemm_tiles *e = &t.cls[MLG_GEMM_MEDIUM];
  snprintf(cmd, sizeof cmd, "'%s/bin/mlgc' '%s/tuned.mlg' --emit=kernels --device-hint gpu --tuning '%s' >'%s/k.cl'",
           MLG_BINARY_DIR, dir, cache, dir);
  ck_assert_int_eq(run(cmd), 0);
  snprintf(path, sizeof path, "%s/k.cl", dir);
  char *kernels_text = slurp(path);
  char want[96];
  snprintf(want, sizeof want, "reqd_work_group_size(%d, %d, 1)", e->tile_n / e->reg_n, e->tile_m / e->reg_m);
  ck_assert_int_eq(count(kernels_text, want), 3);
  free(kernels_text);
  /* A damaged file is an error for mlgc, naming it. */
  FILE *f = fopen(cache, "r+b");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fputc('X', f), 'X');
  ck_assert_int_eq(fclose(f), 0);
  snprintf(cmd, sizeof cmd, "'%s/bin/mlgc' '%s/tuned.mlg' --emit=kernels --tuning '%s' >/dev/null 2>'%s/err.txt'",
           MLG_BINARY_DIR, dir, cache, dir);
  ck_assert_int_eq(run(cmd), 1);
  snprintf(path, sizeof path, "%s/err.txt", dir);
  char *msg = slurp(path);
  ck_assert_ptr_nonnull(strstr(msg, "mlgc: error: --tuning: '"));
  free(msg);
  /* ... and for mlgrun a one-line warning, then the built-in tiles (no search on a CPU). */
  log = mlgrun_checked(dir, "");
  ck_assert_int_eq(count(log, "mlgrun: warning: ignoring GEMM tuning cache"), 1);
  free(log);
  snprintf(cmd, sizeof cmd, "'%s/bin/mlgrun' --tune --no-tune 2>/dev/null", MLG_BINARY_DIR);
  ck_assert_int_eq(run(cmd), 2);
  free(show);
  remove_dir(dir);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("gemm_tuning");
  TCase *table = tcase_create("table");
  tcase_add_test(table, test_round_trip);
  tcase_add_test(table, test_truncated_and_flipped);
  tcase_add_test(table, test_format_long_fields);
  tcase_add_test(table, test_load_not_regular);
  tcase_add_test(table, test_bad_content);
  tcase_add_test(table, test_identity_and_classes);
  tcase_add_test(table, test_apply);
  tcase_add_test(table, test_split_k_slices);
  tcase_add_test(table, test_mma_lines);
  tcase_add_test(table, test_lowering_uses_table);
  suite_add_tcase(suite, table);
  TCase *tuner = tcase_create("tuner");
  tcase_set_timeout(tuner, 300);
  tcase_add_test(tuner, test_tune_store_reuse);
  tcase_add_test(tuner, test_tune_mma_absent);
  tcase_add_test(tuner, test_tune_bad_cache);
  tcase_add_test(tuner, test_tune_discards_wrong);
  tcase_add_test(tuner, test_tune_nothing_fits);
  suite_add_tcase(suite, tuner);
  TCase *e2e = tcase_create("end_to_end");
  tcase_set_timeout(e2e, 300);
  tcase_add_test(e2e, test_tuned_kernels_numbers);
  tcase_add_test(e2e, test_split_k_numbers);
  tcase_add_test(e2e, test_unrolled_gemm_vulkan);
  tcase_add_test(e2e, test_mlgrun_tune_end_to_end);
  suite_add_tcase(suite, e2e);
  SRunner *runner = srunner_create(suite);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

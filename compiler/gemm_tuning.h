/* gemm_tuning.h — per-device tile choices for the tiled GEMM kernel (codegen/templates/matmul.h)
 * and their versioned text form, the file the tuner caches on disk (tools/tune/gemm_tune.h).
 *
 * A table maps a shape class of C (huge: M and N ≥ 2048; large: M and N ≥ 512; medium: M and
 * N ≥ 64) to the work-group
 * tile, K step and register block that a search measured fastest on one device. Lowering applies
 * it to every kt_matmul_desc it builds (matmul, batched matmul, linear, conv2d as GEMM) through
 * mlg_lower_gemm; the CPU vector kernel (matmul_cpu.c) keeps its own blocks. Shapes of
 * no class, and classes without an entry, keep kt_matmul_pick_tiles' built-in choice.
 *
 * The file (docs/performance.md), read strictly — any deviation is an error, never a guess:
 *
 *   mlg-gemm-tuning 2
 *   device NVIDIA H100 80GB HBM3
 *   driver 550.54.15
 *   backend opencl
 *   large 128 128 16 8 8 21000.5          class tile_m tile_n tile_k reg_m reg_n GFLOP/s
 *   medium 64 64 16 4 4 3100.2
 *   mma large 8 98000.5                   class, tensor-core configuration, GFLOP/s
 *   end 0f3c9a52e1d07b44                  FNV-1a 64 of every byte before "end"
 *
 * An "mma" line gives the class's configuration of the tensor-core GEMM (kt_matmul_mma_config,
 * matmul_mma.c), searched on f16 GEMMs where the device runs that variant; lowering gives it to
 * every f16 GEMM of the class that gets the variant (mlg_gemm_tuning_apply_mma), whose tiled
 * fallback then takes its work-group tile.
 *
 * Thread safety: reentrant; a table is plain data. */
#ifndef MLG_GEMM_TUNING_H
#define MLG_GEMM_TUNING_H

#include <stddef.h>
#include <stdint.h>

#include "templates/matmul.h"

#define MLG_GEMM_TUNING_VERSION 3

typedef enum mlg_gemm_class {
  MLG_GEMM_LARGE = 0,        /* M and N ≥ 512 */
  MLG_GEMM_MEDIUM = 1,       /* M and N ≥ 64 (and not large) */
  MLG_GEMM_HUGE = 2,         /* M and N ≥ 2048 (searched on GPUs only) */
  MLG_GEMM_N_CLASSES = 3,
  MLG_GEMM_NO_CLASS = -1     /* a skinny or small problem: the built-in tiles */
} mlg_gemm_class;

/* One class's choice; tile_m == 0 means no entry. */
typedef struct mlg_gemm_tiles {
  int tile_m, tile_n, tile_k;  /* work-group tile of C and K step */
  int reg_m, reg_n;            /* register block per work-item */
  double gflops;               /* what the search measured (reports only) */
} mlg_gemm_tiles;

/* One class's tensor-core configuration; config == 0 means no entry. */
typedef struct mlg_gemm_mma {
  int config;                  /* 1..KT_MMA_N_CONFIGS */
  double gflops;               /* what the search measured (reports only) */
} mlg_gemm_mma;

typedef struct mlg_gemm_tuning {
  char device[256];            /* identity of the device it was measured on (one line each) */
  char driver[128];
  char backend[16];
  mlg_gemm_tiles cls[MLG_GEMM_N_CLASSES];
  mlg_gemm_mma mma[MLG_GEMM_N_CLASSES];
} mlg_gemm_tuning;

/* The class of an M×N result. */
mlg_gemm_class mlg_gemm_class_of(int64_t m, int64_t n);
/* "large", "medium", "huge"; "?" for anything else. */
const char    *mlg_gemm_class_name(mlg_gemm_class c);

/* 1 when t is a tiling the tiled kernel takes on a device with `local_mem_bytes` of local
 * memory per work-group (0 → 48 KiB; more is capped at 48 KiB): tiles 1..256, K step 1..64,
 * blocks 1..16 dividing their tile, at most 1024 work-items, and both staged tiles plus the
 * layer-norm row statistics within the local memory. */
int  mlg_gemm_tiles_valid(const mlg_gemm_tiles *t, int64_t local_mem_bytes);
/* "128x128 k16 8x8" into buf. */
void mlg_gemm_tiles_format(const mlg_gemm_tiles *t, char *buf, size_t size);

/* Sets the identity fields; control characters become '?' so each stays on one line. */
void mlg_gemm_tuning_set_device(mlg_gemm_tuning *t, const char *device, const char *driver,
                                const char *backend);
/* 1 when t was measured on the device of that identity (compared as set_device stores it). */
int  mlg_gemm_tuning_same_device(const mlg_gemm_tuning *t, const char *device, const char *driver,
                                 const char *backend);

/* The file text of t into a malloc'd buffer (caller frees). 0, or -1 (out of memory). */
int  mlg_gemm_tuning_format(const mlg_gemm_tuning *t, char **out_text, size_t *out_size);
/* Parses file text strictly: version, identity, class lines, checksum. 0 with *out filled, or -1
 * with a one-line reason in err (*out is then zeroed). */
int  mlg_gemm_tuning_parse(const char *text, size_t size, mlg_gemm_tuning *out, char *err,
                           size_t err_size);
/* Reads and parses a file; as mlg_gemm_tuning_parse, with the reason naming the path. */
int  mlg_gemm_tuning_load(const char *path, mlg_gemm_tuning *out, char *err, size_t err_size);

/* Fills d's tiling fields, when all five are 0, from the entry of d's shape class; a K step
 * above d->k becomes d->k. Returns 1 when it set them, 0 when t is NULL, d's shape has no class,
 * the class has no entry, the entry does not fit d->local_mem_bytes or d is already tiled. */
int  mlg_gemm_tuning_apply(const mlg_gemm_tuning *t, kt_matmul_desc *d);
/* The tensor-core configuration of d's shape class, or 0 (t NULL, no class, no entry, or one
 * over d->local_mem_bytes with d's layer-norm prologue: the built-in choice then). */
int  mlg_gemm_tuning_apply_mma(const mlg_gemm_tuning *t, const kt_matmul_desc *d);

#endif

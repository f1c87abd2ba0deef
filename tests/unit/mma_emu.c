/* mma_emu.c — included by the tests of tensor-core kernels (test_matmul_mma.c,
 * test_attention_mma.c) after cl_harness.c: a kernel's OpenCL C as printed, but for the helpers
 * that issue inline PTX — mlg_mma_16 (two mma.sync.m16n8k16), mlg_mma_ldsm / mlg_mma_ldsm_t
 * (ldmatrix.x4, plain and transposing), mlg_cp_async / _commit / _wait (cp.async),
 * mlg_mma_pack (cvt.rn.f16x2.f32) and mlg_shfl_xor (shfl.sync.bfly) — which are replaced by
 * emulations of those instructions
 * written from the PTX ISA ("Matrix Fragments for mma.m16n8k16 with floating point type",
 * "ldmatrix"), independently of the printer: each lane puts its registers where that layout says
 * they belong in a 16×16 A and B of local memory and takes its accumulator elements back from
 * their product; for ldmatrix, each lane copies the 8-half row its address names, and takes
 * its registers from the rows of the other lanes. The printer's lane addresses (mlg_mma_row)
 * are kept as printed, and so tested, and so are the accumulator elements a kernel reads and
 * writes itself (kir_frag_elem: the lane's registers in that layout). The emulations have
 * barriers: every fragment load, mlg_mma_16 and lane exchange of the kernel must be reached by
 * the whole work-group. */
/* mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 twice (columns 0..7, then 8..15), as the
 * hardware computes it: lane 4g + t holds A (g, 2t..2t+1), (g+8, ..), (g, 2t+8..), (g+8, 2t+8..);
 * B (2t..2t+1, g), (2t+8..2t+9, g) of each 8-column half; C (g, 2t..2t+1), (g+8, 2t..2t+1) of
 * each half. scr: 512 floats of local memory per warp. */
#include <stdarg.h>

static const char emulated_mma[] =
    "float mlg_emu_h2f(uint h) {\n"
    "  uint e = (h >> 10) & 31u, m = h & 1023u;\n"
    "  float v = e == 0u ? ldexp((float)m, -24) : ldexp((float)(m | 1024u), (int)e - 25);\n"
    "  return (h & 0x8000u) ? -v : v;\n"
    "}\n"
    "void mlg_mma_16_emu(float *c, const uint *a, const uint *b, __local float *scr) {\n"
    "  int lane = (int)(get_local_id(0) & 31), g = lane >> 2, t = (lane & 3) * 2;\n"
    "  __local float *A = scr + (get_local_id(0) >> 5) * 512, *B = A + 256;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int q = 0; q < 4; q++) {\n"
    "    int r = g + (q & 1) * 8, k = t + (q >> 1) * 8;\n"
    "    A[r * 16 + k] = mlg_emu_h2f(a[q] & 0xFFFFu);\n"
    "    A[r * 16 + k + 1] = mlg_emu_h2f(a[q] >> 16);\n"
    "  }\n"
    "  for (int h = 0; h < 2; h++)\n"
    "    for (int q = 0; q < 2; q++) {\n"
    "      int k = t + q * 8, n = h * 8 + g;\n"
    "      B[k * 16 + n] = mlg_emu_h2f(b[2 * h + q] & 0xFFFFu);\n"
    "      B[(k + 1) * 16 + n] = mlg_emu_h2f(b[2 * h + q] >> 16);\n"
    "    }\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int h = 0; h < 2; h++)\n"
    "    for (int q = 0; q < 4; q++) {\n"
    "      int r = g + (q >> 1) * 8, n = h * 8 + t + (q & 1);\n"
    "      float s = c[4 * h + q];\n"
    "      for (int k = 0; k < 16; k++) s += A[r * 16 + k] * B[k * 16 + n];\n"
    "      c[4 * h + q] = s;\n"
    "    }\n"
    "}\n"
    /* ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: lane 8i + j names row j of 8×8 matrix i;
     * lane 4g + t gets in register i that matrix's (g, 2t) and (g, 2t + 1), or transposed its
     * (2t, g) and (2t + 1, g); the low half first. A row address off 16 bytes, which the
     * hardware does not allow, gives NaN halves. */
    "void mlg_mma_ldsm_emu(uint *f, __local const ushort *p, int trans, __local float *scr) {\n"
    "  int lane = (int)(get_local_id(0) & 31), g = lane >> 2, t = (lane & 3) * 2;\n"
    "  __local ushort *rows = (__local ushort *)(scr + (get_local_id(0) >> 5) * 512);\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int j = 0; j < 8; j++) rows[lane * 8 + j] = ((size_t)p & 15) ? 0x7E00 : p[j];\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int i = 0; i < 4; i++) {\n"
    "    uint lo = trans ? rows[(8 * i + t) * 8 + g] : rows[(8 * i + g) * 8 + t];\n"
    "    uint hi = trans ? rows[(8 * i + t + 1) * 8 + g] : rows[(8 * i + g) * 8 + t + 1];\n"
    "    f[i] = lo | (hi << 16);\n"
    "  }\n"
    "}\n"
    /* cvt.rn.f16x2.f32 of the accumulator's pairs into the A fragment's words (A's (g, 2t..2t+1)
     * is C's, and so on: the layouts above), rounded to nearest even by vstore_half_rte; and
     * shfl.sync.bfly through the warp's scratch. */
    "void mlg_mma_pack_emu(uint *a, const float *c) {\n"
    "  for (int i = 0; i < 4; i++) {\n"
    "    ushort h[2];\n"
    "    vstore_half_rte(c[2 * i], 0, (half *)h);\n"
    "    vstore_half_rte(c[2 * i + 1], 1, (half *)h);\n"
    "    a[i] = (uint)h[0] | ((uint)h[1] << 16);\n"
    "  }\n"
    "}\n"
    "float mlg_shfl_xor_emu(float v, int mask, __local float *scr) {\n"
    "  int lane = (int)(get_local_id(0) & 31);\n"
    "  __local float *x = scr + (get_local_id(0) >> 5) * 512;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  x[lane] = v;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  return x[lane ^ mask];\n"
    "}\n"
    /* cp.async.cg.shared.global (16 bytes; source size 0: zeros), commit_group, wait_group: a
     * work-item's copies wait in its own queue (private arrays the kernel declares) until a
     * wait_group completes their group, so a kernel that reads a tile it has not waited for
     * reads what was there before and fails. The source is read at issue (it does not change);
     * an address off 16 bytes, or a full queue, gives NaN halves. */
    "#define MLG_EMU_Q 64\n"
    "void mlg_cp_async_emu(__local ushort *p, __global const uint *g, int present, __local ushort **qp,\n"
    "                      uint *qw, int *qg, int *qn, int group) {\n"
    "  int n = *qn, bad = ((size_t)p & 15) || (present && ((size_t)g & 15)) || n == MLG_EMU_Q;\n"
    "  if (n == MLG_EMU_Q) n--;\n"
    "  qp[n] = p;\n"
    "  qg[n] = group;\n"
    "  for (int i = 0; i < 4; i++) qw[4 * n + i] = bad ? 0x7E007E00u : present ? g[i] : 0u;\n"
    "  *qn = n + 1;\n"
    "}\n"
    "void mlg_cp_wait_emu(int pending, __local ushort **qp, uint *qw, int *qg, int *qn, int groups) {\n"
    "  int keep = 0;\n"
    "  for (int i = 0; i < *qn; i++) {\n"
    "    if (qg[i] < groups - pending) {\n"
    "      for (int j = 0; j < 4; j++) {\n"
    "        qp[i][2 * j] = (ushort)(qw[4 * i + j] & 0xFFFFu);\n"
    "        qp[i][2 * j + 1] = (ushort)(qw[4 * i + j] >> 16);\n"
    "      }\n"
    "      continue;\n"
    "    }\n"
    "    qp[keep] = qp[i];\n"
    "    qg[keep] = qg[i];\n"
    "    for (int j = 0; j < 4; j++) qw[4 * keep + j] = qw[4 * i + j];\n"
    "    keep++;\n"
    "  }\n"
    "  *qn = keep;\n"
    "}\n";

/* Warpgroup products (wgmma.mma_async with shared-memory descriptors), written from the PTX ISA
 * ("Matrix Descriptor Format", "Shared Memory Matrix Layout" and its canonical layouts, the
 * accumulator fragment of .m64nNk16), independently of the template's copies: a descriptor is
 * kept as the local pointer and its offsets, an operand element is read where the canonical
 * layout puts it — with the swizzle applied to the absolute address bits, as the hardware does
 * — and the work-item's accumulator elements get their sums at once (the fences, commits and
 * waits do nothing: a product is complete when it returns). */
static const char emulated_wg[] =
    "typedef struct mlg_wg_d { __local const ushort *p; uint lbo, sbo, sw; } mlg_wg_d;\n"
    "mlg_wg_d mlg_wg_desc(__local const ushort *p, uint lbo, uint sbo, uint sw) {\n"
    "  mlg_wg_d d = {p, lbo, sbo, sw};\n"
    "  return d;\n"
    "}\n"
    "float mlg_wg_at(mlg_wg_d d, uint mn, uint k, int mn_major) {\n"
    "  uint w = d.sw == 1 ? 128u : d.sw == 2 ? 64u : d.sw == 3 ? 32u : 0u, off;\n"
    "  if (!mn_major)\n"
    "    off = w ? mn / 8 * d.sbo + mn % 8 * w + k * 2 : mn / 8 * d.sbo + k / 8 * d.lbo + mn % 8 * 16 + k % 8 * 2;\n"
    "  else\n"
    "    off = w ? mn / 64 * d.lbo + k / 8 * d.sbo + k % 8 * 128 + mn % 64 * 2\n"
    "            : mn / 8 * d.sbo + k / 8 * d.lbo + k % 8 * 16 + mn % 8 * 2;\n"
    "  size_t at = (size_t)d.p + off;\n"
    "  if (w) at ^= ((at >> 7) & (w / 16 - 1)) << 4;\n"
    "  return vload_half(0, (__local const half *)at);\n"
    "}\n"
    /* lane 4g + t of warp q of the warpgroup holds D (16q + g + 8·(e / 2 % 2),
       16j + 8·(e / 4) + 2t + e % 2) as element e of its fragment j */
    "void mlg_wg_emu(float **f, int n, mlg_wg_d a, mlg_wg_d b, int ta, int tb) {\n"
    "  int lid = (int)get_local_id(0), q = (lid >> 5) & 3, g = (lid & 31) >> 2, t = lid & 3;\n"
    "  for (int j = 0; j < n; j++)\n"
    "    for (int e = 0; e < 8; e++) {\n"
    "      uint row = 16 * q + g + 8 * ((e >> 1) & 1), col = 16 * j + 8 * (e >> 2) + 2 * t + (e & 1);\n"
    "      float s = f[j][e];\n"
    "      for (uint k = 0; k < 16; k++) s += mlg_wg_at(a, row, k, ta) * mlg_wg_at(b, col, k, tb);\n"
    "      f[j][e] = s;\n"
    "    }\n"
    "}\n"
    "#define mlg_wg_commit()\n"
    "#define mlg_wg_wait(n)\n"
    "#define mlg_proxy_fence()\n";

/* Appends to out (cap bytes, *n used); a text that does not fit leaves *n at cap (checked by
 * the caller). */
static void emit(char *out, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void emit(char *out, size_t cap, size_t *n, const char *fmt, ...) {
  if (*n >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(out + *n, cap - *n, fmt, ap);
  va_end(ap);
  *n = w < 0 || (size_t)w >= cap - *n ? cap : *n + (size_t)w;
}

/* src with its warpgroup helpers (from MLG_WG_HELPERS to the kernel) replaced by the emulation:
 * a product mlg_wgmma_nN_AB for each the source defines, fences and final waits as nothing.
 * src itself where it has none; NULL on failure. Frees src. */
static char *wg_emu_source(char *src) {
  if (!src) return NULL;
  char *from = strstr(src, "#ifndef MLG_WG_HELPERS");
  char *to = from ? strstr(from, "__kernel") : NULL;
  if (!from) return src;
  size_t cap = strlen(src) + sizeof emulated_wg + 65536, n = 0;
  char *out = to ? malloc(cap) : NULL;
  if (!out) {
    free(src);
    return NULL;
  }
  emit(out, cap, &n, "%.*s%s", (int)(from - src), src, emulated_wg);
  for (int f = 1; f <= 16; f++) emit(out, cap, &n, "#define mlg_wg_fence_n%d(...)\n#define mlg_wg_wait0_n%d(...)\n", f, f);
  for (const char *at = from; (at = strstr(at, "void mlg_wgmma_n")) && at < to; at++) {
    int fn, ta, tb;
    if (sscanf(at, "void mlg_wgmma_n%d_%1d%1d(", &fn, &ta, &tb) != 3) continue;
    emit(out, cap, &n, "void mlg_wgmma_n%d_%d%d(", fn, ta, tb);
    for (int j = 0; j < fn; j++) emit(out, cap, &n, "float *f%d, ", j);
    emit(out, cap, &n, "mlg_wg_d da, mlg_wg_d db) {\n  float *f[%d] = {", fn);
    for (int j = 0; j < fn; j++) emit(out, cap, &n, "%sf%d", j ? ", " : "", j);
    emit(out, cap, &n, "};\n  mlg_wg_emu(f, %d, da, db, %d, %d);\n}\n", fn, ta, tb);
  }
  /* PoCL places local arrays 128 bytes apart whatever they ask for: the operand tiles are
     aligned here as the GPU aligns them (aligned(1024)), since the swizzle is of address bits */
  static const char decl[] = "  __local ushort ", align[] = " __attribute__((aligned(1024)));\n";
  for (const char *at = to, *end; (end = strstr(at, align)); at = end + sizeof align - 1) {
    const char *line = end;
    while (line > at && line[-1] != '\n') line--;
    char name[64];
    int count;
    if (strncmp(line, decl, sizeof decl - 1) || sscanf(line + sizeof decl - 1, "%63[a-z_0-9][%d]", name, &count) != 2) {
      free(out);
      free(src);
      return NULL;
    }
    emit(out, cap, &n,
         "%.*s  __local ushort %s_raw[%d];\n"
         "  __local ushort *%s = (__local ushort *)(((size_t)%s_raw + 1023) & ~(size_t)1023);\n",
         (int)(line - at), at, name, count + 512, name, name);
    to = (char *)end + sizeof align - 1;
  }
  emit(out, cap, &n, "%s", to);
  free(src);
  if (n >= cap) {
    free(out);
    return NULL;
  }
  return out;
}

/* The kernel's source with the PTX helpers (the ldmatrix pair and cp.async before mlg_mma_row;
 * mlg_mma_16, mlg_mma_pack and mlg_shfl_xor before mlg_mma_store) replaced by their emulations,
 * which take the local scratch the kernel declares first. NULL on a source of another shape. */
static char *mma_emu_source(const kir_kernel *k) {
  char *src = wg_emu_source(clh_source(k));
  if (!src) return NULL;
  const char *ldsm = strstr(src, "MLG_MMA_INLINE void mlg_mma_ldsm(");
  const char *row = strstr(src, "MLG_MMA_INLINE int mlg_mma_row(");
  const char *mma = strstr(src, "MLG_MMA_INLINE void mlg_mma_16(");
  const char *store = strstr(src, "MLG_MMA_INLINE void mlg_mma_store(");
  const char *endif = strstr(src, "#endif\n");
  const char *kernel = endif ? strstr(endif, "__kernel") : NULL;
  const char *body = kernel ? strstr(kernel, ") {\n") : NULL;
  if (!ldsm || !row || !mma || !store || !body || !(ldsm < row && row < mma && mma < store && store < endif)) {
    free(src);
    return NULL;
  }
  body += 4;
  int warps = k->local_size[0] / 32;
  size_t n = strlen(src) + sizeof emulated_mma + 1024;
  char *out = malloc(n);
  if (out)
    snprintf(out, n,
             "%.*s%s%.*s%.*s"
             "#define mlg_mma_16(c, a, b) mlg_mma_16_emu(c, a, b, mlg_emu_scratch)\n"
             "#define mlg_mma_ldsm(f, p) mlg_mma_ldsm_emu(f, p, 0, mlg_emu_scratch)\n"
             "#define mlg_mma_ldsm_t(f, p) mlg_mma_ldsm_emu(f, p, 1, mlg_emu_scratch)\n"
             "#define mlg_mma_pack(a, c) mlg_mma_pack_emu(a, c)\n"
             "#define mlg_shfl_xor(v, m) mlg_shfl_xor_emu(v, m, mlg_emu_scratch)\n"
             "#define MLG_EMU_QUEUE mlg_emu_qp, mlg_emu_qw, mlg_emu_qg, &mlg_emu_qn\n"
             "#define mlg_cp_async(p, g, c) mlg_cp_async_emu(p, g, c, MLG_EMU_QUEUE, mlg_emu_groups)\n"
             "#define mlg_cp_commit() (mlg_emu_groups++)\n"
             "#define mlg_cp_wait(n) mlg_cp_wait_emu(n, MLG_EMU_QUEUE, mlg_emu_groups)\n"
             "%.*s  __local float mlg_emu_scratch[%d];\n%s%s",
             (int)(ldsm - src), src, emulated_mma, (int)(mma - row), row, (int)(endif + 7 - store), store,
             (int)(body - (endif + 7)), endif + 7, warps * 512,
             /* the copy queue only where the kernel copies: PoCL keeps a work-item's private
                arrays across every barrier, which slows the emulation down */
             strstr(body, "mlg_cp_async(") ? "  __local ushort *mlg_emu_qp[MLG_EMU_Q];\n"
                                             "  uint mlg_emu_qw[4 * MLG_EMU_Q];\n"
                                             "  int mlg_emu_qg[MLG_EMU_Q], mlg_emu_qn = 0, mlg_emu_groups = 0;\n"
                                           : "",
             body);
  free(src);
  return out;
}

/* Kernel `name` of OpenCL source src built for h's device (case `index` named on failure);
 * its program in *out_prog, for the caller to release. Built without optimization: the
 * emulations put two barriers in every fragment load and product, and PoCL's optimizing build of
 * such a kernel took most of these tests' time (test_attention_mma cold 102 s, 40 s without;
 * the kernels run in a second either way). */
static cl_kernel mma_emu_kernel(clh *h, const char *src, const char *name, int index, cl_program *out_prog) {
  cl_int err;
  const char *srcs[] = {src};
  cl_program prog = clCreateProgramWithSource(h->context, 1, srcs, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  if (clBuildProgram(prog, 1, &h->device, "-cl-opt-disable", NULL, NULL) != CL_SUCCESS) {
    char log[8192] = "";
    clGetProgramBuildInfo(prog, h->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    ck_abort_msg("case %d: build failed:\n%s", index, log);
  }
  cl_kernel kern = clCreateKernel(prog, name, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  *out_prog = prog;
  return kern;
}

/* tools/gpu/wgmma_probe.c — how fast is an HGEMM on Hopper's warpgroup products (wgmma) when
 * it reaches the GPU through NVIDIA's OpenCL by the comment route of sm90a_probe.c? Runs the
 * kernel of wgmma_probe.cl for each configuration given as WGS,BN,BK,STAGES at M = N = K = size,
 * checks 256 sampled outputs against a host product, and prints the median time of 20 runs.
 * Build: cc -O2 -o wgmma_probe tools/gpu/wgmma_probe.c -lOpenCL -lm
 * Usage: wgmma_probe tools/gpu/wgmma_probe.cl SIZE WGS,BN,BK,STAGES[,MW[,MODE[,BSWAP[,LAYOUT[,NO_EPILOGUE]]]]]...
 * MW: 64-row blocks per warpgroup; MODE 1: no copies in the loop (one tile, multiplied K/BK times),
 * 2: that without barriers and with one product group in flight, 3: no proxy fence, 4: one
 * wgmma.fence before the loop, 5: one product group in flight (tiles STAGES − 2 steps ahead); BSWAP: B's offsets
 * swapped; LAYOUT 0: local tiles without swizzling, 1 (default): swizzled; NO_EPILOGUE 1: the sums
 * are not stored (what the stores cost; the check then fails).
 * Then the largest __local argument the driver launches. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_text.h"

static void cat(char **s, size_t *n, const char *fmt, int a) {
  char buf[256];
  snprintf(buf, sizeof buf, fmt, a);
  size_t l = strlen(buf);
  *s = realloc(*s, *n + l + 1);
  memcpy(*s + *n, buf, l + 1);
  *n += l;
}

/* The helpers for accumulators of bn/2 floats: wgmma m64n{bn}k16 (A K-major, B N-major, both
 * from local descriptors), and the fence and the wait that tie the accumulator registers to
 * those points (so the compiler keeps their reads and writes on the right side). */
static char *helpers(int bn) {
  const int n = bn / 2;
  char *s = NULL;
  size_t len = 0;
  cat(&s, &len, "static inline void mlg_wg_mma(float *d, ulong da, ulong db, int acc) {\n  asm volatile(\"//MLGA {\\n\"\n", 0);
  cat(&s, &len, "    \"//MLGA .reg .pred p;\\n//MLGA setp.ne.b32 p, %%%d, 0;\\n\"\n", n + 2);
  cat(&s, &len, "    \"//MLGA wgmma.mma_async.sync.aligned.m64n%dk16.f32.f16.f16 {\"\n", bn);
  for (int i = 0; i < n; i++) cat(&s, &len, i + 1 < n ? "\"%%%d, \"" : "\"%%%d\"", i);
  cat(&s, &len, "\n    \"}, %%%d, \"", n);
  cat(&s, &len, "\"%%%d, p, 1, 1, 0, 1;\\n//MLGA }\"\n    : ", n + 1);
  for (int i = 0; i < n; i++) cat(&s, &len, i + 1 < n ? "\"+f\"(d[%d]), " : "\"+f\"(d[%d])", i);
  cat(&s, &len, "\n    : \"l\"(da), \"l\"(db), \"r\"(acc) : \"memory\");\n}\n", 0);
  const char *names[3] = {"fence", "wait", "wait1"},
             *ins[3] = {"wgmma.fence.sync.aligned;", "wgmma.wait_group.sync.aligned 0;", "wgmma.wait_group.sync.aligned 1;"};
  /* (a wait that leaves a group in flight must not name its registers: ptxas would serialize) */
  for (int f = 0; f < 3; f++) {
    if (f == 2) {
      cat(&s, &len, "static inline void mlg_wg_wait1(float *d) { asm volatile(\"//MLGA wgmma.wait_group.sync.aligned 1;\" ::: \"memory\"); }\n", 0);
      continue;
    }
    char head[160];
    snprintf(head, sizeof head, "static inline void mlg_wg_%s(float *d) {\n  asm volatile(\"//MLGA %s\"\n    : ", names[f], ins[f]);
    s = realloc(s, len + strlen(head) + 1);
    strcpy(s + len, head);
    len += strlen(head);
    for (int i = 0; i < n; i++) cat(&s, &len, i + 1 < n ? "\"+f\"(d[%d]), " : "\"+f\"(d[%d])", i);
    cat(&s, &len, "\n    :: \"memory\");\n}\n", 0);
  }
  return s;
}

static float h2f(unsigned short h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

static unsigned short f2h(float f) { /* values here are small multiples of 1/16: exact */
  if (f == 0) return 0;
  int e;
  float m = frexpf(fabsf(f), &e); /* f = m·2^e, m in [0.5, 1) */
  int mant = (int)lrintf(m * 2048) - 1024;
  return (unsigned short)((f < 0 ? 0x8000 : 0) | ((e + 14) << 10) | mant);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s KERNEL.cl SIZE WGS,BN,BK,STAGES...\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  static char body[1 << 16];
  body[fread(body, 1, sizeof body - 1, f)] = 0;
  fclose(f);
  const int S = atoi(argv[2]);
  cl_platform_id plats[8];
  cl_uint n_plats = 0;
  clGetPlatformIDs(8, plats, &n_plats);
  cl_device_id dev = NULL;
  for (cl_uint i = 0; i < n_plats && !dev; i++)
    if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_GPU, 1, &dev, NULL) != CL_SUCCESS) dev = NULL;
  if (!dev) return printf("no GPU\n"), 1;
  cl_int err;
  cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_command_queue q = clCreateCommandQueue(ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
  const size_t elems = (size_t)S * S;
  unsigned short *ha = malloc(elems * 2), *hb = malloc(elems * 2), *hc = malloc(elems * 2);
  srand(1);
  for (size_t i = 0; i < elems; i++) ha[i] = f2h((float)(rand() % 9 - 4) / 16);
  for (size_t i = 0; i < elems; i++) hb[i] = f2h((float)(rand() % 9 - 4) / 16);
  cl_mem da = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, elems * 2, ha, &err);
  cl_mem db = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, elems * 2, hb, &err);
  cl_mem dc = clCreateBuffer(ctx, CL_MEM_READ_WRITE, elems * 2, NULL, &err);
  for (int c = 3; c < argc; c++) {
    int wgs, bn, bk, stages, mw = 1, mode = 0, bswap = 0, layout = 1, no_epi = 0;
    if (sscanf(argv[c], "%d,%d,%d,%d,%d,%d,%d,%d,%d", &wgs, &bn, &bk, &stages, &mw, &mode, &bswap, &layout, &no_epi) < 4)
      return 2;
    char *h = helpers(bn);
    char *src = malloc(strlen(h) + strlen(body) + 2);
    sprintf(src, "%s\n%s", h, body);
    char opts[160];
    snprintf(opts, sizeof opts, "-DWGS=%d -DBN=%d -DBK=%d -DSTAGES=%d -DMW=%d -DMODE=%d -DLAYOUT=%d%s%s", wgs, bn, bk, stages, mw, mode,
             layout, bswap ? " -DBSWAP" : "", no_epi ? " -DNO_EPILOGUE" : "");
    const char *srcs = src;
    cl_program p = clCreateProgramWithSource(ctx, 1, &srcs, NULL, &err);
    err = clBuildProgram(p, 1, &dev, opts, NULL, NULL);
    static char log[1 << 16];
    if (err != CL_SUCCESS) {
      clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
      printf("%s: source build %d\n%.3000s\n", argv[c], err, log);
      continue;
    }
    size_t size = 0;
    clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    unsigned char *ptx = calloc(size + 1, 1);
    clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptx, &ptx, NULL);
    char *open = replace_all((char *)ptx, "//MLGA", "");
    char *re = replace_all(open, ".target sm_90", ".target sm_90a");
    if (getenv("PTX_DUMP")) {
      FILE *o = fopen(getenv("PTX_DUMP"), "w");
      fputs(re, o);
      fclose(o);
    }
    const unsigned char *bin = (const unsigned char *)re;
    size_t bin_size = strlen(re);
    cl_int st;
    cl_program pb = clCreateProgramWithBinary(ctx, 1, &dev, &bin_size, &bin, &st, &err);
    err = clBuildProgram(pb, 1, &dev, "-cl-nv-verbose", NULL, NULL); /* ptxas' register count in the log */
    clGetProgramBuildInfo(pb, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    if (err != CL_SUCCESS) {
      printf("%s: sm_90a build %d\n%.3000s\n", argv[c], err, log);
      continue;
    }
    if (log[0]) printf("%s: log %.1000s\n", argv[c], log);
    cl_kernel k = clCreateKernel(pb, "gemm", &err);
    clSetKernelArg(k, 0, sizeof da, &da);
    clSetKernelArg(k, 1, sizeof db, &db);
    clSetKernelArg(k, 2, sizeof dc, &dc);
    clSetKernelArg(k, 3, sizeof S, &S);
    clSetKernelArg(k, 4, sizeof S, &S);
    clSetKernelArg(k, 5, sizeof S, &S);
    size_t local[2] = {128 * (size_t)wgs, 1}, global[2] = {(size_t)(S / bn) * 128 * wgs, (size_t)(S / (64 * wgs * mw))};
    double times[20];
    for (int r = 0; r < 22; r++) {
      cl_event ev;
      err = clEnqueueNDRangeKernel(q, k, 2, NULL, global, local, 0, NULL, &ev);
      if (err != CL_SUCCESS) {
        printf("%s: launch %d\n", argv[c], err);
        break;
      }
      clWaitForEvents(1, &ev);
      cl_ulong t0, t1;
      clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
      clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
      if (r >= 2) times[r - 2] = (double)(t1 - t0) * 1e-6;
      clReleaseEvent(ev);
    }
    if (err != CL_SUCCESS) continue;
    clEnqueueReadBuffer(q, dc, CL_TRUE, 0, elems * 2, hc, 0, NULL, NULL);
    int bad = 0;
    for (int s = 0; s < 256; s++) {
      const int i = (s * 7919) % S, j = (s * 104729 + s / 16) % S;
      double ref = 0;
      for (int kk = 0; kk < S; kk++) ref += (double)h2f(ha[(size_t)i * S + kk]) * h2f(hb[(size_t)kk * S + j]);
      const double got = h2f(hc[(size_t)i * S + j]);
      if (fabs(got - ref) > 1e-2 * fabs(ref) + 1e-2) {
        if (bad < 4) printf("  C[%d][%d] = %g, want %g\n", i, j, got, ref);
        bad++;
      }
    }
    for (int a = 0; a < 20; a++)
      for (int b = a + 1; b < 20; b++)
        if (times[b] < times[a]) {
          double t = times[a];
          times[a] = times[b];
          times[b] = t;
        }
    const double ms = times[10];
    printf("%s: %s, %.4f ms (min %.4f), %.1f TFLOP/s\n", argv[c], bad ? "WRONG" : "right", ms, times[0],
           2.0 * S * S * S / (ms * 1e-3) / 1e12);
  }
  /* the largest local argument: NVIDIA's OpenCL reports 48 KiB */
  char *h = helpers(64), *src = malloc(strlen(h) + strlen(body) + 2);
  sprintf(src, "%s\n%s", h, body);
  const char *srcs = src;
  cl_program p = clCreateProgramWithSource(ctx, 1, &srcs, NULL, &err);
  err = clBuildProgram(p, 1, &dev, "-DWGS=1 -DBN=64 -DBK=16 -DSTAGES=2", NULL, NULL);
  cl_kernel k = clCreateKernel(p, "big_local", &err);
  cl_mem o = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 4, NULL, &err);
  for (int kb = 48; kb <= 224; kb += 16) {
    int n = kb * 256;
    clSetKernelArg(k, 0, (size_t)n * 4, NULL);
    clSetKernelArg(k, 1, sizeof o, &o);
    clSetKernelArg(k, 2, sizeof n, &n);
    size_t g = 256;
    err = clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &g, 0, NULL, NULL);
    float got = 0;
    cl_int e2 = clEnqueueReadBuffer(q, o, CL_TRUE, 0, 4, &got, 0, NULL, NULL);
    printf("local %d KiB: launch %d, read %d, %g (want %d)\n", kb, err, e2, got, n - 1);
  }
  return 0;
}

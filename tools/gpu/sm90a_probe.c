/* tools/gpu/sm90a_probe.c — does NVIDIA's OpenCL run sm_90a PTX (wgmma) handed to it as a
 * program binary? The answer decides how mlg could reach Hopper's warpgroup products, which
 * NVIDIA's OpenCL C compiler cannot target: it compiles for sm_90, ignores `-cl-nv-arch sm_90a`,
 * and its ptxas refuses `wgmma` there.
 *
 * The route probed: a kernel carries the sm_90a instructions as PTX comments of its inline asm
 * ("//MLGA ..."), which the compiler passes through with the asm operands substituted by
 * registers; the program binary (PTX text) is fetched, the comment marks removed and the target
 * set to sm_90a, and the result built with clCreateProgramWithBinary. The kernel stores the
 * value an uncommented `mov` moved, so a run that prints 7 used the rewritten PTX.
 * Build: cc -O1 -o sm90a_probe tools/gpu/sm90a_probe.c -lOpenCL. Prints one line per step and
 * exits 0 when the rewritten program ran. Seen on an H200 with driver 580 (2026-12-04): yes. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_text.h"

static const char *src =
    "__kernel void k(__global float *o, int v) {\n"
    "  uint x;\n"
    "  asm volatile(\"//MLGA wgmma.fence.sync.aligned;\\n\\t//MLGA mov.b32 %0, %1;\"\n"
    "               : \"=r\"(x) : \"r\"(v) : \"memory\");\n"
    "  o[get_global_id(0)] = (float)x;\n"
    "}\n";

int main(void) {
  cl_platform_id plats[8];
  cl_uint n_plats = 0;
  clGetPlatformIDs(8, plats, &n_plats);
  for (cl_uint i = 0; i < n_plats; i++) {
    cl_device_id d;
    if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_GPU, 1, &d, NULL) != CL_SUCCESS) continue;
    char name[256] = "";
    clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof name, name, NULL);
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &d, NULL, NULL, &err);
    cl_program from_src = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
    err = clBuildProgram(from_src, 1, &d, "", NULL, NULL);
    printf("%s: source build %d\n", name, err);
    size_t size = 0;
    clGetProgramInfo(from_src, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    unsigned char *ptx = calloc(size + 1, 1);
    if (err != CL_SUCCESS || !ptx) return 1;
    clGetProgramInfo(from_src, CL_PROGRAM_BINARIES, sizeof ptx, &ptx, NULL);
    const char *mark = strstr((char *)ptx, "//MLGA");
    printf("comment in the PTX: %.60s\n", mark ? mark : "(absent)");
    char *open = replace_all((char *)ptx, "//MLGA", "");
    char *retarget = open ? replace_all(open, ".target sm_90,", ".target sm_90a,") : NULL;
    if (!retarget || !strstr(retarget, ".target sm_90a")) {
      printf("no sm_90 target to rewrite\n");
      return 1;
    }
    const unsigned char *bin = (const unsigned char *)retarget;
    size_t bin_size = strlen(retarget);
    cl_int status;
    cl_program from_bin = clCreateProgramWithBinary(ctx, 1, &d, &bin_size, &bin, &status, &err);
    cl_int built = clBuildProgram(from_bin, 1, &d, "", NULL, NULL);
    char log[4096] = "";
    clGetProgramBuildInfo(from_bin, d, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    printf("sm_90a binary: create %d, build %d %s\n", err, built, log);
    if (built != CL_SUCCESS) return 1;
    cl_kernel k = clCreateKernel(from_bin, "k", &err);
    cl_command_queue q = clCreateCommandQueue(ctx, d, 0, &err);
    cl_mem out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 128 * sizeof(float), NULL, &err);
    int v = 7;
    clSetKernelArg(k, 0, sizeof out, &out);
    clSetKernelArg(k, 1, sizeof v, &v);
    size_t global = 128, local = 128;
    err = clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, NULL);
    float got[128] = {0};
    clEnqueueReadBuffer(q, out, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL);
    printf("run %d: %g (7: the rewritten PTX ran)\n", err, got[0]);
    return got[0] == 7.0f ? 0 : 1;
  }
  printf("no NVIDIA GPU through OpenCL\n");
  return 1;
}

/* cl_harness.c — SHARED test harness, see cl_harness.h. Include this file from one test
 * translation unit (`#include "cl_harness.c"`): tests are single-file executables. */
#include "cl_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLH_PAD = 5 }; /* leading padding elements per buffer = the bound offset */

int clh_init(clh *h) {
  memset(h, 0, sizeof(*h));
  cl_platform_id plats[8];
  cl_uint np = 0;
  if (clGetPlatformIDs(8, plats, &np) != CL_SUCCESS || np == 0) {
    fprintf(stderr, "clh: no OpenCL platform\n");
    return -1;
  }
  for (cl_uint i = 0; i < np && i < 8; i++) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, 1, &h->device, &nd) == CL_SUCCESS && nd) {
      h->platform = plats[i];
      break;
    }
  }
  if (!h->platform) {
    fprintf(stderr, "clh: no OpenCL device\n");
    return -1;
  }
  cl_int err;
  h->context = clCreateContext(NULL, 1, &h->device, NULL, NULL, &err);
  if (err != CL_SUCCESS) return -1;
  h->queue = clCreateCommandQueue(h->context, h->device, 0, &err);
  if (err != CL_SUCCESS) {
    clReleaseContext(h->context);
    h->context = NULL;
    return -1;
  }
  return 0;
}

void clh_free(clh *h) {
  if (h->queue) clReleaseCommandQueue(h->queue);
  if (h->context) clReleaseContext(h->context);
  memset(h, 0, sizeof(*h));
}

char *clh_source(const kir_kernel *k) {
  char *src = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&src, &len);
  if (!f) return NULL;
  int rc = kir_print_opencl_kernel(k, f);
  fclose(f);
  if (rc) {
    free(src);
    return NULL;
  }
  return src;
}

int clh_run(clh *h, const kir_kernel *k, const int64_t groups[3], void *const *host,
            const size_t *count) {
  int rc = -1;
  cl_int err = CL_SUCCESS;
  cl_program prog = NULL;
  cl_kernel kern = NULL;
  cl_mem mems[64] = {0};
  if (k->n_buffers > 64) return -1;
  char *src = clh_source(k);
  if (!src) return -1;
  const char *srcs[1] = {src};
  prog = clCreateProgramWithSource(h->context, 1, srcs, NULL, &err);
  if (err != CL_SUCCESS) goto done;
  if (clBuildProgram(prog, 1, &h->device, "-cl-std=CL1.2", NULL, NULL) != CL_SUCCESS) {
    size_t n = 0;
    clGetProgramBuildInfo(prog, h->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
      clGetProgramBuildInfo(prog, h->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
      log[n] = '\0';
      fprintf(stderr, "clh: build of %s failed:\n%s\n--- source ---\n%s\n", k->name, log, src);
      free(log);
    }
    goto done;
  }
  kern = clCreateKernel(prog, k->name, &err);
  if (err != CL_SUCCESS) goto done;
  for (int i = 0; i < k->n_buffers; i++) {
    size_t elem = (size_t)kir_storage_bytes(k->buffers[i].elem.scalar); /* as the kernel stores it */
    size_t bytes = (count[i] + CLH_PAD) * elem;
    unsigned char *init = malloc(bytes);
    if (!init) goto done;
    memset(init, 0xff, CLH_PAD * elem); /* NaN / -1 padding */
    memcpy(init + CLH_PAD * elem, host[i], count[i] * elem);
    mems[i] = clCreateBuffer(h->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, init, &err);
    free(init);
    if (err != CL_SUCCESS) goto done;
    cl_uint off = CLH_PAD;
    if (clSetKernelArg(kern, (cl_uint)(2 * i), sizeof(cl_mem), &mems[i]) != CL_SUCCESS ||
        clSetKernelArg(kern, (cl_uint)(2 * i + 1), sizeof(cl_uint), &off) != CL_SUCCESS) {
      fprintf(stderr, "clh: cannot set argument %d of %s\n", i, k->name);
      goto done;
    }
  }
  size_t global[3], local[3];
  for (int d = 0; d < 3; d++) {
    local[d] = (size_t)k->local_size[d];
    global[d] = (size_t)groups[d] * local[d];
  }
  err = clEnqueueNDRangeKernel(h->queue, kern, 3, NULL, global, local, 0, NULL, NULL);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clh: enqueue of %s failed (%d)\n", k->name, err);
    goto done;
  }
  for (int i = 0; i < k->n_buffers; i++) {
    if (!(k->buffers[i].access & KIR_WRITE)) continue;
    size_t elem = (size_t)kir_storage_bytes(k->buffers[i].elem.scalar);
    err = clEnqueueReadBuffer(h->queue, mems[i], CL_TRUE, CLH_PAD * elem, count[i] * elem, host[i], 0,
                              NULL, NULL);
    if (err != CL_SUCCESS) goto done;
  }
  rc = 0;
done:
  if (rc) fprintf(stderr, "clh: running %s failed (%d)\n", k->name, err);
  for (int i = 0; i < 64; i++)
    if (mems[i]) clReleaseMemObject(mems[i]);
  if (kern) clReleaseKernel(kern);
  if (prog) clReleaseProgram(prog);
  free(src);
  return rc;
}

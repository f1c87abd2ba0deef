/* cl_harness.h — SHARED test harness (used by test_templates_shape.c and the compute-template
 * tests): runs one kir kernel on the first OpenCL device (PoCL here) straight through the
 * OpenCL API, without the runtime library. Include "cl_harness.c" once from the test file.
 *
 * Each kernel buffer parameter gets its own cl_mem; to exercise the (buffer, offset) binding,
 * every buffer is allocated with a few leading padding elements (filled with a NaN pattern)
 * and bound with that non-zero element offset. */
#ifndef MLG_CL_HARNESS_H
#define MLG_CL_HARNESS_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "kir.h"

typedef struct clh {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
} clh;

/* Opens the first device of the first platform that has one. Returns 0, or -1 (message on
 * stderr) when there is no OpenCL device. */
int  clh_init(clh *h);
void clh_free(clh *h);

/* Prints kernel k as OpenCL C, builds it, and runs it with `groups` work-groups of the kernel's
 * fixed local size. host[i] points at count[i] elements (float or int32_t, as the buffer's
 * element type) for buffer parameter i, in order; buffers the kernel writes are read back into
 * host[i]. Returns 0, or -1 with the reason (and the build log) on stderr. */
int  clh_run(clh *h, const kir_kernel *k, const int64_t groups[3], void *const *host,
             const size_t *count);

/* The kernel's OpenCL C source (malloc'd), or NULL. */
char *clh_source(const kir_kernel *k);

#endif

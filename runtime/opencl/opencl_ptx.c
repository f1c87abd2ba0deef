/* opencl_ptx.c — programs with warpgroup products (kir.h KIR_FEATURE_WGMMA): NVIDIA's OpenCL
 * C compiler targets sm_90, whose ptxas refuses Hopper's wgmma, so the printed kernels carry
 * those instructions as PTX comments marked "//MLGA" (opencl_printer.c). A program built from
 * such source is rebuilt here from its own PTX with the marks removed and the target set to
 * sm_90a (measured on an H200, driver 580: tools/gpu/sm90a_probe.c).
 * Thread safety: reentrant. */
#include "opencl_internal.h"

#include <stdlib.h>
#include <string.h>

#define MARK "//MLGA"
#define TARGET ".target sm_90"

int mlg_cl_ptx_marked(const void *source, size_t size) {
  const char *s = source;
  const size_t n = sizeof MARK - 1;
  for (size_t i = 0; i + n <= size; i++)
    if (s[i] == '/' && memcmp(s + i, MARK, n) == 0) return 1;
  return 0;
}

int mlg_cl_ptx_retarget(const char *ptx, size_t size, char **out_ptx, size_t *out_size) {
  *out_ptx = NULL;
  *out_size = 0;
  /* The target line must say sm_90 exactly (a device of compute capability 9.0). */
  const char *t = NULL;
  for (size_t i = 0; i + sizeof TARGET <= size; i++)
    if (memcmp(ptx + i, TARGET, sizeof TARGET - 1) == 0) {
      const char next = ptx[i + sizeof TARGET - 1];
      if (next == ',' || next == '\n' || next == ' ' || next == '\r') t = ptx + i;
      break;
    }
  if (!t) return -1;
  char *o = malloc(size + 2);
  if (!o) return -1;
  size_t w = 0;
  for (size_t i = 0; i < size;) {
    if (ptx + i == t) {
      memcpy(o + w, TARGET "a", sizeof TARGET);
      w += sizeof TARGET;
      i += sizeof TARGET - 1;
    } else if (ptx[i] == '/' && i + sizeof MARK - 1 <= size && memcmp(ptx + i, MARK, sizeof MARK - 1) == 0) {
      i += sizeof MARK - 1;
    } else {
      o[w++] = ptx[i++];
    }
  }
  o[w] = '\0';
  *out_ptx = o;
  *out_size = w;
  return 0;
}

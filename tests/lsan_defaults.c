/* lsan_defaults.c — compiled into every executable of a sanitizer build (MLG_SANITIZE, see
 * mlg_sanitizer_defaults in the top-level CMakeLists.txt): what makes its leak check at exit
 * sound and reliable however a program is started (by ctest, by tools/test.sh, or by hand).
 *
 * - LeakSanitizer's defaults: the driver leaks that tests/lsan.supp describes are suppressed.
 *   The list is tests/lsan.supp's own, passed in by CMake as MLG_LSAN_SUPPRESSIONS.
 * - PoCL's single-threaded `basic` device. PoCL's default `pthread` device keeps worker threads
 *   alive until exit, and LeakSanitizer's tracer, which stops every thread of the process for
 *   the check at exit, has crashed among them ("Tracer caught signal 11 ... LeakSanitizer has
 *   encountered a fatal error") in forked Check children on a busy machine, failing tests that
 *   had passed. `basic` runs kernels on the calling thread, so the process is single-threaded
 *   when the check runs. The same kernels are compiled by the same LLVM; the multi-threaded
 *   device is still exercised by the fixture suites, which say POCL_DEVICES=pthread and turn
 *   leak detection off (tests/CMakeLists.txt). An explicit POCL_DEVICES always wins. */
#include <stdlib.h>

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return MLG_LSAN_SUPPRESSIONS; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

/* Before main, so before the first OpenCL call reads it. */
__attribute__((constructor)) static void single_threaded_pocl(void) { setenv("POCL_DEVICES", "basic", 0); }

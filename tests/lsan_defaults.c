/* lsan_defaults.c — compiled into every executable of a sanitizer build (MLG_SANITIZE, see
 * mlg_sanitizer_defaults in the top-level CMakeLists.txt): LeakSanitizer's defaults, so the
 * driver leaks that tests/lsan.supp describes are suppressed however a program is started (by
 * ctest, by tools/test.sh, or by hand). The list is tests/lsan.supp's own, passed in by CMake
 * as MLG_LSAN_SUPPRESSIONS. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return MLG_LSAN_SUPPRESSIONS; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

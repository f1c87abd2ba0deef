/* kt_check.h — an assertion shared by the template suites: a template call that must fail and
 * say why (codegen/templates/kt_util.h: the reason is left in the module). */
#ifndef MLG_TEST_KT_CHECK_H
#define MLG_TEST_KT_CHECK_H

#include <check.h>
#include <string.h>

#include "kir.h"

/* `call` returns -1 and leaves in m a reason that contains `why`. */
#define ASSERT_REJECTS(m, call, why)                                                        \
  do {                                                                                      \
    kir_module_clear_error(m);                                                              \
    ck_assert_int_eq((call), -1);                                                           \
    ck_assert_msg(strstr(kir_module_error(m), (why)) != NULL, "reason '%s' lacks '%s'",     \
                  kir_module_error(m), (why));                                              \
  } while (0)

#endif

/* mlg_version.h — the version of mlg.h's macros as a string, for the runtime's cache keys, the
 * bundles' producer and the tools' --version. */
#ifndef MLG_VERSION_H
#define MLG_VERSION_H

#include "include/mlg.h"

#define MLG_VERSION_STR_(x) #x
#define MLG_VERSION_STR(x) MLG_VERSION_STR_(x)
#define MLG_VERSION_STRING \
  MLG_VERSION_STR(MLG_VERSION_MAJOR) "." MLG_VERSION_STR(MLG_VERSION_MINOR) "." MLG_VERSION_STR(MLG_VERSION_PATCH)

#endif

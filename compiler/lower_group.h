/* lower_group.h — lowering one fusion group (fuse.h) into one kernel; used by lower.c.
 * The helpers anchor hooks call are declared in lower_util.h. Thread safety: reentrant. */
#ifndef MLG_LOWER_GROUP_H
#define MLG_LOWER_GROUP_H

#include "lower.h"

/* Emits the kernel of group `group` of ctx->fusion. Returns 0, or -1 (reported). */
int mlg_lower_group(mlg_lower_ctx *ctx, int group);

#endif

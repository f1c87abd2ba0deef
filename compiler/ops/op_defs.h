/* op_defs.h — extern declarations of every op definition, for code that needs one op by
 * identity (a pass asking "is this node a transpose?": node->op == &mlg_op_transpose). */
#ifndef MLG_OP_DEFS_H
#define MLG_OP_DEFS_H

#include "../op.h"

#define MLG_OP(sym) extern const mlg_op_def mlg_op_##sym;
#include "op_list.h"
#undef MLG_OP

#endif

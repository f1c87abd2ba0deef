/* checker.h — from AST to graph: name resolution, fn inlining, dims, dtypes and shapes.
 * (Not named check.h: that would shadow the Check test framework's <check.h>.)
 * Thread safety: reentrant. */
#ifndef MLG_CHECKER_H
#define MLG_CHECKER_H

#include "ast.h"
#include "diag.h"
#include "graph.h"

typedef struct mlg_dim_binding {
  const char *name;   /* a `dim` of the model */
  int64_t value;
} mlg_dim_binding;

typedef struct mlg_check_options {
  int n_dims;                     /* -D NAME=VALUE overrides */
  const mlg_dim_binding *dims;
} mlg_check_options;

/* Checks the AST and builds its graph. Reports every error it can find to diag (continuing past
 * a bad statement where the rest can still be checked: a binding whose value failed is marked
 * poisoned so that its uses raise no further errors). A -D for a name that is not a dim is an
 * error. Returns the graph (free with mlg_graph_free) when diag has no errors, else NULL. */
mlg_graph *mlg_check(const mlg_ast *ast, const mlg_check_options *options, mlg_diag *diag);

#endif

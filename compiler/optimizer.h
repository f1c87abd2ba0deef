/* optimizer.h — the parameter update of a train step, as graph ops: the optimizers a `train
 * LOSS with OPT(...)` statement names (sgd, adam, adamw), computed exactly as torch.optim's SGD,
 * Adam and AdamW (the single-tensor forms of PyTorch 1.13), their hyperparameters, and the
 * state they keep between steps (MLG_NODE_STATE leaves, zeros when a session starts).
 *
 * The update of each param and its state are elementwise ops of the same shape, which fusion
 * puts in one kernel per param (fuse.h); the graph's updates (graph.h mlg_graph_update) say
 * which leaf each new value replaces.
 * Thread safety: reentrant; the tables are immutable. */
#ifndef MLG_OPTIMIZER_H
#define MLG_OPTIMIZER_H

#include <stddef.h>

#include "graph.h"

typedef enum mlg_optimizer_kind { MLG_OPT_SGD, MLG_OPT_ADAM, MLG_OPT_ADAMW } mlg_optimizer_kind;

typedef struct mlg_optimizer {
  mlg_optimizer_kind kind;
  double lr;
  double momentum;       /* sgd */
  int nesterov;          /* sgd: 0 or 1 */
  double beta1, beta2, eps; /* adam, adamw */
  double weight_decay;   /* sgd, adam: added to the gradient (L2); adamw: decoupled */
} mlg_optimizer;

/* One hyperparameter as the language spells it, in positional order. */
typedef struct mlg_optimizer_param {
  const char *name;      /* "lr", "momentum", ... */
  size_t offset;         /* of its double (or, for a flag, its int) in mlg_optimizer */
  int is_flag;           /* an int that is 0 or 1 (nesterov) */
  int required;          /* no default (sgd's lr, as torch.optim.SGD) */
} mlg_optimizer_param;

/* The optimizer called `name` with its defaults (torch.optim's) in *out, and its
 * hyperparameters in *out_params (n of them). Returns 0, or -1 for an unknown name. */
int  mlg_optimizer_init(const char *name, mlg_optimizer *out, const mlg_optimizer_param **out_params,
                        int *out_n);
/* The names of the optimizers, for messages: "sgd, adam, adamw". */
const char *mlg_optimizer_names(void);
/* Checks the hyperparameters as torch.optim does; 0, or -1 with a message naming the one at
 * fault ("lr must be >= 0, got -1") in err. */
int  mlg_optimizer_validate(const mlg_optimizer *o, char *err, size_t err_size);
/* "sgd(lr=0.1, momentum=0.9)": the name and every hyperparameter that differs from 0 (sgd) or
 * all of them (adam, adamw), shortest round-trip spellings. */
void mlg_optimizer_format(const mlg_optimizer *o, char *buf, size_t size);

/* Appends to b's graph the update of params[i] (trained param leaves) from grads[i] (their
 * gradients), with the state leaves the optimizer keeps, and records every new value as a
 * graph update of its leaf; nodes take `span`. State leaves are named after their param as
 * torch.optim names them ("fc1.weight.momentum_buffer", ".exp_avg", ".exp_avg_sq"; Adam's
 * bias corrections "optimizer.bias_correction1" and "2"). Returns 0, or -1 with a message in
 * err (a state name that another leaf already has, or memory). */
int  mlg_optimizer_build(mlg_graph_builder *b, const mlg_optimizer *o, const int *params,
                         const int *grads, int n, mlg_span span, char *err, size_t err_size);

#endif

/* pass_qdq.c — the QDQ pattern of quantized models turned into one integer op:
 *
 *   quantize_linear(E(L(dequantize_linear(qx, xs, xz), dequantize_linear(qw, ws, wz)) + bias),
 *                   ys, yz)
 *     = qlinear_conv2d(qx, xs, xz, qw, ws, wz, ys, yz, bias_q, <L's attributes>, lo, hi)
 *       (L conv2d), or qlinear_matmul(qx, xs, xz, qw, ws, wz, ys, yz, bias_q, lo, hi)
 *       (L matmul; for linear, qw transposed to [in, out])
 *
 * where L is conv2d (its bias, or a following `+ bias`), matmul or linear (its bias or a
 * following `+ bias`), and E is nothing, relu or clamp(lo, hi). The epilogue moves onto the
 * integers exactly: quantization is monotone, so quantize(relu(v)) = max(quantize(v), yz) and
 * quantize(clamp(v, lo, hi)) = clamp(quantize(v), quantize(lo), quantize(hi)). The f32 bias
 * becomes i32 as ONNX's quantizers make it: round(bias / (xs · ws[o])), with xs · ws[o] in f32.
 *
 * Conditions: xs, xz, ys, yz 0-d; ws, wz 0-d or per output channel (conv2d and linear: axis 0
 * of qw; matmul: axis 1); qw 2-D for matmul and linear; every scale, zero point and bias a
 * const (the bias needs xs and ws to be quantized); L, the add and E used only by the next
 * node of the pattern and no output. The dequantize nodes stay for their other users (dce drops
 * them otherwise). The result: integer products accumulated in i32 and one requantization,
 * as ONNX QLinearConv / QLinearMatMul; it may differ from the f32 QDQ graph by one quantum
 * where f32 rounding of the dequantized sums lands on the other side of a tie. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "ops/op_defs.h"
#include "optimize.h"

typedef struct qdq_match {
  int q;               /* the quantize_linear node (the result) */
  int epi;             /* relu / clamp node, or -1 */
  int add;             /* the `+ bias` node, or -1 */
  int lin;             /* conv2d / matmul / linear */
  int dqx, dqw;        /* the two dequantize_linear nodes */
  int bias;            /* the f32 bias const (L's own or the add's), or -1 */
} qdq_match;

static int is_op(const mlg_graph *g, int id, const mlg_op_def *op) {
  return id >= 0 && g->nodes[id].kind == MLG_NODE_OP && g->nodes[id].op == op;
}

static int is_const(const mlg_graph *g, int id) { return g->nodes[id].kind == MLG_NODE_CONST; }

/* Input k of n, or -1 when n has no such input. */
static int input(const mlg_node *n, int k) { return k < n->n_inputs ? n->inputs[k] : -1; }

/* A scale and zero point: consts, 0-d (per_axis < 0) or also [channels] along per_axis. */
static int qparams_ok(const mlg_graph *g, const mlg_node *dq, int64_t channels, int per_axis) {
  int s = input(dq, 1), z = input(dq, 2);
  if (!is_const(g, s) || (z >= 0 && !is_const(g, z))) return 0;
  const mlg_type *st = &g->nodes[s].type;
  if (st->rank == 0) return 1;
  return per_axis >= 0 && st->rank == 1 && st->dims[0] == channels &&
         mlg_attr_int(dq, 0) == per_axis;
}

/* The channel count of a bias const for L's output `out` (conv: dim 1, else the last), if
 * `b` is an f32 const whose one non-1 dim lines up with it; else -1. */
static int64_t bias_channels(const mlg_graph *g, int b, const mlg_type *out, int conv) {
  if (b < 0 || !is_const(g, b)) return -1;
  const mlg_type *t = &g->nodes[b].type;
  if (t->dtype != MLG_F32 || t->rank > out->rank) return -1;
  int ch = conv ? 1 : out->rank - 1;
  int64_t c = out->dims[ch];
  for (int d = 0; d < t->rank; d++) {
    int od = out->rank - t->rank + d;
    if (t->dims[d] != (od == ch ? c : 1)) return -1;
  }
  return t->rank == 0 ? -1 : c;
}

/* Whether node q roots the pattern; fills *m. uses[i]: consumers of node i (outputs count). */
static int match(const mlg_graph *g, const int *uses, int q, qdq_match *m) {
  const mlg_node *qn = &g->nodes[q];
  if (!is_op(g, q, &mlg_op_quantize_linear) || qn->n_inputs != 3) return 0;
  if (!is_const(g, qn->inputs[1]) || !is_const(g, qn->inputs[2]) ||
      g->nodes[qn->inputs[1]].type.rank != 0 || g->nodes[qn->inputs[2]].type.rank != 0)
    return 0;
  *m = (qdq_match){.q = q, .epi = -1, .add = -1, .bias = -1};
  int v = qn->inputs[0];
  if ((is_op(g, v, &mlg_op_relu) || is_op(g, v, &mlg_op_clamp)) && uses[v] == 1) {
    m->epi = v;
    v = g->nodes[v].inputs[0];
  }
  if (is_op(g, v, &mlg_op_add) && uses[v] == 1) {
    m->add = v;
    m->bias = g->nodes[v].inputs[1];
    v = g->nodes[v].inputs[0];
  }
  const mlg_node *ln = &g->nodes[v];
  int conv = is_op(g, v, &mlg_op_conv2d), mm = is_op(g, v, &mlg_op_matmul);
  int lin = is_op(g, v, &mlg_op_linear);
  if ((!conv && !mm && !lin) || uses[v] != 1) return 0;
  m->lin = v;
  if (ln->n_inputs == 3) {
    if (m->bias >= 0) return 0; /* two biases: left as they are */
    m->bias = ln->inputs[2];
  }
  m->dqx = ln->inputs[0];
  m->dqw = ln->inputs[1];
  if (!is_op(g, m->dqx, &mlg_op_dequantize_linear) || !is_op(g, m->dqw, &mlg_op_dequantize_linear))
    return 0;
  const mlg_node *dx = &g->nodes[m->dqx], *dw = &g->nodes[m->dqw];
  mlg_ir_dtype xt = g->nodes[dx->inputs[0]].type.dtype, wt = g->nodes[dw->inputs[0]].type.dtype;
  if ((xt != MLG_I8 && xt != MLG_U8) || (wt != MLG_I8 && wt != MLG_U8)) return 0;
  const mlg_type *wtp = &g->nodes[dw->inputs[0]].type;
  if ((mm || lin) && (wtp->rank != 2 || ln->type.rank < 2)) return 0;
  int64_t channels = conv || lin ? wtp->dims[0] : wtp->dims[1];
  if (!qparams_ok(g, dx, 0, -1) || !qparams_ok(g, dw, channels, mm ? 1 : 0)) return 0;
  if (ln->n_inputs == 3) { /* L's own bias: [channels] */
    const mlg_type *bt = &g->nodes[m->bias].type;
    if (!is_const(g, m->bias) || bt->dtype != MLG_F32 || bt->rank != 1) return 0;
  } else if (m->bias >= 0 && bias_channels(g, m->bias, &ln->type, conv) != channels) {
    return 0;
  }
  return 1;
}

static int add_node(mlg_rewriter *rw, const mlg_node *n) {
  int id = mlg_graph_add(&rw->builder, n);
  if (id < 0) rw->failed = 1;
  return id;
}

/* A 0-d or [count] const of dtype filled with `value`, named `name`. */
static int add_filled(mlg_rewriter *rw, const char *name, mlg_ir_dtype dtype, int64_t count,
                      int rank, double value, mlg_span span) {
  void *data = calloc((size_t)count, (size_t)mlg_dtype_size(dtype));
  if (!data) {
    rw->failed = 1;
    return -1;
  }
  for (int64_t i = 0; i < count; i++) mlg_data_set(dtype, data, i, value);
  mlg_node k = {.kind = MLG_NODE_CONST, .name = name, .span = span, .data = data,
                .type = {.dtype = dtype, .rank = rank, .dims = {count}}};
  int id = add_node(rw, &k);
  free(data);
  return id;
}

/* The zero point of dequantize node dq in the new graph (a const 0 when it has none). */
static int zero_point(mlg_rewriter *rw, const mlg_node *dq) {
  const mlg_graph *g = rw->src;
  if (dq->n_inputs == 3) return rw->map[dq->inputs[2]];
  const mlg_type *s = &g->nodes[dq->inputs[1]].type;
  return add_filled(rw, NULL, g->nodes[dq->inputs[0]].type.dtype, s->rank ? s->dims[0] : 1,
                    s->rank, 0.0, dq->span);
}

/* round(bias[o] / (xs · ws[o])) as an i32 [channels] const, or -1 (a value beyond i32). */
static int quantized_bias(mlg_rewriter *rw, const qdq_match *m, int64_t channels) {
  const mlg_graph *g = rw->src;
  const mlg_node *dx = &g->nodes[m->dqx], *dw = &g->nodes[m->dqw];
  const mlg_node *xs = &g->nodes[dx->inputs[1]], *ws = &g->nodes[dw->inputs[1]];
  const mlg_node *b = &g->nodes[m->bias];
  int32_t *q = malloc(sizeof(int32_t) * (size_t)channels);
  if (!q) {
    rw->failed = 1;
    return -1;
  }
  int ok = 1;
  for (int64_t o = 0; o < channels && ok; o++) {
    float s = (float)mlg_data_get(MLG_F32, xs->data, 0) *
              (float)mlg_data_get(MLG_F32, ws->data, ws->type.rank ? o : 0);
    double v = nearbyint(mlg_data_get(MLG_F32, b->data, o) / (double)s);
    ok = s > 0 && isfinite(v) && fabs(v) < 2147483647.0;
    q[o] = ok ? (int32_t)v : 0;
  }
  int id = -1;
  if (ok) {
    mlg_node k = {.kind = MLG_NODE_CONST, .name = b->name, .span = b->span, .data = q,
                  .type = {.dtype = MLG_I32, .rank = 1, .dims = {channels}}};
    id = add_node(rw, &k);
  }
  free(q);
  return id;
}

/* The integer range [lo, hi] the epilogue leaves of y = quantize(v, ys, yz), as attributes. */
static void epilogue_range(const mlg_graph *g, const qdq_match *m, mlg_attr *lo, mlg_attr *hi) {
  if (m->epi < 0) return;
  const mlg_node *qn = &g->nodes[m->q], *e = &g->nodes[m->epi];
  double ys = mlg_data_get(MLG_F32, g->nodes[qn->inputs[1]].data, 0);
  mlg_ir_dtype qt = qn->type.dtype;
  double yz = mlg_data_get(qt, g->nodes[qn->inputs[2]].data, 0);
  double tlo = qt == MLG_I8 ? -128 : 0, thi = qt == MLG_I8 ? 127 : 255;
  double flo = 0.0, fhi = INFINITY;
  if (e->op == &mlg_op_clamp) {
    flo = mlg_attr_float(e, 0);
    fhi = mlg_attr_float(e, 1);
  }
  /* quantize_linear's own arithmetic: rint(f32(v) / ys) + yz, saturated */
  double l = nearbyint((double)((float)flo / (float)ys)) + yz;
  double h = isinf(fhi) ? thi : nearbyint((double)((float)fhi / (float)ys)) + yz;
  l = l < tlo ? tlo : l > thi ? thi : l;
  h = h < tlo ? tlo : h > thi ? thi : h;
  *lo = (mlg_attr){.kind = MLG_ATTR_INT, .n = 1, .ints = {(int64_t)l}};
  *hi = (mlg_attr){.kind = MLG_ATTR_INT, .n = 1, .ints = {(int64_t)h}};
}

/* Emits the integer op replacing match m; returns its id or -1. */
static int emit(mlg_rewriter *rw, const qdq_match *m) {
  const mlg_graph *g = rw->src;
  const mlg_node *qn = &g->nodes[m->q], *ln = &g->nodes[m->lin];
  const mlg_node *dx = &g->nodes[m->dqx], *dw = &g->nodes[m->dqw];
  int conv = ln->op == &mlg_op_conv2d, lin = ln->op == &mlg_op_linear;
  const mlg_type *wt = &g->nodes[dw->inputs[0]].type;
  int64_t channels = conv || lin ? wt->dims[0] : wt->dims[1];
  int w = rw->map[dw->inputs[0]];
  if (lin) { /* linear's weight [out, in] as qlinear_matmul's b [in, out] */
    mlg_node t = {.kind = MLG_NODE_OP, .op = &mlg_op_transpose, .span = dw->span, .n_inputs = 1,
                  .inputs = &w, .type = {.dtype = wt->dtype, .rank = 2,
                                         .dims = {wt->dims[1], wt->dims[0]}}};
    t.attrs[0] = (mlg_attr){.kind = MLG_ATTR_INTS, .n = 2, .ints = {1, 0}};
    w = add_node(rw, &t);
  }
  int in[9] = {rw->map[dx->inputs[0]], rw->map[dx->inputs[1]], zero_point(rw, dx), w,
               rw->map[dw->inputs[1]], zero_point(rw, dw), rw->map[qn->inputs[1]],
               rw->map[qn->inputs[2]], -1};
  int n_in = 8;
  if (m->bias >= 0) {
    in[8] = quantized_bias(rw, m, channels);
    if (in[8] < 0) return -1;
    n_in = 9;
  }
  for (int k = 0; k < n_in; k++)
    if (in[k] < 0) return -1;
  mlg_node n = {.kind = MLG_NODE_OP, .name = qn->name, .type = qn->type, .span = qn->span,
                .n_inputs = n_in, .inputs = in};
  if (conv) {
    n.op = &mlg_op_qlinear_conv2d;
    for (int k = 0; k < 4; k++) n.attrs[k] = ln->attrs[k];
    epilogue_range(g, m, &n.attrs[4], &n.attrs[5]);
  } else {
    n.op = &mlg_op_qlinear_matmul;
    epilogue_range(g, m, &n.attrs[0], &n.attrs[1]);
  }
  return add_node(rw, &n);
}

mlg_graph *mlg_pass_qdq_n(const mlg_graph *g, int *out_rewrites) {
  if (out_rewrites) *out_rewrites = 0;
  size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
  int *uses = calloc(n, sizeof(int));
  qdq_match *ms = malloc(n * sizeof(*ms));
  char *matched = calloc(n, 1);
  mlg_rewriter rw;
  if (!uses || !ms || !matched || mlg_rewriter_init(&rw, g) != 0) {
    free(uses);
    free(ms);
    free(matched);
    return NULL;
  }
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) uses[g->nodes[i].inputs[k]]++;
  for (int o = 0; o < g->n_outputs; o++) uses[g->outputs[o].node]++;
  for (int i = 0; i < g->n_nodes; i++) matched[i] = (char)match(g, uses, i, &ms[i]);
  int rewrites = 0;
  for (int i = 0; i < g->n_nodes && !rw.failed; i++) {
    /* The pattern's inner nodes were copied in their turn; dce drops them. A bias that does
     * not fit in i32 keeps the f32 graph. */
    int id = matched[i] ? emit(&rw, &ms[i]) : -1;
    if (id >= 0) {
      rw.map[i] = id;
      rewrites++;
    } else if (!rw.failed) {
      mlg_rewriter_copy(&rw, i);
    }
  }
  free(uses);
  free(ms);
  free(matched);
  if (out_rewrites) *out_rewrites = rewrites;
  return mlg_rewriter_finish(&rw);
}

mlg_graph *mlg_pass_qdq(const mlg_graph *g) { return mlg_pass_qdq_n(g, NULL); }

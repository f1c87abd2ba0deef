/* test_passes.c — the optimizer's rewriting passes: the kir scalar evaluator (against libm, in
 * float32), constant folding, algebraic simplification, batch_norm folding, and the -O pipeline
 * on the example models. Each rule has a case where it applies and one where it must not. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "graph.h"
#include "kir.h"
#include "kir_eval.h"
#include "ops/op_defs.h"
#include "optimize.h"
#include "templates/elementwise.h"
#include "weights.h"

/* ---------------------------------------------------------------- kir_eval */

typedef struct eval_fixture {
  kir_module *m;
  kir_builder *b;
} eval_fixture;

static eval_fixture ev_begin(void) {
  eval_fixture f;
  f.m = kir_module_new();
  ck_assert_ptr_nonnull(f.m);
  f.b = kir_kernel_begin(f.m, "t", 1, 1, 1);
  ck_assert_ptr_nonnull(f.b);
  return f;
}

static void ev_end(eval_fixture *f) {
  kir_kernel_end(f->b, NULL);
  kir_module_free(f->m);
}

static kir_value ev(const kir_expr *e) {
  kir_value v;
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(kir_eval(e, NULL, &v), 0);
  return v;
}

static float evf(const kir_expr *e) {
  kir_value v = ev(e);
  ck_assert_int_eq(v.type, KIR_F32);
  return v.f;
}

/* Same float, NaN equal to NaN, -0 distinct from +0. */
static int same_float(float a, float b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return memcmp(&a, &b, sizeof a) == 0;
}

/* fminf/fmaxf of a +0 and a -0: C leaves the sign of the zero they return unspecified (an inlined
 * minss and a libm call answer differently), so any zero is right there; elsewhere the result
 * must be `want` exactly. */
static int same_min_max(float got, float want, float x, float y) {
  if (x == 0.0f && y == 0.0f) return got == 0.0f;
  return same_float(got, want);
}

static const float probe[] = {-3.5f, -1.0f, -0.5f, -0.0f, 0.0f, 0.25f, 1.0f, 2.7f, 10.0f,
                              88.0f, -100.0f, INFINITY, -INFINITY, NAN, 1e-30f};
enum { N_PROBE = sizeof(probe) / sizeof(probe[0]) };

START_TEST(test_eval_unops_match_libm) {
  eval_fixture f = ev_begin();
  for (int i = 0; i < N_PROBE; i++) {
    float x = probe[i];
    kir_expr *c = kir_f32(f.b, x);
    ck_assert(same_float(evf(kir_un(f.b, KIR_NEG, c)), -x));
    ck_assert(same_float(evf(kir_un(f.b, KIR_ABS, c)), fabsf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_EXP, c)), expf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_LOG, c)), logf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_SQRT, c)), sqrtf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_RSQRT, c)), 1.0f / sqrtf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_TANH, c)), tanhf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_ERF, c)), erff(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_FLOOR, c)), floorf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_CEIL, c)), ceilf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_SIN, c)), sinf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_COS, c)), cosf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_TAN, c)), tanf(x)));
    ck_assert(same_float(evf(kir_un(f.b, KIR_ROUND, c)), rintf(x)));
    kir_value nv = ev(kir_un(f.b, KIR_NOT, kir_bin(f.b, KIR_LT, c, kir_f32(f.b, 0.0))));
    ck_assert_int_eq(nv.type, KIR_BOOL);
    ck_assert_int_eq(nv.i, !(x < 0.0f));
  }
  /* round: ties to even */
  const float ties[][2] = {{0.5f, 0.0f}, {1.5f, 2.0f}, {2.5f, 2.0f}, {-0.5f, -0.0f},
                           {-2.5f, -2.0f}, {-3.5f, -4.0f}, {2.4999998f, 2.0f}};
  for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++)
    ck_assert(same_float(evf(kir_un(f.b, KIR_ROUND, kir_f32(f.b, ties[i][0]))), ties[i][1]));
  /* Against double-precision references: float32 results within a few ulp. */
  ck_assert_float_eq_tol(evf(kir_un(f.b, KIR_EXP, kir_f32(f.b, 1.0))), (float)exp(1.0), 1e-6);
  ck_assert_float_eq_tol(evf(kir_un(f.b, KIR_ERF, kir_f32(f.b, 0.5))), (float)erf(0.5), 1e-6);
  ck_assert_float_eq_tol(evf(kir_un(f.b, KIR_TANH, kir_f32(f.b, 0.3))), (float)tanh(0.3), 1e-6);
  /* round: halves to even, as torch.round. */
  ck_assert(same_float(evf(kir_un(f.b, KIR_ROUND, kir_f32(f.b, 2.5))), 2.0f));
  ck_assert(same_float(evf(kir_un(f.b, KIR_ROUND, kir_f32(f.b, -3.5))), -4.0f));
  ck_assert_int_eq(ev(kir_un(f.b, KIR_ROUND, kir_i32(f.b, -7))).i, -7);
  /* Integer unary ops. */
  ck_assert_int_eq(ev(kir_un(f.b, KIR_NEG, kir_i32(f.b, 5))).i, -5);
  ck_assert_int_eq(ev(kir_un(f.b, KIR_NEG, kir_i32(f.b, INT32_MIN))).i, INT32_MIN); /* wraps */
  ck_assert_int_eq(ev(kir_un(f.b, KIR_ABS, kir_i32(f.b, -7))).i, 7);
  kir_value bad;
  ck_assert_int_eq(kir_eval(kir_un(f.b, KIR_EXP, kir_i32(f.b, 1)), NULL, &bad), -1);
  ev_end(&f);
}
END_TEST

START_TEST(test_eval_binops_match_libm) {
  eval_fixture f = ev_begin();
  for (int i = 0; i < N_PROBE; i++) {
    for (int j = 0; j < N_PROBE; j++) {
      float x = probe[i], y = probe[j];
      kir_expr *a = kir_f32(f.b, x), *c = kir_f32(f.b, y);
      ck_assert(same_float(evf(kir_bin(f.b, KIR_ADD, a, c)), (float)(x + y)));
      ck_assert(same_float(evf(kir_bin(f.b, KIR_SUB, a, c)), (float)(x - y)));
      ck_assert(same_float(evf(kir_bin(f.b, KIR_MUL, a, c)), (float)(x * y)));
      ck_assert(same_float(evf(kir_bin(f.b, KIR_DIV, a, c)), (float)(x / y)));
      ck_assert(same_float(evf(kir_bin(f.b, KIR_MOD, a, c)), fmodf(x, y)));
      ck_assert(same_min_max(evf(kir_bin(f.b, KIR_MIN, a, c)), fminf(x, y), x, y));
      ck_assert(same_min_max(evf(kir_bin(f.b, KIR_MAX, a, c)), fmaxf(x, y), x, y));
      ck_assert(same_float(evf(kir_bin(f.b, KIR_POW, a, c)), powf(x, y)));
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_LT, a, c)).i, x < y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_LE, a, c)).i, x <= y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_GT, a, c)).i, x > y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_GE, a, c)).i, x >= y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_EQ, a, c)).i, x == y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_NE, a, c)).i, x != y);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_AND, a, c)).i, x != 0.0f && y != 0.0f);
      ck_assert_int_eq(ev(kir_bin(f.b, KIR_OR, a, c)).i, x != 0.0f || y != 0.0f);
    }
  }
  ev_end(&f);
}
END_TEST

START_TEST(test_eval_rounds_to_float32) {
  eval_fixture f = ev_begin();
  /* 2^24 + 1 is not a float: the sum rounds back to 2^24 (a double would keep the 1). */
  kir_expr *big = kir_f32(f.b, 16777216.0);
  ck_assert(evf(kir_bin(f.b, KIR_ADD, big, kir_f32(f.b, 1.0))) == 16777216.0f);
  /* Constants are float literals: 0.1 is stored as 0.1f. */
  ck_assert(evf(kir_f32(f.b, 0.1)) == 0.1f);
  ck_assert(evf(kir_bin(f.b, KIR_ADD, kir_f32(f.b, 0.1), kir_f32(f.b, 0.2))) == 0.1f + 0.2f);
  /* Overflow to inf in float where double would be finite. */
  ck_assert(isinf(evf(kir_bin(f.b, KIR_MUL, kir_f32(f.b, 1e30), kir_f32(f.b, 1e30)))));
  /* fmin/fmax: a NaN operand yields the other one. */
  ck_assert(evf(kir_bin(f.b, KIR_MAX, kir_f32(f.b, NAN), kir_f32(f.b, 2.0))) == 2.0f);
  ev_end(&f);
}
END_TEST

START_TEST(test_eval_integers) {
  eval_fixture f = ev_begin();
  kir_expr *mx = kir_i32(f.b, INT32_MAX);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_ADD, mx, kir_i32(f.b, 1))).i, INT32_MIN);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_MUL, kir_i32(f.b, 65536), kir_i32(f.b, 65536))).i, 0);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_DIV, kir_i32(f.b, -7), kir_i32(f.b, 2))).i, -3);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_MOD, kir_i32(f.b, -7), kir_i32(f.b, 2))).i, -1);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_MIN, kir_i32(f.b, -7), kir_i32(f.b, 2))).i, -7);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_MAX, kir_i32(f.b, -7), kir_i32(f.b, 2))).i, 2);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_SUB, kir_i32(f.b, 3), kir_i32(f.b, 10))).i, -7);
  kir_value v;
  ck_assert_int_eq(kir_eval(kir_bin(f.b, KIR_DIV, kir_i32(f.b, 1), kir_i32(f.b, 0)), NULL, &v), -1);
  ck_assert_int_eq(kir_eval(kir_bin(f.b, KIR_MOD, kir_i32(f.b, 1), kir_i32(f.b, 0)), NULL, &v), -1);
  ck_assert_int_eq(
      kir_eval(kir_bin(f.b, KIR_DIV, kir_i32(f.b, INT32_MIN), kir_i32(f.b, -1)), NULL, &v), -1);
  /* Mixed int/float: kir_bin makes it float. */
  ck_assert(evf(kir_bin(f.b, KIR_DIV, kir_i32(f.b, 7), kir_f32(f.b, 2.0))) == 3.5f);
  /* Unsigned arithmetic wraps modulo 2^32. */
  kir_expr *u = kir_cast(f.b, kir_t(KIR_U32), kir_i32(f.b, -1));
  v = ev(u);
  ck_assert_int_eq(v.type, KIR_U32);
  ck_assert_uint_eq(v.u, UINT32_MAX);
  ck_assert_uint_eq(ev(kir_bin(f.b, KIR_ADD, u, kir_cast(f.b, kir_t(KIR_U32), kir_i32(f.b, 2)))).u, 1);
  ck_assert_int_eq(ev(kir_bin(f.b, KIR_GT, u, kir_cast(f.b, kir_t(KIR_U32), kir_i32(f.b, 2)))).i, 1);
  ev_end(&f);
}
END_TEST

START_TEST(test_eval_casts_select) {
  eval_fixture f = ev_begin();
  kir_type i32 = kir_t(KIR_I32), f32 = kir_t(KIR_F32), bl = kir_t(KIR_BOOL);
  ck_assert_int_eq(ev(kir_cast(f.b, i32, kir_f32(f.b, -2.7))).i, -2); /* truncation */
  ck_assert_int_eq(ev(kir_cast(f.b, i32, kir_f32(f.b, 3e9))).i, INT32_MAX);
  ck_assert_int_eq(ev(kir_cast(f.b, i32, kir_f32(f.b, -3e9))).i, INT32_MIN);
  ck_assert_int_eq(ev(kir_cast(f.b, i32, kir_f32(f.b, NAN))).i, 0);
  ck_assert(evf(kir_cast(f.b, f32, kir_i32(f.b, -3))) == -3.0f);
  ck_assert_int_eq(ev(kir_cast(f.b, bl, kir_f32(f.b, 0.5))).i, 1);
  ck_assert_int_eq(ev(kir_cast(f.b, bl, kir_f32(f.b, 0.0))).i, 0);
  ck_assert(evf(kir_cast(f.b, f32, kir_bin(f.b, KIR_LT, kir_i32(f.b, 1), kir_i32(f.b, 2)))) == 1.0f);
  /* select evaluates only the chosen arm: the other may divide by zero. */
  kir_expr *boom = kir_bin(f.b, KIR_DIV, kir_i32(f.b, 1), kir_i32(f.b, 0));
  kir_expr *t = kir_bin(f.b, KIR_LT, kir_f32(f.b, 1.0), kir_f32(f.b, 2.0));
  ck_assert_int_eq(ev(kir_select(f.b, t, kir_i32(f.b, 4), boom)).i, 4);
  kir_expr *fl = kir_bin(f.b, KIR_GT, kir_f32(f.b, 1.0), kir_f32(f.b, 2.0));
  kir_value v;
  ck_assert_int_eq(kir_eval(kir_select(f.b, fl, kir_i32(f.b, 4), boom), NULL, &v), -1);
  /* A float arm and an int arm: the int becomes float. */
  ck_assert(evf(kir_select(f.b, t, kir_i32(f.b, 3), kir_f32(f.b, 0.5))) == 3.0f);
  ev_end(&f);
}
END_TEST

static int test_load(void *user, int buffer, int64_t index, kir_value *out) {
  const float *data = user;
  if (buffer != 0 || index < 0 || index >= 4) return -1;
  *out = kir_value_f32(data[index]);
  return 0;
}

START_TEST(test_eval_environment) {
  eval_fixture f = ev_begin();
  static const float data[4] = {1.5f, 2.5f, 3.5f, 4.5f};
  int buf = kir_buffer_param(f.b, "x", KIR_F32, KIR_READ);
  int vx = kir_var_new(f.b, "x", kir_t(KIR_F32));
  int vi = kir_var_new(f.b, "i", kir_t(KIR_I32));
  kir_value vars[2] = {kir_value_f32(10.0f), kir_value_i32(2)};
  kir_eval_env env = {.n_vars = 2, .vars = vars, .load = test_load, .user = (void *)data,
                      .global_id = {1, 0, 0}};
  /* x + buf[i + gid0] = 10 + data[3] */
  kir_expr *idx = kir_add(f.b, kir_var(f.b, vi), kir_global_id(f.b, 0));
  kir_expr *e = kir_bin(f.b, KIR_ADD, kir_var(f.b, vx), kir_load(f.b, buf, idx));
  kir_value v;
  ck_assert_int_eq(kir_eval(e, &env, &v), 0);
  ck_assert(v.f == 14.5f);
  /* Out-of-range load, missing environment, vector: errors, not crashes. */
  vars[1] = kir_value_i32(7);
  ck_assert_int_eq(kir_eval(e, &env, &v), -1);
  ck_assert_int_eq(kir_eval(e, NULL, &v), -1);
  ck_assert_int_eq(kir_eval(kir_load_vec(f.b, buf, kir_i32(f.b, 0), 4), &env, &v), -1);
  ck_assert_int_eq(kir_eval(NULL, &env, &v), -1);
  ev_end(&f);
}
END_TEST

/* The real scalar formulas of the elementwise templates, evaluated (with the variables the fast
 * exp/erf declare, kir_eval_decls), against double references. */
START_TEST(test_eval_template_formulas) {
  eval_fixture f = ev_begin();
  int vx = kir_var_new(f.b, "x", kir_t(KIR_F32));
  kir_expr *x = kir_var(f.b, vx);
  kir_expr *gelu = kt_sf_gelu(f.b, x), *sig = kt_sf_sigmoid(f.b, x), *silu = kt_sf_silu(f.b, x);
  kir_expr *relu = kt_sf_relu(f.b, x), *lrelu = kt_sf_leaky_relu(f.b, x, 0.1);
  kir_expr *clamp = kt_sf_clamp(f.b, x, -1.0, 2.0);
  kir_kernel *k = NULL;
  ck_assert_int_eq(kir_kernel_end(f.b, &k), 0);
  f.b = NULL;
  kir_value *vars = calloc((size_t)k->n_vars, sizeof *vars);
  ck_assert_ptr_nonnull(vars);
  for (double xv = -6.0; xv <= 6.0; xv += 0.37) {
    vars[vx] = kir_value_f32((float)xv);
    kir_eval_env env = {.n_vars = k->n_vars, .vars = vars};
    ck_assert_int_eq(kir_eval_decls(k, &env, vars), 0);
    kir_value v;
    double xd = (float)xv;
    ck_assert_int_eq(kir_eval(gelu, &env, &v), 0);
    ck_assert_double_eq_tol(v.f, 0.5 * xd * (1.0 + erf(xd / sqrt(2.0))), 1e-5);
    ck_assert_int_eq(kir_eval(sig, &env, &v), 0);
    ck_assert_double_eq_tol(v.f, 1.0 / (1.0 + exp(-xd)), 1e-6);
    ck_assert_int_eq(kir_eval(silu, &env, &v), 0);
    ck_assert_double_eq_tol(v.f, xd / (1.0 + exp(-xd)), 1e-5);
    ck_assert_int_eq(kir_eval(relu, &env, &v), 0);
    ck_assert(v.f == (float)(xd < 0 ? 0.0 : xd));
    ck_assert_int_eq(kir_eval(lrelu, &env, &v), 0);
    ck_assert(v.f == (xd < 0 ? (float)xd * 0.1f : (float)xd));
    ck_assert_int_eq(kir_eval(clamp, &env, &v), 0);
    ck_assert(v.f == (float)fmin(fmax(xd, -1.0), 2.0));
  }
  free(vars);
  kir_module_free(f.m);
}
END_TEST

/* ---------------------------------------------------------------- graph helpers */

static mlg_type ty(int rank, const int64_t *dims) {
  mlg_type t = {.dtype = MLG_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}
#define T(...) ty(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})
static const mlg_type scalar_type = {.dtype = MLG_F32, .rank = 0};

static int leaf(mlg_graph_builder *b, mlg_node_kind kind, const char *name, mlg_type t,
                const float *data) {
  mlg_node n = {.kind = kind, .name = name, .type = t, .data = data};
  int id = mlg_graph_add(b, &n);
  ck_assert_int_ge(id, 0);
  return id;
}

static int op(mlg_graph_builder *b, const mlg_op_def *def, const int *in, int n_in, mlg_type t,
              const mlg_attr *attrs, int n_attrs) {
  mlg_node n = {.kind = MLG_NODE_OP, .op = def, .type = t, .inputs = in, .n_inputs = n_in};
  for (int k = 0; k < n_attrs; k++) n.attrs[k] = attrs[k];
  int id = mlg_graph_add(b, &n);
  ck_assert_int_ge(id, 0);
  return id;
}

static int op1(mlg_graph_builder *b, const mlg_op_def *def, int a, mlg_type t) {
  return op(b, def, &a, 1, t, NULL, 0);
}
static int op2(mlg_graph_builder *b, const mlg_op_def *def, int a, int c, mlg_type t) {
  int in[2] = {a, c};
  return op(b, def, in, 2, t, NULL, 0);
}

static mlg_attr ints_attr(int n, const int64_t *v) {
  mlg_attr a = {.kind = MLG_ATTR_INTS, .n = n};
  for (int i = 0; i < n; i++) a.ints[i] = v[i];
  return a;
}
#define INTS(...) ints_attr(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})

static int op_attr1(mlg_graph_builder *b, const mlg_op_def *def, int a, mlg_type t, mlg_attr at) {
  return op(b, def, &a, 1, t, &at, 1);
}

static mlg_graph *finish(mlg_graph_builder *b, int out) {
  ck_assert_int_eq(mlg_graph_add_output(b, "y", out), 0);
  mlg_graph *g = mlg_graph_builder_finish(b);
  ck_assert_ptr_nonnull(g);
  return g;
}

static mlg_graph_builder start(void) {
  mlg_graph_builder b;
  ck_assert_int_eq(mlg_graph_builder_init(&b, "t"), 0);
  return b;
}

static int count_op(const mlg_graph *g, const mlg_op_def *def) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].kind == MLG_NODE_OP && g->nodes[i].op == def;
  return n;
}

static int count_kind(const mlg_graph *g, mlg_node_kind kind) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].kind == kind;
  return n;
}

static const mlg_node *out_node(const mlg_graph *g) { return &g->nodes[g->outputs[0].node]; }

/* Every input of every node is an earlier node; every output names a node. */
static void assert_well_formed(const mlg_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      ck_assert_int_ge(g->nodes[i].inputs[k], 0);
      ck_assert_int_lt(g->nodes[i].inputs[k], i);
    }
  for (int o = 0; o < g->n_outputs; o++) {
    ck_assert_int_ge(g->outputs[o].node, 0);
    ck_assert_int_lt(g->outputs[o].node, g->n_nodes);
  }
}

/* Passes followed by dce, the way the pipeline uses them. */
static mlg_graph *then_dce(mlg_graph *g) {
  ck_assert_ptr_nonnull(g);
  mlg_graph *d = mlg_pass_dce(g);
  mlg_graph_free(g);
  ck_assert_ptr_nonnull(d);
  assert_well_formed(d);
  return d;
}

/* ---------------------------------------------------------------- constant folding */

/* Test ops with a scalar formula (the registry's are wired by the elementwise owner). */
static kir_expr *sf_add(kir_builder *b, kir_expr **in, const mlg_node *n) {
  (void)n;
  return kir_bin(b, KIR_ADD, in[0], in[1]);
}
static kir_expr *sf_scale(kir_builder *b, kir_expr **in, const mlg_node *n) {
  return kir_bin(b, KIR_MUL, in[0], kir_f32(b, mlg_attr_float(n, 0)));
}
static kir_expr *sf_idiv(kir_builder *b, kir_expr **in, const mlg_node *n) {
  (void)n;
  return kir_bin(b, KIR_DIV, kir_i32(b, 1), kir_cast(b, kir_t(KIR_I32), in[0]));
}
static const mlg_op_def t_add = {.name = "t_add", .cls = MLG_OPC_ELEMENTWISE, .min_inputs = 2,
                                 .max_inputs = 2, .scalar = sf_add};
static const mlg_op_def t_scale = {.name = "t_scale", .cls = MLG_OPC_ELEMENTWISE, .min_inputs = 1,
                                   .max_inputs = 1, .n_attrs = 1, .scalar = sf_scale};
static const mlg_op_def t_noformula = {.name = "t_none", .cls = MLG_OPC_ELEMENTWISE,
                                       .min_inputs = 1, .max_inputs = 1};
static const mlg_op_def t_idiv = {.name = "t_idiv", .cls = MLG_OPC_ELEMENTWISE, .min_inputs = 1,
                                  .max_inputs = 1, .scalar = sf_idiv};

START_TEST(test_fold_elementwise_broadcast) {
  static const float a[6] = {1, 2, 3, 4, 5, 6};       /* [2, 3] */
  static const float c[3] = {10, 20, 30};             /* [3] */
  static const float d[2] = {100, 200};               /* [2, 1] */
  mlg_graph_builder b = start();
  int ka = leaf(&b, MLG_NODE_CONST, "a", T(2, 3), a);
  int kc = leaf(&b, MLG_NODE_CONST, "c", T(3), c);
  int kd = leaf(&b, MLG_NODE_CONST, "d", T(2, 1), d);
  int s1 = op2(&b, &t_add, ka, kc, T(2, 3));
  int s2 = op2(&b, &t_add, kd, s1, T(2, 3));
  mlg_attr half = {.kind = MLG_ATTR_FLOAT, .f = 0.5};
  mlg_node sn = {.kind = MLG_NODE_OP, .op = &t_scale, .name = "scaled", .type = T(2, 3),
                 .inputs = &s2, .n_inputs = 1, .span = {7, 12}};
  sn.attrs[0] = half;
  int s3 = mlg_graph_add(&b, &sn);
  mlg_graph *g = finish(&b, s3);
  int n = -1;
  mlg_graph *f = mlg_pass_fold_n(g, &n);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(n, 3); /* the whole chain in one run */
  f = then_dce(f);
  ck_assert_int_eq(f->n_nodes, 1);
  const mlg_node *y = out_node(f);
  ck_assert_int_eq(y->kind, MLG_NODE_CONST);
  ck_assert_str_eq(y->name, "scaled");
  ck_assert_int_eq(y->span.begin, 7);
  ck_assert(mlg_type_equal(&y->type, &(mlg_type){.dtype = MLG_F32, .rank = 2, .dims = {2, 3}}));
  const float *v = y->data;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      ck_assert(v[i * 3 + j] == (d[i] + (a[i * 3 + j] + c[j])) * 0.5f);
  mlg_graph_free(f);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_fold_needs_all_const_and_a_formula) {
  static const float a[3] = {1, 2, 3};
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(3), NULL);
  int p = leaf(&b, MLG_NODE_PARAM, "p", T(3), NULL);
  int k = leaf(&b, MLG_NODE_CONST, "k", T(3), a);
  static const float z[1] = {0};
  int s1 = op2(&b, &t_add, x, k, T(3));    /* an input: not foldable */
  int s2 = op2(&b, &t_add, p, k, T(3));    /* a param: not foldable (bound at load time) */
  int s3 = op1(&b, &t_noformula, k, T(3)); /* no scalar formula */
  int s4 = op1(&b, &t_idiv, k, T(3));      /* folds: 1 / 1, 1 / 2, 1 / 3 in ints */
  int kz = leaf(&b, MLG_NODE_CONST, "z", T(1), z);
  int s5 = op1(&b, &t_idiv, kz, T(1));     /* 1 / 0: not evaluable, left to the device */
  mlg_graph_add_output(&b, "s1", s1);
  mlg_graph_add_output(&b, "s2", s2);
  mlg_graph_add_output(&b, "s3", s3);
  mlg_graph_add_output(&b, "s4", s4);
  mlg_graph_add_output(&b, "s5", s5);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  int n = -1;
  mlg_graph *f = mlg_pass_fold_n(g, &n);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(f->nodes[f->outputs[0].node].kind, MLG_NODE_OP);
  ck_assert_int_eq(f->nodes[f->outputs[1].node].kind, MLG_NODE_OP);
  ck_assert_int_eq(f->nodes[f->outputs[2].node].kind, MLG_NODE_OP);
  const mlg_node *y4 = &f->nodes[f->outputs[3].node];
  ck_assert_int_eq(y4->kind, MLG_NODE_CONST);
  ck_assert(((const float *)y4->data)[0] == 1.0f && ((const float *)y4->data)[1] == 0.0f &&
            ((const float *)y4->data)[2] == 0.0f);
  ck_assert_int_eq(f->nodes[f->outputs[4].node].kind, MLG_NODE_OP);
  assert_well_formed(f);
  mlg_graph_free(f);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_fold_views_and_transpose) {
  static const float a[6] = {0, 1, 2, 3, 4, 5}; /* [2, 3] */
  mlg_graph_builder b = start();
  int k = leaf(&b, MLG_NODE_CONST, "a", T(2, 3), a);
  int r = op_attr1(&b, &mlg_op_reshape, k, T(3, 2), INTS(3, 2));
  int u = op_attr1(&b, &mlg_op_unsqueeze, r, T(1, 3, 2), INTS(0));
  int t = op_attr1(&b, &mlg_op_transpose, u, T(2, 1, 3), INTS(2, 0, 1));
  mlg_graph *g = finish(&b, t);
  mlg_graph *f = then_dce(mlg_pass_fold(g));
  ck_assert_int_eq(f->n_nodes, 1);
  const mlg_node *y = out_node(f);
  ck_assert_int_eq(y->kind, MLG_NODE_CONST);
  ck_assert_int_eq(y->type.rank, 3);
  /* u[0, i, j] = a_flat[2 i + j]; y[j, 0, i] = u[0, i, j]. */
  const float *v = y->data;
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < 3; i++) ck_assert(v[j * 3 + i] == a[2 * i + j]);
  mlg_graph_free(f);
  mlg_graph_free(g);
}
END_TEST

/* Folding goes through each op's index map: a slice of a const folds too. */
START_TEST(test_fold_slice) {
  static const float a[6] = {0, 1, 2, 3, 4, 5}; /* [2, 3] */
  mlg_graph_builder b = start();
  int k = leaf(&b, MLG_NODE_CONST, "a", T(2, 3), a);
  /* Normalized slice: row 1, columns 2 and 0 (start 2, step -2). */
  mlg_attr sl[4] = {INTS(1, 2), INTS(2, -1), INTS(0, 1), INTS(1, -2)};
  int y = op(&b, &mlg_op_slice, &k, 1, T(1, 2), sl, 4);
  mlg_graph *g = finish(&b, y);
  mlg_graph *f = then_dce(mlg_pass_fold(g));
  ck_assert_int_eq(f->n_nodes, 1);
  const mlg_node *c = out_node(f);
  ck_assert_int_eq(c->kind, MLG_NODE_CONST);
  const float *v = c->data;
  ck_assert(v[0] == 5 && v[1] == 3);
  mlg_graph_free(f);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_fold_size_limit) {
  int64_t n = MLG_FOLD_MAX_NUMEL;
  float *data = calloc((size_t)n + 2, sizeof(float));
  ck_assert_ptr_nonnull(data);
  mlg_graph_builder b = start();
  int small = leaf(&b, MLG_NODE_CONST, "s", T(n), data);
  int big = leaf(&b, MLG_NODE_CONST, "b", T(n + 2), data);
  int rs = op_attr1(&b, &mlg_op_reshape, small, T(2, n / 2), INTS(2, n / 2));
  int rb = op_attr1(&b, &mlg_op_reshape, big, T(2, n / 2 + 1), INTS(2, n / 2 + 1));
  mlg_graph_add_output(&b, "rs", rs);
  mlg_graph_add_output(&b, "rb", rb);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  free(data);
  mlg_graph *f = mlg_pass_fold(g);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(f->nodes[f->outputs[0].node].kind, MLG_NODE_CONST);
  ck_assert_int_eq(f->nodes[f->outputs[1].node].kind, MLG_NODE_OP);
  mlg_graph_free(f);
  mlg_graph_free(g);
}
END_TEST

/* Registry ops fold once their scalar formulas exist (skipped, not failed, before). */
START_TEST(test_fold_registry_ops) {
  static const float a[3] = {-1.5f, 0.0f, 2.0f}, c[3] = {4.0f, 0.5f, -3.0f};
  const mlg_op_def *const defs[] = {&mlg_op_add, &mlg_op_mul, &mlg_op_maximum};
  for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
    if (!defs[i]->scalar) continue;
    mlg_graph_builder b = start();
    int ka = leaf(&b, MLG_NODE_CONST, "a", T(3), a);
    int kc = leaf(&b, MLG_NODE_CONST, "c", T(3), c);
    mlg_graph *g = finish(&b, op2(&b, defs[i], ka, kc, T(3)));
    mlg_graph *f = then_dce(mlg_pass_fold(g));
    const mlg_node *y = out_node(f);
    ck_assert_int_eq(y->kind, MLG_NODE_CONST);
    const float *v = y->data;
    for (int j = 0; j < 3; j++) {
      float want = defs[i] == &mlg_op_add   ? a[j] + c[j]
                   : defs[i] == &mlg_op_mul ? a[j] * c[j]
                                            : fmaxf(a[j], c[j]);
      ck_assert(v[j] == want);
    }
    mlg_graph_free(f);
    mlg_graph_free(g);
  }
}
END_TEST

/* ---------------------------------------------------------------- simplification */

static const float ones4[4] = {1, 1, 1, 1}, zeros4[4] = {0, -0.0f, 0, 0}, twos4[4] = {1, 1, 2, 1};

/* y = def(x, c) (or def(c, x) when swap) with x an input [4] and c a const [c_n]; returns
 * whether simplify replaced y by x. */
static int simplifies(const mlg_op_def *def, const float *cdata, int c_rank, int swap) {
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(4), NULL);
  mlg_type ct = c_rank == 0 ? scalar_type : c_rank == 1 ? T(4) : T(1, 4);
  mlg_type yt = c_rank == 2 ? T(1, 4) : T(4);
  int k = leaf(&b, MLG_NODE_CONST, "c", ct, cdata);
  int y = swap ? op2(&b, def, k, x, yt) : op2(&b, def, x, k, yt);
  mlg_graph *g = finish(&b, y);
  int n = -1;
  mlg_graph *s = mlg_pass_simplify_n(g, &n);
  ck_assert_ptr_nonnull(s);
  assert_well_formed(s);
  int replaced = s->outputs[0].node == 0 && s->nodes[0].kind == MLG_NODE_INPUT;
  ck_assert_int_eq(replaced, n == 1);
  ck_assert_str_eq(s->outputs[0].name, "y");
  mlg_graph_free(s);
  mlg_graph_free(g);
  return replaced;
}

START_TEST(test_simplify_identities) {
  ck_assert(simplifies(&mlg_op_mul, ones4, 1, 0));  /* x * 1 */
  ck_assert(simplifies(&mlg_op_mul, ones4, 1, 1));  /* 1 * x */
  ck_assert(simplifies(&mlg_op_mul, ones4, 0, 0));  /* x * 1 (scalar const broadcast) */
  ck_assert(simplifies(&mlg_op_div, ones4, 1, 0));  /* x / 1 */
  ck_assert(simplifies(&mlg_op_add, zeros4, 1, 0)); /* x + 0 (either sign) */
  ck_assert(simplifies(&mlg_op_add, zeros4, 1, 1)); /* 0 + x */
  ck_assert(simplifies(&mlg_op_sub, zeros4, 1, 0)); /* x - 0 */
}
END_TEST

START_TEST(test_simplify_refuses_unsafe) {
  ck_assert(!simplifies(&mlg_op_mul, zeros4, 1, 0)); /* x * 0 is NaN for inf/NaN x */
  ck_assert(!simplifies(&mlg_op_div, ones4, 1, 1));  /* 1 / x */
  ck_assert(!simplifies(&mlg_op_sub, zeros4, 1, 1)); /* 0 - x */
  ck_assert(!simplifies(&mlg_op_mul, twos4, 1, 0));  /* not all ones */
  ck_assert(!simplifies(&mlg_op_add, ones4, 1, 0));  /* x + 1 */
  ck_assert(!simplifies(&mlg_op_mul, ones4, 2, 0));  /* the const widens x to [1, 4] */
  /* x - x stays (inf - inf is NaN). */
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(4), NULL);
  mlg_graph *g = finish(&b, op2(&b, &mlg_op_sub, x, x, T(4)));
  mlg_graph *s = mlg_pass_simplify(g);
  ck_assert_ptr_eq(out_node(s)->op, &mlg_op_sub);
  mlg_graph_free(s);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_simplify_neg_neg) {
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(4), NULL);
  int n1 = op1(&b, &mlg_op_neg, x, T(4));
  int n2 = op1(&b, &mlg_op_neg, n1, T(4));
  int n3 = op1(&b, &mlg_op_neg, n2, T(4));
  mlg_graph_add_output(&b, "two", n2);
  mlg_graph_add_output(&b, "three", n3);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  mlg_graph *s = then_dce(mlg_pass_simplify(g));
  ck_assert_int_eq(s->nodes[s->outputs[0].node].kind, MLG_NODE_INPUT); /* -(-x) = x */
  const mlg_node *three = &s->nodes[s->outputs[1].node];                /* -(-(-x)) = -x */
  ck_assert_ptr_eq(three->op, &mlg_op_neg);
  ck_assert_int_eq(s->nodes[three->inputs[0]].kind, MLG_NODE_INPUT);
  ck_assert_int_eq(count_op(s, &mlg_op_neg), 1);
  mlg_graph_free(s);
  mlg_graph_free(g);
}
END_TEST

/* Any index op that reads its input in place is dropped: a full slice, a transpose that only
 * moves dims of size 1. A slice that reverses, or keeps part of a dim, stays. */
START_TEST(test_simplify_in_place_index_ops) {
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(1, 2, 3), NULL);
  int x2 = leaf(&b, MLG_NODE_INPUT, "x2", T(1, 1, 4), NULL);
  mlg_attr full[4] = {INTS(0, 0, 0), INTS(1, 2, 3), INTS(0, 1, 2), INTS(1, 1, 1)};
  mlg_attr rev[4] = {INTS(0, 0, 2), INTS(1, 2, -1), INTS(0, 1, 2), INTS(1, 1, -1)};
  mlg_graph_add_output(&b, "full", op(&b, &mlg_op_slice, &x, 1, T(1, 2, 3), full, 4));
  mlg_graph_add_output(&b, "rev", op(&b, &mlg_op_slice, &x, 1, T(1, 2, 3), rev, 4));
  /* [1, 1, 4] with its two leading dims swapped: the same elements in place. */
  mlg_graph_add_output(&b, "t", op_attr1(&b, &mlg_op_transpose, x2, T(1, 1, 4), INTS(1, 0, 2)));
  mlg_graph *g = mlg_graph_builder_finish(&b);
  mlg_graph *s = then_dce(mlg_pass_simplify(g));
  ck_assert_int_eq(s->outputs[0].node, x);
  ck_assert_ptr_eq(s->nodes[s->outputs[1].node].op, &mlg_op_slice);
  ck_assert_int_eq(s->outputs[2].node, x2);
  mlg_graph_free(s);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_simplify_transposes) {
  /* x [2, 3, 4]; p = [1, 2, 0] → [3, 4, 2]. */
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(2, 3, 4), NULL);
  int t1 = op_attr1(&b, &mlg_op_transpose, x, T(3, 4, 2), INTS(1, 2, 0));
  /* q = [2, 0, 1] undoes p: x again. */
  int back = op_attr1(&b, &mlg_op_transpose, t1, T(2, 3, 4), INTS(2, 0, 1));
  /* q = [1, 0, 2]: r[i] = p[q[i]] = [2, 1, 0] → [4, 3, 2]. */
  int comp = op_attr1(&b, &mlg_op_transpose, t1, T(4, 3, 2), INTS(1, 0, 2));
  int ident = op_attr1(&b, &mlg_op_transpose, x, T(2, 3, 4), INTS(0, 1, 2));
  int single = op_attr1(&b, &mlg_op_transpose, x, T(4, 3, 2), INTS(2, 1, 0));
  mlg_graph_add_output(&b, "back", back);
  mlg_graph_add_output(&b, "comp", comp);
  mlg_graph_add_output(&b, "ident", ident);
  mlg_graph_add_output(&b, "single", single);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  mlg_graph *s = then_dce(mlg_pass_simplify(g));
  ck_assert_int_eq(s->outputs[0].node, 0);
  ck_assert_int_eq(s->outputs[2].node, 0);
  const mlg_node *c = &s->nodes[s->outputs[1].node];
  ck_assert_ptr_eq(c->op, &mlg_op_transpose);
  ck_assert_int_eq(c->inputs[0], 0);
  ck_assert_int_eq(c->attrs[0].n, 3);
  ck_assert_int_eq(c->attrs[0].ints[0], 2);
  ck_assert_int_eq(c->attrs[0].ints[1], 1);
  ck_assert_int_eq(c->attrs[0].ints[2], 0);
  ck_assert_int_eq(c->type.dims[0], 4);
  ck_assert_int_eq(c->type.dims[2], 2);
  /* A lone non-identity transpose stays; t1 is dead once both users are rewritten. */
  const mlg_node *one = &s->nodes[s->outputs[3].node];
  ck_assert_ptr_eq(one->op, &mlg_op_transpose);
  ck_assert_int_eq(one->inputs[0], 0);
  ck_assert_int_eq(count_op(s, &mlg_op_transpose), 2);
  mlg_graph_free(s);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_simplify_views) {
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(2, 3, 4), NULL);
  int r1 = op_attr1(&b, &mlg_op_reshape, x, T(6, 4), INTS(6, 4));
  int r2 = op_attr1(&b, &mlg_op_reshape, r1, T(24), INTS(24));
  int r3 = op_attr1(&b, &mlg_op_reshape, r2, T(4, 6), INTS(4, 6));          /* chain → 1 */
  int same = op_attr1(&b, &mlg_op_reshape, x, T(2, 3, 4), INTS(2, 3, 4));  /* no-op */
  int u = op_attr1(&b, &mlg_op_unsqueeze, x, T(1, 2, 3, 4), INTS(0));
  int sq = op_attr1(&b, &mlg_op_squeeze, u, T(2, 3, 4), INTS(0));          /* back to x */
  mlg_attr ax = {.kind = MLG_ATTR_INT, .n = 1, .ints = {2}};
  int fl = op_attr1(&b, &mlg_op_flatten, u, T(2, 12), ax);                  /* view of view */
  int lone = op_attr1(&b, &mlg_op_reshape, x, T(6, 4), INTS(6, 4));         /* stays */
  mlg_graph_add_output(&b, "r3", r3);
  mlg_graph_add_output(&b, "same", same);
  mlg_graph_add_output(&b, "sq", sq);
  mlg_graph_add_output(&b, "fl", fl);
  mlg_graph_add_output(&b, "lone", lone);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  mlg_graph *s = then_dce(mlg_pass_simplify(g));
  const mlg_node *o3 = &s->nodes[s->outputs[0].node];
  ck_assert_ptr_eq(o3->op, &mlg_op_reshape);
  ck_assert_int_eq(o3->inputs[0], 0);
  ck_assert_int_eq(o3->attrs[0].n, 2);
  ck_assert_int_eq(o3->attrs[0].ints[0], 4);
  ck_assert_int_eq(o3->attrs[0].ints[1], 6);
  ck_assert_int_eq(s->outputs[1].node, 0);
  ck_assert_int_eq(s->outputs[2].node, 0);
  const mlg_node *of = &s->nodes[s->outputs[3].node];
  ck_assert_ptr_eq(of->op, &mlg_op_reshape);
  ck_assert_int_eq(of->inputs[0], 0);
  ck_assert_int_eq(of->type.dims[0], 2);
  ck_assert_int_eq(of->type.dims[1], 12);
  const mlg_node *ol = &s->nodes[s->outputs[4].node];
  ck_assert_ptr_eq(ol->op, &mlg_op_reshape);
  ck_assert_int_eq(ol->inputs[0], 0);
  /* r3, fl, lone: unsqueeze, r1, r2 are dead. */
  ck_assert_int_eq(count_op(s, &mlg_op_reshape), 3);
  ck_assert_int_eq(count_op(s, &mlg_op_unsqueeze), 0);
  mlg_graph_free(s);
  mlg_graph_free(g);
}
END_TEST

/* ---------------------------------------------------------------- batch_norm folding */

enum { BN_C = 3 };
static const float bn_gamma[BN_C] = {1.5f, -0.5f, 2.0f}, bn_beta[BN_C] = {0.1f, 0.2f, -0.3f};
static const float bn_mean[BN_C] = {0.25f, -1.0f, 3.0f}, bn_var[BN_C] = {4.0f, 0.5f, 0.01f};
static const double bn_eps = 1e-3;

typedef struct bn_graph {
  mlg_graph *g;
  const float **values; /* by node id */
  int conv, w, bias;    /* node ids */
} bn_graph;

/* x [1, 2, 4, 4] → conv2d (w [3, 2, 3, 3], optional bias, padding 1) → batch_norm(eps=1e-3)
 * → relu. The four norm vectors are params named like torchvision's. extra_use: the conv is
 * also an output. */
static bn_graph make_conv_bn(const float *w, const float *bias, int extra_use) {
  bn_graph r = {0};
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(1, 2, 4, 4), NULL);
  r.w = leaf(&b, MLG_NODE_PARAM, "layer1.0.conv1.weight", T(BN_C, 2, 3, 3), NULL);
  r.bias = bias ? leaf(&b, MLG_NODE_PARAM, "layer1.0.conv1.bias", T(BN_C), NULL) : -1;
  int gm = leaf(&b, MLG_NODE_PARAM, "layer1.0.bn1.weight", T(BN_C), NULL);
  int bt = leaf(&b, MLG_NODE_PARAM, "layer1.0.bn1.bias", T(BN_C), NULL);
  int mn = leaf(&b, MLG_NODE_PARAM, "layer1.0.bn1.running_mean", T(BN_C), NULL);
  int vr = leaf(&b, MLG_NODE_PARAM, "layer1.0.bn1.running_var", T(BN_C), NULL);
  int cin[3] = {x, r.w, r.bias};
  mlg_attr cattrs[4] = {INTS(1, 1), INTS(1, 1, 1, 1), INTS(1, 1),
                        {.kind = MLG_ATTR_INT, .n = 1, .ints = {1}}};
  r.conv = op(&b, &mlg_op_conv2d, cin, bias ? 3 : 2, T(1, BN_C, 4, 4), cattrs, 4);
  int bin[5] = {r.conv, gm, bt, mn, vr};
  mlg_attr eps = {.kind = MLG_ATTR_FLOAT, .f = bn_eps};
  int bn = op(&b, &mlg_op_batch_norm, bin, 5, T(1, BN_C, 4, 4), &eps, 1);
  int y = op1(&b, &mlg_op_relu, bn, T(1, BN_C, 4, 4));
  mlg_graph_add_output(&b, "y", y);
  if (extra_use) mlg_graph_add_output(&b, "conv", r.conv);
  r.g = mlg_graph_builder_finish(&b);
  ck_assert_ptr_nonnull(r.g);
  r.values = calloc((size_t)r.g->n_nodes, sizeof(*r.values));
  r.values[r.w] = w;
  if (bias) r.values[r.bias] = bias;
  r.values[gm] = bn_gamma;
  r.values[bt] = bn_beta;
  r.values[mn] = bn_mean;
  r.values[vr] = bn_var;
  return r;
}

static void free_bn(bn_graph *r) {
  free(r->values);
  mlg_graph_free(r->g);
}

static void check_folded_conv(const mlg_graph *f, const float *w, int64_t per, const float *bias,
                              const mlg_op_def *def) {
  ck_assert_int_eq(count_op(f, &mlg_op_batch_norm), 0);
  ck_assert_int_eq(count_op(f, def), 1);
  const mlg_node *y = out_node(f);
  ck_assert_ptr_eq(y->op, &mlg_op_relu);
  const mlg_node *c = &f->nodes[y->inputs[0]];
  ck_assert_ptr_eq(c->op, def);
  ck_assert_int_eq(c->n_inputs, 3);
  const mlg_node *nw = &f->nodes[c->inputs[1]], *nb = &f->nodes[c->inputs[2]];
  ck_assert_int_eq(nw->kind, MLG_NODE_CONST);
  ck_assert_int_eq(nb->kind, MLG_NODE_CONST);
  const float *fw = nw->data, *fb = nb->data;
  for (int o = 0; o < BN_C; o++) {
    double s = (double)bn_gamma[o] / sqrt((double)bn_var[o] + bn_eps);
    for (int64_t k = 0; k < per; k++) ck_assert(fw[o * per + k] == (float)(w[o * per + k] * s));
    double want_b = ((bias ? bias[o] : 0.0) - bn_mean[o]) * s + bn_beta[o];
    ck_assert(fb[o] == (float)want_b);
  }
}

static float *pattern(int n, float scale) {
  float *p = malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < n; i++) p[i] = scale * (float)((i * 7) % 11 - 5);
  return p;
}

START_TEST(test_bn_fold_conv) {
  float *w = pattern(BN_C * 2 * 9, 0.125f);
  static const float bias[BN_C] = {0.5f, -0.25f, 1.0f};
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    bn_graph r = make_conv_bn(w, with_bias ? bias : NULL, 0);
    mlg_param_values v = {.n = r.g->n_nodes, .data = r.values};
    int n = -1;
    mlg_graph *f = then_dce(mlg_pass_bn_fold_n(r.g, &v, &n));
    ck_assert_int_eq(n, 1);
    check_folded_conv(f, w, 2 * 9, with_bias ? bias : NULL, &mlg_op_conv2d);
    const mlg_node *c = &f->nodes[out_node(f)->inputs[0]];
    ck_assert_str_eq(f->nodes[c->inputs[1]].name, "layer1.0.conv1.weight+bn1");
    ck_assert_str_eq(f->nodes[c->inputs[2]].name, "layer1.0.conv1.bias+bn1");
    /* Attributes (padding 1 etc.) are the conv's. */
    ck_assert_int_eq(c->attrs[1].ints[0], 1);
    ck_assert_int_eq(count_kind(f, MLG_NODE_PARAM), 0); /* the BN params are gone */
    mlg_graph_free(f);
    free_bn(&r);
  }
  free(w);
}
END_TEST

START_TEST(test_bn_fold_refused) {
  float *w = pattern(BN_C * 2 * 9, 0.125f);
  /* The conv has another consumer. */
  bn_graph r = make_conv_bn(w, NULL, 1);
  mlg_param_values v = {.n = r.g->n_nodes, .data = r.values};
  int n = -1;
  mlg_graph *f = mlg_pass_bn_fold_n(r.g, &v, &n);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(count_op(f, &mlg_op_batch_norm), 1);
  mlg_graph_free(f);
  free_bn(&r);
  /* Values unknown: none at all, or one missing. */
  r = make_conv_bn(w, NULL, 0);
  f = mlg_pass_bn_fold_n(r.g, NULL, &n);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(count_op(f, &mlg_op_batch_norm), 1);
  mlg_graph_free(f);
  r.values[r.w] = NULL;
  v = (mlg_param_values){.n = r.g->n_nodes, .data = r.values};
  f = mlg_pass_bn_fold_n(r.g, &v, &n);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(count_op(f, &mlg_op_batch_norm), 1);
  ck_assert_int_eq(f->n_nodes, r.g->n_nodes);
  mlg_graph_free(f);
  free_bn(&r);
  free(w);
}
END_TEST

/* linear(x [4, 5], w [3, 5], b) then batch_norm over the 3 features; the norm vectors are consts
 * here (known without any param values). rank3: x [2, 4, 5], not foldable (BN's axis 1 is not
 * linear's feature axis). */
static mlg_graph *make_linear_bn(const float *w, const float *bias, int rank3) {
  mlg_graph_builder b = start();
  mlg_type xt = rank3 ? T(2, 4, 5) : T(4, 5), yt = rank3 ? T(2, 4, BN_C) : T(4, BN_C);
  int x = leaf(&b, MLG_NODE_INPUT, "x", xt, NULL);
  int wn = leaf(&b, MLG_NODE_CONST, "fc.weight", T(BN_C, 5), w);
  int bn_ = leaf(&b, MLG_NODE_CONST, "fc.bias", T(BN_C), bias);
  int gm = leaf(&b, MLG_NODE_CONST, "norm.weight", T(BN_C), bn_gamma);
  int bt = leaf(&b, MLG_NODE_CONST, "norm.bias", T(BN_C), bn_beta);
  int mn = leaf(&b, MLG_NODE_CONST, "norm.running_mean", T(BN_C), bn_mean);
  int vr = leaf(&b, MLG_NODE_CONST, "norm.running_var", T(BN_C), bn_var);
  int lin[3] = {x, wn, bn_};
  int l = op(&b, &mlg_op_linear, lin, 3, yt, NULL, 0);
  int bin[5] = {l, gm, bt, mn, vr};
  mlg_attr eps = {.kind = MLG_ATTR_FLOAT, .f = bn_eps};
  int bnn = op(&b, &mlg_op_batch_norm, bin, 5, yt, &eps, 1);
  return finish(&b, op1(&b, &mlg_op_relu, bnn, yt));
}

START_TEST(test_bn_fold_linear) {
  float *w = pattern(BN_C * 5, 0.3f);
  static const float bias[BN_C] = {1.0f, 2.0f, -4.0f};
  mlg_graph *g = make_linear_bn(w, bias, 0);
  mlg_graph *f = then_dce(mlg_pass_bn_fold(g, NULL));
  check_folded_conv(f, w, 5, bias, &mlg_op_linear);
  const mlg_node *c = &f->nodes[out_node(f)->inputs[0]];
  ck_assert_str_eq(f->nodes[c->inputs[1]].name, "fc.weight+norm");
  ck_assert_str_eq(f->nodes[c->inputs[2]].name, "fc.bias+norm");
  mlg_graph_free(f);
  mlg_graph_free(g);

  g = make_linear_bn(w, bias, 1);
  int n = -1;
  f = mlg_pass_bn_fold_n(g, NULL, &n);
  ck_assert_int_eq(n, 0);
  ck_assert_int_eq(count_op(f, &mlg_op_batch_norm), 1);
  mlg_graph_free(f);
  mlg_graph_free(g);
  free(w);
}
END_TEST


/* ---------------------------------------------------------------- pipeline */

START_TEST(test_pipeline_levels_and_fixed_point) {
  /* y = x * reshape(ones [4] → [2, 2]): fold makes the const, a second round's simplify drops
   * the multiply. At -O0 nothing changes. */
  mlg_graph_builder b = start();
  int x = leaf(&b, MLG_NODE_INPUT, "x", T(2, 2), NULL);
  int k = leaf(&b, MLG_NODE_CONST, "ones", T(4), ones4);
  int r = op_attr1(&b, &mlg_op_reshape, k, T(2, 2), INTS(2, 2));
  int m = op2(&b, &mlg_op_mul, x, r, T(2, 2));
  mlg_graph *g = finish(&b, op1(&b, &mlg_op_relu, m, T(2, 2)));
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_graph *o0 = mlg_optimize(g, 0, &diag);
  ck_assert_int_eq(o0->n_nodes, g->n_nodes);
  ck_assert_int_eq(count_op(o0, &mlg_op_mul), 1);
  mlg_graph *o2 = mlg_optimize(g, 2, &diag);
  ck_assert_int_eq(o2->n_nodes, 2); /* x, relu */
  ck_assert_int_eq(out_node(o2)->inputs[0], 0);
  ck_assert_int_eq(diag.n_errors, 0);
  mlg_graph_free(o0);
  mlg_graph_free(o2);
  mlg_graph_free(g);

  /* BN folding through mlg_optimize_ex: values indexed by the input graph's ids. */
  float *w = pattern(BN_C * 2 * 9, 0.125f);
  bn_graph bg = make_conv_bn(w, NULL, 0);
  mlg_param_values v = {.n = bg.g->n_nodes, .data = bg.values};
  mlg_graph *o = mlg_optimize_ex(bg.g, 2, &v, &diag);
  ck_assert_ptr_nonnull(o);
  check_folded_conv(o, w, 18, NULL, &mlg_op_conv2d);
  ck_assert_int_eq(o->n_nodes, 5); /* x, w', b', conv, relu */
  mlg_graph *plain = mlg_optimize(bg.g, 2, &diag);
  ck_assert_int_eq(count_op(plain, &mlg_op_batch_norm), 1);
  mlg_graph *none = mlg_optimize_ex(bg.g, 0, &v, &diag);
  ck_assert_int_eq(count_op(none, &mlg_op_batch_norm), 1);
  mlg_graph_free(o);
  mlg_graph_free(plain);
  mlg_graph_free(none);
  free_bn(&bg);
  free(w);
}
END_TEST

/* ---------------------------------------------------------------- recognize */

/* What -O2 makes of model text `decls` + `body`: the scaled_dot_product_attention nodes, and the
 * first one's scale, causal flag and input count (what it replaced gone); -O0 leaves the graph as
 * written. */
typedef struct attn_found {
  int n;
  double scale;
  int64_t causal;
  int n_inputs;
} attn_found;

/* Model text checked into a graph (b->p.graph), and its -O2 graph (returned; the caller frees
 * it, then built_free). */
typedef struct built {
  mlg_source src;
  mlg_diag diag;
  mlg_pipeline p;
} built;

static mlg_graph *build_o2(built *b, const char *text) {
  ck_assert_int_eq(mlg_source_from_memory(&b->src, "t.mlg", text, strlen(text)), 0);
  mlg_diag_init(&b->diag, &b->src, stderr);
  ck_assert_msg(mlg_pipeline_run(&b->src, NULL, MLG_STAGE_GRAPH, &b->diag, &b->p) == 0, "%s", text);
  mlg_graph *o = mlg_optimize(b->p.graph, 2, &b->diag);
  ck_assert_ptr_nonnull(o);
  assert_well_formed(o);
  return o;
}

static void built_free(built *b) {
  mlg_pipeline_free(&b->p);
  mlg_source_free(&b->src);
}

static attn_found recognize_in(const char *decls, const char *body) {
  char text[2048];
  snprintf(text, sizeof text, "model t {\n%s%s\n}\n", decls, body);
  built bt;
  mlg_graph *o = build_o2(&bt, text);
  attn_found f = {.n = count_op(o, &mlg_op_scaled_dot_product_attention)};
  for (int i = 0; i < o->n_nodes; i++)
    if (o->nodes[i].op == &mlg_op_scaled_dot_product_attention) {
      f.causal = o->nodes[i].attrs[0].ints[0];
      f.scale = o->nodes[i].attrs[1].f;
      f.n_inputs = o->nodes[i].n_inputs;
      ck_assert_int_eq(count_op(o, &mlg_op_softmax), 0);
      ck_assert_int_eq(count_op(o, &mlg_op_matmul), 0);
      break;
    }
  mlg_graph_free(o);
  o = mlg_optimize(bt.p.graph, 0, &bt.diag);
  ck_assert_int_eq(count_op(o, &mlg_op_scaled_dot_product_attention),
                   count_op(bt.p.graph, &mlg_op_scaled_dot_product_attention));
  mlg_graph_free(o);
  built_free(&bt);
  return f;
}

/* How many attention nodes -O2 makes of `body` (q, k, v, m, s declared), the first's scale in
 * *scale. */
static int recognized(const char *body, double *scale) {
  attn_found f = recognize_in("  input q : f32[2, 5, 8]\n  input k : f32[2, 7, 8]\n  input v : f32[2, 7, 3]\n"
                              "  input m : f32[5, 7]\n  input s : f32[1]\n", body);
  *scale = f.scale;
  return f.n;
}

START_TEST(test_recognize_attention) {
  double sc = 0;
  ck_assert_int_eq(recognized("  output y = softmax(q @ transpose(k, perm=[0, 2, 1]), axis=-1) @ v", &sc), 1);
  ck_assert(sc == 1.0);
  ck_assert_int_eq(recognized("  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) * 0.25 + m, axis=2) @ v", &sc), 1);
  ck_assert(sc == 0.25);
  ck_assert_int_eq(recognized("  output y = softmax(m + 0.5 * (q @ transpose(k, perm=[0, 2, 1])), axis=-1) @ v", &sc), 1);
  ck_assert(sc == 0.5);
  ck_assert_int_eq(recognized("  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) / 4, axis=-1) @ v", &sc), 1);
  ck_assert(sc == 0.25);
  /* a scale folded from a dim expression */
  ck_assert_int_eq(recognized("  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) * rsqrt(4), axis=-1) @ v", &sc), 1);
  ck_assert(fabs(sc - 0.5) < 1e-7);
}
END_TEST

/* One attention node made of `body` (q, k, v over 6 positions), with these causal flag and
 * input count. */
static void recognized_causal(const char *body, int want_causal, int want_inputs) {
  attn_found f = recognize_in("  input q : f32[2, 6, 8]\n  input k : f32[2, 6, 8]\n  input v : f32[2, 6, 3]\n", body);
  ck_assert_int_eq(f.n, 1);
  ck_assert_msg(f.causal == want_causal && f.n_inputs == want_inputs, "%s: causal %lld, %d inputs", body,
                (long long)f.causal, f.n_inputs);
}

/* A const mask that is exactly causal (causal_mask's: 0 on and below the diagonal, −1e9 above) is
 * the causal flag, the mask dropped; a mask of −5e8 above the diagonal, or a param (whatever
 * its values), stays a mask. */
START_TEST(test_recognize_causal_mask) {
  recognized_causal("  const m : f32[6, 6] = causal_mask(6)\n"
                    "  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) * 0.25 + m, axis=-1) @ v", 1, 3);
  recognized_causal("  const m : f32[6, 6] = causal_mask(6)\n"
                    "  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) * 0.25 + m * 0.5, axis=-1) @ v", 0, 4);
  recognized_causal("  param m : f32[6, 6] = zeros\n"
                    "  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) + m, axis=-1) @ v", 0, 4);
}
END_TEST

/* Not attention, or attention whose parts are needed elsewhere: left alone. */
START_TEST(test_recognize_refuses) {
  double sc = 0;
  static const char *const bodies[] = {
    /* the probabilities are an output too */
    "  p = softmax(q @ transpose(k, perm=[0, 2, 1]), axis=-1)\n  output y = p @ v\n  output pp = p",
    /* the scores are read twice */
    "  z = q @ transpose(k, perm=[0, 2, 1])\n  output y = softmax(z, axis=-1) @ v\n  output zz = z",
    /* softmax over another axis */
    "  output y = transpose(softmax(q @ transpose(k, perm=[0, 2, 1]), axis=1), perm=[0, 1, 2]) @ v",
    /* log_softmax */
    "  output y = log_softmax(q @ transpose(k, perm=[0, 2, 1]), axis=-1) @ v",
    /* a scale that is no compile-time scalar */
    "  output y = softmax(q @ transpose(k, perm=[0, 2, 1]) * s, axis=-1) @ v",
    /* the mask before the scale */
    "  output y = softmax((q @ transpose(k, perm=[0, 2, 1]) + m) * 0.5, axis=-1) @ v",
    /* a product that is not the second matmul's left operand */
    "  output y = transpose(v, perm=[0, 2, 1]) @ transpose(softmax(q @ transpose(k, perm=[0, 2, 1]), axis=-1), perm=[0, 2, 1])",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    ck_assert_msg(recognized(bodies[i], &sc) == 0, "recognized: %s", bodies[i]);
}
END_TEST

/* How many linear_softmax nodes -O2 makes of `body` (x f32[4, 3, 8], w f32[N, 8] for N = 16
 * and 17, b f32[16]); none at -O0. */
static int linear_softmax_in(const char *body) {
  char text[1024];
  snprintf(text, sizeof text,
           "model t {\n  input x : f32[4, 3, 8]\n  param w : f32[16, 8] = zeros\n"
           "  param w17 : f32[17, 8] = zeros\n  param b : f32[16] = zeros\n%s\n}\n", body);
  built bt;
  mlg_graph *o = build_o2(&bt, text);
  const mlg_graph *g = bt.p.graph;
  int n = count_op(o, &mlg_op_linear_softmax);
  if (n) ck_assert_int_eq(count_op(o, &mlg_op_linear), count_op(g, &mlg_op_linear) - n);
  mlg_graph_free(o);
  o = mlg_optimize(g, 0, &bt.diag);
  ck_assert_int_eq(count_op(o, &mlg_op_linear_softmax), count_op(g, &mlg_op_linear_softmax));
  mlg_graph_free(o);
  built_free(&bt);
  return n;
}

/* softmax(linear(...)) along the last axis with at most 16 columns, the logits read by nothing
 * else, becomes one linear_softmax; anything else is left alone. */
START_TEST(test_recognize_linear_softmax) {
  ck_assert_int_eq(linear_softmax_in("  output y = softmax(linear(x, w, b), axis=-1)"), 1);
  ck_assert_int_eq(linear_softmax_in("  output y = softmax(linear(x, w), axis=2)"), 1);
  ck_assert_int_eq(linear_softmax_in("  output y = relu(softmax(linear(x, w, b)))"), 1);
  static const char *const refused[] = {
    "  output y = softmax(linear(x, w17), axis=-1)",               /* 17 columns */
    "  output y = softmax(linear(x, w, b), axis=1)",               /* another axis */
    "  output y = log_softmax(linear(x, w, b), axis=-1)",          /* log_softmax */
    "  z = linear(x, w, b)\n  output y = softmax(z)\n  output zz = z", /* logits read twice */
    "  output y = softmax(linear(x, w, b) * 2, axis=-1)",          /* not the linear itself */
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    ck_assert_msg(linear_softmax_in(refused[i]) == 0, "recognized: %s", refused[i]);
}
END_TEST

/* ---------------------------------------------------------------- pipeline */

/* The example models: check, load the values the passes want, optimize; -O2 must not grow the
 * graph, must keep outputs, and must fold every batch_norm of resnet_block. */
static void optimize_model(const char *name, int *ops0, int *ops2, int *bn2) {
  char path[1024];
  snprintf(path, sizeof path, "%s/models/%s", MLG_SOURCE_DIR, name);
  mlg_source src;
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, NULL);
  mlg_pipeline p;
  int rc = mlg_pipeline_run(&src, NULL, MLG_STAGE_GRAPH, &diag, &p);
  ck_assert_msg(rc == 0, "%s does not check", name);
  const mlg_graph *g = p.graph;
  char *wanted = calloc((size_t)g->n_nodes, 1);
  mlg_optimize_wanted_values(g, wanted);
  float **data = NULL;
  ck_assert_int_eq(mlg_weights_param_values(g, NULL, wanted, &diag, &data), 0);
  mlg_param_values v = {.n = g->n_nodes, .data = (const float *const *)data};
  mlg_graph *o = mlg_optimize_ex(g, 2, data ? &v : NULL, &diag);
  ck_assert_ptr_nonnull(o);
  assert_well_formed(o);
  ck_assert_int_eq(o->n_outputs, g->n_outputs);
  for (int i = 0; i < o->n_outputs; i++) {
    ck_assert_str_eq(o->outputs[i].name, g->outputs[i].name);
    ck_assert(mlg_type_equal(&o->nodes[o->outputs[i].node].type, &g->nodes[g->outputs[i].node].type));
  }
  *ops0 = count_kind(g, MLG_NODE_OP);
  *ops2 = count_kind(o, MLG_NODE_OP);
  *bn2 = count_op(o, &mlg_op_batch_norm);
  mlg_weights_values_free(data, g->n_nodes);
  free(wanted);
  mlg_graph_free(o);
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
}

START_TEST(test_models) {
  static const char *const models[] = {"mlp.mlg", "lenet.mlg", "resnet_block.mlg",
                                       "transformer_block.mlg", "gpt2_block.mlg"};
  for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
    int ops0, ops2, bn2;
    optimize_model(models[i], &ops0, &ops2, &bn2);
    ck_assert_int_le(ops2, ops0);
    ck_assert_int_eq(bn2, 0);
    if (strcmp(models[i], "resnet_block.mlg") == 0) ck_assert_int_eq(ops0 - ops2, 5);
  }
}
END_TEST

/* The -O2 graph of a model given as text, its checked graph's op count in *ops0. */
static mlg_graph *optimize_text(const char *text, int *ops0) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "t.mlg", text, strlen(text)), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, NULL);
  mlg_pipeline p;
  ck_assert_int_eq(mlg_pipeline_run(&src, NULL, MLG_STAGE_GRAPH, &diag, &p), 0);
  *ops0 = count_kind(p.graph, MLG_NODE_OP);
  mlg_graph *o = mlg_optimize(p.graph, 2, &diag);
  ck_assert_ptr_nonnull(o);
  assert_well_formed(o);
  mlg_pipeline_free(&p);
  mlg_source_free(&src);
  return o;
}

#define QDQ_HEAD                                                                            \
  "model q {\n input xq : u8[1, 2, 4, 4]\n const xs : f32 = 0.02\n const xz : u8 = 128\n"  \
  " const wq : i8[3, 2, 1, 1] = 5\n const ws : f32[3] = [0.01, 0.02, 0.03]\n"               \
  " const b : f32[3] = [0.1, 0.2, 0.3]\n const ys : f32 = 0.05\n const yz : u8 = 7\n"        \
  " x = dequantize_linear(xq, xs, xz)\n w = dequantize_linear(wq, ws, axis=0)\n"

/* quantize(relu(conv2d(dq, dq, b))) is one qlinear_conv2d whose range starts at yz; the f32
 * bias became i32 round(b / (xs·ws)). */
START_TEST(test_qdq_conv_relu) {
  int ops0;
  mlg_graph *o = optimize_text(QDQ_HEAD
                               " output y = quantize_linear(relu(conv2d(x, w, b)), ys, yz)\n}\n",
                               &ops0);
  ck_assert_int_eq(ops0, 5);
  ck_assert_int_eq(count_kind(o, MLG_NODE_OP), 1);
  const mlg_node *q = out_node(o);
  ck_assert_ptr_eq(q->op, &mlg_op_qlinear_conv2d);
  ck_assert_int_eq(q->n_inputs, 9);
  ck_assert_int_eq(mlg_attr_int(q, 4), 7);   /* lo: relu's 0 is the zero point */
  ck_assert_int_eq(mlg_attr_int(q, 5), 255); /* hi: u8's top */
  const mlg_node *bias = &o->nodes[q->inputs[8]];
  ck_assert_int_eq(bias->type.dtype, MLG_I32);
  ck_assert_int_eq(((const int32_t *)bias->data)[0], 500);  /* 0.1 / (0.02 · 0.01) */
  ck_assert_int_eq(((const int32_t *)bias->data)[2], 500);  /* 0.3 / (0.02 · 0.03) */
  mlg_graph_free(o);
}
END_TEST

/* What the pass leaves alone: a conv whose result is also an output, a non-const scale. */
START_TEST(test_qdq_refused) {
  int ops0;
  mlg_graph *o = optimize_text(QDQ_HEAD " output c = conv2d(x, w, b)\n"
                               " output y = quantize_linear(c, ys, yz)\n}\n", &ops0);
  ck_assert_int_eq(count_op(o, &mlg_op_qlinear_conv2d), 0);
  mlg_graph_free(o);
  o = optimize_text("model q {\n input xq : u8[2, 8]\n input xs : f32\n const xz : u8 = 1\n"
                    " const wq : i8[8, 3] = 1\n const ws : f32 = 0.5\n const yz : u8 = 0\n"
                    " a = dequantize_linear(xq, xs, xz)\n w = dequantize_linear(wq, ws)\n"
                    " output y = quantize_linear(a @ w, ws, yz)\n}\n", &ops0);
  ck_assert_int_eq(count_op(o, &mlg_op_qlinear_matmul), 0);
  mlg_graph_free(o);
}
END_TEST

int main(void) {
  Suite *s = suite_create("passes");
  TCase *te = tcase_create("kir_eval");
  tcase_add_test(te, test_eval_unops_match_libm);
  tcase_add_test(te, test_eval_binops_match_libm);
  tcase_add_test(te, test_eval_rounds_to_float32);
  tcase_add_test(te, test_eval_integers);
  tcase_add_test(te, test_eval_casts_select);
  tcase_add_test(te, test_eval_environment);
  tcase_add_test(te, test_eval_template_formulas);
  suite_add_tcase(s, te);
  TCase *tf = tcase_create("fold");
  tcase_add_test(tf, test_fold_elementwise_broadcast);
  tcase_add_test(tf, test_fold_needs_all_const_and_a_formula);
  tcase_add_test(tf, test_fold_views_and_transpose);
  tcase_add_test(tf, test_fold_slice);
  tcase_add_test(tf, test_fold_size_limit);
  tcase_add_test(tf, test_fold_registry_ops);
  suite_add_tcase(s, tf);
  TCase *ts = tcase_create("simplify");
  tcase_add_test(ts, test_simplify_identities);
  tcase_add_test(ts, test_simplify_refuses_unsafe);
  tcase_add_test(ts, test_simplify_neg_neg);
  tcase_add_test(ts, test_simplify_transposes);
  tcase_add_test(ts, test_simplify_in_place_index_ops);
  tcase_add_test(ts, test_simplify_views);
  suite_add_tcase(s, ts);
  TCase *tb = tcase_create("bn_fold");
  tcase_add_test(tb, test_bn_fold_conv);
  tcase_add_test(tb, test_bn_fold_refused);
  tcase_add_test(tb, test_bn_fold_linear);
  suite_add_tcase(s, tb);
  TCase *tq = tcase_create("qdq");
  tcase_add_test(tq, test_qdq_conv_relu);
  tcase_add_test(tq, test_qdq_refused);
  suite_add_tcase(s, tq);
  TCase *tr = tcase_create("recognize");
  tcase_add_test(tr, test_recognize_attention);
  tcase_add_test(tr, test_recognize_linear_softmax);
  tcase_add_test(tr, test_recognize_refuses);
  tcase_add_test(tr, test_recognize_causal_mask);
  suite_add_tcase(s, tr);
  TCase *tp = tcase_create("pipeline");
  tcase_set_timeout(tp, 60);
  tcase_add_test(tp, test_pipeline_levels_and_fixed_point);
  tcase_add_test(tp, test_models);
  suite_add_tcase(s, tp);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

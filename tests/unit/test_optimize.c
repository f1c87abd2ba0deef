/* test_optimize.c — graph passes: CSE merges equal values, DCE drops what no output needs, the
 * input graph is never modified, and -O0 is a faithful copy. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_defs.h"
#include "optimize.h"

static mlg_type vec(int64_t n) {
  mlg_type t = {.dtype = MLG_F32, .rank = 1};
  t.dims[0] = n;
  return t;
}

static int add_leaf(mlg_graph_builder *b, mlg_node_kind kind, const char *name, int64_t n,
                    const float *data) {
  mlg_node node = {.kind = kind, .name = name, .type = vec(n), .data = data};
  return mlg_graph_add(b, &node);
}

static int add_op(mlg_graph_builder *b, const mlg_op_def *op, int a, int c, int64_t n) {
  int in[2] = {a, c};
  mlg_node node = {.kind = MLG_NODE_OP, .op = op, .type = vec(n), .inputs = in,
                   .n_inputs = c < 0 ? 1 : 2};
  return mlg_graph_add(b, &node);
}

/* x -> r1 = relu(x), r2 = relu(x), s = r1 + r2, dead = exp(x); c1, c2 equal consts,
 * y = s * c1 + s * c2; an unused param. */
static mlg_graph *sample(void) {
  static const float k[4] = {1, 2, 3, 4};
  mlg_graph_builder b;
  ck_assert_int_eq(mlg_graph_builder_init(&b, "sample"), 0);
  int x = add_leaf(&b, MLG_NODE_INPUT, "x", 4, NULL);
  add_leaf(&b, MLG_NODE_PARAM, "unused", 4, NULL);
  int c1 = add_leaf(&b, MLG_NODE_CONST, "c1", 4, k);
  int c2 = add_leaf(&b, MLG_NODE_CONST, "c2", 4, k);
  int r1 = add_op(&b, &mlg_op_relu, x, -1, 4);
  int r2 = add_op(&b, &mlg_op_relu, x, -1, 4);
  int s = add_op(&b, &mlg_op_add, r1, r2, 4);
  add_op(&b, &mlg_op_exp, x, -1, 4);
  int m1 = add_op(&b, &mlg_op_mul, s, c1, 4);
  int m2 = add_op(&b, &mlg_op_mul, s, c2, 4);
  int y = add_op(&b, &mlg_op_add, m1, m2, 4);
  ck_assert_int_eq(mlg_graph_add_output(&b, "y", y), 0);
  return mlg_graph_builder_finish(&b);
}

static int count_op(const mlg_graph *g, const mlg_op_def *op) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].kind == MLG_NODE_OP && g->nodes[i].op == op;
  return n;
}

static int count_kind(const mlg_graph *g, mlg_node_kind kind) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].kind == kind;
  return n;
}

START_TEST(test_cse_merges_equal_values) {
  mlg_graph *g = sample();
  mlg_graph *c = mlg_pass_cse(g);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(count_op(c, &mlg_op_relu), 1);
  ck_assert_int_eq(count_op(c, &mlg_op_mul), 1); /* s*c1 and s*c2 are one value once c1 == c2 */
  ck_assert_int_eq(count_kind(c, MLG_NODE_CONST), 1);
  ck_assert_int_eq(count_kind(c, MLG_NODE_PARAM), 1); /* never merged */
  ck_assert_int_eq(g->n_nodes, 11);                    /* the input graph is untouched */
  mlg_graph_free(c);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_dce_drops_dead_nodes_keeps_inputs) {
  mlg_graph *g = sample();
  mlg_graph *d = mlg_pass_dce(g);
  ck_assert_ptr_nonnull(d);
  ck_assert_int_eq(count_op(d, &mlg_op_exp), 0);
  ck_assert_int_eq(count_kind(d, MLG_NODE_PARAM), 0);
  ck_assert_int_eq(count_kind(d, MLG_NODE_INPUT), 1);
  ck_assert_int_eq(d->n_outputs, 1);
  ck_assert_str_eq(d->outputs[0].name, "y");
  const mlg_node *y = &d->nodes[d->outputs[0].node];
  ck_assert_ptr_eq(y->op, &mlg_op_add);
  for (int i = 0; i < d->n_nodes; i++)
    for (int k = 0; k < d->nodes[i].n_inputs; k++) ck_assert_int_lt(d->nodes[i].inputs[k], i);
  mlg_graph_free(d);
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_optimize_levels) {
  mlg_graph *g = sample();
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_graph *o0 = mlg_optimize(g, 0, &diag);
  mlg_graph *o2 = mlg_optimize(g, 2, &diag);
  ck_assert_ptr_nonnull(o0);
  ck_assert_ptr_nonnull(o2);
  ck_assert_int_eq(o0->n_nodes, g->n_nodes);
  /* x, c, relu, add, mul, add */
  ck_assert_int_eq(o2->n_nodes, 6);
  ck_assert_int_eq(diag.n_errors, 0);
  mlg_graph_free(o0);
  mlg_graph_free(o2);
  mlg_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("optimize");
  TCase *tc = tcase_create("passes");
  tcase_add_test(tc, test_cse_merges_equal_values);
  tcase_add_test(tc, test_dce_drops_dead_nodes_keeps_inputs);
  tcase_add_test(tc, test_optimize_levels);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_lower.c — the lowering driver (compiler/lower.c): launches, aliases of views, copies for
 * outputs that do not own their bytes, kernel names, errors; then the lowered graph is run
 * launch by launch on OpenCL (tests/unit/cl_harness.c) and compared with a C reference.
 * The ops are the registry's (one test-local op has no kernel, for the error path). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_harness.c"
#include "graph.h"
#include "lower.h"
#include "lower_util.h"
#include "op.h"
#include "ops/op_defs.h"
#include "templates/elementwise.h"

static const mlg_op_def op_nokernel = {.name = "mystery", .cls = MLG_OPC_OPAQUE,
                                       .min_inputs = 1, .max_inputs = 1};

static mlg_type f32(int rank, const int64_t *dims) {
  mlg_type t = {.dtype = MLG_F32, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

static int add_leaf(mlg_graph_builder *gb, mlg_node_kind kind, const char *name, mlg_type t) {
  mlg_node n = {.kind = kind, .name = name, .type = t};
  return mlg_graph_add(gb, &n);
}

static int add_op(mlg_graph_builder *gb, const mlg_op_def *op, mlg_type t, int n_in,
                  const int *in, const mlg_attr *attrs, int n_attrs) {
  mlg_node n = {.kind = MLG_NODE_OP, .op = op, .type = t, .n_inputs = n_in, .inputs = in,
                .span = {10, 20}};
  for (int i = 0; i < n_attrs; i++) n.attrs[i] = attrs[i];
  return mlg_graph_add(gb, &n);
}

/*   x : f32[2, 3, 4] (input), b : f32[4] (param)
 *   s = add(x, b); l = leaky_relu(s, 0.25); r = reshape(l) : [6, 4]; t = transpose(r) : [4, 6]
 *   outputs: t, r (a view: must be copied), x (an input: copied into a temporary) */
static mlg_graph *build_graph(void) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "t"), 0);
  int64_t dx[3] = {2, 3, 4}, db[1] = {4}, dr[2] = {6, 4}, dt[2] = {4, 6};
  int x = add_leaf(&gb, MLG_NODE_INPUT, "x", f32(3, dx));
  int b = add_leaf(&gb, MLG_NODE_PARAM, "b", f32(1, db));
  int in_s[2] = {x, b};
  int s = add_op(&gb, &mlg_op_add, f32(3, dx), 2, in_s, NULL, 0);
  mlg_attr alpha = {.kind = MLG_ATTR_FLOAT, .n = 1, .f = 0.25};
  int l = add_op(&gb, &mlg_op_leaky_relu, f32(3, dx), 1, &s, &alpha, 1);
  int r = add_op(&gb, &mlg_op_reshape, f32(2, dr), 1, &l, NULL, 0);
  mlg_attr perm = {.kind = MLG_ATTR_INTS, .n = 2, .ints = {1, 0}};
  int t = add_op(&gb, &mlg_op_transpose, f32(2, dt), 1, &r, &perm, 1);
  ck_assert_int_eq(t, 5);
  mlg_graph_add_output(&gb, "t", t);
  mlg_graph_add_output(&gb, "r", r);
  mlg_graph_add_output(&gb, "xin", x);
  mlg_graph *g = mlg_graph_builder_finish(&gb);
  ck_assert_ptr_nonnull(g);
  return g;
}

START_TEST(test_lower_structure) {
  mlg_graph *g = build_graph();
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_lowered *lw = mlg_lower(g, &diag);
  ck_assert_ptr_nonnull(lw);
  ck_assert_int_eq(diag.n_errors, 0);
  /* add, leaky_relu, transpose, copy (r), copy (x → temporary); the two copies move 24 floats
   * each, so they are one kernel launched twice */
  ck_assert_int_eq(lw->n_launches, 5);
  ck_assert_int_eq(kir_module_count(lw->module), 4);
  ck_assert_ptr_eq(lw->launches[3].kernel, lw->launches[4].kernel);
  for (int i = 0; i < 4; i++) ck_assert_ptr_eq(kir_module_kernel(lw->module, i), lw->launches[i].kernel);
  static const char *names[5] = {"k_add", "k_leaky_relu", "k_transpose", "k_copy", "k_copy"};
  static const int args[5][3] = {{0, 1, 2}, {2, 3, -1}, {3, 5, -1}, {3, 4, -1}, {0, 6, -1}};
  /* One flop per element for the elementwise ops, none for data movement; bytes: each input
   * and the output once (add reads b's 4 elements once). */
  static const int64_t flops[5] = {24, 24, 0, 0, 0};
  static const int64_t bytes[5] = {(24 + 4 + 24) * 4, 48 * 4, 48 * 4, 48 * 4, 48 * 4};
  for (int i = 0; i < 5; i++) {
    const mlg_launch *la = &lw->launches[i];
    ck_assert_str_eq(la->kernel->name, names[i]);
    ck_assert_int_eq(la->n_args, la->kernel->n_buffers);
    for (int a = 0; a < la->n_args; a++) ck_assert_int_eq(la->args[a], args[i][a]);
    ck_assert_int_eq(la->groups[0], 1);
    ck_assert_int_eq(la->flops, flops[i]);
    ck_assert_int_eq(la->bytes, bytes[i]);
  }
  /* the transpose read the view r through its root l (3); r now owns its bytes */
  ck_assert_int_eq(lw->n_tensors, 7);
  for (int t = 0; t < 7; t++) ck_assert_int_eq(lw->alias_of[t], -1);
  ck_assert_int_eq(lw->temp_bytes[0], 24 * 4);
  ck_assert_int_eq(lw->n_outputs, 3);
  ck_assert_int_eq(lw->output_tensor[0], 5);
  ck_assert_int_eq(lw->output_tensor[1], 4);
  ck_assert_int_eq(lw->output_tensor[2], 6);
  mlg_lowered_free(lw);
  mlg_graph_free(g);
}
END_TEST

/* A view that is not an output stays an alias, resolved to its root (never to another view). */
START_TEST(test_lower_alias_chain) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "a"), 0);
  int64_t d1[1] = {12}, d2[2] = {3, 4}, d3[2] = {4, 3};
  int x = add_leaf(&gb, MLG_NODE_INPUT, "x", f32(1, d1));
  int v1 = add_op(&gb, &mlg_op_reshape, f32(2, d2), 1, &x, NULL, 0);
  int v2 = add_op(&gb, &mlg_op_reshape, f32(2, d3), 1, &v1, NULL, 0);
  mlg_attr alpha = {.kind = MLG_ATTR_FLOAT, .n = 1, .f = 0.5};
  int l = add_op(&gb, &mlg_op_leaky_relu, f32(2, d3), 1, &v2, &alpha, 1);
  mlg_graph_add_output(&gb, "y", l);
  mlg_graph *g = mlg_graph_builder_finish(&gb);
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_lowered *lw = mlg_lower(g, &diag);
  ck_assert_ptr_nonnull(lw);
  ck_assert_int_eq(lw->alias_of[v1], x);
  ck_assert_int_eq(lw->alias_of[v2], x);
  ck_assert_int_eq(lw->n_launches, 1);
  ck_assert_int_eq(lw->launches[0].args[0], x);
  ck_assert_int_eq(lw->launches[0].args[1], l);
  mlg_lowered_free(lw);
  mlg_graph_free(g);
}
END_TEST

/* Lowers g (then frees it), which must fail with one error; returns the diagnostic text. */
static char *lower_error(mlg_graph *g) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, out);
  ck_assert_ptr_null(mlg_lower(g, &diag));
  fclose(out);
  ck_assert_int_eq(diag.n_errors, 1);
  mlg_graph_free(g);
  return text;
}

START_TEST(test_lower_no_kernel) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "n"), 0);
  int64_t d[1] = {4};
  int x = add_leaf(&gb, MLG_NODE_INPUT, "x", f32(1, d));
  int m = add_op(&gb, &op_nokernel, f32(1, d), 1, &x, NULL, 0);
  mlg_graph_add_output(&gb, "y", m);
  char *text = lower_error(mlg_graph_builder_finish(&gb));
  ck_assert_msg(strstr(text, "no kernel for op 'mystery'") != NULL, "got: %s", text);
  free(text);
}
END_TEST

/* Too many elements for 32-bit index math is an error, not a wrong kernel. */
START_TEST(test_lower_too_large) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "big"), 0);
  int64_t d[2] = {65536, 65536};
  int x = add_leaf(&gb, MLG_NODE_INPUT, "x", f32(2, d));
  mlg_attr alpha = {.kind = MLG_ATTR_FLOAT, .n = 1, .f = 0.5};
  int l = add_op(&gb, &mlg_op_leaky_relu, f32(2, d), 1, &x, &alpha, 1);
  mlg_graph_add_output(&gb, "y", l);
  char *text = lower_error(mlg_graph_builder_finish(&gb));
  ck_assert_msg(strstr(text, "32-bit") != NULL, "got: %s", text);
  free(text);
}
END_TEST

/* A template that cannot build a node's kernel: the error names the op, the node and the
 * template's reason (a graph the checker would have refused: groups do not divide). */
START_TEST(test_lower_template_reason) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "c"), 0);
  int64_t dx[4] = {1, 16, 6, 6}, dw[4] = {16, 5, 3, 3}, dy[4] = {1, 16, 4, 4};
  int in[2] = {add_leaf(&gb, MLG_NODE_INPUT, "x", f32(4, dx)),
               add_leaf(&gb, MLG_NODE_PARAM, "w", f32(4, dw))};
  mlg_attr attrs[4] = {{.kind = MLG_ATTR_INTS, .n = 2, .ints = {1, 1}},
                       {.kind = MLG_ATTR_INTS, .n = 4},
                       {.kind = MLG_ATTR_INTS, .n = 2, .ints = {1, 1}},
                       {.kind = MLG_ATTR_INT, .n = 1, .ints = {3}}};
  mlg_node c = {.kind = MLG_NODE_OP, .op = &mlg_op_conv2d, .name = "c1", .type = f32(4, dy),
                .n_inputs = 2, .inputs = in};
  memcpy(c.attrs, attrs, sizeof attrs);
  mlg_graph_add_output(&gb, "y", mlg_graph_add(&gb, &c));
  char *text = lower_error(mlg_graph_builder_finish(&gb));
  ck_assert_msg(strstr(text, "conv2d 'c1': cannot build kernel k_conv2d: groups (3) must divide "
                             "the input channels (16) and the output channels (16)") != NULL,
                "got: %s", text);
  free(text);
}
END_TEST

/* Runs the lowered graph launch by launch (one host array per tensor) and checks numbers. */
START_TEST(test_lower_runs) {
  clh h;
  ck_assert_msg(clh_init(&h) == 0, "no OpenCL device (install PoCL)");
  mlg_graph *g = build_graph();
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, NULL);
  mlg_lowered *lw = mlg_lower(g, &diag);
  ck_assert_ptr_nonnull(lw);
  float *tensors[7];
  size_t count[7];
  for (int t = 0; t < lw->n_tensors; t++) {
    int64_t n = t < g->n_nodes ? mlg_type_numel(&g->nodes[t].type) : lw->temp_bytes[t - g->n_nodes] / 4;
    count[t] = (size_t)n;
    tensors[t] = calloc((size_t)n, sizeof(float));
  }
  for (int i = 0; i < 24; i++) tensors[0][i] = (float)i - 12.0f;
  for (int i = 0; i < 4; i++) tensors[1][i] = (float)i * 0.5f - 1.0f;
  for (int i = 0; i < lw->n_launches; i++) {
    const mlg_launch *la = &lw->launches[i];
    void *host[4];
    size_t cnt[4];
    for (int a = 0; a < la->n_args; a++) {
      host[a] = tensors[la->args[a]];
      cnt[a] = count[la->args[a]];
    }
    ck_assert_int_eq(clh_run(&h, la->kernel, la->groups, host, cnt), 0);
  }
  float l[24];
  for (int i = 0; i < 24; i++) {
    float s = tensors[0][i] + tensors[1][i % 4];
    l[i] = s < 0 ? 0.25f * s : s;
  }
  for (int i = 0; i < 24; i++) ck_assert_float_eq(tensors[4][i], l[i]);         /* r */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 6; j++) ck_assert_float_eq(tensors[5][i * 6 + j], l[j * 4 + i]); /* t */
  for (int i = 0; i < 24; i++) ck_assert_float_eq(tensors[6][i], tensors[0][i]); /* xin */
  for (int t = 0; t < lw->n_tensors; t++) free(tensors[t]);
  mlg_lowered_free(lw);
  mlg_graph_free(g);
  clh_free(&h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lower");
  TCase *tc = tcase_create("lower");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_lower_structure);
  tcase_add_test(tc, test_lower_alias_chain);
  tcase_add_test(tc, test_lower_no_kernel);
  tcase_add_test(tc, test_lower_too_large);
  tcase_add_test(tc, test_lower_template_reason);
  tcase_add_test(tc, test_lower_runs);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

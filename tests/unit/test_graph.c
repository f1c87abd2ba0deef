/* test_graph.c — the graph IR: type utilities, the builder (copies, growth, outputs) and the
 * --emit=graph text format. */
#define _GNU_SOURCE 1 /* open_memstream */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "op.h"

static char *print_graph(const mlg_graph *g, const mlg_source *src) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  mlg_graph_print(g, src, f);
  fclose(f);
  return buf;
}

START_TEST(test_types) {
  char buf[128];
  mlg_type t = { .dtype = MLG_F32, .rank = 2, .dims = { 1, 784 } };
  ck_assert_str_eq(mlg_type_format(&t, buf, sizeof buf), "f32[1, 784]");
  ck_assert_int_eq(mlg_type_numel(&t), 784);
  mlg_type s = { .dtype = MLG_I32, .rank = 0 };
  ck_assert_str_eq(mlg_type_format(&s, buf, sizeof buf), "i32[]");
  ck_assert_int_eq(mlg_type_numel(&s), 1);
  ck_assert(!mlg_type_equal(&t, &s));
  mlg_type t2 = t;
  ck_assert(mlg_type_equal(&t, &t2));
  t2.dims[1] = 785;
  ck_assert(!mlg_type_equal(&t, &t2));
  t2 = t;
  t2.dtype = MLG_I32;
  ck_assert(!mlg_type_equal(&t, &t2));
  mlg_type big = { .dtype = MLG_F32, .rank = 3, .dims = { INT64_C(1) << 40, INT64_C(1) << 40, 2 } };
  ck_assert_int_eq(mlg_type_numel(&big), -1);
  mlg_type bad = { .dtype = MLG_F32, .rank = 9 };
  ck_assert_int_eq(mlg_type_numel(&bad), -1);
  /* A small buffer truncates instead of overflowing. */
  char tiny[6];
  mlg_type_format(&t, tiny, sizeof tiny);
  ck_assert_str_eq(tiny, "f32[1");
  ck_assert_str_eq(mlg_dtype_name(MLG_F32), "f32");
  ck_assert_str_eq(mlg_dtype_name(MLG_I32), "i32");
}
END_TEST

START_TEST(test_builder_copies) {
  mlg_graph_builder b;
  ck_assert_int_eq(mlg_graph_builder_init(&b, "m"), 0);
  char name[16];
  strcpy(name, "x");
  mlg_node in = { .kind = MLG_NODE_INPUT, .name = name, .type = { MLG_F32, 2, { 2, 3 } } };
  ck_assert_int_eq(mlg_graph_add(&b, &in), 0);
  strcpy(name, "clobbered");
  float data[2] = { 1.5f, -2.0f };
  mlg_node k = { .kind = MLG_NODE_CONST, .type = { MLG_F32, 1, { 2 } }, .data = data };
  ck_assert_int_eq(mlg_graph_add(&b, &k), 1);
  data[0] = 99.0f;
  int inputs[2] = { 0, 1 };
  mlg_node op = { .kind = MLG_NODE_OP, .op = mlg_op_find("add"), .type = { MLG_F32, 2, { 2, 2 } },
                  .n_inputs = 2, .inputs = inputs };
  ck_assert_int_eq(mlg_graph_add(&b, &op), 2);
  inputs[0] = 7;
  ck_assert_int_eq(mlg_graph_add_output(&b, "y", 2), 0);
  ck_assert_int_ne(mlg_graph_add_output(&b, "bad", 3), 0); /* no such node */
  mlg_graph *g = mlg_graph_builder_finish(&b);
  ck_assert_ptr_nonnull(g);
  ck_assert_ptr_null(b.graph);
  ck_assert_str_eq(g->model_name, "m");
  ck_assert_int_eq(g->n_nodes, 3);
  ck_assert_str_eq(g->nodes[0].name, "x");
  ck_assert(((const float *)g->nodes[1].data)[0] == 1.5f);
  ck_assert(((const float *)g->nodes[1].data)[1] == -2.0f);
  ck_assert_int_eq(g->nodes[2].inputs[0], 0);
  ck_assert_int_eq(g->nodes[2].inputs[1], 1);
  ck_assert_int_eq(g->n_outputs, 1);
  ck_assert_str_eq(g->outputs[0].name, "y");
  ck_assert_int_eq(g->outputs[0].node, 2);
  mlg_graph_free(g);
  mlg_graph_free(NULL);
}
END_TEST

START_TEST(test_builder_growth_and_abandon) {
  mlg_graph_builder b;
  ck_assert_int_eq(mlg_graph_builder_init(&b, NULL), 0);
  mlg_node in = { .kind = MLG_NODE_INPUT, .name = "x", .type = { MLG_F32, 1, { 4 } } };
  ck_assert_int_eq(mlg_graph_add(&b, &in), 0);
  const mlg_op_def *relu = mlg_op_find("relu");
  for (int i = 1; i < 20000; i++) {
    int prev = i - 1;
    mlg_node n = { .kind = MLG_NODE_OP, .op = relu, .type = in.type, .n_inputs = 1, .inputs = &prev };
    ck_assert_int_eq(mlg_graph_add(&b, &n), i);
  }
  for (int i = 0; i < 100; i++) ck_assert_int_eq(mlg_graph_add_output(&b, "o", 19999 - i), 0);
  ck_assert_int_eq(b.graph->n_nodes, 20000);
  ck_assert_int_eq(b.graph->nodes[12345].inputs[0], 12344);
  mlg_graph_builder_abandon(&b);
  ck_assert_ptr_null(b.graph);
  ck_assert_int_eq(mlg_graph_add(&b, &in), -1); /* abandoned builder refuses */
}
END_TEST

START_TEST(test_print_format) {
  static const char text[] = "model m {\n  input x : f32[1, 4]\n  output y = leaky_relu(x + c)\n}\n";
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "m.mlg", text, strlen(text)), 0);
  mlg_graph_builder b;
  ck_assert_int_eq(mlg_graph_builder_init(&b, "m"), 0);
  mlg_node x = { .kind = MLG_NODE_INPUT, .name = "x", .type = { MLG_F32, 2, { 1, 4 } },
                 .span = { 18, 19 } };
  mlg_graph_add(&b, &x);
  mlg_node w = { .kind = MLG_NODE_PARAM, .name = "w", .type = { MLG_F32, 1, { 4 } },
                 .init = { MLG_INIT_NORMAL, 0, 0.05, 7 } };
  mlg_graph_add(&b, &w);
  float half = 0.5f;
  mlg_node c = { .kind = MLG_NODE_CONST, .type = { MLG_F32, 0, { 0 } }, .data = &half };
  mlg_graph_add(&b, &c);
  int32_t idx[3] = { 2, 0, -1 };
  mlg_node ci = { .kind = MLG_NODE_CONST, .name = "idx", .type = { MLG_I32, 1, { 3 } }, .data = idx };
  mlg_graph_add(&b, &ci);
  int in_add[2] = { 0, 2 };
  mlg_node add = { .kind = MLG_NODE_OP, .op = mlg_op_find("add"), .type = x.type, .n_inputs = 2,
                   .inputs = in_add };
  add.span.begin = (uint32_t)(strstr(text, "x + c") - text);
  add.span.end = add.span.begin + 5;
  mlg_graph_add(&b, &add);
  int in_lr[1] = { 4 };
  mlg_node lr = { .kind = MLG_NODE_OP, .op = mlg_op_find("leaky_relu"), .name = "y", .type = x.type,
                  .n_inputs = 1, .inputs = in_lr };
  lr.span.begin = (uint32_t)(strstr(text, "leaky_relu") - text);
  lr.span.end = lr.span.begin + 10;
  lr.attrs[0] = (mlg_attr){ .kind = MLG_ATTR_FLOAT, .n = 1, .f = 0.01 };
  mlg_graph_add(&b, &lr);
  int in_t[1] = { 5 };
  mlg_node tr = { .kind = MLG_NODE_OP, .op = mlg_op_find("transpose"), .type = { MLG_F32, 2, { 4, 1 } },
                  .n_inputs = 1, .inputs = in_t };
  tr.attrs[0] = (mlg_attr){ .kind = MLG_ATTR_INTS, .n = 2, .ints = { 1, 0 } };
  mlg_graph_add(&b, &tr);
  mlg_graph_add_output(&b, "y", 5);
  mlg_graph_add_output(&b, "t", 6);
  mlg_graph *g = mlg_graph_builder_finish(&b);
  char *out = print_graph(g, &src);
  ck_assert_str_eq(out,
                   "graph m\n"
                   "  %0 = input x : f32[1, 4]  # @ 2:9\n"
                   "  %1 = param w : f32[4] = normal(0, 0.05, seed=7)\n"
                   "  %2 = const : f32[] = 0.5\n"
                   "  %3 = const idx : i32[3] = [2, 0, -1]\n"
                   "  %4 = add(%0, %2) : f32[1, 4]  # @ 3:25\n"
                   "  %5 = leaky_relu(%4) alpha=0.01 : f32[1, 4]  # y @ 3:14\n"
                   "  %6 = transpose(%5) perm=[1, 0] : f32[4, 1]\n"
                   "  output y = %5\n"
                   "  output t = %6\n");
  free(out);
  /* Without a source, no locations. */
  out = print_graph(g, NULL);
  ck_assert_ptr_nonnull(strstr(out, "  %5 = leaky_relu(%4) alpha=0.01 : f32[1, 4]  # y\n"));
  ck_assert_ptr_nonnull(strstr(out, "  %0 = input x : f32[1, 4]\n"));
  free(out);
  mlg_graph_free(g);
  mlg_source_free(&src);
}
END_TEST

int main(void) {
  Suite *s = suite_create("graph");
  TCase *tc = tcase_create("graph");
  tcase_add_test(tc, test_types);
  tcase_add_test(tc, test_builder_copies);
  tcase_add_test(tc, test_builder_growth_and_abandon);
  tcase_add_test(tc, test_print_format);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

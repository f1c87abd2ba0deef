/* test_emit_mlg.c — the graph-to-mlg-text printer (--emit=mlg) and the name mapping.
 * Every example model and every fixture's model printed as text and checked again gives the same
 * ops, in the same order, with the same types and attributes, the same dims and the same
 * outputs. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "checker.h"
#include "emit_mlg.h"
#include "graph.h"
#include "op.h"
#include "parse.h"

START_TEST(name_mapping) {
  static const char *const cases[][2] = {
      {"fc1.weight", "fc1.weight"},
      {"layer1.0.conv1.weight", "layer1.0.conv1.weight"},
      {"/layer1/conv1/Conv", "layer1.conv1.Conv"},
      {"onnx::Conv_18", "onnx__Conv_18"},
      {"input.1", "input.1"},
      {"input", "input_"},
      {"output", "output_"},
      {"23", "v23"},
      {"", "v"},
      {"a..b/", "a.b"},
      {"x y-z", "x_y_z"},
      {"caf\xc3\xa9", "caf__"},
  };
  char out[64];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mlg_name_sanitize(cases[k][0], out, sizeof out);
    ck_assert_msg(strcmp(out, cases[k][1]) == 0, "'%s' -> '%s', want '%s'", cases[k][0], out, cases[k][1]);
  }
  mlg_name_sanitize("a_very_long_name_that_does_not_fit", out, 8);
  ck_assert_str_eq(out, "a_very_");
  mlg_name_sanitize("input", out, 8);
  ck_assert_str_eq(out, "input_");
}
END_TEST

static mlg_graph *check_text(const char *name, const char *text, size_t len, char **log) {
  size_t log_size;
  FILE *ls = open_memstream(log, &log_size);
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, name, text, len), 0);
  mlg_diag diag;
  mlg_diag_init(&diag, &src, ls);
  mlg_ast *ast = mlg_parse(&src, &diag);
  mlg_graph *g = NULL;
  if (ast && diag.n_errors == 0) {
    mlg_check_options o = {0};
    g = mlg_check(ast, &o, &diag);
  }
  mlg_ast_free(ast);
  mlg_source_free(&src);
  fclose(ls);
  return g;
}

static void same_graph(const char *name, const mlg_graph *a, const mlg_graph *b, const char *text) {
  int ia = 0, ib = 0;
  char ta[128], tb[128];
  for (;;) {
    while (ia < a->n_nodes && a->nodes[ia].kind != MLG_NODE_OP) ia++;
    while (ib < b->n_nodes && b->nodes[ib].kind != MLG_NODE_OP) ib++;
    if (ia == a->n_nodes || ib == b->n_nodes) break;
    const mlg_node *x = &a->nodes[ia++], *y = &b->nodes[ib++];
    ck_assert_msg(x->op == y->op && mlg_type_equal(&x->type, &y->type),
                  "%s: op %s : %s became %s : %s\n%s", name, x->op->name, mlg_type_format(&x->type, ta, sizeof ta),
                  y->op->name, mlg_type_format(&y->type, tb, sizeof tb), text);
    ck_assert_msg(memcmp(x->attrs, y->attrs, sizeof x->attrs) == 0, "%s: the attributes of %s differ\n%s", name,
                  x->op->name, text);
  }
  ck_assert_msg(ia == a->n_nodes && ib == b->n_nodes, "%s: %d and %d ops", name, ia, ib);
  ck_assert_int_eq(a->n_outputs, b->n_outputs);
  /* By name: an output that is an input, param or const is printed after the bindings, so it
   * may come later in the text than in the source. */
  for (int o = 0; o < a->n_outputs; o++) {
    int found = -1;
    for (int k = 0; k < b->n_outputs; k++)
      if (strcmp(a->outputs[o].name, b->outputs[k].name) == 0) found = k;
    ck_assert_msg(found >= 0, "%s: output %s is lost\n%s", name, a->outputs[o].name, text);
    ck_assert(mlg_type_equal(&a->nodes[a->outputs[o].node].type, &b->nodes[b->outputs[found].node].type));
  }
  ck_assert_int_eq(a->n_dims, b->n_dims);
  for (int d = 0; d < a->n_dims; d++) {
    ck_assert_str_eq(a->dims[d].name, b->dims[d].name);
    ck_assert_int_eq(a->dims[d].value, b->dims[d].value);
  }
  ck_assert_int_eq(a->n_dim_uses, b->n_dim_uses);
}

/* Prints the model at `path` as text, checks the text, and compares the two graphs. */
static void round_trip(const char *path, const char *label) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  char *log = NULL;
  mlg_graph *g = check_text(path, src.text, src.length, &log);
  ck_assert_msg(g, "%s: %s", path, log);
  free(log);
  char *text = NULL;
  size_t text_size = 0;
  FILE *out = open_memstream(&text, &text_size);
  mlg_diag diag;
  mlg_diag_init(&diag, NULL, stderr);
  ck_assert_int_eq(mlg_emit_mlg(g, path, NULL, &diag, out), 0);
  fclose(out);
  mlg_graph *g2 = check_text("emitted.mlg", text, text_size, &log);
  ck_assert_msg(g2, "%s: the emitted text does not check:\n%s\n%s", label, log, text);
  free(log);
  same_graph(label, g, g2, text);
  mlg_graph_free(g);
  mlg_graph_free(g2);
  mlg_source_free(&src);
  free(text);
}

START_TEST(models_round_trip) {
  DIR *d = opendir(MLG_SOURCE_DIR "/models");
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".mlg") != 0) continue;
    char path[512];
    snprintf(path, sizeof path, MLG_SOURCE_DIR "/models/%s", e->d_name);
    round_trip(path, e->d_name);
    n++;
  }
  closedir(d);
  ck_assert_int_ge(n, 5);
}
END_TEST

/* The fixtures' models: every op, and consts, params and type attributes of every dtype. */
START_TEST(fixtures_round_trip) {
  DIR *d = opendir(MLG_SOURCE_DIR "/tests/fixtures");
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof path, MLG_SOURCE_DIR "/tests/fixtures/%.200s/model.mlg", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    fclose(f);
    round_trip(path, e->d_name);
    n++;
  }
  closedir(d);
  ck_assert_int_ge(n, 80);
}
END_TEST

int main(void) {
  Suite *s = suite_create("emit_mlg");
  TCase *tc = tcase_create("emit_mlg");
  tcase_add_test(tc, name_mapping);
  tcase_add_test(tc, models_round_trip);
  tcase_add_test(tc, fixtures_round_trip);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

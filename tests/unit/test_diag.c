/* test_diag.c — sources, line/col lookup, diagnostic rendering, error limits, edit distance. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"

/* Reports one error at [begin, end) of `text` and returns everything printed (caller frees). */
static char *render(const char *text, size_t length, uint32_t begin, uint32_t end, const char *msg) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "t.mlg", text, length), 0);
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  ck_assert_ptr_nonnull(out);
  mlg_diag d;
  mlg_diag_init(&d, &src, out);
  mlg_span span = {begin, end};
  mlg_diag_error(&d, span, "%s", msg);
  fclose(out);
  ck_assert_int_eq(d.n_errors, 1);
  mlg_source_free(&src);
  return buf;
}

START_TEST(line_col_lookup) {
  mlg_source src;
  const char *text = "ab\ncde\n\nf";
  ck_assert_int_eq(mlg_source_from_memory(&src, NULL, text, strlen(text)), 0);
  ck_assert_str_eq(src.path, "<memory>");
  int line, col;
  mlg_source_line_col(&src, 0, &line, &col);
  ck_assert_int_eq(line, 1); ck_assert_int_eq(col, 1);
  mlg_source_line_col(&src, 2, &line, &col); /* the newline itself */
  ck_assert_int_eq(line, 1); ck_assert_int_eq(col, 3);
  mlg_source_line_col(&src, 3, &line, &col);
  ck_assert_int_eq(line, 2); ck_assert_int_eq(col, 1);
  mlg_source_line_col(&src, 5, &line, &col);
  ck_assert_int_eq(line, 2); ck_assert_int_eq(col, 3);
  mlg_source_line_col(&src, 7, &line, &col);
  ck_assert_int_eq(line, 3); ck_assert_int_eq(col, 1);
  mlg_source_line_col(&src, 8, &line, &col);
  ck_assert_int_eq(line, 4); ck_assert_int_eq(col, 1);
  mlg_source_line_col(&src, 1000, &line, &col); /* clamped to the end */
  ck_assert_int_eq(line, 4); ck_assert_int_eq(col, 2);
  mlg_source_free(&src);
}
END_TEST

START_TEST(error_format_with_caret) {
  const char *text = "model m {\n  y = x @ w\n}\n";
  char *s = render(text, strlen(text), 16, 21, "matmul: inner dimensions differ (784 vs 785)");
  ck_assert_str_eq(s, "t.mlg:2:7: error: matmul: inner dimensions differ (784 vs 785)\n"
                      "    2 |   y = x @ w\n"
                      "      |       ^~~~~\n");
  free(s);
}
END_TEST

START_TEST(zero_width_span_and_span_past_line_end) {
  const char *text = "abc\ndef\n";
  char *s = render(text, strlen(text), 5, 5, "here");
  ck_assert_str_eq(s, "t.mlg:2:2: error: here\n    2 | def\n      |  ^\n");
  free(s);
  /* A span running over several lines is underlined to the end of its first line. */
  s = render(text, strlen(text), 1, 6, "multi");
  ck_assert_str_eq(s, "t.mlg:1:2: error: multi\n    1 | abc\n      |  ^~\n");
  free(s);
  /* At the very end of a file without a final newline. */
  s = render("abc", 3, 3, 3, "eof");
  ck_assert_str_eq(s, "t.mlg:1:4: error: eof\n    1 | abc\n      |    ^\n");
  free(s);
}
END_TEST

START_TEST(tabs_keep_caret_aligned) {
  const char *text = "\tx =\tfoo(1)\n";
  char *s = render(text, strlen(text), 5, 8, "unknown op");
  ck_assert_str_eq(s, "t.mlg:1:6: error: unknown op\n    1 | \tx =\tfoo(1)\n      | \t   \t^~~\n");
  free(s);
}
END_TEST

START_TEST(nonprintable_bytes_shown_as_question_marks) {
  const char text[] = "a\x01\x7f\x00\xff b\n";
  char *s = render(text, sizeof text - 1, 6, 7, "bad");
  ck_assert_str_eq(s, "t.mlg:1:7: error: bad\n    1 | a???? b\n      |       ^\n");
  free(s);
}
END_TEST

START_TEST(utf8_before_span_counts_one_column) {
  const char *text = "# 1\xc3\x97" "28 x\n"; /* "# 1×28 x" */
  char *s = render(text, strlen(text), 8, 9, "here");
  ck_assert_str_eq(s, "t.mlg:1:9: error: here\n    1 | # 1\xc3\x97" "28 x\n      |        ^\n");
  free(s);
}
END_TEST

START_TEST(long_line_is_windowed) {
  size_t n = 1 << 20;
  char *text = malloc(n + 1);
  ck_assert_ptr_nonnull(text);
  memset(text, 'a', n);
  memcpy(text + 500000, "BAD", 3);
  text[n] = '\0';
  char *s = render(text, n, 500000, 500003, "here");
  /* header, source line, caret line: each short. */
  char *line2 = strchr(s, '\n') + 1;
  char *line3 = strchr(line2, '\n') + 1;
  ck_assert_int_lt((int)(line3 - line2), 200);
  ck_assert_int_lt((int)strlen(line3), 200);
  ck_assert_ptr_nonnull(strstr(line2, " | ...a"));
  ck_assert_ptr_nonnull(strstr(line2, "aBADa"));
  ck_assert_ptr_nonnull(strstr(line2, "a...\n"));
  /* The caret sits under the B. */
  size_t col_b = (size_t)(strstr(line2, "BAD") - line2);
  ck_assert_int_eq(line3[col_b], '^');
  ck_assert_int_eq(line3[col_b + 1], '~');
  ck_assert_int_eq(line3[col_b + 2], '~');
  free(s);
  /* Near the start of a long line: no leading "...". */
  s = render(text, n, 2, 3, "start");
  line2 = strchr(s, '\n') + 1;
  ck_assert_ptr_nonnull(strstr(line2, " | aaa"));
  ck_assert_int_lt((int)strcspn(line2, "\n"), 200);
  free(s);
  /* At the end of a long line. */
  s = render(text, n, (uint32_t)n, (uint32_t)n, "end");
  line2 = strchr(s, '\n') + 1;
  line3 = strchr(line2, '\n') + 1;
  ck_assert_ptr_nonnull(strstr(line2, " | ...aaa"));
  ck_assert_int_lt((int)strcspn(line2, "\n"), 200);
  ck_assert_int_eq(line3[strlen(line3) - 2], '^');
  ck_assert_int_eq(strcspn(line2, "\n") + 1, strlen(line3) - 1); /* caret just past the end */
  free(s);
  free(text);
}
END_TEST

START_TEST(no_location_and_no_source) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "x.mlg", "abc", 3), 0);
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  mlg_diag d;
  mlg_diag_init(&d, &src, out);
  mlg_span none = {0, 0};
  mlg_diag_error(&d, none, "no model");
  mlg_diag_init(&d, NULL, out);
  mlg_diag_error(&d, none, "bad -D flag '%s'", "N=x");
  mlg_diag_warning(&d, none, "w");
  mlg_diag_note(&d, none, "n");
  fclose(out);
  ck_assert_str_eq(buf, "x.mlg: error: no model\nerror: bad -D flag 'N=x'\nwarning: w\nnote: n\n");
  ck_assert_int_eq(d.n_errors, 1);
  ck_assert_int_eq(d.n_warnings, 1);
  free(buf);
  mlg_source_free(&src);
}
END_TEST

START_TEST(max_errors_stops_reporting) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "m.mlg", "x\n", 2), 0);
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  mlg_diag d;
  mlg_diag_init(&d, &src, out);
  ck_assert_int_eq(d.max_errors, 20);
  mlg_span at = {0, 1};
  for (int i = 0; i < 25; i++) {
    ck_assert_int_eq(mlg_diag_full(&d), i >= 20);
    mlg_diag_error(&d, at, "error number %d", i);
  }
  mlg_diag_note(&d, at, "suppressed note");
  fclose(out);
  ck_assert_int_eq(d.n_errors, 20);
  ck_assert(mlg_diag_full(&d));
  ck_assert_ptr_nonnull(strstr(buf, "error number 19\n"));
  ck_assert_ptr_null(strstr(buf, "error number 20"));
  ck_assert_ptr_null(strstr(buf, "suppressed"));
  const char *note = strstr(buf, "m.mlg: note: too many errors, stopping\n");
  ck_assert_ptr_nonnull(note);
  ck_assert_ptr_null(strstr(note + 20, "too many errors"));
  ck_assert_str_eq(note + strlen("m.mlg: note: too many errors, stopping\n"), "");
  free(buf);

  /* max_errors = 0: no limit; out = NULL: silent but counted. */
  mlg_diag_init(&d, &src, NULL);
  d.max_errors = 0;
  for (int i = 0; i < 100; i++) mlg_diag_error(&d, at, "e");
  ck_assert_int_eq(d.n_errors, 100);
  ck_assert(!mlg_diag_full(&d));
  mlg_source_free(&src);
}
END_TEST

START_TEST(colors) {
  mlg_source src;
  ck_assert_int_eq(mlg_source_from_memory(&src, "c.mlg", "abc\n", 4), 0);
  char *buf = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  mlg_diag d;
  mlg_diag_init(&d, &src, out);
  d.color = 1;
  mlg_span at = {1, 2};
  mlg_diag_error(&d, at, "x");
  fclose(out);
  ck_assert_ptr_nonnull(strstr(buf, "\033[1;31merror:"));
  ck_assert_ptr_nonnull(strstr(buf, "abc"));
  free(buf);
  mlg_source_free(&src);
}
END_TEST

START_TEST(long_message) {
  char msg[3000];
  memset(msg, 'm', sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  char *s = render("abc\n", 4, 0, 1, msg);
  ck_assert_ptr_nonnull(strstr(s, msg));
  free(s);
}
END_TEST

START_TEST(source_load_files) {
  char dir[] = "/tmp/mlg_test_diag_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/a.mlg", dir);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite("model\0m", 1, 7, f);
  fclose(f);

  mlg_source src;
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  ck_assert_uint_eq(src.length, 7);
  ck_assert_int_eq(memcmp(src.text, "model\0m", 8), 0); /* NUL-terminated, embedded NUL kept */
  ck_assert_str_eq(src.path, path);
  mlg_source_free(&src);
  mlg_source_free(&src); /* idempotent */

  errno = 0;
  ck_assert_int_eq(mlg_source_load(&src, "/nonexistent/dir/x.mlg"), -1);
  ck_assert_int_eq(errno, ENOENT);
  ck_assert_ptr_null(src.text);

  ck_assert_int_eq(mlg_source_load(&src, dir), -1); /* a directory */

  /* Just over 64 MiB (sparse) is rejected with EFBIG; exactly 64 MiB loads. */
  snprintf(path, sizeof path, "%s/big.mlg", dir);
  f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(ftruncate(fileno(f), 64 * 1024 * 1024 + 1), 0);
  fclose(f);
  errno = 0;
  ck_assert_int_eq(mlg_source_load(&src, path), -1);
  ck_assert_int_eq(errno, EFBIG);
  ck_assert_int_eq(truncate(path, 64 * 1024 * 1024), 0);
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  ck_assert_uint_eq(src.length, 64u * 1024 * 1024);
  mlg_source_free(&src);
  unlink(path);

  snprintf(path, sizeof path, "%s/empty.mlg", dir);
  f = fopen(path, "wb");
  fclose(f);
  ck_assert_int_eq(mlg_source_load(&src, path), 0);
  ck_assert_uint_eq(src.length, 0);
  ck_assert_str_eq(src.text, "");
  mlg_source_free(&src);
  unlink(path);
  snprintf(path, sizeof path, "%s/a.mlg", dir);
  unlink(path);
  rmdir(dir);

  ck_assert_int_eq(mlg_source_from_memory(&src, "x", NULL, 0), 0);
  ck_assert_str_eq(src.text, "");
  mlg_source_free(&src);
}
END_TEST

START_TEST(edit_distance) {
  ck_assert_int_eq(mlg_edit_distance("kitten", "sitting", 5), 3);
  ck_assert_int_eq(mlg_edit_distance("kitten", "sitting", 2), 3); /* capped: cap + 1 */
  ck_assert_int_eq(mlg_edit_distance("relu", "relu", 2), 0);
  ck_assert_int_eq(mlg_edit_distance("rleu", "relu", 2), 2);
  ck_assert_int_eq(mlg_edit_distance("softmx", "softmax", 2), 1);
  ck_assert_int_eq(mlg_edit_distance("", "abc", 5), 3);
  ck_assert_int_eq(mlg_edit_distance("abc", "", 1), 2);
  ck_assert_int_eq(mlg_edit_distance("a", "abcdefgh", 2), 3);
  ck_assert_int_eq(mlg_edit_distance("linear", "conv2d", 2), 3);
  ck_assert_int_eq(mlg_edit_distance("matmul", "matmul", 0), 0);
  ck_assert_int_eq(mlg_edit_distance("matmul", "matmux", 0), 1);
  /* Suggestions: up to two edits; short names only with one edit that keeps a character. */
  ck_assert_int_eq(mlg_suggest_distance("sofmax", "softmax"), 1);
  ck_assert_int_eq(mlg_suggest_distance("fc1.weigth", "fc1.weight"), 2);
  ck_assert_int_eq(mlg_suggest_distance("lienar", "conv2d"), -1);
  ck_assert_int_eq(mlg_suggest_distance("hh", "h"), 1);
  ck_assert_int_eq(mlg_suggest_distance("w1", "w2"), 1);
  ck_assert_int_eq(mlg_suggest_distance("x", "xb"), 1);
  ck_assert_int_eq(mlg_suggest_distance("g", "x"), -1);   /* nothing in common */
  ck_assert_int_eq(mlg_suggest_distance("M", "N"), -1);
  ck_assert_int_eq(mlg_suggest_distance("n", "N"), 1);      /* only the case differs */
  ck_assert_int_eq(mlg_suggest_distance("Batch", "batch"), 1);
  ck_assert_int_eq(mlg_suggest_distance("ab", "cd"), -1);
  ck_assert_int_eq(mlg_suggest_distance("ax", "axis"), -1); /* two edits to a short name */
  ck_assert_int_eq(mlg_suggest_distance("abc", "abd"), 1);
  ck_assert_int_eq(mlg_suggest_distance(NULL, "x"), -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("diag");
  TCase *tc = tcase_create("diag");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, line_col_lookup);
  tcase_add_test(tc, error_format_with_caret);
  tcase_add_test(tc, zero_width_span_and_span_past_line_end);
  tcase_add_test(tc, tabs_keep_caret_aligned);
  tcase_add_test(tc, nonprintable_bytes_shown_as_question_marks);
  tcase_add_test(tc, utf8_before_span_counts_one_column);
  tcase_add_test(tc, long_line_is_windowed);
  tcase_add_test(tc, no_location_and_no_source);
  tcase_add_test(tc, max_errors_stops_reporting);
  tcase_add_test(tc, colors);
  tcase_add_test(tc, long_message);
  tcase_add_test(tc, source_load_files);
  tcase_add_test(tc, edit_distance);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

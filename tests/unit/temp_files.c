/* temp_files.c — SHARED test helpers for temporary folders and files. Include this file from
 * one test translation unit (`#include "temp_files.c"`): tests are single-file executables. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh folder under the build tree. */
static void temp_dir(char *buf, size_t size) {
  snprintf(buf, size, "%s/test_tmp_XXXXXX", MLG_BINARY_DIR);
  ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s", buf);
}

/* rm -r: the temporary folders' trees are a few levels deep at most. */
static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char child[4400];
      snprintf(child, sizeof child, "%s/%s", path, e->d_name);
      remove_tree(child);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

__attribute__((unused)) static void write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "fopen %s", path);
  ck_assert_uint_eq(fwrite(data, 1, size, f), size);
  fclose(f);
}

/* op_doc.c — docs/ops.md's reference tables, printed from the registry (op.h
 * mlg_op_doc_print), so the documentation of every op's call is its definition. */
#include <stdio.h>
#include <string.h>

#include "op_util.h"

static const char *const CLASS_NAMES[] = {"ELEMENTWISE", "VIEW", "INJECTIVE", "REDUCTION",
                                          "ROWWISE", "MATMUL", "CONV", "POOL", "OPAQUE"};
enum { N_CLASSES = (int)(sizeof CLASS_NAMES / sizeof CLASS_NAMES[0]) };

/* Text inside a table cell: '|' escaped. */
static void cell(FILE *out, const char *s) {
  for (; s && *s; s++) {
    if (*s == '|') fputc('\\', out);
    fputc(*s, out);
  }
}

/* 1e-05 as 1e-5, 0.01 as 0.01. */
static void print_float(FILE *out, double v) {
  char buf[64], *e;
  snprintf(buf, sizeof buf, "%g", v);
  if ((e = strstr(buf, "e-0")) != NULL) memmove(e + 2, e + 3, strlen(e + 3) + 1);
  fputs(buf, out);
}

static void print_value(FILE *out, const mlg_attr_def *ad, const mlg_attr *a) {
  if (a->kind == MLG_ATTR_FLOAT) {
    print_float(out, a->f);
    return;
  }
  if (a->kind == MLG_ATTR_ENUM) {
    const char *name = mlg_attr_choice(ad, a->ints[0]);
    fputs(name ? name : "?", out);
    return;
  }
  if (a->kind == MLG_ATTR_DTYPE) {
    fputs(mlg_dtype_name((mlg_ir_dtype)a->ints[0]), out);
    return;
  }
  if (a->n != 1) fputc('[', out);
  for (int i = 0; i < a->n; i++) {
    if (i) fputs(", ", out);
    if (a->kind == MLG_ATTR_FLOATS) print_float(out, a->floats[i]);
    else fprintf(out, "%lld", (long long)a->ints[i]);
  }
  if (a->n != 1) fputc(']', out);
}

static void print_attrs(FILE *out, const mlg_op_def *d) {
  static const char *const kinds[] = {"none", "int", "float", "ints", "floats", "enum", "type"};
  if (d->n_attrs == 0) fputs("—", out);
  for (int k = 0; k < d->n_attrs; k++) {
    const mlg_attr_def *a = &d->attrs[k];
    fprintf(out, "%s`%s` %s", k ? ", " : "", a->name, kinds[a->kind]);
    if (a->kind == MLG_ATTR_ENUM) {
      fputs(" `", out);
      for (int i = 0; a->choices && a->choices[i]; i++) fprintf(out, "%s%s", i ? "\\|" : "", a->choices[i]);
      fputc('`', out);
    }
    if (a->required) {
      fputs(" (required)", out);
    } else if (a->deflt.kind == MLG_ATTR_NONE) {
      fputs(" (optional)", out);
    } else {
      fputs(" = ", out);
      print_value(out, a, &a->deflt);
    }
  }
}

void mlg_op_doc_print(FILE *out) {
  fputs("| op | class | inputs | attributes | output | computes |\n", out);
  fputs("| --- | --- | --- | --- | --- | --- |\n", out);
  for (int i = 0; i < mlg_op_count(); i++) {
    const mlg_op_def *d = mlg_op_at(i);
    fprintf(out, "| `%s` | %s | ", d->name, CLASS_NAMES[d->cls]);
    cell(out, d->input_names);
    fputs(" | ", out);
    print_attrs(out, d);
    fputs(" | ", out);
    cell(out, d->shape_doc);
    fputs(" | ", out);
    cell(out, d->doc);
    fputs(" |\n", out);
  }
  fputs("\n| class | ops |\n| --- | --- |\n", out);
  for (int c = 0; c < N_CLASSES; c++) {
    fprintf(out, "| `%s` |", CLASS_NAMES[c]);
    for (int i = 0; i < mlg_op_count(); i++)
      if (mlg_op_at(i)->cls == (mlg_op_class)c) fprintf(out, " %s", mlg_op_at(i)->name);
    fputs(" |\n", out);
  }
}

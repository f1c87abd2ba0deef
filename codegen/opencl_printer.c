/* opencl_printer.c — OpenCL C 1.2 spellings for the shared kernel walk (kir_print.c).
 *
 * Buffers are `__global [const] T *restrict NAME, const uint NAME_off` and element i of the
 * tensor is NAME[NAME_off + i]. Work-item ids are cast to int: all index math is in int (the
 * lowering rejects tensors of 2^31 elements or more). Math uses the full-precision builtins
 * (never native_*): accuracy first. Subgroup operations have no portable spelling in OpenCL C
 * 1.2 (cl_khr_subgroups is 2.x and absent from NVIDIA's driver): kernels that use them are
 * refused (kir_opencl_check), and the templates never build them for this target.
 *
 * Storage types: a BOOL or U8 buffer is `uchar *`, I8 `char *`, F16 `half *`. Bytes are loaded
 * as `convert_int(x[i])` (BOOL: `(x[i] != 0)`) and stored as `(uchar)(v)`; halves go through
 * vload_half / vstore_half (round to nearest even; vload_halfN / vstore_halfN for vectors),
 * which OpenCL C 1.2 has without cl_khr_fp16, so the arithmetic is float on every device. */
#include <string.h>

#include "kir.h"
#include "kir_print.h"

static const char *cl_type_name(kir_type t, char *buf, size_t size) {
  static const char *const base[] = {[KIR_F32] = "float", [KIR_I32] = "int",
                                     [KIR_U32] = "uint", [KIR_BOOL] = "bool",
                                     [KIR_F16] = "half", [KIR_I8] = "char", [KIR_U8] = "uchar"};
  /* OpenCL has no bool vectors: a vector comparison yields int lanes. */
  const char *name = base[t.scalar];
  if (t.width > 1 && t.scalar == KIR_BOOL) name = "int";
  if (t.width > 1)
    snprintf(buf, size, "%s%d", name, t.width);
  else
    snprintf(buf, size, "%s", name);
  return buf;
}

static void cl_work_item_id(kir_printer *p, kir_expr_kind kind, int dim) {
  const char *fn = kind == KIR_E_GLOBAL_ID ? "get_global_id"
                   : kind == KIR_E_LOCAL_ID ? "get_local_id"
                                            : "get_group_id";
  fprintf(p->out, "(int)%s(%d)", fn, dim);
}

/* NAME_off + index, with index at additive-right-operand precedence. */
static void cl_offset_index(kir_printer *p, const char *name, const kir_expr *index) {
  if (index->kind == KIR_E_CONST_I && index->i == 0) {
    fprintf(p->out, "%s_off", name);
    return;
  }
  fprintf(p->out, "%s_off + ", name);
  kir_print_expr_prec(p, index, KIR_PREC_ADD_RHS);
}

/* The element type of a buffer as declared: a bool is a byte. */
static const char *cl_storage_name(kir_scalar s, char *buf, size_t size) {
  return cl_type_name(kir_t(s == KIR_BOOL ? KIR_U8 : s), buf, size);
}

static void cl_load(kir_printer *p, const kir_expr *e) {
  const char *name = p->k->buffers[e->index].name;
  kir_scalar st = p->k->buffers[e->index].elem.scalar;
  if (e->type.width > 1) { /* vloadN(0, NAME + NAME_off + i), vload_halfN for halves */
    fprintf(p->out, "vload%s%d(0, %s + ", st == KIR_F16 ? "_half" : "", e->type.width, name);
    cl_offset_index(p, name, e->a);
    fputc(')', p->out);
    return;
  }
  if (st == KIR_F16) {
    fputs("vload_half(", p->out);
    cl_offset_index(p, name, e->a);
    fprintf(p->out, ", %s)", name);
    return;
  }
  if (st == KIR_BOOL || st == KIR_I8 || st == KIR_U8) {
    fprintf(p->out, st == KIR_BOOL ? "(%s[" : "convert_int(%s[", name);
    cl_offset_index(p, name, e->a);
    fputs(st == KIR_BOOL ? "] != 0)" : "])", p->out);
    return;
  }
  fprintf(p->out, "%s[", name);
  cl_offset_index(p, name, e->a);
  fputc(']', p->out);
}

static void cl_store(kir_printer *p, const kir_stmt *s) {
  const char *name = p->k->buffers[s->target].name;
  kir_scalar st = p->k->buffers[s->target].elem.scalar;
  if (s->value->type.width > 1) { /* vstoreN(v, 0, NAME + NAME_off + i), vstore_halfN */
    fprintf(p->out, "vstore%s%d(", st == KIR_F16 ? "_half" : "", s->value->type.width);
    kir_print_expr(p, s->value);
    fprintf(p->out, ", 0, %s + ", name);
    cl_offset_index(p, name, s->index);
    fputs(");\n", p->out);
    return;
  }
  if (st == KIR_F16) {
    fputs("vstore_half(", p->out);
    kir_print_expr(p, s->value);
    fputs(", ", p->out);
    cl_offset_index(p, name, s->index);
    fprintf(p->out, ", %s);\n", name);
    return;
  }
  fprintf(p->out, "%s[", name);
  cl_offset_index(p, name, s->index);
  fputs("] = ", p->out);
  if (st == KIR_BOOL || st == KIR_I8 || st == KIR_U8) {
    char buf[16];
    fprintf(p->out, "(%s)", cl_storage_name(st, buf, sizeof buf));
    kir_print_expr_prec(p, s->value, KIR_PREC_ATOM);
  } else {
    kir_print_expr(p, s->value);
  }
  fputs(";\n", p->out);
}

static void cl_cast(kir_printer *p, kir_type t, const kir_expr *a) {
  char buf[32];
  if (t.width > 1 && a->type.width == 1) { /* splat: (float4)(x) */
    fprintf(p->out, "(%s)(", cl_type_name(t, buf, sizeof(buf)));
    kir_print_expr(p, a);
    fputc(')', p->out);
    return;
  }
  if (t.width > 1) {
    fprintf(p->out, "convert_%s(", cl_type_name(t, buf, sizeof(buf)));
    kir_print_expr(p, a);
    fputc(')', p->out);
    return;
  }
  fprintf(p->out, "(%s)", cl_type_name(t, buf, sizeof(buf)));
  kir_print_expr_prec(p, a, KIR_PREC_ATOM); /* parenthesized unless an atom */
}

static void cl_bitcast(kir_printer *p, kir_type t, const kir_expr *a) {
  char buf[32];
  fprintf(p->out, "as_%s(", cl_type_name(t, buf, sizeof(buf)));
  kir_print_expr(p, a);
  fputc(')', p->out);
}

static void cl_unroll(kir_printer *p, int unroll) {
  kir_print_indent(p);
  if (unroll < 0)
    fputs("#pragma unroll\n", p->out);
  else
    fprintf(p->out, "#pragma unroll %d\n", unroll);
}

static void cl_kernel_begin(kir_printer *p) {
  const kir_kernel *k = p->k;
  FILE *out = p->out;
  char buf[32];
  fprintf(out, "__kernel __attribute__((reqd_work_group_size(%d, %d, %d)))\nvoid %s(",
          k->local_size[0], k->local_size[1], k->local_size[2], k->name);
  if (k->n_buffers == 0) fputs("void", out);
  for (int i = 0; i < k->n_buffers; i++) {
    const kir_buffer *b = &k->buffers[i];
    fprintf(out, "%s__global %s%s *restrict %s, const uint %s_off", i ? ",\n    " : "",
            b->access == KIR_READ ? "const " : "", cl_storage_name(b->elem.scalar, buf, sizeof(buf)),
            b->name, b->name);
  }
  fputs(") {\n", out);
  for (int i = 0; i < k->n_locals; i++) {
    const kir_local *l = &k->locals[i];
    fprintf(out, "  __local %s %s[%d];\n", cl_type_name(l->elem, buf, sizeof(buf)), l->name,
            l->count);
  }
}

static void cl_kernel_end(kir_printer *p) { fputs("}\n", p->out); }

static const kir_dialect opencl_dialect = {
  .type_name = cl_type_name,
  .unop_fn = {[KIR_ABS] = "fabs", [KIR_EXP] = "exp", [KIR_LOG] = "log", [KIR_SQRT] = "sqrt",
              [KIR_RSQRT] = "rsqrt", [KIR_TANH] = "tanh", [KIR_ERF] = "erf",
              [KIR_FLOOR] = "floor", [KIR_CEIL] = "ceil", [KIR_SIN] = "sin",
              [KIR_COS] = "cos", [KIR_TAN] = "tan", [KIR_ROUND] = "rint"},
  .fmin_fn = "fmin", .fmax_fn = "fmax", .imin_fn = "min", .imax_fn = "max", .pow_fn = "pow",
  .fmod_fn = "fmod",
  .work_item_id = cl_work_item_id,
  .inf = "INFINITY", .nan = "NAN", .float_suffix = "f",
  .load = cl_load, .store = cl_store, .cast = cl_cast, .bitcast = cl_bitcast,
  .barrier = "barrier(CLK_LOCAL_MEM_FENCE);",
  .component_fmt = ".s%X",
  .vector_ctor_is_cast = 1,
  .swizzle_prefix = "s",
  .swizzle_lanes = "0123456789abcdef",
  .unroll = cl_unroll,
  .kernel_begin = cl_kernel_begin, .kernel_end = cl_kernel_end,
};

int kir_opencl_check(const kir_kernel *k, char *err, size_t err_size) {
  if (!(k->features & (KIR_FEATURE_SUBGROUP_BASIC | KIR_FEATURE_SUBGROUP_ARITH))) return 0;
  if (err && err_size)
    snprintf(err, err_size,
             "kernel %s: cannot be written as OpenCL C 1.2: it uses subgroup operations "
             "(Vulkan only)", k->name);
  return -1;
}

int kir_print_opencl_kernel(const kir_kernel *k, FILE *out) {
  if (kir_opencl_check(k, NULL, 0) != 0) return -1;
  return kir_print_kernel(&opencl_dialect, k, out);
}

int kir_print_opencl(const kir_module *m, FILE *out) {
  int n = kir_module_count(m);
  for (int i = 0; i < n; i++) {
    if (i) fputc('\n', out);
    if (kir_print_opencl_kernel(kir_module_kernel(m, i), out)) return -1;
  }
  return ferror(out) ? -1 : 0;
}

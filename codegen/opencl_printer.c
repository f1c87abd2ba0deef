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
 * which OpenCL C 1.2 has without cl_khr_fp16, so the arithmetic is float on every device.
 *
 * Matrix fragments (kir_frag_*) are NVIDIA tensor cores through inline PTX; the whole lane
 * mapping is the helper source mma_helpers below, and nothing else in mlg knows it. */
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
  if ((st == KIR_I8 || st == KIR_U8) && e->type.width > 1) {
    fprintf(p->out, "convert_int%d(vload%d(0, %s + ", e->type.width, e->type.width, name);
    cl_offset_index(p, name, e->a);
    fputs("))", p->out);
    return;
  }
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
  if (s->kind == KIR_S_STORE_BITS) { /* raw words into halves */
    const int w = s->value->type.width;
    if (w == 1) fputs("*(__global uint *)(", p->out);
    else fprintf(p->out, "vstore%d(", w);
    if (w > 1) {
      kir_print_expr(p, s->value);
      fputs(", 0, (__global uint *)(", p->out);
    }
    fprintf(p->out, "%s + ", name);
    cl_offset_index(p, name, s->index);
    if (w == 1) {
      fputs(") = ", p->out);
      kir_print_expr(p, s->value);
      fputs(";\n", p->out);
    } else {
      fputs("));\n", p->out);
    }
    return;
  }
  if (s->value->type.width > 1 && (st == KIR_I8 || st == KIR_U8)) {
    fprintf(p->out, "vstore%d(convert_%s%d(", s->value->type.width, st == KIR_I8 ? "char" : "uchar",
            s->value->type.width);
    kir_print_expr(p, s->value);
    fprintf(p->out, "), 0, %s + ", name);
    cl_offset_index(p, name, s->index);
    fputs(");\n", p->out);
    return;
  }
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

/* ---- tensor-core fragments (inline PTX; NVIDIA, compute capability 8.0+) ---- */

/* mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 multiplies a 16×16 (m×k) half matrix A by
 * a 16×8 (k×n) half matrix B and adds a 16×8 float C, each spread over the 32 lanes of a warp.
 * With lane = 4·g + t (g = lane >> 2 in 0..7, t = lane & 3) and [x, y] two halves packed in one
 * 32-bit register, x in the low 16 bits, lane (g, t) holds (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16 with floating point type"; checked on an H200 against a host product):
 *   A: a0 = [A(g, 2t), A(g, 2t+1)]       a1 = [A(g+8, 2t), A(g+8, 2t+1)]
 *      a2 = [A(g, 2t+8), A(g, 2t+9)]     a3 = [A(g+8, 2t+8), A(g+8, 2t+9)]
 *   B: b0 = [B(2t, g), B(2t+1, g)]       b1 = [B(2t+8, g), B(2t+9, g)]
 *   C: c0 = C(g, 2t)  c1 = C(g, 2t+1)    c2 = C(g+8, 2t)  c3 = C(g+8, 2t+1)
 * A 16×16 B or accumulator of the IR is two of those 8-column halves side by side: a B fragment
 * is uint[4] = {b0, b1 of columns 0..7, b0, b1 of columns 8..15} and an accumulator float[8] =
 * {c0..c3 of columns 0..7, c0..c3 of columns 8..15}; a 16×16×16 step is two mma.sync. The
 * kernel's work-group is 1-D with a multiple of 32 work-items (kir_opencl_check), so a warp is
 * 32 consecutive local ids and the lane is get_local_id(0) & 31. Local tiles are ushort arrays
 * of half bits; element (r, c) of a fragment's tile is p[r·s + c], or p[r + c·s] column-major.
 * A fragment is four 8×8 matrices, loaded by one ldmatrix.x4 (PTX ISA, "ldmatrix": lane 8i + j
 * gives the address of row j of matrix i, 16 bytes — the IR's indices and strides are multiples
 * of 8 — and lane (g, t) gets in register i that matrix's (g, 2t..2t+1), or with .trans its
 * (2t..2t+1, g)): the plain form where the fragment's pairs along k lie in a stored row (A
 * row-major, B column-major), the transposing one otherwise. mlg_mma_row(s, across) is the
 * lane's row offset: the four stored 8×8 blocks taken down the tile first (row-major tiles),
 * or across it first (column-major ones), which is the fragment's register order both ways.
 * ldmatrix's shared-state-space address is the __local pointer's value, (uint)(size_t)p
 * (checked on the H200, as the layouts were). */
static const char mma_helpers[] =
    "#ifndef MLG_MMA_HELPERS\n"
    "#define MLG_MMA_HELPERS\n"
    "#define MLG_MMA_INLINE static inline __attribute__((always_inline))\n"
    "MLG_MMA_INLINE void mlg_mma_ldsm(uint *f, __local const ushort *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "               : \"=r\"(f[0]), \"=r\"(f[1]), \"=r\"(f[2]), \"=r\"(f[3]) : \"r\"((uint)(size_t)p));\n"
    "}\n"
    "MLG_MMA_INLINE void mlg_mma_ldsm_t(uint *f, __local const ushort *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "               : \"=r\"(f[0]), \"=r\"(f[1]), \"=r\"(f[2]), \"=r\"(f[3]) : \"r\"((uint)(size_t)p));\n"
    "}\n"
    "MLG_MMA_INLINE void mlg_cp_async(__local ushort *p, __global const uint *g, int present) {\n"
    "  asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\"\n"
    "               :: \"r\"((uint)(size_t)p), \"l\"((ulong)g), \"r\"(present ? 16 : 0) : \"memory\");\n"
    "}\n"
    "#define mlg_cp_commit() asm volatile(\"cp.async.commit_group;\" ::: \"memory\")\n"
    "#define mlg_cp_wait(n) asm volatile(\"cp.async.wait_group \" #n \";\" ::: \"memory\")\n"
    "MLG_MMA_INLINE int mlg_mma_row(int s, int across) {\n"
    "  int l = (int)(get_local_id(0) & 31), i = across ? l >> 4 : l >> 3 & 1, j = across ? l >> 3 & 1 : l >> 4;\n"
    "  return ((l & 7) + i * 8) * s + j * 8;\n"
    "}\n"
    "MLG_MMA_INLINE void mlg_mma_16(float *c, const uint *a, const uint *b) {\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, \"\n"
    "               \"{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\"\n"
    "               : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "               : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]));\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, \"\n"
    "               \"{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\"\n"
    "               : \"+f\"(c[4]), \"+f\"(c[5]), \"+f\"(c[6]), \"+f\"(c[7])\n"
    "               : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[2]), \"r\"(b[3]));\n"
    "}\n"
    /* the accumulator's pairs (c[2i], c[2i+1]) are the A fragment's words, low half first
       (the layouts above); cvt.rn.f16x2.f32 puts its first source in the high half */
    "MLG_MMA_INLINE void mlg_mma_pack(uint *a, const float *c) {\n"
    "  for (int i = 0; i < 4; i++)\n"
    "    asm(\"cvt.rn.f16x2.f32 %0, %1, %2;\" : \"=r\"(a[i]) : \"f\"(c[2 * i + 1]), \"f\"(c[2 * i]));\n"
    "}\n"
    "MLG_MMA_INLINE float mlg_shfl_xor(float v, int mask) {\n"
    "  uint r;\n"
    "  asm volatile(\"shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;\" : \"=r\"(r) : \"r\"(as_uint(v)), \"r\"(mask));\n"
    "  return as_float(r);\n"
    "}\n"
    "MLG_MMA_INLINE void mlg_mma_store(__local float *p, int stride, const float *c) {\n"
    "  int lane = (int)(get_local_id(0) & 31), g = lane >> 2, t = (lane & 3) * 2;\n"
    "  for (int h = 0; h < 2; h++) {\n"
    "    __local float *q = p + g * stride + h * 8 + t;\n"
    "    q[0] = c[4 * h];\n"
    "    q[1] = c[4 * h + 1];\n"
    "    q[8 * stride] = c[4 * h + 2];\n"
    "    q[8 * stride + 1] = c[4 * h + 3];\n"
    "  }\n"
    "}\n"
    "#endif\n";

static void cl_load_bits(kir_printer *p, const kir_expr *e) {
  const int local = e->kind == KIR_E_LOCAL_LOAD_BITS;
  const char *name = local ? p->k->locals[e->index].name : p->k->buffers[e->index].name, *space = local ? "local" : "global";
  if (e->type.width == 1)
    fprintf(p->out, "*(__%s const uint *)(", space);
  else
    fprintf(p->out, "vload%d(0, (__%s const uint *)(", e->type.width, space);
  fprintf(p->out, "%s + ", name);
  if (local) kir_print_expr_prec(p, e->a, KIR_PREC_ADD_RHS);
  else cl_offset_index(p, name, e->a);
  fputs(e->type.width == 1 ? ")" : "))", p->out);
}

static void cl_local_store_half(kir_printer *p, const kir_stmt *s) {
  const char *name = p->k->locals[s->target].name;
  FILE *out = p->out;
  if (s->kind == KIR_S_LOCAL_STORE) { /* an F32 value, rounded to the nearest half */
    fputs("vstore_half(", out);
    kir_print_expr(p, s->value);
    fputs(", ", out);
    kir_print_expr(p, s->index);
    fprintf(out, ", (__local half *)%s);\n", name);
    return;
  }
  if (s->value->type.width == 1)
    fprintf(out, "*(__local uint *)(%s + ", name);
  else
    fprintf(out, "vstore%d(", s->value->type.width);
  if (s->value->type.width == 1) {
    kir_print_expr_prec(p, s->index, KIR_PREC_ADD_RHS);
    fputs(") = ", out);
    kir_print_expr(p, s->value);
    fputs(";\n", out);
    return;
  }
  kir_print_expr(p, s->value);
  fprintf(out, ", 0, (__local uint *)(%s + ", name);
  kir_print_expr_prec(p, s->index, KIR_PREC_ADD_RHS);
  fputs("));\n", out);
}

static void cl_frag(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  const char *f = p->k->frags[s->frag].name;
  switch (s->kind) {
  case KIR_S_FRAG_ZERO:
    fprintf(out, "for (int mlg_q = 0; mlg_q < 8; mlg_q++) %s[mlg_q] = 0.0f;\n", f);
    break;
  case KIR_S_FRAG_LOAD:
    /* A's pairs along k lie in a stored row when it is row-major, B's when column-major */
    fprintf(out, "mlg_mma_ldsm%s(%s, %s + ", (p->k->frags[s->frag].role == KIR_FRAG_A) == s->col_major ? "_t" : "", f,
            p->k->locals[s->target].name);
    kir_print_expr_prec(p, s->index, KIR_PREC_ADD_RHS);
    fprintf(out, " + mlg_mma_row(%d, %d));\n", s->stride, s->col_major);
    break;
  case KIR_S_FRAG_MMA:
    fprintf(out, "mlg_mma_16(%s, %s, %s);\n", f, p->k->frags[s->frag_a].name, p->k->frags[s->frag_b].name);
    break;
  case KIR_S_FRAG_SET:
    fprintf(out, "%s[%d] = ", f, s->stride);
    kir_print_expr(p, s->value);
    fputs(";\n", out);
    break;
  case KIR_S_FRAG_PACK:
    fprintf(out, "mlg_mma_pack(%s, %s);\n", f, p->k->frags[s->frag_a].name);
    break;
  default: /* KIR_S_FRAG_STORE */
    fprintf(out, "mlg_mma_store(%s + ", p->k->locals[s->target].name);
    kir_print_expr_prec(p, s->index, KIR_PREC_ADD_RHS);
    fprintf(out, ", %d, %s);\n", s->stride, f);
    break;
  }
}

/* An accumulator element is the lane's register (the layout of kir.h is mma.sync's); a lane
 * exchange is shfl.sync.bfly over the whole warp. */
static void cl_frag_expr(kir_printer *p, const kir_expr *e) {
  if (e->kind == KIR_E_FRAG_ELEM) {
    fprintf(p->out, "%s[%d]", p->k->frags[e->index].name, (int)e->i);
    return;
  }
  fputs("mlg_shfl_xor(", p->out);
  kir_print_expr(p, e->a);
  fprintf(p->out, ", %d)", (int)e->i);
}

/* Asynchronous copies: cp.async.cg (16 bytes, cached at L2 only) with a source size of 0 for
 * an absent source, which fills the destination with zeros and reads nothing; commit_group
 * and wait_group (PTX ISA, "cp.async"). */
static void cl_async(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  if (s->kind == KIR_S_ASYNC_COMMIT) {
    fputs("mlg_cp_commit();\n", out);
    return;
  }
  if (s->kind == KIR_S_ASYNC_WAIT) {
    fprintf(out, "mlg_cp_wait(%d);\n", s->stride);
    return;
  }
  const char *name = p->k->buffers[s->value->index].name;
  fprintf(out, "mlg_cp_async(%s + ", p->k->locals[s->target].name);
  kir_print_expr_prec(p, s->index, KIR_PREC_ADD_RHS);
  fprintf(out, ", (__global const uint *)(%s + ", name);
  cl_offset_index(p, name, s->value->a);
  fputs("), ", out);
  if (s->cond) kir_print_expr(p, s->cond);
  else fputs("1", out);
  fputs(");\n", out);
}

/* ---- warpgroup products (inline PTX for sm_90a; NVIDIA, compute capability 9.0) ----
 * NVIDIA's OpenCL C compiler targets sm_90, whose ptxas refuses wgmma (and ignores
 * -cl-nv-arch sm_90a). So the sm_90a instructions are written as PTX comments, "//MLGA ...",
 * of inline asm whose operands are the accumulator registers and descriptors: the compiler
 * passes the comments through with the operands substituted, and the runtime
 * (opencl_ptx.c) uncomments them in the program's PTX, sets the target to sm_90a and builds
 * that (measured on an H200 with driver 580: tools/gpu/sm90a_probe.c, wgmma_probe.c). The asm
 * of a product names its accumulators as read and written ("+f"), and so do the fence and
 * the final wait, which keeps the compiler's own reads and writes of them on the right side
 * of those points; a wait that leaves products in flight names none (ptxas would serialize
 * the products otherwise).
 * wgmma.mma_async.m64nNk16.f32.f16.f16 with A and B from shared memory descriptors (PTX ISA,
 * "Matrix Descriptor Format": start address, leading and stride byte offsets >> 4 in bits
 * 0, 16, 32, the swizzle in 62..63: 1 = 128 bytes, 2 = 64, 3 = 32); its accumulator registers
 * in order are the IR's fragments one after the other (the 8 of each: columns 0..7 then 8..15,
 * c0..c3 each, as mma.sync's m16n8 layout, which is wgmma's per warp). */
static const char wg_helpers[] =
    "#ifndef MLG_WG_HELPERS\n"
    "#define MLG_WG_HELPERS\n"
    "static inline __attribute__((always_inline)) ulong mlg_wg_desc(__local const ushort *p, uint lbo, uint sbo, ulong sw) {\n"
    "  return (ulong)(((uint)(size_t)p & 0x3FFFF) >> 4) | (ulong)(lbo >> 4) << 16 | (ulong)(sbo >> 4) << 32 | sw << 62;\n"
    "}\n"
    "#define mlg_wg_commit() asm volatile(\"//MLGA wgmma.commit_group.sync.aligned;\" ::: \"memory\")\n"
    "#define mlg_wg_wait(n) asm volatile(\"//MLGA wgmma.wait_group.sync.aligned \" #n \";\" ::: \"memory\")\n"
    "#define mlg_proxy_fence() asm volatile(\"//MLGA fence.proxy.async.shared::cta;\" ::: \"memory\")\n"
    "#endif\n";

/* Which helpers a kernel's statements use: products by (n, trans A, trans B), fences and
 * final waits by n. */
typedef struct wg_uses {
  unsigned char mma[17][2][2], fence[17], wait0[17];
} wg_uses;

static void wg_scan(wg_uses *u, kir_stmt *const *body, int n) {
  for (int i = 0; i < n; i++) {
    const kir_stmt *s = body[i];
    if (s->kind == KIR_S_WG_MMA) u->mma[s->stride][s->wg[0].mn_major][s->wg[1].mn_major] = 1;
    if (s->kind == KIR_S_WG_FENCE) u->fence[s->stride] = 1;
    if (s->kind == KIR_S_WG_WAIT && s->col_major == 0) u->wait0[s->stride] = 1;
    wg_scan(u, s->body, s->n_body);
    wg_scan(u, s->else_body, s->n_else);
  }
}

/* The accumulator parameters f0 .. f{n-1} and their registers as asm operands "+f". */
static void wg_params(FILE *out, int n) {
  for (int j = 0; j < n; j++) fprintf(out, "%sfloat *f%d", j ? ", " : "", j);
}

static void wg_operands(FILE *out, int n) {
  for (int j = 0; j < n; j++)
    for (int e = 0; e < 8; e++) fprintf(out, "%s\"+f\"(f%d[%d])", j + e ? ", " : "", j, e);
}

static void wg_tied_asm(FILE *out, const char *fn, int n, const char *ins) {
  fprintf(out, "#ifndef MLG_WG_%s_%d\n#define MLG_WG_%s_%d\n", fn, n, fn, n);
  fprintf(out, "static inline __attribute__((always_inline)) void mlg_wg_%s_n%d(", fn, n);
  wg_params(out, n);
  fprintf(out, ") {\n  asm volatile(\"//MLGA %s\"\n    : ", ins);
  wg_operands(out, n);
  fputs("\n    :: \"memory\");\n}\n#endif\n", out);
}

static void cl_wg_helpers(const kir_kernel *k, FILE *out) {
  wg_uses u = {0};
  wg_scan(&u, k->body, k->n_body);
  fputs(wg_helpers, out);
  for (int n = 1; n <= 16; n++) {
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        if (!u.mma[n][ta][tb]) continue;
        fprintf(out, "#ifndef MLG_WGMMA_%d_%d%d\n#define MLG_WGMMA_%d_%d%d\n", n, ta, tb, n, ta, tb);
        fprintf(out, "static inline __attribute__((always_inline)) void mlg_wgmma_n%d_%d%d(", n, ta, tb);
        wg_params(out, n);
        fprintf(out, ", ulong da, ulong db) {\n  asm volatile(\"//MLGA {\\n\\t//MLGA .reg .pred p;\\n\\t"
                     "//MLGA setp.ne.b32 p, %%%d, 0;\\n\\t\"\n", 8 * n + 2);
        fprintf(out, "    \"//MLGA wgmma.mma_async.sync.aligned.m64n%dk16.f32.f16.f16 {", 16 * n);
        for (int r = 0; r < 8 * n; r++) fprintf(out, "%s%%%d", r ? ", " : "", r);
        fprintf(out, "}, %%%d, %%%d, p, 1, 1, %d, %d;\\n\\t//MLGA }\"\n    : ", 8 * n, 8 * n + 1, ta, tb);
        wg_operands(out, n);
        fputs("\n    : \"l\"(da), \"l\"(db), \"r\"(1) : \"memory\");\n}\n#endif\n", out);
      }
    if (u.fence[n]) wg_tied_asm(out, "fence", n, "wgmma.fence.sync.aligned;");
    if (u.wait0[n]) wg_tied_asm(out, "wait0", n, "wgmma.wait_group.sync.aligned 0;");
  }
}

static void wg_accs(kir_printer *p, const kir_stmt *s) {
  for (int j = 0; j < s->stride; j++) fprintf(p->out, "%s%s", j ? ", " : "", p->k->frags[s->frag + j].name);
}

static void wg_desc(kir_printer *p, const kir_wg_operand *o) {
  const int mode = o->swizzle == 128 ? 1 : o->swizzle == 64 ? 2 : o->swizzle == 32 ? 3 : 0;
  fprintf(p->out, "mlg_wg_desc(%s + ", p->k->locals[o->local].name);
  kir_print_expr_prec(p, o->index, KIR_PREC_ADD_RHS);
  fprintf(p->out, ", %d, %d, %d)", o->lbo, o->sbo, mode);
}

static void cl_wg(kir_printer *p, const kir_stmt *s) {
  FILE *out = p->out;
  switch (s->kind) {
  case KIR_S_WG_MMA:
    fprintf(out, "mlg_wgmma_n%d_%d%d(", s->stride, s->wg[0].mn_major, s->wg[1].mn_major);
    wg_accs(p, s);
    fputs(", ", out);
    wg_desc(p, &s->wg[0]);
    fputs(", ", out);
    wg_desc(p, &s->wg[1]);
    fputs(");\n", out);
    break;
  case KIR_S_WG_FENCE:
  case KIR_S_WG_WAIT:
    if (s->kind == KIR_S_WG_WAIT && s->col_major) {
      fprintf(out, "mlg_wg_wait(%d);\n", s->col_major);
      break;
    }
    fprintf(out, "mlg_wg_%s_n%d(", s->kind == KIR_S_WG_FENCE ? "fence" : "wait0", s->stride);
    wg_accs(p, s);
    fputs(");\n", out);
    break;
  case KIR_S_WG_COMMIT:
    fputs("mlg_wg_commit();\n", out);
    break;
  default: /* KIR_S_PROXY_FENCE */
    fputs("mlg_proxy_fence();\n", out);
    break;
  }
}

/* The packed 4x8-bit dot products, through the mlg_dot_* functions of the kernel's preamble
 * (cl_dot4x8_preamble). */
static void cl_dot4x8(kir_printer *p, const kir_expr *e) {
  static const char *const fn[] = {[KIR_DOT_SS] = "mlg_dot_ss", [KIR_DOT_SU] = "mlg_dot_su",
                                   [KIR_DOT_US] = "mlg_dot_us", [KIR_DOT_UU] = "mlg_dot_uu"};
  fprintf(p->out, "%s(", fn[e->op]);
  kir_print_expr(p, e->a);
  fputs(", ", p->out);
  kir_print_expr(p, e->b);
  fputc(')', p->out);
}

/* The runtime builds a kernel with KIR_FEATURE_INT_DOT on two kinds of device only (mlg's
 * MLGB_DEVICE_INT_DOT): one that reports cl_khr_integer_dot_product, whose compiler then
 * defines the extension's macro and builtins, and NVIDIA's (compute capability 6.1 or more),
 * which has no such extension but accepts inline PTX: its dp4a instruction is the same sum. */
static void cl_dot4x8_preamble(FILE *out) {
  static const char *const form[][3] = {{"ss", "int", "s32.s32"}, {"su", "int", "s32.u32"},
                                        {"us", "int", "u32.s32"}, {"uu", "uint", "u32.u32"}};
  fputs("#ifdef cl_khr_integer_dot_product\n"
        "#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable\n", out);
  for (int i = 0; i < 4; i++)
    fprintf(out, "#define mlg_dot_%s(a, b) ((int)dot_4x8packed_%s_%s(a, b))\n", form[i][0],
            form[i][0], form[i][1]);
  fputs("#else\n", out);
  for (int i = 0; i < 4; i++)
    fprintf(out, "static inline int mlg_dot_%s(uint a, uint b) {\n  %s d;\n"
            "  asm(\"dp4a.%s %%0, %%1, %%2, 0;\" : \"=r\"(d) : \"r\"(a), \"r\"(b));\n"
            "  return (int)d;\n}\n", form[i][0], form[i][1], form[i][2]);
  fputs("#endif\n", out);
}

static void cl_load_packed(kir_printer *p, const kir_expr *e) {
  const char *name = p->k->buffers[e->index].name;
  fprintf(p->out, "as_uint(vload4(0, %s + ", name);
  cl_offset_index(p, name, e->a);
  fputs("))", p->out);
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
  if (k->features & KIR_FEATURE_INT_DOT) cl_dot4x8_preamble(out);
  if (k->n_frags || (k->features & KIR_FEATURE_MMA_F16)) fputs(mma_helpers, out);
  if (k->features & KIR_FEATURE_WGMMA) cl_wg_helpers(k, out);
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
    if (l->elem.scalar == KIR_F16) /* half bits; aligned for fragment loads (16 bytes) or
                                      swizzled warpgroup operands (1024, kir.h) */
      fprintf(out, "  __local ushort %s[%d] __attribute__((aligned(%d)));\n", l->name, l->count,
              k->features & KIR_FEATURE_WGMMA ? 1024 : 16);
    else
      fprintf(out, "  __local %s %s[%d];\n", cl_type_name(l->elem, buf, sizeof(buf)), l->name,
              l->count);
  }
  for (int i = 0; i < k->n_frags; i++)
    fprintf(out, k->frags[i].role == KIR_FRAG_ACC ? "  float %s[8];\n" : "  uint %s[4];\n",
            k->frags[i].name);
}

static void cl_kernel_end(kir_printer *p) { fputs("}\n", p->out); }

static const kir_dialect opencl_dialect = {
  .type_name = cl_type_name,
  .unop_fn = {[KIR_ABS] = "fabs", [KIR_EXP] = "exp", [KIR_LOG] = "log", [KIR_SQRT] = "sqrt",
              [KIR_RSQRT] = "rsqrt", [KIR_TANH] = "tanh", [KIR_ERF] = "erf",
              [KIR_FLOOR] = "floor", [KIR_CEIL] = "ceil", [KIR_SIN] = "sin",
              [KIR_COS] = "cos", [KIR_TAN] = "tan", [KIR_ROUND] = "rint", [KIR_EXP2] = "exp2"},
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
  .load_bits = cl_load_bits, .local_store_half = cl_local_store_half, .frag = cl_frag, .frag_expr = cl_frag_expr, .async = cl_async,
  .wg = cl_wg,
  .dot4x8 = cl_dot4x8, .load_packed = cl_load_packed,
  .unroll = cl_unroll,
  .kernel_begin = cl_kernel_begin, .kernel_end = cl_kernel_end,
};

int kir_opencl_check(const kir_kernel *k, char *err, size_t err_size) {
  if (k->n_frags && (k->local_size[0] % 32 || k->local_size[1] != 1 || k->local_size[2] != 1)) {
    if (err && err_size)
      snprintf(err, err_size, "kernel %s: matrix fragments need a 1-D work-group of whole "
               "subgroups of 32 (it has %dx%dx%d)", k->name, k->local_size[0], k->local_size[1],
               k->local_size[2]);
    return -1;
  }
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

/* test_ops.c — the op registry and every op's shape rule: good and bad cases, attribute
 * defaults and normalization. Rules are called directly, without the checker. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lower_util.h"
#include "op.h"
#include "ops/op_util.h"

/* "f32[1, 784]" / "i32[]" / "bool[2]" → mlg_type. */
static mlg_type ty(const char *spec) {
  mlg_type t = { .dtype = MLG_F32 };
  const char *p = strchr(spec, '[');
  ck_assert_ptr_nonnull(p);
  int found = 0;
  for (int d = 0; d < MLG_N_DTYPES && !found; d++) {
    const char *name = mlg_dtype_name((mlg_ir_dtype)d);
    if (strlen(name) == (size_t)(p - spec) && strncmp(spec, name, strlen(name)) == 0) {
      t.dtype = (mlg_ir_dtype)d;
      found = 1;
    }
  }
  ck_assert_msg(found, "dtype of %s", spec);
  p++;
  while (*p && *p != ']') {
    char *end;
    t.dims[t.rank++] = strtoll(p, &end, 10);
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  return t;
}

static mlg_attr ints(int n, ...) {
  mlg_attr a = { .kind = MLG_ATTR_INTS, .n = n };
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) a.ints[i] = va_arg(ap, long long);
  va_end(ap);
  return a;
}
static mlg_attr one(long long v) { return (mlg_attr){ .kind = MLG_ATTR_INT, .n = 1, .ints = { v } }; }
static mlg_attr flt(double v) { return (mlg_attr){ .kind = MLG_ATTR_FLOAT, .n = 1, .f = v }; }
static mlg_attr flts2(double a, double b) {
  return (mlg_attr){ .kind = MLG_ATTR_FLOATS, .n = 2, .floats = { a, b } };
}
static mlg_attr choice(long long i) { return (mlg_attr){ .kind = MLG_ATTR_ENUM, .n = 1, .ints = { i } }; }

/* One call of a shape rule: inputs as type specs, attributes given by name over the defaults. */
typedef struct call {
  const mlg_op_def *def;
  mlg_attr attrs[MLG_MAX_ATTRS];
  mlg_type out;
  mlg_shape_error err;
  char out_s[128];
} call;

static void call_init(call *c, const char *op) {
  memset(c, 0, sizeof *c);
  c->def = mlg_op_find(op);
  ck_assert_msg(c->def != NULL, "op %s", op);
  for (int i = 0; i < c->def->n_attrs; i++) c->attrs[i] = c->def->attrs[i].deflt;
}

static void set(call *c, const char *name, mlg_attr a) {
  int k = mlg_op_attr_index(c->def, name);
  ck_assert_msg(k >= 0, "attr %s", name);
  c->attrs[k] = a;
}

static const mlg_attr *get(call *c, const char *name) { return &c->attrs[mlg_op_attr_index(c->def, name)]; }

/* Runs the rule on n inputs; returns its status and formats the result into c->out_s. */
static int run(call *c, int n, ...) {
  mlg_type in[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) in[i] = ty(va_arg(ap, const char *));
  va_end(ap);
  c->err = (mlg_shape_error){ .input = -1, .attr = -1 };
  int rc = c->def->infer(in, n, c->attrs, &c->out, &c->err);
  if (rc == 0) mlg_type_format(&c->out, c->out_s, sizeof c->out_s);
  else c->out_s[0] = 0;
  return rc;
}

#define ASSERT_OK(c, expect) \
  do { ck_assert_msg(run_rc == 0, "failed: %s", (c).err.msg); ck_assert_str_eq((c).out_s, expect); } while (0)

/* The number of entries of op_list.h, counted from the list itself. */
enum {
  LISTED_OPS = 0
#define MLG_OP(sym) +1
#include "ops/op_list.h"
#undef MLG_OP
};

/* input_names ("x, weight, bias?") against the arity: one name per input, `?` on exactly the
 * optional ones; a list input is one "[...]". */
static void check_input_names(const mlg_op_def *d) {
  ck_assert_msg(d->input_names && d->shape_doc, "%s: no input_names or shape_doc", d->name);
  if (d->list_input) {
    ck_assert_msg(d->input_names[0] == '[', "%s: a list input is written [a, b, ...]", d->name);
    return;
  }
  int names = 1, optional = 0;
  for (const char *p = d->input_names; *p; p++) {
    names += *p == ',';
    optional += *p == '?';
  }
  ck_assert_msg(names == d->max_inputs && names - optional == d->min_inputs,
                "%s: input_names '%s' do not match %d..%d inputs", d->name, d->input_names,
                d->min_inputs, d->max_inputs);
}

START_TEST(test_registry) {
  ck_assert_int_eq(mlg_op_count(), LISTED_OPS);
  for (int i = 0; i < mlg_op_count(); i++) {
    const mlg_op_def *d = mlg_op_at(i);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(d->infer);
    ck_assert_ptr_nonnull(d->doc);
    check_input_names(d);
    ck_assert_ptr_eq(mlg_op_find(d->name), d);
    ck_assert_int_le(d->min_inputs, d->max_inputs);
    ck_assert_int_le(d->n_attrs, MLG_MAX_ATTRS);
    for (int j = 0; j < d->n_attrs; j++) ck_assert_int_eq(mlg_op_attr_index(d, d->attrs[j].name), j);
    for (int j = 0; j < i; j++) ck_assert_str_ne(mlg_op_at(j)->name, d->name);
    /* Hooks and traits agree with the class: what the later stages assume of each other. */
    ck_assert_msg((d->cls == MLG_OPC_ELEMENTWISE) == (d->scalar != NULL), "%s: scalar", d->name);
    ck_assert_msg(d->cls != MLG_OPC_VIEW || d->index, "%s: a view needs an index map", d->name);
    ck_assert_msg(d->cls == MLG_OPC_ELEMENTWISE || d->cls == MLG_OPC_VIEW || d->lower || d->decompose,
                  "%s: no lower hook", d->name);
    /* A composite op is never a node: nothing else of it may be asked. */
    ck_assert_msg(!d->decompose || (!d->lower && !d->scalar && !d->index && !d->vjp && !d->fusion.anchor),
                  "%s: a composite op with hooks of its own", d->name);
    ck_assert_msg(!d->fusion.anchor || d->lower, "%s: an anchor needs a lower hook", d->name);
    ck_assert_msg(!d->fusion.store_strided || d->fusion.anchor, "%s: store_strided", d->name);
    ck_assert_msg(!d->fusion.iter_dims || d->fusion.store_strided, "%s: iter_dims", d->name);
    ck_assert_msg(!d->algebra.operator_sym ||
                  mlg_op_for_operator(d->algebra.operator_sym, d->min_inputs) == d,
                  "%s: operator '%c' means another op too", d->name, d->algebra.operator_sym);
    ck_assert_msg(!d->algebra.identity_sides || d->max_inputs == 2, "%s: identity", d->name);
    ck_assert_msg(!d->algebra.involution || d->max_inputs == 1, "%s: involution", d->name);
    for (int k = 0; k < MLG_TRAIT_INPUTS; k++) {
      unsigned t = mlg_op_input_traits(d, k);
      ck_assert_msg(!t || (d->fusion.anchor && k < d->max_inputs), "%s: input %d", d->name, k);
      ck_assert_msg(!(t & (MLG_IN_ROWS | MLG_IN_ROW_NORM)) || (t & MLG_IN_STRIDED),
                    "%s: input %d: rows are strided", d->name, k);
    }
  }
  ck_assert_str_eq(mlg_op_for_operator('+', 2)->name, "add");
  ck_assert_str_eq(mlg_op_for_operator('-', 2)->name, "sub");
  ck_assert_str_eq(mlg_op_for_operator('-', 1)->name, "neg");
  ck_assert_str_eq(mlg_op_for_operator('@', 2)->name, "matmul");
  ck_assert_ptr_null(mlg_op_for_operator('%', 2));
  ck_assert_ptr_null(mlg_op_for_operator('+', 1));
  ck_assert_ptr_null(mlg_op_at(-1));
  ck_assert_ptr_null(mlg_op_at(mlg_op_count()));
  ck_assert_ptr_null(mlg_op_find("sofmax"));
  ck_assert_str_eq(mlg_op_suggest("sofmax"), "softmax");
  ck_assert_str_eq(mlg_op_suggest("conv2"), "conv2d");
  ck_assert_str_eq(mlg_op_suggest("layernorm"), "layer_norm");
  ck_assert_ptr_null(mlg_op_suggest("completely_unknown"));
  ck_assert_int_eq(mlg_op_attr_index(mlg_op_find("conv2d"), "groups"), 3);
  ck_assert_int_eq(mlg_op_attr_index(mlg_op_find("conv2d"), "group"), -1);
  /* Classes the later stages rely on. */
  ck_assert_int_eq(mlg_op_find("add")->cls, MLG_OPC_ELEMENTWISE);
  ck_assert_int_eq(mlg_op_find("clamp")->cls, MLG_OPC_ELEMENTWISE);
  ck_assert_int_eq(mlg_op_find("reshape")->cls, MLG_OPC_VIEW);
  ck_assert_int_eq(mlg_op_find("transpose")->cls, MLG_OPC_INJECTIVE);
  ck_assert_int_eq(mlg_op_find("max")->cls, MLG_OPC_REDUCTION);
  ck_assert_int_eq(mlg_op_find("layer_norm")->cls, MLG_OPC_ROWWISE);
  ck_assert_int_eq(mlg_op_find("linear")->cls, MLG_OPC_MATMUL);
  ck_assert_int_eq(mlg_op_find("conv2d")->cls, MLG_OPC_CONV);
  ck_assert_int_eq(mlg_op_find("global_avg_pool2d")->cls, MLG_OPC_POOL);
  ck_assert_int_eq(mlg_op_find("batch_norm")->cls, MLG_OPC_OPAQUE);
  ck_assert(mlg_op_find("concat")->list_input);
}
END_TEST

START_TEST(test_elementwise) {
  call c;
  int run_rc;
  call_init(&c, "add");
  run_rc = run(&c, 2, "f32[2, 1, 4]", "f32[3, 1]");
  ASSERT_OK(c, "f32[2, 3, 4]");
  run_rc = run(&c, 2, "f32[]", "f32[5]");
  ASSERT_OK(c, "f32[5]");
  ck_assert_int_ne(run(&c, 2, "f32[2, 3]", "f32[4]"), 0);
  ck_assert_str_eq(c.err.msg, "cannot broadcast f32[2, 3] with f32[4] (dimension 1: 3 vs 4)");
  call_init(&c, "pow");
  ck_assert_int_ne(run(&c, 2, "f32[2]", "i32[2]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "input 1 is i32 but input 0 is f32; mlg does not mix them: convert "
                              "one with cast(..., dtype=f32)");
  ck_assert_int_ne(run(&c, 2, "i32[2]", "i32[2]"), 0); /* no integer pow, nor division */
  ck_assert_str_eq(c.err.msg, "input 0 must be f32 or f16, got i32 (convert it with "
                              "cast(..., dtype=f32))");
  /* Promotions: f16 with f32, and integer types, mix (language.md); bool has no arithmetic. */
  call_init(&c, "add");
  run_rc = run(&c, 2, "f16[2]", "f32[3, 2]");
  ASSERT_OK(c, "f32[3, 2]");
  run_rc = run(&c, 2, "f16[2]", "f16[2]");
  ASSERT_OK(c, "f16[2]");
  run_rc = run(&c, 2, "i8[2]", "u8[2]");
  ASSERT_OK(c, "i32[2]");
  run_rc = run(&c, 2, "i32[2]", "i64[2]");
  ASSERT_OK(c, "i64[2]");
  run_rc = run(&c, 2, "u8[2]", "u8[2]");
  ASSERT_OK(c, "u8[2]");
  ck_assert_int_ne(run(&c, 2, "bool[2]", "bool[2]"), 0);
  ck_assert_str_eq(c.err.msg, "input 0 is bool, which has no arithmetic (convert it with "
                              "cast(..., dtype=f32), or use the logical_* ops)");
  ck_assert_int_ne(run(&c, 2, "f16[2]", "i64[2]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  call_init(&c, "neg");
  run_rc = run(&c, 1, "i8[3]");
  ASSERT_OK(c, "i8[3]");
  call_init(&c, "exp");
  run_rc = run(&c, 1, "f16[3]");
  ASSERT_OK(c, "f16[3]");
  ck_assert_int_ne(run(&c, 1, "i32[3]"), 0);
  call_init(&c, "gelu");
  run_rc = run(&c, 1, "f32[7, 3]");
  ASSERT_OK(c, "f32[7, 3]");
  /* approximate is an enum: its default is the first of its choices, none */
  ck_assert(get(&c, "approximate")->kind == MLG_ATTR_ENUM && get(&c, "approximate")->ints[0] == 0);
  ck_assert_str_eq(mlg_attr_choice(&c.def->attrs[0], 1), "tanh");
  ck_assert_ptr_null(mlg_attr_choice(&c.def->attrs[0], 2));
  call_init(&c, "fmod");
  run_rc = run(&c, 2, "f32[3, 1, 5]", "f32[4, 5]");
  ASSERT_OK(c, "f32[3, 4, 5]");
  ck_assert_int_ne(run(&c, 2, "f32[3]", "i32[3]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  static const char *const unary_new[] = {"sin", "cos", "tan", "floor", "ceil", "round", "sign",
                                          "reciprocal"};
  for (size_t i = 0; i < sizeof unary_new / sizeof unary_new[0]; i++) {
    call_init(&c, unary_new[i]);
    run_rc = run(&c, 1, "f32[2, 1, 3]");
    ASSERT_OK(c, "f32[2, 1, 3]");
    ck_assert_int_ne(run(&c, 1, "i32[2]"), 0);
  }
  call_init(&c, "relu");
  ck_assert_int_ne(run(&c, 1, "i32[3]"), 0);
  ck_assert_int_eq(c.err.input, 0);
  call_init(&c, "leaky_relu");
  ck_assert(get(&c, "alpha")->kind == MLG_ATTR_FLOAT && get(&c, "alpha")->f == 0.01);
  run_rc = run(&c, 1, "f32[4]");
  ASSERT_OK(c, "f32[4]");
  call_init(&c, "clamp");
  ck_assert(c.def->attrs[0].required && c.def->attrs[1].required);
  set(&c, "lo", flt(0));
  set(&c, "hi", flt(6));
  run_rc = run(&c, 1, "f32[2, 2]");
  ASSERT_OK(c, "f32[2, 2]");
  set(&c, "lo", flt(7));
  ck_assert_int_ne(run(&c, 1, "f32[2]"), 0);
  ck_assert_str_eq(c.err.msg, "lo (7) is greater than hi (6)");
}
END_TEST

/* Comparisons, logic, where, cast, argmax/argmin: what dtypes they take and give. */
START_TEST(test_types_ops) {
  call c;
  int run_rc;
  call_init(&c, "less");
  run_rc = run(&c, 2, "f32[2, 1, 4]", "f32[3, 1]");
  ASSERT_OK(c, "bool[2, 3, 4]");
  run_rc = run(&c, 2, "u8[4]", "i32[]");
  ASSERT_OK(c, "bool[4]");
  run_rc = run(&c, 2, "bool[4]", "bool[4]");
  ASSERT_OK(c, "bool[4]");
  ck_assert_int_ne(run(&c, 2, "f32[4]", "bool[4]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_uint_eq(c.def->same_dtype, 3);

  call_init(&c, "logical_xor");
  run_rc = run(&c, 2, "bool[2, 3]", "bool[3]");
  ASSERT_OK(c, "bool[2, 3]");
  ck_assert_int_ne(run(&c, 2, "bool[3]", "f32[3]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "input 1 must be bool, got f32 (make one with a comparison, e.g. "
                              "not_equal(x, 0), or cast(x, dtype=bool))");
  call_init(&c, "logical_not");
  run_rc = run(&c, 1, "bool[]");
  ASSERT_OK(c, "bool[]");

  call_init(&c, "where");
  run_rc = run(&c, 3, "bool[4, 1]", "f32[3, 1, 5]", "f32[5]");
  ASSERT_OK(c, "f32[3, 4, 5]");
  run_rc = run(&c, 3, "bool[2]", "f16[2]", "f32[]");
  ASSERT_OK(c, "f32[2]");
  run_rc = run(&c, 3, "bool[2]", "i8[2]", "i8[2]");
  ASSERT_OK(c, "i8[2]");
  ck_assert_int_ne(run(&c, 3, "f32[2]", "f32[2]", "f32[2]"), 0);
  ck_assert_int_eq(c.err.input, 0);
  ck_assert_int_ne(run(&c, 3, "bool[2]", "f32[2]", "i32[2]"), 0);
  ck_assert_int_eq(c.err.input, 2);
  ck_assert_uint_eq(c.def->same_dtype, 6);

  call_init(&c, "cast");
  set(&c, "dtype", (mlg_attr){.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_U8}});
  run_rc = run(&c, 1, "f32[2, 3]");
  ASSERT_OK(c, "u8[2, 3]");
  run_rc = run(&c, 1, "bool[]");
  ASSERT_OK(c, "u8[]");
  set(&c, "dtype", (mlg_attr){.kind = MLG_ATTR_DTYPE, .n = 1, .ints = {MLG_N_DTYPES}});
  ck_assert_int_ne(run(&c, 1, "f32[2]"), 0);
  ck_assert_int_eq(c.err.attr, 0);

  call_init(&c, "argmax");
  run_rc = run(&c, 1, "f32[3, 4, 5]");
  ASSERT_OK(c, "i32[3, 4]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 2);
  set(&c, "axis", one(-2));
  set(&c, "keepdims", one(1));
  run_rc = run(&c, 1, "u8[3, 4, 5]");
  ASSERT_OK(c, "i32[3, 1, 5]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 1);
  call_init(&c, "argmin");
  run_rc = run(&c, 1, "i64[7]");
  ASSERT_OK(c, "i32[]");
  ck_assert_int_ne(run(&c, 1, "bool[7]"), 0);
  ck_assert_int_ne(run(&c, 1, "f32[]"), 0);
  set(&c, "axis", one(3));
  ck_assert_int_ne(run(&c, 1, "f32[2, 2]"), 0);
  ck_assert_int_eq(c.err.attr, 0);
}
END_TEST

START_TEST(test_matmul) {
  call c;
  int run_rc;
  call_init(&c, "matmul");
  run_rc = run(&c, 2, "f32[3, 4]", "f32[4, 5]");
  ASSERT_OK(c, "f32[3, 5]");
  run_rc = run(&c, 2, "f32[2, 1, 3, 4]", "f32[5, 4, 6]");
  ASSERT_OK(c, "f32[2, 5, 3, 6]");
  run_rc = run(&c, 2, "f32[4]", "f32[2, 4, 6]");
  ASSERT_OK(c, "f32[2, 6]");
  run_rc = run(&c, 2, "f32[2, 3, 4]", "f32[4]");
  ASSERT_OK(c, "f32[2, 3]");
  run_rc = run(&c, 2, "f32[4]", "f32[4]");
  ASSERT_OK(c, "f32[]");
  ck_assert_int_ne(run(&c, 2, "f32[1, 784]", "f32[785, 10]"), 0);
  ck_assert_str_eq(c.err.msg, "inner dimensions differ (784 vs 785)");
  ck_assert_int_eq(c.err.input, -1);
  ck_assert_int_ne(run(&c, 2, "f32[2, 3, 4]", "f32[5, 4, 6]"), 0);
  ck_assert_str_eq(c.err.msg, "batch dimensions do not broadcast");
  ck_assert_int_ne(run(&c, 2, "f32[]", "f32[4]"), 0);
  ck_assert_int_eq(c.err.input, 0);

  call_init(&c, "linear");
  run_rc = run(&c, 3, "f32[1, 784]", "f32[256, 784]", "f32[256]");
  ASSERT_OK(c, "f32[1, 256]");
  run_rc = run(&c, 2, "f32[2, 16, 64]", "f32[192, 64]");
  ASSERT_OK(c, "f32[2, 16, 192]");
  ck_assert_int_ne(run(&c, 2, "f32[1, 784]", "f32[256, 785]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "weight f32[256, 785] expects 785 input features, input has 784");
  ck_assert_int_ne(run(&c, 3, "f32[1, 784]", "f32[256, 784]", "f32[10]"), 0);
  ck_assert_int_eq(c.err.input, 2);
  ck_assert_int_ne(run(&c, 2, "f32[1, 784]", "f32[784]"), 0);
  ck_assert_int_eq(c.err.input, 1);

  /* linear_softmax: linear's rule, f32 only, at most 16 outputs. */
  call_init(&c, "linear_softmax");
  run_rc = run(&c, 3, "f32[256, 256]", "f32[10, 256]", "f32[10]");
  ASSERT_OK(c, "f32[256, 10]");
  run_rc = run(&c, 2, "f32[2, 3, 8]", "f32[16, 8]");
  ASSERT_OK(c, "f32[2, 3, 16]");
  ck_assert_int_ne(run(&c, 2, "f32[2, 8]", "f32[17, 8]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "linear_softmax takes at most 16 output features (the weight has 17); "
                              "write softmax(linear(x, weight, bias))");
  ck_assert_int_ne(run(&c, 2, "f32[2, 8]", "f32[4, 9]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_int_ne(run(&c, 2, "f16[2, 8]", "f16[4, 8]"), 0);
}
END_TEST

START_TEST(test_conv2d) {
  call c;
  int run_rc;
  call_init(&c, "conv2d");
  run_rc = run(&c, 3, "f32[1, 1, 28, 28]", "f32[6, 1, 5, 5]", "f32[6]");
  ASSERT_OK(c, "f32[1, 6, 24, 24]");
  ck_assert_int_eq(get(&c, "stride")->n, 2);
  ck_assert_int_eq(get(&c, "padding")->n, 4);
  ck_assert_int_eq(get(&c, "dilation")->n, 2);
  ck_assert_int_eq(get(&c, "dilation")->ints[1], 1);
  ck_assert_int_eq(get(&c, "groups")->ints[0], 1);

  call_init(&c, "conv2d");
  set(&c, "padding", ints(1, 1LL));
  run_rc = run(&c, 2, "f32[1, 3, 32, 32]", "f32[16, 3, 3, 3]");
  ASSERT_OK(c, "f32[1, 16, 32, 32]");
  for (int i = 0; i < 4; i++) ck_assert_int_eq(get(&c, "padding")->ints[i], 1);

  call_init(&c, "conv2d"); /* [ph, pw] → [top, left, bottom, right] */
  set(&c, "padding", ints(2, 1LL, 2LL));
  set(&c, "stride", ints(1, 2LL));
  run_rc = run(&c, 2, "f32[2, 3, 9, 9]", "f32[4, 3, 3, 3]");
  ASSERT_OK(c, "f32[2, 4, 5, 6]");
  ck_assert(get(&c, "padding")->ints[0] == 1 && get(&c, "padding")->ints[1] == 2 &&
            get(&c, "padding")->ints[2] == 1 && get(&c, "padding")->ints[3] == 2);
  ck_assert(get(&c, "stride")->n == 2 && get(&c, "stride")->ints[1] == 2);

  call_init(&c, "conv2d"); /* asymmetric padding, dilation, groups */
  set(&c, "padding", ints(4, 0LL, 1LL, 2LL, 3LL));
  set(&c, "dilation", ints(2, 2LL, 1LL));
  set(&c, "groups", one(2));
  run_rc = run(&c, 2, "f32[1, 4, 10, 10]", "f32[8, 2, 3, 3]");
  /* H: 10 + 0 + 2 - (2*2+1) + 1 = 8; W: 10 + 1 + 3 - 3 + 1 = 12 */
  ASSERT_OK(c, "f32[1, 8, 8, 12]");

  call_init(&c, "conv2d");
  set(&c, "groups", one(3));
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 10, 10]", "f32[8, 2, 3, 3]"), 0);
  ck_assert_int_eq(c.err.attr, 3);
  call_init(&c, "conv2d");
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 10, 10]", "f32[8, 4, 3, 3]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "weight f32[8, 4, 3, 3] expects 4 input channels, input has 3");
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 2, 2]", "f32[8, 3, 3, 3]"), 0);
  ck_assert_int_ne(run(&c, 2, "f32[3, 10, 10]", "f32[8, 3, 3, 3]"), 0);
  ck_assert_int_eq(c.err.input, 0);
  set(&c, "padding", ints(3, 1LL, 1LL, 1LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 10, 10]", "f32[8, 3, 3, 3]"), 0);
  ck_assert_int_eq(c.err.attr, 1);
  call_init(&c, "conv2d");
  set(&c, "stride", ints(1, 0LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 10, 10]", "f32[8, 3, 3, 3]"), 0);
  ck_assert_int_eq(c.err.attr, 0);
  call_init(&c, "conv2d"); /* huge but legal attributes never overflow */
  set(&c, "dilation", ints(1, 2147483647LL));
  set(&c, "padding", ints(1, 2147483647LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 10, 10]", "f32[8, 3, 2147483647, 3]"), 0);
}
END_TEST

START_TEST(test_conv1d_conv_transpose2d) {
  call c;
  int run_rc;
  call_init(&c, "conv1d");
  run_rc = run(&c, 3, "f32[2, 4, 16]", "f32[8, 4, 3]", "f32[8]");
  ASSERT_OK(c, "f32[2, 8, 14]");
  ck_assert(get(&c, "padding")->n == 2 && get(&c, "stride")->n == 1);
  set(&c, "padding", ints(2, 2LL, 1LL)); /* [begin, end] */
  set(&c, "stride", ints(1, 2LL));
  run_rc = run(&c, 2, "f32[1, 4, 9]", "f32[8, 4, 4]");
  ASSERT_OK(c, "f32[1, 8, 5]");
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 9, 1]", "f32[8, 4, 4]"), 0);
  ck_assert_int_eq(c.err.input, 0);
  ck_assert_int_ne(run(&c, 2, "f32[1, 3, 9]", "f32[8, 4, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "weight f32[8, 4, 4] expects 4 input channels, input has 3");
  set(&c, "padding", ints(3, 1LL, 1LL, 1LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 9]", "f32[8, 4, 4]"), 0);
  ck_assert_int_eq(c.err.attr, 1);

  call_init(&c, "conv_transpose2d");
  set(&c, "stride", ints(1, 2LL));
  run_rc = run(&c, 3, "f32[1, 16, 8, 8]", "f32[16, 8, 2, 2]", "f32[8]");
  ASSERT_OK(c, "f32[1, 8, 16, 16]");
  ck_assert(get(&c, "padding")->n == 4 && get(&c, "output_padding")->n == 2);
  /* (5 - 1)·2 - 2 + 1·(3 - 1) + 1 + 1 = 10 rows; groups 2: 2·3 output channels */
  set(&c, "padding", ints(1, 1LL));
  set(&c, "output_padding", ints(1, 1LL));
  set(&c, "groups", one(2));
  run_rc = run(&c, 2, "f32[1, 4, 5, 6]", "f32[4, 3, 3, 3]");
  ASSERT_OK(c, "f32[1, 6, 10, 12]");
  set(&c, "output_padding", ints(1, 2LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 5, 6]", "f32[4, 3, 3, 3]"), 0);
  ck_assert_str_eq(c.err.msg, "output_padding (2) must be smaller than the stride (2) or the "
                              "dilation (1)");
  call_init(&c, "conv_transpose2d");
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 5, 6]", "f32[3, 3, 3, 3]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_int_ne(run(&c, 3, "f32[1, 4, 5, 6]", "f32[4, 3, 3, 3]", "f32[4]"), 0);
  ck_assert_str_eq(c.err.msg, "bias must be f32[3], got f32[4]");
  set(&c, "groups", one(3));
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 5, 6]", "f32[4, 3, 3, 3]"), 0);
  ck_assert_int_eq(c.err.attr, 4);
  call_init(&c, "conv_transpose2d"); /* padding that eats the whole output */
  set(&c, "padding", ints(1, 2LL));
  ck_assert_int_ne(run(&c, 2, "f32[1, 4, 1, 1]", "f32[4, 3, 3, 3]"), 0);
  ck_assert_str_eq(c.err.msg, "the padding [2, 2, 2, 2] leaves a -1x-1 output");
}
END_TEST

START_TEST(test_pool) {
  call c;
  int run_rc;
  call_init(&c, "max_pool2d");
  ck_assert(c.def->attrs[0].required);
  set(&c, "kernel", ints(1, 2LL));
  run_rc = run(&c, 1, "f32[1, 6, 24, 24]");
  ASSERT_OK(c, "f32[1, 6, 12, 12]");
  ck_assert(get(&c, "stride")->n == 2 && get(&c, "stride")->ints[0] == 2); /* stride = kernel */
  call_init(&c, "avg_pool2d");
  set(&c, "kernel", ints(2, 3LL, 3LL));
  set(&c, "stride", ints(1, 1LL));
  set(&c, "padding", ints(1, 1LL));
  run_rc = run(&c, 1, "f32[1, 2, 5, 7]");
  ASSERT_OK(c, "f32[1, 2, 5, 7]");
  ck_assert_int_eq(get(&c, "count_include_pad")->ints[0], 1);
  set(&c, "padding", ints(1, 2LL)); /* up to kernel - 1 (ONNX), beyond PyTorch's half */
  run_rc = run(&c, 1, "f32[1, 2, 5, 7]");
  ASSERT_OK(c, "f32[1, 2, 7, 9]");
  set(&c, "padding", ints(1, 3LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 2, 5, 7]"), 0);
  ck_assert_str_eq(c.err.msg, "padding (3) must be smaller than the kernel (3)");
  set(&c, "padding", ints(1, 0LL));
  set(&c, "stride", ints(1, 2LL));
  set(&c, "ceil_mode", one(1)); /* 4 windows along W where floor mode has 3 */
  run_rc = run(&c, 1, "f32[1, 2, 7, 8]");
  ASSERT_OK(c, "f32[1, 2, 3, 4]");
  set(&c, "count_include_pad", one(2));
  ck_assert_int_ne(run(&c, 1, "f32[1, 2, 7, 8]"), 0);
  ck_assert_int_eq(c.err.attr, 4);
  call_init(&c, "max_pool2d");
  set(&c, "kernel", ints(1, 9LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 2, 5, 7]"), 0);
  /* dilation 2 from one element before a 1-wide input: both taps miss it */
  set(&c, "kernel", ints(2, 1LL, 2LL));
  set(&c, "padding", ints(2, 0LL, 1LL));
  set(&c, "dilation", ints(1, 2LL));
  set(&c, "stride", ints(1, 1LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 1, 3, 1]"), 0);
  ck_assert_str_eq(c.err.msg, "window 0 along W lies in the padding only (every window must keep "
                              "an element of the input)");
  set(&c, "dilation", ints(1, 1LL));
  run_rc = run(&c, 1, "f32[1, 1, 3, 1]");
  ASSERT_OK(c, "f32[1, 1, 3, 2]");
  ck_assert(get(&c, "dilation")->n == 2);
  call_init(&c, "global_avg_pool2d");
  run_rc = run(&c, 1, "f32[1, 16, 32, 32]");
  ASSERT_OK(c, "f32[1, 16, 1, 1]");
  ck_assert_int_ne(run(&c, 1, "f32[16, 32, 32]"), 0);
}
END_TEST

START_TEST(test_norms) {
  call c;
  int run_rc;
  call_init(&c, "batch_norm");
  ck_assert(get(&c, "eps")->f == 1e-5);
  run_rc = run(&c, 5, "f32[1, 16, 8, 8]", "f32[16]", "f32[16]", "f32[16]", "f32[16]");
  ASSERT_OK(c, "f32[1, 16, 8, 8]");
  ck_assert_int_ne(run(&c, 5, "f32[1, 16, 8, 8]", "f32[16]", "f32[16]", "f32[16]", "f32[15]"), 0);
  ck_assert_int_eq(c.err.input, 4);
  ck_assert_str_eq(c.err.msg, "var must be f32[16] (the channel count), got f32[15]");

  call_init(&c, "layer_norm");
  run_rc = run(&c, 3, "f32[1, 16, 64]", "f32[64]", "f32[64]");
  ASSERT_OK(c, "f32[1, 16, 64]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 2);
  call_init(&c, "layer_norm");
  set(&c, "axis", one(1));
  run_rc = run(&c, 2, "f32[1, 16, 64]", "f32[16, 64]");
  ASSERT_OK(c, "f32[1, 16, 64]");
  ck_assert_int_ne(run(&c, 2, "f32[1, 16, 64]", "f32[64]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  call_init(&c, "layer_norm");
  run_rc = run(&c, 1, "f32[4, 5]");
  ASSERT_OK(c, "f32[4, 5]");

  call_init(&c, "rms_norm");
  ck_assert(get(&c, "eps")->f == 1e-6);
  run_rc = run(&c, 2, "f32[2, 7, 32]", "f32[32]");
  ASSERT_OK(c, "f32[2, 7, 32]");
  set(&c, "axis", one(-2));
  ck_assert_int_ne(run(&c, 2, "f32[2, 7, 32]", "f32[32]"), 0);
  ck_assert_str_eq(c.err.msg, "weight must be f32[7, 32] (the normalized dims), got f32[32]");

  call_init(&c, "group_norm");
  ck_assert(c.def->attrs[0].required);
  set(&c, "groups", one(4));
  run_rc = run(&c, 3, "f32[2, 8, 5, 5]", "f32[8]", "f32[8]");
  ASSERT_OK(c, "f32[2, 8, 5, 5]");
  run_rc = run(&c, 1, "f32[3, 4]");
  ASSERT_OK(c, "f32[3, 4]");
  ck_assert_int_ne(run(&c, 1, "f32[2, 6, 5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "'groups' (4) must divide the 6 channels of x");
  ck_assert_int_eq(c.err.attr, 0);
  ck_assert_int_ne(run(&c, 2, "f32[2, 8, 5, 5]", "f32[4]"), 0);
  ck_assert_str_eq(c.err.msg, "weight must be f32[8] (one per channel), got f32[4]");
  ck_assert_int_ne(run(&c, 1, "f32[8]"), 0);
  ck_assert_int_eq(c.err.input, 0);

  call_init(&c, "softmax");
  run_rc = run(&c, 1, "f32[2, 10]");
  ASSERT_OK(c, "f32[2, 10]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 1);
  set(&c, "axis", one(2));
  ck_assert_int_ne(run(&c, 1, "f32[2, 10]"), 0);
  ck_assert_str_eq(c.err.msg, "axis 2 is out of range for f32[2, 10]");
  ck_assert_int_eq(c.err.attr, 0);
  call_init(&c, "log_softmax");
  set(&c, "axis", one(-2));
  run_rc = run(&c, 1, "f32[2, 10]");
  ASSERT_OK(c, "f32[2, 10]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 0);
}
END_TEST

START_TEST(test_reductions) {
  call c;
  int run_rc;
  call_init(&c, "prod");
  set(&c, "axes", ints(1, -2LL));
  set(&c, "keepdims", one(1));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[2, 1, 4]");
  ck_assert_int_eq(get(&c, "axes")->ints[0], 1);
  call_init(&c, "sum");
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[]");
  ck_assert_int_eq(get(&c, "axes")->n, 3);
  call_init(&c, "mean");
  set(&c, "keepdims", one(1));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[1, 1, 1]");
  call_init(&c, "max");
  set(&c, "axes", ints(2, -1LL, 0LL));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[3]");
  ck_assert(get(&c, "axes")->ints[0] == 0 && get(&c, "axes")->ints[1] == 2);
  call_init(&c, "min");
  set(&c, "axes", ints(1, 1LL));
  set(&c, "keepdims", one(1));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[2, 1, 4]");
  set(&c, "axes", ints(2, 1LL, -2LL));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "axis 1 is listed twice");
  call_init(&c, "sum");
  set(&c, "axes", ints(1, 3LL));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  call_init(&c, "sum");
  set(&c, "keepdims", one(2));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  ck_assert_int_eq(c.err.attr, 1);
}
END_TEST

START_TEST(test_reshape_transpose_flatten) {
  call c;
  int run_rc;
  call_init(&c, "reshape");
  ck_assert(c.def->attrs[0].required);
  set(&c, "shape", ints(4, 1LL, 16LL, 4LL, -1LL));
  run_rc = run(&c, 1, "f32[1, 16, 64]");
  ASSERT_OK(c, "f32[1, 16, 4, 16]");
  ck_assert_int_eq(get(&c, "shape")->ints[3], 16);
  set(&c, "shape", ints(2, -1LL, -1LL));
  ck_assert_int_ne(run(&c, 1, "f32[4, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "only one dimension may be -1");
  set(&c, "shape", ints(2, 0LL, 16LL));
  ck_assert_int_ne(run(&c, 1, "f32[4, 4]"), 0);
  set(&c, "shape", ints(2, 3LL, -1LL));
  ck_assert_int_ne(run(&c, 1, "f32[4, 4]"), 0);
  set(&c, "shape", ints(2, 3LL, 5LL));
  ck_assert_int_ne(run(&c, 1, "f32[4, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "cannot reshape f32[4, 4] (16 elements) into 15 elements");
  set(&c, "shape", ints(4, 2147483647LL, 2147483647LL, 2147483647LL, 2147483647LL));
  ck_assert_int_ne(run(&c, 1, "f32[4, 4]"), 0); /* overflow is caught, not wrapped */
  set(&c, "shape", ints(0));
  run_rc = run(&c, 1, "i32[1, 1]");
  ASSERT_OK(c, "i32[]");

  call_init(&c, "transpose");
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[4, 3, 2]");
  ck_assert(get(&c, "perm")->n == 3 && get(&c, "perm")->ints[0] == 2);
  set(&c, "perm", ints(4, 0LL, 2LL, -1LL, 1LL));
  run_rc = run(&c, 1, "f32[1, 16, 4, 16]");
  ASSERT_OK(c, "f32[1, 4, 16, 16]");
  ck_assert_int_eq(get(&c, "perm")->ints[2], 3);
  set(&c, "perm", ints(3, 0LL, 0LL, 1LL));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  set(&c, "perm", ints(2, 0LL, 1LL));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);

  call_init(&c, "flatten");
  run_rc = run(&c, 1, "f32[1, 16, 4, 4]");
  ASSERT_OK(c, "f32[1, 256]");
  set(&c, "axis", one(0));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[1, 24]");
  set(&c, "axis", one(-1));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[6, 4]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 2);
  set(&c, "axis", one(3));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[24, 1]");
  set(&c, "axis", one(4));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
}
END_TEST

START_TEST(test_expand) {
  call c;
  int run_rc;
  call_init(&c, "expand");
  set(&c, "shape", ints(3, 2LL, 3LL, 4LL));
  run_rc = run(&c, 1, "f32[3, 1]");
  ASSERT_OK(c, "f32[2, 3, 4]");
  run_rc = run(&c, 1, "i32[4]");
  ASSERT_OK(c, "i32[2, 3, 4]");
  ck_assert_int_ne(run(&c, 1, "f32[2, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "cannot broadcast f32[2, 4] to shape[1] = 3: dim 0 is 2, not 1 or 3");
  ck_assert_int_eq(c.err.input, 0);
  ck_assert_int_ne(run(&c, 1, "f32[1, 1, 1, 1]"), 0);
  ck_assert_int_eq(c.err.attr, 0);
  set(&c, "shape", ints(2, 0LL, 4LL));
  ck_assert_int_ne(run(&c, 1, "f32[4]"), 0);
  ck_assert_str_eq(c.err.msg, "shape[0] is 0 (dims are at least 1)");
}
END_TEST

START_TEST(test_pad_resize_cumsum) {
  call c;
  int run_rc;
  call_init(&c, "pad");
  set(&c, "pads", ints(4, 1LL, 2LL, 0LL, -1LL));
  run_rc = run(&c, 1, "f32[3, 5]");
  ASSERT_OK(c, "f32[4, 6]");
  run_rc = run(&c, 1, "i32[3, 5]");
  ASSERT_OK(c, "i32[4, 6]");
  ck_assert_int_ne(run(&c, 1, "f32[3, 5, 2]"), 0);
  ck_assert_str_eq(c.err.msg, "pads must have 6 values for f32[3, 5, 2] (all begins, then all "
                              "ends), got 4");
  set(&c, "pads", ints(2, -2LL, -1LL));
  ck_assert_int_ne(run(&c, 1, "f32[3]"), 0);
  ck_assert_str_eq(c.err.msg, "dim 0 (3) padded by -2 and -1 leaves no element");
  set(&c, "pads", ints(2, 3LL, 0LL));
  set(&c, "mode", choice(1)); /* reflect */
  ck_assert_int_ne(run(&c, 1, "f32[3]"), 0);
  ck_assert_str_eq(c.err.msg, "reflect padding of dim 0 (3 and 0) must be smaller than the dim (3)");
  set(&c, "mode", choice(2)); /* edge */
  run_rc = run(&c, 1, "f32[3]");
  ASSERT_OK(c, "f32[6]");
  ck_assert_int_ne(run(&c, 1, "f32[1, 1, 1, 1, 1]"), 0);
  ck_assert_int_eq(c.err.input, 0);

  call_init(&c, "resize");
  set(&c, "scale", flts2(2, 1.5));
  run_rc = run(&c, 1, "f32[1, 3, 5, 5]");
  ASSERT_OK(c, "f32[1, 3, 10, 7]");
  ck_assert(get(&c, "size")->n == 2 && get(&c, "size")->ints[1] == 7);
  run_rc = run(&c, 1, "f32[1, 3, 5, 5]"); /* normalized attributes check again */
  ASSERT_OK(c, "f32[1, 3, 10, 7]");
  set(&c, "size", ints(2, 9LL, 9LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 3, 5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "give either scale=[sh, sw] or size=[h, w], not both");
  call_init(&c, "resize");
  ck_assert_int_ne(run(&c, 1, "f32[1, 3, 5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "give either scale=[sh, sw] or size=[h, w]");
  set(&c, "scale", flts2(0.1, 1));
  ck_assert_int_ne(run(&c, 1, "f32[1, 3, 5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "scale 0.1 turns height 5 into 0 (dims are at least 1)");
  call_init(&c, "resize");
  set(&c, "size", ints(1, 4LL));
  set(&c, "align_corners", one(1));
  ck_assert_int_ne(run(&c, 1, "f32[1, 3, 5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "align_corners applies to mode=linear only (as in PyTorch)");
  set(&c, "mode", choice(1));
  run_rc = run(&c, 1, "f32[1, 3, 5, 5]");
  ASSERT_OK(c, "f32[1, 3, 4, 4]");
  ck_assert_int_ne(run(&c, 1, "f32[3, 5, 5]"), 0);

  call_init(&c, "cumsum");
  ck_assert(c.def->attrs[0].required);
  set(&c, "axis", one(-2));
  run_rc = run(&c, 1, "f32[2, 3, 4]");
  ASSERT_OK(c, "f32[2, 3, 4]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 1);
  set(&c, "axis", one(3));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  ck_assert_int_eq(c.err.attr, 0);
  set(&c, "axis", one(0));
  set(&c, "reverse", one(2));
  ck_assert_int_ne(run(&c, 1, "f32[2, 3, 4]"), 0);
  ck_assert_int_eq(c.err.attr, 2);
}
END_TEST

START_TEST(test_attention) {
  call c;
  int run_rc;
  call_init(&c, "scaled_dot_product_attention");
  run_rc = run(&c, 3, "f32[2, 12, 10, 64]", "f32[2, 12, 7, 64]", "f32[2, 12, 7, 32]");
  ASSERT_OK(c, "f32[2, 12, 10, 32]");
  /* scale is filled in (1/sqrt(d)) and a normalized call checks again */
  ck_assert_int_eq(get(&c, "scale")->kind, MLG_ATTR_FLOAT);
  ck_assert(get(&c, "scale")->f == 0.125);
  run_rc = run(&c, 3, "f32[2, 12, 10, 64]", "f32[2, 12, 7, 64]", "f32[2, 12, 7, 32]");
  ASSERT_OK(c, "f32[2, 12, 10, 32]");
  /* leading dims broadcast; a mask broadcasts to the scores */
  run_rc = run(&c, 4, "f32[3, 1, 5, 8]", "f32[4, 6, 8]", "f32[1, 6, 2]", "f32[5, 6]");
  ASSERT_OK(c, "f32[3, 4, 5, 2]");
  run_rc = run(&c, 4, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]", "f32[1, 6]");
  ASSERT_OK(c, "f32[5, 8]");
  ck_assert_int_ne(run(&c, 3, "f32[5, 8]", "f32[6, 7]", "f32[6, 8]"), 0);
  ck_assert_str_eq(c.err.msg, "q and k head dims differ (8 vs 7)");
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_int_ne(run(&c, 3, "f32[5, 8]", "f32[6, 8]", "f32[4, 8]"), 0);
  ck_assert_str_eq(c.err.msg, "k and v key counts differ (6 vs 4)");
  ck_assert_int_eq(c.err.input, 2);
  ck_assert_int_ne(run(&c, 3, "f32[8]", "f32[6, 8]", "f32[6, 8]"), 0);
  ck_assert_str_eq(c.err.msg, "q must be [..., Tq, d], got f32[8]");
  ck_assert_int_ne(run(&c, 3, "f32[2, 5, 8]", "f32[3, 6, 8]", "f32[3, 6, 8]"), 0);
  ck_assert_str_eq(c.err.msg, "the leading dims of q, k and v do not broadcast");
  ck_assert_int_ne(run(&c, 4, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]", "f32[5, 5]"), 0);
  ck_assert_str_eq(c.err.msg, "mask f32[5, 5] does not broadcast to the scores f32[5, 6] ([..., Tq, Tk])");
  ck_assert_int_eq(c.err.input, 3);
  /* a mask may not widen the result */
  ck_assert_int_ne(run(&c, 4, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]", "f32[2, 5, 6]"), 0);
  ck_assert_str_eq(c.err.msg, "mask f32[2, 5, 6] does not broadcast to the scores f32[5, 6] "
                              "([..., Tq, Tk])");
  ck_assert_int_ne(run(&c, 4, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]", "i32[5, 6]"), 0);
  ck_assert_str_eq(c.err.msg, "mask must be f32 (added to the scores) or bool (true = keep), "
                              "got i32");
  ck_assert_int_ne(run(&c, 3, "i32[5, 8]", "f32[6, 8]", "f32[6, 8]"), 0);
  ck_assert_int_eq(c.err.input, 0);
  /* f16 attention: q, k and v all f16 give f16 (with an f32 or bool mask); no mixing */
  run_rc = run(&c, 4, "f16[2, 5, 16]", "f16[2, 6, 16]", "f16[2, 6, 8]", "f32[5, 6]");
  ASSERT_OK(c, "f16[2, 5, 8]");
  run_rc = run(&c, 4, "f16[5, 16]", "f16[6, 16]", "f16[6, 16]", "bool[5, 6]");
  ASSERT_OK(c, "f16[5, 16]");
  ck_assert_int_ne(run(&c, 3, "f16[5, 8]", "f32[6, 8]", "f16[6, 8]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  set(&c, "causal", one(2));
  ck_assert_int_ne(run(&c, 3, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]"), 0);
  ck_assert_int_eq(c.err.attr, 0);
  set(&c, "causal", one(1));
  set(&c, "scale", flt(0.5));
  run_rc = run(&c, 3, "f32[5, 8]", "f32[6, 8]", "f32[6, 8]");
  ASSERT_OK(c, "f32[5, 8]");
  ck_assert(get(&c, "scale")->f == 0.5);
}
END_TEST

START_TEST(test_concat_gather_squeeze) {
  call c;
  int run_rc;
  call_init(&c, "concat");
  set(&c, "axis", one(-1));
  run_rc = run(&c, 3, "f32[2, 3]", "f32[2, 5]", "f32[2, 1]");
  ASSERT_OK(c, "f32[2, 9]");
  ck_assert_int_eq(get(&c, "axis")->ints[0], 1);
  set(&c, "axis", one(0));
  ck_assert_int_ne(run(&c, 2, "f32[2, 3]", "f32[2, 5]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "input 1 is f32[2, 5], which does not match f32[2, 3] outside axis 0");
  ck_assert_int_ne(run(&c, 2, "f32[2, 3]", "i32[2, 3]"), 0);

  call_init(&c, "gather");
  run_rc = run(&c, 2, "f32[10, 4]", "i32[2, 3]");
  ASSERT_OK(c, "f32[2, 3, 4]");
  set(&c, "axis", one(-1));
  run_rc = run(&c, 2, "f32[10, 4]", "i32[]");
  ASSERT_OK(c, "f32[10]");
  ck_assert_int_ne(run(&c, 2, "f32[10, 4]", "f32[2]"), 0);
  ck_assert_int_eq(c.err.input, 1);
  ck_assert_str_eq(c.err.msg, "input 1 (the indices) must be i32 or i64, got f32 (convert it "
                              "with cast(..., dtype=i32))");

  call_init(&c, "squeeze");
  run_rc = run(&c, 1, "f32[1, 3, 1, 4]");
  ASSERT_OK(c, "f32[3, 4]");
  ck_assert(get(&c, "axes")->n == 2 && get(&c, "axes")->ints[1] == 2);
  set(&c, "axes", ints(1, -2LL));
  run_rc = run(&c, 1, "f32[1, 3, 1, 4]");
  ASSERT_OK(c, "f32[1, 3, 4]");
  set(&c, "axes", ints(1, 1LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 3, 1, 4]"), 0);
  ck_assert_str_eq(c.err.msg, "cannot squeeze axis 1 of size 3");

  call_init(&c, "unsqueeze");
  set(&c, "axes", ints(2, 0LL, -1LL));
  run_rc = run(&c, 1, "f32[3, 4]");
  ASSERT_OK(c, "f32[1, 3, 4, 1]");
  ck_assert_int_eq(get(&c, "axes")->ints[1], 3);
  set(&c, "axes", ints(2, 1LL, 1LL));
  ck_assert_int_ne(run(&c, 1, "f32[3, 4]"), 0);
  set(&c, "axes", ints(3, 0LL, 1LL, 2LL));
  ck_assert_int_ne(run(&c, 1, "f32[1, 2, 3, 4, 5, 6]"), 0); /* rank 9 */
}
END_TEST

START_TEST(test_slice) {
  call c;
  int run_rc;
  call_init(&c, "slice");
  set(&c, "starts", ints(1, 64LL));
  set(&c, "ends", ints(1, 128LL));
  set(&c, "axes", ints(1, 2LL));
  run_rc = run(&c, 1, "f32[1, 16, 192]");
  ASSERT_OK(c, "f32[1, 16, 64]");
  /* normalized to full rank */
  ck_assert(get(&c, "starts")->n == 3 && get(&c, "starts")->ints[2] == 64 && get(&c, "starts")->ints[0] == 0);
  ck_assert(get(&c, "ends")->ints[1] == 16 && get(&c, "ends")->ints[2] == 128);
  ck_assert(get(&c, "axes")->n == 3 && get(&c, "axes")->ints[2] == 2);
  ck_assert(get(&c, "steps")->n == 3 && get(&c, "steps")->ints[2] == 1);

  call_init(&c, "slice"); /* negative indices and clamping */
  set(&c, "starts", ints(2, -3LL, 1LL));
  set(&c, "ends", ints(2, 9223372036854775807LL, -1LL));
  run_rc = run(&c, 1, "f32[10, 5]");
  ASSERT_OK(c, "f32[3, 3]");
  ck_assert(get(&c, "starts")->ints[0] == 7 && get(&c, "ends")->ints[0] == 10);
  ck_assert(get(&c, "ends")->ints[1] == 4);

  call_init(&c, "slice"); /* reverse with a negative step: x[::-1] */
  set(&c, "starts", ints(1, -1LL));
  set(&c, "ends", ints(1, (long long)INT64_MIN));
  set(&c, "steps", ints(1, -1LL));
  run_rc = run(&c, 1, "f32[6]");
  ASSERT_OK(c, "f32[6]");
  ck_assert(get(&c, "starts")->ints[0] == 5 && get(&c, "ends")->ints[0] == -7); /* -(6+1) */

  call_init(&c, "slice"); /* step 2 rounds up; step 3 from 1 to 8 → 1, 4, 7 */
  set(&c, "starts", ints(2, 0LL, 1LL));
  set(&c, "ends", ints(2, 5LL, 8LL));
  set(&c, "steps", ints(2, 2LL, 3LL));
  run_rc = run(&c, 1, "f32[5, 9]");
  ASSERT_OK(c, "f32[3, 3]");

  call_init(&c, "slice");
  set(&c, "starts", ints(1, 3LL));
  set(&c, "ends", ints(1, 3LL));
  ck_assert_int_ne(run(&c, 1, "f32[5]"), 0); /* empty */
  set(&c, "steps", ints(1, 0LL));
  ck_assert_int_ne(run(&c, 1, "f32[5]"), 0);
  ck_assert_int_eq(c.err.attr, 3);
  call_init(&c, "slice");
  set(&c, "starts", ints(1, 0LL));
  set(&c, "ends", ints(2, 1LL, 2LL));
  ck_assert_int_ne(run(&c, 1, "f32[5, 5]"), 0);
  ck_assert_int_eq(c.err.attr, 1);
  call_init(&c, "slice");
  set(&c, "starts", ints(2, 0LL, 0LL));
  set(&c, "ends", ints(2, 1LL, 1LL));
  set(&c, "axes", ints(2, 0LL, -2LL));
  ck_assert_int_ne(run(&c, 1, "f32[5, 5]"), 0);
  ck_assert_int_eq(c.err.attr, 2);
}
END_TEST

START_TEST(test_limits_and_utils) {
  mlg_shape_error err;
  mlg_type t = { .dtype = MLG_F32, .rank = 2, .dims = { 2147483647, 2 } };
  ck_assert_int_eq(mlg_check_type_limits(&t, &err), 0);
  t.dims[1] = 1024;
  ck_assert_int_ne(mlg_check_type_limits(&t, &err), 0); /* 2^41 elements */
  t.dims[0] = 2147483648LL;
  t.dims[1] = 1;
  ck_assert_int_ne(mlg_check_type_limits(&t, &err), 0);
  t.dims[0] = 0;
  ck_assert_int_ne(mlg_check_type_limits(&t, &err), 0);
  ck_assert_int_eq(mlg_normalize_axis(-1, 3), 2);
  ck_assert_int_eq(mlg_normalize_axis(3, 3), -1);
  ck_assert_int_eq(mlg_normalize_axis(-4, 3), -1);
  ck_assert_int_eq(mlg_normalize_axis(INT64_MIN, 3), -1);
  mlg_attr a = ints(1, 5LL);
  ck_assert_int_eq(mlg_expand_padding(&a, 0, &err), 0);
  ck_assert(a.n == 4 && a.ints[3] == 5);
  a = ints(1, -1LL);
  ck_assert_int_ne(mlg_expand_padding(&a, 0, &err), 0);
  ck_assert_int_eq(mlg_conv_out_size(28, 0, 0, 5, 1, 1), 24);
  ck_assert_int_eq(mlg_conv_out_size(3, 0, 0, 5, 1, 1), 0);
  mlg_type a2 = ty("f32[3, 1]"), b2 = ty("f32[1, 4]"), o;
  ck_assert_int_eq(mlg_broadcast_types(&a2, &b2, &o, &err), 0);
  ck_assert(o.rank == 2 && o.dims[0] == 3 && o.dims[1] == 4);
}
END_TEST

/* ---- hooks that later stages ask ---- */

/* Appends op `name` on input `in` with `attrs` (over the defaults), typed by its shape rule. */
static int add_checked(mlg_graph_builder *gb, const char *name, int in, int n_attrs,
                       const char *const *attr_names, const mlg_attr *attrs) {
  call c;
  call_init(&c, name);
  for (int i = 0; i < n_attrs; i++) set(&c, attr_names[i], attrs[i]);
  mlg_type t = gb->graph->nodes[in].type;
  c.err = (mlg_shape_error){ .input = -1, .attr = -1 };
  ck_assert_msg(c.def->infer(&t, 1, c.attrs, &c.out, &c.err) == 0, "%s: %s", name, c.err.msg);
  mlg_node n = { .kind = MLG_NODE_OP, .op = c.def, .type = c.out, .n_inputs = 1, .inputs = &in };
  memcpy(n.attrs, c.attrs, sizeof n.attrs);
  return mlg_graph_add(gb, &n);
}

START_TEST(test_index_maps) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "idx"), 0);
  mlg_node xn = { .kind = MLG_NODE_INPUT, .name = "x", .type = ty("f32[2, 3, 4]") };
  int x = mlg_graph_add(&gb, &xn);
  static const char *const perm_n[] = { "perm" }, *const shape_n[] = { "shape" };
  static const char *const slice_n[] = { "starts", "ends", "axes", "steps" };
  mlg_attr perm = ints(3, 2LL, 0LL, 1LL), shape = ints(2, 8LL, 3LL);
  mlg_attr sl[4] = { ints(2, 1LL, 3LL), ints(2, 3LL, 0LL), ints(2, 1LL, 2LL), ints(2, 1LL, -2LL) };
  int t = add_checked(&gb, "transpose", x, 1, perm_n, &perm);   /* f32[4, 2, 3] */
  int r = add_checked(&gb, "reshape", t, 1, shape_n, &shape);   /* f32[8, 3] */
  int s = add_checked(&gb, "slice", x, 4, slice_n, sl);         /* f32[2, 2, 2] */
  int e = mlg_graph_add(&gb, &(mlg_node){ .kind = MLG_NODE_OP, .op = mlg_op_find("exp"),
                                         .type = xn.type, .n_inputs = 1, .inputs = &x });
  mlg_graph *g = mlg_graph_builder_finish(&gb);
  ck_assert_ptr_nonnull(g);

  mlg_index_map m;
  ck_assert_int_eq(mlg_node_index_map(g, t, &m), 0);
  ck_assert_int_eq(m.kind, MLG_INDEX_AXES);
  ck_assert(m.axis[0] == 2 && m.axis[1] == 0 && m.axis[2] == 1 && m.step[0] == 1 && m.start[1] == 0);
  /* x's contiguous layout seen through the transpose, then stored back. */
  mlg_layout l;
  mlg_layout_contiguous(&g->nodes[x].type, x, &l);
  ck_assert_int_eq(mlg_layout_forward(&l, &m), 0);
  ck_assert(l.dims[0] == 4 && l.strides[0] == 1 && l.strides[1] == 12 && l.strides[2] == 4);
  ck_assert_int_eq(mlg_layout_backward(&l, &m), 0);
  ck_assert(l.strides[0] == 12 && l.strides[1] == 4 && l.strides[2] == 1);

  /* A view merges [4, 2] only where the strides allow it: not after this transpose. */
  ck_assert_int_eq(mlg_node_index_map(g, r, &m), 0);
  ck_assert_int_eq(m.kind, MLG_INDEX_SAME_ORDER);
  ck_assert(m.rank == 2 && m.in_rank == 3 && m.dims[0] == 8 && m.in_dims[0] == 4);
  mlg_index_map mt;
  mlg_node_index_map(g, t, &mt);
  mlg_layout_contiguous(&g->nodes[x].type, x, &l);
  ck_assert_int_eq(mlg_layout_forward(&l, &mt), 0);
  ck_assert_int_ne(mlg_layout_forward(&l, &m), 0);

  /* The slice: dim 1 from 1 by 1, dim 2 from 3 by -2; an offset and a negative stride. */
  ck_assert_int_eq(mlg_node_index_map(g, s, &m), 0);
  ck_assert(m.start[1] == 1 && m.start[2] == 3 && m.step[2] == -2 && m.dims[2] == 2);
  mlg_layout_contiguous(&g->nodes[x].type, x, &l);
  ck_assert_int_eq(mlg_layout_forward(&l, &m), 0);
  ck_assert(l.offset == 4 + 3 && l.strides[2] == -2 && l.strides[1] == 4);
  ck_assert_int_ne(mlg_layout_backward(&l, &m), 0); /* a slice does not cover its input */

  ck_assert(!mlg_node_is_index(&g->nodes[e]) && mlg_node_index_map(g, e, &m) != 0);
  ck_assert(!mlg_node_is_index(&g->nodes[x]));
  mlg_graph_free(g);
}
END_TEST

START_TEST(test_costs) {
  mlg_graph_builder gb;
  ck_assert_int_eq(mlg_graph_builder_init(&gb, "cost"), 0);
  mlg_node xn = { .kind = MLG_NODE_INPUT, .name = "x", .type = ty("f32[2, 3, 4]") };
  int x = mlg_graph_add(&gb, &xn);
  mlg_node wn = { .kind = MLG_NODE_PARAM, .name = "w", .type = ty("f32[4, 5]") };
  int w = mlg_graph_add(&gb, &wn);
  static const char *const slice_n[] = { "starts", "ends", "axes" };
  mlg_attr sl[3] = { ints(1, 1LL), ints(1, 3LL), ints(1, 2LL) };
  int s = add_checked(&gb, "slice", x, 3, slice_n, sl);          /* f32[2, 3, 2] */
  int e = mlg_graph_add(&gb, &(mlg_node){ .kind = MLG_NODE_OP, .op = mlg_op_find("exp"),
                                         .type = xn.type, .n_inputs = 1, .inputs = &x });
  static const char *const cumsum_n[] = { "axis" };
  mlg_attr cs[1] = { one(1) };
  int cu = add_checked(&gb, "cumsum", x, 1, cumsum_n, cs);
  static const char *const expand_n[] = { "shape" };
  mlg_attr ex[1] = { ints(4, 3LL, 2LL, 3LL, 4LL) };
  int xp = add_checked(&gb, "expand", x, 1, expand_n, ex);      /* f32[3, 2, 3, 4] */
  int mm_in[2] = { x, w };
  int mm = mlg_graph_add(&gb, &(mlg_node){ .kind = MLG_NODE_OP, .op = mlg_op_find("matmul"),
                                          .type = ty("f32[2, 3, 5]"), .n_inputs = 2,
                                          .inputs = mm_in });
  mlg_graph *g = mlg_graph_builder_finish(&gb);
  mlg_op_cost c;
  mlg_node_cost(g, x, &c);                  /* a leaf costs nothing */
  ck_assert(c.flops == 0 && c.bytes == 0);
  mlg_node_cost(g, e, &c);                  /* the default: 1 flop per element, in + out */
  ck_assert(c.flops == 24 && c.bytes == 2 * 24 * 4);
  mlg_node_cost(g, s, &c);                  /* reads only what it keeps */
  ck_assert(c.flops == 0 && c.bytes == 2 * 12 * 4);
  mlg_node_cost(g, cu, &c);                 /* one addition per element */
  ck_assert(c.flops == 24 && c.bytes == 2 * 24 * 4);
  mlg_node_cost(g, xp, &c);                 /* copies, no arithmetic */
  ck_assert(c.flops == 0 && c.bytes == (24 + 72) * 4);
  mlg_node_cost(g, mm, &c);                 /* 2·K per output element */
  ck_assert(c.flops == 2 * 30 * 4 && c.bytes == (24 + 20 + 30) * 4);
  mlg_graph_free(g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ops");
  TCase *tc = tcase_create("shape_rules");
  tcase_add_test(tc, test_registry);
  tcase_add_test(tc, test_elementwise);
  tcase_add_test(tc, test_types_ops);
  tcase_add_test(tc, test_matmul);
  tcase_add_test(tc, test_conv2d);
  tcase_add_test(tc, test_conv1d_conv_transpose2d);
  tcase_add_test(tc, test_pool);
  tcase_add_test(tc, test_norms);
  tcase_add_test(tc, test_reductions);
  tcase_add_test(tc, test_reshape_transpose_flatten);
  tcase_add_test(tc, test_concat_gather_squeeze);
  tcase_add_test(tc, test_expand);
  tcase_add_test(tc, test_pad_resize_cumsum);
  tcase_add_test(tc, test_attention);
  tcase_add_test(tc, test_slice);
  tcase_add_test(tc, test_limits_and_utils);
  suite_add_tcase(s, tc);
  TCase *th = tcase_create("hooks");
  tcase_add_test(th, test_index_maps);
  tcase_add_test(th, test_costs);
  suite_add_tcase(s, th);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#!/usr/bin/env python3
"""Generates the op fixtures in tests/fixtures/: one tiny mlg model per op variant, its inputs,
weights and reference outputs, computed independently of mlg with NumPy / PyTorch (CPU) in
float64 and stored as float32.

    python3 tools/gen_fixtures.py [--out tests/fixtures] [--only PREFIX] [--check]

Every fixture directory holds:
    model.mlg              the model (inputs as `input`, weights as `param` without initializer)
    weights.safetensors    the params (only when the model has some)
    <input>.npy            one per input, of its dtype (float32 mostly; int32 or int64 indices,
                           bool masks, float16, int8, uint8 for the type fixtures)
    expected/<output>.npy  the reference output, of the output's dtype (float32 unless the
                           fixture says otherwise; integer and bool outputs must match exactly)
    tolerance              `rtol=... atol=...`, with `# why` comment lines when looser than default

Gradient fixtures (grad_*) output `grad(loss, x)` of a loss sum(f(...) * r) (r a random input,
the cotangent) with the gradient torch.autograd computes. Training fixtures (train_*) have a
`train` statement and a file
    steps                  the number of train steps N
whose inputs hold one batch per step ([N, batch...]); expected/ holds every param after the N
steps and `loss` ([N], each step's loss), computed with torch.optim.

Each fixture seeds its own RNG from its name, so adding or removing a fixture leaves the
others' bytes unchanged. The generator also runs every reference in float32 and refuses to
write a tolerance that float32 PyTorch itself does not meet (see docs/testing.md).
"""
import argparse
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---------------------------------------------------------------------------------------------
# Writing

def shape_str(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


# mlg's dtypes and the NumPy dtype of each (runtime/dtype.c).
NP_DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "i64": np.int64,
             "i8": np.int8, "u8": np.uint8, "bool": np.bool_}


def dtype_str(arr):
    for name, t in NP_DTYPES.items():
        if arr.dtype == t:
            return name
    raise SystemExit(f"no mlg dtype for {arr.dtype}")


def write_tolerance(path, rtol, atol, why):
    with open(path, "w") as f:
        for line in (why or "").splitlines():
            f.write("# " + line.strip() + "\n")
        f.write(f"rtol={sci(rtol)} atol={sci(atol)}\n")


def sci(v):
    """1e-4 rather than 0.0001, as docs/testing.md writes tolerances."""
    m, e = f"{v:.6e}".split("e")
    return f"{float(m):g}e{int(e)}"


def to_torch(arr, dtype):
    """Floats in the evaluation dtype (float64 reference, float32 check); integers as int64
    (what torch indexes with); bools as bools."""
    if arr.dtype == np.bool_:
        return torch.from_numpy(arr.copy())
    if arr.dtype.kind in "iu":
        return torch.from_numpy(arr.astype(np.int64))
    return torch.from_numpy(arr).to(dtype)


def tol_ratio(got, want, rtol, atol):
    """Worst |got-want| / (atol + rtol*|want|); > 1 means outside the tolerance."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    fin = np.isfinite(want)
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        return float("inf")
    inf = np.isinf(want)
    if np.any(inf) and not np.array_equal(got[inf], want[inf]):
        return float("inf")
    diff = np.abs(got[fin] - want[fin])
    allowed = atol + rtol * np.abs(want[fin])
    # An exact tolerance (rtol = atol = 0): equal is 0, anything else is out.
    err = np.where(allowed > 0, diff / np.where(allowed > 0, allowed, 1), np.where(diff > 0, np.inf, 0))
    return float(err.max()) if err.size else 0.0


class Fx:
    """One fixture: declare inputs/params, bindings and outputs with their references, then
    write()."""

    registry = []

    def __init__(self, name, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, why=None):
        self.name = name
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.inputs = {}
        self.params = {}
        self.consts = []
        self.lines = []
        self.outputs = []     # (name, reference function, mlg dtype)
        self.rtol, self.atol, self.why = rtol, atol, why

    # data helpers -------------------------------------------------------------------------
    def u(self, shape, lo=-1.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def n(self, shape, std=1.0):
        return (self.rng.standard_normal(size=shape) * std).astype(np.float32)

    def inp(self, name, shape=None, lo=-1.0, hi=1.0, data=None):
        self.inputs[name] = data if data is not None else self.u(shape, lo, hi)
        return self

    def par(self, name, shape=None, lo=-1.0, hi=1.0, data=None):
        self.params[name] = data if data is not None else self.u(shape, lo, hi)
        return self

    def const(self, line):
        self.consts.append(line)
        return self

    def let(self, line):
        self.lines.append(line)
        return self

    def out(self, name, expr, ref, dtype="f32"):
        """`output name = expr` (expr None: `output name` for an existing binding), whose
        reference `ref` is stored as mlg dtype `dtype`."""
        self.lines.append(f"output {name} = {expr}" if expr is not None else f"output {name}")
        self.outputs.append((name, ref, dtype))
        return self

    def tol(self, rtol, atol, why):
        self.rtol, self.atol, self.why = rtol, atol, why
        return self

    # output -------------------------------------------------------------------------------
    def source(self):
        out = [f"# {self.name}: generated by tools/gen_fixtures.py; regenerate, don't edit.",
               f"model {self.name} {{"]
        for k, v in self.inputs.items():
            out.append(f"  input {k} : {dtype_str(v)}{shape_str(v.shape)}")
        for k, v in self.params.items():
            out.append(f"  param {k} : {dtype_str(v)}{shape_str(v.shape)}")
        for c in self.consts:
            out.append("  " + c)
        for line in self.lines:
            out.append("  " + line)
        out.append("}")
        return "\n".join(out) + "\n"

    def evaluate(self, dtype):
        t = {k: to_torch(v, dtype) for k, v in {**self.inputs, **self.params}.items()}
        res = {}
        with torch.no_grad():
            for name, ref, _ in self.outputs:
                r = ref(t)
                if not torch.is_tensor(r):  # a NumPy array or scalar
                    r = torch.from_numpy(np.asarray(r))
                res[name] = r.detach().to(torch.float64).numpy()
        return res

    def write(self, root, check_only=False):
        want = self.evaluate(torch.float64)
        got32 = self.evaluate(torch.float32)
        worst = 0.0
        for name in want:
            worst = max(worst, tol_ratio(got32[name], want[name], self.rtol, self.atol))
        if worst > 1.0:
            raise SystemExit(f"{self.name}: float32 PyTorch misses its own tolerance "
                             f"(ratio {worst:.3g}); loosen it with a reason")
        if check_only:
            return worst
        d = os.path.join(root, self.name)
        os.makedirs(os.path.join(d, "expected"))
        with open(os.path.join(d, "model.mlg"), "w") as f:
            f.write(self.source())
        if self.params:
            save_file({k: np.ascontiguousarray(v) for k, v in self.params.items()},
                      os.path.join(d, "weights.safetensors"))
        for k, v in self.inputs.items():
            np.save(os.path.join(d, k + ".npy"), np.array(v, order="C"))  # keeps a 0-d input 0-d
        for k, _, dt in self.outputs:
            # astype, not ascontiguousarray: that would turn a 0-d result into shape (1,); a
            # float16 beyond its range is meant to be infinity
            with np.errstate(over="ignore"):
                np.save(os.path.join(d, "expected", k + ".npy"),
                        want[k].astype(NP_DTYPES[dt], order="C"))
        write_tolerance(os.path.join(d, "tolerance"), self.rtol, self.atol, self.why)
        return worst


def fx(name, **kw):
    f = Fx(name, **kw)
    Fx.registry.append(f)
    return f


# ---------------------------------------------------------------------------------------------
# Reference helpers (work on float64 and float32 torch tensors alike)

def onnx_slice(x, starts, ends, axes=None, steps=None):
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = a % x.dim()
        dim = x.shape[a]
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        idx = torch.tensor(list(range(s, e, st)), dtype=torch.int64)
        x = torch.index_select(x, a, idx)
    return x


def conv_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if isinstance(padding, (list, tuple)) and len(padding) == 4:
        t, l, bo, r = padding
        x = F.pad(x, (l, r, t, bo))
        padding = 0
    return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


def bn_ref(x, w, b, m, v, eps):
    shp = [1, -1] + [1] * (x.dim() - 2)
    return (x - m.reshape(shp)) / torch.sqrt(v.reshape(shp) + eps) * w.reshape(shp) + b.reshape(shp)


def reduce_ref(op, x, axes, keepdims):
    axes = list(range(x.dim())) if axes is None else [a % x.dim() for a in axes]
    if op == "sum":
        return torch.sum(x, dim=axes, keepdim=keepdims)
    if op == "mean":
        return torch.mean(x, dim=axes, keepdim=keepdims)
    if op == "prod":
        r = x
        for a in sorted(axes, reverse=True):
            r = torch.prod(r, dim=a, keepdim=keepdims)
        return r
    r = x
    for a in sorted(axes, reverse=True):
        r = (torch.amax if op == "max" else torch.amin)(r, dim=a, keepdim=keepdims)
    return r


def pad_ref(x, pads, mode, value=0.0):
    """ONNX Pad through numpy.pad (its reflect and edge are ONNX's): negative pads crop."""
    a = x.numpy()
    r = a.ndim
    begins, ends = pads[:r], pads[r:]
    crop = tuple(slice(max(-b, 0), a.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begins, ends)))
    a = a[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
    if mode == "constant":
        out = np.pad(a, width, mode="constant", constant_values=value)
    else:
        out = np.pad(a, width, mode=mode)
    return torch.from_numpy(np.ascontiguousarray(out))


def attr_list(v):
    return "[" + ", ".join(str(i) for i in v) + "]"


def mlg_bool(b):
    return "true" if b else "false"


# ---------------------------------------------------------------------------------------------
# The fixtures

def elementwise():
    binary = {
        "add": (lambda a, b: a + b, "+"), "sub": (lambda a, b: a - b, "-"),
        "mul": (lambda a, b: a * b, "*"), "div": (lambda a, b: a / b, "/"),
        "pow": (torch.pow, None), "maximum": (torch.maximum, None),
        "minimum": (torch.minimum, None),
    }
    for op, (fn, sym) in binary.items():
        # the operator forms of sub/mul/div below cover the same-shape case
        variants = [("bcast", [3, 1, 5], [4, 5])]
        if op not in ("sub", "mul", "div"):
            variants.insert(0, ("same", [3, 7], [3, 7]))
        if op in ("add", "div"):
            variants.append(("bcast_row", [1], [2, 3]))
        for var, sa, sb in variants:
            f = fx(f"{op}_{var}")
            if op == "pow":
                f.inp("a", sa, 0.5, 2.0).inp("b", sb, -2.0, 2.0)
            elif op == "div":
                f.inp("a", sa).inp("b", data=(f.u(sb, 0.5, 2.0) * np.where(
                    f.rng.random(sb) < 0.5, -1, 1)).astype(np.float32))
            else:
                f.inp("a", sa).inp("b", sb)
            f.out("y", f"{op}(a, b)", lambda t, fn=fn: fn(t["a"], t["b"]))
        if sym:
            f = fx(f"{op}_operator").inp("a", [2, 1, 3])
            f.inp("b", data=fx_nonzero(f, [4, 3]))
            f.out("y", f"a {sym} b", lambda t, fn=fn: fn(t["a"], t["b"]))

    # 0-d constants from literals, on either side
    f = fx("mul_scalar").inp("x", [3, 5])
    f.out("y", "x * 0.5", lambda t: t["x"] * 0.5)
    f = fx("sub_scalar_left").inp("x", [7])
    f.out("y", "2 - x", lambda t: 2.0 - t["x"])
    f = fx("add_scalar_chain").inp("x", [2, 3, 4])
    f.out("y", "(x + 1) * 2 - x / 4", lambda t: (t["x"] + 1) * 2 - t["x"] / 4)
    f = fx("pow_scalar_int").inp("x", [3, 5], -2.0, 2.0)
    f.out("y", "pow(x, 3)", lambda t: torch.pow(t["x"], 3.0))
    f = fx("maximum_scalar").inp("x", [17])
    f.out("y", "maximum(x, 0.25)", lambda t: torch.clamp(t["x"], min=0.25))
    f = fx("const_tensor").inp("x", [2, 3])
    f.const("const c : f32[2, 3] = [[1, 2, 3], [4, 5, 6]]")
    f.out("y", "x * c + c", lambda t: t["x"] * torch.tensor(
        [[1., 2, 3], [4, 5, 6]], dtype=t["x"].dtype) + torch.tensor(
        [[1., 2, 3], [4, 5, 6]], dtype=t["x"].dtype))

    unary = {
        "neg": (torch.neg, -3, 3), "abs": (torch.abs, -3, 3), "exp": (torch.exp, -5, 5),
        "log": (torch.log, 0.05, 10), "sqrt": (torch.sqrt, 0.0, 10),
        "rsqrt": (torch.rsqrt, 0.05, 10), "relu": (torch.relu, -3, 3),
        "sigmoid": (torch.sigmoid, -8, 8), "tanh": (torch.tanh, -4, 4),
        "gelu": (lambda x: F.gelu(x), -5, 5), "silu": (F.silu, -6, 6),
        "erf": (torch.erf, -3, 3),
    }
    for op, (fn, lo, hi) in unary.items():
        f = fx(f"{op}_basic").inp("x", [3, 17], lo, hi)
        f.out("y", f"{op}(x)", lambda t, fn=fn: fn(t["x"]))
    f = fx("neg_operator").inp("x", [1])
    f.out("y", "-x", lambda t: -t["x"])

    f = fx("clamp_basic").inp("x", [4, 9], -2, 2)
    f.out("y", "clamp(x, -0.5, 0.5)", lambda t: torch.clamp(t["x"], -0.5, 0.5))
    f = fx("clamp_relu6").inp("x", [2, 3, 5], -3, 9)
    f.out("y", "clamp(x, 0, 6)", lambda t: torch.clamp(t["x"], 0.0, 6.0))
    f = fx("leaky_relu_alpha").inp("x", [5, 7], -3, 3)
    f.out("y", "leaky_relu(x, alpha=0.2)", lambda t: F.leaky_relu(t["x"], 0.2))
    f = fx("leaky_relu_default").inp("x", [33], -3, 3)
    f.out("y", "leaky_relu(x)", lambda t: F.leaky_relu(t["x"], 0.01))
    math_ops()


def math_ops():
    """Issue 11, part 3: trigonometry, rounding, sign, reciprocal, fmod, gelu's tanh form."""
    for op, fn, lo, hi in (("sin", torch.sin, -10, 10), ("cos", torch.cos, -10, 10),
                           ("tan", torch.tan, -1.4, 1.4), ("floor", torch.floor, -5, 5),
                           ("ceil", torch.ceil, -5, 5)):
        f = fx(f"{op}_basic").inp("x", [3, 17], lo, hi)
        f.out("y", f"{op}(x)", lambda t, fn=fn: fn(t["x"]))
    # Whole and half values (halves go to the even neighbour), then random ones.
    f = fx("round_half_even")
    halves = np.arange(-12, 13, dtype=np.float32) / 2
    f.inp("x", data=np.concatenate([halves, f.u([26], -20, 20)]).reshape(3, 17))
    f.out("y", "round(x)", lambda t: torch.round(t["x"]))
    f = fx("sign_basic")
    f.inp("x", data=np.concatenate([np.zeros(4, np.float32), f.u([20], -3, 3)]).reshape(4, 6))
    f.out("y", "sign(x)", lambda t: torch.sign(t["x"]))
    f = fx("reciprocal_basic").inp("x", data=fx_nonzero(f, [5, 7]))
    f.out("y", "reciprocal(x)", lambda t: torch.reciprocal(t["x"]))
    # fmod: the sign of a; |a / b| up to 20, exact multiples among them.
    f = fx("fmod_bcast").inp("a", [3, 1, 5], -10, 10).inp("b", data=fx_nonzero(f, [4, 5]))
    f.out("y", "fmod(a, b)", lambda t: torch.fmod(t["a"], t["b"]))
    f = fx("fmod_multiples")
    b = fx_nonzero(f, [12])
    k = f.rng.integers(-6, 7, size=[12]).astype(np.float32)
    f.inp("a", data=(b * k).astype(np.float32)).inp("b", data=b)
    f.out("y", "fmod(a, b)", lambda t: torch.fmod(t["a"], t["b"]))
    # C's special cases: NaN for an infinite a, a zero or NaN b; a itself for an infinite b;
    # zeros keep a's sign; quotients of 2^200 and more (a long division on Vulkan). NumPy's
    # fmod (C's) is the reference: float32 torch.fmod gives NaN once a / b overflows.
    f = fx("fmod_special")
    inf, nan = np.inf, np.nan
    f.inp("a", data=np.array([inf, -inf, nan, 5.0, -5.0, 0.0, -0.0, 7.5, -7.5, 3e38, -3e38,
                              1e-3, 6.0, -6.0, 2.5, 1.0], dtype=np.float32))
    f.inp("b", data=np.array([2.0, 3.0, 1.0, 0.0, nan, 2.0, 2.0, inf, -inf, 1e-30, 7e-31,
                              3.0, 2.0, 2.0, -0.75, 1.0], dtype=np.float32))
    with np.errstate(invalid="ignore"):
        want = np.fmod(f.inputs["a"], f.inputs["b"])
    f.out("y", "fmod(a, b)", lambda t: want)
    f = fx("gelu_tanh").inp("x", [3, 17], -5, 5)
    f.out("y", "gelu(x, approximate=tanh)", lambda t: F.gelu(t["x"], approximate="tanh"))
    # Fused into one elementwise kernel at -O2, one kernel per op at -O0.
    f = fx("comp_trig_round").inp("x", [4, 9], -4, 4)
    f.out("y", "sin(x) * cos(2 * x) + round(x) - sign(x) * reciprocal(1 + x * x)",
          lambda t: torch.sin(t["x"]) * torch.cos(2 * t["x"]) + torch.round(t["x"])
          - torch.sign(t["x"]) * torch.reciprocal(1 + t["x"] * t["x"]))


def fx_nonzero(f, shape):
    return (f.u(shape, 0.5, 2.0) * np.where(f.rng.random(shape) < 0.5, -1, 1)).astype(np.float32)


def linalg():
    mm = [
        ("2d", [4, 6], [6, 5]),
        ("batched", [2, 3, 4], [2, 4, 5]),
        ("bcast_batch", [2, 1, 3, 4], [3, 4, 5]),
        ("bcast_2d_rhs", [3, 5, 4], [4, 2]),
        ("vec_lhs", [6], [6, 5]),
        ("vec_rhs", [4, 6], [6]),
        ("vec_rhs_batched", [2, 3, 4], [4]),
        ("vec_vec", [7], [7]),
        ("1x1x1", [1, 1], [1, 1]),
        ("17x33x9", [17, 33], [33, 9]),
        ("65x3x130", [65, 3], [3, 130]),
    ]
    for var, sa, sb in mm:
        f = fx(f"matmul_{var}").inp("a", sa).inp("b", sb)
        f.out("y", "matmul(a, b)", lambda t: torch.matmul(t["a"], t["b"]))
    f = fx("matmul_at_operator").inp("a", [3, 8]).par("w", [8, 5])
    f.out("y", "a @ w", lambda t: t["a"] @ t["w"])
    f = fx("matmul_at_precedence").inp("a", [3, 4]).inp("b", [4, 2]).inp("c", [3, 2])
    f.out("y", "c + a @ b * 2", lambda t: t["c"] + (t["a"] @ t["b"]) * 2)

    f = fx("linear_bias").inp("x", [3, 7]).par("fc.weight", [5, 7]).par("fc.bias", [5])
    f.out("y", "linear(x, fc.weight, fc.bias)",
          lambda t: F.linear(t["x"], t["fc.weight"], t["fc.bias"]))
    f = fx("linear_nobias").inp("x", [4, 9]).par("fc.weight", [3, 9])
    f.out("y", "linear(x, fc.weight)", lambda t: F.linear(t["x"], t["fc.weight"]))
    f = fx("linear_3d_nobias").inp("x", [2, 5, 33]).par("fc.weight", [17, 33])
    f.out("y", "linear(x, fc.weight)", lambda t: F.linear(t["x"], t["fc.weight"]))
    f = fx("linear_1x1").inp("x", [1, 1]).par("w", [1, 1]).par("b", [1])
    f.out("y", "linear(x, w, b)", lambda t: F.linear(t["x"], t["w"], t["b"]))
    # The CPU "nt" kernel's work-groups (codegen/templates/matmul_cpu.c): 150 rows are 38 row
    # blocks of 4 (the last short) in groups of 32 (the last short), 41 columns 11 blocks of 4
    # in groups of 2; K = 40 is two float16 steps and 8 scalars; gelu as fused epilogue. One
    # row: groups along N only, narrowed until there are 8.
    f = fx("linear_tall_ragged").inp("x", [150, 40]).par("fc.weight", [41, 40]).par("fc.bias", [41])
    f.out("y", "gelu(linear(x, fc.weight, fc.bias))",
          lambda t: F.gelu(F.linear(t["x"], t["fc.weight"], t["fc.bias"])))
    f = fx("linear_one_row").inp("x", [1, 300]).par("fc.weight", [67, 300]).par("fc.bias", [67])
    f.out("y", "linear(x, fc.weight, fc.bias)",
          lambda t: F.linear(t["x"], t["fc.weight"], t["fc.bias"]))
    # linear_softmax (one kernel; codegen/templates/matmul_cpu.c row_softmax): written out, and
    # recognized at -O2 from softmax(linear(...)). 7 rows are 3 blocks of 2 and a clamped one;
    # K = 37 is two float16 steps and 5 scalars; 16 outputs (the most) run one row per item, 10
    # two; the exps go in vectors of 4, the last one padded; a 3-D x, no bias, log after it (the
    # epilogue sees the softmax's values).
    f = fx("linear_softmax_ragged").inp("x", [7, 37]).par("w", [10, 37]).par("b", [10])
    f.out("y", "linear_softmax(x, w, b)",
          lambda t: torch.softmax(F.linear(t["x"], t["w"], t["b"]), -1))
    f = fx("linear_softmax_recognized").inp("x", [2, 3, 20], -3, 3).par("w", [16, 20])
    f.out("y", "log(softmax(linear(x, w), axis=-1))",
          lambda t: torch.log(torch.softmax(F.linear(t["x"], t["w"]), -1)))

    # f16 GEMMs (issue 17): halves in and out, accumulated in f32. On NVIDIA GPUs they run on
    # tensor cores (codegen/templates/matmul_mma.c), elsewhere on the tiled kernel; the shapes
    # cut both of its tile sizes (64 and 128) raggedly, and cover its staging layouts: K
    # contiguous (whole words), B contiguous along N, A along M (a folded transpose), odd K
    # (half by half), batches and a bias.
    def half(f, shape):
        return f.u(shape).astype(np.float16)

    def f16(name):
        return fx(name, rtol=1e-3, atol=1e-3, why=F16_WHY)

    f = f16("matmul_f16_ragged")
    f.inp("a", data=half(f, [100, 70])).inp("b", data=half(f, [70, 50]))
    f.out("y", "a @ b", lambda t: t["a"] @ t["b"], "f16")
    f = f16("matmul_f16_big")
    f.inp("a", data=half(f, [516, 72])).inp("b", data=half(f, [72, 520]))
    f.out("y", "a @ b", lambda t: t["a"] @ t["b"], "f16")
    f = f16("matmul_f16_batched_odd_k")
    f.inp("a", data=half(f, [2, 64, 33])).inp("b", data=half(f, [2, 33, 40]))
    f.out("y", "a @ b", lambda t: t["a"] @ t["b"], "f16")
    f = f16("matmul_f16_transposed_a")
    f.inp("a", data=half(f, [40, 64])).inp("b", data=half(f, [40, 56]))
    f.out("y", "transpose(a, perm=[1, 0]) @ b", lambda t: t["a"].T @ t["b"], "f16")
    f = f16("linear_f16_bias")
    f.inp("x", data=half(f, [3, 37, 48]))
    f.par("fc.weight", data=half(f, [72, 48])).par("fc.bias", data=half(f, [72]))
    f.out("y", "linear(x, fc.weight, fc.bias)",
          lambda t: F.linear(t["x"], t["fc.weight"], t["fc.bias"]), "f16")


def conv_fixture(name, xs, layer, ws, n_bias, attrs):
    """A convolution's fixture with input x, param <layer>.weight and, when n_bias, an
    [n_bias] <layer>.bias; returns it and the call's arguments (attrs appended)."""
    f = fx(name).inp("x", xs).par(f"{layer}.weight", ws, -0.5, 0.5)
    args = f"x, {layer}.weight"
    if n_bias:
        f.par(f"{layer}.bias", [n_bias])
        args += f", {layer}.bias"
    if attrs:
        args += ", " + attrs
    return f, args


def conv():
    # name, x shape, w shape, bias?, attrs (mlg text), reference kwargs
    cases = [
        ("3x3_bias", [1, 3, 7, 7], [4, 3, 3, 3], True, "", {}),
        ("stride2_pad1", [1, 3, 9, 9], [4, 3, 3, 3], True, "stride=2, padding=1",
         dict(stride=2, padding=1)),
        ("stride_asym", [1, 2, 9, 10], [3, 2, 3, 5], True, "stride=[2, 1], padding=[0, 2]",
         dict(stride=(2, 1), padding=(0, 2))),
        ("pad_hw", [1, 3, 5, 6], [2, 3, 3, 3], True, "padding=[1, 2]", dict(padding=(1, 2))),
        ("pad_tlbr", [1, 2, 6, 7], [3, 2, 3, 3], True, "padding=[0, 1, 2, 1]",
         dict(padding=[0, 1, 2, 1])),
        ("pad_tlbr_stride2", [2, 3, 7, 7], [4, 3, 3, 3], False,
         "stride=2, padding=[1, 0, 1, 2]", dict(stride=2, padding=[1, 0, 1, 2])),
        ("dilation2", [1, 2, 9, 9], [3, 2, 3, 3], True, "dilation=2, padding=2",
         dict(dilation=2, padding=2)),
        ("groups2", [2, 4, 9, 9], [6, 2, 3, 3], True, "groups=2, padding=1",
         dict(groups=2, padding=1)),
        ("depthwise", [1, 4, 8, 8], [4, 1, 3, 3], True, "groups=4, padding=1",
         dict(groups=4, padding=1)),
        ("depthwise_stride2", [1, 6, 7, 9], [6, 1, 3, 3], False, "stride=2, groups=6",
         dict(stride=2, groups=6)),
        ("1x1", [2, 3, 5, 7], [5, 3, 1, 1], True, "", {}),
        ("input1x1_pad1", [1, 2, 1, 1], [3, 2, 3, 3], True, "padding=1", dict(padding=1)),
        ("5x5_odd", [3, 1, 17, 13], [2, 1, 5, 5], True, "padding=2", dict(padding=2)),
        ("channels17", [1, 17, 5, 5], [9, 17, 3, 3], True, "stride=1, padding=1",
         dict(padding=1)),
    ]
    for var, xs, ws, bias, attrs, kw in cases:
        f, args = conv_fixture(f"conv2d_{var}", xs, "conv", ws, ws[0] if bias else 0, attrs)
        f.out("y", f"conv2d({args})", lambda t, kw=kw, bias=bias: conv_ref(
            t["x"], t["conv.weight"], t["conv.bias"] if bias else None, **kw))


def pooling():
    cases = [
        ("max", "k2s2", [1, 3, 8, 8], "kernel=2, stride=2", dict(kernel_size=2, stride=2)),
        ("max", "k3s2p1", [1, 3, 7, 9], "kernel=3, stride=2, padding=1",
         dict(kernel_size=3, stride=2, padding=1)),
        ("max", "k2s2_odd", [1, 2, 7, 5], "kernel=2, stride=2", dict(kernel_size=2, stride=2)),
        ("max", "rect", [1, 2, 6, 9], "kernel=[2, 3], stride=[1, 2]",
         dict(kernel_size=(2, 3), stride=(1, 2))),
        ("avg", "k2s2", [1, 3, 8, 8], "kernel=2, stride=2", dict(kernel_size=2, stride=2)),
        ("avg", "k3s1", [2, 2, 5, 7], "kernel=3, stride=1", dict(kernel_size=3, stride=1)),
        ("avg", "k3s2p1", [1, 3, 7, 9], "kernel=3, stride=2, padding=1",
         dict(kernel_size=3, stride=2, padding=1)),
        ("avg", "rect_pad", [1, 2, 6, 5], "kernel=[3, 2], stride=[1, 2], padding=[1, 1]",
         dict(kernel_size=(3, 2), stride=(1, 2), padding=1)),
    ]
    for kind, var, xs, attrs, kw in cases:
        if kind == "max":
            ref = (lambda t, kw=kw: F.max_pool2d(t["x"], **kw))
        else:
            ref = (lambda t, kw=kw: F.avg_pool2d(t["x"], count_include_pad=True, **kw))
        f = fx(f"{kind}_pool2d_{var}").inp("x", xs)
        f.out("y", f"{kind}_pool2d(x, {attrs})", ref)
    # [top, left, bottom, right]: the reference pads explicitly (-inf for max, zeros for avg,
    # which count_include_pad=True divides by the full window) and pools without padding.
    f = fx("max_pool2d_pad_tlbr").inp("x", [1, 2, 6, 7])
    f.out("y", "max_pool2d(x, kernel=3, stride=2, padding=[1, 0, 0, 1])",
          lambda t: F.max_pool2d(F.pad(t["x"], (0, 1, 1, 0), value=-float("inf")), 3, 2))
    f = fx("avg_pool2d_pad_tlbr").inp("x", [2, 1, 7, 6])
    f.out("y", "avg_pool2d(x, kernel=3, stride=2, padding=[0, 1, 1, 0])",
          lambda t: F.avg_pool2d(F.pad(t["x"], (1, 0, 0, 1)), 3, 2))
    # ceil_mode, dilation, count_include_pad (issue 11): PyTorch's windows and divisors.
    cases = [
        ("max", "ceil", [1, 2, 7, 8], "kernel=3, stride=2, ceil_mode=1",
         dict(kernel_size=3, stride=2, ceil_mode=True)),
        ("max", "ceil_pad", [1, 2, 6, 9], "kernel=[2, 3], stride=[2, 2], padding=1, ceil_mode=1",
         dict(kernel_size=(2, 3), stride=2, padding=1, ceil_mode=True)),
        ("max", "dilation2", [1, 2, 9, 8], "kernel=3, stride=1, padding=1, dilation=2",
         dict(kernel_size=3, stride=1, padding=1, dilation=2)),
        ("max", "dilation_ceil", [2, 1, 10, 7], "kernel=2, stride=3, dilation=[2, 3], ceil_mode=1",
         dict(kernel_size=2, stride=3, dilation=(2, 3), ceil_mode=True)),
        ("avg", "exclude_pad", [1, 2, 6, 7], "kernel=3, stride=2, padding=1, count_include_pad=0",
         dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
        ("avg", "ceil", [1, 2, 7, 8], "kernel=3, stride=2, ceil_mode=1",
         dict(kernel_size=3, stride=2, ceil_mode=True)),
        ("avg", "ceil_pad", [1, 3, 8, 6], "kernel=[3, 2], stride=2, padding=1, ceil_mode=1",
         dict(kernel_size=(3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=True)),
        ("avg", "ceil_pad_exclude", [2, 1, 8, 6],
         "kernel=[3, 2], stride=2, padding=1, ceil_mode=1, count_include_pad=0",
         dict(kernel_size=(3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ]
    for kind, var, xs, attrs, kw in cases:
        fn = F.max_pool2d if kind == "max" else F.avg_pool2d
        f = fx(f"{kind}_pool2d_{var}").inp("x", xs)
        f.out("y", f"{kind}_pool2d(x, {attrs})", lambda t, fn=fn, kw=kw: fn(t["x"], **kw))
    # Padding up to kernel - 1 (ONNX allows it, PyTorch stops at half the kernel): the
    # reference pads with -inf explicitly.
    f = fx("max_pool2d_pad_k_minus_1").inp("x", [1, 2, 5, 6])
    f.out("y", "max_pool2d(x, kernel=3, stride=1, padding=[2, 1, 2, 2])",
          lambda t: F.max_pool2d(F.pad(t["x"], (1, 2, 2, 2), value=-float("inf")), 3, 1))
    for var, xs in (("basic", [2, 3, 5, 7]), ("1x1", [1, 4, 1, 1]), ("big", [1, 2, 17, 33])):
        f = fx(f"global_avg_pool2d_{var}").inp("x", xs)
        f.out("y", "global_avg_pool2d(x)", lambda t: torch.mean(t["x"], dim=(2, 3), keepdim=True))


def conv_more():
    """conv1d (torch conv1d) and conv_transpose2d (torch conv_transpose2d)."""
    c1 = [
        ("basic", [2, 3, 11], [4, 3, 3], True, "", {}),
        ("stride2_pad1", [1, 4, 12], [5, 4, 3], True, "stride=2, padding=1",
         dict(stride=2, padding=1)),
        ("dilation_groups", [2, 4, 13], [6, 2, 3], False, "dilation=2, groups=2, padding=2",
         dict(dilation=2, groups=2, padding=2)),
        ("pad_asym", [1, 2, 9], [3, 2, 4], True, "padding=[2, 1]", None),
    ]
    for var, xs, ws, bias, attrs, kw in c1:
        f, args = conv_fixture(f"conv1d_{var}", xs, "conv", ws, ws[0] if bias else 0, attrs)

        def ref(t, kw=kw, bias=bias):
            x, b = t["x"], t["conv.bias"] if bias else None
            if kw is None:  # [begin, end] padding: pad first (torch takes one value)
                return F.conv1d(F.pad(x, (2, 1)), t["conv.weight"], b)
            return F.conv1d(x, t["conv.weight"], b, **kw)
        f.out("y", f"conv1d({args})", ref)

    ct = [
        ("basic", [1, 3, 4, 5], [3, 2, 3, 3], True, "", {}),
        ("stride2", [2, 4, 3, 4], [4, 3, 2, 2], True, "stride=2", dict(stride=2)),
        ("stride2_pad1_outpad1", [1, 3, 5, 4], [3, 4, 3, 3], True,
         "stride=2, padding=1, output_padding=1", dict(stride=2, padding=1, output_padding=1)),
        ("asym", [1, 2, 4, 6], [2, 3, 3, 2], False,
         "stride=[2, 3], padding=[1, 0], output_padding=[1, 2]",
         dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
        ("dilation_groups", [2, 4, 5, 5], [4, 3, 3, 3], True, "dilation=2, groups=2, padding=1",
         dict(dilation=2, groups=2, padding=1)),
        ("depthwise", [1, 3, 4, 4], [3, 1, 3, 3], True, "stride=2, groups=3",
         dict(stride=2, groups=3)),
    ]
    for var, xs, ws, bias, attrs, kw in ct:
        groups = kw.get("groups", 1)
        f, args = conv_fixture(f"conv_transpose2d_{var}", xs, "up", ws,
                               ws[1] * groups if bias else 0, attrs)
        f.out("y", f"conv_transpose2d({args})", lambda t, kw=kw, bias=bias: F.conv_transpose2d(
            t["x"], t["up.weight"], t["up.bias"] if bias else None, **kw))
    f = fx("conv_transpose2d_fused_relu").inp("x", [1, 2, 3, 3]).par("up.weight", [2, 3, 2, 2])
    f.par("up.bias", [3])
    f.out("y", "relu(conv_transpose2d(x, up.weight, up.bias, stride=2))",
          lambda t: F.relu(F.conv_transpose2d(t["x"], t["up.weight"], t["up.bias"], stride=2)))


def resizing():
    """resize as torch.nn.functional.interpolate. PyTorch picks source pixels in float (the
    scale 1/s or in/out rounded to float, then floor), so the reference is float32 PyTorch's
    own result: in float64 the floor can land on the other pixel."""
    def interp(t, **kw):
        return F.interpolate(t["x"].to(torch.float32), **kw).to(t["x"].dtype)

    cases = [
        ("nearest_x2", [1, 2, 3, 4], "scale=[2, 2]", dict(scale_factor=2.0, mode="nearest")),
        ("nearest_frac", [2, 3, 5, 7], "scale=[1.5, 0.6]",
         dict(scale_factor=(1.5, 0.6), mode="nearest")),
        ("nearest_size", [1, 2, 5, 4], "size=[7, 9]", dict(size=(7, 9), mode="nearest")),
        ("nearest_down", [1, 1, 9, 8], "size=[4, 3]", dict(size=(4, 3), mode="nearest")),
        ("linear_x2", [1, 2, 4, 5], "scale=[2, 2], mode=linear",
         dict(scale_factor=2.0, mode="bilinear", align_corners=False)),
        ("linear_frac", [2, 2, 5, 6], "scale=[1.7, 0.8], mode=linear",
         dict(scale_factor=(1.7, 0.8), mode="bilinear", align_corners=False)),
        ("linear_size_align", [1, 3, 4, 6], "size=[7, 5], mode=linear, align_corners=1",
         dict(size=(7, 5), mode="bilinear", align_corners=True)),
        ("linear_size", [1, 2, 6, 3], "size=[4, 8], mode=linear",
         dict(size=(4, 8), mode="bilinear", align_corners=False)),
        ("linear_to_1", [1, 1, 5, 4], "size=[1, 3], mode=linear, align_corners=1",
         dict(size=(1, 3), mode="bilinear", align_corners=True)),
    ]
    for var, xs, attrs, kw in cases:
        f = fx(f"resize_{var}").inp("x", xs)
        f.out("y", f"resize(x, {attrs})", lambda t, kw=kw: interp(t, **kw))


def normalization():
    for var, xs, eps in (("4d", [2, 3, 5, 4], 1e-5), ("2d_eps1e-3", [4, 3], 1e-3)):
        c = xs[1]
        f = fx(f"batch_norm_{var.replace('-', '')}").inp("x", xs)
        f.par("bn.weight", [c], 0.5, 1.5).par("bn.bias", [c]).par("bn.running_mean", [c])
        f.par("bn.running_var", [c], 0.2, 2.0)
        f.out("y", f"batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, "
              f"eps={eps:g})",
              lambda t, eps=eps: bn_ref(t["x"], t["bn.weight"], t["bn.bias"],
                                        t["bn.running_mean"], t["bn.running_var"], eps))

    def ln_ref(t, axis, w, b, eps):
        x = t["x"]
        shape = list(x.shape[axis % x.dim():])
        return F.layer_norm(x, shape, t.get(w), t.get(b), eps)

    ln = [
        ("last", [2, 3, 17], -1, True, True, "eps=1e-5, axis=-1"),
        ("noaffine", [3, 9], -1, False, False, "eps=1e-5"),
        ("weight_only", [2, 33], -1, True, False, "eps=1e-5"),
        ("axis_m2", [2, 3, 5], -2, True, True, "eps=1e-5, axis=-2"),
        ("wide", [2, 1025], -1, True, True, "eps=1e-5"),
        ("eps_default", [3, 8], -1, True, True, None),
    ]
    for var, xs, axis, has_w, has_b, attrs in ln:
        f = fx(f"layer_norm_{var}").inp("x", xs, -2, 3)
        norm = xs[axis % len(xs):]
        args = "x"
        if has_w:
            f.par("ln.weight", norm, 0.5, 1.5)
            args += ", ln.weight"
        if has_b:
            f.par("ln.bias", norm)
            args += ", ln.bias"
        if attrs:
            args += ", " + attrs
        f.out("y", f"layer_norm({args})", lambda t, axis=axis, hw=has_w, hb=has_b: ln_ref(
            t, axis, "ln.weight" if hw else None, "ln.bias" if hb else None, 1e-5))

    def rms_ref(t, axis, w, eps):
        x = t["x"]
        return F.rms_norm(x, list(x.shape[axis % x.dim():]), t.get(w), eps)

    for var, xs, axis, has_w, attrs, eps in (
            ("last", [2, 3, 16], -1, True, "", 1e-6), ("noweight", [4, 9], -1, False, "", 1e-6),
            ("axis_m2_eps", [2, 3, 5], -2, True, ", eps=1e-3, axis=-2", 1e-3),
            ("wide", [2, 1100], -1, True, "", 1e-6)):
        f = fx(f"rms_norm_{var}").inp("x", xs, -2, 3)
        args = "x"
        if has_w:
            f.par("norm.weight", xs[axis % len(xs):], 0.5, 1.5)
            args += ", norm.weight"
        f.out("y", f"rms_norm({args}{attrs})", lambda t, axis=axis, hw=has_w, eps=eps: rms_ref(
            t, axis, "norm.weight" if hw else None, eps))

    for var, xs, g, aff, attrs, eps in (
            ("4d", [2, 6, 4, 5], 3, 2, "groups=3", 1e-5),
            ("weight_only", [1, 4, 7], 2, 1, "groups=2", 1e-5),
            ("plain_eps", [2, 8, 3, 3], 4, 0, "groups=4, eps=1e-3", 1e-3),
            ("one_group", [2, 3, 5, 5], 1, 2, "groups=1", 1e-5),
            ("per_channel", [3, 5, 2, 3], 5, 2, "groups=5", 1e-5),
            ("big_group", [1, 4, 24, 24], 2, 2, "groups=2", 1e-5)):
        f = fx(f"group_norm_{var}").inp("x", xs, -2, 3)
        args = "x"
        if aff >= 1:
            f.par("gn.weight", [xs[1]], 0.5, 1.5)
            args += ", gn.weight"
        if aff >= 2:
            f.par("gn.bias", [xs[1]])
            args += ", gn.bias"
        f.out("y", f"group_norm({args}, {attrs})", lambda t, g=g, eps=eps: F.group_norm(
            t["x"], g, t.get("gn.weight"), t.get("gn.bias"), eps))

    sm = [
        ("last", [3, 4, 5], -1, 3.0), ("axis0", [3, 4, 5], 0, 3.0), ("neg2", [3, 4, 5], -2, 3.0),
        ("axis1_4d", [2, 3, 4, 2], 1, 3.0), ("row1", [4, 1], -1, 3.0),
        ("wide", [2, 1537], -1, 5.0), ("large_vals", [2, 9], 1, 60.0),
    ]
    for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        for var, xs, axis, scale in sm:
            if op == "log_softmax" and var in ("axis0", "axis1_4d", "row1"):
                continue
            f = fx(f"{op}_{var}").inp("x", xs, -scale, scale)
            f.out("y", f"{op}(x, axis={axis})",
                  lambda t, fn=fn, axis=axis: fn(t["x"], dim=axis))
            if op == "log_softmax" and var == "large_vals":
                f.tol(1e-4, 1e-4, "log_softmax = x - max - log(sum): with |x| up to 60 the float32\n"
                      "subtraction loses absolute precision ~ 60 * 2^-24 per term")


def cumsum_ref(x, axis, exclusive=False, reverse=False):
    if reverse:
        x = torch.flip(x, [axis])
    y = torch.cumsum(x, dim=axis)
    if exclusive:
        y = y - x
    return torch.flip(y, [axis]) if reverse else y


def scans():
    cases = [
        ("last", [3, 7], -1, 0, 0), ("axis0", [6, 4, 3], 0, 0, 0), ("middle", [2, 9, 5], 1, 0, 0),
        ("exclusive", [4, 11], 1, 1, 0), ("reverse", [3, 8, 2], -2, 0, 1),
        ("exclusive_reverse", [5, 6], 0, 1, 1),
        # long lines, few of them: a work-group per line
        ("long", [2, 1500], 1, 0, 0), ("long_exclusive_reverse", [1, 3, 777, 1], 2, 1, 1),
    ]
    for var, xs, axis, excl, rev in cases:
        f = fx(f"cumsum_{var}").inp("x", xs)
        attrs = f"axis={axis}" + (", exclusive=1" if excl else "") + (", reverse=1" if rev else "")
        f.out("y", f"cumsum(x, {attrs})",
              lambda t, a=axis, e=excl, r=rev: cumsum_ref(t["x"], a, bool(e), bool(r)))
        if var.startswith("long"):
            f.tol(1e-4, 1e-4, "float32 running sums of up to 1500 terms in [-1, 1]: magnitude ~40,\n"
                  "rounding error ~ sqrt(n) * 40 * 2^-24; near-zero sums need an absolute bound")
    # Elementwise ops before it run in its loads, after it in its stores.
    f = fx("cumsum_fused").inp("x", [4, 10]).inp("z", [4, 10])
    f.out("y", "cumsum(x * 2 + 1, axis=1) * z", lambda t: torch.cumsum(t["x"] * 2 + 1, dim=1) * t["z"])


def reductions():
    cases = [
        ("axis1", [3, 7, 4], [1], False),
        ("axes02", [3, 5, 4], [0, 2], False),
        ("all", [3, 4, 5], None, False),
        ("keepdims", [3, 5, 4], [-1], True),
        ("all_keepdims", [2, 3, 4], None, True),
    ]
    for op in ("sum", "mean", "max", "min"):
        for var, xs, axes, keep in cases:
            if op != "sum" and var in ("all_keepdims", "axes02"):
                continue
            args = "x"
            if axes is not None:
                args += f", axes={attr_list(axes)}"
            args += f", keepdims={mlg_bool(keep)}"
            f = fx(f"{op}_{var}").inp("x", xs)
            f.out("y", f"{op}({args})",
                  lambda t, op=op, axes=axes, keep=keep: reduce_ref(op, t["x"], axes, keep))
    # prod: factors near 1, so that 60 of them neither vanish nor overflow.
    for var, xs, axes, keep in (("axis1", [3, 7, 4], [1], False),
                                ("axes02_keepdims", [3, 5, 4], [0, 2], True),
                                ("all", [3, 4, 5], None, False),
                                ("inner", [4, 9], [-1], False)):
        args = "x" + (f", axes={attr_list(axes)}" if axes is not None else "")
        f = fx(f"prod_{var}").inp("x", xs, 0.7, 1.3)
        f.out("y", f"prod({args}, keepdims={mlg_bool(keep)})",
              lambda t, axes=axes, keep=keep: reduce_ref("prod", t["x"], axes, keep))
    f = fx("prod_wide").inp("x", [2, 1111], 0.99, 1.01)
    f.out("y", "prod(x, axes=[1])", lambda t: torch.prod(t["x"], dim=1))
    f = fx("sum_wide").inp("x", [2, 1111])
    f.out("y", "sum(x, axes=[1], keepdims=false)", lambda t: torch.sum(t["x"], dim=1))
    f.tol(1e-4, 1e-4, "a sum of 1111 terms in [-1, 1] has magnitude ~ 20 and float32\n"
          "rounding error ~ sqrt(1111) * 20 * 2^-24; near-zero sums need an absolute bound")


def shapes():
    for var, xs, shape, tshape in (("minus1", [2, 3, 4], [4, -1], [4, 6]),
                                   ("split", [6, 4], [2, 3, 2, 2], [2, 3, 2, 2]),
                                   ("flat", [2, 3, 5], [-1], [30])):
        f = fx(f"reshape_{var}").inp("x", xs)
        f.out("y", f"reshape(x, {attr_list(shape)})", lambda t, s=tshape: t["x"].reshape(s))
    for var, xs, perm in (("2d", [3, 5], [1, 0]),
                          ("4d_0213", [2, 3, 4, 5], [0, 2, 1, 3]),
                          ("4d_3120", [2, 3, 4, 5], [3, 1, 2, 0]),
                          ("5d", [2, 3, 1, 4, 5], [4, 2, 0, 3, 1])):
        f = fx(f"transpose_{var}").inp("x", xs)
        f.out("y", f"transpose(x, perm={attr_list(perm)})", lambda t, p=perm: t["x"].permute(p))
    for axis in (0, 1, 2):
        f = fx(f"flatten_axis{axis}").inp("x", [2, 3, 4, 5])
        f.out("y", f"flatten(x, axis={axis})", lambda t, a=axis: t["x"].reshape(
            int(np.prod(t["x"].shape[:a])), -1))

    concat = [
        ("axis0", [[2, 3], [4, 3]], 0), ("axis1", [[2, 3], [2, 5]], 1),
        ("neg1", [[2, 3, 1], [2, 3, 4]], -1), ("three_axis1", [[2, 1, 4], [2, 3, 4], [2, 2, 4]], 1),
    ]
    for var, shapes_, axis in concat:
        f = fx(f"concat_{var}")
        names = [f"x{i}" for i in range(len(shapes_))]
        for nm, s in zip(names, shapes_):
            f.inp(nm, s)
        f.out("y", f"concat([{', '.join(names)}], axis={axis})",
              lambda t, names=names, axis=axis: torch.cat([t[n] for n in names], dim=axis))

    slices = [
        ("basic", [4, 7], [1], [5], [1], None),
        ("neg_start_end", [3, 9], [-4], [-1], [1], None),
        ("step2", [3, 9], [0], [9], [1], [2]),
        ("reverse", [2, 7], [-1], [-100], [1], [-1]),
        ("step_neg2", [8, 3], [6], [0], [0], [-2]),
        ("clamped", [3, 6], [2], [1000], [-1], None),
        ("default_axes", [4, 5], [1, 0], [3, 4], None, None),
        ("3axes_steps", [5, 6, 7], [0, 5, 1], [5, -100, 7], [0, 1, 2], [2, -2, 3]),
    ]
    for var, xs, st, en, ax, sp in slices:
        args = f"x, starts={attr_list(st)}, ends={attr_list(en)}"
        if ax is not None:
            args += f", axes={attr_list(ax)}"
        if sp is not None:
            args += f", steps={attr_list(sp)}"
        f = fx(f"slice_{var}").inp("x", xs)
        f.out("y", f"slice({args})",
              lambda t, st=st, en=en, ax=ax, sp=sp: onnx_slice(t["x"], st, en, ax, sp))

    for var, xs, axes in (("axis1", [3, 1, 4], [1]),
                          ("neg", [2, 5, 1], [-1])):
        f = fx(f"squeeze_{var}").inp("x", xs)
        out_shape = [d for i, d in enumerate(xs) if i not in [a % len(xs) for a in axes]]
        f.out("y", f"squeeze(x, axes={attr_list(axes)})",
              lambda t, s=out_shape: t["x"].reshape(s))
    f = fx("squeeze_all").inp("x", [1, 3, 1, 4, 1])
    f.out("y", "squeeze(x)", lambda t: t["x"].reshape(3, 4))
    for var, xs, axes, tshape in (("axis0", [3, 4], [0], [1, 3, 4]),
                                  ("two", [3, 4], [1, 3], [3, 1, 4, 1])):
        f = fx(f"unsqueeze_{var}").inp("x", xs)
        f.out("y", f"unsqueeze(x, axes={attr_list(axes)})",
              lambda t, s=tshape: t["x"].reshape(s))

    gathers = [
        ("axis0", [5, 3], np.array([4, 0, 2, 2], dtype=np.int32), 0),
        ("axis1_2d_idx", [3, 6], np.array([[0, 5, 1], [2, 2, 3]], dtype=np.int32), 1),
        ("negative", [7, 2], np.array([-1, 0, -7, 3], dtype=np.int32), 0),
        ("axis_neg1", [2, 3, 5], np.array([4, -2], dtype=np.int32), -1),
    ]
    for var, xs, idx, axis in gathers:
        f = fx(f"gather_{var}").inp("x", xs).inp("idx", data=idx)

        def gref(t, axis=axis):
            x = t["x"].numpy()
            i = t["idx"].numpy()
            return torch.from_numpy(np.take(x, i % x.shape[axis], axis=axis))
        f.out("y", f"gather(x, idx, axis={axis})", gref)

    # expand = numpy.broadcast_to: new leading dims and 1s repeated; fused with what reads it,
    # folded when its input is a const, and as a reduction's prologue.
    f = fx("expand_basic").inp("x", [3, 1])
    f.out("y", "expand(x, shape=[2, 3, 4])",
          lambda t: torch.from_numpy(np.broadcast_to(t["x"].numpy(), (2, 3, 4)).copy()))
    f = fx("expand_fused").inp("x", [1, 4, 1]).inp("z", [3, 4, 5])
    f.out("y", "exp(expand(x, [3, 4, 5])) * z + 1",
          lambda t: torch.exp(t["x"].expand(3, 4, 5)) * t["z"] + 1)
    f = fx("expand_const").inp("x", [2, 3])
    f.const("const c : f32[3] = [1, 2, 3]")
    f.out("y", "x + expand(c * 2, shape=[2, 3])",
          lambda t: t["x"] + torch.tensor([2.0, 4.0, 6.0], dtype=t["x"].dtype))
    f = fx("expand_sum").inp("x", [4, 1])
    f.out("y", "sum(expand(x, [4, 6]) * 0.5, axes=[1])",
          lambda t: torch.sum(t["x"].expand(4, 6) * 0.5, dim=1))

    # pad: ONNX pads (all begins, then all ends); torch's own F.pad as the reference where it
    # has the mode, numpy.pad otherwise (negative pads crop).
    f = fx("pad_constant").inp("x", [3, 5])
    f.out("y", "pad(x, pads=[1, 2, 0, 3], value=1.5)",
          lambda t: F.pad(t["x"], (2, 3, 1, 0), value=1.5))
    f = fx("pad_constant_crop").inp("x", [2, 4, 6])
    f.out("y", "pad(x, [0, -1, 2, 1, 1, -3])",
          lambda t: pad_ref(t["x"], [0, -1, 2, 1, 1, -3], "constant"))
    f = fx("pad_reflect_nchw").inp("x", [2, 3, 5, 6])
    f.out("y", "pad(x, pads=[0, 0, 2, 1, 0, 0, 3, 4], mode=reflect)",
          lambda t: F.pad(t["x"], (1, 4, 2, 3), mode="reflect"))
    f = fx("pad_reflect_3d").inp("x", [3, 4, 5])
    f.out("y", "pad(x, [1, 0, 4, 2, 3, 1], mode=reflect)",
          lambda t: pad_ref(t["x"], [1, 0, 4, 2, 3, 1], "reflect"))
    f = fx("pad_edge").inp("x", [1, 2, 4, 3])
    f.out("y", "pad(x, pads=[0, 0, 3, 0, 0, 0, 1, 5], mode=edge)",
          lambda t: F.pad(t["x"], (0, 5, 3, 1), mode="replicate"))

    # Run-time indices outside [-d, d) are clamped (docs/ops.md): negative ones get d added
    # once, then the result is clipped into [0, d - 1].
    f = fx("gather_clamped").inp("x", [5, 3])
    f.inp("idx", data=np.array([-11, -6, 5, 9, -1, 2], dtype=np.int32))
    f.out("y", "gather(x, idx, axis=0)", lambda t: torch.from_numpy(np.take(
        t["x"].numpy(), np.clip(np.where(t["idx"].numpy() < 0, t["idx"].numpy() + 5,
                                         t["idx"].numpy()), 0, 4), axis=0)))

    # Indices known at compile time (checked by mlgc), both ends of the valid range.
    f = fx("gather_const_idx").inp("x", [5, 3])
    f.const("const idx : i32[2, 2] = [[0, 4], [-5, -1]]")
    f.out("y", "gather(x, idx, axis=0)",
          lambda t: torch.from_numpy(np.take(t["x"].numpy(), [[0, 4], [0, 4]], axis=0)))


def sdpa_ref(q, k, v, mask=None, causal=False, scale=None):
    """torch's scaled_dot_product_attention; a mask together with causal (which torch refuses)
    as both applied, the way mlg and ONNX Attention combine them."""
    if mask is not None and causal:
        tq, tk = q.shape[-2], k.shape[-2]
        keep = torch.ones(tq, tk, dtype=torch.bool).tril()
        if mask.dtype == torch.bool:
            mask = mask & keep
        else:
            mask = torch.where(keep, mask, torch.tensor(float("-inf"), dtype=mask.dtype))
        causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def attention():
    """scaled_dot_product_attention: tiles of keys (the kernel stages 32 or 64 keys at a time
    and 16 or 64 queries per work-group), partial tiles and work-groups, vector widths 4, 2
    and 1 along the head dims, strided operands and stores."""
    def sdpa(name, qs, ks, vs, call, ref, mask=None):
        f = fx(name).inp("q", qs).inp("k", ks).inp("v", vs)
        if mask is not None:
            f.inp("mask", data=mask)
        f.out("y", call, ref)
        return f

    sdpa("sdpa_multihead", [2, 3, 37, 16], [2, 3, 45, 16], [2, 3, 45, 8],
         "scaled_dot_product_attention(q, k, v)", lambda t: sdpa_ref(t["q"], t["k"], t["v"]))
    sdpa("sdpa_causal", [1, 2, 70, 8], [1, 2, 70, 8], [1, 2, 70, 8],
         "scaled_dot_product_attention(q, k, v, causal=1)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], causal=True))
    # Tq < Tk and Tq > Tk: the triangle is aligned top-left (torch's is_causal).
    sdpa("sdpa_causal_short_q", [2, 20, 12], [2, 75, 12], [2, 75, 12],
         "scaled_dot_product_attention(q, k, v, causal=1)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], causal=True))
    sdpa("sdpa_causal_long_q", [1, 90, 4], [1, 33, 4], [1, 33, 6],
         "scaled_dot_product_attention(q, k, v, causal=1)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], causal=True))
    # An additive mask, broadcast over batch and heads, with -inf entries (never a whole row).
    rng = np.random.default_rng(5)
    m = rng.uniform(-2.0, 2.0, [24, 40]).astype(np.float32)
    m[rng.uniform(size=m.shape) < 0.3] = -np.inf
    m[:, 0] = 0.0
    sdpa("sdpa_mask_float_bcast", [2, 2, 24, 8], [2, 2, 40, 8], [2, 2, 40, 8],
         "scaled_dot_product_attention(q, k, v, mask)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], t["mask"]), mask=m)
    # A bool mask (true = keep) per batch item, broadcast over heads; one row keeps nothing
    # (torch gives 0 there) and one keeps a single key.
    rng = np.random.default_rng(6)
    mb = rng.uniform(size=[2, 1, 19, 70]) < 0.6
    mb[0, 0, 3, :] = False
    mb[1, 0, 5, :] = False
    mb[1, 0, 5, 42] = True
    sdpa("sdpa_mask_bool", [2, 3, 19, 16], [2, 3, 70, 16], [2, 3, 70, 16],
         "scaled_dot_product_attention(q, k, v, mask)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], t["mask"]), mask=mb)
    # A bool mask with causal=1, both applied.
    mc = np.random.default_rng(8).uniform(size=[12, 12]) < 0.7
    np.fill_diagonal(mc, True)
    sdpa("sdpa_mask_bool_causal", [1, 2, 12, 8], [1, 2, 12, 8], [1, 2, 12, 8],
         "scaled_dot_product_attention(q, k, v, mask, causal=1)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], t["mask"], causal=True), mask=mc)
    # A per-head mask [B, 1, Tq, Tk] together with causal=1 (both applied).
    m2 = np.random.default_rng(7).uniform(-1, 1, [2, 1, 30, 30]).astype(np.float32)
    sdpa("sdpa_mask_causal", [2, 3, 30, 8], [2, 3, 30, 8], [2, 3, 30, 8],
         "scaled_dot_product_attention(q, k, v, mask, causal=1)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], t["mask"], causal=True), mask=m2)
    # Odd head dim (scalar loads), dv of 6 (pairs), a given scale, k and v broadcast over batch.
    sdpa("sdpa_scale_bcast", [3, 2, 9, 5], [2, 11, 5], [2, 11, 6],
         "scaled_dot_product_attention(q, k, v, scale=0.7)",
         lambda t: sdpa_ref(t["q"], t["k"], t["v"], scale=0.7))
    # One query against many keys (decoding).
    sdpa("sdpa_one_query", [4, 1, 32], [4, 130, 32], [4, 130, 32],
         "scaled_dot_product_attention(q, k, v)", lambda t: sdpa_ref(t["q"], t["k"], t["v"]))

    # Heads split from one [B, T, 3C] tensor by slice/reshape/transpose, merged back after:
    # strided operands, a store through the transpose, and an epilogue.
    B, T, H, D = 2, 10, 3, 4
    C = H * D
    f = fx("sdpa_heads_strided").inp("x", [B, T, 3 * C])
    for i, nm in enumerate("qkv"):
        f.let(f"{nm} = transpose(reshape(slice(x, starts=[{i * C}], ends=[{(i + 1) * C}], "
              f"axes=[2]), [{B}, {T}, {H}, {D}]), perm=[0, 2, 1, 3])")

    def heads(t):
        x = t["x"]
        q, k, v = (x[..., i * C:(i + 1) * C].reshape(B, T, H, D).permute(0, 2, 1, 3)
                   for i in range(3))
        y = sdpa_ref(q, k, v, causal=True)
        return y.permute(0, 2, 1, 3).reshape(B, T, C) * 2.0 + 1.0
    f.out("y", f"reshape(transpose(scaled_dot_product_attention(q, k, v, causal=1), "
          f"perm=[0, 2, 1, 3]), [{B}, {T}, {C}]) * 2.0 + 1.0", heads)


def compositions():
    # An output that folding turns into a const: the const and the output are two tensors of
    # the bundle, and must not both take the output's name.
    f = fx("comp_folded_output").inp("x", [2, 3])
    f.const("const c : f32[3] = [0.5, 1.5, -2]")
    f.out("y", "sin(c) * 2", lambda t: torch.sin(torch.tensor([0.5, 1.5, -2.0],
                                                              dtype=t["x"].dtype)) * 2)
    f.out("z", "x + c", lambda t: t["x"] + torch.tensor([0.5, 1.5, -2.0], dtype=t["x"].dtype))

    T, D = 5, 8
    mask = np.triu(np.full((T, T), -1e9, dtype=np.float32), k=1)
    f = fx("comp_attention").inp("q", [2, T, D]).inp("k", [2, D, T]).inp("v", [2, T, D])
    f.inp("mask", data=mask)
    s = 1.0 / np.sqrt(D)
    f.let(f"att = softmax(q @ k * {s:.9g} + mask, axis=-1)")
    f.out("y", "att @ v", lambda t: torch.softmax(
        t["q"] @ t["k"] * float(np.float32(s)) + t["mask"], dim=-1) @ t["v"])

    f = fx("comp_conv_bn_relu").inp("x", [1, 3, 6, 6]).par("conv.weight", [4, 3, 3, 3], -0.4, 0.4)
    f.par("bn.weight", [4], 0.5, 1.5).par("bn.bias", [4]).par("bn.running_mean", [4], -0.2, 0.2)
    f.par("bn.running_var", [4], 0.3, 2.0)
    f.out("y", "relu(batch_norm(conv2d(x, conv.weight, padding=1), bn.weight, bn.bias, "
          "bn.running_mean, bn.running_var, eps=1e-5))",
          lambda t: torch.relu(bn_ref(conv_ref(t["x"], t["conv.weight"], padding=1),
                                      t["bn.weight"], t["bn.bias"], t["bn.running_mean"],
                                      t["bn.running_var"], 1e-5)))

    # A residual block's second convolution: 3 images of 35 pixels, so that the CPU kernel's
    # blocks of 6 pixels straddle images and the last is ragged; its epilogue reads x and a
    # per-channel scale.
    f = fx("comp_conv_residual").inp("x", [3, 32, 5, 7]).par("cw", [32, 32, 3, 3], -0.2, 0.2)
    f.par("cb", [32]).par("s", [32, 1, 1], 0.5, 1.5)
    f.out("y", "relu(conv2d(x, cw, cb, padding=1) * s + x)",
          lambda t: torch.relu(conv_ref(t["x"], t["cw"], t["cb"], padding=1) * t["s"] + t["x"]))

    # 1x1 convolutions of maps of 2048 pixels or more run on CPUs as y[n] = w @ x[n] (the CPU
    # GEMM kernel, bias per row, whole-vector epilogue): with clamp, and with a residual add on
    # a map whose width leaves a ragged column block.
    f = fx("comp_conv_pointwise_big").inp("x", [2, 16, 48, 48]).par("cw", [24, 16, 1, 1], -0.4, 0.4)
    f.par("cb", [24])
    f.out("y", "clamp(conv2d(x, cw, cb), 0.0, 6.0)",
          lambda t: torch.clamp(conv_ref(t["x"], t["cw"], t["cb"]), 0.0, 6.0))
    f = fx("comp_conv_pointwise_ragged").inp("x", [1, 8, 45, 47]).par("cw", [8, 8, 1, 1], -0.4, 0.4)
    f.par("cb", [8])
    f.out("y", "relu(conv2d(x, cw, cb) + x)",
          lambda t: torch.relu(conv_ref(t["x"], t["cw"], t["cb"]) + t["x"]))

    # One output channel: images follow each other in y, so six pixels across two images are
    # consecutive there too; the epilogue's scale differs per image.
    f = fx("comp_conv_one_channel").inp("x", [3, 4, 3, 5]).inp("s", [3, 1, 1, 1], 0.5, 1.5)
    f.par("cw", [1, 4, 3, 3], -0.4, 0.4)
    f.out("y", "conv2d(x, cw, padding=1) * s + 0.5",
          lambda t: conv_ref(t["x"], t["cw"], padding=1) * t["s"] + 0.5)

    f = fx("comp_ln_gelu_linear").inp("x", [2, 3, 8]).par("ln.weight", [8], 0.5, 1.5)
    f.par("ln.bias", [8]).par("fc.weight", [12, 8], -0.5, 0.5).par("fc.bias", [12])
    f.out("y", "gelu(linear(layer_norm(x, ln.weight, ln.bias, eps=1e-5), fc.weight, fc.bias))",
          lambda t: F.gelu(F.linear(F.layer_norm(t["x"], [8], t["ln.weight"], t["ln.bias"], 1e-5),
                                    t["fc.weight"], t["fc.bias"])))

    f = fx("comp_rmsnorm").inp("x", [3, 16], -2, 2).par("g", [16], 0.5, 1.5)
    f.let("ms = mean(x * x, axes=[-1], keepdims=true)")
    f.out("y", "x * rsqrt(ms + 1e-6) * g", lambda t: t["x"] * torch.rsqrt(
        torch.mean(t["x"] * t["x"], dim=-1, keepdim=True) + 1e-6) * t["g"])

    f = fx("comp_two_outputs").inp("x", [4, 5])
    f.let("h = relu(x)")
    f.out("h", None, lambda t: torch.relu(t["x"]))
    f.out("z", "sum(h * 2, axes=[1], keepdims=false)",
          lambda t: torch.sum(torch.relu(t["x"]) * 2, dim=1))

    f = fx("comp_view_then_transpose").inp("x", [4, 6])
    f.out("y", "transpose(reshape(x, [2, 3, 4]), perm=[1, 0, 2]) + 1",
          lambda t: t["x"].reshape(2, 3, 4).permute(1, 0, 2) + 1)

    f = fx("comp_slice_concat").inp("x", [3, 8])
    f.out("y", "concat([slice(x, starts=[4], ends=[8], axes=[1]), "
          "slice(x, starts=[0], ends=[4], axes=[1])], axis=1) * x",
          lambda t: torch.cat([t["x"][:, 4:], t["x"][:, :4]], dim=1) * t["x"])

    f = fx("comp_gather_embed").inp("tok", data=np.array([[3, 0, 5], [1, 1, 2]], dtype=np.int32))
    f.par("wte", [6, 4]).par("wpe", [3, 4])
    f.out("y", "gather(wte, tok, axis=0) + wpe", lambda t: t["wte"][t["tok"]] + t["wpe"])


def in_place_views():
    """A view (reshape, unsqueeze) of a tensor written in place, read by a kernel that needs its
    bytes: each once failed the memory plan's validator (issue 10)."""
    def scaled(t):
        d = torch.exp(t["x"])
        return d * torch.sum(d, dim=1, keepdim=True)

    f = fx("comp_inplace_view_pool").inp("x", [4, 8])
    f.let("d = exp(x)").let("n = d * sum(d, axes=[1], keepdims=true)")
    f.out("y", "max_pool2d(reshape(n, [1, 1, 4, 8]), kernel=2, stride=2)",
          lambda t: F.max_pool2d(scaled(t).reshape(1, 1, 4, 8), 2, 2))

    f = fx("comp_inplace_view_conv").inp("x", [4, 8]).par("w", [2, 1, 3, 3])
    f.let("d = exp(x)").let("n = d * sum(d, axes=[1], keepdims=true)")
    f.out("y", "conv2d(unsqueeze(unsqueeze(n, axes=[0]), axes=[0]), w, padding=1)",
          lambda t: conv_ref(scaled(t).reshape(1, 1, 4, 8), t["w"], padding=1))

    f = fx("comp_inplace_view_relu").inp("x", [16])
    f.let("a = relu(x)").let("b = relu(a)")
    f.out("y", "relu(reshape(b, [2, 8]))", lambda t: torch.relu(t["x"]).reshape(2, 8))

    f = fx("comp_inplace_view_softmax").inp("x", [4, 8]).par("w", [8, 8])
    f.out("y", "softmax(reshape(x @ w, [8, 4]) * 2.0, axis=-1)",
          lambda t: torch.softmax((t["x"] @ t["w"]).reshape(8, 4) * 2.0, dim=-1))


# ---------------------------------------------------------------------------------------------
# Ops that training brought: forward references

def training_ops():
    f = fx("heaviside_bcast").inp("x", data=np.array([[-1.5, 0.0, 2.0, 0.0], [0.5, -0.25, 0.0, 3.0]],
                                                      dtype=np.float32)).inp("v", [4])
    f.out("y", "heaviside(x, v)", lambda t: torch.heaviside(t["x"], t["v"]))
    f = fx("one_hot_basic").inp("y", data=np.array([[2, 0], [4, 1]], dtype=np.int32))
    f.out("h", "one_hot(y, num_classes=5)", lambda t: F.one_hot(t["y"], 5).to(torch.float64))
    f = fx("cross_entropy_2d").inp("logits", [6, 5], -3, 3)
    f.inp("label", data=np.array([0, 4, 2, 2, 1, 3], dtype=np.int32))
    f.out("loss", "cross_entropy(logits, label)", lambda t: F.cross_entropy(t["logits"], t["label"]))
    f = fx("cross_entropy_3d").inp("logits", [2, 4, 3], -3, 3)
    f.inp("label", data=np.array([[0, 3, 1], [2, 2, 0]], dtype=np.int32))
    f.out("loss", "cross_entropy(logits, label)", lambda t: F.cross_entropy(t["logits"], t["label"]))
    f = fx("mse_loss_basic").inp("a", [4, 7]).inp("b", [4, 7])
    f.out("loss", "mse_loss(a, b)", lambda t: F.mse_loss(t["a"], t["b"]))
    f = fx("bce_with_logits_basic").inp("x", [5, 6], -12, 12).inp("target", [5, 6], 0, 1)
    f.out("loss", "bce_with_logits(x, target)",
          lambda t: F.binary_cross_entropy_with_logits(t["x"], t["target"]))


# ---------------------------------------------------------------------------------------------
# Gradients: grad(loss, x) against torch.autograd

def autograd(fn, name, cot=None):
    """The reference of grad(loss, name) with loss = sum(fn(t) * t[cot]) (cot None: fn(t) is the
    loss itself)."""
    def ref(t):
        with torch.enable_grad():
            tt = {k: (v.clone().requires_grad_(True) if v.is_floating_point() else v)
                  for k, v in t.items()}
            y = fn(tt)
            loss = y if cot is None else (y * tt[cot]).sum()
            g, = torch.autograd.grad(loss, [tt[name]], allow_unused=True)
        return torch.zeros_like(t[name]) if g is None else g.detach()
    return ref


def gfx(name, fn, expr, wrt, out_shape=None, loss=False, **kw):
    """A gradient fixture: the inputs are declared by the caller on the returned Fx; `expr` (mlg)
    computes y = fn(t); the outputs are grad(loss, w) for each w in wrt, loss = sum(y * r) with
    r a random [out_shape] input (or y itself with loss=True)."""
    f = fx(f"grad_{name}", **kw)
    def finish():
        if loss:
            f.let(f"loss = {expr}")
        else:
            f.inp("r", out_shape)
            f.let(f"y = {expr}")
            f.let("loss = sum(y * r)")
        for w in wrt:
            gname = "g_" + w.replace(".", "_")
            f.out(gname, f"grad(loss, {w})", autograd(fn, w, None if loss else "r"))
    f.finish = finish
    return f


def gradients():
    done = []
    def g(name, fn, expr, wrt, out_shape=None, loss=False, **kw):
        f = gfx(name, fn, expr, wrt, out_shape, loss, **kw)
        done.append(f)
        return f

    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
              "maximum": torch.maximum, "minimum": torch.minimum}
    for op, fn in binary.items():
        f = g(f"{op}_bcast", lambda t, fn=fn: fn(t["a"], t["b"]), f"{op}(a, b)", ["a", "b"], [3, 4, 5])
        f.inp("a", [3, 1, 5])
        f.inp("b", data=fx_nonzero(f, [4, 5]) if op == "div" else None, shape=[4, 5])
    f = g("pow_same", lambda t: torch.pow(t["a"], t["b"]), "pow(a, b)", ["a", "b"], [3, 4])
    f.inp("a", [3, 4], 0.5, 2.0).inp("b", [3, 4], -2.0, 2.0)
    f = g("pow_scalar", lambda t: torch.pow(t["x"], 3.0), "pow(x, 3)", ["x"], [5, 3])
    f.inp("x", [5, 3], -2, 2)
    f = g("operators", lambda t: (t["a"] * t["b"] - t["a"] / t["b"]) + 0.5 * t["a"],
          "(a * b - a / b) + 0.5 * a", ["a", "b"], [2, 6])
    f.inp("a", [2, 6]).inp("b", data=fx_nonzero(f, [2, 6]))

    unary = {
        "neg": (torch.neg, -3, 3), "abs": (torch.abs, -3, 3), "exp": (torch.exp, -3, 3),
        "log": (torch.log, 0.1, 5), "sqrt": (torch.sqrt, 0.1, 5), "rsqrt": (torch.rsqrt, 0.2, 5),
        "relu": (torch.relu, -3, 3), "sigmoid": (torch.sigmoid, -6, 6), "tanh": (torch.tanh, -3, 3),
        "gelu": (F.gelu, -4, 4), "silu": (F.silu, -5, 5), "erf": (torch.erf, -2.5, 2.5),
        "sin": (torch.sin, -4, 4), "cos": (torch.cos, -4, 4), "tan": (torch.tan, -1.2, 1.2),
        "reciprocal": (torch.reciprocal, 0.3, 3),
    }
    for op, (fn, lo, hi) in unary.items():
        f = g(op, lambda t, fn=fn: fn(t["x"]), f"{op}(x)", ["x"], [4, 9])
        f.inp("x", [4, 9], lo, hi)
    f = g("gelu_tanh", lambda t: F.gelu(t["x"], approximate="tanh"), "gelu(x, approximate=tanh)",
          ["x"], [4, 9])
    f.inp("x", [4, 9], -4, 4)
    f = g("fmod", lambda t: torch.fmod(t["a"], t["b"]), "fmod(a, b)", ["a", "b"], [3, 5])
    f.inp("a", [3, 5], -4, 4).inp("b", [3, 5], 0.7, 1.9)
    f = g("clamp", lambda t: torch.clamp(t["x"], -0.5, 0.75), "clamp(x, -0.5, 0.75)", ["x"], [5, 8])
    f.inp("x", [5, 8], -2, 2)
    f = g("leaky_relu", lambda t: F.leaky_relu(t["x"], 0.2), "leaky_relu(x, alpha=0.2)", ["x"], [5, 8])
    f.inp("x", [5, 8], -2, 2)

    mm = [("2d", [4, 6], [6, 5], [4, 5]), ("bcast_batch", [2, 1, 3, 4], [3, 4, 5], [2, 3, 3, 5]),
          ("vec_lhs", [6], [2, 6, 5], [2, 5]), ("vec_rhs", [3, 6], [6], [3]), ("vec_vec", [7], [7], [])]
    for var, sa, sb, so in mm:
        f = g(f"matmul_{var}", lambda t: torch.matmul(t["a"], t["b"]), "a @ b", ["a", "b"], so)
        f.inp("a", sa).inp("b", sb)
    f = g("linear_3d", lambda t: F.linear(t["x"], t["w"], t["b"]), "linear(x, w, b)", ["x", "w", "b"], [2, 3, 4])
    f.inp("x", [2, 3, 5]).par("w", [4, 5]).par("b", [4])
    f = g("linear_1d_nobias", lambda t: F.linear(t["x"], t["w"]), "linear(x, w)", ["x", "w"], [4])
    f.inp("x", [5]).par("w", [4, 5])
    f = g("linear_softmax", lambda t: torch.softmax(F.linear(t["x"], t["w"], t["b"]), -1),
          "linear_softmax(x, w, b)", ["x", "w", "b"], [3, 6])
    f.inp("x", [3, 9]).par("w", [6, 9]).par("b", [6])

    convs = [
        ("3x3_pad1", [2, 3, 6, 6], [4, 3, 3, 3], "padding=1", dict(padding=1)),
        ("stride2", [1, 2, 7, 8], [3, 2, 3, 3], "stride=2, padding=1", dict(stride=2, padding=1)),
        ("stride3_tail", [1, 2, 8, 7], [2, 2, 2, 2], "stride=3", dict(stride=3)),
        ("dilation2", [1, 2, 8, 8], [3, 2, 3, 3], "dilation=2, padding=1", dict(dilation=2, padding=1)),
        ("groups2", [2, 4, 5, 5], [6, 2, 3, 3], "groups=2, padding=1", dict(groups=2, padding=1)),
        ("depthwise_stride2", [1, 3, 7, 7], [3, 1, 3, 3], "stride=2, groups=3", dict(stride=2, groups=3)),
        ("1x1_pad1", [1, 2, 4, 3], [3, 2, 1, 1], "padding=1", dict(padding=1)),
        ("pad_tlbr", [1, 2, 6, 5], [2, 2, 3, 3], "stride=2, padding=[2, 0, 1, 1]",
         dict(stride=2, padding=[2, 0, 1, 1])),
    ]
    for var, xs, ws, attrs, kw in convs:
        ref = lambda t, kw=kw: conv_ref(t["x"], t["w"], t["b"], **kw)
        with torch.no_grad():
            so = list(ref({"x": torch.zeros(xs), "w": torch.zeros(ws), "b": torch.zeros(ws[0])}).shape)
        f = g(f"conv2d_{var}", ref, f"conv2d(x, w, b, {attrs})", ["x", "w", "b"], so)
        f.inp("x", xs).par("w", ws, -0.5, 0.5).par("b", [ws[0]])

    pools = [
        ("max_pool2d_k2s2", [2, 3, 6, 6], "max_pool2d(x, kernel=2)", lambda x: F.max_pool2d(x, 2)),
        ("max_pool2d_k3s2p1", [1, 2, 7, 8], "max_pool2d(x, kernel=3, stride=2, padding=1)",
         lambda x: F.max_pool2d(x, 3, 2, 1)),
        ("max_pool2d_k3s1", [1, 2, 5, 6], "max_pool2d(x, kernel=3, stride=1)", lambda x: F.max_pool2d(x, 3, 1)),
        ("avg_pool2d_k2s2", [2, 3, 6, 6], "avg_pool2d(x, kernel=2)", lambda x: F.avg_pool2d(x, 2)),
        ("avg_pool2d_k3s2p1", [1, 2, 7, 8], "avg_pool2d(x, kernel=3, stride=2, padding=1)",
         lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)),
        ("global_avg_pool2d", [2, 3, 4, 5], "global_avg_pool2d(x)", lambda x: torch.mean(x, dim=(2, 3), keepdim=True)),
    ]
    for var, xs, expr, fn in pools:
        with torch.no_grad():
            so = list(fn(torch.zeros(xs)).shape)
        f = g(var, lambda t, fn=fn: fn(t["x"]), expr, ["x"], so)
        f.inp("x", xs, -2, 2)

    f = g("batch_norm", lambda t: bn_ref(t["x"], t["bn.w"], t["bn.b"], t["bn.m"], t["bn.v"], 1e-5),
          "batch_norm(x, bn.w, bn.b, bn.m, bn.v)", ["x", "bn.w", "bn.b", "bn.m", "bn.v"], [2, 3, 4, 5])
    f.inp("x", [2, 3, 4, 5]).par("bn.w", [3], 0.5, 1.5).par("bn.b", [3]).par("bn.m", [3], -0.3, 0.3)
    f.par("bn.v", [3], 0.5, 2.0)
    f = g("layer_norm_last", lambda t: F.layer_norm(t["x"], [7], t["ln.w"], t["ln.b"], 1e-5),
          "layer_norm(x, ln.w, ln.b)", ["x", "ln.w", "ln.b"], [2, 3, 7])
    f.inp("x", [2, 3, 7], -2, 2).par("ln.w", [7], 0.5, 1.5).par("ln.b", [7])
    f = g("layer_norm_axis_m2", lambda t: F.layer_norm(t["x"], [3, 4], t["ln.w"], None, 1e-5),
          "layer_norm(x, ln.w, axis=-2)", ["x", "ln.w"], [2, 3, 4])
    f.inp("x", [2, 3, 4], -2, 2).par("ln.w", [3, 4], 0.5, 1.5)
    f = g("softmax_axis1", lambda t: torch.softmax(t["x"], dim=1), "softmax(x, axis=1)", ["x"], [2, 5, 3])
    f.inp("x", [2, 5, 3], -3, 3)
    f = g("log_softmax_last", lambda t: torch.log_softmax(t["x"], dim=-1), "log_softmax(x)", ["x"], [4, 6])
    f.inp("x", [4, 6], -3, 3)

    reds = [("sum_axis1", "sum(x, axes=[1])", lambda x: torch.sum(x, dim=1), [3, 7, 5], [3, 5]),
            ("mean_all", "mean(x)", lambda x: torch.mean(x), [3, 7, 5], []),
            ("max_axis1", "max(x, axes=[1])", lambda x: torch.amax(x, dim=1), [3, 7, 5], [3, 5]),
            ("min_keepdims", "min(x, axes=[-1], keepdims=true)",
             lambda x: torch.amin(x, dim=-1, keepdim=True), [3, 4, 5], [3, 4, 1])]
    for var, expr, fn, xs, so in reds:
        f = g(var, lambda t, fn=fn: fn(t["x"]), expr, ["x"], so)
        f.inp("x", xs)
    # a tie: amax shares the gradient evenly between equal maxima
    f = g("max_ties", lambda t: torch.amax(t["x"], dim=1), "max(x, axes=[1])", ["x"], [2])
    f.inp("x", data=np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 0.5, -2.0, 2.0]], dtype=np.float32))

    f = g("reshape_transpose", lambda t: t["x"].reshape(2, 3, 4).permute(2, 0, 1) * 3,
          "transpose(reshape(x, [2, 3, 4]), perm=[2, 0, 1]) * 3", ["x"], [4, 2, 3])
    f.inp("x", [6, 4])
    f = g("flatten_squeeze_unsqueeze", lambda t: t["x"].reshape(2, 12).unsqueeze(0).squeeze(0) + 1,
          "squeeze(unsqueeze(flatten(x), axes=[0]), axes=[0]) + 1", ["x"], [2, 12])
    f.inp("x", [2, 3, 4])
    f = g("concat", lambda t: torch.cat([t["a"], t["b"] * 2, t["c"]], dim=1),
          "concat([a, b * 2, c], axis=1)", ["a", "b", "c"], [2, 6, 3])
    f.inp("a", [2, 1, 3]).inp("b", [2, 3, 3]).inp("c", [2, 2, 3])
    f = g("slice_steps", lambda t: onnx_slice(t["x"], [0, 5, 1], [5, -100, 7], [0, 1, 2], [2, -2, 3]),
          "slice(x, starts=[0, 5, 1], ends=[5, -100, 7], axes=[0, 1, 2], steps=[2, -2, 3])", ["x"], [3, 3, 2])
    f.inp("x", [5, 6, 7])
    f = g("gather_repeats", lambda t: torch.index_select(t["x"], 0, t["idx"] % 5),
          "gather(x, idx, axis=0)", ["x"], [6, 3])
    f.inp("x", [5, 3]).inp("idx", data=np.array([4, 0, 2, 2, -1, 0], dtype=np.int32))
    f = g("gather_axis1", lambda t: torch.index_select(t["x"], 1, t["idx"].reshape(-1)).reshape(3, 2, 2),
          "gather(x, idx, axis=1)", ["x"], [3, 2, 2])
    f.inp("x", [3, 4]).inp("idx", data=np.array([[1, 3], [1, 0]], dtype=np.int32))
    f = g("expand", lambda t: t["x"].expand(4, 3, 5) * t["x"], "expand(x, shape=[4, 3, 5]) * x", ["x"], [4, 3, 5])
    f.inp("x", [1, 3, 5])

    # losses: the loss is the op itself
    f = g("cross_entropy", lambda t: F.cross_entropy(t["logits"], t["label"]),
          "cross_entropy(logits, label)", ["logits"], loss=True)
    f.inp("logits", [6, 5], -3, 3).inp("label", data=np.array([0, 4, 2, 2, 1, 3], dtype=np.int32))
    f = g("cross_entropy_3d", lambda t: F.cross_entropy(t["logits"], t["label"]),
          "cross_entropy(logits, label)", ["logits"], loss=True)
    f.inp("logits", [2, 4, 3], -3, 3).inp("label", data=np.array([[0, 3, 1], [2, 2, 0]], dtype=np.int32))
    f = g("mse_loss", lambda t: F.mse_loss(t["a"], t["b"]), "mse_loss(a, b)", ["a", "b"], loss=True)
    f.inp("a", [4, 7]).inp("b", [4, 7])
    # zeros among the logits: PyTorch's gradient there is sigmoid(0) - target
    x = np.linspace(-6, 6, 30, dtype=np.float32).reshape(5, 6)
    x[1, :] = 0
    f = g("bce_with_logits", lambda t: F.binary_cross_entropy_with_logits(t["x"], t["target"]),
          "bce_with_logits(x, target)", ["x", "target"], loss=True)
    f.inp("x", data=x).inp("target", [5, 6], 0, 1)

    # fused and composed: several consumers (sums of contributions), anchors with epilogues
    f = g("comp_mlp_residual",
          lambda t: t["x"] + torch.tanh(F.linear(F.gelu(F.linear(t["x"], t["w1"], t["b1"])), t["w2"])),
          "x + tanh(linear(gelu(linear(x, w1, b1)), w2))", ["x", "w1", "b1", "w2"], [4, 6])
    f.inp("x", [4, 6]).par("w1", [8, 6], -0.5, 0.5).par("b1", [8]).par("w2", [6, 8], -0.5, 0.5)
    f = g("comp_ln_linear", lambda t: F.linear(F.layer_norm(t["x"], [8], t["g"], t["b"], 1e-5), t["w"], t["c"]),
          "linear(layer_norm(x, g, b), w, c)", ["x", "g", "b", "w", "c"], [2, 3, 5])
    f.inp("x", [2, 3, 8], -2, 2).par("g", [8], 0.5, 1.5).par("b", [8]).par("w", [5, 8], -0.5, 0.5).par("c", [5])
    f = g("comp_attention", lambda t: torch.softmax(t["q"] @ t["k"].transpose(-1, -2) * 0.5, dim=-1) @ t["v"],
          "softmax(q @ transpose(k, perm=[0, 2, 1]) * 0.5) @ v", ["q", "k", "v"], [2, 4, 3])
    f.inp("q", [2, 4, 3]).inp("k", [2, 4, 3]).inp("v", [2, 4, 3])
    f = g("comp_conv_pool_linear",
          lambda t: F.linear(F.max_pool2d(torch.relu(conv_ref(t["x"], t["cw"], t["cb"], padding=1)), 2).reshape(2, -1),
                             t["fw"]),
          "linear(flatten(max_pool2d(relu(conv2d(x, cw, cb, padding=1)), kernel=2)), fw)", ["x", "cw", "cb", "fw"],
          [2, 3])
    f.inp("x", [2, 1, 4, 4]).par("cw", [2, 1, 3, 3], -0.5, 0.5).par("cb", [2]).par("fw", [3, 8], -0.5, 0.5)
    for f in done:
        f.finish()


# ---------------------------------------------------------------------------------------------
# Training: N steps of torch.optim

class TrainFx(Fx):
    """A model with a train statement: `steps` batches (inputs hold [steps, batch...]); the
    references are the params after the steps and each step's loss."""

    def __init__(self, name, steps, optim_mlg, optim, forward, loss_expr, frozen=(), **kw):
        super().__init__(name, **kw)
        self.steps, self.optim_mlg, self.optim = steps, optim_mlg, optim
        self.forward, self.loss_expr, self.frozen = forward, loss_expr, set(frozen)

    def source(self):
        out = [f"# {self.name}: generated by tools/gen_fixtures.py; regenerate, don't edit.",
               f"model {self.name} {{"]
        for k, v in self.inputs.items():
            out.append(f"  input {k} : {dtype_str(v)}{shape_str(v.shape[1:])}")
        for k, v in self.params.items():
            word = "frozen param" if k in self.frozen else "param"
            out.append(f"  {word} {k} : {dtype_str(v)}{shape_str(v.shape)}")
        for line in self.lines:
            out.append("  " + line)
        out.append(f"  output loss = {self.loss_expr}")
        out.append(f"  train loss with {self.optim_mlg}")
        out.append("}")
        return "\n".join(out) + "\n"

    def evaluate(self, dtype):
        params = {k: torch.tensor(v, dtype=dtype, requires_grad=k not in self.frozen)
                  for k, v in self.params.items()}
        opt = self.optim([p for k, p in params.items() if k not in self.frozen])
        losses = []
        for s in range(self.steps):
            batch = {k: to_torch(v[s], dtype) for k, v in self.inputs.items()}
            loss = self.forward({**batch, **params})
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        res = {k: p.detach().to(torch.float64).numpy() for k, p in params.items()}
        res["loss"] = np.array(losses, dtype=np.float64)
        return res

    def write(self, root, check_only=False):
        worst = super().write(root, check_only)
        if not check_only:
            with open(os.path.join(root, self.name, "steps"), "w") as f:
                f.write(f"{self.steps}\n")
        return worst


def training():
    N, B, D, H, C = 4, 8, 5, 6, 3
    def mlp(t):
        return F.linear(torch.tanh(F.linear(t["x"], t["w1"], t["b1"])), t["w2"], t["b2"])
    mlp_mlg = "logits = linear(tanh(linear(x, w1, b1)), w2, b2)"
    optims = [
        ("sgd", "sgd(lr=0.1)", lambda ps: torch.optim.SGD(ps, lr=0.1)),
        ("momentum", "sgd(lr=0.1, momentum=0.9, weight_decay=0.01)",
         lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
        ("nesterov", "sgd(lr=0.05, momentum=0.8, nesterov=true)",
         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
        ("adam", "adam(lr=0.01)", lambda ps: torch.optim.Adam(ps, lr=0.01)),
        ("adam_wd", "adam(lr=0.01, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.1)",
         lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
        ("adamw", "adamw(lr=0.01)", lambda ps: torch.optim.AdamW(ps, lr=0.01)),
    ]
    why = ("N optimizer steps in float32 against float64: each step's rounding (1e-7 relative)\n"
           "compounds; the issue's bar is 1e-5 relative")
    for name, om, opt in optims:
        f = TrainFx(f"train_{name}", N, om, opt,
                    lambda t: F.cross_entropy(mlp(t), t["label"]), "cross_entropy(logits, label)",
                    rtol=1e-5, atol=1e-6, why=why)
        Fx.registry.append(f)
        f.inp("x", [N, B, D], -2, 2).inp("label", data=f.rng.integers(0, C, size=(N, B)).astype(np.int32))
        f.par("w1", [H, D], -0.5, 0.5).par("b1", [H], -0.1, 0.1).par("w2", [C, H], -0.5, 0.5).par("b2", [C], -0.1, 0.1)
        f.let(mlp_mlg)
    # a frozen param stays as it is; mse_loss
    f = TrainFx("train_frozen_mse", N, "adam(lr=0.05)", lambda ps: torch.optim.Adam(ps, lr=0.05),
                lambda t: F.mse_loss(F.linear(torch.relu(F.linear(t["x"], t["w1"])), t["w2"]), t["y"]),
                "mse_loss(linear(relu(linear(x, w1)), w2), y)", frozen=["w1"], rtol=1e-5, atol=1e-6, why=why)
    Fx.registry.append(f)
    f.inp("x", [N, B, D]).inp("y", [N, B, 2]).par("w1", [H, D], -0.5, 0.5).par("w2", [2, H], -0.5, 0.5)

# ---------------------------------------------------------------------------------------------
# Types (issue 11): every dtype through inputs, params, consts, outputs, and the ops on them.
# References compute in NumPy on the exact values (int64 / float64) and apply the output
# dtype's rounding (half: to nearest even) or wrapping (8-bit integers) at the end, as each
# mlg op does where it stores.

F16_WHY = "the output is float16: the kernel rounds its f32 result, the reference its float64 one, to the nearest half; they may differ by one half ulp (2^-11 relative)"


def npv(t, name):
    """Input or param `name` of a reference call as a NumPy array of its file dtype."""
    return t[name].numpy()


def wrap(a, dtype):
    """Integers kept to dtype's width (two's complement), as mlg's 8-bit stores do."""
    return np.asarray(a, dtype=np.int64).astype(NP_DTYPES[dtype])


def sat_i32(x):
    """mlg's float → int: toward zero, saturating at the int32 range, NaN → 0 (cast.c)."""
    x = np.asarray(x, dtype=np.float64)
    r = np.where(np.isnan(x), 0, np.trunc(np.clip(x, -2147483648.0, 2147483647.0)))
    return r.astype(np.int64)


def cast_ref(x, src, dst):
    """cast(x, dtype=dst) of NumPy values x of mlg dtype src (mlg semantics, ONNX Cast where it
    defines them)."""
    with np.errstate(over="ignore", invalid="ignore"):  # to f16: overflow is infinity
        if dst == "bool":
            return x != 0
        if dst in ("f32", "f16"):
            return x.astype(np.float64).astype(np.float32).astype(NP_DTYPES[dst])
        if src in ("f32", "f16"):
            return wrap(sat_i32(x), dst)
        return wrap(x.astype(np.int64), dst)


def types_and_logic():
    rng_vals = np.array([-2.75, -1.5, -0.5, -0.0, 0.0, 0.25, 1.0, 2.5], dtype=np.float32)

    # ---- the dtypes through a model: inputs, params, consts, outputs ----
    f = fx("types_f16_arith", rtol=1e-3, atol=1e-3, why=F16_WHY)
    f.inp("a", data=f.u([3, 5], -4, 4).astype(np.float16))
    f.inp("b", data=f.u([5], -2, 2).astype(np.float16)).inp("c", [3, 5])
    f.out("y", "a * b + a", lambda t: (npv(t, "a").astype(np.float64) * npv(t, "b")).astype(
        np.float16).astype(np.float64) + npv(t, "a"), "f16")
    f.out("z", "exp(b) - 1.0", lambda t: np.exp(npv(t, "b").astype(np.float64)) - 1.0, "f16")
    f.out("w", "a + c", lambda t: npv(t, "a").astype(np.float64) + npv(t, "c"))  # f16, f32: f32

    f = fx("types_u8_wrap").inp("a", data=np.array([0, 7, 200, 250, 255, 128], np.uint8))
    f.inp("b", data=np.array([3, 255, 100, 10, 1, 128], np.uint8))
    f.out("s", "a + b", lambda t: wrap(npv(t, "a").astype(np.int64) + npv(t, "b"), "u8"), "u8")
    f.out("d", "a - b", lambda t: wrap(npv(t, "a").astype(np.int64) - npv(t, "b"), "u8"), "u8")
    f.out("m", "a * 3", lambda t: wrap(npv(t, "a").astype(np.int64) * 3, "u8"), "u8")
    f.out("x", "maximum(a, b)", lambda t: np.maximum(npv(t, "a"), npv(t, "b")), "u8")

    f = fx("types_i8_wrap").inp("a", data=np.array([-128, -5, 0, 3, 127, 100], np.int8))
    f.inp("b", data=np.array([1, -128, 5, -3, 1, 100], np.int8))
    f.out("n", "-a", lambda t: wrap(-npv(t, "a").astype(np.int64), "i8"), "i8")
    f.out("abs_a", "abs(a)", lambda t: wrap(np.abs(npv(t, "a").astype(np.int64)), "i8"), "i8")
    f.out("s", "a + b", lambda t: wrap(npv(t, "a").astype(np.int64) + npv(t, "b"), "i8"), "i8")
    f.out("lo", "minimum(a, b)", lambda t: np.minimum(npv(t, "a"), npv(t, "b")), "i8")

    # i64 inputs are computed as i32; integers of different widths promote (i8 + u8 → i32).
    f = fx("types_int_promote")
    f.inp("ids", data=np.array([[5, -7, 2147483000], [0, 1, -2147483000]], np.int64))
    f.inp("k", data=np.array([1, 2, 3], np.int32))
    f.inp("s", data=np.array([-100, 100, 7], np.int8)).inp("u", data=np.array([200, 255, 0], np.uint8))
    f.out("y", "ids + k", lambda t: npv(t, "ids") + npv(t, "k"), "i64")
    f.out("z", "s + u", lambda t: npv(t, "s").astype(np.int64) + npv(t, "u"), "i32")
    f.out("w", "ids * 2 - 1", lambda t: wrap(npv(t, "ids") * 2 - 1, "i32").astype(np.int64), "i64")

    # Params and consts of every dtype, from weights.safetensors and from literals.
    f = fx("types_params_consts", rtol=1e-3, atol=1e-3, why=F16_WHY)
    f.inp("x", data=f.u([2, 4], -2, 2).astype(np.float16))
    f.par("wh", data=f.u([4], -2, 2).astype(np.float16))
    f.par("wb", data=np.array([True, False, False, True]))
    f.par("wi", data=np.array([-3, 9, -128, 127], np.int8))
    f.par("wl", data=np.array([[1, -1, 3, 2**31 - 1]], np.int64))
    f.const("const cu : u8[4] = [0, 1, 200, 255]")
    f.const("const cb : bool[4] = [true, false, 1, 0]")
    f.const("const ch : f16[2] = [0.5, -65504]")
    f.out("y", "where(wb, x * wh, x)", lambda t: np.where(
        npv(t, "wb"), (npv(t, "x").astype(np.float64) * npv(t, "wh")), npv(t, "x")), "f16")
    f.out("i", "wi + cu", lambda t: npv(t, "wi").astype(np.int64) + np.array([0, 1, 200, 255]), "i32")
    f.out("l", "wl", lambda t: npv(t, "wl"), "i64")
    f.out("b", "logical_xor(wb, cb)", lambda t: npv(t, "wb") ^ np.array([1, 0, 1, 0], bool), "bool")
    f.out("h", "ch * 2.0", lambda t: np.array([1.0, -131008.0]), "f16")   # -65504·2 → -inf
    f.tol(1e-3, 1e-3, F16_WHY)

    # A bool input straight through, and into an f32 computation.
    f = fx("types_bool_io").inp("m", data=f.rng.random([3, 4]) < 0.5).inp("x", [3, 4])
    f.out("m2", "m", lambda t: npv(t, "m"), "bool")
    f.out("y", "x * cast(m, dtype=f32)", lambda t: t["x"] * t["m"].to(t["x"].dtype))

    # ---- comparisons: broadcasting, scalars, NaN, every operand type ----
    cmp = {"equal": np.equal, "not_equal": np.not_equal, "less": np.less,
           "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal}
    for op, fn in cmp.items():
        f = fx(f"{op}_bcast")
        a = f.rng.choice(rng_vals, size=[3, 1, 4]).astype(np.float32)
        a[0, 0, 1] = np.nan
        b = f.rng.choice(rng_vals, size=[5, 4]).astype(np.float32)
        f.inp("a", data=a).inp("b", data=b)
        f.out("y", f"{op}(a, b)", lambda t, fn=fn: fn(npv(t, "a"), npv(t, "b")), "bool")
    f = fx("less_scalar").inp("x", data=rng_vals)
    f.out("y", "less(x, 0)", lambda t: npv(t, "x") < 0, "bool")
    f.out("z", "greater_equal(0.25, x)", lambda t: np.float32(0.25) >= npv(t, "x"), "bool")
    f = fx("equal_int_types").inp("a", data=np.array([[1, -2, 3], [4, 0, -6]], np.int32))
    f.inp("b", data=np.array([1, 0, 3], np.int64)).inp("u", data=np.array([255, 0, 3], np.uint8))
    f.out("y", "equal(a, b)", lambda t: npv(t, "a") == npv(t, "b"), "bool")
    f.out("z", "greater(u, a)", lambda t: npv(t, "u").astype(np.int64) > npv(t, "a"), "bool")
    f.out("w", "not_equal(u, 255)", lambda t: npv(t, "u") != 255, "bool")
    f = fx("compare_bools").inp("p", data=np.array([True, True, False, False]))
    f.inp("q", data=np.array([True, False, True, False]))
    f.out("lt", "less(p, q)", lambda t: npv(t, "p").astype(int) < npv(t, "q").astype(int), "bool")
    f.out("eq", "equal(p, q)", lambda t: npv(t, "p") == npv(t, "q"), "bool")
    f = fx("compare_f16", rtol=0, atol=0)
    f.inp("a", data=np.array([0.1, -2, 65504, 1e-7], np.float16))
    f.inp("b", data=np.array([0.1, -2.5, 1e5, 0], np.float32))
    f.out("y", "less_equal(a, b)", lambda t: npv(t, "a").astype(np.float32) <= npv(t, "b"), "bool")

    # ---- logic ----
    f = fx("logical_ops").inp("p", data=f.rng.random([2, 3, 4]) < 0.5)
    f.inp("q", data=f.rng.random([3, 1]) < 0.5)
    f.out("a", "logical_and(p, q)", lambda t: npv(t, "p") & npv(t, "q"), "bool")
    f.out("o", "logical_or(p, q)", lambda t: npv(t, "p") | npv(t, "q"), "bool")
    f.out("x", "logical_xor(p, q)", lambda t: npv(t, "p") ^ npv(t, "q"), "bool")
    f.out("n", "logical_not(q)", lambda t: ~npv(t, "q"), "bool")
    f.out("c", "logical_and(p, true)", lambda t: npv(t, "p"), "bool")

    # ---- where ----
    f = fx("where_bcast").inp("c", data=f.rng.random([4, 1]) < 0.5).inp("a", [3, 1, 5])
    f.inp("b", [5])
    f.out("y", "where(c, a, b)", lambda t: torch.where(t["c"], t["a"], t["b"]))
    f = fx("where_scalar_branches").inp("x", [3, 6], -2, 2)
    f.out("relu_like", "where(greater(x, 0), x, 0)", lambda t: torch.where(t["x"] > 0, t["x"], 0.0))
    f.out("sign", "where(less(x, 0), -1.0, 1.0)", lambda t: torch.where(t["x"] < 0, -1.0, 1.0) +
          0 * t["x"])
    f = fx("where_int_f16", rtol=1e-3, atol=1e-3, why=F16_WHY)
    f.inp("m", data=np.array([[True, False, True], [False, True, False]]))
    f.inp("i", data=np.array([1, -2, 300], np.int32)).inp("h", data=np.array([0.5, 1, 2], np.float16))
    f.out("wi", "where(m, i, 7)", lambda t: np.where(npv(t, "m"), npv(t, "i"), 7), "i32")
    f.out("wh", "where(m, h, -1.5)", lambda t: np.where(npv(t, "m"), npv(t, "h"), -1.5), "f16")

    # ---- cast: every source to every target, the edges ONNX defines and the ones mlg does ----
    srcs = {
        "f32": np.array([-300.75, -128.5, -1.5, -0.75, -0.0, 0.0, 0.5, 1.99, 127.9, 200.5, 255.5,
                         65519.0, 65520.0, 1e10, -1e10, np.nan, np.inf, -np.inf], np.float32),
        "f16": np.array([-2.5, -0.0, 0.25, 3.75, 300, 65504, -np.inf], np.float16),
        "i32": np.array([-2147483648, -129, -128, -1, 0, 1, 127, 128, 255, 256, 70000,
                         2147483647], np.int32),
        "i64": np.array([-2147483648, -5, 0, 7, 2147483647], np.int64),
        "i8": np.array([-128, -1, 0, 1, 127], np.int8),
        "u8": np.array([0, 1, 127, 128, 255], np.uint8),
        "bool": np.array([True, False, True]),
    }
    for src, x in srcs.items():
        f = fx(f"cast_from_{src}", rtol=0, atol=0)
        f.inp("x", data=x)
        for dst in NP_DTYPES:
            f.out(f"to_{dst}", f"cast(x, dtype={dst})",
                  lambda t, src=src, dst=dst: cast_ref(npv(t, "x"), src, dst), dst)
        f.why = ("exact: a cast is one rounding (f16: to nearest even, from the value itself), "
                 "or none")
    # to f16 from the f32 values that tie between two halves (rounds to even)
    f = fx("cast_f16_ties", rtol=0, atol=0, why="exact: one rounding to nearest even")
    f.inp("x", data=np.array([1 + 2**-11, 1 + 3 * 2**-11, 2**-25, 3 * 2**-25, 2**-24 + 2**-25,
                              65504 + 16, -(1 + 2**-11)], np.float32))
    f.out("y", "cast(x, f16)", lambda t: cast_ref(npv(t, "x"), "f32", "f16"), "f16")

    # ---- argmax / argmin ----
    for op, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
        f = fx(f"{op}_axes")
        x = f.rng.choice(np.arange(-3, 4, dtype=np.float32), size=[3, 4, 5])  # ties galore
        f.inp("x", data=x)
        f.out("last", f"{op}(x)", lambda t, fn=fn: fn(npv(t, "x"), axis=-1), "i32")
        f.out("first", f"{op}(x, axis=0)", lambda t, fn=fn: fn(npv(t, "x"), axis=0), "i32")
        f.out("keep", f"{op}(x, axis=1, keepdims=1)",
              lambda t, fn=fn: np.expand_dims(fn(npv(t, "x"), axis=1), 1), "i32")
    f = fx("argmax_nan_int").inp("x", data=np.array([[1, np.nan, 3, np.nan], [2, 5, 5, -1]],
                                                    np.float32))
    f.inp("u", data=np.array([7, 255, 3, 255], np.uint8))
    f.out("y", "argmax(x, axis=1)", lambda t: np.argmax(npv(t, "x"), axis=1), "i32")
    f.out("z", "argmin(x, axis=-1)", lambda t: np.argmin(npv(t, "x"), axis=1), "i32")
    f.out("u_max", "argmax(u)", lambda t: np.argmax(npv(t, "u")), "i32")

    # ---- fused with the float ops, and folded when known at compile time ----
    f = fx("comp_masked_fill").inp("x", [4, 6], -2, 2)
    f.out("y", "where(less(x, -0.5), 0, x * 2) + 1", lambda t: torch.where(
        t["x"] < -0.5, 0.0, t["x"] * 2) + 1)
    f = fx("comp_count_positive").inp("x", [3, 7], -1, 1)
    f.out("n", "sum(cast(greater(x, 0), dtype=f32), axes=[1])",
          lambda t: torch.sum((t["x"] > 0).to(t["x"].dtype), dim=1))
    f.out("top", "argmax(softmax(x, axis=-1))", lambda t: np.argmax(t["x"].numpy(), axis=-1), "i32")
    # argmax's elementwise producers computed in its loads, its consumers in its stores
    f = fx("comp_argmax_fused").inp("x", [5, 7], -2, 2)
    f.out("y", "argmax(x * 2.0 - 1.0, axis=1) + 1",
          lambda t: np.argmax(npv(t, "x").astype(np.float64) * 2 - 1, axis=1) + 1, "i32")
    f.out("z", "argmin(exp(x), axis=0, keepdims=1)",
          lambda t: np.argmin(np.exp(npv(t, "x").astype(np.float64)), axis=0)[None, :], "i32")
    f = fx("comp_folded_types").inp("x", [4])
    f.const("const k : f32[4] = [-1.5, 0.25, 0.75, 2]")
    f.const("const ids : i64[2] = [3, -4]")
    f.out("y", "x + cast(less(k, 0.5), dtype=f32) * cast(cast(k, i8), f32)",
          lambda t: t["x"] + torch.tensor([-1.0, 0.0, 0.0, 0.0], dtype=t["x"].dtype))
    f.out("g", "gather(x, ids)", lambda t: t["x"][[3, 0]])
    f.out("c", "cast(cast(k * 100.0, u8), i32)",
          lambda t: np.array([106, 25, 75, 200], np.int64), "i32")


def build_all():
    elementwise()
    linalg()
    conv()
    conv_more()
    pooling()
    resizing()
    normalization()
    reductions()
    scans()
    attention()
    shapes()
    compositions()
    in_place_views()
    types_and_logic()
    training_ops()
    gradients()
    training()
    names = [f.name for f in Fx.registry]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"duplicate fixture names: {sorted(dup)}")
    return Fx.registry


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    ap.add_argument("--only", default=None, help="only fixtures whose name starts with this")
    ap.add_argument("--check", action="store_true",
                    help="only check tolerances against float32 PyTorch; write nothing")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)       # reproducible reductions
    fixtures = build_all()
    if args.only:
        fixtures = [f for f in fixtures if f.name.startswith(args.only)]
    if not args.check:
        if args.only is None and os.path.isdir(args.out):
            # every folder but the q_* ones, which tools/gen_quant_fixtures.py owns
            for name in os.listdir(args.out):
                if not name.startswith("q_"):
                    shutil.rmtree(os.path.join(args.out, name))
        for f in fixtures:
            d = os.path.join(args.out, f.name)
            if os.path.isdir(d):
                shutil.rmtree(d)
        os.makedirs(args.out, exist_ok=True)
    for f in fixtures:
        worst = f.write(args.out, check_only=args.check)
        if args.verbose or worst > 0.3:
            print(f"{f.name:32s} float32 torch uses {worst:.3f} of its tolerance",
                  file=sys.stderr)
    print(f"{len(fixtures)} fixtures {'checked' if args.check else 'written to ' + args.out}")


if __name__ == "__main__":
    main()

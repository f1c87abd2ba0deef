"""The workloads of mlg's benchmark suite (issue 6): what each runs, its sizes (full and --quick),
its inputs and the work it does (FLOPs or the bytes it must move at least).

A workload is an .mlg (tools/bench/mlg/ or models/) with -D bindings, plus the analytic work
that turns a time into a rate: `flops` for compute-bound workloads, `bytes` (each input read once,
each output written once) for memory-bound ones. `limit` says which device limit the rate is
compared with: "flop" (peak FP32) or "mem" (measured copy bandwidth).
"""
import os
from dataclasses import dataclass, field

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH_DIR))


def mlg_path(name):
    return os.path.join(BENCH_DIR, "mlg", name)


def model_path(name):
    return os.path.join(ROOT, "models", name)


@dataclass
class Workload:
    name: str                 # "sgemm_1024", "resnet18_b16"
    family: str               # sgemm, eltwise, softmax, layer_norm, attention, mlp, resnet18,
                              # transformer
    kind: str                 # "kernel" (compare device times) or "model" (compare wall times)
    source: str               # the .mlg
    dims: dict                # -D bindings
    inputs: dict              # input name -> shape
    output: str               # the output compared against the reference
    flops: float = 0.0
    bytes: float = 0.0
    limit: str = "flop"       # "flop" or "mem"
    params: dict = field(default_factory=dict)  # family-specific sizes for the peers
    dtype: str = "f32"        # the inputs' dtype: "f32", or "f16" (written as float16 .npy)
    check_tol: float = 1e-3   # largest |mlg - peer| / max |peer| that passes the output check

    def d_flags(self):
        out = []
        for k, v in self.dims.items():
            out += ["-D", f"{k}={v}"]
        return out


def sgemm(n):
    return Workload(f"sgemm_{n}", "sgemm", "kernel", mlg_path("sgemm.mlg"), {"N": n},
                    {"a": (n, n), "b": (n, n)}, "c", flops=2.0 * n ** 3, bytes=3 * 4.0 * n * n,
                    limit="flop", params={"n": n})


def hgemm(n):
    """Half-precision GEMM (issue 17): f16 operands and result, f32 accumulation; on NVIDIA GPUs
    mlg runs it on tensor cores (docs/performance.md, "Tensor cores"), the torch peer as
    cuBLAS does. Its rate is still set against peak FP32 (the limits measure no tensor-core
    peak), so its "% of limit" exceeds 100 on tensor cores. The check allows 5e-3 of the largest
    output: both sides round to halves, and cuBLAS may reduce in reduced precision."""
    return Workload(f"hgemm_{n}", "hgemm", "kernel", mlg_path("hgemm.mlg"), {"N": n},
                    {"a": (n, n), "b": (n, n)}, "c", flops=2.0 * n ** 3, bytes=3 * 2.0 * n * n,
                    limit="flop", params={"n": n}, dtype="f16", check_tol=5e-3)


def eltwise(n):
    return Workload(f"eltwise_chain_{n}", "eltwise", "kernel", mlg_path("eltwise_chain.mlg"), {"N": n},
                    {"x": (n,)}, "y", flops=6.0 * n, bytes=2 * 4.0 * n, limit="mem", params={"n": n})


def rowwise(family, rows, cols):
    src = "softmax.mlg" if family == "softmax" else "layer_norm.mlg"
    per = 5.0 if family == "softmax" else 8.0
    return Workload(f"{family}_{rows}x{cols}", family, "kernel", mlg_path(src), {"R": rows, "C": cols},
                    {"x": (rows, cols)}, "y", flops=per * rows * cols, bytes=2 * 4.0 * rows * cols,
                    limit="mem", params={"rows": rows, "cols": cols})


def mlp(n):
    return Workload(f"mlp_b{n}", "mlp", "model", model_path("mlp.mlg"), {"N": n}, {"x": (n, 784)}, "probs",
                    flops=2.0 * n * (784 * 256 + 256 * 10), limit="flop", params={"n": n})


def resnet18_flops(n, s):
    """Conv and fc FLOPs (2 per multiply-add) of ResNet-18 on n images of s×s."""
    total = 0.0

    def conv(cin, cout, k, hw_out):
        return 2.0 * cout * hw_out * hw_out * cin * k * k

    h = s // 2
    total += conv(3, 64, 7, h)
    h //= 2  # max pool
    cin = 64
    for stage, c in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            h_out = h // stride
            total += conv(cin, c, 3, h_out) + conv(c, c, 3, h_out)
            if stride != 1 or cin != c:
                total += conv(cin, c, 1, h_out)
            cin, h = c, h_out
    total += 2.0 * 512 * 1000
    return n * total


def resnet18(n, s=224):
    return Workload(f"resnet18_b{n}" + ("" if s == 224 else f"_s{s}"), "resnet18", "model",
                    model_path("resnet18.mlg"), {"N": n, "S": s}, {"x": (n, 3, s, s)}, "logits",
                    flops=resnet18_flops(n, s), limit="flop", params={"n": n, "s": s})


def transformer(b, t, c, h):
    flops = 2.0 * b * t * 12 * c * c + 4.0 * b * t * t * c
    return Workload(f"transformer_C{c}_T{t}", "transformer", "model", model_path("transformer_block.mlg"),
                    {"B": b, "T": t, "C": c, "H": h}, {"x": (b, t, c)}, "out", flops=flops, limit="flop",
                    params={"b": b, "t": t, "c": c, "h": h})


def attention(t, causal, b=1, h=12, d=64, precision="f32"):
    """scaled_dot_product_attention over b×h heads: 4·T²·D FLOPs per head (q·k and p·v), half of
    it under the causal mask. At precision f16, q, k and v are declared f16 (the *_f16.mlg
    models): the tensor-core kernel reads them as halves, as PyTorch's half SDPA (flash) does
    (--precision=f16 leaves a model's f32 inputs f32)."""
    flops = 4.0 * b * h * t * t * d * (0.5 if causal else 1.0)
    f16 = precision == "f16"
    src = ("attention" if causal else "attention_full") + ("_f16.mlg" if f16 else ".mlg")
    shape = (b, h, t, d)
    return Workload(f"attention_{'causal' if causal else 'full'}_T{t}", "attention", "kernel", mlg_path(src),
                    {"B": b, "H": h, "T": t, "D": d}, {"q": shape, "k": shape, "v": shape}, "y",
                    flops=flops, limit="flop", params={"causal": causal}, dtype="f16" if f16 else "f32")


def all_workloads(quick, precision="f32"):
    """The suite, in the order it runs. --quick: the same families at sizes a 2-core CPU runs in
    seconds. The hgemm workloads read f16 operands at either precision; with precision f16
    (run.py --precision f16) every workload is compiled with mlgc --precision=f16."""
    if quick:
        return ([sgemm(n) for n in (64, 128, 100)] + [hgemm(128)] + [eltwise(1 << 16)] +
                [rowwise(f, 256, c) for f in ("softmax", "layer_norm") for c in (128, 512)] +
                [attention(128, c, h=2, precision=precision) for c in (True, False)] +
                [mlp(1), mlp(16), resnet18(1, 32), transformer(1, 16, 64, 4)])
    return ([sgemm(n) for n in (256, 512, 1024, 2048, 4096, 1000, 4095)] +
            [hgemm(n) for n in (2048, 4096)] + [eltwise(1 << 26)] +
            [rowwise(f, 8192, c) for f in ("softmax", "layer_norm") for c in (1024, 4096)] +
            [attention(t, c, precision=precision) for t in (1024, 4096) for c in (True, False)] +
            [mlp(1), mlp(256), resnet18(1), resnet18(16), transformer(1, 128, 768, 12),
             transformer(1, 1024, 768, 12)])

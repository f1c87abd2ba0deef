#!/usr/bin/env python3
"""mlg beside onnxruntime on the exported models of tests/onnx/ (tools/gen_onnx_models.py):
the same .onnx file imported by mlg and run by onnxruntime, on the CPU or on a GPU.

    python3 tools/bench/onnx_models.py [--build build] [--device cpu|gpu] [--backend opencl|vulkan]
                                       [--runs 50] [--warmup 5]

For each model it prints the ONNX nodes and op types, mlg's ops after import and optimization,
its launches and distinct kernels after fusion (mlgc --emit=fused), the largest difference
from onnxruntime's output on the committed input, and the median time per run: mlg's wall
and device time from `mlgrun --bench` (copying the input in and the output out included in
wall), onnxruntime's wall time per session.run (CPU provider, or CUDA with --device gpu).
With --depthwise it runs MobileNet-V2's depthwise layers instead (3×3 convolutions, one
channel per group, then ReLU; built here as ONNX with random weights and input, seed 0).
It builds nothing: BUILD/bin/mlgc and BUILD/bin/mlgrun must exist (a release build).
Needs numpy, onnx and onnxruntime (onnxruntime-gpu for --device gpu).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = [("resnet", []), ("mobilenet", []), ("gpt2", ["-D", "batch=2"])]
BENCH_RE = re.compile(r"^bench: median ([0-9.]+) ms wall, ([0-9.]+) ms device over (\d+) runs$")
FUSED_RE = re.compile(r"^fusion \S+: (\d+) ops, (\d+) launches per run of (\d+) distinct kernels?$")


def run(cmd, env=None):
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}")
    return res.stdout


def ort_time(path, x, device, runs, warmup):
    import onnxruntime as ort
    providers = ["CUDAExecutionProvider"] if device == "gpu" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(path, providers=providers)
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        y = sess.run(None, feed)[0]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = sess.run(None, feed)[0]
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), y


# MobileNet-V2's depthwise layers at batch 1: channels, input side, stride
DEPTHWISE = [(96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (384, 14, 1), (960, 7, 1)]


def depthwise_model(work, c, h, s):
    """Writes the ONNX Conv(group=c, 3x3, stride s, pads 1) + Relu of x: f32[1, c, h, h] and
    an input for it; returns (name, directory)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    name = f"dw{c}x{h}s{s}"
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    w = numpy_helper.from_array(rng.standard_normal((c, 1, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "b")
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], group=c, strides=[s, s], pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c"], ["y"])
    g = helper.make_graph([conv, relu], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(d, "model.onnx"))
    np.save(os.path.join(d, "input.npy"), rng.standard_normal((1, c, h, h)).astype(np.float32))
    return name, d


def mobilenet_v2_model(work, n=1, side=224):
    """Writes MobileNet-V2 (torchvision's layout, batch norm folded into the convolutions:
    Conv + bias, Clip(0, 6) for ReLU6, residual Adds, GlobalAveragePool, Flatten, Gemm to 1000
    classes) as ONNX with random weights (seed 0), and an input; returns (name, directory)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    name = f"mobilenetv2_b{n}"
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    nodes, inits = [], []
    count = [0]

    def fresh(p):
        count[0] += 1
        return f"{p}{count[0]}"

    def conv(x, cin, cout, k, stride, groups, relu6):
        w, b, y = fresh("w"), fresh("b"), fresh("t")
        fan_in = cin // groups * k * k
        inits.append(numpy_helper.from_array((rng.standard_normal((cout, cin // groups, k, k)) *
                                              np.sqrt(2.0 / fan_in)).astype(np.float32), w))
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(cout)).astype(np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], group=groups, strides=[stride, stride],
                                      pads=[k // 2] * 4, kernel_shape=[k, k]))
        if not relu6:
            return y
        lo, hi, z = fresh("lo"), fresh("hi"), fresh("t")
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), lo))
        inits.append(numpy_helper.from_array(np.array(6.0, np.float32), hi))
        nodes.append(helper.make_node("Clip", [y, lo, hi], [z]))
        return z

    x = conv("x", 3, 32, 3, 2, 1, True)
    cin = 32
    for t, c, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(reps):
            stride = s if i == 0 else 1
            h = conv(x, cin, cin * t, 1, 1, 1, True) if t != 1 else x
            h = conv(h, cin * t, cin * t, 3, stride, cin * t, True)
            h = conv(h, cin * t, c, 1, 1, 1, False)
            if stride == 1 and cin == c:
                y = fresh("t")
                nodes.append(helper.make_node("Add", [x, h], [y]))
                h = y
            x, cin = h, c
    x = conv(x, cin, 1280, 1, 1, 1, True)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"]))
    inits.append(numpy_helper.from_array((0.01 * rng.standard_normal((1000, 1280))).astype(np.float32), "fc_w"))
    inits.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, side, side])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(d, "model.onnx"))
    np.save(os.path.join(d, "input.npy"), rng.standard_normal((n, 3, side, side)).astype(np.float32))
    return name, d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--backend", choices=["opencl", "vulkan"], default="opencl")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--depthwise", action="store_true", help="MobileNet-V2's depthwise layers instead")
    ap.add_argument("--mobilenetv2", action="store_true", help="a whole MobileNet-V2 (batch 1, 224²) instead")
    args = ap.parse_args()
    mlgc, mlgrun = os.path.join(args.build, "bin", "mlgc"), os.path.join(args.build, "bin", "mlgrun")
    for tool in (mlgc, mlgrun):
        if not os.path.exists(tool):
            sys.exit(f"{tool} is missing: build first (cmake --build {args.build})")
    import onnx

    work = tempfile.mkdtemp(prefix="mlg-onnx-bench-")
    mlg_device = args.device if args.backend == "opencl" else "vulkan:0"
    rows = []
    if args.depthwise or args.mobilenetv2:
        models = [depthwise_model(work, *shape) + ([],) for shape in DEPTHWISE] if args.depthwise else []
        models += [mobilenet_v2_model(work) + ([],)] if args.mobilenetv2 else []
    else:
        models = [(name, os.path.join(ROOT, "tests", "onnx", name), flags) for name, flags in MODELS]
    for name, d, flags in models:
        path = os.path.join(d, "model.onnx")
        x = np.load(os.path.join(d, "input.npy"))
        model = onnx.load(path)
        nodes = len(model.graph.node)
        op_types = sorted({n.op_type for n in model.graph.node})
        hint = ["--device-hint=" + args.device, "--target", args.backend]
        fused = run([mlgc, path, "--emit=fused"] + flags + hint).splitlines()[0]
        m = FUSED_RE.match(fused)
        ops, launches, kernels = (m.group(1), m.group(2), m.group(3)) if m else ("?", "?", "?")
        bundle = os.path.join(work, f"{name}.mlgb")
        run([mlgc, path, "-o", bundle] + flags + hint)
        out_dir = os.path.join(work, name)
        cmd = [mlgrun, bundle, "--device", mlg_device, "--input", f"x={os.path.join(d, 'input.npy')}",
               "--bench", str(args.runs), "--warmup", str(args.warmup), "--output-dir", out_dir]
        last = run(cmd).strip().splitlines()[-1]
        b = BENCH_RE.match(last)
        if not b:
            raise RuntimeError(f"no bench line from mlgrun: {last!r}")
        y = np.load(os.path.join(out_dir, "y.npy"))
        ort_ms, ref = ort_time(path, x, args.device, args.runs, args.warmup)
        err = float(np.max(np.abs(y.astype(np.float64) - ref.astype(np.float64))))
        rows.append((name, nodes, ", ".join(op_types), ops, launches, kernels, err, float(b.group(1)),
                     float(b.group(2)), ort_ms))
    print(f"device: {args.device} ({args.backend}), {args.runs} runs after {args.warmup} warm-up\n")
    print("| model | ONNX nodes | ONNX ops | mlg ops | launches | distinct kernels | max abs error vs onnxruntime "
          "| mlg wall ms | mlg device ms | onnxruntime ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.2g} | {r[7]:.3f} | {r[8]:.3f} "
              f"| {r[9]:.3f} |")


if __name__ == "__main__":
    main()

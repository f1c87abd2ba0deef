#!/usr/bin/env python3
"""int8 against f32: mlg's quantized kernels (qlinear_conv2d, qlinear_matmul) beside its f32
ones and beside onnxruntime's QLinearConv / QLinearMatMul and f32 Conv / MatMul on the CPU, plus
the bundle size of ResNet-18 in f32 and in int8 (issue 14).

    build-venv/bin/python tools/bench/quant.py [--build DIR] [--device cpu] [--quick]
                                               [--runs N] [--out FILE.md]

Workloads (tools/bench/mlg/): conv_stack.mlg / conv_stack_int8.mlg (ResNet-18's 3×3 convs,
64@56² → 512@7², bias + ReLU, batch 1), sgemm.mlg / qgemm.mlg (N×N, N = 4096; --quick: 1024).
mlg's time is `mlgrun --bench` (median wall time of the runs after a warm-up, and device time);
onnxruntime's is the median of as many session.run calls after one warm-up, on all cores
(intra-op threads = the machine's cores), graph optimizations on. onnxruntime is a benchmark
peer only (PyPI onnxruntime, onnx, numpy, in a venv: docs/testing.md). The values of the
weights do not change the time of either: mlg's int8 weights are zeros (ones for scales),
onnxruntime's random.

Bundle sizes: mlgc models/resnet18.mlg and tools/bench/mlg/resnet18_int8.mlg (every conv a
qlinear_conv2d with i8 weights, the classifier a qlinear_matmul).
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH_RE = re.compile(r"^bench: median ([0-9.]+) ms wall, ([0-9.]+) ms device over (\d+) runs$")

# (c_in, c_out, stride) of conv_stack.mlg, input 64×56×56
STACK = [(64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
         (512, 512, 1)]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mlg_time(build, source, dims, device, runs, tmp):
    # mlgrun compiles the source for the device it runs on (its target, device class and GEMM
    # tuning), as a user running a model would.
    cmd = [os.path.join(build, "bin", "mlgrun"), source, "--device", device]
    for k, v in dims.items():
        cmd += ["-D", f"{k}={v}"]
    out = subprocess.run(cmd + ["--bench", str(runs), "--warmup", "1", "--quiet", "--output-dir", tmp],
                         check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        m = BENCH_RE.match(line.strip())
        if m:
            return float(m.group(1)), float(m.group(2))
    raise SystemExit(f"no bench line from mlgrun for {source}:\n{out.stdout}\n{out.stderr}")


def ort_session(nodes, inputs, inits, outputs):
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    g = helper.make_graph(nodes, "bench", inputs,
                          [helper.make_empty_tensor_value_info(o) for o in outputs],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_time(sess, feeds, runs):
    sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def ort_conv_stack(quant, size, runs):
    from onnx import TensorProto, helper
    rng = np.random.default_rng(0)
    nodes, inits = [], {}
    x = "x"
    if quant:
        inits.update(s=np.float32(0.02), zp=np.uint8(128))
    for i, (cin, c, st) in enumerate(STACK):
        y = f"h{i}"
        attrs = dict(strides=[st, st], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
        if quant:
            inits[f"w{i}"] = rng.integers(-128, 128, size=(c, cin, 3, 3)).astype(np.int8)
            inits[f"ws{i}"] = np.full(c, 0.01, np.float32)
            inits[f"wz{i}"] = np.zeros(c, np.int8)
            inits[f"b{i}"] = np.zeros(c, np.int32)
            nodes.append(helper.make_node("QLinearConv", [x, "s", "zp", f"w{i}", f"ws{i}", f"wz{i}",
                                                          "s", "zp", f"b{i}"], [y + "c"], **attrs))
            # ReLU on u8 with zero point 128: ORT fuses nothing here; Max with the zero point
            inits["zpv"] = np.uint8(128)
            nodes.append(helper.make_node("Max", [y + "c", "zpv"], [y]))
        else:
            inits[f"w{i}"] = (rng.standard_normal((c, cin, 3, 3)) * 0.05).astype(np.float32)
            inits[f"b{i}"] = np.zeros(c, np.float32)
            nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y + "c"], **attrs))
            nodes.append(helper.make_node("Relu", [y + "c"], [y]))
        x = y
    dt = TensorProto.UINT8 if quant else TensorProto.FLOAT
    sess = ort_session(nodes, [helper.make_tensor_value_info("x", dt, [1, 64, size, size])],
                       inits, [x])
    xv = (rng.integers(0, 256, size=(1, 64, size, size)).astype(np.uint8) if quant
          else rng.standard_normal((1, 64, size, size)).astype(np.float32))
    return ort_time(sess, {"x": xv}, runs)


def ort_gemm(quant, n, runs):
    from onnx import TensorProto, helper
    rng = np.random.default_rng(1)
    if quant:
        inits = dict(a_s=np.float32(0.02), a_zp=np.uint8(128), b_s=np.float32(0.01),
                     b_zp=np.int8(0), y_s=np.float32(0.5), y_zp=np.uint8(128))
        nodes = [helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s",
                                                    "y_zp"], ["y"])]
        ins = [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
               helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])]
        feeds = {"a": rng.integers(0, 256, (n, n)).astype(np.uint8),
                 "b": rng.integers(-128, 128, (n, n)).astype(np.int8)}
    else:
        inits = {}
        nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
        ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"]
        feeds = {k: rng.standard_normal((n, n)).astype(np.float32) for k in "ab"}
    return ort_time(ort_session(nodes, ins, inits, ["y"]), feeds, runs)


def bundle_size(build, source, tmp):
    out = os.path.join(tmp, os.path.basename(source) + ".size.mlgb")
    subprocess.run([os.path.join(build, "bin", "mlgc"), source, "-o", out], check=True)
    return os.path.getsize(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="1024² GEMM, 3 runs")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="also write the Markdown table here")
    ap.add_argument("--no-ort", action="store_true", help="leave onnxruntime out")
    args = ap.parse_args()
    n = 1024 if args.quick else 4096
    runs = 3 if args.quick else args.runs
    mlg = os.path.join(HERE, "mlg")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, f32_src, q_src, dims, ort_fn in (
                ("ResNet-18 conv stack (7 × 3×3 conv, batch 1, 64@56² → 512@7²)",
                 "conv_stack.mlg", "conv_stack_int8.mlg", {"S": 56},
                 lambda q: ort_conv_stack(q, 56, runs)),
                (f"GEMM {n}×{n}×{n}", "sgemm.mlg", "qgemm.mlg", {"N": n},
                 lambda q: ort_gemm(q, n, runs))):
            log(f"== {label}")
            f32 = mlg_time(args.build, os.path.join(mlg, f32_src), dims, args.device, runs, tmp)
            log(f"   mlg f32:  {f32[0]:.1f} ms wall, {f32[1]:.1f} ms device")
            q8 = mlg_time(args.build, os.path.join(mlg, q_src), dims, args.device, runs, tmp)
            log(f"   mlg int8: {q8[0]:.1f} ms wall, {q8[1]:.1f} ms device")
            of = oq = float("nan")
            if not args.no_ort:
                of, oq = ort_fn(False), ort_fn(True)
                log(f"   onnxruntime f32: {of:.1f} ms, int8: {oq:.1f} ms")
            rows.append((label, f32, q8, of, oq))
        r18 = bundle_size(args.build, os.path.join(ROOT, "models", "resnet18.mlg"), tmp)
        r18q = bundle_size(args.build, os.path.join(mlg, "resnet18_int8.mlg"), tmp)
    lines = [f"device: mlgrun --device {args.device}; onnxruntime CPUExecutionProvider, "
             f"{os.cpu_count()} threads; median of {runs} runs", "",
             "| workload | mlg f32 (ms) | mlg int8 (ms) | int8 / f32 | onnxruntime f32 (ms) | "
             "onnxruntime int8 (ms) |", "| --- | --- | --- | --- | --- | --- |"]
    for label, f32, q8, of, oq in rows:
        lines.append(f"| {label} | {f32[0]:.1f} | {q8[0]:.1f} | {q8[0] / f32[0]:.2f} | "
                     f"{of:.1f} | {oq:.1f} |")
    lines += ["", "| bundle | bytes |", "| --- | --- |",
              f"| ResNet-18 f32 (models/resnet18.mlg) | {r18:,} |",
              f"| ResNet-18 int8 (tools/bench/mlg/resnet18_int8.mlg) | {r18q:,} "
              f"({r18 / r18q:.2f}× smaller) |"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Training-step benchmark: one train step (forward, backward, optimizer update) of the same model,
batch and optimizer in mlg (mlgrun --train --bench) and in PyTorch eager, with the memory each
needs (docs/performance.md#training).

    python3 tools/bench/train.py [--device cpu|gpu|opencl:N|vulkan:N ...] [--quick]
                                 [--build DIR] [--out DIR] [--steps N] [--only NAME]

--device may be given several times (default: cpu); beside any device other than `cpu`, PyTorch
runs on CUDA when it has it (--torch-device cpu|cuda decides instead), else on the CPU. Per workload and
device it reports:

  mlg      median wall ms per step (mlgrun's clock around mlg_session_train_step) and the summed
           device time of the step's dispatches; memory: the bundle's device regions from
           mlgc --emit=plan (weights + io + arena + trained params + optimizer state), which is
           all a session allocates besides the programs.
  PyTorch  median wall ms per step of zero_grad, forward, loss, backward, optimizer.step (CPU:
           as many threads as the process has cores; CUDA: synchronized after each step); memory: torch.cuda.max_memory_allocated() over the
           timed steps (CUDA only; on the CPU PyTorch has no such counter and it is left out).

The models are written twice, here: as mlg text and as torch.nn modules with the same shapes,
initialisation scheme and optimizer hyperparameters (the values differ: the work does not).
It writes train.json and train.md into --out (default: tools/bench/results/train-<device>-<date>).
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH_RE = re.compile(r"^bench: median ([0-9.]+) ms wall, ([0-9.]+) ms device over (\d+) train steps$")
REGION_RE = re.compile(r"^region (\w+): (\d+) bytes$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Workloads: (name, batch, mlg text, torch module factory, input shape, classes, optimizer)

def mlp_mlg(name, sizes, opt):
    lines = [f"model {name} {{", "  dim N = 32", f"  input  x     : f32[N, {sizes[0]}]", "  input  label : i32[N]"]
    for i in range(len(sizes) - 1):
        std = (2.0 / sizes[i]) ** 0.5
        lines.append(f"  param  fc{i + 1}.weight : f32[{sizes[i + 1]}, {sizes[i]}] = normal(0, {std:.4g}, seed={i + 1})")
        lines.append(f"  param  fc{i + 1}.bias   : f32[{sizes[i + 1]}] = zeros")
    h = "x"
    for i in range(len(sizes) - 1):
        h = f"linear({h}, fc{i + 1}.weight, fc{i + 1}.bias)"
        if i < len(sizes) - 2:
            h = f"relu({h})"
    lines += [f"  output loss = cross_entropy({h}, label)", f"  train loss with {opt}", "}"]
    return "\n".join(lines) + "\n"


def cnn_mlg(name, c_in, hw, chans, classes, opt):
    lines = [f"model {name} {{", "  dim N = 32", f"  input  x     : f32[N, {c_in}, {hw}, {hw}]", "  input  label : i32[N]"]
    c, h, x = c_in, hw, "x"
    for i, co in enumerate(chans):
        std = (2.0 / (c * 9)) ** 0.5
        lines.append(f"  param  conv{i + 1}.weight : f32[{co}, {c}, 3, 3] = normal(0, {std:.4g}, seed={i + 1})")
        lines.append(f"  param  conv{i + 1}.bias   : f32[{co}] = zeros")
        x = (f"max_pool2d(relu(conv2d({x}, conv{i + 1}.weight, conv{i + 1}.bias, padding=[1, 1])), "
             f"kernel=[2, 2], stride=[2, 2])")
        c, h = co, h // 2
    feat = c * h * h
    lines.append(f"  param  fc.weight : f32[{classes}, {feat}] = normal(0, {(1.0 / feat) ** 0.5:.4g}, seed=9)")
    lines.append(f"  param  fc.bias   : f32[{classes}] = zeros")
    lines += [f"  h = flatten({x}, axis=1)", "  output loss = cross_entropy(linear(h, fc.weight, fc.bias), label)",
              f"  train loss with {opt}", "}"]
    return "\n".join(lines) + "\n"


def torch_mlp(sizes):
    import torch.nn as nn
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def torch_cnn(c_in, hw, chans, classes):
    import torch.nn as nn
    layers, c, h = [], c_in, hw
    for co in chans:
        layers += [nn.Conv2d(c, co, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
        c, h = co, h // 2
    layers += [nn.Flatten(), nn.Linear(c * h * h, classes)]
    return nn.Sequential(*layers)


SGD = ("sgd(lr=0.01, momentum=0.9)", lambda p, torch: torch.optim.SGD(p, lr=0.01, momentum=0.9))
ADAM = ("adam(lr=0.001)", lambda p, torch: torch.optim.Adam(p, lr=0.001))

WORKLOADS = [
    # name, batch, mlg text, torch factory, input dims after the batch, classes, optimizer
    ("mlp_digits", 32, lambda o: mlp_mlg("mlp_digits", [64, 64, 10], o), lambda: torch_mlp([64, 64, 10]),
     [64], 10, SGD),
    ("mlp_784", 256, lambda o: mlp_mlg("mlp_784", [784, 1024, 1024, 10], o),
     lambda: torch_mlp([784, 1024, 1024, 10]), [784], 10, ADAM),
    ("cnn_digits", 32, lambda o: cnn_mlg("cnn_digits", 1, 8, [16, 32], 10, o),
     lambda: torch_cnn(1, 8, [16, 32], 10), [1, 8, 8], 10, ADAM),
    ("cnn_cifar", 128, lambda o: cnn_mlg("cnn_cifar", 3, 32, [32, 64, 128], 10, o),
     lambda: torch_cnn(3, 32, [32, 64, 128], 10), [3, 32, 32], 10, SGD),
]


# ---------------------------------------------------------------------------------------------
# mlg

def run(cmd, timeout=1800):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr.strip()[-2000:]}")
    return res.stdout


def mlg_plan_bytes(mlgc, model, batch):
    regions = {}
    for line in run([mlgc, model, "-D", f"N={batch}", "--emit=plan"]).splitlines():
        m = REGION_RE.match(line.strip())
        if m:
            regions[m.group(1)] = int(m.group(2))
    return regions


def bench_mlg(args, device, model, batch, data, steps, warmup):
    out = run([args.mlgrun, model, "-D", f"N={batch}", "--device", device, "--train", "--input", f"x={data[0]}",
               "--input", f"label={data[1]}", "--bench", str(steps), "--warmup", str(warmup), "--quiet"])
    for line in out.splitlines():
        m = BENCH_RE.match(line.strip())
        if m:
            return float(m.group(1)), float(m.group(2))
    raise RuntimeError(f"no bench line in mlgrun's output:\n{out}")


# ---------------------------------------------------------------------------------------------
# PyTorch

def bench_torch(factory, opt_factory, x, y, device, steps, warmup):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    if device == "cpu":
        # Every core this process may use, as PoCL does (some builds default to one thread).
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = factory().to(device)
    opt = opt_factory(model.parameters(), torch)
    xb, yb = torch.from_numpy(x).to(device), torch.from_numpy(y).long().to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return statistics.median(times), peak


# ---------------------------------------------------------------------------------------------

def fmt_bytes(n):
    return "—" if n is None else f"{n / 2**20:.2f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", action="append", help="mlg device spec (repeatable; default cpu)")
    ap.add_argument("--torch-device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10 steps, the small workloads only")
    ap.add_argument("--only", help="workloads whose name contains this")
    args = ap.parse_args()
    devices = args.device or ["cpu"]
    args.mlgc, args.mlgrun = os.path.join(args.build, "bin", "mlgc"), os.path.join(args.build, "bin", "mlgrun")
    steps = 10 if args.quick else args.steps
    work = [w for w in WORKLOADS if (not args.only or args.only in w[0]) and (not args.quick or "digits" in w[0])]

    try:
        import torch
        torch_version = torch.__version__
        has_cuda = torch.cuda.is_available()
    except ImportError:
        torch, torch_version, has_cuda = None, None, False
    date = datetime.date.today().isoformat()
    out_dir = args.out or os.path.join(ROOT, "tools", "bench", "results", f"train-{devices[0].replace(':', '')}-{date}")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlg-train-bench.") as tmp:
        for name, batch, mlg_text, factory, dims, classes, (opt_text, opt_factory) in work:
            model = os.path.join(tmp, f"{name}.mlg")
            with open(model, "w") as f:
                f.write(mlg_text(opt_text))
            rng = np.random.default_rng(0)
            x = rng.standard_normal([batch] + dims).astype(np.float32)
            y = rng.integers(0, classes, size=[batch]).astype(np.int32)
            data = (os.path.join(tmp, f"{name}_x.npy"), os.path.join(tmp, f"{name}_y.npy"))
            np.save(data[0], x)
            np.save(data[1], y)
            regions = mlg_plan_bytes(args.mlgc, model, batch)
            for device in devices:
                row = {"workload": name, "batch": batch, "optimizer": opt_text, "device": device,
                       "mlg_regions": regions, "mlg_bytes": sum(regions.values())}
                try:
                    row["mlg_wall_ms"], row["mlg_device_ms"] = bench_mlg(args, device, model, batch, data, steps,
                                                                         args.warmup)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    row["mlg_error"] = str(e)[-500:]
                tdev = args.torch_device
                if tdev == "auto":
                    tdev = "cuda" if has_cuda and device != "cpu" else "cpu"
                if torch is None:
                    row["torch_error"] = "torch is not installed"
                else:
                    row["torch_device"] = tdev
                    row["torch_ms"], row["torch_peak_bytes"] = bench_torch(factory, opt_factory, x, y, tdev, steps,
                                                                           args.warmup)
                log(f"{name} on {device}: " + json.dumps({k: v for k, v in row.items() if k != 'mlg_regions'}))
                rows.append(row)

    meta = {"date": date, "machine": platform.node(), "cpu": platform.processor(), "torch": torch_version,
            "torch_cpu_threads": len(os.sched_getaffinity(0)),
            "steps": steps, "warmup": args.warmup, "command": " ".join(sys.argv)}
    with open(os.path.join(out_dir, "train.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(out_dir, "train.md"), "w") as f:
        f.write(f"Train step (forward, backward, update), median of {steps} steps after {args.warmup}; "
                f"PyTorch {torch_version}.\n\n")
        f.write("| workload | batch | optimizer | mlg device | mlg ms (wall) | mlg ms (device) | mlg memory "
                "| PyTorch | PyTorch ms | PyTorch peak memory |\n")
        f.write("| --- | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |\n")
        for r in rows:
            mw = f"{r['mlg_wall_ms']:.3f}" if "mlg_wall_ms" in r else "error"
            md = f"{r['mlg_device_ms']:.3f}" if "mlg_device_ms" in r else "—"
            tm = f"{r['torch_ms']:.3f}" if "torch_ms" in r else "—"
            f.write(f"| {r['workload']} | {r['batch']} | `{r['optimizer']}` | {r['device']} | {mw} | {md} | "
                    f"{fmt_bytes(r['mlg_bytes'])} | {r.get('torch_device', '—')} | {tm} | "
                    f"{fmt_bytes(r.get('torch_peak_bytes'))} |\n")
    log(f"wrote {out_dir}/train.json and train.md")
    with open(os.path.join(out_dir, "train.md")) as f:
        print(f.read())


if __name__ == "__main__":
    main()

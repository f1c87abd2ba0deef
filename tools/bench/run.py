#!/usr/bin/env python3
"""mlg's benchmark suite: runs each workload with mlgrun --bench and its peers in the same
process and on the same machine, and writes a JSON file and a Markdown table (docs/performance.md).

    python3 tools/bench/run.py [--device cpu|gpu] [--quick] [--out DIR] [--build DIR] [--precision f16]

--precision f16 compiles every workload with mlgc --precision=f16 (weights and intermediates in
f16, computed in f32) and measures PyTorch in half beside it (peers.py); outputs are checked
within the f16 bound (F16_CHECK).

Before compiling the workloads it asks mlgrun for the device's GEMM tuning table (searching
once on a GPU; cached on disk) and compiles with mlgc --tuning FILE; bench.json records it.

It builds nothing: it expects BUILD/bin/mlgc and BUILD/bin/mlgrun (default BUILD: build).
Peers that are not installed are reported as missing, not fatal.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_peer_weights  # noqa: E402
import peers as peer_mod  # noqa: E402
import workloads as wl_mod  # noqa: E402

BENCH_RE = re.compile(r"^bench: median ([0-9.]+) ms wall, ([0-9.]+) ms device over (\d+) runs$")
# "limits: peak 332.3 GFLOP/s, copy 23.8 GB/s"; "unknown" and "not measured" where mlgrun cannot tell.
LIMITS_RE = re.compile(r"^limits: peak (?:([0-9.]+) GFLOP/s|unknown), copy (?:([0-9.]+) GB/s|not measured)$")
# Outputs larger than this are not written and checked (the 2^26-float chain).
CHECK_MAX_BYTES = 80 << 20
# The largest error (relative to the output's peak) a check passes: f32, and both sides in f16
# (11 significant bits: a few roundings of stored values and long sums; docs/testing.md).
F32_CHECK, F16_CHECK = 1e-3, 2e-2


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_cmd(cmd, timeout, lib_dir=None):
    env = dict(os.environ)
    if lib_dir:
        # mlgrun's RUNPATH names the build folder where it was linked; a build carried to another
        # machine (the H100) finds libmlgrt.so through this instead.
        env["LD_LIBRARY_PATH"] = lib_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr.strip()[-2000:]}")
    return res.stdout


def measure_limits(args):
    out = run_cmd([args.mlgrun, "--limits", "--device", args.device, "--copy-mib", str(args.copy_mib)], 600,
                  args.lib_dir)
    info = {"text": out.strip()}
    for line in out.splitlines():
        m = LIMITS_RE.match(line.strip())
        if m:
            info["peak_gflops"] = float(m.group(1) or 0)
            info["copy_gbps"] = float(m.group(2) or 0)
        if line.startswith("device: "):
            info["device"] = line[len("device: "):]
        if line.startswith("peak FP32: "):
            info["peak_formula"] = line[len("peak FP32: "):]
    return info


def tune_device(args):
    """The device's GEMM tuning (docs/performance.md): mlgrun --show-tuning, or --tune to search
    again. Returns {"text", "source", "path", "file"}; "path" is None when there is no table
    (--no-tune, or a CPU device never tuned with --tune)."""
    if args.no_tune:
        return {"text": "", "source": "off (--no-tune)", "path": None}
    flag = "--tune" if args.tune else "--show-tuning"
    out = run_cmd([args.mlgrun, flag, "--device", args.mlg_device], 1800, args.lib_dir)
    info = {"text": out.strip(), "source": None, "path": None}
    cache = None
    for line in out.splitlines():
        if line.startswith("cache: "):
            cache = line[len("cache: "):]
        if line.startswith("source: "):
            info["source"] = line[len("source: "):]
    if info["source"] and not info["source"].startswith("none") and cache and os.path.isfile(cache):
        info["path"] = cache
        with open(cache) as f:
            info["file"] = f.read()
    return info


def pick_device(args):
    """mlgrun's --device: "cpu"/"gpu" for OpenCL; for Vulkan the first vulkan:N of that kind."""
    if args.backend == "opencl":
        return args.device
    out = run_cmd([args.mlgrun, "--list-devices"], 120, args.lib_dir)
    want = "GPU" if args.device == "gpu" else "CPU"
    for line in out.splitlines():
        spec = line.split()[0] if line.split() else ""
        # "vulkan:0   NAME  [Vulkan 1.4, NVIDIA, GPU, subgroup 32 arithmetic]"
        kinds = line[line.rfind("[") + 1:].rstrip("] \n").split(", ") if "[" in line else []
        if spec.startswith("vulkan:") and want in kinds:
            return spec
    raise RuntimeError(f"no Vulkan {want} device in mlgrun --list-devices:\n{out}")


def input_path(work, w, name):
    return os.path.join(work, f"{w.name}.{name}.npy")


def weights_file(work, w):
    return os.path.join(work, f"{w.name}.safetensors")


def peer_output_path(work, w, peer):
    return os.path.join(work, f"{w.name}.{peer}.out.npy")


def checkable(w):
    """Outputs up to CHECK_MAX_BYTES are written and compared (the input size stands in for it)."""
    return max(int(np.prod(s)) * 4 for s in w.inputs.values()) <= CHECK_MAX_BYTES


def prepare(args, w, work):
    """Writes w's inputs (.npy) and, if the model has params, its weights (.safetensors)."""
    rng = np.random.default_rng(args.seed)
    for k, shape in w.inputs.items():
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        np.save(input_path(work, w, k), x.astype(np.float16) if w.dtype == "f16" else x)
    params = gen_peer_weights.model_params(args.mlgc, w.source, [f"{k}={v}" for k, v in w.dims.items()])
    if not params:
        return None
    path = weights_file(work, w)
    gen_peer_weights.write(path, gen_peer_weights.random_weights(params, args.seed))
    return path


def load_job_data(work, w):
    """(inputs, weights) of a prepared workload, as NumPy arrays."""
    inputs = {k: np.load(input_path(work, w, k)) for k in w.inputs}
    weights = {}
    if os.path.exists(weights_file(work, w)):
        weights = gen_peer_weights.read(weights_file(work, w))
    return inputs, weights


def peer_worker(args):
    """--peer-worker: measures one peer on every workload of the job file, in this process alone,
    so that its thread pool never competes with another library's (or PoCL's) on the cores."""
    with open(args.peer_worker_job) as f:
        job = json.load(f)
    by_name = {w.name: w for w in wl_mod.all_workloads(job["quick"], job.get("precision", "f32"))}
    peer = {p.name: p for p in peer_mod.peers_for(job["device"], job["work"], True,
                                                  job.get("precision", "f32"))}[args.peer_worker]
    results = {}
    for name in job["workloads"]:
        w = by_name[name]
        if not peer.supports(w):
            continue
        log(f"   {peer.name}: {name}")
        try:
            inputs, weights = load_job_data(job["work"], w)
            res = peer.measure(w, inputs, weights, job["timing"])
            y = res.pop("output", None)
            if y is not None and checkable(w):
                np.save(peer_output_path(job["work"], w, peer.name), np.asarray(y, dtype=np.float32))
            results[name] = res
        except Exception as e:  # noqa: BLE001 — one failing workload must not stop the peer
            results[name] = {"error": f"{type(e).__name__}: {str(e)[:400]}"}
            log(f"   {peer.name}: {name}: ERROR {results[name]['error'][:200]}")
    with open(args.peer_worker_out, "w") as f:
        json.dump(results, f, default=float)
    return 0


def run_peer(args, peer_name, work, names):
    """Runs one peer's worker process over `names`; returns {workload: result}."""
    job = {"device": args.device, "quick": args.quick, "work": work, "workloads": names, "precision": args.precision,
           "timing": {"warmup": args.warmup, "runs": args.runs, "max_seconds": args.max_seconds}}
    job_path = os.path.join(work, f"job.{peer_name}.json")
    out_path = os.path.join(work, f"result.{peer_name}.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    cmd = [sys.executable, os.path.abspath(__file__), "--peer-worker", peer_name, "--peer-worker-job", job_path,
           "--peer-worker-out", out_path]
    env = dict(os.environ)
    if args.openblas_coretype is not None:
        if args.openblas_coretype:
            env["OPENBLAS_CORETYPE"] = args.openblas_coretype
        else:
            env.pop("OPENBLAS_CORETYPE", None)
    nvidia_icd = "/etc/OpenCL/vendors/nvidia.icd"
    if peer_name.startswith("tinygrad") and args.device == "gpu" and os.path.exists(nvidia_icd):
        # tinygrad takes the first OpenCL platform's devices; show it NVIDIA's alone, not PoCL.
        env.setdefault("OCL_ICD_VENDORS", nvidia_icd)
    res = subprocess.run(cmd, timeout=args.timeout * max(1, len(names)), env=env)
    if res.returncode != 0 or not os.path.exists(out_path):
        return {n: {"error": f"peer worker exited {res.returncode}"} for n in names}
    with open(out_path) as f:
        return json.load(f)


def run_mlg(args, w, work, weights_path):
    """Compiles w and runs mlgrun --bench; returns the mlg result dict."""
    bundle = os.path.join(work, f"{w.name}.mlgb")
    cmd = [args.mlgc, w.source, "-o", bundle, "--target", args.backend,
           "--device-hint=" + args.device, "--precision=" + args.precision] + w.d_flags()
    if weights_path:
        cmd += ["--weights", weights_path]
    if args.tuning_path:
        cmd += ["--tuning", args.tuning_path]
    run_cmd(cmd, 600)
    check = checkable(w)
    cmd = [args.mlgrun, bundle, "--device", args.mlg_device, "--bench", str(args.runs), "--warmup", str(args.warmup),
           "--max-seconds", str(args.max_seconds)]
    for k in w.inputs:
        cmd += ["--input", f"{k}={input_path(work, w, k)}"]
    out_dir = os.path.join(work, f"{w.name}.out")
    cmd += ["--output-dir", out_dir] if check else ["--no-outputs"]
    if args.profile:
        cmd += ["--profile", "--copy-mib", str(min(args.copy_mib, 64))]
    stdout = run_cmd(cmd, args.timeout, args.lib_dir)
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    m = BENCH_RE.match(last)
    if not m:
        raise RuntimeError(f"no bench line in mlgrun's output; last line: {last!r}")
    res = {"wall_ms": float(m.group(1)), "device_ms": float(m.group(2)), "runs": int(m.group(3))}
    res["time_ms"] = res["device_ms"] if w.kind == "kernel" else res["wall_ms"]
    if args.profile:
        start = stdout.find("profile of model")
        res["profile"] = stdout[start:stdout.rfind("\nbench:")] if start >= 0 else None
    y = None
    if check:
        yp = os.path.join(out_dir, f"{w.output}.npy")
        if os.path.exists(yp):
            y = np.load(yp)
    return res, y


def rate(w, ms, limits):
    """(rate, unit, fraction of the limit) for time ms."""
    if not ms or ms != ms or ms <= 0:
        return None, "", None
    if w.limit == "mem":
        gbps = w.bytes / (ms * 1e-3) / 1e9
        lim = limits.get("copy_gbps") or 0
        return gbps, "GB/s", (gbps / lim if lim else None)
    gflops = w.flops / (ms * 1e-3) / 1e9
    lim = limits.get("peak_gflops") or 0
    return gflops, "GFLOP/s", (gflops / lim if lim else None)


def compare(y, ref, bound=F32_CHECK):
    if y is None or ref is None:
        return None
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    if y.shape != ref.shape:
        return {"ok": False, "why": f"shape {y.shape} vs {ref.shape}"}
    scale = max(1e-6, float(np.max(np.abs(ref))))
    err = float(np.max(np.abs(y - ref))) / scale
    return {"max_abs_err_rel": err, "ok": bool(err < bound)}


def run_mlg_workload(args, w, work, limits):
    log(f"== {w.name}")
    rec = {"workload": w.name, "family": w.family, "kind": w.kind, "dims": w.dims, "flops": w.flops,
           "bytes": w.bytes, "limit": w.limit, "basis": "device" if w.kind == "kernel" else "wall", "peers": {}}
    try:
        weights_path = prepare(args, w, work)
        rec["mlg"], y = run_mlg(args, w, work, weights_path)
        if y is not None:
            np.save(peer_output_path(work, w, "mlg"), y)
        r, unit, frac = rate(w, rec["mlg"]["device_ms"], limits)
        rec["mlg"].update({"rate": r, "rate_unit": unit, "fraction_of_limit": frac})
        log(f"   mlg: {rec['mlg']['device_ms']:.4f} ms device, {rec['mlg']['wall_ms']:.4f} ms wall"
            + (f", {r:.1f} {unit}" if r else ""))
    except Exception as e:  # noqa: BLE001 — one failing workload must not stop the suite
        rec["mlg"] = {"error": str(e)}
        log(f"   mlg: ERROR {str(e)[:400]}")
    return rec


def merge_peer(rec, w, work, peer_name, res, bound=F32_CHECK):
    """Adds one peer's result to the workload's record: its speed ratio and the output check."""
    if res is None:
        return
    if "error" in res or "missing" in res:
        rec["peers"][peer_name] = res
        return
    mt = rec["mlg"].get("time_ms")
    res["speed_of_mlg"] = res["time_ms"] / mt if mt else None
    y_mlg, y_peer = peer_output_path(work, w, "mlg"), peer_output_path(work, w, peer_name)
    if os.path.exists(y_mlg) and os.path.exists(y_peer):
        res["check_vs_mlg"] = compare(np.load(y_mlg), np.load(y_peer), max(bound, w.check_tol))
        # mlg's check column: against the first PyTorch/NumPy peer that produced an output.
        if "check" not in rec["mlg"] and peer_name.startswith(("torch", "numpy")):
            rec["mlg"]["check"] = dict(res["check_vs_mlg"] or {}, reference=peer_name)
    rec["peers"][peer_name] = res


def fmt_ms(v):
    if v is None or v != v:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def markdown(results, limits, meta, peer_names):
    a = meta.get("args", {})
    lines = [f"mlg: {a.get('backend', 'opencl')} backend on `{a.get('mlg_device', '?')}`, precision "
             f"{a.get('precision', 'f32')}; limits from: {limits.get('device', '?')}",
             f"Peak FP32: {limits.get('peak_formula', 'unknown')}; copy bandwidth: "
             f"{limits.get('copy_gbps', 0):.1f} GB/s (measured in this run)"]
    tuning = meta.get("gemm_tuning") or {}
    table = [ln for ln in tuning.get("text", "").splitlines() if ln.startswith(("huge:", "large:", "medium:"))]
    lines.append(f"GEMM tiles: {tuning.get('source') or 'built-in'}" + (f" ({'; '.join(table)})" if table else ""))
    lines.append("")
    head = ["workload", "mlg device ms", "mlg wall ms", "mlg rate", "% of limit", "check"] + \
           [f"{n} ms (speed)" for n in peer_names]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in results:
        m = r["mlg"]
        if "error" in m:
            row = [r["workload"], "error", "-", "-", "-", "-"]
        else:
            chk = m.get("check")
            chk_s = "-" if not chk else ("ok" if chk.get("ok") else "FAIL") + \
                (f" ({chk['max_abs_err_rel']:.1e})" if "max_abs_err_rel" in chk else "")
            rate_s = f"{m['rate']:.1f} {m['rate_unit']}" if m.get("rate") else "-"
            frac = m.get("fraction_of_limit")
            row = [r["workload"], fmt_ms(m["device_ms"]), fmt_ms(m["wall_ms"]), rate_s,
                   f"{100 * frac:.1f}%" if frac else "-", chk_s]
        for n in peer_names:
            p = r["peers"].get(n)
            if p is None:
                row.append("")
            elif "missing" in p:
                row.append("missing")
            elif "error" in p:
                row.append("error")
            else:
                sp = p.get("speed_of_mlg")
                row.append(f"{fmt_ms(p['time_ms'])} ({sp:.2f}x)" if sp else fmt_ms(p["time_ms"]))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Times are medians. Kernel workloads compare device times (mlg: OpenCL event profiling or Vulkan "
              "timestamps; "
              "CUDA peers: CUDA events; CPU peers: the call's wall time); model workloads compare wall "
              "times from host inputs to host outputs. speed = peer time / mlg time (>1: mlg is faster). "
              "mlg rate and % of limit use mlg's device time: FLOP/s against peak FP32, or GB/s against "
              "the copy bandwidth. A model's FLOPs are its direct convolutions' and GEMMs': where mlg "
              "computes a 3x3 convolution by Winograd's F(m x m, 3x3) (CPU bundles, "
              "docs/performance.md#winograd) it makes fewer, and the rate can pass 100%."]
    missing = sorted({f"{n}: {p['missing']}" for r in results for n, p in r["peers"].items() if "missing" in p})
    if missing:
        lines += ["", "Missing peers: " + "; ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def environment(args):
    env = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": platform.node(), "machine": platform.machine(), "python": platform.python_version(),
           "cpus": os.cpu_count(), "numpy": np.__version__,
           "OPENBLAS_CORETYPE": (args.openblas_coretype if args.openblas_coretype is not None
                                 else os.environ.get("OPENBLAS_CORETYPE"))}
    try:
        cfg = np.show_config(mode="dicts")
        env["numpy_blas"] = cfg.get("Build Dependencies", {}).get("blas", {})
    except Exception:  # noqa: BLE001 — older NumPy
        pass
    from importlib import metadata
    for mod in ("torch", "onnxruntime", "onnx", "tinygrad", "safetensors"):
        try:
            env[mod] = metadata.version(mod)
        except metadata.PackageNotFoundError:
            env[mod] = None
    try:
        with open("/proc/loadavg") as f:
            env["loadavg_at_start"] = f.read().split()[:3]
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description="mlg benchmark suite (docs/performance.md)")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--backend", choices=("opencl", "vulkan"), default="opencl",
                    help="mlg's backend (mlgc --target); the limits are always measured through OpenCL")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the suite")
    ap.add_argument("--precision", choices=("f32", "f16"), default="f32",
                    help="mlgc --precision; f16: PyTorch peers in half (channels_last, SDPA), others left out")
    ap.add_argument("--out", default=None, help="where bench.json and bench.md go (default BUILD/bench)")
    ap.add_argument("--build", default=os.environ.get("MLG_BUILD", "build"), help="build folder (default build)")
    ap.add_argument("--only", default=None, help="run the workloads whose name matches this regex")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per measurement (default 10; quick 3)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up runs (default 3, at least 3 counts for PoCL)")
    ap.add_argument("--max-seconds", type=int, default=None, help="cap on one measurement's timed runs (default 20)")
    ap.add_argument("--copy-mib", type=int, default=None, help="copy-bandwidth buffer in MiB (default 256; quick 16)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (GPU)")
    ap.add_argument("--peers", default=None, help="run only the peers whose name matches this regex")
    ap.add_argument("--no-peers", action="store_true", help="measure mlg only")
    ap.add_argument("--profile", action="store_true", help="keep mlgrun --profile's per-kernel table in the JSON")
    ap.add_argument("--tune", action="store_true",
                    help="search the device's GEMM tiles again (mlgrun --tune) instead of the cached table; "
                         "needed once for a CPU device, which is never searched unasked")
    ap.add_argument("--no-tune", action="store_true", help="compile with the built-in GEMM tiles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--openblas-coretype", default=None,
                    help="OPENBLAS_CORETYPE for the peers' processes (e.g. SkylakeX; '' unsets it; "
                         "default: as the environment has it)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one mlgrun may take")
    ap.add_argument("--keep-work", default=None, help="keep bundles, weights and outputs in this folder")
    ap.add_argument("--peer-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peer-worker-job", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peer-worker-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer_worker:
        return peer_worker(args)
    args.runs = args.runs or (3 if args.quick else 10)
    args.max_seconds = args.max_seconds or (5 if args.quick else 20)
    args.copy_mib = args.copy_mib or (16 if args.quick else 256)
    args.mlgc = os.path.join(args.build, "bin", "mlgc")
    args.mlgrun = os.path.join(args.build, "bin", "mlgrun")
    args.lib_dir = os.path.abspath(os.path.join(args.build, "lib"))
    for b in (args.mlgc, args.mlgrun):
        if not os.access(b, os.X_OK):
            log(f"run.py: {b} not found; build first (cmake -B {args.build} && cmake --build {args.build})")
            return 2
    out_dir = args.out or os.path.join(args.build, "bench")
    os.makedirs(out_dir, exist_ok=True)
    work = args.keep_work or tempfile.mkdtemp(prefix="mlg-bench-")
    os.makedirs(work, exist_ok=True)

    workloads = wl_mod.all_workloads(args.quick, args.precision)
    if args.only:
        workloads = [w for w in workloads if re.search(args.only, w.name)]
    peers = [] if args.no_peers else peer_mod.peers_for(args.device, work, with_compile=not args.no_compile,
                                                        precision=args.precision)
    if args.peers:
        peers = [p for p in peers if re.search(args.peers, p.name)]
    for p in peers:
        p.ok, p.why = p.available()
        log(f"peer {p.name}: " + ("available" if p.ok else f"MISSING ({p.why})"))
    peer_names = [p.name for p in peers]

    if args.tune and args.no_tune:
        log("run.py: --tune and --no-tune exclude each other")
        return 2
    args.mlg_device = pick_device(args)
    limits = measure_limits(args)
    log(limits["text"])
    tuning = tune_device(args)
    args.tuning_path = tuning["path"]
    log(f"GEMM tuning: {tuning['source']}" + (f" ({tuning['path']})" if tuning["path"] else ""))
    meta = {"args": {k: v for k, v in vars(args).items() if k not in ("mlgc", "mlgrun", "lib_dir")},
            "environment": environment(args), "gemm_tuning": tuning}
    results = []

    def save():
        # Written after each step, so an interrupted run keeps what it measured.
        with open(os.path.join(out_dir, "bench.json"), "w") as f:
            json.dump({"meta": meta, "limits": limits, "results": results}, f, indent=1, default=float)

    try:
        for w in workloads:
            results.append(run_mlg_workload(args, w, work, limits))
            save()
        for p in peers:
            wanted = [w for w in workloads if p.supports(w)]
            if not wanted:
                continue
            if not p.ok:
                for w, r in zip(workloads, results):
                    if p.supports(w):
                        r["peers"][p.name] = {"missing": p.why}
                continue
            log(f"== peer {p.name} ({len(wanted)} workloads, in its own process)")
            got = run_peer(args, p.name, work, [w.name for w in wanted])
            for w, r in zip(workloads, results):
                merge_peer(r, w, work, p.name, got.get(w.name),
                           F16_CHECK if args.precision == "f16" else F32_CHECK)
            save()
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    try:
        with open("/proc/loadavg") as f:
            meta["environment"]["loadavg_at_end"] = f.read().split()[:3]
        save()
    except OSError:
        pass
    md = markdown(results, limits, meta, peer_names)
    with open(os.path.join(out_dir, "bench.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"run.py: wrote {out_dir}/bench.json and {out_dir}/bench.md")
    failed = [r["workload"] for r in results if "error" in r["mlg"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

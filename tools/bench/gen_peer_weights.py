#!/usr/bin/env python3
"""Random weights for an .mlg model, by the names and shapes of its params, as .safetensors.

mlg and its peers (PyTorch, onnxruntime) must compute with the same weights. This script asks
`mlgc --emit=graph` for the model's params (after -D bindings), draws values with a seeded NumPy
generator and writes them; `mlgc --weights` (or `mlgrun --weights`) binds them by name and the
peers load the same file into modules whose state_dict names match.

    python3 tools/bench/gen_peer_weights.py models/resnet18.mlg -D N=16 -o w.safetensors

Values: a weight of rank >= 2 is normal(0, sqrt(1/fan_in)) (fan_in = numel / dims[0]); a rank-1
`*.running_var` and `*.weight` are uniform(0.5, 1.5); other rank-1 params (biases, running
means) are normal(0, 0.1). The scale keeps activations of deep models near 1.
"""
import argparse
import json
import re
import struct
import subprocess
import sys

import numpy as np

PARAM_RE = re.compile(r"=\s*param\s+(\S+)\s*:\s*f32\[([^\]]*)\]")


def model_params(mlgc, mlg_path, dims):
    """[(name, shape)] of the model's params, in graph order."""
    cmd = [mlgc, mlg_path, "--emit=graph"]
    for d in dims:
        cmd += ["-D", d]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    params = []
    for line in res.stdout.splitlines():
        m = PARAM_RE.search(line)
        if m:
            shape = tuple(int(v) for v in m.group(2).split(",") if v.strip())
            params.append((m.group(1), shape))
    return params


def random_weights(params, seed=0):
    """{name: float32 array} drawn as the module docstring says."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in params:
        if len(shape) >= 2:
            fan_in = max(1, int(np.prod(shape[1:])))
            v = rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape)
        elif name.endswith("running_var") or name.endswith(".weight") or name == "weight":
            v = rng.uniform(0.5, 1.5, size=shape)
        else:
            v = rng.normal(0.0, 0.1, size=shape)
        out[name] = np.ascontiguousarray(v, dtype=np.float32)
    return out


def write(path, tensors):
    """Writes float32 arrays as .safetensors (the format is small enough to write by hand, so the
    safetensors package is not needed)."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """{name: float32 array} of a .safetensors file written by write()."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"]).copy()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help=".mlg source")
    ap.add_argument("-D", dest="dims", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    ap.add_argument("--mlgc", default="build/bin/mlgc", help="path of mlgc (default build/bin/mlgc)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    params = model_params(args.mlgc, args.model, args.dims)
    if not params:
        print(f"gen_peer_weights: {args.model} has no params", file=sys.stderr)
        return 1
    tensors = random_weights(params, args.seed)
    write(args.output, tensors)
    total = sum(t.size for t in tensors.values())
    print(f"gen_peer_weights: {len(tensors)} params, {total} floats -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

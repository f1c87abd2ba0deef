#!/usr/bin/env python3
"""Generates reference data for the example models: tests/models/<model>/ holds
weights.safetensors (random weights, named exactly as the params of models/<model>.mlg),
the seeded inputs (<input>.npy), expected/<output>.npy and a tolerance file. The model
source itself is models/<model>.mlg, compiled with its default dims.

    python3 tools/gen_model_refs.py [--out tests/models] [--check] [--only NAME,...]

Each model is written again here in PyTorch (CPU), op by op as the .mlg file defines it, and
evaluated in float64; the expected outputs are stored as float32. As in gen_fixtures.py, the
float32 PyTorch result must meet the stored tolerance or nothing is written.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import (DEFAULT_ATOL, DEFAULT_RTOL, ROOT, bn_ref, to_torch,  # noqa: E402
                          tol_ratio, write_tolerance)


class Model:
    def __init__(self, name):
        self.name = name
        self.rng = np.random.default_rng(zlib.crc32(("model:" + name).encode()))
        self.inputs, self.params = {}, {}
        self.outputs = []          # (name, reference)
        self.rtol, self.atol, self.why = DEFAULT_RTOL, DEFAULT_ATOL, None

    def normal(self, shape, std, mean=0.0):
        return (mean + std * self.rng.standard_normal(size=shape)).astype(np.float32)

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def bn(self, prefix, c):
        self.params[prefix + ".weight"] = self.uniform([c], 0.5, 1.5)
        self.params[prefix + ".bias"] = self.uniform([c], -0.2, 0.2)
        self.params[prefix + ".running_mean"] = self.uniform([c], -0.2, 0.2)
        self.params[prefix + ".running_var"] = self.uniform([c], 0.5, 2.0)   # positive

    def evaluate(self, dtype):
        t = {k: to_torch(v, dtype) for k, v in {**self.inputs, **self.params}.items()}
        with torch.no_grad():
            return {n: ref(t).to(torch.float64).numpy() for n, ref in self.outputs}

    def write(self, root, check_only):
        want = self.evaluate(torch.float64)
        got = self.evaluate(torch.float32)
        worst = max(tol_ratio(got[n], want[n], self.rtol, self.atol) for n in want)
        if worst > 1.0:
            raise SystemExit(f"{self.name}: float32 PyTorch misses the tolerance ({worst:.3g})")
        if check_only:
            return worst
        d = os.path.join(root, self.name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "expected"))
        save_file({k: np.ascontiguousarray(v) for k, v in self.params.items()},
                  os.path.join(d, "weights.safetensors"))
        for k, v in self.inputs.items():
            np.save(os.path.join(d, k + ".npy"), v)
        for k, v in want.items():
            # astype, not ascontiguousarray: that would turn a 0-d result into shape (1,)
            np.save(os.path.join(d, "expected", k + ".npy"), v.astype(np.float32, order="C"))
        write_tolerance(os.path.join(d, "tolerance"), self.rtol, self.atol, self.why)
        return worst


# ---------------------------------------------------------------------------------------------

def mlp():
    m = Model("mlp")
    m.inputs["x"] = m.uniform([1, 784], 0.0, 1.0)            # N = 1
    m.params["fc1.weight"] = m.normal([256, 784], 0.05)
    m.params["fc1.bias"] = m.normal([256], 0.05)
    m.params["fc2.weight"] = m.normal([10, 256], 0.1)
    m.params["fc2.bias"] = m.normal([10], 0.05)

    def ref(t):
        h = torch.relu(F.linear(t["x"], t["fc1.weight"], t["fc1.bias"]))
        return torch.softmax(F.linear(h, t["fc2.weight"], t["fc2.bias"]), dim=-1)
    m.outputs.append(("probs", ref))
    return m


def lenet():
    m = Model("lenet")
    m.inputs["x"] = m.uniform([1, 1, 28, 28], 0.0, 1.0)
    m.params["conv1.weight"] = m.normal([6, 1, 5, 5], 0.2)
    m.params["conv1.bias"] = m.normal([6], 0.1)
    m.params["conv2.weight"] = m.normal([16, 6, 5, 5], 0.08)
    m.params["conv2.bias"] = m.normal([16], 0.1)
    m.params["fc1.weight"] = m.normal([120, 256], 0.06)
    m.params["fc1.bias"] = m.normal([120], 0.05)
    m.params["fc2.weight"] = m.normal([84, 120], 0.09)
    m.params["fc2.bias"] = m.normal([84], 0.05)
    m.params["fc3.weight"] = m.normal([10, 84], 0.1)
    m.params["fc3.bias"] = m.normal([10], 0.05)

    def ref(t):
        c1 = F.max_pool2d(torch.relu(F.conv2d(t["x"], t["conv1.weight"], t["conv1.bias"])), 2, 2)
        c2 = F.max_pool2d(torch.relu(F.conv2d(c1, t["conv2.weight"], t["conv2.bias"])), 2, 2)
        f = torch.flatten(c2, 1)
        h1 = torch.relu(F.linear(f, t["fc1.weight"], t["fc1.bias"]))
        h2 = torch.relu(F.linear(h1, t["fc2.weight"], t["fc2.bias"]))
        return F.linear(h2, t["fc3.weight"], t["fc3.bias"])
    m.outputs.append(("logits", ref))
    return m


def resnet_block():
    m = Model("resnet_block")
    m.inputs["x"] = m.normal([1, 3, 32, 32], 1.0)
    m.params["conv1.weight"] = m.normal([16, 3, 3, 3], 0.2)
    m.bn("bn1", 16)
    for blk in ("layer1.0", "layer1.1"):
        m.params[blk + ".conv1.weight"] = m.normal([16, 16, 3, 3], 0.08)
        m.bn(blk + ".bn1", 16)
        m.params[blk + ".conv2.weight"] = m.normal([16, 16, 3, 3], 0.08)
        m.bn(blk + ".bn2", 16)

    def bn(t, p, x):
        return bn_ref(x, t[p + ".weight"], t[p + ".bias"], t[p + ".running_mean"],
                      t[p + ".running_var"], 1e-5)

    def block(t, p, x):
        h1 = torch.relu(bn(t, p + ".bn1", F.conv2d(x, t[p + ".conv1.weight"], padding=1)))
        h2 = bn(t, p + ".bn2", F.conv2d(h1, t[p + ".conv2.weight"], padding=1))
        return torch.relu(h2 + x)

    def ref(t):
        stem = torch.relu(bn(t, "bn1", F.conv2d(t["x"], t["conv1.weight"], stride=1, padding=1)))
        b1 = block(t, "layer1.1", block(t, "layer1.0", stem))
        return torch.mean(b1, dim=(2, 3), keepdim=True)
    m.outputs.append(("features", ref))
    return m


def transformer_block():
    B, T, C, H = 1, 16, 64, 4
    D = C // H
    m = Model("transformer_block")
    m.inputs["x"] = m.normal([B, T, C], 1.0)
    # Weights larger than GPT-2's init (0.02) so that attention is far from uniform and every
    # path contributes visibly to the output.
    m.params["ln_1.weight"] = m.uniform([C], 0.5, 1.5)
    m.params["ln_1.bias"] = m.uniform([C], -0.2, 0.2)
    m.params["attn.c_attn.weight"] = m.normal([3 * C, C], 0.15)
    m.params["attn.c_attn.bias"] = m.normal([3 * C], 0.1)
    m.params["attn.c_proj.weight"] = m.normal([C, C], 0.1)
    m.params["attn.c_proj.bias"] = m.normal([C], 0.1)
    m.params["ln_2.weight"] = m.uniform([C], 0.5, 1.5)
    m.params["ln_2.bias"] = m.uniform([C], -0.2, 0.2)
    m.params["mlp.c_fc.weight"] = m.normal([4 * C, C], 0.1)
    m.params["mlp.c_fc.bias"] = m.normal([4 * C], 0.1)
    m.params["mlp.c_proj.weight"] = m.normal([C, 4 * C], 0.05)
    m.params["mlp.c_proj.bias"] = m.normal([C], 0.1)

    def ref(t):
        x = t["x"]
        mask = torch.triu(torch.full((T, T), -1e9, dtype=x.dtype), diagonal=1)
        a = F.layer_norm(x, [C], t["ln_1.weight"], t["ln_1.bias"], 1e-5)
        qkv = F.linear(a, t["attn.c_attn.weight"], t["attn.c_attn.bias"])
        q = qkv[:, :, 0:C].reshape(B, T, H, D).permute(0, 2, 1, 3)
        k = qkv[:, :, C:2 * C].reshape(B, T, H, D).permute(0, 2, 3, 1)
        v = qkv[:, :, 2 * C:3 * C].reshape(B, T, H, D).permute(0, 2, 1, 3)
        att = torch.softmax((q @ k) * (1.0 / np.sqrt(D)) + mask, dim=-1)
        y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x1 = x + F.linear(y, t["attn.c_proj.weight"], t["attn.c_proj.bias"])
        h = F.layer_norm(x1, [C], t["ln_2.weight"], t["ln_2.bias"], 1e-5)
        mm = F.gelu(F.linear(h, t["mlp.c_fc.weight"], t["mlp.c_fc.bias"]))
        return x1 + F.linear(mm, t["mlp.c_proj.weight"], t["mlp.c_proj.bias"])
    m.outputs.append(("out", ref))
    return m


def unet():
    m = Model("unet")
    m.inputs["x"] = m.normal([1, 3, 32, 32], 1.0)
    blocks = (("enc1", 3, 8), ("enc2", 8, 16), ("mid", 16, 32), ("dec2", 32, 16), ("dec1", 16, 8))
    for p, cin, cout in blocks:
        m.params[p + ".conv1.weight"] = m.normal([cout, cin, 3, 3], (2.0 / (9 * cin)) ** 0.5)
        m.params[p + ".conv1.bias"] = m.normal([cout], 0.1)
        m.params[p + ".gn1.weight"] = m.uniform([cout], 0.5, 1.5)
        m.params[p + ".gn1.bias"] = m.uniform([cout], -0.2, 0.2)
        m.params[p + ".conv2.weight"] = m.normal([cout, cout, 3, 3], (2.0 / (9 * cout)) ** 0.5)
        m.params[p + ".conv2.bias"] = m.normal([cout], 0.1)
        m.params[p + ".gn2.weight"] = m.uniform([cout], 0.5, 1.5)
        m.params[p + ".gn2.bias"] = m.uniform([cout], -0.2, 0.2)
    m.params["up2.weight"] = m.normal([32, 16, 2, 2], 0.15)
    m.params["up2.bias"] = m.normal([16], 0.1)
    m.params["up1.weight"] = m.normal([8, 16, 1, 1], 0.3)
    m.params["up1.bias"] = m.normal([8], 0.1)
    m.params["head.weight"] = m.normal([2, 8, 1, 1], 0.4)
    m.params["head.bias"] = m.normal([2], 0.1)

    def double_conv(t, p, x):
        for k in ("1", "2"):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), t[f"{p}.conv{k}.weight"],
                         t[f"{p}.conv{k}.bias"])
            x = torch.relu(F.group_norm(x, 4, t[f"{p}.gn{k}.weight"], t[f"{p}.gn{k}.bias"], 1e-5))
        return x

    def ref(t):
        e1 = double_conv(t, "enc1", t["x"])
        e2 = double_conv(t, "enc2", F.max_pool2d(e1, 2))
        mid = double_conv(t, "mid", F.max_pool2d(e2, 2))
        u2 = F.conv_transpose2d(mid, t["up2.weight"], t["up2.bias"], stride=2)
        d2 = double_conv(t, "dec2", torch.cat([u2, e2], dim=1))
        up = F.interpolate(d2, scale_factor=2.0, mode="bilinear", align_corners=False)
        u1 = F.conv2d(up, t["up1.weight"], t["up1.bias"])
        d1 = double_conv(t, "dec1", torch.cat([u1, e1], dim=1))
        return F.conv2d(d1, t["head.weight"], t["head.bias"])
    m.outputs.append(("y", ref))
    return m



def gpt2_block():
    """Hugging Face's GPT2Block (eager attention), Conv1D weights [in, out]; the padding of the
    second sequence is at its end, so every query keeps at least its first key."""
    B, T, C, H = 2, 16, 64, 4
    D = C // H
    m = Model("gpt2_block")
    m.inputs["x"] = m.normal([B, T, C], 1.0)
    am = np.ones([B, T], dtype=np.bool_)
    am[1, 12:] = False
    m.inputs["attention_mask"] = am
    m.params["ln_1.weight"] = m.uniform([C], 0.5, 1.5)
    m.params["ln_1.bias"] = m.uniform([C], -0.2, 0.2)
    m.params["attn.c_attn.weight"] = m.normal([C, 3 * C], 0.15)
    m.params["attn.c_attn.bias"] = m.normal([3 * C], 0.1)
    m.params["attn.c_proj.weight"] = m.normal([C, C], 0.1)
    m.params["attn.c_proj.bias"] = m.normal([C], 0.1)
    m.params["ln_2.weight"] = m.uniform([C], 0.5, 1.5)
    m.params["ln_2.bias"] = m.uniform([C], -0.2, 0.2)
    m.params["mlp.c_fc.weight"] = m.normal([C, 4 * C], 0.1)
    m.params["mlp.c_fc.bias"] = m.normal([4 * C], 0.1)
    m.params["mlp.c_proj.weight"] = m.normal([4 * C, C], 0.05)
    m.params["mlp.c_proj.bias"] = m.normal([C], 0.1)

    def ref(t):
        x = t["x"]
        keep = torch.ones(T, T, dtype=torch.bool).tril() & t["attention_mask"].reshape(B, 1, 1, T)
        bias = torch.where(keep, torch.tensor(0.0, dtype=x.dtype), torch.tensor(-1e9, dtype=x.dtype))
        a = F.layer_norm(x, [C], t["ln_1.weight"], t["ln_1.bias"], 1e-5)
        qkv = a @ t["attn.c_attn.weight"] + t["attn.c_attn.bias"]
        q, k, v = (qkv[:, :, i * C:(i + 1) * C].reshape(B, T, H, D).permute(0, 2, 1, 3) for i in range(3))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)
        x1 = x + y @ t["attn.c_proj.weight"] + t["attn.c_proj.bias"]
        h = F.layer_norm(x1, [C], t["ln_2.weight"], t["ln_2.bias"], 1e-5)
        mm = F.gelu(h @ t["mlp.c_fc.weight"] + t["mlp.c_fc.bias"], approximate="tanh")
        return x1 + mm @ t["mlp.c_proj.weight"] + t["mlp.c_proj.bias"]
    m.outputs.append(("out", ref))
    return m



MODELS = [mlp, lenet, resnet_block, transformer_block, unet, gpt2_block]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "models"))
    ap.add_argument("--check", action="store_true", help="check tolerances only; write nothing")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = set(args.only.split(",")) if args.only else None
    for make in MODELS:
        if only and make.__name__ not in only:
            continue
        m = make()
        if not os.path.exists(os.path.join(ROOT, "models", m.name + ".mlg")):
            raise SystemExit(f"models/{m.name}.mlg not found")
        worst = m.write(args.out, args.check)
        print(f"{m.name:20s} float32 torch uses {worst:.3f} of its tolerance")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generates the exported-model tests of the ONNX front end (docs/onnx.md, docs/testing.md):
tests/onnx/<model>/ holds model.onnx (a PyTorch module exported with torch.onnx.export),
input.npy (seeded) and expected.npy (onnxruntime's output for it, CPU, float32). The tests
(tests/unit/test_onnx_models.c) never run Python.

    python3 tools/gen_onnx_models.py [--out tests/onnx]

The three networks are written here as PyTorch modules, with random weights from a fixed seed:
  resnet     a ResNet-style CNN: a stem, two basic blocks (the second downsamples with a 1x1
             conv), batch norm after every conv, global average pool, a linear classifier;
             exported without constant folding, so the BatchNormalization nodes stay in it
  mobilenet  a MobileNet-v2 inverted-residual block: 1x1 expand, 3x3 depthwise, 1x1 project,
             batch norm, ReLU6 (exported as Clip), the residual add
  gpt2       a GPT-2-style transformer block: LayerNorm, causal self-attention (one qkv
             linear, heads split by view/transpose, an additive causal mask), a tanh-GELU MLP,
             residuals; exported with a symbolic batch dim (`batch`)
Two quantized models come from one small float network (a 3x3 conv with bias, ReLU, flatten,
a matrix product and a bias add; `qnet`), quantized by onnxruntime.quantization.quantize_static
with a calibration reader of seeded inputs, activations uint8, weights int8 per channel:
  qdq        QDQ format: QuantizeLinear / DequantizeLinear pairs around float ops (mlg's QDQ pass
             turns the conv and the matrix product into qlinear_conv2d / qlinear_matmul)
  qoperator  QOperator format, the conv and the matrix product only: QLinearConv,
             QLinearMatMul, the bias add and ReLU in float between DequantizeLinear and
             QuantizeLinear (the default would use com.microsoft's QLinearAdd, which mlg does
             not read)
Their folders also hold quantum.npy: the scale of the last quantized value (one quantum of the
output), for the test's tolerance (tests/unit/test_onnx_models.c).
qdq_params/model.onnx is built with onnx.helper (opset 13): QuantizeLinear and DequantizeLinear
without a zero point (ONNX's uint8 0), and per axis along a negative axis with int8 zero points.
unsupported/model.onnx is built with onnx.helper: a small graph with several nodes mlg cannot
import, for the test of the one error that lists them all.

    python3 tools/gen_onnx_models.py --only qdq qoperator     # just these

Needs torch, onnx, onnxscript and onnxruntime (pip); only at generation time.
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.down is None else self.down(x)))


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.max_pool2d(h, 2)
        h = self.layer2(self.layer1(h))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(h)


class InvertedResidual(nn.Module):
    def __init__(self, c, expand):
        super().__init__()
        hidden = c * expand
        self.expand = nn.Sequential(nn.Conv2d(c, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hidden, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.project(self.depthwise(self.expand(x)))


class GPT2Block(nn.Module):
    def __init__(self, d=64, heads=4, ctx=16):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        mask = torch.triu(torch.full((ctx, ctx), -1e4), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        hd = d // self.heads
        q = q.view(b, t, self.heads, hd).transpose(1, 2)
        k = k.view(b, t, self.heads, hd).transpose(1, 2)
        v = v.view(b, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / hd ** 0.5) + self.mask[:t, :t]
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class QNet(nn.Module):
    """conv 3x3 (bias) -> ReLU -> flatten -> @ w + b: the float network of the quantized models."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.w = nn.Parameter(torch.zeros(8 * 8 * 8, 10))
        self.b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return F.relu(self.conv(x)).flatten(1) @ self.w + self.b


def randomize(module, seed):
    """Random weights, and batch-norm statistics far from 0/1, so that folding them matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.2 if p.dim() > 1 else 0.1))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.add_(1.0)
    return module.eval()


def export(name, module, x, out_dir, dynamic_batch=False, **kwargs):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    extra = {}
    if dynamic_batch:
        extra["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
    torch.onnx.export(module, (x,), path, input_names=["x"], output_names=["y"], opset_version=17,
                      dynamo=False, **extra, **kwargs)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        torch_out = module(x).numpy()
    assert np.allclose(ref, torch_out, rtol=1e-4, atol=1e-5), f"{name}: onnxruntime differs from PyTorch"
    np.save(os.path.join(d, "input.npy"), x.numpy())
    np.save(os.path.join(d, "expected.npy"), ref.astype(np.float32))
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{name}: {len(model.graph.node)} nodes ({', '.join(ops)}), {os.path.getsize(path)} bytes")


class Calibration:
    """onnxruntime's CalibrationDataReader protocol over 16 seeded inputs."""

    def __init__(self, shape, seed):
        g = np.random.default_rng(seed)
        self.data = [{"x": g.standard_normal(shape).astype(np.float32)} for _ in range(16)]

    def get_next(self):
        return self.data.pop() if self.data else None


def quantized(out_dir, x):
    """The qdq and qoperator models of one float QNet (see the module docstring)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    float_path = os.path.join(out_dir, "qnet_float.onnx")
    torch.onnx.export(randomize(QNet(), 4), (x,), float_path, input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False)
    formats = {"qdq": (QuantFormat.QDQ, {}),
               "qoperator": (QuantFormat.QOperator, {"op_types_to_quantize": ["Conv", "MatMul"]})}
    for name, (fmt, extra) in formats.items():
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        quantize_static(float_path, path, Calibration(tuple(x.shape), 5), quant_format=fmt,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, **extra)
        model = onnx.load(path)
        onnx.checker.check_model(model)
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        last_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][-1]
        np.save(os.path.join(d, "input.npy"), x.numpy())
        np.save(os.path.join(d, "expected.npy"), ref.astype(np.float32))
        np.save(os.path.join(d, "quantum.npy"), inits[last_dq.input[1]].astype(np.float32))
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"{name}: {len(model.graph.node)} nodes ({', '.join(ops)}), {os.path.getsize(path)} bytes")
    os.remove(float_path)


def qdq_params(out_dir):
    """The QuantizeLinear / DequantizeLinear variants quantize_static does not write."""
    d = os.path.join(out_dir, "qdq_params")
    os.makedirs(d, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["qu"]),
             helper.make_node("DequantizeLinear", ["qu", "s"], ["d"]),
             helper.make_node("QuantizeLinear", ["d", "sc", "zc"], ["qc"], axis=-2),
             helper.make_node("DequantizeLinear", ["qc", "sc", "zc"], ["e"], axis=-2),
             helper.make_node("Add", ["d", "e"], ["y"])]
    inits = [onnx.numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             onnx.numpy_helper.from_array(np.array([0.01, 0.02, 0.03], np.float32), "sc"),
             onnx.numpy_helper.from_array(np.array([1, -2, 3], np.int8), "zc")]
    graph = helper.make_graph(nodes, "qdq_params", [x], [y], inits)
    path = os.path.join(d, "model.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    xv = (np.random.default_rng(1).standard_normal((2, 3, 4)) * 3).astype(np.float32)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": xv})[0]
    np.save(os.path.join(d, "input.npy"), xv)
    np.save(os.path.join(d, "expected.npy"), ref.astype(np.float32))
    print(f"qdq_params: {len(nodes)} nodes")


def unsupported(out_dir):
    """A graph whose nodes mlg cannot import for different reasons, in one model."""
    d = os.path.join(out_dir, "unsupported")
    os.makedirs(d, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="fine"),
        helper.make_node("Resize", ["r", "", "scales"], ["up"], name="upsample", mode="nearest"),
        helper.make_node("MaxPool", ["r"], ["p", "p_indices"], name="pool_indices", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Relu", ["p"], ["q"], name="after_pool"),
        helper.make_node("Asin", ["up"], ["s"], name="arcsine"),
        helper.make_node("Conv", ["r", "w"], ["y"], name="conv_odd", kernel_shape=[1, 1], foo=3),
        helper.make_node("Acos", ["q"], ["z"], name="arccosine"),
    ]
    inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
             helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], [1, 0, 0, 1])]
    graph = helper.make_graph(nodes, "unsupported", [x], [y, z], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(d, "model.onnx"))
    print(f"unsupported: {len(nodes)} nodes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "onnx"))
    ap.add_argument("--only", nargs="+", metavar="MODEL",
                    help="resnet mobilenet gpt2 quantized (qdq and qoperator) qdq_params unsupported; default all")
    args = ap.parse_args()
    want = lambda name: not args.only or name in args.only
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    inputs = {"resnet": torch.randn(1, 3, 32, 32, generator=g), "mobilenet": torch.randn(1, 16, 14, 14, generator=g),
              "gpt2": torch.randn(2, 16, 64, generator=g), "quantized": torch.randn(8, 3, 8, 8, generator=g)}
    if want("resnet"):
        export("resnet", randomize(ResNetish(), 1), inputs["resnet"], args.out, do_constant_folding=False)
    if want("mobilenet"):
        export("mobilenet", randomize(InvertedResidual(16, 6), 2), inputs["mobilenet"], args.out)
    if want("gpt2"):
        export("gpt2", randomize(GPT2Block(), 3), inputs["gpt2"], args.out, dynamic_batch=True)
    if want("quantized") or want("qdq") or want("qoperator"):
        quantized(args.out, inputs["quantized"])
    if want("qdq_params"):
        qdq_params(args.out)
    if want("unsupported"):
        unsupported(args.out)


if __name__ == "__main__":
    main()

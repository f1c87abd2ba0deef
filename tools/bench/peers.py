"""The peers mlg is measured against, each behind one interface:

    peer.available() -> (bool, reason)          importable, and usable on this device?
    peer.supports(workload) -> bool
    peer.measure(workload, inputs, weights, timing) -> dict with
        time_ms         median time of one call (the basis the ratio uses for this peer)
        device_ms       median device time where the peer has one (CUDA events), else = wall_ms
        wall_ms         median time of a call from host inputs to host outputs
        runs            timed calls made
        output          the output as a NumPy array (for the correctness check), or None

Peers: NumPy (OpenBLAS; SGEMM), PyTorch eager (CPU or CUDA, TF32 off), torch.compile (CUDA),
onnxruntime (CPU provider; CUDA provider on the GPU when installed), tinygrad (DEV=CL, GPU runs).
At --precision f16 (mlgc --precision=f16) the peers are PyTorch's alone, in half: the module and
its inputs .half(), convolution models channels_last (cuDNN's fast layout), attention through
scaled_dot_product_attention (the transformer block too), the output returned as float.
The PyTorch modules carry the .mlg models' state_dict names, so one .safetensors file feeds mlg
and every peer.
"""
import math
import os
import statistics
import time
import warnings


def _median(v):
    return statistics.median(v) if v else float("nan")


def time_calls(fn, sync, timing):
    """Median ms of fn()+sync() after timing['warmup'] calls; stops after timing['max_seconds']."""
    for _ in range(timing["warmup"]):
        fn()
        sync()
    times = []
    start = time.perf_counter()
    for i in range(timing["runs"]):
        if i and time.perf_counter() - start > timing["max_seconds"]:
            break
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return _median(times), len(times)


# ---------------------------------------------------------------- PyTorch modules and functions

def torch_modules():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)
            self.fc2 = nn.Linear(256, 10)

        def forward(self, x):
            return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=-1)

    class BasicBlock(nn.Module):
        def __init__(self, cin, c, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.downsample = None
            if stride != 1 or cin != c:
                self.downsample = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            s = x if self.downsample is None else self.downsample(x)
            return torch.relu(h + s)

    class ResNet18(nn.Module):
        """torchvision's resnet18, written out so that torchvision is not needed."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, c in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
                cin = c
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    class Attn(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_attn = nn.Linear(c, 3 * c)
            self.c_proj = nn.Linear(c, c)

    class Mlp(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c, 4 * c)
            self.c_proj = nn.Linear(4 * c, c)

    class Block(nn.Module):
        """models/transformer_block.mlg: pre-norm GPT-2 block, causal attention, exact gelu.
        sdpa: attention through F.scaled_dot_product_attention (the fused kernels PyTorch runs in
        half), the same function as the explicit mask and softmax."""

        def __init__(self, t, c, h, sdpa=False):
            super().__init__()
            self.h = h
            self.sdpa = sdpa
            self.ln_1 = nn.LayerNorm(c, eps=1e-5)
            self.attn = Attn(c)
            self.ln_2 = nn.LayerNorm(c, eps=1e-5)
            self.mlp = Mlp(c)
            mask = torch.triu(torch.full((t, t), -1e9), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x):
            b, t, c = x.shape
            d = c // self.h
            q, k, v = self.attn.c_attn(self.ln_1(x)).split(c, dim=2)
            if self.sdpa:
                y = F.scaled_dot_product_attention(*(z.view(b, t, self.h, d).transpose(1, 2) for z in (q, k, v)),
                                                   is_causal=True)
                x1 = x + self.attn.c_proj(y.transpose(1, 2).reshape(b, t, c))
                return x1 + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x1))))
            q = q.view(b, t, self.h, d).transpose(1, 2)
            k = k.view(b, t, self.h, d).permute(0, 2, 3, 1)
            v = v.view(b, t, self.h, d).transpose(1, 2)
            att = torch.softmax((q @ k) * (1.0 / math.sqrt(d)) + self.mask, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, c)
            x1 = x + self.attn.c_proj(y)
            return x1 + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x1))))

    return {"mlp": MLP, "resnet18": ResNet18, "transformer": Block}


def torch_callable(w, weights, device, half=False):
    """(fn(*tensors) -> tensor, module or None) computing workload w in PyTorch on `device`; half:
    the module in f16 (its inputs are the caller's to convert), transformer attention via SDPA."""
    import torch
    import torch.nn.functional as F
    fam = w.family
    if fam in ("sgemm", "hgemm"):  # hgemm: half tensors, cuBLAS's FP16 GEMM on CUDA
        return (lambda a, b: a @ b), None
    if fam == "eltwise":
        return (lambda x: F.gelu(0.75 * x + 0.25) * 1.5 - 0.5), None
    if fam == "softmax":
        return (lambda x: torch.softmax(x, dim=-1)), None
    if fam == "attention":
        causal = bool(w.params["causal"])
        return (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal)), None
    if fam == "layer_norm":
        dtype = torch.float16 if half else torch.float32
        wt = torch.from_numpy(weights["weight"]).to(device, dtype)
        bs = torch.from_numpy(weights["bias"]).to(device, dtype)
        cols = w.params["cols"]
        return (lambda x: F.layer_norm(x, (cols,), wt, bs, 1e-5)), None
    mods = torch_modules()
    if fam == "transformer":
        m = mods[fam](w.params["t"], w.params["c"], w.params["h"], sdpa=half)
    else:
        m = mods[fam]()
    state = {k: torch.from_numpy(v) for k, v in weights.items()}
    missing, unexpected = m.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"state_dict names differ: missing {missing[:5]}, unexpected {unexpected[:5]}")
    m = m.eval().to(device)
    if half:
        m = m.half()
        if fam == "resnet18":
            m = m.to(memory_format=torch.channels_last)
    return m, m


class TorchPeer:
    """PyTorch eager (or torch.compile'd) on the CPU or on CUDA, FP32 with TF32 off; half: FP16
    (cuBLAS HGEMM, cuDNN channels_last convolutions, SDPA), accumulating as PyTorch does."""

    def __init__(self, gpu, compiled=False, half=False):
        self.gpu = gpu
        self.compiled = compiled
        self.half = half
        self.name = ("torch.compile" if compiled else "torch") + ("-cuda" if gpu else "-cpu") + ("-half" if half else "")

    def available(self):
        try:
            import torch
        except Exception as e:  # noqa: BLE001 — any import failure means "missing"
            return False, f"torch not importable: {e}"
        if self.gpu and not torch.cuda.is_available():
            return False, "torch has no CUDA device"
        return True, ""

    def supports(self, w):
        # Half GEMMs on the CPU are no peer worth minutes (PyTorch has no fast CPU HGEMM).
        return self.gpu or w.family != "hgemm"

    def measure(self, w, inputs, weights, timing):
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        device = "cuda" if self.gpu else "cpu"
        fn, _ = torch_callable(w, weights, device, self.half)
        if self.compiled:
            fn = torch.compile(fn)
        host = [torch.from_numpy(inputs[k]) for k in w.inputs]

        def to_device(t):
            if not self.half:
                return t.to(device)
            t = t.to(device).half()
            return t.contiguous(memory_format=torch.channels_last) if w.family == "resnet18" else t

        dev = [to_device(t) for t in host]
        sync = torch.cuda.synchronize if self.gpu else (lambda: None)
        out = {}
        with torch.inference_mode():
            call = lambda: out.__setitem__("y", fn(*dev))  # noqa: E731
            wall_in_out = lambda: out.__setitem__("y", fn(*[to_device(t) for t in host]).float().cpu())  # noqa: E731
            if self.gpu:
                dev_ms, runs = self._cuda_events(call, timing)
                wall_ms, _ = time_calls(wall_in_out, sync, timing)
            else:
                wall_ms, runs = time_calls(call, sync, timing)
                dev_ms = wall_ms
            call()
            sync()
            y = out["y"].float().cpu().numpy()
        return {"device_ms": dev_ms, "wall_ms": wall_ms, "runs": runs, "output": y,
                "time_ms": dev_ms if w.kind == "kernel" else wall_ms}

    @staticmethod
    def _cuda_events(call, timing):
        import torch
        for _ in range(timing["warmup"]):
            call()
        torch.cuda.synchronize()
        times = []
        start = time.perf_counter()
        for i in range(timing["runs"]):
            if i and time.perf_counter() - start > timing["max_seconds"]:
                break
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            call()
            e1.record()
            e1.synchronize()
            times.append(e0.elapsed_time(e1))
        return _median(times), len(times)


class NumpyPeer:
    """NumPy's matmul (its BLAS: OpenBLAS in the PyPI wheels) for SGEMM."""

    name = "numpy"

    def available(self):
        try:
            import numpy  # noqa: F401
        except Exception as e:  # noqa: BLE001
            return False, f"numpy not importable: {e}"
        return True, ""

    def supports(self, w):
        return w.family == "sgemm"

    def measure(self, w, inputs, weights, timing):
        a, b = inputs["a"], inputs["b"]
        out = {}
        ms, runs = time_calls(lambda: out.__setitem__("y", a @ b), lambda: None, timing)
        return {"device_ms": ms, "wall_ms": ms, "time_ms": ms, "runs": runs, "output": out["y"]}


class OrtPeer:
    """onnxruntime on a PyTorch module exported to ONNX (opset 17); CPU provider, or CUDA on GPU."""

    def __init__(self, gpu, work_dir):
        self.gpu = gpu
        self.work_dir = work_dir
        self.name = "onnxruntime" + ("-cuda" if gpu else "-cpu")

    def available(self):
        try:
            import onnx  # noqa: F401
            import onnxruntime as ort
            import torch  # noqa: F401
        except Exception as e:  # noqa: BLE001
            return False, f"onnxruntime/onnx/torch not importable: {e}"
        if self.gpu and "CUDAExecutionProvider" not in ort.get_available_providers():
            return False, "onnxruntime has no CUDAExecutionProvider"
        return True, ""

    def supports(self, w):
        return w.kind == "model"

    def measure(self, w, inputs, weights, timing):
        import onnxruntime as ort
        import torch
        _, module = torch_callable(w, weights, "cpu")
        path = os.path.join(self.work_dir, f"{w.name}.onnx")
        example = tuple(torch.from_numpy(inputs[k]) for k in w.inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(module, example, path, dynamo=False, opset_version=17,
                                  input_names=list(w.inputs), output_names=[w.output])
            except TypeError:  # a torch without the `dynamo` argument
                torch.onnx.export(module, example, path, opset_version=17,
                                  input_names=list(w.inputs), output_names=[w.output])
        providers = ["CUDAExecutionProvider"] if self.gpu else ["CPUExecutionProvider"]
        sess = ort.InferenceSession(path, providers=providers)
        feed = {k: inputs[k] for k in w.inputs}
        out = {}
        ms, runs = time_calls(lambda: out.__setitem__("y", sess.run(None, feed)[0]), lambda: None, timing)
        return {"device_ms": ms, "wall_ms": ms, "time_ms": ms, "runs": runs, "output": out["y"]}


class TinygradPeer:
    """tinygrad on its OpenCL device (DEV=CL), jitted; kernels and the MLP."""

    name = "tinygrad-CL"

    def available(self):
        os.environ.setdefault("DEV", "CL")
        try:
            from tinygrad import Device, Tensor  # noqa: F401
        except Exception as e:  # noqa: BLE001
            return False, f"tinygrad not importable: {e}"
        return True, ""

    def supports(self, w):
        return w.family in ("sgemm", "eltwise", "softmax", "layer_norm", "mlp")

    def measure(self, w, inputs, weights, timing):
        from tinygrad import Device, Tensor, TinyJit
        fam = w.family
        if fam == "sgemm":
            f = lambda a, b: (a @ b)  # noqa: E731
        elif fam == "eltwise":
            # tinygrad's gelu is the tanh form; the time is what matters here.
            f = lambda x: ((x * 0.75 + 0.25).gelu() * 1.5 - 0.5)  # noqa: E731
        elif fam == "softmax":
            f = lambda x: x.softmax(-1)  # noqa: E731
        elif fam == "layer_norm":
            wt, bs = Tensor(weights["weight"]).realize(), Tensor(weights["bias"]).realize()
            f = lambda x: x.layernorm(eps=1e-5) * wt + bs  # noqa: E731
        else:  # mlp
            p = {k: Tensor(v).realize() for k, v in weights.items()}
            f = lambda x: (x.linear(p["fc1.weight"].T, p["fc1.bias"]).relu()  # noqa: E731
                           .linear(p["fc2.weight"].T, p["fc2.bias"]).softmax(-1))
        jf = TinyJit(lambda *xs: f(*xs).realize())
        dev = [Tensor(inputs[k]).realize() for k in w.inputs]
        sync = Device[Device.DEFAULT].synchronize
        out = {}
        ms, runs = time_calls(lambda: out.__setitem__("y", jf(*dev)), sync, timing)
        y = out["y"].numpy()
        wall = lambda: jf(*[Tensor(inputs[k]) for k in w.inputs]).numpy()  # noqa: E731
        wall_ms, _ = time_calls(wall, lambda: None, timing)
        return {"device_ms": ms, "wall_ms": wall_ms, "runs": runs, "output": y,
                "time_ms": ms if w.kind == "kernel" else wall_ms}


def peers_for(device, work_dir, with_compile=True, precision="f32"):
    """The peer list of a --device run, in table order; at f16, PyTorch in half alone."""
    if precision == "f16":
        return [TorchPeer(device == "gpu", half=True)] + \
            ([TorchPeer(True, compiled=True, half=True)] if device == "gpu" and with_compile else [])
    if device == "gpu":
        out = [TorchPeer(True)]
        if with_compile:
            out.append(TorchPeer(True, compiled=True))
        out += [OrtPeer(True, work_dir), TinygradPeer()]
        return out
    return [NumpyPeer(), TorchPeer(False), OrtPeer(False, work_dir), TinygradPeer()]

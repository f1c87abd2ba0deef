"""tests/python/test_mlg.py — the Python package as `pip install ./python` installed it.

The example models run through mlg.load (.mlg, compiled for the device) and through
mlg.compile + mlg.load (.mlgb) on both backends, and their outputs must equal, bit for bit,
mlgrun's on the same model, inputs, weights and device, and meet the models' NumPy/PyTorch
references (tests/models/). Weights given as a dict or a state_dict are checked against a
NumPy evaluation of the MLP; errors must raise mlg.Error with the compiler's or runtime's
message.

    MLG_TEST_MLGRUN=BUILD/bin/mlgrun python -m unittest -v tests/python/test_mlg.py

tools/test.sh runs it in a virtual environment (MLG_TEST_MLGRUN: the mlgrun built with the
package's libraries).
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np

import mlg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MLGRUN = os.environ.get("MLG_TEST_MLGRUN", os.path.join(ROOT, "build", "bin", "mlgrun"))
DEVICES = ("opencl:0", "vulkan:0")


def model_path(name):
    return os.path.join(ROOT, "models", name + ".mlg")


def ref_path(name, *parts):
    return os.path.join(ROOT, "tests", "models", name, *parts)


def read_safetensors(path):
    """The F32 tensors of a .safetensors file, as a dict of arrays."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError("%s: tensor %s is %s" % (path, name, t["dtype"]))
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], np.float32).reshape(t["shape"]).copy()
    return out


def tolerance(name):
    with open(ref_path(name, "tolerance")) as f:
        text = f.read()
    return (float(re.search(r"rtol=(\S+)", text).group(1)),
            float(re.search(r"atol=(\S+)", text).group(1)))


class FakeTensor:
    """What mlg sees of a torch.Tensor: detach(), cpu(), numpy()."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def mlp_reference(x, w):
    h = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
    z = h @ w["fc2.weight"].T + w["fc2.bias"]
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mlg-python-")
        # One program cache for mlgrun and the package, inside the test's folder unless set.
        os.environ.setdefault("MLG_CACHE_DIR", os.path.join(cls.tmp.name, "cache"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def mlgrun(self, model, device, outdir, *args):
        cmd = [MLGRUN, model, "--device", device, "--output-dir", outdir, *args]
        done = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, "%s\n%s" % (" ".join(cmd), done.stderr))

    def test_installed(self):
        """The package imported is the installed one, with its own libraries."""
        here = os.path.dirname(mlg.__file__)
        self.assertFalse(here.startswith(os.path.join(ROOT, "python")), here)
        libs = os.listdir(os.path.join(here, "_lib"))
        self.assertIn("libmlgc.so", libs)
        self.assertTrue(any(n.startswith("libmlgrt.so.") for n in libs), libs)
        with open(os.path.join(ROOT, "runtime", "include", "mlg.h")) as f:
            header = f.read()
        want = ".".join(re.search(r"#define MLG_VERSION_%s (\d+)" % k, header).group(1)
                        for k in ("MAJOR", "MINOR", "PATCH"))
        self.assertEqual(mlg.version(), want)
        self.assertEqual(mlg.__version__, want)

    def test_devices(self):
        devs = mlg.devices()
        specs = [d.spec for d in devs]
        for spec in DEVICES:
            self.assertIn(spec, specs)
        for d in devs:
            self.assertIn(d.backend, ("opencl", "vulkan"))
            self.assertTrue(d.spec.startswith(d.backend + ":"))
            self.assertIsInstance(d.is_gpu, bool)
            self.assertTrue(d.name)

    def check_model(self, name, device):
        weights = ref_path(name, "weights.safetensors")
        x = np.load(ref_path(name, "x.npy"))
        expected = {f[:-4]: np.load(ref_path(name, "expected", f))
                    for f in os.listdir(ref_path(name, "expected"))}
        rtol, atol = tolerance(name)
        target = device.split(":")[0]
        outdir = os.path.join(self.tmp.name, name, target)
        xfile = os.path.join(outdir, "x.npy")
        os.makedirs(outdir, exist_ok=True)
        np.save(xfile, x)

        # The source, compiled for the device: as mlgrun does (and with no warning).
        with warnings.catch_warnings():
            warnings.simplefilter("error", mlg.CompileWarning)
            m = mlg.load(model_path(name), device=device, weights=weights)
        self.assertEqual(m.device.spec, device)
        self.assertEqual([(i.name, i.dtype, i.shape) for i in m.inputs],
                         [("x", np.dtype(np.float32), x.shape)])
        self.assertEqual([o.name for o in m.outputs], list(expected))
        out = m.run(x=x)
        self.assertEqual(list(out), [o.name for o in m.outputs])
        self.mlgrun(model_path(name), device, outdir, "--weights", weights, "--input", "x=" + xfile)
        for k, ref in expected.items():
            mine = np.load(os.path.join(outdir, k + ".npy"))
            self.assertEqual(out[k].shape, ref.shape)
            self.assertTrue(np.array_equal(out[k], mine), "%s on %s: %s differs from mlgrun's"
                            % (name, device, k))
            np.testing.assert_allclose(out[k], ref, rtol=rtol, atol=atol)

        # A bundle from mlg.compile, loaded as it is: the same as mlgrun on that bundle.
        bundle = os.path.join(outdir, name + ".mlgb")
        data = mlg.compile(model_path(name), bundle, target=target, weights=weights)
        self.assertEqual(data[:4], b"MLGB")
        with open(bundle, "rb") as f:
            self.assertEqual(f.read(), data)
        b = mlg.load(bundle, device=device)
        bout = b.run({"x": x})
        self.mlgrun(bundle, device, outdir, "--input", "x=" + xfile)
        for k, ref in expected.items():
            self.assertTrue(np.array_equal(bout[k], np.load(os.path.join(outdir, k + ".npy"))))
            np.testing.assert_allclose(bout[k], ref, rtol=rtol, atol=atol)
        b.close()
        m.close()

    def test_mlp(self):
        for device in DEVICES:
            with self.subTest(device=device):
                self.check_model("mlp", device)

    def test_resnet_block(self):
        for device in DEVICES:
            with self.subTest(device=device):
                self.check_model("resnet_block", device)

    def test_dims(self):
        with mlg.load(model_path("mlp"), device="opencl", dims={"N": 4}) as m:  # opencl:0
            self.assertEqual(m.device.spec, "opencl:0")
            self.assertEqual(m.inputs, [mlg.TensorInfo("x", np.dtype(np.float32), (4, 784))])
            self.assertEqual(m.outputs, [mlg.TensorInfo("probs", np.dtype(np.float32), (4, 10))])
            probs = m.run(x=np.zeros((4, 784), np.float64))["probs"]  # float64 converted
            self.assertEqual(probs.dtype, np.float32)
            np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)

    def test_weights_dict_and_state_dict(self):
        rng = np.random.default_rng(7)
        w = {k: rng.standard_normal(v.shape).astype(np.float32) * 0.05
             for k, v in read_safetensors(ref_path("mlp", "weights.safetensors")).items()}
        x = rng.standard_normal((3, 784)).astype(np.float32)
        ref = mlp_reference(x.astype(np.float64), {k: v.astype(np.float64) for k, v in w.items()})
        as_dict = mlg.load(model_path("mlp"), device="opencl:0", dims={"N": 3}, weights=w)
        got = as_dict.run(x=x)["probs"]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
        # float64 values and tensor-like objects (a state_dict) give the same bytes.
        fake = {k: FakeTensor(v.astype(np.float64)) for k, v in w.items()}
        as_state = mlg.load(model_path("mlp"), device="opencl:0", dims={"N": 3}, weights=fake)
        self.assertTrue(np.array_equal(as_state.run(x=x)["probs"], got))
        # A name that matches no param: a CompileWarning naming it, with the param it is near.
        typo = dict(w)
        typo["fc2.weigth"] = typo.pop("fc2.weight")
        with self.assertWarns(mlg.CompileWarning) as warned:
            mlg.load(model_path("mlp"), device="opencl:0", dims={"N": 3}, weights=typo)
        self.assertIn("'fc2.weigth' (did you mean 'fc2.weight'?)", str(warned.warning))
        # A bundle without weights, bound at load from a dict.
        bundle = os.path.join(self.tmp.name, "mlp-noweights.mlgb")
        mlg.compile(model_path("mlp"), bundle, dims={"N": 3}, no_weights=True, device_hint="cpu")
        bound = mlg.load(bundle, device="opencl:0", weights=w)
        np.testing.assert_allclose(bound.run(x=x)["probs"], ref, rtol=1e-4, atol=1e-6)

    def test_winograd_option(self):
        """winograd=False (mlgc --no-winograd) keeps a CPU bundle's 3x3 convolution off
        Winograd's kernels; both bundles compute the same y."""
        src = os.path.join(self.tmp.name, "wide_conv.mlg")
        with open(src, "w") as f:
            f.write("model wide_conv {\n  input x : f32[1, 96, 12, 12]\n"
                    "  param w : f32[96, 96, 3, 3] = normal(0, 0.05, seed=5)\n"
                    "  output y = relu(conv2d(x, w, padding=1))\n}\n")
        x = np.random.default_rng(3).standard_normal((1, 96, 12, 12)).astype(np.float32)
        outs = []
        for winograd in (True, False):
            path = os.path.join(self.tmp.name, f"wide_conv_{winograd}.mlgb")
            data = mlg.compile(src, path, device_hint="cpu", winograd=winograd)
            self.assertEqual(b"wino_gemm" in data, winograd)
            outs.append(mlg.load(path, device="opencl:0").run(x=x)["y"])
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4)

    def test_torch_state_dict(self):
        try:
            import torch
        except ImportError:
            self.skipTest("torch is not installed (the state_dict protocol is covered by "
                          "test_weights_dict_and_state_dict)")
        torch.manual_seed(0)
        net = torch.nn.Module()
        net.fc1 = torch.nn.Linear(784, 256)
        net.fc2 = torch.nn.Linear(256, 10)
        x = torch.randn(2, 784)
        with torch.no_grad():
            ref = torch.softmax(net.fc2(torch.relu(net.fc1(x))), dim=-1).numpy()
        m = mlg.load(model_path("mlp"), device="opencl:0", dims={"N": 2}, weights=net.state_dict())
        np.testing.assert_allclose(m.run(x=x.numpy())["probs"], ref, rtol=1e-4, atol=1e-6)

    def test_train(self):
        """train_step and state_dict against torch.optim's numbers (the train_adam fixture), and
        save_weights read back as weights."""
        fx = os.path.join(ROOT, "tests", "fixtures", "train_adam")
        x, label = np.load(os.path.join(fx, "x.npy")), np.load(os.path.join(fx, "label.npy"))
        m = mlg.load(os.path.join(fx, "model.mlg"), device="opencl:0",
                     weights=os.path.join(fx, "weights.safetensors"))
        self.assertTrue(m.trainable)
        self.assertEqual(m.optimizer, "adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0)")
        self.assertEqual([p.name for p in m.params], ["w1", "b1", "w2", "b2"])
        losses = [m.train_step(x=x[s], label=label[s]) for s in range(len(x))]
        np.testing.assert_allclose(losses, np.load(os.path.join(fx, "expected", "loss.npy")),
                                   rtol=1e-5, atol=1e-6)
        trained = m.state_dict()
        for name, value in trained.items():
            np.testing.assert_allclose(value, np.load(os.path.join(fx, "expected", name + ".npy")),
                                       rtol=1e-5, atol=1e-6, err_msg=name)
        saved = os.path.join(self.tmp.name, "trained.safetensors")
        m.save_weights(saved)
        self.assertEqual(sorted(read_safetensors(saved)), sorted(trained))
        again = mlg.load(os.path.join(fx, "model.mlg"), device="opencl:0", weights=saved)
        for name, value in again.state_dict().items():
            self.assertTrue(np.array_equal(value, trained[name]), name)
        with self.assertRaises(mlg.Error) as e:
            mlg.load(model_path("mlp"), device="opencl:0", dims={"N": 1}).train_step(x=x[0])
        self.assertIn("has no train step", str(e.exception))

    def test_torch_not_imported(self):
        code = ("import sys, numpy as np, mlg\n"
                "w = {'fc1.weight': np.zeros((256, 784), np.float32)}\n"
                "mlg.compile(sys.argv[1], sys.argv[2], weights=w)\n"
                "assert 'torch' not in sys.modules, 'mlg imported torch'\n")
        out = os.path.join(self.tmp.name, "no-torch.mlgb")
        done = subprocess.run([sys.executable, "-c", code, model_path("mlp"), out],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_precision_f16(self):
        """--precision=f16: half the weights' bytes, the same f32 interface, outputs within the
        f16 bound of the f32 run (docs/testing.md)."""
        b32 = mlg.compile(model_path("mlp"))
        b16 = mlg.compile(model_path("mlp"), precision="f16")
        self.assertLess(len(b16), len(b32) * 0.6)
        x = np.random.default_rng(3).uniform(-1, 1, (1, 784)).astype(np.float32)
        want = mlg.load(model_path("mlp"), device="opencl:0").run(x=x)["probs"]
        m = mlg.load(model_path("mlp"), device="opencl:0", precision="f16")
        got = m.run(x=x)["probs"]
        self.assertEqual(got.dtype, np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2 * np.abs(want).max())
        with self.assertRaises(mlg.Error) as e:
            mlg.compile(model_path("mlp"), precision="f8")
        self.assertIn("unknown precision 'f8'", str(e.exception))

    def test_compile_errors(self):
        src = os.path.join(self.tmp.name, "bad.mlg")
        with open(src, "w") as f:
            f.write("model bad {\n  input x : f32[4]\n  output y = relu(x, z)\n}\n")
        with self.assertRaises(mlg.Error) as e:
            mlg.compile(src)
        self.assertIn(src + ":3:", str(e.exception))
        self.assertIn("error:", str(e.exception))
        self.assertEqual(e.exception.status_name, "malformed file")
        with self.assertRaises(mlg.Error) as e:
            mlg.load(src, device="opencl:0")
        self.assertIn(src + ":3:", str(e.exception))
        with self.assertRaises(mlg.Error) as e:
            mlg.compile(os.path.join(self.tmp.name, "missing.mlg"))
        self.assertIn("cannot read", str(e.exception))
        with self.assertRaises(mlg.Error) as e:
            mlg.compile(model_path("mlp"), target="cuda")
        self.assertIn("unknown target 'cuda'", str(e.exception))
        with self.assertRaises(mlg.Error) as e:
            mlg.load(model_path("mlp"), device="opencl:0", dims={"n": 4})
        self.assertIn("did you mean 'N'", str(e.exception))
        with self.assertRaises(mlg.Error) as e:
            mlg.load(model_path("mlp"), device="opencl:0",
                     weights={"fc1.weight": np.zeros((784, 256), np.float32)})
        self.assertIn("fc1.weight", str(e.exception))

    def test_runtime_errors(self):
        with self.assertRaises(mlg.Error) as e:
            mlg.load(model_path("mlp"), device="opencl:9")
        self.assertIn("available:", str(e.exception))
        self.assertEqual(e.exception.status_name, "no device")
        bundle = os.path.join(self.tmp.name, "mlp-errors.mlgb")
        mlg.compile(model_path("mlp"), bundle)
        with self.assertRaises(mlg.Error) as e:
            mlg.load(bundle, device="opencl:0", dims={"N": 2})
        self.assertIn("recompile", str(e.exception))
        with self.assertRaises(mlg.Error) as e:
            mlg.load(bundle, device="vulkan:0")
        self.assertIn("--target", str(e.exception))
        m = mlg.load(bundle, device="opencl:0")
        cases = [({"x": np.zeros((2, 784), np.float32)}, "has shape (2, 784)"),
                 ({"x": np.zeros((1, 784), np.complex64)}, "complex64"),
                 ({}, "input 'x' not given"),
                 ({"x": np.zeros((1, 784)), "y": 1}, "has no input 'y'")]
        for inputs, want in cases:
            with self.assertRaises(mlg.Error) as e:
                m.run(inputs)
            self.assertIn(want, str(e.exception))
        m.close()
        with self.assertRaises(mlg.Error):
            m.run(x=np.zeros((1, 784), np.float32))


if __name__ == "__main__":
    unittest.main()

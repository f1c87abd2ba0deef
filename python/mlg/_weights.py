"""Weights given as a mapping of arrays (a dict of NumPy arrays, or a PyTorch state_dict) are
written to a temporary .safetensors file, the form the compiler and the runtime read.

Torch is never imported here: a tensor is recognised by its detach/cpu/numpy methods.
"""
import json
import os
import struct
import tempfile
from collections.abc import Mapping

import numpy as np


# The NumPy dtypes mlg stores as they are, with their .safetensors names (runtime/dtype.c).
_KEPT = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int32): "I32",
         np.dtype(np.int64): "I64", np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8",
         np.dtype(np.bool_): "BOOL"}


def _as_array(name, value):
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()  # a torch.Tensor (or anything shaped like one)
    a = np.asarray(value)
    if a.dtype in _KEPT:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float32)
    if a.dtype.kind in "iu":
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            raise ValueError("weight '%s' holds integers outside int32" % name)
        return np.ascontiguousarray(a, dtype=np.int32)
    raise ValueError("weight '%s' is %s; mlg weights are float32, float16, int32, int64, int8, "
                     "uint8 or bool" % (name, a.dtype))


def write_safetensors(weights, path):
    """Writes `weights` (a mapping of name to array-like) to `path` as .safetensors."""
    if not isinstance(weights, Mapping):
        raise TypeError("weights must be a path or a mapping of names to arrays, not %s"
                        % type(weights).__name__)
    header, arrays, offset = {}, [], 0
    for name, value in weights.items():
        if not isinstance(name, str):
            raise TypeError("weight names must be strings, got %r" % (name,))
        a = _as_array(name, value)
        header[name] = {"dtype": _KEPT[a.dtype],
                        "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        arrays.append(a)
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


class WeightsFile:
    """A context manager giving a path for `weights`: None, the path itself, or a temporary
    .safetensors file written from a mapping (removed on exit)."""

    def __init__(self, weights):
        self.weights = weights
        self.folder = None

    def __enter__(self):
        if self.weights is None:
            return None
        if isinstance(self.weights, (str, bytes, os.PathLike)):
            return os.fsdecode(self.weights)
        self.folder = tempfile.TemporaryDirectory(prefix="mlg-weights-")
        path = os.path.join(self.folder.name, "weights.safetensors")
        write_safetensors(self.weights, path)
        return path

    def __exit__(self, *exc):
        if self.folder:
            self.folder.cleanup()
        return False

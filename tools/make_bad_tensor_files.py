#!/usr/bin/env python3
"""Generates the tensor-file fixtures used by tests/unit/test_tensor_file.c.

- tests/data/tf_*.npy, tests/data/tf_*.safetensors: good files written by numpy and the
  safetensors package themselves (so the C reader is checked against the real writers).
- tests/data/bad/*.npy, tests/data/bad/*.safetensors: malformed files, one defect each, crafted
  byte by byte. The test asserts a message substring for each.

The outputs are committed; the tests need no Python. Rerun after changing this script:
    python3 tools/make_bad_tensor_files.py
"""
import json
import os
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
BAD = os.path.join(ROOT, "bad")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- good files, from the real writers ----

def make_good():
    from safetensors.numpy import save_file

    np.save(os.path.join(ROOT, "tf_f32_1d.npy"), np.arange(5, dtype=np.float32) * 0.5 - 1.0)
    np.save(os.path.join(ROOT, "tf_i32_2d.npy"), np.arange(6, dtype=np.int32).reshape(2, 3) - 2)
    np.save(os.path.join(ROOT, "tf_f32_scalar.npy"), np.array(3.25, dtype=np.float32))
    np.save(os.path.join(ROOT, "tf_f32_4d.npy"),
            np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5) * 0.25)
    for major in (2, 3):
        with open(os.path.join(ROOT, "tf_f32_v%d.npy" % major), "wb") as f:
            np.lib.format.write_array(f, np.arange(6, dtype=np.float32).reshape(3, 2) + 0.5,
                                      version=(major, 0))
    save_file({
        "fc1.weight": (np.arange(12, dtype=np.float32).reshape(4, 3) - 6.0) / 8.0,
        "fc1.bias": np.array([0.5, -0.5, 1.5, -1.5], dtype=np.float32),
        "steps": np.array([[1, -2], [3, -4]], dtype=np.int32),
        "scale": np.array(2.0, dtype=np.float32),
    }, os.path.join(ROOT, "tf_weights.safetensors"), metadata={"format": "np", "source": "mlg"})
    # Every other dtype, as numpy and the safetensors package write them.
    others = {
        "bool": np.array([[True, False, True], [False, False, True]]),
        "i64": np.array([-3, 0, 2**31 - 1, -2**31, 7], dtype=np.int64),
        "f16": np.array([1.5, -0.0, 65504.0, 2.0**-24, np.inf], dtype=np.float16),
        "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "u8": np.array([[0, 1], [128, 255]], dtype=np.uint8),
    }
    for name, a in others.items():
        np.save(os.path.join(ROOT, "tf_%s.npy" % name), a)
    save_file(others, os.path.join(ROOT, "tf_dtypes.safetensors"))


# ---- bad .npy ----

def npy(header, data=b"", major=1, minor=0, pad=True):
    """An .npy file with a verbatim header dict (padded to 64 bytes like numpy does)."""
    text = header.encode("latin1")
    pre = 10 if major == 1 else 12
    if pad:
        total = pre + len(text) + 1
        text += b" " * ((-total) % 64)
        text += b"\n"
    length = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, minor]) + length + text + data


def hdr(descr="'<f4'", order="False", shape="(2,)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)


F2 = struct.pack("<2f", 1.0, 2.0)

BAD_NPY = {
    "empty.npy": b"",
    "bad_magic.npy": b"\x93NUMPX" + npy(hdr(), F2)[6:],
    "truncated_prefix.npy": b"\x93NUMPY\x01\x00",
    "header_past_end.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 500) + b"{'descr': '<f4'",
    "version4.npy": npy(hdr(), F2, major=4),
    "big_endian.npy": npy(hdr(descr="'>f4'"), F2),
    "fortran_order.npy": npy(hdr(order="True", shape="(1, 2)"), F2),
    "object_dtype.npy": npy(hdr(descr="'|O'"), F2),
    "float64.npy": npy(hdr(descr="'<f8'"), struct.pack("<2d", 1.0, 2.0)),
    "structured.npy": npy(hdr(descr="[('a', '<f4')]"), F2),
    "data_truncated.npy": npy(hdr(shape="(2, 3)"), F2),
    "trailing_bytes.npy": npy(hdr(), F2 + b"\0\0\0\0"),
    "rank9.npy": npy(hdr(shape="(1, 1, 1, 1, 1, 1, 1, 1, 1)"), struct.pack("<f", 1.0)),
    "negative_dim.npy": npy(hdr(shape="(-2,)"), F2),
    "huge_dim.npy": npy(hdr(shape="(%d,)" % 2**70), F2),
    "overflow_dims.npy": npy(hdr(shape="(%d, %d, %d)" % (2**40, 2**40, 2**40)), F2),
    "zero_dim.npy": npy(hdr(shape="(0,)")),
    "missing_shape.npy": npy("{'descr': '<f4', 'fortran_order': False, }", F2),
    "duplicate_key.npy": npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", F2),
    "unknown_key.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", F2),
    "bad_syntax.npy": npy("{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }", F2),
    "no_newline.npy": npy(hdr() + "    ", F2, pad=False),
    "shape_not_tuple.npy": npy(hdr(shape="(2)"), F2),
}


# ---- bad .safetensors ----

def st(header, data=b"", raw_len=None):
    """A .safetensors file with `header` (a dict, or verbatim JSON text)."""
    if isinstance(header, bytes):
        text = header
    else:
        text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
        text = text.encode("utf-8")
    length = len(text) if raw_len is None else raw_len
    return struct.pack("<Q", length) + text + data


def ent(dtype="F32", shape=(2,), offs=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}


D8 = struct.pack("<2f", 1.0, 2.0)
D16 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)

BAD_ST = {
    "short.safetensors": b"\x10\x00\x00\x00\x00",
    "header_past_end.safetensors": st({"a": ent()}, D8, raw_len=4096),
    "header_huge.safetensors": st({"a": ent()}, D8, raw_len=2**63),
    "not_object.safetensors": st("[1, 2]", D8),
    "bad_json.safetensors": st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}', D8),
    "trailing_json.safetensors": st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}} x', D8),
    "bad_escape.safetensors": st('{"a\\q": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', D8),
    "deep_nesting.safetensors": st('{"__metadata__": ' + "[" * 1000 + "]" * 1000 + "}", b""),
    "f64.safetensors": st({"a": ent(dtype="F64", offs=(0, 16))}, D16),
    "offsets_out_of_range.safetensors": st({"a": ent(offs=(8, 16))}, D8),
    "overlap.safetensors": st({"a": ent(offs=(0, 8)), "b": ent(offs=(4, 12))}, D16[:12]),
    "unordered.safetensors": st({"a": ent(offs=(8, 0))}, D8),
    "gap.safetensors": st({"a": ent(offs=(8, 16))}, D16),
    "trailing_data.safetensors": st({"a": ent(offs=(0, 8))}, D16),
    "size_mismatch.safetensors": st({"a": ent(shape=(3,), offs=(0, 8))}, D8),
    "duplicate_name.safetensors": st('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                                     '"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', D16),
    "missing_offsets.safetensors": st({"a": {"dtype": "F32", "shape": [2]}}, D8),
    "negative_dim.safetensors": st({"a": ent(shape=(-2,))}, D8),
    "rank9.safetensors": st({"a": ent(shape=(1,) * 9, offs=(0, 4))}, D8[:4]),
    "metadata_not_string.safetensors": st({"__metadata__": {"n": 3}, "a": ent()}, D8),
    "bad_utf8.safetensors": st(b'{"a\xff": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', D8),
}


def main():
    os.makedirs(BAD, exist_ok=True)
    make_good()
    for name, data in BAD_NPY.items():
        write(os.path.join(BAD, name), data)
    for name, data in BAD_ST.items():
        write(os.path.join(BAD, name), data)
    print("wrote %d bad .npy and %d bad .safetensors files" % (len(BAD_NPY), len(BAD_ST)))


if __name__ == "__main__":
    main()

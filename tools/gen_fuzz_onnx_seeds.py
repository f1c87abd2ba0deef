#!/usr/bin/env python3
"""Writes the small ONNX models that seed the importer's fuzzer (tests/fuzz/corpus/onnx/) and
the hostile-input tests (tests/data/hostile/*.onnx).

    python3 tools/gen_fuzz_onnx_seeds.py [--corpus DIR] [--hostile DIR]

The protobuf is written by hand (field numbers from onnx/onnx.proto), so that nothing beyond
Python's standard library is needed: each seed is a few hundred bytes that exercise one part
of the importer (elementwise ops, MatMul with an initializer, Conv and pooling, shape
arithmetic that is folded at import, ConstantOfShape, Reshape, Softmax, a symbolic dim).
The hostile ones are small files that ask the importer to compute huge values at import; the
regressions (tests/fuzz/regress/onnx/) are models that crashed it.
"""
import argparse
import os
import struct

FLOAT, INT64 = 1, 7          # TensorProto.DataType
ATTR_FLOAT, ATTR_INT, ATTR_TENSOR, ATTR_INTS = 1, 2, 4, 7


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_int(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def f_float(field, x):
    return key(field, 5) + struct.pack("<f", x)


def tensor(name, dtype, dims, values):
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9."""
    fmt = "<%d%s" % (len(values), "f" if dtype == FLOAT else "q")
    body = b"".join(f_int(1, d) for d in dims) + f_int(2, dtype) + f_bytes(8, name)
    return body + f_bytes(9, struct.pack(fmt, *values))


def attr(name, kind, value):
    """AttributeProto: name=1, f=2, i=3, t=5, ints=8, type=20."""
    body = f_bytes(1, name) + f_int(20, kind)
    if kind == ATTR_FLOAT:
        body += f_float(2, value)
    elif kind == ATTR_INT:
        body += f_int(3, value)
    elif kind == ATTR_TENSOR:
        body += f_bytes(5, value)
    elif kind == ATTR_INTS:
        body += b"".join(f_int(8, v) for v in value)
    return body


def node(op, inputs, outputs, attrs=(), name=None):
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5."""
    body = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    body += f_bytes(3, name or (op.lower() + "_" + outputs[0])) + f_bytes(4, op)
    return body + b"".join(f_bytes(5, a) for a in attrs)


def value_info(name, dims, dtype=FLOAT):
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2}}};
    a str dim is a dim_param."""
    shape = b"".join(f_bytes(1, f_bytes(2, d) if isinstance(d, str) else f_int(1, d)) for d in dims)
    ttype = f_int(1, dtype) + f_bytes(2, shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, ttype))


def model(graph_name, nodes, inputs, outputs, initializers=(), opset=17):
    """ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (version=2).
    GraphProto: node=1, name=2, initializer=5, input=11, output=12."""
    g = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, graph_name)
    g += b"".join(f_bytes(5, t) for t in initializers)
    g += b"".join(f_bytes(11, v) for v in inputs) + b"".join(f_bytes(12, v) for v in outputs)
    return f_int(1, 8) + f_bytes(2, "mlg-fuzz-seeds") + f_bytes(7, g) + f_bytes(8, f_int(2, opset))


def ramp(n, scale=0.1):
    return [((k * 7) % 11 - 5) * scale for k in range(n)]


def seeds():
    s = {}
    s["elementwise.onnx"] = model(
        "elementwise",
        [node("Relu", ["x"], ["r"]), node("Sigmoid", ["r"], ["s"]), node("Mul", ["s", "x"], ["m"]),
         node("Add", ["m", "b"], ["y"])],
        [value_info("x", [2, 4])], [value_info("y", [2, 4])],
        [tensor("b", FLOAT, [4], ramp(4))])
    s["matmul.onnx"] = model(
        "matmul",
        [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"], ["a"]), node("Tanh", ["a"], ["t"]),
         node("Gemm", ["t", "w2"], ["y"], [attr("transB", ATTR_INT, 1), attr("alpha", ATTR_FLOAT, 0.5)])],
        [value_info("x", [3, 4])], [value_info("y", [3, 2])],
        [tensor("w", FLOAT, [4, 5], ramp(20)), tensor("b", FLOAT, [5], ramp(5)),
         tensor("w2", FLOAT, [2, 5], ramp(10, 0.2))])
    s["conv.onnx"] = model(
        "conv",
        [node("Conv", ["x", "w", "b"], ["c"], [attr("pads", ATTR_INTS, [1, 1, 1, 1]),
                                             attr("kernel_shape", ATTR_INTS, [3, 3])]),
         node("Relu", ["c"], ["r"]),
         node("MaxPool", ["r"], ["p"], [attr("kernel_shape", ATTR_INTS, [2, 2]),
                                        attr("strides", ATTR_INTS, [2, 2])]),
         node("GlobalAveragePool", ["p"], ["g"]), node("Flatten", ["g"], ["y"])],
        [value_info("x", [1, 1, 6, 6])], [value_info("y", [1, 2])],
        [tensor("w", FLOAT, [2, 1, 3, 3], ramp(18)), tensor("b", FLOAT, [2], [0.1, -0.2])])
    # Shape arithmetic, folded at import: Shape → Gather → Concat → Reshape.
    s["shape_fold.onnx"] = model(
        "shape_fold",
        [node("Shape", ["x"], ["shp"]),
         node("Gather", ["shp", "i0"], ["d0"], [attr("axis", ATTR_INT, 0)]),
         node("Unsqueeze", ["d0", "ax0"], ["d0v"]),
         node("Concat", ["d0v", "minus1"], ["target"], [attr("axis", ATTR_INT, 0)]),
         node("Reshape", ["x", "target"], ["flat"]),
         node("Softmax", ["flat"], ["y"], [attr("axis", ATTR_INT, -1)])],
        [value_info("x", ["batch", 3, 4])], [value_info("y", ["batch", 12])],
        [tensor("i0", INT64, [], [0]), tensor("ax0", INT64, [1], [0]), tensor("minus1", INT64, [1], [-1])])
    s["constant_of_shape.onnx"] = model(
        "constant_of_shape",
        [node("ConstantOfShape", ["shape"], ["c"], [attr("value", ATTR_TENSOR, tensor("v", FLOAT, [1], [0.5]))]),
         node("Add", ["x", "c"], ["a"]),
         node("ReduceMean", ["a"], ["y"], [attr("axes", ATTR_INTS, [1]), attr("keepdims", ATTR_INT, 1)])],
        [value_info("x", [2, 3])], [value_info("y", [2, 1])],
        [tensor("shape", INT64, [2], [2, 3])], opset=13)
    s["transpose_concat.onnx"] = model(
        "transpose_concat",
        [node("Transpose", ["x"], ["t"], [attr("perm", ATTR_INTS, [1, 0])]),
         node("Concat", ["t", "t"], ["c"], [attr("axis", ATTR_INT, 0)]),
         node("Slice", ["c", "starts", "ends"], ["s"]), node("Neg", ["s"], ["y"])],
        [value_info("x", [2, 3])], [value_info("y", [3, 2])],
        [tensor("starts", INT64, [1], [1]), tensor("ends", INT64, [1], [4])])
    return s


def hostile():
    h = {}
    # 2^31 int64 values (16 GiB) from a 200-byte file: Expand of a folded constant.
    h["expand_bomb.onnx"] = model(
        "expand_bomb",
        [node("Expand", ["one", "shape"], ["big"]), node("Shape", ["big"], ["shp"]),
         node("Cast", ["shp"], ["f"], [attr("to", ATTR_INT, FLOAT)]), node("Add", ["x", "f"], ["y"])],
        [value_info("x", [2])], [value_info("y", [2])],
        [tensor("one", INT64, [1], [1]), tensor("shape", INT64, [2], [32768, 65536])])
    # 40000 x 40000 floats (5.96 GiB) from ConstantOfShape.
    h["constant_of_shape_bomb.onnx"] = model(
        "constant_of_shape_bomb",
        [node("ConstantOfShape", ["shape"], ["c"], [attr("value", ATTR_TENSOR, tensor("v", FLOAT, [1], [1.0]))]),
         node("MatMul", ["x", "c"], ["y"])],
        [value_info("x", [1, 40000])], [value_info("y", [1, 40000])],
        [tensor("shape", INT64, [2], [40000, 40000])])
    return h


def regressions():
    """Models that crashed the importer: each named after what it broke (the fuzzer's own
    findings are committed as it wrote them)."""
    r = {}
    # num_outputs=100 wrote 100 split sizes into an array of 64.
    r["split-num-outputs-past-64.onnx"] = model(
        "split_many",
        [node("Split", ["x"], ["a", "b"], [attr("axis", ATTR_INT, 1), attr("num_outputs", ATTR_INT, 100)])],
        [value_info("x", [2, 4])], [value_info("a", [2, 2]), value_info("b", [2, 2])], opset=18)
    # Range to +inf: the element count, infinite, was converted to int64.
    r["range-to-infinity.onnx"] = model(
        "range_inf",
        [node("Range", ["start", "limit", "delta"], ["r"]), node("Add", ["x", "r"], ["y"])],
        [value_info("x", [4])], [value_info("y", [4])],
        [tensor("start", FLOAT, [], [0.0]), tensor("limit", FLOAT, [], [float("inf")]),
         tensor("delta", FLOAT, [], [1.0])])
    # An int64 Range whose last values pass 2^63: start + k * delta overflowed.
    r["range-int64-overflow.onnx"] = model(
        "range_overflow",
        [node("Range", ["start", "limit", "delta"], ["r"]), node("Cast", ["r"], ["f"], [attr("to", ATTR_INT, FLOAT)]),
         node("ReduceSum", ["f"], ["s"], [attr("keepdims", ATTR_INT, 1)]), node("Add", ["x", "s"], ["y"])],
        [value_info("x", [1])], [value_info("y", [1])],
        [tensor("start", INT64, [], [-(1 << 62)]), tensor("limit", INT64, [], [(1 << 63) - 1]),
         tensor("delta", INT64, [], [1 << 41])], opset=11)
    # blocksize 2^32: blocksize * blocksize overflowed.
    r["depth-to-space-blocksize-2-32.onnx"] = model(
        "depth_to_space_big",
        [node("DepthToSpace", ["x"], ["y"], [attr("blocksize", ATTR_INT, 1 << 32)])],
        [value_info("x", [1, 4, 2, 2])], [value_info("y", [1, 1, 4, 4])])
    # EyeLike with k = 2^63-1: row + k overflowed.
    r["eye-like-k-int64-max.onnx"] = model(
        "eye_like_k",
        [node("EyeLike", ["e"], ["i"], [attr("k", ATTR_INT, (1 << 63) - 1)]), node("Add", ["x", "i"], ["y"])],
        [value_info("x", [3, 3])], [value_info("y", [3, 3])],
        [tensor("e", FLOAT, [3, 3], [0.0] * 9)])
    return r


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.path.join(root, "tests/fuzz/corpus/onnx"))
    ap.add_argument("--hostile", default=os.path.join(root, "tests/data/hostile"))
    ap.add_argument("--regress", default=os.path.join(root, "tests/fuzz/regress/onnx"))
    a = ap.parse_args()
    for folder, files in ((a.corpus, seeds()), (a.hostile, hostile()), (a.regress, regressions())):
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            print("%s (%d bytes)" % (os.path.join(folder, name), len(data)))


if __name__ == "__main__":
    main()

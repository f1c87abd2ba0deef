#!/usr/bin/env python3
"""Writes the small ONNX models that seed the importer's fuzzer (tests/fuzz/corpus/onnx/) and
the hostile-input tests (tests/data/hostile/*.onnx).

    python3 tools/gen_fuzz_onnx_seeds.py [--corpus DIR] [--hostile DIR]

The protobuf is written by hand (field numbers from onnx/onnx.proto), so that nothing beyond
Python's standard library is needed: each seed is a few hundred bytes that exercise one part
of the importer (elementwise ops, MatMul with an initializer, Conv and pooling, shape
arithmetic that is folded at import, ConstantOfShape, Reshape, Softmax, a symbolic dim, a
quantized conv in QDQ and in QOperator form). The hostile ones are small files that ask the
importer to compute huge values at import, or quantization nodes with every kind of bad
argument; the regressions (tests/fuzz/regress/onnx/) are models that crashed it.
"""
import argparse
import os
import struct

FLOAT, UINT8, INT8, INT16, INT32, INT64 = 1, 2, 3, 5, 6, 7   # TensorProto.DataType
PACK = {FLOAT: "f", UINT8: "B", INT8: "b", INT16: "h", INT32: "i", INT64: "q"}
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
    fmt = "<%d%s" % (len(values), PACK[dtype])
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
    # The QDQ form of a quantized conv (per-channel int8 weights, an int32 bias) ...
    qparams = [tensor("xs", FLOAT, [], [0.05]), tensor("xz", UINT8, [], [128]),
               tensor("w", INT8, [2, 1, 3, 3], [(k * 37) % 255 - 127 for k in range(18)]),
               tensor("ws", FLOAT, [2], [0.01, 0.02]), tensor("wz", INT8, [2], [0, 0]),
               tensor("ys", FLOAT, [], [0.1]), tensor("yz", UINT8, [], [0]),
               tensor("b", INT32, [2], [40, -25]), tensor("bs", FLOAT, [2], [0.0005, 0.001])]
    s["qdq.onnx"] = model(
        "qdq",
        [node("QuantizeLinear", ["x", "xs", "xz"], ["qx"]), node("DequantizeLinear", ["qx", "xs", "xz"], ["dx"]),
         node("DequantizeLinear", ["w", "ws", "wz"], ["dw"], [attr("axis", ATTR_INT, 0)]),
         node("DequantizeLinear", ["b", "bs"], ["db"], [attr("axis", ATTR_INT, 0)]),
         node("Conv", ["dx", "dw", "db"], ["c"], [attr("pads", ATTR_INTS, [1, 1, 1, 1])]),
         node("QuantizeLinear", ["c", "ys", "yz"], ["qc"]), node("DequantizeLinear", ["qc", "ys", "yz"], ["y"])],
        [value_info("x", [1, 1, 4, 4])], [value_info("y", [1, 2, 4, 4])], qparams, opset=13)
    # ... and its QOperator form, then a QLinearMatMul (opset 10, as onnxruntime writes them).
    s["qoperator.onnx"] = model(
        "qoperator",
        [node("QuantizeLinear", ["x", "xs", "xz"], ["qx"]),
         node("QLinearConv", ["qx", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["qc"],
              [attr("pads", ATTR_INTS, [1, 1, 1, 1]), attr("kernel_shape", ATTR_INTS, [3, 3])]),
         node("Reshape", ["qc", "flat"], ["qf"]),
         node("QLinearMatMul", ["qf", "ys", "yz", "m", "ms", "mz", "xs", "xz"], ["qm"]),
         node("DequantizeLinear", ["qm", "xs", "xz"], ["y"])],
        [value_info("x", [1, 1, 4, 4])], [value_info("y", [2, 3])],
        qparams + [tensor("flat", INT64, [2], [2, 16]), tensor("m", UINT8, [16, 3], [(k * 29) % 256 for k in range(48)]),
                   tensor("ms", FLOAT, [], [0.02]), tensor("mz", UINT8, [], [120])], opset=10)
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
    # Quantization nodes, each with one bad argument; the one error lists them all by name.
    u8 = lambda name, dims: tensor(name, UINT8, dims, [(k * 13) % 256 for k in range(max(1, _numel(dims)))])
    h["quantize_bad.onnx"] = model(
        "quantize_bad",
        [node("QuantizeLinear", ["x", "s", "z16"], ["o1"], name="zero_point_int16"),
         node("DequantizeLinear", ["q4", "s3"], ["o2"], [attr("axis", ATTR_INT, 1)], name="three_scales_four_channels"),
         node("QLinearConv", ["q4", "s", "z"], ["o3"], name="conv_missing_inputs"),
         node("QLinearMatMul", ["a", "s", "z8", "b", "s", "z", "s", "z"], ["o4"], name="matmul_zero_point_int8"),
         node("QuantizeLinear", ["x", "s", "z"], ["o5"], [attr("block_size", ATTR_INT, 2)], name="blocked"),
         node("DequantizeLinear", ["q4", "s4"], ["o6"], [attr("axis", ATTR_INT, 7)], name="axis_7"),
         node("QLinearMatMul", ["a", "s", "z", "b1", "s", "z", "s", "z"], ["o7"], name="matmul_b_1d"),
         node("DequantizeLinear", ["q4", "s2d", "z"], ["o8"], name="scale_2d")],
        [value_info("x", [1, 4, 2, 2])], [value_info("o%d" % k, []) for k in range(1, 9)],
        [tensor("s", FLOAT, [], [0.5]), tensor("z", UINT8, [], [3]), tensor("z8", INT8, [], [3]),
         tensor("z16", INT16, [], [3]), tensor("s3", FLOAT, [3], [1, 2, 3]), tensor("s4", FLOAT, [4], [1, 2, 3, 4]),
         tensor("s2d", FLOAT, [2, 2], [1, 2, 3, 4]), u8("q4", [1, 4, 2, 2]), u8("a", [2, 3]), u8("b", [3, 2]),
         u8("b1", [3])], opset=21)
    return h


def _numel(dims):
    n = 1
    for d in dims:
        n *= d
    return n


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

#!/usr/bin/env python3
"""Writes the hand-made inputs of test/data/fuzz_regressions (no onnx / PIL needed: the ONNX
files are encoded with the few protobuf rules they use). Names say what the drivers must do:
ok-* succeed, err-* fail with a message. Crash inputs the fuzzer finds are added by hand next to
these (renamed ok-/err- after the fix) and are not regenerated here.

usage: make_regression_inputs.py [OUT_DIR]   (default: test/data/fuzz_regressions)
"""
import os
import struct
import sys
import zlib

# --- protobuf wire format ----------------------------------------------------------------


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def f_float(field, x):
    return varint(field << 3 | 5) + struct.pack("<f", x)


# --- ONNX messages (field numbers of onnx.proto) -------------------------------------------
FLOAT, UINT8, INT8, INT64 = 1, 2, 3, 7


def dim(n):
    return f_bytes(1, f_varint(1, n) if isinstance(n, int) else f_bytes(2, n))


def value_info(name, elem_type=FLOAT, dims=None):
    tensor_type = f_varint(1, elem_type)
    if dims is not None:
        tensor_type += f_bytes(2, b"".join(dim(d) for d in dims))
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tensor_type))


def tensor(name, data_type, dims, raw=None, floats=None):
    t = b"".join(f_varint(1, d) for d in dims) + f_varint(2, data_type) + f_bytes(8, name)
    if floats is not None:
        t += f_bytes(4, b"".join(struct.pack("<f", x) for x in floats))
    if raw is not None:
        t += f_bytes(9, raw)
    return t


def attr_int(name, v):
    return f_bytes(1, name) + f_varint(3, v) + f_varint(20, 2)


def attr_str(name, v):
    return f_bytes(1, name) + f_bytes(4, v) + f_varint(20, 3)


def attr_graph(name, g):
    return f_bytes(1, name) + f_bytes(6, g) + f_varint(20, 5)


def node(op, inputs, outputs, name="", domain="", attrs=()):
    n = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    n += f_bytes(3, name or op.lower()) + f_bytes(4, op)
    n += b"".join(f_bytes(5, a) for a in attrs)
    if domain:
        n += f_bytes(7, domain)
    return n


def graph(nodes, inputs, outputs, initializers=(), name="g"):
    g = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, name)
    g += b"".join(f_bytes(5, t) for t in initializers)
    g += b"".join(f_bytes(11, v) for v in inputs) + b"".join(f_bytes(12, v) for v in outputs)
    return g


def model(g, opset=13, extra_opsets=()):
    m = f_varint(1, 7) + f_bytes(2, "fuzz-regressions")
    m += f_bytes(8, f_bytes(1, "") + f_varint(2, opset))
    for domain, version in extra_opsets:
        m += f_bytes(8, f_bytes(1, domain) + f_varint(2, version))
    return m + f_bytes(7, g)


def relu_model(dims=(1, 4)):
    return model(graph([node("Relu", ["x"], ["y"])], [value_info("x", FLOAT, list(dims))], [value_info("y")]))


def onnx_inputs():
    relu = relu_model()
    files = {
        "ok-relu.onnx": relu,
        "ok-dynamic-batch-relu.onnx": relu_model(("batch", 4)),
        "err-empty.onnx": b"",
        "err-truncated-relu.onnx": relu[: len(relu) - 7],
        "err-unknown-op.onnx": model(graph([node("FancyOp", ["x"], ["y"])], [value_info("x", FLOAT, [1, 4])],
                                           [value_info("y")])),
        # 2^40 x 2^40 elements: the element count overflows int64.
        "err-huge-dims.onnx": relu_model((1 << 40, 1 << 40)),
        "err-negative-dims.onnx": relu_model((-5, 4)),
        # An initializer that claims 2^62 elements and carries none.
        "err-initializer-claims-huge.onnx": model(graph(
            [node("Add", ["x", "w"], ["y"])], [value_info("x", FLOAT, [4])], [value_info("y")],
            [tensor("w", FLOAT, [1 << 31, 1 << 31])])),
        "err-initializer-short-raw-data.onnx": model(graph(
            [node("Add", ["x", "w"], ["y"])], [value_info("x", FLOAT, [4])], [value_info("y")],
            [tensor("w", FLOAT, [4], raw=b"\0" * 15)])),
        "err-cycle.onnx": model(graph([node("Relu", ["z"], ["y"], "a"), node("Relu", ["y"], ["z"], "b")],
                                      [value_info("x", FLOAT, [1, 4])], [value_info("y")])),
        "err-reshape-two-inferred-dims.onnx": model(graph(
            [node("Reshape", ["x", "s"], ["y"])], [value_info("x", FLOAT, [2, 6])], [value_info("y")],
            [tensor("s", INT64, [2], raw=struct.pack("<qq", -1, -1))])),
    }
    # If-nesting 100 deep: more than the importer's protobuf recursion limit (64).
    inner = graph([node("Relu", ["x"], ["y"])], [], [value_info("y")], name="leaf")
    for level in range(100):
        inner = graph([node("If", ["c"], ["y"], f"if{level}", attrs=[attr_graph("then_branch", inner),
                                                                       attr_graph("else_branch", inner[:0])])],
                      [], [value_info("y")], name=f"g{level}")
    files["err-nested-subgraphs.onnx"] = model(graph(
        [node("If", ["c"], ["y"], attrs=[attr_graph("then_branch", inner)])],
        [value_info("c", 9, [])], [value_info("y")]))
    return files


def quant_model(bitwidth=8.0, scale=0.1, inputs=("x", "s", "z", "b"), op="Quant", extra_attrs=()):
    inits = [tensor("s", FLOAT, [], floats=[scale]), tensor("z", FLOAT, [], floats=[0.0]),
             tensor("b", FLOAT, [], floats=[bitwidth])]
    attrs = [attr_int("signed", 1), attr_int("narrow", 0), attr_str("rounding_mode", "ROUND"), *extra_attrs]
    return model(graph([node(op, list(inputs), ["y"], "quant", "qonnx.custom_op.general", attrs)],
                       [value_info("x", FLOAT, [1, 4])], [value_info("y")], inits),
                 extra_opsets=[("qonnx.custom_op.general", 1)])


def qdq_model(zero_point_type=UINT8, clip=None):
    inits = [tensor("s", FLOAT, [], floats=[0.05]), tensor("zp", zero_point_type, [], raw=b"\x80")]
    nodes = [node("QuantizeLinear", ["x", "s", "zp"], ["q"]), node("DequantizeLinear", ["q", "s", "zp"], ["y"])]
    return model(graph(nodes, [value_info("x", FLOAT, [1, 4])], [value_info("y")], inits))


def qonnx_inputs():
    return {
        "ok-quant.onnx": quant_model(),
        "ok-quant-4bit.onnx": quant_model(bitwidth=4.0),
        "ok-qdq.onnx": qdq_model(),
        "err-quant-zero-bits.onnx": quant_model(bitwidth=0.0),
        "err-quant-huge-bits.onnx": quant_model(bitwidth=1e30),
        "err-quant-nan-scale.onnx": quant_model(scale=float("nan")),
        "err-quant-negative-scale.onnx": quant_model(scale=-1.0),
        "err-quant-missing-inputs.onnx": quant_model(inputs=("x",)),
        "err-quant-bad-rounding-mode.onnx": quant_model(extra_attrs=[attr_str("rounding_mode", "SIDEWAYS")]),
        "err-truncated-quant.onnx": quant_model()[:-9],
    }


# --- images --------------------------------------------------------------------------------


def png(width, height, color_type, bit_depth, rows, chunks=()):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\0" + r for r in rows)
    body = b"".join(chunk(k, d) for k, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp(width, height, bpp=24, pixel_bytes=None, palette=b""):
    row = ((width * bpp + 31) // 32) * 4
    data = pixel_bytes if pixel_bytes is not None else b"\x40" * (row * abs(height))
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, 0, len(data), 2835, 2835, len(palette) // 4, 0)
    return header + info + palette + data


def image_inputs():
    gray_1x1 = png(1, 1, 0, 8, [b"\x7f"])
    files = {
        "ok-1x1-gray.png": gray_1x1,
        "ok-2x3-rgba.png": png(2, 3, 6, 8, [bytes(range(8))] * 3),
        "ok-3x2-gray16.png": png(3, 2, 0, 16, [b"\x12\x34" * 3] * 2),
        "ok-4x1-palette.png": png(4, 1, 3, 2, [b"\x1b"], [(b"PLTE", bytes(range(12))), (b"tRNS", b"\x00\xff")]),
        "ok-1x1.bmp": bmp(1, 1),
        "ok-2x2-top-down.bmp": bmp(2, -2),
        "ok-3x1-8bit-palette.bmp": bmp(3, 1, 8, b"\x00\x01\x00\x00", b"\x00\x00\xff\x00\xff\x00\x00\x00"),
        "err-empty.png": b"",
        "err-png-signature-only.png": b"\x89PNG\r\n\x1a\n",
        "err-png-zero-width.png": png(0, 1, 0, 8, [b""]),
        "err-png-65535-square.png": png(65535, 65535, 0, 8, [b"\0"]),
        "err-png-truncated.png": gray_1x1[:40],
        "err-bmp-zero-width.bmp": bmp(0, 4),
        "err-bmp-huge-width.bmp": bmp(1 << 30, 1, pixel_bytes=b"\0" * 16),
        "err-bmp-truncated-pixels.bmp": bmp(8, 8)[:80],  # stb_image would read zeros past the end
        "err-jpeg-markers-only.jpg": b"\xff\xd8\xff\xd9",
        "err-jpeg-soi-then-junk.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 40,
    }
    return files


def rule_inputs():
    deep = "[" * 5000 + "]" * 5000
    return {
        "ok-empty-object.json": "{}",
        "ok-selectors.json": """{
  "defaults": { "weight": { "bits": 4 }, "input": { "bits": 8 } },
  "rules": [
    { "name": "dw", "match": { "op": "Conv", "depthwise": true }, "weight": { "bits": 8 } },
    { "match": { "name": "/classifier/*" }, "skip": true },
    { "match": { "name_regex": ".*(fc|classifier).*" }, "weight": { "bits": 8 } },
    { "match": { "position": "first_compute" }, "weight": { "bits": 8 }, "input": { "bits": 8 } },
    { "match": { "op": "Conv", "in_channels": ">= 8", "kernel_size": "== 1" }, "output": { "bits": 8 } }
  ]
}
""",
        "err-empty.json": "",
        "err-not-an-object.json": "[1, 2, 3]",
        "err-truncated.json": '{ "rules": [ { "match": { "op": "Co',
        "err-deeply-nested.json": deep,
        "err-bad-regex.json": '{ "rules": [ { "match": { "name_regex": "(" }, "skip": true } ] }',
        "err-bits-out-of-range.json": '{ "defaults": { "weight": { "bits": 1000000000000 } } }',
        "err-bad-predicate.json": '{ "rules": [ { "match": { "in_channels": ">== x" }, "skip": true } ] }',
        "err-unknown-key.json": '{ "rulez": [] }',
        "err-nan-literal.json": '{ "defaults": { "weight": { "bits": NaN } } }',
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "fuzz_regressions")
    sets = {"onnx_import": onnx_inputs(), "qonnx_import": qonnx_inputs(), "image_decode": image_inputs(),
            "rule_file": rule_inputs()}
    for target, files in sets.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
    print(sum(len(f) for f in sets.values()), "files written under", os.path.normpath(out))


if __name__ == "__main__":
    main()

// Export of quantized graphs (FakeQuant / Trunc nodes, graph/quant_params.h) in the two file
// forms other tools read. Both reuse the float exporter (lowering, naming, value_info,
// onnx::checker, atomic write) and both import back to the same IR.
//
// QONNX: FakeQuant → Quant / BipolarQuant / FloatQuant and Trunc → Trunc, in domain
// qonnx.custom_op.general. Every parameter is written explicitly (signed, narrow,
// rounding_mode; scale / zeropt / bitwidth as float initializers). The domain's opset is 2
// (Trunc v2, 6 inputs). A graph whose Truncs are v1 is written at that domain's opset 1
// instead: v1 keeps its result on the input scale after dividing the grid by 2^(in-out bits),
// which the v2 formula (output scale = grid step, clipped to out_bits) cannot express, so no
// v1 → v2 rewrite is exact; v1 and v2 in one graph cannot be written (the opset is per
// domain) and is an error.
//
// QCDQ (standard ONNX, runs in onnxruntime): every FakeQuant must be an integer quantizer with
// round-half-even rounding and at most 8 bits (a 16- or 32-bit quantizer on a constant is a
// bias). Activations: QuantizeLinear → [Clip(min_int, max_int)] → DequantizeLinear with int8 /
// uint8 containers; the Clip appears when the grid is narrower than the container (bits < 8 or
// narrow). Weights: the integer values as an int8 / uint8 initializer → [Clip] →
// DequantizeLinear (per-channel: 1-D scale + axis). Bias: an int32 initializer → [Clip] →
// DequantizeLinear. Trunc has no QCDQ form. The default opset is 13.
// With int4_weights, weights of ≤ 4 bits are written as INT4 / UINT4 initializers, which needs
// opset 21: the linked ONNX checker (Debian's onnx 1.12, opsets ≤ 17, IR ≤ 8) rejects such a
// file outright ("ir_version is higher than the checker's"), so it is not run; the bytes are
// validated by importing them back instead. ONNX Clip takes no int4, so an int4 weight that is
// narrow or below 4 bits is written without its Clip (its values are already on the grid; the
// re-imported quantizer is then the full int4 grid, idempotent on them).
#pragma once

#include <string>

#include "engine/core/status.h"
#include "frontends/onnx/onnx_export.h"
#include "graph/graph.h"

namespace qe {

struct QonnxExportOptions {
  OnnxExportOptions onnx;  // default-domain opset, value_info, checker, producer name
};

Result<std::string> export_qonnx_bytes(const Graph& g, const QonnxExportOptions& options = {});
Status export_qonnx(const Graph& g, const std::string& path, const QonnxExportOptions& options = {});

struct QcdqExportOptions {
  bool int4_weights = false;
  OnnxExportOptions onnx;  // opset 0 = 13, or 21 when int4 weights are written
};

// The graph with every FakeQuant replaced by its Q / Clip / DQ nodes (what export_qcdq writes).
Result<Graph> lower_to_qcdq(const Graph& g, const QcdqExportOptions& options = {});
Result<std::string> export_qcdq_bytes(const Graph& g, const QcdqExportOptions& options = {});
Status export_qcdq(const Graph& g, const std::string& path, const QcdqExportOptions& options = {});

}  // namespace qe

// QONNX import: the quantizer ops of the QONNX domains become qengine's FakeQuant and Trunc
// nodes (graph/quant_params.h).
//
//   Quant / IntQuant(X, scale, zeropt, bitwidth)                 ⇒  FakeQuant kind int
//   BipolarQuant(X, scale)                                       ⇒  FakeQuant kind bipolar
//   FloatQuant(X, scale, exp_bits, man_bits, exp_bias, max_val)  ⇒  FakeQuant kind float
//   Trunc v1 (X, scale, zeropt, in_bits, out_bits)               ⇒  Trunc version 1 (input 4, out_scale, empty)
//   Trunc v2 (X, scale, zeropt, in_bits, out_scale, out_bits)    ⇒  Trunc version 2
//
// Works on the qe IR: the importer creates the node with the file's inputs and attributes, then
// calls convert_qonnx_node.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

// The domains QONNX ops are found in: qonnx.custom_op.general (current), onnx.brevitas (older
// Brevitas), finn.custom_op.general (QONNX docs, FINN).
bool is_qonnx_domain(std::string_view domain);
inline constexpr const char* kQonnxDomain = "qonnx.custom_op.general";

// FakeQuant or Trunc for a QONNX op type; nullopt for any other op.
std::optional<OpKind> qonnx_op_kind(std::string_view op_type);

// Rewrites node `id` (op type `op_type` as written in the file, inputs and attributes as read)
// into the FakeQuant / Trunc layout. `domain_opset` is the opset the file imports for the
// node's domain, 0 when it declares none (Trunc's version then follows its input count).
Status convert_qonnx_node(Graph& g, NodeId id, const std::string& op_type, const std::string& domain,
                          int64_t domain_opset);

}  // namespace qe

// Export lowering: canonical qe IR → the node forms a given ONNX opset expects. Works on a
// copy of the graph, in the qe IR only (no protobuf); onnx_export.cpp then writes it out.
//
//   node{_act=A, _act_alpha, _act_beta}           ⇒  node → A (Relu, Clip, LeakyRelu, ...)
//   Softmax{_coerce_2d=1}(x), axis a < rank-1      ⇒  Reshape(Softmax(Flatten(x, a), 1), Shape(x))
//   Upsample(x, scales)                            ⇒  Resize(x, "", scales), asymmetric, floor
//   Gelu(x) below opset 20                         ⇒  x·½·(1 + erf(x/√2))  (or its tanh form)
//   ReduceMean/ReduceMax(x, axes) below opset 18   ⇒  axes as an attribute
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

struct ExportLowering {
  Graph graph;
  int64_t opset = 13;
  std::string opset_reason;  // the node that forced an opset above 13, for error messages
};

// `requested_opset` 0 picks the lowest opset (>= 13) that expresses every node.
Result<ExportLowering> lower_for_export(const Graph& g, int64_t requested_opset);

}  // namespace qe

// Opset normalisation: every supported ONNX opset is rewritten into one canonical form so that
// schemas and kernels see a single spelling of each op. The canonical form is opset 13+:
// axes, pads, splits, slice bounds and clip bounds are (constant) inputs, not attributes.
// Works on the qe IR only (no protobuf), right after the importer built the nodes.
//
//   Clip min/max attrs (opset < 11)                    → inputs 1, 2
//   Slice starts/ends/axes attrs (opset < 10)           → inputs 1, 2, 3
//   Squeeze/Unsqueeze axes attr (opset < 13)            → input 1
//   Split 'split' attr (opset < 13)                     → input 1
//   ReduceMean/ReduceMax axes (opset < 18), ReduceSum (< 13) → input 1
//   Pad pads/value attrs (opset < 11)                   → inputs 1, 2
//   Upsample scales attr (opset < 9)                    → input 1
//   Resize-10 (X, scales)                               → (X, roi omitted, scales), asymmetric/floor
//   Softmax/LogSoftmax/Hardmax (opset < 13)             → explicit axis + internal `_coerce_2d` = 1
//   Reshape shape attr (opset < 5)                      → input 1
//   Concat without axis (opset < 4)                     → axis = 1
//   binary ops broadcast=1 with axis (opset < 7)        → B reshaped with trailing 1-dims
//   Cast `to` as a type name (opset < 6)                → the TensorProto number (done by the importer)
//   consumed_inputs (opset < 7), Dropout ratio/is_test, Gemm `broadcast` (opset < 7), BatchNormalization
//   spatial/is_test/consumed_inputs                     → dropped when they change nothing, else an error
#pragma once

#include <cstdint>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

// Rewrites node `id`, written for default-domain opset `opset`, into the canonical form.
Status normalize_onnx_node(Graph& g, NodeId id, int64_t opset);

// Softmax (and LogSoftmax/Hardmax, should the op list gain them) written for opset < 13
// flattens its input to 2-D around `axis` before normalising; the importer marks such nodes
// with this attribute (value 1).
inline constexpr const char* kCoerce2dAttr = "_coerce_2d";
bool is_softmax_family(OpKind op);

}  // namespace qe

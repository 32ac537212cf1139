// ONNX → qe::Graph. The importer parses defensively (size and recursion limits, byte counts
// checked against declared shapes, external data confined to the model's folder) and rewrites
// every supported opset (1-21) into one canonical form, so schemas and kernels see a single
// spelling of each op (opset-13+ style: axes, pads, splits, bounds as inputs). QONNX
// quantizers (qonnx_import.h) and QCDQ chains (qcdq_import.h) become FakeQuant / Trunc nodes.
// No shape inference happens here; the caller runs qe::infer_shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

struct OnnxImportOptions {
  // Protobuf cannot parse messages of 2 GiB or more; larger weights belong in external data.
  size_t max_model_bytes = (size_t{1} << 31) - 1;
  int max_recursion_depth = 64;  // nesting of protobuf messages (subgraphs, attribute tensors)
  bool allow_external_data = true;
  // QuantizeLinear → [Clip] → DequantizeLinear chains (and integer constants → [Clip] →
  // DequantizeLinear) become FakeQuant nodes; off keeps every Q/DQ node as written.
  bool fuse_qcdq = true;
};

// What the file declared, before normalisation (for reports and for tests).
struct OnnxModelInfo {
  int64_t ir_version = 0;
  int64_t opset = 0;  // default domain
  std::string producer;
  std::map<std::string, int64_t> op_counts;  // node op types as written (Constant included)
  int64_t num_initializers = 0;
  int64_t num_initializer_elements = 0;
  int64_t num_constant_nodes = 0;
};

Result<Graph> import_onnx_file(const std::string& path, const OnnxImportOptions& options = {},
                               OnnxModelInfo* info = nullptr);

// `base_dir` is where external data files are looked up (empty: external data is refused);
// `display_name` names the model in error messages.
Result<Graph> import_onnx_bytes(const void* data, size_t size, const std::string& base_dir,
                                const std::string& display_name, const OnnxImportOptions& options = {},
                                OnnxModelInfo* info = nullptr);

// Opsets the importer understands (default domain).
constexpr int64_t kOnnxMinOpset = 1;
constexpr int64_t kOnnxMaxOpset = 21;

}  // namespace qe

// The exporter's writer, opened up for the quantized formats: a "dialect" says how nodes that
// are not default-domain ONNX ops are spelled (QONNX writes FakeQuant as `Quant` in
// `qonnx.custom_op.general`) and which extra opset imports the model declares. Internal to
// frontends/onnx; no protobuf types here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/status.h"
#include "frontends/onnx/onnx_export.h"
#include "frontends/onnx/onnx_export_lower.h"
#include "graph/graph.h"

namespace qe {

struct NodeSpelling {
  std::string op_type;
  std::string domain;  // "" = default ONNX domain
};

struct OnnxDialect {
  std::vector<std::pair<std::string, int64_t>> opset_imports;  // besides the default domain
  // A spelling for `n`, or nullopt to write it as the default-domain op of its OpKind.
  std::function<std::optional<NodeSpelling>(const Node& n)> spell;
};

// Writes an already lowered graph (lower_for_export) with `dialect`, runs onnx::checker when
// options.check is set, and serialises it.
Result<std::string> export_lowered_bytes(const ExportLowering& lowered, const OnnxExportOptions& options,
                                         const OnnxDialect& dialect);

// Writes `bytes` to a temporary file next to `path` and renames it over `path`.
Status write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace qe

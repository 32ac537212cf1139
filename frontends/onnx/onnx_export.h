// qe::Graph → ONNX. The graph is first lowered (on a copy) to the form the chosen opset
// expects: fused activations (`_act*`) become separate nodes again, Upsample becomes Resize,
// axes go back to attributes where the opset wants them; other internal attributes (`_...`)
// are not written. Every model is checked with onnx::checker before it is returned or written.
// Quantizer nodes (FakeQuant, Trunc) are refused here: quantized graphs are written as QONNX or
// QCDQ (frontends/onnx/quant_export.h).
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

struct OnnxExportOptions {
  // Default-domain opset to write; 0 picks the lowest opset (at least 13) that can express
  // every node. An explicit opset lower than the graph needs is an error.
  int64_t opset = 0;
  // Record dtype/shape of intermediate values in graph.value_info.
  bool write_value_info = true;
  // Run onnx::checker on the model. The installed ONNX library knows opsets up to
  // onnx_checker_max_opset(); a model that needs a newer opset can only be written unchecked.
  bool check = true;
  std::string producer_name = "qengine";
};

Result<std::string> export_onnx_bytes(const Graph& g, const OnnxExportOptions& options = {});

// Writes to a temporary file in the same directory and renames it over `path`, so a failed
// export never leaves a partial file behind.
Status export_onnx_file(const Graph& g, const std::string& path, const OnnxExportOptions& options = {});

// Highest default-domain opset the linked ONNX checker knows.
int64_t onnx_checker_max_opset();

}  // namespace qe

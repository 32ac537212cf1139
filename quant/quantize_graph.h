// The calibration pipeline in one call, for callers that want a quantized graph and nothing
// else (benchmarks, tests): prepare → resolve rules → plan → calibrate → materialize. No bias
// correction, no reports; `qengine calibrate` runs the steps itself to report on each.
#pragma once

#include <string_view>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/rules.h"

namespace qe {

// `policy` "layerwise", "full" or "finn" (finn keeps BatchNormalization); `source` feeds the
// calibration batches. Errors name the step's node or quantizer.
Result<Graph> quantize_graph(const Graph& model, const RuleSet& rules, std::string_view policy,
                             const BatchSource& source);

// Batches of at most `batch` images cut from one float [N, ...] tensor, as a BatchSource. The
// tensor must outlive the source.
BatchSource tensor_batches(const Tensor& images, int64_t batch);

}  // namespace qe

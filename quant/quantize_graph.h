// The calibration pipeline in one call, for callers that want a quantized graph and nothing
// else (benchmarks, tests): prepare → the rule set's float transforms (equalization, channel
// splitting, SmoothQuant) → resolve rules → plan → calibrate → materialize → the rule set's
// weight rounding (GPTQ / GPFQ / AdaRound) → bias correction. `qengine calibrate` runs the
// same steps itself to report on each.
#pragma once

#include <string_view>
#include <vector>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/layer_sequential.h"
#include "quant/rules.h"

namespace qe {

// `policy` "layerwise", "full" or "finn" (finn keeps BatchNormalization); `batches` gives a
// fresh pass over the calibration data each time it is called (the algorithms in
// rules.algorithms may take several). Errors name the step's node or quantizer.
Result<Graph> quantize_graph(const Graph& model, const RuleSet& rules, std::string_view policy,
                             const BatchSourceFactory& batches, int num_threads = 0);
// Same, with bias correction measured on its own images (as `qengine calibrate` does with
// --bias-correction-samples), so that a caller can reproduce calibrate's result exactly.
Result<Graph> quantize_graph(const Graph& model, const RuleSet& rules, std::string_view policy,
                             const BatchSourceFactory& batches, const BatchSourceFactory& bias_correction_batches,
                             int num_threads = 0);

// Batches of at most `batch` images cut from one float [N, ...] tensor, as a BatchSource. The
// tensor must outlive the source.
BatchSource tensor_batches(const Tensor& images, int64_t batch);
// A new tensor_batches() pass per call.
BatchSourceFactory tensor_batch_passes(const Tensor& images, int64_t batch);
// A replay of `batches` (each one batch's inputs, in graph-input order) per call. The list must
// outlive the factory and its sources.
BatchSourceFactory batch_list_passes(const std::vector<std::vector<Tensor>>& batches);

}  // namespace qe

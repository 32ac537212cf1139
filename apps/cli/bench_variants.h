// Quantized variants of a float model for `qengine bench --compare`: the `full` policy with
// per-channel weights, calibrated on the given inputs (latency runs use random ones).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace qe::cli {

// "int8" → (8, 8); "w4a8" → (4, 8); "wNaM" with N, M in 2..8. Errors name the variant.
Result<std::pair<int, int>> parse_variant_bits(const std::string& variant);

// The fake-quant graph of `model` with w_bits weights (first and last layer at 8 when lower)
// and a_bits activations, calibrated on `calib` (one input tensor per sample).
Result<Graph> quantize_for_latency(const Graph& model, int w_bits, int a_bits, const std::vector<Tensor>& calib);

}  // namespace qe::cli

// Bias correction (Nagel et al. 2019, "Data-Free Quantization", §4.2; Brevitas runs it by
// default after calibration): quantized weights shift each output channel's mean, because
// E[(W - Q(W)) x] is not zero when the inputs have a non-zero mean (after ReLU they always do).
// For every Conv / Gemm with a planned bias quantizer, the per-channel mean of its input is
// measured in the quantized graph on calibration batches (so each layer is corrected for its
// own weight error, given the inputs it really gets), and Σ (W - Q(W)) · E[x] is added to the
// float bias under the bias quantizer. One pass: the corrections do not depend on each other.
#pragma once

#include <cstdint>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"

namespace qe {

struct BiasCorrectionOptions {
  int num_threads = 0;
};

struct BiasCorrectionReport {
  int corrected_nodes = 0;
  int64_t samples = 0;
  double seconds = 0;
};

// `quant_graph` is materialize_plan(float_graph, plan, ...); its bias constants are updated in
// place. The batches of `source` (at most `max_batches`) are streamed through once.
Result<BiasCorrectionReport> correct_biases(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                            const BatchSource& source, int max_batches,
                                            const BiasCorrectionOptions& options = {});

}  // namespace qe

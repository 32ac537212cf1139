// Calibration: runs the float model on calibration batches, observes every planned activation
// value and turns ranges into QuantParams for every quantizer of a QuantPlan (weights from the
// constants, activations from the observers, shared groups, bias from input × weight scales,
// Trunc after quantized average pools). Activations are observed on the float model, as
// Brevitas does (activation quantization is disabled while calibrating).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/graph.h"
#include "graph/quant_params.h"
#include "quant/observer.h"
#include "quant/quant_plan.h"

namespace qe {

// Fills `inputs` (graph-input order) with one batch; returns false when there is none left.
using BatchSource = std::function<Result<bool>(std::vector<Tensor>& inputs)>;

struct CalibrationOptions {
  int num_threads = 0;  // session threads; 0 = all hardware threads
  std::function<void(int64_t samples_done)> progress;
};

struct QuantizerResult {
  int quantizer = -1;
  QuantParams params;  // scale undefined when the quantizer is disabled (its spec says so)
  // Weights: per-channel ranges of the constant; activations: what the observer chose (after
  // share-group union); bias: the constant's extremes (lo/hi = what the grid covers).
  std::vector<ObservedRange> ranges;
};

// QONNX Trunc v2 parameters of one PlannedTrunc. When the pool's input quantizer has a nonzero
// zero point the integer sum cannot be truncated exactly, so the pool's output gets an
// ordinary quantizer instead (`fallback`), calibrated on the pool output.
struct TruncResult {
  int trunc = -1;  // index in QuantPlan::truncs
  Tensor scale;      // s_in / window
  Tensor zero_point; // 0
  Tensor out_scale;  // s_in · 2^shift / window
  int in_bits = 0;   // out_bits + shift, shift = ceil(log2(window))
  int out_bits = 0;
  int shift = 0;
  RoundingMode rounding = RoundingMode::kFloor;
  bool is_signed = true;
  bool narrow = false;
  bool fallback = false;
  QuantParams fallback_params;
  std::vector<ObservedRange> fallback_ranges;
};

struct CalibrationResult {
  std::vector<QuantizerResult> quantizers;  // by plan id
  std::vector<TruncResult> truncs;          // by plan trunc index
  int64_t samples = 0;   // batch elements seen (dim 0 of the first input)
  int64_t batches = 0;
  double seconds = 0;           // total
  double observe_seconds = 0;   // of which: observer work
};

Result<CalibrationResult> calibrate(const Graph& float_graph, const QuantPlan& plan, const BatchSource& source,
                                    const CalibrationOptions& opts = {});

// Checks ids, value references, roles and resolved signs of a plan against its graph; errors
// name the quantizer, its node and value. calibrate() and materialize_plan() call it.
Status validate_plan(const Graph& float_graph, const QuantPlan& plan);

// The pool's input quantizer cannot feed an exact Trunc (zero point possibly nonzero,
// per-channel, or not an integer grid): the pool output then gets an ordinary quantizer.
bool trunc_needs_fallback(const QuantPlan& plan, const PlannedTrunc& t);

}  // namespace qe

// Activation equalization (SmoothQuant, Xiao et al. 2022, arXiv 2211.10438; Brevitas's
// activation_equalization_mode). A per-tensor activation quantizer wastes its grid on a few
// outlier channels; a linear layer lets us move part of that range into its weights:
//   X · W = (X / s) · (s · W)   for a positive per-input-channel factor s.
// With s_j = max|X_j|^α / max|W_j|^(1-α) the activation channels get flatter and the weight
// columns absorb the difference (α = 1 moves everything into the weights, α = 0 nothing but
// the weight range). This is a float-to-float pass over the canonical graph of
// prepare_float_graph(), run before quantizers are planned; the float function is unchanged.
//
// Targets are the channel-mixing layers with a constant weight: Conv (not depthwise), Gemm
// (transA = 0), MatMul (constant rank-2 B). Targets that read one activation share one factor.
// X / s is folded into the producer when the graph allows it (LayerNormalization, a per-channel
// Mul/Add by a constant, Conv/Gemm/MatMul output channels, through Relu, pools, Transpose and
// trivial Flatten/Reshape); otherwise an explicit Mul by 1/s is inserted before the group.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/calibrator.h"

namespace qe {

struct SmoothQuantOptions {
  double alpha = 0.5;    // migration strength, in [0, 1]
  int num_threads = 0;   // session threads for the statistics pass; 0 = all
  int max_batches = -1;  // batches of the source to use; <= 0: all
};

// One activation whose readers were smoothed.
struct SmoothedGroup {
  std::string activation;        // the value the sinks read before smoothing
  std::string smoothed;          // the value they read now (== activation when folded)
  int channel_axis = 0;          // of `activation`
  std::vector<std::string> sinks;  // node names
  std::vector<float> factors;    // s_j: the sinks' input channel j was divided by s_j
  bool folded = false;
};

struct SmoothQuantReport {
  int layers = 0;         // sink nodes whose weights were rescaled
  int folded = 0;         // groups whose 1/s went into the producer
  int explicit_muls = 0;  // groups that got an explicit Mul
  int64_t samples = 0;
  double seconds = 0;
  std::vector<std::string> skipped;  // targets left alone, with the reason
  std::vector<SmoothedGroup> groups;
};

// Rewrites `g` in place. `source` is streamed through the float graph once (per-channel
// abs-max of every target input); constants are only replaced, never mutated, so tensors
// shared with a copy of the graph keep their values.
Result<SmoothQuantReport> smooth_activations(Graph& g, const BatchSource& source, const SmoothQuantOptions& opts = {});

// A value to watch and the axis its channels live on.
struct ChannelTap {
  std::string value;
  int channel_axis = 1;
};

// Per-channel max |x| of each tap over the batches of `source` (graph inputs included).
// Errors when a tap is never observed or its shape does not have the axis.
Result<std::vector<std::vector<float>>> measure_channel_abs_max(const Graph& g, const std::vector<ChannelTap>& taps,
                                                                const BatchSource& source, int max_batches,
                                                                int num_threads, int64_t* samples = nullptr);

}  // namespace qe

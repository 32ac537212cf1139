// Cross-layer (graph) equalization, Nagel et al. 2019 "Data-Free Quantization" §4.1, in the
// generalised form Brevitas's EqualizeGraph uses: for every region (quant/equalize_regions.h)
// and every channel class i, with r_src(i) the largest |weight| of the sources' output channels
// of class i and r_sink(i) the largest |weight| of the sinks' input channels of class i,
//   s_i = sqrt(r_src(i) / r_sink(i)),  sources: W_i /= s_i, b_i /= s_i,  sinks: W[:, i] *= s_i,
// which leaves both ranges at sqrt(r_src · r_sink): per-tensor and per-channel weight quantizers
// then waste less of their grid. Regions share layers (a conv is the sink of one region and the
// source of the next), so the sweep over all regions is repeated until the scales settle.
//
// Runs on the canonical float graph (quant/prepare.h) before quantizers are planned; the float
// function is unchanged up to rounding.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace qe {

struct EqualizeOptions {
  int iterations = 20;
  // Stop once every scale of a sweep is within `threshold` of 1: a further sweep would move no
  // range by more than that fraction, well below an 8-bit grid step (1/256).
  double threshold = 1e-3;
  // Count a source's bias in its channel range (divided by a shrink factor), so that a channel
  // whose bias dwarfs its weights is not blown up by 1/s (Brevitas's merge_bias).
  bool merge_bias = true;
  // The shrink factor; 0 picks it per layer from the bias/weight magnitudes as Vitis AI does.
  double bias_shrinkage = 0;
};

struct EqualizeReport {
  int regions = 0;
  int layers = 0;      // distinct layers rescaled
  int iterations = 0;  // sweeps done
  double max_scale_change = 0;  // max |1 - s| of the last sweep
  double seconds = 0;
  std::vector<std::string> skipped;  // "region at <node>: <why>"
};

Result<EqualizeReport> equalize_graph(Graph& g, const EqualizeOptions& opts = {});

}  // namespace qe

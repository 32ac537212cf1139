// Outlier channel splitting (OCS, Zhao et al. 2019, arXiv 1901.09504; Brevitas's channel
// splitting): in every region (quant/equalize_regions.h) the channels with the largest weights
// are duplicated so that each copy carries half of the outlier, which halves the range a
// quantizer must cover. Two sides:
//   kInput  — sources emit the picked activation channel twice (weights and bias copied); the
//             sinks read both copies with W/2 each. Useful for per-output-channel weight
//             quantizers of the sinks, whose input channels they cannot scale separately.
//   kOutput — sources emit the channel twice with weights and bias halved; the sinks read both
//             copies with W unchanged. Valid because every op of a region is positively
//             homogeneous (f(x/2) = f(x)/2).
// A depthwise conv that reads a duplicated channel grows a channel too (its group count grows)
// and passes the copies on into the region it is a source of. Shapes are re-inferred; the float
// function is unchanged up to rounding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace qe {

enum class SplitSide { kInput, kOutput };

struct ChannelSplitOptions {
  double ratio = 0.02;  // fraction of each region's channels to split, at least one when > 0
  SplitSide side = SplitSide::kInput;
};

struct ChannelSplitReport {
  int regions = 0;              // regions that were split
  int layers = 0;               // layers whose weights changed shape
  int64_t channels_added = 0;   // activation channels added, summed over regions
  double seconds = 0;
  // "region at <node>: <why>": the regions the search rejected (as equalize_graph reports them)
  // and the regions that could not take copies.
  std::vector<std::string> skipped;
};

Result<ChannelSplitReport> split_channels(Graph& g, const ChannelSplitOptions& opts = {});

}  // namespace qe

// The regions that cross-layer equalization (quant/equalize.h) and channel splitting
// (quant/channel_split.h) rewrite. A region is a set of SOURCE layers (Conv / ConvTranspose /
// Gemm / MatMul with a constant weight) whose output channels flow, only through ops that
// commute with a positive per-channel scale (Relu, LeakyRelu, the pools, Identity, Dropout, Add of
// two activations, Concat, a Flatten that keeps channels contiguous), into SINK layers of the
// same kinds. Scaling an activation channel by 1/s at every source and reading it with weights
// times s at every sink leaves the function unchanged — also across residual Adds, which is why
// a region can hold many sources and sinks, not just a Conv pair.
//
// Channels are tracked as (value, channel) pairs joined by a union-find: an Add joins the same
// channel of its inputs, a Concat maps its inputs onto sub-ranges, a Flatten maps channel c onto
// the features c·HW … c·HW+HW-1. Each resulting class is one degree of freedom: one scale.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

// How a layer's constant weight maps onto activation channels. The weight is viewed as
// [dim0, dim1, taps]; `out_axis` says which of dim0 / dim1 indexes output channels (grouped
// convs index the other axis within the group).
struct LayerWeights {
  NodeId node = kNoNode;
  OpKind op = OpKind::kCount;
  ValueId weight = kNoValue;
  ValueId bias = kNoValue;  // a per-output-channel constant, or kNoValue
  int64_t out_channels = 0;
  int64_t in_channels = 0;
  int64_t group = 1;
  int out_axis = 0;
  int64_t dim0 = 0, dim1 = 0, taps = 1;
  bool can_be_source = true;  // false when a bias exists that is not one value per output channel

  bool is_dense() const { return group == 1; }
  bool is_depthwise() const { return op == OpKind::kConv && group > 1 && group == in_channels; }
  // The output / input channel of weight element (i0, i1) of the [dim0, dim1, taps] view.
  int64_t out_channel(int64_t i0, int64_t i1) const;
  int64_t in_channel(int64_t i0, int64_t i1) const;
};

// The weight description of `node`, or an empty optional-like result (node == kNoNode) when it
// is not a layer the passes can rewrite: not Conv/ConvTranspose/Gemm/MatMul, non-constant or
// shared or non-float weight, Gemm with transA.
Result<LayerWeights> describe_layer(const Graph& g, NodeId node);

struct RegionLayer {
  LayerWeights layer;
  ValueId value = kNoValue;  // sources: the output; sinks: the activation input
  // Class of each output channel (sources) or input channel / feature (sinks).
  std::vector<int> channel_class;
};

struct EqualizationRegion {
  std::string anchor;  // the node the search started from, for messages
  std::vector<RegionLayer> sources;
  std::vector<RegionLayer> sinks;
  int num_classes = 0;
  // Activation values inside the region and the scale-invariant ops between them, in
  // dependency order; `channel_axis` of each value (1 for NCHW and [N, F], last for MatMul).
  std::vector<ValueId> values;
  std::vector<NodeId> ops;
  std::unordered_map<ValueId, int> channel_axis;
};

struct RegionSearch {
  std::vector<EqualizationRegion> regions;
  std::vector<std::string> skipped;  // "region at <node>: <why>"
};

Result<RegionSearch> find_equalization_regions(const Graph& g);

}  // namespace qe

// The per-layer cost model of HAWQ-V3 mixed precision: which layers get a bit choice (the compute
// layers with a constant weight) and what a choice costs in model size and BOPS. A layer's
// choice sets both its weight bits and the bits of the activation it reads, so layers that read
// the same activation must share one choice (a residual downsample conv and its block's first
// conv): tie_groups() finds them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "graph/graph.h"
#include "quant/mixed/bit_allocation.h"

namespace qe {

struct ComputeLayer {
  std::string node;    // node name
  std::string weight;  // constant weight value name
  int64_t params = 0;  // weight elements
  int64_t macs = 0;    // multiply-accumulates at the graph's (batch 1) input shapes
  // The value whose quantizer the layer's activation input uses: its data input traced upstream
  // through transparent ops (value_facts.h: Reshape, Flatten, MaxPool, Pad, Concat, ...).
  std::string input_origin;
  // Every origin: more than one when the input comes through a Concat. input_origin is the first.
  std::vector<std::string> input_origins;
};

// Conv, ConvTranspose, Gemm and MatMul nodes with a constant weight, in topological order.
// `canonical_float_graph` is prepare_float_graph()'s output with concrete input shapes
// (PrepareOptions::input_shapes at batch 1): a layer whose MACs cannot be computed is an error.
Result<std::vector<ComputeLayer>> list_compute_layers(const Graph& canonical_float_graph);

// Layers that read a common origin, as groups of indices into `layers` (transitively: a Concat
// reader ties every layer reading any of its inputs). Every layer is in exactly one group;
// singletons included; groups ordered by their first member, members ascending.
std::vector<std::vector<size_t>> tie_groups(const std::vector<ComputeLayer>& layers);

// Weight storage at `bits` per weight: params × bits / 8 bytes.
double size_bytes(const ComputeLayer& layer, int bits);
// Bit operations: MACs × weight bits × activation bits.
double bops(const ComputeLayer& layer, int w_bits, int a_bits);

// The costs of each choice in `bits` (ascending) for one layer: size and BOPS from the layer
// (weights and the activation read both at the choice's bits), sensitivity and latency as given
// (one per choice; latency may be empty, meaning 0). Fails on mismatched lengths.
Result<LayerOptionCosts> layer_option_costs(const ComputeLayer& layer, const std::vector<int>& bits,
                                            const std::vector<double>& sensitivity,
                                            const std::vector<double>& latency = {});

// HAWQ's default pins: the first and the last compute layer at `bits` (8).
std::map<size_t, int> default_pinned_bits(size_t num_layers, int bits = 8);

}  // namespace qe

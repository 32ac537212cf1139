// Facts about a float graph that quantizer placement and the FINN checker share: which ops
// are compute ops and where their weight / bias / activation inputs are, which ops pass a
// quantized value through unchanged ("transparent": they only move, select or duplicate
// elements, so the grid of their input is the grid of their output), and which values are
// provably non-negative (an unsigned quantizer loses nothing on them).
#pragma once

#include <string>
#include <vector>

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

// Conv, ConvTranspose, Gemm, MatMul.
bool is_compute_op(OpKind op);
// Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh, Gelu: the full policy
// always quantizes their outputs.
bool is_activation_op(OpKind op);

// Where the inputs of a compute node are. `weight` is the constant input whose output-channel
// axis is `channel_axis` (Conv input 1 / axis 0, ConvTranspose input 1 / axis 1, Gemm B / axis 0
// when transB else 1, MatMul constant B / last axis); -1 when there is none (MatMul of two
// activations). `bias` is Conv/ConvTranspose input 2 or Gemm C when constant and 1-D.
// `activations` are the non-constant inputs that carry data.
struct ComputeInputs {
  int weight = -1;
  int bias = -1;
  int channel_axis = -1;
  std::vector<int> activations;
};
ComputeInputs compute_inputs(const Graph& g, NodeId n);

// Input and output channel counts of a compute node (from its weight, or from its input and
// output shapes for other nodes); -1 when unknown.
int64_t node_in_channels(const Graph& g, NodeId n);
int64_t node_out_channels(const Graph& g, NodeId n);
// Conv with group > 1 and group == input channels (one filter per channel).
bool is_depthwise_conv(const Graph& g, NodeId n);
// Spatial kernel dims (Conv / ConvTranspose weight, pooling kernel_shape); empty if none.
std::vector<int64_t> node_kernel_shape(const Graph& g, NodeId n);

// The input positions through which a transparent node passes its input's quantization to its
// outputs; empty when the node is not transparent. Reshape, Flatten, Transpose, Squeeze,
// Unsqueeze, Identity, Dropout, MaxPool, GlobalMaxPool, Slice, Split, Gather (data input),
// Resize with mode nearest, Pad (constant 0, same padding at both ends) and Concat (every input;
// not transparent when one of them is a constant, which would enter float).
std::vector<int> transparent_inputs(const Graph& g, NodeId n);
inline bool is_transparent(const Graph& g, NodeId n) { return !transparent_inputs(g, n).empty(); }

// The activation fused into a compute node by the fusion pass (`_act` attribute), "" if none.
std::string fused_activation(const Node& n);

// One flag per ValueId: true when the value is provably >= 0 (outputs of Relu, Sigmoid,
// HardSigmoid, Softmax, Clip with min >= 0, Abs, Exp, Sqrt, a fused non-negative activation;
// constants with no negative element; transparent ops, pools, Add / Mul / Max / Concat of
// non-negative values).
Result<std::vector<bool>> non_negative_values(const Graph& g);

// True when `v` has a consumer other than Shape (or is a graph output): a value only measured
// for its shape needs no quantizer.
bool has_data_consumer(const Graph& g, ValueId v);

}  // namespace qe

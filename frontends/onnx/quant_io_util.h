// Helpers shared by the QONNX and QCDQ readers and writers: quantizer parameter tensors
// (scale / zero point shapes, the channel axis) and integer grids. Internal to frontends/onnx;
// IR types only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/graph.h"
#include "graph/quant_params.h"

namespace qe::quant_io {

// Any numeric tensor as float32 (shares storage when it already is).
Tensor to_f32(const Tensor& t);

// The axis of X along which a broadcastable scale varies: -1 when it holds one value.
// `x_rank` < 0 means unknown; the scale is then taken to have X's rank (QONNX writes per-channel
// scales with X's rank: (C,1,1,1) for a conv weight, (1,C,1,1) for an activation). Errors when
// the scale varies along more than one axis or has more dims than X.
Result<int> channel_axis(const Shape& scale_shape, int x_rank, const std::string& what);

// A per-channel parameter as a 1-D [C] tensor, or a scalar when it holds one value.
Tensor flatten_channels(const Tensor& t);

// A 1-D [C] tensor reshaped to broadcast along `axis` of a rank-`rank` tensor; a one-element
// tensor becomes a scalar.
Tensor along_axis(const Tensor& t, int axis, int rank);

// Rank of a value when known (shape from the file, or a constant), else -1.
int known_rank(const Graph& g, ValueId v);

// The integer grid [lo, hi] as a QONNX quantizer: bits, signed, narrow. nullopt when no
// quantizer has exactly this grid (e.g. [-3, 5]).
struct IntGrid {
  int bits = 8;
  bool is_signed = true;
  bool narrow = false;
};
std::optional<IntGrid> grid_from_range(int64_t lo, int64_t hi);

// Range of an integer container type; false for a type that is not an integer container.
bool container_range(DType t, int64_t* lo, int64_t* hi);

// A node with output `out` (an existing value without producer): FakeQuant(x) with `p`. The
// scale and zero point become new constants named after the node.
NodeId add_fake_quant_node(Graph& g, const std::string& name, ValueId x, const QuantParams& p, ValueId out);

bool is_integer_valued(double v);

}  // namespace qe::quant_io

// Pieces of the integer lowering (quant/lower_integer.cpp) that read quantizer nodes: which
// FakeQuant / Trunc nodes have an integer form, and the integer values of quantized constants.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/quant_params.h"

namespace qe::lowering {

// A quantized activation: integers in [qmin, qmax] (stored as u8 or s8), value = (q - zp) * scale.
struct IntGrid {
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;
  DType dtype = DType::kU8;

  bool same_as(const IntGrid& o) const {
    return scale == o.scale && zero_point == o.zero_point && qmin == o.qmin && qmax == o.qmax && dtype == o.dtype;
  }
  // The FakeQuant integer of float x on this grid (the arithmetic of the FakeQuant kernel).
  int32_t quantize(double x) const;
  // The real value of every byte a tensor on this grid can hold, indexed by the raw byte (an
  // int8 value v at uint8(v)), clamped to [qmin, qmax]: the inputs of a 256-entry lookup table.
  std::vector<float> byte_values() const;
};

// The grid of an activation FakeQuant, or the reason it has none (minifloat, > 8 bits,
// per-channel, rounding other than half-even, zero point outside the range).
struct GridOrReason {
  std::optional<IntGrid> grid;
  std::string reason;
};
GridOrReason activation_grid(const Graph& g, NodeId fake_quant);

// Integer weights of a constant quantized by a FakeQuant node (w = q * scale[c], zero points 0),
// with `channel_axis` the axis that per-channel scales must run along.
struct IntWeights {
  Tensor q;                  // int8, the constant's shape
  std::vector<float> scale;  // one, or one per index of channel_axis
  int bits = 8;
};
struct WeightsOrReason {
  std::optional<IntWeights> weights;
  std::string reason;
};
WeightsOrReason integer_weights(const Graph& g, ValueId w, int channel_axis);

// Float values of a bias input: a float constant, or a FakeQuant of one (values after
// quantization), or nullopt with a reason.
std::optional<std::vector<float>> bias_values(const Graph& g, ValueId b, std::string* reason);

// Clip bounds of a Relu / Clip node (constant bounds only); nullopt for other nodes.
std::optional<std::pair<float, float>> clamp_bounds(const Graph& g, const Node& n);

}  // namespace qe::lowering

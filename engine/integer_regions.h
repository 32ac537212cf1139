// What the integer lowering (quant/lower_integer.cpp) and the exact simulation
// (engine/exact_simulation.h) both need to know about a fake-quant graph: which FakeQuant / Trunc
// nodes have an integer form, which values therefore live on an integer grid, the integer values
// of quantized constants, and the integer form of a quantized Conv / Gemm / MatMul. Both read
// the graph through these functions, so the simulation computes a compute node in integers
// exactly when the lowering turns it into an integer node.
#pragma once

#include <optional>
#include <string>
#include <utility>
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
  // The scale and zero point as the scalar constants QuantizeLinear / DequantizeLinear read
  // (the zero point in the grid's u8 / s8 type), named base + "_scale" and base + "_zero_point".
  // `base` is taken by value: callers pass value names, which adding constants may move.
  std::pair<ValueId, ValueId> add_constants(Graph& g, std::string base) const;
  // The real value of every byte a tensor on this grid can hold, indexed by the raw byte (an
  // int8 value v at uint8(v)), clamped to [qmin, qmax]: the inputs of a 256-entry lookup table.
  std::vector<float> byte_values() const;
};

// Pooled elements per output of a global pool over `x` [N, C, spatial...], or 0 when the shape
// does not give them.
int64_t global_window(const Value& x);

// The grid of an activation FakeQuant, or the reason it has none (minifloat, > 8 bits,
// per-channel, rounding other than half-even, zero point outside the range).
struct GridOrReason {
  std::optional<IntGrid> grid;
  std::string reason;
};
GridOrReason activation_grid(const Graph& g, NodeId fake_quant);

// An activation FakeQuant (of a computed value, not of a constant) that has an integer grid.
bool is_integer_activation_quantizer(const Graph& g, const Node& n);

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

// Ops whose output values are a subset of their input's values (same grid).
bool preserves_grid(const Node& n);

// GlobalAveragePool → Trunc (the `full` policy's average pool) as an integer window sum times
// `multiplier` onto grid `y`; nullopt with a reason when the Trunc has no integer form. The pool's
// input must still be on an integer grid (integer_grid_of) for the lowering to use it.
struct TruncPool {
  NodeId pool = kNoNode;
  IntGrid y;
  int64_t window = 1;    // pooled elements per output
  double in_scale = 1.;  // the Trunc's input scale
  double shift = 1.;     // t = 2^k, output scale / input scale
  // The factor from the window sum of (x - zp) to y, for an input of scale x_scale.
  double multiplier(float x_scale) const;
};
std::optional<TruncPool> trunc_pool(const Graph& g, NodeId trunc, std::string* reason);

// A GlobalAveragePool quantized directly, DQ → GlobalAveragePool → Q as other tools write it (the
// `full` policy writes a Trunc instead): the integer window sum of (x - zp) times
// multiplier = fp32(x_scale / window), then divided by the output scale as the quantizer divides.
// `pooled` is the value an activation FakeQuant with an integer grid reads; it must have no other
// reader. nullopt when it is not a pool's output, with a reason when the pool has no integer form.
// The pool's input must still be on an integer grid (integer_grid_of) for the lowering to use it.
struct DirectPool {
  NodeId pool = kNoNode;
  int64_t window = 1;  // pooled elements per output
  float multiplier(float x_scale) const { return static_cast<float>(static_cast<double>(x_scale) / window); }
};
std::optional<DirectPool> direct_pool(const Graph& g, ValueId pooled, std::string* reason);

// The integer grid a float value of the fake-quant graph has once lowered: the output of an
// activation FakeQuant with an integer form, of a lowerable Trunc, or of a grid-preserving op
// (MaxPool, Reshape, Concat of equal grids, ...) of such a value. nullopt for anything else.
std::optional<IntGrid> integer_grid_of(const Graph& g, ValueId v);

// The integer node a Conv / Gemm / MatMul becomes when its data input is on grid `x`: QConv or
// QGemm with int8 weights (transposed to [channels, K] where needed), an int32 bias in units of
// x.scale * w_scale[c], and the attributes of everything but the output side (the caller adds
// either the requantization attributes or out_dtype f32). nullopt with a reason otherwise.
struct IntegerCompute {
  OpKind op = OpKind::kQConv;
  Attributes attrs;
  Tensor weights;
  std::optional<Tensor> bias;
};
std::optional<IntegerCompute> integer_compute(const Graph& g, NodeId id, const IntGrid& x, std::string* reason);

}  // namespace qe::lowering

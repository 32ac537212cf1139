// Parameter resolution of the shape and data-movement ops, shared by shape inference
// (graph/schemas/data*.cpp, resize.cpp) and the kernel bindings (engine/ops/), so both agree on
// output shapes, clamped slice bounds, pads and resize scales.
//
// Shape-like inputs (Reshape's shape, Slice's starts, Expand's shape, ...) are read as "partial
// values": a vector with kUnknownValue where an element is not known at inference time (for
// example the batch size read through Shape(x) while the batch is symbolic).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/attributes.h"
#include "graph/graph.h"
#include "graph/schema.h"

namespace qe {

// Elements of a partial value that are not known. The range just above INT64_MIN is reserved
// for them; constants in it read as INT64_MIN, which every op that takes such values (Slice
// ends) treats the same way.
//   kUnknownValue                 nothing known
//   dim_symbol(v, d)              the size of dim d of value v (unknown, but >= 0, and equal to
//                                 that dim wherever it appears: Reshape(x, [Shape(x)[0], -1]))
constexpr int64_t kUnknownValue = std::numeric_limits<int64_t>::min() + 1;
constexpr int64_t kSymbolBase = kUnknownValue + 1;
constexpr int64_t kMaxSymbolRank = 64;
constexpr int64_t kSymbolEnd = kSymbolBase + (int64_t{1} << 40);
inline bool is_unknown_value(int64_t v) { return v >= kUnknownValue && v < kSymbolEnd; }
inline int64_t dim_symbol(ValueId v, size_t dim) {
  return dim < static_cast<size_t>(kMaxSymbolRank) && v >= 0 && v < (int64_t{1} << 33)
             ? kSymbolBase + static_cast<int64_t>(v) * kMaxSymbolRank + static_cast<int64_t>(dim)
             : kUnknownValue;
}
// The (value, dim) a symbol names; false for kUnknownValue and known values.
inline bool symbol_dim(int64_t s, ValueId* v, int64_t* dim) {
  if (s < kSymbolBase || s >= kSymbolEnd) return false;
  *v = static_cast<ValueId>((s - kSymbolBase) / kMaxSymbolRank);
  *dim = (s - kSymbolBase) % kMaxSymbolRank;
  return true;
}

// The elements of an integer value of rank <= 1: exact when constant, otherwise traced through
// Shape / Gather / Unsqueeze / Squeeze / Concat / Cast / Slice / Equal / Where / arithmetic /
// ConstantOfShape producers (torch's shape sub-graphs), with unknown elements where a dim is
// symbolic. nullopt when even the length is unknown.
std::optional<std::vector<int64_t>> partial_int_value(const Graph& g, ValueId v);

// Normalises axes against `rank`; error on out-of-range or repeated axes, naming `what`.
Result<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what);

// Reshape: `target` may hold 0 (copy the input dim unless allowzero), one -1 (inferred) and
// unknown values; a symbol naming a dim of the input itself (`self`) copies that dim. Unknown
// output dims come out as -1. Error when the element counts disagree.
Result<Shape> reshape_output_shape(const Shape& in, const std::vector<int64_t>& target, bool allowzero,
                                   ValueId self = kNoValue);

// Flatten's 2-D output; axis in [-rank, rank].
Result<Shape> flatten_output_shape(const Shape& in, int64_t axis);

// Unsqueeze: axes index the output (rank in + axes.size()).
Result<Shape> unsqueeze_output_shape(const Shape& in, const std::vector<int64_t>& axes);
// Squeeze: an empty `axes` removes every dim of size 1 (the dims must be known).
Result<Shape> squeeze_output_shape(const Shape& in, const std::vector<int64_t>& axes, bool axes_given);

// Shape's [start, end) after ONNX clamping.
std::pair<int64_t, int64_t> shape_op_range(int64_t start, int64_t end, int64_t rank);

// Slice: per input dim, the first index, step and output length (identity for unsliced dims).
// Unknown starts/ends or input dims give length -1.
struct SliceParams {
  std::vector<int64_t> start;
  std::vector<int64_t> step;
  std::vector<int64_t> length;
};
Result<SliceParams> resolve_slice(const Shape& in, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                                  const std::vector<int64_t>* axes, const std::vector<int64_t>* steps);

// Pad: per input dim, the pads before and after (negative pads crop).
enum class PadMode { kConstant, kReflect, kEdge, kWrap };
struct PadParams {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
};
Result<PadMode> pad_mode_from_attrs(const Attributes& attrs);
Result<PadParams> resolve_pads(int64_t rank, const std::vector<int64_t>& pads, const std::vector<int64_t>* axes,
                               PadMode mode);

// Split: sizes of the outputs along `axis` of a dim of `dim` (-1 = unknown, giving -1 sizes
// where they depend on it). `split` is the optional sizes input.
Result<std::vector<int64_t>> resolve_split(int64_t dim, int num_outputs, const std::vector<int64_t>* split,
                                           int64_t num_outputs_attr);

// Gather: data[:axis] + indices + data[axis+1:].
Shape gather_output_shape(const Shape& data, const Shape& indices, int64_t axis);

// Expand: numpy broadcasting of the input shape with the target (which may hold
// kUnknownValue). Error when a known pair is not broadcastable.
Result<Shape> expand_output_shape(const Shape& in, const std::vector<int64_t>& target);

// Transpose: the permutation (reverse when absent), validated against `rank`.
Result<std::vector<int64_t>> resolve_perm(const Attributes& attrs, int64_t rank);

// Cast's `to` (an ONNX TensorProto element type) as a DType; unsupported for types qengine
// does not have (string, complex, float8).
Result<DType> cast_target_dtype(const Attributes& attrs);
// Constant's value from whichever value attribute it carries.
Result<Tensor> constant_op_value(const Attributes& attrs);
// ConstantOfShape's one-element fill value (float 0 when absent).
Result<Tensor> constant_of_shape_value(const Attributes& attrs);

// Sub-family schema registration, called from register_data_schemas (data.cpp).
void register_data_index_schemas(SchemaTable& t);  // Gather, Concat, Split, Slice, Pad, Transpose
void register_resize_schemas(SchemaTable& t);      // Resize, Upsample

// Resize / Upsample.
enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn,
                       kTfCropAndResize };
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation_value = 0.f;
  std::vector<double> scales;       // per input dim: output / input as the coordinate maps use it
  std::vector<double> out_lengths;  // per input dim: in * scale before flooring (align_corners)
  std::vector<double> roi_start;  // per input dim (tf_crop_and_resize), normalised
  std::vector<double> roi_end;
  std::vector<int64_t> out_dims;  // -1 where unknown
};
// `roi`, `scales`, `sizes` are partial values of the optional inputs (nullptr when absent or
// not known). Upsample passes its scales input as `scales` with is_upsample = true.
Result<ResizeParams> resolve_resize(const Attributes& attrs, const Shape& in, const std::vector<float>* roi,
                                    const std::vector<float>* scales, const std::vector<int64_t>* sizes,
                                    bool is_upsample);

}  // namespace qe

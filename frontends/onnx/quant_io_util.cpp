#include "frontends/onnx/quant_io_util.h"

#include <cmath>

namespace qe::quant_io {

Tensor to_f32(const Tensor& t) {
  if (t.dtype() == DType::kF32) return t;
  return Tensor::from_vector(t.shape(), t.to_float_vector());
}

Result<int> channel_axis(const Shape& scale_shape, int x_rank, const std::string& what) {
  if (scale_shape.numel() <= 1) return -1;
  const int srank = static_cast<int>(scale_shape.rank());
  if (x_rank >= 0 && srank > x_rank) {
    return invalid_argument(what, " has shape ", scale_shape.to_string(), ", more dimensions than its input (rank ",
                            x_rank, ")");
  }
  const int rank = x_rank >= 0 ? x_rank : srank;
  int axis = -1;
  for (int d = 0; d < srank; ++d) {
    if (scale_shape[static_cast<size_t>(d)] == 1) continue;
    if (axis >= 0) {
      return unsupported(what, " has shape ", scale_shape.to_string(),
                         ": it varies along more than one axis; only per-tensor and per-channel quantizers are supported");
    }
    axis = d + (rank - srank);  // numpy broadcasting aligns trailing dims
  }
  return axis;
}

Tensor flatten_channels(const Tensor& t) {
  if (t.numel() == 1) return t.reshaped(Shape{});
  return t.reshaped(Shape{t.numel()});
}

Tensor along_axis(const Tensor& t, int axis, int rank) {
  if (t.numel() == 1 || axis < 0) return t.reshaped(Shape{});
  std::vector<int64_t> dims(static_cast<size_t>(rank), 1);
  dims[static_cast<size_t>(axis)] = t.numel();
  return t.reshaped(Shape(std::move(dims)));
}

int known_rank(const Graph& g, ValueId v) {
  const Value& val = g.value(v);
  if (val.is_constant()) return static_cast<int>(val.constant.shape().rank());
  return val.shape_known ? static_cast<int>(val.shape.rank()) : -1;
}

namespace {

// k with 2^k == v, or -1.
int exact_log2(int64_t v) {
  if (v <= 0 || (v & (v - 1)) != 0) return -1;
  int k = 0;
  while ((int64_t{1} << k) < v) ++k;
  return k;
}

}  // namespace

std::optional<IntGrid> grid_from_range(int64_t lo, int64_t hi) {
  if (lo > hi) return std::nullopt;
  IntGrid g;
  if (lo == 0) {
    g.is_signed = false;
    // Full range [0, 2^b - 1] first: [0, 2^b - 2] is the narrow form of the same bits.
    if (int k = exact_log2(hi + 1); k >= 1) {
      g.bits = k;
      return g;
    }
    if (int k = exact_log2(hi + 2); k >= 2) {
      g.bits = k;
      g.narrow = true;
      return g;
    }
    return std::nullopt;
  }
  const int k = exact_log2(hi + 1);
  if (lo > 0 || k < 0) return std::nullopt;
  g.bits = k + 1;
  if (lo == -(hi + 1)) return g;
  if (lo == -hi && g.bits >= 2) {
    g.narrow = true;
    return g;
  }
  return std::nullopt;
}

bool container_range(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::kI4: *lo = -8; *hi = 7; return true;
    case DType::kU4: *lo = 0; *hi = 15; return true;
    case DType::kI8: *lo = -128; *hi = 127; return true;
    case DType::kU8: *lo = 0; *hi = 255; return true;
    case DType::kI16: *lo = -32768; *hi = 32767; return true;
    case DType::kU16: *lo = 0; *hi = 65535; return true;
    case DType::kI32: *lo = INT32_MIN; *hi = INT32_MAX; return true;
    default: return false;
  }
}

NodeId add_fake_quant_node(Graph& g, const std::string& name, ValueId x, const QuantParams& p, ValueId out) {
  Tensor zp = p.zero_point.defined() ? p.zero_point : Tensor(DType::kF32, p.scale.shape());
  const ValueId scale = g.add_constant(g.unique_value_name(name + "_scale"), p.scale);
  const ValueId zero = g.add_constant(g.unique_value_name(name + "_zero_point"), zp);
  return g.add_node(OpKind::kFakeQuant, name, {x, scale, zero}, {out}, fake_quant_attributes(p));
}

bool is_integer_valued(double v) { return std::isfinite(v) && std::nearbyint(v) == v; }

}  // namespace qe::quant_io

#include "quant/lower_integer_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qe::lowering {

// x / s as the FakeQuant kernel computes it: the float32 quotient (QONNX and onnxruntime divide in
// float; at a tie the float and double quotients round differently).
double quotient_f32(double x, double s) {
  return static_cast<double>(static_cast<float>(static_cast<double>(static_cast<float>(x)) / s));
}

int32_t IntGrid::quantize(double x) const {
  double v = std::nearbyint(quotient_f32(x, scale) + zero_point);
  if (!(v >= qmin)) v = qmin;  // also NaN
  if (v > qmax) v = qmax;
  return static_cast<int32_t>(v);
}

std::vector<float> IntGrid::byte_values() const {
  std::vector<float> xs(256);
  for (int b = 0; b < 256; ++b) {
    const int32_t q = dtype == DType::kI8 ? static_cast<int8_t>(b) : b;
    xs[static_cast<size_t>(b)] = static_cast<float>(std::min(std::max(q, qmin), qmax) - zero_point) * scale;
  }
  return xs;
}

namespace {

std::string params_problem(const QuantParams& p) {
  if (p.kind != QuantKind::kInt) return std::string(quant_kind_name(p.kind)) + " quantizer";
  if (p.rounding != RoundingMode::kHalfEven) return "rounding " + std::string(rounding_mode_name(p.rounding));
  if (p.group_size > 0) return "per-group scales";
  return "";
}

bool finite_positive(float s) { return std::isfinite(s) && s > 0.f; }

}  // namespace

GridOrReason activation_grid(const Graph& g, NodeId fq) {
  auto p = read_quant_params(g, fq);
  if (!p.is_ok()) return {std::nullopt, p.status().message()};
  std::string problem = params_problem(*p);
  if (!problem.empty()) return {std::nullopt, problem};
  if (p->bits < 2 || p->bits > 8) return {std::nullopt, std::to_string(p->bits) + "-bit activations"};
  if (!p->per_tensor()) return {std::nullopt, "per-channel activation scales"};
  const float s = p->scale.to_float_vector()[0];
  const float z = p->zero_point.to_float_vector()[0];
  if (!finite_positive(s)) return {std::nullopt, "scale is not a positive finite number"};
  IntGrid grid;
  grid.scale = s;
  grid.qmin = static_cast<int32_t>(p->min_int());
  grid.qmax = static_cast<int32_t>(p->max_int());
  if (z != std::nearbyint(z) || z < grid.qmin || z > grid.qmax) {
    return {std::nullopt, "zero point outside the integer range"};
  }
  grid.zero_point = static_cast<int32_t>(z);
  grid.dtype = p->is_signed ? DType::kI8 : DType::kU8;
  return {grid, ""};
}

WeightsOrReason integer_weights(const Graph& g, ValueId w, int channel_axis) {
  const Value& wv = g.value(w);
  if (wv.producer == kNoNode) return {std::nullopt, "weights are not quantized"};
  const Node& fq = g.node(wv.producer);
  if (fq.op != OpKind::kFakeQuant) return {std::nullopt, "weights are not quantized"};
  const Value& x = g.value(fq.inputs[0]);
  if (!x.is_constant()) return {std::nullopt, "quantized weights are not a constant"};
  auto p = read_quant_params(g, fq.id);
  if (!p.is_ok()) return {std::nullopt, p.status().message()};
  std::string problem = params_problem(*p);
  if (!problem.empty()) return {std::nullopt, "weights: " + problem};
  if (p->bits < 2 || p->bits > 8) return {std::nullopt, std::to_string(p->bits) + "-bit weights"};
  for (float z : p->zero_point.to_float_vector()) {
    if (z != 0.f) return {std::nullopt, "asymmetric weights (zero point != 0)"};
  }
  const Shape& shape = x.constant.shape();
  const int rank = static_cast<int>(shape.rank());
  const std::vector<float> scales = p->scale.to_float_vector();
  for (float s : scales) {
    if (!finite_positive(s)) return {std::nullopt, "a weight scale is not a positive finite number"};
  }
  int64_t channels = 1, inner = 1;
  if (scales.size() > 1) {
    // The scale tensor must vary along channel_axis only.
    const Shape& ss = p->scale.shape();
    if (channel_axis < 0 || channel_axis >= rank || ss.rank() != shape.rank()) {
      return {std::nullopt, "weight scales do not run along the output channels"};
    }
    for (int d = 0; d < rank; ++d) {
      const int64_t want = d == channel_axis ? shape[static_cast<size_t>(d)] : 1;
      if (ss[static_cast<size_t>(d)] != want) return {std::nullopt, "weight scales do not run along the output channels"};
    }
    channels = shape[static_cast<size_t>(channel_axis)];
    for (int d = channel_axis + 1; d < rank; ++d) inner *= shape[static_cast<size_t>(d)];
  }
  IntWeights out;
  out.bits = p->bits;
  out.scale = scales;
  out.q = Tensor(DType::kI8, shape);
  const std::vector<float> xs = x.constant.to_float_vector();
  int8_t* q = out.q.data<int8_t>();
  const double lo = static_cast<double>(p->min_int()), hi = static_cast<double>(p->max_int());
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t c = scales.size() > 1 ? (static_cast<int64_t>(i) / inner) % channels : 0;
    double v = std::nearbyint(quotient_f32(xs[i], scales[static_cast<size_t>(c)]));
    v = std::isnan(v) ? 0.0 : std::min(std::max(v, lo), hi);
    q[i] = static_cast<int8_t>(v);
  }
  return {std::move(out), ""};
}

std::optional<std::vector<float>> bias_values(const Graph& g, ValueId b, std::string* reason) {
  const Value& bv = g.value(b);
  if (bv.is_constant()) return bv.constant.to_float_vector();
  if (bv.producer == kNoNode || g.node(bv.producer).op != OpKind::kFakeQuant) {
    *reason = "bias is not a constant";
    return std::nullopt;
  }
  const Node& fq = g.node(bv.producer);
  const Value& x = g.value(fq.inputs[0]);
  auto p = read_quant_params(g, fq.id);
  if (!x.is_constant() || !p.is_ok() || p->kind != QuantKind::kInt) {
    *reason = "bias quantizer is not an integer quantizer of a constant";
    return std::nullopt;
  }
  const std::vector<float> xs = x.constant.to_float_vector();
  const std::vector<float> s = p->scale.to_float_vector();
  const std::vector<float> z = p->zero_point.to_float_vector();
  if (s.size() != 1 && s.size() != xs.size()) {
    *reason = "bias scales do not match the bias";
    return std::nullopt;
  }
  std::vector<float> out(xs.size());
  const double lo = static_cast<double>(p->min_int()), hi = static_cast<double>(p->max_int());
  for (size_t i = 0; i < xs.size(); ++i) {
    const double si = s[s.size() == 1 ? 0 : i], zi = z[z.size() == 1 ? 0 : i];
    double v = std::nearbyint(quotient_f32(xs[i], si) + zi);
    v = std::min(std::max(v, lo), hi);
    out[i] = static_cast<float>((v - zi) * si);
  }
  return out;
}

std::optional<std::pair<float, float>> clamp_bounds(const Graph& g, const Node& n) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (n.op == OpKind::kRelu) return std::make_pair(0.f, kInf);
  if (n.op != OpKind::kClip) return std::nullopt;
  float lo = -kInf, hi = kInf;
  for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
    if (n.inputs[i] == kNoValue) continue;
    const Value& v = g.value(n.inputs[i]);
    if (!v.is_constant() || v.constant.numel() != 1) return std::nullopt;
    (i == 1 ? lo : hi) = v.constant.to_float_vector()[0];
  }
  if (n.inputs.size() == 1) {  // opset < 11: attributes
    auto a = n.attrs.get_float("min", -kInf);
    auto b = n.attrs.get_float("max", kInf);
    if (!a.is_ok() || !b.is_ok()) return std::nullopt;
    lo = *a;
    hi = *b;
  }
  return std::make_pair(lo, hi);
}

}  // namespace qe::lowering

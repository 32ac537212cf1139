#include "engine/integer_regions.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "graph/schema.h"

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

std::pair<ValueId, ValueId> IntGrid::add_constants(Graph& g, std::string base) const {
  Tensor zp = dtype == DType::kU8 ? Tensor::scalar(static_cast<uint8_t>(zero_point))
                                  : Tensor::scalar(static_cast<int8_t>(zero_point));
  const ValueId s = g.add_constant(g.unique_value_name(base + "_scale"), Tensor::scalar(scale));
  return {s, g.add_constant(g.unique_value_name(base + "_zero_point"), std::move(zp))};
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

int64_t global_window(const Value& x) {
  if (!x.shape_known || x.shape.rank() < 3) return 0;
  int64_t window = 1;
  for (size_t d = 2; d < x.shape.rank(); ++d) {
    if (x.shape[d] <= 0) return 0;
    window *= x.shape[d];
  }
  return window;
}

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

bool is_integer_activation_quantizer(const Graph& g, const Node& n) {
  return n.alive && n.op == OpKind::kFakeQuant && !n.inputs.empty() && n.inputs[0] != kNoValue &&
         !g.value(n.inputs[0]).is_constant() && activation_grid(g, n.id).grid.has_value();
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

bool preserves_grid(const Node& n) {
  switch (n.op) {
    case OpKind::kMaxPool: return n.outputs.size() < 2 || n.outputs[1] == kNoValue;
    case OpKind::kGlobalMaxPool: case OpKind::kFlatten: case OpKind::kReshape: case OpKind::kSqueeze:
    case OpKind::kUnsqueeze: case OpKind::kTranspose: case OpKind::kIdentity: case OpKind::kConcat: return true;
    case OpKind::kDropout: return n.outputs.size() < 2 || n.outputs[1] == kNoValue;
    default: return false;
  }
}

// v = round(mean / s) is the window sum of the integers when s = s_in / window, and the Trunc
// divides it by t = 2^k.
std::optional<TruncPool> trunc_pool(const Graph& g, NodeId trunc, std::string* reason) {
  const Node& tr = g.node(trunc);
  auto fail = [&](const char* why) -> std::optional<TruncPool> {
    *reason = why;
    return std::nullopt;
  };
  const Value& xv = g.value(tr.inputs[0]);
  if (xv.producer == kNoNode || g.node(xv.producer).op != OpKind::kGlobalAveragePool || xv.uses.size() != 1) {
    return fail("Trunc not fed by a GlobalAveragePool");
  }
  auto scalar = [&](int i) -> std::optional<float> {
    if (static_cast<int>(tr.inputs.size()) <= i || tr.inputs[static_cast<size_t>(i)] == kNoValue) return std::nullopt;
    const Value& v = g.value(tr.inputs[static_cast<size_t>(i)]);
    if (!v.is_constant() || v.constant.numel() != 1) return std::nullopt;
    return v.constant.to_float_vector()[0];
  };
  auto s = scalar(1), z = scalar(2), out_s = scalar(4), out_bits = scalar(5);
  auto version = tr.attrs.get_int("version", 2);
  auto rounding = tr.attrs.get_string("rounding_mode", "FLOOR");
  auto sgn = tr.attrs.get_int("signed", 1);
  auto narrow = tr.attrs.get_int("narrow", 0);
  if (!s || !z || !out_s || !out_bits || !version.is_ok() || *version != 2) return fail("Trunc parameters are not constants");
  auto mode = rounding.is_ok() ? parse_rounding_mode(*rounding) : Result<RoundingMode>(RoundingMode::kFloor);
  if (!mode.is_ok() || *mode != RoundingMode::kHalfEven) return fail("Trunc rounding is not half-even");
  if (*z != 0.f || *out_bits < 2 || *out_bits > 8) return fail("Trunc zero point or bit width has no integer form");
  const Node& pool = g.node(xv.producer);
  TruncPool out;
  out.pool = pool.id;
  out.window = global_window(g.value(pool.inputs[0]));
  if (out.window <= 0) return fail("pool has no integer form");
  out.in_scale = *s;
  out.shift = std::exp2(std::nearbyint(std::log2(static_cast<double>(*out_s) / *s)));
  out.y.scale = *out_s;
  out.y.zero_point = 0;
  QuantParams qp;
  qp.bits = static_cast<int>(*out_bits);
  qp.is_signed = sgn.is_ok() && *sgn != 0;
  qp.narrow = narrow.is_ok() && *narrow != 0;
  out.y.qmin = static_cast<int32_t>(qp.min_int());
  out.y.qmax = static_cast<int32_t>(qp.max_int());
  out.y.dtype = qp.is_signed ? DType::kI8 : DType::kU8;
  return out;
}

std::optional<DirectPool> direct_pool(const Graph& g, ValueId x, std::string* reason) {
  if (x == kNoValue) return std::nullopt;
  const Value& xv = g.value(x);
  if (xv.producer == kNoNode || g.node(xv.producer).op != OpKind::kGlobalAveragePool) return std::nullopt;
  if (xv.uses.size() != 1 || g.is_graph_output(x)) {
    *reason = "pool output has other readers";
    return std::nullopt;
  }
  const Node& pool = g.node(xv.producer);
  const int64_t window = global_window(g.value(pool.inputs[0]));
  if (window <= 0) {
    *reason = "pool has no integer form";
    return std::nullopt;
  }
  return DirectPool{pool.id, window};
}

double TruncPool::multiplier(float x_scale) const {
  const double m = static_cast<double>(x_scale) / (static_cast<double>(window) * in_scale * shift);
  return std::fabs(m * shift - 1.0) < 1e-5 ? 1.0 / shift : m;  // the usual case: exactly a shift
}

std::optional<IntGrid> integer_grid_of(const Graph& g, ValueId v) {
  const Value& val = g.value(v);
  if (val.producer == kNoNode) return std::nullopt;
  const Node& p = g.node(val.producer);
  if (p.op == OpKind::kFakeQuant) {
    if (p.inputs.empty() || p.inputs[0] == kNoValue || g.value(p.inputs[0]).is_constant()) return std::nullopt;
    return activation_grid(g, p.id).grid;
  }
  if (p.op == OpKind::kTrunc) {
    std::string reason;
    auto tp = trunc_pool(g, p.id, &reason);
    if (!tp || !integer_grid_of(g, g.node(tp->pool).inputs[0])) return std::nullopt;
    return tp->y;
  }
  if (!preserves_grid(p) || p.inputs.empty() || p.inputs[0] == kNoValue || p.outputs[0] != v) return std::nullopt;
  auto x = integer_grid_of(g, p.inputs[0]);
  if (x && p.op == OpKind::kConcat) {
    for (size_t i = 1; i < p.inputs.size(); ++i) {
      const ValueId in = p.inputs[i];
      auto gi = in == kNoValue ? std::nullopt : integer_grid_of(g, in);
      if (!gi || !gi->same_as(*x)) return std::nullopt;
    }
  }
  return x;
}

std::optional<IntegerCompute> integer_compute(const Graph& g, NodeId id, const IntGrid& x, std::string* reason) {
  const Node& n = g.node(id);
  auto fail = [&](const char* why) -> std::optional<IntegerCompute> {
    *reason = why;
    return std::nullopt;
  };
  if (n.inputs.size() < 2 || n.inputs[1] == kNoValue) return fail("no weights");
  int channel_axis = 0;
  bool transpose = false;  // weights stored [K, N], QGemm wants [N, K]
  if (n.op == OpKind::kGemm) {
    auto ta = n.attrs.get_int("transA", 0);
    auto tb = n.attrs.get_int("transB", 0);
    auto alpha = n.attrs.get_float("alpha", 1.f);
    auto beta = n.attrs.get_float("beta", 1.f);
    if (!ta.is_ok() || *ta != 0 || !alpha.is_ok() || *alpha != 1.f || !beta.is_ok() || *beta != 1.f) {
      return fail("Gemm with transA, alpha or beta");
    }
    transpose = tb.is_ok() && *tb == 0;
    channel_axis = transpose ? 1 : 0;
  } else if (n.op == OpKind::kMatMul) {
    transpose = true;
    channel_axis = 1;
    const Value& wv = g.value(n.inputs[1]);
    if (!wv.shape_known || wv.shape.rank() != 2) return fail("MatMul weights are not 2-D");
  } else if (n.op != OpKind::kConv) {
    return fail("not a Conv, Gemm or MatMul");
  }
  auto wr = integer_weights(g, n.inputs[1], channel_axis);
  if (!wr.weights) {
    *reason = wr.reason;
    return std::nullopt;
  }
  IntWeights& w = *wr.weights;
  if (n.op != OpKind::kConv && w.q.shape().rank() != 2) return fail("weights are not 2-D");
  IntegerCompute out;
  out.op = n.op == OpKind::kConv ? OpKind::kQConv : OpKind::kQGemm;
  out.weights = w.q;
  if (transpose) {
    const int64_t K = w.q.shape()[0], N = w.q.shape()[1];
    out.weights = Tensor(DType::kI8, Shape{N, K});
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) out.weights.data<int8_t>()[j * K + k] = w.q.data<int8_t>()[k * N + j];
  }
  const Tensor& wq = out.weights;
  const int64_t out_channels = wq.shape()[0];
  const std::vector<float>& ws = w.scale;
  if (ws.size() != 1 && static_cast<int64_t>(ws.size()) != out_channels) {
    return fail("weight scales do not run along the output channels");
  }
  // Bias in units of x_scale * w_scale[c].
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    auto b = bias_values(g, n.inputs[2], reason);
    if (!b) return std::nullopt;
    if (static_cast<int64_t>(b->size()) != out_channels) return fail("bias is not one value per output channel");
    Tensor bt(DType::kI32, Shape{out_channels});
    const int64_t K = wq.numel() / out_channels;
    for (int64_t c = 0; c < out_channels; ++c) {
      // The int32 accumulator holds bias + Σ (x - zp) w; a bias at the edge of int32 (a dead
      // channel whose weight scale was widened so the bias fits) must leave room for the sum,
      // or the accumulator wraps where a float sum does not. Such a channel's weights are
      // about zero, so giving up the bias's lowest bits changes nothing visible.
      int64_t wmax = 0;
      for (int64_t k = 0; k < K; ++k) wmax = std::max<int64_t>(wmax, std::abs(wq.data<int8_t>()[c * K + k]));
      const double headroom = 2147483647.0 - static_cast<double>(K) * 255.0 * static_cast<double>(wmax);
      const double unit = static_cast<double>(x.scale) * ws[ws.size() == 1 ? 0 : static_cast<size_t>(c)];
      const double q = std::nearbyint(static_cast<double>((*b)[static_cast<size_t>(c)]) / unit);
      if (!std::isfinite(q) || headroom <= 0.0) return fail("bias does not fit in int32 at scale x_scale * w_scale");
      bt.data<int32_t>()[c] = static_cast<int32_t>(std::min(std::max(q, -headroom), headroom));
    }
    out.bias = std::move(bt);
  }
  Attributes& a = out.attrs;
  if (n.op == OpKind::kConv) {
    for (const char* k : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}) {
      if (const AttrValue* v = n.attrs.find(k)) a.set(k, *v);
    }
  }
  a.set("x_scale", x.scale);
  a.set("x_zero_point", static_cast<int64_t>(x.zero_point));
  a.set("w_scale", ws);
  a.set("w_bits", static_cast<int64_t>(w.bits));
  return out;
}

}  // namespace qe::lowering

// Ranges → QuantParams. Shared groups get one scale (Brevitas' fx backend: Add inputs share the
// scale, Concat inputs share scale, zero point, sign and bits), biases sit on the grid
// input scale × weight scale so integer accumulators can add them directly, and a Trunc after
// an average pool sees the pooled value on the grid of the integer sum.
#include <algorithm>
#include <cmath>
#include <map>

#include "quant/calibrator_params.h"
#include "quant/quant_math.h"

namespace qe {

namespace {

int value_rank(const Graph& g, ValueId v) {
  const Value& val = g.value(v);
  return val.shape_known ? static_cast<int>(val.shape.rank()) : -1;
}

Result<QuantParams> activation_params(const Graph& g, const PlannedQuantizer& q, const QuantSpec& spec,
                                      const std::vector<ObservedRange>& ranges) {
  int rank = value_rank(g, q.value);
  if (rank < 0) {
    if (q.channel_axis >= 0) return invalid_argument(describe_quantizer(g, q), ": per-channel quantizer on a value of unknown rank");
    rank = 0;
  }
  auto p = params_from_ranges(spec, ranges, rank, q.channel_axis);
  if (!p.is_ok()) return p.status().with_context(describe_quantizer(g, q) + ": ");
  return p;
}

Result<std::vector<ObservedRange>> union_ranges(const Graph& g, const PlannedQuantizer& q,
                                                const std::vector<ObservedRange>& a, const std::vector<ObservedRange>& b) {
  if (a.empty()) return b;
  if (a.size() != b.size()) {
    return invalid_argument(describe_quantizer(g, q), ": share group ", q.share_group, " mixes ", a.size(), " and ",
                            b.size(), " channel ranges");
  }
  std::vector<ObservedRange> u = a;
  for (size_t c = 0; c < u.size(); ++c) {
    u[c].lo = std::min(u[c].lo, b[c].lo);
    u[c].hi = std::max(u[c].hi, b[c].hi);
    u[c].min = std::min(u[c].min, b[c].min);
    u[c].max = std::max(u[c].max, b[c].max);
  }
  return u;
}

float po2_ceil(float s) { return s > 0 ? std::exp2(std::ceil(std::log2(s))) : s; }

// Concat: every member gets the same quantizer; the members' settings are merged so that the
// shared grid can hold every member (signed if any is, the widest bits, asymmetric if any is).
QuantSpec merged_spec(const QuantPlan& plan, const std::vector<int>& members) {
  QuantSpec s = plan.quantizers[static_cast<size_t>(members.front())].spec;
  for (int id : members) {
    const QuantSpec& m = plan.quantizers[static_cast<size_t>(id)].spec;
    s.bits = std::max(s.bits, m.bits);
    if (m.sign == Signedness::kSigned) s.sign = Signedness::kSigned;
    s.symmetric = s.symmetric && m.symmetric;
    if (m.scale_type == ScaleType::kPo2) s.scale_type = ScaleType::kPo2;
  }
  return s;
}

Status share_group_params(const Graph& g, const QuantPlan& plan, const std::vector<int>& members,
                          const std::vector<std::vector<ObservedRange>>& ranges, CalibrationResult& r) {
  const PlannedQuantizer& first = plan.quantizers[static_cast<size_t>(members.front())];
  std::vector<ObservedRange> u;
  bool share_all = false;
  for (int id : members) {
    const PlannedQuantizer& q = plan.quantizers[static_cast<size_t>(id)];
    QE_ASSIGN_OR_RETURN(u, union_ranges(g, q, u, ranges[static_cast<size_t>(id)]));
    share_all = share_all || q.share_all;
  }
  if (share_all) {
    QE_ASSIGN_OR_RETURN(QuantParams p, activation_params(g, first, merged_spec(plan, members), u));
    for (int id : members) r.quantizers[static_cast<size_t>(id)] = {id, p, u};
    return Status::ok();
  }
  // Scale only: the widest scale any member needs for the union, so every member covers it.
  std::vector<QuantParams> ps;
  bool any_po2 = false;
  for (int id : members) {
    const PlannedQuantizer& q = plan.quantizers[static_cast<size_t>(id)];
    QE_ASSIGN_OR_RETURN(QuantParams p, activation_params(g, q, q.spec, u));
    if (!ps.empty() && p.scale.numel() != ps.front().scale.numel()) {
      return invalid_argument(describe_quantizer(g, q), ": share group ", q.share_group, " mixes scale shapes ",
                              p.scale.shape().to_string(), " and ", ps.front().scale.shape().to_string());
    }
    any_po2 = any_po2 || q.spec.scale_type == ScaleType::kPo2;
    ps.push_back(std::move(p));
  }
  std::vector<float> shared(static_cast<size_t>(ps.front().scale.numel()), 0.0f);
  for (const QuantParams& p : ps) {
    for (size_t c = 0; c < shared.size(); ++c) shared[c] = std::max(shared[c], p.scale.data<float>()[c]);
  }
  if (any_po2) {
    for (float& s : shared) s = po2_ceil(s);
  }
  for (size_t m = 0; m < members.size(); ++m) {
    QuantParams& p = ps[m];
    const QuantSpec& spec = plan.quantizers[static_cast<size_t>(members[m])].spec;
    p.scale = Tensor::from_data(DType::kF32, p.scale.shape(), shared.data());
    p.zero_point = Tensor(DType::kF32, p.scale.shape());
    if (!spec.symmetric && p.kind == QuantKind::kInt) {
      // Same grid placement as params_from_ranges: the range's low end maps to min_int.
      float* zp = p.zero_point.data<float>();
      for (size_t c = 0; c < shared.size(); ++c) {
        const double z = std::nearbyint(static_cast<double>(p.min_int()) - u[c].lo / static_cast<double>(shared[c]));
        zp[c] = static_cast<float>(std::clamp(z, static_cast<double>(p.min_int()), static_cast<double>(p.max_int())));
      }
    }
    r.quantizers[static_cast<size_t>(members[m])] = {members[m], std::move(p), u};
  }
  return Status::ok();
}

// Scale shape for a per-channel bias: the channel count at the bias' channel dim, 1 elsewhere.
Result<Shape> bias_scale_shape(const Shape& bias, int64_t channels, int* axis) {
  for (size_t d = bias.rank(); d-- > 0;) {
    if (bias[d] != channels) continue;
    std::vector<int64_t> dims(bias.rank(), 1);
    dims[d] = channels;
    *axis = static_cast<int>(d);
    return Shape(dims);
  }
  return invalid_argument("bias of shape ", bias.to_string(), " has no dimension of ", channels, " channels");
}

// The grid of the owner's activation input when the plan names no input quantizer: the value
// read, looking through shape-only ops, is the output of a pool with a Trunc (the FINN
// pattern GlobalAveragePool → Trunc → Flatten → Gemm), or carries an every-use quantizer.
Result<QuantParams> implicit_bias_input(const Graph& g, const QuantPlan& plan, const PlannedQuantizer& q,
                                        const CalibrationResult& r) {
  const std::string what = describe_quantizer(g, q);
  if (q.owner == kNoNode || g.node(q.owner).inputs.empty()) return invalid_argument(what, ": no bias_input and no owner node");
  ValueId v = g.node(q.owner).inputs[0];
  for (int hops = 0; v != kNoValue && hops < 16; ++hops) {
    for (const PlannedQuantizer& o : plan.quantizers) {
      if (o.spec.enabled && is_activation(o.role) && o.value == v && o.consumers.empty()) {
        return r.quantizers[static_cast<size_t>(o.id)].params;
      }
    }
    const NodeId p = g.value(v).producer;
    if (p == kNoNode) break;
    for (size_t t = 0; t < plan.truncs.size(); ++t) {
      if (plan.truncs[t].pool != p) continue;
      const TruncResult& tr = r.truncs[t];
      if (tr.fallback) return tr.fallback_params;
      QuantParams out;
      out.bits = tr.out_bits;
      out.is_signed = tr.is_signed;
      out.narrow = tr.narrow;
      out.scale = tr.out_scale;
      out.zero_point = tr.zero_point;
      return out;
    }
    const OpKind op = g.node(p).op;
    if (op != OpKind::kFlatten && op != OpKind::kReshape && op != OpKind::kSqueeze && op != OpKind::kUnsqueeze &&
        op != OpKind::kIdentity) {
      break;
    }
    v = g.node(p).inputs[0];
  }
  return invalid_argument(what, ": bias_input is -1 and the input of ", describe_node(g, q.owner),
                          " is neither quantized nor the output of a Trunc; an integer bias needs an input scale");
}

// A channel whose weights are (nearly) all zero — BatchNorm folding leaves such dead channels —
// gets a tiny weight scale, and its bias then overflows the integer grid s_in × s_w: the bias
// would saturate and the channel's output change completely. Its weight scale is raised just
// enough for the bias to fit; its weights, being tiny, still quantize to about zero.
Status widen_weight_scale_for_bias(const Tensor& bias, float s_in, int bias_bits, QuantParams& w) {
  const int64_t channels = w.scale.numel();
  const double max_int = std::ldexp(1.0, bias_bits - 1) - 1.0;
  const float* b = bias.data<float>();
  const int64_t n = bias.numel();
  Tensor scale = w.scale.clone();
  float* sw = scale.data<float>();
  bool changed = false;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = channels == 1 ? 0 : i % channels;
    const double needed = std::fabs(static_cast<double>(b[i])) / (static_cast<double>(s_in) * max_int);
    if (sw[c] < needed) {
      double v = needed * (1.0 + 1e-6);
      if (w.po2) v = std::exp2(std::ceil(std::log2(v)));
      sw[c] = static_cast<float>(v);
      changed = true;
    }
  }
  if (changed) w.scale = scale;
  return Status::ok();
}

Status bias_params(const Graph& g, const QuantPlan& plan, const PlannedQuantizer& q, CalibrationResult& r) {
  const std::string what = describe_quantizer(g, q);
  QuantParams implicit;
  if (q.bias_input < 0) {
    QE_ASSIGN_OR_RETURN(implicit, implicit_bias_input(g, plan, q, r));
  }
  const QuantParams& in = q.bias_input < 0 ? implicit : r.quantizers[static_cast<size_t>(q.bias_input)].params;
  const QuantParams& w = r.quantizers[static_cast<size_t>(q.bias_weight)].params;
  if (!in.scale.defined() || !w.scale.defined()) {
    return invalid_argument(what, ": the input or weight quantizer it depends on (#", q.bias_input, ", #",
                            q.bias_weight, ") is disabled; a float bias needs bias bits 0");
  }
  if (in.kind != QuantKind::kInt || w.kind != QuantKind::kInt) return unsupported(what, ": an integer bias needs integer input and weight quantizers");
  if (in.scale.numel() != 1) return unsupported(what, ": an integer bias needs a per-tensor input scale");
  if (w.group_size > 0) return unsupported(what, ": an integer bias cannot follow per-group weight scales");
  if (q.spec.bits < 2 || q.spec.bits > 32) return invalid_argument(what, ": bias bits ", q.spec.bits, " outside 2..32");
  const Tensor& b = g.value(q.value).constant;
  const float s_in = in.scale.data<float>()[0];
  const int64_t channels = w.scale.numel();
  QE_RETURN_IF_ERROR(widen_weight_scale_for_bias(b, s_in, q.spec.bits, r.quantizers[static_cast<size_t>(q.bias_weight)].params));

  QuantParams p;
  p.kind = QuantKind::kInt;
  p.bits = q.spec.bits;
  p.is_signed = true;
  p.narrow = false;
  p.rounding = q.spec.rounding;
  p.po2 = in.po2 && w.po2;
  if (channels == 1) {
    p.scale = scalar_tensor(s_in * w.scale.data<float>()[0]);
  } else {
    int axis = -1;
    auto shape = bias_scale_shape(b.shape(), channels, &axis);
    if (!shape.is_ok()) return shape.status().with_context(what + ": ");
    std::vector<float> s(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) s[static_cast<size_t>(c)] = s_in * w.scale.data<float>()[c];
    p.scale = Tensor::from_data(DType::kF32, *shape, s.data());
    p.axis = axis;
  }
  p.zero_point = Tensor(DType::kF32, p.scale.shape());

  // Reported ranges: the constant's extremes per channel, and the span the grid covers.
  std::vector<ObservedRange> ranges(static_cast<size_t>(channels));
  const float* bd = b.data<float>();
  const int64_t n = b.numel();
  for (size_t c = 0; c < ranges.size(); ++c) {
    ranges[c].min = ranges[c].max = 0.0f;
    const float s = p.scale.data<float>()[c];
    ranges[c].lo = static_cast<float>(p.min_int()) * s;
    ranges[c].hi = static_cast<float>(p.max_int()) * s;
  }
  std::vector<bool> first(ranges.size(), true);
  for (int64_t i = 0; i < n; ++i) {
    // Per channel: the bias has `channels` entries along its channel axis and 1 elsewhere.
    size_t c = channels == 1 ? 0 : static_cast<size_t>(i % channels);
    ObservedRange& rg = ranges[c];
    rg.min = first[c] ? bd[i] : std::min(rg.min, bd[i]);
    rg.max = first[c] ? bd[i] : std::max(rg.max, bd[i]);
    first[c] = false;
  }
  r.quantizers[static_cast<size_t>(q.id)] = {q.id, std::move(p), std::move(ranges)};
  return Status::ok();
}

Status trunc_params(const Graph& g, const QuantPlan& plan, size_t t, const RangeObserver* fallback_obs,
                    CalibrationResult& r) {
  const PlannedTrunc& tr = plan.truncs[t];
  const PlannedQuantizer& inq = plan.quantizers[static_cast<size_t>(tr.input_quantizer)];
  TruncResult out;
  out.trunc = static_cast<int>(t);
  if (fallback_obs) {
    auto ranges = fallback_obs->ranges();
    if (!ranges.is_ok()) return ranges.status().with_context("trunc after " + describe_node(g, tr.pool) + ": ");
    PlannedQuantizer pooled = inq;
    pooled.value = g.node(tr.pool).outputs[0];
    pooled.owner = tr.pool;
    QE_ASSIGN_OR_RETURN(out.fallback_params, activation_params(g, pooled, inq.spec, *ranges));
    out.fallback = true;
    out.fallback_ranges = std::move(ranges).value();
    r.truncs.push_back(std::move(out));
    return Status::ok();
  }
  const QuantParams& in = r.quantizers[static_cast<size_t>(tr.input_quantizer)].params;
  if (in.scale.numel() != 1 || in.zero_point.data<float>()[0] != 0.0f) {
    return internal_error("trunc after ", describe_node(g, tr.pool), ": input quantizer is not per-tensor with zero point 0");
  }
  int shift = 0;
  while ((int64_t{1} << shift) < tr.window) ++shift;
  const double s_in = in.scale.data<float>()[0];
  const double window = static_cast<double>(tr.window);
  out.scale = scalar_tensor(static_cast<float>(s_in / window));
  out.zero_point = scalar_tensor(0.0f);
  out.out_scale = scalar_tensor(static_cast<float>(s_in * std::ldexp(1.0, shift) / window));
  out.out_bits = in.bits;
  out.shift = shift;
  out.in_bits = in.bits + shift;
  out.rounding = tr.rounding;
  out.is_signed = in.is_signed;
  out.narrow = in.narrow;
  r.truncs.push_back(std::move(out));
  return Status::ok();
}

}  // namespace

Result<CalibrationResult> compute_calibration_params(const Graph& g, const QuantPlan& plan,
                                                     const std::vector<std::unique_ptr<RangeObserver>>& q_obs,
                                                     const std::vector<std::unique_ptr<RangeObserver>>& t_obs,
                                                     CalibrationResult r) {
  const size_t nq = plan.quantizers.size();
  r.quantizers.assign(nq, QuantizerResult{});
  for (size_t i = 0; i < nq; ++i) r.quantizers[i].quantizer = static_cast<int>(i);

  std::vector<std::vector<ObservedRange>> act_ranges(nq);
  std::map<int, std::vector<int>> groups;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!q.spec.enabled) continue;
    QuantizerResult& qr = r.quantizers[static_cast<size_t>(q.id)];
    if (q.role == QuantRole::kWeight) {
      auto p = weight_quant_params(q.spec, g.value(q.value).constant, q.channel_axis, &qr.ranges);
      if (!p.is_ok()) return p.status().with_context(describe_quantizer(g, q) + ": ");
      qr.params = std::move(p).value();
    } else if (is_activation(q.role)) {
      auto ranges = q_obs[static_cast<size_t>(q.id)]->ranges();
      if (!ranges.is_ok()) return ranges.status().with_context(describe_quantizer(g, q) + ": ");
      act_ranges[static_cast<size_t>(q.id)] = std::move(ranges).value();
      if (q.share_group >= 0) {
        groups[q.share_group].push_back(q.id);
      } else {
        QE_ASSIGN_OR_RETURN(qr.params, activation_params(g, q, q.spec, act_ranges[static_cast<size_t>(q.id)]));
        qr.ranges = act_ranges[static_cast<size_t>(q.id)];
      }
    }
  }
  for (const auto& [group, members] : groups) QE_RETURN_IF_ERROR(share_group_params(g, plan, members, act_ranges, r));
  for (size_t t = 0; t < plan.truncs.size(); ++t) QE_RETURN_IF_ERROR(trunc_params(g, plan, t, t_obs[t].get(), r));
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.spec.enabled && q.role == QuantRole::kBias) QE_RETURN_IF_ERROR(bias_params(g, plan, q, r));
  }
  return r;
}

}  // namespace qe

#include "quant/finn_checker.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "graph/quant_params.h"
#include "quant/value_facts.h"

namespace qe {

namespace {

bool is_quantizer(OpKind op) { return op == OpKind::kFakeQuant || op == OpKind::kTrunc; }

const Tensor* constant_input(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  return v.is_constant() ? &v.constant : nullptr;
}

class Checker {
 public:
  explicit Checker(const Graph& g) : g_(g) {}

  std::vector<FinnViolation> run() {
    for (size_t i = 0; i < g_.num_nodes(); ++i) {
      const NodeId id = static_cast<NodeId>(i);
      const Node& n = g_.node(id);
      if (!n.alive) continue;
      if (is_compute_op(n.op)) check_compute(id);
      if (n.op == OpKind::kAdd) check_equal_scales(id, "add-scales");
      if (n.op == OpKind::kConcat) check_equal_scales(id, "concat-scales");
      if (n.op == OpKind::kRelu || (is_compute_op(n.op) && fused_activation(n) == "Relu")) check_relu(id);
      if (n.op == OpKind::kFakeQuant) check_fake_quant(id);
      if (n.op == OpKind::kTrunc) check_trunc(id);
    }
    return std::move(out_);
  }

 private:
  template <typename... Args>
  void report(NodeId id, const char* rule, const Args&... args) {
    const Node& n = g_.node(id);
    out_.push_back({n.name.empty() ? describe_node(g_, id) : n.name, rule, str_cat(args...)});
  }

  std::string value_name(ValueId v) const { return "'" + g_.value(v).name + "'"; }

  // The quantizers (FakeQuant / Trunc) that produce `v`, looking upstream through transparent
  // ops. False when some path reaches a value no quantizer produced.
  bool upstream_quantizers(ValueId v, std::vector<NodeId>& found) const {
    const NodeId p = g_.value(v).producer;
    if (p == kNoNode) return false;
    const Node& n = g_.node(p);
    if (is_quantizer(n.op)) {
      if (std::find(found.begin(), found.end(), p) == found.end()) found.push_back(p);
      return true;
    }
    const std::vector<int> through = transparent_inputs(g_, p);
    if (through.empty()) return false;
    bool all = true;
    for (int i : through) all = upstream_quantizers(n.inputs[static_cast<size_t>(i)], found) && all;
    return all;
  }

  // The weight FakeQuant feeding input `v` of a compute op (its X a constant), if any.
  NodeId weight_quantizer(ValueId v) const {
    std::vector<NodeId> found;
    if (!upstream_quantizers(v, found) || found.size() != 1) return kNoNode;
    const Node& q = g_.node(found[0]);
    if (q.op != OpKind::kFakeQuant || q.inputs.empty() || !g_.value(q.inputs[0]).is_constant()) return kNoNode;
    return found[0];
  }

  void check_weight(NodeId id, ValueId w, int channel_axis) {
    const NodeId fq = weight_quantizer(w);
    if (fq == kNoNode) {
      report(id, "weight-quant", "weight ", value_name(w), " does not go through a FakeQuant");
      return;
    }
    auto p = read_quant_params(g_, fq);
    if (!p.is_ok()) return;  // reported by check_fake_quant
    for (float z : p->zero_point.defined() ? p->zero_point.to_float_vector() : std::vector<float>{}) {
      if (z != 0.0f) {
        report(id, "weight-zero-point", "weight quantizer '", g_.node(fq).name, "' has zero point ", z,
               " (FINN needs 0)");
        break;
      }
    }
    if (p->per_tensor()) return;
    const Shape& s = p->scale.shape();
    const Shape& ws = g_.value(g_.node(fq).inputs[0]).constant.shape();
    bool ok = p->group_size == 0 && channel_axis >= 0;
    // Per output channel: the scale broadcasts against the weight and varies only along the
    // output-channel axis, with one entry per channel.
    if (ok) {
      const size_t offset = ws.rank() >= s.rank() ? ws.rank() - s.rank() : 0;
      for (size_t d = 0; d < s.rank() && ok; ++d) {
        const size_t wd = d + offset;
        if (static_cast<int>(wd) == channel_axis) {
          ok = s[d] == ws[wd];
        } else {
          ok = s[d] == 1;
        }
      }
      ok = ok && s.rank() + offset > static_cast<size_t>(channel_axis) && static_cast<size_t>(channel_axis) >= offset;
    }
    if (!ok) {
      report(id, "weight-scale", "weight quantizer '", g_.node(fq).name, "' has scale shape ", s.to_string(),
             " for weight ", ws.to_string(), ": FINN needs per-tensor or per-output-channel (axis ", channel_axis,
             ") scales");
    }
  }

  void check_activation_input(NodeId id, size_t i) {
    const ValueId v = g_.node(id).inputs[i];
    std::vector<NodeId> found;
    if (!upstream_quantizers(v, found)) {
      report(id, "act-quant", "activation input ", i, " (", value_name(v), ") is not quantized");
    }
  }

  void check_compute(NodeId id) {
    const Node& n = g_.node(id);
    if (n.inputs.size() < 2 || n.inputs[0] == kNoValue || n.inputs[1] == kNoValue) return;
    check_activation_input(id, 0);
    const ValueId b = n.inputs[1];
    int axis = -1;
    switch (n.op) {
      case OpKind::kConv: axis = 0; break;
      case OpKind::kConvTranspose: axis = 1; break;
      case OpKind::kGemm: {
        auto t = n.attrs.get_int("transB", 0);
        axis = t.is_ok() && *t != 0 ? 0 : 1;
        break;
      }
      default: {
        const Value& bv = g_.value(b);
        const NodeId fq = weight_quantizer(b);
        const int64_t rank = bv.is_constant() ? static_cast<int64_t>(bv.constant.shape().rank())
                             : fq != kNoNode
                                 ? static_cast<int64_t>(g_.value(g_.node(fq).inputs[0]).constant.shape().rank())
                                 : static_cast<int64_t>(bv.shape.rank());
        axis = static_cast<int>(rank) - 1;
        break;
      }
    }
    // Conv / ConvTranspose input 1 is always a weight; Gemm / MatMul B is one when it is a
    // (quantized) constant, otherwise a second activation.
    const bool is_weight = n.op == OpKind::kConv || n.op == OpKind::kConvTranspose || g_.value(b).is_constant() ||
                           weight_quantizer(b) != kNoNode;
    if (is_weight) {
      check_weight(id, b, axis);
    } else {
      check_activation_input(id, 1);
    }
  }

  // The grid scale a quantizer's output is on.
  const Tensor* output_scale(NodeId q) const {
    const Node& n = g_.node(q);
    if (n.op == OpKind::kTrunc) {
      if (const Tensor* s = constant_input(g_, n, 4)) return s;
    }
    return constant_input(g_, n, 1);
  }

  static bool same_scale(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_float_vector(), y = b.to_float_vector();
    if (x.size() != y.size()) {
      // A per-tensor scale equals a broadcast one when every entry matches.
      const std::vector<float>& one = x.size() == 1 ? x : y;
      const std::vector<float>& many = x.size() == 1 ? y : x;
      if (one.size() != 1) return false;
      return std::all_of(many.begin(), many.end(),
                         [&](float v) { return std::fabs(v - one[0]) <= 1e-6f * std::fabs(v); });
    }
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::fabs(x[i] - y[i]) > 1e-6f * std::max(std::fabs(x[i]), std::fabs(y[i]))) return false;
    }
    return true;
  }

  void check_equal_scales(NodeId id, const char* rule) {
    const Node& n = g_.node(id);
    const Tensor* first = nullptr;
    std::string first_name;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ValueId v = n.inputs[i];
      if (v == kNoValue || g_.value(v).is_constant()) continue;  // a constant operand is folded by FINN
      std::vector<NodeId> found;
      if (!upstream_quantizers(v, found)) {
        report(id, rule, "input ", i, " (", value_name(v), ") is not quantized; FINN needs one scale on all inputs");
        return;
      }
      for (NodeId q : found) {
        const Tensor* s = output_scale(q);
        if (!s) continue;
        if (!first) {
          first = s;
          first_name = g_.node(q).name;
        } else if (!same_scale(*first, *s)) {
          report(id, rule, "inputs have different scales: '", first_name, "' ", first->to_float_vector()[0], " vs '",
                 g_.node(q).name, "' ", s->to_float_vector()[0]);
          return;
        }
      }
    }
  }

  // Quantizers reading `v`, looking downstream through transparent ops.
  void downstream_quantizers(ValueId v, std::vector<NodeId>& found, int depth = 0) const {
    if (depth > 64) return;
    for (const Use& u : g_.value(v).uses) {
      const Node& n = g_.node(u.node);
      if (n.op == OpKind::kFakeQuant && u.input_index == 0) {
        found.push_back(u.node);
        continue;
      }
      const std::vector<int> through = transparent_inputs(g_, u.node);
      if (std::find(through.begin(), through.end(), u.input_index) == through.end()) continue;
      for (ValueId out : n.outputs) {
        if (out != kNoValue) downstream_quantizers(out, found, depth + 1);
      }
    }
  }

  void check_relu(NodeId id) {
    const ValueId out = g_.node(id).outputs[0];
    if (!has_data_consumer(g_, out)) return;
    std::vector<NodeId> found;
    downstream_quantizers(out, found);
    if (found.empty()) {
      report(id, "relu-quant", "Relu output ", value_name(out), " is not quantized");
      return;
    }
    for (NodeId q : found) {
      auto p = read_quant_params(g_, q);
      if (!p.is_ok()) continue;
      if (p->is_signed || p->narrow) {
        report(id, "relu-unsigned", "quantizer '", g_.node(q).name, "' after Relu is ", p->is_signed ? "signed" : "",
               p->is_signed && p->narrow ? " and " : "", p->narrow ? "narrow" : "",
               " (FINN needs unsigned, not narrow)");
      }
    }
  }

  void check_fake_quant(NodeId id) {
    auto p = read_quant_params(g_, id);
    if (!p.is_ok()) {
      report(id, "quant-params", p.status().message());
      return;
    }
    if (p->kind == QuantKind::kFloat)
      report(id, "quant-kind", "minifloat quantizer; FINN handles integer and bipolar quantizers");
    const Node& n = g_.node(id);
    const bool activation = !n.inputs.empty() && !g_.value(n.inputs[0]).is_constant();
    if (activation && p->bits > 8)
      report(id, "act-bits", "activation quantizer has ", p->bits, " bits (FINN takes at most 8)");
    if (activation && p->zero_point.defined()) {
      for (float z : p->zero_point.to_float_vector()) {
        if (z != 0.0f) {
          report(id, "act-zero-point", "activation quantizer has zero point ", z, " (FINN needs 0)");
          break;
        }
      }
    }
  }

  void check_trunc(NodeId id) {
    const Node& n = g_.node(id);
    auto mode = n.attrs.get_string("rounding_mode", "FLOOR");
    if (!mode.is_ok() || parse_rounding_mode(*mode).is_ok() == false ||
        *parse_rounding_mode(*mode) != RoundingMode::kFloor) {
      report(id, "trunc-rounding", "Trunc rounds with ", mode.is_ok() ? *mode : std::string("?"),
             " (FINN needs FLOOR)");
    }
    if (n.inputs.empty() || n.inputs[0] == kNoValue) return;
    NodeId p = g_.value(n.inputs[0]).producer;
    // QONNX Trunc v1 pattern: AveragePool → Mul(k²) → Trunc.
    if (p != kNoNode && g_.node(p).op == OpKind::kMul) {
      const Node& mul = g_.node(p);
      for (size_t i = 0; i < mul.inputs.size() && i < 2; ++i) {
        if (constant_input(g_, mul, 1 - i)) {
          p = g_.value(mul.inputs[i]).producer;
          break;
        }
      }
    }
    if (p == kNoNode) return;
    const Node& pool = g_.node(p);
    if (pool.op == OpKind::kAveragePool) {
      auto k = pool.attrs.get_ints("kernel_shape");
      auto pads = pool.attrs.get_ints("pads");
      auto auto_pad = pool.attrs.get_string("auto_pad", "NOTSET");
      const bool square =
          k.is_ok() && !k->empty() && std::all_of(k->begin(), k->end(), [&](int64_t d) { return d == (*k)[0]; });
      const bool padded = (pads.is_ok() && std::any_of(pads->begin(), pads->end(), [](int64_t x) { return x != 0; })) ||
                          (auto_pad.is_ok() && *auto_pad != "NOTSET" && *auto_pad != "VALID");
      if (!square || padded) {
        report(id, "trunc-pool", "AveragePool '", pool.name, "' before the Trunc has ",
               !square ? "a non-square kernel" : "", !square && padded ? " and " : "", padded ? "padding" : "",
               " (FINN needs a square kernel, no padding)");
      }
    } else if (pool.op == OpKind::kGlobalAveragePool) {
      const Value& x = g_.value(pool.inputs[0]);
      if (x.shape_known && x.shape.rank() == 4 && x.shape[2] >= 0 && x.shape[3] >= 0 && x.shape[2] != x.shape[3]) {
        report(id, "trunc-pool", "GlobalAveragePool '", pool.name, "' before the Trunc pools a non-square ", x.shape[2],
               "x", x.shape[3], " window (FINN needs a square kernel)");
      }
    }
  }

  const Graph& g_;
  std::vector<FinnViolation> out_;
};

}  // namespace

std::vector<FinnViolation> check_finn(const Graph& quantized) { return Checker(quantized).run(); }

std::string format_finn_violations(const std::vector<FinnViolation>& violations) {
  if (violations.empty()) return "FINN check: OK\n";
  std::ostringstream o;
  o << "FINN check: " << violations.size() << " violation" << (violations.size() == 1 ? "" : "s") << '\n';
  for (const FinnViolation& v : violations) o << "  node '" << v.node << "': [" << v.rule << "] " << v.message << '\n';
  return o.str();
}

}  // namespace qe

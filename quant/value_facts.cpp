#include "quant/value_facts.h"

#include <algorithm>

namespace qe {

namespace {

const Tensor* constant_of(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  return v.is_constant() ? &v.constant : nullptr;
}

bool is_constant_input(const Graph& g, const Node& n, size_t i) { return constant_of(g, n, i) != nullptr; }

bool has_input(const Node& n, size_t i) { return i < n.inputs.size() && n.inputs[i] != kNoValue; }

// Shape of input `i` when its rank is known.
const Shape* shape_of(const Graph& g, ValueId v) {
  if (v == kNoValue) return nullptr;
  const Value& val = g.value(v);
  if (val.is_constant()) return &val.constant.shape();
  return val.shape_known ? &val.shape : nullptr;
}

int64_t int_attr(const Node& n, const char* name, int64_t def) {
  auto r = n.attrs.get_int(name, def);
  return r.is_ok() ? *r : def;
}

bool all_non_negative(const Tensor& t) {
  for (float x : t.to_float_vector()) {
    if (!(x >= 0.0f)) return false;
  }
  return true;
}

// Pad with mode constant, value 0 and the same amount at both ends of every axis: the padded
// zeros are on every grid (zero point included when it is representable, as it always is).
bool is_symmetric_zero_pad(const Graph& g, const Node& n) {
  auto mode = n.attrs.get_string("mode", "constant");
  if (!mode.is_ok() || *mode != "constant") return false;
  const Tensor* pads = constant_of(g, n, 1);
  if (!pads) return false;
  if (has_input(n, 2)) {
    const Tensor* value = constant_of(g, n, 2);
    if (!value || value->numel() != 1 || value->to_float_vector()[0] != 0.0f) return false;
  }
  std::vector<int64_t> p = pads->to_int64_vector();
  if (p.size() % 2 != 0) return false;
  const size_t half = p.size() / 2;
  for (size_t i = 0; i < half; ++i) {
    if (p[i] != p[i + half] || p[i] < 0) return false;
  }
  return true;
}

}  // namespace

bool is_compute_op(OpKind op) {
  return op == OpKind::kConv || op == OpKind::kConvTranspose || op == OpKind::kGemm || op == OpKind::kMatMul;
}

bool is_activation_op(OpKind op) {
  switch (op) {
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kClip:
    case OpKind::kSigmoid:
    case OpKind::kHardSigmoid:
    case OpKind::kHardSwish:
    case OpKind::kTanh:
    case OpKind::kGelu: return true;
    default:
      // PRelu is in the policy's list but not in the op list; when it is added, list it here.
      return false;
  }
}

ComputeInputs compute_inputs(const Graph& g, NodeId id) {
  ComputeInputs r;
  const Node& n = g.node(id);
  auto add_activation = [&](size_t i) {
    if (has_input(n, i) && !is_constant_input(g, n, i)) r.activations.push_back(static_cast<int>(i));
  };
  switch (n.op) {
    case OpKind::kConv:
    case OpKind::kConvTranspose:
      add_activation(0);
      if (is_constant_input(g, n, 1)) {
        r.weight = 1;
        r.channel_axis = n.op == OpKind::kConv ? 0 : 1;
      }
      if (is_constant_input(g, n, 2)) r.bias = 2;
      break;
    case OpKind::kGemm: {
      add_activation(0);
      if (is_constant_input(g, n, 1)) {
        r.weight = 1;
        r.channel_axis = int_attr(n, "transB", 0) != 0 ? 0 : 1;
      } else {
        add_activation(1);
      }
      const Tensor* c = constant_of(g, n, 2);
      if (c && c->shape().rank() == 1) r.bias = 2;
      break;
    }
    case OpKind::kMatMul:
      add_activation(0);
      if (is_constant_input(g, n, 1)) {
        r.weight = 1;
        r.channel_axis = static_cast<int>(g.value(n.inputs[1]).constant.shape().rank()) - 1;
      } else {
        add_activation(1);
      }
      break;
    default: break;
  }
  return r;
}

int64_t node_in_channels(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const Shape* w = n.inputs.size() > 1 ? shape_of(g, n.inputs[1]) : nullptr;
  const int64_t group = int_attr(n, "group", 1);
  switch (n.op) {
    case OpKind::kConv:
      if (w && w->rank() >= 2 && (*w)[1] >= 0) return (*w)[1] * group;
      break;
    case OpKind::kConvTranspose:
      if (w && w->rank() >= 1) return (*w)[0];
      break;
    case OpKind::kGemm:
      if (w && w->rank() == 2) return int_attr(n, "transB", 0) != 0 ? (*w)[1] : (*w)[0];
      break;
    case OpKind::kMatMul:
      if (w && w->rank() >= 2) return (*w)[w->rank() - 2];
      break;
    default: break;
  }
  if (n.inputs.empty()) return -1;
  const Shape* x = shape_of(g, n.inputs[0]);
  if (!x || x->rank() < 2) return -1;
  return (n.op == OpKind::kGemm || n.op == OpKind::kMatMul) ? (*x)[x->rank() - 1] : (*x)[1];
}

int64_t node_out_channels(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const Shape* w = n.inputs.size() > 1 ? shape_of(g, n.inputs[1]) : nullptr;
  switch (n.op) {
    case OpKind::kConv:
      if (w && w->rank() >= 1) return (*w)[0];
      break;
    case OpKind::kConvTranspose:
      if (w && w->rank() >= 2 && (*w)[1] >= 0) return (*w)[1] * int_attr(n, "group", 1);
      break;
    case OpKind::kGemm:
      if (w && w->rank() == 2) return int_attr(n, "transB", 0) != 0 ? (*w)[0] : (*w)[1];
      break;
    case OpKind::kMatMul:
      if (w && w->rank() >= 1) return (*w)[w->rank() - 1];
      break;
    default: break;
  }
  if (n.outputs.empty()) return -1;
  const Shape* y = shape_of(g, n.outputs[0]);
  if (!y || y->rank() < 2) return -1;
  return (n.op == OpKind::kGemm || n.op == OpKind::kMatMul) ? (*y)[y->rank() - 1] : (*y)[1];
}

bool is_depthwise_conv(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.op != OpKind::kConv) return false;
  const int64_t group = int_attr(n, "group", 1);
  return group > 1 && node_in_channels(g, id) == group;
}

std::vector<int64_t> node_kernel_shape(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.op == OpKind::kConv || n.op == OpKind::kConvTranspose) {
    auto ks = n.attrs.get_ints("kernel_shape");
    if (ks.is_ok() && !ks->empty()) return *ks;
    const Shape* w = n.inputs.size() > 1 ? shape_of(g, n.inputs[1]) : nullptr;
    if (w && w->rank() > 2) return std::vector<int64_t>(w->dims().begin() + 2, w->dims().end());
    return {};
  }
  if (n.op == OpKind::kAveragePool || n.op == OpKind::kMaxPool) {
    auto ks = n.attrs.get_ints("kernel_shape");
    return ks.is_ok() ? *ks : std::vector<int64_t>{};
  }
  return {};
}

std::vector<int> transparent_inputs(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.inputs.empty() || n.inputs[0] == kNoValue) return {};
  switch (n.op) {
    case OpKind::kReshape:
    case OpKind::kFlatten:
    case OpKind::kTranspose:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kIdentity:
    case OpKind::kDropout:
    case OpKind::kGlobalMaxPool:
    case OpKind::kSlice:
    case OpKind::kSplit:
    case OpKind::kGather: return {0};
    case OpKind::kMaxPool:
      // The Indices output is not data; a MaxPool whose indices are used stays an origin.
      if (n.outputs.size() > 1 && n.outputs[1] != kNoValue && !g.value(n.outputs[1]).uses.empty()) return {};
      return {0};
    case OpKind::kResize: {
      auto mode = n.attrs.get_string("mode", "nearest");
      return mode.is_ok() && *mode == "nearest" ? std::vector<int>{0} : std::vector<int>{};
    }
    case OpKind::kPad: return is_symmetric_zero_pad(g, n) ? std::vector<int>{0} : std::vector<int>{};
    case OpKind::kConcat: {
      std::vector<int> all;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (n.inputs[i] == kNoValue) continue;
        if (g.value(n.inputs[i]).is_constant()) return {};
        all.push_back(static_cast<int>(i));
      }
      return all;
    }
    default: return {};
  }
}

std::string fused_activation(const Node& n) {
  auto act = n.attrs.get_string("_act", "");
  return act.is_ok() ? *act : std::string();
}

bool has_data_consumer(const Graph& g, ValueId v) {
  if (g.is_graph_output(v)) return true;
  for (const Use& u : g.value(v).uses) {
    if (g.node(u.node).op != OpKind::kShape) return true;
  }
  return false;
}

Result<std::vector<bool>> non_negative_values(const Graph& g) {
  std::vector<bool> nn(g.num_values(), false);
  for (size_t v = 0; v < g.num_values(); ++v) {
    const Value& val = g.value(static_cast<ValueId>(v));
    if (val.is_constant() && val.constant.dtype() == DType::kF32) nn[v] = all_non_negative(val.constant);
  }
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  auto in_nn = [&](const Node& n, size_t i) { return has_input(n, i) && nn[static_cast<size_t>(n.inputs[i])]; };
  for (NodeId id : order) {
    const Node& n = g.node(id);
    bool out = false;
    switch (n.op) {
      case OpKind::kRelu:
      case OpKind::kSigmoid:
      case OpKind::kHardSigmoid:
      case OpKind::kSoftmax:
      case OpKind::kAbs:
      case OpKind::kExp:
      case OpKind::kSqrt: out = true; break;
      case OpKind::kClip: {
        const Tensor* lo = constant_of(g, n, 1);
        out = in_nn(n, 0) || (lo && lo->numel() == 1 && lo->to_float_vector()[0] >= 0.0f);
        break;
      }
      case OpKind::kAveragePool:
      case OpKind::kGlobalAveragePool:
      case OpKind::kReduceMean:
      case OpKind::kReduceMax:
      case OpKind::kReduceSum: out = in_nn(n, 0); break;
      case OpKind::kAdd:
      case OpKind::kMul:
      case OpKind::kMin:
        out = !n.inputs.empty();
        for (size_t i = 0; i < n.inputs.size(); ++i) out = out && in_nn(n, i);
        break;
      case OpKind::kMax:
        for (size_t i = 0; i < n.inputs.size(); ++i) out = out || in_nn(n, i);
        break;
      default:
        if (is_compute_op(n.op)) {
          const std::string act = fused_activation(n);
          if (act == "Relu" || act == "Sigmoid" || act == "HardSigmoid") {
            out = true;
          } else if (act == "Clip") {
            auto lo = n.attrs.get_float("_act_alpha", -1.0f);
            out = lo.is_ok() && *lo >= 0.0f;
          }
        } else {
          std::vector<int> through = transparent_inputs(g, id);
          out = !through.empty();
          for (int i : through) out = out && in_nn(n, static_cast<size_t>(i));
        }
        break;
    }
    if (!out) continue;
    // Every output of a transparent multi-output op (Split) carries its input's values; for the
    // other ops only output 0 is data (Dropout's mask, MaxPool's indices are not).
    const size_t outs = n.op == OpKind::kSplit ? n.outputs.size() : std::min<size_t>(1, n.outputs.size());
    for (size_t o = 0; o < outs; ++o) {
      if (n.outputs[o] != kNoValue) nn[static_cast<size_t>(n.outputs[o])] = true;
    }
  }
  return nn;
}

}  // namespace qe

#include "engine/model_stats.h"

#include <set>

namespace qe {

int64_t node_macs(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  auto known = [&](size_t i, bool out) {
    const auto& list = out ? n.outputs : n.inputs;
    return i < list.size() && list[i] != kNoValue && g.value(list[i]).shape.is_known() && g.value(list[i]).shape_known;
  };
  switch (n.op) {
    case OpKind::kConv:
    case OpKind::kQConv: {
      if (!known(1, false) || !known(0, true)) return 0;
      const Shape& w = g.value(n.inputs[1]).shape;  // [Cout, Cin/g, k...]
      int64_t per_output = 1;
      for (size_t d = 1; d < w.rank(); ++d) per_output *= w[d];
      return g.value(n.outputs[0]).shape.numel() * per_output;
    }
    case OpKind::kConvTranspose: {
      if (!known(0, false) || !known(1, false)) return 0;
      const Shape& w = g.value(n.inputs[1]).shape;  // [Cin, Cout/g, k...]
      int64_t per_input = 1;
      for (size_t d = 1; d < w.rank(); ++d) per_input *= w[d];
      return g.value(n.inputs[0]).shape.numel() * per_input;
    }
    case OpKind::kGemm:
    case OpKind::kMatMul:
    case OpKind::kQGemm: {  // QGemm's weights are [N, K]: K is the input's last dimension too
      if (!known(0, false) || !known(0, true)) return 0;
      const Shape& a = g.value(n.inputs[0]).shape;
      int64_t k = a.rank() == 0 ? 1 : a[a.rank() - 1];
      if (n.op == OpKind::kGemm) {
        auto ta = n.attrs.get_int("transA", 0);
        if (ta.is_ok() && *ta && a.rank() == 2) k = a[0];
      }
      return g.value(n.outputs[0]).shape.numel() * k;
    }
    default: return 0;
  }
}

ModelStats compute_model_stats(const Graph& g) {
  ModelStats s;
  std::set<ValueId> counted;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive) continue;
    s.op_histogram[std::string(op_name(n.op))]++;
    s.macs += node_macs(g, n.id);
    for (ValueId v : n.inputs) {
      if (v == kNoValue || !g.value(v).is_constant() || !counted.insert(v).second) continue;
      const Tensor& t = g.value(v).constant;
      if (t.dtype() != DType::kI64) s.params += t.numel();  // int64 constants are shapes and indices
      s.param_bytes += static_cast<int64_t>(t.bytes());
    }
  }
  return s;
}

}  // namespace qe

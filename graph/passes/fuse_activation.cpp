// Conv|ConvTranspose|Gemm|MatMul(...) → Relu|LeakyRelu|Clip|HardSigmoid|HardSwish|Sigmoid
//   ⇒  the compute node with attributes _act, _act_alpha, _act_beta (applied in its epilogue).
#include <limits>

#include "graph/passes/passes.h"

namespace qe {

namespace {

struct Fusable {
  const char* act;
  float alpha;
  float beta;
};

// The activation a node computes, if it can go into an epilogue (Clip needs constant bounds).
std::optional<Fusable> fusable_activation(const Graph& g, const Node& n) {
  auto f = [&](const char* name, float def) { auto r = n.attrs.get_float(name, def); return r.is_ok() ? *r : def; };
  switch (n.op) {
    case OpKind::kRelu: return Fusable{"Relu", 0.f, 0.f};
    case OpKind::kLeakyRelu: return Fusable{"LeakyRelu", f("alpha", 0.01f), 0.f};
    case OpKind::kHardSigmoid: return Fusable{"HardSigmoid", f("alpha", 0.2f), f("beta", 0.5f)};
    case OpKind::kHardSwish: return Fusable{"HardSwish", 0.f, 0.f};
    case OpKind::kSigmoid: return Fusable{"Sigmoid", 0.f, 0.f};
    case OpKind::kClip: {
      float lo = -std::numeric_limits<float>::infinity();
      float hi = std::numeric_limits<float>::infinity();
      for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
        if (n.inputs[i] == kNoValue) continue;
        const Value& b = g.value(n.inputs[i]);
        if (!b.is_constant() || b.constant.numel() != 1) return std::nullopt;
        float v = b.constant.to_float_vector()[0];
        (i == 1 ? lo : hi) = v;
      }
      return Fusable{"Clip", lo, hi};
    }
    default: return std::nullopt;
  }
}

class FuseActivationPass : public Pass {
 public:
  std::string_view name() const override { return "fuse-activation"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      Node& producer = g.node(static_cast<NodeId>(i));
      if (!producer.alive || producer.attrs.has("_act")) continue;
      if (producer.op != OpKind::kConv && producer.op != OpKind::kConvTranspose && producer.op != OpKind::kGemm &&
          producer.op != OpKind::kMatMul) {
        continue;
      }
      ValueId out = producer.outputs[0];
      const Value& ov = g.value(out);
      if (ov.dtype != DType::kF32 || ov.uses.size() != 1 || g.is_graph_output(out)) continue;
      Node& act = g.node(ov.uses[0].node);
      if (ov.uses[0].input_index != 0) continue;
      auto fusable = fusable_activation(g, act);
      if (!fusable) continue;
      ValueId act_out = act.outputs[0];
      NodeId act_id = act.id;
      g.remove_node(act_id);
      Node& p = g.node(static_cast<NodeId>(i));
      g.set_node_output(p.id, 0, act_out);
      p.attrs.set("_act", std::string(fusable->act));
      p.attrs.set("_act_alpha", fusable->alpha);
      p.attrs.set("_act_beta", fusable->beta);
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_activation_pass() { return std::make_unique<FuseActivationPass>(); }

}  // namespace qe

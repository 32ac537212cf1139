// Mul(x, HardSigmoid(x; α=1/6, β=0.5))  ⇒  HardSwish(x)
// torch exports nn.Hardswish this way before opset 14; as one op it can then be fused into the
// producing convolution's epilogue.
#include <cmath>

#include "graph/passes/passes.h"

namespace qe {

namespace {

class FuseHardSwishPass : public Pass {
 public:
  std::string_view name() const override { return "fuse-hardswish"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      Node& hs = g.node(static_cast<NodeId>(i));
      if (!hs.alive || hs.op != OpKind::kHardSigmoid || hs.inputs.empty()) continue;
      auto alpha = hs.attrs.get_float("alpha", 0.2f);
      auto beta = hs.attrs.get_float("beta", 0.5f);
      if (!alpha.is_ok() || !beta.is_ok()) continue;
      if (std::fabs(*alpha - 1.f / 6.f) > 1e-6f || *beta != 0.5f) continue;
      ValueId x = hs.inputs[0];
      ValueId gate = hs.outputs[0];
      const Value& gv = g.value(gate);
      if (gv.uses.size() != 1 || g.is_graph_output(gate)) continue;
      Node& mul = g.node(gv.uses[0].node);
      if (mul.op != OpKind::kMul || mul.inputs.size() != 2) continue;
      int other = gv.uses[0].input_index == 0 ? 1 : 0;
      if (mul.inputs[static_cast<size_t>(other)] != x) continue;
      ValueId out = mul.outputs[0];
      std::string name = mul.name;
      g.remove_node(mul.id);
      g.remove_node(hs.id);
      g.add_node(OpKind::kHardSwish, name, {x}, {out});
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_hardswish_pass() { return std::make_unique<FuseHardSwishPass>(); }

}  // namespace qe

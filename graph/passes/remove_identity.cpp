// Identity(x) → y  ⇒  uses of y read x.   Dropout(x) → y (inference, no mask used)  ⇒  same.
#include "graph/passes/passes.h"

namespace qe {

namespace {

bool removable(const Graph& g, const Node& n) {
  if (n.op == OpKind::kIdentity) return n.inputs.size() == 1 && n.outputs.size() == 1;
  if (n.op == OpKind::kDropout) {
    // The optional mask output must be unused; training_mode (input 2) must be absent.
    if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) return false;
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      if (n.outputs[i] != kNoValue && (!g.value(n.outputs[i]).uses.empty() || g.is_graph_output(n.outputs[i]))) return false;
    }
    return true;
  }
  return false;
}

class RemoveIdentityPass : public Pass {
 public:
  std::string_view name() const override { return "remove-identity"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      Node& n = g.node(static_cast<NodeId>(i));
      if (!n.alive || !removable(g, n) || n.inputs[0] == kNoValue) continue;
      ValueId in = n.inputs[0];
      ValueId out = n.outputs[0];
      // A graph output keeps its name: only bypass when the output is not a graph output,
      // or when the input is not itself a graph input/output that would then be renamed.
      if (g.is_graph_output(out) && (g.is_graph_input(in) || g.is_graph_output(in))) continue;
      if (g.is_graph_output(out)) {
        // Keep the graph's output name: move the producer of `in` onto `out` instead.
        const Value& iv = g.value(in);
        if (iv.producer == kNoNode || iv.uses.size() != 1) continue;
        NodeId prod = iv.producer;
        int slot = iv.producer_output;
        g.remove_node(n.id);
        g.set_node_output(prod, slot, out);
      } else {
        g.replace_all_uses(out, in);
        g.remove_node(n.id);
      }
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_remove_identity_pass() { return std::make_unique<RemoveIdentityPass>(); }

}  // namespace qe

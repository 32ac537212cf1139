// node whose outputs nobody reads and that produces no graph output  ⇒  removed.
#include "graph/passes/passes.h"

namespace qe {

namespace {

class DeadCodeEliminationPass : public Pass {
 public:
  std::string_view name() const override { return "dead-code-elimination"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    bool again = true;
    while (again) {
      again = false;
      for (size_t i = g.num_nodes(); i-- > 0;) {
        Node& n = g.node(static_cast<NodeId>(i));
        if (!n.alive) continue;
        bool used = false;
        for (ValueId o : n.outputs) {
          if (o != kNoValue && (!g.value(o).uses.empty() || g.is_graph_output(o))) used = true;
        }
        if (!used) {
          g.remove_node(n.id);
          changed = again = true;
        }
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_dead_code_elimination_pass() { return std::make_unique<DeadCodeEliminationPass>(); }

}  // namespace qe

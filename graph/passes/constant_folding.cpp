// node whose inputs are all constants  ⇒  its outputs become constants (computed by the
// engine's kernels through PassContext::evaluator), the node is removed.
#include "graph/passes/passes.h"
#include "graph/schema.h"

namespace qe {

namespace {

// Folding must not blow up the model: an Expand or ConstantOfShape that makes a large tensor
// from a few bytes stays a node.
constexpr size_t kMaxFoldedBytes = size_t{16} << 20;

class ConstantFoldingPass : public Pass {
 public:
  std::string_view name() const override { return "constant-folding"; }
  Result<bool> run(Graph& g, PassContext& ctx) override {
    if (!ctx.evaluator) return false;
    bool changed = false;
    QE_ASSIGN_OR_RETURN(auto order, g.topological_order());
    for (NodeId id : order) {
      Node& n = g.node(id);
      if (!n.alive) continue;
      bool all_const = true;
      size_t in_bytes = 0;
      for (ValueId v : n.inputs) {
        if (v == kNoValue) continue;
        if (!g.value(v).is_constant()) { all_const = false; break; }
        in_bytes += g.value(v).constant.bytes();
      }
      if (!all_const) continue;
      QE_RETURN_IF_ERROR(infer_node(g, id));
      size_t out_bytes = 0;
      bool concrete = true;
      for (ValueId o : n.outputs) {
        if (o == kNoValue) continue;
        const Value& v = g.value(o);
        if (!v.shape_known || !v.shape.is_known()) { concrete = false; break; }
        out_bytes += dtype_storage_bytes(v.dtype, v.shape.numel());
      }
      if (!concrete || (out_bytes > kMaxFoldedBytes && out_bytes > 2 * in_bytes)) continue;
      auto outputs = ctx.evaluator(g, id);
      if (!outputs.is_ok()) {
        // An op we cannot evaluate stays in the graph; running it will report the problem.
        if (outputs.status().code() == StatusCode::kUnsupported) continue;
        return outputs.status();
      }
      std::vector<ValueId> outs = n.outputs;
      g.remove_node(id);
      for (size_t i = 0; i < outs.size(); ++i) {
        if (outs[i] != kNoValue) g.set_constant(outs[i], std::move((*outputs)[i]));
      }
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_constant_folding_pass() { return std::make_unique<ConstantFoldingPass>(); }

}  // namespace qe

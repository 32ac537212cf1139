// Shape(x) with the selected dims of x known  ⇒  constant int64 tensor.
// Gather(Shape(x), const idx) with those dims known (the batch may stay symbolic)  ⇒  constant.
// Together with constant folding this collapses torch's Shape→Gather→Unsqueeze→Concat→Reshape
// chains once the input shape is fixed, and folds the parts that never depend on the batch.
#include "graph/passes/passes.h"
#include "graph/schema.h"

namespace qe {

namespace {

// [start, end) of a Shape node after clamping, as ONNX defines it.
std::pair<int64_t, int64_t> shape_range(const Node& n, int64_t rank) {
  int64_t start = n.attrs.get_int("start", 0).is_ok() ? *n.attrs.get_int("start", 0) : 0;
  int64_t end = n.attrs.get_int("end", rank).is_ok() ? *n.attrs.get_int("end", rank) : rank;
  auto clamp = [&](int64_t v) {
    if (v < 0) v += rank;
    return std::min(std::max<int64_t>(v, 0), rank);
  };
  return {clamp(start), clamp(end)};
}

class ShapeFoldingPass : public Pass {
 public:
  std::string_view name() const override { return "shape-folding"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    QE_ASSIGN_OR_RETURN(auto order, g.topological_order());
    for (NodeId id : order) {
      Node& n = g.node(id);
      if (!n.alive || n.inputs.empty() || n.inputs[0] == kNoValue) continue;
      if (n.op == OpKind::kShape) {
        const Value& x = g.value(n.inputs[0]);
        if (!x.shape_known) continue;
        auto [start, end] = shape_range(n, static_cast<int64_t>(x.shape.rank()));
        end = std::max(start, end);  // start past end selects nothing
        std::vector<int64_t> dims(x.shape.dims().begin() + start, x.shape.dims().begin() + end);
        bool known = true;
        for (int64_t d : dims) known = known && d >= 0;
        if (!known) continue;
        ValueId out = n.outputs[0];
        g.remove_node(id);
        g.set_constant(out, Tensor::from_vector(Shape({static_cast<int64_t>(dims.size())}), dims));
        changed = true;
      } else if (n.op == OpKind::kGather && n.inputs.size() == 2) {
        const Value& data = g.value(n.inputs[0]);
        if (data.producer == kNoNode || data.is_constant()) continue;
        const Node& shape_node = g.node(data.producer);
        if (shape_node.op != OpKind::kShape || !shape_node.alive) continue;
        const Value& x = g.value(shape_node.inputs[0]);
        const Value& idx = g.value(n.inputs[1]);
        if (!x.shape_known || !idx.is_constant()) continue;
        int64_t axis = n.attrs.get_int("axis", 0).is_ok() ? *n.attrs.get_int("axis", 0) : 0;
        if (axis != 0 && axis != -1) continue;
        auto [start, end] = shape_range(shape_node, static_cast<int64_t>(x.shape.rank()));
        int64_t len = end - start;
        std::vector<int64_t> picked;
        bool known = true;
        for (int64_t i : idx.constant.to_int64_vector()) {
          if (i < 0) i += len;
          if (i < 0 || i >= len) { known = false; break; }
          int64_t d = x.shape[static_cast<size_t>(start + i)];
          if (d < 0) { known = false; break; }
          picked.push_back(d);
        }
        if (!known) continue;
        ValueId out = n.outputs[0];
        Shape out_shape = idx.constant.shape();
        g.remove_node(id);
        g.set_constant(out, Tensor::from_vector(out_shape, picked));
        changed = true;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_shape_folding_pass() { return std::make_unique<ShapeFoldingPass>(); }

}  // namespace qe

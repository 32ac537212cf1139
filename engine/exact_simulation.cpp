#include "engine/exact_simulation.h"

#include <string>
#include <utility>
#include <vector>

#include "engine/integer_regions.h"

namespace qe {

namespace {

struct Rewrite {
  NodeId node;
  lowering::IntGrid grid;
  lowering::IntegerCompute compute;
};

}  // namespace

Result<int> make_quantized_compute_exact(Graph& g) {
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  // Decide on the unchanged graph: a compute node's output is never a grid source, so one
  // rewrite cannot change another's decision.
  std::vector<Rewrite> rewrites;
  for (NodeId id : order) {
    const Node& n = g.node(id);
    if (!n.alive || (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul)) continue;
    if (n.inputs.empty() || n.inputs[0] == kNoValue || n.outputs.size() != 1) continue;
    auto grid = lowering::integer_grid_of(g, n.inputs[0]);
    if (!grid) continue;
    std::string reason;
    auto compute = lowering::integer_compute(g, id, *grid, &reason);
    if (!compute) continue;
    rewrites.push_back({id, *grid, std::move(*compute)});
  }
  for (Rewrite& r : rewrites) {
    const Node& n = g.node(r.node);
    const std::string base = n.name.empty() ? std::string(op_name(n.op)) : n.name;
    const ValueId x = n.inputs[0], y = n.outputs[0];
    // The input is on the grid, so QuantizeLinear recovers its integers exactly.
    const auto [scale, zpv] = r.grid.add_constants(g, base + "_x");
    ValueId q = g.add_value(g.unique_value_name(g.value(x).name + "_codes"), r.grid.dtype);
    std::vector<ValueId> inputs = {q, g.add_constant(g.unique_value_name(base + "_wq"), std::move(r.compute.weights))};
    if (r.compute.bias) inputs.push_back(g.add_constant(g.unique_value_name(base + "_bq"), std::move(*r.compute.bias)));
    Attributes attrs = std::move(r.compute.attrs);
    attrs.set("out_dtype", std::string("f32"));
    const std::string name = n.name;
    g.remove_node(r.node);
    g.add_node(OpKind::kQuantizeLinear, name + "_codes", {x, scale, zpv}, {q});
    g.add_node(r.compute.op, name + "_exact", std::move(inputs), {y}, std::move(attrs));
  }
  return static_cast<int>(rewrites.size());
}

}  // namespace qe

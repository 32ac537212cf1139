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

struct PoolRewrite {
  lowering::DirectPool pool;
  lowering::IntGrid grid;
};

// The input's integers: exact, because the input is on its grid.
ValueId integer_codes(Graph& g, const lowering::IntGrid& grid, ValueId x, const std::string& base) {
  const auto [scale, zpv] = grid.add_constants(g, base + "_x");
  ValueId q = g.add_value(g.unique_value_name(g.value(x).name + "_codes"), grid.dtype);
  g.add_node(OpKind::kQuantizeLinear, base + "_codes", {x, scale, zpv}, {q});
  return q;
}

// GlobalAveragePools that an activation quantizer reads directly (lowering::direct_pool).
std::vector<PoolRewrite> direct_pools(const Graph& g, const std::vector<NodeId>& order) {
  std::vector<PoolRewrite> out;
  for (NodeId id : order) {
    const Node& n = g.node(id);
    if (!lowering::is_integer_activation_quantizer(g, n)) continue;
    std::string reason;
    auto dp = lowering::direct_pool(g, n.inputs[0], &reason);
    if (!dp) continue;
    auto grid = lowering::integer_grid_of(g, g.node(dp->pool).inputs[0]);
    if (grid) out.push_back({*dp, *grid});
  }
  return out;
}

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
  const std::vector<PoolRewrite> pools = direct_pools(g, order);
  for (Rewrite& r : rewrites) {
    const Node& n = g.node(r.node);
    const std::string name = n.name.empty() ? std::string(op_name(n.op)) : n.name;
    const ValueId x = n.inputs[0], y = n.outputs[0];
    g.remove_node(r.node);
    std::vector<ValueId> inputs = {integer_codes(g, r.grid, x, name),
                                   g.add_constant(g.unique_value_name(name + "_wq"), std::move(r.compute.weights))};
    if (r.compute.bias) inputs.push_back(g.add_constant(g.unique_value_name(name + "_bq"), std::move(*r.compute.bias)));
    Attributes attrs = std::move(r.compute.attrs);
    attrs.set("out_dtype", std::string("f32"));
    g.add_node(r.compute.op, name + "_exact", std::move(inputs), {y}, std::move(attrs));
  }
  // The pool's window sum in integers, dequantized with one fp32 multiply: the quantizer after it
  // then divides exactly as the integer runtime's QAvgPool does.
  for (const PoolRewrite& r : pools) {
    const Node& n = g.node(r.pool.pool);
    const std::string name = n.name.empty() ? std::string(op_name(n.op)) : n.name;
    const ValueId x = n.inputs[0], y = n.outputs[0];
    g.remove_node(r.pool.pool);
    Attributes attrs;
    attrs.set("x_zero_point", static_cast<int64_t>(r.grid.zero_point));
    attrs.set("multiplier", r.pool.multiplier(r.grid.scale));
    attrs.set("out_dtype", std::string("f32"));
    g.add_node(OpKind::kQAvgPool, name + "_exact", {integer_codes(g, r.grid, x, name)}, {y}, std::move(attrs));
  }
  return static_cast<int>(rewrites.size() + pools.size());
}

}  // namespace qe

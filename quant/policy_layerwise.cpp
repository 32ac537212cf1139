// Layerwise placement (Brevitas "layerwise"): per compute node, its weight, its bias and each
// activation input, the input quantizer applied to that one use so other readers of the value
// keep the float tensor.
#include "quant/policy_internal.h"

namespace qe::policy_detail {

Result<QuantPlan> plan_layerwise(const Graph& g, const ResolvedConfig& cfg) {
  QuantPlan plan;
  plan.policy = "layerwise";
  QE_ASSIGN_OR_RETURN(std::vector<bool> non_negative, non_negative_values(g));
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  for (NodeId id : order) {
    const Node& n = g.node(id);
    const NodeQuantConfig& c = cfg.nodes[static_cast<size_t>(id)];
    if (!is_compute_op(n.op) || c.skip) continue;
    const ComputeInputs ci = compute_inputs(g, id);
    int data_input = -1;
    for (int idx : ci.activations) {
      const ValueId v = n.inputs[static_cast<size_t>(idx)];
      if (!c.input.enabled || !is_quantizable_activation(g, v)) continue;
      PlannedQuantizer q;
      q.role = QuantRole::kInput;
      q.value = v;
      q.owner = id;
      q.spec = c.input;
      resolve_sign(q.spec, non_negative[static_cast<size_t>(v)]);
      QE_ASSIGN_OR_RETURN(q.channel_axis,
                          activation_channel_axis(g, v, q.spec, describe_node(g, id) + " input " + std::to_string(idx)));
      q.consumers = {Use{id, idx}};
      const int qid = add_quantizer(plan, std::move(q));
      if (idx == 0) data_input = qid;
    }
    const int weight = add_weight_quantizer(plan, g, cfg, id, ci);
    add_bias_quantizer(plan, g, cfg, id, ci, data_input, weight);
  }
  return plan;
}

}  // namespace qe::policy_detail

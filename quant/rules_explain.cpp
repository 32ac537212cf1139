// explain_config(): what the rules resolved to, node by node (qengine calibrate --explain-config).
#include <map>
#include <sstream>

#include "quant/rules.h"
#include "quant/value_facts.h"

namespace qe {

namespace {

std::string bias_text(const BiasSpec& b) { return b.bits == 0 ? "float" : "int" + std::to_string(b.bits); }

std::string quantizer_text(const Graph& g, const PlannedQuantizer& q) {
  std::ostringstream o;
  o << 'q' << q.id << ' ' << quant_role_name(q.role) << " '" << g.value(q.value).name << "': ";
  if (q.role == QuantRole::kBias) {
    o << "int" << q.spec.bits << " = scale(q" << q.bias_input << ") x scale(q" << q.bias_weight << ")";
  } else {
    o << describe_spec(q.spec);
  }
  if (q.channel_axis >= 0 && q.spec.granularity != Granularity::kPerTensor && q.spec.axis < 0) o << " axis " << q.channel_axis;
  if (q.share_group >= 0) o << (q.share_all ? " shares all with group " : " shares scale with group ") << q.share_group;
  if (!q.consumers.empty() && q.role != QuantRole::kWeight && q.role != QuantRole::kBias) {
    o << " (only for this node's input";
    for (const Use& u : q.consumers) o << ' ' << u.input_index;
    o << ')';
  }
  return o.str();
}

}  // namespace

std::string explain_config(const Graph& g, const ResolvedConfig& config, const QuantPlan* plan) {
  std::ostringstream o;
  o << "policy: " << (plan ? plan->policy : config.policy) << '\n';
  for (const std::string& w : config.warnings) o << "warning: " << w << '\n';
  if (plan) {
    for (const std::string& n : plan->notes) o << "note: " << n << '\n';
    o << "plan: " << plan->quantizers.size() << " quantizers, " << plan->truncs.size() << " truncs\n";
  }
  std::map<NodeId, std::vector<const PlannedQuantizer*>> owned;
  std::map<NodeId, const PlannedTrunc*> truncs;
  if (plan) {
    for (const PlannedQuantizer& q : plan->quantizers) owned[q.owner].push_back(&q);
    for (const PlannedTrunc& t : plan->truncs) truncs[t.pool] = &t;
  }
  auto order = g.topological_order();
  if (!order.is_ok()) return o.str() + "(graph has a cycle: " + order.status().message() + ")\n";
  for (NodeId id : *order) {
    if (static_cast<size_t>(id) >= config.nodes.size()) break;
    const Node& n = g.node(id);
    const NodeQuantConfig& c = config.nodes[static_cast<size_t>(id)];
    const bool compute = is_compute_op(n.op);
    const bool in_plan = owned.count(id) || truncs.count(id);
    if (!compute && !in_plan && c.matched_rules.empty()) continue;
    o << describe_node(g, id);
    if (c.skip) o << "  [skipped: stays float]";
    if (!c.matched_rules.empty()) {
      o << "  rules:";
      for (const std::string& r : c.matched_rules) o << ' ' << r;
    }
    o << '\n';
    if (compute) {
      o << "  weight: " << describe_spec(c.weight) << '\n';
      o << "  bias:   " << bias_text(c.bias) << '\n';
      o << "  input:  " << describe_spec(c.input) << '\n';
    }
    o << "  output: " << describe_spec(c.output) << '\n';
    if (!compute && (c.input_set != 0)) o << "  input:  " << describe_spec(c.input) << '\n';
    if (!plan) continue;
    for (const PlannedQuantizer* q : owned[id]) o << "  -> " << quantizer_text(g, *q) << '\n';
    if (auto it = truncs.find(id); it != truncs.end()) {
      o << "  -> trunc: window " << it->second->window << " on q" << it->second->input_quantizer << '\n';
    }
  }
  return o.str();
}

}  // namespace qe

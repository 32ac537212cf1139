// make_quant_plan() and the weight / bias placement every policy shares.
#include "quant/policy.h"

#include "quant/policy_internal.h"

namespace qe {

namespace policy_detail {

bool is_quantizable_activation(const Graph& g, ValueId v) {
  if (v == kNoValue) return false;
  const Value& val = g.value(v);
  return !val.is_constant() && val.dtype == DType::kF32;
}

void resolve_sign(QuantSpec& spec, bool non_negative) {
  if (spec.sign == Signedness::kAuto) spec.sign = non_negative ? Signedness::kUnsigned : Signedness::kSigned;
}

int add_quantizer(QuantPlan& plan, PlannedQuantizer q) {
  q.id = static_cast<int>(plan.quantizers.size());
  plan.quantizers.push_back(std::move(q));
  return plan.quantizers.back().id;
}

int add_weight_quantizer(QuantPlan& plan, const Graph& g, const ResolvedConfig& cfg, NodeId id,
                         const ComputeInputs& ci) {
  const NodeQuantConfig& c = cfg.nodes[static_cast<size_t>(id)];
  if (ci.weight < 0 || !c.weight.enabled) return -1;
  const ValueId w = g.node(id).inputs[static_cast<size_t>(ci.weight)];
  if (g.value(w).constant.dtype() != DType::kF32) return -1;
  PlannedQuantizer q;
  q.role = QuantRole::kWeight;
  q.value = w;
  q.owner = id;
  q.spec = c.weight;
  // Weights are signed unless the user says otherwise: a filter with only non-negative taps is
  // an accident of training, not a property to bet the grid on.
  resolve_sign(q.spec, false);
  q.channel_axis = ci.channel_axis;
  q.consumers = {Use{id, ci.weight}};
  return add_quantizer(plan, std::move(q));
}

int add_bias_quantizer(QuantPlan& plan, const Graph& g, const ResolvedConfig& cfg, NodeId id, const ComputeInputs& ci,
                       int input_quantizer, int weight_quantizer, bool input_from_trunc) {
  const NodeQuantConfig& c = cfg.nodes[static_cast<size_t>(id)];
  if (ci.bias < 0 || c.bias.bits == 0 || weight_quantizer < 0) return -1;
  if (input_quantizer < 0 && !input_from_trunc) return -1;
  const QuantSpec& w = plan.quantizers[static_cast<size_t>(weight_quantizer)].spec;
  if (w.kind != QuantKind::kInt) return -1;
  if (input_quantizer >= 0 && plan.quantizers[static_cast<size_t>(input_quantizer)].spec.kind != QuantKind::kInt) return -1;
  if (w.granularity == Granularity::kPerGroup) {
    plan.notes.push_back(describe_node(g, id) +
                         ": bias left in float (per-group weight scales give no single bias scale)");
    return -1;
  }
  if (input_quantizer >= 0 && plan.quantizers[static_cast<size_t>(input_quantizer)].channel_axis >= 0) {
    note_bias_float_behind_per_channel_input(plan, g, id);
    return -1;
  }
  PlannedQuantizer q;
  q.role = QuantRole::kBias;
  q.value = g.node(id).inputs[static_cast<size_t>(ci.bias)];
  q.owner = id;
  q.spec.bits = c.bias.bits;
  q.spec.sign = Signedness::kSigned;
  q.spec.symmetric = true;
  q.spec.granularity = w.granularity;
  q.spec.method = RangeMethod::kAbsMax;
  q.channel_axis = w.granularity == Granularity::kPerChannel ? 0 : -1;
  q.consumers = {Use{id, ci.bias}};
  q.bias_input = input_quantizer;  // -1 with input_from_trunc
  q.bias_weight = weight_quantizer;
  return add_quantizer(plan, std::move(q));
}

void note_bias_float_behind_per_channel_input(QuantPlan& plan, const Graph& g, NodeId id) {
  plan.notes.push_back(describe_node(g, id) +
                       ": bias left in float (a per-channel input scale gives no single bias scale)");
}

Result<int> activation_channel_axis(const Graph& g, ValueId v, const QuantSpec& spec, const std::string& who) {
  if (spec.granularity != Granularity::kPerChannel) return -1;
  const Value& val = g.value(v);
  if (spec.axis < 0) return invalid_argument(who, ": per_channel activations need an axis");
  if (!val.shape_known) {
    return invalid_argument(who, ": per_channel along axis ", spec.axis, " needs the shape of '", val.name,
                            "', which is unknown (give --input-shape)");
  }
  if (static_cast<size_t>(spec.axis) >= val.shape.rank()) {
    return invalid_argument(who, ": per_channel axis ", spec.axis, " is out of range for '", val.name, "' of shape ",
                            val.shape.to_string());
  }
  if (val.shape[static_cast<size_t>(spec.axis)] <= 0) {
    return invalid_argument(who, ": per_channel axis ", spec.axis, " of '", val.name, "' (shape ",
                            val.shape.to_string(), ") has no fixed size; static scales need one");
  }
  return spec.axis;
}

}  // namespace policy_detail

Result<QuantPlan> make_quant_plan(const Graph& g, const ResolvedConfig& config, std::string_view policy) {
  const std::string p(policy.empty() ? std::string_view(config.policy) : policy);
  if (config.nodes.size() != g.num_nodes()) {
    return invalid_argument("quantization config has ", config.nodes.size(), " node entries but graph '", g.name,
                            "' has ", g.num_nodes(), " nodes: it was resolved for another graph");
  }
  if (p == "layerwise") return policy_detail::plan_layerwise(g, config);
  if (p == "full") return policy_detail::plan_full(g, config, false);
  if (p == "finn") return policy_detail::plan_full(g, config, true);
  return invalid_argument("unknown quantization policy '", p, "' (expected layerwise, full or finn)");
}

}  // namespace qe

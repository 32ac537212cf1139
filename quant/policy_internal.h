// Pieces the placement policies share (policy.cpp); not part of the public API.
#pragma once

#include "graph/graph.h"
#include "quant/quant_plan.h"
#include "quant/rules.h"
#include "quant/value_facts.h"

namespace qe::policy_detail {

// A value an activation quantizer can sit on: a float tensor computed at run time.
bool is_quantizable_activation(const Graph& g, ValueId v);

// Signedness::kAuto → unsigned on a provably non-negative value, signed otherwise.
void resolve_sign(QuantSpec& spec, bool non_negative);

// Appends a quantizer and returns its id.
int add_quantizer(QuantPlan& plan, PlannedQuantizer q);

// The weight quantizer of compute node `id` (applied to that node's use only); -1 when the
// node has no constant weight or its weight spec is disabled.
int add_weight_quantizer(QuantPlan& plan, const Graph& g, const ResolvedConfig& cfg, NodeId id,
                         const ComputeInputs& ci);

// The bias quantizer of compute node `id` on the grid input × weight; nothing (-1) when there
// is no constant bias, bias bits are 0, either quantizer is missing or not an integer grid, or
// the weight is per-group or the input per-channel (a bias needs one input scale per output
// channel). Adds a plan note for those two cases.
// `input_from_trunc`: the activation input is a Trunc's output (no quantizer id); the bias
// then takes the Trunc's output scale (bias_input = -1, resolved by the calibrator).
int add_bias_quantizer(QuantPlan& plan, const Graph& g, const ResolvedConfig& cfg, NodeId id, const ComputeInputs& ci,
                       int input_quantizer, int weight_quantizer, bool input_from_trunc = false);

// Notes that compute node `id` keeps a float bias because its input has one scale per channel.
void note_bias_float_behind_per_channel_input(QuantPlan& plan, const Graph& g, NodeId id);

// The axis a per-channel activation quantizer on `v` varies along (the spec's axis, checked
// against the value: a known rank and a fixed extent there); -1 for per-tensor specs.
Result<int> activation_channel_axis(const Graph& g, ValueId v, const QuantSpec& spec, const std::string& who);

Result<QuantPlan> plan_layerwise(const Graph& g, const ResolvedConfig& cfg);
// finn = full plus the FINN constraints.
Result<QuantPlan> plan_full(const Graph& g, const ResolvedConfig& cfg, bool finn);

}  // namespace qe::policy_detail

// Full-graph placement (Brevitas "fx") and its FINN variant.
//
// An activation is quantized once, at its origin: the first value upstream that was computed
// rather than only moved by transparent ops (Reshape, MaxPool, Concat, ...). An origin gets a
// quantizer when some consumer needs integer data (a compute op's activation input, Add / Sub,
// Concat, an average pool), when it is an activation function's output, or when it is an
// average pool's output that cannot become a Trunc. Average pools of quantized data with a
// square window become AveragePool → Trunc, whose output is already on a grid.
#include <algorithm>
#include <functional>
#include <numeric>

#include "engine/integer_regions.h"
#include "quant/policy_internal.h"

namespace qe::policy_detail {

namespace {

std::vector<int64_t> ints_attr(const Node& n, const char* name) {
  auto r = n.attrs.get_ints(name);
  return r.is_ok() ? *r : std::vector<int64_t>{};
}

int64_t int_attr(const Node& n, const char* name, int64_t def) {
  auto r = n.attrs.get_int(name, def);
  return r.is_ok() ? *r : def;
}

// Elements summed per output of an average pool that can be computed as an integer sum and a
// truncation; 0 when it cannot (non-square or dilated window, partial windows, padding that
// changes the divisor, unknown global extent).
int64_t trunc_window(const Graph& g, const Node& n) {
  if (n.op == OpKind::kGlobalAveragePool) return lowering::global_window(g.value(n.inputs[0]));
  if (n.op != OpKind::kAveragePool) return 0;
  const std::vector<int64_t> k = ints_attr(n, "kernel_shape");
  if (k.empty() || std::any_of(k.begin(), k.end(), [&](int64_t d) { return d != k[0] || d <= 0; })) return 0;
  const std::vector<int64_t> dil = ints_attr(n, "dilations");
  if (std::any_of(dil.begin(), dil.end(), [](int64_t d) { return d != 1; })) return 0;
  if (int_attr(n, "ceil_mode", 0) != 0) return 0;
  const std::vector<int64_t> pads = ints_attr(n, "pads");
  auto auto_pad = n.attrs.get_string("auto_pad", "NOTSET");
  const bool padded = std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }) ||
                      (auto_pad.is_ok() && *auto_pad != "NOTSET" && *auto_pad != "VALID");
  // Padding divides border windows by fewer elements unless the padded zeros count.
  if (padded && int_attr(n, "count_include_pad", 0) == 0) return 0;
  return std::accumulate(k.begin(), k.end(), int64_t{1}, std::multiplies<int64_t>());
}

// Outputs through which a transparent node passes data (Split: all; others: the first).
std::vector<ValueId> data_outputs(const Node& n) {
  std::vector<ValueId> out;
  const size_t count = n.op == OpKind::kSplit ? n.outputs.size() : std::min<size_t>(1, n.outputs.size());
  for (size_t i = 0; i < count; ++i) {
    if (n.outputs[i] != kNoValue) out.push_back(n.outputs[i]);
  }
  return out;
}

bool after_relu(const Graph& g, ValueId v) {
  const NodeId p = g.value(v).producer;
  if (p == kNoNode) return false;
  const Node& n = g.node(p);
  return n.op == OpKind::kRelu || (is_compute_op(n.op) && fused_activation(n) == "Relu");
}

class FullPlanner {
 public:
  FullPlanner(const Graph& g, const ResolvedConfig& cfg, bool finn) : g_(g), cfg_(cfg), finn_(finn) {}

  Result<QuantPlan> run() {
    plan_.policy = finn_ ? "finn" : "full";
    plan_.keep_batch_norm = finn_;
    QE_ASSIGN_OR_RETURN(non_negative_, non_negative_values(g_));
    QE_ASSIGN_OR_RETURN(order_, g_.topological_order());
    const size_t nv = g_.num_values();
    origins_.assign(nv, {});
    required_.assign(nv, false);
    always_.assign(nv, false);
    first_requirer_.assign(nv, kNoNode);
    quantizer_of_.assign(nv, -1);
    window_.assign(g_.num_nodes(), 0);
    find_origins();
    mark_required();
    place();
    QE_RETURN_IF_ERROR(error_);
    QE_RETURN_IF_ERROR(share_groups());
    if (finn_) QE_RETURN_IF_ERROR(apply_finn());
    return std::move(plan_);
  }

 private:
  const NodeQuantConfig& cfg(NodeId id) const { return cfg_.nodes[static_cast<size_t>(id)]; }
  bool skipped(NodeId id) const { return cfg(id).skip; }

  void find_origins() {
    for (size_t v = 0; v < g_.num_values(); ++v) origins_[v] = {static_cast<ValueId>(v)};
    for (NodeId id : order_) {
      const Node& n = g_.node(id);
      const std::vector<int> through = transparent_inputs(g_, id);
      if (through.empty()) continue;
      std::vector<ValueId> o;
      for (int i : through) {
        for (ValueId x : origins_[static_cast<size_t>(n.inputs[static_cast<size_t>(i)])]) {
          if (std::find(o.begin(), o.end(), x) == o.end()) o.push_back(x);
        }
      }
      for (ValueId out : data_outputs(n)) origins_[static_cast<size_t>(out)] = o;
    }
  }

  void require(ValueId v, NodeId consumer) {
    for (ValueId o : origins_[static_cast<size_t>(v)]) {
      if (!is_quantizable_activation(g_, o)) continue;
      required_[static_cast<size_t>(o)] = true;
      if (first_requirer_[static_cast<size_t>(o)] == kNoNode) first_requirer_[static_cast<size_t>(o)] = consumer;
    }
  }

  void mark_required() {
    for (NodeId id : order_) {
      const Node& n = g_.node(id);
      if (skipped(id)) continue;
      if (is_compute_op(n.op)) {
        for (int i : compute_inputs(g_, id).activations) require(n.inputs[static_cast<size_t>(i)], id);
        if (!fused_activation(n).empty()) mark_always(n.outputs[0]);
      } else if (n.op == OpKind::kAdd || n.op == OpKind::kSub || n.op == OpKind::kConcat) {
        // An Add of two activations (a residual) adds integers on one grid. An Add of an
        // activation and a constant (a bias, LayerNorm's epsilon) needs nothing: quantizing a
        // variance before "+ eps" would flush small variances to zero.
        int activations = 0;
        for (ValueId v : n.inputs) activations += v != kNoValue && !g_.value(v).is_constant();
        if (n.op != OpKind::kConcat && activations < 2) continue;
        for (ValueId v : n.inputs) {
          if (v != kNoValue) require(v, id);
        }
      } else if (n.op == OpKind::kAveragePool || n.op == OpKind::kGlobalAveragePool) {
        require(n.inputs[0], id);
        window_[static_cast<size_t>(id)] = trunc_window(g_, n);
      } else if (is_activation_op(n.op)) {
        mark_always(n.outputs[0]);
      }
    }
  }

  void mark_always(ValueId v) {
    if (v != kNoValue && is_quantizable_activation(g_, v) && has_data_consumer(g_, v))
      always_[static_cast<size_t>(v)] = true;
  }

  // The non-skipped compute node downstream of `v` (through transparent ops and average pools)
  // whose input settings a rule set explicitly; with several, the one asking for the most bits.
  NodeId override_consumer(ValueId v) const {
    NodeId best = kNoNode;
    std::vector<bool> seen(g_.num_values(), false);
    std::vector<ValueId> stack = {v};
    while (!stack.empty()) {
      const ValueId x = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(x)]) continue;
      seen[static_cast<size_t>(x)] = true;
      for (const Use& u : g_.value(x).uses) {
        if (skipped(u.node)) continue;
        const Node& n = g_.node(u.node);
        if (is_compute_op(n.op)) {
          const ComputeInputs ci = compute_inputs(g_, u.node);
          const bool data =
              std::find(ci.activations.begin(), ci.activations.end(), u.input_index) != ci.activations.end();
          if (data && cfg(u.node).input_set != 0 &&
              (best == kNoNode || cfg(u.node).input.bits > cfg(best).input.bits)) {
            best = u.node;
          }
          continue;
        }
        const std::vector<int> through = transparent_inputs(g_, u.node);
        if (std::find(through.begin(), through.end(), u.input_index) != through.end()) {
          for (ValueId out : data_outputs(n)) stack.push_back(out);
        } else if (window_[static_cast<size_t>(u.node)] > 0) {
          stack.push_back(n.outputs[0]);
        }
      }
    }
    return best;
  }

  // Activation quantizer for origin `v`, if it needs one.
  void place_activation(ValueId v) {
    const size_t vi = static_cast<size_t>(v);
    if (!(required_[vi] || always_[vi]) || !is_quantizable_activation(g_, v)) return;
    PlannedQuantizer q;
    q.value = v;
    const NodeId producer = g_.value(v).producer;
    if (producer != kNoNode && !skipped(producer)) {
      q.role = QuantRole::kOutput;
      q.owner = producer;
      q.spec = cfg(producer).output;
    } else {
      // Graph inputs and outputs of skipped nodes: the first consumer that needs integer data owns it.
      if (first_requirer_[vi] == kNoNode) return;
      q.role = QuantRole::kInput;
      q.owner = first_requirer_[vi];
      q.spec = cfg(q.owner).input;
    }
    const NodeId over = override_consumer(v);
    if (over != kNoNode) merge_spec_fields(q.spec, cfg(over).input, cfg(over).input_set);
    if (!q.spec.enabled) return;
    resolve_sign(q.spec, non_negative_[vi]);
    auto axis = activation_channel_axis(g_, v, q.spec,
                                        describe_node(g_, q.owner) + " " + std::string(quant_role_name(q.role)));
    if (!axis.is_ok()) {
      if (error_.is_ok()) error_ = axis.status();
      return;
    }
    q.channel_axis = *axis;
    quantizer_of_[vi] = add_quantizer(plan_, std::move(q));
  }

  bool trunc_input_per_channel(ValueId pooled) const {
    for (const PlannedTrunc& t : plan_.truncs) {
      if (g_.node(t.pool).outputs[0] == pooled) return plan_.quantizers[static_cast<size_t>(t.input_quantizer)].channel_axis >= 0;
    }
    return false;
  }

  // A pool over quantized data becomes AveragePool → Trunc (its output then needs no
  // quantizer); otherwise its output gets an ordinary quantizer.
  void place_pool(NodeId id) {
    const Node& n = g_.node(id);
    std::vector<int> inputs;
    for (ValueId o : origins_[static_cast<size_t>(n.inputs[0])])
      inputs.push_back(quantizer_of_[static_cast<size_t>(o)]);
    const bool quantized = !inputs.empty() && std::all_of(inputs.begin(), inputs.end(), [](int q) { return q >= 0; });
    const int64_t window = window_[static_cast<size_t>(id)];
    // Nothing downstream needs integers (e.g. SqueezeNet's pooled logits are the graph output):
    // the average stays float rather than being truncated to the input's bit width.
    if (!required_[static_cast<size_t>(n.outputs[0])]) return;
    if (quantized && window > 0) {
      plan_.truncs.push_back(
          PlannedTrunc{id, inputs[0], window, finn_ ? RoundingMode::kFloor : RoundingMode::kHalfEven});
      truncated_.push_back(n.outputs[0]);
      return;
    }
    mark_always(n.outputs[0]);
  }

  void place() {
    for (ValueId v : g_.inputs()) place_activation(v);
    for (NodeId id : order_) {
      const Node& n = g_.node(id);
      if (!skipped(id) && is_compute_op(n.op)) {
        const ComputeInputs ci = compute_inputs(g_, id);
        const int weight = add_weight_quantizer(plan_, g_, cfg_, id, ci);
        int input = -1;
        bool from_trunc = false;
        if (!ci.activations.empty() && ci.activations[0] == 0) {
          const auto& o = origins_[static_cast<size_t>(n.inputs[0])];
          if (!o.empty()) {
            input = quantizer_of_[static_cast<size_t>(o[0])];
            from_trunc = input < 0 && o.size() == 1 &&
                         std::find(truncated_.begin(), truncated_.end(), o[0]) != truncated_.end();
          }
        }
        if (from_trunc && trunc_input_per_channel(origins_[static_cast<size_t>(n.inputs[0])][0])) {
          // The Trunc keeps its input's per-channel scales: no single bias scale either.
          if (weight >= 0 && ci.bias >= 0 && cfg(id).bias.bits != 0) note_bias_float_behind_per_channel_input(plan_, g_, id);
          from_trunc = false;
        }
        add_bias_quantizer(plan_, g_, cfg_, id, ci, input, weight, from_trunc);
      }
      if (!skipped(id) && (n.op == OpKind::kAveragePool || n.op == OpKind::kGlobalAveragePool)) place_pool(id);
      if (!transparent_inputs(g_, id).empty()) {
        // Outputs of transparent ops carry their origin's quantizer; only non-data outputs remain.
        const std::vector<ValueId> data = data_outputs(n);
        for (ValueId out : n.outputs) {
          if (out != kNoValue && std::find(data.begin(), data.end(), out) == data.end()) place_activation(out);
        }
        continue;
      }
      for (ValueId out : n.outputs) {
        if (out == kNoValue) continue;
        if (std::find(truncated_.begin(), truncated_.end(), out) != truncated_.end()) continue;
        place_activation(out);
      }
    }
  }

  // Add / Sub / Concat: nodes whose quantized inputs share a grid (unless skipped).
  bool shares_input_grids(NodeId id) const {
    const OpKind op = g_.node(id).op;
    return !skipped(id) && (op == OpKind::kAdd || op == OpKind::kSub || op == OpKind::kConcat);
  }

  // The quantizers of the activation inputs of Add / Sub / Concat node `n`.
  std::vector<int> input_quantizers(const Node& n) const {
    std::vector<int> members;
    for (ValueId v : n.inputs) {
      if (v == kNoValue) continue;
      for (ValueId o : origins_[static_cast<size_t>(v)]) {
        const int q = quantizer_of_[static_cast<size_t>(o)];
        if (q >= 0 && std::find(members.begin(), members.end(), q) == members.end()) members.push_back(q);
      }
    }
    return members;
  }

  // Which grids can be shared: per-tensor ones with each other, per-channel ones along the same
  // axis with the same number of channels.
  std::pair<int, int64_t> grid_layout(int q) const {
    const PlannedQuantizer& pq = plan_.quantizers[static_cast<size_t>(q)];
    if (pq.channel_axis < 0) return {-1, 1};
    return {pq.channel_axis, g_.value(pq.value).shape[static_cast<size_t>(pq.channel_axis)]};
  }

  // A per-tensor input of an Add / Sub / Concat whose other input is per-channel along axis a
  // follows it when its shape has the same extent there (LayerNorm's mean beside the residual
  // stream it is subtracted from), so that the two still share one grid.
  void spread_per_channel_grids() {
    for (bool changed = true; changed;) {
      changed = false;
      for (NodeId id : order_) {
        const Node& n = g_.node(id);
        if (!shares_input_grids(id)) continue;
        const std::vector<int> members = input_quantizers(n);
        auto lead = std::find_if(members.begin(), members.end(), [&](int q) { return grid_layout(q).first >= 0; });
        if (lead == members.end()) continue;
        const auto [axis, extent] = grid_layout(*lead);
        for (int m : members) {
          PlannedQuantizer& q = plan_.quantizers[static_cast<size_t>(m)];
          const Value& v = g_.value(q.value);
          if (q.channel_axis >= 0 || !v.shape_known || v.shape.rank() <= static_cast<size_t>(axis) ||
              v.shape[static_cast<size_t>(axis)] != extent) {
            continue;
          }
          q.spec.granularity = Granularity::kPerChannel;
          q.spec.axis = axis;
          q.channel_axis = axis;
          plan_.notes.push_back("'" + v.name + "': per_channel along axis " + std::to_string(axis) +
                                ", like the other input of " + describe_node(g_, id) + " whose grid it shares");
          changed = true;
        }
      }
    }
  }

  // Biases were placed before spread_per_channel_grids made some of their inputs per-channel;
  // those have no single input scale any more and stay float.
  void float_biases_behind_per_channel_inputs() {
    for (PlannedQuantizer& q : plan_.quantizers) {
      if (q.role != QuantRole::kBias || !q.spec.enabled) continue;
      bool per_channel = false;
      if (q.bias_input >= 0) {
        per_channel = plan_.quantizers[static_cast<size_t>(q.bias_input)].channel_axis >= 0;
      } else {
        const auto& o = origins_[static_cast<size_t>(g_.node(q.owner).inputs[0])];
        per_channel = !o.empty() && trunc_input_per_channel(o[0]);
      }
      if (!per_channel) continue;
      q.spec.enabled = false;
      note_bias_float_behind_per_channel_input(plan_, g_, q.owner);
    }
  }

  // Add / Sub inputs share a scale; Concat inputs share scale, zero point, sign and bits.
  // Groups that meet (a value feeding two Adds) merge. Inputs whose grids cannot be one (per
  // tensor beside per channel) are not merged: an Add then rescales each input; a Concat is an
  // error, as its inputs must be one grid.
  Status share_groups() {
    spread_per_channel_grids();
    float_biases_behind_per_channel_inputs();
    const size_t nq = plan_.quantizers.size();
    std::vector<int> parent(nq);
    std::iota(parent.begin(), parent.end(), 0);
    std::vector<bool> all(nq, false);
    std::function<int(int)> find = [&](int x) {
      return parent[static_cast<size_t>(x)] == x
                 ? x
                 : parent[static_cast<size_t>(x)] = find(parent[static_cast<size_t>(x)]);
    };
    for (NodeId id : order_) {
      const Node& n = g_.node(id);
      if (!shares_input_grids(id)) continue;
      const std::vector<int> members = input_quantizers(n);
      if (members.size() < 2) continue;
      std::vector<std::pair<std::pair<int, int64_t>, int>> classes;  // layout → first member
      for (int m : members) {
        const auto layout = grid_layout(m);
        auto c = std::find_if(classes.begin(), classes.end(), [&](const auto& e) { return e.first == layout; });
        if (c == classes.end()) {
          classes.push_back({layout, m});
          continue;
        }
        parent[static_cast<size_t>(find(m))] = find(c->second);
      }
      if (classes.size() > 1) {
        const PlannedQuantizer& a = plan_.quantizers[static_cast<size_t>(classes[0].second)];
        const PlannedQuantizer& b = plan_.quantizers[static_cast<size_t>(classes[1].second)];
        auto layout_text = [](const std::pair<int, int64_t>& l) {
          return l.first < 0 ? std::string("per_tensor")
                             : "per_channel along axis " + std::to_string(l.first) + " (" + std::to_string(l.second) +
                                   " channels)";
        };
        const std::string what = describe_node(g_, id) + ": input grids " + layout_text(classes[0].first) + " (" +
                                 g_.value(a.value).name + ") and " + layout_text(classes[1].first) + " (" +
                                 g_.value(b.value).name + ")";
        if (n.op == OpKind::kConcat) {
          return unsupported(what, " cannot be one grid, which a Concat needs; quantize its inputs alike");
        }
        plan_.notes.push_back(what + " are not shared; the inputs are rescaled before adding");
      }
      if (n.op == OpKind::kConcat) all[static_cast<size_t>(find(members[0]))] = true;
    }
    std::vector<int> size(nq, 0), group_of_root(nq, -1);
    bool any_all = false;
    for (size_t q = 0; q < nq; ++q) ++size[static_cast<size_t>(find(static_cast<int>(q)))];
    for (size_t q = 0; q < nq; ++q) {
      const size_t root = static_cast<size_t>(find(static_cast<int>(q)));
      if (size[root] < 2) continue;
      if (group_of_root[root] < 0) group_of_root[root] = next_group_++;
      plan_.quantizers[q].share_group = group_of_root[root];
      plan_.quantizers[q].share_all = all[root];
      any_all = any_all || all[root];
    }
    if (!any_all) return Status::ok();
    // Members of a share_all group must agree on the grid: signed if any is, the most bits.
    for (int group = 0; group < next_group_; ++group) {
      bool is_signed = false;
      int bits = 0;
      for (const PlannedQuantizer& q : plan_.quantizers) {
        if (q.share_group != group || !q.share_all) continue;
        is_signed = is_signed || q.spec.sign == Signedness::kSigned;
        bits = std::max(bits, q.spec.bits);
      }
      for (PlannedQuantizer& q : plan_.quantizers) {
        if (q.share_group != group || !q.share_all) continue;
        q.spec.sign = is_signed ? Signedness::kSigned : Signedness::kUnsigned;
        q.spec.bits = bits;
      }
    }
    return Status::ok();
  }

  Status apply_finn() {
    int made_symmetric = 0, made_unsigned = 0;
    for (PlannedQuantizer& q : plan_.quantizers) {
      const std::string who = describe_node(g_, q.owner) + " " + std::string(quant_role_name(q.role));
      if (q.spec.kind == QuantKind::kFloat) {
        return unsupported("finn policy: ", who,
                           " quantizer is minifloat; FINN supports integer and bipolar quantizers only");
      }
      if (q.role == QuantRole::kWeight && q.spec.granularity == Granularity::kPerGroup) {
        return unsupported("finn policy: ", who,
                           " quantizer is per_group; FINN needs per-tensor or per-channel weight scales");
      }
      if ((q.role == QuantRole::kInput || q.role == QuantRole::kOutput) && q.channel_axis >= 0) {
        return unsupported("finn policy: ", who,
                           " quantizer is per_channel; FINN's thresholds need per-tensor activation scales");
      }
      if ((q.role == QuantRole::kInput || q.role == QuantRole::kOutput) && q.spec.bits > 8) {
        return unsupported("finn policy: ", who, " quantizer has ", q.spec.bits,
                           " bits; FINN activations take at most 8");
      }
      if (!q.spec.symmetric) {
        q.spec.symmetric = true;
        ++made_symmetric;
      }
      if ((q.role == QuantRole::kInput || q.role == QuantRole::kOutput) && after_relu(g_, q.value) &&
          (q.spec.sign != Signedness::kUnsigned || q.spec.narrow)) {
        q.spec.sign = Signedness::kUnsigned;
        q.spec.narrow = false;
        ++made_unsigned;
      }
    }
    plan_.notes.push_back("finn: BatchNormalization is kept (FINN streamlines it into thresholds)");
    plan_.notes.push_back("finn: zero point 0 on every quantizer (" + std::to_string(made_symmetric) +
                          " asymmetric settings made symmetric)");
    plan_.notes.push_back("finn: quantizers after Relu are unsigned and not narrow (" + std::to_string(made_unsigned) +
                          " changed)");
    return Status::ok();
  }

  const Graph& g_;
  const ResolvedConfig& cfg_;
  const bool finn_;
  QuantPlan plan_;
  std::vector<bool> non_negative_;
  std::vector<NodeId> order_;
  std::vector<std::vector<ValueId>> origins_;
  std::vector<bool> required_, always_;
  std::vector<NodeId> first_requirer_;
  std::vector<int> quantizer_of_;   // origin value → its activation quantizer
  std::vector<int64_t> window_;     // per node: Trunc window of an eligible average pool, else 0
  std::vector<ValueId> truncated_;  // pool outputs produced by a Trunc
  int next_group_ = 0;
  Status error_;  // the first placement error
};

}  // namespace

Result<QuantPlan> plan_full(const Graph& g, const ResolvedConfig& cfg, bool finn) {
  return FullPlanner(g, cfg, finn).run();
}

}  // namespace qe::policy_detail

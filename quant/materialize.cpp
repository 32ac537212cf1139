// FakeQuant / Trunc insertion. Every insertion is "node after value v, then route v's readers
// through the new node"; only the set of readers differs (all, or the plan's consumers).
#include "quant/materialize.h"

#include <unordered_set>

#include "graph/quant_params.h"
#include "graph/schema.h"
#include "graph/verifier.h"
#include "quant/calibrator_params.h"

namespace qe {

namespace {

std::string role_suffix(const Graph& g, const PlannedQuantizer& q) {
  if (q.role != QuantRole::kInput || q.owner == kNoNode) return std::string(quant_role_name(q.role)) + "_quant";
  const Node& n = g.node(q.owner);
  int index = 0;
  if (!q.consumers.empty() && q.consumers.front().node == q.owner) {
    index = q.consumers.front().input_index;
  } else {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i] == q.value) {
        index = static_cast<int>(i);
        break;
      }
    }
  }
  return index == 0 ? "input_quant" : "input" + std::to_string(index) + "_quant";
}

std::string owner_base(const Graph& g, NodeId owner, ValueId value) {
  if (owner != kNoNode && !g.node(owner).name.empty()) return g.node(owner).name;
  if (owner != kNoNode) return std::string(op_name(g.node(owner).op)) + "_" + std::to_string(owner);
  return g.value(value).name;
}

// The graph output `v` is now read through the inserted node's output `out`: give `v`'s name
// back to the quantized value so that the graph interface does not change.
void keep_output_name(Graph& g, ValueId v, NodeId inserted, ValueId out) {
  const Value& val = g.value(v);
  if (val.producer == kNoNode) {  // a graph input or constant that is also an output
    std::vector<ValueId> outs = g.outputs();
    for (ValueId& o : outs) {
      if (o == v) o = out;
    }
    g.set_outputs(std::move(outs));
    return;
  }
  const NodeId producer = val.producer;
  const int slot = val.producer_output;
  ValueId f = g.add_value(g.unique_value_name(val.name + "_float"), val.dtype, val.shape, val.shape_known);
  g.value(f).dim_params = g.value(v).dim_params;
  g.set_node_output(producer, slot, f);
  g.replace_all_uses(v, f);  // the inserted node and any reader not routed through it
  std::vector<ValueId> outs = g.outputs();
  for (ValueId& o : outs) {
    if (o == f) o = v;  // replace_all_uses moved the graph output along; it stays on `v`
  }
  g.set_outputs(std::move(outs));
  g.set_node_output(inserted, 0, v);
  g.replace_all_uses(out, v);
}

// Routes the readers of `v` (all of them and the graph outputs when `consumers` is empty) to
// `out`, the output of the freshly inserted node `inserted`.
Status route_through(Graph& g, ValueId v, NodeId inserted, ValueId out, const std::vector<Use>& consumers,
                     const std::string& what) {
  if (!consumers.empty()) {
    for (const Use& u : consumers) {
      if (g.node(u.node).inputs[static_cast<size_t>(u.input_index)] != v) {
        return invalid_argument(what, ": input ", u.input_index, " of ", describe_node(g, u.node),
                                " was already rewired by another quantizer");
      }
      g.set_node_input(u.node, u.input_index, out);
    }
    return Status::ok();
  }
  const std::vector<Use> uses = g.value(v).uses;
  for (const Use& u : uses) {
    if (u.node != inserted) g.set_node_input(u.node, u.input_index, out);
  }
  if (g.is_graph_output(v)) keep_output_name(g, v, inserted, out);
  return Status::ok();
}

Status insert_fake_quant(Graph& g, ValueId v, const QuantParams& p, const std::string& name,
                         const std::vector<Use>& consumers) {
  auto out = add_fake_quant(g, v, p, name);
  if (!out.is_ok()) return out.status();
  const NodeId node = g.value(*out).producer;
  return route_through(g, v, node, *out, consumers, "quantizer '" + name + "'");
}

Status insert_trunc(Graph& g, ValueId v, const TruncResult& t, const std::string& name) {
  auto constant = [&](const char* what, Tensor value) {
    return g.add_constant(g.unique_value_name(name + "_" + what), std::move(value));
  };
  const Value& val = g.value(v);
  std::vector<ValueId> inputs = {v,
                                 constant("scale", t.scale),
                                 constant("zero_point", t.zero_point),
                                 constant("in_bitwidth", scalar_tensor(static_cast<float>(t.in_bits))),
                                 constant("out_scale", t.out_scale),
                                 constant("out_bitwidth", scalar_tensor(static_cast<float>(t.out_bits)))};
  ValueId out = g.add_value(g.unique_value_name(name + "_out"), val.dtype, val.shape, val.shape_known);
  g.value(out).dim_params = g.value(v).dim_params;
  Attributes a;
  a.set("rounding_mode", std::string(rounding_mode_name(t.rounding)));
  a.set("signed", int64_t{t.is_signed ? 1 : 0});
  a.set("narrow", int64_t{t.narrow ? 1 : 0});
  a.set("version", int64_t{2});
  NodeId node = g.add_node(OpKind::kTrunc, name, std::move(inputs), {out}, std::move(a));
  return route_through(g, v, node, out, {}, "trunc '" + name + "'");
}

}  // namespace

QuantNodeNames quant_node_names(const Graph& g, const QuantPlan& plan) {
  std::unordered_set<std::string> taken;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    if (g.node(static_cast<NodeId>(i)).alive) taken.insert(g.node(static_cast<NodeId>(i)).name);
  }
  auto claim = [&](const std::string& base) {
    std::string name = base;
    for (int k = 2; !taken.insert(name).second; ++k) name = base + "_" + std::to_string(k);
    return name;
  };
  QuantNodeNames names;
  for (const PlannedQuantizer& q : plan.quantizers) {
    const bool valid = q.value >= 0 && static_cast<size_t>(q.value) < g.num_values() &&
                       (q.owner == kNoNode || (q.owner >= 0 && static_cast<size_t>(q.owner) < g.num_nodes()));
    names.quantizers.push_back(q.spec.enabled && valid ? claim(owner_base(g, q.owner, q.value) + "/" + role_suffix(g, q))
                                                       : std::string());
  }
  for (const PlannedTrunc& t : plan.truncs) {
    const bool valid = t.pool >= 0 && static_cast<size_t>(t.pool) < g.num_nodes() && t.input_quantizer >= 0 &&
                       static_cast<size_t>(t.input_quantizer) < plan.quantizers.size();
    if (!valid) {
      names.truncs.emplace_back();
      continue;
    }
    const std::string base = owner_base(g, t.pool, g.node(t.pool).outputs[0]);
    names.truncs.push_back(claim(base + (trunc_needs_fallback(plan, t) ? "/output_quant" : "/trunc")));
  }
  return names;
}

Result<Graph> materialize_plan(const Graph& float_graph, const QuantPlan& plan, const CalibrationResult& calib) {
  QE_RETURN_IF_ERROR(validate_plan(float_graph, plan));
  if (calib.quantizers.size() != plan.quantizers.size() || calib.truncs.size() != plan.truncs.size()) {
    return invalid_argument("materialize: the calibration result has ", calib.quantizers.size(), " quantizers and ",
                            calib.truncs.size(), " truncs, the plan ", plan.quantizers.size(), " and ",
                            plan.truncs.size(), "; calibrate with this plan");
  }
  Graph g = float_graph;
  const QuantNodeNames names = quant_node_names(float_graph, plan);
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!q.spec.enabled) continue;
    const QuantParams& p = calib.quantizers[static_cast<size_t>(q.id)].params;
    if (!p.scale.defined()) return invalid_argument("materialize: ", describe_quantizer(float_graph, q), " has no parameters");
    QE_RETURN_IF_ERROR(insert_fake_quant(g, q.value, p, names.quantizers[static_cast<size_t>(q.id)], q.consumers));
  }
  for (size_t t = 0; t < plan.truncs.size(); ++t) {
    const TruncResult& tr = calib.truncs[t];
    const ValueId pooled = float_graph.node(plan.truncs[t].pool).outputs[0];
    if (tr.fallback) {
      QE_RETURN_IF_ERROR(insert_fake_quant(g, pooled, tr.fallback_params, names.truncs[t], {}));
    } else {
      QE_RETURN_IF_ERROR(insert_trunc(g, pooled, tr, names.truncs[t]));
    }
  }
  Status st = infer_shapes(g);
  if (st.is_ok()) st = verify_graph(g);
  if (!st.is_ok()) return st.with_context("materialized graph: ");
  return g;
}

}  // namespace qe

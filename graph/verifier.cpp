#include "graph/verifier.h"

#include <algorithm>

#include "graph/schema.h"

namespace qe {

Status verify_graph(const Graph& g) {
  const auto num_values = static_cast<ValueId>(g.num_values());
  auto value_ok = [&](ValueId v) { return v >= 0 && v < num_values; };
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive) continue;
    std::string where = "node '" + n.name + "' (" + std::string(op_name(n.op)) + "): ";
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      ValueId v = n.inputs[k];
      if (v == kNoValue) continue;
      if (!value_ok(v)) return internal_error(where, "input ", k, " has a bad value id");
      const Value& val = g.value(v);
      const auto& uses = val.uses;
      if (std::find(uses.begin(), uses.end(), Use{n.id, static_cast<int>(k)}) == uses.end()) {
        return internal_error(where, "input '", val.name, "' does not record the use");
      }
      bool produced = val.producer != kNoNode && g.node(val.producer).alive;
      if (!produced && !val.is_constant() && !g.is_graph_input(v)) {
        return invalid_argument(where, "input '", val.name, "' is not produced by any node, not an initializer and not a graph input");
      }
    }
    for (ValueId v : n.outputs) {
      if (v == kNoValue) continue;
      if (!value_ok(v)) return internal_error(where, "an output has a bad value id");
      if (g.value(v).producer != n.id) {
        return invalid_argument(where, "output '", g.value(v).name, "' is also produced by another node");
      }
    }
    const OpSchema* s = schemas().find(n.op);
    if (s) {
      int nin = static_cast<int>(n.inputs.size());
      if (nin < s->min_inputs || nin > s->max_inputs) {
        return invalid_argument(where, "has ", nin, " inputs, expected ", s->min_inputs, "..", s->max_inputs);
      }
    }
  }
  for (ValueId v : g.outputs()) {
    if (!value_ok(v)) return internal_error("graph output has a bad value id");
    const Value& val = g.value(v);
    bool produced = val.producer != kNoNode && g.node(val.producer).alive;
    if (!produced && !val.is_constant() && !g.is_graph_input(v)) {
      return invalid_argument("graph output '", val.name, "' is not produced by any node");
    }
  }
  auto order = g.topological_order();
  if (!order.is_ok()) return order.status();
  return Status::ok();
}

}  // namespace qe

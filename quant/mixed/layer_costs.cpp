#include "quant/mixed/layer_costs.h"

#include <algorithm>
#include <numeric>

#include "engine/model_stats.h"
#include "quant/value_facts.h"

namespace qe {

namespace {

// Origins of `v`: the values upstream of it that were computed rather than only moved. Mirrors
// the full policy's notion (policy_full.cpp), where an origin holds the activation quantizer.
void collect_origins(const Graph& g, ValueId v, std::vector<ValueId>& out) {
  const NodeId p = g.value(v).producer;
  const std::vector<int> through = p == kNoNode ? std::vector<int>{} : transparent_inputs(g, p);
  // Only Split passes data through every output; the others' extra outputs are not data.
  const bool data_output = p != kNoNode && (g.node(p).op == OpKind::kSplit || g.value(v).producer_output == 0);
  if (through.empty() || !data_output) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    return;
  }
  for (int i : through) collect_origins(g, g.node(p).inputs[static_cast<size_t>(i)], out);
}

}  // namespace

Result<std::vector<ComputeLayer>> list_compute_layers(const Graph& g) {
  QE_ASSIGN_OR_RETURN(const std::vector<NodeId> order, g.topological_order());
  std::vector<ComputeLayer> layers;
  for (NodeId id : order) {
    const Node& n = g.node(id);
    if (!is_compute_op(n.op)) continue;
    const ComputeInputs in = compute_inputs(g, id);
    if (in.weight < 0) continue;  // a product of two activations has no weight to quantize
    ComputeLayer layer;
    layer.node = n.name;
    const Value& w = g.value(n.inputs[static_cast<size_t>(in.weight)]);
    layer.weight = w.name;
    layer.params = w.constant.numel();
    layer.macs = node_macs(g, id);
    if (layer.macs <= 0) {
      return invalid_argument(describe_node(g, id),
                              ": MACs unknown; bit allocation needs concrete shapes (prepare the graph with input "
                              "shapes at batch 1)");
    }
    if (!in.activations.empty()) {
      std::vector<ValueId> origins;
      collect_origins(g, n.inputs[static_cast<size_t>(in.activations[0])], origins);
      for (ValueId o : origins) layer.input_origins.push_back(g.value(o).name);
      layer.input_origin = layer.input_origins.front();
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

std::vector<std::vector<size_t>> tie_groups(const std::vector<ComputeLayer>& layers) {
  std::vector<size_t> parent(layers.size());
  std::iota(parent.begin(), parent.end(), size_t{0});
  auto find = [&](size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  std::map<std::string, size_t> first_reader;
  for (size_t i = 0; i < layers.size(); ++i) {
    for (const std::string& o : layers[i].input_origins) {
      auto [it, inserted] = first_reader.emplace(o, i);
      if (inserted) continue;
      // The smaller root wins, so a group's root is its first member.
      const size_t a = find(it->second), b = find(i);
      parent[std::max(a, b)] = std::min(a, b);
    }
  }
  std::map<size_t, std::vector<size_t>> by_root;
  for (size_t i = 0; i < layers.size(); ++i) by_root[find(i)].push_back(i);
  std::vector<std::vector<size_t>> groups;
  for (auto& [root, members] : by_root) groups.push_back(std::move(members));
  return groups;
}

double size_bytes(const ComputeLayer& layer, int bits) { return static_cast<double>(layer.params) * bits / 8.0; }

double bops(const ComputeLayer& layer, int w_bits, int a_bits) {
  return static_cast<double>(layer.macs) * w_bits * a_bits;
}

Result<LayerOptionCosts> layer_option_costs(const ComputeLayer& layer, const std::vector<int>& bits,
                                            const std::vector<double>& sensitivity,
                                            const std::vector<double>& latency) {
  if (sensitivity.size() != bits.size() || (!latency.empty() && latency.size() != bits.size())) {
    return invalid_argument("layer '", layer.node, "': ", bits.size(), " bit choices but ", sensitivity.size(),
                            " sensitivities and ", latency.size(), " latencies");
  }
  LayerOptionCosts c;
  c.bits = bits;
  c.sensitivity = sensitivity;
  c.latency = latency.empty() ? std::vector<double>(bits.size(), 0.0) : latency;
  for (int b : bits) {
    c.size_bytes.push_back(size_bytes(layer, b));
    c.bops.push_back(bops(layer, b, b));
  }
  return c;
}

std::map<size_t, int> default_pinned_bits(size_t num_layers, int bits) {
  std::map<size_t, int> pins;
  if (num_layers == 0) return pins;
  pins[0] = bits;
  pins[num_layers - 1] = bits;
  return pins;
}

}  // namespace qe

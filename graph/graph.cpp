#include "graph/graph.h"

#include <algorithm>
#include <cassert>
#include <queue>
#include <sstream>

namespace qe {

ValueId Graph::add_value(const std::string& name, DType dtype, Shape shape, bool shape_known) {
  Value v;
  v.id = static_cast<ValueId>(values_.size());
  v.name = name.empty() ? unique_value_name("v") : name;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.shape_known = shape_known;
  value_by_name_[v.name] = v.id;
  values_.push_back(std::move(v));
  return values_.back().id;
}

ValueId Graph::add_constant(const std::string& name, Tensor tensor) {
  ValueId id = add_value(name, tensor.dtype(), tensor.shape(), true);
  values_[static_cast<size_t>(id)].constant = std::move(tensor);
  return id;
}

void Graph::set_constant(ValueId id, Tensor tensor) {
  Value& v = value(id);
  v.dtype = tensor.dtype();
  v.shape = tensor.shape();
  v.shape_known = true;
  v.constant = std::move(tensor);
}

std::string Graph::unique_value_name(const std::string& base) {
  if (!value_by_name_.count(base)) return base;
  for (size_t i = values_.size();; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!value_by_name_.count(candidate)) return candidate;
  }
}

ValueId Graph::find_value(const std::string& name) const {
  auto it = value_by_name_.find(name);
  return it == value_by_name_.end() ? kNoValue : it->second;
}

NodeId Graph::add_node(OpKind op, const std::string& name, std::vector<ValueId> inputs,
                       std::vector<ValueId> outputs, Attributes attrs) {
  Node n;
  n.id = static_cast<NodeId>(nodes_.size());
  n.op = op;
  n.name = name;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i] != kNoValue) value(n.inputs[i]).uses.push_back({n.id, static_cast<int>(i)});
  }
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (n.outputs[i] == kNoValue) continue;
    Value& out = value(n.outputs[i]);
    out.producer = n.id;
    out.producer_output = static_cast<int>(i);
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

size_t Graph::num_live_nodes() const {
  return static_cast<size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.alive; }));
}

void Graph::remove_node(NodeId id) {
  Node& n = node(id);
  if (!n.alive) return;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == kNoValue) continue;
    auto& uses = value(n.inputs[i]).uses;
    uses.erase(std::remove(uses.begin(), uses.end(), Use{id, static_cast<int>(i)}), uses.end());
  }
  for (ValueId o : n.outputs) {
    if (o == kNoValue) continue;
    Value& v = value(o);
    if (v.producer == id) {
      v.producer = kNoNode;
      v.producer_output = -1;
    }
  }
  n.alive = false;
}

void Graph::set_node_input(NodeId node_id, int index, ValueId v) {
  Node& n = node(node_id);
  if (static_cast<size_t>(index) >= n.inputs.size()) n.inputs.resize(static_cast<size_t>(index) + 1, kNoValue);
  ValueId old = n.inputs[static_cast<size_t>(index)];
  if (old != kNoValue) {
    auto& uses = value(old).uses;
    uses.erase(std::remove(uses.begin(), uses.end(), Use{node_id, index}), uses.end());
  }
  n.inputs[static_cast<size_t>(index)] = v;
  if (v != kNoValue) value(v).uses.push_back({node_id, index});
}

void Graph::set_node_output(NodeId node_id, int index, ValueId v) {
  Node& n = node(node_id);
  ValueId old = n.outputs[static_cast<size_t>(index)];
  if (old != kNoValue && value(old).producer == node_id) {
    value(old).producer = kNoNode;
    value(old).producer_output = -1;
  }
  n.outputs[static_cast<size_t>(index)] = v;
  if (v != kNoValue) {
    value(v).producer = node_id;
    value(v).producer_output = index;
  }
}

void Graph::replace_all_uses(ValueId from, ValueId to) {
  if (from == to) return;
  std::vector<Use> uses = value(from).uses;
  for (const Use& u : uses) set_node_input(u.node, u.input_index, to);
  for (ValueId& o : outputs_) {
    if (o == from) o = to;
  }
}

bool Graph::is_graph_output(ValueId v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

bool Graph::is_graph_input(ValueId v) const {
  return std::find(inputs_.begin(), inputs_.end(), v) != inputs_.end();
}

Result<std::vector<NodeId>> Graph::topological_order() const {
  std::vector<int> pending(nodes_.size(), 0);
  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<>> ready;
  size_t live = 0;
  for (const Node& n : nodes_) {
    if (!n.alive) continue;
    ++live;
    int count = 0;
    for (ValueId in : n.inputs) {
      if (in == kNoValue) continue;
      NodeId p = value(in).producer;
      if (p != kNoNode && nodes_[static_cast<size_t>(p)].alive) ++count;
    }
    pending[static_cast<size_t>(n.id)] = count;
    if (count == 0) ready.push(n.id);
  }
  std::vector<NodeId> order;
  order.reserve(live);
  while (!ready.empty()) {
    NodeId id = ready.top();
    ready.pop();
    order.push_back(id);
    for (ValueId out : nodes_[static_cast<size_t>(id)].outputs) {
      if (out == kNoValue) continue;
      for (const Use& u : value(out).uses) {
        if (!nodes_[static_cast<size_t>(u.node)].alive) continue;
        if (--pending[static_cast<size_t>(u.node)] == 0) ready.push(u.node);
      }
    }
  }
  if (order.size() != live) {
    for (const Node& n : nodes_) {
      if (n.alive && pending[static_cast<size_t>(n.id)] > 0) {
        return invalid_argument("graph has a cycle through ", describe_node(*this, n.id));
      }
    }
    return invalid_argument("graph has a cycle");
  }
  return order;
}

std::string describe_node(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  return std::string(op_name(n.op)) + " '" + n.name + "'";
}

std::string Graph::to_text() const {
  std::ostringstream os;
  auto fmt_value = [&](ValueId v) {
    if (v == kNoValue) return std::string("<none>");
    const Value& val = value(v);
    return "%" + val.name + ":" + std::string(dtype_name(val.dtype)) + val.shape.to_string() +
           (val.is_constant() ? "(const)" : "");
  };
  os << "graph " << name << " (opset " << opset << ")\n";
  for (ValueId v : inputs_) os << "  input " << fmt_value(v) << "\n";
  auto order = topological_order();
  if (order.is_ok()) {
    for (NodeId id : *order) {
      const Node& n = node(id);
      os << "  ";
      for (size_t i = 0; i < n.outputs.size(); ++i) os << (i ? ", " : "") << fmt_value(n.outputs[i]);
      os << " = " << op_name(n.op) << "[" << n.name << "](";
      for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << fmt_value(n.inputs[i]);
      os << ")\n";
    }
  }
  for (ValueId v : outputs_) os << "  output " << fmt_value(v) << "\n";
  return os.str();
}

}  // namespace qe

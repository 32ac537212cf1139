// The IR: a graph owns its nodes and values, addressed by dense integer ids. Every edit
// goes through Graph's methods, which keep producers and uses consistent.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/attributes.h"
#include "graph/op_kind.h"

namespace qe {

using ValueId = int32_t;
using NodeId = int32_t;
constexpr ValueId kNoValue = -1;  // an omitted optional input
constexpr NodeId kNoNode = -1;

struct Use {
  NodeId node;
  int input_index;
  bool operator==(const Use& o) const { return node == o.node && input_index == o.input_index; }
};

struct Value {
  ValueId id = kNoValue;
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;                          // -1 for unknown dims
  bool shape_known = false;             // rank known (dims may still be -1)
  std::vector<std::string> dim_params;  // symbolic names ("batch"), "" where none; same rank
  NodeId producer = kNoNode;
  int producer_output = -1;
  std::vector<Use> uses;
  Tensor constant;  // defined for initializers and folded constants

  bool is_constant() const { return constant.defined(); }
};

struct Node {
  NodeId id = kNoNode;
  OpKind op = OpKind::kCount;
  std::string name;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attributes attrs;
  bool alive = true;
};

class Graph {
 public:
  std::string name;
  int64_t opset = 13;  // default-domain opset the model declared

  // --- values
  ValueId add_value(const std::string& name, DType dtype = DType::kUndefined, Shape shape = Shape(),
                    bool shape_known = false);
  ValueId add_constant(const std::string& name, Tensor tensor);
  // A value name not used yet, derived from `base`.
  std::string unique_value_name(const std::string& base);
  Value& value(ValueId id) { return values_[static_cast<size_t>(id)]; }
  const Value& value(ValueId id) const { return values_[static_cast<size_t>(id)]; }
  size_t num_values() const { return values_.size(); }
  ValueId find_value(const std::string& name) const;  // kNoValue when absent
  void set_constant(ValueId id, Tensor tensor);        // turns a value into a constant
  // --- nodes
  NodeId add_node(OpKind op, const std::string& name, std::vector<ValueId> inputs,
                  std::vector<ValueId> outputs, Attributes attrs = {});
  Node& node(NodeId id) { return nodes_[static_cast<size_t>(id)]; }
  const Node& node(NodeId id) const { return nodes_[static_cast<size_t>(id)]; }
  size_t num_nodes() const { return nodes_.size(); }  // includes removed nodes; check alive
  size_t num_live_nodes() const;
  // Removes a node: its inputs lose the use, its outputs lose the producer.
  void remove_node(NodeId id);
  void set_node_input(NodeId node, int index, ValueId v);
  // Makes `node` produce `v` at output `index`; the value it produced before is left without
  // a producer. `v` must not be produced by a live node.
  void set_node_output(NodeId node, int index, ValueId v);
  // Points every use of `from` (and graph outputs) at `to`.
  void replace_all_uses(ValueId from, ValueId to);

  // --- graph interface
  const std::vector<ValueId>& inputs() const { return inputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  void add_input(ValueId v) { inputs_.push_back(v); }
  void set_inputs(std::vector<ValueId> v) { inputs_ = std::move(v); }
  void add_output(ValueId v) { outputs_.push_back(v); }
  void set_outputs(std::vector<ValueId> v) { outputs_ = std::move(v); }
  bool is_graph_output(ValueId v) const;
  bool is_graph_input(ValueId v) const;

  // Live nodes in a dependency order (stable: ties keep insertion order). Error on a cycle.
  Result<std::vector<NodeId>> topological_order() const;

  // A human-readable dump, one node per line.
  std::string to_text() const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
  std::unordered_map<std::string, ValueId> value_by_name_;
};

// "Conv 'conv1'" for error messages.
std::string describe_node(const Graph& g, NodeId id);

}  // namespace qe

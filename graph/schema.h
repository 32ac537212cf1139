// Op schemas: input/output arity and shape + dtype inference. One family per file in
// graph/schemas/; each file has a register function listed in schema.cpp.
//
// Inference works on partial shapes (dims of -1 while the batch is symbolic) and on concrete
// shapes (when the engine specialises a plan for real input shapes). A schema that needs an
// input's value (Reshape's shape, Slice's starts) reads it through constant_input(); when it is
// not constant the output gets an unknown shape of the right rank where possible.
#pragma once

#include <vector>

#include "graph/graph.h"

namespace qe {

class InferContext {
 public:
  InferContext(Graph& g, NodeId id) : graph_(g), id_(id) {}

  const Node& node() const { return graph_.node(id_); }
  const Attributes& attrs() const { return node().attrs; }
  int num_inputs() const { return static_cast<int>(node().inputs.size()); }
  int num_outputs() const { return static_cast<int>(node().outputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && node().inputs[static_cast<size_t>(i)] != kNoValue; }
  const Value& input(int i) const { return graph_.value(node().inputs[static_cast<size_t>(i)]); }
  const Shape& input_shape(int i) const { return input(i).shape; }
  DType input_dtype(int i) const { return input(i).dtype; }
  // Rank known (dims may be -1).
  bool input_shape_known(int i) const { return input(i).shape_known; }
  const Tensor* constant_input(int i) const {
    return has_input(i) && input(i).is_constant() ? &input(i).constant : nullptr;
  }
  bool has_output(int i) const { return i < num_outputs() && node().outputs[static_cast<size_t>(i)] != kNoValue; }
  void set_output(int i, DType dtype, Shape shape, bool shape_known = true);
  // Output whose rank is not known yet.
  void set_output_unknown(int i, DType dtype);
  Graph& graph() { return graph_; }

 private:
  Graph& graph_;
  NodeId id_;
};

using InferFn = Status (*)(InferContext&);

struct OpSchema {
  OpKind op = OpKind::kCount;
  int min_inputs = 0;
  int max_inputs = 0;
  int min_outputs = 1;
  int max_outputs = 1;
  InferFn infer = nullptr;
};

class SchemaTable {
 public:
  void add(const OpSchema& s) { table_[static_cast<size_t>(s.op)] = s; }
  const OpSchema* find(OpKind op) const {
    const OpSchema& s = table_[static_cast<size_t>(op)];
    return s.infer ? &s : nullptr;
  }

 private:
  OpSchema table_[static_cast<size_t>(OpKind::kCount)];
};

const SchemaTable& schemas();

// Checks arity and infers one node's outputs; errors are prefixed with the node.
Status infer_node(Graph& g, NodeId id);
// Infers every live node in dependency order.
Status infer_shapes(Graph& g);

// Family registration (one per file in graph/schemas/).
void register_compute_schemas(SchemaTable& t);      // Conv, ConvTranspose, Gemm, MatMul
void register_pooling_schemas(SchemaTable& t);      // pools, BatchNormalization, LayerNormalization
void register_elementwise_schemas(SchemaTable& t);  // unary, binary, activations, Softmax, reductions
void register_data_schemas(SchemaTable& t);         // shape and data movement ops
void register_quant_schemas(SchemaTable& t);        // FakeQuant, Trunc, QuantizeLinear, DequantizeLinear
void register_qlinear_schemas(SchemaTable& t);      // integer runtime: QConv, QGemm, QAdd, QMul, QAvgPool, QLut

// Helpers shared by schema files.
Status expect_float_input(const InferContext& ctx, int i);

}  // namespace qe

#include "graph/schema.h"

namespace qe {

void InferContext::set_output(int i, DType dtype, Shape shape, bool shape_known) {
  if (!has_output(i)) return;
  Value& v = graph_.value(node().outputs[static_cast<size_t>(i)]);
  v.dtype = dtype;
  if (v.dim_params.size() != shape.rank()) v.dim_params.assign(shape.rank(), "");
  v.shape = std::move(shape);
  v.shape_known = shape_known;
}

void InferContext::set_output_unknown(int i, DType dtype) {
  if (!has_output(i)) return;
  Value& v = graph_.value(node().outputs[static_cast<size_t>(i)]);
  v.dtype = dtype;
  v.shape = Shape();
  v.shape_known = false;
}

const SchemaTable& schemas() {
  static const SchemaTable table = [] {
    SchemaTable t;
    register_compute_schemas(t);
    register_pooling_schemas(t);
    register_elementwise_schemas(t);
    register_data_schemas(t);
    register_quant_schemas(t);
    register_qlinear_schemas(t);
    return t;
  }();
  return table;
}

Status infer_node(Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const OpSchema* s = schemas().find(n.op);
  std::string where = "node '" + n.name + "' (" + std::string(op_name(n.op)) + "): ";
  if (!s) return unsupported(where, "no schema registered for this op");
  int nin = static_cast<int>(n.inputs.size());
  int nout = static_cast<int>(n.outputs.size());
  if (nin < s->min_inputs || nin > s->max_inputs) {
    return invalid_argument(where, "has ", nin, " inputs, expected ", s->min_inputs, "..", s->max_inputs);
  }
  if (nout < s->min_outputs || nout > s->max_outputs) {
    return invalid_argument(where, "has ", nout, " outputs, expected ", s->min_outputs, "..", s->max_outputs);
  }
  for (int i = 0; i < s->min_inputs; ++i) {
    if (n.inputs[static_cast<size_t>(i)] == kNoValue) return invalid_argument(where, "required input ", i, " is missing");
  }
  InferContext ctx(g, id);
  Status st = s->infer(ctx);
  if (!st.is_ok()) return st.with_context(where);
  return Status::ok();
}

Status infer_shapes(Graph& g) {
  QE_ASSIGN_OR_RETURN(auto order, g.topological_order());
  for (NodeId id : order) QE_RETURN_IF_ERROR(infer_node(g, id));
  return Status::ok();
}

Status expect_float_input(const InferContext& ctx, int i) {
  DType t = ctx.input_dtype(i);
  if (t != DType::kF32) {
    return unsupported("input ", i, " ('", ctx.input(i).name, "') has dtype ", dtype_name(t), ", only float is supported");
  }
  return Status::ok();
}

}  // namespace qe

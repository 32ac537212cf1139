#include "engine/evaluate.h"

#include "engine/op_kernel.h"
#include "graph/schema.h"

namespace qe {

Result<std::vector<Tensor>> evaluate_node(const Graph& g, NodeId id, ThreadPool& pool) {
  const Node& n = g.node(id);
  QE_ASSIGN_OR_RETURN(BoundKernel bound, bind_kernel(g, id, pool.num_threads()));
  std::vector<TensorView> in(n.inputs.size());
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == kNoValue) continue;
    const Value& v = g.value(n.inputs[i]);
    if (!v.is_constant()) return internal_error("evaluate_node: input '", v.name, "' is not constant");
    in[i] = v.constant.view();
  }
  std::vector<Tensor> outputs;
  std::vector<TensorView> out;
  for (ValueId o : n.outputs) {
    if (o == kNoValue) {
      outputs.emplace_back();
      out.emplace_back();
      continue;
    }
    const Value& v = g.value(o);
    if (!v.shape_known || !v.shape.is_known()) {
      return internal_error("evaluate_node: output '", v.name, "' of ", describe_node(g, id), " has no concrete shape");
    }
    QE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(v.dtype, v.shape));
    out.push_back(t.view());
    outputs.push_back(std::move(t));
  }
  AlignedBuffer workspace(bound.kernel->workspace_bytes());
  RunContext ctx{&pool, workspace.data()};
  QE_RETURN_IF_ERROR(bound.kernel->run(ctx, in, out).with_context(describe_node(g, id) + ": "));
  return outputs;
}

Result<SingleOpResult> run_single_op(OpKind op, const std::vector<Tensor>& inputs, const Attributes& attrs,
                                     int num_outputs, int num_threads, const std::vector<bool>& inputs_constant) {
  Graph g;
  std::vector<ValueId> in_ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      in_ids.push_back(kNoValue);
      continue;
    }
    // Inputs are constants so that kernels which need constant weights can prepack them;
    // the tests that exercise the dynamic path say so through inputs_constant.
    bool as_constant = inputs_constant.empty() || inputs_constant[i];
    std::string name = "in" + std::to_string(i);
    if (as_constant) {
      in_ids.push_back(g.add_constant(name, inputs[i]));
    } else {
      ValueId v = g.add_value(name, inputs[i].dtype(), inputs[i].shape(), true);
      g.add_input(v);
      in_ids.push_back(v);
    }
  }
  std::vector<ValueId> out_ids;
  for (int i = 0; i < num_outputs; ++i) out_ids.push_back(g.add_value("out" + std::to_string(i)));
  NodeId id = g.add_node(op, "node", in_ids, out_ids, attrs);
  for (ValueId o : out_ids) g.add_output(o);
  QE_RETURN_IF_ERROR(infer_node(g, id));

  ThreadPool pool(num_threads);
  QE_ASSIGN_OR_RETURN(BoundKernel bound, bind_kernel(g, id, num_threads));
  std::vector<Tensor> outputs;
  std::vector<TensorView> in(in_ids.size()), out;
  for (size_t i = 0; i < in_ids.size(); ++i) {
    if (in_ids[i] != kNoValue) in[i] = inputs[i].view();
  }
  for (ValueId o : out_ids) {
    const Value& v = g.value(o);
    if (!v.shape.is_known()) return internal_error("run_single_op: output shape not concrete: ", v.shape.to_string());
    QE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(v.dtype, v.shape));
    out.push_back(t.view());
    outputs.push_back(std::move(t));
  }
  AlignedBuffer workspace(bound.kernel->workspace_bytes());
  RunContext ctx{&pool, workspace.data()};
  QE_RETURN_IF_ERROR(bound.kernel->run(ctx, in, out));
  return SingleOpResult{std::move(outputs), bound.name};
}

}  // namespace qe

#include "quant/prepare.h"

#include "engine/core/thread_pool.h"
#include "engine/evaluate.h"
#include "graph/pass.h"
#include "graph/passes/passes.h"
#include "graph/schema.h"
#include "graph/verifier.h"

namespace qe {

namespace {

Status apply_input_shapes(Graph& g, const std::map<std::string, Shape>& shapes) {
  for (const auto& [name, shape] : shapes) {
    ValueId v = g.find_value(name);
    if (v == kNoValue || !g.is_graph_input(v)) return invalid_argument("input shape override: the model has no input named '", name, "'");
    Value& val = g.value(v);
    if (val.shape_known && val.shape.rank() != shape.rank()) {
      return invalid_argument("input shape override: input '", name, "' has rank ", val.shape.rank(), " (shape ",
                              val.shape.to_string(), "), got ", shape.to_string());
    }
    for (int64_t d : shape) {
      if (d <= 0) return invalid_argument("input shape override for '", name, "': ", shape.to_string(), " has a non-positive dimension");
    }
    val.shape = shape;
    val.shape_known = true;
    val.dim_params.assign(shape.rank(), "");
  }
  return Status::ok();
}

}  // namespace

Result<Graph> prepare_float_graph(Graph g, const PrepareOptions& options) {
  QE_RETURN_IF_ERROR(verify_graph(g));
  QE_RETURN_IF_ERROR(apply_input_shapes(g, options.input_shapes));
  QE_RETURN_IF_ERROR(infer_shapes(g));
  ThreadPool pool(options.num_threads > 0 ? options.num_threads : 1);
  PassContext ctx;
  ctx.evaluator = [&pool](const Graph& graph, NodeId id) { return evaluate_node(graph, id, pool); };
  PassManager pm;
  pm.add(make_remove_identity_pass());
  pm.add(make_shape_folding_pass());
  pm.add(make_constant_folding_pass());
  pm.add(make_dead_code_elimination_pass());
  if (!options.keep_batch_norm) pm.add(make_fold_batch_norm_pass());
  QE_RETURN_IF_ERROR(pm.run(g, ctx));
  QE_RETURN_IF_ERROR(infer_shapes(g));
  QE_RETURN_IF_ERROR(verify_graph(g));
  return g;
}

}  // namespace qe

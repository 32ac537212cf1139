// Runs one node on its own, outside any plan: constant folding and op-level tests use it.
#pragma once

#include <vector>

#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "graph/graph.h"

namespace qe {

// The node's inputs must be constants (or graph inputs bound in `inputs_by_value`), its output
// shapes inferred and concrete. Binds the best kernel and returns freshly allocated outputs.
Result<std::vector<Tensor>> evaluate_node(const Graph& g, NodeId id, ThreadPool& pool);

// Builds a one-node graph (inputs as graph inputs with the given tensors' shapes), infers
// shapes, runs it. Used by op tests and the conformance runner's sanity checks.
struct SingleOpResult {
  std::vector<Tensor> outputs;
  std::string kernel;  // name of the bound candidate
};
Result<SingleOpResult> run_single_op(OpKind op, const std::vector<Tensor>& inputs, const Attributes& attrs,
                                     int num_outputs = 1, int num_threads = 1,
                                     const std::vector<bool>& inputs_constant = {});

}  // namespace qe

// Graph passes and the pass manager. One pass per file in graph/passes/, each opening with a
// one-line pattern comment. Passes that must evaluate nodes (constant folding) get an
// evaluator from the engine through PassContext: graph/ never depends on engine/.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string_view>
#include <vector>

#include "graph/graph.h"

namespace qe {

// Computes the outputs of one node whose inputs are all constant.
using NodeEvaluator = std::function<Result<std::vector<Tensor>>(const Graph&, NodeId)>;

struct PassContext {
  NodeEvaluator evaluator;
  bool verify_after_each = false;  // run the verifier after every pass
  std::ostream* dump = nullptr;    // when set, the IR is printed after every pass that changed it
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view name() const = 0;
  // Returns whether the graph changed.
  virtual Result<bool> run(Graph& g, PassContext& ctx) = 0;
};

class PassManager {
 public:
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  // Runs the passes in order; repeats the whole list while something changes (at most `max_rounds`).
  Status run(Graph& g, PassContext& ctx, int max_rounds = 4);

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace qe

// A Session runs one model. Load-time passes run once on the float graph; each distinct set
// of input shapes gets its own ExecutionPlan (shapes specialised, shape sub-graphs folded,
// kernels bound and weights prepacked, one arena), cached for later runs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "graph/graph.h"

namespace qe {

// The memory cap new sessions start with (16 GiB unless changed): a plan whose arena and kernel
// workspace need more is refused with an error instead of allocating. Programs set it once from
// their command line (`qengine --max-memory`); library users can also set it per session.
size_t default_max_arena_bytes();
void set_default_max_arena_bytes(size_t bytes);

// Called after every node with each output it produced (calibration taps this).
using ValueObserver = std::function<void(const Graph& plan_graph, ValueId value, const TensorView& data)>;

struct SessionOptions {
  int num_threads = 0;            // 0: all hardware threads
  bool optimize = true;           // load-time passes (Identity removal, folding, fusion)
  bool fold_batch_norm = true;    // fold BatchNormalization into Conv/Gemm
  bool fuse_activations = true;   // fuse Relu/Clip/... into the producing Conv/Gemm
  // Quantized Conv/Gemm/MatMul of a fake-quant graph accumulate exactly in integers, as the
  // integer runtime does (engine/exact_simulation.h); off: a float sum of dequantized values.
  bool exact_quantized_compute = true;
  size_t max_arena_bytes = default_max_arena_bytes();  // refuse plans that need more
};

struct StepInfo {
  std::string node_name;
  std::string op;
  std::string kernel;
  std::vector<std::pair<std::string, std::string>> declined;  // candidate, reason
};

struct PlanInfo {
  std::vector<StepInfo> steps;
  size_t arena_bytes = 0;
  size_t workspace_bytes = 0;
};

class ExecutionPlan;

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(Graph graph, SessionOptions options = {});
  ~Session();

  const Graph& graph() const { return graph_; }
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  int num_threads() const { return pool_->num_threads(); }

  // Inputs in graph-input order; outputs in graph-output order.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  Result<std::vector<Tensor>> run_named(const std::vector<std::pair<std::string, Tensor>>& inputs);
  // Same, calling `observer` after every node.
  Result<std::vector<Tensor>> run_observed(const std::vector<Tensor>& inputs, const ValueObserver& observer);

  // Kernel choice per node for the given input shapes.
  Result<PlanInfo> explain(const std::vector<Shape>& input_shapes);
  // The graph as it runs for these input shapes (shapes concrete, shape sub-graphs folded).
  Result<Graph> specialized_graph(const std::vector<Shape>& input_shapes);

 private:
  Session(Graph graph, SessionOptions options);
  Result<ExecutionPlan*> plan_for(const std::vector<Shape>& shapes);

  Graph graph_;
  SessionOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex mutex_;
  std::map<std::vector<std::vector<int64_t>>, std::unique_ptr<ExecutionPlan>> plans_;
};

}  // namespace qe

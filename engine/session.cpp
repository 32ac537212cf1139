#include "engine/session.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "engine/evaluate.h"
#include "engine/exact_simulation.h"
#include "engine/memory_plan.h"
#include "engine/op_kernel.h"
#include "graph/passes/passes.h"
#include "graph/schema.h"
#include "graph/verifier.h"

namespace qe {

namespace {

// Where a step finds a tensor while running.
struct Slot {
  enum Kind { kNone, kConstant, kInput, kArena, kOutput } kind = kNone;
  size_t index = 0;  // constant: value id; input: graph-input position; arena: offset; output: position
};

}  // namespace

class ExecutionPlan {
 public:
  struct Step {
    NodeId node;
    BoundKernel bound;
    std::vector<Slot> inputs;
    std::vector<Slot> outputs;
    std::vector<TensorView> in_views;   // shapes/dtypes fixed; data filled at run
    std::vector<TensorView> out_views;
    std::vector<ValueId> output_values;
  };

  Graph graph;
  std::vector<Step> steps;
  std::vector<Slot> graph_outputs;
  size_t arena_bytes = 0;
  size_t workspace_bytes = 0;
  AlignedBuffer arena;
  std::mutex run_mutex;  // the arena is shared by runs of this plan
};

namespace {

PassContext make_pass_context(ThreadPool& pool) {
  PassContext ctx;
#ifndef NDEBUG
  ctx.verify_after_each = true;
#endif
  ctx.evaluator = [&pool](const Graph& g, NodeId id) { return evaluate_node(g, id, pool); };
  return ctx;
}

// Infers shapes, folds Shape nodes and constant sub-graphs until nothing changes.
Status specialise(Graph& g, ThreadPool& pool) {
  PassManager pm;
  pm.add(make_shape_folding_pass());
  pm.add(make_constant_folding_pass());
  pm.add(make_dead_code_elimination_pass());
  PassContext ctx = make_pass_context(pool);
  for (int round = 0; round < 8; ++round) {
    QE_RETURN_IF_ERROR(infer_shapes(g));
    size_t before_nodes = g.num_live_nodes();
    QE_RETURN_IF_ERROR(pm.run(g, ctx, 1));
    if (before_nodes == g.num_live_nodes()) break;
  }
  return infer_shapes(g);
}

}  // namespace

namespace {
std::atomic<size_t> g_default_max_arena_bytes{size_t{16} << 30};

std::string format_bytes(size_t bytes) {
  if (bytes >= (size_t{1} << 20)) return str_cat(bytes >> 20, " MiB");
  if (bytes >= (size_t{1} << 10)) return str_cat(bytes >> 10, " KiB");
  return str_cat(bytes, " bytes");
}
}  // namespace

size_t default_max_arena_bytes() { return g_default_max_arena_bytes.load(std::memory_order_relaxed); }
void set_default_max_arena_bytes(size_t bytes) { g_default_max_arena_bytes.store(bytes, std::memory_order_relaxed); }

Session::Session(Graph graph, SessionOptions options)
    : graph_(std::move(graph)), options_(options),
      pool_(std::make_unique<ThreadPool>(options.num_threads > 0 ? options.num_threads : default_thread_count())) {}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(Graph graph, SessionOptions options) {
  QE_RETURN_IF_ERROR(verify_graph(graph));
  std::unique_ptr<Session> s(new Session(std::move(graph), options));
  Graph& g = s->graph_;
  QE_RETURN_IF_ERROR(infer_shapes(g));
  if (options.exact_quantized_compute) {
    QE_ASSIGN_OR_RETURN(int rewritten, make_quantized_compute_exact(g));
    if (rewritten > 0) QE_RETURN_IF_ERROR(infer_shapes(g));
  }
  if (options.optimize) {
    PassManager pm;
    pm.add(make_remove_identity_pass());
    pm.add(make_shape_folding_pass());
    pm.add(make_constant_folding_pass());
    pm.add(make_dead_code_elimination_pass());
    if (options.fold_batch_norm) pm.add(make_fold_batch_norm_pass());
    if (options.fuse_activations) {
      pm.add(make_fuse_hardswish_pass());
      pm.add(make_fuse_activation_pass());
    }
    PassContext ctx = make_pass_context(*s->pool_);
    QE_RETURN_IF_ERROR(pm.run(g, ctx));
    QE_RETURN_IF_ERROR(infer_shapes(g));
  }
  return s;
}

std::vector<std::string> Session::input_names() const {
  std::vector<std::string> names;
  for (ValueId v : graph_.inputs()) names.push_back(graph_.value(v).name);
  return names;
}

std::vector<std::string> Session::output_names() const {
  std::vector<std::string> names;
  for (ValueId v : graph_.outputs()) names.push_back(graph_.value(v).name);
  return names;
}

Result<ExecutionPlan*> Session::plan_for(const std::vector<Shape>& shapes) {
  std::vector<std::vector<int64_t>> key;
  for (const Shape& s : shapes) key.push_back(s.dims());
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();

  auto plan = std::make_unique<ExecutionPlan>();
  Graph& g = plan->graph;
  g = graph_;
  if (shapes.size() != g.inputs().size()) {
    return invalid_argument("model has ", g.inputs().size(), " inputs, got ", shapes.size());
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    Value& v = g.value(g.inputs()[i]);
    if (v.shape_known) {
      bool ok = v.shape.rank() == shapes[i].rank();
      for (size_t d = 0; ok && d < shapes[i].rank(); ++d) ok = v.shape[d] < 0 || v.shape[d] == shapes[i][d];
      if (!ok) {
        return invalid_argument("input '", v.name, "' expects shape ", v.shape.to_string(), ", got ",
                                shapes[i].to_string());
      }
    }
    QE_RETURN_IF_ERROR(shapes[i].checked_numel().status());
    v.shape = shapes[i];
    v.shape_known = true;
  }
  QE_RETURN_IF_ERROR(specialise(g, *pool_));
  QE_ASSIGN_OR_RETURN(auto order, g.topological_order());

  // Lifetimes of arena values, in step indices.
  std::vector<int> first(g.num_values(), -1), last(g.num_values(), -1);
  for (size_t s = 0; s < order.size(); ++s) {
    const Node& n = g.node(order[s]);
    for (ValueId v : n.inputs) {
      if (v != kNoValue) last[v] = static_cast<int>(s);
    }
    for (ValueId v : n.outputs) {
      if (v != kNoValue) first[v] = static_cast<int>(s);
    }
  }
  std::vector<BufferRequest> requests;
  std::vector<ValueId> request_value;
  std::vector<Slot> slot(g.num_values());
  for (size_t i = 0; i < g.inputs().size(); ++i) slot[g.inputs()[i]] = {Slot::kInput, i};
  for (size_t v = 0; v < g.num_values(); ++v) {
    if (g.value(static_cast<ValueId>(v)).is_constant()) slot[v] = {Slot::kConstant, v};
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    ValueId v = g.outputs()[i];
    if (slot[v].kind == Slot::kNone) slot[v] = {Slot::kOutput, i};
  }
  for (size_t v = 0; v < g.num_values(); ++v) {
    if (first[v] < 0 || slot[v].kind != Slot::kNone) continue;
    const Value& val = g.value(static_cast<ValueId>(v));
    if (!val.shape.is_known()) return internal_error("value '", val.name, "' has no concrete shape after inference");
    QE_ASSIGN_OR_RETURN(int64_t n, val.shape.checked_numel());
    requests.push_back({dtype_storage_bytes(val.dtype, n), first[v], std::max(first[v], last[v])});
    request_value.push_back(static_cast<ValueId>(v));
  }
  MemoryPlan mem = plan_memory(requests);
  for (size_t r = 0; r < requests.size(); ++r) slot[request_value[r]] = {Slot::kArena, mem.offsets[r]};

  for (NodeId id : order) {
    ExecutionPlan::Step step;
    step.node = id;
    QE_ASSIGN_OR_RETURN(step.bound, bind_kernel(g, id, pool_->num_threads()));
    const Node& n = g.node(id);
    for (ValueId v : n.inputs) {
      step.inputs.push_back(v == kNoValue ? Slot{} : slot[v]);
      TensorView view;
      if (v != kNoValue) {
        view.dtype = g.value(v).dtype;
        view.shape = g.value(v).shape;
      }
      step.in_views.push_back(view);
    }
    for (ValueId v : n.outputs) {
      step.outputs.push_back(v == kNoValue ? Slot{} : slot[v]);
      TensorView view;
      if (v != kNoValue) {
        view.dtype = g.value(v).dtype;
        view.shape = g.value(v).shape;
      }
      step.out_views.push_back(view);
      step.output_values.push_back(v);
    }
    plan->workspace_bytes = std::max(plan->workspace_bytes, step.bound.kernel->workspace_bytes());
    plan->steps.push_back(std::move(step));
  }
  for (ValueId v : g.outputs()) plan->graph_outputs.push_back(slot[v]);
  plan->arena_bytes = mem.arena_bytes;
  // The cap covers all a run allocates: the arena, kernel workspace and the output tensors
  // (a model can ask for a 1.5 GB output from a 28x28 input with one huge pad).
  size_t total = mem.arena_bytes + plan->workspace_bytes;
  for (ValueId v : g.outputs()) {
    QE_ASSIGN_OR_RETURN(int64_t n, g.value(v).shape.checked_numel());
    total += dtype_storage_bytes(g.value(v).dtype, n);
  }
  if (total > options_.max_arena_bytes) {
    return out_of_range("the execution plan needs ", format_bytes(total), " of memory, over the limit of ",
                        format_bytes(options_.max_arena_bytes), " (qengine --max-memory raises it)");
  }
  plan->arena = AlignedBuffer(total);
  ExecutionPlan* raw = plan.get();
  plans_.emplace(std::move(key), std::move(plan));
  return raw;
}

Result<std::vector<Tensor>> Session::run(const std::vector<Tensor>& inputs) { return run_observed(inputs, nullptr); }

Result<std::vector<Tensor>> Session::run_named(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<Tensor> inputs(graph_.inputs().size());
  for (const auto& [name, t] : named) {
    bool found = false;
    for (size_t i = 0; i < graph_.inputs().size(); ++i) {
      if (graph_.value(graph_.inputs()[i]).name == name) {
        inputs[i] = t;
        found = true;
      }
    }
    if (!found) return invalid_argument("model has no input named '", name, "'");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) return invalid_argument("input '", graph_.value(graph_.inputs()[i]).name, "' was not given");
  }
  return run(inputs);
}

Result<std::vector<Tensor>> Session::run_observed(const std::vector<Tensor>& inputs, const ValueObserver& observer) {
  if (inputs.size() != graph_.inputs().size()) {
    return invalid_argument("model has ", graph_.inputs().size(), " inputs, got ", inputs.size());
  }
  std::vector<Shape> shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = graph_.value(graph_.inputs()[i]);
    if (inputs[i].dtype() != v.dtype) {
      return invalid_argument("input '", v.name, "' expects dtype ", dtype_name(v.dtype), ", got ",
                              dtype_name(inputs[i].dtype()));
    }
    shapes.push_back(inputs[i].shape());
  }
  ExecutionPlan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    QE_ASSIGN_OR_RETURN(plan, plan_for(shapes));
  }
  std::lock_guard<std::mutex> run_lock(plan->run_mutex);
  const Graph& g = plan->graph;
  std::vector<Tensor> outputs(g.outputs().size());
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const Value& v = g.value(g.outputs()[i]);
    QE_ASSIGN_OR_RETURN(outputs[i], Tensor::create(v.dtype, v.shape));
  }
  auto* arena = static_cast<uint8_t*>(plan->arena.data());
  auto resolve = [&](const Slot& s) -> void* {
    switch (s.kind) {
      case Slot::kConstant: return const_cast<void*>(g.value(static_cast<ValueId>(s.index)).constant.raw());
      case Slot::kInput: return const_cast<void*>(inputs[s.index].raw());
      case Slot::kArena: return arena + s.index;
      case Slot::kOutput: return outputs[s.index].raw();
      case Slot::kNone: return nullptr;
    }
    return nullptr;
  };
  RunContext ctx{pool_.get(), arena + plan->arena_bytes};
  for (auto& step : plan->steps) {
    for (size_t i = 0; i < step.inputs.size(); ++i) step.in_views[i].data = resolve(step.inputs[i]);
    for (size_t i = 0; i < step.outputs.size(); ++i) step.out_views[i].data = resolve(step.outputs[i]);
    Status st = step.bound.kernel->run(ctx, step.in_views, step.out_views);
    if (!st.is_ok()) return st.with_context(describe_node(g, step.node) + ": ");
    if (observer) {
      for (size_t i = 0; i < step.output_values.size(); ++i) {
        if (step.output_values[i] != kNoValue) observer(g, step.output_values[i], step.out_views[i]);
      }
    }
  }
  // Outputs that no step writes: constants and pass-through inputs.
  for (size_t i = 0; i < plan->graph_outputs.size(); ++i) {
    const Slot& s = plan->graph_outputs[i];
    if (s.kind == Slot::kConstant || s.kind == Slot::kInput) {
      std::memcpy(outputs[i].raw(), resolve(s), outputs[i].bytes());
    }
  }
  return outputs;
}

Result<Graph> Session::specialized_graph(const std::vector<Shape>& input_shapes) {
  std::lock_guard<std::mutex> lock(mutex_);
  QE_ASSIGN_OR_RETURN(ExecutionPlan * plan, plan_for(input_shapes));
  return plan->graph;
}

Result<PlanInfo> Session::explain(const std::vector<Shape>& input_shapes) {
  std::lock_guard<std::mutex> lock(mutex_);
  QE_ASSIGN_OR_RETURN(ExecutionPlan * plan, plan_for(input_shapes));
  PlanInfo info;
  for (const auto& step : plan->steps) {
    const Node& n = plan->graph.node(step.node);
    info.steps.push_back({n.name, std::string(op_name(n.op)), step.bound.name, step.bound.declined});
  }
  info.arena_bytes = plan->arena_bytes;
  info.workspace_bytes = plan->workspace_bytes;
  return info;
}

}  // namespace qe

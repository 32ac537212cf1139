#include "quant/layer_sequential.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>


#include "engine/core/thread_pool.h"
#include "engine/session.h"
#include "graph/quant_params.h"
#include "kernels/elementwise/broadcast.h"
#include "quant/layer_stats.h"
#include "quant/session_values.h"
#include "quant/quant_math.h"

namespace qe {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

using Target = RoundingTarget;

}  // namespace

Result<std::vector<float>> broadcast_to(const Tensor& t, const Shape& shape) {
  QE_ASSIGN_OR_RETURN(kernels::BroadcastPlan plan, kernels::plan_broadcast({t.shape()}, shape));
  std::vector<float> out(static_cast<size_t>(shape.numel()));
  const float* src = t.data<float>();
  kernels::broadcast_for_each(plan, nullptr, plan.numel(), [&](const int64_t* in_off, int64_t out_off, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      out[static_cast<size_t>(out_off + i)] = src[plan.inner_repeat[0] ? in_off[0] : in_off[0] + i];
    }
  });
  return out;
}

Result<std::vector<RoundingTarget>> find_rounding_targets(const Graph& float_graph, const Graph& quant_graph,
                                                          const QuantPlan& plan, std::vector<std::string>& skipped) {
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, float_graph.topological_order());
  std::unordered_map<NodeId, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::vector<Target> targets;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.role != QuantRole::kWeight || !q.spec.enabled || q.owner == kNoNode) continue;
    const Node& n = float_graph.node(q.owner);
    if (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul) continue;
    const Node& qn = quant_graph.node(q.owner);
    const NodeId fq = qn.inputs.size() > 1 ? quant_graph.value(qn.inputs[1]).producer : kNoNode;
    if (fq == kNoNode || quant_graph.node(fq).op != OpKind::kFakeQuant) {
      skipped.push_back(n.name + ": no weight quantizer in the quantized graph");
      continue;
    }
    Target t;
    t.node = q.owner;
    t.weight = quant_graph.node(fq).inputs[0];
    if (t.weight != n.inputs[1] || !quant_graph.value(t.weight).is_constant()) {
      skipped.push_back(n.name + ": the weight is not a constant");
      continue;
    }
    if (quant_graph.value(t.weight).uses.size() != 1 || float_graph.value(t.weight).uses.size() != 1) {
      skipped.push_back(n.name + ": the weight is shared with another node");
      continue;
    }
    QE_ASSIGN_OR_RETURN(t.params, read_quant_params(quant_graph, fq));
    if (t.params.kind != QuantKind::kInt) {
      skipped.push_back(n.name + ": " + std::string(quant_kind_name(t.params.kind)) + " weights are rounded to nearest");
      continue;
    }
    auto form = layer_gemm_form(float_graph, q.owner);
    if (!form.is_ok()) {
      skipped.push_back(n.name + ": " + form.status().message());
      continue;
    }
    t.form = std::move(form).value();
    t.quant_input = quant_graph.value(qn.inputs[0]).name;
    t.float_input = float_graph.value(n.inputs[0]).name;
    targets.push_back(std::move(t));
  }
  std::stable_sort(targets.begin(), targets.end(),
                   [&](const Target& a, const Target& b) { return position[a.node] < position[b.node]; });
  return targets;
}

Result<std::unique_ptr<Session>> prefix_session(const Graph& g, const std::string& value, int threads) {
  const ValueId v = g.find_value(value);
  if (v == kNoValue) return internal_error("layer-sequential rounding: value '", value, "' is missing");
  if (g.is_graph_input(v)) return std::unique_ptr<Session>();
  Graph prefix = g;
  prefix.set_outputs({v});
  return Session::create(std::move(prefix), observing_session_options(threads));
}

Result<Tensor> prefix_value(Session* session, const Graph& g, const std::string& value, const std::vector<Tensor>& batch) {
  if (session == nullptr) {
    const ValueId v = g.find_value(value);
    for (size_t i = 0; i < g.inputs().size() && i < batch.size(); ++i) {
      if (g.inputs()[i] == v) return batch[i];
    }
    return internal_error("layer-sequential rounding: graph input '", value, "' was not given");
  }
  QE_ASSIGN_OR_RETURN(std::vector<Tensor> out, session->run(batch));
  return out.at(0);
}

namespace {

// Solves every group of `t` and writes the rounded weights under its quantizer.
Status solve_target(const Graph& float_graph, Graph& quant_graph, const Target& t, LayerInputStats& stats,
                    const LayerSolver& solver, LayerRoundingRecord& record) {
  const Tensor& w = float_graph.value(t.weight).constant;
  QE_ASSIGN_OR_RETURN(const std::vector<float> scale, broadcast_to(t.params.scale, w.shape()));
  QE_ASSIGN_OR_RETURN(const std::vector<float> zero, broadcast_to(t.params.zero_point, w.shape()));
  Tensor rounded = w.clone();
  const LayerGemmForm& f = t.form;
  for (int64_t grp = 0; grp < f.groups; ++grp) {
    LayerProblem p;
    p.rows = f.rows;
    p.k = f.k;
    p.min_int = t.params.min_int();
    p.max_int = t.params.max_int();
    p.rounding = t.params.rounding;
    const size_t n = static_cast<size_t>(f.rows * f.k);
    p.w.resize(n);
    p.scale.resize(n);
    p.zero_point.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t src = f.weight_index[static_cast<size_t>(grp) * n + i];
      p.w[i] = w.data<float>()[src];
      p.scale[i] = scale[static_cast<size_t>(src)];
      p.zero_point[i] = zero[static_cast<size_t>(src)];
    }
    p.h = stats.take_h(grp);
    if (stats.cross()) p.g = stats.take_g(grp);
    p.samples = stats.samples();
    QE_ASSIGN_OR_RETURN(std::vector<float> solved, solver(p));
    if (solved.size() != n) return internal_error("the solver returned ", solved.size(), " weights for ", n);
    const std::vector<float> nearest = round_all_to_grid(p);
    for (size_t i = 0; i < n; ++i) {
      if (grid_value(p, static_cast<int64_t>(i), grid_integer(p, static_cast<int64_t>(i), solved[i])) != solved[i]) {
        return internal_error("the solver's weight ", i, " (", solved[i], ") is not on the grid");
      }
      rounded.data<float>()[f.weight_index[static_cast<size_t>(grp) * n + i]] = solved[i];
    }
    record.error_nearest += excess_output_error(p, nearest);
    record.error_solved += excess_output_error(p, solved);
  }
  quant_graph.set_constant(t.weight, rounded);
  return Status::ok();
}

}  // namespace

Result<LayerSequentialReport> round_layers_sequentially(const Graph& float_graph, Graph& quant_graph,
                                                        const QuantPlan& plan, const BatchSourceFactory& batches,
                                                        const LayerSolver& solver,
                                                        const LayerSequentialOptions& options) {
  const auto start = Clock::now();
  LayerSequentialReport report;
  QE_ASSIGN_OR_RETURN(std::vector<Target> targets, find_rounding_targets(float_graph, quant_graph, plan, report.skipped));
  ThreadPool pool(options.num_threads > 0 ? options.num_threads
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::vector<bool> done(targets.size(), false);
  int finished = 0;
  for (size_t first = 0; first < targets.size(); ++first) {
    if (done[first]) continue;
    const auto t_layer = Clock::now();
    // Every layer still to do that reads the same quantized value joins this pass.
    std::vector<size_t> group;
    for (size_t i = first; i < targets.size(); ++i) {
      if (!done[i] && targets[i].quant_input == targets[first].quant_input) group.push_back(i);
    }
    QE_ASSIGN_OR_RETURN(auto quant_prefix, prefix_session(quant_graph, targets[first].quant_input, options.num_threads));
    std::unique_ptr<Session> float_prefix;
    if (options.need_float_inputs) {
      QE_ASSIGN_OR_RETURN(float_prefix, prefix_session(float_graph, targets[first].float_input, options.num_threads));
    }
    std::vector<std::unique_ptr<LayerInputStats>> stats;
    int64_t bytes = 0;
    for (size_t i : group) {
      stats.push_back(std::make_unique<LayerInputStats>(targets[i].form, options.need_float_inputs));
      bytes += stats.back()->bytes();
    }
    report.peak_stats_bytes = std::max(report.peak_stats_bytes, bytes);
    QE_ASSIGN_OR_RETURN(BatchSource source, batches());
    std::vector<Tensor> batch;
    int64_t batches_seen = 0;
    for (;;) {
      QE_ASSIGN_OR_RETURN(bool more, source(batch));
      if (!more) break;
      ++batches_seen;
      QE_ASSIGN_OR_RETURN(Tensor xq, prefix_value(quant_prefix.get(), quant_graph, targets[first].quant_input, batch));
      Tensor xf;
      if (options.need_float_inputs) {
        QE_ASSIGN_OR_RETURN(xf, prefix_value(float_prefix.get(), float_graph, targets[first].float_input, batch));
      }
      for (auto& s : stats) QE_RETURN_IF_ERROR(s->add(xq, options.need_float_inputs ? &xf : nullptr, pool));
    }
    if (batches_seen == 0) return invalid_argument(options.algorithm, ": the calibration data gave no batch");
    ++report.passes;
    const double pass_seconds = seconds_since(t_layer);
    for (size_t j = 0; j < group.size(); ++j) {
      const Target& t = targets[group[j]];
      LayerRoundingRecord record;
      record.node = float_graph.node(t.node).name;
      record.groups = t.form.groups;
      record.rows = t.form.rows;
      record.k = t.form.k;
      const auto t_solve = Clock::now();
      Status st = solve_target(float_graph, quant_graph, t, *stats[j], solver, record);
      if (!st.is_ok()) return st.with_context(options.algorithm + " on " + describe_node(float_graph, t.node) + ": ");
      record.seconds = seconds_since(t_solve) + pass_seconds / static_cast<double>(group.size());
      report.samples = stats[j]->samples();
      report.layers.push_back(record);
      done[group[j]] = true;
      stats[j].reset();
      if (options.progress) options.progress(++finished, static_cast<int>(targets.size()));
    }
  }
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace qe

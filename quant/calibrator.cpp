// Calibration loop: one float session, one observer per planned activation quantizer, batches
// streamed from the source. Observer work runs after each batch on a pool of our own, one task
// per observed value, so that it overlaps across values instead of serialising after every
// node inside the session's run (the session's pool is idle between runs).
#include "quant/calibrator.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/core/thread_pool.h"
#include "engine/session.h"
#include "quant/calibrator_params.h"
#include "quant/session_values.h"

namespace qe {

namespace {

// One observed value: its observers and, per batch, a private copy of its data so the
// observers can run after the session has reused the arena.
struct ObservedValue {
  std::string name;
  std::vector<RangeObserver*> observers;
  std::vector<float> data;
  Shape shape;
  bool seen_this_batch = false;
  int64_t batches_seen = 0;
};

}  // namespace

std::string describe_quantizer(const Graph& g, const PlannedQuantizer& q) {
  std::string s = str_cat("quantizer #", q.id, " (", quant_role_name(q.role));
  if (q.value >= 0 && static_cast<size_t>(q.value) < g.num_values()) s += str_cat(" of value '", g.value(q.value).name, "'");
  if (q.owner >= 0 && static_cast<size_t>(q.owner) < g.num_nodes()) s += str_cat(", node '", g.node(q.owner).name, "'");
  return s + ")";
}

Status validate_plan(const Graph& g, const QuantPlan& plan) {
  const size_t nq = plan.quantizers.size();
  for (size_t i = 0; i < nq; ++i) {
    const PlannedQuantizer& q = plan.quantizers[i];
    const std::string what = describe_quantizer(g, q);
    if (q.id != static_cast<int>(i)) return invalid_argument("plan: ", what, " is at index ", i, "; ids must equal indices");
    if (q.value < 0 || static_cast<size_t>(q.value) >= g.num_values()) return invalid_argument("plan: ", what, " refers to no value of the graph");
    if (q.owner != kNoNode && (q.owner < 0 || static_cast<size_t>(q.owner) >= g.num_nodes() || !g.node(q.owner).alive))
      return invalid_argument("plan: ", what, " has an owner that is not a live node of the graph");
    if (!q.spec.enabled) continue;
    if (q.spec.sign == Signedness::kAuto) return invalid_argument("plan: ", what, " has an unresolved (auto) sign");
    const Value& v = g.value(q.value);
    if (v.dtype != DType::kF32) return invalid_argument("plan: ", what, ": value has dtype ", dtype_name(v.dtype), ", expected float32");
    if (q.role == QuantRole::kWeight || q.role == QuantRole::kBias) {
      if (!v.is_constant()) return invalid_argument("plan: ", what, ": a ", quant_role_name(q.role), " quantizer needs a constant value");
      if (q.share_group >= 0) return unsupported("plan: ", what, ": weights and biases cannot be in a share group");
    } else if (v.producer == kNoNode && !g.is_graph_input(q.value) && !v.is_constant()) {
      return invalid_argument("plan: ", what, ": value is neither produced, a graph input nor a constant");
    }
    if (q.role == QuantRole::kBias) {
      auto bad = [&](int id, bool weight) {
        if (id < 0 || static_cast<size_t>(id) >= nq) return true;
        const PlannedQuantizer& o = plan.quantizers[static_cast<size_t>(id)];
        return weight ? o.role != QuantRole::kWeight : !is_activation(o.role);
      };
      // bias_input -1: the input is on a grid the plan does not hold as a quantizer (a Trunc).
      if (q.bias_input != -1 && bad(q.bias_input, false)) return invalid_argument("plan: ", what, ": bias_input ", q.bias_input, " is not an activation quantizer");
      if (bad(q.bias_weight, true)) return invalid_argument("plan: ", what, ": bias_weight ", q.bias_weight, " is not a weight quantizer");
    }
    for (const Use& u : q.consumers) {
      if (u.node < 0 || static_cast<size_t>(u.node) >= g.num_nodes() || !g.node(u.node).alive ||
          u.input_index < 0 || static_cast<size_t>(u.input_index) >= g.node(u.node).inputs.size() ||
          g.node(u.node).inputs[static_cast<size_t>(u.input_index)] != q.value) {
        return invalid_argument("plan: ", what, ": consumer (node ", u.node, ", input ", u.input_index, ") does not read the value");
      }
    }
  }
  for (size_t t = 0; t < plan.truncs.size(); ++t) {
    const PlannedTrunc& tr = plan.truncs[t];
    if (tr.pool < 0 || static_cast<size_t>(tr.pool) >= g.num_nodes() || !g.node(tr.pool).alive ||
        (g.node(tr.pool).op != OpKind::kAveragePool && g.node(tr.pool).op != OpKind::kGlobalAveragePool)) {
      return invalid_argument("plan: trunc #", t, " does not refer to a live AveragePool / GlobalAveragePool node");
    }
    if (tr.input_quantizer < 0 || static_cast<size_t>(tr.input_quantizer) >= nq ||
        !is_activation(plan.quantizers[static_cast<size_t>(tr.input_quantizer)].role) ||
        !plan.quantizers[static_cast<size_t>(tr.input_quantizer)].spec.enabled) {
      return invalid_argument("plan: trunc #", t, " after ", describe_node(g, tr.pool),
                              " needs an enabled activation quantizer as input_quantizer (got ", tr.input_quantizer, ")");
    }
    if (tr.window < 1) return invalid_argument("plan: trunc #", t, " after ", describe_node(g, tr.pool), " has window ", tr.window);
  }
  return Status::ok();
}

bool trunc_needs_fallback(const QuantPlan& plan, const PlannedTrunc& t) {
  const PlannedQuantizer& in = plan.quantizers[static_cast<size_t>(t.input_quantizer)];
  return !in.spec.symmetric || in.spec.kind != QuantKind::kInt || in.spec.granularity != Granularity::kPerTensor ||
         in.channel_axis >= 0;
}

Result<CalibrationResult> calibrate(const Graph& g, const QuantPlan& plan, const BatchSource& source,
                                    const CalibrationOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  QE_RETURN_IF_ERROR(validate_plan(g, plan));

  // Observers: one per enabled activation quantizer, plus one per fallback Trunc (on the pool
  // output, with the input quantizer's settings).
  std::vector<std::unique_ptr<RangeObserver>> q_obs(plan.quantizers.size());
  std::vector<std::unique_ptr<RangeObserver>> t_obs(plan.truncs.size());
  std::vector<ObservedValue> observed;
  std::unordered_map<std::string, int> by_name;
  auto attach = [&](ValueId v, RangeObserver* obs) {
    const std::string& name = g.value(v).name;
    auto [it, inserted] = by_name.emplace(name, static_cast<int>(observed.size()));
    if (inserted) observed.push_back(ObservedValue{name, {}, {}, {}, false, 0});
    observed[it->second].observers.push_back(obs);
  };
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!q.spec.enabled || !is_activation(q.role)) continue;
    auto obs = make_range_observer(q.spec, q.channel_axis);
    if (!obs.is_ok()) return obs.status().with_context(describe_quantizer(g, q) + ": ");
    q_obs[static_cast<size_t>(q.id)] = std::move(obs).value();
    attach(q.value, q_obs[static_cast<size_t>(q.id)].get());
  }
  for (size_t t = 0; t < plan.truncs.size(); ++t) {
    const PlannedTrunc& tr = plan.truncs[t];
    if (!trunc_needs_fallback(plan, tr)) continue;
    const PlannedQuantizer& in = plan.quantizers[static_cast<size_t>(tr.input_quantizer)];
    auto obs = make_range_observer(in.spec, in.channel_axis);
    if (!obs.is_ok()) return obs.status().with_context("trunc after " + describe_node(g, tr.pool) + ": ");
    t_obs[t] = std::move(obs).value();
    attach(g.node(tr.pool).outputs[0], t_obs[t].get());
  }

  CalibrationResult result;
  if (!observed.empty()) {
    QE_ASSIGN_OR_RETURN(auto session, Session::create(g, observing_session_options(opts.num_threads)));
    const Graph& sg = session->graph();
    for (const ObservedValue& ov : observed) {
      if (sg.find_value(ov.name) == kNoValue) {
        return internal_error("calibration: planned value '", ov.name, "' does not exist in the session's graph; the "
                              "graph given to calibrate() must be the canonical graph of prepare_float_graph()");
      }
    }
    ThreadPool observe_pool(session->num_threads());
    SessionValues values(*session, by_name);
    std::vector<Tensor> inputs;
    auto keep = [&](int index, const TensorView& data) {
      ObservedValue& ov = observed[static_cast<size_t>(index)];
      if (data.dtype != DType::kF32) return;  // validate_plan checked the float graph's dtype
      ov.data.resize(static_cast<size_t>(data.numel()));
      std::memcpy(ov.data.data(), data.data, data.bytes());
      ov.shape = data.shape;
      ov.seen_this_batch = true;
    };
    ValueObserver tap = [&](const Graph&, ValueId v, const TensorView& data) {
      const int i = values.index(v);
      if (i >= 0) keep(i, data);
    };
    Status observe_status;
    std::mutex status_mutex;
    while (true) {
      inputs.clear();
      QE_ASSIGN_OR_RETURN(bool more, source(inputs));
      if (!more) break;
      for (ObservedValue& ov : observed) ov.seen_this_batch = false;
      QE_RETURN_IF_ERROR(values.prepare(inputs));
      for (const auto& [i, t] : values.direct()) keep(i, t.view());
      auto ran = session->run_observed(inputs, tap);
      if (!ran.is_ok()) return ran.status().with_context("calibration batch " + std::to_string(result.batches) + ": ");
      const auto t0 = std::chrono::steady_clock::now();
      observe_pool.parallel_for(static_cast<int64_t>(observed.size()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          ObservedValue& ov = observed[static_cast<size_t>(i)];
          if (!ov.seen_this_batch) continue;
          TensorView view{ov.data.data(), DType::kF32, ov.shape};
          for (RangeObserver* obs : ov.observers) {
            Status st = obs->observe(view);
            if (!st.is_ok()) {
              std::lock_guard<std::mutex> lock(status_mutex);
              if (observe_status.is_ok()) observe_status = st.with_context("observing value '" + ov.name + "': ");
            }
          }
          ++ov.batches_seen;
        }
      });
      QE_RETURN_IF_ERROR(observe_status);
      result.observe_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++result.batches;
      result.samples += !inputs.empty() && inputs[0].shape().rank() > 0 ? inputs[0].shape()[0] : 1;
      if (opts.progress) opts.progress(result.samples);
    }
    if (result.batches == 0) return invalid_argument("calibration: the data source gave no batch");
    for (const ObservedValue& ov : observed) {
      if (ov.batches_seen != result.batches) {
        return internal_error("calibration: planned value '", ov.name, "' was observed in ", ov.batches_seen, " of ",
                              result.batches, " batches; the session does not compute it (dead code?)");
      }
    }
  }

  QE_ASSIGN_OR_RETURN(result, compute_calibration_params(g, plan, q_obs, t_obs, std::move(result)));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace qe

#include "quant/mixed/layer_sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "engine/session.h"
#include "quant/calibrator.h"
#include "quant/mixed/activation_trace.h"
#include "quant/quant_math.h"
#include "quant/session_values.h"

namespace qe {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Row-wise probabilities of a [N, C] output; a graph that ends in Softmax already gives them.
std::vector<double> output_probabilities(const Tensor& out, bool already_softmax) {
  const int64_t n = out.shape().rank() > 0 ? out.shape()[0] : 1;
  const int64_t c = n > 0 ? out.numel() / n : 0;
  std::vector<double> p(static_cast<size_t>(out.numel()));
  const float* x = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * c;
    double* pr = p.data() + i * c;
    if (already_softmax) {
      for (int64_t j = 0; j < c; ++j) pr[j] = row[j];
      continue;
    }
    const double mx = *std::max_element(row, row + c);
    double sum = 0;
    for (int64_t j = 0; j < c; ++j) sum += pr[j] = std::exp(static_cast<double>(row[j]) - mx);
    for (int64_t j = 0; j < c; ++j) pr[j] /= sum;
  }
  return p;
}

// Σ_rows Σ_j p log(p / q); rows are the leading dimension.
double kl_sum(const std::vector<double>& p, const std::vector<double>& q) {
  constexpr double kFloor = 1e-12;  // a probability underflowing to 0 must not give inf
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] > 0) s += p[i] * (std::log(p[i]) - std::log(std::max(q[i], kFloor)));
  }
  return s;
}

// Σ (x − y)² over two float32 tensors of the same size, in double.
double squared_difference(const Tensor& x, const Tensor& y) {
  const float* a = x.data<float>();
  const float* b = y.data<float>();
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

bool ends_in_softmax(const Graph& g) {
  const Value& out = g.value(g.outputs()[0]);
  return out.producer != kNoNode && g.node(out.producer).op == OpKind::kSoftmax;
}

// Runs every batch of `inputs` and returns the probabilities of output 0, batch after batch.
Result<std::vector<double>> run_probabilities(Session& s, const std::vector<std::vector<Tensor>>& inputs,
                                              bool already_softmax, int64_t* rows) {
  std::vector<double> all;
  int64_t n = 0;
  for (const auto& batch : inputs) {
    QE_ASSIGN_OR_RETURN(std::vector<Tensor> out, s.run(batch));
    if (out.empty() || out[0].dtype() != DType::kF32) return invalid_argument("output 0 is not a float tensor");
    std::vector<double> p = output_probabilities(out[0], already_softmax);
    n += out[0].shape().rank() > 0 ? out[0].shape()[0] : 1;
    all.insert(all.end(), p.begin(), p.end());
  }
  if (rows) *rows = n;
  return all;
}

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double r = 0.5 * static_cast<double>(i + j);  // ties share their mean rank
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

// The integer activation quantizer of value `name`, or null.
const PlannedQuantizer* activation_quantizer_of(const Graph& g, const QuantPlan& plan, const std::string& name) {
  const ValueId v = g.find_value(name);
  if (v == kNoValue) return nullptr;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.value == v && q.spec.enabled && q.spec.kind == QuantKind::kInt && is_activation(q.role)) return &q;
  }
  return nullptr;
}

// Which activations each layer is charged for: the origins of what it reads that carry an
// integer quantizer, each to the first layer reading it. `names` / `quantizers` list the
// charged origins; `of_layer[i]` holds the indices of layer i's among them (none, one, or
// several for a Concat reader).
struct ChargedActivations {
  std::vector<std::string> names;
  std::vector<const PlannedQuantizer*> quantizers;
  std::vector<std::vector<int>> of_layer;
};
ChargedActivations charge_activations(const Graph& g, const QuantPlan& plan, const std::vector<ComputeLayer>& layers) {
  ChargedActivations c;
  c.of_layer.resize(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    for (const std::string& o : layers[i].input_origins) {
      if (std::find(c.names.begin(), c.names.end(), o) != c.names.end()) continue;
      const PlannedQuantizer* q = activation_quantizer_of(g, plan, o);
      if (!q) continue;
      c.of_layer[i].push_back(static_cast<int>(c.names.size()));
      c.names.push_back(o);
      c.quantizers.push_back(q);
    }
  }
  return c;
}

// Mean squared error per element of each charged activation under its quantizer calibrated
// with every activation at b bits, over the Hessian images: [activation][bits index].
Result<std::vector<std::vector<double>>> activation_errors(const Graph& g, const QuantPlan& plan,
                                                           const ChargedActivations& c,
                                                           const std::vector<LabelledBatch>& batches,
                                                           const std::vector<int>& bits, int threads) {
  auto source_over = [&batches]() {
    auto next = std::make_shared<size_t>(0);
    return BatchSource([&batches, next](std::vector<Tensor>& inputs) -> Result<bool> {
      if (*next >= batches.size()) return false;
      inputs = batches[(*next)++].inputs;
      return true;
    });
  };
  std::vector<std::vector<QuantParams>> params(c.names.size());
  for (int b : bits) {
    QuantPlan at = plan;
    for (PlannedQuantizer& q : at.quantizers) {
      if (q.spec.enabled && q.spec.kind == QuantKind::kInt && is_activation(q.role)) q.spec.bits = b;
    }
    CalibrationOptions co;
    co.num_threads = threads;
    QE_ASSIGN_OR_RETURN(CalibrationResult r, calibrate(g, at, source_over(), co));
    for (size_t a = 0; a < c.names.size(); ++a) {
      params[a].push_back(r.quantizers[static_cast<size_t>(c.quantizers[a]->id)].params);
    }
  }
  std::unordered_map<std::string, int> watched;
  for (size_t a = 0; a < c.names.size(); ++a) watched.emplace(c.names[a], static_cast<int>(a));
  std::vector<std::vector<double>> sum(c.names.size(), std::vector<double>(bits.size(), 0.0));
  std::vector<double> count(c.names.size(), 0.0);
  QE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(g, observing_session_options(threads)));
  QE_RETURN_IF_ERROR(stream_watched_values(*session, watched, source_over(), 0, [&](int a, const TensorView& data) -> Status {
    if (data.dtype != DType::kF32) return invalid_argument("activation '", c.names[static_cast<size_t>(a)], "' is not float32");
    const Tensor x = Tensor::from_data(DType::kF32, data.shape, data.data);
    for (size_t k = 0; k < bits.size(); ++k) {
      QE_ASSIGN_OR_RETURN(Tensor q, fake_quantize(x, params[static_cast<size_t>(a)][k]));
      sum[static_cast<size_t>(a)][k] += squared_difference(x, q);
    }
    count[static_cast<size_t>(a)] += static_cast<double>(x.numel());
    return Status::ok();
  }));
  for (size_t a = 0; a < sum.size(); ++a) {
    for (double& v : sum[a]) v /= std::max(count[a], 1.0);
  }
  return sum;
}

}  // namespace

Result<const PlannedQuantizer*> weight_quantizer_of(const Graph& g, const QuantPlan& plan, const std::string& node) {
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.role == QuantRole::kWeight && q.owner != kNoNode && g.node(q.owner).name == node) return &q;
  }
  return invalid_argument("layer '", node, "' has no weight quantizer (skipped by a rule, or its weight is not constant)");
}

Result<Tensor> quantized_weight(const Tensor& w, const QuantSpec& spec, int channel_axis, int bits) {
  QuantSpec at = spec;
  at.bits = bits;
  QE_ASSIGN_OR_RETURN(QuantParams p, weight_quant_params(at, w, channel_axis));
  return fake_quantize(w, p);
}

Result<std::map<int, double>> weight_quant_errors(const Tensor& w, const QuantSpec& spec, int channel_axis,
                                                  const std::vector<int>& bits) {
  std::map<int, double> err;
  for (int b : bits) {
    QE_ASSIGN_OR_RETURN(Tensor q, quantized_weight(w, spec, channel_axis, b));
    err[b] = squared_difference(w, q);
  }
  return err;
}

Result<SensitivityReport> measure_layer_sensitivity(const Graph& g, const QuantPlan& plan,
                                                    const std::vector<ComputeLayer>& layers,
                                                    const std::vector<LabelledBatch>& batches,
                                                    const std::vector<std::vector<Tensor>>& kl_inputs,
                                                    const SensitivityOptions& options) {
  if (options.bits.empty()) return invalid_argument("no bit widths to measure");
  SensitivityReport report;
  std::vector<const PlannedQuantizer*> quantizers;
  for (const ComputeLayer& l : layers) {
    QE_ASSIGN_OR_RETURN(const PlannedQuantizer* q, weight_quantizer_of(g, plan, l.node));
    const Tensor& w = g.value(q->value).constant;
    LayerSensitivity s;
    s.layer = l.node;
    s.params = w.numel();
    auto err = weight_quant_errors(w, q->spec, q->channel_axis, options.bits);
    if (!err.is_ok()) return err.status().with_context("layer '" + l.node + "': ");
    s.weight_error = std::move(err).value();
    report.layers.push_back(std::move(s));
    quantizers.push_back(q);
  }

  if (!batches.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> weights;
    for (const PlannedQuantizer* q : quantizers) weights.push_back(g.value(q->value).name);
    BackpropOptions bo;
    bo.num_threads = options.num_threads;
    ChargedActivations charged;
    charged.of_layer.resize(layers.size());
    std::vector<std::vector<double>> act_error;
    std::vector<double> act_trace;
    if (options.activation_term) charged = charge_activations(g, plan, layers);
    if (!charged.names.empty()) {
      auto e = activation_errors(g, plan, charged, batches, options.bits, options.num_threads);
      if (!e.is_ok()) return e.status().with_context("activation errors: ");
      act_error = std::move(e).value();
      BackpropOptions ao = bo;
      ao.activations = charged.names;
      QE_ASSIGN_OR_RETURN(Backprop abp, Backprop::create(g, weights, ao));
      ActivationTraceOptions to;
      to.seed = options.hutchinson.seed;
      QE_ASSIGN_OR_RETURN(ActivationTraceResult at, estimate_activation_traces(abp, batches, to));
      act_trace = std::move(at.traces);
    }
    QE_ASSIGN_OR_RETURN(Backprop bp, Backprop::create(g, weights, bo));
    QE_ASSIGN_OR_RETURN(HutchinsonResult h, estimate_hessian_traces(bp, batches, options.hutchinson));
    for (size_t i = 0; i < report.layers.size(); ++i) {
      LayerSensitivity& s = report.layers[i];
      s.hessian_trace = h.traces[i];
      // A negative estimate (sampling noise, or the negative curvature a trained network's
      // Hessian may have) would make fewer bits look better than more: it counts as 0.
      const double trace = std::max(h.traces[i], 0.0);
      for (const auto& [b, e] : s.weight_error) s.omega[b] = s.weight_omega[b] = trace / static_cast<double>(s.params) * e;
      for (int a : charged.of_layer[i]) {
        const size_t k = static_cast<size_t>(a);
        const Value& v = g.value(g.find_value(charged.names[k]));
        if (s.activation.empty()) s.activation = charged.names[k];
        s.activation_elements += v.shape_known && v.shape.rank() > 0 ? v.shape.numel() / std::max<int64_t>(v.shape[0], 1) : 0;
        s.activation_trace += act_trace[k];
        for (size_t bi = 0; bi < options.bits.size(); ++bi) {
          const int b = options.bits[bi];
          s.activation_error[b] += act_error[k][bi];
          s.activation_omega[b] += act_trace[k] * act_error[k][bi];
          s.omega[b] += act_trace[k] * act_error[k][bi];
        }
      }
    }
    report.hutchinson_iterations = h.iterations;
    report.hutchinson_converged = h.converged;
    report.hessian_seconds = seconds_since(t0);
  }

  if (!kl_inputs.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool softmax_out = ends_in_softmax(g);
    SessionOptions so;
    so.num_threads = options.num_threads;
    QE_ASSIGN_OR_RETURN(std::unique_ptr<Session> reference, Session::create(g, so));
    int64_t rows = 0;
    QE_ASSIGN_OR_RETURN(std::vector<double> p, run_probabilities(*reference, kl_inputs, softmax_out, &rows));
    reference.reset();
    int kl_done = 0;
    for (size_t i = 0; i < report.layers.size(); ++i) {
      const PlannedQuantizer* q = quantizers[i];
      const Tensor& w = g.value(q->value).constant;
      for (int b : options.bits) {
        QE_ASSIGN_OR_RETURN(Tensor qw, quantized_weight(w, q->spec, q->channel_axis, b));
        Graph one = g;
        one.set_constant(q->value, qw);
        QE_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(std::move(one), so));
        QE_ASSIGN_OR_RETURN(std::vector<double> pq, run_probabilities(*s, kl_inputs, softmax_out, nullptr));
        report.layers[i].output_kl[b] = kl_sum(p, pq) / static_cast<double>(std::max<int64_t>(rows, 1));
        if (options.kl_progress) {
          ++kl_done;
          options.kl_progress(kl_done, static_cast<int>(report.layers.size() * options.bits.size()));
        }
      }
    }
    report.kl_seconds = seconds_since(t0);
  }
  return report;
}

double spearman_rank_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n != b.size() || n < 2) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double mean = 0.5 * static_cast<double>(n - 1);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

}  // namespace qe

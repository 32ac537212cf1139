#include "quant/bias_correction.h"

#include <chrono>
#include <unordered_map>

#include "engine/session.h"
#include "graph/quant_params.h"
#include "quant/quant_math.h"
#include "quant/session_values.h"

namespace qe {

namespace {

struct Target {
  NodeId node = kNoNode;
  ValueId bias = kNoValue;   // the float bias constant (input of the bias FakeQuant)
  ValueId input = kNoValue;  // the activation input as the quantized graph computes it
  Tensor weight_error;       // W - Q(W), same layout as the weight
  int64_t in_channels = 0;
};

// The float weight minus its quantized copy, as the weight FakeQuant of the quantized graph
// computes it: from the quantized graph's own constant, which GPTQ / GPFQ / AdaRound may have
// replaced by their choice of grid points.
Result<Tensor> weight_error(const Graph& float_graph, const Graph& quant_graph, NodeId node) {
  const ValueId wq = quant_graph.node(node).inputs[1];
  const NodeId fq = quant_graph.value(wq).producer;
  const Tensor& w = float_graph.value(float_graph.node(node).inputs[1]).constant;
  if (fq == kNoNode || quant_graph.node(fq).op != OpKind::kFakeQuant) return Tensor();
  const Value& under = quant_graph.value(quant_graph.node(fq).inputs[0]);
  if (!under.is_constant() || under.constant.shape() != w.shape()) return Tensor();
  QE_ASSIGN_OR_RETURN(QuantParams p, read_quant_params(quant_graph, fq));
  QE_ASSIGN_OR_RETURN(Tensor q, fake_quantize(under.constant, p));
  Tensor e = w.clone();
  for (int64_t i = 0; i < e.numel(); ++i) e.data<float>()[i] -= q.data<float>()[i];
  return e;
}

// Per-channel (axis 1) means of every target's input over the batches, in the quantized graph.
Result<std::vector<std::vector<double>>> input_means(const Graph& g, const std::vector<Target>& targets,
                                                     const BatchSource& source, int max_batches, int threads,
                                                     int64_t* samples) {
  QE_ASSIGN_OR_RETURN(auto session, Session::create(g, observing_session_options(threads)));
  // One watched index per distinct input name; several targets may read the same value.
  std::unordered_map<std::string, int> watched;
  std::vector<std::vector<size_t>> readers;
  for (size_t i = 0; i < targets.size(); ++i) {
    auto [it, added] = watched.emplace(g.value(targets[i].input).name, static_cast<int>(readers.size()));
    if (added) readers.emplace_back();
    readers[static_cast<size_t>(it->second)].push_back(i);
  }
  std::vector<std::vector<double>> sums(targets.size());
  std::vector<int64_t> counts(targets.size(), 0);
  for (size_t i = 0; i < targets.size(); ++i) sums[i].assign(static_cast<size_t>(targets[i].in_channels), 0.0);
  auto accumulate = [&](size_t t, const TensorView& data) -> Status {
    const Shape& s = data.shape;
    if (s.rank() < 2 || s[1] != targets[t].in_channels) {
      return internal_error("bias correction: input '", g.value(targets[t].input).name, "' has shape ", s.to_string());
    }
    const int64_t n = s[0], c = s[1], inner = s.numel() / (n * c);
    const float* x = data.as<float>();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* p = x + (b * c + ch) * inner;
        double total = 0;
        for (int64_t i = 0; i < inner; ++i) total += p[i];
        sums[t][static_cast<size_t>(ch)] += total;
      }
    }
    counts[t] += n * inner;
    return Status::ok();
  };
  QE_RETURN_IF_ERROR(stream_watched_values(
      *session, watched, source, max_batches,
      [&](int index, const TensorView& data) -> Status {
        if (data.dtype != DType::kF32) return Status::ok();
        for (size_t t : readers[static_cast<size_t>(index)]) QE_RETURN_IF_ERROR(accumulate(t, data));
        return Status::ok();
      },
      samples));
  for (size_t i = 0; i < targets.size(); ++i) {
    if (counts[i] == 0) {
      return internal_error("bias correction: input '", g.value(targets[i].input).name, "' was never observed");
    }
    for (double& v : sums[i]) v /= static_cast<double>(counts[i]);
  }
  return sums;
}

// Σ over input channels and kernel taps of (W - Q(W)) · E[x]: the mean output shift of each
// output channel (borders, where padding replaces x by 0, are ignored).
Result<std::vector<double>> output_shift(const Graph& g, const Target& t, const std::vector<double>& mean) {
  const Node& n = g.node(t.node);
  const Tensor& e = t.weight_error;
  const float* d = e.data<float>();
  std::vector<double> shift;
  if (n.op == OpKind::kConv) {
    QE_ASSIGN_OR_RETURN(int64_t group, n.attrs.get_int("group", 1));
    const int64_t out_c = e.shape()[0], in_per_group = e.shape()[1];
    const int64_t taps = e.numel() / (out_c * in_per_group);
    const int64_t out_per_group = out_c / group;
    shift.assign(static_cast<size_t>(out_c), 0.0);
    for (int64_t o = 0; o < out_c; ++o) {
      const int64_t first_in = (o / out_per_group) * in_per_group;
      for (int64_t i = 0; i < in_per_group; ++i) {
        double sum = 0;
        for (int64_t k = 0; k < taps; ++k) sum += d[(o * in_per_group + i) * taps + k];
        shift[static_cast<size_t>(o)] += sum * mean[static_cast<size_t>(first_in + i)];
      }
    }
    return shift;
  }
  // Gemm: Y = A · op(B), A [N, K].
  QE_ASSIGN_OR_RETURN(int64_t trans_b, n.attrs.get_int("transB", 0));
  const int64_t rows = e.shape()[0], cols = e.shape()[1];
  const int64_t out_c = trans_b ? rows : cols, k_dim = trans_b ? cols : rows;
  shift.assign(static_cast<size_t>(out_c), 0.0);
  for (int64_t o = 0; o < out_c; ++o) {
    for (int64_t k = 0; k < k_dim; ++k) {
      const float w = trans_b ? d[o * cols + k] : d[k * cols + o];
      shift[static_cast<size_t>(o)] += w * mean[static_cast<size_t>(k)];
    }
  }
  return shift;
}

}  // namespace

Result<BiasCorrectionReport> correct_biases(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                            const BatchSource& source, int max_batches,
                                            const BiasCorrectionOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  BiasCorrectionReport report;
  std::vector<Target> targets;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.role != QuantRole::kBias || !q.spec.enabled || q.owner == kNoNode) continue;
    const Node& n = float_graph.node(q.owner);
    if (n.op != OpKind::kConv && n.op != OpKind::kGemm) continue;
    QE_ASSIGN_OR_RETURN(int64_t trans_a, n.attrs.get_int("transA", 0));
    QE_ASSIGN_OR_RETURN(int64_t trans_b, n.attrs.get_int("transB", 0));
    if (n.op == OpKind::kGemm && trans_a != 0) continue;
    const Value& bias = float_graph.value(q.value);
    const Value& w = float_graph.value(n.inputs[1]);
    if (!bias.is_constant() || bias.constant.shape().rank() != 1 || bias.constant.dtype() != DType::kF32) continue;
    if (!w.is_constant() || w.constant.dtype() != DType::kF32 || w.constant.shape().rank() < 2) continue;
    if (!quant_graph.value(q.value).is_constant()) {
      return internal_error("bias correction: bias '", bias.name, "' is not a constant of the quantized graph");
    }
    Target t;
    t.node = q.owner;
    t.bias = q.value;
    t.input = quant_graph.node(q.owner).inputs[0];
    QE_ASSIGN_OR_RETURN(t.weight_error, weight_error(float_graph, quant_graph, q.owner));
    if (!t.weight_error.defined()) continue;
    const Shape& ws = w.constant.shape();
    if (n.op == OpKind::kConv) {
      QE_ASSIGN_OR_RETURN(int64_t group, n.attrs.get_int("group", 1));
      t.in_channels = ws[1] * group;
    } else {
      t.in_channels = trans_b ? ws[1] : ws[0];
    }
    targets.push_back(std::move(t));
  }
  if (targets.empty()) return report;

  QE_ASSIGN_OR_RETURN(auto means,
                      input_means(quant_graph, targets, source, max_batches, options.num_threads, &report.samples));
  if (report.samples == 0) return invalid_argument("bias correction: the data source gave no batch");
  for (size_t i = 0; i < targets.size(); ++i) {
    QE_ASSIGN_OR_RETURN(auto shift, output_shift(float_graph, targets[i], means[i]));
    Tensor bias = quant_graph.value(targets[i].bias).constant.clone();
    if (static_cast<size_t>(bias.numel()) != shift.size()) continue;  // a bias that broadcasts differently
    float* b = bias.data<float>();
    for (size_t c = 0; c < shift.size(); ++c) b[c] += static_cast<float>(shift[c]);
    quant_graph.set_constant(targets[i].bias, bias);
    ++report.corrected_nodes;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace qe

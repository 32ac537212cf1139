// Both graphs run on the same batch; the float run keeps a copy of every layer output it will
// be compared on, the quantized run accumulates against those copies as its values appear.
#include "quant/sqnr_report.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "engine/session.h"
#include "quant/calibrator_params.h"
#include "quant/materialize.h"
#include "quant/quant_math.h"
#include "quant/session_values.h"

namespace qe {

namespace {

struct Sums {
  double signal = 0;
  double noise = 0;
  bool seen = false;

  void add(const float* x, const float* q, int64_t n) {
    double s = 0, e = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(x[i]) - q[i];
      s += static_cast<double>(x[i]) * x[i];
      e += d * d;
    }
    signal += s;
    noise += e;
    seen = true;
  }
  double db() const { return seen ? sqnr_from_sums(signal, noise) : kNoSqnr; }
};

struct Buffer {
  std::vector<float> data;
  Shape shape;
  bool valid = false;

  void set(const float* p, int64_t n, const Shape& s) {
    data.assign(p, p + n);
    shape = s;
    valid = true;
  }
};

bool is_compute(OpKind op) {
  return op == OpKind::kConv || op == OpKind::kConvTranspose || op == OpKind::kGemm || op == OpKind::kMatMul;
}

int intern(std::unordered_map<std::string, int>& m, const std::string& name) {
  auto [it, inserted] = m.emplace(name, static_cast<int>(m.size()));
  return it->second;
}

}  // namespace

double sqnr_from_sums(double signal, double noise) {
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

Result<SqnrReport> measure_sqnr(const Graph& fg, const Graph& qg, const QuantPlan& plan, const BatchSource& source,
                                int max_batches, const SqnrOptions& options) {
  QE_RETURN_IF_ERROR(validate_plan(fg, plan));
  const QuantNodeNames names = quant_node_names(fg, plan);
  std::unordered_map<std::string, NodeId> quant_nodes;
  for (size_t i = 0; i < qg.num_nodes(); ++i) {
    const Node& n = qg.node(static_cast<NodeId>(i));
    if (n.alive) quant_nodes[n.name] = n.id;
  }
  SqnrReport rep;
  rep.quantizers.resize(plan.quantizers.size());

  // Weights and biases: on the host, from the quantized graph's own FakeQuant parameters.
  // Activations: the FakeQuant's input and output value names, observed in the quantized run.
  std::vector<std::pair<std::string, std::string>> act_io(plan.quantizers.size());
  for (const PlannedQuantizer& q : plan.quantizers) {
    rep.quantizers[static_cast<size_t>(q.id)].quantizer = q.id;
    if (!q.spec.enabled) continue;
    const std::string& name = names.quantizers[static_cast<size_t>(q.id)];
    auto it = quant_nodes.find(name);
    if (it == quant_nodes.end() || qg.node(it->second).op != OpKind::kFakeQuant) {
      return invalid_argument("sqnr: the quantized graph has no FakeQuant node '", name, "' for ",
                              describe_quantizer(fg, q), "; was it materialized from this plan?");
    }
    const Node& fq = qg.node(it->second);
    if (q.role == QuantRole::kWeight || q.role == QuantRole::kBias) {
      const Value& w = qg.value(fq.inputs[0]);
      if (!w.is_constant()) return invalid_argument("sqnr: quantizer '", name, "' does not read a constant");
      QE_ASSIGN_OR_RETURN(QuantParams p, read_quant_params(qg, fq.id));
      QE_ASSIGN_OR_RETURN(Tensor wq, fake_quantize(w.constant, p));
      rep.quantizers[static_cast<size_t>(q.id)].sqnr_db =
          sqnr_db(w.constant.data<float>(), wq.data<float>(), w.constant.numel());
    } else {
      act_io[static_cast<size_t>(q.id)] = {qg.value(fq.inputs[0]).name, qg.value(fq.outputs[0]).name};
    }
  }

  // Layers: compute nodes and every node that owns a quantizer.
  std::unordered_set<NodeId> owners;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (q.spec.enabled && q.owner != kNoNode) owners.insert(q.owner);
  }
  QE_ASSIGN_OR_RETURN(auto order, fg.topological_order());
  for (NodeId id : order) {
    const Node& n = fg.node(id);
    if ((!is_compute(n.op) && !owners.count(id)) || n.outputs.empty() || n.outputs[0] == kNoValue) continue;
    LayerSqnr layer;
    layer.node = n.name;
    layer.op = std::string(op_name(n.op));
    layer.output = fg.value(n.outputs[0]).name;
    for (const PlannedQuantizer& q : plan.quantizers) {
      if (q.spec.enabled && q.owner == id && q.role == QuantRole::kWeight) {
        layer.weight_sqnr_db = rep.quantizers[static_cast<size_t>(q.id)].sqnr_db;
        break;
      }
    }
    rep.layers.push_back(std::move(layer));
  }

  // What each run watches, by value name. Float run: layer outputs (kept). Quantized run: layer
  // outputs (compared with the float copy), FakeQuant inputs (kept) and outputs (compared).
  std::unordered_map<std::string, int> float_names, quant_names;
  for (const LayerSqnr& l : rep.layers) intern(float_names, l.output);
  std::vector<Buffer> float_bufs(float_names.size());
  struct QuantWatch {
    int float_buf = -1;               // compare with this float copy
    std::vector<int> layers;          // ... accumulating into these layers
    bool keep = false;                // a FakeQuant input: keep a copy
    std::vector<int> quantizers;      // a FakeQuant output: compare with its input's copy
  };
  std::vector<QuantWatch> watches;
  auto watch = [&](const std::string& name) -> QuantWatch& {
    int i = intern(quant_names, name);
    if (static_cast<size_t>(i) >= watches.size()) watches.resize(static_cast<size_t>(i) + 1);
    return watches[static_cast<size_t>(i)];
  };
  for (size_t l = 0; l < rep.layers.size(); ++l) {
    QuantWatch& w = watch(rep.layers[l].output);
    w.float_buf = float_names.at(rep.layers[l].output);
    w.layers.push_back(static_cast<int>(l));
  }
  for (size_t q = 0; q < act_io.size(); ++q) {
    if (act_io[q].first.empty()) continue;
    watch(act_io[q].first).keep = true;
    watch(act_io[q].second).quantizers.push_back(static_cast<int>(q));
  }
  std::vector<Buffer> quant_bufs(watches.size());
  std::vector<int> fq_input(plan.quantizers.size(), -1);
  for (size_t q = 0; q < act_io.size(); ++q) {
    if (!act_io[q].first.empty()) fq_input[q] = quant_names.at(act_io[q].first);
  }

  const SessionOptions so = observing_session_options(options.num_threads);
  QE_ASSIGN_OR_RETURN(auto float_session, Session::create(fg, so));
  QE_ASSIGN_OR_RETURN(auto quant_session, Session::create(qg, so));

  std::vector<Sums> layer_sums(rep.layers.size()), quant_sums(plan.quantizers.size());
  std::vector<Sums> output_sums(fg.outputs().size());
  Sums all_outputs;
  Status status;
  auto fail = [&](Status s) {
    if (status.is_ok()) status = std::move(s);
  };
  SessionValues float_values(*float_session, float_names), quant_values(*quant_session, quant_names);
  auto keep_float = [&](int i, const TensorView& t) {
    if (t.dtype == DType::kF32) float_bufs[static_cast<size_t>(i)].set(t.as<float>(), t.numel(), t.shape);
  };
  ValueObserver float_tap = [&](const Graph&, ValueId v, const TensorView& t) {
    const int i = float_values.index(v);
    if (i >= 0) keep_float(i, t);
  };
  auto compare = [&](const Buffer& ref, const TensorView& t, Sums& sums, const std::string& what) {
    if (!ref.valid) return;
    if (ref.shape != t.shape) {
      fail(internal_error("sqnr: '", what, "' has shape ", t.shape.to_string(), " in the quantized graph and ",
                          ref.shape.to_string(), " in the float graph"));
      return;
    }
    sums.add(ref.data.data(), t.as<float>(), t.numel());
  };
  std::vector<std::string> quant_name_of(watches.size());
  for (const auto& [name, i] : quant_names) quant_name_of[static_cast<size_t>(i)] = name;
  auto keep_quant = [&](int i, const TensorView& t) {
    if (watches[static_cast<size_t>(i)].keep && t.dtype == DType::kF32) {
      quant_bufs[static_cast<size_t>(i)].set(t.as<float>(), t.numel(), t.shape);
    }
  };
  auto compare_quant = [&](int i, const TensorView& t) {
    if (t.dtype != DType::kF32) return;
    const QuantWatch& w = watches[static_cast<size_t>(i)];
    const std::string& name = quant_name_of[static_cast<size_t>(i)];
    for (int l : w.layers) compare(float_bufs[static_cast<size_t>(w.float_buf)], t, layer_sums[static_cast<size_t>(l)], name);
    for (int q : w.quantizers) {
      compare(quant_bufs[static_cast<size_t>(fq_input[static_cast<size_t>(q)])], t, quant_sums[static_cast<size_t>(q)], name);
    }
  };
  ValueObserver quant_tap = [&](const Graph&, ValueId v, const TensorView& t) {
    const int i = quant_values.index(v);
    if (i < 0) return;
    keep_quant(i, t);
    compare_quant(i, t);
  };

  std::vector<Tensor> inputs;
  while (max_batches <= 0 || rep.batches < max_batches) {
    inputs.clear();
    QE_ASSIGN_OR_RETURN(bool more, source(inputs));
    if (!more) break;
    for (Buffer& b : float_bufs) b.valid = false;
    for (Buffer& b : quant_bufs) b.valid = false;
    // Values no step produces (graph inputs, constants of the specialised plans): kept before
    // the runs, compared after the quantized run.
    QE_RETURN_IF_ERROR(float_values.prepare(inputs));
    QE_RETURN_IF_ERROR(quant_values.prepare(inputs));
    for (const auto& [i, t] : float_values.direct()) keep_float(i, t.view());
    for (const auto& [i, t] : quant_values.direct()) keep_quant(i, t.view());
    auto fout = float_session->run_observed(inputs, float_tap);
    if (!fout.is_ok()) return fout.status().with_context("sqnr, float graph: ");
    auto qout = quant_session->run_observed(inputs, quant_tap);
    if (!qout.is_ok()) return qout.status().with_context("sqnr, quantized graph: ");
    for (const auto& [i, t] : quant_values.direct()) compare_quant(i, t.view());
    QE_RETURN_IF_ERROR(status);
    if (fout->size() != qout->size()) return invalid_argument("sqnr: the graphs have different numbers of outputs");
    for (size_t o = 0; o < fout->size(); ++o) {
      const Tensor& a = (*fout)[o];
      const Tensor& b = (*qout)[o];
      if (a.dtype() != DType::kF32 || b.dtype() != DType::kF32) continue;
      if (a.shape() != b.shape()) return invalid_argument("sqnr: output ", o, " has different shapes in the two graphs");
      output_sums[o].add(a.data<float>(), b.data<float>(), a.numel());
      all_outputs.add(a.data<float>(), b.data<float>(), a.numel());
    }
    ++rep.batches;
    rep.samples += !inputs.empty() && inputs[0].shape().rank() > 0 ? inputs[0].shape()[0] : 1;
  }
  if (rep.batches == 0) return invalid_argument("sqnr: the data source gave no batch");
  for (size_t l = 0; l < rep.layers.size(); ++l) rep.layers[l].output_sqnr_db = layer_sums[l].db();
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!act_io[static_cast<size_t>(q.id)].first.empty()) rep.quantizers[static_cast<size_t>(q.id)].sqnr_db = quant_sums[static_cast<size_t>(q.id)].db();
  }
  for (size_t o = 0; o < fg.outputs().size(); ++o) {
    rep.outputs.push_back({fg.value(fg.outputs()[o]).name, output_sums[o].db()});
  }
  rep.output_sqnr_db = all_outputs.db();
  return rep;
}

}  // namespace qe

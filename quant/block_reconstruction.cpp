#include "quant/block_reconstruction.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <unordered_map>

#include "engine/session.h"
#include "quant/layer_problem.h"
#include "quant/mixed/backprop.h"

namespace qe {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kZeta = 1.1, kGamma = -0.1;  // the rectified sigmoid's stretch (AdaRound)
constexpr int64_t kEvalSamples = 256;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Per-sample rows of one value over every cached image: [samples × per_sample] floats.
struct SampleCache {
  Shape sample_shape;  // without the batch dimension
  int64_t per_sample = 0, samples = 0;
  std::vector<float> data;

  Status append(const Tensor& t, const std::string& what) {
    if (t.dtype() != DType::kF32 || t.shape().rank() < 1) {
      return invalid_argument("block reconstruction: ", what, " is not a batched float tensor");
    }
    const Shape s(std::vector<int64_t>(t.shape().dims().begin() + 1, t.shape().dims().end()));
    if (samples == 0) {
      sample_shape = s;
      per_sample = s.numel();
    } else if (s != sample_shape) {
      return invalid_argument("block reconstruction: ", what, " changes shape between batches (", sample_shape.to_string(),
                              " then ", s.to_string(), ")");
    }
    data.insert(data.end(), t.data<float>(), t.data<float>() + t.numel());
    samples += t.shape()[0];
    return Status::ok();
  }

  Tensor gather(const std::vector<int64_t>& rows) const {
    std::vector<int64_t> dims = {static_cast<int64_t>(rows.size())};
    dims.insert(dims.end(), sample_shape.dims().begin(), sample_shape.dims().end());
    Tensor t(DType::kF32, Shape(dims));
    float* dst = t.data<float>();
    for (size_t i = 0; i < rows.size(); ++i) {
      std::copy_n(data.data() + rows[i] * per_sample, per_sample, dst + static_cast<int64_t>(i) * per_sample);
    }
    return t;
  }
};

// The value the block's first nodes read in the quantized graph: the activation quantizer's
// output where the float value feeds one (the `full` policy's producer-side quantizer).
Result<std::string> quantized_input_name(const Graph& quant_graph, const std::string& float_name) {
  const ValueId v = quant_graph.find_value(float_name);
  if (v == kNoValue) return internal_error("block reconstruction: value '", float_name, "' is missing from the quantized graph");
  const Value& val = quant_graph.value(v);
  if (val.uses.size() == 1 && val.uses[0].input_index == 0) {
    const Node& n = quant_graph.node(val.uses[0].node);
    if (n.op == OpKind::kFakeQuant) return quant_graph.value(n.outputs[0]).name;
  }
  return float_name;
}

// The float graph restricted to one block: its input becomes the only graph input, its output
// the only graph output (the differentiable executor then sees nothing else).
Graph block_graph(const Graph& float_graph, const BlockSpan& span) {
  Graph g = float_graph;
  const ValueId in = g.find_value(span.input);
  ValueId block_in = in;
  if (!g.is_graph_input(in)) {
    const Value src = g.value(in);
    block_in = g.add_value(g.unique_value_name(span.input + "_block_input"), src.dtype, src.shape, src.shape_known);
    const std::vector<Use> uses = g.value(in).uses;
    for (const Use& u : uses) g.set_node_input(u.node, u.input_index, block_in);
  }
  const ValueId out = g.find_value(span.output);
  g.set_inputs({block_in});
  g.set_outputs({out});
  // Only the nodes between the two ends stay (a session validates every live node).
  std::vector<bool> needed(g.num_nodes(), false);
  std::vector<ValueId> stack = {out};
  while (!stack.empty()) {
    const NodeId p = g.value(stack.back()).producer;
    stack.pop_back();
    if (p == kNoNode || needed[static_cast<size_t>(p)]) continue;
    needed[static_cast<size_t>(p)] = true;
    for (ValueId in : g.node(p).inputs) {
      if (in != kNoValue) stack.push_back(in);
    }
  }
  for (size_t id = 0; id < g.num_nodes(); ++id) {
    if (g.node(static_cast<NodeId>(id)).alive && !needed[id]) g.remove_node(static_cast<NodeId>(id));
  }
  return g;
}

// One layer's rounding variables: where each weight sits on its grid, and the slice of V.
struct LayerRounding {
  const RoundingTarget* target = nullptr;
  Shape shape;        // the weight's
  LayerProblem grid;  // w, scale, zero_point, min/max, rounding of every element (rows = 1)
  std::vector<double> floor_q;
  std::vector<float> start;  // the rounding the block starts from and is measured against
  std::vector<double> h_start;  // per free element: h(V) at the start
  size_t offset = 0;  // into V
  std::vector<size_t> free_index;  // elements with both floor_q and floor_q + 1 on the grid
};

// `current`: the weights on the grid to start from.
Result<LayerRounding> layer_rounding(const Graph& float_graph, const RoundingTarget& t, const Tensor& current) {
  LayerRounding r;
  r.target = &t;
  const Tensor& w = float_graph.value(t.weight).constant;
  r.shape = w.shape();
  LayerProblem& p = r.grid;
  p.rows = 1;
  p.k = w.numel();
  p.w.assign(w.data<float>(), w.data<float>() + w.numel());
  QE_ASSIGN_OR_RETURN(p.scale, broadcast_to(t.params.scale, w.shape()));
  QE_ASSIGN_OR_RETURN(p.zero_point, broadcast_to(t.params.zero_point, w.shape()));
  p.min_int = t.params.min_int();
  p.max_int = t.params.max_int();
  p.rounding = t.params.rounding;
  const size_t n = p.w.size();
  r.floor_q.resize(n);
  if (current.shape() != w.shape() || current.dtype() != DType::kF32) {
    return internal_error("block reconstruction: the quantized graph's weight has shape ", current.shape().to_string());
  }
  r.start.assign(current.data<float>(), current.data<float>() + n);
  for (size_t i = 0; i < n; ++i) {
    const double fl = std::floor(static_cast<double>(p.w[i] / p.scale[i]));
    r.floor_q[i] = fl + p.zero_point[i];
    if (r.floor_q[i] < static_cast<double>(p.min_int) || r.floor_q[i] + 1 > static_cast<double>(p.max_int)) continue;
    const double q = grid_integer(p, static_cast<int64_t>(i), r.start[i]);
    if (q != r.floor_q[i] && q != r.floor_q[i] + 1) continue;  // elsewhere on the grid: kept as it is
    r.free_index.push_back(i);
    r.h_start.push_back(q == r.floor_q[i] ? 0.35 : 0.65);
  }
  return r;
}

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double rectified(double v) { return std::clamp(sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0, 1.0); }

class BlockSolver {
 public:
  BlockSolver(const BlockReconstructionOptions& o, Backprop& bp, std::vector<LayerRounding>& layers,
              const SampleCache& x, const SampleCache& y, uint64_t seed)
      : o_(o), bp_(bp), layers_(layers), x_(x), y_(y), rng_(seed) {
    size_t n = 0;
    for (LayerRounding& l : layers_) {
      l.offset = n;
      n += l.free_index.size();
    }
    v_.resize(n);
    for (const LayerRounding& l : layers_) {
      for (size_t j = 0; j < l.free_index.size(); ++j) {
        const double p = std::clamp((l.h_start[j] - kGamma) / (kZeta - kGamma), 1e-4, 1 - 1e-4);
        v_[l.offset + j] = static_cast<float>(std::log(p / (1 - p)));
      }
    }
    const int64_t b = std::min<int64_t>(o_.batch_size, x_.samples);
    batch_ = std::max<int64_t>(1, b);
    order_.resize(static_cast<size_t>(x_.samples));
    std::iota(order_.begin(), order_.end(), 0);
    cursor_ = order_.size();
  }

  int64_t weights() const { return static_cast<int64_t>(v_.size()); }

  // Soft weights (hard = false: s·(floor + h(V) − z)) or the rounded ones (h(V) ≥ 0.5).
  std::vector<Tensor> weights_tensor(bool hard) const {
    std::vector<Tensor> out;
    for (const LayerRounding& l : layers_) {
      std::vector<float> w = l.start;
      for (size_t j = 0; j < l.free_index.size(); ++j) {
        const size_t i = l.free_index[j];
        const double h = rectified(v_[l.offset + j]);
        const double q = l.floor_q[i] + (hard ? (h >= 0.5 ? 1.0 : 0.0) : h);
        w[i] = hard ? grid_value(l.grid, static_cast<int64_t>(i), q)
                    : static_cast<float>((q - l.grid.zero_point[i]) * l.grid.scale[i]);
      }
      out.push_back(Tensor::from_vector(l.shape, w));
    }
    return out;
  }

  std::vector<Tensor> start_tensors() const {
    std::vector<Tensor> out;
    for (const LayerRounding& l : layers_) out.push_back(Tensor::from_vector(l.shape, l.start));
    return out;
  }

  // The reconstruction loss (per image) of `w` on the first kEvalSamples cached images.
  Result<double> evaluate(const std::vector<Tensor>& w) {
    QE_RETURN_IF_ERROR(set_weights(w));
    const int64_t n = std::min(kEvalSamples, x_.samples);
    double total = 0;
    for (int64_t s = 0; s < n; s += batch_) {
      std::vector<int64_t> rows;
      for (int64_t i = s; i < std::min(n, s + batch_); ++i) rows.push_back(i);
      const Tensor target = y_.gather(rows);
      QE_ASSIGN_OR_RETURN(LossGradient lg, bp_.squared_error_gradient({x_.gather(rows)}, target, loss_scale(target)));
      total += lg.loss * static_cast<double>(rows.size());
    }
    return total / static_cast<double>(n);
  }

  Status optimise() {
    std::vector<double> m(v_.size(), 0.0), s(v_.size(), 0.0);
    const int steps = o_.iterations;
    const int warm = static_cast<int>(o_.warmup * steps);
    constexpr double kB1 = 0.9, kB2 = 0.999, kEps = 1e-8;
    std::vector<double> grad(v_.size());
    for (int t = 0; t < steps; ++t) {
      const std::vector<int64_t> rows = next_batch();
      QE_RETURN_IF_ERROR(set_weights(weights_tensor(false)));
      const Tensor target = y_.gather(rows);
      QE_ASSIGN_OR_RETURN(LossGradient lg, bp_.squared_error_gradient({x_.gather(rows)}, target, loss_scale(target)));
      const bool regularise = t >= warm;
      const double beta = o_.beta_end + (o_.beta_start - o_.beta_end) *
                                            std::max(0.0, 1.0 - static_cast<double>(t - warm) / std::max(1, steps - warm));
      for (size_t li = 0; li < layers_.size(); ++li) {
        const LayerRounding& l = layers_[li];
        const float* gw = lg.gradients[li].data<float>();
        for (size_t j = 0; j < l.free_index.size(); ++j) {
          const size_t i = l.free_index[j];
          const double v = v_[l.offset + j];
          const double sg = sigmoid(v);
          const double raw = sg * (kZeta - kGamma) + kGamma;
          const double dh = raw > 0 && raw < 1 ? sg * (1 - sg) * (kZeta - kGamma) : 0.0;
          double g = static_cast<double>(gw[i]) * l.grid.scale[i] * dh;
          if (regularise && dh > 0) {
            const double u = 2 * raw - 1;
            const double a = std::abs(u);
            g += o_.reg_weight * -beta * std::pow(a, beta - 1) * (u >= 0 ? 1.0 : -1.0) * 2 * dh;
          }
          grad[l.offset + j] = g;
        }
      }
      const double c1 = 1 - std::pow(kB1, t + 1), c2 = 1 - std::pow(kB2, t + 1);
      for (size_t k = 0; k < v_.size(); ++k) {
        m[k] = kB1 * m[k] + (1 - kB1) * grad[k];
        s[k] = kB2 * s[k] + (1 - kB2) * grad[k] * grad[k];
        v_[k] -= static_cast<float>(o_.learning_rate * (m[k] / c1) / (std::sqrt(s[k] / c2) + kEps));
      }
    }
    return Status::ok();
  }


 private:
  Status set_weights(const std::vector<Tensor>& w) {
    for (size_t i = 0; i < w.size(); ++i) QE_RETURN_IF_ERROR(bp_.set_weight(i, w[i]));
    return Status::ok();
  }

  // BRECQ's reconstruction term: a sum over channels (dimension 1), a mean over everything else.
  static double loss_scale(const Tensor& target) {
    const int64_t channels = target.shape().rank() >= 2 ? target.shape()[1] : 1;
    return static_cast<double>(channels) / static_cast<double>(std::max<int64_t>(1, target.numel()));
  }

  std::vector<int64_t> next_batch() {
    std::vector<int64_t> rows;
    while (static_cast<int64_t>(rows.size()) < batch_) {
      if (cursor_ >= order_.size()) {
        std::shuffle(order_.begin(), order_.end(), rng_);
        cursor_ = 0;
      }
      rows.push_back(order_[cursor_++]);
    }
    return rows;
  }

  const BlockReconstructionOptions& o_;
  Backprop& bp_;
  std::vector<LayerRounding>& layers_;
  const SampleCache& x_;
  const SampleCache& y_;
  std::mt19937_64 rng_;
  std::vector<float> v_;
  int64_t batch_ = 1;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
};

// The differentiable executor must compute the block as the engine does (same padding, same
// activation functions); a difference would make the learned rounding optimise another function.
Status check_against_engine(const Graph& block, Backprop& bp, const SampleCache& x, const std::string& where) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < std::min<int64_t>(4, x.samples); ++i) rows.push_back(i);
  const Tensor input = x.gather(rows);
  QE_ASSIGN_OR_RETURN(auto session, Session::create(block));
  QE_ASSIGN_OR_RETURN(std::vector<Tensor> engine, session->run({input}));
  const Tensor& want = engine.at(0);
  QE_ASSIGN_OR_RETURN(LossGradient lg, bp.squared_error_gradient({input}, want, 1.0));
  const Tensor& got = bp.last_output();
  double err = 0, ref = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double d = double(got.data<float>()[i]) - want.data<float>()[i];
    err += d * d;
    ref += double(want.data<float>()[i]) * want.data<float>()[i];
  }
  if (!(err <= 1e-8 * std::max(ref, 1e-30))) {
    return internal_error(where, "the differentiable executor's output differs from the engine's (relative squared error ",
                          err / std::max(ref, 1e-30), ")");
  }
  return Status::ok();
}

Status check_options(const BlockReconstructionOptions& o) {
  if (o.iterations < 0) return invalid_argument("block reconstruction: iterations ", o.iterations, " < 0");
  if (o.batch_size < 1) return invalid_argument("block reconstruction: batch size ", o.batch_size, " < 1");
  if (o.max_layers < 1) return invalid_argument("block reconstruction: max_layers ", o.max_layers, " < 1");
  if (!(o.reg_weight >= 0) || !std::isfinite(o.reg_weight)) {
    return invalid_argument("block reconstruction: reg_weight ", o.reg_weight, " must be finite and >= 0");
  }
  if (!(o.beta_start >= 1) || !(o.beta_end >= 1) || !std::isfinite(o.beta_start) || !std::isfinite(o.beta_end)) {
    return invalid_argument("block reconstruction: beta range must be finite and >= 1");
  }
  if (!(o.warmup >= 0 && o.warmup <= 1)) return invalid_argument("block reconstruction: warmup ", o.warmup, " not in [0, 1]");
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return invalid_argument("block reconstruction: learning_rate ", o.learning_rate, " must be finite and > 0");
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<BlockSpan>> partition_blocks(const Graph& g, const std::vector<NodeId>& layers, int max_layers,
                                                std::vector<NodeId>* outside) {
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  const std::set<NodeId> is_layer(layers.begin(), layers.end());
  std::vector<int64_t> remaining(g.num_values(), 0);
  auto flowing = [&](ValueId v) { return v != kNoValue && !g.value(v).is_constant(); };
  for (NodeId id : order) {
    for (ValueId in : g.node(id).inputs) {
      if (flowing(in)) ++remaining[static_cast<size_t>(in)];
    }
  }
  for (ValueId o : g.outputs()) remaining[static_cast<size_t>(o)] += int64_t{1} << 40;  // live to the end
  std::set<ValueId> live;
  for (ValueId in : g.inputs()) {
    if (flowing(in) && remaining[static_cast<size_t>(in)] > 0) live.insert(in);
  }
  // cuts[k]: a value all later nodes depend on alone, and the order position where they start.
  struct Cut {
    ValueId value;
    size_t position;
  };
  std::vector<Cut> cuts;
  if (live.size() == 1) cuts.push_back({*live.begin(), 0});
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = g.node(order[i]);
    for (ValueId in : n.inputs) {
      if (flowing(in) && --remaining[static_cast<size_t>(in)] == 0) live.erase(in);
    }
    for (ValueId o : n.outputs) {
      if (o != kNoValue && remaining[static_cast<size_t>(o)] > 0) live.insert(o);
    }
    if (live.size() == 1 && (cuts.empty() || cuts.back().value != *live.begin())) cuts.push_back({*live.begin(), i + 1});
  }
  auto layers_in = [&](size_t from, size_t to) {
    std::vector<NodeId> found;
    for (size_t i = from; i < to && i < order.size(); ++i) {
      if (is_layer.count(order[i])) found.push_back(order[i]);
    }
    return found;
  };
  if (outside) {
    *outside = layers_in(0, cuts.empty() ? order.size() : cuts.front().position);
    if (!cuts.empty()) {
      for (NodeId id : layers_in(cuts.back().position, order.size())) outside->push_back(id);
    }
  }
  std::vector<BlockSpan> blocks;
  bool open = false;
  BlockSpan current;
  std::string last_layer_end;  // where the open block's last weight layer's piece ends
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    const std::vector<NodeId> piece = layers_in(cuts[k].position, cuts[k + 1].position);
    const std::string from = g.value(cuts[k].value).name, to = g.value(cuts[k + 1].value).name;
    if (!open) {
      if (piece.empty()) continue;  // nothing to learn before the first weight layer
      current = BlockSpan{from, to, piece};
      last_layer_end = to;
      open = true;
      continue;
    }
    if (piece.empty() || static_cast<int>(current.layers.size() + piece.size()) <= max_layers) {
      current.output = to;
      current.layers.insert(current.layers.end(), piece.begin(), piece.end());
      if (!piece.empty()) last_layer_end = to;
      continue;
    }
    blocks.push_back(current);
    current = BlockSpan{from, to, piece};
    last_layer_end = to;
  }
  if (open) {
    current.output = last_layer_end;  // a trailing Softmax or Flatten has nothing to learn
    blocks.push_back(current);
  }
  return blocks;
}

Result<LayerSequentialReport> reconstruct_blocks(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                                 const BatchSourceFactory& batches,
                                                 const BlockReconstructionOptions& options) {
  QE_RETURN_IF_ERROR(check_options(options));
  const auto start = Clock::now();
  LayerSequentialReport report;
  QE_ASSIGN_OR_RETURN(const std::vector<RoundingTarget> targets,
                      find_rounding_targets(float_graph, quant_graph, plan, report.skipped));
  std::unordered_map<NodeId, size_t> target_of;
  std::vector<NodeId> layer_nodes;
  for (size_t i = 0; i < targets.size(); ++i) {
    target_of[targets[i].node] = i;
    layer_nodes.push_back(targets[i].node);
  }
  std::vector<NodeId> outside;
  QE_ASSIGN_OR_RETURN(const std::vector<BlockSpan> spans,
                      partition_blocks(float_graph, layer_nodes, options.max_layers, &outside));
  for (NodeId id : outside) {
    report.skipped.push_back(float_graph.node(id).name + ": outside every block (the graph never narrows to one value around it)");
  }
  for (size_t b = 0; b < spans.size(); ++b) {
    const BlockSpan& span = spans[b];
    const auto t_block = Clock::now();
    std::string names;
    for (NodeId id : span.layers) names += (names.empty() ? "" : ", ") + float_graph.node(id).name;
    const std::string where = "block reconstruction of " + span.input + " -> " + span.output + " (" + names + "): ";
    QE_ASSIGN_OR_RETURN(const std::string quant_in, quantized_input_name(quant_graph, span.input));
    QE_ASSIGN_OR_RETURN(auto quant_prefix, prefix_session(quant_graph, quant_in, options.num_threads));
    QE_ASSIGN_OR_RETURN(auto float_prefix, prefix_session(float_graph, span.output, options.num_threads));
    SampleCache x, y;
    QE_ASSIGN_OR_RETURN(BatchSource source, batches());
    std::vector<Tensor> batch;
    for (;;) {
      QE_ASSIGN_OR_RETURN(bool more, source(batch));
      if (!more) break;
      QE_ASSIGN_OR_RETURN(Tensor xq, prefix_value(quant_prefix.get(), quant_graph, quant_in, batch));
      QE_ASSIGN_OR_RETURN(Tensor yf, prefix_value(float_prefix.get(), float_graph, span.output, batch));
      QE_RETURN_IF_ERROR(x.append(xq, "the block input '" + quant_in + "'"));
      QE_RETURN_IF_ERROR(y.append(yf, "the block output '" + span.output + "'"));
    }
    if (x.samples == 0) return invalid_argument("block reconstruction: the calibration data gave no batch");
    if (x.samples != y.samples) return internal_error(where, x.samples, " inputs for ", y.samples, " outputs");
    quant_prefix.reset();
    float_prefix.reset();
    ++report.passes;
    report.samples = x.samples;
    report.peak_stats_bytes = std::max<int64_t>(report.peak_stats_bytes,
                                                static_cast<int64_t>((x.data.size() + y.data.size()) * sizeof(float)));

    std::vector<LayerRounding> layers;
    std::vector<std::string> weight_names;
    for (NodeId id : span.layers) {
      const RoundingTarget& t = targets[target_of.at(id)];
      QE_ASSIGN_OR_RETURN(LayerRounding l, layer_rounding(float_graph, t, quant_graph.value(t.weight).constant));
      layers.push_back(std::move(l));
      weight_names.push_back(float_graph.value(t.weight).name);
    }
    BackpropOptions bo;
    bo.num_threads = options.num_threads;
    bo.loss = BackpropLoss::kSquaredError;
    const Graph block = block_graph(float_graph, span);
    Result<Backprop> bp = Backprop::create(block, weight_names, bo);
    if (!bp.is_ok()) return bp.status().with_context(where);
    QE_RETURN_IF_ERROR(check_against_engine(block, *bp, x, where));
    BlockSolver solver(options, *bp, layers, x, y, options.seed + b);
    LayerRoundingRecord record;
    record.node = names;
    record.groups = 1;
    record.rows = static_cast<int64_t>(layers.size());
    record.k = solver.weights();
    const std::vector<Tensor> nearest = solver.start_tensors();
    Result<double> loss_nearest = solver.evaluate(nearest);
    if (!loss_nearest.is_ok()) return loss_nearest.status().with_context(where);
    Status st = solver.optimise();
    if (!st.is_ok()) return st.with_context(where);
    const std::vector<Tensor> learned = solver.weights_tensor(true);
    Result<double> loss_learned = solver.evaluate(learned);
    if (!loss_learned.is_ok()) return loss_learned.status().with_context(where);
    const bool keep = *loss_learned <= *loss_nearest;
    record.error_nearest = *loss_nearest;
    record.error_solved = keep ? *loss_learned : *loss_nearest;
    for (size_t i = 0; i < layers.size(); ++i) {
      quant_graph.set_constant(layers[i].target->weight, keep ? learned[i] : nearest[i]);
    }
    if (!keep) {
      report.skipped.push_back(names + ": the learned rounding reconstructed the block worse than the one it started from (" +
                               std::to_string(*loss_learned) + " against " + std::to_string(*loss_nearest) + "); kept that");
    }
    record.seconds = seconds_since(t_block);
    report.layers.push_back(record);
    if (options.progress) options.progress(static_cast<int>(b + 1), static_cast<int>(spans.size()));
  }
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace qe

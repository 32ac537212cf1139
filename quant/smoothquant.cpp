#include "quant/smoothquant.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "engine/session.h"
#include "graph/schema.h"
#include "graph/verifier.h"
#include "quant/session_values.h"

namespace qe {

namespace {

// Factors outside this range come from near-dead channels; clamping keeps the rescaled
// weights and activations far from float over- and underflow.
constexpr double kMinFactor = 1e-5;
constexpr double kMaxFactor = 1e5;

// A layer that reads an activation at input 0 through a constant weight at input 1.
struct Sink {
  NodeId node = kNoNode;
  int64_t channels = 0;  // input channels the weight expects
  int axis = 0;          // where they live in the activation
};

struct Group {
  ValueId activation = kNoValue;
  std::vector<Sink> sinks;  // in topological order
};

bool is_f32_constant(const Graph& g, ValueId v) {
  return v != kNoValue && g.value(v).is_constant() && g.value(v).constant.dtype() == DType::kF32;
}

// The input channel of every element of a sink's weight, as `visit(element, channel)`.
template <typename Visit>
Status for_each_input_channel(const Graph& g, NodeId node, const Tensor& w, Visit visit) {
  const Node& n = g.node(node);
  const Shape& s = w.shape();
  if (n.op == OpKind::kConv) {
    QE_ASSIGN_OR_RETURN(int64_t group, n.attrs.get_int("group", 1));
    const int64_t out_c = s[0], in_per_group = s[1];
    const int64_t taps = w.numel() / (out_c * in_per_group);
    const int64_t out_per_group = out_c / group;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const int64_t o = i / (in_per_group * taps), local = (i / taps) % in_per_group;
      visit(i, (o / out_per_group) * in_per_group + local);
    }
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(int64_t trans_b, n.op == OpKind::kGemm ? n.attrs.get_int("transB", 0) : Result<int64_t>(0));
  const int64_t cols = s[1];
  for (int64_t i = 0; i < w.numel(); ++i) visit(i, trans_b ? i % cols : i / cols);
  return Status::ok();
}

// The output channel of every element of a producer's weight ([O, ...] for Conv, B for
// Gemm / MatMul), as `visit(element, channel)`.
template <typename Visit>
Status for_each_output_channel(const Node& n, const Tensor& w, Visit visit) {
  const Shape& s = w.shape();
  if (n.op == OpKind::kConv) {
    const int64_t per_channel = w.numel() / s[0];
    for (int64_t i = 0; i < w.numel(); ++i) visit(i, i / per_channel);
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(int64_t trans_b, n.op == OpKind::kGemm ? n.attrs.get_int("transB", 0) : Result<int64_t>(0));
  const int64_t cols = s[1];
  for (int64_t i = 0; i < w.numel(); ++i) visit(i, trans_b ? i / cols : i % cols);
  return Status::ok();
}

// Classifies a node: a Sink, or a reason it is not one ("" when the node is no candidate at all).
Result<Sink> classify(const Graph& g, NodeId id, std::string* reason) {
  const Node& n = g.node(id);
  reason->clear();
  if (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul) return Sink{};
  if (n.inputs.size() < 2 || !is_f32_constant(g, n.inputs[1])) return Sink{};  // e.g. attention's X · Kᵀ
  const Value& x = g.value(n.inputs[0]);
  const Tensor& w = g.value(n.inputs[1]).constant;
  Sink sink;
  sink.node = id;
  if (x.is_constant()) {
    *reason = "constant input";
    return Sink{};
  }
  if (x.dtype != DType::kF32 || !x.shape_known) {
    *reason = "input is not a float tensor of known rank";
    return Sink{};
  }
  const int rank = static_cast<int>(x.shape.rank());
  if (n.op == OpKind::kConv) {
    QE_ASSIGN_OR_RETURN(int64_t group, n.attrs.get_int("group", 1));
    if (w.shape().rank() < 3 || rank < 3) {
      *reason = "unexpected conv rank";
      return Sink{};
    }
    // Depthwise convs are not targets (SmoothQuant smooths the inputs of channel-mixing
    // layers): each filter sees a single input channel, so there is no weight column whose
    // range could absorb an outlier channel on behalf of the others — the factor would only
    // be moved back and forth between channel j and filter j.
    if (group > 1 && w.shape()[1] == 1) {
      *reason = "depthwise conv";
      return Sink{};
    }
    sink.channels = w.shape()[1] * group;
    sink.axis = 1;
  } else if (n.op == OpKind::kGemm) {
    QE_ASSIGN_OR_RETURN(int64_t trans_a, n.attrs.get_int("transA", 0));
    QE_ASSIGN_OR_RETURN(int64_t trans_b, n.attrs.get_int("transB", 0));
    if (trans_a != 0 || rank != 2 || w.shape().rank() != 2) {
      *reason = "Gemm with transA or a non-matrix operand";
      return Sink{};
    }
    sink.channels = trans_b ? w.shape()[1] : w.shape()[0];
    sink.axis = 1;
  } else {
    if (w.shape().rank() != 2 || rank < 1) {
      *reason = "MatMul weight is not rank 2";
      return Sink{};
    }
    sink.channels = w.shape()[0];
    sink.axis = rank - 1;
  }
  if (x.shape[static_cast<size_t>(sink.axis)] >= 0 && x.shape[static_cast<size_t>(sink.axis)] != sink.channels) {
    *reason = "input channels do not match the weight";
    return Sink{};
  }
  return sink;
}

// max |W| over every element that multiplies input channel j, for each j.
Result<std::vector<double>> weight_channel_abs_max(const Graph& g, const Sink& sink) {
  const Tensor& w = g.value(g.node(sink.node).inputs[1]).constant;
  std::vector<double> m(static_cast<size_t>(sink.channels), 0.0);
  const float* d = w.data<float>();
  QE_RETURN_IF_ERROR(for_each_input_channel(g, sink.node, w, [&](int64_t i, int64_t c) {
    m[static_cast<size_t>(c)] = std::max(m[static_cast<size_t>(c)], static_cast<double>(std::fabs(d[i])));
  }));
  return m;
}

// Puts `t` at `node`'s input `index`. A constant read elsewhere too gets a private copy, so
// no other reader changes.
void replace_input_constant(Graph& g, NodeId node, int index, Tensor t) {
  const ValueId v = g.node(node).inputs[static_cast<size_t>(index)];
  const Value& val = g.value(v);
  if (val.uses.size() == 1 && !g.is_graph_output(v) && !g.is_graph_input(v)) {
    g.set_constant(v, std::move(t));
    return;
  }
  const ValueId copy = g.add_constant(g.unique_value_name(val.name + "/smoothed"), std::move(t));
  g.set_node_input(node, index, copy);
}

// c · f[j] along `axis` of a value of rank `rank` that c broadcasts against (numpy rules); a
// size-1 dim on that axis is expanded. Undefined when c is not a float constant that fits.
Tensor scale_broadcast_constant(const Tensor& c, size_t rank, size_t axis, const std::vector<float>& f) {
  if (c.dtype() != DType::kF32 || c.shape().rank() > rank) return Tensor();
  const size_t out_rank = std::max(c.shape().rank(), rank - axis);
  std::vector<int64_t> dims(out_rank - c.shape().rank(), 1);
  dims.insert(dims.end(), c.shape().begin(), c.shape().end());
  const size_t pos = axis - (rank - out_rank);
  const int64_t channels = static_cast<int64_t>(f.size());
  const int64_t old_dim = dims[pos];
  if (old_dim != 1 && old_dim != channels) return Tensor();
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < pos; ++i) outer *= dims[i];
  for (size_t i = pos + 1; i < dims.size(); ++i) inner *= dims[i];
  dims[pos] = channels;
  Tensor out(DType::kF32, Shape(dims));
  const float* src = c.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < channels; ++j) {
      const int64_t from = (o * old_dim + (old_dim == 1 ? 0 : j)) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[(o * channels + j) * inner + i] = src[from + i] * f[static_cast<size_t>(j)];
    }
  }
  return out;
}

struct ConstantEdit {
  NodeId node;
  int input;
  Tensor tensor;
};

// The weight (and bias) of a Conv / Gemm / MatMul with output channel j scaled by f[j].
Result<bool> plan_output_channel_scaling(const Graph& g, const Node& n, const std::vector<float>& f,
                                         std::vector<ConstantEdit>& edits) {
  if (!is_f32_constant(g, n.inputs[1])) return false;
  const Tensor& w = g.value(n.inputs[1]).constant;
  if (w.shape().rank() < 2) return false;
  Tensor scaled = w.clone();
  float* d = scaled.data<float>();
  bool fits = true;
  QE_RETURN_IF_ERROR(for_each_output_channel(n, w, [&](int64_t i, int64_t c) {
    if (c >= static_cast<int64_t>(f.size())) {
      fits = false;
      return;
    }
    d[i] *= f[static_cast<size_t>(c)];
  }));
  const int64_t outputs = n.op == OpKind::kConv ? w.shape()[0] : 0;
  if (!fits || (n.op == OpKind::kConv && outputs != static_cast<int64_t>(f.size()))) return false;
  edits.push_back({n.id, 1, scaled});
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue) {
    if (!is_f32_constant(g, n.inputs[2])) return false;
    // Conv's bias is [O]; Gemm's C broadcasts against the [M, N] output.
    const Tensor b = n.op == OpKind::kConv ? scale_broadcast_constant(g.value(n.inputs[2]).constant, 1, 0, f)
                                           : scale_broadcast_constant(g.value(n.inputs[2]).constant, 2, 1, f);
    if (!b.defined()) return false;
    edits.push_back({n.id, 2, b});
  }
  return true;
}

// Whether a Flatten / Reshape between `in` and `out` only drops or adds size-1 dims around the
// channel dim (and keeps the batch dim): then the channel axis of `in` is returned, else -1.
int trivial_reshape_axis(const Value& in, const Value& out, int out_axis, int64_t channels) {
  if (!in.shape_known || !out.shape_known || in.shape.rank() < 2 || out_axis == 0) return -1;
  if (in.shape[0] != out.shape[0]) return -1;
  for (size_t i = 1; i < out.shape.rank(); ++i) {
    if (out.shape[i] != (static_cast<int>(i) == out_axis ? channels : 1)) return -1;
  }
  int in_axis = -1;
  for (size_t i = 1; i < in.shape.rank(); ++i) {
    if (in.shape[i] == channels && in_axis < 0) {
      in_axis = static_cast<int>(i);
    } else if (in.shape[i] != 1) {
      return -1;
    }
  }
  return in_axis;
}

// Walks from the group's activation back to a node that can absorb a per-channel 1/s: the
// activation and every value on the way must be read only by the next node of the walk (the
// group's sinks for the activation itself), so nothing else sees the rescaled values.
// On success `edits` hold the constants to replace.
Result<bool> plan_fold(const Graph& g, const Group& group, int axis, const std::vector<float>& inv,
                       std::vector<ConstantEdit>& edits) {
  const int64_t channels = static_cast<int64_t>(inv.size());
  std::set<NodeId> readers;
  for (const Sink& s : group.sinks) readers.insert(s.node);
  ValueId v = group.activation;
  int a = axis;
  while (true) {
    const Value& val = g.value(v);
    if (val.is_constant() || val.producer == kNoNode || g.is_graph_output(v) || g.is_graph_input(v)) return false;
    if (!val.shape_known || val.dtype != DType::kF32 || a >= static_cast<int>(val.shape.rank())) return false;
    if (val.shape[static_cast<size_t>(a)] != channels) return false;
    for (const Use& u : val.uses) {
      // Shape reads only the dims, which the rescaling keeps (ViT's Transpose feeds one).
      if (!readers.count(u.node) && g.node(u.node).op != OpKind::kShape) return false;
    }
    const Node& p = g.node(val.producer);
    for (ValueId o : p.outputs) {
      if (o != v && o != kNoValue && (!g.value(o).uses.empty() || g.is_graph_output(o))) return false;
    }
    readers = {p.id};
    const size_t rank = val.shape.rank();
    switch (p.op) {
      case OpKind::kRelu:
      case OpKind::kLeakyRelu:  // both commute with a positive scale
        v = p.inputs[0];
        continue;
      case OpKind::kMaxPool:
      case OpKind::kGlobalMaxPool:
      case OpKind::kAveragePool:
      case OpKind::kGlobalAveragePool:  // per-channel max / mean over NCHW windows
        if (a != 1) return false;
        v = p.inputs[0];
        continue;
      case OpKind::kTranspose: {
        std::vector<int64_t> reversed;
        for (size_t i = rank; i-- > 0;) reversed.push_back(static_cast<int64_t>(i));
        QE_ASSIGN_OR_RETURN(std::vector<int64_t> perm, p.attrs.get_ints("perm", reversed));
        if (perm.size() != rank) return false;
        a = static_cast<int>(perm[static_cast<size_t>(a)]);
        v = p.inputs[0];
        continue;
      }
      case OpKind::kFlatten:
      case OpKind::kReshape:
        a = trivial_reshape_axis(g.value(p.inputs[0]), val, a, channels);
        if (a < 0) return false;
        v = p.inputs[0];
        continue;
      case OpKind::kAdd:
      case OpKind::kMul: {
        if (p.inputs.size() != 2) return false;
        const bool first_const = g.value(p.inputs[0]).is_constant(), second_const = g.value(p.inputs[1]).is_constant();
        if (first_const == second_const) return false;
        const int ci = first_const ? 0 : 1;
        const Value& other = g.value(p.inputs[static_cast<size_t>(1 - ci)]);
        if (!other.shape_known || other.shape.rank() != rank || other.shape[static_cast<size_t>(a)] != channels) return false;
        Tensor t = scale_broadcast_constant(g.value(p.inputs[static_cast<size_t>(ci)]).constant, rank, static_cast<size_t>(a), inv);
        if (!t.defined()) return false;
        edits.push_back({p.id, ci, t});
        if (p.op == OpKind::kMul) return true;  // (u · c) / s = u · (c / s)
        v = other.id;                           // (u + c) / s = u / s + c / s
        continue;
      }
      case OpKind::kLayerNormalization: {
        QE_ASSIGN_OR_RETURN(int64_t ln_axis, p.attrs.get_int("axis", -1));
        if (ln_axis != -1 && ln_axis != static_cast<int64_t>(rank) - 1) return false;
        if (a != static_cast<int>(rank) - 1 || p.inputs.size() < 2) return false;
        for (int i = 1; i < static_cast<int>(p.inputs.size()) && i <= 2; ++i) {
          if (p.inputs[static_cast<size_t>(i)] == kNoValue) continue;
          if (!is_f32_constant(g, p.inputs[static_cast<size_t>(i)])) return false;
          Tensor t = scale_broadcast_constant(g.value(p.inputs[static_cast<size_t>(i)]).constant, rank, static_cast<size_t>(a), inv);
          if (!t.defined()) return false;
          edits.push_back({p.id, i, t});
        }
        return true;
      }
      case OpKind::kConv:
        if (a != 1) return false;
        return plan_output_channel_scaling(g, p, inv, edits);
      case OpKind::kGemm:
        if (rank != 2 || a != 1) return false;
        return plan_output_channel_scaling(g, p, inv, edits);
      case OpKind::kMatMul:
        if (a != static_cast<int>(rank) - 1 || !is_f32_constant(g, p.inputs[1])) return false;
        if (g.value(p.inputs[1]).constant.shape().rank() != 2) return false;
        return plan_output_channel_scaling(g, p, inv, edits);
      default:
        return false;
    }
  }
}

// A Mul by the constant 1/s right before the group; the sinks read its output.
void insert_explicit_mul(Graph& g, const Group& group, int axis, const std::vector<float>& inv, std::string* smoothed) {
  // Copies: adding values may move the value table.
  const DType dtype = g.value(group.activation).dtype;
  const Shape act_shape = g.value(group.activation).shape;
  const bool known = g.value(group.activation).shape_known;
  const size_t rank = act_shape.rank();
  const int64_t channels = static_cast<int64_t>(inv.size());
  // [C] broadcasts along the last dim; elsewhere a [1, C, 1, ...] of the activation's rank.
  Shape shape = static_cast<size_t>(axis) + 1 == rank ? Shape{channels} : Shape(std::vector<int64_t>(rank, 1));
  if (shape.rank() != 1) shape[static_cast<size_t>(axis)] = channels;
  const std::string name = g.node(group.sinks.front().node).name + "/smooth_mul";
  const ValueId factor = g.add_constant(g.unique_value_name(name + "/inv_scale"), Tensor::from_data(DType::kF32, shape, inv.data()));
  const ValueId out = g.add_value(g.unique_value_name(name + "_output_0"), dtype, act_shape, known);
  g.add_node(OpKind::kMul, name, {group.activation, factor}, {out});
  for (const Sink& s : group.sinks) g.set_node_input(s.node, 0, out);
  *smoothed = g.value(out).name;
}

// W[:, j] · s_j for one sink.
Status scale_sink_weights(Graph& g, const Sink& sink, const std::vector<float>& factors) {
  const Tensor& w = g.value(g.node(sink.node).inputs[1]).constant;
  Tensor scaled = w.clone();
  float* d = scaled.data<float>();
  QE_RETURN_IF_ERROR(for_each_input_channel(g, sink.node, w, [&](int64_t i, int64_t c) { d[i] *= factors[static_cast<size_t>(c)]; }));
  replace_input_constant(g, sink.node, 1, scaled);
  return Status::ok();
}

// Per-channel abs-max of each tap; an empty vector for a tap that was never observed.
Result<std::vector<std::vector<float>>> collect_abs_max(const Graph& g, const std::vector<ChannelTap>& taps,
                                                        const BatchSource& source, int max_batches, int num_threads,
                                                        int64_t* samples) {
  QE_ASSIGN_OR_RETURN(auto session, Session::create(g, observing_session_options(num_threads)));
  std::unordered_map<std::string, int> by_name;
  std::vector<std::vector<int>> same_value(taps.size());  // taps after the first for one name
  for (size_t i = 0; i < taps.size(); ++i) {
    auto [it, added] = by_name.emplace(taps[i].value, static_cast<int>(i));
    if (!added) same_value[static_cast<size_t>(it->second)].push_back(static_cast<int>(i));
  }
  std::vector<std::vector<float>> maxima(taps.size());
  auto accumulate_one = [&](size_t t, const TensorView& data) -> Status {
    const Shape& s = data.shape;
    const size_t axis = static_cast<size_t>(taps[t].channel_axis);
    if (data.dtype != DType::kF32 || axis >= s.rank()) {
      return internal_error("channel statistics: value '", taps[t].value, "' has shape ", s.to_string());
    }
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; ++i) outer *= s[i];
    for (size_t i = axis + 1; i < s.rank(); ++i) inner *= s[i];
    const int64_t channels = s[axis];
    std::vector<float>& m = maxima[t];
    if (m.empty()) m.assign(static_cast<size_t>(channels), 0.0f);
    if (static_cast<int64_t>(m.size()) != channels) {
      return internal_error("channel statistics: value '", taps[t].value, "' changed its channel count");
    }
    const float* x = data.as<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t c = 0; c < channels; ++c) {
        const float* p = x + (o * channels + c) * inner;
        float best = m[static_cast<size_t>(c)];
        for (int64_t i = 0; i < inner; ++i) best = std::max(best, std::fabs(p[i]));
        m[static_cast<size_t>(c)] = best;
      }
    }
    return Status::ok();
  };
  auto accumulate = [&](int index, const TensorView& data) -> Status {
    QE_RETURN_IF_ERROR(accumulate_one(static_cast<size_t>(index), data));
    for (int other : same_value[static_cast<size_t>(index)]) QE_RETURN_IF_ERROR(accumulate_one(static_cast<size_t>(other), data));
    return Status::ok();
  };
  Status streamed = stream_watched_values(*session, by_name, source, max_batches, accumulate, samples);
  if (!streamed.is_ok()) return streamed.with_context("smoothquant statistics: ");
  return maxima;
}

}  // namespace

Result<std::vector<std::vector<float>>> measure_channel_abs_max(const Graph& g, const std::vector<ChannelTap>& taps,
                                                                const BatchSource& source, int max_batches,
                                                                int num_threads, int64_t* samples) {
  QE_ASSIGN_OR_RETURN(auto maxima, collect_abs_max(g, taps, source, max_batches, num_threads, samples));
  for (size_t i = 0; i < taps.size(); ++i) {
    if (maxima[i].empty()) return invalid_argument("channel statistics: value '", taps[i].value, "' was never observed");
  }
  return maxima;
}

Result<SmoothQuantReport> smooth_activations(Graph& g, const BatchSource& source, const SmoothQuantOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  if (!(opts.alpha >= 0.0 && opts.alpha <= 1.0)) return invalid_argument("smoothquant: alpha must be in [0, 1], got ", opts.alpha);
  SmoothQuantReport report;

  // Targets, grouped by the activation they read (in order of first reader).
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  std::vector<Group> groups;
  std::map<ValueId, size_t> group_of;
  for (NodeId id : order) {
    std::string reason;
    QE_ASSIGN_OR_RETURN(Sink sink, classify(g, id, &reason));
    if (!reason.empty()) report.skipped.push_back(describe_node(g, id) + ": " + reason);
    if (sink.node == kNoNode) continue;
    const ValueId act = g.node(id).inputs[0];
    auto [it, added] = group_of.emplace(act, groups.size());
    if (added) groups.push_back(Group{act, {}});
    groups[it->second].sinks.push_back(sink);
  }
  // Readers of one activation must agree on where its channels are.
  std::vector<Group> usable;
  for (Group& grp : groups) {
    bool agree = true;
    for (const Sink& s : grp.sinks) agree = agree && s.axis == grp.sinks[0].axis && s.channels == grp.sinks[0].channels;
    if (agree) {
      usable.push_back(std::move(grp));
      continue;
    }
    for (const Sink& s : grp.sinks) {
      report.skipped.push_back(describe_node(g, s.node) + ": readers of '" + g.value(grp.activation).name +
                               "' disagree on its channels");
    }
  }
  if (usable.empty()) {
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  }

  std::vector<ChannelTap> taps;
  for (const Group& grp : usable) taps.push_back({g.value(grp.activation).name, grp.sinks[0].axis});
  QE_ASSIGN_OR_RETURN(auto act_max, collect_abs_max(g, taps, source, opts.max_batches, opts.num_threads, &report.samples));
  if (report.samples == 0) return invalid_argument("smoothquant: the data source gave no batch");

  // Every factor is computed from the unedited graph first: each edit only rescales values
  // between its own producer and sinks, so the statistics stay valid for all groups.
  std::vector<std::vector<float>> factors(usable.size());
  for (size_t gi = 0; gi < usable.size(); ++gi) {
    const Group& grp = usable[gi];
    const size_t channels = static_cast<size_t>(grp.sinks[0].channels);
    if (act_max[gi].size() != channels) {
      const std::string why = act_max[gi].empty() ? "its input was never observed" : "observed channels differ from the weight";
      for (const Sink& s : grp.sinks) report.skipped.push_back(describe_node(g, s.node) + ": " + why);
      continue;
    }
    std::vector<double> w_max(channels, 0.0);
    for (const Sink& s : grp.sinks) {
      QE_ASSIGN_OR_RETURN(std::vector<double> m, weight_channel_abs_max(g, s));
      for (size_t j = 0; j < channels; ++j) w_max[j] = std::max(w_max[j], m[j]);
    }
    std::vector<float>& f = factors[gi];
    f.assign(channels, 1.0f);
    for (size_t j = 0; j < channels; ++j) {
      const double a = act_max[gi][j], w = w_max[j];
      if (a <= 0.0 || w <= 0.0) continue;  // a dead channel or dead weights: nothing to balance
      const double s = std::pow(a, opts.alpha) / std::pow(w, 1.0 - opts.alpha);
      f[j] = static_cast<float>(std::clamp(s, kMinFactor, kMaxFactor));
    }
  }

  for (size_t gi = 0; gi < usable.size(); ++gi) {
    if (factors[gi].empty()) continue;
    const Group& grp = usable[gi];
    const std::vector<float>& f = factors[gi];
    std::vector<float> inv(f.size());
    for (size_t j = 0; j < f.size(); ++j) inv[j] = static_cast<float>(1.0 / static_cast<double>(f[j]));
    SmoothedGroup out;
    out.activation = g.value(grp.activation).name;
    out.channel_axis = grp.sinks[0].axis;
    out.factors = f;
    std::vector<ConstantEdit> edits;
    QE_ASSIGN_OR_RETURN(bool foldable, plan_fold(g, grp, out.channel_axis, inv, edits));
    if (foldable) {
      for (ConstantEdit& e : edits) replace_input_constant(g, e.node, e.input, std::move(e.tensor));
      out.smoothed = out.activation;
      out.folded = true;
      ++report.folded;
    } else {
      insert_explicit_mul(g, grp, out.channel_axis, inv, &out.smoothed);
      ++report.explicit_muls;
    }
    for (const Sink& s : grp.sinks) {
      QE_RETURN_IF_ERROR(scale_sink_weights(g, s, f));
      out.sinks.push_back(g.node(s.node).name);
      ++report.layers;
    }
    report.groups.push_back(std::move(out));
  }

  Status st = infer_shapes(g);
  if (st.is_ok()) st = verify_graph(g);
  if (!st.is_ok()) return st.with_context("smoothed graph: ");
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace qe

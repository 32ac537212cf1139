#include "quant/equalize_regions.h"

#include <algorithm>
#include <deque>
#include <numeric>
#include <optional>
#include <set>

namespace qe {

int64_t LayerWeights::out_channel(int64_t i0, int64_t i1) const {
  if (out_axis == 0) return i0;
  return (i0 / (dim0 / group)) * dim1 + i1;
}

int64_t LayerWeights::in_channel(int64_t i0, int64_t i1) const {
  if (out_axis == 1) return i0;
  return (i0 / (dim0 / group)) * dim1 + i1;
}

namespace {

bool is_float_constant(const Graph& g, ValueId v) {
  return v != kNoValue && g.value(v).is_constant() && g.value(v).constant.dtype() == DType::kF32;
}

// A weight or bias used by another node too would be rewritten for both.
bool used_once(const Graph& g, ValueId v) { return g.value(v).uses.size() == 1; }

}  // namespace

Result<LayerWeights> describe_layer(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  LayerWeights none;
  if (n.op != OpKind::kConv && n.op != OpKind::kConvTranspose && n.op != OpKind::kGemm && n.op != OpKind::kMatMul) {
    return none;
  }
  if (n.inputs.size() < 2 || n.outputs.empty()) return none;
  if (n.inputs[0] == kNoValue || g.value(n.inputs[0]).is_constant()) return none;
  const ValueId w = n.inputs[1];
  if (!is_float_constant(g, w) || !used_once(g, w)) return none;
  const Shape& ws = g.value(w).constant.shape();
  LayerWeights l;
  l.node = id;
  l.op = n.op;
  l.weight = w;
  if (n.op == OpKind::kConv || n.op == OpKind::kConvTranspose) {
    if (ws.rank() < 3) return none;
    QE_ASSIGN_OR_RETURN(l.group, n.attrs.get_int("group", 1));
    if (l.group < 1) return none;
    l.dim0 = ws[0];
    l.dim1 = ws[1];
    if (l.dim0 <= 0 || l.dim1 <= 0 || l.dim0 % l.group != 0) return none;
    l.taps = ws.numel() / (l.dim0 * l.dim1);
    if (n.op == OpKind::kConv) {
      l.out_axis = 0;
      l.out_channels = l.dim0;
      l.in_channels = l.dim1 * l.group;
    } else {
      l.out_axis = 1;
      l.out_channels = l.dim1 * l.group;
      l.in_channels = l.dim0;
    }
  } else {
    if (ws.rank() != 2) return none;
    int64_t trans_b = 0;
    if (n.op == OpKind::kGemm) {
      QE_ASSIGN_OR_RETURN(int64_t trans_a, n.attrs.get_int("transA", 0));
      if (trans_a != 0) return none;
      QE_ASSIGN_OR_RETURN(trans_b, n.attrs.get_int("transB", 0));
    }
    l.dim0 = ws[0];
    l.dim1 = ws[1];
    l.out_axis = trans_b ? 0 : 1;
    l.out_channels = trans_b ? ws[0] : ws[1];
    l.in_channels = trans_b ? ws[1] : ws[0];
  }
  const bool has_bias_input = (n.op != OpKind::kMatMul) && n.inputs.size() > 2 && n.inputs[2] != kNoValue;
  if (has_bias_input) {
    const ValueId b = n.inputs[2];
    const Shape& bs = is_float_constant(g, b) ? g.value(b).constant.shape() : Shape();
    // One value per output channel, laid out along the last axis ([O] or Gemm's [1, N]).
    if (bs.rank() >= 1 && used_once(g, b) && bs.numel() == l.out_channels && bs[bs.rank() - 1] == l.out_channels) {
      l.bias = b;
    } else {
      l.can_be_source = false;  // a bias the per-channel scale cannot follow
    }
  }
  return l;
}

namespace {

enum class Transparent { kNone, kUnary, kPool, kAdd, kConcat, kFlatten };

bool output_unused(const Graph& g, const Node& n, size_t index) {
  return n.outputs.size() <= index || n.outputs[index] == kNoValue ||
         (g.value(n.outputs[index]).uses.empty() && !g.is_graph_output(n.outputs[index]));
}

// Ops that commute with a positive per-channel scale of their activation inputs.
Transparent transparent_kind(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.inputs.empty() || n.inputs[0] == kNoValue || n.outputs.empty()) return Transparent::kNone;
  auto rest_constant = [&] {
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      if (n.inputs[i] != kNoValue && !g.value(n.inputs[i]).is_constant()) return false;
    }
    return true;
  };
  switch (n.op) {
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kIdentity:
      return Transparent::kUnary;
    case OpKind::kDropout:
      return rest_constant() && output_unused(g, n, 1) ? Transparent::kUnary : Transparent::kNone;
    case OpKind::kMaxPool:
      return output_unused(g, n, 1) ? Transparent::kPool : Transparent::kNone;
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
      return Transparent::kPool;
    case OpKind::kAdd:
      if (n.inputs.size() != 2 || n.inputs[1] == kNoValue) return Transparent::kNone;
      if (g.value(n.inputs[0]).is_constant() || g.value(n.inputs[1]).is_constant()) return Transparent::kNone;
      return Transparent::kAdd;
    case OpKind::kConcat:
      for (ValueId v : n.inputs) {
        if (v == kNoValue || g.value(v).is_constant()) return Transparent::kNone;
      }
      return Transparent::kConcat;
    case OpKind::kFlatten:
    case OpKind::kReshape:
      return rest_constant() ? Transparent::kFlatten : Transparent::kNone;
    default:
      return Transparent::kNone;
  }
}

// Inputs of a transparent op that carry region channels.
std::vector<ValueId> activation_inputs(const Graph& g, NodeId id, Transparent kind) {
  const Node& n = g.node(id);
  if (kind == Transparent::kAdd || kind == Transparent::kConcat) return n.inputs;
  return {n.inputs[0]};
}

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int x) {
    while (parent[static_cast<size_t>(x)] != x) {
      parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
      x = parent[static_cast<size_t>(x)];
    }
    return x;
  }
  void join(int a, int b) { parent[static_cast<size_t>(find(a))] = find(b); }
};

class RegionFinder {
 public:
  explicit RegionFinder(const Graph& g) : g_(g) {}

  Result<RegionSearch> run() {
    QE_ASSIGN_OR_RETURN(auto order, g_.topological_order());
    position_.assign(g_.num_nodes(), -1);
    layers_.resize(g_.num_nodes());
    kinds_.assign(g_.num_nodes(), Transparent::kNone);
    for (size_t i = 0; i < order.size(); ++i) {
      const NodeId id = order[i];
      position_[static_cast<size_t>(id)] = static_cast<int>(i);
      QE_ASSIGN_OR_RETURN(layers_[static_cast<size_t>(id)], describe_layer(g_, id));
      kinds_[static_cast<size_t>(id)] = transparent_kind(g_, id);
    }
    std::vector<bool> seen(g_.num_nodes(), false);
    RegionSearch search;
    for (NodeId id : order) {
      const LayerWeights& l = layers_[static_cast<size_t>(id)];
      if (l.node == kNoNode || !l.can_be_source || seen[static_cast<size_t>(id)]) continue;
      Walk walk = walk_from(id);
      for (const auto& [src, value] : walk.sources) seen[static_cast<size_t>(src)] = true;
      const std::string where = "region at " + describe_node(g_, id) + ": ";
      if (walk.invalid.empty() && walk.sinks.empty()) continue;  // nothing reads the channels
      if (walk.invalid.empty()) {
        EqualizationRegion region;
        std::string why = build(walk, id, region);
        if (why.empty()) {
          search.regions.push_back(std::move(region));
          continue;
        }
        walk.invalid = why;
      }
      // A source feeding straight into one boundary op is not a candidate worth reporting.
      if (!walk.sinks.empty() || !walk.ops.empty()) search.skipped.push_back(where + walk.invalid);
    }
    return search;
  }

 private:
  struct Walk {
    std::vector<std::pair<NodeId, ValueId>> sources;
    std::vector<std::pair<NodeId, ValueId>> sinks;
    std::set<NodeId> ops;
    std::set<ValueId> values;
    std::string invalid;
  };

  bool is_layer(NodeId id) const { return layers_[static_cast<size_t>(id)].node != kNoNode; }

  Walk walk_from(NodeId seed) {
    Walk w;
    std::deque<ValueId> queue;
    auto visit = [&](ValueId v) {
      if (w.values.insert(v).second) queue.push_back(v);
    };
    auto fail = [&](const std::string& why) {
      if (w.invalid.empty()) w.invalid = why;
    };
    auto add_op = [&](NodeId op) {
      if (!w.ops.insert(op).second) return;
      for (ValueId in : activation_inputs(g_, op, kinds_[static_cast<size_t>(op)])) visit(in);
      visit(g_.node(op).outputs[0]);
    };
    visit(g_.node(seed).outputs[0]);
    while (!queue.empty()) {
      const ValueId v = queue.front();
      queue.pop_front();
      const Value& val = g_.value(v);
      if (g_.is_graph_output(v)) fail("'" + val.name + "' is a graph output");
      if (g_.is_graph_input(v) || val.producer == kNoNode) {
        fail("'" + val.name + "' is not computed inside the region");
      } else {
        const NodeId p = val.producer;
        if (is_layer(p) && val.producer_output == 0) {
          if (!layers_[static_cast<size_t>(p)].can_be_source) {
            fail(describe_node(g_, p) + " has a bias that is not one value per output channel");
          }
          if (std::find(w.sources.begin(), w.sources.end(), std::make_pair(p, v)) == w.sources.end()) {
            w.sources.emplace_back(p, v);
          }
        } else if (kinds_[static_cast<size_t>(p)] != Transparent::kNone && val.producer_output == 0) {
          add_op(p);
        } else {
          fail("'" + val.name + "' is produced by " + describe_node(g_, p) + ", which is not scale-invariant");
        }
      }
      for (const Use& u : val.uses) {
        const Transparent kind = kinds_[static_cast<size_t>(u.node)];
        if (is_layer(u.node)) {
          if (u.input_index == 0) {
            w.sinks.emplace_back(u.node, v);
          } else {
            fail("'" + val.name + "' feeds input " + std::to_string(u.input_index) + " of " + describe_node(g_, u.node));
          }
        } else if (kind != Transparent::kNone) {
          const auto ins = activation_inputs(g_, u.node, kind);
          if (std::find(ins.begin(), ins.end(), v) == ins.end()) {
            fail("'" + val.name + "' feeds a parameter input of " + describe_node(g_, u.node));
          } else {
            add_op(u.node);
          }
        } else {
          fail("'" + val.name + "' is read by " + describe_node(g_, u.node) + ", which is not scale-invariant");
        }
      }
    }
    return w;
  }

  // Channel axes, union-find of (value, channel) pairs and the classes of every layer channel.
  // Returns why the region cannot be scaled, or "" on success.
  std::string build(const Walk& w, NodeId anchor, EqualizationRegion& r) {
    r.anchor = describe_node(g_, anchor);
    r.ops.assign(w.ops.begin(), w.ops.end());
    std::sort(r.ops.begin(), r.ops.end(), [&](NodeId a, NodeId b) {
      return position_[static_cast<size_t>(a)] < position_[static_cast<size_t>(b)];
    });
    auto& axis = r.channel_axis;
    auto rank_of = [&](ValueId v) { return g_.value(v).shape_known ? static_cast<int>(g_.value(v).shape.rank()) : -1; };
    auto name_of = [&](ValueId v) { return "'" + g_.value(v).name + "'"; };
    for (const auto& [src, v] : w.sources) {
      const int rank = rank_of(v);
      if (rank < 2) return "the shape of " + name_of(v) + " is unknown";
      axis[v] = g_.node(src).op == OpKind::kMatMul ? rank - 1 : 1;
      r.values.push_back(v);
    }
    for (NodeId op : r.ops) {
      const Node& n = g_.node(op);
      const Transparent kind = kinds_[static_cast<size_t>(op)];
      const ValueId out = n.outputs[0];
      const ValueId in = n.inputs[0];
      const int rank = rank_of(out);
      if (rank < 1 || rank_of(in) < 1) return "the shape around " + describe_node(g_, op) + " is unknown";
      const int in_axis = axis.at(in);
      for (ValueId v : activation_inputs(g_, op, kind)) {
        if (axis.at(v) != in_axis) return describe_node(g_, op) + " mixes channel layouts";
      }
      int out_axis = in_axis;
      if (kind == Transparent::kPool && (in_axis != 1 || rank < 3)) {
        return describe_node(g_, op) + " pools over the channel axis";
      }
      if (kind == Transparent::kAdd && g_.value(n.inputs[0]).shape != g_.value(n.inputs[1]).shape) {
        return describe_node(g_, op) + " broadcasts its inputs";
      }
      if (kind == Transparent::kConcat) {
        int64_t cat_axis = 0;
        auto a = n.attrs.get_int("axis", 0);
        if (!a.is_ok()) return describe_node(g_, op) + ": " + a.status().message();
        cat_axis = *a < 0 ? *a + rank : *a;
        if (cat_axis != in_axis) return describe_node(g_, op) + " concatenates along another axis than channels";
      }
      if (kind == Transparent::kFlatten) {
        const Shape& is = g_.value(in).shape;
        const Shape& os = g_.value(out).shape;
        int64_t features = 1;
        for (size_t d = 1; d < is.rank(); ++d) features = is[d] > 0 && features > 0 ? features * is[d] : -1;
        if (in_axis != 1 || os.rank() != 2 || features <= 0 || os[1] != features) {
          return describe_node(g_, op) + " does not keep each channel's features contiguous";
        }
        out_axis = 1;
      }
      axis[out] = out_axis;
      r.values.push_back(out);
    }
    // Union-find over every (value, channel) slot.
    std::unordered_map<ValueId, int> base;
    std::unordered_map<ValueId, int64_t> channels;
    int total = 0;
    for (ValueId v : r.values) {
      const int64_t c = g_.value(v).shape[static_cast<size_t>(axis.at(v))];
      if (c <= 0) return "the channel count of " + name_of(v) + " is unknown";
      base[v] = total;
      channels[v] = c;
      total += static_cast<int>(c);
    }
    UnionFind uf(static_cast<size_t>(total));
    for (NodeId op : r.ops) {
      const Node& n = g_.node(op);
      const Transparent kind = kinds_[static_cast<size_t>(op)];
      const ValueId out = n.outputs[0];
      const int64_t c_out = channels.at(out);
      if (kind == Transparent::kConcat) {
        int64_t offset = 0;
        for (ValueId in : n.inputs) {
          for (int64_t c = 0; c < channels.at(in); ++c) uf.join(base.at(in) + static_cast<int>(c), base.at(out) + static_cast<int>(offset + c));
          offset += channels.at(in);
        }
        if (offset != c_out) return describe_node(g_, op) + " has inconsistent channel counts";
        continue;
      }
      for (ValueId in : activation_inputs(g_, op, kind)) {
        const int64_t c_in = channels.at(in);
        if (c_out % c_in != 0 || (kind != Transparent::kFlatten && c_out != c_in)) {
          return describe_node(g_, op) + " changes the channel count";
        }
        const int64_t spread = c_out / c_in;  // features per channel after a Flatten, else 1
        for (int64_t f = 0; f < c_out; ++f) uf.join(base.at(in) + static_cast<int>(f / spread), base.at(out) + static_cast<int>(f));
      }
    }
    std::unordered_map<int, int> class_of_root;
    auto class_of = [&](ValueId v, int64_t c) {
      const int root = uf.find(base.at(v) + static_cast<int>(c));
      auto it = class_of_root.find(root);
      if (it != class_of_root.end()) return it->second;
      const int id = static_cast<int>(class_of_root.size());
      class_of_root[root] = id;
      return id;
    };
    for (const auto& [src, v] : w.sources) {
      RegionLayer rl{layers_[static_cast<size_t>(src)], v, {}};
      if (rl.layer.out_channels != channels.at(v)) return describe_node(g_, src) + " has an unexpected output shape";
      for (int64_t c = 0; c < rl.layer.out_channels; ++c) rl.channel_class.push_back(class_of(v, c));
      r.sources.push_back(std::move(rl));
    }
    for (const auto& [sink, v] : w.sinks) {
      RegionLayer rl{layers_[static_cast<size_t>(sink)], v, {}};
      const int rank = rank_of(v);
      const int expected_axis = g_.node(sink).op == OpKind::kMatMul ? rank - 1 : 1;
      if (axis.at(v) != expected_axis) return describe_node(g_, sink) + " reads the channels along another axis";
      if (rl.layer.in_channels != channels.at(v)) return describe_node(g_, sink) + " has an unexpected input shape";
      for (int64_t c = 0; c < rl.layer.in_channels; ++c) rl.channel_class.push_back(class_of(v, c));
      r.sinks.push_back(std::move(rl));
    }
    r.num_classes = static_cast<int>(class_of_root.size());
    return "";
  }

  const Graph& g_;
  std::vector<int> position_;
  std::vector<LayerWeights> layers_;
  std::vector<Transparent> kinds_;
};

}  // namespace

Result<RegionSearch> find_equalization_regions(const Graph& g) { return RegionFinder(g).run(); }

}  // namespace qe

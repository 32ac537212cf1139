#include "quant/channel_split.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "graph/schema.h"
#include "quant/equalize_regions.h"

namespace qe {

namespace {

// What the two copies of a duplicated activation channel hold: both the original value
// (input-side split) or half of it each (output-side split).
enum class CopyMode { kIdentical, kHalved };

// New channel index → old channel index, with a multiplier per new channel.
struct ChannelMap {
  std::vector<int64_t> from;
  std::vector<float> scale;
};

struct LayerEdit {
  bool has_out = false, has_in = false;
  ChannelMap out, in;
  std::vector<float> bias_scale;  // per new output channel
  int64_t group = 0;              // 0: unchanged
};

// Copies a region receives from upstream depthwise convs: their new output layouts and the
// channel classes those copies belong to.
struct Forced {
  std::map<NodeId, std::vector<int64_t>> layouts;
  std::map<int, CopyMode> classes;
  bool empty() const { return classes.empty(); }
};

struct RegionPlan {
  std::map<NodeId, LayerEdit> edits;
  std::map<int, Forced> downstream;
  int64_t duplicated = 0;
};

std::vector<int64_t> identity_layout(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

Status merge_forced(Forced& into, const Forced& more) {
  for (const auto& [node, layout] : more.layouts) {
    if (!into.layouts.emplace(node, layout).second) return internal_error("channel split: two layouts for one depthwise conv");
  }
  for (const auto& [cls, mode] : more.classes) {
    auto [it, added] = into.classes.emplace(cls, mode);
    if (!added && it->second != mode) return internal_error("channel split: a channel copied in two ways");
  }
  return Status::ok();
}

class Splitter {
 public:
  Splitter(const Graph& g, const RegionSearch& search, SplitSide side) : g_(g), regions_(search.regions), side_(side) {
    for (size_t r = 0; r < regions_.size(); ++r) {
      for (size_t s = 0; s < regions_[r].sources.size(); ++s) {
        source_of_[regions_[r].sources[s].layer.node] = {static_cast<int>(r), static_cast<int>(s)};
      }
    }
  }

  // Regions in an order where a region comes after every region whose depthwise sinks feed it.
  std::vector<int> order() const {
    const size_t n = regions_.size();
    std::vector<std::set<int>> next(n);
    std::vector<int> pending(n, 0);
    for (size_t r = 0; r < n; ++r) {
      for (const RegionLayer& sink : regions_[r].sinks) {
        if (!sink.layer.is_depthwise()) continue;  // only depthwise sinks carry copies onward
        auto it = source_of_.find(sink.layer.node);
        if (it != source_of_.end() && it->second.first != static_cast<int>(r) && next[r].insert(it->second.first).second) {
          ++pending[static_cast<size_t>(it->second.first)];
        }
      }
    }
    std::set<int> ready;
    for (size_t r = 0; r < n; ++r) {
      if (pending[r] == 0) ready.insert(static_cast<int>(r));
    }
    std::vector<int> out;
    while (!ready.empty()) {
      const int r = *ready.begin();
      ready.erase(ready.begin());
      out.push_back(r);
      for (int b : next[static_cast<size_t>(r)]) {
        if (--pending[static_cast<size_t>(b)] == 0) ready.insert(b);
      }
    }
    // Depthwise edges follow the data flow, so there is no cycle; should one appear, its regions
    // still come last and the driver refuses copies into regions already split.
    for (size_t r = 0; r < n; ++r) {
      if (std::find(out.begin(), out.end(), static_cast<int>(r)) == out.end()) out.push_back(static_cast<int>(r));
    }
    return out;
  }

  // The classes a region splits by itself: the largest weights of the sinks' input channels
  // (input side) or of the sources' output channels (output side). A class a grouped conv
  // produces cannot be picked: the conv could only emit a copy of a channel it receives twice.
  std::set<int> choose(int ri, const Forced& forced, double ratio) const {
    const EqualizationRegion& r = regions_[static_cast<size_t>(ri)];
    if (ratio <= 0) return {};
    std::vector<double> score(static_cast<size_t>(r.num_classes), 0.0);
    std::vector<bool> allowed(static_cast<size_t>(r.num_classes), true);
    for (const RegionLayer& src : r.sources) {
      if (src.layer.group == 1) continue;
      for (int cls : src.channel_class) allowed[static_cast<size_t>(cls)] = false;
    }
    for (const auto& [cls, mode] : forced.classes) allowed[static_cast<size_t>(cls)] = false;
    const auto& layers = side_ == SplitSide::kInput ? r.sinks : r.sources;
    for (const RegionLayer& rl : layers) {
      const LayerWeights& l = rl.layer;
      const float* w = g_.value(l.weight).constant.data<float>();
      int64_t e = 0;
      for (int64_t i0 = 0; i0 < l.dim0; ++i0) {
        for (int64_t i1 = 0; i1 < l.dim1; ++i1) {
          const int64_t c = side_ == SplitSide::kInput ? l.in_channel(i0, i1) : l.out_channel(i0, i1);
          double& s = score[static_cast<size_t>(rl.channel_class[static_cast<size_t>(c)])];
          for (int64_t t = 0; t < l.taps; ++t, ++e) s = std::max(s, std::fabs(static_cast<double>(w[e])));
        }
      }
    }
    std::vector<int> candidates;
    for (int k = 0; k < r.num_classes; ++k) {
      if (allowed[static_cast<size_t>(k)] && score[static_cast<size_t>(k)] > 0) candidates.push_back(k);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int a, int b) { return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)]; });
    const size_t count = std::max<size_t>(1, static_cast<size_t>(std::llround(ratio * r.num_classes)));
    candidates.resize(std::min(count, candidates.size()));
    return {candidates.begin(), candidates.end()};
  }

  // The edits that duplicate `picks` and the forced classes of region `ri`; "" or why not.
  std::string plan(int ri, const Forced& forced, const std::set<int>& picks, RegionPlan& p) const {
    const EqualizationRegion& r = regions_[static_cast<size_t>(ri)];
    std::map<int, CopyMode> mode = forced.classes;
    for (int k : picks) mode.emplace(k, side_ == SplitSide::kInput ? CopyMode::kIdentical : CopyMode::kHalved);
    auto mode_of = [&](int cls) -> const CopyMode* {
      auto it = mode.find(cls);
      return it == mode.end() ? nullptr : &it->second;
    };
    std::map<ValueId, std::vector<int64_t>> layout;
    for (const RegionLayer& src : r.sources) {
      const LayerWeights& l = src.layer;
      const std::string name = describe_node(g_, l.node);
      if (l.op == OpKind::kConvTranspose) return name + ": ConvTranspose is not split";
      std::vector<int64_t> lay;
      if (l.group > 1) {
        auto it = forced.layouts.find(l.node);
        lay = it != forced.layouts.end() ? it->second : identity_layout(l.out_channels);
        std::vector<int> seen(static_cast<size_t>(l.out_channels), 0);
        for (int64_t o : lay) ++seen[static_cast<size_t>(o)];
        for (int64_t o = 0; o < l.out_channels; ++o) {
          if (seen[static_cast<size_t>(o)] != (mode_of(src.channel_class[static_cast<size_t>(o)]) ? 2 : 1)) {
            return name + " is grouped and cannot emit a copy of a channel it does not receive twice";
          }
        }
      } else {
        lay = identity_layout(l.out_channels);
        for (int64_t o = 0; o < l.out_channels; ++o) {
          const int cls = src.channel_class[static_cast<size_t>(o)];
          if (!mode_of(cls)) continue;
          if (forced.classes.count(cls)) return name + " shares a channel with a depthwise conv's copies";
          lay.push_back(o);
        }
        if (static_cast<int64_t>(lay.size()) > l.out_channels) {
          LayerEdit& e = p.edits[l.node];
          e.has_out = true;
          e.out.from = lay;
          for (int64_t o : lay) {
            const CopyMode* m = mode_of(src.channel_class[static_cast<size_t>(o)]);
            e.out.scale.push_back(m && *m == CopyMode::kHalved ? 0.5f : 1.0f);
          }
          e.bias_scale = e.out.scale;
        }
      }
      layout[src.value] = std::move(lay);
    }
    for (NodeId op : r.ops) {
      const Node& n = g_.node(op);
      const ValueId out = n.outputs[0];
      if (n.op == OpKind::kAdd) {
        if (layout.at(n.inputs[0]) != layout.at(n.inputs[1])) return describe_node(g_, op) + " would add differently ordered copies";
        layout[out] = layout.at(n.inputs[0]);
      } else if (n.op == OpKind::kConcat) {
        std::vector<int64_t> lay;
        int64_t offset = 0;
        for (ValueId in : n.inputs) {
          for (int64_t c : layout.at(in)) lay.push_back(offset + c);
          offset += g_.value(in).shape[static_cast<size_t>(r.channel_axis.at(in))];
        }
        layout[out] = std::move(lay);
      } else if (n.op == OpKind::kFlatten || n.op == OpKind::kReshape) {
        const ValueId in = n.inputs[0];
        const int64_t spread = g_.value(out).shape[1] / g_.value(in).shape[1];
        std::vector<int64_t> lay;
        for (int64_t c : layout.at(in)) {
          for (int64_t k = 0; k < spread; ++k) lay.push_back(c * spread + k);
        }
        layout[out] = std::move(lay);
      } else {
        layout[out] = layout.at(n.inputs[0]);
      }
    }
    for (const RegionLayer& sink : r.sinks) {
      const LayerWeights& l = sink.layer;
      const std::string name = describe_node(g_, l.node);
      const std::vector<int64_t>& lay = layout.at(sink.value);
      if (static_cast<int64_t>(lay.size()) == l.in_channels) continue;  // no copies reach it
      if (l.op == OpKind::kConvTranspose) return name + ": ConvTranspose is not split";
      LayerEdit& e = p.edits[l.node];
      if (l.group == 1) {
        e.has_in = true;
        e.in.from = lay;
        for (int64_t c : lay) {
          const CopyMode* m = mode_of(sink.channel_class[static_cast<size_t>(c)]);
          e.in.scale.push_back(m && *m == CopyMode::kIdentical ? 0.5f : 1.0f);
        }
        continue;
      }
      if (!l.is_depthwise()) return name + " is a grouped (not depthwise) conv";
      // Each input copy gets its own group with the original filters, so the copies stay
      // identical (input side) or halves (output side: the bias is halved too); the region the
      // conv is a source of carries them on.
      auto down = source_of_.find(l.node);
      if (down == source_of_.end()) return name + " is depthwise and its output is not in a region that can take the copies";
      if (down->second.first == ri) return name + " reads and feeds the same region";
      if (e.has_out) return name + " is edited twice";
      const int64_t multiplier = l.out_channels / l.in_channels;
      const RegionLayer& as_source = regions_[static_cast<size_t>(down->second.first)].sources[static_cast<size_t>(down->second.second)];
      Forced& f = p.downstream[down->second.first];
      e.has_out = true;
      e.group = static_cast<int64_t>(lay.size());
      std::vector<int64_t> copies(static_cast<size_t>(l.in_channels), 0);
      for (int64_t c : lay) ++copies[static_cast<size_t>(c)];
      for (int64_t c : lay) {
        const CopyMode* m = mode_of(sink.channel_class[static_cast<size_t>(c)]);
        for (int64_t j = 0; j < multiplier; ++j) {
          const int64_t o = c * multiplier + j;
          e.out.from.push_back(o);
          e.out.scale.push_back(1.0f);
          e.bias_scale.push_back(m && *m == CopyMode::kHalved ? 0.5f : 1.0f);
          if (m && copies[static_cast<size_t>(c)] > 1) {
            auto [it, added] = f.classes.emplace(as_source.channel_class[static_cast<size_t>(o)], *m);
            if (!added && it->second != *m) return name + " would mix copies of two kinds in one channel";
          }
        }
      }
      f.layouts[l.node] = e.out.from;
    }
    p.duplicated = static_cast<int64_t>(mode.size());
    return "";
  }

  // Whether a region can take the copies forced on it, and so on downstream; "" or why not.
  std::string feasible(int ri, const Forced& forced, int depth) const {
    if (depth > static_cast<int>(regions_.size())) return "the depthwise chain does not end";
    RegionPlan p;
    std::string why = plan(ri, forced, {}, p);
    if (!why.empty()) return why;
    for (const auto& [b, f] : p.downstream) {
      why = feasible(b, f, depth + 1);
      if (!why.empty()) return why;
    }
    return "";
  }

 private:
  const Graph& g_;
  const std::vector<EqualizationRegion>& regions_;
  SplitSide side_;
  std::map<NodeId, std::pair<int, int>> source_of_;  // layer → (region, source index)
};

// Rebuilds a layer's weight and bias from the channel maps of its edit.
Status apply_edit(Graph& g, NodeId node, const LayerEdit& e) {
  QE_ASSIGN_OR_RETURN(LayerWeights l, describe_layer(g, node));
  if (l.node == kNoNode) return internal_error("channel split: ", describe_node(g, node), " is no longer a layer");
  const ChannelMap identity0{identity_layout(l.dim0), std::vector<float>(static_cast<size_t>(l.dim0), 1.0f)};
  const ChannelMap identity1{identity_layout(l.dim1), std::vector<float>(static_cast<size_t>(l.dim1), 1.0f)};
  // Grouped convs keep one input channel per filter: their edit maps filters (dim 0) only.
  const ChannelMap* in = e.has_in ? &e.in : (l.out_axis == 0 ? &identity1 : &identity0);
  const ChannelMap* out = e.has_out ? &e.out : (l.out_axis == 0 ? &identity0 : &identity1);
  const ChannelMap& m0 = l.out_axis == 0 ? *out : *in;
  const ChannelMap& m1 = l.out_axis == 0 ? *in : *out;
  const Tensor& old_w = g.value(l.weight).constant;
  Shape shape = old_w.shape();
  shape[0] = static_cast<int64_t>(m0.from.size());
  shape[1] = static_cast<int64_t>(m1.from.size());
  Tensor w(DType::kF32, shape);
  const float* src = old_w.data<float>();
  float* dst = w.data<float>();
  int64_t e_new = 0;
  for (size_t a = 0; a < m0.from.size(); ++a) {
    for (size_t b = 0; b < m1.from.size(); ++b) {
      const float* from = src + (m0.from[a] * l.dim1 + m1.from[b]) * l.taps;
      const float scale = m0.scale[a] * m1.scale[b];
      for (int64_t t = 0; t < l.taps; ++t) dst[e_new++] = from[t] * scale;
    }
  }
  g.set_constant(l.weight, w);
  if (e.has_out && l.bias != kNoValue) {
    const Tensor& old_b = g.value(l.bias).constant;
    Shape bshape = old_b.shape();
    bshape[bshape.rank() - 1] = static_cast<int64_t>(e.out.from.size());
    Tensor b(DType::kF32, bshape);
    for (size_t o = 0; o < e.out.from.size(); ++o) {
      b.data<float>()[o] = old_b.data<float>()[e.out.from[o]] * e.bias_scale[o];
    }
    g.set_constant(l.bias, b);
  }
  if (e.group > 0) g.node(node).attrs.set("group", e.group);
  return Status::ok();
}

}  // namespace

Result<ChannelSplitReport> split_channels(Graph& g, const ChannelSplitOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  if (!(opts.ratio >= 0 && opts.ratio <= 1)) return invalid_argument("channel split: ratio must be in [0, 1], got ", opts.ratio);
  QE_ASSIGN_OR_RETURN(RegionSearch search, find_equalization_regions(g));
  ChannelSplitReport report;
  report.skipped = search.skipped;
  const Splitter splitter(g, search, opts.side);
  std::vector<Forced> pending(search.regions.size());
  std::map<NodeId, LayerEdit> edits;
  std::vector<bool> done(search.regions.size(), false);
  for (int ri : splitter.order()) {
    done[static_cast<size_t>(ri)] = true;
    const Forced& forced = pending[static_cast<size_t>(ri)];
    const std::string where = "region at " + search.regions[static_cast<size_t>(ri)].anchor + ": ";
    const std::set<int> picks = splitter.choose(ri, forced, opts.ratio);
    if (picks.empty() && forced.empty()) continue;
    RegionPlan plan;
    std::string why = splitter.plan(ri, forced, picks, plan);
    for (auto it = plan.downstream.begin(); why.empty() && it != plan.downstream.end(); ++it) {
      if (done[static_cast<size_t>(it->first)]) {
        why = "its copies would reach the region at " + search.regions[static_cast<size_t>(it->first)].anchor +
              ", which is split already";
      } else {
        why = splitter.feasible(it->first, it->second, 1);
      }
    }
    if (!why.empty()) {
      report.skipped.push_back(where + why);
      if (forced.empty()) continue;
      // The upstream region already emits copies into this one; take exactly those, which its
      // feasibility check accepted.
      plan = RegionPlan();
      why = splitter.plan(ri, forced, {}, plan);
      if (!why.empty()) return internal_error("channel split: ", where, why);
    }
    for (auto& [node, edit] : plan.edits) {
      LayerEdit& into = edits[node];
      if ((edit.has_out && into.has_out) || (edit.has_in && into.has_in)) {
        return internal_error("channel split: ", describe_node(g, node), " is edited by two regions");
      }
      if (edit.has_out) {
        into.has_out = true;
        into.out = edit.out;
        into.bias_scale = edit.bias_scale;
        into.group = edit.group;
      }
      if (edit.has_in) {
        into.has_in = true;
        into.in = edit.in;
      }
    }
    for (const auto& [b, f] : plan.downstream) QE_RETURN_IF_ERROR(merge_forced(pending[static_cast<size_t>(b)], f));
    ++report.regions;
    report.channels_added += plan.duplicated;
  }
  for (const auto& [node, edit] : edits) QE_RETURN_IF_ERROR(apply_edit(g, node, edit));
  report.layers = static_cast<int>(edits.size());
  if (!edits.empty()) QE_RETURN_IF_ERROR(infer_shapes(g));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace qe

#include "quant/equalize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "quant/equalize_regions.h"

namespace qe {

namespace {

// Ranges at or below this are treated as "no information": the channel keeps s = 1.
constexpr double kTinyRange = 1e-9;

// Calls fn(element index, output channel, input channel) for every weight element.
template <typename Fn>
void for_each_weight(const LayerWeights& l, Fn&& fn) {
  int64_t e = 0;
  for (int64_t i0 = 0; i0 < l.dim0; ++i0) {
    for (int64_t i1 = 0; i1 < l.dim1; ++i1) {
      const int64_t o = l.out_channel(i0, i1), i = l.in_channel(i0, i1);
      for (int64_t t = 0; t < l.taps; ++t, ++e) fn(e, o, i);
    }
  }
}

// The bias shrink factor of Vitis AI's equalization (Brevitas's "vaiq"): large when biases are
// large relative to the weights, so a big bias restrains the scale less than a big weight.
double auto_bias_shrinkage(const LayerWeights& l, const float* w, const float* b) {
  double bias_max = 0, weight_max = 0;
  for (int64_t o = 0; o < l.out_channels; ++o) bias_max = std::max(bias_max, std::fabs(static_cast<double>(b[o])));
  std::vector<double> ratio;
  ratio.reserve(static_cast<size_t>(l.dim0 * l.dim1 * l.taps));
  double sum = 0;
  for_each_weight(l, [&](int64_t e, int64_t o, int64_t) {
    const double a = std::fabs(static_cast<double>(w[e]));
    weight_max = std::max(weight_max, a);
    ratio.push_back(std::fabs(static_cast<double>(b[o])) / std::max(a, kTinyRange));
    sum += ratio.back();
  });
  if (ratio.empty()) return 1;
  const double mean = sum / static_cast<double>(ratio.size());
  std::nth_element(ratio.begin(), ratio.begin() + static_cast<std::ptrdiff_t>(ratio.size() / 2), ratio.end());
  const double median = ratio[ratio.size() / 2];
  if (bias_max < 10 && weight_max > 0 && bias_max / weight_max < 20) return (median > 100 || mean > 1000) ? 5 : 2;
  if (median > 30 || mean > 500) return 20;
  if (median > 15 || mean > 250) return 10;
  return 5;
}

struct ClassRanges {
  std::vector<double> source, sink;
};

// Bias shrink factor per source layer, fixed at the first sweep: recomputing it from the
// rescaled weights lets it jump between its discrete levels and the sweeps never settle.
using ShrinkCache = std::map<NodeId, double>;

ClassRanges class_ranges(const Graph& g, const EqualizationRegion& r, const EqualizeOptions& opts, ShrinkCache& shrinks) {
  ClassRanges cr;
  cr.source.assign(static_cast<size_t>(r.num_classes), 0.0);
  cr.sink.assign(static_cast<size_t>(r.num_classes), 0.0);
  for (const RegionLayer& src : r.sources) {
    const LayerWeights& l = src.layer;
    const float* w = g.value(l.weight).constant.data<float>();
    std::vector<double> range(static_cast<size_t>(l.out_channels), 0.0);
    for_each_weight(l, [&](int64_t e, int64_t o, int64_t) {
      range[static_cast<size_t>(o)] = std::max(range[static_cast<size_t>(o)], std::fabs(static_cast<double>(w[e])));
    });
    if (opts.merge_bias && l.bias != kNoValue) {
      const float* b = g.value(l.bias).constant.data<float>();
      auto cached = shrinks.find(l.node);
      if (cached == shrinks.end()) {
        cached = shrinks.emplace(l.node, opts.bias_shrinkage > 0 ? opts.bias_shrinkage : auto_bias_shrinkage(l, w, b)).first;
      }
      const double shrink = cached->second;
      for (int64_t o = 0; o < l.out_channels; ++o) {
        range[static_cast<size_t>(o)] = std::max(range[static_cast<size_t>(o)], std::fabs(static_cast<double>(b[o])) / shrink);
      }
    }
    for (int64_t o = 0; o < l.out_channels; ++o) {
      double& c = cr.source[static_cast<size_t>(src.channel_class[static_cast<size_t>(o)])];
      c = std::max(c, range[static_cast<size_t>(o)]);
    }
  }
  for (const RegionLayer& sink : r.sinks) {
    const LayerWeights& l = sink.layer;
    const float* w = g.value(l.weight).constant.data<float>();
    for_each_weight(l, [&](int64_t e, int64_t, int64_t i) {
      double& c = cr.sink[static_cast<size_t>(sink.channel_class[static_cast<size_t>(i)])];
      c = std::max(c, std::fabs(static_cast<double>(w[e])));
    });
  }
  return cr;
}

// Sources: output channel o (weights and bias) divided by s[class(o)]; sinks: input channel i
// multiplied by s[class(i)]. Tensors are cloned first: a copied Graph shares constant storage.
void apply_scales(Graph& g, const EqualizationRegion& r, const std::vector<double>& s) {
  for (const RegionLayer& src : r.sources) {
    const LayerWeights& l = src.layer;
    Tensor w = g.value(l.weight).constant.clone();
    float* wd = w.data<float>();
    for_each_weight(l, [&](int64_t e, int64_t o, int64_t) {
      wd[e] = static_cast<float>(wd[e] / s[static_cast<size_t>(src.channel_class[static_cast<size_t>(o)])]);
    });
    g.set_constant(l.weight, w);
    if (l.bias != kNoValue) {
      Tensor b = g.value(l.bias).constant.clone();
      float* bd = b.data<float>();
      for (int64_t o = 0; o < l.out_channels; ++o) {
        bd[o] = static_cast<float>(bd[o] / s[static_cast<size_t>(src.channel_class[static_cast<size_t>(o)])]);
      }
      g.set_constant(l.bias, b);
    }
  }
  for (const RegionLayer& sink : r.sinks) {
    const LayerWeights& l = sink.layer;
    Tensor w = g.value(l.weight).constant.clone();
    float* wd = w.data<float>();
    for_each_weight(l, [&](int64_t e, int64_t, int64_t i) {
      wd[e] = static_cast<float>(wd[e] * s[static_cast<size_t>(sink.channel_class[static_cast<size_t>(i)])]);
    });
    g.set_constant(l.weight, w);
  }
}

}  // namespace

Result<EqualizeReport> equalize_graph(Graph& g, const EqualizeOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  if (opts.iterations < 0) return invalid_argument("equalize: iterations must be >= 0, got ", opts.iterations);
  if (!(opts.threshold >= 0)) return invalid_argument("equalize: threshold must be >= 0, got ", opts.threshold);
  if (!(opts.bias_shrinkage >= 0)) return invalid_argument("equalize: bias_shrinkage must be >= 0, got ", opts.bias_shrinkage);
  QE_ASSIGN_OR_RETURN(RegionSearch search, find_equalization_regions(g));
  EqualizeReport report;
  report.regions = static_cast<int>(search.regions.size());
  report.skipped = std::move(search.skipped);
  std::set<NodeId> layers;
  for (const EqualizationRegion& r : search.regions) {
    for (const RegionLayer& l : r.sources) layers.insert(l.layer.node);
    for (const RegionLayer& l : r.sinks) layers.insert(l.layer.node);
  }
  report.layers = static_cast<int>(layers.size());
  ShrinkCache shrinks;
  for (int it = 0; it < opts.iterations && !search.regions.empty(); ++it) {
    double change = 0;
    for (const EqualizationRegion& r : search.regions) {
      const ClassRanges cr = class_ranges(g, r, opts, shrinks);
      std::vector<double> s(static_cast<size_t>(r.num_classes), 1.0);
      for (size_t k = 0; k < s.size(); ++k) {
        if (cr.source[k] > kTinyRange && cr.sink[k] > kTinyRange) s[k] = std::sqrt(cr.source[k] / cr.sink[k]);
        change = std::max(change, std::fabs(1.0 - s[k]));
      }
      apply_scales(g, r, s);
    }
    report.iterations = it + 1;
    report.max_scale_change = change;
    if (change < opts.threshold) break;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace qe

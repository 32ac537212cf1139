// The bins are fixed before the pass from what calibration already knows (raw extremes and
// the chosen grid), so one pass suffices and each batch costs one comparison and one
// multiplication per element and quantizer.
#include "quant/activation_histograms.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/session.h"
#include "quant/session_values.h"

namespace qe {

namespace {

std::string quantizer_label(const Graph& g, const PlannedQuantizer& q) {
  return str_cat("quantizer #", q.id, " (", quant_role_name(q.role), " of value '", g.value(q.value).name, "')");
}

// Fixes the bins of `h` to cover the observed extremes and the clipping range together.
Status set_up_bins(const Graph& g, const PlannedQuantizer& q, const QuantizerResult& r, int bins,
                   QuantizerHistogram& h) {
  h.quantizer = q.id;
  h.value = g.value(q.value).name;
  auto clip = clipping_range(r.params);
  if (!clip.is_ok()) return clip.status().with_context(quantizer_label(g, q) + ": ");
  h.clip_lo = clip->first;
  h.clip_hi = clip->second;
  h.per_channel = !r.params.per_tensor();
  if (r.params.kind == QuantKind::kInt) {
    const std::vector<float> scales = r.params.scale.to_float_vector();
    h.half_step = 0.5 * *std::max_element(scales.begin(), scales.end());
  }
  if (r.ranges.empty()) return invalid_argument(quantizer_label(g, q), ": calibration recorded no observed range");
  h.observed_min = r.ranges[0].min;
  h.observed_max = r.ranges[0].max;
  for (const ObservedRange& range : r.ranges) {
    h.observed_min = std::min<double>(h.observed_min, range.min);
    h.observed_max = std::max<double>(h.observed_max, range.max);
  }
  h.left = std::min(h.observed_min, h.clip_lo);
  h.right = std::max(h.observed_max, h.clip_hi);
  if (!(h.right > h.left)) {  // a constant value and an empty grid: give the single bar some width
    const double pad = std::max(0.5, std::fabs(h.left) * 0.01);
    h.left -= pad;
    h.right += pad;
  }
  h.counts.assign(static_cast<size_t>(bins), 0);
  return Status::ok();
}

Status add_values(QuantizerHistogram& h, const float* x, int64_t n) {
  const double inv_width = static_cast<double>(h.counts.size()) / (h.right - h.left);
  const int64_t last = static_cast<int64_t>(h.counts.size()) - 1;
  if (n > 0 && h.total == 0) h.data_min = h.data_max = x[0];
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (std::isnan(v)) return invalid_argument("value '", h.value, "' holds NaN");
    h.data_min = std::min(h.data_min, v);
    h.data_max = std::max(h.data_max, v);
    h.clipped_low += v < h.clip_lo - h.half_step;
    h.clipped_high += v > h.clip_hi + h.half_step;
    if (v < h.left) {
      ++h.below;
    } else if (v > h.right) {
      ++h.above;
    } else {
      ++h.counts[static_cast<size_t>(std::min(last, static_cast<int64_t>((v - h.left) * inv_width)))];
    }
  }
  h.total += n;
  return Status::ok();
}

Status check_result_matches(const QuantPlan& plan, const CalibrationResult& calibration, int bins) {
  if (calibration.quantizers.size() != plan.quantizers.size()) {
    return invalid_argument("histograms: the calibration result does not belong to this plan");
  }
  if (bins < 1) return invalid_argument("histograms: need at least one bin, got ", bins);
  return Status::ok();
}

}  // namespace

double QuantizerHistogram::clipped_fraction() const {
  return total == 0 ? 0 : static_cast<double>(clipped_low + clipped_high) / static_cast<double>(total);
}

Result<std::pair<double, double>> clipping_range(const QuantParams& p) {
  if (!p.scale.defined() || p.scale.numel() == 0) return invalid_argument("quantizer has no scale (disabled?)");
  const std::vector<float> scale = p.scale.to_float_vector();
  std::vector<float> zero_point =
      p.zero_point.defined() ? p.zero_point.to_float_vector() : std::vector<float>(scale.size(), 0.0f);
  if (zero_point.size() == 1 && scale.size() > 1) zero_point.assign(scale.size(), zero_point[0]);
  if (zero_point.size() != scale.size()) return invalid_argument("quantizer's zero point does not match its scale");
  double lo = 0, hi = 0;
  for (size_t c = 0; c < scale.size(); ++c) {
    const double s = scale[c];
    double c_lo = 0, c_hi = 0;
    switch (p.kind) {
      case QuantKind::kInt:
        c_lo = (static_cast<double>(p.min_int()) - zero_point[c]) * s;
        c_hi = (static_cast<double>(p.max_int()) - zero_point[c]) * s;
        break;
      case QuantKind::kBipolar:
        c_lo = -s;
        c_hi = s;
        break;
      case QuantKind::kFloat:
        c_lo = -static_cast<double>(p.minifloat.max_val) * s;
        c_hi = static_cast<double>(p.minifloat.max_val) * s;
        break;
    }
    lo = c == 0 ? c_lo : std::min(lo, c_lo);
    hi = c == 0 ? c_hi : std::max(hi, c_hi);
  }
  return std::make_pair(lo, hi);
}

Result<std::vector<QuantizerHistogram>> collect_activation_histograms(const Graph& g, const QuantPlan& plan,
                                                                      const CalibrationResult& calibration,
                                                                      const BatchSource& source,
                                                                      const HistogramOptions& options) {
  QE_RETURN_IF_ERROR(check_result_matches(plan, calibration, options.bins));
  std::vector<QuantizerHistogram> hists;
  // Several quantizers can watch one value (layerwise places one per consumer).
  std::unordered_map<std::string, int> watched;
  std::vector<std::vector<size_t>> hists_of_value;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!q.spec.enabled || !is_activation(q.role)) continue;
    if (q.value < 0 || static_cast<size_t>(q.value) >= g.num_values()) {
      return invalid_argument("histograms: quantizer #", q.id, " refers to no value of the graph");
    }
    QuantizerHistogram h;
    QE_RETURN_IF_ERROR(set_up_bins(g, q, calibration.quantizers[static_cast<size_t>(q.id)], options.bins, h));
    auto [it, inserted] = watched.emplace(h.value, static_cast<int>(hists_of_value.size()));
    if (inserted) hists_of_value.emplace_back();
    hists_of_value[static_cast<size_t>(it->second)].push_back(hists.size());
    hists.push_back(std::move(h));
  }
  if (hists.empty()) return hists;

  QE_ASSIGN_OR_RETURN(auto session, Session::create(g, observing_session_options(options.num_threads)));
  QE_RETURN_IF_ERROR(stream_watched_values(
      *session, watched, source, options.max_batches, [&](int index, const TensorView& data) -> Status {
        if (data.dtype != DType::kF32) return invalid_argument("histograms: value is not float32");
        for (size_t h : hists_of_value[static_cast<size_t>(index)]) {
          QE_RETURN_IF_ERROR(add_values(hists[h], data.as<const float>(), data.numel()));
        }
        return Status::ok();
      }));
  for (const QuantizerHistogram& h : hists) {
    if (h.total == 0) return invalid_argument("histograms: value '", h.value, "' was never computed on the batches");
  }
  return hists;
}

Result<std::vector<QuantizerHistogram>> collect_weight_histograms(const Graph& g, const QuantPlan& plan,
                                                                  const CalibrationResult& calibration, int bins) {
  QE_RETURN_IF_ERROR(check_result_matches(plan, calibration, bins));
  std::vector<QuantizerHistogram> hists;
  for (const PlannedQuantizer& q : plan.quantizers) {
    if (!q.spec.enabled || q.role != QuantRole::kWeight) continue;
    const Value& v = g.value(q.value);
    if (!v.is_constant() || v.constant.dtype() != DType::kF32) {
      return invalid_argument(quantizer_label(g, q), ": a weight histogram needs a float32 constant");
    }
    QuantizerHistogram h;
    QE_RETURN_IF_ERROR(set_up_bins(g, q, calibration.quantizers[static_cast<size_t>(q.id)], bins, h));
    QE_RETURN_IF_ERROR(add_values(h, v.constant.data<float>(), v.constant.numel()));
    hists.push_back(std::move(h));
  }
  return hists;
}

}  // namespace qe

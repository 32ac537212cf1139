#include "apps/cli/calibrate_report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "quant/calibration_json.h"

namespace qe::cli {

namespace {

using Json = nlohmann::json;

// JSON has no infinity or NaN: identical tensors report "inf", missing figures null.
Json db(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? Json("inf") : Json("-inf");
  return std::round(v * 100.0) / 100.0;
}

}  // namespace

ValComparison ValComparison::from(const AccuracyResult& f, const AccuracyResult& q) {
  ValComparison v;
  v.images = f.images;
  v.float_top1 = static_cast<double>(f.top1) / f.images;
  v.float_top5 = static_cast<double>(f.top5) / f.images;
  v.quant_top1 = static_cast<double>(q.top1) / q.images;
  v.quant_top5 = static_cast<double>(q.top5) / q.images;
  std::map<int64_t, int> float_pred;
  for (size_t i = 0; i < f.predicted.size(); ++i) float_pred[f.sample_index[i]] = f.predicted[i];
  int64_t same = 0, both = 0;
  for (size_t i = 0; i < q.predicted.size(); ++i) {
    auto it = float_pred.find(q.sample_index[i]);
    if (it == float_pred.end()) continue;
    ++both;
    same += it->second == q.predicted[i];
  }
  v.agreement = both ? static_cast<double>(same) / both : 0;
  return v;
}

namespace {

// What the post-training algorithms did: the float transforms' summaries and, per layer, the
// rounding algorithm's output error against round-to-nearest.
Json algorithms_json(const CalibrateSummary& s) {
  Json j = {{"float_transforms", s.transforms.summary},
            {"float_transforms_skipped", s.transforms.skipped},
            {"rounding", s.rounding_algorithm}};
  if (s.rounding) {
    const LayerSequentialReport& r = *s.rounding;
    Json layers = Json::array();
    for (const LayerRoundingRecord& l : r.layers) {
      layers.push_back({{"node", l.node},
                        {"groups", l.groups},
                        {"rows", l.rows},
                        {"k", l.k},
                        {"error_nearest", l.error_nearest},
                        {"error_rounded", l.error_solved},
                        {"seconds", l.seconds}});
    }
    j["rounding_layers"] = layers;
    j["rounding_skipped"] = r.skipped;
    j["rounding_seconds"] = r.seconds;
    j["rounding_passes"] = r.passes;
    j["rounding_statistics_peak_bytes"] = r.peak_stats_bytes;
    j["image_cache_bytes"] = s.image_cache_bytes;
  }
  return j;
}

}  // namespace

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  return 0;
}

Result<Json> calibration_report_json(const Graph& float_graph, const QuantPlan& plan,
                                     const CalibrationResult& calibration, const SqnrReport& sqnr,
                                     const CalibrateSummary& summary) {
  QE_ASSIGN_OR_RETURN(std::string text, calibration_json(float_graph, plan, calibration, &sqnr, -1));
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return internal_error("calibration report is not a JSON object");
  j["model"] = summary.model;
  j["policy"] = summary.policy;
  j["rule_file"] = summary.rule_file;
  j["calibration_folder"] = summary.calib_dir;
  j["calibration_skipped_images"] = summary.skipped;
  j["files"] = summary.files;
  j["bias_correction"] = {{"nodes", summary.bias_corrected_nodes},
                          {"samples", summary.bias_correction_samples},
                          {"seconds", summary.bias_correction_seconds}};
  j["algorithms"] = algorithms_json(summary);
  j["peak_rss_bytes"] = peak_rss_bytes();
  if (!summary.qcdq_skipped_reason.empty()) j["qcdq_skipped"] = summary.qcdq_skipped_reason;
  if (summary.finn_checked) j["finn_violations"] = summary.finn_violations;
  if (summary.val) {
    const ValComparison& v = *summary.val;
    j["validation"] = {{"folder", summary.val_dir},  {"images", v.images},         {"float_top1", v.float_top1},
                       {"float_top5", v.float_top5}, {"quant_top1", v.quant_top1}, {"quant_top5", v.quant_top5},
                       {"top1_agreement", v.agreement}};
  }
  return j;
}

Json summary_json(const CalibrateSummary& s, const QuantPlan& plan, const SqnrReport& sqnr) {
  Json j = {{"model", s.model},
            {"policy", s.policy},
            {"quantizers", plan.quantizers.size()},
            {"truncs", plan.truncs.size()},
            {"samples", s.samples},
            {"calibration_seconds", s.calibration_seconds},
            {"bias_corrected_nodes", s.bias_corrected_nodes},
            {"total_seconds", s.total_seconds},
            {"validation_seconds", s.validation_seconds},
            {"rounding", s.rounding_algorithm},
            {"rounding_seconds", s.rounding ? s.rounding->seconds : 0.0},
            {"peak_rss_bytes", peak_rss_bytes()},
            {"output_sqnr_db", db(sqnr.output_sqnr_db)},
            {"files", s.files}};
  if (!s.qcdq_skipped_reason.empty()) j["qcdq_skipped"] = s.qcdq_skipped_reason;
  if (s.finn_checked) j["finn_violations"] = s.finn_violations.size();
  if (s.val) {
    j["images"] = s.val->images;
    j["float_top1"] = s.val->float_top1;
    j["float_top5"] = s.val->float_top5;
    j["quant_top1"] = s.val->quant_top1;
    j["quant_top5"] = s.val->quant_top5;
    j["top1_agreement"] = s.val->agreement;
  }
  return j;
}

void print_summary(std::ostream& out, const CalibrateSummary& s, const QuantPlan& plan, const SqnrReport& sqnr,
                   const std::string& out_dir) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: policy %s, %zu quantizers, %zu truncs, calibrated on %lld images in %.1f s\n",
                s.model.c_str(), s.policy.c_str(), plan.quantizers.size(), plan.truncs.size(),
                static_cast<long long>(s.samples), s.calibration_seconds);
  out << buf;
  for (const auto& line : s.transforms.summary) out << line << "\n";
  if (s.rounding) {
    const LayerSequentialReport& r = *s.rounding;
    double nearest = 0, rounded = 0;
    for (const auto& l : r.layers) {
      nearest += l.error_nearest;
      rounded += l.error_solved;
    }
    const bool blocks = s.rounding_algorithm == "adaround+blocks";
    if (blocks) {
      std::snprintf(buf, sizeof buf,
                    "%s: %zu blocks refined after layer-wise AdaRound, %.1f s in all (%lld passes, block cache peak %.0f MB), "
                    "block output error %.0f%% of layer-wise AdaRound's\n",
                    s.rounding_algorithm.c_str(), r.layers.size(), r.seconds, static_cast<long long>(r.passes),
                    r.peak_stats_bytes / 1048576.0, nearest > 0 ? 100 * rounded / nearest : 100.0);
    } else {
      std::snprintf(buf, sizeof buf,
                    "%s: %zu layers in %.1f s (%lld passes, statistics peak %.0f MB, image cache %.0f MB), "
                    "layer output error (excess over float weights) %.0f%% of round-to-nearest's\n",
                    s.rounding_algorithm.c_str(), r.layers.size(), r.seconds, static_cast<long long>(r.passes),
                    r.peak_stats_bytes / 1048576.0, s.image_cache_bytes / 1048576.0,
                    nearest > 0 ? 100 * rounded / nearest : 100.0);
    }
    out << buf;
    if (!r.skipped.empty()) {
      out << s.rounding_algorithm << (blocks ? ": kept as before: " : ": left at nearest: ") << r.skipped.size()
          << (blocks ? " block(s) or layer(s), first: " : " layer(s), first: ") << r.skipped.front() << "\n";
    }
  }
  if (s.bias_corrected_nodes > 0) {
    std::snprintf(buf, sizeof buf, "bias correction: %d layers on %lld images in %.1f s\n", s.bias_corrected_nodes,
                  static_cast<long long>(s.bias_correction_samples), s.bias_correction_seconds);
    out << buf;
  }
  if (!std::isnan(sqnr.output_sqnr_db)) {
    std::snprintf(buf, sizeof buf, "output SQNR vs float: %.1f dB (on %lld images)\n", sqnr.output_sqnr_db,
                  static_cast<long long>(sqnr.samples));
    out << buf;
  }
  if (s.val) {
    const ValComparison& v = *s.val;
    std::snprintf(buf, sizeof buf,
                  "validation (%lld images): float top-1 %.2f%% top-5 %.2f%% | quantized top-1 %.2f%% top-5 %.2f%% "
                  "(%+.2f points) | same top-1 class on %.2f%%\n",
                  static_cast<long long>(v.images), 100 * v.float_top1, 100 * v.float_top5, 100 * v.quant_top1,
                  100 * v.quant_top5, 100 * (v.quant_top1 - v.float_top1), 100 * v.agreement);
    out << buf;
  }
  for (const auto& f : s.files) out << "wrote " << out_dir << "/" << f << "\n";
  out << "wrote " << out_dir << "/calibration.json\n";
  if (!s.qcdq_skipped_reason.empty()) out << "no QCDQ file: " << s.qcdq_skipped_reason << "\n";
  if (s.finn_checked) {
    out << (s.finn_violations.empty() ? std::string("FINN checker: every rule holds\n")
                                      : "FINN checker: " + std::to_string(s.finn_violations.size()) + " rule(s) broken (see above)\n");
  }
  std::snprintf(buf, sizeof buf, "total %.1f s, peak memory %.0f MB\n", s.total_seconds, peak_rss_bytes() / 1048576.0);
  out << buf;
}

}  // namespace qe::cli

// What `qengine calibrate` reports: calibration.json (every quantizer with its parameters,
// observed range and SQNR) and the summary printed at the end.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/cli/accuracy.h"
#include "quant/calibrator.h"
#include "quant/ptq_pipeline.h"
#include "quant/quant_plan.h"
#include "quant/sqnr_report.h"

namespace qe::cli {

struct ValComparison {
  int64_t images = 0;
  double float_top1 = 0, float_top5 = 0;
  double quant_top1 = 0, quant_top5 = 0;
  double agreement = 0;  // fraction of images where both give the same top-1 class
  static ValComparison from(const AccuracyResult& f, const AccuracyResult& q);
};

struct CalibrateSummary {
  std::string model, calib_dir, val_dir, policy, rule_file;
  int64_t samples = 0, skipped = 0;
  double calibration_seconds = 0, total_seconds = 0;
  double validation_seconds = 0;  // of total_seconds: the --val comparison
  int bias_corrected_nodes = 0;
  int64_t bias_correction_samples = 0;
  double bias_correction_seconds = 0;
  FloatTransformReport transforms;                // equalization, channel splitting, SmoothQuant
  std::string rounding_algorithm = "nearest";    // nearest, gptq, gpfq, adaround
  std::optional<LayerSequentialReport> rounding;  // when a layer-sequential algorithm ran
  int64_t image_cache_bytes = 0;                  // decoded images kept for its passes
  std::vector<std::string> files;  // written, relative to the output directory
  std::string qcdq_skipped_reason;  // why no QCDQ file was written
  bool finn_checked = false;
  std::vector<std::string> finn_violations;  // "node: rule: message"
  std::optional<ValComparison> val;
};

Result<nlohmann::json> calibration_report_json(const Graph& float_graph, const QuantPlan& plan,
                                               const CalibrationResult& calibration, const SqnrReport& sqnr,
                                               const CalibrateSummary& summary);
nlohmann::json summary_json(const CalibrateSummary& s, const QuantPlan& plan, const SqnrReport& sqnr);
// The process' peak resident memory (VmHWM), 0 when unknown.
int64_t peak_rss_bytes();

void print_summary(std::ostream& out, const CalibrateSummary& s, const QuantPlan& plan, const SqnrReport& sqnr,
                   const std::string& out_dir);

}  // namespace qe::cli

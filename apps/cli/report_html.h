// `qengine calibrate --report PATH`: one self-contained HTML page (inline CSS and SVG, no
// scripts, no external references) with the run's summary, float vs quantized accuracy, a
// per-layer table and bar chart of weight and output SQNR with bit widths, and one histogram
// per activation quantizer (and per weight quantizer) with its clipping range shaded.
#pragma once

#include <string>
#include <vector>

#include "apps/cli/calibrate_report.h"
#include "engine/core/status.h"
#include "graph/graph.h"
#include "quant/activation_histograms.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"
#include "quant/sqnr_report.h"

namespace qe::cli {

struct CalibrationReportInputs {
  const Graph& float_graph;
  const QuantPlan& plan;
  const CalibrationResult& calibration;
  const SqnrReport& sqnr;
  const CalibrateSummary& summary;
  const std::vector<QuantizerHistogram>& activation_histograms;  // collect_activation_histograms()
  const std::vector<QuantizerHistogram>& weight_histograms;      // collect_weight_histograms(); may be empty
};

// The page. Errors when the pieces do not belong together (another plan's results).
Result<std::string> calibration_report_html(const CalibrationReportInputs& in);

// Cheap check before the long part of calibrate: the report's directory exists and a file
// can be created there (a typo should not cost a whole calibration run).
Status check_report_path(const std::string& path);

// Writes the page atomically (temporary + rename): no half-written report on failure.
Status write_report(const std::string& path, const std::string& html);

}  // namespace qe::cli

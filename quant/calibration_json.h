// calibration.json: everything calibration decided, one entry per quantizer (node, role,
// value, grid, scales, zero points, observed and chosen ranges) with the layer's SQNR when a
// report is given, plus totals. Non-finite numbers (SQNR of an exact quantizer: +inf) are
// written as null.
#pragma once

#include <string>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"
#include "quant/sqnr_report.h"

namespace qe {

Result<std::string> calibration_json(const Graph& float_graph, const QuantPlan& plan, const CalibrationResult& calibration,
                                     const SqnrReport* sqnr = nullptr, int indent = 2);

}  // namespace qe

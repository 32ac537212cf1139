// Internal to the calibrator: ranges and constants → QuantParams for every quantizer of a plan
// (weights, activations with their share groups, bias, Trunc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quant/calibrator.h"

namespace qe {

// "quantizer #3 (output of value 'x', node 'relu1')" for error messages.
std::string describe_quantizer(const Graph& g, const PlannedQuantizer& q);

// `q_obs[id]` holds the observer of each enabled activation quantizer, `t_obs[t]` that of each
// fallback Trunc (null otherwise). Fills result.quantizers and result.truncs.
Result<CalibrationResult> compute_calibration_params(const Graph& g, const QuantPlan& plan,
                                                     const std::vector<std::unique_ptr<RangeObserver>>& q_obs,
                                                     const std::vector<std::unique_ptr<RangeObserver>>& t_obs,
                                                     CalibrationResult result);

}  // namespace qe

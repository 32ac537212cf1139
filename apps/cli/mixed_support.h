// Pieces of `qengine mixed` that are not the pipeline itself: budget flags, the sensitivity
// cache file, and the report (JSON and the HAWQ-style table).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "quant/mixed/bit_allocation.h"
#include "quant/mixed/layer_costs.h"
#include "quant/mixed/layer_sensitivity.h"

namespace qe::cli {

enum class BudgetKind { kSize, kBops, kLatency };

// "0.5" → HAWQ ratio r in [0, 1]; otherwise a number with a unit: size "4MB" / "800KB" / "123B"
// (decimal units), BOPS "20G" / "500M" / "1T", latency "1.5ms" / "800us". Errors name the flag.
Result<Budget> parse_budget(BudgetKind kind, const std::string& flag, const std::string& text);

// "4,8" → {4, 8}: sorted, distinct, each in 2..8.
Result<std::vector<int>> parse_bit_list(const std::string& text);

// What the sensitivity cache must agree on to be reused.
struct SensitivityKey {
  std::string model;  // file name only
  std::vector<std::string> layers;
  std::vector<int> bits;
  int64_t hessian_samples = 0;
  int hessian_batch = 0;
  int64_t kl_samples = 0;
  int hutchinson_max_iterations = 0;
  uint64_t seed = 0;
  bool hessian = true;  // false: output KL only (a file with the Hessian too serves as well)
  bool activation_term = true;  // HAWQ-V2's activation term in the Hessian sensitivity
};
nlohmann::json sensitivity_to_json(const SensitivityKey& key, const SensitivityReport& r);
// The report when `j` was written for the same key; nullopt (and `why`) otherwise.
std::optional<SensitivityReport> sensitivity_from_json(const nlohmann::json& j, const SensitivityKey& key,
                                                       std::string* why);

// One evaluated bit allocation: a row of the table.
struct MixedRow {
  std::string name;  // "hessian", "random #3", "uniform 4"
  std::vector<int> bits;
  Allocation costs;
  double top1 = -1;  // percent; < 0: not evaluated
  int64_t images = 0;
  double float_ms = 0, integer_ms = 0;  // batch-1 median; 0: not measured
};

nlohmann::json mixed_row_json(const MixedRow& row, const std::vector<ComputeLayer>& layers);
// The HAWQ-model-zoo-like table: size (MB), BOPS (G), measured speed-up, top-1.
std::string format_mixed_table(const std::vector<MixedRow>& rows, double float_top1);

}  // namespace qe::cli

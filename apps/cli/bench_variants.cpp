#include "apps/cli/bench_variants.h"

#include <cstdio>

#include "quant/quantize_graph.h"

namespace qe::cli {

Result<std::pair<int, int>> parse_variant_bits(const std::string& v) {
  if (v == "int8") return std::make_pair(8, 8);
  int w = 0, a = 0;
  char tail = 0;
  if (std::sscanf(v.c_str(), "w%da%d%c", &w, &a, &tail) == 2 && w >= 2 && w <= 8 && a >= 2 && a <= 8) {
    return std::make_pair(w, a);
  }
  return invalid_argument("--compare: unknown variant '", v, "' (expected float, int8 or wNaM such as w4a8)");
}

Result<Graph> quantize_for_latency(const Graph& model, int w_bits, int a_bits, const std::vector<Tensor>& calib) {
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.per_channel = true;
  flags.w_bits = w_bits;
  flags.a_bits = a_bits;
  if (w_bits < 8 || a_bits < 8) flags.first_last_bits = 8;
  QE_RETURN_IF_ERROR(apply_flags(rules, flags));
  std::vector<std::vector<Tensor>> batches;
  for (const Tensor& t : calib) batches.push_back({t});
  return quantize_graph(model, rules, "full", batch_list_passes(batches));
}

}  // namespace qe::cli

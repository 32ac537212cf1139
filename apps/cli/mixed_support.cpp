#include "apps/cli/mixed_support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace qe::cli {

namespace {

struct Unit {
  const char* suffix;
  double factor;
};

Result<double> parse_number_prefix(const std::string& flag, const std::string& text, size_t* used) {
  try {
    const double v = std::stod(text, used);
    if (std::isfinite(v) && v >= 0) return v;
  } catch (const std::exception&) {
  }
  return invalid_argument(flag, ": '", text, "' is not a budget (a ratio in [0, 1] or a number with a unit)");
}

}  // namespace

Result<Budget> parse_budget(BudgetKind kind, const std::string& flag, const std::string& text) {
  size_t used = 0;
  QE_ASSIGN_OR_RETURN(double v, parse_number_prefix(flag, text, &used));
  const std::string unit = text.substr(used);
  Budget b;
  if (unit.empty()) {
    if (v > 1) {
      const char* hint = kind == BudgetKind::kSize ? "MB" : kind == BudgetKind::kBops ? "G" : "ms";
      return invalid_argument(flag, ": ", text, " is not a ratio in [0, 1]; give an absolute budget with a unit (e.g. ",
                              text, hint, ")");
    }
    b.ratio = v;
    return b;
  }
  static const Unit kSize[] = {{"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}};
  static const Unit kBops[] = {{"M", 1e6}, {"G", 1e9}, {"T", 1e12}};
  static const Unit kTime[] = {{"us", 1e-3}, {"ms", 1}, {"s", 1e3}};  // latency in ms
  const Unit* units = kind == BudgetKind::kSize ? kSize : kind == BudgetKind::kBops ? kBops : kTime;
  const size_t n = kind == BudgetKind::kSize ? 4 : 3;
  std::string known;
  for (size_t i = 0; i < n; ++i) {
    if (unit == units[i].suffix) {
      b.absolute = v * units[i].factor;
      return b;
    }
    known += std::string(i ? ", " : "") + units[i].suffix;
  }
  return invalid_argument(flag, ": unknown unit '", unit, "' in '", text, "' (expected ", known, ")");
}

Result<std::vector<int>> parse_bit_list(const std::string& text) {
  std::vector<int> bits;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const int b = std::stoi(item, &used);
      if (used == item.size() && b >= 2 && b <= 8) {
        bits.push_back(b);
        continue;
      }
    } catch (const std::exception&) {
    }
    return invalid_argument("--bits: '", item, "' is not a bit width in 2..8 (e.g. --bits 4,8)");
  }
  std::sort(bits.begin(), bits.end());
  bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
  if (bits.size() < 2) return invalid_argument("--bits: '", text, "' needs at least two different widths (e.g. 4,8)");
  return bits;
}

namespace {

nlohmann::json per_bits(const std::map<int, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [b, v] : m) j[std::to_string(b)] = v;
  return j;
}

std::map<int, double> per_bits_from(const nlohmann::json& j) {
  std::map<int, double> m;
  for (auto it = j.begin(); it != j.end(); ++it) m[std::stoi(it.key())] = it.value().get<double>();
  return m;
}

nlohmann::json key_json(const SensitivityKey& k) {
  return {{"model", k.model},         {"layers", k.layers},           {"bits", k.bits},
          {"hessian_samples", k.hessian_samples}, {"hessian_batch", k.hessian_batch}, {"kl_samples", k.kl_samples},
          {"hutchinson_max_iterations", k.hutchinson_max_iterations}, {"seed", k.seed}, {"hessian", k.hessian},
          {"activation_term", k.activation_term}};
}

}  // namespace

nlohmann::json sensitivity_to_json(const SensitivityKey& key, const SensitivityReport& r) {
  nlohmann::json j;
  j["key"] = key_json(key);
  j["hutchinson_iterations"] = r.hutchinson_iterations;
  j["hutchinson_converged"] = r.hutchinson_converged;
  j["hessian_seconds"] = r.hessian_seconds;
  j["kl_seconds"] = r.kl_seconds;
  for (const LayerSensitivity& s : r.layers) {
    j["layers"].push_back({{"layer", s.layer},
                           {"params", s.params},
                           {"hessian_trace", s.hessian_trace},
                           {"weight_error", per_bits(s.weight_error)},
                           {"omega", per_bits(s.omega)},
                           {"weight_omega", per_bits(s.weight_omega)},
                           {"activation", s.activation},
                           {"activation_elements", s.activation_elements},
                           {"activation_trace", s.activation_trace},
                           {"activation_error", per_bits(s.activation_error)},
                           {"activation_omega", per_bits(s.activation_omega)},
                           {"output_kl", per_bits(s.output_kl)}});
  }
  return j;
}

std::optional<SensitivityReport> sensitivity_from_json(const nlohmann::json& j, const SensitivityKey& key,
                                                       std::string* why) {
  try {
    // A file measured with the Hessian also serves a KL-only run, not the other way round.
    nlohmann::json wanted = key_json(key);
    nlohmann::json stored = j.contains("key") ? j["key"] : nlohmann::json();
    const bool stored_hessian = stored.is_object() && stored.value("hessian", false);
    if (stored.is_object()) stored.erase("hessian");
    wanted.erase("hessian");
    if (!key.hessian) {  // the KL does not depend on it
      if (stored.is_object()) stored.erase("activation_term");
      wanted.erase("activation_term");
    }
    if (key.hessian && !stored_hessian) {
      if (why) *why = "it holds no Hessian traces";
      return std::nullopt;
    }
    if (stored != wanted) {
      if (why) *why = "it was measured for other layers, bits or sample counts";
      return std::nullopt;
    }
    SensitivityReport r;
    r.hutchinson_iterations = j.at("hutchinson_iterations").get<int>();
    r.hutchinson_converged = j.at("hutchinson_converged").get<bool>();
    r.hessian_seconds = j.at("hessian_seconds").get<double>();
    r.kl_seconds = j.at("kl_seconds").get<double>();
    for (const auto& l : j.at("layers")) {
      LayerSensitivity s;
      s.layer = l.at("layer").get<std::string>();
      s.params = l.at("params").get<int64_t>();
      s.hessian_trace = l.at("hessian_trace").get<double>();
      s.weight_error = per_bits_from(l.at("weight_error"));
      s.omega = per_bits_from(l.at("omega"));
      s.weight_omega = per_bits_from(l.at("weight_omega"));
      s.activation = l.at("activation").get<std::string>();
      s.activation_elements = l.at("activation_elements").get<int64_t>();
      s.activation_trace = l.at("activation_trace").get<double>();
      s.activation_error = per_bits_from(l.at("activation_error"));
      s.activation_omega = per_bits_from(l.at("activation_omega"));
      s.output_kl = per_bits_from(l.at("output_kl"));
      r.layers.push_back(std::move(s));
    }
    if (r.layers.size() != key.layers.size()) {
      if (why) *why = "its layer list is incomplete";
      return std::nullopt;
    }
    return r;
  } catch (const std::exception& e) {
    if (why) *why = std::string("it is not a sensitivity file (") + e.what() + ")";
    return std::nullopt;
  }
}

nlohmann::json mixed_row_json(const MixedRow& row, const std::vector<ComputeLayer>& layers) {
  nlohmann::json j;
  j["name"] = row.name;
  j["size_bytes"] = row.costs.size_bytes;
  j["bops"] = row.costs.bops;
  j["latency_table_ms"] = row.costs.latency;
  j["sensitivity"] = row.costs.sensitivity;
  if (row.top1 >= 0) {
    j["top1"] = row.top1;
    j["images"] = row.images;
  }
  if (row.integer_ms > 0) {
    j["float_ms"] = row.float_ms;
    j["integer_ms"] = row.integer_ms;
    j["speedup_vs_float"] = row.float_ms / row.integer_ms;
  }
  nlohmann::json bits = nlohmann::json::object();
  for (size_t i = 0; i < layers.size() && i < row.bits.size(); ++i) bits[layers[i].node] = row.bits[i];
  j["bits"] = bits;
  return j;
}

std::string format_mixed_table(const std::vector<MixedRow>& rows, double float_top1) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %10s %10s %10s %9s\n", "allocation", "size (MB)", "BOPS (G)", "speed-up",
                "top-1 %");
  out << line;
  if (float_top1 >= 0) {
    std::snprintf(line, sizeof line, "%-14s %10s %10s %10s %9.2f\n", "float", "", "", "1.00x", float_top1);
    out << line;
  }
  for (const MixedRow& r : rows) {
    char speed[32] = "";
    if (r.integer_ms > 0) std::snprintf(speed, sizeof speed, "%.2fx", r.float_ms / r.integer_ms);
    char top1[32] = "";
    if (r.top1 >= 0) std::snprintf(top1, sizeof top1, "%.2f", r.top1);
    std::snprintf(line, sizeof line, "%-14s %10.3f %10.3f %10s %9s\n", r.name.c_str(), r.costs.size_bytes / 1e6,
                  r.costs.bops / 1e9, speed, top1);
    out << line;
  }
  return out.str();
}

}  // namespace qe::cli

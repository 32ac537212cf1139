#include "quant/mixed/mixed_rules.h"

#include <nlohmann/json.hpp>

namespace qe {

std::string escape_glob(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '*' || c == '?' || c == '[') {
      out += '[';
      out += c;
      out += ']';
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::string> mixed_rule_file_text(const std::string& base_json, const std::vector<LayerBits>& layers,
                                         const std::string& description) {
  nlohmann::ordered_json file = nlohmann::ordered_json::object();
  if (!base_json.empty()) {
    try {
      file = nlohmann::ordered_json::parse(base_json, nullptr, true, /*ignore_comments=*/true);
    } catch (const nlohmann::json::exception& e) {
      return invalid_argument("base rule file is not JSON: ", e.what());
    }
    if (!file.is_object()) return invalid_argument("base rule file is not a JSON object");
    if (file.contains("rules") && !file["rules"].is_array()) return invalid_argument("base rule file: 'rules' is not an array");
  } else {
    file["defaults"]["weight"]["granularity"] = "per_channel";
    // The sensitivities are measured on the graph as loaded; equalization would rescale the
    // weights they were measured on, so the written file keeps it off (calibrate's default is on).
    file["algorithms"]["equalize"] = false;
  }
  file["description"] = description;
  nlohmann::ordered_json& rules = file["rules"];
  if (rules.is_null()) rules = nlohmann::ordered_json::array();
  for (const LayerBits& l : layers) {
    if (l.bits < 1 || l.bits > 8) return invalid_argument("layer '", l.node, "': ", l.bits, " bits is outside 1..8");
    nlohmann::ordered_json r;
    r["name"] = "mixed: " + l.node;
    r["match"]["name"] = escape_glob(l.node);
    r["weight"]["bits"] = l.bits;
    r["input"]["bits"] = l.bits;
    rules.push_back(std::move(r));
  }
  return file.dump(2) + "\n";
}

}  // namespace qe

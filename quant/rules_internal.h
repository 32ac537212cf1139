// Helpers shared by the rule-file parser (rules.cpp) and the selectors (rule_selectors.cpp).
// Not part of the public API.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "quant/ptq_config.h"
#include "quant/rules.h"

namespace qe::rules_detail {

using Json = nlohmann::json;

// Where a JSON element is: the file and the path inside it ("rules[2].weight").
struct Where {
  const std::string& source;
  std::string path;

  Where key(const std::string& k) const { return {source, path.empty() ? k : path + "." + k}; }
  Where index(size_t i) const { return {source, path + "[" + std::to_string(i) + "]"}; }
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(source, ": ", path.empty() ? std::string("(top level)") : path, ": ", args...);
  }
};

// The candidate closest to `s` by edit distance, or "" when none is close enough to be a typo.
std::string nearest_name(const std::string& s, const std::vector<std::string>& candidates);
// "(did you mean 'bits'?)" with a leading space, or "".
std::string did_you_mean(const std::string& s, const std::vector<std::string>& candidates);

// Rejects keys of `obj` that are not in `allowed`, suggesting the nearest allowed key.
Status check_keys(const Json& obj, const Where& at, const std::vector<std::string>& allowed);
// "string \"8\"", "number 3.5", "array", ... for wrong-type messages.
std::string describe_json(const Json& j);

Result<RuleMatch> parse_match(const Json& j, const Where& at);

// "a, b or c".
std::string join_names(const std::vector<std::string>& names);
// Typed reads; wrong types say what was found.
Status expect_object(const Json& j, const Where& at);
Result<bool> get_bool(const Json& j, const Where& at);
Result<int64_t> get_int(const Json& j, const Where& at);
Result<double> get_number(const Json& j, const Where& at);
Result<std::string> get_string(const Json& j, const Where& at);
// A string that must be one of `names` (nearest suggested).
Result<std::string> get_enum(const Json& j, const Where& at, const std::vector<std::string>& names);

// The "algorithms" object (quant/ptq_config_parse.cpp).
Status parse_ptq_config(const Json& j, const Where& at, PtqConfig& config);

}  // namespace qe::rules_detail

// Rule-file parsing and command-line flags. Everything a user can get wrong in the file is
// reported with the file name and the JSON path of the offending element, because a rule file
// that silently ignores a typo ("bitz": 4) quantizes the model differently from what was asked.
#include "quant/rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "quant/rules_internal.h"

namespace qe {

namespace rules_detail {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string nearest_name(const std::string& s, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(s, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // A third of the longer word (at least 2 edits) still reads as a typo; more is another word.
  const size_t limit = std::max<size_t>(2, std::max(s.size(), best.size()) / 3);
  return best_d <= limit ? best : std::string();
}

std::string did_you_mean(const std::string& s, const std::vector<std::string>& candidates) {
  std::string n = nearest_name(s, candidates);
  return n.empty() ? std::string() : " (did you mean '" + n + "'?)";
}

Status check_keys(const Json& obj, const Where& at, const std::vector<std::string>& allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    return at.error("unknown key '", it.key(), "'", did_you_mean(it.key(), allowed));
  }
  return Status::ok();
}

std::string describe_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return std::string("boolean ") + (j.get<bool>() ? "true" : "false");
    case Json::value_t::string: return "string " + j.dump();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number " + j.dump();
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "a value of another type";
  }
}

Status expect_object(const Json& j, const Where& at) {
  if (!j.is_object()) return at.error("expected an object, got ", describe_json(j));
  return Status::ok();
}

Result<bool> get_bool(const Json& j, const Where& at) {
  if (!j.is_boolean()) return at.error("expected true or false, got ", describe_json(j));
  return j.get<bool>();
}

Result<int64_t> get_int(const Json& j, const Where& at) {
  if (!j.is_number_integer()) return at.error("expected an integer, got ", describe_json(j));
  return j.get<int64_t>();
}

Result<double> get_number(const Json& j, const Where& at) {
  if (!j.is_number()) return at.error("expected a number, got ", describe_json(j));
  return j.get<double>();
}

Result<std::string> get_string(const Json& j, const Where& at) {
  if (!j.is_string()) return at.error("expected a string, got ", describe_json(j));
  return j.get<std::string>();
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) s += i + 1 == names.size() ? " or " : ", ";
    s += names[i];
  }
  return s;
}

// A string that must be one of `names`.
Result<std::string> get_enum(const Json& j, const Where& at, const std::vector<std::string>& names) {
  QE_ASSIGN_OR_RETURN(std::string s, get_string(j, at));
  if (std::find(names.begin(), names.end(), s) != names.end()) return s;
  return at.error("unknown value '", s, "' (expected ", join_names(names), ")", did_you_mean(s, names));
}

}  // namespace rules_detail

using rules_detail::check_keys;
using rules_detail::expect_object;
using rules_detail::get_bool;
using rules_detail::get_enum;
using rules_detail::get_int;
using rules_detail::get_number;
using rules_detail::get_string;
using rules_detail::join_names;
using rules_detail::describe_json;
using rules_detail::did_you_mean;
using rules_detail::Json;
using rules_detail::Where;

namespace {

enum class RoleKind { kWeight, kActivation };

const std::vector<std::string> kRoleKeys = {"enabled",       "bits",          "type",       "format", "exponent_bits",
                                            "mantissa_bits", "exponent_bias", "max_val",    "sign",   "symmetric",
                                            "narrow",        "granularity",   "group_size", "scale",  "rounding",
                                            "method",        "percentile",    "axis"};

Status parse_role(const Json& j, const Where& at, RoleKind kind, RoleOverride& out) {
  QE_RETURN_IF_ERROR(expect_object(j, at));
  QE_RETURN_IF_ERROR(check_keys(j, at, kRoleKeys));
  QuantSpec& v = out.values;
  uint32_t& set = out.set;
  const bool weight = kind == RoleKind::kWeight;
  std::optional<std::string> type;
  if (j.contains("type")) {
    QE_ASSIGN_OR_RETURN(type, get_enum(j["type"], at.key("type"), {"int", "minifloat", "bipolar"}));
    v.kind = *type == "int" ? QuantKind::kInt : *type == "minifloat" ? QuantKind::kFloat : QuantKind::kBipolar;
    set |= kFieldKind;
  }
  if (j.contains("enabled")) {
    QE_ASSIGN_OR_RETURN(v.enabled, get_bool(j["enabled"], at.key("enabled")));
    set |= kFieldEnabled;
  }
  // Minifloat format: a named format and / or its individual fields; any of them implies
  // type minifloat.
  bool minifloat_field = false;
  if (j.contains("format")) {
    QE_ASSIGN_OR_RETURN(std::string f, get_enum(j["format"], at.key("format"), {"e4m3", "e5m2"}));
    v.minifloat = f == "e4m3" ? MinifloatFormat::e4m3() : MinifloatFormat::e5m2();
    set |= kFieldMinifloat;
    minifloat_field = true;
  }
  if (j.contains("exponent_bits")) {
    QE_ASSIGN_OR_RETURN(int64_t e, get_int(j["exponent_bits"], at.key("exponent_bits")));
    if (e < 1 || e > 8) return at.key("exponent_bits").error(e, " is out of range (1..8)");
    v.minifloat.exponent_bits = static_cast<int>(e);
    set |= kFieldExponentBits;
    minifloat_field = true;
  }
  if (j.contains("mantissa_bits")) {
    QE_ASSIGN_OR_RETURN(int64_t m, get_int(j["mantissa_bits"], at.key("mantissa_bits")));
    if (m < 0 || m > 10) return at.key("mantissa_bits").error(m, " is out of range (0..10)");
    v.minifloat.mantissa_bits = static_cast<int>(m);
    set |= kFieldMantissaBits;
    minifloat_field = true;
  }
  if (j.contains("exponent_bias")) {
    QE_ASSIGN_OR_RETURN(double b, get_number(j["exponent_bias"], at.key("exponent_bias")));
    v.minifloat.exponent_bias = static_cast<float>(b);
    set |= kFieldExponentBias;
    minifloat_field = true;
  }
  if (j.contains("max_val")) {
    QE_ASSIGN_OR_RETURN(double m, get_number(j["max_val"], at.key("max_val")));
    if (!(m > 0) || !std::isfinite(m)) return at.key("max_val").error(m, " must be a positive finite number");
    v.minifloat.max_val = static_cast<float>(m);
    set |= kFieldMaxVal;
    minifloat_field = true;
  }
  if (minifloat_field) {
    if (type && *type != "minifloat") {
      return at.error(
          "format / exponent_bits / mantissa_bits / exponent_bias / max_val apply to type 'minifloat', not '", *type,
          "'");
    }
    v.kind = QuantKind::kFloat;
    set |= kFieldKind;
  }
  if (j.contains("bits")) {
    const Where b = at.key("bits");
    QE_ASSIGN_OR_RETURN(int64_t bits, get_int(j["bits"], b));
    if (set & kFieldKind) {
      if (v.kind == QuantKind::kFloat) {
        return b.error(
            "does not apply to type 'minifloat' (its width is 1 + exponent_bits + mantissa_bits; "
            "use format or exponent_bits / mantissa_bits)");
      }
      if (v.kind == QuantKind::kBipolar && bits != 1)
        return b.error(bits, " is not valid for type 'bipolar' (always 1 bit)");
    }
    if (bits < 1 || bits > 8) {
      return b.error(bits, " is out of range (integer ", weight ? "weights" : "activations", " take 1..8 bits)");
    }
    v.bits = static_cast<int>(bits);
    set |= kFieldBits;
  }
  if (j.contains("sign")) {
    QE_ASSIGN_OR_RETURN(std::string s, get_enum(j["sign"], at.key("sign"), {"auto", "signed", "unsigned"}));
    QE_ASSIGN_OR_RETURN(v.sign, parse_signedness(s));
    set |= kFieldSign;
  }
  if (j.contains("symmetric")) {
    QE_ASSIGN_OR_RETURN(v.symmetric, get_bool(j["symmetric"], at.key("symmetric")));
    set |= kFieldSymmetric;
  }
  if (j.contains("narrow")) {
    QE_ASSIGN_OR_RETURN(v.narrow, get_bool(j["narrow"], at.key("narrow")));
    set |= kFieldNarrow;
  }
  if (j.contains("granularity")) {
    const Where w = at.key("granularity");
    QE_ASSIGN_OR_RETURN(std::string s, get_enum(j["granularity"], w, {"per_tensor", "per_channel", "per_group"}));
    QE_ASSIGN_OR_RETURN(v.granularity, parse_granularity(s));
    if (!weight && v.granularity == Granularity::kPerGroup) {
      return w.error("'per_group' is only supported for weights (activations are per_tensor or per_channel with an axis)");
    }
    set |= kFieldGranularity;
  }
  if (j.contains("axis")) {
    const Where w = at.key("axis");
    if (weight) return w.error("is only for activations; weights are per_channel along their output-channel axis");
    QE_ASSIGN_OR_RETURN(int64_t a, get_int(j["axis"], w));
    if (a < 0 || a > 7) return w.error(a, " is out of range (0..7)");
    v.axis = static_cast<int>(a);
    set |= kFieldAxis;
  }
  if (j.contains("group_size")) {
    QE_ASSIGN_OR_RETURN(int64_t gs, get_int(j["group_size"], at.key("group_size")));
    if (gs < 1 || gs > (int64_t{1} << 20)) return at.key("group_size").error(gs, " must be a positive integer");
    v.group_size = static_cast<int>(gs);
    set |= kFieldGroupSize;
  }
  if ((set & kFieldGranularity) && v.granularity == Granularity::kPerGroup && !(set & kFieldGroupSize)) {
    // Merging could bring group_size from elsewhere, but a per_group request without a size next
    // to it is almost always an omission; resolve_rules checks the merged result too.
    return at.error("granularity 'per_group' needs group_size");
  }
  if (j.contains("scale")) {
    QE_ASSIGN_OR_RETURN(std::string s, get_enum(j["scale"], at.key("scale"), {"float", "po2"}));
    QE_ASSIGN_OR_RETURN(v.scale_type, parse_scale_type(s));
    set |= kFieldScaleType;
  }
  if (j.contains("rounding")) {
    const Where w = at.key("rounding");
    QE_ASSIGN_OR_RETURN(std::string s, get_string(j["rounding"], w));
    auto r = parse_rounding_mode(s);
    if (!r.is_ok()) {
      return w.error("unknown rounding mode '", s,
                     "' (expected ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, UP, DOWN, CEIL or FLOOR)");
    }
    v.rounding = *r;
    set |= kFieldRounding;
  }
  if (j.contains("method")) {
    const Where w = at.key("method");
    const std::vector<std::string> allowed = weight
                                                 ? std::vector<std::string>{"absmax", "minmax", "mse"}
                                                 : std::vector<std::string>{"minmax", "percentile", "mse", "entropy"};
    QE_ASSIGN_OR_RETURN(std::string s, get_string(j["method"], w));
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      if (parse_range_method(s).is_ok()) {
        return w.error("'", s, "' is not a range method for ", weight ? "weights" : "activations", " (expected ",
                       join_names(allowed), ")");
      }
      return w.error("unknown value '", s, "' (expected ", join_names(allowed), ")", did_you_mean(s, allowed));
    }
    QE_ASSIGN_OR_RETURN(v.method, parse_range_method(s));
    set |= kFieldMethod;
  }
  if (j.contains("percentile")) {
    const Where w = at.key("percentile");
    QE_ASSIGN_OR_RETURN(double p, get_number(j["percentile"], w));
    if (!(p > 0.0 && p <= 100.0)) return w.error(p, " is outside (0, 100]");
    if (weight) return w.error("applies to activations only (weights use absmax, minmax or mse)");
    v.percentile = p;
    set |= kFieldPercentile;
  }
  return Status::ok();
}

Result<int> parse_bias(const Json& j, const Where& at) {
  QE_RETURN_IF_ERROR(expect_object(j, at));
  QE_RETURN_IF_ERROR(check_keys(j, at, {"bits"}));
  if (!j.contains("bits")) return at.error("expected key 'bits' (32, 16 or 0 = float)");
  QE_ASSIGN_OR_RETURN(int64_t bits, get_int(j["bits"], at.key("bits")));
  if (bits != 0 && bits != 16 && bits != 32) {
    return at.key("bits").error(bits, " is not a valid bias width (expected 32, 16 or 0 = float)");
  }
  return static_cast<int>(bits);
}

// "activation" first so that "input" / "output" given next to it refine it.
Status parse_roles(const Json& j, const Where& at, RoleOverride& weight, RoleOverride& input, RoleOverride& output) {
  if (j.contains("weight")) QE_RETURN_IF_ERROR(parse_role(j["weight"], at.key("weight"), RoleKind::kWeight, weight));
  if (j.contains("activation")) {
    RoleOverride act;
    QE_RETURN_IF_ERROR(parse_role(j["activation"], at.key("activation"), RoleKind::kActivation, act));
    input = act;
    output = act;
  }
  for (const char* role : {"input", "output"}) {
    if (!j.contains(role)) continue;
    RoleOverride r;
    QE_RETURN_IF_ERROR(parse_role(j[role], at.key(role), RoleKind::kActivation, r));
    RoleOverride& dst = std::string(role) == "input" ? input : output;
    merge_spec_fields(dst.values, r.values, r.set);
    dst.set |= r.set;
  }
  return Status::ok();
}

Status parse_defaults(const Json& j, const Where& at, RuleSet& rs) {
  QE_RETURN_IF_ERROR(expect_object(j, at));
  QE_RETURN_IF_ERROR(check_keys(j, at, {"weight", "activation", "input", "output", "bias"}));
  RoleOverride w, in, out;
  QE_RETURN_IF_ERROR(parse_roles(j, at, w, in, out));
  merge_spec_fields(rs.weight, w.values, w.set);
  merge_spec_fields(rs.input, in.values, in.set);
  merge_spec_fields(rs.output, out.values, out.set);
  if (j.contains("bias")) {
    QE_ASSIGN_OR_RETURN(rs.bias.bits, parse_bias(j["bias"], at.key("bias")));
  }
  return Status::ok();
}

Result<Rule> parse_rule(const Json& j, const Where& at, int index) {
  QE_RETURN_IF_ERROR(expect_object(j, at));
  QE_RETURN_IF_ERROR(
      check_keys(j, at, {"name", "description", "match", "weight", "input", "output", "activation", "bias", "skip"}));
  Rule r;
  r.index = index;
  r.path = at.path;
  if (j.contains("name")) {
    QE_ASSIGN_OR_RETURN(r.name, get_string(j["name"], at.key("name")));
  }
  if (j.contains("description")) QE_RETURN_IF_ERROR(get_string(j["description"], at.key("description")).status());
  if (j.contains("match")) {
    QE_ASSIGN_OR_RETURN(r.match, rules_detail::parse_match(j["match"], at.key("match")));
  }
  QE_RETURN_IF_ERROR(parse_roles(j, at, r.weight, r.input, r.output));
  if (j.contains("bias")) {
    QE_ASSIGN_OR_RETURN(r.bias_bits, parse_bias(j["bias"], at.key("bias")));
  }
  if (j.contains("skip")) {
    QE_ASSIGN_OR_RETURN(r.skip, get_bool(j["skip"], at.key("skip")));
  }
  const bool acts = j.contains("weight") || j.contains("input") || j.contains("output") || j.contains("activation") ||
                    j.contains("bias") || j.contains("skip");
  if (!acts) return at.error("the rule changes nothing (give weight, input, output, activation, bias or skip)");
  return r;
}

Status check_policy(const std::string& p, const std::string& where) {
  if (p == "layerwise" || p == "full" || p == "finn") return Status::ok();
  return invalid_argument(where, ": unknown policy '", p, "' (expected layerwise, full or finn)",
                          did_you_mean(p, {"layerwise", "full", "finn"}));
}

}  // namespace

std::string Rule::label() const { return name.empty() ? "#" + std::to_string(index) : name; }

RuleSet default_rule_set() { return RuleSet{}; }

Result<RuleSet> parse_rules(const std::string& json_text, const std::string& source_name) {
  Json j;
  try {
    j = Json::parse(json_text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const Json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e999") throws out_of_range.406.
    // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    std::string what = e.what();
    const size_t p = what.find("] ");
    if (p != std::string::npos) what = what.substr(p + 2);
    return parse_error(source_name, ": invalid JSON: ", what);
  }
  RuleSet rs;
  rs.source = source_name;
  const Where top{rs.source, ""};
  if (!j.is_object()) return top.error("expected a JSON object, got ", describe_json(j));
  QE_RETURN_IF_ERROR(check_keys(j, top, {"$schema", "description", "policy", "defaults", "rules", "algorithms"}));
  if (j.contains("$schema")) QE_RETURN_IF_ERROR(get_string(j["$schema"], top.key("$schema")).status());
  if (j.contains("description")) QE_RETURN_IF_ERROR(get_string(j["description"], top.key("description")).status());
  if (j.contains("policy")) {
    QE_ASSIGN_OR_RETURN(rs.policy, get_enum(j["policy"], top.key("policy"), {"layerwise", "full", "finn"}));
  }
  if (j.contains("defaults")) QE_RETURN_IF_ERROR(parse_defaults(j["defaults"], top.key("defaults"), rs));
  if (j.contains("algorithms")) {
    QE_RETURN_IF_ERROR(rules_detail::parse_ptq_config(j["algorithms"], top.key("algorithms"), rs.algorithms));
  }
  if (j.contains("rules")) {
    const Where at = top.key("rules");
    const Json& rules = j["rules"];
    if (!rules.is_array()) return at.error("expected an array of rules, got ", describe_json(rules));
    for (size_t i = 0; i < rules.size(); ++i) {
      QE_ASSIGN_OR_RETURN(Rule r, parse_rule(rules[i], at.index(i), static_cast<int>(i)));
      rs.rules.push_back(std::move(r));
    }
  }
  return rs;
}

Result<RuleSet> load_rule_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open rule file '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("cannot read rule file '", path, "'");
  return parse_rules(ss.str(), path);
}

Status apply_flags(RuleSet& rs, const QuantFlags& f) {
  auto check_bits = [](int bits, const char* flag) -> Status {
    if (bits < 1 || bits > 8) return invalid_argument(flag, ": ", bits, " is out of range (1..8 bits)");
    return Status::ok();
  };
  if (f.policy) QE_RETURN_IF_ERROR(check_policy(*f.policy, "--policy"));
  if (f.w_bits) QE_RETURN_IF_ERROR(check_bits(*f.w_bits, "--w-bits"));
  if (f.a_bits) QE_RETURN_IF_ERROR(check_bits(*f.a_bits, "--a-bits"));
  if (f.first_last_bits) QE_RETURN_IF_ERROR(check_bits(*f.first_last_bits, "--first-last-bits"));
  if (f.bias_bits && *f.bias_bits != 0 && *f.bias_bits != 16 && *f.bias_bits != 32) {
    return invalid_argument("--bias-bits: ", *f.bias_bits, " is not a valid bias width (expected 32, 16 or 0 = float)");
  }
  if (f.percentile && !(*f.percentile > 0.0 && *f.percentile <= 100.0)) {
    return invalid_argument("--percentile: ", *f.percentile, " is outside (0, 100]");
  }
  std::optional<RangeMethod> w_method, a_method;
  if (f.w_method) {
    auto m = parse_range_method(*f.w_method);
    if (!m.is_ok() || *m == RangeMethod::kPercentile || *m == RangeMethod::kEntropy) {
      return invalid_argument("--w-method: unknown weight range method '", *f.w_method,
                              "' (expected absmax, minmax or mse)");
    }
    w_method = *m;
  }
  if (f.a_method) {
    auto m = parse_range_method(*f.a_method);
    if (!m.is_ok() || *m == RangeMethod::kAbsMax) {
      return invalid_argument("--a-method: unknown activation range method '", *f.a_method,
                              "' (expected minmax, percentile, mse or entropy)");
    }
    a_method = *m;
  }

  if (f.policy) rs.policy = *f.policy;
  if (f.w_bits) rs.weight.bits = *f.w_bits;
  if (f.a_bits) rs.input.bits = rs.output.bits = *f.a_bits;
  if (f.bias_bits) rs.bias.bits = *f.bias_bits;
  if (f.per_channel) rs.weight.granularity = *f.per_channel ? Granularity::kPerChannel : Granularity::kPerTensor;
  if (f.po2) {
    const ScaleType t = *f.po2 ? ScaleType::kPo2 : ScaleType::kFloat;
    rs.weight.scale_type = rs.input.scale_type = rs.output.scale_type = t;
  }
  if (f.act_symmetric) rs.input.symmetric = rs.output.symmetric = *f.act_symmetric;
  if (w_method) rs.weight.method = *w_method;
  if (a_method) rs.input.method = rs.output.method = *a_method;
  if (f.percentile) rs.input.percentile = rs.output.percentile = *f.percentile;
  if (f.first_last_bits) {
    const int n = *f.first_last_bits;
    for (auto pos : {RuleMatch::Position::kFirstCompute, RuleMatch::Position::kLastCompute}) {
      Rule r;
      const bool first = pos == RuleMatch::Position::kFirstCompute;
      r.name = first ? "--first-last-bits (first)" : "--first-last-bits (last)";
      r.path = "--first-last-bits";
      r.index = static_cast<int>(rs.rules.size());
      r.match.position = pos;
      r.weight.values.bits = n;
      r.weight.set = kFieldBits;
      r.input.values.bits = n;
      r.input.set = kFieldBits;
      rs.rules.push_back(std::move(r));
    }
  }
  return Status::ok();
}

}  // namespace qe

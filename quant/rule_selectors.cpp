// Rule selectors ("match"): parsing, evaluation on a node, and resolve_rules().
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "quant/rules.h"
#include "quant/rules_internal.h"
#include "quant/value_facts.h"

namespace qe {

using rules_detail::Json;
using rules_detail::Where;

namespace {

constexpr size_t kMaxRegexLength = 1000;
constexpr int kMaxRegexNesting = 16;
constexpr int kMaxUnboundedQuantifiers = 6;

// std::regex compiles by recursion and matches by backtracking. A pattern from a hostile rule
// file could use up the stack (deep nesting) or take exponential time (a quantifier on a group
// that itself repeats or alternates, stacked quantifiers, many unbounded ones). Node-name
// patterns need none of that, so such patterns are refused; the reason, or "" when tame.
std::string untamed_regex_reason(const std::string& p) {
  struct Group {
    bool repeats = false;    // holds a quantifier
    bool alternates = false;  // holds a '|'
  };
  std::vector<Group> open{Group{}};
  Group closed;                 // the group just closed, when the previous atom was ')'
  bool previous_is_group = false, previous_is_atom = false;
  int quantifiers_in_a_row = 0;  // a quantifier may be followed by one '?' (lazy), nothing more
  int unbounded = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    const bool brace_quantifier = c == '{' && i + 1 < p.size() && std::isdigit(static_cast<unsigned char>(p[i + 1]));
    if (c == '*' || c == '+' || c == '?' || brace_quantifier) {
      if (quantifiers_in_a_row > 0) {
        if (c != '?' || quantifiers_in_a_row > 1) return "a quantifier follows another quantifier";
        quantifiers_in_a_row = 2;
        continue;
      }
      if (!previous_is_atom) return "a quantifier with nothing to repeat";
      if (previous_is_group && (closed.repeats || closed.alternates)) {
        return "a repeated group contains a quantifier or an alternative (exponential matching)";
      }
      bool is_unbounded = c == '*' || c == '+';
      if (brace_quantifier) {
        const size_t close = p.find('}', i);
        if (close == std::string::npos) return "an unclosed {n,m} quantifier";
        const std::string body = p.substr(i + 1, close - i - 1);
        // libstdc++ parses the counts into a long without an overflow check.
        size_t digits = 0;
        for (char d : body) {
          digits = std::isdigit(static_cast<unsigned char>(d)) ? digits + 1 : 0;
          if (digits > 4) return "a repetition count over 9999";
        }
        is_unbounded = !body.empty() && body.back() == ',';
        i = close;
      }
      unbounded += is_unbounded ? 1 : 0;
      if (unbounded > kMaxUnboundedQuantifiers) {
        return str_cat("more than ", kMaxUnboundedQuantifiers, " unbounded quantifiers (*, +, {n,})");
      }
      open.back().repeats = true;
      quantifiers_in_a_row = 1;
      previous_is_group = previous_is_atom = false;
      continue;
    }
    quantifiers_in_a_row = 0;
    previous_is_group = false;
    previous_is_atom = true;
    if (c == '\\') {
      // Back-references make matching exponential (and their numbers overflow libstdc++'s parser).
      if (i + 1 < p.size() && p[i + 1] >= '1' && p[i + 1] <= '9') return "back-references (\\1 ...) are not supported";
      ++i;
    } else if (c == '[') {
      // A bracket expression is one atom: skip to its closing ']' (a leading ']' is literal).
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(') {
      open.push_back(Group{});
      if (static_cast<int>(open.size()) - 1 > kMaxRegexNesting) {
        return str_cat("groups nested more than ", kMaxRegexNesting, " deep");
      }
      previous_is_atom = false;
    } else if (c == ')') {
      if (open.size() == 1) return "an unbalanced ')'";
      closed = open.back();
      open.pop_back();
      open.back().repeats = open.back().repeats || closed.repeats;
      open.back().alternates = open.back().alternates || closed.alternates;
      previous_is_group = true;
    } else if (c == '|') {
      open.back().alternates = true;
      previous_is_atom = false;
    }
  }
  return "";
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Checks a glob's brackets close, so that a typo is an error rather than a pattern that never matches.
Status check_glob(const std::string& p, const Where& at) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '[') continue;
    size_t j = i + 1;
    if (j < p.size() && (p[j] == '!' || p[j] == '^')) ++j;
    if (j < p.size() && p[j] == ']') ++j;  // a leading ] is a member
    while (j < p.size() && p[j] != ']') ++j;
    if (j >= p.size()) return at.error("unterminated '[' in glob '", p, "'");
    i = j;
  }
  return Status::ok();
}

std::vector<std::string> all_op_names() {
  std::vector<std::string> names;
  for (int i = 0; i < static_cast<int>(OpKind::kCount); ++i) names.emplace_back(op_name(static_cast<OpKind>(i)));
  return names;
}

Result<OpKind> parse_op(const Json& j, const Where& at) {
  if (!j.is_string()) return at.error("expected an op name, got ", rules_detail::describe_json(j));
  const std::string s = j.get<std::string>();
  auto op = op_from_name(s);
  if (!op) return at.error("unknown op '", s, "'", rules_detail::did_you_mean(s, all_op_names()));
  return *op;
}

// An integer, or a predicate string.
Result<Predicate> parse_int_or_predicate(const Json& j, const Where& at) {
  if (j.is_number_integer()) {
    Predicate p;
    p.value = static_cast<double>(j.get<int64_t>());
    p.text = "== " + std::to_string(j.get<int64_t>());
    return p;
  }
  if (j.is_string()) {
    auto p = parse_predicate(j.get<std::string>());
    if (!p.is_ok()) return at.error(p.status().message());
    return *p;
  }
  return at.error("expected an integer or a predicate string such as \">= 3\", got ", rules_detail::describe_json(j));
}

Result<AttrCondition> parse_attr_condition(const std::string& attr, const Json& j, const Where& at) {
  AttrCondition c;
  c.attr = attr;
  if (j.is_number()) {
    c.kind = AttrCondition::Kind::kNumber;
    c.numbers = {j.get<double>()};
  } else if (j.is_array()) {
    c.kind = AttrCondition::Kind::kNumberList;
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number()) return at.index(i).error("expected a number, got ", rules_detail::describe_json(j[i]));
      c.numbers.push_back(j[i].get<double>());
    }
  } else if (j.is_string()) {
    const std::string s = trim(j.get<std::string>());
    const bool predicate_like =
        !s.empty() && (std::strchr("=!<>+-.", s[0]) != nullptr || std::isdigit(static_cast<unsigned char>(s[0])));
    if (predicate_like) {
      auto p = parse_predicate(s);
      if (!p.is_ok()) return at.error(p.status().message());
      c.kind = AttrCondition::Kind::kPredicate;
      c.predicate = *p;
    } else {
      c.kind = AttrCondition::Kind::kString;
      c.text = j.get<std::string>();
    }
  } else {
    return at.error("expected a predicate string, a number, an array of numbers or a string, got ",
                    rules_detail::describe_json(j));
  }
  return c;
}

// ONNX defaults of attributes that selectors commonly test, so that {"group": "!= 1"} does not
// depend on whether the exporter wrote the default out.
std::optional<AttrValue> default_attribute(const Graph& g, NodeId id, const std::string& name) {
  const Node& n = g.node(id);
  const size_t rank = node_kernel_shape(g, id).size();
  auto ones = [&] { return AttrValue(std::vector<int64_t>(rank, 1)); };
  switch (n.op) {
    case OpKind::kConv:
    case OpKind::kConvTranspose:
      if (name == "group") return AttrValue(int64_t{1});
      if ((name == "strides" || name == "dilations") && rank) return ones();
      if (name == "pads" && rank) return AttrValue(std::vector<int64_t>(2 * rank, 0));
      break;
    case OpKind::kAveragePool:
    case OpKind::kMaxPool:
      if ((name == "strides" || name == "dilations") && rank) return ones();
      if (name == "pads" && rank) return AttrValue(std::vector<int64_t>(2 * rank, 0));
      if (name == "ceil_mode" || name == "count_include_pad") return AttrValue(int64_t{0});
      break;
    case OpKind::kGemm:
      if (name == "transA" || name == "transB") return AttrValue(int64_t{0});
      if (name == "alpha" || name == "beta") return AttrValue(1.0f);
      break;
    case OpKind::kLeakyRelu:
      if (name == "alpha") return AttrValue(0.01f);
      break;
    case OpKind::kHardSigmoid:
      if (name == "alpha") return AttrValue(0.2f);
      if (name == "beta") return AttrValue(0.5f);
      break;
    case OpKind::kFlatten:
      if (name == "axis") return AttrValue(int64_t{1});
      break;
    case OpKind::kSoftmax:
      if (name == "axis") return AttrValue(int64_t{-1});
      break;
    case OpKind::kResize:
      if (name == "mode") return AttrValue(std::string("nearest"));
      break;
    case OpKind::kPad:
      if (name == "mode") return AttrValue(std::string("constant"));
      break;
    default: break;
  }
  return std::nullopt;
}

bool attr_condition_holds(const Graph& g, NodeId id, const AttrCondition& c) {
  const AttrValue* found = g.node(id).attrs.find(c.attr);
  std::optional<AttrValue> def;
  if (!found) {
    def = default_attribute(g, id, c.attr);
    if (!def) return false;
    found = &*def;
  }
  std::vector<double> nums;
  bool is_list = false;
  if (auto* i = std::get_if<int64_t>(found)) {
    nums = {static_cast<double>(*i)};
  } else if (auto* f = std::get_if<float>(found)) {
    nums = {static_cast<double>(*f)};
  } else if (auto* is = std::get_if<std::vector<int64_t>>(found)) {
    nums.assign(is->begin(), is->end());
    is_list = true;
  } else if (auto* fs = std::get_if<std::vector<float>>(found)) {
    nums.assign(fs->begin(), fs->end());
    is_list = true;
  } else if (auto* s = std::get_if<std::string>(found)) {
    return c.kind == AttrCondition::Kind::kString && *s == c.text;
  } else {
    return false;
  }
  switch (c.kind) {
    case AttrCondition::Kind::kPredicate:
      return !nums.empty() && std::all_of(nums.begin(), nums.end(), [&](double x) { return c.predicate.test(x); });
    case AttrCondition::Kind::kNumber:
      // A number against a list attribute: every element equals it ("strides": 2 matches [2, 2]).
      return !nums.empty() && std::all_of(nums.begin(), nums.end(), [&](double x) { return x == c.numbers[0]; });
    case AttrCondition::Kind::kNumberList: (void)is_list; return nums == c.numbers;
    case AttrCondition::Kind::kString: return false;
  }
  return false;
}

struct MatchContext {
  NodeId first_compute = kNoNode;
  NodeId last_compute = kNoNode;
};

bool rule_matches(const Graph& g, NodeId id, const RuleMatch& m, const MatchContext& ctx) {
  const Node& n = g.node(id);
  if (!m.ops.empty() && std::find(m.ops.begin(), m.ops.end(), n.op) == m.ops.end()) return false;
  if (m.position == RuleMatch::Position::kFirstCompute && id != ctx.first_compute) return false;
  if (m.position == RuleMatch::Position::kLastCompute && id != ctx.last_compute) return false;
  if (m.name_glob && !glob_match(*m.name_glob, n.name)) return false;
  if (m.name_regex && !std::regex_match(n.name, *m.name_regex)) return false;
  if (m.initializer_glob) {
    const ComputeInputs ci = compute_inputs(g, id);
    if (ci.weight < 0) return false;
    if (!glob_match(*m.initializer_glob, g.value(n.inputs[static_cast<size_t>(ci.weight)]).name)) return false;
  }
  if (m.depthwise && is_depthwise_conv(g, id) != *m.depthwise) return false;
  if (m.kernel_size) {
    const std::vector<int64_t> k = node_kernel_shape(g, id);
    if (k.empty()) return false;
    for (int64_t d : k) {
      if (d < 0 || !m.kernel_size->test(static_cast<double>(d))) return false;
    }
  }
  if (m.in_channels) {
    const int64_t c = node_in_channels(g, id);
    if (c < 0 || !m.in_channels->test(static_cast<double>(c))) return false;
  }
  if (m.out_channels) {
    const int64_t c = node_out_channels(g, id);
    if (c < 0 || !m.out_channels->test(static_cast<double>(c))) return false;
  }
  for (const AttrCondition& c : m.attrs) {
    if (!attr_condition_holds(g, id, c)) return false;
  }
  return true;
}

void finalize_spec(QuantSpec& s) {
  if (s.kind == QuantKind::kBipolar) s.bits = 1;
  if (s.kind == QuantKind::kFloat) s.bits = 1 + s.minifloat.exponent_bits + s.minifloat.mantissa_bits;
}

}  // namespace

bool Predicate::test(double x) const {
  switch (cmp) {
    case Cmp::kEq: return x == value;
    case Cmp::kNe: return x != value;
    case Cmp::kLt: return x < value;
    case Cmp::kLe: return x <= value;
    case Cmp::kGt: return x > value;
    case Cmp::kGe: return x >= value;
  }
  return false;
}

Result<Predicate> parse_predicate(const std::string& text) {
  const std::string s = trim(text);
  Predicate p;
  p.text = s;
  size_t i = 0;
  static const std::pair<const char*, Predicate::Cmp> kOps[] = {
      {"==", Predicate::Cmp::kEq}, {"!=", Predicate::Cmp::kNe}, {">=", Predicate::Cmp::kGe},
      {"<=", Predicate::Cmp::kLe}, {">", Predicate::Cmp::kGt},  {"<", Predicate::Cmp::kLt},
      {"=", Predicate::Cmp::kEq}};
  for (const auto& [op, cmp] : kOps) {
    if (s.compare(0, std::strlen(op), op) == 0) {
      p.cmp = cmp;
      i = std::strlen(op);
      break;
    }
  }
  const std::string num = trim(s.substr(i));
  char* end = nullptr;
  const double v = num.empty() ? 0.0 : std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size()) {
    return invalid_argument("bad predicate '", text,
                            "' (expected a comparison and a number, e.g. \"== 3\", \"!= 1\", \">= 2\", \"< 4\")");
  }
  p.value = v;
  return p;
}

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point for the last '*' (linear in practice).
  size_t pi = 0, ti = 0, star = std::string_view::npos, star_t = 0;
  auto class_match = [&](size_t& i, char c) -> std::optional<bool> {
    // p[i] == '['; on success i points past the closing ']'.
    size_t j = i + 1;
    bool negate = false;
    if (j < p.size() && (p[j] == '!' || p[j] == '^')) {
      negate = true;
      ++j;
    }
    bool hit = false;
    bool first = true;
    while (j < p.size() && (p[j] != ']' || first)) {
      first = false;
      if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
        if (p[j] <= c && c <= p[j + 2]) hit = true;
        j += 3;
      } else {
        if (p[j] == c) hit = true;
        ++j;
      }
    }
    if (j >= p.size()) return std::nullopt;  // unterminated: treat '[' literally
    i = j + 1;
    return hit != negate;
  };
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      star_t = ti;
      continue;
    }
    if (pi < p.size()) {
      if (p[pi] == '?') {
        ++pi;
        ++ti;
        continue;
      }
      if (p[pi] == '[') {
        size_t next = pi;
        auto r = class_match(next, t[ti]);
        if (r.has_value()) {
          if (*r) {
            pi = next;
            ++ti;
            continue;
          }
        } else if (t[ti] == '[') {
          ++pi;
          ++ti;
          continue;
        }
      } else if (p[pi] == t[ti]) {
        ++pi;
        ++ti;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    pi = star + 1;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace rules_detail {

Result<RuleMatch> parse_match(const Json& j, const Where& at) {
  if (!j.is_object()) return at.error("expected an object, got ", describe_json(j));
  QE_RETURN_IF_ERROR(check_keys(j, at,
                                {"op", "name", "name_regex", "initializer", "attrs", "depthwise", "kernel_size",
                                 "in_channels", "out_channels", "position"}));
  RuleMatch m;
  if (j.contains("op")) {
    const Json& op = j["op"];
    const Where w = at.key("op");
    if (op.is_array()) {
      if (op.empty()) return w.error("expected at least one op name");
      for (size_t i = 0; i < op.size(); ++i) {
        QE_ASSIGN_OR_RETURN(OpKind k, parse_op(op[i], w.index(i)));
        m.ops.push_back(k);
      }
    } else {
      QE_ASSIGN_OR_RETURN(OpKind k, parse_op(op, w));
      m.ops.push_back(k);
    }
  }
  auto get_glob = [&](const char* key, std::optional<std::string>& out) -> Status {
    if (!j.contains(key)) return Status::ok();
    const Where w = at.key(key);
    if (!j[key].is_string()) return w.error("expected a glob string, got ", describe_json(j[key]));
    out = j[key].get<std::string>();
    return check_glob(*out, w);
  };
  QE_RETURN_IF_ERROR(get_glob("name", m.name_glob));
  QE_RETURN_IF_ERROR(get_glob("initializer", m.initializer_glob));
  if (j.contains("name_regex")) {
    const Where w = at.key("name_regex");
    if (!j["name_regex"].is_string())
      return w.error("expected a regular expression string, got ", describe_json(j["name_regex"]));
    m.name_regex_text = j["name_regex"].get<std::string>();
    // std::regex compiles and matches by recursion: deep nesting or a huge pattern would use up
    // the stack on a hostile rule file. Node-name patterns never need either.
    if (m.name_regex_text->size() > kMaxRegexLength) {
      return w.error("regular expression of ", m.name_regex_text->size(), " characters; at most ", kMaxRegexLength,
                     " are accepted");
    }
    if (const std::string why = untamed_regex_reason(*m.name_regex_text); !why.empty()) {
      return w.error("regular expression '", m.name_regex_text->substr(0, 60), "' refused: ", why);
    }
    try {
      m.name_regex.emplace(*m.name_regex_text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return w.error("bad regular expression '", *m.name_regex_text, "': ", e.what());
    }
  }
  if (j.contains("attrs")) {
    const Where w = at.key("attrs");
    const Json& attrs = j["attrs"];
    if (!attrs.is_object()) return w.error("expected an object of attribute conditions, got ", describe_json(attrs));
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      QE_ASSIGN_OR_RETURN(AttrCondition c, parse_attr_condition(it.key(), it.value(), w.key(it.key())));
      m.attrs.push_back(std::move(c));
    }
  }
  if (j.contains("depthwise")) {
    if (!j["depthwise"].is_boolean())
      return at.key("depthwise").error("expected true or false, got ", describe_json(j["depthwise"]));
    m.depthwise = j["depthwise"].get<bool>();
  }
  if (j.contains("kernel_size")) {
    QE_ASSIGN_OR_RETURN(m.kernel_size, parse_int_or_predicate(j["kernel_size"], at.key("kernel_size")));
  }
  if (j.contains("in_channels")) {
    QE_ASSIGN_OR_RETURN(m.in_channels, parse_int_or_predicate(j["in_channels"], at.key("in_channels")));
  }
  if (j.contains("out_channels")) {
    QE_ASSIGN_OR_RETURN(m.out_channels, parse_int_or_predicate(j["out_channels"], at.key("out_channels")));
  }
  if (j.contains("position")) {
    const Where w = at.key("position");
    const std::vector<std::string> names = {"first_compute", "last_compute"};
    if (!j["position"].is_string())
      return w.error("expected first_compute or last_compute, got ", describe_json(j["position"]));
    const std::string s = j["position"].get<std::string>();
    if (s == "first_compute") {
      m.position = RuleMatch::Position::kFirstCompute;
    } else if (s == "last_compute") {
      m.position = RuleMatch::Position::kLastCompute;
    } else {
      return w.error("unknown value '", s, "' (expected first_compute or last_compute)", did_you_mean(s, names));
    }
  }
  return m;
}

}  // namespace rules_detail

Result<ResolvedConfig> resolve_rules(const Graph& g, const RuleSet& rs) {
  ResolvedConfig rc;
  rc.policy = rs.policy.empty() ? "full" : rs.policy;
  NodeQuantConfig base;
  base.weight = rs.weight;
  base.input = rs.input;
  base.output = rs.output;
  base.bias = rs.bias;
  finalize_spec(base.weight);
  finalize_spec(base.input);
  finalize_spec(base.output);
  rc.nodes.assign(g.num_nodes(), base);

  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  MatchContext ctx;
  for (NodeId id : order) {
    if (!is_compute_op(g.node(id).op)) continue;
    if (ctx.first_compute == kNoNode) ctx.first_compute = id;
    ctx.last_compute = id;
  }

  std::vector<int> matches(rs.rules.size(), 0);
  std::vector<int> weight_matches(rs.rules.size(), 0);
  for (NodeId id : order) {
    NodeQuantConfig& c = rc.nodes[static_cast<size_t>(id)];
    for (size_t r = 0; r < rs.rules.size(); ++r) {
      const Rule& rule = rs.rules[r];
      if (!rule_matches(g, id, rule.match, ctx)) continue;
      ++matches[r];
      if (compute_inputs(g, id).weight >= 0) ++weight_matches[r];
      c.matched_rules.push_back(rule.label());
      merge_spec_fields(c.weight, rule.weight.values, rule.weight.set);
      merge_spec_fields(c.input, rule.input.values, rule.input.set);
      merge_spec_fields(c.output, rule.output.values, rule.output.set);
      c.weight_set |= rule.weight.set;
      c.input_set |= rule.input.set;
      c.output_set |= rule.output.set;
      if (rule.bias_bits) c.bias.bits = *rule.bias_bits;
      if (rule.skip) c.skip = *rule.skip;
    }
    for (auto [spec, role, member] :
         {std::tuple{&c.weight, "weight", &Rule::weight}, std::tuple{&c.input, "input", &Rule::input},
          std::tuple{&c.output, "output", &Rule::output}}) {
      finalize_spec(*spec);
      const char* missing = nullptr;
      if (spec != &c.weight && spec->granularity == Granularity::kPerChannel && spec->axis < 0) {
        missing = "granularity 'per_channel' on activations needs axis";
      } else if (spec->granularity == Granularity::kPerGroup && spec->group_size <= 0) {
        missing = "granularity 'per_group' needs group_size";
      }
      if (!missing) continue;
      // Name the rule that asked for the granularity so the user knows which line to fix.
      std::string where = std::string("defaults.") + role;
      for (const Rule& rule : rs.rules) {
        if (((rule.*member).set & kFieldGranularity) && rule_matches(g, id, rule.match, ctx))
          where = rule.path + "." + role;
      }
      return invalid_argument(rs.source, ": ", where, ": ", missing, " (",
                              describe_node(g, id), ")");
    }
  }
  for (size_t r = 0; r < rs.rules.size(); ++r) {
    const Rule& rule = rs.rules[r];
    const std::string who = "rule '" + rule.label() + "' (" + rule.path + ")";
    if (matches[r] == 0) {
      rc.warnings.push_back(who + " matches no node");
    } else if ((rule.weight.set || rule.bias_bits) && weight_matches[r] == 0) {
      rc.warnings.push_back(who + " sets weight or bias settings but matches no node with a weight");
    }
  }
  return rc;
}

}  // namespace qe

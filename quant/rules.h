// The quantization rule file: defaults per role plus an ordered list of rules that select
// nodes (by op, name, attributes, shape facts, position) and override settings field by
// field. Every matching rule applies, in file order, so the last match wins per field.
// Command-line flags change the defaults; --first-last-bits appends two rules. The format
// is documented in docs/config.md and described by docs/quant-rules.schema.json.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "graph/graph.h"
#include "quant/ptq_config.h"
#include "quant/quant_plan.h"
#include "quant/quant_spec.h"

namespace qe {

// "== 3", "!= 1", ">= 2", "< 4" (a bare number means ==).
struct Predicate {
  enum class Cmp { kEq, kNe, kLt, kLe, kGt, kGe };
  Cmp cmp = Cmp::kEq;
  double value = 0;
  std::string text;  // as written, for explanations
  bool test(double x) const;
};
Result<Predicate> parse_predicate(const std::string& text);

// Shell-style glob: * (any run), ? (one character), [abc] [a-z] [!a-z] (a class).
bool glob_match(std::string_view pattern, std::string_view text);

// One condition of "attrs": a predicate (every element of a list attribute must satisfy it),
// equality with a number, a list of numbers or a string.
struct AttrCondition {
  enum class Kind { kPredicate, kNumber, kNumberList, kString };
  std::string attr;
  Kind kind = Kind::kPredicate;
  Predicate predicate;
  std::vector<double> numbers;  // kNumber: one element
  std::string text;             // kString
};

struct RuleMatch {
  enum class Position { kAny, kFirstCompute, kLastCompute };
  std::vector<OpKind> ops;  // empty: any op
  std::optional<std::string> name_glob;
  std::optional<std::string> name_regex_text;
  std::optional<std::regex> name_regex;
  std::optional<std::string> initializer_glob;
  std::vector<AttrCondition> attrs;
  std::optional<bool> depthwise;
  std::optional<Predicate> kernel_size;
  std::optional<Predicate> in_channels;
  std::optional<Predicate> out_channels;
  Position position = Position::kAny;
};

// Settings given in one role object: `values` holds them, `set` (SpecField bits) says which.
struct RoleOverride {
  QuantSpec values;
  uint32_t set = 0;
};

struct Rule {
  std::string name;  // optional in the file
  std::string path;  // "rules[2]": where it came from, for messages
  RuleMatch match;
  RoleOverride weight, input, output;
  std::optional<int> bias_bits;
  std::optional<bool> skip;
  int index = 0;
  // The name, or "#<index>" for an unnamed rule.
  std::string label() const;
};

struct RuleSet {
  std::string source;  // file name (or what parse_rules was told)
  std::string policy;  // "" (not given: full), "layerwise", "full" or "finn"
  QuantSpec weight = default_weight_spec();
  QuantSpec input = default_activation_spec();
  QuantSpec output = default_activation_spec();
  BiasSpec bias;
  std::vector<Rule> rules;
  PtqConfig algorithms;  // the file's "algorithms", then the flags
};

Result<RuleSet> load_rule_file(const std::string& path);
Result<RuleSet> parse_rules(const std::string& json_text, const std::string& source_name);
// The rule set with no file: built-in defaults, no rules.
RuleSet default_rule_set();

// The command-line flags that shape the configuration. Each changes the defaults (on top of
// the file's "defaults"); first_last_bits appends two rules (first_compute / last_compute get
// weight and input bits = N) after the file's rules, so they win.
struct QuantFlags {
  std::optional<int> w_bits, a_bits, bias_bits, first_last_bits;
  std::optional<bool> per_channel, po2, act_symmetric;
  std::optional<std::string> policy;
  std::optional<std::string> w_method, a_method;  // range methods
  std::optional<double> percentile;
};
Status apply_flags(RuleSet& rules, const QuantFlags& flags);

struct ResolvedConfig {
  std::vector<NodeQuantConfig> nodes;  // indexed by NodeId (removed nodes keep the defaults)
  std::vector<std::string> warnings;   // e.g. "rule 'x' (rules[3]) matches no node"
  std::string policy;                  // "layerwise", "full" or "finn"
};

// Applies the rules to every live node. Errors name the node and the rule when a merged
// setting is invalid (e.g. per_group without group_size).
Result<ResolvedConfig> resolve_rules(const Graph& g, const RuleSet& rules);

// Per compute / configured / quantized node: resolved settings per role and the rules that
// matched; with a plan, also the quantizers and truncs placed for the node. Warnings and plan
// notes first. Backs `qengine calibrate --explain-config`.
std::string explain_config(const Graph& g, const ResolvedConfig& config, const QuantPlan* plan = nullptr);

}  // namespace qe

// The rule file: parsing, every selector, field-by-field merging, flags, precise errors,
// warnings, explain_config, and that the shipped examples and the docs' examples parse.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "quant/rules.h"
#include "quant_test_graphs.h"
#include "support/test_support.h"

using namespace qe;
using qe::test::TestGraph;

namespace {

RuleSet parse_ok(const std::string& text) {
  auto r = parse_rules(text, "test.json");
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

std::string parse_err(const std::string& text) {
  auto r = parse_rules(text, "test.json");
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

ResolvedConfig resolve_ok(const Graph& g, const RuleSet& rs) {
  auto r = resolve_rules(g, rs);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

// Names of the nodes a one-rule file with `match` selects (the rule sets weight bits 3).
std::vector<std::string> selected(const TestGraph& t, const std::string& match) {
  RuleSet rs = parse_ok(R"({"rules": [{"name": "r", "match": )" + match + R"(, "output": {"bits": 3}}]})");
  ResolvedConfig rc = resolve_ok(t.g, rs);
  std::vector<std::string> names;
  for (size_t i = 0; i < t.g.num_nodes(); ++i) {
    const auto& c = rc.nodes[i];
    if (!c.matched_rules.empty()) {
      CHECK(c.output.bits == 3);
      names.push_back(t.g.node(static_cast<NodeId>(i)).name);
    }
  }
  return names;
}

using Names = std::vector<std::string>;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("defaults without a file are Brevitas' PTQ defaults") {
  RuleSet rs = default_rule_set();
  CHECK(rs.weight.bits == 8);
  CHECK(rs.weight.sign == Signedness::kSigned);
  CHECK(rs.weight.method == RangeMethod::kAbsMax);
  CHECK(rs.weight.granularity == Granularity::kPerTensor);
  CHECK(rs.input.method == RangeMethod::kPercentile);
  CHECK(rs.input.percentile == Approx(99.999));
  CHECK(rs.output.sign == Signedness::kAuto);
  CHECK(rs.bias.bits == 32);
  TestGraph t = test::small_cnn();
  ResolvedConfig rc = resolve_ok(t.g, rs);
  CHECK(rc.policy == "full");
  CHECK(rc.nodes.size() == t.g.num_nodes());
  CHECK(rc.warnings.empty());
}

TEST_CASE("every role field parses") {
  RuleSet rs = parse_ok(R"({
    "policy": "layerwise",
    "defaults": {
      "weight": {"bits": 4, "granularity": "per_group", "group_size": 32, "method": "mse", "scale": "po2",
                 "symmetric": false, "narrow": true, "sign": "signed", "rounding": "half_up"},
      "activation": {"bits": 6, "method": "entropy", "sign": "unsigned", "enabled": true},
      "output": {"method": "percentile", "percentile": 99.9},
      "bias": {"bits": 16}
    }})");
  CHECK(rs.policy == "layerwise");
  CHECK(rs.weight.bits == 4);
  CHECK(rs.weight.granularity == Granularity::kPerGroup);
  CHECK(rs.weight.group_size == 32);
  CHECK(rs.weight.method == RangeMethod::kMse);
  CHECK(rs.weight.scale_type == ScaleType::kPo2);
  CHECK_FALSE(rs.weight.symmetric);
  CHECK(rs.weight.narrow);
  CHECK(rs.weight.rounding == RoundingMode::kHalfUp);
  CHECK(rs.input.bits == 6);
  CHECK(rs.input.method == RangeMethod::kEntropy);
  CHECK(rs.input.sign == Signedness::kUnsigned);
  // "output" refines "activation" field by field.
  CHECK(rs.output.bits == 6);
  CHECK(rs.output.method == RangeMethod::kPercentile);
  CHECK(rs.output.percentile == Approx(99.9));
  CHECK(rs.bias.bits == 16);
}

TEST_CASE("minifloat and bipolar settings") {
  RuleSet rs = parse_ok(R"({"defaults": {
      "weight": {"format": "e5m2"},
      "activation": {"type": "minifloat", "exponent_bits": 3, "mantissa_bits": 2, "exponent_bias": 3, "max_val": 28}},
    "rules": [{"match": {"op": "Gemm"}, "weight": {"type": "bipolar"}}]})");
  CHECK(rs.weight.kind == QuantKind::kFloat);
  CHECK(rs.weight.minifloat.exponent_bits == 5);
  CHECK(rs.weight.minifloat.max_val == 57344.0f);
  CHECK(rs.input.minifloat.exponent_bits == 3);
  CHECK(rs.input.minifloat.mantissa_bits == 2);
  CHECK(rs.input.minifloat.max_val == 28.0f);
  TestGraph t = test::small_cnn();
  ResolvedConfig rc = resolve_ok(t.g, rs);
  const auto& conv = rc.nodes[static_cast<size_t>(t.find("/features/0/conv"))];
  CHECK(conv.weight.bits == 8);  // 1 + 5 + 2
  CHECK(conv.input.bits == 6);   // 1 + 3 + 2
  const auto& fc = rc.nodes[static_cast<size_t>(t.find("/classifier/fc"))];
  CHECK(fc.weight.kind == QuantKind::kBipolar);
  CHECK(fc.weight.bits == 1);
}

TEST_CASE("selectors: op, name glob, name regex, initializer") {
  TestGraph t = test::small_cnn();
  CHECK(selected(t, R"({"op": "Conv"})") == Names{"/features/0/conv", "/features/1/dw", "/features/1/pw"});
  CHECK(selected(t, R"({"op": ["Relu", "Gemm"]})") == Names{"relu1", "relu2", "/classifier/fc"});
  CHECK(selected(t, R"({"name": "/features/1/*"})") == Names{"/features/1/dw", "/features/1/pw"});
  CHECK(selected(t, R"({"name": "relu?"})") == Names{"relu1", "relu2"});
  CHECK(selected(t, R"({"name": "relu[!1]"})") == Names{"relu2"});
  CHECK(selected(t, R"({"name": "/features/[0-0]/*"})") == Names{"/features/0/conv"});
  CHECK(selected(t, R"j({"name_regex": ".*/(dw|pw)"})j") == Names{"/features/1/dw", "/features/1/pw"});
  // A regex must match the whole name.
  CHECK(selected(t, R"({"name_regex": "features"})").empty());
  CHECK(selected(t, R"({"initializer": "*.1.*weight"})").empty());
  CHECK(selected(t, R"({"initializer": "/features/1/*.weight"})") == Names{"/features/1/dw", "/features/1/pw"});
}

TEST_CASE("selectors: attrs with predicates, numbers, lists, strings and ONNX defaults") {
  TestGraph t = test::small_cnn();
  // group is absent on the non-depthwise convs: the ONNX default 1 applies.
  CHECK(selected(t, R"({"attrs": {"group": "!= 1"}})") == Names{"/features/1/dw"});
  CHECK(selected(t, R"({"op": "Conv", "attrs": {"group": 1}})") == Names{"/features/0/conv", "/features/1/pw"});
  CHECK(selected(t, R"({"attrs": {"kernel_shape": [1, 1]}})") == Names{"/features/1/pw"});
  CHECK(selected(t, R"({"attrs": {"kernel_shape": ">= 3"}})") == Names{"/features/0/conv", "/features/1/dw"});
  CHECK(selected(t, R"({"attrs": {"pads": 1}})") == Names{"/features/0/conv", "/features/1/dw"});
  CHECK(selected(t, R"({"attrs": {"transB": "== 1"}})") == Names{"/classifier/fc"});
  CHECK(selected(t, R"({"attrs": {"axis": 1}})") == Names{"flatten"});
  CHECK(selected(t, R"({"attrs": {"nonexistent": 1}})").empty());
}

TEST_CASE("selectors: depthwise, kernel_size, channels, position") {
  TestGraph t = test::small_cnn();
  CHECK(selected(t, R"({"depthwise": true})") == Names{"/features/1/dw"});
  CHECK(selected(t, R"({"op": "Conv", "depthwise": false})") == Names{"/features/0/conv", "/features/1/pw"});
  CHECK(selected(t, R"({"kernel_size": 1})") == Names{"/features/1/pw"});
  CHECK(selected(t, R"({"kernel_size": "> 1"})") == Names{"/features/0/conv", "/features/1/dw"});
  CHECK(selected(t, R"({"op": ["Conv", "Gemm"], "in_channels": 8})") == Names{"/features/0/conv"});
  CHECK(selected(t, R"({"op": ["Conv", "Gemm"], "in_channels": ">= 32"})") == Names{"/classifier/fc"});
  CHECK(selected(t, R"({"op": ["Conv", "Gemm"], "out_channels": "< 16"})") == Names{"/classifier/fc"});
  CHECK(selected(t, R"({"op": "Conv", "out_channels": "<= 16"})") == Names{"/features/0/conv", "/features/1/dw"});
  CHECK(selected(t, R"({"position": "first_compute"})") == Names{"/features/0/conv"});
  CHECK(selected(t, R"({"position": "last_compute"})") == Names{"/classifier/fc"});
  // All conditions must hold.
  CHECK(selected(t, R"({"position": "first_compute", "depthwise": true})").empty());
}

TEST_CASE("every matching rule applies, field by field, the last match wins") {
  TestGraph t = test::small_cnn();
  RuleSet rs = parse_ok(R"({
    "defaults": {"weight": {"bits": 8}},
    "rules": [
      {"name": "all-conv-4", "match": {"op": "Conv"}, "weight": {"bits": 4, "granularity": "per_channel"}},
      {"name": "dw-6", "match": {"depthwise": true}, "weight": {"bits": 6}},
      {"match": {"name": "/classifier/*"}, "skip": true},
      {"name": "pw-act", "match": {"kernel_size": 1}, "activation": {"bits": 5}, "input": {"sign": "unsigned"}}
    ]})");
  ResolvedConfig rc = resolve_ok(t.g, rs);
  const auto& c0 = rc.nodes[static_cast<size_t>(t.find("/features/0/conv"))];
  CHECK(c0.weight.bits == 4);
  CHECK(c0.weight.granularity == Granularity::kPerChannel);
  CHECK(c0.matched_rules == Names{"all-conv-4"});
  const auto& dw = rc.nodes[static_cast<size_t>(t.find("/features/1/dw"))];
  CHECK(dw.weight.bits == 6);
  // dw-6 set only bits: the granularity from all-conv-4 stays.
  CHECK(dw.weight.granularity == Granularity::kPerChannel);
  CHECK(dw.matched_rules == Names{"all-conv-4", "dw-6"});
  CHECK(dw.weight_set == (kFieldBits | kFieldGranularity));
  const auto& fc = rc.nodes[static_cast<size_t>(t.find("/classifier/fc"))];
  CHECK(fc.skip);
  CHECK(fc.weight.bits == 8);
  CHECK(fc.matched_rules == Names{"#2"});
  const auto& pw = rc.nodes[static_cast<size_t>(t.find("/features/1/pw"))];
  CHECK(pw.input.bits == 5);
  CHECK(pw.output.bits == 5);
  CHECK(pw.input.sign == Signedness::kUnsigned);
  CHECK(pw.output.sign == Signedness::kAuto);
  CHECK(pw.input_set == (kFieldBits | kFieldSign));
  CHECK(pw.output_set == kFieldBits);
  CHECK(rc.nodes[static_cast<size_t>(t.find("relu1"))].matched_rules.empty());
}

TEST_CASE("skip can be undone by a later rule; bias bits per rule") {
  TestGraph t = test::small_cnn();
  RuleSet rs = parse_ok(R"({"rules": [
      {"match": {"op": "Conv"}, "skip": true, "bias": {"bits": 16}},
      {"match": {"position": "first_compute"}, "skip": false, "bias": {"bits": 0}}]})");
  ResolvedConfig rc = resolve_ok(t.g, rs);
  CHECK_FALSE(rc.nodes[static_cast<size_t>(t.find("/features/0/conv"))].skip);
  CHECK(rc.nodes[static_cast<size_t>(t.find("/features/0/conv"))].bias.bits == 0);
  CHECK(rc.nodes[static_cast<size_t>(t.find("/features/1/pw"))].skip);
  CHECK(rc.nodes[static_cast<size_t>(t.find("/features/1/pw"))].bias.bits == 16);
}

TEST_CASE("flags change the defaults; the file's rules still apply; --first-last-bits wins") {
  TestGraph t = test::small_cnn();
  RuleSet rs = parse_ok(R"({"policy": "layerwise", "defaults": {"weight": {"bits": 6}},
      "rules": [{"name": "dw", "match": {"depthwise": true}, "weight": {"bits": 5}},
                {"name": "first", "match": {"position": "first_compute"}, "weight": {"bits": 2}}]})");
  QuantFlags f;
  f.w_bits = 4;
  f.a_bits = 6;
  f.bias_bits = 16;
  f.per_channel = true;
  f.po2 = true;
  f.act_symmetric = false;
  f.first_last_bits = 8;
  f.policy = "finn";
  f.a_method = "mse";
  f.w_method = "minmax";
  f.percentile = 99.0;
  REQUIRE(apply_flags(rs, f).is_ok());
  CHECK(rs.policy == "finn");
  CHECK(rs.rules.size() == 4);
  ResolvedConfig rc = resolve_ok(t.g, rs);
  CHECK(rc.policy == "finn");
  const auto& pw = rc.nodes[static_cast<size_t>(t.find("/features/1/pw"))];
  CHECK(pw.weight.bits == 4);  // --w-bits replaced the file's default 6
  CHECK(pw.weight.granularity == Granularity::kPerChannel);
  CHECK(pw.weight.scale_type == ScaleType::kPo2);
  CHECK(pw.weight.method == RangeMethod::kMinMax);
  CHECK(pw.input.bits == 6);
  CHECK(pw.output.scale_type == ScaleType::kPo2);
  CHECK_FALSE(pw.input.symmetric);
  CHECK(pw.input.method == RangeMethod::kMse);
  CHECK(pw.input.percentile == Approx(99.0));
  CHECK(pw.bias.bits == 16);
  CHECK(rc.nodes[static_cast<size_t>(t.find("/features/1/dw"))].weight.bits == 5);  // file rule
  const auto& first = rc.nodes[static_cast<size_t>(t.find("/features/0/conv"))];
  CHECK(first.weight.bits == 8);  // appended after the file's "first" rule
  CHECK(first.input.bits == 8);
  CHECK(first.output.bits == 6);
  CHECK(first.matched_rules == Names{"first", "--first-last-bits (first)"});
  const auto& last = rc.nodes[static_cast<size_t>(t.find("/classifier/fc"))];
  CHECK(last.weight.bits == 8);
  CHECK(last.input.bits == 8);
  CHECK((last.input_set & kFieldBits) != 0);

  QuantFlags bad;
  bad.w_bits = 9;
  auto st = apply_flags(rs, bad);
  CHECK_FALSE(st.is_ok());
  CHECK_THAT(st.message(), Catch::Contains("--w-bits") && Catch::Contains("9"));
  QuantFlags bad_policy;
  bad_policy.policy = "ful";
  st = apply_flags(rs, bad_policy);
  CHECK_THAT(st.message(), Catch::Contains("--policy") && Catch::Contains("did you mean 'full'"));
  QuantFlags bad_bias;
  bad_bias.bias_bits = 8;
  CHECK_THAT(apply_flags(rs, bad_bias).message(), Catch::Contains("--bias-bits"));
  QuantFlags bad_method;
  bad_method.a_method = "absmax";
  CHECK_THAT(apply_flags(rs, bad_method).message(), Catch::Contains("--a-method"));
}

TEST_CASE("errors name the file, the JSON path and the key") {
  // Typo'd key, with the nearest key suggested.
  CHECK(parse_err(R"({"rules": [{"match": {"op": "Conv"}, "skip": true}, {"match": {}, "skip": true},
                               {"match": {"op": "Conv"}, "weight": {"bitz": 4}}]})") ==
        "test.json: rules[2].weight: unknown key 'bitz' (did you mean 'bits'?)");
  CHECK_THAT(parse_err(R"({"rules": [{"mach": {"op": "Conv"}, "skip": true}]})"),
             Catch::Contains("rules[0]: unknown key 'mach' (did you mean 'match'?)"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"opp": "Conv"}, "skip": true}]})"),
             Catch::Contains("rules[0].match: unknown key 'opp' (did you mean 'op'?)"));
  CHECK_THAT(parse_err(R"({"defualts": {}})"), Catch::Contains("unknown key 'defualts' (did you mean 'defaults'?)"));
  // No suggestion when nothing is close.
  CHECK(parse_err(R"({"defaults": {"weight": {"zzzzzzzz": 1}}})") ==
        "test.json: defaults.weight: unknown key 'zzzzzzzz'");
  // Bits out of range.
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"bits": 0}}})"),
             Catch::Contains("defaults.weight.bits: 0 is out of range") && Catch::Contains("1..8"));
  CHECK_THAT(parse_err(R"({"rules": [{"weight": {"bits": 33}}]})"),
             Catch::Contains("rules[0].weight.bits: 33 is out of range"));
  CHECK_THAT(parse_err(R"({"rules": [{"activation": {"bits": 9}}]})"),
             Catch::Contains("rules[0].activation.bits: 9") && Catch::Contains("activations"));
  CHECK_THAT(parse_err(R"({"defaults": {"bias": {"bits": 33}}})"),
             Catch::Contains("defaults.bias.bits: 33 is not a valid bias width (expected 32, 16 or 0 = float)"));
  CHECK_THAT(parse_err(R"({"defaults": {"bias": {"bits": 8}}})"), Catch::Contains("defaults.bias.bits"));
  // Wrong types.
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"bits": "8"}}})"),
             Catch::Contains("defaults.weight.bits: expected an integer, got string \"8\""));
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"bits": 4.5}}})"),
             Catch::Contains("expected an integer, got number 4.5"));
  CHECK_THAT(parse_err(R"({"rules": {}})"), Catch::Contains("rules: expected an array of rules"));
  CHECK_THAT(parse_err(R"({"rules": [{"skip": "yes"}]})"), Catch::Contains("rules[0].skip: expected true or false"));
  CHECK_THAT(parse_err(R"([1, 2])"), Catch::Contains("expected a JSON object"));
  // Bad enum values.
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"granularity": "per_chanel"}}})"),
             Catch::Contains("defaults.weight.granularity: unknown value 'per_chanel'") &&
                 Catch::Contains("did you mean 'per_channel'?"));
  CHECK_THAT(parse_err(R"({"policy": "fin"})"), Catch::Contains("policy: unknown value 'fin'"));
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"method": "percentile"}}})"),
             Catch::Contains("defaults.weight.method: 'percentile' is not a range method for weights"));
  CHECK_THAT(parse_err(R"({"defaults": {"activation": {"method": "absmax"}}})"),
             Catch::Contains("defaults.activation.method: 'absmax' is not a range method for activations"));
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"rounding": "NEAREST"}}})"),
             Catch::Contains("defaults.weight.rounding: unknown rounding mode 'NEAREST'"));
  CHECK_THAT(parse_err(R"({"defaults": {"activation": {"granularity": "per_group", "group_size": 4}}})"),
             Catch::Contains("defaults.activation.granularity") && Catch::Contains("only supported for weights"));
  // Activation axes: activations only, 1..7.
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"granularity": "per_channel", "axis": 1}}})"),
             Catch::Contains("defaults.weight.axis: is only for activations"));
  CHECK_THAT(parse_err(R"({"rules": [{"output": {"granularity": "per_channel", "axis": 8}}]})"),
             Catch::Contains("rules[0].output.axis: 8 is out of range (0..7)"));
  CHECK_THAT(parse_err(R"({"rules": [{"input": {"axis": "1"}}]})"),
             Catch::Contains("rules[0].input.axis: expected an integer"));
  // Percentile outside (0, 100].
  CHECK_THAT(parse_err(R"({"defaults": {"activation": {"percentile": 0}}})"),
             Catch::Contains("defaults.activation.percentile: 0 is outside (0, 100]"));
  CHECK_THAT(parse_err(R"({"defaults": {"activation": {"percentile": 100.5}}})"), Catch::Contains("outside (0, 100]"));
  CHECK(parse_rules(R"({"defaults": {"activation": {"percentile": 100}}})", "x").is_ok());
  // per_group without group_size.
  CHECK_THAT(parse_err(R"({"rules": [{"weight": {"granularity": "per_group"}}]})"),
             Catch::Contains("rules[0].weight: granularity 'per_group' needs group_size"));
  // Minifloat conflicts.
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"type": "minifloat", "bits": 8}}})"),
             Catch::Contains("defaults.weight.bits: does not apply to type 'minifloat'"));
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"type": "int", "format": "e4m3"}}})"),
             Catch::Contains("apply to type 'minifloat', not 'int'"));
  CHECK_THAT(parse_err(R"({"defaults": {"weight": {"format": "e3m4"}}})"),
             Catch::Contains("defaults.weight.format: unknown value 'e3m4'"));
  // Selectors.
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"name_regex": "(abc"}, "skip": true}]})"),
             Catch::Contains("rules[0].match.name_regex: bad regular expression '(abc'"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"name": "conv[12"}, "skip": true}]})"),
             Catch::Contains("rules[0].match.name: unterminated '['"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"op": "Cnov"}, "skip": true}]})"),
             Catch::Contains("rules[0].match.op: unknown op 'Cnov' (did you mean 'Conv'?)"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"op": ["Conv", 3]}, "skip": true}]})"),
             Catch::Contains("rules[0].match.op[1]: expected an op name"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"kernel_size": "=> 3"}, "skip": true}]})"),
             Catch::Contains("rules[0].match.kernel_size: bad predicate '=> 3'"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"attrs": {"group": "!= x"}}, "skip": true}]})"),
             Catch::Contains("rules[0].match.attrs.group: bad predicate"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"attrs": {"strides": [1, "a"]}}, "skip": true}]})"),
             Catch::Contains("rules[0].match.attrs.strides[1]: expected a number"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"position": "first"}, "skip": true}]})"),
             Catch::Contains("rules[0].match.position: unknown value 'first'"));
  CHECK_THAT(parse_err(R"({"rules": [{"match": {"depthwise": 1}, "skip": true}]})"),
             Catch::Contains("rules[0].match.depthwise: expected true or false"));
  CHECK_THAT(parse_err(R"({"rules": [{"name": "noop", "match": {"op": "Conv"}}]})"),
             Catch::Contains("rules[0]: the rule changes nothing"));
}

TEST_CASE("invalid JSON and missing files name the file and the position") {
  std::string e = parse_err("{\n  \"rules\": [\n    {\"skip\": true,}\n  ]\n}");
  CHECK_THAT(e, Catch::StartsWith("test.json: invalid JSON") && Catch::Contains("line 3"));
  auto missing = load_rule_file("/nonexistent/rules.json");
  REQUIRE_FALSE(missing.is_ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("/nonexistent/rules.json"));
  // Comments are allowed: they make rule files readable.
  CHECK(parse_rules("// first layers\n{\"rules\": [] /* none yet */}", "c.json").is_ok());
}

TEST_CASE("rules that match nothing produce warnings") {
  TestGraph t = test::small_cnn();
  RuleSet rs = parse_ok(R"({"rules": [
      {"name": "transposed", "match": {"op": "ConvTranspose"}, "weight": {"bits": 4}},
      {"match": {"name": "nothing*"}, "skip": true},
      {"name": "relu-weights", "match": {"op": "Relu"}, "weight": {"bits": 4}},
      {"name": "fine", "match": {"op": "Conv"}, "weight": {"bits": 4}}]})");
  ResolvedConfig rc = resolve_ok(t.g, rs);
  REQUIRE(rc.warnings.size() == 3);
  CHECK(rc.warnings[0] == "rule 'transposed' (rules[0]) matches no node");
  CHECK(rc.warnings[1] == "rule '#1' (rules[1]) matches no node");
  CHECK_THAT(rc.warnings[2],
             Catch::Contains("rule 'relu-weights' (rules[2])") && Catch::Contains("no node with a weight"));
}

TEST_CASE("glob and predicate helpers") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a*b*c", "axxbyyc"));
  CHECK_FALSE(glob_match("a*b*c", "axxbyy"));
  CHECK(glob_match("conv[0-9]", "conv7"));
  CHECK_FALSE(glob_match("conv[!0-9]", "conv7"));
  CHECK(glob_match("x[]]y", "x]y"));
  CHECK(glob_match("??", "ab"));
  CHECK_FALSE(glob_match("??", "abc"));
  auto p = parse_predicate(" >=  2 ");
  REQUIRE(p.is_ok());
  CHECK(p->test(2));
  CHECK_FALSE(p->test(1.5));
  auto q = parse_predicate("3");
  REQUIRE(q.is_ok());
  CHECK(q->test(3));
  CHECK_FALSE(q->test(4));
  CHECK_FALSE(parse_predicate("").is_ok());
  CHECK_FALSE(parse_predicate("<> 3").is_ok());
}

TEST_CASE("explain_config lists compute nodes, settings, matched rules and warnings") {
  TestGraph t = test::small_cnn();
  RuleSet rs = parse_ok(R"({"rules": [
      {"name": "dw8", "match": {"depthwise": true}, "weight": {"bits": 8}},
      {"name": "w4", "match": {"op": "Conv", "depthwise": false}, "weight": {"bits": 4, "granularity": "per_channel"}},
      {"name": "ghost", "match": {"op": "Softmax"}, "skip": true},
      {"name": "fc", "match": {"op": "Gemm"}, "skip": true}]})");
  ResolvedConfig rc = resolve_ok(t.g, rs);
  const std::string text = explain_config(t.g, rc);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("policy: full"));
  CHECK_THAT(text, Catch::Contains("warning: rule 'ghost' (rules[2]) matches no node"));
  CHECK_THAT(text, Catch::Contains("Conv '/features/1/dw'  rules: dw8"));
  CHECK_THAT(text, Catch::Contains("weight: i4 per_channel"));
  CHECK_THAT(text, Catch::Contains("[skipped: stays float]"));
  CHECK_THAT(text, !Catch::Contains("relu1"));  // neither compute, configured nor planned
}

TEST_CASE("the shipped example rule files parse") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(test::source_dir()) / "examples" / "rules";
  REQUIRE(fs::is_directory(dir));
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    auto rs = load_rule_file(entry.path().string());
    INFO(entry.path().string() << ": " << rs.status().message());
    CHECK(rs.is_ok());
    ++count;
  }
  CHECK(count >= 3);
  for (const char* name : {"finn_w4.json", "finn_dw8_w4.json", "finn_dw8_w4_first8.json"}) {
    auto rs = load_rule_file((dir / name).string());
    REQUIRE(rs.is_ok());
    CHECK(rs->policy == "finn");
  }
}

TEST_CASE("every JSON example in docs/config.md parses") {
  const std::string md = read_text(test::source_dir() + "/docs/config.md");
  // Fenced ```json blocks; blocks meant to show an error are fenced ```json-invalid.
  std::regex block("```json\\n([\\s\\S]*?)```");
  int count = 0;
  for (auto it = std::sregex_iterator(md.begin(), md.end(), block); it != std::sregex_iterator(); ++it) {
    const std::string text = (*it)[1].str();
    auto rs = parse_rules(text, "docs/config.md example " + std::to_string(count));
    INFO(text << "\n" << rs.status().message());
    CHECK(rs.is_ok());
    ++count;
  }
  CHECK(count >= 5);
}

TEST_CASE("the algorithms object switches post-training algorithms on, with settings and checked values") {
  const RuleSet rs = parse_ok(R"({"algorithms": {"equalize": {"iterations": 7, "merge_bias": false},
      "split_channels": {"ratio": 0.1, "side": "output"}, "smoothquant": {"alpha": 0.8},
      "bias_correction": false, "gptq": {"act_order": true, "damp": 0.05, "block_size": 64}}})");
  CHECK(rs.algorithms.equalize_iterations == 7);
  CHECK_FALSE(rs.algorithms.merge_bias);
  CHECK(rs.algorithms.split_ratio == 0.1);
  CHECK(rs.algorithms.split_output_side);
  CHECK(rs.algorithms.smoothquant_alpha == 0.8);
  CHECK_FALSE(rs.algorithms.bias_correction);
  CHECK(rs.algorithms.rounding == WeightRoundingAlgorithm::kGptq);
  CHECK(rs.algorithms.gptq_act_order);
  CHECK(rs.algorithms.gptq_damp == 0.05);
  CHECK(rs.algorithms.gptq_block_size == 64);
  const RuleSet on = parse_ok(R"({"algorithms": {"equalize": true, "smoothquant": true, "adaround": true}})");
  CHECK(on.algorithms.equalize_iterations == 20);
  CHECK(on.algorithms.smoothquant_alpha == 0.5);
  CHECK(on.algorithms.rounding == WeightRoundingAlgorithm::kAdaRound);
  CHECK(default_rule_set().algorithms.rounding == WeightRoundingAlgorithm::kNearest);
  CHECK(default_rule_set().algorithms.bias_correction);
  // Brevitas' flow equalizes by default (20 iterations, merge_bias); nothing else transforms the float graph.
  CHECK(default_rule_set().algorithms.equalize_iterations == 20);
  CHECK(default_rule_set().algorithms.merge_bias);
  CHECK(default_rule_set().algorithms.split_ratio == 0);
  CHECK(default_rule_set().algorithms.smoothquant_alpha < 0);
  CHECK(parse_ok(R"({"algorithms": {"equalize": false}})").algorithms.equalize_iterations == 0);

  CHECK(parse_err(R"({"algorithms": {"gptq": true, "gpfq": true}})").find("algorithms.gpfq: only one of") != std::string::npos);
  CHECK(parse_err(R"({"algorithms": {"smoothquant": {"alpha": 2}}})").find("algorithms.smoothquant.alpha: 2 is outside") != std::string::npos);
  CHECK(parse_err(R"({"algorithms": {"equalize": {"iterations": 0}}})").find("algorithms.equalize.iterations") != std::string::npos);
  CHECK(parse_err(R"({"algorithms": {"adaround": {"iteration": 5}}})").find("did you mean 'iterations'") != std::string::npos);
  CHECK(parse_err(R"({"algorithms": {"split_channels": {"side": "both"}}})").find("expected input or output") != std::string::npos);
  CHECK(parse_err(R"({"algorithms": {"gptq": 1}})").find("algorithms.gptq") != std::string::npos);
}

TEST_CASE("name_regex: patterns that could exhaust the stack or take exponential time are refused") {
  auto rule_with = [](const std::string& pattern) {
    return R"({"rules": [{"match": {"name_regex": ")" + pattern + R"("}, "skip": true}]})";
  };
  for (const std::string tame : {".*/(dw|pw)", ".*(fc|classifier).*", "^/layer[0-9]+/conv[12]$", "a{2,3}b+?c*",
                                 "[)(*+]x", R"(\\(\\)*)", "(conv)+", "((ab)c)?"}) {
    INFO(tame);
    CHECK(parse_rules(rule_with(tame), "rules.json").is_ok());
  }
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"(a+)+b", "repeated group contains a quantifier"},
      {"(a|aa)*b", "repeated group contains a quantifier or an alternative"},
      {"((a)*)*", "repeated group"},
      {"a**", "follows another quantifier"},
      {"a*??", "follows another quantifier"},
      {".*.*.*.*.*.*.*", "more than 6 unbounded quantifiers"},
      {std::string(20, '(') + "a" + std::string(20, ')'), "nested more than 16 deep"},
      {std::string(1001, 'a'), "at most 1000"},
  };
  for (const auto& [pattern, why] : refused) {
    INFO(pattern);
    CHECK_THAT(parse_err(rule_with(pattern)), Catch::Contains("rules[0].match.name_regex") && Catch::Contains(why));
  }
}

TEST_CASE("name_regex: back-references and huge repetition counts are refused before std::regex sees them") {
  auto rule_with = [](const std::string& pattern) {
    return R"({"rules": [{"match": {"name_regex": ")" + pattern + R"("}, "skip": true}]})";
  };
  CHECK_THAT(parse_err(rule_with(R"((a)\\1)")), Catch::Contains("back-references"));
  CHECK_THAT(parse_err(rule_with(R"(a\\7777777777777777777)")), Catch::Contains("back-references"));
  CHECK_THAT(parse_err(rule_with("a{99999999999999999999}")), Catch::Contains("repetition count over 9999"));
  CHECK(parse_rules(rule_with("a{2,9999}"), "rules.json").is_ok());
  CHECK(parse_rules(rule_with(R"(\\.0)"), "rules.json").is_ok());
}

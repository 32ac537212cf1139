// The rule file `qengine mixed` writes: each layer's rule selects exactly that node (names with
// glob characters included) and sets its weight and input bits; a base rule file is kept.
#include <catch2/catch.hpp>

#include "quant/mixed/mixed_rules.h"
#include "quant/rules.h"
#include "quant_test_graphs.h"

namespace qe {
namespace {

using test::TestGraph;

// Three convs whose names contain glob metacharacters, plus one whose name a careless glob
// (an unescaped "conv*1") would also match.
TestGraph awkward_names() {
  TestGraph t;
  ValueId x = t.input("input", Shape({1, 4, 8, 8}));
  ValueId a = t.relu("r0", t.conv("conv[0]", x, 4));
  ValueId b = t.relu("r1", t.conv("conv*1", a, 4));
  ValueId c = t.relu("r2", t.conv("/l/conv?2", b, 4));
  t.output(t.conv("conv_x_1", c, 4));
  return t;
}

TEST_CASE("escape_glob matches exactly the name it escapes", "[mixed][rules]") {
  for (const char* name : {"conv[0]", "conv*1", "/l/conv?2", "plain/name.weight", "[", "a]b"}) {
    INFO(name);
    CHECK(glob_match(escape_glob(name), name));
  }
  CHECK_FALSE(glob_match(escape_glob("conv*1"), "conv_x_1"));
  CHECK_FALSE(glob_match(escape_glob("/l/conv?2"), "/l/convX2"));
  CHECK_FALSE(glob_match(escape_glob("conv[0]"), "conv0"));
}

TEST_CASE("mixed rule file: every layer gets its own weight and input bits", "[mixed][rules]") {
  TestGraph t = awkward_names();
  const std::vector<LayerBits> bits = {{"conv[0]", 8}, {"conv*1", 4}, {"/l/conv?2", 2}, {"conv_x_1", 6}};
  auto text = mixed_rule_file_text("", bits, "test");
  REQUIRE(text.is_ok());
  auto rules = parse_rules(*text, "mixed");
  INFO(*text);
  REQUIRE(rules.is_ok());
  // The sensitivities were measured without equalization, so the file must not switch it on.
  CHECK(rules->algorithms.equalize_iterations == 0);
  auto config = resolve_rules(t.g, *rules);
  REQUIRE(config.is_ok());
  CHECK(config->warnings.empty());
  for (const LayerBits& l : bits) {
    INFO(l.node);
    const NodeQuantConfig& n = config->nodes[static_cast<size_t>(t.find(l.node))];
    CHECK(n.weight.bits == l.bits);
    CHECK(n.input.bits == l.bits);
    CHECK(n.weight.granularity == Granularity::kPerChannel);  // HAWQ-V3's setting when no base file
    CHECK(n.matched_rules.size() == 1);
  }
}

TEST_CASE("mixed rule file keeps the base file's policy, defaults and rules", "[mixed][rules]") {
  const std::string base = R"({
    // a comment, as rule files allow
    "policy": "finn",
    "defaults": { "activation": { "method": "mse" } },
    "rules": [ { "name": "keep-me", "match": { "op": "Conv" }, "output": { "bits": 6 } } ]
  })";
  auto text = mixed_rule_file_text(base, {{"conv*1", 4}}, "with base");
  REQUIRE(text.is_ok());
  auto rules = parse_rules(*text, "mixed");
  REQUIRE(rules.is_ok());
  CHECK(rules->policy == "finn");
  CHECK(rules->input.method == RangeMethod::kMse);
  CHECK(rules->weight.granularity == Granularity::kPerTensor);  // the base file did not ask for per-channel
  REQUIRE(rules->rules.size() == 2);
  CHECK(rules->rules[0].name == "keep-me");
  TestGraph t = awkward_names();
  auto config = resolve_rules(t.g, *rules);
  REQUIRE(config.is_ok());
  const NodeQuantConfig& n = config->nodes[static_cast<size_t>(t.find("conv*1"))];
  CHECK(n.weight.bits == 4);
  CHECK(n.output.bits == 6);
  const NodeQuantConfig& other = config->nodes[static_cast<size_t>(t.find("conv_x_1"))];
  CHECK(other.weight.bits == 8);
}

TEST_CASE("mixed rule file: bad base file or bit width is an error", "[mixed][rules]") {
  CHECK_FALSE(mixed_rule_file_text("{ not json", {{"a", 4}}, "").is_ok());
  CHECK_FALSE(mixed_rule_file_text("[1, 2]", {{"a", 4}}, "").is_ok());
  CHECK_FALSE(mixed_rule_file_text(R"({"rules": 3})", {{"a", 4}}, "").is_ok());
  auto bad_bits = mixed_rule_file_text("", {{"a", 9}}, "");
  REQUIRE_FALSE(bad_bits.is_ok());
  CHECK(bad_bits.status().message().find("'a'") != std::string::npos);
}

}  // namespace
}  // namespace qe

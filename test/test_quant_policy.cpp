// Quantizer placement (layerwise / full / finn) on small IR graphs and on the shared models,
// and the FINN checker on graphs that break each of its rules.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "frontends/onnx/onnx_import.h"
#include "graph/quant_params.h"
#include "quant/calibrator.h"
#include "quant/finn_checker.h"
#include "quant/materialize.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/rules.h"
#include "quant/value_facts.h"
#include "quant_test_graphs.h"
#include "support/must.h"
#include "support/test_support.h"

using namespace qe;
using qe::test::must;
using qe::test::TestGraph;

namespace {


RuleSet rules_from(const std::string& json) { return must(parse_rules(json, "test.json")); }

QuantPlan plan_for(const Graph& g, const std::string& policy, const RuleSet& rs = default_rule_set()) {
  ResolvedConfig rc = must(resolve_rules(g, rs));
  return must(make_quant_plan(g, rc, policy));
}

std::vector<const PlannedQuantizer*> with_role(const QuantPlan& p, QuantRole role) {
  std::vector<const PlannedQuantizer*> out;
  for (const auto& q : p.quantizers) {
    if (q.role == role) out.push_back(&q);
  }
  return out;
}

// The activation quantizer (input / output role) placed on value `v`, or nullptr.
const PlannedQuantizer* on_value(const QuantPlan& p, ValueId v) {
  for (const auto& q : p.quantizers) {
    if (q.value == v && (q.role == QuantRole::kInput || q.role == QuantRole::kOutput)) return &q;
  }
  return nullptr;
}

const PlannedQuantizer* weight_of(const QuantPlan& p, NodeId n) {
  for (const auto& q : p.quantizers) {
    if (q.role == QuantRole::kWeight && q.owner == n) return &q;
  }
  return nullptr;
}

const PlannedQuantizer* bias_of(const QuantPlan& p, NodeId n) {
  for (const auto& q : p.quantizers) {
    if (q.role == QuantRole::kBias && q.owner == n) return &q;
  }
  return nullptr;
}

void check_signs_resolved(const QuantPlan& p) {
  for (const auto& q : p.quantizers) CHECK(q.spec.sign != Signedness::kAuto);
}

ValueId out_of(const Graph& g, NodeId n) { return g.node(n).outputs[0]; }

// input → c1 → r1 → c2 → (output)
TestGraph chain() {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r = t.relu("r1", t.conv("c1", x, 8));
  t.output(t.conv("c2", r, 8));
  return t;
}

Graph load_model(const std::string& file, bool keep_batch_norm) {
  Graph g = must(import_onnx_file(test::shared_path("models/" + file)));
  PrepareOptions o;
  o.keep_batch_norm = keep_batch_norm;
  return must(prepare_float_graph(std::move(g), o));
}

int count_live(const Graph& g, OpKind op) {
  int n = 0;
  for (size_t i = 0; i < g.num_nodes(); ++i)
    n += g.node(static_cast<NodeId>(i)).alive && g.node(static_cast<NodeId>(i)).op == op;
  return n;
}

}  // namespace

TEST_CASE("layerwise: weights, biases and per-use input quantizers of compute ops only") {
  TestGraph t = chain();
  QuantPlan p = plan_for(t.g, "layerwise");
  CHECK(p.policy == "layerwise");
  check_signs_resolved(p);
  REQUIRE(p.quantizers.size() == 6);
  for (const auto& q : p.quantizers) CHECK(q.id == static_cast<int>(&q - p.quantizers.data()));
  const NodeId c1 = t.find("c1"), c2 = t.find("c2"), r1 = t.find("r1");
  const auto inputs = with_role(p, QuantRole::kInput);
  REQUIRE(inputs.size() == 2);
  CHECK(inputs[0]->value == t.g.inputs()[0]);
  CHECK(inputs[0]->owner == c1);
  CHECK(inputs[0]->consumers == std::vector<Use>{Use{c1, 0}});
  CHECK(inputs[0]->spec.sign == Signedness::kSigned);
  CHECK(inputs[1]->value == out_of(t.g, r1));
  CHECK(inputs[1]->consumers == std::vector<Use>{Use{c2, 0}});
  CHECK(inputs[1]->spec.sign == Signedness::kUnsigned);  // after Relu
  CHECK(with_role(p, QuantRole::kOutput).empty());
  const PlannedQuantizer* w1 = weight_of(p, c1);
  REQUIRE(w1);
  CHECK(w1->channel_axis == 0);
  CHECK(w1->consumers == std::vector<Use>{Use{c1, 1}});
  const PlannedQuantizer* b2 = bias_of(p, c2);
  REQUIRE(b2);
  CHECK(b2->bias_input == inputs[1]->id);
  CHECK(b2->bias_weight == weight_of(p, c2)->id);
  CHECK(b2->spec.bits == 32);
  CHECK(p.truncs.empty());
}

TEST_CASE("layerwise: a value read by two compute ops gets one quantizer per use") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId a = t.conv("a", x, 4);
  ValueId b = t.conv("b", x, 4, 1);
  t.output(t.node(OpKind::kAdd, "add", {a, b}));
  QuantPlan p = plan_for(t.g, "layerwise");
  const auto inputs = with_role(p, QuantRole::kInput);
  REQUIRE(inputs.size() == 2);
  CHECK(inputs[0]->value == x);
  CHECK(inputs[1]->value == x);
  CHECK(inputs[0]->consumers != inputs[1]->consumers);
  CHECK(inputs[0]->share_group < 0);  // layerwise never shares
}

TEST_CASE("full: activations quantized once at the producer, graph input by its consumer") {
  TestGraph t = chain();
  QuantPlan p = plan_for(t.g, "full");
  check_signs_resolved(p);
  const NodeId c1 = t.find("c1"), c2 = t.find("c2"), r1 = t.find("r1");
  REQUIRE(p.quantizers.size() == 6);
  const PlannedQuantizer* in = on_value(p, t.g.inputs()[0]);
  REQUIRE(in);
  CHECK(in->role == QuantRole::kInput);
  CHECK(in->owner == c1);
  CHECK(in->consumers.empty());
  const PlannedQuantizer* r = on_value(p, out_of(t.g, r1));
  REQUIRE(r);
  CHECK(r->role == QuantRole::kOutput);
  CHECK(r->owner == r1);
  CHECK(r->spec.sign == Signedness::kUnsigned);
  CHECK(r->consumers.empty());
  // The conv outputs feed only a Relu and the graph output: nothing needs them quantized.
  CHECK(on_value(p, out_of(t.g, c1)) == nullptr);
  CHECK(on_value(p, out_of(t.g, c2)) == nullptr);
  CHECK(bias_of(p, c1)->bias_input == in->id);
  CHECK(bias_of(p, c2)->bias_input == r->id);
}

TEST_CASE("full: transparent ops carry their input's quantizer") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r = t.relu("r1", t.conv("c1", x, 8));
  Attributes mp;
  mp.set("kernel_shape", std::vector<int64_t>{2, 2});
  mp.set("strides", std::vector<int64_t>{2, 2});
  ValueId m = t.node(OpKind::kMaxPool, "pool", {r}, mp);
  Attributes perm;
  perm.set("perm", std::vector<int64_t>{0, 1, 3, 2});
  ValueId tr = t.node(OpKind::kTranspose, "transpose", {m}, perm);
  t.output(t.conv("c2", tr, 8));
  QuantPlan p = plan_for(t.g, "full");
  CHECK(on_value(p, m) == nullptr);
  CHECK(on_value(p, tr) == nullptr);
  const PlannedQuantizer* q = on_value(p, r);
  REQUIRE(q);
  CHECK(q->spec.sign == Signedness::kUnsigned);
  CHECK(bias_of(p, t.find("c2"))->bias_input == q->id);
  CHECK(with_role(p, QuantRole::kOutput).size() == 1);
  CHECK(with_role(p, QuantRole::kInput).size() == 1);
}

TEST_CASE("full: Add inputs share a scale, chains of shared values merge groups") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r1 = t.relu("r1", t.conv("c1", x, 4));
  ValueId c2 = t.conv("c2", r1, 4);
  ValueId a1 = t.node(OpKind::kAdd, "add1", {c2, r1});
  ValueId r2 = t.relu("r2", a1);
  ValueId c3 = t.conv("c3", r2, 4);
  ValueId c4 = t.conv("c4", r2, 4);
  ValueId a2 = t.node(OpKind::kAdd, "add2", {c3, r2});
  ValueId a3 = t.node(OpKind::kSub, "sub3", {c4, r2});
  t.output(a2);
  t.output(a3);
  QuantPlan p = plan_for(t.g, "full");
  const PlannedQuantizer* qc2 = on_value(p, c2);
  const PlannedQuantizer* qr1 = on_value(p, r1);
  REQUIRE(qc2);
  REQUIRE(qr1);
  CHECK(qc2->spec.sign == Signedness::kSigned);
  CHECK(qr1->spec.sign == Signedness::kUnsigned);  // sharing a scale does not share the sign
  CHECK(qc2->share_group >= 0);
  CHECK(qc2->share_group == qr1->share_group);
  CHECK_FALSE(qc2->share_all);
  // r2 feeds add2 and sub3: their groups merge into one with c3 and c4.
  const PlannedQuantizer* qr2 = on_value(p, r2);
  REQUIRE(qr2);
  CHECK(qr2->share_group >= 0);
  CHECK(qr2->share_group != qc2->share_group);
  CHECK(on_value(p, c3)->share_group == qr2->share_group);
  CHECK(on_value(p, c4)->share_group == qr2->share_group);
  // The Add output feeds only a Relu: not required.
  CHECK(on_value(p, a1) == nullptr);
  // Graph outputs stay float.
  CHECK(on_value(p, a2) == nullptr);
}

TEST_CASE("full: Concat inputs share everything; signs and bits are unified") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r1 = t.relu("r1", t.conv("c1", x, 4));
  ValueId c2 = t.conv("c2", x, 4);
  Attributes axis;
  axis.set("axis", int64_t{1});
  ValueId cat = t.node(OpKind::kConcat, "cat", {r1, c2}, axis);
  t.output(t.conv("c3", cat, 4));
  QuantPlan p = plan_for(t.g, "full", rules_from(R"({"rules": [{"match": {"name": "r1"}, "output": {"bits": 6}}]})"));
  const PlannedQuantizer* a = on_value(p, r1);
  const PlannedQuantizer* b = on_value(p, c2);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(on_value(p, cat) == nullptr);
  CHECK(a->share_group >= 0);
  CHECK(a->share_group == b->share_group);
  CHECK(a->share_all);
  CHECK(b->share_all);
  CHECK(a->spec.sign == Signedness::kSigned);
  CHECK(a->spec.bits == 8);
  CHECK(b->spec.bits == 8);
}

TEST_CASE("full: global average pool of quantized data becomes a Trunc") {
  TestGraph t = test::small_cnn();
  QuantPlan p = plan_for(t.g, "full");
  check_signs_resolved(p);
  const NodeId gap = t.find("gap"), pw = t.find("/features/1/pw"), fc = t.find("/classifier/fc");
  REQUIRE(p.truncs.size() == 1);
  CHECK(p.truncs[0].pool == gap);
  CHECK(p.truncs[0].window == 16 * 16);
  const PlannedQuantizer* pool_in = on_value(p, out_of(t.g, pw));
  REQUIRE(pool_in);
  CHECK(p.truncs[0].input_quantizer == pool_in->id);
  CHECK(pool_in->spec.sign == Signedness::kSigned);
  // The Trunc output is on a grid already: no quantizer on it or after the Flatten.
  CHECK(on_value(p, out_of(t.g, gap)) == nullptr);
  CHECK(on_value(p, out_of(t.g, t.find("flatten"))) == nullptr);
  REQUIRE(weight_of(p, fc));
  CHECK(weight_of(p, fc)->channel_axis == 0);  // transB = 1
  // The classifier's input is the Trunc's output: its bias takes the Trunc's output scale,
  // which the calibrator finds (bias_input = -1).
  REQUIRE(bias_of(p, fc));
  CHECK(bias_of(p, fc)->bias_input == -1);
  CHECK(bias_of(p, fc)->bias_weight == weight_of(p, fc)->id);
  // input, relu1, relu2, pw output; 4 weights; 4 biases.
  CHECK(with_role(p, QuantRole::kWeight).size() == 4);
  CHECK(with_role(p, QuantRole::kBias).size() == 4);
  CHECK(with_role(p, QuantRole::kInput).size() + with_role(p, QuantRole::kOutput).size() == 4);
}

TEST_CASE("full: average pools that cannot be truncated get an output quantizer") {
  auto make = [](std::vector<int64_t> kernel, std::vector<int64_t> pads, int64_t count_include_pad) {
    TestGraph t;
    ValueId x = t.input("x", Shape({1, 4, 8, 8}));
    ValueId r = t.relu("r1", t.conv("c1", x, 4));
    Attributes a;
    a.set("kernel_shape", kernel);
    a.set("pads", pads);
    a.set("count_include_pad", count_include_pad);
    ValueId pool = t.node(OpKind::kAveragePool, "avg", {r}, a);
    t.output(t.conv("c2", pool, 4));
    return t;
  };
  {
    TestGraph t = make({2, 2}, {0, 0, 0, 0}, 0);
    QuantPlan p = plan_for(t.g, "full");
    REQUIRE(p.truncs.size() == 1);
    CHECK(p.truncs[0].window == 4);
    CHECK(on_value(p, out_of(t.g, t.find("avg"))) == nullptr);
  }
  {
    TestGraph t = make({3, 3}, {1, 1, 1, 1}, 1);  // padded zeros counted: still k² per window
    QuantPlan p = plan_for(t.g, "full");
    REQUIRE(p.truncs.size() == 1);
    CHECK(p.truncs[0].window == 9);
  }
  for (auto [kernel, pads] : {std::pair{std::vector<int64_t>{2, 3}, std::vector<int64_t>{0, 0, 0, 0}},
                              std::pair{std::vector<int64_t>{3, 3}, std::vector<int64_t>{1, 1, 1, 1}}}) {
    TestGraph t = make(kernel, pads, 0);
    QuantPlan p = plan_for(t.g, "full");
    CHECK(p.truncs.empty());
    const PlannedQuantizer* q = on_value(p, out_of(t.g, t.find("avg")));
    REQUIRE(q);
    CHECK(q->role == QuantRole::kOutput);
    CHECK(q->spec.sign == Signedness::kUnsigned);  // average of non-negative values
  }
}

TEST_CASE("full: explicit input settings of a compute consumer override the producer's") {
  TestGraph t = test::small_cnn();
  RuleSet rs = rules_from(R"({"defaults": {"activation": {"bits": 4}}})");
  QuantFlags f;
  f.first_last_bits = 8;
  REQUIRE(apply_flags(rs, f).is_ok());
  QuantPlan p = plan_for(t.g, "full", rs);
  CHECK(on_value(p, t.g.inputs()[0])->spec.bits == 8);  // first_compute input
  // last_compute (fc) reads the Trunc of the pool of pw's output: the override reaches it.
  CHECK(on_value(p, out_of(t.g, t.find("/features/1/pw")))->spec.bits == 8);
  CHECK(on_value(p, out_of(t.g, t.find("relu1")))->spec.bits == 4);
  CHECK(on_value(p, out_of(t.g, t.find("relu2")))->spec.bits == 4);
  CHECK(weight_of(p, t.find("/features/0/conv"))->spec.bits == 8);
  CHECK(weight_of(p, t.find("/features/1/dw"))->spec.bits == 8);  // default weight bits
  // Only the fields the rule set are taken: the method stays the producer's.
  RuleSet rs2 = rules_from(R"({"defaults": {"output": {"method": "mse", "bits": 4}},
      "rules": [{"match": {"name": "/features/1/dw"}, "input": {"bits": 7}},
                {"match": {"name": "/features/1/pw"}, "input": {"bits": 6}}]})");
  QuantPlan p2 = plan_for(t.g, "full", rs2);
  const PlannedQuantizer* r1 = on_value(p2, out_of(t.g, t.find("relu1")));
  CHECK(r1->spec.bits == 7);
  CHECK(r1->spec.method == RangeMethod::kMse);
  CHECK(on_value(p2, out_of(t.g, t.find("relu2")))->spec.bits == 6);
}

TEST_CASE("full: with several overriding consumers the most bits wins") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r = t.relu("r1", t.conv("c1", x, 4));
  t.output(t.conv("a", r, 4));
  t.output(t.conv("b", r, 4));
  QuantPlan p = plan_for(t.g, "full", rules_from(R"({"defaults": {"activation": {"bits": 4}}, "rules": [
      {"match": {"name": "a"}, "input": {"bits": 5}}, {"match": {"name": "b"}, "input": {"bits": 7}}]})"));
  CHECK(on_value(p, r)->spec.bits == 7);
}

TEST_CASE("full: skipped nodes neither require nor get quantizers") {
  TestGraph t = test::small_cnn();
  QuantPlan p = plan_for(t.g, "full", rules_from(R"({"rules": [
      {"match": {"depthwise": true}, "skip": true}, {"match": {"name": "relu2"}, "skip": true},
      {"match": {"op": "Gemm"}, "skip": true}]})"));
  CHECK(weight_of(p, t.find("/features/1/dw")) == nullptr);
  CHECK(weight_of(p, t.find("/classifier/fc")) == nullptr);
  CHECK(on_value(p, out_of(t.g, t.find("relu1"))) != nullptr);  // an activation output
  // relu2 is skipped but pw needs its input quantized: pw owns that quantizer.
  const PlannedQuantizer* q = on_value(p, out_of(t.g, t.find("relu2")));
  REQUIRE(q);
  CHECK(q->role == QuantRole::kInput);
  CHECK(q->owner == t.find("/features/1/pw"));
  CHECK(q->spec.sign == Signedness::kUnsigned);
  // The GAP's only reader is the skipped Gemm: nothing needs integers there, so the average
  // stays float (no Trunc, no quantizer on its output).
  CHECK(p.truncs.empty());
}

TEST_CASE("full: a fused activation (_act) is tolerated and treated as the activation") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId c = t.conv("c1", x, 4);
  t.g.node(t.find("c1")).attrs.set("_act", std::string("Relu"));
  ValueId d = t.conv("c2", x, 4);
  t.g.node(t.find("c2")).attrs.set("_act", std::string("LeakyRelu"));
  t.output(t.conv("c3", c, 4));
  t.output(d);
  QuantPlan p = plan_for(t.g, "full");
  const PlannedQuantizer* q = on_value(p, c);
  REQUIRE(q);
  CHECK(q->owner == t.find("c1"));
  CHECK(q->spec.sign == Signedness::kUnsigned);
  const PlannedQuantizer* l = on_value(p, d);
  REQUIRE(l);  // activation outputs are always quantized, even at a graph output
  CHECK(l->spec.sign == Signedness::kSigned);
}

TEST_CASE("finn: symmetric everywhere, unsigned non-narrow after Relu, BatchNorm kept") {
  TestGraph t = chain();
  RuleSet rs = rules_from(R"({"defaults": {"activation": {"symmetric": false, "narrow": true, "sign": "signed"},
                                           "weight": {"symmetric": false, "method": "minmax"}}})");
  QuantPlan p = plan_for(t.g, "finn", rs);
  CHECK(p.policy == "finn");
  CHECK(p.keep_batch_norm);
  CHECK(p.notes.size() >= 3);
  for (const auto& q : p.quantizers) CHECK(q.spec.symmetric);
  const PlannedQuantizer* r = on_value(p, out_of(t.g, t.find("r1")));
  CHECK(r->spec.sign == Signedness::kUnsigned);
  CHECK_FALSE(r->spec.narrow);
  CHECK(on_value(p, t.g.inputs()[0])->spec.sign == Signedness::kSigned);
  // full keeps the user's asymmetric choice.
  QuantPlan full = plan_for(t.g, "full", rs);
  CHECK_FALSE(on_value(full, out_of(t.g, t.find("r1")))->spec.symmetric);
  CHECK(on_value(full, out_of(t.g, t.find("r1")))->spec.sign == Signedness::kSigned);
  CHECK_FALSE(full.keep_batch_norm);

  auto mf = make_quant_plan(
      t.g, must(resolve_rules(t.g, rules_from(R"({"defaults": {"activation": {"format": "e4m3"}}})"))), "finn");
  REQUIRE_FALSE(mf.is_ok());
  CHECK_THAT(mf.status().message(), Catch::Contains("minifloat"));
  auto pg = make_quant_plan(
      t.g,
      must(
          resolve_rules(t.g, rules_from(R"({"defaults": {"weight": {"granularity": "per_group", "group_size": 2}}})"))),
      "finn");
  REQUIRE_FALSE(pg.is_ok());
  CHECK_THAT(pg.status().message(), Catch::Contains("per_group") && Catch::Contains("c1"));
}

TEST_CASE("make_quant_plan rejects unknown policies and configs of other graphs") {
  TestGraph t = chain();
  ResolvedConfig rc = must(resolve_rules(t.g, default_rule_set()));
  auto bad = make_quant_plan(t.g, rc, "fx");
  REQUIRE_FALSE(bad.is_ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("'fx'"));
  TestGraph other = test::small_cnn();
  CHECK_FALSE(make_quant_plan(other.g, rc, "full").is_ok());
  // An empty policy takes the config's.
  rc.policy = "layerwise";
  CHECK(must(make_quant_plan(t.g, rc)).policy == "layerwise");
}

TEST_CASE("value facts: non-negative values and transparency") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId r = t.relu("r", x);
  ValueId lo = t.g.add_constant("lo", Tensor::scalar<float>(0.f));
  ValueId hi = t.g.add_constant("hi", Tensor::scalar<float>(6.f));
  ValueId clip = t.node(OpKind::kClip, "relu6", {x, lo, hi});
  ValueId nlo = t.g.add_constant("nlo", Tensor::scalar<float>(-1.f));
  ValueId clipn = t.node(OpKind::kClip, "clipn", {x, nlo, hi});
  Attributes axis;
  axis.set("axis", int64_t{1});
  ValueId cat = t.node(OpKind::kConcat, "cat", {r, clip}, axis);
  ValueId cat2 = t.node(OpKind::kConcat, "cat2", {r, x}, axis);
  ValueId sig = t.node(OpKind::kSigmoid, "sig", {x});
  ValueId tanh = t.node(OpKind::kTanh, "tanh", {x});
  ValueId mul = t.node(OpKind::kMul, "mul", {sig, r});
  ValueId mul2 = t.node(OpKind::kMul, "mul2", {x, sig});
  std::vector<bool> nn = must(non_negative_values(t.g));
  CHECK_FALSE(nn[static_cast<size_t>(x)]);
  CHECK(nn[static_cast<size_t>(r)]);
  CHECK(nn[static_cast<size_t>(clip)]);
  CHECK_FALSE(nn[static_cast<size_t>(clipn)]);
  CHECK(nn[static_cast<size_t>(cat)]);
  CHECK_FALSE(nn[static_cast<size_t>(cat2)]);
  CHECK(nn[static_cast<size_t>(sig)]);
  CHECK_FALSE(nn[static_cast<size_t>(tanh)]);
  CHECK(nn[static_cast<size_t>(mul)]);
  CHECK_FALSE(nn[static_cast<size_t>(mul2)]);
  CHECK(is_transparent(t.g, t.find("cat")));
  CHECK_FALSE(is_transparent(t.g, t.find("sig")));
}

// ---------------------------------------------------------------------------------------------
// The shared models.

TEST_CASE("resnet18: full plan shares Add scales, unsigned after Relu, Trunc for the pool") {
  Graph g = load_model("resnet18_fmnist64.onnx", false);
  const int convs = count_live(g, OpKind::kConv), gemms = count_live(g, OpKind::kGemm);
  const int relus = count_live(g, OpKind::kRelu), adds = count_live(g, OpKind::kAdd);
  REQUIRE(convs == 20);
  REQUIRE(gemms == 1);
  REQUIRE(relus == 17);
  REQUIRE(adds == 8);
  QuantPlan p = plan_for(g, "full");
  check_signs_resolved(p);
  CHECK(with_role(p, QuantRole::kWeight).size() == 21);
  // Every conv bias and the classifier's (on the Trunc's output scale).
  CHECK(with_role(p, QuantRole::kBias).size() == 21);
  // Activations: the image, 17 Relu outputs, and the conv outputs entering the 8 Adds
  // (8 main branches + 3 downsample convs).
  CHECK(with_role(p, QuantRole::kInput).size() == 1);
  CHECK(with_role(p, QuantRole::kOutput).size() == 17 + 11);
  CHECK(p.quantizers.size() == 21 + 21 + 1 + 28);
  std::map<int, std::vector<const PlannedQuantizer*>> groups;
  for (const auto& q : p.quantizers) {
    if (q.share_group >= 0) groups[q.share_group].push_back(&q);
    if (q.role == QuantRole::kOutput && g.node(q.owner).op == OpKind::kRelu)
      CHECK(q.spec.sign == Signedness::kUnsigned);
    if (q.role == QuantRole::kOutput && g.node(q.owner).op == OpKind::kConv) CHECK(q.spec.sign == Signedness::kSigned);
  }
  CHECK(groups.size() == 8);
  for (const auto& [id, members] : groups) {
    CHECK(members.size() == 2);
    CHECK_FALSE(members[0]->share_all);
  }
  // Each group is exactly the two inputs of one Add (the first block's identity path comes
  // through the MaxPool, which is transparent).
  auto origin = [&](ValueId v) {
    while (g.value(v).producer != kNoNode && is_transparent(g, g.value(v).producer))
      v = g.node(g.value(v).producer).inputs[0];
    return v;
  };
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive || n.op != OpKind::kAdd) continue;
    const PlannedQuantizer* a = on_value(p, origin(n.inputs[0]));
    const PlannedQuantizer* b = on_value(p, origin(n.inputs[1]));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->share_group >= 0);
    CHECK(a->share_group == b->share_group);
    CHECK(groups[a->share_group].size() == 2);
  }
  REQUIRE(p.truncs.size() == 1);
  CHECK(g.node(p.truncs[0].pool).op == OpKind::kGlobalAveragePool);
  CHECK(p.truncs[0].window == 4);  // 2×2 at a 64×64 input
  const PlannedQuantizer& pool_in = p.quantizers[static_cast<size_t>(p.truncs[0].input_quantizer)];
  CHECK(g.node(pool_in.owner).op == OpKind::kRelu);

  QuantPlan lw = plan_for(g, "layerwise");
  CHECK(with_role(lw, QuantRole::kInput).size() == 21);
  CHECK(with_role(lw, QuantRole::kOutput).empty());
  CHECK(with_role(lw, QuantRole::kBias).size() == 21);
  CHECK(lw.truncs.empty());

  const std::string text = explain_config(g, must(resolve_rules(g, default_rule_set())), &p);
  CHECK_THAT(text, Catch::Contains("plan: 71 quantizers, 1 truncs"));
  CHECK_THAT(text, Catch::Contains("trunc: window 4"));
  CHECK_THAT(text, Catch::Contains("shares scale with group"));
}

TEST_CASE("mobilenet v2: the FINN example rule files set the weight bits per conv") {
  Graph g = load_model("mobilenet_v2_fmnist64.onnx", true);
  std::vector<NodeId> convs;
  int depthwise = 0;
  auto order = must(g.topological_order());
  for (NodeId id : order) {
    if (g.node(id).op != OpKind::kConv) continue;
    convs.push_back(id);
    depthwise += is_depthwise_conv(g, id);
  }
  REQUIRE(convs.size() == 52);
  CHECK(depthwise == 17);
  const std::string dir = test::source_dir() + "/examples/rules/";
  for (const char* file : {"finn_w4.json", "finn_dw8_w4.json", "finn_dw8_w4_first8.json"}) {
    INFO(file);
    RuleSet rs = must(load_rule_file(dir + file));
    ResolvedConfig rc = must(resolve_rules(g, rs));
    CHECK(rc.warnings.empty());
    QuantPlan p = must(make_quant_plan(g, rc));
    CHECK(p.policy == "finn");
    check_signs_resolved(p);
    const bool dw8 = std::string(file) != "finn_w4.json";
    const bool first8 = std::string(file) == "finn_dw8_w4_first8.json";
    for (NodeId id : convs) {
      const PlannedQuantizer* w = weight_of(p, id);
      REQUIRE(w);
      int expect = 4;
      if (dw8 && is_depthwise_conv(g, id)) expect = 8;
      if (first8 && id == convs.front()) expect = 8;
      INFO(g.node(id).name);
      CHECK(w->spec.bits == expect);
      CHECK(w->spec.granularity == Granularity::kPerChannel);
    }
    // The classifier keeps the default 8 bits; every quantizer has zero point 0; ReLU6 (Clip
    // from 0) outputs are unsigned.
    for (NodeId id : order) {
      if (g.node(id).op == OpKind::kGemm) CHECK(weight_of(p, id)->spec.bits == 8);
    }
    for (const auto& q : p.quantizers) {
      CHECK(q.spec.symmetric);
      if (q.role == QuantRole::kOutput && g.node(q.owner).op == OpKind::kClip)
        CHECK(q.spec.sign == Signedness::kUnsigned);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The FINN checker.

namespace {

struct Breaks {
  bool act_zero_point = false;
  bool weight_unquantized = false;
  bool weight_zero_point = false;
  bool weight_per_group = false;
  bool act_unquantized = false;
  bool add_scales = false;
  bool concat_scales = false;
  bool relu_signed = false;
  bool relu_unquantized = false;
  bool act_bits = false;
  bool minifloat = false;
  bool trunc_rounding = false;
  bool trunc_pool = false;
};

QuantParams per_tensor(float scale, int bits = 8, bool is_signed = true) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.scale = scalar_tensor(scale);
  p.zero_point = scalar_tensor(0.f);
  return p;
}

ValueId fq(TestGraph& t, ValueId x, const QuantParams& p, const std::string& name) {
  auto r = add_fake_quant(t.g, x, p, name);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return *r;
}

ValueId quantized_weight(TestGraph& t, const std::string& name, const Shape& shape, const Breaks& b) {
  ValueId w = t.constant(name, shape);
  if (b.weight_unquantized) return w;
  QuantParams p = per_tensor(0.01f);
  const int64_t cout = shape[0];
  if (b.weight_zero_point) p.zero_point = scalar_tensor(3.f);
  if (b.weight_per_group) {
    // One scale per (output channel, input channel): varies along the input-channel axis.
    p.scale = Tensor::from_vector(Shape({cout, shape[1], 1, 1}),
                                  std::vector<float>(static_cast<size_t>(cout * shape[1]), 0.01f));
    p.zero_point = Tensor(DType::kF32, p.scale.shape());
    p.axis = 1;
    p.group_size = 1;
  } else {
    p.scale = Tensor::from_vector(Shape({cout, 1, 1, 1}), std::vector<float>(static_cast<size_t>(cout), 0.02f));
    if (!b.weight_zero_point) p.zero_point = Tensor(DType::kF32, p.scale.shape());
    p.axis = 0;
  }
  return fq(t, w, p, name + "_quant");
}

ValueId conv_q(TestGraph& t, const std::string& name, ValueId x, int64_t cout, const Breaks& b) {
  const int64_t cin = t.g.value(x).shape[1];
  ValueId w = quantized_weight(t, name + ".weight", Shape({cout, cin, 3, 3}), b);
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{3, 3});
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  return t.node(OpKind::kConv, name, {x, w, t.constant(name + ".bias", Shape({cout}))}, a);
}

// x → q → conv1 → relu1 → q(u) → maxpool → conv2 → q ─┬→ add(·, maxpool) → q ─┐
//                                                      └→ concat(·, maxpool) ──→ avgpool → trunc → flatten → gemm
TestGraph finn_graph(const Breaks& b) {
  TestGraph t;
  const float s = 0.05f;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId xq = b.act_unquantized ? x : fq(t, x, per_tensor(0.1f), "x_quant");
  ValueId c1 = conv_q(t, "conv1", xq, 8, Breaks{});
  ValueId r1 = t.relu("relu1", c1);
  QuantParams rp = per_tensor(s, 8, b.relu_signed);
  if (b.minifloat) rp.kind = QuantKind::kFloat;
  if (b.act_bits) rp.bits = 16;
  ValueId r1q = b.relu_unquantized ? r1 : fq(t, r1, rp, "relu1_quant");
  Attributes mp;
  mp.set("kernel_shape", std::vector<int64_t>{2, 2});
  mp.set("strides", std::vector<int64_t>{2, 2});
  ValueId m = t.node(OpKind::kMaxPool, "maxpool", {r1q}, mp);
  ValueId c2 = conv_q(t, "conv2", m, 8, b);
  QuantParams c2p = per_tensor(b.add_scales ? 2 * s : s);
  if (b.act_zero_point) c2p.zero_point = scalar_tensor(-5.f);
  ValueId c2q = fq(t, c2, c2p, "conv2_quant");
  ValueId c2q_cat = b.concat_scales ? fq(t, c2, per_tensor(3 * s), "conv2_quant_cat") : c2q;
  ValueId add = t.node(OpKind::kAdd, "add", {c2q, m});
  t.output(fq(t, add, per_tensor(s), "add_quant"));
  Attributes axis;
  axis.set("axis", int64_t{1});
  ValueId cat = t.node(OpKind::kConcat, "concat", {c2q_cat, m}, axis);
  Attributes ap;
  ap.set("kernel_shape", b.trunc_pool ? std::vector<int64_t>{2, 1} : std::vector<int64_t>{2, 2});
  ap.set("strides", std::vector<int64_t>{2, 2});
  ValueId pool = t.node(OpKind::kAveragePool, "avgpool", {cat}, ap);
  auto c = [&](const std::string& n, float v) { return t.g.add_constant(n, Tensor::scalar<float>(v)); };
  Attributes ta;
  ta.set("rounding_mode", std::string(b.trunc_rounding ? "ROUND" : "FLOOR"));
  ta.set("signed", int64_t{1});
  ta.set("narrow", int64_t{0});
  ta.set("version", int64_t{2});
  ValueId trunc =
      t.node(OpKind::kTrunc, "trunc",
             {pool, c("t_scale", s / 4), c("t_zp", 0.f), c("t_in", 10.f), c("t_out_scale", s), c("t_out", 8.f)}, ta);
  Attributes fa;
  fa.set("axis", int64_t{1});
  ValueId flat = t.node(OpKind::kFlatten, "flatten", {trunc}, fa);
  const int64_t k = t.g.value(flat).shape[1];
  ValueId wg = quantized_weight(t, "fc.weight", Shape({10, k}), Breaks{});
  Attributes ga;
  ga.set("transB", int64_t{1});
  t.output(t.node(OpKind::kGemm, "fc", {flat, wg}, ga));
  return t;
}

std::set<std::pair<std::string, std::string>> violations(const Breaks& b) {
  TestGraph t = finn_graph(b);
  std::set<std::pair<std::string, std::string>> out;
  for (const FinnViolation& v : check_finn(t.g)) {
    CHECK_FALSE(v.message.empty());
    out.insert({v.node, v.rule});
  }
  return out;
}

using V = std::set<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("FINN checker: a compliant graph passes") {
  TestGraph t = finn_graph(Breaks{});
  auto v = check_finn(t.g);
  INFO(format_finn_violations(v));
  CHECK(v.empty());
  CHECK(format_finn_violations(v) == "FINN check: OK\n");
}

TEST_CASE("FINN checker: each broken rule is reported at its node") {
  Breaks b;
  b.weight_unquantized = true;
  CHECK(violations(b) == V{{"conv2", "weight-quant"}});
  b = {};
  b.weight_zero_point = true;
  CHECK(violations(b) == V{{"conv2", "weight-zero-point"}});
  b = {};
  b.weight_per_group = true;
  CHECK(violations(b) == V{{"conv2", "weight-scale"}});
  b = {};
  b.act_unquantized = true;
  CHECK(violations(b) == V{{"conv1", "act-quant"}});
  b = {};
  b.add_scales = true;
  CHECK(violations(b) == V{{"add", "add-scales"}, {"concat", "concat-scales"}});
  b = {};
  b.concat_scales = true;
  CHECK(violations(b) == V{{"concat", "concat-scales"}});
  b = {};
  b.relu_signed = true;
  CHECK(violations(b) == V{{"relu1", "relu-unsigned"}});
  b = {};
  b.relu_unquantized = true;
  CHECK(violations(b) ==
        V{{"relu1", "relu-quant"}, {"conv2", "act-quant"}, {"add", "add-scales"}, {"concat", "concat-scales"}});
  b = {};
  b.act_bits = true;
  CHECK(violations(b) == V{{"relu1_quant", "act-bits"}});
  b = {};
  b.minifloat = true;
  CHECK(violations(b) == V{{"relu1_quant", "quant-kind"}});
  b = {};
  b.act_zero_point = true;
  CHECK(violations(b) == V{{"conv2_quant", "act-zero-point"}});
  b = {};
  b.trunc_rounding = true;
  CHECK(violations(b) == V{{"trunc", "trunc-rounding"}});
  b = {};
  b.trunc_pool = true;
  CHECK(violations(b) == V{{"trunc", "trunc-pool"}});
  const std::string text = format_finn_violations(check_finn(finn_graph(b).g));
  CHECK_THAT(text, Catch::Contains("node 'trunc': [trunc-pool]") && Catch::Contains("non-square"));
}

TEST_CASE("FINN end to end: a finn plan, calibrated and materialised, passes the checker") {
  for (const char* model : {"resnet18_fmnist64.onnx", "mobilenet_v2_fmnist64.onnx"}) {
    INFO(model);
    Graph g = load_model(model, true);
    RuleSet rs = must(load_rule_file(test::source_dir() + "/examples/rules/finn_dw8_w4_first8.json"));
    QuantPlan plan = must(make_quant_plan(g, must(resolve_rules(g, rs))));
    int batches = 0;
    BatchSource source = [&](std::vector<Tensor>& inputs) -> Result<bool> {
      if (batches == 2) return false;
      inputs = {test::random_tensor(Shape({2, 3, 64, 64}), static_cast<uint64_t>(100 + batches), -2.f, 2.f)};
      ++batches;
      return true;
    };
    CalibrationOptions co;
    co.num_threads = 2;
    CalibrationResult cal = must(calibrate(g, plan, source, co));
    Graph q = must(materialize_plan(g, plan, cal));
    CHECK(count_live(q, OpKind::kTrunc) == 1);
    const auto v = check_finn(q);
    INFO(format_finn_violations(v));
    CHECK(v.empty());
    // The same model quantized with the full policy and asymmetric activations breaks FINN's
    // zero-point and Relu rules, and the checker says where.
    RuleSet asym = must(parse_rules(
        R"({"defaults": {"activation": {"symmetric": false}, "weight": {"symmetric": false, "method": "minmax"}}})",
        "asym"));
    QuantPlan full = must(make_quant_plan(g, must(resolve_rules(g, asym)), "full"));
    batches = 0;
    Graph fq = must(materialize_plan(g, full, must(calibrate(g, full, source, co))));
    std::set<std::string> rules;
    for (const FinnViolation& x : check_finn(fq)) rules.insert(x.rule);
    CHECK(rules.count("weight-zero-point"));
    CHECK(rules.count("act-zero-point"));
  }
}

TEST_CASE("every shared model gets a valid plan under every policy") {
  for (const char* model : {"fmnist_tiny_cnn.onnx", "resnet18_fmnist64.onnx", "mobilenet_v2_fmnist64.onnx",
                            "mobilenet_v3_small_fmnist64.onnx", "vit_tiny_fmnist64.onnx"}) {
    for (const char* policy : {"layerwise", "full", "finn"}) {
      INFO(model << " " << policy);
      Graph g = load_model(model, std::string(policy) == "finn");
      QuantPlan p = plan_for(g, policy);
      check_signs_resolved(p);
      Status st = validate_plan(g, p);
      INFO(st.message());
      CHECK(st.is_ok());
      int compute = 0;
      for (size_t i = 0; i < g.num_nodes(); ++i) {
        const Node& n = g.node(static_cast<NodeId>(i));
        if (n.alive && is_compute_op(n.op) && compute_inputs(g, static_cast<NodeId>(i)).weight >= 0) ++compute;
      }
      CHECK(with_role(p, QuantRole::kWeight).size() == static_cast<size_t>(compute));
      // Every value carries at most one quantizer per use.
      std::set<std::pair<ValueId, int>> seen;
      for (const auto& q : p.quantizers) {
        if (q.consumers.empty()) {
          CHECK(seen.insert({q.value, -1}).second);
        } else {
          for (const Use& u : q.consumers) CHECK(seen.insert({q.value, u.node * 64 + u.input_index}).second);
        }
      }
    }
  }
}

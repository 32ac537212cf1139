// The per-layer latency lookup table (quant/mixed/latency_table.h): attribution of integer plan
// nodes to float compute layers, the measured table on a real model, its JSON form and the
// per-machine cache. No timing ratios are asserted: the machine is shared and noisy; what is
// asserted holds for any timing (positive, disjoint, inside the run).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "engine/session.h"
#include "graph/quant_params.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/lower_integer.h"
#include "quant/mixed/latency_table.h"
#include "quant/prepare.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"
#include "quant/value_facts.h"
#include "quant_test_graphs.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;
using namespace qe::test;

namespace {

Graph canonical_model(const std::string& rel) {
  auto model = import_onnx_file(require_file(shared_path(rel)));
  INFO(model.status().message());
  REQUIRE(model.is_ok());
  auto g = prepare_float_graph(std::move(model).value());
  INFO(g.status().message());
  REQUIRE(g.is_ok());
  return std::move(g).value();
}

std::vector<std::string> compute_layers(const Graph& g) {
  std::vector<std::string> names;
  auto order = g.topological_order();
  REQUIRE(order.is_ok());
  for (NodeId id : *order) {
    if (is_compute_op(g.node(id).op)) names.push_back(g.node(id).name);
  }
  return names;
}

// A fresh directory per test case, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("qe_latency_test_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

LatencyOptions few_runs() {
  LatencyOptions o;
  o.num_threads = 2;
  o.runs = 5;
  o.warmup = 1;
  return o;
}

// The table's invariants on any machine: every layer timed at every width, the attribution
// disjoint and inside the run, covering most of it.
void check_table(const LatencyTable& t, const std::vector<std::string>& layers, const std::vector<int>& bits) {
  REQUIRE(t.layers.size() == layers.size());
  std::set<std::string> charged_float;
  std::map<int, std::set<std::string>> charged;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerLatency& l = t.layers[i];
    INFO("layer " << l.layer);
    CHECK(l.layer == layers[i]);
    CHECK(l.float_us > 0);
    REQUIRE(l.us_by_bits.size() == bits.size());
    for (int b : bits) {
      INFO(b << " bits");
      REQUIRE(l.us_by_bits.count(b));
      CHECK(l.us_by_bits.at(b) > 0);
      REQUIRE(l.nodes_by_bits.count(b));
      for (const std::string& n : l.nodes_by_bits.at(b)) CHECK(charged[b].insert(n).second);  // no node charged twice
    }
  }
  CHECK(t.float_total_us > 0);
  CHECK(t.float_attributed_us <= t.float_total_us);
  CHECK(t.float_attributed_us >= 0.5 * t.float_total_us);
  for (int b : bits) {
    INFO(b << " bits");
    REQUIRE(t.total_us_by_bits.count(b));
    REQUIRE(t.attributed_us_by_bits.count(b));
    CHECK(t.attributed_us_by_bits.at(b) <= t.total_us_by_bits.at(b));
    CHECK(t.attributed_us_by_bits.at(b) >= 0.5 * t.total_us_by_bits.at(b));
  }
}

// The integer plan of `float_graph` quantized by `rules_json`, with the attribution of `layers`.
// `edit` may change the fake-quant graph before lowering (as an imported QONNX file could differ).
std::vector<LayerNodes> attribute_quantized(const Graph& float_graph, const std::string& rules_json,
                                            const std::vector<std::string>& layers, Graph* plan_out,
                                            const std::function<void(Graph&)>& edit = nullptr) {
  auto rules = parse_rules(rules_json, "test rules");
  INFO(rules.status().message());
  REQUIRE(rules.is_ok());
  rules->algorithms.bias_correction = false;
  std::vector<std::vector<Tensor>> calib;
  for (uint64_t i = 0; i < 4; ++i) calib.push_back({random_tensor(float_graph.value(float_graph.inputs()[0]).shape, 7 + i)});
  auto q = quantize_graph(float_graph, *rules, "full", batch_list_passes(calib), 1);
  INFO(q.status().message());
  REQUIRE(q.is_ok());
  if (edit) edit(*q);
  Graph lowered = *q;
  auto report = lower_to_integer(lowered);
  REQUIRE(report.is_ok());
  auto s = Session::create(std::move(lowered), SessionOptions{1});
  REQUIRE(s.is_ok());
  auto plan = (*s)->specialized_graph({float_graph.value(float_graph.inputs()[0]).shape});
  REQUIRE(plan.is_ok());
  auto nodes = attribute_layer_nodes(*plan, layers, &*q, &*report);
  INFO(nodes.status().message());
  REQUIRE(nodes.is_ok());
  if (plan_out) *plan_out = std::move(plan).value();
  return std::move(nodes).value();
}

OpKind op_of(const Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive && n.name == name) return n.op;
  }
  FAIL("no node named " << name);
  return OpKind::kCount;
}

}  // namespace

TEST_CASE("attribution: entry quantizer and requantization are charged, a unary LUT is not") {
  // x → conv1 → relu1 → [a second, 4-bit quantizer] → conv2 → relu2 → sigmoid → conv3
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 8, 8, 8}));
  ValueId r1 = t.relu("relu1", t.conv("conv1", x, 8));
  ValueId s2 = t.node(OpKind::kSigmoid, "sigmoid", {t.relu("relu2", t.conv("conv2", r1, 8))});
  t.output(t.conv("conv3", s2, 8));
  // Two quantizers in series, as a QONNX file may hold them: conv2 reads relu1's 8-bit output
  // on a 4-bit grid, so the integer plan requantizes it with a LUT.
  auto add_second_quantizer = [](Graph& q) {
    NodeId conv2 = kNoNode;
    for (size_t i = 0; i < q.num_nodes(); ++i) {
      if (q.node(static_cast<NodeId>(i)).alive && q.node(static_cast<NodeId>(i)).name == "conv2") conv2 = static_cast<NodeId>(i);
    }
    REQUIRE(conv2 != kNoNode);
    const ValueId in = q.node(conv2).inputs[0];
    const NodeId fq = q.value(in).producer;
    REQUIRE(q.node(fq).op == OpKind::kFakeQuant);
    auto p = read_quant_params(q, fq);
    REQUIRE(p.is_ok());
    p->bits = 4;
    auto second = add_fake_quant(q, in, *p, "conv2/second_input_quant");
    REQUIRE(second.is_ok());
    q.set_node_input(conv2, 0, *second);
  };
  Graph plan;
  auto nodes = attribute_quantized(t.g, "{}", {"conv1", "conv2", "conv3"}, &plan, add_second_quantizer);
  REQUIRE(nodes.size() == 3);
  for (const auto& n : nodes) CHECK_FALSE(n.stayed_float);

  // conv1: its QConv and the region entry on the graph input (8-bit signed = the container, no clamp).
  REQUIRE(nodes[0].nodes.size() == 2);
  CHECK(nodes[0].nodes[0] == "conv1_int");
  CHECK(op_of(plan, nodes[0].nodes[1]) == OpKind::kQuantizeLinear);
  // conv2: its QConv and the LUT moving relu1's 8-bit output onto its 4-bit input grid.
  REQUIRE(nodes[1].nodes.size() == 2);
  CHECK(nodes[1].nodes[0] == "conv2_int");
  CHECK(op_of(plan, nodes[1].nodes[1]) == OpKind::kQLut);
  // conv3: the Sigmoid became a LUT feeding only conv3, but it is the model's op, not a requantization.
  CHECK(nodes[2].nodes == std::vector<std::string>{"conv3_int"});
  int luts = 0;
  for (size_t i = 0; i < plan.num_nodes(); ++i) {
    luts += plan.node(static_cast<NodeId>(i)).alive && plan.node(static_cast<NodeId>(i)).op == OpKind::kQLut;
  }
  CHECK(luts == 2);  // the requantization and the sigmoid: one charged, one not
}

TEST_CASE("attribution: a quantizer re-entering after a float op is charged to its only reader") {
  // conv2's output is not quantized (no activation follows), so the Sigmoid runs in float and
  // its output quantizer becomes a QuantizeLinear that exists only to feed conv3.
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 8, 8, 8}));
  ValueId c2 = t.conv("conv2", t.relu("relu1", t.conv("conv1", x, 8)), 8);
  t.output(t.conv("conv3", t.node(OpKind::kSigmoid, "sigmoid", {c2}), 8));
  Graph plan;
  auto nodes = attribute_quantized(t.g, "{}", {"conv2", "conv3"}, &plan);
  CHECK(nodes[0].nodes == std::vector<std::string>{"conv2_int"});
  REQUIRE(nodes[1].nodes.size() == 2);
  CHECK(nodes[1].nodes[0] == "conv3_int");
  CHECK(op_of(plan, nodes[1].nodes[1]) == OpKind::kQuantizeLinear);
  CHECK(op_of(plan, "sigmoid") == OpKind::kSigmoid);  // the float op itself is charged to no one
}

TEST_CASE("attribution: a narrower entry grid charges the clamp LUT too") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 8, 8, 8}));
  t.output(t.conv("conv2", t.relu("relu1", t.conv("conv1", x, 8)), 8));
  Graph plan;
  auto nodes = attribute_quantized(t.g, R"({"defaults": {"weight": {"bits": 4}, "activation": {"bits": 4}}})",
                                   {"conv1", "conv2"}, &plan);
  REQUIRE(nodes[0].nodes.size() == 3);
  CHECK(nodes[0].nodes[0] == "conv1_int");
  CHECK(op_of(plan, nodes[0].nodes[1]) == OpKind::kQLut);
  CHECK(ends_with(nodes[0].nodes[1], "_clamp_lut"));
  CHECK(op_of(plan, nodes[0].nodes[2]) == OpKind::kQuantizeLinear);
  CHECK(nodes[1].nodes == std::vector<std::string>{"conv2_int"});
}

TEST_CASE("a layer that cannot be lowered is measured as its float node and flagged") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 16}));
  ValueId h = t.relu("relu1", t.gemm("fc1", x, 32));
  Attributes scaled;
  scaled.set("transB", int64_t{1});
  scaled.set("alpha", 0.5f);  // Gemm with alpha has no integer form
  ValueId w = t.constant("fc2.weight", Shape({8, 32}));
  t.output(t.node(OpKind::kGemm, "fc2", {h, w}, scaled));
  auto g = prepare_float_graph(t.g);
  REQUIRE(g.is_ok());
  auto table = measure_layer_latency(*g, {}, {8}, few_runs());
  INFO(table.status().message());
  REQUIRE(table.is_ok());
  REQUIRE(table->layers.size() == 2);
  CHECK(table->layers[0].layer == "fc1");
  CHECK(table->layers[0].float_fallback_bits.empty());
  CHECK(table->layers[0].nodes_by_bits.at(8).front() == "fc1_int");
  CHECK(table->layers[1].layer == "fc2");
  CHECK(table->layers[1].float_fallback_bits == std::vector<int>{8});
  CHECK(table->layers[1].nodes_by_bits.at(8) == std::vector<std::string>{"fc2"});
  CHECK(table->layers[1].us_by_bits.at(8) > 0);
}

TEST_CASE("per-node times are disjoint slices of the run") {
  const Graph g = canonical_model("models/mobilenet_v2_fmnist64.onnx");
  auto s = Session::create(g, SessionOptions{2});
  REQUIRE(s.is_ok());
  Tensor x = random_tensor(Shape({1, 3, 64, 64}), 3);
  auto t = time_session_nodes(**s, {x}, 4, 1);
  REQUIRE(t.is_ok());
  REQUIRE(t->us.size() == 4);
  REQUIRE(t->whole_run_us.size() == 4);
  auto plan = (*s)->specialized_graph({x.shape()});
  REQUIRE(plan.is_ok());
  CHECK(t->nodes.size() == plan->num_live_nodes());
  for (size_t r = 0; r < t->us.size(); ++r) {
    double sum = 0;
    for (double us : t->us[r]) {
      CHECK(us >= 0);
      sum += us;
    }
    CHECK(sum <= t->whole_run_us[r]);
  }
}

TEST_CASE("interleaved timing keeps each session's own nodes and runs") {
  const Graph a = canonical_model("models/mobilenet_v2_fmnist64.onnx");
  const Graph b = canonical_model("models/resnet18_fmnist64.onnx");
  auto sa = Session::create(a, SessionOptions{2});
  auto sb = Session::create(b, SessionOptions{2});
  REQUIRE(sa.is_ok());
  REQUIRE(sb.is_ok());
  Tensor x = random_tensor(Shape({1, 3, 64, 64}), 5);
  auto t = time_sessions_interleaved({sa->get(), sb->get(), sa->get()}, {x}, 3, 1);
  REQUIRE(t.is_ok());
  REQUIRE(t->size() == 3);
  auto pa = (*sa)->specialized_graph({x.shape()});
  auto pb = (*sb)->specialized_graph({x.shape()});
  REQUIRE(pa.is_ok());
  REQUIRE(pb.is_ok());
  CHECK((*t)[0].nodes.size() == pa->num_live_nodes());
  CHECK((*t)[1].nodes.size() == pb->num_live_nodes());
  CHECK((*t)[2].nodes == (*t)[0].nodes);
  CHECK((*t)[0].nodes != (*t)[1].nodes);
  for (const NodeTimes& n : *t) {
    CHECK(n.us.size() == 3);
    CHECK(n.whole_run_us.size() == 3);
  }
}

TEST_CASE("mobilenet_v2 latency table: every layer, attribution, JSON, cache") {
  const Graph g = canonical_model("models/mobilenet_v2_fmnist64.onnx");
  const std::vector<std::string> layers = compute_layers(g);
  REQUIRE(layers.size() == 53);  // 52 Conv + the classifier Gemm
  const std::vector<int> bits = {4, 8};
  TempDir dir;
  const LatencyOptions o = few_runs();

  LatencyCacheInfo first_info;
  auto first = load_or_measure_layer_latency(g, {}, bits, o, dir.path.string(), &first_info);
  INFO(first.status().message());
  REQUIRE(first.is_ok());
  CHECK_FALSE(first_info.hit);
  CHECK(first_info.warnings.empty());
  REQUIRE(fs::exists(first_info.path));
  const LatencyTable& t = *first;
  check_table(t, layers, bits);
  CHECK(t.num_threads == 2);
  CHECK(t.batch == 1);
  CHECK(t.machine.find("2 threads") != std::string::npos);

  SECTION("every layer runs on integer kernels, as its own QConv / QGemm") {
    for (const LayerLatency& l : t.layers) {
      INFO(l.layer);
      CHECK(l.float_fallback_bits.empty());
      for (int b : bits) CHECK(l.nodes_by_bits.at(b).front() == l.layer + "_int");
    }
    // Only the first layer owns an entry: the graph input's QuantizeLinear (and at 4 bits the
    // clamp onto the narrower grid); uniform widths need no requantization between layers.
    CHECK(t.layers[0].nodes_by_bits.at(8).size() == 2);
    CHECK(ends_with(t.layers[0].nodes_by_bits.at(8).back(), "_quantize"));
    CHECK(t.layers[0].nodes_by_bits.at(4).size() == 3);
    CHECK(ends_with(t.layers[0].nodes_by_bits.at(4)[1], "_clamp_lut"));
    for (size_t i = 1; i < t.layers.size(); ++i) {
      for (int b : bits) CHECK(t.layers[i].nodes_by_bits.at(b).size() == 1);
    }
  }

  SECTION("JSON round trip") {
    auto back = latency_table_from_json(latency_table_to_json(t));
    REQUIRE(back.is_ok());
    CHECK(*back == t);
    auto reparsed = latency_table_from_json(nlohmann::json::parse(latency_table_to_json(t).dump()));
    REQUIRE(reparsed.is_ok());
    CHECK(*reparsed == t);
    nlohmann::json broken = latency_table_to_json(t);
    broken["layers"][2]["us_by_bits"]["four"] = 1.0;
    auto bad = latency_table_from_json(broken);
    REQUIRE_FALSE(bad.is_ok());
    CHECK(bad.status().message().find("layers[2]") != std::string::npos);
  }

  SECTION("a second call is a cache hit: same table, file untouched") {
    const auto mtime = fs::last_write_time(first_info.path);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    LatencyCacheInfo info;
    auto again = load_or_measure_layer_latency(g, layers, {8, 4, 8}, o, dir.path.string(), &info);
    REQUIRE(again.is_ok());
    CHECK(info.hit);
    CHECK(info.path == first_info.path);
    CHECK(*again == t);
    CHECK(fs::last_write_time(first_info.path) == mtime);
  }

  SECTION("another thread count or bit list misses") {
    LatencyOptions one_thread = o;
    one_thread.num_threads = 1;
    LatencyCacheInfo info;
    auto other = load_or_measure_layer_latency(g, {}, bits, one_thread, dir.path.string(), &info);
    REQUIRE(other.is_ok());
    CHECK_FALSE(info.hit);
    CHECK(info.path != first_info.path);
    CHECK(other->num_threads == 1);

    LatencyCacheInfo info8;
    auto only8 = load_or_measure_layer_latency(g, {}, {8}, o, dir.path.string(), &info8);
    REQUIRE(only8.is_ok());
    CHECK_FALSE(info8.hit);
    CHECK(info8.path != first_info.path);
    check_table(*only8, layers, {8});
    CHECK(fs::exists(first_info.path));
  }

  SECTION("a corrupt cache file is measured again with a warning, then rewritten") {
    std::ifstream in(first_info.path);
    nlohmann::json other_key = nlohmann::json::parse(in);
    other_key["key"] = "another model";
    const std::vector<std::string> junks = {"{\"format\": \"qengine-latency-table\", \"version\": 1, \"key\"",
                                            "[1, 2, 3]", other_key.dump()};
    for (const std::string& junk : junks) {
      INFO("cache file: " << junk.substr(0, 60));
      {
        std::ofstream out(first_info.path, std::ios::trunc);
        out << junk;
      }
      LatencyCacheInfo info;
      auto re = load_or_measure_layer_latency(g, {}, bits, o, dir.path.string(), &info);
      INFO(re.status().message());
      REQUIRE(re.is_ok());
      CHECK_FALSE(info.hit);
      REQUIRE(info.warnings.size() == 1);
      CHECK(info.warnings[0].find(first_info.path) != std::string::npos);
      check_table(*re, layers, bits);
      LatencyCacheInfo after;
      auto hit = load_or_measure_layer_latency(g, {}, bits, o, dir.path.string(), &after);
      REQUIRE(hit.is_ok());
      CHECK(after.hit);
      CHECK(*hit == *re);
    }
  }

  SECTION("a cache that cannot be written is a warning, not an error") {
    const fs::path file = dir.path / "not-a-directory";
    std::ofstream(file) << "x";
    LatencyCacheInfo info;
    auto t2 = load_or_measure_layer_latency(g, {}, {8}, o, (file / "cache").string(), &info);
    INFO(t2.status().message());
    REQUIRE(t2.is_ok());
    CHECK_FALSE(info.hit);
    REQUIRE(info.warnings.size() == 1);
    CHECK(info.warnings[0].find("not written") != std::string::npos);
    check_table(*t2, layers, {8});
  }

  SECTION("a subset of layers keys its own entry") {
    LatencyCacheInfo info;
    auto two = load_or_measure_layer_latency(g, {layers[5], layers[1]}, {8}, o, dir.path.string(), &info);
    REQUIRE(two.is_ok());
    CHECK_FALSE(info.hit);
    REQUIRE(two->layers.size() == 2);
    CHECK(two->layers[0].layer == layers[5]);
    CHECK(two->layers[1].layer == layers[1]);
  }
}

TEST_CASE("bad requests fail with a clear error") {
  const Graph g = canonical_model("models/mobilenet_v2_fmnist64.onnx");
  const LatencyOptions o = few_runs();
  auto unknown = measure_layer_latency(g, {"/no/such/Conv"}, {8}, o);
  REQUIRE_FALSE(unknown.is_ok());
  CHECK(unknown.status().code() == StatusCode::kNotFound);
  CHECK(unknown.status().message().find("'/no/such/Conv'") != std::string::npos);

  TempDir dir;
  auto cached_unknown = load_or_measure_layer_latency(g, {"/no/such/Conv"}, {8}, o, dir.path.string());
  REQUIRE_FALSE(cached_unknown.is_ok());
  CHECK(cached_unknown.status().message().find("'/no/such/Conv'") != std::string::npos);
  CHECK(fs::is_empty(dir.path));

  std::string non_compute;
  for (size_t i = 0; i < g.num_nodes() && non_compute.empty(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive && !is_compute_op(n.op) && !n.name.empty()) non_compute = n.name;
  }
  REQUIRE_FALSE(non_compute.empty());
  auto not_compute = measure_layer_latency(g, {non_compute}, {8}, o);
  REQUIRE_FALSE(not_compute.is_ok());
  CHECK(not_compute.status().message().find("'" + non_compute + "'") != std::string::npos);
  auto one_bit = measure_layer_latency(g, {}, {1, 8}, o);
  REQUIRE_FALSE(one_bit.is_ok());
  CHECK(one_bit.status().message().find("1 bits") != std::string::npos);
  LatencyOptions no_runs = o;
  no_runs.runs = 0;
  CHECK_FALSE(measure_layer_latency(g, {}, {8}, no_runs).is_ok());
}

TEST_CASE("default cache directory follows XDG_CACHE_HOME, then HOME") {
  auto saved = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const std::optional<std::string> old_xdg = saved("XDG_CACHE_HOME"), old_home = saved("HOME");
  setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  setenv("HOME", "/tmp/home-test", 1);
  CHECK(default_latency_cache_dir() == "/tmp/xdg-test/qengine/latency");
  unsetenv("XDG_CACHE_HOME");
  CHECK(default_latency_cache_dir() == "/tmp/home-test/.cache/qengine/latency");
  unsetenv("HOME");
  CHECK(default_latency_cache_dir() == (fs::temp_directory_path() / "qengine" / "latency").string());
  for (const auto& [name, value] : {std::make_pair("XDG_CACHE_HOME", old_xdg), std::make_pair("HOME", old_home)}) {
    if (value) setenv(name, value->c_str(), 1);
  }
}

// HAWQ-V3 bit allocation: the GLPK integer program against brute-force enumeration on random
// small problems (ties, pins, any combination of budgets), budget resolution and errors, the
// random baseline, and the per-layer cost model on ResNet18 and on small IR graphs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "engine/model_stats.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/mixed/bit_allocation.h"
#include "quant/mixed/layer_costs.h"
#include "quant/prepare.h"
#include "quant_test_graphs.h"
#include "support/must.h"
#include "support/test_support.h"

using namespace qe;
using qe::test::must;
using qe::test::TestGraph;

namespace {


// Totals of an allocation summed in layer order, independently of evaluate_allocation.
struct Totals {
  double sensitivity = 0, size = 0, bops = 0, latency = 0;
};

size_t index_of(const LayerOptionCosts& c, int bits) {
  const auto it = std::find(c.bits.begin(), c.bits.end(), bits);
  if (it == c.bits.end()) FAIL(bits << " bits is not one of the layer's choices");
  return static_cast<size_t>(it - c.bits.begin());
}

Totals totals(const AllocationProblem& p, const std::vector<int>& bits) {
  REQUIRE(bits.size() == p.layers.size());
  Totals t;
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const size_t k = index_of(p.layers[i], bits[i]);
    t.sensitivity += p.layers[i].sensitivity[k];
    t.size += p.layers[i].size_bytes[k];
    t.bops += p.layers[i].bops[k];
    t.latency += p.layers[i].latency[k];
  }
  return t;
}

bool within(const Totals& t, const BudgetLimits& l) {
  return (!l.size || t.size <= *l.size) && (!l.bops || t.bops <= *l.bops) && (!l.latency || t.latency <= *l.latency);
}

void check_within(const Allocation& a, const AllocationProblem& p) {
  const Totals t = totals(p, a.bits);
  if (a.limits.size) CHECK(t.size <= *a.limits.size);
  if (a.limits.bops) CHECK(t.bops <= *a.limits.bops);
  if (a.limits.latency) CHECK(t.latency <= *a.limits.latency);
  CHECK(t.sensitivity == a.sensitivity);
  CHECK(t.size == a.size_bytes);
}

void check_ties_and_pins(const AllocationProblem& p, const std::vector<int>& bits) {
  for (const auto& group : p.ties) {
    for (size_t i : group) CHECK(bits[i] == bits[group[0]]);
  }
  for (const auto& [i, b] : p.pinned_bits) CHECK(bits[i] == b);
}

// Every per-layer assignment that honours ties and pins, visited by enumeration.
void enumerate(const AllocationProblem& p, const std::function<void(const std::vector<int>&)>& visit) {
  std::vector<size_t> idx(p.layers.size(), 0);
  std::vector<int> bits(p.layers.size());
  for (;;) {
    for (size_t i = 0; i < idx.size(); ++i) bits[i] = p.layers[i].bits[idx[i]];
    bool ok = true;
    for (const auto& [i, b] : p.pinned_bits) ok = ok && bits[i] == b;
    for (const auto& group : p.ties) {
      for (size_t i : group) ok = ok && bits[i] == bits[group[0]];
    }
    if (ok) visit(bits);
    size_t d = 0;
    while (d < idx.size() && ++idx[d] == p.layers[d].bits.size()) idx[d++] = 0;
    if (d == idx.size()) return;
  }
}

struct BruteForce {
  bool feasible = false;
  double best = 0;
  std::vector<int> bits;
};

BruteForce brute_force(const AllocationProblem& p, const BudgetLimits& limits) {
  BruteForce r;
  enumerate(p, [&](const std::vector<int>& bits) {
    const Totals t = totals(p, bits);
    if (!within(t, limits)) return;
    if (!r.feasible || t.sensitivity < r.best) {
      r.feasible = true;
      r.best = t.sensitivity;
      r.bits = bits;
    }
  });
  return r;
}

struct RandomOptions {
  bool monotone_sensitivity = true;
  bool allow_absolute = true;
  int max_layers = 10;
};

// A random problem: every layer offers the same 2 or 3 choices, size and BOPS follow params
// and MACs (monotone in bits), latency grows with bits, ties and pins drawn at random, and a
// random subset of budgets as ratios or absolute limits (some below all-low).
AllocationProblem random_problem(uint64_t seed, const RandomOptions& o = {}) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto coin = [&](double p) { return uniform(0, 1) < p; };
  const size_t n = std::uniform_int_distribution<size_t>(1, static_cast<size_t>(o.max_layers))(rng);
  const std::vector<int> bits = coin(0.5) ? std::vector<int>{4, 8} : std::vector<int>{2, 4, 8};
  AllocationProblem p;
  for (size_t i = 0; i < n; ++i) {
    p.names.push_back("layer" + std::to_string(i));
    LayerOptionCosts c;
    c.bits = bits;
    const double params = std::floor(uniform(100, 100000));
    const double macs = std::floor(uniform(1e4, 1e8));
    const double lat_base = uniform(0.01, 2.0);
    double sens = uniform(0.5, 10);
    for (int b : bits) {
      c.size_bytes.push_back(params * b / 8);
      c.bops.push_back(macs * b * b);
      c.latency.push_back(lat_base * (0.3 + 0.1 * b) + uniform(0, 0.05));
      c.sensitivity.push_back(o.monotone_sensitivity ? sens : uniform(0, 10));
      sens *= uniform(0.05, 0.9);
    }
    p.layers.push_back(std::move(c));
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  size_t next = 0;
  while (next + 1 < n && coin(0.5)) {
    const size_t len = std::min(n - next, std::uniform_int_distribution<size_t>(2, 3)(rng));
    std::vector<size_t> group(order.begin() + static_cast<std::ptrdiff_t>(next),
                              order.begin() + static_cast<std::ptrdiff_t>(next + len));
    p.ties.push_back(group);
    next += len;
  }
  std::map<size_t, size_t> group_of;
  for (size_t gi = 0; gi < p.ties.size(); ++gi) {
    for (size_t i : p.ties[gi]) group_of[i] = gi;
  }
  for (int k = std::uniform_int_distribution<int>(0, 2)(rng); k > 0; --k) {
    const size_t i = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    const int b = bits[std::uniform_int_distribution<size_t>(0, bits.size() - 1)(rng)];
    bool clash = false;  // tied layers must not be pinned differently
    if (group_of.count(i)) {
      for (size_t j : p.ties[group_of[i]]) clash = clash || (p.pinned_bits.count(j) && p.pinned_bits[j] != b);
    }
    if (!clash) p.pinned_bits[i] = b;
  }
  auto budget = [&](double all_low, double all_high) -> std::optional<Budget> {
    if (coin(0.5)) return std::nullopt;
    Budget b;
    if (o.allow_absolute && coin(0.3)) b.absolute = uniform(0.9 * all_low, all_high);
    else b.ratio = coin(0.15) ? std::floor(uniform(0, 2)) : uniform(0, 1);
    return b;
  };
  std::vector<int> low(n), high(n);
  for (size_t i = 0; i < n; ++i) {
    low[i] = p.pinned_bits.count(i) ? p.pinned_bits[i] : bits.front();
    high[i] = p.pinned_bits.count(i) ? p.pinned_bits[i] : bits.back();
  }
  // Tied layers follow a pinned member.
  for (const auto& group : p.ties) {
    for (size_t i : group) {
      if (!p.pinned_bits.count(i)) continue;
      for (size_t j : group) low[j] = high[j] = p.pinned_bits[i];
    }
  }
  const Totals tl = totals(p, low), th = totals(p, high);
  p.size = budget(tl.size, th.size);
  p.bops = budget(tl.bops, th.bops);
  p.latency = budget(tl.latency, th.latency);
  return p;
}

std::vector<int> all_at(const AllocationProblem& p, bool high) {
  std::vector<int> bits;
  for (const auto& l : p.layers) bits.push_back(high ? l.bits.back() : l.bits.front());
  return bits;
}

AllocationProblem two_choice_problem(size_t n) {
  AllocationProblem p;
  for (size_t i = 0; i < n; ++i) {
    p.names.push_back("l" + std::to_string(i));
    const double params = 1000.0 * static_cast<double>(i + 1);
    p.layers.push_back({{4, 8},
                        {1.0 + static_cast<double>(i), 0.1},
                        {params / 2, params},
                        {16 * params, 64 * params},
                        {1, 2}});
  }
  return p;
}

}  // namespace

TEST_CASE("ILP optimum equals brute force on random problems, budgets hold exactly") {
  int solved = 0, infeasible = 0;
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    RandomOptions o;
    o.monotone_sensitivity = seed % 3 != 0;
    const AllocationProblem p = random_problem(seed, o);
    INFO("seed " << seed << ", " << p.layers.size() << " layers");
    const BudgetLimits limits = must(resolve_budgets(p));
    const BruteForce bf = brute_force(p, limits);
    const Result<Allocation> r = solve_bit_allocation(p);
    if (!bf.feasible) {
      INFO("ILP returned a solution where enumeration found none");
      REQUIRE_FALSE(r.is_ok());
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
      CHECK_THAT(r.status().message(), Catch::Contains("smallest achievable") || Catch::Contains("cannot all be met"));
      ++infeasible;
      continue;
    }
    INFO(r.status().message());
    REQUIRE(r.is_ok());
    CHECK(r->sensitivity == Approx(bf.best).epsilon(1e-9).margin(1e-12));
    CHECK(r->limits.size == limits.size);
    CHECK(r->limits.bops == limits.bops);
    CHECK(r->limits.latency == limits.latency);
    check_within(*r, p);
    CHECK(within(totals(p, r->bits), limits));
    check_ties_and_pins(p, r->bits);
    CHECK(r->solve_seconds >= 0);
    ++solved;
  }
  // The generator must exercise both outcomes.
  CHECK(solved > 800);
  CHECK(infeasible > 50);
}

TEST_CASE("ratio budgets resolve between all-low and all-high") {
  AllocationProblem p = two_choice_problem(4);
  p.pinned_bits = {{0, 8}};
  p.size = Budget{0.25, std::nullopt};
  p.bops = Budget{0.0, std::nullopt};
  p.latency = Budget{1.0, std::nullopt};
  const BudgetLimits l = must(resolve_budgets(p));
  std::vector<int> low = all_at(p, false), high = all_at(p, true);
  low[0] = 8;
  const Totals tl = totals(p, low), th = totals(p, high);
  REQUIRE(l.size);
  CHECK(*l.size == Approx(tl.size + 0.25 * (th.size - tl.size)).epsilon(1e-12));
  CHECK(*l.bops == tl.bops);
  CHECK(*l.latency == th.latency);
  p.size = Budget{std::nullopt, 1234.5};
  CHECK(*must(resolve_budgets(p)).size == 1234.5);
}

TEST_CASE("ratio 0 gives all-low, ratio 1 with monotone sensitivities all-high") {
  for (uint64_t seed = 1000; seed < 1060; ++seed) {
    RandomOptions o;
    o.allow_absolute = false;
    AllocationProblem p = random_problem(seed, o);
    INFO("seed " << seed);
    std::vector<int> low = all_at(p, false), high = all_at(p, true);
    for (const auto& group : p.ties) {  // a pinned member pins its group
      for (size_t i : group) {
        if (!p.pinned_bits.count(i)) continue;
        for (size_t j : group) low[j] = high[j] = p.pinned_bits.at(i);
      }
    }
    for (const auto& [i, b] : p.pinned_bits) low[i] = high[i] = b;
    // Size is strictly increasing in bits for every layer, so ratio 0 leaves only all-low.
    p.size = Budget{0.0, std::nullopt};
    p.bops = std::nullopt;
    p.latency = std::nullopt;
    CHECK(must(solve_bit_allocation(p)).bits == low);
    p.size = Budget{1.0, std::nullopt};
    p.bops = Budget{1.0, std::nullopt};
    p.latency = Budget{1.0, std::nullopt};
    CHECK(must(solve_bit_allocation(p)).bits == high);
  }
}

TEST_CASE("infeasible budgets fail with the smallest achievable value") {
  AllocationProblem p = two_choice_problem(3);
  const double low_size = totals(p, all_at(p, false)).size;  // 500 + 1000 + 1500
  REQUIRE(low_size == 3000);
  p.size = Budget{std::nullopt, 2999.0};
  Result<Allocation> r = solve_bit_allocation(p);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(r.status().message(),
             Catch::Contains("model size budget 2999") && Catch::Contains("smallest achievable model size is 3000"));
  // A pin raises the floor.
  p.pinned_bits = {{2, 8}};
  p.size = Budget{std::nullopt, 4000.0};
  r = solve_bit_allocation(p);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("smallest achievable model size is 4500"));
  p.size = Budget{std::nullopt, 4500.0};
  CHECK(must(solve_bit_allocation(p)).bits == std::vector<int>{4, 4, 8});

  // Each budget alone reachable, both together not: size wants 4 bits, BOPS wants 8.
  AllocationProblem q;
  q.names = {"odd"};
  q.layers = {{{4, 8}, {1, 0}, {1, 2}, {2, 1}, {0, 0}}};
  q.size = Budget{std::nullopt, 1.0};
  q.bops = Budget{std::nullopt, 1.0};
  r = solve_bit_allocation(q);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("cannot all be met together"));
  q.bops = std::nullopt;
  CHECK(must(solve_bit_allocation(q)).bits == std::vector<int>{4});
}

TEST_CASE("a solution over a budget by less than GLPK's tolerance is cut off, not returned") {
  AllocationProblem p = two_choice_problem(3);  // raising layer i costs 500 (i + 1) bytes
  // Raising layer 2 (or layers 0 and 1) overshoots by 1.5e-7 bytes, far inside GLPK's
  // feasibility tolerance; only layer 1 truly fits.
  p.size = Budget{std::nullopt, 3000 + 1500 * (1 - 1e-10)};
  const Allocation a = must(solve_bit_allocation(p));
  CHECK(a.bits == std::vector<int>{4, 8, 4});
  CHECK(a.size_bytes <= *p.size->absolute);
  CHECK(a.sensitivity == Approx(brute_force(p, a.limits).best).epsilon(1e-12));
  p.size = Budget{std::nullopt, 3000 + 1500};
  CHECK(must(solve_bit_allocation(p)).bits == std::vector<int>{4, 4, 8});
}

TEST_CASE("ties share a choice and pins hold against the sensitivities' pull") {
  AllocationProblem p = two_choice_problem(4);
  // Layer 0 gains much from 8 bits, layer 2 almost nothing; tied, they decide together.
  p.layers[0].sensitivity = {100, 0};
  p.layers[2].sensitivity = {0.2, 0.1};
  p.ties = {{0, 2}};
  p.pinned_bits = {{3, 4}};
  p.size = Budget{std::nullopt, 5000 + 1000};  // all-low 5000: room to raise layer 1 (1000), not the tie (2000)
  Allocation a = must(solve_bit_allocation(p));
  CHECK(a.bits[0] == a.bits[2]);
  CHECK(a.bits[3] == 4);
  CHECK(a.bits == std::vector<int>{4, 8, 4, 4});
  p.size->absolute = 5000 + 2000;  // the tie or layer 1, not both: the tie gains more
  a = must(solve_bit_allocation(p));
  CHECK(a.bits == std::vector<int>{8, 4, 8, 4});
  check_within(a, p);
}

TEST_CASE("invalid problems are rejected before GLPK sees them") {
  auto fails_with = [](const AllocationProblem& p, const std::string& text) {
    const Result<Allocation> r = solve_bit_allocation(p);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains(text));
    CHECK_FALSE(resolve_budgets(p).is_ok());
    CHECK_FALSE(random_allocation(p, 1).is_ok());
  };
  AllocationProblem p = two_choice_problem(3);
  {
    AllocationProblem q = p;
    q.pinned_bits = {{1, 6}};
    fails_with(q, "not one of its choices");
  }
  {
    AllocationProblem q = p;
    q.pinned_bits = {{7, 8}};
    fails_with(q, "pin on layer 7");
  }
  {
    AllocationProblem q = p;
    q.ties = {{0, 1}};
    q.pinned_bits = {{0, 4}, {1, 8}};
    fails_with(q, "pinned at different bits");
  }
  {
    AllocationProblem q = p;
    q.ties = {{0, 1}, {1, 2}};
    fails_with(q, "in two tie groups");
  }
  {
    AllocationProblem q = p;
    q.layers[1].bits = {8, 4};
    fails_with(q, "strictly ascending");
  }
  {
    AllocationProblem q = p;
    q.layers[1].latency.pop_back();
    fails_with(q, "1 latencies");
  }
  {
    AllocationProblem q = p;
    q.layers[2].bops[0] = std::nan("");
    fails_with(q, "finite");
  }
  {
    AllocationProblem q = p;
    q.bops = Budget{0.5, 100.0};
    fails_with(q, "exactly one");
  }
  {
    AllocationProblem q = p;
    q.latency = Budget{1.5, std::nullopt};
    fails_with(q, "not in [0, 1]");
  }
  {
    AllocationProblem q = p;
    q.names.pop_back();
    fails_with(q, "names");
  }
}

TEST_CASE("no budget picks each layer's least sensitive choice; all-pinned problems need no solver") {
  AllocationProblem p = two_choice_problem(3);
  p.layers[1].sensitivity = {0.05, 0.1};  // 4 bits is (oddly) better here
  CHECK(must(solve_bit_allocation(p)).bits == std::vector<int>{8, 4, 8});
  p.pinned_bits = {{0, 4}, {1, 8}, {2, 4}};
  p.size = Budget{0.5, std::nullopt};
  const Allocation a = must(solve_bit_allocation(p));
  CHECK(a.bits == std::vector<int>{4, 8, 4});
  CHECK(a.size_bytes == 500 + 2000 + 1500);
}

TEST_CASE("random allocation: feasible, maximal, deterministic per seed, varied across seeds") {
  for (uint64_t seed = 2000; seed < 2200; ++seed) {
    AllocationProblem p = random_problem(seed);
    INFO("seed " << seed);
    const BudgetLimits limits = must(resolve_budgets(p));
    Result<Allocation> r = random_allocation(p, seed);
    if (!r.is_ok()) {
      // Only an absolute budget below all-low may stop it.
      const Result<Allocation> ilp = solve_bit_allocation(p);
      CHECK_FALSE(ilp.is_ok());
      continue;
    }
    check_within(*r, p);
    CHECK(within(totals(p, r->bits), limits));
    check_ties_and_pins(p, r->bits);
    CHECK(must(random_allocation(p, seed)).bits == r->bits);
    // Maximal: raising any free layer (with its tie group) to any higher choice breaks a budget.
    for (size_t i = 0; i < p.layers.size(); ++i) {
      bool pinned = false;
      std::vector<size_t> group{i};
      for (const auto& gr : p.ties) {
        if (std::find(gr.begin(), gr.end(), i) != gr.end()) group = gr;
      }
      for (size_t j : group) pinned = pinned || p.pinned_bits.count(j);
      if (pinned) continue;
      for (int b : p.layers[i].bits) {
        if (b <= r->bits[i]) continue;
        std::vector<int> raised = r->bits;
        for (size_t j : group) raised[j] = b;
        CHECK_FALSE(within(totals(p, raised), limits));
      }
    }
  }
  // Ten free layers at half the size budget: seeds choose different layers to raise.
  AllocationProblem p = two_choice_problem(10);
  p.size = Budget{0.5, std::nullopt};
  std::set<std::vector<int>> seen;
  for (uint64_t seed = 1; seed <= 10; ++seed) seen.insert(must(random_allocation(p, seed)).bits);
  CHECK(seen.size() >= 5);
  // The ILP is at least as good as any random allocation.
  const double ilp = must(solve_bit_allocation(p)).sensitivity;
  for (uint64_t seed = 1; seed <= 10; ++seed) CHECK(ilp <= must(random_allocation(p, seed)).sensitivity);
}

TEST_CASE("compute layers and ties on a small graph: origins traced through transparent ops") {
  TestGraph t;
  ValueId x = t.input("x", Shape({1, 4, 8, 8}));
  ValueId a = t.relu("ra", t.conv("ca", x, 8));
  ValueId b = t.relu("rb", t.conv("cb", x, 8));
  Attributes ca;
  ca.set("axis", int64_t{1});
  ValueId cat = t.node(OpKind::kConcat, "cat", {a, b}, std::move(ca));
  ValueId c1 = t.conv("c1", cat, 8);        // reads a and b through the Concat
  ValueId c2 = t.conv("c2", b, 8, 1);       // reads b directly: tied with c1
  ValueId s = t.node(OpKind::kAdd, "add", {c1, c2});
  ValueId gp = t.node(OpKind::kGlobalAveragePool, "gap", {s});
  Attributes fa;
  fa.set("axis", int64_t{1});
  ValueId f = t.node(OpKind::kFlatten, "flatten", {gp}, std::move(fa));
  t.output(t.gemm("fc", f, 10));

  const std::vector<ComputeLayer> layers = must(list_compute_layers(t.g));
  REQUIRE(layers.size() == 5);
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.node);
  CHECK(names == std::vector<std::string>{"ca", "cb", "c1", "c2", "fc"});
  CHECK(layers[0].input_origin == "x");
  CHECK(layers[1].input_origin == "x");
  CHECK(layers[2].input_origins == std::vector<std::string>{"ra_out", "rb_out"});
  CHECK(layers[3].input_origin == "rb_out");
  CHECK(layers[4].input_origin == "gap_out");  // through the Flatten
  CHECK(layers[2].params == 8 * 16 * 9);
  CHECK(layers[2].macs == 8 * 64 * 16 * 9);
  CHECK(layers[3].macs == 8 * 64 * 8);
  CHECK(layers[4].macs == 80);
  CHECK(layers[4].weight == "fc.weight");
  CHECK(tie_groups(layers) == std::vector<std::vector<size_t>>{{0, 1}, {2, 3}, {4}});

  CHECK(size_bytes(layers[2], 4) == 8 * 16 * 9 / 2.0);
  CHECK(bops(layers[3], 4, 8) == 4096 * 32.0);
  const LayerOptionCosts c = must(layer_option_costs(layers[3], {2, 4, 8}, {3, 2, 1}, {0.1, 0.2, 0.3}));
  CHECK(c.size_bytes == std::vector<double>{16, 32, 64});
  CHECK(c.bops == std::vector<double>{4096 * 4.0, 4096 * 16.0, 4096 * 64.0});
  CHECK(c.latency == std::vector<double>{0.1, 0.2, 0.3});
  CHECK_FALSE(layer_option_costs(layers[3], {4, 8}, {1}).is_ok());
  CHECK(default_pinned_bits(5) == std::map<size_t, int>{{0, 8}, {4, 8}});
  CHECK(default_pinned_bits(1) == std::map<size_t, int>{{0, 8}});
}

TEST_CASE("compute layers need concrete shapes") {
  TestGraph t;
  ValueId x = t.input("x", Shape({-1, 4, 8, 8}));
  t.output(t.conv("c", x, 8));
  const Result<std::vector<ComputeLayer>> r = list_compute_layers(t.g);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("concrete shapes"));
}

TEST_CASE("ResNet18: 21 compute layers, downsample convs tied to their block's first conv") {
  Graph imported = must(import_onnx_file(test::require_file(test::shared_path("models/resnet18_fmnist64.onnx"))));
  REQUIRE(imported.inputs().size() == 1);
  PrepareOptions o;
  o.input_shapes[imported.value(imported.inputs()[0]).name] = Shape({1, 3, 64, 64});
  const Graph g = must(prepare_float_graph(std::move(imported), o));
  const std::vector<ComputeLayer> layers = must(list_compute_layers(g));
  REQUIRE(layers.size() == 21);

  std::map<std::string, int> ops;
  std::map<std::string, NodeId> by_name;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive) by_name[n.name] = n.id;
  }
  int64_t macs = 0;
  double size8 = 0, float_weight_bytes = 0;
  for (const auto& l : layers) {
    REQUIRE(by_name.count(l.node));
    ops[std::string(op_name(g.node(by_name[l.node]).op))]++;
    const Value& w = g.value(g.find_value(l.weight));
    REQUIRE(w.is_constant());
    CHECK(w.dtype == DType::kF32);
    CHECK(l.params == w.constant.numel());
    float_weight_bytes += static_cast<double>(w.constant.bytes());
    size8 += size_bytes(l, 8);
    macs += l.macs;
  }
  CHECK(ops == std::map<std::string, int>{{"Conv", 20}, {"Gemm", 1}});
  CHECK(macs == compute_model_stats(g).macs);
  CHECK(size8 == float_weight_bytes / 4);
  CHECK(layers.front().input_origin == g.value(g.inputs()[0]).name);
  CHECK(std::string(op_name(g.node(by_name[layers.back().node]).op)) == "Gemm");

  std::set<std::string> tied_blocks;
  for (const auto& group : tie_groups(layers)) {
    if (group.size() == 1) continue;
    REQUIRE(group.size() == 2);
    const std::string& first = layers[group[0]].node;
    const std::string& second = layers[group[1]].node;
    const std::string& ds = first.find("/downsample/") != std::string::npos ? first : second;
    const std::string& main_branch = &ds == &first ? second : first;
    const std::string block = ds.substr(0, ds.find("/downsample/"));
    CHECK(main_branch == block + "/conv1/Conv");
    tied_blocks.insert(block);
  }
  CHECK(tied_blocks == std::set<std::string>{"/layer2/layer2.0", "/layer3/layer3.0", "/layer4/layer4.0"});
}

namespace qe {
namespace {

TEST_CASE("a latency that does not grow with the width: ratios span the cheapest and dearest choices") {
  // As measured here: int4 convolutions run on the int8 kernels, so 4 bits can be slower.
  AllocationProblem p = two_choice_problem(4);
  p.layers[1].latency = {3, 2};
  p.layers[2].latency = {5, 1};
  const double fastest = 1 + 2 + 1 + 1, slowest = 2 + 3 + 5 + 2;
  p.latency = Budget{0.0, std::nullopt};
  const BudgetLimits at0 = must(resolve_budgets(p));
  CHECK(*at0.latency == fastest);
  const Allocation quickest = must(solve_bit_allocation(p));
  CHECK(quickest.latency == fastest);
  CHECK(quickest.bits == std::vector<int>{4, 8, 8, 4});
  p.latency = Budget{1.0, std::nullopt};
  CHECK(*must(resolve_budgets(p)).latency == slowest);
  // With a size budget too, all-low breaks the latency limit: the random baseline still finds
  // feasible allocations.
  p.latency = Budget{0.3, std::nullopt};
  p.size = Budget{0.6, std::nullopt};
  const BudgetLimits limits = must(resolve_budgets(p));
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const Allocation r = must(random_allocation(p, seed));
    CHECK(r.latency <= *limits.latency);
    CHECK(r.size_bytes <= *limits.size);
  }
  const Allocation best = must(solve_bit_allocation(p));
  CHECK(best.latency <= *limits.latency);
  CHECK(best.size_bytes <= *limits.size);
}

}  // namespace
}  // namespace qe

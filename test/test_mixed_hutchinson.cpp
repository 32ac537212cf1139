// Hutchinson trace estimation (quant/mixed/hutchinson.h) against exact per-layer Hessian
// traces: on a conv → relu → gemm net whose Hessian is formed column by column from exact
// float64 HVPs with basis vectors, and on softmax regression where the trace is analytic. The
// iteration count is chosen from the exact Hessian so that 5% is four standard deviations of
// the estimate: a pass is not luck of the seed.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include "quant/mixed/hutchinson.h"
#include "quant_test_graphs.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

double at(const Tensor& t, int64_t i) { return read_element_as_double(t.raw(), t.dtype(), i); }

struct Model {
  Graph g;
  std::vector<std::string> weights;
  std::vector<LabelledBatch> batches;
};

// x [N,2,5,5] → conv 3×3 (2→3, 54 weights) → relu → global average pool... kept spatial: flatten
// [N,75] → gemm (75→4, 300 weights).
Model conv_gemm_model() {
  TestGraph t;
  ValueId x = t.input("x", Shape({6, 2, 5, 5}));
  ValueId c = t.conv("conv", x, 3, 3);
  ValueId r = t.relu("relu", c);
  ValueId f = t.node(OpKind::kFlatten, "flat", {r});
  ValueId fc = t.gemm("fc", f, 4);
  t.output(fc);
  Model m{std::move(t.g), {"conv.weight", "fc.weight"}, {}};
  m.batches.push_back({{random_tensor(Shape({6, 2, 5, 5}), 41, -1.5f, 1.5f)}, {0, 1, 2, 3, 1, 2}});
  m.batches.push_back({{random_tensor(Shape({4, 2, 5, 5}), 42, -1.5f, 1.5f)}, {3, 3, 0, 1}});
  return m;
}

Model softmax_regression() {
  TestGraph t;
  ValueId x = t.input("x", Shape({8, 6}));
  t.output(t.gemm("fc", x, 5));
  Model m{std::move(t.g), {"fc.weight"}, {}};
  m.batches.push_back({{random_tensor(Shape({8, 6}), 43, -2.f, 2.f)}, {0, 1, 2, 3, 4, 0, 1, 2}});
  return m;
}

Backprop make(const Model& m, BackpropPrecision p, int threads) {
  BackpropOptions o;
  o.precision = p;
  o.num_threads = threads;
  auto bp = Backprop::create(m.g, m.weights, o);
  INFO(bp.status().message());
  REQUIRE(bp.is_ok());
  return std::move(bp).value();
}

// The full Hessian of the loss over all batches (sample-weighted), one exact HVP per basis
// vector; rows and columns run over the weights in order.
std::vector<std::vector<double>> exact_hessian(Backprop& bp, const Model& m, std::vector<size_t>& layer_of) {
  std::vector<int64_t> sizes;
  for (size_t w = 0; w < bp.weights().size(); ++w) {
    sizes.push_back(bp.weight_shape(w).numel());
    for (int64_t i = 0; i < sizes.back(); ++i) layer_of.push_back(w);
  }
  const size_t n = layer_of.size();
  double samples = 0;
  for (const auto& b : m.batches) samples += static_cast<double>(b.labels.size());
  std::vector<std::vector<double>> h(n, std::vector<double>(n, 0.0));
  size_t col = 0;
  for (size_t w = 0; w < sizes.size(); ++w) {
    for (int64_t i = 0; i < sizes[w]; ++i, ++col) {
      std::vector<Tensor> e;
      for (size_t k = 0; k < sizes.size(); ++k) e.emplace_back(DType::kF64, bp.weight_shape(k));
      e[w].data<double>()[i] = 1.0;
      for (const auto& b : m.batches) {
        auto hv = bp.hessian_vector_product(b.inputs, b.labels, e);
        REQUIRE(hv.is_ok());
        size_t row = 0;
        for (size_t k = 0; k < sizes.size(); ++k) {
          for (int64_t j = 0; j < sizes[k]; ++j, ++row) h[row][col] += at((*hv)[k], j) * b.labels.size() / samples;
        }
      }
    }
  }
  return h;
}

// Per layer: the trace, and the standard deviation of one Hutchinson sample v_iᵀ(Hv)_i, whose
// deviation from the trace is Σ_{a<b} v_a v_b H_ab ([a∈i] + [b∈i]).
void exact_stats(const std::vector<std::vector<double>>& h, const std::vector<size_t>& layer_of, size_t layers,
                 std::vector<double>& trace, std::vector<double>& sigma) {
  trace.assign(layers, 0.0);
  std::vector<double> var(layers, 0.0);
  for (size_t a = 0; a < h.size(); ++a) {
    trace[layer_of[a]] += h[a][a];
    for (size_t b = a + 1; b < h.size(); ++b) {
      for (size_t l = 0; l < layers; ++l) {
        const double coef = h[a][b] * ((layer_of[a] == l) + (layer_of[b] == l));
        var[l] += coef * coef;
      }
    }
  }
  sigma.resize(layers);
  for (size_t l = 0; l < layers; ++l) sigma[l] = std::sqrt(var[l]);
}

void check_estimate(Backprop& bp, const Model& m, const std::vector<double>& trace, const std::vector<double>& sigma) {
  // Enough iterations that 5% of the smallest trace is 4 standard deviations of the mean.
  double need = 1;
  for (size_t l = 0; l < trace.size(); ++l) {
    REQUIRE(trace[l] > 0);
    need = std::max(need, std::pow(4 * sigma[l] / (0.05 * trace[l]), 2));
  }
  INFO("iterations needed " << need);
  REQUIRE(need < 20000);
  HutchinsonOptions o;
  o.max_iterations = static_cast<int>(std::ceil(need));
  o.min_iterations = o.max_iterations;
  o.tolerance = 0;
  auto r = estimate_hessian_traces(bp, m.batches, o);
  REQUIRE(r.is_ok());
  CHECK(r->iterations == o.max_iterations);
  CHECK_FALSE(r->converged);
  for (size_t l = 0; l < trace.size(); ++l) {
    std::printf("layer %s: exact trace %.6g, Hutchinson %.6g over %d iterations\n", bp.weights()[l].c_str(), trace[l],
                r->traces[l], r->iterations_used[l]);
    CHECK(r->iterations_used[l] == o.max_iterations);
    CHECK(std::fabs(r->traces[l] - trace[l]) <= 0.05 * trace[l]);
  }
}

}  // namespace

TEST_CASE("Hutchinson matches the exact per-layer traces of a conv-relu-gemm net") {
  Model m = conv_gemm_model();
  Backprop bp = make(m, BackpropPrecision::kFloat64, 1);
  std::vector<size_t> layer_of;
  auto h = exact_hessian(bp, m, layer_of);
  REQUIRE(h.size() == 54 + 300);
  // Exact HVPs give a symmetric Hessian.
  double asym = 0, scale = 0;
  for (size_t a = 0; a < h.size(); ++a) {
    for (size_t b = 0; b < h.size(); ++b) {
      asym = std::max(asym, std::fabs(h[a][b] - h[b][a]));
      scale = std::max(scale, std::fabs(h[a][b]));
    }
  }
  CHECK(asym <= 1e-12 * scale);
  std::vector<double> trace, sigma;
  exact_stats(h, layer_of, 2, trace, sigma);
  check_estimate(bp, m, trace, sigma);
}

TEST_CASE("Hutchinson matches the analytic trace of softmax regression") {
  Model m = softmax_regression();
  Backprop bp = make(m, BackpropPrecision::kFloat64, 1);
  // Tr H = (1/N) Σ_n ‖x_n‖² Σ_c p_c (1 − p_c).
  const Tensor& x = m.batches[0].inputs[0];
  const Tensor w = m.g.value(m.g.find_value("fc.weight")).constant;
  const Tensor b = m.g.value(m.g.find_value("fc.bias")).constant;
  const int64_t n = 8, d = 6, classes = 5;
  double analytic = 0;
  for (int64_t s = 0; s < n; ++s) {
    std::vector<double> z(classes);
    double mx = -1e300, sum = 0, norm = 0, spread = 0;
    for (int64_t c = 0; c < classes; ++c) {
      z[c] = at(b, c);
      for (int64_t k = 0; k < d; ++k) z[c] += at(w, c * d + k) * at(x, s * d + k);
      mx = std::max(mx, z[c]);
    }
    for (auto& v : z) sum += v = std::exp(v - mx);
    for (auto& v : z) spread += (v / sum) * (1 - v / sum);
    for (int64_t k = 0; k < d; ++k) norm += at(x, s * d + k) * at(x, s * d + k);
    analytic += norm * spread / n;
  }
  std::vector<size_t> layer_of;
  auto h = exact_hessian(bp, m, layer_of);
  std::vector<double> trace, sigma;
  exact_stats(h, layer_of, 1, trace, sigma);
  CHECK(trace[0] == Approx(analytic).epsilon(1e-12));
  check_estimate(bp, m, {analytic}, sigma);
}

TEST_CASE("Hutchinson over batches taken in turn estimates the trace of all the data") {
  // Two batches of different sizes (6 and 4 samples), one per iteration: the sample-weighted
  // running mean must still target the Hessian of the ten samples together.
  Model m = conv_gemm_model();
  Backprop bp = make(m, BackpropPrecision::kFloat64, 1);
  std::vector<size_t> layer_of;
  auto h = exact_hessian(bp, m, layer_of);
  std::vector<double> trace, sigma;
  exact_stats(h, layer_of, 2, trace, sigma);
  HutchinsonOptions o;
  o.batches_per_iteration = 1;
  o.max_iterations = 20000;
  o.min_iterations = o.max_iterations;
  o.tolerance = 0;
  auto r = estimate_hessian_traces(bp, m.batches, o);
  REQUIRE(r.is_ok());
  for (size_t l = 0; l < trace.size(); ++l) {
    INFO(bp.weights()[l] << ": exact " << trace[l] << ", estimate " << r->traces[l]);
    CHECK(std::fabs(r->traces[l] - trace[l]) <= 0.05 * trace[l]);
  }
  // Stopping waits for a whole cycle: with a loose tolerance and min_iterations 1 the run
  // still sees both batches.
  HutchinsonOptions loose = o;
  loose.max_iterations = 100;
  loose.min_iterations = 1;
  loose.tolerance = 10;
  auto quick = estimate_hessian_traces(bp, m.batches, loose);
  REQUIRE(quick.is_ok());
  CHECK(quick->iterations == 2);
  HutchinsonOptions bad = o;
  bad.batches_per_iteration = -1;
  CHECK_FALSE(estimate_hessian_traces(bp, m.batches, bad).is_ok());
}

TEST_CASE("Hutchinson is deterministic per seed and across thread counts") {
  Model m = conv_gemm_model();
  HutchinsonOptions o;
  o.max_iterations = 30;
  o.min_iterations = 5;
  o.tolerance = 1e-2;
  o.seed = 7;
  Backprop one = make(m, BackpropPrecision::kFloat32, 1);
  Backprop two = make(m, BackpropPrecision::kFloat32, 2);
  auto a = estimate_hessian_traces(one, m.batches, o);
  auto again = estimate_hessian_traces(one, m.batches, o);
  auto b = estimate_hessian_traces(two, m.batches, o);
  REQUIRE(a.is_ok());
  REQUIRE(again.is_ok());
  REQUIRE(b.is_ok());
  CHECK(a->traces == again->traces);
  CHECK(a->iterations_used == again->iterations_used);
  CHECK(a->iterations == b->iterations);
  for (size_t l = 0; l < a->traces.size(); ++l) {
    CHECK(a->traces[l] > 0);
    CHECK(b->traces[l] == Approx(a->traces[l]).epsilon(1e-5));
  }
  o.seed = 8;
  auto other = estimate_hessian_traces(one, m.batches, o);
  REQUIRE(other.is_ok());
  CHECK(other->traces != a->traces);
}

TEST_CASE("Hutchinson stops once every layer's running mean settles") {
  Model m = softmax_regression();
  Backprop bp = make(m, BackpropPrecision::kFloat64, 1);
  HutchinsonOptions o;
  o.max_iterations = 500;
  o.min_iterations = 10;
  o.tolerance = 5e-2;
  auto r = estimate_hessian_traces(bp, m.batches, o);
  REQUIRE(r.is_ok());
  CHECK(r->converged);
  CHECK(r->iterations >= 10);
  CHECK(r->iterations < 500);
  CHECK(r->iterations_used[0] == r->iterations);
  // A budget below min_iterations is honoured.
  HutchinsonOptions capped = o;
  capped.max_iterations = 3;
  auto short_run = estimate_hessian_traces(bp, m.batches, capped);
  REQUIRE(short_run.is_ok());
  CHECK(short_run->iterations == 3);
  CHECK_FALSE(short_run->converged);
  HutchinsonOptions bad = o;
  bad.max_iterations = 0;
  CHECK_FALSE(estimate_hessian_traces(bp, m.batches, bad).is_ok());
  CHECK_FALSE(estimate_hessian_traces(bp, {}, o).is_ok());
}

// HAWQ-V2's activation term (quant/mixed/backprop.h: watched activations, gradient_sampled;
// quant/mixed/activation_trace.h): activation gradients against central differences of the loss
// in float64, with the activation moved through an explicit Add of a constant; the Fisher trace
// against the exact Hessian trace (second differences) where the rest of the network is
// piecewise linear; the sampled estimate against its exact expectation.
#include <catch2/catch.hpp>
#include <cmath>

#include "quant/mixed/activation_trace.h"
#include "quant/mixed/backprop.h"
#include "quant_test_graphs.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

double at(const Tensor& t, int64_t i) { return read_element_as_double(t.raw(), t.dtype(), i); }

Tensor to_f64(const Tensor& t) {
  Tensor d(DType::kF64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = at(t, i);
  return d;
}

ValueId conv(TestGraph& t, const std::string& name, ValueId x, int64_t cout, int64_t k) {
  const int64_t cin = t.g.value(x).shape[1];
  ValueId w = t.constant(name + ".weight", Shape({cout, cin, k, k}), -0.6f, 0.6f);
  ValueId b = t.constant(name + ".bias", Shape({cout}), -0.2f, 0.2f);
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{k, k});
  a.set("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  return t.node(OpKind::kConv, name, {x, w, b}, std::move(a));
}

ValueId gemm(TestGraph& t, const std::string& name, ValueId x, int64_t out) {
  const int64_t in = t.g.value(x).shape[1];
  Attributes a;
  a.set("transB", int64_t{1});
  return t.node(OpKind::kGemm, name,
                {x, t.constant(name + ".weight", Shape({out, in})), t.constant(name + ".c", Shape({out}), -0.3f, 0.3f)},
                std::move(a));
}

// Watched activations are the graph input and outputs of "Add(value, delta)" nodes whose
// constant delta is zero; a copy of the graph with another delta moves the activation.
struct Model {
  Graph g;
  std::vector<std::string> weights;
  std::vector<std::string> activations;  // "x" first, then the Add outputs
  std::vector<std::string> deltas;       // one per activation after the first
};

ValueId watch_point(TestGraph& t, Model& m, const std::string& name, ValueId v) {
  const std::string delta = name + ".delta";
  // Zeros of the value's shape; an unknown batch dimension becomes 1 (broadcast: moving it
  // moves every sample, which the one-sample checks use).
  std::vector<int64_t> dims = t.g.value(v).shape.dims();
  if (!dims.empty() && dims[0] < 0) dims[0] = 1;
  t.g.add_constant(delta, Tensor(DType::kF32, Shape(dims)));
  ValueId out = t.node(OpKind::kAdd, name, {v, t.g.find_value(delta)});
  m.activations.push_back(t.g.value(out).name);
  m.deltas.push_back(delta);
  return out;
}

// A HardSwish output read by three consumers (pool, SE Mul, residual Add), a Softmax in the
// middle, and the graph input: every watched adjoint sums several paths.
Model se_model(int64_t batch) {
  TestGraph t;
  Model m;
  ValueId x = t.input("x", Shape({batch, 3, 5, 5}));
  m.activations.push_back("x");
  ValueId hs = t.node(OpKind::kHardSwish, "hs", {conv(t, "c1", x, 4, 3)});
  ValueId pa = watch_point(t, m, "pa", hs);
  ValueId gap = t.node(OpKind::kGlobalAveragePool, "gap", {pa});
  ValueId gate = t.node(OpKind::kSigmoid, "gate", {conv(t, "se", gap, 4, 1)});
  ValueId se = t.node(OpKind::kMul, "mul", {pa, gate});
  ValueId res = t.node(OpKind::kAdd, "res", {conv(t, "c2", se, 4, 3), pa});
  ValueId flat = t.node(OpKind::kFlatten, "flat", {t.node(OpKind::kGlobalAveragePool, "pool", {res})});
  Attributes sm;
  sm.set("axis", int64_t{1});
  ValueId soft = t.node(OpKind::kSoftmax, "soft", {gemm(t, "fc1", flat, 6)}, sm);
  ValueId pb = watch_point(t, m, "pb", soft);
  t.output(gemm(t, "fc2", pb, 5));
  m.g = std::move(t.g);
  m.weights = {"c1.weight", "se.weight", "c2.weight", "fc1.weight", "fc2.weight"};
  return m;
}

// x → Gemm → ReLU → (watched) → Gemm → Clip → Gemm: piecewise linear after either activation.
Model relu_model() {
  TestGraph t;
  Model m;
  ValueId x = t.input("x", Shape({-1, 3}));
  m.activations.push_back("x");
  ValueId h = watch_point(t, m, "pa", t.relu("relu", gemm(t, "fc1", x, 5)));
  ValueId lo = t.g.add_constant("lo", Tensor::from_vector<float>(Shape({}), {-0.5f}));
  ValueId hi = t.g.add_constant("hi", Tensor::from_vector<float>(Shape({}), {0.7f}));
  ValueId c = t.node(OpKind::kClip, "clip", {gemm(t, "fc2", h, 4), lo, hi});
  t.output(gemm(t, "fc3", c, 4));
  m.g = std::move(t.g);
  m.weights = {"fc1.weight", "fc2.weight", "fc3.weight"};
  return m;
}

Backprop make(const Graph& g, const Model& m, bool watch) {
  BackpropOptions o;
  o.precision = BackpropPrecision::kFloat64;
  if (watch) o.activations = m.activations;
  auto bp = Backprop::create(g, m.weights, o);
  INFO(bp.status().message());
  REQUIRE(bp.is_ok());
  return std::move(bp).value();
}

// The loss with element i of activation k moved by r (in float64).
double moved_loss(const Model& m, const Tensor& input, const std::vector<int64_t>& labels, size_t k, int64_t i,
                  double r) {
  Graph g = m.g;
  Tensor in = to_f64(input);
  if (k == 0) {
    in.data<double>()[i] += r;
  } else {
    const ValueId d = g.find_value(m.deltas[k - 1]);
    Tensor moved = to_f64(g.value(d).constant);
    moved.data<double>()[i] += r;
    g.set_constant(d, moved);
  }
  Backprop bp = make(g, m, false);
  auto l = bp.gradient({in}, labels);
  REQUIRE(l.is_ok());
  return l->loss;
}

int64_t activation_numel(const Model& m, size_t k, const Tensor& input) {
  return k == 0 ? input.numel() : m.g.value(m.g.find_value(m.deltas[k - 1])).constant.numel();
}

}  // namespace

TEST_CASE("watched activation gradients match central differences of the loss in float64") {
  Model m = se_model(3);
  const Tensor x = random_tensor(Shape({3, 3, 5, 5}), 21);
  const std::vector<int64_t> labels = {4, 0, 2};
  Backprop bp = make(m.g, m, true);
  REQUIRE(bp.activations() == m.activations);
  auto g = bp.gradient({x}, labels);
  INFO(g.status().message());
  REQUIRE(g.is_ok());
  REQUIRE(g->activation_squared_norms.size() == m.activations.size());
  const double e = 1e-5;
  for (size_t k = 0; k < m.activations.size(); ++k) {
    INFO("activation " << m.activations[k]);
    double numeric = 0;
    for (int64_t i = 0; i < activation_numel(m, k, x); ++i) {
      const double d = (moved_loss(m, x, labels, k, i, e) - moved_loss(m, x, labels, k, i, -e)) / (2 * e);
      numeric += d * d;
    }
    const double analytic = g->activation_squared_norms[k];
    INFO("numeric " << numeric << " analytic " << analytic);
    CHECK(analytic > 0);
    CHECK(std::fabs(numeric - analytic) <= 1e-6 * analytic);
  }
  SECTION("watching changes neither the loss nor the weight gradients nor the HVPs") {
    Backprop plain = make(m.g, m, false);
    auto p = plain.gradient({x}, labels);
    REQUIRE(p.is_ok());
    CHECK(p->loss == g->loss);
    CHECK(p->activation_squared_norms.empty());
    std::vector<Tensor> d;
    for (size_t w = 0; w < m.weights.size(); ++w) {
      for (int64_t i = 0; i < p->gradients[w].numel(); ++i) CHECK(at(p->gradients[w], i) == at(g->gradients[w], i));
      d.push_back(random_tensor(bp.weight_shape(w), 50 + w));
    }
    auto ha = bp.hessian_vector_product({x}, labels, d);
    auto hb = plain.hessian_vector_product({x}, labels, d);
    REQUIRE(ha.is_ok());
    REQUIRE(hb.is_ok());
    for (size_t w = 0; w < d.size(); ++w) {
      for (int64_t i = 0; i < d[w].numel(); ++i) CHECK(at((*ha)[w], i) == Approx(at((*hb)[w], i)).epsilon(1e-12).margin(1e-14));
    }
  }
  SECTION("sampled labels are valid, reported and fixed by the seed") {
    auto a = bp.gradient_sampled({x}, 5);
    auto b = bp.gradient_sampled({x}, 5);
    REQUIRE(a.is_ok());
    REQUIRE(b.is_ok());
    REQUIRE(a->labels.size() == 3);
    CHECK(a->labels == b->labels);
    for (int64_t l : a->labels) CHECK((l >= 0 && l < 5));
    auto again = bp.gradient({x}, a->labels);
    REQUIRE(again.is_ok());
    CHECK(again->loss == a->loss);
    CHECK(again->activation_squared_norms == a->activation_squared_norms);
  }
  SECTION("bad activation names and options") {
    BackpropOptions o;
    for (std::vector<std::string> bad : {std::vector<std::string>{"no_such_value"}, {"c1.weight"}, {"x", "x"}}) {
      o.activations = bad;
      CHECK_FALSE(Backprop::create(m.g, m.weights, o).is_ok());
    }
    ActivationTraceOptions to;
    to.draws = 0;
    CHECK_FALSE(estimate_activation_traces(bp, {{{x}, labels}}, to).is_ok());
    Backprop plain = make(m.g, m, false);
    CHECK_FALSE(estimate_activation_traces(plain, {{{x}, labels}}).is_ok());
  }
}

// One sample: Tr(H_a) = Σ_c p_c ‖∂ℓ(c)/∂a‖² exactly when the network after a is piecewise linear.
TEST_CASE("the Fisher trace equals the Hessian trace after a piecewise-linear network") {
  Model m = relu_model();
  Backprop bp = make(m.g, m, true);
  const double e = 1e-4;
  for (uint64_t seed : {44, 45, 46, 47, 48, 49}) {
    const Tensor x = random_tensor(Shape({1, 3}), seed, -2.f, 2.f);
    for (size_t k = 0; k < m.activations.size(); ++k) {
      INFO("sample " << seed << ", activation " << m.activations[k]);
      double hessian = 0;
      for (int64_t i = 0; i < activation_numel(m, k, x); ++i) {
        hessian += (moved_loss(m, x, {0}, k, i, e) - 2 * moved_loss(m, x, {0}, k, i, 0) + moved_loss(m, x, {0}, k, i, -e)) /
                   (e * e);
      }
      double fisher = 0, total_p = 0;
      for (int64_t c = 0; c < 4; ++c) {
        auto g = bp.gradient({x}, {c});
        REQUIRE(g.is_ok());
        const double p = std::exp(-g->loss);  // one sample: the loss is -log p_c
        total_p += p;
        fisher += p * g->activation_squared_norms[k];
      }
      REQUIRE(total_p == Approx(1.0).epsilon(1e-12));
      INFO("hessian " << hessian << " fisher " << fisher);
      CHECK(fisher > 0);
      CHECK(std::fabs(hessian - fisher) <= 1e-5 * fisher + 1e-7);  // second differences lose ~1e-8 to rounding
    }
  }
}

TEST_CASE("the sampled trace estimate converges to its expectation over batches of different sizes") {
  Model m = relu_model();
  Backprop bp = make(m.g, m, true);
  std::vector<LabelledBatch> batches = {{{random_tensor(Shape({2, 3}), 31, -2.f, 2.f)}, {0, 2}},
                                        {{random_tensor(Shape({3, 3}), 32, -2.f, 2.f)}, {1, 1, 0}}};
  // Exact: the mean over all five samples of Σ_c p_c ‖∂ℓ(c)/∂a‖², one sample at a time.
  std::vector<double> exact(m.activations.size(), 0.0);
  double samples = 0;
  for (const LabelledBatch& b : batches) {
    const int64_t n = b.inputs[0].shape()[0];
    for (int64_t s = 0; s < n; ++s) {
      Tensor one(DType::kF32, Shape({1, 3}));
      for (int64_t j = 0; j < 3; ++j) one.data<float>()[j] = b.inputs[0].data<float>()[s * 3 + j];
      for (int64_t c = 0; c < 4; ++c) {
        auto g = bp.gradient({one}, {c});
        REQUIRE(g.is_ok());
        for (size_t k = 0; k < exact.size(); ++k) exact[k] += std::exp(-g->loss) * g->activation_squared_norms[k];
      }
      samples += 1;
    }
  }
  for (double& v : exact) v /= samples;
  ActivationTraceOptions o;
  o.draws = 4000;
  auto r = estimate_activation_traces(bp, batches, o);
  REQUIRE(r.is_ok());
  CHECK(r->passes == 8000);
  for (size_t k = 0; k < exact.size(); ++k) {
    INFO("activation " << m.activations[k] << " exact " << exact[k] << " estimate " << r->traces[k]);
    CHECK(std::fabs(r->traces[k] - exact[k]) <= 0.03 * exact[k]);
  }
}

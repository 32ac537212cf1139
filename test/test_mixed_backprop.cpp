// The differentiable executor (quant/mixed/backprop.h): gradients against central differences
// of the loss and HVPs against central differences of the gradient, both in float64 on small
// graphs that together cover every supported op; float32 against float64; the exact Hessian of
// softmax regression; errors; and a directional derivative on the real ResNet18.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/mixed/backprop.h"
#include "quant/prepare.h"
#include "quant_test_graphs.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

struct Case {
  std::string name;
  Graph g;
  std::vector<std::string> weights;
  std::vector<Tensor> inputs;
  std::vector<int64_t> labels;
};

std::vector<int64_t> ints(std::initializer_list<int64_t> v) { return v; }

// A Conv with explicit geometry; weight `name`.weight, bias `name`.bias when `bias`.
ValueId conv(TestGraph& t, const std::string& name, ValueId x, int64_t cout, std::vector<int64_t> kernel,
             int64_t group, std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations,
             bool bias = true) {
  const int64_t cin = t.g.value(x).shape[1];
  std::vector<int64_t> wshape = {cout, cin / group};
  for (int64_t k : kernel) wshape.push_back(k);
  ValueId w = t.constant(name + ".weight", Shape(wshape), -0.6f, 0.6f);
  std::vector<ValueId> in = {x, w};
  if (bias) in.push_back(t.constant(name + ".bias", Shape({cout}), -0.2f, 0.2f));
  Attributes a;
  a.set("kernel_shape", kernel);
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dilations);
  a.set("group", group);
  return t.node(OpKind::kConv, name, in, std::move(a));
}

ValueId scalar(TestGraph& t, const std::string& name, float v) {
  return t.g.add_constant(name, Tensor::from_vector<float>(Shape({}), {v}));
}

// Conv family: plain, grouped + strided + asymmetric pads + dilated, depthwise, then BN, Clip,
// MaxPool with pads, AveragePool counting pads, GlobalAveragePool, Flatten, Gemm (transB, beta).
Case conv_case() {
  TestGraph t;
  ValueId x = t.input("x", Shape({2, 4, 9, 9}));
  ValueId c1 = conv(t, "c1", x, 6, {3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1});
  ValueId r1 = t.relu("r1", c1);
  ValueId c2 = conv(t, "c2", r1, 6, {3, 2}, 2, {2, 1}, {1, 0, 0, 1}, {2, 1});
  Attributes leaky;
  leaky.set("alpha", 0.1f);
  ValueId l2 = t.node(OpKind::kLeakyRelu, "l2", {c2}, leaky);
  ValueId dw = conv(t, "dw", l2, 6, {3, 3}, 6, {1, 1}, {1, 1, 1, 1}, {1, 1}, false);
  ValueId bn = t.node(OpKind::kBatchNormalization, "bn",
                      {dw, t.constant("bn.s", Shape({6}), 0.5f, 1.5f), t.constant("bn.b", Shape({6})),
                       t.constant("bn.m", Shape({6})), t.constant("bn.v", Shape({6}), 0.5f, 2.f)});
  ValueId clip = t.node(OpKind::kClip, "clip", {bn, scalar(t, "lo", -0.8f), scalar(t, "hi", 0.9f)});
  Attributes mp;
  mp.set("kernel_shape", ints({2, 2}));
  mp.set("strides", ints({1, 1}));
  mp.set("pads", ints({1, 0, 0, 1}));
  ValueId pool = t.node(OpKind::kMaxPool, "mp", {clip}, mp);
  Attributes ap;
  ap.set("kernel_shape", ints({3, 3}));
  ap.set("strides", ints({2, 2}));
  ap.set("pads", ints({1, 1, 1, 1}));
  ap.set("count_include_pad", int64_t{1});
  ValueId avg = t.node(OpKind::kAveragePool, "ap", {pool}, ap);
  ValueId gap = t.node(OpKind::kGlobalAveragePool, "gap", {avg});
  ValueId flat = t.node(OpKind::kFlatten, "flat", {gap});
  ValueId w = t.constant("fc.weight", Shape({5, 6}));
  Attributes ga;
  ga.set("transB", int64_t{1});
  ga.set("beta", 0.5f);
  ga.set("alpha", 1.5f);
  ValueId fc = t.node(OpKind::kGemm, "fc", {flat, w, t.constant("fc.c", Shape({1, 5}))}, ga);
  t.output(fc);
  Case c{"conv family", std::move(t.g), {"c1.weight", "c2.weight", "dw.weight", "fc.weight"}, {}, {}};
  c.inputs = {random_tensor(Shape({2, 4, 9, 9}), 11)};
  c.labels = {3, 1};
  return c;
}

// Squeeze-excitation block and smooth activations: HardSwish, SE Mul [N,C,H,W]×[N,C,1,1] of two
// activations, HardSigmoid, residual Add, Sigmoid, AveragePool excluding pads, Transpose into a
// Gemm with transA, Tanh, Identity, Dropout, a second Gemm.
Case se_case() {
  TestGraph t;
  ValueId x = t.input("x", Shape({3, 3, 6, 6}));
  ValueId c1 = conv(t, "c1", x, 4, {3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1});
  ValueId hs = t.node(OpKind::kHardSwish, "hs", {c1});
  ValueId gap = t.node(OpKind::kGlobalAveragePool, "gap", {hs});
  ValueId s1 = conv(t, "se1", gap, 2, {1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1});
  ValueId sr = t.relu("ser", s1);
  ValueId s2 = conv(t, "se2", sr, 4, {1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1});
  Attributes hsig;
  hsig.set("alpha", 0.25f);
  hsig.set("beta", 0.45f);
  ValueId gate = t.node(OpKind::kHardSigmoid, "gate", {s2}, hsig);
  ValueId se = t.node(OpKind::kMul, "se", {hs, gate});
  ValueId c2 = conv(t, "c2", se, 4, {3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1});
  ValueId add = t.node(OpKind::kAdd, "res", {c2, hs});
  ValueId sig = t.node(OpKind::kSigmoid, "sig", {add});
  Attributes ap;
  ap.set("kernel_shape", ints({3, 3}));
  ap.set("strides", ints({2, 2}));
  ap.set("pads", ints({1, 1, 0, 0}));
  ValueId avg = t.node(OpKind::kAveragePool, "ap", {sig}, ap);  // [3,4,3,3]
  ValueId flat = t.node(OpKind::kFlatten, "flat", {avg});       // [3,36]
  Attributes tr;
  tr.set("perm", ints({1, 0}));
  ValueId xt = t.node(OpKind::kTranspose, "tr", {flat}, tr);  // [36,3]
  Attributes ga;
  ga.set("transA", int64_t{1});
  ValueId f1 = t.node(OpKind::kGemm, "f1", {xt, t.constant("f1.weight", Shape({36, 7})), t.constant("f1.c", Shape({7}))}, ga);
  ValueId th = t.node(OpKind::kTanh, "th", {f1});
  ValueId id = t.node(OpKind::kIdentity, "id", {th});
  ValueId dr = t.node(OpKind::kDropout, "drop", {id});
  ValueId f2 = t.node(OpKind::kGemm, "f2", {dr, t.constant("f2.weight", Shape({7, 4}))});
  t.output(f2);
  Case c{"squeeze-excitation", std::move(t.g), {"c1.weight", "se1.weight", "se2.weight", "c2.weight", "f1.weight", "f2.weight"}, {}, {}};
  c.inputs = {random_tensor(Shape({3, 3, 6, 6}), 12, -2.f, 2.f)};
  c.labels = {0, 3, 2};
  return c;
}

// MatMul on a rank-3 input, bias Add, Softmax in the interior (middle axis), Reshape, Concat with
// a passive branch, Sub, Div by a constant, Mul by a constant, Gemm and a trailing Softmax.
Case matmul_case() {
  TestGraph t;
  ValueId x = t.input("x", Shape({2, 3, 4}));
  ValueId mm = t.node(OpKind::kMatMul, "mm", {x, t.constant("mm.weight", Shape({4, 5}))});
  ValueId b = t.node(OpKind::kAdd, "mmb", {mm, t.constant("mm.bias", Shape({5}))});
  Attributes sa;
  sa.set("axis", int64_t{1});
  ValueId sm = t.node(OpKind::kSoftmax, "sm", {b}, sa);  // over the 3 rows
  ValueId shape = t.g.add_constant("shape", Tensor::from_vector<int64_t>(Shape({2}), {0, -1}));
  ValueId rs = t.node(OpKind::kReshape, "rs", {sm, shape});  // [2,15]
  ValueId fx = t.node(OpKind::kFlatten, "fx", {x});          // [2,12], no weight behind it
  Attributes ca;
  ca.set("axis", int64_t{1});
  ValueId cat = t.node(OpKind::kConcat, "cat", {fx, rs}, ca);  // [2,27]
  ValueId sub = t.node(OpKind::kSub, "sub", {t.constant("sub.c", Shape({27})), cat});
  ValueId div = t.node(OpKind::kDiv, "div", {sub, t.constant("div.c", Shape({1, 27}), 0.5f, 2.f)});
  ValueId mul = t.node(OpKind::kMul, "mul", {t.constant("mul.c", Shape({2, 1}), 0.5f, 2.f), div});
  Attributes ga;
  ga.set("transB", int64_t{1});
  ValueId fc = t.node(OpKind::kGemm, "fc", {mul, t.constant("fc.weight", Shape({6, 27})), t.constant("fc.c", Shape({2, 6}))}, ga);
  ValueId out = t.node(OpKind::kSoftmax, "prob", {fc});
  t.output(out);
  Case c{"matmul and softmax", std::move(t.g), {"mm.weight", "fc.weight"}, {}, {}};
  c.inputs = {random_tensor(Shape({2, 3, 4}), 13, -2.f, 2.f)};
  c.labels = {5, 0};
  return c;
}

// 1-D convolutions: strided, padded, dilated, grouped; MaxPool 1-D; Transpose of a rank-3 value.
Case conv1d_case() {
  TestGraph t;
  ValueId x = t.input("x", Shape({2, 3, 11}));
  ValueId c1 = conv(t, "c1", x, 6, {3}, 1, {2}, {1, 2}, {1});
  ValueId r1 = t.relu("r1", c1);
  ValueId c2 = conv(t, "c2", r1, 6, {2}, 3, {1}, {1, 0}, {2});
  Attributes mp;
  mp.set("kernel_shape", ints({2}));
  mp.set("strides", ints({2}));
  ValueId pool = t.node(OpKind::kMaxPool, "mp", {c2}, mp);
  Attributes tr;
  tr.set("perm", ints({0, 2, 1}));
  ValueId tp = t.node(OpKind::kTranspose, "tp", {pool}, tr);
  ValueId flat = t.node(OpKind::kFlatten, "flat", {tp});
  const int64_t k = t.g.value(flat).shape[1];
  ValueId fc = t.gemm("fc", flat, 4);
  t.output(fc);
  Case c{"conv1d", std::move(t.g), {"c1.weight", "c2.weight", "fc.weight"}, {}, {}};
  (void)k;
  c.inputs = {random_tensor(Shape({2, 3, 11}), 14)};
  c.labels = {1, 2};
  return c;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  v.push_back(conv_case());
  v.push_back(se_case());
  v.push_back(matmul_case());
  v.push_back(conv1d_case());
  return v;
}

Backprop make(const Case& c, BackpropPrecision p, int threads = 2) {
  BackpropOptions o;
  o.precision = p;
  o.num_threads = threads;
  auto bp = Backprop::create(c.g, c.weights, o);
  INFO(bp.status().message());
  REQUIRE(bp.is_ok());
  return std::move(bp).value();
}

Tensor weight_of(const Graph& g, const std::string& name) { return g.value(g.find_value(name)).constant; }

double at(const Tensor& t, int64_t i) { return read_element_as_double(t.raw(), t.dtype(), i); }

Tensor to_f64(const Tensor& t) {
  Tensor d(DType::kF64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = at(t, i);
  return d;
}

std::vector<Tensor> random_direction(const Backprop& bp, uint64_t seed) {
  std::vector<Tensor> d;
  for (size_t i = 0; i < bp.weights().size(); ++i) d.push_back(random_tensor(bp.weight_shape(i), seed + i));
  return d;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(at(t, i)));
  return m;
}

}  // namespace

TEST_CASE("gradients match central differences of the loss in float64") {
  for (Case& c : all_cases()) {
    INFO(c.name);
    Backprop bp = make(c, BackpropPrecision::kFloat64);
    auto grad = bp.gradient(c.inputs, c.labels);
    INFO(grad.status().message());
    REQUIRE(grad.is_ok());
    REQUIRE(grad->gradients.size() == c.weights.size());
    int checked = 0;
    for (size_t w = 0; w < c.weights.size(); ++w) {
      INFO("weight " << c.weights[w]);
      const Tensor base = weight_of(c.g, c.weights[w]);
      const Tensor& gw = grad->gradients[w];
      REQUIRE(gw.shape() == base.shape());
      REQUIRE(max_abs(gw) > 0);
      const double h = 1e-5;
      std::mt19937_64 rng(w + 5);
      const int64_t samples = std::min<int64_t>(base.numel(), 24);
      for (int64_t s = 0; s < samples; ++s) {
        const int64_t i = base.numel() <= 24 ? s : static_cast<int64_t>(rng() % static_cast<uint64_t>(base.numel()));
        Tensor plus = to_f64(base), minus = to_f64(base);
        plus.data<double>()[i] += h;
        minus.data<double>()[i] -= h;
        REQUIRE(bp.set_weight(w, plus).is_ok());
        const double lp = bp.gradient(c.inputs, c.labels)->loss;
        REQUIRE(bp.set_weight(w, minus).is_ok());
        const double lm = bp.gradient(c.inputs, c.labels)->loss;
        const double numeric = (lp - lm) / (2 * h);
        const double analytic = at(gw, i);
        INFO("element " << i << " numeric " << numeric << " analytic " << analytic);
        CHECK(std::fabs(numeric - analytic) <= 1e-6 * std::fabs(analytic) + 1e-9 * max_abs(gw) + 1e-11);
        ++checked;
      }
      REQUIRE(bp.set_weight(w, base).is_ok());
    }
    CHECK(checked > 20);
  }
}

TEST_CASE("HVPs match central differences of the gradient in float64") {
  for (Case& c : all_cases()) {
    INFO(c.name);
    Backprop bp = make(c, BackpropPrecision::kFloat64);
    std::vector<Tensor> v = random_direction(bp, 100);
    auto hv = bp.hessian_vector_product(c.inputs, c.labels, v);
    INFO(hv.status().message());
    REQUIRE(hv.is_ok());
    const double h = 1e-5;
    std::vector<Tensor> gp, gm;
    for (double sign : {1.0, -1.0}) {
      for (size_t w = 0; w < v.size(); ++w) {
        Tensor moved = to_f64(weight_of(c.g, c.weights[w]));
        for (int64_t i = 0; i < moved.numel(); ++i) moved.data<double>()[i] += sign * h * at(v[w], i);
        REQUIRE(bp.set_weight(w, moved).is_ok());
      }
      auto g = bp.gradient(c.inputs, c.labels);
      REQUIRE(g.is_ok());
      (sign > 0 ? gp : gm) = g->gradients;
    }
    for (size_t w = 0; w < v.size(); ++w) {
      INFO("weight " << c.weights[w]);
      const double scale = max_abs((*hv)[w]);
      REQUIRE(scale > 0);
      for (int64_t i = 0; i < v[w].numel(); ++i) {
        const double numeric = (at(gp[w], i) - at(gm[w], i)) / (2 * h);
        const double analytic = at((*hv)[w], i);
        INFO("element " << i << " numeric " << numeric << " analytic " << analytic);
        CHECK(std::fabs(numeric - analytic) <= 1e-6 * std::fabs(analytic) + 1e-7 * scale);
      }
    }
  }
}

TEST_CASE("float32 agrees with float64 on gradients and HVPs") {
  for (Case& c : all_cases()) {
    INFO(c.name);
    for (int threads : {1, 2}) {
      INFO(threads << " threads");
      Backprop b64 = make(c, BackpropPrecision::kFloat64, threads);
      Backprop b32 = make(c, BackpropPrecision::kFloat32, threads);
      auto g64 = b64.gradient(c.inputs, c.labels);
      auto g32 = b32.gradient(c.inputs, c.labels);
      REQUIRE(g64.is_ok());
      REQUIRE(g32.is_ok());
      CHECK(g32->loss == Approx(g64->loss).epsilon(1e-5));
      std::vector<Tensor> v = random_direction(b64, 7);
      auto h64 = b64.hessian_vector_product(c.inputs, c.labels, v);
      auto h32 = b32.hessian_vector_product(c.inputs, c.labels, v);
      REQUIRE(h64.is_ok());
      REQUIRE(h32.is_ok());
      for (size_t w = 0; w < c.weights.size(); ++w) {
        INFO("weight " << c.weights[w]);
        CHECK(g32->gradients[w].dtype() == DType::kF32);
        CHECK(g64->gradients[w].dtype() == DType::kF64);
        const double gs = max_abs(g64->gradients[w]), hs = max_abs((*h64)[w]);
        for (int64_t i = 0; i < v[w].numel(); ++i) {
          CHECK(std::fabs(at(g32->gradients[w], i) - at(g64->gradients[w], i)) <= 1e-4 * gs);
          CHECK(std::fabs(at((*h32)[w], i) - at((*h64)[w], i)) <= 1e-4 * hs);
        }
      }
    }
  }
}

TEST_CASE("HVP of softmax regression equals the analytic Hessian") {
  const int64_t n = 5, d = 7, classes = 4;
  TestGraph t;
  ValueId x = t.input("x", Shape({n, d}));
  ValueId logits = t.gemm("fc", x, classes);  // W [classes, d], transB, bias
  t.output(logits);
  const Tensor xin = random_tensor(Shape({n, d}), 21, -2.f, 2.f);
  const std::vector<int64_t> labels = {0, 3, 1, 1, 2};
  const Tensor w = weight_of(t.g, "fc.weight"), b = weight_of(t.g, "fc.bias");
  const Tensor v = random_tensor(Shape({classes, d}), 22);
  // (1/N) Σ_n (diag(p_n) − p_n p_nᵀ) (V x_n) x_nᵀ, i.e. ((diag(p) − ppᵀ) ⊗ x xᵀ) vec(V).
  std::vector<double> expected(static_cast<size_t>(classes * d), 0.0);
  for (int64_t s = 0; s < n; ++s) {
    std::vector<double> z(classes), p(classes), vx(classes, 0.0);
    double mx = -1e300, sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      z[c] = at(b, c);
      for (int64_t k = 0; k < d; ++k) {
        z[c] += at(w, c * d + k) * at(xin, s * d + k);
        vx[c] += at(v, c * d + k) * at(xin, s * d + k);
      }
      mx = std::max(mx, z[c]);
    }
    for (int64_t c = 0; c < classes; ++c) sum += p[c] = std::exp(z[c] - mx);
    for (auto& q : p) q /= sum;
    double pvx = 0;
    for (int64_t c = 0; c < classes; ++c) pvx += p[c] * vx[c];
    for (int64_t c = 0; c < classes; ++c) {
      const double r = p[c] * (vx[c] - pvx);
      for (int64_t k = 0; k < d; ++k) expected[c * d + k] += r * at(xin, s * d + k) / n;
    }
  }
  for (auto precision : {BackpropPrecision::kFloat64, BackpropPrecision::kFloat32}) {
    BackpropOptions o;
    o.precision = precision;
    auto bp = Backprop::create(t.g, {"fc.weight"}, o);
    REQUIRE(bp.is_ok());
    auto hv = bp->hessian_vector_product({xin}, labels, {v});
    REQUIRE(hv.is_ok());
    const double tol = precision == BackpropPrecision::kFloat64 ? 1e-12 : 1e-6;
    double scale = 0;
    for (double e : expected) scale = std::max(scale, std::fabs(e));
    REQUIRE(scale > 1e-3);
    for (int64_t i = 0; i < classes * d; ++i) CHECK(std::fabs(at((*hv)[0], i) - expected[i]) <= tol * scale);
  }
}

TEST_CASE("errors name their cause") {
  Case c = conv_case();
  SECTION("an unsupported op names the node and the op") {
    TestGraph t;
    ValueId x = t.input("x", Shape({2, 3}));
    ValueId e = t.node(OpKind::kExp, "the_exp", {x});
    ValueId fc = t.gemm("fc", e, 4);
    t.output(fc);
    auto bp = Backprop::create(t.g, {"fc.weight"});
    REQUIRE_FALSE(bp.is_ok());
    CHECK(bp.status().message().find("the_exp") != std::string::npos);
    CHECK(bp.status().message().find("Exp") != std::string::npos);
  }
  SECTION("a weight that is not a Conv/Gemm/MatMul weight") {
    CHECK_FALSE(Backprop::create(c.g, {"no_such_value"}).is_ok());
    CHECK_FALSE(Backprop::create(c.g, {"c1.bias"}).is_ok());
    CHECK_FALSE(Backprop::create(c.g, {"c1.weight", "c1.weight"}).is_ok());
  }
  SECTION("labels out of range or of the wrong count") {
    Backprop bp = make(c, BackpropPrecision::kFloat32);
    auto bad = bp.gradient(c.inputs, {3, 5});
    REQUIRE_FALSE(bad.is_ok());
    CHECK(bad.status().message().find("label 5") != std::string::npos);
    CHECK_FALSE(bp.gradient(c.inputs, {3, -1}).is_ok());
    CHECK_FALSE(bp.gradient(c.inputs, {3}).is_ok());
    // The executor is still usable after a failed pass.
    CHECK(bp.gradient(c.inputs, c.labels).is_ok());
  }
  SECTION("directions of the wrong count or shape") {
    Backprop bp = make(c, BackpropPrecision::kFloat32);
    std::vector<Tensor> v = random_direction(bp, 3);
    std::vector<Tensor> fewer(v.begin(), v.end() - 1);
    CHECK_FALSE(bp.hessian_vector_product(c.inputs, c.labels, fewer).is_ok());
    std::vector<Tensor> wrong = v;
    wrong[1] = random_tensor(Shape({6, 3, 3, 3}), 4);
    auto r = bp.hessian_vector_product(c.inputs, c.labels, wrong);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message().find("c2.weight") != std::string::npos);
    CHECK(bp.hessian_vector_product(c.inputs, c.labels, v).is_ok());
  }
  SECTION("wrong input count and set_weight shape") {
    Backprop bp = make(c, BackpropPrecision::kFloat32);
    CHECK_FALSE(bp.gradient({}, c.labels).is_ok());
    CHECK_FALSE(bp.set_weight(0, random_tensor(Shape({2, 2}), 1)).is_ok());
    CHECK_FALSE(bp.set_weight(9, random_tensor(Shape({2, 2}), 1)).is_ok());
  }
}

namespace {

struct RealModel {
  Graph g;
  std::vector<std::string> weights;
};

RealModel load_model(const std::string& file, int64_t batch) {
  auto model = import_onnx_file(require_file(shared_path("models/" + file)));
  INFO(model.status().message());
  REQUIRE(model.is_ok());
  PrepareOptions po;
  po.input_shapes[model->value(model->inputs()[0]).name] = Shape({batch, 3, 64, 64});
  auto g = prepare_float_graph(std::move(model).value(), po);
  INFO(g.status().message());
  REQUIRE(g.is_ok());
  RealModel m{std::move(g).value(), {}};
  for (size_t i = 0; i < m.g.num_nodes(); ++i) {
    const Node& n = m.g.node(static_cast<NodeId>(i));
    if (!n.alive || (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul)) continue;
    if (n.inputs.size() > 1 && m.g.value(n.inputs[1]).is_constant()) m.weights.push_back(m.g.value(n.inputs[1]).name);
  }
  REQUIRE(!m.weights.empty());
  return m;
}

}  // namespace

TEST_CASE("ResNet18 gradient matches a numerical directional derivative in float32") {
  const int64_t batch = 4;
  RealModel m = load_model("resnet18_fmnist64.onnx", batch);
  CHECK(m.weights.size() == 21);  // 20 convs and the classifier
  BackpropOptions o;
  o.num_threads = 2;
  auto bp = Backprop::create(m.g, m.weights, o);
  INFO(bp.status().message());
  REQUIRE(bp.is_ok());
  const std::vector<Tensor> inputs = {random_tensor(Shape({batch, 3, 64, 64}), 31)};
  const std::vector<int64_t> labels = {1, 7, 4, 9};
  auto grad = bp->gradient(inputs, labels);
  REQUIRE(grad.is_ok());
  // Direction: per layer ±1e-4 of the weights' RMS, small enough that few ReLU / MaxPool kinks
  // are crossed (at 1e-2 they bend the difference by ~10%), large enough for float logits.
  std::mt19937_64 rng(5);
  std::vector<Tensor> base, dir;
  double analytic = 0;
  for (size_t w = 0; w < m.weights.size(); ++w) {
    const Tensor wt = weight_of(m.g, m.weights[w]);
    double rms = 0;
    for (int64_t i = 0; i < wt.numel(); ++i) rms += at(wt, i) * at(wt, i);
    rms = std::sqrt(rms / wt.numel());
    Tensor d(DType::kF32, wt.shape());
    for (int64_t i = 0; i < wt.numel(); ++i) {
      d.data<float>()[i] = static_cast<float>((rng() & 1 ? 1e-4 : -1e-4) * rms);
      analytic += d.data<float>()[i] * at(grad->gradients[w], i);
    }
    base.push_back(wt);
    dir.push_back(d);
  }
  double loss[2];
  for (int s = 0; s < 2; ++s) {
    for (size_t w = 0; w < m.weights.size(); ++w) {
      Tensor moved = base[w].clone();
      for (int64_t i = 0; i < moved.numel(); ++i) moved.data<float>()[i] += (s == 0 ? 1.f : -1.f) * dir[w].data<float>()[i];
      REQUIRE(bp->set_weight(w, moved).is_ok());
    }
    auto r = bp->gradient(inputs, labels);
    REQUIRE(r.is_ok());
    loss[s] = r->loss;
  }
  const double numeric = (loss[0] - loss[1]) / 2;
  INFO("loss " << grad->loss << " numeric " << numeric << " analytic " << analytic);
  REQUIRE(std::fabs(analytic) > 1e-6);
  CHECK(numeric == Approx(analytic).epsilon(0.01));
}

TEST_CASE("the loss agrees with the engine's logits on the shared models") {
  const int64_t batch = 4;
  for (const char* file : {"resnet18_fmnist64.onnx", "mobilenet_v2_fmnist64.onnx", "mobilenet_v3_small_fmnist64.onnx"}) {
    INFO(file);
    RealModel m = load_model(file, batch);
    const std::vector<Tensor> inputs = {random_tensor(Shape({batch, 3, 64, 64}), 32)};
    const std::vector<int64_t> labels = {2, 0, 9, 5};
    auto session = Session::create(m.g);
    REQUIRE(session.is_ok());
    auto logits = (*session)->run(inputs);
    REQUIRE(logits.is_ok());
    const Tensor& z = (*logits)[0];
    REQUIRE(z.shape() == Shape({batch, 10}));
    double expected = 0;
    for (int64_t n = 0; n < batch; ++n) {
      double mx = -1e300, sum = 0;
      for (int64_t c = 0; c < 10; ++c) mx = std::max(mx, at(z, n * 10 + c));
      for (int64_t c = 0; c < 10; ++c) sum += std::exp(at(z, n * 10 + c) - mx);
      expected += (std::log(sum) + mx - at(z, n * 10 + labels[n])) / batch;
    }
    BackpropOptions o;
    o.num_threads = 2;
    auto bp = Backprop::create(m.g, m.weights, o);
    REQUIRE(bp.is_ok());
    auto grad = bp->gradient(inputs, labels);
    REQUIRE(grad.is_ok());
    CHECK(grad->loss == Approx(expected).epsilon(1e-4));
  }
}

// Not a unit test: `test_mixed_backprop "[.timing]"` prints the cost of one gradient and one
// HVP on the shared models at batch 32 with 2 threads.
TEST_CASE("backprop timing on the shared models", "[.timing]") {
  for (const char* file : {"resnet18_fmnist64.onnx", "mobilenet_v2_fmnist64.onnx", "mobilenet_v3_small_fmnist64.onnx",
                           "vit_tiny_fmnist64.onnx"}) {
    const int64_t batch = 32;
    RealModel m = load_model(file, batch);
    BackpropOptions o;
    o.num_threads = 2;
    auto bp = Backprop::create(m.g, m.weights, o);
    if (!bp.is_ok()) {
      std::printf("%s: %s\n", file, bp.status().message().c_str());
      continue;
    }
    const std::vector<Tensor> inputs = {random_tensor(Shape({batch, 3, 64, 64}), 31)};
    std::vector<int64_t> labels(batch);
    for (int64_t i = 0; i < batch; ++i) labels[i] = i % 10;
    std::vector<Tensor> v = random_direction(*bp, 9);
    using clock = std::chrono::steady_clock;
    REQUIRE(bp->gradient(inputs, labels).is_ok());  // warm-up
    auto t0 = clock::now();
    REQUIRE(bp->gradient(inputs, labels).is_ok());
    auto t1 = clock::now();
    REQUIRE(bp->hessian_vector_product(inputs, labels, v).is_ok());
    auto t2 = clock::now();
    std::printf("%s: %zu weights, gradient %.3f s, HVP %.3f s (batch %lld, 2 threads)\n", file, m.weights.size(),
                std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
                static_cast<long long>(batch));
  }
}

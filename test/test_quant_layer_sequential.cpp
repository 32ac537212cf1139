// The layer-sequential machinery: im2col statistics checked against the engine's own Conv
// (an independent implementation: vᵀ h v must equal Σ y² of the convolution with the single
// filter v, and vᵀ g u the sum of products of two convolutions), and the driver end to end on
// the demo model: GPTQ / GPFQ / AdaRound weights on the quantizer's grid, a smaller layer
// output error than round-to-nearest, bias correction counting the rounded weights, and
// better agreement with float on real images.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/layer_stats.h"
#include "quant/prepare.h"
#include "quant/quant_math.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"
#include "quant_test_graphs.h"
#include "support/image_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

// y = conv(x, v) with one output channel per group member as `g` and `node` describe it; the
// sum of squares (or products with a second input / filter) over every output element.
struct ConvCase {
  int64_t cin, cout, k, stride, pad_begin, pad_end, dilation, group, h, w;
};

Tensor run_single_conv(const ConvCase& c, const Tensor& x, const Tensor& filter) {
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, x.shape(), true);
  g.add_input(in);
  ValueId wv = g.add_constant("w", filter);
  ValueId out = g.add_value("y");
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{c.k, c.k});
  a.set("strides", std::vector<int64_t>{c.stride, c.stride});
  a.set("dilations", std::vector<int64_t>{c.dilation, c.dilation});
  a.set("pads", std::vector<int64_t>{c.pad_begin, c.pad_begin, c.pad_end, c.pad_end});
  g.add_node(OpKind::kConv, "conv", {in, wv}, {out}, a);
  g.add_output(out);
  auto s = Session::create(g);
  REQUIRE(s.is_ok());
  auto y = (*s)->run({x});
  REQUIRE(y.is_ok());
  return (*y)[0];
}

// A Conv node in a graph, for layer_gemm_form().
Graph conv_graph(const ConvCase& c) {
  TestGraph t;
  ValueId x = t.input("x", Shape({2, c.cin, c.h, c.w}));
  ValueId wv = t.constant("w", Shape({c.cout, c.cin / c.group, c.k, c.k}));
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{c.k, c.k});
  a.set("strides", std::vector<int64_t>{c.stride, c.stride});
  a.set("dilations", std::vector<int64_t>{c.dilation, c.dilation});
  a.set("pads", std::vector<int64_t>{c.pad_begin, c.pad_begin, c.pad_end, c.pad_end});
  a.set("group", c.group);
  t.g.add_output(t.node(OpKind::kConv, "conv", {x, wv}, a));
  return t.g;
}

}  // namespace

TEST_CASE("im2col statistics equal sums over the engine's convolution outputs") {
  const std::vector<ConvCase> cases = {
      {3, 4, 3, 1, 1, 1, 1, 1, 9, 7},   // same padding
      {4, 6, 3, 2, 1, 0, 1, 1, 11, 8},  // stride 2, asymmetric padding
      {2, 2, 3, 1, 2, 2, 2, 1, 8, 8},   // dilation
      {6, 6, 3, 1, 1, 1, 1, 6, 7, 9},   // depthwise
      {4, 6, 1, 1, 0, 0, 1, 2, 5, 5},   // grouped 1x1
      {5, 3, 5, 3, 2, 1, 1, 1, 13, 10}, // 5x5, stride 3
  };
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (const ConvCase& c : cases) {
    const Graph g = conv_graph(c);
    auto form = layer_gemm_form(g, 0);
    REQUIRE(form.is_ok());
    const int64_t cg = c.cin / c.group;
    CHECK(form->groups == c.group);
    CHECK(form->k == cg * c.k * c.k);
    LayerInputStats stats(*form, true);
    const Tensor xq = random_tensor(Shape({2, c.cin, c.h, c.w}), 31, -1, 2);
    const Tensor xf = random_tensor(Shape({2, c.cin, c.h, c.w}), 32, -1, 2);
    // Two batches, so accumulation across calls is covered.
    for (int rep = 0; rep < 2; ++rep) REQUIRE(stats.add(xq, &xf, pool).is_ok());
    for (int64_t grp = 0; grp < c.group; ++grp) {
      // Filters that read only this group's channels, as [1, cin, k, k] single-output convs.
      const Tensor v = random_tensor(Shape({form->k}), 40 + grp, -1, 1);
      const Tensor u = random_tensor(Shape({form->k}), 50 + grp, -1, 1);
      auto full_filter = [&](const Tensor& f) {
        Tensor t(DType::kF32, Shape({1, c.cin, c.k, c.k}));
        std::fill(t.data<float>(), t.data<float>() + t.numel(), 0.0f);
        for (int64_t i = 0; i < form->k; ++i) t.data<float>()[grp * form->k + i] = f.data<float>()[i];
        return t;
      };
      const Tensor yv = run_single_conv(c, xq, full_filter(v));
      const Tensor yu = run_single_conv(c, xf, full_filter(u));
      double want_h = 0, want_g = 0;
      for (int64_t i = 0; i < yv.numel(); ++i) {
        want_h += 2.0 * yv.data<float>()[i] * yv.data<float>()[i];
        want_g += 2.0 * yv.data<float>()[i] * yu.data<float>()[i];
      }
      double got_h = 0, got_g = 0;
      const auto h = stats.h(grp);
      const auto gm = stats.g(grp);
      for (int64_t a = 0; a < form->k; ++a) {
        for (int64_t b = 0; b < form->k; ++b) {
          got_h += v.data<float>()[a] * h[static_cast<size_t>(a * form->k + b)] * v.data<float>()[b];
          got_g += v.data<float>()[a] * gm[static_cast<size_t>(a * form->k + b)] * u.data<float>()[b];
        }
      }
      INFO("conv cin " << c.cin << " k " << c.k << " stride " << c.stride << " group " << c.group << " grp " << grp);
      CHECK(got_h == Approx(want_h).epsilon(1e-4));
      CHECK(got_g == Approx(want_g).epsilon(1e-4).margin(1e-3));
    }
    const int64_t out_h = (c.h + c.pad_begin + c.pad_end - (c.k - 1) * c.dilation - 1) / c.stride + 1;
    const int64_t out_w = (c.w + c.pad_begin + c.pad_end - (c.k - 1) * c.dilation - 1) / c.stride + 1;
    CHECK(stats.samples() == 2 * 2 * out_h * out_w);
  }
}

TEST_CASE("Gemm statistics are the sums of outer products of input rows") {
  TestGraph t;
  ValueId x = t.input("x", Shape({5, 7}));
  t.g.add_output(t.gemm("fc", x, 3));
  auto form = layer_gemm_form(t.g, 0);
  REQUIRE(form.is_ok());
  CHECK(form->rows == 3);
  CHECK(form->k == 7);
  ThreadPool pool(2);
  LayerInputStats stats(*form, false);
  const Tensor xq = random_tensor(Shape({5, 7}), 3, -2, 2);
  REQUIRE(stats.add(xq, nullptr, pool).is_ok());
  for (int64_t a = 0; a < 7; ++a) {
    for (int64_t b = 0; b < 7; ++b) {
      double want = 0;
      for (int64_t r = 0; r < 5; ++r) want += double(xq.data<float>()[r * 7 + a]) * xq.data<float>()[r * 7 + b];
      CHECK(stats.h(0)[static_cast<size_t>(a * 7 + b)] == Approx(want).epsilon(1e-5).margin(1e-6));
    }
  }
  // transB = 1: row r of the weight is output r.
  const Tensor& w = t.g.value(t.g.node(0).inputs[1]).constant;
  CHECK(form->weight_index[static_cast<size_t>(1 * 7 + 4)] == 1 * 7 + 4);
  CHECK(w.shape()[0] == 3);
}


TEST_CASE("GPTQ, GPFQ and AdaRound beat round-to-nearest on the demo model at 3-bit weights") {
  const std::string model_path = source_dir() + "/examples/models/fmnist_tiny_cnn.onnx";
  auto model = import_onnx_file(require_file(model_path));
  REQUIRE(model.is_ok());
  const Tensor calib = load_images(model_path, shared_path("data/fashion-mnist/calib"), 128);
  const Tensor val = load_images(model_path, shared_path("data/fashion-mnist/val"), 256);
  auto float_graph = prepare_float_graph(*model);
  REQUIRE(float_graph.is_ok());

  auto quantize_with = [&](WeightRoundingAlgorithm algorithm) {
    RuleSet rules = default_rule_set();
    QuantFlags flags;
    flags.w_bits = 3;
    flags.per_channel = true;
    REQUIRE(apply_flags(rules, flags).is_ok());
    rules.algorithms.rounding = algorithm;
    rules.algorithms.adaround_iterations = 300;
    auto q = quantize_graph(*model, rules, "full", tensor_batch_passes(calib, 32));
    INFO(q.status().message());
    REQUIRE(q.is_ok());
    return std::move(q).value();
  };
  const Outcome nearest = compare_with_float(*float_graph, quantize_with(WeightRoundingAlgorithm::kNearest), val);
  for (auto algorithm : {WeightRoundingAlgorithm::kGptq, WeightRoundingAlgorithm::kGpfq, WeightRoundingAlgorithm::kAdaRound}) {
    const Graph q = quantize_with(algorithm);
    check_weights_on_grid(q);
    const Outcome o = compare_with_float(*float_graph, q, val);
    std::printf("%-8s logit MSE %.5f (nearest %.5f), same top-1 %.1f%% (nearest %.1f%%)\n",
                std::string(weight_rounding_name(algorithm)).c_str(), o.logit_mse, nearest.logit_mse, 100 * o.agreement,
                100 * nearest.agreement);
    INFO(weight_rounding_name(algorithm));
    CHECK(o.logit_mse < nearest.logit_mse);
  }
}

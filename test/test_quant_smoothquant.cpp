// SmoothQuant activation equalization: the float function of every shared model is unchanged,
// ViT's smoothed activations are flatter per channel, and the factors follow
// s_j = max|X_j|^α / max|W_j|^(1-α) on hand-built graphs (α = 0 and 1 included), with the
// producer folds (Gemm through Relu, LayerNormalization) and the explicit Mul where needed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/prepare.h"
#include "quant/quantize_graph.h"
#include "quant/smoothquant.h"
#include "support/image_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

Graph load_canonical(const std::string& path) {
  auto model = import_onnx_file(require_file(path));
  REQUIRE(model.is_ok());
  auto g = prepare_float_graph(*model);
  REQUIRE(g.is_ok());
  return *g;
}

Tensor run_once(const Graph& g, const Tensor& input) {
  auto session = Session::create(g);
  REQUIRE(session.is_ok());
  auto out = (*session)->run({input});
  REQUIRE(out.is_ok());
  REQUIRE(!out->empty());
  return (*out)[0];
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(t.data<float>()[i])));
  return m;
}

// max / median of a per-channel range vector: 1 for perfectly flat channels.
double spread(std::vector<float> m) {
  std::sort(m.begin(), m.end());
  const double median = m[m.size() / 2];
  return median > 0 ? m.back() / median : 0.0;
}

// The input channel of element i of a [rows, cols] Gemm weight.
int64_t gemm_in_channel(int64_t i, int64_t cols, bool trans_b) { return trans_b ? i % cols : i / cols; }

std::vector<float> input_channel_abs_max(const Tensor& w, bool trans_b) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  std::vector<float> m(static_cast<size_t>(trans_b ? cols : rows), 0.0f);
  for (int64_t i = 0; i < w.numel(); ++i) {
    float& slot = m[static_cast<size_t>(gemm_in_channel(i, cols, trans_b))];
    slot = std::max(slot, std::fabs(w.data<float>()[i]));
  }
  return m;
}

struct SharedModel {
  const char* path;
  const char* data;  // calib / val live under this folder
};

}  // namespace

TEST_CASE("smoothquant keeps every shared model's float function") {
  const SharedModel models[] = {
      {"models/fmnist_tiny_cnn.onnx", "data/fashion-mnist"},
      {"models/mobilenet_v2_fmnist64.onnx", "data/fashion-mnist"},
      {"models/mobilenet_v3_small_fmnist64.onnx", "data/fashion-mnist"},
      {"models/resnet18_fmnist64.onnx", "data/fashion-mnist"},
      {"models/vit_tiny_fmnist64.onnx", "data/fashion-mnist"},
      {"imagenet/models/mobilenet_v1_075_keras.onnx", "imagenet"},
      {"imagenet/models/mobilenet_v2_tfslim_qat.onnx", "imagenet"},
      {"imagenet/models/mobilenet_v2_tv_tflm.onnx", "imagenet"},
      {"imagenet/models/squeezenet1_1_caffe.onnx", "imagenet"},
  };
  for (const SharedModel& m : models) {
    const std::string path = shared_path(m.path);
    INFO(m.path);
    const Graph original = load_canonical(path);
    const Tensor calib = load_images(path, shared_path(std::string(m.data) + "/calib"), 16);
    const Tensor val = load_images(path, shared_path(std::string(m.data) + "/val"), 8);
    Graph smoothed = original;
    auto report = smooth_activations(smoothed, tensor_batches(calib, 8));
    REQUIRE(report.is_ok());
    std::cout << m.path << ": layers " << report->layers << ", folded " << report->folded << ", explicit "
              << report->explicit_muls << ", skipped " << report->skipped.size() << ", samples " << report->samples
              << ", " << report->seconds << " s";
    CHECK(report->samples == 16);
    CHECK(report->layers >= 1);
    CHECK(report->folded + report->explicit_muls == static_cast<int>(report->groups.size()));
    // The shared models only have depthwise convs to decline.
    for (const std::string& why : report->skipped) CHECK(why.find("depthwise conv") != std::string::npos);
    const Tensor before = run_once(original, val);
    const Tensor after = run_once(smoothed, val);
    REQUIRE(before.shape() == after.shape());
    const DiffStats d = compare(before.data<float>(), after.data<float>(), before.numel());
    const double scale = max_abs(before);
    std::cout << "; max |diff| " << d.max_abs << " of max |out| " << scale << "\n";
    CHECK(d.max_abs <= 1e-4 * scale);
  }
}

TEST_CASE("smoothquant flattens ViT's per-channel activation ranges") {
  const std::string path = shared_path("models/vit_tiny_fmnist64.onnx");
  const Graph original = load_canonical(path);
  const Tensor calib = load_images(path, shared_path("data/fashion-mnist/calib"), 16);
  Graph smoothed = original;
  auto report = smooth_activations(smoothed, tensor_batches(calib, 8));
  REQUIRE(report.is_ok());
  REQUIRE(!report->groups.empty());
  // The second pass: ranges of what the sinks read, before and after.
  std::vector<ChannelTap> before_taps, after_taps;
  for (const SmoothedGroup& grp : report->groups) {
    before_taps.push_back({grp.activation, grp.channel_axis});
    after_taps.push_back({grp.smoothed, grp.channel_axis});
  }
  auto before = measure_channel_abs_max(original, before_taps, tensor_batches(calib, 8), -1, 0);
  auto after = measure_channel_abs_max(smoothed, after_taps, tensor_batches(calib, 8), -1, 0);
  REQUIRE(before.is_ok());
  REQUIRE(after.is_ok());
  double log_before = 0, log_after = 0;
  int flatter = 0;
  for (size_t i = 0; i < report->groups.size(); ++i) {
    const double b = spread((*before)[i]), a = spread((*after)[i]);
    std::cout << "vit " << report->groups[i].sinks.front() << (report->groups[i].folded ? " (folded)" : " (mul)")
              << ": max/median " << b << " -> " << a << "\n";
    log_before += std::log(b);
    log_after += std::log(a);
    flatter += a < b ? 1 : 0;
  }
  const double n = static_cast<double>(report->groups.size());
  INFO("geometric mean max/median " << std::exp(log_before / n) << " -> " << std::exp(log_after / n));
  CHECK(log_after < log_before);
  CHECK(flatter * 4 >= static_cast<int>(report->groups.size()) * 3);
}

namespace {

// x [4, C] → Gemm(transB = 1, W [2, C], bias) → y. Channel 3 of x is dead (all zeros).
struct TinyGemm {
  Graph g;
  Tensor x, w;
};

TinyGemm tiny_gemm() {
  TinyGemm t;
  t.x = Tensor::from_vector<float>(Shape{4, 4}, {1.5f, -0.25f, 6.0f, 0, -2.0f, 0.5f, -8.0f, 0,
                                                 0.5f, 0.125f, 3.0f, 0, 1.0f, -0.375f, 1.0f, 0});
  t.w = Tensor::from_vector<float>(Shape{2, 4}, {0.25f, -4.0f, 0.5f, 0.7f, -0.125f, 2.0f, -1.0f, 0.3f});
  const ValueId x = t.g.add_value("x", DType::kF32, Shape{-1, 4}, true);
  t.g.add_input(x);
  const ValueId w = t.g.add_constant("w", t.w);
  const ValueId b = t.g.add_constant("b", Tensor::from_vector<float>(Shape{2}, {0.1f, -0.2f}));
  const ValueId y = t.g.add_value("y");
  Attributes attrs;
  attrs.set("transB", int64_t{1});
  t.g.add_node(OpKind::kGemm, "gemm", {x, w, b}, {y}, attrs);
  t.g.add_output(y);
  auto prepared = prepare_float_graph(t.g);
  REQUIRE(prepared.is_ok());
  t.g = *prepared;
  return t;
}

std::vector<float> column_abs_max(const Tensor& x) {
  std::vector<float> m(static_cast<size_t>(x.shape()[1]), 0.0f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& slot = m[static_cast<size_t>(i % x.shape()[1])];
    slot = std::max(slot, std::fabs(x.data<float>()[i]));
  }
  return m;
}

}  // namespace

TEST_CASE("smoothquant factors follow the formula, alpha 0 and 1 included") {
  for (double alpha : {0.0, 0.5, 1.0}) {
    INFO("alpha " << alpha);
    TinyGemm t = tiny_gemm();
    Graph smoothed = t.g;
    SmoothQuantOptions opts;
    opts.alpha = alpha;
    auto report = smooth_activations(smoothed, tensor_batches(t.x, 3), opts);
    REQUIRE(report.is_ok());
    // The activation is a graph input: nothing to fold into.
    CHECK(report->layers == 1);
    CHECK(report->folded == 0);
    CHECK(report->explicit_muls == 1);
    REQUIRE(report->groups.size() == 1);
    const std::vector<float>& s = report->groups[0].factors;
    const std::vector<float> a = column_abs_max(t.x), w = input_channel_abs_max(t.w, true);
    REQUIRE(s.size() == 4);
    for (size_t j = 0; j < 4; ++j) {
      const double expected = a[j] == 0 ? 1.0 : std::pow(a[j], alpha) / std::pow(w[j], 1.0 - alpha);
      CHECK(s[j] == Approx(expected).epsilon(1e-6));
    }
    CHECK(s[3] == 1.0f);  // the dead channel is left alone

    // The Mul before the Gemm holds 1/s; the Gemm's weight column j holds W[:, j] · s_j.
    const NodeId gemm_id = smoothed.value(smoothed.outputs()[0]).producer;
    const Node& gemm = smoothed.node(gemm_id);
    const NodeId mul_id = smoothed.value(gemm.inputs[0]).producer;
    REQUIRE(mul_id != kNoNode);
    CHECK(smoothed.node(mul_id).name == "gemm/smooth_mul");
    const Tensor& inv = smoothed.value(smoothed.node(mul_id).inputs[1]).constant;
    const Tensor& w2 = smoothed.value(gemm.inputs[1]).constant;
    REQUIRE(inv.shape() == Shape{4});
    for (size_t j = 0; j < 4; ++j) CHECK(inv.data<float>()[j] == Approx(1.0 / s[j]).epsilon(1e-6));
    for (int64_t i = 0; i < w2.numel(); ++i) {
      CHECK(w2.data<float>()[i] == Approx(t.w.data<float>()[i] * s[static_cast<size_t>(i % 4)]).epsilon(1e-6));
    }
    // The extremes: α = 1 makes every live activation channel's range 1, α = 0 every weight column's.
    std::vector<float> x_smoothed = column_abs_max(t.x), w_smoothed = input_channel_abs_max(w2, true);
    for (size_t j = 0; j < 3; ++j) {
      x_smoothed[j] *= inv.data<float>()[j];
      if (alpha == 1.0) CHECK(x_smoothed[j] == Approx(1.0).epsilon(1e-6));
      if (alpha == 0.0) CHECK(w_smoothed[j] == Approx(1.0).epsilon(1e-6));
    }
    CHECK(t.g.value(t.g.find_value("w")).constant.data<float>()[1] == -4.0f);  // the original is untouched
    const Tensor before = run_once(t.g, t.x), after = run_once(smoothed, t.x);
    const DiffStats d = compare(before.data<float>(), after.data<float>(), before.numel());
    CHECK(d.max_abs <= 1e-5 * max_abs(before));
  }
}

TEST_CASE("smoothquant rejects an alpha outside [0, 1]") {
  TinyGemm t = tiny_gemm();
  SmoothQuantOptions opts;
  opts.alpha = 1.5;
  CHECK(!smooth_activations(t.g, tensor_batches(t.x, 4), opts).is_ok());
}

TEST_CASE("smoothquant folds 1/s through Relu into the producing Gemm") {
  // x → Gemm1 → Relu → Gemm2 → y: Gemm1's output channels absorb 1/s.
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{-1, 3}, true);
  g.add_input(x);
  const ValueId w1 = g.add_constant("w1", random_tensor(Shape{3, 5}, 3, -2.0f, 2.0f));
  const ValueId b1 = g.add_constant("b1", random_tensor(Shape{5}, 4, 0.0f, 1.0f));
  const ValueId h = g.add_value("h"), r = g.add_value("r"), y = g.add_value("y");
  g.add_node(OpKind::kGemm, "gemm1", {x, w1, b1}, {h});
  g.add_node(OpKind::kRelu, "relu", {h}, {r});
  const ValueId w2 = g.add_constant("w2", random_tensor(Shape{5, 2}, 5, -0.5f, 0.5f));
  g.add_node(OpKind::kGemm, "gemm2", {r, w2}, {y});
  g.add_output(y);
  auto prepared = prepare_float_graph(g);
  REQUIRE(prepared.is_ok());
  const Tensor data = random_tensor(Shape{16, 3}, 6, -3.0f, 3.0f);
  Graph smoothed = *prepared;
  auto report = smooth_activations(smoothed, tensor_batches(data, 8));
  REQUIRE(report.is_ok());
  CHECK(report->layers == 2);
  CHECK(report->explicit_muls == 1);  // gemm1 reads the graph input
  CHECK(report->folded == 1);         // gemm2's input comes from gemm1 through the Relu
  CHECK(smoothed.num_live_nodes() == prepared->num_live_nodes() + 1);
  const Tensor before = run_once(*prepared, data), after = run_once(smoothed, data);
  const DiffStats d = compare(before.data<float>(), after.data<float>(), before.numel());
  CHECK(d.max_abs <= 1e-5 * max_abs(before));
}

TEST_CASE("smoothquant shares one factor between readers of a LayerNormalization") {
  // LN → MatMul q, MatMul k (one group, folded into gamma/beta); a third reader that is no
  // target (Add) forces the explicit Mul instead.
  for (bool extra_reader : {false, true}) {
    INFO("extra reader " << extra_reader);
    Graph g;
    const ValueId x = g.add_value("x", DType::kF32, Shape{-1, 5, 6}, true);
    g.add_input(x);
    const ValueId gamma = g.add_constant("gamma", random_tensor(Shape{6}, 7, 0.5f, 2.0f));
    const ValueId beta = g.add_constant("beta", random_tensor(Shape{6}, 8, -1.0f, 1.0f));
    const ValueId n = g.add_value("n");
    g.add_node(OpKind::kLayerNormalization, "ln", {x, gamma, beta}, {n});
    const ValueId wq = g.add_constant("wq", random_tensor(Shape{6, 4}, 9, -1.0f, 1.0f));
    const ValueId wk = g.add_constant("wk", random_tensor(Shape{6, 4}, 10, -3.0f, 3.0f));
    const ValueId q = g.add_value("q"), k = g.add_value("k"), y = g.add_value("y");
    g.add_node(OpKind::kMatMul, "q", {n, wq}, {q});
    g.add_node(OpKind::kMatMul, "k", {n, wk}, {k});
    g.add_node(OpKind::kAdd, "qk", {q, k}, {y});
    g.add_output(y);
    if (extra_reader) g.add_output(n);
    auto prepared = prepare_float_graph(g);
    REQUIRE(prepared.is_ok());
    const Tensor data = random_tensor(Shape{8, 5, 6}, 11, -4.0f, 4.0f);
    Graph smoothed = *prepared;
    auto report = smooth_activations(smoothed, tensor_batches(data, 4));
    REQUIRE(report.is_ok());
    CHECK(report->layers == 2);
    REQUIRE(report->groups.size() == 1);
    CHECK(report->groups[0].sinks.size() == 2);
    CHECK(report->folded == (extra_reader ? 0 : 1));
    CHECK(report->explicit_muls == (extra_reader ? 1 : 0));
    // Both weights got the same per-row factor, sized by the larger of the two rows.
    const Tensor& q2 = smoothed.value(smoothed.node(smoothed.value(smoothed.find_value("q")).producer).inputs[1]).constant;
    const Tensor& k2 = smoothed.value(smoothed.node(smoothed.value(smoothed.find_value("k")).producer).inputs[1]).constant;
    const Tensor& q0 = prepared->value(wq).constant;
    const Tensor& k0 = prepared->value(wk).constant;
    const std::vector<float> wq_max = input_channel_abs_max(q0, false), wk_max = input_channel_abs_max(k0, false);
    for (int64_t i = 0; i < q0.numel(); ++i) {
      const size_t row = static_cast<size_t>(i / 4);
      const double s = report->groups[0].factors[row];
      CHECK(q2.data<float>()[i] == Approx(q0.data<float>()[i] * s).epsilon(1e-6));
      CHECK(k2.data<float>()[i] == Approx(k0.data<float>()[i] * s).epsilon(1e-6));
    }
    // With α = 0.5, each row's smoothed weight max equals the smoothed activation max (√(a·w)).
    std::vector<ChannelTap> tap = {{report->groups[0].smoothed, 2}};
    auto act = measure_channel_abs_max(smoothed, tap, tensor_batches(data, 4), -1, 1);
    REQUIRE(act.is_ok());
    for (size_t row = 0; row < 6; ++row) {
      const double w_after = std::max(wq_max[row], wk_max[row]) * report->groups[0].factors[row];
      CHECK((*act)[0][row] == Approx(w_after).epsilon(1e-4));
    }
    const Tensor before = run_once(*prepared, data), after = run_once(smoothed, data);
    const DiffStats d = compare(before.data<float>(), after.data<float>(), before.numel());
    CHECK(d.max_abs <= 1e-5 * max_abs(before));
  }
}

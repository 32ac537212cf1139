// Cross-layer equalization and channel splitting: both leave the float function of every shared
// model unchanged (max |diff| <= 1e-4 · max |output| on real images), they find regions where the
// architecture has them, equalization balances per-channel weight ranges, and on tiny hand-built
// graphs the scales and copies are exactly what the formulas say.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "graph/schema.h"
#include "quant/channel_split.h"
#include "quant/equalize.h"
#include "quant/equalize_regions.h"
#include "quant/prepare.h"
#include "support/image_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

Tensor run_graph(const Graph& g, const Tensor& input) {
  SessionOptions so;
  so.num_threads = 2;
  auto session = Session::create(g, so);
  REQUIRE(session.is_ok());
  auto out = (*session)->run({input});
  REQUIRE(out.is_ok());
  REQUIRE(out->size() >= 1);
  return (*out)[0];
}

// max |a - b| / max |a|.
double relative_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0, peak = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
    peak = std::max(peak, std::fabs(static_cast<double>(a.data<float>()[i])));
  }
  REQUIRE(peak > 0);
  return diff / peak;
}

Graph prepared(const std::string& path, bool keep_batch_norm = false) {
  auto model = import_onnx_file(require_file(path));
  REQUIRE(model.is_ok());
  PrepareOptions po;
  po.keep_batch_norm = keep_batch_norm;
  auto g = prepare_float_graph(*model, po);
  REQUIRE(g.is_ok());
  return std::move(*g);
}

// Per-output-channel max |W| of a layer: max / min over channels (the spread a per-tensor
// quantizer has to cover).
double channel_range_spread(const Graph& g, NodeId node) {
  auto l = describe_layer(g, node);
  REQUIRE(l.is_ok());
  REQUIRE(l->node == node);
  std::vector<double> range(static_cast<size_t>(l->out_channels), 0.0);
  const float* w = g.value(l->weight).constant.data<float>();
  int64_t e = 0;
  for (int64_t i0 = 0; i0 < l->dim0; ++i0) {
    for (int64_t i1 = 0; i1 < l->dim1; ++i1) {
      for (int64_t t = 0; t < l->taps; ++t, ++e) {
        double& r = range[static_cast<size_t>(l->out_channel(i0, i1))];
        r = std::max(r, std::fabs(static_cast<double>(w[e])));
      }
    }
  }
  const double lo = *std::min_element(range.begin(), range.end());
  const double hi = *std::max_element(range.begin(), range.end());
  return hi / std::max(lo, 1e-12);
}

struct SharedModel {
  const char* path;     // relative to QENGINE_SHARED
  const char* images;   // image folder relative to QENGINE_SHARED
  bool has_regions;     // Relu / residual structure a region can form in (Clip-only nets have none)
};

const SharedModel kModels[] = {
    {"models/fmnist_tiny_cnn.onnx", "data/fashion-mnist/val", true},
    {"models/mobilenet_v2_fmnist64.onnx", "data/fashion-mnist/val", true},
    {"models/mobilenet_v3_small_fmnist64.onnx", "data/fashion-mnist/val", true},
    {"models/resnet18_fmnist64.onnx", "data/fashion-mnist/val", true},
    {"models/vit_tiny_fmnist64.onnx", "data/fashion-mnist/val", false},
    {"imagenet/models/mobilenet_v1_075_keras.onnx", "imagenet/val", false},
    {"imagenet/models/mobilenet_v2_tfslim_qat.onnx", "imagenet/val", true},
    {"imagenet/models/mobilenet_v2_tv_tflm.onnx", "imagenet/val", true},
    {"imagenet/models/squeezenet1_1_caffe.onnx", "imagenet/val", true},
};

constexpr double kTolerance = 1e-4;

void check_invariance(const SharedModel& m, bool keep_batch_norm) {
  const std::string path = shared_path(m.path);
  const Graph g = prepared(path, keep_batch_norm);
  const Tensor images = load_images(path, shared_path(m.images), 8);
  const Tensor reference = run_graph(g, images);

  Graph equalized = g;
  auto eq = equalize_graph(equalized);
  REQUIRE(eq.is_ok());
  const double eq_diff = relative_diff(reference, run_graph(equalized, images));
  std::cout << m.path << (keep_batch_norm ? " [finn]" : "") << ": equalize regions=" << eq->regions
            << " layers=" << eq->layers << " iterations=" << eq->iterations << " last max|1-s|=" << eq->max_scale_change << " skipped=" << eq->skipped.size()
            << " rel diff=" << eq_diff << "\n";
  for (const std::string& s : eq->skipped) std::cout << "  skipped " << s << "\n";
  CHECK(eq_diff <= kTolerance);

  for (SplitSide side : {SplitSide::kInput, SplitSide::kOutput}) {
    Graph split = g;
    ChannelSplitOptions so;
    so.ratio = 0.05;
    so.side = side;
    auto sp = split_channels(split, so);
    REQUIRE(sp.is_ok());
    const double sp_diff = relative_diff(reference, run_graph(split, images));
    std::cout << m.path << (keep_batch_norm ? " [finn]" : "") << ": split " << (side == SplitSide::kInput ? "input" : "output")
              << " regions=" << sp->regions << " layers=" << sp->layers << " channels+=" << sp->channels_added
              << " skipped=" << sp->skipped.size() << " rel diff=" << sp_diff << "\n";
    CHECK(sp_diff <= kTolerance);
    if (m.has_regions && !keep_batch_norm) {
      CHECK(sp->regions > 0);
      CHECK(sp->channels_added > 0);
    }
  }
  if (m.has_regions && !keep_batch_norm) {
    CHECK(eq->regions > 0);
    CHECK(eq->layers >= 2);
    CHECK(eq->iterations >= 1);
  }
}

}  // namespace

TEST_CASE("equalization and channel splitting keep every shared model's function", "[equalize][models]") {
  for (const SharedModel& m : kModels) {
    SECTION(m.path) { check_invariance(m, false); }
  }
}

TEST_CASE("the FINN form (BatchNormalization kept) stays runnable and invariant", "[equalize][models]") {
  for (const SharedModel& m : {kModels[0], kModels[3]}) {
    SECTION(m.path) { check_invariance(m, true); }
  }
}

TEST_CASE("equalization balances per-channel weight ranges", "[equalize][models]") {
  // Nagel et al.'s objective: with per-tensor ranges R, channel i of a source/sink pair keeps
  // the relative precision (r_src(i) / R_src) · (r_sink(i) / R_sink); equalization raises its sum.
  // mobilenet_v2: projection convs into the residual chains; mobilenet_v3: its ReLU blocks,
  // where depthwise convs are sources and sinks, and whose channel spread must shrink.
  for (const char* rel : {"models/mobilenet_v2_fmnist64.onnx", "models/mobilenet_v3_small_fmnist64.onnx",
                          "models/resnet18_fmnist64.onnx"}) {
    SECTION(rel) {
      const Graph g = prepared(shared_path(rel));
      auto search = find_equalization_regions(g);
      REQUIRE(search.is_ok());
      REQUIRE(!search->regions.empty());
      std::set<NodeId> depthwise;
      for (const EqualizationRegion& r : search->regions) {
        for (const auto* layers : {&r.sources, &r.sinks}) {
          for (const RegionLayer& l : *layers) {
            if (l.layer.is_depthwise()) depthwise.insert(l.layer.node);
          }
        }
      }
      Graph equalized = g;
      EqualizeOptions eo;
      eo.merge_bias = false;  // the objective is about weights; a merged bias trades some of it away
      REQUIRE(equalize_graph(equalized, eo).is_ok());
      auto precision = [&](const Graph& graph) {
        double total = 0;
        for (const EqualizationRegion& r : search->regions) {
          std::vector<double> src(static_cast<size_t>(r.num_classes), 0.0), sink(src);
          auto accumulate = [&](const std::vector<RegionLayer>& layers, std::vector<double>& range, bool by_output) {
            for (const RegionLayer& rl : layers) {
              const LayerWeights& l = rl.layer;
              const float* w = graph.value(l.weight).constant.data<float>();
              int64_t e = 0;
              for (int64_t i0 = 0; i0 < l.dim0; ++i0) {
                for (int64_t i1 = 0; i1 < l.dim1; ++i1) {
                  const int64_t c = by_output ? l.out_channel(i0, i1) : l.in_channel(i0, i1);
                  double& v = range[static_cast<size_t>(rl.channel_class[static_cast<size_t>(c)])];
                  for (int64_t t = 0; t < l.taps; ++t, ++e) v = std::max(v, std::fabs(static_cast<double>(w[e])));
                }
              }
            }
          };
          accumulate(r.sources, src, true);
          accumulate(r.sinks, sink, false);
          const double src_max = *std::max_element(src.begin(), src.end());
          const double sink_max = *std::max_element(sink.begin(), sink.end());
          double sum = 0;
          for (size_t k = 0; k < src.size(); ++k) sum += src[k] / src_max * sink[k] / sink_max;
          total += sum / static_cast<double>(src.size());
        }
        return total / static_cast<double>(search->regions.size());
      };
      const double before = precision(g), after = precision(equalized);
      std::cout << rel << ": mean per-channel precision of region pairs " << before << " -> " << after << "\n";
      CHECK(after > before);
      if (!depthwise.empty()) {
        double log_before = 0, log_after = 0;
        for (NodeId n : depthwise) {
          log_before += std::log(channel_range_spread(g, n));
          log_after += std::log(channel_range_spread(equalized, n));
        }
        const double k = static_cast<double>(depthwise.size());
        std::cout << rel << ": " << depthwise.size() << " depthwise convs' per-channel range max/min (geo mean) "
                  << std::exp(log_before / k) << " -> " << std::exp(log_after / k) << "\n";
        CHECK(log_after < log_before);
      }
    }
  }
}

namespace {

ValueId add_conv(Graph& g, const std::string& name, ValueId x, Tensor w, Tensor b, int64_t group = 1) {
  const ValueId wv = g.add_constant(name + ".w", w);
  std::vector<ValueId> inputs = {x, wv};
  if (b.defined()) inputs.push_back(g.add_constant(name + ".b", b));
  const ValueId y = g.add_value(name + ".y");
  Attributes a;
  const int64_t k = w.shape()[2];
  a.set("kernel_shape", std::vector<int64_t>{k, k});
  a.set("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  a.set("group", group);
  g.add_node(OpKind::kConv, name, inputs, {y}, a);
  return y;
}

ValueId add_unary(Graph& g, OpKind op, const std::string& name, std::vector<ValueId> x) {
  const ValueId y = g.add_value(name + ".y");
  g.add_node(op, name, std::move(x), {y});
  return y;
}

const float* weight_of(const Graph& g, const std::string& name) { return g.value(g.find_value(name + ".w")).constant.data<float>(); }
const float* bias_of(const Graph& g, const std::string& name) { return g.value(g.find_value(name + ".b")).constant.data<float>(); }

// Conv(1x1, 2→2) → Relu → Conv(1x1, 2→2): region {a} → {b}.
Graph conv_relu_conv() {
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{1, 2, 3, 3}, true);
  g.add_input(x);
  const ValueId a = add_conv(g, "a", x, Tensor::from_vector<float>(Shape{2, 2, 1, 1}, {4.0f, -1.0f, 0.25f, 0.5f}),
                             Tensor::from_vector<float>(Shape{2}, {0.5f, -0.125f}));
  const ValueId r = add_unary(g, OpKind::kRelu, "relu", {a});
  const ValueId b = add_conv(g, "b", r, Tensor::from_vector<float>(Shape{2, 2, 1, 1}, {0.5f, 3.0f, -0.25f, 1.0f}), Tensor());
  g.add_output(b);
  REQUIRE(infer_shapes(g).is_ok());
  return g;
}

}  // namespace

TEST_CASE("equalizing Conv -> Relu -> Conv matches the hand-computed scales") {
  const Graph g = conv_relu_conv();
  Graph eq = g;
  EqualizeOptions opts;
  opts.merge_bias = false;
  opts.iterations = 1;
  auto report = equalize_graph(eq, opts);
  REQUIRE(report.is_ok());
  CHECK(report->regions == 1);
  CHECK(report->layers == 2);
  // Channel 0: source range max(4, 1) = 4, sink range max(0.5, 0.25) = 0.5 → s = sqrt(8).
  // Channel 1: source range max(0.25, 0.5) = 0.5, sink range max(3, 1) = 3 → s = sqrt(1/6).
  const double s0 = std::sqrt(4.0 / 0.5), s1 = std::sqrt(0.5 / 3.0);
  const float* a = weight_of(eq, "a");
  const float* b = weight_of(eq, "b");
  CHECK(a[0] == Approx(4.0 / s0));
  CHECK(a[1] == Approx(-1.0 / s0));
  CHECK(a[2] == Approx(0.25 / s1));
  CHECK(a[3] == Approx(0.5 / s1));
  CHECK(bias_of(eq, "a")[0] == Approx(0.5 / s0));
  CHECK(bias_of(eq, "a")[1] == Approx(-0.125 / s1));
  CHECK(b[0] == Approx(0.5 * s0));  // W_b[out 0, in 0]
  CHECK(b[1] == Approx(3.0 * s1));  // W_b[out 0, in 1]
  CHECK(b[2] == Approx(-0.25 * s0));
  CHECK(b[3] == Approx(1.0 * s1));
  // Balanced: each channel's source range equals its sink range.
  CHECK(std::max(std::fabs(a[0]), std::fabs(a[1])) == Approx(std::max(std::fabs(b[0]), std::fabs(b[2]))));
  CHECK(std::max(std::fabs(a[2]), std::fabs(a[3])) == Approx(std::max(std::fabs(b[1]), std::fabs(b[3]))));

  const Tensor x = random_tensor(Shape{1, 2, 3, 3}, 5);
  CHECK(relative_diff(run_graph(g, x), run_graph(eq, x)) < 1e-6);

  // A second sweep finds nothing left to do and stops.
  Graph again = g;
  opts.iterations = 20;
  auto converged = equalize_graph(again, opts);
  REQUIRE(converged.is_ok());
  CHECK(converged->iterations == 2);
  CHECK(converged->max_scale_change < 1e-6);
}

TEST_CASE("merge_bias counts a large bias in the source range") {
  Graph g = conv_relu_conv();
  Graph plain = g, merged = g;
  EqualizeOptions opts;
  opts.iterations = 1;
  opts.merge_bias = false;
  REQUIRE(equalize_graph(plain, opts).is_ok());
  opts.merge_bias = true;
  opts.bias_shrinkage = 0.05;  // bias 0.5 / 0.05 = 10 dominates channel 0's weights (4)
  REQUIRE(equalize_graph(merged, opts).is_ok());
  const double s0 = std::sqrt(10.0 / 0.5);
  CHECK(weight_of(merged, "a")[0] == Approx(4.0 / s0));
  CHECK(weight_of(merged, "a")[0] < weight_of(plain, "a")[0]);
}

TEST_CASE("a residual Add joins both convs into one region with the shared sink") {
  // x → a ─┐
  // x → b ─┴ Add → Relu → c: sources {a, b} share each channel's scale; c is the sink.
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{1, 2, 4, 4}, true);
  g.add_input(x);
  const ValueId a = add_conv(g, "a", x, Tensor::from_vector<float>(Shape{2, 2, 1, 1}, {2.0f, 1.0f, -0.5f, 0.25f}),
                             Tensor::from_vector<float>(Shape{2}, {0.1f, 0.2f}));
  const ValueId b = add_conv(g, "b", x, Tensor::from_vector<float>(Shape{2, 2, 1, 1}, {0.5f, -6.0f, 0.125f, 0.25f}),
                             Tensor::from_vector<float>(Shape{2}, {-0.1f, 0.05f}));
  const ValueId sum = add_unary(g, OpKind::kAdd, "add", {a, b});
  const ValueId r = add_unary(g, OpKind::kRelu, "relu", {sum});
  const ValueId c = add_conv(g, "c", r, Tensor::from_vector<float>(Shape{1, 2, 1, 1}, {0.5f, 8.0f}), Tensor());
  g.add_output(c);
  REQUIRE(infer_shapes(g).is_ok());

  auto search = find_equalization_regions(g);
  REQUIRE(search.is_ok());
  REQUIRE(search->regions.size() == 1);
  CHECK(search->regions[0].sources.size() == 2);
  CHECK(search->regions[0].sinks.size() == 1);
  CHECK(search->regions[0].num_classes == 2);

  Graph eq = g;
  EqualizeOptions opts;
  opts.merge_bias = false;
  opts.iterations = 1;
  REQUIRE(equalize_graph(eq, opts).is_ok());
  // Channel 0: sources max(2, 1, 0.5, 6) = 6 against sink 0.5; channel 1: max(0.5, 0.25, 0.125,
  // 0.25) = 0.5 against sink 8.
  const double s0 = std::sqrt(6.0 / 0.5), s1 = std::sqrt(0.5 / 8.0);
  CHECK(weight_of(eq, "a")[0] == Approx(2.0 / s0));
  CHECK(weight_of(eq, "b")[1] == Approx(-6.0 / s0));
  CHECK(weight_of(eq, "b")[2] == Approx(0.125 / s1));
  CHECK(bias_of(eq, "b")[1] == Approx(0.05 / s1));
  CHECK(weight_of(eq, "c")[0] == Approx(0.5 * s0));
  CHECK(weight_of(eq, "c")[1] == Approx(8.0 * s1));
  const Tensor in = random_tensor(Shape{1, 2, 4, 4}, 9);
  CHECK(relative_diff(run_graph(g, in), run_graph(eq, in)) < 1e-6);
}

TEST_CASE("regions stop at scale-varying ops and at graph outputs") {
  SECTION("Clip (ReLU6) is a boundary") {
    Graph g;
    const ValueId x = g.add_value("x", DType::kF32, Shape{1, 2, 3, 3}, true);
    g.add_input(x);
    const ValueId a = add_conv(g, "a", x, random_tensor(Shape{2, 2, 1, 1}, 1), Tensor());
    const ValueId lo = g.add_constant("lo", Tensor::scalar<float>(0.0f));
    const ValueId hi = g.add_constant("hi", Tensor::scalar<float>(6.0f));
    const ValueId clip = add_unary(g, OpKind::kClip, "clip", {a, lo, hi});
    g.add_output(add_conv(g, "b", clip, random_tensor(Shape{2, 2, 1, 1}, 2), Tensor()));
    REQUIRE(infer_shapes(g).is_ok());
    auto search = find_equalization_regions(g);
    REQUIRE(search.is_ok());
    CHECK(search->regions.empty());
  }
  SECTION("a region value that is also a graph output is skipped with a reason") {
    Graph g;
    const ValueId x = g.add_value("x", DType::kF32, Shape{1, 2, 3, 3}, true);
    g.add_input(x);
    const ValueId a = add_conv(g, "a", x, random_tensor(Shape{2, 2, 1, 1}, 1), Tensor());
    const ValueId r = add_unary(g, OpKind::kRelu, "relu", {a});
    g.add_output(add_conv(g, "b", r, random_tensor(Shape{2, 2, 1, 1}, 2), Tensor()));
    g.add_output(r);
    REQUIRE(infer_shapes(g).is_ok());
    auto report = equalize_graph(g);
    REQUIRE(report.is_ok());
    CHECK(report->regions == 0);
    REQUIRE(report->skipped.size() == 1);
    CHECK(report->skipped[0].find("graph output") != std::string::npos);
  }
}

TEST_CASE("input-side splitting duplicates the largest sink channel with halved weights") {
  const Graph g = conv_relu_conv();
  Graph split = g;
  ChannelSplitOptions opts;
  opts.ratio = 0.5;  // one of the two channels
  auto report = split_channels(split, opts);
  REQUIRE(report.is_ok());
  CHECK(report->regions == 1);
  CHECK(report->layers == 2);
  CHECK(report->channels_added == 1);
  // The sink's largest input weight (3.0) is on channel 1: the source emits channel 1 twice.
  const Tensor& a = split.value(split.find_value("a.w")).constant;
  const Tensor& b = split.value(split.find_value("b.w")).constant;
  REQUIRE(a.shape() == Shape{3, 2, 1, 1});
  REQUIRE(b.shape() == Shape{2, 3, 1, 1});
  CHECK(a.data<float>()[4] == 0.25f);
  CHECK(a.data<float>()[5] == 0.5f);
  CHECK(bias_of(split, "a")[2] == -0.125f);
  CHECK(b.data<float>()[1] == 1.5f);  // out 0: original channel 1, halved
  CHECK(b.data<float>()[2] == 1.5f);  // out 0: its copy
  CHECK(b.data<float>()[0] == 0.5f);  // channel 0 untouched
  const Tensor x = random_tensor(Shape{1, 2, 3, 3}, 5);
  CHECK(relative_diff(run_graph(g, x), run_graph(split, x)) < 1e-6);

  Graph out_split = g;
  opts.side = SplitSide::kOutput;
  REQUIRE(split_channels(out_split, opts).is_ok());
  // The source's largest output channel (0, |4|) is emitted twice at half weight and bias.
  const Tensor& ao = out_split.value(out_split.find_value("a.w")).constant;
  REQUIRE(ao.shape() == Shape{3, 2, 1, 1});
  CHECK(ao.data<float>()[0] == 2.0f);
  CHECK(ao.data<float>()[4] == 2.0f);
  CHECK(bias_of(out_split, "a")[2] == 0.25f);
  CHECK(relative_diff(run_graph(g, x), run_graph(out_split, x)) < 1e-6);
}

TEST_CASE("a depthwise conv in the chain grows a group and passes the copies on") {
  // a (3x3, 1→4) → Relu → dw (3x3, 4 groups) → Relu → MaxPool → b (1x1, 4→3)
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{2, 1, 6, 6}, true);
  g.add_input(x);
  const ValueId a = add_conv(g, "a", x, random_tensor(Shape{4, 1, 3, 3}, 21), random_tensor(Shape{4}, 22));
  const ValueId r1 = add_unary(g, OpKind::kRelu, "relu1", {a});
  const ValueId dw = add_conv(g, "dw", r1, random_tensor(Shape{4, 1, 3, 3}, 23), random_tensor(Shape{4}, 24), 4);
  const ValueId r2 = add_unary(g, OpKind::kRelu, "relu2", {dw});
  const ValueId pool = g.add_value("pool.y");
  Attributes pa;
  pa.set("kernel_shape", std::vector<int64_t>{2, 2});
  pa.set("strides", std::vector<int64_t>{2, 2});
  g.add_node(OpKind::kMaxPool, "pool", {r2}, {pool}, pa);
  g.add_output(add_conv(g, "b", pool, random_tensor(Shape{3, 4, 1, 1}, 25), random_tensor(Shape{3}, 26)));
  REQUIRE(infer_shapes(g).is_ok());
  const Tensor in = random_tensor(Shape{2, 1, 6, 6}, 27, 0.0f, 1.0f);
  const Tensor reference = run_graph(g, in);

  for (SplitSide side : {SplitSide::kInput, SplitSide::kOutput}) {
    Graph split = g;
    ChannelSplitOptions opts;
    opts.ratio = 0.25;
    opts.side = side;
    auto report = split_channels(split, opts);
    REQUIRE(report.is_ok());
    INFO((side == SplitSide::kInput ? "input side" : "output side"));
    CHECK(report->regions == 2);  // a → dw, and the copies carried on into dw → b
    const Node& dw_node = split.node(split.value(split.find_value("dw.y")).producer);
    CHECK(dw_node.attrs.get_int("group", 1).value() == 5);
    CHECK(split.value(split.find_value("dw.w")).constant.shape() == Shape{5, 1, 3, 3});
    CHECK(split.value(split.find_value("b.w")).constant.shape() == Shape{3, 5, 1, 1});
    CHECK(relative_diff(reference, run_graph(split, in)) < 1e-5);
  }
  Graph eq = g;
  auto report = equalize_graph(eq);
  REQUIRE(report.is_ok());
  CHECK(report->regions == 2);
  CHECK(report->layers == 3);
  CHECK(relative_diff(reference, run_graph(eq, in)) < 1e-5);
}

TEST_CASE("BatchNormalization kept for FINN is a region boundary") {
  // a → BatchNormalization → Relu → b → Relu → c. Kept, the BN stops the region a → b; folded
  // into a, both a → b and b → c are regions. Either way the function is unchanged.
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{2, 3, 5, 5}, true);
  g.add_input(x);
  const ValueId a = add_conv(g, "a", x, random_tensor(Shape{4, 3, 3, 3}, 31), random_tensor(Shape{4}, 32));
  std::vector<ValueId> bn_inputs = {a};
  bn_inputs.push_back(g.add_constant("bn.scale", random_tensor(Shape{4}, 33, 0.5f, 2.0f)));
  bn_inputs.push_back(g.add_constant("bn.bias", random_tensor(Shape{4}, 34)));
  bn_inputs.push_back(g.add_constant("bn.mean", random_tensor(Shape{4}, 35)));
  bn_inputs.push_back(g.add_constant("bn.var", random_tensor(Shape{4}, 36, 0.5f, 2.0f)));
  const ValueId bn = g.add_value("bn.y");
  g.add_node(OpKind::kBatchNormalization, "bn", bn_inputs, {bn});
  const ValueId r1 = add_unary(g, OpKind::kRelu, "relu1", {bn});
  const ValueId b = add_conv(g, "b", r1, random_tensor(Shape{4, 4, 3, 3}, 37), random_tensor(Shape{4}, 38));
  const ValueId r2 = add_unary(g, OpKind::kRelu, "relu2", {b});
  g.add_output(add_conv(g, "c", r2, random_tensor(Shape{2, 4, 1, 1}, 39), Tensor()));
  REQUIRE(infer_shapes(g).is_ok());
  const Tensor in = random_tensor(Shape{2, 3, 5, 5}, 40);
  for (bool keep : {true, false}) {
    INFO((keep ? "BatchNormalization kept" : "BatchNormalization folded"));
    PrepareOptions po;
    po.keep_batch_norm = keep;
    auto prepared_graph = prepare_float_graph(g, po);
    REQUIRE(prepared_graph.is_ok());
    const Tensor reference = run_graph(*prepared_graph, in);
    Graph eq = *prepared_graph;
    auto report = equalize_graph(eq);
    REQUIRE(report.is_ok());
    CHECK(report->regions == (keep ? 1 : 2));
    CHECK(relative_diff(reference, run_graph(eq, in)) < 1e-5);
    Graph split = *prepared_graph;
    auto split_report = split_channels(split, {0.25, SplitSide::kInput});
    REQUIRE(split_report.is_ok());
    CHECK(split_report->regions == (keep ? 1 : 2));
    CHECK(relative_diff(reference, run_graph(split, in)) < 1e-5);
  }
}

TEST_CASE("invalid options are rejected") {
  Graph g = conv_relu_conv();
  EqualizeOptions eo;
  eo.iterations = -1;
  CHECK(!equalize_graph(g, eo).is_ok());
  ChannelSplitOptions so;
  so.ratio = 1.5;
  CHECK(!split_channels(g, so).is_ok());
}

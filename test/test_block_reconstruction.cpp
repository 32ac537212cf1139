// Block-wise AdaRound (quant/block_reconstruction.h): the squared-error gradient of the
// differentiable executor against central differences in float64, the partition of a graph into
// blocks at its single-value cuts, and the whole pass on the demo model (weights on the grid,
// closer to float than round-to-nearest on held-out images, and not far from layer-wise AdaRound's, which it refines).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/block_reconstruction.h"
#include "quant/mixed/backprop.h"
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

// x → stem → relu → [c1 → relu → c2] + (residual) → p1 → relu → p2 → gap → flatten → fc → softmax
struct ResidualNet {
  TestGraph t;
  ValueId x, stem_relu, add, p2, fc, softmax;
};

ResidualNet residual_net() {
  ResidualNet n;
  TestGraph& t = n.t;
  n.x = t.input("x", Shape({2, 3, 6, 6}));
  n.stem_relu = t.relu("stem_relu", t.conv("stem", n.x, 4));
  ValueId c2 = t.conv("c2", t.relu("c1_relu", t.conv("c1", n.stem_relu, 4)), 4);
  n.add = t.node(OpKind::kAdd, "add", {c2, n.stem_relu});
  n.p2 = t.conv("p2", t.relu("p1_relu", t.conv("p1", n.add, 5, 1)), 6, 1);
  ValueId flat = t.node(OpKind::kFlatten, "flatten", {t.node(OpKind::kGlobalAveragePool, "gap", {n.p2})});
  n.fc = t.gemm("fc", flat, 3);
  n.softmax = t.node(OpKind::kSoftmax, "softmax", {n.fc});
  t.output(n.softmax);
  return n;
}

std::vector<std::string> layer_names(const Graph& g, const BlockSpan& b) {
  std::vector<std::string> out;
  for (NodeId id : b.layers) out.push_back(g.node(id).name);
  return out;
}

}  // namespace

TEST_CASE("the squared-error gradient matches central differences through a residual block") {
  ResidualNet n = residual_net();
  n.t.g.set_outputs({n.add});
  const std::vector<std::string> weights = {"stem.weight", "c1.weight", "c2.weight"};
  BackpropOptions o;
  o.precision = BackpropPrecision::kFloat64;
  o.loss = BackpropLoss::kSquaredError;
  o.num_threads = 2;
  auto bp = Backprop::create(n.t.g, weights, o);
  INFO(bp.status().message());
  REQUIRE(bp.is_ok());
  const Tensor x = random_tensor(Shape({2, 3, 6, 6}), 5, -1, 1);
  const Tensor target = random_tensor(Shape({2, 4, 6, 6}), 6, 0, 1);
  const double scale = 0.37;
  auto lg = bp->squared_error_gradient({x}, target, scale);
  REQUIRE(lg.is_ok());
  REQUIRE(lg->gradients.size() == weights.size());
  // The loss itself, from the engine's own forward pass.
  auto session = Session::create(n.t.g);
  REQUIRE(session.is_ok());
  auto y = (*session)->run({x});
  REQUIRE(y.is_ok());
  double want_loss = 0;
  for (int64_t i = 0; i < target.numel(); ++i) {
    const double d = double((*y)[0].data<float>()[i]) - target.data<float>()[i];
    want_loss += d * d;
  }
  CHECK(lg->loss == Approx(scale * want_loss).epsilon(1e-5));
  CHECK(bp->last_output().shape() == target.shape());
  int checked = 0;
  for (size_t w = 0; w < weights.size(); ++w) {
    const Tensor base = n.t.g.value(n.t.g.find_value(weights[w])).constant;
    std::vector<double> values(static_cast<size_t>(base.numel()));
    for (int64_t i = 0; i < base.numel(); ++i) values[static_cast<size_t>(i)] = base.data<float>()[i];
    for (int64_t i = 0; i < base.numel(); i += 7) {
      auto loss_at = [&](double delta) {
        std::vector<double> v = values;
        v[static_cast<size_t>(i)] += delta;
        REQUIRE(bp->set_weight(w, Tensor::from_vector(base.shape(), v)).is_ok());
        auto r = bp->squared_error_gradient({x}, target, scale);
        REQUIRE(r.is_ok());
        return r->loss;
      };
      const double h = 1e-5;
      const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
      REQUIRE(bp->set_weight(w, Tensor::from_vector(base.shape(), values)).is_ok());
      INFO(weights[w] << "[" << i << "]");
      CHECK(lg->gradients[w].data<double>()[i] == Approx(numeric).epsilon(1e-5).margin(1e-8));
      ++checked;
    }
  }
  CHECK(checked > 20);
  // A cross-entropy executor refuses the squared error, and the other way round.
  o.loss = BackpropLoss::kCrossEntropy;
  auto ce = Backprop::create(n.t.g, weights, o);
  REQUIRE(ce.is_ok());
  CHECK(!ce->squared_error_gradient({x}, target, 1).is_ok());
  CHECK(!bp->gradient({x}, {0, 1}).is_ok());
  CHECK(!bp->squared_error_gradient({x}, random_tensor(Shape({2, 4, 6, 5}), 7), 1).is_ok());
}

TEST_CASE("blocks end where the graph narrows to one value and hold at most max_layers layers") {
  ResidualNet n = residual_net();
  const Graph& g = n.t.g;
  std::vector<NodeId> layers;
  for (const char* name : {"stem", "c1", "c2", "p1", "p2", "fc"}) layers.push_back(n.t.find(name));
  std::vector<NodeId> outside;
  auto three = partition_blocks(g, layers, 3, &outside);
  REQUIRE(three.is_ok());
  CHECK(outside.empty());
  REQUIRE(three->size() == 2);
  CHECK((*three)[0].input == "x");
  CHECK((*three)[0].output == "add_out");
  CHECK(layer_names(g, (*three)[0]) == std::vector<std::string>{"stem", "c1", "c2"});
  CHECK((*three)[1].input == "add_out");
  CHECK((*three)[1].output == "fc_out");  // the trailing Softmax has nothing to learn
  CHECK(layer_names(g, (*three)[1]) == std::vector<std::string>{"p1", "p2", "fc"});

  // One layer per block, except the residual block, whose two convs no cut separates; the pool
  // and Flatten join the block before them.
  auto one = partition_blocks(g, layers, 1);
  REQUIRE(one.is_ok());
  REQUIRE(one->size() == 5);
  CHECK(layer_names(g, (*one)[1]) == std::vector<std::string>{"c1", "c2"});
  CHECK((*one)[1].input == "stem_relu_out");
  CHECK((*one)[3].output == "flatten_out");
  CHECK((*one)[4].input == "flatten_out");

  // Two graph inputs that meet only at the Add: the convs before it belong to no block.
  TestGraph t;
  ValueId a = t.input("a", Shape({1, 2, 4, 4}));
  ValueId b = t.input("b", Shape({1, 2, 4, 4}));
  ValueId sum = t.node(OpKind::kAdd, "sum", {t.conv("ca", a, 2), t.conv("cb", b, 2)});
  t.output(t.conv("cc", sum, 2));
  std::vector<NodeId> two_input_outside;
  auto two = partition_blocks(t.g, {t.find("ca"), t.find("cb"), t.find("cc")}, 3, &two_input_outside);
  REQUIRE(two.is_ok());
  REQUIRE(two->size() == 1);
  CHECK(layer_names(t.g, (*two)[0]) == std::vector<std::string>{"cc"});
  CHECK(two_input_outside.size() == 2);
}

TEST_CASE("block-wise AdaRound keeps weights on the grid and beats round-to-nearest on the demo model") {
  const std::string model_path = source_dir() + "/examples/models/fmnist_tiny_cnn.onnx";
  auto model = import_onnx_file(require_file(model_path));
  REQUIRE(model.is_ok());
  const Tensor calib = load_images(model_path, shared_path("data/fashion-mnist/calib"), 128);
  const Tensor val = load_images(model_path, shared_path("data/fashion-mnist/val"), 256);
  auto float_graph = prepare_float_graph(*model);
  REQUIRE(float_graph.is_ok());
  enum class Mode { kNearest, kLayers, kBlocks };
  auto quantize_with = [&](Mode mode) {
    RuleSet rules = default_rule_set();
    QuantFlags flags;
    flags.w_bits = 3;
    flags.per_channel = true;
    REQUIRE(apply_flags(rules, flags).is_ok());
    rules.algorithms.rounding = mode == Mode::kNearest ? WeightRoundingAlgorithm::kNearest : WeightRoundingAlgorithm::kAdaRound;
    rules.algorithms.adaround_blocks = mode == Mode::kBlocks;
    // A short layer-wise run leaves the block-wise refinement something to find.
    rules.algorithms.adaround_iterations = 20;
    rules.algorithms.adaround_block_iterations = 150;
    rules.algorithms.bias_correction = false;
    auto q = quantize_graph(*model, rules, "full", tensor_batch_passes(calib, 32));
    INFO(q.status().message());
    REQUIRE(q.is_ok());
    return std::move(q).value();
  };
  const Graph nearest = quantize_with(Mode::kNearest);
  const Graph layers = quantize_with(Mode::kLayers);
  const Graph blocks = quantize_with(Mode::kBlocks);
  const int on_grid = check_weights_on_grid(blocks);
  int changed = 0;
  for (size_t id = 0; id < blocks.num_nodes(); ++id) {
    const Node& node = blocks.node(static_cast<NodeId>(id));
    if (!node.alive || node.op != OpKind::kFakeQuant || !blocks.value(node.inputs[0]).is_constant()) continue;
    if (node.name.find("weight_quant") == std::string::npos) continue;
    auto p = read_quant_params(blocks, static_cast<NodeId>(id));
    REQUIRE(p.is_ok());
    const Tensor& w = blocks.value(node.inputs[0]).constant;
    // Against round-to-nearest of the same quantizer: every element moves by at most one step.
    const NodeId same = [&] {
      for (size_t j = 0; j < nearest.num_nodes(); ++j) {
        if (nearest.node(static_cast<NodeId>(j)).alive && nearest.node(static_cast<NodeId>(j)).name == node.name) {
          return static_cast<NodeId>(j);
        }
      }
      return kNoNode;
    }();
    REQUIRE(same != kNoNode);
    auto rtn = fake_quantize(nearest.value(nearest.node(same).inputs[0]).constant, *p);
    REQUIRE(rtn.is_ok());
    const std::vector<float> scale = [&] {
      auto s = broadcast_to(p->scale, w.shape());
      REQUIRE(s.is_ok());
      return *s;
    }();
    for (int64_t i = 0; i < w.numel(); ++i) {
      const double steps = std::abs(double(w.data<float>()[i]) - rtn->data<float>()[i]) / scale[static_cast<size_t>(i)];
      REQUIRE(steps <= 1.0 + 1e-4);
      changed += steps > 0.5;
    }
  }
  CHECK(on_grid >= 3);
  CHECK(changed > 0);

  // Closer to float than round-to-nearest on images the reconstruction never saw.
  const double e_nearest = compare_with_float(*float_graph, nearest, val).logit_mse,
               e_layers = compare_with_float(*float_graph, layers, val).logit_mse,
               e_blocks = compare_with_float(*float_graph, blocks, val).logit_mse;
  std::printf("block-wise AdaRound W3: logit MSE %.5f, layer-wise %.5f, round-to-nearest %.5f, %d weights off nearest\n",
              e_blocks, e_layers, e_nearest, changed);
  CHECK(e_blocks < 0.8 * e_nearest);
  // Each block keeps layer-wise AdaRound's rounding unless its own is better on the PTQ images;
  // on held-out images it may lose a little, not much.
  CHECK(e_blocks < 1.25 * e_layers);
}

TEST_CASE("block-wise AdaRound reports each block and refuses bad options") {
  ResidualNet n = residual_net();
  BlockReconstructionOptions o;
  o.batch_size = 0;
  Graph q = n.t.g;
  QuantPlan plan;
  auto r = reconstruct_blocks(n.t.g, q, plan, [] { return Result<BatchSource>(BatchSource()); }, o);
  REQUIRE(!r.is_ok());
  CHECK(r.status().message().find("batch size") != std::string::npos);
}

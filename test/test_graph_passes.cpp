// Each load-time pass changes the graph as its pattern comment says and leaves the numbers
// alone: the optimized session's outputs equal the unoptimized one's.
#include <catch2/catch.hpp>

#include "engine/session.h"
#include "graph/passes/passes.h"
#include "graph/schema.h"
#include "graph/verifier.h"
#include "support/test_support.h"

using namespace qe;

namespace {

int count_ops(const Graph& g, OpKind op) {
  int n = 0;
  for (size_t i = 0; i < g.num_nodes(); ++i) n += g.node(static_cast<NodeId>(i)).alive && g.node(static_cast<NodeId>(i)).op == op;
  return n;
}

// Runs the graph with and without optimization on the same input; returns the optimized graph.
Graph check_same_outputs(const Graph& g, const Tensor& input) {
  SessionOptions plain;
  plain.optimize = false;
  plain.num_threads = 1;
  auto a = Session::create(g, plain);
  REQUIRE(a.is_ok());
  SessionOptions opt;
  opt.num_threads = 1;
  auto b = Session::create(g, opt);
  INFO(b.status().message());
  REQUIRE(b.is_ok());
  auto ra = (*a)->run({input});
  auto rb = (*b)->run({input});
  REQUIRE(ra.is_ok());
  INFO(rb.status().message());
  REQUIRE(rb.is_ok());
  auto d = test::compare((*rb)[0].data<float>(), (*ra)[0].data<float>(), (*ra)[0].numel());
  CHECK(d.max_abs <= 1e-4);
  REQUIRE(verify_graph((*b)->graph()).is_ok());
  return (*b)->graph();
}

Attributes conv_attrs() {
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{3, 3});
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  return a;
}

}  // namespace

TEST_CASE("Conv → BatchNormalization → Relu folds into one Conv with a fused Relu") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape({-1, 3, 8, 8}), true);
  g.add_input(x);
  ValueId w = g.add_constant("w", test::random_tensor(Shape({4, 3, 3, 3}), 1));
  ValueId b = g.add_constant("b", test::random_tensor(Shape({4}), 2));
  ValueId c = g.add_value("c");
  g.add_node(OpKind::kConv, "conv", {x, w, b}, {c}, conv_attrs());
  ValueId gamma = g.add_constant("gamma", test::random_tensor(Shape({4}), 3, 0.5f, 2.f));
  ValueId beta = g.add_constant("beta", test::random_tensor(Shape({4}), 4));
  ValueId mean = g.add_constant("mean", test::random_tensor(Shape({4}), 5));
  ValueId var = g.add_constant("var", test::random_tensor(Shape({4}), 6, 0.1f, 1.f));
  ValueId bn = g.add_value("bn");
  g.add_node(OpKind::kBatchNormalization, "bn", {c, gamma, beta, mean, var}, {bn});
  ValueId y = g.add_value("y");
  g.add_node(OpKind::kRelu, "relu", {bn}, {y});
  g.add_output(y);
  Graph opt = check_same_outputs(g, test::random_tensor(Shape({2, 3, 8, 8}), 7));
  CHECK(count_ops(opt, OpKind::kBatchNormalization) == 0);
  CHECK(count_ops(opt, OpKind::kRelu) == 0);
  REQUIRE(count_ops(opt, OpKind::kConv) == 1);
  CHECK(opt.value(opt.outputs()[0]).name == "y");  // the graph output keeps its name
}

TEST_CASE("x · HardSigmoid(x) becomes HardSwish and fuses into the Conv") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape({1, 3, 6, 6}), true);
  g.add_input(x);
  ValueId w = g.add_constant("w", test::random_tensor(Shape({5, 3, 3, 3}), 1));
  ValueId c = g.add_value("c");
  g.add_node(OpKind::kConv, "conv", {x, w}, {c}, conv_attrs());
  Attributes hs;
  hs.set("alpha", 1.f / 6.f);
  hs.set("beta", 0.5f);
  ValueId gate = g.add_value("gate");
  g.add_node(OpKind::kHardSigmoid, "hs", {c}, {gate}, hs);
  ValueId m = g.add_value("m");
  g.add_node(OpKind::kMul, "mul", {c, gate}, {m});
  ValueId y = g.add_value("y");
  g.add_node(OpKind::kGlobalAveragePool, "gap", {m}, {y});
  g.add_output(y);
  Graph opt = check_same_outputs(g, test::random_tensor(Shape({1, 3, 6, 6}), 8, -4.f, 4.f));
  CHECK(count_ops(opt, OpKind::kMul) == 0);
  CHECK(count_ops(opt, OpKind::kHardSigmoid) == 0);
  CHECK(count_ops(opt, OpKind::kHardSwish) == 0);  // fused into the conv's epilogue
}

TEST_CASE("HardSigmoid with other constants is not HardSwish") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape({1, 8}), true);
  g.add_input(x);
  ValueId gate = g.add_value("gate");
  g.add_node(OpKind::kHardSigmoid, "hs", {x}, {gate});  // defaults α=0.2
  ValueId y = g.add_value("y");
  g.add_node(OpKind::kMul, "mul", {x, gate}, {y});
  g.add_output(y);
  Graph opt = check_same_outputs(g, test::random_tensor(Shape({1, 8}), 9, -4.f, 4.f));
  CHECK(count_ops(opt, OpKind::kMul) == 1);
}

TEST_CASE("Identity and Dropout are removed; constant sub-graphs and Shape chains fold") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape({-1, 2, 3, 4}), true);
  g.add_input(x);
  ValueId id = g.add_value("id");
  g.add_node(OpKind::kIdentity, "identity", {x}, {id});
  ValueId dr = g.add_value("dr");
  g.add_node(OpKind::kDropout, "dropout", {id}, {dr});
  // Reshape(dr, [Shape(dr)[0], -1]) as torch exports flatten with a dynamic batch.
  ValueId shape = g.add_value("shape");
  g.add_node(OpKind::kShape, "shape", {dr}, {shape});
  ValueId zero = g.add_constant("zero", Tensor::scalar<int64_t>(0));
  ValueId batch = g.add_value("batch");
  g.add_node(OpKind::kGather, "gather", {shape, zero}, {batch});
  ValueId axes = g.add_constant("axes", Tensor::from_vector<int64_t>(Shape({1}), {0}));
  ValueId batch1 = g.add_value("batch1");
  g.add_node(OpKind::kUnsqueeze, "unsqueeze", {batch, axes}, {batch1});
  ValueId minus1 = g.add_constant("minus1", Tensor::from_vector<int64_t>(Shape({1}), {-1}));
  ValueId target = g.add_value("target");
  Attributes cat;
  cat.set("axis", int64_t{0});
  g.add_node(OpKind::kConcat, "concat", {batch1, minus1}, {target}, cat);
  ValueId y = g.add_value("y");
  g.add_node(OpKind::kReshape, "reshape", {dr, target}, {y});
  // A dead branch.
  ValueId dead = g.add_value("dead");
  g.add_node(OpKind::kRelu, "unused", {x}, {dead});
  g.add_output(y);

  check_same_outputs(g, test::random_tensor(Shape({3, 2, 3, 4}), 10));
  SessionOptions so;
  auto s = Session::create(g, so);
  REQUIRE(s.is_ok());
  const Graph& opt = (*s)->graph();
  CHECK(count_ops(opt, OpKind::kIdentity) == 0);
  CHECK(count_ops(opt, OpKind::kDropout) == 0);
  CHECK(count_ops(opt, OpKind::kRelu) == 0);
  // With the batch fixed, the whole shape chain folds: only the Reshape runs.
  auto spec = (*s)->specialized_graph({Shape({5, 2, 3, 4})});
  REQUIRE(spec.is_ok());
  CHECK(spec->num_live_nodes() == 1);
  CHECK(spec->value(spec->outputs()[0]).shape == Shape({5, 24}));
}

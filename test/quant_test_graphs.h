// Small float graphs for the rule / policy / FINN-checker tests, built with the Graph API.
// Header-only; shared by test_quant_rules.cpp and test_quant_policy.cpp.
#pragma once

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/session.h"
#include "graph/graph.h"
#include "graph/quant_params.h"
#include "quant/quant_math.h"
#include "graph/schema.h"
#include "support/test_support.h"

namespace qe::test {

class TestGraph {
 public:
  Graph g;

  ValueId input(const std::string& name, Shape shape) {
    ValueId v = g.add_value(name, DType::kF32, std::move(shape), true);
    g.add_input(v);
    return v;
  }

  ValueId constant(const std::string& name, const Shape& shape, float lo = -1.f, float hi = 1.f) {
    return g.add_constant(name, random_tensor(shape, seed_++, lo, hi));
  }

  // Conv with a `k`×`k` kernel, stride 1, "same" padding; weight named `name` + ".weight".
  ValueId conv(const std::string& name, ValueId x, int64_t cout, int64_t k = 3, int64_t group = 1, bool bias = true) {
    const int64_t cin = g.value(x).shape[1];
    ValueId w = constant(name + ".weight", Shape({cout, cin / group, k, k}));
    std::vector<ValueId> in = {x, w};
    if (bias) in.push_back(constant(name + ".bias", Shape({cout})));
    Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{k, k});
    a.set("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
    if (group != 1) a.set("group", group);
    return node(OpKind::kConv, name, in, std::move(a));
  }

  ValueId gemm(const std::string& name, ValueId x, int64_t n, bool bias = true) {
    const int64_t k = g.value(x).shape[1];
    ValueId w = constant(name + ".weight", Shape({n, k}));
    std::vector<ValueId> in = {x, w};
    if (bias) in.push_back(constant(name + ".bias", Shape({n})));
    Attributes a;
    a.set("transB", int64_t{1});
    return node(OpKind::kGemm, name, in, std::move(a));
  }

  // A node with one output named `name` + "_out"; shapes are inferred right away.
  ValueId node(OpKind op, const std::string& name, std::vector<ValueId> inputs, Attributes attrs = {}) {
    ValueId out = g.add_value(name + "_out");
    NodeId id = g.add_node(op, name, std::move(inputs), {out}, std::move(attrs));
    Status st = infer_node(g, id);
    INFO(st.message());
    REQUIRE(st.is_ok());
    return out;
  }

  ValueId relu(const std::string& name, ValueId x) { return node(OpKind::kRelu, name, {x}); }

  void output(ValueId v) { g.add_output(v); }

  NodeId find(const std::string& node_name) const {
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      if (g.node(static_cast<NodeId>(i)).alive && g.node(static_cast<NodeId>(i)).name == node_name)
        return static_cast<NodeId>(i);
    }
    FAIL("no node named " << node_name);
    return kNoNode;
  }

 private:
  uint64_t seed_ = 1;
};

// input [1,8,16,16] → conv1 (3x3, 16) → relu1 → dw (3x3 depthwise) → relu2 → pw (1x1, 32) →
// GlobalAveragePool → Flatten → fc (Gemm 10, named /classifier/fc).
inline TestGraph small_cnn() {
  TestGraph t;
  ValueId x = t.input("input", Shape({1, 8, 16, 16}));
  ValueId a = t.relu("relu1", t.conv("/features/0/conv", x, 16));
  ValueId b = t.relu("relu2", t.conv("/features/1/dw", a, 16, 3, 16));
  ValueId c = t.conv("/features/1/pw", b, 32, 1);
  ValueId p = t.node(OpKind::kGlobalAveragePool, "gap", {c});
  Attributes fa;
  fa.set("axis", int64_t{1});
  ValueId f = t.node(OpKind::kFlatten, "flatten", {p}, std::move(fa));
  t.output(t.gemm("/classifier/fc", f, 10));
  return t;
}

// Every weight FakeQuant's float input is a point of its own grid.
inline int check_weights_on_grid(const Graph& q) {
  int checked = 0;
  for (size_t id = 0; id < q.num_nodes(); ++id) {
    const Node& n = q.node(static_cast<NodeId>(id));
    if (!n.alive || n.op != OpKind::kFakeQuant || !q.value(n.inputs[0]).is_constant()) continue;
    if (n.name.find("weight_quant") == std::string::npos) continue;
    auto p = read_quant_params(q, static_cast<NodeId>(id));
    REQUIRE(p.is_ok());
    const Tensor& w = q.value(n.inputs[0]).constant;
    auto again = fake_quantize(w, *p);
    REQUIRE(again.is_ok());
    for (int64_t i = 0; i < w.numel(); ++i) REQUIRE(again->data<float>()[i] == w.data<float>()[i]);
    ++checked;
  }
  CHECK(checked > 0);
  return checked;
}

// Logits of `quantized` against `float_model` on `val`.
struct Outcome {
  double logit_mse = 0;  // against float, over the val images
  double agreement = 0;  // same top-1 as float
};

inline Outcome compare_with_float(const Graph& float_model, const Graph& quantized, const Tensor& val) {
  auto fs = Session::create(float_model);
  auto qs = Session::create(quantized);
  REQUIRE(fs.is_ok());
  REQUIRE(qs.is_ok());
  auto fy = (*fs)->run({val});
  auto qy = (*qs)->run({val});
  REQUIRE(fy.is_ok());
  REQUIRE(qy.is_ok());
  const Tensor& a = (*fy)[0];
  const Tensor& b = (*qy)[0];
  REQUIRE(a.shape() == b.shape());
  const int64_t n = a.shape()[0], classes = a.numel() / n;
  Outcome o;
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t fa = 0, qa = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const float x = a.data<float>()[i * classes + c], y = b.data<float>()[i * classes + c];
      o.logit_mse += double(x - y) * (x - y);
      if (x > a.data<float>()[i * classes + fa]) fa = c;
      if (y > b.data<float>()[i * classes + qa]) qa = c;
    }
    same += fa == qa;
  }
  o.logit_mse /= static_cast<double>(a.numel());
  o.agreement = static_cast<double>(same) / static_cast<double>(n);
  return o;
}

}  // namespace qe::test

// Shape inference of the data-movement family on graphs with a symbolic batch: the shape
// sub-graphs torch exports (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, the ViT class
// token's ConstantOfShape / Equal / Where / Expand, interpolate's computed sizes) must give the
// right rank and every dim that does not depend on the batch, and keep the batch's name; a
// Session then folds them for concrete batches through the kernels (qe::evaluate_node).
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "engine/session.h"
#include "graph/schema.h"
#include "support/test_support.h"

using namespace qe;

namespace {

struct Builder {
  Graph g;
  int next = 0;

  ValueId input(const std::string& name, DType t, std::vector<int64_t> dims, std::vector<std::string> params = {}) {
    ValueId v = g.add_value(name, t, Shape(dims), true);
    params.resize(dims.size());
    g.value(v).dim_params = params;
    g.add_input(v);
    return v;
  }
  ValueId constant(std::vector<int64_t> v, bool scalar = false) {
    Shape s = scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())};
    return g.add_constant(str_cat("c", next++), Tensor::from_vector(s, v));
  }
  ValueId node(OpKind op, std::vector<ValueId> in, Attributes a = {}) {
    ValueId out = g.add_value(str_cat("v", next++));
    g.add_node(op, str_cat("n", next++), std::move(in), {out}, std::move(a));
    return out;
  }
  const Value& infer(ValueId v) {
    Status st = infer_shapes(g);
    INFO(st.to_string());
    REQUIRE(st.is_ok());
    return g.value(v);
  }
};

Attributes axis(int64_t a) {
  Attributes at;
  at.set("axis", a);
  return at;
}

}  // namespace

TEST_CASE("torch's Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), -1)) keeps the batch") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 196, 768}, {"batch", "", ""});
  ValueId s = b.node(OpKind::kShape, {x});
  ValueId n = b.node(OpKind::kGather, {s, b.constant({0}, true)}, axis(0));
  ValueId u = b.node(OpKind::kUnsqueeze, {n, b.constant({0})});
  ValueId c = b.node(OpKind::kConcat, {u, b.constant({-1})}, axis(0));
  ValueId r = b.node(OpKind::kReshape, {x, c});
  const Value& out = b.infer(r);
  CHECK(out.shape_known);
  CHECK(out.shape == Shape({-1, 150528}));
  CHECK(out.dim_params[0] == "batch");
  CHECK(b.g.value(s).shape == Shape({3}));
  CHECK(b.g.value(s).dtype == DType::kI64);
  CHECK(b.g.value(n).shape == Shape({}));
  CHECK(b.g.value(c).shape == Shape({2}));

  // The head split of attention: [B, N, 768] -> [B, N, 12, 64] with B and N from Shape.
  ValueId n1 = b.node(OpKind::kGather, {s, b.constant({1}, true)}, axis(0));
  ValueId u1 = b.node(OpKind::kUnsqueeze, {n1, b.constant({0})});
  ValueId c2 = b.node(OpKind::kConcat, {u, u1, b.constant({12, 64})}, axis(0));
  ValueId r2 = b.node(OpKind::kReshape, {x, c2});
  CHECK(b.infer(r2).shape == Shape({-1, 196, 12, 64}));
}

TEST_CASE("The ViT class token: Expand(cls, Where(Equal(shape, -1), 1, shape)) then Concat") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 196, 192}, {"batch", "", ""});
  ValueId cls = b.g.add_constant("cls", Tensor(DType::kF32, Shape{1, 1, 192}));
  ValueId s = b.node(OpKind::kShape, {x});
  ValueId n = b.node(OpKind::kGather, {s, b.constant({0}, true)}, axis(0));
  ValueId u = b.node(OpKind::kUnsqueeze, {n, b.constant({0})});
  ValueId shape = b.node(OpKind::kConcat, {u, b.constant({-1}), b.constant({-1})}, axis(0));
  Attributes one;
  one.set("value", Tensor::from_vector(Shape{1}, std::vector<int64_t>{1}));
  ValueId ones = b.node(OpKind::kConstantOfShape, {b.node(OpKind::kShape, {shape})}, one);
  ValueId minus = b.node(OpKind::kMul, {ones, b.constant({-1}, true)});
  ValueId eq = b.node(OpKind::kEqual, {shape, minus});
  ValueId w = b.node(OpKind::kWhere, {eq, ones, shape});
  ValueId e = b.node(OpKind::kExpand, {cls, w});
  ValueId cat = b.node(OpKind::kConcat, {e, x}, axis(1));
  const Value& out = b.infer(cat);
  CHECK(b.g.value(ones).shape == Shape({3}));
  CHECK(b.g.value(e).shape == Shape({-1, 1, 192}));
  CHECK(b.g.value(e).dim_params[0] == "batch");
  CHECK(out.shape == Shape({-1, 197, 192}));
  CHECK(out.dim_params[0] == "batch");
}

TEST_CASE("A session folds the class-token sub-graph for each batch and runs it") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 4, 8}, {"batch", "", ""});
  Tensor cls_value = test::random_tensor(Shape{1, 1, 8}, 77);
  ValueId cls = b.g.add_constant("cls", cls_value);
  ValueId s = b.node(OpKind::kShape, {x});
  ValueId n = b.node(OpKind::kGather, {s, b.constant({0}, true)}, axis(0));
  ValueId u = b.node(OpKind::kUnsqueeze, {n, b.constant({0})});
  ValueId shape = b.node(OpKind::kConcat, {u, b.constant({-1}), b.constant({-1})}, axis(0));
  Attributes one;
  one.set("value", Tensor::from_vector(Shape{1}, std::vector<int64_t>{1}));
  ValueId ones = b.node(OpKind::kConstantOfShape, {b.node(OpKind::kShape, {shape})}, one);
  ValueId eq = b.node(OpKind::kEqual, {shape, b.node(OpKind::kMul, {ones, b.constant({-1}, true)})});
  ValueId e = b.node(OpKind::kExpand, {cls, b.node(OpKind::kWhere, {eq, ones, shape})});
  ValueId cat = b.node(OpKind::kConcat, {e, x}, axis(1));
  // Flatten the tokens back with torch's Reshape(y, [Shape(y)[0], -1]).
  ValueId bs = b.node(OpKind::kGather, {b.node(OpKind::kShape, {cat}), b.constant({0})}, axis(0));
  ValueId flat = b.node(OpKind::kReshape, {cat, b.node(OpKind::kConcat, {bs, b.constant({-1})}, axis(0))});
  b.g.add_output(flat);
  REQUIRE(b.infer(flat).shape == Shape({-1, 40}));
  SessionOptions so;
  so.num_threads = 2;
  auto session = Session::create(std::move(b.g), so);
  INFO(session.status().to_string());
  REQUIRE(session.is_ok());
  for (int64_t batch : {1, 3}) {
    Tensor in = test::random_tensor(Shape{batch, 4, 8}, static_cast<uint64_t>(batch));
    auto out = (*session)->run({in});
    INFO(out.status().to_string());
    REQUIRE(out.is_ok());
    const Tensor& y = (*out)[0];
    REQUIRE(y.shape() == Shape({batch, 40}));
    for (int64_t i = 0; i < batch; ++i) {
      CHECK(std::memcmp(y.data<float>() + i * 40, cls_value.raw(), 8 * sizeof(float)) == 0);
      CHECK(std::memcmp(y.data<float>() + i * 40 + 8, in.data<float>() + i * 32, 32 * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("Shape-like inputs that are not known give the right rank") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 3, 8, 8});
  ValueId target = b.input("target", DType::kI64, {3});
  CHECK(b.infer(b.node(OpKind::kReshape, {x, target})).shape == Shape({-1, -1, -1}));
  ValueId axes = b.input("axes", DType::kI64, {2});
  CHECK(b.infer(b.node(OpKind::kUnsqueeze, {x, axes})).shape.rank() == 6);
  CHECK(b.infer(b.node(OpKind::kSqueeze, {x, b.input("sq", DType::kI64, {1})})).shape.rank() == 3);
  ValueId starts = b.input("starts", DType::kI64, {1});
  const Value& sl = b.infer(b.node(OpKind::kSlice, {x, starts, b.constant({4}), b.constant({2})}));
  CHECK(sl.shape == Shape({-1, 3, -1, 8}));  // only the sliced axis is unknown
  CHECK(b.infer(b.node(OpKind::kConstantOfShape, {target})).shape == Shape({-1, -1, -1}));
  CHECK(b.infer(b.node(OpKind::kExpand, {x, b.input("e", DType::kI64, {4})})).shape == Shape({-1, 3, 8, 8}));
  // Unknown rank stays unknown; Shape of it is 1-D of unknown length.
  ValueId unk = b.g.add_value("unk", DType::kF32);
  b.g.add_input(unk);
  const Value& sh = b.infer(b.node(OpKind::kShape, {unk}));
  CHECK(sh.shape_known);
  CHECK(sh.shape == Shape({-1}));
  CHECK_FALSE(b.infer(b.node(OpKind::kTranspose, {unk})).shape_known);
}

TEST_CASE("Dims that do not depend on the batch are inferred exactly") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 6, 10, 12}, {"N", "", "", ""});
  auto shape_of = [&](ValueId v) { return b.infer(v).shape; };
  CHECK(shape_of(b.node(OpKind::kSlice, {x, b.constant({1, -1}), b.constant({5, 0}), b.constant({1, 3}),
                                         b.constant({2, -3})})) == Shape({-1, 2, 10, 4}));
  CHECK(shape_of(b.node(OpKind::kSlice, {x, b.constant({0}), b.constant({1}), b.constant({0})})) ==
        Shape({-1, 6, 10, 12}));
  Attributes perm;
  perm.set("perm", std::vector<int64_t>{0, 2, 3, 1});
  const Value& t = b.infer(b.node(OpKind::kTranspose, {x}, perm));
  CHECK(t.shape == Shape({-1, 10, 12, 6}));
  CHECK(t.dim_params[0] == "N");
  CHECK(shape_of(b.node(OpKind::kFlatten, {x})) == Shape({-1, 720}));
  CHECK(shape_of(b.node(OpKind::kFlatten, {x}, axis(2))) == Shape({-1, 120}));
  CHECK(shape_of(b.node(OpKind::kGather, {x, b.constant({0, 1, 2})}, axis(1))) == Shape({-1, 3, 10, 12}));
  CHECK(shape_of(b.node(OpKind::kConcat, {x, x}, axis(1))) == Shape({-1, 12, 10, 12}));
  CHECK(shape_of(b.node(OpKind::kConcat, {x, x}, axis(0))) == Shape({-1, 6, 10, 12}));
  CHECK(shape_of(b.node(OpKind::kPad, {x, b.constant({0, 0, 1, 2, 0, 0, 3, 4})})) == Shape({-1, 6, 14, 18}));
  CHECK(shape_of(b.node(OpKind::kUnsqueeze, {x, b.constant({0, -1})})) == Shape({1, -1, 6, 10, 12, 1}));
  CHECK(shape_of(b.node(OpKind::kSqueeze, {b.node(OpKind::kUnsqueeze, {x, b.constant({2})}), b.constant({2})})) ==
        Shape({-1, 6, 10, 12}));
  Attributes to;
  to.set("to", int64_t{10});
  const Value& c = b.infer(b.node(OpKind::kCast, {x}, to));
  CHECK(c.dtype == DType::kF16);
  CHECK(c.dim_params[0] == "N");

  ValueId split_out[3];
  for (auto& v : split_out) v = b.g.add_value("split" + std::to_string(&v - split_out));
  b.g.add_node(OpKind::kSplit, "split", {x, b.constant({1, 2, 3})}, {split_out[0], split_out[1], split_out[2]}, axis(1));
  CHECK(b.infer(split_out[2]).shape == Shape({-1, 3, 10, 12}));
  ValueId halves[2] = {b.g.add_value("h0"), b.g.add_value("h1")};
  b.g.add_node(OpKind::kSplit, "split0", {x}, {halves[0], halves[1]}, axis(0));
  CHECK(b.infer(halves[1]).shape == Shape({-1, 6, 10, 12}));
}

TEST_CASE("Resize with sizes computed from Shape, and with constant scales") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {-1, 3, 20, 30}, {"batch", "", "", ""});
  ValueId s = b.node(OpKind::kShape, {x});
  ValueId nc = b.node(OpKind::kSlice, {s, b.constant({0}), b.constant({2})});
  ValueId sizes = b.node(OpKind::kConcat, {nc, b.constant({64, 48})}, axis(0));
  const Value& r = b.infer(b.node(OpKind::kResize, {x, kNoValue, kNoValue, sizes}));
  CHECK(r.shape == Shape({-1, 3, 64, 48}));
  CHECK(r.dim_params[0] == "batch");
  ValueId scales = b.g.add_constant("scales", Tensor::from_vector(Shape{4}, std::vector<float>{1, 1, 2, 0.5f}));
  CHECK(b.infer(b.node(OpKind::kResize, {x, kNoValue, scales})).shape == Shape({-1, 3, 40, 15}));
  Attributes nearest;
  nearest.set("mode", std::string("nearest"));
  CHECK(b.infer(b.node(OpKind::kUpsample, {x, scales}, nearest)).shape == Shape({-1, 3, 40, 15}));
}

TEST_CASE("Concrete shapes infer every dim, and model errors are reported") {
  Builder b;
  ValueId x = b.input("x", DType::kF32, {2, 3, 4});
  CHECK(b.infer(b.node(OpKind::kReshape, {x, b.constant({0, -1})})).shape == Shape({2, 12}));
  CHECK(b.infer(b.node(OpKind::kShape, {x})).shape == Shape({3}));

  Builder bad;
  ValueId y = bad.input("y", DType::kF32, {2, 3, 4});
  bad.node(OpKind::kReshape, {y, bad.constant({5, -1})});
  Status st = infer_shapes(bad.g);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("Reshape") != std::string::npos);
  CHECK(st.message().find("24") != std::string::npos);

  Builder bad_gather;
  ValueId z = bad_gather.input("z", DType::kF32, {-1, 5});
  bad_gather.node(OpKind::kGather, {z, bad_gather.constant({7})}, axis(1));
  st = infer_shapes(bad_gather.g);
  CHECK(st.message().find("index 7") != std::string::npos);
}

// ONNX import: every shared model against its sidecar JSON, and the old-opset normalisation on
// small models built here with the ONNX protobuf API.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "graph/schema.h"
#include "support/onnx_model_builder.h"
#include "support/test_support.h"

using namespace qe;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> shared_models() {
  std::vector<std::string> out;
  for (const char* dir : {"models", "imagenet/models"}) {
    fs::path d = fs::path(test::shared_dir()) / dir;
    REQUIRE(fs::is_directory(d));
    for (const auto& e : fs::directory_iterator(d)) {
      if (e.path().extension() == ".onnx") out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, int64_t> op_histogram(const Graph& g) {
  std::map<std::string, int64_t> h;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive) h[std::string(op_name(n.op))]++;
  }
  return h;
}

const Tensor* constant_input(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  return v.is_constant() ? &v.constant : nullptr;
}

using test::OnnxModelBuilder;
constexpr int32_t kF = onnx::TensorProto::FLOAT;

Graph import_ok(const OnnxModelBuilder& b) {
  std::string bytes = b.bytes();
  auto r = import_onnx_bytes(bytes.data(), bytes.size(), "", "test model");
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

Status import_error(const OnnxModelBuilder& b) {
  std::string bytes = b.bytes();
  auto r = import_onnx_bytes(bytes.data(), bytes.size(), "", "test model");
  REQUIRE_FALSE(r.is_ok());
  return r.status();
}

// The single live node of a one-op test model.
const Node& only_node(const Graph& g) {
  REQUIRE(g.num_live_nodes() == 1);
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    if (g.node(static_cast<NodeId>(i)).alive) return g.node(static_cast<NodeId>(i));
  }
  FAIL("no live node");
  return g.node(0);
}

std::vector<int64_t> ints_input(const Graph& g, const Node& n, size_t i) {
  const Tensor* t = constant_input(g, n, i);
  REQUIRE(t);
  CHECK(t->dtype() == DType::kI64);
  return t->to_int64_vector();
}

// A one-node model: x (float [2,3,4,5]) → op → y.
OnnxModelBuilder unary_model(int64_t opset, const std::string& op, onnx::NodeProto** node) {
  OnnxModelBuilder b(opset);
  b.input("x", kF, {2, 3, 4, 5});
  *node = b.node(op, {"x"}, {"y"}, "n");
  b.output("y");
  return b;
}

}  // namespace

TEST_CASE("every shared model imports and matches its sidecar") {
  auto models = shared_models();
  REQUIRE(models.size() >= 9);
  for (const auto& path : models) {
    INFO("model " << path);
    OnnxModelInfo info;
    auto r = import_onnx_file(path, {}, &info);
    INFO(r.status().message());
    REQUIRE(r.is_ok());
    const Graph& g = *r;
    std::ifstream jf(fs::path(path).replace_extension(".json"));
    REQUIRE(jf.good());
    auto side = nlohmann::json::parse(jf);

    CHECK(g.opset == 13);
    CHECK(info.opset == 13);
    // Constant nodes became constant values; together with the graph's nodes they are the
    // file's op histogram.
    auto hist = op_histogram(g);
    CHECK(hist.count("Constant") == 0);
    if (info.num_constant_nodes) hist["Constant"] = info.num_constant_nodes;
    CHECK(hist == info.op_counts);
    if (side.contains("onnx") && side["onnx"].contains("op_counts")) {
      auto want = side["onnx"]["op_counts"].get<std::map<std::string, int64_t>>();
      CHECK(hist == want);
      CHECK(info.num_initializer_elements == side["onnx"]["num_initializer_elements"].get<int64_t>());
    }

    int64_t constants = 0, constant_elements = 0;
    for (size_t v = 0; v < g.num_values(); ++v) {
      const Value& val = g.value(static_cast<ValueId>(v));
      if (!val.is_constant()) continue;
      constants++;
      constant_elements += val.constant.numel();
      CHECK(val.dtype == val.constant.dtype());
      CHECK(val.shape == val.constant.shape());
    }
    // Opset-13 ReduceMean/ReduceMax carry their axes as an attribute; the canonical form adds
    // them as one constant input each.
    int64_t reduce_axes = 0;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const Node& n = g.node(static_cast<NodeId>(i));
      if (n.op != OpKind::kReduceMean && n.op != OpKind::kReduceMax) continue;
      CHECK_FALSE(n.attrs.has("axes"));
      const Tensor* axes = constant_input(g, n, 1);
      REQUIRE(axes);
      CHECK(axes->to_int64_vector() == std::vector<int64_t>{-1});
      reduce_axes++;
    }
    CHECK(constants == info.num_initializers + info.num_constant_nodes + reduce_axes);
    CHECK(constant_elements >= info.num_initializer_elements);

    // One float input with the symbolic batch, the sidecar's other dims.
    REQUIRE(g.inputs().size() == 1);
    const Value& in = g.value(g.inputs()[0]);
    CHECK(in.name == side["input_name"].get<std::string>());
    CHECK(in.dtype == DType::kF32);
    REQUIRE(in.shape_known);
    auto want_shape = side["input_shape"].get<std::vector<int64_t>>();
    REQUIRE(in.shape.rank() == want_shape.size());
    CHECK(in.shape[0] == kUnknownDim);
    REQUIRE(in.dim_params.size() == in.shape.rank());
    CHECK(in.dim_params[0] == "batch");
    for (size_t d = 1; d < want_shape.size(); ++d) {
      CHECK(in.shape[d] == want_shape[d]);
      CHECK(in.dim_params[d].empty());
    }
    REQUIRE(g.outputs().size() == 1);
    const Value& out = g.value(g.outputs()[0]);
    CHECK(out.name == side["output_name"].get<std::string>());
    CHECK(out.dtype == DType::kF32);

    // Every node input resolves to a producer, a constant or a graph input.
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const Node& n = g.node(static_cast<NodeId>(i));
      CHECK_FALSE(n.name.empty());
      for (ValueId v : n.inputs) {
        if (v == kNoValue) continue;
        const Value& val = g.value(v);
        CHECK((val.producer != kNoNode || val.is_constant() || g.is_graph_input(v)));
      }
    }
    CHECK(g.topological_order().is_ok());
  }
}

TEST_CASE("ReLU6 Clip bounds from Constant nodes become constant inputs") {
  auto r = import_onnx_file(test::shared_path("models/mobilenet_v2_fmnist64.onnx"));
  REQUIRE(r.is_ok());
  int clips = 0;
  for (size_t i = 0; i < r->num_nodes(); ++i) {
    const Node& n = r->node(static_cast<NodeId>(i));
    if (n.op != OpKind::kClip) continue;
    ++clips;
    const Tensor* lo = constant_input(*r, n, 1);
    const Tensor* hi = constant_input(*r, n, 2);
    REQUIRE(lo);
    REQUIRE(hi);
    CHECK(lo->to_float_vector() == std::vector<float>{0.f});
    CHECK(hi->to_float_vector() == std::vector<float>{6.f});
  }
  CHECK(clips == 35);
}

TEST_CASE("imported shared models pass shape inference to the sidecar output shape") {
  for (const auto& path : shared_models()) {
    INFO("model " << path);
    auto r = import_onnx_file(path);
    REQUIRE(r.is_ok());
    Graph g = std::move(r).value();
    Status st = infer_shapes(g);
    INFO(st.message());
    REQUIRE(st.is_ok());
    const Value& out = g.value(g.outputs()[0]);
    REQUIRE(out.shape_known);
    REQUIRE(out.shape.rank() == 2);
    CHECK(out.shape[0] == kUnknownDim);
    CHECK((out.shape[1] == 10 || out.shape[1] == 1000));
  }
}

TEST_CASE("Clip bounds given as attributes (opset < 11) become inputs") {
  onnx::NodeProto* n;
  auto b = unary_model(6, "Clip", &n);
  OnnxModelBuilder::attr_float(n, "min", 0.f);
  OnnxModelBuilder::attr_float(n, "max", 6.f);
  Graph g = import_ok(b);
  CHECK(g.opset == 6);
  const Node& c = only_node(g);
  CHECK(c.attrs.empty());
  REQUIRE(c.inputs.size() == 3);
  CHECK(constant_input(g, c, 1)->to_float_vector() == std::vector<float>{0.f});
  CHECK(constant_input(g, c, 2)->to_float_vector() == std::vector<float>{6.f});
  CHECK(constant_input(g, c, 1)->dtype() == DType::kF32);

  onnx::NodeProto* n2;
  auto b2 = unary_model(10, "Clip", &n2);
  OnnxModelBuilder::attr_float(n2, "max", 1.5f);
  Graph g2 = import_ok(b2);
  const Node& c2 = only_node(g2);
  REQUIRE(c2.inputs.size() == 3);
  CHECK(c2.inputs[1] == kNoValue);
  CHECK(constant_input(g2, c2, 2)->to_float_vector() == std::vector<float>{1.5f});

  onnx::NodeProto* n3;
  auto b3 = unary_model(11, "Clip", &n3);  // already the canonical form: nothing to rewrite
  Graph g3 = import_ok(b3);
  CHECK(only_node(g3).inputs.size() == 1);
}

TEST_CASE("Slice starts/ends/axes attributes (opset < 10) become inputs") {
  onnx::NodeProto* n;
  auto b = unary_model(9, "Slice", &n);
  OnnxModelBuilder::attr_ints(n, "starts", {0, 1});
  OnnxModelBuilder::attr_ints(n, "ends", {2, -1});
  OnnxModelBuilder::attr_ints(n, "axes", {1, 3});
  Graph g = import_ok(b);
  const Node& s = only_node(g);
  CHECK(s.attrs.empty());
  REQUIRE(s.inputs.size() == 4);
  CHECK(ints_input(g, s, 1) == std::vector<int64_t>{0, 1});
  CHECK(ints_input(g, s, 2) == std::vector<int64_t>{2, -1});
  CHECK(ints_input(g, s, 3) == std::vector<int64_t>{1, 3});

  onnx::NodeProto* n2;
  auto b2 = unary_model(9, "Slice", &n2);
  OnnxModelBuilder::attr_ints(n2, "ends", {1});
  CHECK(import_error(b2).message().find("starts") != std::string::npos);
}

TEST_CASE("Squeeze/Unsqueeze/Split axes and splits (opset < 13) become inputs") {
  onnx::NodeProto* n;
  auto b = unary_model(11, "Unsqueeze", &n);
  OnnxModelBuilder::attr_ints(n, "axes", {0, 5});
  Graph g = import_ok(b);
  CHECK(ints_input(g, only_node(g), 1) == std::vector<int64_t>{0, 5});
  CHECK(only_node(g).attrs.empty());

  auto b2 = unary_model(12, "Squeeze", &n);
  Graph g2 = import_ok(b2);  // no axes: squeeze every 1
  CHECK(only_node(g2).inputs.size() == 1);

  OnnxModelBuilder b3(11);
  b3.input("x", kF, {6, 4});
  auto* sp = b3.node("Split", {"x"}, {"a", "b"}, "split");
  OnnxModelBuilder::attr_int(sp, "axis", 0);
  OnnxModelBuilder::attr_ints(sp, "split", {2, 4});
  b3.output("a");
  b3.output("b");
  Graph g3 = import_ok(b3);
  const Node& s = only_node(g3);
  CHECK(ints_input(g3, s, 1) == std::vector<int64_t>{2, 4});
  CHECK(*s.attrs.get_int("axis", -1) == 0);
  CHECK_FALSE(s.attrs.has("split"));
  CHECK(s.outputs.size() == 2);
}

TEST_CASE("Reduce axes attributes become input 1 below the opset that made them inputs") {
  struct Case {
    const char* op;
    int64_t opset;
    bool moved;
  };
  for (Case c : {Case{"ReduceMean", 13, true}, Case{"ReduceMax", 17, true}, Case{"ReduceSum", 11, true},
                 Case{"ReduceSum", 9, true}}) {
    INFO(c.op << " opset " << c.opset);
    onnx::NodeProto* n;
    auto b = unary_model(c.opset, c.op, &n);
    OnnxModelBuilder::attr_ints(n, "axes", {-1, 1});
    OnnxModelBuilder::attr_int(n, "keepdims", 0);
    Graph g = import_ok(b);
    const Node& r = only_node(g);
    CHECK(ints_input(g, r, 1) == std::vector<int64_t>{-1, 1});
    CHECK_FALSE(r.attrs.has("axes"));
    CHECK(*r.attrs.get_int("keepdims", 1) == 0);
  }
  // Already inputs: left alone.
  OnnxModelBuilder b(18);
  b.input("x", kF, {2, 3});
  b.input("axes", onnx::TensorProto::INT64, {1});
  b.node("ReduceMean", {"x", "axes"}, {"y"}, "r");
  b.output("y");
  Graph g = import_ok(b);
  CHECK(g.is_graph_input(only_node(g).inputs[1]));
}

TEST_CASE("Pad pads/value attributes (opset < 11) become inputs") {
  onnx::NodeProto* n;
  auto b = unary_model(2, "Pad", &n);
  b.model().mutable_opset_import(0)->set_version(10);
  OnnxModelBuilder::attr_ints(n, "pads", {0, 0, 1, 1, 0, 0, 1, 1});
  OnnxModelBuilder::attr_float(n, "value", -2.5f);
  OnnxModelBuilder::attr_string(n, "mode", "constant");
  Graph g = import_ok(b);
  const Node& p = only_node(g);
  CHECK(ints_input(g, p, 1) == std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1});
  CHECK(constant_input(g, p, 2)->to_float_vector() == std::vector<float>{-2.5f});
  CHECK(*p.attrs.get_string("mode", "") == "constant");
  CHECK_FALSE(p.attrs.has("pads"));
}

TEST_CASE("Upsample keeps its op with scales as input 1; Resize-10 gains an empty roi") {
  onnx::NodeProto* n;
  auto b = unary_model(7, "Upsample", &n);
  OnnxModelBuilder::attr_floats(n, "scales", {1.f, 1.f, 2.f, 2.f});
  OnnxModelBuilder::attr_string(n, "mode", "nearest");
  Graph g = import_ok(b);
  const Node& u = only_node(g);
  CHECK(u.op == OpKind::kUpsample);
  CHECK(constant_input(g, u, 1)->to_float_vector() == std::vector<float>{1.f, 1.f, 2.f, 2.f});
  CHECK_FALSE(u.attrs.has("scales"));

  OnnxModelBuilder b2(10);
  b2.input("x", kF, {1, 1, 2, 2});
  b2.initializer_f32("s", {4}, {1.f, 1.f, 2.f, 2.f});
  auto* r = b2.node("Resize", {"x", "s"}, {"y"}, "resize");
  OnnxModelBuilder::attr_string(r, "mode", "nearest");
  b2.output("y");
  Graph g2 = import_ok(b2);
  const Node& rs = only_node(g2);
  REQUIRE(rs.inputs.size() == 3);
  CHECK(rs.inputs[1] == kNoValue);
  CHECK(g2.value(rs.inputs[2]).name == "s");
  CHECK(*rs.attrs.get_string("coordinate_transformation_mode", "") == "asymmetric");
  CHECK(*rs.attrs.get_string("nearest_mode", "") == "floor");

  // Opset 11-12: roi and scales present as empty tensors when sizes are given; canonical omits them.
  OnnxModelBuilder b3(11);
  b3.input("x", kF, {1, 1, 2, 2});
  b3.initializer_f32("roi", {0}, {});
  b3.initializer_f32("scales", {0}, {});
  std::vector<int64_t> sizes = {1, 1, 4, 4};
  b3.initializer_raw("sizes", onnx::TensorProto::INT64, {4}, sizes.data(), sizes.size() * 8);
  b3.node("Resize", {"x", "roi", "scales", "sizes"}, {"y"}, "resize");
  b3.output("y");
  Graph g3 = import_ok(b3);
  const Node& rs3 = only_node(g3);
  REQUIRE(rs3.inputs.size() == 4);
  CHECK(rs3.inputs[1] == kNoValue);
  CHECK(rs3.inputs[2] == kNoValue);
  CHECK(ints_input(g3, rs3, 3) == sizes);
}

TEST_CASE("BatchNormalization, Dropout and Gemm legacy attributes") {
  auto bn_model = [](int64_t opset, int64_t spatial) {
    OnnxModelBuilder b(opset);
    b.input("x", kF, {1, 2, 3, 3});
    for (const char* p : {"s", "b", "m", "v"}) b.initializer_f32(p, {2}, {1.f, 1.f});
    auto* n = b.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, "bn");
    OnnxModelBuilder::attr_int(n, "spatial", spatial);
    b.output("y");
    return b;
  };
  Graph g = import_ok(bn_model(7, 1));
  CHECK_FALSE(only_node(g).attrs.has("spatial"));
  Status st = import_error(bn_model(8, 0));
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK(st.message().find("spatial") != std::string::npos);
  CHECK(st.message().find("'bn'") != std::string::npos);

  onnx::NodeProto* n;
  auto d = unary_model(10, "Dropout", &n);
  OnnxModelBuilder::attr_float(n, "ratio", 0.3f);
  Graph gd = import_ok(d);
  CHECK(only_node(gd).attrs.empty());

  OnnxModelBuilder gm(6);
  gm.input("a", kF, {2, 3});
  gm.initializer_f32("w", {3, 4}, std::vector<float>(12, 1.f));
  gm.initializer_f32("c", {4}, std::vector<float>(4, 0.f));
  auto* gn = gm.node("Gemm", {"a", "w", "c"}, {"y"}, "gemm");
  OnnxModelBuilder::attr_int(gn, "broadcast", 1);
  OnnxModelBuilder::attr_float(gn, "alpha", 2.f);
  gm.output("y");
  Graph gg = import_ok(gm);
  CHECK_FALSE(only_node(gg).attrs.has("broadcast"));
  CHECK(*only_node(gg).attrs.get_float("alpha", 0.f) == 2.f);
}

TEST_CASE("Softmax below opset 13 gets an explicit axis and the 2-D coercion flag") {
  onnx::NodeProto* n;
  auto b = unary_model(11, "Softmax", &n);
  Graph g = import_ok(b);
  CHECK(*only_node(g).attrs.get_int("axis", -7) == 1);  // the old default
  CHECK(*only_node(g).attrs.get_int("_coerce_2d", 0) == 1);

  auto b13 = unary_model(13, "Softmax", &n);
  Graph g13 = import_ok(b13);
  CHECK_FALSE(only_node(g13).attrs.has("_coerce_2d"));
  CHECK_FALSE(only_node(g13).attrs.has("axis"));
}

TEST_CASE("initializers from every typed field and dtype") {
  OnnxModelBuilder b(13);
  b.input("x", kF, {1});
  auto* f = b.initializer("f", onnx::TensorProto::FLOAT, {2});
  f->add_float_data(1.5f);
  f->add_float_data(-2.f);
  auto* h = b.initializer("h", onnx::TensorProto::FLOAT16, {2});
  h->add_int32_data(0x3C00);  // 1.0
  h->add_int32_data(0xC000);  // -2.0
  auto* bf = b.initializer("bf", onnx::TensorProto::BFLOAT16, {1});
  bf->add_int32_data(0x3FC0);  // 1.5
  auto* bo = b.initializer("bo", onnx::TensorProto::BOOL, {3});
  for (int v : {0, 1, 5}) bo->add_int32_data(v);
  auto* i8 = b.initializer("i8", onnx::TensorProto::INT8, {2});
  i8->add_int32_data(-128);
  i8->add_int32_data(127);
  auto* u8 = b.initializer("u8", onnx::TensorProto::UINT8, {1});
  u8->add_int32_data(255);
  auto* i16 = b.initializer("i16", onnx::TensorProto::INT16, {1});
  i16->add_int32_data(-300);
  auto* u16 = b.initializer("u16", onnx::TensorProto::UINT16, {1});
  u16->add_int32_data(65535);
  auto* i32 = b.initializer("i32", onnx::TensorProto::INT32, {1});
  i32->add_int32_data(-70000);
  auto* i64 = b.initializer("i64", onnx::TensorProto::INT64, {2});
  i64->add_int64_data(int64_t{1} << 40);
  i64->add_int64_data(-1);
  auto* dbl = b.initializer("dbl", onnx::TensorProto::DOUBLE, {1});
  dbl->add_double_data(0.25);
  auto* u32 = b.initializer("u32", onnx::TensorProto::UINT32, {1});
  u32->add_uint64_data(4000000000u);
  auto* u64 = b.initializer("u64", onnx::TensorProto::UINT64, {1});
  u64->add_uint64_data(uint64_t{1} << 63);
  // int4: three elements packed into two bytes, one int32 per byte.
  auto* i4 = b.initializer("i4", 22, {3});
  i4->add_int32_data(0x9F);  // elements -1 (0xF), -7 (0x9)
  i4->add_int32_data(0xF3);  // element 3; the high nibble is padding and must be cleared
  auto* u4 = b.initializer("u4", 21, {2});
  u4->add_int32_data(0xA5);  // 5, 10
  const uint8_t raw_i4[2] = {0x21, 0xE3};  // 1, 2, 3 (+ padding 0xE)
  b.initializer_raw("i4raw", 22, {3}, raw_i4, 2);
  b.node("Identity", {"x"}, {"y"}, "id");
  b.output("y");
  Graph g = import_ok(b);
  auto c = [&](const char* name) -> const Tensor& {
    ValueId v = g.find_value(name);
    REQUIRE(v != kNoValue);
    REQUIRE(g.value(v).is_constant());
    return g.value(v).constant;
  };
  CHECK(c("f").to_float_vector() == std::vector<float>{1.5f, -2.f});
  CHECK(c("h").dtype() == DType::kF16);
  CHECK(c("h").to_float_vector() == std::vector<float>{1.f, -2.f});
  CHECK(c("bf").to_float_vector() == std::vector<float>{1.5f});
  CHECK(c("bo").dtype() == DType::kBool);
  CHECK(std::vector<uint8_t>(c("bo").data<uint8_t>(), c("bo").data<uint8_t>() + 3) == std::vector<uint8_t>{0, 1, 1});
  CHECK(c("i8").to_int64_vector() == std::vector<int64_t>{-128, 127});
  CHECK(c("u8").to_int64_vector() == std::vector<int64_t>{255});
  CHECK(c("i16").to_int64_vector() == std::vector<int64_t>{-300});
  CHECK(c("u16").to_int64_vector() == std::vector<int64_t>{65535});
  CHECK(c("i32").to_int64_vector() == std::vector<int64_t>{-70000});
  CHECK(c("i64").to_int64_vector() == std::vector<int64_t>{int64_t{1} << 40, -1});
  CHECK(c("dbl").to_float_vector() == std::vector<float>{0.25f});
  CHECK(c("u32").data<uint32_t>()[0] == 4000000000u);
  CHECK(c("u64").data<uint64_t>()[0] == (uint64_t{1} << 63));
  REQUIRE(c("i4").dtype() == DType::kI4);
  CHECK(c("i4").bytes() == 2);
  CHECK(c("i4").to_int64_vector() == std::vector<int64_t>{-1, -7, 3});
  CHECK(c("i4").data<uint8_t>()[1] == 0x03);
  CHECK(c("u4").to_int64_vector() == std::vector<int64_t>{5, 10});
  CHECK(c("i4raw").to_int64_vector() == std::vector<int64_t>{1, 2, 3});
  CHECK(c("i4raw").data<uint8_t>()[1] == 0x03);
}

TEST_CASE("old-IR inputs that are initializers become constants; dim_params are recorded") {
  OnnxModelBuilder b(8, 3);
  b.input("x", kF, {-1, 3, -1, -1}, {"batch", "", "height", ""});
  b.input("w", kF, {3});  // listed as an input as well, as IR < 4 required
  b.initializer_f32("w", {3}, {1.f, 2.f, 3.f});
  b.node("Mul", {"x", "w"}, {"y"}, "mul");
  b.output("y");
  Graph g = import_ok(b);
  REQUIRE(g.inputs().size() == 1);
  const Value& x = g.value(g.inputs()[0]);
  CHECK(x.name == "x");
  CHECK(x.shape == Shape({-1, 3, -1, -1}));
  CHECK(x.dim_params == std::vector<std::string>{"batch", "", "height", ""});
  ValueId w = g.find_value("w");
  CHECK(g.value(w).is_constant());
  CHECK_FALSE(g.is_graph_input(w));
}

TEST_CASE("Constant nodes of every value attribute become constants") {
  OnnxModelBuilder b(13);
  b.input("x", kF, {2});
  auto* c1 = b.node("Constant", {}, {"cf"});
  OnnxModelBuilder::attr_float(c1, "value_float", 2.5f);
  auto* c2 = b.node("Constant", {}, {"ci"});
  OnnxModelBuilder::attr_ints(c2, "value_ints", {4, 5});
  auto* c3 = b.node("Constant", {}, {"ct"});
  auto* a = c3->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(2);
  a->mutable_t()->add_float_data(7.f);
  a->mutable_t()->add_float_data(8.f);
  b.node("Add", {"x", "ct"}, {"s"}, "add");
  b.node("Mul", {"s", "cf"}, {"y"}, "mul");
  b.output("y");
  b.output("ci", onnx::TensorProto::INT64);
  Graph g = import_ok(b);
  CHECK(g.num_live_nodes() == 2);
  CHECK(g.value(g.find_value("cf")).constant.to_float_vector() == std::vector<float>{2.5f});
  CHECK(g.value(g.find_value("cf")).constant.shape().rank() == 0);
  CHECK(g.value(g.find_value("ci")).constant.to_int64_vector() == std::vector<int64_t>{4, 5});
  CHECK(g.value(g.find_value("ct")).constant.to_float_vector() == std::vector<float>{7.f, 8.f});
  CHECK(g.is_graph_output(g.find_value("ci")));
}

TEST_CASE("attributes of every supported type; unnamed nodes get unique names") {
  OnnxModelBuilder b(13);
  b.input("x", kF, {1, 1, 4, 4});
  b.initializer_f32("w", {1, 1, 3, 3}, std::vector<float>(9, 1.f));
  auto* conv = b.node("Conv", {"x", "w"}, {"c"});  // unnamed
  OnnxModelBuilder::attr_ints(conv, "pads", {1, 1, 1, 1});
  OnnxModelBuilder::attr_string(conv, "auto_pad", "NOTSET");
  auto* r1 = b.node("Relu", {"c"}, {"r1"});  // unnamed
  (void)r1;
  b.node("Relu", {"r1"}, {"r2"}, "Relu_1");  // a name the generator would pick
  auto* cs = b.node("ConstantOfShape", {"shape"}, {"z"});
  auto* t = cs->add_attribute();
  t->set_name("value");
  t->set_type(onnx::AttributeProto::TENSOR);
  t->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  t->mutable_t()->add_dims(1);
  t->mutable_t()->add_float_data(0.5f);
  std::vector<int64_t> shp = {2};
  b.initializer_raw("shape", onnx::TensorProto::INT64, {1}, shp.data(), 8);
  b.output("r2");
  b.output("z");
  Graph g = import_ok(b);
  std::set<std::string> names;
  for (size_t i = 0; i < g.num_nodes(); ++i) names.insert(g.node(static_cast<NodeId>(i)).name);
  CHECK(names.size() == g.num_nodes());
  CHECK(names.count("Conv_0") == 1);
  CHECK(names.count("Relu_1") == 1);
  const Node& c = g.node(0);
  CHECK(*c.attrs.get_ints("pads") == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(*c.attrs.get_string("auto_pad", "") == "NOTSET");
  const Node& z = g.node(static_cast<NodeId>(g.value(g.find_value("z")).producer));
  auto zt = z.attrs.get_tensor("value");
  REQUIRE(zt.is_ok());
  CHECK(zt->to_float_vector() == std::vector<float>{0.5f});
}

TEST_CASE("nodes out of dependency order import and sort") {
  OnnxModelBuilder b(13);
  b.input("x", kF, {2});
  b.node("Relu", {"a"}, {"y"}, "second");
  b.node("Neg", {"x"}, {"a"}, "first");
  b.output("y");
  Graph g = import_ok(b);
  auto order = g.topological_order();
  REQUIRE(order.is_ok());
  REQUIRE(order->size() == 2);
  CHECK(g.node((*order)[0]).name == "first");
}

TEST_CASE("external data next to the model is read at its offset") {
  fs::path dir = fs::path(test::binary_dir()) / "onnx_import_external";
  fs::remove_all(dir);
  fs::create_directories(dir / "weights");
  std::vector<float> w = {1.f, 2.f, 3.f, 4.f};
  {
    std::ofstream f(dir / "weights" / "w.bin", std::ios::binary);
    f.write("PADDING!", 8);
    f.write(reinterpret_cast<const char*>(w.data()), 16);
  }
  OnnxModelBuilder b(13);
  b.input("x", kF, {4});
  auto* t = b.initializer("w", kF, {4});
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add_kv = [&](const char* k, const char* v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add_kv("location", "weights/w.bin");
  add_kv("offset", "8");
  add_kv("length", "16");
  b.node("Add", {"x", "w"}, {"y"}, "add");
  b.output("y");
  {
    std::ofstream f(dir / "model.onnx", std::ios::binary);
    std::string bytes = b.bytes();
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto r = import_onnx_file((dir / "model.onnx").string());
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  CHECK(r->value(r->find_value("w")).constant.to_float_vector() == w);
  fs::remove_all(dir);
}

TEST_CASE("opsets 1-6: consumed_inputs, Reshape shape, Cast type names, Concat axis, legacy broadcast") {
  OnnxModelBuilder b(1, 3);
  b.input("x", kF, {2, 3, 4});
  b.input("y", kF, {3});
  b.initializer_f32("c", {3}, {1.f, 2.f, 3.f});
  b.initializer_f32("c4", {4}, {0.5f, -1.f, 2.f, 4.f});
  auto* relu = b.node("Relu", {"x"}, {"r"}, "relu");
  OnnxModelBuilder::attr_ints(relu, "consumed_inputs", {0});
  // c aligned with axis 1 of r, whose rank the file does not declare: fixed up at run time.
  auto* add = b.node("Add", {"r", "c"}, {"a"}, "add_const");
  OnnxModelBuilder::attr_int(add, "broadcast", 1);
  OnnxModelBuilder::attr_int(add, "axis", 1);
  auto* vi = b.graph().add_value_info();
  vi->set_name("a");
  OnnxModelBuilder::set_type(vi, kF, {2, 3, 4});
  // y aligned with axis 1 of a, whose shape is declared: a static Unsqueeze.
  auto* mul = b.node("Mul", {"a", "y"}, {"m"}, "mul_input");
  OnnxModelBuilder::attr_int(mul, "broadcast", 1);
  OnnxModelBuilder::attr_int(mul, "axis", 1);
  auto* sub = b.node("Sub", {"m", "c4"}, {"s"}, "sub_trailing");  // no axis: numpy-style already
  OnnxModelBuilder::attr_int(sub, "broadcast", 1);
  auto* reshape = b.node("Reshape", {"s"}, {"rs"}, "reshape");
  OnnxModelBuilder::attr_ints(reshape, "shape", {6, 4});
  auto* cast = b.node("Cast", {"rs"}, {"cs"}, "cast");
  OnnxModelBuilder::attr_string(cast, "to", "DOUBLE");
  b.node("Concat", {"cs", "cs"}, {"out"}, "concat");
  b.output("out", onnx::TensorProto::DOUBLE);
  Graph g = import_ok(b);
  CHECK(g.opset == 1);
  auto node = [&](const char* name) -> const Node& {
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      if (g.node(static_cast<NodeId>(i)).name == name) return g.node(static_cast<NodeId>(i));
    }
    FAIL("no node " << name);
    return g.node(0);
  };
  CHECK(node("relu").attrs.empty());
  CHECK(node("add_const").attrs.empty());
  CHECK(g.node(g.value(node("add_const").inputs[1]).producer).op == OpKind::kReshape);
  ValueId yb = node("mul_input").inputs[1];
  REQUIRE(g.value(yb).producer != kNoNode);
  const Node& unsq = g.node(g.value(yb).producer);
  CHECK(unsq.op == OpKind::kUnsqueeze);
  CHECK(g.value(unsq.inputs[0]).name == "y");
  CHECK(ints_input(g, unsq, 1) == std::vector<int64_t>{1});
  CHECK(node("sub_trailing").inputs[1] == g.find_value("c4"));
  CHECK(node("sub_trailing").attrs.empty());
  CHECK(ints_input(g, node("reshape"), 1) == std::vector<int64_t>{6, 4});
  CHECK(*node("cast").attrs.get_int("to", 0) == onnx::TensorProto::DOUBLE);
  CHECK(*node("concat").attrs.get_int("axis", -1) == 1);

  // And the normalised graph computes what opset 1 meant.
  auto session = Session::create(std::move(g));
  INFO(session.status().message());
  REQUIRE(session.is_ok());
  Tensor x = test::random_tensor(Shape{2, 3, 4}, 3);
  Tensor y = test::random_tensor(Shape{3}, 4);
  auto out = (*session)->run({x, y});
  INFO(out.status().message());
  REQUIRE(out.is_ok());
  const Tensor& o = (*out)[0];
  REQUIRE(o.shape() == Shape({6, 8}));
  REQUIRE(o.dtype() == DType::kF64);
  const float c[3] = {1.f, 2.f, 3.f};
  const float c4[4] = {0.5f, -1.f, 2.f, 4.f};
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) {
        const int flat = (i * 3 + j) * 4 + k;
        float r = std::max(x.data<float>()[flat], 0.f);
        float want = (r + c[j]) * y.data<float>()[j] - c4[k];
        const int row = flat / 4;
        INFO("element " << i << "," << j << "," << k);
        CHECK(o.data<double>()[row * 8 + k] == Approx(want).margin(1e-6));
        CHECK(o.data<double>()[row * 8 + 4 + k] == Approx(want).margin(1e-6));
      }
    }
  }
}

// QONNX and QCDQ import / export: small quantized graphs built with the IR API are exported in
// both forms and imported back (outputs bit-identical to the in-memory graph, quantizer
// parameters unchanged); the files' structure (node types, domains, opset imports, initializer
// types, int4 packing); hand-built QONNX files from every domain and spelling and hand-built
// QCDQ chains; and the clear errors for what cannot be read or written.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "engine/session.h"
#include "frontends/onnx/onnx_export.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "graph/quant_params.h"
#include "graph/schema.h"
#include "support/onnx_model_builder.h"
#include "support/test_support.h"

using namespace qe;
namespace fs = std::filesystem;
using test::OnnxModelBuilder;

namespace {

constexpr const char* kQonnx = "qonnx.custom_op.general";

Tensor f32(Shape shape, std::vector<float> v) { return Tensor::from_vector(std::move(shape), v); }

QuantParams int_params(int bits, bool is_signed, bool narrow, Tensor scale, int axis = -1, Tensor zp = {}) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.narrow = narrow;
  p.axis = axis;
  p.scale = std::move(scale);
  p.zero_point = zp.defined() ? zp : Tensor(DType::kF32, p.scale.shape());
  return p;
}

ValueId fq(Graph& g, ValueId x, const QuantParams& p, const std::string& name) {
  auto r = add_fake_quant(g, x, p, name);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return *r;
}

ValueId op(Graph& g, OpKind k, const std::string& name, std::vector<ValueId> in, Attributes a = {}) {
  ValueId out = g.add_value(name + "_out");
  g.add_node(k, name, std::move(in), {out}, std::move(a));
  return out;
}

// Per-output-channel abs-max scales of a weight for a signed grid of `max_int`.
Tensor channel_scales(const Tensor& w, int max_int, Shape shape) {
  const int64_t c = w.shape()[0], inner = w.numel() / c;
  std::vector<float> s(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    float m = 0;
    for (int64_t k = 0; k < inner; ++k) m = std::max(m, std::fabs(w.data<float>()[i * inner + k]));
    s[static_cast<size_t>(i)] = m / static_cast<float>(max_int);
  }
  return f32(std::move(shape), s);
}

// x [2,3,9,9] → Q8 → Conv(W per-channel 4-bit narrow, bias int32) → Relu → Qu4 → AveragePool 3x3
// → (Trunc v2 | Qu8 asymmetric) → Flatten → Qs8 (odd zero point) → Gemm(W 8-bit, bias int32) → y.
// `exotic` adds a FloatQuant (e4m3) output and a BipolarQuant output (QONNX only).
Graph conv_net(bool with_trunc, bool exotic) {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{2, 3, 9, 9}, true);
  g.value(x).dim_params.assign(4, "");
  g.add_input(x);
  const float s_in = 1.f / 32;
  ValueId a0 = fq(g, x, int_params(8, true, false, Tensor::scalar(s_in)), "in_q");
  Tensor w = test::random_tensor(Shape{4, 3, 3, 3}, 11);
  Tensor ws = channel_scales(w, 7, Shape{4, 1, 1, 1});
  ValueId wq = fq(g, g.add_constant("conv_w", w), int_params(4, true, true, ws, 0), "conv_w_q");
  std::vector<float> bs(4);
  for (int i = 0; i < 4; ++i) bs[static_cast<size_t>(i)] = s_in * ws.data<float>()[i];
  ValueId bq = fq(g, g.add_constant("conv_b", test::random_tensor(Shape{4}, 12)), int_params(32, true, false, f32(Shape{4}, bs), 0),
                  "conv_b_q");
  Attributes ca;
  ca.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  ValueId conv = op(g, OpKind::kConv, "conv", {a0, wq, bq}, ca);
  ValueId relu = op(g, OpKind::kRelu, "relu", {conv});
  const float s_relu = 0.125f;
  ValueId a1 = fq(g, relu, int_params(4, false, false, Tensor::scalar(s_relu)), "relu_q");
  Attributes pa;
  pa.set("kernel_shape", std::vector<int64_t>{3, 3});
  pa.set("strides", std::vector<int64_t>{3, 3});
  ValueId pool = op(g, OpKind::kAveragePool, "pool", {a1}, pa);
  ValueId pooled;
  if (with_trunc) {
    // FINN's quantized average pool: the pooled value sits on the grid s/9 (the integer sum);
    // keep 4 bits of it, dropping ceil(log2 9) = 4 bits with FLOOR.
    Attributes ta;
    ta.set("rounding_mode", std::string("FLOOR"));
    ta.set("signed", int64_t{0});
    ta.set("narrow", int64_t{0});
    ta.set("version", int64_t{2});
    std::vector<ValueId> in = {pool,
                               g.add_constant("trunc_scale", Tensor::scalar(s_relu / 9)),
                               g.add_constant("trunc_zp", Tensor::scalar(0.f)),
                               g.add_constant("trunc_in_bits", Tensor::scalar(8.f)),
                               g.add_constant("trunc_out_scale", Tensor::scalar(s_relu * 16 / 9)),
                               g.add_constant("trunc_out_bits", Tensor::scalar(4.f))};
    pooled = op(g, OpKind::kTrunc, "trunc", in, ta);
  } else {
    pooled = fq(g, pool, int_params(8, false, false, Tensor::scalar(0.01f), -1, Tensor::scalar(20.f)), "pool_q");
  }
  ValueId flat = op(g, OpKind::kFlatten, "flatten", {pooled});
  const float s_flat = 0.02f;
  ValueId fq_flat = fq(g, flat, int_params(8, true, false, Tensor::scalar(s_flat), -1, Tensor::scalar(3.f)), "flat_q");
  Tensor w2 = test::random_tensor(Shape{5, 36}, 13);
  const float s_w2 = 1.f / 127;
  ValueId w2q = fq(g, g.add_constant("fc_w", w2), int_params(8, true, true, Tensor::scalar(s_w2)), "fc_w_q");
  ValueId b2q = fq(g, g.add_constant("fc_b", test::random_tensor(Shape{5}, 14)),
                   int_params(32, true, false, Tensor::scalar(s_flat * s_w2)), "fc_b_q");
  Attributes ga;
  ga.set("transB", int64_t{1});
  ValueId y = op(g, OpKind::kGemm, "fc", {fq_flat, w2q, b2q}, ga);
  if (!exotic) {
    g.add_output(y);
  } else {
    QuantParams fp;
    fp.kind = QuantKind::kFloat;
    fp.minifloat = MinifloatFormat::e4m3();
    fp.bits = 8;
    fp.scale = Tensor::scalar(0.125f);
    g.add_output(fq(g, y, fp, "fp8_q"));
    QuantParams bp;
    bp.kind = QuantKind::kBipolar;
    bp.bits = 1;
    bp.scale = Tensor::scalar(0.5f);
    g.add_output(fq(g, y, bp, "sign_q"));
  }
  Status st = infer_shapes(g);
  INFO(st.message());
  REQUIRE(st.is_ok());
  return g;
}

std::vector<Tensor> run(Graph g, const std::vector<Tensor>& inputs) {
  auto s = Session::create(std::move(g));
  INFO(s.status().message());
  REQUIRE(s.is_ok());
  auto out = (*s)->run(inputs);
  INFO(out.status().message());
  REQUIRE(out.is_ok());
  return std::move(out).value();
}

void require_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("output " << i);
    REQUIRE(a[i].dtype() == b[i].dtype());
    REQUIRE(a[i].shape() == b[i].shape());
    CHECK(std::memcmp(a[i].raw(), b[i].raw(), a[i].bytes()) == 0);
    if (a[i].dtype() == DType::kF32) {
      auto d = test::compare(a[i].data<float>(), b[i].data<float>(), a[i].numel());
      CHECK(d.max_abs == 0);
    }
  }
}

Graph import_bytes(const std::string& bytes, OnnxImportOptions o = {}) {
  auto r = import_onnx_bytes(bytes.data(), bytes.size(), "", "model", o);
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(bytes));
  return m;
}

NodeId node_named(const Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    if (g.node(static_cast<NodeId>(i)).alive && g.node(static_cast<NodeId>(i)).name == name) return static_cast<NodeId>(i);
  }
  FAIL("no node named " << name);
  return kNoNode;
}

std::vector<NodeId> live_nodes(const Graph& g, OpKind k) {
  std::vector<NodeId> out;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    if (g.node(static_cast<NodeId>(i)).alive && g.node(static_cast<NodeId>(i)).op == k) out.push_back(static_cast<NodeId>(i));
  }
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// Every FakeQuant of `a` is in `b` under the same name with the same parameters.
void check_same_quantizers(const Graph& a, const Graph& b, bool compare_grid = true) {
  for (NodeId id : live_nodes(a, OpKind::kFakeQuant)) {
    const std::string name = a.node(id).name;
    INFO("quantizer " << name);
    auto pa = read_quant_params(a, id);
    auto pb = read_quant_params(b, node_named(b, name));
    REQUIRE(pa.is_ok());
    REQUIRE(pb.is_ok());
    CHECK(pa->kind == pb->kind);
    if (compare_grid) {
      CHECK(pa->bits == pb->bits);
      CHECK(pa->is_signed == pb->is_signed);
      CHECK(pa->narrow == pb->narrow);
    }
    CHECK(pa->rounding == pb->rounding);
    CHECK(pa->axis == pb->axis);
    CHECK(same_bytes(pa->scale, pb->scale));
    CHECK(same_bytes(pa->zero_point, pb->zero_point));
    if (pa->kind == QuantKind::kFloat) {
      CHECK(pa->minifloat.exponent_bits == pb->minifloat.exponent_bits);
      CHECK(pa->minifloat.mantissa_bits == pb->minifloat.mantissa_bits);
      CHECK(pa->minifloat.max_val == pb->minifloat.max_val);
      CHECK(pa->minifloat.has_inf == pb->minifloat.has_inf);
      CHECK(pa->minifloat.has_nan == pb->minifloat.has_nan);
    }
  }
}

const onnx::TensorProto& initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == name) return t;
  }
  FAIL("no initializer " << name);
  return m.graph().initializer(0);
}

std::map<std::string, int> op_counts(const onnx::ModelProto& m) {
  std::map<std::string, int> c;
  for (const auto& n : m.graph().node()) c[n.domain() + ":" + n.op_type()]++;
  return c;
}

const onnx::NodeProto& proto_node(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& n : m.graph().node()) {
    if (n.name() == name) return n;
  }
  FAIL("no node " << name);
  return m.graph().node(0);
}

bool has_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return true;
  }
  return false;
}

int64_t opset_of(const onnx::ModelProto& m, const std::string& domain) {
  for (const auto& imp : m.opset_import()) {
    if (imp.domain() == domain) return imp.version();
  }
  return -1;
}

// Reference QONNX Quant (spec formula, double, half to even).
float ref_quant(float x, float s, float z, double lo, double hi) {
  double q = std::nearbyint(static_cast<double>(x) / s + z);
  q = std::min(std::max(q, lo), hi);
  return static_cast<float>((q - z) * s);
}

std::string error_of(const Result<std::string>& r) {
  REQUIRE_FALSE(r.is_ok());
  return r.status().message();
}

}  // namespace

TEST_CASE("QONNX export → import gives bit-identical outputs and the same quantizers") {
  Graph g = conv_net(/*with_trunc=*/true, /*exotic=*/true);
  const std::vector<Tensor> in = {test::random_tensor(Shape{2, 3, 9, 9}, 5, -3.f, 3.f)};
  auto bytes = export_qonnx_bytes(g);
  INFO(bytes.status().message());
  REQUIRE(bytes.is_ok());
  Graph back = import_bytes(*bytes);
  check_same_quantizers(g, back);
  REQUIRE(live_nodes(back, OpKind::kTrunc).size() == 1);
  const Node& t = back.node(live_nodes(back, OpKind::kTrunc)[0]);
  CHECK(t.attrs.get_int("version", 0).value() == 2);
  CHECK(t.attrs.get_string("rounding_mode", "").value() == "FLOOR");
  CHECK(t.attrs.get_int("signed", 1).value() == 0);
  const auto expect = run(g, in);
  require_identical(expect, run(back, in));
  // The bipolar output really is ±0.5.
  for (int64_t i = 0; i < expect[1].numel(); ++i) CHECK(std::fabs(expect[1].data<float>()[i]) == 0.5f);
}

TEST_CASE("QONNX files: domain, opset imports, node spellings, explicit attributes, checker") {
  Graph g = conv_net(true, true);
  auto bytes = export_qonnx_bytes(g);
  REQUIRE(bytes.is_ok());
  onnx::ModelProto m = parse(*bytes);
  CHECK_NOTHROW(onnx::checker::check_model(m));
  CHECK(opset_of(m, "") == 13);
  CHECK(opset_of(m, kQonnx) == 2);
  auto counts = op_counts(m);
  CHECK(counts[std::string(kQonnx) + ":Quant"] == 7);
  CHECK(counts[std::string(kQonnx) + ":Trunc"] == 1);
  CHECK(counts[std::string(kQonnx) + ":FloatQuant"] == 1);
  CHECK(counts[std::string(kQonnx) + ":BipolarQuant"] == 1);
  const onnx::NodeProto& w = proto_node(m, "conv_w_q");
  REQUIRE(w.input_size() == 4);
  for (const char* a : {"signed", "narrow", "rounding_mode"}) CHECK(has_attr(w, a));
  const onnx::TensorProto& bw = initializer(m, w.input(3));
  CHECK(bw.data_type() == onnx::TensorProto::FLOAT);
  float bits = 0;
  REQUIRE(bw.raw_data().size() == 4);
  std::memcpy(&bits, bw.raw_data().data(), 4);
  CHECK(bits == 4.f);
  const onnx::TensorProto& ws = initializer(m, w.input(1));
  CHECK(std::vector<int64_t>(ws.dims().begin(), ws.dims().end()) == std::vector<int64_t>{4, 1, 1, 1});
  CHECK(proto_node(m, "trunc").input_size() == 6);
  CHECK(proto_node(m, "sign_q").input_size() == 2);
  const onnx::NodeProto& f = proto_node(m, "fp8_q");
  CHECK(f.input_size() == 6);
  for (const char* a : {"has_inf", "has_nan", "has_subnormal", "saturation", "rounding_mode"}) CHECK(has_attr(f, a));
  // The float weights stay float in QONNX.
  CHECK(initializer(m, "conv_w").data_type() == onnx::TensorProto::FLOAT);

  // Written to a file atomically; the file passes the checker by path and imports.
  fs::path dir = fs::path(test::binary_dir()) / "qonnx_io";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "net.qonnx.onnx").string();
  REQUIRE(export_qonnx(g, path).is_ok());
  CHECK_NOTHROW(onnx::checker::check_model(path));
  CHECK(import_onnx_file(path).is_ok());
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

TEST_CASE("QONNX export of Trunc v1 writes the domain at opset 1; v1 with v2 is an error") {
  Graph g = conv_net(true, false);
  NodeId t = live_nodes(g, OpKind::kTrunc)[0];
  g.node(t).attrs.set("version", int64_t{1});
  g.set_node_input(t, 4, kNoValue);
  auto bytes = export_qonnx_bytes(g);
  INFO(bytes.status().message());
  REQUIRE(bytes.is_ok());
  onnx::ModelProto m = parse(*bytes);
  CHECK(opset_of(m, kQonnx) == 1);
  CHECK(proto_node(m, "trunc").input_size() == 5);
  Graph back = import_bytes(*bytes);
  CHECK(back.node(node_named(back, "trunc")).attrs.get_int("version", 0).value() == 1);
  const std::vector<Tensor> in = {test::random_tensor(Shape{2, 3, 9, 9}, 6, -3.f, 3.f)};
  require_identical(run(g, in), run(back, in));

  // A second Trunc, v2, in the same graph.
  ValueId out = g.outputs()[0];
  std::vector<ValueId> ins = g.node(t).inputs;
  ins[0] = out;
  ins[4] = g.add_constant("t2_out_scale", Tensor::scalar(1.f));
  Attributes a = g.node(t).attrs;
  a.set("version", int64_t{2});
  g.set_outputs({op(g, OpKind::kTrunc, "trunc2", ins, a)});
  const std::string msg = error_of(export_qonnx_bytes(g));
  CHECK_THAT(msg, Catch::Contains("'trunc'") && Catch::Contains("'trunc2'") && Catch::Contains("v1"));
}

TEST_CASE("QCDQ export → import gives bit-identical outputs and the same quantizers") {
  Graph g = conv_net(false, false);
  const std::vector<Tensor> in = {test::random_tensor(Shape{2, 3, 9, 9}, 7, -3.f, 3.f)};
  auto bytes = export_qcdq_bytes(g);
  INFO(bytes.status().message());
  REQUIRE(bytes.is_ok());
  Graph back = import_bytes(*bytes);
  check_same_quantizers(g, back);
  CHECK(live_nodes(back, OpKind::kQuantizeLinear).empty());
  CHECK(live_nodes(back, OpKind::kDequantizeLinear).empty());
  CHECK(live_nodes(back, OpKind::kClip).empty());
  require_identical(run(g, in), run(back, in));
  // Unfused, the same file runs as plain Q / Clip / DQ nodes with the same weights.
  OnnxImportOptions raw;
  raw.fuse_qcdq = false;
  Graph plain = import_bytes(*bytes, raw);
  CHECK(live_nodes(plain, OpKind::kFakeQuant).empty());
  CHECK(live_nodes(plain, OpKind::kDequantizeLinear).size() == 8);
}

TEST_CASE("QCDQ files: Q/Clip/DQ per quantizer, integer initializers, per-channel axis, opset 13") {
  Graph g = conv_net(false, false);
  auto bytes = export_qcdq_bytes(g);
  REQUIRE(bytes.is_ok());
  onnx::ModelProto m = parse(*bytes);
  CHECK_NOTHROW(onnx::checker::check_model(m));
  CHECK(opset_of(m, "") == 13);
  CHECK(m.opset_import_size() == 1);
  auto counts = op_counts(m);
  CHECK(counts[":QuantizeLinear"] == 4);    // in_q, relu_q, pool_q, flat_q
  CHECK(counts[":DequantizeLinear"] == 8);  // and conv_w, conv_b, fc_w, fc_b
  CHECK(counts[":Clip"] == 3);              // relu_q (4 bits), conv_w (4-bit narrow), fc_w (narrow)
  // conv weight: int8 values in [-7, 7], per-channel DQ on axis 0 with a 1-D scale.
  const onnx::NodeProto& dq = proto_node(m, "conv_w_q");
  REQUIRE(dq.op_type() == "DequantizeLinear");
  bool axis0 = false;
  for (const auto& a : dq.attribute()) axis0 = axis0 || (a.name() == "axis" && a.i() == 0);
  CHECK(axis0);
  CHECK(initializer(m, dq.input(1)).dims_size() == 1);
  CHECK(initializer(m, dq.input(1)).dims(0) == 4);
  const onnx::NodeProto& clip = proto_node(m, "conv_w_q_clip");
  const onnx::TensorProto& wq = initializer(m, clip.input(0));
  CHECK(wq.data_type() == onnx::TensorProto::INT8);
  for (char c : wq.raw_data()) CHECK(std::abs(static_cast<int>(static_cast<int8_t>(c))) <= 7);
  // bias: int32 without zero point.
  const onnx::NodeProto& b = proto_node(m, "conv_b_q");
  CHECK(b.input_size() == 2);
  CHECK(initializer(m, b.input(0)).data_type() == onnx::TensorProto::INT32);
  // activations: unsigned → uint8 zero point, signed → int8.
  CHECK(initializer(m, proto_node(m, "relu_q_quantize").input(2)).data_type() == onnx::TensorProto::UINT8);
  CHECK(initializer(m, proto_node(m, "flat_q_quantize").input(2)).data_type() == onnx::TensorProto::INT8);
  // No float copy of a quantized weight is written.
  for (const auto& t : m.graph().initializer()) CHECK(t.name() != "conv_w");
}

TEST_CASE("QCDQ with int4 weights: INT4 initializers packed as ONNX does, opset 21, exact round trip") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{3, 7}, true);
  g.value(x).dim_params.assign(2, "");
  g.add_input(x);
  Tensor w = test::random_tensor(Shape{5, 7}, 21);  // 35 elements: an odd tail nibble
  Tensor ws = channel_scales(w, 7, Shape{5, 1});
  ValueId xq = fq(g, x, int_params(8, true, false, Tensor::scalar(0.05f)), "x_q");
  ValueId wq = fq(g, g.add_constant("w", w), int_params(4, true, false, ws, 0), "w_q");
  Tensor u = test::random_tensor(Shape{5}, 22, 0.f, 1.f);
  ValueId uq = fq(g, g.add_constant("u", u), int_params(3, false, false, Tensor::scalar(1.f / 7)), "u_q");
  Attributes ga;
  ga.set("transB", int64_t{1});
  ValueId y = op(g, OpKind::kGemm, "fc", {xq, wq, uq}, ga);
  g.add_output(y);
  REQUIRE(infer_shapes(g).is_ok());

  QcdqExportOptions o;
  o.int4_weights = true;
  auto bytes = export_qcdq_bytes(g, o);
  INFO(bytes.status().message());
  REQUIRE(bytes.is_ok());
  onnx::ModelProto m = parse(*bytes);
  CHECK(opset_of(m, "") == 21);
  CHECK(m.ir_version() == 10);
  const onnx::TensorProto& wi = initializer(m, proto_node(m, "w_q").input(0));
  REQUIRE(wi.data_type() == 22);  // INT4
  REQUIRE(wi.raw_data().size() == 18);
  std::vector<uint8_t> expect(18, 0);
  for (int64_t i = 0; i < 35; ++i) {
    const int64_t c = i / 7;
    double q = std::nearbyint(static_cast<double>(w.data<float>()[i]) / ws.data<float>()[c]);
    q = std::min(std::max(q, -8.0), 7.0);
    const uint8_t nib = static_cast<uint8_t>(static_cast<int>(q)) & 0x0F;
    expect[static_cast<size_t>(i / 2)] |= static_cast<uint8_t>(i % 2 ? nib << 4 : nib);
  }
  CHECK(std::memcmp(wi.raw_data().data(), expect.data(), 18) == 0);
  const onnx::TensorProto& ui = initializer(m, proto_node(m, "u_q").input(0));
  CHECK(ui.data_type() == 21);  // UINT4; 3 bits, no Clip on int4
  CHECK(proto_node(m, "u_q").input(0) == ui.name());
  Graph back = import_bytes(*bytes);
  check_same_quantizers(g, back, /*compare_grid=*/false);
  auto up = read_quant_params(back, node_named(back, "u_q"));
  REQUIRE(up.is_ok());
  CHECK(up->bits == 4);  // the int4 container's grid, idempotent on the 3-bit values
  CHECK_FALSE(up->is_signed);
  const std::vector<Tensor> in = {test::random_tensor(Shape{3, 7}, 23, -4.f, 4.f)};
  require_identical(run(g, in), run(back, in));
  // The default (no int4) keeps the file checkable at opset 13.
  auto plain = export_qcdq_bytes(g);
  REQUIRE(plain.is_ok());
  CHECK(opset_of(parse(*plain), "") == 13);
}

TEST_CASE("QCDQ export refuses what QuantizeLinear cannot express, naming the node") {
  Graph g16 = conv_net(false, false);
  auto p = read_quant_params(g16, node_named(g16, "relu_q"));
  REQUIRE(p.is_ok());
  p->bits = 16;
  REQUIRE(set_quant_params(g16, node_named(g16, "relu_q"), *p).is_ok());
  CHECK_THAT(error_of(export_qcdq_bytes(g16)), Catch::Contains("'relu_q'") && Catch::Contains("16 bits"));
  // A 16-bit bias is fine.
  Graph b16 = conv_net(false, false);
  auto pb = read_quant_params(b16, node_named(b16, "conv_b_q"));
  pb->bits = 16;
  REQUIRE(set_quant_params(b16, node_named(b16, "conv_b_q"), *pb).is_ok());
  CHECK(export_qcdq_bytes(b16).is_ok());

  Graph hu = conv_net(false, false);
  auto ph = read_quant_params(hu, node_named(hu, "in_q"));
  ph->rounding = RoundingMode::kHalfUp;
  REQUIRE(set_quant_params(hu, node_named(hu, "in_q"), *ph).is_ok());
  CHECK_THAT(error_of(export_qcdq_bytes(hu)), Catch::Contains("'in_q'") && Catch::Contains("HALF_UP"));

  CHECK_THAT(error_of(export_qcdq_bytes(conv_net(true, false))), Catch::Contains("'trunc'") && Catch::Contains("QONNX"));
  const std::string exotic = error_of(export_qcdq_bytes(conv_net(false, true)));
  CHECK_THAT(exotic, Catch::Contains("float quantizer") || Catch::Contains("bipolar quantizer"));
  // The plain exporter points at the two quantized formats.
  CHECK_THAT(error_of(export_onnx_bytes(conv_net(false, false))), Catch::Contains("export_qonnx"));
}

// ---------------------------------------------------------------- hand-built QONNX files

namespace {

void add_domain(OnnxModelBuilder& b, const std::string& domain, int64_t version) {
  auto* imp = b.model().add_opset_import();
  imp->set_domain(domain);
  imp->set_version(version);
}

onnx::NodeProto* qnode(OnnxModelBuilder& b, const std::string& op, const std::string& domain,
                       std::vector<std::string> in, const std::string& name = "q") {
  auto* n = b.node(op, std::move(in), {"y"}, name);
  n->set_domain(domain);
  return n;
}

void scalar_init(OnnxModelBuilder& b, const std::string& name, float v) { b.initializer_f32(name, {}, {v}); }

std::vector<float> run_one(const Graph& g, const Tensor& x) {
  auto out = run(g, {x});
  return std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].numel());
}

}  // namespace

TEST_CASE("QONNX Quant / IntQuant import from all three domains") {
  const Tensor x = f32(Shape{2, 6}, {-3.f, -0.375f, -0.125f, 0.125f, 0.375f, 0.6f, 0.9f, 1.1f, 2.f, -1.f, 0.f, 5.f});
  for (const char* domain : {"qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general"}) {
    for (const char* opname : {"Quant", "IntQuant"}) {
      INFO(domain << " " << opname);
      OnnxModelBuilder b(13);
      add_domain(b, domain, 1);
      b.input("x", 1, {2, 6});
      b.output("y");
      scalar_init(b, "s", 0.25f);
      scalar_init(b, "z", 1.f);
      scalar_init(b, "bw", 3.f);  // bit width as a float tensor
      qnode(b, opname, domain, {"x", "s", "z", "bw"});  // narrow and rounding_mode left to defaults
      Graph g = import_bytes(b.bytes());
      auto fqs = live_nodes(g, OpKind::kFakeQuant);
      REQUIRE(fqs.size() == 1);
      auto p = read_quant_params(g, fqs[0]);
      REQUIRE(p.is_ok());
      CHECK(p->kind == QuantKind::kInt);
      CHECK(p->bits == 3);
      CHECK(p->is_signed);
      CHECK_FALSE(p->narrow);  // the spec's default
      CHECK(p->rounding == RoundingMode::kHalfEven);
      CHECK(p->axis == -1);
      CHECK(g.node(fqs[0]).inputs.size() == 3);
      std::vector<float> y = run_one(g, x);
      for (int64_t i = 0; i < x.numel(); ++i) {
        INFO("x = " << x.data<float>()[i]);
        CHECK(y[static_cast<size_t>(i)] == ref_quant(x.data<float>()[i], 0.25f, 1.f, -4, 3));
      }
    }
  }
}

TEST_CASE("QONNX Quant import: per-channel axis from the scale shape, integer bit widths, attributes") {
  OnnxModelBuilder b(13);
  add_domain(b, kQonnx, 2);
  b.input("x", 1, {2, 3});
  b.output("y");
  b.initializer_f32("s", {1, 3}, {0.5f, 0.25f, 0.125f});
  scalar_init(b, "z", 0.f);
  b.initializer_raw("bw", onnx::TensorProto::INT32, {}, "\x04\0\0\0", 4);
  auto* n = qnode(b, "Quant", kQonnx, {"x", "s", "z", "bw"});
  OnnxModelBuilder::attr_int(n, "signed", 0);
  OnnxModelBuilder::attr_int(n, "narrow", 1);
  OnnxModelBuilder::attr_string(n, "rounding_mode", "half_up");
  Graph g = import_bytes(b.bytes());
  auto p = read_quant_params(g, live_nodes(g, OpKind::kFakeQuant)[0]);
  REQUIRE(p.is_ok());
  CHECK(p->axis == 1);
  CHECK(p->bits == 4);
  CHECK_FALSE(p->is_signed);
  CHECK(p->narrow);
  CHECK(p->rounding == RoundingMode::kHalfUp);
  CHECK(p->po2);
  CHECK(p->zero_point.shape() == p->scale.shape());
}

TEST_CASE("QONNX BipolarQuant and FloatQuant (has_infinity spelling) import") {
  {
    OnnxModelBuilder b(13);
    add_domain(b, kQonnx, 1);
    b.input("x", 1, {4});
    b.output("y");
    scalar_init(b, "s", 0.75f);
    qnode(b, "BipolarQuant", kQonnx, {"x", "s"});
    Graph g = import_bytes(b.bytes());
    auto p = read_quant_params(g, live_nodes(g, OpKind::kFakeQuant)[0]);
    REQUIRE(p.is_ok());
    CHECK(p->kind == QuantKind::kBipolar);
    CHECK(run_one(g, f32(Shape{4}, {-2.f, -0.f, 0.f, 3.f})) == std::vector<float>{-0.75f, 0.75f, 0.75f, 0.75f});
  }
  OnnxModelBuilder b(13);
  add_domain(b, kQonnx, 1);
  b.input("x", 1, {5});
  b.output("y");
  scalar_init(b, "s", 0.5f);
  scalar_init(b, "e", 5.f);
  scalar_init(b, "m", 2.f);
  scalar_init(b, "bias", 15.f);
  scalar_init(b, "max", 57344.f);
  auto* n = qnode(b, "FloatQuant", kQonnx, {"x", "s", "e", "m", "bias", "max"});
  OnnxModelBuilder::attr_int(n, "has_infinity", 1);
  OnnxModelBuilder::attr_int(n, "has_nan", 1);
  OnnxModelBuilder::attr_int(n, "saturation", 1);
  Graph g = import_bytes(b.bytes());
  auto p = read_quant_params(g, live_nodes(g, OpKind::kFakeQuant)[0]);
  REQUIRE(p.is_ok());
  CHECK(p->kind == QuantKind::kFloat);
  CHECK(p->bits == 8);
  CHECK(p->minifloat.exponent_bits == 5);
  CHECK(p->minifloat.mantissa_bits == 2);
  CHECK(p->minifloat.exponent_bias == 15.f);
  CHECK(p->minifloat.max_val == 57344.f);
  CHECK(p->minifloat.has_inf);
  CHECK(p->minifloat.has_nan);
  CHECK(p->minifloat.has_subnormal);  // the spec's default
  // e5m2 grid points (×0.5) stay; 1.3 → 1.25 (mantissa 2 bits), beyond max saturates.
  std::vector<float> y = run_one(g, f32(Shape{5}, {0.75f, -3.f, 0.65f, 1e6f, -1e6f}));
  CHECK(y == std::vector<float>{0.75f, -3.f, 0.625f, 28672.f, -28672.f});
}

TEST_CASE("QONNX Trunc v1 and v2 import: version from the domain's opset") {
  const Tensor x = f32(Shape{6}, {0.f, 0.5f, 1.75f, 3.f, 7.25f, 15.5f});
  // v1: y = floor(round(x/s + z) / 2^(in-out)); Y = (y - z) · s
  {
    OnnxModelBuilder b(13);
    add_domain(b, "finn.custom_op.general", 1);
    b.input("x", 1, {6});
    b.output("y");
    scalar_init(b, "s", 0.25f);
    scalar_init(b, "z", 0.f);
    scalar_init(b, "ib", 8.f);
    scalar_init(b, "ob", 6.f);
    qnode(b, "Trunc", "finn.custom_op.general", {"x", "s", "z", "ib", "ob"});
    Graph g = import_bytes(b.bytes());
    const Node& t = g.node(live_nodes(g, OpKind::kTrunc)[0]);
    CHECK(t.attrs.get_int("version", 0).value() == 1);
    CHECK(t.attrs.get_string("rounding_mode", "").value() == "FLOOR");
    REQUIRE(t.inputs.size() == 6);
    CHECK(t.inputs[4] == kNoValue);
    std::vector<float> y = run_one(g, x);
    for (int i = 0; i < 6; ++i) {
      const double q = std::floor(std::nearbyint(x.data<float>()[i] / 0.25) / 4.0);
      CHECK(y[static_cast<size_t>(i)] == static_cast<float>(q * 0.25));
    }
  }
  // v2: t = 2^round(log2(out_scale/scale)); y = floor(clip(round(x/s + z)/t, min, max)); Y = (y - z/t)·out_scale
  OnnxModelBuilder b(13);
  add_domain(b, kQonnx, 2);
  b.input("x", 1, {6});
  b.output("y");
  scalar_init(b, "s", 0.25f);
  scalar_init(b, "z", 0.f);
  scalar_init(b, "ib", 8.f);
  scalar_init(b, "os", 1.f);
  scalar_init(b, "ob", 3.f);
  auto* n = qnode(b, "Trunc", kQonnx, {"x", "s", "z", "ib", "os", "ob"});
  OnnxModelBuilder::attr_int(n, "signed", 0);
  Graph g = import_bytes(b.bytes());
  const Node& t = g.node(live_nodes(g, OpKind::kTrunc)[0]);
  CHECK(t.attrs.get_int("version", 0).value() == 2);
  CHECK(t.attrs.get_int("signed", 1).value() == 0);
  std::vector<float> y = run_one(g, x);
  for (int i = 0; i < 6; ++i) {
    const double q = std::floor(std::min(std::nearbyint(x.data<float>()[i] / 0.25) / 4.0, 7.0));
    CHECK(y[static_cast<size_t>(i)] == static_cast<float>(q));
  }
  // Six inputs in a domain imported at opset 1 contradict each other.
  OnnxModelBuilder bad(13);
  add_domain(bad, kQonnx, 1);
  bad.model().mutable_graph()->CopyFrom(b.model().graph());
  auto r = import_onnx_bytes(bad.bytes().data(), bad.bytes().size(), "", "m");
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("opset 1") && Catch::Contains("5 inputs"));
}

TEST_CASE("QONNX import errors: computed scale, fractional bit width, unknown ops and domains") {
  auto import_error = [](OnnxModelBuilder& b) {
    const std::string bytes = b.bytes();
    auto r = import_onnx_bytes(bytes.data(), bytes.size(), "", "m");
    REQUIRE_FALSE(r.is_ok());
    return r.status().message();
  };
  {
    OnnxModelBuilder b(13);
    add_domain(b, kQonnx, 2);
    b.input("x", 1, {4});
    b.input("s_in", 1, {});
    b.output("y");
    scalar_init(b, "z", 0.f);
    scalar_init(b, "bw", 8.f);
    b.node("Relu", {"s_in"}, {"s"});
    qnode(b, "Quant", kQonnx, {"x", "s", "z", "bw"}, "act_q");
    CHECK_THAT(import_error(b), Catch::Contains("'act_q'") && Catch::Contains("scale") && Catch::Contains("constant"));
  }
  {
    OnnxModelBuilder b(13);
    add_domain(b, kQonnx, 2);
    b.input("x", 1, {4});
    b.output("y");
    scalar_init(b, "s", 1.f);
    scalar_init(b, "z", 0.f);
    scalar_init(b, "bw", 2.5f);
    qnode(b, "Quant", kQonnx, {"x", "s", "z", "bw"}, "act_q");
    CHECK_THAT(import_error(b), Catch::Contains("'act_q'") && Catch::Contains("2.5") && Catch::Contains("not an integer"));
  }
  {
    OnnxModelBuilder b(13);
    add_domain(b, kQonnx, 2);
    b.input("x", 1, {4});
    b.output("y");
    qnode(b, "MultiThreshold", kQonnx, {"x"});
    CHECK_THAT(import_error(b), Catch::Contains("MultiThreshold") && Catch::Contains(kQonnx));
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", 1, {4});
    b.output("y");
    scalar_init(b, "s", 1.f);
    scalar_init(b, "z", 0.f);
    b.node("FakeQuant", {"x", "s", "z"}, {"y"});
    CHECK_THAT(import_error(b), Catch::Contains("FakeQuant") && Catch::Contains("not supported"));
  }
  {
    OnnxModelBuilder b(13);
    add_domain(b, "com.example", 1);
    b.input("x", 1, {4});
    b.output("y");
    qnode(b, "Quant", "com.example", {"x"});
    CHECK_THAT(import_error(b), Catch::Contains("com.example"));
  }
}

// ---------------------------------------------------------------- hand-built QCDQ files

namespace {

void int_init(OnnxModelBuilder& b, const std::string& name, int32_t elem, const std::vector<int64_t>& dims,
              const std::vector<uint8_t>& bytes) {
  b.initializer_raw(name, elem, dims, bytes.data(), bytes.size());
}

}  // namespace

TEST_CASE("QCDQ import: Q → Clip → DQ chains become FakeQuant with bits from container and Clip") {
  struct Case {
    int32_t container;
    int8_t lo, hi, zp;
    int bits;
    bool is_signed, narrow;
  };
  const Tensor x = f32(Shape{8}, {-9.f, -3.4f, -0.75f, 0.25f, 0.7f, 1.25f, 3.3f, 12.f});
  for (const Case& c : {Case{onnx::TensorProto::INT8, -7, 7, 0, 4, true, true},
                        Case{onnx::TensorProto::UINT8, 0, 15, 3, 4, false, false},
                        Case{onnx::TensorProto::INT8, -128, 127, -2, 8, true, false}}) {
    INFO("bits " << c.bits);
    OnnxModelBuilder b(13);
    b.input("x", 1, {8});
    b.output("y");
    scalar_init(b, "s", 0.5f);
    int_init(b, "zp", c.container, {}, {static_cast<uint8_t>(c.zp)});
    int_init(b, "lo", c.container, {}, {static_cast<uint8_t>(c.lo)});
    int_init(b, "hi", c.container, {}, {static_cast<uint8_t>(c.hi)});
    b.node("QuantizeLinear", {"x", "s", "zp"}, {"q"}, "quant");
    b.node("Clip", {"q", "lo", "hi"}, {"qc"}, "clip");
    b.node("DequantizeLinear", {"qc", "s", "zp"}, {"y"}, "dq");
    Graph g = import_bytes(b.bytes());
    auto fqs = live_nodes(g, OpKind::kFakeQuant);
    REQUIRE(fqs.size() == 1);
    CHECK(g.num_live_nodes() == 1);
    auto p = read_quant_params(g, fqs[0]);
    REQUIRE(p.is_ok());
    CHECK(p->bits == c.bits);
    CHECK(p->is_signed == c.is_signed);
    CHECK(p->narrow == c.narrow);
    CHECK(p->zero_point.data<float>()[0] == c.zp);
    std::vector<float> y = run_one(g, x);
    for (int i = 0; i < 8; ++i) CHECK(y[static_cast<size_t>(i)] == ref_quant(x.data<float>()[i], 0.5f, c.zp, c.lo, c.hi));
  }
}

TEST_CASE("QCDQ import: integer weights (int8 per-axis, int4) → exact float constant + FakeQuant") {
  OnnxModelBuilder b(21, 10);
  b.output("w8");
  b.output("w4");
  int_init(b, "q8", onnx::TensorProto::INT8, {3, 2}, {0x85, 0x7F, 0x01, 0xFE, 0x10, 0x00});
  b.initializer_f32("s8", {3}, {0.5f, 0.1f, 3.f});
  int_init(b, "z8", onnx::TensorProto::INT8, {3}, {0x00, 0x01, 0xFF});
  OnnxModelBuilder::attr_int(b.node("DequantizeLinear", {"q8", "s8", "z8"}, {"w8"}, "w8_dq"), "axis", 0);
  int_init(b, "q4", 22, {5}, {0x9F, 0x07, 0x08});  // -1, -7, 7, 0, -8
  scalar_init(b, "s4", 0.25f);
  b.node("DequantizeLinear", {"q4", "s4"}, {"w4"}, "w4_dq");
  Graph g = import_bytes(b.bytes());
  auto p8 = read_quant_params(g, node_named(g, "w8_dq"));
  REQUIRE(p8.is_ok());
  CHECK(p8->bits == 8);
  CHECK(p8->axis == 0);
  CHECK(p8->scale.shape() == Shape{3, 1});
  const Value& w8 = g.value(g.node(node_named(g, "w8_dq")).inputs[0]);
  REQUIRE(w8.is_constant());
  const int8_t q8[6] = {-123, 127, 1, -2, 16, 0};
  const float s8[3] = {0.5f, 0.1f, 3.f};
  const int z8[3] = {0, 1, -1};
  for (int i = 0; i < 6; ++i) CHECK(w8.constant.data<float>()[i] == static_cast<float>(q8[i] - z8[i / 2]) * s8[i / 2]);
  auto p4 = read_quant_params(g, node_named(g, "w4_dq"));
  REQUIRE(p4.is_ok());
  CHECK(p4->bits == 4);
  CHECK(p4->is_signed);
  const Value& w4 = g.value(g.node(node_named(g, "w4_dq")).inputs[0]);
  CHECK(std::vector<float>(w4.constant.data<float>(), w4.constant.data<float>() + 5) ==
        std::vector<float>{-0.25f, -1.75f, 1.75f, 0.f, -2.f});
  // Running the graph gives the dequantized values unchanged (the FakeQuant is idempotent).
  auto out = run(g, {});
  CHECK(same_bytes(out[0], w8.constant));
  CHECK(same_bytes(out[1], w4.constant));
}

TEST_CASE("QCDQ import leaves Q/DQ that do not form a chain") {
  OnnxModelBuilder b(13);
  b.input("x", 1, {4});
  b.input("qi", onnx::TensorProto::INT8, {4});
  b.output("y");
  b.output("d");
  scalar_init(b, "s", 0.5f);
  scalar_init(b, "s2", 0.25f);
  int_init(b, "zp", onnx::TensorProto::INT8, {}, {0});
  int_init(b, "lo", onnx::TensorProto::INT8, {}, {0xFD});  // Clip(-3, 5): no quantizer has this grid
  int_init(b, "hi", onnx::TensorProto::INT8, {}, {5});
  b.node("QuantizeLinear", {"x", "s", "zp"}, {"q"}, "quant");
  b.node("DequantizeLinear", {"q", "s2", "zp"}, {"y0"}, "dq_other_scale");
  b.node("Clip", {"q", "lo", "hi"}, {"qc"}, "odd_clip");
  b.node("DequantizeLinear", {"qc", "s", "zp"}, {"y1"}, "dq_odd_clip");
  b.node("Add", {"y0", "y1"}, {"y"}, "add");
  b.node("DequantizeLinear", {"qi", "s", "zp"}, {"d"}, "dq_input");
  Graph g = import_bytes(b.bytes());
  CHECK(live_nodes(g, OpKind::kFakeQuant).empty());
  CHECK(live_nodes(g, OpKind::kQuantizeLinear).size() == 1);
  CHECK(live_nodes(g, OpKind::kDequantizeLinear).size() == 3);
}

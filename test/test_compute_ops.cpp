// Op-level tests of Conv, ConvTranspose, Gemm, MatMul through run_single_op: ONNX spec
// vectors, the bound fast kernels against the references (constant and dynamic weights,
// fused activations, 1 and 2 threads), numpy broadcasting, and shape inference.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/evaluate.h"
#include "graph/schema.h"
#include "graph/schemas/conv_attrs.h"
#include "kernels/conv/conv_f32.h"
#include "support/test_support.h"

using namespace qe;

namespace {

Tensor iota_tensor(Shape s, float start = 0.f) {
  std::vector<float> v(static_cast<size_t>(s.numel()));
  std::iota(v.begin(), v.end(), start);
  return Tensor::from_vector<float>(std::move(s), v);
}

Tensor filled(Shape s, float value) {
  std::vector<float> v(static_cast<size_t>(s.numel()), value);
  return Tensor::from_vector<float>(std::move(s), v);
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

SingleOpResult run_ok(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs, int threads = 1,
                      const std::vector<bool>& constant = {}) {
  auto r = run_single_op(op, in, attrs, 1, threads, constant);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

void check_close(const Tensor& got, const Tensor& want, int64_t K) {
  REQUIRE(got.shape() == want.shape());
  double tol_scale = 1e-5 * std::sqrt(static_cast<double>(std::max<int64_t>(K, 1)));
  int bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    float g = got.data<float>()[i], w = want.data<float>()[i];
    if (!(std::fabs(g - w) <= tol_scale * (1.0 + std::fabs(w)))) {
      if (bad++ < 3) UNSCOPED_INFO("element " << i << " got " << g << " want " << w);
    }
  }
  CHECK(bad == 0);
}

bool simd_available() { return cpu_features().level >= IsaLevel::kAvx2; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// ONNX spec vectors (onnx/backend/test/case/node/conv.py, convtranspose.py).

TEST_CASE("Conv spec vectors: padding, SAME_LOWER, asymmetric pads") {
  Tensor x = iota_tensor(Shape{1, 1, 5, 5});
  Tensor w = filled(Shape{1, 1, 3, 3}, 1.f);
  Attributes a;
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  auto r = run_ok(OpKind::kConv, {x, w}, a);
  CHECK(r.outputs[0].shape() == Shape({1, 1, 5, 5}));
  CHECK(values(r.outputs[0]) == std::vector<float>{12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                                   93, 144, 153, 162, 111, 72, 111, 117, 123, 84});

  Attributes same;
  same.set("auto_pad", std::string("SAME_LOWER"));
  same.set("kernel_shape", std::vector<int64_t>{3, 3});
  same.set("strides", std::vector<int64_t>{2, 2});
  r = run_ok(OpKind::kConv, {x, w}, same);
  CHECK(values(r.outputs[0]) == std::vector<float>{12, 27, 24, 63, 108, 81, 72, 117, 84});

  Tensor x7 = iota_tensor(Shape{1, 1, 7, 5});
  Attributes asym;
  asym.set("pads", std::vector<int64_t>{1, 0, 1, 0});
  asym.set("strides", std::vector<int64_t>{2, 2});
  r = run_ok(OpKind::kConv, {x7, w}, asym);
  CHECK(r.outputs[0].shape() == Shape({1, 1, 4, 2}));
  CHECK(values(r.outputs[0]) == std::vector<float>{21, 33, 99, 117, 189, 207, 171, 183});
}

TEST_CASE("ConvTranspose spec vectors: SAME_UPPER and output_shape") {
  Tensor x = iota_tensor(Shape{1, 1, 3, 3});
  Tensor w = filled(Shape{1, 2, 3, 3}, 1.f);
  Attributes a;
  a.set("auto_pad", std::string("SAME_UPPER"));
  a.set("strides", std::vector<int64_t>{2, 2});
  auto r = run_ok(OpKind::kConvTranspose, {x, w}, a);
  REQUIRE(r.outputs[0].shape() == Shape({1, 2, 6, 6}));
  std::vector<float> v = values(r.outputs[0]);
  CHECK(std::vector<float>(v.begin(), v.begin() + 12) == std::vector<float>{0, 0, 1, 1, 3, 2, 0, 0, 1, 1, 3, 2});

  // An output_shape larger than the full result leaves a zero column at the end.
  Attributes os;
  os.set("output_shape", std::vector<int64_t>{10, 8});
  os.set("strides", std::vector<int64_t>{3, 2});
  r = run_ok(OpKind::kConvTranspose, {x, w}, os);
  REQUIRE(r.outputs[0].shape() == Shape({1, 2, 10, 8}));
  v = values(r.outputs[0]);
  CHECK(std::vector<float>(v.begin(), v.begin() + 8) == std::vector<float>{0, 0, 1, 1, 3, 2, 2, 0});
  CHECK(std::vector<float>(v.begin() + 72, v.begin() + 80) == std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("ConvTranspose is the adjoint of Conv: <conv(x), y> == <x, convT(y)>") {
  struct G {
    int64_t cin, cout, group, h, w, k, s, d, p;
  };
  for (G g : {G{3, 4, 1, 9, 8, 3, 2, 1, 1}, G{4, 6, 2, 7, 7, 2, 3, 2, 0}, G{2, 2, 1, 6, 5, 3, 1, 1, 2}}) {
    Tensor x = test::random_tensor(Shape{1, g.cin, g.h, g.w}, 1);
    Tensor w = test::random_tensor(Shape{g.cout, g.cin / g.group, g.k, g.k}, 2);
    Attributes a;
    a.set("strides", std::vector<int64_t>{g.s, g.s});
    a.set("dilations", std::vector<int64_t>{g.d, g.d});
    a.set("pads", std::vector<int64_t>{g.p, g.p, g.p, g.p});
    a.set("group", g.group);
    auto conv = run_ok(OpKind::kConv, {x, w}, a);
    const Shape& ys = conv.outputs[0].shape();
    Tensor y = test::random_tensor(ys, 3);
    // The transposed conv of y must land on x's spatial size: output_padding makes up the
    // positions the strided conv skipped.
    int64_t eff = (g.k - 1) * g.d + 1;
    a.set("output_padding", std::vector<int64_t>{(g.h + 2 * g.p - eff) % g.s, (g.w + 2 * g.p - eff) % g.s});
    // ConvTranspose's W is [Cin_of_its_input = cout, ...]: the same tensor read the other way.
    auto convt = run_ok(OpKind::kConvTranspose, {y, w}, a);
    REQUIRE(convt.outputs[0].shape() == x.shape());
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < y.numel(); ++i) lhs += double(conv.outputs[0].data<float>()[i]) * y.data<float>()[i];
    for (int64_t i = 0; i < x.numel(); ++i) rhs += double(x.data<float>()[i]) * convt.outputs[0].data<float>()[i];
    CHECK(lhs == Approx(rhs).epsilon(1e-4));
  }
}

// ---------------------------------------------------------------------------------------------
// Conv through the bound kernel vs the reference.

namespace {

struct ConvOpCase {
  Shape x, w;
  std::vector<int64_t> strides, dilations, pads;
  int64_t group;
  std::string auto_pad;
  bool bias;
};

Tensor conv_reference(const Tensor& x, const Tensor& w, const Tensor* b, const Attributes& attrs,
                      const Shape& out_shape, kernels::Activation act) {
  kernels::ConvF32Params p;
  size_t k = x.shape().rank() - 2;
  int off = 3 - static_cast<int>(k);
  p.batch = x.shape()[0];
  p.in_channels = x.shape()[1];
  p.out_channels = w.shape()[0];
  p.group = attrs.get_int("group", 1).value();
  auto strides = attrs.get_ints("strides", std::vector<int64_t>(k, 1)).value();
  auto dil = attrs.get_ints("dilations", std::vector<int64_t>(k, 1)).value();
  auto pads = attrs.get_ints("pads", std::vector<int64_t>(2 * k, 0)).value();
  for (size_t i = 0; i < k; ++i) {
    p.in[off + i] = x.shape()[2 + i];
    p.out[off + i] = out_shape[2 + i];
    p.kernel[off + i] = w.shape()[2 + i];
    p.stride[off + i] = strides[i];
    p.dilation[off + i] = dil[i];
    p.pad[off + i] = pads[i];
  }
  p.act = act;
  Tensor y(DType::kF32, out_shape);
  kernels::conv_f32_ref(p, x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr, y.data<float>());
  return y;
}

}  // namespace

TEST_CASE("Conv op: fast kernels match the reference, constant and dynamic weights") {
  std::vector<ConvOpCase> cases = {
      {Shape{1, 16, 10, 10}, Shape{24, 16, 1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, "", true},
      {Shape{2, 8, 11, 9}, Shape{16, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, "", true},
      {Shape{1, 3, 17, 17}, Shape{10, 3, 5, 5}, {2, 2}, {1, 1}, {2, 1, 0, 2}, 1, "", false},
      {Shape{1, 12, 9, 9}, Shape{12, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 12, "", true},
      {Shape{1, 12, 9, 9}, Shape{18, 4, 3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, 3, "", true},
      {Shape{2, 5, 30}, Shape{7, 5, 3}, {2}, {1}, {1, 1}, 1, "", true},
      {Shape{1, 4, 8, 7}, Shape{6, 4, 3, 3}, {2, 2}, {1, 1}, {}, 1, "SAME_UPPER", true},
      {Shape{1, 4, 8, 7}, Shape{6, 4, 2, 2}, {1, 1}, {1, 1}, {}, 1, "VALID", true},
      {Shape{2, 16, 15, 17}, Shape{24, 16, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, "", true},  // Winograd
  };
  const kernels::Activation relu6{kernels::ActKind::kClip, 0.f, 6.f};
  for (const ConvOpCase& c : cases) {
    Tensor x = test::random_tensor(c.x, 5);
    Tensor w = test::random_tensor(c.w, 6);
    Tensor b = test::random_tensor(Shape{c.w[0]}, 7);
    Attributes a;
    a.set("strides", c.strides);
    a.set("dilations", c.dilations);
    a.set("group", c.group);
    if (!c.pads.empty()) a.set("pads", c.pads);
    if (!c.auto_pad.empty()) a.set("auto_pad", c.auto_pad);
    a.set("_act", std::string("Clip"));
    a.set("_act_alpha", 0.f);
    a.set("_act_beta", 6.f);
    std::vector<Tensor> in = {x, w};
    if (c.bias) in.push_back(b);
    for (int threads : {1, 2}) {
      for (bool dynamic : {false, true}) {
        std::vector<bool> constant(in.size(), true);
        constant[0] = false;
        if (dynamic) constant[1] = false;
        auto r = run_ok(OpKind::kConv, in, a, threads, constant);
        INFO("kernel " << r.kernel << " X " << c.x.to_string() << " W " << c.w.to_string() << " threads " << threads
                       << (dynamic ? " dynamic" : " constant"));
        if (simd_available()) CHECK(r.kernel.find("_ref") == std::string::npos);
        // auto_pad: take the explicit pads the schema resolved from the output shape.
        Attributes ra = a;
        if (!c.auto_pad.empty()) {
          Graph g;
          ValueId xv = g.add_value("x", DType::kF32, c.x, true);
          ValueId wv = g.add_value("w", DType::kF32, c.w, true);
          ValueId yv = g.add_value("y");
          NodeId n = g.add_node(OpKind::kConv, "conv", {xv, wv}, {yv}, a);
          REQUIRE(infer_node(g, n).is_ok());
          auto geo = resolve_conv_geometry(a, c.x, c.w);
          REQUIRE(geo.is_ok());
          std::vector<int64_t> pads = geo->pads_begin;
          pads.insert(pads.end(), geo->pads_end.begin(), geo->pads_end.end());
          ra.set("pads", pads);
        }
        Tensor want = conv_reference(x, w, c.bias ? &b : nullptr, ra, r.outputs[0].shape(), relu6);
        check_close(r.outputs[0], want, c.w.numel() / c.w[0]);
      }
    }
  }
}

TEST_CASE("Conv op: 3-D convolution runs on a generic path") {
  Tensor x = test::random_tensor(Shape{1, 2, 5, 6, 4}, 1);
  Tensor w = test::random_tensor(Shape{3, 2, 3, 3, 3}, 2);
  Attributes a;
  a.set("pads", std::vector<int64_t>{1, 1, 1, 1, 1, 1});
  auto r = run_ok(OpKind::kConv, {x, w}, a);
  CHECK(r.outputs[0].shape() == Shape({1, 3, 5, 6, 4}));
  Tensor want = conv_reference(x, w, nullptr, a, r.outputs[0].shape(), {});
  check_close(r.outputs[0], want, 54);
}

TEST_CASE("Conv op: unknown fused activation and mismatched channels are errors") {
  Tensor x = test::random_tensor(Shape{1, 4, 5, 5}, 1);
  Tensor w = test::random_tensor(Shape{2, 3, 3, 3}, 2);
  auto r = run_single_op(OpKind::kConv, {x, w}, Attributes{});
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("channels") != std::string::npos);
  Tensor w4 = test::random_tensor(Shape{2, 4, 3, 3}, 2);
  Attributes bad;
  bad.set("_act", std::string("Softplus"));
  r = run_single_op(OpKind::kConv, {x, w4}, bad);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("Softplus") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Gemm and MatMul against naive loops written here.

namespace {

// C may be undefined; its shape broadcasts unidirectionally to [M, N].
Tensor naive_gemm(const Tensor& a, const Tensor& b, const Tensor& c, bool ta, bool tb, float alpha, float beta) {
  int64_t M = ta ? a.shape()[1] : a.shape()[0], K = ta ? a.shape()[0] : a.shape()[1];
  int64_t N = tb ? b.shape()[0] : b.shape()[1];
  Tensor y(DType::kF32, Shape{M, N});
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double av = ta ? a.data<float>()[k * M + m] : a.data<float>()[m * K + k];
        double bv = tb ? b.data<float>()[n * K + k] : b.data<float>()[k * N + n];
        s += av * bv;
      }
      double cv = 0;
      if (c.defined()) {
        const Shape& cs = c.shape();
        int64_t cm = cs.rank() == 2 ? cs[0] : 1, cn = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
        cv = c.data<float>()[(cm == 1 ? 0 : m) * cn + (cn == 1 ? 0 : n)];
      }
      y.data<float>()[m * N + n] = static_cast<float>(alpha * s + beta * cv);
    }
  }
  return y;
}

}  // namespace

TEST_CASE("Gemm op: transposes, alpha/beta, every C broadcast, constant or dynamic operands") {
  const int64_t M = 7, N = 53, K = 300;
  std::vector<Shape> c_shapes = {Shape{}, Shape{1}, Shape{N}, Shape{1, N}, Shape{M, 1}, Shape{M, N}, Shape{1, 1}};
  for (int variant = 0; variant < 4; ++variant) {
    bool ta = variant & 1, tb = variant & 2;
    Tensor a = test::random_tensor(ta ? Shape{K, M} : Shape{M, K}, 10 + variant);
    Tensor b = test::random_tensor(tb ? Shape{N, K} : Shape{K, N}, 20 + variant);
    for (size_t ci = 0; ci <= c_shapes.size(); ++ci) {
      Tensor c = ci < c_shapes.size() ? test::random_tensor(c_shapes[ci], 30 + ci) : Tensor();
      Attributes attrs;
      attrs.set("transA", int64_t{ta});
      attrs.set("transB", int64_t{tb});
      attrs.set("alpha", 0.5f);
      attrs.set("beta", 1.5f);
      std::vector<Tensor> in = {a, b};
      if (c.defined()) in.push_back(c);
      Tensor want = naive_gemm(a, b, c, ta, tb, 0.5f, 1.5f);
      for (int constness = 0; constness < 8; ++constness) {
        std::vector<bool> constant(in.size(), false);
        constant[0] = constness & 4;
        constant[1] = constness & 1;
        if (c.defined()) constant[2] = constness & 2;
        auto r = run_ok(OpKind::kGemm, in, attrs, 1 + (constness & 1), constant);
        INFO("kernel " << r.kernel << " tA " << ta << " tB " << tb << " C "
                       << (c.defined() ? c.shape().to_string() : "none") << " constness " << constness);
        if (simd_available()) CHECK(r.kernel.find("_ref") == std::string::npos);
        check_close(r.outputs[0], want, K);
      }
    }
  }
}

TEST_CASE("Gemm op: fused activation after the bias") {
  Tensor a = test::random_tensor(Shape{3, 40}, 1);
  Tensor b = test::random_tensor(Shape{10, 40}, 2);
  Tensor c = test::random_tensor(Shape{10}, 3);
  Attributes attrs;
  attrs.set("transB", int64_t{1});
  attrs.set("_act", std::string("Relu"));
  Tensor want = naive_gemm(a, b, c, false, true, 1.f, 1.f);
  for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] = std::max(0.f, want.data<float>()[i]);
  auto r = run_ok(OpKind::kGemm, {a, b, c}, attrs);
  check_close(r.outputs[0], want, 40);
  auto ref = run_ok(OpKind::kGemm, {a, b, c}, attrs, 1, {false, false, false});
  check_close(ref.outputs[0], want, 40);
}

namespace {

// numpy.matmul on float tensors, written directly from the definition.
Tensor naive_matmul(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Shape as = a.shape(), bs = b.shape();
  bool a_vec = as.rank() == 1, b_vec = bs.rank() == 1;
  if (a_vec) as = Shape{1, as[0]};
  if (b_vec) bs = Shape{bs[0], 1};
  int64_t M = as[as.rank() - 2], K = as[as.rank() - 1], N = bs[bs.rank() - 1];
  size_t rank = std::max(as.rank(), bs.rank()) - 2;
  std::vector<int64_t> batch(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i + as.rank() - 2 >= rank ? as[i + as.rank() - 2 - rank] : 1;
    int64_t db = i + bs.rank() - 2 >= rank ? bs[i + bs.rank() - 2 - rank] : 1;
    batch[i] = std::max(da, db);
  }
  Tensor y(DType::kF32, out_shape);
  int64_t items = 1;
  for (int64_t d : batch) items *= d;
  for (int64_t it = 0; it < items; ++it) {
    // Decompose the item index and map it onto each operand's (broadcast) batch index.
    int64_t rem = it, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (size_t i = rank; i-- > 0;) {
      int64_t idx = rem % batch[i];
      rem /= batch[i];
      int64_t da = i + as.rank() - 2 >= rank ? as[i + as.rank() - 2 - rank] : 1;
      int64_t db = i + bs.rank() - 2 >= rank ? bs[i + bs.rank() - 2 - rank] : 1;
      ia += (da == 1 ? 0 : idx) * stride_a;
      ib += (db == 1 ? 0 : idx) * stride_b;
      stride_a *= da;
      stride_b *= db;
    }
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) {
          s += double(a.data<float>()[ia * M * K + m * K + k]) * b.data<float>()[ib * K * N + k * N + n];
        }
        y.data<float>()[it * M * N + m * N + n] = static_cast<float>(s);
      }
    }
  }
  return y;
}

}  // namespace

TEST_CASE("MatMul op: numpy semantics for 1-D, batched and broadcast operands") {
  struct MC {
    Shape a, b, out;
  };
  std::vector<MC> cases = {
      {Shape{5, 70}, Shape{70, 9}, Shape{5, 9}},
      {Shape{70}, Shape{70, 9}, Shape{9}},
      {Shape{5, 70}, Shape{70}, Shape{5}},
      {Shape{70}, Shape{70}, Shape{}},
      {Shape{2, 3, 4, 33}, Shape{33, 50}, Shape{2, 3, 4, 50}},
      {Shape{2, 3, 4, 33}, Shape{2, 3, 33, 50}, Shape{2, 3, 4, 50}},
      {Shape{2, 1, 4, 33}, Shape{3, 33, 5}, Shape{2, 3, 4, 5}},
      {Shape{4, 33}, Shape{3, 33, 5}, Shape{3, 4, 5}},
      {Shape{3, 33}, Shape{2, 1, 33, 5}, Shape{2, 1, 3, 5}},
  };
  for (const MC& c : cases) {
    Tensor a = test::random_tensor(c.a, 1);
    Tensor b = test::random_tensor(c.b, 2);
    Tensor want = naive_matmul(a, b, c.out);
    for (int constness = 0; constness < 2; ++constness) {
      for (int threads : {1, 2}) {
        auto r = run_ok(OpKind::kMatMul, {a, b}, Attributes{}, threads, {false, constness == 1});
        INFO("kernel " << r.kernel << " A " << c.a.to_string() << " B " << c.b.to_string());
        CHECK(r.outputs[0].shape() == c.out);
        check_close(r.outputs[0], want, c.a[c.a.rank() - 1]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shape inference with unknown dims.

namespace {

Result<Shape> infer_one(OpKind op, const std::vector<Shape>& in, const Attributes& attrs) {
  Graph g;
  std::vector<ValueId> ids;
  for (size_t i = 0; i < in.size(); ++i) ids.push_back(g.add_value("in" + std::to_string(i), DType::kF32, in[i], true));
  ValueId out = g.add_value("out");
  NodeId n = g.add_node(op, "n", ids, {out}, attrs);
  QE_RETURN_IF_ERROR(infer_node(g, n));
  return g.value(out).shape;
}

}  // namespace

TEST_CASE("shape inference keeps unknown batch dims") {
  Attributes conv;
  conv.set("strides", std::vector<int64_t>{2, 2});
  conv.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  auto s = infer_one(OpKind::kConv, {Shape{-1, 3, 224, 224}, Shape{64, 3, 7, 7}}, conv);
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 64, 110, 110}));
  s = infer_one(OpKind::kConv, {Shape{-1, 3, -1, 10}, Shape{8, 3, 3, 3}}, Attributes{});
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 8, -1, 8}));
  Attributes same;
  same.set("auto_pad", std::string("SAME_UPPER"));
  same.set("strides", std::vector<int64_t>{2});
  s = infer_one(OpKind::kConv, {Shape{1, 4, 9}, Shape{4, 4, 3}}, same);
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({1, 4, 5}));

  Attributes ct;
  ct.set("strides", std::vector<int64_t>{2, 2});
  ct.set("output_padding", std::vector<int64_t>{1, 1});
  s = infer_one(OpKind::kConvTranspose, {Shape{-1, 4, 5, 6}, Shape{4, 3, 3, 3}}, ct);
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 3, 12, 14}));

  Attributes gemm;
  gemm.set("transB", int64_t{1});
  s = infer_one(OpKind::kGemm, {Shape{-1, 512}, Shape{10, 512}, Shape{10}}, gemm);
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 10}));
  s = infer_one(OpKind::kMatMul, {Shape{-1, 197, 192}, Shape{192, 576}}, Attributes{});
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 197, 576}));
  s = infer_one(OpKind::kMatMul, {Shape{-1, 3, 197, 64}, Shape{-1, 3, 64, 197}}, Attributes{});
  REQUIRE(s.is_ok());
  CHECK(*s == Shape({-1, 3, 197, 197}));
}

TEST_CASE("shape inference rejects inconsistent operands with the attribute or dim named") {
  auto s = infer_one(OpKind::kGemm, {Shape{4, 5}, Shape{6, 7}}, Attributes{});
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.status().message().find("K") != std::string::npos);
  s = infer_one(OpKind::kMatMul, {Shape{2, 4, 5}, Shape{3, 5, 7}}, Attributes{});
  CHECK_FALSE(s.is_ok());
  Attributes bad_pads;
  bad_pads.set("pads", std::vector<int64_t>{1, 1});
  s = infer_one(OpKind::kConv, {Shape{1, 3, 8, 8}, Shape{4, 3, 3, 3}}, bad_pads);
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.status().message().find("pads") != std::string::npos);
  Attributes ks;
  ks.set("kernel_shape", std::vector<int64_t>{5, 5});
  s = infer_one(OpKind::kConv, {Shape{1, 3, 8, 8}, Shape{4, 3, 3, 3}}, ks);
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.status().message().find("kernel_shape") != std::string::npos);
  s = infer_one(OpKind::kConv, {Shape{1, 3, 2, 2}, Shape{4, 3, 3, 3}}, Attributes{});
  CHECK_FALSE(s.is_ok());
}

TEST_CASE("Conv op: the candidate chosen follows the shape") {
  if (cpu_features().level < IsaLevel::kAvx512) return;
  auto kernel_for = [](Shape xs, Shape ws, int64_t group, bool constant_w) {
    Attributes a;
    int64_t pad = ws[2] / 2;
    a.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
    a.set("group", group);
    auto r = run_single_op(OpKind::kConv, {test::random_tensor(xs, 1), test::random_tensor(ws, 2)}, a, 1, 1,
                           {false, constant_w});
    REQUIRE(r.is_ok());
    return r->kernel;
  };
  CHECK(kernel_for(Shape{1, 32, 28, 28}, Shape{32, 32, 3, 3}, 1, true) == "conv_f32_winograd_4x4_3x3_avx512");
  CHECK(kernel_for(Shape{1, 32, 28, 28}, Shape{32, 32, 3, 3}, 1, false) == "conv_f32_gemm_8x48_avx512");
  CHECK(kernel_for(Shape{1, 32, 7, 7}, Shape{32, 32, 3, 3}, 1, true) == "conv_f32_gemm_8x48_avx512");
  CHECK(kernel_for(Shape{1, 32, 28, 28}, Shape{64, 32, 1, 1}, 1, true) == "conv_f32_gemm_8x48_avx512");
  CHECK(kernel_for(Shape{1, 32, 28, 28}, Shape{32, 1, 3, 3}, 32, true) == "conv_f32_depthwise_avx512");
  CHECK(kernel_for(Shape{1, 32, 28, 28}, Shape{32, 1, 3, 3}, 32, false) == "conv_f32_depthwise_avx512");
}

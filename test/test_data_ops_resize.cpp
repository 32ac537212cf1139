// Resize and Upsample through run_single_op. Bilinear is checked against an independent
// transcription of PyTorch's upsample_bilinear2d (float lambdas, src clamped at 0, the
// h0 * (w0 * a + w1 * b) + h1 * (w0 * c + w1 * d) order), trilinear against a separable double
// computation, nearest against the ONNX rounding rules; the ONNX conformance cases (including
// cubic and tf_crop_and_resize) run in test_data_ops_conformance.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/evaluate.h"
#include "support/test_support.h"

using namespace qe;

namespace {

Tensor floats(Shape s, std::vector<float> v) { return Tensor::from_vector(std::move(s), v); }
Tensor sizes_of(std::vector<int64_t> v) { return Tensor::from_vector(Shape{static_cast<int64_t>(v.size())}, v); }

Attributes resize_attrs(const std::string& mode, const std::string& coord, const std::string& nearest = "") {
  Attributes a;
  a.set("mode", mode);
  if (!coord.empty()) a.set("coordinate_transformation_mode", coord);
  if (!nearest.empty()) a.set("nearest_mode", nearest);
  return a;
}

SingleOpResult run_ok(OpKind op, const std::vector<Tensor>& in, const Attributes& a, int threads = 1) {
  auto r = run_single_op(op, in, a, 1, threads);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

// PyTorch's upsample_bilinear2d (aten/src/ATen/native/UpSample.h area_pixel_compute_*), in
// float, for an output size given directly (scale = in / out).
std::vector<float> torch_bilinear(const Tensor& x, int64_t oh, int64_t ow, bool align_corners) {
  const Shape& s = x.shape();
  int64_t planes = s[0] * s[1], ih = s[2], iw = s[3];
  auto scale = [&](int64_t in, int64_t out) -> float {
    if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
    return static_cast<float>(in) / static_cast<float>(out);
  };
  auto source = [&](float sc, int64_t dst) -> float {
    if (align_corners) return sc * static_cast<float>(dst);
    float src = sc * (static_cast<float>(dst) + 0.5f) - 0.5f;
    return src < 0 ? 0.f : src;
  };
  float sh = scale(ih, oh), sw = scale(iw, ow);
  std::vector<float> out(static_cast<size_t>(planes * oh * ow));
  const float* in = x.data<float>();
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t y = 0; y < oh; ++y) {
      float hr = source(sh, y);
      int64_t h1 = static_cast<int64_t>(hr);
      int64_t h1p = h1 < ih - 1 ? 1 : 0;
      float h1l = hr - static_cast<float>(h1), h0l = 1.f - h1l;
      for (int64_t xx = 0; xx < ow; ++xx) {
        float wr = source(sw, xx);
        int64_t w1 = static_cast<int64_t>(wr);
        int64_t w1p = w1 < iw - 1 ? 1 : 0;
        float w1l = wr - static_cast<float>(w1), w0l = 1.f - w1l;
        const float* base = in + p * ih * iw + h1 * iw + w1;
        out[static_cast<size_t>((p * oh + y) * ow + xx)] =
            h0l * (w0l * base[0] + w1l * base[w1p]) + h1l * (w0l * base[h1p * iw] + w1l * base[h1p * iw + w1p]);
      }
    }
  }
  return out;
}

double max_rel_diff(const float* a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::fabs(b[i])));
  }
  return worst;
}

}  // namespace

TEST_CASE("Bilinear half_pixel matches PyTorch's upsample_bilinear2d") {
  struct Case { int64_t c, ih, iw, oh, ow; };
  const Case cases[] = {{3, 7, 9, 14, 18}, {2, 8, 8, 16, 16}, {1, 5, 13, 3, 4}, {4, 17, 11, 9, 29},
                        {1, 1, 1, 3, 5},   {2, 6, 6, 6, 6},   {1, 64, 48, 7, 100}};
  for (const Case& c : cases) {
    for (bool align : {false, true}) {
      INFO("c " << c.c << " in " << c.ih << "x" << c.iw << " out " << c.oh << "x" << c.ow << " align " << align);
      Tensor x = test::random_tensor(Shape{2, c.c, c.ih, c.iw}, static_cast<uint64_t>(c.ih * 131 + c.ow), -3.f, 3.f);
      auto r = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({2, c.c, c.oh, c.ow})},
                      resize_attrs("linear", align ? "align_corners" : "half_pixel"), 2);
      CHECK(r.kernel == "resize_2d_f32");
      std::vector<float> want = torch_bilinear(x, c.oh, c.ow, align);
      // Same float lambdas and order of operations: bit for bit.
      CHECK(max_rel_diff(r.outputs[0].data<float>(), want) == 0.0);
    }
  }
}

TEST_CASE("Bilinear with scales uses 1 / scale as PyTorch's scale_factor does") {
  Tensor x = test::random_tensor(Shape{1, 2, 10, 6}, 5);
  Tensor scales = floats(Shape{4}, {1.f, 1.f, 2.f, 2.f});
  auto r = run_ok(OpKind::kResize, {x, Tensor(), scales}, resize_attrs("linear", "pytorch_half_pixel"));
  REQUIRE(r.outputs[0].shape() == Shape({1, 2, 20, 12}));
  // For an integer factor, in / out == 1 / scale exactly, so the torch transcription applies.
  CHECK(max_rel_diff(r.outputs[0].data<float>(), torch_bilinear(x, 20, 12, false)) == 0.0);
}

TEST_CASE("Linear over other axes: trilinear in double against a separable computation") {
  Tensor xf = test::random_tensor(Shape{1, 2, 3, 4, 5}, 11);
  Tensor x(DType::kF64, xf.shape());
  for (int64_t i = 0; i < xf.numel(); ++i) x.data<double>()[i] = xf.data<float>()[i];
  const int64_t od = 5, oh = 7, ow = 3;
  auto r = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({1, 2, od, oh, ow})},
                  resize_attrs("linear", "half_pixel"));
  CHECK(r.kernel == "resize_nd_ref");
  // 1-D linear taps for one axis (half_pixel, indices clamped to the edge).
  auto taps = [](int64_t in, int64_t out, int64_t o, int64_t* i0, int64_t* i1, double* w1) {
    double c = (o + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
    double f = std::floor(c);
    *w1 = c - f;
    *i0 = std::clamp<int64_t>(static_cast<int64_t>(f), 0, in - 1);
    *i1 = std::clamp<int64_t>(static_cast<int64_t>(f) + 1, 0, in - 1);
  };
  const double* in = x.data<double>();
  int bad = 0;
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t d = 0; d < od; ++d) {
      for (int64_t h = 0; h < oh; ++h) {
        for (int64_t w = 0; w < ow; ++w) {
          int64_t d0, d1, h0, h1, w0, w1;
          double wd, wh, ww;
          taps(3, od, d, &d0, &d1, &wd);
          taps(4, oh, h, &h0, &h1, &wh);
          taps(5, ow, w, &w0, &w1, &ww);
          auto at = [&](int64_t dd, int64_t hh, int64_t wi) { return in[((c * 3 + dd) * 4 + hh) * 5 + wi]; };
          auto lerp_w = [&](int64_t dd, int64_t hh) { return (1 - ww) * at(dd, hh, w0) + ww * at(dd, hh, w1); };
          auto lerp_h = [&](int64_t dd) { return (1 - wh) * lerp_w(dd, h0) + wh * lerp_w(dd, h1); };
          double want = (1 - wd) * lerp_h(d0) + wd * lerp_h(d1);
          double got = r.outputs[0].data<double>()[((c * od + d) * oh + h) * ow + w];
          if (std::fabs(got - want) > 1e-12) ++bad;
        }
      }
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("Nearest rounding modes and coordinate maps (ONNX rules)") {
  Tensor x = floats(Shape{1, 1, 1, 4}, {10, 20, 30, 40});
  auto run_nearest = [&](int64_t out, const std::string& coord, const std::string& mode) {
    auto r = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({1, 1, 1, out})}, resize_attrs("nearest", coord, mode));
    CHECK(r.kernel == "resize_nearest");
    return std::vector<float>(r.outputs[0].data<float>(), r.outputs[0].data<float>() + out);
  };
  // asymmetric, 4 -> 8: x / 2 = 0, .5, 1, 1.5, ...
  CHECK(run_nearest(8, "asymmetric", "floor") == std::vector<float>{10, 10, 20, 20, 30, 30, 40, 40});
  CHECK(run_nearest(8, "asymmetric", "ceil") == std::vector<float>{10, 20, 20, 30, 30, 40, 40, 40});
  CHECK(run_nearest(8, "asymmetric", "round_prefer_floor") == std::vector<float>{10, 10, 20, 20, 30, 30, 40, 40});
  CHECK(run_nearest(8, "asymmetric", "round_prefer_ceil") == std::vector<float>{10, 20, 20, 30, 30, 40, 40, 40});
  // half_pixel 4 -> 8: (x + .5) / 2 - .5 = -.25, .25, .75, ... rounds to 0 0 1 1 2 2 3 3.
  CHECK(run_nearest(8, "half_pixel", "round_prefer_floor") == std::vector<float>{10, 10, 20, 20, 30, 30, 40, 40});
  // align_corners 4 -> 3: x * 3 / 2 = 0, 1.5, 3.
  CHECK(run_nearest(3, "align_corners", "round_prefer_floor") == std::vector<float>{10, 20, 40});
  CHECK(run_nearest(3, "align_corners", "round_prefer_ceil") == std::vector<float>{10, 30, 40});
  // tf_half_pixel_for_nn 4 -> 2: (x + .5) * 2 = 1, 3.
  CHECK(run_nearest(2, "tf_half_pixel_for_nn", "floor") == std::vector<float>{20, 40});
  // pytorch_half_pixel to a single output maps to -0.5, clamped to the first element.
  CHECK(run_nearest(1, "pytorch_half_pixel", "round_prefer_ceil") == std::vector<float>{10});
}

TEMPLATE_TEST_CASE("Nearest moves any dtype and matches the float result", "", int8_t, uint8_t, int64_t, double) {
  Tensor xf = test::random_tensor(Shape{2, 3, 5, 7}, 9, 0.f, 100.f);
  Tensor x(dtype_of<TestType>::value, xf.shape());
  for (int64_t i = 0; i < xf.numel(); ++i) {
    xf.data<float>()[i] = std::round(xf.data<float>()[i]);
    x.data<TestType>()[i] = static_cast<TestType>(xf.data<float>()[i]);
  }
  for (const char* coord : {"half_pixel", "asymmetric", "align_corners"}) {
    Attributes a = resize_attrs("nearest", coord);
    Tensor sizes = sizes_of({2, 3, 11, 4});
    auto rf = run_ok(OpKind::kResize, {xf, Tensor(), Tensor(), sizes}, a);
    auto rt = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes}, a, 2);
    REQUIRE(rt.outputs[0].shape() == Shape({2, 3, 11, 4}));
    for (int64_t i = 0; i < rt.outputs[0].numel(); ++i) {
      CHECK(static_cast<float>(rt.outputs[0].data<TestType>()[i]) == rf.outputs[0].data<float>()[i]);
    }
  }
}

TEST_CASE("Upsample (opset 9): nearest and linear with scales") {
  Tensor x = floats(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = floats(Shape{4}, {1, 1, 2, 3});
  Attributes a;
  a.set("mode", std::string("nearest"));
  auto r = run_ok(OpKind::kUpsample, {x, scales}, a);
  CHECK(r.outputs[0].shape() == Shape({1, 1, 4, 6}));
  std::vector<float> want = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  CHECK(std::vector<float>(r.outputs[0].data<float>(), r.outputs[0].data<float>() + 24) == want);
  // Linear Upsample maps asymmetrically (x / scale): 1, 1.5, 2, 2 along a row scaled by 2.
  Attributes lin;
  lin.set("mode", std::string("linear"));
  auto l = run_ok(OpKind::kUpsample, {x, floats(Shape{4}, {1, 1, 1, 2})}, lin);
  CHECK(std::vector<float>(l.outputs[0].data<float>(), l.outputs[0].data<float>() + 8) ==
        std::vector<float>{1, 1.5f, 2, 2, 3, 3.5f, 4, 4});
}

TEST_CASE("Cubic keeps a constant image constant; exclude_outside renormalises") {
  Tensor x(DType::kF32, Shape{1, 1, 5, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 2.5f;
  for (int exclude : {0, 1}) {
    Attributes a = resize_attrs("cubic", "half_pixel");
    a.set("exclude_outside", int64_t{exclude});
    auto r = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({1, 1, 9, 4})}, a);
    for (int64_t i = 0; i < r.outputs[0].numel(); ++i) CHECK(r.outputs[0].data<float>()[i] == Approx(2.5f).epsilon(1e-6));
  }
}

TEST_CASE("Resize: 1 and 2 threads agree on a large bilinear and a large nearest resize") {
  Tensor x = test::random_tensor(Shape{1, 16, 57, 43}, 21);
  for (const char* mode : {"linear", "nearest", "cubic"}) {
    Attributes a = resize_attrs(mode, "half_pixel");
    Tensor sizes = sizes_of({1, 16, 113, 87});
    auto one = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes}, a, 1);
    auto two = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes}, a, 2);
    CHECK(std::memcmp(one.outputs[0].raw(), two.outputs[0].raw(), one.outputs[0].bytes()) == 0);
  }
}

TEST_CASE("Resize errors and declines") {
  Tensor x = test::random_tensor(Shape{1, 1, 4, 4}, 1);
  Tensor scales = floats(Shape{4}, {1, 1, 2, 2});
  auto err = [&](const std::vector<Tensor>& in, const Attributes& a) {
    auto r = run_single_op(OpKind::kResize, in, a);
    REQUIRE_FALSE(r.is_ok());
    return r.status();
  };
  Attributes lin = resize_attrs("linear", "half_pixel");
  CHECK(err({x, Tensor(), scales, sizes_of({1, 1, 8, 8})}, lin).message().find("exactly one") != std::string::npos);
  CHECK(err({x, Tensor(), floats(Shape{2}, {2, 2})}, lin).message().find("2 values") != std::string::npos);
  CHECK(err({x, Tensor(), floats(Shape{4}, {1, 1, 0, 2})}, lin).message().find("invalid value 0") != std::string::npos);
  CHECK(err({x}, lin).message().find("scales") != std::string::npos);
  CHECK(err({x, Tensor(), scales}, resize_attrs("area", "")).message().find("area") != std::string::npos);
  CHECK(err({x, Tensor(), scales}, resize_attrs("linear", "corners")).message().find("corners") != std::string::npos);
  Attributes aa = lin;
  aa.set("antialias", int64_t{1});
  CHECK(err({x, Tensor(), scales}, aa).code() == StatusCode::kUnsupported);
  Tensor h(DType::kF16, Shape{1, 1, 2, 2});
  CHECK(err({h, Tensor(), scales}, lin).code() == StatusCode::kUnsupported);
}

TEST_CASE("Resize with axes and keep_aspect_ratio_policy (opset 18)") {
  Tensor x = test::random_tensor(Shape{1, 2, 3, 5}, 4);
  Attributes a = resize_attrs("nearest", "asymmetric", "floor");
  a.set("axes", std::vector<int64_t>{2, 3});
  a.set("keep_aspect_ratio_policy", std::string("not_smaller"));
  auto r = run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({6, 6})}, a);
  CHECK(r.outputs[0].shape() == Shape({1, 2, 6, 10}));  // scale max(6/3, 6/5) = 2
  a.set("keep_aspect_ratio_policy", std::string("not_larger"));
  CHECK(run_ok(OpKind::kResize, {x, Tensor(), Tensor(), sizes_of({6, 6})}, a).outputs[0].shape() ==
        Shape({1, 2, 4, 6}));  // scale 1.2: round(3.6) = 4
}

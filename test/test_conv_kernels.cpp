// Conv fast paths against conv_f32_ref: the GEMM path (pointwise and im2col, prepacked and
// dynamic weights) for every microkernel family this CPU runs, and the depthwise kernels per
// ISA, over sweeps of channels, groups, kernels, strides, dilations, asymmetric pads and tails.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "kernels/conv/conv_f32.h"
#include "support/op_test_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::kernels;
using namespace qe::test;

namespace {

// A 2-D (or 1-D when h == 1 and kh == 1) conv; pads are begin pads, end pads follow from `out`.
struct ConvCase {
  int64_t batch, cin, cout, group, h, w, kh, kw, sh, sw, dh, dw, ph, pw, ph_end, pw_end;
  Activation act;
  bool bias = true;
};

ConvF32Params params_of(const ConvCase& c) {
  ConvF32Params p;
  p.batch = c.batch;
  p.in_channels = c.cin;
  p.out_channels = c.cout;
  p.group = c.group;
  p.in[1] = c.h;
  p.in[2] = c.w;
  p.kernel[1] = c.kh;
  p.kernel[2] = c.kw;
  p.stride[1] = c.sh;
  p.stride[2] = c.sw;
  p.dilation[1] = c.dh;
  p.dilation[2] = c.dw;
  p.pad[1] = c.ph;
  p.pad[2] = c.pw;
  p.out[1] = (c.h + c.ph + c.ph_end - ((c.kh - 1) * c.dh + 1)) / c.sh + 1;
  p.out[2] = (c.w + c.pw + c.pw_end - ((c.kw - 1) * c.dw + 1)) / c.sw + 1;
  p.act = c.act;
  return p;
}

std::string describe(const ConvCase& c) {
  std::ostringstream os;
  os << "N" << c.batch << " C" << c.cin << "->" << c.cout << " g" << c.group << " " << c.h << "x" << c.w << " k"
     << c.kh << "x" << c.kw << " s" << c.sh << "," << c.sw << " d" << c.dh << "," << c.dw << " p" << c.ph << ","
     << c.pw << "," << c.ph_end << "," << c.pw_end;
  return os.str();
}

struct ConvData {
  ConvF32Params p;
  Tensor x, w, b, want;
};

ConvData make_data(const ConvCase& c) {
  ConvData d;
  d.p = params_of(c);
  d.x = test::random_tensor(Shape{c.batch, c.cin, c.h, c.w}, 11 + c.cin * 3 + c.h);
  d.w = test::random_tensor(Shape{c.cout, c.cin / c.group, c.kh, c.kw}, 12 + c.cout + c.kh);
  d.b = test::random_tensor(Shape{c.cout}, 13);
  d.want = Tensor(DType::kF32, Shape{c.batch, c.cout, d.p.out[1], d.p.out[2]});
  conv_f32_ref(d.p, d.x.data<float>(), d.w.data<float>(), c.bias ? d.b.data<float>() : nullptr,
               d.want.data<float>());
  return d;
}

void check_gemm_path(const ConvCase& c) {
  ConvData d = make_data(c);
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (int threads : {1, 2}) {
      for (int variant = 0; variant < 4; ++variant) {
        bool prepack = variant & 1;
        ConvGemmMode mode = variant & 2 ? ConvGemmMode::kTransposed : ConvGemmMode::kDirect;
        ConvGemmPlan plan = plan_conv_gemm(*cfg, d.p, threads, prepack, mode);
        std::vector<float> packed;
        if (prepack) {
          packed.resize(static_cast<size_t>(conv_gemm_packed_weights_floats(plan)));
          conv_gemm_pack_weights(plan, d.w.data<float>(), packed.data());
        }
        std::vector<float> scratch(static_cast<size_t>(conv_gemm_scratch_floats(plan) + 1));
        Tensor got(DType::kF32, d.want.shape());
        ThreadPool pool(threads);
        conv_f32_gemm(plan, pool, d.x.data<float>(), prepack ? packed.data() : nullptr, d.w.data<float>(),
                      c.bias ? d.b.data<float>() : nullptr, got.data<float>(), scratch.data());
        check_close_k(got.data<float>(), d.want.data<float>(), got.numel(), plan.K,
                    std::string(cfg->name) + " " + describe(c) + " threads=" + std::to_string(threads) +
                        (prepack ? " prepacked" : " dynamic") + (plan.transposed ? " transposed" : " direct"));
      }
    }
  }
}

const Activation kRelu{ActKind::kRelu, 0, 0};

}  // namespace

TEST_CASE("conv GEMM path: pointwise convs") {
  for (int64_t cin : {1, 3, 16, 37}) {
    for (int64_t cout : {1, 8, 13, 64}) {
      for (int64_t hw : {1, 7, 14}) {
        check_gemm_path({1, cin, cout, 1, hw, hw, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, {}});
      }
    }
  }
  check_gemm_path({3, 24, 40, 1, 9, 11, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, kRelu});
  check_gemm_path({2, 24, 40, 1, 9, 11, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, kRelu});  // strided 1x1: im2col
}

TEST_CASE("conv GEMM path: k x k kernels, strides, dilations, asymmetric pads") {
  for (int64_t k : {2, 3, 5}) {
    for (int64_t s : {1, 2, 3}) {
      for (int64_t dil : {1, 2}) {
        for (int64_t pad : {0, 1, 2}) {
          check_gemm_path({1, 5, 9, 1, 13, 10, k, k, s, s, dil, dil, pad, pad, pad, pad, {}});
        }
      }
    }
  }
  check_gemm_path({1, 4, 6, 1, 9, 12, 3, 2, 2, 1, 1, 3, 1, 0, 2, 3, kRelu});
  // Stride 1 with padding only at the end: the input is not the padded layout (found by fuzzing).
  check_gemm_path({1, 1, 2, 1, 7, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 31, {}});
  check_gemm_path({1, 4, 6, 1, 9, 12, 3, 3, 1, 1, 1, 1, 0, 0, 2, 1, kRelu});
  check_gemm_path({2, 3, 5, 1, 6, 6, 2, 2, 1, 1, 2, 2, 0, 0, 3, 0, {}});
  check_gemm_path({2, 3, 64, 1, 23, 23, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, kRelu});  // ResNet stem shape class
  check_gemm_path({1, 64, 64, 1, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu});  // K = 576 spans K blocks
}

TEST_CASE("conv GEMM path: im2col packed once when the output channels are split") {
  ConvCase c{1, 16, 300, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu};
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    ConvGemmPlan plan = plan_conv_gemm(*cfg, params_of(c), 2, true, ConvGemmMode::kDirect);
    CHECK(plan.b_full_floats > 0);
  }
  check_gemm_path(c);
  check_gemm_path({2, 24, 200, 1, 7, 5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, {}});
}

TEST_CASE("conv GEMM path: 1-D convs") {
  for (int64_t k : {1, 3, 4}) {
    for (int64_t s : {1, 2}) {
      check_gemm_path({2, 6, 10, 1, 1, 37, 1, k, 1, s, 1, 2, 0, 1, 0, 2, {}});
    }
  }
}

TEST_CASE("conv GEMM path: groups and depthwise, with and without bias") {
  check_gemm_path({1, 8, 12, 2, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, {}});
  check_gemm_path({2, 12, 12, 4, 7, 8, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, kRelu, false});
  check_gemm_path({1, 16, 16, 16, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu});
  check_gemm_path({1, 6, 12, 6, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, {}});  // channel multiplier 2
}

TEST_CASE("conv GEMM path: fused activations in the epilogue") {
  std::vector<Activation> acts = {{ActKind::kClip, 0.f, 6.f}, {ActKind::kLeakyRelu, 0.2f, 0},
                                  {ActKind::kHardSigmoid, 0.2f, 0.5f}, {ActKind::kHardSwish, 0, 0},
                                  {ActKind::kSigmoid, 0, 0}};
  for (const Activation& a : acts) check_gemm_path({1, 7, 19, 1, 11, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, a});
}

// ---------------------------------------------------------------------------------------------
// Depthwise kernels per ISA.

namespace {

std::vector<std::pair<const char*, DepthwiseFn>> available_depthwise() {
  std::vector<std::pair<const char*, DepthwiseFn>> out;
  if (cpu_features().level >= IsaLevel::kAvx2) out.emplace_back("conv_f32_depthwise_avx2", &conv_f32_depthwise_avx2);
  if (cpu_features().level >= IsaLevel::kAvx512) {
    out.emplace_back("conv_f32_depthwise_avx512", &conv_f32_depthwise_avx512);
  }
  return out;
}

void check_depthwise(const ConvCase& c) {
  REQUIRE(c.cin == c.cout);
  REQUIRE(c.group == c.cin);
  ConvData d = make_data(c);
  REQUIRE(conv_is_depthwise(d.p));
  DepthwiseGeometry g = plan_depthwise(d.p);
  for (auto [name, fn] : available_depthwise()) {
    std::vector<float> scratch(static_cast<size_t>(g.scratch_floats));
    Tensor got(DType::kF32, d.want.shape());
    // Two calls over split plane ranges, as the binding's tasks do.
    int64_t planes = c.batch * c.cin, mid = planes / 2;
    const float* bias = c.bias ? d.b.data<float>() : nullptr;
    fn(d.p, g, d.x.data<float>(), d.w.data<float>(), bias, got.data<float>(), 0, mid, scratch.data());
    fn(d.p, g, d.x.data<float>(), d.w.data<float>(), bias, got.data<float>(), mid, planes, scratch.data());
    check_close_k(got.data<float>(), d.want.data<float>(), got.numel(), c.kh * c.kw,
                std::string(name) + " " + describe(c));
  }
}

}  // namespace

TEST_CASE("depthwise kernels: 3x3 and 5x5, strides, pads, row and column tails") {
  for (int64_t k : {3, 5}) {
    for (int64_t s : {1, 2}) {
      for (int64_t hw : {1, 2, 7, 14, 17, 33, 56, 70}) {
        const int64_t pad = k / 2;
        if (hw + 2 * pad < k) continue;
        check_depthwise({1, 5, 5, 5, hw, hw + 3, k, k, s, s, 1, 1, pad, pad, pad, pad, kRelu});
      }
    }
  }
}

TEST_CASE("depthwise kernels: other kernels, dilations, asymmetric pads, batch, activations") {
  check_depthwise({2, 3, 3, 3, 19, 23, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, {}, false});
  check_depthwise({1, 4, 4, 4, 20, 21, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, kRelu});
  check_depthwise({1, 4, 4, 4, 20, 21, 3, 1, 2, 1, 1, 1, 1, 0, 1, 0, kRelu});
  check_depthwise({1, 4, 4, 4, 20, 21, 1, 5, 1, 3, 1, 1, 0, 2, 0, 2, kRelu});
  check_depthwise({3, 2, 2, 2, 15, 16, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, kRelu});  // TF-style SAME pads
  check_depthwise({1, 2, 2, 2, 1, 40, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, kRelu});   // 1-D
  std::vector<Activation> acts = {{ActKind::kClip, 0.f, 6.f}, {ActKind::kLeakyRelu, 0.2f, 0},
                                  {ActKind::kHardSigmoid, 0.2f, 0.5f}, {ActKind::kHardSwish, 0, 0},
                                  {ActKind::kSigmoid, 0, 0}, {ActKind::kNone, 0, 0}};
  for (const Activation& a : acts) check_depthwise({1, 3, 3, 3, 9, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, a});
}

// ---------------------------------------------------------------------------------------------
// Winograd F(4x4, 3x3).

namespace {

// Winograd changes the arithmetic (transforms with coefficients up to 8 and 1/24), so its error
// is larger than reassociation alone; bound it relative to the output scale of the layer.
void check_winograd(const ConvCase& c, int64_t chunk_images = 0) {
  if (cpu_features().level < IsaLevel::kAvx512) return;
  ConvData d = make_data(c);
  REQUIRE(winograd_supported(d.p));
  const GemmF32Config* cfg = gemm_f32_config(IsaLevel::kAvx512);
  for (int threads : {1, 2}) {
    WinogradPlan plan = plan_conv_winograd(*cfg, d.p, threads);
    if (chunk_images > 0) {
      plan.chunk_images = chunk_images;
      plan.chunk_tiles = chunk_images * plan.tiles_h * plan.tiles_w;
      plan.tiling = plan_gemm_tiling(*cfg, c.cout, plan.chunk_tiles, c.cin, 36, threads);
      plan.v_floats = round_up(36 * packed_size(plan.chunk_tiles, c.cin, cfg->nr), 16);
      plan.m_floats = round_up(36 * c.cout * plan.chunk_tiles, 16);
    }
    std::vector<float> u(static_cast<size_t>(winograd_packed_weights_floats(plan)));
    winograd_pack_weights(plan, d.w.data<float>(), u.data());
    std::vector<float> scratch(static_cast<size_t>(plan.scratch_floats()));
    Tensor got(DType::kF32, d.want.shape());
    ThreadPool pool(threads);
    conv_f32_winograd(plan, pool, d.x.data<float>(), u.data(), c.bias ? d.b.data<float>() : nullptr,
                      got.data<float>(), scratch.data());
    double scale = 0;
    for (int64_t i = 0; i < d.want.numel(); ++i) scale = std::max(scale, double(std::fabs(d.want.data<float>()[i])));
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      double e = std::fabs(got.data<float>()[i] - d.want.data<float>()[i]);
      worst = std::max(worst, e);
      if (!(e <= 2e-5 * std::sqrt(double(c.cin * 9)) * (1.0 + scale))) ++bad;
    }
    INFO("winograd " << describe(c) << " threads=" << threads << " worst abs error " << worst << " output scale "
                     << scale);
    CHECK(bad == 0);
  }
}

}  // namespace

TEST_CASE("winograd F(4x4,3x3) matches the reference") {
  check_winograd({1, 8, 16, 1, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, {}});
  check_winograd({1, 64, 64, 1, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu});
  check_winograd({1, 5, 9, 1, 13, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu});     // partial tiles
  check_winograd({2, 7, 12, 1, 9, 70, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0, {}});        // asymmetric pads, 2 groups of 16
  check_winograd({1, 130, 20, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu, false});
  check_winograd({3, 16, 24, 1, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, kRelu}, 1);  // one image per chunk
  check_winograd({1, 700, 10, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, {}});       // K split into blocks
  check_winograd({1, 4, 8, 1, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, {ActKind::kSigmoid, 0, 0}});
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose through GEMM + col2im.

namespace {

// Transposed conv geometry: in -> out = (in - 1) * s + (k - 1) * d + 1 - pads + output_padding.
void check_conv_transpose(int64_t batch, int64_t cin, int64_t cout, int64_t group, int64_t d, int64_t h, int64_t w,
                          int64_t k, int64_t s, int64_t dil, int64_t pad_b, int64_t pad_e, int64_t out_pad,
                          Activation act) {
  ConvF32Params p;
  p.batch = batch;
  p.in_channels = cin;
  p.out_channels = cout;
  p.group = group;
  const int64_t in[3] = {d, h, w};
  for (int i = 0; i < 3; ++i) {
    const bool used = in[i] > 1 || i == 2;
    p.in[i] = in[i];
    p.kernel[i] = used ? k : 1;
    p.stride[i] = used ? s : 1;
    p.dilation[i] = used ? dil : 1;
    p.pad[i] = used ? pad_b : 0;
    p.out[i] = used ? (in[i] - 1) * s + (k - 1) * dil + 1 - pad_b - pad_e + out_pad : 1;
  }
  p.act = act;
  Tensor x = test::random_tensor(Shape{batch, cin, d * h * w}, 21);
  Tensor wt = test::random_tensor(Shape{cin, cout / group, p.kernel_size()}, 22);
  Tensor b = test::random_tensor(Shape{cout}, 23);
  Tensor want(DType::kF32, Shape{batch, cout, p.out_size()});
  conv_transpose_f32_ref(p, x.data<float>(), wt.data<float>(), b.data<float>(), want.data<float>());
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (int threads : {1, 2}) {
      ConvTransposeGemmPlan plan = plan_conv_transpose_gemm(*cfg, p, threads);
      std::vector<float> packed(static_cast<size_t>(conv_transpose_packed_weights_floats(plan)));
      conv_transpose_pack_weights(plan, wt.data<float>(), packed.data());
      std::vector<float> scratch(static_cast<size_t>(plan.scratch_floats()));
      Tensor got(DType::kF32, want.shape());
      ThreadPool pool(threads);
      conv_transpose_f32_gemm(plan, pool, x.data<float>(), packed.data(), b.data<float>(), got.data<float>(),
                              scratch.data());
      std::ostringstream what;
      what << cfg->name << " convT N" << batch << " C" << cin << "->" << cout << " g" << group << " " << d << "x" << h
           << "x" << w << " k" << k << " s" << s << " d" << dil << " p" << pad_b << "," << pad_e << " op" << out_pad
           << " threads " << threads;
      check_close_k(got.data<float>(), want.data<float>(), got.numel(), cin / group * p.kernel_size(), what.str());
    }
  }
}

}  // namespace

TEST_CASE("ConvTranspose GEMM + col2im matches the reference") {
  for (int64_t k : {1, 2, 3, 4}) {
    for (int64_t s : {1, 2, 3}) {
      for (int64_t pad : {0, 1}) {
        check_conv_transpose(1, 6, 5, 1, 1, 7, 9, k, s, 1, pad, pad, s > 1 ? 1 : 0, {});
      }
    }
  }
  check_conv_transpose(2, 8, 12, 4, 1, 5, 6, 3, 2, 2, 1, 2, 1, kRelu);  // groups, dilation, asymmetric
  check_conv_transpose(1, 16, 32, 1, 1, 9, 9, 4, 2, 1, 1, 1, 0, {ActKind::kSigmoid, 0, 0});
  check_conv_transpose(1, 3, 4, 1, 1, 1, 13, 3, 2, 1, 0, 0, 1, kRelu);   // 1-D
  check_conv_transpose(1, 2, 3, 1, 4, 5, 3, 3, 2, 1, 1, 0, 0, kRelu);    // 3-D
  check_conv_transpose(1, 700, 40, 1, 1, 6, 6, 2, 2, 1, 0, 0, 0, {});    // K above one block
}

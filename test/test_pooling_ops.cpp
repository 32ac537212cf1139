// The pooling family: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool,
// BatchNormalization, LayerNormalization. Op-level results (run_single_op) are checked against
// naive loops written here from the ONNX definitions (window positions, padding, ceil_mode,
// auto_pad, count_include_pad); the vector kernels of every ISA the machine has against the
// scalar references over geometry sweeps with 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "engine/evaluate.h"
#include "graph/schema.h"
#include "kernels/normalization/norm.h"
#include "kernels/pooling/pool.h"
#include "support/test_support.h"

using namespace qe;

namespace {

std::vector<IsaLevel> simd_levels() {
  std::vector<IsaLevel> v;
  if (cpu_features().avx2) v.push_back(IsaLevel::kAvx2);
  if (cpu_features().avx512) v.push_back(IsaLevel::kAvx512);
  return v;
}

Result<SingleOpResult> run(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs, int threads = 1,
                           int outputs = 1, const std::vector<bool>& constant = {}) {
  return run_single_op(op, in, attrs, outputs, threads, constant);
}

SingleOpResult run_ok(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs, int threads = 1,
                      int outputs = 1, const std::vector<bool>& constant = {}) {
  auto r = run(op, in, attrs, threads, outputs, constant);
  INFO(op_name(op) << ": " << r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

bool close(double got, double want, double rel, double abs) {
  if (std::isnan(want)) return std::isnan(got);
  return std::fabs(got - want) <= rel * std::fabs(want) + abs;
}

// ---------------------------------------------------------------------------------------------
// A naive pool from the ONNX text: output o of an axis covers input positions
// o*stride - pad_begin + k*dilation; ceil_mode rounds the output count up but drops a window
// that would start past the input and its begin padding; SAME pads total = (out-1)*s + eff_k - in.

struct Geometry {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begins then ends
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
  bool count_include_pad = false;
};

Attributes to_attrs(const Geometry& g, bool avg) {
  Attributes a;
  a.set("kernel_shape", g.kernel);
  if (!g.strides.empty()) a.set("strides", g.strides);
  if (!g.dilations.empty()) a.set("dilations", g.dilations);
  if (!g.pads.empty()) a.set("pads", g.pads);
  if (g.auto_pad != "NOTSET") a.set("auto_pad", g.auto_pad);
  if (g.ceil_mode) a.set("ceil_mode", int64_t{1});
  if (avg && g.count_include_pad) a.set("count_include_pad", int64_t{1});
  return a;
}

struct Axis {
  int64_t in, out, k, s, d, pb, pe;
};

std::vector<Axis> axes_of(const Geometry& g, const Shape& x) {
  std::vector<Axis> axes;
  size_t n = g.kernel.size();
  for (size_t i = 0; i < n; ++i) {
    Axis a{x[i + 2], 0, g.kernel[i], g.strides.empty() ? 1 : g.strides[i], g.dilations.empty() ? 1 : g.dilations[i],
           g.pads.empty() ? 0 : g.pads[i], g.pads.empty() ? 0 : g.pads[i + n]};
    int64_t eff = (a.k - 1) * a.d + 1;
    if (g.auto_pad == "SAME_UPPER" || g.auto_pad == "SAME_LOWER") {
      a.out = (a.in + a.s - 1) / a.s;
      int64_t total = std::max<int64_t>(0, (a.out - 1) * a.s + eff - a.in);
      a.pb = g.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.pe = total - a.pb;
    } else {
      if (g.auto_pad == "VALID") a.pb = a.pe = 0;
      double span = static_cast<double>(a.in + a.pb + a.pe - eff) / static_cast<double>(a.s);
      a.out = static_cast<int64_t>(g.ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
      if (g.ceil_mode && (a.out - 1) * a.s >= a.in + a.pb) --a.out;
    }
    axes.push_back(a);
  }
  return axes;
}

// Max (avg == false) or average pool of x, in double.
std::pair<Shape, std::vector<double>> naive_pool(const Tensor& x, const Geometry& g, bool avg) {
  const Shape& s = x.shape();
  auto axes = axes_of(g, s);
  std::vector<int64_t> od = {s[0], s[1]};
  for (const Axis& a : axes) od.push_back(a.out);
  Shape os(od);
  std::vector<double> y(static_cast<size_t>(os.numel()));
  const size_t n = axes.size();
  int64_t plane_in = 1, plane_out = 1;
  for (const Axis& a : axes) plane_in *= a.in, plane_out *= a.out;
  for (int64_t p = 0; p < s[0] * s[1]; ++p) {
    for (int64_t o = 0; o < plane_out; ++o) {
      std::vector<int64_t> oi(n);
      for (size_t i = n, r = static_cast<size_t>(o); i-- > 0;) oi[i] = static_cast<int64_t>(r) % axes[i].out, r /= static_cast<size_t>(axes[i].out);
      int64_t taps = 1;
      for (const Axis& a : axes) taps *= a.k;
      double m = -INFINITY, sum = 0;
      int64_t in_count = 0, pad_count = 0;
      for (int64_t t = 0; t < taps; ++t) {
        int64_t rem = t, off = 0;
        bool inside = true, inside_padded = true;
        for (size_t i = n; i-- > 0;) {
          int64_t k = rem % axes[i].k;
          rem /= axes[i].k;
          int64_t pos = oi[i] * axes[i].s - axes[i].pb + k * axes[i].d;
          inside = inside && pos >= 0 && pos < axes[i].in;
          inside_padded = inside_padded && pos >= -axes[i].pb && pos < axes[i].in + axes[i].pe;
          int64_t stride = 1;
          for (size_t j = i + 1; j < n; ++j) stride *= axes[j].in;
          off += pos * stride;
        }
        pad_count += inside_padded;
        if (!inside) continue;
        double v = x.data<float>()[p * plane_in + off];
        m = std::max(m, v);
        sum += v;
        ++in_count;
      }
      double r = avg ? sum / static_cast<double>(g.count_include_pad ? pad_count : in_count) : m;
      if (!avg && in_count == 0) r = std::numeric_limits<float>::lowest();
      y[static_cast<size_t>(p * plane_out + o)] = r;
    }
  }
  return {os, y};
}

std::vector<std::pair<Shape, Geometry>> pool_cases() {
  std::vector<std::pair<Shape, Geometry>> c;
  // The ONNX conformance geometries, then sweeps of odd sizes, strides, pads, dilations.
  c.push_back({Shape{1, 3, 32}, {{2}, {}, {}, {}}});
  c.push_back({Shape{1, 3, 32, 32}, {{2, 2}, {}, {}, {}}});
  c.push_back({Shape{1, 1, 4, 4}, {{3, 3}, {2, 2}, {}, {}, "NOTSET", true}});
  c.push_back({Shape{1, 1, 2, 2}, {{1, 1}, {2, 2}, {}, {}, "NOTSET", true}});  // ceil drops the last window
  c.push_back({Shape{1, 1, 4, 4}, {{2, 2}, {1, 1}, {2, 2}, {}}});
  c.push_back({Shape{1, 3, 28, 28}, {{3, 3}, {}, {}, {2, 2, 2, 2}}});
  c.push_back({Shape{1, 3, 32, 32}, {{5, 5}, {3, 3}, {}, {}}});
  c.push_back({Shape{1, 3, 32, 32}, {{2, 2}, {}, {}, {}, "SAME_UPPER"}});
  c.push_back({Shape{1, 3, 32, 32}, {{2, 2}, {}, {}, {}, "SAME_LOWER"}});
  c.push_back({Shape{1, 1, 5, 5}, {{3, 3}, {2, 2}, {}, {}, "SAME_UPPER"}});
  c.push_back({Shape{1, 3, 7, 9, 11}, {{2, 2, 3}, {}, {}, {}}});
  c.push_back({Shape{2, 5, 11, 13}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", true}});
  c.push_back({Shape{2, 4, 57, 57}, {{3, 3}, {2, 2}, {}, {}}});  // the ResNet stem pool shape class
  c.push_back({Shape{1, 2, 112, 112}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}});
  c.push_back({Shape{1, 3, 10, 41}, {{2, 3}, {1, 1}, {}, {0, 1, 1, 0}}});
  c.push_back({Shape{1, 2, 9, 40}, {{3, 3}, {2, 1}, {2, 2}, {1, 2, 1, 2}}});
  c.push_back({Shape{1, 2, 12, 35}, {{2, 2}, {2, 2}, {}, {}, "VALID"}});
  c.push_back({Shape{1, 2, 13, 33}, {{3, 2}, {3, 3}, {}, {1, 1, 1, 1}, "NOTSET", true}});
  c.push_back({Shape{3, 2, 5, 6}, {{5, 6}, {1, 1}, {}, {}}});
  c.push_back({Shape{1, 1, 6, 70}, {{1, 4}, {1, 2}, {1, 3}, {0, 4, 0, 3}, "NOTSET", true}});
  return c;
}

}  // namespace

TEST_CASE("MaxPool and AveragePool follow the ONNX window definition") {
  for (const auto& [shape, g0] : pool_cases()) {
    for (bool avg : {false, true}) {
      for (bool cip : {false, true}) {
        if (!avg && cip) continue;
        Geometry g = g0;
        g.count_include_pad = cip;
        Tensor x = test::random_tensor(shape, static_cast<uint64_t>(shape.numel()), -5, 5);
        auto [os, want] = naive_pool(x, g, avg);
        for (int threads : {1, 2}) {
          auto r = run_ok(avg ? OpKind::kAveragePool : OpKind::kMaxPool, {x}, to_attrs(g, avg), threads);
          INFO((avg ? "AveragePool " : "MaxPool ") << shape.to_string() << " kernel " << Shape(g.kernel).to_string()
                                                   << " pads " << Shape(g.pads).to_string() << " " << g.auto_pad
                                                   << " ceil " << g.ceil_mode << " cip " << cip << " via " << r.kernel);
          REQUIRE(r.outputs[0].shape() == os);
          int bad = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            if (!close(r.outputs[0].data<float>()[i], want[i], 1e-6, 1e-6) && bad++ < 3) {
              UNSCOPED_INFO(i << ": got " << r.outputs[0].data<float>()[i] << " want " << want[i]);
            }
          }
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("MaxPool matches the ONNX ceil_mode example and works on uint8") {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  Geometry g{{3, 3}, {2, 2}, {}, {}, "NOTSET", true};
  auto r = run_ok(OpKind::kMaxPool, {Tensor::from_vector<float>(Shape{1, 1, 4, 4}, v)}, to_attrs(g, false));
  CHECK(r.outputs[0].shape() == Shape{1, 1, 2, 2});
  CHECK(values(r.outputs[0]) == std::vector<float>{11, 12, 15, 16});
  std::vector<uint8_t> u = {1, 200, 3, 4, 5, 6, 7, 8, 9};
  Geometry g2{{2, 2}, {}, {}, {}};
  auto ru = run_ok(OpKind::kMaxPool, {Tensor::from_vector<uint8_t>(Shape{1, 1, 3, 3}, u)}, to_attrs(g2, false));
  REQUIRE(ru.outputs[0].dtype() == DType::kU8);
  CHECK(std::vector<uint8_t>(ru.outputs[0].data<uint8_t>(), ru.outputs[0].data<uint8_t>() + 4) ==
        std::vector<uint8_t>{200, 200, 8, 9});
}

TEST_CASE("MaxPool declines the Indices output; bad pool attributes are errors") {
  Tensor x = test::random_tensor(Shape{1, 1, 4, 4}, 1);
  Geometry g{{2, 2}, {}, {}, {}};
  auto r = run(OpKind::kMaxPool, {x}, to_attrs(g, false), 1, 2);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == StatusCode::kUnsupported);
  CHECK(r.status().message().find("Indices") != std::string::npos);

  auto no_kernel = run(OpKind::kMaxPool, {x}, {});
  REQUIRE_FALSE(no_kernel.is_ok());
  CHECK(no_kernel.status().message().find("kernel_shape") != std::string::npos);
  Geometry big{{7, 7}, {}, {}, {}};
  auto too_big = run(OpKind::kAveragePool, {x}, to_attrs(big, true));
  REQUIRE_FALSE(too_big.is_ok());
  CHECK(too_big.status().message().find("smaller than") != std::string::npos);
  Geometry wrong_rank{{2}, {}, {}, {}};
  CHECK_FALSE(run(OpKind::kMaxPool, {x}, to_attrs(wrong_rank, false)).is_ok());
}

TEST_CASE("vector MaxPool and AveragePool match the references over geometry sweeps") {
  struct H {
    int64_t in, k, s, pad, dil, planes;
    bool cip;
  };
  // H geometries: 1-D pools, the 3x3/2 stem pool, tall kernels, padding, dilation.
  const std::vector<H> hs = {{1, 1, 1, 0, 1, 3, false}, {7, 3, 2, 1, 1, 3, false}, {9, 3, 1, 1, 2, 2, true},
                             {6, 6, 1, 0, 1, 2, false}};
  for (IsaLevel level : simd_levels()) {
    const kernels::PoolF32Ukernels* uk = kernels::pool_f32_ukernels(level);
    REQUIRE(uk != nullptr);
    int checked = 0;
    for (const H& h : hs) {
      for (int64_t w : {1, 5, 16, 17, 31, 33, 56, 57, 71, 2500}) {
        for (int64_t k : {1, 2, 3, 5}) {
          for (int64_t s : {1, 2, 3}) {
            for (int64_t pad : {0, 1, 2}) {
              for (int64_t dil : {1, 2}) {
                int64_t eff = (k - 1) * dil + 1;
                if (pad >= k || w + 2 * pad < eff || (w > 100 && (pad > 1 || dil > 1))) continue;
                kernels::PoolParams p;
                p.planes = h.planes;
                p.in[1] = h.in;
                p.in[2] = w;
                p.kernel[1] = h.k;
                p.kernel[2] = k;
                p.stride[1] = h.s;
                p.stride[2] = s;
                p.dilation[1] = h.dil;
                p.dilation[2] = dil;
                p.pad[1] = p.pad_end[1] = h.pad;
                p.pad[2] = p.pad_end[2] = pad;
                p.count_include_pad = h.cip;
                p.out[1] = (h.in + 2 * h.pad - ((h.k - 1) * h.dil + 1)) / h.s + 1;
                p.out[2] = (w + 2 * pad - eff + s - 1) / s + 1;  // ceil mode: windows may run past the end
                if ((p.out[2] - 1) * s >= w + pad) --p.out[2];
                Tensor x = test::random_tensor(Shape{p.planes, p.in[1], p.in[2]}, static_cast<uint64_t>(w * 100 + k));
                for (bool avg : {false, true}) {
                  std::vector<float> want(static_cast<size_t>(p.planes * p.out_size()));
                  if (avg) {
                    kernels::avg_pool_f32_ref(p, x.data<float>(), want.data(), 0, p.planes);
                  } else {
                    kernels::max_pool_ref<float>(p, x.data<float>(), want.data(), 0, p.planes);
                  }
                  std::vector<float> got(want.size() + 1, -7.f);
                  (avg ? uk->avg_pool : uk->max_pool)(p, x.data<float>(), got.data(), 0, p.planes);
                  INFO(isa_level_name(level) << (avg ? " avg" : " max") << " h=" << h.in << "/" << h.k << " w=" << w
                                             << " k=" << k << " s=" << s << " pad=" << pad << " dil=" << dil);
                  CHECK(got.back() == -7.f);
                  got.pop_back();
                  if (avg) {
                    int bad = 0;
                    for (size_t i = 0; i < want.size(); ++i) bad += !close(got[i], want[i], 1e-6, 1e-6);
                    CHECK(bad == 0);
                  } else {
                    CHECK(got == want);
                  }
                  ++checked;
                }
              }
            }
          }
        }
      }
    }
    CHECK(checked > 500);
  }
}

TEST_CASE("GlobalAveragePool and GlobalMaxPool for 1-D, 2-D and 3-D inputs") {
  for (const Shape& s : {Shape{2, 3, 17}, Shape{2, 5, 7, 7}, Shape{1, 64, 56, 56}, Shape{1, 2, 3, 4, 5}}) {
    Tensor x = test::random_tensor(s, 3, -4, 4);
    int64_t planes = s[0] * s[1], size = x.numel() / planes;
    std::vector<int64_t> od(s.rank(), 1);
    od[0] = s[0];
    od[1] = s[1];
    for (int threads : {1, 2}) {
      auto avg = run_ok(OpKind::kGlobalAveragePool, {x}, {}, threads);
      auto mx = run_ok(OpKind::kGlobalMaxPool, {x}, {}, threads);
      INFO(s.to_string() << " via " << avg.kernel << ", " << mx.kernel);
      REQUIRE(avg.outputs[0].shape() == Shape(od));
      REQUIRE(mx.outputs[0].shape() == Shape(od));
      for (int64_t p = 0; p < planes; ++p) {
        double sum = 0, m = -INFINITY;
        for (int64_t i = 0; i < size; ++i) {
          sum += x.data<float>()[p * size + i];
          m = std::max<double>(m, x.data<float>()[p * size + i]);
        }
        CHECK(close(avg.outputs[0].data<float>()[p], sum / static_cast<double>(size), 1e-5, 1e-6));
        CHECK(mx.outputs[0].data<float>()[p] == m);
      }
    }
  }
  for (IsaLevel level : simd_levels()) {
    const kernels::PoolF32Ukernels* uk = kernels::pool_f32_ukernels(level);
    for (int64_t size : {1, 3, 15, 16, 17, 49, 63, 64, 65, 196, 3137}) {
      Tensor x = test::random_tensor(Shape{5, size}, static_cast<uint64_t>(size));
      float want_avg[5], want_max[5], got_avg[5], got_max[5];
      kernels::global_avg_pool_f32_ref(x.data<float>(), want_avg, size, 0, 5);
      kernels::global_max_pool_ref<float>(x.data<float>(), want_max, size, 0, 5);
      uk->global_avg(x.data<float>(), got_avg, size, 0, 5);
      uk->global_max(x.data<float>(), got_max, size, 0, 5);
      INFO(isa_level_name(level) << " size " << size);
      for (int p = 0; p < 5; ++p) {
        CHECK(close(got_avg[p], want_avg[p], 1e-6 * std::sqrt(static_cast<double>(size)), 1e-7));
        CHECK(got_max[p] == want_max[p]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

TEST_CASE("BatchNormalization (inference) with constant and dynamic statistics") {
  for (const Shape& s : {Shape{2, 3}, Shape{2, 5, 7}, Shape{1, 16, 9, 11}, Shape{2, 3, 2, 3, 4}}) {
    int64_t c = s[1];
    Tensor x = test::random_tensor(s, 1, -3, 3);
    Tensor scale = test::random_tensor(Shape{c}, 2, 0.5f, 2);
    Tensor bias = test::random_tensor(Shape{c}, 3, -1, 1);
    Tensor mean = test::random_tensor(Shape{c}, 4, -1, 1);
    Tensor var = test::random_tensor(Shape{c}, 5, 0.1f, 3);
    Attributes a;
    a.set("epsilon", 1e-3f);
    int64_t size = x.numel() / (s[0] * c);
    for (bool constant : {true, false}) {
      for (int threads : {1, 2}) {
        std::vector<bool> consts = {false, constant, constant, constant, constant};
        auto r = run_ok(OpKind::kBatchNormalization, {x, scale, bias, mean, var}, a, threads, 1, consts);
        INFO(s.to_string() << " constant stats " << constant << " via " << r.kernel);
        REQUIRE(r.outputs[0].shape() == s);
        int bad = 0;
        for (int64_t i = 0; i < x.numel(); ++i) {
          int64_t ch = (i / size) % c;
          double want = (x.data<float>()[i] - mean.data<float>()[ch]) /
                            std::sqrt(static_cast<double>(var.data<float>()[ch]) + 1e-3f) * scale.data<float>()[ch] +
                        bias.data<float>()[ch];
          bad += !close(r.outputs[0].data<float>()[i], want, 2e-6, 2e-6);
        }
        CHECK(bad == 0);
      }
    }
  }
  Tensor x = test::random_tensor(Shape{1, 2, 3}, 1);
  Tensor p = test::random_tensor(Shape{2}, 2, 0.5f, 1);
  Attributes training;
  training.set("training_mode", int64_t{1});
  auto r = run(OpKind::kBatchNormalization, {x, p, p, p, p}, training);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == StatusCode::kUnsupported);
  CHECK(r.status().message().find("training_mode") != std::string::npos);
  auto bad_shape = run(OpKind::kBatchNormalization, {x, test::random_tensor(Shape{3}, 1), p, p, p}, {});
  REQUIRE_FALSE(bad_shape.is_ok());
  CHECK(bad_shape.status().message().find("scale") != std::string::npos);
}

TEST_CASE("vector per-channel affine matches the reference") {
  for (IsaLevel level : simd_levels()) {
    const kernels::NormF32Ukernels* uk = kernels::norm_f32_ukernels(level);
    REQUIRE(uk != nullptr);
    for (int64_t size : {1, 7, 16, 33, 49, 3136}) {
      const int64_t c = 5, planes = 10;
      Tensor x = test::random_tensor(Shape{planes, size}, 1, -3, 3);
      Tensor sc = test::random_tensor(Shape{c}, 2, 0.5f, 2), b = test::random_tensor(Shape{c}, 3);
      Tensor m = test::random_tensor(Shape{c}, 4), v = test::random_tensor(Shape{c}, 5, 0.1f, 2);
      std::vector<float> want(static_cast<size_t>(x.numel())), got(want.size() + 1, 3.f), ab(2 * c);
      kernels::batch_norm_f32_ref(x.data<float>(), want.data(), sc.data<float>(), b.data<float>(), m.data<float>(),
                                  v.data<float>(), 1e-5f, c, size, 0, planes);
      kernels::batch_norm_fold(sc.data<float>(), b.data<float>(), m.data<float>(), v.data<float>(), 1e-5f, c,
                               ab.data(), ab.data() + c);
      uk->channel_affine(x.data<float>(), got.data(), ab.data(), ab.data() + c, c, size, 0, planes);
      INFO(isa_level_name(level) << " size " << size);
      CHECK(got.back() == 3.f);
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i) bad += !close(got[i], want[i], 2e-6, 2e-6);
      CHECK(bad == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

TEST_CASE("LayerNormalization over trailing axes with broadcast Scale and B and its statistics") {
  Shape s{2, 3, 4, 5};
  Tensor x = test::random_tensor(s, 8, -2, 3);
  for (int64_t axis : {0, 1, 2, 3, -1, -2}) {
    int64_t ax = axis < 0 ? axis + 4 : axis;
    std::vector<int64_t> norm_dims(s.begin() + ax, s.end());
    int64_t n = Shape(norm_dims).numel(), rows = x.numel() / n;
    // Full-size Scale and B, then broadcast ones ([last dim] and [1]), then no B.
    std::vector<std::pair<Shape, Shape>> param_shapes = {{Shape(norm_dims), Shape(norm_dims)},
                                                         {Shape{s[3]}, Shape{1}}};
    for (size_t variant = 0; variant < 3; ++variant) {
      const auto& ps = param_shapes[variant == 2 ? 0 : variant];
      Tensor scale = test::random_tensor(ps.first, 9, 0.5f, 2);
      Tensor bias = test::random_tensor(ps.second, 10, -1, 1);
      Attributes a;
      a.set("axis", axis);
      a.set("epsilon", 1e-4f);
      std::vector<Tensor> in = {x, scale};
      if (variant != 2) in.push_back(bias);
      for (bool constant : {true, false}) {
        auto r = run_ok(OpKind::kLayerNormalization, in, a, 2, 3, {false, constant, constant});
        INFO("axis " << axis << " variant " << variant << " constant " << constant << " via " << r.kernel);
        std::vector<int64_t> stat_dims(s.begin(), s.end());
        for (size_t j = static_cast<size_t>(ax); j < 4; ++j) stat_dims[j] = 1;
        REQUIRE(r.outputs[0].shape() == s);
        REQUIRE(r.outputs[1].shape() == Shape(stat_dims));
        REQUIRE(r.outputs[2].shape() == Shape(stat_dims));
        int bad = 0;
        for (int64_t row = 0; row < rows; ++row) {
          const float* xr = x.data<float>() + row * n;
          double mean = 0, var = 0;
          for (int64_t i = 0; i < n; ++i) mean += xr[i];
          mean /= static_cast<double>(n);
          for (int64_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
          var /= static_cast<double>(n);
          double inv = 1 / std::sqrt(var + 1e-4f);
          bad += !close(r.outputs[1].data<float>()[row], mean, 1e-5, 1e-6);
          bad += !close(r.outputs[2].data<float>()[row], inv, 1e-5, 1e-6);
          for (int64_t i = 0; i < n; ++i) {
            double sc = scale.data<float>()[scale.numel() == n ? i : i % s[3]];
            double b = variant == 2 ? 0 : bias.data<float>()[bias.numel() == n ? i : 0];
            bad += !close(r.outputs[0].data<float>()[row * n + i], (xr[i] - mean) * inv * sc + b, 1e-5, 1e-5);
          }
        }
        CHECK(bad == 0);
      }
    }
  }
  auto bad_axis = run(OpKind::kLayerNormalization, {x, test::random_tensor(Shape{5}, 1)},
                      [] { Attributes a; a.set("axis", int64_t{4}); return a; }());
  REQUIRE_FALSE(bad_axis.is_ok());
  auto bad_scale = run(OpKind::kLayerNormalization, {x, test::random_tensor(Shape{4}, 1)}, {});
  REQUIRE_FALSE(bad_scale.is_ok());
  CHECK(bad_scale.status().message().find("Scale") != std::string::npos);
}

TEST_CASE("vector LayerNormalization matches the reference") {
  for (IsaLevel level : simd_levels()) {
    const kernels::NormF32Ukernels* uk = kernels::norm_f32_ukernels(level);
    for (int64_t n : {1, 2, 7, 16, 17, 31, 64, 100, 192, 768, 1031}) {
      const int64_t rows = 6;
      Tensor x = test::random_tensor(Shape{rows, n}, static_cast<uint64_t>(n), -4, 6);
      Tensor sc = test::random_tensor(Shape{n}, 2, 0.5f, 2), b = test::random_tensor(Shape{n}, 3);
      for (bool with_bias : {true, false}) {
        std::vector<float> want(static_cast<size_t>(x.numel())), got(want.size() + 1, 9.f);
        float wm[rows], wi[rows], gm[rows], gi[rows];
        const float* bias = with_bias ? b.data<float>() : nullptr;
        kernels::layer_norm_f32_ref(x.data<float>(), want.data(), sc.data<float>(), bias, n, 1e-5f, wm, wi, 0, rows);
        uk->layer_norm(x.data<float>(), got.data(), sc.data<float>(), bias, n, 1e-5f, gm, gi, 0, rows);
        INFO(isa_level_name(level) << " n " << n << " bias " << with_bias);
        CHECK(got.back() == 9.f);
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) bad += !close(got[i], want[i], 1e-5, 1e-5);
        for (int64_t r = 0; r < rows; ++r) {
          bad += !close(gm[r], wm[r], 1e-5, 1e-6);
          bad += !close(gi[r], wi[r], 1e-4, 1e-6);
        }
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("pool and normalisation shape inference keeps unknown dims") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{-1, 8, -1, 31}, true);
  auto infer = [&](OpKind op, std::vector<ValueId> in, Attributes a, int outputs = 1) {
    std::vector<ValueId> outs;
    for (int i = 0; i < outputs; ++i) {
      std::string id = std::to_string(g.num_values());
      outs.push_back(g.add_value("o" + id));
    }
    std::string id = std::to_string(g.num_nodes());
    NodeId n = g.add_node(op, "n" + id, std::move(in), outs, std::move(a));
    Status st = infer_node(g, n);
    INFO(st.to_string());
    REQUIRE(st.is_ok());
    return outs;
  };
  Geometry g3{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}};
  CHECK(g.value(infer(OpKind::kMaxPool, {x}, to_attrs(g3, false))[0]).shape == Shape{-1, 8, -1, 16});
  Geometry same{{3, 3}, {2, 2}, {}, {}, "SAME_UPPER"};
  CHECK(g.value(infer(OpKind::kAveragePool, {x}, to_attrs(same, true))[0]).shape == Shape{-1, 8, -1, 16});
  CHECK(g.value(infer(OpKind::kGlobalAveragePool, {x}, {})[0]).shape == Shape{-1, 8, 1, 1});
  ValueId c = g.add_value("c", DType::kF32, Shape{8}, true);
  CHECK(g.value(infer(OpKind::kBatchNormalization, {x, c, c, c, c}, {})[0]).shape == Shape{-1, 8, -1, 31});
  ValueId s = g.add_value("s", DType::kF32, Shape{31}, true);
  auto ln = infer(OpKind::kLayerNormalization, {x, s}, {}, 3);
  CHECK(g.value(ln[0]).shape == Shape{-1, 8, -1, 31});
  CHECK(g.value(ln[1]).shape == Shape{-1, 8, -1, 1});
  CHECK(g.value(ln[2]).shape == Shape{-1, 8, -1, 1});
}

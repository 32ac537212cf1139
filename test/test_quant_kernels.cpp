// Quantizer kernels against their scalar references: the AVX2 / AVX-512 integer fake quantizer
// bit for bit over shape sweeps (odd sizes, tails, many channels, channels innermost, every
// rounding mode and grid, negative zero points, ties and special values), the parameter layouts
// (broadcast and blocked) against a naive broadcast index, and the bound ops across thread
// counts against per-element evaluations of the references.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "engine/evaluate.h"
#include "engine/session.h"
#include "graph/quant_params.h"
#include "kernels/quant/fake_quant.h"
#include "kernels/quant/quant_layout.h"

using namespace qe;
using kernels::Rounding;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

const Rounding kModes[] = {Rounding::kHalfEven, Rounding::kHalfUp, Rounding::kHalfDown, Rounding::kUp,
                           Rounding::kDown,     Rounding::kCeil,   Rounding::kFloor};

std::vector<IsaLevel> simd_levels() {
  std::vector<IsaLevel> v;
  if (cpu_features().level >= IsaLevel::kAvx2) v.push_back(IsaLevel::kAvx2);
  if (cpu_features().level >= IsaLevel::kAvx512) v.push_back(IsaLevel::kAvx512);
  return v;
}

// Same bits, or both NaN.
bool same(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

void require_same(const float* got, const float* want, int64_t n, const std::string& what) {
  for (int64_t i = 0; i < n; ++i) {
    if (!same(got[i], want[i])) {
      FAIL(what << ": element " << i << " is " << got[i] << ", expected " << want[i]);
    }
  }
}

struct Grid {
  int bits;
  bool is_signed, narrow;
  double lo() const {
    return is_signed ? -std::ldexp(1.0, bits - 1) + (narrow ? 1 : 0) : 0.0;
  }
  double hi() const { return is_signed ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1 - (narrow ? 1 : 0); }
};

// Values that exercise rounding and clipping for scale s and zero point z on the grid: uniform
// over a little more than the grid, exact ties, and special values.
std::vector<float> inputs(int64_t n, double s, double z, const Grid& g, std::mt19937_64& rng) {
  const double span = std::min(g.hi() - g.lo() + 8, 1e6);
  std::uniform_real_distribution<double> u(-span, span);
  std::uniform_int_distribution<int> kind(0, 9);
  const float specials[] = {kNaN, kInf, -kInf, 0.f, -0.f, 1e30f, -1e30f, 1e-30f};
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    const int k = kind(rng);
    if (k == 0) {
      v = specials[std::uniform_int_distribution<int>(0, 7)(rng)];
    } else if (k <= 3) {
      v = static_cast<float>((std::floor(u(rng)) + 0.5 - z) * s);  // a tie after dividing (when exact)
    } else {
      v = static_cast<float>(u(rng) * s);
    }
  }
  return x;
}

}  // namespace

TEST_CASE("round_with: every mode, ties of both signs, large and special values") {
  struct Case {
    double x;
    double even, half_up, half_down, up, down, ceil, floor;
  };
  const Case cases[] = {
      {2.5, 2, 3, 2, 3, 2, 3, 2},
      {-2.5, -2, -3, -2, -3, -2, -2, -3},
      {3.5, 4, 4, 3, 4, 3, 4, 3},
      {-0.5, -0.0, -1, -0.0, -1, -0.0, -0.0, -1},
      {0.49999999999999994, 0, 0, 0, 1, 0, 1, 0},  // x + 0.5 would round up to 1 in double
      {4503599627370497.0, 4503599627370497.0, 4503599627370497.0, 4503599627370497.0, 4503599627370497.0,
       4503599627370497.0, 4503599627370497.0, 4503599627370497.0},  // 2^52 + 1: already an integer
      {-7.25, -7, -7, -7, -8, -7, -7, -8},
  };
  for (const Case& c : cases) {
    INFO("x = " << c.x);
    CHECK(kernels::round_with(c.x, Rounding::kHalfEven) == c.even);
    CHECK(kernels::round_with(c.x, Rounding::kHalfUp) == c.half_up);
    CHECK(kernels::round_with(c.x, Rounding::kHalfDown) == c.half_down);
    CHECK(kernels::round_with(c.x, Rounding::kUp) == c.up);
    CHECK(kernels::round_with(c.x, Rounding::kDown) == c.down);
    CHECK(kernels::round_with(c.x, Rounding::kCeil) == c.ceil);
    CHECK(kernels::round_with(c.x, Rounding::kFloor) == c.floor);
  }
  CHECK(std::signbit(kernels::round_with(-0.25, Rounding::kHalfUp)));  // rounds to -0
  for (Rounding m : kModes) {
    CHECK(std::isnan(kernels::round_with(std::nan(""), m)));
    CHECK(kernels::round_with(INFINITY, m) == INFINITY);
    CHECK(kernels::round_with(-INFINITY, m) == -INFINITY);
  }
}

TEST_CASE("Integer fake quant vector forms match the reference bit for bit") {
  const auto levels = simd_levels();
  if (levels.empty()) WARN("no SIMD level on this machine: only the reference runs");
  std::mt19937_64 rng(7);
  const Grid grids[] = {{1, true, false}, {1, false, false}, {2, true, true},  {3, false, true},
                        {4, true, false}, {8, true, true},   {8, false, false}, {16, true, false},
                        {24, false, false}, {32, true, false}};
  const int64_t outers[] = {1, 3};
  const int64_t channels[] = {1, 3, 17, 64};
  const int64_t inners[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100};
  int64_t cases = 0;
  for (const Grid& g : grids) {
    for (Rounding mode : kModes) {
      for (int64_t outer : outers) {
        for (int64_t ch : channels) {
          for (int64_t inner : inners) {
            if (ch * inner > 2000 && outer > 1) continue;
            std::vector<float> scale(static_cast<size_t>(ch)), zp(static_cast<size_t>(ch));
            for (int64_t c = 0; c < ch; ++c) {
              const int e = std::uniform_int_distribution<int>(-8, 3)(rng);
              // half the channels a power of two, the rest arbitrary
              scale[c] = c % 2 ? std::ldexp(1.f, e) : static_cast<float>(std::ldexp(1.0, e) * (1 + 0.37 * (c % 5)));
              zp[c] = static_cast<float>(std::uniform_int_distribution<int>(-5, 5)(rng));  // negative ones too
            }
            const int64_t n = outer * ch * inner;
            std::vector<float> x(static_cast<size_t>(n));
            for (int64_t o = 0; o < outer; ++o) {
              for (int64_t c = 0; c < ch; ++c) {
                auto part = inputs(inner, scale[c], zp[c], g, rng);
                std::copy(part.begin(), part.end(), x.begin() + (o * ch + c) * inner);
              }
            }
            kernels::IntQuantArgs a;
            a.scale = scale.data();
            a.zero_point = zp.data();
            a.outer = outer;
            a.channels = ch;
            a.inner = inner;
            a.min_int = g.lo();
            a.max_int = g.hi();
            a.rounding = mode;
            std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
            kernels::int_fake_quant_ref(x.data(), want.data(), a);
            for (IsaLevel level : levels) {
              std::fill(got.begin(), got.end(), 12345.f);
              kernels::int_fake_quant_ukernel(level)(x.data(), got.data(), a);
              require_same(got.data(), want.data(), n,
                           std::string(isa_level_name(level)) + " bits " + std::to_string(g.bits) + " mode " +
                               std::to_string(static_cast<int>(mode)) + " shape " + std::to_string(outer) + "x" +
                               std::to_string(ch) + "x" + std::to_string(inner));
            }
            ++cases;
          }
        }
      }
    }
  }
  CHECK(cases > 1000);
}

TEST_CASE("Integer fake quant: the dispatching entry point across thread counts") {
  std::mt19937_64 rng(11);
  const Grid g{8, true, false};
  struct Shape3 {
    int64_t outer, channels, inner;
  };
  for (Shape3 s : {Shape3{1, 1, 100003}, Shape3{2, 67, 1001}, Shape3{513, 129, 1}, Shape3{7, 3, 4099}}) {
    std::vector<float> scale(static_cast<size_t>(s.channels)), zp(static_cast<size_t>(s.channels));
    for (int64_t c = 0; c < s.channels; ++c) {
      scale[c] = 0.01f * static_cast<float>(1 + c % 7);
      zp[c] = static_cast<float>(c % 9) - 4;
    }
    const int64_t n = s.outer * s.channels * s.inner;
    std::vector<float> x = inputs(n, 0.03, 0, g, rng);
    kernels::IntQuantArgs a;
    a.scale = scale.data();
    a.zero_point = zp.data();
    a.outer = s.outer;
    a.channels = s.channels;
    a.inner = s.inner;
    a.rounding = Rounding::kHalfUp;
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    kernels::int_fake_quant_ref(x.data(), want.data(), a);
    for (int threads : {1, 2, 3, 4}) {
      ThreadPool pool(threads);
      std::fill(got.begin(), got.end(), 0.f);
      kernels::int_fake_quant(x.data(), got.data(), a, &pool);
      require_same(got.data(), want.data(), n, std::to_string(threads) + " threads");
    }
  }
}

namespace {

// Parameter index of element `i` of x under numpy broadcasting of `p` (right-aligned).
int64_t naive_param_index(const std::vector<int64_t>& x, const std::vector<int64_t>& p, int64_t i) {
  int64_t idx = 0, pstride = 1;
  for (size_t k = x.size(); k-- > 0;) {
    const int64_t coord = i % x[k];
    i /= x[k];
    const size_t off = x.size() - k;
    if (off <= p.size()) {
      const int64_t pd = p[p.size() - off];
      if (pd != 1) idx += coord * pstride;
      pstride *= pd;
    }
  }
  return idx;
}

// Checks that for_each_piece over random ranges visits every element once, in order, with the
// parameter index `want(i)`.
template <typename F>
void check_pieces(const kernels::QuantLayout& l, int64_t numel, F want, std::mt19937_64& rng) {
  REQUIRE(l.numel() == numel);
  for (int trial = 0; trial < 20; ++trial) {
    int64_t b = trial == 0 ? 0 : std::uniform_int_distribution<int64_t>(0, numel)(rng);
    int64_t e = trial == 0 ? numel : std::uniform_int_distribution<int64_t>(b, numel)(rng);
    int64_t next = b;
    kernels::for_each_piece(l, b, e, [&](const kernels::QuantPiece& p) {
      REQUIRE(p.x_offset == next);
      REQUIRE(p.numel() > 0);
      for (int64_t o = 0; o < p.outer; ++o) {
        for (int64_t c = 0; c < p.channels; ++c) {
          for (int64_t i = 0; i < p.inner; ++i) {
            const int64_t elem = p.x_offset + (o * p.channels + c) * p.inner + i;
            REQUIRE(p.param_offset + c == want(elem));
          }
        }
      }
      next += p.numel();
    });
    REQUIRE(next == e);
  }
}

}  // namespace

TEST_CASE("Parameter layouts map every element to its broadcast parameter") {
  std::mt19937_64 rng(3);
  struct Case {
    std::vector<int64_t> x, p;
    bool single_block;
  };
  const std::vector<Case> cases = {
      {{5, 7}, {}, true},
      {{2, 3, 4}, {1, 3, 1}, true},
      {{2, 3, 4}, {3, 1}, true},
      {{2, 3, 4}, {4}, true},
      {{2, 3, 4}, {2, 3, 4}, true},
      {{6, 1, 5}, {6, 1, 1}, true},
      {{2, 3, 4}, {2, 1, 4}, false},
      {{2, 3, 4, 5}, {2, 1, 4, 1}, false},
      {{3, 2, 5, 2}, {3, 1, 5, 2}, false},
      {{2, 2, 2, 2, 3}, {2, 1, 2, 1, 3}, false},
      {{4, 3}, {1, 1, 1, 3}, true},  // extra leading 1s
  };
  for (const Case& c : cases) {
    INFO("x rank " << c.x.size() << ", param rank " << c.p.size());
    auto l = kernels::broadcast_layout(c.x, c.p);
    REQUIRE(l.is_ok());
    CHECK((l->num_blocks() == 1) == c.single_block);
    int64_t n = 1;
    for (int64_t d : c.x) n *= d;
    check_pieces(*l, n, [&](int64_t i) { return naive_param_index(c.x, c.p, i); }, rng);
  }
  CHECK(!kernels::broadcast_layout(std::vector<int64_t>{2, 3}, std::vector<int64_t>{2}).is_ok());
  CHECK(!kernels::broadcast_layout(std::vector<int64_t>{2, 3}, std::vector<int64_t>{2, 2, 3}).is_ok());
}

TEST_CASE("Blocked layouts: whole and partial blocks on every axis") {
  std::mt19937_64 rng(5);
  const std::vector<std::vector<int64_t>> shapes = {{7}, {4, 6}, {3, 5, 2}, {2, 9, 3}};
  for (const auto& x : shapes) {
    for (int64_t axis = 0; axis < static_cast<int64_t>(x.size()); ++axis) {
      for (int64_t block : {1, 2, 3, 4}) {
        INFO("rank " << x.size() << " axis " << axis << " block " << block);
        auto l = kernels::blocked_layout(x, axis, block);
        REQUIRE(l.is_ok());
        std::vector<int64_t> p = x;
        p[static_cast<size_t>(axis)] = (x[static_cast<size_t>(axis)] + block - 1) / block;
        int64_t n = 1;
        for (int64_t d : x) n *= d;
        check_pieces(*l, n, [&](int64_t i) {
          // coordinates of i, then the row-major index into p with the axis coordinate / block
          int64_t idx = 0, stride = 1;
          for (size_t k = x.size(); k-- > 0;) {
            int64_t coord = i % x[k];
            i /= x[k];
            if (static_cast<int64_t>(k) == axis) coord /= block;
            idx += coord * stride;
            stride *= p[k];
          }
          return idx;
        }, rng);
      }
    }
  }
}

namespace {

// FakeQuant(x) in a Session; returns the output and the bound kernel's name.
std::vector<float> session_fake_quant(const Tensor& x, const QuantParams& p, int threads, std::string* kernel) {
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, x.shape(), true);
  g.add_input(in);
  auto out = add_fake_quant(g, in, p, "fq");
  REQUIRE(out.is_ok());
  g.add_output(*out);
  SessionOptions so;
  so.num_threads = threads;
  auto s = Session::create(std::move(g), so);
  REQUIRE(s.is_ok());
  if (kernel) {
    auto info = (*s)->explain({x.shape()});
    REQUIRE(info.is_ok());
    for (const StepInfo& st : info->steps) {
      if (st.op == "FakeQuant") *kernel = st.kernel;
    }
  }
  auto y = (*s)->run({x});
  INFO(y.status().to_string());
  REQUIRE(y.is_ok());
  return std::vector<float>((*y)[0].data<float>(), (*y)[0].data<float>() + x.numel());
}

std::vector<int64_t> dims_of(const Shape& s) { return s.dims(); }

}  // namespace

TEST_CASE("FakeQuant op: every layout, every kind, 1-4 threads, against per-element references") {
  std::mt19937_64 rng(21);
  struct Case {
    Shape x, p;
  };
  const std::vector<Case> cases = {
      {Shape{3, 37, 41}, Shape{}},
      {Shape{2, 33, 9, 7}, Shape{1, 33, 1, 1}},
      {Shape{65, 3, 3, 3}, Shape{65, 1, 1, 1}},
      {Shape{257, 129}, Shape{129}},
      {Shape{8, 6, 5}, Shape{8, 1, 5}},           // index-mapping path
      {Shape{4, 6, 3, 5}, Shape{4, 1, 3, 1}},     // index-mapping path
      {Shape{4099}, Shape{4099}},
  };
  const std::string best = cpu_features().level >= IsaLevel::kAvx512 ? "fakequant_int_f32_avx512"
                           : cpu_features().level >= IsaLevel::kAvx2 ? "fakequant_int_f32_avx2"
                                                                      : "fakequant_ref";
  for (const Case& c : cases) {
    for (QuantKind kind : {QuantKind::kInt, QuantKind::kBipolar, QuantKind::kFloat}) {
      INFO("x " << c.x.to_string() << " params " << c.p.to_string() << " kind " << quant_kind_name(kind));
      QuantParams p;
      p.kind = kind;
      p.bits = kind == QuantKind::kInt ? 5 : (kind == QuantKind::kBipolar ? 1 : 8);
      p.is_signed = true;
      p.rounding = RoundingMode::kHalfDown;
      Tensor scale(DType::kF32, c.p), zp(DType::kF32, c.p);
      for (int64_t i = 0; i < scale.numel(); ++i) {
        scale.data<float>()[i] = 0.05f * static_cast<float>(1 + i % 11);
        zp.data<float>()[i] = kind == QuantKind::kInt ? static_cast<float>(i % 7) - 3 : 0.f;
      }
      p.scale = scale;
      p.zero_point = zp;
      if (kind == QuantKind::kFloat) p.minifloat = MinifloatFormat::e4m3();
      std::vector<float> xv = inputs(c.x.numel(), 0.05, 0, Grid{5, true, false}, rng);
      for (auto& v : xv) v = std::isfinite(v) && std::fabs(v) > 1e6f ? 3.f : v;
      Tensor x = Tensor::from_vector(c.x, xv);

      // Per element: the reference on one element with its own broadcast parameters.
      std::vector<float> want(xv.size());
      for (int64_t i = 0; i < c.x.numel(); ++i) {
        const int64_t pi = naive_param_index(dims_of(c.x), dims_of(c.p), i);
        const float* s = scale.data<float>() + pi;
        const float* z = zp.data<float>() + pi;
        if (kind == QuantKind::kInt) {
          kernels::IntQuantArgs a;
          a.scale = s;
          a.zero_point = z;
          a.min_int = static_cast<double>(p.min_int());
          a.max_int = static_cast<double>(p.max_int());
          a.rounding = Rounding::kHalfDown;
          kernels::int_fake_quant_ref(&xv[i], &want[i], a);
        } else if (kind == QuantKind::kBipolar) {
          kernels::bipolar_quant_ref(&xv[i], &want[i], s, 1, 1, 1);
        } else {
          kernels::MinifloatArgs m;
          m.rounding = Rounding::kHalfDown;
          kernels::float_fake_quant_ref(&xv[i], &want[i], s, 1, 1, 1, m);
        }
      }
      for (int threads : {1, 2, 4}) {
        std::string kernel;
        auto got = session_fake_quant(x, p, threads, &kernel);
        require_same(got.data(), want.data(), x.numel(), kernel + " with " + std::to_string(threads) + " threads");
        if (kind == QuantKind::kInt) {
          CHECK(kernel == best);
        } else {
          CHECK(kernel == "fakequant_ref");
        }
      }
    }
  }
}

namespace {

SingleOpResult run_op(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs, int threads) {
  auto r = run_single_op(op, in, attrs, 1, threads);
  INFO(op_name(op) << ": " << r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("Trunc, QuantizeLinear and DequantizeLinear ops: threads and chunking against references") {
  std::mt19937_64 rng(9);
  SECTION("Trunc v2 per channel") {
    const Shape xs{3, 21, 263};
    std::vector<float> xv(static_cast<size_t>(xs.numel()));
    std::uniform_real_distribution<float> u(-40.f, 40.f);
    for (auto& v : xv) v = u(rng);
    std::vector<float> s(21), z(21), os(21);
    for (int c = 0; c < 21; ++c) {
      s[c] = 0.125f * static_cast<float>(1 + c % 3);
      z[c] = static_cast<float>(c % 5) - 2;
      os[c] = s[c] * static_cast<float>(1 << (c % 4));
    }
    Attributes a;
    a.set("rounding_mode", std::string("HALF_UP"));
    std::vector<Tensor> in = {Tensor::from_vector(xs, xv),       Tensor::from_vector(Shape{21, 1}, s),
                              Tensor::from_vector(Shape{21, 1}, z), scalar_tensor(12.f),
                              Tensor::from_vector(Shape{21, 1}, os), scalar_tensor(6.f)};
    std::vector<float> want(xv.size());
    for (int64_t i = 0; i < xs.numel(); ++i) {
      const int64_t c = (i / 263) % 21;
      kernels::TruncArgs t;
      t.scale = &s[c];
      t.zero_point = &z[c];
      t.out_scale = &os[c];
      t.in_bits = 12;
      t.out_bits = 6;
      t.rounding = Rounding::kHalfUp;
      kernels::trunc_quant_ref(&xv[i], &want[i], t);
    }
    for (int threads : {1, 3}) {
      auto r = run_op(OpKind::kTrunc, in, a, threads);
      require_same(r.outputs[0].data<float>(), want.data(), xs.numel(), "trunc " + std::to_string(threads));
    }
  }
  SECTION("QuantizeLinear / DequantizeLinear per axis, int8 and packed int4, odd sizes") {
    const Shape xs{5, 7, 1031};  // not a multiple of the staging chunk, odd element count
    std::vector<float> xv(static_cast<size_t>(xs.numel()));
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    for (auto& v : xv) v = u(rng);
    std::vector<float> s(7);
    std::vector<int8_t> z8(7);
    std::vector<int> z4(7);
    for (int c = 0; c < 7; ++c) {
      s[c] = 0.02f * static_cast<float>(1 + c);
      z8[c] = static_cast<int8_t>(c - 3);
      z4[c] = c % 3 - 1;
    }
    Tensor zp4(DType::kI4, Shape{7});
    for (int c = 0; c < 7; ++c) int4_set(zp4.data<uint8_t>(), c, z4[c]);
    Attributes a;
    a.set("axis", int64_t{1});
    for (bool packed : {false, true}) {
      INFO((packed ? "int4" : "int8"));
      Tensor zp = packed ? zp4 : Tensor::from_vector(Shape{7}, z8);
      const int32_t lo = packed ? -8 : -128, hi = packed ? 7 : 127;
      std::vector<int32_t> want_q(xv.size());
      std::vector<float> want_y(xv.size());
      for (int64_t i = 0; i < xs.numel(); ++i) {
        const int64_t c = (i / 1031) % 7;
        const int32_t zc = packed ? z4[c] : z8[c];
        kernels::quantize_linear_ref(&xv[i], &want_q[i], &s[c], &zc, 1, 1, 1, lo, hi);
        kernels::dequantize_linear_ref(&want_q[i], &want_y[i], &s[c], &zc, 1, 1, 1);
      }
      for (int threads : {1, 2, 4}) {
        auto q = run_op(OpKind::kQuantizeLinear, {Tensor::from_vector(xs, xv), Tensor::from_vector(Shape{7}, s), zp}, a,
                        threads);
        const Tensor& qt = q.outputs[0];
        REQUIRE(qt.dtype() == (packed ? DType::kI4 : DType::kI8));
        for (int64_t i = 0; i < xs.numel(); ++i) {
          if (read_element_as_double(qt.raw(), qt.dtype(), i) != want_q[i]) {
            FAIL("quantize " << threads << " threads: element " << i);
          }
        }
        if (packed) CHECK((qt.data<uint8_t>()[qt.bytes() - 1] >> 4) == 0);  // odd tail padded with 0
        auto y = run_op(OpKind::kDequantizeLinear, {qt, Tensor::from_vector(Shape{7}, s), zp}, a, threads);
        require_same(y.outputs[0].data<float>(), want_y.data(), xs.numel(), "dequantize " + std::to_string(threads));
      }
    }
  }
}

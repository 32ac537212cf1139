// The elementwise family: unary maps, binary ops with numpy broadcasting, Where, and shape
// inference (reductions and Softmax: test_reduce_softmax_ops.cpp). Op-level results (run_single_op, whichever kernel binds) are checked against
// independent double-precision formulas and a naive broadcast written here; the vector
// microkernels of every ISA the machine has are checked against the scalar references over
// shape sweeps (odd sizes, tails, every broadcast pattern) with 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "engine/evaluate.h"
#include "graph/schema.h"
#include "kernels/elementwise/binary.h"
#include "kernels/elementwise/unary.h"
#include "support/op_test_support.h"
#include "support/test_support.h"

using namespace qe;
using kernels::BinaryOp;
using kernels::UnaryOp;

using namespace qe::test;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor bool_tensor(const Shape& s, std::initializer_list<bool> v) {
  Tensor t(DType::kBool, s);
  std::copy(v.begin(), v.end(), t.data<bool>());
  return t;
}

// Offset into `in` (right-aligned, size-1 dims repeated) of output element `flat`.
int64_t broadcast_offset(const Shape& in, const Shape& out, int64_t flat) {
  int64_t off = 0, stride = 1;
  for (size_t i = out.rank(); i-- > 0;) {
    int64_t idx = flat % out[i];
    flat /= out[i];
    size_t lead = out.rank() - in.rank();
    if (i >= lead) {
      int64_t d = in[i - lead];
      if (d != 1) off += idx * stride;
      stride *= d;
    }
  }
  return off;
}

// |got - want| <= rel |want| + abs, with NaN matching NaN and infinities matching exactly.
bool close(double got, double want, double rel, double abs) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= rel * std::fabs(want) + abs;
}

bool same_bits(float a, float b) { return std::isnan(a) ? std::isnan(b) : std::memcmp(&a, &b, 4) == 0; }

// Inputs of a float sweep: a few special values first, then uniform in [lo, hi].
std::vector<float> sweep_input(int64_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  const float special[] = {0.f, -0.f, 1e-30f, -1e-30f, kInf, -kInf, kNaN, 1e30f, -1e30f, 0.5f, -3.f, 3.f};
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i < 12 && seed % 2 == 0) ? special[i] : d(rng);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Unary maps

namespace {

struct UnaryCase {
  OpKind op;
  Attributes attrs;
  std::function<double(double)> want;
  double lo, hi;
  double rel, abs;
};

std::vector<UnaryCase> unary_cases() {
  auto attrs = [](std::initializer_list<std::pair<const char*, AttrValue>> kv) {
    Attributes a;
    for (const auto& [k, v] : kv) a.set(k, v);
    return a;
  };
  const double s2pi = std::sqrt(2.0 / M_PI);
  return {
      {OpKind::kAbs, {}, [](double x) { return std::fabs(x); }, -5, 5, 0, 0},
      {OpKind::kCeil, {}, [](double x) { return std::ceil(x); }, -5, 5, 0, 0},
      {OpKind::kFloor, {}, [](double x) { return std::floor(x); }, -5, 5, 0, 0},
      {OpKind::kNeg, {}, [](double x) { return -x; }, -5, 5, 0, 0},
      {OpKind::kRound, {}, [](double x) {
         const double r = std::floor(x), d = x - r;  // ties go to the even neighbour
         return d > 0.5 || (d == 0.5 && std::fmod(r, 2.0) != 0) ? r + 1 : r;
       }, -5, 5, 0, 0},
      {OpKind::kRelu, {}, [](double x) { return x < 0 ? 0 : x; }, -5, 5, 0, 0},
      {OpKind::kReciprocal, {}, [](double x) { return 1 / x; }, 0.1, 5, 1e-7, 0},
      {OpKind::kSqrt, {}, [](double x) { return std::sqrt(x); }, 0, 50, 1e-7, 0},
      {OpKind::kLog, {}, [](double x) { return std::log(x); }, 1e-3, 50, 1e-7, 1e-7},
      {OpKind::kExp, {}, [](double x) { return std::exp(x); }, -80, 80, 5e-7, 0},
      {OpKind::kErf, {}, [](double x) { return std::erf(x); }, -5, 5, 5e-7, 1e-30},
      {OpKind::kSigmoid, {}, [](double x) { return 1 / (1 + std::exp(-x)); }, -30, 30, 5e-7, 0},
      {OpKind::kTanh, {}, [](double x) { return std::tanh(x); }, -10, 10, 5e-7, 1e-30},
      {OpKind::kHardSigmoid, attrs({{"alpha", 0.3f}, {"beta", 0.4f}}),
       [](double x) { return std::clamp(0.3f * x + 0.4f, 0.0, 1.0); }, -5, 5, 1e-6, 1e-7},
      {OpKind::kHardSwish, {}, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -8, 8, 1e-6, 1e-7},
      {OpKind::kLeakyRelu, attrs({{"alpha", 0.1f}}), [](double x) { return x < 0 ? 0.1f * x : x; }, -5, 5, 1e-7, 0},
      {OpKind::kLeakyRelu, {}, [](double x) { return x < 0 ? 0.01f * x : x; }, -5, 5, 1e-7, 0},
      {OpKind::kGelu, {}, [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }, -10, 10, 5e-7, 2e-7},
      {OpKind::kGelu, attrs({{"approximate", std::string("tanh")}}),
       [s2pi](double x) { return x / (1 + std::exp(-2 * s2pi * (x + 0.044715 * x * x * x))); }, -10, 10, 5e-7, 2e-7},
  };
}

}  // namespace

TEST_CASE("unary ops match their double-precision definitions") {
  for (const auto& c : unary_cases()) {
    Tensor x = random_of<float>(Shape{3, 37}, 7, c.lo, c.hi);
    for (int threads : {1, 2}) {
      auto r = run_ok(c.op, {x}, c.attrs, threads);
      INFO(op_name(c.op) << " via " << r.kernel);
      REQUIRE(r.outputs[0].shape() == x.shape());
      for (int64_t i = 0; i < x.numel(); ++i) {
        double xi = x.data<float>()[i];
        INFO("x = " << xi);
        CHECK(close(r.outputs[0].data<float>()[i], c.want(xi), c.rel, c.abs));
      }
    }
  }
}

TEST_CASE("Clip bounds are optional inputs and work on integers") {
  Tensor x = Tensor::from_vector<float>(Shape{5}, {-3, -1, 0, 2, 5});
  auto both = run_ok(OpKind::kClip, {x, Tensor::scalar<float>(-1.5f), Tensor::scalar<float>(1.f)});
  CHECK(values<float>(both.outputs[0]) == std::vector<float>{-1.5f, -1, 0, 1, 1});
  auto max_only = run_ok(OpKind::kClip, {x, Tensor(), Tensor::scalar<float>(1.f)});
  CHECK(values<float>(max_only.outputs[0]) == std::vector<float>{-3, -1, 0, 1, 1});
  auto min_only = run_ok(OpKind::kClip, {x, Tensor::scalar<float>(0.f)});
  CHECK(values<float>(min_only.outputs[0]) == std::vector<float>{0, 0, 0, 2, 5});
  auto none = run_ok(OpKind::kClip, {x});
  CHECK(values<float>(none.outputs[0]) == values<float>(x));
  // min > max: everything becomes max, as numpy.clip does.
  auto crossed = run_ok(OpKind::kClip, {x, Tensor::scalar<float>(2.f), Tensor::scalar<float>(1.f)});
  CHECK(values<float>(crossed.outputs[0]) == std::vector<float>(5, 1.f));

  Tensor xi = Tensor::from_vector<int8_t>(Shape{4}, {-128, -5, 7, 127});
  auto i8 = run_ok(OpKind::kClip, {xi, Tensor::scalar<int8_t>(-6), Tensor()});
  CHECK(values<int8_t>(i8.outputs[0]) == std::vector<int8_t>{-6, -5, 7, 127});
  Tensor x64 = Tensor::from_vector<int64_t>(Shape{3}, {-9, 4, 100});
  auto i64 = run_ok(OpKind::kClip, {x64, Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(50)});
  CHECK(values<int64_t>(i64.outputs[0]) == std::vector<int64_t>{0, 4, 50});

  auto bad = run_single_op(OpKind::kClip, {x, Tensor::from_vector<float>(Shape{2}, {0, 1})}, {});
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("scalar") != std::string::npos);
}

TEST_CASE("unary ops on integers and doubles; unsupported dtypes are declined by name") {
  Tensor i32 = Tensor::from_vector<int32_t>(Shape{4}, {-7, 0, 3, -2147483647});
  CHECK(values<int32_t>(run_ok(OpKind::kAbs, {i32}).outputs[0]) == std::vector<int32_t>{7, 0, 3, 2147483647});
  CHECK(values<int32_t>(run_ok(OpKind::kNeg, {i32}).outputs[0]) == std::vector<int32_t>{7, 0, -3, 2147483647});
  CHECK(values<int32_t>(run_ok(OpKind::kRelu, {i32}).outputs[0]) == std::vector<int32_t>{0, 0, 3, 0});
  Tensor f64 = Tensor::from_vector<double>(Shape{3}, {-1.5, 0.25, 2});
  auto e = values<double>(run_ok(OpKind::kExp, {f64}).outputs[0]);
  for (size_t i = 0; i < 3; ++i) CHECK(e[i] == std::exp(f64.data<double>()[i]));
  auto s = run_single_op(OpKind::kSigmoid, {i32}, {});
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.status().code() == StatusCode::kUnsupported);
  CHECK(s.status().message().find("int32") != std::string::npos);
}

TEST_CASE("vector unary maps match the scalar reference on every ISA") {
  // exact: bit for bit, NaN and signed zeros included. HardSigmoid and HardSwish are exact
  // up to the one rounding GCC saves by contracting alpha * x + beta into an FMA in the
  // ISA translation units (C++ defaults to -ffp-contract=fast); they get 1 ulp of slack.
  struct Op {
    kernels::UnaryParams p;
    bool exact;
    float lo, hi;
  };
  std::vector<Op> ops;
  auto add = [&](UnaryOp op, bool exact, float lo, float hi, float alpha = 0, float beta = 0) {
    ops.push_back({{op, alpha, beta}, exact, lo, hi});
  };
  for (UnaryOp op : {UnaryOp::kAbs, UnaryOp::kCeil, UnaryOp::kFloor, UnaryOp::kNeg, UnaryOp::kRelu,
                     UnaryOp::kRound, UnaryOp::kIdentity, UnaryOp::kSquare}) {
    add(op, true, -10, 10);
  }
  add(UnaryOp::kClip, true, -10, 10, -1.5f, 2.5f);
  add(UnaryOp::kClip, true, -10, 10, 2.f, 1.f);
  add(UnaryOp::kHardSigmoid, false, -10, 10, 0.2f, 0.5f);
  add(UnaryOp::kHardSwish, false, -10, 10);
  add(UnaryOp::kLeakyRelu, true, -10, 10, 0.02f);
  add(UnaryOp::kReciprocal, true, -10, 10);
  add(UnaryOp::kSqrt, true, 0, 100);
  for (UnaryOp op : {UnaryOp::kExp, UnaryOp::kErf, UnaryOp::kSigmoid, UnaryOp::kTanh, UnaryOp::kGelu,
                     UnaryOp::kGeluTanh}) {
    add(op, false, -20, 20);
  }
  for (IsaLevel level : simd_levels()) {
    for (const Op& o : ops) {
      kernels::UnaryF32Fn fn = kernels::unary_f32_ukernel(level, o.p.op);
      REQUIRE(fn != nullptr);
      for (int64_t n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 100, 1027}) {
        for (uint64_t seed : {1, 2}) {
          auto x = sweep_input(n, seed + static_cast<uint64_t>(n), o.lo, o.hi);
          std::vector<float> want(x.size()), got(x.size() + 1, 12345.f), inplace = x;
          kernels::unary_f32_ref(o.p, x.data(), want.data(), n);
          fn(o.p, x.data(), got.data(), n);
          fn(o.p, inplace.data(), inplace.data(), n);
          INFO(isa_level_name(level) << " " << kernels::unary_op_name(o.p.op) << " n=" << n);
          CHECK(got[static_cast<size_t>(n)] == 12345.f);  // nothing written past the end
          int bad = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            bool ok = o.exact ? same_bits(got[i], want[i]) : close(got[i], want[i], 1e-6, 2e-7);
            ok = ok && same_bits(inplace[i], got[i]);
            if (!ok && bad++ < 3) UNSCOPED_INFO("x=" << x[i] << " got " << got[i] << " want " << want[i]);
          }
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("vector exp, erf, tanh, sigmoid, gelu are accurate against double") {
  struct Fn {
    UnaryOp op;
    double lo, hi;
    std::function<double(double)> f;
    double tiny;  // results below this magnitude are compared in absolute terms
    double rel;
    double rel_normal;  // bound where |result| >= 1e-3
  };
  const double s2pi = std::sqrt(2.0 / M_PI);
  std::vector<Fn> fns = {
      {UnaryOp::kExp, -103, 88.7, [](double x) { return std::exp(x); }, 1e-37, 2e-7, 2e-7},
      {UnaryOp::kErf, -6, 6, [](double x) { return std::erf(x); }, 0, 3e-7, 3e-7},
      {UnaryOp::kTanh, -12, 12, [](double x) { return std::tanh(x); }, 0, 3e-7, 3e-7},
      {UnaryOp::kSigmoid, -80, 30, [](double x) { return 1 / (1 + std::exp(-x)); }, 1e-37, 3e-7, 3e-7},
      // In the negative tail Gelu is exp(-x^2/2)-small and the float rounding of the exponent
      // (~8 at x = -4) alone is a few 1e-7 relative; no float formula does better.
      {UnaryOp::kGelu, -12, 12, [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }, 1e-9, 5e-6, 1e-6},
      {UnaryOp::kGeluTanh, -12, 12,
       [s2pi](double x) { return x / (1 + std::exp(-2 * s2pi * (x + 0.044715 * x * x * x))); }, 1e-9, 5e-6, 1.5e-6},
  };
  for (IsaLevel level : simd_levels()) {
    for (const Fn& f : fns) {
      const int64_t n = 200001;
      std::vector<float> x(n), y(n);
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(f.lo + (f.hi - f.lo) * i / (n - 1));
      x[0] = 1e-20f;  // tiny arguments: erf and tanh must stay relative-accurate near 0
      kernels::unary_f32_ukernel(level, f.op)({f.op}, x.data(), y.data(), n);
      double worst = 0;
      float worst_x = 0;
      for (int64_t i = 0; i < n; ++i) {
        double want = f.f(x[i]);
        double err = std::fabs(y[i] - want) / std::max(std::fabs(want), f.tiny > 0 ? f.tiny : 1e-300);
        if (err > worst) worst = err, worst_x = x[i];
      }
      INFO(isa_level_name(level) << " " << kernels::unary_op_name(f.op) << " worst relative error " << worst
                                 << " at x=" << worst_x);
      CHECK(worst < f.rel);
      double worst_normal = 0;
      for (int64_t i = 0; i < n; ++i) {
        double want = f.f(x[i]);
        if (std::fabs(want) >= 1e-3) worst_normal = std::max(worst_normal, std::fabs(y[i] - want) / std::fabs(want));
      }
      CHECK(worst_normal < f.rel_normal);
    }
    // Overflow and underflow land where float's do.
    float edge[] = {89.f, 88.7f, -104.f, -kInf, kInf, kNaN};
    float out[6];
    kernels::unary_f32_ukernel(level, UnaryOp::kExp)({UnaryOp::kExp}, edge, out, 6);
    CHECK(out[0] == kInf);
    CHECK(close(out[1], std::exp(static_cast<double>(88.7f)), 2e-7, 0));
    CHECK(out[2] == 0.f);
    CHECK(out[3] == 0.f);
    CHECK(out[4] == kInf);
    CHECK(std::isnan(out[5]));
  }
}

// ---------------------------------------------------------------------------------------------
// Binary ops, Where

namespace {

// Shape pairs covering every broadcast pattern the row walker distinguishes.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {Shape{17}, Shape{17}},                   // same shape, one row
    {Shape{2, 3, 5, 7}, Shape{2, 3, 5, 7}},   // same shape, rank 4
    {Shape{33}, Shape{}},                     // tensor op scalar
    {Shape{}, Shape{33}},                     // scalar op tensor
    {Shape{1}, Shape{3, 1, 1}},               // numel 1 on both sides
    {Shape{2, 5, 3, 3}, Shape{5, 1, 1}},      // per-channel against NCHW
    {Shape{1, 5, 1, 1}, Shape{2, 5, 4, 9}},   // per-channel on the left
    {Shape{4, 19}, Shape{19}},                // row broadcast
    {Shape{19}, Shape{4, 19}},
    {Shape{6, 1}, Shape{1, 11}},              // outer product
    {Shape{3, 1, 5}, Shape{1, 4, 1}},         // alternating
    {Shape{2, 1, 3, 1}, Shape{1, 4, 1, 5}},
    {Shape{2, 3, 1}, Shape{2, 3, 40}},        // per-row scalar, long rows
    {Shape{1, 1, 1}, Shape{1}},
    {Shape{3, 0, 2}, Shape{1, 2}},            // empty
};

template <typename T>
T naive_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kAdd: return static_cast<T>(a + b);
    case BinaryOp::kSub: return static_cast<T>(a - b);
    case BinaryOp::kMul: return static_cast<T>(a * b);
    case BinaryOp::kDiv: return static_cast<T>(a / b);
    case BinaryOp::kPow: return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    case BinaryOp::kMax: return std::max(a, b);
    case BinaryOp::kMin: return std::min(a, b);
    default: return 0;
  }
}

OpKind op_kind(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return OpKind::kAdd;
    case BinaryOp::kSub: return OpKind::kSub;
    case BinaryOp::kMul: return OpKind::kMul;
    case BinaryOp::kDiv: return OpKind::kDiv;
    case BinaryOp::kPow: return OpKind::kPow;
    case BinaryOp::kMax: return OpKind::kMax;
    case BinaryOp::kMin: return OpKind::kMin;
    case BinaryOp::kEqual: return OpKind::kEqual;
    case BinaryOp::kGreater: return OpKind::kGreater;
    default: return OpKind::kLess;
  }
}

template <typename T>
void check_binary_dtype() {
  const bool integral = std::is_integral_v<T>;
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv, BinaryOp::kPow,
                      BinaryOp::kMax, BinaryOp::kMin}) {
    for (const auto& [sa, sb] : kBroadcastPairs) {
      // Positive operands keep Pow and Div well defined for every dtype.
      bool pow = op == BinaryOp::kPow;
      Tensor a = random_of<T>(sa, 11, pow ? 1 : (integral ? -50 : -4), pow ? 4 : (integral ? 50 : 4));
      Tensor b = random_of<T>(sb, 12, 1, pow ? 4 : 9);
      auto out_shape = broadcast_shapes(sa, sb);
      REQUIRE(out_shape.is_ok());
      for (int threads : {1, 2}) {
        auto r = run_ok(op_kind(op), {a, b}, {}, threads);
        INFO(kernels::binary_op_name(op) << " " << dtype_name(dtype_of<T>::value) << " " << sa.to_string() << " x "
                                         << sb.to_string() << " via " << r.kernel);
        REQUIRE(r.outputs[0].shape() == *out_shape);
        REQUIRE(r.outputs[0].dtype() == dtype_of<T>::value);
        int bad = 0;
        for (int64_t i = 0; i < out_shape->numel(); ++i) {
          T x = a.data<T>()[broadcast_offset(sa, *out_shape, i)];
          T y = b.data<T>()[broadcast_offset(sb, *out_shape, i)];
          T want = naive_binary<T>(op, x, y);
          T got = r.outputs[0].data<T>()[i];
          bool ok = integral || op != BinaryOp::kPow ? got == want : close(got, want, 1e-6, 0);
          if (!ok && bad++ < 3) UNSCOPED_INFO(i << ": " << +x << ", " << +y << " -> " << +got << " want " << +want);
        }
        CHECK(bad == 0);
      }
    }
  }
}

}  // namespace

TEST_CASE("binary ops broadcast like numpy for float, double, int32, int64") {
  check_binary_dtype<float>();
  check_binary_dtype<double>();
  check_binary_dtype<int32_t>();
  check_binary_dtype<int64_t>();
}

TEST_CASE("comparisons produce bool with broadcasting") {
  Tensor a = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector<float>(Shape{3}, {2, 2, 7});
  auto eq = run_ok(OpKind::kEqual, {a, b});
  REQUIRE(eq.outputs[0].dtype() == DType::kBool);
  CHECK(values<bool>(eq.outputs[0]) == std::vector<bool>{false, true, false, false, false, false});
  CHECK(values<bool>(run_ok(OpKind::kGreater, {a, b}).outputs[0]) ==
        std::vector<bool>{false, false, false, true, true, false});
  CHECK(values<bool>(run_ok(OpKind::kLess, {a, b}).outputs[0]) == std::vector<bool>{true, false, true, false, false, true});
  Tensor i = Tensor::from_vector<int64_t>(Shape{3, 1}, {1, 5, 9});
  Tensor j = Tensor::from_vector<int64_t>(Shape{2}, {5, 9});
  CHECK(values<bool>(run_ok(OpKind::kLess, {i, j}).outputs[0]) ==
        std::vector<bool>{true, true, false, true, false, false});
  Tensor nan = Tensor::from_vector<float>(Shape{2}, {kNaN, 1});
  CHECK(values<bool>(run_ok(OpKind::kEqual, {nan, nan}).outputs[0]) == std::vector<bool>{false, true});
}

TEST_CASE("integer division truncates and a zero divisor gives 0") {
  Tensor a = Tensor::from_vector<int32_t>(Shape{5}, {-7, 7, -7, 5, std::numeric_limits<int32_t>::min()});
  Tensor b = Tensor::from_vector<int32_t>(Shape{5}, {2, -2, 0, 0, -1});
  CHECK(values<int32_t>(run_ok(OpKind::kDiv, {a, b}).outputs[0]) ==
        std::vector<int32_t>{-3, -3, 0, 0, std::numeric_limits<int32_t>::min()});
}

TEST_CASE("incompatible broadcast shapes are an error naming both shapes") {
  Tensor a = random_of<float>(Shape{2, 3}, 1, -1, 1);
  Tensor b = random_of<float>(Shape{4}, 2, -1, 1);
  for (OpKind op : {OpKind::kAdd, OpKind::kMul, OpKind::kMax, OpKind::kLess}) {
    auto r = run_single_op(op, {a, b}, {});
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().find("[2,3]") != std::string::npos);
    CHECK(r.status().message().find("[4]") != std::string::npos);
  }
  auto mixed = run_single_op(OpKind::kAdd, {a, random_of<int64_t>(Shape{3}, 3, 0, 5)}, {});
  REQUIRE_FALSE(mixed.is_ok());
  CHECK(mixed.status().message().find("int64") != std::string::npos);
}

TEST_CASE("vector binary rows match the reference for every broadcast pattern") {
  for (IsaLevel level : simd_levels()) {
    kernels::BinaryF32RowFn row = kernels::binary_f32_ukernel(level);
    REQUIRE(row != nullptr);
    std::vector<std::pair<Shape, Shape>> pairs = kBroadcastPairs;
    pairs.push_back({Shape{3, 64, 129}, Shape{64, 1}});  // long rows split across threads
    pairs.push_back({Shape{300000}, Shape{300000}});
    pairs.push_back({Shape{1, 48, 57, 57}, Shape{1, 48, 1, 1}});
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv, BinaryOp::kMax,
                        BinaryOp::kMin}) {
      for (const auto& [sa, sb] : pairs) {
        Shape out = *broadcast_shapes(sa, sb);
        auto plan = kernels::plan_broadcast({sa, sb}, out);
        REQUIRE(plan.is_ok());
        Tensor a = test::random_tensor(sa, 5, -3, 3), b = test::random_tensor(sb, 6, -3, 3);
        if (a.numel() > 2) a.data<float>()[1] = kNaN;  // NaN in either operand follows binary_scalar
        if (b.numel() > 2) b.data<float>()[2] = kNaN;
        Tensor want(DType::kF32, out);
        kernels::binary_ref<float>(nullptr, *plan, op, a.data<float>(), b.data<float>(), want.raw());
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          Tensor got(DType::kF32, out);
          kernels::binary_f32_run(&pool, *plan, row, op, a.data<float>(), b.data<float>(), got.data<float>());
          INFO(isa_level_name(level) << " " << kernels::binary_op_name(op) << " " << sa.to_string() << " x "
                                     << sb.to_string() << " threads " << threads);
          int bad = 0;
          for (int64_t i = 0; i < out.numel(); ++i) bad += !same_bits(got.data<float>()[i], want.data<float>()[i]);
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("Max and Min are variadic with broadcasting") {
  Tensor a = Tensor::from_vector<float>(Shape{3}, {1, 5, 3});
  Tensor b = Tensor::from_vector<float>(Shape{2, 1}, {2, 4});
  Tensor c = Tensor::from_vector<float>(Shape{1}, {3.5f});
  CHECK(values<float>(run_ok(OpKind::kMax, {a}).outputs[0]) == values<float>(a));
  CHECK(values<float>(run_ok(OpKind::kMax, {a, b, c}).outputs[0]) == std::vector<float>{3.5f, 5, 3.5f, 4, 5, 4});
  CHECK(values<float>(run_ok(OpKind::kMin, {a, b, c}).outputs[0]) == std::vector<float>{1, 2, 2, 1, 3.5f, 3});
  Tensor i = Tensor::from_vector<int64_t>(Shape{2}, {-1, 7});
  Tensor j = Tensor::from_vector<int64_t>(Shape{2}, {3, 2});
  Tensor k = Tensor::from_vector<int64_t>(Shape{}, {5});
  CHECK(values<int64_t>(run_ok(OpKind::kMax, {i, j, k}).outputs[0]) == std::vector<int64_t>{5, 7});
  CHECK(values<int64_t>(run_ok(OpKind::kMin, {i, j, k}, {}, 2).outputs[0]) == std::vector<int64_t>{-1, 2});
}

TEST_CASE("Where broadcasts condition and both branches") {
  Tensor cond = bool_tensor(Shape{2, 1}, {true, false});
  Tensor x = Tensor::from_vector<float>(Shape{3}, {1, 2, 3});
  Tensor y = Tensor::from_vector<float>(Shape{2, 3}, {-1, -2, -3, -4, -5, -6});
  CHECK(values<float>(run_ok(OpKind::kWhere, {cond, x, y}).outputs[0]) == std::vector<float>{1, 2, 3, -4, -5, -6});
  Tensor c2 = bool_tensor(Shape{4}, {true, false, false, true});
  Tensor xi = Tensor::from_vector<int64_t>(Shape{}, {9});
  Tensor yi = Tensor::from_vector<int64_t>(Shape{4}, {1, 2, 3, 4});
  auto r = run_ok(OpKind::kWhere, {c2, xi, yi});
  REQUIRE(r.outputs[0].dtype() == DType::kI64);
  CHECK(values<int64_t>(r.outputs[0]) == std::vector<int64_t>{9, 2, 3, 9});
  // A big broadcast over two threads against the naive formula.
  Shape sc{8, 1, 300}, sx{1, 50, 300}, sy{8, 50, 1};
  Tensor cb(DType::kBool, sc);
  for (int64_t n = 0; n < cb.numel(); ++n) cb.data<bool>()[n] = (n * 7) % 3 == 0;
  Tensor xb = test::random_tensor(sx, 1), yb = test::random_tensor(sy, 2);
  auto big = run_ok(OpKind::kWhere, {cb, xb, yb}, {}, 2);
  Shape out{8, 50, 300};
  int bad = 0;
  for (int64_t n = 0; n < out.numel(); ++n) {
    float want = cb.data<bool>()[broadcast_offset(sc, out, n)] ? xb.data<float>()[broadcast_offset(sx, out, n)]
                                                               : yb.data<float>()[broadcast_offset(sy, out, n)];
    bad += big.outputs[0].data<float>()[n] != want;
  }
  CHECK(bad == 0);
  auto not_bool = run_single_op(OpKind::kWhere, {x, x, x}, {});
  REQUIRE_FALSE(not_bool.is_ok());
  CHECK(not_bool.status().message().find("bool") != std::string::npos);
}

TEST_CASE("Pow: mixed dtypes follow the base, constant exponents take the vector shortcut") {
  Tensor fx = Tensor::from_vector<float>(Shape{3}, {1.5f, 2, 3});
  auto fi = run_ok(OpKind::kPow, {fx, Tensor::from_vector<int64_t>(Shape{3}, {2, 3, -1})});
  REQUIRE(fi.outputs[0].dtype() == DType::kF32);
  CHECK(values<float>(fi.outputs[0]) == std::vector<float>{2.25f, 8, 1.f / 3});
  Tensor ix = Tensor::from_vector<int32_t>(Shape{3}, {1, 2, 3});
  auto iff = run_ok(OpKind::kPow, {ix, Tensor::from_vector<float>(Shape{3}, {4, 0.5f, 2.5f})});
  REQUIRE(iff.outputs[0].dtype() == DType::kI32);
  CHECK(values<int32_t>(iff.outputs[0]) == std::vector<int32_t>{1, 1, 15});  // truncated like numpy astype
  Tensor x = test::random_tensor(Shape{5, 41}, 3, 0, 4);
  for (float e : {2.f, 0.5f, 1.f, 3.f}) {
    auto r = run_ok(OpKind::kPow, {x, Tensor::scalar<float>(e)});
    INFO("exponent " << e << " via " << r.kernel);
    for (int64_t i = 0; i < x.numel(); ++i) {
      CHECK(close(r.outputs[0].data<float>()[i], std::pow(static_cast<double>(x.data<float>()[i]), e), 2e-7, 0));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shape inference

TEST_CASE("shape inference keeps unknown dims") {
  auto reduce_attrs = [](int64_t keepdims) {
    Attributes a;
    a.set("keepdims", keepdims);
    return a;
  };
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{-1, 3, 8, 8}, true);
  ValueId b = g.add_value("b", DType::kF32, Shape{3, 1, 1}, true);
  ValueId row = g.add_value("row", DType::kF32, Shape{-1, 8}, true);
  ValueId axes = g.add_constant("axes", Tensor::from_vector<int64_t>(Shape{2}, {2, 3}));
  ValueId cond = g.add_value("cond", DType::kBool, Shape{-1, 1, 1, 1}, true);
  auto node = [&](OpKind op, std::vector<ValueId> in, Attributes a = {}) {
    std::string id = std::to_string(g.num_nodes());
    ValueId out = g.add_value("out" + id);
    NodeId n = g.add_node(op, "n" + id, std::move(in), {out}, std::move(a));
    Status st = infer_node(g, n);
    INFO(st.to_string());
    REQUIRE(st.is_ok());
    return &g.value(out);
  };
  CHECK(node(OpKind::kAdd, {x, b})->shape == Shape{-1, 3, 8, 8});
  // An unknown dim against a known one > 1 can only broadcast to the known one.
  CHECK(node(OpKind::kMul, {x, row})->shape == Shape{-1, 3, 8, 8});
  ValueId unk = g.add_value("unk", DType::kF32, Shape{-1, 1}, true);
  CHECK(node(OpKind::kSub, {unk, row})->shape == Shape{-1, 8});
  CHECK(node(OpKind::kRelu, {x})->shape == Shape{-1, 3, 8, 8});
  CHECK(node(OpKind::kReduceMean, {x, axes})->shape == Shape{-1, 3, 1, 1});
  CHECK(node(OpKind::kReduceSum, {x, axes}, reduce_attrs(0))->shape == Shape{-1, 3});
  CHECK(node(OpKind::kSoftmax, {x})->shape == Shape{-1, 3, 8, 8});
  const Value* w = node(OpKind::kWhere, {cond, x, b});
  CHECK(w->shape == Shape{-1, 3, 8, 8});
  CHECK(w->dtype == DType::kF32);
  const Value* eq = node(OpKind::kEqual, {x, b});
  CHECK(eq->dtype == DType::kBool);
  ValueId dyn_axes = g.add_value("dyn_axes", DType::kI64, Shape{1}, true);
  CHECK(node(OpKind::kReduceMax, {x, dyn_axes})->shape == Shape{-1, -1, -1, -1});
}

// Reductions (ReduceMax/Mean/Sum) and Softmax: op-level results (run_single_op) against naive
// double-precision loops written here, the vector kernels of every ISA the machine has against
// the scalar references with 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "engine/evaluate.h"
#include "kernels/elementwise/reduce.h"
#include "kernels/elementwise/softmax.h"
#include "support/op_test_support.h"
#include "support/test_support.h"

using namespace qe;

using namespace qe::test;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// |got - want| <= rel |want| + abs, with NaN matching NaN and infinities matching exactly.
bool close(double got, double want, double rel, double abs) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= rel * std::fabs(want) + abs;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reductions

namespace {

// Naive reduction in double over the axes marked in `reduced`, output in row-major order of
// the kept dims.
std::vector<double> naive_reduce(const Tensor& x, const std::vector<bool>& reduced, OpKind op) {
  const Shape& s = x.shape();
  std::vector<int64_t> out_dims;
  for (size_t i = 0; i < s.rank(); ++i) out_dims.push_back(reduced[i] ? 1 : s[i]);
  Shape os(out_dims);
  std::vector<double> acc(static_cast<size_t>(os.numel()), op == OpKind::kReduceMax ? -INFINITY : 0.0);
  int64_t count = 1;
  for (size_t i = 0; i < s.rank(); ++i) count *= reduced[i] ? s[i] : 1;
  for (int64_t n = 0; n < x.numel(); ++n) {
    int64_t rem = n, o = 0, stride = 1;
    for (size_t i = s.rank(); i-- > 0;) {
      int64_t idx = rem % s[i];
      rem /= s[i];
      if (!reduced[i]) o += idx * stride;
      stride *= os[i];
    }
    double v = read_element_as_double(x.raw(), x.dtype(), n);
    acc[static_cast<size_t>(o)] = op == OpKind::kReduceMax ? std::max(acc[static_cast<size_t>(o)], v)
                                                           : acc[static_cast<size_t>(o)] + v;
  }
  if (op == OpKind::kReduceMean) {
    for (double& a : acc) a /= static_cast<double>(count);
  }
  return acc;
}

Attributes reduce_attrs(int64_t keepdims, int64_t noop = 0) {
  Attributes a;
  a.set("keepdims", keepdims);
  if (noop) a.set("noop_with_empty_axes", noop);
  return a;
}

}  // namespace

TEST_CASE("ReduceMax, ReduceMean, ReduceSum over any axes, keepdims or not") {
  Shape s{3, 4, 5, 6};
  Tensor xf = test::random_tensor(s, 9, -2, 2);
  Tensor xi = random_of<int64_t>(s, 10, -100, 100);
  Tensor xd = random_of<double>(s, 11, -2, 2);
  const std::vector<std::vector<int64_t>> axes_sets = {{}, {0}, {3}, {-1}, {1, 2}, {0, 3}, {1, 3}, {0, 2}, {0, 1, 2, 3}};
  for (OpKind op : {OpKind::kReduceMax, OpKind::kReduceMean, OpKind::kReduceSum}) {
    for (const auto& axes : axes_sets) {
      std::vector<bool> reduced(4, axes.empty());
      for (int64_t a : axes) reduced[static_cast<size_t>(a < 0 ? a + 4 : a)] = true;
      for (int64_t keep : {0, 1}) {
        std::vector<int64_t> want_dims;
        for (size_t i = 0; i < 4; ++i) {
          if (!reduced[i]) want_dims.push_back(s[i]);
          else if (keep) want_dims.push_back(1);
        }
        for (const Tensor* x : {&xf, &xi, &xd}) {
          std::vector<Tensor> in = {*x};
          if (!axes.empty()) in.push_back(Tensor::from_vector<int64_t>(Shape{static_cast<int64_t>(axes.size())}, axes));
          auto r = run_ok(op, in, reduce_attrs(keep), 2);
          INFO(op_name(op) << " axes " << Shape(axes).to_string() << " keepdims " << keep << " "
                           << dtype_name(x->dtype()) << " via " << r.kernel);
          REQUIRE(r.outputs[0].shape() == Shape(want_dims));
          auto want = naive_reduce(*x, reduced, op);
          int bad = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            double got = read_element_as_double(r.outputs[0].raw(), r.outputs[0].dtype(), static_cast<int64_t>(i));
            double w = x->dtype() == DType::kI64 ? std::trunc(want[i]) : want[i];
            bool ok = x->dtype() == DType::kF32 ? close(got, w, 1e-5, 1e-5) : close(got, w, 1e-12, 1e-12);
            if (!ok && bad++ < 3) UNSCOPED_INFO(i << ": got " << got << " want " << w);
          }
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("reductions: noop_with_empty_axes, empty sets, bad axes") {
  Tensor x = test::random_tensor(Shape{2, 3}, 4);
  auto noop = run_ok(OpKind::kReduceSum, {x, Tensor::from_vector<int64_t>(Shape{0}, {})}, reduce_attrs(1, 1));
  CHECK(noop.outputs[0].shape() == x.shape());
  CHECK(values<float>(noop.outputs[0]) == values<float>(x));
  auto all = run_ok(OpKind::kReduceSum, {x, Tensor::from_vector<int64_t>(Shape{0}, {})}, reduce_attrs(0));
  CHECK(all.outputs[0].shape() == Shape{});

  Tensor empty(DType::kF32, Shape{2, 0, 4});
  Tensor axis1 = Tensor::from_vector<int64_t>(Shape{1}, {1});
  auto sum = run_ok(OpKind::kReduceSum, {empty, axis1}, reduce_attrs(1));
  CHECK(sum.outputs[0].shape() == Shape{2, 1, 4});
  CHECK(values<float>(sum.outputs[0]) == std::vector<float>(8, 0.f));
  auto mx = run_ok(OpKind::kReduceMax, {empty, axis1}, reduce_attrs(0));
  CHECK(values<float>(mx.outputs[0]) == std::vector<float>(8, -kInf));
  auto mean = run_ok(OpKind::kReduceMean, {empty, axis1}, reduce_attrs(0));
  CHECK(std::isnan(mean.outputs[0].data<float>()[0]));

  auto bad = run_single_op(OpKind::kReduceMean, {x, Tensor::from_vector<int64_t>(Shape{1}, {2})}, {});
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("axis 2") != std::string::npos);
  auto twice = run_single_op(OpKind::kReduceMean, {x, Tensor::from_vector<int64_t>(Shape{2}, {1, -1})}, {});
  REQUIRE_FALSE(twice.is_ok());
}

TEST_CASE("vector reductions match the reference for contiguous axis blocks") {
  struct Case {
    Shape x;
    std::vector<bool> reduced;
  };
  std::vector<Case> cases = {
      {Shape{1000003}, {true}},
      {Shape{7, 33}, {false, true}},
      {Shape{5, 17, 9}, {false, true, false}},
      {Shape{3, 40, 70, 2}, {false, true, true, false}},
      {Shape{64, 3}, {true, false}},
      {Shape{2, 49, 1, 31}, {false, true, true, true}},
      {Shape{4, 1, 3}, {false, true, false}},
      {Shape{2, 2000, 129}, {false, true, false}},
  };
  for (IsaLevel level : simd_levels()) {
    const kernels::ReduceF32Ukernels* uk = kernels::reduce_f32_ukernels(level);
    REQUIRE(uk != nullptr);
    for (const Case& c : cases) {
      kernels::ReducePlan plan = kernels::plan_reduce(c.x, c.reduced);
      REQUIRE(plan.contiguous);
      Tensor x = test::random_tensor(c.x, 21, -1, 1);
      for (auto op : {kernels::ReduceOp::kSum, kernels::ReduceOp::kMean, kernels::ReduceOp::kMax}) {
        std::vector<float> want(static_cast<size_t>(plan.out_numel)), first;
        kernels::reduce_ref<float>(nullptr, plan, op, x.data<float>(), want.data());
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          std::vector<float> got(want.size() + 1, 777.f);
          kernels::reduce_f32_run(&pool, *uk, plan, op, x.data<float>(), got.data());
          if (threads == 1) first = got;
          CHECK(got == first);  // thread count never changes a result
          INFO(isa_level_name(level) << " " << c.x.to_string() << " op " << int(op) << " threads " << threads);
          CHECK(got.back() == 777.f);
          double tol = 2e-6 * std::sqrt(static_cast<double>(plan.count));
          int bad = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            bool ok = op == kernels::ReduceOp::kMax ? got[i] == want[i] : close(got[i], want[i], tol, tol);
            if (!ok && bad++ < 3) UNSCOPED_INFO(i << ": got " << got[i] << " want " << want[i]);
          }
          CHECK(bad == 0);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax

namespace {

std::vector<double> naive_softmax(const Tensor& x, int64_t outer, int64_t d, int64_t inner) {
  std::vector<double> y(static_cast<size_t>(x.numel()));
  const float* p = x.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < inner; ++c) {
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < d; ++k) m = std::max(m, static_cast<double>(p[(o * d + k) * inner + c]));
      for (int64_t k = 0; k < d; ++k) s += std::exp(p[(o * d + k) * inner + c] - m);
      for (int64_t k = 0; k < d; ++k) {
        size_t i = static_cast<size_t>((o * d + k) * inner + c);
        y[i] = std::exp(p[i] - m) / s;
      }
    }
  }
  return y;
}

}  // namespace

TEST_CASE("Softmax along any axis, and the opset < 13 flattening form") {
  Shape s{2, 3, 4, 5};
  Tensor x = test::random_tensor(s, 31, -6, 6);
  for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
    for (int64_t coerce : {0, 1}) {
      Attributes a;
      a.set("axis", axis);
      if (coerce) a.set("_coerce_2d", coerce);
      int64_t ax = axis < 0 ? axis + 4 : axis, outer = 1, d = 1, inner = 1;
      for (int64_t i = 0; i < 4; ++i) (i < ax ? outer : (i == ax || coerce ? d : inner)) *= s[static_cast<size_t>(i)];
      for (int threads : {1, 2}) {
        auto r = run_ok(OpKind::kSoftmax, {x}, a, threads);
        INFO("axis " << axis << " coerce " << coerce << " via " << r.kernel);
        auto want = naive_softmax(x, outer, d, inner);
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) bad += !close(r.outputs[0].data<float>()[i], want[i], 2e-6, 1e-9);
        CHECK(bad == 0);
      }
    }
  }
  // Large inputs: the max is subtracted first.
  Tensor big = Tensor::from_vector<float>(Shape{1, 3}, {10000, 10001, 10002});
  auto r = run_ok(OpKind::kSoftmax, {big});
  auto want = naive_softmax(big, 1, 3, 1);
  for (int i = 0; i < 3; ++i) CHECK(close(r.outputs[0].data<float>()[i], want[static_cast<size_t>(i)], 1e-6, 0));
  auto bad_axis = run_single_op(OpKind::kSoftmax, {x}, [] { Attributes a; a.set("axis", int64_t{4}); return a; }());
  REQUIRE_FALSE(bad_axis.is_ok());
}

TEST_CASE("vector softmax matches the reference for rows and columns") {
  struct Case {
    int64_t outer, d, inner;
  };
  std::vector<Case> cases = {{1, 1, 1}, {3, 7, 1},  {2, 16, 1}, {5, 33, 1},  {1, 1000, 1}, {4, 1, 9},
                             {2, 5, 17}, {1, 3, 64}, {3, 21, 31}, {1, 10, 4099}, {257, 129, 1}};
  for (IsaLevel level : simd_levels()) {
    kernels::SoftmaxF32Fn fn = kernels::softmax_f32_ukernel(level);
    REQUIRE(fn != nullptr);
    for (const Case& c : cases) {
      Tensor x = test::random_tensor(Shape{c.outer, c.d, c.inner}, 41, -30, 30);
      std::vector<float> want(static_cast<size_t>(x.numel()));
      kernels::softmax_f32_run(nullptr, &kernels::softmax_f32_ref, x.data<float>(), want.data(), c.outer, c.d, c.inner);
      std::vector<float> first;
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        std::vector<float> got(want.size() + 1, 5.f);
        kernels::softmax_f32_run(&pool, fn, x.data<float>(), got.data(), c.outer, c.d, c.inner);
        if (threads == 1) first = got;
        CHECK(got == first);  // thread count never changes a result
        INFO(isa_level_name(level) << " [" << c.outer << "," << c.d << "," << c.inner << "] threads " << threads);
        CHECK(got.back() == 5.f);
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) bad += !close(got[i], want[i], 2e-6, 1e-12);
        CHECK(bad == 0);
      }
    }
  }
}


// Float reduction microkernels over a SIMD vocabulary S, instantiated per ISA (reduce_avx2.cpp,
// reduce_avx512.cpp). Sums use four vector accumulators: the order differs from reduce_ref's
// (which sums in double), so results agree to float rounding, not bit for bit. The vector
// max does not let NaN win the way reduce_ref does.
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/elementwise/reduce.h"

namespace qe::kernels {

template <class S>
float row_sum_f32(const float* x, int64_t n) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  V a0 = S::zero(), a1 = S::zero(), a2 = S::zero(), a3 = S::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 = S::add(a0, S::load(x + i));
    a1 = S::add(a1, S::load(x + i + W));
    a2 = S::add(a2, S::load(x + i + 2 * W));
    a3 = S::add(a3, S::load(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) a0 = S::add(a0, S::load(x + i));
  if (i < n) a1 = S::add(a1, S::load_tail(x + i, n - i));
  return S::reduce_add(S::add(S::add(a0, a1), S::add(a2, a3)));
}

template <class S>
float row_max_f32(const float* x, int64_t n) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const float lowest = -std::numeric_limits<float>::infinity();
  V a0 = S::set1(lowest), a1 = a0;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = S::max(a0, S::load(x + i));
    a1 = S::max(a1, S::load(x + i + W));
  }
  for (; i + W <= n; i += W) a0 = S::max(a0, S::load(x + i));
  if (i < n) a1 = S::max(a1, S::load_tail_fill(x + i, n - i, lowest));
  return S::reduce_max(S::max(a0, a1));
}

template <class S>
float reduce_row_f32_impl(ReduceOp op, const float* x, int64_t n) {
  return op == ReduceOp::kMax ? row_max_f32<S>(x, n) : row_sum_f32<S>(x, n);
}

// y[i] = op over r of x[r * stride + i]: vectors run along i, each kept in a register over r.
template <class S>
void reduce_cols_f32_impl(ReduceOp op, const float* x, int64_t R, int64_t stride, float* y, int64_t n) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const bool is_max = op == ReduceOp::kMax;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V a = S::load(x + i), b = S::load(x + i + W);
    for (int64_t r = 1; r < R; ++r) {
      const float* p = x + r * stride + i;
      a = is_max ? S::max(a, S::load(p)) : S::add(a, S::load(p));
      b = is_max ? S::max(b, S::load(p + W)) : S::add(b, S::load(p + W));
    }
    S::store(y + i, a);
    S::store(y + i + W, b);
  }
  for (; i < n; i += W) {
    int64_t m = n - i < W ? n - i : W;
    V a = S::load_tail(x + i, m);
    for (int64_t r = 1; r < R; ++r) {
      V v = S::load_tail(x + r * stride + i, m);
      a = is_max ? S::max(a, v) : S::add(a, v);
    }
    S::store_tail(y + i, a, m);
  }
}

}  // namespace qe::kernels

// Vector softmax over a SIMD vocabulary S, instantiated per ISA. Rows (inner == 1) run three
// passes along the row (max, exp + sum storing exp into y, scale); columns (inner > 1) do the
// same with one vector of kWidth columns per pass, stepping down the softmax axis.
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/elementwise/softmax.h"
#include "kernels/elementwise/vec_math.h"

namespace qe::kernels {

template <class S>
void softmax_row_f32(const float* x, float* y, int64_t d) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const float ninf = -std::numeric_limits<float>::infinity();
  V m = S::set1(ninf);
  int64_t i = 0;
  for (; i + W <= d; i += W) m = S::max(m, S::load(x + i));
  if (i < d) m = S::max(m, S::load_tail_fill(x + i, d - i, ninf));
  const V mx = S::set1(S::reduce_max(m));
  V s0 = S::zero(), s1 = S::zero();
  i = 0;
  for (; i + 2 * W <= d; i += 2 * W) {
    V e0 = vecmath::exp<S>(S::sub(S::load(x + i), mx));
    V e1 = vecmath::exp<S>(S::sub(S::load(x + i + W), mx));
    S::store(y + i, e0);
    S::store(y + i + W, e1);
    s0 = S::add(s0, e0);
    s1 = S::add(s1, e1);
  }
  for (; i < d; i += W) {
    int64_t n = d - i < W ? d - i : W;
    // Lanes past the row read -inf, so they add exp(-inf) = 0 to the sum.
    V e = vecmath::exp<S>(S::sub(S::load_tail_fill(x + i, n, ninf), mx));
    S::store_tail(y + i, e, n);
    s1 = S::add(s1, e);
  }
  const V inv = S::set1(1.f / S::reduce_add(S::add(s0, s1)));
  i = 0;
  for (; i + W <= d; i += W) S::store(y + i, S::mul(S::load(y + i), inv));
  if (i < d) S::store_tail(y + i, S::mul(S::load_tail(y + i, d - i), inv), d - i);
}

template <class S>
void softmax_cols_f32(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  for (int64_t c = c0; c < c1; c += W) {
    int64_t n = c1 - c < W ? c1 - c : W;
    auto ld = [&](const float* p) { return n == W ? S::load(p) : S::load_tail(p, n); };
    auto st = [&](float* p, V v) {
      if (n == W) {
        S::store(p, v);
      } else {
        S::store_tail(p, v, n);
      }
    };
    V m = ld(x + c);
    for (int64_t k = 1; k < d; ++k) m = S::max(m, ld(x + k * inner + c));
    V s = S::zero();
    for (int64_t k = 0; k < d; ++k) {
      V e = vecmath::exp<S>(S::sub(ld(x + k * inner + c), m));
      st(y + k * inner + c, e);
      s = S::add(s, e);
    }
    V inv = S::div(S::set1(1.f), s);
    for (int64_t k = 0; k < d; ++k) st(y + k * inner + c, S::mul(ld(y + k * inner + c), inv));
  }
}

template <class S>
void softmax_f32_impl(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1) {
  if (inner == 1) {
    softmax_row_f32<S>(x, y, d);
  } else {
    softmax_cols_f32<S>(x, y, d, inner, c0, c1);
  }
}

}  // namespace qe::kernels

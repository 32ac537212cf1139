// The vector unary maps, written once over a SIMD vocabulary S and instantiated by
// unary_avx2.cpp / unary_avx512.cpp. Must match unary_f32_scalar() operation by operation for
// the piecewise-linear ops (bit-exact, NaN included; HardSigmoid/HardSwish may differ by the
// one rounding that GCC's default FMA contraction of mul+add saves in these ISA files) and to ~1e-6 for the transcendental ones.
#pragma once

#include <cstdint>

#include "kernels/elementwise/unary.h"
#include "kernels/elementwise/vec_math.h"

namespace qe::kernels {

// y[i] = fn(x[i]); two vectors per iteration, masked tail.
template <class S, class Fn>
inline void map_f32(const float* x, float* y, int64_t n, Fn fn) {
  constexpr int W = S::kWidth;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    auto a = fn(S::load(x + i));
    auto b = fn(S::load(x + i + W));
    S::store(y + i, a);
    S::store(y + i + W, b);
  }
  for (; i + W <= n; i += W) S::store(y + i, fn(S::load(x + i)));
  if (i < n) S::store_tail(y + i, fn(S::load_tail(x + i, n - i)), n - i);
}

template <class S>
void unary_f32_impl(const UnaryParams& p, const float* x, float* y, int64_t n) {
  using V = typename S::V;
  const V zero = S::zero(), one = S::set1(1.f), alpha = S::set1(p.alpha), beta = S::set1(p.beta);
  switch (p.op) {
    case UnaryOp::kAbs: return map_f32<S>(x, y, n, [](V v) { return S::abs(v); });
    case UnaryOp::kCeil: return map_f32<S>(x, y, n, [](V v) { return S::ceil(v); });
    case UnaryOp::kClip:
      return map_f32<S>(x, y, n, [&](V v) { return S::min(beta, S::max(alpha, v)); });
    case UnaryOp::kErf: return map_f32<S>(x, y, n, [](V v) { return vecmath::erf<S>(v); });
    case UnaryOp::kExp: return map_f32<S>(x, y, n, [](V v) { return vecmath::exp<S>(v); });
    case UnaryOp::kFloor: return map_f32<S>(x, y, n, [](V v) { return S::floor(v); });
    case UnaryOp::kGelu: return map_f32<S>(x, y, n, [](V v) { return vecmath::gelu<S>(v); });
    case UnaryOp::kGeluTanh: return map_f32<S>(x, y, n, [](V v) { return vecmath::gelu_tanh<S>(v); });
    case UnaryOp::kHardSigmoid:
      return map_f32<S>(x, y, n, [&](V v) { return S::max(S::min(S::add(S::mul(alpha, v), beta), one), zero); });
    case UnaryOp::kHardSwish: {
      const V sixth = S::set1(1.f / 6.f), half = S::set1(0.5f);
      return map_f32<S>(x, y, n, [&](V v) { return S::mul(v, S::max(S::min(S::add(S::mul(v, sixth), half), one), zero)); });
    }
    case UnaryOp::kIdentity: return map_f32<S>(x, y, n, [](V v) { return v; });
    case UnaryOp::kLeakyRelu:
      return map_f32<S>(x, y, n, [&](V v) { return S::select(S::lt(v, zero), S::mul(v, alpha), v); });
    case UnaryOp::kNeg: return map_f32<S>(x, y, n, [](V v) { return S::neg(v); });
    case UnaryOp::kRound: return map_f32<S>(x, y, n, [](V v) { return S::round_even(v); });
    case UnaryOp::kReciprocal: return map_f32<S>(x, y, n, [&](V v) { return S::div(one, v); });
    case UnaryOp::kRelu: return map_f32<S>(x, y, n, [&](V v) { return S::max(zero, v); });
    case UnaryOp::kSigmoid: return map_f32<S>(x, y, n, [](V v) { return vecmath::sigmoid<S>(v); });
    case UnaryOp::kSqrt: return map_f32<S>(x, y, n, [](V v) { return S::sqrt(v); });
    case UnaryOp::kSquare: return map_f32<S>(x, y, n, [](V v) { return S::mul(v, v); });
    case UnaryOp::kTanh: return map_f32<S>(x, y, n, [](V v) { return vecmath::tanh<S>(v); });
    case UnaryOp::kLog: return unary_f32_ref(p, x, y, n);  // no vector form; never dispatched here
  }
}

}  // namespace qe::kernels

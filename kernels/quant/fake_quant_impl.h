// The integer fake quantizer over double lanes, written once for any ISA's double-vector
// traits D (fake_quant_avx2.cpp, fake_quant_avx512.cpp). Every step is the same IEEE operation
// as in int_fake_quant_ref (divide, add, round, clip, subtract, multiply, narrow to float), so
// the results are bit-identical. Include only from per-ISA translation units.
//
// D provides: V, kLanes, load / store (kLanes floats <-> doubles), load_tail / store_tail (n <
// kLanes), set1, add, sub, mul, div, to_f32 (round each lane to float precision), abs, trunc, floor, ceil, nearest, or_sign (magnitude |
// sign of v), add_one_if_ge_half / add_one_if_gt_half (t + 1 where f >= / > 0.5), min_keep(hi, v) and
// max_keep(lo, v) that return v when v is NaN.
#pragma once

#include <cstdint>

#include "kernels/quant/fake_quant.h"

namespace qe::kernels::fq_impl {

template <class D, Rounding M>
inline typename D::V round_v(typename D::V v) {
  if constexpr (M == Rounding::kHalfEven) {
    return D::nearest(v);
  } else if constexpr (M == Rounding::kFloor) {
    return D::floor(v);
  } else if constexpr (M == Rounding::kCeil) {
    return D::ceil(v);
  } else if constexpr (M == Rounding::kDown) {
    return D::trunc(v);
  } else if constexpr (M == Rounding::kUp) {
    return D::or_sign(D::ceil(D::abs(v)), v);
  } else {  // half up / half down, on the magnitude
    const typename D::V a = D::abs(v);
    const typename D::V t = D::trunc(a);
    const typename D::V f = D::sub(a, t);
    const typename D::V r = M == Rounding::kHalfUp ? D::add_one_if_ge_half(t, f) : D::add_one_if_gt_half(t, f);
    return D::or_sign(r, v);
  }
}

template <class D, Rounding M>
inline typename D::V quant_v(typename D::V x, typename D::V s, typename D::V z, typename D::V lo, typename D::V hi) {
  typename D::V v = round_v<D, M>(D::add(D::to_f32(D::div(x, s)), z));
  v = D::max_keep(lo, D::min_keep(hi, v));
  return D::mul(D::sub(v, z), s);
}

// One scale / zero point for n elements.
template <class D, Rounding M>
void run_const(const float* x, float* y, int64_t n, double s, double z, double lo, double hi) {
  using V = typename D::V;
  const V vs = D::set1(s), vz = D::set1(z), vlo = D::set1(lo), vhi = D::set1(hi);
  int64_t i = 0;
  for (; i + 2 * D::kLanes <= n; i += 2 * D::kLanes) {
    const V a = quant_v<D, M>(D::load(x + i), vs, vz, vlo, vhi);
    const V b = quant_v<D, M>(D::load(x + i + D::kLanes), vs, vz, vlo, vhi);
    D::store(y + i, a);
    D::store(y + i + D::kLanes, b);
  }
  for (; i + D::kLanes <= n; i += D::kLanes) D::store(y + i, quant_v<D, M>(D::load(x + i), vs, vz, vlo, vhi));
  if (i < n) D::store_tail(y + i, quant_v<D, M>(D::load_tail(x + i, n - i), vs, vz, vlo, vhi), n - i);
}

// Element i uses scale[i] / zero_point[i] (channels innermost).
template <class D, Rounding M>
void run_vec(const float* x, float* y, int64_t n, const float* s, const float* z, double lo, double hi) {
  using V = typename D::V;
  const V vlo = D::set1(lo), vhi = D::set1(hi);
  int64_t i = 0;
  for (; i + D::kLanes <= n; i += D::kLanes) {
    D::store(y + i, quant_v<D, M>(D::load(x + i), D::load(s + i), D::load(z + i), vlo, vhi));
  }
  if (i < n) {
    const int64_t t = n - i;
    // Lanes past the tail see scale 0 (0 / 0 = NaN there); they are never stored.
    D::store_tail(y + i, quant_v<D, M>(D::load_tail(x + i, t), D::load_tail(s + i, t), D::load_tail(z + i, t), vlo, vhi), t);
  }
}

template <class D, Rounding M>
void int_fake_quant_mode(const float* x, float* y, const IntQuantArgs& a) {
  for (int64_t o = 0; o < a.outer; ++o) {
    const int64_t base = o * a.channels * a.inner;
    if (a.inner == 1) {
      run_vec<D, M>(x + base, y + base, a.channels, a.scale, a.zero_point, a.min_int, a.max_int);
      continue;
    }
    for (int64_t c = 0; c < a.channels; ++c) {
      const int64_t off = base + c * a.inner;
      run_const<D, M>(x + off, y + off, a.inner, a.scale[c], a.zero_point[c], a.min_int, a.max_int);
    }
  }
}

template <class D>
void int_fake_quant(const float* x, float* y, const IntQuantArgs& a) {
  switch (a.rounding) {
    case Rounding::kHalfEven: return int_fake_quant_mode<D, Rounding::kHalfEven>(x, y, a);
    case Rounding::kHalfUp: return int_fake_quant_mode<D, Rounding::kHalfUp>(x, y, a);
    case Rounding::kHalfDown: return int_fake_quant_mode<D, Rounding::kHalfDown>(x, y, a);
    case Rounding::kUp: return int_fake_quant_mode<D, Rounding::kUp>(x, y, a);
    case Rounding::kDown: return int_fake_quant_mode<D, Rounding::kDown>(x, y, a);
    case Rounding::kCeil: return int_fake_quant_mode<D, Rounding::kCeil>(x, y, a);
    case Rounding::kFloor: return int_fake_quant_mode<D, Rounding::kFloor>(x, y, a);
  }
}

}  // namespace qe::kernels::fq_impl

// Vector transcendental functions over a SIMD vocabulary S (simd_avx2.h / simd_avx512.h), for
// the per-ISA translation units only. Accuracy targets ~1e-7..1e-6 relative against std::.
//
// exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Taylor series of e^r to r^7
//      (truncation < 1e-8), scaled by 2^n as two factors so results stay right down into the
//      denormals and overflow to +inf exactly where float does.
// tanh: odd Taylor series for |x| < 0.4 (where 1 - 2/(e^2x + 1) cancels), that formula above.
// erf: Maclaurin series for |x| <= 1; above, 1 - erfc with the Chebyshev-fitted erfc of
//      Numerical Recipes (fractional error < 1.2e-7), which also gives 1 + erf(x) for x < -1
//      without cancellation (Gelu on very negative inputs).
#pragma once

namespace qe::kernels::vecmath {

template <class S>
inline typename S::V exp(typename S::V x) {
  using V = typename S::V;
  // NaN-propagating clamp (x second): e^-104 is below the smallest denormal, e^89 overflows.
  x = S::max(S::set1(-104.f), x);
  x = S::min(S::set1(89.f), x);
  V n = S::round_nearest(S::mul(x, S::set1(1.44269504088896341f)));
  V r = S::fnmadd(n, S::set1(0.693359375f), x);
  r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
  V p = S::set1(1.f / 5040.f);
  p = S::fmadd(p, r, S::set1(1.f / 720.f));
  p = S::fmadd(p, r, S::set1(1.f / 120.f));
  p = S::fmadd(p, r, S::set1(1.f / 24.f));
  p = S::fmadd(p, r, S::set1(1.f / 6.f));
  p = S::fmadd(p, r, S::set1(0.5f));
  p = S::fmadd(p, r, S::set1(1.f));
  p = S::fmadd(p, r, S::set1(1.f));
  // n in [-150, 129]: split so each factor is a normal power of two.
  V n1 = S::floor(S::mul(n, S::set1(0.5f)));
  V n2 = S::sub(n, n1);
  return S::mul(S::mul(p, S::pow2i(n1)), S::pow2i(n2));
}

template <class S>
inline typename S::V sigmoid(typename S::V x) {
  return S::div(S::set1(1.f), S::add(S::set1(1.f), exp<S>(S::neg(x))));
}

template <class S>
inline typename S::V tanh(typename S::V x) {
  using V = typename S::V;
  V ax = S::abs(x);
  V x2 = S::mul(x, x);
  V p = S::set1(21844.f / 6081075.f);
  p = S::fmadd(p, x2, S::set1(-1382.f / 155925.f));
  p = S::fmadd(p, x2, S::set1(62.f / 2835.f));
  p = S::fmadd(p, x2, S::set1(-17.f / 315.f));
  p = S::fmadd(p, x2, S::set1(2.f / 15.f));
  p = S::fmadd(p, x2, S::set1(-1.f / 3.f));
  V small = S::fmadd(S::mul(p, x2), x, x);
  V e = exp<S>(S::add(ax, ax));
  V big = S::sub(S::set1(1.f), S::div(S::set1(2.f), S::add(e, S::set1(1.f))));
  big = S::xor_bits(big, S::sign_bits(x));
  return S::select(S::lt(ax, S::set1(0.4f)), small, big);
}

// erf(x) / x as a series in x^2, for |x| <= 1 (terms to x^20: truncation < 1e-9).
template <class S>
inline typename S::V erf_series_over_x(typename S::V x2) {
  using V = typename S::V;
  // 2/sqrt(pi) * (-1)^k / (k! (2k + 1))
  V p = S::set1(1.4807192815879218e-08f);
  p = S::fmadd(p, x2, S::set1(-1.6365844691234924e-07f));
  p = S::fmadd(p, x2, S::set1(1.6462114365889246e-06f));
  p = S::fmadd(p, x2, S::set1(-1.4925650358406250e-05f));
  p = S::fmadd(p, x2, S::set1(1.2055332981789664e-04f));
  p = S::fmadd(p, x2, S::set1(-8.5483270234508522e-04f));
  p = S::fmadd(p, x2, S::set1(5.2239776254421879e-03f));
  p = S::fmadd(p, x2, S::set1(-2.6866170645131252e-02f));
  p = S::fmadd(p, x2, S::set1(1.1283791670955126e-01f));
  p = S::fmadd(p, x2, S::set1(-3.7612638903183754e-01f));
  p = S::fmadd(p, x2, S::set1(1.1283791670955126e+00f));
  return p;
}

// erfc(z) for z >= 0 (used for z > 1), given z^2 as hi + lo: the exponent -z^2 dominates the
// error (each 1e-7 of it is 1e-7 relative in the result), so callers pass the square exactly.
template <class S>
inline typename S::V erfc_nonneg(typename S::V z, typename S::V z2_hi, typename S::V z2_lo) {
  using V = typename S::V;
  V t = S::div(S::set1(1.f), S::fmadd(S::set1(0.5f), z, S::set1(1.f)));
  V p = S::set1(0.17087277f);
  p = S::fmadd(p, t, S::set1(-0.82215223f));
  p = S::fmadd(p, t, S::set1(1.48851587f));
  p = S::fmadd(p, t, S::set1(-1.13520398f));
  p = S::fmadd(p, t, S::set1(0.27886807f));
  p = S::fmadd(p, t, S::set1(-0.18628806f));
  p = S::fmadd(p, t, S::set1(0.09678418f));
  p = S::fmadd(p, t, S::set1(0.37409196f));
  p = S::fmadd(p, t, S::set1(1.00002368f));
  p = S::fmadd(p, t, S::set1(-1.26551223f));
  V arg = S::sub(S::sub(p, z2_hi), z2_lo);
  return S::mul(t, exp<S>(arg));
}

template <class S>
inline typename S::V erf(typename S::V x) {
  using V = typename S::V;
  V ax = S::abs(x);
  V small = S::mul(x, erf_series_over_x<S>(S::mul(x, x)));
  // erf is 1 in float from |x| = 4 on; the clamp keeps x^2 and its residual finite.
  V cx = S::min(S::set1(10.f), ax);
  V x2 = S::mul(cx, cx);
  V big = S::sub(S::set1(1.f), erfc_nonneg<S>(cx, x2, S::fmsub(cx, cx, x2)));
  big = S::xor_bits(big, S::sign_bits(x));
  return S::select(S::gt(ax, S::set1(1.f)), big, small);
}

// 1 + erf(z) for z = x / sqrt(2), accurate in relative terms also where erf(z) is close to -1.
// z^2 comes from x^2 / 2 (exact halving of an exactly split square), not from the rounded z.
template <class S>
inline typename S::V one_plus_erf_scaled(typename S::V x) {
  using V = typename S::V;
  const V half = S::set1(0.5f);
  V z = S::mul(x, S::set1(0.70710678118654752440f));
  V az = S::abs(z);
  V x2 = S::mul(x, x);
  V z2_hi = S::mul(half, x2), z2_lo = S::mul(half, S::fmsub(x, x, x2));
  V small = S::fmadd(z, erf_series_over_x<S>(S::mul(z, z)), S::set1(1.f));
  V c = erfc_nonneg<S>(az, z2_hi, z2_lo);
  V big = S::select(S::lt(z, S::zero()), c, S::sub(S::set1(2.f), c));
  return S::select(S::gt(az, S::set1(1.f)), big, small);
}

template <class S>
inline typename S::V gelu(typename S::V x) {
  using V = typename S::V;
  // 1 + erf(x / sqrt 2) is exactly 2 or 0 in float beyond |x| = 20; clamping keeps the
  // squares finite while x itself (infinities included) still scales the result.
  V cx = S::min(S::set1(20.f), S::max(S::set1(-20.f), x));
  return S::mul(S::mul(S::set1(0.5f), x), one_plus_erf_scaled<S>(cx));
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for very negative x.
template <class S>
inline typename S::V gelu_tanh(typename S::V x) {
  using V = typename S::V;
  V x3 = S::mul(S::mul(x, x), x);
  V u = S::mul(S::set1(0.79788456080286535588f), S::fmadd(S::set1(0.044715f), x3, x));
  V e = exp<S>(S::mul(S::set1(-2.f), u));
  return S::div(x, S::add(S::set1(1.f), e));
}

}  // namespace qe::kernels::vecmath

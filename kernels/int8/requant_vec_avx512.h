// AVX-512 forms of requantize_ref (requantize.h), bit-exact in both modes. Include only from
// *_avx512.cpp translation units.
//
// kFloat: vcvtdq2ps, one vmulps (no FMA), one vdivps (none for a divisor of 1), clamp with
// min/max, vcvtps2dq under the default rounding mode — the same operations, in the same order,
// as requantize_float_ref.
// kFixedPoint: acc * M needs 64 bits, so even and odd lanes go through vpmuldq separately.
// The division by 2^n rounds half to even with one add: floor((v + 2^(n-1) - 1 + bit_n(v)) / 2^n),
// where bit_n(v) is the parity of floor(v / 2^n) (a carry happens above half, and at exactly
// half only when the floor is odd). requantize_fixed_ref keeps the low 32 bits of the rounded
// product before adding the zero point; taking the low half of each 64-bit lane does the same,
// and clamping to [qmin - zp, qmax - zp] before adding zp equals its clamp after (no overflow).
#pragma once

#include <immintrin.h>

// GCC 12 reports the _mm512_undefined_* placeholders inside the intrinsics as uninitialised once
// inlined; false positives (as in elementwise/simd_avx512.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstdint>

#include "kernels/int8/requantize.h"

namespace qe::kernels::avx512 {

// clamp(fp32(fp32(a * m) / d), lo, hi), the float form before rounding; `divide` = false skips
// the division by d = 1 (an exact no-op). A true vdivps: multiplying by 1 / d and dividing only
// the lanes near a half-integer was measured slower (the check costs more than the division on
// the machines here; docs/benchmarks.md). kClampLo = false leaves the lower clamp to the caller
// (saturating packs).
template <bool kClampLo = true>
inline __m512 requant_float(__m512 a, __m512 m, __m512 d, bool divide, __m512 lo, __m512 hi) {
  __m512 t = _mm512_mul_ps(a, m);
  if (divide) t = _mm512_div_ps(t, d);
  t = _mm512_min_ps(t, hi);
  if constexpr (kClampLo) t = _mm512_max_ps(t, lo);
  return t;
}

// round_half_even(t + z) - z: vcvtps2dq's round_half_even(t), except that with an odd z an exact
// tie goes to the other neighbour (requantize_float_ref adds the zero point before rounding).
// t - q is exact, and at a tie 2t is an odd integer, so 2t - q is that neighbour.
inline __m512i round_with_zero_point(__m512 t, bool odd_zero_point) {
  const __m512i q = _mm512_cvtps_epi32(t);
  if (!odd_zero_point) return q;
  const __m512 off = _mm512_abs_ps(_mm512_sub_ps(t, _mm512_cvtepi32_ps(q)));
  const __mmask16 tie = _mm512_cmp_ps_mask(off, _mm512_set1_ps(0.5f), _CMP_EQ_OQ);
  return _mm512_mask_sub_epi32(q, tie, _mm512_cvtps_epi32(_mm512_add_ps(t, t)), q);
}

// Round-half-even shift of the signed 64-bit lanes of v by n (1..62 per lane); hm1 = 2^(n-1) - 1.
inline __m512i rshift_half_even_epi64(__m512i v, __m512i n, __m512i hm1) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i odd = _mm512_and_si512(_mm512_srlv_epi64(v, n), one);
  return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(v, hm1), odd), n);
}

// Parameters for 16 lanes, each lane with its own multiplier (per-channel along the vector) or
// all the same (broadcast).
struct RequantVec {
  bool fixed = false;
  bool divide = false;             // kFloat with a divisor other than 1
  bool odd_zp = false;             // kFloat: ties need round_with_zero_point
  __m512 m, d, lo_f, hi_f;         // kFloat
  __m512i mult_odd;                // kFixedPoint: M of the odd lanes moved to the low halves
  __m512i mult;                    // M of each lane (vpmuldq reads the even ones in place)
  __m512i sh_even, sh_odd;         // n of even / odd lanes as 64-bit counts
  __m512i hm1_even, hm1_odd;       // 2^(n-1) - 1
  __m512i lo, hi, zp;              // qmin - zp, qmax - zp, zp

  static RequantVec make(RequantMode mode, __m512 m, __m512i fx_mult, __m512i fx_shift, const RequantOutput& o) {
    RequantVec r;
    r.fixed = mode == RequantMode::kFixedPoint;
    r.m = m;
    r.divide = o.divisor != 1.f;
    r.odd_zp = (o.zero_point & 1) != 0;
    r.d = _mm512_set1_ps(o.divisor);
    r.lo_f = _mm512_set1_ps(static_cast<float>(o.qmin - o.zero_point));
    r.hi_f = _mm512_set1_ps(static_cast<float>(o.qmax - o.zero_point));
    r.lo = _mm512_set1_epi32(o.qmin - o.zero_point);
    r.hi = _mm512_set1_epi32(o.qmax - o.zero_point);
    r.zp = _mm512_set1_epi32(o.zero_point);
    r.mult = fx_mult;
    r.mult_odd = _mm512_srli_epi64(fx_mult, 32);
    const __m512i one = _mm512_set1_epi64(1);
    r.sh_even = _mm512_and_si512(fx_shift, _mm512_set1_epi64(0xFFFFFFFFll));
    r.sh_odd = _mm512_srli_epi64(fx_shift, 32);
    r.hm1_even = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(r.sh_even, one)), one);
    r.hm1_odd = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(r.sh_odd, one)), one);
    return r;
  }
  // One multiplier for every lane.
  static RequantVec broadcast(RequantMode mode, const RequantMultiplier& mm, const RequantOutput& o) {
    return make(mode, _mm512_set1_ps(mm.m), _mm512_set1_epi32(mm.fx_mult), _mm512_set1_epi32(mm.fx_shift), o);
  }
  // Lane i uses m[i], fx_mult[i], fx_shift[i] (per-channel arrays).
  static RequantVec lanes(RequantMode mode, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                          const RequantOutput& o) {
    return make(mode, _mm512_loadu_ps(m), _mm512_loadu_si512(fx_mult), _mm512_loadu_si512(fx_shift), o);
  }

  // The requantized values as int32 in [qmin, qmax].
  __m512i operator()(__m512i acc) const {
    if (!fixed) {
      const __m512 v = requant_float(_mm512_cvtepi32_ps(acc), m, d, divide, lo_f, hi_f);
      return _mm512_add_epi32(round_with_zero_point(v, odd_zp), zp);
    }
    const __m512i pe = _mm512_mul_epi32(acc, mult);
    const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mult_odd);
    const __m512i re = rshift_half_even_epi64(pe, sh_even, hm1_even);
    const __m512i ro = rshift_half_even_epi64(po, sh_odd, hm1_odd);
    __m512i r = _mm512_mask_blend_epi32(0xAAAA, re, _mm512_slli_epi64(ro, 32));
    r = _mm512_max_epi32(_mm512_min_epi32(r, hi), lo);
    return _mm512_add_epi32(r, zp);
  }
};

}  // namespace qe::kernels::avx512

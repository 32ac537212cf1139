// AVX2 forms of requantize_ref (requantize.h), bit-exact in both modes. Include only from
// *_avx2.cpp translation units. Same scheme as requant_vec_avx512.h, with one difference:
// AVX2 has no arithmetic 64-bit shift, so the fixed-point product is biased by 2^62 (|acc * M|
// < 2^62, so the sum stays below 2^64 as an unsigned value), shifted logically, and the bias's
// share 2^(62-n) subtracted again.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/int8/requantize.h"

namespace qe::kernels::avx2 {

// Round-half-even shift of signed 64-bit lanes (|v| < 2^62) by n in 1..62 per lane.
// bias_hm1 = 2^62 + 2^(n-1) - 1, unbias = 2^(62-n).
inline __m256i rshift_half_even_epi64(__m256i v, __m256i n, __m256i bias_hm1, __m256i unbias) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i odd = _mm256_and_si256(_mm256_srlv_epi64(v, n), one);  // bit n is the same in both shifts
  const __m256i u = _mm256_add_epi64(_mm256_add_epi64(v, bias_hm1), odd);
  return _mm256_sub_epi64(_mm256_srlv_epi64(u, n), unbias);
}

// clamp(fp32(fp32(a * m) / d), lo, hi), the float form before rounding; `divide` = false skips
// the division by d = 1 (see requant_vec_avx512.h).
inline __m256 requant_float(__m256 a, __m256 m, __m256 d, bool divide, __m256 lo, __m256 hi) {
  __m256 t = _mm256_mul_ps(a, m);
  if (divide) t = _mm256_div_ps(t, d);
  return _mm256_max_ps(_mm256_min_ps(t, hi), lo);
}

// round_half_even(t + z) - z (see requant_vec_avx512.h): exact ties move to the other neighbour
// when z is odd.
inline __m256i round_with_zero_point(__m256 t, bool odd_zero_point) {
  const __m256i q = _mm256_cvtps_epi32(t);
  if (!odd_zero_point) return q;
  const __m256 off = _mm256_andnot_ps(_mm256_set1_ps(-0.f), _mm256_sub_ps(t, _mm256_cvtepi32_ps(q)));
  const __m256i tie = _mm256_castps_si256(_mm256_cmp_ps(off, _mm256_set1_ps(0.5f), _CMP_EQ_OQ));
  const __m256i other = _mm256_sub_epi32(_mm256_cvtps_epi32(_mm256_add_ps(t, t)), q);
  return _mm256_blendv_epi8(q, other, tie);
}

struct RequantVec {
  bool fixed = false;
  bool divide = false;  // kFloat with a divisor other than 1
  bool odd_zp = false;  // kFloat: ties need round_with_zero_point
  __m256 m, d, lo_f, hi_f;
  __m256i mult, mult_odd;
  __m256i sh_even, sh_odd, bias_even, bias_odd, unbias_even, unbias_odd;
  __m256i lo, hi, zp;

  static RequantVec make(RequantMode mode, __m256 m, __m256i fx_mult, __m256i fx_shift, const RequantOutput& o) {
    RequantVec r;
    r.fixed = mode == RequantMode::kFixedPoint;
    r.m = m;
    r.divide = o.divisor != 1.f;
    r.odd_zp = (o.zero_point & 1) != 0;
    r.d = _mm256_set1_ps(o.divisor);
    r.lo_f = _mm256_set1_ps(static_cast<float>(o.qmin - o.zero_point));
    r.hi_f = _mm256_set1_ps(static_cast<float>(o.qmax - o.zero_point));
    r.lo = _mm256_set1_epi32(o.qmin - o.zero_point);
    r.hi = _mm256_set1_epi32(o.qmax - o.zero_point);
    r.zp = _mm256_set1_epi32(o.zero_point);
    r.mult = fx_mult;
    r.mult_odd = _mm256_srli_epi64(fx_mult, 32);
    const __m256i one = _mm256_set1_epi64x(1);
    const __m256i b62 = _mm256_set1_epi64x(int64_t{1} << 62);
    r.sh_even = _mm256_and_si256(fx_shift, _mm256_set1_epi64x(0xFFFFFFFFll));
    r.sh_odd = _mm256_srli_epi64(fx_shift, 32);
    auto bias = [&](__m256i n) {
      return _mm256_add_epi64(b62, _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(n, one)), one));
    };
    r.bias_even = bias(r.sh_even);
    r.bias_odd = bias(r.sh_odd);
    r.unbias_even = _mm256_srlv_epi64(b62, r.sh_even);
    r.unbias_odd = _mm256_srlv_epi64(b62, r.sh_odd);
    return r;
  }
  static RequantVec broadcast(RequantMode mode, const RequantMultiplier& mm, const RequantOutput& o) {
    return make(mode, _mm256_set1_ps(mm.m), _mm256_set1_epi32(mm.fx_mult), _mm256_set1_epi32(mm.fx_shift), o);
  }
  static RequantVec lanes(RequantMode mode, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                          const RequantOutput& o) {
    return make(mode, _mm256_loadu_ps(m), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fx_mult)),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fx_shift)), o);
  }

  __m256i operator()(__m256i acc) const {
    if (!fixed) {
      const __m256 v = requant_float(_mm256_cvtepi32_ps(acc), m, d, divide, lo_f, hi_f);
      return _mm256_add_epi32(round_with_zero_point(v, odd_zp), zp);
    }
    const __m256i pe = _mm256_mul_epi32(acc, mult);
    const __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mult_odd);
    const __m256i re = rshift_half_even_epi64(pe, sh_even, bias_even, unbias_even);
    const __m256i ro = rshift_half_even_epi64(po, sh_odd, bias_odd, unbias_odd);
    __m256i r = _mm256_blend_epi32(re, _mm256_slli_epi64(ro, 32), 0xAA);
    r = _mm256_max_epi32(_mm256_min_epi32(r, hi), lo);
    return _mm256_add_epi32(r, zp);
  }
};

// 16 int32 values already in byte range to 16 bytes in order (u8: unsigned saturation, s8: signed).
inline __m128i pack16_epi32_to_8(__m256i v0, __m256i v1, bool is_signed) {
  const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
  const __m128i lo = _mm256_castsi256_si128(p16), hi = _mm256_extracti128_si256(p16, 1);
  return is_signed ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
}

}  // namespace qe::kernels::avx2

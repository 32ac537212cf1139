// qadd / qmul, 16 elements per step: widen to int32, subtract the zero points, then the fp32
// form of qadd.h (vmulps, vmulps, vaddps or vmulps, vdivps, clamp, vcvtps2dq) or vpmulld + the vector
// requantization of requant_vec_avx512.h; vpmovdb stores (values already in byte range).
// GCC 12: false maybe-uninitialized reports from the _mm512_undefined_* placeholders.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "kernels/int8/qadd.h"
#include "kernels/int8/requant_vec_avx512.h"

namespace qe::kernels {

namespace {

inline __mmask16 first_n(int64_t n) { return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

inline __m512i load16(const void* p, bool s, int64_t i, __mmask16 k) {
  const __m128i b = _mm_maskz_loadu_epi8(k, static_cast<const int8_t*>(p) + i);
  return s ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

// F(a - za, b - zb) -> int32 outputs in range, for 16 lanes.
template <typename F>
void binary(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1, F f) {
  const __m512i za = _mm512_set1_epi32(q.a_zero_point), zb = _mm512_set1_epi32(q.b_zero_point);
  const bool per_plane = q.b_broadcast == QBroadcast::kPerPlane;
  for (int64_t pl = p0; pl < p1; ++pl) {
    __m512i bb = _mm512_setzero_si512();
    if (per_plane) {
      const int32_t v = q.b_signed ? static_cast<const int8_t*>(b)[pl] : static_cast<const uint8_t*>(b)[pl];
      bb = _mm512_set1_epi32(v - q.b_zero_point);
    }
    for (int64_t k = 0; k < inner; k += 16) {
      const __mmask16 m = first_n(inner - k);
      const int64_t i = pl * inner + k;
      const __m512i av = _mm512_sub_epi32(load16(a, q.a_signed, i, m), za);
      const __m512i bv = per_plane ? bb : _mm512_sub_epi32(load16(b, q.b_signed, i, m), zb);
      _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(y) + i, m, f(av, bv));
    }
  }
}

}  // namespace

namespace {

inline __m512 no_contract(__m512 x) {
  asm("" : "+v"(x));
  return x;
}

// The float form of qadd.h: dequantize both operands, one fp32 add or multiply, divide, clamp, round.
template <bool kMul>
void float_form(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  const __m512 ma = _mm512_set1_ps(q.ma), mb = _mm512_set1_ps(q.mb), d = _mm512_set1_ps(q.out.divisor);
  const __m512 one = _mm512_set1_ps(1.f);
  const bool odd = (q.out.zero_point & 1) != 0, divide = q.out.divisor != 1.f;
  const __m512 lo = _mm512_set1_ps(static_cast<float>(q.out.qmin - q.out.zero_point));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(q.out.qmax - q.out.zero_point));
  const __m512i zy = _mm512_set1_epi32(q.out.zero_point);
  binary(q, a, b, y, inner, p0, p1, [&](__m512i av, __m512i bv) {
    // The barriers keep the compiler from fusing a product into the add (an FMA rounds once).
    const __m512 da = no_contract(_mm512_mul_ps(_mm512_cvtepi32_ps(av), ma));
    const __m512 db = no_contract(_mm512_mul_ps(_mm512_cvtepi32_ps(bv), mb));
    const __m512 t = avx512::requant_float(kMul ? _mm512_mul_ps(da, db) : _mm512_add_ps(da, db), one, d, divide, lo, hi);
    return _mm512_add_epi32(avx512::round_with_zero_point(t, odd), zy);
  });
}

}  // namespace

void qadd_avx512(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  float_form<false>(q, a, b, y, inner, p0, p1);
}

void qmul_avx512(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  if (q.mode == RequantMode::kFloat) return float_form<true>(q, a, b, y, inner, p0, p1);
  const avx512::RequantVec rq = avx512::RequantVec::broadcast(q.mode, q.m, q.out);
  binary(q, a, b, y, inner, p0, p1, [&](__m512i av, __m512i bv) { return rq(_mm512_mullo_epi32(av, bv)); });
}

}  // namespace qe::kernels

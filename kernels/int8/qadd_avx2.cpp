// qadd / qmul, AVX2: 16 elements per step as two 8-lane halves (same arithmetic as
// qadd_avx512.cpp), bytes through vpackssdw + vpackuswb / vpacksswb; tails through a copy.
#include <immintrin.h>

#include <cstring>

#include "kernels/int8/qadd.h"
#include "kernels/int8/requant_vec_avx2.h"

namespace qe::kernels {

namespace {

// 16 values (zero-filled past n) widened to int32 in two halves.
inline void load16(const void* p, bool s, int64_t i, int64_t n, __m256i& lo, __m256i& hi) {
  __m128i b;
  if (n >= 16) {
    b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + i));
  } else {
    alignas(16) int8_t t[16] = {};
    std::memcpy(t, static_cast<const int8_t*>(p) + i, static_cast<size_t>(n));
    b = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
  }
  const __m128i b8 = _mm_srli_si128(b, 8);
  lo = s ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
  hi = s ? _mm256_cvtepi8_epi32(b8) : _mm256_cvtepu8_epi32(b8);
}

template <typename F>
void binary(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1, F f) {
  const __m256i za = _mm256_set1_epi32(q.a_zero_point), zb = _mm256_set1_epi32(q.b_zero_point);
  const bool per_plane = q.b_broadcast == QBroadcast::kPerPlane;
  for (int64_t pl = p0; pl < p1; ++pl) {
    __m256i bb = _mm256_setzero_si256();
    if (per_plane) {
      const int32_t v = q.b_signed ? static_cast<const int8_t*>(b)[pl] : static_cast<const uint8_t*>(b)[pl];
      bb = _mm256_set1_epi32(v - q.b_zero_point);
    }
    for (int64_t k = 0; k < inner; k += 16) {
      const int64_t n = inner - k, i = pl * inner + k;
      __m256i a0, a1, b0 = bb, b1 = bb;
      load16(a, q.a_signed, i, n, a0, a1);
      a0 = _mm256_sub_epi32(a0, za);
      a1 = _mm256_sub_epi32(a1, za);
      if (!per_plane) {
        load16(b, q.b_signed, i, n, b0, b1);
        b0 = _mm256_sub_epi32(b0, zb);
        b1 = _mm256_sub_epi32(b1, zb);
      }
      const __m128i r = avx2::pack16_epi32_to_8(f(a0, b0), f(a1, b1), q.y_signed);
      int8_t* dst = static_cast<int8_t*>(y) + i;
      if (n >= 16) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), r);
      } else {
        alignas(16) int8_t t[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(t), r);
        std::memcpy(dst, t, static_cast<size_t>(n));
      }
    }
  }
}

}  // namespace

namespace {

inline __m256 no_contract(__m256 x) {
  asm("" : "+x"(x));
  return x;
}

// The float form of qadd.h: dequantize both operands, one fp32 add or multiply, divide, clamp, round.
template <bool kMul>
void float_form(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  const __m256 ma = _mm256_set1_ps(q.ma), mb = _mm256_set1_ps(q.mb), d = _mm256_set1_ps(q.out.divisor);
  const __m256 one = _mm256_set1_ps(1.f);
  const bool odd = (q.out.zero_point & 1) != 0, divide = q.out.divisor != 1.f;
  const __m256 lo = _mm256_set1_ps(static_cast<float>(q.out.qmin - q.out.zero_point));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(q.out.qmax - q.out.zero_point));
  const __m256i zy = _mm256_set1_epi32(q.out.zero_point);
  binary(q, a, b, y, inner, p0, p1, [&](__m256i av, __m256i bv) {
    // The barriers keep the compiler from fusing a product into the add (an FMA rounds once).
    const __m256 da = no_contract(_mm256_mul_ps(_mm256_cvtepi32_ps(av), ma));
    const __m256 db = no_contract(_mm256_mul_ps(_mm256_cvtepi32_ps(bv), mb));
    const __m256 t = avx2::requant_float(kMul ? _mm256_mul_ps(da, db) : _mm256_add_ps(da, db), one, d, divide, lo, hi);
    return _mm256_add_epi32(avx2::round_with_zero_point(t, odd), zy);
  });
}

}  // namespace

void qadd_avx2(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  float_form<false>(q, a, b, y, inner, p0, p1);
}

void qmul_avx2(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  if (q.mode == RequantMode::kFloat) return float_form<true>(q, a, b, y, inner, p0, p1);
  const avx2::RequantVec rq = avx2::RequantVec::broadcast(q.mode, q.m, q.out);
  binary(q, a, b, y, inner, p0, p1, [&](__m256i av, __m256i bv) { return rq(_mm256_mullo_epi32(av, bv)); });
}

}  // namespace qe::kernels

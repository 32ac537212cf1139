// A thin float-vector vocabulary over AVX2 for the templated elementwise/pooling/normalisation
// kernels (vec_math.h and the *_impl.h files). Include only from *_avx2.cpp translation units.
// Everything is in namespace avx2 so that templates instantiated with these types never share
// a symbol with the AVX-512 instantiations.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace qe::kernels::avx2 {

struct F32 {
  using V = __m256;
  using M = __m256;  // comparison result: all-ones lanes
  static constexpr int kWidth = 8;
  static constexpr const char* kIsa = "avx2";

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // First n (< kWidth) lanes; the others read as 0 and are never touched in memory.
  static V load_tail(const float* p, int64_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store_tail(float* p, V v, int64_t n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  // First n lanes from p, the others `fill`.
  static V load_tail_fill(const float* p, int64_t n, float fill) {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), load_tail(p, n), _mm256_castsi256_ps(tail_mask(n)));
  }

  // Lane j = p[2j], reading only p[0, n) (n <= 2 * kWidth); lanes past the data are 0.
  static V load_even(const float* p, int64_t n) {
    __m256 a = n >= 8 ? load(p) : load_tail(p, n);
    __m256 b = n >= 16 ? load(p + 8) : (n > 8 ? load_tail(p + 8, n - 8) : zero());
    __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
  }

  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  // max/min return the second operand when either is NaN: callers put x second so NaN flows.
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }  // a*b+c
  static V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }  // a*b-c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c-a*b
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  static V neg(V a) { return _mm256_xor_ps(_mm256_set1_ps(-0.f), a); }
  static V sign_bits(V a) { return _mm256_and_ps(_mm256_set1_ps(-0.f), a); }
  static V xor_bits(V a, V b) { return _mm256_xor_ps(a, b); }
  static V floor(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static V ceil(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
  static V round_even(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V round_nearest(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M ge(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static V select(M m, V if_true, V if_false) { return _mm256_blendv_ps(if_false, if_true, m); }

  // 2^n for n a float holding an integer in [-126, 127].
  static V pow2i(V n) {
    __m256i i = _mm256_cvtps_epi32(n);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
  }

  static float reduce_add(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float reduce_max(V v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace qe::kernels::avx2

#include <immintrin.h>

#include "kernels/int8/quantize_act.h"

namespace qe::kernels {

void quantize_act_avx2(const float* x, void* y, int64_t n, const QuantizeActArgs& a) {
  const __m256 s = _mm256_set1_ps(a.scale);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(a.lo - a.zero_point));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(a.hi - a.zero_point));
  const __m256i zp = _mm256_set1_epi32(a.zero_point);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 r = _mm256_round_ps(_mm256_div_ps(v, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN → 0 before the zero point
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(r), zp);
    // 8 int32 in range → 8 bytes.
    const __m128i lo4 = _mm256_castsi256_si128(q), hi4 = _mm256_extracti128_si256(q, 1);
    const __m128i w = _mm_packs_epi32(lo4, hi4);
    const __m128i b = a.is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(y) + i), b);
  }
  if (i < n) quantize_act_ref(x + i, static_cast<uint8_t*>(y) + i, n - i, a);
}

}  // namespace qe::kernels

#include <immintrin.h>

#include "kernels/int8/quantize_act.h"

namespace qe::kernels {

void quantize_act_avx512(const float* x, void* y, int64_t n, const QuantizeActArgs& a) {
  const __m512 s = _mm512_set1_ps(a.scale);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(a.lo - a.zero_point));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(a.hi - a.zero_point));
  const __m512i zp = _mm512_set1_epi32(a.zero_point);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m512 r = _mm512_roundscale_ps(_mm512_div_ps(v, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);  // NaN → 0 before the zero point
    r = _mm512_maskz_mov_ps(ordered, r);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(r), zp);
    const __m128i b = a.is_signed ? _mm512_cvtsepi32_epi8(q) : _mm512_cvtusepi32_epi8(q);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(y) + i), b);
  }
  if (i < n) quantize_act_ref(x + i, static_cast<uint8_t*>(y) + i, n - i, a);
}

}  // namespace qe::kernels

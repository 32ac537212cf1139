// GCC 12: false maybe-uninitialized reports from the _mm512_undefined_* placeholders (must precede
// the intrinsics headers to take effect).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/int8/requant_vec.h"
#include "kernels/int8/requant_vec_avx512.h"

namespace qe::kernels {

void requantize_array_avx512(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                             int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const avx512::RequantVec rq = avx512::RequantVec::lanes(mode, m + i, fx_mult + i, fx_shift + i, o);
    _mm512_storeu_si512(y + i, rq(_mm512_loadu_si512(acc + i)));
  }
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    // Tail lanes get shift 1 so that the shift amounts stay in range.
    const avx512::RequantVec rq =
        avx512::RequantVec::make(mode, _mm512_maskz_loadu_ps(k, m + i), _mm512_maskz_loadu_epi32(k, fx_mult + i),
                                 _mm512_mask_loadu_epi32(_mm512_set1_epi32(1), k, fx_shift + i), o);
    _mm512_mask_storeu_epi32(y + i, k, rq(_mm512_maskz_loadu_epi32(k, acc + i)));
  }
}

}  // namespace qe::kernels

#include <algorithm>

#include "kernels/int8/requant_vec.h"
#include "kernels/int8/requant_vec_avx2.h"

namespace qe::kernels {

void requantize_array_avx2(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                           int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const avx2::RequantVec rq = avx2::RequantVec::lanes(mode, m + i, fx_mult + i, fx_shift + i, o);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                        rq(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + i))));
  }
  if (i < n) {
    // Tail through a padded copy; unused lanes get shift 1 to keep the counts in range.
    alignas(32) float mt[8] = {};
    alignas(32) int32_t at[8] = {}, mu[8] = {}, sh[8] = {1, 1, 1, 1, 1, 1, 1, 1}, out[8];
    const int64_t r = n - i;
    std::copy(m + i, m + n, mt);
    std::copy(acc + i, acc + n, at);
    std::copy(fx_mult + i, fx_mult + n, mu);
    std::copy(fx_shift + i, fx_shift + n, sh);
    const avx2::RequantVec rq = avx2::RequantVec::lanes(mode, mt, mu, sh, o);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), rq(_mm256_load_si256(reinterpret_cast<const __m256i*>(at))));
    std::copy(out, out + r, y + i);
  }
}

}  // namespace qe::kernels

// Innermost im2col loop with AVX2 masked copies (chunks are short: up to one panel width).
#include <immintrin.h>

#include "kernels/conv/conv_f32.h"

namespace qe::kernels {

void im2col_copy_avx2(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps, int64_t kc,
                      int width, float* dst) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = base + taps[k];
    float* dk = dst + k * width;
    for (int i = 0; i < nchunks; ++i) {
      const float* s = src + chunks[i].src_off;
      float* d = dk + chunks[i].dst_off;
      int64_t n = chunks[i].len;
      for (; n >= 8; n -= 8, s += 8, d += 8) _mm256_storeu_ps(d, _mm256_loadu_ps(s));
      if (n > 0) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane);
        _mm256_maskstore_ps(d, m, _mm256_maskload_ps(s, m));
      }
    }
  }
}

}  // namespace qe::kernels

// Innermost im2col loop with AVX-512 masked copies (chunks are short: up to one panel width).
#include <immintrin.h>

#include "kernels/conv/conv_f32.h"

namespace qe::kernels {

void im2col_copy_avx512(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps, int64_t kc,
                        int width, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = base + taps[k];
    float* dk = dst + k * width;
    for (int i = 0; i < nchunks; ++i) {
      const float* s = src + chunks[i].src_off;
      float* d = dk + chunks[i].dst_off;
      int64_t n = chunks[i].len;
      for (; n >= 16; n -= 16, s += 16, d += 16) _mm512_storeu_ps(d, _mm512_loadu_ps(s));
      if (n > 0) {
        __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
        _mm512_mask_storeu_ps(d, m, _mm512_maskz_loadu_ps(m, s));
      }
    }
  }
}

}  // namespace qe::kernels

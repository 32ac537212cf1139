// Vector forms of kernels/activation.h for AVX2 translation units only; same rules as
// act_vec_avx512.h (operation-by-operation match with apply_activation(), no Sigmoid).
#pragma once

#include <immintrin.h>

#include "kernels/activation.h"

namespace qe::kernels::avx2 {

inline bool has_vector_act(ActKind kind) { return kind != ActKind::kSigmoid; }

struct VecAct {
  ActKind kind;
  __m256 alpha, beta, zero, one, six, half;
  explicit VecAct(const Activation& a)
      : kind(a.kind),
        alpha(_mm256_set1_ps(a.alpha)),
        beta(_mm256_set1_ps(a.beta)),
        zero(_mm256_setzero_ps()),
        one(_mm256_set1_ps(1.f)),
        six(_mm256_set1_ps(6.f)),
        half(_mm256_set1_ps(0.5f)) {}

  __m256 operator()(__m256 x) const {
    switch (kind) {
      case ActKind::kNone: return x;
      case ActKind::kRelu: return _mm256_max_ps(x, zero);
      case ActKind::kClip: return _mm256_min_ps(_mm256_max_ps(x, alpha), beta);
      case ActKind::kLeakyRelu:
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, alpha), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
      case ActKind::kHardSigmoid:
        return _mm256_min_ps(one, _mm256_max_ps(zero, _mm256_add_ps(_mm256_mul_ps(alpha, x), beta)));
      case ActKind::kHardSwish:
        return _mm256_mul_ps(x, _mm256_min_ps(one, _mm256_max_ps(zero, _mm256_add_ps(_mm256_div_ps(x, six), half))));
      default: return x;
    }
  }
};

// Lane mask with the first n (0..8) lanes set, for maskload/maskstore.
inline __m256i tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace qe::kernels::avx2

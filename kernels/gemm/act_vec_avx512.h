// Vector forms of kernels/activation.h for AVX-512 translation units only. They follow
// apply_activation() operation by operation (no FMA contraction, x / 6 as a division) so fused
// epilogues round like the scalar definition. Sigmoid has no vector form here.
#pragma once

#include <immintrin.h>

#include <type_traits>

#include "kernels/activation.h"

namespace qe::kernels::avx512 {

inline bool has_vector_act(ActKind kind) { return kind != ActKind::kSigmoid; }

struct VecAct {
  ActKind kind;
  __m512 alpha, beta, zero, one, six, half;
  explicit VecAct(const Activation& a)
      : kind(a.kind),
        alpha(_mm512_set1_ps(a.alpha)),
        beta(_mm512_set1_ps(a.beta)),
        zero(_mm512_setzero_ps()),
        one(_mm512_set1_ps(1.f)),
        six(_mm512_set1_ps(6.f)),
        half(_mm512_set1_ps(0.5f)) {}

  __m512 operator()(__m512 x) const {
    switch (kind) {
      case ActKind::kNone: return x;
      case ActKind::kRelu: return _mm512_max_ps(x, zero);
      case ActKind::kClip: return _mm512_min_ps(_mm512_max_ps(x, alpha), beta);
      case ActKind::kLeakyRelu: {
        __mmask16 neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, neg, x, alpha);
      }
      case ActKind::kHardSigmoid:
        return _mm512_min_ps(one, _mm512_max_ps(zero, _mm512_add_ps(_mm512_mul_ps(alpha, x), beta)));
      case ActKind::kHardSwish:
        return _mm512_mul_ps(x, _mm512_min_ps(one, _mm512_max_ps(zero, _mm512_add_ps(_mm512_div_ps(x, six), half))));
      default: return x;
    }
  }

  // The same with the kind fixed at compile time (no switch in the inner loop).
  template <ActKind K>
  __m512 apply(__m512 x) const {
    switch (K) {
      case ActKind::kNone: return x;
      case ActKind::kRelu: return _mm512_max_ps(x, zero);
      case ActKind::kClip: return _mm512_min_ps(_mm512_max_ps(x, alpha), beta);
      default: return (*this)(x);
    }
  }
};

// Calls f(std::integral_constant<ActKind, K>{}) for the common kinds, with K = kSigmoid (no
// vector form: the caller applies it afterwards) folded into the generic path.
template <typename F>
inline void dispatch_act(ActKind kind, F&& f) {
  switch (kind) {
    case ActKind::kNone: f(std::integral_constant<ActKind, ActKind::kNone>{}); break;
    case ActKind::kRelu: f(std::integral_constant<ActKind, ActKind::kRelu>{}); break;
    case ActKind::kClip: f(std::integral_constant<ActKind, ActKind::kClip>{}); break;
    default: f(std::integral_constant<ActKind, ActKind::kLeakyRelu>{}); break;
  }
}

}  // namespace qe::kernels::avx512

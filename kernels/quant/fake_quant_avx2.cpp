// AVX2 integer fake quantizer: 4 double lanes per vector, masked loads / stores for tails.
#include <immintrin.h>

#include "kernels/quant/fake_quant_impl.h"

namespace qe::kernels {

namespace {

struct Avx2D {
  using V = __m256d;
  static constexpr int64_t kLanes = 4;
  static __m128i mask(int64_t n) { return _mm_setr_epi32(n > 0 ? -1 : 0, n > 1 ? -1 : 0, n > 2 ? -1 : 0, 0); }
  static V load(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static V load_tail(const float* p, int64_t n) { return _mm256_cvtps_pd(_mm_maskload_ps(p, mask(n))); }
  static void store(float* p, V v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
  static void store_tail(float* p, V v, int64_t n) { _mm_maskstore_ps(p, mask(n), _mm256_cvtpd_ps(v)); }
  static V set1(double v) { return _mm256_set1_pd(v); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V to_f32(V a) { return _mm256_cvtps_pd(_mm256_cvtpd_ps(a)); }
  static V abs(V a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static V nearest(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V floor(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static V ceil(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
  static V trunc(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
  static V or_sign(V mag, V v) { return _mm256_or_pd(mag, _mm256_and_pd(v, _mm256_set1_pd(-0.0))); }
  static V add_one_if_ge_half(V t, V f) {
    return _mm256_blendv_pd(t, _mm256_add_pd(t, set1(1.0)), _mm256_cmp_pd(f, set1(0.5), _CMP_GE_OQ));
  }
  static V add_one_if_gt_half(V t, V f) {
    return _mm256_blendv_pd(t, _mm256_add_pd(t, set1(1.0)), _mm256_cmp_pd(f, set1(0.5), _CMP_GT_OQ));
  }
  // min/max return the second operand when either is NaN: v passes through.
  static V min_keep(V hi, V v) { return _mm256_min_pd(hi, v); }
  static V max_keep(V lo, V v) { return _mm256_max_pd(lo, v); }
};

}  // namespace

void int_fake_quant_avx2(const float* x, float* y, const IntQuantArgs& a) { fq_impl::int_fake_quant<Avx2D>(x, y, a); }

}  // namespace qe::kernels

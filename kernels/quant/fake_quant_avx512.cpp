// AVX-512 integer fake quantizer: 8 double lanes per vector, masked tails.
#include <immintrin.h>

// GCC 12 reports the _mm512_undefined_* placeholders inside the intrinsics headers as
// uninitialised once inlined into templates (as in kernels/elementwise/simd_avx512.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/quant/fake_quant_impl.h"

namespace qe::kernels {

namespace {

struct Avx512D {
  using V = __m512d;
  static constexpr int64_t kLanes = 8;
  static __mmask8 mask(int64_t n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static V load(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static V load_tail(const float* p, int64_t n) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask(n), p)); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
  static void store_tail(float* p, V v, int64_t n) { _mm256_mask_storeu_ps(p, mask(n), _mm512_cvtpd_ps(v)); }
  static V set1(double v) { return _mm512_set1_pd(v); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V div(V a, V b) { return _mm512_div_pd(a, b); }
  static V to_f32(V a) { return _mm512_cvtps_pd(_mm512_cvtpd_ps(a)); }
  static V abs(V a) { return _mm512_abs_pd(a); }
  static V nearest(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V floor(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static V ceil(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
  static V trunc(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
  static V or_sign(V mag, V v) { return _mm512_or_pd(mag, _mm512_and_pd(v, _mm512_set1_pd(-0.0))); }
  static V add_one_if_ge_half(V t, V f) {
    return _mm512_mask_add_pd(t, _mm512_cmp_pd_mask(f, set1(0.5), _CMP_GE_OQ), t, set1(1.0));
  }
  static V add_one_if_gt_half(V t, V f) {
    return _mm512_mask_add_pd(t, _mm512_cmp_pd_mask(f, set1(0.5), _CMP_GT_OQ), t, set1(1.0));
  }
  // min/max return the second operand when either is NaN: v passes through.
  static V min_keep(V hi, V v) { return _mm512_min_pd(hi, v); }
  static V max_keep(V lo, V v) { return _mm512_max_pd(lo, v); }
};

}  // namespace

void int_fake_quant_avx512(const float* x, float* y, const IntQuantArgs& a) { fq_impl::int_fake_quant<Avx512D>(x, y, a); }

}  // namespace qe::kernels

// AVX-512 step of the im2col packer (kernels/int8/qconv.cpp): 4 K rows x 64 pixels become the
// quads of 4 consecutive 16-pixel panels with one pass of in-lane unpacks and a 4 x 4 transpose
// of 128-bit blocks, instead of four 16-pixel interleaves.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_*() inside the intrinsics headers as (maybe-)uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/int8/qconv.h"

namespace qe::kernels {

void qinterleave4x64_avx512(const uint8_t* const rows[4], uint8_t flip, uint8_t* dst, int64_t panel_stride) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  const __m512i a = _mm512_xor_si512(_mm512_loadu_si512(rows[0]), f);
  const __m512i b = _mm512_xor_si512(_mm512_loadu_si512(rows[1]), f);
  const __m512i c = _mm512_xor_si512(_mm512_loadu_si512(rows[2]), f);
  const __m512i d = _mm512_xor_si512(_mm512_loadu_si512(rows[3]), f);
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
  // qi, 128-bit block L: the quads of pixels 4i .. 4i + 3 of panel L.
  const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), q1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
  const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), q3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
  const __m512i t0 = _mm512_shuffle_i32x4(q0, q1, 0x44), t1 = _mm512_shuffle_i32x4(q2, q3, 0x44);
  const __m512i t2 = _mm512_shuffle_i32x4(q0, q1, 0xEE), t3 = _mm512_shuffle_i32x4(q2, q3, 0xEE);
  _mm512_storeu_si512(dst, _mm512_shuffle_i32x4(t0, t1, 0x88));
  _mm512_storeu_si512(dst + panel_stride, _mm512_shuffle_i32x4(t0, t1, 0xDD));
  _mm512_storeu_si512(dst + 2 * panel_stride, _mm512_shuffle_i32x4(t2, t3, 0x88));
  _mm512_storeu_si512(dst + 3 * panel_stride, _mm512_shuffle_i32x4(t2, t3, 0xDD));
}

}  // namespace qe::kernels

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

// Each K row's 16 bytes per panel lie within 64 bytes of the band (the packer checks), so one
// vpermb per row gathers them, into the byte positions of that row only (merge masking), and
// the four rows leave the quads already interleaved: no per-output-row copies, no transpose.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void qim2col_quad_permute_avx512(
    const uint8_t* const src[4], const int64_t* base, const uint8_t* idx, int64_t panels, uint8_t flip, uint8_t* dst,
    int64_t panel_stride) {
  const __m512i f = _mm512_set1_epi8(static_cast<char>(flip));
  constexpr __mmask64 kRow0 = 0x1111111111111111ull;
  for (int64_t i = 0; i < panels; ++i, dst += panel_stride) {
    const int64_t o = base[i];
    const __m512i ix = _mm512_loadu_si512(idx + 64 * i);
    __m512i v = _mm512_maskz_permutexvar_epi8(kRow0, ix, _mm512_loadu_si512(src[0] + o));
    v = _mm512_mask_permutexvar_epi8(v, kRow0 << 1, ix, _mm512_loadu_si512(src[1] + o));
    v = _mm512_mask_permutexvar_epi8(v, kRow0 << 2, ix, _mm512_loadu_si512(src[2] + o));
    v = _mm512_mask_permutexvar_epi8(v, kRow0 << 3, ix, _mm512_loadu_si512(src[3] + o));
    _mm512_storeu_si512(dst, _mm512_xor_si512(v, f));
  }
}

}  // namespace qe::kernels

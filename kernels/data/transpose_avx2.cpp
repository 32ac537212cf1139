// AVX2 micro-kernels of the blocked transpose and of the float <-> float16 casts (F16C).
// Compiled with the AVX2 flags (file name); callers check cpu_features() first.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/data/data_isa.h"

namespace qe::kernels {

namespace {

// dst rows i0..i0+7 (stride dst_ld), columns j0..j0+7  <-  src rows j0..j0+7, columns i0..i0+7.
inline void transpose_8x8_x32(const uint32_t* src, int64_t src_ld, uint32_t* dst, int64_t dst_ld) {
  __m256 r[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(reinterpret_cast<const float*>(src + k * src_ld));
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  float* d = reinterpret_cast<float*>(dst);
  _mm256_storeu_ps(d + 0 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(d + 1 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(d + 2 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(d + 3 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(d + 4 * dst_ld, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(d + 5 * dst_ld, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(d + 6 * dst_ld, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(d + 7 * dst_ld, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// The same for a 16x16 block of bytes: four rounds of interleaves (8, 16, 32, 64 bits).
inline void transpose_16x16_x8(const uint8_t* src, int64_t src_ld, uint8_t* dst, int64_t dst_ld) {
  __m128i r[16], b[16], c[16], d[16];
  for (int k = 0; k < 16; ++k) r[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k * src_ld));
  for (int k = 0; k < 8; ++k) {
    b[2 * k] = _mm_unpacklo_epi8(r[2 * k], r[2 * k + 1]);
    b[2 * k + 1] = _mm_unpackhi_epi8(r[2 * k], r[2 * k + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // rows 4g .. 4g+3
    const __m128i* bb = b + 4 * g;
    c[4 * g + 0] = _mm_unpacklo_epi16(bb[0], bb[2]);
    c[4 * g + 1] = _mm_unpackhi_epi16(bb[0], bb[2]);
    c[4 * g + 2] = _mm_unpacklo_epi16(bb[1], bb[3]);
    c[4 * g + 3] = _mm_unpackhi_epi16(bb[1], bb[3]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 8h .. 8h+7
    const __m128i* cc = c + 8 * h;
    for (int q = 0; q < 4; ++q) {
      d[8 * h + 2 * q] = _mm_unpacklo_epi32(cc[q], cc[q + 4]);
      d[8 * h + 2 * q + 1] = _mm_unpackhi_epi32(cc[q], cc[q + 4]);
    }
  }
  for (int m = 0; m < 8; ++m) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * m) * dst_ld), _mm_unpacklo_epi64(d[m], d[m + 8]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * m + 1) * dst_ld), _mm_unpackhi_epi64(d[m], d[m + 8]));
  }
}

}  // namespace

void transpose_2d_x8_avx2(const uint8_t* src, int64_t src_ld, uint8_t* dst, int64_t dst_ld, int64_t rows,
                          int64_t cols) {
  const int64_t rows16 = rows & ~int64_t{15}, cols16 = cols & ~int64_t{15};
  constexpr int64_t kTile = 64;
  for (int64_t i0 = 0; i0 < rows16; i0 += kTile) {
    const int64_t i1 = std::min(rows16, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols16; j0 += kTile) {
      const int64_t j1 = std::min(cols16, j0 + kTile);
      for (int64_t i = i0; i < i1; i += 16) {
        for (int64_t j = j0; j < j1; j += 16) transpose_16x16_x8(src + j * src_ld + i, src_ld, dst + i * dst_ld + j, dst_ld);
      }
    }
  }
  for (int64_t i = 0; i < rows16; ++i) {
    for (int64_t j = cols16; j < cols; ++j) dst[i * dst_ld + j] = src[j * src_ld + i];
  }
  for (int64_t i = rows16; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) dst[i * dst_ld + j] = src[j * src_ld + i];
  }
}

void transpose_2d_x32_avx2(const uint32_t* src, int64_t src_ld, uint32_t* dst, int64_t dst_ld, int64_t rows,
                           int64_t cols) {
  const int64_t rows8 = rows & ~int64_t{7}, cols8 = cols & ~int64_t{7};
  // 32x32 tiles of 8x8 blocks keep a tile's source and destination lines in L1.
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < rows8; i0 += kTile) {
    const int64_t i1 = std::min(rows8, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols8; j0 += kTile) {
      const int64_t j1 = std::min(cols8, j0 + kTile);
      for (int64_t i = i0; i < i1; i += 8) {
        for (int64_t j = j0; j < j1; j += 8) transpose_8x8_x32(src + j * src_ld + i, src_ld, dst + i * dst_ld + j, dst_ld);
      }
    }
  }
  // Tails: the last cols % 8 columns of every row, and the last rows % 8 rows.
  for (int64_t i = 0; i < rows8; ++i) {
    for (int64_t j = cols8; j < cols; ++j) dst[i * dst_ld + j] = src[j * src_ld + i];
  }
  for (int64_t i = rows8; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) dst[i * dst_ld + j] = src[j * src_ld + i];
  }
}

void f32_to_f16_avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = static_cast<uint16_t>(_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void f16_to_f32_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

}  // namespace qe::kernels

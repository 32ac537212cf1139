// qdepthwise_avx2: the AVX2 twin of qdepthwise_avx512.cpp (vpmaddwd on tap pairs, 16 output
// columns per step as two 8-lane vectors; bytes through vpackssdw + vpackuswb / vpacksswb).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/qdepthwise_vec.h"
#include "kernels/int8/requant_vec_avx2.h"

namespace qe::kernels {

namespace {

struct Avx2DwOut {
  QOutType type;
  avx2::RequantVec rq;
  __m256 dq;
  void* y;
  int64_t oW;

  // Columns ow0 .. ow0 + 15 from v0 (first 8) and v1; n valid columns.
  void store16(int64_t oh, int64_t ow0, __m256i v0, __m256i v1, int64_t n) const {
    const int64_t idx = oh * oW + ow0;
    if (type == QOutType::kF32) {
      const __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(v0), dq), f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(v1), dq);
      float* dst = static_cast<float*>(y) + idx;
      if (n >= 16) {
        _mm256_storeu_ps(dst, f0);
        _mm256_storeu_ps(dst + 8, f1);
      } else {
        alignas(32) float t[16];
        _mm256_store_ps(t, f0);
        _mm256_store_ps(t + 8, f1);
        std::memcpy(dst, t, static_cast<size_t>(n) * sizeof(float));
      }
    } else {
      const __m128i b = avx2::pack16_epi32_to_8(rq(v0), rq(v1), type == QOutType::kS8);
      int8_t* dst = static_cast<int8_t*>(y) + idx;
      if (n >= 16) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), b);
      } else {
        alignas(16) int8_t t[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(t), b);
        std::memcpy(dst, t, static_cast<size_t>(n));
      }
    }
  }
};

inline __m256i ld(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// The ISA-specific parts of the plane loop in qdepthwise_vec.h.
struct Avx2Dw {
  using OutCtx = Avx2DwOut;

  static __m256 broadcast_ps(float v) { return _mm256_set1_ps(v); }

  template <int KH, int NP, int SW>
  static void plane(const QDwPlane& pl, const OutCtx& oc) {
    const int kh = KH ? KH : pl.kh, np = NP ? NP : pl.np;
    constexpr bool kRegs = KH && NP;
    __m256i wreg[kRegs ? KH * NP : 1];
    if (kRegs) {
      for (int i = 0; i < KH * NP; ++i) wreg[i] = _mm256_set1_epi32(pl.wp[i]);
    }
    const __m256i vb = _mm256_set1_epi32(pl.bias);
    for (int64_t oh = 0; oh < pl.oH; ++oh) {
      const int16_t* r0 = pl.buf + oh * pl.sh * pl.row_len;
      for (int64_t ow0 = 0; ow0 < pl.oW; ow0 += 16) {
        // SW 2: a = columns ow0..+7, b = ow0+8..+15. SW 1: a = even columns, b = odd columns.
        __m256i a = vb, b = vb;
        for (int i = 0; i < kh; ++i) {
          const int16_t* row = r0 + i * pl.dh * pl.row_len + (SW == 2 ? 2 * ow0 : ow0);
          for (int q = 0; q < np; ++q) {
            const __m256i wv = kRegs ? wreg[i * NP + q] : _mm256_set1_epi32(pl.wp[i * np + q]);
            a = _mm256_add_epi32(a, _mm256_madd_epi16(ld(row + 2 * q), wv));
            b = _mm256_add_epi32(b, _mm256_madd_epi16(ld(row + 2 * q + (SW == 2 ? 16 : 1)), wv));
          }
        }
        if (SW == 1) {
          const __m256i lo = _mm256_unpacklo_epi32(a, b), hi = _mm256_unpackhi_epi32(a, b);
          a = _mm256_permute2x128_si256(lo, hi, 0x20);
          b = _mm256_permute2x128_si256(lo, hi, 0x31);
        }
        oc.store16(oh, ow0, a, b, pl.oW - ow0);
      }
    }
  }

  static void fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst) {
    const int64_t iH = std::min(p.in[0], l.rows - l.top), iW = p.in[1];
    const __m256i zp = _mm256_set1_epi16(static_cast<int16_t>(p.in_zero_point));
    const int16_t zs = static_cast<int16_t>(p.in_zero_point);
    for (int64_t ih = 0; ih < iH; ++ih) {
      int16_t* row = dst + (l.top + ih) * l.row_len + l.left;
      int64_t j = 0;
      if (p.in_signed) {
        const int8_t* src = static_cast<const int8_t*>(x_plane) + ih * iW;
        for (; j + 16 <= iW; j += 16) {
          const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + j), _mm256_sub_epi16(v, zp));
        }
        for (; j < iW; ++j) row[j] = static_cast<int16_t>(src[j] - zs);
      } else {
        const uint8_t* src = static_cast<const uint8_t*>(x_plane) + ih * iW;
        for (; j + 16 <= iW; j += 16) {
          const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + j), _mm256_sub_epi16(v, zp));
        }
        for (; j < iW; ++j) row[j] = static_cast<int16_t>(src[j] - zs);
      }
    }
  }
};

}  // namespace

void qdepthwise_avx2(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                     const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  qdw_vector_planes<Avx2Dw>(p, x, w, bias, o, y, plane_begin, plane_end, scratch);
}

}  // namespace qe::kernels

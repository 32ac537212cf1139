// qdepthwise_avx512: vpmaddwd on tap pairs of the padded int16 plane (see qdepthwise.h), 16
// output columns per vector; the vector requantization of requant_vec_avx512.h before a vpmovdb
// store (values are already clamped into the byte range, so truncation is exact).
// GCC 12: false maybe-uninitialized reports from the _mm512_undefined_* placeholders (must precede
// the intrinsics headers to take effect).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/qdepthwise_vec.h"
#include "kernels/int8/requant_vec_avx512.h"

namespace qe::kernels {

namespace {

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1);
}

// Where one plane's outputs go and how accumulators become them.
struct Avx512DwOut {
  QOutType type;
  avx512::RequantVec rq;
  __m512 dq;
  void* y;  // plane base
  int64_t oW;

  void store16(int64_t oh, int64_t ow0, __m512i acc, int64_t n) const {
    const int64_t idx = oh * oW + ow0;
    if (type == QOutType::kF32) {
      _mm512_mask_storeu_ps(static_cast<float*>(y) + idx, first_n(n), _mm512_mul_ps(_mm512_cvtepi32_ps(acc), dq));
    } else {
      _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(y) + idx, first_n(n), rq(acc));
    }
  }
  // Even columns ow0, ow0 + 2, ... in ev, odd ones in od: interleaved into ow0 .. ow0 + 31.
  void store32(int64_t oh, int64_t ow0, __m512i ev, __m512i od, int64_t n) const {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const int64_t idx = oh * oW + ow0;
    if (type == QOutType::kF32) {
      const __m512 fe = _mm512_mul_ps(_mm512_cvtepi32_ps(ev), dq), fo = _mm512_mul_ps(_mm512_cvtepi32_ps(od), dq);
      float* dst = static_cast<float*>(y) + idx;
      _mm512_mask_storeu_ps(dst, first_n(n), _mm512_permutex2var_ps(fe, lo, fo));
      if (n > 16) _mm512_mask_storeu_ps(dst + 16, first_n(n - 16), _mm512_permutex2var_ps(fe, hi, fo));
    } else {
      const __m512i re = rq(ev), ro = rq(od);
      int8_t* dst = static_cast<int8_t*>(y) + idx;
      _mm512_mask_cvtepi32_storeu_epi8(dst, first_n(n), _mm512_permutex2var_epi32(re, lo, ro));
      if (n > 16) _mm512_mask_cvtepi32_storeu_epi8(dst + 16, first_n(n - 16), _mm512_permutex2var_epi32(re, hi, ro));
    }
  }
};

inline __m512i ld(const int16_t* p) { return _mm512_loadu_si512(p); }

// The ISA-specific parts of the plane loop in qdepthwise_vec.h.
struct Avx512Dw {
  using OutCtx = Avx512DwOut;

  static __m512 broadcast_ps(float v) { return _mm512_set1_ps(v); }

  // KH, NP: kernel rows and tap pairs per row (0: read from pl); SW: stride along W (1 or 2).
  template <int KH, int NP, int SW>
  static void plane(const QDwPlane& pl, const OutCtx& oc) {
    const int kh = KH ? KH : pl.kh, np = NP ? NP : pl.np;
    constexpr bool kRegs = KH && NP;
    __m512i wreg[kRegs ? KH * NP : 1];
    if (kRegs) {
      for (int i = 0; i < KH * NP; ++i) wreg[i] = _mm512_set1_epi32(pl.wp[i]);
    }
    const __m512i vb = _mm512_set1_epi32(pl.bias);
    for (int64_t oh = 0; oh < pl.oH; ++oh) {
      const int16_t* r0 = pl.buf + oh * pl.sh * pl.row_len;
      if (SW == 2) {
        for (int64_t ow0 = 0; ow0 < pl.oW; ow0 += 16) {
          __m512i a0 = vb, a1 = _mm512_setzero_si512();
          for (int i = 0; i < kh; ++i) {
            const int16_t* row = r0 + i * pl.dh * pl.row_len + 2 * ow0;
            for (int q = 0; q < np; ++q) {
              const __m512i wv = kRegs ? wreg[i * NP + q] : _mm512_set1_epi32(pl.wp[i * np + q]);
              // Two accumulators shorten the dependent add chain.
              if (q & 1) {
                a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(ld(row + 2 * q), wv));
              } else {
                a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(ld(row + 2 * q), wv));
              }
            }
          }
          oc.store16(oh, ow0, _mm512_add_epi32(a0, a1), pl.oW - ow0);
        }
      } else {
        for (int64_t ow0 = 0; ow0 < pl.oW; ow0 += 32) {
          __m512i ev = vb, od = vb;
          for (int i = 0; i < kh; ++i) {
            const int16_t* row = r0 + i * pl.dh * pl.row_len + ow0;
            for (int q = 0; q < np; ++q) {
              const __m512i wv = kRegs ? wreg[i * NP + q] : _mm512_set1_epi32(pl.wp[i * np + q]);
              ev = _mm512_add_epi32(ev, _mm512_madd_epi16(ld(row + 2 * q), wv));
              od = _mm512_add_epi32(od, _mm512_madd_epi16(ld(row + 2 * q + 1), wv));
            }
          }
          oc.store32(oh, ow0, ev, od, pl.oW - ow0);
        }
      }
    }
  }

  // x_plane - zp into the interior of the padded plane, 32 columns per step.
  static void fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst) {
    const int64_t iH = std::min(p.in[0], l.rows - l.top), iW = p.in[1];
    const __m512i zp = _mm512_set1_epi16(static_cast<int16_t>(p.in_zero_point));
    const uint8_t* src = static_cast<const uint8_t*>(x_plane);
    for (int64_t ih = 0; ih < iH; ++ih) {
      int16_t* row = dst + (l.top + ih) * l.row_len + l.left;
      for (int64_t j = 0; j < iW; j += 32) {
        const int64_t n = std::min<int64_t>(32, iW - j);
        const __mmask32 k = n >= 32 ? 0xFFFFFFFFu : static_cast<__mmask32>((1u << n) - 1);
        const __m256i b = _mm256_maskz_loadu_epi8(k, src + ih * iW + j);
        const __m512i v = p.in_signed ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b);
        _mm512_mask_storeu_epi16(row + j, k, _mm512_sub_epi16(v, zp));
      }
    }
  }
};

}  // namespace

void qdepthwise_avx512(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                       const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  if (qdw_cl_accepts(p)) {
    qdepthwise_cl_avx512(p, x, w, bias, o, y, plane_begin, plane_end, scratch);
    return;
  }
  qdw_vector_planes<Avx512Dw>(p, x, w, bias, o, y, plane_begin, plane_end, scratch);
}

}  // namespace qe::kernels

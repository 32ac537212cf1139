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
#include "kernels/int8/requant_vec_avx512.h"

namespace qe::kernels {

namespace {

struct Plane {
  const int16_t* buf;
  int64_t row_len, oH, oW, sh, dh;
  int kh, np;
  const int32_t* wp;
  int32_t bias;
};

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1);
}

// Where one plane's outputs go and how accumulators become them.
struct OutCtx {
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

// KH, NP: kernel rows and tap pairs per row (0: read from pl); SW: stride along W (1 or 2).
template <int KH, int NP, int SW>
void plane(const Plane& pl, const OutCtx& oc) {
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
void fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst) {
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

}  // namespace

void qdepthwise_avx512(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                       const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  const QDwLayout l = qdw_layout(p);
  int16_t* buf = static_cast<int16_t*>(scratch);
  const int64_t kh = p.kernel[0], kw = p.kernel[1], np = (kw + 1) / 2;
  if (p.stride[1] > 2 || p.dilation[1] != 1 || kh * np > kQdwMaxPairs) {
    qdw_generic_planes(p, l, x, w, bias, o, y, plane_begin, plane_end, buf);
    return;
  }
  qdw_clear(l, buf);
  alignas(64) int32_t wp[kQdwMaxPairs];
  Plane pl{buf, l.row_len, p.out[0], p.out[1], p.stride[0], p.dilation[0], static_cast<int>(kh), static_cast<int>(np),
           wp, 0};
  const size_t osize = o.type == QOutType::kF32 ? sizeof(float) : 1;
  const bool s2 = p.stride[1] == 2;
  for (int64_t pi = plane_begin; pi < plane_end; ++pi) {
    const int64_t c = pi % p.channels;
    fill(p, l, static_cast<const uint8_t*>(x) + pi * p.in_size(), buf);
    qdw_weight_pairs(w + c * kh * kw, kh, kw, wp);
    pl.bias = bias ? bias[c] : 0;
    OutCtx oc{};
    oc.type = o.type;
    if (o.type == QOutType::kF32) {
      oc.dq = _mm512_set1_ps(o.dequant[c]);
    } else {
      oc.rq = avx512::RequantVec::broadcast(o.requant.mode, o.requant.channel(c), o.requant.out);
    }
    oc.y = static_cast<char*>(y) + pi * p.out_size() * static_cast<int64_t>(osize);
    oc.oW = p.out[1];
    if (kh == 3 && kw == 3) {
      s2 ? plane<3, 2, 2>(pl, oc) : plane<3, 2, 1>(pl, oc);
    } else if (kh == 5 && kw == 5) {
      s2 ? plane<5, 3, 2>(pl, oc) : plane<5, 3, 1>(pl, oc);
    } else {
      s2 ? plane<0, 0, 2>(pl, oc) : plane<0, 0, 1>(pl, oc);
    }
  }
}

}  // namespace qe::kernels

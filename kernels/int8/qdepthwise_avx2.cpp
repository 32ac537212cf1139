// qdepthwise_avx2: the AVX2 twin of qdepthwise_avx512.cpp (vpmaddwd on tap pairs, 16 output
// columns per step as two 8-lane vectors; bytes through vpackssdw + vpackuswb / vpacksswb).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/requant_vec_avx2.h"

namespace qe::kernels {

namespace {

struct Plane {
  const int16_t* buf;
  int64_t row_len, oH, oW, sh, dh;
  int kh, np;
  const int32_t* wp;
  int32_t bias;
};

struct OutCtx {
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

template <int KH, int NP, int SW>
void plane(const Plane& pl, const OutCtx& oc) {
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

void fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst) {
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

}  // namespace

void qdepthwise_avx2(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                     const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  const QDwLayout l = qdw_layout(p);
  int16_t* buf = static_cast<int16_t*>(scratch);
  const int64_t kh = p.kernel[0], kw = p.kernel[1], np = (kw + 1) / 2;
  if (p.stride[1] > 2 || p.dilation[1] != 1 || kh * np > kQdwMaxPairs) {
    qdw_generic_planes(p, l, x, w, bias, o, y, plane_begin, plane_end, buf);
    return;
  }
  qdw_clear(l, buf);
  alignas(32) int32_t wp[kQdwMaxPairs];
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
      oc.dq = _mm256_set1_ps(o.dequant[c]);
    } else {
      oc.rq = avx2::RequantVec::broadcast(o.requant.mode, o.requant.channel(c), o.requant.out);
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

// qdepthwise_cl_avx512: the channels-in-lanes depthwise path for small planes (see the QDwClLayout
// comment in qdepthwise.h). With 7 or 14 output columns a row of one plane fills less than one
// vector, while 16 channels of one pixel always fill it; the price is a byte transpose of the
// group's planes on the way in and out, which costs about as much as one 3x3 pass.
//
// Exactness: P holds (x - zp) as int16 (|x - zp| <= 255), the weight pairs are int16 (|w| <= 128),
// so each vpmaddwd lane is an exact sum of two products; sums are int32 as in qdepthwise_ref.
// Odd kernel widths pair the last tap with a zero weight; its partner is a finite padding value.
// GCC 12: false maybe-uninitialized reports from the _mm512_undefined_* placeholders (must precede
// the intrinsics headers to take effect).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/requant_vec_avx512.h"

namespace qe::kernels {

namespace {

constexpr int kL = static_cast<int>(kQdwClLanes);

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1);
}

// 16x16 byte transpose: byte j of r[i] becomes byte i of r[j]. Four unpack stages, each doubling
// the size of the units that are already in order.
inline void transpose16x16_epi8(__m128i r[16]) {
  __m128i a[16], b[16], c[16];
  for (int i = 0; i < 8; ++i) {  // a[2i + h]: rows 2i, 2i+1 interleaved, columns 8h .. 8h+7
    a[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {  // b[4q + j]: rows 4j .. 4j+3, columns 4q .. 4q+3
    for (int h = 0; h < 2; ++h) {
      b[(2 * h) * 4 + j] = _mm_unpacklo_epi16(a[4 * j + h], a[4 * j + 2 + h]);
      b[(2 * h + 1) * 4 + j] = _mm_unpackhi_epi16(a[4 * j + h], a[4 * j + 2 + h]);
    }
  }
  for (int q = 0; q < 4; ++q) {  // c[2e + k]: rows 8k .. 8k+7, columns 2e, 2e+1
    for (int k = 0; k < 2; ++k) {
      c[(2 * q) * 2 + k] = _mm_unpacklo_epi32(b[q * 4 + 2 * k], b[q * 4 + 2 * k + 1]);
      c[(2 * q + 1) * 2 + k] = _mm_unpackhi_epi32(b[q * 4 + 2 * k], b[q * 4 + 2 * k + 1]);
    }
  }
  for (int e = 0; e < 8; ++e) {
    r[2 * e] = _mm_unpacklo_epi64(c[2 * e], c[2 * e + 1]);
    r[2 * e + 1] = _mm_unpackhi_epi64(c[2 * e], c[2 * e + 1]);
  }
}

// One channel group as the compute loop sees it.
struct ClGroup {
  const int32_t* pbuf;  // P: [rows][pcols][16] int32 pairs
  int64_t pcols, oH, oW, sh, sw, dh, dw;
  int kh, np;
  const __m512i* wv;  // [kh * np] weight pairs, lane = channel
  __m512i bias;
  // Output: bytes into O [oH * oW][16], or floats scattered straight into the NCHW planes.
  bool f32;
  avx512::RequantVec rq;
  __m512 dq;
  __m512i f32_index;  // lane l: l * out_size
  __mmask16 lanes;
  int8_t* obuf;
  float* y32;  // plane of the group's first channel
};

inline void emit(const ClGroup& g, int64_t idx, __m512i acc) {
  if (g.f32) {
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), g.dq);
    _mm512_mask_i32scatter_ps(g.y32 + idx, g.lanes, g.f32_index, v, 4);
  } else {
    // Values are already clamped into the byte range, so truncation is exact for u8 and s8.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(g.obuf + idx * kL), _mm512_cvtepi32_epi8(g.rq(acc)));
  }
}

inline __m512i ld(const int32_t* p) { return _mm512_loadu_si512(p); }

// Every output of the group. KH, NP: kernel rows and tap pairs per row (0: read from g). Four
// output columns at a time keep four independent accumulators; a row whose width is not a
// multiple of 4 ends with a block overlapping the previous one (the outputs are recomputed
// identically), and rows narrower than 4 go one column at a time.
template <int KH, int NP>
void compute(const ClGroup& g) {
  const int kh = KH ? KH : g.kh, np = NP ? NP : g.np;
  constexpr bool kRegs = KH && NP;
  __m512i wreg[kRegs ? KH * NP : 1];
  if (kRegs) {
    for (int t = 0; t < KH * NP; ++t) wreg[t] = g.wv[t];
  }
  const int64_t row_step = g.dh * g.pcols * kL, pair_step = 2 * g.dw * kL, col = g.sw * kL;
  for (int64_t oh = 0; oh < g.oH; ++oh) {
    const int32_t* prow = g.pbuf + oh * g.sh * g.pcols * kL;
    if (g.oW >= 4) {
      for (int64_t ow0 = 0; ow0 < g.oW; ow0 += 4) {
        const int64_t ow = std::min(ow0, g.oW - 4);
        __m512i a0 = g.bias, a1 = g.bias, a2 = g.bias, a3 = g.bias;
        const int32_t* base = prow + ow * col;
        for (int i = 0; i < kh; ++i) {
          for (int q = 0; q < np; ++q) {
            const __m512i wv = kRegs ? wreg[i * NP + q] : g.wv[i * np + q];
            const int32_t* s = base + i * row_step + q * pair_step;
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(ld(s), wv));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(ld(s + col), wv));
            a2 = _mm512_add_epi32(a2, _mm512_madd_epi16(ld(s + 2 * col), wv));
            a3 = _mm512_add_epi32(a3, _mm512_madd_epi16(ld(s + 3 * col), wv));
          }
        }
        const int64_t idx = oh * g.oW + ow;
        emit(g, idx, a0);
        emit(g, idx + 1, a1);
        emit(g, idx + 2, a2);
        emit(g, idx + 3, a3);
      }
    } else {
      for (int64_t ow = 0; ow < g.oW; ++ow) {
        __m512i a0 = g.bias, a1 = _mm512_setzero_si512();
        const int32_t* base = prow + ow * col;
        for (int i = 0; i < kh; ++i) {
          for (int q = 0; q < np; ++q) {
            const __m512i wv = kRegs ? wreg[i * NP + q] : g.wv[i * np + q];
            const __m512i prod = _mm512_madd_epi16(ld(base + i * row_step + q * pair_step), wv);
            if (q & 1) {
              a1 = _mm512_add_epi32(a1, prod);
            } else {
              a0 = _mm512_add_epi32(a0, prod);
            }
          }
        }
        emit(g, oh * g.oW + ow, _mm512_add_epi32(a0, a1));
      }
    }
  }
}

// B[rows][bcols][16]: the group's input bytes, channel-interleaved, at their padded positions.
// Planes are contiguous, so 16 consecutive pixels of 16 channels are one 16x16 byte transpose
// whatever the row width; each transposed pixel then goes to its place (or nowhere, past the
// rows and columns the taps reach).
void gather(const QDepthwiseParams& p, const QDwClLayout& l, const uint8_t* x0, int nc, uint8_t* bbuf) {
  const int64_t iW = p.in[1];
  const int64_t rows_in = std::min(p.in[0], l.rows - p.pad[0]);
  const int64_t cols_in = std::min(iW, l.bcols - p.pad[1]);
  if (rows_in <= 0 || cols_in <= 0) return;
  const int64_t n_pix = rows_in * iW, isz = p.in_size();
  int64_t ih = 0, iw = 0;
  for (int64_t p0 = 0; p0 < n_pix; p0 += 16) {
    const int64_t n = std::min<int64_t>(16, n_pix - p0);
    const __mmask16 k = first_n(n);
    __m128i r[16];
    for (int c = 0; c < 16; ++c) r[c] = c < nc ? _mm_maskz_loadu_epi8(k, x0 + c * isz + p0) : _mm_setzero_si128();
    transpose16x16_epi8(r);
    for (int64_t j = 0; j < n; ++j) {
      if (iw < cols_in) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(bbuf + ((ih + p.pad[0]) * l.bcols + iw + p.pad[1]) * kL), r[j]);
      }
      if (++iw == iW) {
        iw = 0;
        ++ih;
      }
    }
  }
}

// P[r][c] = 16 lanes of the int16 pair (B[r][c] - zp, B[r][c + dw] - zp), for the columns read.
void make_pairs(const QDepthwiseParams& p, const QDwClLayout& l, const uint8_t* bbuf, int32_t* pbuf) {
  const __m512i zp = _mm512_set1_epi16(static_cast<int16_t>(p.in_zero_point));
  const int64_t dw = p.dilation[1];
  for (int64_t r = 0; r < l.rows; ++r) {
    for (int64_t c = 0; c < l.pcols; c += l.col_step) {
      const uint8_t* s = bbuf + (r * l.bcols + c) * kL;
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + dw * kL));
      const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(a, b)),
                                                 _mm_unpackhi_epi8(a, b), 1);
      const __m512i v = p.in_signed ? _mm512_cvtepi8_epi16(ab) : _mm512_cvtepu8_epi16(ab);
      _mm512_storeu_si512(pbuf + (r * l.pcols + c) * kL, _mm512_sub_epi16(v, zp));
    }
  }
}

// O [out_size][16] bytes back to the group's NCHW output planes.
void scatter_bytes(int64_t osz, int nc, const int8_t* obuf, uint8_t* y0) {
  for (int64_t p0 = 0; p0 < osz; p0 += 16) {
    const int64_t n = std::min<int64_t>(16, osz - p0);
    __m128i r[16];
    for (int j = 0; j < 16; ++j) {
      r[j] = j < n ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(obuf + (p0 + j) * kL)) : _mm_setzero_si128();
    }
    transpose16x16_epi8(r);
    const __mmask16 k = first_n(n);
    for (int c = 0; c < nc; ++c) _mm_mask_storeu_epi8(y0 + c * osz + p0, k, r[c]);
  }
}

}  // namespace

void qdepthwise_cl_avx512(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                          const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  const QDwClLayout l = qdw_cl_layout(p);
  const int64_t C = p.channels, kh = p.kernel[0], kw = p.kernel[1], np = l.np;
  const int64_t isz = p.in_size(), osz = p.out_size();
  uint8_t* bbuf = static_cast<uint8_t*>(scratch) + l.b_off;
  int32_t* pbuf = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(scratch) + l.p_off);
  int8_t* obuf = reinterpret_cast<int8_t*>(static_cast<uint8_t*>(scratch) + l.o_off);
  // Padding positions of B are never written by gather, so one fill per call keeps them at zp.
  std::memset(bbuf, static_cast<uint8_t>(p.in_zero_point), static_cast<size_t>(l.rows * l.bcols * kL));

  const bool f32 = o.type == QOutType::kF32;
  alignas(64) __m512i wv[kQdwMaxPairs];
  // Room for 16 channels of the largest kernel the path takes, plus gather slack.
  alignas(64) int8_t wtmp[kQdwClLanes * 2 * kQdwMaxPairs + 64];
  const int8_t* wbytes = wtmp;
  const __m512i widx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int32_t>(kh * kw)));
  ClGroup g{};
  g.pbuf = pbuf;
  g.pcols = l.pcols;
  g.oH = p.out[0];
  g.oW = p.out[1];
  g.sh = p.stride[0];
  g.sw = p.stride[1];
  g.dh = p.dilation[0];
  g.dw = p.dilation[1];
  g.kh = static_cast<int>(kh);
  g.np = static_cast<int>(np);
  g.wv = wv;
  g.f32 = f32;
  g.obuf = obuf;
  g.f32_index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                   _mm512_set1_epi32(static_cast<int32_t>(osz)));
  if (!f32 && !o.requant.per_channel) g.rq = avx512::RequantVec::broadcast(o.requant.mode, o.requant.channel(0), o.requant.out);

  for (int64_t pb = plane_begin; pb < plane_end;) {
    // A group: up to 16 channels of one image, within [plane_begin, plane_end).
    const int64_t c0 = pb % C;
    const int nc = static_cast<int>(std::min({plane_end - pb, C - c0, kQdwClLanes}));
    g.lanes = first_n(nc);

    // Weight pairs with the channel in the lane; lanes past nc get zero weights. The group's
    // weights are contiguous; a copy with slack lets 32-bit gathers read (w_a, w_b, ...) safely.
    std::memcpy(wtmp, w + c0 * kh * kw, static_cast<size_t>(nc * kh * kw));
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t q = 0; q < np; ++q) {
        const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), g.lanes, widx,
                                                      wbytes + i * kw + 2 * q, 1);
        const __m512i a = _mm512_srli_epi32(_mm512_slli_epi32(v, 24), 16);  // w_a << 8, low half
        __m512i b = _mm512_slli_epi32(_mm512_srai_epi32(_mm512_slli_epi32(v, 16), 24), 16);
        if (2 * q + 1 == kw) b = _mm512_setzero_si512();
        wv[i * np + q] = _mm512_or_si512(_mm512_srai_epi16(a, 8), b);
      }
    }
    g.bias = bias ? _mm512_maskz_loadu_epi32(g.lanes, bias + c0) : _mm512_setzero_si512();
    if (f32) {
      g.dq = _mm512_maskz_loadu_ps(g.lanes, o.dequant + c0);
      g.y32 = static_cast<float*>(y) + pb * osz;
    } else if (o.requant.per_channel) {
      // Unused lanes repeat the first channel's multiplier (any valid one will do).
      alignas(64) float m[16];
      alignas(64) int32_t fm[16], fs[16];
      for (int c = 0; c < 16; ++c) {
        const RequantMultiplier& mm = o.requant.channel(c0 + (c < nc ? c : 0));
        m[c] = mm.m;
        fm[c] = mm.fx_mult;
        fs[c] = mm.fx_shift;
      }
      g.rq = avx512::RequantVec::lanes(o.requant.mode, m, fm, fs, o.requant.out);
    }

    gather(p, l, static_cast<const uint8_t*>(x) + pb * isz, nc, bbuf);
    make_pairs(p, l, bbuf, pbuf);
    if (kh == 3 && kw == 3) {
      compute<3, 2>(g);
    } else if (kh == 5 && kw == 5) {
      compute<5, 3>(g);
    } else {
      compute<0, 0>(g);
    }
    if (!f32) scatter_bytes(osz, nc, obuf, static_cast<uint8_t*>(y) + pb * osz);
    pb += nc;
  }
}

}  // namespace qe::kernels

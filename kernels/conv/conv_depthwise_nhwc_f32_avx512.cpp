// Depthwise conv for narrow planes (7x7, 14x14): vectors along W would leave most lanes idle,
// so 16 channels share a vector instead. A block of 16 channel planes is transposed (16x16
// register transposes) into a zero-padded [row][column][16 channels] buffer, every output is
// then a plain sum of kh * kw vector FMAs, and the result is transposed back into the planes.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_ps() inside _mm512_max_ps/_mm512_min_ps as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>

#include "kernels/conv/conv_depthwise_internal.h"
#include "kernels/gemm/act_vec_avx512.h"

namespace qe::kernels {

namespace {

// r[i] (16 floats of row i) -> r[j] (element j of every row).
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // r[4i + j], 128-bit lane q: rows 4i..4i+3 of column 4q + j.
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
  }
}

inline __mmask16 first_n(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

struct Dims {
  int64_t oH, oW, kH, kW, sh, sw, dh, dw, cols;
};

// KH, KW, S: compile-time kernel and stride with dilation 1 (0: all read from d), fully
// unrolled with the weights in registers and constant load offsets.
template <int KH, int KW, int S>
void outputs(const Dims& d, const float* t, const float* wt, __m512 bv, const avx512::VecAct& activation, float* o) {
  const avx512::VecAct act = activation;  // local: __m512 members could alias the float stores
  const int64_t kH = KH ? KH : d.kH, kW = KW ? KW : d.kW;
  __m512 wreg[KH * KW > 0 ? KH * KW : 1];
  if (KH && KW) {
    for (int k = 0; k < KH * KW; ++k) wreg[k] = _mm512_loadu_ps(wt + k * 16);
  }
  const int64_t row16 = d.cols * 16, step = (S ? S : d.sw) * 16;
  const int64_t dh = S ? 1 : d.dh, dw = S ? 1 : d.dw;
  for (int64_t oh = 0; oh < d.oH; ++oh) {
    const float* tbase = t + oh * (S ? S : d.sh) * row16;
    float* orow = o + oh * d.oW * 16;
    for (int64_t ow = 0; ow < d.oW; ow += 4) {
      __m512 acc[4] = {bv, bv, bv, bv};
#pragma GCC unroll 8
      for (int64_t kh = 0; kh < kH; ++kh) {
        const float* tr = tbase + kh * dh * row16 + ow * step;
#pragma GCC unroll 8
        for (int64_t kw = 0; kw < kW; ++kw) {
          const __m512 wv = (KH && KW) ? wreg[kh * KW + kw] : _mm512_loadu_ps(wt + (kh * kW + kw) * 16);
          const float* src = tr + kw * dw * 16;
#pragma GCC unroll 4
          for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(src + u * step), wv, acc[u]);
        }
      }
      const int64_t count = std::min<int64_t>(4, d.oW - ow);
      for (int u = 0; u < count; ++u) _mm512_storeu_ps(orow + (ow + u) * 16, act(acc[u]));
    }
  }
}

}  // namespace

int64_t depthwise_channels16_scratch(const ConvF32Params& p) {
  const int64_t rows = (p.out[1] - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] + 1;
  const int64_t cols = (p.out[2] - 1) * p.stride[2] + (p.kernel[2] - 1) * p.dilation[2] + 1;
  // The last output group of a row may read up to 3 * stride columns past the buffer.
  return 16 * (rows * cols + 4 * p.stride[2] + p.out_size() + p.kernel[1] * p.kernel[2]) + 64;
}

void depthwise_channels16_avx512(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y,
                                 int n, float* scratch) {
  const int64_t iH = p.in[1], iW = p.in[2], oH = p.out[1], oW = p.out[2];
  const int64_t kH = p.kernel[1], kW = p.kernel[2], ks = kH * kW;
  const int64_t sh = p.stride[1], sw = p.stride[2], dh = p.dilation[1], dw = p.dilation[2];
  const int64_t rows = (oH - 1) * sh + (kH - 1) * dh + 1;
  const int64_t cols = (oW - 1) * sw + (kW - 1) * dw + 1;
  const int64_t in_plane = p.in_size(), out_plane = p.out_size();
  float* t = scratch;                       // [rows][cols][16]
  float* o = t + (rows * cols + 4 * sw) * 16;  // [oH][oW][16]
  float* wt = o + out_plane * 16;           // [ks][16]
  const __m512 zero = _mm512_setzero_ps();

  // 1. Padded, channel-interleaved copy of the input.
  for (int64_t r = 0; r < rows; ++r) {
    float* trow = t + r * cols * 16;
    const int64_t ih = r - p.pad[1];
    // Padding columns (and whole rows outside the input) are zero.
    const int64_t left = std::clamp<int64_t>(p.pad[2], 0, cols);
    const int64_t right = std::clamp<int64_t>(p.pad[2] + iW, left, cols);
    const bool inside = ih >= 0 && ih < iH;
    for (int64_t c = 0; c < cols; ++c) {
      if (!inside || c < left || c >= right) _mm512_storeu_ps(trow + c * 16, zero);
    }
    if (!inside) continue;
    // Input columns [iw0, iw1) land on padded columns [iw0 + pad, ...).
    const int64_t iw0 = std::max<int64_t>(0, -p.pad[2]), iw1 = std::min<int64_t>(iW, cols - p.pad[2]);
    for (int64_t cb = iw0; cb < iw1; cb += 16) {
      const __mmask16 m = first_n(iw1 - cb);
      __m512 v[16];
      for (int l = 0; l < 16; ++l) {
        v[l] = l < n ? _mm512_maskz_loadu_ps(m, x + l * in_plane + ih * iW + cb) : zero;
      }
      transpose16(v);
      const int64_t count = std::min<int64_t>(16, iw1 - cb);
      for (int64_t j = 0; j < count; ++j) _mm512_storeu_ps(trow + (cb + j + p.pad[2]) * 16, v[j]);
    }
  }
  // 2. Weights and bias per channel lane.
  for (int64_t k = 0; k < ks; ++k) {
    for (int l = 0; l < 16; ++l) wt[k * 16 + l] = l < n ? w[l * ks + k] : 0.f;
  }
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(first_n(n), bias) : zero;
  const bool post_act = !avx512::has_vector_act(p.act.kind);
  const avx512::VecAct act(post_act ? Activation{} : p.act);
  // 3. Outputs, 4 along W at a time for independent FMA chains; the last group may compute
  //    past the row (reading further into the scratch) and stores only the real outputs.
  const Dims d{oH, oW, kH, kW, sh, sw, dh, dw, cols};
  const bool plain = dh == 1 && dw == 1 && sh == sw && (sh == 1 || sh == 2);
  if (plain && kH == 3 && kW == 3) {
    sh == 1 ? outputs<3, 3, 1>(d, t, wt, bv, act, o) : outputs<3, 3, 2>(d, t, wt, bv, act, o);
  } else if (plain && kH == 5 && kW == 5) {
    sh == 1 ? outputs<5, 5, 1>(d, t, wt, bv, act, o) : outputs<5, 5, 2>(d, t, wt, bv, act, o);
  } else {
    outputs<0, 0, 0>(d, t, wt, bv, act, o);
  }
  // 4. Back to planes.
  for (int64_t oh = 0; oh < oH; ++oh) {
    for (int64_t ob = 0; ob < oW; ob += 16) {
      const int64_t count = std::min<int64_t>(16, oW - ob);
      __m512 v[16];
      for (int64_t j = 0; j < 16; ++j) v[j] = j < count ? _mm512_loadu_ps(o + (oh * oW + ob + j) * 16) : zero;
      transpose16(v);
      const __mmask16 m = first_n(count);
      for (int l = 0; l < n; ++l) _mm512_mask_storeu_ps(y + l * out_plane + oh * oW + ob, m, v[l]);
    }
  }
  if (post_act) {
    for (int l = 0; l < n; ++l) apply_activation_inplace(y + l * out_plane, out_plane, p.act);
  }
}

}  // namespace qe::kernels

// conv_f32_depthwise_avx2: the AVX-512 variant's structure with 8-float vectors and AVX2
// masked loads (vmaskmovps: masked lanes do not fault either). A step computes 4 output rows x 8 columns
// (4 independent accumulators hide the FMA latency of each tap chain); 3x3 keeps its weights
// in registers.
// Stride 1 along W reads the input in place: masked loads (masked lanes do not fault) supply
// the left/right zero padding, rows above/below the input read a zero row. Other strides read a
// padded copy whose columns are split by stride phase (depthwise_pad_plane), which makes every
// tap a contiguous load again.
#include <immintrin.h>

#include <algorithm>

#include "kernels/conv/conv_depthwise_internal.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/act_vec_avx2.h"

namespace qe::kernels {

namespace {

using Plane = DepthwisePlane;

inline __m256i range_mask(int64_t lo, int64_t hi) {
  lo = std::clamp<int64_t>(lo, 0, 8);
  hi = std::clamp<int64_t>(hi, 0, 8);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lo)), lane),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), lane));
}

template <int KH, int KW, int R, int V, bool EDGE>
[[gnu::always_inline]] inline void block(const Plane& pl, const __m256* wreg, const avx2::VecAct& act, int64_t oh, int64_t ow0) {
  const int kh_n = KH ? KH : pl.kh, kw_n = KW ? KW : pl.kw;
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_set1_ps(pl.bias);
  }
  for (int i = 0; i < kh_n; ++i) {
    const float* rows[R];
    for (int r = 0; r < R; ++r) {
      const int64_t ih = (oh + r) * pl.sh + i * pl.dh - pl.ph;
      rows[r] = ih >= 0 && ih < pl.in_rows ? pl.x + ih * pl.row_len : pl.zero_row;
    }
    for (int j = 0; j < kw_n; ++j) {
      const __m256 wv = (KH && KW) ? wreg[i * kw_n + j] : _mm256_set1_ps(pl.w[i * kw_n + j]);
      const int64_t col = ow0 + pl.col_off[j];
      for (int v = 0; v < V; ++v) {
        __m256i m = _mm256_set1_epi32(-1);
        if (EDGE) {
          // Lanes whose output column exists and whose input column lies in the row.
          const int64_t c0 = col + 8 * v;
          m = _mm256_and_si256(range_mask(-c0, pl.col_valid - c0), range_mask(0, pl.oW - ow0 - 8 * v));
        }
        for (int r = 0; r < R; ++r) {
          const float* src = rows[r] + col + 8 * v;
          __m256 xv = EDGE ? _mm256_maskload_ps(src, m) : _mm256_loadu_ps(src);
          acc[r][v] = _mm256_fmadd_ps(xv, wv, acc[r][v]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    float* out = pl.y + (oh + r) * pl.oW + ow0;
    for (int v = 0; v < V; ++v) {
      if (EDGE) {
        _mm256_maskstore_ps(out + 8 * v, range_mask(0, pl.oW - ow0 - 8 * v), act(acc[r][v]));
      } else {
        _mm256_storeu_ps(out + 8 * v, act(acc[r][v]));
      }
    }
  }
}

// Rows [oh, oh + R) across the width, one vector of columns at a time; only the first and
// last vectors of a row can need masks.
template <int KH, int KW, int R>
[[gnu::always_inline]] inline void band(const Plane& pl, const __m256* wreg, const avx2::VecAct& act, int64_t oh) {
  const int64_t first = pl.col_off[0], last = pl.col_off[(KW ? KW : pl.kw) - 1];
  for (int64_t ow0 = 0; ow0 < pl.oW; ow0 += 8) {
    if (ow0 + 8 <= pl.oW && ow0 + first >= 0 && ow0 + 8 - 1 + last < pl.col_valid) {
      block<KH, KW, R, 1, false>(pl, wreg, act, oh, ow0);
    } else {
      block<KH, KW, R, 1, true>(pl, wreg, act, oh, ow0);
    }
  }
}

template <int KH, int KW>
void plane(const Plane& pl, const avx2::VecAct& act) {
  __m256 wreg[KH * KW > 0 ? KH * KW : 1];
  if (KH && KW) {
    for (int i = 0; i < KH * KW; ++i) wreg[i] = _mm256_set1_ps(pl.w[i]);
  }
  int64_t oh = 0;
  for (; oh + 4 <= pl.oH; oh += 4) band<KH, KW, 4>(pl, wreg, act, oh);
  for (; oh < pl.oH; ++oh) band<KH, KW, 1>(pl, wreg, act, oh);
}

}  // namespace

void conv_f32_depthwise_avx2(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x, const float* w,
                               const float* bias, float* y, int64_t plane_begin, int64_t plane_end, float* scratch) {
  const int64_t C = p.in_channels, ks = p.kernel[1] * p.kernel[2];
  const bool post_act = !avx2::has_vector_act(p.act.kind);
  const avx2::VecAct act(post_act ? Activation{} : p.act);
  DepthwisePlane pl = depthwise_plane_geometry(p, g, scratch);
  for (int64_t pi = plane_begin; pi < plane_end; ++pi) {
    const int64_t c = pi % C;
    if (g.in_place) {
      pl.x = x + pi * p.in_size();
    } else {
      depthwise_pad_plane(p, g, x + pi * p.in_size(), scratch);
    }
    pl.w = w + c * ks;
    pl.bias = bias ? bias[c] : 0.f;
    pl.y = y + pi * p.out_size();
    if (pl.kh == 3 && pl.kw == 3) {
      plane<3, 3>(pl, act);
    } else {
      plane<0, 0>(pl, act);
    }
    if (post_act) apply_activation_inplace(pl.y, p.out_size(), p.act);
  }
}

}  // namespace qe::kernels

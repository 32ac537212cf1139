// The common depthwise case, 3x3 with stride 1 or 2 and no dilation, read in place. A band is
// 4 output rows; its input rows (6 for stride 1, 9 for stride 2) are fixed per band, and each
// is loaded once per vector of 16 columns and feeds every output row it touches. Stride 2
// loads 32 consecutive columns and splits them into even/odd lanes with vpermt2ps; the third
// tap is the even lanes shifted by one (valignd with the next column). Rows outside the input
// read a zero row; masked loads (masked lanes do not fault) give the left/right padding.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_ps() inside _mm512_max_ps/_mm512_min_ps as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>

#include "kernels/conv/conv_depthwise_internal.h"
#include "kernels/gemm/act_vec_avx512.h"

namespace qe::kernels {

namespace {

inline __mmask16 range_mask(int64_t lo, int64_t hi) {
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

struct Ctx {
  const float* x;
  const float* zero;  // a zero row at least iW + 48 floats long
  float* y;
  int64_t iH, iW, oH, oW, ph, pw;
  __m512 w[9];
  __m512 bias;
};

// Load masks of the taps of one vector of outputs: the lanes whose input column is inside the
// row (stride 1: three shifted loads; stride 2: the two halves and the shift column).
struct TapMasks {
  __mmask16 m0, m1, m2;
};
template <int S>
inline TapMasks tap_masks(const Ctx& c, int64_t c0) {
  if (S == 1) {
    return {range_mask(-c0, c.iW - c0), range_mask(-c0 - 1, c.iW - c0 - 1), range_mask(-c0 - 2, c.iW - c0 - 2)};
  }
  return {range_mask(-c0, c.iW - c0), range_mask(-c0 - 16, c.iW - c0 - 16),
          static_cast<__mmask16>(range_mask(-c0 - 32, c.iW - c0 - 32) & 1)};
}

// The three taps (input columns c0 + j + S * lane, j = 0..2) of one input row.
template <int S, bool EDGE>
[[gnu::always_inline]] inline void load_taps(const float* row, int64_t c0, const TapMasks& m, __m512& t0,
                                             __m512& t1, __m512& t2) {
  if (S == 1) {
    if (EDGE) {
      t0 = _mm512_maskz_loadu_ps(m.m0, row + c0);
      t1 = _mm512_maskz_loadu_ps(m.m1, row + c0 + 1);
      t2 = _mm512_maskz_loadu_ps(m.m2, row + c0 + 2);
    } else {
      t0 = _mm512_loadu_ps(row + c0);
      t1 = _mm512_loadu_ps(row + c0 + 1);
      t2 = _mm512_loadu_ps(row + c0 + 2);
    }
  } else {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 a, b, f;
    if (EDGE) {
      a = _mm512_maskz_loadu_ps(m.m0, row + c0);
      b = _mm512_maskz_loadu_ps(m.m1, row + c0 + 16);
      f = _mm512_maskz_loadu_ps(m.m2, row + c0 + 32);
    } else {
      a = _mm512_loadu_ps(row + c0);
      b = _mm512_loadu_ps(row + c0 + 16);
      f = _mm512_maskz_loadu_ps(1, row + c0 + 32);
    }
    t0 = _mm512_permutex2var_ps(a, even, b);
    t1 = _mm512_permutex2var_ps(a, odd, b);
    t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(f), _mm512_castps_si512(t0), 1));
  }
}

// Output rows [oh, oh + R) x columns [ow0, ow0 + 16 * V).
// SHIFT (stride 1, padding 1 on both sides, whole vectors of outputs): each input vector is
// loaded once, aligned to the output columns, and the two shifted taps are built with valignd
// from its neighbours (zero past either end of the row) instead of two more unaligned loads,
// which mostly straddle cache lines.
template <int S, int R, int V, bool EDGE, ActKind K, bool SHIFT = false>
[[gnu::always_inline]] inline void block(const Ctx& c, const avx512::VecAct& act, const float* const* rows,
                                         int64_t oh, int64_t ow0) {
  constexpr int kRows = (R - 1) * S + 3;
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = c.bias;
  }
  TapMasks masks[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) masks[v] = EDGE ? tap_masks<S>(c, (ow0 + 16 * v) * S - c.pw) : TapMasks{};
#pragma GCC unroll 16
  for (int i = 0; i < kRows; ++i) {
    __m512 cur[V], prev, next;
    if (SHIFT) {
      for (int v = 0; v < V; ++v) cur[v] = _mm512_loadu_ps(rows[i] + ow0 + 16 * v);
      prev = ow0 >= 16 ? _mm512_loadu_ps(rows[i] + ow0 - 16) : _mm512_setzero_ps();
      next = _mm512_maskz_loadu_ps(ow0 + 16 * V < c.iW ? 1 : 0, rows[i] + ow0 + 16 * V);
    }
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512 t0, t1, t2;
      if (SHIFT) {
        const __m512i lo = _mm512_castps_si512(v == 0 ? prev : cur[v - 1]);
        const __m512i hi = _mm512_castps_si512(v == V - 1 ? next : cur[v + 1]);
        const __m512i mid = _mm512_castps_si512(cur[v]);
        t0 = _mm512_castsi512_ps(_mm512_alignr_epi32(mid, lo, 15));
        t1 = cur[v];
        t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(hi, mid, 1));
      } else {
        load_taps<S, EDGE>(rows[i], (ow0 + 16 * v) * S - c.pw, masks[v], t0, t1, t2);
      }
      // Input row i is tap row kh = i - r * S of output row r.
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int kh = i - r * S;
        if (kh < 0 || kh > 2) continue;
        acc[r][v] = _mm512_fmadd_ps(t0, c.w[kh * 3 + 0], acc[r][v]);
        acc[r][v] = _mm512_fmadd_ps(t1, c.w[kh * 3 + 1], acc[r][v]);
        acc[r][v] = _mm512_fmadd_ps(t2, c.w[kh * 3 + 2], acc[r][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* out = c.y + (oh + r) * c.oW + ow0;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512 o = act.apply<K>(acc[r][v]);
      if (EDGE) {
        _mm512_mask_storeu_ps(out + 16 * v, range_mask(0, c.oW - ow0 - 16 * v), o);
      } else {
        _mm512_storeu_ps(out + 16 * v, o);
      }
    }
  }
}

template <int S, int R, ActKind K>
[[gnu::always_inline]] inline void band(const Ctx& c, const avx512::VecAct& act, int64_t oh) {
  constexpr int kRows = (R - 1) * S + 3;
  const float* rows[kRows];
#pragma GCC unroll 16
  for (int i = 0; i < kRows; ++i) {
    const int64_t ih = oh * S - c.ph + i;
    rows[i] = ih >= 0 && ih < c.iH ? c.x + ih * c.iW : c.zero;
  }
  // Rows the next band reads for the first time: on planes that come from DRAM (batch 8 at
  // 112x112) the hardware prefetchers do not follow nine short interleaved row streams.
  for (int64_t ih = (oh + R) * S - c.ph + kRows - R * S; ih < (oh + R) * S - c.ph + kRows; ++ih) {
    if (ih < 0 || ih >= c.iH) continue;
    const char* line = reinterpret_cast<const char*>(c.x + ih * c.iW);
    for (int64_t b = 0; b < c.iW * 4; b += 64) _mm_prefetch(line + b, _MM_HINT_T0);
  }
  // Interior vectors: all 16 outputs exist and every column read (up to c0 + 15 * S + 2, and
  // c0 + 32 for the stride-2 shift) is inside the row.
  auto interior = [&](int64_t ow0) {
    const int64_t c0 = ow0 * S - c.pw;
    return ow0 + 16 <= c.oW && c0 >= 0 && (S == 1 ? c0 + 17 : c0 + 32) < c.iW;
  };
  int64_t ow0 = 0;
  if (S == 1 && c.pw == 1 && c.oW == c.iW) {
    for (; ow0 + 32 <= c.oW; ow0 += 32) block<S, R, 2, false, K, true>(c, act, rows, oh, ow0);
    for (; ow0 + 16 <= c.oW; ow0 += 16) block<S, R, 1, false, K, true>(c, act, rows, oh, ow0);
  }
  for (; ow0 < c.oW && !interior(ow0); ow0 += 16) block<S, R, 1, true, K>(c, act, rows, oh, ow0);
  for (; ow0 + 16 < c.oW && interior(ow0 + 16); ow0 += 32) block<S, R, 2, false, K>(c, act, rows, oh, ow0);
  for (; ow0 < c.oW && interior(ow0); ow0 += 16) block<S, R, 1, false, K>(c, act, rows, oh, ow0);
  for (; ow0 < c.oW; ow0 += 16) block<S, R, 1, true, K>(c, act, rows, oh, ow0);
}

template <int S, ActKind K>
void plane(const Ctx& ctx, const avx512::VecAct& activation) {
  // Local copies: __m512 may alias any float store, so weights and activation constants read
  // through a pointer would be reloaded after every output store.
  const Ctx c = ctx;
  const avx512::VecAct act = activation;
  int64_t oh = 0;
  for (; oh + 4 <= c.oH; oh += 4) band<S, 4, K>(c, act, oh);
  for (; oh < c.oH; ++oh) band<S, 1, K>(c, act, oh);
}

}  // namespace

bool depthwise3x3_supported(const ConvF32Params& p) {
  return p.kernel[1] == 3 && p.kernel[2] == 3 && p.dilation[1] == 1 && p.dilation[2] == 1 &&
         p.stride[1] == p.stride[2] && (p.stride[1] == 1 || p.stride[1] == 2);
}

void depthwise3x3_plane_avx512(const ConvF32Params& p, const float* x, const float* w, float bias, float* y,
                               const float* zero_row) {
  const bool post_act = !avx512::has_vector_act(p.act.kind);
  const avx512::VecAct act(post_act ? Activation{} : p.act);
  Ctx c;
  c.x = x;
  c.zero = zero_row;
  c.y = y;
  c.iH = p.in[1];
  c.iW = p.in[2];
  c.oH = p.out[1];
  c.oW = p.out[2];
  c.ph = p.pad[1];
  c.pw = p.pad[2];
  for (int i = 0; i < 9; ++i) c.w[i] = _mm512_set1_ps(w[i]);
  c.bias = _mm512_set1_ps(bias);
  avx512::dispatch_act(act.kind, [&](auto k) {
    if (p.stride[1] == 1) {
      plane<1, decltype(k)::value>(c, act);
    } else {
      plane<2, decltype(k)::value>(c, act);
    }
  });
  if (post_act) apply_activation_inplace(y, p.out_size(), p.act);
}

}  // namespace qe::kernels

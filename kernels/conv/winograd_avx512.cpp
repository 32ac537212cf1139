// Winograd F(4x4, 3x3) transforms with the 16 lanes over 16 consecutive tiles of one tile row.
// Input: each 6-column window of a tile starts 4 columns after the previous one, so a row of
// 16 tiles is 64 (+2) consecutive input columns; vpermt2ps deals them into the six column
// vectors d[.][j] (lane l = column 4l + j), then B^T d B is plain vector arithmetic. Output:
// A^T m A the same way, and the inverse deal writes 64 consecutive output columns per row.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_ps() inside _mm512_max_ps/_mm512_min_ps as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>

#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/act_vec_avx512.h"

namespace qe::kernels {

namespace {

inline __mmask16 range_mask(int64_t lo, int64_t hi) {
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// B^T d for one column of 6 values.
[[gnu::always_inline]] inline void input_1d(const __m512* d, __m512* r) {
  const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
  const __m512 a = _mm512_fnmadd_ps(four, d[2], d[4]);  // d4 - 4 d2
  const __m512 b = _mm512_fnmadd_ps(four, d[1], d[3]);  // d3 - 4 d1
  const __m512 c = _mm512_sub_ps(d[4], d[2]);
  const __m512 e = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
  r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
  r[1] = _mm512_add_ps(a, b);
  r[2] = _mm512_sub_ps(a, b);
  r[3] = _mm512_add_ps(c, e);
  r[4] = _mm512_sub_ps(c, e);
  r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

// A^T m for one column of 6 values.
[[gnu::always_inline]] inline void output_1d(const __m512* m, __m512* o) {
  const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), eight = _mm512_set1_ps(8.f);
  const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  o[1] = _mm512_fmadd_ps(two, d34, d12);
  o[2] = _mm512_fmadd_ps(four, s34, s12);
  o[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

}  // namespace

void winograd_input_tiles_avx512(const ConvF32Params& p, const float* x_channel, int64_t th, int64_t tw0, int n,
                                 float* const* dst) {
  const int64_t iH = p.in[1], iW = p.in[2];
  const int64_t c0 = tw0 * 4 - p.pad[2];
  // idx[l] = 4 * (l % 8) + j picks column 4l + j from a pair of 16-column vectors.
  __m512i idx[4];
  for (int j = 0; j < 4; ++j) {
    idx[j] = _mm512_add_epi32(_mm512_set1_epi32(j),
                              _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
  }
  __mmask16 lmask[5];
  for (int q = 0; q < 5; ++q) lmask[q] = range_mask(-(c0 + 16 * q), iW - (c0 + 16 * q));
  lmask[4] &= 0x3;
  __m512 d[6][6];  // [row i][column j]
  for (int i = 0; i < 6; ++i) {
    const int64_t ih = th * 4 - p.pad[1] + i;
    if (ih < 0 || ih >= iH) {
      for (int j = 0; j < 6; ++j) d[i][j] = _mm512_setzero_ps();
      continue;
    }
    const float* row = x_channel + ih * iW + c0;
    __m512 l[5];
    for (int q = 0; q < 5; ++q) l[q] = _mm512_maskz_loadu_ps(lmask[q], row + 16 * q);
    for (int j = 0; j < 4; ++j) {
      d[i][j] = _mm512_mask_mov_ps(_mm512_permutex2var_ps(l[0], idx[j], l[1]), 0xFF00,
                                   _mm512_permutex2var_ps(l[2], idx[j], l[3]));
    }
    const __m512i l4 = _mm512_castps_si512(l[4]);
    d[i][4] = _mm512_castsi512_ps(_mm512_alignr_epi32(l4, _mm512_castps_si512(d[i][0]), 1));
    d[i][5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(l4, l4, 1), _mm512_castps_si512(d[i][1]), 1));
  }
  // Columns first (B^T d), then rows (. B).
  __m512 r[6][6];
  for (int j = 0; j < 6; ++j) {
    __m512 col[6], out[6];
    for (int i = 0; i < 6; ++i) col[i] = d[i][j];
    input_1d(col, out);
    for (int k = 0; k < 6; ++k) r[k][j] = out[k];
  }
  const __mmask16 smask = static_cast<__mmask16>((1u << n) - 1);  // n <= 16
  for (int k = 0; k < 6; ++k) {
    __m512 out[6];
    input_1d(r[k], out);
    for (int l2 = 0; l2 < 6; ++l2) {
      if (n == 16) {
        _mm512_storeu_ps(dst[k * 6 + l2], out[l2]);
      } else {
        _mm512_mask_storeu_ps(dst[k * 6 + l2], smask, out[l2]);
      }
    }
  }
}

void winograd_output_tiles_avx512(const ConvF32Params& p, const float* const* m, float bias, int64_t th, int64_t tw0,
                                  int n, float* y_channel) {
  const int64_t oH = p.out[1], oW = p.out[2];
  const bool post_act = !avx512::has_vector_act(p.act.kind);
  const avx512::VecAct act(post_act ? Activation{} : p.act);
  const __mmask16 lmask = static_cast<__mmask16>((1u << n) - 1);
  __m512 t[4][6];  // A^T m: [output row k][column j]
  for (int j = 0; j < 6; ++j) {
    __m512 col[6], out[4];
    for (int i = 0; i < 6; ++i) col[i] = _mm512_maskz_loadu_ps(lmask, m[i * 6 + j]);
    output_1d(col, out);
    for (int k = 0; k < 4; ++k) t[k][j] = out[k];
  }
  const __m512 bv = _mm512_set1_ps(bias);
  // Output column s of a 16-column group q comes from tile 4q + s/4, tile column s % 4.
  __m512i idx01[4], idx23[4];
  for (int q = 0; q < 4; ++q) {
    alignas(64) int a[16], b[16];
    for (int s = 0; s < 16; ++s) {
      const int tile = 4 * q + s / 4;
      a[s] = (s % 4 == 1 ? 16 : 0) + tile;
      b[s] = (s % 4 == 3 ? 16 : 0) + tile;
    }
    idx01[q] = _mm512_load_si512(a);
    idx23[q] = _mm512_load_si512(b);
  }
  const int64_t col0 = tw0 * 4;
  const int64_t cols = std::min<int64_t>(oW - col0, int64_t{4} * n);
  for (int k = 0; k < 4; ++k) {
    const int64_t oh = th * 4 + k;
    if (oh >= oH) break;
    __m512 o[4];
    output_1d(t[k], o);
    for (int c = 0; c < 4; ++c) {
      o[c] = act(_mm512_add_ps(o[c], bv));
    }
    float* out = y_channel + oh * oW + col0;
    for (int q = 0; q < 4 && 16 * q < cols; ++q) {
      const __m512 e01 = _mm512_permutex2var_ps(o[0], idx01[q], o[1]);
      const __m512 e23 = _mm512_permutex2var_ps(o[2], idx23[q], o[3]);
      const __m512 e = _mm512_mask_mov_ps(e01, 0xCCCC, e23);
      if (cols - 16 * q >= 16) {
        _mm512_storeu_ps(out + 16 * q, e);  // masked stores read the line first
      } else {
        _mm512_mask_storeu_ps(out + 16 * q, range_mask(0, cols - 16 * q), e);
      }
    }
    if (post_act) apply_activation_inplace(out, cols, p.act);
  }
}

}  // namespace qe::kernels

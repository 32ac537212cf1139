// Vector BatchNormalization (per-channel affine) and LayerNormalization over a SIMD
// vocabulary S, instantiated per ISA (norm_avx2.cpp, norm_avx512.cpp). LayerNorm sums in float
// vectors (the reference sums in double), so results agree to float rounding.
#pragma once

#include <cstdint>

#include "kernels/elementwise/reduce_impl.h"
#include "kernels/normalization/norm.h"

namespace qe::kernels {

template <class S>
void channel_affine_f32_impl(const float* x, float* y, const float* a, const float* b, int64_t channels, int64_t size,
                             int64_t p0, int64_t p1) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  for (int64_t p = p0; p < p1; ++p) {
    int64_t c = p % channels;
    const V va = S::set1(a[c]), vb = S::set1(b[c]);
    const float* xp = x + p * size;
    float* yp = y + p * size;
    int64_t i = 0;
    for (; i + 2 * W <= size; i += 2 * W) {
      V u = S::fmadd(S::load(xp + i), va, vb);
      V v = S::fmadd(S::load(xp + i + W), va, vb);
      S::store(yp + i, u);
      S::store(yp + i + W, v);
    }
    for (; i + W <= size; i += W) S::store(yp + i, S::fmadd(S::load(xp + i), va, vb));
    if (i < size) S::store_tail(yp + i, S::fmadd(S::load_tail(xp + i, size - i), va, vb), size - i);
  }
}

template <class S>
void layer_norm_f32_impl(const float* x, float* y, const float* scale, const float* bias, int64_t n, float eps,
                         float* mean_out, float* inv_std_out, int64_t r0, int64_t r1) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float mean = row_sum_f32<S>(xr, n) / static_cast<float>(n);
    const V vm = S::set1(mean);
    V q0 = S::zero(), q1 = S::zero();
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      V d0 = S::sub(S::load(xr + i), vm);
      V d1 = S::sub(S::load(xr + i + W), vm);
      q0 = S::fmadd(d0, d0, q0);
      q1 = S::fmadd(d1, d1, q1);
    }
    for (; i + W <= n; i += W) {
      V d = S::sub(S::load(xr + i), vm);
      q0 = S::fmadd(d, d, q0);
    }
    if (i < n) {
      // Masked-off lanes load 0 and would add mean^2: mask the difference instead.
      V d = S::sub(S::load_tail_fill(xr + i, n - i, mean), vm);
      q1 = S::fmadd(d, d, q1);
    }
    const float var = S::reduce_add(S::add(q0, q1)) / static_cast<float>(n);
    const float inv = 1.f / __builtin_sqrtf(var + eps);
    const V vi = S::set1(inv);
    i = 0;
    for (; i < n; i += W) {
      int64_t m = n - i < W ? n - i : W;
      bool full = m == W;
      V xv = full ? S::load(xr + i) : S::load_tail(xr + i, m);
      V sv = full ? S::load(scale + i) : S::load_tail(scale + i, m);
      V v = S::mul(S::mul(S::sub(xv, vm), vi), sv);
      if (bias) v = S::add(v, full ? S::load(bias + i) : S::load_tail(bias + i, m));
      if (full) {
        S::store(yr + i, v);
      } else {
        S::store_tail(yr + i, v, m);
      }
    }
    if (mean_out) mean_out[r] = mean;
    if (inv_std_out) inv_std_out[r] = inv;
  }
}

}  // namespace qe::kernels

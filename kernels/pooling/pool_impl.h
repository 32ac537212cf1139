// Vector pools over a SIMD vocabulary S, instantiated by pool_avx2.cpp / pool_avx512.cpp.
//
// Max and average pool, one output row at a time, in two steps (separable windows):
//   1. vertical: the (d, h) input rows of the window are combined element by element into a
//      row buffer (one pass of contiguous loads, instead of once per W tap);
//   2. horizontal: kWidth outputs at a time take the W taps from that buffer (stride 1: plain
//      loads; stride 2: the even lanes of two loads).
// Only outputs whose W taps all fall inside the input go this way; the borders, W strides
// other than 1 and 2, and rows whose window has no input row are computed tap by tap with the
// reference's rules. Max is exact except that the vector max does not let NaN win; average
// sums in another order than avg_pool_f32_ref (vertical first) and so agrees to rounding.
//
// Helpers are static or templates on S (no std::min/max): an inline function compiled here
// with ISA flags must never be the copy the linker hands to baseline code.
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/elementwise/reduce_impl.h"
#include "kernels/pooling/pool.h"

namespace qe::kernels {

namespace pool_detail {

// Output positions [first, last) of one axis whose whole window lies inside the input.
static inline void interior_range(int64_t out, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in,
                                  int64_t& first, int64_t& last) {
  first = (pad + stride - 1) / stride;
  int64_t span = in - 1 - (k - 1) * dil + pad;  // window start + pad must be <= span
  last = span < 0 ? 0 : span / stride + 1;
  if (first > out) first = out;
  if (last > out) last = out;
  if (last < first) last = first;
}

// Taps of output o whose position lies in [lo, hi).
static inline int64_t tap_count(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t lo, int64_t hi) {
  return pool_taps(o, stride, pad, dil, k, lo, hi).count;
}

constexpr int kMaxRows = 64;     // (d, h) taps of one window
constexpr int64_t kBuf = 2048;   // floats of the vertical row buffer

}  // namespace pool_detail

template <class S, bool kAvg>
void pool_f32_impl(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1) {
  using namespace pool_detail;
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const float lowest = std::numeric_limits<float>::lowest();
  const int64_t sw = p.stride[2], dw = p.dilation[2], kw = p.kernel[2], padw = p.pad[2], inw = p.in[2];
  const int64_t eff_kw = (kw - 1) * dw + 1;
  if (p.kernel[0] * p.kernel[1] > kMaxRows || eff_kw + W * sw > kBuf) {
    if constexpr (kAvg) {
      avg_pool_f32_ref(p, x, y, p0, p1);
    } else {
      max_pool_ref<float>(p, x, y, p0, p1);
    }
    return;
  }
  int64_t ow_lo, ow_hi;
  interior_range(p.out[2], sw, padw, dw, kw, inw, ow_lo, ow_hi);
  if (sw != 1 && sw != 2) ow_hi = ow_lo;
  // Interior outputs per buffer fill, a multiple of the vector width.
  const int64_t chunk = ((kBuf - eff_kw) / sw + 1) / W * W;
  alignas(64) float buf[kBuf];
  const float* rows[kMaxRows];
  auto combine = [](V a, V b) { return kAvg ? S::add(a, b) : S::max(a, b); };

  for (int64_t pl = p0; pl < p1; ++pl) {
    const float* xp = x + pl * p.in_size();
    float* yp = y + pl * p.out_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        float* yrow = yp + (od * p.out[1] + oh) * p.out[2];
        int nrows = 0;
        for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
          int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
          if (id < 0 || id >= p.in[0]) continue;
          for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
            int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
            if (ih < 0 || ih >= p.in[1]) continue;
            rows[nrows++] = xp + (id * p.in[1] + ih) * inw;
          }
        }
        // Divisor parts from D and H (the W part is kw inside the interior).
        int64_t dh_count = nrows;
        if (kAvg && p.count_include_pad) {
          dh_count = tap_count(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], -p.pad[0], p.in[0] + p.pad_end[0]) *
                     tap_count(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], -p.pad[1], p.in[1] + p.pad_end[1]);
        }
        auto scalar_out = [&](int64_t ow) {
          int64_t start = ow * sw - padw;
          float acc = kAvg ? 0.f : lowest;
          for (int r = 0; r < nrows; ++r) {
            for (int64_t t = 0; t < kw; ++t) {
              int64_t iw = start + t * dw;
              if (iw < 0 || iw >= inw) continue;
              float v = rows[r][iw];
              acc = kAvg ? acc + v : (v > acc ? v : acc);
            }
          }
          if constexpr (kAvg) {
            int64_t wc = p.count_include_pad ? tap_count(ow, sw, padw, dw, kw, -padw, inw + p.pad_end[2])
                                             : tap_count(ow, sw, padw, dw, kw, 0, inw);
            int64_t count = dh_count * wc;
            acc = count > 0 ? acc / static_cast<float>(count) : 0.f;
          }
          yrow[ow] = acc;
        };
        if (nrows == 0) {
          for (int64_t ow = 0; ow < p.out[2]; ++ow) scalar_out(ow);
          continue;
        }
        for (int64_t ow = 0; ow < ow_lo; ++ow) scalar_out(ow);
        const V divisor = S::set1(static_cast<float>(dh_count * kw));
        for (int64_t c0 = ow_lo; c0 < ow_hi; c0 += chunk) {
          const int64_t c1 = c0 + chunk < ow_hi ? c0 + chunk : ow_hi;
          const int64_t in0 = c0 * sw - padw;
          const int64_t len = (c1 - 1 - c0) * sw + eff_kw;
          // 1. vertical
          const float* src = rows[0] + in0;
          if (nrows > 1) {
            for (int64_t i = 0; i < len; i += W) {
              int64_t m = len - i < W ? len - i : W;
              V acc = m == W ? S::load(rows[0] + in0 + i) : S::load_tail(rows[0] + in0 + i, m);
              for (int r = 1; r < nrows; ++r) {
                acc = combine(acc, m == W ? S::load(rows[r] + in0 + i) : S::load_tail(rows[r] + in0 + i, m));
              }
              if (m == W) {
                S::store(buf + i, acc);
              } else {
                S::store_tail(buf + i, acc, m);
              }
            }
            src = buf;
          }
          // 2. horizontal
          for (int64_t ow = c0; ow < c1; ow += W) {
            const int64_t m = c1 - ow < W ? c1 - ow : W;
            const float* q0 = src + (ow - c0) * sw;
            V acc = S::zero();
            for (int64_t t = 0; t < kw; ++t) {
              const float* q = q0 + t * dw;
              V v = sw == 1 ? (m == W ? S::load(q) : S::load_tail(q, m)) : S::load_even(q, 2 * m - 1);
              acc = t == 0 ? v : combine(acc, v);
            }
            if constexpr (kAvg) acc = S::div(acc, divisor);
            if (m == W) {
              S::store(yrow + ow, acc);
            } else {
              S::store_tail(yrow + ow, acc, m);
            }
          }
        }
        for (int64_t ow = ow_hi; ow < p.out[2]; ++ow) scalar_out(ow);
      }
    }
  }
}

template <class S>
void global_avg_pool_f32_impl(const float* x, float* y, int64_t size, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) y[pl] = row_sum_f32<S>(x + pl * size, size) / static_cast<float>(size);
}

template <class S>
void global_max_pool_f32_impl(const float* x, float* y, int64_t size, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) y[pl] = row_max_f32<S>(x + pl * size, size);
}

}  // namespace qe::kernels

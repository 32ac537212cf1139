#include "kernels/int8/qpool.h"

#include <emmintrin.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

namespace qe::kernels {

namespace {

// Outputs [lo, hi) of a row of n whose tap at offset `off` (= j * dil - pad) reads inside [0, in).
void valid_outputs(int64_t off, int64_t stride, int64_t in, int64_t n, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  const int64_t t = in - 1 - off;
  hi = t < 0 ? 0 : std::min(n, t / stride + 1);
  lo = std::min(lo, hi);
}

// The row-wise pools visit window taps in this order: every valid (kd, kh) row of output row
// (od, oh), then each kernel column j, calling f(src, lo, hi) with outputs ow in [lo, hi) reading
// src[ow * stride_w] (taps that fall into the W padding are already excluded from [lo, hi)).
template <typename T, typename F>
void for_each_tap(const PoolParams& p, const T* xp, int64_t od, int64_t oh, const PoolTaps& rd, const PoolTaps& rh, F&& f) {
  const int64_t oW = p.out[2], iW = p.in[2], sw = p.stride[2];
  for (int64_t kd = rd.first; kd < rd.first + rd.count; ++kd) {
    const int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
    for (int64_t kh = rh.first; kh < rh.first + rh.count; ++kh) {
      const int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
      const T* row = xp + (id * p.in[1] + ih) * iW;
      for (int64_t j = 0; j < p.kernel[2]; ++j) {
        const int64_t off = j * p.dilation[2] - p.pad[2];
        int64_t lo, hi;
        valid_outputs(off, sw, iW, oW, lo, hi);
        f(row + off, lo, hi);
      }
    }
  }
}

int64_t window_count(const PoolParams& p, int64_t od, int64_t oh, int64_t ow) {
  const int64_t o[3] = {od, oh, ow};
  int64_t count = 1;
  for (int a = 0; a < 3; ++a) {
    const int64_t lo = p.count_include_pad ? -p.pad[a] : 0;
    const int64_t hi = p.count_include_pad ? p.in[a] + p.pad_end[a] : p.in[a];
    count *= pool_taps(o[a], p.stride[a], p.pad[a], p.dilation[a], p.kernel[a], lo, hi).count;
  }
  return count;
}

template <typename T>
void max_pool_rows(const PoolParams& p, const T* x, T* y, int64_t p0, int64_t p1) {
  const int64_t oW = p.out[2], sw = p.stride[2];
  for (int64_t pl = p0; pl < p1; ++pl) {
    const T* xp = x + pl * p.in_size();
    T* yp = y + pl * p.out_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      const PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        const PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        T* out = yp + (od * p.out[1] + oh) * oW;
        std::fill(out, out + oW, std::numeric_limits<T>::lowest());
        for_each_tap(p, xp, od, oh, rd, rh, [&](const T* src, int64_t lo, int64_t hi) {
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = std::max(out[ow], src[ow * sw]);
        });
      }
    }
  }
}

// Stride-2 rows (ResNet's 3x3/2 max pool): the strided reads src[2 ow] do not vectorise, so
// the window's rows are first reduced to one row v (in the uint8 order: int8 values XOR 0x80,
// which keeps their order), v is split into its even and odd bytes once, and every kernel
// column then reads one of the halves contiguously. The same maxima as max_pool_rows.
template <typename T>
void max_pool_rows_s2(const PoolParams& p, const T* x, T* y, int64_t p0, int64_t p1) {
  constexpr uint8_t kFlip = std::is_signed_v<T> ? 0x80 : 0x00;
  const int64_t iW = p.in[2], oW = p.out[2];
  const int64_t half = (iW + 1) / 2 + 16;
  std::vector<uint8_t> v(static_cast<size_t>(iW + 32)), even(static_cast<size_t>(half)), odd(static_cast<size_t>(half));
  std::vector<uint8_t> out(static_cast<size_t>(oW));
  for (int64_t pl = p0; pl < p1; ++pl) {
    const uint8_t* xp = reinterpret_cast<const uint8_t*>(x) + pl * p.in_size();
    uint8_t* yp = reinterpret_cast<uint8_t*>(y) + pl * p.out_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      const PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        const PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        uint8_t* dst = yp + (od * p.out[1] + oh) * oW;
        if (rd.count == 0 || rh.count == 0) {  // no input row in the window: the lowest value
          std::fill(dst, dst + oW, static_cast<uint8_t>(0x00 ^ kFlip));
          continue;
        }
        std::fill(v.begin(), v.end(), uint8_t{0});
        for (int64_t kd = rd.first; kd < rd.first + rd.count; ++kd) {
          const int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
          for (int64_t kh = rh.first; kh < rh.first + rh.count; ++kh) {
            const int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
            const uint8_t* row = xp + (id * p.in[1] + ih) * iW;
            for (int64_t i = 0; i < iW; ++i) v[static_cast<size_t>(i)] = std::max<uint8_t>(v[static_cast<size_t>(i)], row[i] ^ kFlip);
          }
        }
        // Split into even and odd bytes, 32 at a time.
        const __m128i lo_mask = _mm_set1_epi16(0x00FF);
        int64_t i = 0;
        for (; i + 32 <= iW; i += 32) {
          const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v.data() + i));
          const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v.data() + i + 16));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(even.data() + i / 2),
                           _mm_packus_epi16(_mm_and_si128(a, lo_mask), _mm_and_si128(b, lo_mask)));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(odd.data() + i / 2),
                           _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
        }
        for (; i < iW; ++i) (i % 2 ? odd : even)[static_cast<size_t>(i / 2)] = v[static_cast<size_t>(i)];
        std::fill(out.begin(), out.end(), uint8_t{0});
        for (int64_t j = 0; j < p.kernel[2]; ++j) {
          const int64_t off = j * p.dilation[2] - p.pad[2];
          int64_t lo, hi;
          valid_outputs(off, 2, iW, oW, lo, hi);
          // v[2 ow + off] is even[ow + off / 2] for even off, odd[ow + (off - 1) / 2] for odd.
          const bool is_odd = (off % 2) != 0;
          const int64_t shift = is_odd ? (off - 1) / 2 : off / 2;
          const uint8_t* src = (is_odd ? odd.data() : even.data()) + shift;
          for (int64_t ow = lo; ow < hi; ++ow) out[static_cast<size_t>(ow)] = std::max(out[static_cast<size_t>(ow)], src[ow]);
        }
        for (int64_t ow = 0; ow < oW; ++ow) dst[ow] = out[static_cast<size_t>(ow)] ^ kFlip;
      }
    }
  }
}

template <typename T>
void avg_pool_ref_t(const PoolParams& p, const QPoolQuant& q, const T* x, void* y, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    const T* xp = x + pl * p.in_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          int32_t acc = 0;
          for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
            const int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
            if (id < 0 || id >= p.in[0]) continue;
            for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
              const int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
              if (ih < 0 || ih >= p.in[1]) continue;
              for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
                const int64_t iw = ow * p.stride[2] - p.pad[2] + kw * p.dilation[2];
                if (iw < 0 || iw >= p.in[2]) continue;
                acc += xp[(id * p.in[1] + ih) * p.in[2] + iw] - q.in_zero_point;
              }
            }
          }
          const int32_t v = requantize_ref(acc, q.mode, q.by_count[window_count(p, od, oh, ow)], q.out);
          const int64_t i = pl * p.out_size() + (od * p.out[1] + oh) * p.out[2] + ow;
          if (q.out_signed) {
            static_cast<int8_t*>(y)[i] = static_cast<int8_t>(v);
          } else {
            static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(v);
          }
        }
      }
    }
  }
}

template <typename T>
void avg_pool_rows(const PoolParams& p, const QPoolQuant& q, const T* x, void* y, int64_t p0, int64_t p1) {
  constexpr int64_t kChunk = 256;
  int32_t acc[kChunk];
  const int64_t oW = p.out[2], sw = p.stride[2];
  for (int64_t pl = p0; pl < p1; ++pl) {
    const T* xp = x + pl * p.in_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      const PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        const PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        for (int64_t c0 = 0; c0 < oW; c0 += kChunk) {
          const int64_t c1 = std::min(oW, c0 + kChunk);
          std::fill(acc, acc + (c1 - c0), 0);
          for_each_tap(p, xp, od, oh, rd, rh, [&](const T* src, int64_t lo, int64_t hi) {
            const int64_t b = std::max(lo, c0), e = std::min(hi, c1);
            for (int64_t ow = b; ow < e; ++ow) acc[ow - c0] += src[ow * sw] - q.in_zero_point;
          });
          const int64_t base = pl * p.out_size() + (od * p.out[1] + oh) * oW;
          for (int64_t ow = c0; ow < c1; ++ow) {
            const int32_t v = requantize_ref(acc[ow - c0], q.mode, q.by_count[window_count(p, od, oh, ow)], q.out);
            if (q.out_signed) {
              static_cast<int8_t*>(y)[base + ow] = static_cast<int8_t>(v);
            } else {
              static_cast<uint8_t*>(y)[base + ow] = static_cast<uint8_t>(v);
            }
          }
        }
      }
    }
  }
}

template <typename T>
int32_t plane_sum(const T* x, int64_t size) {
  int32_t s = 0;
  for (int64_t i = 0; i < size; ++i) s += x[i];
  return s;
}

void global_avg(const QPoolQuant& q, const void* x, void* y, int64_t size, int64_t p0, int64_t p1, bool ref) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    int32_t acc = 0;
    if (ref) {
      for (int64_t i = 0; i < size; ++i) {
        const int32_t v = q.in_signed ? static_cast<const int8_t*>(x)[pl * size + i]
                                      : static_cast<const uint8_t*>(x)[pl * size + i];
        acc += v - q.in_zero_point;
      }
    } else {
      // Σ x - size * zp: the same integer, with a plain byte sum the compiler vectorises.
      acc = (q.in_signed ? plane_sum(static_cast<const int8_t*>(x) + pl * size, size)
                         : plane_sum(static_cast<const uint8_t*>(x) + pl * size, size)) -
            static_cast<int32_t>(size) * q.in_zero_point;
    }
    if (q.float_out) {
      static_cast<float*>(y)[pl] = static_cast<float>(acc) * q.global.m;
      continue;
    }
    const int32_t v = requantize_ref(acc, q.mode, q.global, q.out);
    if (q.out_signed) {
      static_cast<int8_t*>(y)[pl] = static_cast<int8_t>(v);
    } else {
      static_cast<uint8_t*>(y)[pl] = static_cast<uint8_t>(v);
    }
  }
}

}  // namespace

void qmax_pool_ref(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1) {
  if (is_signed) {
    max_pool_ref<int8_t>(p, static_cast<const int8_t*>(x), static_cast<int8_t*>(y), p0, p1);
  } else {
    max_pool_ref<uint8_t>(p, static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), p0, p1);
  }
}

void qmax_pool(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1, IsaLevel level) {
  if (level >= IsaLevel::kAvx512 && qmax_pool_s2_avx512_supports(p)) {
    qmax_pool_s2_avx512(p, is_signed, x, y, p0, p1);
    return;
  }
  if (p.stride[2] == 2) {
    if (is_signed) {
      max_pool_rows_s2<int8_t>(p, static_cast<const int8_t*>(x), static_cast<int8_t*>(y), p0, p1);
    } else {
      max_pool_rows_s2<uint8_t>(p, static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), p0, p1);
    }
    return;
  }
  if (is_signed) {
    max_pool_rows<int8_t>(p, static_cast<const int8_t*>(x), static_cast<int8_t*>(y), p0, p1);
  } else {
    max_pool_rows<uint8_t>(p, static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), p0, p1);
  }
}

std::vector<RequantMultiplier> qavg_pool_multipliers(double m, int64_t max_count) {
  std::vector<RequantMultiplier> v(static_cast<size_t>(max_count + 1));
  for (int64_t k = 1; k <= max_count; ++k) v[static_cast<size_t>(k)] = make_requant_multiplier(m / static_cast<double>(k));
  return v;
}

void qavg_pool_ref(const PoolParams& p, const QPoolQuant& q, const void* x, void* y, int64_t p0, int64_t p1) {
  if (q.in_signed) {
    avg_pool_ref_t<int8_t>(p, q, static_cast<const int8_t*>(x), y, p0, p1);
  } else {
    avg_pool_ref_t<uint8_t>(p, q, static_cast<const uint8_t*>(x), y, p0, p1);
  }
}

void qavg_pool(const PoolParams& p, const QPoolQuant& q, const void* x, void* y, int64_t p0, int64_t p1) {
  if (q.in_signed) {
    avg_pool_rows<int8_t>(p, q, static_cast<const int8_t*>(x), y, p0, p1);
  } else {
    avg_pool_rows<uint8_t>(p, q, static_cast<const uint8_t*>(x), y, p0, p1);
  }
}

void qglobal_avg_pool_ref(const QPoolQuant& q, const void* x, void* y, int64_t size, int64_t p0, int64_t p1) {
  global_avg(q, x, y, size, p0, p1, true);
}

void qglobal_avg_pool(const QPoolQuant& q, const void* x, void* y, int64_t size, int64_t p0, int64_t p1) {
  global_avg(q, x, y, size, p0, p1, false);
}

}  // namespace qe::kernels

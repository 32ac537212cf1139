#include "kernels/data/resize.h"

#include <algorithm>
#include <cmath>

#include "engine/core/thread_pool.h"

namespace qe::kernels {

double resize_source_coord(const ResizeAxisSpec& s, ResizeCoord coord, int64_t x) {
  const double xd = static_cast<double>(x);
  const double in = static_cast<double>(s.in_len);
  switch (coord) {
    case ResizeCoord::kHalfPixel: return (xd + 0.5) / s.scale - 0.5;
    case ResizeCoord::kHalfPixelSymmetric: {
      double adjustment = static_cast<double>(s.out_len) / s.out_length;
      double center = in / 2;
      return center * (1 - adjustment) + (xd + 0.5) / s.scale - 0.5;
    }
    case ResizeCoord::kPytorchHalfPixel: return s.out_length == 1.0 ? -0.5 : (xd + 0.5) / s.scale - 0.5;
    case ResizeCoord::kAlignCorners: return s.out_length == 1.0 ? 0.0 : xd * (in - 1) / (s.out_length - 1);
    case ResizeCoord::kAsymmetric: return xd / s.scale;
    case ResizeCoord::kTfHalfPixelForNn: return (xd + 0.5) / s.scale;
    case ResizeCoord::kTfCropAndResize: {
      double span = s.roi_end - s.roi_start;
      double v = s.out_length == 1.0 ? span * (in - 1) / 2 : xd * span * (in - 1) / (s.out_length - 1);
      return v + s.roi_start * (in - 1);
    }
  }
  return xd;
}

namespace {

double cubic_coeff(double t, double a) {
  t = std::fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

}  // namespace

ResizeAxisTaps resize_axis_taps(const ResizeAxisSpec& s, const ResizeTapOptions& o) {
  ResizeAxisTaps t;
  t.taps = o.interp == ResizeInterp::kNearest ? 1 : o.interp == ResizeInterp::kLinear ? 2 : 4;
  const size_t n = static_cast<size_t>(s.out_len);
  t.index.assign(n * static_cast<size_t>(t.taps), 0);
  t.weight.assign(n * static_cast<size_t>(t.taps), 0.0);
  t.outside.assign(n, 0);
  const int64_t last = s.in_len - 1;
  for (size_t x = 0; x < n; ++x) {
    double c = resize_source_coord(s, o.coord, static_cast<int64_t>(x));
    if (o.coord == ResizeCoord::kTfCropAndResize && (c < 0 || c > static_cast<double>(last))) t.outside[x] = 1;
    double fl = std::floor(c);
    int64_t i0 = static_cast<int64_t>(fl);
    double r = c - fl;
    int64_t* idx = &t.index[x * static_cast<size_t>(t.taps)];
    double* w = &t.weight[x * static_cast<size_t>(t.taps)];
    if (o.interp == ResizeInterp::kNearest) {
      int64_t i = i0;
      if (r != 0) {
        switch (o.nearest) {
          case ResizeNearest::kRoundPreferFloor: i = r <= 0.5 ? i0 : i0 + 1; break;
          case ResizeNearest::kRoundPreferCeil: i = r < 0.5 ? i0 : i0 + 1; break;
          case ResizeNearest::kFloor: i = i0; break;
          case ResizeNearest::kCeil: i = i0 + 1; break;
        }
      }
      idx[0] = std::clamp<int64_t>(i, 0, last);
      w[0] = 1.0;
      continue;
    }
    if (o.interp == ResizeInterp::kLinear) {
      idx[0] = i0;
      idx[1] = i0 + 1;
      w[0] = 1 - r;
      w[1] = r;
    } else {
      for (int k = 0; k < 4; ++k) idx[k] = i0 - 1 + k;
      w[0] = cubic_coeff(1 + r, o.cubic_a);
      w[1] = cubic_coeff(r, o.cubic_a);
      w[2] = cubic_coeff(1 - r, o.cubic_a);
      w[3] = cubic_coeff(2 - r, o.cubic_a);
    }
    if (o.exclude_outside) {
      double sum = 0;
      for (int k = 0; k < t.taps; ++k) {
        if (idx[k] < 0 || idx[k] > last) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0) {
        for (int k = 0; k < t.taps; ++k) w[k] /= sum;
      }
    }
    for (int k = 0; k < t.taps; ++k) idx[k] = std::clamp<int64_t>(idx[k], 0, last);
    if (o.interp == ResizeInterp::kLinear && idx[0] == idx[1]) {
      // Both taps on the same (edge) element: take it exactly rather than a*(1-r) + a*r.
      w[0] = 1;
      w[1] = 0;
    }
  }
  t.identity = s.out_len == s.in_len;
  for (size_t x = 0; t.identity && x < n; ++x) {
    // Output x is the identity when its taps put weight exactly 1 on input x and 0 elsewhere.
    double on_x = 0;
    for (int k = 0; k < t.taps; ++k) {
      size_t j = x * static_cast<size_t>(t.taps) + static_cast<size_t>(k);
      if (t.index[j] == static_cast<int64_t>(x)) on_x += t.weight[j];
      else if (t.weight[j] != 0) t.identity = false;
    }
    if (on_x != 1.0 || t.outside[x]) t.identity = false;
  }
  return t;
}

bool resize_linear_taps_torch_f32(const ResizeAxisSpec& s, ResizeCoord coord, ResizeAxisTaps* taps) {
  const int64_t n = s.out_len, last = s.in_len - 1;
  float scale = 0.f;
  switch (coord) {
    case ResizeCoord::kHalfPixel:
    case ResizeCoord::kPytorchHalfPixel:
    case ResizeCoord::kAsymmetric:
      // Sizes: PyTorch's float in / out; scales: (float)(1 / scale_factor).
      scale = s.out_length == static_cast<double>(s.out_len)
                  ? static_cast<float>(s.in_len) / static_cast<float>(s.out_len)
                  : static_cast<float>(1.0 / s.scale);
      break;
    case ResizeCoord::kAlignCorners:
      scale = s.out_length == 1.0 ? 0.f : static_cast<float>(last) / static_cast<float>(s.out_length - 1);
      break;
    default: return false;
  }
  ResizeAxisTaps t;
  t.taps = 2;
  t.index.resize(static_cast<size_t>(2 * n));
  t.weight.resize(static_cast<size_t>(2 * n));
  t.outside.assign(static_cast<size_t>(n), 0);
  for (int64_t x = 0; x < n; ++x) {
    float src;
    if (coord == ResizeCoord::kAlignCorners || coord == ResizeCoord::kAsymmetric) {
      src = scale * static_cast<float>(x);
    } else if (coord == ResizeCoord::kPytorchHalfPixel && s.out_length == 1.0) {
      src = 0.f;
    } else {
      src = scale * (static_cast<float>(x) + 0.5f) - 0.5f;
    }
    if (src < 0.f) src = 0.f;
    int64_t i0 = std::min<int64_t>(static_cast<int64_t>(src), last);
    float lambda = src - static_cast<float>(i0);
    t.index[static_cast<size_t>(2 * x)] = i0;
    t.index[static_cast<size_t>(2 * x + 1)] = i0 < last ? i0 + 1 : i0;
    t.weight[static_cast<size_t>(2 * x)] = 1.f - lambda;
    t.weight[static_cast<size_t>(2 * x + 1)] = lambda;
  }
  *taps = std::move(t);
  return true;
}

ResizePlan plan_resize(const std::vector<int64_t>& in_dims, std::vector<ResizeAxisTaps> taps) {
  ResizePlan p;
  const size_t rank = in_dims.size();
  p.in_dims = in_dims;
  p.taps = std::move(taps);
  std::vector<int64_t> stride(rank, 1);
  for (size_t i = rank; i-- > 1;) stride[i - 1] = stride[i] * in_dims[i];
  p.ntaps.resize(rank);
  p.offset.resize(rank);
  p.weight.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    const ResizeAxisTaps& t = p.taps[d];
    size_t n = t.outside.size();
    p.out_dims.push_back(static_cast<int64_t>(n));
    if (t.identity) {
      p.ntaps[d] = 1;
      for (size_t x = 0; x < n; ++x) {
        p.offset[d].push_back(static_cast<int64_t>(x) * stride[d]);
        p.weight[d].push_back(1.0);
      }
      continue;
    }
    p.ntaps[d] = t.taps;
    for (size_t j = 0; j < t.index.size(); ++j) {
      p.offset[d].push_back(t.index[j] * stride[d]);
      p.weight[d].push_back(t.weight[j]);
    }
  }
  p.separable_2d = rank >= 2 && p.taps[rank - 1].taps <= 4 && p.taps[rank - 2].taps <= 4;
  for (size_t d = 0; p.separable_2d && d + 2 < rank; ++d) p.separable_2d = p.taps[d].identity;
  if (p.separable_2d && (p.in_dims[rank - 1] > INT32_MAX || p.in_dims[rank - 2] > INT32_MAX)) p.separable_2d = false;
  if (p.separable_2d) {
    const ResizeAxisTaps& th = p.taps[rank - 2];
    const ResizeAxisTaps& tw = p.taps[rank - 1];
    for (double w : th.weight) p.wy.push_back(static_cast<float>(w));
    for (double w : tw.weight) p.wx.push_back(static_cast<float>(w));
    for (int64_t i : th.index) p.iy.push_back(static_cast<int32_t>(i));
    for (int64_t i : tw.index) p.ix.push_back(static_cast<int32_t>(i));
  }
  return p;
}

template <typename T>
void resize_nd(ThreadPool* pool, const ResizePlan& p, const T* src, T* dst, double extrapolation) {
  const size_t rank = p.in_dims.size();
  int64_t total = 1;
  for (int64_t d : p.out_dims) total *= d;
  if (total == 0) return;
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t row = p.out_dims[rank - 1];
  const int64_t rows = total / row;
  auto body = [&](int64_t b, int64_t e) {
    int64_t pos[kMaxResizeRank], tap[kMaxResizeRank];
    for (int64_t r = b; r < e; ++r) {
      int64_t lin = r;
      bool row_outside = false;
      for (size_t d = rank - 1; d-- > 0;) {
        pos[d] = lin % p.out_dims[d];
        lin /= p.out_dims[d];
        row_outside = row_outside || p.taps[d].outside[static_cast<size_t>(pos[d])];
      }
      T* out = dst + r * row;
      for (int64_t x = 0; x < row; ++x) {
        pos[rank - 1] = x;
        if (row_outside || p.taps[rank - 1].outside[static_cast<size_t>(x)]) {
          out[x] = static_cast<T>(extrapolation);
          continue;
        }
        // Odometer over the taps of every axis.
        for (size_t d = 0; d < rank; ++d) tap[d] = 0;
        double acc = 0;
        for (;;) {
          double w = 1;
          int64_t off = 0;
          for (size_t d = 0; d < rank; ++d) {
            size_t j = static_cast<size_t>(pos[d] * p.ntaps[d] + tap[d]);
            w *= p.weight[d][j];
            off += p.offset[d][j];
          }
          if (w != 0) acc += w * static_cast<double>(src[off]);
          int d = static_cast<int>(rank) - 1;
          for (; d >= 0; --d) {
            if (++tap[d] < p.ntaps[static_cast<size_t>(d)]) break;
            tap[d] = 0;
          }
          if (d < 0) break;
        }
        out[x] = static_cast<T>(acc);
      }
    }
  };
  if (pool && total >= 4096) pool->parallel_for(rows, body, std::max<int64_t>(1, 4096 / row));
  else body(0, rows);
}

template void resize_nd<float>(ThreadPool*, const ResizePlan&, const float*, float*, double);
template void resize_nd<double>(ThreadPool*, const ResizePlan&, const double*, double*, double);

namespace {

// Output columns per block: the row cache (2 * 4 rows of a block) stays on the stack.
constexpr int64_t kColBlock = 512;
constexpr int kCacheSlots = 8;

// The horizontal pass of one input row over output columns [c0, c1).
inline void interp_row(const float* row, const int32_t* ix, const float* wx, int kx, int64_t c0, int64_t c1,
                       float* out) {
  if (kx == 2) {
    for (int64_t x = c0; x < c1; ++x) {
      const int32_t* i = ix + 2 * x;
      const float* w = wx + 2 * x;
      out[x - c0] = w[0] * row[i[0]] + w[1] * row[i[1]];
    }
    return;
  }
  for (int64_t x = c0; x < c1; ++x) {
    const int32_t* i = ix + kx * x;
    const float* w = wx + kx * x;
    float acc = w[0] * row[i[0]];
    for (int j = 1; j < kx; ++j) acc += w[j] * row[i[j]];
    out[x - c0] = acc;
  }
}

}  // namespace

void resize_2d_f32(ThreadPool* pool, const ResizePlan& p, const float* src, float* dst, float extrapolation) {
  const size_t rank = p.in_dims.size();
  const ResizeAxisTaps& th = p.taps[rank - 2];
  const ResizeAxisTaps& tw = p.taps[rank - 1];
  const int ky = th.taps, kx = tw.taps;
  const int64_t in_h = p.in_dims[rank - 2], in_w = p.in_dims[rank - 1];
  const int64_t out_h = p.out_dims[rank - 2], out_w = p.out_dims[rank - 1];
  int64_t planes = 1;
  for (size_t d = 0; d + 2 < rank; ++d) planes *= p.in_dims[d];
  if (planes * out_h * out_w == 0) return;
  bool any_outside_x = false;
  for (uint8_t o : tw.outside) any_outside_x = any_outside_x || o;
  auto body = [&](int64_t b, int64_t e) {
    alignas(64) float cache[kCacheSlots][kColBlock];
    int64_t cached_row[kCacheSlots];
    for (int64_t c0 = 0; c0 < out_w; c0 += kColBlock) {
      const int64_t c1 = std::min(out_w, c0 + kColBlock), n = c1 - c0;
      int64_t cached_plane = -1;
      for (int64_t r = b; r < e; ++r) {
        const int64_t pl = r / out_h, y = r - pl * out_h;
        float* out = dst + r * out_w + c0;
        if (th.outside[static_cast<size_t>(y)]) {
          std::fill(out, out + n, extrapolation);
          continue;
        }
        if (pl != cached_plane) {
          for (int64_t& c : cached_row) c = -1;
          cached_plane = pl;
        }
        const float* plane = src + pl * in_h * in_w;
        const int32_t* iy = &p.iy[static_cast<size_t>(ky * y)];
        const float* wy = &p.wy[static_cast<size_t>(ky * y)];
        // Horizontal rows of this output row's taps, reusing the ones the previous rows made.
        const float* rows[4];
        for (int k = 0; k < ky; ++k) {
          int slot = -1;
          for (int s = 0; s < kCacheSlots && slot < 0; ++s) {
            if (cached_row[s] == iy[k]) slot = s;
          }
          if (slot < 0) {
            // Evict a slot no tap of this output row uses.
            for (int s = 0; s < kCacheSlots && slot < 0; ++s) {
              bool used = false;
              for (int q = 0; q < ky; ++q) used = used || cached_row[s] == iy[q];
              if (!used) slot = s;
            }
            interp_row(plane + static_cast<int64_t>(iy[k]) * in_w, p.ix.data(), p.wx.data(), kx, c0, c1, cache[slot]);
            cached_row[slot] = iy[k];
          }
          rows[k] = cache[slot];
        }
        if (ky == 2) {
          const float h0 = wy[0], h1 = wy[1];
          const float* t0 = rows[0];
          const float* t1 = rows[1];
          for (int64_t x = 0; x < n; ++x) out[x] = h0 * t0[x] + h1 * t1[x];
        } else {
          for (int64_t x = 0; x < n; ++x) {
            float acc = wy[0] * rows[0][x];
            for (int k = 1; k < ky; ++k) acc += wy[k] * rows[k][x];
            out[x] = acc;
          }
        }
        if (any_outside_x) {
          for (int64_t x = 0; x < n; ++x) {
            if (tw.outside[static_cast<size_t>(c0 + x)]) out[x] = extrapolation;
          }
        }
      }
    }
  };
  const int64_t rows = planes * out_h;
  if (pool && rows * out_w >= 8192) pool->parallel_for(rows, body, std::max<int64_t>(4, 4096 / out_w));
  else body(0, rows);
}

}  // namespace qe::kernels

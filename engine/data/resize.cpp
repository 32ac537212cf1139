#include "engine/data/resize.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>

namespace qe {
namespace {

// One resampling axis: output i reads source pixels index[i*ksize + k] with weight[i*ksize + k]
// for k < count[i].
template <typename W>
struct Taps {
  int ksize = 0;
  std::vector<int> first;  // first source index of each output
  std::vector<int> count;
  std::vector<W> weight;
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL's precompute_coeffs for the triangle filter: the output pixel centre maps to
// (i + 0.5) * scale in source coordinates, and when downscaling with antialias the filter is
// stretched by the scale so every source pixel contributes. Weights are normalised per output.
Taps<double> pil_coefficients(int in_size, int out_size, bool antialias) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = (antialias && scale > 1.0) ? scale : 1.0;
  const double support = 1.0 * filterscale;
  Taps<double> t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weight.assign(static_cast<size_t>(out_size) * t.ksize, 0.0);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // PIL rounds the window ends with a truncating cast (+0.5); keep it bit-for-bit.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int n = std::min(xmax - xmin, t.ksize);
    double* k = &t.weight[static_cast<size_t>(i) * t.ksize];
    double total = 0.0;
    for (int x = 0; x < n; ++x) {
      k[x] = triangle((x + xmin - center + 0.5) / filterscale);
      total += k[x];
    }
    if (total != 0.0) {
      for (int x = 0; x < n; ++x) k[x] /= total;
    }
    t.first[i] = xmin;
    t.count[i] = n;
  }
  return t;
}

// PIL's fixed point: 32 bits minus 8 for the pixel and 2 of headroom for the sum.
constexpr int kPrecisionBits = 32 - 8 - 2;

Taps<int32_t> to_fixed_point(const Taps<double>& t) {
  Taps<int32_t> f;
  f.ksize = t.ksize;
  f.first = t.first;
  f.count = t.count;
  f.weight.resize(t.weight.size());
  for (size_t i = 0; i < t.weight.size(); ++i) {
    const double v = t.weight[i] * (1 << kPrecisionBits);
    f.weight[i] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
  }
  return f;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Float taps with explicit source indices: torch's two-tap form repeats the border pixel
// instead of shrinking the window, which a (first, count) range cannot express.
struct FloatTaps {
  int ksize = 0;
  std::vector<int> count;
  std::vector<int> index;  // [out * ksize]
  std::vector<float> weight;
};

// PyTorch's upsample_bilinear2d source index and lambdas (align_corners=False), including its
// float scale and the clamp at the left border, so the float path reproduces torch's values.
FloatTaps torch_linear_taps(int in_size, int out_size) {
  FloatTaps t;
  t.ksize = 2;
  t.count.assign(out_size, 2);
  t.index.resize(static_cast<size_t>(out_size) * 2);
  t.weight.resize(static_cast<size_t>(out_size) * 2);
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int i = 0; i < out_size; ++i) {
    float src = static_cast<float>(scale * (i + 0.5) - 0.5);
    if (src < 0.f) src = 0.f;
    const int i0 = std::min(static_cast<int>(src), in_size - 1);
    const float lambda1 = std::min(std::max(src - static_cast<float>(i0), 0.f), 1.f);
    t.index[2 * i] = i0;
    t.index[2 * i + 1] = i0 < in_size - 1 ? i0 + 1 : i0;
    t.weight[2 * i] = 1.f - lambda1;
    t.weight[2 * i + 1] = lambda1;
  }
  return t;
}

FloatTaps float_taps(int in_size, int out_size, bool antialias) {
  if (!antialias || in_size <= out_size) return torch_linear_taps(in_size, out_size);
  const Taps<double> d = pil_coefficients(in_size, out_size, true);
  FloatTaps f;
  f.ksize = d.ksize;
  f.count = d.count;
  f.index.resize(d.weight.size());
  f.weight.resize(d.weight.size());
  for (int i = 0; i < out_size; ++i) {
    for (int k = 0; k < d.ksize; ++k) {
      const size_t at = static_cast<size_t>(i) * d.ksize + k;
      f.index[at] = std::min(d.first[i] + k, in_size - 1);
      f.weight[at] = static_cast<float>(d.weight[at]);
    }
  }
  return f;
}

}  // namespace

Image resize_bilinear_u8(const Image& in, int out_h, int out_w, bool antialias) {
  assert(in.height > 0 && in.width > 0 && out_h > 0 && out_w > 0);
  const int c = in.channels;
  const bool need_h = out_w != in.width;
  const bool need_v = out_h != in.height;
  if (!need_h && !need_v) return in;

  const Taps<int32_t> th = to_fixed_point(pil_coefficients(in.width, out_w, antialias));
  const Taps<int32_t> tv = to_fixed_point(pil_coefficients(in.height, out_h, antialias));

  // Horizontal pass only over the rows the vertical pass reads (as PIL does).
  const int row_first = need_v ? tv.first.front() : 0;
  const int row_last = need_v ? tv.first.back() + tv.count.back() : in.height;
  Image tmp;
  const Image* src = &in;
  int src_row0 = 0;
  if (need_h) {
    tmp = Image(row_last - row_first, out_w, c);
    for (int y = row_first; y < row_last; ++y) {
      const uint8_t* row = &in.pixels[static_cast<size_t>(y) * in.width * c];
      uint8_t* dst = &tmp.pixels[static_cast<size_t>(y - row_first) * out_w * c];
      for (int x = 0; x < out_w; ++x) {
        const int32_t* k = &th.weight[static_cast<size_t>(x) * th.ksize];
        const uint8_t* p = row + static_cast<size_t>(th.first[x]) * c;
        for (int ch = 0; ch < c; ++ch) {
          int32_t acc = 1 << (kPrecisionBits - 1);
          for (int j = 0; j < th.count[x]; ++j) acc += p[j * c + ch] * k[j];
          dst[x * c + ch] = clip8(acc);
        }
      }
    }
    src = &tmp;
    src_row0 = row_first;
  }
  if (!need_v) return tmp;

  Image out(out_h, out_w, c);
  const size_t stride = static_cast<size_t>(out_w) * c;
  std::vector<int32_t> acc(stride);
  for (int y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &tv.weight[static_cast<size_t>(y) * tv.ksize];
    for (int j = 0; j < tv.count[y]; ++j) {
      const uint8_t* row = &src->pixels[static_cast<size_t>(tv.first[y] + j - src_row0) * stride];
      const int32_t w = k[j];
      for (size_t i = 0; i < stride; ++i) acc[i] += row[i] * w;
    }
    uint8_t* dst = &out.pixels[y * stride];
    for (size_t i = 0; i < stride; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

void resize_bilinear_f32(const float* in, int channels, int in_h, int in_w, float* out, int out_h, int out_w,
                         bool antialias) {
  assert(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0);
  const FloatTaps th = float_taps(in_w, out_w, antialias);
  const FloatTaps tv = float_taps(in_h, out_h, antialias);
  std::vector<float> tmp(static_cast<size_t>(in_h) * out_w);
  for (int c = 0; c < channels; ++c) {
    const float* plane = in + static_cast<size_t>(c) * in_h * in_w;
    for (int y = 0; y < in_h; ++y) {
      const float* row = plane + static_cast<size_t>(y) * in_w;
      float* dst = &tmp[static_cast<size_t>(y) * out_w];
      for (int x = 0; x < out_w; ++x) {
        const size_t at = static_cast<size_t>(x) * th.ksize;
        float acc = 0.f;
        for (int j = 0; j < th.count[x]; ++j) acc += row[th.index[at + j]] * th.weight[at + j];
        dst[x] = acc;
      }
    }
    float* oplane = out + static_cast<size_t>(c) * out_h * out_w;
    for (int y = 0; y < out_h; ++y) {
      const size_t at = static_cast<size_t>(y) * tv.ksize;
      float* dst = oplane + static_cast<size_t>(y) * out_w;
      std::fill(dst, dst + out_w, 0.f);
      for (int j = 0; j < tv.count[y]; ++j) {
        const float* row = &tmp[static_cast<size_t>(tv.index[at + j]) * out_w];
        const float w = tv.weight[at + j];
        for (int x = 0; x < out_w; ++x) dst[x] += row[x] * w;
      }
    }
  }
}

}  // namespace qe

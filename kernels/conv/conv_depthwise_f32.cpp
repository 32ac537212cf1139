// Depthwise conv: geometry and the padded plane copy shared by the ISA variants.
#include <algorithm>
#include <cstring>

#include "kernels/conv/conv_depthwise_internal.h"

namespace qe::kernels {

bool conv_is_depthwise(const ConvF32Params& p) {
  return p.group > 1 && p.group == p.in_channels && p.group == p.out_channels && p.kernel[0] == 1 &&
         p.in[0] == 1 && p.out[0] == 1;
}

DepthwiseGeometry plan_depthwise(const ConvF32Params& p) {
  DepthwiseGeometry g;
  g.rows = (p.out[1] - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] + 1;
  const int64_t cols = (p.out[2] - 1) * p.stride[2] + (p.kernel[2] - 1) * p.dilation[2] + 1;
  // Each phase row holds the outputs' reach plus a vector of slack, rounded for alignment.
  g.phase_len = round_up((cols + p.stride[2] - 1) / p.stride[2], 16);
  g.row_stride = g.phase_len * p.stride[2];
  g.scratch_floats = g.rows * g.row_stride + 32;
  g.in_place = p.stride[2] == 1;
  if (g.in_place) g.scratch_floats = round_up(p.in[2] + p.kernel[2] * p.dilation[2], 16) + 128;
  // The specialised 3x3 path reads in place at any stride and needs a zero row.
  if (depthwise3x3_supported(p)) g.scratch_floats = std::max(g.scratch_floats, round_up(p.in[2] + 48, 16) + 64);
  if (depthwise_use_channels16(p)) g.scratch_floats = std::max(g.scratch_floats, depthwise_channels16_scratch(p));
  return g;
}

void depthwise_pad_plane(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x_plane, float* dst) {
  const int64_t sw = p.stride[2], iH = p.in[1], iW = p.in[2];
  for (int64_t r = 0; r < g.rows; ++r) {
    const int64_t ih = r - p.pad[1];
    float* row = dst + r * g.row_stride;
    if (ih < 0 || ih >= iH) {
      std::fill(row, row + g.row_stride, 0.f);
      continue;
    }
    const float* src = x_plane + ih * iW;
    for (int64_t f = 0; f < sw; ++f) {
      float* out = row + f * g.phase_len;
      // Column j of phase f is padded column j * sw + f, input column j * sw + f - pad.
      const int64_t ix0 = f - p.pad[2];
      int64_t lo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
      int64_t hi = ix0 >= iW ? 0 : (iW - 1 - ix0) / sw + 1;
      lo = std::min(lo, g.phase_len);
      hi = std::max(lo, std::min(hi, g.phase_len));
      std::fill(out, out + lo, 0.f);
      if (sw == 1) {
        std::memcpy(out + lo, src + ix0 + lo, static_cast<size_t>(hi - lo) * sizeof(float));
      } else {
        for (int64_t j = lo; j < hi; ++j) out[j] = src[ix0 + j * sw];
      }
      std::fill(out + hi, out + g.phase_len, 0.f);
    }
  }
  std::fill(dst + g.rows * g.row_stride, dst + g.scratch_floats, 0.f);
}

DepthwisePlane depthwise_plane_geometry(const ConvF32Params& p, const DepthwiseGeometry& g, float* scratch) {
  DepthwisePlane pl{};
  pl.oH = p.out[1];
  pl.oW = p.out[2];
  pl.kh = static_cast<int>(p.kernel[1]);
  pl.kw = static_cast<int>(p.kernel[2]);
  pl.sh = p.stride[1];
  pl.dh = p.dilation[1];
  pl.in_place = g.in_place;
  if (g.in_place) {
    std::fill(scratch, scratch + g.scratch_floats, 0.f);
    pl.zero_row = scratch;
    pl.in_rows = p.in[1];
    pl.row_len = p.in[2];
    pl.ph = p.pad[1];
    pl.col_valid = p.in[2];
    for (int j = 0; j < pl.kw; ++j) pl.col_off[j] = j * p.dilation[2] - p.pad[2];
  } else {
    pl.zero_row = scratch;  // unused: the copy covers every row the taps reach
    pl.x = scratch;
    pl.in_rows = g.rows;
    pl.row_len = g.row_stride;
    pl.ph = 0;
    pl.col_valid = g.row_stride;  // the copy is zero-padded and has slack: no masking needed
    for (int j = 0; j < pl.kw; ++j) {
      const int64_t t = j * p.dilation[2];
      pl.col_off[j] = (t % p.stride[2]) * g.phase_len + t / p.stride[2];
    }
  }
  return pl;
}

}  // namespace qe::kernels

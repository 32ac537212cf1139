// Pieces shared by the depthwise translation units (not part of the kernels' interface).
#pragma once

#include "kernels/conv/conv_f32.h"

namespace qe::kernels {

// One (image, channel) plane as the generic depthwise loops of every ISA see it.
constexpr int kDepthwiseMaxTaps = 64;
struct DepthwisePlane {
  const float* x;         // input plane, or its padded phase copy
  const float* zero_row;  // for rows outside the input (in-place mode)
  const float* w;
  float bias;
  float* y;
  int64_t oH, oW;
  int64_t in_rows, row_len;              // rows of `x` and floats between them
  int64_t sh, dh, ph;                    // row stride, dilation, padding (ph = 0 for the padded copy)
  int64_t col_valid;                     // in-place mode: input width (columns past it read zero)
  int64_t col_off[kDepthwiseMaxTaps];    // per kw: column offset of the tap for output column 0
  int kh, kw;
  bool in_place;
};

// The geometry part of a plane (everything but x, w, bias, y), for `g`'s layout; zeroes the
// in-place zero row in `scratch`. Compiled without ISA flags (conv_depthwise_f32.cpp).
DepthwisePlane depthwise_plane_geometry(const ConvF32Params& p, const DepthwiseGeometry& g, float* scratch);

// 3x3, stride 1 or 2 (same on both axes), no dilation, any padding: the specialised in-place
// path (conv_depthwise3x3_f32_avx512.cpp).
bool depthwise3x3_supported(const ConvF32Params& p);
// One (image, channel) plane. zero_row: zeros, at least W + 48 floats.
void depthwise3x3_plane_avx512(const ConvF32Params& p, const float* x, const float* w, float bias, float* y,
                               const float* zero_row);

// Narrow planes (output width <= 16): 16 channels per vector instead of 16 columns
// (conv_depthwise_nhwc_f32_avx512.cpp).
inline bool depthwise_use_channels16(const ConvF32Params& p) { return p.out[2] <= 16 && p.kernel[1] * p.kernel[2] <= 64; }
int64_t depthwise_channels16_scratch(const ConvF32Params& p);
// Planes of channels c..c+n-1 (n <= 16) of one image: x, w, bias, y point at channel c.
void depthwise_channels16_avx512(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y,
                                 int n, float* scratch);

}  // namespace qe::kernels

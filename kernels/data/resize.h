// Resize (ONNX Resize / Upsample): per-axis tap tables from the coordinate transformation, then
//   nearest  -> the caller builds axis maps for kernels/data/axis_map (any dtype);
//   linear / cubic, float or double -> resize_nd(): every output element is the sum over the
//              product of its taps on each axis, accumulated in double;
//   float linear / cubic over the last two axes (every other axis the identity) -> resize_2d_f32:
//              separable in float, rows first: out = sum_k h_k * (sum_j w_j * x[row_k][col_j]),
//              which for linear is h0 * (w0 * a + w1 * b) + h1 * (w0 * c + w1 * d), PyTorch's
//              order; horizontally interpolated rows are cached across output rows.
// The coordinate maps and tap rules follow the ONNX reference implementation (op_resize.py):
// indices outside the input clamp to the edge, exclude_outside zeroes and renormalises them.
#pragma once

#include <cstdint>
#include <vector>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

enum class ResizeCoord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn,
                         kTfCropAndResize };
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class ResizeInterp { kNearest, kLinear, kCubic };

struct ResizeAxisSpec {
  int64_t in_len = 1;
  int64_t out_len = 1;
  double scale = 1.0;       // output / input as the coordinate mapping uses it
  double out_length = 1.0;  // in_len * scale before flooring
  double roi_start = 0.0;   // tf_crop_and_resize
  double roi_end = 1.0;
};

struct ResizeAxisTaps {
  int taps = 1;                  // per output index: 1 nearest, 2 linear, 4 cubic
  std::vector<int64_t> index;    // out_len * taps, clamped into [0, in_len)
  std::vector<double> weight;    // out_len * taps
  std::vector<uint8_t> outside;  // per output index: maps outside the input (extrapolate)
  bool identity = false;         // out_len == in_len and output i is input i
};

// Source coordinate of output index x.
double resize_source_coord(const ResizeAxisSpec& s, ResizeCoord coord, int64_t x);

struct ResizeTapOptions {
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeInterp interp = ResizeInterp::kNearest;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
};
ResizeAxisTaps resize_axis_taps(const ResizeAxisSpec& s, const ResizeTapOptions& o);

// Linear taps computed in float the way PyTorch's upsample_*linear kernels do (scale in / out
// or 1 / scale_factor as a float, src = scale * (dst + 0.5) - 0.5 clamped at 0, lambda =
// src - floor(src), the second tap dropping back onto the first at the last element), so the
// float 2-D path agrees with PyTorch's bilinear bit for bit. Only for kHalfPixel, kPytorchHalfPixel,
// kAlignCorners and kAsymmetric; false otherwise.
bool resize_linear_taps_torch_f32(const ResizeAxisSpec& s, ResizeCoord coord, ResizeAxisTaps* taps);

constexpr int kMaxResizeRank = 8;

// Everything resize_nd / resize_2d_f32 need, built once per shape.
struct ResizePlan {
  std::vector<int64_t> in_dims, out_dims;
  std::vector<ResizeAxisTaps> taps;
  // Per axis: taps per output index (1 for identity axes), element offsets and weights.
  std::vector<int> ntaps;
  std::vector<std::vector<int64_t>> offset;
  std::vector<std::vector<double>> weight;
  // resize_2d_f32: the last two axes interpolate, every other axis is the identity.
  bool separable_2d = false;
  std::vector<float> wy, wx;          // float weights of the last two axes' taps
  std::vector<int32_t> iy, ix;        // their input indices
};
// taps[d] for every dim of in_dims (rank <= kMaxResizeRank).
ResizePlan plan_resize(const std::vector<int64_t>& in_dims, std::vector<ResizeAxisTaps> taps);

// N-d tap-product resize (the reference for every interpolation mode).
template <typename T>
void resize_nd(ThreadPool* pool, const ResizePlan& p, const T* src, T* dst, double extrapolation);

// Requires p.separable_2d.
void resize_2d_f32(ThreadPool* pool, const ResizePlan& p, const float* src, float* dst, float extrapolation);

}  // namespace qe::kernels

// Integer depthwise convolution over NCHW planes (2-D; a 1-D conv uses H = 1).
//
//   acc[n,c,oh,ow] = bias[c] + Σ_{i<kh, j<kw} (x[n,c,ih,iw] - zp_in) * w[c,i,j],
//   ih = oh*sh + i*dh - pad_top, iw = ow*sw + j*dw - pad_left (taps outside the input add 0,
//   i.e. padding holds the zero point),
//   y = requantize_ref(acc, requant.channel(c)) as u8/s8, or float(acc) * dequant[c] as fp32.
//
// X is u8 or s8 with one zero point, W is s8 [C, kh, kw] (symmetric, per-channel scale folded
// into the multipliers), bias is int32 [C] or null. Depth multiplier 1.
//
// Every path first copies a plane into scratch as int16 (x - zp) with zero padding around it.
// The vector paths (stride_w 1 or 2, dilation_w 1, any kernel) then read two horizontally
// adjacent taps as one int32 lane and multiply-add them against a (w_j, w_j+1) pair with
// vpmaddwd: exact (|x - zp| <= 255, |w| <= 128), two taps per instruction. Stride 2 makes
// consecutive lanes consecutive outputs; stride 1 computes even and odd output columns as two
// vectors and interleaves them before the store. 3x3 and 5x5 keep their weight pairs in
// registers. Other strides and dilations run the scalar loop over the same padded copy.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"
#include "kernels/int8/requantize.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct QDepthwiseParams {
  int64_t batch = 1;
  int64_t channels = 0;
  int64_t in[2] = {1, 1};  // H, W
  int64_t out[2] = {1, 1};
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad[2] = {0, 0};  // top, left; the end padding follows from `out`
  bool in_signed = false;   // X is int8, else uint8
  int32_t in_zero_point = 0;

  int64_t in_size() const { return in[0] * in[1]; }
  int64_t out_size() const { return out[0] * out[1]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1]; }
  int64_t planes() const { return batch * channels; }
};

enum class QOutType : uint8_t { kU8 = 0, kS8 = 1, kF32 = 2 };

// Output side: requantized u8/s8 (the clamp range expresses a fused Relu/Relu6), or fp32 for a
// region exit: y = static_cast<float>(acc) * dequant[c] (one fp32 multiply).
struct QDepthwiseOutput {
  QOutType type = QOutType::kU8;
  RequantParams requant;           // kU8, kS8
  const float* dequant = nullptr;  // kF32: per channel, s_in * s_w[c]
};

// The plain reference: every output by the formula above, all planes.
void qdepthwise_ref(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                    const QDepthwiseOutput& o, void* y);

// Bytes of scratch one worker needs (the padded int16 plane plus slack for vector over-reads).
int64_t qdepthwise_scratch_bytes(const QDepthwiseParams& p);

// Planes [plane_begin, plane_end), flattened as image * C + c; x, y point at the whole tensors.
using QDepthwiseFn = void (*)(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                              const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch);
void qdepthwise_generic(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                        const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch);
void qdepthwise_avx2(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                     const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch);
void qdepthwise_avx512(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                       const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch);
// The kernel for exactly `level` (kScalar: qdepthwise_generic). Every one handles any geometry.
QDepthwiseFn qdepthwise_ukernel(IsaLevel level);
// Name for logs: "qdepthwise_avx512", ...
const char* qdepthwise_ukernel_name(IsaLevel level);

// Whole tensor on `pool` (null: inline) with at most `num_slots` workers; `workspace` holds
// qdepthwise_workspace_bytes(p, num_slots) bytes. Tasks are runs of planes fixed by the shape
// (whole images, or runs of channels in multiples of 16 within one image, so the channel-group
// path sees whole groups), so results do not depend on the thread count.
int64_t qdepthwise_workspace_bytes(const QDepthwiseParams& p, int num_slots);
void qdepthwise_run(QDepthwiseFn fn, const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                    const QDepthwiseOutput& o, void* y, ThreadPool* pool, void* workspace, int num_slots);

// ---- shared by the per-ISA files (not part of the interface) ------------------------------
struct QDwLayout {
  int64_t rows = 0;     // padded rows the taps reach
  int64_t row_len = 0;  // int16 per padded row (covers every vector over-read)
  int64_t top = 0, left = 0;
  int64_t elems = 0;    // int16 in the scratch plane including trailing slack
};
QDwLayout qdw_layout(const QDepthwiseParams& p);
// Zeroes the whole padded plane (once per call: the padding never changes).
void qdw_clear(const QDwLayout& l, int16_t* dst);
// Writes x_plane - zp into the interior of the padded plane.
void qdw_fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst);
// Weights of one channel as (w[i][2q], w[i][2q+1]) int16 pairs, the second 0 past the row's end:
// wp[i * ceil(kw/2) + q].
void qdw_weight_pairs(const int8_t* wc, int64_t kh, int64_t kw, int32_t* wp);
constexpr int64_t kQdwMaxPairs = 512;  // vector paths: kh * ceil(kw / 2) at most this
// The scalar loop for planes [p0, p1) (also the fallback of the vector files).
void qdw_generic_planes(const QDepthwiseParams& p, const QDwLayout& l, const void* x, const int8_t* w,
                        const int32_t* bias, const QDepthwiseOutput& o, void* y, int64_t p0, int64_t p1, int16_t* buf);

// Channels-in-lanes path for small planes (qdepthwise_cl_avx512.cpp). Per image and group of 16
// channels: the input bytes are transposed into B[row][col][16 channels] (padding holds the zero
// point), then P[row][col] = 16 int32 lanes of the int16 pair (x[row][col] - zp, x[row][col+dw] - zp),
// so one vpmaddwd applies two horizontal taps to 16 channels; every output pixel is a few
// multiply-adds, the vector requantization with per-channel lanes, and a transpose back to NCHW.
// It handles any stride, dilation and kernel; it is chosen when the planes are narrow (out W <= 16)
// and small, where the row-in-lanes loops leave most lanes empty.
struct QDwClLayout {
  int64_t rows = 0;      // padded rows the taps reach
  int64_t pcols = 0;     // columns of P (pair starts the taps reach)
  int64_t bcols = 0;     // columns of B (pcols + dw: the second element of the last pair)
  int64_t col_step = 1;  // only every col_step-th column of P is read (gcd of sw and 2 * dw)
  int64_t np = 0;        // tap pairs per kernel row
  int64_t b_off = 0, p_off = 0, o_off = 0, bytes = 0;  // byte offsets of B, P, O in the scratch
};
constexpr int64_t kQdwClLanes = 16;
constexpr int64_t kQdwClMaxOutW = 16;
constexpr int64_t kQdwClMaxCells = 1024;  // rows * pcols: P stays within 64 KB
QDwClLayout qdw_cl_layout(const QDepthwiseParams& p);
bool qdw_cl_accepts(const QDepthwiseParams& p);
void qdepthwise_cl_avx512(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                          const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch);

}  // namespace qe::kernels

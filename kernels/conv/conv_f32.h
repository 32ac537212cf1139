// Float convolution kernels over NCHW tensors. Spatial geometry is always 3-D (D, H, W):
// Conv1D and Conv2D use leading dims of 1, so one set of loops serves every rank.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/gemm/gemm_f32.h"

namespace qe::kernels {

struct ConvF32Params {
  int64_t batch = 1;
  int64_t in_channels = 0;   // of X, all groups
  int64_t out_channels = 0;  // of Y, all groups
  int64_t group = 1;
  int64_t in[3] = {1, 1, 1};  // input D, H, W
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};  // at the beginning; the end padding follows from `out`
  Activation act;

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// Conv: W is [Cout, Cin/group, kD, kH, kW]; bias may be null. Y = act(conv(X, W) + bias).
void conv_f32_ref(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y);

// ConvTranspose: W is [Cin, Cout/group, kD, kH, kW]. Input position i with tap t lands on
// output position i * stride + t * dilation - pad (dropped when outside the output);
// output_padding is already part of `out`.
void conv_transpose_f32_ref(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y);

// ---------------------------------------------------------------------------------------------
// Conv as GEMM (conv_gemm_f32.cpp), one GEMM per group:
//   direct:     Y_g[Cout_g, P] = W_g[Cout_g, K] x im2col(X_g)[K, P]   per image
//   transposed: Y_g^T[B*P, Cout_g] = im2col^T[B*P, K] x W_g^T[K, Cout_g], all images at once,
//               then transposed into NCHW. Chosen when P (output positions) is small: the
//               GEMM's vector dimension becomes the channels and the batch fills the rows.
// K = Cin_g * kernel size. Pointwise convs (1x1, stride 1, no pad) read X as the matrix.

// im2col reads the input through a "phase" copy: zero-padded, and for stride s split into
// s x s (x s) planes by (row mod s, column mod s), so that for every tap the positions of an
// output row map to a contiguous run of one plane. Stride 1 without padding reads X as is.
struct Im2colLayout {
  bool identity = true;    // X itself (stride 1, no padding)
  int64_t dims[3] = {};    // phase plane D, H, W
  int64_t phases = 1;      // product of the strides
  int64_t plane = 0;       // floats of one phase plane
  int64_t chan_stride = 0;  // floats per channel (phases * plane)
  int64_t image_stride = 0;
  int64_t images = 0;
  std::vector<int64_t> taps;  // per K row (c, kd, kh, kw) of a group: its offset in the copy
  int64_t floats() const;     // of the whole copy (0 when identity)
};
Im2colLayout plan_im2col_layout(const ConvF32Params& p);
// Writes the phase copy of (image, channel) pairs [bc0, bc1), flattened as image * Cin + c.
void im2col_prepare(const ConvF32Params& p, const Im2colLayout& l, const float* x, float* xp, int64_t bc0,
                    int64_t bc1);

// A run of consecutive im2col rows (output positions) within one output row and one panel.
struct Im2colChunk {
  int64_t dst_off;  // panel * kc * width + lane
  int64_t src_off;  // of the first position in the copy
  int64_t len;
};
// For k in [0, kc): copies `len` floats of every chunk from base + taps[k] + src_off to
// dst + k * width + dst_off. Per-ISA forms of the innermost im2col loop.
using Im2colCopyFn = void (*)(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps,
                              int64_t kc, int width, float* dst);
void im2col_copy_avx512(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps, int64_t kc,
                        int width, float* dst);
void im2col_copy_avx2(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps, int64_t kc,
                      int width, float* dst);

// Rows of the im2col matrix (output positions) x K block, packed in panels straight from the
// phase copy (no intermediate im2col matrix). In direct mode item = image * group + g and rows
// are one image's positions; in transposed mode item = g and rows run over batch * positions.
class Im2colPacker final : public PanelPacker {
 public:
  Im2colPacker(const ConvF32Params& p, const Im2colLayout& l, const float* xp, bool rows_span_images);
  void pack(int64_t item, int64_t k0, int64_t kc, int64_t r0, int64_t rc, int width, float* dst) const override;

 private:
  const ConvF32Params& p_;
  const Im2colLayout& l_;
  const float* xp_;
  bool span_images_;
  Im2colCopyFn copy_;
};

// Whether the conv is a pointwise GEMM on the input as is (1x1 kernel, stride 1, no padding).
bool conv_is_pointwise(const ConvF32Params& p);

struct ConvGemmPlan {
  const GemmF32Config* cfg = nullptr;
  ConvF32Params p;
  bool transposed = false;
  int64_t M = 0, N = 0, K = 0;  // of each GEMM run
  int64_t gemms = 0;            // batch * group (direct) or group (transposed)
  GemmTiling tiling;
  int slots = 1;                // scratch slots (threads)
  int64_t slot_stride = 0;      // floats per slot
  int64_t ct_floats = 0;        // transposed mode: Y^T staging, after the slots
  int64_t a_full_floats = 0;    // transposed mode: im2col^T packed once per call, after Y^T
  int64_t b_full_floats = 0;    // direct mode with several M tiles: im2col packed once, after that
  Im2colLayout im2col;          // its phase copy goes last in the scratch
};
// `prepacked`: the weights are packed ahead by conv_gemm_pack_weights. kAuto picks the
// orientation with less tail waste; tests force each one.
enum class ConvGemmMode { kAuto, kDirect, kTransposed };
ConvGemmPlan plan_conv_gemm(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads, bool prepacked,
                            ConvGemmMode mode = ConvGemmMode::kAuto);
int64_t conv_gemm_packed_weights_floats(const ConvGemmPlan& plan);
void conv_gemm_pack_weights(const ConvGemmPlan& plan, const float* w, float* dst);
inline int64_t conv_gemm_scratch_floats(const ConvGemmPlan& plan) {
  return plan.slot_stride * plan.slots + plan.ct_floats + plan.a_full_floats + plan.b_full_floats +
         plan.im2col.floats();
}
// w_packed from conv_gemm_pack_weights, or null to pack `w` per tile (dynamic weights).
void conv_f32_gemm(const ConvGemmPlan& plan, ThreadPool& pool, const float* x, const float* w_packed, const float* w,
                   const float* bias, float* y, float* scratch);

// ---------------------------------------------------------------------------------------------
// Winograd F(4x4, 3x3) for 3x3 stride-1 undilated convs with group 1 (conv_winograd_f32.cpp):
// every 4x4 output tile is A^T [ (G g G^T) . (B^T d B) ] A, so the 36 products of one tile
// position across channels form 36 GEMMs of Cout x Cin x tiles, 4x fewer multiplies than the
// direct conv. Transforms run with the 16 lanes over 16 tiles of one tile row (AVX-512 only).
struct WinogradPlan {
  const GemmF32Config* cfg = nullptr;
  ConvF32Params p;
  int64_t tiles_h = 0, tiles_w = 0;  // per image
  int64_t chunk_images = 1;          // images per pass (bounds the transformed buffers)
  int64_t chunk_tiles = 0;           // tiles per full chunk
  GemmTiling tiling;                 // of one tile-position GEMM (M = Cout, N = chunk tiles, K = Cin)
  int slots = 1;
  int64_t v_floats = 0;              // transformed input of a chunk, 36 x Cin x chunk tiles
  int64_t m_floats = 0;              // GEMM results of a chunk, 36 x Cout x chunk tiles
  int64_t slot_floats = 0;           // per thread: B panels packed from V
  int64_t scratch_floats() const { return v_floats + m_floats + slot_floats * slots; }
};
bool winograd_supported(const ConvF32Params& p);
WinogradPlan plan_conv_winograd(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads);
int64_t winograd_packed_weights_floats(const WinogradPlan& plan);
// U = G g G^T per (Cout, Cin), computed in double, packed as 36 A operands.
void winograd_pack_weights(const WinogradPlan& plan, const float* w, float* dst);
void conv_f32_winograd(const WinogradPlan& plan, ThreadPool& pool, const float* x, const float* u_packed,
                       const float* bias, float* y, float* scratch);

// Per-ISA transforms. Input: the 36 transformed values of tiles [tw0, tw0 + n) (n <= 16) of tile
// row th of one channel plane, value xi of tile tw0 + lane written to dst[xi] + lane. Output: the 4x4 outputs of those tiles from m[xi] + lane, plus bias,
// activation.
void winograd_input_tiles_avx512(const ConvF32Params& p, const float* x_channel, int64_t th, int64_t tw0, int n,
                                 float* const* dst);
void winograd_output_tiles_avx512(const ConvF32Params& p, const float* const* m, float bias, int64_t th, int64_t tw0,
                                  int n, float* y_channel);

// ---------------------------------------------------------------------------------------------
// ConvTranspose as GEMM + col2im (conv_transpose_gemm_f32.cpp), per image and group:
//   cols[Cout_g * k, in positions] = W_g^T [Cout_g * k, Cin_g] x X_g [Cin_g, in positions]
// then every column entry is added to the output position it lands on; bias and activation
// last. The GEMM reads X in place (full panels), W^T is prepacked.
struct ConvTransposeGemmPlan {
  const GemmF32Config* cfg = nullptr;
  ConvF32Params p;
  int64_t M = 0, N = 0, K = 0;  // Cout_g * kernel size, input positions, Cin_g
  GemmTiling tiling;
  int slots = 1;
  int64_t slot_stride = 0;
  int64_t cols_floats = 0;  // one image's columns, all groups
  int64_t scratch_floats() const { return slot_stride * slots + cols_floats; }
};
ConvTransposeGemmPlan plan_conv_transpose_gemm(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads);
int64_t conv_transpose_packed_weights_floats(const ConvTransposeGemmPlan& plan);
void conv_transpose_pack_weights(const ConvTransposeGemmPlan& plan, const float* w, float* dst);
void conv_transpose_f32_gemm(const ConvTransposeGemmPlan& plan, ThreadPool& pool, const float* x, const float* w_packed,
                             const float* bias, float* y, float* scratch);

// ---------------------------------------------------------------------------------------------
// Depthwise (group == Cin == Cout), 1-D or 2-D, any kernel, stride, dilation and padding
// (conv_depthwise_f32*.cpp). With stride 1 along W the kernels read X in place (masked loads
// give the zero padding); otherwise each (image, channel) plane is copied zero-padded into
// scratch with its columns split by stride phase, so every tap of a run of outputs along W is
// one contiguous vector load. Bias and activation are applied before the store.
struct DepthwiseGeometry {
  bool in_place = false;  // stride 1 along W: scratch only holds a zero row
  int64_t rows = 0;       // padded rows the taps reach
  int64_t phase_len = 0;  // floats of one stride phase of a padded row
  int64_t row_stride = 0;  // stride phases * phase_len
  int64_t scratch_floats = 0;  // one padded plane (or zero row) plus slack for vector over-reads
};
DepthwiseGeometry plan_depthwise(const ConvF32Params& p);
bool conv_is_depthwise(const ConvF32Params& p);

// Planes [plane_begin, plane_end), flattened as image * C + c; `scratch` holds
// DepthwiseGeometry::scratch_floats floats.
using DepthwiseFn = void (*)(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x, const float* w,
                             const float* bias, float* y, int64_t plane_begin, int64_t plane_end, float* scratch);
void conv_f32_depthwise_avx512(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x, const float* w,
                               const float* bias, float* y, int64_t plane_begin, int64_t plane_end, float* scratch);
void conv_f32_depthwise_avx2(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x, const float* w,
                             const float* bias, float* y, int64_t plane_begin, int64_t plane_end, float* scratch);
// The padded, phase-split copy of one input plane (shared by the ISA variants).
void depthwise_pad_plane(const ConvF32Params& p, const DepthwiseGeometry& g, const float* x_plane, float* dst);

}  // namespace qe::kernels

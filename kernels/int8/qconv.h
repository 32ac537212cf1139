// Integer convolution over NCHW (uint8 or int8 activations, int8 / int4 weights, groups, any
// stride, dilation and padding) as one kConv qgemm per (image, group):
//   Y_g[Cout_g, P] = W_g[Cout_g, K] x im2col(X_g)[K, P],   K = Cin_g * kernel size.
// A pointwise conv (1x1, stride 1, no padding) reads X as the matrix; otherwise the im2col
// panels are written from X, positions outside the image holding the input zero point so that
// they add nothing: 2-D convs copy the input rows a pixel chunk needs once per channel into a
// padded band and cut each K row from it as strided runs (any kernel, stride, padding,
// dilation; panels may wrap image rows), 3-D ones go lane by lane. Spatial geometry is 3-D (D, H, W) with leading 1s for 1-D
// and 2-D convs, as in conv_f32.h. Depthwise convs have their own kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/int8/qgemm.h"

namespace qe::kernels {

struct QConvParams {
  int64_t batch = 1;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};  // at the beginning; the end padding follows from `out`

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t gemm_k() const { return in_channels / group * kernel_size(); }
};

// The activation side of a conv: X (uint8 or int8) and its zero point in the stored type.
struct QConvInput {
  const void* x = nullptr;
  bool is_signed = false;
  int32_t zero_point = 0;
};

// Direct loops over (image, channel, output position, input channel, taps); W is
// [Cout, Cin/group, kD, kH, kW] described by `w` (channels = Cout, ld = K, not k-major).
void qconv_ref(const QConvParams& p, const QConvInput& in, const QWeightsSrc& w, const int32_t* bias,
               const QOutput& out, void* y);

// Weights packed per group (a group's channels start a fresh 8-row panel).
struct QConvWeights {
  std::vector<PackedQWeights> groups;
};
QConvWeights pack_qconv_weights(const QConvParams& p, const QWeightsSrc& w);

struct QConvPlan {
  QConvParams p;
  QGemmPlan gemm;                 // M = Cout_g, N = output positions, K, batch = images x groups
  bool pointwise = false;
  IsaLevel pack_level = IsaLevel::kScalar;  // of the im2col packer's vector steps (cpu_features().level)
  bool pack_permute = false;      // AVX-512 VBMI byte-permute packing (pack_level >= kAvx512 and the CPU has it)
  std::vector<int32_t> tap_c;     // per K row: input channel within the group
  std::vector<int32_t> tap_d, tap_h, tap_w;  // per K row: kernel offsets times the dilation
  int64_t scratch_bytes() const { return gemm.scratch_bytes(); }
};
QConvPlan plan_qconv(const QConvParams& p, int num_threads, const QGemmIsa* isa = nullptr);

// `scratch`: plan.scratch_bytes() bytes, 64-byte aligned.
void qconv(const QConvPlan& plan, ThreadPool& pool, const QConvWeights& w, const QConvInput& in,
           const int32_t* bias, const QOutput& out, void* y, uint8_t* scratch);

// 4 rows of 64 bytes, XOR `flip`, interleaved into 4 panels of 16 lanes x 4 bytes, panel i at
// dst + i * panel_stride (the 64-pixel form of qinterleave4x16; AVX-512BW).
void qinterleave4x64_avx512(const uint8_t* const rows[4], uint8_t flip, uint8_t* dst, int64_t panel_stride);

// One quad (4 K rows) of every 16-pixel panel of a chunk, straight from the bands: panel i's
// lane l of K row j is src[j][base[i] + idx[64 i + 4 l + j]], XOR `flip`, stored at
// dst + i * panel_stride. Every src[j] + base[i] must have 64 readable bytes. AVX-512 VBMI.
void qim2col_quad_permute_avx512(const uint8_t* const src[4], const int64_t* base, const uint8_t* idx,
                                 int64_t panels, uint8_t flip, uint8_t* dst, int64_t panel_stride);

// im2col panels of one (image, group): exposed for tests and benchmarks.
class QIm2colPacker final : public QActPacker {
 public:
  QIm2colPacker(const QConvPlan& plan, const QConvInput& in) : plan_(plan), in_(in) {}
  void pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const override;
  // Lane by lane with bounds checks: any geometry (3-D convs use it).
  void pack_generic(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const;

 private:
  const QConvPlan& plan_;
  QConvInput in_;
};

}  // namespace qe::kernels

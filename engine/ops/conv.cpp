// Conv and ConvTranspose bindings. Candidates, best first:
//   Conv: conv_f32_winograd_4x4_3x3_avx512 (3x3 stride 1, enough tiles), conv_f32_depthwise_<isa>
//         (depthwise 1-D/2-D), conv_f32_gemm_<MRxNR>_<isa> (1x1 as a plain GEMM on the input,
//         k x k through packed im2col), conv_f32_ref.
//   ConvTranspose: conv_transpose_f32_gemm_<MRxNR>_<isa> (GEMM into columns + col2im),
//         conv_transpose_f32_ref.
#include <algorithm>
#include <cstring>
#include <memory>

#include "engine/core/thread_pool.h"
#include "engine/ops/compute_common.h"
#include "engine/ops/fused_activation.h"
#include "graph/schemas/conv_attrs.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/task_phases.h"

namespace qe {

namespace {

using kernels::ConvF32Params;

int64_t conv_macs(const ConvF32Params& p) {
  return p.batch * p.out_channels * p.out_size() * (p.in_channels / p.group) * p.kernel_size();
}

// Node attributes and concrete shapes → kernel parameters.
Result<ConvF32Params> conv_params(const BindContext& ctx, bool transposed) {
  const Shape& xs = ctx.input(0).shape;
  const Shape& ws = ctx.input(1).shape;
  auto geo = transposed ? resolve_conv_transpose_geometry(ctx.attrs(), xs, ws)
                        : resolve_conv_geometry(ctx.attrs(), xs, ws);
  if (!geo.is_ok()) return geo.status();
  const ConvGeometry& g = *geo;
  if (g.spatial_rank > 3) return decline(g.spatial_rank, "-D convolution is not implemented");
  if (!xs.is_known() || !ws.is_known() || !g.output_shape().is_known()) {
    return internal_error("conv binding needs concrete shapes, got X ", xs.to_string(), " W ", ws.to_string());
  }
  if (g.output_shape() != ctx.output(0).shape) {
    return internal_error("conv output shape ", ctx.output(0).shape.to_string(), " disagrees with attributes (",
                          g.output_shape().to_string(), ")");
  }
  ConvF32Params p;
  p.batch = g.batch;
  p.in_channels = g.in_channels;
  p.out_channels = g.out_channels;
  p.group = g.group;
  int off = 3 - g.spatial_rank;
  for (int i = 0; i < g.spatial_rank; ++i) {
    size_t s = static_cast<size_t>(i);
    p.in[off + i] = g.in_spatial[s];
    p.out[off + i] = g.out_spatial[s];
    p.kernel[off + i] = g.kernel[s];
    p.stride[off + i] = g.strides[s];
    p.dilation[off + i] = g.dilations[s];
    p.pad[off + i] = g.pads_begin[s];
  }
  QE_ASSIGN_OR_RETURN(p.act, read_fused_activation(ctx.attrs()));
  return p;
}

// ---------------------------------------------------------------------------------------------
// References.

class ConvRefKernel final : public OpKernel {
 public:
  ConvRefKernel(ConvF32Params p, bool transposed) : p_(p), transposed_(transposed) {}
  Status run(const RunContext&, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* bias = in.size() > 2 ? in[2].as<const float>() : nullptr;
    if (transposed_) {
      kernels::conv_transpose_f32_ref(p_, in[0].as<const float>(), in[1].as<const float>(), bias, out[0].as<float>());
    } else {
      kernels::conv_f32_ref(p_, in[0].as<const float>(), in[1].as<const float>(), bias, out[0].as<float>());
    }
    return Status::ok();
  }

 private:
  ConvF32Params p_;
  bool transposed_;
};

Result<std::unique_ptr<OpKernel>> create_conv_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, false));
  return std::unique_ptr<OpKernel>(std::make_unique<ConvRefKernel>(p, false));
}

Result<std::unique_ptr<OpKernel>> create_conv_transpose_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, true));
  return std::unique_ptr<OpKernel>(std::make_unique<ConvRefKernel>(p, true));
}

// ---------------------------------------------------------------------------------------------
// Conv as GEMM per (image, group): Y_g[Cout_g, HW] = W_g[Cout_g, Cin_g*k] x im2col(X_g).

class ConvGemmKernel final : public OpKernel {
 public:
  ConvGemmKernel(const kernels::GemmF32Config& cfg, const ConvF32Params& p, int threads, const float* constant_w) {
    plan_ = kernels::plan_conv_gemm(cfg, p, threads, constant_w != nullptr);
    if (constant_w) {
      packed_ = AlignedBuffer(static_cast<size_t>(kernels::conv_gemm_packed_weights_floats(plan_)) * sizeof(float));
      kernels::conv_gemm_pack_weights(plan_, constant_w, static_cast<float*>(packed_.data()));
    }
  }
  size_t workspace_bytes() const override {
    return static_cast<size_t>(kernels::conv_gemm_scratch_floats(plan_)) * sizeof(float);
  }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::conv_f32_gemm(plan_, *ctx.pool, in[0].as<const float>(), static_cast<const float*>(packed_.data()),
                           in[1].as<const float>(), in.size() > 2 ? in[2].as<const float>() : nullptr,
                           out[0].as<float>(), static_cast<float*>(ctx.workspace));
    return Status::ok();
  }

 private:
  kernels::ConvGemmPlan plan_;
  AlignedBuffer packed_;
};

// ---------------------------------------------------------------------------------------------
// Winograd F(4x4, 3x3): 3x3 stride-1 convs with enough tiles to amortise the transforms.

class ConvWinogradKernel final : public OpKernel {
 public:
  ConvWinogradKernel(const kernels::GemmF32Config& cfg, const ConvF32Params& p, int threads, const float* w) {
    plan_ = kernels::plan_conv_winograd(cfg, p, threads);
    u_ = AlignedBuffer(static_cast<size_t>(kernels::winograd_packed_weights_floats(plan_)) * sizeof(float));
    kernels::winograd_pack_weights(plan_, w, static_cast<float*>(u_.data()));
  }
  size_t workspace_bytes() const override { return static_cast<size_t>(plan_.scratch_floats()) * sizeof(float); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::conv_f32_winograd(plan_, *ctx.pool, in[0].as<const float>(), static_cast<const float*>(u_.data()),
                               in.size() > 2 ? in[2].as<const float>() : nullptr, out[0].as<float>(),
                               static_cast<float*>(ctx.workspace));
    return Status::ok();
  }

 private:
  kernels::WinogradPlan plan_;
  AlignedBuffer u_;
};

Result<std::unique_ptr<OpKernel>> create_conv_winograd(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(const kernels::GemmF32Config* cfg, gemm_config_for(IsaLevel::kAvx512));
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, false));
  if (!kernels::winograd_supported(p)) return decline("not a 2-D 3x3 stride-1 undilated conv with group 1");
  const Tensor* w = ctx.constant_input(1);
  if (!w) return decline("weights are not constant (the transformed weights are prepared at load)");
  // Measured on ResNet18@224 layers, 2 threads: 56x56 and 28x28 (196 and 49 tiles) run 1.9-2x
  // faster than the GEMM path, 14x14 at batch 1 (16 tiles) 0.87x but 1.25x at batch 8, and
  // the 4x larger transformed weights of 512-channel layers lose at any batch.
  const int64_t tiles = p.batch * ((p.out[1] + 3) / 4) * ((p.out[2] + 3) / 4);
  if (tiles < 32) return decline("only ", tiles, " output tiles");
  if (p.in_channels < 16 || p.out_channels < 16) return decline("fewer than 16 input or output channels");
  if (36 * p.in_channels * p.out_channels > (int64_t{4} << 20)) return decline("transformed weights above 16 MB");
  return std::unique_ptr<OpKernel>(std::make_unique<ConvWinogradKernel>(
      *cfg, p, threads_for_work(conv_macs(p), ctx.num_threads()), w->data<float>()));
}

// ---------------------------------------------------------------------------------------------
// Depthwise: one task per run of (image, channel) planes, each padded into the worker's scratch.

class ConvDepthwiseKernel final : public OpKernel {
 public:
  ConvDepthwiseKernel(kernels::DepthwiseFn fn, const ConvF32Params& p, int threads)
      : fn_(fn), p_(p), g_(kernels::plan_depthwise(p)), slots_(std::max(1, threads)) {
    stride_ = kernels::round_up(g_.scratch_floats, 16);
    planes_ = p.batch * p.in_channels;
    // About 4K outputs per task keeps the per-task overhead small on 7x7 planes; whole blocks of
    // 16 channels for the kernels that put channels in the vector lanes.
    per_task_ = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.out_size()));
    if (per_task_ >= 16) per_task_ = per_task_ / 16 * 16;
  }
  size_t workspace_bytes() const override { return static_cast<size_t>(stride_ * slots_) * sizeof(float); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* x = in[0].as<const float>();
    const float* w = in[1].as<const float>();
    const float* bias = in.size() > 2 ? in[2].as<const float>() : nullptr;
    float* y = out[0].as<float>();
    kernels::TaskPhase ph;
    ph.tasks = (planes_ + per_task_ - 1) / per_task_;
    ph.run = [&](int64_t t, float* scratch) {
      int64_t b = t * per_task_, e = std::min(planes_, b + per_task_);
      fn_(p_, g_, x, w, bias, y, b, e, scratch);
    };
    kernels::run_task_phases(*ctx.pool, std::span<const kernels::TaskPhase>(&ph, 1),
                             static_cast<float*>(ctx.workspace), stride_, slots_);
    return Status::ok();
  }

 private:
  kernels::DepthwiseFn fn_;
  ConvF32Params p_;
  kernels::DepthwiseGeometry g_;
  int slots_;
  int64_t stride_ = 0, planes_ = 0, per_task_ = 1;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_conv_depthwise(const BindContext& ctx) {
  if (cpu_features().level < L) {
    return decline("needs ", isa_level_name(L), ", this machine runs at ", isa_level_name(cpu_features().level));
  }
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, false));
  if (!kernels::conv_is_depthwise(p)) return decline("not a depthwise 1-D/2-D conv (group == Cin == Cout)");
  if (p.kernel[1] > 64 || p.kernel[2] > 64) return decline("kernel larger than 64");
  kernels::DepthwiseFn fn =
      L == IsaLevel::kAvx512 ? &kernels::conv_f32_depthwise_avx512 : &kernels::conv_f32_depthwise_avx2;
  return std::unique_ptr<OpKernel>(std::make_unique<ConvDepthwiseKernel>(fn, p, threads_for_work(conv_macs(p), ctx.num_threads())));
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose: GEMM into columns, then col2im.

class ConvTransposeGemmKernel final : public OpKernel {
 public:
  ConvTransposeGemmKernel(const kernels::GemmF32Config& cfg, const ConvF32Params& p, int threads, const float* w) {
    plan_ = kernels::plan_conv_transpose_gemm(cfg, p, threads);
    packed_ = AlignedBuffer(static_cast<size_t>(kernels::conv_transpose_packed_weights_floats(plan_)) * sizeof(float));
    kernels::conv_transpose_pack_weights(plan_, w, static_cast<float*>(packed_.data()));
  }
  size_t workspace_bytes() const override { return static_cast<size_t>(plan_.scratch_floats()) * sizeof(float); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::conv_transpose_f32_gemm(plan_, *ctx.pool, in[0].as<const float>(), static_cast<const float*>(packed_.data()),
                                     in.size() > 2 ? in[2].as<const float>() : nullptr, out[0].as<float>(),
                                     static_cast<float*>(ctx.workspace));
    return Status::ok();
  }

 private:
  kernels::ConvTransposeGemmPlan plan_;
  AlignedBuffer packed_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_conv_transpose_gemm(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(const kernels::GemmF32Config* cfg, gemm_config_for(L));
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, true));
  const Tensor* w = ctx.constant_input(1);
  if (!w) return decline("weights are not constant (they are prepacked at load)");
  return std::unique_ptr<OpKernel>(std::make_unique<ConvTransposeGemmKernel>(
      *cfg, p, threads_for_work(conv_macs(p), ctx.num_threads()), w->data<float>()));
}

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_conv_gemm(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(const kernels::GemmF32Config* cfg, gemm_config_for(L));
  QE_ASSIGN_OR_RETURN(ConvF32Params p, conv_params(ctx, false));
  const Tensor* w = ctx.constant_input(1);
  return std::unique_ptr<OpKernel>(
      std::make_unique<ConvGemmKernel>(*cfg, p, threads_for_work(conv_macs(p), ctx.num_threads()),
                                       w ? w->data<float>() : nullptr));
}

}  // namespace

void register_conv_kernels(KernelRegistry& r) {
  r.add(OpKind::kConv, {"conv_f32_winograd_4x4_3x3_avx512", &create_conv_winograd});
  r.add(OpKind::kConv, {"conv_f32_depthwise_avx512", &create_conv_depthwise<IsaLevel::kAvx512>});
  r.add(OpKind::kConv, {"conv_f32_depthwise_avx2", &create_conv_depthwise<IsaLevel::kAvx2>});
  r.add(OpKind::kConv, {"conv_f32_gemm_8x48_avx512", &create_conv_gemm<IsaLevel::kAvx512>});
  r.add(OpKind::kConv, {"conv_f32_gemm_4x16_avx2", &create_conv_gemm<IsaLevel::kAvx2>});
  r.add(OpKind::kConv, {"conv_f32_ref", &create_conv_ref});
  r.add(OpKind::kConvTranspose,
        {"conv_transpose_f32_gemm_8x48_avx512", &create_conv_transpose_gemm<IsaLevel::kAvx512>});
  r.add(OpKind::kConvTranspose,
        {"conv_transpose_f32_gemm_4x16_avx2", &create_conv_transpose_gemm<IsaLevel::kAvx2>});
  r.add(OpKind::kConvTranspose, {"conv_transpose_f32_ref", &create_conv_transpose_ref});
}

}  // namespace qe

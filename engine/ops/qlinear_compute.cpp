// Bindings of the integer compute ops made by the integer lowering (graph/schemas/qlinear.cpp
// lists their attributes). Candidates, best first:
//   QConv  qconv_depthwise (group == Cin == Cout, 2-D), qconv_gemm (packed qgemm / im2col),
//          qconv_ref (direct loops)
//   QGemm  qgemm_fc (packed weights, GEMV when M = 1), qgemm_ref
// Per-channel multipliers x_scale * w_scale[c] / y_scale are computed in double once at bind
// time and handed to the kernels in the form the `requant` attribute names.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/compute_common.h"
#include "engine/ops/qlinear_common.h"
#include "graph/schemas/conv_attrs.h"
#include "kernels/int8/qconv.h"
#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/qgemm.h"

namespace qe {

namespace {

using namespace kernels;

// The parts every integer compute binding reads: weights, bias and the output description.
struct QComputeSetup {
  QOutParams out;
  std::vector<float> dequant;  // kFloat: x_scale * w_scale[c]
  QOutput qout;                // points into `out` and `dequant` (fix up after moves: see bind())
  Tensor w;                    // int8 values
  int w_bits = 8;
  std::vector<int32_t> bias;   // empty when absent
  bool x_signed = false;
  int32_t x_zero_point = 0;
  int64_t channels = 0;

  void bind() {
    qout = QOutput{};
    if (out.float_out) {
      qout.kind = QOutKind::kFloat;
      qout.dequant_scale = dequant.data();
    } else {
      qout.kind = QOutKind::kRequant;
      qout.requant = out.params();
    }
  }
};

Result<QComputeSetup> read_compute_setup(const BindContext& ctx) {
  QComputeSetup s;
  const Attributes& a = ctx.attrs();
  const Tensor* w = ctx.constant_input(1);
  if (!w || w->dtype() != DType::kI8) return invalid_argument("weights must be an int8 constant");
  s.w = *w;
  s.channels = w->shape()[0];
  QE_ASSIGN_OR_RETURN(int64_t bits, a.get_int("w_bits", 8));
  if (bits < 2 || bits > 8) return invalid_argument("w_bits ", bits, " outside 2..8");
  s.w_bits = static_cast<int>(bits);
  QE_ASSIGN_OR_RETURN(float x_scale, a.get_float("x_scale", 0.f));
  QE_ASSIGN_OR_RETURN(int64_t x_zp, a.get_int("x_zero_point", 0));
  QE_ASSIGN_OR_RETURN(std::vector<float> w_scale, a.get_floats("w_scale"));
  if (w_scale.size() != 1 && static_cast<int64_t>(w_scale.size()) != s.channels) {
    return invalid_argument("w_scale has ", w_scale.size(), " values for ", s.channels, " output channels");
  }
  s.x_signed = ctx.input(0).dtype == DType::kI8;
  s.x_zero_point = static_cast<int32_t>(x_zp);
  std::vector<double> in_scale(static_cast<size_t>(s.channels));
  for (int64_t c = 0; c < s.channels; ++c) {
    in_scale[static_cast<size_t>(c)] =
        static_cast<double>(x_scale) * w_scale[w_scale.size() == 1 ? 0 : static_cast<size_t>(c)];
  }
  QE_ASSIGN_OR_RETURN(s.out, read_qout_params(ctx, in_scale));
  if (s.out.float_out) {
    s.dequant.resize(in_scale.size());
    for (size_t c = 0; c < in_scale.size(); ++c) s.dequant[c] = static_cast<float>(in_scale[c]);
  }
  if (const Tensor* b = ctx.constant_input(2)) {
    if (b->dtype() != DType::kI32 || b->numel() != s.channels) return invalid_argument("bias must be int32 [C]");
    s.bias.assign(b->data<int32_t>(), b->data<int32_t>() + s.channels);
  }
  s.bind();
  return s;
}

// int8 values of a weight matrix as the kernels' source description; int4 weights are packed
// two per byte first (low nibble = even element).
struct WeightSource {
  std::vector<uint8_t> nibbles;
  QWeightsSrc src;
};
// Convolutions are compute-bound: their weights are the broadcast operand, reused over every
// pixel, so 4-bit weights run fastest stored as int8 values (no unpacking per panel). Only the
// memory-bound FC / GEMV form keeps them packed two per byte.
WeightSource weight_source(const QComputeSetup& s, int64_t K, bool pack_int4) {
  WeightSource ws;
  ws.src.ld = K;
  ws.src.k_major = false;
  if (s.w_bits <= 4 && pack_int4) {
    const int8_t* v = s.w.data<int8_t>();
    const int64_t n = s.w.numel();
    ws.nibbles.assign(static_cast<size_t>((n + 1) / 2), 0);
    for (int64_t e = 0; e < n; ++e) {
      const uint8_t nib = static_cast<uint8_t>(v[e]) & 0xF;
      ws.nibbles[static_cast<size_t>(e / 2)] |= static_cast<uint8_t>(e % 2 ? nib << 4 : nib);
    }
    ws.src.type = QWeightType::kInt4;
    ws.src.data = ws.nibbles.data();
  } else {
    ws.src.type = QWeightType::kInt8;
    ws.src.data = s.w.data<int8_t>();
  }
  return ws;
}

Result<QConvParams> qconv_params(const BindContext& ctx) {
  const Shape& xs = ctx.input(0).shape;
  const Shape& ws = ctx.input(1).shape;
  QE_ASSIGN_OR_RETURN(ConvGeometry g, resolve_conv_geometry(ctx.attrs(), xs, ws));
  if (g.spatial_rank < 1 || g.spatial_rank > 3) return decline("spatial rank ", g.spatial_rank);
  QConvParams p;
  p.batch = xs[0];
  p.in_channels = g.in_channels;
  p.out_channels = g.out_channels;
  p.group = g.group;
  const int off = 3 - g.spatial_rank;
  for (int i = 0; i < g.spatial_rank; ++i) {
    const size_t si = static_cast<size_t>(i);
    p.in[off + i] = g.in_spatial[si];
    p.out[off + i] = g.out_spatial[si];
    p.kernel[off + i] = g.kernel[si];
    p.stride[off + i] = g.strides[si];
    p.dilation[off + i] = g.dilations[si];
    p.pad[off + i] = g.pads_begin[si];
  }
  return p;
}

class QConvGemmKernel final : public OpKernel {
 public:
  QConvGemmKernel(QComputeSetup s, const QConvParams& p, int threads, bool reference)
      : s_(std::move(s)), reference_(reference) {
    s_.bind();
    ws_ = weight_source(s_, p.gemm_k(), false);
    if (!reference_) {
      plan_ = plan_qconv(p, threads);
      packed_ = pack_qconv_weights(p, ws_.src);
    } else {
      plan_.p = p;
    }
  }
  size_t workspace_bytes() const override { return reference_ ? 0 : static_cast<size_t>(plan_.scratch_bytes()); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    QConvInput x{in[0].data, s_.x_signed, s_.x_zero_point};
    const int32_t* bias = s_.bias.empty() ? nullptr : s_.bias.data();
    if (reference_) {
      qconv_ref(plan_.p, x, ws_.src, bias, s_.qout, out[0].data);
    } else {
      qconv(plan_, *ctx.pool, packed_, x, bias, s_.qout, out[0].data, static_cast<uint8_t*>(ctx.workspace));
    }
    return Status::ok();
  }

 private:
  QComputeSetup s_;
  bool reference_;
  WeightSource ws_;
  QConvPlan plan_;
  QConvWeights packed_;
};

template <bool kReference>
Result<std::unique_ptr<OpKernel>> create_qconv_gemm(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(QConvParams p, qconv_params(ctx));
  QE_ASSIGN_OR_RETURN(QComputeSetup s, read_compute_setup(ctx));
  const int64_t macs = p.batch * p.out_channels * p.out_size() * p.gemm_k();
  return std::unique_ptr<OpKernel>(
      std::make_unique<QConvGemmKernel>(std::move(s), p, threads_for_work(macs, ctx.num_threads()), kReference));
}

class QConvDepthwiseKernel final : public OpKernel {
 public:
  QConvDepthwiseKernel(QComputeSetup s, const QDepthwiseParams& p, int threads) : s_(std::move(s)), p_(p) {
    s_.bind();
    slots_ = std::max(1, threads);
    fn_ = qdepthwise_ukernel(cpu_features().level);
    o_.type = s_.out.float_out ? QOutType::kF32 : (s_.out.dtype == DType::kI8 ? QOutType::kS8 : QOutType::kU8);
    o_.requant = s_.qout.requant;
    o_.dequant = s_.dequant.data();
  }
  size_t workspace_bytes() const override { return static_cast<size_t>(qdepthwise_workspace_bytes(p_, slots_)); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    qdepthwise_run(fn_, p_, in[0].data, s_.w.data<int8_t>(), s_.bias.empty() ? nullptr : s_.bias.data(), o_,
                   out[0].data, ctx.pool, ctx.workspace, slots_);
    return Status::ok();
  }

 private:
  QComputeSetup s_;
  QDepthwiseParams p_;
  QDepthwiseOutput o_;
  QDepthwiseFn fn_ = nullptr;
  int slots_ = 1;
};

Result<std::unique_ptr<OpKernel>> create_qconv_depthwise(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(QConvParams c, qconv_params(ctx));
  if (!(c.group == c.in_channels && c.group == c.out_channels) || c.in[0] != 1 || c.kernel[0] != 1) {
    return decline("not a depthwise 1-D/2-D conv (group == Cin == Cout)");
  }
  QE_ASSIGN_OR_RETURN(QComputeSetup s, read_compute_setup(ctx));
  QDepthwiseParams p;
  p.batch = c.batch;
  p.channels = c.in_channels;
  for (int i = 0; i < 2; ++i) {
    p.in[i] = c.in[1 + i];
    p.out[i] = c.out[1 + i];
    p.kernel[i] = c.kernel[1 + i];
    p.stride[i] = c.stride[1 + i];
    p.dilation[i] = c.dilation[1 + i];
    p.pad[i] = c.pad[1 + i];
  }
  p.in_signed = s.x_signed;
  p.in_zero_point = s.x_zero_point;
  const int64_t macs = p.batch * p.channels * p.out_size() * p.kernel_size();
  return std::unique_ptr<OpKernel>(
      std::make_unique<QConvDepthwiseKernel>(std::move(s), p, threads_for_work(macs, ctx.num_threads())));
}

// QGemm: Y[M, N] = X[M, K] · Wᵀ with W stored [N, K]; M is every leading dim of X.
class QGemmKernel final : public OpKernel {
 public:
  QGemmKernel(QComputeSetup s, int64_t M, int threads, bool reference) : s_(std::move(s)), M_(M), reference_(reference) {
    s_.bind();
    K_ = s_.w.shape()[1];
    ws_ = weight_source(s_, K_, true);
    if (!reference_) {
      const QGemmIsa* isa = qgemm_isa();
      plan_ = plan_qgemm(*isa, QForm::kFc, M_, s_.channels, K_, 1, threads, ws_.src.type);
      packed_ = pack_qweights(QForm::kFc, s_.channels, K_, ws_.src);
    }
  }
  size_t workspace_bytes() const override { return reference_ ? 0 : static_cast<size_t>(plan_.scratch_bytes()); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    QGemmArgs g;
    g.form = QForm::kFc;
    g.M = M_;
    g.N = s_.channels;
    g.K = K_;
    g.act = in[0].data;
    g.ld_act = K_;
    g.act_signed = s_.x_signed;
    g.act_zero_point = s_.x_zero_point;
    g.bias = s_.bias.empty() ? nullptr : s_.bias.data();
    g.out = s_.qout;
    g.c = out[0].data;
    g.ldc = s_.channels;
    if (reference_) {
      qgemm_ref(g, ws_.src);
    } else {
      qgemm_packed(*ctx.pool, plan_, packed_, g, static_cast<uint8_t*>(ctx.workspace));
    }
    return Status::ok();
  }

 private:
  QComputeSetup s_;
  int64_t M_ = 0, K_ = 0;
  bool reference_;
  WeightSource ws_;
  QGemmPlan plan_;
  PackedQWeights packed_;
};

template <bool kReference>
Result<std::unique_ptr<OpKernel>> create_qgemm(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(QComputeSetup s, read_compute_setup(ctx));
  const Shape& x = ctx.input(0).shape;
  if (s.w.shape().rank() != 2 || x.rank() < 1 || x[x.rank() - 1] != s.w.shape()[1]) {
    return invalid_argument("input shape ", x.to_string(), " does not match weights ", s.w.shape().to_string());
  }
  const int64_t M = x.numel() / s.w.shape()[1];
  const int64_t macs = M * s.channels * s.w.shape()[1];
  return std::unique_ptr<OpKernel>(
      std::make_unique<QGemmKernel>(std::move(s), M, threads_for_work(macs, ctx.num_threads()), kReference));
}

}  // namespace

void register_qlinear_compute_kernels(KernelRegistry& r) {
  r.add(OpKind::kQConv, {"qconv_depthwise", &create_qconv_depthwise});
  r.add(OpKind::kQConv, {"qconv_gemm", &create_qconv_gemm<false>});
  r.add(OpKind::kQConv, {"qconv_ref", &create_qconv_gemm<true>});
  r.add(OpKind::kQGemm, {"qgemm_fc", &create_qgemm<false>});
  r.add(OpKind::kQGemm, {"qgemm_ref", &create_qgemm<true>});
}

}  // namespace qe

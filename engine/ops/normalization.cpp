// BatchNormalization (inference form) and LayerNormalization. Candidates, best first:
//   batchnormalization_f32_<isa>   y = x * a[c] + b[c], a and b folded once when the
//                                  statistics are constant, else per run into the workspace
//   batchnormalization_ref         the textbook formula per element
//   layernormalization_f32_<isa>, layernormalization_ref
// LayerNormalization's Scale and B broadcast to X.shape[axis:]; when they are smaller they are
// expanded (at bind time if constant, else per run into the workspace).
#include <cstring>
#include <memory>
#include <vector>

#include "engine/ops/elementwise_common.h"
#include "kernels/elementwise/broadcast.h"
#include "kernels/normalization/norm.h"

namespace qe {

namespace {

// ---------------------------------------------------------------------------------------------
// BatchNormalization

struct BatchNormSetup {
  float eps = 1e-5f;
  int64_t channels = 0, size = 1, planes = 0;
};

Result<BatchNormSetup> batch_norm_setup(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(int64_t training, ctx.attrs().get_int("training_mode", 0));
  if (training) return decline("training_mode=1 (only the inference form is supported)");
  for (int i = 1; i < ctx.num_outputs(); ++i) {
    if (ctx.node().outputs[static_cast<size_t>(i)] != kNoValue) {
      return decline("training outputs (running mean / variance) are requested");
    }
  }
  for (int i = 0; i < 5; ++i) QE_RETURN_IF_ERROR(require_f32(ctx, i));
  BatchNormSetup s;
  QE_ASSIGN_OR_RETURN(s.eps, ctx.attrs().get_float("epsilon", 1e-5f));
  const Shape& x = ctx.input(0).shape;
  s.channels = x[1];
  for (size_t i = 2; i < x.rank(); ++i) s.size *= x[i];
  s.planes = x[0] * x[1];
  return s;
}

class BatchNormRefKernel final : public OpKernel {
 public:
  explicit BatchNormRefKernel(BatchNormSetup s) : s_(s) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    struct Args {
      const BatchNormSetup* s;
      std::span<const TensorView> in;
      float* y;
    } args{&s_, in, out[0].as<float>()};
    kernels::norm_for_rows(
        ctx.pool, s_.planes, s_.size,
        [](void* c, int64_t b, int64_t e) {
          auto* a = static_cast<Args*>(c);
          kernels::batch_norm_f32_ref(a->in[0].as<const float>(), a->y, a->in[1].as<const float>(),
                                      a->in[2].as<const float>(), a->in[3].as<const float>(),
                                      a->in[4].as<const float>(), a->s->eps, a->s->channels, a->s->size, b, e);
        },
        &args);
    return Status::ok();
  }

 private:
  BatchNormSetup s_;
};

class BatchNormFastKernel final : public OpKernel {
 public:
  BatchNormFastKernel(BatchNormSetup s, kernels::ChannelAffineF32Fn fn) : s_(s), fn_(fn) {}
  void fold(const BindContext& ctx) {
    folded_.resize(static_cast<size_t>(2 * s_.channels));
    kernels::batch_norm_fold(ctx.constant_input(1)->data<float>(), ctx.constant_input(2)->data<float>(),
                             ctx.constant_input(3)->data<float>(), ctx.constant_input(4)->data<float>(), s_.eps,
                             s_.channels, folded_.data(), folded_.data() + s_.channels);
  }
  size_t workspace_bytes() const override {
    return folded_.empty() ? static_cast<size_t>(2 * s_.channels) * sizeof(float) : 0;
  }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* ab = folded_.data();
    if (folded_.empty()) {
      float* ws = static_cast<float*>(ctx.workspace);
      kernels::batch_norm_fold(in[1].as<const float>(), in[2].as<const float>(), in[3].as<const float>(),
                               in[4].as<const float>(), s_.eps, s_.channels, ws, ws + s_.channels);
      ab = ws;
    }
    struct Args {
      const BatchNormFastKernel* k;
      const float* x;
      float* y;
      const float* ab;
    } args{this, in[0].as<const float>(), out[0].as<float>(), ab};
    kernels::norm_for_rows(
        ctx.pool, s_.planes, s_.size,
        [](void* c, int64_t b, int64_t e) {
          auto* a = static_cast<Args*>(c);
          a->k->fn_(a->x, a->y, a->ab, a->ab + a->k->s_.channels, a->k->s_.channels, a->k->s_.size, b, e);
        },
        &args);
    return Status::ok();
  }

 private:
  BatchNormSetup s_;
  kernels::ChannelAffineF32Fn fn_;
  std::vector<float> folded_;  // a then b, when the statistics are constant
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_batch_norm_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  const kernels::NormF32Ukernels* uk = kernels::norm_f32_ukernels(L);
  if (!uk) return decline("no normalisation microkernels for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(BatchNormSetup s, batch_norm_setup(ctx));
  auto k = std::make_unique<BatchNormFastKernel>(s, uk->channel_affine);
  bool constant = true;
  for (int i = 1; i < 5; ++i) constant = constant && ctx.constant_input(i) != nullptr;
  if (constant) k->fold(ctx);
  return std::unique_ptr<OpKernel>(std::move(k));
}

Result<std::unique_ptr<OpKernel>> create_batch_norm_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(BatchNormSetup s, batch_norm_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<BatchNormRefKernel>(s));
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

// Scale or B as n contiguous floats: the input itself, an expansion done at bind time, or an
// expansion into the workspace per run.
struct NormParam {
  bool present = false;
  bool direct = true;  // use the input as is
  std::vector<float> expanded;
  kernels::BroadcastPlan plan;  // input -> normalised shape, for per-run expansion
  size_t ws_offset = 0;         // floats into the workspace
};

struct LayerNormSetup {
  float eps = 1e-5f;
  int64_t rows = 1, n = 1;
  NormParam scale, bias;
};

void expand(const kernels::BroadcastPlan& plan, const float* src, float* dst) {
  const bool repeat = plan.inner_repeat[0];
  kernels::broadcast_for_each(plan, nullptr, 1 << 30, [&](const int64_t* off, int64_t yo, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[yo + i] = src[off[0] + (repeat ? 0 : i)];
  });
}

Result<LayerNormSetup> layer_norm_setup(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  QE_ASSIGN_OR_RETURN(int64_t stash, ctx.attrs().get_int("stash_type", 1));
  if (stash != 1) return decline("stash_type ", stash, " (only 1, float, is supported)");
  LayerNormSetup s;
  QE_ASSIGN_OR_RETURN(s.eps, ctx.attrs().get_float("epsilon", 1e-5f));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(x.rank())));
  Shape norm(std::vector<int64_t>(x.begin() + axis, x.end()));
  s.n = norm.numel();
  s.rows = x.numel() / std::max<int64_t>(1, s.n);
  if (s.n == 0) s.rows = Shape(std::vector<int64_t>(x.begin(), x.begin() + axis)).numel();
  size_t ws = 0;
  for (int i = 1; i < 3; ++i) {
    NormParam& p = i == 1 ? s.scale : s.bias;
    if (!ctx.has_input(i)) continue;
    QE_RETURN_IF_ERROR(require_f32(ctx, i));
    p.present = true;
    const Shape& ps = ctx.input(i).shape;
    if (ps.numel() == s.n) continue;
    p.direct = false;
    QE_ASSIGN_OR_RETURN(p.plan, kernels::plan_broadcast({ps}, norm));
    if (const Tensor* c = ctx.constant_input(i)) {
      p.expanded.resize(static_cast<size_t>(s.n));
      expand(p.plan, c->data<float>(), p.expanded.data());
    } else {
      p.ws_offset = ws;
      ws += static_cast<size_t>((s.n + 15) / 16 * 16);
    }
  }
  return s;
}

class LayerNormKernel final : public OpKernel {
 public:
  LayerNormKernel(LayerNormSetup s, kernels::LayerNormF32Fn fn) : s_(std::move(s)), fn_(fn) {
    for (const NormParam* p : {&s_.scale, &s_.bias}) {
      if (p->present && !p->direct && p->expanded.empty()) ws_floats_ += static_cast<size_t>((s_.n + 15) / 16 * 16);
    }
  }
  size_t workspace_bytes() const override { return ws_floats_ * sizeof(float); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    float* ws = static_cast<float*>(ctx.workspace);
    auto param = [&](const NormParam& p, int i) -> const float* {
      if (!p.present) return nullptr;
      if (p.direct) return in[static_cast<size_t>(i)].as<const float>();
      if (!p.expanded.empty()) return p.expanded.data();
      expand(p.plan, in[static_cast<size_t>(i)].as<const float>(), ws + p.ws_offset);
      return ws + p.ws_offset;
    };
    struct Args {
      const LayerNormKernel* k;
      const float *x, *scale, *bias;
      float *y, *mean, *inv;
    } args{this,
           in[0].as<const float>(),
           param(s_.scale, 1),
           param(s_.bias, 2),
           out[0].as<float>(),
           out.size() > 1 ? out[1].as<float>() : nullptr,
           out.size() > 2 ? out[2].as<float>() : nullptr};
    kernels::norm_for_rows(
        ctx.pool, s_.rows, s_.n,
        [](void* c, int64_t b, int64_t e) {
          auto* a = static_cast<Args*>(c);
          a->k->fn_(a->x, a->y, a->scale, a->bias, a->k->s_.n, a->k->s_.eps, a->mean, a->inv, b, e);
        },
        &args);
    return Status::ok();
  }

 private:
  LayerNormSetup s_;
  kernels::LayerNormF32Fn fn_;
  size_t ws_floats_ = 0;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_layer_norm_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  const kernels::NormF32Ukernels* uk = kernels::norm_f32_ukernels(L);
  if (!uk) return decline("no normalisation microkernels for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(LayerNormSetup s, layer_norm_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<LayerNormKernel>(std::move(s), uk->layer_norm));
}

Result<std::unique_ptr<OpKernel>> create_layer_norm_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(LayerNormSetup s, layer_norm_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<LayerNormKernel>(std::move(s), &kernels::layer_norm_f32_ref));
}

}  // namespace

void register_normalization_kernels(KernelRegistry& r) {
  r.add(OpKind::kBatchNormalization, {"batchnormalization_f32_avx512", &create_batch_norm_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kBatchNormalization, {"batchnormalization_f32_avx2", &create_batch_norm_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kBatchNormalization, {"batchnormalization_ref", &create_batch_norm_ref});
  r.add(OpKind::kLayerNormalization, {"layernormalization_f32_avx512", &create_layer_norm_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kLayerNormalization, {"layernormalization_f32_avx2", &create_layer_norm_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kLayerNormalization, {"layernormalization_ref", &create_layer_norm_ref});
}

}  // namespace qe

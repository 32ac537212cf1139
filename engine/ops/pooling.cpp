// Pool bindings (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool) and the pooling
// family's registration (BatchNormalization and LayerNormalization live in normalization.cpp).
// Candidates, best first:
//   maxpool_f32_<isa>, averagepool_f32_<isa>   up to 3-D, vector rows for W-stride 1 and 2
//   globalaveragepool_f32_<isa>, globalmaxpool_f32_<isa>
//   maxpool_int8                 uint8 / int8 (the integer runtime)
//   <op>_ref                     float (MaxPool/GlobalMaxPool also double, int8, uint8)
// MaxPool declines when its Indices output is requested.
#include <memory>
#include <string>

#include "engine/ops/elementwise_common.h"
#include "graph/schemas/pool_attrs.h"
#include "kernels/int8/qpool.h"
#include "kernels/pooling/pool.h"

namespace qe {

namespace {

using kernels::PoolParams;

Result<PoolParams> pool_params(const BindContext& ctx) {
  const Node& n = ctx.node();
  if (n.op == OpKind::kMaxPool && ctx.num_outputs() > 1 && n.outputs[1] != kNoValue) {
    return decline("the Indices output is requested");
  }
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(PoolGeometry g, resolve_pool_geometry(ctx.attrs(), x));
  if (g.spatial_rank > 3) return decline(g.spatial_rank, "-D pooling (at most 3-D)");
  PoolParams p;
  p.planes = x[0] * x[1];
  int off = 3 - g.spatial_rank;
  for (int i = 0; i < g.spatial_rank; ++i) {
    size_t s = static_cast<size_t>(i);
    p.in[off + i] = g.in_spatial[s];
    p.out[off + i] = g.out_spatial[s];
    p.kernel[off + i] = g.kernel[s];
    p.stride[off + i] = g.strides[s];
    p.dilation[off + i] = g.dilations[s];
    p.pad[off + i] = g.pads_begin[s];
    p.pad_end[off + i] = g.pads_end[s];
  }
  if (n.op == OpKind::kAveragePool) {
    QE_ASSIGN_OR_RETURN(int64_t cip, ctx.attrs().get_int("count_include_pad", 0));
    p.count_include_pad = cip != 0;
  }
  return p;
}

int64_t taps(const PoolParams& p) { return p.out_size() * p.kernel[0] * p.kernel[1] * p.kernel[2]; }

// Runs `fn(params, x, y, p0, p1)` over the planes.
template <typename T>
class PoolKernel final : public OpKernel {
 public:
  using Fn = void (*)(const PoolParams&, const T*, T*, int64_t, int64_t);
  PoolKernel(PoolParams p, Fn fn) : p_(p), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    kernels::pool_for_planes(ctx.pool, p_.planes, taps(p_), [&](int64_t b, int64_t e) { fn_(p_, x, y, b, e); });
    return Status::ok();
  }

 private:
  PoolParams p_;
  Fn fn_;
};

template <IsaLevel L, bool kAvg>
Result<std::unique_ptr<OpKernel>> create_pool_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  const kernels::PoolF32Ukernels* uk = kernels::pool_f32_ukernels(L);
  if (!uk) return decline("no pooling microkernels for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(PoolParams p, pool_params(ctx));
  if (p.stride[2] > 2) return decline("W stride ", p.stride[2], " (vector rows need 1 or 2)");
  return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<float>>(p, kAvg ? uk->avg_pool : uk->max_pool));
}

Result<std::unique_ptr<OpKernel>> create_max_pool_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(PoolParams p, pool_params(ctx));
  switch (ctx.input(0).dtype) {
    case DType::kF32: return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<float>>(p, &kernels::max_pool_ref<float>));
    case DType::kF64:
      return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<double>>(p, &kernels::max_pool_ref<double>));
    case DType::kI8:
      return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<int8_t>>(p, &kernels::max_pool_ref<int8_t>));
    case DType::kU8:
      return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<uint8_t>>(p, &kernels::max_pool_ref<uint8_t>));
    default: return decline("MaxPool on dtype ", dtype_name(ctx.input(0).dtype), " is not supported");
  }
}

// uint8 / int8 max pool of the integer runtime (kernels/int8/qpool.h: the row loop the compiler
// vectorises; the same values as max_pool_ref).
class QMaxPoolKernel final : public OpKernel {
 public:
  QMaxPoolKernel(PoolParams p, bool is_signed) : p_(p), signed_(is_signed) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const void* x = in[0].data;
    void* y = out[0].data;
    kernels::pool_for_planes(ctx.pool, p_.planes, taps(p_),
                             [&](int64_t b, int64_t e) { kernels::qmax_pool(p_, signed_, x, y, b, e); });
    return Status::ok();
  }

 private:
  PoolParams p_;
  bool signed_;
};

Result<std::unique_ptr<OpKernel>> create_max_pool_int8(const BindContext& ctx) {
  const DType t = ctx.input(0).dtype;
  if (t != DType::kU8 && t != DType::kI8) return decline("dtype ", dtype_name(t), " (this kernel is uint8/int8 only)");
  QE_ASSIGN_OR_RETURN(PoolParams p, pool_params(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<QMaxPoolKernel>(p, t == DType::kI8));
}

Result<std::unique_ptr<OpKernel>> create_avg_pool_ref(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  QE_ASSIGN_OR_RETURN(PoolParams p, pool_params(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<PoolKernel<float>>(p, &kernels::avg_pool_f32_ref));
}

// Global pools: one value per (image, channel) plane.
template <typename T>
class GlobalPoolKernel final : public OpKernel {
 public:
  using Fn = void (*)(const T*, T*, int64_t, int64_t, int64_t);
  GlobalPoolKernel(int64_t planes, int64_t size, Fn fn) : planes_(planes), size_(size), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    kernels::pool_for_planes(ctx.pool, planes_, size_, [&](int64_t b, int64_t e) { fn_(x, y, size_, b, e); });
    return Status::ok();
  }

 private:
  int64_t planes_, size_;
  Fn fn_;
};

Result<std::pair<int64_t, int64_t>> global_dims(const BindContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.rank() < 3) return invalid_argument("input X has shape ", x.to_string(), ", expected rank >= 3");
  int64_t size = 1;
  for (size_t i = 2; i < x.rank(); ++i) size *= x[i];
  if (size == 0) return decline("empty spatial extent ", x.to_string());
  return std::make_pair(x[0] * x[1], size);
}

template <IsaLevel L, bool kMax>
Result<std::unique_ptr<OpKernel>> create_global_pool_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  const kernels::PoolF32Ukernels* uk = kernels::pool_f32_ukernels(L);
  if (!uk) return decline("no pooling microkernels for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(auto dims, global_dims(ctx));
  return std::unique_ptr<OpKernel>(
      std::make_unique<GlobalPoolKernel<float>>(dims.first, dims.second, kMax ? uk->global_max : uk->global_avg));
}

Result<std::unique_ptr<OpKernel>> create_global_avg_pool_ref(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  QE_ASSIGN_OR_RETURN(auto dims, global_dims(ctx));
  return std::unique_ptr<OpKernel>(
      std::make_unique<GlobalPoolKernel<float>>(dims.first, dims.second, &kernels::global_avg_pool_f32_ref));
}

Result<std::unique_ptr<OpKernel>> create_global_max_pool_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(auto dims, global_dims(ctx));
  auto [planes, size] = dims;
  switch (ctx.input(0).dtype) {
    case DType::kF32:
      return std::unique_ptr<OpKernel>(
          std::make_unique<GlobalPoolKernel<float>>(planes, size, &kernels::global_max_pool_ref<float>));
    case DType::kF64:
      return std::unique_ptr<OpKernel>(
          std::make_unique<GlobalPoolKernel<double>>(planes, size, &kernels::global_max_pool_ref<double>));
    case DType::kI8:
      return std::unique_ptr<OpKernel>(
          std::make_unique<GlobalPoolKernel<int8_t>>(planes, size, &kernels::global_max_pool_ref<int8_t>));
    case DType::kU8:
      return std::unique_ptr<OpKernel>(
          std::make_unique<GlobalPoolKernel<uint8_t>>(planes, size, &kernels::global_max_pool_ref<uint8_t>));
    default: return decline("GlobalMaxPool on dtype ", dtype_name(ctx.input(0).dtype), " is not supported");
  }
}

}  // namespace

void register_pooling_kernels(KernelRegistry& r) {
  r.add(OpKind::kMaxPool, {"maxpool_f32_avx512", &create_pool_fast<IsaLevel::kAvx512, false>});
  r.add(OpKind::kMaxPool, {"maxpool_f32_avx2", &create_pool_fast<IsaLevel::kAvx2, false>});
  r.add(OpKind::kMaxPool, {"maxpool_int8", &create_max_pool_int8});
  r.add(OpKind::kMaxPool, {"maxpool_ref", &create_max_pool_ref});
  r.add(OpKind::kAveragePool, {"averagepool_f32_avx512", &create_pool_fast<IsaLevel::kAvx512, true>});
  r.add(OpKind::kAveragePool, {"averagepool_f32_avx2", &create_pool_fast<IsaLevel::kAvx2, true>});
  r.add(OpKind::kAveragePool, {"averagepool_ref", &create_avg_pool_ref});
  r.add(OpKind::kGlobalAveragePool,
        {"globalaveragepool_f32_avx512", &create_global_pool_fast<IsaLevel::kAvx512, false>});
  r.add(OpKind::kGlobalAveragePool, {"globalaveragepool_f32_avx2", &create_global_pool_fast<IsaLevel::kAvx2, false>});
  r.add(OpKind::kGlobalAveragePool, {"globalaveragepool_ref", &create_global_avg_pool_ref});
  r.add(OpKind::kGlobalMaxPool, {"globalmaxpool_f32_avx512", &create_global_pool_fast<IsaLevel::kAvx512, true>});
  r.add(OpKind::kGlobalMaxPool, {"globalmaxpool_f32_avx2", &create_global_pool_fast<IsaLevel::kAvx2, true>});
  r.add(OpKind::kGlobalMaxPool, {"globalmaxpool_ref", &create_global_max_pool_ref});
  register_normalization_kernels(r);
}

}  // namespace qe

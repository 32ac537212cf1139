// Resize and Upsample bindings. Candidates, best first:
//   resize_2d_f32         float linear or cubic over the last two axes (others unchanged): NCHW
//                         bilinear / bicubic, separable in float, bilinear bit-exact with PyTorch
//   resize_nd_ref         float / double linear or cubic over any axes (tap products in double)
//   resize_nearest        nearest on any fixed-size dtype: axis maps (kernels/data/axis_map)
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/data_common.h"
#include "graph/schemas/data_attrs.h"
#include "kernels/data/axis_map.h"
#include "kernels/data/resize.h"

namespace qe {

namespace {

kernels::ResizeCoord to_kernel(CoordMode c) {
  switch (c) {
    case CoordMode::kHalfPixel: return kernels::ResizeCoord::kHalfPixel;
    case CoordMode::kHalfPixelSymmetric: return kernels::ResizeCoord::kHalfPixelSymmetric;
    case CoordMode::kPytorchHalfPixel: return kernels::ResizeCoord::kPytorchHalfPixel;
    case CoordMode::kAlignCorners: return kernels::ResizeCoord::kAlignCorners;
    case CoordMode::kAsymmetric: return kernels::ResizeCoord::kAsymmetric;
    case CoordMode::kTfHalfPixelForNn: return kernels::ResizeCoord::kTfHalfPixelForNn;
    case CoordMode::kTfCropAndResize: return kernels::ResizeCoord::kTfCropAndResize;
  }
  return kernels::ResizeCoord::kHalfPixel;
}

kernels::ResizeNearest to_kernel(NearestMode m) {
  switch (m) {
    case NearestMode::kRoundPreferFloor: return kernels::ResizeNearest::kRoundPreferFloor;
    case NearestMode::kRoundPreferCeil: return kernels::ResizeNearest::kRoundPreferCeil;
    case NearestMode::kFloor: return kernels::ResizeNearest::kFloor;
    case NearestMode::kCeil: return kernels::ResizeNearest::kCeil;
  }
  return kernels::ResizeNearest::kRoundPreferFloor;
}

struct ResizeSetup {
  ResizeParams params;
  std::vector<kernels::ResizeAxisTaps> taps;
  std::vector<int64_t> in_dims;
};

// Resolves the node's parameters against its concrete shapes and builds the tap tables.
Result<ResizeSetup> resize_setup(const BindContext& ctx) {
  const bool upsample = ctx.node().op == OpKind::kUpsample;
  const Shape& x = ctx.input(0).shape;
  const int scales_at = upsample ? 1 : 2;
  std::vector<float> roi, scales;
  std::vector<int64_t> sizes;
  bool has_roi = false, has_scales = false, has_sizes = false;
  if (!upsample && ctx.has_input(1)) {
    const Tensor* t = ctx.constant_input(1);
    if (!t) return decline("input 'roi' is not a constant");
    roi = t->to_float_vector();
    has_roi = !roi.empty();
  }
  if (ctx.has_input(scales_at)) {
    const Tensor* t = ctx.constant_input(scales_at);
    if (!t) return decline("input 'scales' is not a constant");
    scales = t->to_float_vector();
    has_scales = !scales.empty();
  }
  if (!upsample && ctx.has_input(3)) {
    const Tensor* t = ctx.constant_input(3);
    if (t) {
      sizes = t->to_int64_vector();
    } else {
      // The plan's output shape holds the sizes (stretch policy only).
      QE_ASSIGN_OR_RETURN(std::string policy, ctx.attrs().get_string("keep_aspect_ratio_policy", "stretch"));
      if (policy != "stretch" || ctx.attrs().has("axes")) return decline("input 'sizes' is not a constant");
      sizes = ctx.output(0).shape.dims();
    }
    has_sizes = true;
  }
  ResizeSetup s;
  QE_ASSIGN_OR_RETURN(s.params, resolve_resize(ctx.attrs(), x, has_roi ? &roi : nullptr, has_scales ? &scales : nullptr,
                                               has_sizes ? &sizes : nullptr, upsample));
  if (Shape(s.params.out_dims) != ctx.output(0).shape) {
    return internal_error("Resize output ", ctx.output(0).shape.to_string(), " disagrees with its parameters ",
                          Shape(s.params.out_dims).to_string());
  }
  if (x.rank() > static_cast<size_t>(kernels::kMaxResizeRank)) {
    return decline("rank ", x.rank(), " is above ", kernels::kMaxResizeRank);
  }
  kernels::ResizeTapOptions o;
  o.coord = to_kernel(s.params.coord);
  o.nearest = to_kernel(s.params.nearest);
  o.interp = s.params.mode == ResizeMode::kNearest  ? kernels::ResizeInterp::kNearest
             : s.params.mode == ResizeMode::kLinear ? kernels::ResizeInterp::kLinear
                                                    : kernels::ResizeInterp::kCubic;
  o.cubic_a = s.params.cubic_a;
  o.exclude_outside = s.params.exclude_outside;
  for (size_t d = 0; d < x.rank(); ++d) {
    if (x[d] == 0 && s.params.out_dims[d] > 0) return invalid_argument("cannot resize the empty axis ", d);
    kernels::ResizeAxisSpec a;
    a.in_len = x[d];
    a.out_len = s.params.out_dims[d];
    a.scale = s.params.scales[d];
    a.out_length = s.params.out_lengths[d];
    a.roi_start = s.params.roi_start[d];
    a.roi_end = s.params.roi_end[d];
    s.taps.push_back(kernels::resize_axis_taps(a, o));
  }
  s.in_dims = x.dims();
  return s;
}

class Resize2dF32Kernel final : public OpKernel {
 public:
  Resize2dF32Kernel(kernels::ResizePlan p, float extrapolation) : p_(std::move(p)), extrapolation_(extrapolation) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::resize_2d_f32(ctx.pool, p_, in[0].as<const float>(), out[0].as<float>(), extrapolation_);
    return Status::ok();
  }

 private:
  kernels::ResizePlan p_;
  float extrapolation_;
};

template <typename T>
class ResizeNdKernel final : public OpKernel {
 public:
  ResizeNdKernel(kernels::ResizePlan p, double extrapolation) : p_(std::move(p)), extrapolation_(extrapolation) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::resize_nd<T>(ctx.pool, p_, in[0].as<const T>(), out[0].as<T>(), extrapolation_);
    return Status::ok();
  }

 private:
  kernels::ResizePlan p_;
  double extrapolation_;
};

class ResizeNearestKernel final : public OpKernel {
 public:
  ResizeNearestKernel(kernels::AxisMapPlan p, Tensor fill) : p_(std::move(p)), fill_(std::move(fill)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::axis_map_copy(ctx.pool, p_, in[0].data, out[0].data, fill_.raw());
    return Status::ok();
  }

 private:
  kernels::AxisMapPlan p_;
  Tensor fill_;  // extrapolation_value in the tensor's dtype
};

Result<std::unique_ptr<OpKernel>> create_2d_f32(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  if (ctx.input(0).dtype != DType::kF32) return decline("dtype ", dtype_name(ctx.input(0).dtype), " (float only)");
  QE_ASSIGN_OR_RETURN(ResizeSetup s, resize_setup(ctx));
  if (s.params.mode == ResizeMode::kNearest) return decline("nearest mode has its own kernel");
  const size_t rank = s.in_dims.size();
  if (rank < 2) return decline("rank ", rank, " has no two spatial axes");
  for (size_t d = 0; d + 2 < rank; ++d) {
    if (!s.taps[d].identity) return decline("resizes an axis other than the last two");
  }
  if (s.params.mode == ResizeMode::kLinear) {
    // The spatial taps in PyTorch's float arithmetic where the mapping is one PyTorch has.
    for (size_t d = rank - 2; d < rank; ++d) {
      kernels::ResizeAxisSpec a;
      a.in_len = s.in_dims[d];
      a.out_len = s.params.out_dims[d];
      a.scale = s.params.scales[d];
      a.out_length = s.params.out_lengths[d];
      kernels::ResizeAxisTaps torch_taps;
      if (kernels::resize_linear_taps_torch_f32(a, to_kernel(s.params.coord), &torch_taps)) {
        s.taps[d] = std::move(torch_taps);
      }
    }
  }
  kernels::ResizePlan p = kernels::plan_resize(s.in_dims, std::move(s.taps));
  if (!p.separable_2d) return decline("spatial dims too large for 32-bit indices");
  return std::unique_ptr<OpKernel>(new Resize2dF32Kernel(std::move(p), s.params.extrapolation_value));
}

Result<std::unique_ptr<OpKernel>> create_nd_ref(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  DType t = ctx.input(0).dtype;
  QE_ASSIGN_OR_RETURN(ResizeSetup s, resize_setup(ctx));
  if (s.params.mode == ResizeMode::kNearest) return decline("nearest mode has its own kernel");
  double extrapolation = s.params.extrapolation_value;
  if (t == DType::kF32) {
    return std::unique_ptr<OpKernel>(new ResizeNdKernel<float>(kernels::plan_resize(s.in_dims, std::move(s.taps)), extrapolation));
  }
  if (t == DType::kF64) {
    return std::unique_ptr<OpKernel>(new ResizeNdKernel<double>(kernels::plan_resize(s.in_dims, std::move(s.taps)), extrapolation));
  }
  return decline("linear and cubic interpolation support float and double, not ", dtype_name(t));
}

Result<std::unique_ptr<OpKernel>> create_nearest(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  DType t = ctx.input(0).dtype;
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(t));
  QE_ASSIGN_OR_RETURN(ResizeSetup s, resize_setup(ctx));
  if (s.params.mode != ResizeMode::kNearest) return decline("mode is not nearest");
  std::vector<std::vector<int64_t>> maps(s.taps.size());
  for (size_t d = 0; d < s.taps.size(); ++d) {
    const auto& tp = s.taps[d];
    maps[d].resize(tp.outside.size());
    for (size_t x = 0; x < tp.outside.size(); ++x) maps[d][x] = tp.outside[x] ? -1 : tp.index[x];
  }
  Tensor fill(t, Shape{});
  write_element_from_double(fill.raw(), t, 0, s.params.extrapolation_value);
  return std::unique_ptr<OpKernel>(new ResizeNearestKernel(kernels::plan_axis_map(s.in_dims, maps, elem), std::move(fill)));
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  for (OpKind op : {OpKind::kResize, OpKind::kUpsample}) {
    r.add(op, {"resize_2d_f32", create_2d_f32});
    r.add(op, {"resize_nd_ref", create_nd_ref});
    r.add(op, {"resize_nearest", create_nearest});
  }
}

}  // namespace qe

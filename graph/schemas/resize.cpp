// Schemas of Resize (opset 11+ form: X, roi, scales, sizes) and Upsample (X, scales; the
// importer moves opset-7 scales attributes into the input). Upsample is Resize with the
// asymmetric coordinate mapping and floor rounding for nearest.
//
// Output sizes and coordinate scales follow the ONNX reference implementation: with scales,
// out = floor(in * scale) and the mapping uses the given scale (so align_corners divides by
// in * scale - 1, not by out - 1); with sizes, the scale is out / in.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "graph/schema.h"
#include "graph/schemas/data_attrs.h"

namespace qe {

namespace {

Result<CoordMode> coord_mode(const std::string& s) {
  if (s == "half_pixel") return CoordMode::kHalfPixel;
  if (s == "half_pixel_symmetric") return CoordMode::kHalfPixelSymmetric;
  if (s == "pytorch_half_pixel") return CoordMode::kPytorchHalfPixel;
  if (s == "align_corners") return CoordMode::kAlignCorners;
  if (s == "asymmetric") return CoordMode::kAsymmetric;
  if (s == "tf_half_pixel_for_nn") return CoordMode::kTfHalfPixelForNn;
  if (s == "tf_crop_and_resize") return CoordMode::kTfCropAndResize;
  return invalid_argument("attribute 'coordinate_transformation_mode' has unknown value '", s, "'");
}

Result<NearestMode> nearest_mode(const std::string& s) {
  if (s == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
  if (s == "floor") return NearestMode::kFloor;
  if (s == "ceil") return NearestMode::kCeil;
  return invalid_argument("attribute 'nearest_mode' has unknown value '", s, "'");
}

std::optional<std::vector<float>> float_input(InferContext& ctx, int i) {
  const Tensor* t = ctx.constant_input(i);
  if (!t) return std::nullopt;
  return t->to_float_vector();
}

Status infer_resize(InferContext& ctx) {
  bool upsample = ctx.node().op == OpKind::kUpsample;
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  int scales_at = upsample ? 1 : 2;
  if (ctx.has_input(scales_at) && !dtype_is_float(ctx.input_dtype(scales_at))) {
    return invalid_argument("input 'scales' has dtype ", dtype_name(ctx.input_dtype(scales_at)), ", expected float");
  }
  if (!upsample && ctx.has_input(3) && ctx.input_dtype(3) != DType::kI64) {
    return invalid_argument("input 'sizes' has dtype ", dtype_name(ctx.input_dtype(3)), ", expected int64");
  }
  bool has_scales = ctx.has_input(scales_at);
  bool has_sizes = !upsample && ctx.has_input(3);
  if (!has_scales && !has_sizes) return invalid_argument("needs one of the inputs 'scales' and 'sizes'");
  if (has_scales && has_sizes) {
    // Opsets 11-12 pass an empty scales with sizes; the importer drops empty constants, so a
    // remaining pair is only valid if scales is empty at run time.
    const Tensor* s = ctx.constant_input(scales_at);
    if (!s || s->numel() != 0) return invalid_argument("has both 'scales' and 'sizes'; exactly one must be given");
    has_scales = false;
  }
  std::optional<std::vector<float>> roi = upsample ? std::nullopt : float_input(ctx, 1);
  std::optional<std::vector<float>> scales = has_scales ? float_input(ctx, scales_at) : std::nullopt;
  std::optional<std::vector<int64_t>> sizes;
  if (has_sizes) sizes = partial_int_value(ctx.graph(), ctx.node().inputs[3]);
  if ((has_scales && !scales) || (has_sizes && !sizes)) {
    ctx.set_output(0, t, Shape(std::vector<int64_t>(x.rank(), kUnknownDim)));
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(ResizeParams p, resolve_resize(ctx.attrs(), x, roi ? &*roi : nullptr,
                                                     scales ? &*scales : nullptr, sizes ? &*sizes : nullptr, upsample));
  ctx.set_output(0, t, Shape(p.out_dims));
  if (ctx.has_output(0)) {
    // Dims the resize leaves alone keep their names ("batch").
    Value& out = ctx.graph().value(ctx.node().outputs[0]);
    const Value& in = ctx.input(0);
    for (size_t d = 0; d < out.dim_params.size() && d < in.dim_params.size(); ++d) {
      if (out.shape[d] < 0 && x[d] < 0 && p.scales[d] == 1.0) out.dim_params[d] = in.dim_params[d];
    }
  }
  return Status::ok();
}

}  // namespace

Result<ResizeParams> resolve_resize(const Attributes& attrs, const Shape& in, const std::vector<float>* roi,
                                    const std::vector<float>* scales, const std::vector<int64_t>* sizes,
                                    bool is_upsample) {
  ResizeParams p;
  QE_ASSIGN_OR_RETURN(std::string mode, attrs.get_string("mode", "nearest"));
  if (mode == "nearest") {
    p.mode = ResizeMode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    p.mode = ResizeMode::kLinear;
  } else if (mode == "cubic" && !is_upsample) {
    p.mode = ResizeMode::kCubic;
  } else {
    return invalid_argument("attribute 'mode' has unknown value '", mode, "'");
  }
  const int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<int64_t> axes;
  std::string policy = "stretch";
  if (is_upsample) {
    p.coord = CoordMode::kAsymmetric;
    p.nearest = NearestMode::kFloor;
  } else {
    QE_ASSIGN_OR_RETURN(std::string ctm, attrs.get_string("coordinate_transformation_mode", "half_pixel"));
    QE_ASSIGN_OR_RETURN(p.coord, coord_mode(ctm));
    QE_ASSIGN_OR_RETURN(std::string nm, attrs.get_string("nearest_mode", "round_prefer_floor"));
    QE_ASSIGN_OR_RETURN(p.nearest, nearest_mode(nm));
    QE_ASSIGN_OR_RETURN(p.cubic_a, attrs.get_float("cubic_coeff_a", -0.75f));
    QE_ASSIGN_OR_RETURN(int64_t exclude, attrs.get_int("exclude_outside", 0));
    p.exclude_outside = exclude != 0;
    QE_ASSIGN_OR_RETURN(p.extrapolation_value, attrs.get_float("extrapolation_value", 0.f));
    QE_ASSIGN_OR_RETURN(int64_t antialias, attrs.get_int("antialias", 0));
    if (antialias != 0 && p.mode != ResizeMode::kNearest) {
      return unsupported("attribute antialias=1 is not supported");
    }
    QE_ASSIGN_OR_RETURN(policy, attrs.get_string("keep_aspect_ratio_policy", "stretch"));
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
      return invalid_argument("attribute 'keep_aspect_ratio_policy' has unknown value '", policy, "'");
    }
    QE_ASSIGN_OR_RETURN(std::vector<int64_t> ax, attrs.get_ints("axes"));
    if (attrs.has("axes")) {
      QE_ASSIGN_OR_RETURN(axes, normalize_axes(ax, rank, "attribute 'axes'"));
    }
  }
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  const size_t k = axes.size();
  p.scales.assign(in.rank(), 1.0);
  p.out_lengths.assign(in.rank(), 0.0);
  p.roi_start.assign(in.rank(), 0.0);
  p.roi_end.assign(in.rank(), 1.0);
  p.out_dims.assign(in.begin(), in.end());
  for (size_t d = 0; d < in.rank(); ++d) p.out_lengths[d] = static_cast<double>(in[d]);

  if (roi && p.coord == CoordMode::kTfCropAndResize) {
    if (roi->size() != 2 * k) return invalid_argument("input 'roi' has ", roi->size(), " values, expected ", 2 * k);
    for (size_t i = 0; i < k; ++i) {
      p.roi_start[static_cast<size_t>(axes[i])] = (*roi)[i];
      p.roi_end[static_cast<size_t>(axes[i])] = (*roi)[i + k];
    }
  }
  if (scales) {
    if (scales->size() != k) {
      return invalid_argument("input 'scales' has ", scales->size(), " values for ", k, " axes of input ", in.to_string());
    }
    for (size_t i = 0; i < k; ++i) {
      float s = (*scales)[i];
      if (!(s > 0.f) || !std::isfinite(s)) return invalid_argument("input 'scales' has invalid value ", s);
      size_t a = static_cast<size_t>(axes[i]);
      p.scales[a] = s;
      if (in[a] < 0) {
        p.out_dims[a] = kUnknownDim;
        continue;
      }
      double len = static_cast<double>(s) * static_cast<double>(in[a]);
      if (len > static_cast<double>(kMaxTensorElements)) return out_of_range("scale ", s, " makes axis ", a, " too large");
      p.out_lengths[a] = len;
      p.out_dims[a] = static_cast<int64_t>(std::floor(len));
    }
    return p;
  }
  if (!sizes) return invalid_argument("needs one of the inputs 'scales' and 'sizes'");
  if (sizes->size() != k) {
    return invalid_argument("input 'sizes' has ", sizes->size(), " values for ", k, " axes of input ", in.to_string());
  }
  for (int64_t s : *sizes) {
    if (!is_unknown_value(s) && s < 0) return invalid_argument("input 'sizes' has negative value ", s);
  }
  if (policy != "stretch") {
    // One scale for every axis so that the aspect ratio is kept.
    double scale = policy == "not_larger" ? 1e300 : 0.0;
    for (size_t i = 0; i < k; ++i) {
      int64_t s = (*sizes)[i], d = in[static_cast<size_t>(axes[i])];
      if (is_unknown_value(s) || d < 0) {
        for (int64_t a : axes) p.out_dims[static_cast<size_t>(a)] = kUnknownDim;
        return p;
      }
      if (d == 0) return invalid_argument("cannot keep the aspect ratio of an empty axis ", axes[i]);
      double r = static_cast<double>(s) / static_cast<double>(d);
      scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
    }
    for (int64_t a : axes) {
      size_t u = static_cast<size_t>(a);
      p.scales[u] = scale;
      p.out_lengths[u] = scale * static_cast<double>(in[u]);
      p.out_dims[u] = static_cast<int64_t>(std::floor(p.out_lengths[u] + 0.5));
    }
    return p;
  }
  for (size_t i = 0; i < k; ++i) {
    size_t a = static_cast<size_t>(axes[i]);
    int64_t s = (*sizes)[i];
    p.out_dims[a] = is_unknown_value(s) ? kUnknownDim : s;
    if (is_unknown_value(s) || in[a] <= 0) continue;
    p.scales[a] = static_cast<double>(s) / static_cast<double>(in[a]);
    p.out_lengths[a] = static_cast<double>(s);
  }
  return p;
}

void register_resize_schemas(SchemaTable& t) {
  t.add({OpKind::kResize, 1, 4, 1, 1, infer_resize});
  t.add({OpKind::kUpsample, 2, 2, 1, 1, infer_resize});
}

}  // namespace qe

// Schemas of the pooling and normalisation family: MaxPool, AveragePool, GlobalAveragePool,
// GlobalMaxPool, BatchNormalization, LayerNormalization.
#include <algorithm>
#include <string>

#include "graph/schema.h"
#include "graph/schemas/pool_attrs.h"

namespace qe {

namespace {

Result<std::vector<int64_t>> read_per_axis(const Attributes& attrs, const char* name, size_t k, int64_t def,
                                           int64_t min_value) {
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> v, attrs.get_ints(name, std::vector<int64_t>(k, def)));
  if (v.empty()) v.assign(k, def);
  if (v.size() != k) return invalid_argument("attribute '", name, "' has ", v.size(), " values, expected ", k);
  for (int64_t x : v) {
    if (x < min_value) return invalid_argument("attribute '", name, "' has value ", x, " < ", min_value);
  }
  return v;
}

}  // namespace

Result<PoolGeometry> resolve_pool_geometry(const Attributes& attrs, const Shape& x) {
  if (x.rank() < 3) return invalid_argument("input X has rank ", x.rank(), ", expected at least 3 (N, C, spatial...)");
  PoolGeometry g;
  size_t k = x.rank() - 2;
  g.spatial_rank = static_cast<int>(k);
  g.in_spatial.assign(x.begin() + 2, x.end());
  QE_ASSIGN_OR_RETURN(g.kernel, attrs.get_ints("kernel_shape"));
  if (g.kernel.empty()) return invalid_argument("attribute 'kernel_shape' is required");
  if (g.kernel.size() != k) {
    return invalid_argument("attribute 'kernel_shape' has ", g.kernel.size(), " values, expected ", k);
  }
  for (int64_t v : g.kernel) {
    if (v < 1) return invalid_argument("attribute 'kernel_shape' has value ", v, " < 1");
  }
  QE_ASSIGN_OR_RETURN(g.strides, read_per_axis(attrs, "strides", k, 1, 1));
  QE_ASSIGN_OR_RETURN(g.dilations, read_per_axis(attrs, "dilations", k, 1, 1));
  QE_ASSIGN_OR_RETURN(int64_t ceil_mode, attrs.get_int("ceil_mode", 0));
  g.ceil_mode = ceil_mode != 0;
  QE_ASSIGN_OR_RETURN(std::string auto_pad, attrs.get_string("auto_pad", "NOTSET"));
  bool same_upper = auto_pad == "SAME_UPPER", same_lower = auto_pad == "SAME_LOWER";
  if (auto_pad == "NOTSET" || auto_pad.empty()) {
    QE_ASSIGN_OR_RETURN(std::vector<int64_t> pads, attrs.get_ints("pads", std::vector<int64_t>(2 * k, 0)));
    if (pads.empty()) pads.assign(2 * k, 0);
    if (pads.size() != 2 * k) return invalid_argument("attribute 'pads' has ", pads.size(), " values, expected ", 2 * k);
    for (int64_t p : pads) {
      if (p < 0) return invalid_argument("attribute 'pads' has negative value ", p);
    }
    g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(k));
    g.pads_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(k), pads.end());
  } else if (auto_pad == "VALID") {
    g.pads_begin.assign(k, 0);
    g.pads_end.assign(k, 0);
  } else if (same_upper || same_lower) {
    g.pads_begin.assign(k, -1);
    g.pads_end.assign(k, -1);
  } else {
    return invalid_argument("attribute 'auto_pad' has unknown value '", auto_pad, "'");
  }
  g.out_spatial.assign(k, -1);
  for (size_t i = 0; i < k; ++i) {
    int64_t in = g.in_spatial[i];
    int64_t eff_k = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t s = g.strides[i];
    if (in < 0) continue;
    if (same_upper || same_lower) {
      int64_t out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + eff_k - in);
      g.pads_begin[i] = same_upper ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
      g.out_spatial[i] = out;
      continue;
    }
    int64_t span = in + g.pads_begin[i] + g.pads_end[i] - eff_k;
    if (span < 0) {
      return invalid_argument("spatial dim ", i, ": padded input size ", in + g.pads_begin[i] + g.pads_end[i],
                              " is smaller than the (dilated) kernel ", eff_k);
    }
    int64_t out = (g.ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (g.ceil_mode && (out - 1) * s >= in + g.pads_begin[i]) --out;
    g.out_spatial[i] = out;
  }
  return g;
}

namespace {

Status infer_pool(InferContext& ctx) {
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    ctx.set_output_unknown(1, DType::kI64);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(PoolGeometry g, resolve_pool_geometry(ctx.attrs(), x));
  std::vector<int64_t> d = {x[0], x[1]};
  d.insert(d.end(), g.out_spatial.begin(), g.out_spatial.end());
  ctx.set_output(0, t, Shape(d));
  ctx.set_output(1, DType::kI64, Shape(d));  // MaxPool's Indices
  return Status::ok();
}

Status infer_global_pool(InferContext& ctx) {
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  if (x.rank() < 3) return invalid_argument("input X has shape ", x.to_string(), ", expected rank >= 3 (N, C, spatial...)");
  std::vector<int64_t> d(x.rank(), 1);
  d[0] = x[0];
  d[1] = x[1];
  ctx.set_output(0, t, Shape(d));
  return Status::ok();
}

Status infer_batch_norm(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  for (int i = 1; i < 5; ++i) QE_RETURN_IF_ERROR(expect_float_input(ctx, i));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, DType::kF32);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  if (x.rank() < 2) return invalid_argument("input X has shape ", x.to_string(), ", expected rank >= 2 (N, C, ...)");
  int64_t c = x[1];
  static const char* kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; ++i) {
    if (!ctx.input_shape_known(i)) continue;
    const Shape& s = ctx.input_shape(i);
    if (s.rank() != 1 || (s[0] >= 0 && c >= 0 && s[0] != c)) {
      return invalid_argument("input ", kNames[i], " has shape ", s.to_string(), ", expected [", c, "] for X ",
                              x.to_string());
    }
  }
  ctx.set_output(0, DType::kF32, x);
  ctx.set_output(1, DType::kF32, Shape{c});
  ctx.set_output(2, DType::kF32, Shape{c});
  return Status::ok();
}

Status infer_layer_norm(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 1));
  if (ctx.has_input(2)) QE_RETURN_IF_ERROR(expect_float_input(ctx, 2));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, DType::kF32);
    ctx.set_output_unknown(1, DType::kF32);
    ctx.set_output_unknown(2, DType::kF32);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(x.rank())));
  Shape norm(std::vector<int64_t>(x.begin() + axis, x.end()));
  for (int i = 1; i < 3; ++i) {
    if (!ctx.has_input(i) || !ctx.input_shape_known(i)) continue;
    const Shape& s = ctx.input_shape(i);
    bool ok = s.rank() <= norm.rank();
    for (size_t j = 0; ok && j < s.rank(); ++j) {
      int64_t d = s[j], n = norm[norm.rank() - s.rank() + j];
      ok = d == 1 || d < 0 || n < 0 || d == n;
    }
    if (!ok) {
      return invalid_argument("input ", i == 1 ? "Scale" : "B", " has shape ", s.to_string(),
                              ", not broadcastable to the normalised shape ", norm.to_string(), " of X ", x.to_string(),
                              " at axis ", axis);
    }
  }
  ctx.set_output(0, DType::kF32, x);
  std::vector<int64_t> stats(x.begin(), x.end());
  for (size_t j = static_cast<size_t>(axis); j < stats.size(); ++j) stats[j] = 1;
  ctx.set_output(1, DType::kF32, Shape(stats));
  ctx.set_output(2, DType::kF32, Shape(stats));
  return Status::ok();
}

}  // namespace

void register_pooling_schemas(SchemaTable& t) {
  t.add({OpKind::kMaxPool, 1, 1, 1, 2, infer_pool});
  t.add({OpKind::kAveragePool, 1, 1, 1, 1, infer_pool});
  t.add({OpKind::kGlobalAveragePool, 1, 1, 1, 1, infer_global_pool});
  t.add({OpKind::kGlobalMaxPool, 1, 1, 1, 1, infer_global_pool});
  t.add({OpKind::kBatchNormalization, 5, 5, 1, 3, infer_batch_norm});
  t.add({OpKind::kLayerNormalization, 2, 3, 1, 3, infer_layer_norm});
}

}  // namespace qe

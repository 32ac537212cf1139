// Schemas of the float compute ops: Conv, ConvTranspose, Gemm, MatMul (ONNX opset 13 semantics).
#include <algorithm>
#include <string>

#include "graph/schema.h"
#include "graph/schemas/conv_attrs.h"

namespace qe {

namespace {

// Python-style floor division: ONNX's reference splits negative totals that way.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

Result<AutoPad> read_auto_pad(const Attributes& attrs) {
  QE_ASSIGN_OR_RETURN(std::string s, attrs.get_string("auto_pad", "NOTSET"));
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return invalid_argument("attribute 'auto_pad' has unknown value '", s, "'");
}

Result<std::vector<int64_t>> read_per_axis(const Attributes& attrs, const char* name, size_t k, int64_t def,
                                           int64_t min_value) {
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> v, attrs.get_ints(name, std::vector<int64_t>(k, def)));
  if (v.empty()) v.assign(k, def);
  if (v.size() != k) {
    return invalid_argument("attribute '", name, "' has ", v.size(), " values, expected ", k);
  }
  for (int64_t x : v) {
    if (x < min_value) return invalid_argument("attribute '", name, "' has value ", x, " < ", min_value);
  }
  return v;
}

// What Conv and ConvTranspose share: ranks, group, kernel, strides, dilations.
Status read_common(const Attributes& attrs, const Shape& x, const Shape& w, ConvGeometry& g) {
  if (x.rank() < 3) return invalid_argument("input X has rank ", x.rank(), ", expected at least 3 (N, C, spatial...)");
  if (w.rank() != x.rank()) {
    return invalid_argument("weight W has rank ", w.rank(), " but X has rank ", x.rank());
  }
  size_t k = x.rank() - 2;
  g.spatial_rank = static_cast<int>(k);
  QE_ASSIGN_OR_RETURN(g.group, attrs.get_int("group", 1));
  if (g.group < 1) return invalid_argument("attribute 'group' is ", g.group, ", expected >= 1");
  g.batch = x[0];
  g.in_channels = x[1];
  g.in_spatial.assign(x.begin() + 2, x.end());

  std::vector<int64_t> w_kernel(w.begin() + 2, w.end());
  QE_ASSIGN_OR_RETURN(g.kernel, attrs.get_ints("kernel_shape", w_kernel));
  if (g.kernel.empty()) g.kernel = w_kernel;
  if (g.kernel.size() != k) {
    return invalid_argument("attribute 'kernel_shape' has ", g.kernel.size(), " values, expected ", k);
  }
  for (size_t i = 0; i < k; ++i) {
    if (w_kernel[i] >= 0 && g.kernel[i] != w_kernel[i]) {
      return invalid_argument("attribute 'kernel_shape' ", Shape(g.kernel).to_string(), " does not match W's shape ",
                              w.to_string());
    }
    if (g.kernel[i] == 0) return invalid_argument("kernel dimension ", i, " is 0");
  }
  QE_ASSIGN_OR_RETURN(g.strides, read_per_axis(attrs, "strides", k, 1, 1));
  QE_ASSIGN_OR_RETURN(g.dilations, read_per_axis(attrs, "dilations", k, 1, 1));
  return Status::ok();
}

Status read_explicit_pads(const Attributes& attrs, size_t k, ConvGeometry& g) {
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> pads, attrs.get_ints("pads", std::vector<int64_t>(2 * k, 0)));
  if (pads.empty()) pads.assign(2 * k, 0);
  if (pads.size() != 2 * k) return invalid_argument("attribute 'pads' has ", pads.size(), " values, expected ", 2 * k);
  for (int64_t p : pads) {
    if (p < 0) return invalid_argument("attribute 'pads' has negative value ", p);
  }
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(k));
  g.pads_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(k), pads.end());
  return Status::ok();
}

}  // namespace

Shape ConvGeometry::output_shape() const {
  std::vector<int64_t> d = {batch, out_channels};
  d.insert(d.end(), out_spatial.begin(), out_spatial.end());
  return Shape(std::move(d));
}

Result<ConvGeometry> resolve_conv_geometry(const Attributes& attrs, const Shape& x, const Shape& w) {
  ConvGeometry g;
  QE_RETURN_IF_ERROR(read_common(attrs, x, w, g));
  size_t k = static_cast<size_t>(g.spatial_rank);
  g.out_channels = w[0];
  if (g.out_channels >= 0 && g.out_channels % g.group != 0) {
    return invalid_argument("W has ", g.out_channels, " output channels, not divisible by group ", g.group);
  }
  if (g.in_channels >= 0 && w[1] >= 0 && g.in_channels != w[1] * g.group) {
    return invalid_argument("X has ", g.in_channels, " channels but W ", w.to_string(), " with group ", g.group,
                            " expects ", w[1] * g.group);
  }
  QE_ASSIGN_OR_RETURN(AutoPad ap, read_auto_pad(attrs));
  if (ap == AutoPad::kNotSet) {
    QE_RETURN_IF_ERROR(read_explicit_pads(attrs, k, g));
  } else {
    g.pads_begin.assign(k, ap == AutoPad::kValid ? 0 : -1);
    g.pads_end.assign(k, ap == AutoPad::kValid ? 0 : -1);
  }
  g.out_spatial.assign(k, -1);
  for (size_t i = 0; i < k; ++i) {
    int64_t in = g.in_spatial[i];
    if (in < 0 || g.kernel[i] < 0) continue;
    int64_t eff_k = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (ap == AutoPad::kSameUpper || ap == AutoPad::kSameLower) {
      int64_t out = (in + g.strides[i] - 1) / g.strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[i] + eff_k - in);
      g.pads_begin[i] = ap == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
      g.out_spatial[i] = out;
      continue;
    }
    int64_t padded = in + g.pads_begin[i] + g.pads_end[i];
    if (padded < eff_k) {
      return invalid_argument("spatial dim ", i, ": padded input size ", padded, " is smaller than the dilated kernel ",
                              eff_k);
    }
    g.out_spatial[i] = (padded - eff_k) / g.strides[i] + 1;
  }
  return g;
}

Result<ConvGeometry> resolve_conv_transpose_geometry(const Attributes& attrs, const Shape& x, const Shape& w) {
  ConvGeometry g;
  QE_RETURN_IF_ERROR(read_common(attrs, x, w, g));
  size_t k = static_cast<size_t>(g.spatial_rank);
  if (g.in_channels >= 0 && w[0] >= 0 && g.in_channels != w[0]) {
    return invalid_argument("X has ", g.in_channels, " channels but W ", w.to_string(), " expects ", w[0]);
  }
  if (w[0] >= 0 && w[0] % g.group != 0) {
    return invalid_argument("W has ", w[0], " input channels, not divisible by group ", g.group);
  }
  g.out_channels = w[1] < 0 ? -1 : w[1] * g.group;
  QE_ASSIGN_OR_RETURN(g.output_padding, read_per_axis(attrs, "output_padding", k, 0, 0));
  QE_ASSIGN_OR_RETURN(AutoPad ap, read_auto_pad(attrs));
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> output_shape, attrs.get_ints("output_shape"));
  // Older exporters write the full [N, C, spatial...] shape.
  if (output_shape.size() == k + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != k) {
    return invalid_argument("attribute 'output_shape' has ", output_shape.size(), " values, expected ", k);
  }
  bool explicit_pads = output_shape.empty() && (ap == AutoPad::kNotSet || ap == AutoPad::kValid);
  if (explicit_pads && ap == AutoPad::kNotSet) {
    QE_RETURN_IF_ERROR(read_explicit_pads(attrs, k, g));
  } else {
    g.pads_begin.assign(k, explicit_pads ? 0 : -1);
    g.pads_end.assign(k, explicit_pads ? 0 : -1);
  }
  g.out_spatial.assign(k, -1);
  for (size_t i = 0; i < k; ++i) {
    int64_t in = g.in_spatial[i];
    if (g.output_padding[i] >= std::max(g.strides[i], g.dilations[i])) {
      return invalid_argument("attribute 'output_padding' value ", g.output_padding[i],
                              " must be smaller than the stride or the dilation");
    }
    if (in < 0 || g.kernel[i] < 0) continue;
    int64_t eff_k = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t full = g.strides[i] * (in - 1) + g.output_padding[i] + eff_k;
    if (explicit_pads) {
      g.out_spatial[i] = full - g.pads_begin[i] - g.pads_end[i];
      if (g.out_spatial[i] <= 0) {
        return invalid_argument("spatial dim ", i, ": pads leave an empty output");
      }
      continue;
    }
    int64_t out = output_shape.empty() ? in * g.strides[i] : output_shape[i];
    if (out <= 0) return invalid_argument("attribute 'output_shape' has non-positive value ", out);
    // A negative total (output_shape larger than the full result) leaves zero rows at the end.
    int64_t total = full - out;
    g.pads_begin[i] = ap == AutoPad::kSameUpper ? floor_div(total, 2) : total - floor_div(total, 2);
    g.pads_end[i] = total - g.pads_begin[i];
    g.out_spatial[i] = out;
  }
  return g;
}

namespace {

Status check_bias(const InferContext& ctx, int64_t out_channels) {
  if (!ctx.has_input(2)) return Status::ok();
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 2));
  if (!ctx.input_shape_known(2)) return Status::ok();
  const Shape& b = ctx.input_shape(2);
  if (b.rank() != 1 || (b[0] >= 0 && out_channels >= 0 && b[0] != out_channels)) {
    return invalid_argument("bias B has shape ", b.to_string(), ", expected [", out_channels, "]");
  }
  return Status::ok();
}

Status infer_conv_like(InferContext& ctx, bool transposed) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 1));
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) {
    ctx.set_output_unknown(0, DType::kF32);
    return Status::ok();
  }
  auto g = transposed ? resolve_conv_transpose_geometry(ctx.attrs(), ctx.input_shape(0), ctx.input_shape(1))
                      : resolve_conv_geometry(ctx.attrs(), ctx.input_shape(0), ctx.input_shape(1));
  if (!g.is_ok()) return g.status();
  QE_RETURN_IF_ERROR(check_bias(ctx, g->out_channels));
  ctx.set_output(0, DType::kF32, g->output_shape());
  return Status::ok();
}

Status infer_conv(InferContext& ctx) { return infer_conv_like(ctx, false); }
Status infer_conv_transpose(InferContext& ctx) { return infer_conv_like(ctx, true); }

// Two known dims must agree; an unknown one takes the other's value.
Result<int64_t> merge_dim(int64_t a, int64_t b, const char* what) {
  if (a >= 0 && b >= 0 && a != b) return invalid_argument(what, " mismatch: ", a, " vs ", b);
  return a >= 0 ? a : b;
}

Status infer_gemm(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 1));
  if (ctx.has_input(2)) QE_RETURN_IF_ERROR(expect_float_input(ctx, 2));
  QE_ASSIGN_OR_RETURN(int64_t trans_a, ctx.attrs().get_int("transA", 0));
  QE_ASSIGN_OR_RETURN(int64_t trans_b, ctx.attrs().get_int("transB", 0));
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) {
    ctx.set_output(0, DType::kF32, Shape{-1, -1});
    return Status::ok();
  }
  const Shape& a = ctx.input_shape(0);
  const Shape& b = ctx.input_shape(1);
  if (a.rank() != 2 || b.rank() != 2) {
    return invalid_argument("Gemm needs 2-D A and B, got ", a.to_string(), " and ", b.to_string());
  }
  int64_t m = trans_a ? a[1] : a[0];
  int64_t ka = trans_a ? a[0] : a[1];
  int64_t kb = trans_b ? b[1] : b[0];
  int64_t n = trans_b ? b[0] : b[1];
  QE_RETURN_IF_ERROR(merge_dim(ka, kb, "inner dimension K of A and B").status());
  if (ctx.has_input(2) && ctx.input_shape_known(2)) {
    const Shape& c = ctx.input_shape(2);
    if (c.rank() > 2) return invalid_argument("C has shape ", c.to_string(), ", not broadcastable to [M, N]");
    int64_t cm = c.rank() == 2 ? c[0] : 1;
    int64_t cn = c.rank() >= 1 ? c[c.rank() - 1] : 1;
    if ((cm >= 0 && m >= 0 && cm != 1 && cm != m) || (cn >= 0 && n >= 0 && cn != 1 && cn != n)) {
      return invalid_argument("C has shape ", c.to_string(), ", not unidirectionally broadcastable to [", m, ",", n,
                              "]");
    }
  }
  ctx.set_output(0, DType::kF32, Shape{m, n});
  return Status::ok();
}

Status infer_matmul(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 1));
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) {
    ctx.set_output_unknown(0, DType::kF32);
    return Status::ok();
  }
  Shape a = ctx.input_shape(0);
  Shape b = ctx.input_shape(1);
  if (a.rank() == 0 || b.rank() == 0) return invalid_argument("MatMul operands must have rank >= 1");
  bool a_vec = a.rank() == 1;
  bool b_vec = b.rank() == 1;
  if (a_vec) a = Shape{1, a[0]};
  if (b_vec) b = Shape{b[0], 1};
  QE_RETURN_IF_ERROR(merge_dim(a[a.rank() - 1], b[b.rank() - 2], "inner dimension K of A and B").status());
  Shape a_batch(std::vector<int64_t>(a.begin(), a.end() - 2));
  Shape b_batch(std::vector<int64_t>(b.begin(), b.end() - 2));
  // broadcast_shapes rejects unknown dims it cannot reconcile; keep -1 where either side is unknown.
  size_t rank = std::max(a_batch.rank(), b_batch.rank());
  std::vector<int64_t> batch(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i + a_batch.rank() >= rank ? a_batch[i + a_batch.rank() - rank] : 1;
    int64_t db = i + b_batch.rank() >= rank ? b_batch[i + b_batch.rank() - rank] : 1;
    if (da == 1) {
      batch[i] = db;
    } else if (db == 1) {
      batch[i] = da;
    } else if (da < 0 || db < 0) {
      batch[i] = da < 0 ? db : da;
    } else if (da != db) {
      return invalid_argument("batch dims of ", ctx.input_shape(0).to_string(), " and ", ctx.input_shape(1).to_string(),
                              " do not broadcast");
    } else {
      batch[i] = da;
    }
  }
  if (!a_vec) batch.push_back(a[a.rank() - 2]);
  if (!b_vec) batch.push_back(b[b.rank() - 1]);
  ctx.set_output(0, DType::kF32, Shape(std::move(batch)));
  return Status::ok();
}

}  // namespace

void register_compute_schemas(SchemaTable& t) {
  t.add({OpKind::kConv, 2, 3, 1, 1, infer_conv});
  t.add({OpKind::kConvTranspose, 2, 3, 1, 1, infer_conv_transpose});
  t.add({OpKind::kGemm, 2, 3, 1, 1, infer_gemm});
  t.add({OpKind::kMatMul, 2, 2, 1, 1, infer_matmul});
}

}  // namespace qe

// Ranges → scale / zero point, the host fake-quantizer and SQNR. The weight quantizer is in
// quant/weight_quant.cpp.
#include "quant/quant_math.h"
#include "engine/quant_rounding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/quant/fake_quant.h"

namespace qe {

namespace {

// Brevitas' scaling_min_val: keeps 1/scale finite for ranges that are tiny but not zero.
constexpr double kMinScale = 1e-10;

double po2_ceil(double s) { return std::ldexp(1.0, static_cast<int>(std::ceil(std::log2(s)))); }

QuantParams grid_params(const QuantSpec& spec) {
  QuantParams p;
  p.kind = QuantKind::kInt;
  p.bits = spec.bits;
  p.is_signed = spec.sign != Signedness::kUnsigned;
  p.narrow = spec.narrow;
  return p;
}

Status check_range(const ObservedRange& r) {
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi)) {
    return invalid_argument("quantizer range [", r.lo, ", ", r.hi, "] is not finite");
  }
  if (r.lo > r.hi) return invalid_argument("quantizer range [", r.lo, ", ", r.hi, "] is empty (lo > hi)");
  return Status::ok();
}

}  // namespace

Result<IntGrid> int_grid_for_range(const QuantSpec& spec, float lo, float hi) {
  if (spec.sign == Signedness::kAuto) {
    return invalid_argument("quantizer sign must be resolved (signed or unsigned), not auto");
  }
  if (spec.bits < 1 || spec.bits > 32) return invalid_argument("integer quantizer bits must be 1..32, got ", spec.bits);
  ObservedRange r;
  r.lo = lo;
  r.hi = hi;
  QE_RETURN_IF_ERROR(check_range(r));
  const QuantParams gp = grid_params(spec);
  IntGrid g;
  g.min_int = gp.min_int();
  g.max_int = gp.max_int();
  if (g.max_int <= g.min_int) {
    return invalid_argument(spec.bits, "-bit ", gp.is_signed ? "signed" : "unsigned", gp.narrow ? " narrow" : "",
                            " grid has a single level");
  }
  const auto qmin = static_cast<double>(g.min_int), qmax = static_cast<double>(g.max_int);
  double lo_d = lo, hi_d = hi, s;
  if (spec.symmetric) {
    if (gp.is_signed && g.max_int < 1) {
      return invalid_argument("symmetric signed ", spec.bits, "-bit grid has no positive level (use bipolar or unsigned)");
    }
    const double a = gp.is_signed ? std::max(std::fabs(lo_d), std::fabs(hi_d)) : std::max(hi_d, 0.0);
    s = a / qmax;
  } else {
    lo_d = std::min(lo_d, 0.0);
    hi_d = std::max(hi_d, 0.0);
    s = (hi_d - lo_d) / (qmax - qmin);
  }
  if (s == 0.0) {
    // Zero range: every value is 0, any scale represents it; 1 keeps the file readable.
    g.scale = 1.0f;
    g.zero_point = static_cast<float>(std::clamp(0.0, qmin, qmax));
    return g;
  }
  s = std::max(s, kMinScale);
  if (spec.scale_type == ScaleType::kPo2) s = po2_ceil(s);
  g.scale = static_cast<float>(s);
  if (!spec.symmetric) {
    const double zp = std::nearbyint(qmin - lo_d / static_cast<double>(g.scale));
    g.zero_point = static_cast<float>(std::clamp(zp, qmin, qmax));
  }
  return g;
}

Result<QuantParams> params_from_ranges(const QuantSpec& spec, const std::vector<ObservedRange>& ranges, int rank,
                                       int axis) {
  if (ranges.empty()) return invalid_argument("quantizer has no observed range");
  if (axis < 0 && ranges.size() != 1) {
    return invalid_argument("per-tensor quantizer got ", ranges.size(), " ranges (pass the channel axis)");
  }
  if (axis >= 0 && axis >= rank) return invalid_argument("quantizer axis ", axis, " is out of range for rank ", rank);
  for (const ObservedRange& r : ranges) QE_RETURN_IF_ERROR(check_range(r));

  QuantParams p;
  p.kind = spec.kind;
  p.rounding = spec.rounding;
  p.axis = axis < 0 ? -1 : axis;
  p.po2 = spec.scale_type == ScaleType::kPo2;
  Shape shape;
  if (axis >= 0) {
    shape = Shape(std::vector<int64_t>(static_cast<size_t>(rank), 1));
    shape[static_cast<size_t>(axis)] = static_cast<int64_t>(ranges.size());
  }
  std::vector<float> scale(ranges.size()), zp(ranges.size(), 0.0f);
  switch (spec.kind) {
    case QuantKind::kInt: {
      p.bits = spec.bits;
      p.is_signed = spec.sign != Signedness::kUnsigned;
      p.narrow = spec.narrow;
      for (size_t c = 0; c < ranges.size(); ++c) {
        QE_ASSIGN_OR_RETURN(IntGrid g, int_grid_for_range(spec, ranges[c].lo, ranges[c].hi));
        scale[c] = g.scale;
        zp[c] = g.zero_point;
      }
      break;
    }
    case QuantKind::kFloat: {
      const MinifloatFormat& f = spec.minifloat;
      if (!(f.max_val > 0.0f) || f.exponent_bits < 1 || f.mantissa_bits < 0) {
        return invalid_argument("minifloat format e", f.exponent_bits, "m", f.mantissa_bits, " max_val ", f.max_val,
                                " is not valid");
      }
      p.bits = 1 + f.exponent_bits + f.mantissa_bits;
      p.is_signed = true;
      p.minifloat = f;
      for (size_t c = 0; c < ranges.size(); ++c) {
        // Minifloats are symmetric: the largest magnitude maps onto max_val.
        double s = std::max(std::fabs(static_cast<double>(ranges[c].lo)), std::fabs(static_cast<double>(ranges[c].hi))) /
                   f.max_val;
        if (s == 0.0) {
          scale[c] = 1.0f;
          continue;
        }
        s = std::max(s, kMinScale);
        if (p.po2) s = po2_ceil(s);
        scale[c] = static_cast<float>(s);
      }
      break;
    }
    case QuantKind::kBipolar:
      // Bipolar activations are signs: ±1 (FINN's binary activations). Weights get mean |w|
      // from weight_quant_params(), which sees the values.
      p.bits = 1;
      p.is_signed = true;
      std::fill(scale.begin(), scale.end(), 1.0f);
      break;
  }
  p.scale = Tensor::from_vector(shape, scale);
  p.zero_point = Tensor::from_vector(shape, zp);
  return p;
}

namespace {

// Scale and zero point broadcast onto x, flattened as [outer, channels, inner] with one value
// per channel: channels span the first to the last axis where either tensor is not 1.
struct Broadcast {
  int64_t outer = 1, channels = 1, inner = 1;
  std::vector<float> scale, zero_point;
};

Result<Broadcast> broadcast_params(const Shape& x, const Tensor& scale, const Tensor& zp) {
  const int rank = static_cast<int>(x.rank());
  const Tensor* params[2] = {&scale, &zp};
  std::vector<std::vector<int64_t>> dims(2);  // right-aligned to x
  int first = rank, last = -1;
  for (int t = 0; t < 2; ++t) {
    const Shape& s = params[t]->shape();
    if (static_cast<int>(s.rank()) > rank) {
      return invalid_argument("quantizer ", t == 0 ? "scale" : "zero point", " shape ", s.to_string(),
                              " has more dims than the input ", x.to_string());
    }
    dims[t].assign(static_cast<size_t>(rank), 1);
    const int off = rank - static_cast<int>(s.rank());
    for (size_t d = 0; d < s.rank(); ++d) dims[t][off + d] = s[d];
    for (int d = 0; d < rank; ++d) {
      const int64_t v = dims[t][static_cast<size_t>(d)];
      if (v == 1) continue;
      if (v != x[static_cast<size_t>(d)]) {
        return invalid_argument("quantizer ", t == 0 ? "scale" : "zero point", " shape ", s.to_string(),
                                " does not broadcast against the input ", x.to_string());
      }
      first = std::min(first, d);
      last = std::max(last, d);
    }
  }
  Broadcast b;
  if (last < 0) {
    b.inner = x.numel();
    b.scale = {scale.data<float>()[0]};
    b.zero_point = {zp.data<float>()[0]};
    return b;
  }
  for (int d = 0; d < first; ++d) b.outer *= x[static_cast<size_t>(d)];
  for (int d = first; d <= last; ++d) b.channels *= x[static_cast<size_t>(d)];
  for (int d = last + 1; d < rank; ++d) b.inner *= x[static_cast<size_t>(d)];
  // Expand each parameter over the channel span (stride 0 along its size-1 dims).
  for (int t = 0; t < 2; ++t) {
    std::vector<int64_t> stride(static_cast<size_t>(rank), 0);
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; --d) {
      if (dims[t][static_cast<size_t>(d)] != 1) stride[static_cast<size_t>(d)] = st;
      st *= dims[t][static_cast<size_t>(d)];
    }
    const float* src = params[t]->data<float>();
    std::vector<float>& out = t == 0 ? b.scale : b.zero_point;
    out.resize(static_cast<size_t>(b.channels));
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t c = 0; c < b.channels; ++c) {
      int64_t off = 0;
      for (int d = first; d <= last; ++d) off += idx[static_cast<size_t>(d)] * stride[static_cast<size_t>(d)];
      out[static_cast<size_t>(c)] = src[off];
      for (int d = last; d >= first; --d) {
        if (++idx[static_cast<size_t>(d)] < x[static_cast<size_t>(d)]) break;
        idx[static_cast<size_t>(d)] = 0;
      }
    }
  }
  return b;
}

}  // namespace

Result<Tensor> fake_quantize(const Tensor& x, const QuantParams& p) {
  if (x.dtype() != DType::kF32) return unsupported("fake_quantize: input must be float32, got ", dtype_name(x.dtype()));
  if (!p.scale.defined() || p.scale.dtype() != DType::kF32 || p.scale.numel() == 0) {
    return invalid_argument("fake_quantize: the scale must be a non-empty float32 tensor");
  }
  Tensor zp = p.zero_point;
  if (!zp.defined()) zp = Tensor(DType::kF32, p.scale.shape());
  if (zp.dtype() != DType::kF32) return invalid_argument("fake_quantize: the zero point must be float32");
  QE_ASSIGN_OR_RETURN(Broadcast b, broadcast_params(x.shape(), p.scale, zp));
  Tensor y(DType::kF32, x.shape());
  if (x.numel() == 0) return y;
  const float* in = x.data<float>();
  float* out = y.data<float>();
  switch (p.kind) {
    case QuantKind::kInt: {
      if (p.bits < 1 || p.bits > 32) return invalid_argument("fake_quantize: integer bits must be 1..32, got ", p.bits);
      kernels::IntQuantArgs a;
      a.scale = b.scale.data();
      a.zero_point = b.zero_point.data();
      a.outer = b.outer;
      a.channels = b.channels;
      a.inner = b.inner;
      a.min_int = static_cast<double>(p.min_int());
      a.max_int = static_cast<double>(p.max_int());
      a.rounding = to_kernel_rounding(p.rounding);
      kernels::int_fake_quant_ref(in, out, a);
      break;
    }
    case QuantKind::kBipolar:
      kernels::bipolar_quant_ref(in, out, b.scale.data(), b.outer, b.channels, b.inner);
      break;
    case QuantKind::kFloat: {
      const kernels::MinifloatArgs a = to_kernel_minifloat(p.minifloat, p.rounding);
      kernels::float_fake_quant_ref(in, out, b.scale.data(), b.outer, b.channels, b.inner, a);
      break;
    }
  }
  return y;
}

double sqnr_db(const float* x, const float* q, int64_t n) {
  double signal = 0, noise = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double e = v - static_cast<double>(q[i]);
    signal += v * v;
    noise += e * e;
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace qe

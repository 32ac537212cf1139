// Weight quantizer parameters: abs-max / min-max / MSE-searched ranges per tensor, per output
// channel or per group of input channels, laid out as broadcastable scale tensors.
#include <algorithm>
#include "engine/quant_rounding.h"
#include <cmath>

#include "kernels/quant/fake_quant.h"
#include "quant/observer_internal.h"
#include "quant/quant_math.h"

namespace qe {

namespace {

using observer_detail::MinMax;

// Clip ratios tried by the MSE search: 100 values from 1.0 (plain abs-max / min-max) down to
// 0.5. Ratio 1 is tried first and only a strictly smaller error replaces it, so the search is
// never worse than abs-max on the weights it measures.
constexpr int kMseRatios = 100;
constexpr double kMseMinRatio = 0.5;

double squared_error(const float* x, const float* y, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(x[i]) - y[i];
    sum += e * e;
  }
  return sum;
}

// ‖x − Q(x)‖² for an integer grid. Round-half-even (the default) runs a vectorisable float
// loop: the value is clamped to the grid first (same result, the bounds are integers), and
// adding then subtracting 1.5·2^23 rounds half to even for |v| < 2^22. Other modes go through
// the reference quantizer.
double int_grid_error(const float* x, int64_t n, const IntGrid& g, RoundingMode mode, std::vector<float>& tmp) {
  const bool fast = mode == RoundingMode::kHalfEven && std::max(-g.min_int, g.max_int) < (int64_t{1} << 22);
  if (!fast) {
    tmp.resize(static_cast<size_t>(n));
    kernels::IntQuantArgs a;
    a.scale = &g.scale;
    a.zero_point = &g.zero_point;
    a.inner = n;
    a.min_int = static_cast<double>(g.min_int);
    a.max_int = static_cast<double>(g.max_int);
    a.rounding = to_kernel_rounding(mode);
    kernels::int_fake_quant_ref(x, tmp.data(), a);
    return squared_error(x, tmp.data(), n);
  }
  const float s = g.scale, z = g.zero_point;
  const auto lo = static_cast<float>(g.min_int), hi = static_cast<float>(g.max_int);
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
  double total = 0;
  int64_t i = 0;
  constexpr int kLanes = 8;
  while (i + kLanes <= n) {
    // Float partial sums over at most 4096 values, then into the double total.
    float acc[kLanes] = {};
    const int64_t stop = std::min(n, i + 4096) - kLanes;
    for (; i <= stop; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        float v = x[i + j] / s + z;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        const float r = (v + kMagic) - kMagic;
        const float e = x[i + j] - (r - z) * s;
        acc[j] += e * e;
      }
    }
    for (float a : acc) total += a;
  }
  for (; i < n; ++i) {
    float v = x[i] / s + z;
    v = std::clamp(v, lo, hi);
    const float e = x[i] - (std::nearbyint(v) - z) * s;
    total += static_cast<double>(e) * e;
  }
  return total;
}

double float_error(const float* x, int64_t n, float scale, const QuantSpec& spec, std::vector<float>& tmp) {
  const kernels::MinifloatArgs a = to_kernel_minifloat(spec.minifloat, spec.rounding);
  tmp.resize(static_cast<size_t>(n));
  kernels::float_fake_quant_ref(x, tmp.data(), &scale, 1, 1, n, a);
  return squared_error(x, tmp.data(), n);
}

struct BlockResult {
  ObservedRange range;
  float bipolar_scale = 1.0f;
};

// The range of one block (a tensor, channel or group) of weights.
Result<BlockResult> block_range(const QuantSpec& spec, const float* x, int64_t n, std::vector<float>& tmp) {
  MinMax mm;
  observer_detail::accumulate_min_max(x, n, mm);
  if (mm.nan) return invalid_argument("weight holds NaN values");
  if (std::isinf(mm.min) || std::isinf(mm.max)) return invalid_argument("weight holds infinite values");
  BlockResult b;
  ObservedRange& r = b.range;
  r.min = mm.min;
  r.max = mm.max;
  const float a = std::max(std::fabs(mm.min), std::fabs(mm.max));
  const bool is_signed = spec.sign != Signedness::kUnsigned;

  if (spec.kind == QuantKind::kBipolar) {
    // XNOR-Net's scale: mean |w| minimises ‖w − α·sign(w)‖². All-zero blocks get 1.
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(x[i]));
    const double m = sum / static_cast<double>(n);
    b.bipolar_scale = m > 0 ? static_cast<float>(m) : 1.0f;
    r.lo = static_cast<float>(-m);
    r.hi = static_cast<float>(m);
    return b;
  }
  // The range before any MSE clipping: min-max when asked for (or as the MSE start of an
  // asymmetric integer grid), abs-max otherwise (minifloats are always symmetric).
  const bool minmax = spec.kind == QuantKind::kInt &&
                      (spec.method == RangeMethod::kMinMax || (spec.method == RangeMethod::kMse && !spec.symmetric));
  if (minmax) {
    r.lo = mm.min;
    r.hi = mm.max;
  } else {
    r.lo = (is_signed || spec.kind == QuantKind::kFloat) ? -a : 0.0f;
    r.hi = a;
  }
  if (spec.method != RangeMethod::kMse || (r.lo == 0.0f && r.hi == 0.0f)) return b;

  const ObservedRange base = r;
  double best = 0;
  for (int j = 0; j < kMseRatios; ++j) {
    const double ratio = 1.0 - (1.0 - kMseMinRatio) * j / (kMseRatios - 1);
    const auto lo = static_cast<float>(base.lo * ratio), hi = static_cast<float>(base.hi * ratio);
    double err;
    if (spec.kind == QuantKind::kInt) {
      QE_ASSIGN_OR_RETURN(IntGrid g, int_grid_for_range(spec, lo, hi));
      err = int_grid_error(x, n, g, spec.rounding, tmp);
    } else {
      ObservedRange cand = base;
      cand.lo = lo;
      cand.hi = hi;
      QE_ASSIGN_OR_RETURN(QuantParams p, params_from_ranges(spec, {cand}, 0, -1));
      err = float_error(x, n, p.scale.data<float>()[0], spec, tmp);
    }
    if (j == 0 || err < best) {
      best = err;
      r.lo = lo;
      r.hi = hi;
    }
  }
  return b;
}

// Block (o, g) of a per-group weight: output channel o along `axis`, input channels
// [g·gs, (g+1)·gs) along the other of the first two axes, every trailing element.
void gather_group(const float* w, const Shape& shape, int axis, int64_t o, int64_t g, int64_t gs,
                  std::vector<float>& out) {
  const int64_t d0 = shape[0], d1 = shape[1];
  const int64_t rest = shape.numel() / (d0 * d1);
  const int64_t in_ch = axis == 0 ? d1 : d0;
  const int64_t i_end = std::min(in_ch, (g + 1) * gs);
  out.clear();
  for (int64_t i = g * gs; i < i_end; ++i) {
    const int64_t row = axis == 0 ? o * d1 + i : i * d1 + o;
    const float* src = w + row * rest;
    out.insert(out.end(), src, src + rest);
  }
}

}  // namespace

Result<QuantParams> weight_quant_params(const QuantSpec& spec, const Tensor& w, int channel_axis,
                                        std::vector<ObservedRange>* ranges_out) {
  if (w.dtype() != DType::kF32) return unsupported("weight quantizer: weight must be float32, got ", dtype_name(w.dtype()));
  if (w.numel() == 0) return invalid_argument("weight quantizer: weight ", w.shape().to_string(), " is empty");
  if (spec.sign == Signedness::kAuto) {
    return invalid_argument("weight quantizer: the sign must be resolved (signed or unsigned), not auto");
  }
  const Shape& shape = w.shape();
  const int rank = static_cast<int>(shape.rank());
  const Granularity gran = spec.granularity;
  if (gran != Granularity::kPerTensor && (channel_axis < 0 || channel_axis >= rank)) {
    return invalid_argument("weight quantizer: ", granularity_name(gran), " needs an output-channel axis within rank ",
                            rank, ", got ", channel_axis);
  }
  if (gran == Granularity::kPerGroup) {
    if (rank < 2 || channel_axis > 1) {
      return invalid_argument("weight quantizer: per_group needs the output channels on axis 0 or 1 of a weight with "
                              "rank >= 2, got axis ",
                              channel_axis, " of ", shape.to_string());
    }
    if (spec.group_size < 1) return invalid_argument("weight quantizer: per_group needs group_size >= 1, got ", spec.group_size);
  }
  const bool stats_method = spec.method == RangeMethod::kPercentile || spec.method == RangeMethod::kEntropy;
  if (stats_method && gran == Granularity::kPerGroup) {
    return unsupported("weight quantizer: per_group supports absmax, minmax and mse, not ",
                       range_method_name(spec.method));
  }

  std::vector<ObservedRange> ranges;
  std::vector<float> bipolar;
  const int axis = gran == Granularity::kPerTensor ? -1 : channel_axis;
  const float* data = w.data<float>();
  if (stats_method && spec.kind != QuantKind::kBipolar) {
    // Activation-style statistics over the weight (one batch).
    QE_ASSIGN_OR_RETURN(auto obs, make_range_observer(spec, axis));
    QE_RETURN_IF_ERROR(obs->observe(w.view()));
    QE_ASSIGN_OR_RETURN(ranges, obs->ranges());
  } else {
    std::vector<float> block, tmp;
    auto add = [&](const float* x, int64_t n) -> Status {
      QE_ASSIGN_OR_RETURN(BlockResult b, block_range(spec, x, n, tmp));
      ranges.push_back(b.range);
      bipolar.push_back(b.bipolar_scale);
      return Status::ok();
    };
    if (gran == Granularity::kPerTensor) {
      QE_RETURN_IF_ERROR(add(data, w.numel()));
    } else if (gran == Granularity::kPerChannel) {
      QE_ASSIGN_OR_RETURN(auto l, observer_detail::channel_layout(shape, DType::kF32, channel_axis));
      for (int64_t c = 0; c < l.channels; ++c) {
        observer_detail::gather_channel(data, l, c, block);
        QE_RETURN_IF_ERROR(add(block.data(), static_cast<int64_t>(block.size())));
      }
    } else {
      const int64_t out_ch = shape[static_cast<size_t>(channel_axis)];
      const int64_t in_ch = shape[static_cast<size_t>(1 - channel_axis)];
      const int64_t groups = (in_ch + spec.group_size - 1) / spec.group_size;
      for (int64_t o = 0; o < out_ch; ++o) {
        for (int64_t g = 0; g < groups; ++g) {
          gather_group(data, shape, channel_axis, o, g, spec.group_size, block);
          QE_RETURN_IF_ERROR(add(block.data(), static_cast<int64_t>(block.size())));
        }
      }
    }
  }

  QuantParams p;
  if (gran == Granularity::kPerGroup) {
    // One value per (output channel, group), then repeated over each group's input channels so
    // the scale broadcasts against w: shape 1 everywhere except the two channel axes.
    QE_ASSIGN_OR_RETURN(p, params_from_ranges(spec, ranges, 1, 0));
    const int group_axis = 1 - channel_axis;
    const int64_t out_ch = shape[static_cast<size_t>(channel_axis)];
    const int64_t in_ch = shape[static_cast<size_t>(group_axis)];
    const int64_t groups = (in_ch + spec.group_size - 1) / spec.group_size;
    Shape ps(std::vector<int64_t>(static_cast<size_t>(rank), 1));
    ps[static_cast<size_t>(channel_axis)] = out_ch;
    ps[static_cast<size_t>(group_axis)] = in_ch;
    Tensor scale(DType::kF32, ps), zp(DType::kF32, ps);
    const float* s1 = p.scale.data<float>();
    const float* z1 = p.zero_point.data<float>();
    for (int64_t o = 0; o < out_ch; ++o) {
      for (int64_t i = 0; i < in_ch; ++i) {
        const int64_t src = o * groups + i / spec.group_size;
        const int64_t dst = channel_axis == 0 ? o * in_ch + i : i * out_ch + o;
        scale.data<float>()[dst] = spec.kind == QuantKind::kBipolar ? bipolar[static_cast<size_t>(src)] : s1[src];
        zp.data<float>()[dst] = z1[src];
      }
    }
    p.scale = scale;
    p.zero_point = zp;
    p.axis = group_axis;
    p.group_size = spec.group_size;
  } else {
    QE_ASSIGN_OR_RETURN(p, params_from_ranges(spec, ranges, rank, axis));
    if (spec.kind == QuantKind::kBipolar) {
      std::copy(bipolar.begin(), bipolar.end(), p.scale.data<float>());
    }
  }
  if (ranges_out) *ranges_out = std::move(ranges);
  return p;
}

}  // namespace qe

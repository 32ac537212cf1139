// Range observer factory, the shared tensor helpers and the running min / max (and abs-max)
// observer. Percentile: observer_percentile.cpp; MSE and entropy: observer_histogram.cpp.
#include "quant/observer.h"

#include <algorithm>
#include <cmath>

#include "quant/observer_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qe {
namespace observer_detail {

Result<ChannelLayout> channel_layout(const Shape& shape, DType dtype, int channel_axis) {
  if (dtype != DType::kF32) {
    return unsupported("range observer: expected a float32 tensor, got ", dtype_name(dtype));
  }
  if (!shape.is_known()) return invalid_argument("range observer: tensor shape ", shape.to_string(), " is not known");
  ChannelLayout l;
  const int rank = static_cast<int>(shape.rank());
  if (channel_axis < 0) {
    l.inner = shape.numel();
    return l;
  }
  if (channel_axis >= rank) {
    return invalid_argument("range observer: channel axis ", channel_axis, " is out of range for shape ",
                            shape.to_string());
  }
  for (int d = 0; d < channel_axis; ++d) l.outer *= shape[d];
  l.channels = shape[channel_axis];
  for (int d = channel_axis + 1; d < rank; ++d) l.inner *= shape[d];
  return l;
}

void gather_channel(const float* x, const ChannelLayout& l, int64_t c, std::vector<float>& out) {
  out.resize(static_cast<size_t>(l.outer * l.inner));
  float* dst = out.data();
  for (int64_t o = 0; o < l.outer; ++o) {
    const float* src = x + (o * l.channels + c) * l.inner;
    std::copy(src, src + l.inner, dst);
    dst += l.inner;
  }
}

void accumulate_min_max(const float* x, int64_t n, MinMax& mm) {
  float mn = mm.min, mx = mm.max;
  bool nan = false;
  int64_t i = 0;
#if defined(__SSE2__)
  // SSE2 is the x86-64 baseline (no ISA flag needed). The data operand goes first so that a
  // NaN never replaces the accumulator (minps returns the second operand on NaN); NaNs are
  // tracked separately.
  if (n >= 16) {
    __m128 mn0 = _mm_set1_ps(mn), mn1 = mn0, mx0 = _mm_set1_ps(mx), mx1 = mx0;
    __m128 un = _mm_setzero_ps();
    for (; i + 8 <= n; i += 8) {
      const __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
      mn0 = _mm_min_ps(a, mn0);
      mn1 = _mm_min_ps(b, mn1);
      mx0 = _mm_max_ps(a, mx0);
      mx1 = _mm_max_ps(b, mx1);
      un = _mm_or_ps(un, _mm_cmpunord_ps(a, b));
    }
    alignas(16) float lmn[4], lmx[4];
    _mm_store_ps(lmn, _mm_min_ps(mn0, mn1));
    _mm_store_ps(lmx, _mm_max_ps(mx0, mx1));
    for (int j = 0; j < 4; ++j) {
      mn = std::min(mn, lmn[j]);
      mx = std::max(mx, lmx[j]);
    }
    nan = _mm_movemask_ps(un) != 0;
  }
#endif
  for (; i < n; ++i) {
    const float v = x[i];
    if (v != v) {
      nan = true;
      continue;
    }
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  mm.min = mn;
  mm.max = mx;
  mm.nan = mm.nan || nan;
}

Status check_finite(const MinMax& mm) {
  if (mm.nan) return invalid_argument("range observer: the tensor holds NaN values");
  if (!mm.empty() && (std::isinf(mm.min) || std::isinf(mm.max))) {
    return invalid_argument("range observer: the tensor holds infinite values (min ", mm.min, ", max ", mm.max, ")");
  }
  return Status::ok();
}

namespace {

// kMinMax and kAbsMax: running raw extremes per channel.
class MinMaxObserver final : public RangeObserver {
 public:
  MinMaxObserver(const QuantSpec& spec, int axis)
      : abs_(spec.method == RangeMethod::kAbsMax), is_signed_(spec.sign != Signedness::kUnsigned), axis_(axis) {}

  Status observe(const TensorView& x) override {
    QE_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(x.shape, x.dtype, axis_));
    if (stats_.empty()) stats_.resize(static_cast<size_t>(l.channels));
    if (static_cast<int64_t>(stats_.size()) != l.channels) {
      return invalid_argument("range observer: ", l.channels, " channels on axis ", axis_, ", earlier batches had ",
                              stats_.size());
    }
    const float* data = x.as<float>();
    std::vector<MinMax> batch(stats_.size());
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t c = 0; c < l.channels; ++c) {
        accumulate_min_max(data + (o * l.channels + c) * l.inner, l.inner, batch[static_cast<size_t>(c)]);
      }
    }
    // A bad batch leaves the running state untouched.
    for (const MinMax& b : batch) QE_RETURN_IF_ERROR(check_finite(b));
    for (size_t c = 0; c < stats_.size(); ++c) {
      stats_[c].min = std::min(stats_[c].min, batch[c].min);
      stats_[c].max = std::max(stats_[c].max, batch[c].max);
    }
    return Status::ok();
  }

  Result<std::vector<ObservedRange>> ranges() const override {
    std::vector<ObservedRange> out;
    for (const MinMax& s : stats_) {
      if (s.empty()) return invalid_argument("range observer: no values were observed");
      ObservedRange r;
      r.min = s.min;
      r.max = s.max;
      if (abs_) {
        const float a = std::max(std::fabs(s.min), std::fabs(s.max));
        r.lo = is_signed_ ? -a : 0.0f;
        r.hi = a;
      } else {
        r.lo = s.min;
        r.hi = s.max;
      }
      out.push_back(r);
    }
    if (out.empty()) return invalid_argument("range observer: no values were observed");
    return out;
  }

 private:
  bool abs_;
  bool is_signed_;
  int axis_;
  std::vector<MinMax> stats_;
};

}  // namespace

std::unique_ptr<RangeObserver> make_minmax_observer(const QuantSpec& spec, int channel_axis) {
  return std::make_unique<MinMaxObserver>(spec, channel_axis);
}

}  // namespace observer_detail

Result<std::unique_ptr<RangeObserver>> make_range_observer(const QuantSpec& spec, int channel_axis) {
  using namespace observer_detail;
  if (spec.sign == Signedness::kAuto) {
    return invalid_argument("range observer: the quantizer's sign must be resolved (signed or unsigned), not auto");
  }
  switch (spec.method) {
    case RangeMethod::kMinMax:
    case RangeMethod::kAbsMax:
      return make_minmax_observer(spec, channel_axis);
    case RangeMethod::kPercentile:
      if (!(spec.percentile > 50.0 && spec.percentile <= 100.0)) {
        return invalid_argument("range observer: percentile ", spec.percentile, " must be in (50, 100]");
      }
      return make_percentile_observer(spec, channel_axis);
    case RangeMethod::kMse:
    case RangeMethod::kEntropy: {
      const char* name = spec.method == RangeMethod::kMse ? "mse" : "entropy";
      if (spec.kind != QuantKind::kInt) {
        return unsupported("range observer: method '", name, "' needs an integer quantizer, not ",
                           quant_kind_name(spec.kind));
      }
      if (spec.bits < 1 || spec.bits > 16) {
        return invalid_argument("range observer: method '", name, "' supports 1..16 bits, got ", spec.bits);
      }
      if (spec.method == RangeMethod::kMse) return make_mse_observer(spec, channel_axis);
      return make_entropy_observer(spec, channel_axis);
    }
  }
  return invalid_argument("range observer: unknown range method");
}

}  // namespace qe

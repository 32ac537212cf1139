// Percentile observer (Brevitas' default activation calibration) and the order-statistic
// selection it runs on every batch.
//
// Brevitas semantics (src/brevitas/core/stats/stats_op.py), matched exactly:
//  - symmetric quantizers use AbsPercentile: the k-th smallest |x| with
//    k = floor(0.01·q·N + 0.5); the range is [-a, a] (signed) or [0, a] (unsigned);
//  - asymmetric quantizers use PercentileInterval: high = k-th smallest x with the same k,
//    low = min(k-th smallest x with k = ceil(0.01·(100 − q)·N), 0);
//  - "k-th smallest" is torch.kthvalue: an element of the tensor, no interpolation;
//  - each batch gives one value per side and the range is their mean over batches (Brevitas'
//    collect_stats_steps running average).
#include <algorithm>
#include <cmath>

#include "quant/observer_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qe::observer_detail {

int64_t brevitas_high_k(double q, int64_t n) {
  const auto k = static_cast<int64_t>(std::floor(0.01 * q * static_cast<double>(n) + 0.5));
  return std::clamp<int64_t>(k, 1, n);
}

int64_t brevitas_low_k(double q, int64_t n) {
  // 100 − q snapped to 1e-9 so that q = 99.999 gives exactly Brevitas' low_percentile_q = 0.001
  // (100 − 99.999 is 0.0010000000000047748 in doubles, which moves the ceil for some N).
  const double low_q = std::round((100.0 - q) * 1e9) / 1e9;
  const auto k = static_cast<int64_t>(std::ceil(0.01 * low_q * static_cast<double>(n)));
  return std::clamp<int64_t>(k, 1, n);
}

namespace {

inline float transformed(float v, bool abs) { return abs ? std::fabs(v) : v; }

// Appends every value (|value| when abs) that is >= t (`upper`) or <= t (!upper) to out.
void collect_beyond(const float* x, int64_t n, float t, bool abs, bool upper, std::vector<float>& out) {
  int64_t i = 0;
#if defined(__SSE2__)
  // Most blocks hold no candidate: one compare + movemask per 8 values skips them.
  const __m128 vt = _mm_set1_ps(t);
  const __m128 sign = _mm_set1_ps(-0.0f);
  for (; i + 8 <= n; i += 8) {
    __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
    if (abs) {
      a = _mm_andnot_ps(sign, a);
      b = _mm_andnot_ps(sign, b);
    }
    const __m128 ma = upper ? _mm_cmpge_ps(a, vt) : _mm_cmple_ps(a, vt);
    const __m128 mb = upper ? _mm_cmpge_ps(b, vt) : _mm_cmple_ps(b, vt);
    if (_mm_movemask_ps(_mm_or_ps(ma, mb)) == 0) continue;
    for (int j = 0; j < 8; ++j) {
      const float v = transformed(x[i + j], abs);
      if (upper ? v >= t : v <= t) out.push_back(v);
    }
  }
#endif
  for (; i < n; ++i) {
    const float v = transformed(x[i], abs);
    if (upper ? v >= t : v <= t) out.push_back(v);
  }
}

float select_full(const float* x, int64_t n, int64_t k, bool abs, std::vector<float>& scratch) {
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scratch[static_cast<size_t>(i)] = transformed(x[i], abs);
  auto nth = scratch.begin() + (k - 1);
  std::nth_element(scratch.begin(), nth, scratch.end());
  return *nth;
}

}  // namespace

float kth_smallest(const float* x, int64_t n, int64_t k, bool abs, std::vector<float>& scratch) {
  const int64_t from_top = n - k + 1;  // rank counted from the largest
  const bool upper = from_top <= k;
  const int64_t rank = upper ? from_top : k;  // 1-based rank from the near end
  if (rank == 1 && (upper || !abs)) {
    // The extreme itself (small tensors at p = 99.999): one pass, no copy.
    MinMax mm;
    accumulate_min_max(x, n, mm);
    if (abs) return std::max(std::fabs(mm.min), std::fabs(mm.max));
    return upper ? mm.max : mm.min;
  }
  const int64_t samples = std::clamp<int64_t>(n / 16, 256, 4096);
  if (n < 2048 || rank > n / 16) return select_full(x, n, k, abs, scratch);

  // A threshold from a deterministic sample: the (j+1)-th most extreme sample value, with j
  // a few standard deviations above the expected number of samples beyond the answer, so
  // that at least `rank` values pass it (checked below; otherwise the full selection runs).
  scratch.resize(static_cast<size_t>(samples));
  for (int64_t s = 0; s < samples; ++s) {
    const uint64_t h = (static_cast<uint64_t>(s) + 1) * 0x9E3779B97F4A7C15ull;
    scratch[static_cast<size_t>(s)] = transformed(x[(h >> 11) % static_cast<uint64_t>(n)], abs);
  }
  const double mu = static_cast<double>(samples) * static_cast<double>(rank) / static_cast<double>(n);
  const auto j = std::min<int64_t>(samples - 1, static_cast<int64_t>(std::ceil(mu + 4.0 * std::sqrt(mu) + 4.0)));
  const int64_t pos = upper ? samples - 1 - j : j;
  std::nth_element(scratch.begin(), scratch.begin() + pos, scratch.end());
  const float t = scratch[static_cast<size_t>(pos)];

  scratch.clear();
  collect_beyond(x, n, t, abs, upper, scratch);
  const auto count = static_cast<int64_t>(scratch.size());
  if (count < rank) return select_full(x, n, k, abs, scratch);
  // Every value beyond the answer passed the threshold, so its rank among the candidates is
  // its rank in the whole tensor.
  auto nth = scratch.begin() + (upper ? count - rank : rank - 1);
  std::nth_element(scratch.begin(), nth, scratch.end());
  return *nth;
}

namespace {

class PercentileObserver final : public RangeObserver {
 public:
  PercentileObserver(const QuantSpec& spec, int axis)
      : q_(spec.percentile), symmetric_(spec.symmetric), is_signed_(spec.sign != Signedness::kUnsigned), axis_(axis) {}

  Status observe(const TensorView& x) override {
    QE_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(x.shape, x.dtype, axis_));
    if (state_.empty()) state_.resize(static_cast<size_t>(l.channels));
    if (static_cast<int64_t>(state_.size()) != l.channels) {
      return invalid_argument("range observer: ", l.channels, " channels on axis ", axis_, ", earlier batches had ",
                              state_.size());
    }
    const int64_t n = l.outer * l.inner;
    if (n == 0) return Status::ok();
    const float* data = x.as<float>();
    // Check the whole batch first so that a bad batch leaves the running state untouched.
    std::vector<MinMax> mm(state_.size());
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t c = 0; c < l.channels; ++c) {
        accumulate_min_max(data + (o * l.channels + c) * l.inner, l.inner, mm[static_cast<size_t>(c)]);
      }
    }
    for (const MinMax& m : mm) QE_RETURN_IF_ERROR(check_finite(m));

    const int64_t k_hi = brevitas_high_k(q_, n);
    const int64_t k_lo = brevitas_low_k(q_, n);
    for (int64_t c = 0; c < l.channels; ++c) {
      const float* v = data;
      if (l.channels > 1 || l.outer > 1) {
        gather_channel(data, l, c, channel_);
        v = channel_.data();
      }
      State& s = state_[static_cast<size_t>(c)];
      if (symmetric_) {
        s.hi_sum += kth_smallest(v, n, k_hi, /*abs=*/true, scratch_);
      } else {
        s.hi_sum += kth_smallest(v, n, k_hi, false, scratch_);
        s.lo_sum += std::min(kth_smallest(v, n, k_lo, false, scratch_), 0.0f);
      }
      s.batches += 1;
      s.raw.min = std::min(s.raw.min, mm[static_cast<size_t>(c)].min);
      s.raw.max = std::max(s.raw.max, mm[static_cast<size_t>(c)].max);
    }
    return Status::ok();
  }

  Result<std::vector<ObservedRange>> ranges() const override {
    std::vector<ObservedRange> out;
    for (const State& s : state_) {
      if (s.batches == 0) return invalid_argument("range observer: no values were observed");
      ObservedRange r;
      r.min = s.raw.min;
      r.max = s.raw.max;
      const auto hi = static_cast<float>(s.hi_sum / static_cast<double>(s.batches));
      if (symmetric_) {
        r.lo = is_signed_ ? -hi : 0.0f;
        r.hi = hi;
      } else {
        r.lo = static_cast<float>(s.lo_sum / static_cast<double>(s.batches));
        r.hi = hi;
      }
      out.push_back(r);
    }
    if (out.empty()) return invalid_argument("range observer: no values were observed");
    return out;
  }

 private:
  struct State {
    double hi_sum = 0, lo_sum = 0;
    int64_t batches = 0;
    MinMax raw;
  };
  double q_;
  bool symmetric_;
  bool is_signed_;
  int axis_;
  std::vector<State> state_;
  std::vector<float> channel_, scratch_;  // reused across batches
};

}  // namespace

std::unique_ptr<RangeObserver> make_percentile_observer(const QuantSpec& spec, int channel_axis) {
  return std::make_unique<PercentileObserver>(spec, channel_axis);
}

}  // namespace qe::observer_detail

// Histogram observers: MSE (the clipping range minimising the expected quantization error of
// the spec's integer grid) and entropy (TensorRT's KL-divergence calibration), both on the
// fixed-size streaming LatticeHistogram.
#include <algorithm>
#include <cmath>

#include "quant/observer_internal.h"
#include "quant/quant_math.h"

namespace qe::observer_detail {

// ---------------------------------------------------------------- LatticeHistogram

LatticeHistogram::LatticeHistogram(int bins, bool anchored) : bins_(bins), anchored_(anchored) {}

int LatticeHistogram::first_used() const {
  for (int i = 0; i < bins_; ++i) {
    if (counts_[static_cast<size_t>(i)] != 0) return i;
  }
  return 0;
}

int LatticeHistogram::last_used() const {
  for (int i = bins_ - 1; i > 0; --i) {
    if (counts_[static_cast<size_t>(i)] != 0) return i;
  }
  return 0;
}

void LatticeHistogram::cover(double lo, double hi) {
  // Lattice indices of the occupied bins and of the new data; beyond 2^50 bins from the origin
  // the index arithmetic would lose precision, so merge first.
  int merges = 0;
  while (std::max(std::fabs(lo), std::fabs(hi)) / (width_ * std::ldexp(1.0, merges)) > 0x1p50) ++merges;
  const double w = width_ * std::ldexp(1.0, merges);
  int64_t new_lo = std::min((k0_ + first_used()) >> merges, static_cast<int64_t>(std::floor(lo / w)));
  int64_t new_hi = std::max((k0_ + last_used()) >> merges, static_cast<int64_t>(std::floor(hi / w)));
  if (anchored_) new_lo = 0;
  while (new_hi - new_lo + 1 > bins_) {
    new_lo >>= 1;  // floor division by 2 (arithmetic shift)
    new_hi >>= 1;
    ++merges;
  }
  if (merges == 0 && new_lo >= k0_ && new_hi < k0_ + bins_) return;
  std::vector<double> moved(static_cast<size_t>(bins_), 0.0);
  for (int i = 0; i < bins_; ++i) {
    const double c = counts_[static_cast<size_t>(i)];
    if (c == 0) continue;
    const int64_t k = (k0_ + i) >> merges;
    moved[static_cast<size_t>(k - new_lo)] += c;
  }
  counts_.swap(moved);
  k0_ = new_lo;
  width_ = width_ * std::ldexp(1.0, merges);
}

void LatticeHistogram::flush_sub() {
  for (size_t w = 0; w < sub_.size(); w += static_cast<size_t>(bins_)) {
    for (int b = 0; b < bins_; ++b) {
      counts_[static_cast<size_t>(b)] += sub_[w + static_cast<size_t>(b)];
      sub_[w + static_cast<size_t>(b)] = 0;
    }
  }
}

void LatticeHistogram::add(const float* x, int64_t n, bool abs, float lo, float hi) {
  if (n == 0) return;
  if (anchored_) lo = 0.0f;
  if (width_ == 0) {
    // Until the data has a non-zero span there is no scale for the bins: count the one value.
    if (lo == hi && (total_ == 0 || pending_value_ == lo)) {
      pending_value_ = lo;
      total_ += static_cast<double>(n);
      return;
    }
    double plo = lo, phi = hi;
    if (total_ > 0) {
      plo = std::min(plo, static_cast<double>(pending_value_));
      phi = std::max(phi, static_cast<double>(pending_value_));
    }
    // Two spare bins absorb the floor() of both ends.
    width_ = (phi - plo) / (bins_ - 2);
    k0_ = anchored_ ? 0 : static_cast<int64_t>(std::floor(plo / width_));
    counts_.assign(static_cast<size_t>(bins_), 0.0);
    if (total_ > 0) {
      const auto k = static_cast<int64_t>(std::floor(pending_value_ / width_)) - k0_;
      counts_[static_cast<size_t>(std::clamp<int64_t>(k, 0, bins_ - 1))] += total_;
    }
  } else {
    cover(lo, hi);
  }
  const double left = static_cast<double>(k0_) * width_;
  const double inv = 1.0 / width_;
  const double top = bins_ - 1;
  // Four interleaved partial histograms: runs of equal values (the zeros after a ReLU) would
  // otherwise chain every increment through one memory location.
  constexpr int kWays = 4;
  constexpr int64_t kBlock = 1024;
  const bool split = n >= 4 * static_cast<int64_t>(bins_);
  if (split) sub_.assign(static_cast<size_t>(kWays) * bins_, 0u);
  idx_.resize(kBlock);
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i);
    const float* src = x + i;
    // Index computation in its own loop so that it vectorises; the scatter below cannot.
    for (int64_t j = 0; j < m; ++j) {
      const double v = abs ? std::fabs(static_cast<double>(src[j])) : static_cast<double>(src[j]);
      double f = (v - left) * inv;
      f = f < 0 ? 0 : f;
      f = f > top ? top : f;
      idx_[static_cast<size_t>(j)] = static_cast<int32_t>(f);
    }
    if (split) {
      int64_t j = 0;
      for (; j + kWays <= m; j += kWays) {
        for (int w = 0; w < kWays; ++w) ++sub_[static_cast<size_t>(w * bins_ + idx_[static_cast<size_t>(j + w)])];
      }
      for (; j < m; ++j) ++sub_[static_cast<size_t>(idx_[static_cast<size_t>(j)])];
      // uint32 partial counts: flush well before they could wrap.
      if (((i / kBlock) & 0xFFFFF) == 0xFFFFF) flush_sub();
    } else {
      for (int64_t j = 0; j < m; ++j) counts_[static_cast<size_t>(idx_[static_cast<size_t>(j)])] += 1.0;
    }
  }
  if (split) flush_sub();
  total_ += static_cast<double>(n);
}

namespace {

constexpr int kBins = 2048;

// ---------------------------------------------------------------- expected quantization error

// Boundary, in u = x / s + z, between integer level q and q + 1 under each rounding mode.
double level_boundary(int64_t q, RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kFloor: return static_cast<double>(q) + 1.0;
    case RoundingMode::kCeil: return static_cast<double>(q);
    case RoundingMode::kDown: return q >= 0 ? static_cast<double>(q) + 1.0 : static_cast<double>(q);  // toward 0
    case RoundingMode::kUp: return q >= 0 ? static_cast<double>(q) : static_cast<double>(q) + 1.0;    // away from 0
    default: return static_cast<double>(q) + 0.5;  // the half-way modes differ only on ties
  }
}

// ∫ (x − y)² dx over [a, b].
inline double sq_integral(double a, double b, double y) {
  const double p = b - y, q = a - y;
  return (p * p * p - q * q * q) / 3.0;
}

// Σ over the histogram of count × mean squared quantization error, each bin's mass spread
// uniformly over the bin: exact piecewise integration of (x − Q(x))² across the grid's rounding
// boundaries, so it stays right when bins are wider than the quantization step.
double expected_error(const LatticeHistogram& h, const IntGrid& g, RoundingMode mode) {
  const double s = g.scale, z = g.zero_point;
  const int64_t qmin = g.min_int, qmax = g.max_int;
  auto level_of = [&](double x) {
    const double u = x / s + z;
    int64_t q = static_cast<int64_t>(std::clamp(std::floor(u), static_cast<double>(qmin), static_cast<double>(qmax)));
    while (q < qmax && u >= level_boundary(q, mode)) ++q;
    while (q > qmin && u < level_boundary(q - 1, mode)) --q;
    return q;
  };
  if (h.constant()) {
    const double v = h.constant_value();
    const double y = (static_cast<double>(level_of(v)) - z) * s;
    return h.total() * (v - y) * (v - y);
  }
  const double w = h.width(), left = h.left();
  const std::vector<double>& counts = h.counts();
  double err = 0;
  for (int i = h.first_used(), last = h.last_used(); i <= last; ++i) {
    const double c = counts[static_cast<size_t>(i)];
    if (c == 0) continue;
    const double a = left + w * i, b = a + w;
    double cur = a, sum = 0;
    for (int64_t q = level_of(a);; ++q) {
      const double edge = q < qmax ? (level_boundary(q, mode) - z) * s : b;
      const double end = std::min(edge, b);
      if (end > cur) {
        sum += sq_integral(cur, end, (static_cast<double>(q) - z) * s);
        cur = end;
      }
      if (cur >= b || q >= qmax) break;
    }
    err += c * sum / w;
  }
  return err;
}

// ---------------------------------------------------------------- MSE observer

// Histograms per channel, fed batch by batch: the part MSE and entropy share. `abs_`: the
// histogram holds |x| over [0, max |x|] (entropy) rather than x over [min, max] (MSE).
class HistogramObserver : public RangeObserver {
 public:
  HistogramObserver(const QuantSpec& spec, int axis, bool abs) : spec_(spec), axis_(axis), abs_(abs) {}

  Status observe(const TensorView& x) override {
    QE_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(x.shape, x.dtype, axis_));
    if (state_.empty()) state_.resize(static_cast<size_t>(l.channels), State{LatticeHistogram(kBins, abs_), {}});
    if (static_cast<int64_t>(state_.size()) != l.channels) {
      return invalid_argument("range observer: ", l.channels, " channels on axis ", axis_, ", earlier batches had ",
                              state_.size());
    }
    const float* data = x.as<float>();
    std::vector<MinMax> mm(state_.size());
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t c = 0; c < l.channels; ++c) {
        accumulate_min_max(data + (o * l.channels + c) * l.inner, l.inner, mm[static_cast<size_t>(c)]);
      }
    }
    for (const MinMax& m : mm) QE_RETURN_IF_ERROR(check_finite(m));
    for (int64_t c = 0; c < l.channels; ++c) {
      State& s = state_[static_cast<size_t>(c)];
      const MinMax& b = mm[static_cast<size_t>(c)];
      if (b.empty()) continue;
      const float amax = std::max(std::fabs(b.min), std::fabs(b.max));
      for (int64_t o = 0; o < l.outer; ++o) {
        s.hist.add(data + (o * l.channels + c) * l.inner, l.inner, abs_, abs_ ? 0.0f : b.min, abs_ ? amax : b.max);
      }
      s.raw.min = std::min(s.raw.min, b.min);
      s.raw.max = std::max(s.raw.max, b.max);
    }
    return Status::ok();
  }

 protected:
  struct State {
    LatticeHistogram hist;
    MinMax raw;
  };
  QuantSpec spec_;
  int axis_;
  bool abs_;
  std::vector<State> state_;
};

class MseObserver final : public HistogramObserver {
 public:
  MseObserver(const QuantSpec& spec, int axis) : HistogramObserver(spec, axis, false) {}

  Result<std::vector<ObservedRange>> ranges() const override {
    std::vector<ObservedRange> out;
    for (const State& s : state_) {
      if (s.hist.empty()) return invalid_argument("range observer: no values were observed");
      QE_ASSIGN_OR_RETURN(ObservedRange r, search(s));
      out.push_back(r);
    }
    if (out.empty()) return invalid_argument("range observer: no values were observed");
    return out;
  }

 private:
  Result<double> error_of(const LatticeHistogram& h, double lo, double hi) const {
    QE_ASSIGN_OR_RETURN(IntGrid g, int_grid_for_range(spec_, static_cast<float>(lo), static_cast<float>(hi)));
    return expected_error(h, g, spec_.rounding);
  }

  // Best t·end for t on a grid of (0, 1], refined around the winner. `make(v)` turns the
  // candidate end value into a range.
  template <typename Make>
  Result<double> search_end(const LatticeHistogram& h, double end, Make make) const {
    constexpr int kCoarse = 256, kFine = 32;
    double best_v = end, best_err = 0;
    bool have = false;
    auto consider = [&](double v) -> Status {
      const auto [lo, hi] = make(v);
      QE_ASSIGN_OR_RETURN(double e, error_of(h, lo, hi));
      if (!have || e < best_err) {
        best_err = e;
        best_v = v;
        have = true;
      }
      return Status::ok();
    };
    for (int i = kCoarse; i >= 1; --i) QE_RETURN_IF_ERROR(consider(end * i / kCoarse));
    const double step = end / kCoarse, centre = best_v;
    for (int j = -kFine + 1; j < kFine; ++j) {
      const double v = centre + step * j / kFine;
      if (j != 0 && v * end > 0 && std::fabs(v) <= std::fabs(end)) QE_RETURN_IF_ERROR(consider(v));
    }
    return best_v;
  }

  Result<ObservedRange> search(const State& s) const {
    ObservedRange r;
    r.min = s.raw.min;
    r.max = s.raw.max;
    const bool is_signed = spec_.sign != Signedness::kUnsigned;
    const double lo0 = std::min<double>(s.raw.min, 0.0), hi0 = std::max<double>(s.raw.max, 0.0);
    if (spec_.symmetric) {
      const double a = is_signed ? std::max(-lo0, hi0) : hi0;
      double c = a;
      if (a > 0 && !s.hist.constant()) {
        QE_ASSIGN_OR_RETURN(c, search_end(s.hist, a, [&](double v) {
                              return std::pair<double, double>(is_signed ? -v : 0.0, v);
                            }));
      }
      r.lo = static_cast<float>(is_signed ? -c : 0.0);
      r.hi = static_cast<float>(c);
      return r;
    }
    // Asymmetric: coordinate descent over the two ends (each search is exact for the other
    // end fixed); three rounds settle in practice.
    double lo = lo0, hi = hi0;
    if (!s.hist.constant() && hi0 > lo0) {
      for (int round = 0; round < 3; ++round) {
        if (hi0 > 0) {
          QE_ASSIGN_OR_RETURN(hi, search_end(s.hist, hi0, [&](double v) { return std::pair<double, double>(lo, v); }));
        }
        if (lo0 < 0) {
          QE_ASSIGN_OR_RETURN(lo, search_end(s.hist, lo0, [&](double v) { return std::pair<double, double>(v, hi); }));
        }
      }
    }
    r.lo = static_cast<float>(lo);
    r.hi = static_cast<float>(hi);
    return r;
  }
};

// ---------------------------------------------------------------- entropy observer

// TensorRT's calibration (Migacz, "8-bit inference with TensorRT", GTC 2017) on a histogram of
// |x|: for each candidate count i of kept bins, P = the first i bins with the clipped mass
// added to bin i−1; Q = the first i bins (unclipped) merged into `levels` groups, each group's
// mass spread evenly over the bins where P is non-zero. The threshold is the edge of the i
// minimising KL(P‖Q). Each group contributes in O(1) through prefix sums of h and h·ln h.
double entropy_threshold(const LatticeHistogram& h, int levels) {
  const std::vector<double>& hist = h.counts();
  const int used = h.last_used() + 1;
  const double w = h.width();
  if (used <= levels) return used * w;
  std::vector<double> pre(static_cast<size_t>(used) + 1, 0.0), pre_hlogh(pre.size(), 0.0), pre_nz(pre.size(), 0.0);
  for (int j = 0; j < used; ++j) {
    const double c = hist[static_cast<size_t>(j)];
    pre[j + 1] = pre[j] + c;
    pre_hlogh[j + 1] = pre_hlogh[j] + (c > 0 ? c * std::log(c) : 0.0);
    pre_nz[j + 1] = pre_nz[j] + (c > 0 ? 1.0 : 0.0);
  }
  const double total = pre[static_cast<size_t>(used)];
  const double log_total = std::log(total);
  constexpr double kFloorQ = 1e-12;  // stands in for q = 0 where p > 0 (a heavy penalty, not +inf)
  int best_i = used;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int i = levels; i <= used; ++i) {
    const double kept = pre[static_cast<size_t>(i)];
    const double outliers = total - kept;
    const double p_last = hist[static_cast<size_t>(i) - 1] + outliers;
    double kl = 0;
    for (int g = 0; g < levels; ++g) {
      const int s = static_cast<int>(static_cast<int64_t>(g) * i / levels);
      const int e = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
      const double mass = pre[static_cast<size_t>(e)] - pre[static_cast<size_t>(s)];
      const bool has_last = e == i;
      // Bins of this group other than bin i−1, where P = h.
      const int e2 = has_last ? i - 1 : e;
      const double hsum = pre[static_cast<size_t>(e2)] - pre[static_cast<size_t>(s)];
      const double hlogh = pre_hlogh[static_cast<size_t>(e2)] - pre_hlogh[static_cast<size_t>(s)];
      double nz = pre_nz[static_cast<size_t>(e2)] - pre_nz[static_cast<size_t>(s)];
      if (has_last && p_last > 0) nz += 1;
      if (nz == 0) continue;
      // q of each non-zero bin of the group, normalised by Q's total (= kept).
      const double q = mass > 0 ? mass / nz / kept : kFloorQ;
      const double log_q = std::log(q);
      // Σ p ln(p / q) with p = h / total.
      kl += (hlogh - hsum * (log_total + log_q)) / total;
      if (has_last && p_last > 0) {
        const double p = p_last / total;
        kl += p * (std::log(p) - log_q);
      }
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * w;
}

class EntropyObserver final : public HistogramObserver {
 public:
  EntropyObserver(const QuantSpec& spec, int axis) : HistogramObserver(spec, axis, true) {}

  Result<std::vector<ObservedRange>> ranges() const override {
    // Quantized levels covering [0, T]: 2^(b-1) for signed grids (TensorRT's 128 at 8 bits),
    // 2^b for unsigned ones, whose whole grid lies on the positive side.
    const bool is_signed = spec_.sign != Signedness::kUnsigned;
    const int levels = is_signed ? (1 << (spec_.bits - 1)) : (1 << spec_.bits);
    std::vector<ObservedRange> out;
    for (const State& s : state_) {
      if (s.hist.empty()) return invalid_argument("range observer: no values were observed");
      ObservedRange r;
      r.min = s.raw.min;
      r.max = s.raw.max;
      const double amax = std::max(std::fabs(s.raw.min), std::fabs(s.raw.max));
      double t = amax;
      if (!s.hist.constant() && amax > 0) t = std::min(amax, entropy_threshold(s.hist, std::max(levels, 2)));
      if (spec_.symmetric) {
        r.lo = static_cast<float>(is_signed ? -t : 0.0);
        r.hi = static_cast<float>(t);
      } else {
        r.lo = static_cast<float>(std::max<double>(s.raw.min, -t));
        r.hi = static_cast<float>(std::min<double>(s.raw.max, t));
      }
      out.push_back(r);
    }
    if (out.empty()) return invalid_argument("range observer: no values were observed");
    return out;
  }

};

}  // namespace

std::unique_ptr<RangeObserver> make_mse_observer(const QuantSpec& spec, int channel_axis) {
  return std::make_unique<MseObserver>(spec, channel_axis);
}

std::unique_ptr<RangeObserver> make_entropy_observer(const QuantSpec& spec, int channel_axis) {
  return std::make_unique<EntropyObserver>(spec, channel_axis);
}

}  // namespace qe::observer_detail

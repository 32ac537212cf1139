// Range observers (quant/observer.h) against expectations computed independently here: full
// sorts for order statistics, plain loops for extremes, measured quantization error for MSE.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "quant/observer.h"
#include "quant/observer_internal.h"
#include "quant/quant_math.h"

using namespace qe;

namespace {

QuantSpec spec_of(RangeMethod m, Signedness sign, bool symmetric = true, int bits = 8) {
  QuantSpec s;
  s.method = m;
  s.sign = sign;
  s.symmetric = symmetric;
  s.bits = bits;
  return s;
}

std::unique_ptr<RangeObserver> make(const QuantSpec& s, int axis = -1) {
  auto r = make_range_observer(s, axis);
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

ObservedRange single(const RangeObserver& o) {
  auto r = o.ranges();
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == 1);
  return r->front();
}

Tensor tensor_of(const std::vector<float>& v, Shape shape = {}) {
  if (shape.rank() == 0) shape = Shape{static_cast<int64_t>(v.size())};
  return Tensor::from_vector(shape, v);
}

std::vector<float> gaussian(int64_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// k-th smallest (1-based) by a full sort.
float sorted_kth(std::vector<float> v, int64_t k) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(k - 1)];
}

// Measured ‖x − Q(x)‖² for the quantizer params_from_ranges() builds from a range.
double measured_error(const std::vector<float>& x, const QuantSpec& spec, ObservedRange r) {
  auto p = params_from_ranges(spec, {r}, 1, -1);
  REQUIRE(p.is_ok());
  auto q = fake_quantize(tensor_of(x), *p);
  REQUIRE(q.is_ok());
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - q->data<float>()[i];
    e += d * d;
  }
  return e;
}

}  // namespace

TEST_CASE("minmax and absmax track the raw extremes; 1 batch equals 10 batches") {
  auto data = gaussian(100000, 1, 1.0f);  // extremes near ±4.5: the planted values win
  data[777] = -9.5f;
  data[4321] = 7.25f;
  auto one = make(spec_of(RangeMethod::kMinMax, Signedness::kSigned));
  auto ten = make(spec_of(RangeMethod::kMinMax, Signedness::kSigned));
  REQUIRE(one->observe(tensor_of(data).view()).is_ok());
  for (int b = 0; b < 10; ++b) {
    std::vector<float> part(data.begin() + b * 10000, data.begin() + (b + 1) * 10000);
    REQUIRE(ten->observe(tensor_of(part).view()).is_ok());
  }
  const ObservedRange a = single(*one), b = single(*ten);
  CHECK(a.lo == -9.5f);
  CHECK(a.hi == 7.25f);
  CHECK(a.min == -9.5f);
  CHECK(a.max == 7.25f);
  CHECK(b.lo == a.lo);
  CHECK(b.hi == a.hi);

  auto abs_s = make(spec_of(RangeMethod::kAbsMax, Signedness::kSigned));
  auto abs_u = make(spec_of(RangeMethod::kAbsMax, Signedness::kUnsigned));
  REQUIRE(abs_s->observe(tensor_of(data).view()).is_ok());
  REQUIRE(abs_u->observe(tensor_of(data).view()).is_ok());
  CHECK(single(*abs_s).lo == -9.5f);
  CHECK(single(*abs_s).hi == 9.5f);
  CHECK(single(*abs_u).lo == 0.0f);
  CHECK(single(*abs_u).hi == 9.5f);
  CHECK(single(*abs_u).min == -9.5f);  // raw extremes still reported
}

TEST_CASE("minmax reduction matches a plain loop over odd sizes and tails") {
  for (int64_t n : {1, 2, 7, 8, 15, 16, 17, 31, 33, 1000, 4099}) {
    auto v = gaussian(n, static_cast<uint64_t>(n));
    observer_detail::MinMax mm;
    observer_detail::accumulate_min_max(v.data(), n, mm);
    CHECK(mm.min == *std::min_element(v.begin(), v.end()));
    CHECK(mm.max == *std::max_element(v.begin(), v.end()));
    CHECK_FALSE(mm.nan);
  }
}

TEST_CASE("per-channel minmax along axis 1 of NCHW") {
  const int64_t n = 3, c = 5, hw = 7;
  auto v = gaussian(n * c * hw, 11);
  auto obs = make(spec_of(RangeMethod::kMinMax, Signedness::kSigned), 1);
  REQUIRE(obs->observe(tensor_of(v, Shape{n, c, 1, hw}).view()).is_ok());
  auto r = obs->ranges();
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t i = 0; i < hw; ++i) {
        const float x = v[static_cast<size_t>((b * c + ch) * hw + i)];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
    }
    CHECK((*r)[static_cast<size_t>(ch)].lo == lo);
    CHECK((*r)[static_cast<size_t>(ch)].hi == hi);
  }
  // The channel count is fixed by the first batch.
  auto other = gaussian(2 * 4 * 3, 12);
  CHECK_FALSE(obs->observe(tensor_of(other, Shape{2, 4, 3}).view()).is_ok());
}

TEST_CASE("observers reject bad input and report when nothing was observed") {
  for (RangeMethod m : {RangeMethod::kMinMax, RangeMethod::kPercentile, RangeMethod::kMse, RangeMethod::kEntropy}) {
    auto obs = make(spec_of(m, Signedness::kSigned));
    CHECK_FALSE(obs->ranges().is_ok());
    std::vector<float> bad = {1.0f, NAN, 2.0f};
    CHECK_FALSE(obs->observe(tensor_of(bad).view()).is_ok());
    std::vector<float> inf = {1.0f, -INFINITY};
    CHECK_FALSE(obs->observe(tensor_of(inf).view()).is_ok());
    Tensor ints = Tensor::from_vector<int32_t>(Shape{2}, {1, 2});
    CHECK_FALSE(obs->observe(ints.view()).is_ok());
    CHECK_FALSE(obs->ranges().is_ok());  // bad batches left no state behind
  }
  CHECK_FALSE(make_range_observer(spec_of(RangeMethod::kMinMax, Signedness::kAuto)).is_ok());
  QuantSpec fp = spec_of(RangeMethod::kMse, Signedness::kSigned);
  fp.kind = QuantKind::kFloat;
  CHECK_FALSE(make_range_observer(fp).is_ok());
  QuantSpec pct = spec_of(RangeMethod::kPercentile, Signedness::kSigned);
  pct.percentile = 120;
  CHECK_FALSE(make_range_observer(pct).is_ok());
  auto axis = make(spec_of(RangeMethod::kMinMax, Signedness::kSigned), 3);
  CHECK_FALSE(axis->observe(tensor_of({1, 2, 3}, Shape{1, 3}).view()).is_ok());
}

TEST_CASE("percentile: Brevitas kthvalue index on 0..99999 shuffled") {
  std::vector<float> v(100000);
  std::iota(v.begin(), v.end(), 0.0f);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(5));
  // Unsigned (AbsPercentile): k = floor(0.01 · 99.999 · 100000 + 0.5) = 99999 → value 99998.
  auto u = make(spec_of(RangeMethod::kPercentile, Signedness::kUnsigned));
  REQUIRE(u->observe(tensor_of(v).view()).is_ok());
  ObservedRange r = single(*u);
  CHECK(r.hi == 99998.0f);
  CHECK(r.lo == 0.0f);
  CHECK(r.max == 99999.0f);
  // p = 99: k = 99000 → 98999.
  QuantSpec s99 = spec_of(RangeMethod::kPercentile, Signedness::kUnsigned);
  s99.percentile = 99.0;
  auto u99 = make(s99);
  REQUIRE(u99->observe(tensor_of(v).view()).is_ok());
  CHECK(single(*u99).hi == 98999.0f);

  // Signed symmetric on v - 50000 (values -50000..49999): |x| holds 0 once, 1..49999 twice and
  // 50000 once; k = 99999 → the second-largest |x| = 49999.
  std::vector<float> s(v.size());
  for (size_t i = 0; i < v.size(); ++i) s[i] = v[i] - 50000.0f;
  auto sym = make(spec_of(RangeMethod::kPercentile, Signedness::kSigned));
  REQUIRE(sym->observe(tensor_of(s).view()).is_ok());
  CHECK(single(*sym).hi == 49999.0f);
  CHECK(single(*sym).lo == -49999.0f);
  CHECK(single(*sym).min == -50000.0f);

  // Asymmetric (PercentileInterval): high k = 99999 → 49998; low k = ceil(0.01·0.001·1e5) = 1
  // → -50000.
  auto asym = make(spec_of(RangeMethod::kPercentile, Signedness::kSigned, false));
  REQUIRE(asym->observe(tensor_of(s).view()).is_ok());
  CHECK(single(*asym).hi == 49998.0f);
  CHECK(single(*asym).lo == -50000.0f);
}

TEST_CASE("percentile indices follow Brevitas' formulas") {
  using observer_detail::brevitas_high_k;
  using observer_detail::brevitas_low_k;
  CHECK(brevitas_high_k(99.999, 100000) == 99999);
  CHECK(brevitas_high_k(99.999, 200704) == 200702);
  CHECK(brevitas_high_k(99.999, 3) == 3);
  CHECK(brevitas_high_k(50.0, 1) == 1);
  CHECK(brevitas_low_k(99.999, 100000) == 1);  // 0.01 · 0.001 · 1e5 is exactly 1
  CHECK(brevitas_low_k(99.999, 200704) == 3);
  CHECK(brevitas_low_k(99.0, 1000) == 10);
  CHECK(brevitas_low_k(99.999, 7) == 1);
}

TEST_CASE("percentile is the mean over batches of each batch's percentile") {
  std::vector<float> a(100000), b(100000);
  std::iota(a.begin(), a.end(), 0.0f);
  for (size_t i = 0; i < b.size(); ++i) b[i] = 2.0f * a[i];
  std::shuffle(a.begin(), a.end(), std::mt19937_64(1));
  std::shuffle(b.begin(), b.end(), std::mt19937_64(2));
  auto obs = make(spec_of(RangeMethod::kPercentile, Signedness::kUnsigned));
  REQUIRE(obs->observe(tensor_of(a).view()).is_ok());
  REQUIRE(obs->observe(tensor_of(b).view()).is_ok());
  // 99998 and 199996 → 149997 (the percentile of the pooled data would be 199994).
  CHECK(single(*obs).hi == 149997.0f);
  CHECK(single(*obs).max == 199998.0f);
}

TEST_CASE("kth selection matches a full sort over sizes, ranks and tie-heavy data") {
  std::vector<float> scratch;
  std::mt19937_64 rng(3);
  for (int64_t n : {1, 2, 7, 100, 2047, 2048, 3136, 5000, 16383, 16385, 20001, 100003, 200704}) {
    for (int dist = 0; dist < 4; ++dist) {
      std::vector<float> v = gaussian(n, static_cast<uint64_t>(n * 7 + dist));
      if (dist == 1) {
        for (float& x : v) x = std::max(x, 0.0f);  // ReLU: half the tensor is exactly 0
      } else if (dist == 2) {
        for (float& x : v) x = std::round(x * 2.0f);  // few distinct values, many ties
      } else if (dist == 3) {
        std::sort(v.begin(), v.end());  // ordered input
      }
      for (double q : {99.999, 99.99, 99.9, 99.0, 90.0}) {
        for (bool abs : {false, true}) {
          std::vector<float> t = v;
          if (abs) {
            for (float& x : t) x = std::fabs(x);
          }
          const int64_t kh = observer_detail::brevitas_high_k(q, n);
          const int64_t kl = observer_detail::brevitas_low_k(q, n);
          INFO("n=" << n << " dist=" << dist << " q=" << q << " abs=" << abs);
          CHECK(observer_detail::kth_smallest(v.data(), n, kh, abs, scratch) == sorted_kth(t, kh));
          CHECK(observer_detail::kth_smallest(v.data(), n, kl, abs, scratch) == sorted_kth(t, kl));
        }
      }
    }
  }
}

TEST_CASE("kth selection stays exact when the sampled threshold is unrepresentative") {
  // The largest values sit exactly where the selector samples (its deterministic positions),
  // so the sampled threshold lets too few candidates through and the full selection must run.
  const int64_t n = 100000, samples = 4096;
  std::vector<float> v = gaussian(n, 77);
  for (int64_t s = 0; s < samples; ++s) {
    const uint64_t h = (static_cast<uint64_t>(s) + 1) * 0x9E3779B97F4A7C15ull;
    v[(h >> 11) % static_cast<uint64_t>(n)] = 1000.0f + static_cast<float>(s);
  }
  std::vector<float> scratch;
  for (int64_t k : {int64_t{99000}, int64_t{99990}, int64_t{99999}, int64_t{1000}, int64_t{2}}) {
    INFO("k=" << k);
    CHECK(observer_detail::kth_smallest(v.data(), n, k, false, scratch) == sorted_kth(v, k));
  }
}

TEST_CASE("per-channel percentile equals the per-channel kthvalue") {
  const int64_t n = 4, c = 3, hw = 5000;
  auto v = gaussian(n * c * hw, 21);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t b = 0; b < n; ++b) v[static_cast<size_t>((b * c + ch) * hw)] *= static_cast<float>(ch + 1);
  }
  auto obs = make(spec_of(RangeMethod::kPercentile, Signedness::kSigned, false), 1);
  REQUIRE(obs->observe(tensor_of(v, Shape{n, c, hw}).view()).is_ok());
  auto r = obs->ranges();
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    std::vector<float> xs;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t i = 0; i < hw; ++i) xs.push_back(v[static_cast<size_t>((b * c + ch) * hw + i)]);
    }
    const auto m = static_cast<int64_t>(xs.size());
    CHECK((*r)[static_cast<size_t>(ch)].hi == sorted_kth(xs, observer_detail::brevitas_high_k(99.999, m)));
    CHECK((*r)[static_cast<size_t>(ch)].lo ==
          std::min(0.0f, sorted_kth(xs, observer_detail::brevitas_low_k(99.999, m))));
  }
}

TEST_CASE("lattice histogram re-binning is exact and keeps every count") {
  observer_detail::LatticeHistogram h(256, false);
  std::mt19937_64 rng(9);
  std::vector<float> all;
  // Growing ranges force several doublings and window moves; a constant batch comes first.
  std::vector<float> zeros(100, 0.25f);
  h.add(zeros.data(), 100, false, 0.25f, 0.25f);
  CHECK(h.constant());
  all.insert(all.end(), zeros.begin(), zeros.end());
  for (float scale : {0.5f, 1.0f, 0.3f, 4.0f, 40.0f, 2.0f}) {
    std::uniform_real_distribution<float> d(-scale, scale * 0.7f);
    std::vector<float> v(5000);
    for (float& x : v) x = d(rng);
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    h.add(v.data(), static_cast<int64_t>(v.size()), false, *mn, *mx);
    all.insert(all.end(), v.begin(), v.end());
  }
  REQUIRE_FALSE(h.constant());
  CHECK(h.total() == static_cast<double>(all.size()));
  // Direct counting with the final lattice: bin = floor(x / width) − k0.
  std::vector<double> direct(static_cast<size_t>(h.bins()), 0.0);
  const int64_t k0 = static_cast<int64_t>(std::llround(h.left() / h.width()));
  for (float x : all) {
    const int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(x) / h.width())) - k0;
    REQUIRE(k >= 0);
    REQUIRE(k < h.bins());
    direct[static_cast<size_t>(k)] += 1;
  }
  int mismatched = 0;
  for (int i = 0; i < h.bins(); ++i) mismatched += direct[static_cast<size_t>(i)] != h.counts()[static_cast<size_t>(i)];
  CHECK(mismatched <= 2);  // only values within rounding of a bin edge may land next door
  CHECK(h.last_used() - h.first_used() + 1 > h.bins() / 2);  // doubling keeps at least half the resolution
}

TEST_CASE("mse observer clips outliers when that lowers the measured error") {
  for (int bits : {4, 8}) {
    auto v = gaussian(1000000, 31);
    v[10] = 100.0f;
    v[20] = -100.0f;
    v[30] = 60.0f;
    const QuantSpec spec = spec_of(RangeMethod::kMse, Signedness::kSigned, true, bits);
    auto obs = make(spec);
    REQUIRE(obs->observe(tensor_of(v).view()).is_ok());
    const ObservedRange r = single(*obs);
    INFO("bits " << bits << " range " << r.lo << " " << r.hi);
    CHECK(r.hi < 60.0f);  // strictly inside the data range
    CHECK(r.hi > 2.0f);   // but not inside the bulk
    CHECK(r.lo == -r.hi);
    CHECK(r.max == 100.0f);
    ObservedRange full = r;
    full.lo = -100.0f;
    full.hi = 100.0f;
    CHECK(measured_error(v, spec, r) < measured_error(v, spec, full));
    // The chosen clip is close to the measured optimum over a fine grid.
    double best = INFINITY;
    for (int i = 1; i <= 150; ++i) {
      ObservedRange c;
      c.hi = 1.0f + 11.0f * static_cast<float>(i) / 150.0f;
      c.lo = -c.hi;
      best = std::min(best, measured_error(v, spec, c));
    }
    CHECK(measured_error(v, spec, r) <= best * 1.02);
  }
}

TEST_CASE("mse observer: unsigned and asymmetric grids, streaming") {
  auto v = gaussian(200000, 41);
  for (float& x : v) x = std::max(x, 0.0f);
  v[5] = 80.0f;
  const QuantSpec uns = spec_of(RangeMethod::kMse, Signedness::kUnsigned, true, 4);
  auto one = make(uns);
  auto ten = make(uns);
  REQUIRE(one->observe(tensor_of(v).view()).is_ok());
  for (int b = 0; b < 10; ++b) {
    std::vector<float> part(v.begin() + b * 20000, v.begin() + (b + 1) * 20000);
    REQUIRE(ten->observe(tensor_of(part).view()).is_ok());
  }
  const ObservedRange a = single(*one), b = single(*ten);
  CHECK(a.lo == 0.0f);
  CHECK(a.hi > 1.0f);
  CHECK(a.hi < 80.0f);
  // Batches arrive with different ranges (the outlier is in the first); the re-binned
  // histogram must land on (nearly) the same clip as one pass.
  CHECK(std::fabs(b.hi - a.hi) <= 0.05f * a.hi);

  // Asymmetric signed data shifted off zero: both ends move inwards from the outliers.
  auto w = gaussian(400000, 43);
  for (float& x : w) x = x + 1.5f;
  w[0] = 40.0f;
  w[1] = -30.0f;
  const QuantSpec asym = spec_of(RangeMethod::kMse, Signedness::kUnsigned, false, 4);
  auto ao = make(asym);
  REQUIRE(ao->observe(tensor_of(w).view()).is_ok());
  const ObservedRange ar = single(*ao);
  CHECK(ar.hi < 40.0f);
  CHECK(ar.lo > -30.0f);
  CHECK(ar.lo < 0.0f);
  ObservedRange mm = ar;
  mm.lo = -30.0f;
  mm.hi = 40.0f;
  CHECK(measured_error(w, asym, ar) < measured_error(w, asym, mm));
}

TEST_CASE("entropy threshold lies below the max and above the bulk") {
  auto v = gaussian(1000000, 51);
  for (int i = 0; i < 5; ++i) v[static_cast<size_t>(i * 1000)] = 40.0f - static_cast<float>(i);
  auto obs = make(spec_of(RangeMethod::kEntropy, Signedness::kSigned));
  REQUIRE(obs->observe(tensor_of(v).view()).is_ok());
  const ObservedRange r = single(*obs);
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  const float p99 = sorted_kth(a, 990000);
  INFO("threshold " << r.hi << " p99 " << p99);
  CHECK(r.hi < 40.0f);
  CHECK(r.hi > p99);
  CHECK(r.lo == -r.hi);

  // Uniform data has nothing to clip: the threshold stays near the max.
  std::mt19937_64 rng(52);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> u(500000);
  for (float& x : u) x = d(rng);
  auto uo = make(spec_of(RangeMethod::kEntropy, Signedness::kSigned));
  REQUIRE(uo->observe(tensor_of(u).view()).is_ok());
  CHECK(single(*uo).hi > 0.9f);
  CHECK(single(*uo).hi <= 1.0f);

  // Unsigned (after ReLU): range [0, T].
  for (float& x : v) x = std::max(x, 0.0f);
  auto ro = make(spec_of(RangeMethod::kEntropy, Signedness::kUnsigned));
  REQUIRE(ro->observe(tensor_of(v).view()).is_ok());
  CHECK(single(*ro).lo == 0.0f);
  CHECK(single(*ro).hi < 40.0f);
  CHECK(single(*ro).hi > 2.0f);
}

TEST_CASE("histogram observers handle constant and all-zero tensors") {
  for (RangeMethod m : {RangeMethod::kMse, RangeMethod::kEntropy}) {
    auto z = make(spec_of(m, Signedness::kSigned));
    std::vector<float> zeros(1000, 0.0f);
    REQUIRE(z->observe(tensor_of(zeros).view()).is_ok());
    CHECK(single(*z).lo == 0.0f);
    CHECK(single(*z).hi == 0.0f);
    auto c = make(spec_of(m, Signedness::kUnsigned));
    std::vector<float> threes(1000, 3.0f);
    REQUIRE(c->observe(tensor_of(threes).view()).is_ok());
    CHECK(single(*c).hi == 3.0f);
    // A later batch with a span starts the histogram from the pending constant.
    std::vector<float> ramp(1000);
    for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i) / 1000.0f;
    REQUIRE(c->observe(tensor_of(ramp).view()).is_ok());
    CHECK(single(*c).hi <= 3.0f);
    CHECK(single(*c).hi > 0.5f);
  }
}

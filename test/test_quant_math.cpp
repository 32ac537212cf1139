// Scale / zero-point arithmetic (quant/quant_math.h): hand-computed params_from_ranges cases,
// weight quantizers per tensor / channel / group and MSE, fake_quantize broadcasting against an
// independent per-element formula, SQNR.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quant/quant_math.h"

using namespace qe;

namespace {

QuantSpec int_spec(int bits, Signedness sign, bool symmetric = true, bool narrow = false) {
  QuantSpec s;
  s.bits = bits;
  s.sign = sign;
  s.symmetric = symmetric;
  s.narrow = narrow;
  return s;
}

ObservedRange rng_of(float lo, float hi) {
  ObservedRange r;
  r.lo = lo;
  r.hi = hi;
  r.min = lo;
  r.max = hi;
  return r;
}

QuantParams params(const QuantSpec& s, float lo, float hi) {
  auto p = params_from_ranges(s, {rng_of(lo, hi)}, 4, -1);
  REQUIRE(p.is_ok());
  return std::move(p).value();
}

float scale0(const QuantParams& p) { return p.scale.data<float>()[0]; }
float zp0(const QuantParams& p) { return p.zero_point.data<float>()[0]; }

Tensor gaussian(const Shape& shape, uint64_t seed, float sigma = 1.0f) {
  Tensor t(DType::kF32, shape);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// The QONNX Quant formula written out per element, with the scale / zero point picked by a
// caller-supplied index function (independent of fake_quantize's broadcasting).
template <typename Index>
std::vector<float> quant_by_hand(const Tensor& x, const QuantParams& p, Index idx) {
  std::vector<float> y(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t j = idx(i);
    const double s = p.scale.data<float>()[j], z = p.zero_point.data<float>()[j];
    double q = std::nearbyint(static_cast<double>(x.data<float>()[i]) / s + z);
    q = std::min(std::max(q, static_cast<double>(p.min_int())), static_cast<double>(p.max_int()));
    y[static_cast<size_t>(i)] = static_cast<float>((q - z) * s);
  }
  return y;
}

double sq_error(const Tensor& x, const Tensor& q) {
  double e = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = static_cast<double>(x.data<float>()[i]) - q.data<float>()[i];
    e += d * d;
  }
  return e;
}

double max_abs(const Tensor& w, int64_t begin, int64_t end, int64_t stride = 1) {
  double m = 0;
  for (int64_t i = begin; i < end; i += stride) m = std::max(m, std::fabs(static_cast<double>(w.data<float>()[i])));
  return m;
}

}  // namespace

TEST_CASE("params_from_ranges: symmetric, unsigned, asymmetric, narrow (hand-computed)") {
  QuantParams p = params(int_spec(8, Signedness::kSigned), -2.0f, 1.0f);
  CHECK(p.scale.shape() == Shape{});
  CHECK(scale0(p) == Approx(2.0 / 127).epsilon(1e-6));
  CHECK(zp0(p) == 0.0f);
  CHECK(p.axis == -1);
  CHECK(p.is_signed);
  CHECK(p.bits == 8);

  p = params(int_spec(8, Signedness::kUnsigned), 0.0f, 6.0f);
  CHECK(scale0(p) == Approx(6.0 / 255).epsilon(1e-6));
  CHECK_FALSE(p.is_signed);

  // Asymmetric uint8 on [-1, 3]: scale 4/255, zp = round(0 + 1 / (4/255)) = round(63.75) = 64.
  p = params(int_spec(8, Signedness::kUnsigned, false), -1.0f, 3.0f);
  CHECK(scale0(p) == Approx(4.0 / 255).epsilon(1e-6));
  CHECK(zp0(p) == 64.0f);
  // Asymmetric int8 on the same range: zp = round(-128 + 63.75) = -64.
  p = params(int_spec(8, Signedness::kSigned, false), -1.0f, 3.0f);
  CHECK(zp0(p) == -64.0f);
  // A range not containing 0 is widened to include it: [2, 6] → [0, 6].
  p = params(int_spec(8, Signedness::kUnsigned, false), 2.0f, 6.0f);
  CHECK(scale0(p) == Approx(6.0 / 255).epsilon(1e-6));
  CHECK(zp0(p) == 0.0f);

  p = params(int_spec(8, Signedness::kSigned, true, true), -1.0f, 1.0f);
  CHECK(scale0(p) == Approx(1.0 / 127).epsilon(1e-6));
  CHECK(p.min_int() == -127);
  CHECK(p.narrow);
}

TEST_CASE("params_from_ranges: low bit widths, po2, degenerate ranges, minifloat, bipolar") {
  CHECK(scale0(params(int_spec(4, Signedness::kSigned), -1.0f, 1.0f)) == Approx(1.0 / 7).epsilon(1e-6));
  CHECK(scale0(params(int_spec(4, Signedness::kUnsigned), 0.0f, 1.0f)) == Approx(1.0 / 15).epsilon(1e-6));
  CHECK(scale0(params(int_spec(2, Signedness::kSigned), -0.5f, 0.5f)) == 0.5f);  // grid [-2, 1]
  CHECK(scale0(params(int_spec(1, Signedness::kUnsigned), 0.0f, 3.0f)) == 3.0f);
  CHECK(scale0(params(int_spec(3, Signedness::kSigned, true, true), -6.0f, 6.0f)) == 2.0f);  // grid [-3, 3]
  CHECK_FALSE(params_from_ranges(int_spec(1, Signedness::kSigned), {rng_of(-1, 1)}, 1, -1).is_ok());

  QuantSpec po2 = int_spec(8, Signedness::kSigned);
  po2.scale_type = ScaleType::kPo2;
  // 3/127 = 0.0236 → 2^ceil(log2 0.0236) = 2^-5.
  QuantParams p = params(po2, -3.0f, 3.0f);
  CHECK(scale0(p) == 0.03125f);
  CHECK(p.po2);
  // An exact power of two stays.
  CHECK(scale0(params(po2, -127.0f * 0.25f, 0.0f)) == 0.25f);

  // All zeros: scale 1, zero point 0.
  for (bool sym : {true, false}) {
    p = params(int_spec(8, Signedness::kUnsigned, sym), 0.0f, 0.0f);
    CHECK(scale0(p) == 1.0f);
    CHECK(zp0(p) == 0.0f);
  }

  QuantSpec fp8;
  fp8.kind = QuantKind::kFloat;
  fp8.sign = Signedness::kSigned;
  fp8.minifloat = MinifloatFormat::e4m3();
  p = params(fp8, -2.0f, 896.0f);
  CHECK(p.kind == QuantKind::kFloat);
  CHECK(p.bits == 8);
  CHECK(scale0(p) == 2.0f);  // 896 / 448

  QuantSpec bip;
  bip.kind = QuantKind::kBipolar;
  bip.sign = Signedness::kSigned;
  p = params(bip, -3.0f, 3.0f);
  CHECK(p.kind == QuantKind::kBipolar);
  CHECK(scale0(p) == 1.0f);

  QuantSpec rnd = int_spec(8, Signedness::kSigned);
  rnd.rounding = RoundingMode::kFloor;
  CHECK(params(rnd, -1, 1).rounding == RoundingMode::kFloor);
}

TEST_CASE("params_from_ranges: per-channel shape and errors") {
  const QuantSpec s = int_spec(8, Signedness::kSigned);
  auto p = params_from_ranges(s, {rng_of(-1, 1), rng_of(-2, 0.5f), rng_of(0, 0)}, 4, 0);
  REQUIRE(p.is_ok());
  CHECK(p->scale.shape() == Shape({3, 1, 1, 1}));
  CHECK(p->zero_point.shape() == Shape({3, 1, 1, 1}));
  CHECK(p->axis == 0);
  CHECK(p->scale.data<float>()[0] == Approx(1.0 / 127).epsilon(1e-6));
  CHECK(p->scale.data<float>()[1] == Approx(2.0 / 127).epsilon(1e-6));
  CHECK(p->scale.data<float>()[2] == 1.0f);
  auto q = params_from_ranges(s, {rng_of(-1, 1), rng_of(-2, 2)}, 2, 1);
  REQUIRE(q.is_ok());
  CHECK(q->scale.shape() == Shape({1, 2}));

  CHECK_FALSE(params_from_ranges(s, {rng_of(-1, 1), rng_of(-1, 1)}, 4, -1).is_ok());
  CHECK_FALSE(params_from_ranges(s, {rng_of(-1, 1)}, 2, 2).is_ok());
  CHECK_FALSE(params_from_ranges(s, {}, 2, -1).is_ok());
  CHECK_FALSE(params_from_ranges(s, {rng_of(1, -1)}, 2, -1).is_ok());
  CHECK_FALSE(params_from_ranges(s, {rng_of(NAN, 1)}, 2, -1).is_ok());
  CHECK_FALSE(params_from_ranges(int_spec(8, Signedness::kAuto), {rng_of(-1, 1)}, 2, -1).is_ok());
}

TEST_CASE("weight abs-max per tensor and per output channel") {
  const Tensor w = gaussian(Shape{6, 3, 3, 3}, 1, 0.2f);
  const QuantSpec s = int_spec(8, Signedness::kSigned);
  std::vector<ObservedRange> ranges;
  auto pt = weight_quant_params(s, w, 0, &ranges);
  REQUIRE(pt.is_ok());
  CHECK(pt->scale.shape() == Shape{});
  CHECK(scale0(*pt) == Approx(max_abs(w, 0, w.numel()) / 127).epsilon(1e-6));
  REQUIRE(ranges.size() == 1);

  QuantSpec pc = s;
  pc.granularity = Granularity::kPerChannel;
  auto p = weight_quant_params(pc, w, 0, &ranges);
  REQUIRE(p.is_ok());
  CHECK(p->scale.shape() == Shape({6, 1, 1, 1}));
  CHECK(p->axis == 0);
  REQUIRE(ranges.size() == 6);
  for (int64_t o = 0; o < 6; ++o) {
    const double a = max_abs(w, o * 27, (o + 1) * 27);
    CHECK(p->scale.data<float>()[o] == Approx(a / 127).epsilon(1e-6));
    CHECK(ranges[static_cast<size_t>(o)].hi == Approx(a));
  }
  // ConvTranspose weight (I, O, kh, kw): output channels on axis 1.
  auto t = weight_quant_params(pc, w, 1);
  REQUIRE(t.is_ok());
  CHECK(t->scale.shape() == Shape({1, 3, 1, 1}));
  for (int64_t c = 0; c < 3; ++c) {
    double a = 0;
    for (int64_t i = 0; i < 6; ++i) a = std::max(a, max_abs(w, (i * 3 + c) * 9, (i * 3 + c + 1) * 9));
    CHECK(t->scale.data<float>()[c] == Approx(a / 127).epsilon(1e-6));
  }
  // fake_quantize with the per-channel params equals the formula per element.
  auto y = fake_quantize(w, *p);
  REQUIRE(y.is_ok());
  auto ref = quant_by_hand(w, *p, [](int64_t i) { return i / 27; });
  for (int64_t i = 0; i < w.numel(); ++i) REQUIRE(y->data<float>()[i] == ref[static_cast<size_t>(i)]);

  CHECK_FALSE(weight_quant_params(pc, w, 4).is_ok());
  CHECK_FALSE(weight_quant_params(pc, w, -1).is_ok());
}

TEST_CASE("weight min-max is asymmetric with a zero point per channel") {
  Tensor w = gaussian(Shape{4, 10}, 2);
  for (int64_t i = 0; i < 10; ++i) w.data<float>()[i] = std::fabs(w.data<float>()[i]) + 0.5f;  // row 0 positive
  QuantSpec s = int_spec(8, Signedness::kUnsigned, false);
  s.method = RangeMethod::kMinMax;
  s.granularity = Granularity::kPerChannel;
  auto p = weight_quant_params(s, w, 0);
  REQUIRE(p.is_ok());
  for (int64_t o = 0; o < 4; ++o) {
    double mn = 0, mx = 0;  // the range always includes 0
    for (int64_t i = 0; i < 10; ++i) {
      mn = std::min(mn, static_cast<double>(w.data<float>()[o * 10 + i]));
      mx = std::max(mx, static_cast<double>(w.data<float>()[o * 10 + i]));
    }
    const double sc = (mx - mn) / 255;
    CHECK(p->scale.data<float>()[o] == Approx(sc).epsilon(1e-6));
    CHECK(p->zero_point.data<float>()[o] == static_cast<float>(std::nearbyint(-mn / p->scale.data<float>()[o])));
  }
  CHECK(p->zero_point.data<float>()[0] == 0.0f);
}

TEST_CASE("per-group weights: scales repeat over each group and broadcast against W") {
  const QuantSpec base = int_spec(4, Signedness::kSigned);
  for (int64_t in_ch : {8, 10}) {  // 10: a partial last group
    const Tensor w = gaussian(Shape{3, in_ch, 2, 2}, 3 + in_ch);
    QuantSpec s = base;
    s.granularity = Granularity::kPerGroup;
    s.group_size = 4;
    std::vector<ObservedRange> ranges;
    auto p = weight_quant_params(s, w, 0, &ranges);
    REQUIRE(p.is_ok());
    CHECK(p->scale.shape() == Shape({3, in_ch, 1, 1}));
    CHECK(p->axis == 1);
    CHECK(p->group_size == 4);
    const int64_t groups = (in_ch + 3) / 4;
    REQUIRE(ranges.size() == static_cast<size_t>(3 * groups));
    for (int64_t o = 0; o < 3; ++o) {
      for (int64_t i = 0; i < in_ch; ++i) {
        const int64_t g = i / 4;
        double a = 0;
        for (int64_t j = g * 4; j < std::min(in_ch, g * 4 + 4); ++j) {
          a = std::max(a, max_abs(w, (o * in_ch + j) * 4, (o * in_ch + j + 1) * 4));
        }
        CHECK(p->scale.data<float>()[o * in_ch + i] == Approx(a / 7).epsilon(1e-6));
      }
    }
    auto y = fake_quantize(w, *p);
    REQUIRE(y.is_ok());
    auto ref = quant_by_hand(w, *p, [](int64_t i) { return i / 4; });
    for (int64_t i = 0; i < w.numel(); ++i) REQUIRE(y->data<float>()[i] == ref[static_cast<size_t>(i)]);
  }
  // MatMul weight (K, N) with output channels on axis 1: groups run along axis 0.
  const Tensor m = gaussian(Shape{8, 5}, 9);
  QuantSpec s = base;
  s.granularity = Granularity::kPerGroup;
  s.group_size = 4;
  auto p = weight_quant_params(s, m, 1);
  REQUIRE(p.is_ok());
  CHECK(p->scale.shape() == Shape({8, 5}));
  CHECK(p->axis == 0);
  for (int64_t k = 0; k < 8; ++k) {
    for (int64_t n = 0; n < 5; ++n) {
      const int64_t g = k / 4;
      const double a = max_abs(m, g * 4 * 5 + n, (g * 4 + 4) * 5, 5);
      CHECK(p->scale.data<float>()[k * 5 + n] == Approx(a / 7).epsilon(1e-6));
    }
  }
  s.group_size = 0;
  CHECK_FALSE(weight_quant_params(s, m, 1).is_ok());
  s.group_size = 4;
  CHECK_FALSE(weight_quant_params(s, gaussian(Shape{8}, 1), 0).is_ok());
}

TEST_CASE("MSE weight search never loses to abs-max, measured") {
  for (int bits : {2, 4, 8}) {
    for (Granularity g : {Granularity::kPerTensor, Granularity::kPerChannel, Granularity::kPerGroup}) {
      Tensor w = gaussian(Shape{16, 32, 3, 3}, 100 + bits, 0.05f);
      w.data<float>()[5] = 0.6f;  // an outlier in channel 0
      QuantSpec abs = int_spec(bits, Signedness::kSigned);
      abs.granularity = g;
      abs.group_size = 8;
      QuantSpec mse = abs;
      mse.method = RangeMethod::kMse;
      auto pa = weight_quant_params(abs, w, 0);
      auto pm = weight_quant_params(mse, w, 0);
      REQUIRE(pa.is_ok());
      REQUIRE(pm.is_ok());
      auto qa = fake_quantize(w, *pa);
      auto qm = fake_quantize(w, *pm);
      REQUIRE(qa.is_ok());
      REQUIRE(qm.is_ok());
      const double ea = sq_error(w, *qa), em = sq_error(w, *qm);
      INFO("bits " << bits << " granularity " << granularity_name(g) << " absmax " << ea << " mse " << em);
      CHECK(em <= ea);
      if (bits == 4) CHECK(em < 0.9 * ea);  // clipping the outlier pays clearly at 4 bits
      CHECK(sqnr_db(w.data<float>(), qm->data<float>(), w.numel()) >=
            sqnr_db(w.data<float>(), qa->data<float>(), w.numel()));
    }
  }
  // Asymmetric MSE starts from min-max.
  Tensor w = gaussian(Shape{4, 64}, 7);
  QuantSpec a = int_spec(4, Signedness::kUnsigned, false);
  a.method = RangeMethod::kMse;
  a.granularity = Granularity::kPerChannel;
  QuantSpec mm = a;
  mm.method = RangeMethod::kMinMax;
  auto pm = weight_quant_params(a, w, 0);
  auto pmm = weight_quant_params(mm, w, 0);
  REQUIRE(pm.is_ok());
  REQUIRE(pmm.is_ok());
  CHECK(sq_error(w, *fake_quantize(w, *pm)) <= sq_error(w, *fake_quantize(w, *pmm)));
}

TEST_CASE("MSE weight search with other rounding modes, minifloats and percentile weights") {
  Tensor w = gaussian(Shape{8, 50}, 12, 0.1f);
  w.data<float>()[3] = 1.5f;
  QuantSpec abs = int_spec(4, Signedness::kSigned);
  abs.granularity = Granularity::kPerChannel;
  abs.rounding = RoundingMode::kHalfUp;  // the search runs the reference quantizer here
  QuantSpec mse = abs;
  mse.method = RangeMethod::kMse;
  auto pa = weight_quant_params(abs, w, 0);
  auto pm = weight_quant_params(mse, w, 0);
  REQUIRE(pa.is_ok());
  REQUIRE(pm.is_ok());
  CHECK(pm->rounding == RoundingMode::kHalfUp);
  CHECK(sq_error(w, *fake_quantize(w, *pm)) < sq_error(w, *fake_quantize(w, *pa)));

  QuantSpec f;
  f.kind = QuantKind::kFloat;
  f.sign = Signedness::kSigned;
  f.minifloat = MinifloatFormat::e4m3();
  f.minifloat.exponent_bits = 2;  // a narrow e2m3 format, where clipping matters
  f.minifloat.exponent_bias = 1;
  f.minifloat.max_val = 7.5f;
  QuantSpec fm = f;
  fm.method = RangeMethod::kMse;
  auto pf = weight_quant_params(f, w, 0);
  auto pfm = weight_quant_params(fm, w, 0);
  REQUIRE(pf.is_ok());
  REQUIRE(pfm.is_ok());
  CHECK(sq_error(w, *fake_quantize(w, *pfm)) <= sq_error(w, *fake_quantize(w, *pf)));

  // Percentile on weights runs the activation observer once over the tensor.
  QuantSpec pct = int_spec(8, Signedness::kSigned);
  pct.method = RangeMethod::kPercentile;
  pct.percentile = 99.0;
  pct.granularity = Granularity::kPerChannel;
  std::vector<ObservedRange> ranges;
  auto pp = weight_quant_params(pct, w, 0, &ranges);
  REQUIRE(pp.is_ok());
  REQUIRE(ranges.size() == 8);
  std::vector<float> row0(w.data<float>(), w.data<float>() + 50);
  for (float& x : row0) x = std::fabs(x);
  std::sort(row0.begin(), row0.end());
  CHECK(ranges[0].hi == row0[static_cast<size_t>(std::floor(0.01 * 99.0 * 50 + 0.5)) - 1]);
  QuantSpec grp = pct;
  grp.granularity = Granularity::kPerGroup;
  grp.group_size = 10;
  CHECK_FALSE(weight_quant_params(grp, w, 0).is_ok());
}

TEST_CASE("bipolar and minifloat weights") {
  const Tensor w = gaussian(Shape{3, 20}, 8);
  QuantSpec b;
  b.kind = QuantKind::kBipolar;
  b.sign = Signedness::kSigned;
  b.granularity = Granularity::kPerChannel;
  auto p = weight_quant_params(b, w, 0);
  REQUIRE(p.is_ok());
  CHECK(p->scale.shape() == Shape({3, 1}));
  for (int64_t o = 0; o < 3; ++o) {
    double m = 0;
    for (int64_t i = 0; i < 20; ++i) m += std::fabs(static_cast<double>(w.data<float>()[o * 20 + i]));
    CHECK(p->scale.data<float>()[o] == Approx(m / 20).epsilon(1e-6));
  }
  auto y = fake_quantize(w, *p);
  REQUIRE(y.is_ok());
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float s = p->scale.data<float>()[i / 20];
    REQUIRE(y->data<float>()[i] == (w.data<float>()[i] >= 0 ? s : -s));
  }

  QuantSpec f;
  f.kind = QuantKind::kFloat;
  f.sign = Signedness::kSigned;
  f.minifloat = MinifloatFormat::e4m3();
  auto pf = weight_quant_params(f, w, 0);
  REQUIRE(pf.is_ok());
  CHECK(scale0(*pf) == Approx(max_abs(w, 0, w.numel()) / 448).epsilon(1e-6));
  auto yf = fake_quantize(w, *pf);
  REQUIRE(yf.is_ok());
  CHECK(sqnr_db(w.data<float>(), yf->data<float>(), w.numel()) > 25.0);  // e4m3: ~3 mantissa bits
}

TEST_CASE("fake_quantize broadcasts any numpy-compatible scale shape") {
  const Tensor x = gaussian(Shape{2, 3, 4, 5}, 10);
  QuantParams p;
  p.bits = 8;
  p.is_signed = true;
  // Per-channel scale of rank 3 (C, 1, 1), right-aligned against NCHW.
  p.scale = Tensor::from_vector<float>(Shape{3, 1, 1}, {0.01f, 0.02f, 0.03f});
  p.zero_point = Tensor::from_vector<float>(Shape{3, 1, 1}, {0.0f, 3.0f, -5.0f});
  auto y = fake_quantize(x, p);
  REQUIRE(y.is_ok());
  auto ref = quant_by_hand(x, p, [](int64_t i) { return (i / 20) % 3; });
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(y->data<float>()[i] == ref[static_cast<size_t>(i)]);

  // Non-1 dims separated by a 1: scale (3, 1, 5) against (2, 3, 4, 5).
  std::vector<float> sv(15);
  for (size_t i = 0; i < sv.size(); ++i) sv[i] = 0.005f * static_cast<float>(i + 1);
  p.scale = Tensor::from_vector<float>(Shape{3, 1, 5}, sv);
  p.zero_point = Tensor(DType::kF32, Shape{3, 1, 5});
  y = fake_quantize(x, p);
  REQUIRE(y.is_ok());
  ref = quant_by_hand(x, p, [](int64_t i) { return ((i / 20) % 3) * 5 + i % 5; });
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(y->data<float>()[i] == ref[static_cast<size_t>(i)]);

  p.scale = Tensor::from_vector<float>(Shape{4}, {1, 2, 3, 4});
  p.zero_point = Tensor(DType::kF32, Shape{4});
  CHECK_FALSE(fake_quantize(x, p).is_ok());  // last dim is 5
}

TEST_CASE("sqnr_db") {
  std::vector<float> x = {1, 1, 1, 1}, q = {1, 1, 1, 0};
  CHECK(sqnr_db(x.data(), q.data(), 4) == Approx(10.0 * std::log10(4.0)));
  CHECK(std::isinf(sqnr_db(x.data(), x.data(), 4)));
  // 8-bit abs-max on a Gaussian: about 6.02·8 + 1.76 − 20·log10(max/σ) dB.
  const Tensor w = gaussian(Shape{100000}, 4);
  auto p = weight_quant_params(int_spec(8, Signedness::kSigned), w, 0);
  REQUIRE(p.is_ok());
  auto y = fake_quantize(w, *p);
  REQUIRE(y.is_ok());
  const double a = max_abs(w, 0, w.numel());
  const double predicted = 10.0 * std::log10(1.0 / ((a / 127) * (a / 127) / 12));
  CHECK(sqnr_db(w.data<float>(), y->data<float>(), w.numel()) == Approx(predicted).margin(0.3));
}

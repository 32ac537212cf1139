// Quantizer histograms for the calibration report: the activation pass counts exactly the
// values the float model produces (checked against a brute-force histogram of the same data),
// the bins cover both the observed extremes and the clipping range, the clipping range
// follows from scale / zero point / bits, and weight histograms count the constants.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/activation_histograms.h"
#include "engine/session.h"
#include "quant/calibrator.h"
#include "quant/session_values.h"
#include "quant_test_graphs.h"
#include "support/must.h"
#include "support/test_support.h"

using namespace qe;
using qe::test::must;

namespace {

// x [N,4] → gemm (3 outputs) → relu → y, with four quantizers: two on x (as layerwise places
// one per consumer setting), gemm's weight and relu's output.
struct Net {
  test::TestGraph t;
  ValueId x = kNoValue, y = kNoValue;
  NodeId gemm = kNoNode, relu = kNoNode;
  QuantPlan plan;
  int q_x8 = -1, q_x4 = -1, q_w = -1, q_y = -1;
};

QuantSpec spec(Signedness sign, int bits, bool symmetric, RangeMethod method) {
  QuantSpec s = default_activation_spec();
  s.sign = sign;
  s.bits = bits;
  s.symmetric = symmetric;
  s.method = method;
  return s;
}

int add_q(QuantPlan& plan, QuantRole role, ValueId v, NodeId owner, QuantSpec s, int axis = -1) {
  PlannedQuantizer q;
  q.id = static_cast<int>(plan.quantizers.size());
  q.role = role;
  q.value = v;
  q.owner = owner;
  q.spec = s;
  q.channel_axis = axis;
  plan.quantizers.push_back(q);
  return q.id;
}

Net make_net() {
  Net n;
  n.x = n.t.input("x", Shape({-1, 4}));
  ValueId h = n.t.gemm("gemm", n.x, 3, /*bias=*/false);
  n.y = n.t.relu("relu", h);
  n.t.output(n.y);
  n.gemm = n.t.find("gemm");
  n.relu = n.t.find("relu");
  const ValueId w = n.t.g.node(n.gemm).inputs[1];
  n.plan.policy = "layerwise";
  n.q_x8 = add_q(n.plan, QuantRole::kInput, n.x, n.gemm, spec(Signedness::kSigned, 8, true, RangeMethod::kMinMax));
  n.q_x4 = add_q(n.plan, QuantRole::kInput, n.x, n.gemm, spec(Signedness::kUnsigned, 4, false, RangeMethod::kMinMax));
  QuantSpec ws = default_weight_spec();
  ws.sign = Signedness::kSigned;
  ws.granularity = Granularity::kPerChannel;
  n.q_w = add_q(n.plan, QuantRole::kWeight, w, n.gemm, ws, 0);
  QuantSpec ys = spec(Signedness::kUnsigned, 8, true, RangeMethod::kPercentile);
  ys.percentile = 90.0;  // clips the top tenth of every batch: the histogram must show a clipped tail
  n.q_y = add_q(n.plan, QuantRole::kOutput, n.y, n.relu, ys);
  return n;
}

constexpr int kBatches = 6;
constexpr int64_t kRows = 50;

Tensor batch(int i) { return test::random_tensor(Shape({kRows, 4}), 900 + static_cast<uint64_t>(i), -3.f, 5.f); }

BatchSource source() {
  auto served = std::make_shared<int>(0);
  return [served](std::vector<Tensor>& in) -> Result<bool> {
    if (*served >= kBatches) return false;
    in = {batch((*served)++)};
    return true;
  };
}

// Independent reference: the bin whose edges [left + b·w, left + (b+1)·w) hold v, found by
// scanning the edges (the last bin also takes `right`).
std::vector<int64_t> brute_force(const QuantizerHistogram& h, const std::vector<float>& values, int64_t& outside) {
  std::vector<int64_t> counts(h.counts.size(), 0);
  const size_t bins = h.counts.size();
  outside = 0;
  for (float v : values) {
    bool placed = false;
    for (size_t b = 0; b < bins && !placed; ++b) {
      const double lo = h.left + (h.right - h.left) * static_cast<double>(b) / static_cast<double>(bins);
      const double hi = b + 1 == bins ? h.right : h.left + (h.right - h.left) * static_cast<double>(b + 1) / static_cast<double>(bins);
      if (v >= lo && (v < hi || (b + 1 == bins && v <= hi))) {
        ++counts[b];
        placed = true;
      }
    }
    outside += !placed;
  }
  return counts;
}

// Every value x and y take on the batches; y from the model's own output (run without the
// histogram code), so that the reference has the kernels' float rounding.
void reference_values(const Net& n, std::vector<float>& xs, std::vector<float>& ys) {
  auto session = must(Session::create(n.t.g, observing_session_options(1)));
  for (int i = 0; i < kBatches; ++i) {
    const Tensor x = batch(i);
    const std::vector<float> xv = x.to_float_vector();
    xs.insert(xs.end(), xv.begin(), xv.end());
    const std::vector<float> yv = must(session->run({x})).at(0).to_float_vector();
    REQUIRE(yv.size() == static_cast<size_t>(kRows * 3));
    ys.insert(ys.end(), yv.begin(), yv.end());
  }
}

float scalar(const Tensor& t) { return t.to_float_vector().at(0); }

}  // namespace

TEST_CASE("activation histograms count every value the float model produces, in bins covering range and grid") {
  Net n = make_net();
  const CalibrationResult cal = must(calibrate(n.t.g, n.plan, source()));
  HistogramOptions opts;
  opts.bins = 64;
  const std::vector<QuantizerHistogram> hists = must(collect_activation_histograms(n.t.g, n.plan, cal, source(), opts));
  REQUIRE(hists.size() == 3);  // the two input quantizers on x and relu's output; not the weight
  CHECK(hists[0].quantizer == n.q_x8);
  CHECK(hists[1].quantizer == n.q_x4);
  CHECK(hists[2].quantizer == n.q_y);
  CHECK(hists[0].value == "x");
  CHECK(hists[2].value == n.t.g.value(n.y).name);

  std::vector<float> xs, ys;
  reference_values(n, xs, ys);
  const float x_min = *std::min_element(xs.begin(), xs.end()), x_max = *std::max_element(xs.begin(), xs.end());
  const float y_max = *std::max_element(ys.begin(), ys.end());
  for (const QuantizerHistogram& h : hists) {
    INFO("quantizer " << h.quantizer << " left " << h.left << " right " << h.right);
    const std::vector<float>& values = h.value == "x" ? xs : ys;
    REQUIRE(h.counts.size() == 64);
    CHECK(h.total == static_cast<int64_t>(values.size()));
    CHECK(h.below == 0);
    CHECK(h.above == 0);
    int64_t outside = -1;
    CHECK(h.counts == brute_force(h, values, outside));
    CHECK(outside == 0);
    // The bins span the extremes calibration saw and the whole grid.
    CHECK(h.left <= h.observed_min);
    CHECK(h.left <= h.clip_lo);
    CHECK(h.right >= h.observed_max);
    CHECK(h.right >= h.clip_hi);
    CHECK(h.left == std::min(h.observed_min, h.clip_lo));
    CHECK(h.right == std::max(h.observed_max, h.clip_hi));
    CHECK(!h.per_channel);
    // The exact counts beside the bins: the values' extremes and what the grid clips.
    CHECK(h.data_min == *std::min_element(values.begin(), values.end()));
    CHECK(h.data_max == *std::max_element(values.begin(), values.end()));
    const double half_step = 0.5 * scalar(cal.quantizers[static_cast<size_t>(h.quantizer)].params.scale);
    CHECK(h.half_step == Approx(half_step));
    CHECK(h.clipped_low ==
          std::count_if(values.begin(), values.end(), [&](float v) { return v < h.clip_lo - half_step; }));
    CHECK(h.clipped_high ==
          std::count_if(values.begin(), values.end(), [&](float v) { return v > h.clip_hi + half_step; }));
    CHECK(h.clipped_fraction() == Approx(static_cast<double>(h.clipped_low + h.clipped_high) / h.total));
  }
  CHECK(hists[0].observed_min == x_min);
  CHECK(hists[0].observed_max == x_max);
  CHECK(hists[2].observed_max == y_max);

  // Clipping ranges from the parameters: signed 8-bit symmetric [-128 s, 127 s]; unsigned
  // 4-bit asymmetric [(0 − zp) s, (15 − zp) s].
  const QuantParams& p8 = cal.quantizers[static_cast<size_t>(n.q_x8)].params;
  CHECK(hists[0].clip_lo == Approx(-128.0 * scalar(p8.scale)));
  CHECK(hists[0].clip_hi == Approx(127.0 * scalar(p8.scale)));
  const QuantParams& p4 = cal.quantizers[static_cast<size_t>(n.q_x4)].params;
  CHECK(hists[1].clip_lo == Approx((0.0 - scalar(p4.zero_point)) * scalar(p4.scale)));
  CHECK(hists[1].clip_hi == Approx((15.0 - scalar(p4.zero_point)) * scalar(p4.scale)));
  CHECK(hists[1].clip_lo < 0);  // x is negative too: the zero point moved the unsigned grid
  // Min-max clips at most the rounding at the grid's ends; the 90th percentile clips a visible
  // tail of relu's output, and nothing below its zero.
  CHECK(hists[0].clipped_fraction() < 0.01);
  CHECK(hists[2].clip_hi < y_max);
  CHECK(hists[2].clipped_low == 0);
  CHECK(hists[2].clipped_fraction() > 0.02);
  CHECK(hists[2].clipped_fraction() < 0.2);
}

TEST_CASE("activation histograms stop after max_batches and reject a result of another plan") {
  Net n = make_net();
  const CalibrationResult cal = must(calibrate(n.t.g, n.plan, source()));
  HistogramOptions opts;
  opts.max_batches = 2;
  const auto hists = must(collect_activation_histograms(n.t.g, n.plan, cal, source(), opts));
  REQUIRE(!hists.empty());
  CHECK(hists[0].total == 2 * kRows * 4);
  CHECK(hists[0].counts.size() == 128);

  QuantPlan other = n.plan;
  other.quantizers.pop_back();
  auto bad = collect_activation_histograms(n.t.g, other, cal, source(), opts);
  CHECK(!bad.is_ok());
  CHECK(bad.status().message().find("does not belong") != std::string::npos);
  opts.bins = 0;
  CHECK(!collect_activation_histograms(n.t.g, n.plan, cal, source(), opts).is_ok());
}

TEST_CASE("weight histograms count the constant; per-channel grids report the widest channel") {
  Net n = make_net();
  const CalibrationResult cal = must(calibrate(n.t.g, n.plan, source()));
  const auto hists = must(collect_weight_histograms(n.t.g, n.plan, cal, 16));
  REQUIRE(hists.size() == 1);
  const QuantizerHistogram& h = hists[0];
  CHECK(h.quantizer == n.q_w);
  CHECK(h.per_channel);
  const std::vector<float> w = n.t.g.value(n.t.g.node(n.gemm).inputs[1]).constant.to_float_vector();
  CHECK(h.total == 12);
  int64_t outside = -1;
  CHECK(h.counts == brute_force(h, w, outside));
  CHECK(outside == 0);
  const QuantParams& pw = cal.quantizers[static_cast<size_t>(n.q_w)].params;
  const std::vector<float> scales = pw.scale.to_float_vector();
  REQUIRE(scales.size() == 3);
  const double widest = *std::max_element(scales.begin(), scales.end());
  CHECK(h.clip_hi == Approx(static_cast<double>(pw.max_int()) * widest));
  CHECK(h.clip_lo == Approx(static_cast<double>(pw.min_int()) * widest));
  CHECK(h.half_step == Approx(0.5 * widest));
  // Abs-max per channel: the widest channel's grid reaches the largest |w|.
  float absmax = 0;
  for (float v : w) absmax = std::max(absmax, std::fabs(v));
  CHECK(h.clip_hi == Approx(absmax).epsilon(1e-5));
}

TEST_CASE("clipping_range follows the parameters' kind and refuses a quantizer without scale") {
  QuantParams p;
  p.bits = 8;
  p.is_signed = false;
  p.scale = scalar_tensor(0.5f);
  p.zero_point = scalar_tensor(10.0f);
  auto r = must(clipping_range(p));
  CHECK(r.first == Approx(-5.0));
  CHECK(r.second == Approx(122.5));
  p.kind = QuantKind::kBipolar;
  r = must(clipping_range(p));
  CHECK(r.first == Approx(-0.5));
  CHECK(r.second == Approx(0.5));
  p.kind = QuantKind::kFloat;
  p.minifloat = MinifloatFormat::e4m3();
  r = must(clipping_range(p));
  CHECK(r.second == Approx(224.0));
  CHECK(!clipping_range(QuantParams{}).is_ok());
}

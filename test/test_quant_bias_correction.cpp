// Bias correction: on the demo model at 4-bit weights (where the mean shift is large), the
// corrected graph is closer to float than the uncorrected one, layer outputs included, and
// the correction equals Σ (W - Q(W)) · E[x] for a hand-checked 1x1 conv.
#include <catch2/catch.hpp>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "quant/bias_correction.h"
#include "quant/calibrator.h"
#include "quant/materialize.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/quant_math.h"
#include "quant/rules.h"
#include "quant/sqnr_report.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

BatchSource batches_of(const Tensor& images, int64_t batch) {
  auto next = std::make_shared<int64_t>(0);
  return [images, batch, next](std::vector<Tensor>& inputs) -> Result<bool> {
    const int64_t n = images.shape()[0];
    if (*next >= n) return false;
    const int64_t b = std::min(batch, n - *next);
    Shape s = images.shape();
    s[0] = b;
    const int64_t per = images.numel() / n;
    inputs = {Tensor::from_data(DType::kF32, s, images.data<float>() + *next * per)};
    *next += b;
    return true;
  };
}

}  // namespace

TEST_CASE("bias correction brings a 4-bit-weight model closer to float") {
  auto model = import_onnx_file(require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.onnx"));
  REQUIRE(model.is_ok());
  auto g = prepare_float_graph(*model);
  REQUIRE(g.is_ok());
  // Non-negative inputs with a clear mean, like normalised images after the first ReLU.
  const Tensor images = random_tensor(Shape{64, 1, 28, 28}, 11, 0.0f, 2.0f);
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.w_bits = 4;
  REQUIRE(apply_flags(rules, flags).is_ok());
  auto config = resolve_rules(*g, rules);
  REQUIRE(config.is_ok());
  auto plan = make_quant_plan(*g, *config, "full");
  REQUIRE(plan.is_ok());
  auto cal = calibrate(*g, *plan, batches_of(images, 16));
  REQUIRE(cal.is_ok());
  auto plain = materialize_plan(*g, *plan, *cal);
  REQUIRE(plain.is_ok());
  Graph corrected = *plain;
  auto report = correct_biases(*g, corrected, *plan, batches_of(images, 16), -1);
  REQUIRE(report.is_ok());
  CHECK(report->corrected_nodes == 4);  // three convs and the classifier
  CHECK(report->samples == 64);

  auto before = measure_sqnr(*g, *plain, *plan, batches_of(images, 16), -1);
  auto after = measure_sqnr(*g, corrected, *plan, batches_of(images, 16), -1);
  REQUIRE(before.is_ok());
  REQUIRE(after.is_ok());
  INFO("output SQNR " << before->output_sqnr_db << " dB -> " << after->output_sqnr_db << " dB");
  CHECK(after->output_sqnr_db > before->output_sqnr_db + 1.0);
}

TEST_CASE("bias correction of a 1x1 conv adds (W - Q(W)) · E[x] to the bias") {
  // y = conv1x1(x) with 2 input and 2 output channels; x channel means 1 and 3.
  Graph g;
  const ValueId x = g.add_value("x", DType::kF32, Shape{2, 2, 1, 2}, true);
  g.add_input(x);
  const ValueId w = g.add_constant("w", Tensor::from_vector<float>(Shape{2, 2, 1, 1}, {0.30f, -0.71f, 0.52f, 0.13f}));
  const ValueId b = g.add_constant("b", Tensor::from_vector<float>(Shape{2}, {0.5f, -0.25f}));
  const ValueId y = g.add_value("y");
  const NodeId conv = g.add_node(OpKind::kConv, "conv", {x, w, b}, {y});
  g.add_output(y);
  auto prepared = prepare_float_graph(g);
  REQUIRE(prepared.is_ok());
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.w_bits = 3;
  REQUIRE(apply_flags(rules, flags).is_ok());
  auto config = resolve_rules(*prepared, rules);
  REQUIRE(config.is_ok());
  auto plan = make_quant_plan(*prepared, *config, "full");
  REQUIRE(plan.is_ok());
  // Channel 0 holds 1s, channel 1 holds 3s (both samples, both positions).
  const Tensor input = Tensor::from_vector<float>(Shape{2, 2, 1, 2}, {1, 1, 3, 3, 1, 1, 3, 3});
  auto cal = calibrate(*prepared, *plan, batches_of(input, 2));
  REQUIRE(cal.is_ok());
  auto q = materialize_plan(*prepared, *plan, *cal);
  REQUIRE(q.is_ok());
  Graph corrected = *q;
  REQUIRE(correct_biases(*prepared, corrected, *plan, batches_of(input, 2), -1).is_ok());
  // Expected: per-tensor 3-bit abs-max weights, scale 0.71 / 3; the input is quantized too, so
  // E[x] is the mean of the quantized input, which for the values 1 and 3 on an 8-bit grid
  // with scale 3/127 is exactly representable up to rounding: compute it the same way.
  const float s_w = 0.71f / 3.0f;
  auto qw = [&](float v) { return std::nearbyint(v / s_w) * s_w; };
  const float s_x = 3.0f / 127.0f;
  const double m0 = std::nearbyint(1.0f / s_x) * s_x, m1 = std::nearbyint(3.0f / s_x) * s_x;
  const float wv[4] = {0.30f, -0.71f, 0.52f, 0.13f};
  const double shift0 = (wv[0] - qw(wv[0])) * m0 + (wv[1] - qw(wv[1])) * m1;
  const double shift1 = (wv[2] - qw(wv[2])) * m0 + (wv[3] - qw(wv[3])) * m1;
  const Tensor& nb = corrected.value(corrected.node(conv).inputs[2]).producer == kNoNode
                         ? corrected.value(corrected.node(conv).inputs[2]).constant
                         : corrected.value(b).constant;
  CHECK(nb.data<float>()[0] == Approx(0.5 + shift0).margin(1e-6));
  CHECK(nb.data<float>()[1] == Approx(-0.25 + shift1).margin(1e-6));
}

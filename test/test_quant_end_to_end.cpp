// The demo model quantized end to end (rules → plan → calibration → fake-quant graph), then:
// the QONNX file re-imported must reproduce the in-memory simulation bit for bit, and the QCDQ
// file run by onnxruntime (onnxruntime-node, installed by scripts/setup-deps.sh) must agree with
// it (top-1 within 0.05 points, ≥ 99% of logits within 1e-3 relative).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "quant/finn_checker.h"
#include "quant/lower_trunc.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"
#include "support/ort_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;
using namespace qe::test;

namespace {

struct DemoData {
  Tensor images;  // [N, 1, 28, 28]
  std::vector<int> labels;
};

DemoData load_demo_images(const std::string& model_path) {
  auto pre = load_sidecar_preprocessing(model_path);
  REQUIRE(pre.is_ok());
  auto ds = scan_image_folder(source_dir() + "/examples/images");
  REQUIRE(ds.is_ok());
  REQUIRE(ds->samples.size() >= 100);
  BatchLoaderOptions lo;
  lo.batch_size = static_cast<int>(ds->samples.size());
  auto loader = BatchLoader::create(ds->samples, *pre, lo);
  REQUIRE(loader.is_ok());
  auto batch = (*loader)->next();
  REQUIRE(batch);
  REQUIRE((*loader)->num_skipped() == 0);
  return {batch->input, batch->labels};
}

Tensor run_one(const Graph& g, const Tensor& input) {
  auto s = Session::create(g);
  REQUIRE(s.is_ok());
  auto out = (*s)->run({input});
  REQUIRE(out.is_ok());
  return (*out)[0];
}

double top1(const Tensor& logits, const std::vector<int>& labels) {
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * c;
    int64_t best = 0;
    for (int64_t k = 1; k < c; ++k) {
      if (row[k] > row[best]) best = k;
    }
    correct += best == labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

Graph quantize_demo(const Graph& model, const Tensor& images, const std::string& policy, const RuleSet& rules) {
  // Batches of 16, as `qengine calibrate` feeds them (percentiles are averaged per batch).
  auto q = quantize_graph(model, rules, policy, tensor_batch_passes(images, 16));
  REQUIRE(q.is_ok());
  return std::move(q).value();
}

}  // namespace

TEST_CASE("demo model W8A8: QONNX round trip is exact, QCDQ in onnxruntime agrees with the simulation") {
  const std::string model_path = require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.onnx");
  auto model = import_onnx_file(model_path);
  REQUIRE(model.is_ok());
  const DemoData data = load_demo_images(model_path);

  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.per_channel = true;
  REQUIRE(apply_flags(rules, flags).is_ok());
  const Graph quantized = quantize_demo(*model, data.images, "full", rules);
  const Tensor sim = run_one(quantized, data.images);
  const Tensor float_logits = run_one(*model, data.images);
  INFO("float top-1 " << top1(float_logits, data.labels) << ", simulated W8A8 top-1 " << top1(sim, data.labels));
  CHECK(std::abs(top1(sim, data.labels) - top1(float_logits, data.labels)) <= 0.03);

  const fs::path dir = fs::temp_directory_path() / ("qe_quant_e2e_" + std::to_string(::getpid()));
  fs::create_directories(dir);

  // QONNX: re-import reproduces the in-memory simulation exactly.
  const std::string qonnx = (dir / "demo.qonnx.onnx").string();
  REQUIRE(export_qonnx(quantized, qonnx).is_ok());
  auto reimported = import_onnx_file(qonnx);
  REQUIRE(reimported.is_ok());
  const Tensor again = run_one(*reimported, data.images);
  REQUIRE(again.numel() == sim.numel());
  CHECK(std::memcmp(again.raw(), sim.raw(), sim.bytes()) == 0);

  // QCDQ (Trunc lowered to standard ops), run by onnxruntime.
  auto lowered = lower_trunc_to_standard_ops(quantized);
  REQUIRE(lowered.is_ok());
  const std::string qcdq = (dir / "demo.qcdq.onnx").string();
  REQUIRE(export_qcdq(*lowered, qcdq).is_ok());
  const Tensor qcdq_in_qengine = run_one(*import_onnx_file(qcdq), data.images);
  CHECK(top1(qcdq_in_qengine, data.labels) == top1(sim, data.labels));
  CHECK(std::memcmp(qcdq_in_qengine.raw(), sim.raw(), sim.bytes()) == 0);

  const Tensor ort_logits = run_in_onnxruntime(qcdq, "input", data.images, "logits", dir);
  REQUIRE(ort_logits.shape() == sim.shape());

  int64_t close = 0, identical = 0;
  float max_diff = 0.f;
  const float* a = ort_logits.data<float>();
  const float* b = sim.data<float>();
  for (int64_t i = 0; i < sim.numel(); ++i) {
    close += std::abs(a[i] - b[i]) <= 1e-3f * std::abs(b[i]);
    identical += a[i] == b[i];
    max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  }
  const double close_fraction = static_cast<double>(close) / static_cast<double>(sim.numel());
  std::printf("onnxruntime QCDQ vs simulation: %lld of %lld logits identical, %.4f within 1e-3 relative, max abs "
              "difference %g; top-1 %.4f vs %.4f\n",
              static_cast<long long>(identical), static_cast<long long>(sim.numel()), close_fraction,
              static_cast<double>(max_diff), top1(ort_logits, data.labels), top1(sim, data.labels));
  INFO("onnxruntime top-1 " << top1(ort_logits, data.labels) << ", logits within 1e-3 relative: " << close_fraction);
  CHECK(std::abs(top1(ort_logits, data.labels) - top1(sim, data.labels)) <= 0.0005);
  CHECK(close_fraction >= 0.99);
  if (close_fraction < 0.99) return;  // keep the files for inspection
  fs::remove_all(dir);
}

TEST_CASE("FINN-demo rule files give the bit widths they promise, and the finn checker passes") {
  const std::string model_path = require_file(shared_path("models/mobilenet_v2_fmnist64.onnx"));
  auto model = import_onnx_file(model_path);
  REQUIRE(model.is_ok());
  // Calibration data: any batch works for bit widths and the checker; use random images.
  const Tensor images = random_tensor(Shape{4, 3, 64, 64}, 7, -2.f, 2.f);
  struct Variant {
    const char* file;
    int depthwise_bits, other_bits, first_bits;
  };
  for (const Variant v : {Variant{"finn_w4.json", 4, 4, 4}, Variant{"finn_dw8_w4.json", 8, 4, 4},
                          Variant{"finn_dw8_w4_first8.json", 8, 4, 8}}) {
    SECTION(v.file) {
      auto rules = load_rule_file(source_dir() + "/examples/rules/" + v.file);
      REQUIRE(rules.is_ok());
      const Graph q = quantize_demo(*model, images, "finn", *rules);
      const auto violations = check_finn(q);
      INFO(format_finn_violations(violations));
      CHECK(violations.empty());
      int convs = 0, first_seen = 0;
      auto order = q.topological_order();
      REQUIRE(order.is_ok());
      for (NodeId id : *order) {
        const Node& n = q.node(id);
        if (n.op != OpKind::kConv) continue;
        const Value& w = q.value(n.inputs[1]);
        REQUIRE(w.producer != kNoNode);
        REQUIRE(q.node(w.producer).op == OpKind::kFakeQuant);
        auto p = read_quant_params(q, w.producer);
        REQUIRE(p.is_ok());
        const int64_t group = n.attrs.get_int("group", 1).value();
        const bool depthwise = group > 1;
        const int expected = convs == 0 ? v.first_bits : depthwise ? v.depthwise_bits : v.other_bits;
        INFO(n.name << " group " << group);
        CHECK(p->bits == expected);
        CHECK(p->zero_point.to_float_vector() == std::vector<float>(p->zero_point.numel(), 0.0f));
        ++convs;
        first_seen = 1;
      }
      CHECK(first_seen == 1);
      CHECK(convs > 30);
    }
  }
}

TEST_CASE("QCDQ integer weights are the simulation's, bit for bit (4-bit resnet18, 11M weights)") {
  // Near-ties in w / s round the same way only when exporter and FakeQuant divide alike.
  auto model = import_onnx_file(require_file(shared_path("models/resnet18_fmnist64.onnx")));
  REQUIRE(model.is_ok());
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.w_bits = 4;
  flags.per_channel = true;
  REQUIRE(apply_flags(rules, flags).is_ok());
  const Tensor images = random_tensor(Shape{4, 3, 64, 64}, 5, -2.f, 2.f);
  const Graph quantized = quantize_demo(*model, images, "full", rules);
  const fs::path dir = fs::temp_directory_path() / ("qe_quant_e2e_w4_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto lowered = lower_trunc_to_standard_ops(quantized);
  REQUIRE(lowered.is_ok());
  const std::string qcdq = (dir / "r18.qcdq.onnx").string();
  REQUIRE(export_qcdq(*lowered, qcdq).is_ok());
  auto reimported = import_onnx_file(qcdq);
  REQUIRE(reimported.is_ok());
  const Tensor sim = run_one(quantized, images);
  const Tensor again = run_one(*reimported, images);
  REQUIRE(again.numel() == sim.numel());
  CHECK(std::memcmp(again.raw(), sim.raw(), sim.bytes()) == 0);
  fs::remove_all(dir);
}

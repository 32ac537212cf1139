// Integer execution against the fake-quant simulation, on every shared model (Fashion-MNIST and
// ImageNet) at W8A8 and W4A8 (per-channel weights, `full` policy): each model is calibrated in
// process, run once as the simulation and once lowered to the integer kernels. The simulation
// computes quantized Conv / Gemm / MatMul exactly (engine/exact_simulation.h) and the integer
// kernels reproduce its float steps, so the two must agree bit for bit: per op (every integer op
// fed the simulation's own input codes) and end to end (every quantized tensor the two share,
// the logits, the top-1 class).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "engine/exact_simulation.h"
#include "engine/integer_regions.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "graph/schema.h"
#include "quant/lower_integer.h"
#include "quant/quantize_graph.h"
#include "support/image_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;

namespace {

Graph quantize(const Graph& model, const Tensor& calib, int w_bits, bool act_asym) {
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.per_channel = true;
  if (act_asym) flags.act_symmetric = false;
  flags.w_bits = w_bits;
  flags.a_bits = 8;
  if (w_bits < 8) flags.first_last_bits = 8;
  REQUIRE(apply_flags(rules, flags).is_ok());
  auto q = quantize_graph(model, rules, "full", tensor_batch_passes(calib, 16));
  REQUIRE(q.is_ok());
  return std::move(q).value();
}

// The average pool as an imported QDQ file has it (DQ → GlobalAveragePool → Q; the `full`
// policy writes a Trunc): every Trunc after a pool becomes a quantizer onto the Trunc's output
// grid. Returns how many.
int truncs_to_quantizers(Graph& g) {
  int replaced = 0;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& t = g.node(static_cast<NodeId>(i));
    if (!t.alive || t.op != OpKind::kTrunc) continue;
    std::string reason;
    auto tp = lowering::trunc_pool(g, t.id, &reason);
    INFO(reason);
    REQUIRE(tp);
    QuantParams p;
    p.bits = static_cast<int>(g.value(t.inputs[5]).constant.to_float_vector()[0]);
    p.is_signed = tp->y.dtype == DType::kI8;
    auto narrow = t.attrs.get_int("narrow", 0);
    p.narrow = narrow.is_ok() && *narrow != 0;
    p.scale = scalar_tensor(tp->y.scale);
    p.zero_point = scalar_tensor(0.f);
    const ValueId x = t.inputs[0], out = t.outputs[0];
    const std::string name = t.name + "_as_quantizer";
    g.remove_node(t.id);
    auto q = add_fake_quant(g, x, p, name);
    REQUIRE(q.is_ok());
    g.replace_all_uses(out, *q);
    ++replaced;
  }
  REQUIRE(infer_shapes(g).is_ok());
  return replaced;
}

struct Captured {
  std::map<std::string, std::vector<int32_t>> codes;  // integer codes per value name
  Tensor logits;
};

// Runs `g` on `input`, keeping the integer codes of the named values: integer tensors as they
// are, float ones (the simulation's FakeQuant outputs) as round(v / scale) + zero point.
Captured run_capturing(const Graph& g, const Tensor& input,
                       const std::map<std::string, std::pair<float, int32_t>>& float_values,
                       const std::map<std::string, std::string>& int_values) {
  auto s = Session::create(g);
  REQUIRE(s.is_ok());
  Captured c;
  ValueObserver obs = [&](const Graph& pg, ValueId v, const TensorView& t) {
    const std::string& name = pg.value(v).name;
    std::vector<int32_t> out(static_cast<size_t>(t.numel()));
    if (t.dtype == DType::kF32) {
      auto it = float_values.find(name);
      if (it == float_values.end()) return;
      const float* d = t.as<const float>();
      for (size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<int32_t>(std::nearbyint(static_cast<double>(d[i]) / it->second.first)) + it->second.second;
      }
      c.codes[name] = std::move(out);
    } else if (t.dtype == DType::kU8 || t.dtype == DType::kI8) {
      auto it = int_values.find(name);
      if (it == int_values.end()) return;
      for (size_t i = 0; i < out.size(); ++i) {
        out[i] = t.dtype == DType::kU8 ? t.as<const uint8_t>()[i] : t.as<const int8_t>()[i];
      }
      c.codes[it->second] = std::move(out);  // under the float value's name
    }
  };
  auto out = (*s)->run_observed({input}, obs);
  REQUIRE(out.is_ok());
  c.logits = (*out)[0];
  return c;
}

int64_t argmax_row(const Tensor& t, int64_t row) {
  const int64_t c = t.numel() / t.shape()[0];
  const float* r = t.data<float>() + row * c;
  int64_t best = 0;
  for (int64_t k = 1; k < c; ++k) {
    if (r[k] > r[best]) best = k;
  }
  return best;
}

// Every integer op of `lowered` run alone on the simulation's own input codes, against the
// simulation's output codes: the per-op form of the contract, free of the way one differing
// step early in a network grows through the layers after it.
struct OpAgreement {
  int64_t ops = 0, elements = 0, identical = 0;
  int32_t worst = 0;
  std::string worst_op;
};
OpAgreement per_op_agreement(const Graph& lowered, const Captured& sim, const std::map<std::string, std::string>& int_to_float) {
  OpAgreement r;
  for (size_t i = 0; i < lowered.num_nodes(); ++i) {
    const Node& n = lowered.node(static_cast<NodeId>(i));
    if (!n.alive || n.outputs.empty()) continue;
    const Value& out = lowered.value(n.outputs[0]);
    auto of = int_to_float.find(out.name);
    if (of == int_to_float.end() || !sim.codes.count(of->second)) continue;
    Graph g;
    std::vector<ValueId> inputs;
    std::vector<Tensor> feeds;
    bool ok = true;
    for (ValueId in : n.inputs) {
      if (in == kNoValue) {
        inputs.push_back(kNoValue);
        continue;
      }
      const Value& v = lowered.value(in);
      if (v.is_constant()) {
        inputs.push_back(g.add_constant(v.name, v.constant));
        continue;
      }
      auto f = int_to_float.find(v.name);
      if (f == int_to_float.end() || !sim.codes.count(f->second) || !v.shape_known) {
        ok = false;
        break;
      }
      const std::vector<int32_t>& codes = sim.codes.at(f->second);
      // The graph's batch dim is symbolic; the run's comes from the captured size.
      std::vector<int64_t> dims(v.shape.begin(), v.shape.end());
      int64_t known = 1;
      for (int64_t d : dims) known *= d > 0 ? d : 1;
      for (int64_t& d : dims) {
        if (d < 0) d = static_cast<int64_t>(codes.size()) / known;
      }
      Tensor t(v.dtype, Shape(dims));
      if (t.numel() != static_cast<int64_t>(codes.size())) {
        ok = false;
        break;
      }
      for (size_t k = 0; k < codes.size(); ++k) {
        if (v.dtype == DType::kU8) t.data<uint8_t>()[k] = static_cast<uint8_t>(codes[k]);
        else t.data<int8_t>()[k] = static_cast<int8_t>(codes[k]);
      }
      ValueId gi = g.add_value(v.name, v.dtype, Shape(dims), true);
      g.add_input(gi);
      inputs.push_back(gi);
      feeds.push_back(t);
    }
    if (!ok || feeds.empty()) continue;
    ValueId go = g.add_value(out.name, out.dtype);
    g.add_node(n.op, n.name, inputs, {go}, n.attrs);
    g.add_output(go);
    auto session = Session::create(std::move(g));
    REQUIRE(session.is_ok());
    auto y = (*session)->run(feeds);
    REQUIRE(y.is_ok());
    const Tensor& t = (*y)[0];
    const std::vector<int32_t>& want = sim.codes.at(of->second);
    REQUIRE(t.numel() == static_cast<int64_t>(want.size()));
    ++r.ops;
    for (size_t k = 0; k < want.size(); ++k) {
      const int32_t got = t.dtype() == DType::kU8 ? t.data<uint8_t>()[k] : t.data<int8_t>()[k];
      const int32_t d = std::abs(got - want[k]);
      r.identical += d == 0;
      if (d > r.worst) {
        r.worst = d;
        r.worst_op = describe_node(lowered, n.id);
      }
    }
    r.elements += static_cast<int64_t>(want.size());
  }
  return r;
}

void check_model(const std::string& model_path, const std::string& calib_dir, const std::string& val_dir,
                 size_t calib_count, size_t val_count, int w_bits, bool act_asym = false, bool pools_as_quantizers = false) {
  auto model = import_onnx_file(require_file(model_path));
  REQUIRE(model.is_ok());
  Graph sim = quantize(*model, load_images(model_path, calib_dir, calib_count), w_bits, act_asym);
  if (pools_as_quantizers) CHECK(truncs_to_quantizers(sim) > 0);
  Graph lowered = sim;
  auto report = lower_to_integer(lowered);
  REQUIRE(report.is_ok());
  INFO(model_path << " W" << w_bits << "A8\n" << format_lowering_report(*report));
  CHECK(report->integer_nodes > 0);
  if (act_asym) {
    // Odd zero points are what makes asymmetric grids differ from QuantizeLinear's rounding.
    int odd = 0;
    for (const auto& v : report->values) odd += (v.zero_point & 1) != 0;
    CHECK(odd > 0);
  }

  std::map<std::string, std::pair<float, int32_t>> float_values;
  std::map<std::string, std::string> int_values;
  for (const auto& v : report->values) {
    float_values[v.float_name] = {v.scale, v.zero_point};
    int_values[v.int_name] = v.float_name;
  }
  const Tensor val = load_images(model_path, val_dir, val_count);
  const Captured a = run_capturing(sim, val, float_values, {});
  const Captured b = run_capturing(lowered, val, {}, int_values);

  int64_t compared = 0, identical = 0, tensors = 0;
  int32_t worst = 0;
  std::string worst_value;
  for (const auto& [name, codes] : b.codes) {
    auto it = a.codes.find(name);
    if (it == a.codes.end()) continue;
    REQUIRE(it->second.size() == codes.size());
    ++tensors;
    for (size_t i = 0; i < codes.size(); ++i) {
      const int32_t d = std::abs(codes[i] - it->second[i]);
      identical += d == 0;
      if (d > worst) {
        worst = d;
        worst_value = name;
      }
    }
    compared += static_cast<int64_t>(codes.size());
  }
  int64_t same_top1 = 0;
  const int64_t n = a.logits.shape()[0];
  for (int64_t i = 0; i < n; ++i) same_top1 += argmax_row(a.logits, i) == argmax_row(b.logits, i);
  const double identical_fraction = static_cast<double>(identical) / static_cast<double>(std::max<int64_t>(1, compared));
  INFO(tensors << " quantized tensors, " << compared << " elements, " << identical_fraction * 100
               << "% identical, worst difference " << worst << " steps (" << worst_value << "), same top-1 on "
               << same_top1 << "/" << n << " images");
  std::map<std::string, std::string> int_to_float;
  for (const auto& v : report->values) int_to_float[v.int_name] = v.float_name;
  const OpAgreement ops = per_op_agreement(lowered, a, int_to_float);
  const double op_identical = static_cast<double>(ops.identical) / static_cast<double>(std::max<int64_t>(1, ops.elements));
  INFO("per op: " << ops.ops << " integer ops on the simulation's inputs, " << op_identical * 100
                  << "% identical, worst " << ops.worst << " steps (" << ops.worst_op << ")");
  std::printf("%-32s W%dA8%s%s end to end: %6.2f%% identical, worst %2d, top-1 same %lld/%lld | per op (%lld ops): %.4f%% identical, worst %d\n",
              model_path.substr(model_path.rfind('/') + 1).c_str(), w_bits, act_asym ? " asym" : "     ",
              pools_as_quantizers ? " pool-Q" : "",
              identical_fraction * 100, worst,
              static_cast<long long>(same_top1), static_cast<long long>(n), static_cast<long long>(ops.ops),
              op_identical * 100, ops.worst);
  CHECK(tensors >= static_cast<int64_t>(report->values.size()) / 2);
  CHECK(ops.ops >= 1);
  CHECK(ops.identical == ops.elements);
  CHECK(ops.worst == 0);
  CHECK(identical == compared);
  CHECK(worst == 0);
  CHECK(same_top1 == n);
  REQUIRE(a.logits.numel() == b.logits.numel());
  int64_t logits_differ = 0;
  for (int64_t i = 0; i < a.logits.numel(); ++i) logits_differ += a.logits.data<float>()[i] != b.logits.data<float>()[i];
  CHECK(logits_differ == 0);

  // The simulation computes in integers exactly the compute nodes and directly quantized pools
  // (QAvgPool with a y_scale; a Trunc's has none) that the lowering made integer.
  Graph rewritten = sim;
  REQUIRE(infer_shapes(rewritten).is_ok());
  auto exact = make_quantized_compute_exact(rewritten);
  REQUIRE(exact.is_ok());
  int integer_compute = 0, direct_pools = 0;
  for (size_t i = 0; i < lowered.num_nodes(); ++i) {
    const Node& node = lowered.node(static_cast<NodeId>(i));
    if (!node.alive) continue;
    integer_compute += node.op == OpKind::kQConv || node.op == OpKind::kQGemm;
    direct_pools += node.op == OpKind::kQAvgPool && node.attrs.has("y_scale");
  }
  CHECK(*exact == integer_compute + direct_pools);
  if (pools_as_quantizers) CHECK(direct_pools > 0);
}

const char* const kFashionModels[] = {"fmnist_tiny_cnn", "mobilenet_v2_fmnist64", "mobilenet_v3_small_fmnist64",
                                      "resnet18_fmnist64", "vit_tiny_fmnist64"};
const char* const kImageNetModels[] = {"mobilenet_v1_075_keras", "mobilenet_v2_tfslim_qat", "mobilenet_v2_tv_tflm",
                                       "squeezenet1_1_caffe"};

}  // namespace

TEST_CASE("integer execution matches the simulation on the Fashion-MNIST models") {
  for (int w_bits : {8, 4}) {
    for (const char* m : kFashionModels) {
      SECTION(std::string(m) + " W" + std::to_string(w_bits) + "A8") {
        check_model(shared_path("models/" + std::string(m) + ".onnx"), shared_path("data/fashion-mnist/calib"),
                    shared_path("data/fashion-mnist/val"), 64, 200, w_bits);
      }
    }
  }
}

TEST_CASE("integer execution matches the simulation with asymmetric activations (odd zero points)") {
  // The quantizer rounds x / s + z; the integer kernels and region entries must too.
  for (const char* m : {"fmnist_tiny_cnn", "mobilenet_v2_fmnist64", "vit_tiny_fmnist64"}) {
    SECTION(std::string(m) + " W8A8 asymmetric") {
      check_model(shared_path("models/" + std::string(m) + ".onnx"), shared_path("data/fashion-mnist/calib"),
                  shared_path("data/fashion-mnist/val"), 64, 200, 8, true);
    }
  }
}

TEST_CASE("integer execution matches the simulation with pools quantized directly (QDQ files)") {
  // DQ → GlobalAveragePool → Q, as onnxruntime's quantizer and other tools write it.
  for (const char* m : {"mobilenet_v2_fmnist64", "mobilenet_v3_small_fmnist64"}) {
    SECTION(std::string(m) + " W8A8 pools quantized directly") {
      check_model(shared_path("models/" + std::string(m) + ".onnx"), shared_path("data/fashion-mnist/calib"),
                  shared_path("data/fashion-mnist/val"), 64, 200, 8, false, true);
    }
  }
  SECTION("mobilenet_v2_tv_tflm W8A8 pool quantized directly") {
    check_model(shared_path("imagenet/models/mobilenet_v2_tv_tflm.onnx"), shared_path("imagenet/calib"),
                shared_path("imagenet/val"), 32, 40, 8, false, true);
  }
}

TEST_CASE("integer execution matches the simulation on the ImageNet models") {
  for (int w_bits : {8, 4}) {
    for (const char* m : kImageNetModels) {
      SECTION(std::string(m) + " W" + std::to_string(w_bits) + "A8") {
        check_model(shared_path("imagenet/models/" + std::string(m) + ".onnx"), shared_path("imagenet/calib"),
                    shared_path("imagenet/val"), 32, 40, w_bits);
      }
    }
  }
}

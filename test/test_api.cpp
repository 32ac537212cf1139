// The public C++ API (include/qengine/qengine.hpp) against the internal engine and the CLI: same
// outputs bit for bit, same accuracy as `qengine eval`, errors that name what is wrong,
// quantize → export → reload, and concurrent runs on one Session.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "qengine/qengine.hpp"
#include "support/cli_support.h"
#include "support/demo_data.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using qe::test::require_file;
using qe::test::demo_images;
using qe::test::demo_model;
using qe::test::demo_samples;
using qe::test::source_dir;

namespace {

qengine::Tensor random_input(int64_t batch, uint64_t seed) {
  qe::Tensor t = qe::test::random_tensor(qe::Shape({batch, 1, 28, 28}), seed, -2.f, 2.f);
  return qengine::Tensor::from_data(qengine::DType::float32, t.shape().dims(), t.raw());
}

// Runs `fn` and returns the qengine::Error it throws (fails the test when it does not throw).
template <typename F>
qengine::Error thrown_error(F&& fn) {
  try {
    fn();
  } catch (const qengine::Error& e) {
    return e;
  }
  FAIL("no qengine::Error was thrown");
  return qengine::Error(qengine::ErrorCode::runtime, "unreachable");
}

int top1(const qengine::Session& s, const std::string& image) { return s.classify(image, 1).at(0).class_index; }

}  // namespace

TEST_CASE("api: a loaded model describes its inputs, outputs and labels", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  REQUIRE(model.inputs().size() == 1);
  CHECK(model.inputs()[0].name == "input");
  CHECK(model.inputs()[0].dtype == qengine::DType::float32);
  CHECK(model.inputs()[0].shape == std::vector<int64_t>{-1, 1, 28, 28});
  REQUIRE(model.outputs().size() == 1);
  CHECK(model.outputs()[0].name == "logits");
  CHECK(model.outputs()[0].shape == std::vector<int64_t>{-1, 10});
  CHECK_FALSE(model.is_quantized());
  REQUIRE(model.labels().size() == 10);
  CHECK(model.labels()[3] == "3_dress");
  CHECK(std::string(qengine::version()) == "0.1.0");
}

TEST_CASE("api: run on named tensors equals the internal engine bit for bit", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  auto graph = qe::import_onnx_file(demo_model());
  REQUIRE(graph.is_ok());
  for (int threads : {1, 2}) {
    qengine::SessionOptions o;
    o.threads = threads;
    qengine::Session session(model, o);
    CHECK(session.threads() == threads);
    CHECK_FALSE(session.runs_integer_kernels());
    qe::SessionOptions so;
    so.num_threads = threads;
    auto engine = qe::Session::create(*graph, so);
    REQUIRE(engine.is_ok());
    for (int64_t batch : {1, 5}) {
      qengine::Tensor input = random_input(batch, 7 + batch);
      auto out = session.run({{"input", input}});
      REQUIRE(out.size() == 1);
      const qengine::Tensor& logits = out.at("logits");
      CHECK(logits.shape() == std::vector<int64_t>{batch, 10});
      auto expected = (*engine)->run({qe::Tensor::from_data(qe::DType::kF32, qe::Shape(input.shape()), input.data())});
      REQUIRE(expected.is_ok());
      REQUIRE(logits.byte_size() == (*expected)[0].bytes());
      CHECK(std::memcmp(logits.data(), (*expected)[0].raw(), logits.byte_size()) == 0);
    }
  }
}

TEST_CASE("api: classify gets the same top-1 as the internal evaluation path and qengine eval", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  qengine::Session session(model);
  const std::vector<qe::Sample> samples = demo_samples();

  // The internal path `qengine eval` takes: batched loader, sidecar preprocessing, engine session.
  auto pre = qe::load_sidecar_preprocessing(demo_model());
  REQUIRE(pre.is_ok());
  REQUIRE_FALSE(pre->source.empty());
  auto graph = qe::import_onnx_file(demo_model());
  REQUIRE(graph.is_ok());
  auto engine = qe::Session::create(*graph);
  REQUIRE(engine.is_ok());
  qe::BatchLoaderOptions lo;
  lo.batch_size = 8;
  auto loader = qe::BatchLoader::create(samples, *pre, lo);
  REQUIRE(loader.is_ok());
  std::vector<int> internal(samples.size(), -1);
  int64_t internal_correct = 0;
  while (auto b = (*loader)->next()) {
    auto out = (*engine)->run({b->input});
    REQUIRE(out.is_ok());
    for (int64_t i = 0; i < b->size(); ++i) {
      const float* row = (*out)[0].data<float>() + i * 10;
      int best = 0;
      for (int c = 1; c < 10; ++c) best = row[c] > row[best] ? c : best;
      internal[static_cast<size_t>(b->indices[static_cast<size_t>(i)])] = best;
      internal_correct += best == b->labels[static_cast<size_t>(i)];
    }
  }
  REQUIRE((*loader)->num_skipped() == 0);

  int64_t api_correct = 0, same = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    std::vector<qengine::Prediction> top = session.classify(samples[i].path, 3);
    REQUIRE(top.size() == 3);
    CHECK(top[0].probability >= top[1].probability);
    CHECK(top[1].probability >= top[2].probability);
    CHECK(top[0].label == model.labels()[static_cast<size_t>(top[0].class_index)]);
    api_correct += top[0].class_index == samples[i].label;
    same += top[0].class_index == internal[i];
  }
  CHECK(same == static_cast<int64_t>(samples.size()));
  CHECK(api_correct == internal_correct);
  CHECK(api_correct > 160);  // > 80% of the 200 demo images

  // And the number `qengine eval` prints for the same folder.
  qe::test::TempDir tmp;
  auto r = qe::test::run_qengine("eval " + demo_model() + " " + demo_images() + " --json --quiet", tmp);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("images").get<int64_t>() == 200);
  CHECK(j.at("top1").get<double>() == Approx(api_correct / 200.0).epsilon(1e-12));
}

TEST_CASE("api: preprocess_image gives the model's input for one image", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  qengine::Session session(model);
  const std::string image = demo_samples().front().path;
  qengine::Tensor input = session.preprocess_image(image);
  CHECK(input.shape() == std::vector<int64_t>{1, 1, 28, 28});
  auto logits = session.run({{"input", input}}).at("logits");
  std::vector<float> row = logits.to_floats();
  int best = 0;
  for (int c = 1; c < 10; ++c) best = row[static_cast<size_t>(c)] > row[static_cast<size_t>(best)] ? c : best;
  CHECK(best == top1(session, image));
}

TEST_CASE("api: errors name the input, the shape or the file", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  qengine::Session session(model, {1});

  auto e = thrown_error([&] { session.run({{"pixels", random_input(1, 1)}}); });
  CHECK(e.code() == qengine::ErrorCode::invalid_argument);
  CHECK_THAT(e.what(), Catch::Contains("'pixels'") && Catch::Contains("'input'"));

  e = thrown_error([&] { session.run({{"input", qengine::Tensor(qengine::DType::float32, {1, 1, 27, 28})}}); });
  CHECK(e.code() == qengine::ErrorCode::invalid_argument);
  CHECK_THAT(e.what(), Catch::Contains("'input'") && Catch::Contains("[1, 1, 27, 28]"));

  e = thrown_error([&] { session.run({{"input", qengine::Tensor(qengine::DType::int32, {1, 1, 28, 28})}}); });
  CHECK_THAT(e.what(), Catch::Contains("float32") && Catch::Contains("int32"));

  e = thrown_error([&] { session.run({}); });
  CHECK_THAT(e.what(), Catch::Contains("'input' was not given"));

  const std::string missing = (fs::temp_directory_path() / "no_such_model_qengine_api.onnx").string();
  e = thrown_error([&] { qengine::Model::load(missing); });
  CHECK(e.code() == qengine::ErrorCode::not_found);
  CHECK_THAT(e.what(), Catch::Contains(missing));

  e = thrown_error([&] { session.classify("/nonexistent/shirt.png", 1); });
  CHECK_THAT(e.what(), Catch::Contains("/nonexistent/shirt.png"));
  e = thrown_error([&] { session.classify(demo_samples().front().path, 0); });
  CHECK(e.code() == qengine::ErrorCode::invalid_argument);

  e = thrown_error([&] { qengine::Tensor::from_floats({2, 3}, {1.f, 2.f}); });
  CHECK_THAT(e.what(), Catch::Contains("2 values"));
  qengine::Tensor t(qengine::DType::float32, {2});
  e = thrown_error([&] { t.data_as<int32_t>(); });
  CHECK(e.code() == qengine::ErrorCode::invalid_argument);

  e = thrown_error([&] { qengine::Model::from_bytes("not onnx", 8); });
  CHECK(e.code() == qengine::ErrorCode::invalid_argument);

  // A memory cap below what the plan needs: the run fails and says how much it needed.
  qengine::SessionOptions capped;
  capped.threads = 1;
  capped.max_memory_bytes = 4096;
  qengine::Session small(model, capped);
  e = thrown_error([&] { small.run({{"input", random_input(1, 2)}}); });
  CHECK(e.code() == qengine::ErrorCode::runtime);
  CHECK_THAT(e.what(), Catch::Contains("over the limit of 4 KiB"));
  capped.max_memory_bytes = size_t{64} << 20;
  qengine::Session roomy(model, capped);
  CHECK(roomy.run({{"input", random_input(1, 2)}}).size() == 1);
}

TEST_CASE("api: from_bytes with a sidecar classifies like load", "[api]") {
  std::string bytes = qe::test::read_text_file(demo_model());
  std::string sidecar = qe::test::read_text_file(require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.json"));
  qengine::Model from_memory = qengine::Model::from_bytes(bytes.data(), bytes.size(), sidecar);
  qengine::Model loaded = qengine::Model::load(demo_model());
  CHECK(from_memory.labels() == loaded.labels());
  qengine::Session a(from_memory, {1}), b(loaded, {1});
  const std::vector<qe::Sample> samples = demo_samples();
  for (size_t i = 0; i < samples.size(); i += 10) {
    const qe::Sample& s = samples[i];
    auto pa = a.classify(s.path, 2), pb = b.classify(s.path, 2);
    CHECK(pa[0].class_index == pb[0].class_index);
    CHECK(pa[0].logit == pb[0].logit);
  }
}

TEST_CASE("api: quantize with a rule file, export QONNX and QCDQ, reload, run", "[api]") {
  qengine::Model model = qengine::Model::load(demo_model());
  qengine::QuantizeOptions qo;
  qo.rules_file = require_file(source_dir() + "/examples/rules/mixed_w4a8.json");
  qo.calibration_dir = demo_images();
  qo.samples = 200;
  qengine::Model quantized = qengine::quantize(model, qo);
  CHECK(quantized.is_quantized());
  CHECK(quantized.inputs()[0].name == "input");
  CHECK(quantized.labels() == model.labels());

  qe::test::TempDir tmp;
  const std::string qonnx = (tmp.path() / "tiny.qonnx.onnx").string();
  const std::string qcdq = (tmp.path() / "tiny.qcdq.onnx").string();
  quantized.export_qonnx(qonnx);
  quantized.export_qcdq(qcdq);
  CHECK(fs::exists(tmp.path() / "tiny.qonnx.json"));  // the sidecar travels with the model
  CHECK(fs::exists(tmp.path() / "tiny.qcdq.json"));
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);  // no temporary left behind
  }

  qengine::Model reloaded = qengine::Model::load(qonnx);
  qengine::Model reloaded_qcdq = qengine::Model::load(qcdq);
  CHECK(reloaded.is_quantized());
  CHECK(reloaded_qcdq.is_quantized());
  CHECK(reloaded.labels() == model.labels());

  qengine::Session float_session(model, {1});
  qengine::Session in_memory(quantized, {1});
  qengine::Session integer(reloaded, {1});
  qengine::Session integer_qcdq(reloaded_qcdq, {1});
  CHECK(integer.runs_integer_kernels());
  qengine::SessionOptions sim;
  sim.threads = 1;
  sim.simulate = true;
  qengine::Session simulated(reloaded, sim);
  CHECK_FALSE(simulated.runs_integer_kernels());

  // The exported file holds the same model as the one in memory.
  qengine::Tensor input = random_input(4, 3);
  CHECK(in_memory.run({{"input", input}}) == integer.run({{"input", input}}));

  int agree = 0, agree_qcdq = 0, agree_sim = 0, total = 0;
  for (const qe::Sample& s : demo_samples()) {
    const int f = top1(float_session, s.path);
    agree += top1(integer, s.path) == f;
    agree_qcdq += top1(integer_qcdq, s.path) == f;
    agree_sim += top1(simulated, s.path) == f;
    ++total;
  }
  INFO("top-1 agreement with float: integer " << agree << "/" << total << ", qcdq " << agree_qcdq << ", simulated "
                                              << agree_sim);
  CHECK(agree >= 0.95 * total);
  CHECK(agree_qcdq >= 0.95 * total);
  CHECK(agree_sim >= 0.95 * total);

  auto e = thrown_error([&] { qengine::quantize(quantized, qo); });
  CHECK_THAT(e.what(), Catch::Contains("already quantized"));
  qo.calibration_dir = (tmp.path() / "no_images").string();
  e = thrown_error([&] { qengine::quantize(model, qo); });
  CHECK_THAT(e.what(), Catch::Contains("no_images"));
  qo.calibration_dir = demo_images();
  qo.rules_file = (tmp.path() / "missing_rules.json").string();
  e = thrown_error([&] { qengine::quantize(model, qo); });
  CHECK_THAT(e.what(), Catch::Contains("missing_rules.json"));
}

TEST_CASE("api: concurrent runs on one Session equal the single-threaded results", "[api][threads]") {
  qengine::Model model = qengine::Model::load(demo_model());
  const std::vector<qe::Sample> samples = demo_samples();
  for (int max_concurrent : {4, 1}) {
    qengine::SessionOptions o;
    o.threads = 2;
    o.max_concurrent_runs = max_concurrent;
    qengine::Session session(model, o);
    constexpr int kThreads = 4, kRuns = 20;
    std::vector<qengine::Tensor> inputs;
    std::vector<std::map<std::string, qengine::Tensor>> expected;
    std::vector<int> expected_class;
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(random_input(1 + t % 2, 100 + t));  // two batch sizes: two plans per engine
      expected.push_back(session.run({{"input", inputs.back()}}));
      expected_class.push_back(top1(session, samples[static_cast<size_t>(t * 50)].path));
    }
    std::atomic<int> mismatches{0}, errors{0}, done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        try {
          for (int r = 0; r < kRuns; ++r) {
            if (session.run({{"input", inputs[static_cast<size_t>(t)]}}) != expected[static_cast<size_t>(t)]) ++mismatches;
            if (r % 5 == 0 && top1(session, samples[static_cast<size_t>(t * 50)].path) != expected_class[static_cast<size_t>(t)]) {
              ++mismatches;
            }
            ++done;
          }
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    for (auto& th : threads) th.join();
    INFO("max_concurrent_runs " << max_concurrent);
    CHECK(errors == 0);
    CHECK(mismatches == 0);
    CHECK(done == kThreads * kRuns);
  }
}

// End to end: every shared model imported and run on its golden inputs; logits compared with
// the independent numbers shipped beside it (PyTorch's for Fashion-MNIST, which onnxruntime
// matches to ~1e-5; onnxruntime's for the ImageNet models).
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "support/test_support.h"

using namespace qe;

namespace {

struct GoldenCase {
  std::string model;    // relative to shared/
  std::string sidecar;  // relative to shared/
  double tolerance;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(test::require_file(path));
  return nlohmann::json::parse(f);
}

Tensor golden_tensor(const nlohmann::json& golden, const char* file_key, const char* shape_key) {
  std::vector<int64_t> dims = golden[shape_key].get<std::vector<int64_t>>();
  auto data = test::read_f32_file(test::shared_path(golden[file_key].get<std::string>()));
  Shape shape(dims);
  REQUIRE(static_cast<int64_t>(data.size()) == shape.numel());
  return Tensor::from_data(DType::kF32, shape, data.data());
}

void check_golden(const GoldenCase& c, int threads) {
  INFO("model " << c.model << ", " << threads << " threads");
  auto sidecar = read_json(test::shared_path(c.sidecar));
  auto graph = import_onnx_file(test::shared_path(c.model));
  REQUIRE(graph.is_ok());
  SessionOptions so;
  so.num_threads = threads;
  auto session = Session::create(std::move(graph).value(), so);
  INFO(session.status().message());
  REQUIRE(session.is_ok());
  Tensor input = golden_tensor(sidecar["golden"], "input", "input_shape");
  Tensor expected = golden_tensor(sidecar["golden"], "logits", "logits_shape");
  auto out = (*session)->run({input});
  INFO(out.status().message());
  REQUIRE(out.is_ok());
  REQUIRE(out->size() == 1);
  REQUIRE((*out)[0].shape() == expected.shape());
  auto diff = test::compare((*out)[0].data<float>(), expected.data<float>(), expected.numel());
  INFO("max abs diff " << diff.max_abs << " at " << diff.worst_index);
  CHECK(diff.max_abs <= c.tolerance);
}

const std::vector<GoldenCase> kFashionModels = {
    {"models/fmnist_tiny_cnn.onnx", "models/fmnist_tiny_cnn.json", 1e-4},
    {"models/resnet18_fmnist64.onnx", "models/resnet18_fmnist64.json", 1e-4},
    {"models/mobilenet_v2_fmnist64.onnx", "models/mobilenet_v2_fmnist64.json", 1e-4},
    {"models/mobilenet_v3_small_fmnist64.onnx", "models/mobilenet_v3_small_fmnist64.json", 1e-4},
    {"models/vit_tiny_fmnist64.onnx", "models/vit_tiny_fmnist64.json", 1e-4},
};

const std::vector<GoldenCase> kImagenetModels = {
    {"imagenet/models/mobilenet_v1_075_keras.onnx", "imagenet/models/mobilenet_v1_075_keras.json", 1e-3},
    {"imagenet/models/mobilenet_v2_tv_tflm.onnx", "imagenet/models/mobilenet_v2_tv_tflm.json", 1e-3},
    {"imagenet/models/mobilenet_v2_tfslim_qat.onnx", "imagenet/models/mobilenet_v2_tfslim_qat.json", 1e-3},
    {"imagenet/models/squeezenet1_1_caffe.onnx", "imagenet/models/squeezenet1_1_caffe.json", 1e-3},
};

}  // namespace

TEST_CASE("Fashion-MNIST models match the golden logits to 1e-4") {
  for (const auto& c : kFashionModels) check_golden(c, 2);
}

TEST_CASE("ImageNet models match onnxruntime's golden logits to 1e-3") {
  for (const auto& c : kImagenetModels) check_golden(c, 2);
}

TEST_CASE("single-threaded runs give the same logits") {
  check_golden(kFashionModels[0], 1);
  check_golden(kFashionModels[4], 1);
}

TEST_CASE("batch size does not change per-image results") {
  auto sidecar = read_json(test::shared_path("models/mobilenet_v3_small_fmnist64.json"));
  auto graph = import_onnx_file(test::shared_path("models/mobilenet_v3_small_fmnist64.onnx"));
  REQUIRE(graph.is_ok());
  auto session = Session::create(std::move(graph).value());
  REQUIRE(session.is_ok());
  Tensor all = golden_tensor(sidecar["golden"], "input", "input_shape");
  const int64_t per_image = all.numel() / all.shape()[0];
  Shape s7 = all.shape();
  s7[0] = 7;
  Tensor batch7 = Tensor::from_data(DType::kF32, s7, all.data<float>());
  Shape s1 = all.shape();
  s1[0] = 1;
  auto out7 = (*session)->run({batch7});
  REQUIRE(out7.is_ok());
  for (int64_t i = 0; i < 7; ++i) {
    Tensor one = Tensor::from_data(DType::kF32, s1, all.data<float>() + i * per_image);
    auto out1 = (*session)->run({one});
    REQUIRE(out1.is_ok());
    auto diff = test::compare((*out1)[0].data<float>(), (*out7)[0].data<float>() + i * 10, 10);
    CHECK(diff.max_abs <= 1e-5);
  }
}

// The C API (include/qengine/qengine.h): the same results as the C++ API, status codes and
// per-thread error strings, NULL arguments refused, and the C example program (also under
// valgrind's leak checker).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "engine/data/image_folder.h"
#include "qengine/qengine.h"
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

qe_model* load_demo_model() {
  qe_model* model = nullptr;
  REQUIRE(qe_model_load(demo_model().c_str(), &model) == QE_OK);
  REQUIRE(model != nullptr);
  return model;
}

std::string last_error() { return qe_last_error(); }

struct Command {
  int exit_code = -1;
  std::string out, err;
};

Command run_command(const std::string& command, const qe::test::TempDir& tmp) {
  const fs::path out = tmp.path() / "out.txt", err = tmp.path() / "err.txt";
  const int status = std::system((command + " > " + out.string() + " 2> " + err.string()).c_str());
  Command c;
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  c.out = qe::test::read_text_file(out);
  c.err = qe::test::read_text_file(err);
  return c;
}

[[maybe_unused]] bool on_path(const std::string& program) {  // unused under ASan
  return std::system(("command -v " + program + " > /dev/null 2>&1").c_str()) == 0;
}

}  // namespace

TEST_CASE("c api: model metadata", "[c_api]") {
  qe_model* model = load_demo_model();
  size_t n = 0;
  REQUIRE(qe_model_input_count(model, &n) == QE_OK);
  CHECK(n == 1);
  REQUIRE(qe_model_output_count(model, &n) == QE_OK);
  CHECK(n == 1);
  const char* name = nullptr;
  REQUIRE(qe_model_input_name(model, 0, &name) == QE_OK);
  CHECK(std::string(name) == "input");
  REQUIRE(qe_model_output_name(model, 0, &name) == QE_OK);
  CHECK(std::string(name) == "logits");
  const int64_t* dims = nullptr;
  size_t rank = 0;
  REQUIRE(qe_model_input_shape(model, 0, &dims, &rank) == QE_OK);
  CHECK(std::vector<int64_t>(dims, dims + rank) == std::vector<int64_t>{-1, 1, 28, 28});
  int quantized = -1;
  REQUIRE(qe_model_is_quantized(model, &quantized) == QE_OK);
  CHECK(quantized == 0);
  CHECK(qe_model_input_name(model, 1, &name) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("index 1"));
  CHECK(std::string(qe_version()) == qengine::version());
  CHECK(std::string(qe_status_name(QE_NOT_FOUND)) == "QE_NOT_FOUND");
  qe_model_destroy(model);
}

TEST_CASE("c api: run and classify give the C++ API's results", "[c_api]") {
  qe_model* model = load_demo_model();
  qe_session* session = nullptr;
  REQUIRE(qe_session_create(model, 1, &session) == QE_OK);
  qe_model_destroy(model);  // the session keeps its own reference

  std::vector<float> pixels(2 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>((i * 37) % 255) / 127.f - 1.f;
  const int64_t shape[] = {2, 1, 28, 28};
  qe_tensor* input = nullptr;
  REQUIRE(qe_tensor_create_f32(shape, 4, pixels.data(), &input) == QE_OK);
  const char* names[] = {"input"};
  const qe_tensor* inputs[] = {input};
  size_t n_out = 0;
  qe_tensor** outputs = nullptr;
  REQUIRE(qe_session_run(session, 1, names, inputs, &n_out, &outputs) == QE_OK);
  REQUIRE(n_out == 1);
  const int64_t* dims = nullptr;
  size_t rank = 0;
  REQUIRE(qe_tensor_shape(outputs[0], &dims, &rank) == QE_OK);
  CHECK(std::vector<int64_t>(dims, dims + rank) == std::vector<int64_t>{2, 10});
  qe_dtype dtype = QE_INT8;
  REQUIRE(qe_tensor_dtype(outputs[0], &dtype) == QE_OK);
  CHECK(dtype == QE_FLOAT32);
  const void* data = nullptr;
  size_t bytes = 0;
  REQUIRE(qe_tensor_data(outputs[0], &data, &bytes) == QE_OK);
  REQUIRE(bytes == 2 * 10 * sizeof(float));

  qengine::Model cpp_model = qengine::Model::load(demo_model());
  qengine::Session cpp_session(cpp_model, {1});
  auto expected = cpp_session.run({{"input", qengine::Tensor::from_floats({2, 1, 28, 28}, pixels)}}).at("logits");
  CHECK(std::memcmp(data, expected.data(), bytes) == 0);
  qe_tensor_array_destroy(outputs, n_out);
  qe_tensor_destroy(input);

  const std::vector<qe::Sample> samples = demo_samples();
  for (size_t i = 0; i < samples.size(); i += 20) {
    int classes[12];
    float scores[12];
    REQUIRE(qe_session_classify(session, samples[i].path.c_str(), 12, classes, scores) == QE_OK);
    auto top = cpp_session.classify(samples[i].path, 12);
    REQUIRE(top.size() == 10);
    for (size_t k = 0; k < 10; ++k) {
      CHECK(classes[k] == top[k].class_index);
      CHECK(scores[k] == top[k].probability);
    }
    CHECK(classes[10] == -1);  // beyond the 10 classes
    CHECK(scores[11] == 0.f);
  }
  qe_session_destroy(session);
}

TEST_CASE("c api: errors are status codes with a message for the calling thread", "[c_api]") {
  qe_model* model = nullptr;
  const std::string missing = (fs::temp_directory_path() / "no_such_model_qengine_c_api.onnx").string();
  CHECK(qe_model_load(missing.c_str(), &model) == QE_NOT_FOUND);
  CHECK(model == nullptr);
  CHECK_THAT(last_error(), Catch::Contains(missing));

  // Another thread's failure does not touch this thread's message.
  std::string other;
  std::thread([&] {
    CHECK(qe_last_error() == std::string());
    CHECK(qe_model_load(nullptr, &model) == QE_INVALID_ARGUMENT);
    other = qe_last_error();
  }).join();
  CHECK_THAT(other, Catch::Contains("path is NULL"));
  CHECK_THAT(last_error(), Catch::Contains(missing));

  model = load_demo_model();
  qe_session* session = nullptr;
  REQUIRE(qe_session_create(model, 1, &session) == QE_OK);
  const int64_t shape[] = {1, 1, 28, 28};
  qe_tensor* input = nullptr;
  REQUIRE(qe_tensor_create(QE_FLOAT32, shape, 4, nullptr, &input) == QE_OK);
  size_t n_out = 7;
  qe_tensor** outputs = nullptr;

  // A memory cap below what the plan needs fails the run, not the process.
  qe_session* capped = nullptr;
  REQUIRE(qe_session_create_with_memory_limit(model, 1, 4096, &capped) == QE_OK);
  const char* input_name[] = {"input"};
  const qe_tensor* capped_inputs[] = {input};
  CHECK(qe_session_run(capped, 1, input_name, capped_inputs, &n_out, &outputs) == QE_RUNTIME_ERROR);
  CHECK_THAT(last_error(), Catch::Contains("over the limit of 4 KiB"));
  CHECK(outputs == nullptr);
  qe_session_destroy(capped);
  n_out = 7;
  const char* wrong[] = {"pixels"};
  const qe_tensor* inputs[] = {input};
  CHECK(qe_session_run(session, 1, wrong, inputs, &n_out, &outputs) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("'pixels'"));
  CHECK(n_out == 0);
  CHECK(outputs == nullptr);
  const int64_t bad_shape[] = {1, 3, 28, 28};
  qe_tensor* bad = nullptr;
  REQUIRE(qe_tensor_create(QE_FLOAT32, bad_shape, 4, nullptr, &bad) == QE_OK);
  const char* right[] = {"input"};
  const qe_tensor* bad_inputs[] = {bad};
  CHECK(qe_session_run(session, 1, right, bad_inputs, &n_out, &outputs) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("[1, 3, 28, 28]"));
  const qe_tensor* twice[] = {input, input};
  const char* twice_names[] = {"input", "input"};
  CHECK(qe_session_run(session, 2, twice_names, twice, &n_out, &outputs) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("twice"));

  int classes[3];
  float scores[3];
  CHECK(qe_session_classify(session, "/nonexistent/bag.png", 3, classes, scores) != QE_OK);
  CHECK_THAT(last_error(), Catch::Contains("/nonexistent/bag.png"));
  CHECK(qe_session_classify(session, demo_samples().front().path.c_str(), 0, classes, scores) == QE_INVALID_ARGUMENT);
  qe_tensor* unknown_dtype = nullptr;
  CHECK(qe_tensor_create(static_cast<qe_dtype>(42), shape, 4, nullptr, &unknown_dtype) == QE_INVALID_ARGUMENT);
  CHECK(unknown_dtype == nullptr);
  const int64_t negative[] = {-1, 2};
  qe_tensor* neg = nullptr;
  CHECK(qe_tensor_create(QE_FLOAT32, negative, 2, nullptr, &neg) == QE_INVALID_ARGUMENT);
  CHECK(neg == nullptr);

  // NULL where a handle or an out-parameter belongs: QE_INVALID_ARGUMENT naming it, no crash.
  size_t count = 0;
  const char* name = nullptr;
  const void* data = nullptr;
  size_t bytes = 0;
  CHECK(qe_model_load(demo_model().c_str(), nullptr) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("out_model"));
  CHECK(qe_model_input_count(nullptr, &count) == QE_INVALID_ARGUMENT);
  CHECK(qe_model_input_count(model, nullptr) == QE_INVALID_ARGUMENT);
  CHECK(qe_model_output_name(nullptr, 0, &name) == QE_INVALID_ARGUMENT);
  CHECK(qe_model_export_qonnx(model, nullptr) == QE_INVALID_ARGUMENT);
  qe_session* no_session = nullptr;
  CHECK(qe_session_create(nullptr, 1, &no_session) == QE_INVALID_ARGUMENT);
  CHECK(no_session == nullptr);
  CHECK(qe_session_run(nullptr, 0, nullptr, nullptr, &n_out, &outputs) == QE_INVALID_ARGUMENT);
  CHECK(qe_session_classify(nullptr, "x.png", 1, classes, scores) == QE_INVALID_ARGUMENT);
  CHECK(qe_tensor_data(nullptr, &data, &bytes) == QE_INVALID_ARGUMENT);
  CHECK(qe_tensor_create_f32(nullptr, 2, nullptr, &neg) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("shape is NULL"));
  CHECK(qe_quantize(model, nullptr, nullptr, 10, 1, nullptr) == QE_INVALID_ARGUMENT);
  qe_model* out_model = nullptr;
  CHECK(qe_quantize(model, nullptr, nullptr, 10, 1, &out_model) == QE_INVALID_ARGUMENT);
  CHECK_THAT(last_error(), Catch::Contains("calib_dir"));

  // Destroying NULL is a no-op.
  qe_model_destroy(nullptr);
  qe_session_destroy(nullptr);
  qe_tensor_destroy(nullptr);
  qe_tensor_array_destroy(nullptr, 3);
  qe_tensor_destroy(bad);
  qe_tensor_destroy(input);
  qe_session_destroy(session);
  qe_model_destroy(model);
}

TEST_CASE("c api: quantize, export, reload and run on the integer kernels", "[c_api]") {
  qe_model* model = load_demo_model();
  const std::string rules = require_file(source_dir() + "/examples/rules/mixed_w4a8.json");
  qe_model* quantized = nullptr;
  REQUIRE(qe_quantize(model, rules.c_str(), demo_images().c_str(), 200, 0, &quantized) == QE_OK);
  int is_quantized = 0;
  REQUIRE(qe_model_is_quantized(quantized, &is_quantized) == QE_OK);
  CHECK(is_quantized == 1);
  qe::test::TempDir tmp;
  const std::string qonnx = (tmp.path() / "tiny.qonnx.onnx").string();
  const std::string qcdq = (tmp.path() / "tiny.qcdq.onnx").string();
  REQUIRE(qe_model_export_qonnx(quantized, qonnx.c_str()) == QE_OK);
  REQUIRE(qe_model_export_qcdq(quantized, qcdq.c_str()) == QE_OK);
  CHECK(qe_model_export_qonnx(quantized, (tmp.path() / "no_dir" / "x.onnx").string().c_str()) != QE_OK);
  CHECK_THAT(last_error(), Catch::Contains("no_dir"));

  qe_model* reloaded = nullptr;
  REQUIRE(qe_model_load(qonnx.c_str(), &reloaded) == QE_OK);
  qe_session* float_session = nullptr;
  qe_session* integer = nullptr;
  REQUIRE(qe_session_create(model, 1, &float_session) == QE_OK);
  REQUIRE(qe_session_create(reloaded, 1, &integer) == QE_OK);
  int agree = 0, total = 0;
  for (const qe::Sample& s : demo_samples()) {
    int f = -1, q = -1;
    float p = 0;
    REQUIRE(qe_session_classify(float_session, s.path.c_str(), 1, &f, &p) == QE_OK);
    REQUIRE(qe_session_classify(integer, s.path.c_str(), 1, &q, &p) == QE_OK);
    agree += f == q;
    ++total;
  }
  INFO("top-1 agreement " << agree << "/" << total);
  CHECK(agree >= 0.95 * total);
  qe_session_destroy(integer);
  qe_session_destroy(float_session);
  qe_model_destroy(reloaded);
  qe_model_destroy(quantized);
  qe_model_destroy(model);
}

TEST_CASE("c api: the C example program classifies a demo image", "[c_api]") {
  const std::string example = require_file(qe::test::binary_dir() + "/apps/libqengine/qengine_c_example");
  const qe::Sample sample = demo_samples().at(150);
  qengine::Model model = qengine::Model::load(demo_model());
  auto top = qengine::Session(model, {1}).classify(sample.path, 3);

  qe::test::TempDir tmp;
  Command r = run_command(example + " " + demo_model() + " " + sample.path + " --top 3", tmp);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::ostringstream want;
  want << "input input [-1, 1, 28, 28]\n";
  for (const auto& p : top) {
    char line[64];
    std::snprintf(line, sizeof line, " (%.2f%%)\n", 100.0 * p.probability);
    want << sample.path << ": class " << p.class_index << line;
  }
  CHECK(r.out == want.str());
  CHECK(top[0].class_index == sample.label);

  Command bad = run_command(example + " " + (tmp.path() / "missing.onnx").string() + " " + sample.path, tmp);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("QE_NOT_FOUND") && Catch::Contains("missing.onnx"));

#if defined(__SANITIZE_ADDRESS__)
  // `make test-asan`: the example carries AddressSanitizer, which valgrind cannot run; its own
  // leak checker (on at exit, any leak fails the process) does the same job here.
  Command leaks = run_command(example + " " + demo_model() + " " + sample.path, tmp);
  INFO("stderr: " << leaks.err);
  CHECK(leaks.exit_code == 0);
  CHECK_THAT(leaks.err, !Catch::Contains("LeakSanitizer"));
#else
  // The leak check is part of the acceptance: no valgrind is a failure, not a skip.
  INFO("valgrind is not on PATH (scripts/setup-deps.sh installs it)");
  REQUIRE(on_path("valgrind"));
  Command v = run_command("valgrind --leak-check=full --error-exitcode=3 " + example + " " + demo_model() + " " +
                              sample.path,
                          tmp);
  INFO("valgrind stderr: " << v.err);
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.err, Catch::Contains("ERROR SUMMARY: 0 errors"));
  // Still-reachable blocks are the libraries' process-lifetime singletons (protobuf descriptors).
  CHECK_THAT(v.err, Catch::Contains("definitely lost: 0 bytes") && Catch::Contains("indirectly lost: 0 bytes") &&
                        Catch::Contains("possibly lost: 0 bytes"));
#endif
}

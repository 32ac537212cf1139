// Determinism through the real binary: the same inputs give the same results whatever the
// thread count and however often they are run.
// - calibrate (observers, bias correction, GPTQ) with 1 and 2 threads, and twice with 2 threads:
//   the QONNX and QCDQ files are byte-identical;
// - run on real images with 1 and 2 threads, twice each: the integer kernels (QCDQ file) give
//   bit-identical logits, the float engine and the fake-quant simulation agree within 1e-6
//   relative to the largest logit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/data/npy.h"
#include "frontends/onnx/onnx_import.h"
#include "support/cli_support.h"
#include "support/image_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;
using namespace qe::test;

namespace {

// A small calibration folder (8 images of each class, copied from the shared Fashion-MNIST
// folder so the order the CLI sees is fixed) and 20 validation images to run on.
struct Images {
  fs::path calib;
};

Images take_images(const TempDir& tmp) {
  Images im;
  im.calib = tmp.path() / "calib";
  const fs::path src_calib = require_file(shared_path("data/fashion-mnist/calib"));
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(src_calib)) classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());
  REQUIRE(classes.size() == 10);
  for (const fs::path& cls : classes) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(cls)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 8);
    fs::create_directories(im.calib / cls.filename());
    for (int i = 0; i < 8; ++i) fs::copy_file(files[i], im.calib / cls.filename() / files[i].filename());
  }
  return im;
}

// 20 validation images preprocessed for `model`, as NAME=batch.npy for `qengine run --input`.
std::string input_batch(const std::string& model, const TempDir& tmp) {
  auto g = import_onnx_file(model);
  REQUIRE(g.is_ok());
  REQUIRE(g->inputs().size() == 1);
  const std::string name = g->value(g->inputs()[0]).name;
  const Tensor batch = load_images(model, shared_path("data/fashion-mnist/val"), 20);
  const fs::path file = tmp.path() / (fs::path(model).stem().string() + "_batch.npy");
  REQUIRE(write_npy(file.string(), batch).is_ok());
  return name + "=" + file.string();
}

std::string file_bytes(const fs::path& p) {
  INFO("missing " << p);
  REQUIRE(fs::exists(p));
  return read_text_file(p);
}

// Every output of `model` on the images, saved with --save-outputs, as one float vector.
std::vector<float> run_logits(const std::string& model, const std::string& input, int threads, const std::string& extra,
                              const TempDir& tmp, const std::string& tag) {
  const fs::path dir = tmp.path() / ("outputs_" + tag);
  const CommandResult r = run_qengine("run " + model + " --input " + input + " --threads " + std::to_string(threads) +
                                          " --save-outputs " + dir.string() + " " + extra,
                                      tmp);
  INFO("qengine run " << model << " (" << tag << ")\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE_FALSE(files.empty());
  std::vector<float> all;
  for (const fs::path& f : files) {
    auto t = read_npy(f.string());
    INFO(f);
    REQUIRE(t.is_ok());
    REQUIRE(t->dtype() == DType::kF32);
    all.insert(all.end(), t->data<float>(), t->data<float>() + t->numel());
  }
  return all;
}

void check_close(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.size() == b.size());
  float scale = 0;
  for (float v : a) scale = std::max(scale, std::fabs(v));
  REQUIRE(scale > 0);
  const DiffStats d = compare(a.data(), b.data(), static_cast<int64_t>(a.size()));
  INFO("max |diff| " << d.max_abs << " of max |logit| " << scale);
  CHECK(d.max_abs <= 1e-6 * scale);
}

struct Case {
  const char* model;  // under $QENGINE_SHARED/models
  const char* flags;  // calibration settings
};

}  // namespace

TEST_CASE("calibration and execution do not depend on the thread count or the run") {
  const std::vector<Case> cases = {
      {"fmnist_tiny_cnn", "--per-channel"},
      {"mobilenet_v2_fmnist64", "--per-channel --w-bits 4 --first-last-bits 8 --gptq"},
      {"resnet18_fmnist64", "--per-channel"},
      {"vit_tiny_fmnist64", "--per-channel"},
  };
  TempDir tmp;
  const Images im = take_images(tmp);
  for (const Case& c : cases) {
    const std::string model = require_file(shared_path(std::string("models/") + c.model + ".onnx"));
    const std::string stem = c.model;
    INFO(stem << " " << c.flags);

    // Calibration: same files for 1 thread, 2 threads, and 2 threads again.
    std::vector<fs::path> outs;
    for (const auto& [threads, tag] : std::vector<std::pair<int, std::string>>{{1, "t1"}, {2, "t2"}, {2, "t2_again"}}) {
      const fs::path out = tmp.path() / (stem + "_" + tag);
      const CommandResult r = run_qengine("calibrate " + model + " " + im.calib.string() + " -o " + out.string() +
                                              " --threads " + std::to_string(threads) + " " + c.flags + " --quiet",
                                          tmp);
      INFO("calibrate " << tag << "\nstderr: " << r.err);
      REQUIRE(r.exit_code == 0);
      outs.push_back(out);
    }
    for (const std::string file : {stem + ".qonnx.onnx", stem + ".qcdq.onnx"}) {
      const std::string first = file_bytes(outs[0] / file);
      INFO(file);
      CHECK(file_bytes(outs[1] / file) == first);  // 1 vs 2 threads
      CHECK(file_bytes(outs[2] / file) == first);  // run to run
    }

    // Execution: float and simulation within 1e-6 relative; the integer kernels bit for bit.
    const std::string input = input_batch(model, tmp);
    const std::string qcdq = (outs[0] / (stem + ".qcdq.onnx")).string();
    const std::string qonnx = (outs[0] / (stem + ".qonnx.onnx")).string();
    const auto f1 = run_logits(model, input, 1, "", tmp, stem + "_f1");
    check_close(f1, run_logits(model, input, 2, "", tmp, stem + "_f2"), "float, 1 vs 2 threads");
    check_close(f1, run_logits(model, input, 2, "", tmp, stem + "_f2b"), "float, run to run");
    const auto s1 = run_logits(qonnx, input, 1, "--simulate", tmp, stem + "_s1");
    check_close(s1, run_logits(qonnx, input, 2, "--simulate", tmp, stem + "_s2"), "simulation, 1 vs 2 threads");
    const auto i1 = run_logits(qcdq, input, 1, "", tmp, stem + "_i1");
    const auto i2 = run_logits(qcdq, input, 2, "", tmp, stem + "_i2");
    const auto i2b = run_logits(qcdq, input, 2, "", tmp, stem + "_i2b");
    CHECK(i1 == i2);   // integer kernels, 1 vs 2 threads: bit-exact
    CHECK(i2 == i2b);  // run to run
    const auto fixed1 = run_logits(qcdq, input, 1, "--requant fixed", tmp, stem + "_x1");
    CHECK(fixed1 == run_logits(qcdq, input, 2, "--requant fixed", tmp, stem + "_x2"));
  }
}

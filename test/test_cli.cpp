// The real `qengine` binary. Bad input: a clear one-line error naming what is wrong,
// exit code 2, no crash; unreadable images in a folder are skipped with a warning.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/data/npy.h"
#include "support/cli_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

TEST_CASE("a missing model file") {
  TempDir tmp;
  auto r = run_qengine("info " + (tmp.path() / "nope.onnx").string(), tmp);
  check_one_line_error(r, "nope.onnx");
}

TEST_CASE("a truncated model") {
  TempDir tmp;
  std::ifstream in(tiny_model(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::path cut = tmp.path() / "truncated.onnx";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  auto r = run_qengine("info " + cut.string(), tmp);
  check_one_line_error(r, "truncated.onnx");
}

TEST_CASE("a model with an op qengine does not know") {
  TempDir tmp;
  // Det is a valid ONNX op that qengine does not implement.
  std::string model = qe::test::require_file("/usr/share/libonnx-testdata/data/node/test_det_2d/model.onnx");
  auto r = run_qengine("info " + model, tmp);
  check_one_line_error(r, "Det");
}

TEST_CASE("an image folder with a corrupt JPEG and a text file") {
  TempDir tmp;
  fs::path cls = tmp.path() / "images" / "7_sneaker";
  fs::create_directories(cls);
  fs::path src = fs::path(qe::test::source_dir()) / "examples/images/7_sneaker";
  int copied = 0;
  for (const auto& e : fs::directory_iterator(src)) {
    if (copied++ < 3) fs::copy_file(e.path(), cls / e.path().filename());
  }
  std::ofstream(cls / "broken.jpg") << "\xff\xd8\xff\xe0 this is not really a jpeg";
  std::ofstream(cls / "notes.txt") << "not an image";
  auto r = run_qengine("eval " + tiny_model() + " " + (tmp.path() / "images").string() + " --json", tmp);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\"images\":3") != std::string::npos);
  CHECK(r.out.find("\"skipped\":1") != std::string::npos);
  CHECK(r.err.find("notes.txt") != std::string::npos);
}

TEST_CASE("an empty image folder") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "empty");
  auto r = run_qengine("eval " + tiny_model() + " " + (tmp.path() / "empty").string(), tmp);
  check_one_line_error(r, "empty");
}

TEST_CASE("an input of the wrong rank") {
  TempDir tmp;
  fs::path npy = tmp.path() / "x.npy";
  REQUIRE(qe::write_npy(npy.string(), qe::Tensor(qe::DType::kF32, qe::Shape({1, 28, 28}))).is_ok());
  auto r = run_qengine("run " + tiny_model() + " --input input=" + npy.string(), tmp);
  check_one_line_error(r, "input");
  auto r2 = run_qengine("bench " + tiny_model() + " --input-shape input=1,28,28", tmp);
  check_one_line_error(r2, "rank");
}

TEST_CASE("bad usage exits with 2") {
  TempDir tmp;
  auto r = run_qengine("eval", tmp);
  CHECK(r.exit_code == 2);
  auto r2 = run_qengine("frobnicate", tmp);
  CHECK(r2.exit_code == 2);
}

TEST_CASE("eval of the tiny CNN on all 10,000 Fashion-MNIST test images matches onnxruntime's top-1") {
  TempDir tmp;
  std::string model = qe::test::shared_path("models/fmnist_tiny_cnn.onnx");
  std::string val = qe::test::shared_path("data/fashion-mnist/val");
  auto r = run_qengine("eval " + model + " " + val + " --json --quiet --batch 32", tmp);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  auto got = nlohmann::json::parse(r.out);
  std::ifstream sidecar_file(qe::test::shared_path("models/fmnist_tiny_cnn.json"));
  auto ort = nlohmann::json::parse(sidecar_file)["accuracy"];  // onnxruntime's figures
  CHECK(got["images"].get<int>() == 10000);
  CHECK(std::fabs(got["top1"].get<double>() - ort["ort_top1"].get<double>()) <= 0.0005);
  CHECK(std::fabs(got["top5"].get<double>() - ort["ort_top5"].get<double>()) <= 0.0005);
}

TEST_CASE("--version names the project version and the git commit it was built from") {
  TempDir tmp;
  auto r = run_qengine("--version", tmp);
  REQUIRE(r.exit_code == 0);
  const std::regex debian_style(R"(qengine \d+\.\d+\.\d+(\+git\d{8}\.[0-9a-f]{7,}(\.dirty)?)?\n)");
  INFO(r.out);
  CHECK(std::regex_match(r.out, debian_style));
  // In a git checkout the hash is HEAD's (the build refreshes it at every build).
  const char* src = std::getenv("QENGINE_SOURCE_DIR");
  REQUIRE(src != nullptr);
  if (fs::exists(fs::path(src) / ".git")) {
    const std::string cmd = "git -C '" + std::string(src) + "' rev-parse --short=7 HEAD > '" +
                            (tmp.path() / "head").string() + "' 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::string head = read_text_file(tmp.path() / "head");
    head.erase(head.find_last_not_of("\n") + 1);
    REQUIRE(head.size() >= 7);
    CHECK(r.out.find("." + head.substr(0, 7)) != std::string::npos);
  } else {
    WARN("not a git checkout: the commit part of the version is not checked");
  }
}

TEST_CASE("completion bash: a script bash accepts, completing commands and each command's flags") {
  TempDir tmp;
  auto r = run_qengine("completion bash", tmp);
  REQUIRE(r.exit_code == 0);
  const fs::path script = tmp.path() / "qengine.bash";
  {
    std::ofstream out(script);
    out << r.out;
  }
  auto complete = [&](const std::string& words, int cword) {
    const fs::path result = tmp.path() / "reply";
    const std::string cmd = "bash -c 'source \"" + script.string() + "\"; COMP_WORDS=(" + words +
                            "); COMP_CWORD=" + std::to_string(cword) + "; _qengine; echo \"${COMPREPLY[*]}\"' > '" +
                            result.string() + "' 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    return read_text_file(result);
  };
  CHECK(complete("qengine cal", 1) == "calibrate\n");
  CHECK(complete("qengine mi", 1) == "mixed\n");
  CHECK(complete("qengine mixed --sensitivity", 2) == "--sensitivity --sensitivity-file\n");
  CHECK(complete("qengine calibrate --gp", 2) == "--gpfq --gptq\n");
  check_one_line_error(run_qengine("completion fish", tmp), "fish");
}

TEST_CASE("--max-memory caps every execution plan, before or after the command") {
  TempDir tmp;
  const std::string image = require_file(source_dir() + "/examples/images/7_sneaker/00009.png");
  const auto capped = run_qengine("run " + tiny_model() + " " + image + " --max-memory 64K", tmp);
  check_one_line_error(capped, "over the limit of 64 KiB");
  CHECK_THAT(capped.err, Catch::Contains("--max-memory"));
  check_one_line_error(run_qengine("--max-memory 64K info " + tiny_model(), tmp), "over the limit of 64 KiB");

  for (const std::string roomy : {"--max-memory 64M", "--max-memory 1G", "--max-memory 67108864", "--max-memory 64MiB"}) {
    const auto r = run_qengine("run " + tiny_model() + " " + image + " --top 1 " + roomy, tmp);
    INFO(roomy << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("7_sneaker"));
  }
  for (const std::string bad : {"lots", "12X", "0", "-5M"}) {
    check_one_line_error(run_qengine("run " + tiny_model() + " " + image + " --max-memory " + bad, tmp), "--max-memory");
  }
  // Calibration builds several sessions; all of them obey the cap, and nothing is written.
  const auto out = tmp.path() / "out";
  const auto cal = run_qengine("calibrate " + tiny_model() + " " + source_dir() + "/examples/images --samples 16 -o " +
                                   out.string() + " --max-memory 64K",
                               tmp);
  check_one_line_error(cal, "over the limit of 64 KiB");
  CHECK_FALSE(std::filesystem::exists(out));
}

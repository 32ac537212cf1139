// Quantized models on the integer kernels through the real binary: `eval` runs QONNX files in
// integers by default and agrees with `--simulate`; quantizers with no integer form (FP8) stay in
// float with a one-line warning instead of a wrong answer; `info --explain` shows the lowering;
// `bench --compare` times float and quantized variants and rejects unknown variants.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/cli_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

std::string demo_images() { return source_dir() + "/examples/images"; }

double eval_top1(const std::string& model, const std::string& extra, const TempDir& tmp, std::string* err = nullptr) {
  auto e = run_qengine("eval " + model + " " + demo_images() + " --json " + extra, tmp);
  INFO("eval stderr: " << e.err);
  REQUIRE(e.exit_code == 0);
  if (err) *err = e.err;
  return nlohmann::json::parse(e.out)["top1"].get<double>();
}

}  // namespace

TEST_CASE("eval runs a W8A8 QONNX file on the integer kernels, in agreement with --simulate") {
  TempDir tmp;
  const fs::path out = tmp.path() / "out";
  auto c = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " -o " + out.string() +
                           " --samples 100 --per-channel --quiet",
                       tmp);
  INFO("stderr: " << c.err);
  REQUIRE(c.exit_code == 0);
  const std::string qonnx = (out / "fmnist_tiny_cnn.qonnx.onnx").string();
  const double integer = eval_top1(qonnx, "", tmp);
  const double simulated = eval_top1(qonnx, "--simulate", tmp);
  const double fixed = eval_top1(qonnx, "--requant fixed", tmp);
  CHECK(integer == simulated);  // bit-identical execution, so the same top-1 on every image
  CHECK(std::abs(fixed - simulated) <= 0.01);

  auto info = run_qengine("info --explain " + qonnx, tmp);
  REQUIRE(info.exit_code == 0);
  CHECK(info.out.find("execution: integer kernels") != std::string::npos);
  CHECK(info.out.find("QConv") != std::string::npos);
  CHECK(info.out.find("QGemm") != std::string::npos);
  auto sim = run_qengine("info --explain --simulate " + qonnx, tmp);
  REQUIRE(sim.exit_code == 0);
  CHECK(sim.out.find("execution: fake-quant simulation") != std::string::npos);
  CHECK(sim.out.find("FakeQuant") != std::string::npos);
  // The simulation sums its quantized Conv / Gemm exactly (engine/exact_simulation.h).
  CHECK(sim.out.find("QConv '/conv1/Conv_exact'") != std::string::npos);
  CHECK(sim.out.find("MACs:     0 ") == std::string::npos);
  CHECK(info.out.find("MACs:     0 ") == std::string::npos);
}

TEST_CASE("quantizers with no integer form stay in float with a warning, never a wrong answer") {
  TempDir tmp;
  const fs::path out = tmp.path() / "out";
  auto c = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " -o " + out.string() +
                           " --samples 100 --quiet --config " + source_dir() + "/examples/rules/fp8_e4m3.json",
                       tmp);
  INFO("stderr: " << c.err);
  REQUIRE(c.exit_code == 0);
  const std::string qonnx = (out / "fmnist_tiny_cnn.qonnx.onnx").string();
  std::string err;
  auto e = run_qengine("eval " + qonnx + " " + demo_images(), tmp);
  INFO("eval stderr: " << e.err);
  REQUIRE(e.exit_code == 0);
  CHECK(e.err.find("stay in float") != std::string::npos);
  CHECK(e.err.find("float quantizer") != std::string::npos);
  const double integer = eval_top1(qonnx, "", tmp);
  const double simulated = eval_top1(qonnx, "--simulate", tmp);
  CHECK(std::abs(integer - simulated) <= 0.01);
}

TEST_CASE("bench --compare times float and quantized variants; unknown variants are bad usage") {
  TempDir tmp;
  auto b = run_qengine("bench " + tiny_model() + " --compare float,int8,w4a8 --runs 3 --warmup 1 --json", tmp);
  INFO("stderr: " << b.err);
  REQUIRE(b.exit_code == 0);
  const auto j = nlohmann::json::parse(b.out);
  REQUIRE(j["variants"].size() == 3);
  CHECK(j["variants"][0]["variant"] == "float");
  CHECK(j["variants"][0]["speedup_vs_float"].get<double>() == Approx(1.0));
  for (const auto& v : j["variants"]) CHECK(v["median_ms"].get<double>() > 0.0);
  CHECK(j["variants"][1]["execution"] == "integer kernels");

  auto bad = run_qengine("bench " + tiny_model() + " --compare float,w9a8 --runs 1", tmp);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("w9a8") != std::string::npos);
}

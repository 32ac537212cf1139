// `qengine mixed`: bad flags give one-line errors with exit code 2; a run on the demo model
// writes a rule file that `qengine calibrate --config` reproduces byte for byte, respects its
// budget, reuses a sensitivity file, and evaluates random allocations.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/cli_support.h"

namespace qe::test {
namespace {

namespace fs = std::filesystem;

std::string shared_dir() {
  const char* s = std::getenv("QENGINE_SHARED");
  REQUIRE(s != nullptr);
  REQUIRE(fs::is_directory(s));
  return s;
}

std::string fmnist(const std::string& split) {
  const std::string d = shared_dir() + "/data/fashion-mnist/" + split;
  INFO("missing test data: " << d);
  REQUIRE(fs::is_directory(d));
  return d;
}

nlohmann::json read_json(const fs::path& p) {
  INFO(p.string());
  REQUIRE(fs::exists(p));
  return nlohmann::json::parse(read_text_file(p));
}

TEST_CASE("mixed: bad flags are one-line errors", "[cli][mixed]") {
  TempDir tmp;
  const std::string m = tiny_model() + " " + fmnist("calib");
  check_one_line_error(run_qengine("mixed " + m, tmp), "budget");
  check_one_line_error(run_qengine("mixed " + m + " --size 2", tmp), "unit");
  check_one_line_error(run_qengine("mixed " + m + " --size 5XB", tmp), "XB");
  check_one_line_error(run_qengine("mixed " + m + " --bops -1", tmp), "--bops");
  check_one_line_error(run_qengine("mixed " + m + " --latency fast", tmp), "--latency");
  check_one_line_error(run_qengine("mixed " + m + " --size 0.5 --bits 4", tmp), "--bits");
  check_one_line_error(run_qengine("mixed " + m + " --size 0.5 --bits 4,9", tmp), "--bits");
  check_one_line_error(run_qengine("mixed " + m + " --size 0.5 --uniform 4", tmp), "--uniform");
  check_one_line_error(run_qengine("mixed " + m + " --uniform 6", tmp), "--uniform");
  check_one_line_error(run_qengine("mixed " + m + " --size 0.5 --bits 2,4", tmp), "--pin-bits");
  check_one_line_error(run_qengine("mixed " + m + " --size 0.5 --sensitivity kl --weights-only", tmp), "--weights-only");
  check_one_line_error(run_qengine("mixed " + tiny_model() + " " + (tmp.path() / "nowhere").string() + " --size 0.5", tmp),
                       "nowhere");
  // A budget below what the smallest choice needs names the smallest achievable value.
  const CommandResult r = run_qengine("mixed " + m + " --size 1KB --samples 16 --hessian-samples 16 --kl-samples 16 -o " +
                                          (tmp.path() / "out").string(), tmp);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("size") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path() / "out" / "mixed.json"));
}

TEST_CASE("mixed: size budget on the demo model, reproduced by calibrate --config", "[cli][mixed]") {
  TempDir tmp;
  const fs::path out = tmp.path() / "mixed";
  const fs::path sens = tmp.path() / "sensitivity.json";
  const std::string common = tiny_model() + " " + fmnist("calib") +
                             " --samples 64 --hessian-samples 64 --hessian-batch 16 --kl-samples 32 --threads 2"
                             " --sensitivity-file " + sens.string();
  const CommandResult r = run_qengine("mixed " + common + " --size 0.5 --random 2 --val " + fmnist("val") +
                                          " --val-limit 200 --json -o " + out.string(), tmp);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json report = read_json(out / "mixed.json");
  CHECK(nlohmann::json::parse(r.out) == report);
  REQUIRE(report["layers"].size() == 4);  // 3 Conv + 1 Gemm
  const nlohmann::json& chosen = report["rows"][0];
  CHECK(chosen["size_bytes"].get<double>() <= report["limits"]["size_bytes"].get<double>());
  CHECK(report["rows"].size() == 3);  // the choice and two random draws
  for (const auto& row : report["rows"]) {
    CHECK(row["size_bytes"].get<double>() <= report["limits"]["size_bytes"].get<double>());
    CHECK(row["top1"].get<double>() > 10.0);  // better than chance on 10 classes
    CHECK(row["images"].get<int>() == 200);
  }
  CHECK(chosen["speedup_vs_float"].get<double>() > 0);
  // First and last layers are pinned at 8 bits.
  CHECK(report["layers"][0]["bits"] == 8);
  CHECK(report["layers"][3]["bits"] == 8);
  for (const auto& l : report["layers"]) {
    CHECK(l["hessian_trace"].get<double>() > 0);
    CHECK(l["omega"]["4"].get<double>() > l["omega"]["8"].get<double>());
    // HAWQ-V2's term for each conv's own quantized activation (the first conv's is the image);
    // the classifier reads the pool's Trunc, which has no quantizer of its own.
    REQUIRE(l.contains("activation") == (l["layer"] != "/fc/Gemm"));
    if (l["layer"] == "/fc/Gemm") continue;
    CHECK(l["activation_trace"].get<double>() > 0);
    CHECK(l["activation_omega"]["4"].get<double>() > l["activation_omega"]["8"].get<double>());
    CHECK(l["activation_omega"]["4"].get<double>() < l["omega"]["4"].get<double>());
  }
  CHECK(report["hutchinson_iterations"].get<int>() >= 1);

  // The rule file reproduces the exported model exactly.
  const fs::path again = tmp.path() / "calibrated";
  const CommandResult c = run_qengine("calibrate " + tiny_model() + " " + fmnist("calib") + " --samples 64 --threads 2 --config " +
                                          (out / "mixed_rules.json").string() + " --quiet -o " + again.string(), tmp);
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(read_text_file(again / "fmnist_tiny_cnn.qonnx.onnx") == read_text_file(out / "fmnist_tiny_cnn.qonnx.onnx"));

  // The sensitivity file is reused (no Hutchinson run: same traces), and a uniform row needs none.
  REQUIRE(fs::exists(sens));
  const fs::path out2 = tmp.path() / "bops";
  const CommandResult r2 = run_qengine("mixed " + common + " --bops 0.25 --json -o " + out2.string(), tmp);
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  const nlohmann::json report2 = read_json(out2 / "mixed.json");
  for (size_t i = 0; i < 4; ++i) CHECK(report2["layers"][i]["hessian_trace"] == report["layers"][i]["hessian_trace"]);
  CHECK(report2["rows"][0]["bops"].get<double>() <= report2["limits"]["bops"].get<double>());
  // The data-driven sensitivity from the same file.
  const fs::path out3 = tmp.path() / "kl";
  const CommandResult r3 = run_qengine("mixed " + common + " --bops 0.25 --sensitivity kl --json -o " + out3.string(), tmp);
  INFO(r3.err);
  REQUIRE(r3.exit_code == 0);
  const nlohmann::json report3 = read_json(out3 / "mixed.json");
  CHECK(report3["sensitivity"] == "kl");
  CHECK(report3["rows"][0]["bops"].get<double>() <= report3["limits"]["bops"].get<double>());
  for (const auto& l : report3["layers"]) CHECK(l["output_kl"]["4"].get<double>() >= l["output_kl"]["8"].get<double>());
  // HAWQ-V3's weights-only sensitivity: the file (measured with the activation term) is not
  // reused; the weight traces are the same, Ω loses the activation term.
  const fs::path outw = tmp.path() / "weights-only";
  const CommandResult rw = run_qengine("mixed " + common + " --bops 0.25 --weights-only --json -o " + outw.string(), tmp);
  INFO(rw.err);
  REQUIRE(rw.exit_code == 0);
  CHECK(rw.err.find("not reused") != std::string::npos);
  const nlohmann::json reportw = read_json(outw / "mixed.json");
  for (size_t i = 0; i < 4; ++i) {
    const auto& l = reportw["layers"][i];
    const auto& with = report["layers"][i];
    CHECK_FALSE(l.contains("activation"));
    CHECK(l["hessian_trace"] == with["hessian_trace"]);
    const double act = with.contains("activation_omega") ? with["activation_omega"]["4"].get<double>() : 0.0;
    CHECK(l["omega"]["4"].get<double>() == Approx(with["omega"]["4"].get<double>() - act));
  }
  // A KL-only run skips the backward pass; its file cannot serve a Hessian run later.
  const fs::path kl_only = tmp.path() / "kl-only.json";
  const std::string kl_common = tiny_model() + " " + fmnist("calib") +
                                " --samples 64 --kl-samples 32 --threads 2 --json --sensitivity-file " + kl_only.string();
  const CommandResult r4 = run_qengine("mixed " + kl_common + " --bops 0.5 --sensitivity kl -o " + (tmp.path() / "k1").string(), tmp);
  INFO(r4.err);
  REQUIRE(r4.exit_code == 0);
  CHECK(read_json(tmp.path() / "k1" / "mixed.json")["hutchinson_iterations"] == 0);
  const CommandResult r5 = run_qengine("mixed " + kl_common + " --bops 0.5 -o " + (tmp.path() / "k2").string(), tmp);
  INFO(r5.err);
  REQUIRE(r5.exit_code == 0);
  CHECK(read_json(tmp.path() / "k2" / "mixed.json")["hutchinson_iterations"].get<int>() > 0);
  const CommandResult u = run_qengine("mixed " + tiny_model() + " " + fmnist("calib") +
                                          " --samples 32 --uniform 4 --json -o " + (tmp.path() / "u4").string(), tmp);
  INFO(u.err);
  REQUIRE(u.exit_code == 0);
  const nlohmann::json ur = read_json(tmp.path() / "u4" / "mixed.json");
  CHECK(ur["layers"][0]["bits"] == 8);
  CHECK(ur["layers"][1]["bits"] == 4);
  CHECK(ur["layers"][2]["bits"] == 4);
  CHECK(ur["layers"][3]["bits"] == 8);
}

TEST_CASE("mixed: latency budget uses a cached per-layer table", "[cli][mixed]") {
  TempDir tmp;
  const fs::path cache = tmp.path() / "latency-cache";
  const std::string cmd = "mixed " + tiny_model() + " " + fmnist("calib") +
                          " --samples 32 --hessian-samples 32 --kl-samples 16 --threads 2 --bench-runs 3 --latency 0.5"
                          " --latency-cache " + cache.string() + " --json -o ";
  const CommandResult r = run_qengine(cmd + (tmp.path() / "a").string(), tmp);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json report = read_json(tmp.path() / "a" / "mixed.json");
  CHECK(report["rows"][0]["latency_table_ms"].get<double>() <= report["limits"]["latency_ms"].get<double>());
  for (const auto& l : report["layers"]) {
    CHECK(l["latency_us"]["4"].get<double>() > 0);
    CHECK(l["latency_us"]["8"].get<double>() > 0);
  }
  REQUIRE(fs::is_directory(cache));
  CHECK(std::distance(fs::directory_iterator(cache), fs::directory_iterator()) == 1);
}

}  // namespace
}  // namespace qe::test

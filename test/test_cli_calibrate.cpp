// `qengine calibrate` through the real binary: the outputs it promises, and bad input (rule
// file typos and bad values, bit widths 0 and 33, unreadable or missing calibration images, an
// output directory that cannot be written): one clear line, exit code 2, no partial files.
#include <unistd.h>

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

// A small calibration folder: a few real images of two classes.
fs::path small_folder(const TempDir& tmp, int per_class = 4) {
  const fs::path root = tmp.path() / "calib";
  for (const char* cls : {"0_t-shirt_top", "7_sneaker"}) {
    fs::create_directories(root / cls);
    int copied = 0;
    for (const auto& e : fs::directory_iterator(fs::path(demo_images()) / cls)) {
      if (copied++ < per_class) fs::copy_file(e.path(), root / cls / e.path().filename());
    }
  }
  return root;
}

size_t count_entries(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

std::string write_rules(const TempDir& tmp, const std::string& text) {
  const fs::path p = tmp.path() / "rules.json";
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST_CASE("calibrate writes QONNX, QCDQ, calibration.json and sidecars; the files evaluate") {
  TempDir tmp;
  const fs::path out = tmp.path() / "out";
  auto r = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " -o " + out.string() +
                           " --samples 100 --val " + demo_images() + " --per-channel --json",
                       tmp);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  const auto summary = nlohmann::json::parse(r.out);
  CHECK(summary["samples"] == 100);
  CHECK(summary["images"] == 200);
  CHECK(std::abs(summary["quant_top1"].get<double>() - summary["float_top1"].get<double>()) <= 0.03);
  CHECK(summary["top1_agreement"].get<double>() >= 0.95);
  for (const char* f : {"fmnist_tiny_cnn.qonnx.onnx", "fmnist_tiny_cnn.qcdq.onnx", "calibration.json",
                        "fmnist_tiny_cnn.qonnx.json", "fmnist_tiny_cnn.qcdq.json"}) {
    CHECK(fs::exists(out / f));
  }
  CHECK(count_entries(out) == 5);  // no temporaries left behind
  const auto report = nlohmann::json::parse(read_text_file(out / "calibration.json"));
  REQUIRE(report["quantizers"].is_array());
  CHECK(report["quantizers"].size() == summary["quantizers"].get<size_t>());
  for (const auto& q : report["quantizers"]) {
    INFO(q.dump());
    CHECK(q.contains("scale"));
    CHECK(q.contains("role"));
  }
  CHECK(report["validation"]["images"] == 200);

  // The QONNX file evaluates to exactly the quantized accuracy the calibration reported.
  auto e = run_qengine("eval " + (out / "fmnist_tiny_cnn.qonnx.onnx").string() + " " + demo_images() + " --json", tmp);
  INFO("eval stderr: " << e.err);
  REQUIRE(e.exit_code == 0);
  CHECK(nlohmann::json::parse(e.out)["top1"] == summary["quant_top1"]);
  auto e2 = run_qengine("eval " + (out / "fmnist_tiny_cnn.qcdq.onnx").string() + " " + demo_images() + " --json", tmp);
  REQUIRE(e2.exit_code == 0);
  CHECK(nlohmann::json::parse(e2.out)["top1"] == summary["quant_top1"]);
}

TEST_CASE("calibrate --explain-config prints every compute node and warns about dead rules") {
  TempDir tmp;
  const std::string rules = write_rules(tmp, R"({"rules": [
      {"name": "no-such-node", "match": {"name": "does_not_exist*"}, "weight": {"bits": 4}},
      {"match": {"position": "first_compute"}, "weight": {"bits": 6}}]})");
  auto r = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " --config " + rules + " --explain-config", tmp);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  for (const char* node : {"/conv1/Conv", "/conv2/Conv", "/conv3/Conv", "/fc/Gemm"}) CHECK(r.out.find(node) != std::string::npos);
  CHECK(r.err.find("no-such-node") != std::string::npos);
  CHECK(!fs::exists(tmp.path() / "fmnist_tiny_cnn-quant"));
}

TEST_CASE("calibrate: bad rule files and bit widths are one-line errors naming the problem") {
  TempDir tmp;
  const std::string calib = small_folder(tmp).string();
  const std::string out = (tmp.path() / "out").string();
  SECTION("a typo'd key") {
    const std::string rules = write_rules(tmp, R"({"defaults": {"weight": {"bitz": 4}}})");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "bitz");
  }
  SECTION("a bad value") {
    const std::string rules = write_rules(tmp, R"({"defaults": {"activation": {"method": "percentil"}}})");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "percentil");
  }
  SECTION("bits 0 in a rule") {
    const std::string rules = write_rules(tmp, R"({"rules": [{"match": {"op": "Conv"}, "weight": {"bits": 0}}]})");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "bits");
  }
  SECTION("--w-bits 33") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --w-bits 33", tmp), "33");
  }
  SECTION("--a-bits 0") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --a-bits 0", tmp), "0");
  }
  SECTION("an unknown algorithm in the rule file") {
    const std::string rules = write_rules(tmp, R"({"algorithms": {"gptqq": true}})");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "did you mean 'gptq'");
  }
  SECTION("two weight-rounding algorithms") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --gptq --adaround", tmp),
                         "exclude each other");
  }
  SECTION("--adaround-blocks without --adaround") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --adaround-blocks", tmp),
                         "--adaround-blocks needs --adaround");
  }
  SECTION("\"blocks\" that is not a boolean in the rule file") {
    const std::string rules = write_rules(tmp, R"({"algorithms": {"adaround": {"blocks": 1}}})");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "blocks");
  }
  SECTION("--gptq with a value that is not an option") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --gptq=fast", tmp),
                         "fast");
  }
  SECTION("--smoothquant outside [0, 1]") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --smoothquant=1.5", tmp),
                         "1.5");
  }
  SECTION("--equalize=0") {
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --equalize=0", tmp),
                         "--equalize");
  }
  SECTION("--equalize with --no-equalize") {
    check_one_line_error(
        run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --equalize --no-equalize", tmp),
        "exclude each other");
  }
  SECTION("a rule file that is not JSON") {
    const std::string rules = write_rules(tmp, "{\"rules\": [");
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --config " + rules, tmp),
                         "rules.json");
  }
  CHECK(!fs::exists(out));
}

TEST_CASE("calibrate: unreadable and missing calibration images, unwritable output") {
  TempDir tmp;
  const std::string out = (tmp.path() / "out").string();
  SECTION("an unreadable image is skipped with a warning naming it; the rest calibrates") {
    const fs::path calib = small_folder(tmp);
    std::ofstream(calib / "7_sneaker" / "broken.png") << "\x89PNG\r\n\x1a\n truncated";
    auto r = run_qengine("calibrate " + tiny_model() + " " + calib.string() + " -o " + out + " --json", tmp);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("broken.png") != std::string::npos);
    CHECK(nlohmann::json::parse(r.out)["samples"] == 8);
  }
  SECTION("a folder where no image can be read") {
    const fs::path calib = tmp.path() / "bad";
    fs::create_directories(calib / "a");
    std::ofstream(calib / "a" / "x.jpg") << "\xff\xd8\xff garbage";
    auto r = run_qengine("calibrate " + tiny_model() + " " + calib.string() + " -o " + out + " --quiet", tmp);
    check_one_line_error(r, "x.jpg");
    CHECK(!fs::exists(fs::path(out) / "calibration.json"));
    CHECK(count_entries(out) == 0);
  }
  SECTION("an empty calibration folder") {
    const fs::path calib = tmp.path() / "empty";
    fs::create_directories(calib);
    check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + calib.string() + " -o " + out, tmp), "empty");
    CHECK(count_entries(out) == 0);
  }
  SECTION("an output directory that cannot be written") {
    if (::geteuid() == 0) {
      // root ignores directory permissions: use a path below a regular file instead.
      std::ofstream(tmp.path() / "a_file") << "x";
      auto r = run_qengine("calibrate " + tiny_model() + " " + small_folder(tmp).string() + " -o " +
                               (tmp.path() / "a_file" / "out").string(),
                           tmp);
      check_one_line_error(r, "a_file");
    } else {
      const fs::path locked = tmp.path() / "locked";
      fs::create_directories(locked);
      fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
      auto r = run_qengine("calibrate " + tiny_model() + " " + small_folder(tmp).string() + " -o " + locked.string(), tmp);
      check_one_line_error(r, "locked");
      fs::permissions(locked, fs::perms::owner_all);
      CHECK(count_entries(locked) == 0);
    }
  }
}

TEST_CASE("calibrate: cross-layer equalization is on by default, as in Brevitas, and --no-equalize turns it off") {
  TempDir tmp;
  const std::string calib = small_folder(tmp).string();
  for (const bool off : {false, true}) {
    const std::string out = (tmp.path() / (off ? "off" : "on")).string();
    auto r = run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + (off ? " --no-equalize" : ""), tmp);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const auto report = nlohmann::json::parse(read_text_file(fs::path(out) / "calibration.json"));
    const auto& transforms = report.at("algorithms").at("float_transforms");
    INFO(transforms.dump());
    if (off) {
      CHECK(transforms.empty());
    } else {
      REQUIRE(transforms.size() == 1);
      CHECK(transforms.dump().find("equaliz") != std::string::npos);
    }
  }
}

TEST_CASE("calibrate: every post-training algorithm runs from the command line and reports per layer") {
  TempDir tmp;
  const std::string calib = small_folder(tmp).string();
  // Every policy, with float transforms and a rounding algorithm each; the exports must load again.
  for (const std::string flags : {"--equalize --smoothquant --split-channels 0.05 --gptq=act-order",
                                  "--policy layerwise --equalize=5 --no-merge-bias --smoothquant=0.3 --gpfq",
                                  "--policy finn --equalize --adaround=50 --no-bias-correction"}) {
    const std::string out = (tmp.path() / "out").string();
    fs::remove_all(out);
    auto r = run_qengine("calibrate " + tiny_model() + " " + calib + " -o " + out + " --w-bits 4 --per-channel " + flags, tmp);
    INFO(flags << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const auto report = nlohmann::json::parse(read_text_file(fs::path(out) / "calibration.json"));
    const auto& alg = report.at("algorithms");
    CHECK(alg.at("rounding_layers").size() == 4);  // every compute layer of the demo model
    double nearest = 0, rounded = 0;
    for (const auto& layer : alg.at("rounding_layers")) {
      nearest += layer.at("error_nearest").get<double>();
      rounded += layer.at("error_rounded").get<double>();
    }
    CHECK(rounded < nearest);
    CHECK(!alg.at("float_transforms").empty());  // equalization is on unless --no-equalize
    for (const char* file : {"fmnist_tiny_cnn.qonnx.onnx", "fmnist_tiny_cnn.qcdq.onnx"}) {
      const fs::path exported = fs::path(out) / file;
      REQUIRE(fs::exists(exported));
      auto info = run_qengine("info " + exported.string(), tmp);
      INFO(info.out << info.err);
      CHECK(info.exit_code == 0);
    }
  }
}

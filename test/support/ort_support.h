// Runs an ONNX file in onnxruntime (onnxruntime-node, which scripts/setup-deps.sh installs under
// benchmarks/ort) on one input, for tests that check qengine's exports against it. A missing
// onnxruntime fails the test.
#pragma once

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/core/tensor.h"
#include "engine/data/npy.h"
#include "support/test_support.h"

namespace qe::test {

// The model's output named `output` (as ort_run.js saves it: <output>.npy) for input `input`
// fed to graph input `input_name`. Working files go to `work_dir`.
inline Tensor run_in_onnxruntime(const std::string& model, const std::string& input_name, const Tensor& input,
                                 const std::string& output, const std::filesystem::path& work_dir) {
  namespace fs = std::filesystem;
  const std::string ort_dir = source_dir() + "/benchmarks/ort";
  INFO("onnxruntime-node is missing: run scripts/setup-deps.sh (make test does)");
  REQUIRE(fs::exists(ort_dir + "/node_modules/onnxruntime-node/package.json"));
  const fs::path npy = work_dir / (input_name + ".npy");
  REQUIRE(write_npy(npy.string(), input).is_ok());
  const std::string cmd = "node '" + ort_dir + "/ort_run.js' '" + model + "' --input " + input_name + "=" +
                          npy.string() + " --out '" + (work_dir / "ort").string() + "' > '" +
                          (work_dir / "ort.log").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO("command: " << cmd);
  REQUIRE(WIFEXITED(rc));
  REQUIRE(WEXITSTATUS(rc) == 0);
  auto out = read_npy((work_dir / "ort" / (output + ".npy")).string());
  REQUIRE(out.is_ok());
  return std::move(out).value();
}

}  // namespace qe::test
